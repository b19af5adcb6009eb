//! Tunnels: the IP layers of a packet, outermost first.
//!
//! [`layers`] decodes the outer IP packet as [`decode`](super::decode) does, then, while the
//! packet is a tunnel, the IP packet inside it, up to [`MAX_INNER_LAYERS`] inner layers:
//!
//! | outer | inner | [`Encap`] |
//! |---|---|---|
//! | IP protocol 47, GRE version 0 (checksum, key, sequence number words allowed) | IPv4, IPv6 (0x0800, 0x86DD) or Ethernet (transparent Ethernet bridging, 0x6558) | `gre` |
//! | GRE 0x88BE without sequence number | Ethernet | `erspan1` |
//! | GRE 0x88BE with sequence number, ERSPAN type II header | Ethernet | `erspan2` |
//! | GRE 0x22EB, ERSPAN type III header (and platform subheader) | Ethernet (frame type 0) or IP (2) | `erspan3` |
//! | UDP to port 4789, VXLAN header with the I flag | Ethernet | `vxlan` |
//! | UDP to port 6081, GENEVE version 0 (options skipped) | Ethernet, IPv4, IPv6 | `geneve` |
//! | IPv4, protocol 4 / 41 | IPv4 / IPv6 | `ipip` / `6in4` |
//! | IPv6, next header 4 / 41 | IPv4 / IPv6 | `4in6` / `6in6` |
//!
//! An inner Ethernet frame goes through VLAN tags, MPLS labels and a PPPoE session header
//! (EtherType 0x8864, PPP protocol 0x0021 or 0x0057; `pppoe` is then added to the layer's
//! encapsulations). A PPPoE session directly under the capture's link layer is the link
//! layer's business ([`network_layer`]): its IP packet is the outermost layer and no `pppoe`
//! is counted.
//!
//! Fragments: an outer packet that is a non-first IP fragment carries no inner headers and
//! is not entered. A first fragment is entered with the bytes it has (usually the whole inner
//! headers, so the inner flow is found); its later fragments follow the *outer* flow only.
//! An inner IP packet that is itself a fragment is a layer like any other: its later
//! fragments are matched by their inner fragment id, as plain fragments are.
//!
//! Nothing here allocates or panics: every header goes through its view's `new_checked`.

use super::{by_version_nibble, datagram, decode_network, network_layer, Decoded, NetworkLayer};
use crate::wire::ethernet::{EtherType, EtherTypeTail, EthernetFrame};
use crate::wire::gre::{ErspanIIHeader, ErspanIIIHeader, GreHeader};
use crate::wire::link::LinkType;
use crate::wire::vlan::VlanTag;
use crate::wire::vxlan::{GeneveHeader, VxlanHeader, GENEVE_PORT, VXLAN_PORT};
use crate::wire::{Proto, UdpHeader};

/// The most tunnels entered below the outermost IP layer (so a packet has at most
/// `1 + MAX_INNER_LAYERS` layers). A fifth tunnel is left unopened: its packet is matched on
/// the layers above it.
pub const MAX_INNER_LAYERS: usize = 4;

/// A kind of encapsulation crossed between two IP layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encap {
    /// GRE with an IP or Ethernet (transparent bridging) payload.
    Gre,
    /// ERSPAN type I (GRE 0x88BE without sequence number).
    Erspan1,
    /// ERSPAN type II.
    Erspan2,
    /// ERSPAN type III.
    Erspan3,
    /// VXLAN.
    Vxlan,
    /// GENEVE.
    Geneve,
    /// IPv4 in IPv4.
    Ipip,
    /// IPv6 in IPv4.
    SixIn4,
    /// IPv4 in IPv6.
    FourIn6,
    /// IPv6 in IPv6.
    SixIn6,
    /// A PPPoE session inside a tunnel's Ethernet frame.
    Pppoe,
}

impl Encap {
    /// Every kind, in the order of their names in summaries.
    pub const ALL: [Encap; 11] = [
        Encap::Gre,
        Encap::Erspan1,
        Encap::Erspan2,
        Encap::Erspan3,
        Encap::Vxlan,
        Encap::Geneve,
        Encap::Ipip,
        Encap::SixIn4,
        Encap::FourIn6,
        Encap::SixIn6,
        Encap::Pppoe,
    ];

    /// The name used in summaries: `gre`, `erspan1`, `erspan2`, `erspan3`, `vxlan`,
    /// `geneve`, `ipip`, `6in4`, `4in6`, `6in6`, `pppoe`.
    pub fn name(self) -> &'static str {
        match self {
            Encap::Gre => "gre",
            Encap::Erspan1 => "erspan1",
            Encap::Erspan2 => "erspan2",
            Encap::Erspan3 => "erspan3",
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Ipip => "ipip",
            Encap::SixIn4 => "6in4",
            Encap::FourIn6 => "4in6",
            Encap::SixIn6 => "6in6",
            Encap::Pppoe => "pppoe",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Encap`] kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Encaps(u16);

impl Encaps {
    /// The set holding `e` alone.
    pub fn of(e: Encap) -> Encaps {
        Encaps(e.bit())
    }

    /// True when no kind is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when `e` is in the set.
    pub fn contains(self, e: Encap) -> bool {
        self.0 & e.bit() != 0
    }

    /// Adds `e`.
    pub fn insert(&mut self, e: Encap) {
        self.0 |= e.bit();
    }

    /// Adds every kind of `other`.
    pub fn union(self, other: Encaps) -> Encaps {
        Encaps(self.0 | other.0)
    }

    /// The kinds in the set, in [`Encap::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Encap> {
        Encap::ALL.into_iter().filter(move |e| self.contains(*e))
    }
}

/// One IP layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpLayer<'a> {
    /// Its addresses, protocol, ports and fragment information, as [`decode`](super::decode)
    /// gives them for an outer packet.
    pub decoded: Decoded,
    /// What was crossed from the layer above to this one (empty for the outermost layer).
    pub encaps: Encaps,
    /// The frame that carries this layer: for the outermost, the whole packet; for an inner
    /// layer, the tunnel's payload (an Ethernet frame or an IP packet, ending where the outer
    /// headers' lengths end it). Always a part of the packet's bytes.
    pub frame: &'a [u8],
    /// The link type of `frame`: the capture's for the outermost layer, else
    /// [`LinkType::ETHERNET`] or [`LinkType::RAW`].
    pub linktype: u32,
    /// The IP packet itself (its header first, to the end of `frame`).
    pub ip: &'a [u8],
}

/// The IP layers of a packet, outermost first (see [`layers`]). Empty when the packet is not
/// IP (or its outer IP header cannot be decoded).
#[derive(Debug, Clone, Copy, Default)]
pub struct IpLayers<'a> {
    items: [Option<IpLayer<'a>>; 1 + MAX_INNER_LAYERS],
    len: usize,
}

impl<'a> IpLayers<'a> {
    /// How many layers (0 to `1 + MAX_INNER_LAYERS`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the packet had no decodable IP layer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Layer `i` (0 is the outermost).
    pub fn get(&self, i: usize) -> Option<&IpLayer<'a>> {
        self.items.get(i)?.as_ref()
    }

    /// The layers, outermost first.
    pub fn iter(&self) -> impl Iterator<Item = &IpLayer<'a>> {
        self.items.iter().take(self.len).flatten()
    }

    /// The innermost layer.
    pub fn innermost(&self) -> Option<&IpLayer<'a>> {
        self.get(self.len.checked_sub(1)?)
    }

    /// Every encapsulation crossed, from the outermost layer to the innermost.
    pub fn encaps(&self) -> Encaps {
        self.iter()
            .fold(Encaps::default(), |a, l| a.union(l.encaps))
    }

    fn push(&mut self, layer: IpLayer<'a>) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(layer);
            self.len += 1;
        }
    }
}

/// The IP layers of a packet of the given link type: the outer IP packet, then the IP packet
/// of each tunnel inside it (see the module docs), at most `1 + MAX_INNER_LAYERS`.
pub fn layers(linktype: u32, data: &[u8]) -> IpLayers<'_> {
    let mut out = IpLayers::default();
    let Some(mut ip) = network_layer(linktype, data) else {
        return out;
    };
    let (mut frame, mut frame_type, mut encaps) = (data, linktype, Encaps::default());
    while let Some(decoded) = decode_network(ip) {
        out.push(IpLayer {
            decoded,
            encaps,
            frame,
            linktype: frame_type,
            ip: match ip {
                NetworkLayer::Ipv4(b) | NetworkLayer::Ipv6(b) => b,
            },
        });
        if out.len() > MAX_INNER_LAYERS {
            break;
        }
        let Some(next) = inner(ip) else {
            break;
        };
        (ip, frame, frame_type, encaps) = next;
    }
    out
}

/// Whether `layers` may find an inner layer in this IP packet: it is IP in IP, GRE, UDP to
/// the VXLAN or GENEVE port, or IPv6 with extension headers before its upper layer (looked at
/// only by the full walk). Reads two or three header fields: the matcher's pre-filter asks
/// this of every packet whose outer addresses are not the flow's.
#[inline]
pub fn is_tunnel_candidate(ip: NetworkLayer<'_>) -> bool {
    const IPV4_PROTO: usize = 9;
    const IPV6_NEXT_HEADER: usize = 6;
    const IPV6_LEN: usize = 40;
    match ip {
        NetworkLayer::Ipv4(b) => match b.get(IPV4_PROTO) {
            Some(&IPPROTO_UDP) => {
                // A later fragment's "port" is payload: the walk does not enter it anyway.
                let ihl = usize::from(b[0] & 0x0f) * 4;
                udp_to_tunnel(b, ihl)
            }
            Some(&p) => matches!(p, IPPROTO_IPIP | IPPROTO_IPV6 | IPPROTO_GRE),
            None => false,
        },
        NetworkLayer::Ipv6(b) => match b.get(IPV6_NEXT_HEADER) {
            Some(&IPPROTO_UDP) => udp_to_tunnel(b, IPV6_LEN),
            // Hop-by-hop, routing, fragment, AH, destination options: the walk decides.
            Some(&p) => matches!(
                p,
                IPPROTO_IPIP | IPPROTO_IPV6 | IPPROTO_GRE | 0 | 43 | 44 | 51 | 60
            ),
            None => false,
        },
    }
}

/// Whether the UDP header at `udp_at` goes to the VXLAN or GENEVE port.
#[inline]
fn udp_to_tunnel(b: &[u8], udp_at: usize) -> bool {
    const VXLAN: [u8; 2] = VXLAN_PORT.to_be_bytes();
    const GENEVE: [u8; 2] = GENEVE_PORT.to_be_bytes();
    matches!(b.get(udp_at + 2..udp_at + 4), Some(&[x, y]) if [x, y] == VXLAN || [x, y] == GENEVE)
}

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;
const IPPROTO_UDP: u8 = 17;

/// The next layer: its IP packet, its frame, the frame's link type, what was crossed.
type Next<'a> = (NetworkLayer<'a>, &'a [u8], u32, Encaps);

/// The IP packet inside `ip`, when `ip` is a tunnel packet.
fn inner(ip: NetworkLayer<'_>) -> Option<Next<'_>> {
    let d = datagram(ip)?;
    if d.frag.is_some_and(|f| f.offset != 0) {
        return None;
    }
    let v6 = matches!(ip, NetworkLayer::Ipv6(_));
    let p = d.payload;
    match d.proto {
        Proto(IPPROTO_IPIP) => {
            let e = if v6 { Encap::FourIn6 } else { Encap::Ipip };
            Some((NetworkLayer::Ipv4(p), p, LinkType::RAW, Encaps::of(e)))
        }
        Proto(IPPROTO_IPV6) => {
            let e = if v6 { Encap::SixIn6 } else { Encap::SixIn4 };
            Some((NetworkLayer::Ipv6(p), p, LinkType::RAW, Encaps::of(e)))
        }
        Proto(IPPROTO_GRE) => gre(p),
        Proto::UDP => udp(p),
        _ => None,
    }
}

fn gre(bytes: &[u8]) -> Option<Next<'_>> {
    let g = GreHeader::new_checked(bytes)?;
    let p = g.payload();
    match g.protocol() {
        GreHeader::PROTO_IPV4 => Some(raw_ip(NetworkLayer::Ipv4(p), Encap::Gre)),
        GreHeader::PROTO_IPV6 => Some(raw_ip(NetworkLayer::Ipv6(p), Encap::Gre)),
        GreHeader::PROTO_TEB => ethernet(p, Encap::Gre),
        GreHeader::PROTO_ERSPAN if g.sequence().is_none() => ethernet(p, Encap::Erspan1),
        GreHeader::PROTO_ERSPAN => {
            ethernet(ErspanIIHeader::new_checked(p)?.payload(), Encap::Erspan2)
        }
        GreHeader::PROTO_ERSPAN3 => {
            let e = ErspanIIIHeader::new_checked(p)?;
            match e.frame_type() {
                ErspanIIIHeader::FRAME_ETHERNET => ethernet(e.payload(), Encap::Erspan3),
                ErspanIIIHeader::FRAME_IP => {
                    Some(raw_ip(by_version_nibble(e.payload())?, Encap::Erspan3))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn udp(bytes: &[u8]) -> Option<Next<'_>> {
    let u = UdpHeader::new_checked(bytes)?;
    match u.dst_port() {
        VXLAN_PORT => ethernet(
            VxlanHeader::new_checked(u.payload())?.payload(),
            Encap::Vxlan,
        ),
        GENEVE_PORT => {
            let g = GeneveHeader::new_checked(u.payload())?;
            let p = g.payload();
            match g.protocol() {
                GeneveHeader::PROTO_ETHERNET => ethernet(p, Encap::Geneve),
                GreHeader::PROTO_IPV4 => Some(raw_ip(NetworkLayer::Ipv4(p), Encap::Geneve)),
                GreHeader::PROTO_IPV6 => Some(raw_ip(NetworkLayer::Ipv6(p), Encap::Geneve)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// An IP payload: its frame is the IP packet itself.
fn raw_ip(ip: NetworkLayer<'_>, via: Encap) -> Next<'_> {
    let frame = match ip {
        NetworkLayer::Ipv4(b) | NetworkLayer::Ipv6(b) => b,
    };
    (ip, frame, LinkType::RAW, Encaps::of(via))
}

/// An Ethernet payload: VLAN tags, then a PPPoE session or what [`network_layer`] follows.
fn ethernet(frame: &[u8], via: Encap) -> Option<Next<'_>> {
    let mut encaps = Encaps::of(via);
    let eth = EthernetFrame::new_checked(frame)?;
    let (mut ethertype, mut bytes) = (eth.ethertype(), eth.payload());
    while ethertype.is_vlan() {
        let tag = VlanTag::new_checked(bytes)?;
        (ethertype, bytes) = (tag.ethertype(), tag.payload());
    }
    let ip = if ethertype == EtherType::PppoeSession {
        encaps.insert(Encap::Pppoe);
        super::links::pppoe(bytes)?
    } else {
        network_layer(LinkType::ETHERNET, frame)?
    };
    Some((ip, frame, LinkType::ETHERNET, encaps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::encap::{encapsulate, ip_of, pppoe, Wrap};
    use crate::testutil::packet::PacketBuilder;
    use std::net::IpAddr;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn inner4() -> Vec<u8> {
        PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ip(a("10.0.0.1"), a("10.0.0.2"))
            .tcp(40000, 80)
            .payload(b"GET /")
            .build()
    }

    fn inner6() -> Vec<u8> {
        PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ip(a("2001:db8::1"), a("2001:db8::2"))
            .udp(5353, 53)
            .payload(b"q")
            .build()
    }

    const ALL_WRAPS: [Wrap; 9] = [
        Wrap::Gre {
            key: None,
            seq: None,
            checksum: false,
        },
        Wrap::Gre {
            key: Some(7),
            seq: Some(9),
            checksum: true,
        },
        Wrap::GreTeb { key: Some(1) },
        Wrap::Erspan2 { session: 5, seq: 1 },
        Wrap::Erspan3 {
            session: 6,
            platform: false,
        },
        Wrap::Erspan3 {
            session: 6,
            platform: true,
        },
        Wrap::Vxlan { vni: 42 },
        Wrap::Geneve {
            vni: 7,
            option_words: 3,
            ethernet: true,
        },
        Wrap::Geneve {
            vni: 7,
            option_words: 0,
            ethernet: false,
        },
    ];

    fn expected(w: Wrap, outer_v6: bool, inner_v6: bool) -> Encap {
        match w {
            Wrap::Gre { .. } | Wrap::GreTeb { .. } => Encap::Gre,
            Wrap::Erspan2 { .. } => Encap::Erspan2,
            Wrap::Erspan3 { .. } => Encap::Erspan3,
            Wrap::Vxlan { .. } => Encap::Vxlan,
            Wrap::Geneve { .. } => Encap::Geneve,
            Wrap::IpInIp => match (outer_v6, inner_v6) {
                (false, false) => Encap::Ipip,
                (false, true) => Encap::SixIn4,
                (true, false) => Encap::FourIn6,
                (true, true) => Encap::SixIn6,
            },
        }
    }

    /// Every tunnel, over IPv4 and IPv6, around IPv4 and IPv6: two layers, the inner one the
    /// plain packet's decode, its frame the bytes the tunnel carries.
    #[test]
    fn every_tunnel_gives_the_inner_flow() {
        for wrap in ALL_WRAPS.iter().copied().chain([Wrap::IpInIp]) {
            for (os, od) in [
                ("192.0.2.1", "192.0.2.2"),
                ("2001:db8:f::1", "2001:db8:f::2"),
            ] {
                for inner in [inner4(), inner6()] {
                    let pkt = encapsulate(&inner, a(os), a(od), wrap);
                    let l = layers(1, &pkt);
                    assert_eq!(l.len(), 2, "{wrap:?} {os}");
                    let outer = l.get(0).unwrap();
                    assert_eq!(Some(outer.decoded), super::super::decode(1, &pkt));
                    assert!(outer.encaps.is_empty() && outer.frame == &pkt[..]);
                    let i = l.get(1).unwrap();
                    assert_eq!(Some(i.decoded), super::super::decode(1, &inner), "{wrap:?}");
                    let e = expected(wrap, os.contains(':'), inner[12] == 0x86);
                    assert_eq!(i.encaps, Encaps::of(e), "{wrap:?} {os}");
                    let carried_ip = matches!(
                        wrap,
                        Wrap::Gre { .. }
                            | Wrap::IpInIp
                            | Wrap::Geneve {
                                ethernet: false,
                                ..
                            }
                    );
                    if carried_ip {
                        assert_eq!((i.frame, i.linktype), (ip_of(&inner), LinkType::RAW));
                    } else {
                        assert_eq!((i.frame, i.linktype), (&inner[..], LinkType::ETHERNET));
                    }
                    assert!(i.ip.starts_with(ip_of(&inner)), "{wrap:?}");
                    assert!(is_tunnel_candidate(network_layer(1, &pkt).unwrap()));
                    assert_eq!(l.innermost(), Some(i));
                    assert_eq!(l.encaps(), Encaps::of(e));
                }
            }
        }
    }

    #[test]
    fn nesting_stops_at_the_depth_limit() {
        let mut pkt = inner4();
        let mut encaps = Vec::new();
        for (n, wrap) in ALL_WRAPS.iter().copied().take(6).enumerate() {
            pkt = encapsulate(&pkt, a(&format!("192.0.2.{n}")), a("198.51.100.1"), wrap);
            encaps.push(wrap);
        }
        let l = layers(1, &pkt);
        assert_eq!(l.len(), 1 + MAX_INNER_LAYERS);
        // Outermost first: the last wrapping is the first tunnel entered.
        assert_eq!(l.get(1).unwrap().encaps, Encaps::of(Encap::Erspan3));
        assert_eq!(l.get(4).unwrap().encaps, Encaps::of(Encap::Gre));
        assert_eq!(
            l.get(4).unwrap().decoded.src,
            a("192.0.2.1"),
            "the 5th layer is the second wrapping's outer"
        );
        // Two levels: VXLAN in GRE, inner flow found.
        let two = encapsulate(
            &encapsulate(
                &inner6(),
                a("10.9.0.1"),
                a("10.9.0.2"),
                Wrap::Vxlan { vni: 1 },
            ),
            a("2001:db8:f::1"),
            a("2001:db8:f::2"),
            Wrap::Gre {
                key: Some(1),
                seq: None,
                checksum: false,
            },
        );
        let l = layers(1, &two);
        assert_eq!(l.len(), 3);
        assert_eq!(
            l.innermost().unwrap().decoded,
            super::super::decode(1, &inner6()).unwrap()
        );
        let mut want = Encaps::of(Encap::Gre);
        want.insert(Encap::Vxlan);
        assert_eq!(l.encaps(), want);
    }

    #[test]
    fn pppoe_inside_a_tunnel_is_entered_and_counted() {
        for inner in [inner4(), inner6()] {
            let p = pppoe(&inner, 0x1234);
            let pkt = encapsulate(&p, a("192.0.2.1"), a("192.0.2.2"), Wrap::Vxlan { vni: 3 });
            let l = layers(1, &pkt);
            assert_eq!(l.len(), 2);
            let i = l.get(1).unwrap();
            assert!(i.encaps.contains(Encap::Pppoe) && i.encaps.contains(Encap::Vxlan));
            assert_eq!(Some(i.decoded), super::super::decode(1, &inner));
            assert_eq!(i.frame, &p[..]);
        }
    }

    #[test]
    fn plain_packets_and_non_tunnels_have_one_layer() {
        let plain = inner4();
        assert_eq!(layers(1, &plain).len(), 1);
        assert!(!is_tunnel_candidate(network_layer(1, &plain).unwrap()));
        // UDP to 4789 that is not VXLAN (I flag clear): one layer, but a candidate.
        let not_vxlan = PacketBuilder::ethernet([2; 6], [3; 6])
            .ip(a("10.0.0.1"), a("10.0.0.2"))
            .udp(1, 4789)
            .payload(&[0; 30])
            .build();
        assert_eq!(layers(1, &not_vxlan).len(), 1);
        assert!(is_tunnel_candidate(network_layer(1, &not_vxlan).unwrap()));
        // Not IP at all.
        assert!(layers(1, &[0u8; 10]).is_empty());
        assert!(layers(1, &[]).innermost().is_none());
    }

    /// A non-first fragment of a tunnel packet is not entered; a first fragment is, with the
    /// bytes it carries.
    #[test]
    fn fragments_of_the_outer_packet() {
        let inner = PacketBuilder::ethernet([2; 6], [3; 6])
            .ip(a("10.0.0.1"), a("10.0.0.2"))
            .udp(5000, 53)
            .payload(&[7; 2000])
            .build();
        let big = encapsulate(&inner, a("192.0.2.1"), a("192.0.2.2"), Wrap::IpInIp);
        let outer_ip = ip_of(&big).to_vec();
        let frags = PacketBuilder::ethernet([2; 6], [3; 6])
            .ip(a("192.0.2.1"), a("192.0.2.2"))
            .id(77)
            .raw(4)
            .payload(&outer_ip[20..])
            .fragments(2);
        let first = layers(1, &frags[0]);
        assert_eq!(first.len(), 2);
        assert_eq!(first.get(1).unwrap().decoded.ports, Some((5000, 53)));
        assert_eq!(layers(1, &frags[1]).len(), 1);
    }

    /// Every prefix of every tunnel packet decodes without panicking, and a layer found in a
    /// prefix is found in the whole packet.
    #[test]
    fn cut_packets_never_panic() {
        for wrap in ALL_WRAPS.iter().copied().chain([Wrap::IpInIp]) {
            let pkt = encapsulate(&inner4(), a("192.0.2.1"), a("192.0.2.2"), wrap);
            let whole = layers(1, &pkt).len();
            for n in 0..pkt.len() {
                let l = layers(1, &pkt[..n]);
                assert!(l.len() <= whole);
                let _ = is_tunnel_candidate(match network_layer(1, &pkt[..n]) {
                    Some(ip) => ip,
                    None => continue,
                });
            }
        }
    }
}

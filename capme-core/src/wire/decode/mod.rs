//! The hot-path decode: from link type and packet bytes to what matching needs.
//!
//! Link layer ([`network_layer`]): the link types listed below, then after an EtherType VLAN tags
//! (0x8100, 0x88A8, 0x9100) to any depth and MPLS label stacks. Network layer: IPv4 (options,
//! fragments) and IPv6 (hop-by-hop, routing, destination options, AH and fragment headers).
//! Transport: ports of TCP, UDP, SCTP and UDP-Lite, type and code of ICMP and ICMPv6. [`decode`]
//! does not enter tunnels: the outer IP packet is its flow; [`layers`] decodes the IP layers
//! inside GRE, ERSPAN, VXLAN, GENEVE and IP-in-IP tunnels (module `layers`). ESP (50) and No Next
//! Header (59) end an IPv6 chain; so does the Mobility header (135), which is the upper layer of
//! its packets (RFC 6275 has it followed by nothing) and is the protocol Zeek reports for them.
//!
//! Nothing here allocates or panics; what cannot be decoded is `None`.
//!
//! Link types: Ethernet (1), Linux SLL/SLL2 (113, 276), raw IP (12, 14, 101, 228, 229), BSD
//! NULL/LOOP (0, 108), PPP (9), PPP in HDLC framing (50, Cisco HDLC by its address byte too),
//! PPPoE (51), Cisco HDLC (104), 802.11 data frames with LLC/SNAP (105), under radiotap (127),
//! Prism (119) and AVS (163) headers, Juniper Ethernet (178), ERF (197: Ethernet, HDLC/POS,
//! IPv4, IPv6 records), Linux NFLOG (239), IP over InfiniBand (242) and Apple PKTAP (149, 258:
//! the link type it names, one level deep); their decoders are in `links.rs`. After an
//! EtherType, besides VLAN tags and MPLS: PPPoE sessions (0x8864), MACsec without encryption
//! (0x88E5) and NSH (0x894F). Not decoded: encrypted 802.11 and MACsec payloads, A-MSDUs and
//! later 802.11 fragments. A trailing FCS is left to the IP length, which bounds every payload.

use super::ipv6::next_header;
use super::{
    AddressFamily, EtherType, EthernetFrame, IcmpHeader, Ipv4Packet, Ipv6ExtHeader,
    Ipv6FragmentHeader, Ipv6Packet, LinkType, MplsLabel, NullHeader, PortsHeader, Sll2Header,
    SllHeader, VlanTag,
};
use super::{EtherTypeTail, Proto};
use std::net::IpAddr;

/// IP fragment information of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification (16 bits) or IPv6 fragment header identification (32 bits).
    pub id: u32,
    /// Fragment offset in 8-byte units; 0 for the first fragment.
    pub offset: u16,
    /// More-fragments flag.
    pub more: bool,
}

/// What the matcher needs to know about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Source address (innermost IP header after link, VLAN and MPLS layers).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol (after IPv6 extension headers; for IPv6 fragments, the fragment
    /// header's next header).
    pub proto: Proto,
    /// `(source port, destination port)`, or `(type, code)` for ICMP/ICMPv6; `None` for
    /// non-first fragments, port-less protocols and truncated transport headers.
    pub ports: Option<(u16, u16)>,
    /// Present when the packet is an IP fragment (first or later).
    pub frag: Option<Fragment>,
}

/// An IP datagram or fragment with the bytes after its IP headers: what a full decode (for
/// transcripts) starts from. See [`decode_ip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpDatagram<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol; for an IPv6 fragment, the fragment header's next header (which may
    /// be an extension header of the fragmentable part: see [`skip_ipv6_extensions`]).
    pub proto: Proto,
    /// Present when the packet is an IP fragment (first or later).
    pub frag: Option<Fragment>,
    /// The bytes after the IP header (IPv6: after the extension headers, or after the fragment
    /// header of a fragment), up to the IP length or the end of the capture. For a fragment,
    /// this fragment's part of the datagram's payload, starting at `frag.offset * 8`.
    pub payload: &'a [u8],
}

/// The IP packet found under the link layer: its version and bytes (IP header first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkLayer<'a> {
    /// An IPv4 packet.
    Ipv4(&'a [u8]),
    /// An IPv6 packet.
    Ipv6(&'a [u8]),
}

/// The most IPv6 extension headers walked before giving up on a packet.
const MAX_EXTENSION_HEADERS: usize = 16;

/// The IP version nibble's position in the first byte of an IP header.
const VERSION_SHIFT: u8 = 4;
const IP_VERSION_4: u8 = 4;
const IP_VERSION_6: u8 = 6;

/// Decodes a packet of the given link type. `None` when it is not IP or cannot be decoded.
///
/// A non-first fragment has `ports: None` (its `frag` says which datagram it belongs to). An
/// unknown upper-layer protocol, or a transport header cut short by the snap length, gives a
/// `Decoded` with `ports: None`. An IPv6 atomic fragment (offset 0, no more fragments) is not a
/// fragment: `frag` is `None`.
pub fn decode(linktype: u32, data: &[u8]) -> Option<Decoded> {
    match network_layer(linktype, data)? {
        NetworkLayer::Ipv4(bytes) => decode_ipv4(bytes),
        NetworkLayer::Ipv6(bytes) => decode_ipv6(bytes),
    }
}

/// [`decode`] of an IP packet already found under the link layer ([`network_layer`]).
#[inline]
pub fn decode_network(ip: NetworkLayer<'_>) -> Option<Decoded> {
    match ip {
        NetworkLayer::Ipv4(bytes) => decode_ipv4(bytes),
        NetworkLayer::Ipv6(bytes) => decode_ipv6(bytes),
    }
}

/// The full decode's first step: addresses, protocol, fragment information and the bytes after
/// the IP headers of a packet of the given link type. `None` when it is not IP or its headers
/// are cut short. Transport headers are left to [`TcpHeader`](super::TcpHeader) and
/// [`UdpHeader`](super::UdpHeader); fragments to the caller's reassembly.
pub fn decode_ip(linktype: u32, data: &[u8]) -> Option<IpDatagram<'_>> {
    datagram(network_layer(linktype, data)?)
}

/// [`decode_ip`] of an IP packet already found under the link layer.
fn datagram(ip: NetworkLayer<'_>) -> Option<IpDatagram<'_>> {
    match ip {
        NetworkLayer::Ipv4(bytes) => {
            let ip = Ipv4Packet::new_checked(bytes)?;
            Some(IpDatagram {
                src: IpAddr::V4(ip.src_addr()),
                dst: IpAddr::V4(ip.dst_addr()),
                proto: ip.protocol(),
                frag: ip.is_fragment().then(|| Fragment {
                    id: u32::from(ip.ident()),
                    offset: ip.frag_offset(),
                    more: ip.more_frags(),
                }),
                payload: ip.payload(),
            })
        }
        NetworkLayer::Ipv6(bytes) => {
            let ip = Ipv6Packet::new_checked(bytes)?;
            let mut proto = ip.next_header();
            let mut payload = ip.payload();
            let mut frag = None;
            let mut walked = 0;
            while Ipv6ExtHeader::is_extension(proto) {
                walked += 1;
                if walked > MAX_EXTENSION_HEADERS {
                    return None;
                }
                if proto == next_header::FRAGMENT {
                    let header = Ipv6FragmentHeader::new_checked(payload)?;
                    proto = header.next_header();
                    payload = header.payload();
                    let (offset, more) = (header.frag_offset(), header.more_frags());
                    if offset != 0 || more {
                        frag = Some(Fragment {
                            id: header.ident(),
                            offset,
                            more,
                        });
                        // What follows is the fragmentable part: reassembled first.
                        break;
                    }
                } else {
                    let header = Ipv6ExtHeader::new_checked(payload, proto)?;
                    proto = header.next_header();
                    payload = header.payload();
                }
            }
            Some(IpDatagram {
                src: IpAddr::V6(ip.src_addr()),
                dst: IpAddr::V6(ip.dst_addr()),
                proto,
                frag,
                payload,
            })
        }
    }
}

/// Skips the IPv6 extension headers at the start of `bytes` (the fragmentable part of a
/// reassembled datagram, whose first header is `proto`): the upper-layer protocol and its
/// bytes. `None` when a header is cut short or the chain is too long.
pub fn skip_ipv6_extensions(mut proto: Proto, mut bytes: &[u8]) -> Option<(Proto, &[u8])> {
    let mut walked = 0;
    while Ipv6ExtHeader::is_extension(proto) && proto != next_header::FRAGMENT {
        walked += 1;
        if walked > MAX_EXTENSION_HEADERS {
            return None;
        }
        let header = Ipv6ExtHeader::new_checked(bytes, proto)?;
        proto = header.next_header();
        bytes = header.payload();
    }
    Some((proto, bytes))
}

/// Strips the link layer, VLAN tags and MPLS labels of a packet of the given link type.
///
/// The hot path: the matcher's pre-filter calls this for every record. The common link types
/// (Ethernet, Linux cooked captures, raw IP) are tested first, on the link type's value; the
/// other link types are decoded out of line (`other_link`), so that their number does not
/// weigh on the common ones.
#[inline]
pub fn network_layer(linktype: u32, data: &[u8]) -> Option<NetworkLayer<'_>> {
    match linktype {
        LinkType::ETHERNET => {
            let frame = EthernetFrame::new_checked(data)?;
            by_ethertype(frame.ethertype(), frame.payload())
        }
        LinkType::LINUX_SLL => {
            let header = SllHeader::new_checked(data)?;
            by_ethertype(header.protocol(), header.payload())
        }
        LinkType::LINUX_SLL2 => {
            let header = Sll2Header::new_checked(data)?;
            by_ethertype(header.protocol(), header.payload())
        }
        LinkType::RAW | LinkType::DLT_RAW | LinkType::DLT_RAW_OPENBSD => by_version_nibble(data),
        _ => other_link(linktype, data),
    }
}

/// [`network_layer`] of the link types it does not handle inline.
#[inline(never)]
fn other_link(linktype: u32, data: &[u8]) -> Option<NetworkLayer<'_>> {
    match LinkType::from(linktype) {
        // Handled by network_layer; kept here so that this match stays exhaustive.
        LinkType::Ethernet | LinkType::LinuxSll | LinkType::LinuxSll2 | LinkType::Raw => {
            network_layer(linktype, data)
        }
        LinkType::Ipv4 => Some(NetworkLayer::Ipv4(data)),
        LinkType::Ipv6 => Some(NetworkLayer::Ipv6(data)),
        LinkType::Null => {
            let header = NullHeader::new_checked(data)?;
            by_family(header.family_host_order(), header.payload())
        }
        LinkType::Loop => {
            let header = NullHeader::new_checked(data)?;
            by_family(header.family_network_order(), header.payload())
        }
        LinkType::Ppp => links::ppp(data),
        LinkType::PppHdlc => links::hdlc(data),
        LinkType::PppEther => links::pppoe(data),
        LinkType::CiscoHdlc => links::cisco_hdlc(data),
        LinkType::Ieee80211 => links::ieee80211(data),
        LinkType::Ieee80211Radiotap => links::radiotap(data),
        LinkType::Ieee80211Prism => links::prism(data),
        LinkType::Ieee80211Avs => links::avs(data),
        LinkType::Nflog => links::nflog(data),
        LinkType::Erf => links::erf(data),
        LinkType::Pktap => links::pktap(data),
        LinkType::JuniperEther => links::juniper(data),
        LinkType::Ipoib => links::ipoib(data),
        LinkType::Unknown(_) => None,
    }
}

/// Follows VLAN tags and MPLS labels (and PPPoE, MACsec and NSH headers) from an EtherType to
/// the IP header. Every tag consumes [`VlanTag::HEADER_LEN`](super::EtherTypeTail::HEADER_LEN)
/// bytes of `bytes` (a MACsec or NSH header at least 8), so the loop ends within
/// `bytes.len() / 4` rounds.
///
/// IPv4 and IPv6 right after the link layer are answered inline; tags and the rarer headers
/// out of line ([`by_ethertype_tagged`]), so that their code (and the registers it saves)
/// costs an untagged packet nothing.
#[inline]
fn by_ethertype(ethertype: EtherType, bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    match ethertype {
        EtherType::Ipv4 => Some(NetworkLayer::Ipv4(bytes)),
        EtherType::Ipv6 => Some(NetworkLayer::Ipv6(bytes)),
        _ => by_ethertype_tagged(ethertype, bytes),
    }
}

/// [`by_ethertype`] after a VLAN tag, MPLS label, PPPoE, MACsec or NSH EtherType (or any other).
#[inline(never)]
fn by_ethertype_tagged(mut ethertype: EtherType, mut bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    loop {
        match ethertype {
            EtherType::Ipv4 => return Some(NetworkLayer::Ipv4(bytes)),
            EtherType::Ipv6 => return Some(NetworkLayer::Ipv6(bytes)),
            t if t.is_vlan() => {
                let tag = VlanTag::new_checked(bytes)?;
                ethertype = tag.ethertype();
                bytes = tag.payload();
            }
            t if t.is_mpls() => return after_mpls(bytes),
            t @ (EtherType::PppoeSession | EtherType::Macsec | EtherType::Nsh) => {
                match links::ethertype_step(t, bytes) {
                    links::Step::Done(layer) => return layer,
                    links::Step::Next(t, b) => (ethertype, bytes) = (t, b),
                }
            }
            _ => return None,
        }
    }
}

/// Pops MPLS labels until bottom of stack, then guesses the IP version from the first nibble.
/// Every label consumes [`MplsLabel::HEADER_LEN`] bytes, so the loop is bounded by `bytes`.
fn after_mpls(mut bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    loop {
        let label = MplsLabel::new_checked(bytes)?;
        bytes = label.payload();
        if label.bottom_of_stack() {
            return by_version_nibble(bytes);
        }
    }
}

fn by_version_nibble(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    match bytes.first()? >> VERSION_SHIFT {
        IP_VERSION_4 => Some(NetworkLayer::Ipv4(bytes)),
        IP_VERSION_6 => Some(NetworkLayer::Ipv6(bytes)),
        _ => None,
    }
}

fn by_family(family: AddressFamily, bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    match family {
        AddressFamily::Inet => Some(NetworkLayer::Ipv4(bytes)),
        AddressFamily::Inet6 => Some(NetworkLayer::Ipv6(bytes)),
        AddressFamily::Unknown(_) => None,
    }
}

#[inline]
fn decode_ipv4(bytes: &[u8]) -> Option<Decoded> {
    let ip = Ipv4Packet::new_checked(bytes)?;
    let proto = ip.protocol();
    let frag = ip.is_fragment().then(|| Fragment {
        id: u32::from(ip.ident()),
        offset: ip.frag_offset(),
        more: ip.more_frags(),
    });
    let ports = if ip.frag_offset() == 0 {
        transport_ports(proto, ip.payload())
    } else {
        None
    };
    Some(Decoded {
        src: IpAddr::V4(ip.src_addr()),
        dst: IpAddr::V4(ip.dst_addr()),
        proto,
        ports,
        frag,
    })
}

#[inline]
fn decode_ipv6(bytes: &[u8]) -> Option<Decoded> {
    let ip = Ipv6Packet::new_checked(bytes)?;
    let mut decoded = Decoded {
        src: IpAddr::V6(ip.src_addr()),
        dst: IpAddr::V6(ip.dst_addr()),
        proto: ip.next_header(),
        ports: None,
        frag: None,
    };
    let mut payload = ip.payload();
    let mut walked = 0;
    while Ipv6ExtHeader::is_extension(decoded.proto) {
        walked += 1;
        if walked > MAX_EXTENSION_HEADERS {
            return None;
        }
        if decoded.proto == next_header::FRAGMENT {
            let header = Ipv6FragmentHeader::new_checked(payload)?;
            decoded.proto = header.next_header();
            payload = header.payload();
            let (offset, more) = (header.frag_offset(), header.more_frags());
            if offset != 0 || more {
                decoded.frag = Some(Fragment {
                    id: header.ident(),
                    offset,
                    more,
                });
            }
            if offset != 0 {
                // What follows is the middle of the datagram, not headers.
                return Some(decoded);
            }
        } else {
            let header = Ipv6ExtHeader::new_checked(payload, decoded.proto)?;
            decoded.proto = header.next_header();
            payload = header.payload();
        }
    }
    decoded.ports = transport_ports(decoded.proto, payload);
    Some(decoded)
}

/// Ports (or ICMP type and code) at the start of a transport header; `None` for other
/// protocols (ESP, no next header, tunnels, ...) and for headers cut short.
fn transport_ports(proto: Proto, bytes: &[u8]) -> Option<(u16, u16)> {
    match proto {
        Proto::TCP | Proto::UDP | Proto::SCTP | Proto::UDPLITE => {
            let header = PortsHeader::new_checked(bytes)?;
            Some((header.src_port(), header.dst_port()))
        }
        Proto::ICMP | Proto::ICMP6 => {
            let header = IcmpHeader::new_checked(bytes)?;
            Some((u16::from(header.msg_type()), u16::from(header.code())))
        }
        _ => None,
    }
}

mod layers;
#[cfg(test)]
mod link_tests;
mod links;
#[cfg(test)]
mod tests;

pub use layers::{is_tunnel_candidate, layers, Encap, Encaps, IpLayer, IpLayers, MAX_INNER_LAYERS};

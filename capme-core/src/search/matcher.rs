//! Does a record belong to the flow? Wire decode → canonical key → comparison, plus IP fragment
//! tracking. The matcher never does I/O.
//!
//! ## Fragments
//! Non-first IP fragments carry no ports. The first fragment (offset 0) fixes
//! `(src, dst, protocol, IP id)` → flow; later fragments with the same [`FragId`] follow it.
//! A later fragment that arrives before its first fragment is reported as
//! [`Verdict::Pending`]: the caller keeps it in a small buffer and releases it when a first
//! fragment with the same id matches ([`Verdict::Match`] carries that id). At most
//! [`FRAG_TRACK`] datagram ids are remembered (oldest forgotten first).
//!
//! ## Address pre-filter
//! Every packet of a flow, fragments included, carries the flow's two addresses in its IP
//! header. Before the full decode, [`Matcher::check`] finds the IP header (link, VLAN and MPLS
//! layers only) and compares the raw address bytes with the flow's pairs; most records of a
//! store fail there, for a few nanoseconds. The comparison reads the same bytes the decode
//! would turn into addresses, so it rejects only what the full match would reject. A Community
//! ID query gets its pre-filter once it has matched a packet (all packets with that ID share
//! its addresses).
//!
//! ## Tunnels
//! A query at [`Layer::Any`] (the default) or [`Layer::Inner`] also compares the flow with the
//! inner IP layers of tunnel packets ([`crate::wire::layers`]: GRE, ERSPAN, VXLAN, GENEVE, IP
//! in IP, up to four deep). Only packets that [`is_tunnel_candidate`] accepts (IP protocol 4,
//! 41 or 47, UDP to port 4789 or 6081) are walked, so plain traffic pays one or two more
//! header reads when its addresses are not the flow's, and nothing else. The first layer
//! whose key matches (outermost first) decides; with [`Layer::Inner`] the outermost layer is
//! skipped, with [`Layer::Outer`] tunnels are never entered. Fragments of an inner IP packet
//! are tracked by their inner identity like plain fragments. The later fragments of a
//! fragmented *outer* packet carry no inner headers: they belong to the flow only through the
//! outer layer (a query for the inner flow gets the first fragment alone).

use crate::flow::{FlowKey, Proto};
use crate::query::{FlowSpec, Layer};
use crate::wire::{
    decode_network, is_tunnel_candidate, layers, network_layer, Decoded, NetworkLayer,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

/// How many fragmented datagrams of the flow are remembered at once.
pub const FRAG_TRACK: usize = 4096;
/// How many keys a Community ID query remembers the verdict of.
const CID_CACHE: usize = 65_536;

/// Identity of a fragmented datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragId {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol.
    pub proto: Proto,
    /// IP identification.
    pub id: u32,
}

/// The datagrams opened by first fragments of the flow: the last [`FRAG_TRACK`] remembered,
/// the oldest forgotten first. Used by the matcher within a file and by a chain across files.
#[derive(Debug, Default)]
pub struct FragSet {
    set: HashSet<FragId>,
    order: VecDeque<FragId>,
}

impl FragSet {
    /// Remembers `id` (forgetting the oldest past [`FRAG_TRACK`]).
    pub fn insert(&mut self, id: FragId) {
        if self.set.insert(id) {
            self.order.push_back(id);
            if self.order.len() > FRAG_TRACK {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    /// Whether `id` is remembered.
    pub fn contains(&self, id: &FragId) -> bool {
        self.set.contains(id)
    }
}

/// The matcher's answer for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not part of the flow.
    NoMatch,
    /// Part of the flow. `frag` is set when this was a first fragment: pending later fragments
    /// with this id now belong to the flow too.
    Match {
        /// The datagram this first fragment opened, if any.
        frag: Option<FragId>,
    },
    /// A non-first fragment whose first fragment has not been seen yet.
    Pending(FragId),
}

/// Decides, record by record, whether packets belong to one flow.
#[derive(Debug)]
pub struct Matcher {
    spec: FlowSpec,
    frags: FragSet,
    cid_cache: HashMap<FlowKey, bool>,
    matched_key: Option<FlowKey>,
    prefilter: Option<AddrFilter>,
    layer: Layer,
    /// Tunnels are entered (the layer is not [`Layer::Outer`]).
    descend: bool,
}

/// The raw address pairs a packet of the flow can carry (either direction).
#[derive(Debug, Default)]
struct AddrFilter {
    v4: Vec<([u8; 4], [u8; 4])>,
    v6: Vec<([u8; 16], [u8; 16])>,
}

impl AddrFilter {
    fn of<'a>(keys: impl IntoIterator<Item = &'a FlowKey>) -> AddrFilter {
        let mut f = AddrFilter::default();
        for k in keys {
            match (k.first().addr, k.second().addr) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    let p = (a.octets(), b.octets());
                    if !f.v4.contains(&p) {
                        f.v4.push(p);
                    }
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    let p = (a.octets(), b.octets());
                    if !f.v6.contains(&p) {
                        f.v6.push(p);
                    }
                }
                // A mixed pair never matches a packet; keep it out of both lists.
                _ => {}
            }
        }
        f
    }

    /// `false` when the record certainly does not belong to the flow: its outer addresses are
    /// not the flow's and (when `descend`) it is no tunnel candidate; `true` when the full
    /// match must decide (including headers too short to read, which the decode rejects).
    #[inline]
    fn may_match(&self, linktype: u32, data: &[u8], descend: bool) -> bool {
        fn pair<const N: usize>(ip: &[u8], at: usize, pairs: &[([u8; N], [u8; N])]) -> bool {
            let (Some(s), Some(d)) = (ip.get(at..at + N), ip.get(at + N..at + 2 * N)) else {
                return true;
            };
            pairs
                .iter()
                .any(|(a, b)| (s == a && d == b) || (s == b && d == a))
        }
        match network_layer(linktype, data) {
            None => false,
            Some(NetworkLayer::Ipv4(ip)) => {
                pair(ip, 12, &self.v4) || (descend && is_tunnel_candidate(NetworkLayer::Ipv4(ip)))
            }
            Some(NetworkLayer::Ipv6(ip)) => {
                pair(ip, 8, &self.v6) || (descend && is_tunnel_candidate(NetworkLayer::Ipv6(ip)))
            }
        }
    }

    /// `false` when the IP packet certainly does not belong to the flow's outer layer.
    #[inline]
    fn may_match_ip(&self, ip: NetworkLayer<'_>) -> bool {
        fn pair<const N: usize>(ip: &[u8], at: usize, pairs: &[([u8; N], [u8; N])]) -> bool {
            let (Some(s), Some(d)) = (ip.get(at..at + N), ip.get(at + N..at + 2 * N)) else {
                return true;
            };
            pairs
                .iter()
                .any(|(a, b)| (s == a && d == b) || (s == b && d == a))
        }
        match ip {
            NetworkLayer::Ipv4(ip) => pair(ip, 12, &self.v4),
            NetworkLayer::Ipv6(ip) => pair(ip, 8, &self.v6),
        }
    }
}

impl Matcher {
    /// A matcher for a flow, at any layer ([`Layer::Any`]).
    pub fn new(spec: FlowSpec) -> Matcher {
        Matcher::with_layer(spec, Layer::Any)
    }

    /// A matcher for a flow at the given layers of a packet.
    pub fn with_layer(spec: FlowSpec, layer: Layer) -> Matcher {
        let prefilter = match &spec {
            FlowSpec::Tuple { keys, .. } => Some(AddrFilter::of(keys)),
            FlowSpec::CommunityId { .. } => None,
        };
        Matcher {
            prefilter,
            spec,
            frags: FragSet::default(),
            cid_cache: HashMap::new(),
            matched_key: None,
            layer,
            descend: layer != Layer::Outer,
        }
    }

    /// The layers this matcher compares the flow with.
    pub fn layer(&self) -> Layer {
        self.layer
    }

    /// The key of the first packet that matched (for a Community ID or proto-less query, the
    /// concrete flow found).
    pub fn matched_key(&self) -> Option<FlowKey> {
        self.matched_key
    }

    /// Classifies one record.
    pub fn check(&mut self, linktype: u32, data: &[u8]) -> Verdict {
        // The hot path: most records of a store fail the pre-filter. Its shape (one match on
        // the network layer, each arm reading what it needs) is the one it had before tunnels:
        // other shapes measured 15-25 % slower on plain traffic.
        if let Some(f) = &self.prefilter {
            if !f.may_match(linktype, data, self.descend) {
                return Verdict::NoMatch;
            }
        }
        self.check_passed(linktype, data)
    }

    /// [`check`](Self::check) of a record that passed the pre-filter.
    fn check_passed(&mut self, linktype: u32, data: &[u8]) -> Verdict {
        let Some(ip) = network_layer(linktype, data) else {
            return Verdict::NoMatch;
        };
        if self.descend && is_tunnel_candidate(ip) {
            let outer_may = self.prefilter.as_ref().is_none_or(|f| f.may_match_ip(ip));
            return self.check_layers(linktype, data, outer_may);
        }
        if self.layer == Layer::Inner {
            return Verdict::NoMatch;
        }
        match decode_network(ip) {
            Some(d) => self.check_decoded(&d),
            None => Verdict::NoMatch,
        }
    }

    /// Classifies a tunnel candidate layer by layer: the first layer that matches decides; a
    /// pending fragment is reported only when no layer matches.
    #[cold]
    #[inline(never)]
    fn check_layers(&mut self, linktype: u32, data: &[u8], outer_may: bool) -> Verdict {
        let all = layers(linktype, data);
        let skip = usize::from(self.layer == Layer::Inner || !outer_may);
        let mut pending = None;
        for l in all.iter().skip(skip) {
            match self.check_decoded(&l.decoded) {
                Verdict::NoMatch => {}
                Verdict::Pending(id) => {
                    pending.get_or_insert(id);
                }
                m @ Verdict::Match { .. } => return m,
            }
        }
        pending.map_or(Verdict::NoMatch, Verdict::Pending)
    }

    /// Classifies an already decoded packet.
    pub fn check_decoded(&mut self, d: &Decoded) -> Verdict {
        if let Some(fr) = d.frag {
            if fr.offset != 0 {
                let id = FragId {
                    src: d.src,
                    dst: d.dst,
                    proto: d.proto,
                    id: fr.id,
                };
                if self.frags.contains(&id) {
                    return Verdict::Match { frag: None };
                }
                return if self.could_match_addresses(d) {
                    Verdict::Pending(id)
                } else {
                    Verdict::NoMatch
                };
            }
        }
        let Some(key) = FlowKey::of_decoded(d) else {
            return Verdict::NoMatch;
        };
        if !self.key_matches(&key) {
            return Verdict::NoMatch;
        }
        if self.matched_key.is_none() {
            self.matched_key = Some(key);
            if self.prefilter.is_none() {
                self.prefilter = Some(AddrFilter::of([&key]));
            }
        }
        let frag = match d.frag {
            Some(fr) if fr.more => {
                let id = FragId {
                    src: d.src,
                    dst: d.dst,
                    proto: d.proto,
                    id: fr.id,
                };
                self.frags.insert(id);
                Some(id)
            }
            _ => None,
        };
        Verdict::Match { frag }
    }

    fn key_matches(&mut self, key: &FlowKey) -> bool {
        match &self.spec {
            FlowSpec::Tuple { keys, .. } => keys.contains(key),
            FlowSpec::CommunityId { id, seed } => {
                if let Some(&v) = self.cid_cache.get(key) {
                    return v;
                }
                let v = key.community_id(*seed) == *id;
                if self.cid_cache.len() >= CID_CACHE {
                    self.cid_cache.clear();
                }
                self.cid_cache.insert(*key, v);
                v
            }
        }
    }

    /// Could a non-first fragment with these addresses belong to the flow?
    fn could_match_addresses(&self, d: &Decoded) -> bool {
        let pair_ok =
            |a: IpAddr, b: IpAddr| (d.src == a && d.dst == b) || (d.src == b && d.dst == a);
        match &self.spec {
            FlowSpec::Tuple { keys, .. } => keys
                .iter()
                .any(|k| k.proto() == d.proto && pair_ok(k.first().addr, k.second().addr)),
            FlowSpec::CommunityId { .. } => match self.matched_key {
                Some(k) => k.proto() == d.proto && pair_ok(k.first().addr, k.second().addr),
                None => true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Endpoint;
    use crate::wire::Fragment;

    fn dec(src: &str, sp: u16, dst: &str, dp: u16, frag: Option<Fragment>) -> Decoded {
        let nonfirst = frag.is_some_and(|f| f.offset != 0);
        Decoded {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto: Proto::UDP,
            ports: if nonfirst { None } else { Some((sp, dp)) },
            frag,
        }
    }

    fn spec() -> FlowSpec {
        crate::testutil::udp_flow()
    }

    #[test]
    fn both_directions_match() {
        let mut m = Matcher::new(spec());
        assert_eq!(
            m.check_decoded(&dec("10.0.0.1", 5000, "10.0.0.2", 53, None)),
            Verdict::Match { frag: None }
        );
        assert_eq!(
            m.check_decoded(&dec("10.0.0.2", 53, "10.0.0.1", 5000, None)),
            Verdict::Match { frag: None }
        );
        assert_eq!(
            m.check_decoded(&dec("10.0.0.2", 54, "10.0.0.1", 5000, None)),
            Verdict::NoMatch
        );
    }

    #[test]
    fn later_fragments_follow_first() {
        let mut m = Matcher::new(spec());
        let first = Fragment {
            id: 7,
            offset: 0,
            more: true,
        };
        let later = Fragment {
            id: 7,
            offset: 185,
            more: false,
        };
        let other = Fragment {
            id: 8,
            offset: 185,
            more: false,
        };
        // Later fragment before its first: pending.
        let v = m.check_decoded(&dec("10.0.0.1", 0, "10.0.0.2", 0, Some(later)));
        assert!(matches!(v, Verdict::Pending(id) if id.id == 7));
        let v = m.check_decoded(&dec("10.0.0.1", 5000, "10.0.0.2", 53, Some(first)));
        assert!(matches!(v, Verdict::Match { frag: Some(id) } if id.id == 7));
        assert_eq!(
            m.check_decoded(&dec("10.0.0.1", 0, "10.0.0.2", 0, Some(later))),
            Verdict::Match { frag: None }
        );
        // Fragments of unrelated hosts are not even pending.
        assert_eq!(
            m.check_decoded(&dec("10.9.9.9", 0, "10.0.0.2", 0, Some(other))),
            Verdict::NoMatch
        );
    }

    /// The pre-filter passes every packet of the flow the full match accepts (QinQ, MPLS,
    /// fragments, IPv6, both directions) and rejects other hosts; a Community ID query
    /// matches the same packets with and without it.
    #[test]
    fn prefilter_rejects_only_what_the_full_match_rejects() {
        use crate::testutil::packet::PacketBuilder;
        use std::net::Ipv4Addr;
        let (a, b, c) = (
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
        );
        let eth = || PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let frags = eth()
            .stag(300)
            .vlan(20)
            .ipv4(a, b)
            .id(42)
            .udp(5000, 53)
            .payload(&[0x55; 3000])
            .fragments(3);
        let mut flow: Vec<Vec<u8>> = vec![
            eth().ipv4(a, b).udp(5000, 53).build(),
            eth().vlan(7).ipv4(b, a).udp(53, 5000).build(),
            eth().mpls(16).mpls(17).ipv4(a, b).udp(5000, 53).build(),
        ];
        flow.extend(frags.iter().rev().cloned()); // later fragments first: pending, then match
        let others = [
            eth().ipv4(a, c).udp(5000, 53).build(),
            eth().ipv4(c, b).udp(5000, 53).build(),
            eth().ipv4(a, b).udp(5001, 53).build(),
            eth()
                .ipv6(
                    "2001:db8::1".parse().unwrap(),
                    "2001:db8::2".parse().unwrap(),
                )
                .udp(5000, 53)
                .build(),
            vec![0u8; 20],
        ];
        let verdicts = |m: &mut Matcher| -> Vec<bool> {
            flow.iter()
                .chain(others.iter())
                .map(|p| m.check(1, p) != Verdict::NoMatch)
                .collect()
        };
        let mut m = Matcher::new(spec());
        assert!(m.prefilter.is_some());
        let want: Vec<bool> = (0..flow.len() + others.len())
            .map(|i| i < flow.len())
            .collect();
        assert_eq!(verdicts(&mut m), want);
        // Without the pre-filter (the full decode alone), the same verdicts.
        let mut m = Matcher::new(spec());
        m.prefilter = None;
        assert_eq!(verdicts(&mut m), want);
        // A Community ID query builds its pre-filter from the first match.
        let key = FlowKey::new(
            Proto::UDP,
            Endpoint::new(IpAddr::V4(a), 5000),
            Endpoint::new(IpAddr::V4(b), 53),
        );
        let mut m = Matcher::new(FlowSpec::CommunityId {
            id: key.community_id(0),
            seed: 0,
        });
        assert!(m.prefilter.is_none());
        assert_eq!(verdicts(&mut m), want);
        assert!(m.prefilter.is_some());
    }

    /// A flow seen plain and inside every tunnel: `any` matches both, `inner` only the
    /// tunnelled copies, `outer` only the plain ones; the tunnels' own flow (outer addresses)
    /// matches at `any` and `outer`. The pre-filter changes no verdict.
    #[test]
    fn layers_select_outer_and_inner_flows() {
        use crate::testutil::encap::{encapsulate, pppoe, Wrap};
        use crate::testutil::packet::PacketBuilder;
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let plain = PacketBuilder::ethernet([2; 6], [3; 6])
            .ip(ip("10.0.0.1"), ip("10.0.0.2"))
            .udp(5000, 53)
            .build();
        let reply = PacketBuilder::ethernet([3; 6], [2; 6])
            .ip(ip("10.0.0.2"), ip("10.0.0.1"))
            .udp(53, 5000)
            .build();
        let (o1, o2) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let wraps = [
            Wrap::Gre {
                key: Some(1),
                seq: Some(2),
                checksum: false,
            },
            Wrap::GreTeb { key: None },
            Wrap::Erspan2 { session: 1, seq: 1 },
            Wrap::Erspan3 {
                session: 2,
                platform: true,
            },
            Wrap::Vxlan { vni: 5 },
            Wrap::Geneve {
                vni: 5,
                option_words: 2,
                ethernet: true,
            },
            Wrap::IpInIp,
        ];
        let mut tunnelled: Vec<Vec<u8>> = wraps
            .iter()
            .map(|&w| encapsulate(&reply, o1, o2, w))
            .collect();
        // Nested two deep, and PPPoE inside VXLAN.
        tunnelled.push(encapsulate(
            &encapsulate(&plain, ip("198.51.100.1"), ip("198.51.100.2"), Wrap::IpInIp),
            o1,
            o2,
            Wrap::Vxlan { vni: 9 },
        ));
        tunnelled.push(encapsulate(
            &pppoe(&plain, 3),
            o1,
            o2,
            Wrap::Vxlan { vni: 9 },
        ));
        // Another inner flow in the same tunnel: never a match for the UDP flow.
        let other = PacketBuilder::ethernet([2; 6], [3; 6])
            .ip(ip("10.0.0.1"), ip("10.0.0.2"))
            .udp(5001, 53)
            .build();
        let other_t = encapsulate(&other, o1, o2, Wrap::Vxlan { vni: 5 });
        let all: Vec<&[u8]> = [&plain[..], &reply[..], &other[..], &other_t[..]]
            .into_iter()
            .chain(tunnelled.iter().map(|p| &p[..]))
            .collect();
        let verdicts = |spec: FlowSpec, layer: Layer, prefilter: bool| -> Vec<bool> {
            let mut m = Matcher::with_layer(spec, layer);
            if !prefilter {
                m.prefilter = None;
            }
            all.iter()
                .map(|p| m.check(1, p) != Verdict::NoMatch)
                .collect()
        };
        let n = tunnelled.len();
        let want = |plain: bool, inner: bool| -> Vec<bool> {
            let mut v = vec![plain, plain, false, false];
            v.resize(4 + n, inner);
            v
        };
        for prefilter in [true, false] {
            assert_eq!(verdicts(spec(), Layer::Any, prefilter), want(true, true));
            assert_eq!(verdicts(spec(), Layer::Inner, prefilter), want(false, true));
            assert_eq!(verdicts(spec(), Layer::Outer, prefilter), want(true, false));
        }
        // The GRE tunnel's own flow (protocol 47 between the outer addresses).
        let gre = FlowSpec::parse_tuple("192.0.2.1", None, "192.0.2.2", None, Some("47")).unwrap();
        let gre_hits = |layer| {
            let mut m = Matcher::with_layer(gre.clone(), layer);
            tunnelled
                .iter()
                .filter(|p| m.check(1, p) != Verdict::NoMatch)
                .count()
        };
        assert_eq!(gre_hits(Layer::Any), 4);
        assert_eq!(gre_hits(Layer::Outer), 4);
        assert_eq!(gre_hits(Layer::Inner), 0);
        // A Community ID query finds the inner flow, and its pre-filter then keeps finding it.
        let key = FlowKey::new(
            Proto::UDP,
            Endpoint::new(ip("10.0.0.1"), 5000),
            Endpoint::new(ip("10.0.0.2"), 53),
        );
        let cid = FlowSpec::CommunityId {
            id: key.community_id(0),
            seed: 0,
        };
        let mut m = Matcher::with_layer(cid, Layer::Inner);
        let hits: Vec<bool> = all
            .iter()
            .map(|p| m.check(1, p) != Verdict::NoMatch)
            .collect();
        assert_eq!(hits, want(false, true));
        assert_eq!(m.matched_key(), Some(key));
    }

    /// Later fragments of an inner IP packet follow its first fragment, each in its own
    /// tunnel packet; a later fragment seen first is pending.
    #[test]
    fn inner_fragments_follow_their_first() {
        use crate::testutil::encap::{encapsulate, Wrap};
        use crate::testutil::packet::PacketBuilder;
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let frags = PacketBuilder::ethernet([2; 6], [3; 6])
            .ip(ip("10.0.0.1"), ip("10.0.0.2"))
            .id(99)
            .udp(5000, 53)
            .payload(&[1; 3000])
            .fragments(3);
        let wrapped: Vec<Vec<u8>> = frags
            .iter()
            .map(|f| encapsulate(f, ip("192.0.2.1"), ip("192.0.2.2"), Wrap::Vxlan { vni: 1 }))
            .collect();
        let mut m = Matcher::with_layer(spec(), Layer::Inner);
        assert!(matches!(m.check(1, &wrapped[2]), Verdict::Pending(id) if id.id == 99));
        assert!(
            matches!(m.check(1, &wrapped[0]), Verdict::Match { frag: Some(id) } if id.id == 99)
        );
        assert_eq!(m.check(1, &wrapped[1]), Verdict::Match { frag: None });
        // At the outer layer, none of them.
        let mut m = Matcher::with_layer(spec(), Layer::Outer);
        assert!(wrapped.iter().all(|p| m.check(1, p) == Verdict::NoMatch));
    }
}

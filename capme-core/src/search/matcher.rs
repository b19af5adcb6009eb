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

use crate::flow::{FlowKey, Proto};
use crate::query::FlowSpec;
use crate::wire::{decode, network_layer, Decoded, NetworkLayer};
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

    /// `false` when the record certainly does not belong to the flow; `true` when the full
    /// match must decide (including headers too short to read, which the decode rejects).
    #[inline]
    fn may_match(&self, linktype: u32, data: &[u8]) -> bool {
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
            Some(NetworkLayer::Ipv4(ip)) => pair(ip, 12, &self.v4),
            Some(NetworkLayer::Ipv6(ip)) => pair(ip, 8, &self.v6),
        }
    }
}

impl Matcher {
    /// A matcher for a flow.
    pub fn new(spec: FlowSpec) -> Matcher {
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
        }
    }

    /// The key of the first packet that matched (for a Community ID or proto-less query, the
    /// concrete flow found).
    pub fn matched_key(&self) -> Option<FlowKey> {
        self.matched_key
    }

    /// Classifies one record.
    pub fn check(&mut self, linktype: u32, data: &[u8]) -> Verdict {
        if let Some(f) = &self.prefilter {
            if !f.may_match(linktype, data) {
                return Verdict::NoMatch;
            }
        }
        match decode(linktype, data) {
            Some(d) => self.check_decoded(&d),
            None => Verdict::NoMatch,
        }
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
}

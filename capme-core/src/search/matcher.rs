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

use crate::flow::Endpoint;
use crate::flow::{FlowKey, Proto};
use crate::search::query::FlowSpec;
use crate::wire::{decode, Decoded};
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
    frags: HashSet<FragId>,
    frag_order: VecDeque<FragId>,
    cid_cache: HashMap<FlowKey, bool>,
    matched_key: Option<FlowKey>,
}

impl Matcher {
    /// A matcher for a flow.
    pub fn new(spec: FlowSpec) -> Matcher {
        Matcher {
            spec,
            frags: HashSet::new(),
            frag_order: VecDeque::new(),
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
        let key = match (d.proto.has_ports(), d.ports) {
            (true, Some((sp, dp))) => {
                FlowKey::new(d.proto, Endpoint::new(d.src, sp), Endpoint::new(d.dst, dp))
            }
            (true, None) => return Verdict::NoMatch,
            (false, _) => FlowKey::new(d.proto, Endpoint::new(d.src, 0), Endpoint::new(d.dst, 0)),
        };
        if !self.key_matches(&key) {
            return Verdict::NoMatch;
        }
        if self.matched_key.is_none() {
            self.matched_key = Some(key);
        }
        let frag = match d.frag {
            Some(fr) if fr.more => {
                let id = FragId {
                    src: d.src,
                    dst: d.dst,
                    proto: d.proto,
                    id: fr.id,
                };
                self.remember(id);
                Some(id)
            }
            _ => None,
        };
        Verdict::Match { frag }
    }

    fn remember(&mut self, id: FragId) {
        if self.frags.insert(id) {
            self.frag_order.push_back(id);
            if self.frag_order.len() > FRAG_TRACK {
                if let Some(old) = self.frag_order.pop_front() {
                    self.frags.remove(&old);
                }
            }
        }
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
        FlowSpec::parse_tuple(
            "10.0.0.1",
            Some("5000"),
            "10.0.0.2",
            Some("53"),
            Some("udp"),
        )
        .unwrap()
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
}

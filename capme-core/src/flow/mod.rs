//! Flows: endpoints and the canonical bidirectional [`FlowKey`] (over [`Proto`], the IP
//! protocol number, which lives in [`crate::wire`]).

pub mod community_id;

use std::fmt;
use std::net::IpAddr;

use crate::wire::Decoded;
pub use crate::wire::Proto;
pub use community_id::CommunityId;

/// One side of a flow: an address and a port (ICMP: type or code; port-less protocols: 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// IPv4 or IPv6 address.
    pub addr: IpAddr,
    /// Port, ICMP type/code, or 0.
    pub port: u16,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(addr: IpAddr, port: u16) -> Self {
        Endpoint { addr, port }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// The ICMP/ICMPv6 "port" pairing of the Community ID specification: a message type that has a
/// counterpart (echo request/reply, ...) becomes `(type, counterpart type)` and is two-way; any
/// other becomes `(type, code)` and is one-way (its endpoints are not reordered).
pub fn icmp_port_equivalents(proto: Proto, icmp_type: u16, code: u16) -> (u16, u16, bool) {
    let counterpart = match (proto, icmp_type) {
        (Proto::ICMP, 8) => Some(0),
        (Proto::ICMP, 0) => Some(8),
        (Proto::ICMP, 13) => Some(14),
        (Proto::ICMP, 14) => Some(13),
        (Proto::ICMP, 15) => Some(16),
        (Proto::ICMP, 16) => Some(15),
        (Proto::ICMP, 10) => Some(9),
        (Proto::ICMP, 9) => Some(10),
        (Proto::ICMP, 17) => Some(18),
        (Proto::ICMP, 18) => Some(17),
        (Proto::ICMP6, 128) => Some(129),
        (Proto::ICMP6, 129) => Some(128),
        (Proto::ICMP6, 133) => Some(134),
        (Proto::ICMP6, 134) => Some(133),
        (Proto::ICMP6, 135) => Some(136),
        (Proto::ICMP6, 136) => Some(135),
        (Proto::ICMP6, 130) => Some(131),
        (Proto::ICMP6, 131) => Some(130),
        (Proto::ICMP6, 139) => Some(140),
        (Proto::ICMP6, 140) => Some(139),
        (Proto::ICMP6, 144) => Some(145),
        (Proto::ICMP6, 145) => Some(144),
        _ => None,
    };
    match counterpart {
        Some(c) => (icmp_type, c, false),
        None => (icmp_type, code, true),
    }
}

/// A canonical, bidirectional flow key: `(proto, first endpoint, second endpoint)`.
///
/// Endpoints are ordered by (address, port), so A→B and B→A give the same key. ICMP and ICMPv6
/// follow the Community ID rules: the source "port" is the type, the destination "port" the
/// counterpart type (echo request ↔ reply, ...) or, for one-way messages, the code; one-way
/// messages keep their direction. Protocols without ports carry port 0 on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    proto: Proto,
    a: Endpoint,
    b: Endpoint,
}

impl FlowKey {
    /// The canonical key of a packet or connection from `src` to `dst`. For ICMP/ICMPv6 pass the
    /// type as `src.port` and the code as `dst.port`. Ports of port-less protocols are ignored.
    pub fn new(proto: Proto, src: Endpoint, dst: Endpoint) -> FlowKey {
        let (mut s, mut d) = (src, dst);
        let mut one_way = false;
        if proto.is_icmp() {
            let (sp, dp, ow) = icmp_port_equivalents(proto, s.port, d.port);
            s.port = sp;
            d.port = dp;
            one_way = ow;
        } else if !proto.has_ports() {
            s.port = 0;
            d.port = 0;
        }
        if !one_way && (s.addr, s.port) > (d.addr, d.port) {
            std::mem::swap(&mut s, &mut d);
        }
        FlowKey { proto, a: s, b: d }
    }

    /// The key a decoded packet carries, as a scan, the matcher and the index builder all
    /// compute it: `None` for a non-first IP fragment (no transport header: it follows its
    /// first fragment) and for a protocol with ports whose transport header was cut.
    pub fn of_decoded(d: &Decoded) -> Option<FlowKey> {
        if d.frag.is_some_and(|f| f.offset != 0) {
            return None;
        }
        let (sp, dp) = match (d.proto.has_ports(), d.ports) {
            (true, Some(p)) => p,
            (true, None) => return None,
            (false, _) => (0, 0),
        };
        Some(FlowKey::new(
            d.proto,
            Endpoint::new(d.src, sp),
            Endpoint::new(d.dst, dp),
        ))
    }

    /// The IP protocol.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// The first endpoint in canonical order (the source for one-way ICMP).
    pub fn first(&self) -> Endpoint {
        self.a
    }

    /// The second endpoint in canonical order.
    pub fn second(&self) -> Endpoint {
        self.b
    }

    /// The Community ID v1 of this key.
    pub fn community_id(&self, seed: u16) -> CommunityId {
        CommunityId::of_key(self, seed)
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} <-> {}", self.proto, self.a, self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str, p: u16) -> Endpoint {
        Endpoint::new(s.parse().unwrap(), p)
    }

    #[test]
    fn bidirectional() {
        let k1 = FlowKey::new(Proto::TCP, ep("10.0.0.2", 80), ep("10.0.0.1", 5000));
        let k2 = FlowKey::new(Proto::TCP, ep("10.0.0.1", 5000), ep("10.0.0.2", 80));
        assert_eq!(k1, k2);
        assert_eq!(k1.first(), ep("10.0.0.1", 5000));
        // Same address: ordered by port.
        let k3 = FlowKey::new(Proto::UDP, ep("::1", 9), ep("::1", 7));
        assert_eq!(k3.first().port, 7);
    }

    #[test]
    fn icmp_pairing() {
        let req = FlowKey::new(Proto::ICMP, ep("10.0.0.1", 8), ep("10.0.0.2", 0));
        let rep = FlowKey::new(Proto::ICMP, ep("10.0.0.2", 0), ep("10.0.0.1", 0));
        assert_eq!(req, rep);
        // Destination unreachable is one-way: direction kept.
        let u1 = FlowKey::new(Proto::ICMP, ep("10.0.0.2", 3), ep("10.0.0.1", 1));
        assert_eq!(u1.first(), ep("10.0.0.2", 3));
        let u2 = FlowKey::new(Proto::ICMP, ep("10.0.0.1", 3), ep("10.0.0.2", 1));
        assert_ne!(u1, u2);
    }

    #[test]
    fn portless_and_parse() {
        let k = FlowKey::new(Proto(47), ep("10.0.0.2", 1), ep("10.0.0.1", 2));
        assert_eq!(k.first(), ep("10.0.0.1", 0));
        assert_eq!(Proto::parse("proto", "ICMP6").unwrap(), Proto::ICMP6);
        assert_eq!(Proto::parse("proto", "47").unwrap(), Proto(47));
        let e = Proto::parse("proto", "gre!").unwrap_err().to_string();
        assert!(e.contains("proto") && e.contains("gre!"));
    }
}

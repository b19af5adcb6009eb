//! The hot-path decode: from link type and packet bytes to what matching needs.

use crate::flow::Proto;
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

/// Decodes a packet of the given link type. `None` when it is not IP or cannot be decoded.
pub fn decode(_linktype: u32, _data: &[u8]) -> Option<Decoded> {
    None
}

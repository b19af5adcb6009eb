//! IPv6 packets (RFC 8200) and the extension headers capme walks through.

use super::{between, read_array, read_u16, read_u32, read_u8, rest};
use crate::wire::Proto;
use std::net::Ipv6Addr;

/// Next-header values of the IPv6 extension headers (and the two that end a chain).
pub mod next_header {
    use crate::wire::Proto;

    /// Hop-by-hop options (0).
    pub const HOP_BY_HOP: Proto = Proto(0);
    /// Routing header (43).
    pub const ROUTING: Proto = Proto(43);
    /// Fragment header (44).
    pub const FRAGMENT: Proto = Proto(44);
    /// Encapsulating security payload (50): ends the chain, the rest is encrypted.
    pub const ESP: Proto = Proto(50);
    /// Authentication header (51).
    pub const AUTH: Proto = Proto(51);
    /// No next header (59).
    pub const NO_NEXT_HEADER: Proto = Proto(59);
    /// Destination options (60).
    pub const DESTINATION_OPTIONS: Proto = Proto(60);
}

mod field {
    use crate::wire::Field;

    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
    pub const HEADER_LEN: usize = DST_ADDR.end;

    pub const VERSION: u8 = 6;
    pub const VERSION_SHIFT: u32 = 28;
    pub const TRAFFIC_CLASS_SHIFT: u32 = 20;
    pub const TRAFFIC_CLASS_MASK: u32 = 0xff;
    pub const FLOW_LABEL_MASK: u32 = 0x000f_ffff;

    /// Every extension header starts with next header and a length byte.
    pub mod ext {
        pub const NEXT_HEADER: usize = 0;
        pub const LENGTH: usize = 1;
        pub const MIN_LEN: usize = LENGTH + 1;
        /// Generic format (RFC 6564): length in 8-octet units, not counting the first 8.
        pub const GENERIC_UNIT: usize = 8;
        /// Authentication header (RFC 4302): length in 4-octet units, minus 2.
        pub const AUTH_UNIT: usize = 4;
        pub const AUTH_BIAS: usize = 2;
    }

    /// The fragment header (8 bytes).
    pub mod frag {
        use crate::wire::Field;

        pub const NEXT_HEADER: usize = 0;
        pub const OFFSET_FLAGS: Field = 2..4;
        pub const IDENT: Field = 4..8;
        pub const HEADER_LEN: usize = IDENT.end;

        pub const OFFSET_SHIFT: u16 = 3;
        pub const MORE_FRAGMENTS: u16 = 0x1;
    }
}

/// A view of an IPv6 packet, limited to its payload length when that is smaller than the capture.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    buffer: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// The length of the fixed header (40 bytes).
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wraps `buffer` when it starts with a whole fixed header of version 6.
    ///
    /// A payload length that ends before `buffer` trims the view; one beyond it is a truncated
    /// capture (what is there is kept); 0 (jumbogram, segmentation offload) means "to the end".
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::HEADER_LEN {
            return None;
        }
        let view = Ipv6Packet { buffer };
        if view.version() != field::VERSION {
            return None;
        }
        let buffer = match usize::from(view.payload_len()) {
            0 => buffer,
            len => between(buffer, 0, field::HEADER_LEN + len),
        };
        Some(Ipv6Packet { buffer })
    }

    fn ver_tc_flow(&self) -> u32 {
        read_u32(self.buffer, field::VER_TC_FLOW)
    }

    /// IP version (6).
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> field::VERSION_SHIFT) as u8
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((self.ver_tc_flow() >> field::TRAFFIC_CLASS_SHIFT) & field::TRAFFIC_CLASS_MASK) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & field::FLOW_LABEL_MASK
    }

    /// Payload length field as written in the header.
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer, field::PAYLOAD_LEN)
    }

    /// The first next header (an extension header or the upper-layer protocol).
    pub fn next_header(&self) -> Proto {
        Proto(read_u8(self.buffer, field::NEXT_HEADER))
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        read_u8(self.buffer, field::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(self.buffer, field::SRC_ADDR))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(self.buffer, field::DST_ADDR))
    }

    /// The bytes after the fixed header, up to the payload length or the end of the capture.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::HEADER_LEN)
    }
}

/// A view of one extension header that capme skips: hop-by-hop options, routing, destination
/// options (generic length, RFC 6564), the authentication header (RFC 4302 length) and the
/// fragment header (8 bytes; its fields are in [`Ipv6FragmentHeader`]).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6ExtHeader<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> Ipv6ExtHeader<'a> {
    /// True for the extension headers this view understands.
    pub fn is_extension(kind: Proto) -> bool {
        use next_header::*;
        matches!(
            kind,
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS | AUTH | FRAGMENT
        )
    }

    /// Wraps `buffer` as an extension header of type `kind` (the previous header's next header)
    /// when `kind` is one of [`Ipv6ExtHeader::is_extension`] and its whole length is in `buffer`.
    pub fn new_checked(buffer: &'a [u8], kind: Proto) -> Option<Self> {
        use next_header::*;
        if buffer.len() < field::ext::MIN_LEN {
            return None;
        }
        let length = usize::from(read_u8(buffer, field::ext::LENGTH));
        let header_len = match kind {
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS => (length + 1) * field::ext::GENERIC_UNIT,
            AUTH => (length + field::ext::AUTH_BIAS) * field::ext::AUTH_UNIT,
            FRAGMENT => field::frag::HEADER_LEN,
            _ => return None,
        };
        (header_len <= buffer.len()).then_some(Ipv6ExtHeader { buffer, header_len })
    }

    /// The header that follows.
    pub fn next_header(&self) -> Proto {
        Proto(read_u8(self.buffer, field::ext::NEXT_HEADER))
    }

    /// The length of this header in bytes.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The bytes after this header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len)
    }
}

/// A view of an IPv6 fragment header.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6FragmentHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> Ipv6FragmentHeader<'a> {
    /// The length of the header (8 bytes).
    pub const HEADER_LEN: usize = field::frag::HEADER_LEN;

    /// Wraps `buffer` when it holds a whole fragment header.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::frag::HEADER_LEN).then_some(Ipv6FragmentHeader { buffer })
    }

    /// The header of the fragmentable part (first fragment: what follows; all fragments: the
    /// reassembled packet's next header).
    pub fn next_header(&self) -> Proto {
        Proto(read_u8(self.buffer, field::frag::NEXT_HEADER))
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer, field::frag::OFFSET_FLAGS) >> field::frag::OFFSET_SHIFT
    }

    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer, field::frag::OFFSET_FLAGS) & field::frag::MORE_FRAGMENTS != 0
    }

    /// Identification (32 bits).
    pub fn ident(&self) -> u32 {
        read_u32(self.buffer, field::frag::IDENT)
    }

    /// The bytes after this header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::frag::HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(payload_len: u16, next: u8) -> Vec<u8> {
        let mut h = vec![0x6a, 0xb1, 0x23, 0x45];
        h.extend_from_slice(&payload_len.to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        h.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        h
    }

    #[test]
    fn wire_ipv6_fields() {
        let mut p = fixed(2, 59);
        p.extend_from_slice(&[7, 7, 0, 0]);
        let ip = Ipv6Packet::new_checked(&p).unwrap();
        assert_eq!(ip.version(), 6);
        assert_eq!(ip.traffic_class(), 0xab);
        assert_eq!(ip.flow_label(), 0x12345);
        assert_eq!(ip.payload_len(), 2);
        assert_eq!(ip.next_header(), next_header::NO_NEXT_HEADER);
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!(ip.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(ip.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(ip.payload(), &[7, 7]);
    }

    #[test]
    fn wire_ipv6_lengths() {
        let mut p = fixed(100, 6);
        p.extend_from_slice(&[1, 2, 3]);
        assert_eq!(Ipv6Packet::new_checked(&p).unwrap().payload(), &[1, 2, 3]);
        let mut p = fixed(0, 6);
        p.extend_from_slice(&[1, 2, 3]);
        assert_eq!(Ipv6Packet::new_checked(&p).unwrap().payload(), &[1, 2, 3]);
        assert!(Ipv6Packet::new_checked(&p[..39]).is_none());
        p[0] = 0x40;
        assert!(Ipv6Packet::new_checked(&p).is_none());
    }

    #[test]
    fn wire_ipv6_ext_lengths() {
        let b = [6u8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xee];
        let h = Ipv6ExtHeader::new_checked(&b, next_header::HOP_BY_HOP).unwrap();
        assert_eq!((h.next_header(), h.header_len()), (Proto::TCP, 16));
        assert_eq!(h.payload(), &[0xee]);
        assert!(Ipv6ExtHeader::new_checked(&b[..15], next_header::ROUTING).is_none());
        // AH: (1 + 2) * 4 = 12 bytes.
        let h = Ipv6ExtHeader::new_checked(&b, next_header::AUTH).unwrap();
        assert_eq!(h.header_len(), 12);
        // Fragment: 8 bytes whatever its second byte says.
        let h = Ipv6ExtHeader::new_checked(&b, next_header::FRAGMENT).unwrap();
        assert_eq!(h.header_len(), 8);
        assert!(Ipv6ExtHeader::new_checked(&b, Proto::TCP).is_none());
        assert!(Ipv6ExtHeader::new_checked(&b[..1], next_header::HOP_BY_HOP).is_none());
        assert!(Ipv6ExtHeader::is_extension(
            next_header::DESTINATION_OPTIONS
        ));
        assert!(!Ipv6ExtHeader::is_extension(next_header::ESP));
    }

    #[test]
    fn wire_ipv6_fragment_fields() {
        let b = [17u8, 0, 0x05, 0x39, 0xde, 0xad, 0xbe, 0xef, 0x01];
        let f = Ipv6FragmentHeader::new_checked(&b).unwrap();
        assert_eq!(f.next_header(), Proto::UDP);
        assert_eq!(f.frag_offset(), 0xa7);
        assert!(f.more_frags());
        assert_eq!(f.ident(), 0xdead_beef);
        assert_eq!(f.payload(), &[1]);
        assert!(Ipv6FragmentHeader::new_checked(&b[..7]).is_none());
    }
}

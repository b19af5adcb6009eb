//! IPv4 packets (RFC 791).

use super::{between, read_array, read_u16, read_u8};
use crate::wire::Proto;
use std::net::Ipv4Addr;

mod field {
    use crate::wire::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    pub const MIN_HEADER_LEN: usize = DST_ADDR.end;

    pub const VERSION: u8 = 4;
    pub const VERSION_SHIFT: u8 = 4;
    pub const IHL_MASK: u8 = 0x0f;
    /// IHL counts 32-bit words.
    pub const IHL_UNIT: usize = 4;

    pub const FLAG_DF: u16 = 0x4000;
    pub const FLAG_MF: u16 = 0x2000;
    pub const OFFSET_MASK: u16 = 0x1fff;
}

/// A view of an IPv4 packet, limited to its total length when that is smaller than the capture.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a> {
    buffer: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// The length of a header without options (20 bytes).
    pub const MIN_HEADER_LEN: usize = field::MIN_HEADER_LEN;

    /// Wraps `buffer` when it starts with a whole IPv4 header: version 4, `IHL >= 5` and the
    /// header (options included) inside `buffer`.
    ///
    /// A total length smaller than `buffer` trims the view (Ethernet padding, trailers). A total
    /// length larger than `buffer` is a truncated capture (snap length): what is there is kept.
    /// A total length smaller than the header (0 in captures of TCP segmentation offload) is
    /// ignored.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::MIN_HEADER_LEN {
            return None;
        }
        let view = Ipv4Packet { buffer };
        if view.version() != field::VERSION {
            return None;
        }
        let header_len = view.header_len();
        if header_len < field::MIN_HEADER_LEN || header_len > buffer.len() {
            return None;
        }
        let total_len = usize::from(view.total_len());
        let buffer = if total_len >= header_len {
            between(buffer, 0, total_len)
        } else {
            buffer
        };
        Some(Ipv4Packet { buffer })
    }

    /// IP version (4).
    pub fn version(&self) -> u8 {
        read_u8(self.buffer, field::VER_IHL) >> field::VERSION_SHIFT
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer, field::VER_IHL) & field::IHL_MASK) * field::IHL_UNIT
    }

    /// DSCP and ECN byte.
    pub fn dscp_ecn(&self) -> u8 {
        read_u8(self.buffer, field::DSCP_ECN)
    }

    /// Total length field (header and payload) as written in the header.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer, field::LENGTH)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer, field::IDENT)
    }

    /// Don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer, field::FLG_OFF) & field::FLAG_DF != 0
    }

    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer, field::FLG_OFF) & field::FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer, field::FLG_OFF) & field::OFFSET_MASK
    }

    /// True for a fragment: more-fragments set or a non-zero offset.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        read_u8(self.buffer, field::TTL)
    }

    /// The upper-layer protocol.
    pub fn protocol(&self) -> Proto {
        Proto(read_u8(self.buffer, field::PROTOCOL))
    }

    /// Header checksum (not verified).
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer, field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buffer, field::SRC_ADDR))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buffer, field::DST_ADDR))
    }

    /// The options (empty when IHL is 5).
    pub fn options(&self) -> &'a [u8] {
        between(self.buffer, field::MIN_HEADER_LEN, self.header_len())
    }

    /// The payload after the header, up to the total length or the end of the capture.
    pub fn payload(&self) -> &'a [u8] {
        between(self.buffer, self.header_len(), self.buffer.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ihl: u8, total: u16, flg_off: u16, proto: u8) -> Vec<u8> {
        let mut h = vec![0x40 | ihl, 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&0x1234u16.to_be_bytes());
        h.extend_from_slice(&flg_off.to_be_bytes());
        h.extend_from_slice(&[64, proto, 0xab, 0xcd, 10, 0, 0, 1, 10, 0, 0, 2]);
        h.resize(usize::from(ihl) * 4, 1); // options
        h
    }

    #[test]
    fn wire_ipv4_fields() {
        let mut p = header(6, 28, 0x2000 | 3, 17);
        p.extend_from_slice(&[9, 9, 9, 9, 0, 0]); // payload + 2 bytes of padding
        let ip = Ipv4Packet::new_checked(&p).unwrap();
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.header_len(), 24);
        assert_eq!(ip.dscp_ecn(), 0);
        assert_eq!(ip.total_len(), 28);
        assert_eq!(ip.ident(), 0x1234);
        assert!(ip.more_frags() && !ip.dont_frag() && ip.is_fragment());
        assert_eq!(ip.frag_offset(), 3);
        assert_eq!(ip.ttl(), 64);
        assert_eq!(ip.protocol(), Proto::UDP);
        assert_eq!(ip.checksum(), 0xabcd);
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(ip.options(), &[1, 1, 1, 1]);
        assert_eq!(ip.payload(), &[9, 9, 9, 9]);
    }

    #[test]
    fn wire_ipv4_lengths() {
        // Total length beyond the capture: truncated, keep what is there.
        let mut p = header(5, 1500, 0x4000, 6);
        p.extend_from_slice(&[1, 2, 3]);
        let ip = Ipv4Packet::new_checked(&p).unwrap();
        assert_eq!(ip.payload(), &[1, 2, 3]);
        assert!(ip.dont_frag() && !ip.is_fragment());
        // Total length 0 (segmentation offload): the whole capture.
        let mut p = header(5, 0, 0, 6);
        p.extend_from_slice(&[1, 2]);
        assert_eq!(Ipv4Packet::new_checked(&p).unwrap().payload(), &[1, 2]);
        // IHL below 5, IHL beyond the capture, wrong version, short buffer.
        let mut bad = header(5, 20, 0, 6);
        bad[0] = 0x44;
        assert!(Ipv4Packet::new_checked(&bad).is_none());
        bad[0] = 0x46;
        assert!(Ipv4Packet::new_checked(&bad).is_none());
        bad[0] = 0x65;
        assert!(Ipv4Packet::new_checked(&bad).is_none());
        assert!(Ipv4Packet::new_checked(&header(5, 20, 0, 6)[..19]).is_none());
    }
}

//! GRE (RFC 2784, RFC 2890 key and sequence number) and the ERSPAN headers carried over it
//! (type II and type III, draft-foschiano-erspan).
//!
//! Only GRE version 0 without the RFC 1701 routing field is understood: version 1 (PPTP's
//! enhanced GRE) and source-routed packets are not tunnels capme enters.

use super::{read_u16, read_u32, read_u8, rest};

mod field {
    use crate::wire::Field;

    pub const FLAGS_VERSION: Field = 0..2;
    pub const PROTOCOL: Field = 2..4;
    pub const MIN_LEN: usize = PROTOCOL.end;
    /// Each optional field (checksum and reserved, key, sequence number) is one 32-bit word.
    pub const OPTION_LEN: usize = 4;

    pub const FLAG_CHECKSUM: u16 = 0x8000;
    pub const FLAG_ROUTING: u16 = 0x4000;
    pub const FLAG_KEY: u16 = 0x2000;
    pub const FLAG_SEQUENCE: u16 = 0x1000;
    pub const VERSION_MASK: u16 = 0x0007;

    /// ERSPAN type II (8 bytes) and type III (12 bytes, plus 8 with the O bit).
    pub mod erspan {
        use crate::wire::Field;

        pub const VERSION_VLAN: Field = 0..2;
        pub const SESSION: Field = 2..4;
        pub const VERSION_SHIFT: u16 = 12;
        pub const VLAN_MASK: u16 = 0x0fff;
        pub const SESSION_MASK: u16 = 0x03ff;
        pub const TYPE2_LEN: usize = 8;
        pub const TYPE2_VERSION: u16 = 1;
        pub const TYPE3_VERSION: u16 = 2;
        pub const TYPE3_TIMESTAMP: Field = 4..8;
        pub const TYPE3_FT: usize = 10;
        pub const TYPE3_FT_SHIFT: u8 = 2;
        pub const TYPE3_FT_MASK: u8 = 0x1f;
        pub const TYPE3_FLAGS: usize = 11;
        pub const TYPE3_O_BIT: u8 = 0x01;
        pub const TYPE3_LEN: usize = 12;
        pub const TYPE3_PLATFORM_LEN: usize = 8;
    }
}

/// A view of a GRE header (version 0) and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct GreHeader<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> GreHeader<'a> {
    /// Protocol type of an IPv4 payload.
    pub const PROTO_IPV4: u16 = 0x0800;
    /// Protocol type of an IPv6 payload.
    pub const PROTO_IPV6: u16 = 0x86DD;
    /// Transparent Ethernet bridging: the payload is an Ethernet frame.
    pub const PROTO_TEB: u16 = 0x6558;
    /// ERSPAN type I (no sequence number, Ethernet follows at once) and type II.
    pub const PROTO_ERSPAN: u16 = 0x88BE;
    /// ERSPAN type III.
    pub const PROTO_ERSPAN3: u16 = 0x22EB;

    /// Wraps `buffer` when it starts with a whole GRE version 0 header: the checksum, key and
    /// sequence number words its flags announce are inside `buffer`, and the routing flag is
    /// clear.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::MIN_LEN {
            return None;
        }
        let flags = read_u16(buffer, field::FLAGS_VERSION);
        if flags & field::VERSION_MASK != 0 || flags & field::FLAG_ROUTING != 0 {
            return None;
        }
        let words = [field::FLAG_CHECKSUM, field::FLAG_KEY, field::FLAG_SEQUENCE]
            .iter()
            .filter(|&&f| flags & f != 0)
            .count();
        let header_len = field::MIN_LEN + words * field::OPTION_LEN;
        (header_len <= buffer.len()).then_some(GreHeader { buffer, header_len })
    }

    fn flags(&self) -> u16 {
        read_u16(self.buffer, field::FLAGS_VERSION)
    }

    /// The protocol type (an EtherType) of the payload.
    pub fn protocol(&self) -> u16 {
        read_u16(self.buffer, field::PROTOCOL)
    }

    /// True when the checksum word is present.
    pub fn has_checksum(&self) -> bool {
        self.flags() & field::FLAG_CHECKSUM != 0
    }

    /// The byte offset of an optional word: after the fixed part and the words before it.
    fn option_at(&self, flag: u16) -> Option<usize> {
        if self.flags() & flag == 0 {
            return None;
        }
        let before = [field::FLAG_CHECKSUM, field::FLAG_KEY, field::FLAG_SEQUENCE]
            .iter()
            .take_while(|&&f| f != flag)
            .filter(|&&f| self.flags() & f != 0)
            .count();
        Some(field::MIN_LEN + before * field::OPTION_LEN)
    }

    /// The key (RFC 2890), when present.
    pub fn key(&self) -> Option<u32> {
        let at = self.option_at(field::FLAG_KEY)?;
        Some(read_u32(self.buffer, at..at + field::OPTION_LEN))
    }

    /// The sequence number (RFC 2890), when present.
    pub fn sequence(&self) -> Option<u32> {
        let at = self.option_at(field::FLAG_SEQUENCE)?;
        Some(read_u32(self.buffer, at..at + field::OPTION_LEN))
    }

    /// The header's length in bytes (4 to 16).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len)
    }
}

/// A view of an ERSPAN type II header (8 bytes, version 1), which an Ethernet frame follows.
#[derive(Debug, Clone, Copy)]
pub struct ErspanIIHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> ErspanIIHeader<'a> {
    /// The header's length (8 bytes).
    pub const HEADER_LEN: usize = field::erspan::TYPE2_LEN;

    /// Wraps `buffer` when it holds a whole header of version 1.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::erspan::TYPE2_LEN
            && erspan_version(buffer) == field::erspan::TYPE2_VERSION)
            .then_some(ErspanIIHeader { buffer })
    }

    /// The original VLAN of the mirrored frame.
    pub fn vlan(&self) -> u16 {
        read_u16(self.buffer, field::erspan::VERSION_VLAN) & field::erspan::VLAN_MASK
    }

    /// The ERSPAN session (10 bits).
    pub fn session_id(&self) -> u16 {
        read_u16(self.buffer, field::erspan::SESSION) & field::erspan::SESSION_MASK
    }

    /// The mirrored Ethernet frame.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::erspan::TYPE2_LEN)
    }
}

/// A view of an ERSPAN type III header (12 bytes, version 2, plus an 8-byte platform
/// specific subheader when its O bit is set).
#[derive(Debug, Clone, Copy)]
pub struct ErspanIIIHeader<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> ErspanIIIHeader<'a> {
    /// Frame type of an Ethernet frame.
    pub const FRAME_ETHERNET: u8 = 0;
    /// Frame type of an IP packet.
    pub const FRAME_IP: u8 = 2;

    /// Wraps `buffer` when it holds a whole header of version 2, platform subheader included.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        use field::erspan::*;
        if buffer.len() < TYPE3_LEN || erspan_version(buffer) != TYPE3_VERSION {
            return None;
        }
        let header_len = if read_u8(buffer, TYPE3_FLAGS) & TYPE3_O_BIT != 0 {
            TYPE3_LEN + TYPE3_PLATFORM_LEN
        } else {
            TYPE3_LEN
        };
        (header_len <= buffer.len()).then_some(ErspanIIIHeader { buffer, header_len })
    }

    /// The ERSPAN session (10 bits).
    pub fn session_id(&self) -> u16 {
        read_u16(self.buffer, field::erspan::SESSION) & field::erspan::SESSION_MASK
    }

    /// The timestamp word.
    pub fn timestamp(&self) -> u32 {
        read_u32(self.buffer, field::erspan::TYPE3_TIMESTAMP)
    }

    /// The frame type (0: Ethernet, 2: IP).
    pub fn frame_type(&self) -> u8 {
        (read_u8(self.buffer, field::erspan::TYPE3_FT) >> field::erspan::TYPE3_FT_SHIFT)
            & field::erspan::TYPE3_FT_MASK
    }

    /// The header's length (12 or 20 bytes).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The mirrored frame.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len)
    }
}

fn erspan_version(buffer: &[u8]) -> u16 {
    read_u16(buffer, field::erspan::VERSION_VLAN) >> field::erspan::VERSION_SHIFT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_gre_optional_words() {
        // C, K and S: checksum+reserved, key, sequence, then the payload.
        let mut b = vec![0xb0, 0x00, 0x08, 0x00];
        b.extend_from_slice(&[0xaa, 0xbb, 0, 0, 0, 0, 0, 7, 0, 0, 1, 0, 0x45]);
        let g = GreHeader::new_checked(&b).unwrap();
        assert_eq!(g.header_len(), 16);
        assert!(g.has_checksum());
        assert_eq!((g.key(), g.sequence()), (Some(7), Some(256)));
        assert_eq!(g.protocol(), GreHeader::PROTO_IPV4);
        assert_eq!(g.payload(), &[0x45]);
        // S alone: the sequence is the first word.
        let b = [0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 9];
        let g = GreHeader::new_checked(&b).unwrap();
        assert_eq!((g.key(), g.sequence(), g.header_len()), (None, Some(9), 8));
        // Words announced but cut; version 1; routing.
        assert!(GreHeader::new_checked(&b[..7]).is_none());
        assert!(GreHeader::new_checked(&[0x00, 0x01, 0x88, 0x0b]).is_none());
        assert!(GreHeader::new_checked(&[0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0]).is_none());
        assert!(GreHeader::new_checked(&[0, 0, 8]).is_none());
        let g = GreHeader::new_checked(&[0, 0, 0x65, 0x58]).unwrap();
        assert_eq!((g.header_len(), g.payload()), (4, &[] as &[u8]));
    }

    #[test]
    fn wire_erspan_headers() {
        let b = [0x10, 0x64, 0x00, 0x2a, 0, 0, 0, 1, 0xff];
        let e = ErspanIIHeader::new_checked(&b).unwrap();
        assert_eq!(
            (e.vlan(), e.session_id(), e.payload()),
            (100, 42, &[0xff][..])
        );
        assert!(ErspanIIHeader::new_checked(&b[..7]).is_none());
        assert!(ErspanIIHeader::new_checked(&[0x20, 0, 0, 0, 0, 0, 0, 0]).is_none());
        // Type III without and with the platform subheader; frame type IP (2).
        let mut b = vec![0x20, 0, 0x00, 0x05, 0, 0, 0, 9, 0, 0, 2 << 2, 0];
        b.push(0xee);
        let e = ErspanIIIHeader::new_checked(&b).unwrap();
        assert_eq!((e.session_id(), e.timestamp(), e.frame_type()), (5, 9, 2));
        assert_eq!((e.header_len(), e.payload()), (12, &[0xee][..]));
        b[11] = 1;
        assert!(ErspanIIIHeader::new_checked(&b).is_none());
        b.extend_from_slice(&[0; 8]);
        assert_eq!(ErspanIIIHeader::new_checked(&b).unwrap().header_len(), 20);
        assert!(ErspanIIIHeader::new_checked(&[0x10; 12]).is_none());
    }
}

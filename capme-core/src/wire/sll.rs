//! Linux "cooked" capture headers: `LINKTYPE_LINUX_SLL` (113) and `LINKTYPE_LINUX_SLL2` (276).

use super::{read_array, read_u16, read_u32, read_u8, rest, EtherType};

mod field {
    /// LINUX_SLL (16 bytes).
    pub mod sll {
        use crate::wire::Field;

        pub const PACKET_TYPE: Field = 0..2;
        pub const HATYPE: Field = 2..4;
        pub const ADDR_LEN: Field = 4..6;
        pub const ADDR: Field = 6..14;
        pub const PROTOCOL: Field = 14..16;
        pub const HEADER_LEN: usize = PROTOCOL.end;
    }

    /// LINUX_SLL2 (20 bytes).
    pub mod sll2 {
        use crate::wire::Field;

        pub const PROTOCOL: Field = 0..2;
        pub const RESERVED: Field = 2..4;
        pub const IFINDEX: Field = 4..8;
        pub const HATYPE: Field = 8..10;
        pub const PACKET_TYPE: usize = 10;
        pub const ADDR_LEN: usize = 11;
        pub const ADDR: Field = 12..20;
        pub const HEADER_LEN: usize = ADDR.end;
    }
}

/// A view of a `LINUX_SLL` header.
#[derive(Debug, Clone, Copy)]
pub struct SllHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> SllHeader<'a> {
    /// The length of the header (16 bytes).
    pub const HEADER_LEN: usize = field::sll::HEADER_LEN;

    /// Wraps `buffer` when it holds at least a whole header.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::sll::HEADER_LEN).then_some(SllHeader { buffer })
    }

    /// Packet type (0 = to us, 1 = broadcast, 2 = multicast, 3 = to someone else, 4 = sent by us).
    pub fn packet_type(&self) -> u16 {
        read_u16(self.buffer, field::sll::PACKET_TYPE)
    }

    /// The ARPHRD_ type of the interface.
    pub fn hatype(&self) -> u16 {
        read_u16(self.buffer, field::sll::HATYPE)
    }

    /// Length of the link-layer address.
    pub fn addr_len(&self) -> u16 {
        read_u16(self.buffer, field::sll::ADDR_LEN)
    }

    /// The link-layer address field (first `addr_len` bytes meaningful, at most 8).
    pub fn addr(&self) -> [u8; 8] {
        read_array(self.buffer, field::sll::ADDR)
    }

    /// The protocol type, an EtherType for the link types capme decodes.
    pub fn protocol(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer, field::sll::PROTOCOL))
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::sll::HEADER_LEN)
    }
}

/// A view of a `LINUX_SLL2` header.
#[derive(Debug, Clone, Copy)]
pub struct Sll2Header<'a> {
    buffer: &'a [u8],
}

impl<'a> Sll2Header<'a> {
    /// The length of the header (20 bytes).
    pub const HEADER_LEN: usize = field::sll2::HEADER_LEN;

    /// Wraps `buffer` when it holds at least a whole header.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::sll2::HEADER_LEN).then_some(Sll2Header { buffer })
    }

    /// The protocol type, an EtherType for the link types capme decodes.
    pub fn protocol(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer, field::sll2::PROTOCOL))
    }

    /// The reserved field (should be 0).
    pub fn reserved(&self) -> u16 {
        read_u16(self.buffer, field::sll2::RESERVED)
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        read_u32(self.buffer, field::sll2::IFINDEX)
    }

    /// The ARPHRD_ type of the interface.
    pub fn hatype(&self) -> u16 {
        read_u16(self.buffer, field::sll2::HATYPE)
    }

    /// Packet type (as in [`SllHeader::packet_type`]).
    pub fn packet_type(&self) -> u8 {
        read_u8(self.buffer, field::sll2::PACKET_TYPE)
    }

    /// Length of the link-layer address.
    pub fn addr_len(&self) -> u8 {
        read_u8(self.buffer, field::sll2::ADDR_LEN)
    }

    /// The link-layer address field (first `addr_len` bytes meaningful, at most 8).
    pub fn addr(&self) -> [u8; 8] {
        read_array(self.buffer, field::sll2::ADDR)
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::sll2::HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_sll_fields() {
        let b = [0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00, 0x45];
        let h = SllHeader::new_checked(&b).unwrap();
        assert_eq!(h.packet_type(), 4);
        assert_eq!(h.hatype(), 1);
        assert_eq!(h.addr_len(), 6);
        assert_eq!(h.addr(), [1, 2, 3, 4, 5, 6, 0, 0]);
        assert_eq!(h.protocol(), EtherType::Ipv4);
        assert_eq!(h.payload(), &[0x45]);
        assert!(SllHeader::new_checked(&b[..15]).is_none());
    }

    #[test]
    fn wire_sll2_fields() {
        let b = [
            0x86, 0xdd, 0, 0, 0, 0, 0, 7, 0, 1, 3, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x60,
        ];
        let h = Sll2Header::new_checked(&b).unwrap();
        assert_eq!(h.protocol(), EtherType::Ipv6);
        assert_eq!(h.reserved(), 0);
        assert_eq!(h.ifindex(), 7);
        assert_eq!(h.hatype(), 1);
        assert_eq!(h.packet_type(), 3);
        assert_eq!(h.addr_len(), 6);
        assert_eq!(h.addr(), [1, 2, 3, 4, 5, 6, 0, 0]);
        assert_eq!(h.payload(), &[0x60]);
        assert!(Sll2Header::new_checked(&b[..19]).is_none());
    }
}

//! Network Service Header (RFC 8300, EtherType 0x894F): a base header whose length field
//! counts the whole header in 4-byte words, a service path header, metadata, then the next
//! protocol.

use super::{read_u32, read_u8, rest};

mod field {
    use crate::wire::Field;

    pub const VER_FLAGS_TTL: usize = 0;
    pub const TTL_LENGTH: usize = 1;
    pub const MD_TYPE: usize = 2;
    pub const NEXT_PROTOCOL: usize = 3;
    pub const SERVICE_PATH: Field = 4..8;
    pub const MIN_HEADER_LEN: usize = SERVICE_PATH.end;

    pub const VERSION_SHIFT: u8 = 6;
    pub const LENGTH_MASK: u8 = 0x3F;
    pub const MD_TYPE_MASK: u8 = 0x0F;
    /// The length counts 4-byte words.
    pub const LENGTH_UNIT: usize = 4;
    pub const SPI_SHIFT: u32 = 8;
}

/// NSH next protocol values.
pub mod next_protocol {
    /// IPv4.
    pub const IPV4: u8 = 1;
    /// IPv6.
    pub const IPV6: u8 = 2;
    /// Ethernet.
    pub const ETHERNET: u8 = 3;
    /// NSH.
    pub const NSH: u8 = 4;
    /// MPLS.
    pub const MPLS: u8 = 5;
}

/// A view of an NSH header of version 0 whose length (at least the 8 bytes of the base and
/// service path headers) lies within the buffer.
#[derive(Debug, Clone, Copy)]
pub struct NshHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> NshHeader<'a> {
    /// Wraps `buffer` when it holds a whole NSH header of version 0 (see the type).
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        let view = NshHeader { buffer };
        (buffer.len() >= field::MIN_HEADER_LEN
            && read_u8(buffer, field::VER_FLAGS_TTL) >> field::VERSION_SHIFT == 0
            && (field::MIN_HEADER_LEN..=buffer.len()).contains(&view.header_len()))
        .then_some(view)
    }

    /// The header length in bytes (the length field × 4).
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer, field::TTL_LENGTH) & field::LENGTH_MASK)
            * field::LENGTH_UNIT
    }

    /// The metadata type (1: fixed length, 2: variable).
    pub fn md_type(&self) -> u8 {
        read_u8(self.buffer, field::MD_TYPE) & field::MD_TYPE_MASK
    }

    /// The next protocol (see [`next_protocol`]).
    pub fn next_protocol(&self) -> u8 {
        read_u8(self.buffer, field::NEXT_PROTOCOL)
    }

    /// The service path identifier (24 bits).
    pub fn spi(&self) -> u32 {
        read_u32(self.buffer, field::SERVICE_PATH) >> field::SPI_SHIFT
    }

    /// The service index.
    pub fn si(&self) -> u8 {
        read_u8(self.buffer, field::SERVICE_PATH.end - 1)
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_nsh_header() {
        // Version 0, TTL 63, length 6 words (MD type 1), next protocol IPv4, SPI 42, SI 255.
        let mut b = vec![0x0f, 0xc6, 0x01, 0x01, 0, 0, 42, 255];
        b.extend_from_slice(&[0; 16]);
        b.push(0x45);
        let h = NshHeader::new_checked(&b).unwrap();
        assert_eq!((h.header_len(), h.md_type(), h.next_protocol()), (24, 1, 1));
        assert_eq!((h.spi(), h.si()), (42, 255));
        assert_eq!(h.payload(), &[0x45]);
        assert!(NshHeader::new_checked(&b[..23]).is_none());
        assert!(NshHeader::new_checked(&b[..7]).is_none());
        let mut v = b.clone();
        v[0] |= 0x40;
        assert!(NshHeader::new_checked(&v).is_none(), "version 1");
        let mut l = b.clone();
        l[1] = 0xc1;
        assert!(NshHeader::new_checked(&l).is_none(), "length below 2 words");
    }
}

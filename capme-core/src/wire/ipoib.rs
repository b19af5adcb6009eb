//! IP over InfiniBand (`LINKTYPE_IPOIB`, 242; RFC 4391): a 44-byte pseudo-header (the 40
//! bytes of the hardware addresses, then the EtherType and 2 reserved bytes), as tcpdump
//! reads it.

use super::{read_u16, rest, EtherType};

mod field {
    use crate::wire::Field;

    pub const ADDRESSES: Field = 0..40;
    pub const ETHERTYPE: Field = 40..42;
    pub const RESERVED: Field = 42..44;
    pub const HEADER_LEN: usize = RESERVED.end;
}

/// A view of the IPoIB pseudo-header.
#[derive(Debug, Clone, Copy)]
pub struct IpoibHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> IpoibHeader<'a> {
    /// The length of the header (44 bytes).
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wraps `buffer` when it holds a whole header.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::HEADER_LEN).then_some(IpoibHeader { buffer })
    }

    /// The 40 bytes of hardware addresses.
    pub fn addresses(&self) -> &'a [u8] {
        self.buffer.get(field::ADDRESSES).unwrap_or(&[])
    }

    /// The EtherType of the payload.
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer, field::ETHERTYPE))
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_ipoib_header() {
        let mut b = vec![7u8; 40];
        b.extend_from_slice(&[0x08, 0x00, 0, 0, 0x45]);
        let h = IpoibHeader::new_checked(&b).unwrap();
        assert_eq!((h.ethertype(), h.payload()), (EtherType::Ipv4, &[0x45][..]));
        assert_eq!(h.addresses(), &[7u8; 40][..]);
        assert!(IpoibHeader::new_checked(&b[..43]).is_none());
    }
}

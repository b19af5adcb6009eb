//! MACsec (IEEE 802.1AE, EtherType 0x88E5): the SecTAG after the EtherType. A frame with
//! integrity only carries the protected frame's EtherType and payload in the clear, then a
//! 16-byte ICV (which the IP length keeps out of the packet); an encrypted one cannot be read.

use super::{between, read_array, read_u16, read_u32, read_u8, EtherType};

mod field {
    use crate::wire::Field;

    /// After the 0x88E5 EtherType.
    pub const TCI_AN: usize = 0;
    pub const SHORT_LEN: usize = 1;
    pub const PN: Field = 2..6;
    pub const SCI: Field = 6..14;
    pub const LEN_WITHOUT_SCI: usize = PN.end;
    pub const LEN_WITH_SCI: usize = SCI.end;
    pub const INNER_ETHERTYPE_LEN: usize = 2;

    pub const TCI_VERSION: u8 = 0x80;
    pub const TCI_SC: u8 = 0x20;
    pub const TCI_E: u8 = 0x08;
    pub const TCI_C: u8 = 0x04;
    pub const AN_MASK: u8 = 0x03;
    pub const SHORT_LEN_MASK: u8 = 0x3F;
}

/// A view of a SecTAG (after the MACsec EtherType: 6 bytes, or 14 with an SCI) and the secure
/// data after it.
#[derive(Debug, Clone, Copy)]
pub struct MacsecHeader<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> MacsecHeader<'a> {
    /// Wraps `buffer` when it holds a SecTAG of version 0 (the SCI included when its flag is
    /// set) and 2 bytes after it.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        let tci = *buffer.first()?;
        if tci & field::TCI_VERSION != 0 {
            return None;
        }
        let header_len = if tci & field::TCI_SC != 0 {
            field::LEN_WITH_SCI
        } else {
            field::LEN_WITHOUT_SCI
        };
        (buffer.len() >= header_len + field::INNER_ETHERTYPE_LEN)
            .then_some(MacsecHeader { buffer, header_len })
    }

    /// The TCI bits (the association number masked off).
    pub fn tci(&self) -> u8 {
        read_u8(self.buffer, field::TCI_AN) & !field::AN_MASK
    }

    /// The association number.
    pub fn association_number(&self) -> u8 {
        read_u8(self.buffer, field::TCI_AN) & field::AN_MASK
    }

    /// The short length: the secure data's length when below 48, else 0.
    pub fn short_len(&self) -> u8 {
        read_u8(self.buffer, field::SHORT_LEN) & field::SHORT_LEN_MASK
    }

    /// The packet number.
    pub fn packet_number(&self) -> u32 {
        read_u32(self.buffer, field::PN)
    }

    /// The secure channel identifier, when present.
    pub fn sci(&self) -> Option<[u8; 8]> {
        (self.header_len == field::LEN_WITH_SCI).then(|| read_array(self.buffer, field::SCI))
    }

    /// True when the user data is encrypted (or changed: the E or C bit).
    pub fn is_encrypted(&self) -> bool {
        read_u8(self.buffer, field::TCI_AN) & (field::TCI_E | field::TCI_C) != 0
    }

    /// The secure data: the protected frame's EtherType and payload (and the ICV, unless the
    /// short length bounds it).
    fn secure_data(&self) -> &'a [u8] {
        let end = match self.short_len() {
            0 => self.buffer.len(),
            n => self.header_len + usize::from(n),
        };
        between(self.buffer, self.header_len, end)
    }

    /// The EtherType of the protected frame; `None` when it is encrypted.
    pub fn ethertype(&self) -> Option<EtherType> {
        if self.is_encrypted() {
            return None;
        }
        let data = self.secure_data();
        (data.len() >= field::INNER_ETHERTYPE_LEN).then(|| EtherType::from(read_u16(data, 0..2)))
    }

    /// The protected frame's payload after its EtherType (the ICV at its end); `None` when it
    /// is encrypted.
    pub fn payload(&self) -> Option<&'a [u8]> {
        if self.is_encrypted() {
            return None;
        }
        self.secure_data().get(field::INNER_ETHERTYPE_LEN..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_macsec_sectag() {
        // Integrity only, with SCI (TCI 0x20 | ES 0 | AN 1), PN 7.
        let mut b = vec![0x21, 0, 0, 0, 0, 7];
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 1]);
        b.extend_from_slice(&[0x08, 0x00, 0x45]);
        b.extend_from_slice(&[0xcc; 16]);
        let h = MacsecHeader::new_checked(&b).unwrap();
        assert_eq!((h.association_number(), h.packet_number()), (1, 7));
        assert_eq!(h.sci(), Some([1, 2, 3, 4, 5, 6, 0, 1]));
        assert_eq!(h.ethertype(), Some(EtherType::Ipv4));
        assert_eq!(h.payload().map(|p| p[0]), Some(0x45));
        for cut in 0..16 {
            assert!(MacsecHeader::new_checked(&b[..cut]).is_none(), "cut {cut}");
        }
        // Without SCI; a short length bounds the data.
        let short = [0x00, 3, 0, 0, 0, 1, 0x86, 0xdd, 0x60, 0xcc, 0xcc];
        let h = MacsecHeader::new_checked(&short).unwrap();
        assert_eq!(h.sci(), None);
        assert_eq!(
            (h.ethertype(), h.payload()),
            (Some(EtherType::Ipv6), Some(&[0x60][..]))
        );
        // Encrypted (E and C), version bit.
        let enc = [0x0c, 0, 0, 0, 0, 1, 0x12, 0x34];
        let h = MacsecHeader::new_checked(&enc).unwrap();
        assert!(h.is_encrypted());
        assert_eq!((h.ethertype(), h.payload()), (None, None));
        assert!(MacsecHeader::new_checked(&[0x80, 0, 0, 0, 0, 1, 8, 0]).is_none());
    }
}

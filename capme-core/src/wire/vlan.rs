//! IEEE 802.1Q / 802.1ad VLAN tags (the four bytes after a VLAN EtherType).

use super::{read_u16, EtherTypeTail};

mod field {
    use crate::wire::Field;

    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const HEADER_LEN: usize = ETHERTYPE.end;

    pub const PCP_SHIFT: u16 = 13;
    pub const DEI_MASK: u16 = 0x1000;
    pub const VID_MASK: u16 = 0x0fff;
}

/// A view of one VLAN tag: the tag control information and the encapsulated EtherType.
#[derive(Debug, Clone, Copy)]
pub struct VlanTag<'a> {
    buffer: &'a [u8],
}

impl VlanTag<'_> {
    fn tci(&self) -> u16 {
        read_u16(self.buffer, field::TCI)
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> field::PCP_SHIFT) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & field::DEI_MASK != 0
    }

    /// VLAN identifier (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & field::VID_MASK
    }
}

/// The EtherType after a tag names what follows it (possibly another tag).
impl<'a> EtherTypeTail<'a> for VlanTag<'a> {
    const HEADER_LEN: usize = field::HEADER_LEN;
    fn wrap(buffer: &'a [u8]) -> Self {
        VlanTag { buffer }
    }
    fn bytes(&self) -> &'a [u8] {
        self.buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::EtherType;

    #[test]
    fn wire_vlan_fields() {
        let b = [0xb0, 0x64, 0x08, 0x00, 0x45];
        let t = VlanTag::new_checked(&b).unwrap();
        assert_eq!(t.pcp(), 5);
        assert!(t.dei());
        assert_eq!(t.vid(), 100);
        assert_eq!(t.ethertype(), EtherType::Ipv4);
        assert_eq!(t.payload(), &[0x45]);
        assert!(VlanTag::new_checked(&b[..3]).is_none());
    }
}

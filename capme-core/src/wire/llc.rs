//! IEEE 802.2 LLC with a SNAP header carrying an EtherType (RFC 1042), as 802.11 data frames
//! carry IP.

use super::{read_array, read_u16, rest, EtherType};

mod field {
    use crate::wire::Field;

    pub const DSAP_SSAP_CONTROL: Field = 0..3;
    pub const OUI: Field = 3..6;
    pub const ETHERTYPE: Field = 6..8;
    pub const HEADER_LEN: usize = ETHERTYPE.end;

    /// DSAP and SSAP 0xAA (SNAP), control 0x03 (unnumbered information).
    pub const SNAP: [u8; 3] = [0xAA, 0xAA, 0x03];
    /// RFC 1042 encapsulation.
    pub const OUI_RFC1042: [u8; 3] = [0x00, 0x00, 0x00];
    /// 802.1H bridge tunnel encapsulation (Apple/IPX/AARP, used by some stations for IP too).
    pub const OUI_BRIDGE_TUNNEL: [u8; 3] = [0x00, 0x00, 0xF8];
}

/// A view of an LLC/SNAP header (8 bytes) whose OUI says an EtherType follows.
#[derive(Debug, Clone, Copy)]
pub struct LlcSnapHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> LlcSnapHeader<'a> {
    /// The length of the header (8 bytes).
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wraps `buffer` when it starts with a whole LLC/SNAP header `AA AA 03` with the OUI of
    /// RFC 1042 or 802.1H (an EtherType follows); any other LLC is `None`.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::HEADER_LEN
            || read_array::<3>(buffer, field::DSAP_SSAP_CONTROL) != field::SNAP
        {
            return None;
        }
        let oui = read_array::<3>(buffer, field::OUI);
        (oui == field::OUI_RFC1042 || oui == field::OUI_BRIDGE_TUNNEL)
            .then_some(LlcSnapHeader { buffer })
    }

    /// The organisationally unique identifier.
    pub fn oui(&self) -> [u8; 3] {
        read_array(self.buffer, field::OUI)
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
    fn wire_llc_snap() {
        let b = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, 0x45];
        let h = LlcSnapHeader::new_checked(&b).unwrap();
        assert_eq!((h.oui(), h.ethertype()), ([0, 0, 0], EtherType::Ipv4));
        assert_eq!(h.payload(), &[0x45]);
        let tunnel = [0xaa, 0xaa, 0x03, 0, 0, 0xf8, 0x86, 0xdd];
        assert_eq!(
            LlcSnapHeader::new_checked(&tunnel).unwrap().ethertype(),
            EtherType::Ipv6
        );
        assert!(LlcSnapHeader::new_checked(&b[..7]).is_none());
        // Another OUI (Cisco), another SAP (STP).
        assert!(LlcSnapHeader::new_checked(&[0xaa, 0xaa, 0x03, 0, 0, 0x0c, 0x20, 0x00]).is_none());
        assert!(LlcSnapHeader::new_checked(&[0x42, 0x42, 0x03, 0, 0, 0, 0, 0]).is_none());
    }
}

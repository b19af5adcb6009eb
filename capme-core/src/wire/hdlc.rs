//! Cisco HDLC (`LINKTYPE_C_HDLC`, 104): address, control and an EtherType.

use super::{read_u16, read_u8, rest, EtherType};

mod field {
    use crate::wire::Field;

    pub const ADDRESS: usize = 0;
    pub const CONTROL: usize = 1;
    pub const PROTOCOL: Field = 2..4;
    pub const HEADER_LEN: usize = PROTOCOL.end;

    pub const UNICAST: u8 = 0x0F;
    pub const BROADCAST: u8 = 0x8F;
}

/// A view of a Cisco HDLC header (4 bytes): address (0x0F unicast, 0x8F broadcast), control
/// (0) and the protocol, an EtherType.
#[derive(Debug, Clone, Copy)]
pub struct CiscoHdlcHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> CiscoHdlcHeader<'a> {
    /// The length of the header (4 bytes).
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wraps `buffer` when it holds a whole header.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::HEADER_LEN).then_some(CiscoHdlcHeader { buffer })
    }

    /// True when `buffer` starts with a Cisco HDLC address byte (0x0F or 0x8F): how a frame of
    /// PPP in HDLC framing (link type 50) or an ERF HDLC/POS record shows it is Cisco HDLC.
    pub fn starts(buffer: &[u8]) -> bool {
        matches!(buffer.first(), Some(&(field::UNICAST | field::BROADCAST)))
    }

    /// The address byte.
    pub fn address(&self) -> u8 {
        read_u8(self.buffer, field::ADDRESS)
    }

    /// The control byte.
    pub fn control(&self) -> u8 {
        read_u8(self.buffer, field::CONTROL)
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer, field::PROTOCOL))
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
    fn wire_cisco_hdlc_fields() {
        let b = [0x8f, 0x00, 0x86, 0xdd, 0x60];
        let h = CiscoHdlcHeader::new_checked(&b).unwrap();
        assert_eq!((h.address(), h.control()), (0x8f, 0));
        assert_eq!(h.protocol(), EtherType::Ipv6);
        assert_eq!(h.payload(), &[0x60]);
        assert!(CiscoHdlcHeader::new_checked(&b[..3]).is_none());
        assert!(CiscoHdlcHeader::starts(&[0x0f]));
        assert!(CiscoHdlcHeader::starts(&b));
        assert!(!CiscoHdlcHeader::starts(&[0xff, 0x03]));
        assert!(!CiscoHdlcHeader::starts(&[]));
    }
}

//! PPP (RFC 1661), in HDLC-like framing (RFC 1662), and PPPoE session headers (RFC 2516):
//! `LINKTYPE_PPP` (9), `LINKTYPE_PPP_HDLC` (50), `LINKTYPE_PPP_ETHER` (51) and EtherType 0x8864.

use super::{between, read_u16, read_u8, rest};

/// PPP protocol numbers that lead to IP.
pub mod protocol {
    /// IPv4 (0x0021).
    pub const IPV4: u16 = 0x0021;
    /// IPv6 (0x0057).
    pub const IPV6: u16 = 0x0057;
    /// MPLS unicast (0x0281).
    pub const MPLS_UNICAST: u16 = 0x0281;
    /// MPLS multicast (0x0283).
    pub const MPLS_MULTICAST: u16 = 0x0283;
}

mod field {
    use crate::wire::Field;

    /// The all-stations address and the UI control of HDLC-like framing.
    pub const ADDRESS: usize = 0;
    pub const CONTROL: usize = 1;
    pub const ALL_STATIONS: u8 = 0xFF;
    pub const UI: u8 = 0x03;
    pub const ADDRESS_CONTROL_LEN: usize = 2;
    /// A protocol field's first byte is even, its last odd: an odd first byte is a protocol
    /// compressed to one byte (Protocol-Field-Compression).
    pub const PFC_BIT: u8 = 0x01;

    pub const PPPOE_VER_TYPE: usize = 0;
    pub const PPPOE_CODE: usize = 1;
    pub const PPPOE_SESSION: Field = 2..4;
    pub const PPPOE_LENGTH: Field = 4..6;
    pub const PPPOE_HEADER_LEN: usize = PPPOE_LENGTH.end;
    /// Version 1, type 1.
    pub const PPPOE_VER_TYPE_1_1: u8 = 0x11;
    /// Session data.
    pub const PPPOE_CODE_SESSION: u8 = 0x00;
}

/// A view of a PPP frame: an optional `FF 03` address and control, then the protocol field
/// (two bytes, or one when compressed), then the payload.
#[derive(Debug, Clone, Copy)]
pub struct PppHeader<'a> {
    buffer: &'a [u8],
    /// Offset of the protocol field (0, or 2 after `FF 03`).
    at: usize,
    /// Length of the protocol field (1 or 2).
    len: usize,
}

impl<'a> PppHeader<'a> {
    /// Wraps `buffer` when it holds a whole protocol field (after `FF 03`, when present).
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        let at = if buffer.len() >= field::ADDRESS_CONTROL_LEN
            && read_u8(buffer, field::ADDRESS) == field::ALL_STATIONS
            && read_u8(buffer, field::CONTROL) == field::UI
        {
            field::ADDRESS_CONTROL_LEN
        } else {
            0
        };
        let first = *buffer.get(at)?;
        let len = if first & field::PFC_BIT != 0 { 1 } else { 2 };
        (buffer.len() >= at + len).then_some(PppHeader { buffer, at, len })
    }

    /// True when the frame starts with the `FF 03` address and control of HDLC-like framing.
    pub fn has_address_control(&self) -> bool {
        self.at == field::ADDRESS_CONTROL_LEN
    }

    /// The protocol number (a compressed one-byte field is its low byte).
    pub fn protocol(&self) -> u16 {
        if self.len == 1 {
            u16::from(read_u8(self.buffer, self.at))
        } else {
            read_u16(self.buffer, self.at..self.at + 2)
        }
    }

    /// The bytes after the protocol field.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.at + self.len)
    }
}

/// A view of a PPPoE header (6 bytes) of the session stage, with its payload: the PPP frame,
/// bounded by the header's length field.
#[derive(Debug, Clone, Copy)]
pub struct PppoeHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> PppoeHeader<'a> {
    /// The length of the header (6 bytes).
    pub const HEADER_LEN: usize = field::PPPOE_HEADER_LEN;

    /// Wraps `buffer` when it holds a whole header of version 1, type 1, code 0 (session
    /// data); discovery packets and other versions are `None`.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        let view = PppoeHeader { buffer };
        (buffer.len() >= field::PPPOE_HEADER_LEN
            && read_u8(buffer, field::PPPOE_VER_TYPE) == field::PPPOE_VER_TYPE_1_1
            && view.code() == field::PPPOE_CODE_SESSION)
            .then_some(view)
    }

    /// The code (0 for session data).
    pub fn code(&self) -> u8 {
        read_u8(self.buffer, field::PPPOE_CODE)
    }

    /// The session id.
    pub fn session_id(&self) -> u16 {
        read_u16(self.buffer, field::PPPOE_SESSION)
    }

    /// The length field: bytes of payload.
    pub fn length(&self) -> u16 {
        read_u16(self.buffer, field::PPPOE_LENGTH)
    }

    /// The payload (a PPP frame without address and control), up to the length field or the
    /// end of the capture, whichever comes first (Ethernet padding is not payload).
    pub fn payload(&self) -> &'a [u8] {
        let end = field::PPPOE_HEADER_LEN + usize::from(self.length());
        between(self.buffer, field::PPPOE_HEADER_LEN, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_ppp_protocol_field_forms() {
        // With address and control, full protocol field.
        let h = PppHeader::new_checked(&[0xff, 0x03, 0x00, 0x21, 0x45]).unwrap();
        assert!(h.has_address_control());
        assert_eq!((h.protocol(), h.payload()), (protocol::IPV4, &[0x45][..]));
        // Without address and control.
        let h = PppHeader::new_checked(&[0x00, 0x57, 0x60]).unwrap();
        assert!(!h.has_address_control());
        assert_eq!((h.protocol(), h.payload()), (protocol::IPV6, &[0x60][..]));
        // Protocol-Field-Compression: one odd byte.
        let h = PppHeader::new_checked(&[0xff, 0x03, 0x21, 0x45]).unwrap();
        assert_eq!((h.protocol(), h.payload()), (protocol::IPV4, &[0x45][..]));
        let h = PppHeader::new_checked(&[0x57]).unwrap();
        assert_eq!((h.protocol(), h.payload()), (protocol::IPV6, &[][..]));
        // Cut short.
        assert!(PppHeader::new_checked(&[]).is_none());
        assert!(PppHeader::new_checked(&[0x00]).is_none());
        assert!(PppHeader::new_checked(&[0xff, 0x03]).is_none());
        assert!(PppHeader::new_checked(&[0xff, 0x03, 0x00]).is_none());
    }

    #[test]
    fn wire_pppoe_session() {
        let b = [
            0x11, 0x00, 0x12, 0x34, 0x00, 0x03, 0x00, 0x21, 0x45, 0xaa, 0xbb,
        ];
        let h = PppoeHeader::new_checked(&b).unwrap();
        assert_eq!((h.code(), h.session_id(), h.length()), (0, 0x1234, 3));
        assert_eq!(h.payload(), &[0x00, 0x21, 0x45], "padding left out");
        // A length beyond the capture: what is there.
        let h = PppoeHeader::new_checked(&b[..7]).unwrap();
        assert_eq!(h.payload(), &[0x00]);
        // Discovery (code 0x09, PADI), another version, cut short.
        assert!(PppoeHeader::new_checked(&[0x11, 0x09, 0, 0, 0, 0]).is_none());
        assert!(PppoeHeader::new_checked(&[0x21, 0x00, 0, 0, 0, 0]).is_none());
        assert!(PppoeHeader::new_checked(&b[..5]).is_none());
    }
}

//! IEEE 802.11 data frames (`LINKTYPE_IEEE802_11`, 105, and under the radio headers of
//! link types 119, 127 and 163): the MAC header, whose length the frame control decides.

use super::{read_array, read_u8, rest};

mod field {
    use crate::wire::Field;

    pub const FRAME_CONTROL: usize = 0;
    pub const FLAGS: usize = 1;
    pub const ADDR1: Field = 4..10;
    pub const ADDR2: Field = 10..16;
    pub const ADDR3: Field = 16..22;
    pub const SEQ_CTRL: Field = 22..24;
    /// Header of a data frame with three addresses.
    pub const BASE_LEN: usize = SEQ_CTRL.end;
    /// The fourth address of a frame with both ToDS and FromDS (a wireless distribution system).
    pub const ADDR4_LEN: usize = 6;
    /// The QoS control field of QoS data subtypes.
    pub const QOS_LEN: usize = 2;
    /// The HT control field, present in QoS frames with the order bit.
    pub const HT_CONTROL_LEN: usize = 4;

    pub const VERSION_MASK: u8 = 0x03;
    pub const TYPE_MASK: u8 = 0x0C;
    pub const TYPE_DATA: u8 = 0x08;
    pub const SUBTYPE_SHIFT: u8 = 4;
    /// Subtype bits: QoS (8-15) and "no data" (null function, CF-Ack/Poll without data).
    pub const SUBTYPE_QOS: u8 = 0x08;
    pub const SUBTYPE_NO_DATA: u8 = 0x04;

    pub const FLAG_TO_DS: u8 = 0x01;
    pub const FLAG_FROM_DS: u8 = 0x02;
    pub const FLAG_PROTECTED: u8 = 0x40;
    pub const FLAG_ORDER: u8 = 0x80;

    pub const FRAGMENT_MASK: u16 = 0x000F;
    /// QoS control, first byte: the payload is an A-MSDU (several subframes).
    pub const QOS_AMSDU: u8 = 0x80;
}

/// A view of an 802.11 data frame that carries one MSDU in the clear: its MAC header and the
/// payload after it (an LLC header, for IP an LLC/SNAP one).
///
/// Only frames a decoder can follow pass [`new_checked`](Self::new_checked): data type, protocol
/// version 0, a subtype with data, not protected (WEP/TKIP/CCMP payloads are encrypted), not a
/// later fragment of an MSDU (only the first holds the LLC and IP headers), and not an A-MSDU.
/// Management and control frames are `None`. Multi-byte fields are little-endian.
#[derive(Debug, Clone, Copy)]
pub struct Ieee80211Frame<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> Ieee80211Frame<'a> {
    /// Wraps `buffer` when it holds the whole MAC header of a data frame a decoder can follow
    /// (see the type's documentation).
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::BASE_LEN {
            return None;
        }
        let fc = read_u8(buffer, field::FRAME_CONTROL);
        let flags = read_u8(buffer, field::FLAGS);
        let subtype = fc >> field::SUBTYPE_SHIFT;
        if fc & field::VERSION_MASK != 0
            || fc & field::TYPE_MASK != field::TYPE_DATA
            || subtype & field::SUBTYPE_NO_DATA != 0
            || flags & field::FLAG_PROTECTED != 0
        {
            return None;
        }
        let mut header_len = field::BASE_LEN;
        if flags & (field::FLAG_TO_DS | field::FLAG_FROM_DS)
            == field::FLAG_TO_DS | field::FLAG_FROM_DS
        {
            header_len += field::ADDR4_LEN;
        }
        if subtype & field::SUBTYPE_QOS != 0 {
            let qos = read_u8(buffer, header_len);
            header_len += field::QOS_LEN;
            if buffer.len() < header_len || qos & field::QOS_AMSDU != 0 {
                return None;
            }
            if flags & field::FLAG_ORDER != 0 {
                header_len += field::HT_CONTROL_LEN;
            }
        }
        let view = Ieee80211Frame { buffer, header_len };
        (buffer.len() >= header_len && view.fragment_number() == 0).then_some(view)
    }

    /// The frame control's subtype (0-15; 8-15 are QoS data).
    pub fn subtype(&self) -> u8 {
        read_u8(self.buffer, field::FRAME_CONTROL) >> field::SUBTYPE_SHIFT
    }

    /// The frame control's flags byte (ToDS 0x01, FromDS 0x02, more fragments 0x04, retry,
    /// power management, more data, protected 0x40, order 0x80).
    pub fn flags(&self) -> u8 {
        read_u8(self.buffer, field::FLAGS)
    }

    /// Address 1 (the receiver).
    pub fn addr1(&self) -> [u8; 6] {
        read_array(self.buffer, field::ADDR1)
    }

    /// Address 2 (the transmitter).
    pub fn addr2(&self) -> [u8; 6] {
        read_array(self.buffer, field::ADDR2)
    }

    /// Address 3.
    pub fn addr3(&self) -> [u8; 6] {
        read_array(self.buffer, field::ADDR3)
    }

    /// The fragment number of the sequence control field.
    pub fn fragment_number(&self) -> u16 {
        u16::from_le_bytes(read_array(self.buffer, field::SEQ_CTRL)) & field::FRAGMENT_MASK
    }

    /// The length of the MAC header (24 to 36 bytes).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The bytes after the MAC header (a trailing FCS, when captured, included).
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data frame header: frame control, flags, duration, three addresses, sequence control
    /// (fragment `frag`), then `extra` (addr4, QoS, HT control) and `body`.
    fn frame(fc: u8, flags: u8, frag: u8, extra: &[u8], body: &[u8]) -> Vec<u8> {
        let mut f = vec![fc, flags, 0, 0];
        f.extend_from_slice(&[1; 6]);
        f.extend_from_slice(&[2; 6]);
        f.extend_from_slice(&[3; 6]);
        f.extend_from_slice(&[0x10 | frag, 0x02]);
        f.extend_from_slice(extra);
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn wire_80211_header_lengths() {
        let body = [0xaa, 0xaa, 0x03];
        for (fc, flags, extra, len) in [
            (0x08u8, 0x01u8, &[][..], 24usize),              // data, ToDS
            (0x08, 0x03, &[4; 6][..], 30),                   // data, WDS: addr4
            (0x88, 0x02, &[0, 0][..], 26),                   // QoS data
            (0x88, 0x03, &[4, 4, 4, 4, 4, 4, 0, 0][..], 32), // QoS, addr4
            (0x88, 0x81, &[0, 0, 9, 9, 9, 9][..], 30),       // QoS + order: HT control
            (0x08, 0x81, &[][..], 24),                       // order without QoS: no HT control
        ] {
            let f = frame(fc, flags, 0, extra, &body);
            let v = Ieee80211Frame::new_checked(&f).unwrap_or_else(|| panic!("{fc:#x} {flags:#x}"));
            assert_eq!(v.header_len(), len, "{fc:#x} {flags:#x}");
            assert_eq!(v.payload(), &body);
            assert_eq!((v.addr1(), v.addr2(), v.addr3()), ([1; 6], [2; 6], [3; 6]));
            // Every cut of the header is None.
            for cut in 0..len {
                assert!(
                    Ieee80211Frame::new_checked(&f[..cut]).is_none(),
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn wire_80211_frames_not_followed() {
        let body = [0xaa, 0xaa, 0x03];
        // Protected, null function, QoS null, management (beacon), control (ACK), version 1,
        // a later fragment, an A-MSDU.
        for f in [
            frame(0x08, 0x41, 0, &[], &body),
            frame(0x48, 0x01, 0, &[], &body),
            frame(0xc8, 0x01, 0, &[0, 0], &body),
            frame(0x80, 0x00, 0, &[], &body),
            frame(0xd4, 0x00, 0, &[], &body),
            frame(0x09, 0x01, 0, &[], &body),
            frame(0x08, 0x01, 1, &[], &body),
            frame(0x88, 0x01, 0, &[0x80, 0], &body),
        ] {
            assert!(
                Ieee80211Frame::new_checked(&f).is_none(),
                "{:02x?}",
                &f[..2]
            );
        }
        // The first fragment of a fragmented MSDU is followed.
        let f = frame(0x08, 0x05, 0, &[], &body);
        assert_eq!(Ieee80211Frame::new_checked(&f).unwrap().flags(), 0x05);
    }
}

//! Juniper Ethernet (`LINKTYPE_JUNIPER_ETHER`, 178): the "MGC" cookie header Juniper routers
//! put in front of captured frames, then the Ethernet frame (or, with the no-L2 flag, IP).

use super::{read_u16, read_u8, rest};

mod field {
    use crate::wire::Field;

    pub const MAGIC: Field = 0..3;
    pub const FLAGS: usize = 3;
    pub const EXT_LEN: Field = 4..6;
    pub const HEADER_LEN: usize = FLAGS + 1;

    /// "MGC".
    pub const MAGIC_MGC: [u8; 3] = *b"MGC";
    pub const FLAG_PKT_IN: u8 = 0x01;
    /// No layer-2 header: 4 bytes, then the IP packet.
    pub const FLAG_NO_L2: u8 = 0x02;
    /// Extension TLVs follow, with their total length.
    pub const FLAG_EXT: u8 = 0x80;
    pub const NO_L2_SKIP: usize = 4;
}

/// What follows a Juniper header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JuniperPayload<'a> {
    /// An Ethernet frame.
    Ethernet(&'a [u8]),
    /// A packet without its layer-2 header: IPv4 or IPv6 by its version nibble.
    Ip(&'a [u8]),
}

/// A view of a Juniper capture header: magic "MGC", flags, and when the extension flag is set
/// a big-endian length and that many bytes of extension TLVs.
#[derive(Debug, Clone, Copy)]
pub struct JuniperHeader<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> JuniperHeader<'a> {
    /// Wraps `buffer` when it starts with the magic, and the extensions (and, without a
    /// layer-2 header, the 4 bytes before the IP packet) lie within it.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.get(field::MAGIC)? != field::MAGIC_MGC || buffer.len() < field::HEADER_LEN {
            return None;
        }
        let flags = read_u8(buffer, field::FLAGS);
        let mut header_len = field::HEADER_LEN;
        if flags & field::FLAG_EXT != 0 {
            if buffer.len() < field::EXT_LEN.end {
                return None;
            }
            header_len = field::EXT_LEN.end + usize::from(read_u16(buffer, field::EXT_LEN));
        }
        if flags & field::FLAG_NO_L2 != 0 {
            header_len += field::NO_L2_SKIP;
        }
        (buffer.len() >= header_len).then_some(JuniperHeader { buffer, header_len })
    }

    /// The flags (0x01 incoming, 0x02 no layer-2 header, 0x80 extensions).
    pub fn flags(&self) -> u8 {
        read_u8(self.buffer, field::FLAGS)
    }

    /// True for a packet received (rather than sent) by the router.
    pub fn incoming(&self) -> bool {
        self.flags() & field::FLAG_PKT_IN != 0
    }

    /// The length of what precedes the payload.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The packet after the header.
    pub fn payload(&self) -> JuniperPayload<'a> {
        let p = rest(self.buffer, self.header_len);
        if self.flags() & field::FLAG_NO_L2 != 0 {
            JuniperPayload::Ip(p)
        } else {
            JuniperPayload::Ethernet(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_juniper_header_forms() {
        let plain = [b'M', b'G', b'C', 0x01, 0xaa];
        let h = JuniperHeader::new_checked(&plain).unwrap();
        assert!(h.incoming());
        assert_eq!(h.payload(), JuniperPayload::Ethernet(&[0xaa]));
        let ext = [b'M', b'G', b'C', 0x80, 0, 3, 4, 1, 7, 0xbb];
        let h = JuniperHeader::new_checked(&ext).unwrap();
        assert_eq!(
            (h.header_len(), h.payload()),
            (9, JuniperPayload::Ethernet(&[0xbb]))
        );
        let no_l2 = [b'M', b'G', b'C', 0x82, 0, 0, 0, 0, 0, 2, 0x45];
        let h = JuniperHeader::new_checked(&no_l2).unwrap();
        assert_eq!(h.payload(), JuniperPayload::Ip(&[0x45]));
        for cut in 0..9 {
            assert!(
                JuniperHeader::new_checked(&ext[..cut]).is_none(),
                "cut {cut}"
            );
        }
        assert!(JuniperHeader::new_checked(&no_l2[..9]).is_none());
        assert!(JuniperHeader::new_checked(b"MGX\x00").is_none());
    }
}

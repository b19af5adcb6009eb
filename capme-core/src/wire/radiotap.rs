//! Radio information headers in front of 802.11 frames: radiotap (`LINKTYPE_IEEE802_11_RADIOTAP`,
//! 127), Prism monitor mode (`LINKTYPE_PRISM_HEADER`, 119) and AVS (`LINKTYPE_IEEE802_11_AVS`,
//! 163). Each says its own length; what follows is the 802.11 frame.

use super::{read_array, read_u32, read_u8, rest};

mod field {
    use crate::wire::Field;

    /// radiotap: version (0), pad, length (little-endian, header included), present bitmap.
    pub mod radiotap {
        use super::Field;
        pub const VERSION: usize = 0;
        pub const LENGTH: Field = 2..4;
        pub const PRESENT: Field = 4..8;
        pub const MIN_LEN: usize = PRESENT.end;
    }

    /// Prism: message code and message length (the header's length, 144 in practice), in the
    /// capturing host's byte order, then the device name and the DID items.
    pub mod prism {
        use super::Field;
        pub const MSGCODE: Field = 0..4;
        pub const MSGLEN: Field = 4..8;
        pub const MIN_LEN: usize = MSGLEN.end;
    }

    /// AVS: magic (version) and header length, both big-endian.
    pub mod avs {
        use super::Field;
        pub const MAGIC: Field = 0..4;
        pub const LENGTH: Field = 4..8;
        pub const MIN_LEN: usize = LENGTH.end;
        /// `WLANCAP_MAGIC_COOKIE_V1` and `_V2`.
        pub const MAGIC_V1: u32 = 0x8021_1001;
        pub const MAGIC_V2: u32 = 0x8021_1002;
    }
}

/// A view of a radiotap header: its length field (little-endian, at offset 2) bounds it.
#[derive(Debug, Clone, Copy)]
pub struct RadiotapHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> RadiotapHeader<'a> {
    /// Wraps `buffer` when it holds a whole radiotap header of version 0: at least 8 bytes,
    /// and its length (at least 8) within `buffer`.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        let view = RadiotapHeader { buffer };
        let len = view.header_len();
        (buffer.len() >= field::radiotap::MIN_LEN
            && read_u8(buffer, field::radiotap::VERSION) == 0
            && (field::radiotap::MIN_LEN..=buffer.len()).contains(&len))
        .then_some(view)
    }

    /// The header length, present bitmaps and fields included.
    pub fn header_len(&self) -> usize {
        usize::from(u16::from_le_bytes(read_array(
            self.buffer,
            field::radiotap::LENGTH,
        )))
    }

    /// The first present bitmap.
    pub fn present(&self) -> u32 {
        u32::from_le_bytes(read_array(self.buffer, field::radiotap::PRESENT))
    }

    /// The 802.11 frame after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len())
    }
}

/// A view of a Prism monitor-mode header. Its message length, written in the capturing host's
/// byte order, is read in the order that gives a length within the packet (little-endian
/// first, as nearly every such capture was made on a little-endian host).
#[derive(Debug, Clone, Copy)]
pub struct PrismHeader<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> PrismHeader<'a> {
    /// Wraps `buffer` when its message length, in either byte order, is at least 8 and lies
    /// within `buffer`.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::prism::MIN_LEN {
            return None;
        }
        let raw = read_array::<4>(buffer, field::prism::MSGLEN);
        let fits = |n: u32| {
            let n = n as usize;
            (field::prism::MIN_LEN..=buffer.len())
                .contains(&n)
                .then_some(n)
        };
        let header_len = fits(u32::from_le_bytes(raw)).or_else(|| fits(u32::from_be_bytes(raw)))?;
        Some(PrismHeader { buffer, header_len })
    }

    /// The message code, as stored (host byte order).
    pub fn msgcode_raw(&self) -> [u8; 4] {
        read_array(self.buffer, field::prism::MSGCODE)
    }

    /// The header length (the message length field).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The 802.11 frame after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len)
    }
}

/// A view of an AVS (`wlan-ng`) capture header: magic `0x80211001` (version 1) or `0x80211002`
/// and its length, big-endian.
#[derive(Debug, Clone, Copy)]
pub struct AvsHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> AvsHeader<'a> {
    /// Wraps `buffer` when it starts with the AVS magic and its length (at least 8) lies within
    /// `buffer`.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if !Self::starts(buffer) {
            return None;
        }
        let view = AvsHeader { buffer };
        (field::avs::MIN_LEN..=buffer.len())
            .contains(&view.header_len())
            .then_some(view)
    }

    /// True when `buffer` starts with the AVS magic: how a Prism capture (link type 119) shows
    /// it holds AVS headers instead, as some drivers write them.
    pub fn starts(buffer: &[u8]) -> bool {
        buffer.len() >= field::avs::MIN_LEN
            && matches!(
                read_u32(buffer, field::avs::MAGIC),
                field::avs::MAGIC_V1 | field::avs::MAGIC_V2
            )
    }

    /// The magic (version) word.
    pub fn magic(&self) -> u32 {
        read_u32(self.buffer, field::avs::MAGIC)
    }

    /// The header length.
    pub fn header_len(&self) -> usize {
        read_u32(self.buffer, field::avs::LENGTH) as usize
    }

    /// The 802.11 frame after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_radiotap_length() {
        let mut b = vec![0, 0, 12, 0, 0x04, 0, 0, 0, 0x02, 0, 0, 0, 0x08];
        let h = RadiotapHeader::new_checked(&b).unwrap();
        assert_eq!((h.header_len(), h.present()), (12, 4));
        assert_eq!(h.payload(), &[0x08]);
        assert!(
            RadiotapHeader::new_checked(&b[..11]).is_none(),
            "length past the end"
        );
        assert!(RadiotapHeader::new_checked(&b[..7]).is_none());
        b[2] = 7;
        assert!(RadiotapHeader::new_checked(&b).is_none(), "length below 8");
        b[2] = 12;
        b[0] = 1;
        assert!(RadiotapHeader::new_checked(&b).is_none(), "version 1");
    }

    #[test]
    fn wire_prism_length_either_order() {
        let mut le = vec![0x44, 0, 0, 0, 144, 0, 0, 0];
        le.resize(144, 0);
        le.push(0x08);
        let h = PrismHeader::new_checked(&le).unwrap();
        assert_eq!((h.header_len(), h.payload()), (144, &[0x08][..]));
        let mut be = le.clone();
        be[4..8].copy_from_slice(&144u32.to_be_bytes());
        assert_eq!(PrismHeader::new_checked(&be).unwrap().header_len(), 144);
        assert!(PrismHeader::new_checked(&le[..143]).is_none());
        assert!(PrismHeader::new_checked(&le[..7]).is_none());
        le[4..8].copy_from_slice(&4u32.to_le_bytes());
        assert!(PrismHeader::new_checked(&le).is_none(), "length below 8");
    }

    #[test]
    fn wire_avs_header() {
        let mut b = 0x8021_1001u32.to_be_bytes().to_vec();
        b.extend_from_slice(&64u32.to_be_bytes());
        b.resize(64, 0);
        b.push(0x88);
        let h = AvsHeader::new_checked(&b).unwrap();
        assert_eq!((h.magic(), h.header_len()), (0x8021_1001, 64));
        assert_eq!(h.payload(), &[0x88]);
        assert!(AvsHeader::starts(&b));
        assert!(AvsHeader::new_checked(&b[..63]).is_none());
        assert!(AvsHeader::new_checked(&b[..7]).is_none());
        b[3] = 0x03;
        assert!(AvsHeader::new_checked(&b).is_none(), "no magic");
        assert!(!AvsHeader::starts(&b));
    }
}

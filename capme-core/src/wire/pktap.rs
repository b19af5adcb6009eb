//! Apple PKTAP (`LINKTYPE_PKTAP`, 258, and the `DLT_PKTAP` value 149 that macOS writes): a
//! header that says its length and the link type of the packet after it.

use super::{read_array, rest};

mod field {
    use crate::wire::Field;

    /// Little-endian (the byte order of every host that writes PKTAP).
    pub const LENGTH: Field = 0..4;
    pub const RECORD_TYPE: Field = 4..8;
    pub const DLT: Field = 8..12;
    pub const IFNAME: Field = 12..36;
    /// The header of version 1 (`struct pktap_header`), the least a PKTAP header holds.
    pub const MIN_HEADER_LEN: usize = 108;

    /// `PKT_REC_PACKET`: a packet follows.
    pub const REC_PACKET: u32 = 1;
}

/// A view of a PKTAP header of a packet record.
#[derive(Debug, Clone, Copy)]
pub struct PktapHeader<'a> {
    buffer: &'a [u8],
}

fn le32(buffer: &[u8], f: crate::wire::Field) -> u32 {
    u32::from_le_bytes(read_array(buffer, f))
}

impl<'a> PktapHeader<'a> {
    /// Wraps `buffer` when its header length is at least the 108 bytes of a version-1 header
    /// and lies within `buffer`, and the record is a packet (`PKT_REC_PACKET`).
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        let view = PktapHeader { buffer };
        let len = view.header_len();
        (buffer.len() >= field::MIN_HEADER_LEN
            && (field::MIN_HEADER_LEN..=buffer.len()).contains(&len)
            && view.record_type() == field::REC_PACKET)
            .then_some(view)
    }

    /// The header length.
    pub fn header_len(&self) -> usize {
        le32(self.buffer, field::LENGTH) as usize
    }

    /// The record type (1: packet).
    pub fn record_type(&self) -> u32 {
        le32(self.buffer, field::RECORD_TYPE)
    }

    /// The DLT of the packet after the header.
    pub fn dlt(&self) -> u32 {
        le32(self.buffer, field::DLT)
    }

    /// The interface name (NUL-padded).
    pub fn ifname(&self) -> [u8; 24] {
        read_array(self.buffer, field::IFNAME)
    }

    /// The packet after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_pktap_header() {
        let mut b = 108u32.to_le_bytes().to_vec();
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(b"en0");
        b.resize(108, 0);
        b.push(0xaa);
        let h = PktapHeader::new_checked(&b).unwrap();
        assert_eq!((h.header_len(), h.record_type(), h.dlt()), (108, 1, 1));
        assert_eq!(&h.ifname()[..4], b"en0\0");
        assert_eq!(h.payload(), &[0xaa]);
        assert!(PktapHeader::new_checked(&b[..107]).is_none());
        let mut other = b.clone();
        other[4] = 0; // PKT_REC_NONE
        assert!(PktapHeader::new_checked(&other).is_none());
        let mut short = b.clone();
        short[0] = 12;
        assert!(PktapHeader::new_checked(&short).is_none(), "below 108");
        let mut long = b.clone();
        long[0] = 110;
        assert!(PktapHeader::new_checked(&long).is_none(), "past the end");
    }
}

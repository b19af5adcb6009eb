//! Linux NFLOG (`LINKTYPE_NFLOG`, 239): a 4-byte header, then netlink attributes (TLVs), one
//! of which (`NFULA_PAYLOAD`) holds the logged packet from its network header on.

use super::{between, read_u16, read_u8};

mod field {
    use crate::wire::Field;

    pub const FAMILY: usize = 0;
    pub const VERSION: usize = 1;
    pub const RESOURCE_ID: Field = 2..4;
    pub const HEADER_LEN: usize = RESOURCE_ID.end;

    /// A TLV: length (header included) and type, in the capturing host's byte order.
    pub const TLV_HEADER_LEN: usize = 4;
    pub const TLV_ALIGN: usize = 4;
    /// The netlink attribute flags (nested, network byte order) above the type.
    pub const TLV_TYPE_MASK: u16 = 0x3FFF;
    pub const NFULA_PACKET_HDR: u16 = 1;
    pub const NFULA_PAYLOAD: u16 = 9;
    /// The packet header's hardware protocol (an EtherType, big-endian) at its start.
    pub const HW_PROTOCOL: Field = 0..2;

    pub const AF_INET: u8 = 2;
    pub const AF_INET6: u8 = 10;
}

/// The address family of an NFLOG header, as far as decoding cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NflogFamily {
    /// `AF_INET` (2): the payload is an IPv4 packet.
    Ipv4,
    /// `AF_INET6` (10): the payload is an IPv6 packet.
    Ipv6,
    /// Anything else (bridge, ARP, unspecified, ...).
    Other(u8),
}

/// A view of an NFLOG record: header and TLVs. The TLVs' lengths and types are in the byte
/// order of the host that captured (little-endian in nearly every capture); the order is taken
/// from the first TLV, whose length must fit the record in one order or the other.
#[derive(Debug, Clone, Copy)]
pub struct NflogHeader<'a> {
    buffer: &'a [u8],
    big_endian: bool,
}

impl<'a> NflogHeader<'a> {
    /// The length of the header before the TLVs (4 bytes).
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wraps `buffer` when it holds a header of version 0 and the header of a first TLV whose
    /// length (at least 4) fits `buffer` in one byte order.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::HEADER_LEN + field::TLV_HEADER_LEN
            || read_u8(buffer, field::VERSION) != 0
        {
            return None;
        }
        let at = field::HEADER_LEN;
        let left = buffer.len() - at;
        let raw = read_u16(buffer, at..at + 2);
        let fits = |n: u16| (field::TLV_HEADER_LEN..=left).contains(&usize::from(n));
        let big_endian = if fits(raw.swap_bytes()) {
            false
        } else if fits(raw) {
            true
        } else {
            return None;
        };
        Some(NflogHeader { buffer, big_endian })
    }

    /// The address family.
    pub fn family(&self) -> NflogFamily {
        match read_u8(self.buffer, field::FAMILY) {
            field::AF_INET => NflogFamily::Ipv4,
            field::AF_INET6 => NflogFamily::Ipv6,
            n => NflogFamily::Other(n),
        }
    }

    /// The resource id (the NFLOG group), big-endian.
    pub fn resource_id(&self) -> u16 {
        read_u16(self.buffer, field::RESOURCE_ID)
    }

    /// True when the TLVs were found big-endian.
    pub fn big_endian(&self) -> bool {
        self.big_endian
    }

    fn host_u16(&self, at: usize) -> u16 {
        let v = read_u16(self.buffer, at..at + 2);
        if self.big_endian {
            v
        } else {
            v.swap_bytes()
        }
    }

    /// The value of the first TLV of type `tlv_type` (flags masked off). `None` when there is
    /// none, or a TLV before it has a length below 4 or runs past the record. The value of the
    /// TLV found is cut at the end of the capture (a snap length).
    pub fn tlv(&self, tlv_type: u16) -> Option<&'a [u8]> {
        let mut at = field::HEADER_LEN;
        while at + field::TLV_HEADER_LEN <= self.buffer.len() {
            let len = usize::from(self.host_u16(at));
            let t = self.host_u16(at + 2) & field::TLV_TYPE_MASK;
            if len < field::TLV_HEADER_LEN {
                return None;
            }
            if t == tlv_type {
                return Some(between(self.buffer, at + field::TLV_HEADER_LEN, at + len));
            }
            // Each TLV takes at least 4 bytes: the walk ends within buffer.len() / 4 steps.
            at = at.checked_add(len.next_multiple_of(field::TLV_ALIGN))?;
        }
        None
    }

    /// The hardware protocol of the packet header TLV (`NFULA_PACKET_HDR`): the EtherType of
    /// the logged packet, which says what it is when the family does not (bridge family).
    pub fn hw_protocol(&self) -> Option<u16> {
        let hdr = self.tlv(field::NFULA_PACKET_HDR)?;
        (hdr.len() >= field::HW_PROTOCOL.end).then(|| read_u16(hdr, field::HW_PROTOCOL))
    }

    /// The logged packet (`NFULA_PAYLOAD`), from its network header on.
    pub fn payload(&self) -> Option<&'a [u8]> {
        self.tlv(field::NFULA_PAYLOAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(t: u16, value: &[u8], be: bool) -> Vec<u8> {
        let len = (4 + value.len()) as u16;
        let mut b = if be {
            [len.to_be_bytes(), t.to_be_bytes()].concat()
        } else {
            [len.to_le_bytes(), t.to_le_bytes()].concat()
        };
        b.extend_from_slice(value);
        b.resize(b.len().next_multiple_of(4), 0);
        b
    }

    #[test]
    fn wire_nflog_payload_tlv() {
        for be in [false, true] {
            let mut b = vec![2, 0, 0, 5];
            b.extend(tlv(1, &[0x08, 0x00, 3, 0], be)); // NFULA_PACKET_HDR
            b.extend(tlv(10, b"prefix\0", be)); // NFULA_PREFIX, padded
            b.extend(tlv(9 | 0x4000, &[0x45, 1, 2], be)); // payload, with a flag bit
            let h = NflogHeader::new_checked(&b).unwrap();
            assert_eq!(h.big_endian(), be);
            assert_eq!((h.family(), h.resource_id()), (NflogFamily::Ipv4, 5));
            assert_eq!(h.payload(), Some(&[0x45, 1, 2][..]), "be {be}");
            assert_eq!(h.tlv(10), Some(&b"prefix\0"[..]));
            assert_eq!(h.hw_protocol(), Some(0x0800));
            assert_eq!(h.tlv(11), None);
            // Cut inside the payload value: what is there.
            let cut = NflogHeader::new_checked(&b[..b.len() - 3]).unwrap();
            assert_eq!(cut.payload(), Some(&[0x45][..]));
            // Every shorter cut never panics.
            for n in 0..b.len() {
                let _ = NflogHeader::new_checked(&b[..n]).and_then(|h| h.payload());
            }
        }
        assert_eq!(
            NflogHeader::new_checked(&[10, 0, 0, 0, 4, 0, 1, 0])
                .unwrap()
                .family(),
            NflogFamily::Ipv6
        );
        // Version 1, a first TLV too long in both orders, a zero-length TLV.
        assert!(NflogHeader::new_checked(&[2, 1, 0, 0, 4, 0, 1, 0]).is_none());
        assert!(NflogHeader::new_checked(&[2, 0, 0, 0, 9, 9, 1, 0]).is_none());
        let zero = [2, 0, 0, 0, 4, 0, 1, 0, 0, 0, 9, 0, 0x45];
        assert_eq!(NflogHeader::new_checked(&zero).unwrap().payload(), None);
    }
}

//! Endace ERF records (`LINKTYPE_ERF`, 197), as DAG capture cards write them: a 16-byte
//! header, optional 8-byte extension headers, then the record's payload, whose framing the
//! record type gives.

use super::{between, read_array, read_u16, read_u8};

mod field {
    use crate::wire::Field;

    pub const TIMESTAMP: Field = 0..8;
    pub const TYPE: usize = 8;
    pub const FLAGS: usize = 9;
    pub const RLEN: Field = 10..12;
    pub const LCTR: Field = 12..14;
    pub const WLEN: Field = 14..16;
    pub const HEADER_LEN: usize = WLEN.end;

    /// Bit 7 of the type, and of each extension header's first byte: another extension
    /// header follows.
    pub const MORE_EXTENSIONS: u8 = 0x80;
    pub const TYPE_MASK: u8 = 0x7F;
    pub const EXTENSION_LEN: usize = 8;

    /// The 2 bytes (offset, pad) before an Ethernet frame.
    pub const ETH_PAD: usize = 2;
    /// The multichannel header before an MC HDLC frame.
    pub const MC_HEADER_LEN: usize = 4;
}

/// ERF record types that capme decodes (the others are [`ErfBody::Other`]).
pub mod record_type {
    /// HDLC/POS: PPP or Cisco HDLC.
    pub const HDLC_POS: u8 = 1;
    /// Ethernet, after 2 bytes of offset and pad.
    pub const ETH: u8 = 2;
    /// Multichannel HDLC: a 4-byte channel header, then HDLC.
    pub const MC_HDLC: u8 = 5;
    /// Coloured HDLC/POS.
    pub const COLOR_HDLC_POS: u8 = 10;
    /// Coloured Ethernet.
    pub const COLOR_ETH: u8 = 11;
    /// HDLC/POS with DSM colour.
    pub const DSM_COLOR_HDLC_POS: u8 = 15;
    /// Ethernet with DSM colour.
    pub const DSM_COLOR_ETH: u8 = 16;
    /// Coloured multichannel HDLC.
    pub const COLOR_MC_HDLC_POS: u8 = 17;
    /// HDLC/POS with a hash colour.
    pub const COLOR_HASH_POS: u8 = 19;
    /// Ethernet with a hash colour.
    pub const COLOR_HASH_ETH: u8 = 20;
    /// IPv4 without a link layer.
    pub const IPV4: u8 = 22;
    /// IPv6 without a link layer.
    pub const IPV6: u8 = 23;
}

/// What an ERF record carries, by its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErfBody<'a> {
    /// An Ethernet frame (the FCS, when the card kept it, at its end).
    Ethernet(&'a [u8]),
    /// An HDLC frame: PPP in HDLC framing or Cisco HDLC.
    Hdlc(&'a [u8]),
    /// An IPv4 packet.
    Ipv4(&'a [u8]),
    /// An IPv6 packet.
    Ipv6(&'a [u8]),
    /// A record of another type (ATM, AAL5, InfiniBand, meta records, ...), or one too short
    /// for its type's framing.
    Other(u8),
}

/// A view of one ERF record: its header and extension headers are inside the buffer, and its
/// record length is at least their length.
#[derive(Debug, Clone, Copy)]
pub struct ErfRecord<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> ErfRecord<'a> {
    /// Wraps `buffer` when it holds a whole ERF header and every extension header it
    /// announces, and its record length covers them.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::HEADER_LEN {
            return None;
        }
        let mut header_len = field::HEADER_LEN;
        let mut more = read_u8(buffer, field::TYPE) & field::MORE_EXTENSIONS != 0;
        // Each extension header takes 8 bytes of `buffer`: the loop ends within len / 8 steps.
        while more {
            if buffer.len() < header_len + field::EXTENSION_LEN {
                return None;
            }
            more = read_u8(buffer, header_len) & field::MORE_EXTENSIONS != 0;
            header_len += field::EXTENSION_LEN;
        }
        let view = ErfRecord { buffer, header_len };
        (usize::from(view.rlen()) >= header_len).then_some(view)
    }

    /// The timestamp: seconds in the upper 32 bits, binary fraction in the lower (little-endian).
    pub fn timestamp(&self) -> u64 {
        u64::from_le_bytes(read_array(self.buffer, field::TIMESTAMP))
    }

    /// The record type without the extension bit.
    pub fn record_type(&self) -> u8 {
        read_u8(self.buffer, field::TYPE) & field::TYPE_MASK
    }

    /// The flags byte (interface, truncation, errors).
    pub fn flags(&self) -> u8 {
        read_u8(self.buffer, field::FLAGS)
    }

    /// The record length, header included.
    pub fn rlen(&self) -> u16 {
        read_u16(self.buffer, field::RLEN)
    }

    /// The loss counter or colour field.
    pub fn lctr(&self) -> u16 {
        read_u16(self.buffer, field::LCTR)
    }

    /// The length on the wire.
    pub fn wlen(&self) -> u16 {
        read_u16(self.buffer, field::WLEN)
    }

    /// The length of the header and its extension headers.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The bytes after the headers, up to the record length (or the end of the capture).
    pub fn payload(&self) -> &'a [u8] {
        between(self.buffer, self.header_len, usize::from(self.rlen()))
    }

    /// The payload as its record type frames it.
    pub fn body(&self) -> ErfBody<'a> {
        use record_type::*;
        let p = self.payload();
        let after = |n: usize| p.get(n..);
        let t = self.record_type();
        let body = match t {
            ETH | COLOR_ETH | DSM_COLOR_ETH | COLOR_HASH_ETH => {
                after(field::ETH_PAD).map(ErfBody::Ethernet)
            }
            HDLC_POS | COLOR_HDLC_POS | DSM_COLOR_HDLC_POS | COLOR_HASH_POS => {
                Some(ErfBody::Hdlc(p))
            }
            MC_HDLC | COLOR_MC_HDLC_POS => after(field::MC_HEADER_LEN).map(ErfBody::Hdlc),
            IPV4 => Some(ErfBody::Ipv4(p)),
            IPV6 => Some(ErfBody::Ipv6(p)),
            _ => None,
        };
        body.unwrap_or(ErfBody::Other(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t: u8, ext: &[[u8; 8]], payload: &[u8], pad: usize) -> Vec<u8> {
        let rlen = (16 + ext.len() * 8 + payload.len() + pad) as u16;
        let mut b = 0x1234_5678_0000_0000u64.to_le_bytes().to_vec();
        b.extend_from_slice(&[t, 0x04]);
        b.extend_from_slice(&rlen.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        for e in ext {
            b.extend_from_slice(e);
        }
        b.extend_from_slice(payload);
        b.resize(b.len() + pad, 0xee);
        b
    }

    #[test]
    fn wire_erf_types_and_lengths() {
        let eth = record(2, &[], &[0, 0, 0xaa, 0xbb], 4);
        let r = ErfRecord::new_checked(&eth).unwrap();
        assert_eq!(
            (r.record_type(), r.flags(), r.rlen(), r.wlen()),
            (2, 4, 24, 4)
        );
        assert_eq!(r.timestamp() >> 32, 0x1234_5678);
        assert_eq!(r.payload(), &[0, 0, 0xaa, 0xbb, 0xee, 0xee, 0xee, 0xee]);
        assert!(matches!(r.body(), ErfBody::Ethernet(&[0xaa, 0xbb, ..])));
        let ip = record(22, &[], &[0x45], 0);
        assert_eq!(
            ErfRecord::new_checked(&ip).unwrap().body(),
            ErfBody::Ipv4(&[0x45])
        );
        let ip6 = record(23, &[], &[0x60], 0);
        assert_eq!(
            ErfRecord::new_checked(&ip6).unwrap().body(),
            ErfBody::Ipv6(&[0x60])
        );
        let pos = record(1, &[], &[0xff, 0x03, 0, 0x21], 0);
        assert_eq!(
            ErfRecord::new_checked(&pos).unwrap().body(),
            ErfBody::Hdlc(&[0xff, 0x03, 0, 0x21])
        );
        let mc = record(5, &[], &[9, 9, 9, 9, 0x0f, 0], 0);
        assert_eq!(
            ErfRecord::new_checked(&mc).unwrap().body(),
            ErfBody::Hdlc(&[0x0f, 0])
        );
        let atm = record(3, &[], &[1, 2, 3], 0);
        assert_eq!(
            ErfRecord::new_checked(&atm).unwrap().body(),
            ErfBody::Other(3)
        );
        // Ethernet too short for its pad.
        let short = record(2, &[], &[0], 0);
        assert_eq!(
            ErfRecord::new_checked(&short).unwrap().body(),
            ErfBody::Other(2)
        );
    }

    #[test]
    fn wire_erf_extension_headers() {
        // Two extension headers: the first says another follows.
        let b = record(
            0x80 | 22,
            &[[0x80 | 3, 0, 0, 0, 0, 0, 0, 0], [5; 8]],
            &[0x45, 1],
            0,
        );
        let r = ErfRecord::new_checked(&b).unwrap();
        assert_eq!((r.record_type(), r.header_len()), (22, 32));
        assert_eq!(r.body(), ErfBody::Ipv4(&[0x45, 1]));
        for cut in 0..32 {
            assert!(ErfRecord::new_checked(&b[..cut]).is_none(), "cut {cut}");
        }
        // A record length below the headers.
        let mut bad = b.clone();
        bad[10..12].copy_from_slice(&20u16.to_be_bytes());
        assert!(ErfRecord::new_checked(&bad).is_none());
        // A record length beyond the capture: what is there.
        let mut long = b.clone();
        long[10..12].copy_from_slice(&1000u16.to_be_bytes());
        assert_eq!(ErfRecord::new_checked(&long).unwrap().payload(), &[0x45, 1]);
    }
}

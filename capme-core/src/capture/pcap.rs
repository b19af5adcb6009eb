//! The legacy pcap layout, in one place: the file header's fields, the record header and the
//! captured-length limit, for the reader, the seek probes and the writer.

/// Length of the file (global) header.
pub const FILE_HEADER_LEN: usize = 24;
/// Offset of the snaplen field in the file header.
pub const SNAPLEN_OFFSET: usize = 16;
/// Offset of the link type field in the file header.
pub const LINKTYPE_OFFSET: usize = 20;
/// Length of a record header (the "modified" variant adds 8 bytes after it).
pub const RECORD_HEADER_LEN: usize = 16;
/// A record may exceed the header's snaplen up to this many bytes (libpcap and Wireshark use
/// the same 256 KiB limit).
pub const MAX_CAPLEN: u32 = 262_144;

/// The largest captured length accepted in a file whose header says `snaplen`.
pub fn max_caplen(snaplen: u32) -> u32 {
    snaplen.max(MAX_CAPLEN)
}

/// Reads a `u32` at `at` in the given byte order; `None` when out of bounds.
#[inline]
pub fn u32_at(b: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    })
}

/// A `u32` in the given byte order.
#[inline]
pub fn u32_bytes(v: u32, big_endian: bool) -> [u8; 4] {
    if big_endian {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

/// A record header: timestamp words and lengths, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Seconds.
    pub sec: u32,
    /// Fraction: microseconds, or nanoseconds in a nanosecond file.
    pub frac: u32,
    /// Captured length (bytes that follow the header).
    pub caplen: u32,
    /// Length on the wire.
    pub orig_len: u32,
}

impl RecordHeader {
    /// The header at `at` in `b`; `None` when `b` holds fewer than 16 bytes there.
    #[inline]
    pub fn parse(b: &[u8], at: usize, big_endian: bool) -> Option<RecordHeader> {
        Some(RecordHeader {
            sec: u32_at(b, at, big_endian)?,
            frac: u32_at(b, at + 4, big_endian)?,
            caplen: u32_at(b, at + 8, big_endian)?,
            orig_len: u32_at(b, at + 12, big_endian)?,
        })
    }

    /// The 16 bytes of this header in the given byte order.
    pub fn to_bytes(&self, big_endian: bool) -> [u8; RECORD_HEADER_LEN] {
        let mut h = [0u8; RECORD_HEADER_LEN];
        for (i, v) in [self.sec, self.frac, self.caplen, self.orig_len]
            .into_iter()
            .enumerate()
        {
            h[i * 4..i * 4 + 4].copy_from_slice(&u32_bytes(v, big_endian));
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_header_round_trips_in_both_orders() {
        let h = RecordHeader {
            sec: 0x0102_0304,
            frac: 999_999,
            caplen: 60,
            orig_len: 1514,
        };
        for be in [false, true] {
            let b = h.to_bytes(be);
            assert_eq!(RecordHeader::parse(&b, 0, be), Some(h));
        }
        assert_eq!(&h.to_bytes(true)[..4], &[1, 2, 3, 4]);
        assert_eq!(RecordHeader::parse(&[0u8; 15], 0, false), None);
        assert_eq!(u32_at(&[1, 2, 3], usize::MAX - 1, false), None);
    }
}

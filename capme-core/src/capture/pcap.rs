//! The legacy pcap layout, in one place: the file header's fields, the record header and the
//! captured-length limit, for the reader, the seek probes and the writer.

/// Length of the file (global) header.
pub const FILE_HEADER_LEN: usize = 24;
/// Offset of the snaplen field in the file header.
pub const SNAPLEN_OFFSET: usize = 16;
/// Offset of the link type field in the file header.
pub const LINKTYPE_OFFSET: usize = 20;
/// The link type in the header's link-type field: its low 16 bits (libpcap's `LT_LINKTYPE`, as
/// libpcap 1.10 and Wireshark define it; older libpcap kept bits 16-25 too, which are reserved
/// and zero in files that follow the format).
pub const LINKTYPE_MASK: u32 = 0x0000_FFFF;
/// Set in the link-type field when its top four bits give the FCS length
/// (`LT_FCS_LENGTH_PRESENT`).
pub const FCS_LENGTH_PRESENT: u32 = 0x0400_0000;
/// Where the FCS length (in 16-bit words) sits in the link-type field (`LT_FCS_LENGTH`).
pub const FCS_LENGTH_SHIFT: u32 = 28;
/// Bits per unit of the FCS length of the link-type field.
const FCS_UNIT_BITS: u32 = 16;

/// The link type of a legacy pcap header's link-type field `field` (its upper bits masked off:
/// a file whose field reads `0x24000001` is Ethernet with a 4-byte FCS).
pub fn linktype_of(field: u32) -> u32 {
    field & LINKTYPE_MASK
}

/// The FCS length in bits that the link-type field `field` declares, when it does.
pub fn fcs_bits_of(field: u32) -> Option<u8> {
    (field & FCS_LENGTH_PRESENT != 0).then(|| ((field >> FCS_LENGTH_SHIFT) * FCS_UNIT_BITS) as u8)
}

/// The upper bits of a link-type field that declare an FCS of `bits` bits
/// (`LT_FCS_DATALINK_EXT`); `None` when `bits` is not a whole number of 16-bit words up to 15.
pub fn fcs_field(bits: u8) -> Option<u32> {
    let bits = u32::from(bits);
    let words = bits / FCS_UNIT_BITS;
    (bits % FCS_UNIT_BITS == 0 && words <= 0xF)
        .then_some((words << FCS_LENGTH_SHIFT) | FCS_LENGTH_PRESENT)
}

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

/// Records that must chain up for an offset to count as a record boundary (see [`Chain`]).
pub const CHAIN: usize = 8;

/// What a plausible record header looks like in one file, for finding record boundaries
/// without an index: after a corrupt record (the reader's resync) and at a byte offset picked
/// by bisection or for a segment (`seek`). One implementation for both.
///
/// A header is plausible when its fraction is below one second, its captured length is within
/// `max_caplen` and not above its length on the wire, that length is neither 0 nor absurd, and
/// (when `near_sec` is set) its seconds lie within a week of `near_sec`. A *chain* is [`CHAIN`]
/// plausible records, each starting where the one before ends, with their seconds within a
/// week of the first's; at the end of the data (`eof`) a shorter chain that runs exactly to
/// the end, or into a last record cut short by it, counts too. A false chain inside packet
/// bytes is then vanishingly unlikely (and where it matters, `seek` checks its bounds).
#[derive(Debug, Clone, Copy)]
pub struct Chain {
    /// Byte order of the file.
    pub big_endian: bool,
    /// Nanosecond fractions.
    pub nanos: bool,
    /// Record header length: 16, or 24 in the "modified" variant.
    pub header_len: usize,
    /// The largest plausible captured length.
    pub max_caplen: u32,
    /// Seconds the records must be near (within a week), when known.
    pub near_sec: Option<u32>,
}

/// Seconds in a week: how far apart a chain's records (and `near_sec`) may be.
const WEEK: u32 = 7 * 86_400;

impl Chain {
    /// `(header, next offset)` when a plausible record header stands at `at` in `b`.
    pub fn record_at(&self, b: &[u8], at: usize) -> Option<(RecordHeader, usize)> {
        let h = RecordHeader::parse(b, at, self.big_endian)?;
        if b.len().saturating_sub(at) < self.header_len {
            return None;
        }
        let units = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        let near = self.near_sec.is_none_or(|n| h.sec.abs_diff(n) <= WEEK);
        let max_orig = u64::from(self.max_caplen) * 16;
        if h.frac >= units
            || h.caplen > self.max_caplen
            || h.caplen > h.orig_len
            || h.orig_len == 0
            || u64::from(h.orig_len) > max_orig
            || !near
        {
            return None;
        }
        Some((h, at + self.header_len + h.caplen as usize))
    }

    /// Whether a plausible record header, within a week of `prev_sec`, stands at `at` in `b`:
    /// what should follow a record whose seconds are `prev_sec`.
    pub fn follows(&self, b: &[u8], at: usize, prev_sec: u32) -> bool {
        self.record_at(b, at)
            .is_some_and(|(h, _)| h.sec.abs_diff(prev_sec) <= WEEK)
    }

    /// Whether a chain starts at `at` in `b` (`eof`: `b` runs to the end of the file); with
    /// the latest timestamp words `(sec, frac)` among its records.
    pub fn chain_at(&self, b: &[u8], at: usize, eof: bool) -> Option<(u32, u32)> {
        let mut pos = at;
        let mut latest = (0u32, 0u32);
        let mut first_sec = None;
        for k in 0..CHAIN {
            let h = match self.record_at(b, pos) {
                Some((h, next)) if next <= b.len() => {
                    if h.sec.abs_diff(*first_sec.get_or_insert(h.sec)) > WEEK {
                        return None;
                    }
                    pos = next;
                    h
                }
                // At the end of the file: a record cut short by it, or fewer bytes than a
                // header, ends a chain of at least one whole record.
                Some((h, _)) if eof && k > 0 => {
                    return (h.sec.abs_diff(first_sec.unwrap_or(h.sec)) <= WEEK).then_some(latest);
                }
                None if eof && k > 0 && b.len() - pos < self.header_len => return Some(latest),
                _ => return None,
            };
            latest = latest.max((h.sec, h.frac));
            if eof && pos == b.len() {
                return Some(latest);
            }
        }
        Some(latest)
    }

    /// The first offset in `b[from..to]` where a chain starts, with the chain's latest
    /// timestamp words.
    pub fn find(&self, b: &[u8], from: usize, to: usize, eof: bool) -> Option<(usize, (u32, u32))> {
        (from..to.min(b.len())).find_map(|at| self.chain_at(b, at, eof).map(|t| (at, t)))
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

    #[test]
    fn linktype_field_masks_the_fcs_bits() {
        assert_eq!(linktype_of(0x3000_0001), 1);
        assert_eq!(fcs_bits_of(0x3000_0001), None, "no present flag");
        assert_eq!(linktype_of(0x2400_0001), 1);
        assert_eq!(fcs_bits_of(0x2400_0001), Some(32));
        assert_eq!(fcs_bits_of(0x0400_0069), Some(0));
        assert_eq!(
            linktype_of(0x03FF_0069),
            105,
            "reserved bits are not the link type"
        );
        assert_eq!(linktype_of(113), 113);
        assert_eq!(fcs_field(32), Some(0x2400_0000));
        assert_eq!(fcs_field(0), Some(0x0400_0000));
        assert_eq!(fcs_field(240), Some(0xF400_0000));
        assert_eq!(fcs_field(8), None);
        for bits in [0u8, 16, 32, 240] {
            let f = fcs_field(bits).unwrap() | 1;
            assert_eq!((linktype_of(f), fcs_bits_of(f)), (1, Some(bits)));
        }
    }
}

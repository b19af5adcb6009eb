//! Time pruning inside a legacy pcap file without an index: find, by bisection over byte
//! offsets, a record shortly before a time, and start reading there.
//!
//! A pcap file has no record index, so a byte offset in the middle usually falls inside a
//! packet. `resync` finds the first offset after it where a *chain* of [`CHAIN`] consecutive
//! record headers is plausible (fraction below one second, lengths within the snap length, the
//! seconds near the file's first record, and each record ending where the next begins). A false
//! chain inside packet bytes is then vanishingly unlikely; when no chain is found the bisection
//! moves left, which only costs reading more. The probe's time is the *latest* of the chain, so
//! a start is chosen only when every probed record is before the target: slight disorder
//! (multi-queue capture) is covered by the caller's slack.
//!
//! The same resync cuts the window's part of a file into segments that several threads scan
//! at once ([`open_split`]). There a false chain (payloads built to look like record headers
//! do it) is caught rather than ruled unlikely: the scan before a bound must end exactly on it.

use super::pcap::{max_caplen, u32_at, Chain, FILE_HEADER_LEN, RECORD_HEADER_LEN, SNAPLEN_OFFSET};
use super::ts::pcap_ts;
use super::{sniff_format, CaptureReader, SniffedFormat};
use crate::error::{Error, Result};
use crate::io::{read_full_at, RangesReader};
use crate::time::Timestamp;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;

pub use super::pcap::CHAIN;
/// Files smaller than this are read from the start: bisection would not pay.
pub const MIN_PRUNE_SIZE: u64 = 4 << 20;
/// Bytes read at a probe first: enough for a chain of ordinary records (8 x 1.5 kB).
const PROBE_SMALL: usize = 32 << 10;
/// Bytes read at a probe when the small one held no chain (jumbo or 256 KiB records).
const PROBE: usize = 256 << 10;
/// Bisection stops when the interval is this small (the reader then starts up to this far
/// before the target).
const STOP: u64 = 256 << 10;
/// At most this many segments per file, whatever the thread count asked.
pub const MAX_SEGMENTS: u64 = 1024;

/// The first offset in `b` (at or after 0) where [`CHAIN`] records chain up (the chain test
/// is the reader's, [`Chain`], with the file's first seconds as `near_sec`), with the latest
/// timestamp among them.
fn resync(h: &Chain, b: &[u8]) -> Option<(usize, Timestamp)> {
    let (at, (sec, frac)) = h.find(b, 0, b.len().saturating_sub(16 * CHAIN), false)?;
    Some((at, pcap_ts(sec, frac, h.nanos)))
}

/// Opens `path` positioned at a record boundary whose records before it are all (as far as the
/// probes saw) earlier than `t`; `.1` is the byte offset skipped. Legacy pcap files of at least
/// [`MIN_PRUNE_SIZE`] bytes are pruned; anything else opens at the start.
pub fn open_near(path: &Path, t: Timestamp) -> Result<(CaptureReader, u64)> {
    match open_split(path, t, t, 1, u64::MAX)? {
        Some(s) if s.start > 24 => Ok((s.file.reader_at(s.start)?, s.start - 24)),
        _ => Ok((CaptureReader::open(path)?, 0)),
    }
}

/// A legacy pcap file opened once and shared by the readers of its segments (each reads with
/// `pread` at its own position, so they may run on different threads).
#[derive(Clone)]
pub struct SharedPcap {
    file: Arc<File>,
    head: [u8; 24],
    path: Arc<Path>,
}

impl SharedPcap {
    /// A reader of the records from byte `offset` on (a record boundary), as if the file had
    /// been read from its start: error offsets name the file's real bytes.
    pub fn reader_at(&self, offset: u64) -> Result<CaptureReader> {
        let stream = Cursor::new(self.head.to_vec())
            .chain(RangesReader::from_offset(self.file.clone(), offset));
        let mut r = CaptureReader::from_read(Box::new(stream), self.path.to_path_buf())?;
        r.set_offset(offset);
        Ok(r)
    }
}

/// The part of a legacy pcap file a window needs, cut into segments that can be scanned at
/// the same time (see [`open_split`]).
pub struct Split {
    /// The file, for the readers of the segments.
    pub file: SharedPcap,
    /// Where the first segment starts: a record boundary before the window's start (24, the
    /// first record, when nothing can be skipped).
    pub start: u64,
    /// Where the later segments start, increasing (empty: the file is not cut): record
    /// boundaries found by resync, which the scan of the segment before each one must confirm
    /// by reaching it exactly.
    pub bounds: Vec<u64>,
}

/// Opens a legacy pcap file of at least [`MIN_PRUNE_SIZE`] bytes for a window `[from, to]`:
/// finds where its scan starts, as [`open_near`] does, and cuts the window's estimated span
/// (up to the first probe later than `to`, plus the bisection's last interval) into at most
/// `parts` segments of at least `min_part` bytes each; the last one runs on to the end of the
/// scan. `None` when the file is anything else: the caller reads it whole.
///
/// A bound is where a chain of [`CHAIN`] plausible records starts, as for the bisection. The
/// scan of the segment before it checks that its last record ends exactly there; if not (a
/// false chain inside packet bytes), the scan goes on and the later segments are discarded,
/// so a wrong bound can cost time but never change the result.
pub fn open_split(
    path: &Path,
    from: Timestamp,
    to: Timestamp,
    parts: usize,
    min_part: u64,
) -> Result<Option<Split>> {
    let Some(mut p) = Probe::open(path)? else {
        return Ok(None);
    };
    let start = p.start_before(from)?;
    let mut bounds = Vec::new();
    let min_part = min_part.max(1);
    // Segments share one file descriptor and read it by `pread`; elsewhere reads would seek
    // a shared position.
    let cut = parts >= 2 && cfg!(unix) && p.size.saturating_sub(start) / min_part >= 2;
    if cut {
        let end = p.start_before(to)?.saturating_add(STOP).min(p.size);
        let span = end.saturating_sub(start);
        let k = (span / min_part).min(parts as u64).min(MAX_SEGMENTS);
        for i in 1..k {
            let at = start + (u128::from(span) * u128::from(i) / u128::from(k)) as u64;
            if let Some(b) = p.resync_from(at)? {
                if b > bounds.last().copied().unwrap_or(start) && b < p.size {
                    bounds.push(b);
                }
            }
        }
    }
    Ok(Some(Split {
        file: p.file,
        start,
        bounds,
    }))
}

/// A legacy pcap file being probed for time pruning.
struct Probe {
    file: SharedPcap,
    h: Chain,
    size: u64,
    /// The first record's timestamp.
    first: Option<Timestamp>,
    buf: Vec<u8>,
}

impl Probe {
    /// `None` when the file is not a legacy pcap of at least [`MIN_PRUNE_SIZE`] bytes.
    fn open(path: &Path) -> Result<Option<Probe>> {
        let io = |e| Error::io(path, e);
        let f = File::open(path).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        let mut head = [0u8; 40];
        let n = read_full_at(&f, &mut head, 0).map_err(io)?;
        let pcap = match sniff_format(&head[..n.min(4)]) {
            Some(SniffedFormat::Pcap {
                nanos,
                big_endian,
                modified: false,
            }) => Some((nanos, big_endian)),
            _ => None,
        };
        let (Some((nanos, big_endian)), true) = (pcap, size >= MIN_PRUNE_SIZE && n == 40) else {
            return Ok(None);
        };
        let snaplen = u32_at(&head, SNAPLEN_OFFSET, big_endian).unwrap_or(0);
        let h = Chain {
            big_endian,
            nanos,
            header_len: RECORD_HEADER_LEN,
            max_caplen: max_caplen(snaplen),
            near_sec: Some(u32_at(&head, FILE_HEADER_LEN, big_endian).unwrap_or(0)),
        };
        let first = h
            .record_at(&head, FILE_HEADER_LEN)
            .map(|(r, _)| pcap_ts(r.sec, r.frac, nanos));
        let mut head24 = [0u8; 24];
        head24.copy_from_slice(&head[..24]);
        Ok(Some(Probe {
            file: SharedPcap {
                file: Arc::new(f),
                head: head24,
                path: Arc::from(path),
            },
            h,
            size,
            first,
            buf: vec![0u8; PROBE],
        }))
    }

    /// Bisection: a record boundary whose records before it are all (as far as the probes
    /// saw) earlier than `t`; 24 (the first record) when the first record is not before `t`.
    fn start_before(&mut self, t: Timestamp) -> Result<u64> {
        match self.first {
            Some(ts) if ts < t => {}
            _ => return Ok(24),
        }
        let (mut lo, mut hi) = (24u64, self.size);
        while hi - lo > STOP {
            let mid = lo + (hi - lo) / 2;
            match self.probe(mid)? {
                Some((at, latest)) if latest < t && mid + (at as u64) < hi => lo = mid + at as u64,
                _ => hi = mid,
            }
        }
        Ok(lo)
    }

    /// The first record boundary (by resync) at or after `off`, if the probe finds one.
    fn resync_from(&mut self, off: u64) -> Result<Option<u64>> {
        Ok(self.probe(off)?.map(|(at, _)| off + at as u64))
    }

    /// Resync at `off`: a small read first, a large one when it held no chain.
    fn probe(&mut self, off: u64) -> Result<Option<(usize, Timestamp)>> {
        let io = |e| Error::io(&*self.file.path, e);
        let f = &self.file.file;
        let mut got = read_full_at(f, &mut self.buf[..PROBE_SMALL], off).map_err(io)?;
        let mut found = resync(&self.h, &self.buf[..got]);
        if found.is_none() && got == PROBE_SMALL {
            got += read_full_at(f, &mut self.buf[PROBE_SMALL..], off + got as u64).map_err(io)?;
            found = resync(&self.h, &self.buf[..got]);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::capture::PcapBuilder;

    /// A file of `n` records, one every 10 ms from t0, with sizes that vary and payload bytes
    /// that imitate record headers (to tempt the resync).
    fn build(n: u32, nanos: bool, be: bool) -> (tempfile::TempDir, std::path::PathBuf) {
        build_sized(n, nanos, be, 1400)
    }

    /// `n` records of 60 to `60 + spread` bytes, 10 ms apart.
    fn build_sized(
        n: u32,
        nanos: bool,
        be: bool,
        spread: usize,
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.pcap");
        let mut b = PcapBuilder::new(1, nanos, be);
        for i in 0..n {
            let len = 60 + (i as usize * 37) % spread;
            let mut data = vec![0u8; len];
            // A fake header inside the payload: plausible seconds, small lengths.
            data[20..24].copy_from_slice(&1_700_000_000u32.to_le_bytes());
            data[28..32].copy_from_slice(&8u32.to_le_bytes());
            data[32..36].copy_from_slice(&8u32.to_le_bytes());
            data[0..4].copy_from_slice(&i.to_be_bytes());
            let ms = i * 10;
            let frac = (ms % 1000) * if nanos { 1_000_000 } else { 1000 };
            b.packet((1_700_000_000 + ms / 1000, frac), &data);
        }
        b.write(&p).unwrap();
        (dir, p)
    }

    fn index_of(data: &[u8]) -> u32 {
        u32::from_be_bytes(data[0..4].try_into().unwrap())
    }

    #[test]
    fn starts_shortly_before_the_target_and_loses_nothing() {
        for (nanos, be) in [(false, false), (true, true)] {
            let (_d, p) = build(20_000, nanos, be);
            assert!(std::fs::metadata(&p).unwrap().len() >= MIN_PRUNE_SIZE);
            for target_ms in [0u32, 5, 1234, 77_777, 150_000, 199_990, 300_000] {
                let t = Timestamp::from_secs(1_700_000_000)
                    .saturating_add_nanos(target_ms as i64 * 1_000_000);
                let (mut r, skipped) = open_near(&p, t).unwrap();
                let first = r.next_record().unwrap();
                let Some(first) = first else {
                    panic!("nothing after {target_ms} ms");
                };
                let i = index_of(first.data);
                // Every record at or after t is read: the first one read is before t (or the
                // file's first record).
                assert!(first.ts < t || i == 0, "started at {i} for {target_ms} ms");
                // And pruning happened for targets well inside the file.
                if target_ms >= 77_777 {
                    assert!(skipped > 0, "no pruning for {target_ms} ms");
                    assert!(
                        (target_ms / 10).min(20_000) - i < 2_000,
                        "started {i} far before {target_ms} ms"
                    );
                }
                let mut n = 1;
                let mut last = i;
                while let Some(rec) = r.next_record().unwrap() {
                    let j = index_of(rec.data);
                    assert_eq!(j, last + 1, "records are contiguous");
                    last = j;
                    n += 1;
                }
                assert_eq!(i + n, 20_000);
            }
        }
    }

    /// Jumbo records (up to 9 kB): eight of them do not fit the small probe, so the probe
    /// grows and the bisection still prunes, losing nothing.
    #[test]
    fn jumbo_records_still_prune() {
        let (_d, p) = build_sized(2_000, false, false, 9_000);
        let t = Timestamp::from_secs(1_700_000_015);
        let (mut r, skipped) = open_near(&p, t).unwrap();
        assert!(skipped > 4 << 20, "skipped only {skipped}");
        let first = r.next_record().unwrap().unwrap();
        assert!(first.ts < t);
        let mut last = index_of(first.data);
        while let Some(rec) = r.next_record().unwrap() {
            assert_eq!(index_of(rec.data), last + 1);
            last += 1;
        }
        assert_eq!(last, 1_999);
    }

    /// Whatever the threads asked, a file gets at most MAX_SEGMENTS segments, at increasing
    /// record boundaries.
    #[test]
    fn segments_are_capped_and_increasing() {
        let (_d, p) = build(20_000, false, false);
        let s = open_split(&p, Timestamp::MIN, Timestamp::MAX, 1_000_000, 1)
            .unwrap()
            .unwrap();
        assert_eq!(s.start, 24);
        assert!(!s.bounds.is_empty() && s.bounds.len() < MAX_SEGMENTS as usize);
        assert!(s.bounds.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn small_or_other_files_open_at_the_start() {
        let (_d, p) = build(100, false, false);
        let (_, skipped) = open_near(&p, Timestamp::MAX).unwrap();
        assert_eq!(skipped, 0);
    }
}

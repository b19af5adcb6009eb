//! The search: read the planned files' records in the window, match them, and merge the matches
//! of all files into one stream in timestamp order.
//!
//! ## Streaming and memory bound
//! Each rotation chain of the plan (one sensor's `snort.log.*` sequence, say) is read file after
//! file by one [`ChainScan`]; only one file per chain is open at a time. Matched packets pass
//! through a small per-chain reorder buffer so that the slight disorder of multi-queue capture
//! and the overlap of adjacent files come out sorted; a k-way merge over the chains' heads makes
//! the final order (ties keep chain order, then read order: the merge is stable).
//!
//! ## Time pruning
//! A file is opened near the window's start (minus the slack) by bisection over byte offsets
//! ([`crate::capture::seek`]), and left once [`LATE_RUN_STOP`] consecutive records are later
//! than the window's end plus [`REORDER_SLACK_NS`]; a late record or two from another capture
//! queue never stops it.
//!
//! Memory per chain is bounded by the reader's buffer, the reorder buffer
//! ([`REORDER_MAX_PACKETS`] packets and [`REORDER_MAX_BYTES`] bytes) and the pending-fragment
//! buffer ([`PENDING_MAX`] packets), whatever the size of the store. A packet is held in the
//! reorder buffer until a record more than [`REORDER_SLACK_NS`] later has been read, or the
//! buffer is full; disorder deeper than that is passed through as it is in the files.

mod matcher;
mod query;

pub use matcher::{FragId, Matcher, Verdict, FRAG_TRACK};
pub use query::{FlowSpec, Query};

use crate::capture::seek::open_near;
use crate::capture::{CaptureReader, Interface};
use crate::error::{Error, Result};
use crate::flow::FlowKey;
use crate::store::{CaptureFile, Plan};
use crate::time::{TimeWindow, Timestamp};
use bytes::Bytes;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;

/// At most this many matched packets wait in one chain's reorder buffer.
pub const REORDER_MAX_PACKETS: usize = 1024;
/// At most this many bytes of matched packets wait in one chain's reorder buffer.
pub const REORDER_MAX_BYTES: usize = 8 << 20;
/// A matched packet is released once a record this much later (2 s) has been read.
pub const REORDER_SLACK_NS: i64 = 2_000_000_000;
/// At most this many non-first fragments wait for their first fragment, per chain.
pub const PENDING_MAX: usize = 256;

/// A file is left once this many consecutive records are later than the window's end plus
/// [`REORDER_SLACK_NS`].
pub const LATE_RUN_STOP: u32 = 1024;

/// How many records are read between two looks at the cancel flag.
const CANCEL_CHECK_RECORDS: u32 = 4096;

/// A matched packet, owning its bytes.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Absolute timestamp.
    pub ts: Timestamp,
    /// Raw timestamp words as stored in the input (see [`crate::capture::Record::ts_raw`]).
    pub ts_raw: (u32, u32),
    /// Original length on the wire.
    pub orig_len: u32,
    /// Captured bytes, unchanged.
    pub data: Bytes,
    /// The interface it was captured on (link type, precision).
    pub iface: Arc<Interface>,
    /// Sensor name of its capture file.
    pub sensor: Arc<str>,
    /// The capture file it was read from.
    pub file: Arc<Path>,
}

/// Counters of a search, filled as it runs.
#[derive(Debug, Clone, Default)]
pub struct SearchStats {
    /// Capture files opened.
    pub files_scanned: u64,
    /// Bytes of capture files read.
    pub bytes_read: u64,
    /// Non-fatal problems (corrupt record, vanished file, SPB without timestamp...).
    pub warnings: Vec<String>,
    /// The concrete flow found (first matching packet's key).
    pub matched_key: Option<FlowKey>,
}

struct Held(Packet, u64);

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.0.ts, self.1).cmp(&(o.0.ts, o.1))
    }
}

struct OpenFile {
    reader: CaptureReader,
    /// Bytes skipped by time pruning at open (not read).
    skipped: u64,
    /// Consecutive records later than the window's end plus the slack.
    late_run: u32,
    ifaces: Vec<Arc<Interface>>,
    path: Arc<Path>,
    sensor: Arc<str>,
}

/// Reads one rotation chain file after file and yields its matched packets, nearly sorted.
pub struct ChainScan {
    files: VecDeque<CaptureFile>,
    cur: Option<OpenFile>,
    matcher: Matcher,
    window: TimeWindow,
    held: BinaryHeap<Reverse<Held>>,
    held_bytes: usize,
    pending: VecDeque<(FragId, Packet)>,
    seq: u64,
    max_seen: Timestamp,
    exhausted: bool,
    late_limit: Timestamp,
    stats: SearchStats,
    cancel: Option<Arc<AtomicBool>>,
    since_check: u32,
}

impl ChainScan {
    /// A scan of `files` (in start order) for `query`.
    pub fn new(files: Vec<CaptureFile>, query: &Query) -> ChainScan {
        ChainScan {
            files: files.into(),
            cur: None,
            matcher: Matcher::new(query.flow.clone()),
            window: query.window,
            held: BinaryHeap::new(),
            held_bytes: 0,
            pending: VecDeque::new(),
            seq: 0,
            max_seen: Timestamp::MIN,
            exhausted: false,
            late_limit: query.window.end.saturating_add_nanos(REORDER_SLACK_NS),
            stats: SearchStats::default(),
            cancel: None,
            since_check: 0,
        }
    }

    /// Stops this scan with [`Error::Cancelled`] soon after `flag` becomes true.
    pub fn set_cancel(&mut self, flag: Option<Arc<AtomicBool>>) {
        self.cancel = flag;
    }

    /// Counters so far.
    pub fn stats(&self) -> &SearchStats {
        &self.stats
    }

    fn hold(&mut self, p: Packet) {
        self.held_bytes += p.data.len();
        self.held.push(Reverse(Held(p, self.seq)));
        self.seq += 1;
    }

    fn ready(&self) -> bool {
        match self.held.peek() {
            None => false,
            Some(Reverse(h)) => {
                self.exhausted
                    || self.held.len() > REORDER_MAX_PACKETS
                    || self.held_bytes > REORDER_MAX_BYTES
                    || h.0.ts.saturating_add_nanos(REORDER_SLACK_NS) < self.max_seen
            }
        }
    }

    /// The next matched packet of this chain.
    pub fn next_packet(&mut self) -> Result<Option<Packet>> {
        while !self.ready() {
            if self.exhausted {
                return Ok(None);
            }
            self.step()?;
        }
        let Reverse(Held(p, _)) = self.held.pop().expect("ready implies non-empty");
        self.held_bytes -= p.data.len();
        Ok(Some(p))
    }

    /// Reads records until one matches (or a file ends).
    fn step(&mut self) -> Result<()> {
        if self.cur.is_none() && !self.open_next()? {
            self.exhausted = true;
            return Ok(());
        }
        let f = self.cur.as_mut().expect("opened above");
        loop {
            let next = f.reader.next_with_interface();
            let (rec, iface) = match next {
                Ok(Some(x)) => x,
                Ok(None) => {
                    self.close_current(None);
                    return Ok(());
                }
                Err(e @ Error::Format { .. }) => {
                    self.close_current(Some(e.to_string()));
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            self.since_check += 1;
            if self.since_check >= CANCEL_CHECK_RECORDS {
                self.since_check = 0;
                if self
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(AtomicOrdering::Relaxed))
                {
                    return Err(Error::Cancelled);
                }
            }
            if rec.ts > self.late_limit {
                // Far enough past the window, for long enough, that disorder cannot bring
                // another packet of it: the rest of this file is not read.
                f.late_run += 1;
                if f.late_run >= LATE_RUN_STOP {
                    self.close_current(None);
                    return Ok(());
                }
            } else {
                f.late_run = 0;
            }
            if rec.ts > self.max_seen {
                self.max_seen = rec.ts;
            }
            if !self.window.contains(rec.ts) {
                continue;
            }
            let verdict = self.matcher.check(iface.linktype, rec.data);
            if verdict == Verdict::NoMatch {
                continue;
            }
            while f.ifaces.len() <= rec.iface {
                f.ifaces.push(Arc::new(iface.clone()));
            }
            if *f.ifaces[rec.iface] != *iface {
                f.ifaces[rec.iface] = Arc::new(iface.clone());
            }
            let p = Packet {
                ts: rec.ts,
                ts_raw: rec.ts_raw,
                orig_len: rec.orig_len,
                data: Bytes::copy_from_slice(rec.data),
                iface: f.ifaces[rec.iface].clone(),
                sensor: f.sensor.clone(),
                file: f.path.clone(),
            };
            match verdict {
                Verdict::Match { frag } => {
                    self.hold(p);
                    if let Some(id) = frag {
                        self.release_pending(id);
                    }
                }
                Verdict::Pending(id) => {
                    if self.pending.len() >= PENDING_MAX {
                        self.pending.pop_front();
                    }
                    self.pending.push_back((id, p));
                }
                Verdict::NoMatch => unreachable!(),
            }
            return Ok(());
        }
    }

    fn release_pending(&mut self, id: FragId) {
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].0 == id {
                if let Some((_, p)) = self.pending.remove(i) {
                    self.hold(p);
                }
            } else {
                i += 1;
            }
        }
    }

    fn close_current(&mut self, warning: Option<String>) {
        if let Some(f) = self.cur.take() {
            self.stats.bytes_read += f.reader.offset().saturating_sub(f.skipped);
            let spb = f.reader.spb_skipped();
            if spb > 0 {
                self.stats.warnings.push(format!(
                    "{}: {spb} simple packet blocks have no timestamp and were skipped",
                    f.path.display()
                ));
            }
            if let Some(w) = warning {
                self.stats.warnings.push(w);
            }
        }
        self.stats.matched_key = self.stats.matched_key.or(self.matcher.matched_key());
    }

    fn open_next(&mut self) -> Result<bool> {
        while let Some(file) = self.files.pop_front() {
            let from = self.window.start.saturating_add_nanos(-REORDER_SLACK_NS);
            match open_near(&file.path, from) {
                Ok((reader, skipped)) => {
                    self.stats.files_scanned += 1;
                    self.cur = Some(OpenFile {
                        reader,
                        skipped,
                        late_run: 0,
                        ifaces: Vec::new(),
                        path: Arc::from(file.path.as_path()),
                        sensor: file.sensor.clone(),
                    });
                    return Ok(true);
                }
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    self.stats.warnings.push(format!(
                        "{}: removed before it could be read",
                        file.path.display()
                    ));
                }
                Err(e @ Error::Format { .. }) => {
                    self.stats.files_scanned += 1;
                    self.stats.warnings.push(e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

/// The merged, time-ordered stream of a query's matched packets.
///
/// An iterator of `Result<Packet>`; after an `Err` it yields `None`.
pub struct Search {
    chains: Vec<ChainScan>,
    heads: BinaryHeap<Reverse<(Timestamp, usize, u64)>>,
    slots: Vec<Option<Packet>>,
    started: bool,
    failed: bool,
    seq: u64,
    plan_warnings: Vec<String>,
}

impl Search {
    /// A search over a plan.
    pub fn new(plan: Plan, query: &Query) -> Search {
        Self::with_cancel(plan, query, None)
    }

    /// A search over a plan that stops with [`Error::Cancelled`] soon after `cancel` is set.
    pub fn with_cancel(plan: Plan, query: &Query, cancel: Option<Arc<AtomicBool>>) -> Search {
        let chains: Vec<ChainScan> = plan
            .chains
            .into_iter()
            .map(|c| {
                let mut scan = ChainScan::new(c, query);
                scan.set_cancel(cancel.clone());
                scan
            })
            .collect();
        let n = chains.len();
        Search {
            chains,
            heads: BinaryHeap::new(),
            slots: (0..n).map(|_| None).collect(),
            started: false,
            failed: false,
            seq: 0,
            plan_warnings: plan.warnings,
        }
    }

    /// Counters of all chains so far.
    pub fn stats(&self) -> SearchStats {
        let mut s = SearchStats {
            warnings: self.plan_warnings.clone(),
            ..Default::default()
        };
        for c in &self.chains {
            let cs = c.stats();
            s.files_scanned += cs.files_scanned;
            s.bytes_read += cs.bytes_read;
            s.warnings.extend(cs.warnings.iter().cloned());
            s.matched_key = s.matched_key.or(cs.matched_key).or(c.matcher.matched_key());
        }
        s
    }

    fn refill(&mut self, i: usize) -> Result<()> {
        if let Some(p) = self.chains[i].next_packet()? {
            self.heads.push(Reverse((p.ts, i, self.seq)));
            self.seq += 1;
            self.slots[i] = Some(p);
        }
        Ok(())
    }

    fn next_inner(&mut self) -> Result<Option<Packet>> {
        if !self.started {
            self.started = true;
            for i in 0..self.chains.len() {
                self.refill(i)?;
            }
        }
        let Some(Reverse((_, i, _))) = self.heads.pop() else {
            return Ok(None);
        };
        let p = self.slots[i].take().expect("a head has a slot");
        self.refill(i)?;
        Ok(Some(p))
    }
}

impl Iterator for Search {
    type Item = Result<Packet>;

    fn next(&mut self) -> Option<Result<Packet>> {
        if self.failed {
            return None;
        }
        match self.next_inner() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

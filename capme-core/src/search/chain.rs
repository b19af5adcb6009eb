//! [`ChainScan`]: one rotation chain's files, scanned by its workers, consumed in file order
//! through the reorder and pending-fragment buffers.

use super::flow_control::{cost, Budget, Permits};
use super::matcher::{FragId, FragSet, Verdict};
use super::scan::{
    scan_file, scan_segment, Event, ScanCtx, ScanSpec, Segment, SegmentJob, Unsupported,
};
use super::*;
use crate::error::{Error, Result};
use crate::index::Lookup;
use crate::packet::Packet;
use crate::query::Query;
use crate::store::CaptureFile;
use crate::time::Timestamp;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

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

/// Reads one rotation chain and yields its matched packets, nearly sorted.
///
/// Files are scanned by `parallel` worker threads of the chain, each taking the chain's next
/// file as soon as it finishes one (not when the consumer asks: a chain whose matches are not
/// needed yet keeps reading while the merge waits on another chain). Each file sends its
/// matches through its own channel, queued in file order; the chain consumes them in file
/// order. Memory stays bounded by bytes: a worker ahead of the consumer waits once the chain
/// has its share of [`SEARCH_AHEAD_BYTES`] of matched packets in flight (the file the consumer
/// is reading never waits, so the chain always progresses).
pub struct ChainScan {
    files: VecDeque<CaptureFile>,
    workers: Vec<JoinHandle<()>>,
    /// Threads started by workers to scan the segments of split files.
    helpers: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Per file, in order: the channel of its segments' channels.
    order: Option<Receiver<Receiver<Segment>>>,
    /// The segments of the file being read, and the one being read.
    segs: Option<Receiver<Segment>>,
    current: Option<Segment>,
    /// Which segment of its file `current` is.
    seg_index: usize,
    /// Records of undecodable link types in the file's segments read so far: warned once
    /// the file is done.
    unsupported: Option<Unsupported>,
    /// Consecutive records later than the window at the end of the file's segments read so
    /// far (a whole-file scan would carry this run into the next segment).
    carry: u32,
    inbox: VecDeque<(Packet, Verdict)>,
    pub(super) budget: Arc<Budget>,
    pub(super) permits: Arc<Permits>,
    started: bool,
    parallel: usize,
    spec: ScanSpec,
    frags: FragSet,
    held: BinaryHeap<Reverse<Held>>,
    held_bytes: usize,
    pending: VecDeque<(FragId, Packet)>,
    seq: u64,
    max_seen: Timestamp,
    exhausted: bool,
    stats: SearchStats,
}

impl ChainScan {
    /// A scan of `files` (in start order) for `query`, one file at a time.
    pub fn new(files: Vec<CaptureFile>, query: &Query) -> ChainScan {
        Self::with_options(files, query, &ScanOptions::default(), 1)
    }

    /// A scan that reads up to `parallel` files at once, with the cancel flag and progress
    /// counter of `opts`.
    pub fn with_options(
        files: Vec<CaptureFile>,
        query: &Query,
        opts: &ScanOptions,
        parallel: usize,
    ) -> ChainScan {
        ChainScan {
            files: files.into(),
            workers: Vec::new(),
            helpers: Arc::new(Mutex::new(Vec::new())),
            order: None,
            segs: None,
            current: None,
            seg_index: 0,
            unsupported: None,
            carry: 0,
            inbox: VecDeque::new(),
            budget: Arc::new(Budget::new(SEARCH_AHEAD_BYTES)),
            permits: Permits::new(parallel),
            started: false,
            parallel: parallel.max(1),
            spec: ScanSpec {
                flow: query.flow.clone(),
                layer: query.layer,
                window: query.window,
                late_limit: query.window.end.saturating_add_nanos(REORDER_SLACK_NS),
                from: query.window.start.saturating_add_nanos(-REORDER_SLACK_NS),
                cancel: opts.cancel.clone(),
                lookup: Lookup::of(&query.flow),
                progress: opts.progress.clone(),
                stop: Arc::new(AtomicBool::new(false)),
                parts: parallel.max(1),
                segment_min: match opts.segment_min_bytes {
                    0 => SEGMENT_MIN_BYTES,
                    n => n,
                },
            },
            frags: FragSet::default(),
            held: BinaryHeap::new(),
            held_bytes: 0,
            pending: VecDeque::new(),
            seq: 0,
            max_seen: Timestamp::MIN,
            exhausted: false,
            stats: SearchStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &SearchStats {
        &self.stats
    }

    /// Holds a matched packet in the reorder buffer. The release rule looks only at the
    /// flow's own packets (the latest held), never at other records the reader happened to
    /// read: a scan and an indexed read see the same matched packets in the same order, so
    /// they release them in the same order.
    fn hold(&mut self, p: Packet) {
        self.max_seen = self.max_seen.max(p.ts);
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

    /// Starts the chain's workers (once): `parallel` threads that take the chain's files in
    /// order, queue each file's event channel, and scan it.
    pub(crate) fn start(&mut self) -> Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let (order_tx, order_rx) = channel();
        self.order = Some(order_rx);
        let n = self.parallel.min(self.files.len());
        let feed = Arc::new(Mutex::new(Feed {
            files: std::mem::take(&mut self.files),
            jobs: VecDeque::new(),
            order: order_tx,
            next_seq: 0,
            live: n,
            max_live: self.parallel,
            helpers: self.helpers.clone(),
        }));
        let shared = Arc::new(Shared {
            budget: self.budget.clone(),
            permits: self.permits.clone(),
            spec: self.spec.clone(),
        });
        for _ in 0..n {
            let (feed, shared) = (feed.clone(), shared.clone());
            let handle = std::thread::Builder::new()
                .name("capme-scan".into())
                .spawn(move || feed_worker(&feed, &shared))
                .map_err(|e| Error::io("capme-scan thread", e))?;
            self.workers.push(handle);
        }
        // The workers hold the only other references: when the last one ends, the queue's
        // sender is dropped and the consumer sees the end of the chain.
        Ok(())
    }

    /// Takes one event of the oldest unfinished file.
    ///
    /// A split file's segments are read in order. A later segment's packets are kept only if
    /// a scan of the whole file would have reached them: the segment before it ended exactly
    /// where it starts (a real record boundary), and the late run carried over from before
    /// plus its own leading late run (sent before its first packets) stays below
    /// [`LATE_RUN_STOP`]. Otherwise the rest of the file is discarded, so splitting never
    /// changes the result.
    fn step(&mut self) -> Result<()> {
        self.start()?;
        if let Some((packet, verdict)) = self.inbox.pop_front() {
            self.take(packet, verdict);
            return Ok(());
        }
        if self.current.is_none() {
            if self.segs.is_none() {
                match self.order.as_ref().map(|o| o.recv()) {
                    Some(Ok(segs)) => {
                        self.flush_unsupported();
                        self.segs = Some(segs);
                        self.seg_index = 0;
                        self.carry = 0;
                    }
                    _ => {
                        self.flush_unsupported();
                        self.exhausted = true;
                        return Ok(());
                    }
                }
            }
            match self.segs.as_ref().map(|s| s.recv()) {
                Some(Ok(seg)) => {
                    self.budget.advance(seg.seq);
                    self.current = Some(seg);
                }
                _ => {
                    // Every segment of the file has been read.
                    self.segs = None;
                    return Ok(());
                }
            }
        }
        let seg = self.current.as_ref().expect("set above");
        let event = seg.rx.recv().map_err(|_| {
            Error::io(
                "capme-scan thread",
                std::io::Error::other("a scan thread ended without a report"),
            )
        })?;
        self.budget.release(cost(&event));
        match event {
            Event::Packets(packets) => {
                // One packet per step, so the reorder buffer behaves as if they came one by
                // one.
                self.inbox.extend(packets);
            }
            Event::Lead(lead) => {
                if self.carry.saturating_add(lead) >= LATE_RUN_STOP {
                    self.discard_rest();
                }
            }
            Event::Done(r) => {
                let later = self.seg_index > 0;
                self.current = None;
                self.seg_index += 1;
                self.stats.files_scanned += (r.opened && !r.indexed) as u64;
                self.stats.files_indexed += r.indexed as u64;
                self.stats.bytes_read += r.bytes_read;
                self.stats.warnings.extend(r.warnings);
                match (&mut self.unsupported, r.unsupported) {
                    (Some(acc), Some(u)) => acc.merge(u),
                    (acc, u) => *acc = acc.take().or(u),
                }
                self.stats.matched_key = self.stats.matched_key.or(r.matched_key);
                if let Some(u) = r.unreadable {
                    self.stats.files_unreadable += 1;
                    self.stats.first_unreadable.get_or_insert(u);
                }
                let stopped_in_lead =
                    later && self.carry.saturating_add(r.lead_late) >= LATE_RUN_STOP;
                if stopped_in_lead || !r.handoff {
                    self.flush_unsupported();
                    self.discard_rest();
                } else if later && r.records == u64::from(r.lead_late) {
                    self.carry += r.lead_late;
                } else {
                    self.carry = r.trail_late;
                }
            }
            Event::Failed(e) => {
                self.stop_workers();
                self.exhausted = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Drops the current segment (if any) and every later one of the file: their scans are
    /// told to stop, and what they already sent is taken and thrown away.
    /// The file is done (or the next begins): one warning per undecodable link type of it.
    fn flush_unsupported(&mut self) {
        if let Some(u) = self.unsupported.take() {
            self.stats.warnings.extend(u.warnings());
        }
    }

    fn discard_rest(&mut self) {
        if let Some(seg) = self.current.take() {
            self.drain(seg);
        }
        if let Some(segs) = self.segs.take() {
            while let Ok(seg) = segs.recv() {
                self.budget.advance(seg.seq);
                self.drain(seg);
            }
        }
    }

    fn drain(&mut self, seg: Segment) {
        seg.abort.store(true, std::sync::atomic::Ordering::Relaxed);
        while let Ok(event) = seg.rx.recv() {
            self.budget.release(cost(&event));
            match event {
                Event::Packets(_) => {}
                Event::Done(r) => {
                    self.stats.bytes_read += r.bytes_read;
                    break;
                }
                Event::Failed(_) => break,
                Event::Lead(_) => {}
            }
        }
    }

    /// Files one matched (or pending) packet.
    fn take(&mut self, packet: Packet, verdict: Verdict) {
        match verdict {
            Verdict::Match { frag } => {
                self.hold(packet);
                if let Some(id) = frag {
                    // For later fragments in later files.
                    self.frags.insert(id);
                    self.release_pending(id);
                }
            }
            Verdict::Pending(id) if self.frags.contains(&id) => self.hold(packet),
            Verdict::Pending(id) => {
                if self.pending.len() >= PENDING_MAX {
                    self.pending.pop_front();
                }
                self.pending.push_back((id, packet));
            }
            Verdict::NoMatch => {}
        }
    }

    /// Stops and joins every scan thread still running, so none outlives the search (a C
    /// program may unload the library after freeing it).
    fn stop_workers(&mut self) {
        self.spec
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // A worker blocked on a full channel, or on the full queue of channels, now fails
        // its send and returns.
        self.current = None;
        self.segs = None;
        self.order = None;
        self.budget.wake();
        self.permits.wake();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        // Helpers may have started helpers: join until none is left.
        loop {
            let hs: Vec<JoinHandle<()>> = match self.helpers.lock() {
                Ok(mut g) => g.drain(..).collect(),
                Err(_) => break,
            };
            if hs.is_empty() {
                break;
            }
            for h in hs {
                let _ = h.join();
            }
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
}

/// The files of a chain still to be taken, the later segments of split files waiting for a
/// worker, and the queue the files' segment channels go to.
struct Feed {
    files: VecDeque<CaptureFile>,
    jobs: VecDeque<SegmentJob>,
    order: Sender<Receiver<Segment>>,
    next_seq: u64,
    /// Workers running, and how many there may be (the search's threads).
    live: usize,
    max_live: usize,
    helpers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// What every worker of a chain shares.
struct Shared {
    pub(super) budget: Arc<Budget>,
    pub(super) permits: Arc<Permits>,
    spec: ScanSpec,
}

/// The work a worker took.
enum Work {
    File(CaptureFile, u64, Sender<Segment>),
    Segment(SegmentJob),
}

/// Counts a worker out of [`Feed::live`] when it ends.
struct Live<'a>(&'a Mutex<Feed>);

impl Drop for Live<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.0.lock() {
            f.live = f.live.saturating_sub(1);
        }
    }
}

/// A chain's worker: takes a waiting segment first (they belong to files the consumer needs
/// sooner), else the next file, queueing its channel (under one lock, so channels are queued
/// in file order), and scans it; ends when nothing is left or the chain is gone.
fn feed_worker(feed: &Arc<Mutex<Feed>>, shared: &Arc<Shared>) {
    let _live = Live(feed);
    let spec = &shared.spec;
    let push_jobs = |jobs: Vec<SegmentJob>| {
        let n = jobs.len();
        let spawn = {
            let Ok(mut f) = feed.lock() else { return };
            f.jobs.extend(jobs);
            let spawn = n.min(f.max_live.saturating_sub(f.live));
            f.live += spawn;
            spawn
        };
        for _ in 0..spawn {
            let (fd, sh) = (feed.clone(), shared.clone());
            let started = std::thread::Builder::new()
                .name("capme-scan".into())
                .spawn(move || feed_worker(&fd, &sh));
            match (started, feed.lock()) {
                (Ok(h), Ok(f)) => {
                    if let Ok(mut hs) = f.helpers.lock() {
                        hs.push(h);
                    }
                }
                // No thread: this worker scans the segment itself after its own.
                (Err(_), Ok(mut f)) => f.live = f.live.saturating_sub(1),
                _ => {}
            }
        }
    };
    let ctx = ScanCtx {
        budget: &shared.budget,
        permits: &shared.permits,
        push_jobs: &push_jobs,
    };
    loop {
        let work = {
            let Ok(mut f) = feed.lock() else { return };
            if let Some(job) = f.jobs.pop_front() {
                Work::Segment(job)
            } else if let Some(file) = f.files.pop_front() {
                let (tx, rx) = channel();
                let seq = f.next_seq;
                f.next_seq += 1;
                if f.order.send(rx).is_err() {
                    return;
                }
                Work::File(file, seq, tx)
            } else {
                return;
            }
        };
        match work {
            Work::File(file, seq, segs) => {
                // At most `threads` files (or segments) of the whole search are read at once.
                let Some(permit) = shared.permits.acquire(&spec.stop) else {
                    return;
                };
                if spec.stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                scan_file(file, spec.clone(), seq, segs, permit, &ctx);
            }
            Work::Segment(job) => scan_segment(job, spec.clone(), &ctx),
        }
    }
}

impl Drop for ChainScan {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

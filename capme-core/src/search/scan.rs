//! One capture file, scanned on its own thread: read the records in the window, match them,
//! and send what matched (in file order) to the chain that owns the file.
//!
//! The matcher here sees one file only; links between fragments of different files of a chain
//! are made by the consumer ([`super::ChainScan`]), which receives every verdict.

use super::flow_control::{Budget, FileTx, Permit, Permits};
use super::matcher::{Matcher, Verdict};
use super::LATE_RUN_STOP;
use crate::capture::seek::{open_split, SharedPcap};
use crate::capture::{CaptureReader, Interface};
use crate::error::Error;
use crate::flow::FlowKey;
use crate::index::{self, Lookup};
use crate::packet::Packet;
use crate::query::FlowSpec;
use crate::store::CaptureFile;
use crate::time::{TimeWindow, Timestamp};
use crate::wire::link::LinkType;
use bytes::Bytes;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// At most this many matched packets are sent to the consumer at once.
pub(crate) const BATCH_PACKETS: usize = 64;
/// A batch is sent once it holds this many bytes of packets.
pub(crate) const BATCH_BYTES: usize = 256 << 10;

/// How many records are read between two looks at the cancel flag.
const CANCEL_CHECK_RECORDS: u32 = 4096;

/// What a file scan reports, in order.
pub(crate) enum Event {
    /// Packets that matched (or may match, for a pending fragment), in file order, with
    /// their verdicts. Sent in batches (up to
    /// [`BATCH_PACKETS`] packets or [`BATCH_BYTES`]): one wake-up of the consumer per packet
    /// cost more than the rest of an indexed pivot.
    Packets(Vec<(Packet, Verdict)>),
    /// Sent by a segment after the first of its file, before its first packets: how many
    /// records at its start were later than the window (the consumer decides whether the
    /// whole-file scan would have stopped there; see [`super::ChainScan`]).
    Lead(u32),
    /// The file (or segment) is finished.
    Done(FileReport),
    /// The scan failed (I/O error, cancelled): the search stops.
    Failed(Error),
}

/// The counters of one finished file.
#[derive(Default)]
pub(crate) struct FileReport {
    /// The file was opened.
    pub opened: bool,
    /// It was read through its flow index.
    pub indexed: bool,
    /// Bytes read (not skipped by time pruning).
    pub bytes_read: u64,
    /// Non-fatal problems.
    pub warnings: Vec<String>,
    /// The first key that matched in this file.
    pub matched_key: Option<FlowKey>,
    /// The segment ended exactly at the start of the next segment of its file (always false
    /// for the last segment, or a file read whole).
    pub handoff: bool,
    /// Records read.
    pub records: u64,
    /// Consecutive records later than the window at the start of the segment (at most
    /// [`LATE_RUN_STOP`]).
    pub lead_late: u32,
    /// Consecutive records later than the window at its end.
    pub trail_late: u32,
    /// The file could not be opened: (path, kind, message) of its I/O error.
    pub unreadable: Option<(std::path::PathBuf, std::io::ErrorKind, String)>,
    /// Records of link types the decoder does not know. Kept apart from `warnings` so that
    /// the segments of a split file add up to one warning per link type and file.
    pub unsupported: Option<Unsupported>,
}

/// The records of one file whose link types cannot be decoded, counted per link type.
#[derive(Debug, Clone)]
pub(crate) struct Unsupported {
    /// The capture file.
    pub path: Arc<Path>,
    /// (link type, records), in the order first seen.
    pub counts: Vec<(u32, u64)>,
}

impl Unsupported {
    /// Adds the counts of another segment of the same file.
    pub fn merge(&mut self, other: Unsupported) {
        for (lt, n) in other.counts {
            self.add(lt, n);
        }
    }

    fn add(&mut self, linktype: u32, n: u64) {
        match self.counts.iter_mut().find(|(l, _)| *l == linktype) {
            Some((_, c)) => *c += n,
            None => self.counts.push((linktype, n)),
        }
    }

    /// One warning per link type, naming it by number and `LINKTYPE_` name where known:
    /// "PATH: link type 147 (USER0) is not supported; its 6 records were not searched".
    pub fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        self.counts.iter().map(|&(lt, n)| {
            let name = LinkType::name(lt)
                .map(|name| format!(" ({name})"))
                .unwrap_or_default();
            format!(
                "{}: link type {lt}{name} is not supported; its {n} records were not searched",
                self.path.display()
            )
        })
    }
}

/// What a file scan needs to know about the query.
#[derive(Clone)]
pub(crate) struct ScanSpec {
    pub flow: FlowSpec,
    /// The packet layers the flow is matched at.
    pub layer: crate::query::Layer,
    pub window: TimeWindow,
    /// Records later than this count toward the early stop.
    pub late_limit: Timestamp,
    /// Where to start reading (window start minus the slack).
    pub from: Timestamp,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Set when the owning search is dropped: the scan ends quietly.
    pub stop: Arc<AtomicBool>,
    /// Bytes of capture files done so far (read, or skipped by pruning or the index), for a
    /// progress display.
    pub progress: Option<Arc<AtomicU64>>,
    /// How the flow index finds the flow (`None`: it cannot, e.g. a Community ID with a seed
    /// other than 0).
    pub lookup: Option<Lookup>,
    /// Into how many segments a file may be cut to be scanned at once (the chain's share of
    /// the search's threads).
    pub parts: usize,
    /// The least bytes of a segment.
    pub segment_min: u64,
}

/// One channel of a file's events: the whole file, or one segment of a split file (in
/// order). `abort` is set by the consumer when it discards the file's later segments.
pub(crate) struct Segment {
    pub seq: u64,
    pub rx: Receiver<Event>,
    pub abort: Arc<AtomicBool>,
}

/// A later segment of a split file, waiting for a worker.
pub(crate) struct SegmentJob {
    file: CaptureFile,
    pcap: SharedPcap,
    start: u64,
    /// Where the next segment starts (`None`: the last segment).
    stop_at: Option<u64>,
    seq: u64,
    tx: Sender<Event>,
    abort: Arc<AtomicBool>,
}

/// Where a file scan gets and gives back what it shares with its chain.
pub(crate) struct ScanCtx<'a> {
    pub budget: &'a Arc<Budget>,
    pub permits: &'a Arc<Permits>,
    /// Queues the later segments of a split file (for any worker of the chain).
    pub push_jobs: &'a dyn Fn(Vec<SegmentJob>),
}

impl ScanCtx<'_> {
    fn file_tx(&self, tx: Sender<Event>, seq: u64, permit: Option<Permit>) -> FileTx {
        FileTx {
            tx,
            budget: self.budget.clone(),
            seq,
            permits: self.permits.clone(),
            permit: std::cell::RefCell::new(permit),
        }
    }
}

/// The sequence number of segment `j` of the file numbered `file_seq` (the budget tells the
/// segments apart; a file has at most [`crate::capture::seek::MAX_SEGMENTS`] < 2^16).
fn segment_seq(file_seq: u64, j: usize) -> u64 {
    (file_seq << 16) | j as u64
}

/// Sends a failed open's outcome. One rule for every file: its problem is a warning and the
/// search goes on with the other files (a file removed meanwhile, not a capture, unreadable,
/// a symlink loop...). An extraction that could read no file of its window at all fails
/// with the first unreadable file's error ([`crate::search::SearchStats::unreadable_error`]).
fn report_open_error(
    e: Error,
    file: &CaptureFile,
    mut report: FileReport,
    tx: &FileTx,
    stop: &AtomicBool,
) {
    match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            report.warnings.push(format!(
                "{}: removed before it could be read",
                file.path.display()
            ));
            let _ = tx.send(Event::Done(report), stop);
        }
        e @ Error::Format { .. } => {
            report.opened = true;
            report.warnings.push(e.to_string());
            let _ = tx.send(Event::Done(report), stop);
        }
        Error::Io { path, source } => {
            report
                .warnings
                .push(format!("{}: cannot be read: {source}", path.display()));
            report.unreadable = Some((path, source.kind(), source.to_string()));
            let _ = tx.send(Event::Done(report), stop);
        }
        e => {
            let _ = tx.send(Event::Failed(e), stop);
        }
    }
}

/// Scans `file` (number `file_seq` of its chain, holding `permit`) and sends its segments'
/// channels to `segs`, in order, then their events; returns quietly when the receiver is
/// gone (the search was dropped).
///
/// A legacy pcap file whose part in the window is large enough is cut into segments
/// ([`open_split`], at most `spec.parts`, each at least `spec.segment_min` bytes): this worker
/// scans the first, the others go to `ctx.push_jobs` so that other workers scan them at the
/// same time. The consumer reads the segments in order and keeps exactly what one scan of the
/// whole file would have returned (see [`super::ChainScan`]).
pub(crate) fn scan_file(
    file: CaptureFile,
    spec: ScanSpec,
    file_seq: u64,
    segs: Sender<Segment>,
    permit: Permit,
    ctx: &ScanCtx,
) {
    let stop = spec.stop.clone();
    let abort = Arc::new(AtomicBool::new(false));
    let (tx0, rx0) = channel();
    let tx = ctx.file_tx(tx0, segment_seq(file_seq, 0), Some(permit));
    let mut report = FileReport {
        ..Default::default()
    };
    let mut unsupported = Vec::new();
    let indexed = match (&spec.lookup, &file.index) {
        (Some(l), Some(ip)) => index::open_reader(
            &file.path,
            ip,
            l,
            spec.from,
            spec.late_limit,
            &mut report.warnings,
            &mut unsupported,
        ),
        _ => None,
    };
    report.indexed = indexed.is_some();
    // Records of unknown link types the index counted: the indexed read never sees them.
    if indexed.is_some() && !unsupported.is_empty() {
        report.unsupported = Some(Unsupported {
            path: Arc::from(file.path.as_path()),
            counts: unsupported,
        });
    }
    let first = Segment {
        seq: segment_seq(file_seq, 0),
        rx: rx0,
        abort: abort.clone(),
    };
    if segs.send(first).is_err() {
        return;
    }
    let split = match indexed {
        Some(_) => Ok(None),
        None => open_split(
            &file.path,
            spec.from,
            spec.late_limit,
            spec.parts,
            spec.segment_min,
        ),
    };
    let opened = match (indexed, split) {
        (Some(r), _) => r.map(|reader| (reader, 0, None)),
        (None, Ok(Some(split))) => {
            let mut jobs = Vec::new();
            for (j, &start) in split.bounds.iter().enumerate() {
                let (t, r) = channel();
                let seq = segment_seq(file_seq, j + 1);
                let seg = Segment {
                    seq,
                    rx: r,
                    abort: abort.clone(),
                };
                if segs.send(seg).is_err() {
                    return;
                }
                jobs.push(SegmentJob {
                    file: file.clone(),
                    pcap: split.file.clone(),
                    start,
                    stop_at: split.bounds.get(j + 1).copied(),
                    seq,
                    tx: t,
                    abort: abort.clone(),
                });
            }
            drop(segs);
            if !jobs.is_empty() {
                (ctx.push_jobs)(jobs);
            }
            let stop_at = split.bounds.first().copied();
            split
                .file
                .reader_at(split.start)
                .map(|r| (r, split.start - 24, stop_at))
        }
        (None, Ok(None)) => CaptureReader::open_resyncing(&file.path).map(|r| (r, 0, None)),
        (None, Err(e)) => Err(e),
    };
    let (reader, skipped, stop_at) = match opened {
        Ok(x) => x,
        Err(e) => return report_open_error(e, &file, report, &tx, &stop),
    };
    report.opened = true;
    // The first part accounts for the bytes skipped before it too.
    let part = Part {
        read_from: skipped,
        credit: (0, stop_at.unwrap_or(file.size)),
        stop_at,
        later: false,
    };
    scan_records(reader, &file, &spec, &tx, report, part, &abort);
}

/// Scans one later segment of a split file (see [`scan_file`]), once it has a permit.
pub(crate) fn scan_segment(job: SegmentJob, spec: ScanSpec, ctx: &ScanCtx) {
    if job.abort.load(Ordering::Relaxed) {
        return;
    }
    let Some(permit) = ctx.permits.acquire(&spec.stop) else {
        return;
    };
    if job.abort.load(Ordering::Relaxed) || spec.stop.load(Ordering::Relaxed) {
        return;
    }
    let tx = ctx.file_tx(job.tx, job.seq, Some(permit));
    let report = FileReport {
        ..Default::default()
    };
    let reader = match job.pcap.reader_at(job.start) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Event::Failed(e), &spec.stop);
            return;
        }
    };
    let part = Part {
        read_from: job.start,
        credit: (job.start, job.stop_at.unwrap_or(job.file.size)),
        stop_at: job.stop_at,
        later: true,
    };
    scan_records(reader, &job.file, &spec, &tx, report, part, &job.abort);
}

/// Which part of a file a scan reads.
struct Part {
    /// Where `bytes_read` counts from.
    read_from: u64,
    /// The bytes of the file this scan accounts for in the progress counter, `(start, end)`.
    credit: (u64, u64),
    /// Where the next segment starts.
    stop_at: Option<u64>,
    /// A segment after the first of its file: it sends its leading late run before its first
    /// packets.
    later: bool,
}

/// The scan loop of a file or segment: reads records until the end of the file, the late-run
/// stop, or `part.stop_at` (the next segment's start, reached exactly: a handoff; passed: the
/// bound was false, and the scan goes on to the end as if the file were whole).
fn scan_records(
    mut reader: CaptureReader,
    file: &CaptureFile,
    spec: &ScanSpec,
    tx: &FileTx,
    mut report: FileReport,
    part: Part,
    abort: &AtomicBool,
) {
    let (credit, mut stop_at) = (part.credit, part.stop_at);
    // A corrupt record is passed over (and reported below), not the end of the file.
    reader.set_resync(true);
    let mut reached_end = false;
    let stop = &*spec.stop;
    let send = |e: Event| tx.send(e, stop);
    let path: Arc<Path> = Arc::from(file.path.as_path());
    // Records of link types the decoder does not know, warned once each per file (the
    // segments of a split file are added up by the chain).
    // (A file read through its index starts with the index's counts.)
    let mut unsupported = report.unsupported.take().unwrap_or(Unsupported {
        path: path.clone(),
        counts: Vec::new(),
    });
    let mut known_link: Option<u32> = None;
    let mut ifaces: Vec<Arc<Interface>> = Vec::new();
    let mut matcher = Matcher::with_layer(spec.flow.clone(), spec.layer);
    // The first record looks at the flags too, so a search cancelled before it starts (or a
    // small file) stops at once.
    let (mut late_run, mut since_check) = (0u32, CANCEL_CHECK_RECORDS - 1);
    let mut in_lead = true;
    let mut lead_sent = !part.later;
    let mut reported = credit.0;
    let mut batch: Vec<(Packet, Verdict)> = Vec::new();
    let mut batch_bytes = 0usize;
    loop {
        if let Some(b) = stop_at {
            let at = reader.offset();
            if at == b {
                report.handoff = true;
                break;
            }
            if at > b {
                // The bound was not a record boundary: read on as a whole-file scan would.
                stop_at = None;
            }
        }
        since_check += 1;
        if since_check >= CANCEL_CHECK_RECORDS {
            since_check = 0;
            if let Some(p) = &spec.progress {
                let at = reader.offset().min(credit.1);
                p.fetch_add(at.saturating_sub(reported), Ordering::Relaxed);
                reported = reported.max(at);
            }
            if stop.load(Ordering::Relaxed) || abort.load(Ordering::Relaxed) {
                return;
            }
            if spec
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                let _ = send(Event::Failed(Error::Cancelled));
                return;
            }
        }
        let (rec, iface) = match reader.next_with_interface() {
            Ok(Some(x)) => x,
            Ok(None) => {
                reached_end = true;
                break;
            }
            Err(e @ Error::Format { .. }) => {
                report.warnings.push(e.to_string());
                break;
            }
            Err(e) => {
                let _ = send(Event::Failed(e));
                return;
            }
        };
        report.records += 1;
        if known_link != Some(iface.linktype) {
            if let LinkType::Unknown(n) = LinkType::from(iface.linktype) {
                unsupported.add(n, 1);
            } else {
                known_link = Some(iface.linktype);
            }
        }
        if rec.ts > spec.late_limit {
            // Far enough past the window, for long enough, that disorder cannot bring another
            // packet of it: the rest of this file is not read.
            late_run += 1;
            if in_lead {
                report.lead_late = late_run;
            }
            if late_run >= LATE_RUN_STOP {
                break;
            }
        } else {
            late_run = 0;
            in_lead = false;
        }
        if !spec.window.contains(rec.ts) {
            continue;
        }
        let verdict = matcher.check(iface.linktype, rec.data);
        if verdict == Verdict::NoMatch {
            continue;
        }
        if ifaces.len() <= rec.iface {
            ifaces.resize_with(rec.iface + 1, || Arc::new(iface.clone()));
        }
        if *ifaces[rec.iface] != *iface {
            ifaces[rec.iface] = Arc::new(iface.clone());
        }
        let packet = Packet {
            ts: rec.ts,
            ts_raw: rec.ts_raw,
            orig_len: rec.orig_len,
            data: Bytes::copy_from_slice(rec.data),
            iface: ifaces[rec.iface].clone(),
            sensor: file.sensor.clone(),
            file: path.clone(),
        };
        batch_bytes += packet.data.len();
        batch.push((packet, verdict));
        if batch.len() >= BATCH_PACKETS || batch_bytes >= BATCH_BYTES {
            // A matched packet is in the window, so the leading late run is over.
            if !lead_sent && !send(Event::Lead(report.lead_late)) {
                return;
            }
            lead_sent = true;
            if !send(Event::Packets(std::mem::take(&mut batch))) {
                return;
            }
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        if !lead_sent && !send(Event::Lead(report.lead_late)) {
            return;
        }
        if !send(Event::Packets(batch)) {
            return;
        }
    }
    report.trail_late = late_run;
    report.bytes_read = reader.offset().saturating_sub(part.read_from);
    if let Some(p) = &spec.progress {
        // This scan's whole part is done, whatever was skipped.
        p.fetch_add(credit.1.saturating_sub(reported), Ordering::Relaxed);
    }
    file_warnings(&reader, file, reached_end, &mut report.warnings);
    report.unsupported = (!unsupported.counts.is_empty()).then_some(unsupported);
    let spb = reader.spb_skipped();
    if spb > 0 {
        report.warnings.push(format!(
            "{}: {spb} simple packet blocks have no timestamp and were skipped",
            file.path.display()
        ));
    }
    report.matched_key = matcher.matched_key();
    let _ = send(Event::Done(report));
}

/// The warnings of a file's scan about its contents: damaged spans passed over, blocks of
/// unknown type, a cut-off last record in a file that is not the newest of its chain (the
/// newest may still be being written). Records of link types that cannot be decoded are
/// reported through [`FileReport::unsupported`].
fn file_warnings(
    reader: &CaptureReader,
    file: &CaptureFile,
    reached_end: bool,
    warnings: &mut Vec<String>,
) {
    let path = file.path.display();
    for d in reader.damage() {
        warnings.push(d.warning(&file.path));
    }
    let (spans, bytes) = reader.damage_total();
    let listed = reader.damage().len() as u64;
    if spans > listed {
        warnings.push(format!(
            "{path}: {} more corrupt spans passed over ({bytes} bytes skipped in all {spans})",
            spans - listed
        ));
    }
    if let Some((n, at, t)) = reader.unknown_blocks() {
        warnings.push(format!(
            "{path}: {n} pcapng block(s) of unknown type skipped (the first at byte {at}, type {t:#x})"
        ));
    }
    let trailing = reader.trailing_bytes();
    if reached_end && trailing > 0 && file.end.is_some() {
        warnings.push(format!(
            "{path}: last record cut short at byte {} ({trailing} bytes left over)",
            reader.offset()
        ));
    }
}

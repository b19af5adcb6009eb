//! The search: read the planned files' records in the window, match them, and merge the matches
//! of all files into one stream in timestamp order.
//!
//! ## Streaming and memory bound
//! Each rotation chain of the plan (one sensor's `snort.log.*` sequence, say) is read by one
//! [`ChainScan`]: its worker threads (about `threads / chains` of them, more while segments of
//! a file wait, see below) take the chain's files in order and keep reading ahead while the
//! merge waits on another chain; matches are consumed in file order. Matched packets pass through a small per-chain reorder buffer so that the
//! slight disorder of multi-queue capture and the overlap of adjacent files come out sorted; a
//! k-way merge over the chains' heads makes the final order (ties keep chain order, then read
//! order: the merge is stable).
//!
//! ## Time pruning
//! A file is opened near the window's start (minus the slack) by bisection over byte offsets
//! ([`crate::capture::seek`]), and left once [`LATE_RUN_STOP`] consecutive records are later
//! than the window's end plus [`REORDER_SLACK_NS`]; a late record or two from another capture
//! queue never stops it.
//!
//! ## Segments
//! Chains alone do not keep the cores busy when one file holds most of a window (a pivot on
//! a one-sensor store). So the window's span of a legacy pcap file is cut into up to the
//! chain's share of the threads (`ceil(threads / chains)`; with as many chains as threads,
//! nothing is cut) segments of at least [`SEGMENT_MIN_BYTES`] at record boundaries found by
//! resync ([`crate::capture::seek::open_split`]); the worker that opened the file scans the
//! first and queues the others for any worker of the chain (starting helper threads up to that
//! share).
//! The consumer reads the segments in order, and keeps exactly what one scan of the whole
//! file returns: a segment's packets count only if the scan before it ended exactly at its
//! start (a bound found inside a packet is passed, that scan reads on, and the later
//! segments are dropped), and only if the late run carried over from the segments before it
//! plus its own leading late run stays below [`LATE_RUN_STOP`] (where one scan would have
//! stopped). The tests in `tests/split.rs` prove both on files built for them.
//!
//! Memory per chain is bounded by its workers' read buffers, the matched bytes read ahead
//! ([`SEARCH_AHEAD_BYTES`] shared by the chains; the file the consumer reads is exempt), the
//! reorder buffer ([`REORDER_MAX_PACKETS`] packets and [`REORDER_MAX_BYTES`] bytes) and the
//! pending-fragment buffer ([`PENDING_MAX`] packets), whatever the size of the store. A packet is held in the
//! reorder buffer until a packet of the flow more than [`REORDER_SLACK_NS`] later has been
//! matched, or the buffer is full, or the chain ends; disorder deeper than that is passed
//! through as it is in the files. Only the flow's own packets drive the release, so a scan
//! and an indexed read (which reads other records or not) give the same order.

mod chain;
mod flow_control;
mod matcher;
mod merge;
mod scan;

pub use chain::ChainScan;
pub use matcher::{FragId, FragSet, Matcher, Verdict, FRAG_TRACK};
pub use merge::Search;

use crate::flow::FlowKey;
use std::sync::atomic::{AtomicBool, AtomicU64};
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

/// Bytes of matched packets the scan threads of a search may have read ahead of the consumer,
/// split evenly among its chains (at least [`CHAIN_AHEAD_MIN_BYTES`] each; the file the
/// consumer reads is exempt, so a chain always progresses): 16 MiB, so memory does not grow
/// with the number of sensors.
pub const SEARCH_AHEAD_BYTES: usize = 16 << 20;
/// The least read-ahead budget of one chain: 256 KiB.
pub const CHAIN_AHEAD_MIN_BYTES: usize = 256 << 10;

/// A legacy pcap file is cut into segments scanned at once (up to the search's threads) only
/// when each gets at least this many bytes of the window's span: 8 MiB, about 2 ms of
/// scanning, well above the cost of a thread and a resync probe.
pub const SEGMENT_MIN_BYTES: u64 = 8 << 20;

/// How a search runs.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Stop with [`Error::Cancelled`](crate::Error::Cancelled) soon after this becomes true.
    pub cancel: Option<Arc<AtomicBool>>,
    /// About this many scan threads in all (0 counts as 1).
    pub threads: usize,
    /// Bytes of planned capture files done so far, for a progress display.
    pub progress: Option<Arc<AtomicU64>>,
    /// The least bytes of a segment when a file is cut to be scanned by several threads at
    /// once (0: [`SEGMENT_MIN_BYTES`]). Tests set it small to cut small files.
    pub segment_min_bytes: u64,
}

/// Counters of a search, filled as it runs.
#[derive(Debug, Clone, Default)]
pub struct SearchStats {
    /// Capture files read by scanning.
    pub files_scanned: u64,
    /// Capture files answered through their flow index.
    pub files_indexed: u64,
    /// Bytes of capture files read.
    pub bytes_read: u64,
    /// Non-fatal problems (corrupt record, vanished file, SPB without timestamp...).
    pub warnings: Vec<String>,
    /// The concrete flow found (first matching packet's key).
    pub matched_key: Option<FlowKey>,
    /// Capture files of the window that could not be opened (their error is a warning; the
    /// search went on with the others).
    pub files_unreadable: u64,
    /// The first of those: its path and I/O error, as (path, kind, message).
    pub first_unreadable: Option<(std::path::PathBuf, std::io::ErrorKind, String)>,
}

impl SearchStats {
    /// The error of the first unreadable file, rebuilt as an [`Error::Io`](crate::Error::Io).
    pub fn unreadable_error(&self) -> Option<crate::error::Error> {
        self.first_unreadable.as_ref().map(|(path, kind, msg)| {
            crate::error::Error::io(path.clone(), std::io::Error::new(*kind, msg.clone()))
        })
    }
}

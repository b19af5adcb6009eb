//! Capture stores: discovery of capture files and their time spans, and the plan of which files
//! a time window must read.
//!
//! A store is one or more root directories. Every regular file below a root whose first bytes are
//! a pcap or pcapng magic is a capture file, whatever its name (hidden directories are skipped;
//! each one other than capme's own `.capme` is named in the listing's warnings); so is a gzip,
//! zstd or lz4 compressed file whose decompressed first bytes are one (recognised by magic, not
//! by name, and read as a stream: [`crate::capture::compress`]). Security Onion's layout `ROOT/<sensor>/dailylogs/YYYY-MM-DD/snort.log.<epoch>`
//! is recognised for the sensor name.
//!
//! ## Spans
//! A file's start is the trailing 9–11 digit epoch of its name (`snort.log.1700000000`,
//! `so-pcap.1700000000`, `capture-1700000000.pcap`; before a compression suffix:
//! `snort.log.1700000000.zst`), else the timestamp of its first record (decompressing the
//! beginning of a compressed file).
//! Files are grouped in *rotation chains*: same sensor directory and same name once the epoch
//! digits and extension are removed (so `snort.log.*` of one sensor form one chain across its day
//! directories). A file ends where the next file of its chain starts; the newest file of a chain
//! is open-ended (it may still be growing). Files are chosen with a margin of
//! [`PLAN_MARGIN_NS`] on both sides, because a file named for its first packet's second can
//! hold a packet a little earlier (multi-queue capture) and a little past the next file's start.
//!
//! ## Listing a month of files
//! [`Store::plan`] walks names first (module `walk`): one `read_dir` per directory, no `stat` or
//! open of a file named for its start unless the window needs it, and in the Security Onion
//! layout only the day directories the window can need. Directories the store
//! [`catalogue`] (written by `capme index`) holds unchanged are not read at all. A plan's
//! memory is about 100 bytes per file of the directories it reads. [`Store::list`] is the full
//! listing (every file opened), for `capme files`-style inventories and tests; [`Survey`] is
//! the full walk `capme index` makes, which writes the catalogue. A long-lived process can keep
//! the listings in memory between plans ([`cache::ListingCache`]).

use crate::capture::compress::{peek_decompressed, strip_compression_suffix};
use crate::capture::{sniff_compression, sniff_format, CaptureReader};
use crate::error::{Error, Result};
use crate::time::{TimeWindow, Timestamp};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub mod cache;
pub mod catalogue;
pub mod limits;
mod survey;
mod walk;
use cache::ListingCache;
use catalogue::CatalogueView;
pub use limits::Limits;
pub use survey::{Outcome, Survey, SurveyFile};
use walk::{Prune, State, Walk, WalkOptions};

/// Margin (ns) added on both sides of a file's span when planning: 2 seconds.
pub const PLAN_MARGIN_NS: i64 = 2_000_000_000;

/// One capture file of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureFile {
    /// Full path.
    pub path: PathBuf,
    /// Sensor name: the directory before `dailylogs` in the Security Onion layout, else the
    /// first directory below the root (or the root's own name for files directly in it).
    pub sensor: Arc<str>,
    /// Rotation chain this file belongs to (sensor directory + name without epoch/extension).
    pub chain: Arc<str>,
    /// Start time: epoch of the name, or first record.
    pub start: Timestamp,
    /// True when `start` came from the file name.
    pub start_from_name: bool,
    /// Start of the next file of the chain; `None` for the newest file of its chain.
    pub end: Option<Timestamp>,
    /// Size in bytes when listed.
    pub size: u64,
    /// Where this file's flow index is (or would be); `None` when indexes are not used.
    pub index: Option<PathBuf>,
}

impl CaptureFile {
    /// True when this file may hold packets of `window` (span widened by [`PLAN_MARGIN_NS`]).
    pub fn may_overlap(&self, window: &TimeWindow) -> bool {
        let a = self.start.saturating_add_nanos(-PLAN_MARGIN_NS);
        let b = match self.end {
            Some(e) => e.saturating_add_nanos(PLAN_MARGIN_NS),
            None => Timestamp::MAX,
        };
        window.overlaps(a, b)
    }
}

/// The extension of flow index sidecars (see [`index_path`]).
pub const INDEX_EXTENSION: &str = "cidx";

/// The sidecar naming rule: the flow index of a capture file is
/// `dir/<path relative to its root>.cidx`.
pub fn index_path(dir: &Path, rel: &Path) -> PathBuf {
    let mut name = rel.as_os_str().to_os_string();
    name.push(".");
    name.push(INDEX_EXTENSION);
    dir.join(name)
}

/// A set of store roots.
#[derive(Debug, Clone)]
pub struct Store {
    roots: Vec<PathBuf>,
    cancel: Option<Arc<AtomicBool>>,
    threads: usize,
    index_dir: Option<PathBuf>,
    use_index: bool,
    use_catalogue: bool,
    progress: Option<Arc<std::sync::atomic::AtomicU64>>,
    limits: Limits,
    sensors: Option<Arc<[String]>>,
    listing_cache: Option<Arc<ListingCache>>,
}

/// Files that a listing skipped, with the reason (not capture files are skipped silently).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Capture files sorted by (chain, start, path).
    pub files: Vec<CaptureFile>,
    /// Human-readable warnings (e.g. an empty capture file).
    pub warnings: Vec<String>,
}

impl Store {
    /// A store over `roots`. Each root must be an existing directory (or a capture file).
    pub fn open<I, P>(roots: I) -> Result<Store>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let roots: Vec<PathBuf> = roots
            .into_iter()
            .map(|p| p.as_ref().to_path_buf())
            .collect();
        if roots.is_empty() {
            return Err(Error::invalid(
                "store",
                "",
                "at least one store root is required",
            ));
        }
        for r in &roots {
            match fs::metadata(r) {
                Ok(m) if m.is_dir() || m.is_file() => {}
                Ok(_) => {
                    return Err(Error::Store {
                        path: r.clone(),
                        reason: "not a directory".into(),
                    })
                }
                Err(e) => {
                    return Err(Error::Store {
                        path: r.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Store {
            roots,
            cancel: None,
            threads,
            index_dir: None,
            use_index: true,
            use_catalogue: true,
            progress: None,
            limits: Limits::default(),
            sensors: None,
            listing_cache: None,
        })
    }

    /// Write at most `n` packets per extraction (default [`limits::DEFAULT_MAX_PACKETS`],
    /// 999,999 as Security Onion's CapMe). A result that reaches the limit stops the search,
    /// is complete and valid up to it, and says so ([`crate::Summary::truncated`] and a
    /// warning). 0 is refused naming `max_packets`.
    pub fn with_max_packets(mut self, n: u64) -> Result<Store> {
        self.limits.max_packets = limits::check_max_packets(n)?;
        Ok(self)
    }

    /// Write at most `n` captured bytes (sum of caplen) per extraction (default
    /// [`limits::DEFAULT_MAX_BYTES`], 2 GiB); as [`Store::with_max_packets`]. 0 is refused
    /// naming `max_bytes`.
    pub fn with_max_bytes(mut self, n: u64) -> Result<Store> {
        self.limits.max_bytes = limits::check_max_bytes(n)?;
        Ok(self)
    }

    /// Refuse windows longer than `d` (default [`limits::DEFAULT_MAX_WINDOW`], 24 h) in
    /// searches and extractions, before any file is listed. Less than a second is refused
    /// naming `max_window`.
    pub fn with_max_window(mut self, d: std::time::Duration) -> Result<Store> {
        self.limits.max_window = limits::check_max_window(d)?;
        Ok(self)
    }

    /// Restrict plans, searches, extractions, transcripts and listings to the files of the named
    /// sensors ([`CaptureFile::sensor`]: the directory before `dailylogs`, else the first
    /// directory below the root). An empty list lifts the restriction. A name the store does
    /// not have makes each plan an invalid-input error naming `sensor` and listing the sensors
    /// it has ([`Store::sensor_names`]).
    pub fn with_sensors<I, S>(mut self, names: I) -> Store
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut v: Vec<String> = names.into_iter().map(Into::into).collect();
        v.sort();
        v.dedup();
        self.sensors = (!v.is_empty()).then(|| v.into());
        self
    }

    /// The sensors this store is restricted to ([`Store::with_sensors`]), sorted; `None` for
    /// all.
    pub fn sensors(&self) -> Option<&[String]> {
        self.sensors.as_deref()
    }

    /// The sensor names of the store, sorted: those of the newest capture files of each
    /// rotation chain, found as [`Store::newest_files`] finds them (names only, nothing opened;
    /// in the Security Onion layout each sensor's newest day directory, and the day before
    /// when that one is empty, not a month of files). A sensor directory without any capture
    /// file is not a sensor. Not affected by [`Store::with_sensors`].
    pub fn sensor_names(&self) -> Result<Vec<String>> {
        let cats = self.catalogues();
        let w = Walk::run(
            &self.roots,
            &WalkOptions {
                prune: Prune::latest(),
                probe_named: false,
                record: false,
                catalogues: &cats.0,
                cache: self.listing_cache.as_deref(),
            },
        )?;
        let mut v: Vec<String> = w.groups.iter().map(|g| g.sensor.to_string()).collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Which groups of a walk the sensor restriction keeps (`None`: every group), after
    /// checking that each named sensor exists: those seen by the walk exist; for the others the
    /// store's sensors are looked up ([`Store::sensor_names`]).
    fn sensor_filter(&self, w: &Walk) -> Result<Option<Vec<bool>>> {
        let Some(names) = &self.sensors else {
            return Ok(None);
        };
        let seen = |n: &str| w.groups.iter().any(|g| &*g.sensor == n);
        if names.iter().any(|n| !seen(n)) {
            let all = self.sensor_names()?;
            if let Some(n) = names.iter().find(|n| !all.contains(n)) {
                return Err(Error::invalid(
                    "sensor",
                    n.clone(),
                    if all.is_empty() {
                        "no such sensor: the store holds no capture file".to_string()
                    } else {
                        format!("no such sensor; the store has {}", all.join(", "))
                    },
                ));
            }
        }
        Ok(Some(
            w.groups
                .iter()
                .map(|g| names.iter().any(|n| **n == *g.sensor))
                .collect(),
        ))
    }

    /// The limits of this store's extractions.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Refuses a window longer than the store's window limit ([`Store::with_max_window`]):
    /// an invalid-input error naming the window and `max_window`. The window's length is
    /// `etime - stime` as typed: an integer `etime` covers its whole second, so
    /// `stime=T etime=T+86400` is a 24 h window.
    pub fn check_window(&self, window: &TimeWindow) -> Result<()> {
        let max = self.limits.max_window;
        let len_ns = (window.end.as_nanos() as i128) - (window.start.as_nanos() as i128);
        // The whole-second tail of an integer etime (< 1 s) is not counted.
        if len_ns < max.as_nanos() as i128 + 1_000_000_000 {
            return Ok(());
        }
        let secs = (len_ns / 1_000_000_000) as u64;
        Err(Error::invalid(
            "window",
            window.to_string(),
            format!(
                "is {} long, longer than the max_window limit of {} (--max-window); \
                 narrow the window or raise the limit",
                limits::format_duration(std::time::Duration::from_secs(secs)),
                limits::format_duration(max)
            ),
        ))
    }

    /// Searches of this store stop with [`Error::Cancelled`] soon after `flag` becomes true
    /// (checked every few thousand records), so a binding can offer Ctrl-C.
    pub fn with_cancel(mut self, flag: Arc<AtomicBool>) -> Store {
        self.cancel = Some(flag);
        self
    }

    /// Scan with about `threads` threads (default: the available cores; 0 means 1).
    pub fn with_threads(mut self, threads: usize) -> Store {
        self.threads = threads.max(1);
        self
    }

    /// The number of scan threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Keep flow indexes under `dir` (mirroring each capture file's path below its root)
    /// instead of `<root>/.capme/`, e.g. when the capture directories are read-only.
    pub fn with_index_dir(mut self, dir: impl Into<PathBuf>) -> Store {
        self.index_dir = Some(dir.into());
        self
    }

    /// Use flow indexes when fresh (the default), or always scan.
    pub fn use_index(mut self, yes: bool) -> Store {
        self.use_index = yes;
        self
    }

    /// The index file of a capture file of this store (whether or not it exists), `None` when
    /// indexes are off. Default: `<root>/.capme/<path below the root>.cidx`.
    pub fn index_for(&self, path: &Path) -> Option<PathBuf> {
        if !self.use_index {
            return None;
        }
        let root = self
            .roots
            .iter()
            .filter(|r| path.starts_with(r))
            .max_by_key(|r| r.as_os_str().len())?;
        let (base, rel) = if root.as_path() == path {
            (
                root.parent().unwrap_or(Path::new(".")).to_path_buf(),
                PathBuf::from(path.file_name()?),
            )
        } else {
            (root.clone(), path.strip_prefix(root).ok()?.to_path_buf())
        };
        let dir = match &self.index_dir {
            Some(d) => d.clone(),
            None => base.join(".capme"),
        };
        Some(index_path(&dir, &rel))
    }

    /// The directory indexes go to for `root` (`--index-dir`, or `<root>/.capme`).
    pub fn index_dir_for(&self, root: &Path) -> PathBuf {
        match &self.index_dir {
            Some(d) => d.clone(),
            None if root.is_file() => root.parent().unwrap_or(Path::new(".")).join(".capme"),
            None => root.join(".capme"),
        }
    }

    /// Count the bytes of capture files done (read, or skipped by pruning or an index) into
    /// `counter` as searches run, for a progress display.
    pub fn with_progress(mut self, counter: Arc<std::sync::atomic::AtomicU64>) -> Store {
        self.progress = Some(counter);
        self
    }

    /// The progress counter set by [`Store::with_progress`].
    pub fn progress_counter(&self) -> Option<&Arc<std::sync::atomic::AtomicU64>> {
        self.progress.as_ref()
    }

    /// The cancel flag set by [`Store::with_cancel`].
    pub fn cancel_flag(&self) -> Option<&Arc<AtomicBool>> {
        self.cancel.as_ref()
    }

    /// The roots of this store.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Lists every capture file of the store with its span (every file is opened: this is
    /// the full listing of `capme files --all` and tests; queries use [`Store::plan`]).
    pub fn list(&self) -> Result<Listing> {
        let cats = self.catalogues();
        let mut w = Walk::run(
            &self.roots,
            &WalkOptions {
                prune: Prune::All,
                probe_named: true,
                record: false,
                catalogues: &cats.0,
                cache: self.listing_cache.as_deref(),
            },
        )?;
        w.warnings.splice(0..0, cats.1);
        let mut order = sorted_order(&w);
        if let Some(keep) = self.sensor_filter(&w)? {
            order.retain(|&i| keep[w.items[i].group as usize]);
        }
        let mut files: Vec<CaptureFile> = order.iter().map(|&i| self.capture_file(&w, i)).collect();
        link_chain_ends(&mut files);
        Ok(Listing {
            files,
            warnings: w.warnings,
        })
    }

    /// Opens the catalogue of each root (when catalogues and indexes are used), with the
    /// warnings of those that could not be read.
    fn catalogues(&self) -> (Vec<Option<CatalogueView>>, Vec<String>) {
        let mut warnings = Vec::new();
        if !(self.use_index && self.use_catalogue) {
            return (Vec::new(), warnings);
        }
        let cats = self
            .roots
            .iter()
            .map(|r| {
                let p = self.catalogue_path(r);
                match CatalogueView::open(&p) {
                    Ok(c) => c,
                    Err(e) => {
                        warnings.push(format!(
                            "{e}; the store is listed instead (`capme index` writes it again)"
                        ));
                        None
                    }
                }
            })
            .collect();
        (cats, warnings)
    }

    /// Where the catalogue of `root` is kept: `catalogue-<hash of the root>.ccat` in its index
    /// directory ([`Store::index_dir_for`]).
    pub fn catalogue_path(&self, root: &Path) -> PathBuf {
        catalogue::catalogue_path(&self.index_dir_for(root), root)
    }

    /// Keep directory listings in `cache` between plans and listings ([`cache`]): a directory
    /// it holds is neither read nor `stat`ed until the cache's owner invalidates it. For a
    /// long-lived process that watches the store (`capme serve` with inotify); the plans are
    /// the same as without it as long as every change is reported to the cache. `capme
    /// index`'s full walk never uses it.
    pub fn with_listing_cache(mut self, cache: Arc<ListingCache>) -> Store {
        self.listing_cache = Some(cache);
        self
    }

    /// The listing cache set by [`Store::with_listing_cache`].
    pub fn listing_cache(&self) -> Option<&Arc<ListingCache>> {
        self.listing_cache.as_ref()
    }

    /// Use the store catalogue written by `capme index` when it is fresh (the default), or
    /// always list the directories.
    pub fn use_catalogue(mut self, yes: bool) -> Store {
        self.use_catalogue = yes;
        self
    }

    /// The capture file of item `i` of a walk.
    fn capture_file(&self, w: &Walk, i: usize) -> CaptureFile {
        let it = &w.items[i];
        let g = &w.groups[it.group as usize];
        let path = w.path(it);
        CaptureFile {
            index: self.index_for(&path),
            path,
            sensor: g.sensor.clone(),
            chain: g.chain.clone(),
            start: it.start,
            start_from_name: name_epoch(Path::new(w.name(it))).is_some(),
            end: None,
            size: match it.state {
                State::Capture(n) => n,
                _ => 0,
            },
        }
    }

    /// The files a window must read, grouped by chain (each group in start order).
    ///
    /// The store is walked names first (module `walk`): in the Security Onion layout only the day
    /// directories the window can need are read, and files named for their start are opened
    /// only when the window needs them (or when one of them turns out not to be a capture
    /// file: it is dropped, its predecessor's span grows to the next file, and the plan is
    /// made again). Directories the store catalogue holds unchanged are not read at all.
    /// Memory: about 100 bytes per file of the directories read, whatever the store holds.
    ///
    /// With [`Store::with_sensors`] only the chains of those sensors are planned (and the
    /// newest start is theirs); a named sensor the store does not have is an invalid-input
    /// error naming `sensor`.
    pub fn plan(&self, window: &TimeWindow) -> Result<Plan> {
        self.plan_pruned(window, Prune::window(window))
    }

    fn plan_pruned(&self, window: &TimeWindow, prune: Prune) -> Result<Plan> {
        let cats = self.catalogues();
        let mut w = Walk::run(
            &self.roots,
            &WalkOptions {
                prune,
                probe_named: false,
                record: false,
                catalogues: &cats.0,
                cache: self.listing_cache.as_deref(),
            },
        )?;
        let mut warnings = cats.1;
        warnings.append(&mut w.warnings);
        if let Some(d) = self.index_dir.as_ref().filter(|_| self.use_index) {
            if !d.is_dir() {
                warnings.push(format!(
                    "index directory {} does not exist: every file is scanned (build it with \
                     `capme index --index-dir {}`)",
                    d.display(),
                    d.display()
                ));
            }
        }
        let mut order = sorted_order(&w);
        // Chains never span sensors, so dropping other sensors' files changes no file's end.
        if let Some(keep) = self.sensor_filter(&w)? {
            order.retain(|&i| keep[w.items[i].group as usize]);
        }
        let chain_of = |w: &Walk, i: usize| w.groups[w.items[i].group as usize].chain.clone();
        let mut ends: Vec<Option<Timestamp>>;
        loop {
            ends = chain_ends(&w, &order);
            let mut dropped = false;
            for (k, &i) in order.iter().enumerate() {
                let it = &w.items[i];
                if it.state != State::Unchecked || !overlaps(it.start, ends[k], window) {
                    continue;
                }
                let path = w.path(it);
                w.items[i].state = match check_capture(&path) {
                    Check::Capture(size) => State::Capture(size),
                    // Kept: opening it will fail with a clear I/O error, as for a file that
                    // could not be read when listed.
                    Check::Unreadable => State::Unreadable,
                    Check::NotCapture => {
                        dropped = true;
                        // Named like a capture file and in the window, but empty or of another
                        // format: say why (the reader's message, at byte 0).
                        if let Err(e @ Error::Format { .. }) = CaptureReader::open(&path) {
                            warnings.push(e.to_string());
                        }
                        State::Dropped
                    }
                };
            }
            if !dropped {
                break;
            }
            order.retain(|&i| w.items[i].state != State::Dropped);
        }
        // The newest start of what was listed (archives use it to tell a complete window): the
        // newest file that really is a capture file.
        let mut by_start: Vec<usize> = order.clone();
        by_start.sort_by_key(|&i| std::cmp::Reverse(w.items[i].start));
        let mut newest_start = None;
        for i in by_start {
            if w.items[i].state == State::Unchecked
                && matches!(check_capture(&w.path(&w.items[i])), Check::NotCapture)
            {
                continue;
            }
            newest_start = Some(w.items[i].start);
            break;
        }
        let mut chains: BTreeMap<Arc<str>, Vec<CaptureFile>> = BTreeMap::new();
        for (k, &i) in order.iter().enumerate() {
            if overlaps(w.items[i].start, ends[k], window) {
                let mut f = self.capture_file(&w, i);
                f.end = ends[k];
                chains.entry(chain_of(&w, i)).or_default().push(f);
            }
        }
        Ok(Plan {
            chains: chains.into_values().collect(),
            warnings,
            newest_start,
            files_in_store: order.len(),
            dirs_read: w.dirs_read,
            dirs_catalogued: w.dirs_catalogued,
            dirs_cached: w.dirs_cached,
        })
    }

    /// The start of the newest capture file of each rotation chain (the files that may still
    /// grow), found as a plan finds its files: in the Security Onion layout only the newest
    /// day directory of each sensor is read.
    pub fn newest_files(&self) -> Result<Vec<CaptureFile>> {
        let plan = self.plan_pruned(&TimeWindow::all(), Prune::latest())?;
        Ok(plan
            .chains
            .into_iter()
            .filter_map(|mut c| c.pop())
            .filter(|f| f.end.is_none())
            .collect())
    }

    /// How many capture files the store holds, counted by name where names carry the start
    /// (no file is opened for that) — for messages about an empty answer; only the files of
    /// the sensors of [`Store::with_sensors`], when set. Reads every directory the catalogue
    /// does not hold unchanged.
    pub fn count_files(&self) -> Result<u64> {
        let cats = self.catalogues();
        let w = Walk::run(
            &self.roots,
            &WalkOptions {
                prune: Prune::All,
                probe_named: false,
                record: false,
                catalogues: &cats.0,
                cache: self.listing_cache.as_deref(),
            },
        )?;
        Ok(match self.sensor_filter(&w)? {
            Some(keep) => w.items.iter().filter(|it| keep[it.group as usize]).count() as u64,
            None => w.items.len() as u64,
        })
    }
}

/// Whether a file starting at `start` and ending at `end` may hold packets of `window` (span
/// widened by [`PLAN_MARGIN_NS`]).
fn overlaps(start: Timestamp, end: Option<Timestamp>, window: &TimeWindow) -> bool {
    let a = start.saturating_add_nanos(-PLAN_MARGIN_NS);
    let b = end.map_or(Timestamp::MAX, |e| e.saturating_add_nanos(PLAN_MARGIN_NS));
    window.overlaps(a, b)
}

/// The walk's items in (chain, start, path) order.
fn sorted_order(w: &Walk) -> Vec<usize> {
    // Ranks: groups by chain name (groups of one chain in several day directories share a
    // rank), directories by path.
    let rank = |n: usize, cmp: &dyn Fn(usize, usize) -> std::cmp::Ordering| {
        let mut o: Vec<usize> = (0..n).collect();
        o.sort_by(|&a, &b| cmp(a, b));
        let mut r = vec![0u32; n];
        let mut k = 0u32;
        for (j, &x) in o.iter().enumerate() {
            if j > 0 && cmp(o[j - 1], x) != std::cmp::Ordering::Equal {
                k += 1;
            }
            r[x] = k;
        }
        r
    };
    let grank = rank(w.groups.len(), &|a, b| {
        w.groups[a].chain.cmp(&w.groups[b].chain)
    });
    let drank = rank(w.dirs.len(), &|a, b| w.dirs[a].cmp(&w.dirs[b]));
    let mut order: Vec<usize> = (0..w.items.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&w.items[a], &w.items[b]);
        (
            grank[x.group as usize],
            x.start,
            drank[x.dir as usize],
            w.name(x),
        )
            .cmp(&(
                grank[y.group as usize],
                y.start,
                drank[y.dir as usize],
                w.name(y),
            ))
    });
    order
}

/// Each item's end (in `order`): the start of the next item of its chain.
fn chain_ends(w: &Walk, order: &[usize]) -> Vec<Option<Timestamp>> {
    let chain = |i: usize| &w.groups[w.items[i].group as usize].chain;
    (0..order.len())
        .map(|k| match order.get(k + 1) {
            Some(&n) if chain(n) == chain(order[k]) => Some(w.items[n].start),
            _ => None,
        })
        .collect()
}

/// Sets each file's end to the start of the next file of its chain (`files` sorted by chain,
/// then start); the last file of a chain has none.
fn link_chain_ends(files: &mut [CaptureFile]) {
    for i in 0..files.len() {
        files[i].end = match files.get(i + 1) {
            Some(n) if n.chain == files[i].chain => Some(n.start),
            _ => None,
        };
    }
}

/// What opening a listed-but-unchecked file found.
enum Check {
    /// A capture file of this size.
    Capture(u64),
    /// Not a capture file (other magic, empty, shorter than a magic) or gone: not listed.
    NotCapture,
    /// Cannot be read (permissions...): kept, so that a query needing it fails clearly.
    Unreadable,
}

fn check_capture(path: &Path) -> Check {
    match probe_capture(path) {
        Ok(Some(len)) => Check::Capture(len),
        Ok(None) => Check::NotCapture,
        Err(_) => Check::Unreadable,
    }
}

/// The one magic sniff of the store: `Ok(Some(size))` when `path` starts with a pcap or
/// pcapng magic, or is gzip, zstd or lz4 compressed and its decompressed bytes start with one;
/// `Ok(None)` when it does not (other bytes, shorter than a magic, or gone), `Err` when it
/// cannot be read. `size` is the size of the file (compressed, when it is).
pub(crate) fn probe_capture(path: &Path) -> std::io::Result<Option<u64>> {
    let mut buf = [0u8; 4];
    let opened = fs::File::open(path).and_then(|mut f| {
        let len = f.metadata()?.len();
        f.read_exact(&mut buf)?;
        if let Some(c) = sniff_compression(&buf) {
            // The first bytes of what it holds (a compressed log is not a capture file).
            buf = [0; 4];
            peek_decompressed(fs::File::open(path)?, c, &mut buf)?;
        }
        Ok(len)
    });
    match opened {
        Ok(len) => Ok(sniff_format(&buf).map(|_| len)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::NotFound
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The files a query reads: one `Vec` per rotation chain, each in start order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Chains of files, each sorted by start.
    pub chains: Vec<Vec<CaptureFile>>,
    /// Warnings from the listing.
    pub warnings: Vec<String>,
    /// Start of the newest file in the whole store, if any.
    pub newest_start: Option<Timestamp>,
    /// How many capture files were listed for this plan: in the Security Onion layout, those
    /// of the day directories the window selected ([`Store::count_files`] counts them all);
    /// only those of the sensors the store is restricted to ([`Store::with_sensors`]).
    pub files_in_store: usize,
    /// Directories read from disk for this plan.
    pub dirs_read: u64,
    /// Directories taken from the store catalogue unchanged.
    pub dirs_catalogued: u64,
    /// Directories taken from the in-memory listing cache ([`Store::with_listing_cache`]),
    /// neither read nor `stat`ed.
    pub dirs_cached: u64,
}

impl Plan {
    /// All planned files, chain by chain.
    pub fn files(&self) -> impl Iterator<Item = &CaptureFile> {
        self.chains.iter().flatten()
    }

    /// Sorted, de-duplicated sensor names of the planned files.
    pub fn sensors(&self) -> Vec<Arc<str>> {
        let mut s: Vec<Arc<str>> = self.files().map(|f| f.sensor.clone()).collect();
        s.sort();
        s.dedup();
        s
    }
}

/// A directory or file name as text, losing nothing: a name that is valid UTF-8 without `%`
/// is itself; otherwise each byte that is not part of valid UTF-8, and each `%`, is written
/// `%XX`. Distinct names stay distinct (two non-UTF-8 sensor directories no longer both
/// become `s\u{FFFD}`), and the archive writes the same escapes ([`crate::sink::archive`]).
pub fn lossless_name(name: &std::ffi::OsStr) -> String {
    let bytes = name.as_encoded_bytes();
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.contains('%') {
            return s.to_owned();
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '%' {
                out.push_str("%25");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The name of a root directory: its last component, or the last component of its resolved
/// path when it has none of its own (`..`, `.`, `dir/..`), so that a root given as `..` is
/// named for the directory it is.
fn root_name(root: &Path) -> String {
    let named = |p: &Path| p.file_name().map(lossless_name);
    named(root)
        .or_else(|| root.canonicalize().ok().and_then(|c| named(&c)))
        .unwrap_or_else(|| lossless_name(root.as_os_str()))
}

/// Sensor name and chain key of a capture file below `root`.
fn sensor_and_chain(root: &Path, path: &Path) -> (Arc<str>, String) {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let comps: Vec<String> = rel
        .parent()
        .map(|p| {
            p.components()
                .map(|c| lossless_name(c.as_os_str()))
                .collect()
        })
        .unwrap_or_default();
    // Security Onion: <sensor>/dailylogs/<day>/file; the sensor may be the root itself.
    let (sensor, sensor_dir): (String, PathBuf) =
        if let Some(i) = comps.iter().position(|c| c == "dailylogs") {
            if i == 0 {
                (root_name(root), root.to_path_buf())
            } else {
                (
                    comps[i - 1].clone(),
                    root.join(
                        rel.parent()
                            .map(|p| p.components().take(i).collect::<PathBuf>())
                            .unwrap_or_default(),
                    ),
                )
            }
        } else if comps.is_empty() {
            (root_name(root), root.to_path_buf())
        } else {
            (
                comps[0].clone(),
                path.parent().unwrap_or(root).to_path_buf(),
            )
        };
    let name = path.file_name().map(lossless_name).unwrap_or_default();
    let chain = format!(
        "{}\u{0}{}",
        lossless_name(sensor_dir.as_os_str()),
        chain_stem(&name)
    );
    (sensor.into(), chain)
}

/// A file name without its compression suffix (`.gz`, `.zst`, `.lz4`...) and then its capture
/// extension (`.pcapng`, `.pcap` or `.cap`), if any.
fn strip_capture_ext(name: &str) -> &str {
    let name = strip_compression_suffix(name);
    [".pcapng", ".pcap", ".cap"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name)
}

/// The name without known capture extensions and trailing digits: the rotation prefix.
fn chain_stem(name: &str) -> &str {
    strip_capture_ext(name).trim_end_matches(|c: char| c.is_ascii_digit())
}

/// The trailing 9–11 digit epoch of a file name (after removing a compression suffix and a
/// capture extension: `snort.log.1700000000.zst`, `cap-1700000000.pcap.gz`).
pub fn name_epoch(path: &Path) -> Option<Timestamp> {
    let n = strip_capture_ext(path.file_name()?.to_str()?);
    let digits = n.len() - n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if !(9..=11).contains(&digits) {
        return None;
    }
    // The epoch must stand on its own, not be the tail of a longer word like "v2x123456789".
    let before = n[..n.len() - digits].chars().last();
    if let Some(c) = before {
        if c.is_ascii_alphanumeric() {
            return None;
        }
    }
    n[n.len() - digits..]
        .parse::<i64>()
        .ok()
        .map(Timestamp::from_secs)
}

/// Timestamp of the first record of a capture file, `None` when it has none.
pub fn first_record_ts(path: &Path) -> Result<Option<Timestamp>> {
    let mut r = CaptureReader::open(path)?;
    Ok(r.next_record()?.map(|rec| rec.ts))
}

/// Timestamp of the latest record of a capture file (reads it to the end), `None` when empty.
/// A corrupt tail stops the read; what was read before counts.
pub fn last_record_ts(path: &Path) -> Result<Option<Timestamp>> {
    let mut r = CaptureReader::open(path)?;
    let mut last: Option<Timestamp> = None;
    loop {
        match r.next_record() {
            Ok(Some(rec)) => last = Some(last.map_or(rec.ts, |l| l.max(rec.ts))),
            Ok(None) => return Ok(last),
            Err(Error::Format { .. }) => return Ok(last),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_from_names() {
        let t = |n: &str| name_epoch(Path::new(n)).map(|t| t.secs());
        assert_eq!(t("snort.log.1700000000"), Some(1_700_000_000));
        assert_eq!(t("so-pcap.1700000000"), Some(1_700_000_000));
        assert_eq!(t("capture-1700000000.pcap"), Some(1_700_000_000));
        assert_eq!(t("x_999999999.pcapng"), Some(999_999_999));
        assert_eq!(t("capture.pcap3"), None);
        assert_eq!(t("capture.pcap"), None);
        assert_eq!(t("v1700000000"), None);
        assert_eq!(t("x.170000000000"), None);
        assert_eq!(t("snort.log.1700000000.zst"), Some(1_700_000_000));
        assert_eq!(t("snort.log.1700000000.gz"), Some(1_700_000_000));
        assert_eq!(t("capture-1700000000.pcap.lz4"), Some(1_700_000_000));
        assert_eq!(t("capture-1700000000.pcapng.zstd"), Some(1_700_000_000));
        assert_eq!(t("capture.pcap.gz"), None);
    }

    #[test]
    fn stems_and_sensors() {
        assert_eq!(chain_stem("snort.log.1700000000"), "snort.log.");
        assert_eq!(chain_stem("cap-1700000000.pcap"), "cap-");
        // A chain's older files compressed and its newest plain are one chain.
        assert_eq!(chain_stem("snort.log.1700000000.zst"), "snort.log.");
        assert_eq!(chain_stem("cap-1700000000.pcap.gz"), "cap-");
        let root = Path::new("/nsm/sensor_data");
        let (s, c1) = sensor_and_chain(
            root,
            Path::new("/nsm/sensor_data/s1-eth1/dailylogs/2024-01-01/snort.log.1"),
        );
        let (_, c2) = sensor_and_chain(
            root,
            Path::new("/nsm/sensor_data/s1-eth1/dailylogs/2024-01-02/snort.log.2"),
        );
        assert_eq!(&*s, "s1-eth1");
        assert_eq!(c1, c2, "day directories of one sensor form one chain");
        let (s, _) = sensor_and_chain(
            Path::new("/data/s2"),
            Path::new("/data/s2/dailylogs/2024-01-01/snort.log.1"),
        );
        assert_eq!(&*s, "s2");
        let (s, _) = sensor_and_chain(Path::new("/pcaps"), Path::new("/pcaps/a.pcap"));
        assert_eq!(&*s, "pcaps");
    }

    #[test]
    fn missing_root_is_an_error() {
        let e = Store::open(["/definitely/not/here"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/definitely/not/here"), "{e}");
    }

    #[test]
    fn sensor_names_lose_nothing() {
        use std::os::unix::ffi::OsStrExt;
        let n = |b: &[u8]| lossless_name(std::ffi::OsStr::from_bytes(b));
        assert_eq!(n(b"sensor1-eth1"), "sensor1-eth1");
        assert_eq!(n(b"s\xff"), "s%FF");
        assert_eq!(n(b"s\xfe"), "s%FE");
        assert_eq!(n(b"50%\xff"), "50%25%FF");
        assert_eq!(n(b"50%"), "50%25");
        assert_eq!(n("capteur-é".as_bytes()), "capteur-é");
        let root = Path::new("/data");
        let (a, ca) = sensor_and_chain(
            root,
            Path::new(std::ffi::OsStr::from_bytes(b"/data/s\xff/x.pcap")),
        );
        let (b, cb) = sensor_and_chain(
            root,
            Path::new(std::ffi::OsStr::from_bytes(b"/data/s\xfe/x.pcap")),
        );
        assert_ne!(a, b);
        assert_ne!(ca, cb, "distinct chains");
    }

    #[test]
    fn a_root_without_a_name_is_named_for_what_it_resolves_to() {
        let tmp = tempfile::tempdir().unwrap();
        let s1 = tmp.path().join("s1");
        std::fs::create_dir_all(s1.join("dailylogs")).unwrap();
        let root = s1.join("dailylogs").join("..");
        let (s, _) = sensor_and_chain(&root, &root.join("dailylogs/2024-01-01/snort.log.1"));
        assert_eq!(&*s, "s1");
    }

    #[test]
    fn hidden_directories_are_warned_about_once_each_but_not_capme() {
        let tmp = tempfile::tempdir().unwrap();
        for d in [".capme/x", ".old/y", "s1/.snap", "s1/dailylogs"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        std::fs::write(tmp.path().join("s1/.hidden-file"), b"x").unwrap();
        let l = Store::open([tmp.path()]).unwrap().list().unwrap();
        let hidden: Vec<&String> = l.warnings.iter().filter(|w| w.contains("hidden")).collect();
        assert_eq!(hidden.len(), 2, "{:?}", l.warnings);
        assert!(
            hidden.iter().any(|w| w.contains(".old")) && hidden.iter().any(|w| w.contains(".snap"))
        );
    }
}

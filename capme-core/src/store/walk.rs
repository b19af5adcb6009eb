//! The names-first walk of a store's roots.
//!
//! One `read_dir` per directory (or its entries from a fresh [catalogue](super::catalogue)),
//! file types from the directory entries: a regular file whose name carries its start
//! (`snort.log.<epoch>`) is neither `stat`ed nor opened here; only symbolic links, directories
//! and files without a time in their name are looked at. In the Security Onion layout
//! (`<sensor>/dailylogs/YYYY-MM-DD/`) a walk for a time window reads only the day directories
//! the window can need ([`Walk::select_days`]).

use super::cache::{Listed, ListingCache};
use super::catalogue::{self, CatDir, CatEntry, CatalogueView, DirStamp, EntryKind};
use super::{first_record_ts, name_epoch, probe_capture, sensor_and_chain, PLAN_MARGIN_NS};
use crate::error::{Error, Result};
use crate::time::{TimeWindow, Timestamp};
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which day directories of a `dailylogs` directory a walk reads.
#[derive(Debug, Clone, Copy)]
pub(super) enum Prune {
    /// Every directory.
    All,
    /// Those a window can need: files starting up to [`PLAN_MARGIN_NS`] around it, and the
    /// file of each rotation chain that starts before it.
    Window { lo: Timestamp, hi: Timestamp },
}

impl Prune {
    /// The pruning for `window`.
    pub(super) fn window(window: &TimeWindow) -> Prune {
        Prune::Window {
            lo: window.start.saturating_add_nanos(-PLAN_MARGIN_NS),
            hi: window.end.saturating_add_nanos(PLAN_MARGIN_NS),
        }
    }

    /// The pruning that finds the newest file of each chain (for the newest packet of the store).
    pub(super) fn latest() -> Prune {
        Prune::Window {
            lo: Timestamp::MAX,
            hi: Timestamp::MAX,
        }
    }
}

/// What is known of a listed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Named for its start, not opened yet: not yet known to be a capture file.
    Unchecked,
    /// A capture file of this size.
    Capture(u64),
    /// Could not be read; kept so that a query needing it fails clearly.
    Unreadable,
    /// Checked by a plan: not a capture file after all.
    Dropped,
}

/// One listed file.
#[derive(Debug)]
pub(super) struct Item {
    /// Index into [`Walk::groups`].
    pub group: u32,
    /// Index into [`Walk::dirs`].
    pub dir: u32,
    /// File name (empty when recording: [`Walk::name`] finds it in the directory's record).
    pub name: Box<OsStr>,
    /// Start: name epoch or first record.
    pub start: Timestamp,
    /// What is known of it.
    pub state: State,
    /// Where it is in [`Walk::records`] (`(directory, entry)`), when recording.
    pub rec: Option<(u32, u32)>,
}

/// A sensor and rotation chain.
#[derive(Debug)]
pub(super) struct Group {
    pub sensor: Arc<str>,
    pub chain: Arc<str>,
}

/// The result of walking a store's roots.
#[derive(Debug, Default)]
pub(super) struct Walk {
    /// Listed files, in walk order.
    pub items: Vec<Item>,
    /// Sensors and chains of the items.
    pub groups: Vec<Group>,
    /// Directories of the items.
    pub dirs: Vec<PathBuf>,
    /// Problems met.
    pub warnings: Vec<String>,
    /// When recording: every directory walked, per root (index into the roots), for the
    /// catalogue.
    pub records: Vec<(usize, CatDir)>,
    /// Directories read from disk (not from a catalogue).
    pub dirs_read: u64,
    /// Directories taken from a catalogue.
    pub dirs_catalogued: u64,
    /// Directories taken from the in-memory listing cache (neither read nor `stat`ed).
    pub dirs_cached: u64,
}

/// How to walk.
pub(super) struct WalkOptions<'a> {
    pub prune: Prune,
    /// Open files named for their start too (a full listing), instead of leaving them unchecked.
    pub probe_named: bool,
    /// Record every directory for the catalogue (and `stat` every file for its size and time).
    pub record: bool,
    /// The catalogue of each root (same order as the roots), when one is used.
    pub catalogues: &'a [Option<CatalogueView>],
    /// The in-memory listing cache, when one is used (never when recording).
    pub cache: Option<&'a ListingCache>,
}

/// The walk of one root.
struct RootWalk<'w, 'o> {
    w: &'w mut Walk,
    o: &'o WalkOptions<'o>,
    root: &'o Path,
    root_i: usize,
    group_ids: HashMap<(u32, String), u32>,
    last_group: Option<(u32, String, u32)>,
    seen: HashSet<(u64, u64)>,
    catalogue_failed: bool,
    /// The listing cache, when this walk may use it.
    cache: Option<&'o ListingCache>,
    /// Symbolic links to directories passed on the way to the directory being walked
    /// (directories reached through one are not kept in the cache).
    via_link: u32,
}

impl Walk {
    /// Walks every root.
    pub(super) fn run(roots: &[PathBuf], o: &WalkOptions) -> Result<Walk> {
        let mut w = Walk::default();
        let cache = o.cache.filter(|c| !o.record && c.begin());
        for (i, root) in roots.iter().enumerate() {
            let mut rw = RootWalk {
                w: &mut w,
                o,
                root,
                root_i: i,
                group_ids: HashMap::new(),
                last_group: None,
                seen: HashSet::new(),
                catalogue_failed: false,
                cache,
                via_link: 0,
            };
            rw.root()?;
        }
        Ok(w)
    }

    /// The full path of an item.
    pub(super) fn path(&self, it: &Item) -> PathBuf {
        self.dirs[it.dir as usize].join(self.name(it))
    }

    /// The file name of an item (kept once: in its directory's record when recording).
    pub(super) fn name<'a>(&'a self, it: &'a Item) -> &'a OsStr {
        match it.rec {
            Some((r, e)) => &self.records[r as usize].1.entries[e as usize].name,
            None => &it.name,
        }
    }
}

impl RootWalk<'_, '_> {
    fn root(&mut self) -> Result<()> {
        if self.cache.is_some_and(|c| c.get(self.root).is_some()) {
            // A root directory held unchanged: not even `stat`ed.
            return self.dir(self.root.to_path_buf(), PathBuf::new(), None);
        }
        let meta = fs::metadata(self.root).map_err(|e| Error::io(self.root, e))?;
        if meta.is_file() {
            let dir = self.root.parent().unwrap_or(Path::new("")).to_path_buf();
            let name = self.root.file_name().unwrap_or_default().to_os_string();
            let d = self.dir_index(dir);
            self.file(d, &name, None, true, None);
            return Ok(());
        }
        self.dir(self.root.to_path_buf(), PathBuf::new(), Some(meta))
    }

    fn dir_index(&mut self, dir: PathBuf) -> u32 {
        self.w.dirs.push(dir);
        (self.w.dirs.len() - 1) as u32
    }

    /// The entries of a directory: from the catalogue when it holds the directory unchanged,
    /// else read. `None` (with a warning, or an error for the root) when it cannot be read.
    fn entries(
        &mut self,
        path: &Path,
        rel: &Path,
        stamp: DirStamp,
    ) -> Result<Option<(Vec<CatEntry>, bool)>> {
        if let Some(Some(cat)) = self.o.catalogues.get(self.root_i) {
            if !self.catalogue_failed {
                match cat.fresh_entries(rel, stamp) {
                    Ok(Some(e)) => {
                        self.w.dirs_catalogued += 1;
                        return Ok(Some((e, true)));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.catalogue_failed = true;
                        self.w.warnings.push(format!(
                            "{e}; the store is listed instead (`capme index` writes it again)"
                        ));
                    }
                }
            }
        }
        let rd = match fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) => return self.dir_failed(path, e).map(|()| None),
        };
        self.w.dirs_read += 1;
        let mut out = Vec::new();
        for ent in rd {
            let ent = match ent {
                Ok(ent) => ent,
                Err(e) => return self.dir_failed(path, e).map(|()| None),
            };
            let kind = match ent.file_type() {
                Ok(t) => EntryKind::of(&t),
                Err(_) => EntryKind::Symlink, // unknown: resolved by a stat below
            };
            out.push(CatEntry {
                name: ent.file_name(),
                kind,
                flags: 0,
                start: None,
                size: 0,
                mtime_ns: 0,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some((out, false)))
    }

    fn dir_failed(&mut self, path: &Path, e: std::io::Error) -> Result<()> {
        if path == self.root {
            return Err(Error::Store {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
        // A directory deleted by retention while we walk is not a problem.
        if e.kind() != std::io::ErrorKind::NotFound {
            self.w
                .warnings
                .push(format!("skipped directory {}: {e}", path.display()));
        }
        Ok(())
    }

    /// Walks directory `path` (`rel` below the root).
    fn dir(&mut self, path: PathBuf, rel: PathBuf, meta: Option<fs::Metadata>) -> Result<()> {
        let cache = self.cache.filter(|_| self.via_link == 0);
        if let Some(l) = cache.and_then(|c| c.get(&path)) {
            self.w.dirs_cached += 1;
            #[cfg(unix)]
            if !self.seen.insert((l.stamp.dev, l.stamp.ino)) {
                return Ok(());
            }
            return self.dir_entries(path, rel, l.stamp, l.entries.clone(), false);
        }
        // Reserved before the `stat` and the read: a change reported meanwhile drops the
        // reservation, so a listing read across a change is not kept.
        let token = cache.map(|c| c.reserve(&path));
        let cancel = |path: &Path| {
            if let (Some(c), Some(t)) = (cache, token) {
                c.cancel(path, t);
            }
        };
        let meta = match meta {
            Some(m) => m,
            None => match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    cancel(&path);
                    return self.dir_failed(&path, e);
                }
            },
        };
        let stamp = DirStamp::of(&meta);
        #[cfg(unix)]
        if !self.seen.insert((stamp.dev, stamp.ino)) {
            cancel(&path);
            return Ok(()); // a link to a directory already walked, or a loop
        }
        let Some((entries, from_catalogue)) = self.entries(&path, &rel, stamp)? else {
            cancel(&path);
            return Ok(());
        };
        if let (Some(c), Some(t)) = (cache, token) {
            c.fill(
                &path,
                t,
                Listed {
                    stamp,
                    entries: entries
                        .iter()
                        .map(|e| CatEntry {
                            name: e.name.clone(),
                            kind: e.kind,
                            flags: 0,
                            start: None,
                            size: 0,
                            mtime_ns: 0,
                        })
                        .collect(),
                },
            );
        }
        self.dir_entries(path, rel, stamp, entries, from_catalogue)
    }

    /// Walks the entries of directory `path` (`rel` below the root).
    fn dir_entries(
        &mut self,
        path: PathBuf,
        rel: PathBuf,
        stamp: DirStamp,
        mut entries: Vec<CatEntry>,
        from_catalogue: bool,
    ) -> Result<()> {
        let d = self.dir_index(path.clone());
        let rec = self.o.record.then(|| {
            self.w.records.push((
                self.root_i,
                CatDir {
                    rel: rel.clone(),
                    dev: stamp.dev,
                    ino: stamp.ino,
                    mtime_ns: stamp.mtime_ns,
                    entries: Vec::new(),
                },
            ));
            (self.w.records.len() - 1) as u32
        });
        let dailylogs = path.file_name() == Some(OsStr::new("dailylogs"));
        let mut days: Vec<(i64, OsString, bool)> = Vec::new();
        for mut e in entries.drain(..) {
            let name = e.name.clone();
            let full = path.join(&name);
            let hidden = name.as_encoded_bytes().starts_with(b".");
            let mut kind = e.kind;
            let mut link_meta = None;
            if kind == EntryKind::Symlink && !hidden {
                match fs::metadata(&full) {
                    Ok(m) => {
                        kind = EntryKind::of(&m.file_type());
                        link_meta = Some(m);
                    }
                    // Dangling: skipped silently.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => kind = EntryKind::Other,
                    // A loop or a link that cannot be followed: listed as a file, so that
                    // opening it reports why.
                    Err(_) => kind = EntryKind::File,
                }
            }
            let rec_entry = rec.map(|r| {
                let list = &mut self.w.records[r as usize].1.entries;
                list.push(CatEntry {
                    flags: 0,
                    start: None,
                    size: 0,
                    mtime_ns: 0,
                    ..e.clone()
                });
                (r, (list.len() - 1) as u32)
            });
            if hidden {
                // capme's own index directory is expected; any other hidden directory is named
                // in the listing's warnings (its files are not searched).
                if kind == EntryKind::Dir && name != ".capme" {
                    self.w.warnings.push(format!(
                        "skipped hidden directory {} (directories whose name starts with `.` \
                         are not searched)",
                        full.display()
                    ));
                }
                continue;
            }
            match kind {
                EntryKind::Dir => {
                    let day = match self.o.prune {
                        Prune::Window { .. } if dailylogs => day_number(&name),
                        _ => None,
                    };
                    let link = e.kind == EntryKind::Symlink;
                    match day {
                        Some(n) => days.push((n, name, link)),
                        None => {
                            self.via_link += u32::from(link);
                            let r = self.dir(full, rel.join(&name), link_meta);
                            self.via_link -= u32::from(link);
                            r?
                        }
                    }
                }
                EntryKind::File => {
                    let symlink = e.kind == EntryKind::Symlink;
                    e.kind = kind;
                    let cached = from_catalogue.then_some(&e);
                    self.file(d, &name, cached, symlink, rec_entry);
                }
                EntryKind::Other | EntryKind::Symlink => {
                    // A FIFO, socket or device named like a capture file is never opened (a
                    // FIFO would block the search): skipped, with a warning.
                    if e.kind != EntryKind::Symlink && name_epoch(&full).is_some() {
                        self.w.warnings.push(format!(
                            "skipped {}: not a regular file (a FIFO, socket or device)",
                            full.display()
                        ));
                    }
                }
            }
        }
        if !days.is_empty() {
            self.select_days(&path, &rel, days)?;
        }
        Ok(())
    }

    /// Walks the day directories (`YYYY-MM-DD`) of a `dailylogs` directory that a window can
    /// need. Day directories are in date order, and a file lives in the directory of the day it
    /// starts (in any time zone: dates are only used as the order of the directories and for a
    /// first guess). Starting from the newest directory dated no later than the window's
    /// start, earlier directories are read until every rotation chain seen has a file starting
    /// before the window (less the margin), and later ones until one holds a file starting
    /// after it. A chain that wrote no file in any directory read is not seen: the Security
    /// Onion sensor writes one chain per sensor directory, so that is not a loss there.
    fn select_days(
        &mut self,
        path: &Path,
        rel: &Path,
        mut days: Vec<(i64, OsString, bool)>,
    ) -> Result<()> {
        let Prune::Window { lo, hi } = self.o.prune else {
            unreachable!("days are set aside only when pruning")
        };
        days.sort();
        let first_item = self.w.items.len();
        let lo_day = if lo == Timestamp::MAX {
            i64::MAX
        } else {
            lo.saturating_add_nanos(PLAN_MARGIN_NS)
                .secs()
                .div_euclid(86_400)
        };
        let guess = days
            .partition_point(|(n, _, _)| *n <= lo_day)
            .saturating_sub(1);
        let (mut a, mut b) = (guess, guess);
        self.day(path, rel, &days[guess])?;
        while a > 0 && self.chain_lacks_start_before(first_item, lo) {
            a -= 1;
            self.day(path, rel, &days[a])?;
        }
        while b + 1 < days.len() && !self.w.items[first_item..].iter().any(|it| it.start > hi) {
            b += 1;
            self.day(path, rel, &days[b])?;
        }
        Ok(())
    }

    /// Walks day directory `(_, name, is a symbolic link)` of `path`.
    fn day(
        &mut self,
        path: &Path,
        rel: &Path,
        (_, name, link): &(i64, OsString, bool),
    ) -> Result<()> {
        self.via_link += u32::from(*link);
        let r = self.dir(path.join(name), rel.join(name), None);
        self.via_link -= u32::from(*link);
        r
    }

    /// True when no item was listed since `first`, or one of their chains has none starting
    /// before `lo`.
    fn chain_lacks_start_before(&self, first: usize, lo: Timestamp) -> bool {
        let items = &self.w.items[first..];
        if items.is_empty() {
            return true;
        }
        let mut has: HashMap<u32, bool> = HashMap::new();
        for it in items {
            *has.entry(it.group).or_default() |= it.start < lo;
        }
        has.values().any(|h| !h)
    }

    /// The group of a file in directory `d`.
    fn group(&mut self, d: u32, name: &str) -> u32 {
        let stem = super::chain_stem(name);
        // Names come sorted, so a directory's files of one chain come one after another.
        if let Some((ld, ls, g)) = &self.last_group {
            if *ld == d && ls == stem {
                return *g;
            }
        }
        let stem = stem.to_owned();
        if let Some(&g) = self.group_ids.get(&(d, stem.clone())) {
            self.last_group = Some((d, stem, g));
            return g;
        }
        let path = self.w.dirs[d as usize].join(name);
        let (sensor, chain) = sensor_and_chain(self.root, &path);
        self.w.groups.push(Group {
            sensor,
            chain: chain.into(),
        });
        let g = (self.w.groups.len() - 1) as u32;
        self.group_ids.insert((d, stem.clone()), g);
        self.last_group = Some((d, stem, g));
        g
    }

    /// Lists a regular file of directory `d` (`cached`: its catalogue entry, when the
    /// directory came from the catalogue).
    fn file(
        &mut self,
        d: u32,
        name: &OsStr,
        cached: Option<&CatEntry>,
        symlink: bool,
        rec: Option<(u32, u32)>,
    ) {
        // Per file of a month: no path is built and nothing allocated unless needed.
        let epoch = name_epoch(Path::new(name));
        let lossless: std::borrow::Cow<str> = match name.to_str() {
            Some(s) if !s.contains('%') => s.into(),
            _ => super::lossless_name(name).into(),
        };
        if let (Some(start), false, false) = (epoch, symlink, self.o.probe_named) {
            let mut state = State::Unchecked;
            let trusted = cached.filter(|c| {
                c.flags & catalogue::FLAG_OPEN == 0 && c.start == Some(start) && c.mtime_ns != 0
            });
            if let (Some((r, i)), Some(c)) = (rec, trusted) {
                // Recording, from an unchanged directory, a file that had a successor in its
                // chain when catalogued: a closed file, taken as it was (not even `stat`ed).
                let e = &mut self.w.records[r as usize].1.entries[i as usize];
                e.start = c.start;
                e.size = c.size;
                e.mtime_ns = c.mtime_ns;
                e.flags = c.flags;
                if c.flags & catalogue::FLAG_NOT_CAPTURE != 0 {
                    return;
                }
                if c.flags & catalogue::FLAG_CAPTURE != 0 {
                    state = State::Capture(c.size);
                }
            } else if let Some((r, i)) = rec {
                // Recording: the file's size and time, and what the catalogue knew of it.
                let meta = match fs::metadata(self.w.dirs[d as usize].join(name)) {
                    Ok(m) => m,
                    Err(_) => return, // deleted since the directory was read
                };
                let e = &mut self.w.records[r as usize].1.entries[i as usize];
                e.start = Some(start);
                e.size = meta.len();
                e.mtime_ns = catalogue::mtime_ns(&meta);
                if let Some(c) = cached.filter(|c| c.size == e.size && c.mtime_ns == e.mtime_ns) {
                    e.flags = c.flags & !catalogue::FLAG_OPEN;
                    if c.flags & catalogue::FLAG_CAPTURE != 0 {
                        state = State::Capture(e.size);
                    }
                    if c.flags & catalogue::FLAG_NOT_CAPTURE != 0 {
                        return;
                    }
                }
            }
            self.push(d, name, &lossless, start, state, rec);
            return;
        }
        // Not named for its start (or a link, or a full listing): open it.
        let path = self.w.dirs[d as usize].join(name);
        let (start, size) = match probe_capture(&path) {
            Ok(Some(size)) => match epoch {
                Some(t) => (t, size),
                None => match first_record_ts(&path) {
                    Ok(Some(t)) => (t, size),
                    Ok(None) => return, // no record yet: nothing to find in it
                    Err(e) => {
                        self.w
                            .warnings
                            .push(format!("skipped {}: {e}", path.display()));
                        return;
                    }
                },
            },
            Ok(None) => {
                if let Some((r, i)) = rec {
                    self.w.records[r as usize].1.entries[i as usize].flags =
                        catalogue::FLAG_NOT_CAPTURE;
                }
                return;
            }
            Err(e) => {
                // Named for its start: it takes its place in its chain, so that a window
                // needing it fails with a clear I/O error when it is opened. Without a time in
                // its name it cannot be placed: a warning of every listing.
                match epoch {
                    Some(start) => self.push(d, name, &lossless, start, State::Unreadable, None),
                    None => self
                        .w
                        .warnings
                        .push(format!("skipped {}: {e}", path.display())),
                }
                return;
            }
        };
        if let Some((r, i)) = rec {
            let e = &mut self.w.records[r as usize].1.entries[i as usize];
            e.start = Some(start);
            e.size = size;
            e.flags = catalogue::FLAG_CAPTURE;
            e.mtime_ns = fs::metadata(&path).map_or(0, |m| catalogue::mtime_ns(&m));
        }
        self.push(d, name, &lossless, start, State::Capture(size), rec);
    }

    /// Lists a file (its name kept once: in its directory's record when recording).
    fn push(
        &mut self,
        d: u32,
        name: &OsStr,
        lossless: &str,
        start: Timestamp,
        state: State,
        rec: Option<(u32, u32)>,
    ) {
        let group = self.group(d, lossless);
        self.w.items.push(Item {
            group,
            dir: d,
            name: if rec.is_some() {
                Box::default()
            } else {
                name.into()
            },
            start,
            state,
            rec,
        });
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` directory name.
fn day_number(name: &OsStr) -> Option<i64> {
    let s = name.to_str()?;
    if s.len() != 10 {
        return None;
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_names() {
        assert_eq!(day_number(OsStr::new("1970-01-02")), Some(1));
        assert_eq!(day_number(OsStr::new("2024-06-15")), Some(19889));
        assert_eq!(day_number(OsStr::new("2024-6-15")), None);
        assert_eq!(day_number(OsStr::new("2024-02-30")), None);
        assert_eq!(day_number(OsStr::new("latest")), None);
    }
}

//! Keeping a store's indexes: building every missing or stale one, removing orphans.

use super::format::FileIndex;
use super::{Freshness, IndexView, EXTENSION};
use crate::error::{Error, Result};
use crate::store::{probe_capture, Outcome, Store, SurveyFile};
use rayon::prelude::*;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use walkdir::WalkDir;

/// What [`build_indexes`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IndexReport {
    /// Indexes written.
    pub built: u64,
    /// Files whose index was already fresh.
    pub fresh: u64,
    /// Files not indexed (unreadable, or too large a record list), scanned at query time.
    pub skipped: u64,
    /// Capture bytes read to build.
    pub capture_bytes: u64,
    /// Bytes of the indexes written.
    pub index_bytes: u64,
    /// Indexes removed because their capture file is gone.
    pub removed: u64,
    /// Directories read from disk by this pass.
    pub dirs_read: u64,
    /// Directories taken unchanged from the store catalogue (not read again).
    pub dirs_catalogued: u64,
    /// Problems met (the file is then scanned at query time).
    pub warnings: Vec<String>,
}

/// Counts of a running [`build_indexes_with_progress`], for a progress display.
#[derive(Debug, Default)]
pub struct IndexProgress {
    /// Files of the store (known once the store is surveyed).
    pub total: AtomicU64,
    /// Files done (fresh, built or skipped).
    pub done: AtomicU64,
}

/// Indexes one capture file unless its index is fresh.
fn index_one(sf: &SurveyFile, rep: &mut IndexReport) -> Result<Outcome> {
    let f = &sf.file;
    let Some(ip) = &f.index else {
        return Ok(Outcome::NotIndexed);
    };
    if !sf.known_capture {
        match probe_capture(&f.path) {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(Outcome::NotCapture),
            Err(e) => {
                rep.warnings.push(format!("{}: {e}", f.path.display()));
                rep.skipped += 1;
                return Ok(Outcome::Gone);
            }
        }
    }
    let meta = match fs::metadata(&f.path) {
        Ok(m) => m,
        Err(e) => {
            // Deleted by retention since the survey: not a problem.
            if e.kind() != std::io::ErrorKind::NotFound {
                rep.warnings.push(format!("{}: {e}", f.path.display()));
                rep.skipped += 1;
            }
            return Ok(Outcome::Gone);
        }
    };
    if let Ok(Some(old)) = IndexView::open(ip) {
        if old.freshness(&meta) == Freshness::Fresh {
            rep.fresh += 1;
            return Ok(Outcome::Indexed);
        }
    }
    match FileIndex::build_reporting(&f.path, &mut rep.warnings) {
        Ok(Some(idx)) => {
            rep.capture_bytes += idx.indexed_len;
            rep.index_bytes += idx.to_bytes().len() as u64;
            idx.save(ip)?;
            rep.built += 1;
            Ok(Outcome::Indexed)
        }
        Ok(None) => {
            rep.skipped += 1;
            Ok(Outcome::NotIndexed)
        }
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(Outcome::Gone)
        }
        Err(e) => {
            rep.warnings.push(e.to_string());
            rep.skipped += 1;
            Ok(Outcome::NotIndexed)
        }
    }
}

/// Builds (or refreshes) the flow index of every capture file of the store whose index is
/// missing, stale or corrupt. A file still being written is indexed up to its last whole
/// record; queries scan the rest. Files are indexed in parallel on [`Store::threads`]
/// threads (a rayon pool of that size); then the indexes of deleted capture files are
/// removed, and the store catalogue is written ([`crate::store::catalogue`]).
///
/// Incremental: directories the previous catalogue holds unchanged are not read again, and
/// their closed files (those that had a successor in their chain) whose index was fresh are
/// not even `stat`ed; the newest file of each chain is always checked, since it may grow.
pub fn build_indexes(store: &Store) -> Result<IndexReport> {
    build_indexes_with_progress(store, None)
}

/// [`build_indexes`], counting files into `progress` as they are done.
pub fn build_indexes_with_progress(
    store: &Store,
    progress: Option<&IndexProgress>,
) -> Result<IndexReport> {
    let mut survey = store.survey()?;
    let n = survey.len();
    if let Some(p) = progress {
        p.total.store(n as u64, Ordering::Relaxed);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(store.threads())
        .build()
        .map_err(|e| Error::io(".", std::io::Error::other(e)))?;
    let sv = &survey;
    // One byte per file for its outcome (a month is 240,000 files).
    let outcomes: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(u8::MAX)).collect();
    let mut rep = pool.install(|| {
        (0..n)
            .into_par_iter()
            .with_min_len(16)
            .try_fold(IndexReport::default, |mut rep, k| -> Result<_> {
                let out = if sv.settled(k) {
                    rep.fresh += 1;
                    Outcome::Indexed
                } else {
                    index_one(&sv.get(store, k), &mut rep)?
                };
                outcomes[k].store(out as u8, Ordering::Relaxed);
                if let Some(p) = progress {
                    p.done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(rep)
            })
            .try_reduce(IndexReport::default, |a, b| Ok(a.add(b)))
    })?;
    for (k, out) in outcomes.into_iter().enumerate() {
        if let Some(out) = Outcome::from_u8(out.into_inner()) {
            survey.set(k, out);
        }
    }
    rep.warnings.splice(0..0, survey.warnings.iter().cloned());
    (rep.dirs_read, rep.dirs_catalogued) = survey.dirs();
    for (r, gone) in survey.deleted(store.roots()) {
        let root = &store.roots()[r];
        rep.removed += match gone {
            Some(files) => files
                .iter()
                .map(|rel| root.join(rel))
                .filter(|p| !p.exists())
                .filter_map(|p| store.index_for(&p))
                .filter(|ip| fs::remove_file(ip).is_ok())
                .count() as u64,
            None => remove_orphans_of(store, root),
        };
    }
    survey.save_catalogues(store)?;
    Ok(rep)
}

impl IndexReport {
    /// The counts of both reports, `self`'s warnings first.
    fn add(mut self, o: IndexReport) -> IndexReport {
        self.built += o.built;
        self.fresh += o.fresh;
        self.skipped += o.skipped;
        self.capture_bytes += o.capture_bytes;
        self.index_bytes += o.index_bytes;
        self.removed += o.removed;
        self.warnings.extend(o.warnings);
        self
    }
}

/// Deletes index files whose capture file no longer exists (retention removed it), looking
/// at every index file of every root.
pub fn remove_orphan_indexes(store: &Store) -> Result<u64> {
    Ok(store
        .roots()
        .iter()
        .map(|root| remove_orphans_of(store, root))
        .sum())
}

/// Deletes the orphaned index files of one root (a walk of its whole index directory).
fn remove_orphans_of(store: &Store, root: &Path) -> u64 {
    let mut removed = 0;
    let dir = store.index_dir_for(root);
    let base = if root.is_file() {
        root.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        root.to_path_buf()
    };
    for e in WalkDir::new(&dir).into_iter().flatten() {
        let p = e.path();
        if !e.file_type().is_file() || p.extension().is_none_or(|x| x != EXTENSION) {
            continue;
        }
        let Ok(rel) = p.strip_prefix(&dir) else {
            continue;
        };
        let capture = rel.with_extension("");
        let gone = !base.join(&capture).exists()
            && !store.roots().iter().any(|r| r.join(&capture).exists());
        if gone && fs::remove_file(p).is_ok() {
            removed += 1;
        }
    }
    removed
}

//! Keeping a store's indexes: building every missing or stale one, removing orphans.

use super::format::FileIndex;
use super::{Freshness, IndexView, EXTENSION};
use crate::error::{Error, Result};
use crate::store::{CaptureFile, Store};
use rayon::prelude::*;
use std::fs;
use std::path::Path;
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
    /// Problems met (the file is then scanned at query time).
    pub warnings: Vec<String>,
}

/// Indexes one capture file unless its index is fresh.
fn index_one(f: &CaptureFile, rep: &mut IndexReport) -> Result<()> {
    let Some(ip) = &f.index else { return Ok(()) };
    let meta = match fs::metadata(&f.path) {
        Ok(m) => m,
        Err(e) => {
            rep.warnings.push(format!("{}: {e}", f.path.display()));
            rep.skipped += 1;
            return Ok(());
        }
    };
    if let Ok(Some(old)) = IndexView::open(ip) {
        if old.freshness(&meta) == Freshness::Fresh {
            rep.fresh += 1;
            return Ok(());
        }
    }
    match FileIndex::build_reporting(&f.path, &mut rep.warnings) {
        Ok(Some(idx)) => {
            rep.capture_bytes += idx.indexed_len;
            rep.index_bytes += idx.to_bytes().len() as u64;
            idx.save(ip)?;
            rep.built += 1;
        }
        Ok(None) => rep.skipped += 1,
        Err(e) => {
            rep.warnings.push(e.to_string());
            rep.skipped += 1;
        }
    }
    Ok(())
}

/// Builds (or refreshes) the flow index of every capture file of the store whose index is
/// missing, stale or corrupt. A file still being written is indexed up to its last whole
/// record; queries scan the rest. Files are indexed in parallel on [`Store::threads`]
/// threads (a rayon pool of that size); then the indexes of deleted capture files are
/// removed ([`remove_orphan_indexes`]).
pub fn build_indexes(store: &Store) -> Result<IndexReport> {
    let listing = store.list()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(store.threads())
        .build()
        .map_err(|e| Error::io(".", std::io::Error::other(e)))?;
    let mut rep = pool.install(|| {
        listing
            .files
            .par_iter()
            .map(|f| {
                let mut rep = IndexReport::default();
                index_one(f, &mut rep).map(|()| rep)
            })
            .try_reduce(IndexReport::default, |a, b| Ok(a.add(b)))
    })?;
    rep.warnings.splice(0..0, listing.warnings.iter().cloned());
    rep.removed = remove_orphan_indexes(store)?;
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

/// Deletes index files whose capture file no longer exists (retention removed it).
pub fn remove_orphan_indexes(store: &Store) -> Result<u64> {
    let mut removed = 0;
    for root in store.roots() {
        let dir = store.index_dir_for(root);
        let base = if root.is_file() {
            root.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            root.clone()
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
    }
    Ok(removed)
}

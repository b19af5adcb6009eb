//! A survey: every file of the store as `capme index` needs them, and the store catalogue
//! written from it.

use super::catalogue::{self, CatDir, CatalogueView, FLAG_CAPTURE, FLAG_INDEXED};
use super::walk::{Prune, State, Walk, WalkOptions};
use super::{chain_ends, sorted_order, CaptureFile, Store};
use crate::error::Result;
use crate::time::Timestamp;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Every file of a store, in (chain, start, path) order, with what the store catalogue knew of
/// each; [`Survey::set`] records what indexing found, [`Survey::save_catalogues`] writes it.
#[derive(Debug)]
pub struct Survey {
    walk: Walk,
    order: Vec<usize>,
    ends: Vec<Option<Timestamp>>,
    old: Vec<Option<CatalogueView>>,
    /// The walk's warnings.
    pub warnings: Vec<String>,
}

/// One surveyed file.
#[derive(Debug, Clone)]
pub struct SurveyFile {
    /// The file (`end` set; `size` 0 when not looked at yet).
    pub file: CaptureFile,
    /// Known to be a capture file (opened by the walk, or so catalogued).
    pub known_capture: bool,
    /// Catalogued as closed (it had a successor), unchanged since, with a flow index that was
    /// fresh for it: nothing needs to look at it again.
    pub settled: bool,
}

/// What indexing found of a surveyed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    /// A capture file whose flow index is fresh now.
    Indexed = 0,
    /// A capture file left without a fresh index (scanned at query time).
    NotIndexed = 1,
    /// Not a capture file.
    NotCapture = 2,
    /// Gone or unreadable.
    Gone = 3,
}

impl Outcome {
    /// The outcome of `as u8`, `None` for any other byte.
    pub fn from_u8(b: u8) -> Option<Outcome> {
        Some(match b {
            0 => Outcome::Indexed,
            1 => Outcome::NotIndexed,
            2 => Outcome::NotCapture,
            3 => Outcome::Gone,
            _ => return None,
        })
    }
}

impl Store {
    /// Surveys every file of the store, taking unchanged directories from the store catalogue.
    pub fn survey(&self) -> Result<Survey> {
        let (old, mut warnings) = self.catalogues_for_update();
        let mut walk = Walk::run(
            &self.roots,
            &WalkOptions {
                prune: Prune::All,
                probe_named: false,
                record: true,
                catalogues: &old,
                cache: None,
            },
        )?;
        warnings.append(&mut walk.warnings);
        let order = sorted_order(&walk);
        let ends = chain_ends(&walk, &order);
        Ok(Survey {
            walk,
            order,
            ends,
            old,
            warnings,
        })
    }

    /// The catalogues to update from (when indexes, and so catalogues, are used).
    fn catalogues_for_update(&self) -> (Vec<Option<CatalogueView>>, Vec<String>) {
        if !self.use_index {
            return (Vec::new(), Vec::new());
        }
        let mut warnings = Vec::new();
        let cats = self
            .roots
            .iter()
            .map(|r| match CatalogueView::open(&self.catalogue_path(r)) {
                Ok(c) => c,
                Err(e) => {
                    warnings.push(format!("{e}; it is written again"));
                    None
                }
            })
            .collect();
        (cats, warnings)
    }
}

impl Survey {
    /// How many files.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when the store holds no file.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Directories read from disk, and taken from the catalogue, by the survey.
    pub fn dirs(&self) -> (u64, u64) {
        (self.walk.dirs_read, self.walk.dirs_catalogued)
    }

    /// File `k` (in chain order).
    pub fn get(&self, store: &Store, k: usize) -> SurveyFile {
        let i = self.order[k];
        let mut file = store.capture_file(&self.walk, i);
        file.end = self.ends[k];
        SurveyFile {
            settled: self.settled(k),
            known_capture: matches!(self.walk.items[i].state, State::Capture(_)),
            file,
        }
    }

    /// True when file `k` is settled (see [`SurveyFile::settled`]); cheaper than
    /// [`Survey::get`], which builds the file's paths.
    pub fn settled(&self, k: usize) -> bool {
        let flags = self.flags(k);
        self.ends[k].is_some()
            && matches!(self.walk.items[self.order[k]].state, State::Capture(_))
            && flags & FLAG_INDEXED != 0
            && flags & catalogue::FLAG_OPEN == 0
    }

    fn flags(&self, k: usize) -> u8 {
        match self.walk.items[self.order[k]].rec {
            Some((r, e)) => self.walk.records[r as usize].1.entries[e as usize].flags,
            None => 0,
        }
    }

    /// Records what indexing found of file `k`.
    pub fn set(&mut self, k: usize, outcome: Outcome) {
        let Some((r, e)) = self.walk.items[self.order[k]].rec else {
            return;
        };
        let e = &mut self.walk.records[r as usize].1.entries[e as usize];
        e.flags = match outcome {
            Outcome::Indexed => FLAG_CAPTURE | FLAG_INDEXED,
            Outcome::NotIndexed => FLAG_CAPTURE,
            Outcome::NotCapture => catalogue::FLAG_NOT_CAPTURE,
            Outcome::Gone => 0,
        };
    }

    /// Files catalogued last time and gone now (deleted by retention), as (root, path below
    /// it). `None` for a root without a readable catalogue: its index directory must be
    /// searched for orphans instead.
    pub fn deleted(&self, roots: &[PathBuf]) -> Vec<(usize, Option<Vec<PathBuf>>)> {
        let now: HashMap<(usize, &Path), &CatDir> = self
            .walk
            .records
            .iter()
            .map(|(root, d)| ((*root, d.rel.as_path()), d))
            .collect();
        (0..roots.len())
            .map(|r| {
                let Some(Some(old)) = self.old.get(r) else {
                    return (r, None);
                };
                let mut gone = Vec::new();
                for h in old.heads() {
                    let cur = now.get(&(r, h.rel.as_path()));
                    if cur.is_some_and(|d| {
                        (d.dev, d.ino, d.mtime_ns) == (h.stamp.dev, h.stamp.ino, h.stamp.mtime_ns)
                    }) {
                        continue; // unchanged: nothing deleted
                    }
                    let names: HashSet<&OsString> = cur
                        .map(|d| d.entries.iter().map(|e| &e.name).collect())
                        .unwrap_or_default();
                    let Ok(entries) = old.entries(h) else {
                        return (r, None);
                    };
                    for e in entries {
                        if e.kind == catalogue::EntryKind::Dir || e.start.is_none() {
                            continue;
                        }
                        if !names.contains(&e.name) {
                            gone.push(h.rel.join(&e.name));
                        }
                    }
                }
                (r, Some(gone))
            })
            .collect()
    }

    /// Writes the catalogue of every root (a directory's files marked open when they are the
    /// newest of their chain), replacing the previous one. The survey's directory records are
    /// moved into the catalogue: call it last.
    pub fn save_catalogues(&mut self, store: &Store) -> Result<()> {
        if !store.use_index {
            return Ok(());
        }
        for k in 0..self.order.len() {
            if self.ends[k].is_none() {
                if let Some((r, e)) = self.walk.items[self.order[k]].rec {
                    self.walk.records[r as usize].1.entries[e as usize].flags |=
                        catalogue::FLAG_OPEN;
                }
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
        for (r, root) in store.roots.iter().enumerate() {
            if root.is_file() {
                continue;
            }
            // Taken, not copied: a month of files is millions of entries.
            let mut dirs: Vec<CatDir> = self
                .walk
                .records
                .iter_mut()
                .filter(|(ri, _)| *ri == r)
                .map(|(_, d)| std::mem::replace(d, CatDir::empty()))
                .collect();
            dirs.sort_by(|a, b| a.rel.cmp(&b.rel));
            catalogue::save(&store.catalogue_path(root), &dirs, now)?;
        }
        Ok(())
    }
}

//! An in-memory cache of a store's directory listings, for a long-lived process that is told
//! when directories change (`capme serve` keeps one current with inotify).
//!
//! A [`Store`](super::Store) given a cache ([`Store::with_listing_cache`](super::Store::with_listing_cache))
//! takes a directory's entries from it, without `stat`ing or reading the directory, until
//! the directory is [invalidated](ListingCache::invalidate); a directory not in the cache is
//! read as without one (from the catalogue when fresh, else from disk) and kept. The cache
//! knows nothing of how changes are noticed: the owner calls [`ListingCache::invalidate`]
//! for each path that changed, and may install a [sync](ListingCache::with_sync) that each
//! walk runs first to make sure every change made before it has been reported. A cache
//! that cannot be kept current ([`ListingCache::disable`]) is ignored: walks behave exactly
//! as without one.
//!
//! Only the listing is kept (names and entry kinds, the directory's device and inode): what
//! a walk learns by opening files (a capture's first record, whether a file is a capture)
//! is found again each time, exactly as without a cache. Directories reached through a
//! symbolic link are never kept (a watch on the store need not see their changes).
//! Memory: one entry per name of each directory walked (about the size of the names).

use super::catalogue::{CatEntry, DirStamp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A directory's listing as a walk found it.
#[derive(Debug)]
pub(super) struct Listed {
    /// Device, inode and modification time when read.
    pub stamp: DirStamp,
    /// Entries, by name (only `name` and `kind` are meaningful).
    pub entries: Vec<CatEntry>,
}

#[derive(Debug)]
enum Slot {
    /// Being read by a walk that holds this token; an invalidation removes it, so a listing
    /// read across a change is not kept.
    Pending(u64),
    Ready(Arc<Listed>),
}

#[derive(Debug, Default)]
struct Inner {
    dirs: BTreeMap<PathBuf, Slot>,
    next_token: u64,
    disabled: bool,
}

/// A function each walk runs first; false when the cache cannot be trusted for this walk.
type SyncFn = Box<dyn Fn() -> bool + Send + Sync>;

/// Directory listings kept between walks (see the module documentation). Shared between
/// threads (`Arc<ListingCache>`); every method takes `&self`.
#[derive(Default)]
pub struct ListingCache {
    inner: Mutex<Inner>,
    sync: Option<SyncFn>,
    hits: AtomicU64,
}

impl std::fmt::Debug for ListingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListingCache")
            .field("dirs", &self.len())
            .field("disabled", &self.is_disabled())
            .finish()
    }
}

impl ListingCache {
    /// An empty cache.
    pub fn new() -> ListingCache {
        ListingCache::default()
    }

    /// Runs `sync` at the start of every walk that uses the cache: it returns once every
    /// change made before it was called has been passed to [`ListingCache::invalidate`]
    /// (true), or false when it cannot say so, and the walk then ignores the cache.
    pub fn with_sync(mut self, sync: impl Fn() -> bool + Send + Sync + 'static) -> ListingCache {
        self.sync = Some(Box::new(sync));
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the listing of `path`, of every directory below it, and of its parent
    /// directory: call it for every path created, removed, renamed or changed (a path
    /// as the store's walk builds it: a root joined with names).
    pub fn invalidate(&self, path: &Path) {
        let mut inner = self.lock();
        let below: Vec<PathBuf> = inner
            .dirs
            .range(path.to_path_buf()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(path))
            .cloned()
            .collect();
        for k in below {
            inner.dirs.remove(&k);
        }
        if let Some(parent) = path.parent() {
            inner.dirs.remove(parent);
        }
    }

    /// Forgets every listing (e.g. when changes may have been missed).
    pub fn clear(&self) {
        self.lock().dirs.clear();
    }

    /// Stops using the cache for good (its listings are dropped): when it can no longer be
    /// kept current.
    pub fn disable(&self) {
        let mut inner = self.lock();
        inner.disabled = true;
        inner.dirs.clear();
    }

    /// True after [`ListingCache::disable`].
    pub fn is_disabled(&self) -> bool {
        self.lock().disabled
    }

    /// Directories whose listing is held.
    pub fn len(&self) -> usize {
        self.lock()
            .dirs
            .values()
            .filter(|s| matches!(s, Slot::Ready(_)))
            .count()
    }

    /// True when no listing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Listings taken from the cache so far (directories neither read nor `stat`ed).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Whether a walk starting now may use the cache (runs the sync).
    pub(super) fn begin(&self) -> bool {
        if self.is_disabled() {
            return false;
        }
        match &self.sync {
            Some(sync) => sync(),
            None => true,
        }
    }

    /// The kept listing of `dir`.
    pub(super) fn get(&self, dir: &Path) -> Option<Arc<Listed>> {
        let inner = self.lock();
        match inner.dirs.get(dir) {
            Some(Slot::Ready(l)) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(l.clone())
            }
            _ => None,
        }
    }

    /// Marks `dir` as being read; the token is for [`ListingCache::fill`].
    pub(super) fn reserve(&self, dir: &Path) -> u64 {
        let mut inner = self.lock();
        inner.next_token += 1;
        let t = inner.next_token;
        inner.dirs.insert(dir.to_path_buf(), Slot::Pending(t));
        t
    }

    /// Keeps the listing of `dir` read under `token`, unless `dir` was invalidated (or
    /// reserved again) since.
    pub(super) fn fill(&self, dir: &Path, token: u64, listed: Listed) {
        let mut inner = self.lock();
        if inner.disabled {
            return;
        }
        if let Some(slot) = inner.dirs.get_mut(dir) {
            if matches!(slot, Slot::Pending(t) if *t == token) {
                *slot = Slot::Ready(Arc::new(listed));
            }
        }
    }

    /// Drops a reservation that will not be filled (the directory could not be read).
    pub(super) fn cancel(&self, dir: &Path, token: u64) {
        let mut inner = self.lock();
        if matches!(inner.dirs.get(dir), Some(Slot::Pending(t)) if *t == token) {
            inner.dirs.remove(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::catalogue::EntryKind;

    fn listed(names: &[&str]) -> Listed {
        Listed {
            stamp: DirStamp {
                dev: 1,
                ino: 2,
                mtime_ns: 3,
            },
            entries: names
                .iter()
                .map(|n| CatEntry {
                    name: n.into(),
                    kind: EntryKind::File,
                    flags: 0,
                    start: None,
                    size: 0,
                    mtime_ns: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn a_listing_read_across_an_invalidation_is_not_kept() {
        let c = ListingCache::new();
        let d = Path::new("/s/a");
        let t = c.reserve(d);
        c.invalidate(Path::new("/s/a/x"));
        c.fill(d, t, listed(&["x"]));
        assert!(c.get(d).is_none());
        let t = c.reserve(d);
        c.fill(d, t, listed(&["x"]));
        assert_eq!(c.get(d).unwrap().entries.len(), 1);
    }

    #[test]
    fn invalidation_takes_the_subtree_and_the_parent_only() {
        let c = ListingCache::new();
        for d in ["/s", "/s/a", "/s/a/b", "/s/a/b/c", "/s/ab", "/s/z"] {
            let t = c.reserve(Path::new(d));
            c.fill(Path::new(d), t, listed(&[]));
        }
        c.invalidate(Path::new("/s/a/b"));
        let kept: Vec<bool> = ["/s", "/s/a", "/s/a/b", "/s/a/b/c", "/s/ab", "/s/z"]
            .iter()
            .map(|d| c.get(Path::new(d)).is_some())
            .collect();
        assert_eq!(kept, [true, false, false, false, true, true]);
        c.disable();
        assert!(c.is_empty() && !c.begin());
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use crate::store::Store;
    use crate::testutil::capture::PcapBuilder;
    use crate::time::TimeWindow;

    const T: i64 = 1_700_000_000;

    fn write(root: &Path, day: &str, start: i64) -> PathBuf {
        let dir = root.join("s1/dailylogs").join(day);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("snort.log.{start}"));
        PcapBuilder::new(1, false, false)
            .packet((start as u32, 0), &[0u8; 60])
            .write(&p)
            .unwrap();
        p
    }

    /// (path, start, end) of every planned file.
    fn files(s: &Store, w: &TimeWindow) -> Vec<(PathBuf, i64, Option<i64>)> {
        s.plan(w)
            .unwrap()
            .files()
            .map(|f| (f.path.clone(), f.start.secs(), f.end.map(|e| e.secs())))
            .collect()
    }

    #[test]
    fn plans_with_the_cache_equal_plans_without_when_changes_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        write(&root, "2023-11-14", T);
        write(&root, "2023-11-14", T + 3600);
        let cache = Arc::new(ListingCache::new());
        let fresh = Store::open([&root]).unwrap().use_catalogue(false);
        let cached = fresh.clone().with_listing_cache(cache.clone());
        let w = TimeWindow::parse(&(T + 100).to_string(), &(T + 200).to_string()).unwrap();
        let all = TimeWindow::parse(&T.to_string(), &(T + 3 * 86_400).to_string()).unwrap();
        assert_eq!(files(&cached, &w), files(&fresh, &w));
        let again = cached.plan(&w).unwrap();
        assert_eq!(
            (again.dirs_read, again.dirs_cached > 0),
            (0, true),
            "{again:?}"
        );

        // Unreported, a new file is not seen: the cache really stands in for the disk.
        let added = write(&root, "2023-11-14", T + 150);
        assert_ne!(files(&cached, &w), files(&fresh, &w));
        // Reported, it is.
        cache.invalidate(&added);
        assert_eq!(files(&cached, &w), files(&fresh, &w));
        // Unchanged directories are not even `stat`ed: with the day directory moved away
        // (unreported), a count by names (which opens no file) still finds its files.
        let day = root.join("s1/dailylogs/2023-11-14");
        let before = cached.count_files().unwrap();
        std::fs::rename(&day, tmp.path().join("away")).unwrap();
        assert_eq!((cached.count_files().unwrap(), before), (3, 3));
        assert_eq!(fresh.count_files().unwrap(), 0);
        std::fs::rename(tmp.path().join("away"), &day).unwrap();

        // A deleted file, a new day directory, a replaced day directory.
        std::fs::remove_file(&added).unwrap();
        cache.invalidate(&added);
        assert_eq!(files(&cached, &all), files(&fresh, &all));
        let p = write(&root, "2023-11-15", T + 86_400);
        cache.invalidate(p.parent().unwrap());
        assert_eq!(files(&cached, &all), files(&fresh, &all));
        std::fs::remove_dir_all(&day).unwrap();
        cache.invalidate(&day);
        write(&root, "2023-11-14", T + 10);
        cache.invalidate(&day);
        assert_eq!(files(&cached, &all), files(&fresh, &all));
        assert_eq!(files(&cached, &all).len(), 2);

        // Disabled, the store is read as without a cache.
        write(&root, "2023-11-15", T + 86_500);
        cache.disable();
        assert_eq!(files(&cached, &all), files(&fresh, &all));
        assert_eq!(cached.plan(&all).unwrap().dirs_cached, 0);
    }
}

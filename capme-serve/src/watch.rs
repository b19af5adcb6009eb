//! The store's listing kept current with inotify (the `notify` crate): directories are listed
//! once and kept ([`capme_core::store::cache::ListingCache`]) until a change below a store
//! root is reported, so a query neither re-lists nor `stat`s a directory that did not change.
//!
//! Exactly correct, not eventually: before each walk of the store the cache *syncs*. It
//! creates a marker file in a private directory watched by the same inotify instance and waits
//! until the watcher has handed over that marker's event. Events of one inotify instance come
//! in order, so by then every change made before the query began has been reported and its
//! directories dropped from the cache. A directory created (or moved in) is watched by
//! `notify` only after the batch of events that announced it, so a sync that saw such an
//! event waits for a second marker: the new directory is watched before anything reads it.
//!
//! What changes a listing: a name created, removed or renamed, an attribute changed (a
//! directory made unreadable), a lost event queue (`IN_Q_OVERFLOW`: every listing is
//! dropped). Writes into a file (a capture growing) do not, and are ignored: every file a
//! query reads is checked when opened, as without the cache.
//!
//! When inotify is not available, a watch cannot be added (the `max_user_watches` limit,
//! also later for a new directory), or a sync is not answered within [`SYNC_TIMEOUT`], the
//! server says so on stderr and plans every query from the disk and the catalogue as
//! without the watcher.

use capme_core::store::cache::ListingCache;
use capme_core::Store;
use notify::{Event, EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a sync waits for its marker's event before the cache is given up.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// What the watcher's thread and the syncs share.
struct Shared {
    cache: Arc<ListingCache>,
    /// Each root as the store names it, and as the watcher reports it (absolute).
    roots: Vec<(PathBuf, PathBuf)>,
    /// The private marker directory (absolute).
    markers: PathBuf,
    /// The highest marker whose event was handed over.
    seen: Mutex<u64>,
    cond: Condvar,
    /// A directory may have appeared since the last sync (it is watched only after its
    /// event's batch).
    new_dirs: AtomicBool,
    next: AtomicU64,
    /// The cache was given up (said once on stderr).
    failed: AtomicBool,
}

impl Shared {
    fn give_up(&self, why: &str) {
        self.cache.disable();
        if !self.failed.swap(true, Ordering::SeqCst) {
            eprintln!(
                "capme serve: warning: the store's listing is no longer kept current with \
                 inotify ({why}); every query lists the store again (as with no watcher)"
            );
        }
        // Wake every waiting sync: they return false.
        self.cond.notify_all();
    }

    /// The store's name for a path the watcher reports.
    fn store_path(&self, p: &Path) -> Option<PathBuf> {
        self.roots.iter().find_map(|(root, abs)| {
            p.strip_prefix(abs).ok().map(|rel| {
                if rel.as_os_str().is_empty() {
                    root.clone()
                } else {
                    root.join(rel)
                }
            })
        })
    }

    fn handle(&self, ev: notify::Result<Event>) {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => return self.give_up(&format!("watch error: {e}")),
        };
        if ev.need_rescan() {
            // Events were lost: nothing held can be trusted.
            self.cache.clear();
            self.new_dirs.store(true, Ordering::SeqCst);
        }
        for p in &ev.paths {
            if p.parent() == Some(self.markers.as_path()) {
                if let EventKind::Create(_) = ev.kind {
                    let n = p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.strip_prefix('m'))
                        .and_then(|n| n.parse::<u64>().ok());
                    if let Some(n) = n {
                        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                        *seen = (*seen).max(n);
                        self.cond.notify_all();
                    }
                }
                continue;
            }
            let changes_listing = match ev.kind {
                EventKind::Access(_) => false,
                EventKind::Modify(notify::event::ModifyKind::Data(_)) => false,
                EventKind::Create(_) | EventKind::Modify(notify::event::ModifyKind::Name(_)) => {
                    self.new_dirs.store(true, Ordering::SeqCst);
                    true
                }
                _ => true,
            };
            if changes_listing {
                if let Some(sp) = self.store_path(p) {
                    self.cache.invalidate(&sp);
                    // A root removed or moved loses its watch: one made again in its place
                    // would not be watched.
                    let gone = matches!(
                        ev.kind,
                        EventKind::Remove(_)
                            | EventKind::Modify(notify::event::ModifyKind::Name(_))
                    );
                    if gone && self.roots.iter().any(|(r, _)| *r == sp) {
                        self.give_up(&format!("store root {} removed or moved", sp.display()));
                    }
                }
            }
        }
    }

    /// Waits until the watcher has handed over a new marker's event: true when it did.
    fn barrier(&self) -> bool {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let marker = self.markers.join(format!("m{n}"));
        if let Err(e) = std::fs::File::create(&marker) {
            self.give_up(&format!("marker {}: {e}", marker.display()));
            return false;
        }
        let ok = {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let (seen, _) = self
                .cond
                .wait_timeout_while(seen, SYNC_TIMEOUT, |s| {
                    *s < n && !self.failed.load(Ordering::SeqCst)
                })
                .unwrap_or_else(|p| p.into_inner());
            *seen >= n
        };
        let _ = std::fs::remove_file(&marker);
        if !ok && !self.failed.load(Ordering::SeqCst) {
            self.give_up(&format!(
                "the watcher did not answer within {} s",
                SYNC_TIMEOUT.as_secs()
            ));
        }
        ok && !self.failed.load(Ordering::SeqCst)
    }

    /// Every change made before this call has been reported to the cache (see the module
    /// documentation).
    fn sync(&self) -> bool {
        if !self.barrier() {
            return false;
        }
        if self.new_dirs.swap(false, Ordering::SeqCst) {
            // A new directory's watch is added after the batch that announced it: one more
            // marker, read in a later batch, means it is in place.
            return self.barrier();
        }
        true
    }
}

/// File system types whose changes made by another machine inotify does not report.
pub const REMOTE_FS: [&str; 10] = [
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "glusterfs",
    "afs",
    "lustre",
];

/// The mount point and type of a remote file system (see [`REMOTE_FS`], and any FUSE file
/// system) holding `root` or mounted below it, from `/proc/self/mounts` text.
pub fn remote_mount(mounts: &str, root: &Path) -> Option<(PathBuf, String)> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    // The mount holding the root is the longest mount point it starts with.
    let mut holding: Option<(PathBuf, String)> = None;
    for line in mounts.lines() {
        let mut f = line.split(' ');
        let (Some(_), Some(at), Some(fs)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        // Spaces and the like are octal escapes (`\040`) in the mount point.
        let at = PathBuf::from(unescape_mount(at));
        let remote = REMOTE_FS.contains(&fs) || fs.starts_with("fuse");
        if at.starts_with(&root) && at != root {
            if remote {
                return Some((at, fs.to_string()));
            }
        } else if root.starts_with(&at)
            && holding
                .as_ref()
                .is_none_or(|(h, _)| at.as_os_str().len() >= h.as_os_str().len())
        {
            holding = Some((at, fs.to_string()));
        }
    }
    holding.filter(|(_, fs)| REMOTE_FS.contains(&fs.as_str()) || fs.starts_with("fuse"))
}

/// A mount point of `/proc/self/mounts` with its `\NNN` octal escapes decoded.
fn unescape_mount(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')))
            .and_then(|n| u8::try_from(n).ok());
        match octal {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// The watcher: kept alive as long as the server runs (dropping it stops the watches).
pub struct StoreWatch {
    _watcher: notify::RecommendedWatcher,
    _markers: tempfile::TempDir,
    shared: Arc<Shared>,
}

impl StoreWatch {
    /// Watches every directory root of `store` recursively and returns the store with a
    /// listing cache kept current by the watch. `None` (with a warning on stderr) when
    /// inotify or a watch is not available: the store is then used as it was.
    pub fn start(store: &Store) -> Option<(StoreWatch, Store)> {
        match Self::try_start(store) {
            Ok(w) => {
                let s = store.clone().with_listing_cache(w.shared.cache.clone());
                Some((w, s))
            }
            Err(e) => {
                eprintln!(
                    "capme serve: warning: the store's listing is not kept current with \
                     inotify ({e}); every query lists the store again"
                );
                None
            }
        }
    }

    fn try_start(store: &Store) -> Result<StoreWatch, String> {
        let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            for root in store.roots() {
                if let Some((at, fs)) = remote_mount(&mounts, &cwd.join(root)) {
                    return Err(format!(
                        "{} is on a {fs} file system (mounted at {}), whose changes made \
                         elsewhere inotify does not see",
                        root.display(),
                        at.display()
                    ));
                }
            }
        }
        let markers = tempfile::Builder::new()
            .prefix("capme-serve-watch-")
            .tempdir()
            .map_err(|e| {
                format!(
                    "a private directory in {}: {e}",
                    std::env::temp_dir().display()
                )
            })?;
        let roots: Vec<(PathBuf, PathBuf)> = store
            .roots()
            .iter()
            .filter(|r| r.is_dir())
            .map(|r| (r.clone(), cwd.join(r)))
            .collect();
        let shared = Arc::new_cyclic(|weak: &std::sync::Weak<Shared>| {
            let w = weak.clone();
            Shared {
                cache: Arc::new(
                    ListingCache::new().with_sync(move || w.upgrade().is_some_and(|s| s.sync())),
                ),
                roots,
                markers: cwd.join(markers.path()),
                seen: Mutex::new(0),
                cond: Condvar::new(),
                new_dirs: AtomicBool::new(false),
                next: AtomicU64::new(0),
                failed: AtomicBool::new(false),
            }
        });
        let h = shared.clone();
        let mut watcher = notify::recommended_watcher(move |ev| h.handle(ev))
            .map_err(|e| format!("inotify: {e}"))?;
        watcher
            .watch(&shared.markers, RecursiveMode::NonRecursive)
            .map_err(|e| format!("watch {}: {e}", shared.markers.display()))?;
        for (root, abs) in &shared.roots {
            watcher
                .watch(abs, RecursiveMode::Recursive)
                .map_err(|e| format!("watch {}: {e}", root.display()))?;
        }
        Ok(StoreWatch {
            _watcher: watcher,
            _markers: markers,
            shared,
        })
    }

    /// The listing cache the watch keeps current.
    pub fn cache(&self) -> &Arc<ListingCache> {
        &self.shared.cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "/dev/vda / ext4 rw 0 0\n\
        server:/nsm /nsm nfs4 rw 0 0\n\
        /dev/vdb /data ext4 rw 0 0\n\
        server:/x /data/sensor\\0402 nfs rw 0 0\n\
        sshfs#h: /mnt/s fuse.sshfs rw 0 0\n";

    #[test]
    fn remote_file_systems_under_or_holding_a_root_are_found() {
        let r = |p: &str| remote_mount(MOUNTS, Path::new(p));
        assert_eq!(r("/nsm/sensor_data"), Some(("/nsm".into(), "nfs4".into())));
        assert_eq!(r("/data/store"), None);
        assert_eq!(
            r("/data"),
            Some(("/data/sensor 2".into(), "nfs".into())),
            "a remote mount below the root"
        );
        assert_eq!(r("/mnt/s/x"), Some(("/mnt/s".into(), "fuse.sshfs".into())));
        assert_eq!(r("/home"), None);
        // Escapes beyond a byte, or cut short, are taken as they are.
        assert_eq!(unescape_mount("a\\777b\\04"), "a\\777b\\04");
        assert_eq!(unescape_mount("a\\040b"), "a b");
    }
}

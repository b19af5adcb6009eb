//! The store catalogue: what a root's directories held when last listed, so that a query (or
//! an incremental `capme index`) reads again only the directories that changed.
//!
//! A catalogue is a cache of directory listings keyed by each directory's device, inode and
//! modification time. A directory whose three are unchanged (and which was not modified within
//! [`RACY_NS`] of the catalogue being written: such a directory may have changed again within
//! the same clock tick) is taken from the catalogue; any other is read again. Adding, removing
//! or renaming a file changes its directory's modification time, so added, deleted and
//! replaced files are always seen; a file that grows in place does not, which is why every
//! file a query reads is checked again when opened (its flow index records the size and time
//! it was built for) and why an incremental index pass checks the newest file of each chain
//! again.
//!
//! For each file the catalogue records its kind, start (name epoch or first record), size and
//! modification time when listed, whether it is a capture file, and whether its flow index was
//! fresh for that size and time; a file's span ends where the next file of its chain starts.
//!
//! ## File format (little-endian), `catalogue-<hash of the root>.ccat` in the index directory
//! ```text
//! "CAPMECAT" | version u32 = 1 | reserved u32 | written (ns) i64 | dirs u32 | table bytes u32
//! table, per directory: path below the root (u32 length + bytes) | dev u64 | ino u64 |
//!        mtime (ns) i64 | racy u8 | files u32 | min start i64 | max start i64 |
//!        section offset u64 | section length u64 | section checksum u64
//! table checksum u64 (of every byte before it)
//! sections, per directory: entries: name (u16 length + bytes) | kind u8 | flags u8 |
//!        start i64 (i64::MIN: none) | size u64 | mtime (ns) i64
//! ```
//! A query reads the header and the table, then only the sections of the directories it
//! walks; every length is checked against the file before use, and a damaged catalogue is
//! reported in the query's warnings and ignored (the store is listed instead).

use crate::error::{Error, Result};
use crate::hash::sum64;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"CAPMECAT";
const VERSION: u32 = 1;
const HEADER: usize = 32;
/// Longest table read (bytes).
const MAX_TABLE: u64 = 256 << 20;
/// Longest directory section read (bytes).
const MAX_SECTION: u64 = 1 << 30;

/// A directory modified less than this (ns) before its catalogue was written is read again by
/// the next query: 2 seconds, more than any file system's timestamp granularity.
pub const RACY_NS: i64 = 2_000_000_000;

/// The extension of catalogue files.
pub const CATALOGUE_EXTENSION: &str = "ccat";

/// Entry flag: the file was checked and is a capture file.
pub const FLAG_CAPTURE: u8 = 1;
/// Entry flag: the file was checked and is not a capture file.
pub const FLAG_NOT_CAPTURE: u8 = 2;
/// Entry flag: the file's flow index was fresh for the recorded size and modification time.
pub const FLAG_INDEXED: u8 = 4;
/// Entry flag: the file was the newest of its rotation chain (it may grow in place, which
/// does not change its directory): it is looked at again by the next update.
pub const FLAG_OPEN: u8 = 8;

/// What a directory entry is (symbolic links are resolved each time they are walked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir = 1,
    /// A regular file.
    File = 2,
    /// A symbolic link.
    Symlink = 3,
    /// A FIFO, socket or device.
    Other = 4,
}

impl EntryKind {
    fn from_u8(b: u8) -> Option<EntryKind> {
        Some(match b {
            1 => EntryKind::Dir,
            2 => EntryKind::File,
            3 => EntryKind::Symlink,
            4 => EntryKind::Other,
            _ => return None,
        })
    }

    /// The kind of a directory entry's file type (which `read_dir` gives without a `stat`).
    pub fn of(t: &fs::FileType) -> EntryKind {
        if t.is_dir() {
            EntryKind::Dir
        } else if t.is_file() {
            EntryKind::File
        } else if t.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        }
    }
}

/// One entry of a catalogued directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatEntry {
    /// File name.
    pub name: OsString,
    /// Its kind.
    pub kind: EntryKind,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Start: the name's epoch, or the first record's time; `None` when unknown.
    pub start: Option<Timestamp>,
    /// Size in bytes when listed (0 when not looked at).
    pub size: u64,
    /// Modification time (ns since the epoch) when listed (0 when not looked at).
    pub mtime_ns: i64,
}

/// One catalogued directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatDir {
    /// Path below the root (empty for the root itself).
    pub rel: PathBuf,
    /// Device, inode and modification time (ns) of the directory when listed.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Modification time (ns).
    pub mtime_ns: i64,
    /// Entries, by name.
    pub entries: Vec<CatEntry>,
}

impl CatDir {
    /// A directory record with nothing in it.
    pub fn empty() -> CatDir {
        CatDir {
            rel: PathBuf::new(),
            dev: 0,
            ino: 0,
            mtime_ns: 0,
            entries: Vec::new(),
        }
    }

    /// Capture files named for their start, or known to be capture files.
    fn files(&self) -> impl Iterator<Item = &CatEntry> {
        self.entries
            .iter()
            .filter(|e| e.kind != EntryKind::Dir && e.start.is_some())
            .filter(|e| e.flags & FLAG_NOT_CAPTURE == 0)
    }
}

/// Identity of a directory: device, inode, modification time (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirStamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Modification time (ns since the epoch).
    pub mtime_ns: i64,
}

impl DirStamp {
    /// The stamp of a directory's metadata.
    pub fn of(m: &fs::Metadata) -> DirStamp {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        DirStamp {
            dev,
            ino,
            mtime_ns: mtime_ns(m),
        }
    }
}

/// Modification time in ns since the epoch (0 when unknown).
pub fn mtime_ns(m: &fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// Where the catalogue of `root` is kept inside index directory `dir`:
/// `catalogue-<16 hex digits of the root's canonical path's FNV-1a>.ccat`, so that roots
/// sharing an `--index-dir` keep separate catalogues.
pub fn catalogue_path(dir: &Path, root: &Path) -> PathBuf {
    let canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let h = crate::hash::fnv1a_64(canon.as_os_str().as_encoded_bytes());
    dir.join(format!("catalogue-{h:016x}.{CATALOGUE_EXTENSION}"))
}

/// Serialises directories (sorted by path) into a catalogue written at `written_ns`.
pub fn to_bytes(dirs: &[CatDir], written_ns: i64) -> Vec<u8> {
    let (mut head, sections) = to_parts(dirs, written_ns);
    head.extend_from_slice(&sections);
    head
}

/// The catalogue as its header with table (and table checksum), and its sections: written one
/// after the other, so a month's catalogue is never copied whole in memory.
fn to_parts(dirs: &[CatDir], written_ns: i64) -> (Vec<u8>, Vec<u8>) {
    let size: usize = dirs
        .iter()
        .flat_map(|d| &d.entries)
        .map(|e| 28 + e.name.len().min(u16::MAX as usize))
        .sum();
    let mut sections = Vec::with_capacity(size);
    let mut table = Vec::new();
    let mut offsets = Vec::with_capacity(dirs.len());
    for d in dirs {
        let at = sections.len();
        for e in &d.entries {
            let name = e.name.as_encoded_bytes();
            let name = &name[..name.len().min(u16::MAX as usize)];
            sections.extend_from_slice(&(name.len() as u16).to_le_bytes());
            sections.extend_from_slice(name);
            sections.push(e.kind as u8);
            sections.push(e.flags);
            sections.extend_from_slice(&e.start.map_or(i64::MIN, |t| t.as_nanos()).to_le_bytes());
            sections.extend_from_slice(&e.size.to_le_bytes());
            sections.extend_from_slice(&e.mtime_ns.to_le_bytes());
        }
        offsets.push((at, sections.len() - at));
    }
    for (d, (at, len)) in dirs.iter().zip(&offsets) {
        let rel = d.rel.as_os_str().as_encoded_bytes();
        table.extend_from_slice(&(rel.len() as u32).to_le_bytes());
        table.extend_from_slice(rel);
        table.extend_from_slice(&d.dev.to_le_bytes());
        table.extend_from_slice(&d.ino.to_le_bytes());
        table.extend_from_slice(&d.mtime_ns.to_le_bytes());
        table.push((d.mtime_ns >= written_ns.saturating_sub(RACY_NS)) as u8);
        let starts = d.files().filter_map(|e| e.start);
        let (n, lo, hi) = starts.fold((0u32, i64::MAX, i64::MIN), |(n, lo, hi), t| {
            (n + 1, lo.min(t.as_nanos()), hi.max(t.as_nanos()))
        });
        table.extend_from_slice(&n.to_le_bytes());
        table.extend_from_slice(&lo.to_le_bytes());
        table.extend_from_slice(&hi.to_le_bytes());
        // Section offsets are absolute; the table's length is known once it is complete, so
        // they are patched below.
        table.extend_from_slice(&(*at as u64).to_le_bytes());
        table.extend_from_slice(&(*len as u64).to_le_bytes());
        table.extend_from_slice(&sum64(&sections[*at..*at + *len]).to_le_bytes());
    }
    let base = (HEADER + table.len() + 8) as u64;
    // Patch every section offset by the base.
    let mut p = 0;
    for _ in dirs {
        let rel_len = u32::from_le_bytes(table[p..p + 4].try_into().expect("4")) as usize;
        let off_at = p + 4 + rel_len + 8 + 8 + 8 + 1 + 4 + 8 + 8;
        let off = u64::from_le_bytes(table[off_at..off_at + 8].try_into().expect("8")) + base;
        table[off_at..off_at + 8].copy_from_slice(&off.to_le_bytes());
        p = off_at + 24;
    }
    let mut out = Vec::with_capacity(base as usize);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&written_ns.to_le_bytes());
    out.extend_from_slice(&(dirs.len() as u32).to_le_bytes());
    out.extend_from_slice(&(table.len() as u32).to_le_bytes());
    out.extend_from_slice(&table);
    let sum = sum64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    (out, sections)
}

/// Writes a catalogue atomically (a temporary file beside it, then a rename).
pub fn save(path: &Path, dirs: &[CatDir], written_ns: i64) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = crate::io::temp_beside(path).map_err(|e| Error::io(dir, e))?;
    let (head, sections) = to_parts(dirs, written_ns);
    tmp.write_all(&head)
        .and_then(|()| tmp.write_all(&sections))
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// A bounds-checked reader of little-endian fields.
struct Cur<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_le_bytes(s.try_into().expect("4")))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|s| u64::from_le_bytes(s.try_into().expect("8")))
    }
    fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }
}

/// One directory of an opened catalogue's table.
#[derive(Debug, Clone)]
pub struct DirHead {
    /// Path below the root.
    pub rel: PathBuf,
    /// Identity when listed.
    pub stamp: DirStamp,
    /// Modified within [`RACY_NS`] of the catalogue being written: never taken as fresh.
    pub racy: bool,
    /// Capture files (named for their start or known to be captures).
    pub files: u32,
    /// Earliest and latest start of those files (`None` when there are none).
    pub starts: Option<(Timestamp, Timestamp)>,
    section: (u64, u64, u64),
}

/// An opened catalogue: its table in memory, each directory's entries read on demand.
#[derive(Debug)]
pub struct CatalogueView {
    path: PathBuf,
    file: File,
    /// When it was written (ns since the epoch).
    pub written_ns: i64,
    heads: Vec<DirHead>,
    by_rel: HashMap<PathBuf, usize>,
}

fn bad(path: &Path, what: &str) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        offset: 0,
        reason: format!("damaged store catalogue: {what}"),
    }
}

impl CatalogueView {
    /// Opens a catalogue; `Ok(None)` when there is none at `path`.
    pub fn open(path: &Path) -> Result<Option<CatalogueView>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut head = [0u8; HEADER];
        crate::io::read_exact_at(&file, &mut head, 0)
            .map_err(|_| bad(path, "shorter than its header"))?;
        if &head[..8] != MAGIC {
            return Err(bad(path, "not a catalogue (magic)"));
        }
        let mut c = Cur { b: &head, p: 8 };
        let version = c.u32().unwrap_or(0);
        if version != VERSION {
            return Err(bad(path, &format!("version {version}, expected {VERSION}")));
        }
        let _ = c.u32();
        let written_ns = c.i64().unwrap_or(0);
        let ndirs = c.u32().unwrap_or(0) as u64;
        let table_len = c.u32().unwrap_or(0) as u64;
        if table_len > MAX_TABLE || HEADER as u64 + table_len + 8 > len {
            return Err(bad(path, "table longer than the file"));
        }
        let mut buf = vec![0u8; HEADER + table_len as usize + 8];
        crate::io::read_exact_at(&file, &mut buf, 0).map_err(|e| Error::io(path, e))?;
        let (body, sum) = buf.split_at(HEADER + table_len as usize);
        if sum64(body) != u64::from_le_bytes(sum.try_into().expect("8")) {
            return Err(bad(path, "table checksum mismatch"));
        }
        let mut c = Cur {
            b: &body[HEADER..],
            p: 0,
        };
        let mut heads = Vec::new();
        for _ in 0..ndirs {
            let h = (|| {
                let n = c.u32()? as usize;
                let rel = PathBuf::from(bytes_to_os(c.take(n)?));
                let stamp = DirStamp {
                    dev: c.u64()?,
                    ino: c.u64()?,
                    mtime_ns: c.i64()?,
                };
                let racy = c.u8()? != 0;
                let files = c.u32()?;
                let (lo, hi) = (c.i64()?, c.i64()?);
                let section = (c.u64()?, c.u64()?, c.u64()?);
                Some(DirHead {
                    rel,
                    stamp,
                    racy,
                    files,
                    starts: (files > 0).then_some((Timestamp(lo), Timestamp(hi))),
                    section,
                })
            })()
            .ok_or_else(|| bad(path, "table ends early"))?;
            let (off, slen, _) = h.section;
            if slen > MAX_SECTION || off.checked_add(slen).is_none_or(|e| e > len) {
                return Err(bad(
                    path,
                    "a directory's section lies past the end of the file",
                ));
            }
            heads.push(h);
        }
        let by_rel = heads
            .iter()
            .enumerate()
            .map(|(i, h)| (h.rel.clone(), i))
            .collect();
        Ok(Some(CatalogueView {
            path: path.to_path_buf(),
            file,
            written_ns,
            heads,
            by_rel,
        }))
    }

    /// The catalogue's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every directory's table entry.
    pub fn heads(&self) -> &[DirHead] {
        &self.heads
    }

    /// The table entry of the directory `rel` below the root.
    pub fn head(&self, rel: &Path) -> Option<&DirHead> {
        self.by_rel.get(rel).map(|&i| &self.heads[i])
    }

    /// The entries of directory `rel` when the catalogue holds it with identity `now` and it
    /// is not racy; `Ok(None)` when the directory must be read again.
    pub fn fresh_entries(&self, rel: &Path, now: DirStamp) -> Result<Option<Vec<CatEntry>>> {
        match self.head(rel) {
            Some(h) if h.stamp == now && !h.racy => self.entries(h).map(Some),
            _ => Ok(None),
        }
    }

    /// The entries of one directory (its section read and checked).
    pub fn entries(&self, h: &DirHead) -> Result<Vec<CatEntry>> {
        let (off, len, sum) = h.section;
        let mut buf = vec![0u8; len as usize];
        crate::io::read_exact_at(&self.file, &mut buf, off)
            .map_err(|e| Error::io(&self.path, e))?;
        if sum64(&buf) != sum {
            return Err(bad(&self.path, "a directory's checksum does not match"));
        }
        let mut c = Cur { b: &buf, p: 0 };
        let mut out = Vec::new();
        while c.p < buf.len() {
            let e = (|| {
                let n = c.u16()? as usize;
                let name = bytes_to_os(c.take(n)?);
                let kind = EntryKind::from_u8(c.u8()?)?;
                let flags = c.u8()?;
                let start = c.i64()?;
                Some(CatEntry {
                    name,
                    kind,
                    flags,
                    start: (start != i64::MIN).then_some(Timestamp(start)),
                    size: c.u64()?,
                    mtime_ns: c.i64()?,
                })
            })()
            .ok_or_else(|| bad(&self.path, "a directory's entries are cut"))?;
            out.push(e);
        }
        Ok(out)
    }

    /// Every directory with its entries, as [`save`] takes them.
    pub fn dirs(&self) -> Result<Vec<CatDir>> {
        self.heads
            .iter()
            .map(|h| {
                Ok(CatDir {
                    rel: h.rel.clone(),
                    dev: h.stamp.dev,
                    ino: h.stamp.ino,
                    mtime_ns: h.stamp.mtime_ns,
                    entries: self.entries(h)?,
                })
            })
            .collect()
    }
}

fn bytes_to_os(b: &[u8]) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        OsStr::from_bytes(b).to_os_string()
    }
    #[cfg(not(unix))]
    {
        OsString::from(String::from_utf8_lossy(b).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<CatDir> {
        let e = |n: &str, kind, start: Option<i64>| CatEntry {
            name: n.into(),
            kind,
            flags: FLAG_CAPTURE,
            start: start.map(Timestamp::from_secs),
            size: 100,
            mtime_ns: 5,
        };
        vec![
            CatDir {
                rel: PathBuf::new(),
                dev: 1,
                ino: 2,
                mtime_ns: 3,
                entries: vec![e("s1", EntryKind::Dir, None)],
            },
            CatDir {
                rel: "s1".into(),
                dev: 1,
                ino: 4,
                mtime_ns: 10_000_000_000,
                entries: vec![
                    e("log.pcap.1700000000", EntryKind::File, Some(1_700_000_000)),
                    e("log.pcap.1700000100", EntryKind::File, Some(1_700_000_100)),
                ],
            },
        ]
    }

    #[test]
    fn round_trip_and_freshness() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c.ccat");
        save(&p, &sample(), 20_000_000_000).unwrap();
        let v = CatalogueView::open(&p).unwrap().unwrap();
        assert_eq!(v.dirs().unwrap(), sample());
        let h = v.head(Path::new("s1")).unwrap();
        assert_eq!(h.files, 2);
        assert_eq!(h.starts.unwrap().1, Timestamp::from_secs(1_700_000_100));
        let same = h.stamp;
        assert!(v.fresh_entries(Path::new("s1"), same).unwrap().is_some());
        let moved = DirStamp {
            mtime_ns: same.mtime_ns + 1,
            ..same
        };
        assert!(v.fresh_entries(Path::new("s1"), moved).unwrap().is_none());
        assert!(v.fresh_entries(Path::new("nope"), same).unwrap().is_none());
    }

    #[test]
    fn a_directory_modified_just_before_writing_is_racy() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c.ccat");
        save(&p, &sample(), 11_000_000_000).unwrap();
        let v = CatalogueView::open(&p).unwrap().unwrap();
        let h = v.head(Path::new("s1")).unwrap();
        assert!(h.racy);
        assert!(v.fresh_entries(Path::new("s1"), h.stamp).unwrap().is_none());
        assert!(!v.head(Path::new("")).unwrap().racy);
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_an_error_or_a_check_failure_never_a_panic() {
        let bytes = to_bytes(&sample(), 20_000_000_000);
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c.ccat");
        for cut in 0..bytes.len() {
            fs::write(&p, &bytes[..cut]).unwrap();
            if let Ok(Some(v)) = CatalogueView::open(&p) {
                assert!(v.dirs().is_err(), "cut at {cut} went unnoticed");
            }
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            fs::write(&p, &b).unwrap();
            let ok = CatalogueView::open(&p)
                .ok()
                .flatten()
                .map(|v| v.dirs().is_ok())
                .unwrap_or(false);
            assert!(!ok, "flipped byte {i} went unnoticed");
        }
    }
}

//! A CapMe-like archive of extracted flows: `DIR/YYYY-MM-DD/<sensor>/<name>.pcap`, each with a
//! cache record `<name>.pcap.json` beside it.
//!
//! The name is deterministic from the canonical flow key *and* the window (CapMe's name lacked
//! the window, so a reused port returned an old, wrong pcap). IPv6 addresses are written with
//! `-` for `:`, so names are safe file names everywhere. The date is the UTC date of the window's
//! start; `<sensor>` is the sensor (or `+`-joined sensors) whose files the window reads.
//!
//! ## Paths
//! Every component below the archive root is one normal path segment, checked before use
//! ([`check_component`]): never empty, `.`, `..`, never holding `/`, NUL or a control
//! character. Sensor names are percent-encoded byte for byte outside `[A-Za-z0-9._-]` (a
//! leading `.` too), so `..`, `a/b`, a newline or a non-UTF-8 name becomes a distinct, plain
//! directory name (`%2E%2E`, `a%2Fb`, `%0A`, `s%FF`). Directories below the root are created
//! and entered one at a time with `symlink_metadata`: a symbolic link there is an error naming
//! it, never followed ([`ArchiveDirs`]).
//!
//! ## Verified cache
//! After the archive is renamed into place, a [`CacheRecord`] is written beside it (temp file,
//! `fsync`, rename): the query (archive name, flow, window), the packets, bytes and first/last
//! times, and the size and SHA-1 of the archive's bytes. An archive is served again only when
//! its record exists, parses, is of this format version, names the same query, and the file's
//! size and SHA-1 verify ([`verify_cached`]); anything else is rebuilt.

use crate::capture::CaptureReader;
use crate::error::{Error, Result};
use crate::flow::{Endpoint, FlowKey};
use crate::hash::fnv1a_32;
use crate::query::{FlowSpec, Query};
use crate::search::{Matcher, Verdict};
use crate::time::TimeWindow;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn addr_part(a: IpAddr) -> String {
    a.to_string().replace(':', "-")
}

fn endpoint_part(e: Endpoint) -> String {
    format!("{}_{}", addr_part(e.addr), e.port)
}

fn window_part(w: &TimeWindow) -> String {
    let whole = w.start.subsec_nanos() == 0 && w.end.subsec_nanos() == 999_999_999;
    if whole {
        format!("{}-{}", w.start.secs(), w.end.secs())
    } else {
        format!("{}-{}", w.start, w.end)
    }
}

fn key_part(k: &FlowKey) -> String {
    format!("{}_{}", endpoint_part(k.first()), endpoint_part(k.second()))
}

/// The archive file name (without directories) of a query, e.g.
/// `tcp_10.0.0.1_51234_93.184.216.34_80_1700000000-1700000100.pcap`.
pub fn archive_name(query: &Query) -> String {
    let flow = match &query.flow {
        FlowSpec::Tuple {
            proto: Some(p),
            keys,
            ..
        } => format!("{p}_{}", key_part(&keys[0])),
        FlowSpec::Tuple {
            proto: None, keys, ..
        } => format!("any_{}", key_part(&keys[0])),
        FlowSpec::CommunityId { id, seed } => {
            let b = id.to_base64();
            let b = b
                .trim_start_matches("1:")
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_");
            if *seed == 0 {
                format!("cid_{b}")
            } else {
                format!("cid{seed}_{b}")
            }
        }
    };
    // A query restricted to a layer has its own archive (its packets differ).
    let layer = match query.layer {
        crate::query::Layer::Any => "",
        crate::query::Layer::Outer => "_outer",
        crate::query::Layer::Inner => "_inner",
    };
    format!("{flow}_{}{layer}.pcap", window_part(&query.window))
}

/// Longest sensor directory name written as the plain `+`-joined list.
const SENSOR_PART_MAX: usize = 100;

/// True for the bytes a sensor directory name keeps as they are.
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

/// One sensor name as a directory name: bytes outside `[A-Za-z0-9._-]` (and a leading `.`)
/// percent-encoded, an empty name as `%`. A `%XX` escape already in the name is kept: the
/// store writes a non-UTF-8 byte (and `%` itself) of a directory name that way (see
/// [`crate::store::lossless_name`]), so the result is the percent-encoding of the directory's
/// raw bytes, distinct for distinct directories.
pub fn encode_sensor(name: &str) -> String {
    let b = name.as_bytes();
    if b.is_empty() {
        return "%".into();
    }
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' && i + 2 < b.len() && is_hex(b[i + 1]) && is_hex(b[i + 2]) {
            out.push_str(&name[i..i + 3]);
            i += 3;
            continue;
        }
        if is_safe(c) && !(i == 0 && c == b'.') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
        i += 1;
    }
    out
}

/// Cuts an encoded name to at most `max` bytes without splitting a `%XX` escape.
fn cut_encoded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    if let Some(p) = s[..end].rfind('%') {
        if p + 3 > end {
            end = p;
        }
    }
    &s[..end]
}

/// The sensor directory name for a set of sensors (`unknown` when empty): the names, each
/// encoded by [`encode_sensor`], joined with `+`; when that would be longer than 100 bytes
/// (many sensors), the first two names, the count of the others and a hash of the whole list,
/// e.g. `s1+s2+22more-5f3a9c1e`, so the name stays a valid file name and stays deterministic.
pub fn sensor_part(sensors: &[Arc<str>]) -> String {
    if sensors.is_empty() {
        return "unknown".into();
    }
    let s: Vec<String> = sensors.iter().map(|s| encode_sensor(s)).collect();
    let joined = s.join("+");
    if joined.len() <= SENSOR_PART_MAX {
        return joined;
    }
    let h = fnv1a_32(joined.as_bytes());
    let head: Vec<&str> = s.iter().take(2).map(|n| cut_encoded(n, 32)).collect();
    format!("{}+{}more-{h:08x}", head.join("+"), s.len() - head.len())
}

/// `dir/YYYY-MM-DD/<sensor>/<name>.pcap` for a query (components not checked: see
/// [`ArchiveDirs::new`]).
pub fn archive_path(dir: &Path, query: &Query, sensors: &[Arc<str>]) -> PathBuf {
    dir.join(query.window.start.date_string())
        .join(sensor_part(sensors))
        .join(archive_name(query))
}

/// Checks that `c` is one normal path segment: not empty, not `.` or `..`, without `/`, `\`,
/// NUL, or any control character (newlines included).
pub fn check_component(field: &'static str, c: &str) -> Result<()> {
    let bad = if c.is_empty() {
        Some("is empty")
    } else if c == "." || c == ".." {
        Some("is `.` or `..`")
    } else if c.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if c.chars().any(|ch| ch.is_control()) {
        Some("contains NUL, a newline or another control character")
    } else if c.len() > 255 {
        Some("is longer than 255 bytes")
    } else {
        None
    };
    match bad {
        Some(why) => Err(Error::invalid(
            field,
            c.escape_debug().to_string(),
            format!("{why}: not a safe archive path component"),
        )),
        None => Ok(()),
    }
}

/// The directories and file of one archive entry, every component checked, and the
/// directories this process created (so that a failed extraction removes them again).
#[derive(Debug)]
pub struct ArchiveDirs {
    root: PathBuf,
    components: [String; 2],
    name: String,
    created: Vec<PathBuf>,
}

fn not_a_dir(p: &Path, symlink: bool) -> Error {
    let what = if symlink {
        "is a symbolic link inside the archive; capme never follows a link below the archive root"
    } else {
        "is not a directory"
    };
    Error::invalid("archive", p.display().to_string(), what)
}

impl ArchiveDirs {
    /// The entry of `query` under the archive root `root`, for the sensors `sensors`.
    pub fn new(root: &Path, query: &Query, sensors: &[Arc<str>]) -> Result<ArchiveDirs> {
        let date = query.window.start.date_string();
        let sensor = sensor_part(sensors);
        let name = archive_name(query);
        check_component("archive date", &date)?;
        check_component("archive sensor", &sensor)?;
        check_component("archive name", &name)?;
        Ok(ArchiveDirs {
            root: root.to_path_buf(),
            components: [date, sensor],
            name,
            created: Vec::new(),
        })
    }

    /// The directory the archive goes to.
    pub fn dir(&self) -> PathBuf {
        self.root
            .join(&self.components[0])
            .join(&self.components[1])
    }

    /// The archive file.
    pub fn path(&self) -> PathBuf {
        self.dir().join(&self.name)
    }

    /// The cache record beside the archive.
    pub fn record_path(&self) -> PathBuf {
        record_path(&self.path())
    }

    /// Checks the directories that exist, creating nothing: `Ok(false)` when one is missing.
    /// A symbolic link or a non-directory is an error naming it.
    pub fn check_existing(&self) -> Result<bool> {
        let mut p = self.root.clone();
        for c in &self.components {
            p.push(c);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(m) => return Err(not_a_dir(&p, m.file_type().is_symlink())),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        Ok(true)
    }

    /// Creates the root (as given: the root itself may be a link) and then each directory
    /// below it, one at a time, never following a link. Remembers what it created.
    pub fn create(&mut self) -> Result<()> {
        fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let mut p = self.root.clone();
        for i in 0..self.components.len() {
            p.push(&self.components[i]);
            match fs::create_dir(&p) {
                Ok(()) => {
                    self.created.push(p.clone());
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => {
                    self.remove_created();
                    return Err(Error::io(&p, e));
                }
            }
            match fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(m) => {
                    self.remove_created();
                    return Err(not_a_dir(&p, m.file_type().is_symlink()));
                }
                Err(e) => {
                    self.remove_created();
                    return Err(Error::io(&p, e));
                }
            }
        }
        Ok(())
    }

    /// Removes the directories [`ArchiveDirs::create`] created, deepest first, each only if
    /// it is empty (another extraction may have put its archive there meanwhile).
    pub fn remove_created(&mut self) {
        while let Some(d) = self.created.pop() {
            let _ = fs::remove_dir(&d);
        }
    }

    /// The directories created by this process (deepest last).
    pub fn created(&self) -> &[PathBuf] {
        &self.created
    }
}

/// The cache record of an archive: `<archive>.json`.
pub fn record_path(archive: &Path) -> PathBuf {
    let mut s: OsString = archive.as_os_str().to_os_string();
    s.push(".json");
    PathBuf::from(s)
}

/// The version of the [`CacheRecord`] format.
pub const RECORD_VERSION: u32 = 1;

/// What was written at an archive path, recorded beside it (`<archive>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// Always `"capme-archive"`.
    pub kind: String,
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The archive file name: canonical flow key, protocol, seed and exact window.
    pub name: String,
    /// The query's flow as text (for people).
    pub flow: String,
    /// The query's window, nanoseconds.
    pub start_ns: i64,
    /// The query's window end, nanoseconds.
    pub end_ns: i64,
    /// Packets in the archive.
    pub packets: u64,
    /// Captured bytes of those packets.
    pub bytes: u64,
    /// First packet time (ns).
    pub first_ts_ns: Option<i64>,
    /// Last packet time (ns).
    pub last_ts_ns: Option<i64>,
    /// Community ID of the flow.
    pub community_id: Option<String>,
    /// Size of the archive file in bytes.
    pub size: u64,
    /// SHA-1 of the archive file's bytes, lower-case hex.
    pub sha1: String,
}

fn sha1_hex(b: &[u8]) -> String {
    let d = Sha1::digest(b);
    d.iter().map(|x| format!("{x:02x}")).collect()
}

/// Packets, bytes, first/last time and the matched flow key of capture bytes.
pub(crate) struct Contents {
    pub packets: u64,
    pub bytes: u64,
    pub first_ts_ns: Option<i64>,
    pub last_ts_ns: Option<i64>,
    pub key: Option<FlowKey>,
}

/// Reads capture bytes completely (an error for a cut or corrupt file).
pub(crate) fn contents_of(bytes: Vec<u8>, path: &Path, query: &Query) -> Result<Contents> {
    let mut r = CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes)), path.into())?;
    let mut m = Matcher::with_layer(query.flow.clone(), query.layer);
    let mut c = Contents {
        packets: 0,
        bytes: 0,
        first_ts_ns: None,
        last_ts_ns: None,
        key: None,
    };
    while let Some((rec, iface)) = r.next_with_interface()? {
        let t = rec.ts.as_nanos();
        c.packets += 1;
        c.bytes += rec.data.len() as u64;
        c.first_ts_ns = Some(c.first_ts_ns.map_or(t, |f: i64| f.min(t)));
        c.last_ts_ns = Some(c.last_ts_ns.map_or(t, |l: i64| l.max(t)));
        if m.matched_key().is_none() {
            let _: Verdict = m.check(iface.linktype, rec.data);
        }
    }
    if r.trailing_bytes() > 0 {
        return Err(Error::Format {
            path: path.into(),
            offset: r.offset(),
            reason: format!("{} trailing bytes (a cut record)", r.trailing_bytes()),
        });
    }
    c.key = m.matched_key();
    Ok(c)
}

fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    let m = fs::symlink_metadata(path)?;
    if !m.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut f = File::open(path)?;
    let mut b = Vec::with_capacity(m.len() as usize);
    f.read_to_end(&mut b)?;
    Ok(b)
}

impl CacheRecord {
    /// The record of the archive now at `path` for `query`: read once, so the checksum and
    /// the counts describe the same bytes (whichever writer's file is there).
    pub fn of_file(
        path: &Path,
        query: &Query,
        community_id: impl Fn(Option<FlowKey>) -> Option<String>,
    ) -> Result<CacheRecord> {
        let bytes = read_no_follow(path).map_err(|e| Error::io(path, e))?;
        let size = bytes.len() as u64;
        let sha1 = sha1_hex(&bytes);
        let c = contents_of(bytes, path, query)?;
        Ok(CacheRecord {
            kind: "capme-archive".into(),
            version: RECORD_VERSION,
            name: archive_name(query),
            flow: query.flow.to_string(),
            start_ns: query.window.start.as_nanos(),
            end_ns: query.window.end.as_nanos(),
            packets: c.packets,
            bytes: c.bytes,
            first_ts_ns: c.first_ts_ns,
            last_ts_ns: c.last_ts_ns,
            community_id: community_id(c.key),
            size,
            sha1,
        })
    }

    /// True when this record is for `query`.
    fn is_for(&self, query: &Query) -> bool {
        self.name == archive_name(query)
            && self.start_ns == query.window.start.as_nanos()
            && self.end_ns == query.window.end.as_nanos()
    }

    /// Writes the record beside `archive`, atomically and durably (temp file, `fsync`,
    /// rename, `fsync` of the directory).
    pub fn write(&self, archive: &Path) -> Result<()> {
        self.write_via(archive, |f| Box::new(f))
    }

    /// As [`CacheRecord::write`], the temp file written through `wrap` (tests inject
    /// write failures there).
    pub(crate) fn write_via(
        &self,
        archive: &Path,
        wrap: impl FnOnce(File) -> Box<dyn Write>,
    ) -> Result<()> {
        let target = record_path(archive);
        let dir = crate::io::parent_dir(&target);
        let tmp = crate::io::temp_beside(&target).map_err(|e| Error::io(&dir, e))?;
        let mut text = serde_json::to_vec_pretty(self).expect("a record serialises");
        text.push(b'\n');
        let f = tmp.reopen().map_err(|e| Error::io(tmp.path(), e))?;
        let mut w = wrap(f);
        w.write_all(&text)
            .and_then(|_| w.flush())
            .map_err(|e| Error::io(tmp.path(), e))?;
        drop(w);
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(&target)
            .map_err(|e| Error::io(&target, e.error))?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Serves the archive at `path` only if it verifies: its record exists, parses, is of this
/// version, names `query`, and the file's size and SHA-1 match. `Err` says why not.
pub fn verify_cached(path: &Path, query: &Query) -> std::result::Result<CacheRecord, String> {
    let rp = record_path(path);
    let text = match read_no_follow(&rp) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err("it has no cache record (written before capme verified archives, or the record was lost)".into())
        }
        Err(e) => return Err(format!("its cache record cannot be read: {e}")),
    };
    let rec: CacheRecord = serde_json::from_slice(&text)
        .map_err(|e| format!("its cache record does not parse: {e}"))?;
    if rec.kind != "capme-archive" || rec.version != RECORD_VERSION {
        return Err(format!(
            "its cache record is of another format (version {})",
            rec.version
        ));
    }
    if !rec.is_for(query) {
        return Err(format!(
            "its cache record is for another query ({}, {})",
            rec.name, rec.flow
        ));
    }
    if rec.packets == 0 {
        return Err("its cache record holds no packet".into());
    }
    let bytes = read_no_follow(path).map_err(|e| format!("it cannot be read: {e}"))?;
    if bytes.len() as u64 != rec.size {
        return Err(format!(
            "its size {} differs from the recorded {} bytes",
            bytes.len(),
            rec.size
        ));
    }
    if sha1_hex(&bytes) != rec.sha1 {
        return Err("its SHA-1 differs from the recorded one".into());
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_windowed() {
        let f = |s: &str, w: (&str, &str)| {
            let (a, b) = s.split_once(' ').unwrap();
            let (ai, ap) = a.rsplit_once('/').unwrap();
            let (bi, bp) = b.rsplit_once('/').unwrap();
            Query::new(
                FlowSpec::parse_tuple(ai, Some(ap), bi, Some(bp), Some("tcp")).unwrap(),
                TimeWindow::parse(w.0, w.1).unwrap(),
            )
        };
        let q1 = f("10.0.0.1/5000 10.0.0.2/80", ("100", "200"));
        let q2 = f("10.0.0.2/80 10.0.0.1/5000", ("100", "200"));
        let q3 = f("10.0.0.1/5000 10.0.0.2/80", ("300", "400"));
        assert_eq!(archive_name(&q1), archive_name(&q2));
        assert_eq!(
            archive_name(&q1),
            "tcp_10.0.0.1_5000_10.0.0.2_80_100-200.pcap"
        );
        assert_ne!(archive_name(&q1), archive_name(&q3));
        let q6 = f("2001:db8::1/5000 2001:db8::2/80", ("100.5", "200"));
        let n = archive_name(&q6);
        assert!(!n.contains(':') && !n.contains('/'), "{n}");
        assert!(n.contains("100.500000000-200.999999999"), "{n}");
        let many: Vec<Arc<str>> = (0..24)
            .map(|i| Arc::from(format!("sensor{i:02}-eth1")))
            .collect();
        let part = sensor_part(&many);
        assert!(
            part.len() < 100 && part.starts_with("sensor00-eth1+sensor01-eth1+22more-"),
            "{part}"
        );
        assert_eq!(part, sensor_part(&many), "deterministic");
        assert_ne!(part, sensor_part(&many[1..]));
        let p = archive_path(Path::new("/a"), &q1, &["s1".into(), "s2".into()]);
        assert_eq!(
            p,
            Path::new("/a/1970-01-01/s1+s2/tcp_10.0.0.1_5000_10.0.0.2_80_100-200.pcap")
        );
    }

    fn qinq() -> Query {
        Query::new(
            FlowSpec::parse_tuple(
                "10.0.0.1",
                Some("5000"),
                "10.0.0.2",
                Some("80"),
                Some("tcp"),
            )
            .unwrap(),
            TimeWindow::parse("100", "200").unwrap(),
        )
    }

    #[test]
    fn sensor_names_become_single_safe_segments_distinct_for_distinct_names() {
        let enc = |n: &str| encode_sensor(n);
        assert_eq!(enc("sensor1-eth1"), "sensor1-eth1", "plain names unchanged");
        assert_eq!(enc(".."), "%2E.");
        assert_eq!(enc("."), "%2E");
        assert_eq!(enc(""), "%");
        assert_eq!(enc("a/b"), "a%2Fb");
        assert_eq!(enc("/etc"), "%2Fetc");
        assert_eq!(enc("a\nb\0"), "a%0Ab%00");
        assert_eq!(enc("a+b"), "a%2Bb", "+ is the joiner");
        assert_eq!(enc("capteur-é"), "capteur-%C3%A9");
        // The store's lossless escapes (non-UTF-8 bytes, and % as %25) pass through.
        assert_eq!(enc("s%FF"), "s%FF");
        assert_eq!(enc("s%25FF"), "s%25FF");
        assert_eq!(enc("50%"), "50%25", "a bare % is escaped");
        // Distinct directory names (raw bytes, as the store names them) stay distinct.
        use std::os::unix::ffi::OsStrExt;
        let raw: [&[u8]; 14] = [
            b"..", b".", b"", b"a/b", b"a%2Fb", b"a\nb", b"s\xff", b"s\xfe", b"s%FF", b"a+b", b"a",
            b"b", b"%2E.", b"%",
        ];
        let dir = |b: &[u8]| enc(&crate::store::lossless_name(std::ffi::OsStr::from_bytes(b)));
        for (i, a) in raw.iter().enumerate() {
            check_component("archive sensor", &dir(a)).unwrap();
            for b in &raw[i + 1..] {
                assert_ne!(dir(a), dir(b), "{a:?} vs {b:?}");
            }
        }
        let joined =
            |v: &[&str]| sensor_part(&v.iter().map(|s| Arc::from(*s)).collect::<Vec<Arc<str>>>());
        assert_ne!(joined(&["a+b"]), joined(&["a", "b"]));
        let long = "%".repeat(200);
        let part = joined(&[long.as_str(), "x"]);
        check_component("archive sensor", &part).unwrap();
        assert!(part.len() < 120, "{part}");
        for w in part.split('+').take(1) {
            assert!(
                !w.ends_with('%') && !w.ends_with("%2"),
                "escape not split: {w}"
            );
        }
    }

    #[test]
    fn components_are_checked() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb", "a\0b", "a\x7fb"] {
            assert!(check_component("archive sensor", bad).is_err(), "{bad:?}");
        }
        check_component("archive sensor", "s1+s2").unwrap();
        let e = ArchiveDirs::new(Path::new("/a"), &qinq(), &["..".into()]).unwrap();
        assert_eq!(
            e.path(),
            Path::new("/a/1970-01-01/%2E.").join(archive_name(&qinq()))
        );
        assert_eq!(e.record_path().extension().unwrap(), "json");
    }

    #[test]
    fn directories_are_created_without_following_links_and_removed_on_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("arch");
        let mut e = ArchiveDirs::new(&root, &qinq(), &["s1".into()]).unwrap();
        assert!(!e.check_existing().unwrap());
        e.create().unwrap();
        assert_eq!(e.created().len(), 2);
        assert!(e.check_existing().unwrap());
        e.remove_created();
        assert!(root.is_dir() && !root.join("1970-01-01").exists());
        // A symlinked sensor directory: an error naming it, nothing created behind it.
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::create_dir(root.join("1970-01-01")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("1970-01-01/s1")).unwrap();
        let mut e = ArchiveDirs::new(&root, &qinq(), &["s1".into()]).unwrap();
        let err = e.check_existing().unwrap_err().to_string();
        assert!(
            err.contains("symbolic link") && err.contains("1970-01-01/s1"),
            "{err}"
        );
        assert!(e.create().is_err());
        // A file where a directory should be.
        fs::remove_file(root.join("1970-01-01/s1")).unwrap();
        fs::write(root.join("1970-01-01/s1"), b"x").unwrap();
        let mut e = ArchiveDirs::new(&root, &qinq(), &["s1".into()]).unwrap();
        assert!(e
            .create()
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
    }

    /// A writer that fails once `left` bytes are written (a disk filling up).
    struct FailAfter {
        inner: File,
        left: usize,
    }

    impl Write for FailAfter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::StorageFull,
                    "No space left on device (injected)",
                ));
            }
            let n = b.len().min(self.left);
            self.left -= n;
            self.inner.write(&b[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }

    fn a_record(q: &Query) -> CacheRecord {
        CacheRecord {
            kind: "capme-archive".into(),
            version: RECORD_VERSION,
            name: archive_name(q),
            flow: q.flow.to_string(),
            start_ns: q.window.start.as_nanos(),
            end_ns: q.window.end.as_nanos(),
            packets: 1,
            bytes: 4,
            first_ts_ns: Some(1),
            last_ts_ns: Some(1),
            community_id: None,
            size: 4,
            sha1: sha1_hex(b"abcd"),
        }
    }

    #[test]
    fn a_failed_record_write_leaves_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("x.pcap");
        fs::write(&archive, b"abcd").unwrap();
        let q = qinq();
        let rec = a_record(&q);
        for left in [0, 10, 100] {
            let e = rec
                .write_via(&archive, |f| Box::new(FailAfter { inner: f, left }))
                .unwrap_err()
                .to_string();
            assert!(e.contains("No space left"), "{e}");
            let names: Vec<_> = fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names,
                vec![std::ffi::OsString::from("x.pcap")],
                "after {left} bytes"
            );
        }
        rec.write(&archive).unwrap();
        assert_eq!(verify_cached(&archive, &q).unwrap(), rec);
    }

    #[test]
    fn only_a_verified_archive_is_served() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("x.pcap");
        let q = qinq();
        let why = |a: &Path| verify_cached(a, &q).unwrap_err();
        fs::write(&archive, b"abcd").unwrap();
        assert!(why(&archive).contains("no cache record"));
        let rec = a_record(&q);
        rec.write(&archive).unwrap();
        verify_cached(&archive, &q).unwrap();
        fs::write(&archive, b"abc").unwrap();
        assert!(why(&archive).contains("size"));
        fs::write(&archive, b"abce").unwrap();
        assert!(why(&archive).contains("SHA-1"));
        fs::write(&archive, b"abcd").unwrap();
        let mut other = rec.clone();
        other.end_ns += 1;
        other.write(&archive).unwrap();
        assert!(why(&archive).contains("another query"));
        let mut v2 = rec.clone();
        v2.version = 2;
        v2.write(&archive).unwrap();
        assert!(why(&archive).contains("another format"));
        fs::write(record_path(&archive), b"{").unwrap();
        assert!(why(&archive).contains("does not parse"));
        rec.write(&archive).unwrap();
        // A link at the archive path is not served (nor read through).
        let link = tmp.path().join("link.pcap");
        std::os::unix::fs::symlink(&archive, &link).unwrap();
        fs::copy(record_path(&archive), record_path(&link)).unwrap();
        assert!(why(&link).contains("not a regular file"));
    }
}

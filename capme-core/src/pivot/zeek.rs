//! Zeek `conn.log`: the connection of a uid, as a query.
//!
//! The logs are found below a directory (searched recursively, symbolic links followed): every
//! file named `conn.log`, `conn.*.log` or either with `.gz`, which covers Security Onion
//! (`/nsm/zeek/logs/YYYY-MM-DD/conn.HH:MM:SS-HH:MM:SS.log.gz`, `/nsm/bro/logs/...`, `current/
//! conn.log`) and stock Zeek (`logs/current/conn.log`, `logs/YYYY-MM-DD/conn.*.log.gz`). A file
//! may also be named directly. Files are read in path order, line by line (a line longer than
//! [`MAX_LINE`] is skipped), gzip-compressed or not (by their magic bytes, not their name),
//! until the uid is found: memory stays bounded whatever the size of the logs.
//!
//! Both of Zeek's writers are read: the TSV format (`#separator \x09`, `#set_separator`,
//! `#empty_field`, `#unset_field`, `#path`, `#open`, `#fields`, `#types`, `#close`; the
//! `#fields` line names the columns, so their order does not matter) and JSON lines (flat
//! `id.orig_h` keys or a nested `id` object; `ts` as epoch seconds, epoch milliseconds or an
//! ISO 8601 string). The record gives the flow, `id.orig_h`/`id.orig_p` → `id.resp_h`/
//! `id.resp_p` with `proto` (`tcp`, `udp`, `icmp`: for ICMP the ports are type and code, as in
//! the Community ID spec; `icmp` over IPv6 is ICMPv6), and the window `[ts, ts + duration]`
//! (an unset `-` or `(empty)` duration is 0).

use super::PivotFields;
use crate::error::{Error, Result};
use crate::time::{TimeSpec, Timestamp};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The longest log line read (1 MiB); longer lines are skipped (no conn record is that long).
pub const MAX_LINE: usize = 1 << 20;

/// One Zeek connection record, its fields as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeekConn {
    /// The connection's uid.
    pub uid: String,
    /// The log file it was found in.
    pub file: PathBuf,
    /// Its line number there (1-based).
    pub line: u64,
    /// `ts`: when Zeek saw the connection's first packet.
    pub ts: Timestamp,
    /// `duration` in nanoseconds (0 when unset).
    pub duration_ns: i64,
    /// `id.orig_h`.
    pub orig_h: String,
    /// `id.orig_p` (ICMP: type).
    pub orig_p: String,
    /// `id.resp_h`.
    pub resp_h: String,
    /// `id.resp_p` (ICMP: code).
    pub resp_p: String,
    /// `proto` as capme names it: `tcp`, `udp`, `icmp`, `icmp6`.
    pub proto: String,
}

impl ZeekConn {
    /// The record as query fields: its 5-tuple and the window `[ts, ts + duration]`, marked
    /// as derived (so padded by default).
    pub fn fields(&self) -> PivotFields {
        PivotFields {
            sip: Some(self.orig_h.clone()),
            spt: Some(self.orig_p.clone()),
            dip: Some(self.resp_h.clone()),
            dpt: Some(self.resp_p.clone()),
            proto: Some(self.proto.clone()),
            community_id: None,
            stime: Some(self.ts.to_string()),
            etime: Some(self.ts.saturating_add_nanos(self.duration_ns).to_string()),
            derived_window: true,
            origin: format!(
                "zeek uid {} ({}:{})",
                self.uid,
                self.file.display(),
                self.line
            ),
        }
    }
}

/// What a search of the logs read, for the message when the uid is not found.
#[derive(Debug, Default)]
struct Searched {
    files: u64,
    records: u64,
    problems: Vec<String>,
}

/// Finds the connection `uid` in the conn logs below `logs` (a directory, or one log file).
///
/// A uid in no log is [`Error::NotFound`] (exit code 1), naming the uid, the directory and how
/// many files and records were read; a uid whose record cannot be used (a bad `ts`, a missing
/// address, a proto other than tcp/udp/icmp) is [`Error::InvalidQuery`] naming `zeek_uid`, the
/// file and the line; a uid that is not a Zeek uid (empty, or with characters
/// other than letters and digits) is [`Error::InvalidQuery`] naming `zeek_uid`; a `logs` that
/// does not exist is [`Error::InvalidQuery`] naming `zeek_logs`. A log that cannot be read or
/// decompressed is skipped, and said so if the uid is not found.
pub fn find_conn(uid: &str, logs: &Path) -> Result<ZeekConn> {
    if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_alphanumeric()) || uid.len() > 64 {
        return Err(Error::invalid(
            "zeek_uid",
            uid,
            "not a Zeek uid (letters and digits, e.g. CHhAvVGS1DHFjwGM9)",
        ));
    }
    let files = conn_logs(logs)?;
    let mut searched = Searched::default();
    for f in &files {
        searched.files += 1;
        match search_file(uid, f, &mut searched) {
            Ok(Some(conn)) => return Ok(conn),
            Ok(None) => {}
            // The uid's own record is unusable: that is the answer, not a damaged file.
            Err(e @ Error::InvalidQuery { .. }) => return Err(e),
            Err(e) => searched.problems.push(e.to_string()),
        }
    }
    let mut msg = if files.is_empty() {
        format!(
            "no conn log under {} (looked for conn.log, conn.*.log and their .gz)",
            logs.display()
        )
    } else {
        format!(
            "searched {} conn log file{} ({} record{}) under {}",
            searched.files,
            if searched.files == 1 { "" } else { "s" },
            searched.records,
            if searched.records == 1 { "" } else { "s" },
            logs.display()
        )
    };
    if let Some(first) = searched.problems.first() {
        msg += &format!(
            "; {} could not be read whole, so the uid may be in what was not read: {first}",
            searched.problems.len()
        );
    }
    Err(Error::NotFound {
        what: format!("zeek uid {uid}"),
        searched: msg,
    })
}

/// The conn logs below `root`, in path order (or `root` itself when it is a file).
fn conn_logs(root: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(root).map_err(|e| {
        Error::invalid(
            "zeek_logs",
            root.display().to_string(),
            format!("cannot be read ({e}); expected the directory of Zeek's logs"),
        )
    })?;
    if meta.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(true) {
        // An unreadable subdirectory or a link loop: skip it, keep the rest.
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_file() && is_conn_log(&entry.file_name().to_string_lossy()) {
            out.push(entry.into_path());
        }
    }
    out.sort();
    Ok(out)
}

/// `conn.log`, `conn.<anything>.log`, and both with `.gz`.
fn is_conn_log(name: &str) -> bool {
    let base = name.strip_suffix(".gz").unwrap_or(name);
    base == "conn.log" || (base.starts_with("conn.") && base.ends_with(".log"))
}

/// Opens a log, decompressing it when it starts with gzip's magic bytes.
fn open_log(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let mut r = BufReader::with_capacity(1 << 16, File::open(path)?);
    let gz = r.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(r),
        ))
    } else {
        Box::new(r)
    })
}

/// Reads the next line into `buf` (without its `\n` or `\r\n`), keeping at most [`MAX_LINE`]
/// bytes. `Ok(None)` at the end; `Ok(Some(false))` for a line that was too long.
fn next_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut read_any = false;
    let mut whole = true;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(read_any.then_some(whole));
        }
        read_any = true;
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], true),
            None => (avail, false),
        };
        if buf.len() + chunk.len() <= MAX_LINE {
            buf.extend_from_slice(chunk);
        } else {
            whole = false;
        }
        let used = chunk.len() + usize::from(done);
        r.consume(used);
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(whole));
        }
    }
}

/// The TSV header state of one file.
struct Tsv {
    sep: Vec<u8>,
    unset: Vec<u8>,
    empty: Vec<u8>,
    /// Column of each field capme reads, once `#fields` was seen.
    cols: Option<Cols>,
    /// `#path` named another log than conn.
    other_path: bool,
}

struct Cols {
    uid: usize,
    ts: usize,
    duration: Option<usize>,
    orig_h: usize,
    orig_p: usize,
    resp_h: usize,
    resp_p: usize,
    proto: usize,
}

/// Decodes a header value's `\xHH` escapes (`#separator \x09`).
fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && v.get(i + 1) == Some(&b'x') && i + 3 < v.len() {
            let hex = std::str::from_utf8(&v[i + 2..i + 4])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

fn split<'a>(line: &'a [u8], sep: &'a [u8]) -> Vec<&'a [u8]> {
    if sep.is_empty() {
        return vec![line];
    }
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    out.push(rest);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Searches one log; `Ok(None)` when the uid is not in it.
fn search_file(uid: &str, path: &Path, searched: &mut Searched) -> Result<Option<ZeekConn>> {
    let mut r = open_log(path).map_err(|e| Error::io(path, e))?;
    let mut tsv = Tsv {
        sep: b"\t".to_vec(),
        unset: b"-".to_vec(),
        empty: b"(empty)".to_vec(),
        cols: None,
        other_path: false,
    };
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    while let Some(whole) = next_line(&mut *r, &mut buf).map_err(|e| Error::io(path, e))? {
        line_no += 1;
        if !whole || buf.is_empty() {
            continue;
        }
        if buf[0] == b'#' {
            header(&buf, &mut tsv);
            continue;
        }
        searched.records += 1;
        if tsv.other_path || !contains(&buf, uid.as_bytes()) {
            continue;
        }
        let conn = if buf[0] == b'{' {
            json_record(&buf, uid)
        } else {
            tsv_record(&buf, uid, &tsv)
        };
        match conn {
            Ok(Some(mut c)) => {
                c.file = path.to_path_buf();
                c.line = line_no;
                return Ok(Some(c));
            }
            Ok(None) => {}
            Err(why) => {
                return Err(Error::invalid(
                    "zeek_uid",
                    uid,
                    format!(
                        "its record in {} (line {line_no}) cannot be used: {why}",
                        path.display()
                    ),
                ))
            }
        }
    }
    Ok(None)
}

/// Reads one `#` header line into the state.
fn header(line: &[u8], tsv: &mut Tsv) {
    // `#separator` is always followed by a space, the other directives by the separator.
    if let Some(v) = line.strip_prefix(b"#separator ") {
        tsv.sep = unescape(v);
        return;
    }
    let parts = split(line, &tsv.sep);
    let value = parts.get(1).copied().unwrap_or_default();
    match parts[0] {
        b"#unset_field" => tsv.unset = value.to_vec(),
        b"#empty_field" => tsv.empty = value.to_vec(),
        b"#path" => tsv.other_path = value != b"conn",
        b"#fields" => {
            let names = &parts[1..];
            let col = |n: &[u8]| names.iter().position(|f| *f == n);
            tsv.cols = (|| {
                Some(Cols {
                    uid: col(b"uid")?,
                    ts: col(b"ts")?,
                    duration: col(b"duration"),
                    orig_h: col(b"id.orig_h")?,
                    orig_p: col(b"id.orig_p")?,
                    resp_h: col(b"id.resp_h")?,
                    resp_p: col(b"id.resp_p")?,
                    proto: col(b"proto")?,
                })
            })();
        }
        _ => {}
    }
}

/// The record on a TSV line, if its uid is `uid`.
fn tsv_record(line: &[u8], uid: &str, tsv: &Tsv) -> std::result::Result<Option<ZeekConn>, String> {
    let Some(c) = &tsv.cols else {
        return Ok(None);
    };
    let f = split(line, &tsv.sep);
    if f.get(c.uid).copied() != Some(uid.as_bytes()) {
        return Ok(None);
    }
    let set = |i: usize| -> Option<&str> {
        let v = *f.get(i)?;
        if v == tsv.unset.as_slice() || v == tsv.empty.as_slice() {
            return None;
        }
        std::str::from_utf8(v).ok()
    };
    let need = |i: usize, name: &str| set(i).ok_or_else(|| format!("{name} is unset or missing"));
    let ts = TimeSpec::parse("ts", need(c.ts, "ts")?)
        .map_err(|e| e.to_string())?
        .ts;
    let duration_ns = match c.duration.and_then(set) {
        Some(d) => parse_duration_ns(d)?,
        None => 0,
    };
    conn(
        uid,
        ts,
        duration_ns,
        need(c.orig_h, "id.orig_h")?,
        need(c.orig_p, "id.orig_p")?,
        need(c.resp_h, "id.resp_h")?,
        need(c.resp_p, "id.resp_p")?,
        need(c.proto, "proto")?,
    )
    .map(Some)
}

/// The record on a JSON line, if its uid is `uid`.
fn json_record(line: &[u8], uid: &str) -> std::result::Result<Option<ZeekConn>, String> {
    let v: serde_json::Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        // A line that merely contains the uid's text but is not JSON: not this record.
        Err(_) => return Ok(None),
    };
    if v.get("uid").and_then(|u| u.as_str()) != Some(uid) {
        return Ok(None);
    }
    let get = |key: &str| -> Option<&serde_json::Value> {
        v.get(key).or_else(|| {
            let (obj, field) = key.split_once('.')?;
            v.get(obj)?.get(field)
        })
    };
    let text = |key: &str| -> std::result::Result<String, String> {
        match get(key) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            _ => Err(format!("{key} is missing")),
        }
    };
    let ts = match get("ts") {
        Some(serde_json::Value::String(s)) => {
            TimeSpec::parse("ts", s).map_err(|e| e.to_string())?.ts
        }
        Some(serde_json::Value::Number(n)) => {
            let f = n.as_f64().ok_or("ts is not a number")?;
            // Epoch milliseconds (JSON::TS_MILLIS) or seconds; Zeek writes microseconds, which
            // an f64 of a current epoch holds exactly enough to round back to.
            let us = if f > 1e11 { f * 1e3 } else { f * 1e6 };
            if !us.is_finite() || !(0.0..9e15).contains(&us) {
                return Err(format!("ts {n} is out of range"));
            }
            Timestamp(us.round() as i64 * 1000)
        }
        _ => return Err("ts is missing".into()),
    };
    let duration_ns = match get("duration") {
        Some(serde_json::Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(-1.0);
            if !f.is_finite() || !(0.0..1e9).contains(&f) {
                return Err(format!("duration {n} is out of range"));
            }
            (f * 1e6).round() as i64 * 1000
        }
        Some(serde_json::Value::String(s)) if s != "-" && s != "(empty)" => parse_duration_ns(s)?,
        _ => 0,
    };
    conn(
        uid,
        ts,
        duration_ns,
        &text("id.orig_h")?,
        &text("id.orig_p")?,
        &text("id.resp_h")?,
        &text("id.resp_p")?,
        &text("proto")?,
    )
    .map(Some)
}

/// Parses a Zeek interval, seconds with a fraction (`0.543733`), to nanoseconds.
fn parse_duration_ns(d: &str) -> std::result::Result<i64, String> {
    let (int, frac) = d.split_once('.').unwrap_or((d, ""));
    let ok = !int.is_empty()
        && int.len() <= 9
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 9
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(format!("duration {d:?} is not seconds"));
    }
    let secs: i64 = int.parse().map_err(|_| format!("duration {d:?}"))?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().map_err(|_| format!("duration {d:?}"))?
            * 10i64.pow(9 - frac.len() as u32)
    };
    Ok(secs * 1_000_000_000 + nanos)
}

#[allow(clippy::too_many_arguments)]
fn conn(
    uid: &str,
    ts: Timestamp,
    duration_ns: i64,
    orig_h: &str,
    orig_p: &str,
    resp_h: &str,
    resp_p: &str,
    proto: &str,
) -> std::result::Result<ZeekConn, String> {
    let proto = match proto {
        "icmp" if orig_h.contains(':') => "icmp6",
        "tcp" | "udp" | "icmp" => proto,
        other => return Err(format!("proto {other:?}: capme extracts tcp, udp and icmp")),
    };
    Ok(ZeekConn {
        uid: uid.to_string(),
        file: PathBuf::new(),
        line: 0,
        ts,
        duration_ns,
        orig_h: orig_h.to_string(),
        orig_p: orig_p.to_string(),
        resp_h: resp_h.to_string(),
        resp_p: resp_p.to_string(),
        proto: proto.to_string(),
    })
}

/// Reads a whole log, for tests: every line, decompressed.
#[cfg(test)]
fn read_all(path: &Path) -> String {
    use std::io::Read;
    let mut s = String::new();
    open_log(path).unwrap().read_to_string(&mut s).unwrap();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n\
        #unset_field\t-\n#path\tconn\n#open\t2024-06-14-23-00-00\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\
        \torig_bytes\tresp_bytes\tconn_state\ttunnel_parents\n\
        #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\
        \tstring\tset[string]\n";

    fn tsv(rows: &[&str]) -> String {
        format!("{HEADER}{}\n#close\t2024-06-14-23-59-59\n", rows.join("\n"))
    }

    #[test]
    fn tsv_record_with_unset_and_empty() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("conn.log");
        std::fs::write(
            &p,
            tsv(&[
                "1718407577.678912\tCaaa1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t-\t0.543733\t1\t2\tSF\t(empty)",
                "1718407578.000001\tCbbb2\t2001:db8::1\t128\t2001:db8::2\t0\ticmp\t-\t-\t-\t-\tOTH\t(empty)",
            ]),
        )
        .unwrap();
        let c = find_conn("Caaa1", d.path()).unwrap();
        assert_eq!(c.ts, Timestamp::from_parts(1_718_407_577, 678_912_000));
        assert_eq!(c.duration_ns, 543_733_000);
        assert_eq!(c.line, 9);
        let f = c.fields();
        assert_eq!(f.etime.as_deref(), Some("1718407578.222645000"));
        let c = find_conn("Cbbb2", &p).unwrap();
        assert_eq!((c.proto.as_str(), c.duration_ns), ("icmp6", 0));
        let e = find_conn("Cnope", d.path()).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::NoPackets);
        let m = e.to_string();
        assert!(
            m.contains("Cnope") && m.contains("1 conn log file (2 records)"),
            "{m}"
        );
        assert!(read_all(&p).contains("Caaa1"));
    }

    #[test]
    fn json_and_gzip_and_layouts() {
        let d = tempfile::tempdir().unwrap();
        let day = d.path().join("2024-06-14");
        std::fs::create_dir_all(&day).unwrap();
        let json = r#"{"ts":1718407577.678912,"uid":"Cjson1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":2,"proto":"udp","duration":0.5}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(format!("{json}\n").as_bytes()).unwrap();
        std::fs::write(
            day.join("conn.23:00:00-00:00:00.log.gz"),
            gz.finish().unwrap(),
        )
        .unwrap();
        std::fs::write(day.join("dns.23:00:00-00:00:00.log"), format!("{json}\n")).unwrap();
        let c = find_conn("Cjson1", d.path()).unwrap();
        assert_eq!(c.ts, Timestamp::from_parts(1_718_407_577, 678_912_000));
        assert_eq!(c.duration_ns, 500_000_000);
        assert!(c.file.ends_with("conn.23:00:00-00:00:00.log.gz"));
        // Nested id and ISO 8601 ts.
        let nested = r#"{"ts":"2024-06-14T23:26:17.678912Z","uid":"Cnest","id":{"orig_h":"10.0.0.1","orig_p":1,"resp_h":"10.0.0.2","resp_p":2},"proto":"tcp"}"#;
        std::fs::create_dir_all(d.path().join("current")).unwrap();
        std::fs::write(d.path().join("current/conn.log"), format!("{nested}\n")).unwrap();
        let c = find_conn("Cnest", d.path()).unwrap();
        assert_eq!(c.orig_p, "1");
        // Only the dns log and a bad uid: not searched, refused.
        assert!(find_conn("C-1", d.path()).is_err());
        let e = find_conn("Cx", Path::new("/nonexistent/zeek")).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidQuery {
                    field: "zeek_logs",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn long_lines_and_bad_records() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("conn.log");
        let long = "x".repeat(MAX_LINE + 10);
        std::fs::write(
            &p,
            tsv(&[
                &long,
                "notatime\tCbad\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t-\t-\t-\t-\tS0\t(empty)",
                "1.5\tCok\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t-\t-\t-\t-\tS0\t(empty)",
            ]),
        )
        .unwrap();
        assert_eq!(find_conn("Cok", &p).unwrap().ts, Timestamp(1_500_000_000));
        let e = find_conn("Cbad", &p).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidQuery {
                    field: "zeek_uid",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("line 10"), "{e}");
        // Garbage and truncated gzip never panic.
        std::fs::write(&p, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        let e = find_conn("Cok", &p).unwrap_err();
        assert!(e.to_string().contains("could not be read"), "{e}");
    }

    #[test]
    fn conn_log_names() {
        for n in [
            "conn.log",
            "conn.log.gz",
            "conn.23:00:00-00:00:00.log.gz",
            "conn.1.log",
        ] {
            assert!(is_conn_log(n), "{n}");
        }
        for n in [
            "conn-summary.log",
            "dns.log",
            "conn.log.1",
            "myconn.log",
            "conn.gz",
        ] {
            assert!(!is_conn_log(n), "{n}");
        }
    }
}

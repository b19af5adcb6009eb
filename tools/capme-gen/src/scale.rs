//! Many small capture files for the scaling benchmark (`benches/scale.py`, issue 12): a busy
//! sensor's month is hundreds of thousands of files, and a pivot must not cost more the more
//! files the store holds. The `gen-scale` binary is the command line; tests call [`generate`].
//!
//! ```text
//! gen-scale --out DIR [--days N] [--files-per-day M] [--start EPOCH] [--sensor NAME]
//!     [--packets-per-file K] [--manifest FILE] [--threads N]
//! gen-scale --out DIR --flat --files N [--files-per-day M] ...
//! ```
//!
//! File *k* (0-based, over the whole store) is named after the epoch second
//! `start + floor(k · 86400 / M)` and spans up to the next file's name: M files a day, evenly
//! spaced (86400/M seconds apart, rounded down to whole seconds). Layouts:
//!
//! - Security Onion (default): `DIR/<sensor>/dailylogs/YYYY-MM-DD/snort.log.<epoch>` (the UTC
//!   date of the epoch), `days · M` files;
//! - `--flat` (Suricata style): `DIR/log.pcap.<epoch>`, all in one directory, `--files N` files.
//!
//! Each file is a legacy pcap (µs, little-endian, Ethernet, snaplen 65535) with K background
//! packets (UDP and TCP between 192.168.0.0/16 and 172.16.0.0/12 hosts), one in each K-th of the
//! file's span. One known UDP flow, 10.1.2.3:40000 <-> 10.9.8.7:53 (3 queries and 3 answers), lies
//! in the 2 seconds `[mid, mid + 2)`, where `mid` is noon of the last day (relative to `start`),
//! or for `--flat` the middle of the store's span; each of its packets goes into the file whose
//! span holds it, in timestamp order with that file's background packets.
//!
//! The manifest (printed on stdout, and written to `--manifest`) describes the flow as the
//! benchmark queries it (`sip`, `spt`, `dip`, `dpt`, `proto`, `stime`, `etime` in epoch seconds,
//! `etime` inclusive, `packets`, `flow_files`, `flow_bytes`), and the store (`store`: the
//! directory to pass as `--store`; `layout`; `files` and `bytes` of all capture files; `days`,
//! `files_per_day`, `packets_per_file`, `start`, `end`, `sensor`).
//!
//! Files are written in parallel (contiguous chunks, `--threads`), each with one `write`; nothing
//! is kept in memory but the file being built. The output depends only on the arguments (not on
//! `--threads`): each file's noise comes from a generator seeded with its index.

use crate::{Res, S};
use capme_core::sink::PcapFileWriter;
use capme_core::testutil::packet::{PacketBuilder, TcpFlags};
use capme_core::testutil::rng::Rng;
use capme_core::Timestamp;
use clap::Parser;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Seconds per day.
const DAY: i64 = 86_400;
/// The known flow's endpoints (initiator first).
const FLOW_SIP: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
const FLOW_SPT: u16 = 40_000;
const FLOW_DIP: Ipv4Addr = Ipv4Addr::new(10, 9, 8, 7);
const FLOW_DPT: u16 = 53;
/// µs after `mid` of the flow's packets, and whether each is a query (initiator to responder).
const FLOW_PACKETS: [(i64, bool); 6] = [
    (100_000, true),
    (112_000, false),
    (700_000, true),
    (713_000, false),
    (1_300_000, true),
    (1_311_000, false),
];
/// Files a worker claims at a time.
const CHUNK: u64 = 512;
const MAC_A: [u8; 6] = [0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x01];
const MAC_B: [u8; 6] = [0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x02];

/// What to generate: the `gen-scale` command line. [`ScaleConfig::new`] gives its defaults.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "gen-scale",
    allow_negative_numbers = true,
    about = "Generate a store of many small capture files, with one known UDP flow, for the \
             scaling benchmark",
    long_about = "Generate a store of many small capture files, with one known UDP flow, for the \
        scaling benchmark (benches/scale.py).\n\n\
        Security Onion layout (default): DIR/<sensor>/dailylogs/YYYY-MM-DD/snort.log.<epoch>, \
        --days x --files-per-day files. --flat: DIR/log.pcap.<epoch> in one directory, --files \
        files. File k is named start + floor(k * 86400 / files-per-day) and holds \
        --packets-per-file background packets inside its span (up to the next file's name).\n\n\
        The flow 10.1.2.3:40000 <-> 10.9.8.7:53 (UDP, 6 packets) lies in a 2-second window at \
        noon of the last day (--flat: the middle of the store's span). Prints a JSON manifest \
        (the flow's tuple, stime, etime, packets, flow_files; the store's files, bytes, layout) \
        on stdout. The same arguments always give the same bytes.",
    after_help = "Examples:\n  gen-scale --out /tmp/scale/so30 --days 30 --files-per-day 8000\n  \
        gen-scale --out /tmp/scale/flat --flat --files 100000 --manifest /tmp/scale/flat.json"
)]
pub struct ScaleConfig {
    /// Output directory (created; must be empty or absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Days of captures (Security Onion layout), 1..=3660 [default: 1].
    #[arg(long, value_name = "N", conflicts_with = "flat")]
    pub days: Option<u32>,
    /// Files per day (the spacing of the files: 86400/M seconds), 1..=86400.
    #[arg(long, value_name = "M", default_value_t = 8000)]
    pub files_per_day: u32,
    /// Name of the first file, epoch seconds (default 2024-06-01T00:00:00Z).
    #[arg(long, value_name = "EPOCH", default_value_t = 1_717_200_000)]
    pub start: i64,
    /// Sensor directory name (Security Onion layout).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "sensor1-eth1",
        conflicts_with = "flat"
    )]
    pub sensor: String,
    /// Suricata-style flat directory of log.pcap.EPOCH files instead (needs --files).
    #[arg(long, requires = "files")]
    pub flat: bool,
    /// Number of files of the --flat store, 1..=10000000.
    #[arg(long, value_name = "N", requires = "flat")]
    pub files: Option<u64>,
    /// Background packets per file, 1..=10000.
    #[arg(long, value_name = "K", default_value_t = 4)]
    pub packets_per_file: u32,
    /// Also write the manifest to this file.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Writer threads (default: the available cores); the output is the same for any number.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl ScaleConfig {
    /// The command line's defaults (one day of 8000 files) writing to `out`.
    pub fn new(out: impl Into<PathBuf>) -> ScaleConfig {
        let mut out_arg = OsString::from("--out=");
        out_arg.push(out.into());
        ScaleConfig::parse_from([OsString::from("gen-scale"), out_arg])
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct ScaleReport {
    /// Capture files.
    pub files: u64,
    /// Bytes of all capture files.
    pub bytes: u64,
    /// Packets of all capture files.
    pub packets: u64,
    /// The manifest (also printed by `gen-scale`).
    pub manifest: Value,
}

/// The store's shape, validated.
struct Shape {
    root: PathBuf,
    flat: bool,
    sensor: String,
    start: i64,
    per_day: i64,
    files: u64,
    k: u32,
    /// The known flow's start (s).
    mid: i64,
}

impl Shape {
    /// Name epoch (s) of file `i` (`i == files` gives the end of the last file's span).
    fn epoch(&self, i: u64) -> i64 {
        self.start + (i as i64 * DAY) / self.per_day
    }

    /// Path of file `i` relative to `root`.
    fn rel(&self, i: u64) -> PathBuf {
        let e = self.epoch(i);
        if self.flat {
            PathBuf::from(format!("log.pcap.{e}"))
        } else {
            let day = Timestamp::from_secs(e).date_string();
            PathBuf::from(format!("{}/dailylogs/{day}/snort.log.{e}", self.sensor))
        }
    }

    /// The file whose span holds `t` µs (t within the store's span).
    fn file_of(&self, t: i64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.files);
        // The last i with epoch(i) * S <= t.
        while hi - lo > 1 {
            let m = lo + (hi - lo) / 2;
            if self.epoch(m) * S <= t {
                lo = m;
            } else {
                hi = m;
            }
        }
        lo
    }
}

fn bad(flag: &str, value: impl std::fmt::Display, why: &str) -> Box<dyn std::error::Error> {
    format!("{flag} {value}: {why}").into()
}

fn shape(c: &ScaleConfig) -> Res<Shape> {
    if !(1..=86_400).contains(&c.files_per_day) {
        return Err(bad(
            "--files-per-day",
            c.files_per_day,
            "must be 1..=86400 (at most one file per second)",
        ));
    }
    if !(1..=10_000).contains(&c.packets_per_file) {
        return Err(bad(
            "--packets-per-file",
            c.packets_per_file,
            "must be 1..=10000",
        ));
    }
    if c.threads == Some(0) {
        return Err(bad("--threads", 0, "must be at least 1"));
    }
    let per_day = i64::from(c.files_per_day);
    let files = if c.flat {
        let n = c.files.ok_or("--flat needs --files N")?;
        if !(1..=10_000_000).contains(&n) {
            return Err(bad("--files", n, "must be 1..=10000000"));
        }
        n
    } else {
        let d = c.days.unwrap_or(1);
        if !(1..=3660).contains(&d) {
            return Err(bad("--days", d, "must be 1..=3660"));
        }
        u64::from(d) * per_day as u64
    };
    let s = c.sensor.as_str();
    if !c.flat
        && (s.is_empty() || s.starts_with('.') || s.contains(['/', '\\']) || s == "dailylogs")
    {
        return Err(bad(
            "--sensor",
            format!("{s:?}"),
            "must be one non-hidden directory name (no '/', not starting with '.')",
        ));
    }
    let mut sh = Shape {
        root: c.out.clone(),
        flat: c.flat,
        sensor: c.sensor.clone(),
        start: c.start,
        per_day,
        files,
        k: c.packets_per_file,
        mid: 0,
    };
    let end = sh.epoch(files);
    if c.start < 0 || end > i64::from(u32::MAX) {
        return Err(bad(
            "--start",
            c.start,
            "the store must lie between 1970 and 2106 (32-bit pcap seconds)",
        ));
    }
    sh.mid = if c.flat {
        c.start + (end - c.start) / 2
    } else {
        c.start + (i64::from(c.days.unwrap_or(1)) - 1) * DAY + DAY / 2
    };
    if sh.mid + 2 > end {
        return Err(bad(
            "--files",
            files,
            "the store spans less than 4 seconds, too short for the known flow's 2-second window",
        ));
    }
    Ok(sh)
}

/// The known flow's packets: (µs, frame).
fn flow_packets(mid: i64) -> Vec<(i64, Vec<u8>)> {
    FLOW_PACKETS
        .iter()
        .enumerate()
        .map(|(i, &(dt, query))| {
            let id = 0x4200 + (i as u16 / 2);
            // A DNS query, or its answer (header, the question, one A record).
            let mut dns = Vec::with_capacity(40);
            dns.extend_from_slice(&id.to_be_bytes());
            dns.extend_from_slice(if query { &[0x01, 0x00] } else { &[0x81, 0x80] });
            dns.extend_from_slice(&[0, 1, 0, u8::from(!query), 0, 0, 0, 0]);
            dns.extend_from_slice(b"\x05scale\x05capme\x07invalid\x00\x00\x01\x00\x01");
            if !query {
                // The answer: a pointer to the name, A, IN, TTL 60, 192.0.2.53.
                dns.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 53]);
            }
            let b = if query {
                PacketBuilder::ethernet(MAC_A, MAC_B)
                    .ipv4(FLOW_SIP, FLOW_DIP)
                    .udp(FLOW_SPT, FLOW_DPT)
            } else {
                PacketBuilder::ethernet(MAC_B, MAC_A)
                    .ipv4(FLOW_DIP, FLOW_SIP)
                    .udp(FLOW_DPT, FLOW_SPT)
            };
            (mid * S + dt, b.id(id).payload(&dns).build())
        })
        .collect()
}

/// One background packet: UDP or TCP between a 192.168/16 and a 172.16/12 host.
fn noise(rng: &mut Rng) -> Vec<u8> {
    let r = rng.next_u64();
    let a = Ipv4Addr::new(192, 168, (r >> 8) as u8, (r >> 16) as u8 | 1);
    let b = Ipv4Addr::new(
        172,
        16 + ((r >> 24) as u8 & 15),
        (r >> 32) as u8,
        1 + (r >> 40) as u8 % 254,
    );
    let (sp, dp) = (
        1024 + (r >> 48) as u16 % 60_000,
        [443, 80, 53, 123, 22][r as usize % 5],
    );
    let up = r & 0x8000 != 0;
    let (sm, dm, src, dst, sp, dp) = if up {
        (MAC_A, MAC_B, a, b, sp, dp)
    } else {
        (MAC_B, MAC_A, b, a, dp, sp)
    };
    let mut payload = [0u8; 64];
    let len = 8 + rng.below(56) as usize;
    rng.fill(&mut payload[..len]);
    let base = PacketBuilder::ethernet(sm, dm).ipv4(src, dst).id(r as u16);
    if r & 0x10000 != 0 {
        base.udp(sp, dp).payload(&payload[..len]).build()
    } else {
        base.tcp(sp, dp)
            .seq((r >> 20) as u32)
            .ack((r >> 3) as u32)
            .flags(TcpFlags::PSH | TcpFlags::ACK)
            .payload(&payload[..len])
            .build()
    }
}

/// The bytes of file `i`: its background packets and the flow's packets that its span holds.
fn file_bytes(sh: &Shape, i: u64, flow: &[(i64, Vec<u8>)]) -> std::io::Result<(Vec<u8>, u64)> {
    let (a, b) = (sh.epoch(i) * S, sh.epoch(i + 1) * S);
    let slot = (b - a) / i64::from(sh.k);
    let mut rng = Rng::new(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5ca1e);
    let mut pkts: Vec<(i64, Vec<u8>)> = (0..i64::from(sh.k))
        .map(|j| (a + j * slot + rng.range(0, slot - 1), noise(&mut rng)))
        .collect();
    pkts.extend(
        flow.iter()
            .filter(|(t, _)| (a..b).contains(t))
            .map(|(t, d)| (*t, d.clone())),
    );
    // Stable: a flow packet stamped like a background packet comes after it.
    pkts.sort_by_key(|p| p.0);
    let size = 24 + pkts.iter().map(|p| 16 + p.1.len()).sum::<usize>();
    let mut w = PcapFileWriter::new(Vec::with_capacity(size), 1, 65535, false, false)?;
    for (t, d) in &pkts {
        let ts = (t.div_euclid(S) as u32, t.rem_euclid(S) as u32);
        w.write_record(ts, d.len() as u32, d)?;
    }
    Ok((w.into_inner()?, pkts.len() as u64))
}

/// Writes files `lo..hi`; returns (bytes, packets).
fn write_range(
    sh: &Shape,
    lo: u64,
    hi: u64,
    flow: &[(i64, Vec<u8>)],
    made: &mut PathBuf,
) -> Result<(u64, u64), String> {
    let (mut bytes, mut packets) = (0, 0);
    for i in lo..hi {
        let path = sh.root.join(sh.rel(i));
        if let Some(dir) = path.parent() {
            if dir != made.as_path() {
                fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                *made = dir.to_path_buf();
            }
        }
        let (data, n) = file_bytes(sh, i, flow).map_err(|e| e.to_string())?;
        fs::write(&path, &data).map_err(|e| format!("{}: {e}", path.display()))?;
        bytes += data.len() as u64;
        packets += n;
    }
    Ok((bytes, packets))
}

/// Writes the store (and the manifest, if asked) that `c` describes; returns what it wrote.
///
/// The output directory is created; it must be empty or absent.
pub fn generate(c: &ScaleConfig) -> Res<ScaleReport> {
    let sh = shape(c)?;
    if c.out.exists() && (!c.out.is_dir() || fs::read_dir(&c.out)?.next().is_some()) {
        return Err(format!(
            "--out {}: exists and is not an empty directory; remove it first",
            c.out.display()
        )
        .into());
    }
    fs::create_dir_all(&c.out)?;
    let flow = flow_packets(sh.mid);
    let threads = c
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64);
    let next = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let totals = Mutex::new((0u64, 0u64));
    let first_err: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut made = PathBuf::new();
                while !failed.load(Ordering::Relaxed) {
                    let lo = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if lo >= sh.files {
                        break;
                    }
                    let hi = (lo + CHUNK).min(sh.files);
                    match write_range(&sh, lo, hi, &flow, &mut made) {
                        Ok((b, p)) => {
                            let mut t = totals.lock().expect("not poisoned");
                            t.0 += b;
                            t.1 += p;
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_err.lock().expect("not poisoned").get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().expect("not poisoned") {
        return Err(e.into());
    }
    let (bytes, packets) = totals.into_inner().expect("not poisoned");

    let mut flow_files: Vec<String> = flow
        .iter()
        .map(|(t, _)| sh.rel(sh.file_of(*t)).to_string_lossy().into_owned())
        .collect();
    flow_files.dedup();
    let manifest = json!({
        "sip": FLOW_SIP.to_string(),
        "spt": FLOW_SPT,
        "dip": FLOW_DIP.to_string(),
        "dpt": FLOW_DPT,
        "proto": "udp",
        "stime": sh.mid,
        "etime": sh.mid + 1,
        "packets": flow.len(),
        "flow_bytes": flow.iter().map(|p| p.1.len()).sum::<usize>(),
        "flow_files": flow_files,
        "files": sh.files,
        "bytes": bytes,
        "store_packets": packets,
        "layout": if sh.flat { "flat" } else { "security-onion" },
        "store": c.out.to_string_lossy(),
        "sensor": if sh.flat { Value::Null } else { json!(sh.sensor) },
        "days": if sh.flat { Value::Null } else { json!(c.days.unwrap_or(1)) },
        "files_per_day": sh.per_day,
        "packets_per_file": sh.k,
        "start": sh.start,
        "end": sh.epoch(sh.files),
    });
    if let Some(path) = &c.manifest {
        crate::manifest::write_json(path, &manifest)?;
    }
    Ok(ScaleReport {
        files: sh.files,
        bytes,
        packets,
        manifest,
    })
}

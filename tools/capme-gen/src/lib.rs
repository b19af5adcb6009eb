//! Generates deterministic Security Onion style capture stores for capme's tests and benchmarks.
//!
//! The `gen-store` binary is the command line; tests call [`generate`]:
//!
//! ```text
//! cargo run --release -p capme-gen --bin gen-store -- --out DIR [--seed N] [--sensors N]
//!     [--start EPOCH] [--duration SECS] [--rotate SECS] [--target-bytes N] [--manifest FILE]
//! ```
//!
//! ```no_run
//! let mut config = capme_gen::Config::new("/tmp/store");
//! config.target_bytes = 80_000_000;
//! let report = capme_gen::generate(&config)?;
//! println!("{} files, {} bytes", report.files, report.bytes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout: `DIR/<sensor>/dailylogs/YYYY-MM-DD/snort.log.<epoch>`, one legacy pcap per rotation
//! (µs, little-endian, link type 1 Ethernet, snaplen 65535). A file is named after the epoch
//! second (floor) of its first packet and lives in the UTC day of that packet; a new file starts
//! with the first packet at or after `name + rotate`. Sensors are `sensor1-eth1`, `sensor2-eth0`,
//! `sensor3-eth1`, ...; sensor *i* starts `137·(i-1)` seconds after `--start`, so their times
//! overlap.
//!
//! The traffic is background noise (module `traffic`: TCP with handshake, data and FIN; DNS;
//! ICMP echo; NTP; syslog; some fragmented UDP; IPv4 and IPv6; some on 802.1Q VLANs and some
//! QinQ) plus named flows (module `named`) that tests look up in the manifest (module
//! `manifest`, `--manifest`): plain TCP/UDP/ICMP over IPv4 and IPv6, VLAN, QinQ and MPLS flows,
//! fragmented UDP (one with the last fragment written before the first), a 5-tuple reused an
//! hour later, a connection across midnight UTC, a packet at the end of one file stamped after
//! the first packet of the next file, IPv4 options and IPv6 extension headers. Within a file a
//! few packets are stamped 1–5 ms before their predecessor, as multi-queue capture does, but
//! never before the file's name (module `writer`).
//!
//! The defaults (start 2024-06-14T23:02:17Z, 2 hours, rotation every 900 s, 2 sensors, about
//! 1.1 MB) give the small store committed under `examples/data/store`. `--target-bytes` scales
//! the background traffic (total over all sensors, approximate); packets are streamed, so memory
//! stays bounded for multi-GB stores. The same arguments always give byte-identical output: the
//! only randomness is the seeded splitmix64 of `capme_core::testutil::rng`, and only exact
//! integer/float arithmetic is used.
//!
//! ```text
//! cargo run --release -p capme-gen --bin gen-store -- --out /tmp/store --manifest /tmp/manifest.json
//! cargo run --release -p capme-gen --bin gen-store -- --out /tmp/big --target-bytes 4000000000
//! ```
//!
//! The `gen-scale` binary (module [`scale`]) writes the other kind of store the benchmarks need:
//! many small files (days of 8,000 files a day, or one flat directory) with one known flow, for
//! `benches/scale.py`.

mod flow;
pub mod impaired;
mod manifest;
mod named;
pub mod scale;
mod traffic;
pub mod tunnels;
mod writer;

use crate::manifest::{manifest, write_json};
use crate::named::{flow_ports, named_flow, plan};
use crate::traffic::{background, mean_flow_bytes, BgCtx};
use crate::writer::{FileRec, FlowRec, Queue, Writer};
use capme_core::testutil::rng::Rng;
use clap::Parser;
use serde_json::json;
use std::error::Error;
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;

/// What the generator's fallible steps return.
pub type Res<T> = Result<T, Box<dyn Error>>;

/// Microseconds per second.
pub(crate) const S: i64 = 1_000_000;
/// Milliseconds in µs.
pub(crate) const MS: i64 = 1_000;

/// What to generate: the `gen-store` command line. [`Config::new`] gives its defaults.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "gen-store",
    about = "Generate a deterministic Security Onion style pcap store"
)]
pub struct Config {
    /// Output directory (created; must be empty or absent).
    #[arg(long)]
    pub out: PathBuf,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of sensors (1..=9).
    #[arg(long, default_value_t = 2)]
    pub sensors: usize,
    /// Start, epoch seconds (default 2024-06-14T23:02:17Z, so that 2 hours cross midnight UTC).
    #[arg(long, default_value_t = 1_718_406_137)]
    pub start: i64,
    /// Capture duration per sensor in seconds.
    #[arg(long, default_value_t = 7200)]
    pub duration: i64,
    /// Rotate files every this many seconds.
    #[arg(long, default_value_t = 900)]
    pub rotate: i64,
    /// Approximate total size of the store over all sensors, in bytes.
    #[arg(long, default_value_t = 1_100_000)]
    pub target_bytes: u64,
    /// Write a JSON description of the named flows (and of every file) here.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

impl Config {
    /// The command line's defaults (the bundled sample store) writing to `out`.
    pub fn new(out: impl Into<PathBuf>) -> Config {
        // `--out=PATH` in one word, so that no path can read as another option.
        let mut out_arg = OsString::from("--out=");
        out_arg.push(out.into());
        Config::parse_from([OsString::from("gen-store"), out_arg])
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct Report {
    /// Sensors (top-level directories).
    pub sensors: usize,
    /// Capture files.
    pub files: usize,
    /// Bytes of all capture files.
    pub bytes: u64,
    /// Named flows (manifest entries; the shared flow counts once per sensor).
    pub named_flows: usize,
    /// Packets of named flows that could not be stamped or placed as described (a disorder or a
    /// rotation overlap that did not fit; none with the defaults).
    pub warnings: Vec<String>,
}

pub(crate) fn sensor_name(i: usize) -> String {
    format!("sensor{}-eth{}", i + 1, if i % 2 == 0 { 1 } else { 0 })
}

pub(crate) fn sensor_start(args: &Config, i: usize) -> i64 {
    (args.start + 137 * i as i64) * S
}

/// Writes the store (and the manifest, if asked) that `args` describe.
///
/// The output directory is created; it must be empty or absent.
pub fn generate(args: &Config) -> Res<Report> {
    if args.sensors == 0 || args.sensors > 9 {
        return Err("--sensors must be 1..=9".into());
    }
    if args.duration <= 0 || args.rotate <= 0 {
        return Err("--duration and --rotate must be positive".into());
    }
    if args.out.exists() && fs::read_dir(&args.out)?.next().is_some() {
        return Err(format!(
            "{}: directory is not empty; remove it first",
            args.out.display()
        )
        .into());
    }
    fs::create_dir_all(&args.out)?;
    let sensors: Vec<String> = (0..args.sensors).map(sensor_name).collect();
    let plans = plan(args, &sensors);
    let mut flows: Vec<FlowRec> = Vec::new();
    let mut files: Vec<FileRec> = Vec::new();
    let mut warnings = Vec::new();
    let mut sensor_json = Vec::new();

    let per_sensor = args.target_bytes / args.sensors as u64;
    let cap = (per_sensor / 200).clamp(1_500, 4_000_000) as i64;
    for (si, sensor) in sensors.iter().enumerate() {
        let ctx = BgCtx {
            gw: [0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x10 + si as u8],
            cap,
        };
        let mean = mean_flow_bytes(&ctx, args.seed);
        // Named flows take about 40 kB on the first sensor and a few kB on the others.
        let named = if si == 0 { 40_000 } else { 10_000 };
        let budget = per_sensor.saturating_sub(named).max(per_sensor / 10) as f64;
        let flows_total = budget / mean;
        // Mean gap between flow starts in µs; gaps are uniform in [1, 2·mean].
        let mean_gap = ((args.duration * S) as f64 / flows_total.max(1.0)) as i64;
        let start = sensor_start(args, si);
        let end = start + args.duration * S;
        let mut rng = Rng::new(args.seed.wrapping_mul(0x9e37_79b9).wrapping_add(si as u64));
        let mut named_rng = Rng::new(args.seed ^ 0xa11ce ^ ((si as u64) << 32));
        let mut w = Writer {
            root: args.out.clone(),
            sensor: sensor.clone(),
            rotate: args.rotate,
            rng: Rng::new(args.seed ^ 0xf11e ^ ((si as u64) << 40)),
            cur: None,
            held: None,
            files: Vec::new(),
            warnings: Vec::new(),
        };
        let mut q = Queue::default();
        let mut next_bg = start;
        let mut plan_iter = plans[si].iter().peekable();
        loop {
            let bg_t = (next_bg < end).then_some(next_bg);
            let named_t = plan_iter.peek().map(|p| p.start);
            let next = match (bg_t, named_t) {
                (None, None) => break,
                (Some(b), None) => b,
                (None, Some(n)) => n,
                (Some(b), Some(n)) => b.min(n),
            };
            while q.peek_key().is_some_and(|k| k < next) {
                let p = q.heap.pop().expect("peeked");
                w.push(p, &mut flows)?;
            }
            if named_t == Some(next) {
                let p = plan_iter.next().expect("peeked");
                let (link, outs) = named_flow(p.kind, p.start, &w, &mut named_rng);
                let idx = flows.len();
                let (src, dst) = (link.a, link.b);
                let (proto, sport, dport) = flow_ports(&outs, &link);
                flows.push(FlowRec {
                    name: p.kind.name(),
                    description: p.kind.description(),
                    sensor: sensor.clone(),
                    proto,
                    src,
                    sport,
                    dst,
                    dport,
                    vlan_ids: link.tags.iter().map(|t| t.1).collect(),
                    mpls: link.mpls.clone(),
                    packets: Vec::new(),
                });
                q.add(outs, Some(&link), Some(idx));
            } else {
                let outs = background(&mut rng, next, &ctx);
                q.add(outs, None, None);
                next_bg += rng.range(1, 2 * mean_gap.max(1));
            }
        }
        while let Some(p) = q.heap.pop() {
            w.push(p, &mut flows)?;
        }
        w.finish(&mut flows)?;
        let packets: u64 = w.files.iter().map(|f| f.packets).sum();
        let bytes: u64 = w.files.iter().map(|f| f.bytes).sum();
        sensor_json.push(json!({
            "name": sensor,
            "start": start / S,
            "files": w.files.len(),
            "packets": packets,
            "bytes": bytes,
        }));
        warnings.append(&mut w.warnings);
        files.append(&mut w.files);
    }

    let total: u64 = files.iter().map(|f| f.bytes).sum();
    if let Some(path) = &args.manifest {
        let m = manifest(args, &sensor_json, &files, &flows, total, &warnings);
        write_json(path, &m)?;
    }
    Ok(Report {
        sensors: sensors.len(),
        files: files.len(),
        bytes: total,
        named_flows: flows.len(),
        warnings,
    })
}

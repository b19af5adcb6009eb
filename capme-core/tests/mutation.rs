//! Damaged copies of a sample-store file: damage away from a flow's records must not lose
//! them (the reader resynchronises after the corrupt record), and an indexed extraction of a
//! damaged file returns exactly what a scan returns.
//!
//! The before/after numbers of the issue: `CAPME_MUTATIONS=1000 cargo test -p capme-core
//! --test mutation -- --nocapture` prints, per format, how many mutated files lose a flow
//! record to a reader that stops at the first corrupt record (the behaviour before resync)
//! and how many lose one now.

use capme_core::capture::CaptureReader;
use capme_core::testutil::capture::PcapngBuilder;
use capme_core::testutil::rng::Rng;
use capme_core::{FlowSpec, Packet, Query, Store, TimeWindow};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

const FILE: &str = "sensor1-eth1/dailylogs/2024-06-14/snort.log.1718406137";

fn sample_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/store")
        .join(FILE)
}

/// The manifest's "tcp-v4" flow (13 packets, all in [`FILE`]), in a window around it.
fn query() -> Query {
    Query::new(
        manifest_flow(),
        TimeWindow::parse("1718406490", "1718406510").unwrap(),
    )
}

fn manifest_flow() -> FlowSpec {
    let m: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let f = &m["flows"][0];
    assert_eq!(f["name"], "tcp-v4");
    let s = |k: &str| f[k].to_string().trim_matches('"').to_string();
    FlowSpec::parse_tuple(
        &s("src_ip"),
        Some(&s("src_port")),
        &s("dst_ip"),
        Some(&s("dst_port")),
        Some(&s("proto")),
    )
    .unwrap()
}

/// `(ts ns, bytes)` of each packet an extraction returns (no packet: empty).
fn extract(store: &Store, q: &Query) -> Vec<(i64, Vec<u8>)> {
    let mut got: Vec<Packet> = Vec::new();
    match store.extract(q, &mut got) {
        Ok(_) | Err(capme_core::Error::NoPackets { .. }) => {}
        Err(e) => panic!("{e}"),
    }
    got.iter()
        .map(|p| (p.ts.as_nanos(), p.data.to_vec()))
        .collect()
}

/// A store of one file (`bytes` at [`FILE`]) in `dir`.
fn store_of(dir: &Path, bytes: &[u8]) -> PathBuf {
    let root = dir.join("store");
    let p = root.join(FILE);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
    root
}

/// The records of a capture `(ts ns, bytes, (start, end))` read by a reader that stops at the
/// first corrupt record (`resync` false, as before) or passes over it.
fn records(path: &Path, resync: bool) -> Vec<(i64, Vec<u8>, (u64, u64))> {
    let r = if resync {
        CaptureReader::open_resyncing(path)
    } else {
        CaptureReader::open(path)
    };
    let mut out = Vec::new();
    let Ok(mut r) = r else { return out };
    while let Ok(Some(rec)) = r.next_record() {
        let (ts, data) = (rec.ts.as_nanos(), rec.data.to_vec());
        out.push((ts, data, r.last_block()));
    }
    out
}

/// The sample file as pcapng (one section, one µs interface, EPBs).
fn as_pcapng(pcap: &Path) -> Vec<u8> {
    let mut r = CaptureReader::open(pcap).unwrap();
    let mut b = PcapngBuilder::new();
    b.section(false);
    b.interface(1, 65535, None, None);
    while let Some(rec) = r.next_record().unwrap() {
        b.epb(0, (rec.ts.as_nanos() / 1000) as u64, rec.data, rec.orig_len);
    }
    b.bytes()
}

/// Damages `b` at a random place that does not touch a byte of `protect`:
/// overwrites 1 to 8 bytes, writes a random 32-bit value, inserts 1 to 64 random bytes, or
/// deletes 1 to 64 bytes. The file header (first `head` bytes) is left alone.
fn mutate(rng: &mut Rng, b: &[u8], head: usize, protect: &[(usize, usize)]) -> Vec<u8> {
    loop {
        let kind = rng.below(4);
        let len = match kind {
            0 => 1 + rng.below(8) as usize,
            1 => 4,
            2 => 0,
            _ => 1 + rng.below(64) as usize,
        };
        let at = head + rng.below((b.len() - head) as u64) as usize;
        let end = (at + len.max(1)).min(b.len());
        if protect.iter().any(|&(s, e)| at < e && s < end) {
            continue;
        }
        let mut out = b.to_vec();
        match kind {
            0 => rng.fill(&mut out[at..end]),
            1 => {
                let v = rng.next_u64().to_le_bytes();
                let n = end - at;
                out[at..end].copy_from_slice(&v[..n]);
            }
            2 => {
                let mut junk = vec![0u8; 1 + rng.below(64) as usize];
                rng.fill(&mut junk);
                out.splice(at..at, junk);
            }
            _ => {
                out.drain(at..end);
            }
        }
        return out;
    }
}

/// Runs `n` mutations of `clean` (written at [`FILE`]) and returns (lost before, lost now).
fn run(format: &str, clean: &[u8], head: usize, n: usize, seed: u64) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = store_of(dir.path(), clean);
    let q = query();
    let scan = Store::open([&root]).unwrap().use_index(false);
    let want = extract(&scan, &q);
    assert_eq!(want.len(), 13, "{format}: the clean file holds the flow");
    let wanted: HashSet<(i64, Vec<u8>)> = want.iter().cloned().collect();
    // The flow's own records; anything else may be damaged, including the length of the
    // record before one of them.
    let protect: Vec<(usize, usize)> = records(&root.join(FILE), false)
        .into_iter()
        .filter(|(ts, data, _)| wanted.contains(&(*ts, data.clone())))
        .map(|(_, _, (s, e))| (s as usize, e as usize))
        .collect();
    let mut rng = Rng::new(seed);
    let (mut lost_before, mut lost_now) = (0, 0);
    for k in 0..n {
        let bad = mutate(&mut rng, clean, head, &protect);
        let case = dir.path().join(format!("case{k}"));
        let root = store_of(&case, &bad);
        let path = root.join(FILE);
        let found = |resync: bool| {
            let got: HashSet<(i64, Vec<u8>)> = records(&path, resync)
                .into_iter()
                .map(|(t, d, _)| (t, d))
                .collect();
            wanted.iter().all(|w| got.contains(w))
        };
        if !found(false) {
            lost_before += 1;
        }
        let scan = Store::open([&root]).unwrap().use_index(false);
        let got = extract(&scan, &q);
        let all = want.iter().all(|w| got.contains(w));
        if !all || !found(true) {
            lost_now += 1;
            eprintln!("{format} mutation {k} (seed {seed}) lost the flow");
            if let Ok(mut r) = CaptureReader::open_resyncing(&path) {
                while let Ok(Some(_)) = r.next_record() {}
                eprintln!("  damage {:?}, trailing {}", r.damage(), r.trailing_bytes());
            }
        }
        // Index built on the damaged file = scan.
        let idx = case.join("idx");
        let indexed = Store::open([&root]).unwrap().with_index_dir(&idx);
        let rep = indexed.build_indexes().unwrap();
        assert_eq!(rep.built, 1, "{format} mutation {k}: {rep:?}");
        assert_eq!(
            extract(&indexed, &q),
            got,
            "{format} mutation {k}: indexed and scanned extractions differ"
        );
        fs::remove_dir_all(&case).unwrap();
    }
    eprintln!(
        "{format}: {n} mutated files, flow lost by a reader stopping at the first corrupt record: {lost_before} ({:.0} %), lost now: {lost_now}",
        100.0 * lost_before as f64 / n as f64
    );
    (lost_before, lost_now)
}

fn count() -> usize {
    std::env::var("CAPME_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

#[test]
fn damage_elsewhere_does_not_lose_the_flow_pcap() {
    let clean = fs::read(sample_file()).unwrap();
    let (before, now) = run("pcap", &clean, 24, count(), 0x5eed_0001);
    assert_eq!(now, 0);
    assert!(
        before > 0,
        "the mutations never reached the flow before resync"
    );
}

#[test]
fn damage_elsewhere_does_not_lose_the_flow_pcapng() {
    let clean = as_pcapng(&sample_file());
    // Leave the section header and the interface description alone.
    let head = {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pcapng");
        fs::write(&p, &clean).unwrap();
        records(&p, false)[0].2 .0 as usize
    };
    let (before, now) = run("pcapng", &clean, head, count(), 0x5eed_0002);
    assert_eq!(now, 0);
    assert!(
        before > 0,
        "the mutations never reached the flow before resync"
    );
}

//! A capture file still being written (issue 11, "what must keep holding"): while a writer
//! appends pcap or pcapng records in arbitrary pieces (so records are often half-written),
//! scans, indexed reads and index builds (what `capme index --follow` runs every 10 s) go on
//! at the same time. Every query returns the records complete when it started, and never a
//! wrong or partial one: always a prefix of the records in file order.

use capme_core::testutil::capture::{PcapBuilder, PcapngBuilder};
use capme_core::testutil::packet::udp4;
use capme_core::testutil::rng::Rng;
use capme_core::{Query, Store, TimeWindow};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const N: u32 = 600;
const T0: u32 = 1_700_000_000;

fn packet(i: u32) -> Vec<u8> {
    let mut payload = i.to_be_bytes().to_vec();
    payload.resize(40 + (i as usize * 7) % 200, 0xab);
    udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &payload)
}

/// The mark of a packet built by [`packet`]: the first 4 bytes of its UDP payload.
fn mark(data: &[u8]) -> u32 {
    // Ethernet (14) + IPv4 (20) + UDP (8).
    u32::from_be_bytes(data[42..46].try_into().unwrap())
}

/// The whole file's bytes and the end offset of each record.
fn pcap_file() -> (Vec<u8>, Vec<usize>) {
    let mut b = PcapBuilder::new(1, false, false);
    let mut ends = Vec::new();
    let mut end = 24;
    for i in 0..N {
        let p = packet(i);
        end += 16 + p.len();
        ends.push(end);
        b.packet((T0 + i / 100, (i % 100) * 10_000), &p);
    }
    (b.bytes(), ends)
}

fn pcapng_file() -> (Vec<u8>, Vec<usize>) {
    let mut b = PcapngBuilder::new();
    b.section(false);
    let iface = b.interface(1, 65535, Some(9), None);
    let mut ends = Vec::new();
    for i in 0..N {
        let ts = u64::from(T0) * 1_000_000_000 + u64::from(i) * 10_000_000;
        let p = packet(i);
        b.epb(iface, ts, &p, p.len() as u32);
        ends.push(b.bytes().len());
    }
    (b.bytes(), ends)
}

fn query() -> Query {
    Query::new(
        capme_core::testutil::udp_flow(),
        TimeWindow::parse("1700000000", "1700000010").unwrap(),
    )
}

/// Marks of the packets a search returns now, and how many records were complete when it
/// started.
fn marks_now(store: &Store, path: &Path, ends: &[usize]) -> (Vec<u32>, usize) {
    let size = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
    let complete = ends.iter().take_while(|&&e| e <= size).count();
    let marks = match store.search(&query()) {
        Ok(s) => s
            .map(|p| mark(&p.expect("no error from a growing file").data))
            .collect(),
        Err(e) => panic!("{e}"),
    };
    (marks, complete)
}

fn grow_while_querying(name: &str, (bytes, ends): (Vec<u8>, Vec<usize>), seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("s1/dailylogs/2023-11-14");
    std::fs::create_dir_all(&day).unwrap();
    let path: PathBuf = day.join(name);
    let idx = dir.path().join("idx");
    let scan = Store::open([dir.path()]).unwrap().use_index(false);
    let indexed = Store::open([dir.path()]).unwrap().with_index_dir(&idx);
    let done = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    // The file exists (empty) before the first query.
    std::fs::File::create(&path).unwrap();
    let writer = {
        let (path, done, bytes) = (path.clone(), done.clone(), bytes.clone());
        std::thread::spawn(move || {
            let mut rng = Rng::new(seed);
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            let mut at = 0;
            while at < bytes.len() {
                let n = (1 + rng.below(400) as usize).min(bytes.len() - at);
                f.write_all(&bytes[at..at + n]).unwrap();
                f.flush().unwrap();
                at += n;
                std::thread::sleep(std::time::Duration::from_micros(rng.below(300)));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let follower = {
        let (indexed, done) = (indexed.clone(), done.clone());
        std::thread::spawn(move || {
            let mut builds = 0;
            while !done.load(Ordering::SeqCst) {
                let rep = indexed
                    .build_indexes()
                    .expect("index build of a growing file");
                builds += rep.built;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            builds
        })
    };
    let mut queries = 0;
    let mut partial_seen = false;
    while !done.load(Ordering::SeqCst) {
        for (how, store) in [("scan", &scan), ("indexed", &indexed)] {
            let (marks, complete) = marks_now(store, &path, &ends);
            let want: Vec<u32> = (0..marks.len() as u32).collect();
            if marks != want {
                let missing: Vec<u32> = want
                    .iter()
                    .filter(|m| !marks.contains(m))
                    .copied()
                    .collect();
                panic!(
                    "{name} ({how}): not a prefix of the file's records: {} packets, {complete} complete at the start, missing {missing:?}",
                    marks.len()
                );
            }
            assert!(
                marks.len() >= complete,
                "{name}: {} packets, but {complete} records were complete when the query began",
                marks.len()
            );
            partial_seen |= marks.len() < N as usize;
            queries += 1;
        }
        rounds.fetch_add(1, Ordering::SeqCst);
    }
    writer.join().unwrap();
    let builds = follower.join().unwrap();
    indexed.build_indexes().unwrap();
    for store in [&scan, &indexed] {
        let (marks, _) = marks_now(store, &path, &ends);
        assert_eq!(
            marks,
            (0..N).collect::<Vec<_>>(),
            "{name}: all records at the end"
        );
    }
    assert!(
        queries >= 4 && partial_seen,
        "{name}: the queries ran while the file grew"
    );
    assert!(
        builds >= 1,
        "{name}: the index was built while the file grew"
    );
}

#[test]
fn a_growing_pcap_file_is_read_up_to_its_last_whole_record() {
    grow_while_querying("snort.log.1700000000", pcap_file(), 11);
}

#[test]
fn a_growing_pcapng_file_is_read_up_to_its_last_whole_block() {
    grow_while_querying("snort.log.1700000000.pcapng", pcapng_file(), 12);
}

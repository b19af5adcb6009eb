//! Files deleted, truncated and replaced while searches and index builds run (issue 11):
//! every search ends (no hang), with packets of the flow only, each one exactly as written,
//! and a problem is a warning or an error that names a file, never a panic.

use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::packet::udp4;
use capme_core::testutil::rng::Rng;
use capme_core::{Error, Query, Store, TimeWindow};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const FILES: u32 = 80;
const T0: u32 = 1_700_000_000;

/// Record `r` of file `f`: the flow's packet (port 5000) for even `r`, other traffic for odd,
/// its payload the (file, record) pair, so a packet can be checked against its timestamp.
fn record(f: u32, r: u32) -> ((u32, u32), Vec<u8>) {
    let sport = if r % 2 == 0 { 5000 } else { 6000 };
    let mut payload = f.to_be_bytes().to_vec();
    payload.extend_from_slice(&r.to_be_bytes());
    payload.resize(64 + (r as usize % 5) * 100, 0x5a);
    (
        (T0 + f * 10 + r / 100, (r % 100) * 10_000),
        udp4([10, 0, 0, 1], sport, [10, 0, 0, 2], 53, &payload),
    )
}

fn write_file(path: &Path, f: u32) {
    let mut b = PcapBuilder::new(1, false, false);
    for r in 0..400 {
        let (ts, p) = record(f, r);
        b.packet(ts, &p);
    }
    b.write(path).unwrap();
}

fn path_of(day: &Path, f: u32) -> PathBuf {
    day.join(format!("snort.log.{}", T0 + f * 10))
}

/// Every packet is one of the flow's records, byte for byte at its own timestamp.
fn check(p: &capme_core::Packet) {
    let f = u32::from_be_bytes(p.data[42..46].try_into().unwrap());
    let r = u32::from_be_bytes(p.data[46..50].try_into().unwrap());
    let ((sec, usec), want) = record(f, r);
    assert_eq!(r % 2, 0, "a packet of another flow");
    assert_eq!(&p.data[..], &want[..], "packet ({f}, {r}) changed");
    assert_eq!(p.ts_raw, (sec, usec), "packet ({f}, {r}) at another time");
}

#[test]
fn deletes_truncations_and_rotations_during_searches_and_indexing() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("s1/dailylogs/2023-11-14");
    std::fs::create_dir_all(&day).unwrap();
    for f in 0..FILES {
        write_file(&path_of(&day, f), f);
    }
    let idx = dir.path().join("idx");
    let scan = Store::open([dir.path()]).unwrap().use_index(false);
    let indexed = Store::open([dir.path()]).unwrap().with_index_dir(&idx);
    indexed.build_indexes().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (day, stop) = (day.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Rng::new(7);
            let mut changes = 0u32;
            while !stop.load(Ordering::SeqCst) && changes < 200 {
                let f = rng.below(u64::from(FILES)) as u32;
                let p = path_of(&day, f);
                match rng.below(4) {
                    0 => {
                        let _ = std::fs::remove_file(&p);
                    }
                    1 => {
                        // Cut anywhere, often inside a record.
                        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&p) {
                            let len = file.metadata().map_or(0, |m| m.len());
                            let _ = file.set_len(rng.below(len.max(1)));
                        }
                    }
                    2 => {
                        // Rotation: a new file renamed over the old name.
                        let tmp = day.join(format!(".new.{f}"));
                        write_file(&tmp, f);
                        let _ = std::fs::rename(&tmp, &p);
                    }
                    _ => write_file(&p, f),
                }
                changes += 1;
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            changes
        })
    };
    let indexer = {
        let (indexed, stop) = (indexed.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                // Files vanish under it: a warning at most, never a failure.
                indexed
                    .build_indexes()
                    .expect("index build while files change");
            }
        })
    };
    let q = Query::new(
        capme_core::testutil::udp_flow(),
        TimeWindow::parse("1700000000", "1700002000").unwrap(),
    );
    let (mut searches, mut packets, mut named_errors) = (0, 0usize, 0);
    let t = std::time::Instant::now();
    while searches < 20 && t.elapsed().as_secs() < 120 {
        for store in [&scan, &indexed] {
            match store.search(&q) {
                Ok(search) => {
                    for p in search {
                        match p {
                            Ok(p) => {
                                check(&p);
                                packets += 1;
                            }
                            Err(e @ (Error::Io { .. } | Error::Format { .. })) => {
                                assert!(e.to_string().contains("snort.log."), "{e}");
                                named_errors += 1;
                                break;
                            }
                            Err(e) => panic!("unexpected error: {e}"),
                        }
                    }
                }
                Err(e) => panic!("planning failed: {e}"),
            }
            searches += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let changes = churn.join().unwrap();
    indexer.join().unwrap();
    assert!(
        searches >= 20,
        "searches did not end in time ({searches} in 120 s)"
    );
    assert!(
        changes > 20 && packets > 1000,
        "{changes} changes, {packets} packets"
    );
    eprintln!("{searches} searches, {packets} packets, {changes} changes, {named_errors} errors naming a file");
}

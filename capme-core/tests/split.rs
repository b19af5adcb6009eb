//! A large legacy pcap file is cut into segments scanned by several threads at once; these
//! tests check that the result is exactly that of one scan of the whole file, also when a
//! segment bound falls inside a packet (a false resync) and when the late-run stop of the
//! whole-file scan falls inside a later segment.

use capme_core::capture::seek::{open_split, Split};
use capme_core::search::REORDER_SLACK_NS;
use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::packet::udp4;
use capme_core::testutil::rng::Rng;
use capme_core::{Packet, Query, ScanOptions, Search, Store, TimeWindow};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const T0: u32 = 1_700_000_000;
/// Smallest segment in these tests: small files are cut into many segments.
const SEGMENT_MIN: u64 = 16 << 10;

/// A packet of the queried flow (10.0.0.1:5000 <-> 10.0.0.2:53), numbered `n`, `len` bytes of
/// payload, in either direction.
fn flow_packet(n: u32, len: usize) -> Vec<u8> {
    let mut payload = vec![0xAB; len.max(4)];
    payload[..4].copy_from_slice(&n.to_be_bytes());
    if n % 2 == 0 {
        udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &payload)
    } else {
        udp4([10, 0, 0, 2], 53, [10, 0, 0, 1], 5000, &payload)
    }
}

/// A packet of another flow, with `payload`.
fn other_packet(i: u32, payload: &[u8]) -> Vec<u8> {
    udp4(
        [10, 1, (i >> 8) as u8, i as u8],
        4000,
        [10, 0, 0, 2],
        80,
        payload,
    )
}

/// Payload bytes that look like a chain of pcap records (plausible seconds, 8-byte packets),
/// so that a resync inside such a packet finds a false record boundary; `len` a multiple of
/// 24 makes the fake chain end where the packet ends, so a reader started on it goes on
/// through the real records after it.
fn fake_records(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() + 24 <= len {
        out.extend_from_slice(&(T0 + 3).to_le_bytes());
        out.extend_from_slice(&500u32.to_le_bytes());
        out.extend_from_slice(&8u32.to_le_bytes());
        out.extend_from_slice(&8u32.to_le_bytes());
        out.extend_from_slice(&[0x11; 8]);
    }
    out.resize(len, 0);
    out
}

fn query(stime: u32, etime: u32) -> Query {
    Query::new(
        capme_core::testutil::udp_flow(),
        TimeWindow::parse(&stime.to_string(), &etime.to_string()).unwrap(),
    )
}

/// Writes `b` as the only capture file of a one-sensor store under `root`; returns its path.
fn write_store(root: &Path, b: &PcapBuilder) -> PathBuf {
    let d = root.join("sensor1").join("dailylogs").join("2023-11-14");
    fs::create_dir_all(&d).unwrap();
    let p = d.join(format!("snort.log.{T0}"));
    b.write(&p).unwrap();
    p
}

/// The byte offset of every record of a builder's file, from its records' lengths.
fn record_offsets(lens: &[usize]) -> Vec<u64> {
    let mut at = 24u64;
    lens.iter()
        .map(|l| {
            let o = at;
            at += 16 + *l as u64;
            o
        })
        .collect()
}

/// The packets of `query` with `threads` threads cutting segments of `SEGMENT_MIN` bytes.
fn search(root: &Path, q: &Query, threads: usize) -> Vec<Packet> {
    let store = Store::open([root]).unwrap();
    let plan = store.plan(&q.window).unwrap();
    let opts = ScanOptions {
        threads,
        segment_min_bytes: SEGMENT_MIN,
        ..Default::default()
    };
    Search::with_options(plan, q, &opts)
        .map(|p| p.unwrap())
        .collect()
}

/// How a search with `parts` threads cuts the store's one file for `q`: the window widened by
/// the reorder slack, as the search reads it.
fn search_split(path: &Path, q: &Query, parts: usize) -> capme_core::Result<Option<Split>> {
    let slack = REORDER_SLACK_NS;
    let from = q.window.start.saturating_add_nanos(-slack);
    let late_limit = q.window.end.saturating_add_nanos(slack);
    open_split(path, from, late_limit, parts, SEGMENT_MIN)
}

fn same(a: &[Packet], b: &[Packet]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.ts == y.ts && x.ts_raw == y.ts_raw && x.data == y.data)
}

/// Searches `q` with each of `threads` and asserts the packets are exactly `base`'s.
fn assert_same_with(root: &Path, q: &Query, base: &[Packet], threads: &[usize], what: &str) {
    for &t in threads {
        let got = search(root, q, t);
        assert!(
            same(&got, base),
            "{what}, threads {t}: {} vs {} packets: {:?}",
            got.len(),
            base.len(),
            numbers(&got)
        );
    }
}

/// How many of `bounds` are not record boundaries of a file whose records have these lengths.
fn false_bounds(bounds: &[u64], lens: &[usize]) -> usize {
    let offsets = record_offsets(lens);
    bounds
        .iter()
        .filter(|b| offsets.binary_search(b).is_err())
        .count()
}

fn numbers(packets: &[Packet]) -> Vec<u32> {
    packets
        .iter()
        .map(|p| u32::from_be_bytes(p.data[42..46].try_into().unwrap()))
        .collect()
}

fn ts(ms: u32) -> (u32, u32) {
    (T0 + ms / 1000, (ms % 1000) * 1000)
}

/// 60,000 records over 60 s (about 9 MB), one flow packet in 40, some of them a little out of
/// order (as from several capture queues): every thread count returns exactly the packets of
/// one scan, in the same order, and the file is really cut.
#[test]
fn segments_return_exactly_what_one_scan_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    let mut n = 0u32;
    for i in 0..60_000u32 {
        let mut ms = i;
        let data = if i % 40 == 0 {
            n += 1;
            if n % 7 == 0 {
                ms = ms.saturating_sub(150); // stamped before its neighbours
            }
            flow_packet(n, 20 + (i as usize * 13) % 600)
        } else {
            other_packet(i, &vec![0x22; 40 + (i as usize * 31) % 200])
        };
        b.packet(ts(ms), &data);
    }
    let path = write_store(dir.path(), &b);
    let q = query(T0 + 10, T0 + 40);
    let window = &q.window;
    let split = open_split(&path, window.start, window.end, 4, SEGMENT_MIN)
        .unwrap()
        .expect("the file is cut");
    assert_eq!(split.bounds.len(), 3);

    let base = search(dir.path(), &q, 1);
    assert!(base.len() > 700, "{} packets", base.len());
    assert_same_with(dir.path(), &q, &base, &[2, 3, 4, 8], "one sensor");

    // A second sensor with the same file: two chains, each cut when it has threads to spare
    // (4 and 8 threads), merged as without segments.
    let d2 = dir
        .path()
        .join("sensor2")
        .join("dailylogs")
        .join("2023-11-14");
    fs::create_dir_all(&d2).unwrap();
    fs::copy(&path, d2.join(path.file_name().unwrap())).unwrap();
    let base2 = search(dir.path(), &q, 1);
    assert_eq!(base2.len(), 2 * base.len());
    assert_same_with(dir.path(), &q, &base2, &[2, 4, 8], "two sensors");
}

/// Every packet of other flows carries bytes that chain up like record headers, so segment
/// bounds found by resync fall inside packets: the scan before such a bound passes it, reads
/// on, and the later segments are thrown away; nothing is lost or duplicated.
#[test]
fn a_false_segment_bound_costs_time_not_packets() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    let mut lens = Vec::new();
    let mut n = 0u32;
    for i in 0..20_000u32 {
        let data = if i % 25 == 0 {
            n += 1;
            flow_packet(n, 100)
        } else {
            other_packet(i, &fake_records((15 + i as usize % 7) * 24))
        };
        lens.push(data.len());
        b.packet(ts(i), &data);
    }
    let path = write_store(dir.path(), &b);
    let q = query(T0 + 5, T0 + 17);
    // The bounds the search with 8 threads uses (the window widened by the reorder slack).
    let split = search_split(&path, &q, 8)
        .unwrap()
        .expect("the file is cut");
    assert!(
        false_bounds(&split.bounds, &lens) > 0,
        "no false bound: the test proves nothing"
    );

    let base = search(dir.path(), &q, 1);
    assert_eq!(base.len(), 520);
    assert_same_with(dir.path(), &q, &base, &[2, 8], "false bounds");
}

/// After the window come 3,000 records far later than it, with one packet of the window
/// misplaced after the first 1,500 of them. One scan stops after 1,024 late records and never
/// sees it; segments that start inside the late run carry its length over, so they stop at
/// the same place and do not return it either.
#[test]
fn the_late_run_stop_is_the_same_across_segment_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    let mut lens = Vec::new();
    let mut push = |b: &mut PcapBuilder, ms: u32, data: Vec<u8>| {
        lens.push(data.len());
        b.packet(ts(ms), &data);
    };
    // 8 s before the window's slack in big records (4.5 MB, so the file is pruned and cut),
    // then small ones: the slack, and 1 s of window.
    for i in 0..11_000u32 {
        let data = if i >= 10_000 && i % 10 == 0 {
            flow_packet(i, 60)
        } else if i < 8_000 {
            other_packet(i, &[0x33; 500])
        } else {
            other_packet(i, &[0x33; 20])
        };
        push(&mut b, i, data);
    }
    let late_start = 11_000;
    for i in 0..3_000u32 {
        if i == 1_500 {
            push(&mut b, 10_500, flow_packet(99_999, 60));
        }
        push(&mut b, 30_000 + i, other_packet(i, &[0x44; 60]));
    }
    let path = write_store(dir.path(), &b);
    let q = query(T0 + 10, T0 + 10);
    let offsets = record_offsets(&lens);
    // A segment starting after this has fewer than 1,024 late records before the lost
    // packet: only the run carried over from the segments before it stops it.
    let (run_from, lost_at) = (
        offsets[late_start + 1_500 - 1_023],
        offsets[late_start + 1_500],
    );
    let split = search_split(&path, &q, 64)
        .unwrap()
        .expect("the file is cut");
    let inside = split
        .bounds
        .iter()
        .filter(|&&b| b > run_from && b < lost_at)
        .count();
    assert!(inside >= 2, "bounds {:?} miss the late run", split.bounds);

    let base = search(dir.path(), &q, 1);
    assert_eq!(base.len(), 100);
    assert!(!numbers(&base).contains(&99_999));
    assert_same_with(dir.path(), &q, &base, &[2, 16, 64], "late run");
}

/// With segments, the progress counter still ends at the file's size, and the bytes read
/// add up to what one scan reads.
#[test]
fn segments_count_progress_and_bytes_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    for i in 0..40_000u32 {
        let data = if i % 50 == 0 {
            flow_packet(i, 80)
        } else {
            other_packet(i, &[0x55; 150])
        };
        b.packet(ts(i), &data);
    }
    let path = write_store(dir.path(), &b);
    let size = fs::metadata(&path).unwrap().len();
    let q = query(T0 + 5, T0 + 30);
    let mut read = Vec::new();
    for threads in [1, 4] {
        let counter = Arc::new(AtomicU64::new(0));
        let store = Store::open([dir.path()]).unwrap();
        let plan = store.plan(&q.window).unwrap();
        let opts = ScanOptions {
            threads,
            segment_min_bytes: SEGMENT_MIN,
            progress: Some(counter.clone()),
            ..Default::default()
        };
        let mut s = Search::with_options(plan, &q, &opts);
        assert_eq!(s.by_ref().count(), 520);
        assert_eq!(counter.load(Ordering::Relaxed), size, "threads {threads}");
        read.push(s.stats().bytes_read);
    }
    assert_eq!(read[0], read[1]);
    assert!(read[0] < size, "the file was pruned");
}

/// Random files (seeded): record sizes, packets stamped up to 2.5 s early, runs of hundreds of
/// records far later than the rest, payloads that imitate record headers; random windows.
/// Every thread count returns exactly what one scan returns.
#[test]
fn random_files_and_windows_give_the_same_packets_with_segments() {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let (mut cut, mut inside_packets) = (0, 0);
    for case in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let mut b = PcapBuilder::new(1, false, false);
        let mut lens = Vec::new();
        let records = 25_000 + rng.below(10_000) as u32;
        let (mut ms, mut n, mut i) = (0u32, 0u32, 0u32);
        while i < records {
            // Now and then a run of records far later than the rest: in even cases rare and
            // mostly shorter than the early stop's 1,024, in odd cases often longer (so the
            // early stop falls inside segments).
            let (every, longest) = if case % 2 == 0 {
                (5_000, 1_000)
            } else {
                (2_000, 1_500)
            };
            if rng.below(every) == 0 {
                for _ in 0..100 + rng.below(longest) {
                    let late = ms + 40_000 + rng.below(1_000) as u32;
                    let data = other_packet(i, &[0x44; 40]);
                    lens.push(data.len());
                    b.packet(ts(late), &data);
                    i += 1;
                }
                continue;
            }
            ms += rng.below(3) as u32;
            let t = if rng.below(30) == 0 {
                ms.saturating_sub(rng.below(2_500) as u32)
            } else {
                ms
            };
            let data = if rng.below(20) == 0 {
                n += 1;
                flow_packet(n, 10 + rng.below(800) as usize)
            } else if rng.below(2) == 0 {
                other_packet(i, &fake_records((1 + rng.below(20) as usize) * 24))
            } else {
                other_packet(i, &vec![0x22; rng.below(300) as usize])
            };
            lens.push(data.len());
            b.packet(ts(t), &data);
            i += 1;
        }
        let path = write_store(dir.path(), &b);
        let secs = ms / 1000;
        // Windows of a third of the file or more, so that bounds fall inside them; every
        // other one runs past the file's end, so that a scan that passes a false bound reads
        // to the end of the file instead of stopping after a late run.
        let start = rng.below(u64::from(secs * 2 / 3)) as u32;
        let end = if case % 2 == 0 {
            secs + 100
        } else {
            start + secs / 3 + rng.below(u64::from(secs - start - secs / 3 + 1)) as u32
        };
        let q = query(T0 + start, T0 + end);
        let split = search_split(&path, &q, 5).unwrap();
        let bounds = split.map(|s| s.bounds).unwrap_or_default();
        cut += !bounds.is_empty() as u32;
        inside_packets += false_bounds(&bounds, &lens);
        let base = search(dir.path(), &q, 1);
        let what = format!("case {case}, window {start}+");
        assert_same_with(dir.path(), &q, &base, &[2, 5], &what);
    }
    assert!(
        cut >= 5,
        "only {cut} of 10 files were cut: the test proves little"
    );
    assert!(
        inside_packets > 0,
        "no bound fell inside a packet: the test proves little"
    );
}

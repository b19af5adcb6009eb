//! Broken capture files in a store: whatever is wrong with one file, its valid parts are
//! used (the prefix, and after a corrupt record the rest, by resync), the problem is a warning
//! naming the file and the byte offset, the other files are still searched, and nothing hangs.

use capme_core::testutil::capture::{PcapBuilder, PcapngBuilder};
use capme_core::testutil::packet::udp4;
use capme_core::testutil::udp_flow;
use capme_core::{Packet, Query, Store, Summary, TimeWindow};
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
/// The broken file (older) and the good one (newest of the chain).
const BROKEN: &str = "snort.log.1700000000";
const GOOD: &str = "snort.log.1700000600";

/// A flow packet (10.0.0.1:5000 -> 10.0.0.2:53) carrying `mark`, or a background one.
fn pkt(flow: bool, mark: u8) -> Vec<u8> {
    let sport = if flow { 5000 } else { 6000 };
    udp4(A, sport, B, 53, &[mark; 24])
}

/// Runs `f` on a thread; fails the test when it takes more than 20 s.
fn watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what}: the search took more than 20 s"))
}

/// A store with the good file (flow marks 200..205) and `broken` written by `make`; returns
/// the marks found and the summary's warnings.
fn search(case: &str, make: impl FnOnce(&Path)) -> (Vec<u8>, Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("sensor/dailylogs/2023-11-14");
    fs::create_dir_all(&day).unwrap();
    let mut good = PcapBuilder::new(1, false, false);
    for i in 0..5u8 {
        good.packet((1_700_000_700 + u32::from(i), 0), &pkt(true, 200 + i));
        good.packet((1_700_000_700 + u32::from(i), 500), &pkt(false, 0));
    }
    good.write(day.join(GOOD)).unwrap();
    make(&day.join(BROKEN));
    let root = dir.path().to_path_buf();
    let (marks, warnings) = watchdog(case, move || {
        let store = Store::open([root]).unwrap().use_index(false);
        let q = Query::new(
            udp_flow(),
            TimeWindow::parse("1700000000", "1700001200").unwrap(),
        );
        let mut got: Vec<Packet> = Vec::new();
        let sum: Summary = store.extract(&q, &mut got).unwrap();
        let marks: Vec<u8> = got.iter().map(|p| p.data[p.data.len() - 1]).collect();
        (marks, sum.warning_messages)
    });
    (marks, warnings, dir)
}

/// The good file's marks after `broken`'s.
fn with_good(broken: impl IntoIterator<Item = u8>) -> Vec<u8> {
    broken.into_iter().chain(200..205).collect()
}

/// One warning names the broken file and contains `what`.
#[track_caller]
fn warned(warnings: &[String], what: &str) {
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(BROKEN) && w.contains(what)),
        "no warning with {what:?}: {warnings:?}"
    );
}

/// A pcap file of 20 records: flow records (marks 0..10) at even positions. Returns the
/// builder's bytes and the byte offset of each record.
fn pcap20() -> (Vec<u8>, Vec<usize>) {
    let mut b = PcapBuilder::new(1, false, false);
    let mut offs = Vec::new();
    let mut at = 24;
    for i in 0..20u8 {
        let data = pkt(i % 2 == 0, i / 2);
        offs.push(at);
        at += 16 + data.len();
        b.packet((1_700_000_100 + u32::from(i), 0), &data);
    }
    (b.bytes(), offs)
}

#[test]
fn bad_magic_truncated_header_and_empty_files_are_warnings() {
    let (marks, w, _d) = search("bad magic", |p| {
        let (mut b, _) = pcap20();
        b[..4].copy_from_slice(b"JUNK");
        fs::write(p, b).unwrap();
    });
    assert_eq!(marks, with_good([]));
    warned(&w, "corrupt capture at byte 0: not a pcap or pcapng file");

    let (marks, w, _d) = search("truncated header", |p| {
        fs::write(p, &pcap20().0[..10]).unwrap();
    });
    assert_eq!(marks, with_good([]));
    warned(&w, "at byte 0: pcap file header cut short");

    let (marks, w, _d) = search("empty", |p| fs::write(p, b"").unwrap());
    assert_eq!(marks, with_good([]));
    warned(&w, "at byte 0: empty file");
}

#[test]
fn a_truncated_last_record_keeps_the_prefix() {
    let (marks, w, _d) = search("truncated record", |p| {
        let (b, offs) = pcap20();
        // Cut inside record 18 (a flow record, mark 9).
        fs::write(p, &b[..offs[18] + 20]).unwrap();
    });
    assert_eq!(marks, with_good(0..9));
    let (_, offs) = pcap20();
    warned(&w, &format!("last record cut short at byte {}", offs[18]));
}

#[test]
fn an_absurd_captured_length_is_passed_over() {
    let (_, offs) = pcap20();
    let (marks, w, _d) = search("caplen 0x7fffffff", |p| {
        let (mut b, offs) = pcap20();
        // Record 7 (background) claims 0x7fffffff bytes.
        b[offs[7] + 8..offs[7] + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        fs::write(p, b).unwrap();
    });
    assert_eq!(marks, with_good(0..10));
    warned(
        &w,
        &format!(
            "corrupt capture at byte {}: record captured length 2147483647 exceeds the limit of 262144 bytes; resumed at byte {}",
            offs[7], offs[8]
        ),
    );
}

#[test]
fn a_captured_length_above_the_snaplen_is_read_as_tcpdump_reads_it() {
    let (marks, _w, _d) = search("caplen > snaplen", |p| {
        let mut b = PcapBuilder::new(1, false, false);
        b.snaplen(64);
        for i in 0..4u8 {
            b.packet((1_700_000_100 + u32::from(i), 0), &pkt(true, i));
        }
        b.write(p).unwrap();
    });
    assert_eq!(marks, with_good(0..4));
}

#[test]
fn garbage_between_records_is_passed_over() {
    let (_, offs) = pcap20();
    let (marks, w, _d) = search("garbage inserted", |p| {
        let (b, offs) = pcap20();
        let mut out = b[..offs[9]].to_vec();
        out.extend_from_slice(&[0xff; 333]);
        out.extend_from_slice(&b[offs[9]..]);
        fs::write(p, out).unwrap();
    });
    assert_eq!(marks, with_good(0..10));
    warned(
        &w,
        &format!(
            "at byte {}: record captured length 4294967295 exceeds the limit of 262144 bytes; resumed at byte {} (333 bytes skipped)",
            offs[9],
            offs[9] + 333
        ),
    );
}

/// A pcapng file: one interface, 20 EPBs (flow records at even positions, marks 0..10);
/// the bytes and each EPB's offset.
fn pcapng20(be: bool) -> (Vec<u8>, Vec<usize>) {
    let mut b = PcapngBuilder::new();
    b.section(be);
    b.interface(1, 65535, None, None);
    let mut offs = Vec::new();
    for i in 0..20u8 {
        offs.push(b.bytes().len());
        let data = pkt(i % 2 == 0, i / 2);
        b.epb(
            0,
            (1_700_000_100 + u64::from(i)) * 1_000_000,
            &data,
            data.len() as u32,
        );
    }
    (b.bytes(), offs)
}

#[test]
fn a_pcapng_block_whose_trailing_length_differs_is_passed_over() {
    let (_, offs) = pcapng20(false);
    let (marks, w, _d) = search("pcapng trailer", |p| {
        let (mut b, offs) = pcapng20(false);
        // EPB 5's trailing length is wrong.
        let end = offs[6];
        b[end - 4..end].copy_from_slice(&4u32.to_le_bytes());
        fs::write(p, b).unwrap();
    });
    let want: Vec<u8> = (0..10).collect();
    assert_eq!(marks, with_good(want));
    warned(
        &w,
        &format!(
            "corrupt capture at byte {}: enhanced packet block (type 0x6) trailing length 4 differs from its length {}; resumed at byte {}",
            offs[5],
            offs[6] - offs[5],
            offs[6]
        ),
    );
}

#[test]
fn unknown_pcapng_blocks_are_skipped_with_a_warning() {
    let (marks, w, _d) = search("unknown blocks", |p| {
        let mut b = PcapngBuilder::new();
        b.section(false);
        b.interface(1, 65535, None, None);
        b.epb(0, 1_700_000_100_000_000, &pkt(true, 0), 66);
        b.block(0x1234, &[7u8; 20]);
        b.block(0x1234, &[7u8; 8]);
        b.epb(0, 1_700_000_101_000_000, &pkt(true, 1), 66);
        b.write(p).unwrap();
    });
    assert_eq!(marks, with_good(0..2));
    warned(&w, "2 pcapng block(s) of unknown type skipped");
}

#[test]
fn a_section_that_changes_byte_order_is_read_even_after_damage() {
    // Clean: a little-endian section, then a big-endian one.
    let build = |damage: bool| {
        let (mut b, _) = pcapng20(false);
        if damage {
            // Garbage right before the second section: resync finds its header.
            b.extend_from_slice(&[0xee; 64]);
        }
        let mut s2 = PcapngBuilder::new();
        s2.section(true);
        s2.interface(1, 65535, Some(9), None);
        for i in 0..3u8 {
            let data = pkt(true, 50 + i);
            s2.epb(0, (1_700_000_200 + u64::from(i)) * 1_000_000_000, &data, 66);
        }
        b.extend_from_slice(&s2.bytes());
        b
    };
    let want = with_good((0..10).chain(50..53));
    let (marks, w, _d) = search("byte order", move |p| fs::write(p, build(false)).unwrap());
    assert_eq!(marks, want);
    assert!(w.is_empty(), "{w:?}");
    let end = pcapng20(false).0.len();
    let (marks, w, _d) = search("byte order after damage", move |p| {
        fs::write(p, build(true)).unwrap()
    });
    assert_eq!(marks, want);
    warned(&w, &format!("corrupt capture at byte {end}: "));
    warned(
        &w,
        &format!("resumed at byte {} (64 bytes skipped)", end + 64),
    );
}

#[test]
fn damage_with_nothing_after_it_keeps_the_prefix() {
    let (_, offs) = pcapng20(true);
    let (marks, w, _d) = search("pcapng damaged tail", |p| {
        let (mut b, offs) = pcapng20(true);
        let n = b.len();
        for x in &mut b[offs[15] + 4..n] {
            *x = 0xa5;
        }
        fs::write(p, b).unwrap();
    });
    assert_eq!(marks, with_good(0..8));
    warned(&w, &format!("corrupt capture at byte {}", offs[15]));
    warned(&w, "no record found in the");
}

#[test]
fn an_unsupported_link_type_is_warned_once_per_file() {
    let (marks, w, _d) = search("link type 147", |p| {
        let mut b = PcapBuilder::new(147, false, false);
        for i in 0..6u8 {
            b.packet((1_700_000_100 + u32::from(i), 0), &pkt(true, i));
        }
        b.write(p).unwrap();
    });
    assert_eq!(marks, with_good([]));
    let n = w.iter().filter(|m| m.contains("link type 147")).count();
    assert_eq!(n, 1, "{w:?}");
    warned(
        &w,
        "link type 147 (USER0) is not supported; its 6 records were not searched",
    );
}

#[test]
fn a_symlink_loop_named_like_a_capture_is_a_warning() {
    let (marks, w, _d) = search("symlink loop", |p| {
        std::os::unix::fs::symlink(p.file_name().unwrap(), p).unwrap();
    });
    assert_eq!(marks, with_good([]));
    assert!(w.iter().any(|m| m.contains(BROKEN)), "{w:?}");
}

#[test]
fn a_fifo_named_like_a_capture_does_not_hang_the_search() {
    let (marks, w, _d) = search("fifo", |p| {
        let st = std::process::Command::new("mkfifo").arg(p).status();
        assert!(st.is_ok_and(|s| s.success()), "mkfifo failed");
    });
    assert_eq!(marks, with_good([]));
    warned(&w, "not a regular file");
}

#[test]
fn an_index_of_a_damaged_file_answers_like_a_scan_and_reports_the_damage() {
    // Flow records every 4th record; junk between two of them, closer than the index's
    // coalescing gap, and a corrupt length further on.
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("sensor/dailylogs/2023-11-14");
    fs::create_dir_all(&day).unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    for i in 0..400u32 {
        let flow = i % 4 == 0;
        b.packet((1_700_000_100 + i / 10, i), &pkt(flow, (i / 4) as u8));
    }
    let clean = b.bytes();
    let rec = 16 + pkt(true, 0).len();
    let mut bad = clean[..24 + 42 * rec].to_vec();
    bad.extend_from_slice(&[0xfe; 77]);
    bad.extend_from_slice(&clean[24 + 42 * rec..]);
    let at = 24 + 201 * rec + 77;
    bad[at + 8..at + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    fs::write(day.join(BROKEN), &bad).unwrap();
    let root = dir.path().to_path_buf();
    let idx = dir.path().join("idx");
    watchdog("indexed damaged file", move || {
        let q = Query::new(
            udp_flow(),
            TimeWindow::parse("1700000000", "1700001200").unwrap(),
        );
        let run = |store: &Store| {
            let mut got: Vec<Packet> = Vec::new();
            let sum = store.extract(&q, &mut got).unwrap();
            let got: Vec<(i64, Vec<u8>)> = got
                .iter()
                .map(|p| (p.ts.as_nanos(), p.data.to_vec()))
                .collect();
            (got, sum)
        };
        let scan = Store::open([&root]).unwrap().use_index(false);
        let (scanned, sum) = run(&scan);
        assert_eq!(scanned.len(), 100);
        assert_eq!(sum.warnings, 2, "{:?}", sum.warning_messages);
        let indexed = Store::open([&root]).unwrap().with_index_dir(&idx);
        let rep = indexed.build_indexes().unwrap();
        assert_eq!(rep.built, 1);
        assert_eq!(rep.warnings.len(), 2, "{:?}", rep.warnings);
        assert!(rep.warnings[0].contains(&format!("at byte {}", 24 + 42 * rec)));
        let (got, sum) = run(&indexed);
        assert_eq!(sum.files_indexed, 1);
        assert_eq!(got, scanned);
    });
}

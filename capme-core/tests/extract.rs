//! End-to-end tests of the engine (store → search → merge → sink) on small stores built here.

use capme_core::capture::CaptureReader;
use capme_core::sink::file::OutputFormat;
use capme_core::testutil::capture::{PcapBuilder, PcapngBuilder};
use capme_core::testutil::packet::udp4;
use capme_core::{Error, FileSink, FlowSpec, Packet, Query, Store, TimeWindow, Timestamp};
use std::fs;
use std::path::Path;

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const C: [u8; 4] = [10, 0, 0, 3];

/// Ethernet + IPv4 + UDP, with a marker byte in the payload so packets can be told apart.
fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, mark: u8) -> Vec<u8> {
    udp4(src, sport, dst, dport, &[mark; 8])
}

/// The same packet as raw IPv4 (DLT 101), without the Ethernet header.
fn raw(eth: &[u8]) -> Vec<u8> {
    eth[14..].to_vec()
}

fn query(stime: &str, etime: &str) -> Query {
    Query::new(
        capme_core::testutil::udp_flow(),
        TimeWindow::parse(stime, etime).unwrap(),
    )
}

fn marks(packets: &[Packet]) -> Vec<u8> {
    packets.iter().map(|p| *p.data.last().unwrap()).collect()
}

fn day_dir(root: &Path, sensor: &str, day: &str) -> std::path::PathBuf {
    let d = root.join(sensor).join("dailylogs").join(day);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Two sensors, two files each, slight disorder and overlap between adjacent files.
fn two_sensor_store(root: &Path) {
    let fl = |m| udp(A, 5000, B, 53, m);
    let rev = |m| udp(B, 53, A, 5000, m);
    let other = |m| udp(A, 5001, B, 53, m);
    let d1 = day_dir(root, "s1-eth1", "2023-11-14");
    PcapBuilder::new(1, false, false)
        .packet((1000, 0), &fl(1))
        .packet((1000, 500_000), &other(90))
        .packet((1002, 0), &rev(3))
        .packet((1001, 900_000), &fl(2)) // 100 ms earlier than its predecessor
        .packet((1010, 0), &fl(6)) // later than the first packet of the next file
        .write(d1.join("snort.log.1000"))
        .unwrap();
    PcapBuilder::new(1, false, false)
        .packet((1009, 500_000), &fl(5))
        .packet((1020, 0), &rev(8))
        .write(d1.join("snort.log.1009"))
        .unwrap();
    let d2 = day_dir(root, "s2-eth0", "2023-11-14");
    PcapBuilder::new(1, false, false)
        .packet((1005, 0), &fl(4))
        .packet((1010, 0), &udp(C, 5000, B, 53, 91))
        .packet((1010, 0), &rev(7)) // same ts as fl(6) on s1: stable order, s1 first
        .write(d2.join("snort.log.1005"))
        .unwrap();
    // Not a capture file: ignored whatever its name.
    fs::write(d2.join("snort.log.1006"), b"not a pcap at all").unwrap();
}

#[test]
fn merges_sensors_and_files_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    two_sensor_store(dir.path());
    let store = Store::open([dir.path()]).unwrap();
    let got: Vec<Packet> = store
        .search(&query("1000", "1020"))
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    assert_eq!(marks(&got), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(got.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert_eq!(&*got[5].sensor, "s1-eth1");
    assert_eq!(&*got[6].sensor, "s2-eth0");
}

#[test]
fn window_is_inclusive_and_integer_end_covers_its_second() {
    let dir = tempfile::tempdir().unwrap();
    two_sensor_store(dir.path());
    let store = Store::open([dir.path()]).unwrap();
    let got: Vec<Packet> = store
        .search(&query("1001", "1002"))
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    assert_eq!(marks(&got), vec![2, 3]);
    let got: Vec<Packet> = store
        .search(&query("1001.95", "1009.5"))
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    assert_eq!(marks(&got), vec![3, 4, 5]);
    let got: Vec<Packet> = store
        .search(&query("1009.5000001", "1009.9"))
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    assert!(got.is_empty());
}

#[test]
fn plan_skips_files_outside_the_window() {
    let dir = tempfile::tempdir().unwrap();
    two_sensor_store(dir.path());
    let store = Store::open([dir.path()]).unwrap();
    let plan = store
        .plan(&TimeWindow::parse("1015", "1016").unwrap())
        .unwrap();
    let names: Vec<String> = plan
        .files()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // s1's second file (newest of its chain) and s2's only file (newest, open-ended).
    assert_eq!(names, vec!["snort.log.1009", "snort.log.1005"]);
    let plan = store
        .plan(&TimeWindow::parse("900", "990").unwrap())
        .unwrap();
    assert_eq!(plan.files().count(), 0);
}

#[test]
fn pcap_output_is_byte_identical_and_keeps_header() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let d = day_dir(&root, "s1", "2023-11-14");
    // Big-endian nanosecond pcap, snaplen 200, orig_len larger than caplen.
    PcapBuilder::new(1, true, true)
        .snaplen(200)
        .packet((1000, 123_456_789), &udp(A, 5000, B, 53, 1))
        .orig_len(1500)
        .packet((1000, 223_456_789), &udp(A, 5000, C, 53, 2))
        .packet((1000, 323_456_789), &udp(B, 53, A, 5000, 3))
        .write(d.join("snort.log.1000"))
        .unwrap();
    let input = fs::read(d.join("snort.log.1000")).unwrap();
    let store = Store::open([&root]).unwrap();
    let out = dir.path().join("out.pcap");
    let sum = store.extract_to_file(&query("1000", "1000"), &out).unwrap();
    assert_eq!(sum.packets, 2);
    let output = fs::read(&out).unwrap();
    // Header identical (magic, version, snaplen, link type), record 1 and 3 identical.
    assert_eq!(&output[..24], &input[..24]);
    let rec = |buf: &[u8], off: usize| {
        let caplen = u32::from_be_bytes(buf[off + 8..off + 12].try_into().unwrap()) as usize;
        buf[off..off + 16 + caplen].to_vec()
    };
    let r1 = rec(&input, 24);
    let r2 = rec(&input, 24 + r1.len());
    let r3 = rec(&input, 24 + r1.len() + r2.len());
    assert_eq!(output, [&input[..24], &r1[..], &r3[..]].concat());
    assert_eq!(sum.first_ts_ns, Some(1000 * 1_000_000_000 + 123_456_789));
    assert_eq!(sum.bytes, (r1.len() - 16 + r3.len() - 16) as u64);
}

#[test]
fn differing_link_types_give_pcapng_with_one_interface_each() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let d1 = day_dir(&root, "s1", "2023-11-14");
    let d2 = day_dir(&root, "s2", "2023-11-14");
    PcapBuilder::new(1, false, false)
        .packet((1000, 0), &udp(A, 5000, B, 53, 1))
        .packet((1002, 0), &udp(A, 5000, B, 53, 3))
        .write(d1.join("snort.log.1000"))
        .unwrap();
    // Raw IP with a power-of-two pcapng resolution: 2^-20 s units.
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let i = ng.interface(101, 0, Some(0x80 | 20), None);
    ng.epb(
        i,
        1001u64 << 20 | 1 << 19,
        &raw(&udp(B, 53, A, 5000, 2)),
        36,
    );
    ng.write(d2.join("capture.pcapng")).unwrap();
    let store = Store::open([&root]).unwrap();
    let out = dir.path().join("out.pcap");
    let mut sink = FileSink::create(&out).unwrap();
    let sum = store.extract(&query("1000", "1002"), &mut sink).unwrap();
    assert_eq!(sink.format(), None, "finish resets the state");
    assert_eq!(sum.packets, 3);
    drop(sink);
    let mut r = CaptureReader::open(&out).unwrap();
    let mut seen = Vec::new();
    while let Some((rec, iface)) = r.next_with_interface().unwrap() {
        seen.push((rec.ts, iface.linktype, *rec.data.last().unwrap()));
    }
    assert_eq!(
        seen,
        vec![
            (Timestamp::from_secs(1000), 1, 1),
            (Timestamp::from_parts(1001, 500_000_000), 101, 2),
            (Timestamp::from_secs(1002), 1, 3),
        ]
    );
    assert_eq!(r.interfaces().len(), 2);
    // No temporary file left in the output directory.
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("capme-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn same_link_type_pcapng_input_gives_pcap() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    fs::create_dir_all(&root).unwrap();
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let i = ng.interface(1, 65535, None, None);
    ng.epb(i, 1_000_000_000, &udp(A, 5000, B, 53, 1), 50);
    ng.write(root.join("a.pcapng")).unwrap();
    let store = Store::open([&root]).unwrap();
    let out = dir.path().join("out.pcap");
    let mut sink = FileSink::create(&out).unwrap();
    store.extract(&query("1000", "1000"), &mut sink).unwrap();
    let r = CaptureReader::open(&out).unwrap();
    assert!(matches!(
        r.format(),
        capme_core::capture::Format::Pcap { nanos: false, .. }
    ));
    let _ = OutputFormat::Pcap;
}

#[test]
fn empty_result_leaves_no_file_and_names_flow_and_window() {
    let dir = tempfile::tempdir().unwrap();
    two_sensor_store(&dir.path().join("store"));
    let store = Store::open([dir.path().join("store")]).unwrap();
    let out = dir.path().join("out.pcap");
    let e = store
        .extract_to_file(&query("5000", "6000"), &out)
        .unwrap_err();
    assert!(matches!(e, Error::NoPackets { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("10.0.0.1:5000") && msg.contains("1970-01-01T01:23:20"),
        "{msg}"
    );
    assert!(!out.exists());
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the store directory"
    );
}

#[test]
fn corrupt_record_stops_that_file_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    two_sensor_store(dir.path());
    // Append a record header with an absurd caplen to s2's file, then a valid-looking tail.
    let f = dir
        .path()
        .join("s2-eth0/dailylogs/2023-11-14/snort.log.1005");
    let mut bytes = fs::read(&f).unwrap();
    let good = bytes.len();
    bytes.extend_from_slice(&[
        0xf0, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f,
    ]);
    bytes.extend_from_slice(&[0u8; 64]);
    fs::write(&f, &bytes).unwrap();
    let store = Store::open([dir.path()]).unwrap();
    let mut got: Vec<Packet> = Vec::new();
    let sum = store.extract(&query("1000", "1020"), &mut got).unwrap();
    assert_eq!(marks(&got), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(sum.warnings, 1, "{:?}", sum.warning_messages);
    assert!(
        sum.warning_messages[0].contains("snort.log.1005"),
        "{:?}",
        sum.warning_messages
    );
    assert!(
        sum.warning_messages[0].contains(&good.to_string()),
        "{:?}",
        sum.warning_messages
    );
}

#[test]
fn archive_is_cached_per_window_and_forced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    two_sensor_store(&root);
    let arch = dir.path().join("archive");
    let store = Store::open([&root]).unwrap();
    let q = query("1000", "1005");
    let s1 = store.extract_to_archive(&q, &arch, false).unwrap();
    assert!(!s1.cached);
    let path = s1.output.clone().unwrap();
    assert_eq!(
        path,
        arch.join("1970-01-01/s1-eth1+s2-eth0/udp_10.0.0.1_5000_10.0.0.2_53_1000-1005.pcap")
    );
    // The store has packets after 1005: the archive is complete and is reused.
    let s2 = store.extract_to_archive(&q, &arch, false).unwrap();
    assert!(s2.cached);
    assert_eq!(
        (s2.packets, s2.bytes, s2.first_ts_ns),
        (s1.packets, s1.bytes, s1.first_ts_ns)
    );
    assert_eq!(s2.community_id, s1.community_id);
    assert_eq!(s2.files_scanned, 0);
    let s3 = store.extract_to_archive(&q, &arch, true).unwrap();
    assert!(!s3.cached);
    // Another window of the same 5-tuple is another archive (CapMe's stale-pcap bug).
    let s4 = store
        .extract_to_archive(&query("1006", "1020"), &arch, false)
        .unwrap();
    assert_ne!(s4.output, s1.output);
    assert_eq!(s4.packets, 4);
    // A window reaching past the newest packet (1020) may still grow: rescanned.
    let q5 = query("1006", "2000");
    assert!(!store.extract_to_archive(&q5, &arch, false).unwrap().cached);
    assert!(!store.extract_to_archive(&q5, &arch, false).unwrap().cached);
}

#[test]
fn community_id_query_finds_the_same_packets() {
    let dir = tempfile::tempdir().unwrap();
    two_sensor_store(dir.path());
    let store = Store::open([dir.path()]).unwrap();
    let mut by_tuple: Vec<Packet> = Vec::new();
    let sum = store
        .extract(&query("1000", "1020"), &mut by_tuple)
        .unwrap();
    let cid = sum.community_id.clone().unwrap();
    let q = Query::new(
        FlowSpec::parse_community_id(&cid).unwrap(),
        TimeWindow::parse("1000", "1020").unwrap(),
    );
    let mut by_cid: Vec<Packet> = Vec::new();
    let sum2 = store.extract(&q, &mut by_cid).unwrap();
    assert_eq!(marks(&by_cid), marks(&by_tuple));
    assert_eq!(sum2.community_id.as_deref(), Some(cid.as_str()));
}

#[test]
fn missing_root_and_bad_output_are_clear_errors() {
    let e = Store::open(["/nonexistent/capme/store"]).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/capme/store"));
    let e = FileSink::create("/nonexistent/dir/out.pcap").err().unwrap();
    assert!(e.to_string().contains("/nonexistent/dir"), "{e}");
}

#[test]
fn unreadable_capture_file_in_the_window_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = day_dir(dir.path(), "s1", "2023-11-14");
    PcapBuilder::new(1, false, false)
        .packet((1_700_000_000, 0), &udp(A, 5000, B, 53, 1))
        .packet((1_700_000_100, 0), &udp(A, 5000, B, 53, 2))
        .write(d.join("snort.log.1700000000"))
        .unwrap();
    // A symlink loop cannot be opened, even by root (whom permission bits would not stop).
    std::os::unix::fs::symlink("snort.log.1700000600", d.join("snort.log.1700000600")).unwrap();
    std::os::unix::fs::symlink("capture.pcap", d.join("capture.pcap")).unwrap();
    // And a directory loop must not make the walk recurse forever.
    std::os::unix::fs::symlink("..", d.join("loop")).unwrap();
    let store = Store::open([dir.path()]).unwrap();
    // A window before the unreadable file does not need it; the file without a time in its
    // name cannot be placed and is a warning.
    let q = |a: &str, b: &str| {
        Query::new(
            capme_core::testutil::udp_flow(),
            TimeWindow::parse(a, b).unwrap(),
        )
    };
    let mut got: Vec<Packet> = Vec::new();
    let sum = store
        .extract(&q("1700000000", "1700000100"), &mut got)
        .unwrap();
    assert_eq!(marks(&got), vec![1, 2]);
    assert_eq!(sum.warnings, 1, "{:?}", sum.warning_messages);
    assert!(
        sum.warning_messages[0].contains("capture.pcap"),
        "{:?}",
        sum.warning_messages
    );
    // One rule for every file: an unreadable file in the window is a warning naming it, and
    // the others are still searched.
    let mut got: Vec<Packet> = Vec::new();
    let sum = store
        .extract(&q("1700000000", "1700000700"), &mut got)
        .unwrap();
    assert_eq!(marks(&got), vec![1, 2]);
    assert!(
        sum.warning_messages
            .iter()
            .any(|w| w.contains("snort.log.1700000600") && w.contains("cannot be read")),
        "{:?}",
        sum.warning_messages
    );
    // When no file of the window can be read at all, that is the error (exit 3), not "no
    // packet matched".
    let e = store
        .extract(&q("1700000650", "1700000700"), &mut Vec::new())
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("snort.log.1700000600"), "{e}");
}

#[test]
fn a_set_cancel_flag_stops_the_search() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let d = day_dir(dir.path(), "s1", "2023-11-14");
    let mut b = PcapBuilder::new(1, false, false);
    for i in 0..10_000u32 {
        b.packet(
            (1000 + i / 1000, i % 1000),
            &udp(A, 5000, B, 53, (i % 250) as u8),
        );
    }
    b.write(d.join("a.pcap")).unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let store = Store::open([dir.path()]).unwrap().with_cancel(flag.clone());
    assert_eq!(
        store.search(&query("1000", "1010")).unwrap().count(),
        10_000
    );
    flag.store(true, Ordering::Relaxed);
    let r: Result<Vec<Packet>, Error> = store.search(&query("1000", "1010")).unwrap().collect();
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    // A file smaller than one check interval is cancelled too (it used to be read whole).
    let small = tempfile::tempdir().unwrap();
    let d = day_dir(small.path(), "s1", "2023-11-14");
    let mut b = PcapBuilder::new(1, false, false);
    b.packet((1000, 0), &udp(A, 5000, B, 53, 1));
    b.write(d.join("a.pcap")).unwrap();
    let store = Store::open([small.path()]).unwrap().with_cancel(flag);
    let r: Result<Vec<Packet>, Error> = store.search(&query("1000", "1010")).unwrap().collect();
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
}

/// An IPv4 UDP fragment: the first (offset 0, with the UDP header) or a later one.
fn frag(src: [u8; 4], dst: [u8; 4], id: u16, offset8: u16, more: bool, mark: u8) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    p.extend_from_slice(&[0x08, 0x00]);
    let body: Vec<u8> = if offset8 == 0 {
        let mut b = Vec::new();
        b.extend_from_slice(&5000u16.to_be_bytes());
        b.extend_from_slice(&53u16.to_be_bytes());
        b.extend_from_slice(&[0, 40, 0, 0]);
        b.extend_from_slice(&[mark; 8]);
        b
    } else {
        vec![mark; 16]
    };
    let total = (20 + body.len()) as u16;
    let fl = (if more { 0x2000u16 } else { 0 }) | offset8;
    p.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&fl.to_be_bytes());
    p.extend_from_slice(&[64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&body);
    p
}

#[test]
fn fragments_are_linked_across_files_of_a_chain_whatever_the_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    let d = day_dir(dir.path(), "s1", "2023-11-14");
    // Datagram 7: first fragment at the end of file 1, its last fragment in file 2.
    // Datagram 9: its last fragment at the end of file 2, written before its first (file 3).
    // Datagram 11 of other hosts: never part of the flow.
    PcapBuilder::new(1, false, false)
        .packet((1_700_000_000, 0), &udp(A, 5000, B, 53, 1))
        .packet((1_700_000_009, 0), &frag(A, B, 7, 0, true, 2))
        .write(d.join("snort.log.1700000000"))
        .unwrap();
    PcapBuilder::new(1, false, false)
        .packet((1_700_000_010, 0), &frag(A, B, 7, 2, false, 3))
        .packet((1_700_000_010, 5), &frag(C, B, 11, 2, false, 90))
        .packet((1_700_000_019, 0), &frag(A, B, 9, 2, false, 5))
        .write(d.join("snort.log.1700000010"))
        .unwrap();
    PcapBuilder::new(1, false, false)
        .packet((1_700_000_019, 1000), &frag(A, B, 9, 0, true, 4))
        .packet((1_700_000_025, 0), &udp(B, 53, A, 5000, 6))
        .write(d.join("snort.log.1700000019"))
        .unwrap();
    let q = Query::new(
        capme_core::testutil::udp_flow(),
        TimeWindow::parse("1700000000", "1700000030").unwrap(),
    );
    for threads in [1, 2, 3, 8] {
        let store = Store::open([dir.path()]).unwrap().with_threads(threads);
        let got: Vec<Packet> = store.search(&q).unwrap().map(|p| p.unwrap()).collect();
        assert_eq!(marks(&got), vec![1, 2, 3, 5, 4, 6], "threads {threads}");
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    two_sensor_store(dir.path());
    let base: Vec<Packet> = Store::open([dir.path()])
        .unwrap()
        .with_threads(1)
        .search(&query("1000", "1020"))
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    for threads in [2, 4, 16] {
        let store = Store::open([dir.path()]).unwrap().with_threads(threads);
        let got: Vec<Packet> = store
            .search(&query("1000", "1020"))
            .unwrap()
            .map(|p| p.unwrap())
            .collect();
        assert_eq!(marks(&got), marks(&base));
        assert!(got
            .iter()
            .zip(&base)
            .all(|(a, b)| a.ts == b.ts && a.data == b.data && a.file == b.file));
    }
}

#[test]
fn progress_counter_reaches_the_planned_bytes() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    two_sensor_store(dir.path());
    let counter = Arc::new(AtomicU64::new(0));
    let store = Store::open([dir.path()])
        .unwrap()
        .with_progress(counter.clone());
    let q = query("1000", "1020");
    let total: u64 = store.plan(&q.window).unwrap().files().map(|f| f.size).sum();
    assert!(total > 0);
    store.extract(&q, &mut Vec::new()).unwrap();
    assert_eq!(counter.load(Ordering::Relaxed), total);
}

/// Two sensors whose matches interleave in time and exceed the read-ahead budget of a chain
/// (half of [`capme_core::search::SEARCH_AHEAD_BYTES`] here): workers that read ahead must wait
/// for the merge without deadlocking it, and every thread count gives the same stream.
#[test]
fn chains_reading_ahead_past_their_budget_still_merge_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = udp(A, 5000, B, 53, 0);
    big.resize(1400, 0xAB);
    let per_file = 3000u32; // 3000 x 1.4 kB = 4.2 MB per file, 12.6 MB per chain
    for (s, sensor) in ["s1", "s2"].iter().enumerate() {
        let d = day_dir(dir.path(), sensor, "2023-11-14");
        for f in 0..3u32 {
            let mut b = PcapBuilder::new(1, false, false);
            for i in 0..per_file {
                // Sensor s writes at even (s1) or odd (s2) milliseconds: the merge alternates.
                let ms = f * per_file + i;
                b.packet((1000 + ms / 1000, (ms % 1000) * 1000 + s as u32), &big);
            }
            b.write(d.join(format!("snort.log.{}", 1000 + f * 3)))
                .unwrap();
        }
    }
    let total = 2 * 3 * per_file as usize;
    // Each chain's matches exceed its share of the read-ahead budget.
    assert!(total / 2 * big.len() > capme_core::search::SEARCH_AHEAD_BYTES / 2);
    let mut first: Option<Vec<(Timestamp, String)>> = None;
    for threads in [1, 2, 3, 8] {
        let store = Store::open([dir.path()]).unwrap().with_threads(threads);
        let got: Vec<(Timestamp, String)> = store
            .search(&query("1000", "1010"))
            .unwrap()
            .map(|p| {
                let p = p.unwrap();
                (p.ts, p.sensor.to_string())
            })
            .collect();
        assert_eq!(got.len(), total, "threads {threads}");
        assert!(
            got.windows(2).all(|w| w[0].0 <= w[1].0),
            "threads {threads}"
        );
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(f, &got, "threads {threads}"),
        }
    }
}

/// Files named for their start are opened only when a window needs them. A non-capture file
/// in a chain (`snort.log.1700000010` below) is found to be one only then, and its
/// predecessor's span must grow back over it: a window after 1700000010 still reads
/// `snort.log.1700000000`.
#[test]
fn a_non_capture_file_in_the_window_does_not_cut_its_predecessor_short() {
    let dir = tempfile::tempdir().unwrap();
    let d = day_dir(dir.path(), "s1", "2023-11-14");
    PcapBuilder::new(1, false, false)
        .packet((1_700_000_001, 0), &udp(A, 5000, B, 53, 1))
        .packet((1_700_000_015, 0), &udp(A, 5000, B, 53, 2)) // a long file
        .write(d.join("snort.log.1700000000"))
        .unwrap();
    fs::write(d.join("snort.log.1700000010"), b"not a pcap").unwrap();
    fs::write(d.join("snort.log.1700000011"), b"").unwrap();
    PcapBuilder::new(1, false, false)
        .packet((1_700_000_030, 0), &udp(A, 5000, B, 53, 3))
        .write(d.join("snort.log.1700000030"))
        .unwrap();
    // A newer non-capture file must not count as the store's newest capture.
    fs::write(d.join("snort.log.1700000099"), b"junk").unwrap();
    let store = Store::open([dir.path()]).unwrap();
    let got: Vec<Packet> = store
        .search(&query("1700000013", "1700000017"))
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    assert_eq!(marks(&got), vec![2]);
    let plan = store
        .plan(&TimeWindow::parse("1700000013", "1700000017").unwrap())
        .unwrap();
    let names: Vec<String> = plan
        .files()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["snort.log.1700000000"]);
    // Planned files have their size once checked.
    assert!(plan.files().all(|f| f.size > 0));
    assert_eq!(plan.newest_start, Some(Timestamp::from_secs(1_700_000_030)));
    // The full listing (capme files, capme index) opens everything, as before.
    let all: Vec<String> = store
        .list()
        .unwrap()
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(all, vec!["snort.log.1700000000", "snort.log.1700000030"]);
}

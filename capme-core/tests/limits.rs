//! The limits of an extraction (`Store::with_max_packets`, `with_max_bytes`, `with_max_window`):
//! defaults, validation, the cap on every entry point, `Summary::truncated`, and archives.

use capme_core::store::limits::{DEFAULT_MAX_BYTES, DEFAULT_MAX_PACKETS, DEFAULT_MAX_WINDOW};
use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::packet::udp4;
use capme_core::{Error, ErrorKind, Packet, Query, Store, TimeWindow};
use std::fs;
use std::path::Path;
use std::time::Duration;

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

/// One sensor, one file: ten packets of the flow (marks 1..=10, 1 s apart from t=1000, each
/// 50 bytes) and other traffic between them.
fn store_of_ten(root: &Path) {
    let d = root.join("s1/dailylogs/1970-01-01");
    fs::create_dir_all(&d).unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    for i in 0..10u8 {
        let p = udp4(A, 5000, B, 53, &[i + 1; 8]);
        assert_eq!(p.len(), 50);
        b.packet((1000 + i as u32, 0), &p);
        b.packet((1000 + i as u32, 1), &udp4(A, 5001, B, 53, &[99; 8]));
    }
    b.write(d.join("snort.log.1000")).unwrap();
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

fn field(e: &Error) -> &'static str {
    match e {
        Error::InvalidQuery { field, .. } => field,
        other => panic!("not an invalid-input error: {other}"),
    }
}

#[test]
fn defaults_are_capmes_packets_two_gib_and_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let l = Store::open([dir.path()]).unwrap().limits();
    assert_eq!(l.max_packets, 999_999);
    assert_eq!(l.max_packets, DEFAULT_MAX_PACKETS);
    assert_eq!(l.max_bytes, 2 << 30);
    assert_eq!(l.max_bytes, DEFAULT_MAX_BYTES);
    assert_eq!(l.max_window, Duration::from_secs(86_400));
    assert_eq!(l.max_window, DEFAULT_MAX_WINDOW);
}

#[test]
fn zero_limits_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = || Store::open([dir.path()]).unwrap();
    let e = s().with_max_packets(0).unwrap_err();
    assert_eq!(field(&e), "max_packets");
    assert!(
        e.to_string().starts_with("invalid max_packets \"0\""),
        "{e}"
    );
    let e = s().with_max_bytes(0).unwrap_err();
    assert_eq!(field(&e), "max_bytes");
    let e = s().with_max_window(Duration::ZERO).unwrap_err();
    assert_eq!(field(&e), "max_window");
    let e = s().with_max_window(Duration::from_millis(999)).unwrap_err();
    assert_eq!(field(&e), "max_window");
    let st = s()
        .with_max_packets(7)
        .and_then(|s| s.with_max_bytes(8))
        .and_then(|s| s.with_max_window(Duration::from_secs(9)))
        .unwrap();
    let l = st.limits();
    assert_eq!(
        (l.max_packets, l.max_bytes, l.max_window.as_secs()),
        (7, 8, 9)
    );
}

#[test]
fn max_packets_stops_the_search_and_the_sink_gets_no_more() {
    let dir = tempfile::tempdir().unwrap();
    store_of_ten(dir.path());
    let store = Store::open([dir.path()]).unwrap();
    let q = query("1000", "1009");
    let mut all: Vec<Packet> = Vec::new();
    let sum = store.extract(&q, &mut all).unwrap();
    assert_eq!((sum.packets, sum.truncated), (10, false));
    assert!(sum.warning_messages.is_empty());

    // At the limit exactly: complete.
    let mut got: Vec<Packet> = Vec::new();
    let sum = store
        .clone()
        .with_max_packets(10)
        .unwrap()
        .extract(&q, &mut got)
        .unwrap();
    assert_eq!((sum.packets, sum.truncated, got.len()), (10, false, 10));

    let mut got: Vec<Packet> = Vec::new();
    let sum = store
        .clone()
        .with_max_packets(3)
        .unwrap()
        .extract(&q, &mut got)
        .unwrap();
    assert_eq!(marks(&got), [1, 2, 3]);
    assert_eq!((sum.packets, sum.bytes, sum.truncated), (3, 150, true));
    assert_eq!(sum.last_ts_ns, Some(got[2].ts.as_nanos()));
    assert_eq!(sum.warnings, 1);
    assert!(
        sum.warning_messages[0].contains("truncated at max_packets = 3"),
        "{:?}",
        sum.warning_messages
    );
}

#[test]
fn max_bytes_caps_at_the_last_whole_packet() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    store_of_ten(&root);
    let store = Store::open([&root]).unwrap();
    let q = query("1000", "1009");
    let mut got: Vec<Packet> = Vec::new();
    let sum = store
        .clone()
        .with_max_bytes(175)
        .unwrap()
        .extract(&q, &mut got)
        .unwrap();
    assert_eq!(marks(&got), [1, 2, 3]);
    assert_eq!((sum.packets, sum.bytes, sum.truncated), (3, 150, true));
    assert!(sum.warning_messages[0].contains("truncated at max_bytes = 175"));
    // All 500 bytes fit in 500.
    let mut got: Vec<Packet> = Vec::new();
    let sum = store
        .clone()
        .with_max_bytes(500)
        .unwrap()
        .extract(&q, &mut got)
        .unwrap();
    assert_eq!((sum.packets, sum.truncated), (10, false));
    // Not even the first packet fits: an invalid-input error naming max_bytes, no file.
    let out = dir.path().join("tiny.pcap");
    let e = store
        .clone()
        .with_max_bytes(49)
        .unwrap()
        .extract_to_file(&q, &out)
        .unwrap_err();
    assert_eq!(field(&e), "max_bytes");
    assert!(!out.exists());
}

#[test]
fn files_written_at_a_limit_are_valid_up_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    store_of_ten(&root);
    let store = Store::open([&root]).unwrap().with_max_packets(4).unwrap();
    let out = dir.path().join("capped.pcap");
    let sum = store.extract_to_file(&query("1000", "1009"), &out).unwrap();
    assert!(sum.truncated);
    let mut r = capme_core::capture::CaptureReader::open(&out).unwrap();
    let mut n = 0;
    while let Some(rec) = r.next_record().unwrap() {
        n += 1;
        assert_eq!(rec.data.last(), Some(&n));
    }
    assert_eq!(n, 4);
}

#[test]
fn a_truncated_archive_is_not_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    store_of_ten(&root);
    let arch = dir.path().join("archive");
    let q = query("1000", "1005"); // the store has later packets: a complete window
    let full = Store::open([&root]).unwrap();
    let capped = full.clone().with_max_packets(2).unwrap();
    let s1 = capped.extract_to_archive(&q, &arch, false).unwrap();
    assert!(s1.truncated && !s1.cached);
    let tpath = s1.output.unwrap();
    assert!(
        tpath
            .to_string_lossy()
            .ends_with("_1000-1005.truncated.pcap"),
        "{tpath:?}"
    );
    // Under the default limits the truncated file is not served: scanned, then cached.
    let s2 = full.extract_to_archive(&q, &arch, false).unwrap();
    assert!(!s2.cached && !s2.truncated);
    assert_eq!(s2.packets, 6);
    assert_ne!(s2.output.as_deref(), Some(tpath.as_path()));
    let s3 = full.extract_to_archive(&q, &arch, false).unwrap();
    assert!(s3.cached && !s3.truncated);
    assert_eq!(s3.packets, 6);
    // The complete archive is over the smaller limit: not served, truncated again.
    let s4 = capped.extract_to_archive(&q, &arch, false).unwrap();
    assert!(!s4.cached && s4.truncated);
    assert_eq!(s4.packets, 2);
    assert_eq!(s4.output.as_deref(), Some(tpath.as_path()));
    assert!(full.extract_to_archive(&q, &arch, false).unwrap().cached);
}

#[test]
fn windows_over_the_limit_are_refused_by_every_entry_point_before_planning() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    store_of_ten(&root);
    let store = Store::open([&root]).unwrap();
    // 24 h as typed (an integer etime covers its second): accepted.
    assert!(store.search(&query("1000", "87400")).is_ok());
    let long = query("1000", "87401");
    let out = dir.path().join("out.pcap");
    let arch = dir.path().join("archive");
    let errors = [
        store.search(&long).err().unwrap(),
        store.extract(&long, &mut Vec::<Packet>::new()).unwrap_err(),
        store.extract_to_file(&long, &out).unwrap_err(),
        store.extract_to_file_replacing(&long, &out).unwrap_err(),
        store.extract_to_archive(&long, &arch, false).unwrap_err(),
    ];
    for e in &errors {
        assert_eq!(e.kind(), ErrorKind::InvalidQuery, "{e}");
        assert_eq!(field(e), "window");
        let m = e.to_string();
        assert!(
            m.contains("max_window") && m.contains("--max-window"),
            "{m}"
        );
        assert!(m.contains("1970-01-01T00:16:40"), "{m}");
    }
    assert!(!out.exists() && !arch.exists());
    // Raised, the same window is accepted.
    let raised = store
        .clone()
        .with_max_window(Duration::from_secs(2 * 86_400))
        .unwrap();
    assert_eq!(raised.search(&long).unwrap().count(), 10);
    // Checked before planning: a root gone since the store was opened is not even listed.
    fs::remove_dir_all(&root).unwrap();
    assert_eq!(
        store.search(&long).err().unwrap().kind(),
        ErrorKind::InvalidQuery
    );
    assert_ne!(
        store.search(&query("1000", "1009")).err().map(|e| e.kind()),
        Some(ErrorKind::InvalidQuery)
    );
}

//! The store's listing kept in memory and current with inotify: while files and day
//! directories are added, deleted and replaced under a running server, every answer equals a
//! fresh `capme extract` (and a fresh plan), and unchanged directories come from memory.

mod common;

use capme_core::sink::PcapFileWriter;
use capme_core::testutil::packet::udp4;
use capme_core::{QuerySpec, Store, TimeWindow};
use capme_serve::auth::AllowLoopback;
use capme_serve::ServeConfig;
use common::TestServer;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

const T: u32 = 1_700_000_000;
const FLOW: &str = "sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&proto=udp";

/// A capture file of the test flow: `n` packets from `start`, each payload tagged with `tag`.
fn write(path: &Path, start: u32, n: u32, tag: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Written beside, then renamed: a reader never sees a half-written file.
    let tmp = path.with_extension("tmp");
    let f = std::fs::File::create(&tmp).unwrap();
    let mut w = PcapFileWriter::new(BufWriter::new(f), 1, 65535, false, false).unwrap();
    for i in 0..n {
        let p = udp4(
            [10, 0, 0, 1],
            5000,
            [10, 0, 0, 2],
            53,
            &[tag, i as u8, 0, 0],
        );
        w.write_record((start + i, 0), p.len() as u32, &p).unwrap();
    }
    w.into_inner().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn day(root: &Path, d: &str) -> PathBuf {
    root.join("sensor/dailylogs").join(d)
}

fn file(root: &Path, d: &str, start: u32) -> PathBuf {
    day(root, d).join(format!("snort.log.{start}"))
}

/// The windows asked each time: one day, the next, both.
const WINDOWS: [(u32, u32); 3] = [
    (T, T + 86_399),
    (T + 86_400, T + 2 * 86_400),
    (T - 100, T + 3 * 86_400),
];

/// The store at `root`, with windows of a week allowed.
fn open(root: &Path) -> Store {
    Store::open([root])
        .unwrap()
        .with_max_window(std::time::Duration::from_secs(7 * 86_400))
        .unwrap()
}

/// Every window's capture (or 404) and file list from the server equal a fresh
/// `capme extract` and a fresh plan of the store.
fn check(s: &TestServer, root: &Path, what: &str) {
    let fresh = open(root);
    for (a, b) in WINDOWS {
        let q = QuerySpec {
            sip: Some("10.0.0.1"),
            spt: Some("5000"),
            dip: Some("10.0.0.2"),
            dpt: Some("53"),
            proto: Some("udp"),
            stime: Some(&a.to_string()),
            etime: Some(&b.to_string()),
            ..Default::default()
        }
        .parse()
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.pcap");
        let want = match fresh.extract_to_file(&q, &out) {
            Ok(_) => Some(std::fs::read(&out).unwrap()),
            Err(e) if e.kind() == capme_core::ErrorKind::NoPackets => None,
            Err(e) => panic!("{what}: {e}"),
        };
        let r = s.get(&format!("/api/v1/pcap?{FLOW}&stime={a}&etime={b}"));
        match want {
            Some(w) => {
                assert_eq!(r.status, 200, "{what} {a}-{b}: {}", r.text());
                assert!(r.body == w, "{what} {a}-{b}: not capme extract's bytes");
            }
            None => assert_eq!(r.status, 404, "{what} {a}-{b}: {}", r.text()),
        }
        let plan = fresh
            .plan(&TimeWindow::parse(&a.to_string(), &b.to_string()).unwrap())
            .unwrap();
        let want: Vec<String> = plan.files().map(|f| f.path.display().to_string()).collect();
        let got: Vec<String> = s
            .get(&format!("/api/v1/files?stime={a}&etime={b}"))
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, want, "{what} {a}-{b}: files");
    }
}

/// The tests of this binary run one at a time: one of them changes TMPDIR for a moment.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn answers_stay_exact_while_the_store_changes_under_the_server() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    write(&file(&root, "2023-11-14", T), T, 5, 1);
    write(&file(&root, "2023-11-14", T + 3600), T + 3600, 5, 2);
    let store = open(&root);
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    let s = TestServer::start(c);
    assert_eq!(
        s.metric("capme_listing_cache_enabled"),
        1,
        "inotify is not available"
    );
    check(&s, &root, "at start");
    // Nothing changed: the directories come from memory.
    let hits = s.metric("capme_listing_cache_hits_total");
    check(&s, &root, "unchanged");
    assert!(s.metric("capme_listing_cache_hits_total") > hits);

    // A file added to a day directory, then the next day's directory and its first file.
    write(&file(&root, "2023-11-14", T + 7200), T + 7200, 5, 3);
    check(&s, &root, "file added");
    write(&file(&root, "2023-11-15", T + 86_400), T + 86_400, 5, 4);
    check(&s, &root, "day added");
    // A file replaced (renamed over) by one with other packets.
    write(&file(&root, "2023-11-14", T + 3600), T + 3600, 3, 5);
    check(&s, &root, "file replaced");
    // A file deleted.
    std::fs::remove_file(file(&root, "2023-11-14", T)).unwrap();
    check(&s, &root, "file deleted");
    // A day directory deleted, then made again with other files in it.
    std::fs::remove_dir_all(day(&root, "2023-11-15")).unwrap();
    check(&s, &root, "day deleted");
    std::fs::create_dir(day(&root, "2023-11-15")).unwrap();
    write(&file(&root, "2023-11-15", T + 86_500), T + 86_500, 4, 6);
    check(&s, &root, "day made again");
    // A whole day directory moved in at once.
    let elsewhere = tmp.path().join("2023-11-16");
    write(
        &elsewhere.join(format!("snort.log.{}", T + 2 * 86_400)),
        T + 2 * 86_400,
        2,
        7,
    );
    std::fs::rename(&elsewhere, day(&root, "2023-11-16")).unwrap();
    check(&s, &root, "day moved in");
    // A second sensor.
    write(
        &root.join(format!("sensor2/dailylogs/2023-11-14/snort.log.{}", T + 60)),
        T + 60,
        5,
        8,
    );
    check(&s, &root, "sensor added");
    assert_eq!(s.metric("capme_listing_cache_enabled"), 1);
}

/// With the watch off, answers are the same (every request lists the store).
/// /metrics of a server without a listing cache: the gauge says 0 (a dashboard sees the
/// cache off rather than missing), and there is nothing to count.
fn no_cache_in_metrics(s: &TestServer) {
    let m = s.get("/metrics").text();
    assert!(m.contains("\ncapme_listing_cache_enabled 0\n"), "{m}");
    assert!(!m.contains("capme_listing_cache_hits_total"), "{m}");
    assert!(!m.contains("capme_listing_cache_dirs"), "{m}");
}

#[test]
fn without_the_watch_nothing_is_kept() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    write(&file(&root, "2023-11-14", T), T, 5, 1);
    let store = open(&root);
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    c.watch = false;
    let s = TestServer::start(c);
    check(&s, &root, "no watch");
    write(&file(&root, "2023-11-14", T + 10), T + 10, 5, 2);
    check(&s, &root, "no watch, file added");
    no_cache_in_metrics(&s);
}

/// When the watch cannot start (here: its private marker directory cannot be made, TMPDIR
/// pointing nowhere while the server starts), the server still answers, exactly, as without
/// the watch.
#[test]
fn a_watch_that_cannot_start_falls_back_to_listing_the_store() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    write(&file(&root, "2023-11-14", T), T, 5, 1);
    let mut c = ServeConfig::new(open(&root), "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    let old = std::env::var_os("TMPDIR");
    std::env::set_var("TMPDIR", tmp.path().join("nowhere"));
    let s = TestServer::start(c);
    match old {
        Some(v) => std::env::set_var("TMPDIR", v),
        None => std::env::remove_var("TMPDIR"),
    }
    no_cache_in_metrics(&s);
    check(&s, &root, "fallback");
    write(&file(&root, "2023-11-14", T + 10), T + 10, 5, 2);
    check(&s, &root, "fallback, file added");
}

/// A store root removed and made again is no longer watched: the watch gives up (said on
/// stderr and in /metrics) and answers stay exact.
#[test]
fn a_root_made_again_turns_the_watch_off() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    write(&file(&root, "2023-11-14", T), T, 5, 1);
    let mut c = ServeConfig::new(open(&root), "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    let s = TestServer::start(c);
    check(&s, &root, "at start");
    assert_eq!(s.metric("capme_listing_cache_enabled"), 1);
    std::fs::remove_dir_all(&root).unwrap();
    write(&file(&root, "2023-11-14", T + 20), T + 20, 3, 2);
    check(&s, &root, "root made again");
    assert_eq!(s.metric("capme_listing_cache_enabled"), 0);
    write(&file(&root, "2023-11-15", T + 86_400), T + 86_400, 3, 3);
    check(&s, &root, "root made again, day added");
}

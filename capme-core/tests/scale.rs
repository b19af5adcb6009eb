//! Stores of many files (issue 12): the pruned, names-first plan picks exactly the files the
//! full listing would; day directories outside the window are not read; the store catalogue
//! gives the same packets as listing, notices added, grown, deleted and replaced files, and is
//! repaired by the next `build_indexes`; retention between passes is never an error.

use capme_core::store::catalogue::CatalogueView;
use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::packet::udp4;
use capme_core::testutil::rng::Rng;
use capme_core::{Error, Query, Store, TimeWindow, Timestamp};
use std::path::{Path, PathBuf};

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const T0: i64 = 1_700_006_400; // 2023-11-15T00:00:00Z
const DAY: i64 = 86_400;

/// A file at `t` (its name's epoch) with a flow packet at `t` and one of noise at `t + 1`.
fn capture(path: &Path, t: i64) {
    let mut b = PcapBuilder::new(1, false, false);
    b.packet((t as u32, 0), &udp4(A, 5000, B, 53, &t.to_le_bytes()));
    b.packet((t as u32 + 1, 0), &udp4(A, 7000, B, 53, &[1; 8]));
    b.write(path).unwrap();
}

fn date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

/// Security Onion layout: `days` days of `per_day` files, the day directory named for the
/// file's start shifted by `tz` seconds (a sensor writing local dates).
fn so_store(root: &Path, sensor: &str, days: i64, per_day: i64, tz: i64) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for k in 0..days * per_day {
        let t = T0 + k * DAY / per_day;
        let dir = root.join(format!("{sensor}/dailylogs/{}", date(t + tz)));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("snort.log.{t}"));
        capture(&p, t);
        out.push(p);
    }
    out
}

/// The files of a window by brute force: the full listing, each file's span widened by the
/// plan margin.
fn expected(store: &Store, w: &TimeWindow) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = store
        .list()
        .unwrap()
        .files
        .into_iter()
        .filter(|f| f.may_overlap(w))
        .map(|f| f.path)
        .collect();
    v.sort();
    v
}

fn planned(store: &Store, w: &TimeWindow) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = store
        .plan(w)
        .unwrap()
        .files()
        .map(|f| f.path.clone())
        .collect();
    v.sort();
    v
}

fn window(a: i64, b: i64) -> TimeWindow {
    TimeWindow::new(Timestamp::from_secs(a), Timestamp::from_secs(b)).unwrap()
}

/// Windows around every interesting place: inside days, across midnights, before and after
/// the store, and random ones.
fn windows(days: i64) -> Vec<TimeWindow> {
    let mut v = vec![
        window(T0 - 10 * DAY, T0 - 9 * DAY),
        window(T0 - 5, T0 + 5),
        window(T0 + days * DAY + 100, T0 + days * DAY + 200),
        window(T0 + 40 * DAY, T0 + 41 * DAY),
    ];
    for d in 0..=days {
        v.push(window(T0 + d * DAY - 3, T0 + d * DAY + 3));
        v.push(window(T0 + d * DAY + DAY / 2, T0 + d * DAY + DAY / 2 + 2));
    }
    let mut rng = Rng::new(12);
    for _ in 0..40 {
        let a = T0 - DAY + rng.below((days as u64 + 2) * DAY as u64) as i64;
        let len = rng.below(3 * 3600) as i64;
        v.push(window(a, a + len));
    }
    v
}

#[test]
fn the_pruned_plan_picks_what_the_full_listing_picks() {
    for tz in [0, 10 * 3600, -7 * 3600] {
        let tmp = tempfile::tempdir().unwrap();
        so_store(tmp.path(), "s1", 6, 24, tz);
        // A second sensor with files every 5 hours (a sparse chain) and a missing day.
        so_store(tmp.path(), "s2", 6, 5, tz);
        std::fs::remove_dir_all(
            tmp.path()
                .join(format!("s2/dailylogs/{}", date(T0 + 2 * DAY + tz))),
        )
        .unwrap();
        // An empty day directory.
        std::fs::create_dir_all(tmp.path().join("s1/dailylogs/2023-11-30")).unwrap();
        let store = Store::open([tmp.path()]).unwrap();
        for w in windows(6) {
            assert_eq!(
                planned(&store, &w),
                expected(&store, &w),
                "tz {tz}, window {w}"
            );
        }
    }
}

#[test]
fn a_flat_directory_is_planned_from_names() {
    let tmp = tempfile::tempdir().unwrap();
    for k in 0..2000 {
        let t = T0 + k * 97;
        capture(&tmp.path().join(format!("log.pcap.{t}")), t);
    }
    std::fs::write(tmp.path().join("log.pcap.1700100000"), b"not a capture").unwrap();
    let store = Store::open([tmp.path()]).unwrap();
    for w in windows(2) {
        assert_eq!(planned(&store, &w), expected(&store, &w), "window {w}");
    }
}

#[test]
fn day_directories_outside_the_window_are_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    so_store(tmp.path(), "s1", 10, 20, 0);
    // A FIFO named like a capture in a day far from the window: walking that day would warn
    // about it (and opening it would hang the search).
    let far = tmp
        .path()
        .join(format!("s1/dailylogs/{}", date(T0 + 8 * DAY)));
    let st = std::process::Command::new("mkfifo")
        .arg(far.join("snort.log.1700700000"))
        .status()
        .unwrap();
    assert!(st.success());
    let store = Store::open([tmp.path()]).unwrap();
    let w = window(T0 + 4 * DAY + DAY / 2 + 100, T0 + 4 * DAY + DAY / 2 + 102);
    let plan = store.plan(&w).unwrap();
    assert_eq!(plan.files().count(), 1);
    // The root, the sensor, dailylogs and the one day.
    assert_eq!(plan.dirs_read, 4, "{plan:?}");
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    // The full listing does see it.
    assert!(store
        .list()
        .unwrap()
        .warnings
        .iter()
        .any(|w| w.contains("FIFO")));
}

/// Sets the modification time of every directory below `root` (and of `root`) to 2023, so a
/// catalogue written now holds them as settled (not modified within its racy margin).
fn age_dirs(root: &Path) {
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg("find \"$1\" -type d -exec touch -m -d @1700000000 {} +")
        .arg("sh")
        .arg(root)
        .status()
        .unwrap();
    assert!(st.success());
}

/// The packets of a window (timestamps and bytes), or none.
fn packets(store: &Store, w: &TimeWindow) -> Vec<(Timestamp, Vec<u8>)> {
    let q = Query::new(capme_core::testutil::udp_flow(), *w);
    match store.search(&q) {
        Ok(s) => s
            .map(|p| p.unwrap())
            .map(|p| (p.ts, p.data.to_vec()))
            .collect(),
        Err(Error::NoPackets { .. }) => Vec::new(),
        Err(e) => panic!("{e}"),
    }
}

fn assert_same_as_listing(root: &Path, ws: &[TimeWindow]) {
    let with = Store::open([root]).unwrap();
    let without = Store::open([root])
        .unwrap()
        .use_catalogue(false)
        .use_index(false);
    for w in ws {
        assert_eq!(packets(&with, w), packets(&without, w), "window {w}");
    }
}

#[test]
fn the_catalogue_gives_the_packets_of_the_listing() {
    let tmp = tempfile::tempdir().unwrap();
    so_store(tmp.path(), "s1", 5, 40, 0);
    let flat = tmp.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for k in 0..300 {
        let t = T0 + k * 1000 + 7;
        capture(&flat.join(format!("log.pcap.{t}")), t);
    }
    age_dirs(tmp.path());
    let store = Store::open([tmp.path()]).unwrap();
    let first = store.build_indexes().unwrap();
    assert!(first.dirs_catalogued == 0 && first.built > 0, "{first:?}");
    // The first pass created `.capme` in the root after listing it: put the root's time back.
    age_dirs(tmp.path());
    let cat = CatalogueView::open(&store.catalogue_path(tmp.path()))
        .unwrap()
        .unwrap();
    assert_eq!(cat.heads().iter().map(|h| h.files).sum::<u32>(), 500);
    let w = window(T0 + DAY + 3 * 3600, T0 + 2 * DAY);
    let plan = store.plan(&w).unwrap();
    assert!(plan.dirs_catalogued > 0 && plan.dirs_read == 0, "{plan:?}");
    assert_same_as_listing(tmp.path(), &windows(5));
    // A second pass over the unchanged store reads no directory and builds nothing.
    let second = store.build_indexes().unwrap();
    assert_eq!((second.dirs_read, second.built), (0, 0), "{second:?}");
    assert_eq!(second.fresh, 500, "{second:?}");
}

#[test]
fn a_stale_catalogue_is_noticed_and_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let files = so_store(tmp.path(), "s1", 4, 30, 0);
    age_dirs(tmp.path());
    let store = Store::open([tmp.path()]).unwrap();
    store.build_indexes().unwrap();
    let day1 = files[40].parent().unwrap().to_path_buf();
    // Added: a file in day 1 between two others, with a flow packet.
    let t_new = T0 + DAY + 4000;
    capture(&day1.join(format!("snort.log.{t_new}")), t_new);
    // Deleted: a file of day 1.
    std::fs::remove_file(&files[45]).unwrap();
    // Replaced: a file of day 2 renamed over by one with other packets.
    let t_rep = T0 + 2 * DAY + 2 * DAY / 30;
    let tmpf = tmp.path().join("s1/new.tmp");
    let mut b = PcapBuilder::new(1, false, false);
    b.packet((t_rep as u32 + 5, 0), &udp4(A, 5000, B, 53, b"replaced"));
    b.write(&tmpf).unwrap();
    std::fs::rename(&tmpf, &files[62]).unwrap();
    // Grown in place (its directory does not change): the newest file.
    let newest = files.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let t_last = T0 + 4 * DAY - DAY / 30;
    let mut g = PcapBuilder::new(1, false, false);
    g.packet((t_last as u32 + 30, 0), &udp4(B, 53, A, 5000, b"grown"));
    bytes.extend_from_slice(&g.bytes()[24..]);
    std::fs::write(newest, bytes).unwrap();
    let ws = [
        window(T0 + DAY, T0 + 2 * DAY),
        window(t_new - 1, t_new + 1),
        window(t_rep, t_rep + 10),
        window(t_last, t_last + 100),
    ];
    assert_same_as_listing(tmp.path(), &ws);
    let got = packets(&store, &ws[3]);
    assert!(got.iter().any(|(_, d)| d.ends_with(b"grown")), "{got:?}");
    let got = packets(&store, &ws[1]);
    assert_eq!(got.len(), 1);
    // The next pass repairs the catalogue: the added file is in it, the deleted one is not,
    // the grown file's index is built again, the deleted file's index removed.
    let rep = store.build_indexes().unwrap();
    assert!(rep.built >= 3 && rep.removed == 1, "{rep:?}");
    let cat = CatalogueView::open(&store.catalogue_path(tmp.path()))
        .unwrap()
        .unwrap();
    assert_eq!(cat.heads().iter().map(|h| h.files).sum::<u32>(), 120);
    assert_same_as_listing(tmp.path(), &ws);
}

#[test]
fn a_file_closed_by_a_successor_in_a_new_day_is_indexed_again() {
    // The newest file of day 0 grows, then the sensor starts day 1: day 0's directory did not
    // change, but its last file was open when catalogued, so it is looked at again.
    let tmp = tempfile::tempdir().unwrap();
    let files = so_store(tmp.path(), "s1", 1, 10, 0);
    age_dirs(tmp.path());
    let store = Store::open([tmp.path()]).unwrap();
    store.build_indexes().unwrap();
    let last = files.last().unwrap();
    let t = T0 + 9 * DAY / 10;
    let mut bytes = std::fs::read(last).unwrap();
    let mut g = PcapBuilder::new(1, false, false);
    g.packet((t as u32 + 50, 0), &udp4(B, 53, A, 5000, b"late"));
    bytes.extend_from_slice(&g.bytes()[24..]);
    std::fs::write(last, bytes).unwrap();
    let next = tmp.path().join(format!("s1/dailylogs/{}", date(T0 + DAY)));
    std::fs::create_dir_all(&next).unwrap();
    capture(&next.join(format!("snort.log.{}", T0 + DAY)), T0 + DAY);
    let rep = store.build_indexes().unwrap();
    assert_eq!(rep.built, 2, "the grown file and the new one: {rep:?}");
    let w = window(t, t + 60);
    let with_index = packets(&store, &w);
    assert!(with_index.iter().any(|(_, d)| d.ends_with(b"late")));
    assert_same_as_listing(tmp.path(), &[w]);
}

#[test]
fn retention_between_passes_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    so_store(tmp.path(), "s1", 4, 20, 0);
    age_dirs(tmp.path());
    let store = Store::open([tmp.path()]).unwrap();
    store.build_indexes().unwrap();
    // The sensor's cleanup removes the oldest day.
    std::fs::remove_dir_all(tmp.path().join(format!("s1/dailylogs/{}", date(T0)))).unwrap();
    let gone = window(T0 + DAY / 2, T0 + DAY / 2 + 5);
    match store.search(&Query::new(capme_core::testutil::udp_flow(), gone)) {
        Ok(s) => assert_eq!(s.collect::<Result<Vec<_>, _>>().unwrap().len(), 0),
        Err(e) => assert!(matches!(e, Error::NoPackets { .. }), "{e}"),
    }
    assert_same_as_listing(tmp.path(), &windows(4));
    let rep = store.build_indexes().unwrap();
    assert_eq!(rep.removed, 20, "{rep:?}");
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    assert_eq!(store.count_files().unwrap(), 60);
}

#[test]
fn a_damaged_catalogue_is_a_warning_and_the_store_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    so_store(tmp.path(), "s1", 2, 10, 0);
    age_dirs(tmp.path());
    let store = Store::open([tmp.path()]).unwrap();
    store.build_indexes().unwrap();
    let p = store.catalogue_path(tmp.path());
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff; // inside the last directory's entries
    std::fs::write(&p, bytes).unwrap();
    let w = window(T0 + DAY + DAY / 2, T0 + DAY + DAY / 2 + 5);
    let plan = store.plan(&w).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|m| m.contains("damaged store catalogue")),
        "{:?}",
        plan.warnings
    );
    assert_same_as_listing(tmp.path(), &windows(2));
    // The next pass writes it again.
    let rep = store.build_indexes().unwrap();
    assert!(
        rep.warnings.iter().any(|m| m.contains("damaged")),
        "{rep:?}"
    );
    assert!(store.plan(&w).unwrap().warnings.is_empty());
}

//! A dropped search leaves no scan thread behind (its own test binary, so that no other test's
//! threads are counted).

use capme_core::testutil::capture::PcapBuilder;
use capme_core::{Query, Store, TimeWindow};

fn scan_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim() == "capme-scan")
        .count()
}

#[test]
fn dropping_a_search_joins_its_scan_threads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("s1/dailylogs/2023-11-14");
    std::fs::create_dir_all(&d).unwrap();
    // Ethernet + IPv4 + UDP 10.0.0.1:5000 -> 10.0.0.2:53.
    let mut pkt = vec![0u8; 12];
    pkt.extend_from_slice(&[
        0x08, 0x00, 0x45, 0, 0, 36, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    pkt.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 16, 0, 0]);
    pkt.extend_from_slice(&[7u8; 8]);
    for f in 0..4u32 {
        let mut b = PcapBuilder::new(1, false, false);
        for i in 0..5000u32 {
            b.packet((1_700_000_000 + f * 100 + i / 100, i % 100), &pkt);
        }
        b.write(d.join(format!("snort.log.{}", 1_700_000_000 + f * 100)))
            .unwrap();
    }
    let q = Query::new(
        capme_core::testutil::udp_flow(),
        TimeWindow::parse("1700000000", "1700001000").unwrap(),
    );
    let store = Store::open([dir.path()]).unwrap().with_threads(4);
    let mut s = store.search(&q).unwrap();
    assert!(s.next().unwrap().is_ok());
    assert!(scan_threads() > 0, "workers run while the search is alive");
    drop(s);
    assert_eq!(
        scan_threads(),
        0,
        "a dropped search left scan threads running"
    );
    // A search run to its end leaves none either.
    assert_eq!(store.search(&q).unwrap().count(), 20_000);
    assert_eq!(scan_threads(), 0);
}

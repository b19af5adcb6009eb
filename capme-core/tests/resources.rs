//! Resource bounds on a store of 20,000 small capture files (issue 11): memory does not grow
//! with the number of files a search reads, and open descriptors stay bounded by the threads.
//! One test in its own binary, so that the process's peak RSS is this search's.

use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::packet::udp4;
use capme_core::{Query, Store, TimeWindow};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

/// `sensors` × `files` capture files of three records each (one of the flow), 10 s apart.
fn many_files(root: &Path, sensors: u32, files: u32) {
    for s in 0..sensors {
        let day = root.join(format!("s{s}/dailylogs/2023-11-14"));
        std::fs::create_dir_all(&day).unwrap();
        for i in 0..files {
            let t = 1_700_000_000 + i * 10;
            let mut b = PcapBuilder::new(1, false, false);
            b.packet((t, 0), &udp4(A, 5000, B, 53, &[1; 8]));
            b.packet((t + 1, 0), &udp4(A, 6000, B, 53, &[2; 8]));
            b.packet((t + 2, 0), &udp4(A, 6001, B, 53, &[3; 8]));
            b.write(day.join(format!("snort.log.{t}"))).unwrap();
        }
    }
}

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Runs the search of the whole store, sampling the open descriptors meanwhile; returns the
/// packets found and the most descriptors seen open.
fn search_all(store: &Store, until: &str) -> (usize, usize) {
    let q = Query::new(
        capme_core::testutil::udp_flow(),
        TimeWindow::parse("1700000000", until).unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, most) = (done.clone(), most.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                most.fetch_max(open_fds(), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let mut n = 0;
    for p in store.search(&q).unwrap() {
        p.unwrap();
        n += 1;
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (n, most.load(Ordering::Relaxed))
}

#[test]
fn twenty_thousand_files_in_flat_memory_and_few_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    many_files(dir.path(), 20, 1000);
    let threads = 2;
    let store = Store::open([dir.path()]).unwrap().with_threads(threads);
    let base_fds = open_fds();
    // A warm-up over 2,000 files (one per sensor per 100 s) sets the baseline.
    let (n, _) = search_all(&store, "1700000999");
    assert_eq!(n, 20 * 100);
    let small = vm_hwm_kb();
    let (n, fds) = search_all(&store, "1700009999");
    assert_eq!(n, 20_000);
    let large = vm_hwm_kb();
    // The bound the README states: the read-ahead budget (16 MiB of queued packets and files,
    // shared by the chains) plus per-chain and per-thread buffers, not the number of files.
    // Ten times the files may add at most 24 MiB (it added 130 MB when finished files' queued
    // channels were not counted).
    assert!(
        large.saturating_sub(small) < 24 * 1024,
        "peak RSS grew from {small} kB to {large} kB reading 10x the files"
    );
    // Descriptors: a chain's worker keeps its file open while it waits for read-ahead room,
    // so at most one capture file per chain (20 here) plus one file and its index per thread
    // reading, plus the walk's directory handles: bounded by the chains and threads, not by
    // the 20,000 files.
    let chains = 20;
    let bound = base_fds + chains + 2 * threads + 8;
    assert!(
        fds <= bound,
        "{fds} descriptors open at once (bound {bound})"
    );
}

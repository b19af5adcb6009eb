//! Runs every committed input of every fuzz target through that target, on stable Rust:
//! the seeds (`fuzz/corpus/<target>/`) and the inputs of past findings
//! (`fuzz/regressions/<target>/`). Part of `cargo test --workspace`, so CI replays them all
//! without nightly and without time-boxed fuzzing.
//!
//! Each input runs on its own thread with a time limit (a hang fails the test instead of
//! blocking it), under a counting allocator that fails the test when one input makes a
//! target hold more than a bound proportional to the input (unbounded allocation).

use capme_fuzz_targets::{fix_index_checksums, TARGETS};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// Counts the bytes held, and the peak since the last reset.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = HELD.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        HELD.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One input at a time, so that the peak belongs to it.
static SERIAL: Mutex<()> = Mutex::new(());

/// Time one input may take (the slowest seed takes milliseconds; debug builds included).
const LIMIT: Duration = Duration::from_secs(60);

/// Memory one input may hold beyond what was held before it: the reader's buffer
/// (256 KiB), a few copies of the input, and slack. The `compressed` target also holds an
/// lz4 frame decoder's buffers, which a frame header sizes (at most a 4 MiB block in and two
/// plus a 64 KiB window out: 12.1 MiB), and its copy of the decompressed bytes (at most
/// 4 MiB); zstd's window lives in libzstd's own allocations (at most 2^27 bytes, its limit).
fn memory_bound(target: &str, input_len: usize) -> usize {
    let decoders = if target == "compressed" { 24 << 20 } else { 0 };
    (8 << 20) + 16 * input_len + decoders
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(d) => d.map(|e| e.expect("a directory entry").path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    files.retain(|p| p.is_file());
    files.sort();
    files
}

/// Runs `target` over `data` on a thread, within [`LIMIT`] and the memory bound.
fn run_one(name: &str, target: fn(&[u8]), path: &Path, data: Vec<u8>) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let len = data.len();
    let (tx, rx) = mpsc::channel();
    let base = HELD.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let worker = std::thread::Builder::new()
        .name(format!("{name} {}", path.display()))
        .spawn(move || {
            let result = std::panic::catch_unwind(|| target(&data));
            let _ = tx.send(result.is_ok());
        })
        .expect("spawn");
    match rx.recv_timeout(LIMIT) {
        Ok(true) => {}
        Ok(false) => panic!("{name} panicked on {}", path.display()),
        Err(_) => panic!("{name} took more than {LIMIT:?} on {}", path.display()),
    }
    worker.join().expect("joined");
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(
        used <= memory_bound(name, len),
        "{name} held {used} bytes for the {len}-byte input {}",
        path.display()
    );
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for &(name, target) in TARGETS {
        for path in inputs(kind, name) {
            let data = std::fs::read(&path).expect("read an input");
            run_one(name, target, &path, data);
            n += 1;
        }
    }
    n
}

#[test]
fn every_seed_through_its_target() {
    // Every target has seeds.
    for &(name, _) in TARGETS {
        assert!(
            !inputs("corpus", name).is_empty(),
            "no seeds for {name} under fuzz/corpus/{name}"
        );
    }
    let n = replay("corpus");
    eprintln!("{n} corpus inputs replayed");
    assert!(n > 0);
}

#[test]
fn every_regression_input_through_its_target() {
    let n = replay("regressions");
    eprintln!("{n} regression inputs replayed");
}

/// Regression inputs are named after their target's directory: none is left where no
/// target would read it.
#[test]
fn regression_dirs_name_targets() {
    if let Ok(dirs) = std::fs::read_dir(fuzz_dir().join("regressions")) {
        for d in dirs {
            let d = d.expect("entry");
            let name = d.file_name().to_string_lossy().into_owned();
            if d.path().is_dir() {
                assert!(
                    TARGETS.iter().any(|(t, _)| *t == name),
                    "fuzz/regressions/{name} is not a target"
                );
            }
        }
    }
}

/// The index target's checksum fixer computes capme's checksums: fixing a valid index
/// (as `capme index` wrote it) changes nothing.
#[test]
fn checksum_fixer_matches_the_index_format() {
    let mut valid = 0;
    for path in inputs("corpus", "index") {
        let data = std::fs::read(&path).expect("read");
        if capme_core::index::FileIndex::from_bytes(&data).is_ok() {
            let mut fixed = data.clone();
            assert!(fix_index_checksums(&mut fixed));
            assert_eq!(fixed, data, "{}", path.display());
            valid += 1;
        }
    }
    assert!(valid > 0, "no valid index among the index seeds");
}

/// The harness itself: a target that panics fails the replay.
#[test]
#[should_panic(expected = "panicked on")]
fn a_panicking_target_fails() {
    run_one("panics", |_| panic!("a finding"), Path::new("x"), vec![1]);
}

/// The harness itself: a target that holds far more memory than its input justifies fails
/// the replay.
#[test]
#[should_panic(expected = "bytes for the 1-byte input")]
fn an_unbounded_allocation_fails() {
    run_one(
        "allocates",
        |_| drop(std::hint::black_box(vec![1u8; 64 << 20])),
        Path::new("x"),
        vec![1],
    );
}

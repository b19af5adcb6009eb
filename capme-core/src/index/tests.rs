//! Format tests: round trips, corruption, partial reads, varints.

use super::format::*;
use super::*;
use std::fs;

fn sample() -> FileIndex {
    let lists: Vec<(u32, Vec<(u64, u64)>)> =
        vec![(3, vec![(24, 90), (300, 400)]), (9, vec![(90, 300)])];
    let mut flows = Vec::new();
    let mut all = Vec::new();
    for (h, recs) in &lists {
        let mut b = Vec::new();
        let mut prev = 0;
        for &(o, e) in recs {
            push_varint(&mut b, o - prev);
            push_varint(&mut b, e - o);
            prev = e;
        }
        flows.push(FlowEntry {
            hash: *h,
            start: all.len() as u64,
            len: b.len() as u32,
            sum: sum32(&b),
            cid_tag: *h as u16,
            any_cid: *h == 9,
        });
        all.extend_from_slice(&b);
    }
    FileIndex {
        capture_size: 500,
        capture_mtime_ns: 5,
        indexed_len: 400,
        blocks: vec![Block {
            offset: 24,
            len: 376,
            min_ts: 1,
            max_ts: 2,
        }],
        structure: vec![(0, 24)],
        flows,
        compression: None,
        frames: vec![],
        unsupported: vec![(147, 3), (999, 1)],
        lists: all,
    }
}

#[test]
fn a_compressed_files_frame_table_round_trips_and_is_checked() {
    use crate::capture::compress::{Compression, FrameStart};
    let mut idx = sample();
    idx.compression = Some(Compression::Zstd);
    let f = |compressed, offset| FrameStart { compressed, offset };
    idx.frames = vec![f(0, 0), f(70, 300)];
    let bytes = idx.to_bytes();
    assert_eq!(FileIndex::from_bytes(&bytes).unwrap(), idx);
    // Frames out of order are refused (the checksum is recomputed so only the order fails).
    let mut bad = idx.clone();
    bad.frames = vec![f(70, 300), f(0, 0)];
    let e = FileIndex::from_bytes(&bad.to_bytes()).unwrap_err();
    assert!(e.contains("frame table"), "{e}");
    // A flipped byte in the frame table fails the checksum.
    let mut flipped = bytes.clone();
    let at = flipped.len() - idx.lists.len() - 3;
    flipped[at] ^= 1;
    assert!(FileIndex::from_bytes(&flipped).is_err());
}

#[test]
fn corrupt_bytes_are_rejected_not_panicked_on() {
    let idx = sample();
    let v = idx.to_bytes();
    assert_eq!(FileIndex::from_bytes(&v).unwrap(), idx);
    assert_eq!(idx.records(3).unwrap(), vec![(24, 90), (300, 400)]);
    assert_eq!(idx.records(4).unwrap(), vec![]);
    for cut in 0..v.len() {
        assert!(FileIndex::from_bytes(&v[..cut]).is_err(), "cut at {cut}");
    }
    for i in 0..v.len() {
        for bit in [0x01, 0x40, 0x80] {
            let mut w = v.clone();
            w[i] ^= bit;
            assert!(
                FileIndex::from_bytes(&w).is_err(),
                "flip {bit:#x} at {i} accepted"
            );
        }
    }
}

/// The partial reader finds the same records, and rejects a corrupt list it reads (but
/// not one it does not need).
#[test]
fn view_reads_only_the_lists_asked_and_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.cidx");
    let idx = sample();
    let v = idx.to_bytes();
    fs::write(&p, &v).unwrap();
    let view = IndexView::open(&p).unwrap().unwrap();
    assert_eq!(
        view.records(&[9, 3, 3, 77]).unwrap(),
        vec![(24, 90), (90, 300), (300, 400)]
    );
    assert_eq!(view.blocks(), &idx.blocks[..]);
    // Corrupt the list of hash 9 (the last bytes of the file).
    let mut w = v.clone();
    let n = w.len();
    w[n - 1] ^= 0x02;
    fs::write(&p, &w).unwrap();
    let view = IndexView::open(&p).unwrap().unwrap();
    assert_eq!(view.records(&[3]).unwrap().len(), 2);
    assert!(view.records(&[9]).unwrap_err().contains("checksum"));
    // Tables or header corrupt, or the file cut: not opened.
    for at in [20, HEADER_LEN + 3, HEADER_LEN + BLOCK_LEN + 2] {
        let mut w = v.clone();
        w[at] ^= 0x10;
        fs::write(&p, &w).unwrap();
        assert!(IndexView::open(&p).is_err(), "flip at {at}");
    }
    fs::write(&p, &v[..v.len() - 1]).unwrap();
    assert!(IndexView::open(&p).is_err());
    assert!(IndexView::open(&dir.path().join("none.cidx"))
        .unwrap()
        .is_none());
}

#[test]
fn varints_round_trip_and_reject_overlong() {
    for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
        let mut b = Vec::new();
        push_varint(&mut b, v);
        let mut at = 0;
        assert_eq!(read_varint(&b, &mut at), Some(v));
        assert_eq!(at, b.len());
    }
    let mut at = 0;
    assert_eq!(read_varint(&[0x80; 11], &mut at), None);
    let mut at = 0;
    assert_eq!(read_varint(&[0x80, 0x80], &mut at), None);
}

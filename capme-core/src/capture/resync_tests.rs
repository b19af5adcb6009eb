//! Resync: after a corrupt record the reader finds the next record boundary, within bounds.

use super::reader::RESYNC_WINDOW;
use super::*;
use crate::testutil::capture::{PcapBuilder, PcapngBuilder};
use std::io::Cursor;

fn resyncing(bytes: &[u8]) -> CaptureReader {
    CaptureReader::from_read_resyncing(Box::new(Cursor::new(bytes.to_vec())), "t.cap".into())
        .unwrap()
}

/// `(first data byte of each record, damage, trailing bytes)`.
fn read(r: &mut CaptureReader) -> (Vec<u8>, Vec<Damage>, u64) {
    let mut marks = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        marks.push(rec.data[0]);
    }
    (marks, r.damage().to_vec(), r.trailing_bytes())
}

fn pcap(marks: impl IntoIterator<Item = u8>) -> Vec<u8> {
    let mut b = PcapBuilder::new(1, false, false);
    for m in marks {
        b.packet((1_700_000_000 + u32::from(m), 1000), &[m; 60]);
    }
    b.bytes()
}

#[test]
fn junk_between_records_is_one_damaged_span() {
    let mut b = pcap(0..3);
    let at = b.len() as u64;
    b.extend_from_slice(&[0xff; 1000]);
    b.extend_from_slice(&pcap(3..6)[24..]);
    // Without resync: an error at the junk.
    let mut strict =
        CaptureReader::from_read(Box::new(Cursor::new(b.clone())), "t".into()).unwrap();
    let strict_err = loop {
        match strict.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(strict_err);
    let (marks, damage, trailing) = read(&mut resyncing(&b));
    assert_eq!(marks, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(trailing, 0);
    assert_eq!(damage.len(), 1);
    assert_eq!(damage[0].offset, at);
    assert_eq!(damage[0].resumed_at, Some(at + 1000));
    assert_eq!(damage[0].skipped, 1000);
    let w = damage[0].warning(std::path::Path::new("f"));
    assert!(
        w.starts_with(&format!(
            "f: corrupt capture at byte {at}: record captured length"
        )) && w.ends_with(&format!(
            "; resumed at byte {} (1000 bytes skipped)",
            at + 1000
        )),
        "{w}"
    );
}

#[test]
fn resync_gives_up_after_its_window_with_bounded_memory() {
    for junk in [3 << 20, 5 << 20] {
        let mut b = pcap(0..3);
        b.extend_from_slice(&vec![0xff; junk]);
        b.extend_from_slice(&pcap(3..6)[24..]);
        let mut r = resyncing(&b);
        let (marks, damage, _) = read(&mut r);
        assert!(
            r.buffer_len() <= RESYNC_WINDOW + (2 << 20),
            "{}",
            r.buffer_len()
        );
        assert_eq!(damage.len(), 1);
        if junk < RESYNC_WINDOW {
            assert_eq!(marks, vec![0, 1, 2, 3, 4, 5]);
        } else {
            assert_eq!(marks, vec![0, 1, 2]);
            assert_eq!(damage[0].resumed_at, None);
            assert_eq!(damage[0].skipped, RESYNC_WINDOW as u64);
            let w = damage[0].warning(std::path::Path::new("f"));
            assert!(w.contains("the rest of the file was not read"), "{w}");
        }
    }
}

#[test]
fn a_cut_last_record_is_not_damage() {
    let b = pcap(0..4);
    let cut = &b[..b.len() - 10];
    let (marks, damage, trailing) = read(&mut resyncing(cut));
    assert_eq!((marks, damage, trailing), (vec![0, 1, 2], vec![], 66));
    let mut ng = PcapngBuilder::new();
    ng.section(true);
    ng.interface(1, 0, None, None);
    for m in 0..4u8 {
        ng.epb(0, u64::from(m), &[m; 60], 60);
    }
    let b = ng.bytes();
    let (marks, damage, trailing) = read(&mut resyncing(&b[..b.len() - 10]));
    assert_eq!((marks, damage, trailing), (vec![0, 1, 2], vec![], 82));
}

#[test]
fn a_wrong_length_within_the_limits_does_not_swallow_the_next_records() {
    let mut b = pcap(0..10);
    // Record 2 claims 400 bytes instead of 60: the next header would be read inside record 7.
    let at = 24 + 2 * 76;
    b[at + 8..at + 12].copy_from_slice(&400u32.to_le_bytes());
    let (marks, damage, _) = read(&mut resyncing(&b));
    assert_eq!(marks, vec![0, 1, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(damage[0].offset, at as u64);
    assert_eq!(damage[0].resumed_at, Some(at as u64 + 76));
}

#[test]
fn odd_but_valid_records_read_the_same_with_resync() {
    // Fractions beyond a second, captured beyond the wire length, a jump of years, zero
    // lengths: tcpdump reads them, and so does the reader, with or without resync.
    let mut b = PcapBuilder::new(1, false, false);
    b.packet((1_700_000_000, 2_000_000), &[1; 60]);
    b.orig_len(10).packet((1_700_000_001, 0), &[2; 60]);
    b.packet((100, 0), &[3; 60]);
    b.packet((1_700_000_002, 0), &[]);
    b.packet((1_700_000_003, 0), &[5; 60]);
    let b = b.bytes();
    let mut strict =
        CaptureReader::from_read(Box::new(Cursor::new(b.clone())), "t".into()).unwrap();
    let mut n = 0;
    while strict.next_record().unwrap().is_some() {
        n += 1;
    }
    let mut r = resyncing(&b);
    let mut m = 0;
    while r.next_record().unwrap().is_some() {
        m += 1;
    }
    assert_eq!((n, m), (5, 5));
    assert!(r.damage().is_empty());
}

#[test]
fn modified_pcap_resyncs_on_24_byte_headers() {
    let mut b = crate::testutil::capture::modified_pcap_header(1);
    for i in 0..12u32 {
        if i == 4 {
            b.extend_from_slice(&[0xee; 37]);
        }
        for v in [1_700_000_000 + i, 7, 40, 40, 3] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0x08, 0x00, 0x04, 0x00]);
        b.extend_from_slice(&[i as u8; 40]);
    }
    let (marks, damage, _) = read(&mut resyncing(&b));
    assert_eq!(marks, (0..12).collect::<Vec<u8>>());
    assert_eq!(damage.len(), 1);
    assert_eq!(damage[0].skipped, 37);
}

#[test]
fn a_corrupt_block_among_the_first_interfaces_does_not_fail_the_open() {
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    ng.raw(&[0x77; 12]);
    ng.interface(1, 0, None, None);
    for m in 0..3u8 {
        ng.epb(0, u64::from(m), &[m; 60], 60);
    }
    let b = ng.bytes();
    assert!(CaptureReader::from_read(Box::new(Cursor::new(b.clone())), "t".into()).is_err());
    let (marks, damage, _) = read(&mut resyncing(&b));
    assert_eq!(marks, vec![0, 1, 2]);
    assert_eq!(damage.len(), 1);
    assert_eq!(damage[0].skipped, 12);
}

#[test]
fn an_epb_for_a_missing_interface_is_not_resumed_at() {
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    ng.interface(1, 0, None, None);
    ng.epb(0, 1, &[0; 60], 60);
    ng.epb(3, 2, &[1; 60], 60); // no interface 3: damage
    ng.epb(0, 3, &[2; 60], 60);
    let (marks, damage, _) = read(&mut resyncing(&ng.bytes()));
    assert_eq!(marks, vec![0, 2]);
    assert_eq!(damage.len(), 1);
    assert!(damage[0].reason.contains("interface 3"), "{:?}", damage[0]);
}

#[test]
fn many_damaged_spans_are_counted_and_the_first_kept() {
    // Junk after every tenth record (a resync needs a chain of 8 records after it).
    let mut b = pcap(0..1);
    for m in 1..=200u8 {
        if m % 10 == 0 {
            b.extend_from_slice(&[0xff; 20]);
        }
        b.extend_from_slice(&pcap([m])[24..]);
    }
    let mut r = resyncing(&b);
    let (marks, damage, _) = read(&mut r);
    assert_eq!(marks.len(), 201);
    assert_eq!(damage.len(), MAX_DAMAGE_DETAILS);
    assert_eq!(r.damage_total(), (20, 400));
}

/// Random damage with resync: records or errors, never a panic or an endless loop, and the
/// buffer stays within the resync window and its lookahead.
#[test]
fn mutated_files_never_panic_when_resyncing() {
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let i = ng.interface(1, 0, Some(0x80 | 10), Some(5));
    for k in 0..20u8 {
        ng.epb(i, u64::from(k), &[k; 40], 99);
        if k % 5 == 0 {
            ng.spb(&[k]);
            ng.pb(i as u16, 1, &[k; 3], 3);
            ng.section(k % 2 == 0);
            ng.interface(1, 0, None, None);
        }
    }
    let mut rng = crate::testutil::rng::Rng::new(0x5eed);
    for base in [ng.bytes(), pcap(0..40)] {
        for _ in 0..3_000 {
            let mut b = base.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len() as u64) as usize;
                match rng.below(3) {
                    0 => b[at] = rng.next_u64() as u8,
                    1 => b.insert(at, rng.next_u64() as u8),
                    _ => {
                        b.remove(at);
                    }
                }
            }
            let Ok(mut r) =
                CaptureReader::from_read_resyncing(Box::new(Cursor::new(b.clone())), "t".into())
            else {
                continue;
            };
            let mut n = 0;
            while let Ok(Some(_)) = r.next_record() {
                n += 1;
                assert!(n <= 200);
            }
            assert!(r.buffer_len() <= RESYNC_WINDOW + (2 << 20));
        }
    }
}

#[test]
fn a_record_cut_while_carrying_a_capture_file_is_not_read_into() {
    // The last packet of a file being written carries a pcap file (a download): cut inside
    // one of the inner records, the reader must not take the inner records for its own.
    let inner = pcap(100..140);
    let mut b = pcap(0..3);
    let mut outer = PcapBuilder::new(1, false, false);
    outer.packet((1_700_000_005, 0), &inner[24..]);
    b.extend_from_slice(&outer.bytes()[24..]);
    for cut in [b.len() - 7, b.len() - 700, b.len() - 1500] {
        let (marks, damage, trailing) = read(&mut resyncing(&b[..cut]));
        assert_eq!(marks, vec![0, 1, 2], "cut at {cut}");
        assert!(damage.is_empty(), "{damage:?}");
        assert!(trailing > 0);
    }
    // A complete file whose record length was damaged to run past its end reads like a file
    // still being written: the reader cannot tell them apart, and resynchronising past a cut
    // record skipped whole records of growing files (tests/growing.rs), so it ends there, with
    // the rest left as trailing bytes (a scan warns about them when a newer file follows).
    let mut b = pcap(0..12);
    let at = 24 + 3 * 76;
    b[at + 8..at + 12].copy_from_slice(&200_000u32.to_le_bytes());
    let (marks, damage, trailing) = read(&mut resyncing(&b));
    assert_eq!(marks, vec![0, 1, 2]);
    assert!(damage.is_empty(), "{damage:?}");
    assert_eq!(trailing, (b.len() - at) as u64);
}

//! Tests of every reader path over files built with `testutil::capture`.

use super::*;
use crate::error::Error;
use crate::testutil::capture::{PcapBuilder, PcapngBuilder};
use std::io::{self, Cursor, Read};
use std::path::PathBuf;

/// A buffer size that puts many block boundaries across refills.
const TINY: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    ts: i64,
    ts_raw: (u32, u32),
    orig_len: u32,
    data: Vec<u8>,
    iface: usize,
}

fn open_with(bytes: &[u8], size: usize) -> Result<CaptureReader, Error> {
    CaptureReader::with_buffer_size(
        Box::new(Cursor::new(bytes.to_vec())),
        PathBuf::from("t.cap"),
        size,
    )
}

fn open(bytes: &[u8]) -> CaptureReader {
    open_with(bytes, DEFAULT_BUFFER_SIZE).unwrap()
}

/// Reads all records; the error, if any, ends the list.
fn read_all(r: &mut CaptureReader) -> (Vec<Got>, Option<Error>) {
    let mut v = Vec::new();
    loop {
        match r.next_with_interface() {
            Ok(Some((rec, iface))) => {
                // Interface::timestamp agrees with the reader.
                assert_eq!(iface.timestamp(rec.ts_raw), rec.ts);
                v.push(Got {
                    ts: rec.ts.as_nanos(),
                    ts_raw: rec.ts_raw,
                    orig_len: rec.orig_len,
                    data: rec.data.to_vec(),
                    iface: rec.iface,
                })
            }
            Ok(None) => return (v, None),
            Err(e) => return (v, Some(e)),
        }
    }
}

/// Reads `bytes` with several buffer sizes and a one-byte-at-a-time source; all must agree.
fn read_every_way(bytes: &[u8]) -> Vec<Got> {
    let mut r = open(bytes);
    let (want, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(r.trailing_bytes(), 0);
    for size in [TINY, 100, 4096] {
        let mut r = open_with(bytes, size).unwrap();
        let (got, err) = read_all(&mut r);
        assert!(err.is_none(), "size {size}: {err:?}");
        assert_eq!(got, want, "buffer size {size}");
        assert_eq!(r.offset(), bytes.len() as u64);
    }
    let mut r = CaptureReader::from_read(
        Box::new(Trickle(Cursor::new(bytes.to_vec()))),
        "trickle".into(),
    )
    .unwrap();
    let (got, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, want, "one byte per read");
    want
}

/// A source that returns one byte per `read` call, with an `Interrupted` before each.
struct Trickle<R>(R);

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        thread_local!(static FLIP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        if FLIP.with(|f| f.replace(!f.get())) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

/// A source that fails after `ok` bytes.
struct FailAfter(Cursor<Vec<u8>>, usize);

impl Read for FailAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.0.position() as usize;
        if pos >= self.1 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.1 - pos);
        self.0.read(&mut buf[..n])
    }
}

fn format_err(e: Option<Error>) -> (u64, String) {
    match e {
        Some(Error::Format { offset, reason, .. }) => (offset, reason),
        other => panic!("expected a format error, got {other:?}"),
    }
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn sniffs_magics() {
    let p = |nanos, big_endian, modified| {
        Some(SniffedFormat::Pcap {
            nanos,
            big_endian,
            modified,
        })
    };
    assert_eq!(
        sniff_format(&[0xd4, 0xc3, 0xb2, 0xa1]),
        p(false, false, false)
    );
    assert_eq!(
        sniff_format(&[0xa1, 0xb2, 0xc3, 0xd4, 0]),
        p(false, true, false)
    );
    assert_eq!(
        sniff_format(&[0x4d, 0x3c, 0xb2, 0xa1]),
        p(true, false, false)
    );
    assert_eq!(
        sniff_format(&[0xa1, 0xb2, 0x3c, 0x4d]),
        p(true, true, false)
    );
    assert_eq!(
        sniff_format(&[0x34, 0xcd, 0xb2, 0xa1]),
        p(false, false, true)
    );
    assert_eq!(
        sniff_format(&[0x0a, 0x0d, 0x0d, 0x0a]),
        Some(SniffedFormat::Pcapng)
    );
    assert_eq!(sniff_format(&[0x0a, 0x0d, 0x0d]), None);
    assert_eq!(sniff_format(b"GET / HTTP/1.1"), None);
    assert_eq!(sniff_format(&[]), None);
    assert_eq!(
        p(true, true, false).unwrap().format(),
        Format::Pcap {
            nanos: true,
            big_endian: true
        }
    );
    assert_eq!(SniffedFormat::Pcapng.format(), Format::Pcapng);
}

#[test]
fn pcap_us_ns_both_byte_orders() {
    for nanos in [false, true] {
        for big_endian in [false, true] {
            let frac = if nanos { 123_456_789 } else { 123_456 };
            let bytes = PcapBuilder::new(113, nanos, big_endian)
                .snaplen(9000)
                .packet((1_700_000_000, frac), &payload(60, 1))
                .packet((1_700_000_001, 0), &payload(1, 2))
                .orig_len(1514)
                .packet((0, 0), &[])
                .bytes();
            let got = read_every_way(&bytes);
            let frac_ns = if nanos {
                frac as i64
            } else {
                frac as i64 * 1000
            };
            assert_eq!(
                got,
                vec![
                    Got {
                        ts: 1_700_000_000_000_000_000 + frac_ns,
                        ts_raw: (1_700_000_000, frac),
                        orig_len: 60,
                        data: payload(60, 1),
                        iface: 0
                    },
                    Got {
                        ts: 1_700_000_001_000_000_000,
                        ts_raw: (1_700_000_001, 0),
                        orig_len: 1514,
                        data: payload(1, 2),
                        iface: 0
                    },
                    Got {
                        ts: 0,
                        ts_raw: (0, 0),
                        orig_len: 0,
                        data: vec![],
                        iface: 0
                    },
                ],
                "nanos {nanos} big_endian {big_endian}"
            );
            let r = open(&bytes);
            let fmt = Format::Pcap { nanos, big_endian };
            assert_eq!(r.format(), fmt);
            assert_eq!(
                r.interfaces(),
                &[Interface {
                    format: fmt,
                    linktype: 113,
                    snaplen: 9000,
                    units_per_sec: if nanos { 1_000_000_000 } else { 1_000_000 },
                    tsresol: if nanos { 9 } else { 6 },
                    tsoffset: 0,
                    fcs_bits: None,
                }]
            );
            assert_eq!(r.offset(), 24);
            assert_eq!(r.path(), std::path::Path::new("t.cap"));
        }
    }
}

#[test]
fn modified_pcap() {
    // Kuznetsov's format: magic a1b2cd34 (LE), 24-byte record headers.
    let mut b = crate::testutil::capture::modified_pcap_header(1);
    for (i, len) in [(0u32, 5u32), (1, 0), (2, 64)] {
        for v in [100 + i, 7, len, len + 10, 3] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0x08, 0x00, 0x04, 0x00]); // protocol, pkt_type, pad
        b.extend_from_slice(&payload(len as usize, i as u8));
    }
    let got = read_every_way(&b);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].ts, 102_000_007_000);
    assert_eq!(got[2].data, payload(64, 2));
    assert_eq!(got[2].orig_len, 74);
    assert_eq!(
        open(&b).format(),
        Format::Pcap {
            nanos: false,
            big_endian: false
        }
    );
}

#[test]
fn pcapng_both_byte_orders() {
    for be in [false, true] {
        let mut ng = PcapngBuilder::new();
        ng.section(be);
        let i = ng.interface(1, 65535, None, None);
        ng.epb(i, 1_700_000_000_123_456, &payload(61, 3), 1500)
            .epb(i, 1_700_000_000_123_457, &payload(64, 4), 64)
            .epb(i, u64::MAX, &[], 0);
        let got = read_every_way(&ng.bytes());
        assert_eq!(got.len(), 3, "be {be}");
        assert_eq!(got[0].ts, 1_700_000_000_123_456_000);
        let raw = 1_700_000_000_123_456u64;
        assert_eq!(got[0].ts_raw, ((raw >> 32) as u32, raw as u32));
        assert_eq!(got[0].data, payload(61, 3), "padding is not data");
        assert_eq!(got[0].orig_len, 1500);
        assert_eq!(got[1].data, payload(64, 4));
        assert_eq!(got[2].ts, i64::MAX, "saturated");
        let r = open(&ng.bytes());
        assert_eq!(r.format(), Format::Pcapng);
        assert_eq!(
            r.interfaces(),
            &[Interface {
                format: Format::Pcapng,
                linktype: 1,
                snaplen: 65535,
                units_per_sec: 1_000_000,
                tsresol: 6,
                tsoffset: 0,
                fcs_bits: None,
            }]
        );
    }
}

#[test]
fn interfaces_resolutions_and_offsets() {
    for be in [false, true] {
        let mut ng = PcapngBuilder::new();
        ng.section(be);
        let us = ng.interface(1, 65535, Some(6), None);
        let ns = ng.interface(113, 262144, Some(9), Some(0));
        let ms = ng.interface(101, 0, Some(3), Some(1_700_000_000));
        let bin = ng.interface(228, 1500, Some(0x80 | 20), Some(-10));
        ng.epb(us, 1_700_000_000_000_001, &[1], 1)
            .epb(ns, 1_700_000_000_000_000_001, &[2], 1)
            .epb(ms, 1_234, &[3], 1)
            // 1_700_000_010.5 s in 2^-20 units, minus 10 s offset.
            .epb(bin, (1_700_000_010u64 << 20) | (1 << 19), &[4], 1)
            .epb(bin, 1, &[5], 1);
        let got = read_every_way(&ng.bytes());
        let ts: Vec<i64> = got.iter().map(|g| g.ts).collect();
        assert_eq!(
            ts,
            vec![
                1_700_000_000_000_001_000,
                1_700_000_000_000_000_001,
                1_700_000_001_234_000_000,
                1_700_000_000_500_000_000,
                -10_000_000_000 + 953,
            ],
            "be {be}"
        );
        assert_eq!(
            got.iter().map(|g| g.iface).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 3]
        );
        let r = {
            let mut r = open(&ng.bytes());
            read_all(&mut r);
            r
        };
        let ifs = r.interfaces();
        assert_eq!(
            ifs.iter().map(|i| i.linktype).collect::<Vec<_>>(),
            vec![1, 113, 101, 228]
        );
        assert_eq!(
            ifs.iter().map(|i| i.units_per_sec).collect::<Vec<_>>(),
            vec![1_000_000, 1_000_000_000, 1000, 1 << 20]
        );
        assert_eq!(
            ifs.iter().map(|i| i.tsresol).collect::<Vec<_>>(),
            vec![6, 9, 3, 0x94]
        );
        assert_eq!(
            ifs.iter().map(|i| i.tsoffset).collect::<Vec<_>>(),
            vec![0, 0, 1_700_000_000, -10]
        );
        assert_eq!(ifs[1].snaplen, 262144);
    }
}

#[test]
fn multiple_sections_remap_interfaces() {
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let a = ng.interface(1, 65535, None, None);
    let b = ng.interface(101, 65535, Some(9), None);
    ng.epb(b, 5, &[1], 1).epb(a, 6, &[2], 2);
    ng.section(true);
    let c = ng.interface(113, 65535, Some(3), None);
    assert_eq!(c, 0);
    ng.epb(c, 7, &[3], 3);
    ng.section(false);
    let d = ng.interface(1, 65535, None, Some(1));
    ng.pb(d as u16, 8, &[4], 4);
    let got = read_every_way(&ng.bytes());
    let summary: Vec<(usize, i64, u8)> = got.iter().map(|g| (g.iface, g.ts, g.data[0])).collect();
    assert_eq!(
        summary,
        vec![
            (1, 5, 1),
            (0, 6_000, 2),
            (2, 7_000_000, 3),
            (3, 1_000_008_000, 4)
        ]
    );
    let mut r = open(&ng.bytes());
    read_all(&mut r);
    assert_eq!(
        r.interfaces()
            .iter()
            .map(|i| i.linktype)
            .collect::<Vec<_>>(),
        vec![1, 101, 113, 1]
    );

    // Interface 1 of the first section does not exist in the second.
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    ng.interface(1, 0, None, None);
    ng.interface(1, 0, None, None);
    ng.section(false);
    ng.interface(1, 0, None, None);
    let at = ng.bytes().len() as u64;
    ng.epb(1, 0, &[1], 1);
    let mut r = open(&ng.bytes());
    let (got, err) = read_all(&mut r);
    assert!(got.is_empty());
    let (off, why) = format_err(err);
    assert_eq!(off, at);
    assert!(why.contains("interface 1"), "{why}");
    assert!(r.next_record().unwrap().is_none(), "fused after an error");
}

#[test]
fn packet_block_spb_and_other_blocks() {
    let mut ng = PcapngBuilder::new();
    ng.section(true);
    let i = ng.interface(1, 65535, None, None);
    ng.block(4, &[0, 0, 0, 0]) // NRB with only opt_endofrecord
        .spb(&payload(60, 9))
        .pb(i as u16, 1_000_000, &payload(7, 5), 70)
        .block(5, &[0u8; 12]) // ISB: iface 0, ts 0, no options
        .block(0x0000_0BAD, &[1, 2, 3, 4, 5]) // custom block
        .block(0x1234_5678, &[]) // unknown type
        .spb(&[])
        .epb_with_options(
            i,
            2_000_000,
            &payload(3, 6),
            3,
            &[(2, &[1, 0, 0, 0]), (1, b"hello")],
        )
        .spb(&[1]);
    let got = read_every_way(&ng.bytes());
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].ts, 1_000_000_000);
    assert_eq!(got[0].data, payload(7, 5));
    assert_eq!(got[0].orig_len, 70);
    assert_eq!(got[1].ts, 2_000_000_000);
    assert_eq!(got[1].data, payload(3, 6));
    let mut r = open(&ng.bytes());
    read_all(&mut r);
    assert_eq!(r.spb_skipped(), 3);
}

#[test]
fn empty_short_and_header_only_files() {
    let e = open_with(&[], 4096).unwrap_err();
    assert!(
        matches!(&e, Error::Format { offset: 0, reason, .. } if reason == "empty file"),
        "{e}"
    );
    assert_eq!(e.kind(), crate::ErrorKind::Format);
    let e = open_with(&[0xd4, 0xc3], 4096).unwrap_err();
    assert!(e.to_string().contains("only 2 bytes"), "{e}");
    let e = open_with(b"this is not a capture", 4096).unwrap_err();
    assert!(e.to_string().contains("not a pcap or pcapng"), "{e}");
    // Big-endian modified pcap is not something pcap-parser reads.
    let e = open_with(&[0xa1, 0xb2, 0xcd, 0x34, 0, 0], 4096).unwrap_err();
    assert!(e.to_string().contains("not a pcap"), "{e}");

    let pcap = PcapBuilder::new(1, false, false).bytes();
    let mut r = open(&pcap);
    assert!(r.next_record().unwrap().is_none());
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.interfaces().len(), 1);
    assert_eq!(r.trailing_bytes(), 0);
    let e = open_with(&pcap[..10], 4096).unwrap_err();
    assert!(e.to_string().contains("cut short"), "{e}");

    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let shb = ng.bytes();
    let mut r = open(&shb);
    assert!(r.next_record().unwrap().is_none());
    assert!(r.interfaces().is_empty());
    for cut in [4, 11, 12, shb.len() - 1] {
        let e = open_with(&shb[..cut], 4096).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{cut}: {e}");
    }
    ng.interface(1, 0, None, None);
    let mut r = open(&ng.bytes());
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.interfaces().len(), 1);
}

/// A file cut anywhere after its header yields the complete records before the cut and a clean
/// end, as a capture that is still being written must.
#[test]
fn truncated_final_record_is_a_clean_end() {
    let pcap = PcapBuilder::new(1, true, true)
        .packet((1, 1), &payload(50, 1))
        .packet((2, 2), &payload(51, 2))
        .packet((3, 3), &payload(52, 3))
        .bytes();
    let mut ng = PcapngBuilder::new();
    ng.section(true);
    let i = ng.interface(1, 0, None, None);
    ng.epb(i, 1, &payload(50, 1), 50);
    ng.spb(&[1, 2, 3]);
    ng.section(false);
    let i = ng.interface(1, 0, Some(9), None);
    ng.epb(i, 2, &payload(51, 2), 51)
        .pb(i as u16, 3, &payload(52, 3), 52);
    let header = |bytes: &[u8]| if bytes[0] == 0x0a { 28 } else { 24 };
    for full in [pcap, ng.bytes()] {
        let all = read_every_way(&full);
        for cut in header(&full)..full.len() {
            for size in [TINY, DEFAULT_BUFFER_SIZE] {
                let bytes = &full[..cut];
                let mut r = open_with(bytes, size).unwrap();
                let (got, err) = read_all(&mut r);
                assert!(err.is_none(), "cut {cut}: {err:?}");
                assert!(all.starts_with(&got), "cut {cut}");
                assert_eq!(
                    r.offset() + r.trailing_bytes(),
                    cut as u64,
                    "cut {cut}: offset + trailing = file length"
                );
            }
        }
    }
}

#[test]
fn corrupt_lengths_are_errors_with_offsets() {
    // pcapng: a good EPB, then a block whose length is corrupt in several ways.
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let i = ng.interface(1, 0, None, None);
    ng.epb(i, 1, &[1; 8], 8);
    let at = ng.bytes().len();
    ng.epb(i, 2, &[2; 8], 8).epb(i, 3, &[3; 8], 8);
    let good = ng.bytes();
    let epb_len = 40usize;
    let set_u32 =
        |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    // (offset of the u32 to overwrite, value, expected words in the reason)
    let cases = [
        (at + 4, 42, "multiple of 4"),
        (at + 4, 8, "below its minimum"),
        (at + 4, 28, "below its minimum"),
        (at + 4, 0xffff_fff0, "exceeds the limit"),
        (at + 4, 44, "trailing length"),
        (at + epb_len - 4, 36, "trailing length"),
        (at + 20, 9, "does not fit"),
        (at + 20, u32::MAX, "does not fit"),
        (at + 8, 7, "interface 7"),
    ];
    for &(off, value, why) in &cases {
        let mut b = good.clone();
        set_u32(&mut b, off, value);
        for size in [TINY, DEFAULT_BUFFER_SIZE] {
            let mut r = open_with(&b, size).unwrap();
            let (got, err) = read_all(&mut r);
            assert_eq!(got.len(), 1, "{why}");
            let (off, reason) = format_err(err);
            assert_eq!(off, at as u64, "{why}: {reason}");
            assert!(reason.contains(why), "{why}: {reason}");
            let msg = Error::Format {
                path: "t.cap".into(),
                offset: off,
                reason,
            }
            .to_string();
            assert!(msg.contains(&format!("byte {at}")), "{msg}");
        }
    }
    // A corrupt length in the last block is still an error, not a truncation.
    let mut b = good.clone();
    let last = b.len() - epb_len;
    set_u32(&mut b, last + 4, 0x7fff_fff0);
    let (got, err) = read_all(&mut open(&b));
    assert_eq!(got.len(), 2);
    assert_eq!(format_err(err).0, last as u64);

    // Bad byte-order magic in a second section; unsupported version.
    let mut b = good.clone();
    b.extend_from_slice(&good[..28]);
    b[good.len() + 8] = 0x99;
    let (got, err) = read_all(&mut open(&b));
    assert_eq!(got.len(), 3);
    assert!(format_err(err).1.contains("byte-order magic"));
    let mut b = good.clone();
    b[12] = 2;
    let e = open_with(&b, 4096).unwrap_err();
    assert!(e.to_string().contains("version 2.0"), "{e}");

    // An if_tsresol the reader cannot express.
    let mut ng = PcapngBuilder::new();
    ng.interface(1, 0, Some(20), None);
    let e = open_with(&ng.bytes(), 4096).unwrap_err();
    assert!(e.to_string().contains("if_tsresol 0x14"), "{e}");
    // ... also when it comes after packets (in a later IDB).
    let mut ng = PcapngBuilder::new();
    let i = ng.interface(1, 0, None, None);
    ng.epb(i, 1, &[1], 1);
    ng.interface(1, 0, Some(0x80 | 64), None);
    let (got, err) = read_all(&mut open(&ng.bytes()));
    assert_eq!(got.len(), 1);
    assert!(format_err(err).1.contains("if_tsresol 0xc0"));

    // Legacy pcap: a captured length over max(snaplen, 256 KiB).
    let pcap = PcapBuilder::new(1, false, true)
        .packet((1, 0), &[1; 4])
        .packet((2, 0), &[2; 4])
        .bytes();
    let mut b = pcap.clone();
    b[24 + 20 + 8..24 + 20 + 12].copy_from_slice(&262_145u32.to_be_bytes());
    let (got, err) = read_all(&mut open(&b));
    assert_eq!(got.len(), 1);
    let (off, why) = format_err(err);
    assert_eq!(off, 44);
    assert!(why.contains("262145"), "{why}");
}

#[test]
fn records_across_buffer_refills() {
    // Over two default buffers of records of varied sizes, in both formats.
    let mut pb = PcapBuilder::new(1, false, false);
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let i = ng.interface(1, 0, Some(9), None);
    let mut total = 0;
    let mut n = 0u32;
    while total < 2 * DEFAULT_BUFFER_SIZE + 1000 {
        let len = (n as usize * 37) % 1600;
        let d = payload(len, n as u8);
        pb.packet((n, n), &d);
        ng.epb(i, u64::from(n), &d, len as u32);
        total += len + 16;
        n += 1;
    }
    for bytes in [pb.bytes(), ng.bytes()] {
        let got = read_every_way(&bytes);
        assert_eq!(got.len(), n as usize);
        for (k, g) in got.iter().enumerate() {
            assert_eq!(g.data, payload((k * 37) % 1600, k as u8), "record {k}");
        }
    }
}

#[test]
fn records_larger_than_the_buffer() {
    let big = payload(DEFAULT_BUFFER_SIZE * 3 + 5, 7);
    let pcap = PcapBuilder::new(1, false, false)
        .snaplen(16 << 20)
        .packet((1, 0), &[1; 10])
        .packet((2, 0), &big)
        .packet((3, 0), &[3; 10])
        .bytes();
    let mut ng = PcapngBuilder::new();
    ng.section(true);
    let i = ng.interface(1, 0, None, None);
    ng.epb(i, 1, &[1; 10], 10)
        .epb(i, 2, &big, big.len() as u32)
        .epb(i, 3, &[3; 10], 10);
    for bytes in [pcap, ng.bytes()] {
        let got = read_every_way(&bytes);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].data, big);
        assert_eq!(got[2].data, vec![3; 10]);
        // The buffer grew for the big record and went back to its size afterwards.
        let mut r = open(&bytes);
        r.next_record().unwrap();
        r.next_record().unwrap();
        assert!(r.buffer_len() > big.len());
        read_all(&mut r);
        assert_eq!(r.buffer_len(), DEFAULT_BUFFER_SIZE);
    }
}

#[test]
fn io_errors_name_the_path() {
    let bytes = PcapBuilder::new(1, false, false)
        .packet((1, 0), &[1; 100])
        .packet((2, 0), &[2; 100])
        .bytes();
    let src = FailAfter(Cursor::new(bytes), 24 + 116 + 50);
    let mut r = CaptureReader::with_buffer_size(Box::new(src), "/nsm/x.pcap".into(), 128).unwrap();
    assert!(r.next_record().unwrap().is_some());
    match r.next_record() {
        Err(Error::Io { path, source }) => {
            assert_eq!(path, PathBuf::from("/nsm/x.pcap"));
            assert!(source.to_string().contains("disk on fire"));
        }
        other => panic!("{other:?}"),
    }
    assert!(r.next_record().unwrap().is_none());

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pcap");
    match CaptureReader::open(&missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
    let p = dir.path().join("ok.pcap");
    PcapBuilder::new(1, false, false)
        .packet((5, 6), &[1, 2, 3])
        .write(&p)
        .unwrap();
    let mut r = CaptureReader::open(&p).unwrap();
    assert_eq!(r.next_record().unwrap().unwrap().data, &[1, 2, 3]);
    assert_eq!(r.path(), p);
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let e = CaptureReader::open(&empty).unwrap_err();
    assert!(e.to_string().contains("empty file"), "{e}");
}

/// Random byte flips must give records or errors, never a panic or an endless loop.
#[test]
fn mutated_files_never_panic() {
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let i = ng.interface(1, 0, Some(0x80 | 10), Some(5));
    for k in 0..20u8 {
        ng.epb(i, u64::from(k), &payload(k as usize * 3, k), 99);
        if k % 5 == 0 {
            ng.spb(&[k]);
            ng.pb(i as u16, 1, &[k; 3], 3);
        }
    }
    ng.section(true);
    let j = ng.interface(101, 0, Some(3), None);
    ng.epb(j, 1, &[1, 2, 3], 3);
    let pcap = PcapBuilder::new(1, true, false)
        .packet((1, 2), &[1; 30])
        .packet((1, 3), &[2; 30])
        .bytes();
    let mut rng = crate::testutil::rng::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut next = move || rng.next_u64();
    for base in [ng.bytes(), pcap] {
        for _ in 0..10_000 {
            let mut b = base.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % b.len() as u64) as usize;
                b[at] = next() as u8;
            }
            if next() % 4 == 0 {
                b.truncate((next() % b.len() as u64) as usize);
            }
            if let Ok(mut r) = open_with(&b, TINY) {
                let mut n = 0;
                while let Ok(Some(_)) = r.next_record() {
                    n += 1;
                    assert!(n < 10_000);
                }
            }
        }
    }
}

#[test]
fn reader_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<CaptureReader>();
}

/// The upper bits of a legacy pcap header's link-type field are not the link type: a field of
/// `0x30000001` is Ethernet (libpcap masks it so), and with the FCS-present flag they give the
/// FCS length in 16-bit words. Both byte orders.
#[test]
fn pcap_linktype_field_upper_bits_are_masked() {
    for be in [false, true] {
        // (field read, link type, FCS bits, the field capme writes back)
        for (field, linktype, fcs, out) in [
            (0x3000_0001u32, 1, None, 1),
            (0x2400_0001, 1, Some(32), 0x2400_0001),
            (0x0400_0001, 1, Some(0), 0x0400_0001),
            (0x03FF_0071, 113, None, 113),
            (105, 105, None, 105),
        ] {
            let bytes = PcapBuilder::new(field, false, be)
                .packet((1, 0), &[1; 20])
                .bytes();
            let r = open(&bytes);
            let i = &r.interfaces()[0];
            assert_eq!((i.linktype, i.fcs_bits), (linktype, fcs), "{field:#x}");
            assert_eq!(i.pcap_linktype_field(), Some(out), "{field:#x}");
        }
    }
}

/// pcapng: `if_fcslen` (option 13, bits) of an IDB, in either byte order.
#[test]
fn pcapng_if_fcslen() {
    for be in [false, true] {
        let mut ng = PcapngBuilder::new();
        ng.section(be);
        let with = ng.interface_with_options(1, 65535, None, None, &[(13, &[32])]);
        let without = ng.interface(1, 65535, None, None);
        let odd = ng.interface_with_options(1, 65535, None, None, &[(13, &[8])]);
        ng.epb(with, 1, &[1; 4], 4)
            .epb(without, 1, &[2; 4], 4)
            .epb(odd, 1, &[3; 4], 4);
        let r = open(&ng.bytes());
        let fcs: Vec<_> = r.interfaces().iter().map(|i| i.fcs_bits).collect();
        assert_eq!(fcs, [Some(32), None, Some(8)], "be {be}");
        let fields: Vec<_> = r
            .interfaces()
            .iter()
            .map(|i| i.pcap_linktype_field())
            .collect();
        assert_eq!(fields, [Some(0x2400_0001), Some(1), None]);
    }
}

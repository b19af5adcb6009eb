use super::*;
use crate::capture::{Format, Interface};
use crate::testutil::packet::{PacketBuilder, TcpFlags};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn packet(ms: i64, data: Vec<u8>) -> Packet {
    Packet {
        ts: Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000),
        ts_raw: (0, 0),
        orig_len: data.len() as u32,
        data: Bytes::from(data),
        iface: Arc::new(Interface {
            format: Format::Pcap {
                nanos: false,
                big_endian: false,
            },
            linktype: 1,
            snaplen: 65535,
            units_per_sec: 1_000_000,
            tsresol: 6,
            tsoffset: 0,
            fcs_bits: None,
        }),
        sensor: Arc::from("sensor1-eth1"),
        file: Arc::from(Path::new("snort.log.1700000000")),
    }
}

/// A TCP segment from the client (`fwd`) or the server.
fn tcp(ms: i64, fwd: bool, seq: u32, flags: TcpFlags, data: &[u8]) -> Packet {
    let (a, b, ap, bp) = if fwd {
        (C, S, 51000, 80)
    } else {
        (S, C, 80, 51000)
    };
    let f = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(a, b)
        .tcp(ap, bp)
        .seq(seq)
        .ack(1)
        .flags(flags)
        .payload(data)
        .build();
    packet(ms, f)
}

fn run(opts: &TranscriptOptions, packets: &[Packet]) -> Transcript {
    let mut b = TranscriptBuilder::new(opts);
    for p in packets {
        if !b.push(p) {
            break;
        }
    }
    b.build()
}

fn http_flow() -> Vec<Packet> {
    let a = TcpFlags::ACK;
    let req = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";
    vec![
        tcp(0, true, 1000, TcpFlags::SYN, &[]),
        tcp(1, false, 5000, TcpFlags::SYN | a, &[]),
        tcp(2, true, 1001, a, &[]),
        tcp(3, true, 1001, a | TcpFlags::PSH, req),
        tcp(4, false, 5001, a | TcpFlags::PSH, resp),
        tcp(5, true, 1001 + req.len() as u32, a | TcpFlags::FIN, &[]),
    ]
}

#[test]
fn plain_capme_and_json_styles_of_an_http_flow() {
    let t = run(&TranscriptOptions::new(), &http_flow());
    assert_eq!(t.src, Some(Endpoint::new(C.into(), 51000)));
    assert_eq!(
        (t.packets, t.src_bytes, t.dst_bytes, t.truncated),
        (6, 47, 70, false)
    );
    assert!(
        t.text
            .starts_with("tcp 10.0.0.1:51000 > 10.0.0.2:80  sensor sensor1-eth1\n"),
        "{}",
        t.text
    );
    assert!(t.text.contains("\n--- src 10.0.0.1:51000 > 10.0.0.2:80  2023-11-14T22:13:20.003000000Z\nGET /index.html HTTP/1.1\nHost: example.com\n\n"), "{}", t.text);
    assert!(t.text.contains("\n--- dst 10.0.0.2:80 > 10.0.0.1:51000  2023-11-14T22:13:20.004000000Z\nHTTP/1.1 200 OK\n"), "{}", t.text);
    assert!(t.text.ends_with("\nhello\n"), "{}", t.text);

    let t = run(&TranscriptOptions::new().style(Style::Capme), &http_flow());
    let lines: Vec<&str> = t.text.lines().collect();
    assert_eq!(lines[0], "HDR: Sensor Name:\tsensor1-eth1");
    assert_eq!(lines[1], "HDR: Timestamp:\t2023-11-14 22:13:20");
    assert!(lines[2].starts_with("HDR: Connection ID:\t1:"));
    assert_eq!(
        &lines[3..7],
        [
            "HDR: Src IP:\t\t10.0.0.1",
            "HDR: Dst IP:\t\t10.0.0.2",
            "HDR: Src Port:\t\t51000",
            "HDR: Dst Port:\t\t80"
        ]
    );
    assert_eq!(
        lines[7], "HDR:  ",
        "the header block ends as cliscript.tcl printed it"
    );
    assert_eq!(lines[8], "SRC: GET /index.html HTTP/1.1");
    assert_eq!(lines[11], "DST: HTTP/1.1 200 OK");
    assert_eq!(lines.last(), Some(&"DST: hello"));

    let t = run(&TranscriptOptions::new().style(Style::Json), &http_flow());
    let lines: Vec<serde_json::Value> = t
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["direction", "offset", "payload", "ts"]);
    assert_eq!(lines[0]["direction"], "src");
    assert_eq!(lines[1]["direction"], "dst");
    assert_eq!(lines[1]["offset"], 0);
    assert_eq!(lines[0]["ts"], 1_700_000_000.003);
    assert_eq!(
        lines[0]["payload"],
        "R0VUIC9pbmRleC5odG1sIEhUVFAvMS4xDQpIb3N0OiBleGFtcGxlLmNvbQ0KDQo="
    );
    assert_eq!(t.segments.len(), 2);
}

#[test]
fn an_empty_flow_says_no_data_sent() {
    let p = &http_flow()[..3];
    let t = run(&TranscriptOptions::new().style(Style::Capme), p);
    assert!(t.text.ends_with("HDR: No Data Sent.\n"), "{}", t.text);
    let t = run(&TranscriptOptions::new(), p);
    assert!(t.text.ends_with("\nNo Data Sent.\n"), "{}", t.text);
    assert_eq!(
        run(&TranscriptOptions::new().style(Style::Json), p).text,
        ""
    );
}

#[test]
fn maxtx_cuts_with_a_trailing_notice_and_stops_the_search() {
    let opts = TranscriptOptions::new().maxtx(10).unwrap();
    let mut b = TranscriptBuilder::new(&opts);
    let flow = http_flow();
    let taken = flow.iter().take_while(|p| b.push(p)).count();
    assert_eq!(taken, 3, "the request's packet reaches the cap");
    let t = b.build();
    assert!(t.truncated && t.src_bytes == 10 && t.dst_bytes == 0);
    assert!(t.text.contains("\nGET /index\n"), "{}", t.text);
    assert!(
        t.text.ends_with(
            "[transcript truncated at maxtx = 10 bytes: the flow has more payload than shown]\n"
        ),
        "{}",
        t.text
    );
    assert!(TranscriptOptions::new().maxtx(0).is_err());
}

#[test]
fn the_syn_sender_is_src_even_when_the_syn_ack_comes_first() {
    let f = http_flow();
    // Capture starting at the SYN-ACK: its receiver is the source.
    let t = run(&TranscriptOptions::new(), &f[1..]);
    assert_eq!(t.src, Some(Endpoint::new(C.into(), 51000)));
    // Mid-stream, server speaking first: the first packet's sender is the source.
    let t = run(&TranscriptOptions::new(), &f[4..]);
    assert_eq!(t.src, Some(Endpoint::new(S.into(), 80)));
    assert!(
        t.notes
            .iter()
            .any(|n| n.starts_with("no SYN seen from src and dst")),
        "{:?}",
        t.notes
    );
}

#[test]
fn udp_datagrams_are_blocks_and_fragments_are_reassembled() {
    let big: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let q = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(C, S)
        .udp(5353, 53)
        .payload(b"question")
        .build();
    let frags = PacketBuilder::ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .ipv4(S, C)
        .id(9)
        .udp(53, 5353)
        .payload(&big)
        .fragments(3);
    let mut pkts = vec![packet(0, q)];
    // Written last, first, middle.
    for (k, i) in [2usize, 0, 1].into_iter().enumerate() {
        pkts.push(packet(1 + k as i64, frags[i].clone()));
    }
    let t = run(&TranscriptOptions::new().style(Style::Json), &pkts);
    assert_eq!(t.segments.len(), 2);
    assert_eq!(&t.segments[1].payload[..], &big[..]);
    assert_eq!(
        t.segments[1].ts, pkts[1].ts,
        "the datagram's first fragment seen"
    );
    let t = run(&TranscriptOptions::new(), &pkts);
    assert!(
        t.text.contains("\n--- src 10.0.0.1:5353 > 10.0.0.2:53  "),
        "{}",
        t.text
    );
    assert!(t.text.contains("\nquestion\n"), "{}", t.text);
    // A missing fragment: the datagram is left out, and said so.
    let t = run(&TranscriptOptions::new(), &pkts[..3]);
    assert_eq!(t.segments.len(), 1);
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("fragmented datagrams incomplete")),
        "{:?}",
        t.notes
    );
}

#[test]
fn gaps_are_marked_in_every_text_style() {
    let a = TcpFlags::ACK;
    let pkts = [
        tcp(0, true, 99, TcpFlags::SYN, &[]),
        tcp(1, true, 100, a, b"abc\n"),
        tcp(2, true, 110, a, b"xyz\n"),
        tcp(3, true, 114, a | TcpFlags::FIN, &[]),
    ];
    let t = run(&TranscriptOptions::new(), &pkts);
    assert!(
        t.text.contains("abc\n[6 bytes missing]\nxyz\n"),
        "{}",
        t.text
    );
    assert_eq!(t.missing_bytes, 6);
    let t = run(&TranscriptOptions::new().style(Style::Capme), &pkts);
    assert!(
        t.text
            .contains("SRC: abc\nSRC: [6 bytes missing]\nSRC: xyz\n"),
        "{}",
        t.text
    );
    let t = run(&TranscriptOptions::new().style(Style::Json), &pkts);
    assert_eq!(
        t.segments.iter().map(|s| s.offset).collect::<Vec<_>>(),
        [0, 10]
    );
}

#[test]
fn other_flows_and_protocols_are_left_out_and_noted() {
    let mut pkts = http_flow();
    let other = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(C, S)
        .udp(51000, 80)
        .payload(b"x")
        .build();
    pkts.insert(3, packet(3, other));
    pkts.insert(3, packet(3, vec![0u8; 10]));
    let t = run(&TranscriptOptions::new(), &pkts);
    assert_eq!(t.src_bytes, 47);
    assert!(
        t.notes
            .iter()
            .any(|n| n.starts_with("1 packets of another flow")),
        "{:?}",
        t.notes
    );
    assert!(
        t.notes
            .iter()
            .any(|n| n.starts_with("1 packets not decoded")),
        "{:?}",
        t.notes
    );
}

#[test]
fn random_packets_never_panic() {
    let mut rng = crate::testutil::rng::Rng::new(13);
    let base = http_flow();
    for round in 0..2000 {
        let mut b = TranscriptBuilder::new(&TranscriptOptions::new().style(if round % 2 == 0 {
            Style::Capme
        } else {
            Style::Plain
        }));
        for p in &base {
            let mut d = p.data.to_vec();
            for _ in 0..rng.below(4) {
                let at = rng.below(d.len() as u64) as usize;
                d[at] = rng.next_u64() as u8;
            }
            d.truncate(rng.below(d.len() as u64 + 1) as usize);
            b.push(&packet(0, d));
        }
        let _ = b.build();
    }
}

#[test]
fn random_streams_never_panic_the_reassembly_or_the_http_view() {
    let mut rng = crate::testutil::rng::Rng::new(99);
    let seeds: [&[u8]; 4] = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n5\r\n\x1f\x8b\x08\x00\x00\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\n\n",
        b"HTTP/1.0 200 OK\nContent-Encoding: deflate\n\n\x78\x9c\x00",
        b"HEAD / HTTP/1.1\r\n\r\n",
    ];
    for _ in 0..3000 {
        let mut v = seeds[rng.below(4) as usize].to_vec();
        for _ in 0..rng.below(6) {
            let at = rng.below(v.len() as u64) as usize;
            v[at] = rng.next_u64() as u8;
        }
        let mut h = http::HttpView::new(1 << 16);
        let mut m = http::Methods::new();
        let mut out = Vec::new();
        let mut rest = &v[..];
        while !rest.is_empty() {
            let n = (rng.below(rest.len() as u64) + 1) as usize;
            h.feed(&rest[..n], &mut m, &mut out);
            rest = &rest[n..];
            if rng.chance(1, 20) {
                h.gap(&mut out);
            }
        }
        h.finish(&mut out);
        let mut t = TcpStream::new();
        let mut got = Vec::new();
        for _ in 0..20 {
            let seq = if rng.chance(1, 2) {
                rng.next_u64() as u32
            } else {
                rng.below(3000) as u32
            };
            let len = rng.below(2000) as usize;
            t.segment(
                seq,
                rng.next_u64() as u8,
                &vec![1; len],
                Timestamp(0),
                &mut got,
            );
        }
        t.finish(&mut got);
    }
}

/// Frames with a trailing Ethernet FCS (4 bytes after the IP packet, as a capture with
/// `if_fcslen` 32 or the pcap FCS flag holds them) give the transcript of the same frames
/// without it: the IP length bounds every payload, the FCS is never data.
#[test]
fn a_trailing_fcs_is_not_payload() {
    const FCS: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
    let with_fcs = |p: &Packet| {
        let mut data = p.data.to_vec();
        data.extend_from_slice(&FCS);
        let mut q = p.clone();
        q.orig_len = data.len() as u32;
        q.data = Bytes::from(data);
        Arc::make_mut(&mut q.iface).fcs_bits = Some(32);
        q
    };
    let udp = |ms, fwd: bool, data: &[u8]| {
        let (a, b) = if fwd { (C, S) } else { (S, C) };
        let f = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(a, b)
            .udp(if fwd { 5353 } else { 53 }, if fwd { 53 } else { 5353 })
            .payload(data)
            .build();
        packet(ms, f)
    };
    for plain in [
        http_flow(),
        vec![udp(0, true, b"question"), udp(1, false, b"answer")],
    ] {
        let fcs: Vec<Packet> = plain.iter().map(with_fcs).collect();
        for style in [Style::Plain, Style::Json, Style::Capme] {
            let opts = TranscriptOptions::new().style(style);
            let (want, got) = (run(&opts, &plain), run(&opts, &fcs));
            assert_eq!(got.text, want.text, "{style:?}");
            assert_eq!(
                (got.src_bytes, got.dst_bytes, got.segments.len()),
                (want.src_bytes, want.dst_bytes, want.segments.len())
            );
            for s in &got.segments {
                assert!(!s.payload.ends_with(&FCS), "{style:?}: FCS in a payload");
            }
        }
    }
}

/// Captures of TCP segmentation offload have IPv4 total length 0, which bounds nothing: there
/// an FCS the interface declares (`fcs_bits`) is cut off before decoding, and one it does not
/// declare cannot be told from payload. A record cut by the snap length keeps its bytes.
#[test]
fn a_declared_fcs_is_cut_where_the_ip_length_bounds_nothing() {
    const FCS: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
    let tso = |declared: Option<u8>, cut: bool| {
        let mut p = tcp(1, true, 1001, TcpFlags::ACK | TcpFlags::PSH, b"data");
        let mut data = p.data.to_vec();
        data[16..18].copy_from_slice(&[0, 0]); // IPv4 total length 0
        data.extend_from_slice(&FCS);
        p.orig_len = data.len() as u32 + u32::from(cut);
        p.data = Bytes::from(data);
        Arc::make_mut(&mut p.iface).fcs_bits = declared;
        p
    };
    let json = TranscriptOptions::new().style(Style::Json);
    let payload = |p: Packet| {
        let t = run(&json, &[p]);
        t.segments.first().map(|s| s.payload.to_vec())
    };
    assert_eq!(payload(tso(Some(32), false)), Some(b"data".to_vec()));
    let undeclared = [&b"data"[..], &FCS].concat();
    assert_eq!(payload(tso(None, false)), Some(undeclared.clone()));
    assert_eq!(payload(tso(Some(32), true)), Some(undeclared));
}

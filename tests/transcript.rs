//! Transcripts end to end: generated TCP connections with reordering, retransmission,
//! overlaps, loss and sequence wraparound (capme-gen's `impaired` module, which also says
//! which bytes each side sent) through a store, the library and the `capme transcript`
//! command; an HTTP response that is gzip-compressed and chunked; and the reassembled streams
//! against tcpflow's, for sampled flows of the sample store and for generated flows.
//!
//! tcpflow comes from Debian's package (the README's test command installs it). Without it the
//! tcpflow comparison is skipped with a message, unless `CAPME_REQUIRE_TOOLS` is set (CI),
//! where a missing tool is a failure.

use capme_core::capture::CaptureReader;
use capme_core::flow::{FlowKey, Proto};
use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::packet::{PacketBuilder, TcpFlags};
use capme_core::transcript::{Direction, Style, Transcript, TranscriptOptions};
use capme_core::wire::{decode, decode_ip, network_layer, NetworkLayer, TcpHeader};
use capme_core::{FlowSpec, Query, Store, TimeWindow};
use capme_gen::impaired::{self, Impairments};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn capme(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capme"))
        .args(args)
        .output()
        .expect("run capme")
}

fn have(tool: &str) -> bool {
    // `tcpflow -V` prints its version but exits with 1: that it runs at all is the test.
    let ok = Command::new(tool).arg("-V").output().is_ok();
    if !ok {
        if std::env::var_os("CAPME_REQUIRE_TOOLS").is_some() {
            panic!("{tool} is required (CAPME_REQUIRE_TOOLS is set); install it: apt-get install {tool}");
        }
        eprintln!("skipping: {tool} not installed (./scripts/test-all.sh installs it)");
    }
    ok
}

/// Writes `packets` as one capture file of a store under `root` (Security Onion layout).
fn write_store(root: &Path, packets: &[(i64, Vec<u8>)]) {
    let first = packets[0].0 / 1_000_000_000;
    let dir = root.join("sensor1-eth1/dailylogs/2024-06-14");
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    for (ts, data) in packets {
        let (s, us) = (ts / 1_000_000_000, (ts % 1_000_000_000) / 1000);
        b.packet((s as u32, us as u32), data);
    }
    b.write(dir.join(format!("snort.log.{first}"))).unwrap();
}

fn window_of(packets: &[(i64, Vec<u8>)]) -> (String, String) {
    let s = packets[0].0 / 1_000_000_000;
    let e = packets.last().unwrap().0 / 1_000_000_000;
    (s.to_string(), e.to_string())
}

fn query(a: (IpAddr, u16), b: (IpAddr, u16), stime: &str, etime: &str) -> Query {
    let flow = FlowSpec::parse_tuple(
        &a.0.to_string(),
        Some(&a.1.to_string()),
        &b.0.to_string(),
        Some(&b.1.to_string()),
        Some("tcp"),
    )
    .unwrap();
    Query::new(flow, TimeWindow::parse(stime, etime).unwrap())
}

/// The gap marker of the text styles.
fn marker(len: u64) -> Vec<u8> {
    format!("[{len} bytes missing]").into_bytes()
}

/// Each direction's stream from a transcript's segments: offsets in order, a jump between
/// two segments shown as the gap marker.
fn streams(t: &Transcript) -> [Vec<u8>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    let mut at = [0u64; 2];
    for s in &t.segments {
        let i = usize::from(s.direction == Direction::Dst);
        assert!(s.offset >= at[i], "segments of a direction in offset order");
        if s.offset > at[i] {
            out[i].extend(marker(s.offset - at[i]));
        }
        out[i].extend_from_slice(&s.payload);
        at[i] = s.offset + s.payload.len() as u64;
    }
    out
}

fn combos() -> Vec<Impairments> {
    let none = Impairments::default();
    vec![
        Impairments::all(),
        Impairments {
            reorder: true,
            ..none
        },
        Impairments {
            retransmit: true,
            ..none
        },
        Impairments {
            overlap: true,
            conflict: true,
            ..none
        },
        Impairments { loss: true, ..none },
        Impairments { wrap: true, ..none },
        Impairments {
            wrap: true,
            reorder: true,
            loss: true,
            ..none
        },
        none,
    ]
}

#[test]
fn generated_flows_transcribe_to_the_bytes_each_side_sent() {
    for (seed, imp) in combos().into_iter().cycle().take(24).enumerate() {
        let flow = impaired::tcp(seed as u64, &imp);
        let tmp = tempfile::tempdir().unwrap();
        write_store(tmp.path(), &flow.packets);
        let (s, e) = window_of(&flow.packets);
        let store = Store::open([tmp.path()]).unwrap();
        let q = query(flow.client, flow.server, &s, &e);
        let opts = TranscriptOptions::new()
            .style(Style::Json)
            .maxtx(10_000_000)
            .unwrap();
        let t = store.transcript(&q, &opts).unwrap();
        let got = streams(&t);
        for side in [0, 1] {
            assert!(
                got[side] == flow.expected(side, marker),
                "seed {seed} {imp:?} side {side}: {} bytes, expected {}",
                got[side].len(),
                flow.expected(side, marker).len()
            );
        }
        let lost: u64 = flow.lost.iter().flatten().map(|l| l.1).sum();
        assert_eq!(t.missing_bytes, lost, "seed {seed} {imp:?}");
        assert_eq!(t.src.map(|e| (e.addr, e.port)), Some(flow.client));
        assert!(!t.truncated);
        // The text styles mark every gap.
        let plain = store
            .transcript(&q, &TranscriptOptions::new().maxtx(10_000_000).unwrap())
            .unwrap();
        for (_, len) in flow.lost.iter().flatten() {
            assert!(
                plain.text.contains(&format!("[{len} bytes missing]")),
                "seed {seed}"
            );
        }
    }
}

#[test]
fn the_command_writes_json_lines_with_exactly_the_four_keys() {
    let flow = impaired::tcp(3, &Impairments::all());
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    write_store(&store, &flow.packets);
    let (s, e) = window_of(&flow.packets);
    let (c, sv) = (flow.client, flow.server);
    let out = tmp.path().join("t.jsonl");
    let args = |o: &Path, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "transcript",
            "--store",
            store.to_str().unwrap(),
            "--sip",
            &sv.0.to_string(),
            "--spt",
            &sv.1.to_string(),
            "--dip",
            &c.0.to_string(),
            "--dpt",
            &c.1.to_string(),
            "--proto",
            "tcp",
            "--stime",
            &s,
            "--etime",
            &e,
            "--style",
            "json",
            "--maxtx",
            "9000000",
            "-o",
            o.to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .collect();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let run = |v: Vec<String>| capme(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let r = run(args(&out, &[]));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut segs: [BTreeMap<u64, Vec<u8>>; 2] = [BTreeMap::new(), BTreeMap::new()];
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(
            o.keys().collect::<Vec<_>>(),
            ["direction", "offset", "payload", "ts"]
        );
        use base64::Engine;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(o["payload"].as_str().unwrap())
            .unwrap();
        let side = match o["direction"].as_str().unwrap() {
            "src" => 0,
            "dst" => 1,
            d => panic!("direction {d}"),
        };
        assert!(o["ts"].as_f64().unwrap() > 1.7e9);
        segs[side].insert(o["offset"].as_u64().unwrap(), payload);
    }
    // SRC is the client (it sent the SYN), although the query named the server first.
    for side in [0, 1] {
        let mut got = Vec::new();
        for (off, p) in &segs[side] {
            let have: usize = got.len();
            let missing: u64 = flow.lost[side]
                .iter()
                .filter(|l| l.0 < *off)
                .map(|l| l.1)
                .sum();
            assert_eq!(have as u64 + missing, *off);
            got.extend_from_slice(p);
        }
        assert_eq!(got, flow.expected(side, |_| Vec::new()), "side {side}");
    }
    // An existing file is replaced only with --force.
    let r = run(args(&out, &[]));
    assert_eq!(
        r.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("already exists"));
    assert!(run(args(&out, &["--force"])).status.success());
    // Inside the store: refused even with --force.
    let inside = store.join("t.txt");
    let r = run(args(&inside, &["--force"]));
    assert_eq!(r.status.code(), Some(2));
    assert!(!inside.exists());
    // Invalid values name their field.
    let mut v = args(&tmp.path().join("x"), &[]);
    let i = v.iter().position(|a| a == "json").unwrap();
    v[i] = "html".into();
    let r = run(v);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("style"));
    let mut v = args(&tmp.path().join("x"), &[]);
    let i = v.iter().position(|a| a == "9000000").unwrap();
    v[i] = "0".into();
    let r = run(v);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("maxtx"));
    // No packet: exit 1, a message, and no file.
    let mut v = args(&tmp.path().join("none.txt"), &[]);
    let i = v.iter().position(|a| *a == sv.1.to_string()).unwrap();
    v[i] = "1".into();
    let r = run(v);
    assert_eq!(r.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&r.stderr).is_empty());
    assert!(!tmp.path().join("none.txt").exists());
    // maxtx: cut, with the notice on stderr for json and in the text otherwise.
    let mut v = args(&tmp.path().join("cut.jsonl"), &[]);
    let i = v.iter().position(|a| a == "9000000").unwrap();
    v[i] = "1000".into();
    let r = run(v);
    assert!(String::from_utf8_lossy(&r.stderr).contains("truncated at maxtx = 1000 bytes"));
    let cut = std::fs::read_to_string(tmp.path().join("cut.jsonl")).unwrap();
    let total: usize = cut
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(v["payload"].as_str().unwrap())
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(total, 1000);
    let r = capme(&[
        "transcript",
        "--store",
        store.to_str().unwrap(),
        "--sip",
        &c.0.to_string(),
        "--spt",
        &c.1.to_string(),
        "--dip",
        &sv.0.to_string(),
        "--dpt",
        &sv.1.to_string(),
        "--stime",
        &s,
        "--etime",
        &e,
        "--style",
        "capme",
        "--maxtx",
        "1000",
    ]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.starts_with("HDR: Sensor Name:\tsensor1-eth1\n"),
        "{text}"
    );
    assert!(text.ends_with("HDR: [transcript truncated at maxtx = 1000 bytes: the flow has more payload than shown]\n"), "{text}");
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_gzip_and_chunked_http_response_is_decoded() {
    let html =
        b"<!doctype html><title>capme</title><p>the decoded body of a chunked gzip response</p>\n"
            .repeat(50);
    let z = gzip(&html);
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in z.chunks(37) {
        resp.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        resp.extend_from_slice(c);
        resp.extend_from_slice(b"\r\n");
    }
    resp.extend_from_slice(b"0\r\n\r\n");
    let png =
        b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 8\r\n\r\n\x89PNG\r\n\x1a\n";
    resp.extend_from_slice(png);
    let req = b"GET / HTTP/1.1\r\nHost: capme.example\r\nAccept-Encoding: gzip\r\n\r\nGET /logo.png HTTP/1.1\r\nHost: capme.example\r\n\r\n";
    let (c, s) = ([10, 9, 0, 1], [10, 9, 0, 2]);
    let seg = |ts: i64, fwd: bool, seq: u32, flags: TcpFlags, data: &[u8]| {
        let (a, b, ap, bp) = if fwd {
            (c, s, 45000, 80)
        } else {
            (s, c, 80, 45000)
        };
        let f = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(a.into(), b.into())
            .tcp(ap, bp)
            .seq(seq)
            .ack(1)
            .flags(flags)
            .payload(data)
            .build();
        (1_718_400_000_000_000_000 + ts * 1_000_000, f)
    };
    let ack = TcpFlags::ACK;
    let mut pkts = vec![
        seg(0, true, 99, TcpFlags::SYN, &[]),
        seg(1, false, 4999, TcpFlags::SYN | ack, &[]),
        seg(2, true, 100, ack, req),
    ];
    // The response in 100-byte segments, each pair swapped.
    let chunks: Vec<&[u8]> = resp.chunks(100).collect();
    let mut order: Vec<usize> = (0..chunks.len()).collect();
    for p in order.chunks_mut(2) {
        p.reverse();
    }
    for (k, &i) in order.iter().enumerate() {
        pkts.push(seg(
            3 + k as i64,
            false,
            5000 + 100 * i as u32,
            ack,
            chunks[i],
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    write_store(tmp.path(), &pkts);
    let r = capme(&[
        "transcript",
        "--store",
        tmp.path().to_str().unwrap(),
        "--sip",
        "10.9.0.1",
        "--spt",
        "45000",
        "--dip",
        "10.9.0.2",
        "--dpt",
        "80",
        "--stime",
        "1718400000",
        "--etime",
        "1718400001",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = String::from_utf8(r.stdout).unwrap();
    let html_text = String::from_utf8(html.clone()).unwrap();
    assert!(text.contains("\nHTTP/1.1 200 OK\nContent-Type: text/html\nContent-Encoding: gzip\nTransfer-Encoding: chunked\n\n"), "{text}");
    assert!(text.contains(&html_text), "{text}");
    assert!(
        text.contains(&format!(
            "[body: {} bytes; chunked; gzip, {} bytes encoded]",
            html.len(),
            z.len()
        )),
        "{text}"
    );
    assert!(
        text.contains("\n[binary body, 8 bytes, image/png]\n"),
        "{text}"
    );
    // The json style keeps the raw (compressed, chunked) stream bytes.
    let store = Store::open([tmp.path()]).unwrap();
    let q = query(
        (IpAddr::from(c), 45000),
        (IpAddr::from(s), 80),
        "1718400000",
        "1718400001",
    );
    let t = store
        .transcript(&q, &TranscriptOptions::new().style(Style::Json))
        .unwrap();
    assert_eq!(streams(&t)[1], resp);
}

/// Each direction's bytes as tcpflow writes them (one file per direction), as a sorted list.
fn tcpflow_streams(pcap: &Path, dir: &Path) -> Vec<Vec<u8>> {
    std::fs::create_dir_all(dir).unwrap();
    let r = Command::new("tcpflow")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "tcpflow: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "report.xml")
        .map(|e| std::fs::read(e.path()).unwrap())
        .filter(|b| !b.is_empty())
        .collect();
    v.sort();
    v
}

/// Fails with the lengths and the first differing byte when capme's and tcpflow's streams differ.
fn assert_same(ours: &[Vec<u8>], theirs: &[Vec<u8>], what: &str) {
    if ours == theirs {
        return;
    }
    let diffs: Vec<String> = ours
        .iter()
        .zip(theirs)
        .map(|(o, t)| {
            let at = o.iter().zip(t).position(|(a, b)| a != b);
            format!(
                "capme {} bytes, tcpflow {} bytes, first difference at {at:?}",
                o.len(),
                t.len()
            )
        })
        .collect();
    panic!(
        "{what}: capme has {} streams, tcpflow {}: {}",
        ours.len(),
        theirs.len(),
        diffs.join("; ")
    );
}

fn capme_streams(t: &Transcript) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = streams(t).into_iter().filter(|b| !b.is_empty()).collect();
    v.sort();
    v
}

/// TCP flows of the sample store with a handshake, by (key, first ts, last ts), decoded here
/// from the capture files.
fn sample_store_tcp_flows() -> Vec<(FlowKey, i64, i64)> {
    let mut flows: BTreeMap<FlowKey, (i64, i64, bool, usize)> = BTreeMap::new();
    let root = repo().join("examples/data/store");
    let mut files = Vec::new();
    for e in walk(&root) {
        files.push(e);
    }
    for f in files {
        let mut r = CaptureReader::open(&f).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            let Some(d) = decode(1, rec.data) else {
                continue;
            };
            if d.proto != Proto::TCP || d.frag.is_some() {
                continue;
            }
            let Some(k) = FlowKey::of_decoded(&d) else {
                continue;
            };
            let syn = decode_ip(1, rec.data)
                .and_then(|ip| TcpHeader::new_checked(ip.payload))
                .is_some_and(|t| t.has(TcpHeader::SYN) && !t.has(TcpHeader::ACK));
            let ts = rec.ts.as_nanos();
            let e = flows.entry(k).or_insert((ts, ts, false, 0));
            e.0 = e.0.min(ts);
            e.1 = e.1.max(ts);
            e.2 |= syn;
            e.3 += 1;
        }
    }
    flows
        .into_iter()
        .filter(|(_, v)| v.2 && v.3 >= 6 && v.1 - v.0 < 600_000_000_000)
        .map(|(k, v)| (k, v.0, v.1))
        .collect()
}

/// A copy of an Ethernet pcap with every frame cut at the end of its IP packet. tcpflow 1.6.1
/// takes the Ethernet padding after a short IP packet (a bare ACK padded to 60 bytes) as TCP
/// data; capme reads up to the IP length, as the IP header says.
fn without_padding(pcap: &Path) -> PathBuf {
    let mut r = CaptureReader::open(pcap).unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    while let Some(rec) = r.next_record().unwrap() {
        let data = rec.data;
        let cut = match network_layer(1, data) {
            Some(NetworkLayer::Ipv4(ip)) if ip.len() >= 4 => {
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                data.len() - ip.len() + total.min(ip.len())
            }
            Some(NetworkLayer::Ipv6(ip)) if ip.len() >= 6 => {
                let total = 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                data.len() - ip.len() + total.min(ip.len())
            }
            _ => data.len(),
        };
        b.packet(rec.ts_raw, &data[..cut]);
    }
    let out = pcap.with_extension("unpadded.pcap");
    b.write(&out).unwrap();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if e.file_name() != ".capme" {
                out.extend(walk(&p));
            }
        } else if e.file_name().to_string_lossy().starts_with("snort.log.") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn reassembled_streams_equal_tcpflows() {
    if !have("tcpflow") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Generated flows: reordered, retransmitted, repacketised, across the wrap (tcpflow keeps
    // the last copy of a byte and fills holes, so no conflicting copies and no loss here).
    let imp = Impairments {
        reorder: true,
        retransmit: true,
        overlap: true,
        wrap: true,
        ..Impairments::default()
    };
    for seed in 0..6u64 {
        let flow = impaired::tcp(100 + seed, &imp);
        let root = tmp.path().join(format!("gen{seed}"));
        write_store(&root, &flow.packets);
        let (s, e) = window_of(&flow.packets);
        let store = Store::open([&root]).unwrap();
        let q = query(flow.client, flow.server, &s, &e);
        let t = store
            .transcript(
                &q,
                &TranscriptOptions::new()
                    .style(Style::Json)
                    .maxtx(10_000_000)
                    .unwrap(),
            )
            .unwrap();
        let pcap = walk(&root).remove(0);
        let theirs = tcpflow_streams(&pcap, &tmp.path().join(format!("gen{seed}.tcpflow")));
        assert_eq!(theirs.len(), 2, "seed {seed}");
        assert_same(
            &capme_streams(&t),
            &theirs,
            &format!("generated seed {seed}"),
        );
    }
    // Sampled flows of the sample store: every 3rd TCP connection with a handshake.
    let store = Store::open([repo().join("examples/data/store")]).unwrap();
    let flows = sample_store_tcp_flows();
    let mut compared = 0;
    for (i, (k, first, last)) in flows.iter().enumerate().step_by(3) {
        let (a, b) = (k.first(), k.second());
        let q = query(
            (a.addr, a.port),
            (b.addr, b.port),
            &capme_core::Timestamp(*first).to_string(),
            &capme_core::Timestamp(*last).to_string(),
        );
        let t = store
            .transcript(
                &q,
                &TranscriptOptions::new()
                    .style(Style::Json)
                    .maxtx(100_000_000)
                    .unwrap(),
            )
            .unwrap();
        let pcap = tmp.path().join(format!("s{i}.pcap"));
        store.extract_to_file(&q, &pcap).unwrap();
        let pcap = without_padding(&pcap);
        let theirs = tcpflow_streams(&pcap, &tmp.path().join(format!("s{i}.tcpflow")));
        if theirs.is_empty() {
            // tcpflow does not read MPLS.
            continue;
        }
        assert_same(&capme_streams(&t), &theirs, &format!("store flow {k:?}"));
        compared += 1;
    }
    eprintln!("tcpflow: {compared} flows of the sample store and 6 generated flows compared");
    assert!(
        compared >= 5,
        "only {compared} flows of the sample store compared"
    );
}

#[test]
fn the_generator_makes_the_troubles_it_names() {
    let f = impaired::tcp(0, &Impairments::all());
    assert!(!f.lost[0].is_empty() || !f.lost[1].is_empty());
    // Sequence numbers cross 2^32: some data segment has a smaller seq than the SYN's.
    let seqs: Vec<u32> = f
        .packets
        .iter()
        .filter_map(|(_, p)| {
            decode_ip(1, p)
                .and_then(|ip| TcpHeader::new_checked(ip.payload))
                .map(|t| t.seq())
        })
        .collect();
    assert!(seqs.iter().any(|&s| s < 100_000) && seqs.iter().any(|&s| s > u32::MAX - 100_000));
    // Some segment comes after one later in the stream, and some bytes come twice.
    let mut n = 0;
    let mut seen = std::collections::HashSet::new();
    let mut dup = 0;
    for (_, p) in &f.packets {
        let ip = decode_ip(1, p).unwrap();
        let t = TcpHeader::new_checked(ip.payload).unwrap();
        if !t.payload().is_empty() && !seen.insert((ip.src, t.seq())) {
            dup += 1;
        }
        n += 1;
    }
    assert!(dup > 0 && n > 50);
}

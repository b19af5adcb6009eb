//! A large capture is streamed, not held: the process's peak RSS stays flat while 50 MB of one
//! flow go through the server (in this process) to the client (in this process too).
//!
//! Its own test binary, so that no other test's allocations move the peak.

mod common;

use capme_core::sink::PcapFileWriter;
use capme_core::testutil::packet::udp4;
use capme_core::Store;
use capme_serve::auth::AllowLoopback;
use capme_serve::ServeConfig;
use common::TestServer;
use std::io::{BufWriter, Read};

/// Peak resident set size of this process (kB), from /proc/self/status.
fn vm_hwm_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// The tests of this binary run one at a time: the peak RSS is the whole process's.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const PACKETS: u32 = 36_000;
const PAYLOAD: usize = 1400;
const START: u32 = 1_700_000_000;

/// One capture file of one UDP flow, ~50 MB, written packet by packet (never whole in memory).
fn big_store(root: &std::path::Path) -> u64 {
    let dir = root.join("sensor/dailylogs/2023-11-14");
    std::fs::create_dir_all(&dir).unwrap();
    let f = std::fs::File::create(dir.join(format!("snort.log.{START}"))).unwrap();
    let mut w = PcapFileWriter::new(BufWriter::new(f), 1, 65535, false, false).unwrap();
    let mut total = 24u64;
    for i in 0..PACKETS {
        let mut payload = vec![0u8; PAYLOAD];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        let (src, dst, sp, dp) = if i % 2 == 0 {
            ([10, 0, 0, 1], [10, 0, 0, 2], 5000, 53)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], 53, 5000)
        };
        let p = udp4(src, sp, dst, dp, &payload);
        let ts = (START + i / 1000, (i % 1000) * 1000);
        w.write_record(ts, p.len() as u32, &p).unwrap();
        total += 16 + p.len() as u64;
    }
    w.into_inner().unwrap();
    total
}

#[test]
#[cfg(target_os = "linux")]
fn a_large_capture_streams_with_flat_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let expected = big_store(dir.path());
    assert!(expected > 50_000_000);
    let store = Store::open([dir.path()]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    let s = TestServer::start(c);
    // Warm up with the same search into a counting sink (the summary): the search's own
    // buffers (read-ahead, scan threads) are in the peak before the stream starts, so what the
    // stream adds is what is measured.
    let start = vm_hwm_kb();
    let warm = s.get(&format!(
        "/api/v1/summary?sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&proto=udp&stime={START}&etime={}",
        START + 60
    ));
    assert_eq!(warm.status, 200, "{}", warm.text());
    assert_eq!(warm.json()["packets"], PACKETS);
    let before = vm_hwm_kb();
    eprintln!("VmHWM {start} kB -> {before} kB after the search into a counting sink");
    let url = format!(
        "{}/api/v1/pcap?sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&proto=udp&stime={START}&etime={}",
        s.base,
        START + 60
    );
    let r = ureq::get(&url).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let mut reader = r.into_reader();
    let mut buf = vec![0u8; 64 << 10];
    let mut head = Vec::new();
    let mut got = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if head.len() < 24 {
            head.extend_from_slice(&buf[..n.min(24)]);
        }
        got += n as u64;
    }
    let after = vm_hwm_kb();
    assert_eq!(got, expected, "the whole capture arrived");
    assert_eq!(
        &head[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian µs pcap"
    );
    let grew_mb = (after.saturating_sub(before)) / 1024;
    eprintln!("VmHWM {before} kB -> {after} kB while streaming {got} bytes");
    // Holding the result would add its 50 MB; streaming adds the held prefix (1 MiB), the
    // channel (512 KiB) and what a fresh thread's allocator arena and hyper's buffers touch,
    // which varies from run to run (3 to 10 MB seen).
    assert!(
        grew_mb < 20,
        "peak RSS grew by {grew_mb} MB while streaming {} MB",
        got >> 20
    );
}

/// A packet of another link type after the stream committed to pcap: the response is cut
/// short (no final chunk), never a valid-looking but wrong capture.
#[test]
fn a_late_error_cuts_the_stream() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("sensor/dailylogs/2023-11-14");
    std::fs::create_dir_all(&day).unwrap();
    let write = |name: u32, linktype: u32, strip: usize, first: u32, n: u32| {
        let f = std::fs::File::create(day.join(format!("snort.log.{name}"))).unwrap();
        let mut w = PcapFileWriter::new(BufWriter::new(f), linktype, 65535, false, false).unwrap();
        for i in first..first + n {
            let p = udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &[7u8; PAYLOAD]);
            let p = &p[strip..];
            w.write_record((START + i / 1000, (i % 1000) * 1000), p.len() as u32, p)
                .unwrap();
        }
        w.into_inner().unwrap();
    };
    // 2.8 MB of Ethernet packets, then raw IP (LINKTYPE_RAW, 101) packets of the same flow.
    write(START, 1, 0, 0, 2000);
    write(START + 10, 101, 14, 10_000, 10);
    let store = Store::open([dir.path()]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    let s = TestServer::start(c);
    let url = format!(
        "{}/api/v1/pcap?sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&proto=udp&stime={START}&etime={}",
        s.base,
        START + 60
    );
    let r = ureq::get(&url).call().unwrap();
    assert_eq!(r.status(), 200);
    let mut body = Vec::new();
    let e = r.into_reader().read_to_end(&mut body);
    assert!(
        e.is_err(),
        "the body ended cleanly after {} bytes",
        body.len()
    );
    assert!(body.len() > 1 << 20, "{}", body.len());
}

/// Through a peer: server A (whose own store is empty) fans the query out to server B (the
/// 50 MB store); B's stream is read by A's capture reader and merged into A's response. Both
/// servers and the client are in this process: holding the result anywhere would add 50 MB.
#[test]
#[cfg(target_os = "linux")]
fn a_large_capture_through_a_peer_streams_with_flat_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (big, empty) = (dir.path().join("big"), dir.path().join("empty"));
    let expected = big_store(&big);
    std::fs::create_dir_all(&empty).unwrap();
    let mut cb = ServeConfig::new(
        Store::open([&big]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        AllowLoopback,
    );
    cb.log = false;
    let sb = TestServer::start(cb);
    let mut ca = ServeConfig::new(
        Store::open([&empty]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        AllowLoopback,
    );
    ca.log = false;
    ca.peers = vec![capme_serve::peer::Peer::parse(&format!("big={}", sb.base)).unwrap()];
    let sa = TestServer::start(ca);
    let q = format!(
        "sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&proto=udp&stime={START}&etime={}",
        START + 60
    );
    // Warm up: the same search in B (its buffers and threads), through A's fan-out.
    let warm = sa.get(&format!("/api/v1/summary?{q}"));
    assert_eq!(warm.status, 200, "{}", warm.text());
    assert_eq!(warm.json()["packets"], PACKETS);
    let before = vm_hwm_kb();
    let r = ureq::get(&format!("{}/api/v1/pcap?{q}", sa.base))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut reader = r.into_reader();
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let after = vm_hwm_kb();
    assert_eq!(got, expected, "the whole capture arrived");
    let grew_mb = (after.saturating_sub(before)) / 1024;
    eprintln!("VmHWM {before} kB -> {after} kB while streaming {got} bytes through a peer");
    // Two held prefixes (1 MiB each), B's chunk channel, A's 64-packet source channel and
    // chunk channel, the arenas of fresh threads and hyper's buffers on three connections.
    assert!(
        grew_mb < 25,
        "peak RSS grew by {grew_mb} MB while streaming {} MB through a peer",
        got >> 20
    );
}

/// A peer whose stream is cut after it sent packets (here: its late link-type error) cuts the
/// merged response too: an incomplete merge must never end like a complete one.
#[test]
fn a_peer_cut_mid_stream_cuts_the_merged_response() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (cut, empty) = (dir.path().join("cut"), dir.path().join("empty"));
    let day = cut.join("sensor/dailylogs/2023-11-14");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    let write = |name: u32, linktype: u32, strip: usize, first: u32, n: u32| {
        let f = std::fs::File::create(day.join(format!("snort.log.{name}"))).unwrap();
        let mut w = PcapFileWriter::new(BufWriter::new(f), linktype, 65535, false, false).unwrap();
        for i in first..first + n {
            let p = udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &[7u8; PAYLOAD]);
            let p = &p[strip..];
            w.write_record((START + i / 1000, (i % 1000) * 1000), p.len() as u32, p)
                .unwrap();
        }
        w.into_inner().unwrap();
    };
    write(START, 1, 0, 0, 2000);
    write(START + 10, 101, 14, 10_000, 10);
    let mut cb = ServeConfig::new(
        Store::open([&cut]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        AllowLoopback,
    );
    cb.log = false;
    let sb = TestServer::start(cb);
    let mut ca = ServeConfig::new(
        Store::open([&empty]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        AllowLoopback,
    );
    ca.log = false;
    ca.peers = vec![capme_serve::peer::Peer::parse(&format!("cut={}", sb.base)).unwrap()];
    let sa = TestServer::start(ca);
    let url = format!(
        "{}/api/v1/pcap?sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&proto=udp&stime={START}&etime={}",
        sa.base,
        START + 60
    );
    let r = ureq::get(&url).call().unwrap();
    assert_eq!(r.status(), 200);
    let mut body = Vec::new();
    let e = r.into_reader().read_to_end(&mut body);
    assert!(
        e.is_err(),
        "the merged body ended cleanly after {} bytes",
        body.len()
    );
}

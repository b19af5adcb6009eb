//! A large capture is streamed, not held: the process's peak RSS stays flat while 50 MB of one
//! flow go through the server (in this process) to the client (in this process too).
//!
//! Its own test binary, so that no other test's allocations move the peak.

mod common;

use capme_core::capture::CaptureReader;
use capme_core::sink::PcapFileWriter;
use capme_core::testutil::packet::udp4;
use capme_core::Store;
use capme_serve::auth::AllowLoopback;
use capme_serve::ServeConfig;
use common::TestServer;
use std::io::{BufWriter, Read, Write};

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

/// Writes `n` packets of the test flow from packet number `first` into `day/snort.log.<name>`:
/// Ethernet (`linktype` 1) or Linux cooked capture (113), µs or ns.
fn write_file(day: &std::path::Path, name: u32, linktype: u32, nanos: bool, first: u32, n: u32) {
    let f = std::fs::File::create(day.join(format!("snort.log.{name}"))).unwrap();
    let mut w = PcapFileWriter::new(BufWriter::new(f), linktype, 65535, nanos, false).unwrap();
    for i in first..first + n {
        let mut payload = vec![7u8; PAYLOAD];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        let eth = udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &payload);
        let p = match linktype {
            1 => eth,
            // SLL: packet type, ARPHRD_ETHER, address length 6, address + 2 pad, protocol.
            113 => {
                let mut v = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
                v.extend_from_slice(&eth[14..]);
                v
            }
            _ => unreachable!(),
        };
        let frac = if nanos {
            (i % 1000) * 1_000_000
        } else {
            (i % 1000) * 1000
        };
        w.write_record((START + i / 1000, frac), p.len() as u32, &p)
            .unwrap();
    }
    w.into_inner().unwrap();
}

const FLOW: &str = "sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&proto=udp";

/// A packet as (timestamp ns, link type, bytes).
type Pkt = (i64, u32, Vec<u8>);

/// Every packet of a capture file, and the file's damage and trailing bytes (which must be
/// none).
fn packets_of(path: &std::path::Path) -> (Vec<Pkt>, (u64, u64), u64) {
    let mut r = capme_core::capture::CaptureReader::open(path).unwrap();
    let mut v = Vec::new();
    while let Some((rec, iface)) = r.next_with_interface().unwrap() {
        v.push((rec.ts.as_nanos(), iface.linktype, rec.data.to_vec()));
    }
    (v, r.damage_total(), r.trailing_bytes())
}

/// What `capme extract` writes for the test flow over the store at `root`.
fn extracted(root: &std::path::Path, out: &std::path::Path) -> Vec<u8> {
    let q = capme_core::QuerySpec {
        sip: Some("10.0.0.1"),
        spt: Some("5000"),
        dip: Some("10.0.0.2"),
        dpt: Some("53"),
        proto: Some("udp"),
        stime: Some(&START.to_string()),
        etime: Some(&(START + 60).to_string()),
        ..Default::default()
    }
    .parse()
    .unwrap();
    Store::open([root])
        .unwrap()
        .extract_to_file(&q, out)
        .unwrap();
    std::fs::read(out).unwrap()
}

/// The streamed pcap of the test flow, read to its end (an incomplete transfer fails).
fn streamed(root: &std::path::Path) -> Vec<u8> {
    let store = Store::open([root]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    let s = TestServer::start(c);
    let url = format!(
        "{}/api/v1/pcap?{FLOW}&stime={START}&etime={}",
        s.base,
        START + 60
    );
    let r = ureq::get(&url).call().unwrap();
    assert_eq!(r.status(), 200);
    let mut body = Vec::new();
    r.into_reader()
        .read_to_end(&mut body)
        .unwrap_or_else(|e| panic!("the stream was cut after {} bytes: {e}", body.len()));
    body
}

/// A flow over files of two link types (Ethernet, then Linux SLL) and two precisions, larger
/// than the held prefix: the stream is complete, and holds exactly `capme extract`'s packets
/// (as pcapng: the plan's headers differ, so the stream is pcapng from its first byte).
#[test]
fn mixed_link_types_stream_whole_as_pcapng() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let day = root.join("sensor/dailylogs/2023-11-14");
    std::fs::create_dir_all(&day).unwrap();
    // 2.8 MB of Ethernet packets (more than the held prefix), then SLL, then ns SLL.
    write_file(&day, START, 1, false, 0, 2000);
    write_file(&day, START + 10, 113, false, 10_000, 500);
    write_file(&day, START + 20, 113, true, 20_000, 500);
    let body = streamed(&root);
    assert!(body.len() > 1 << 20, "{}", body.len());
    assert_eq!(&body[..4], &[0x0a, 0x0d, 0x0d, 0x0a], "pcapng");
    let got = dir.path().join("got.pcapng");
    std::fs::write(&got, &body).unwrap();
    let want = dir.path().join("want.pcap");
    extracted(&root, &want);
    let (g, damage, trailing) = packets_of(&got);
    assert_eq!((damage, trailing), ((0, 0), 0), "the stream parses cleanly");
    let (w, _, _) = packets_of(&want);
    assert_eq!(g.len(), 3000);
    assert!(g == w, "the stream's packets are capme extract's");
    assert_eq!(
        g.iter()
            .map(|p| p.1)
            .collect::<std::collections::BTreeSet<_>>(),
        [1, 113].into()
    );
}

/// A large flow over files of one link type and precision streams as legacy pcap, byte for
/// byte what `capme extract` writes.
#[test]
fn a_large_uniform_flow_streams_as_capme_extracts_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let day = root.join("sensor/dailylogs/2023-11-14");
    std::fs::create_dir_all(&day).unwrap();
    write_file(&day, START, 1, false, 0, 1000);
    write_file(&day, START + 10, 1, false, 10_000, 1000);
    let body = streamed(&root);
    assert!(body.len() > 1 << 20, "{}", body.len());
    let want = extracted(&root, &dir.path().join("want.pcap"));
    assert_eq!(
        &body[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian µs pcap"
    );
    assert!(
        body == want,
        "{} bytes streamed, {} extracted",
        body.len(),
        want.len()
    );
}

/// Four identical requests for a large mixed flow share one extraction: each gets the whole
/// stream (many chunks, fanned out to each), all equal.
#[test]
fn a_shared_large_stream_reaches_every_sharer_whole() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let day = root.join("sensor/dailylogs/2023-11-14");
    std::fs::create_dir_all(&day).unwrap();
    write_file(&day, START, 1, false, 0, 2000);
    write_file(&day, START + 10, 113, false, 10_000, 500);
    let store = Store::open([&root]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    c.flight_quorum = 4;
    let s = TestServer::start(c);
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let url = format!(
                "{}/api/v1/pcap?{FLOW}&stime={START}&etime={}",
                s.base,
                START + 60
            );
            std::thread::spawn(move || {
                let r = ureq::get(&url).call().unwrap();
                let mut body = Vec::new();
                r.into_reader().read_to_end(&mut body).unwrap();
                body
            })
        })
        .collect();
    let bodies: Vec<Vec<u8>> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let got = dir.path().join("got.pcapng");
    std::fs::write(&got, &bodies[0]).unwrap();
    let (g, damage, trailing) = packets_of(&got);
    assert_eq!((g.len(), damage, trailing), (2500, (0, 0), 0));
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "the sharers' bodies differ"
    );
    assert_eq!(s.metric("capme_extractions_total{kind=\"pcap\"}"), 1);
    assert_eq!(s.metric("capme_shared_total"), 3);
}

/// A streamed capture is counted in /metrics (requests and the latency histogram) when its
/// body ends, not when its headers are sent: while the client holds a 50 MB response
/// unread (more than the channel and the socket buffers hold), the request is not counted;
/// once the client has read it to the end, it is.
#[test]
fn a_streamed_pcap_is_observed_when_its_body_ends() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let expected = big_store(dir.path());
    let store = Store::open([dir.path()]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    let s = TestServer::start(c);
    let pcap_200 = "capme_requests_total{endpoint=\"pcap\",status=\"200\"}";
    let observed = "capme_request_duration_seconds_count";
    let url = format!(
        "{}/api/v1/pcap?{FLOW}&stime={START}&etime={}",
        s.base,
        START + 60
    );
    let r = ureq::get(&url).call().unwrap();
    assert_eq!(r.status(), 200);
    let mid = s.metric(observed);
    assert_eq!(s.metric(pcap_200), 0, "counted before its body was read");
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    assert_eq!(body.len() as u64, expected);
    assert_eq!(s.metric(pcap_200), 1, "not counted once its body was read");
    assert!(s.metric(observed) > mid, "not in the latency histogram");
}

/// A sharer that goes away mid-stream is dropped from the fan-out; the other sharer still
/// gets the whole 50 MB capture (more than the channels and socket buffers hold, so the
/// extraction must notice the one that left to go on).
#[test]
fn a_sharer_that_leaves_does_not_stop_the_others() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let expected = big_store(dir.path());
    let store = Store::open([dir.path()]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    c.flight_quorum = 2;
    let s = TestServer::start(c);
    let url = format!(
        "{}/api/v1/pcap?{FLOW}&stime={START}&etime={}",
        s.base,
        START + 60
    );
    let u = url.clone();
    let leaver = std::thread::spawn(move || {
        let r = ureq::get(&u).call().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        r.into_reader().read_exact(&mut buf).unwrap();
        // Dropped here: the connection closes after 1 MiB.
    });
    let stayer = std::thread::spawn(move || {
        let r = ureq::get(&url).call().unwrap();
        let mut body = Vec::new();
        r.into_reader().read_to_end(&mut body).unwrap();
        body.len() as u64
    });
    leaver.join().unwrap();
    assert_eq!(stayer.join().unwrap(), expected);
    assert_eq!(s.metric("capme_extractions_total{kind=\"pcap\"}"), 1);
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
    // A fanned-out result too large to hold back streams as pcapng (the peers' formats are not
    // known before their streams begin): read it record by record, never whole.
    let counted = Counted::default();
    let mut reader =
        CaptureReader::from_read(Box::new(counted.wrap(r.into_reader())), "response".into())
            .unwrap();
    let (mut packets, mut data) = (0u32, 0u64);
    while let Some(rec) = reader.next_record().unwrap() {
        assert_eq!(
            u32::from_be_bytes(rec.data[42..46].try_into().unwrap()),
            packets,
            "packet {packets} in order"
        );
        packets += 1;
        data += 16 + rec.data.len() as u64;
    }
    assert!(reader.damage().is_empty() && reader.trailing_bytes() == 0);
    let got = counted.total();
    let after = vm_hwm_kb();
    assert_eq!(packets, PACKETS, "the whole capture arrived");
    assert_eq!(24 + data, expected, "every packet's bytes arrived");
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

/// A peer whose stream is cut after it sent packets cuts the merged response too: an
/// incomplete merge must never end like a complete one. The "peer" is a plain TCP listener that
/// answers any request with a 200 promising 16 MiB of pcap, sends 2 MiB of valid records (more
/// than the merge holds back, so the response has begun) and hangs up.
#[test]
fn a_peer_cut_mid_stream_cuts_the_merged_response() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut pcap = PcapFileWriter::new(Vec::new(), 1, 65535, false, false).unwrap();
    for i in 0..1500u32 {
        let p = udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &[7u8; PAYLOAD]);
        pcap.write_record((START + i / 1000, (i % 1000) * 1000), p.len() as u32, &p)
            .unwrap();
    }
    let pcap = pcap.into_inner().unwrap();
    assert!(pcap.len() > 2 << 20);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if conn.read(&mut byte).unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.tcpdump.pcap\r\n\
                  content-length: 16777216\r\n\r\n",
            );
            let _ = conn.write_all(&pcap);
            // Dropped: the connection closes 14 MiB early.
        }
    });
    let mut ca = ServeConfig::new(
        Store::open([&empty]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        AllowLoopback,
    );
    ca.log = false;
    ca.peers = vec![capme_serve::peer::Peer::parse(&format!("cut=http://{peer_addr}")).unwrap()];
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

/// Bytes read through a reader, counted where the test can see them.
#[derive(Clone, Default)]
struct Counted(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Counted {
    fn wrap<R: Read + Send + 'static>(&self, inner: R) -> impl Read + Send + 'static {
        struct Reader<R>(R, Counted);
        impl<R: Read> Read for Reader<R> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.read(buf)?;
                (self.1)
                    .0
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(n)
            }
        }
        Reader(inner, self.clone())
    }

    fn total(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

//! Generates a deterministic Security Onion style capture store for tests and benchmarks.
//!
//! ```text
//! cargo run --example gen-store -- --out DIR [--seed N] [--sensors N] [--start EPOCH]
//!     [--duration SECS] [--rotate SECS] [--target-bytes N] [--manifest FILE]
//! ```
//!
//! Layout: `DIR/<sensor>/dailylogs/YYYY-MM-DD/snort.log.<epoch>`, one legacy pcap per rotation
//! (µs, little-endian, link type 1 Ethernet, snaplen 65535). A file is named after the epoch
//! second (floor) of its first packet and lives in the UTC day of that packet; a new file starts
//! with the first packet at or after `name + rotate`. Sensors are `sensor1-eth1`, `sensor2-eth0`,
//! `sensor3-eth1`, ...; sensor *i* starts `137·(i-1)` seconds after `--start`, so their times
//! overlap.
//!
//! The traffic is background noise (TCP with handshake, data and FIN; DNS; ICMP echo; NTP;
//! syslog; some fragmented UDP; IPv4 and IPv6; some on 802.1Q VLANs and some QinQ) plus named
//! flows that tests look up in the manifest (`--manifest`): plain TCP/UDP/ICMP over IPv4 and IPv6,
//! VLAN, QinQ and MPLS flows, fragmented UDP (one with the last fragment written before the
//! first), a 5-tuple reused an hour later, a connection across midnight UTC, a packet at the end
//! of one file stamped after the first packet of the next file, IPv4 options and IPv6 extension
//! headers. Within a file a few packets are stamped 1–5 ms before their predecessor, as
//! multi-queue capture does, but never before the file's name.
//!
//! The defaults (start 2024-06-14T23:02:17Z, 2 hours, rotation every 900 s, 2 sensors, about
//! 1.1 MB) give the small store committed under `examples/data/store`. `--target-bytes` scales
//! the background traffic (total over all sensors, approximate); packets are streamed, so memory
//! stays bounded for multi-GB stores. The same arguments always give byte-identical output: the
//! only randomness is a seeded splitmix64, and only exact integer/float arithmetic is used.
//!
//! ```text
//! cargo run --release --example gen-store -- --out /tmp/store --manifest /tmp/manifest.json
//! cargo run --release --example gen-store -- --out /tmp/big --target-bytes 4000000000
//! ```

use capme_core::sink::PcapFileWriter;
use capme_core::testutil::packet::{Ipv6Ext, Mac, PacketBuilder, TcpFlags};
use capme_core::Timestamp;
use clap::Parser;
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::error::Error;
use std::fs::{self, File};
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

type Res<T> = Result<T, Box<dyn Error>>;

/// Microseconds per second.
const S: i64 = 1_000_000;
/// Milliseconds in µs.
const MS: i64 = 1_000;

#[derive(Parser, Debug)]
#[command(about = "Generate a deterministic Security Onion style pcap store")]
struct Args {
    /// Output directory (created; must be empty or absent).
    #[arg(long)]
    out: PathBuf,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of sensors (1..=9).
    #[arg(long, default_value_t = 2)]
    sensors: usize,
    /// Start, epoch seconds (default 2024-06-14T23:02:17Z, so that 2 hours cross midnight UTC).
    #[arg(long, default_value_t = 1_718_406_137)]
    start: i64,
    /// Capture duration per sensor in seconds.
    #[arg(long, default_value_t = 7200)]
    duration: i64,
    /// Rotate files every this many seconds.
    #[arg(long, default_value_t = 900)]
    rotate: i64,
    /// Approximate total size of the store over all sensors, in bytes.
    #[arg(long, default_value_t = 1_100_000)]
    target_bytes: u64,
    /// Write a JSON description of the named flows (and of every file) here.
    #[arg(long)]
    manifest: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// PRNG

/// splitmix64: small, fast and the same everywhere.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when n is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo + 1) as u64) as i64
        }
    }
    /// True with probability `num/den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    /// A value from weighted buckets `(weight, lo, hi)`, uniform within the bucket.
    fn bucket(&mut self, buckets: &[(u64, i64, i64)]) -> i64 {
        let total: u64 = buckets.iter().map(|b| b.0).sum();
        let mut r = self.below(total);
        for &(w, lo, hi) in buckets {
            if r < w {
                return self.range(lo, hi);
            }
            r -= w;
        }
        buckets.last().map_or(0, |b| b.1)
    }
}

// ---------------------------------------------------------------------------------------------
// Flows as lists of timed packets

/// Which fragment a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frag {
    No,
    First,
    Later,
}

/// One packet of a flow script, before scheduling.
#[derive(Debug)]
struct Out {
    t: i64,
    fwd: bool,
    data: Vec<u8>,
    frag: Frag,
    force_disorder: bool,
    overlap: bool,
    /// Not part of the flow (e.g. a decoy): never tagged.
    foreign: bool,
}

/// The two ends of a flow and the link layer between them.
#[derive(Debug, Clone)]
struct Link {
    a_mac: Mac,
    b_mac: Mac,
    a: IpAddr,
    b: IpAddr,
    /// (is 802.1ad S-tag, vid), outermost first.
    tags: Vec<(bool, u16)>,
    mpls: Vec<u32>,
    ttl_a: u8,
    ttl_b: u8,
    ipv4_options: Vec<u8>,
    ipv6_ext: Vec<Ipv6Ext>,
}

impl Link {
    fn new(a: IpAddr, b: IpAddr, gw: Mac) -> Self {
        Link {
            a_mac: host_mac(a),
            b_mac: gw,
            a,
            b,
            tags: Vec::new(),
            mpls: Vec::new(),
            ttl_a: 64,
            ttl_b: 52,
            ipv4_options: Vec::new(),
            ipv6_ext: Vec::new(),
        }
    }
    fn builder(&self, fwd: bool) -> PacketBuilder {
        let (sm, dm, s, d, ttl) = if fwd {
            (self.a_mac, self.b_mac, self.a, self.b, self.ttl_a)
        } else {
            (self.b_mac, self.a_mac, self.b, self.a, self.ttl_b)
        };
        let mut pb = PacketBuilder::ethernet(sm, dm);
        for &(stag, vid) in &self.tags {
            pb = if stag { pb.stag(vid) } else { pb.vlan(vid) };
        }
        for &l in &self.mpls {
            pb = pb.mpls(l);
        }
        pb = pb.ip(s, d).ttl(ttl).min_len(60);
        if !self.ipv4_options.is_empty() {
            pb = pb.ipv4_options(&self.ipv4_options);
        }
        for e in &self.ipv6_ext {
            pb = pb.ipv6_ext(e.clone());
        }
        pb
    }
    fn is_v6(&self) -> bool {
        self.a.is_ipv6()
    }
}

fn host_mac(ip: IpAddr) -> Mac {
    let o = match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            [o[1], o[2], o[3]]
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            [o[13], o[14], o[15]]
        }
    };
    [0x00, 0x16, 0x3e, o[0], o[1], o[2]]
}

/// A conversation: the link, the packets so far and per-direction IPv4 ids.
struct Conv {
    link: Link,
    out: Vec<Out>,
    ids: [u16; 2],
}

impl Conv {
    fn new(link: Link, rng: &mut Rng) -> Self {
        Conv {
            link,
            out: Vec::new(),
            ids: [rng.below(65536) as u16, rng.below(65536) as u16],
        }
    }
    fn base(&mut self, fwd: bool) -> PacketBuilder {
        let i = usize::from(!fwd);
        self.ids[i] = self.ids[i].wrapping_add(1);
        self.link.builder(fwd).id(self.ids[i])
    }
    fn push(&mut self, t: i64, fwd: bool, data: Vec<u8>) -> &mut Out {
        self.out.push(Out {
            t,
            fwd,
            data,
            frag: Frag::No,
            force_disorder: false,
            overlap: false,
            foreign: false,
        });
        self.out.last_mut().expect("just pushed")
    }
    /// A UDP datagram, fragmented into `frags` pieces when `frags > 1`, pieces `order`ed.
    fn udp(&mut self, t: i64, fwd: bool, ports: (u16, u16), payload: &[u8]) {
        let (sp, dp) = if fwd { ports } else { (ports.1, ports.0) };
        let pb = self.base(fwd).udp(sp, dp).payload(payload);
        self.push(t, fwd, pb.build());
    }
    /// A fragmented UDP datagram: piece `order[k]` is written at `t + k * gap`.
    #[allow(clippy::too_many_arguments)]
    fn udp_frags(
        &mut self,
        t: i64,
        fwd: bool,
        ports: (u16, u16),
        payload: &[u8],
        pieces: usize,
        order: &[usize],
        gap: i64,
        frag_id: u32,
    ) {
        let (sp, dp) = if fwd { ports } else { (ports.1, ports.0) };
        let pb = self.base(fwd).frag_id(frag_id).udp(sp, dp).payload(payload);
        let frags = pb.fragments(pieces);
        for (k, &i) in order.iter().enumerate() {
            if let Some(f) = frags.get(i) {
                let o = self.push(t + k as i64 * gap, fwd, f.clone());
                o.frag = if i == 0 { Frag::First } else { Frag::Later };
            }
        }
    }
    fn icmp_echo(&mut self, t: i64, fwd: bool, ident: u16, seq: u16, payload: &[u8]) {
        let v6 = self.link.is_v6();
        let b = self.base(fwd);
        let b = match (v6, fwd) {
            (false, true) => b.icmp(8, 0),
            (false, false) => b.icmp(0, 0),
            (true, true) => b.icmpv6(128, 0),
            (true, false) => b.icmpv6(129, 0),
        };
        let data = b.echo(ident, seq).payload(payload).build();
        self.push(t, fwd, data);
    }
}

/// A TCP connection from the `a` side (client) to `b` (server).
struct Tcp {
    c: Conv,
    cport: u16,
    sport: u16,
    seq: [u32; 2],
    mss: usize,
}

impl Tcp {
    fn new(link: Link, cport: u16, sport: u16, rng: &mut Rng) -> Self {
        let mss = if link.is_v6() { 1428 } else { 1448 };
        let mut c = Conv::new(link, rng);
        let seq = [rng.next() as u32, rng.next() as u32];
        c.out.reserve(16);
        Tcp {
            c,
            cport,
            sport,
            seq,
            mss,
        }
    }
    fn seg(&mut self, t: i64, fwd: bool, flags: TcpFlags, payload: &[u8]) -> &mut Out {
        let i = usize::from(!fwd);
        let (sp, dp) = if fwd {
            (self.cport, self.sport)
        } else {
            (self.sport, self.cport)
        };
        let mut pb = self
            .c
            .base(fwd)
            .tcp(sp, dp)
            .seq(self.seq[i])
            .flags(flags)
            .window(if fwd { 64240 } else { 65160 })
            .payload(payload);
        if flags.contains(TcpFlags::ACK) {
            pb = pb.ack(self.seq[1 - i]);
        }
        if flags.contains(TcpFlags::SYN) {
            pb = pb.tcp_options(&[2, 4, 0x05, 0xb4, 1, 1, 4, 2]);
        }
        let adv = payload.len() as u32
            + u32::from(flags.contains(TcpFlags::SYN))
            + u32::from(flags.contains(TcpFlags::FIN));
        self.seq[i] = self.seq[i].wrapping_add(adv);
        let data = pb.build();
        self.c.push(t, fwd, data)
    }
    /// SYN, SYN-ACK, ACK from `t`; returns the time of the ACK.
    fn handshake(&mut self, t: i64, rtt: i64) -> i64 {
        self.seg(t, true, TcpFlags::SYN, &[]);
        self.seg(t + rtt, false, TcpFlags::SYN | TcpFlags::ACK, &[]);
        self.seg(t + rtt + 40, true, TcpFlags::ACK, &[]);
        t + rtt + 40
    }
    /// `data` from one side in MSS segments spaced by `gap` µs, the other side ACKing every
    /// second segment; returns the time of the last packet.
    fn send(&mut self, t: i64, fwd: bool, data: &[u8], rng: &mut Rng, gap: (i64, i64)) -> i64 {
        let mut now = t;
        let mut last = t;
        let n = data.len().div_ceil(self.mss).max(1);
        for (k, chunk) in data.chunks(self.mss).enumerate() {
            let flags = if k + 1 == n {
                TcpFlags::PSH | TcpFlags::ACK
            } else {
                TcpFlags::ACK
            };
            self.seg(now, fwd, flags, chunk);
            last = last.max(now);
            if k % 2 == 1 || k + 1 == n {
                let at = now + rng.range(30, 400);
                self.seg(at, !fwd, TcpFlags::ACK, &[]);
                last = last.max(at);
            }
            now += rng.range(gap.0, gap.1);
        }
        last
    }
    /// FIN from one side, FIN-ACK, last ACK; returns the time of the last ACK.
    fn close(&mut self, t: i64, client_first: bool, rtt: i64) -> i64 {
        let f = TcpFlags::FIN | TcpFlags::ACK;
        self.seg(t, client_first, f, &[]);
        self.seg(t + rtt, !client_first, f, &[]);
        self.seg(t + rtt + 35, client_first, TcpFlags::ACK, &[]);
        t + rtt + 35
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads

const NAMES: &[&str] = &[
    "www.example.com",
    "mail.example.org",
    "cdn.example.net",
    "api.example.com",
    "ntp.example.org",
    "updates.example.net",
    "login.example.com",
];

fn dns_message(id: u16, name: &str, response: bool, answers: usize, rng: &mut Rng) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + answers * 16);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(if response {
        &[0x81, 0x80]
    } else {
        &[0x01, 0x00]
    });
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&(answers as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    for _ in 0..answers {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
        let mut a = [0u8; 4];
        rng.fill(&mut a);
        m.extend_from_slice(&a);
    }
    m
}

/// `len` bytes starting with `head`, then pseudo-random filler.
fn body(head: &str, len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let h = head.as_bytes();
    let n = h.len().min(len);
    v[..n].copy_from_slice(&h[..n]);
    rng.fill(&mut v[n..]);
    v
}

fn http_request(host: &str, path: &str, len: usize, rng: &mut Rng) -> Vec<u8> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: capme-gen/1\r\nX-Pad: ");
    let mut v = body(&head, len.max(head.len() + 4), rng);
    for b in v[head.len()..].iter_mut() {
        *b = b'a' + (*b % 26);
    }
    let n = v.len();
    v[n - 4..].copy_from_slice(b"\r\n\r\n");
    v
}

fn ping_payload(seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 56];
    p[..2].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(8) {
        *b = i as u8 + 8;
    }
    p
}

// ---------------------------------------------------------------------------------------------
// Background traffic

/// Per-sensor constants for background traffic.
struct BgCtx {
    gw: Mac,
    /// Largest TCP response, bytes.
    cap: i64,
}

fn bg_client(rng: &mut Rng, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0x100,
            rng.below(4) as u16,
            0,
            0,
            rng.below(65536) as u16,
            rng.range(1, 65535) as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(
            192,
            168,
            rng.range(1, 4) as u8,
            rng.range(10, 250) as u8,
        ))
    }
}

fn bg_server(rng: &mut Rng, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xffff,
            0,
            0,
            0,
            0,
            rng.range(1, 200) as u16,
        ))
    } else if rng.chance(1, 2) {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, rng.range(1, 254) as u8))
    } else {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, rng.range(1, 254) as u8))
    }
}

fn bg_rtt(rng: &mut Rng) -> i64 {
    rng.bucket(&[(30, 150, 2_000), (50, 2_000, 40_000), (20, 40_000, 120_000)])
}

fn bg_link(rng: &mut Rng, v6: bool, ctx: &BgCtx) -> Link {
    let a = bg_client(rng, v6);
    let b = bg_server(rng, v6);
    let mut l = Link::new(a, b, ctx.gw);
    let r = rng.below(100);
    if r >= 95 {
        l.tags = vec![(true, 300), (false, 20 + rng.below(3) as u16)];
    } else if r >= 85 {
        l.tags = vec![(false, 100 + rng.below(2) as u16)];
    }
    l
}

/// One background flow starting at `t0`.
fn background(rng: &mut Rng, t0: i64, ctx: &BgCtx) -> Vec<Out> {
    let v6 = rng.chance(1, 5);
    let kind = rng.below(100);
    let link = bg_link(rng, v6, ctx);
    let cport = rng.range(32768, 60999) as u16;
    match kind {
        // Short TCP request/response.
        0..=41 => {
            let sport = *rng.pick(&[80u16, 443, 443, 443, 8080, 22, 25, 993]);
            let mut tcp = Tcp::new(link, cport, sport, rng);
            let rtt = bg_rtt(rng);
            let mut t = tcp.handshake(t0, rtt);
            let req_len = rng.range(80, 700) as usize;
            let req = if sport == 80 || sport == 8080 {
                let host = *rng.pick(NAMES);
                http_request(host, "/index.html", req_len, rng)
            } else {
                body("", req_len, rng)
            };
            t = tcp.send(t + rng.range(20, 300), true, &req, rng, (10, 50));
            let resp_len = rng
                .bucket(&[
                    (40, 100, 1_000),
                    (30, 1_000, 5_000),
                    (18, 5_000, 30_000),
                    (9, 30_000, 300_000),
                    (3, 300_000, 3_000_000),
                ])
                .min(ctx.cap) as usize;
            let resp = body("HTTP/1.1 200 OK\r\n", resp_len, rng);
            t = tcp.send(t + rng.range(200, 30_000), false, &resp, rng, (20, 1_500));
            let client_first = rng.chance(1, 2);
            tcp.close(t + rng.range(100, 50_000), client_first, rtt);
            tcp.c.out
        }
        // Long-lived TCP with a few exchanges.
        42..=44 => {
            let mut tcp = Tcp::new(link, cport, *rng.pick(&[443u16, 5222, 993]), rng);
            let rtt = bg_rtt(rng);
            let mut t = tcp.handshake(t0, rtt);
            for _ in 0..rng.range(3, 10) {
                t += rng.range(5 * S, 60 * S);
                let q = body("", rng.range(30, 300) as usize, rng);
                t = tcp.send(t, true, &q, rng, (10, 50));
                let a = body("", rng.range(30, 1_200) as usize, rng);
                t = tcp.send(t + rtt, false, &a, rng, (10, 50));
            }
            tcp.close(t + rng.range(S, 5 * S), true, rtt);
            tcp.c.out
        }
        // DNS, sometimes A and AAAA from two ports.
        45..=71 => {
            let mut c = Conv::new(link, rng);
            let name = *rng.pick(NAMES);
            let mut t = t0;
            for _ in 0..rng.range(1, 2) {
                let port = rng.range(32768, 60999) as u16;
                let id = rng.below(65536) as u16;
                c.udp(t, true, (port, 53), &dns_message(id, name, false, 0, rng));
                let n = rng.range(1, 4) as usize;
                let ans = dns_message(id, name, true, n, rng);
                c.udp(t + rng.range(300, 30_000), false, (port, 53), &ans);
                t += rng.range(50, 2_000);
            }
            c.out
        }
        // ICMP / ICMPv6 echo.
        72..=79 => {
            let mut c = Conv::new(link, rng);
            let ident = rng.below(65536) as u16;
            let rtt = bg_rtt(rng);
            for k in 0..rng.range(1, 4) {
                let t = t0 + k * S;
                let p = ping_payload(k as u16);
                c.icmp_echo(t, true, ident, k as u16 + 1, &p);
                c.icmp_echo(t + rtt, false, ident, k as u16 + 1, &p);
            }
            c.out
        }
        // NTP.
        80..=86 => {
            let mut c = Conv::new(link, rng);
            let p = body("\x23", 48, rng);
            c.udp(t0, true, (123, 123), &p);
            let r = body("\x24", 48, rng);
            c.udp(t0 + bg_rtt(rng), false, (123, 123), &r);
            c.out
        }
        // Syslog, one way.
        87..=92 => {
            let mut c = Conv::new(link, rng);
            for k in 0..rng.range(1, 3) {
                let msg = format!(
                    "<134>Jun 14 23:59:59 host{} app[{}]: event {} ok",
                    rng.below(50),
                    rng.below(30000),
                    rng.next() % 100_000
                );
                c.udp(
                    t0 + k * rng.range(MS, S),
                    true,
                    (cport, 514),
                    msg.as_bytes(),
                );
            }
            c.out
        }
        // ARP who-has and reply (not IP).
        93..=97 => {
            let ip = match bg_client(rng, false) {
                IpAddr::V4(a) => a.octets(),
                IpAddr::V6(_) => [192, 168, 1, 1],
            };
            let gw_ip = [ip[0], ip[1], ip[2], 1];
            let mut out = Vec::new();
            for (k, fwd) in [(0, true), (1, false)] {
                let (sm, dm) = if fwd {
                    (link.a_mac, [0xff; 6])
                } else {
                    (link.b_mac, link.a_mac)
                };
                let mut arp = vec![0, 1, 8, 0, 6, 4, 0, if fwd { 1 } else { 2 }];
                let (sha, spa, tha, tpa) = if fwd {
                    (link.a_mac, ip, [0; 6], gw_ip)
                } else {
                    (link.b_mac, gw_ip, link.a_mac, ip)
                };
                for part in [&sha[..], &spa[..], &tha[..], &tpa[..]] {
                    arp.extend_from_slice(part);
                }
                let mut pb = PacketBuilder::ethernet(sm, dm);
                for &(stag, vid) in &link.tags {
                    pb = if stag { pb.stag(vid) } else { pb.vlan(vid) };
                }
                let data = pb.ethertype(0x0806).payload(&arp).min_len(60).build();
                out.push(Out {
                    t: t0 + k * rng.range(100, 900),
                    fwd,
                    data,
                    frag: Frag::No,
                    force_disorder: false,
                    overlap: false,
                    foreign: false,
                });
            }
            out
        }
        // Fragmented UDP (large DNS-like response).
        _ => {
            let mut c = Conv::new(link, rng);
            let port = rng.range(32768, 60999) as u16;
            let id = rng.below(65536) as u16;
            let name = *rng.pick(NAMES);
            c.udp(t0, true, (port, 53), &dns_message(id, name, false, 0, rng));
            let big = body("", rng.range(1_600, 4_000) as usize, rng);
            let pieces = if big.len() > 2_900 { 3 } else { 2 };
            let order: Vec<usize> = (0..pieces).collect();
            let fid = rng.next() as u32;
            c.udp_frags(
                t0 + bg_rtt(rng),
                false,
                (port, 53),
                &big,
                pieces,
                &order,
                30,
                fid,
            );
            c.out
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scheduling and writing

/// Manifest tag of a named flow's packet.
#[derive(Debug, Clone, Copy)]
struct Tag {
    flow: usize,
    fwd: bool,
    frag: Frag,
    vlan: bool,
    qinq: bool,
    mpls: bool,
    /// IPv6 with extension headers (fragment header included).
    ipv6_ext: bool,
}

/// A packet waiting in the time-ordered queue.
#[derive(Debug)]
struct Pkt {
    key: i64,
    seq: u64,
    data: Vec<u8>,
    /// Time of the previous packet of the same flow (disorder never goes before it).
    flow_prev: i64,
    tag: Option<Tag>,
    force_disorder: bool,
    overlap: bool,
}

impl PartialEq for Pkt {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.seq) == (o.key, o.seq)
    }
}
impl Eq for Pkt {}
impl PartialOrd for Pkt {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
/// Reversed, so that `BinaryHeap` pops the earliest packet.
impl Ord for Pkt {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.key, o.seq).cmp(&(self.key, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Pkt>,
    seq: u64,
}

impl Queue {
    /// Queues a flow's packets; `flow` tags them for the manifest.
    fn add(&mut self, mut outs: Vec<Out>, link: Option<&Link>, flow: Option<usize>) {
        outs.sort_by_key(|o| o.t);
        let mut prev = i64::MIN;
        for o in outs {
            let tag = match (flow, link, o.foreign) {
                (Some(f), Some(l), false) => Some(Tag {
                    flow: f,
                    fwd: o.fwd,
                    frag: o.frag,
                    vlan: !l.tags.is_empty(),
                    qinq: l.tags.len() >= 2,
                    mpls: !l.mpls.is_empty(),
                    ipv6_ext: l.is_v6() && (!l.ipv6_ext.is_empty() || o.frag != Frag::No),
                }),
                _ => None,
            };
            self.seq += 1;
            let fp = if o.foreign { i64::MIN } else { prev };
            if !o.foreign {
                prev = o.t;
            }
            self.heap.push(Pkt {
                key: o.t,
                seq: self.seq,
                data: o.data,
                flow_prev: fp,
                tag,
                force_disorder: o.force_disorder,
                overlap: o.overlap,
            });
        }
    }
    fn peek_key(&self) -> Option<i64> {
        self.heap.peek().map(|p| p.key)
    }
}

/// A packet of a named flow as written.
#[derive(Debug, Clone)]
struct PktRec {
    ts: i64,
    len: usize,
    file: String,
    index: u64,
    tag: Tag,
    disordered: bool,
    after_next_file_start: bool,
}

/// A named flow of the manifest.
#[derive(Debug)]
struct FlowRec {
    name: &'static str,
    description: &'static str,
    sensor: String,
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    vlan_ids: Vec<u16>,
    mpls: Vec<u32>,
    packets: Vec<PktRec>,
}

#[derive(Debug)]
struct FileRec {
    path: String,
    sensor: String,
    name_epoch: i64,
    first: i64,
    last: i64,
    min: i64,
    max: i64,
    packets: u64,
    bytes: u64,
}

struct OpenFile {
    epoch: i64,
    w: PcapFileWriter<BufWriter<File>>,
    rec: usize,
    index: u64,
    last_stamp: i64,
}

/// Writes one sensor's packets into rotating files.
struct Writer {
    root: PathBuf,
    sensor: String,
    rotate: i64,
    rng: Rng,
    cur: Option<OpenFile>,
    held: Option<Pkt>,
    files: Vec<FileRec>,
    warnings: Vec<String>,
}

impl Writer {
    /// The epoch (s) of the file that a packet at `key` µs would go to if it came next (or, for
    /// `None`, of the file that the held packet goes to).
    fn epoch_for(&self, key: Option<i64>) -> Option<i64> {
        let mut e = self.cur.as_ref().map(|c| c.epoch);
        for k in self.held.as_ref().map(|h| h.key).into_iter().chain(key) {
            match e {
                Some(ep) if k < ep * S + self.rotate * S => {}
                _ => e = Some(k.div_euclid(S)),
            }
        }
        e
    }

    fn push(&mut self, p: Pkt, flows: &mut [FlowRec]) -> Res<()> {
        if let Some(h) = self.held.take() {
            self.write(h, Some(&p), flows)?;
        }
        self.held = Some(p);
        Ok(())
    }

    fn finish(&mut self, flows: &mut [FlowRec]) -> Res<()> {
        if let Some(h) = self.held.take() {
            self.write(h, None, flows)?;
        }
        self.close()
    }

    fn close(&mut self) -> Res<()> {
        if let Some(c) = self.cur.take() {
            c.w.into_inner()?;
        }
        Ok(())
    }

    fn open(&mut self, epoch: i64) -> Res<()> {
        self.close()?;
        let day = Timestamp::from_secs(epoch).date_string();
        let rel = format!("{}/dailylogs/{day}/snort.log.{epoch}", self.sensor);
        let path = self.root.join(&rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let f = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        let w = PcapFileWriter::new(f, 1, 65535, false, false)?;
        self.files.push(FileRec {
            path: rel,
            sensor: self.sensor.clone(),
            name_epoch: epoch,
            first: 0,
            last: 0,
            min: i64::MAX,
            max: i64::MIN,
            packets: 0,
            bytes: 24,
        });
        self.cur = Some(OpenFile {
            epoch,
            w,
            rec: self.files.len() - 1,
            index: 0,
            last_stamp: i64::MIN,
        });
        Ok(())
    }

    fn write(&mut self, h: Pkt, next: Option<&Pkt>, flows: &mut [FlowRec]) -> Res<()> {
        let rotate = match &self.cur {
            None => true,
            Some(c) => h.key >= (c.epoch + self.rotate) * S,
        };
        let mut stamp = h.key;
        let mut after_next = false;
        if rotate {
            self.open(h.key.div_euclid(S))?;
        } else {
            let c = self.cur.as_ref().expect("open file");
            let next_rotates = next.is_some_and(|n| n.key >= (c.epoch + self.rotate) * S);
            let named = h.tag.is_some();
            if next_rotates && (h.overlap || (!named && self.rng.chance(1, 2))) {
                // The last packet of this file is stamped after the first of the next one.
                stamp = next.map_or(stamp, |n| n.key) + self.rng.range(500, 3_000);
                after_next = true;
            } else if h.force_disorder || (!named && self.rng.chance(1, 400)) {
                let d = self.rng.range(MS, 5 * MS);
                let s = c.last_stamp.saturating_sub(d);
                if s > h.flow_prev && s >= c.epoch * S && s < h.key {
                    stamp = s;
                } else if h.force_disorder {
                    self.warnings.push(format!(
                        "{}: could not stamp the packet at {} before its predecessor",
                        self.sensor, h.key
                    ));
                }
            }
            if h.overlap && !after_next {
                self.warnings.push(format!(
                    "{}: the packet at {} is not followed by a new file",
                    self.sensor, h.key
                ));
            }
        }
        let c = self.cur.as_mut().expect("open file");
        let disordered = stamp < c.last_stamp;
        let ts_raw = (stamp.div_euclid(S) as u32, stamp.rem_euclid(S) as u32);
        c.w.write_record(ts_raw, h.data.len() as u32, &h.data)?;
        let f = &mut self.files[c.rec];
        if f.packets == 0 {
            f.first = stamp;
        }
        f.last = stamp;
        f.min = f.min.min(stamp);
        f.max = f.max.max(stamp);
        f.packets += 1;
        f.bytes += 16 + h.data.len() as u64;
        if let Some(tag) = h.tag {
            flows[tag.flow].packets.push(PktRec {
                ts: stamp,
                len: h.data.len(),
                file: f.path.clone(),
                index: c.index,
                tag,
                disordered,
                after_next_file_start: after_next,
            });
        }
        c.index += 1;
        c.last_stamp = stamp;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Named flows

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    TcpV4,
    TcpV6,
    UdpDns,
    IcmpEcho,
    Icmp6Echo,
    VlanTcp,
    QinqTcp,
    MplsTcp,
    FragUdpV4,
    FragUdpV6,
    FragReordered,
    Reused1,
    Reused2,
    MidnightTcp,
    RotationOverlap,
    SharedTcp,
    UdpV4Options,
    UdpV6Ext,
}

impl Named {
    fn name(self) -> &'static str {
        match self {
            Named::TcpV4 => "tcp-v4",
            Named::TcpV6 => "tcp-v6",
            Named::UdpDns => "udp-dns",
            Named::IcmpEcho => "icmp-echo",
            Named::Icmp6Echo => "icmp6-echo",
            Named::VlanTcp => "vlan-tcp",
            Named::QinqTcp => "qinq-tcp",
            Named::MplsTcp => "mpls-tcp",
            Named::FragUdpV4 => "frag-udp-v4",
            Named::FragUdpV6 => "frag-udp-v6",
            Named::FragReordered => "frag-reordered",
            Named::Reused1 => "reused-1",
            Named::Reused2 => "reused-2",
            Named::MidnightTcp => "midnight-tcp",
            Named::RotationOverlap => "rotation-overlap",
            Named::SharedTcp => "shared-tcp",
            Named::UdpV4Options => "udp-v4-options",
            Named::UdpV6Ext => "udp-v6-ext",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Named::TcpV4 => "HTTP over IPv4: handshake, request, 3-segment response, FIN; the last ACK is stamped 1-5 ms before the packet written just before it",
            Named::TcpV6 => "TLS-like exchange over IPv6",
            Named::UdpDns => "DNS query and response over IPv4",
            Named::IcmpEcho => "4 ICMP echo request/reply pairs (ports are type 8 / code 0)",
            Named::Icmp6Echo => "3 ICMPv6 echo request/reply pairs (ports are type 128 / code 0)",
            Named::VlanTcp => "TCP on 802.1Q VLAN 100",
            Named::QinqTcp => "TCP on QinQ: 802.1ad S-tag 300, 802.1Q C-tag 20",
            Named::MplsTcp => "TCP under two MPLS labels (16001, 24002)",
            Named::FragUdpV4 => "UDP over IPv4; the 3600-byte response is 3 fragments in order",
            Named::FragUdpV6 => "UDP over IPv6; the 2400-byte response is 2 fragments (fragment header)",
            Named::FragReordered => "UDP over IPv4; the 3 response fragments are written last, first, middle",
            Named::Reused1 => "TCP; same 5-tuple as reused-2, about an hour earlier",
            Named::Reused2 => "TCP; same 5-tuple as reused-1, about an hour later",
            Named::MidnightTcp => "TCP with keepalive traffic from 20.5 s before to 25 s after midnight UTC (with the defaults all in one file, in the earlier day's directory)",
            Named::RotationOverlap => "UDP around a rotation: one packet at the end of file N is stamped after the first packet of file N+1",
            Named::SharedTcp => "TCP seen by every sensor (stamped 3 us later on each next sensor)",
            Named::UdpV4Options => "UDP over IPv4 with a router-alert option (IHL 6)",
            Named::UdpV6Ext => "UDP over IPv6 after hop-by-hop and destination-options headers",
        }
    }
}

/// A named flow scheduled on one sensor.
struct Plan {
    start: i64,
    kind: Named,
}

const GW_NAMED: Mac = [0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c];

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}
fn ip6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, last))
}

/// Builds a simple named TCP connection: handshake, exchanges `(request, response)` with
/// `pause` µs between them, close. Returns the packets.
fn named_tcp(
    link: Link,
    ports: (u16, u16),
    t0: i64,
    rtt: i64,
    exchanges: &[(Vec<u8>, Vec<u8>)],
    pause: i64,
    rng: &mut Rng,
) -> Tcp {
    let mut tcp = Tcp::new(link, ports.0, ports.1, rng);
    let mut t = tcp.handshake(t0, rtt);
    for (i, (q, a)) in exchanges.iter().enumerate() {
        if i > 0 {
            t += pause;
        }
        t = tcp.send(t + 200, true, q, rng, (20, 60));
        t = tcp.send(t + rtt, false, a, rng, (40, 300));
    }
    tcp.close(t + 10 * MS, true, rtt);
    tcp
}

/// Instantiates a named flow starting at `t0` on the sensor written by `w`. Returns the link
/// and the packets.
fn named_flow(kind: Named, t0: i64, w: &Writer, rng: &mut Rng) -> (Link, Vec<Out>) {
    let name = kind.name();
    let text = |what: &str| format!("capme {name} {what} ");
    match kind {
        Named::TcpV4 => {
            let link = Link::new(ip4(10, 10, 1, 10), ip4(10, 10, 1, 20), GW_NAMED);
            let mut tcp = Tcp::new(link, 51000, 80, rng);
            let rtt = 12 * MS;
            let mut t = tcp.handshake(t0, rtt);
            let req = http_request("tcp-v4.example", "/capme/tcp-v4", 300, rng);
            t = tcp.send(t + 200, true, &req, rng, (20, 60));
            let resp = body(&text("response"), 4000, rng);
            t = tcp.send(t + rtt, false, &resp, rng, (100, 300));
            // Client FIN, server FIN-ACK, then (40 ms later, delayed ACK) the last ACK, just
            // after an unrelated packet: the writer stamps it before that packet.
            let fin = t + 5 * MS;
            let f = TcpFlags::FIN | TcpFlags::ACK;
            tcp.seg(fin, true, f, &[]);
            tcp.seg(fin + rtt, false, f, &[]);
            let decoy_t = fin + rtt + 40 * MS;
            tcp.seg(decoy_t + 10, true, TcpFlags::ACK, &[])
                .force_disorder = true;
            let decoy_link = Link::new(ip4(192, 168, 1, 77), ip4(224, 0, 0, 251), GW_NAMED);
            let mut decoy = Conv::new(decoy_link, rng);
            let q = dns_message(0, "capme-decoy.local", false, 0, rng);
            decoy.udp(decoy_t, true, (5353, 5353), &q);
            let mut outs = tcp.c.out;
            for mut o in decoy.out {
                o.foreign = true;
                outs.push(o);
            }
            (tcp.c.link, outs)
        }
        Named::TcpV6 => {
            let link = Link::new(ip6(0x10), ip6(0x20), GW_NAMED);
            let ex = vec![
                (
                    body(&text("client hello"), 517, rng),
                    body(&text("server hello"), 2900, rng),
                ),
                (
                    body(&text("request"), 180, rng),
                    body(&text("reply"), 900, rng),
                ),
            ];
            let tcp = named_tcp(link, (51001, 443), t0, 30 * MS, &ex, 80 * MS, rng);
            (tcp.c.link, tcp.c.out)
        }
        Named::UdpDns => {
            let link = Link::new(ip4(10, 10, 2, 10), ip4(10, 10, 2, 53), GW_NAMED);
            let mut c = Conv::new(link, rng);
            let q = dns_message(0x1234, "udp-dns.capme.example", false, 0, rng);
            c.udp(t0, true, (53001, 53), &q);
            let a = dns_message(0x1234, "udp-dns.capme.example", true, 2, rng);
            c.udp(t0 + 7 * MS, false, (53001, 53), &a);
            (c.link, c.out)
        }
        Named::IcmpEcho | Named::Icmp6Echo => {
            let (link, n) = if kind == Named::IcmpEcho {
                (
                    Link::new(ip4(10, 10, 3, 10), ip4(10, 10, 3, 20), GW_NAMED),
                    4,
                )
            } else {
                (Link::new(ip6(0x30), ip6(0x40), GW_NAMED), 3)
            };
            let mut c = Conv::new(link, rng);
            for k in 0..n {
                let t = t0 + k as i64 * S;
                let p = ping_payload(k);
                c.icmp_echo(t, true, 0x04d2, k + 1, &p);
                c.icmp_echo(t + 3 * MS, false, 0x04d2, k + 1, &p);
            }
            (c.link, c.out)
        }
        Named::VlanTcp | Named::QinqTcp | Named::MplsTcp | Named::SharedTcp => {
            let (mut link, ports) = match kind {
                Named::VlanTcp => (
                    Link::new(ip4(10, 10, 4, 10), ip4(10, 10, 4, 20), GW_NAMED),
                    (52000, 8080),
                ),
                Named::QinqTcp => (
                    Link::new(ip4(10, 10, 5, 10), ip4(10, 10, 5, 20), GW_NAMED),
                    (52001, 22),
                ),
                Named::MplsTcp => (
                    Link::new(ip4(10, 10, 6, 10), ip4(10, 10, 6, 20), GW_NAMED),
                    (52002, 25),
                ),
                _ => (
                    Link::new(ip4(10, 10, 12, 10), ip4(10, 10, 12, 20), GW_NAMED),
                    (46000, 80),
                ),
            };
            match kind {
                Named::VlanTcp => link.tags = vec![(false, 100)],
                Named::QinqTcp => link.tags = vec![(true, 300), (false, 20)],
                Named::MplsTcp => link.mpls = vec![16001, 24002],
                _ => {}
            }
            // The shared flow's content must be the same on every sensor.
            let mut local = Rng::new(0x5ead);
            let r = if kind == Named::SharedTcp {
                &mut local
            } else {
                rng
            };
            let ex = vec![
                (
                    body(&text("request"), 240, r),
                    body(&text("response"), 2100, r),
                ),
                (
                    body(&text("request 2"), 90, r),
                    body(&text("response 2"), 400, r),
                ),
            ];
            let tcp = named_tcp(link, ports, t0, 8 * MS, &ex, 500 * MS, r);
            (tcp.c.link, tcp.c.out)
        }
        Named::FragUdpV4 | Named::FragUdpV6 | Named::FragReordered => {
            let (link, ports, size, pieces, order): (Link, (u16, u16), usize, usize, &[usize]) =
                match kind {
                    Named::FragUdpV4 => (
                        Link::new(ip4(10, 10, 7, 10), ip4(10, 10, 7, 20), GW_NAMED),
                        (40000, 7000),
                        3600,
                        3,
                        &[0, 1, 2],
                    ),
                    Named::FragUdpV6 => (
                        Link::new(ip6(0x70), ip6(0x71), GW_NAMED),
                        (40001, 7001),
                        2400,
                        2,
                        &[0, 1],
                    ),
                    _ => (
                        Link::new(ip4(10, 10, 8, 10), ip4(10, 10, 8, 20), GW_NAMED),
                        (40002, 7002),
                        3600,
                        3,
                        &[2, 0, 1],
                    ),
                };
            let mut c = Conv::new(link, rng);
            c.udp(t0, true, ports, &body(&text("request"), 40, rng));
            let big = body(&text("large response"), size, rng);
            let fid = 0x0c0f_fe00 + kind as u32;
            c.udp_frags(t0 + 4 * MS, false, ports, &big, pieces, order, 150, fid);
            c.udp(t0 + 9 * MS, true, ports, &body(&text("done"), 12, rng));
            (c.link, c.out)
        }
        Named::Reused1 | Named::Reused2 => {
            let link = Link::new(ip4(10, 10, 9, 10), ip4(10, 10, 9, 20), GW_NAMED);
            let ex = vec![(
                body(&text("request"), 200, rng),
                body(&text("response"), 1500, rng),
            )];
            let tcp = named_tcp(link, (44123, 443), t0, 20 * MS, &ex, 0, rng);
            (tcp.c.link, tcp.c.out)
        }
        Named::MidnightTcp => {
            let link = Link::new(ip4(10, 10, 10, 10), ip4(10, 10, 10, 20), GW_NAMED);
            let mut tcp = Tcp::new(link, 45000, 5222, rng);
            let rtt = 15 * MS;
            let mut t = tcp.handshake(t0, rtt);
            // t0 is 20.5 s before midnight: exchanges every 4 s until 25 s after it.
            for k in 0..12 {
                t = t.max(t0 + 500 * MS + k * 4 * S);
                let q = body(&text("ping"), 64, rng);
                t = tcp.send(t, true, &q, rng, (20, 60));
                let a = body(&text("pong"), 96, rng);
                t = tcp.send(t + rtt, false, &a, rng, (20, 60));
            }
            tcp.close(t0 + 45_500 * MS, false, rtt);
            (tcp.c.link, tcp.c.out)
        }
        Named::RotationOverlap => {
            // The next rotation boundary after t0, given what has been written: the file of a
            // packet at t0 ends at `b` (the first packet at or after `b` opens the next file).
            let epoch = w.epoch_for(Some(t0)).unwrap_or(t0.div_euclid(S));
            let b = (epoch + w.rotate) * S;
            // When a packet at t0 would open a new file, the first packet must be at t0:
            // a later one could find a file opened (with another name) in between.
            let opens = w.epoch_for(None) != Some(epoch);
            let p1 = if opens {
                t0
            } else {
                (b - 1_200 * MS).max(t0).min(b - 1)
            };
            let p2 = (p1 + MS).min(b - 1);
            let link = Link::new(ip4(10, 10, 11, 10), ip4(10, 10, 11, 20), GW_NAMED);
            let mut c = Conv::new(link, rng);
            let ports = (45001, 9999);
            c.udp(p1, true, ports, &body(&text("request 1"), 60, rng));
            c.udp(p2, false, ports, &body(&text("reply 1"), 80, rng));
            c.udp(b - 1, true, ports, &body(&text("request 2"), 60, rng));
            c.out.last_mut().expect("pushed").overlap = true;
            c.udp(b + 20 * S, false, ports, &body(&text("reply 2"), 80, rng));
            c.udp(
                b + 20 * S + MS,
                true,
                ports,
                &body(&text("request 3"), 60, rng),
            );
            // An unrelated packet opens the next file, unless background traffic comes first.
            let decoy_link = Link::new(ip4(192, 168, 1, 78), ip4(224, 0, 0, 251), GW_NAMED);
            let mut decoy = Conv::new(decoy_link, rng);
            let q = dns_message(0, "capme-overlap.local", false, 0, rng);
            decoy.udp(b + 300 * MS, true, (5353, 5353), &q);
            let mut outs = c.out;
            for mut o in decoy.out {
                o.foreign = true;
                outs.push(o);
            }
            (c.link, outs)
        }
        Named::UdpV4Options | Named::UdpV6Ext => {
            let (mut link, ports) = if kind == Named::UdpV4Options {
                (
                    Link::new(ip4(10, 10, 13, 10), ip4(10, 10, 13, 20), GW_NAMED),
                    (47000, 5004),
                )
            } else {
                (Link::new(ip6(0x80), ip6(0x81), GW_NAMED), (47001, 5005))
            };
            if kind == Named::UdpV4Options {
                link.ipv4_options = vec![0x94, 0x04, 0x00, 0x00];
            } else {
                link.ipv6_ext = vec![
                    Ipv6Ext::HopByHop(vec![5, 2, 0, 0]),
                    Ipv6Ext::DestOpts(vec![]),
                ];
            }
            let mut c = Conv::new(link, rng);
            c.udp(t0, true, ports, &body(&text("request"), 100, rng));
            c.udp(t0 + 2 * MS, false, ports, &body(&text("reply"), 300, rng));
            (c.link, c.out)
        }
    }
}

/// Where and when each named flow goes: per sensor, sorted by start.
fn plan(args: &Args, sensors: &[String]) -> Vec<Vec<Plan>> {
    let d = args.duration * S;
    let s1 = args.start * S;
    let second = usize::from(sensors.len() > 1);
    let s2 = sensor_start(args, second);
    let at = |base: i64, permille: i64, frac_us: i64| base + d * permille / 1000 + frac_us;
    let mut plans: Vec<Vec<Plan>> = sensors.iter().map(|_| Vec::new()).collect();
    let mut add = |sensor: usize, start: i64, kind: Named| plans[sensor].push(Plan { start, kind });
    add(0, at(s1, 50, 123_456), Named::TcpV4);
    add(0, at(s1, 80, 234_567), Named::TcpV6);
    add(0, at(s1, 110, 345_678), Named::UdpDns);
    add(0, at(s1, 140, 456_789), Named::IcmpEcho);
    add(0, at(s1, 170, 567_891), Named::VlanTcp);
    add(0, at(s1, 200, 678_912), Named::QinqTcp);
    add(second, at(s2, 220, 789_123), Named::MplsTcp);
    add(second, at(s2, 250, 891_234), Named::Icmp6Echo);
    add(0, at(s1, 280, 912_345), Named::FragUdpV4);
    add(0, at(s1, 310, 123_457), Named::FragUdpV6);
    add(0, at(s1, 340, 234_568), Named::FragReordered);
    add(0, at(s1, 370, 345_679), Named::UdpV4Options);
    add(second, at(s2, 390, 456_780), Named::UdpV6Ext);
    let r1 = at(s1, 60, 250_000);
    add(0, r1, Named::Reused1);
    let gap = if d > 3_700 * S { 3_617 * S } else { d / 2 };
    add(0, r1 + gap, Named::Reused2);
    add(0, at(s1, 450, 0), Named::RotationOverlap);
    for (i, _) in sensors.iter().enumerate() {
        let base = at(s1, 520, 654_321) + i as i64 * 3;
        add(i, base, Named::SharedTcp);
    }
    // The first midnight UTC with room around it.
    let mut m = (args.start.div_euclid(86_400) + 1) * 86_400 * S;
    while m < s1 + d {
        if m - 30 * S > s1 && m + 60 * S < s1 + d {
            add(0, m - 20_500 * MS, Named::MidnightTcp);
            break;
        }
        m += 86_400 * S;
    }
    for p in &mut plans {
        p.sort_by_key(|p| p.start);
    }
    plans
}

fn sensor_name(i: usize) -> String {
    format!("sensor{}-eth{}", i + 1, if i % 2 == 0 { 1 } else { 0 })
}

fn sensor_start(args: &Args, i: usize) -> i64 {
    (args.start + 137 * i as i64) * S
}

/// Mean bytes on disk (record header included) of one background flow.
fn mean_flow_bytes(ctx: &BgCtx, seed: u64) -> f64 {
    let mut rng = Rng::new(seed ^ 0xe57_1a7e);
    let n = 4000;
    let mut total = 0u64;
    for _ in 0..n {
        for o in background(&mut rng, 0, ctx) {
            total += 16 + o.data.len() as u64;
        }
    }
    total as f64 / n as f64
}

fn run(args: Args) -> Res<()> {
    if args.sensors == 0 || args.sensors > 9 {
        return Err("--sensors must be 1..=9".into());
    }
    if args.duration <= 0 || args.rotate <= 0 {
        return Err("--duration and --rotate must be positive".into());
    }
    if args.out.exists() && fs::read_dir(&args.out)?.next().is_some() {
        return Err(format!(
            "{}: directory is not empty; remove it first",
            args.out.display()
        )
        .into());
    }
    fs::create_dir_all(&args.out)?;
    let sensors: Vec<String> = (0..args.sensors).map(sensor_name).collect();
    let plans = plan(&args, &sensors);
    let mut flows: Vec<FlowRec> = Vec::new();
    let mut files: Vec<FileRec> = Vec::new();
    let mut warnings = Vec::new();
    let mut sensor_json = Vec::new();

    let per_sensor = args.target_bytes / args.sensors as u64;
    let cap = (per_sensor / 200).clamp(1_500, 4_000_000) as i64;
    for (si, sensor) in sensors.iter().enumerate() {
        let ctx = BgCtx {
            gw: [0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x10 + si as u8],
            cap,
        };
        let mean = mean_flow_bytes(&ctx, args.seed);
        // Named flows take about 40 kB on the first sensor and a few kB on the others.
        let named = if si == 0 { 40_000 } else { 10_000 };
        let budget = per_sensor.saturating_sub(named).max(per_sensor / 10) as f64;
        let flows_total = budget / mean;
        // Mean gap between flow starts in µs; gaps are uniform in [1, 2·mean].
        let mean_gap = ((args.duration * S) as f64 / flows_total.max(1.0)) as i64;
        let start = sensor_start(&args, si);
        let end = start + args.duration * S;
        let mut rng = Rng::new(args.seed.wrapping_mul(0x9e37_79b9).wrapping_add(si as u64));
        let mut named_rng = Rng::new(args.seed ^ 0xa11ce ^ ((si as u64) << 32));
        let mut w = Writer {
            root: args.out.clone(),
            sensor: sensor.clone(),
            rotate: args.rotate,
            rng: Rng::new(args.seed ^ 0xf11e ^ ((si as u64) << 40)),
            cur: None,
            held: None,
            files: Vec::new(),
            warnings: Vec::new(),
        };
        let mut q = Queue::default();
        let mut next_bg = start;
        let mut plan_iter = plans[si].iter().peekable();
        loop {
            let bg_t = (next_bg < end).then_some(next_bg);
            let named_t = plan_iter.peek().map(|p| p.start);
            let next = match (bg_t, named_t) {
                (None, None) => break,
                (Some(b), None) => b,
                (None, Some(n)) => n,
                (Some(b), Some(n)) => b.min(n),
            };
            while q.peek_key().is_some_and(|k| k < next) {
                let p = q.heap.pop().expect("peeked");
                w.push(p, &mut flows)?;
            }
            if named_t == Some(next) {
                let p = plan_iter.next().expect("peeked");
                let (link, outs) = named_flow(p.kind, p.start, &w, &mut named_rng);
                let idx = flows.len();
                let (src, dst) = (link.a, link.b);
                let (proto, sport, dport) = flow_ports(&outs, &link);
                flows.push(FlowRec {
                    name: p.kind.name(),
                    description: p.kind.description(),
                    sensor: sensor.clone(),
                    proto,
                    src,
                    sport,
                    dst,
                    dport,
                    vlan_ids: link.tags.iter().map(|t| t.1).collect(),
                    mpls: link.mpls.clone(),
                    packets: Vec::new(),
                });
                q.add(outs, Some(&link), Some(idx));
            } else {
                let outs = background(&mut rng, next, &ctx);
                q.add(outs, None, None);
                next_bg += rng.range(1, 2 * mean_gap.max(1));
            }
        }
        while let Some(p) = q.heap.pop() {
            w.push(p, &mut flows)?;
        }
        w.finish(&mut flows)?;
        let packets: u64 = w.files.iter().map(|f| f.packets).sum();
        let bytes: u64 = w.files.iter().map(|f| f.bytes).sum();
        sensor_json.push(json!({
            "name": sensor,
            "start": start / S,
            "files": w.files.len(),
            "packets": packets,
            "bytes": bytes,
        }));
        warnings.append(&mut w.warnings);
        files.append(&mut w.files);
    }

    let total: u64 = files.iter().map(|f| f.bytes).sum();
    for wmsg in &warnings {
        eprintln!("gen-store: warning: {wmsg}");
    }
    eprintln!(
        "gen-store: {} sensors, {} files, {} bytes, {} named flows in {}",
        sensors.len(),
        files.len(),
        total,
        flows.len(),
        args.out.display()
    );
    if let Some(path) = &args.manifest {
        let m = manifest(&args, &sensor_json, &files, &flows, total, &warnings);
        write_json(path, &m)?;
    }
    Ok(())
}

/// (protocol, source port, destination port) of a flow from its first own packet; ICMP gives
/// (type, code) of the request.
fn flow_ports(outs: &[Out], link: &Link) -> (u8, u16, u16) {
    let first = outs.iter().find(|o| !o.foreign && o.fwd);
    let Some(o) = first else { return (0, 0, 0) };
    let mut off = 14 + 4 * link.tags.len() + 4 * link.mpls.len();
    let d = &o.data;
    let (proto, l4) = if link.is_v6() {
        let mut next = d[off + 6];
        off += 40;
        while matches!(next, 0 | 43 | 60) {
            let len = (usize::from(d[off + 1]) + 1) * 8;
            next = d[off];
            off += len;
        }
        if next == 44 {
            next = d[off];
            off += 8;
        }
        (next, off)
    } else {
        (d[off + 9], off + usize::from(d[off] & 0xf) * 4)
    };
    let be = |i: usize| u16::from_be_bytes([d[i], d[i + 1]]);
    match proto {
        1 | 58 => (proto, u16::from(d[l4]), u16::from(d[l4 + 1])),
        _ => (proto, be(l4), be(l4 + 2)),
    }
}

fn ts_string(us: i64) -> String {
    format!("{}.{:06}", us.div_euclid(S), us.rem_euclid(S))
}

fn proto_name(p: u8) -> &'static str {
    match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "icmp6",
        _ => "other",
    }
}

fn manifest(
    args: &Args,
    sensors: &[Value],
    files: &[FileRec],
    flows: &[FlowRec],
    total: u64,
    warnings: &[String],
) -> Value {
    let files: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "path": f.path,
                "sensor": f.sensor,
                "name_epoch": f.name_epoch,
                "first_ts_ns": f.first * 1000,
                "last_ts_ns": f.last * 1000,
                "min_ts_ns": f.min * 1000,
                "max_ts_ns": f.max * 1000,
                "packet_count": f.packets,
                "bytes": f.bytes,
            })
        })
        .collect();
    let flows: Vec<Value> = flows
        .iter()
        .map(|f| {
            let first = f.packets.iter().map(|p| p.ts).min().unwrap_or(0);
            let last = f.packets.iter().map(|p| p.ts).max().unwrap_or(0);
            let packets: Vec<Value> = f
                .packets
                .iter()
                .map(|p| {
                    json!({
                        "ts_ns": p.ts * 1000,
                        "ts": ts_string(p.ts),
                        "len": p.len,
                        "file": p.file,
                        "index": p.index,
                        "dir": if p.tag.fwd { "fwd" } else { "rev" },
                        "flags": {
                            "vlan": p.tag.vlan,
                            "qinq": p.tag.qinq,
                            "mpls": p.tag.mpls,
                            "fragment": p.tag.frag != Frag::No,
                            "non_first_fragment": p.tag.frag == Frag::Later,
                            "ipv6_ext_headers": p.tag.ipv6_ext,
                            "disordered": p.disordered,
                            "after_next_file_start": p.after_next_file_start,
                        },
                    })
                })
                .collect();
            json!({
                "name": f.name,
                "description": f.description,
                "sensor": f.sensor,
                "proto": proto_name(f.proto),
                "proto_num": f.proto,
                "ip_version": if f.src.is_ipv6() { 6 } else { 4 },
                "src_ip": f.src.to_string(),
                "src_port": f.sport,
                "dst_ip": f.dst.to_string(),
                "dst_port": f.dport,
                "vlan_ids": f.vlan_ids,
                "mpls_labels": f.mpls,
                "first_ts": ts_string(first),
                "last_ts": ts_string(last),
                "first_ts_ns": first * 1000,
                "last_ts_ns": last * 1000,
                "packet_count": f.packets.len(),
                "bytes": f.packets.iter().map(|p| p.len).sum::<usize>(),
                "packets": packets,
            })
        })
        .collect();
    json!({
        "format": "capme-sample-store-manifest",
        "version": 1,
        "args": {
            "seed": args.seed,
            "sensors": args.sensors,
            "start": args.start,
            "duration": args.duration,
            "rotate": args.rotate,
            "target_bytes": args.target_bytes,
        },
        "pcap": {"linktype": 1, "snaplen": 65535, "precision": "us", "byte_order": "little"},
        "total_bytes": total,
        "warnings": warnings,
        "sensors": sensors,
        "files": files,
        "flows": flows,
    })
}

fn write_json(path: &Path, v: &Value) -> Res<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    fs::write(path, s)?;
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-store: {e}");
            ExitCode::FAILURE
        }
    }
}

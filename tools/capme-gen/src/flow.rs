//! Flows as lists of timed packets: the link between two hosts, a conversation (UDP, ICMP echo,
//! IP fragments), a TCP connection, and the payloads they carry.

use capme_core::testutil::packet::{Ipv6Ext, Mac, PacketBuilder, TcpFlags};
use capme_core::testutil::rng::Rng;
use std::net::IpAddr;

/// Which fragment a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frag {
    No,
    First,
    Later,
}

/// One packet of a flow script, before scheduling.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) t: i64,
    pub(crate) fwd: bool,
    pub(crate) data: Vec<u8>,
    pub(crate) frag: Frag,
    pub(crate) force_disorder: bool,
    pub(crate) overlap: bool,
    /// Not part of the flow (e.g. a decoy): never tagged.
    pub(crate) foreign: bool,
}

impl Out {
    /// A packet of the flow at `t`, not a fragment, not marked for disorder or overlap.
    pub(crate) fn new(t: i64, fwd: bool, data: Vec<u8>) -> Out {
        Out {
            t,
            fwd,
            data,
            frag: Frag::No,
            force_disorder: false,
            overlap: false,
            foreign: false,
        }
    }
}

/// The two ends of a flow and the link layer between them.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) a_mac: Mac,
    pub(crate) b_mac: Mac,
    pub(crate) a: IpAddr,
    pub(crate) b: IpAddr,
    /// (is 802.1ad S-tag, vid), outermost first.
    pub(crate) tags: Vec<(bool, u16)>,
    pub(crate) mpls: Vec<u32>,
    pub(crate) ttl_a: u8,
    pub(crate) ttl_b: u8,
    pub(crate) ipv4_options: Vec<u8>,
    pub(crate) ipv6_ext: Vec<Ipv6Ext>,
}

impl Link {
    pub(crate) fn new(a: IpAddr, b: IpAddr, gw: Mac) -> Self {
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
    pub(crate) fn builder(&self, fwd: bool) -> PacketBuilder {
        let (sm, dm, s, d, ttl) = if fwd {
            (self.a_mac, self.b_mac, self.a, self.b, self.ttl_a)
        } else {
            (self.b_mac, self.a_mac, self.b, self.a, self.ttl_b)
        };
        let mut pb = self.ethernet(sm, dm);
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
    /// An Ethernet frame from `src` to `dst` with the link's VLAN tags.
    pub(crate) fn ethernet(&self, src: Mac, dst: Mac) -> PacketBuilder {
        let mut pb = PacketBuilder::ethernet(src, dst);
        for &(stag, vid) in &self.tags {
            pb = if stag { pb.stag(vid) } else { pb.vlan(vid) };
        }
        pb
    }
    pub(crate) fn is_v6(&self) -> bool {
        self.a.is_ipv6()
    }
}

pub(crate) fn host_mac(ip: IpAddr) -> Mac {
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
pub(crate) struct Conv {
    pub(crate) link: Link,
    pub(crate) out: Vec<Out>,
    pub(crate) ids: [u16; 2],
}

impl Conv {
    pub(crate) fn new(link: Link, rng: &mut Rng) -> Self {
        Conv {
            link,
            out: Vec::new(),
            ids: [rng.below(65536) as u16, rng.below(65536) as u16],
        }
    }
    pub(crate) fn base(&mut self, fwd: bool) -> PacketBuilder {
        let i = usize::from(!fwd);
        self.ids[i] = self.ids[i].wrapping_add(1);
        self.link.builder(fwd).id(self.ids[i])
    }
    pub(crate) fn push(&mut self, t: i64, fwd: bool, data: Vec<u8>) -> &mut Out {
        self.out.push(Out::new(t, fwd, data));
        self.out.last_mut().expect("just pushed")
    }
    /// A UDP datagram, fragmented into `frags` pieces when `frags > 1`, pieces `order`ed.
    pub(crate) fn udp(&mut self, t: i64, fwd: bool, ports: (u16, u16), payload: &[u8]) {
        let (sp, dp) = if fwd { ports } else { (ports.1, ports.0) };
        let pb = self.base(fwd).udp(sp, dp).payload(payload);
        self.push(t, fwd, pb.build());
    }
    /// A fragmented UDP datagram: piece `order[k]` is written at `t + k * gap`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn udp_frags(
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
    pub(crate) fn icmp_echo(&mut self, t: i64, fwd: bool, ident: u16, seq: u16, payload: &[u8]) {
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
pub(crate) struct Tcp {
    pub(crate) c: Conv,
    pub(crate) cport: u16,
    pub(crate) sport: u16,
    pub(crate) seq: [u32; 2],
    pub(crate) mss: usize,
}

impl Tcp {
    pub(crate) fn new(link: Link, cport: u16, sport: u16, rng: &mut Rng) -> Self {
        let mss = if link.is_v6() { 1428 } else { 1448 };
        let mut c = Conv::new(link, rng);
        let seq = [rng.next_u64() as u32, rng.next_u64() as u32];
        c.out.reserve(16);
        Tcp {
            c,
            cport,
            sport,
            seq,
            mss,
        }
    }
    pub(crate) fn seg(&mut self, t: i64, fwd: bool, flags: TcpFlags, payload: &[u8]) -> &mut Out {
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
    pub(crate) fn handshake(&mut self, t: i64, rtt: i64) -> i64 {
        self.seg(t, true, TcpFlags::SYN, &[]);
        self.seg(t + rtt, false, TcpFlags::SYN | TcpFlags::ACK, &[]);
        self.seg(t + rtt + 40, true, TcpFlags::ACK, &[]);
        t + rtt + 40
    }
    /// `data` from one side in MSS segments spaced by `gap` µs, the other side ACKing every
    /// second segment; returns the time of the last packet.
    pub(crate) fn send(
        &mut self,
        t: i64,
        fwd: bool,
        data: &[u8],
        rng: &mut Rng,
        gap: (i64, i64),
    ) -> i64 {
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
    pub(crate) fn close(&mut self, t: i64, client_first: bool, rtt: i64) -> i64 {
        let f = TcpFlags::FIN | TcpFlags::ACK;
        self.seg(t, client_first, f, &[]);
        self.seg(t + rtt, !client_first, f, &[]);
        self.seg(t + rtt + 35, client_first, TcpFlags::ACK, &[]);
        t + rtt + 35
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads

pub(crate) const NAMES: &[&str] = &[
    "www.example.com",
    "mail.example.org",
    "cdn.example.net",
    "api.example.com",
    "ntp.example.org",
    "updates.example.net",
    "login.example.com",
];

pub(crate) fn dns_message(
    id: u16,
    name: &str,
    response: bool,
    answers: usize,
    rng: &mut Rng,
) -> Vec<u8> {
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
pub(crate) fn body(head: &str, len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let h = head.as_bytes();
    let n = h.len().min(len);
    v[..n].copy_from_slice(&h[..n]);
    rng.fill(&mut v[n..]);
    v
}

pub(crate) fn http_request(host: &str, path: &str, len: usize, rng: &mut Rng) -> Vec<u8> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: capme-gen/1\r\nX-Pad: ");
    let mut v = body(&head, len.max(head.len() + 4), rng);
    for b in v[head.len()..].iter_mut() {
        *b = b'a' + (*b % 26);
    }
    let n = v.len();
    v[n - 4..].copy_from_slice(b"\r\n\r\n");
    v
}

pub(crate) fn ping_payload(seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 56];
    p[..2].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(8) {
        *b = i as u8 + 8;
    }
    p
}

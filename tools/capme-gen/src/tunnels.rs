//! A store of tunnel traffic, for the encapsulation tests (issue 15): one inner TCP flow per
//! [`Case`], written once plain and once wrapped in the case's encapsulations (GRE with and
//! without key and sequence number, GRE bridging, GRE over IPv6, ERSPAN II and III, VXLAN,
//! GENEVE with options and with an IP payload, the four IP-in-IP kinds, PPPoE inside VXLAN,
//! VXLAN inside GRE), plus, in every tunnel, packets of another inner flow that must never
//! match, and plain background noise.
//!
//! Layout: `DIR/sensor1/dailylogs/2023-11-14/snort.log.<epoch>`, two legacy pcap files (µs,
//! link type 1), all packets between [`TunnelStore::start`] and [`TunnelStore::end`].
//!
//! ```no_run
//! let dir = std::path::Path::new("/tmp/tunnel-store");
//! let store = capme_gen::tunnels::tunnel_store(dir)?;
//! for case in &store.cases {
//!     println!("{}: {} plain, {} tunnelled", case.name, case.plain, case.tunnelled);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::Res;
use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::encap::{encapsulate, pppoe, Wrap};
use capme_core::testutil::packet::{PacketBuilder, TcpFlags};
use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One encapsulation case and what a query for its inner flow must find.
#[derive(Debug, Clone)]
pub struct Case {
    /// A short name (`vxlan`, `gre-key-seq`, `vxlan-in-gre`, ...).
    pub name: &'static str,
    /// The inner flow: client address and port, server address and port (TCP).
    pub inner: (IpAddr, u16, IpAddr, u16),
    /// The outer addresses of the tunnel (client side first).
    pub outer: (IpAddr, IpAddr),
    /// The IP protocol between the outer addresses (47 GRE, 17 UDP, 4 or 41 IP in IP).
    pub outer_proto: u8,
    /// Packets of the inner flow written without encapsulation.
    pub plain: u64,
    /// Packets of the inner flow written inside the tunnel.
    pub tunnelled: u64,
    /// Packets of the tunnel that carry another inner flow.
    pub others: u64,
    /// The `encapsulated.by` counts of an extraction of the tunnelled packets.
    pub by: BTreeMap<String, u64>,
    /// The tshark display filter protocol that sees the tunnel (`vxlan`, `gre`, `erspan`,
    /// `geneve`), if any.
    pub tshark: Option<&'static str>,
}

/// A generated tunnel store.
#[derive(Debug, Clone)]
pub struct TunnelStore {
    /// The store root.
    pub root: PathBuf,
    /// The capture files written.
    pub files: Vec<PathBuf>,
    /// The cases, in the order written.
    pub cases: Vec<Case>,
    /// Epoch second of the first packet.
    pub start: i64,
    /// Epoch second after the last packet.
    pub end: i64,
}

/// Epoch seconds of the first packet (2023-11-14T22:13:20Z).
const START: i64 = 1_700_000_000;
/// Seconds between the starts of two cases.
const CASE_SECONDS: i64 = 10;
/// Packets of each inner flow (each way: a handshake, data, FIN).
const FLOW_PACKETS: usize = 8;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("a literal address")
}

/// The packets (Ethernet frames) of a short TCP connection from `c` to `s`, and whether each
/// goes from the client.
fn connection(c: (IpAddr, u16), s: (IpAddr, u16)) -> Vec<(bool, Vec<u8>)> {
    let f = |from_client: bool, flags: TcpFlags, seq: u32, ack: u32, data: &[u8]| {
        let (a, b) = if from_client { (c, s) } else { (s, c) };
        let mac = |x: u8| [2, 0, 0, 0, 0, x];
        let (m1, m2) = if from_client { (1, 2) } else { (2, 1) };
        (
            from_client,
            PacketBuilder::ethernet(mac(m1), mac(m2))
                .ip(a.0, b.0)
                .tcp(a.1, b.1)
                .seq(seq)
                .ack(ack)
                .flags(flags)
                .payload(data)
                .build(),
        )
    };
    let (syn, ack, psh, fin) = (
        TcpFlags::SYN,
        TcpFlags::ACK,
        TcpFlags::PSH | TcpFlags::ACK,
        TcpFlags::FIN | TcpFlags::ACK,
    );
    let v = vec![
        f(true, syn, 100, 0, b""),
        f(false, syn | ack, 500, 101, b""),
        f(true, ack, 101, 501, b""),
        f(true, psh, 101, 501, b"GET / HTTP/1.1\r\n\r\n"),
        f(false, psh, 501, 119, b"HTTP/1.1 200 OK\r\n\r\nhello"),
        f(true, fin, 119, 525, b""),
        f(false, fin, 525, 120, b""),
        f(true, ack, 120, 526, b""),
    ];
    debug_assert_eq!(v.len(), FLOW_PACKETS);
    v
}

/// How a case wraps a frame: the outer tunnel last.
#[derive(Debug, Clone, Copy)]
enum How {
    One(Wrap),
    PppoeIn(Wrap),
    /// `inner` wrapped between `mid` addresses, then in `outer`.
    Nested {
        inner: Wrap,
        outer: Wrap,
    },
}

struct Spec {
    name: &'static str,
    v6_inner: bool,
    v6_outer: bool,
    how: How,
    by: &'static [&'static str],
    tshark: Option<&'static str>,
}

fn specs() -> Vec<Spec> {
    let gre = |key, seq, checksum| Wrap::Gre { key, seq, checksum };
    let s = |name, v6_inner, v6_outer, how, by, tshark| Spec {
        name,
        v6_inner,
        v6_outer,
        how,
        by,
        tshark,
    };
    vec![
        s(
            "gre",
            false,
            false,
            How::One(gre(None, None, false)),
            &["gre"],
            Some("gre"),
        ),
        s(
            "gre-key-seq",
            false,
            false,
            How::One(gre(Some(0x77), Some(1), true)),
            &["gre"],
            Some("gre"),
        ),
        s(
            "gre-teb",
            false,
            false,
            How::One(Wrap::GreTeb { key: Some(5) }),
            &["gre"],
            Some("gre"),
        ),
        s(
            "gre6",
            true,
            true,
            How::One(gre(Some(9), None, false)),
            &["gre"],
            Some("gre"),
        ),
        s(
            "erspan2",
            false,
            false,
            How::One(Wrap::Erspan2 {
                session: 100,
                seq: 1,
            }),
            &["erspan2"],
            Some("erspan"),
        ),
        s(
            "erspan3",
            true,
            false,
            How::One(Wrap::Erspan3 {
                session: 200,
                platform: true,
            }),
            &["erspan3"],
            Some("erspan"),
        ),
        s(
            "vxlan",
            false,
            false,
            How::One(Wrap::Vxlan { vni: 4242 }),
            &["vxlan"],
            Some("vxlan"),
        ),
        s(
            "vxlan6",
            true,
            true,
            How::One(Wrap::Vxlan { vni: 77 }),
            &["vxlan"],
            Some("vxlan"),
        ),
        s(
            "geneve",
            false,
            false,
            How::One(Wrap::Geneve {
                vni: 99,
                option_words: 4,
                ethernet: true,
            }),
            &["geneve"],
            Some("geneve"),
        ),
        s(
            "geneve-ip",
            true,
            false,
            How::One(Wrap::Geneve {
                vni: 98,
                option_words: 0,
                ethernet: false,
            }),
            &["geneve"],
            Some("geneve"),
        ),
        s(
            "ipip",
            false,
            false,
            How::One(Wrap::IpInIp),
            &["ipip"],
            None,
        ),
        s("6in4", true, false, How::One(Wrap::IpInIp), &["6in4"], None),
        s("4in6", false, true, How::One(Wrap::IpInIp), &["4in6"], None),
        s("6in6", true, true, How::One(Wrap::IpInIp), &["6in6"], None),
        s(
            "pppoe-in-vxlan",
            false,
            false,
            How::PppoeIn(Wrap::Vxlan { vni: 5 }),
            &["pppoe", "vxlan"],
            Some("vxlan"),
        ),
        s(
            "vxlan-in-gre",
            false,
            false,
            How::Nested {
                inner: Wrap::Vxlan { vni: 6 },
                outer: Wrap::Gre {
                    key: Some(3),
                    seq: None,
                    checksum: false,
                },
            },
            &["gre", "vxlan"],
            Some("vxlan"),
        ),
    ]
}

/// Writes the tunnel store under `dir` (created if needed) and returns what it holds.
pub fn tunnel_store(dir: &Path) -> Res<TunnelStore> {
    let day = dir.join("sensor1/dailylogs/2023-11-14");
    fs::create_dir_all(&day)?;
    let mut packets: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut cases = Vec::new();
    for (i, spec) in specs().into_iter().enumerate() {
        let n = i as u16;
        let t0 = (START + CASE_SECONDS * i as i64) * 1_000_000;
        let (c, s) = if spec.v6_inner {
            (
                ip(&format!("2001:db8:20::{}", n + 1)),
                ip("2001:db8:20::ff"),
            )
        } else {
            (ip(&format!("10.20.{n}.1")), ip(&format!("10.20.{n}.2")))
        };
        let (o1, o2) = if spec.v6_outer {
            (
                ip(&format!("2001:db8:99::{}", n + 1)),
                ip("2001:db8:99::ff"),
            )
        } else {
            (
                ip(&format!("192.0.2.{}", n + 1)),
                ip(&format!("198.51.100.{}", n + 1)),
            )
        };
        let (mid1, mid2) = (ip(&format!("172.16.{n}.1")), ip(&format!("172.16.{n}.2")));
        let port = 41_000 + n;
        let wrap = |from_client: bool, frame: &[u8]| -> Vec<u8> {
            let (a, b) = if from_client { (o1, o2) } else { (o2, o1) };
            match spec.how {
                How::One(w) => encapsulate(frame, a, b, w),
                How::PppoeIn(w) => encapsulate(&pppoe(frame, 0x10 + n), a, b, w),
                How::Nested { inner, outer } => {
                    let (m1, m2) = if from_client {
                        (mid1, mid2)
                    } else {
                        (mid2, mid1)
                    };
                    encapsulate(&encapsulate(frame, m1, m2, inner), a, b, outer)
                }
            }
        };
        let flow = connection((c, port), (s, 80));
        // The same connection on another client port: inside the tunnel only.
        let other = connection((c, port + 500), (s, 80));
        let ms = 1_000;
        for (k, (from_client, frame)) in flow.iter().enumerate() {
            let k = k as i64;
            packets.push((t0 + k * 100 * ms, frame.clone()));
            packets.push((t0 + 3_000 * ms + k * 100 * ms, wrap(*from_client, frame)));
        }
        for (k, (from_client, frame)) in other.iter().enumerate() {
            packets.push((
                t0 + 6_000 * ms + k as i64 * 100 * ms,
                wrap(*from_client, frame),
            ));
        }
        // Noise between the same hosts on another port, plain.
        let noise = connection((c, port + 1000), (s, 443));
        for (k, (_, frame)) in noise.iter().enumerate() {
            packets.push((t0 + 8_000 * ms + k as i64 * 50 * ms, frame.clone()));
        }
        let outer_proto = match spec.how {
            How::One(Wrap::IpInIp) if spec.v6_inner => 41,
            How::One(Wrap::IpInIp) => 4,
            How::One(Wrap::Vxlan { .. } | Wrap::Geneve { .. }) | How::PppoeIn(_) => 17,
            _ => 47,
        };
        cases.push(Case {
            name: spec.name,
            inner: (c, port, s, 80),
            outer: (o1, o2),
            outer_proto,
            plain: FLOW_PACKETS as u64,
            tunnelled: FLOW_PACKETS as u64,
            others: FLOW_PACKETS as u64,
            by: spec
                .by
                .iter()
                .map(|k| (k.to_string(), FLOW_PACKETS as u64))
                .collect(),
            tshark: spec.tshark,
        });
    }
    packets.sort_by_key(|p| p.0);
    let end = START + CASE_SECONDS * cases.len() as i64;
    let split = START + CASE_SECONDS * (cases.len() as i64 / 2);
    let mut files = Vec::new();
    for (from, to) in [(START, split), (split, end)] {
        let mut b = PcapBuilder::new(1, false, false);
        for (t, data) in packets
            .iter()
            .filter(|(t, _)| *t >= from * 1_000_000 && *t < to * 1_000_000)
        {
            b.packet(((t / 1_000_000) as u32, (t % 1_000_000) as u32), data);
        }
        let path = day.join(format!("snort.log.{from}"));
        b.write(&path)?;
        files.push(path);
    }
    Ok(TunnelStore {
        root: dir.to_path_buf(),
        files,
        cases,
        start: START,
        end,
    })
}

//! The named flows that tests look up in the manifest, and where and when each is placed.

use crate::flow::{body, dns_message, http_request, ping_payload, Conv, Link, Out, Tcp};
use crate::writer::Writer;
use crate::{sensor_start, Config, MS, S};
use capme_core::testutil::packet::{Ipv6Ext, Mac, TcpFlags};
use capme_core::testutil::rng::Rng;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Named {
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
    pub(crate) fn name(self) -> &'static str {
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

    pub(crate) fn description(self) -> &'static str {
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
pub(crate) struct Plan {
    pub(crate) start: i64,
    pub(crate) kind: Named,
}

pub(crate) const GW_NAMED: Mac = [0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c];

pub(crate) fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}
pub(crate) fn ip6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, last))
}

/// Builds a simple named TCP connection: handshake, exchanges `(request, response)` with
/// `pause` µs between them, close. Returns the packets.
pub(crate) fn named_tcp(
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
pub(crate) fn named_flow(kind: Named, t0: i64, w: &Writer, rng: &mut Rng) -> (Link, Vec<Out>) {
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
pub(crate) fn plan(args: &Config, sensors: &[String]) -> Vec<Vec<Plan>> {
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

/// (protocol, source port, destination port) of a flow from its first own packet; ICMP gives
/// (type, code) of the request.
pub(crate) fn flow_ports(outs: &[Out], link: &Link) -> (u8, u16, u16) {
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

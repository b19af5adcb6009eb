//! The background traffic mix: one random flow at a time (short and long TCP, DNS, ICMP echo,
//! NTP, syslog, ARP, fragmented UDP; IPv4 and IPv6; some on VLANs and QinQ).

use crate::flow::{body, dns_message, http_request, ping_payload, Conv, Link, Out, Tcp, NAMES};
use crate::{MS, S};
use capme_core::testutil::packet::Mac;
use capme_core::testutil::rng::Rng;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Per-sensor constants for background traffic.
pub(crate) struct BgCtx {
    pub(crate) gw: Mac,
    /// Largest TCP response, bytes.
    pub(crate) cap: i64,
}

pub(crate) fn bg_client(rng: &mut Rng, v6: bool) -> IpAddr {
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

pub(crate) fn bg_server(rng: &mut Rng, v6: bool) -> IpAddr {
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

pub(crate) fn bg_rtt(rng: &mut Rng) -> i64 {
    rng.bucket(&[(30, 150, 2_000), (50, 2_000, 40_000), (20, 40_000, 120_000)])
}

pub(crate) fn bg_link(rng: &mut Rng, v6: bool, ctx: &BgCtx) -> Link {
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
pub(crate) fn background(rng: &mut Rng, t0: i64, ctx: &BgCtx) -> Vec<Out> {
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
                    rng.next_u64() % 100_000
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
                let data = link
                    .ethernet(sm, dm)
                    .ethertype(0x0806)
                    .payload(&arp)
                    .min_len(60)
                    .build();
                out.push(Out::new(t0 + k * rng.range(100, 900), fwd, data));
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
            let fid = rng.next_u64() as u32;
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

/// Mean bytes on disk (record header included) of one background flow.
pub(crate) fn mean_flow_bytes(ctx: &BgCtx, seed: u64) -> f64 {
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

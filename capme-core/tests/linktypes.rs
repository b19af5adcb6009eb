//! Link types end to end: for each link type capme decodes beyond Ethernet (and for the
//! EtherTypes PPPoE, MACsec and NSH, and Ethernet with a trailing FCS), a capture file holding
//! one TCP flow's packets among noise (other flows, IPv6, frames of the link type that carry
//! the flow's bytes but must not be read: encrypted 802.11 and MACsec, PPP control protocols,
//! PPPoE discovery); an extraction of the flow must give exactly the flow's packets, bytes
//! unchanged, in an output whose header keeps the input's link-type field.
//!
//! Where tshark is installed, it counts the flow's packets in the same capture file and must
//! agree (a second, independent decoder of every header built here). Without it the comparison
//! is skipped with a message, unless `CAPME_REQUIRE_TOOLS` is set (CI), where a missing tshark
//! is a failure.

use capme_core::capture::CaptureReader;
use capme_core::testutil::capture::{PcapBuilder, PcapngBuilder};
use capme_core::testutil::link::{self as l, Wifi};
use capme_core::testutil::packet::{PacketBuilder, TcpFlags};
use capme_core::{FileSink, FlowSpec, Query, ScanOptions, Search, Store, TimeWindow};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

const T0: u32 = 1_700_000_000;
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn c6() -> Ipv6Addr {
    "2001:db8::10".parse().unwrap()
}

fn s6() -> Ipv6Addr {
    "2001:db8::20".parse().unwrap()
}

/// The flow's IP packets: a handshake, a request and a response, a FIN (10.0.0.1:40000 <->
/// 10.0.0.2:443, or between the IPv6 addresses).
fn flow(v6: bool) -> Vec<Vec<u8>> {
    let (c, s): (IpAddr, IpAddr) = if v6 {
        (c6().into(), s6().into())
    } else {
        (C.into(), S.into())
    };
    let a = TcpFlags::ACK;
    let seg = |fwd: bool, seq: u32, flags: TcpFlags, data: &[u8]| {
        let (src, dst, sp, dp) = if fwd {
            (c, s, 40000, 443)
        } else {
            (s, c, 443, 40000)
        };
        PacketBuilder::raw_ip()
            .ip(src, dst)
            .tcp(sp, dp)
            .seq(seq)
            .ack(1)
            .flags(flags)
            .payload(data)
            .build()
    };
    vec![
        seg(true, 100, TcpFlags::SYN, &[]),
        seg(false, 500, TcpFlags::SYN | a, &[]),
        seg(true, 101, a, &[]),
        seg(true, 101, a | TcpFlags::PSH, b"GET / HTTP/1.1\r\n\r\n"),
        seg(
            false,
            501,
            a | TcpFlags::PSH,
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ),
        seg(true, 119, a | TcpFlags::FIN, &[]),
    ]
}

/// IP packets of other flows: another port, another host, UDP, ICMP.
fn others(v6: bool) -> Vec<Vec<u8>> {
    let (c, s, x): (IpAddr, IpAddr, IpAddr) = if v6 {
        (c6().into(), s6().into(), "2001:db8::99".parse().unwrap())
    } else {
        (C.into(), S.into(), Ipv4Addr::new(10, 0, 0, 9).into())
    };
    let b = |src, dst| PacketBuilder::raw_ip().ip(src, dst);
    vec![
        b(c, s).tcp(40001, 443).payload(b"other port").build(),
        b(x, s).tcp(40000, 443).payload(b"other host").build(),
        b(c, s).udp(40000, 443).payload(b"udp").build(),
        if v6 {
            b(c, s).icmpv6(128, 0).echo(1, 1).build()
        } else {
            b(c, s).icmp(8, 0).echo(1, 1).build()
        },
    ]
}

/// One link-type case: the capture's link-type field, how an IP packet is framed (the index
/// lets a case vary its forms), and frames of the link type that hold the flow's bytes but
/// must not match.
struct Case {
    name: &'static str,
    field: u32,
    wrap: fn(usize, &[u8]) -> Vec<u8>,
    decoys: fn(&[u8]) -> Vec<Vec<u8>>,
}

fn no_decoys(_: &[u8]) -> Vec<Vec<u8>> {
    Vec::new()
}

fn eth(ip: &[u8]) -> Vec<u8> {
    l::ethernet(l::ethertype_of(ip), ip)
}

fn wifi_kind(i: usize) -> Wifi {
    Wifi {
        qos: i % 2 == 1,
        wds: i % 3 == 2,
        ht: i % 4 == 3,
        protected: false,
    }
}

fn protected_wifi(ip: &[u8]) -> Vec<u8> {
    l::ieee80211(
        l::ethertype_of(ip),
        ip,
        Wifi {
            protected: true,
            ..Wifi::default()
        },
    )
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "ppp",
            field: 9,
            wrap: |i, ip| l::ppp(l::ppp_protocol_of(ip), ip, i % 2 == 0, i % 3 == 0),
            decoys: |ip| {
                vec![
                    l::ppp(0xc021, ip, true, false),
                    l::ppp(0x8021, ip, true, false),
                ]
            },
        },
        Case {
            name: "ppp_hdlc",
            field: 50,
            wrap: |i, ip| l::ppp(l::ppp_protocol_of(ip), ip, true, i % 2 == 0),
            decoys: |ip| vec![l::ppp(0xc021, ip, true, false)],
        },
        Case {
            name: "ppp_ether",
            field: 51,
            wrap: |i, ip| l::pppoe(0x1000 + i as u16, ip),
            // A session frame of LCP (the IP bytes as its data).
            decoys: |ip| {
                let mut lcp = l::pppoe(7, ip);
                lcp[6..8].copy_from_slice(&[0xc0, 0x21]);
                vec![lcp]
            },
        },
        Case {
            name: "pppoe_ethertype",
            field: 1,
            wrap: |_, ip| l::ethernet(0x8864, &l::pppoe(7, ip)),
            // A discovery frame (PADI, on the discovery EtherType) with the IP bytes as tags.
            decoys: |ip| {
                let mut padi = l::pppoe(0, ip);
                padi[1] = 0x09;
                vec![l::ethernet(0x8863, &padi)]
            },
        },
        Case {
            name: "c_hdlc",
            field: 104,
            wrap: |_, ip| l::cisco_hdlc(l::ethertype_of(ip), ip),
            decoys: |ip| vec![l::cisco_hdlc(0x8035, ip)],
        },
        Case {
            name: "ieee802_11",
            field: 105,
            wrap: |i, ip| l::ieee80211(l::ethertype_of(ip), ip, wifi_kind(i)),
            decoys: |ip| vec![protected_wifi(ip)],
        },
        Case {
            name: "ieee802_11_radiotap",
            field: 127,
            wrap: |i, ip| l::radiotap(&l::ieee80211(l::ethertype_of(ip), ip, wifi_kind(i))),
            decoys: |ip| vec![l::radiotap(&protected_wifi(ip))],
        },
        Case {
            name: "ieee802_11_prism",
            field: 119,
            wrap: |i, ip| l::prism(&l::ieee80211(l::ethertype_of(ip), ip, wifi_kind(i))),
            decoys: |ip| vec![l::prism(&protected_wifi(ip))],
        },
        Case {
            name: "ieee802_11_avs",
            field: 163,
            wrap: |i, ip| l::avs(&l::ieee80211(l::ethertype_of(ip), ip, wifi_kind(i))),
            decoys: |ip| vec![l::avs(&protected_wifi(ip))],
        },
        Case {
            name: "pktap",
            field: 258,
            wrap: |_, ip| l::pktap(1, &eth(ip)),
            decoys: no_decoys,
        },
        Case {
            name: "pktap_dlt149",
            field: 149,
            wrap: |_, ip| l::pktap(1, &eth(ip)),
            decoys: no_decoys,
        },
        Case {
            name: "nflog",
            field: 239,
            wrap: |_, ip| l::nflog(ip, false),
            // The bridge family with an ARP hardware protocol: not IP.
            decoys: |ip| {
                let mut bridge = l::nflog(ip, false);
                bridge[0] = 7;
                bridge[8..10].copy_from_slice(&[0x08, 0x06]);
                vec![bridge]
            },
        },
        Case {
            name: "juniper_ether",
            field: 178,
            wrap: |i, ip| l::juniper_ether(&eth(ip), i % 2 == 0),
            decoys: no_decoys,
        },
        Case {
            name: "erf",
            field: 197,
            // Ethernet, IPv4/IPv6, HDLC/POS records with PPP and with Cisco HDLC.
            wrap: |i, ip| match i % 4 {
                0 => l::erf_ethernet(&eth(ip)),
                1 => l::erf(
                    if l::ethertype_of(ip) == l::ETH_IPV6 {
                        23
                    } else {
                        22
                    },
                    ip,
                ),
                2 => l::erf(1, &l::ppp(l::ppp_protocol_of(ip), ip, true, false)),
                _ => l::erf(1, &l::cisco_hdlc(l::ethertype_of(ip), ip)),
            },
            decoys: |ip| vec![l::erf(3, ip)],
        },
        Case {
            name: "ipoib",
            field: 242,
            wrap: |_, ip| l::ipoib(l::ethertype_of(ip), ip),
            decoys: no_decoys,
        },
        Case {
            name: "macsec",
            field: 1,
            wrap: |i, ip| l::ethernet(0x88e5, &l::macsec(l::ethertype_of(ip), ip, i % 2 == 0)),
            decoys: |ip| {
                let mut enc = l::macsec(l::ethertype_of(ip), ip, true);
                enc[0] |= 0x0c;
                vec![l::ethernet(0x88e5, &enc)]
            },
        },
        Case {
            name: "nsh",
            field: 1,
            wrap: |i, ip| {
                let inner = if i % 2 == 0 {
                    l::nsh(3, &eth(ip))
                } else {
                    let np = if l::ethertype_of(ip) == l::ETH_IPV6 {
                        2
                    } else {
                        1
                    };
                    l::nsh(np, ip)
                };
                l::ethernet(0x894f, &inner)
            },
            decoys: |ip| vec![l::ethernet(0x894f, &l::nsh(9, ip))],
        },
        Case {
            name: "ethernet_fcs",
            field: 0x2400_0001,
            wrap: |_, ip| [eth(ip), vec![0xde, 0xad, 0xbe, 0xef]].concat(),
            decoys: no_decoys,
        },
        Case {
            name: "ethernet_fcs_bits_without_flag",
            field: 0x3000_0001,
            wrap: |_, ip| eth(ip),
            decoys: no_decoys,
        },
    ]
}

/// A capture of `case`: the IPv4 and IPv6 flows and the noise, interleaved, one record per
/// 10 ms. Returns the file's bytes and the frames of each flow (IPv4, IPv6), in order, with
/// their raw timestamps.
type Frames = Vec<((u32, u32), Vec<u8>)>;

fn capture(case: &Case) -> (Vec<u8>, Frames, Frames) {
    let mut b = PcapBuilder::new(case.field, false, false);
    let (mut want4, mut want6) = (Vec::new(), Vec::new());
    let mut n = 0u32;
    let mut next = || {
        n += 1;
        (T0 + n / 100, (n % 100) * 10_000)
    };
    let (f4, f6, o4, o6) = (flow(false), flow(true), others(false), others(true));
    for i in 0..f4.len() {
        for (ip, want) in [(&f4[i], &mut want4), (&f6[i], &mut want6)] {
            let frame = (case.wrap)(i, ip);
            let ts = next();
            b.packet(ts, &frame);
            want.push((ts, frame));
        }
        for ip in [o4.get(i), o6.get(i)].into_iter().flatten() {
            b.packet(next(), &(case.wrap)(i, ip));
        }
        for decoy in (case.decoys)(&f4[i])
            .into_iter()
            .chain((case.decoys)(&f6[i]))
        {
            b.packet(next(), &decoy);
        }
    }
    (b.bytes(), want4, want6)
}

fn store_with(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let d = dir.join("store/sensor1/dailylogs/2023-11-14");
    fs::create_dir_all(&d).unwrap();
    let p = d.join(format!("{name}.pcap"));
    fs::write(&p, bytes).unwrap();
    p
}

fn query(v6: bool) -> Query {
    let (c, s) = if v6 {
        ("2001:db8::10".to_string(), "2001:db8::20".to_string())
    } else {
        (C.to_string(), S.to_string())
    };
    let flow = FlowSpec::parse_tuple(&c, Some("40000"), &s, Some("443"), Some("tcp")).unwrap();
    Query::new(
        flow,
        TimeWindow::parse(&T0.to_string(), &(T0 + 10).to_string()).unwrap(),
    )
}

/// Every record of a capture file: (raw timestamp, bytes).
fn records(path: &Path) -> Frames {
    let mut r = CaptureReader::open(path).unwrap();
    let mut v = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        v.push((rec.ts_raw, rec.data.to_vec()));
    }
    v
}

#[test]
fn every_link_type_gives_exactly_the_flows_packets_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let (bytes, want4, want6) = capture(&case);
        let sub = dir.path().join(case.name);
        store_with(&sub, case.name, &bytes);
        let store = Store::open([sub.join("store")]).unwrap();
        for (v6, want) in [(false, &want4), (true, &want6)] {
            let out = sub.join(format!("out-{v6}.pcap"));
            let mut sink = FileSink::create(&out).unwrap();
            let sum = store
                .extract(&query(v6), &mut sink)
                .unwrap_or_else(|e| panic!("{} v6={v6}: {e}", case.name));
            assert!(
                sum.warning_messages.is_empty(),
                "{}: {:?}",
                case.name,
                sum.warning_messages
            );
            assert_eq!(&records(&out), want, "{} v6={v6}", case.name);
            // The output's header: the input's link-type field (FCS bits as declared).
            let out_bytes = fs::read(&out).unwrap();
            let field = u32::from_le_bytes(out_bytes[20..24].try_into().unwrap());
            let declared = if case.field & 0x0400_0000 != 0 {
                case.field
            } else {
                case.field & 0xffff
            };
            assert_eq!(field, declared, "{}: output link-type field", case.name);
        }
    }
}

/// pcapng with `if_fcslen`: Ethernet frames with an FCS match, and the output (pcap) says the
/// FCS length as the pcap header can.
#[test]
fn pcapng_if_fcslen_frames_match_and_the_fcs_length_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut ng = PcapngBuilder::new();
    ng.section(false);
    let i = ng.interface_with_options(1, 65535, None, None, &[(13, &[32])]);
    let mut want = Vec::new();
    for (k, ip) in flow(false).iter().chain(&others(false)).enumerate() {
        let frame = [eth(ip), vec![0xde, 0xad, 0xbe, 0xef]].concat();
        let raw = (u64::from(T0) * 1_000_000) + k as u64;
        ng.epb(i, raw, &frame, frame.len() as u32);
        if k < 6 {
            want.push(frame);
        }
    }
    let d = dir.path().join("store/sensor1/dailylogs/2023-11-14");
    fs::create_dir_all(&d).unwrap();
    ng.write(d.join("fcs.pcapng")).unwrap();
    let store = Store::open([dir.path().join("store")]).unwrap();
    let out = dir.path().join("out.pcap");
    let mut sink = FileSink::create(&out).unwrap();
    store.extract(&query(false), &mut sink).unwrap();
    let got: Vec<Vec<u8>> = records(&out).into_iter().map(|(_, d)| d).collect();
    assert_eq!(got, want);
    let r = CaptureReader::open(&out).unwrap();
    assert_eq!(
        (r.interfaces()[0].linktype, r.interfaces()[0].fcs_bits),
        (1, Some(32))
    );
}

/// A file of a link type capme cannot decode, cut into segments scanned by several threads:
/// one warning for the file, naming the link type by number and name, counting every record.
#[test]
fn an_undecodable_link_type_is_one_warning_per_file_however_the_file_is_split() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough to be cut (capture::seek::MIN_PRUNE_SIZE, 4 MiB): 3000 records of 1514
    // bytes.
    let mut b = PcapBuilder::new(147, false, false);
    let mut frame = eth(&flow(false)[3]);
    frame.resize(1514, 0x55);
    let records = 3000u32;
    for k in 0..records {
        b.packet((T0 + k / 1000, (k % 1000) * 1000), &frame);
    }
    let path = store_with(dir.path(), "user0", &b.bytes());
    // A second file of another unknown link type, without a name.
    let mut b2 = PcapBuilder::new(4000, false, false);
    b2.packet((T0 + 1, 0), &frame);
    store_with(dir.path(), "zz-other", &b2.bytes());
    let store = Store::open([dir.path().join("store")]).unwrap();
    let q = query(false);
    let plan = store.plan(&q.window).unwrap();
    for threads in [1, 4] {
        let opts = ScanOptions {
            threads,
            segment_min_bytes: 16 << 10,
            ..Default::default()
        };
        let mut search = Search::with_options(plan.clone(), &q, &opts);
        assert_eq!(search.by_ref().count(), 0);
        let w = search.stats().warnings;
        let mine: Vec<&String> = w.iter().filter(|m| m.contains("user0")).collect();
        assert_eq!(
            mine,
            [&format!(
                "{}: link type 147 (USER0) is not supported; its {records} records were not searched",
                path.display()
            )],
            "threads {threads}: {w:?}"
        );
        assert!(
            w.iter().any(|m| m.contains("zz-other")
                && m.contains("link type 4000 is not supported; its 1 records")),
            "{w:?}"
        );
    }
}

/// tshark, when installed (see the module documentation).
fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CAPME_REQUIRE_TOOLS").is_some() {
            panic!("tshark is required (CAPME_REQUIRE_TOOLS is set); install it: apt-get install tshark");
        }
        eprintln!("skipping: tshark not installed (./scripts/test-all.sh installs it)");
    }
    ok
}

/// The number of packets of the flow tshark finds in `path`.
fn tshark_count(path: &Path, v6: bool) -> usize {
    let (ip, c, s) = if v6 {
        ("ipv6.addr", c6().to_string(), s6().to_string())
    } else {
        ("ip.addr", C.to_string(), S.to_string())
    };
    let filter =
        format!("{ip}=={c} && {ip}=={s} && tcp.port==40000 && tcp.port==443 && !icmp && !icmpv6");
    let o = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-Y", &filter])
        .output()
        .expect("tshark runs");
    assert!(
        o.status.success(),
        "tshark -r {}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).lines().count()
}

/// tshark decodes the same captures to the same flows: it finds exactly the flow's packets,
/// none of the decoys.
#[test]
fn tshark_finds_the_same_packets_in_every_link_type_capture() {
    if !have_tshark() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let (bytes, want4, want6) = capture(&case);
        let path = dir.path().join(format!("{}.pcap", case.name));
        fs::write(&path, bytes).unwrap();
        for (v6, want) in [(false, want4.len()), (true, want6.len())] {
            assert_eq!(
                tshark_count(&path, v6),
                want,
                "{} v6={v6}: tshark's count of the flow",
                case.name
            );
        }
    }
}

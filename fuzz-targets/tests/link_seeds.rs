//! The decoder's seeds for the link types beyond Ethernet, cooked captures, raw IP and
//! loopback: `fuzz/corpus/decoder/link-*`, one per link-layer form (IPv4 and IPv6), built with
//! `capme_core::testutil::link`. Each seed is the link type's position in
//! [`LINKTYPES`] followed by the frame.
//!
//! `cargo test -p capme-fuzz-targets --test link_seeds -- --ignored` writes them;
//! `committed_link_seeds_are_current` checks that the committed files are what this writes
//! and that every seed decodes to an IP packet (so they lead the fuzzer into each decoder).
//! `fuzz/make-seeds.py` leaves `link-*` alone.

use capme_core::testutil::link::{self as l, Wifi};
use capme_core::testutil::packet::PacketBuilder;
use capme_core::wire;
use capme_fuzz_targets::LINKTYPES;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decoder")
}

/// (file name, link type, frame) of every seed.
fn seeds() -> Vec<(String, u32, Vec<u8>)> {
    let v4 = PacketBuilder::raw_ip()
        .ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into())
        .tcp(40000, 443)
        .payload(b"GET /")
        .build();
    let v6 = PacketBuilder::raw_ip()
        .ipv6(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
        .udp(5353, 53)
        .payload(b"q")
        .build();
    let mut out = Vec::new();
    for (ver, ip) in [("v4", &v4), ("v6", &v6)] {
        let et = l::ethertype_of(ip);
        let pp = l::ppp_protocol_of(ip);
        let eth = l::ethernet(et, ip);
        let qos = l::ieee80211(
            et,
            ip,
            Wifi {
                qos: true,
                wds: true,
                ht: true,
                protected: false,
            },
        );
        let wifi = l::ieee80211(et, ip, Wifi::default());
        let np = if et == l::ETH_IPV6 { 2 } else { 1 };
        for (name, lt, frame) in [
            ("ppp", 9, l::ppp(pp, ip, true, false)),
            ("ppp-pfc", 9, l::ppp(pp, ip, false, true)),
            ("ppp-hdlc", 50, l::ppp(pp, ip, true, false)),
            ("ppp-hdlc-chdlc", 50, l::cisco_hdlc(et, ip)),
            ("pppoe", 51, l::pppoe(7, ip)),
            ("eth-pppoe", 1, l::ethernet(0x8864, &l::pppoe(7, ip))),
            ("chdlc", 104, l::cisco_hdlc(et, ip)),
            ("wifi", 105, wifi.clone()),
            ("wifi-qos-wds-ht", 105, qos),
            ("radiotap", 127, l::radiotap(&wifi)),
            ("prism", 119, l::prism(&wifi)),
            ("prism-avs", 119, l::avs(&wifi)),
            ("avs", 163, l::avs(&wifi)),
            ("pktap", 258, l::pktap(1, &eth)),
            ("pktap-149", 149, l::pktap(1, &eth)),
            ("nflog", 239, l::nflog(ip, false)),
            ("nflog-be", 239, l::nflog(ip, true)),
            ("juniper", 178, l::juniper_ether(&eth, false)),
            ("juniper-ext", 178, l::juniper_ether(&eth, true)),
            ("erf-eth", 197, l::erf_ethernet(&eth)),
            ("erf-ip", 197, l::erf(if np == 2 { 23 } else { 22 }, ip)),
            ("erf-pos", 197, l::erf(1, &l::ppp(pp, ip, true, false))),
            ("ipoib", 242, l::ipoib(et, ip)),
            ("macsec", 1, l::ethernet(0x88e5, &l::macsec(et, ip, true))),
            (
                "macsec-nosci",
                1,
                l::ethernet(0x88e5, &l::macsec(et, ip, false)),
            ),
            ("nsh", 1, l::ethernet(0x894f, &l::nsh(np, ip))),
            ("nsh-eth", 1, l::ethernet(0x894f, &l::nsh(3, &eth))),
        ] {
            out.push((format!("link-{name}-{ver}"), lt, frame));
        }
    }
    out
}

fn seed_bytes(lt: u32, frame: &[u8]) -> Vec<u8> {
    let pick = LINKTYPES
        .iter()
        .position(|&t| t == lt)
        .unwrap_or_else(|| panic!("link type {lt} is in LINKTYPES"));
    let mut b = vec![u8::try_from(pick).expect("fewer than 256 link types")];
    b.extend_from_slice(frame);
    b
}

#[test]
#[ignore = "writes fuzz/corpus/decoder/link-*; run it after changing the seeds"]
fn write_link_seeds() {
    for (name, lt, frame) in seeds() {
        std::fs::write(dir().join(name), seed_bytes(lt, &frame)).unwrap();
    }
}

#[test]
fn committed_link_seeds_are_current() {
    let seeds = seeds();
    for (name, lt, frame) in &seeds {
        assert!(
            wire::decode(*lt, frame).is_some_and(|d| d.ports.is_some()),
            "{name} decodes to a flow"
        );
        let path = dir().join(name);
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (run the ignored write_link_seeds)", path.display())
        });
        assert_eq!(committed, seed_bytes(*lt, frame), "{name} is stale");
    }
    // No stale link-* file left from an older list.
    let names: Vec<&str> = seeds.iter().map(|s| s.0.as_str()).collect();
    for e in std::fs::read_dir(dir()).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(
            !n.starts_with("link-") || names.contains(&n.as_str()),
            "{n} is not a seed"
        );
    }
}

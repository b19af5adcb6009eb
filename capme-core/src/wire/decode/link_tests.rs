//! Decoder tests of the link layers in `links.rs`: every link type and EtherType, IPv4 and
//! IPv6, each cut of each packet (never a panic; a cut link header is `None`), and mutations.

use super::*;
use crate::testutil::link::{self as l, Wifi, ETH_IPV4, ETH_IPV6};
use crate::testutil::packet::PacketBuilder;
use std::net::{Ipv4Addr, Ipv6Addr};

const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn a6() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}

fn b6() -> Ipv6Addr {
    "2001:db8::2".parse().unwrap()
}

fn v4() -> Vec<u8> {
    PacketBuilder::raw_ip()
        .ipv4(A4, B4)
        .tcp(40000, 443)
        .payload(b"hello")
        .build()
}

fn v6() -> Vec<u8> {
    PacketBuilder::raw_ip()
        .ipv6(a6(), b6())
        .udp(5353, 53)
        .payload(b"query")
        .build()
}

fn want(ip: &[u8]) -> Decoded {
    decode(LinkType::RAW, ip).expect("a raw IP packet decodes")
}

/// Every packet of every link type handled in `links.rs`: (link type, IP packet, frame).
fn cases() -> Vec<(u32, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for ip in [v4(), v6()] {
        let et = l::ethertype_of(&ip);
        let pp = l::ppp_protocol_of(&ip);
        let eth = l::ethernet(et, &ip);
        let wifi = l::ieee80211(et, &ip, Wifi::default());
        let mut add = |lt: u32, frame: Vec<u8>| out.push((lt, ip.clone(), frame));
        add(LinkType::PPP, l::ppp(pp, &ip, false, false));
        add(LinkType::PPP, l::ppp(pp, &ip, true, false));
        add(LinkType::PPP, l::ppp(pp, &ip, false, true));
        add(LinkType::PPP_HDLC, l::ppp(pp, &ip, true, false));
        add(LinkType::PPP_HDLC, l::ppp(pp, &ip, true, true));
        add(LinkType::PPP_HDLC, l::cisco_hdlc(et, &ip));
        add(LinkType::PPP_ETHER, l::pppoe(7, &ip));
        add(LinkType::ETHERNET, l::ethernet(0x8864, &l::pppoe(7, &ip)));
        add(LinkType::C_HDLC, l::cisco_hdlc(et, &ip));
        for kind in [
            Wifi::default(),
            Wifi {
                qos: true,
                ..Wifi::default()
            },
            Wifi {
                qos: true,
                wds: true,
                ht: true,
                ..Wifi::default()
            },
            Wifi {
                wds: true,
                ..Wifi::default()
            },
        ] {
            add(LinkType::IEEE802_11, l::ieee80211(et, &ip, kind));
        }
        add(LinkType::IEEE802_11_RADIOTAP, l::radiotap(&wifi));
        add(LinkType::IEEE802_11_PRISM, l::prism(&wifi));
        add(LinkType::IEEE802_11_PRISM, l::avs(&wifi));
        add(LinkType::IEEE802_11_AVS, l::avs(&wifi));
        add(LinkType::NFLOG, l::nflog(&ip, false));
        add(LinkType::NFLOG, l::nflog(&ip, true));
        add(LinkType::ERF, l::erf_ethernet(&eth));
        add(
            LinkType::ERF,
            l::erf(if et == ETH_IPV6 { 23 } else { 22 }, &ip),
        );
        add(LinkType::ERF, l::erf(1, &l::ppp(pp, &ip, true, false)));
        add(LinkType::ERF, l::erf(1, &l::cisco_hdlc(et, &ip)));
        add(LinkType::PKTAP, l::pktap(1, &eth));
        add(LinkType::DLT_PKTAP, l::pktap(1, &eth));
        add(LinkType::PKTAP, l::pktap(12, &ip));
        add(LinkType::JUNIPER_ETHER, l::juniper_ether(&eth, false));
        add(LinkType::JUNIPER_ETHER, l::juniper_ether(&eth, true));
        add(LinkType::IPOIB, l::ipoib(et, &ip));
        add(
            LinkType::ETHERNET,
            l::ethernet(0x88e5, &l::macsec(et, &ip, true)),
        );
        add(
            LinkType::ETHERNET,
            l::ethernet(0x88e5, &l::macsec(et, &ip, false)),
        );
        add(
            LinkType::ETHERNET,
            l::ethernet(0x894f, &l::nsh(if et == ETH_IPV6 { 2 } else { 1 }, &ip)),
        );
        add(LinkType::ETHERNET, l::ethernet(0x894f, &l::nsh(3, &eth)));
        // Tags on the way: a VLAN before PPPoE, MACsec inside a VLAN, NSH over MACsec.
        add(
            LinkType::ETHERNET,
            l::ethernet(
                0x8100,
                &[&[0, 5, 0x88, 0x64][..], &l::pppoe(7, &ip)].concat(),
            ),
        );
        add(
            LinkType::ETHERNET,
            l::ethernet(0x88e5, &l::macsec(0x894f, &l::nsh(3, &eth), true)),
        );
    }
    out
}

#[test]
fn wire_decode_every_link_layer() {
    for (lt, ip, frame) in cases() {
        assert_eq!(
            decode(lt, &frame),
            Some(want(&ip)),
            "link type {lt}: {frame:02x?}"
        );
        // The network layer is the IP packet itself (the ICV of MACsec, the padding of ERF
        // and an Ethernet FCS are after it, bounded by the IP length).
        let layer = network_layer(lt, &frame).unwrap();
        let (NetworkLayer::Ipv4(b) | NetworkLayer::Ipv6(b)) = layer;
        assert!(b.starts_with(&ip), "link type {lt}");
        // With a trailing FCS: the same flow.
        let mut fcs = frame.clone();
        fcs.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(decode(lt, &fcs), Some(want(&ip)), "link type {lt} + FCS");
        let d = decode_ip(lt, &fcs).unwrap();
        assert!(
            !d.payload.ends_with(&[0xde, 0xad, 0xbe, 0xef]),
            "link type {lt}: FCS as data"
        );
    }
}

#[test]
fn wire_decode_link_layer_cuts_never_panic() {
    for (lt, ip, frame) in cases() {
        let at = frame
            .windows(ip.len())
            .position(|w| w == ip)
            .expect("the IP packet inside the frame");
        for cut in 0..frame.len() {
            let got = decode(lt, &frame[..cut]);
            // Cut inside the link headers or the IP header: nothing to match on.
            if cut < at + 20 {
                assert_eq!(got, None, "link type {lt}, cut {cut}");
            }
        }
    }
}

#[test]
fn wire_decode_link_layers_not_followed() {
    let ip = v4();
    let wifi = |kind| l::ieee80211(ETH_IPV4, &ip, kind);
    // Protected 802.11, encrypted MACsec, PPPoE discovery, an unknown PPP protocol (LCP),
    // a PKTAP inside a PKTAP, an ERF ATM record, NFLOG of the bridge family, NSH to an
    // unknown protocol.
    let protected = wifi(Wifi {
        protected: true,
        ..Wifi::default()
    });
    assert_eq!(decode(LinkType::IEEE802_11, &protected), None);
    assert_eq!(
        decode(LinkType::IEEE802_11_RADIOTAP, &l::radiotap(&protected)),
        None
    );
    let mut enc = l::macsec(ETH_IPV4, &ip, true);
    enc[0] |= 0x0c;
    assert_eq!(decode(LinkType::ETHERNET, &l::ethernet(0x88e5, &enc)), None);
    let mut padi = l::pppoe(0, &ip);
    padi[1] = 0x09;
    assert_eq!(decode(LinkType::PPP_ETHER, &padi), None);
    assert_eq!(
        decode(LinkType::PPP, &l::ppp(0xc021, &ip, true, false)),
        None
    );
    let inner = l::pktap(1, &l::ethernet(ETH_IPV4, &ip));
    assert_eq!(
        decode(LinkType::PKTAP, &l::pktap(LinkType::PKTAP, &inner)),
        None
    );
    assert_eq!(decode(LinkType::PKTAP, &l::pktap(149, &inner)), None);
    assert_eq!(decode(LinkType::ERF, &l::erf(3, &ip)), None);
    // NFLOG of the bridge family: by the packet header's hardware protocol.
    let mut bridge = l::nflog(&ip, false);
    bridge[0] = 7;
    assert_eq!(decode(LinkType::NFLOG, &bridge), Some(want(&ip)));
    bridge[8..10].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(decode(LinkType::NFLOG, &bridge), None);
    assert_eq!(
        decode(LinkType::ETHERNET, &l::ethernet(0x894f, &l::nsh(9, &ip))),
        None
    );
    // The wrong IP version for the header's family or protocol.
    assert_eq!(
        decode(LinkType::PPP, &l::ppp(0x0057, &ip, true, false)),
        None
    );
}

#[test]
fn wire_decode_link_layer_mutations_never_panic() {
    let mut rng = crate::testutil::rng::Rng::new(0x005e_ed0f_11e5);
    let mut next = move || rng.next_u64();
    let cases = cases();
    for _ in 0..20_000 {
        let (lt, _, frame) = &cases[(next() % cases.len() as u64) as usize];
        let mut pkt = frame.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() % pkt.len() as u64) as usize;
            pkt[at] = next() as u8;
        }
        let cut = (next() % (pkt.len() as u64 + 1)) as usize;
        for p in [&pkt[..], &pkt[..cut]] {
            let layer = network_layer(*lt, p);
            if let Some(NetworkLayer::Ipv4(b) | NetworkLayer::Ipv6(b)) = layer {
                let inside = p.as_ptr_range();
                assert!(
                    b.is_empty()
                        || (inside.start <= b.as_ptr() && b.as_ptr_range().end <= inside.end)
                );
            }
            let _ = decode(*lt, p);
            let _ = decode_ip(*lt, p);
        }
    }
}

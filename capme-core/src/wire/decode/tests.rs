//! Decoder tests, with packet builders of their own (independent of testutil on purpose).

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

// ---- packet builders (local on purpose: independent of testutil) ----

const V4_SRC: [u8; 4] = [192, 0, 2, 1];
const V4_DST: [u8; 4] = [198, 51, 100, 7];

fn v6_src() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}

fn v6_dst() -> Ipv6Addr {
    "2001:db8:ffff::9".parse().unwrap()
}

fn ports(sport: u16, dport: u16) -> Vec<u8> {
    let mut b = sport.to_be_bytes().to_vec();
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&[0xaa; 16]); // rest of a transport header
    b
}

fn icmp(msg_type: u8, code: u8) -> Vec<u8> {
    vec![msg_type, code, 0x12, 0x34, 0, 1, 0, 1]
}

/// IPv4 with `opts` option bytes (multiple of 4), flags/offset word and identification.
fn ipv4_full(proto: u8, payload: &[u8], opts: usize, flg_off: u16, id: u16) -> Vec<u8> {
    let header_len = 20 + opts;
    let total = (header_len + payload.len()) as u16;
    let mut p = vec![0x40 | (header_len / 4) as u8, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&flg_off.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&V4_SRC);
    p.extend_from_slice(&V4_DST);
    p.resize(header_len, 0x01); // NOP options
    p.extend_from_slice(payload);
    p
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_full(proto, payload, 0, 0x4000, 0x0101)
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&v6_src().octets());
    p.extend_from_slice(&v6_dst().octets());
    p.extend_from_slice(payload);
    p
}

/// A generic extension header (hop-by-hop, routing, destination options) of `units` × 8
/// bytes followed by `rest`.
fn ext(next: u8, units: u8, rest: &[u8]) -> Vec<u8> {
    let mut h = vec![next, units - 1];
    h.resize(usize::from(units) * 8, 0);
    h.extend_from_slice(rest);
    h
}

/// An authentication header with a 12-byte ICV: (3 + 3) * 4 = 24 bytes, length field 4.
fn auth(next: u8, rest: &[u8]) -> Vec<u8> {
    let mut h = vec![next, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9];
    h.resize(24, 0xcc);
    h.extend_from_slice(rest);
    h
}

fn frag6(next: u8, offset: u16, more: bool, id: u32, rest: &[u8]) -> Vec<u8> {
    let mut h = vec![next, 0];
    h.extend_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(rest);
    h
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn vlan(vid: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = vid.to_be_bytes().to_vec();
    t.extend_from_slice(&ethertype.to_be_bytes());
    t.extend_from_slice(payload);
    t
}

fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let bos = if i + 1 == labels.len() { 0x100 } else { 0 };
        b.extend_from_slice(&((label << 12) | bos | 64).to_be_bytes());
    }
    b.extend_from_slice(payload);
    b
}

fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    h.extend_from_slice(&protocol.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = protocol.to_be_bytes().to_vec();
    h.extend_from_slice(&[0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    h.extend_from_slice(payload);
    h
}

fn v4_flow(proto: Proto, ports: Option<(u16, u16)>) -> Decoded {
    Decoded {
        src: IpAddr::V4(Ipv4Addr::from(V4_SRC)),
        dst: IpAddr::V4(Ipv4Addr::from(V4_DST)),
        proto,
        ports,
        frag: None,
    }
}

fn v6_flow(proto: Proto, ports: Option<(u16, u16)>) -> Decoded {
    Decoded {
        src: IpAddr::V6(v6_src()),
        dst: IpAddr::V6(v6_dst()),
        proto,
        ports,
        frag: None,
    }
}

const ETH: u32 = 1;
const IPV4: u16 = 0x0800;
const IPV6: u16 = 0x86dd;

// ---- transport ----

#[test]
fn wire_decode_transports_v4() {
    for proto in [Proto::TCP, Proto::UDP, Proto::SCTP, Proto::UDPLITE] {
        let pkt = eth(IPV4, &ipv4(proto.0, &ports(40000, 443)));
        assert_eq!(
            decode(ETH, &pkt),
            Some(v4_flow(proto, Some((40000, 443)))),
            "{proto}"
        );
    }
    let pkt = eth(IPV4, &ipv4(1, &icmp(8, 0)));
    assert_eq!(decode(ETH, &pkt), Some(v4_flow(Proto::ICMP, Some((8, 0)))));
    let pkt = eth(IPV4, &ipv4(1, &icmp(3, 13)));
    assert_eq!(decode(ETH, &pkt), Some(v4_flow(Proto::ICMP, Some((3, 13)))));
    // Unknown protocol (GRE, not entered): the outer pair, no ports.
    let inner = ipv4(6, &ports(1, 2));
    let mut gre = vec![0, 0, 0x08, 0x00];
    gre.extend_from_slice(&inner);
    let pkt = eth(IPV4, &ipv4(47, &gre));
    assert_eq!(decode(ETH, &pkt), Some(v4_flow(Proto(47), None)));
}

#[test]
fn wire_decode_transports_v6() {
    for proto in [Proto::TCP, Proto::UDP, Proto::SCTP, Proto::UDPLITE] {
        let pkt = eth(IPV6, &ipv6(proto.0, &ports(5353, 53)));
        assert_eq!(decode(ETH, &pkt), Some(v6_flow(proto, Some((5353, 53)))));
    }
    let pkt = eth(IPV6, &ipv6(58, &icmp(128, 0)));
    assert_eq!(
        decode(ETH, &pkt),
        Some(v6_flow(Proto::ICMP6, Some((128, 0))))
    );
    let pkt = eth(IPV6, &ipv6(46, &[0; 20]));
    assert_eq!(decode(ETH, &pkt), Some(v6_flow(Proto(46), None)));
}

#[test]
fn wire_decode_truncated_transport() {
    // Ports need 4 bytes, ICMP 2: fewer give a Decoded without ports.
    let pkt = eth(IPV4, &ipv4(6, &[0x9c, 0x40, 0x01]));
    assert_eq!(decode(ETH, &pkt), Some(v4_flow(Proto::TCP, None)));
    let pkt = eth(IPV4, &ipv4(6, &[0x9c, 0x40, 0x01, 0xbb]));
    assert_eq!(
        decode(ETH, &pkt),
        Some(v4_flow(Proto::TCP, Some((40000, 443))))
    );
    let pkt = eth(IPV6, &ipv6(58, &[128]));
    assert_eq!(decode(ETH, &pkt), Some(v6_flow(Proto::ICMP6, None)));
    let pkt = eth(IPV6, &ipv6(17, &[]));
    assert_eq!(decode(ETH, &pkt), Some(v6_flow(Proto::UDP, None)));
}

// ---- link layers ----

#[test]
fn wire_decode_link_types() {
    let v4 = ipv4(17, &ports(1000, 53));
    let v6 = ipv6(6, &ports(1000, 22));
    let want4 = Some(v4_flow(Proto::UDP, Some((1000, 53))));
    let want6 = Some(v6_flow(Proto::TCP, Some((1000, 22))));
    for raw in [12, 14, 101] {
        assert_eq!(decode(raw, &v4), want4, "linktype {raw}");
        assert_eq!(decode(raw, &v6), want6, "linktype {raw}");
        assert_eq!(decode(raw, &[0x50; 40]), None);
        assert_eq!(decode(raw, &[]), None);
    }
    assert_eq!(decode(228, &v4), want4);
    assert_eq!(decode(229, &v6), want6);
    assert_eq!(decode(228, &v6), None);
    assert_eq!(decode(229, &v4), None);
    assert_eq!(decode(113, &sll(IPV4, &v4)), want4);
    assert_eq!(decode(113, &sll(IPV6, &v6)), want6);
    assert_eq!(decode(113, &sll(0x8100, &vlan(7, IPV6, &v6))), want6);
    assert_eq!(decode(113, &sll(0x0806, &v4)), None);
    assert_eq!(decode(276, &sll2(IPV4, &v4)), want4);
    assert_eq!(decode(276, &sll2(IPV6, &v6)), want6);
    assert_eq!(decode(276, &sll2(0x88a8, &vlan(7, IPV4, &v4))), want4);
    assert_eq!(decode(276, &sll2(0x0004, &v4)), None);
    // Unknown link types and EtherTypes.
    assert_eq!(decode(147, &v4), None);
    assert_eq!(decode(ETH, &eth(0x0806, &v4)), None);
    assert_eq!(decode(ETH, &eth(0x0800, &v6)), None);
    assert_eq!(decode(ETH, &eth(0x86dd, &v4)), None);
}

#[test]
fn wire_decode_null_and_loop() {
    let v4 = ipv4(6, &ports(1, 2));
    let v6 = ipv6(17, &ports(3, 4));
    let with = |family: [u8; 4], ip: &[u8]| {
        let mut p = family.to_vec();
        p.extend_from_slice(ip);
        p
    };
    let want4 = Some(v4_flow(Proto::TCP, Some((1, 2))));
    let want6 = Some(v6_flow(Proto::UDP, Some((3, 4))));
    // NULL: host byte order, either order accepted.
    assert_eq!(decode(0, &with(2u32.to_le_bytes(), &v4)), want4);
    assert_eq!(decode(0, &with(2u32.to_be_bytes(), &v4)), want4);
    for af in [10u32, 24, 28, 30] {
        assert_eq!(decode(0, &with(af.to_le_bytes(), &v6)), want6, "AF {af}");
        assert_eq!(decode(0, &with(af.to_be_bytes(), &v6)), want6, "AF {af}");
        // LOOP: network byte order only.
        assert_eq!(decode(108, &with(af.to_be_bytes(), &v6)), want6, "AF {af}");
        assert_eq!(decode(108, &with(af.to_le_bytes(), &v6)), None, "AF {af}");
    }
    assert_eq!(decode(108, &with(2u32.to_be_bytes(), &v4)), want4);
    assert_eq!(decode(0, &with(7u32.to_le_bytes(), &v4)), None);
    assert_eq!(decode(0, &[2, 0, 0]), None);
}

#[test]
fn wire_decode_vlan_stacks() {
    let v4 = ipv4(6, &ports(80, 8080));
    let want = Some(v4_flow(Proto::TCP, Some((80, 8080))));
    assert_eq!(decode(ETH, &eth(0x8100, &vlan(10, IPV4, &v4))), want);
    assert_eq!(decode(ETH, &eth(0x9100, &vlan(10, IPV4, &v4))), want);
    let qinq = vlan(100, 0x8100, &vlan(10, IPV4, &v4));
    assert_eq!(decode(ETH, &eth(0x88a8, &qinq)), want);
    // A deep stack of mixed tags.
    let mut inner = vlan(1, IPV4, &v4);
    for (i, tpid) in [0x8100u16, 0x88a8, 0x9100]
        .iter()
        .cycle()
        .take(60)
        .enumerate()
    {
        inner = vlan(i as u16, *tpid, &inner);
    }
    assert_eq!(decode(ETH, &eth(0x8100, &inner)), want);
    // A stack of nothing but tags ends when the bytes do.
    let tags: Vec<u8> = [0x00, 0x01, 0x81, 0x00].repeat(1000);
    assert_eq!(decode(ETH, &eth(0x8100, &tags)), None);
    // VLAN then an unknown EtherType; a truncated tag.
    assert_eq!(decode(ETH, &eth(0x8100, &vlan(1, 0x0806, &v4))), None);
    assert_eq!(decode(ETH, &eth(0x8100, &[0, 1, 8])), None);
}

#[test]
fn wire_decode_mpls() {
    let v4 = ipv4(17, &ports(4789, 4789));
    let v6 = ipv6(6, &ports(179, 50000));
    let want4 = Some(v4_flow(Proto::UDP, Some((4789, 4789))));
    let want6 = Some(v6_flow(Proto::TCP, Some((179, 50000))));
    assert_eq!(decode(ETH, &eth(0x8847, &mpls(&[16], &v4))), want4);
    assert_eq!(decode(ETH, &eth(0x8848, &mpls(&[16, 17, 18], &v6))), want6);
    // MPLS under VLAN, and under SLL.
    let tagged = vlan(5, 0x8847, &mpls(&[100, 200], &v4));
    assert_eq!(decode(ETH, &eth(0x8100, &tagged)), want4);
    assert_eq!(decode(113, &sll(0x8847, &mpls(&[3], &v6))), want6);
    // Ethernet pseudowire (control word, first nibble 0) and other payloads: not IP.
    let mut pw = vec![0, 0, 0, 0];
    pw.extend_from_slice(&eth(IPV4, &v4));
    assert_eq!(decode(ETH, &eth(0x8847, &mpls(&[16], &pw))), None);
    // No bottom of stack before the end, empty payload after it.
    let no_bos = [0u8, 1, 0, 64].repeat(50);
    assert_eq!(decode(ETH, &eth(0x8847, &no_bos)), None);
    assert_eq!(decode(ETH, &eth(0x8847, &mpls(&[16], &[]))), None);
    assert_eq!(decode(ETH, &eth(0x8847, &[0, 1, 1])), None);
}

// ---- IPv4 ----

#[test]
fn wire_decode_ipv4_options_and_lengths() {
    for opts in [4, 8, 40] {
        let pkt = eth(IPV4, &ipv4_full(6, &ports(22, 60000), opts, 0, 1));
        assert_eq!(
            decode(ETH, &pkt),
            Some(v4_flow(Proto::TCP, Some((22, 60000)))),
            "{opts} option bytes"
        );
    }
    // Ethernet padding after a short datagram is not read as transport bytes: total length
    // 22 leaves 2 bytes of UDP, so no ports although the frame has more bytes.
    let mut short = ipv4(17, &[0x00, 0x35]);
    short.extend_from_slice(&[0x00, 0x35, 0, 0, 0, 0]);
    assert_eq!(
        decode(ETH, &eth(IPV4, &short)),
        Some(v4_flow(Proto::UDP, None))
    );
    // Total length beyond the capture (snap length): decode what is there.
    let mut cut = ipv4(17, &ports(1, 2));
    cut[2..4].copy_from_slice(&1500u16.to_be_bytes());
    assert_eq!(
        decode(ETH, &eth(IPV4, &cut)),
        Some(v4_flow(Proto::UDP, Some((1, 2))))
    );
    // Malformed: IHL < 5, IHL past the capture, version 5.
    let good = ipv4(6, &ports(1, 2));
    for first in [0x44u8, 0x4f, 0x55] {
        let mut bad = good.clone();
        bad[0] = first;
        if first == 0x4f {
            bad.truncate(40);
        }
        assert_eq!(decode(ETH, &eth(IPV4, &bad)), None, "{first:#x}");
    }
}

#[test]
fn wire_decode_ipv4_fragments() {
    let payload = ports(5000, 53);
    // First fragment: ports, offset 0, MF.
    let first = eth(IPV4, &ipv4_full(17, &payload, 0, 0x2000, 0xbeef));
    let d = decode(ETH, &first).unwrap();
    assert_eq!(d.ports, Some((5000, 53)));
    assert_eq!(
        d.frag,
        Some(Fragment {
            id: 0xbeef,
            offset: 0,
            more: true
        })
    );
    // Middle fragment: no ports even though the bytes look like some.
    let middle = eth(IPV4, &ipv4_full(17, &payload, 0, 0x2000 | 185, 0xbeef));
    let d = decode(ETH, &middle).unwrap();
    assert_eq!((d.proto, d.ports), (Proto::UDP, None));
    assert_eq!(
        d.frag,
        Some(Fragment {
            id: 0xbeef,
            offset: 185,
            more: true
        })
    );
    assert_ne!(d.frag.unwrap().offset, 0);
    // Last fragment: MF clear, offset set.
    let last = eth(IPV4, &ipv4_full(17, &payload, 4, 370, 0xbeef));
    let d = decode(ETH, &last).unwrap();
    assert_eq!(d.ports, None);
    assert_eq!(
        d.frag,
        Some(Fragment {
            id: 0xbeef,
            offset: 370,
            more: false
        })
    );
    // DF only: not a fragment.
    let whole = eth(IPV4, &ipv4_full(17, &payload, 0, 0x4000, 0xbeef));
    assert_eq!(decode(ETH, &whole).unwrap().frag, None);
}

// ---- IPv6 ----

#[test]
fn wire_decode_ipv6_extension_headers() {
    let tcp = ports(443, 50001);
    let want = Some(v6_flow(Proto::TCP, Some((443, 50001))));
    // hop-by-hop → routing → destination options → TCP
    let chain = ext(43, 1, &ext(60, 3, &ext(6, 2, &tcp)));
    assert_eq!(decode(ETH, &eth(IPV6, &ipv6(0, &chain))), want);
    // AH (RFC 4302 length) → TCP, and hop-by-hop → AH → destination options → TCP.
    assert_eq!(decode(ETH, &eth(IPV6, &ipv6(51, &auth(6, &tcp)))), want);
    let chain = ext(51, 1, &auth(60, &ext(6, 1, &tcp)));
    assert_eq!(decode(ETH, &eth(IPV6, &ipv6(0, &chain))), want);
    // ESP and No Next Header end the chain without ports.
    let esp = ext(50, 1, &[0, 0, 1, 0, 0, 0, 0, 1, 0xde, 0xad]);
    assert_eq!(
        decode(ETH, &eth(IPV6, &ipv6(60, &esp))),
        Some(v6_flow(Proto(50), None))
    );
    assert_eq!(
        decode(ETH, &eth(IPV6, &ipv6(59, &[]))),
        Some(v6_flow(Proto(59), None))
    );
    // Mobility (135) is not entered: it is the upper layer.
    assert_eq!(
        decode(ETH, &eth(IPV6, &ipv6(135, &ext(59, 1, &[])))),
        Some(v6_flow(Proto(135), None))
    );
    // An extension header longer than the packet, or cut before its length byte.
    let long = ext(6, 4, &tcp);
    assert_eq!(decode(ETH, &eth(IPV6, &ipv6(0, &long[..20]))), None);
    assert_eq!(decode(ETH, &eth(IPV6, &ipv6(43, &[6]))), None);
    assert_eq!(
        decode(ETH, &eth(IPV6, &ipv6(51, &auth(6, &[])[..20]))),
        None
    );
}

#[test]
fn wire_decode_ipv6_extension_header_bound() {
    let chain = |n: usize| {
        let mut c = ports(1, 2);
        for i in 0..n {
            c = ext(if i == 0 { 17 } else { 60 }, 1, &c);
        }
        ipv6(60, &c)
    };
    let ok = decode(ETH, &eth(IPV6, &chain(16))).unwrap();
    assert_eq!((ok.proto, ok.ports), (Proto::UDP, Some((1, 2))));
    assert_eq!(decode(ETH, &eth(IPV6, &chain(17))), None);
}

#[test]
fn wire_decode_ipv6_fragments() {
    let udp = ports(5353, 5353);
    // First fragment: ports, offset 0, M; the 32-bit id.
    let first = eth(IPV6, &ipv6(44, &frag6(17, 0, true, 0xdead_beef, &udp)));
    let d = decode(ETH, &first).unwrap();
    assert_eq!((d.proto, d.ports), (Proto::UDP, Some((5353, 5353))));
    assert_eq!(
        d.frag,
        Some(Fragment {
            id: 0xdead_beef,
            offset: 0,
            more: true
        })
    );
    // Non-first fragment: proto from the fragment header, no ports.
    let later = eth(IPV6, &ipv6(44, &frag6(17, 181, false, 0xdead_beef, &udp)));
    let d = decode(ETH, &later).unwrap();
    assert_eq!((d.proto, d.ports), (Proto::UDP, None));
    assert_eq!(
        d.frag,
        Some(Fragment {
            id: 0xdead_beef,
            offset: 181,
            more: false
        })
    );
    assert_ne!(d.frag.unwrap().offset, 0);
    // A non-first fragment whose fragmentable part starts with a destination options
    // header: still the fragment header's next header.
    let later = ipv6(0, &ext(44, 1, &frag6(60, 8, true, 7, &ext(6, 1, &udp))));
    let d = decode(ETH, &eth(IPV6, &later)).unwrap();
    assert_eq!((d.proto, d.ports), (Proto(60), None));
    assert_eq!(d.frag.map(|f| (f.id, f.offset, f.more)), Some((7, 8, true)));
    // First fragment with a destination options header after the fragment header.
    let first = ipv6(44, &frag6(60, 0, true, 9, &ext(6, 1, &udp)));
    let d = decode(ETH, &eth(IPV6, &first)).unwrap();
    assert_eq!((d.proto, d.ports), (Proto::TCP, Some((5353, 5353))));
    // Atomic fragment (offset 0, no M): not a fragment.
    let atomic = ipv6(44, &frag6(6, 0, false, 9, &udp));
    let d = decode(ETH, &eth(IPV6, &atomic)).unwrap();
    assert_eq!(
        (d.proto, d.ports, d.frag),
        (Proto::TCP, Some((5353, 5353)), None)
    );
    // Truncated fragment header.
    let cut = ipv6(44, &frag6(17, 1, false, 1, &[])[..7]);
    assert_eq!(decode(ETH, &eth(IPV6, &cut)), None);
}

#[test]
fn wire_decode_ipv6_lengths() {
    // Payload length shorter than the frame (padding) limits the transport bytes.
    let mut p = ipv6(17, &[0, 53]);
    p.extend_from_slice(&[0, 53, 0, 0]);
    assert_eq!(decode(ETH, &eth(IPV6, &p)), Some(v6_flow(Proto::UDP, None)));
    // Payload length beyond the capture, and 0 (jumbogram / offload): the whole capture.
    for len in [0u16, 9000] {
        let mut p = ipv6(6, &ports(1, 2));
        p[4..6].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            decode(ETH, &eth(IPV6, &p)),
            Some(v6_flow(Proto::TCP, Some((1, 2)))),
            "payload length {len}"
        );
    }
}

// ---- robustness ----

/// Valid packets covering every path, with their link types.
fn corpus() -> Vec<(u32, Vec<u8>)> {
    let tcp = ports(1234, 80);
    let mut v = vec![
        (ETH, eth(IPV4, &ipv4_full(6, &tcp, 8, 0x2000, 3))),
        (ETH, eth(IPV4, &ipv4(1, &icmp(8, 0)))),
        (
            ETH,
            eth(
                0x88a8,
                &vlan(1, 0x8100, &vlan(2, IPV6, &ipv6(58, &icmp(1, 4)))),
            ),
        ),
        (
            ETH,
            eth(
                0x8847,
                &mpls(&[1, 2], &ipv6(0, &ext(51, 1, &auth(6, &tcp)))),
            ),
        ),
        (
            ETH,
            eth(IPV6, &ipv6(43, &ext(44, 2, &frag6(17, 0, true, 1, &tcp)))),
        ),
        (ETH, eth(IPV6, &ipv6(44, &frag6(17, 3, true, 1, &tcp)))),
        (113, sll(0x8100, &vlan(3, IPV4, &ipv4(132, &tcp)))),
        (276, sll2(IPV6, &ipv6(136, &tcp))),
        (101, ipv4(17, &tcp)),
        (12, ipv6(6, &tcp)),
        (228, ipv4(6, &tcp)),
        (229, ipv6(6, &tcp)),
    ];
    let mut null = 24u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ipv6(6, &tcp));
    v.push((0, null));
    let mut lo = 2u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&ipv4(6, &tcp));
    v.push((108, lo));
    v
}

#[test]
fn wire_decode_every_truncation() {
    for (linktype, pkt) in corpus() {
        let full = decode(linktype, &pkt).expect("corpus packet decodes");
        for len in 0..pkt.len() {
            if let Some(d) = decode(linktype, &pkt[..len]) {
                // A prefix never invents a different flow.
                assert_eq!((d.src, d.dst), (full.src, full.dst));
                assert!(d.ports.is_none() || d.ports == full.ports);
            }
        }
    }
}

#[test]
fn wire_decode_random_bytes_never_panic() {
    let mut rng = crate::testutil::rng::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut next = move || rng.next_u64();
    let linktypes = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999];
    let corpus = corpus();
    for round in 0..20_000 {
        // Mutate a corpus packet (a few random bytes) or use pure noise.
        let (linktype, mut pkt) = if round % 4 == 0 {
            let len = (next() % 128) as usize;
            let noise = (0..len).map(|_| next() as u8).collect();
            (linktypes[(next() % linktypes.len() as u64) as usize], noise)
        } else {
            corpus[(next() % corpus.len() as u64) as usize].clone()
        };
        for _ in 0..(next() % 4 + 1) {
            if !pkt.is_empty() {
                let at = (next() % pkt.len() as u64) as usize;
                pkt[at] = next() as u8;
            }
        }
        let cut = (next() % (pkt.len() as u64 + 1)) as usize;
        let _ = decode(linktype, &pkt);
        let _ = decode(linktype, &pkt[..cut]);
        for d in [decode_ip(linktype, &pkt), decode_ip(linktype, &pkt[..cut])]
            .into_iter()
            .flatten()
        {
            let _ = skip_ipv6_extensions(d.proto, d.payload);
        }
    }
}

#[test]
fn wire_decode_ip_gives_the_bytes_after_the_ip_headers() {
    // IPv4 with options: the payload starts after them, padding beyond the length dropped.
    let mut p = ipv4_full(17, &ports(1, 2), 4, 0, 9);
    p.extend_from_slice(&[0, 0]);
    let d = decode_ip(228, &p).unwrap();
    assert_eq!(
        (d.proto, d.frag, d.payload),
        (Proto::UDP, None, &ports(1, 2)[..])
    );
    // An IPv4 later fragment: its bytes, offset and id.
    let p = ipv4_full(17, &[7; 8], 0, 0x2000 | 3, 9);
    let d = decode_ip(228, &p).unwrap();
    assert_eq!(
        d.frag,
        Some(Fragment {
            id: 9,
            offset: 3,
            more: true
        })
    );
    assert_eq!(d.payload, &[7; 8]);
    // IPv6 after hop-by-hop: the upper layer's bytes.
    let p = ipv6(0, &ext(6, 1, &ports(3, 4)));
    let d = decode_ip(229, &p).unwrap();
    assert_eq!((d.proto, d.payload), (Proto::TCP, &ports(3, 4)[..]));
    // An IPv6 first fragment whose fragmentable part starts with destination options.
    let p = ipv6(44, &frag6(60, 0, true, 5, &ext(17, 1, &ports(5, 6))));
    let d = decode_ip(229, &p).unwrap();
    assert_eq!(
        d.frag,
        Some(Fragment {
            id: 5,
            offset: 0,
            more: true
        })
    );
    assert_eq!(d.proto, Proto(60));
    let (proto, rest) = skip_ipv6_extensions(d.proto, d.payload).unwrap();
    assert_eq!((proto, rest), (Proto::UDP, &ports(5, 6)[..]));
    // Cut short: no datagram; a cut extension chain: no upper layer.
    assert!(decode_ip(229, &p[..39]).is_none());
    assert!(skip_ipv6_extensions(Proto(60), &[17]).is_none());
}

//! Link-layer headers around a packet, one function per header that `wire::decode` follows
//! beyond Ethernet and cooked captures: for unit tests of the decoder, the link-type test
//! captures and fuzz seeds. Each takes the bytes to wrap (an IP packet, an Ethernet frame, an
//! 802.11 frame) and returns the wrapped bytes, with the lengths and flags real captures have.

/// The EtherType of IPv4.
pub const ETH_IPV4: u16 = 0x0800;
/// The EtherType of IPv6.
pub const ETH_IPV6: u16 = 0x86DD;

/// The EtherType of an IP packet, by its version nibble (IPv4 otherwise).
pub fn ethertype_of(ip: &[u8]) -> u16 {
    if ip.first().is_some_and(|b| b >> 4 == 6) {
        ETH_IPV6
    } else {
        ETH_IPV4
    }
}

/// The PPP protocol of an IP packet, by its version nibble (0x0021 IPv4, 0x0057 IPv6).
pub fn ppp_protocol_of(ip: &[u8]) -> u16 {
    if ethertype_of(ip) == ETH_IPV6 {
        0x0057
    } else {
        0x0021
    }
}

/// An Ethernet II header (locally administered addresses) with `ethertype` before `payload`.
pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A PPP frame: `FF 03` when `address_control`, the protocol (one byte when `compressed` and
/// the protocol allows it), the payload.
pub fn ppp(protocol: u16, payload: &[u8], address_control: bool, compressed: bool) -> Vec<u8> {
    let mut f = Vec::new();
    if address_control {
        f.extend_from_slice(&[0xff, 0x03]);
    }
    if compressed && protocol < 0x100 && protocol & 1 == 1 {
        f.push(protocol as u8);
    } else {
        f.extend_from_slice(&protocol.to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}

/// A PPPoE session header (version 1, type 1, code 0, `session`) and a PPP frame of the IP
/// packet (2-byte protocol, no address and control).
pub fn pppoe(session: u16, ip: &[u8]) -> Vec<u8> {
    let body = ppp(ppp_protocol_of(ip), ip, false, false);
    let mut f = vec![0x11, 0x00];
    f.extend_from_slice(&session.to_be_bytes());
    f.extend_from_slice(&(body.len() as u16).to_be_bytes());
    f.extend_from_slice(&body);
    f
}

/// A Cisco HDLC header (unicast address 0x0F, control 0) with `ethertype`.
pub fn cisco_hdlc(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x0f, 0x00];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn nflog_tlv(out: &mut Vec<u8>, t: u16, value: &[u8], big_endian: bool) {
    let len = (4 + value.len()) as u16;
    if big_endian {
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&t.to_be_bytes());
    } else {
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// An NFLOG record of the IP packet: family (2 or 10 by the version), version 0, group 1,
/// then the TLVs NFULA_PACKET_HDR, NFULA_PREFIX, NFULA_MARK and NFULA_PAYLOAD, in the byte
/// order asked for.
pub fn nflog(ip: &[u8], big_endian: bool) -> Vec<u8> {
    let family = if ethertype_of(ip) == ETH_IPV6 { 10 } else { 2 };
    let mut f = vec![family, 0, 0, 1];
    let mut hdr = ethertype_of(ip).to_be_bytes().to_vec();
    hdr.extend_from_slice(&[3, 0]); // hook, pad
    nflog_tlv(&mut f, 1, &hdr, big_endian);
    nflog_tlv(&mut f, 10, b"capme-test\0", big_endian);
    nflog_tlv(&mut f, 2, &7u32.to_be_bytes(), big_endian);
    nflog_tlv(&mut f, 9, ip, big_endian);
    f
}

/// The MAC header variants of [`ieee80211`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wifi {
    /// A QoS data frame (2-byte QoS control).
    pub qos: bool,
    /// ToDS and FromDS both set: a fourth address.
    pub wds: bool,
    /// The order bit on a QoS frame: a 4-byte HT control field.
    pub ht: bool,
    /// The protected bit (the payload would be encrypted; here it is not, but a decoder must
    /// not read it).
    pub protected: bool,
}

/// An 802.11 data frame (from the distribution system, or WDS) carrying `payload` of
/// `ethertype` behind an RFC 1042 LLC/SNAP header.
pub fn ieee80211(ethertype: u16, payload: &[u8], kind: Wifi) -> Vec<u8> {
    let subtype: u8 = if kind.qos { 0x80 } else { 0x00 };
    let mut flags: u8 = if kind.wds { 0x03 } else { 0x02 };
    if kind.ht {
        flags |= 0x80;
    }
    if kind.protected {
        flags |= 0x40;
    }
    let mut f = vec![0x08 | subtype, flags, 0x2c, 0x00];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xbb]);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x0a]);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xaa]);
    f.extend_from_slice(&[0x30, 0x01]); // sequence 19, fragment 0
    if kind.wds {
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x0b]);
    }
    if kind.qos {
        f.extend_from_slice(&[0x05, 0x00]); // TID 5
        if kind.ht {
            f.extend_from_slice(&[0, 0, 0, 0]);
        }
    }
    f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A radiotap header (flags, rate, channel and antenna signal present) before `frame`.
pub fn radiotap(frame: &[u8]) -> Vec<u8> {
    // present: flags (1), rate (2), channel (3), dbm antenna signal (5).
    let present: u32 = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5);
    let mut h = vec![0, 0, 0, 0];
    h.extend_from_slice(&present.to_le_bytes());
    h.push(0x00); // flags
    h.push(0x6c); // 54 Mb/s
    h.extend_from_slice(&2437u16.to_le_bytes()); // channel 6
    h.extend_from_slice(&0x00a0u16.to_le_bytes()); // 2 GHz, OFDM
    h.push(0xc4); // -60 dBm
    h.push(0); // pad to an even length
    let len = h.len() as u16;
    h[2..4].copy_from_slice(&len.to_le_bytes());
    h.extend_from_slice(frame);
    h
}

/// A 144-byte Prism header (message code 0x41, length 144, little-endian, device "wlan0",
/// ten DID items) before `frame`.
pub fn prism(frame: &[u8]) -> Vec<u8> {
    let mut h = 0x41u32.to_le_bytes().to_vec();
    h.extend_from_slice(&144u32.to_le_bytes());
    h.extend_from_slice(b"wlan0\0\0\0\0\0\0\0\0\0\0\0");
    // DID items: did (4), status (2), len (2), data (4).
    for i in 0..10u32 {
        h.extend_from_slice(&(0x0001_0044 | (i << 12)).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&i.to_le_bytes());
    }
    assert_eq!(h.len(), 144);
    h.extend_from_slice(frame);
    h
}

/// A 64-byte AVS version 1 header (big-endian) before `frame`.
pub fn avs(frame: &[u8]) -> Vec<u8> {
    let mut h = 0x8021_1001u32.to_be_bytes().to_vec();
    h.extend_from_slice(&64u32.to_be_bytes());
    h.extend_from_slice(&0x0001_0203_0405_0607u64.to_be_bytes()); // mactime
    h.extend_from_slice(&0u64.to_be_bytes()); // hosttime
    h.extend_from_slice(&1u32.to_be_bytes()); // phytype
    h.extend_from_slice(&6u32.to_be_bytes()); // channel
    h.extend_from_slice(&540u32.to_be_bytes()); // datarate
    h.extend_from_slice(&0u32.to_be_bytes()); // antenna
    h.extend_from_slice(&0u32.to_be_bytes()); // priority
    h.extend_from_slice(&0u32.to_be_bytes()); // ssi_type
    h.extend_from_slice(&(-60i32).to_be_bytes()); // ssi_signal
    h.extend_from_slice(&(-95i32).to_be_bytes()); // ssi_noise
    h.extend_from_slice(&0u32.to_be_bytes()); // preamble
    h.extend_from_slice(&0u32.to_be_bytes()); // encoding
    assert_eq!(h.len(), 64);
    h.extend_from_slice(frame);
    h
}

/// A 108-byte PKTAP header (packet record, interface "en0", process "curl") naming `dlt`,
/// before `packet`.
pub fn pktap(dlt: u32, packet: &[u8]) -> Vec<u8> {
    let mut h = 108u32.to_le_bytes().to_vec();
    h.extend_from_slice(&1u32.to_le_bytes()); // PKT_REC_PACKET
    h.extend_from_slice(&dlt.to_le_bytes());
    let mut ifname = [0u8; 24];
    ifname[..3].copy_from_slice(b"en0");
    h.extend_from_slice(&ifname);
    h.extend_from_slice(&0u32.to_le_bytes()); // flags
    h.extend_from_slice(&2u32.to_le_bytes()); // protocol family
    h.extend_from_slice(&14u32.to_le_bytes()); // link-layer header length
    h.extend_from_slice(&0u32.to_le_bytes()); // trailer length
    h.extend_from_slice(&4242u32.to_le_bytes()); // pid
    let mut cmd = [0u8; 20];
    cmd[..4].copy_from_slice(b"curl");
    h.extend_from_slice(&cmd);
    h.extend_from_slice(&0u32.to_le_bytes()); // service class
    h.extend_from_slice(&6u16.to_le_bytes()); // interface type
    h.extend_from_slice(&0u16.to_le_bytes()); // unit
    h.extend_from_slice(&4242u32.to_le_bytes()); // effective pid
    h.extend_from_slice(&cmd);
    assert_eq!(h.len(), 108);
    h.extend_from_slice(packet);
    h
}

/// A Juniper "MGC" header (incoming; with extension TLVs for the interface index and name
/// when `extensions`) before an Ethernet `frame`.
pub fn juniper_ether(frame: &[u8], extensions: bool) -> Vec<u8> {
    let mut h = b"MGC".to_vec();
    if extensions {
        h.push(0x81);
        let tlvs: Vec<u8> = [&[1u8, 2, 0x2a, 0][..], &[2, 5], b"ge-0/"].concat();
        h.extend_from_slice(&(tlvs.len() as u16).to_be_bytes());
        h.extend_from_slice(&tlvs);
    } else {
        h.push(0x01);
    }
    h.extend_from_slice(frame);
    h
}

/// An ERF record of type `record_type` (no extension headers) holding `payload` (the 2 bytes
/// of offset and pad of Ethernet types included by the caller), padded to 8 bytes, with `wlen`
/// the payload's length.
pub fn erf(record_type: u8, payload: &[u8]) -> Vec<u8> {
    let rlen = (16 + payload.len()).next_multiple_of(8);
    let mut h = ((1_700_000_000u64 << 32) | 0x8000_0000)
        .to_le_bytes()
        .to_vec();
    h.push(record_type);
    h.push(0x04); // varying record length
    h.extend_from_slice(&(rlen as u16).to_be_bytes());
    h.extend_from_slice(&0u16.to_be_bytes());
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(payload);
    h.resize(rlen, 0);
    h
}

/// An ERF Ethernet record (type 2: 2 bytes of offset and pad, then the frame).
pub fn erf_ethernet(frame: &[u8]) -> Vec<u8> {
    erf(2, &[&[0u8, 0][..], frame].concat())
}

/// The 44-byte IPoIB pseudo-header (40 bytes of hardware addresses, `ethertype`, reserved).
pub fn ipoib(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut h: Vec<u8> = (0..40u8).collect();
    h.extend_from_slice(&ethertype.to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(payload);
    h
}

/// A MACsec SecTAG without encryption (with an SCI when `sci`), the protected `ethertype` and
/// `payload`, and a 16-byte ICV: what follows the 0x88E5 EtherType.
pub fn macsec(ethertype: u16, payload: &[u8], sci: bool) -> Vec<u8> {
    let mut h = vec![if sci { 0x20 } else { 0x00 }, 0];
    h.extend_from_slice(&17u32.to_be_bytes());
    if sci {
        h.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xaa, 0, 1]);
    }
    h.extend_from_slice(&ethertype.to_be_bytes());
    h.extend_from_slice(payload);
    h.extend_from_slice(&[0x1c; 16]);
    h
}

/// An NSH header (MD type 2, no metadata, SPI 42, SI 255) with `next_protocol` (1 IPv4,
/// 2 IPv6, 3 Ethernet): what follows the 0x894F EtherType.
pub fn nsh(next_protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x0f, 0xc2, 0x02, next_protocol, 0, 0, 42, 255];
    h.extend_from_slice(payload);
    h
}

//! Encapsulated packets for tests and the generator: wraps an Ethernet frame (or the IP
//! packet inside it) in GRE, ERSPAN II/III, VXLAN, GENEVE, IP in IP, or a PPPoE session, with
//! an outer Ethernet and IPv4 or IPv6 header. The result is an Ethernet frame again, so
//! wrappings nest.
//!
//! ```
//! use capme_core::testutil::encap::{encapsulate, Wrap};
//! use capme_core::testutil::packet::PacketBuilder;
//! let inner = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
//!     .ipv4("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
//!     .udp(5000, 53)
//!     .build();
//! let outer = encapsulate(&inner, "192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(),
//!     Wrap::Vxlan { vni: 42 });
//! assert_eq!(outer.len(), 14 + 20 + 8 + 8 + inner.len());
//! let layers = capme_core::wire::layers(1, &outer);
//! assert_eq!(layers.len(), 2);
//! ```

use super::packet::PacketBuilder;
use crate::wire::{network_layer, NetworkLayer};
use std::net::IpAddr;

/// How [`encapsulate`] wraps a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    /// GRE (protocol 47) carrying the frame's IP packet, with the optional words.
    Gre {
        /// The key word (RFC 2890).
        key: Option<u32>,
        /// The sequence number word (RFC 2890).
        seq: Option<u32>,
        /// The checksum word (left 0: capme does not verify it).
        checksum: bool,
    },
    /// GRE transparent Ethernet bridging (0x6558): the whole frame.
    GreTeb {
        /// The key word.
        key: Option<u32>,
    },
    /// ERSPAN type II over GRE (with its required sequence number): the whole frame.
    Erspan2 {
        /// Session id (10 bits).
        session: u16,
        /// The GRE sequence number.
        seq: u32,
    },
    /// ERSPAN type III over GRE: the whole frame, optionally after the platform subheader.
    Erspan3 {
        /// Session id (10 bits).
        session: u16,
        /// Write the 8-byte platform specific subheader (O bit).
        platform: bool,
    },
    /// VXLAN (UDP to 4789): the whole frame.
    Vxlan {
        /// The network identifier.
        vni: u32,
    },
    /// GENEVE (UDP to 6081) with `option_words` 4-byte words of options: the whole frame
    /// (protocol 0x6558), or its IP packet when `ethernet` is false.
    Geneve {
        /// The network identifier.
        vni: u32,
        /// Options length in 4-byte words (at most 63).
        option_words: u8,
        /// Carry the Ethernet frame (else its IP packet).
        ethernet: bool,
    },
    /// IP in IP: the frame's IP packet as the outer packet's payload (protocol 4 for IPv4,
    /// 41 for IPv6).
    IpInIp,
}

/// The outer MAC addresses of every wrapping.
const OUTER_SRC_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 1];
const OUTER_DST_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 2];
/// The UDP source port of VXLAN and GENEVE packets.
pub const TUNNEL_SRC_PORT: u16 = 49_999;

/// The IP packet (header first) inside an Ethernet frame. Panics when there is none (a test
/// builds only frames with one).
pub fn ip_of(frame: &[u8]) -> &[u8] {
    // Without the Ethernet padding: up to the IP length.
    let (b, len) = match network_layer(1, frame).expect("an Ethernet frame with an IP packet") {
        NetworkLayer::Ipv4(b) => (b, usize::from(u16::from_be_bytes([b[2], b[3]]))),
        NetworkLayer::Ipv6(b) => (b, 40 + usize::from(u16::from_be_bytes([b[4], b[5]]))),
    };
    &b[..len.min(b.len())]
}

fn ip_version(ip: &[u8]) -> u8 {
    ip.first().map_or(0, |b| b >> 4)
}

/// `frame` wrapped as `wrap` says in an outer IP packet from `src` to `dst` (same family),
/// as an Ethernet frame.
pub fn encapsulate(frame: &[u8], src: IpAddr, dst: IpAddr, wrap: Wrap) -> Vec<u8> {
    let outer = PacketBuilder::ethernet(OUTER_SRC_MAC, OUTER_DST_MAC).ip(src, dst);
    let gre = |flags: u16, proto: u16, words: &[u32], payload: &[u8]| -> Vec<u8> {
        let mut g = Vec::with_capacity(16 + payload.len());
        g.extend_from_slice(&flags.to_be_bytes());
        g.extend_from_slice(&proto.to_be_bytes());
        for w in words {
            g.extend_from_slice(&w.to_be_bytes());
        }
        g.extend_from_slice(payload);
        g
    };
    match wrap {
        Wrap::Gre { key, seq, checksum } => {
            let ip = ip_of(frame);
            let proto = if ip_version(ip) == 6 { 0x86dd } else { 0x0800 };
            let mut flags = 0u16;
            let mut words = Vec::new();
            if checksum {
                flags |= 0x8000;
                words.push(0);
            }
            if let Some(k) = key {
                flags |= 0x2000;
                words.push(k);
            }
            if let Some(s) = seq {
                flags |= 0x1000;
                words.push(s);
            }
            outer
                .raw(47)
                .payload(&gre(flags, proto, &words, ip))
                .build()
        }
        Wrap::GreTeb { key } => {
            let (flags, words) = match key {
                Some(k) => (0x2000, vec![k]),
                None => (0, vec![]),
            };
            outer
                .raw(47)
                .payload(&gre(flags, 0x6558, &words, frame))
                .build()
        }
        Wrap::Erspan2 { session, seq } => {
            let mut e = Vec::with_capacity(8 + frame.len());
            e.extend_from_slice(&(0x1000u16).to_be_bytes()); // version 1, VLAN 0
            e.extend_from_slice(&(session & 0x03ff).to_be_bytes());
            e.extend_from_slice(&[0, 0, 0, 0]); // reserved, index
            e.extend_from_slice(frame);
            outer
                .raw(47)
                .payload(&gre(0x1000, 0x88be, &[seq], &e))
                .build()
        }
        Wrap::Erspan3 { session, platform } => {
            let mut e = Vec::with_capacity(20 + frame.len());
            e.extend_from_slice(&(0x2000u16).to_be_bytes()); // version 2, VLAN 0
            e.extend_from_slice(&(session & 0x03ff).to_be_bytes());
            e.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // timestamp
            e.extend_from_slice(&[0, 0, 0, u8::from(platform)]); // SGT, FT 0 (Ethernet), O
            if platform {
                // Platform ID 3: port id and a timestamp word.
                e.extend_from_slice(&[0x0c, 0, 0, 1, 0, 0, 0, 2]);
            }
            e.extend_from_slice(frame);
            outer
                .raw(47)
                .payload(&gre(0x1000, 0x22eb, &[1], &e))
                .build()
        }
        Wrap::Vxlan { vni } => {
            let mut v = vec![0x08, 0, 0, 0];
            v.extend_from_slice(&(vni << 8).to_be_bytes());
            v.extend_from_slice(frame);
            outer.udp(TUNNEL_SRC_PORT, 4789).payload(&v).build()
        }
        Wrap::Geneve {
            vni,
            option_words,
            ethernet,
        } => {
            let words = option_words.min(63);
            let (proto, payload) = if ethernet {
                (0x6558u16, frame)
            } else {
                let ip = ip_of(frame);
                (if ip_version(ip) == 6 { 0x86dd } else { 0x0800 }, ip)
            };
            let mut g = vec![words, 0];
            g.extend_from_slice(&proto.to_be_bytes());
            g.extend_from_slice(&(vni << 8).to_be_bytes());
            for i in 0..words {
                if i == 0 {
                    // One option: class 0x0102, type 0x80, the rest of the words its data.
                    g.extend_from_slice(&[0x01, 0x02, 0x80, (words - 1) & 0x1f]);
                } else {
                    g.extend_from_slice(&[0xa5; 4]);
                }
            }
            g.extend_from_slice(payload);
            outer.udp(TUNNEL_SRC_PORT, 6081).payload(&g).build()
        }
        Wrap::IpInIp => {
            let ip = ip_of(frame);
            let proto = if ip_version(ip) == 6 { 41 } else { 4 };
            outer.raw(proto).payload(ip).build()
        }
    }
}

/// `frame` with its IP packet carried in a PPPoE session instead (EtherType 0x8864, session
/// `session`, PPP protocol 0x0021 or 0x0057), same MAC addresses.
pub fn pppoe(frame: &[u8], session: u16) -> Vec<u8> {
    let ip = ip_of(frame);
    let mut f = frame.get(..12).unwrap_or(&[0; 12]).to_vec();
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    f.extend_from_slice(&session.to_be_bytes());
    f.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    f.extend_from_slice(if ip_version(ip) == 6 {
        &[0x00, 0x57]
    } else {
        &[0x00, 0x21]
    });
    f.extend_from_slice(ip);
    f
}

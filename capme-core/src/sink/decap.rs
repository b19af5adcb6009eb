//! `--decapsulate`: a tunnel packet written as its innermost frame, like Security Onion's
//! "unwrap" of VXLAN.
//!
//! The innermost IP layer of a packet ([`crate::wire::layers`]) is carried by an Ethernet
//! frame (VXLAN, GENEVE with protocol 0x6558, GRE transparent bridging, ERSPAN) or directly
//! (IP in IP, GRE or GENEVE with an IP payload, ERSPAN III frame type IP). The packet written
//! is that frame, with link type 1 (Ethernet) or 101 (raw IP); a sink that receives both kinds
//! (or plain packets of another link type) writes pcapng with one interface per link type.
//! The timestamp is unchanged; the original length loses the bytes stripped in front, and,
//! when the frame ends before the captured bytes do (the outer headers' lengths end it:
//! padding, trailers), is the frame's length. A packet that is not a tunnel packet is written
//! unchanged. The summary still counts what the packets were ([`crate::Summary`]'s
//! `encapsulated`).

use crate::capture::Interface;
use crate::packet::Packet;
use crate::wire::layers;
use std::sync::Arc;

/// Rewrites packets as their innermost frames, sharing one interface per (input interface,
/// link type).
#[derive(Debug, Default)]
pub struct Decapsulator {
    ifaces: Vec<(Arc<Interface>, u32, Arc<Interface>)>,
}

impl Decapsulator {
    /// A decapsulator with no interfaces yet.
    pub fn new() -> Decapsulator {
        Decapsulator::default()
    }

    /// `p` as its innermost layer's frame, or `p` itself when it is not a tunnel packet.
    pub fn packet(&mut self, p: Packet) -> Packet {
        let all = layers(p.iface.linktype, &p.data);
        let span = all
            .innermost()
            .filter(|_| all.len() > 1)
            .map(|l| span(&p.data, l));
        match span {
            Some(s) => self.cut(p, s),
            None => p,
        }
    }

    /// `p` as the frame of its IP layer `i` ([`crate::wire::layers`]; 0, the outermost, or a
    /// layer the packet does not have: `p` itself).
    pub fn layer(&mut self, p: Packet, i: usize) -> Packet {
        let all = layers(p.iface.linktype, &p.data);
        let span = all.get(i).filter(|_| i > 0).map(|l| span(&p.data, l));
        match span {
            Some(s) => self.cut(p, s),
            None => p,
        }
    }

    /// `p` as the IP packet of its layer `i` (link type 101, raw IP; 0, or a layer the packet
    /// does not have: `p` itself).
    pub fn layer_ip(&mut self, p: Packet, i: usize) -> Packet {
        let all = layers(p.iface.linktype, &p.data);
        let span = all.get(i).filter(|_| i > 0).map(|l| {
            let start = (l.ip.as_ptr() as usize).saturating_sub(p.data.as_ptr() as usize);
            (start, start + l.ip.len(), crate::wire::LinkType::RAW)
        });
        match span {
            Some(s) => self.cut(p, s),
            None => p,
        }
    }

    /// `p` cut to `data[start..end]` of link type `linktype`.
    fn cut(&mut self, p: Packet, (start, end, linktype): (usize, usize, u32)) -> Packet {
        if start > end || end > p.data.len() {
            return p; // cannot happen: a frame is a part of the packet
        }
        let orig_len = if end < p.data.len() {
            (end - start) as u32
        } else {
            p.orig_len.saturating_sub(start as u32)
        };
        let iface = self.interface(&p.iface, linktype);
        Packet {
            data: p.data.slice(start..end),
            orig_len,
            iface,
            ..p
        }
    }

    fn interface(&mut self, of: &Arc<Interface>, linktype: u32) -> Arc<Interface> {
        if let Some((_, _, i)) = self
            .ifaces
            .iter()
            .find(|(o, l, _)| Arc::ptr_eq(o, of) && *l == linktype)
        {
            return i.clone();
        }
        // The inner frame ends with its IP packet: no frame check sequence follows it, whatever
        // the outer frame carried.
        let i = Arc::new(Interface {
            linktype,
            fcs_bits: None,
            ..(**of).clone()
        });
        self.ifaces.push((of.clone(), linktype, i.clone()));
        i
    }
}

/// Where a layer's frame lies in the packet's bytes: `(start, end, link type)`.
fn span(data: &[u8], l: &crate::wire::IpLayer<'_>) -> (usize, usize, u32) {
    let start = (l.frame.as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
    (start, start + l.frame.len(), l.linktype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Format;
    use crate::testutil::encap::{encapsulate, ip_of, Wrap};
    use crate::testutil::packet::PacketBuilder;
    use crate::time::Timestamp;
    use bytes::Bytes;

    fn packet(data: Vec<u8>, orig_len: u32) -> Packet {
        Packet {
            ts: Timestamp(5),
            ts_raw: (1, 2),
            orig_len,
            data: Bytes::from(data),
            iface: Arc::new(Interface {
                format: Format::Pcapng,
                linktype: 1,
                snaplen: 0,
                units_per_sec: 1_000_000,
                tsresol: 6,
                tsoffset: 0,
                fcs_bits: None,
            }),
            sensor: "s".into(),
            file: std::path::Path::new("f").into(),
        }
    }

    #[test]
    fn innermost_frames_with_their_link_types_and_lengths() {
        let inner = PacketBuilder::ethernet([2; 6], [3; 6])
            .ip("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
            .tcp(1, 2)
            .payload(&[9; 100])
            .build();
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut d = Decapsulator::new();
        // VXLAN: the inner Ethernet frame, link type 1.
        let v = encapsulate(&inner, a, b, Wrap::Vxlan { vni: 1 });
        let n = v.len() as u32;
        let out = d.packet(packet(v.clone(), n));
        assert_eq!(
            (&out.data[..], out.orig_len, out.iface.linktype),
            (&inner[..], inner.len() as u32, 1)
        );
        assert_eq!((out.ts, out.ts_raw), (Timestamp(5), (1, 2)));
        // Cut by the snap length: the original length keeps the missing bytes.
        let out = d.packet(packet(v[..n as usize - 10].to_vec(), n));
        assert_eq!(out.data.len(), inner.len() - 10);
        assert_eq!(out.orig_len, inner.len() as u32);
        // Ethernet padding after the outer packet is not part of the frame.
        let mut padded = encapsulate(&inner, a, b, Wrap::IpInIp);
        padded.extend_from_slice(&[0; 6]);
        let out = d.packet(packet(padded.clone(), padded.len() as u32));
        assert_eq!((&out.data[..], out.iface.linktype), (ip_of(&inner), 101));
        assert_eq!(out.orig_len as usize, ip_of(&inner).len());
        // Nested: the innermost. Not a tunnel: unchanged, same interface.
        let nested = encapsulate(&v, a, b, Wrap::GreTeb { key: None });
        let out = d.packet(packet(nested.clone(), nested.len() as u32));
        assert_eq!(&out.data[..], &inner[..]);
        // Layer 1 of the nested packet: the VXLAN packet inside the GRE bridging.
        let out = d.layer(packet(nested.clone(), nested.len() as u32), 1);
        assert_eq!((&out.data[..], out.iface.linktype), (&v[..], 1));
        let out = d.layer_ip(packet(nested.clone(), nested.len() as u32), 2);
        assert_eq!((&out.data[..], out.iface.linktype), (ip_of(&inner), 101));
        let out = d.layer(packet(nested.clone(), 7000), 0);
        assert_eq!((&out.data[..], out.orig_len), (&nested[..], 7000));
        let out = d.layer(packet(nested.clone(), 7000), 9);
        assert_eq!(&out.data[..], &nested[..]);
        let plain = packet(inner.clone(), 4000);
        let iface = plain.iface.clone();
        let out = d.packet(plain);
        assert!(Arc::ptr_eq(&out.iface, &iface));
        assert_eq!((&out.data[..], out.orig_len), (&inner[..], 4000));
    }
}

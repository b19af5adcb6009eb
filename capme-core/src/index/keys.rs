//! The hashes flows are filed under: a canonical key's, and an address pair's (for non-first
//! fragments, which carry no ports).

use crate::flow::FlowKey;
use crate::hash::fnv1a_64;
use crate::wire::{decode_network, is_tunnel_candidate, layers, network_layer, Decoded, Proto};
use std::net::IpAddr;

/// Hashes up to 40 bytes built on the stack (no allocation per packet).
struct KeyBytes {
    buf: [u8; 40],
    len: usize,
}

impl KeyBytes {
    fn new() -> KeyBytes {
        KeyBytes {
            buf: [0; 40],
            len: 0,
        }
    }
    fn push(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
    fn addr(&mut self, a: IpAddr) {
        match a {
            IpAddr::V4(v) => self.push(&v.octets()),
            IpAddr::V6(v) => self.push(&v.octets()),
        }
    }
    fn hash(&self) -> u32 {
        let h = fnv1a_64(&self.buf[..self.len]);
        (h ^ (h >> 32)) as u32
    }
}

/// The index hash of a canonical flow key.
pub fn key_hash(k: &FlowKey) -> u32 {
    let mut b = KeyBytes::new();
    b.push(&[k.proto().0]);
    for e in [k.first(), k.second()] {
        b.addr(e.addr);
        b.push(&e.port.to_be_bytes());
    }
    b.hash()
}

/// The index hash under which non-first fragments of `(proto, a, b)` are entered.
pub fn pair_hash(proto: Proto, a: IpAddr, b: IpAddr) -> u32 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut v = KeyBytes::new();
    v.push(&[0xfe, proto.0]);
    v.addr(lo);
    v.addr(hi);
    v.hash()
}

/// The canonical keys of a packet's IP layers that carry one (see [`FlowKey::of_decoded`]):
/// the outer layer's, and for a tunnel packet each inner layer's, pushed to `out` (cleared
/// first).
pub(crate) fn packet_keys(linktype: u32, data: &[u8], out: &mut Vec<FlowKey>) {
    out.clear();
    for_each_layer(linktype, data, |d| {
        if let Some(k) = FlowKey::of_decoded(d) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    });
}

/// Calls `f` with the decode of every IP layer of a packet: the outer layer, and the inner
/// layers of a tunnel candidate ([`crate::wire::layers`]).
fn for_each_layer(linktype: u32, data: &[u8], mut f: impl FnMut(&Decoded)) {
    let Some(ip) = network_layer(linktype, data) else {
        return;
    };
    if !is_tunnel_candidate(ip) {
        if let Some(d) = decode_network(ip) {
            f(&d);
        }
        return;
    }
    for l in layers(linktype, data).iter() {
        f(&l.decoded);
    }
}

/// The hashes a packet is indexed under, with their keys (none for a non-first fragment,
/// which is filed under its address pair), one per IP layer that can belong to a flow (the
/// outer layer and, for a tunnel packet, every inner layer), without repeats; pushed to `out`
/// (cleared first).
pub(super) fn packet_hashes(linktype: u32, data: &[u8], out: &mut Vec<(u32, Option<FlowKey>)>) {
    out.clear();
    for_each_layer(linktype, data, |d| {
        let h = if d.frag.is_some_and(|f| f.offset != 0) {
            Some((pair_hash(d.proto, d.src, d.dst), None))
        } else {
            FlowKey::of_decoded(d).map(|key| (key_hash(&key), Some(key)))
        };
        if let Some(h) = h {
            if !out.iter().any(|(x, _)| *x == h.0) {
                out.push(h);
            }
        }
    });
}

/// The index hashes of flow keys and of their address pairs (where their non-first fragments
/// are filed).
pub fn hashes_of_keys(keys: &[FlowKey]) -> Vec<u32> {
    let mut v: Vec<u32> = keys.iter().map(key_hash).collect();
    v.extend(
        keys.iter()
            .map(|k| pair_hash(k.proto(), k.first().addr, k.second().addr)),
    );
    v
}

//! The hashes flows are filed under: a canonical key's, and an address pair's (for non-first
//! fragments, which carry no ports).

use crate::flow::FlowKey;
use crate::hash::fnv1a_64;
use crate::wire::{decode, Proto};
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

/// The canonical key of a packet that carries one (see [`FlowKey::of_decoded`]).
pub(crate) fn packet_key(linktype: u32, data: &[u8]) -> Option<FlowKey> {
    FlowKey::of_decoded(&decode(linktype, data)?)
}

/// The hash a packet is indexed under, with its key (none for a non-first fragment, which is
/// filed under its address pair), if it can belong to any flow.
pub(super) fn packet_hash(linktype: u32, data: &[u8]) -> Option<(u32, Option<FlowKey>)> {
    let d = decode(linktype, data)?;
    if d.frag.is_some_and(|f| f.offset != 0) {
        return Some((pair_hash(d.proto, d.src, d.dst), None));
    }
    let key = FlowKey::of_decoded(&d)?;
    Some((key_hash(&key), Some(key)))
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

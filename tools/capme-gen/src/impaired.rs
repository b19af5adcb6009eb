//! TCP connections with the troubles transcripts must survive, and the bytes each side really
//! sent, for the transcript tests: segments reordered, retransmitted, repacketised over each
//! other, overlapped by conflicting copies sent after the original, lost, and sequence numbers
//! crossing `2^32 → 0`.
//!
//! ```
//! let f = capme_gen::impaired::tcp(7, &capme_gen::impaired::Impairments::all());
//! assert!(f.packets.windows(2).all(|w| w[0].0 <= w[1].0));
//! assert_eq!(f.sent[0].len(), 6000 + 700); // the two requests
//! ```

use capme_core::testutil::packet::{PacketBuilder, TcpFlags};
use capme_core::testutil::rng::Rng;
use std::net::{IpAddr, Ipv4Addr};

/// Which troubles a generated connection has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Impairments {
    /// Adjacent segments swapped (about 1 in 5).
    pub reorder: bool,
    /// Segments sent again, same bytes (about 1 in 5).
    pub retransmit: bool,
    /// Repacketised retransmissions spanning two segments (same bytes), after the originals.
    pub overlap: bool,
    /// With `overlap`: a conflicting copy (other bytes) of that span too, after the originals:
    /// the first copy must win.
    pub conflict: bool,
    /// Segments never captured (about 1 in 12; never the handshake or FIN).
    pub loss: bool,
    /// Both initial sequence numbers a few thousand bytes before `2^32`, so the streams wrap.
    pub wrap: bool,
}

impl Impairments {
    /// Every trouble at once.
    pub fn all() -> Impairments {
        Impairments {
            reorder: true,
            retransmit: true,
            overlap: true,
            conflict: true,
            loss: true,
            wrap: true,
        }
    }
}

/// A generated connection.
#[derive(Debug, Clone)]
pub struct Flow {
    /// `(timestamp ns, Ethernet frame)` in capture order (timestamps never decrease).
    pub packets: Vec<(i64, Vec<u8>)>,
    /// The client (sends the SYN): address and port.
    pub client: (IpAddr, u16),
    /// The server.
    pub server: (IpAddr, u16),
    /// The bytes each side sent: `[client, server]`.
    pub sent: [Vec<u8>; 2],
    /// The byte ranges `(offset, len)` of each side's stream that no captured packet carries,
    /// in order and merged: what a transcript must show as missing.
    pub lost: [Vec<(u64, u64)>; 2],
}

impl Flow {
    /// Each side's stream as a transcript sees it: the bytes sent, with every lost range
    /// replaced by `marker(len)`.
    pub fn expected(&self, side: usize, marker: impl Fn(u64) -> Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0usize;
        for &(off, len) in &self.lost[side] {
            out.extend_from_slice(&self.sent[side][at..off as usize]);
            out.extend(marker(len));
            at = (off + len) as usize;
        }
        out.extend_from_slice(&self.sent[side][at..]);
        out
    }
}

struct Seg {
    side: usize,
    off: usize,
    data: Vec<u8>,
    flags: TcpFlags,
}

/// A connection of seed `seed`: a handshake, a 6,000-byte text request in segments of 1–1448
/// bytes, a 60,000-byte binary response, a second request and response of 700 and 9,000 bytes,
/// and FINs, with the impairments asked for. The same arguments give the same flow.
pub fn tcp(seed: u64, imp: &Impairments) -> Flow {
    let mut rng = Rng::new(seed);
    let client = (
        IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)),
        40000 + (seed % 20000) as u16,
    );
    let server = (IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2)), 8080);
    let isn = if imp.wrap {
        [
            u32::MAX - rng.below(4000) as u32,
            u32::MAX - rng.below(20000) as u32,
        ]
    } else {
        [rng.next_u64() as u32, rng.next_u64() as u32]
    };
    let text = |n: usize, rng: &mut Rng| -> Vec<u8> {
        let words: [&[u8]; 6] = [
            b"capme ",
            b"transcript ",
            b"GET ",
            b"\r\n",
            b"0123456789 ",
            b"flow ",
        ];
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            let w: &[u8] = words[rng.below(words.len() as u64) as usize];
            v.extend_from_slice(w);
        }
        v.truncate(n);
        v
    };
    let binary = |n: usize, rng: &mut Rng| {
        let mut v = vec![0u8; n];
        rng.fill(&mut v);
        v
    };
    let rounds = [
        (text(6000, &mut rng), binary(60_000, &mut rng)),
        (text(700, &mut rng), binary(9000, &mut rng)),
    ];
    let mut sent = [Vec::new(), Vec::new()];
    // Data segments in sending order.
    let mut segs: Vec<Seg> = Vec::new();
    for (req, resp) in &rounds {
        for (side, bytes) in [(0usize, req), (1, resp)] {
            let mut k = 0;
            while k < bytes.len() {
                let n = (rng.range(1, 1448) as usize).min(bytes.len() - k);
                segs.push(Seg {
                    side,
                    off: sent[side].len() + k,
                    data: bytes[k..k + n].to_vec(),
                    flags: TcpFlags::ACK | TcpFlags::PSH,
                });
                k += n;
            }
            sent[side].extend_from_slice(bytes);
        }
    }
    // Loss: never the last segment of a side (the FIN after it tells a gap there anyway,
    // but keep the streams' ends plain).
    let last: [usize; 2] = [0, 1].map(|s| segs.iter().rposition(|x| x.side == s).unwrap_or(0));
    let mut lost_flags = vec![false; segs.len()];
    if imp.loss {
        for (i, l) in lost_flags.iter_mut().enumerate() {
            *l = i != last[0] && i != last[1] && rng.chance(1, 12);
        }
    }
    // The order on the wire: the sending order, adjacent segments swapped, retransmissions
    // and overlapping copies inserted after their originals.
    let mut wire: Vec<Seg> = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let swap = imp.reorder && i + 1 < segs.len() && rng.chance(1, 5);
        let order: Vec<usize> = if swap { vec![i + 1, i] } else { vec![i] };
        for &j in &order {
            if !lost_flags[j] {
                let s = &segs[j];
                wire.push(Seg {
                    side: s.side,
                    off: s.off,
                    data: s.data.clone(),
                    flags: s.flags,
                });
            }
        }
        let hi = *order.iter().max().unwrap_or(&i);
        let s = &segs[hi];
        if imp.retransmit && !lost_flags[hi] && rng.chance(1, 5) {
            wire.push(Seg {
                side: s.side,
                off: s.off,
                data: s.data.clone(),
                flags: s.flags,
            });
        }
        if imp.overlap && hi >= 1 && rng.chance(1, 6) {
            let p = &segs[hi - 1];
            if p.side == s.side
                && !lost_flags[hi - 1]
                && !lost_flags[hi]
                && p.data.len() > 1
                && s.data.len() > 1
            {
                // Repacketised: the second half of the one before and the first half of this.
                let from = p.off + p.data.len() / 2;
                let to = s.off + s.data.len() / 2;
                let side = s.side;
                wire.push(Seg {
                    side,
                    off: from,
                    data: sent[side][from..to].to_vec(),
                    flags: s.flags,
                });
                if imp.conflict {
                    // A conflicting copy of data already sent: the first copy must win.
                    let mut junk = sent[side][from..to].to_vec();
                    for b in &mut junk {
                        *b ^= 0x5a;
                    }
                    wire.push(Seg {
                        side,
                        off: from,
                        data: junk,
                        flags: s.flags,
                    });
                }
            }
        }
        i += order.len();
    }
    // Frames.
    let mut packets = Vec::new();
    let mut t: i64 = 1_718_400_000_000_000_000 + (seed as i64 % 1000) * 1_000_000_000;
    let ends = [client, server];
    let frame = |side: usize, seq: u32, ack: u32, flags: TcpFlags, data: &[u8], t: i64| {
        let (a, b) = (ends[side], ends[1 - side]);
        let mut pb = PacketBuilder::ethernet(
            [2, 0, 0, 0, 0, 1 + side as u8],
            [2, 0, 0, 0, 0, 2 - side as u8],
        );
        pb = match (a.0, b.0) {
            (IpAddr::V4(x), IpAddr::V4(y)) => pb.ipv4(x, y),
            (x, y) => pb.ip(x, y),
        };
        let mut pb = pb
            .tcp(a.1, b.1)
            .seq(seq)
            .flags(flags)
            .window(65535)
            .payload(data);
        if flags.contains(TcpFlags::ACK) {
            pb = pb.ack(ack);
        }
        (t, pb.build())
    };
    let start = |side: usize| isn[side].wrapping_add(1);
    packets.push(frame(0, isn[0], 0, TcpFlags::SYN, &[], t));
    t += 20_000_000;
    packets.push(frame(
        1,
        isn[1],
        start(0),
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
        t,
    ));
    t += 40_000;
    packets.push(frame(0, start(0), start(1), TcpFlags::ACK, &[], t));
    for s in &wire {
        t += rng.range(10_000, 2_000_000);
        let seq = start(s.side).wrapping_add(s.off as u32);
        let ack = start(1 - s.side).wrapping_add(sent[1 - s.side].len() as u32 / 2);
        packets.push(frame(s.side, seq, ack, s.flags, &s.data, t));
    }
    for side in [0, 1] {
        t += 1_000_000;
        let fin = start(side).wrapping_add(sent[side].len() as u32);
        let ack = start(1 - side).wrapping_add(sent[1 - side].len() as u32);
        packets.push(frame(side, fin, ack, TcpFlags::FIN | TcpFlags::ACK, &[], t));
    }
    // The ranges no captured packet carries.
    let mut lost: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
    for side in [0, 1] {
        let mut covered = vec![false; sent[side].len()];
        for s in wire.iter().filter(|s| s.side == side) {
            for c in &mut covered[s.off..s.off + s.data.len()] {
                *c = true;
            }
        }
        let mut k = 0;
        while k < covered.len() {
            if covered[k] {
                k += 1;
                continue;
            }
            let from = k;
            while k < covered.len() && !covered[k] {
                k += 1;
            }
            lost[side].push((from as u64, (k - from) as u64));
        }
    }
    Flow {
        packets,
        client,
        server,
        sent,
        lost,
    }
}

//! TCP reassembly of one direction of a connection.
//!
//! - **Positions.** Sequence numbers are unwrapped into 64-bit stream positions relative to the
//!   highest one seen (a difference of less than 2^31 either way), so a stream crossing
//!   `2^32 - 1 → 0` stays in order.
//! - **Origin.** Offset 0 is the byte after the SYN's sequence number (the ISN) when the
//!   handshake was seen; without it (a capture that starts mid-stream) the sequence number of
//!   the first packet seen in this direction, data or not (a pure ACK carries the next byte to
//!   send). Data before the origin is dropped.
//! - **Order.** Bytes are delivered in sequence order whatever order the packets came in.
//! - **Duplicates.** Retransmissions and overlapping segments are de-duplicated: *the first copy
//!   of a byte wins*; a later copy with other content (an overlap attack, a rewritten
//!   retransmission) is ignored, as Linux and most reassemblers in intrusion detection do
//!   for data already received.
//! - **Gaps.** A hole that is never filled (a lost segment the capture never saw) is delivered
//!   as a [`Delivery::Gap`] before the data after it, rendered `[N bytes missing]`. A hole at the
//!   end of the stream is known from the FIN's sequence number.
//! - **Memory.** Out-of-order data waits for the hole before it, up to [`MAX_PENDING_BYTES`]
//!   bytes or [`MAX_PENDING_SEGMENTS`] segments per direction; past that the oldest hole is
//!   declared a gap and what follows it is delivered.

use crate::time::Timestamp;
use bytes::Bytes;
use std::collections::BTreeMap;

/// At most this many bytes of out-of-order data wait in one direction: 4 MiB.
pub const MAX_PENDING_BYTES: usize = 4 << 20;
/// At most this many out-of-order segments wait in one direction.
pub const MAX_PENDING_SEGMENTS: usize = 16_384;

/// What a direction's reassembly hands on, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Stream bytes at `offset`, from a packet stamped `ts`.
    Data {
        /// Offset of the first byte in this direction's stream.
        offset: u64,
        /// Timestamp of the packet that carried them (the first copy).
        ts: Timestamp,
        /// The bytes.
        bytes: Bytes,
    },
    /// `len` bytes at `offset` that the capture does not hold.
    Gap {
        /// Offset of the first missing byte.
        offset: u64,
        /// Bytes missing.
        len: u64,
    },
}

/// The parts of `start..end` that no range of `map` covers. The ranges of `map` (key: start,
/// `len_of`: length) must not overlap each other.
pub(crate) fn uncovered<V>(
    map: &BTreeMap<i64, V>,
    len_of: impl Fn(&V) -> usize,
    start: i64,
    end: i64,
) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    if start >= end {
        return out;
    }
    let mut cursor = start;
    if let Some((&k, v)) = map.range(..start).next_back() {
        cursor = cursor.max(k + len_of(v) as i64);
    }
    for (&k, v) in map.range(start..end) {
        if k > cursor {
            out.push((cursor, k));
        }
        cursor = cursor.max(k + len_of(v) as i64);
    }
    if cursor < end {
        out.push((cursor, end));
    }
    out
}

/// One direction of a TCP connection being reassembled.
#[derive(Debug, Default)]
pub struct TcpStream {
    /// The last unwrapped position and its 32-bit sequence number (the highest seen).
    anchor: Option<(u32, i64)>,
    /// Position of offset 0.
    origin: Option<i64>,
    /// The next position to deliver.
    next: i64,
    /// Out-of-order data by position, never overlapping.
    pending: BTreeMap<i64, (Timestamp, Bytes)>,
    pending_bytes: usize,
    /// The position just after the FIN, when one was seen.
    fin: Option<i64>,
    /// True once the handshake fixed the origin.
    syn: bool,
}

impl TcpStream {
    /// A direction with nothing seen yet.
    pub fn new() -> TcpStream {
        TcpStream::default()
    }

    fn unwrap(&mut self, seq: u32) -> i64 {
        match self.anchor {
            None => {
                self.anchor = Some((seq, 0));
                0
            }
            Some((s, p)) => {
                let pos = p + i64::from(seq.wrapping_sub(s) as i32);
                if pos > p {
                    self.anchor = Some((seq, pos));
                }
                pos
            }
        }
    }

    fn set_origin(&mut self, pos: i64) {
        self.origin = Some(pos);
        self.next = pos;
        // Anything buffered before the origin is not part of the stream.
        while let Some((&k, (_, b))) = self.pending.first_key_value() {
            if k >= pos {
                break;
            }
            let end = k + b.len() as i64;
            let Some((ts, b)) = self.pending.remove(&k) else {
                break;
            };
            self.pending_bytes -= b.len();
            if end > pos {
                let cut = b.slice((pos - k) as usize..);
                self.pending_bytes += cut.len();
                self.pending.insert(pos, (ts, cut));
            }
        }
    }

    /// Offset of a position (0 before the origin).
    fn offset(&self, pos: i64) -> u64 {
        u64::try_from(pos - self.origin.unwrap_or(pos)).unwrap_or(0)
    }

    /// Takes one segment of this direction: its sequence number, flags (the TCP flag byte),
    /// data and timestamp. What becomes deliverable is appended to `out` in stream order.
    pub fn segment(
        &mut self,
        seq: u32,
        flags: u8,
        data: &[u8],
        ts: Timestamp,
        out: &mut Vec<Delivery>,
    ) {
        use crate::wire::TcpHeader;
        let rst = flags & TcpHeader::RST != 0;
        let mut pos = self.unwrap(seq);
        if flags & TcpHeader::SYN != 0 {
            if !self.syn {
                self.syn = true;
                self.set_origin(pos + 1);
            }
            pos += 1;
        } else if self.origin.is_none() && !rst {
            self.set_origin(pos);
        }
        let end = pos + data.len() as i64;
        if flags & TcpHeader::FIN != 0 && self.fin.is_none() {
            self.fin = Some(end);
        }
        if self.origin.is_none() {
            // A RST before anything else: it fixes nothing, and its data is not a stream's.
            return;
        }
        let start = pos.max(self.next);
        for (from, to) in uncovered(&self.pending, |v| v.1.len(), start, end) {
            let piece = &data[(from - pos) as usize..(to - pos) as usize];
            self.pending_bytes += piece.len();
            self.pending
                .insert(from, (ts, Bytes::copy_from_slice(piece)));
        }
        self.deliver(out);
        while self.pending_bytes > MAX_PENDING_BYTES || self.pending.len() > MAX_PENDING_SEGMENTS {
            if !self.skip_hole(out) {
                break;
            }
            self.deliver(out);
        }
    }

    /// Delivers the data that follows `next` without a hole.
    fn deliver(&mut self, out: &mut Vec<Delivery>) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.next {
                break;
            }
            let (ts, bytes) = entry.remove();
            self.pending_bytes -= bytes.len();
            let offset = self.offset(self.next);
            self.next += bytes.len() as i64;
            out.push(Delivery::Data { offset, ts, bytes });
        }
    }

    /// Declares the hole before the first waiting segment a gap. False when nothing waits.
    fn skip_hole(&mut self, out: &mut Vec<Delivery>) -> bool {
        let Some((&k, _)) = self.pending.first_key_value() else {
            return false;
        };
        if k > self.next {
            out.push(Delivery::Gap {
                offset: self.offset(self.next),
                len: (k - self.next) as u64,
            });
            self.next = k;
        }
        true
    }

    /// The end of the capture: every waiting segment is delivered, holes as gaps, and a hole
    /// before the FIN too.
    pub fn finish(&mut self, out: &mut Vec<Delivery>) {
        while self.skip_hole(out) {
            self.deliver(out);
        }
        if let (Some(fin), Some(_)) = (self.fin, self.origin) {
            if fin > self.next {
                out.push(Delivery::Gap {
                    offset: self.offset(self.next),
                    len: (fin - self.next) as u64,
                });
                self.next = fin;
            }
        }
    }

    /// True when the origin came from the handshake.
    pub fn saw_syn(&self) -> bool {
        self.syn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TcpHeader;

    const ACK: u8 = TcpHeader::ACK;

    /// The stream as text: data, and gaps as `[N]`.
    fn text(d: &[Delivery]) -> String {
        let mut s = String::new();
        let mut at = 0;
        for x in d {
            match x {
                Delivery::Data { offset, bytes, .. } => {
                    assert_eq!(*offset, at, "{d:?}");
                    at += bytes.len() as u64;
                    s += std::str::from_utf8(bytes).unwrap();
                }
                Delivery::Gap { offset, len } => {
                    assert_eq!(*offset, at, "{d:?}");
                    at += len;
                    s += &format!("[{len}]");
                }
            }
        }
        s
    }

    fn run(isn: u32, syn: bool, segs: &[(u32, &str)], fin: Option<u32>) -> String {
        let mut t = TcpStream::new();
        let mut out = Vec::new();
        if syn {
            t.segment(isn, TcpHeader::SYN, &[], Timestamp(0), &mut out);
        }
        for (i, (off, data)) in segs.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(*off);
            t.segment(seq, ACK, data.as_bytes(), Timestamp(i as i64), &mut out);
        }
        if let Some(f) = fin {
            t.segment(
                isn.wrapping_add(1).wrapping_add(f),
                ACK | TcpHeader::FIN,
                &[],
                Timestamp(99),
                &mut out,
            );
        }
        t.finish(&mut out);
        text(&out)
    }

    #[test]
    fn in_order_reordered_and_across_the_wrap() {
        let segs = [(0, "hello "), (6, "big "), (10, "world")];
        for isn in [1000, u32::MAX - 7, u32::MAX] {
            assert_eq!(run(isn, true, &segs, Some(15)), "hello big world");
            let r = [(10, "world"), (0, "hello "), (6, "big ")];
            assert_eq!(run(isn, true, &r, None), "hello big world");
        }
    }

    #[test]
    fn retransmissions_and_overlaps_first_copy_wins() {
        let segs = [
            (0, "abcd"),
            (0, "abcd"),
            (2, "XXef"),
            (8, "ij"),
            (5, "YYYZ"),
            (4, "e"),
        ];
        // bytes 2..4 came first as "cd", 4..6 as "ef", 8..10 "ij", 6..8 from "YYYZ"'s middle.
        assert_eq!(run(7, true, &segs, None), "abcdefYYij");
    }

    #[test]
    fn losses_become_gaps_also_before_the_fin() {
        assert_eq!(run(5, true, &[(0, "ab"), (5, "fg")], Some(9)), "ab[3]fg[2]");
        // Lost first data after the handshake.
        assert_eq!(run(5, true, &[(3, "de")], None), "[3]de");
    }

    #[test]
    fn mid_stream_starts_at_the_first_packet_seen() {
        assert_eq!(run(5000, false, &[(0, "mid"), (3, "dle")], None), "middle");
        // A segment before the first one seen is not part of the stream.
        assert_eq!(run(5000, false, &[(4, "de"), (0, "abcd")], None), "de");
    }

    #[test]
    fn out_of_order_data_is_bounded() {
        let mut t = TcpStream::new();
        let mut out = Vec::new();
        t.segment(0, TcpHeader::SYN, &[], Timestamp(0), &mut out);
        let chunk = vec![b'x'; 64 << 10];
        // Byte 1..=100 lost; then more than the bound arrives after the hole.
        let mut seq = 101u32;
        while (seq as usize) < MAX_PENDING_BYTES + (256 << 10) {
            t.segment(seq, ACK, &chunk, Timestamp(1), &mut out);
            seq += chunk.len() as u32;
            assert!(t.pending_bytes <= MAX_PENDING_BYTES);
        }
        assert_eq!(
            out.first(),
            Some(&Delivery::Gap {
                offset: 0,
                len: 100
            })
        );
    }
}

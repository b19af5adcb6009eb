//! IP fragment reassembly for transcripts: a small, bounded reassembler.
//!
//! The search already delivers a flow's fragments (later fragments follow their first one, see
//! [`crate::search`]); here they are put back together into datagrams. At most
//! [`MAX_DATAGRAMS`] datagrams are open at once (the oldest is given up first) and a datagram
//! is at most [`MAX_DATAGRAM_BYTES`] long (IP's own limit): memory stays under 4 MiB whatever
//! the input. Overlapping fragments are resolved as the TCP streams are: the first copy of a
//! byte wins.

use super::reassembly::uncovered;
use crate::flow::Proto;
use crate::time::Timestamp;
use crate::wire::Fragment;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

/// At most this many fragmented datagrams are being reassembled at once.
pub const MAX_DATAGRAMS: usize = 64;
/// The largest datagram payload (bytes after the IP header) reassembled: 65,535.
pub const MAX_DATAGRAM_BYTES: usize = 65_535;
/// A fragment offset counts 8-byte units.
const OFFSET_UNIT: usize = 8;

type Key = (IpAddr, IpAddr, Proto, u32);

struct Datagram {
    key: Key,
    /// Timestamp of its first fragment seen.
    ts: Timestamp,
    /// Fragment data by byte offset, never overlapping: a fragment adds only the bytes no
    /// earlier fragment brought.
    pieces: BTreeMap<i64, Vec<u8>>,
    /// The payload length, once the last fragment (more-fragments clear) is seen.
    total: Option<usize>,
}

impl Datagram {
    /// The whole payload when the pieces cover `0..total`; overlaps resolved first copy first.
    fn assemble(&self) -> Option<Vec<u8>> {
        let total = self.total?;
        let mut out = Vec::with_capacity(total);
        for (&off, data) in &self.pieces {
            if usize::try_from(off).ok()? != out.len() {
                return None;
            }
            out.extend_from_slice(data);
        }
        (out.len() == total).then_some(out)
    }
}

/// Reassembles the fragmented datagrams of a flow.
#[derive(Default)]
pub(crate) struct Defrag {
    open: VecDeque<Datagram>,
    /// Datagrams given up (the bound, an impossible length).
    pub(crate) dropped: u64,
}

impl Defrag {
    /// Adds one fragment (`data`: its part of the datagram payload). Returns the timestamp of
    /// the datagram's first fragment seen and the whole payload once it is complete.
    pub(crate) fn push(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        proto: Proto,
        frag: Fragment,
        ts: Timestamp,
        data: &[u8],
    ) -> Option<(Timestamp, Vec<u8>)> {
        let key = (src, dst, proto, frag.id);
        let off = usize::from(frag.offset) * OFFSET_UNIT;
        let end = off + data.len();
        if end > MAX_DATAGRAM_BYTES {
            self.dropped += 1;
            return None;
        }
        let i = match self.open.iter().position(|d| d.key == key) {
            Some(i) => i,
            None => {
                if self.open.len() >= MAX_DATAGRAMS {
                    self.open.pop_front();
                    self.dropped += 1;
                }
                self.open.push_back(Datagram {
                    key,
                    ts,
                    pieces: BTreeMap::new(),
                    total: None,
                });
                self.open.len() - 1
            }
        };
        let d = self.open.get_mut(i)?;
        if !frag.more && d.total.is_none() {
            d.total = Some(end);
        }
        for (from, to) in uncovered(&d.pieces, |v| v.len(), off as i64, end as i64) {
            let piece = data.get((from as usize - off)..(to as usize - off))?;
            d.pieces.insert(from, piece.to_vec());
        }
        let whole = d.assemble()?;
        let ts = d.ts;
        self.open.remove(i);
        Some((ts, whole))
    }

    /// Datagrams still incomplete.
    pub(crate) fn incomplete(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(offset: u16, more: bool) -> Fragment {
        Fragment {
            id: 7,
            offset,
            more,
        }
    }

    #[test]
    fn fragments_in_any_order_make_the_datagram_first_copy_winning() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut d = Defrag::default();
        let t = Timestamp(5);
        assert!(d.push(a, b, Proto::UDP, f(2, false), t, &[3; 4]).is_none());
        assert!(d
            .push(a, b, Proto::UDP, f(0, true), Timestamp(6), &[1; 8])
            .is_none());
        // Bytes 8..18, overlapping the last fragment's 16..18: the first copy wins.
        let (ts, p) = d.push(a, b, Proto::UDP, f(1, true), t, &[2; 10]).unwrap();
        assert_eq!(ts, t);
        assert_eq!(p, [&[1u8; 8][..], &[2; 8], &[3; 4]].concat());
        assert_eq!(d.incomplete(), 0);
        // Past the IP limit: dropped, never allocated.
        assert!(d
            .push(a, b, Proto::UDP, f(8191, false), t, &[0; 100])
            .is_none());
        assert_eq!(d.dropped, 1);
        // Bounded: the oldest incomplete datagram is given up.
        for id in 0..(MAX_DATAGRAMS as u32 + 3) {
            let fr = Fragment {
                id,
                offset: 0,
                more: true,
            };
            d.push(a, b, Proto::UDP, fr, t, &[0; 8]);
        }
        assert_eq!(d.incomplete(), MAX_DATAGRAMS);
        assert_eq!(d.dropped, 4);
    }
}

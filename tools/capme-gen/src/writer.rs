//! Scheduling and writing: the time-ordered queue of packets, and the writer of one sensor's
//! rotating capture files (multi-queue disorder, the rotation overlap), with the records the
//! manifest is made from.

use crate::flow::{Frag, Link, Out};
use crate::{Res, MS, S};
use capme_core::sink::PcapFileWriter;
use capme_core::testutil::rng::Rng;
use capme_core::Timestamp;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::net::IpAddr;
use std::path::PathBuf;

/// Manifest tag of a named flow's packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tag {
    pub(crate) flow: usize,
    pub(crate) fwd: bool,
    pub(crate) frag: Frag,
    pub(crate) vlan: bool,
    pub(crate) qinq: bool,
    pub(crate) mpls: bool,
    /// IPv6 with extension headers (fragment header included).
    pub(crate) ipv6_ext: bool,
}

/// A packet waiting in the time-ordered queue.
#[derive(Debug)]
pub(crate) struct Pkt {
    pub(crate) key: i64,
    pub(crate) seq: u64,
    pub(crate) data: Vec<u8>,
    /// Time of the previous packet of the same flow (disorder never goes before it).
    pub(crate) flow_prev: i64,
    pub(crate) tag: Option<Tag>,
    pub(crate) force_disorder: bool,
    pub(crate) overlap: bool,
}

impl PartialEq for Pkt {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.seq) == (o.key, o.seq)
    }
}
impl Eq for Pkt {}
impl PartialOrd for Pkt {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
/// Reversed, so that `BinaryHeap` pops the earliest packet.
impl Ord for Pkt {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.key, o.seq).cmp(&(self.key, self.seq))
    }
}

#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) heap: BinaryHeap<Pkt>,
    pub(crate) seq: u64,
}

impl Queue {
    /// Queues a flow's packets; `flow` tags them for the manifest.
    pub(crate) fn add(&mut self, mut outs: Vec<Out>, link: Option<&Link>, flow: Option<usize>) {
        outs.sort_by_key(|o| o.t);
        let mut prev = i64::MIN;
        for o in outs {
            let tag = match (flow, link, o.foreign) {
                (Some(f), Some(l), false) => Some(Tag {
                    flow: f,
                    fwd: o.fwd,
                    frag: o.frag,
                    vlan: !l.tags.is_empty(),
                    qinq: l.tags.len() >= 2,
                    mpls: !l.mpls.is_empty(),
                    ipv6_ext: l.is_v6() && (!l.ipv6_ext.is_empty() || o.frag != Frag::No),
                }),
                _ => None,
            };
            self.seq += 1;
            let fp = if o.foreign { i64::MIN } else { prev };
            if !o.foreign {
                prev = o.t;
            }
            self.heap.push(Pkt {
                key: o.t,
                seq: self.seq,
                data: o.data,
                flow_prev: fp,
                tag,
                force_disorder: o.force_disorder,
                overlap: o.overlap,
            });
        }
    }
    pub(crate) fn peek_key(&self) -> Option<i64> {
        self.heap.peek().map(|p| p.key)
    }
}

/// A packet of a named flow as written.
#[derive(Debug, Clone)]
pub(crate) struct PktRec {
    pub(crate) ts: i64,
    pub(crate) len: usize,
    pub(crate) file: String,
    pub(crate) index: u64,
    pub(crate) tag: Tag,
    pub(crate) disordered: bool,
    pub(crate) after_next_file_start: bool,
}

/// A named flow of the manifest.
#[derive(Debug)]
pub(crate) struct FlowRec {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) sensor: String,
    pub(crate) proto: u8,
    pub(crate) src: IpAddr,
    pub(crate) sport: u16,
    pub(crate) dst: IpAddr,
    pub(crate) dport: u16,
    pub(crate) vlan_ids: Vec<u16>,
    pub(crate) mpls: Vec<u32>,
    pub(crate) packets: Vec<PktRec>,
}

#[derive(Debug)]
pub(crate) struct FileRec {
    pub(crate) path: String,
    pub(crate) sensor: String,
    pub(crate) name_epoch: i64,
    pub(crate) first: i64,
    pub(crate) last: i64,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
}

pub(crate) struct OpenFile {
    pub(crate) epoch: i64,
    pub(crate) w: PcapFileWriter<BufWriter<File>>,
    pub(crate) rec: usize,
    pub(crate) index: u64,
    pub(crate) last_stamp: i64,
}

/// Writes one sensor's packets into rotating files.
pub(crate) struct Writer {
    pub(crate) root: PathBuf,
    pub(crate) sensor: String,
    pub(crate) rotate: i64,
    pub(crate) rng: Rng,
    pub(crate) cur: Option<OpenFile>,
    pub(crate) held: Option<Pkt>,
    pub(crate) files: Vec<FileRec>,
    pub(crate) warnings: Vec<String>,
}

impl Writer {
    /// The epoch (s) of the file that a packet at `key` µs would go to if it came next (or, for
    /// `None`, of the file that the held packet goes to).
    pub(crate) fn epoch_for(&self, key: Option<i64>) -> Option<i64> {
        let mut e = self.cur.as_ref().map(|c| c.epoch);
        for k in self.held.as_ref().map(|h| h.key).into_iter().chain(key) {
            match e {
                Some(ep) if k < ep * S + self.rotate * S => {}
                _ => e = Some(k.div_euclid(S)),
            }
        }
        e
    }

    pub(crate) fn push(&mut self, p: Pkt, flows: &mut [FlowRec]) -> Res<()> {
        if let Some(h) = self.held.take() {
            self.write(h, Some(&p), flows)?;
        }
        self.held = Some(p);
        Ok(())
    }

    pub(crate) fn finish(&mut self, flows: &mut [FlowRec]) -> Res<()> {
        if let Some(h) = self.held.take() {
            self.write(h, None, flows)?;
        }
        self.close()
    }

    pub(crate) fn close(&mut self) -> Res<()> {
        if let Some(c) = self.cur.take() {
            c.w.into_inner()?;
        }
        Ok(())
    }

    pub(crate) fn open(&mut self, epoch: i64) -> Res<()> {
        self.close()?;
        let day = Timestamp::from_secs(epoch).date_string();
        let rel = format!("{}/dailylogs/{day}/snort.log.{epoch}", self.sensor);
        let path = self.root.join(&rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let f = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        let w = PcapFileWriter::new(f, 1, 65535, false, false)?;
        self.files.push(FileRec {
            path: rel,
            sensor: self.sensor.clone(),
            name_epoch: epoch,
            first: 0,
            last: 0,
            min: i64::MAX,
            max: i64::MIN,
            packets: 0,
            bytes: 24,
        });
        self.cur = Some(OpenFile {
            epoch,
            w,
            rec: self.files.len() - 1,
            index: 0,
            last_stamp: i64::MIN,
        });
        Ok(())
    }

    pub(crate) fn write(&mut self, h: Pkt, next: Option<&Pkt>, flows: &mut [FlowRec]) -> Res<()> {
        let rotate = match &self.cur {
            None => true,
            Some(c) => h.key >= (c.epoch + self.rotate) * S,
        };
        let mut stamp = h.key;
        let mut after_next = false;
        if rotate {
            self.open(h.key.div_euclid(S))?;
        } else {
            let c = self.cur.as_ref().expect("open file");
            let next_rotates = next.is_some_and(|n| n.key >= (c.epoch + self.rotate) * S);
            let named = h.tag.is_some();
            if next_rotates && (h.overlap || (!named && self.rng.chance(1, 2))) {
                // The last packet of this file is stamped after the first of the next one.
                stamp = next.map_or(stamp, |n| n.key) + self.rng.range(500, 3_000);
                after_next = true;
            } else if h.force_disorder || (!named && self.rng.chance(1, 400)) {
                let d = self.rng.range(MS, 5 * MS);
                let s = c.last_stamp.saturating_sub(d);
                if s > h.flow_prev && s >= c.epoch * S && s < h.key {
                    stamp = s;
                } else if h.force_disorder {
                    self.warnings.push(format!(
                        "{}: could not stamp the packet at {} before its predecessor",
                        self.sensor, h.key
                    ));
                }
            }
            if h.overlap && !after_next {
                self.warnings.push(format!(
                    "{}: the packet at {} is not followed by a new file",
                    self.sensor, h.key
                ));
            }
        }
        let c = self.cur.as_mut().expect("open file");
        let disordered = stamp < c.last_stamp;
        let ts_raw = (stamp.div_euclid(S) as u32, stamp.rem_euclid(S) as u32);
        c.w.write_record(ts_raw, h.data.len() as u32, &h.data)?;
        let f = &mut self.files[c.rec];
        if f.packets == 0 {
            f.first = stamp;
        }
        f.last = stamp;
        f.min = f.min.min(stamp);
        f.max = f.max.max(stamp);
        f.packets += 1;
        f.bytes += 16 + h.data.len() as u64;
        if let Some(tag) = h.tag {
            flows[tag.flow].packets.push(PktRec {
                ts: stamp,
                len: h.data.len(),
                file: f.path.clone(),
                index: c.index,
                tag,
                disordered,
                after_next_file_start: after_next,
            });
        }
        c.index += 1;
        c.last_stamp = stamp;
        Ok(())
    }
}

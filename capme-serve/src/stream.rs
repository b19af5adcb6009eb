//! A capture streamed to an HTTP response as the search produces it.
//!
//! [`ChannelSink`] is a [`Sink`] that runs on a blocking thread and hands 64 KiB chunks to the
//! response through a bounded channel, so a slow client slows the search down instead of the
//! result piling up in memory.
//!
//! The format is chosen as [`FileSink`] chooses it, with one difference forced by streaming (a
//! byte sent cannot be rewritten): the first [`PREFIX`] bytes of packets are held back. A
//! result that ends within them is written by a [`FileSink`] and sent whole, so a small result
//! is byte for byte what `capme extract` writes. A larger one is then committed to the format
//! its [`Layout`] allows: the layout is read before the search from the headers of every file
//! the plan will read (the search then reads exactly that plan, see
//! [`capme_core::Store::extract_planned`]). Legacy pcap when every planned file is a legacy
//! pcap of one link type and precision (the header's snaplen is the largest of theirs), so
//! every packet the search can yield fits it; pcapng otherwise (files of several link types
//! or precisions, a pcapng input, whose interfaces may be declared anywhere in the file, or a
//! header that could not be read). A response is therefore never cut for a packet that does
//! not fit: the only packet that could is one of a file replaced in place by one of another
//! link type between the header read and the search, and that stops the stream with an error
//! (an incomplete transfer, never a wrong capture).

use crate::flight::Fanout;
use capme_core::capture::{CaptureReader, Format};
use capme_core::sink::file::{pcap_key, pcap_ts};
use capme_core::sink::{PcapFileWriter, PcapngFileWriter};
use capme_core::store::Plan;
use capme_core::{Error, FileSink, Packet, Result, Sink, Summary};
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// Bytes of packets held back before a stream commits to a format.
pub const PREFIX: usize = 1 << 20;
/// Size of one chunk sent to the response.
pub const CHUNK: usize = 64 << 10;
/// Chunks in flight between the search and the response.
pub const DEPTH: usize = 8;

/// What the search thread sends to the responses.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Bytes of the capture.
    Data(bytes::Bytes),
    /// The end: the extraction's summary, or its error (shared by every response).
    Done(Arc<std::result::Result<Summary, Error>>),
}

/// Where the search thread sends: every response sharing the extraction.
pub type Out = Arc<Fanout<Msg>>;

/// Writes to the responses in [`CHUNK`]-sized pieces; when every response's channel is closed
/// (the clients went away) it is a broken pipe, which stops the search.
pub struct ChanWriter {
    tx: Out,
    buf: Vec<u8>,
    /// Bytes handed to the channel.
    pub sent: u64,
}

impl ChanWriter {
    /// A writer over `tx`.
    pub fn new(tx: Out) -> ChanWriter {
        ChanWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
            sent: 0,
        }
    }

    fn push(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.sent += chunk.len() as u64;
        if self.tx.blocking_send(Msg::Data(chunk)) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            ))
        }
    }
}

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.push()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push()
    }
}

enum State {
    Holding {
        packets: Vec<Packet>,
        bytes: usize,
    },
    Pcap {
        w: PcapFileWriter<ChanWriter>,
        key: (u32, u8),
        units: u64,
    },
    Pcapng {
        w: PcapngFileWriter<ChanWriter>,
        ids: HashMap<capme_core::capture::Interface, u32>,
    },
    Done,
}

/// The formats a large streamed result may take, known before its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Every planned file is a legacy pcap with this `(link type, tsresol)`
    /// ([`pcap_key`]); `snaplen` is the largest of their headers'.
    Pcap {
        /// Link type and timestamp resolution (6 or 9).
        key: (u32, u8),
        /// The largest snaplen of the planned files.
        snaplen: u32,
    },
    /// Packets may not fit one legacy pcap header: stream pcapng.
    Pcapng,
}

impl Layout {
    /// The layout of the files of `plan`, from their headers (each file is opened and its
    /// header read; no record). An empty plan is [`Layout::Pcapng`] (nothing is streamed).
    pub fn of_plan(plan: &Plan) -> Layout {
        Layout::of_paths(plan.files().map(|f| f.path.as_path()))
    }

    /// The layout of capture files `paths` (see [`Layout::of_plan`]).
    pub fn of_paths<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Layout {
        let mut out: Option<((u32, u8), u32)> = None;
        for path in paths {
            let Ok(r) = CaptureReader::open(path) else {
                return Layout::Pcapng;
            };
            let (Format::Pcap { .. }, [iface]) = (r.format(), r.interfaces()) else {
                return Layout::Pcapng;
            };
            let Some(key) = pcap_key(iface) else {
                return Layout::Pcapng;
            };
            out = match out {
                None => Some((key, iface.snaplen)),
                Some((k, s)) if k == key => Some((k, s.max(iface.snaplen))),
                Some(_) => return Layout::Pcapng,
            };
        }
        match out {
            Some((key, snaplen)) => Layout::Pcap { key, snaplen },
            None => Layout::Pcapng,
        }
    }
}

/// The streaming sink (see the module documentation).
pub struct ChannelSink {
    tx: Out,
    state: State,
    layout: Layout,
}

fn client_error(e: io::Error) -> Error {
    Error::io("<http client>", e)
}

impl ChannelSink {
    /// A sink sending to `tx`, committing a large result to a format `layout` allows.
    pub fn new(tx: Out, layout: Layout) -> ChannelSink {
        ChannelSink {
            tx,
            layout,
            state: State::Holding {
                packets: Vec::new(),
                bytes: 0,
            },
        }
    }

    /// Commits the held packets to a streamed format and writes them.
    fn commit(&mut self) -> Result<()> {
        let State::Holding { packets, .. } = std::mem::replace(&mut self.state, State::Done) else {
            return Ok(());
        };
        let first = &packets[0];
        let key = pcap_key(&first.iface);
        let units = if key.is_some_and(|k| k.1 == 9) {
            1_000_000_000
        } else {
            1_000_000
        };
        let all_fit = key.is_some()
            && packets
                .iter()
                .all(|p| pcap_key(&p.iface) == key && pcap_ts(p, units).is_some());
        let planned = match self.layout {
            Layout::Pcap { key: k, snaplen } if Some(k) == key => Some(snaplen),
            _ => None,
        };
        let chan = ChanWriter::new(self.tx.clone());
        if let (true, Some(k), Some(planned_snaplen)) = (all_fit, key, planned) {
            let snaplen = packets
                .iter()
                .map(|p| p.iface.snaplen)
                .max()
                .unwrap_or(0)
                .max(planned_snaplen);
            let big_endian = matches!(
                first.iface.format,
                Format::Pcap {
                    big_endian: true,
                    ..
                }
            );
            let w = PcapFileWriter::new(chan, k.0, snaplen, k.1 == 9, big_endian)
                .map_err(client_error)?;
            self.state = State::Pcap { w, key: k, units };
        } else {
            let w = PcapngFileWriter::new(chan).map_err(client_error)?;
            self.state = State::Pcapng {
                w,
                ids: HashMap::new(),
            };
        }
        for p in &packets {
            self.write(p)?;
        }
        Ok(())
    }

    fn write(&mut self, p: &Packet) -> Result<()> {
        match &mut self.state {
            State::Pcap { w, key, units } => {
                let ts = (pcap_key(&p.iface) == Some(*key))
                    .then(|| pcap_ts(p, *units))
                    .flatten()
                    .ok_or_else(|| {
                        Error::invalid(
                            "pcap",
                            p.file.display().to_string(),
                            "this file's packets are of another link type or timestamp \
                             precision than its header said when the stream began as pcap (it \
                             was replaced during the search); the response was cut short: ask \
                             again",
                        )
                    })?;
                w.write_record(ts, p.orig_len, &p.data)
                    .map_err(client_error)
            }
            State::Pcapng { w, ids } => {
                let id = match ids.get(&*p.iface) {
                    Some(&id) => id,
                    None => {
                        let id = w.add_interface(&p.iface).map_err(client_error)?;
                        ids.insert((*p.iface).clone(), id);
                        id
                    }
                };
                w.write_packet(id, &p.iface, p.ts_raw, p.orig_len, &p.data)
                    .map_err(client_error)
            }
            State::Holding { .. } | State::Done => Ok(()),
        }
    }

    /// Writes a held (small) result exactly as `capme extract` would: through a [`FileSink`]
    /// in a private temporary directory, then sent whole.
    fn send_held(&mut self, packets: &[Packet]) -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let path = dir.path().join("capme-serve.pcap");
        let mut sink = FileSink::create(&path)?;
        sink.begin()?;
        for p in packets {
            sink.packet(p)?;
        }
        sink.finish()?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let mut w = ChanWriter::new(self.tx.clone());
        w.write_all(&bytes)
            .and_then(|_| w.flush())
            .map_err(client_error)
    }
}

impl Sink for ChannelSink {
    fn packet(&mut self, p: &Packet) -> Result<bool> {
        if let State::Holding { packets, bytes } = &mut self.state {
            // A copy: the search's packet may share a larger read buffer.
            let mut own = p.clone();
            own.data = bytes::Bytes::copy_from_slice(&p.data);
            *bytes += own.data.len() + 64;
            packets.push(own);
            if *bytes > PREFIX {
                self.commit()?;
            }
            return Ok(true);
        }
        self.write(p)?;
        Ok(true)
    }

    fn finish(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Holding { packets, .. } if !packets.is_empty() => self.send_held(&packets),
            State::Holding { .. } | State::Done => Ok(()),
            State::Pcap { w, .. } => w.into_inner().map(drop).map_err(client_error),
            State::Pcapng { w, .. } => w.into_inner().map(drop).map_err(client_error),
        }
    }
}

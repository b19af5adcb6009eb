//! A capture streamed to an HTTP response as the search produces it.
//!
//! [`ChannelSink`] is a [`Sink`] that runs on a blocking thread and hands 64 KiB chunks to the
//! response through a bounded channel, so a slow client slows the search down instead of the
//! result piling up in memory.
//!
//! The format is chosen as [`FileSink`] chooses it, with one difference forced by streaming (a
//! byte sent cannot be rewritten): the first [`PREFIX`] bytes of packets are held back. A
//! result that ends within them is written by a [`FileSink`] and sent whole, so a small result
//! is byte for byte what `capme extract` writes. A larger one is then committed: legacy pcap
//! when every held packet fits one pcap header (their link type and precision; the header's
//! snaplen is the largest of theirs), pcapng otherwise. A packet that arrives later and does
//! not fit a committed pcap stops the stream with an error (the response is cut short; see
//! the README): `--archive` or `capme extract` write such flows exactly.

use capme_core::capture::Format;
use capme_core::sink::file::{pcap_key, pcap_ts};
use capme_core::sink::{PcapFileWriter, PcapngFileWriter};
use capme_core::{Error, FileSink, Packet, Result, Sink, Summary};
use std::collections::HashMap;
use std::io::{self, Write};
use tokio::sync::mpsc;

/// Bytes of packets held back before a stream commits to a format.
pub const PREFIX: usize = 1 << 20;
/// Size of one chunk sent to the response.
pub const CHUNK: usize = 64 << 10;
/// Chunks in flight between the search and the response.
pub const DEPTH: usize = 8;

/// What the search thread sends to the response.
#[derive(Debug)]
pub enum Msg {
    /// Bytes of the capture.
    Data(bytes::Bytes),
    /// The end: the extraction's summary, or its error.
    Done(std::result::Result<Summary, Error>),
}

/// Writes to the channel in [`CHUNK`]-sized pieces; a closed channel (the client went away)
/// is a broken pipe, which stops the search.
pub struct ChanWriter {
    tx: mpsc::Sender<Msg>,
    buf: Vec<u8>,
    /// Bytes handed to the channel.
    pub sent: u64,
}

impl ChanWriter {
    /// A writer over `tx`.
    pub fn new(tx: mpsc::Sender<Msg>) -> ChanWriter {
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
        self.tx
            .blocking_send(Msg::Data(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
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

/// The streaming sink (see the module documentation).
pub struct ChannelSink {
    tx: mpsc::Sender<Msg>,
    state: State,
}

fn client_error(e: io::Error) -> Error {
    Error::io("<http client>", e)
}

impl ChannelSink {
    /// A sink sending to `tx`.
    pub fn new(tx: mpsc::Sender<Msg>) -> ChannelSink {
        ChannelSink {
            tx,
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
        let chan = ChanWriter::new(self.tx.clone());
        if let (true, Some(k)) = (all_fit, key) {
            let snaplen = packets.iter().map(|p| p.iface.snaplen).max().unwrap_or(0);
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
                            "a packet of another link type or timestamp precision arrived \
                             after the stream began as pcap; the response was cut short: use \
                             the server's --archive or `capme extract`, which write pcapng then",
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

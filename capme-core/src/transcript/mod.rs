//! Transcripts: a flow's payload as a conversation, as CapMe showed it next to the pcap.
//!
//! A [`TranscriptBuilder`] consumes the packets of one flow (it is a [`Sink`], so
//! [`Store::extract`](crate::Store) can feed it; `Store::transcript` does) and
//! [`build`](TranscriptBuilder::build)s a [`Transcript`]: the rendered text in the chosen
//! [`Style`] and the stream [`Segment`]s (direction, timestamp, offset in that direction's
//! stream, payload bytes) the text was made from.
//!
//! - **TCP** is reassembled per direction ([`reassembly`]): ordered by sequence number across
//!   the 2^32 wrap, retransmissions and overlaps de-duplicated (*the first copy of a byte
//!   wins*), holes shown as `[N bytes missing]`, offsets counted from the handshake's ISN + 1,
//!   or from the first packet seen when the capture starts mid-stream.
//! - **UDP**: one block per datagram; offsets count the datagram bytes sent so far.
//! - **IP fragments** are reassembled into their datagram first (a small bounded reassembler:
//!   at most [`MAX_DATAGRAMS`] open datagrams of at most [`MAX_DATAGRAM_BYTES`]).
//! - **HTTP/1.x** in the text styles: headers as text, chunked and gzip/deflate bodies decoded,
//!   binary bodies summarised as `[binary body, N bytes, type]` (see `http.rs`). The
//!   [`Style::Json`] segments are always the raw stream bytes.
//! - **The source** (`SRC:`, `"src"`) is the side that sent the SYN; without a SYN seen, the
//!   receiver of a SYN-ACK; otherwise the sender of the first packet. (Sguil called the side
//!   with the higher port the source; capme does not.)
//! - **Bounds.** At most [`TranscriptOptions::maxtx`] payload bytes (default
//!   [`DEFAULT_MAXTX`], CapMe's `maxtx`) go into a transcript; past it the builder asks the
//!   search to stop and the text ends with a notice. Out-of-order TCP data waits up to
//!   [`MAX_PENDING_BYTES`] per direction.
//!
//! Only the first flow seen is transcribed: a query without `--proto` can match a TCP and a
//! UDP flow on the same ports; packets of another protocol or endpoint pair are counted in
//! the notes. A 5-tuple reused within the window (a second SYN with another ISN) is treated as
//! the same stream.

mod frag;
mod http;
pub mod reassembly;
mod render;

pub use frag::{MAX_DATAGRAMS, MAX_DATAGRAM_BYTES};
pub use reassembly::{Delivery, TcpStream, MAX_PENDING_BYTES, MAX_PENDING_SEGMENTS};

use crate::error::{Error, Result};
use crate::flow::{Endpoint, Proto};
use crate::packet::Packet;
use crate::sink::Sink;
use crate::time::Timestamp;
use crate::wire::{decode_ip, skip_ipv6_extensions, TcpHeader, UdpHeader};
use bytes::Bytes;
use std::net::IpAddr;

/// CapMe's default `maxtx`: at most 500,000 payload bytes in a transcript.
pub const DEFAULT_MAXTX: u64 = 500_000;

/// How a transcript is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// The sguil/CapMe layout: `HDR:` header lines (`Sensor Name:`, `Timestamp:`,
    /// `Connection ID:`, `Src IP:`, `Dst IP:`, `Src Port:`, `Dst Port:`, tab-separated),
    /// then the payload as `SRC:` / `DST:` lines, non-printable bytes as `.`.
    Capme,
    /// A readable conversation: a line with direction and timestamp whenever the speaker
    /// changes (and before every UDP datagram), then the payload as text.
    #[default]
    Plain,
    /// One JSON object per line and segment, with exactly the keys `direction` (`"src"` or
    /// `"dst"`), `ts` (epoch seconds), `offset` (in that direction's stream) and `payload`
    /// (base64).
    Json,
}

impl Style {
    /// Parses `capme`, `plain` or `json`; `field` names the field in the error.
    pub fn parse(field: &'static str, text: &str) -> Result<Style> {
        match text {
            "capme" => Ok(Style::Capme),
            "plain" => Ok(Style::Plain),
            "json" => Ok(Style::Json),
            _ => Err(Error::invalid(field, text, "expected capme, plain or json")),
        }
    }

    /// The style's name as [`Style::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Style::Capme => "capme",
            Style::Plain => "plain",
            Style::Json => "json",
        }
    }
}

/// Options of a transcript (builder style: `TranscriptOptions::new().style(Style::Json)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptOptions {
    /// How the text is rendered (default [`Style::Plain`]).
    pub style: Style,
    /// At most this many payload bytes (both directions together) are transcribed (default
    /// [`DEFAULT_MAXTX`]); the search stops there and the text ends with a notice.
    pub maxtx: u64,
    /// Decode HTTP/1.x in the text styles (default true).
    pub http: bool,
}

impl Default for TranscriptOptions {
    fn default() -> Self {
        TranscriptOptions {
            style: Style::Plain,
            maxtx: DEFAULT_MAXTX,
            http: true,
        }
    }
}

impl TranscriptOptions {
    /// The defaults: plain, `maxtx` 500,000, HTTP decoded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the style.
    pub fn style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    /// Sets the byte cap; 0 is refused (an error naming `maxtx`).
    pub fn maxtx(mut self, maxtx: u64) -> Result<Self> {
        if maxtx == 0 {
            return Err(Error::invalid("maxtx", "0", "expected a whole number >= 1"));
        }
        self.maxtx = maxtx;
        Ok(self)
    }

    /// Turns HTTP decoding in the text styles on or off.
    pub fn http(mut self, yes: bool) -> Self {
        self.http = yes;
        self
    }
}

/// Which side sent a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The side that opened the connection (see the [module documentation](self)).
    Src,
    /// The other side.
    Dst,
}

impl Direction {
    /// `"src"` or `"dst"`, as the JSON style writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Src => "src",
            Direction::Dst => "dst",
        }
    }

    fn index(self) -> usize {
        match self {
            Direction::Src => 0,
            Direction::Dst => 1,
        }
    }
}

/// A piece of one direction's stream: a TCP segment's new bytes (after de-duplication) or a
/// UDP datagram's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Who sent it.
    pub direction: Direction,
    /// Timestamp of the packet that carried it (a reassembled IP datagram: its first fragment
    /// seen).
    pub ts: Timestamp,
    /// Offset of its first byte in that direction's stream.
    pub offset: u64,
    /// The bytes.
    pub payload: Bytes,
}

impl Segment {
    /// The segment as one JSON object: `{"direction":"src","ts":1718406497.123456,
    /// "offset":0,"payload":"R0VU..."}`, these four keys exactly.
    pub fn to_json(&self) -> String {
        use base64::Engine;
        /// The keys in the order the interface names them.
        #[derive(serde::Serialize)]
        struct Line<'a> {
            direction: &'a str,
            ts: f64,
            offset: u64,
            payload: String,
        }
        serde_json::to_string(&Line {
            direction: self.direction.as_str(),
            ts: self.ts.as_secs_f64(),
            offset: self.offset,
            payload: base64::engine::general_purpose::STANDARD.encode(&self.payload),
        })
        .unwrap_or_default()
    }
}

/// A built transcript.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// The style of `text`.
    pub style: Style,
    /// The rendered transcript (for [`Style::Json`]: one [`Segment::to_json`] line per segment).
    pub text: String,
    /// The stream segments, in the order they were delivered (each direction in offset order).
    pub segments: Vec<Segment>,
    /// The flow's protocol (`None` when no packet could be decoded).
    pub proto: Option<Proto>,
    /// The source side ([`Direction::Src`]).
    pub src: Option<Endpoint>,
    /// The destination side.
    pub dst: Option<Endpoint>,
    /// Sensor of the first packet.
    pub sensor: Option<String>,
    /// Timestamp of the first packet.
    pub first_ts: Option<Timestamp>,
    /// Timestamp of the last packet.
    pub last_ts: Option<Timestamp>,
    /// Packets consumed.
    pub packets: u64,
    /// Payload bytes from the source in the transcript.
    pub src_bytes: u64,
    /// Payload bytes from the destination in the transcript.
    pub dst_bytes: u64,
    /// Stream bytes the capture does not hold (the sum of the gaps).
    pub missing_bytes: u64,
    /// True when the `maxtx` cap was reached: the transcript holds the first `maxtx` bytes.
    pub truncated: bool,
    /// The cap that applied.
    pub maxtx: u64,
    /// What the reader should know (packets ignored, incomplete datagrams, no handshake...).
    pub notes: Vec<String>,
    /// The search's warnings (filled by `Store::transcript`).
    pub warnings: Vec<String>,
}

/// What happened in one direction, in the order the transcript shows it.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// Stream bytes (TCP) at an offset.
    Data(Segment),
    /// One UDP datagram.
    Datagram(Segment),
    /// Bytes missing from a TCP stream.
    Gap { direction: Direction, len: u64 },
}

struct Flow {
    proto: Proto,
    src: Endpoint,
    dst: Endpoint,
    tcp: [TcpStream; 2],
    udp_offset: [u64; 2],
}

/// Builds a [`Transcript`] from a flow's packets in timestamp order: push them (or use it as
/// a [`Sink`]), then [`build`](TranscriptBuilder::build).
pub struct TranscriptBuilder {
    opts: TranscriptOptions,
    flow: Option<Flow>,
    defrag: frag::Defrag,
    events: Vec<Event>,
    out: Transcript,
    /// Packets that were not IP, or whose transport header was cut short.
    undecodable: u64,
    /// Packets of another protocol or endpoint pair than the flow's.
    foreign: u64,
    /// Packets of a protocol without a transcript (ICMP, SCTP...).
    other_proto: u64,
}

impl TranscriptBuilder {
    /// A builder with these options.
    pub fn new(opts: &TranscriptOptions) -> TranscriptBuilder {
        TranscriptBuilder {
            opts: opts.clone(),
            flow: None,
            defrag: frag::Defrag::default(),
            events: Vec::new(),
            out: Transcript {
                style: opts.style,
                maxtx: opts.maxtx,
                ..Transcript::default()
            },
            undecodable: 0,
            foreign: 0,
            other_proto: 0,
        }
    }

    /// Takes the next packet. Returns false once the `maxtx` cap is reached (later packets
    /// would not be shown: the caller may stop).
    pub fn push(&mut self, p: &Packet) -> bool {
        let out = &mut self.out;
        out.packets += 1;
        out.first_ts.get_or_insert(p.ts);
        out.last_ts = Some(out.last_ts.map_or(p.ts, |l| l.max(p.ts)));
        if out.sensor.is_none() {
            out.sensor = Some(p.sensor.to_string());
        }
        if out.truncated {
            return false;
        }
        // A declared FCS is not payload, even where the IP header bounds nothing.
        let data = p.iface.without_fcs(&p.data, p.orig_len);
        let Some(d) = decode_ip(p.iface.linktype, data) else {
            self.undecodable += 1;
            return true;
        };
        match d.frag {
            Some(f) => {
                if let Some((ts, whole)) =
                    self.defrag.push(d.src, d.dst, d.proto, f, p.ts, d.payload)
                {
                    self.transport(d.src, d.dst, d.proto, &whole, ts);
                }
            }
            None => self.transport(d.src, d.dst, d.proto, d.payload, p.ts),
        }
        !self.out.truncated
    }

    fn transport(&mut self, src: IpAddr, dst: IpAddr, proto: Proto, bytes: &[u8], ts: Timestamp) {
        let (proto, bytes) = if src.is_ipv6() {
            match skip_ipv6_extensions(proto, bytes) {
                Some(x) => x,
                None => {
                    self.undecodable += 1;
                    return;
                }
            }
        } else {
            (proto, bytes)
        };
        match proto {
            Proto::TCP => {
                let Some(tcp) = TcpHeader::new_checked(bytes) else {
                    self.undecodable += 1;
                    return;
                };
                let a = Endpoint::new(src, tcp.src_port());
                let b = Endpoint::new(dst, tcp.dst_port());
                let syn_ack = tcp.has(TcpHeader::SYN | TcpHeader::ACK);
                let Some(dir) = self.direction(proto, a, b, syn_ack) else {
                    return;
                };
                let mut got = Vec::new();
                if let Some(flow) = &mut self.flow {
                    flow.tcp[dir.index()].segment(
                        tcp.seq(),
                        tcp.flags(),
                        tcp.payload(),
                        ts,
                        &mut got,
                    );
                }
                for d in got {
                    self.deliver(dir, d);
                }
            }
            Proto::UDP => {
                let Some(udp) = UdpHeader::new_checked(bytes) else {
                    self.undecodable += 1;
                    return;
                };
                let a = Endpoint::new(src, udp.src_port());
                let b = Endpoint::new(dst, udp.dst_port());
                let Some(dir) = self.direction(proto, a, b, false) else {
                    return;
                };
                let Some(flow) = &mut self.flow else { return };
                let offset = flow.udp_offset[dir.index()];
                let payload = udp.payload();
                flow.udp_offset[dir.index()] += payload.len() as u64;
                if let Some(n) = self.take(dir, payload.len()) {
                    self.events.push(Event::Datagram(Segment {
                        direction: dir,
                        ts,
                        offset,
                        payload: Bytes::copy_from_slice(&payload[..n]),
                    }));
                }
            }
            _ => self.other_proto += 1,
        }
    }

    /// The direction of a packet from `a` to `b`, fixing the flow on its first packet; `None`
    /// for a packet of another flow.
    fn direction(
        &mut self,
        proto: Proto,
        a: Endpoint,
        b: Endpoint,
        syn_ack: bool,
    ) -> Option<Direction> {
        let flow = self.flow.get_or_insert_with(|| {
            // A SYN-ACK first: its receiver opened the connection.
            let (src, dst) = if syn_ack { (b, a) } else { (a, b) };
            Flow {
                proto,
                src,
                dst,
                tcp: [TcpStream::new(), TcpStream::new()],
                udp_offset: [0, 0],
            }
        });
        if flow.proto != proto {
            self.foreign += 1;
            None
        } else if (a, b) == (flow.src, flow.dst) {
            Some(Direction::Src)
        } else if (a, b) == (flow.dst, flow.src) {
            Some(Direction::Dst)
        } else {
            self.foreign += 1;
            None
        }
    }

    /// How many of `len` payload bytes fit under the cap (None: none), counting them.
    fn take(&mut self, dir: Direction, len: usize) -> Option<usize> {
        let used = self.out.src_bytes + self.out.dst_bytes;
        let room = self.opts.maxtx.saturating_sub(used);
        let n = (len as u64).min(room);
        if n < len as u64 {
            self.out.truncated = true;
        }
        match dir {
            Direction::Src => self.out.src_bytes += n,
            Direction::Dst => self.out.dst_bytes += n,
        }
        (n > 0 || len == 0).then_some(n as usize)
    }

    fn deliver(&mut self, direction: Direction, d: Delivery) {
        if self.out.truncated {
            return;
        }
        match d {
            Delivery::Data { offset, ts, bytes } => {
                if let Some(n) = self.take(direction, bytes.len()) {
                    if n > 0 {
                        self.events.push(Event::Data(Segment {
                            direction,
                            ts,
                            offset,
                            payload: bytes.slice(..n),
                        }));
                    }
                }
            }
            Delivery::Gap { len, .. } => {
                self.out.missing_bytes += len;
                self.events.push(Event::Gap { direction, len });
            }
        }
    }

    /// The transcript of the packets pushed so far (TCP holes still open become gaps).
    pub fn build(mut self) -> Transcript {
        if let Some(flow) = &mut self.flow {
            let mut rest = Vec::new();
            for dir in [Direction::Src, Direction::Dst] {
                let mut got = Vec::new();
                flow.tcp[dir.index()].finish(&mut got);
                rest.extend(got.into_iter().map(|d| (dir, d)));
            }
            let (proto, src, dst) = (flow.proto, flow.src, flow.dst);
            let no_syn: Vec<&str> = [Direction::Src, Direction::Dst]
                .into_iter()
                .filter(|d| proto == Proto::TCP && !flow.tcp[d.index()].saw_syn())
                .map(|d| d.as_str())
                .collect();
            for (dir, d) in rest {
                self.deliver(dir, d);
            }
            self.out.proto = Some(proto);
            self.out.src = Some(src);
            self.out.dst = Some(dst);
            if !no_syn.is_empty() {
                self.out.notes.push(format!(
                    "no SYN seen from {}: offsets count from the first packet seen",
                    no_syn.join(" and ")
                ));
            }
        }
        let notes = &mut self.out.notes;
        if self.defrag.incomplete() > 0 || self.defrag.dropped > 0 {
            notes.push(format!(
                "{} fragmented datagrams incomplete, left out",
                self.defrag.incomplete() as u64 + self.defrag.dropped
            ));
        }
        if self.foreign > 0 {
            notes.push(format!(
                "{} packets of another flow (protocol or endpoints) left out",
                self.foreign
            ));
        }
        if self.other_proto > 0 {
            notes.push(format!(
                "{} packets of a protocol without a transcript (only TCP and UDP have one)",
                self.other_proto
            ));
        }
        if self.undecodable > 0 {
            notes.push(format!(
                "{} packets not decoded (not IP, or headers cut short)",
                self.undecodable
            ));
        }
        self.out.segments = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Data(s) | Event::Datagram(s) => Some(s.clone()),
                Event::Gap { .. } => None,
            })
            .collect();
        self.out.text = render::render(&self.out, &self.events, &self.opts);
        self.out
    }
}

/// A transcript builder receives a search's packets like any sink; it asks the search to stop
/// once the `maxtx` cap is reached.
impl Sink for TranscriptBuilder {
    fn packet(&mut self, packet: &Packet) -> Result<bool> {
        Ok(self.push(packet))
    }
}

#[cfg(test)]
mod tests;

//! The text of a transcript in each [`Style`].

use super::http::{HttpView, Methods};
use super::{Direction, Event, Style, Transcript, TranscriptOptions};
use crate::flow::{Endpoint, Proto};
use crate::time::Timestamp;
use std::fmt::Write as _;

/// The text of `t` (whose header fields are set) from its events.
pub(crate) fn render(t: &Transcript, events: &[Event], opts: &TranscriptOptions) -> String {
    if opts.style == Style::Json {
        let mut s = String::new();
        for seg in &t.segments {
            s += &seg.to_json();
            s.push('\n');
        }
        return s;
    }
    let mut w = Writer::new(t, opts.style);
    let http_on = opts.http && t.proto == Some(Proto::TCP);
    let limit = usize::try_from(opts.maxtx).unwrap_or(usize::MAX);
    let mut http = [HttpView::new(limit), HttpView::new(limit)];
    let mut methods = Methods::new();
    let mut last_ts = [None, None];
    let mut any = false;
    let mut shown = Vec::new();
    for e in events {
        shown.clear();
        match e {
            Event::Data(seg) => {
                let i = seg.direction.index();
                last_ts[i] = Some(seg.ts);
                if http_on {
                    http[i].feed(&seg.payload, &mut methods, &mut shown);
                } else {
                    shown.extend_from_slice(&seg.payload);
                }
                if !shown.is_empty() {
                    w.switch(seg.direction, seg.ts, false);
                    w.bytes(&shown);
                    any = true;
                }
            }
            Event::Datagram(seg) => {
                w.switch(seg.direction, seg.ts, true);
                w.bytes(&seg.payload);
                w.end_line();
                any = true;
            }
            Event::Gap { direction, len } => {
                let i = direction.index();
                if http_on {
                    http[i].gap(&mut shown);
                }
                let ts = last_ts[i].or(t.first_ts).unwrap_or_default();
                w.switch(*direction, ts, false);
                w.bytes(&shown);
                w.notice(&format!("[{len} bytes missing]"));
                any = true;
            }
        }
    }
    if http_on {
        for d in [Direction::Src, Direction::Dst] {
            shown.clear();
            http[d.index()].finish(&mut shown);
            if !shown.is_empty() {
                let ts = last_ts[d.index()].or(t.first_ts).unwrap_or_default();
                w.switch(d, ts, false);
                w.bytes(&shown);
            }
        }
    }
    w.end_line();
    if !any {
        w.meta("No Data Sent.");
    }
    if t.truncated {
        w.meta(&format!(
            "[transcript truncated at maxtx = {} bytes: the flow has more payload than shown]",
            t.maxtx
        ));
    }
    for n in &t.notes {
        w.meta(&format!("[note: {n}]"));
    }
    w.s
}

/// The sguil date of the header, `YYYY-MM-DD HH:MM:SS` (UTC).
fn sguil_time(ts: Timestamp) -> String {
    match chrono::DateTime::from_timestamp(ts.secs(), ts.subsec_nanos()) {
        Some(dt) => dt.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => ts.to_string(),
    }
}

struct Writer {
    style: Style,
    s: String,
    cur: Option<Direction>,
    /// The capme style's line being built, or in the plain style whether the output is
    /// mid-line.
    line: Vec<u8>,
    mid_line: bool,
    ends: [String; 2],
}

impl Writer {
    fn new(t: &Transcript, style: Style) -> Writer {
        let ep = |e: Option<Endpoint>| e.map(|e| e.to_string()).unwrap_or_default();
        let mut w = Writer {
            style,
            s: String::new(),
            cur: None,
            line: Vec::new(),
            mid_line: false,
            ends: [ep(t.src), ep(t.dst)],
        };
        let ip = |e: Option<Endpoint>| e.map(|e| e.addr.to_string()).unwrap_or_default();
        let port = |e: Option<Endpoint>| e.map(|e| e.port.to_string()).unwrap_or_default();
        match style {
            Style::Capme => {
                let cid = match (t.proto, t.src, t.dst) {
                    (Some(p), Some(a), Some(b)) => crate::flow::FlowKey::new(p, a, b)
                        .community_id(0)
                        .to_base64(),
                    _ => String::new(),
                };
                let _ = writeln!(
                    w.s,
                    "HDR: Sensor Name:\t{}",
                    t.sensor.as_deref().unwrap_or("")
                );
                let _ = writeln!(
                    w.s,
                    "HDR: Timestamp:\t{}",
                    t.first_ts.map(sguil_time).unwrap_or_default()
                );
                let _ = writeln!(w.s, "HDR: Connection ID:\t{cid}");
                let _ = writeln!(w.s, "HDR: Src IP:\t\t{}", ip(t.src));
                let _ = writeln!(w.s, "HDR: Dst IP:\t\t{}", ip(t.dst));
                let _ = writeln!(w.s, "HDR: Src Port:\t\t{}", port(t.src));
                let _ = writeln!(w.s, "HDR: Dst Port:\t\t{}", port(t.dst));
                // sguild 0.8 ended the header block with one blank message, which CapMe's
                // cliscript.tcl printed as `HDR:  ` (SguildTranscript.tcl, GenerateXscript).
                let _ = writeln!(w.s, "HDR:  ");
            }
            Style::Plain | Style::Json => {
                let proto = t.proto.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
                let _ = writeln!(
                    w.s,
                    "{proto} {} > {}  sensor {}",
                    w.ends[0],
                    w.ends[1],
                    t.sensor.as_deref().unwrap_or("?")
                );
                let when = |ts: Option<Timestamp>| ts.map(|x| x.to_rfc3339()).unwrap_or_default();
                let _ = writeln!(
                    w.s,
                    "{} packets from {} to {}; src sent {} bytes, dst sent {} bytes{}",
                    t.packets,
                    when(t.first_ts),
                    when(t.last_ts),
                    t.src_bytes,
                    t.dst_bytes,
                    if t.missing_bytes > 0 {
                        format!(", {} bytes missing", t.missing_bytes)
                    } else {
                        String::new()
                    }
                );
            }
        }
        w
    }

    fn prefix(d: Direction) -> &'static str {
        match d {
            Direction::Src => "SRC: ",
            Direction::Dst => "DST: ",
        }
    }

    /// A new speaker (or, with `force`, a new block of the same one).
    fn switch(&mut self, d: Direction, ts: Timestamp, force: bool) {
        if self.cur == Some(d) && !force {
            return;
        }
        self.end_line();
        self.cur = Some(d);
        if self.style == Style::Plain {
            let (from, to) = match d {
                Direction::Src => (&self.ends[0], &self.ends[1]),
                Direction::Dst => (&self.ends[1], &self.ends[0]),
            };
            let _ = writeln!(
                self.s,
                "\n--- {} {from} > {to}  {}",
                d.as_str(),
                ts.to_rfc3339()
            );
        }
    }

    /// Payload bytes of the current speaker: printable ASCII, tabs and newlines as they are,
    /// `\r` before a newline dropped, any other byte as `.`.
    fn bytes(&mut self, b: &[u8]) {
        for &c in b {
            match self.style {
                Style::Capme => {
                    if c == b'\n' {
                        self.flush_capme_line();
                    } else {
                        self.line.push(c);
                    }
                }
                _ => {
                    if c == b'\n' {
                        if self.line.last() == Some(&b'\r') {
                            self.line.pop();
                        }
                        self.flush_plain();
                        self.s.push('\n');
                        self.mid_line = false;
                    } else {
                        self.line.push(c);
                        self.mid_line = true;
                    }
                }
            }
        }
        if self.style != Style::Capme {
            self.flush_plain();
        }
    }

    fn flush_plain(&mut self) {
        // A held `\r` waits for the next byte (a CRLF split across segments).
        let keep_cr = self.line.last() == Some(&b'\r');
        let upto = self.line.len() - usize::from(keep_cr);
        for &c in &self.line[..upto] {
            self.s.push(printable(c));
        }
        self.line.drain(..upto);
    }

    fn flush_capme_line(&mut self) {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let p = Self::prefix(self.cur.unwrap_or(Direction::Src));
        self.s.push_str(p);
        for &c in &self.line {
            self.s.push(printable(c));
        }
        self.s.push('\n');
        self.line.clear();
    }

    /// Ends a line left open by the current speaker.
    fn end_line(&mut self) {
        match self.style {
            Style::Capme => {
                if !self.line.is_empty() {
                    self.flush_capme_line();
                }
            }
            _ => {
                for c in std::mem::take(&mut self.line) {
                    self.s.push(printable(c));
                }
                if self.mid_line {
                    self.s.push('\n');
                    self.mid_line = false;
                }
            }
        }
    }

    /// A notice of the current speaker on a line of its own.
    fn notice(&mut self, text: &str) {
        self.end_line();
        self.bytes(text.as_bytes());
        self.bytes(b"\n");
    }

    /// A line about the transcript itself (after the conversation).
    fn meta(&mut self, text: &str) {
        self.end_line();
        match self.style {
            Style::Capme => {
                let _ = writeln!(self.s, "HDR: {text}");
            }
            _ => {
                let _ = writeln!(self.s, "\n{text}");
            }
        }
    }
}

fn printable(c: u8) -> char {
    if c == b'\t' || (0x20..0x7f).contains(&c) {
        c as char
    } else {
        '.'
    }
}

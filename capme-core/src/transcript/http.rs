//! HTTP/1.x in a transcript: one decoder per direction turns the stream into what is shown.
//!
//! A direction whose stream starts like an HTTP request (`GET `, `POST `, ...) or response
//! (`HTTP/1.`) is shown message by message: the start line and headers as text; the body after
//! `Transfer-Encoding: chunked` is de-chunked and a `Content-Encoding: gzip` (`x-gzip`) or
//! `deflate` body is inflated (flate2); a text body (by its `Content-Type`, or by its bytes when
//! it has none) is shown as text, any other as `[binary body, N bytes, type]`. A body's length
//! comes from `Content-Length`, chunking, or (a response without either) the end of the
//! stream; responses to HEAD, 1xx, 204 and 304 have none. Any other stream passes through
//! unchanged, and so does the rest of a stream after a gap (a message cut by missing bytes
//! cannot be followed reliably).
//!
//! Bounds: headers up to [`MAX_HEADER_BYTES`], a decoded body up to the transcript's byte cap
//! (`maxtx`); a body beyond is cut with a notice.

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use std::collections::VecDeque;
use std::io::Read;

/// A message head longer than this (64 KiB) is not HTTP as far as the transcript goes.
pub const MAX_HEADER_BYTES: usize = 64 << 10;

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];
const RESPONSE: &[u8] = b"HTTP/1.";

#[derive(Debug)]
enum Body {
    Length(usize),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug)]
enum Chunk {
    /// Reading a chunk-size line (the bytes so far).
    Size(Vec<u8>),
    /// Reading chunk data, this many bytes left.
    Data(usize),
    /// Reading the CRLF after chunk data (bytes of it seen).
    DataEnd(usize),
    /// Reading trailer lines until an empty one (the current line so far).
    Trailer(Vec<u8>),
}

#[derive(Debug)]
enum State {
    /// At the start of a message: is it HTTP?
    Detect,
    /// Reading the head.
    Head,
    /// Reading a body.
    Body {
        kind: Body,
        content_type: String,
        encoding: String,
        chunked: bool,
    },
    /// Not HTTP (or no longer followed): bytes shown as they are.
    Pass,
}

/// One direction's HTTP view.
#[derive(Debug)]
pub(crate) struct HttpView {
    state: State,
    buf: Vec<u8>,
    /// Body bytes (de-chunked) of the message being read.
    body: Vec<u8>,
    /// Largest decoded body shown.
    limit: usize,
}

/// Requests seen, oldest first: true for HEAD (its response has no body). Shared by the two
/// directions of a connection.
pub(crate) type Methods = VecDeque<bool>;

impl HttpView {
    pub(crate) fn new(limit: usize) -> HttpView {
        HttpView {
            state: State::Detect,
            buf: Vec::new(),
            body: Vec::new(),
            limit,
        }
    }

    /// Stream bytes in, what to show out (appended to `out`).
    pub(crate) fn feed(&mut self, mut data: &[u8], methods: &mut Methods, out: &mut Vec<u8>) {
        while !data.is_empty() {
            match &mut self.state {
                State::Pass => {
                    out.extend_from_slice(data);
                    return;
                }
                State::Detect => {
                    let want = 8usize.saturating_sub(self.buf.len()).min(data.len());
                    self.buf.extend_from_slice(&data[..want]);
                    data = &data[want..];
                    let b = &self.buf;
                    let possible = METHODS
                        .iter()
                        .chain([&RESPONSE])
                        .any(|m| m.starts_with(&b[..b.len().min(m.len())]));
                    let sure = METHODS.iter().chain([&RESPONSE]).any(|m| b.starts_with(m));
                    if !possible {
                        out.append(&mut self.buf);
                        self.state = State::Pass;
                    } else if sure {
                        self.state = State::Head;
                    } else if self.buf.len() >= 8 {
                        out.append(&mut self.buf);
                        self.state = State::Pass;
                    }
                }
                State::Head => {
                    // Byte by byte up to the blank line that ends the head (it may span
                    // segments), so that what follows it is exactly the rest of `data`.
                    let mut used = data.len();
                    let mut complete = false;
                    for (k, &b) in data.iter().enumerate() {
                        self.buf.push(b);
                        complete = self.buf.ends_with(b"\r\n\r\n") || self.buf.ends_with(b"\n\n");
                        if complete || self.buf.len() > MAX_HEADER_BYTES {
                            used = k + 1;
                            break;
                        }
                    }
                    data = &data[used..];
                    if complete {
                        let head = std::mem::take(&mut self.buf);
                        out.extend_from_slice(&head);
                        self.state = body_state(&head, methods);
                        self.body.clear();
                        if matches!(
                            self.state,
                            State::Body {
                                kind: Body::Length(0),
                                ..
                            }
                        ) {
                            self.end_body(out, None);
                        }
                    } else if self.buf.len() > MAX_HEADER_BYTES {
                        // Not a head after all: shown as it is, and the rest passes through.
                        out.append(&mut self.buf);
                        self.state = State::Pass;
                    }
                }
                State::Body { kind, .. } => {
                    let (used, done) = take_body(kind, data, &mut self.body);
                    data = &data[used..];
                    if done {
                        self.end_body(out, None);
                    }
                }
            }
        }
    }

    /// A gap in the stream: what was being read is shown as it stands, and the rest of the
    /// stream passes through.
    pub(crate) fn gap(&mut self, out: &mut Vec<u8>) {
        match self.state {
            State::Body { .. } => self.end_body(out, Some("cut by missing bytes")),
            _ => out.append(&mut self.buf),
        }
        self.state = State::Pass;
    }

    /// The end of the stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        match &self.state {
            State::Body {
                kind: Body::UntilClose,
                ..
            } => self.end_body(out, None),
            State::Body { .. } => self.end_body(out, Some("incomplete")),
            _ => out.append(&mut self.buf),
        }
        self.state = State::Pass;
    }

    /// Shows the body read so far; `cut` says why it is incomplete, if it is.
    fn end_body(&mut self, out: &mut Vec<u8>, cut: Option<&str>) {
        let state = std::mem::replace(&mut self.state, State::Detect);
        let State::Body {
            content_type,
            encoding,
            chunked,
            ..
        } = state
        else {
            return;
        };
        let raw = std::mem::take(&mut self.body);
        if raw.is_empty() && cut.is_none() {
            return;
        }
        show_body(
            &raw,
            &content_type,
            &encoding,
            chunked,
            cut,
            self.limit,
            out,
        );
    }
}

/// The value of header `name` (case-insensitive), trimmed.
fn header<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// What follows a head.
fn body_state(head: &[u8], methods: &mut Methods) -> State {
    let text = String::from_utf8_lossy(head);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.first().copied().unwrap_or("");
    let response = start.starts_with("HTTP/1.");
    let content_type = header(&lines, "content-type").unwrap_or("").to_string();
    let encoding = header(&lines, "content-encoding")
        .unwrap_or("")
        .to_ascii_lowercase();
    let chunked = header(&lines, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = header(&lines, "content-length").and_then(|v| v.parse::<usize>().ok());
    let kind = if response {
        let status: u16 = start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let informational = (100..200).contains(&status);
        let head_request = if informational {
            false
        } else {
            methods.pop_front().unwrap_or(false)
        };
        if informational || status == 204 || status == 304 || head_request {
            Body::Length(0)
        } else if chunked {
            Body::Chunked(Chunk::Size(Vec::new()))
        } else if let Some(n) = length {
            Body::Length(n)
        } else {
            Body::UntilClose
        }
    } else {
        methods.push_back(start.starts_with("HEAD "));
        // Bounded: a client that sends only requests does not grow it without end.
        if methods.len() > 1024 {
            methods.pop_front();
        }
        if chunked {
            Body::Chunked(Chunk::Size(Vec::new()))
        } else {
            Body::Length(length.unwrap_or(0))
        }
    };
    State::Body {
        kind,
        content_type,
        encoding,
        chunked,
    }
}

/// Reads body bytes from `data` into `body`: (bytes used, body complete).
fn take_body(kind: &mut Body, data: &[u8], body: &mut Vec<u8>) -> (usize, bool) {
    match kind {
        Body::Length(left) => {
            let n = (*left).min(data.len());
            body.extend_from_slice(&data[..n]);
            *left -= n;
            (n, *left == 0)
        }
        Body::UntilClose => {
            body.extend_from_slice(data);
            (data.len(), false)
        }
        Body::Chunked(c) => {
            let mut i = 0;
            while i < data.len() {
                match c {
                    Chunk::Size(line) => {
                        let b = data[i];
                        i += 1;
                        if b == b'\n' {
                            let text = String::from_utf8_lossy(line);
                            let hex = text.split(';').next().unwrap_or("").trim();
                            match usize::from_str_radix(hex, 16) {
                                Ok(0) => *c = Chunk::Trailer(Vec::new()),
                                Ok(n) => *c = Chunk::Data(n),
                                // Not chunked after all: the rest is body as it is.
                                Err(_) => {
                                    body.extend_from_slice(&data[i..]);
                                    *kind = Body::UntilClose;
                                    return (data.len(), false);
                                }
                            }
                        } else if line.len() < 1024 {
                            line.push(b);
                        }
                    }
                    Chunk::Data(left) => {
                        let n = (*left).min(data.len() - i);
                        body.extend_from_slice(&data[i..i + n]);
                        i += n;
                        *left -= n;
                        if *left == 0 {
                            *c = Chunk::DataEnd(0);
                        }
                    }
                    Chunk::DataEnd(seen) => {
                        let b = data[i];
                        i += 1;
                        *seen += 1;
                        if b == b'\n' || *seen >= 2 {
                            *c = Chunk::Size(Vec::new());
                        }
                    }
                    Chunk::Trailer(line) => {
                        let b = data[i];
                        i += 1;
                        if b == b'\n' {
                            if line.iter().all(|&x| x == b'\r') {
                                return (i, true);
                            }
                            line.clear();
                        } else if line.len() < 1024 {
                            line.push(b);
                        }
                    }
                }
            }
            (i, false)
        }
    }
}

/// Inflates `raw` by its Content-Encoding, at most `limit` bytes: (bytes, complete, name of
/// the decoding) or `None` when the encoding is not one capme decodes or the data is not
/// valid in it from the start.
fn inflate(raw: &[u8], encoding: &str, limit: usize) -> Option<(Vec<u8>, bool, &'static str)> {
    fn run(r: impl Read, limit: usize) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let ok = r.take(limit as u64 + 1).read_to_end(&mut out).is_ok();
        let complete = ok && out.len() <= limit;
        out.truncate(limit);
        (out, complete)
    }
    let (out, complete, name) = match encoding {
        "gzip" | "x-gzip" => {
            // A cut stream still gives what could be inflated before the cut.
            let (o, c) = run(MultiGzDecoder::new(raw), limit);
            (o, c, "gzip")
        }
        "deflate" => {
            // RFC 9110 deflate is zlib-wrapped; some servers send raw deflate.
            let (o, c) = run(ZlibDecoder::new(raw), limit);
            if o.is_empty() && !c {
                let (o, c) = run(DeflateDecoder::new(raw), limit);
                (o, c, "deflate")
            } else {
                (o, c, "deflate")
            }
        }
        _ => return None,
    };
    (!out.is_empty() || complete).then_some((out, complete, name))
}

/// True when `b` looks like text: UTF-8 (or nearly) without control bytes besides
/// whitespace, judged on its first 4 KiB.
fn looks_textual(b: &[u8]) -> bool {
    let head = &b[..b.len().min(4096)];
    let bad = head
        .iter()
        .filter(|&&c| c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    // Valid UTF-8, or valid up to a character cut at the end of the sample.
    bad == 0
        && match std::str::from_utf8(head) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        }
}

/// A content type capme shows as text.
fn textual_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    t.starts_with("text/")
        || [
            "json",
            "xml",
            "javascript",
            "x-www-form-urlencoded",
            "ecmascript",
        ]
        .iter()
        .any(|k| t.contains(k))
}

/// Appends how a body is shown.
fn show_body(
    raw: &[u8],
    content_type: &str,
    encoding: &str,
    chunked: bool,
    cut: Option<&str>,
    limit: usize,
    out: &mut Vec<u8>,
) {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let mime = if mime.is_empty() {
        "unknown type"
    } else {
        mime
    };
    let mut notes = Vec::new();
    if chunked {
        notes.push("chunked".to_string());
    }
    let (body, complete) = match encoding {
        "" | "identity" => (raw.to_vec(), true),
        enc => match inflate(raw, enc, limit) {
            Some((b, complete, name)) => {
                notes.push(format!("{name}, {} bytes encoded", raw.len()));
                (b, complete)
            }
            None => {
                out.extend_from_slice(
                    format!(
                        "[binary body, {} bytes, {mime}, content-encoding {enc} not decoded]\n",
                        raw.len()
                    )
                    .as_bytes(),
                );
                return;
            }
        },
    };
    if !complete {
        notes.push(if body.len() >= limit {
            format!("decoded body cut at {limit} bytes (maxtx)")
        } else {
            "decoding stopped at damaged data".to_string()
        });
    }
    if let Some(why) = cut {
        notes.push(format!("body {why}"));
    }
    let text = if content_type.is_empty() {
        looks_textual(&body)
    } else {
        textual_type(content_type) && looks_textual(&body)
    };
    if text {
        out.extend_from_slice(&body);
        if !body.ends_with(b"\n") {
            out.push(b'\n');
        }
        if !notes.is_empty() {
            out.extend_from_slice(
                format!("[body: {} bytes; {}]\n", body.len(), notes.join("; ")).as_bytes(),
            );
        }
    } else {
        let extra = if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        };
        out.extend_from_slice(
            format!("[binary body, {} bytes, {mime}{extra}]\n", body.len()).as_bytes(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    fn view(parts: &[&[u8]]) -> String {
        let mut v = HttpView::new(1 << 20);
        let mut m = Methods::new();
        let mut out = Vec::new();
        for p in parts {
            v.feed(p, &mut m, &mut out);
        }
        v.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn chunk(body: &[u8], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in body.chunks(size) {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    #[test]
    fn gzip_and_chunked_body_decoded_across_any_split() {
        let html = b"<html><body>hello, transcript</body></html>\n".repeat(20);
        let mut msg = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        msg.extend_from_slice(&chunk(&gzip(&html), 100));
        msg.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
        for split in [1, 7, 100, msg.len()] {
            let parts: Vec<&[u8]> = msg.chunks(split).collect();
            let shown = view(&parts);
            assert!(shown.starts_with("HTTP/1.1 200 OK\r\n"), "{shown}");
            assert!(
                shown.contains(std::str::from_utf8(&html).unwrap()),
                "{shown}"
            );
            assert!(
                shown.contains("[body: 880 bytes; chunked; gzip,"),
                "{shown}"
            );
            assert!(
                shown.ends_with("HTTP/1.1 204 No Content\r\n\r\n"),
                "{shown}"
            );
        }
    }

    #[test]
    fn deflate_binary_head_and_plain_streams() {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(b"{\"a\": 1}").unwrap();
        let z = z.finish().unwrap();
        let mut msg = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: deflate\r\nContent-Length: {}\r\n\r\n",
            z.len()
        )
        .into_bytes();
        msg.extend_from_slice(&z);
        assert!(view(&[&msg]).contains("\r\n\r\n{\"a\": 1}\n[body: 8 bytes; deflate,"));
        let png =
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 5\r\n\r\n\x89PNG\x00";
        assert!(view(&[png]).ends_with("[binary body, 5 bytes, image/png]\n"));
        // A HEAD request's response has no body even with a Content-Length.
        let mut m = Methods::new();
        let (mut req, mut resp) = (HttpView::new(100), HttpView::new(100));
        let mut out = Vec::new();
        req.feed(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", &mut m, &mut out);
        resp.feed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 200 OK\r\n",
            &mut m,
            &mut out,
        );
        resp.finish(&mut out);
        assert!(String::from_utf8_lossy(&out).ends_with("\r\n\r\nHTTP/1.1 200 OK\r\n"));
        // Not HTTP: unchanged.
        assert_eq!(view(&[b"SSH-2.0-Open", b"SSH\r\n"]), "SSH-2.0-OpenSSH\r\n");
        assert_eq!(view(&[b"GE", b"X"]), "GEX");
        // A body cut short.
        let cut = view(&[b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"]);
        assert!(
            cut.ends_with("abc\n[body: 3 bytes; body incomplete]\n"),
            "{cut}"
        );
        // A gzip bomb stops at the limit.
        let big = gzip(&vec![b'a'; 1 << 20]);
        let mut v = HttpView::new(1000);
        let mut out = Vec::new();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", big.len());
        v.feed(head.as_bytes(), &mut Methods::new(), &mut out);
        v.feed(&big, &mut Methods::new(), &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("[body: 1000 bytes; gzip,") && s.contains("cut at 1000 bytes"),
            "{s}"
        );
    }
}

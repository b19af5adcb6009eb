//! Compressed capture files: gzip, zstd and lz4, recognised by their magic and read as a
//! stream, never decompressed whole into memory.
//!
//! A compressed file is one or more independent *frames* (gzip members, zstd frames, lz4
//! frames) one after the other; each can be decoded from its own start. [`Decompressor`]
//! decodes the frames in order (the decoders are the `flate2`, `zstd` and `lz4_flex`
//! crates') and can log where each frame starts, compressed and decompressed
//! ([`FrameStart`]): an index keeps that table so that a query starts decoding at the frame
//! holding its first record ([`CompressedRanges`]) instead of at the start of the file. A
//! file written as one frame (what `gzip`, `zstd` and `lz4` write by default) can only be
//! read from its start.
//!
//! Memory is bounded whatever the file: gzip keeps a 32 KiB window, lz4 at most two 4 MiB
//! blocks, zstd a window of at most 2^[`ZSTD_WINDOW_LOG_MAX`] bytes (a frame asking for
//! more is refused as damage, as the `zstd` tool refuses it without `--memory`).
//!
//! Damage (a corrupt or cut stream) ends the stream with an [`std::io::Error`] carrying a
//! [`StreamDamage`]: the compressed and decompressed offsets where decoding failed and why.
//! [`crate::capture::CaptureReader`] turns it into a damaged span (or a format error) after
//! the records decoded before it.

use crate::io::RangesReader;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

/// The zstd window a frame may ask for, as a power of two: 2^27 = 128 MiB, zstd's own default
/// limit for decoding (frames written with `--long=28` or more are refused).
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Frames starting less than this many decompressed bytes after the last one logged are not
/// logged (starting at an earlier frame is always correct, it only decodes more): keeps an
/// index's frame table small for files of many small frames.
pub const FRAME_LOG_MIN_GAP: u64 = 256 << 10;

/// Compressed bytes read from the file at once.
const INPUT_BUFFER: usize = 128 << 10;

/// A compression format of capture files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (RFC 1952), one or more members.
    Gzip,
    /// Zstandard, one or more frames (skippable frames are passed over).
    Zstd,
    /// LZ4 frame format, one or more frames (not the legacy format of `lz4 -l`).
    Lz4,
}

impl Compression {
    /// The format's name: `gzip`, `zstd` or `lz4`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
        }
    }

    /// Parses an output compression's name, `zstd`, `gzip` or `lz4` (any case), as the
    /// bindings take `capme extract --compress`'s value; `field` names the field in the error.
    pub fn parse(field: &'static str, text: &str) -> crate::error::Result<Compression> {
        match text.to_ascii_lowercase().as_str() {
            "zstd" => Ok(Compression::Zstd),
            "gzip" => Ok(Compression::Gzip),
            "lz4" => Ok(Compression::Lz4),
            _ => Err(crate::error::Error::invalid(
                field,
                text,
                "expected zstd, gzip or lz4",
            )),
        }
    }

    /// The file name suffix its tools write: `.gz`, `.zst`, `.lz4`.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
            Compression::Lz4 => ".lz4",
        }
    }

    /// The format's code in an index file (1, 2, 3; 0 is "not compressed").
    pub fn code(self) -> u8 {
        match self {
            Compression::Gzip => 1,
            Compression::Zstd => 2,
            Compression::Lz4 => 3,
        }
    }

    /// The format of an index file's code ([`Compression::code`]); `Ok(None)` for 0.
    pub fn from_code(c: u8) -> std::result::Result<Option<Compression>, String> {
        match c {
            0 => Ok(None),
            1 => Ok(Some(Compression::Gzip)),
            2 => Ok(Some(Compression::Zstd)),
            3 => Ok(Some(Compression::Lz4)),
            c => Err(format!("unknown compression code {c}")),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The file name suffixes of compressed files that [`strip_compression_suffix`] removes.
pub const COMPRESSION_SUFFIXES: &[&str] = &[".gz", ".gzip", ".zst", ".zstd", ".lz4"];

/// A file name without its compression suffix (`.gz`, `.gzip`, `.zst`, `.zstd`, `.lz4`), if
/// any: `snort.log.1700000000.zst` → `snort.log.1700000000`.
pub fn strip_compression_suffix(name: &str) -> &str {
    COMPRESSION_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Recognises a compressed file by its first four bytes (fewer give `None`): gzip `1f 8b`
/// (deflate method 8), zstd `28 b5 2f fd`, lz4 frame `04 22 4d 18`.
pub fn sniff_compression(first_bytes: &[u8]) -> Option<Compression> {
    match first_bytes.get(..4)? {
        [0x1f, 0x8b, 0x08, _] => Some(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd] => Some(Compression::Zstd),
        [0x04, 0x22, 0x4d, 0x18] => Some(Compression::Lz4),
        _ => None,
    }
}

/// Where a frame of a compressed file starts: its byte offset in the file and the offset of
/// its first decompressed byte in the decompressed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FrameStart {
    /// Byte offset of the frame in the compressed file.
    pub compressed: u64,
    /// Offset of its first byte in the decompressed stream.
    pub offset: u64,
}

/// The frame starts a [`Decompressor`] logs as it decodes (shared with whoever wants them).
pub type FrameLog = Arc<Mutex<Vec<FrameStart>>>;

/// Why a compressed stream could not be decoded further: carried by the [`io::Error`]
/// (kind `InvalidData`) that a [`Decompressor`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDamage {
    /// The format.
    pub format: Compression,
    /// Compressed bytes consumed when decoding failed (where the damage is, to within the
    /// decoder's last step).
    pub compressed: u64,
    /// Decompressed bytes produced before it: the offset in the capture where it ends.
    pub offset: u64,
    /// What the decoder said.
    pub reason: String,
}

impl fmt::Display for StreamDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt {} stream at compressed byte {}: {}",
            self.format, self.compressed, self.reason
        )
    }
}

impl std::error::Error for StreamDamage {}

impl StreamDamage {
    /// The damage an I/O error carries, if it is one from a [`Decompressor`].
    pub fn of(e: &io::Error) -> Option<&StreamDamage> {
        e.get_ref().and_then(|i| i.downcast_ref::<StreamDamage>())
    }
}

/// The compressed input: buffered, counting the bytes the decoder consumed, and remembering
/// whether an error came from the file itself (an I/O error, not damage).
struct Src {
    inner: BufReader<Box<dyn Read + Send>>,
    consumed: u64,
    io_failed: bool,
    /// The last 8 bytes consumed (right-aligned).
    tail: [u8; 8],
}

impl Src {
    fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.fill_buf()?.is_empty())
    }
}

impl Read for Src {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Src {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.inner.fill_buf() {
            Ok(b) => Ok(b),
            Err(e) => {
                self.io_failed = true;
                Err(e)
            }
        }
    }

    fn consume(&mut self, n: usize) {
        let b = self.inner.buffer();
        let n = n.min(b.len());
        let k = n.min(8);
        self.tail.copy_within(k.., 0);
        self.tail[8 - k..].copy_from_slice(&b[n - k..n]);
        self.inner.consume(n);
        self.consumed += n as u64;
    }
}

enum Codec {
    /// The member being decoded (`None` between members and after the end).
    Gzip(Option<flate2::bufread::GzDecoder<Src>>, Option<Src>),
    Zstd {
        dec: Box<zstd::stream::raw::Decoder<'static>>,
        src: Src,
        out: Vec<u8>,
        pos: usize,
        len: usize,
        in_frame: bool,
    },
    /// The frame being decoded (`None` between frames), as for gzip: a decoder per frame.
    Lz4(Option<Box<lz4_flex::frame::FrameDecoder<Src>>>, Option<Src>),
}

/// A decompressing reader over a compressed file (or the part of one from a frame start):
/// all its frames, one after the other. See the module docs.
pub struct Decompressor {
    format: Compression,
    codec: Codec,
    /// Compressed offset of the input's first byte in the file.
    base: u64,
    /// Decompressed offset of the next byte returned.
    produced: u64,
    /// Frame starts, when asked for.
    log: Option<FrameLog>,
    /// Damage met: later reads return it again.
    failed: Option<StreamDamage>,
    done: bool,
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("format", &self.format)
            .field("base", &self.base)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

impl Decompressor {
    /// A decoder of `format` over `input`, whose first byte is at compressed offset `base`
    /// (a frame start) and decodes to the decompressed offset `offset` (both only name
    /// places in logs and messages). With `log`, each frame start is pushed to it (frames
    /// closer than [`FRAME_LOG_MIN_GAP`] to the last logged one excepted).
    pub fn new(
        format: Compression,
        input: Box<dyn Read + Send>,
        base: u64,
        offset: u64,
        log: Option<FrameLog>,
    ) -> io::Result<Decompressor> {
        let src = Src {
            inner: BufReader::with_capacity(INPUT_BUFFER, input),
            consumed: 0,
            io_failed: false,
            tail: [0xff; 8],
        };
        let codec = match format {
            Compression::Gzip => Codec::Gzip(None, Some(src)),
            Compression::Zstd => {
                let mut dec = zstd::stream::raw::Decoder::new()?;
                dec.set_parameter(zstd::stream::raw::DParameter::WindowLogMax(
                    ZSTD_WINDOW_LOG_MAX,
                ))?;
                Codec::Zstd {
                    dec: Box::new(dec),
                    src,
                    out: vec![0; zstd::zstd_safe::DCtx::out_size()],
                    pos: 0,
                    len: 0,
                    in_frame: false,
                }
            }
            Compression::Lz4 => Codec::Lz4(None, Some(src)),
        };
        Ok(Decompressor {
            format,
            codec,
            base,
            produced: offset,
            log,
            failed: None,
            done: false,
        })
    }

    /// The format decoded.
    pub fn format(&self) -> Compression {
        self.format
    }

    fn src(&mut self) -> Option<&mut Src> {
        match &mut self.codec {
            Codec::Gzip(Some(d), _) => Some(d.get_mut()),
            Codec::Gzip(None, s) => s.as_mut(),
            Codec::Zstd { src, .. } => Some(src),
            Codec::Lz4(Some(d), _) => Some(d.get_mut()),
            Codec::Lz4(None, s) => s.as_mut(),
        }
    }

    fn consumed(&mut self) -> u64 {
        let base = self.base;
        self.src().map_or(base, |s| base + s.consumed)
    }

    /// The error for a decoder failure `e` (an I/O error of the file passes unchanged).
    fn damage(&mut self, e: io::Error) -> io::Error {
        if self.src().is_some_and(|s| s.io_failed) {
            return e;
        }
        let reason = match e.kind() {
            io::ErrorKind::UnexpectedEof => "the stream ends inside a frame (cut short)".into(),
            _ => e.to_string(),
        };
        let d = StreamDamage {
            format: self.format,
            compressed: self.consumed(),
            offset: self.produced,
            reason,
        };
        self.failed = Some(d.clone());
        io::Error::new(io::ErrorKind::InvalidData, d)
    }

    /// One step: decompressed bytes into `buf` (0 at the end of the stream).
    fn step(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (base, produced, log) = (self.base, self.produced, &self.log);
        let frame = |src: &Src| {
            log_frame(
                log,
                FrameStart {
                    compressed: base + src.consumed,
                    offset: produced,
                },
            )
        };
        loop {
            let n = match &mut self.codec {
                Codec::Gzip(member, idle) => {
                    let Some(d) = member.as_mut() else {
                        let Some(mut src) = idle.take() else {
                            return Ok(0);
                        };
                        if src.at_end()? {
                            *idle = Some(src);
                            return Ok(0);
                        }
                        frame(&src);
                        *member = Some(flate2::bufread::GzDecoder::new(src));
                        continue;
                    };
                    match d.read(buf)? {
                        0 => {
                            // The member ended: the next one (if any) starts here.
                            *idle = member.take().map(|d| d.into_inner());
                            continue;
                        }
                        n => n,
                    }
                }
                Codec::Zstd {
                    dec,
                    src,
                    out,
                    pos,
                    len,
                    in_frame,
                } => {
                    if pos < len {
                        let n = (*len - *pos).min(buf.len());
                        buf[..n].copy_from_slice(&out[*pos..*pos + n]);
                        *pos += n;
                        n
                    } else {
                        if src.at_end()? {
                            if *in_frame {
                                return Err(io::ErrorKind::UnexpectedEof.into());
                            }
                            return Ok(0);
                        }
                        if !*in_frame {
                            // The last frame was decoded and flushed: one starts here.
                            frame(src);
                            *in_frame = true;
                        }
                        use zstd::stream::raw::Operation;
                        let st = dec.run_on_buffers(src.fill_buf()?, out)?;
                        src.consume(st.bytes_read);
                        (*pos, *len) = (0, st.bytes_written);
                        if st.remaining == 0 {
                            *in_frame = false;
                        } else if st.bytes_read == 0 && st.bytes_written == 0 {
                            return Err(io::Error::other("the decoder made no progress"));
                        }
                        continue;
                    }
                }
                Codec::Lz4(frame_dec, idle) => {
                    let Some(d) = frame_dec.as_mut() else {
                        let Some(mut src) = idle.take() else {
                            return Ok(0);
                        };
                        if src.at_end()? {
                            *idle = Some(src);
                            return Ok(0);
                        }
                        frame(&src);
                        *frame_dec = Some(Box::new(lz4_flex::frame::FrameDecoder::new(src)));
                        continue;
                    };
                    match d.read(buf)? {
                        0 => {
                            // The end of a frame, or of the input: lz4_flex reads an input
                            // cut at a block boundary as a frame's end, so its end mark
                            // (0000, then the content checksum when the frame has one) is
                            // checked.
                            let src = frame_dec.take().map(|d| d.into_inner());
                            if let Some(src) = src {
                                let t = src.tail;
                                if t[4..] != [0; 4] && t[..4] != [0; 4] {
                                    *idle = Some(src);
                                    return Err(io::ErrorKind::UnexpectedEof.into());
                                }
                                *idle = Some(src);
                            }
                            continue;
                        }
                        n => n,
                    }
                }
            };
            return Ok(n);
        }
    }
}

/// Pushes a frame start to `log` unless it is closer than [`FRAME_LOG_MIN_GAP`] to the last.
fn log_frame(log: &Option<FrameLog>, start: FrameStart) {
    if let Some(log) = log {
        let mut v = log.lock().unwrap_or_else(|p| p.into_inner());
        if v.last()
            .is_none_or(|l| start.offset >= l.offset + FRAME_LOG_MIN_GAP)
        {
            v.push(start);
        }
    }
}

impl Read for Decompressor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(d) = &self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, d.clone()));
        }
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.step(buf) {
            Ok(0) => {
                self.done = true;
                Ok(0)
            }
            Ok(n) => {
                self.produced += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.damage(e)),
        }
    }
}

/// Opens `file` (already open, `first` its first bytes) for reading: a [`Decompressor`] when
/// it is compressed, else the file itself. Frame starts go to `log` when given.
pub fn source_for(
    file: File,
    first: &[u8],
    log: Option<FrameLog>,
) -> io::Result<(Box<dyn Read + Send>, Option<Compression>)> {
    match sniff_compression(first) {
        Some(c) => Ok((
            Box::new(Decompressor::new(c, Box::new(file), 0, 0, log)?),
            Some(c),
        )),
        None => Ok((Box::new(file), None)),
    }
}

/// The first bytes of the decompressed content of a compressed file (at most `buf.len()`;
/// fewer when it is shorter or damaged early), for recognising what it holds.
pub fn peek_decompressed(file: File, format: Compression, buf: &mut [u8]) -> io::Result<usize> {
    let mut d = Decompressor::new(format, Box::new(file), 0, 0, None)?;
    let mut n = 0;
    while n < buf.len() {
        match d.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if StreamDamage::of(&e).is_some() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A `Read` over byte ranges of the *decompressed* stream of a compressed file, in order,
/// each byte once: what [`crate::io::RangesReader`] is for a plain file. Each range is
/// reached by decoding from the latest frame start at or before it (`frames`, from an
/// index) unless the decoder already runs there without passing a frame start; the bytes
/// between are decoded and dropped. With the single frame start `(0, 0)` this is one
/// sequential decode of the file up to its last range.
pub struct CompressedRanges {
    file: Arc<File>,
    format: Compression,
    frames: Vec<FrameStart>,
    ranges: std::collections::VecDeque<(u64, u64)>,
    dec: Option<Decompressor>,
    /// Decompressed offset of the decoder's next byte.
    pos: u64,
    /// The range being read: its end.
    end: Option<u64>,
    scratch: Vec<u8>,
    /// Frames started (decoders opened), for tests and statistics.
    seeks: u64,
}

impl CompressedRanges {
    /// A reader of the union of `ranges` (decompressed `(start, end)`, any order, merged as
    /// [`RangesReader::new`] merges them) of `file`, compressed in `format`, with the frame
    /// table `frames` (sorted; `(0, 0)` is added when missing).
    pub fn new(
        file: Arc<File>,
        format: Compression,
        mut frames: Vec<FrameStart>,
        ranges: Vec<(u64, u64)>,
    ) -> CompressedRanges {
        if frames.first().is_none_or(|f| f.offset != 0) {
            frames.insert(
                0,
                FrameStart {
                    compressed: 0,
                    offset: 0,
                },
            );
        }
        frames.sort_unstable();
        // Merge as the plain reader does (it owns that rule).
        let merged: Vec<(u64, u64)> = RangesReader::new(file.clone(), ranges)
            .ranges()
            .copied()
            .collect();
        CompressedRanges {
            file,
            format,
            frames,
            ranges: merged.into(),
            dec: None,
            pos: 0,
            end: None,
            scratch: Vec::new(),
            seeks: 0,
        }
    }

    /// How many times decoding started at a frame (1 for a sequential read).
    pub fn frames_started(&self) -> u64 {
        self.seeks
    }

    /// Positions the decoder at decompressed offset `s`.
    fn reach(&mut self, s: u64) -> io::Result<bool> {
        let i = self.frames.partition_point(|f| f.offset <= s);
        let f = self.frames[i.saturating_sub(1)];
        // Decode on from where the decoder is unless a frame starts between it and `s`.
        if self.dec.is_none() || self.pos > s || f.offset > self.pos {
            let input = RangesReader::from_offset(self.file.clone(), f.compressed);
            self.dec = Some(Decompressor::new(
                self.format,
                Box::new(input),
                f.compressed,
                f.offset,
                None,
            )?);
            self.pos = f.offset;
            self.seeks += 1;
        }
        let Some(dec) = self.dec.as_mut() else {
            return Ok(false);
        };
        if self.scratch.is_empty() {
            self.scratch = vec![0; 64 << 10];
        }
        while self.pos < s {
            let want = (s - self.pos).min(self.scratch.len() as u64) as usize;
            match dec.read(&mut self.scratch[..want]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.pos += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl Read for CompressedRanges {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(end) = self.end {
                if self.pos < end {
                    let want = (end - self.pos).min(buf.len() as u64) as usize;
                    let Some(dec) = self.dec.as_mut() else {
                        return Ok(0);
                    };
                    let n = dec.read(&mut buf[..want])?;
                    if n == 0 {
                        self.ranges.clear();
                        self.end = None;
                        return Ok(0);
                    }
                    self.pos += n as u64;
                    return Ok(n);
                }
                self.end = None;
            }
            let Some((s, e)) = self.ranges.pop_front() else {
                return Ok(0);
            };
            if !self.reach(s)? {
                self.ranges.clear();
                return Ok(0);
            }
            self.end = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureReader;
    use crate::testutil::capture::{PcapBuilder, PcapngBuilder};
    use crate::testutil::compress::{compress, ALL};
    use std::path::Path;

    #[test]
    fn parse_names_the_field_and_value() {
        assert_eq!(
            Compression::parse("compress", "ZSTD").unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            Compression::parse("compress", "gzip").unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::parse("compress", "lz4").unwrap(),
            Compression::Lz4
        );
        let e = Compression::parse("compress", "bzip2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("compress") && e.contains("bzip2"), "{e}");
    }

    /// A legacy pcap of `n` records of varied sizes, deterministic.
    fn pcap(n: u32) -> Vec<u8> {
        let mut b = PcapBuilder::new(1, false, false);
        for i in 0..n {
            let len = 60 + (i as usize * 37) % 1400;
            let data: Vec<u8> = (0..len)
                .map(|k| (k as u32 ^ i.wrapping_mul(31)) as u8)
                .collect();
            b.packet((1_700_000_000 + i / 100, (i % 100) * 10_000), &data);
        }
        b.bytes()
    }

    fn pcapng(n: u32) -> Vec<u8> {
        let mut b = PcapngBuilder::new();
        b.section(false).interface(1, 65535, Some(9), None);
        for i in 0..n {
            let data = vec![i as u8; 60 + (i as usize * 13) % 900];
            b.epb(
                0,
                1_700_000_000_000_000_000 + u64::from(i) * 1000,
                &data,
                data.len() as u32,
            );
        }
        b.bytes()
    }

    type Rec = (i64, Vec<u8>, usize, (u64, u64));

    /// Every record of a reader, with its decompressed byte range.
    fn read_all(mut r: CaptureReader) -> (Vec<Rec>, Option<crate::error::Error>, CaptureReader) {
        let mut v = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    let (ts, data, iface) = (rec.ts.as_nanos(), rec.data.to_vec(), rec.iface);
                    v.push((ts, data, iface, r.last_block()));
                }
                Ok(None) => return (v, None, r),
                Err(e) => return (v, Some(e), r),
            }
        }
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn magics_are_recognised_and_suffixes_stripped() {
        for f in ALL {
            assert_eq!(sniff_compression(&compress(f, b"x", None)), Some(f));
        }
        assert_eq!(sniff_compression(&pcap(1)), None);
        assert_eq!(sniff_compression(&[0x1f, 0x8b]), None);
        assert_eq!(strip_compression_suffix("snort.log.1.zst"), "snort.log.1");
        assert_eq!(strip_compression_suffix("a.pcap.gz"), "a.pcap");
        assert_eq!(strip_compression_suffix("a.pcap"), "a.pcap");
    }

    #[test]
    fn every_format_one_frame_or_many_reads_as_the_plain_file() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, plain) in [("p.pcap", pcap(3000)), ("p.pcapng", pcapng(2000))] {
            let want = read_all(CaptureReader::open(&write(tmp.path(), name, &plain)).unwrap()).0;
            assert!(want.len() >= 2000);
            for f in ALL {
                for frames in [None, Some(40_000), Some(1 << 20)] {
                    let p = write(tmp.path(), "c", &compress(f, &plain, frames));
                    let r = CaptureReader::open(&p).unwrap();
                    assert_eq!(r.compression(), Some(f));
                    let (got, err, _) = read_all(r);
                    assert!(err.is_none(), "{f} {frames:?}: {err:?}");
                    assert!(got == want, "{f} {frames:?} {name}: records differ");
                }
            }
        }
    }

    /// Decodes `data` (compressed) from a frame start to the end.
    fn decode_from(f: Compression, data: &[u8], s: FrameStart) -> Vec<u8> {
        let input = std::io::Cursor::new(data[s.compressed as usize..].to_vec());
        let mut d = Decompressor::new(f, Box::new(input), s.compressed, s.offset, None).unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn logged_frame_starts_are_where_decoding_can_start() {
        let plain = pcap(6000);
        for f in ALL {
            let data = compress(f, &plain, Some(100_000));
            let log = FrameLog::default();
            let input = std::io::Cursor::new(data.clone());
            let mut d = Decompressor::new(f, Box::new(input), 0, 0, Some(log.clone())).unwrap();
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert!(out == plain, "{f}");
            let frames = log.lock().unwrap().clone();
            // 100 kB frames, logged at least FRAME_LOG_MIN_GAP apart: every third.
            assert_eq!(
                frames.len(),
                plain.len().div_ceil(300_000),
                "{f}: {frames:?}"
            );
            assert_eq!(
                frames[0],
                FrameStart {
                    compressed: 0,
                    offset: 0
                }
            );
            for w in frames.windows(2) {
                assert!(
                    w[1].offset >= w[0].offset + FRAME_LOG_MIN_GAP,
                    "{f}: {frames:?}"
                );
            }
            for s in &frames {
                assert!(
                    decode_from(f, &data, *s) == plain[s.offset as usize..],
                    "{f} {s:?}"
                );
            }
        }
    }

    #[test]
    fn ranges_decode_from_their_frame_not_from_the_start() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = pcap(6000);
        for f in ALL {
            let mut data = compress(f, &plain, Some(100_000));
            let log = FrameLog::default();
            let mut d = Decompressor::new(
                f,
                Box::new(std::io::Cursor::new(data.clone())),
                0,
                0,
                Some(log.clone()),
            )
            .unwrap();
            std::io::copy(&mut d, &mut std::io::sink()).unwrap();
            let frames = log.lock().unwrap().clone();
            let last = *frames.last().unwrap();
            let ranges = vec![
                (last.offset + 10, last.offset + 5000),
                (plain.len() as u64 - 100, plain.len() as u64),
                (last.offset + 7000, last.offset + 7001),
            ];
            let want: Vec<u8> = [
                &plain[ranges[0].0 as usize..ranges[0].1 as usize],
                &plain[ranges[2].0 as usize..ranges[2].1 as usize],
                &plain[ranges[1].0 as usize..],
            ]
            .concat();
            // Ruin every frame before the last: a reader that starts at the file's start
            // fails, one that starts at the last frame does not.
            for b in &mut data[8..last.compressed as usize] {
                *b = 0x55;
            }
            let p = write(tmp.path(), "c", &data);
            let file = Arc::new(File::open(&p).unwrap());
            let mut r = CompressedRanges::new(file.clone(), f, frames.clone(), ranges.clone());
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            assert!(got == want, "{f}");
            assert_eq!(r.frames_started(), 1, "{f}");
            // Without the frame table the same read decodes from the start, into the damage.
            let mut r = CompressedRanges::new(file, f, vec![], ranges);
            let e = r.read_to_end(&mut Vec::new()).unwrap_err();
            assert!(StreamDamage::of(&e).is_some(), "{f}: {e}");
        }
    }

    #[test]
    fn damage_yields_the_records_before_it_and_says_where() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = pcap(4000);
        let want = read_all(CaptureReader::open(&write(tmp.path(), "p", &plain)).unwrap()).0;
        for f in ALL {
            let data = compress(f, &plain, Some(200_000));
            let log = FrameLog::default();
            let mut d = Decompressor::new(
                f,
                Box::new(std::io::Cursor::new(data.clone())),
                0,
                0,
                Some(log.clone()),
            )
            .unwrap();
            std::io::copy(&mut d, &mut std::io::sink()).unwrap();
            let third = log.lock().unwrap()[2];
            // A broken frame header (its magic): decoding stops exactly there.
            let mut broken = data.clone();
            broken[third.compressed as usize..third.compressed as usize + 4]
                .copy_from_slice(b"XXXX");
            // Cut short in the middle of the third frame.
            let cut = data[..third.compressed as usize + 1000].to_vec();
            let mut cases = vec![("broken", broken), ("cut", cut)];
            if f == Compression::Lz4 {
                // Cut at a block boundary (before the second frame's end mark), which
                // lz4_flex alone reads as a clean end.
                cases.push(("cut", data[..third.compressed as usize - 4].to_vec()));
            }
            for (what, bytes) in cases {
                let p = write(tmp.path(), "c", &bytes);
                let before: Vec<Rec> = want
                    .iter()
                    .filter(|r| r.3 .1 <= third.offset)
                    .cloned()
                    .collect();
                // A search's reader: the records before the damage, then a damaged span.
                let (got, err, r) = read_all(CaptureReader::open_resyncing(&p).unwrap());
                assert!(err.is_none(), "{f} {what}: {err:?}");
                assert!(
                    got.len() >= before.len() && got.len() < want.len(),
                    "{f} {what}"
                );
                assert!(got[..before.len()] == before[..], "{f} {what}");
                assert!(got[..] == want[..got.len()], "{f} {what}");
                let dmg = r.damage();
                assert_eq!(dmg.len(), 1, "{f} {what}: {dmg:?}");
                let w = dmg[0].warning(&p);
                assert!(
                    w.contains(&format!("corrupt {f} stream at compressed byte"))
                        && w.contains("the rest of the file cannot be read")
                        && w.contains(&p.display().to_string()),
                    "{w}"
                );
                if what == "cut" {
                    assert!(w.contains("cut short"), "{w}");
                }
                // A plain reader: the same records, then a format error naming the offset.
                let (got2, err, _) = read_all(CaptureReader::open(&p).unwrap());
                assert!(got2 == got, "{f} {what}");
                match err {
                    Some(crate::error::Error::Format { offset, reason, .. }) => {
                        assert!(offset >= third.offset, "{offset} {reason}");
                        assert!(reason.contains("compressed byte"), "{reason}");
                    }
                    e => panic!("{f} {what}: {e:?}"),
                }
            }
            // Damage in the first bytes fails the open with a format error.
            let mut head = data.clone();
            head[4..40].fill(0xff);
            match CaptureReader::open_resyncing(&write(tmp.path(), "h", &head)) {
                Err(crate::error::Error::Format { .. }) => {}
                r => panic!("{f}: {r:?}"),
            }
        }
    }

    #[test]
    fn zstd_skippable_frames_are_passed_over() {
        // The seekable format ends with its seek table in a skippable frame; any skippable
        // frame may stand between frames.
        let tmp = tempfile::tempdir().unwrap();
        let plain = pcap(500);
        let want = read_all(CaptureReader::open(&write(tmp.path(), "p", &plain)).unwrap()).0;
        let skippable = |n: u8| {
            let mut f = vec![0x5e, 0x2a, 0x4d, 0x18, 6, 0, 0, 0];
            f.extend_from_slice(&[n; 6]);
            f
        };
        let half = plain.len() / 2;
        let data = [
            compress(Compression::Zstd, &plain[..half], None),
            skippable(1),
            compress(Compression::Zstd, &plain[half..], None),
            skippable(2),
        ]
        .concat();
        let (got, err, r) =
            read_all(CaptureReader::open_resyncing(&write(tmp.path(), "z", &data)).unwrap());
        assert!(
            err.is_none() && r.damage().is_empty(),
            "{err:?} {:?}",
            r.damage()
        );
        assert!(got == want);
    }

    #[test]
    fn a_compressed_file_that_is_not_a_capture_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for f in ALL {
            let p = write(
                tmp.path(),
                "log.gz",
                &compress(f, b"just some text\n", None),
            );
            let e = CaptureReader::open(&p).unwrap_err().to_string();
            assert!(e.contains(&format!("decompressed from {f}")), "{e}");
        }
    }
}

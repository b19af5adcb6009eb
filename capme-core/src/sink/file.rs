//! An atomic capture-file sink: pcap when every matched packet fits one pcap header, pcapng
//! otherwise.
//!
//! Records go to a temporary file in the target directory, which is renamed into place by
//! [`Sink::finish`]; dropping the sink without `finish` (error, empty result) removes it, so a
//! failed or empty extraction leaves no file behind.
//!
//! The output starts as legacy pcap with the first packet's link type, precision and byte order
//! (so pcap records are reproduced byte for byte). When a packet arrives whose interface differs
//! in link type or precision, what was written so far is converted to pcapng (one interface per
//! distinct input interface from then on) and writing continues there: the choice is exact
//! without reading the inputs twice or holding packets in memory.

use crate::capture::{CaptureReader, Compression, Format, Interface};
use crate::error::{Error, Result};
use crate::io::parent_dir;
use crate::packet::Packet;
use crate::sink::pcap::PcapFileWriter;
use crate::sink::pcapng::PcapngFileWriter;
use crate::sink::Sink;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// Output format written by a [`FileSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Legacy pcap.
    Pcap,
    /// pcapng.
    Pcapng,
}

enum State {
    Empty,
    Pcap {
        w: PcapFileWriter<BufWriter<File>>,
        key: (u32, u8),
        units: u64,
        snaplen: u32,
    },
    Pcapng {
        w: PcapngFileWriter<BufWriter<File>>,
        ids: HashMap<Interface, u32>,
    },
}

/// Writes matched packets to a capture file, atomically: a temporary file in the same
/// directory, renamed over the target when finished, so a reader never sees a partial file.
///
/// By default the data is not forced to disk before the rename (as `tcpdump -w` does not):
/// a pivot's output is read at once, and an `fsync` costs more than the rest of an indexed
/// pivot. [`FileSink::durable`] adds the `fsync` for files kept and served again later, such
/// as the archive cache.
pub struct FileSink {
    target: PathBuf,
    tmp: Option<NamedTempFile>,
    state: State,
    packets: u64,
    durable: bool,
    /// Write pcapng from the first packet (the target's extension is `.pcapng`).
    pcapng: bool,
    /// An existing regular file at the target may be replaced.
    replace: bool,
    /// Compress the finished capture in this format ([`FileSink::compress`]).
    compress: Option<Compression>,
}

impl FileSink {
    /// A sink that will write a new file at `path` (its directory must exist): anything
    /// already there is left alone and the extraction fails, naming it. A path ending in
    /// `.pcapng` (any case) is written as pcapng; any other as pcap unless the inputs need
    /// pcapng.
    pub fn create(path: impl AsRef<Path>) -> Result<FileSink> {
        Self::open(path.as_ref(), false)
    }

    /// As [`FileSink::create`], but an existing *regular* file at `path` is replaced (the
    /// CLI's `--force`). A directory, device, FIFO, socket or symlink is never replaced.
    pub fn create_replacing(path: impl AsRef<Path>) -> Result<FileSink> {
        Self::open(path.as_ref(), true)
    }

    fn open(path: &Path, replace: bool) -> Result<FileSink> {
        let target = path.to_path_buf();
        check_output(&target, replace)?;
        let pcapng = target
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("pcapng"));
        Ok(FileSink {
            target,
            tmp: None,
            state: State::Empty,
            packets: 0,
            durable: false,
            pcapng,
            replace,
            compress: None,
        })
    }

    /// Writes the capture compressed in `format` (one frame, zstd level 3, gzip level 6, or
    /// lz4), adding the format's suffix (`.zst`, `.gz`, `.lz4`) to the target's name unless
    /// it ends with it already: `flow.pcap` becomes `flow.pcap.zst` ([`path`](Self::path)
    /// is the final name). The format inside (pcap or pcapng) is chosen as without it, by
    /// the name before the suffix. The capture is written plain to a temporary file first
    /// (it may turn into pcapng), then compressed as a stream into the target's temporary
    /// file and renamed into place.
    pub fn compress(mut self, format: Compression) -> Result<FileSink> {
        let name = self.target.as_os_str().to_string_lossy().into_owned();
        if !name.ends_with(format.suffix()) {
            let mut t = self.target.clone().into_os_string();
            t.push(format.suffix());
            self.target = PathBuf::from(t);
            check_output(&self.target, self.replace)?;
        }
        self.compress = Some(format);
        Ok(self)
    }

    /// Forces the data to disk (`fsync`) before the file is renamed into place, so that a
    /// crash never leaves a renamed but empty or cut file.
    pub fn durable(mut self, yes: bool) -> FileSink {
        self.durable = yes;
        self
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// The format chosen so far (`None` before the first packet).
    pub fn format(&self) -> Option<OutputFormat> {
        match self.state {
            State::Empty => None,
            State::Pcap { .. } => Some(OutputFormat::Pcap),
            State::Pcapng { .. } => Some(OutputFormat::Pcapng),
        }
    }

    fn new_temp(&self) -> Result<(NamedTempFile, BufWriter<File>)> {
        let tmp = crate::io::temp_beside(&self.target)
            .map_err(|e| Error::io(parent_dir(&self.target), e))?;
        let f = tmp.reopen().map_err(|e| Error::io(tmp.path(), e))?;
        Ok((tmp, BufWriter::with_capacity(1 << 20, f)))
    }

    fn io<T>(&self, r: std::io::Result<T>) -> Result<T> {
        let p = self
            .tmp
            .as_ref()
            .map(|t| t.path().to_path_buf())
            .unwrap_or_else(|| self.target.clone());
        r.map_err(|e| Error::io(p, e))
    }

    /// Switches from pcap to pcapng: rewrites what was written so far.
    fn convert_to_pcapng(&mut self) -> Result<()> {
        let State::Pcap { w, snaplen, .. } = std::mem::replace(&mut self.state, State::Empty)
        else {
            return Ok(());
        };
        let f = self.io(w
            .finish_with_snaplen(snaplen)
            .and_then(|b| b.into_inner().map_err(|e| e.into_error())))?;
        drop(f);
        let old = self.tmp.take().expect("pcap state has a temp file");
        let (tmp, bw) = self.new_temp()?;
        self.tmp = Some(tmp);
        let mut w = self.io(PcapngFileWriter::new(bw))?;
        let mut ids: HashMap<Interface, u32> = HashMap::new();
        let mut r = CaptureReader::open(old.path())?;
        while let Some((rec, iface)) = r.next_with_interface()? {
            let id = match ids.get(iface) {
                Some(&id) => id,
                None => {
                    let id = self.io(w.add_interface(iface))?;
                    ids.insert(iface.clone(), id);
                    id
                }
            };
            self.io(w.write_packet(id, iface, rec.ts_raw, rec.orig_len, rec.data))?;
        }
        drop(old);
        self.state = State::Pcapng { w, ids };
        Ok(())
    }
}

/// What may stand at an output path: nothing, or (when `replace`) a regular file. A
/// directory, device, FIFO, socket or symlink is refused whatever `replace` says.
/// Checks that a new output file may be written at `target`: a non-empty path whose directory
/// exists, where nothing stands, or (with `replace`) a regular file. The check every output of
/// capme makes before its search (capture files, transcripts).
pub fn check_output(target: &Path, replace: bool) -> Result<()> {
    if target.as_os_str().is_empty() {
        return Err(Error::invalid("output", "", "empty output path"));
    }
    check_target(target, replace)?;
    let dir = parent_dir(target);
    if !dir.is_dir() {
        return Err(Error::io(
            &dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "output directory does not exist",
            ),
        ));
    }
    Ok(())
}

/// Writes `contents` to a new file at `target` as [`FileSink`] writes captures: checked by
/// [`check_output`], written to a temporary file beside it and renamed into place (never over
/// an existing file unless `replace`, and then only a regular file).
pub fn write_file_atomically(target: &Path, contents: &[u8], replace: bool) -> Result<()> {
    use std::io::Write;
    check_output(target, replace)?;
    let mut tmp = crate::io::temp_beside(target).map_err(|e| Error::io(parent_dir(target), e))?;
    tmp.write_all(contents)
        .and_then(|_| tmp.flush())
        .map_err(|e| Error::io(tmp.path(), e))?;
    persist(tmp, target, replace)
}

/// Renames a finished temporary file to `target`: atomically refused when something appeared
/// there, unless `replace` (checked again: the target may have changed since the first check).
fn persist(tmp: NamedTempFile, target: &Path, replace: bool) -> Result<()> {
    check_target(target, replace)?;
    if replace {
        tmp.persist(target)
            .map_err(|e| Error::io(target, e.error))?;
    } else {
        // Atomic: fails if a file appeared at the target since the check.
        tmp.persist_noclobber(target).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                exists_error(target)
            } else {
                Error::io(target, e.error)
            }
        })?;
    }
    Ok(())
}

fn check_target(target: &Path, replace: bool) -> Result<()> {
    let meta = match std::fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(target, e)),
    };
    let ft = meta.file_type();
    let what = if ft.is_dir() {
        "is a directory; give a file name"
    } else if ft.is_symlink() {
        "is a symbolic link; capme writes only regular files and never follows or replaces a link"
    } else if !ft.is_file() {
        "is not a regular file (a device, FIFO or socket); capme writes only regular files"
    } else if replace {
        return Ok(());
    } else {
        return Err(exists_error(target));
    };
    Err(Error::invalid("output", target.display().to_string(), what))
}

fn exists_error(target: &Path) -> Error {
    Error::invalid(
        "output",
        target.display().to_string(),
        "already exists; replacing it must be asked for (--force)",
    )
}

/// `(link-type field, tsresol)` when an interface's records can go into a legacy pcap (the rule
/// [`FileSink`] follows; `capme serve`'s streaming writer follows the same one). The field is
/// what the pcap header says ([`Interface::pcap_linktype_field`]): the link type, and the FCS
/// length in its upper bits when the input declared one, so that packets with and without an
/// FCS never share a header.
pub fn pcap_key(i: &Interface) -> Option<(u32, u8)> {
    if i.tsoffset != 0 || !(i.tsresol == 6 || i.tsresol == 9) {
        return None;
    }
    Some((i.pcap_linktype_field()?, i.tsresol))
}

/// The legacy pcap timestamp words of a packet in `units` per second, if they fit.
pub fn pcap_ts(p: &Packet, units: u64) -> Option<(u32, u32)> {
    match p.iface.format {
        Format::Pcap { .. } => Some(p.ts_raw),
        Format::Pcapng => {
            let raw = ((p.ts_raw.0 as u64) << 32) | p.ts_raw.1 as u64;
            let sec = u32::try_from(raw / units).ok()?;
            Some((sec, (raw % units) as u32))
        }
    }
}

impl Sink for FileSink {
    fn packet(&mut self, p: &Packet) -> Result<bool> {
        let key = pcap_key(&p.iface);
        if let State::Empty = self.state {
            let (tmp, bw) = self.new_temp()?;
            self.tmp = Some(tmp);
            let units = if key.is_some_and(|k| k.1 == 9) {
                1_000_000_000
            } else {
                1_000_000
            };
            let big_endian = matches!(
                p.iface.format,
                Format::Pcap {
                    big_endian: true,
                    ..
                }
            );
            match key {
                Some(k) if !self.pcapng && pcap_ts(p, units).is_some() => {
                    let w = self.io(PcapFileWriter::new(
                        bw,
                        k.0,
                        p.iface.snaplen,
                        k.1 == 9,
                        big_endian,
                    ))?;
                    self.state = State::Pcap {
                        w,
                        key: k,
                        units,
                        snaplen: p.iface.snaplen,
                    };
                }
                _ => {
                    let w = self.io(PcapngFileWriter::new(bw))?;
                    self.state = State::Pcapng {
                        w,
                        ids: HashMap::new(),
                    };
                }
            }
        }
        if let State::Pcap { key: k, units, .. } = &self.state {
            if key != Some(*k) || pcap_ts(p, *units).is_none() {
                self.convert_to_pcapng()?;
            }
        }
        let r = match &mut self.state {
            State::Pcap {
                w, units, snaplen, ..
            } => {
                *snaplen = (*snaplen).max(p.iface.snaplen);
                let ts = pcap_ts(p, *units).expect("checked above");
                w.write_record(ts, p.orig_len, &p.data)
            }
            State::Pcapng { w, ids } => {
                let id = match ids.get(&*p.iface) {
                    Some(&id) => Ok(id),
                    None => w.add_interface(&p.iface).inspect(|&id| {
                        ids.insert((*p.iface).clone(), id);
                    }),
                };
                id.and_then(|id| w.write_packet(id, &p.iface, p.ts_raw, p.orig_len, &p.data))
            }
            State::Empty => unreachable!("state set above"),
        };
        self.io(r)?;
        self.packets += 1;
        Ok(true)
    }

    fn finish(&mut self) -> Result<()> {
        let state = std::mem::replace(&mut self.state, State::Empty);
        let file = match state {
            State::Empty => return Ok(()),
            State::Pcap { w, snaplen, .. } => self.io(w
                .finish_with_snaplen(snaplen)
                .and_then(|b| b.into_inner().map_err(|e| e.into_error())))?,
            State::Pcapng { w, .. } => self.io(w
                .into_inner()
                .and_then(|b| b.into_inner().map_err(|e| e.into_error())))?,
        };
        if self.durable {
            self.io(file.sync_all())?;
        }
        drop(file);
        let mut tmp = self.tmp.take().expect("a written sink has a temp file");
        if let Some(c) = self.compress {
            let plain = tmp;
            tmp = crate::io::temp_beside(&self.target)
                .map_err(|e| Error::io(parent_dir(&self.target), e))?;
            let out = tmp.reopen().map_err(|e| Error::io(tmp.path(), e))?;
            let input = File::open(plain.path()).map_err(|e| Error::io(plain.path(), e))?;
            let file = compress_stream(c, input, out).map_err(|e| Error::io(tmp.path(), e))?;
            if self.durable {
                file.sync_all().map_err(|e| Error::io(tmp.path(), e))?;
            }
        }
        // Checked again now: the target may have appeared (or changed) during the search.
        persist(tmp, &self.target, self.replace)
    }
}

/// Copies `input` into `out` compressed in `format` (a stream: memory does not grow with the
/// size); returns `out`.
pub fn compress_stream(format: Compression, mut input: File, out: File) -> std::io::Result<File> {
    use std::io::Write;
    let out = BufWriter::with_capacity(1 << 20, out);
    let out = match format {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            std::io::copy(&mut input, &mut e)?;
            e.finish()?
        }
        Compression::Zstd => {
            let mut e = zstd::stream::write::Encoder::new(out, 3)?;
            e.include_checksum(true)?;
            std::io::copy(&mut input, &mut e)?;
            e.finish()?
        }
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(out);
            std::io::copy(&mut input, &mut e)?;
            e.finish().map_err(std::io::Error::other)?
        }
    };
    let mut out = out;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use std::sync::Arc;

    fn packet(iface: Interface, sec: u32) -> Packet {
        Packet {
            ts: Timestamp::from_secs(sec as i64),
            ts_raw: (sec, 0),
            orig_len: 60,
            data: bytes::Bytes::from(vec![0u8; 60]),
            iface: Arc::new(iface),
            sensor: Arc::from("s"),
            file: Arc::from(Path::new("in.pcap")),
        }
    }

    fn pcap_iface(linktype: u32, big_endian: bool) -> Interface {
        Interface {
            format: Format::Pcap {
                nanos: false,
                big_endian,
            },
            linktype,
            snaplen: 65535,
            units_per_sec: 1_000_000,
            tsresol: 6,
            tsoffset: 0,
            fcs_bits: None,
        }
    }

    /// A big-endian pcap's packets, converted to pcapng when a packet of another link type
    /// follows, keep their snaplen (it was patched little-endian: 4294901760).
    #[test]
    fn big_endian_pcap_converted_to_pcapng_keeps_its_snaplen() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mixed.pcap");
        let mut sink = FileSink::create(&out).unwrap();
        sink.packet(&packet(pcap_iface(1, true), 100)).unwrap();
        sink.packet(&packet(pcap_iface(1, true), 101)).unwrap();
        assert_eq!(sink.format(), Some(OutputFormat::Pcap));
        sink.packet(&packet(pcap_iface(113, false), 102)).unwrap();
        assert_eq!(sink.format(), Some(OutputFormat::Pcapng));
        sink.finish().unwrap();
        let mut r = CaptureReader::open(&out).unwrap();
        let mut n = 0;
        while r.next_record().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
        let snaplens: Vec<(u32, u32)> = r
            .interfaces()
            .iter()
            .map(|i| (i.linktype, i.snaplen))
            .collect();
        assert_eq!(snaplens, vec![(1, 65535), (113, 65535)]);
    }

    /// The FCS length goes with the link type: a pcap header says it in its link-type field
    /// (the field the input had), packets with and without an FCS never share a pcap header,
    /// and pcapng says it with `if_fcslen`.
    #[test]
    fn the_fcs_length_is_kept_in_pcap_and_pcapng_output() {
        let dir = tempfile::tempdir().unwrap();
        let fcs = Interface {
            fcs_bits: Some(32),
            ..pcap_iface(1, false)
        };
        let out = dir.path().join("fcs.pcap");
        let mut sink = FileSink::create(&out).unwrap();
        sink.packet(&packet(fcs.clone(), 100)).unwrap();
        sink.finish().unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[20..24], &0x2400_0001u32.to_le_bytes());
        let r = CaptureReader::open(&out).unwrap();
        assert_eq!(
            (r.interfaces()[0].linktype, r.interfaces()[0].fcs_bits),
            (1, Some(32))
        );

        let out = dir.path().join("mixed.pcap");
        let mut sink = FileSink::create(&out).unwrap();
        sink.packet(&packet(fcs.clone(), 100)).unwrap();
        sink.packet(&packet(pcap_iface(1, false), 101)).unwrap();
        assert_eq!(sink.format(), Some(OutputFormat::Pcapng));
        sink.finish().unwrap();
        let mut r = CaptureReader::open(&out).unwrap();
        while r.next_record().unwrap().is_some() {}
        let got: Vec<_> = r
            .interfaces()
            .iter()
            .map(|i| (i.linktype, i.fcs_bits))
            .collect();
        assert_eq!(got, [(1, Some(32)), (1, None)]);

        // An FCS length a pcap header cannot say goes to pcapng.
        let out = dir.path().join("odd.pcap");
        let mut sink = FileSink::create(&out).unwrap();
        let odd = Interface {
            fcs_bits: Some(8),
            ..pcap_iface(1, false)
        };
        sink.packet(&packet(odd, 100)).unwrap();
        assert_eq!(sink.format(), Some(OutputFormat::Pcapng));
        sink.finish().unwrap();
        let r = CaptureReader::open(&out).unwrap();
        assert_eq!(r.interfaces()[0].fcs_bits, Some(8));
    }

    #[test]
    fn a_pcapng_extension_chooses_pcapng() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["flow.pcapng", "FLOW.PCAPNG"] {
            let out = dir.path().join(name);
            let mut sink = FileSink::create(&out).unwrap();
            sink.packet(&packet(pcap_iface(1, false), 100)).unwrap();
            assert_eq!(sink.format(), Some(OutputFormat::Pcapng));
            sink.finish().unwrap();
            let bytes = std::fs::read(&out).unwrap();
            assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a], "{name}");
            let mut r = CaptureReader::open(&out).unwrap();
            let rec = r.next_record().unwrap().unwrap();
            assert_eq!(
                rec.ts_raw,
                (0, 100_000_000),
                "µs timestamp as a 64-bit count"
            );
        }
        let out = dir.path().join("flow.pcap");
        let mut sink = FileSink::create(&out).unwrap();
        sink.packet(&packet(pcap_iface(1, false), 100)).unwrap();
        assert_eq!(sink.format(), Some(OutputFormat::Pcap));
    }

    #[test]
    fn big_endian_pcap_output_keeps_its_snaplen() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("be.pcap");
        let mut sink = FileSink::create(&out).unwrap();
        sink.packet(&packet(pcap_iface(1, true), 100)).unwrap();
        sink.finish().unwrap();
        let r = CaptureReader::open(&out).unwrap();
        assert_eq!(r.interfaces()[0].snaplen, 65535);
        assert_eq!(
            &std::fs::read(&out).unwrap()[..4],
            &[0xa1, 0xb2, 0xc3, 0xd4]
        );
    }
}

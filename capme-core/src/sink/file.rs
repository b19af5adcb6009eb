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

use crate::capture::{CaptureReader, Format, Interface};
use crate::error::{Error, Result};
use crate::packet::Packet;
use crate::sink::pcap::PcapFileWriter;
use crate::sink::pcapng::PcapngFileWriter;
use crate::sink::Sink;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
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
        big_endian: bool,
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
}

impl FileSink {
    /// A sink that will write `path` (its directory must exist).
    pub fn create(path: impl AsRef<Path>) -> Result<FileSink> {
        let target = path.as_ref().to_path_buf();
        if target.as_os_str().is_empty() {
            return Err(Error::invalid("output", "", "empty output path"));
        }
        if target.is_dir() {
            return Err(Error::invalid(
                "output",
                target.display().to_string(),
                "is a directory; give a file name",
            ));
        }
        let dir = parent_dir(&target);
        if !dir.is_dir() {
            return Err(Error::io(
                &dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "output directory does not exist",
                ),
            ));
        }
        Ok(FileSink {
            target,
            tmp: None,
            state: State::Empty,
            packets: 0,
            durable: false,
        })
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
        let dir = parent_dir(&self.target);
        let name = self
            .target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".capme-tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?;
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
        let mut f = self.io(w
            .into_inner()
            .and_then(|b| b.into_inner().map_err(|e| e.into_error())))?;
        self.io(patch_snaplen(&mut f, snaplen, false))?;
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

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Rewrites the snaplen field of a pcap header (offset 16).
fn patch_snaplen(f: &mut File, snaplen: u32, big_endian: bool) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(16))?;
    f.write_all(&if big_endian {
        snaplen.to_be_bytes()
    } else {
        snaplen.to_le_bytes()
    })?;
    f.seek(SeekFrom::End(0))?;
    Ok(())
}

/// `(link type, tsresol)` when an interface's records can go into a legacy pcap.
fn pcap_key(i: &Interface) -> Option<(u32, u8)> {
    (i.tsoffset == 0 && (i.tsresol == 6 || i.tsresol == 9)).then_some((i.linktype, i.tsresol))
}

/// The legacy pcap timestamp words of a packet in `units` per second, if they fit.
fn pcap_ts(p: &Packet, units: u64) -> Option<(u32, u32)> {
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
                Some(k) if pcap_ts(p, units).is_some() => {
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
                        big_endian,
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
            State::Pcap {
                w,
                snaplen,
                big_endian,
                ..
            } => {
                let mut f = self.io(w
                    .into_inner()
                    .and_then(|b| b.into_inner().map_err(|e| e.into_error())))?;
                self.io(patch_snaplen(&mut f, snaplen, big_endian))?;
                f
            }
            State::Pcapng { w, .. } => self.io(w
                .into_inner()
                .and_then(|b| b.into_inner().map_err(|e| e.into_error())))?,
        };
        if self.durable {
            self.io(file.sync_all())?;
        }
        drop(file);
        let tmp = self.tmp.take().expect("a written sink has a temp file");
        // Temporary files are created 0600; the result is an ordinary file (umask applies).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
        }
        tmp.persist(&self.target)
            .map_err(|e| Error::io(&self.target, e.error))?;
        Ok(())
    }
}

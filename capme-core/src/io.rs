//! Positional reads, shared by the capture readers (seek probes, segments) and the flow index;
//! and the temporary files every output is written through.
//!
//! Everything here reads with `pread` (one system call per range, no shared file position), so
//! several readers may use one file descriptor from different threads.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;

/// One positional read (no seek: one system call per range).
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(offset))?;
        f.read(buf)
    }
}

/// Reads at `offset` until `buf` is full or the file ends; returns the bytes read.
pub fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match read_at(file, &mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads `buf.len()` bytes at `offset` (an early end of file is an error).
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    if read_full_at(file, buf, offset)? < buf.len() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// A temporary-file builder whose files are created as `open(2)` creates an ordinary file:
/// mode 0666 less the process umask (tempfile's default is 0600), so that the renamed
/// output has the permissions the user's umask asks for.
pub fn temp_builder<'a, 'b>() -> tempfile::Builder<'a, 'b> {
    let mut b = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b
}

/// The directory a path is in (`.` for a bare file name).
pub fn parent_dir(p: &std::path::Path) -> std::path::PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// A temporary file beside `target`, in its directory, named `.<name>.XXXXXX.capme-tmp`
/// (hidden, and never a capture file's name), created as [`temp_builder`] creates them: what
/// every output is written to before it is renamed into place.
pub fn temp_beside(target: &std::path::Path) -> std::io::Result<tempfile::NamedTempFile> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    temp_builder()
        .prefix(&format!(".{name}."))
        .suffix(".capme-tmp")
        .tempfile_in(parent_dir(target))
}

/// A `Read` over byte ranges of a shared file, one after the other in file order, each byte
/// once, by positional reads: the structure blocks and selected records of an indexed query
/// form one valid capture stream; a segment of a split file is the one open-ended range from
/// its start ([`RangesReader::from_offset`]).
pub struct RangesReader {
    file: Arc<File>,
    /// `(start, end)`, sorted and disjoint.
    ranges: VecDeque<(u64, u64)>,
    at: u64,
    end: u64,
}

impl RangesReader {
    /// A reader over the union of `ranges` (`(start, end)` byte ranges of `file`, in any order,
    /// possibly overlapping or touching): sorted, merged, so no byte (no block) is read twice.
    pub fn new(file: Arc<File>, mut ranges: Vec<(u64, u64)>) -> RangesReader {
        ranges.sort_unstable();
        let mut merged: VecDeque<(u64, u64)> = VecDeque::with_capacity(ranges.len());
        for (s, e) in ranges.into_iter().filter(|(s, e)| s < e) {
            match merged.back_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push_back((s, e)),
            }
        }
        RangesReader {
            file,
            ranges: merged,
            at: 0,
            end: 0,
        }
    }

    /// A reader of `file` from `offset` to its end (as it is when read).
    pub fn from_offset(file: Arc<File>, offset: u64) -> RangesReader {
        RangesReader::new(file, vec![(offset, u64::MAX)])
    }

    /// The ranges left to read, `(start, end)`, sorted and disjoint.
    pub fn ranges(&self) -> impl Iterator<Item = &(u64, u64)> {
        self.ranges.iter()
    }
}

impl Read for RangesReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.end {
            let Some((s, e)) = self.ranges.pop_front() else {
                return Ok(0);
            };
            (self.at, self.end) = (s, e);
        }
        let want = (self.end - self.at).min(buf.len() as u64) as usize;
        let n = read_at(&self.file, &mut buf[..want], self.at)?;
        if n == 0 {
            // The file ends here (shorter than indexed, or the open-ended range's end).
            self.end = self.at;
            self.ranges.clear();
            return Ok(0);
        }
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_reader_reads_the_union_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..=255u8).cycle().take(600).collect();
        std::fs::write(&p, &data).unwrap();
        let ranges = vec![
            (100, 200),
            (0, 24),
            (150, 300),
            (300, 310),
            (400, 500),
            (7, 7),
        ];
        let mut r = RangesReader::new(Arc::new(File::open(&p).unwrap()), ranges);
        assert_eq!(
            r.ranges().copied().collect::<Vec<_>>(),
            vec![(0, 24), (100, 310), (400, 500)]
        );
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        let want: Vec<u8> = [&data[0..24], &data[100..310], &data[400..500]].concat();
        assert_eq!(got, want);
        // Ranges past the end of a cut file end the stream there.
        let mut r = RangesReader::new(Arc::new(File::open(&p).unwrap()), vec![(550, 700)]);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, &data[550..]);
    }

    #[test]
    fn from_offset_reads_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        std::fs::write(&p, &data).unwrap();
        let mut r = RangesReader::from_offset(Arc::new(File::open(&p).unwrap()), 100);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, &data[100..]);
    }
}

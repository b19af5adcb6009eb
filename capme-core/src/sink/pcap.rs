//! A legacy pcap writer that reproduces input records byte for byte.

use crate::capture::pcap::{
    u32_bytes, RecordHeader, FILE_HEADER_LEN, LINKTYPE_OFFSET, SNAPLEN_OFFSET,
};
use std::io::{self, Seek, SeekFrom, Write};

/// Magic of a microsecond pcap.
pub const MAGIC_US: u32 = 0xa1b2_c3d4;
/// Magic of a nanosecond pcap.
pub const MAGIC_NS: u32 = 0xa1b2_3c4d;

/// Writes a legacy pcap stream: the global header on creation, then records.
///
/// Records are written with the raw timestamp words and lengths they had in the input, in the
/// byte order chosen at creation, so a record read from a pcap of the same byte order comes out
/// identical.
#[derive(Debug)]
pub struct PcapFileWriter<W: Write> {
    w: W,
    big_endian: bool,
    snaplen: u32,
}

impl<W: Write> PcapFileWriter<W> {
    /// Writes the 24-byte global header (version 2.4, thiszone 0, sigfigs 0).
    pub fn new(
        mut w: W,
        linktype: u32,
        snaplen: u32,
        nanos: bool,
        big_endian: bool,
    ) -> io::Result<Self> {
        let magic = if nanos { MAGIC_NS } else { MAGIC_US };
        let mut h = [0u8; FILE_HEADER_LEN];
        let put16 = |b: &mut [u8], v: u16| {
            b.copy_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        h[0..4].copy_from_slice(&u32_bytes(magic, big_endian));
        put16(&mut h[4..6], 2);
        put16(&mut h[6..8], 4);
        h[SNAPLEN_OFFSET..SNAPLEN_OFFSET + 4].copy_from_slice(&u32_bytes(snaplen, big_endian));
        h[LINKTYPE_OFFSET..LINKTYPE_OFFSET + 4].copy_from_slice(&u32_bytes(linktype, big_endian));
        w.write_all(&h)?;
        Ok(PcapFileWriter {
            w,
            big_endian,
            snaplen,
        })
    }

    /// The snaplen written in the header.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Writes one record: `ts_raw` = (seconds, µs or ns fraction) exactly as in the input.
    pub fn write_record(
        &mut self,
        ts_raw: (u32, u32),
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let caplen = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record larger than 4 GiB"))?;
        let h = RecordHeader {
            sec: ts_raw.0,
            frac: ts_raw.1,
            caplen,
            orig_len,
        };
        self.w.write_all(&h.to_bytes(self.big_endian))?;
        self.w.write_all(data)
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

impl<W: Write + Seek> PcapFileWriter<W> {
    /// Flushes, rewrites the header's snaplen as `snaplen` (in the file's own byte order: the
    /// largest snaplen of the inputs is known only at the end) and returns the writer,
    /// positioned at the end.
    pub fn finish_with_snaplen(self, snaplen: u32) -> io::Result<W> {
        let big_endian = self.big_endian;
        let mut w = self.into_inner()?;
        w.seek(SeekFrom::Start(SNAPLEN_OFFSET as u64))?;
        w.write_all(&u32_bytes(snaplen, big_endian))?;
        w.seek(SeekFrom::End(0))?;
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapFileWriter::new(Vec::new(), 1, 65535, false, false).unwrap();
        w.write_record((1_700_000_000, 123_456), 60, &[0xaa; 4])
            .unwrap();
        let v = w.into_inner().unwrap();
        assert_eq!(&v[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(v[20..24].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_le_bytes(v[24..28].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(v[28..32].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(v[32..36].try_into().unwrap()), 4);
        assert_eq!(u32::from_le_bytes(v[36..40].try_into().unwrap()), 60);
        assert_eq!(&v[40..], &[0xaa; 4]);

        let w = PcapFileWriter::new(Vec::new(), 101, 0, true, true).unwrap();
        let v = w.into_inner().unwrap();
        assert_eq!(&v[0..4], &[0xa1, 0xb2, 0x3c, 0x4d]);
        assert_eq!(u32::from_be_bytes(v[20..24].try_into().unwrap()), 101);
    }
}

//! Compressed copies of capture bytes for tests, benchmarks and the store generator, written
//! with the same crates that read them (no command-line tool needed).

use crate::capture::Compression;
use std::io::Write;

/// `data` compressed in `format`: one frame (gzip member, zstd frame, lz4 frame) when
/// `frame_bytes` is `None`, else one independent frame per `frame_bytes` bytes of input,
/// concatenated (what seekable zstd, `pigz --independent`-style gzip and lz4 frame writers
/// produce), so that a reader may start at any frame.
pub fn compress(format: Compression, data: &[u8], frame_bytes: Option<usize>) -> Vec<u8> {
    let step = frame_bytes.unwrap_or(data.len()).max(1);
    let mut out = Vec::new();
    for chunk in data.chunks(step) {
        out.extend_from_slice(&frame(format, chunk));
    }
    if data.is_empty() {
        out = frame(format, data);
    }
    out
}

/// One frame of `data`.
fn frame(format: Compression, data: &[u8]) -> Vec<u8> {
    match format {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("in memory");
            e.finish().expect("in memory")
        }
        Compression::Zstd => zstd::encode_all(data, 3).expect("in memory"),
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).expect("in memory");
            e.finish().expect("in memory")
        }
    }
}

/// Every format, for tests that run over all of them.
pub const ALL: [Compression; 3] = [Compression::Gzip, Compression::Zstd, Compression::Lz4];

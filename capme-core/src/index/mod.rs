//! Flow index: one sidecar file per capture file (legacy pcap or pcapng), so that a pivot reads
//! only the records of a capture file that can belong to the flow.
//!
//! ## Design
//! Three tables, all built in one pass over the capture file:
//! - **structure**: the byte ranges of the blocks a reader needs before packet blocks: the pcap
//!   file header, or each pcapng section header and interface description. A query reads
//!   them, in file order, merged with the packet records it selects, so the reader sees a valid
//!   stream (byte order, link types and timestamp resolutions of every section and interface).
//! - **time → offset**: the file is cut into *blocks* of about [`BLOCK_BYTES`] of whole
//!   records; each block keeps its byte range and its earliest and latest record time.
//! - **flow → records**: for every 32-bit hash of a canonical [`FlowKey`](crate::FlowKey) seen in the file, the
//!   list of its records' byte ranges (offset and length), in file order, and the first two
//!   bytes of the key's Community ID (seed 0), so that a Community ID query finds its flow's
//!   list among the few with that tag (then the key, and the address pair of its fragments,
//!   from the records themselves). Non-first IP
//!   fragments carry no ports, so they are entered under the hash of their `(protocol, address
//!   pair)`; a query looks up its keys' hashes *and* its address pairs' hashes. VLAN/QinQ/MPLS
//!   packets are entered under their decoded key like any other; a tunnel packet (GRE,
//!   ERSPAN, VXLAN, GENEVE, IP in IP: [`crate::wire::layers`]) under the key of each of its IP
//!   layers, outer and inner, so that a query for an inner flow finds it.
//!
//! A query takes the union of its hashes' record lists, keeps the records inside blocks whose
//! time range meets the window (with the reorder slack), coalesces neighbours into a few large
//! reads, and feeds them through the same matcher as a scan. Every packet a scan would return
//! is in those lists, so an indexed extraction returns exactly what an unindexed one does; a
//! hash collision only costs reading a few records more. Per-record lists (rather than per-block
//! hash sets, capme's first design) matter for the common pivot: a long TCP connection has a
//! packet in nearly every block of its window, so block granularity read almost as much as
//! time pruning alone.
//!
//! Size: per record a gap and a length as LEB128 varints (2–4 bytes, against a record of 16
//! bytes of header plus the packet), plus 14 bytes per flow and 32 per block: about 0.4 % of
//! a capture of 700-byte packets. Build cost: one framing + decode + hash per packet.
//!
//! A query reads the index partially: the header, the block and flow tables (checksummed
//! together), then only its own flows' record lists (each with its own checksum). A corrupt
//! part that the query reads makes it scan the capture file instead, with a warning.
//!
//! ## File format (little-endian)
//! Header (72 bytes): `"CAPMEIX2"`, version u32 (3), structure count u32, capture size u64,
//! capture mtime ns i64, indexed length u64 (end of the last whole record indexed), block count
//! u32, flow count u32, record-lists length u64, checksum u64 (of the header's first 56 bytes,
//! its last 8 and the tables), frame count u32, compression u8 (0 none, 1 gzip, 2 zstd, 3 lz4),
//! unsupported count u16, 1 zero byte. Version 3 added the last 8 bytes, the frame table and
//! the unsupported table.
//! Blocks: `offset u64, len u64, min_ts i64, max_ts i64`. Structure: `start u64, end u64`.
//! Flows, sorted by hash:
//! `hash u32, len u32 (top bit: several keys share the list), checksum u32, Community ID tag
//! u16`. Frames (compressed capture files only), sorted: `compressed offset u64, decompressed
//! offset u64`. Unsupported (records of link types the decoder does not know, listed under no
//! flow; a query answered from the index warns about them as a scan does): `link type u32,
//! records u64`. The lists follow in the flows' order, each `len` bytes. A
//! list is, per record, `gap` (offset minus the previous record's end, the first from 0) and
//! `len` as LEB128. Written to a temporary file and renamed.
//!
//! ## Compressed capture files
//! Every offset of the index of a gzip, zstd or lz4 file (blocks, structure, records, indexed
//! length) is one of its *decompressed* bytes. The frame table lists where frames start
//! (gzip members, zstd or lz4 frames; at least [`FRAME_LOG_MIN_GAP`] decompressed bytes apart),
//! and a query decodes each range it reads from the last frame start before it
//! ([`crate::capture::compress::CompressedRanges`]): the frames its records are in, and what
//! precedes them in their frames. A file of one frame (the default of the `gzip`, `zstd` and
//! `lz4` tools) is decoded from its start up to the last record the query needs. A compressed
//! file that grew since it was indexed is scanned whole.
//!
//! [`FRAME_LOG_MIN_GAP`]: crate::capture::compress::FRAME_LOG_MIN_GAP
//!
//! ## Freshness
//! An index is used when the capture file's size and mtime are those recorded. A capture file
//! that has grown (still being written) uses the index for the part it covers and is scanned
//! from there on. Anything else (smaller, unreadable, corrupt or missing index) is scanned.
//! Community ID queries with a seed other than 0 are answered by scanning.

mod build;
mod format;
mod keys;
mod maintain;
mod query;
mod view;

#[cfg(test)]
mod tests;

pub use crate::store::INDEX_EXTENSION as EXTENSION;
pub use format::{
    sum64 as checksum64, Block, FileIndex, FlowEntry, Freshness, BLOCK_BYTES, COALESCE_GAP,
};
pub use keys::{key_hash, pair_hash};
pub use maintain::{
    build_indexes, build_indexes_with_progress, remove_orphan_indexes, IndexProgress, IndexReport,
};
pub use query::{open_reader, Lookup};
pub use view::IndexView;

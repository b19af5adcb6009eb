//! The bodies of capme's fuzz targets, as plain functions over bytes.
//!
//! The same functions run in two harnesses:
//! - `fuzz/` (outside the workspace, nightly, cargo-fuzz/libFuzzer): one `fuzz_target!` per
//!   function, mutating inputs for as long as `scripts/fuzz.sh` says;
//! - `tests/corpus.rs` (stable, part of `cargo test --workspace`): every committed seed and
//!   regression input under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through
//!   its target, with a counting allocator and a time limit per input.
//!
//! A target fails by panicking: on a panic inside capme-core, and on a broken invariant that
//! the target checks (each says which). Every target accepts every input.
//!
//! | target | code under test |
//! |---|---|
//! | [`pcap_reader`] | `CaptureReader::from_read` + `next_with_interface()` on legacy pcap |
//! | [`pcapng_reader`] | the same on pcapng |
//! | [`decoder`] | `wire::decode`, `wire::network_layer`, `FlowKey::of_decoded`, Community ID |
//! | [`index`] | `IndexView::open` (from a file) + `records`/`cid_candidates`, `FileIndex::from_bytes` |
//! | [`query`] | `QueryText::parse`, `TimeWindow::parse`, `CommunityId` `FromStr`, `tuple_community_id` |
//! | [`catalogue`] | `CatalogueView::open` (from a file) + `dirs`/`fresh_entries`, also with checksums made right |
//! | [`transcript`] | the records of a capture (as [`pcap_reader`] reads them) through `TranscriptBuilder`, every style |
//! | [`pivot`] | `pivot::url::parse` of the text, and `pivot::zeek::find_conn` over it as a conn.log |
//! | [`compressed`] | `capture::compress::Decompressor` (gzip, zstd, lz4) under `CaptureReader`, and the frame starts it logs |

// The index format's own checksum, to make mutated indexes' checksums right again.
use capme_core::capture::{sniff_format, CaptureReader, SniffedFormat};
use capme_core::index::checksum64 as sum64;
use capme_core::index::{FileIndex, IndexView};
use capme_core::wire::{self, NetworkLayer};
use capme_core::{
    tuple_community_id, CommunityId, Endpoint, FlowKey, FlowSpec, Proto, QueryText, TimeWindow,
};
use std::io::{Cursor, Read, Write};
use std::path::PathBuf;

/// A target: takes any bytes, panics on a finding.
pub type Target = fn(&[u8]);

/// The targets by name (the names of `fuzz/fuzz_targets/*.rs` and of the corpus directories).
pub const TARGETS: &[(&str, Target)] = &[
    ("pcap_reader", pcap_reader),
    ("pcapng_reader", pcapng_reader),
    ("decoder", decoder),
    ("index", index),
    ("query", query),
    ("catalogue", catalogue),
    ("transcript", transcript),
    ("pivot", pivot),
    ("compressed", compressed),
];

/// Decompressed bytes a [`compressed`] input is read to at most (a small input can expand to
/// gigabytes; what matters is what the decoders do on the way).
const COMPRESSED_OUTPUT_LIMIT: u64 = 4 << 20;

/// A compressed capture (inputs with a gzip, zstd or lz4 magic; others are left to the other
/// targets): decompressed and read as a search reads it (resynchronising), up to
/// [`COMPRESSED_OUTPUT_LIMIT`] decompressed bytes. Checks that damage is an error carrying
/// [`StreamDamage`](capme_core::capture::compress::StreamDamage) (or the file's own I/O
/// error, never here), that the reader's records lie within the decompressed bytes, and
/// that every frame start the decoder logged decodes, from there, to the same bytes.
pub fn compressed(data: &[u8]) {
    use capme_core::capture::compress::{sniff_compression, Decompressor, FrameLog, StreamDamage};
    let Some(c) = sniff_compression(data) else {
        return;
    };
    let decoder = |from: usize, offset: u64, log: Option<FrameLog>| {
        Decompressor::new(
            c,
            Box::new(Cursor::new(data[from..].to_vec())),
            from as u64,
            offset,
            log,
        )
        .expect("a decoder")
        .take(COMPRESSED_OUTPUT_LIMIT)
    };
    // The decompressed bytes, to the damage or the limit.
    let log = FrameLog::default();
    let mut whole = Vec::new();
    let mut d = decoder(0, 0, Some(log.clone()));
    if let Err(e) = d.read_to_end(&mut whole) {
        assert!(
            StreamDamage::of(&e).is_some(),
            "damage without StreamDamage: {e}"
        );
    }
    // Every logged frame start decodes to the same bytes from there.
    let frames = log.lock().map(|v| v.clone()).unwrap_or_default();
    for f in frames.iter().filter(|f| f.offset < whole.len() as u64) {
        assert!(
            f.compressed as usize <= data.len(),
            "frame start {f:?} past the input"
        );
        let mut again = Vec::new();
        let _ = decoder(f.compressed as usize, f.offset, None)
            .take(64 << 10)
            .read_to_end(&mut again);
        let want = &whole[f.offset as usize..];
        let n = again.len().min(want.len());
        assert!(
            again[..n] == want[..n],
            "frame start {f:?} decodes to other bytes"
        );
    }
    // The capture reader over the decompressed stream, as a search reads it.
    let Ok(mut r) = CaptureReader::from_read_resyncing(
        Box::new(decoder(0, 0, None)),
        PathBuf::from("fuzz.input"),
    ) else {
        return;
    };
    for _ in 0..100_000 {
        match r.next_record() {
            Ok(Some(_)) => {
                let (start, end) = r.last_block();
                assert!(
                    start < end && end <= whole.len() as u64,
                    "record {start}..{end} outside the stream"
                );
            }
            Ok(None) | Err(_) => break,
        }
    }
}

/// Legacy pcap reader. Inputs that start with the pcapng magic are left to [`pcapng_reader`].
pub fn pcap_reader(data: &[u8]) {
    if sniff_format(data) == Some(SniffedFormat::Pcapng) {
        return;
    }
    read_capture(data);
}

/// pcapng reader. Inputs that start with a legacy pcap magic are left to [`pcap_reader`].
pub fn pcapng_reader(data: &[u8]) {
    if matches!(sniff_format(data), Some(SniffedFormat::Pcap { .. })) {
        return;
    }
    read_capture(data);
}

/// One record as the reader returned it, for comparing two reads of the same bytes.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    ts: i64,
    ts_raw: (u32, u32),
    orig_len: u32,
    iface: usize,
    data: Vec<u8>,
}

/// Gives at most `chunk` bytes per `read`, so that the reader's refill paths run.
struct Chunked {
    data: Cursor<Vec<u8>>,
    chunk: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.data.read(&mut buf[..n])
    }
}

/// Reads every record of `data` (continuing after an error for as long as the reader returns
/// more: whatever resynchronisation it does), checking per record that its interface's
/// timestamp rule gives its timestamp and that its block lies before the reader's offset,
/// that the reader makes progress, and that reading the same bytes in small pieces gives the
/// same records and the same errors.
fn read_capture(data: &[u8]) {
    let whole = read_all(Box::new(Cursor::new(data.to_vec())), data.len());
    // Small reads, of a size that varies with the input (1..=61 bytes).
    let chunk = 1 + data.len() % 61;
    let pieces = read_all(
        Box::new(Chunked {
            data: Cursor::new(data.to_vec()),
            chunk,
        }),
        data.len(),
    );
    assert_eq!(whole, pieces, "reads of {chunk}-byte pieces differ");
}

/// The records and the errors (as text) of one read.
fn read_all(src: Box<dyn Read + Send>, len: usize) -> (Vec<Seen>, Vec<String>) {
    let mut seen = Vec::new();
    let mut errors = Vec::new();
    let mut r = match CaptureReader::from_read(src, PathBuf::from("fuzz.input")) {
        Ok(r) => r,
        Err(e) => return (seen, vec![e.to_string()]),
    };
    // Every record or error must move the reader on; the smallest record (a legacy pcap
    // record header) is 16 bytes.
    let mut last_error_at = None;
    loop {
        let before = r.offset();
        match r.next_with_interface() {
            Ok(Some((rec, iface))) => {
                assert_eq!(
                    iface.timestamp(rec.ts_raw),
                    rec.ts,
                    "record timestamp differs from its interface's rule"
                );
                let _ = wire::decode(iface.linktype, rec.data);
                let seen_rec = Seen {
                    ts: rec.ts.as_nanos(),
                    ts_raw: rec.ts_raw,
                    orig_len: rec.orig_len,
                    iface: rec.iface,
                    data: rec.data.to_vec(),
                };
                let (start, end) = r.last_block();
                assert!(
                    start < end && end <= r.offset() && start >= before,
                    "record block {start}..{end} outside {before}..{}",
                    r.offset()
                );
                assert!(
                    (end - start) as usize >= seen_rec.data.len(),
                    "record block shorter than its data"
                );
                assert!(end as usize <= len, "record block beyond the input");
                seen.push(seen_rec);
                last_error_at = None;
            }
            Ok(None) => break,
            Err(e) => {
                let at = r.offset();
                assert!(
                    last_error_at != Some(at),
                    "two errors in a row at offset {at} without progress: {e}"
                );
                last_error_at = Some(at);
                errors.push(e.to_string());
            }
        }
        assert!(
            (seen.len() + errors.len()) * 16 <= len + 16,
            "more records and errors than the input can hold"
        );
    }
    assert!(
        !matches!(r.next_with_interface(), Ok(Some(_))),
        "a record after the end"
    );
    assert!(r.trailing_bytes() as usize <= len);
    (seen, errors)
}

/// The link types the decoder knows (and one it does not, 147): the input's first byte picks
/// one by its position. New ones go at the end, so that a committed input keeps its meaning.
pub const LINKTYPES: &[u32] = &[
    0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147, 9, 50, 51, 104, 105, 119, 127, 149, 163, 178,
    197, 239, 242, 258,
];

/// Packet decoder: the first byte picks a link type from [`LINKTYPES`], the rest is the packet.
/// Checks that `decode` finds an IP packet only where `network_layer` does, that the network
/// layer lies inside the packet, the tunnel walk's invariants ([`check_layers`]), and that a decoded 5-tuple's flow key and Community ID are
/// the same in both directions.
pub fn decoder(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let linktype = LINKTYPES[pick as usize % LINKTYPES.len()];
    let layer = wire::network_layer(linktype, bytes);
    if let Some(NetworkLayer::Ipv4(ip) | NetworkLayer::Ipv6(ip)) = layer {
        let inside = bytes.as_ptr_range();
        assert!(
            ip.is_empty() || (inside.start <= ip.as_ptr() && ip.as_ptr_range().end <= inside.end),
            "network layer outside the packet"
        );
    }
    check_layers(linktype, bytes);
    let Some(d) = wire::decode(linktype, bytes) else {
        return;
    };
    assert!(layer.is_some(), "decoded without a network layer");
    assert_eq!(d.src.is_ipv4(), d.dst.is_ipv4(), "mixed address families");
    let Some(key) = FlowKey::of_decoded(&d) else {
        return;
    };
    let id = key.community_id(0);
    assert_eq!(id.to_base64().parse::<CommunityId>().ok(), Some(id));
    if let (Some((sp, dp)), true) = (
        d.ports,
        [Proto::TCP, Proto::UDP, Proto::SCTP].contains(&d.proto),
    ) {
        let reverse = FlowKey::new(d.proto, Endpoint::new(d.dst, dp), Endpoint::new(d.src, sp));
        assert_eq!(key, reverse, "flow key depends on direction");
        assert_eq!(reverse.community_id(0), id);
    }
}

/// The tunnel walk ([`wire::layers`]): its outermost layer is `decode`'s, every layer's frame
/// lies inside the packet (each inside the one before), at most `1 + MAX_INNER_LAYERS`
/// layers, inner frames are Ethernet or raw IP, and a packet with inner layers is a tunnel
/// candidate (the matcher's pre-filter relies on it).
fn check_layers(linktype: u32, bytes: &[u8]) {
    let all = wire::layers(linktype, bytes);
    assert!(all.len() <= 1 + wire::MAX_INNER_LAYERS);
    assert_eq!(
        all.get(0).map(|l| l.decoded),
        wire::decode(linktype, bytes),
        "outermost layer differs from decode"
    );
    let mut outer = bytes.as_ptr_range();
    for (i, l) in all.iter().enumerate() {
        let r = l.frame.as_ptr_range();
        assert!(
            l.frame.is_empty() || (outer.start <= r.start && r.end <= outer.end),
            "layer {i}'s frame is outside the one before"
        );
        let ip = l.ip.as_ptr_range();
        assert!(
            l.ip.is_empty() || (r.start <= ip.start && ip.end <= r.end),
            "layer {i}'s IP packet is outside its frame"
        );
        outer = r;
        if i > 0 {
            assert!(!l.encaps.is_empty(), "inner layer without encapsulation");
            assert!(
                matches!(l.linktype, 1 | 101),
                "inner link type {}",
                l.linktype
            );
        }
    }
    if all.len() > 1 {
        let ip = wire::network_layer(linktype, bytes).expect("layers without a network layer");
        assert!(
            wire::is_tunnel_candidate(ip),
            "inner layers in a non-candidate"
        );
    }
}

/// Index reader: the input as an index file, read through the production path
/// ([`IndexView::open`] on a temporary file, then `records` and `cid_candidates`) and through
/// [`FileIndex::from_bytes`]; then the same with its checksums made right
/// ([`fix_index_checksums`]), so that mutations reach the code behind the checksums.
///
/// Checks: an index that `FileIndex::from_bytes` accepts is accepted by `IndexView` too, with
/// the same tables and the same records per flow, and serialises back to the same bytes.
pub fn index(data: &[u8]) {
    index_once(data);
    let mut fixed = data.to_vec();
    if fix_index_checksums(&mut fixed) && fixed != data {
        index_once(&fixed);
    }
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The length of an index header (format version 3).
const INDEX_HEADER_LEN: usize = 72;

/// The flow hashes of an index's flow table read straight from its bytes (at most 64), or
/// none when the header is not there.
fn raw_flow_hashes(v: &[u8]) -> Vec<u32> {
    let (Some(ns), Some(nb), Some(nf)) = (le32(v, 12), le32(v, 40), le32(v, 44)) else {
        return Vec::new();
    };
    let flows_at = INDEX_HEADER_LEN + nb as usize * 32 + ns as usize * 16;
    (0..nf.min(64) as usize)
        .map_while(|i| le32(v, flows_at + i * 14))
        .collect()
}

fn index_once(data: &[u8]) {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(data).expect("write the temporary index");
    file.flush().expect("flush");
    let meta = file.as_file().metadata().expect("metadata");
    let view = IndexView::open(file.path());
    let whole = FileIndex::from_bytes(data);

    let tail: [u8; 20] = data
        .get(data.len().saturating_sub(20)..)
        .and_then(|t| t.try_into().ok())
        .unwrap_or([0; 20]);
    let ids = [
        CommunityId::from_bytes([0; 20]),
        CommunityId::from_bytes(tail),
    ];
    let mut hashes = raw_flow_hashes(data);
    hashes.extend([0, u32::MAX]);

    if let Ok(Some(v)) = &view {
        let _ = v.freshness(&meta);
        for b in v.blocks() {
            assert!(b
                .offset
                .checked_add(b.len)
                .is_some_and(|e| e <= v.indexed_len()));
        }
        for &(a, b) in v.structure() {
            assert!(
                a < b && b <= v.indexed_len(),
                "structure block out of range"
            );
        }
        for id in &ids {
            let c = v.cid_candidates(id);
            if let Ok(recs) = v.records(&c) {
                check_ranges(&recs, v.indexed_len());
            }
        }
        if let Ok(recs) = v.records(&hashes) {
            check_ranges(&recs, v.indexed_len());
        }
    }

    if let Ok(fi) = whole {
        assert_eq!(
            fi.to_bytes(),
            data,
            "an accepted index does not serialise back"
        );
        let v = match view {
            Ok(Some(v)) => v,
            other => panic!("FileIndex accepts what IndexView refuses: {other:?}"),
        };
        assert_eq!(v.blocks(), &fi.blocks[..]);
        assert_eq!(v.structure(), &fi.structure[..]);
        assert_eq!(v.indexed_len(), fi.indexed_len);
        assert_eq!(v.frames(), &fi.frames[..]);
        assert_eq!(v.compression(), fi.compression);
        let _ = fi.freshness(&meta);
        for f in &fi.flows {
            let mut a = fi.records(f.hash).expect("every list was verified");
            a.sort_unstable();
            a.dedup();
            let b = v.records(&[f.hash]).expect("a verified list");
            assert_eq!(a, b, "records of flow {:08x} differ", f.hash);
        }
    }
}

fn check_ranges(recs: &[(u64, u64)], indexed_len: u64) {
    for w in recs.windows(2) {
        assert!(w[0] < w[1], "records not sorted or not deduplicated");
    }
    for &(a, b) in recs {
        assert!(a < b && b <= indexed_len, "record {a}..{b} out of range");
    }
}

/// Rewrites the checksums of an index image (each record list's, then the header's and
/// tables'), as far as its header and tables are there. `false` when there is no header or the
/// tables are cut.
pub fn fix_index_checksums(v: &mut [u8]) -> bool {
    let (Some(ns), Some(nb), Some(nf)) = (le32(v, 12), le32(v, 40), le32(v, 44)) else {
        return false;
    };
    let (ns, nb, nf) = (ns as usize, nb as usize, nf as usize);
    let nfr = le32(v, 64).unwrap_or(0) as usize;
    let flows_at = INDEX_HEADER_LEN + nb * 32 + ns * 16;
    // The frame table follows the flow table; the lists follow it.
    let meta_len = flows_at + nf * 14 + nfr * 16;
    if meta_len > v.len() {
        return false;
    }
    let mut start = meta_len;
    for i in 0..nf {
        let o = flows_at + i * 14;
        let len = (le32(v, o + 4).unwrap_or(0) & !(1 << 31)) as usize;
        let Some(end) = start.checked_add(len).filter(|&e| e <= v.len()) else {
            break;
        };
        let sum = sum64(&v[start..end]) as u32;
        v[o + 8..o + 12].copy_from_slice(&sum.to_le_bytes());
        start = end;
    }
    let h = sum64(&v[..56]) ^ sum64(&v[64..meta_len]).rotate_left(17);
    v[56..64].copy_from_slice(&h.to_le_bytes());
    true
}

/// Query parser: the input, as text, split at newlines into `sip`, `spt`, `dip`, `dpt`,
/// `proto`, `community_id`, `stime`, `etime` and a Community ID seed; a missing field or a
/// field written `~` is absent. Checks that a parsed query is consistent (a window with
/// `start <= end`, a tuple with at least one key) and that every Community ID that parses
/// prints back (base64 and hex) to the same ID.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\n');
    let mut next = || fields.next().filter(|f| *f != "~");
    let (sip, spt, dip, dpt, proto, cid) = (next(), next(), next(), next(), next(), next());
    let (stime, etime, seed) = (next().unwrap_or(""), next().unwrap_or(""), next());

    let q = QueryText {
        sip,
        spt,
        dip,
        dpt,
        proto,
        community_id: cid,
        stime,
        etime,
    };
    if let Ok(parsed) = q.parse() {
        assert!(parsed.window.start <= parsed.window.end);
        if let FlowSpec::Tuple { keys, .. } = &parsed.flow {
            assert!(!keys.is_empty(), "a tuple without keys");
        }
        let _ = parsed.to_string();
    }
    if let Ok(w) = TimeWindow::parse(stime, etime) {
        assert!(w.start <= w.end);
        let _ = w.to_string();
    }
    for t in [cid, sip, Some(&*text)].into_iter().flatten() {
        check_community_id(t);
    }
    let seed = seed.and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
    if let (Some(sip), Some(dip)) = (sip, dip) {
        if let Ok(id) = tuple_community_id(sip, spt, dip, dpt, proto.unwrap_or("tcp"), seed) {
            assert_eq!(id.to_base64().parse::<CommunityId>().ok(), Some(id));
        }
    }
}

fn check_community_id(text: &str) {
    if let Ok(id) = text.parse::<CommunityId>() {
        assert!(id.matches(text));
        assert_eq!(id.to_base64().parse::<CommunityId>().ok(), Some(id));
        assert_eq!(id.to_hex().parse::<CommunityId>().ok(), Some(id));
    }
}

/// A store catalogue as a file: opened, every directory read, each looked up fresh; then
/// again with every checksum made right, so that mutations reach the parsers behind them.
/// Checks that a catalogue that opens gives each directory at most once per path.
pub fn catalogue(data: &[u8]) {
    catalogue_once(data);
    let mut fixed = data.to_vec();
    if fix_catalogue_checksums(&mut fixed) && fixed != data {
        catalogue_once(&fixed);
    }
}

fn catalogue_once(data: &[u8]) {
    use capme_core::store::catalogue::CatalogueView;
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(data).expect("write the temporary catalogue");
    file.flush().expect("flush");
    let Ok(Some(view)) = CatalogueView::open(file.path()) else {
        return;
    };
    let _ = view.dirs();
    for h in view.heads() {
        let _ = view.fresh_entries(&h.rel, h.stamp);
        if let Some((a, b)) = h.starts {
            let _ = (a.as_nanos(), b.as_nanos());
        }
    }
}

/// Rewrites a catalogue's section checksums (in its table) and then its table checksum, as
/// `catalogue::to_bytes` computes them. False when the bytes are too short for a header.
fn fix_catalogue_checksums(v: &mut [u8]) -> bool {
    let Some(table_len) = le32(v, 28).map(|n| n as usize) else {
        return false;
    };
    let Some(ndirs) = le32(v, 24) else {
        return false;
    };
    let end = 32 + table_len;
    if v.len() < end + 8 {
        return false;
    }
    let mut p = 32;
    for _ in 0..ndirs.min(4096) {
        let Some(rel) = le32(v, p).map(|n| n as usize) else {
            break;
        };
        // rel, dev, ino, mtime, racy, files, min, max, then offset, length, checksum.
        let at = p + 4 + rel + 8 + 8 + 8 + 1 + 4 + 8 + 8;
        let (Some(off), Some(len)) = (le64(v, at), le64(v, at + 8)) else {
            break;
        };
        if at + 24 > end {
            break;
        }
        let sum = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| v.get(o..o.checked_add(l)?))
            .map(sum64);
        if let Some(sum) = sum {
            v[at + 16..at + 24].copy_from_slice(&sum.to_le_bytes());
        }
        p = at + 24;
    }
    let sum = sum64(&v[..end]);
    v[end..end + 8].copy_from_slice(&sum.to_le_bytes());
    true
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The records of a capture through the transcript builder, in every style and with a small
/// and the default byte cap. Checks that a transcript never holds more payload than its cap
/// allows, and that the json style has one line per segment.
pub fn transcript(data: &[u8]) {
    use capme_core::transcript::{Style, TranscriptBuilder, TranscriptOptions};
    use std::sync::Arc;
    let Ok(mut r) = CaptureReader::from_read(
        Box::new(Cursor::new(data.to_vec())),
        PathBuf::from("fuzz.input"),
    ) else {
        return;
    };
    let mut packets = Vec::new();
    while let Ok(Some((rec, iface))) = r.next_with_interface() {
        packets.push(capme_core::Packet {
            ts: rec.ts,
            ts_raw: rec.ts_raw,
            orig_len: rec.orig_len,
            data: rec.data.to_vec().into(),
            iface: Arc::new(iface.clone()),
            sensor: Arc::from("fuzz"),
            file: Arc::from(std::path::Path::new("fuzz.input")),
        });
        if packets.len() >= 4096 {
            break;
        }
    }
    for style in [Style::Plain, Style::Capme, Style::Json] {
        for maxtx in [64, 500_000] {
            let opts = TranscriptOptions::new()
                .style(style)
                .maxtx(maxtx)
                .expect("a cap above 0");
            let mut b = TranscriptBuilder::new(&opts);
            for p in &packets {
                if !b.push(p) {
                    break;
                }
            }
            let t = b.build();
            let payload: u64 = t.segments.iter().map(|s| s.payload.len() as u64).sum();
            assert!(
                payload <= maxtx,
                "{payload} payload bytes past maxtx {maxtx}"
            );
            if style == Style::Json {
                assert_eq!(
                    t.text.lines().count(),
                    t.segments.len(),
                    "one json line per segment"
                );
            }
        }
    }
}

/// The text as a CapMe/SOC URL, and the bytes as a Zeek conn.log searched for a uid (the
/// text's first word, and `CfuzzUid`). Checks that a parsed URL names a flow form.
pub fn pivot(data: &[u8]) {
    use capme_core::pivot::{url, zeek};
    let text = String::from_utf8_lossy(data);
    if let Ok(fields) = url::parse(&text) {
        let _ = fields.query(None, None);
        let _ = fields.query(Some("1700000000"), Some("1700000100"));
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("conn.log");
    std::fs::write(&log, data).expect("write the temporary conn.log");
    let first = text.split_whitespace().next().unwrap_or("C");
    for uid in [first, "CfuzzUid"] {
        if let Ok(c) = zeek::find_conn(uid, &log) {
            assert_eq!(c.uid, uid);
            let _ = c.fields().query(None, None);
        }
        let _ = zeek::find_conn(uid, dir.path());
    }
}

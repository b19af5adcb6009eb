//! Answering a query from an index: which byte ranges of a capture file to read, and a
//! reader over them ([`open_reader`]), which the search feeds to the same matcher as a scan.

use super::keys::{hashes_of_keys, packet_keys};
use super::{Freshness, IndexView, COALESCE_GAP};
use crate::capture::compress::CompressedRanges;
use crate::capture::CaptureReader;
use crate::error::{Error, Result};
use crate::flow::{CommunityId, FlowKey};
use crate::io::RangesReader;
use crate::query::FlowSpec;
use crate::time::Timestamp;
use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// What a query looks up in a flow index.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// The hashes of its keys and of their address pairs (fragments).
    Hashes(Vec<u32>),
    /// A Community ID (seed 0): candidate lists by tag, then the keys found in their records.
    CommunityId(CommunityId),
}

impl Lookup {
    /// How the index finds a flow: the hashes of its keys and of their address pairs (for
    /// fragments), or its Community ID when the seed is the one the index is built with (0).
    /// `None` when an index cannot answer (another seed): the file is scanned.
    pub fn of(flow: &FlowSpec) -> Option<Lookup> {
        match flow {
            FlowSpec::Tuple { keys, .. } => Some(Lookup::Hashes(hashes_of_keys(keys))),
            FlowSpec::CommunityId { id, seed: 0 } => Some(Lookup::CommunityId(*id)),
            FlowSpec::CommunityId { .. } => None,
        }
    }
}

/// Opens the capture file `capture` through its index `index` for the records that can
/// belong to `lookup`'s flow between `from` and `to` (the window widened by the reorder
/// slack): only the records listed under the flow's hashes, inside blocks that meet that
/// span, coalesced into few reads, plus the unindexed tail of a growing file. The reader sees
/// a valid capture stream (the structure blocks are included).
///
/// `None` when there is no usable index (missing or stale; for a corrupt one a warning saying
/// why is pushed to `warnings`): the caller scans the file. `Some(Err)` when the capture file
/// itself cannot be opened. With a usable index, `unsupported` gets the index's count of
/// records of link types the decoder does not know (`(link type, records)`), which no reader
/// of the selected records sees: the caller warns about them as a scan would.
pub fn open_reader(
    capture: &Path,
    index: &Path,
    lookup: &Lookup,
    from: Timestamp,
    to: Timestamp,
    warnings: &mut Vec<String>,
    unsupported: &mut Vec<(u32, u64)>,
) -> Option<Result<CaptureReader>> {
    let mut unusable = |why: String| {
        warnings.push(format!("{}: index not used: {why}", index.display()));
        None
    };
    let idx = match IndexView::open(index) {
        Ok(Some(i)) => i,
        Ok(None) => return None,
        Err(why) => return unusable(why),
    };
    let open = || -> std::io::Result<(File, std::fs::Metadata)> {
        let f = File::open(capture)?;
        let meta = f.metadata()?;
        Ok((f, meta))
    };
    let (f, meta) = match open() {
        Ok((f, m)) => (Arc::new(f), m),
        Err(e) => return Some(Err(Error::io(capture, e))),
    };
    let fresh = idx.freshness(&meta);
    // A compressed file that grew cannot be read from its indexed end (the offsets are
    // decompressed ones): it is scanned whole.
    if fresh == Freshness::Stale || (fresh == Freshness::Growing && idx.compression().is_some()) {
        return None;
    }
    let (from, to) = (from.as_nanos(), to.as_nanos());
    let blocks: Vec<(u64, u64)> = idx
        .blocks()
        .iter()
        .filter(|b| b.max_ts >= from && b.min_ts <= to)
        .map(|b| (b.offset, b.offset + b.len))
        .collect();
    let records = match lookup {
        Lookup::Hashes(h) => idx.records(h),
        Lookup::CommunityId(id) => cid_records(&idx, &f, capture, id, &blocks),
    };
    let records = match records {
        Ok(r) => r,
        Err(why) => return unusable(why),
    };
    unsupported.extend_from_slice(idx.unsupported());
    let mut ranges = select_ranges(&records, &blocks, COALESCE_GAP);
    if fresh == Freshness::Growing {
        ranges.push((idx.indexed_len(), meta.len()));
    }
    Some(indexed_reader(&idx, f, ranges, capture))
}

/// A reader over `ranges` of a capture file plus its structure blocks (pcap header; pcapng
/// section headers and interface descriptions), so the selected records read as they do in
/// the whole file.
fn indexed_reader(
    idx: &IndexView,
    file: Arc<File>,
    mut ranges: Vec<(u64, u64)>,
    path: &Path,
) -> Result<CaptureReader> {
    ranges.extend_from_slice(idx.structure());
    match idx.compression() {
        // Decoding starts at the frame of each range (or runs on from the last one).
        Some(c) => CaptureReader::from_decompressed(
            Box::new(CompressedRanges::new(
                file,
                c,
                idx.frames().to_vec(),
                ranges,
            )),
            path.to_path_buf(),
            c,
            false,
        ),
        None => CaptureReader::from_read(
            Box::new(RangesReader::new(file, ranges)),
            path.to_path_buf(),
        ),
    }
}

/// The records a Community ID query reads through an index: the lists filed under its tag,
/// and the lists of the address pairs of the keys that really have this ID, found by decoding
/// those lists' records (inside `blocks`) once. A list's records that belong to another flow
/// (same tag) are read too and rejected by the matcher, which compares the whole ID.
fn cid_records(
    idx: &IndexView,
    file: &Arc<File>,
    path: &Path,
    id: &CommunityId,
    blocks: &[(u64, u64)],
) -> std::result::Result<Vec<(u64, u64)>, String> {
    let mut records = idx.records(&idx.cid_candidates(id))?;
    let ranges = select_ranges(&records, blocks, COALESCE_GAP);
    if ranges.is_empty() {
        return Ok(records);
    }
    let mut r = indexed_reader(idx, file.clone(), ranges, path).map_err(|e| e.to_string())?;
    let mut seen: HashSet<FlowKey> = HashSet::new();
    let mut keys: Vec<FlowKey> = Vec::new();
    let mut layer_keys: Vec<FlowKey> = Vec::new();
    while let Ok(Some((rec, iface))) = r.next_with_interface() {
        packet_keys(iface.linktype, rec.data, &mut layer_keys);
        for &k in &layer_keys {
            if seen.insert(k) && k.community_id(0) == *id {
                keys.push(k);
            }
        }
    }
    if !keys.is_empty() {
        // Their own lists (already read) and their address pairs' (fragments).
        records.extend(idx.records(&hashes_of_keys(&keys))?);
        records.sort_unstable();
        records.dedup();
    }
    Ok(records)
}

/// The byte ranges to read: the records (sorted `(offset, end)`) that start inside one of
/// `blocks` (sorted, disjoint `(start, end)`), neighbours closer than `gap` merged into one
/// range when they are in the same block or in blocks that touch. Everything between two
/// merged records is whole records too, so each range is a valid run of records: the bytes
/// between blocks that do not touch (a damaged part of the file, or blocks of another time)
/// are never read.
fn select_ranges(records: &[(u64, u64)], blocks: &[(u64, u64)], gap: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut b = 0;
    // The block of the last range's last record.
    let mut last_b = usize::MAX;
    for &(off, end) in records {
        while b < blocks.len() && blocks[b].1 <= off {
            b += 1;
        }
        if b == blocks.len() {
            break;
        }
        if off < blocks[b].0 {
            continue;
        }
        let touching =
            last_b == b || (last_b < b && blocks[last_b..=b].windows(2).all(|w| w[0].1 == w[1].0));
        match out.last_mut() {
            Some(last) if touching && off <= last.1.saturating_add(gap) => last.1 = last.1.max(end),
            _ => out.push((off, end)),
        }
        last_b = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::select_ranges;

    #[test]
    fn ranges_keep_records_of_selected_blocks_and_merge_neighbours() {
        let recs = [
            (24, 100),
            (100, 150),
            (400, 500),
            (1000, 1100),
            (5000, 5100),
        ];
        // Blocks [0, 600) and [900, 6000): all records; gap 0 merges only adjacent ones.
        assert_eq!(
            select_ranges(&recs, &[(0, 600), (900, 6000)], 0),
            vec![(24, 150), (400, 500), (1000, 1100), (5000, 5100)]
        );
        // Gap 600 also merges 150..400, but not 500..1000: the blocks do not touch.
        assert_eq!(
            select_ranges(&recs, &[(0, 600), (900, 6000)], 600),
            vec![(24, 500), (1000, 1100), (5000, 5100)]
        );
        // Only the second block: records before it are left out.
        assert_eq!(select_ranges(&recs, &[(900, 2000)], 0), vec![(1000, 1100)]);
        assert_eq!(select_ranges(&recs, &[], 0), vec![]);
        // Blocks that do not touch (damage between them): never merged across.
        assert_eq!(
            select_ranges(&recs, &[(0, 300), (400, 6000)], 600),
            vec![(24, 150), (400, 1100), (5000, 5100)]
        );
        assert_eq!(
            select_ranges(&recs, &[(0, 400), (400, 6000)], 600),
            vec![(24, 1100), (5000, 5100)]
        );
    }
}

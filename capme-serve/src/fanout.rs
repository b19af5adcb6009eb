//! A query answered by several sources at once: the local store and peers (see [`crate::peer`]).
//!
//! Each source runs on a thread of its own and hands its packets, in its own timestamp order,
//! through a bounded channel ([`SOURCE_DEPTH`] packets); the merge takes the earliest head
//! (ties: the local store first, then peers in `--peer` order) into any [`Sink`]: the HTTP
//! response's [`ChannelSink`](crate::stream::ChannelSink) or a transcript. Memory is bounded
//! by sources × depth packets, whatever the result's size. A peer's pcap (or pcapng) stream is
//! read by capme-core's `CaptureReader`, as a file is.
//!
//! A source that fails before its first packet (refused, timed out, an error status) is left
//! out and named in the warnings; a source that fails after sending packets cuts the result
//! (its later packets would be missing without a sign in the bytes).

use crate::peer::{peer_path, Client, Failure, Peer};
use crate::ApiError;
use axum::http::StatusCode;
use capme_core::capture::{CaptureReader, Interface};
use capme_core::store::limits::Limits;
use capme_core::{Encapsulated, Error, Packet, Query, Sink, Store, Summary, Timestamp};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Packets in flight from one source to the merge.
pub const SOURCE_DEPTH: usize = 64;

/// One source of a fanned-out query.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// This server's store (restricted to sensors when the query named some).
    Local(Store),
    /// A peer, asked with `local=1`.
    Peer(Arc<Peer>),
}

impl Source {
    /// How messages name the source.
    pub(crate) fn label(&self) -> String {
        match self {
            Source::Local(_) => "local store".into(),
            Source::Peer(p) => p.label(),
        }
    }
}

/// How a source ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Its summary (counts of files read, warnings; packets as it sent them).
    Done(Box<Summary>),
    /// It matched nothing (404); its warnings.
    Empty(Vec<String>),
    /// It failed: the message names the source.
    Failed(String),
}

enum Item {
    Packet(Packet),
    End(Outcome),
}

/// A sink that hands the local search's packets to the merge.
struct Sender(SyncSender<Item>);

impl Sink for Sender {
    fn packet(&mut self, p: &Packet) -> capme_core::Result<bool> {
        // A copy: the search's packet may share a larger read buffer.
        let mut own = p.clone();
        own.data = bytes::Bytes::copy_from_slice(&p.data);
        self.0
            .send(Item::Packet(own))
            .map_err(|_| Error::Cancelled)?;
        Ok(true)
    }
}

/// Starts every source on a thread of its own; `fwd` is the query string peers are sent.
fn start(
    sources: &[Source],
    query: &Query,
    fwd: &str,
    client: &Client,
) -> Vec<(String, Receiver<Item>)> {
    sources
        .iter()
        .map(|s| {
            let (tx, rx) = sync_channel(SOURCE_DEPTH);
            let label = s.label();
            match s.clone() {
                Source::Local(store) => {
                    let q = query.clone();
                    std::thread::spawn(move || {
                        let r = store.extract(&q, &mut Sender(tx.clone()));
                        let _ = tx.send(Item::End(local_outcome(r)));
                    });
                }
                Source::Peer(p) => {
                    let (fwd, client) = (fwd.to_string(), client.clone());
                    std::thread::spawn(move || {
                        let outcome = read_peer(&client, &p, &fwd, &tx);
                        let _ = tx.send(Item::End(outcome));
                    });
                }
            }
            (label, rx)
        })
        .collect()
}

/// The outcome of the local store's extraction.
pub(crate) fn local_outcome(r: capme_core::Result<Summary>) -> Outcome {
    match r {
        Ok(s) => Outcome::Done(Box::new(s)),
        Err(e) => match Summary::of_no_packets(&e) {
            Some(s) => Outcome::Empty(s.warning_messages),
            None => Outcome::Failed(format!("local store: {e}")),
        },
    }
}

/// The outcome of a peer's error status.
pub(crate) fn peer_failure(p: &Peer, f: Failure) -> Outcome {
    match f {
        Failure::Status { status: 404, .. } => Outcome::Empty(Vec::new()),
        f => Outcome::Failed(format!("{}: {f}", p.label())),
    }
}

/// Reads a peer's capture into `tx`: its packets, then how it ended.
fn read_peer(client: &Client, p: &Peer, fwd: &str, tx: &SyncSender<Item>) -> Outcome {
    let resp = match client.get(&p.url, "/api/v1/pcap", fwd, p.credential.as_ref()) {
        Ok(r) => r,
        Err(f) => return peer_failure(p, f),
    };
    let path = peer_path(p);
    let fail = |e: Error| Outcome::Failed(format!("{}: {e}", p.label()));
    let mut reader = match CaptureReader::from_read(Box::new(resp.into_reader()), path.clone()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let sensor: Arc<str> = Arc::from(p.name.as_str());
    let file: Arc<Path> = Arc::from(path.as_path());
    let mut ifaces: Vec<Arc<Interface>> = Vec::new();
    let mut sum = Summary::default();
    loop {
        let (rec, iface) = match reader.next_with_interface() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => return fail(e),
        };
        let iface = match ifaces.get(rec.iface) {
            Some(i) if **i == *iface => i.clone(),
            _ => {
                let a = Arc::new(iface.clone());
                if ifaces.len() <= rec.iface {
                    ifaces.resize(rec.iface + 1, a.clone());
                }
                if let Some(slot) = ifaces.get_mut(rec.iface) {
                    *slot = a.clone();
                }
                a
            }
        };
        let packet = Packet {
            ts: rec.ts,
            ts_raw: rec.ts_raw,
            orig_len: rec.orig_len,
            data: bytes::Bytes::copy_from_slice(rec.data),
            iface,
            sensor: sensor.clone(),
            file: file.clone(),
        };
        sum.packets += 1;
        if tx.send(Item::Packet(packet)).is_err() {
            // The merge stopped (a limit, an error, the client went away).
            return Outcome::Done(Box::new(sum));
        }
    }
    // A stream the peer wrote is never damaged; if it is, the merge says so.
    for d in reader.damage() {
        sum.warning_messages.push(d.warning(&path));
    }
    if reader.trailing_bytes() > 0 {
        sum.warning_messages.push(format!(
            "{}: {} bytes after the last whole record were not read",
            p.label(),
            reader.trailing_bytes()
        ));
    }
    Outcome::Done(Box::new(sum))
}

/// What a merge did: its summary (counts and timestamps of what the sink got; files read and
/// warnings of every source), and the warnings known before its first packet (sources that
/// failed to start), which a response can still put in its headers.
pub(crate) struct Merged {
    pub summary: Summary,
}

/// Runs `query` on every source and merges their packets by timestamp into `sink`, within the
/// limits of this server's store. `early` is called once, before the first packet reaches the
/// sink, with the warnings known then (sources that failed to start).
///
/// Errors: 404 when no source has a packet and none failed; 502 naming every failed source
/// when none has a packet and one failed (the flow may be there); 502 when a source fails
/// after it sent packets (the response is cut there).
pub(crate) fn merge_into(
    sources: &[Source],
    query: &Query,
    fwd: &str,
    client: &Client,
    limits: Limits,
    sink: &mut dyn Sink,
    early: &mut dyn FnMut(&[String]),
) -> Result<Merged, ApiError> {
    let started = std::time::Instant::now();
    let rxs = start(sources, query, fwd, client);
    let n = rxs.len();
    let mut outcomes: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
    let mut slots: Vec<Option<Packet>> = (0..n).map(|_| None).collect();
    let mut heads: BinaryHeap<Reverse<(Timestamp, usize)>> = BinaryHeap::new();
    let mut sent = vec![0u64; n];
    // The next item of source `i`: its packet into the heap, or its outcome.
    let pull = |i: usize,
                slots: &mut Vec<Option<Packet>>,
                heads: &mut BinaryHeap<Reverse<(Timestamp, usize)>>,
                outcomes: &mut Vec<Option<Outcome>>| {
        let item = rxs[i].1.recv().unwrap_or_else(|_| {
            Item::End(Outcome::Failed(format!(
                "{}: ended without a result",
                rxs[i].0
            )))
        });
        match item {
            Item::Packet(p) => {
                heads.push(Reverse((p.ts, i)));
                slots[i] = Some(p);
            }
            Item::End(o) => outcomes[i] = Some(o),
        }
    };
    for i in 0..n {
        pull(i, &mut slots, &mut heads, &mut outcomes);
    }
    let failed = |outcomes: &[Option<Outcome>]| -> Vec<String> {
        outcomes
            .iter()
            .filter_map(|o| match o {
                Some(Outcome::Failed(m)) => Some(m.clone()),
                _ => None,
            })
            .collect()
    };
    let early_warnings = failed(&outcomes);
    if heads.is_empty() {
        let labels: Vec<String> = rxs.iter().map(|(l, _)| l.clone()).collect();
        return Err(nothing(query, &labels, &early_warnings, &outcomes));
    }
    early(&early_warnings);
    let mut sum = Summary::default();
    let mut capped: Option<String> = None;
    sink.begin()?;
    while let Some(Reverse((_, i))) = heads.pop() {
        let Some(p) = slots[i].take() else { continue };
        if sum.packets >= limits.max_packets {
            capped = Some(format!(
                "result truncated at max_packets = {} (--max-packets): more packets matched; \
                 the output holds the first {} packets",
                limits.max_packets, sum.packets
            ));
            break;
        }
        if sum.bytes.saturating_add(p.data.len() as u64) > limits.max_bytes {
            if sum.packets == 0 {
                return Err(Error::invalid(
                    "max_bytes",
                    limits.max_bytes.to_string(),
                    format!(
                        "the flow's first packet alone has {} bytes; raise the limit \
                         (--max-bytes)",
                        p.data.len()
                    ),
                )
                .into());
            }
            capped = Some(format!(
                "result truncated at max_bytes = {} (--max-bytes): more packets matched; the \
                 output holds the first {} packets ({} bytes)",
                limits.max_bytes, sum.packets, sum.bytes
            ));
            break;
        }
        saw(&mut sum, p.ts, p.iface.linktype, &p.data);
        sent[i] += 1;
        if !sink.packet(&p)? {
            break;
        }
        pull(i, &mut slots, &mut heads, &mut outcomes);
        if let Some(Outcome::Failed(m)) = &outcomes[i] {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "peer",
                format!(
                    "{m} (after {} packets of it were sent: the result is incomplete and was \
                     cut short)",
                    sent[i]
                ),
            ));
        }
    }
    sink.finish()?;
    // Outcomes of the sources still running at a limit are unknown: their counts are left out.
    for (i, o) in outcomes.into_iter().enumerate() {
        let label = &rxs[i].0;
        match o {
            Some(Outcome::Done(s)) => add_counts(&mut sum, &s, label, sources.get(i)),
            Some(Outcome::Empty(w)) => sum
                .warning_messages
                .extend(w.into_iter().map(|w| prefixed(sources.get(i), label, w))),
            Some(Outcome::Failed(m)) => sum.warning_messages.push(m),
            None => {}
        }
    }
    if let Some(w) = capped {
        sum.truncated = true;
        sum.warning_messages.push(w);
    }
    if sum.community_id.is_none() {
        sum.community_id = community_id(query);
    }
    seal(&mut sum, started);
    Ok(Merged { summary: sum })
}

/// A warning of a peer, prefixed with the peer (the local store's stay as they are).
fn prefixed(source: Option<&Source>, label: &str, w: String) -> String {
    match source {
        Some(Source::Peer(_)) => format!("{label}: {w}"),
        _ => w,
    }
}

/// Adds a source's file counts, warnings and flags to `sum` (packets are the merge's own).
fn add_counts(sum: &mut Summary, s: &Summary, label: &str, source: Option<&Source>) {
    // Saturating: a peer's numbers are input from the network.
    sum.files_scanned = sum.files_scanned.saturating_add(s.files_scanned);
    sum.files_indexed = sum.files_indexed.saturating_add(s.files_indexed);
    sum.bytes_read = sum.bytes_read.saturating_add(s.bytes_read);
    sum.truncated |= s.truncated;
    if sum.community_id.is_none() {
        sum.community_id = s.community_id.clone();
    }
    sum.warning_messages.extend(
        s.warning_messages
            .iter()
            .map(|w| prefixed(source, label, w.clone())),
    );
}

/// The answer when no source had a packet: 404, or 502 when a source failed.
fn nothing(
    query: &Query,
    labels: &[String],
    failed: &[String],
    outcomes: &[Option<Outcome>],
) -> ApiError {
    if !failed.is_empty() {
        let answered = labels.len() - failed.len();
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "peer",
            format!(
                "no packet of {} in {} from the {answered} source(s) that answered, and {} \
                 failed (the flow may be there): {}",
                query.flow,
                query.window,
                failed.len(),
                failed.join("; ")
            ),
        );
    }
    let warnings: Vec<&String> = outcomes
        .iter()
        .flat_map(|o| match o {
            Some(Outcome::Empty(w)) => w.iter().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "nopackets",
        format!(
            "no packet of {} in {} on any of {} sources ({}){}",
            query.flow,
            query.window,
            labels.len(),
            labels.join(", "),
            if warnings.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} warning(s), the first: {}",
                    warnings.len(),
                    warnings[0]
                )
            }
        ),
    )
}

/// The Community ID the summary names for a query given by one.
fn community_id(query: &Query) -> Option<String> {
    match &query.flow {
        capme_core::FlowSpec::CommunityId { id, .. } => Some(id.to_base64()),
        _ => None,
    }
}

/// Counts one packet into a summary, as the core's extraction does.
pub(crate) fn saw(sum: &mut Summary, ts: Timestamp, linktype: u32, data: &[u8]) {
    let ns = ts.as_nanos();
    sum.packets += 1;
    sum.bytes += data.len() as u64;
    sum.encapsulated.count(linktype, data);
    sum.first_ts_ns = Some(sum.first_ts_ns.map_or(ns, |f| f.min(ns)));
    sum.last_ts_ns = Some(sum.last_ts_ns.map_or(ns, |l| l.max(ns)));
}

/// Fills the derived fields of a summary: float times, the warning count, the elapsed time.
pub(crate) fn seal(sum: &mut Summary, started: std::time::Instant) {
    sum.first_ts = sum.first_ts_ns.map(|n| Timestamp(n).as_secs_f64());
    sum.last_ts = sum.last_ts_ns.map(|n| Timestamp(n).as_secs_f64());
    sum.warnings = sum.warning_messages.len() as u64;
    sum.elapsed_ms = started.elapsed().as_millis() as u64;
}

/// A summary a peer sent as JSON (the fields of `capme extract --json`).
pub(crate) fn summary_of_json(v: &serde_json::Value) -> Summary {
    let u = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    let i = |k: &str| v.get(k).and_then(|x| x.as_i64());
    let mut s = Summary {
        packets: u("packets"),
        bytes: u("bytes"),
        files_scanned: u("files_scanned"),
        files_indexed: u("files_indexed"),
        bytes_read: u("bytes_read"),
        first_ts_ns: i("first_ts_ns"),
        last_ts_ns: i("last_ts_ns"),
        community_id: v
            .get("community_id")
            .and_then(|x| x.as_str())
            .map(str::to_string),
        truncated: v.get("truncated").and_then(|x| x.as_bool()) == Some(true),
        encapsulated: encapsulated_of_json(v.get("encapsulated")),
        warning_messages: v
            .get("warning_messages")
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        ..Summary::default()
    };
    s.first_ts = s.first_ts_ns.map(|n| Timestamp(n).as_secs_f64());
    s.last_ts = s.last_ts_ns.map(|n| Timestamp(n).as_secs_f64());
    s.warnings = s.warning_messages.len() as u64;
    s
}

/// The `encapsulated` key of a peer's summary (absent or malformed: none).
fn encapsulated_of_json(v: Option<&serde_json::Value>) -> Encapsulated {
    let Some(v) = v else {
        return Encapsulated::default();
    };
    Encapsulated {
        packets: v.get("packets").and_then(|x| x.as_u64()).unwrap_or(0),
        by: v
            .get("by")
            .and_then(|b| b.as_object())
            .map(|b| {
                b.iter()
                    .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Sums the summaries of several sources (`/api/v1/summary` fanned out): counts added, the
/// earliest first and latest last packet, warnings of all (peers' prefixed with the peer),
/// failed sources named. Errors as [`merge_into`]'s.
pub(crate) fn combine(
    query: &Query,
    parts: Vec<(Source, Outcome)>,
    started: std::time::Instant,
) -> Result<Summary, ApiError> {
    let labels: Vec<String> = parts.iter().map(|(s, _)| s.label()).collect();
    let failed: Vec<String> = parts
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Failed(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    if !parts
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Done(s) if s.packets > 0))
    {
        let outcomes: Vec<Option<Outcome>> = parts.into_iter().map(|(_, o)| Some(o)).collect();
        return Err(nothing(query, &labels, &failed, &outcomes));
    }
    let mut sum = Summary::default();
    for (i, (source, o)) in parts.into_iter().enumerate() {
        match o {
            Outcome::Done(s) => {
                sum.packets = sum.packets.saturating_add(s.packets);
                sum.bytes = sum.bytes.saturating_add(s.bytes);
                let e = &mut sum.encapsulated;
                e.packets = e.packets.saturating_add(s.encapsulated.packets);
                for (kind, n) in &s.encapsulated.by {
                    let at = e.by.entry(kind.clone()).or_default();
                    *at = at.saturating_add(*n);
                }
                for ns in [s.first_ts_ns, s.last_ts_ns].into_iter().flatten() {
                    sum.first_ts_ns = Some(sum.first_ts_ns.map_or(ns, |f| f.min(ns)));
                    sum.last_ts_ns = Some(sum.last_ts_ns.map_or(ns, |l| l.max(ns)));
                }
                add_counts(&mut sum, &s, &labels[i], Some(&source));
            }
            Outcome::Empty(w) => sum.warning_messages.extend(
                w.into_iter()
                    .map(|w| prefixed(Some(&source), &labels[i], w)),
            ),
            Outcome::Failed(m) => sum.warning_messages.push(m),
        }
    }
    if sum.community_id.is_none() {
        sum.community_id = community_id(query);
    }
    seal(&mut sum, started);
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> Query {
        capme_core::QuerySpec {
            sip: Some("10.0.0.1"),
            spt: Some("1"),
            dip: Some("10.0.0.2"),
            dpt: Some("2"),
            stime: Some("1"),
            etime: Some("2"),
            ..Default::default()
        }
        .parse()
        .unwrap()
    }

    fn peer(name: &str) -> Source {
        Source::Peer(Arc::new(
            Peer::parse(&format!("{name}=http://{name}:1")).unwrap(),
        ))
    }

    #[test]
    fn summaries_are_summed_and_hostile_numbers_saturate() {
        let v = serde_json::json!({
            "packets": u64::MAX, "bytes": 10, "files_scanned": u64::MAX,
            "first_ts_ns": 5, "last_ts_ns": 9, "warning_messages": ["w"],
        });
        let a = summary_of_json(&v);
        let b = summary_of_json(&serde_json::json!({
            "packets": 2, "bytes": 3, "files_scanned": 1, "first_ts_ns": 1, "last_ts_ns": 7,
            "truncated": true,
        }));
        let s = combine(
            &query(),
            vec![
                (peer("a"), Outcome::Done(Box::new(a))),
                (peer("b"), Outcome::Done(Box::new(b))),
                (
                    peer("c"),
                    Outcome::Failed("peer c (http://c:1): down".into()),
                ),
                (peer("d"), Outcome::Empty(vec!["damaged".into()])),
            ],
            std::time::Instant::now(),
        )
        .unwrap();
        assert_eq!(
            (s.packets, s.bytes, s.files_scanned),
            (u64::MAX, 13, u64::MAX)
        );
        assert_eq!((s.first_ts_ns, s.last_ts_ns), (Some(1), Some(9)));
        assert!(s.truncated);
        assert_eq!(
            s.warning_messages,
            [
                "peer a (http://a:1): w",
                "peer c (http://c:1): down",
                "peer d (http://d:1): damaged"
            ]
        );
        assert_eq!(s.warnings, 3);
    }

    #[test]
    fn nothing_found_is_404_unless_a_source_failed() {
        let e = combine(
            &query(),
            vec![(peer("a"), Outcome::Empty(Vec::new()))],
            std::time::Instant::now(),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e = combine(
            &query(),
            vec![
                (peer("a"), Outcome::Empty(Vec::new())),
                (
                    peer("b"),
                    Outcome::Failed("peer b (http://b:1): down".into()),
                ),
            ],
            std::time::Instant::now(),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert!(e.error.contains("peer b (http://b:1): down"), "{}", e.error);
    }
}

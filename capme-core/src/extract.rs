//! The whole job: plan → search → sink, with the summary the CLI prints as JSON.

use crate::error::{Error, Result};
use crate::index::{self, IndexReport};
use crate::packet::Packet;
use crate::query::Layer;
use crate::query::{FlowSpec, Query};
use crate::search::{Matcher, Verdict};
use crate::search::{ScanOptions, Search};
use crate::sink::archive::{verify_cached, ArchiveDirs, CacheRecord};
use crate::sink::Decapsulator;
use crate::sink::{FileSink, Sink};
use crate::store::{last_record_ts, Plan, Store, PLAN_MARGIN_NS};
use crate::time::{TimeWindow, Timestamp};
use crate::transcript::{Transcript, TranscriptBuilder, TranscriptOptions};
use crate::wire::{is_tunnel_candidate, layers, network_layer, Encap};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How far `--whole-flow` looks past each edge of the window for more packets of the flow:
/// 60 seconds, longer than TCP keepalives are usually apart and than a rotation's disorder.
pub const WHOLE_FLOW_STEP: Duration = Duration::from_secs(60);

/// A window grown by [`Store::grow_window`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grown {
    /// The query over the grown window.
    pub query: Query,
    /// How many searches the growing took.
    pub searches: u32,
    /// True when the growing stopped at the store's window limit (`--max-window`): the flow
    /// may go on beyond the window.
    pub limited: bool,
}

impl Grown {
    /// The warning every front end reports when growing stopped at the window limit (the CLI
    /// on stderr and in `--json`'s `warning_messages`, Python in `warning_messages`); `None`
    /// when the whole flow was found.
    pub fn warning(&self) -> Option<String> {
        self.limited.then(|| {
            format!(
                "--whole-flow stopped at the window limit (--max-window): the flow may go on \
                 beyond {}",
                self.query.window
            )
        })
    }
}

/// What an extraction did. Field names are the CLI's `--json` keys (a stable interface).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Packets written.
    pub packets: u64,
    /// Captured bytes of those packets (sum of caplen).
    pub bytes: u64,
    /// Timestamp of the first packet, epoch seconds (float).
    pub first_ts: Option<f64>,
    /// Timestamp of the last packet, epoch seconds (float).
    pub last_ts: Option<f64>,
    /// The written (or cached) file.
    pub output: Option<PathBuf>,
    /// Community ID (v1, seed 0, base64) of the flow found.
    pub community_id: Option<String>,
    /// Capture files read by scanning (no fresh index).
    pub files_scanned: u64,
    /// Capture files answered through their flow index.
    pub files_indexed: u64,
    /// Bytes of capture files read.
    pub bytes_read: u64,
    /// Wall time of the extraction in milliseconds.
    pub elapsed_ms: u64,
    /// True when an existing archive was returned without scanning.
    pub cached: bool,
    /// Count of non-fatal problems (corrupt records, vanished files...).
    pub warnings: u64,
    /// The messages of those problems.
    pub warning_messages: Vec<String>,
    /// `first_ts` as integer nanoseconds (exact).
    pub first_ts_ns: Option<i64>,
    /// `last_ts` as integer nanoseconds (exact).
    pub last_ts_ns: Option<i64>,
    /// True when the result stopped at a limit ([`Store::with_max_packets`],
    /// [`Store::with_max_bytes`]): more packets matched than were written. The output is
    /// complete and valid up to the limit, and a warning says which limit it was. (Last, so
    /// that the keys before it keep their order.)
    pub truncated: bool,
    /// How many of the packets written were tunnel packets, and through which tunnels.
    pub encapsulated: Encapsulated,
}

/// The tunnel packets among an extraction's packets (the `encapsulated` key of `--json`):
/// `{"packets": N, "by": {"vxlan": n, "gre": m, ...}}`.
///
/// `packets` counts the packets written that have at least one inner IP layer
/// ([`crate::wire::layers`]), whichever layer matched; `by` counts, per kind of encapsulation
/// ([`Encap::name`]: `gre`, `erspan1`, `erspan2`, `erspan3`, `vxlan`, `geneve`, `ipip`, `6in4`,
/// `4in6`, `6in6`, `pppoe`), the packets that cross it at least once. A nested packet
/// counts once in `packets` and once under each kind it crosses, so the `by` counts may add up
/// to more than `packets`. Kinds no packet crossed are absent.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Encapsulated {
    /// Tunnel packets written.
    pub packets: u64,
    /// Per kind of encapsulation, the packets that cross it.
    pub by: std::collections::BTreeMap<String, u64>,
}

impl Encapsulated {
    /// Counts one packet (its link type and bytes) if it is a tunnel packet.
    pub fn count(&mut self, linktype: u32, data: &[u8]) {
        let Some(ip) = network_layer(linktype, data) else {
            return;
        };
        if !is_tunnel_candidate(ip) {
            return;
        }
        let encaps = layers(linktype, data).encaps();
        if encaps.is_empty() {
            return;
        }
        self.packets += 1;
        for e in encaps.iter() {
            *self.by.entry(e.name().to_string()).or_default() += 1;
        }
    }

    /// `12 packets (vxlan 10, gre 2)`, or `None` when no packet was a tunnel packet.
    pub fn describe(&self) -> Option<String> {
        if self.packets == 0 {
            return None;
        }
        let by: Vec<String> = Encap::ALL
            .iter()
            .filter_map(|e| self.by.get(e.name()).map(|n| format!("{} {n}", e.name())))
            .collect();
        let s = if self.packets == 1 { "" } else { "s" };
        Some(format!("{} packet{s} ({})", self.packets, by.join(", ")))
    }
}

impl Summary {
    /// The summary of an extraction that matched nothing ([`Error::NoPackets`]): no packet,
    /// no output, with the files read and the warnings (the CLI prints it for `--json` with
    /// exit code 1); for a pivot whose record was not found ([`Error::NotFound`]), the empty
    /// summary. `None` for any other error.
    pub fn of_no_packets(e: &Error) -> Option<Summary> {
        match e {
            Error::NotFound { .. } => Some(Summary::default()),
            Error::NoPackets {
                files_scanned,
                files_indexed,
                bytes_read,
                warnings,
                ..
            } => Some(Summary {
                files_scanned: *files_scanned,
                files_indexed: *files_indexed,
                bytes_read: *bytes_read,
                warnings: warnings.len() as u64,
                warning_messages: warnings.clone(),
                ..Summary::default()
            }),
            _ => None,
        }
    }

    fn saw(&mut self, ts: Timestamp, caplen: usize) {
        self.packets += 1;
        self.bytes += caplen as u64;
        if self.first_ts_ns.is_none() {
            self.first_ts_ns = Some(ts.as_nanos());
        }
        self.last_ts_ns = Some(
            self.last_ts_ns
                .map_or(ts.as_nanos(), |l| l.max(ts.as_nanos())),
        );
        self.first_ts_ns = self.first_ts_ns.map(|f| f.min(ts.as_nanos()));
    }

    fn seal(&mut self, started: Instant) {
        self.first_ts = self.first_ts_ns.map(|n| Timestamp(n).as_secs_f64());
        self.last_ts = self.last_ts_ns.map(|n| Timestamp(n).as_secs_f64());
        self.warnings = self.warning_messages.len() as u64;
        self.elapsed_ms = started.elapsed().as_millis() as u64;
    }
}

fn community_id_of(query: &Query, found: Option<crate::flow::FlowKey>) -> Option<String> {
    match &query.flow {
        FlowSpec::CommunityId { id, .. } => Some(id.to_base64()),
        FlowSpec::Tuple { .. } => found.map(|k| k.community_id(0).to_base64()),
    }
}

/// Hands a sink each packet as the frame of the IP layer at which the query's flow matched:
/// a transcript decodes a packet's outermost IP layer, so a tunnel packet that matched through
/// an inner layer is given as that layer's frame (other packets pass unchanged).
/// [`Store::transcript`] wraps its builder in it; a front end that feeds a
/// [`crate::transcript::TranscriptBuilder`] itself (the server's, over several stores) must too.
pub struct MatchedLayer<'a, S: Sink + ?Sized> {
    sink: &'a mut S,
    matcher: Matcher,
    frames: Decapsulator,
}

impl<'a, S: Sink + ?Sized> MatchedLayer<'a, S> {
    /// `sink` given the packets of `query`'s search at the layer its flow matched.
    pub fn new(sink: &'a mut S, query: &Query) -> Self {
        MatchedLayer {
            sink,
            matcher: Matcher::with_layer(query.flow.clone(), query.layer),
            frames: Decapsulator::new(),
        }
    }
}

impl<S: Sink + ?Sized> Sink for MatchedLayer<'_, S> {
    fn begin(&mut self) -> Result<()> {
        self.sink.begin()
    }

    fn packet(&mut self, p: &Packet) -> Result<bool> {
        let all = layers(p.iface.linktype, &p.data);
        if all.len() < 2 {
            return self.sink.packet(p);
        }
        // The first layer that matches, as the search's matcher decided (outermost first).
        let skip = usize::from(self.matcher.layer() == Layer::Inner);
        let at = all
            .iter()
            .enumerate()
            .skip(skip)
            .find(|(_, l)| self.matcher.check_decoded(&l.decoded) != Verdict::NoMatch)
            .map_or(0, |(i, _)| i);
        if at == 0 {
            return self.sink.packet(p);
        }
        // Its IP packet: the transcript needs no link layer (and knows none inside tunnels).
        let framed = self.frames.layer_ip(p.clone(), at);
        self.sink.packet(&framed)
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.finish()
    }
}

/// The options searches of `store` run with.
fn scan_options(store: &Store) -> ScanOptions {
    ScanOptions {
        cancel: store.cancel_flag().cloned(),
        threads: store.threads(),
        progress: store.progress_counter().cloned(),
        ..Default::default()
    }
}

impl Store {
    /// Builds or refreshes the flow index of every capture file ([`index::build_indexes`]).
    pub fn build_indexes(&self) -> Result<IndexReport> {
        index::build_indexes(self)
    }

    /// The matched packets of `query`, merged in timestamp order, as an iterator. A window
    /// longer than the store's window limit is refused ([`Store::check_window`]); the packet and
    /// byte limits are the caller's to apply (the iterator can simply be dropped).
    pub fn search(&self, query: &Query) -> Result<Search> {
        self.check_window(&query.window)?;
        let plan = self.plan(&query.window)?;
        Ok(Search::with_options(plan, query, &scan_options(self)))
    }

    /// Runs `query` into any sink. An empty result is [`Error::NoPackets`] and the sink is not
    /// finished (a [`FileSink`] then leaves no file). A window longer than the store's window
    /// limit is refused before any file is listed; the sink gets at most the store's packet and
    /// byte limits ([`Summary::truncated`] says when more matched).
    pub fn extract<S: Sink + ?Sized>(&self, query: &Query, sink: &mut S) -> Result<Summary> {
        let started = Instant::now();
        self.check_window(&query.window)?;
        let plan = self.plan(&query.window)?;
        self.run(plan, query, sink, started)
    }

    /// As [`Store::extract`], over a plan the caller made with [`Store::plan`] for the query's
    /// window (and inspected: `capme serve` reads the planned files' headers to choose the
    /// format of a streamed capture before its first byte, and the search must read exactly
    /// the files it looked at). The window limit is checked as [`Store::extract`] checks it.
    pub fn extract_planned<S: Sink + ?Sized>(
        &self,
        plan: Plan,
        query: &Query,
        sink: &mut S,
    ) -> Result<Summary> {
        let started = Instant::now();
        self.check_window(&query.window)?;
        self.run(plan, query, sink, started)
    }

    /// The query's window grown to the whole flow (`--whole-flow`): a connection log's
    /// timestamps are rounded (Zeek's to microseconds) or cut where a log rotated, so its window
    /// can miss the flow's first or last packets.
    ///
    /// Precisely: the result is the smallest window containing the query's window such that
    /// no packet of the flow lies within `step` outside it. It is found edge by edge: while a
    /// search of `(end, end + step]` finds packets of the flow, `end` moves to the latest of
    /// them; then, while a search of `[start - step, start)` finds some, `start` moves to the
    /// earliest. A flow with a pause longer than `step` is cut at the pause (the same 5-tuple
    /// reused later is another connection). The window never grows longer than the store's
    /// window limit ([`Store::with_max_window`]): growing stops there and says `limited`.
    /// The extraction that follows is one search over the grown window, so its output is one
    /// time-ordered file. `step` is clamped to 1 ns..=the window limit.
    ///
    /// ```no_run
    /// use capme_core::{extract::WHOLE_FLOW_STEP, pivot::QuerySpec, Store};
    /// let store = Store::open(["/nsm/sensor_data"])?;
    /// let query = QuerySpec {
    ///     zeek_uid: Some("CHhAvVGS1DHFjwGM9"),
    ///     zeek_logs: Some("/nsm/zeek/logs".as_ref()),
    ///     ..Default::default()
    /// }
    /// .parse()?;
    /// let whole = store.grow_window(&query, WHOLE_FLOW_STEP)?;
    /// let summary = store.extract_to_file(&whole.query, "out.pcap")?;
    /// # Ok::<(), capme_core::Error>(())
    /// ```
    pub fn grow_window(&self, query: &Query, step: Duration) -> Result<Grown> {
        self.check_window(&query.window)?;
        let max = i64::try_from(self.limits().max_window.as_nanos()).unwrap_or(i64::MAX);
        let step = i64::try_from(step.as_nanos())
            .unwrap_or(i64::MAX)
            .clamp(1, max.max(1));
        let mut w = query.window;
        let mut searches = 0u32;
        let mut limited = false;
        // Forward, then backward: each search that finds packets moves an edge past at least
        // one new packet, so the loops end (at the latest at the window limit).
        for forward in [true, false] {
            loop {
                let room = max.saturating_sub(w.len_nanos());
                if room <= 0 {
                    limited = true;
                    break;
                }
                let reach = step.min(room);
                let probe = if forward {
                    TimeWindow {
                        start: w.end.saturating_add_nanos(1),
                        end: w.end.saturating_add_nanos(reach),
                    }
                } else {
                    TimeWindow {
                        start: w.start.saturating_add_nanos(-reach),
                        end: w.start.saturating_add_nanos(-1),
                    }
                };
                if probe.start > probe.end {
                    break;
                }
                searches += 1;
                let found = self.edge_packet(&query.with_window(probe), forward)?;
                match found {
                    Some(t) if forward => w.end = t,
                    Some(t) => w.start = t,
                    None => {
                        // A search cut short by the limit did not look a whole step out.
                        limited |= reach < step;
                        break;
                    }
                }
            }
        }
        Ok(Grown {
            query: query.with_window(w),
            searches,
            limited,
        })
    }

    /// The latest (`last`) or earliest timestamp of the query's packets, if any.
    fn edge_packet(&self, query: &Query, last: bool) -> Result<Option<Timestamp>> {
        let mut edge: Option<Timestamp> = None;
        for p in self.search(query)? {
            let ts = p?.ts;
            edge = Some(match edge {
                None => ts,
                Some(e) if last => e.max(ts),
                Some(e) => e.min(ts),
            });
        }
        Ok(edge)
    }

    /// Streams the search of a plan into a sink and sums it up, stopping the search at the
    /// store's packet or byte limit: a packet that would pass a limit is not written, the
    /// summary says `truncated` and a warning names the limit.
    fn run<S: Sink + ?Sized>(
        &self,
        plan: Plan,
        query: &Query,
        sink: &mut S,
        started: Instant,
    ) -> Result<Summary> {
        let files_in_window = plan.files().count() as u64;
        let files_in_store = plan.files_in_store as u64;
        let mut search = Search::with_options(plan, query, &scan_options(self));
        let mut sum = Summary::default();
        let limits = self.limits();
        let mut capped: Option<String> = None;
        let mut decap = query.decapsulate.then(Decapsulator::new);
        let mut encapsulated = Encapsulated::default();
        sink.begin()?;
        for p in search.by_ref() {
            let p = p?;
            // The packet as stored (a cheap clone), for the summary's tunnel counts.
            let (linktype, stored) = (p.iface.linktype, p.data.clone());
            // The limits and the summary's bytes are those of what is written.
            let p = match &mut decap {
                Some(d) => d.packet(p),
                None => p,
            };
            // A packet more than a limit allows: the result is truncated; the search stops
            // here (dropping it stops its threads) and the sink gets nothing more.
            if sum.packets >= limits.max_packets {
                capped = Some(format!(
                    "result truncated at max_packets = {} (--max-packets): more packets \
                     matched; the output holds the first {} packets",
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
                    ));
                }
                capped = Some(format!(
                    "result truncated at max_bytes = {} (--max-bytes): more packets matched; \
                     the output holds the first {} packets ({} bytes)",
                    limits.max_bytes, sum.packets, sum.bytes
                ));
                break;
            }
            sum.saw(p.ts, p.data.len());
            encapsulated.count(linktype, &stored);
            if !sink.packet(&p)? {
                break;
            }
        }
        let stats = search.stats();
        sum.files_scanned = stats.files_scanned;
        sum.files_indexed = stats.files_indexed;
        sum.bytes_read = stats.bytes_read;
        sum.warning_messages = stats.warnings.clone();
        if let Some(w) = capped {
            sum.truncated = true;
            sum.warning_messages.push(w);
        }
        if sum.packets == 0 && files_in_window > 0 && stats.files_unreadable == files_in_window {
            // Not one file of the window could be read: that is an error, not an answer.
            if let Some(e) = stats.unreadable_error() {
                return Err(e);
            }
        }
        if sum.packets == 0 {
            // The plan lists only what the window can need: when nothing covers the window,
            // the message says how many files the whole store holds.
            let files_in_store = if files_in_window == 0 {
                self.count_files().unwrap_or(files_in_store)
            } else {
                files_in_store
            };
            return Err(Error::NoPackets {
                flow: query.flow.to_string(),
                window: query.window.to_string(),
                files_in_window,
                files_in_store,
                files_scanned: sum.files_scanned,
                files_indexed: sum.files_indexed,
                bytes_read: sum.bytes_read,
                warnings: sum.warning_messages,
            });
        }
        sink.finish()?;
        sum.encapsulated = encapsulated;
        sum.community_id = community_id_of(query, stats.matched_key);
        sum.seal(started);
        Ok(sum)
    }

    /// The transcript of `query`'s flow ([`crate::transcript`]): the search's packets fed to a
    /// [`TranscriptBuilder`], the search stopped once `opts.maxtx` payload bytes are in. As
    /// [`Store::extract`]: an empty result is [`Error::NoPackets`], the store's window, packet
    /// and byte limits apply, and the search's warnings are in [`Transcript::warnings`].
    pub fn transcript(&self, query: &Query, opts: &TranscriptOptions) -> Result<Transcript> {
        let mut builder = TranscriptBuilder::new(opts);
        let sum = self.extract(query, &mut MatchedLayer::new(&mut builder, query))?;
        let mut t = builder.build();
        t.warnings = sum.warning_messages;
        Ok(t)
    }

    /// As [`Store::transcript`], and writes its text to a new file at `out`, as
    /// [`Store::extract_to_file`] writes captures: checked before the search, written to a
    /// temporary file and renamed into place; nothing that exists at `out` is replaced unless
    /// `replace` (and then only a regular file); never a path inside a store root. No file is
    /// left when the search fails or finds nothing.
    pub fn transcript_to_file(
        &self,
        query: &Query,
        opts: &TranscriptOptions,
        out: impl AsRef<Path>,
        replace: bool,
    ) -> Result<Transcript> {
        let out = out.as_ref();
        self.refuse_inside_store("output", out)?;
        crate::sink::check_output(out, replace)?;
        let t = self.transcript(query, opts)?;
        crate::sink::write_file_atomically(out, t.text.as_bytes(), replace)?;
        Ok(t)
    }

    /// Extracts into a new capture file at `out` (pcap, or pcapng when inputs differ or the
    /// name ends in `.pcapng`), atomically. Nothing that exists at `out` is replaced (see
    /// [`Store::extract_to_file_replacing`]), and `out` may not be inside a store root.
    pub fn extract_to_file(&self, query: &Query, out: impl AsRef<Path>) -> Result<Summary> {
        self.extract_to_path(query, out.as_ref(), false)
    }

    /// As [`Store::extract_to_file`], but an existing *regular* file at `out` is replaced
    /// (the CLI's `--force`); a directory, device, FIFO, socket or symlink never is.
    pub fn extract_to_file_replacing(
        &self,
        query: &Query,
        out: impl AsRef<Path>,
    ) -> Result<Summary> {
        self.extract_to_path(query, out.as_ref(), true)
    }

    /// As [`Store::extract_to_file`] (or [`Store::extract_to_file_replacing`] when
    /// `replace`), the capture compressed in `format`, its name given the format's suffix
    /// when it lacks it (`flow.pcap` → `flow.pcap.zst`, see [`FileSink::compress`]); the
    /// summary's `output` is the name written.
    pub fn extract_to_compressed_file(
        &self,
        query: &Query,
        out: impl AsRef<Path>,
        format: crate::capture::Compression,
        replace: bool,
    ) -> Result<Summary> {
        self.extract_to_path_as(query, out.as_ref(), replace, Some(format))
    }

    fn extract_to_path(&self, query: &Query, out: &Path, replace: bool) -> Result<Summary> {
        self.extract_to_path_as(query, out, replace, None)
    }

    fn extract_to_path_as(
        &self,
        query: &Query,
        out: &Path,
        replace: bool,
        compress: Option<crate::capture::Compression>,
    ) -> Result<Summary> {
        self.refuse_inside_store("output", out)?;
        let mut sink = if replace {
            FileSink::create_replacing(out)?
        } else {
            FileSink::create(out)?
        };
        if let Some(c) = compress {
            sink = sink.compress(c)?;
            self.refuse_inside_store("output", sink.path())?;
        }
        let out = sink.path().to_path_buf();
        let mut sum = self.extract(query, &mut sink)?;
        sum.output = Some(out);
        Ok(sum)
    }

    /// Extracts into a CapMe-like archive under `dir` (see [`crate::sink::archive`]). An existing
    /// archive for the same key and window is returned without scanning when its cache record
    /// verifies (same query, same size and SHA-1), unless `force`, or unless the window reaches
    /// past the newest packet in the store (the capture may still be running, so the result may
    /// grow). An archive that does not verify is rebuilt, and the summary's warnings say why.
    ///
    /// Directories below `dir` are created one by one and never followed when they are
    /// symbolic links; a failed extraction removes the (empty) directories it created. A
    /// query with [`Query::decapsulate`] is refused: an archive keeps packets as captured.
    pub fn extract_to_archive(
        &self,
        query: &Query,
        dir: impl AsRef<Path>,
        force: bool,
    ) -> Result<Summary> {
        let started = Instant::now();
        let dir = dir.as_ref();
        if query.decapsulate {
            // An archive holds the flow's packets as captured (its cache is verified by
            // matching them again).
            return Err(Error::invalid(
                "decapsulate",
                "true",
                "an archive keeps the packets as captured; write decapsulated packets with -o",
            ));
        }
        self.refuse_inside_store("archive", dir)?;
        self.check_window(&query.window)?;
        let plan = self.plan(&query.window)?;
        let mut entry = ArchiveDirs::new(dir, query, &plan.sensors())?;
        let path = entry.path();
        let mut notes = Vec::new();
        if !force
            && entry.check_existing()?
            && is_regular_file(&path)?
            && self.window_is_complete(query, plan.newest_start)?
        {
            let limits = self.limits();
            match verify_cached(&path, query) {
                // An archive larger than this store's limits is not served: the extraction
                // runs again and is truncated at the limits, as it would be without it.
                Ok(rec) if rec.packets > limits.max_packets || rec.bytes > limits.max_bytes => {
                    notes.push(format!(
                        "archive {} holds more than the limits ({} packets, {} bytes): \
                         extracted again under them",
                        path.display(),
                        rec.packets,
                        rec.bytes
                    ))
                }
                Ok(rec) => return Ok(summary_of_record(rec, path, started)),
                Err(why) => notes.push(format!(
                    "archive {} not served from the cache and rebuilt: {why}",
                    path.display()
                )),
            }
        }
        entry.create()?;
        let mut built = self.build_archive(plan, query, &path, started);
        if matches!(&built, Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound)
            && !entry.dir().is_dir()
        {
            // Another extraction that failed removed the empty directories it had created
            // just as this one was about to write there: create them again, once.
            entry.create()?;
            let plan = self.plan(&query.window)?;
            built = self.build_archive(plan, query, &path, started);
        }
        let mut sum = match built {
            Ok(sum) => sum,
            Err(e) => {
                entry.remove_created();
                return Err(e);
            }
        };
        // The record comes after the archive is in place, and describes the file now at the
        // path (read once: checksum and counts from the same bytes). Without it the archive
        // is still complete, it is only not served from the cache.
        // A truncated result went to `<name>.truncated.pcap` (build_archive): it gets no
        // record, so it is never served as cached.
        if !sum.truncated {
            let recorded = CacheRecord::of_file(&path, query, |k| community_id_of(query, k))
                .and_then(|rec| rec.write(&path));
            if let Err(e) = recorded {
                notes.push(format!(
                    "archive {} written, but its cache record was not ({e}): it will be rebuilt next time",
                    path.display()
                ));
            }
        }
        sum.warning_messages.extend(notes);
        sum.warnings = sum.warning_messages.len() as u64;
        Ok(sum)
    }

    /// Runs the search into a durable sink at `path` (its directory exists).
    fn build_archive(
        &self,
        plan: Plan,
        query: &Query,
        path: &Path,
        started: Instant,
    ) -> Result<Summary> {
        // The archive is a cache served again later: it must survive a crash whole. A stale
        // or forced archive (a regular file) is replaced; nothing else ever is. The result is
        // written under a name of its own first and renamed when it is known whether it was
        // truncated at a limit: only a complete result goes to the archive name (the cache);
        // a truncated one goes to `<name>.truncated.pcap`, which is never served as cached.
        let staging = staging_path(path);
        let mut sink = FileSink::create_replacing(&staging)?.durable(true);
        let mut sum = self.run(plan, query, &mut sink, started)?;
        let out = if sum.truncated {
            truncated_archive_path(path)
        } else {
            path.to_path_buf()
        };
        if let Err(e) = std::fs::rename(&staging, &out) {
            let _ = std::fs::remove_file(&staging);
            return Err(Error::io(&out, e));
        }
        sum.output = Some(out);
        Ok(sum)
    }

    /// Refuses an output path (or archive directory) inside one of the store's roots: capme
    /// never writes into the captures it reads (an `-o` pointed at a capture file of the
    /// store would replace it), whatever `--force` says.
    fn refuse_inside_store(&self, field: &'static str, out: &Path) -> Result<()> {
        // The deepest existing ancestor, resolved (`..`, symlinks), plus the rest as given.
        let mut base = out.to_path_buf();
        let mut rest = Vec::new();
        let resolved = loop {
            match base.canonicalize() {
                Ok(p) => break p,
                Err(_) => match (base.parent(), base.file_name()) {
                    (Some(parent), Some(name)) => {
                        rest.push(name.to_os_string());
                        base = if parent.as_os_str().is_empty() {
                            PathBuf::from(".")
                        } else {
                            parent.to_path_buf()
                        };
                    }
                    _ => return Ok(()),
                },
            }
        };
        let full = rest.iter().rev().fold(resolved, |p, n| p.join(n));
        for root in self.roots() {
            let Ok(r) = root.canonicalize() else { continue };
            if full == r || full.starts_with(&r) {
                return Err(Error::invalid(
                    field,
                    out.display().to_string(),
                    format!(
                        "is inside store root {}; capme never writes into the captures it reads",
                        root.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// True when the store holds a packet later than the window's end, so the window's result
    /// cannot grow any more.
    fn window_is_complete(&self, query: &Query, newest_start: Option<Timestamp>) -> Result<bool> {
        let end = query.window.end;
        match newest_start {
            None => return Ok(false),
            Some(s) if end.saturating_add_nanos(PLAN_MARGIN_NS) < s => return Ok(true),
            _ => {}
        }
        let mut newest: Option<Timestamp> = None;
        for f in self.newest_files()? {
            if let Some(t) = last_record_ts(&f.path)? {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
        }
        Ok(newest.is_some_and(|n| end < n))
    }
}

/// Where an archive truncated at a limit is written: `<name>.truncated.pcap` beside the archive
/// name, which the cache never serves (a later extraction under larger limits scans again).
pub fn truncated_archive_path(archive: &Path) -> PathBuf {
    archive.with_extension("truncated.pcap")
}

/// A name of its own (hidden, unique to this process and call) beside the archive, renamed to
/// the archive name or to [`truncated_archive_path`] once the result is known.
fn staging_path(archive: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    archive.with_file_name(format!(
        ".{name}.{}-{}.staging",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ))
}

/// True when a regular file (not a link) stands at `path`.
fn is_regular_file(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(m.file_type().is_file()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The summary of a verified cached archive: everything from its record, no rescan.
fn summary_of_record(rec: CacheRecord, path: PathBuf, started: Instant) -> Summary {
    // The record predates the tunnel counts: they are counted from the (verified) archive.
    let mut encapsulated = Encapsulated::default();
    let mut warnings = Vec::new();
    let counted = crate::capture::CaptureReader::open(&path).and_then(|mut r| {
        while let Some((record, iface)) = r.next_with_interface()? {
            encapsulated.count(iface.linktype, record.data);
        }
        Ok(())
    });
    if let Err(e) = counted {
        warnings.push(format!(
            "the archive's tunnel packets could not be counted: {e}"
        ));
    }
    let mut sum = Summary {
        encapsulated,
        warning_messages: warnings,
        packets: rec.packets,
        bytes: rec.bytes,
        first_ts_ns: rec.first_ts_ns,
        last_ts_ns: rec.last_ts_ns,
        community_id: rec.community_id,
        cached: true,
        output: Some(path),
        ..Summary::default()
    };
    sum.seal(started);
    sum
}

//! Counters for `GET /metrics`, in the Prometheus text exposition format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram's buckets.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<Histogram>,
    /// Extractions actually run (a search of the store), by what asked.
    extractions: Mutex<BTreeMap<&'static str, u64>>,
    /// Queries parsed from a pivot (url, zeek_uid, the CapMe page).
    pub pivots: AtomicU64,
    /// Requests answered by waiting on another request's extraction.
    pub shared: AtomicU64,
    /// Bytes of capture files read by extractions.
    pub bytes_read: AtomicU64,
    /// Capture files answered through their flow index.
    pub files_indexed: AtomicU64,
    /// Capture files scanned.
    pub files_scanned: AtomicU64,
    /// Archives served from the verified cache.
    pub archive_hits: AtomicU64,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Counts a request to `endpoint` answered with `status` after `elapsed` (to the end of
    /// its body).
    pub fn request(&self, endpoint: &str, status: u16, elapsed: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((endpoint.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut h) = self.latency.lock() {
            let s = elapsed.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if s <= *b {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += s;
        }
    }

    /// Counts one extraction run for `what` (`pcap`, `summary`, `transcript`, `archive`).
    pub fn extraction(&self, what: &'static str) {
        if let Ok(mut m) = self.extractions.lock() {
            *m.entry(what).or_default() += 1;
        }
    }

    /// Extractions run so far, all kinds.
    pub fn extractions_total(&self) -> u64 {
        self.extractions
            .lock()
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// Adds an extraction's file statistics.
    pub fn files(&self, scanned: u64, indexed: u64, bytes_read: u64) {
        self.files_scanned.fetch_add(scanned, Ordering::Relaxed);
        self.files_indexed.fetch_add(indexed, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes_read, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        o += "# HELP capme_requests_total HTTP requests by endpoint and status.\n";
        o += "# TYPE capme_requests_total counter\n";
        if let Ok(m) = self.requests.lock() {
            for ((e, s), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "capme_requests_total{{endpoint=\"{}\",status=\"{s}\"}} {n}",
                    label(e)
                );
            }
        }
        o += "# HELP capme_extractions_total Searches of the store run, by what asked.\n";
        o += "# TYPE capme_extractions_total counter\n";
        if let Ok(m) = self.extractions.lock() {
            for (e, n) in m.iter() {
                let _ = writeln!(o, "capme_extractions_total{{kind=\"{e}\"}} {n}");
            }
        }
        let counters = [
            (
                "capme_pivots_total",
                "Queries taken from a URL, a Zeek uid or the CapMe page.",
                &self.pivots,
            ),
            (
                "capme_shared_total",
                "Requests answered by another request's extraction (single flight).",
                &self.shared,
            ),
            (
                "capme_bytes_read_total",
                "Bytes of capture files read.",
                &self.bytes_read,
            ),
            (
                "capme_files_indexed_total",
                "Capture files answered through their flow index.",
                &self.files_indexed,
            ),
            (
                "capme_files_scanned_total",
                "Capture files scanned without an index.",
                &self.files_scanned,
            ),
            (
                "capme_archive_hits_total",
                "Archives served from the verified cache.",
                &self.archive_hits,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        o += "# HELP capme_request_duration_seconds Time to answer a request, to the end of its body.\n";
        o += "# TYPE capme_request_duration_seconds histogram\n";
        if let Ok(h) = self.latency.lock() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "capme_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                o,
                "capme_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
                 capme_request_duration_seconds_sum {}\n\
                 capme_request_duration_seconds_count {}",
                h.count, h.sum, h.count
            );
        }
        o
    }
}

/// The listing cache's lines (`capme serve` keeps the store's listing with inotify).
pub fn listing_cache(c: &capme_core::store::cache::ListingCache) -> String {
    format!(
        "# HELP capme_listing_cache_hits_total Directories whose listing came from memory \
         (neither read nor stat'ed).\n# TYPE capme_listing_cache_hits_total counter\n\
         capme_listing_cache_hits_total {}\n\
         # HELP capme_listing_cache_dirs Directories whose listing is held.\n\
         # TYPE capme_listing_cache_dirs gauge\ncapme_listing_cache_dirs {}\n\
         # HELP capme_listing_cache_enabled 1 while the listing is kept current with inotify.\n\
         # TYPE capme_listing_cache_enabled gauge\ncapme_listing_cache_enabled {}\n",
        c.hits(),
        c.len(),
        u8::from(!c.is_disabled())
    )
}

/// The listing cache's gauge when there is none (`--no-watch`, or inotify not available at
/// start): `capme_listing_cache_enabled 0`, so that a dashboard sees it off rather than missing.
pub const NO_LISTING_CACHE: &str =
    "# HELP capme_listing_cache_enabled 1 while the listing is kept current with inotify.\n\
     # TYPE capme_listing_cache_enabled gauge\ncapme_listing_cache_enabled 0\n";

/// A label value escaped as the format asks (`\`, `"`, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

//! A CapMe-like archive of extracted flows: `DIR/YYYY-MM-DD/<sensor>/<name>.pcap`.
//!
//! The name is deterministic from the canonical flow key *and* the window (CapMe's name lacked
//! the window, so a reused port returned an old, wrong pcap). IPv6 addresses are written with
//! `-` for `:`, so names are safe file names everywhere. The date is the UTC date of the window's
//! start; `<sensor>` is the sensor (or `+`-joined sensors) whose files the window reads.

use crate::flow::{Endpoint, FlowKey};
use crate::hash::fnv1a_32;
use crate::query::{FlowSpec, Query};
use crate::time::TimeWindow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn addr_part(a: IpAddr) -> String {
    a.to_string().replace(':', "-")
}

fn endpoint_part(e: Endpoint) -> String {
    format!("{}_{}", addr_part(e.addr), e.port)
}

fn window_part(w: &TimeWindow) -> String {
    let whole = w.start.subsec_nanos() == 0 && w.end.subsec_nanos() == 999_999_999;
    if whole {
        format!("{}-{}", w.start.secs(), w.end.secs())
    } else {
        format!("{}-{}", w.start, w.end)
    }
}

fn key_part(k: &FlowKey) -> String {
    format!("{}_{}", endpoint_part(k.first()), endpoint_part(k.second()))
}

/// The archive file name (without directories) of a query, e.g.
/// `tcp_10.0.0.1_51234_93.184.216.34_80_1700000000-1700000100.pcap`.
pub fn archive_name(query: &Query) -> String {
    let flow = match &query.flow {
        FlowSpec::Tuple {
            proto: Some(p),
            keys,
            ..
        } => format!("{p}_{}", key_part(&keys[0])),
        FlowSpec::Tuple {
            proto: None, keys, ..
        } => format!("any_{}", key_part(&keys[0])),
        FlowSpec::CommunityId { id, seed } => {
            let b = id.to_base64();
            let b = b
                .trim_start_matches("1:")
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_");
            if *seed == 0 {
                format!("cid_{b}")
            } else {
                format!("cid{seed}_{b}")
            }
        }
    };
    format!("{flow}_{}.pcap", window_part(&query.window))
}

/// Longest sensor directory name written as the plain `+`-joined list.
const SENSOR_PART_MAX: usize = 100;

/// The sensor directory name for a set of sensors (`unknown` when empty): the names joined
/// with `+`; when that would be longer than 100 bytes (many sensors), the first two names,
/// the count of the others and a hash of the whole list, e.g. `s1+s2+22more-5f3a9c1e`, so the
/// name stays a valid file name and stays deterministic.
pub fn sensor_part(sensors: &[Arc<str>]) -> String {
    if sensors.is_empty() {
        return "unknown".into();
    }
    let s: Vec<String> = sensors
        .iter()
        .map(|s| s.replace(['/', '\\', '\0'], "_"))
        .collect();
    let joined = s.join("+");
    if joined.len() <= SENSOR_PART_MAX {
        return joined;
    }
    let h = fnv1a_32(joined.as_bytes());
    let head: Vec<String> = s
        .iter()
        .take(2)
        .map(|n| n.chars().take(32).collect())
        .collect();
    format!("{}+{}more-{h:08x}", head.join("+"), s.len() - head.len())
}

/// `dir/YYYY-MM-DD/<sensor>/<name>.pcap` for a query.
pub fn archive_path(dir: &Path, query: &Query, sensors: &[Arc<str>]) -> PathBuf {
    dir.join(query.window.start.date_string())
        .join(sensor_part(sensors))
        .join(archive_name(query))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_windowed() {
        let f = |s: &str, w: (&str, &str)| {
            let (a, b) = s.split_once(' ').unwrap();
            let (ai, ap) = a.rsplit_once('/').unwrap();
            let (bi, bp) = b.rsplit_once('/').unwrap();
            Query::new(
                FlowSpec::parse_tuple(ai, Some(ap), bi, Some(bp), Some("tcp")).unwrap(),
                TimeWindow::parse(w.0, w.1).unwrap(),
            )
        };
        let q1 = f("10.0.0.1/5000 10.0.0.2/80", ("100", "200"));
        let q2 = f("10.0.0.2/80 10.0.0.1/5000", ("100", "200"));
        let q3 = f("10.0.0.1/5000 10.0.0.2/80", ("300", "400"));
        assert_eq!(archive_name(&q1), archive_name(&q2));
        assert_eq!(
            archive_name(&q1),
            "tcp_10.0.0.1_5000_10.0.0.2_80_100-200.pcap"
        );
        assert_ne!(archive_name(&q1), archive_name(&q3));
        let q6 = f("2001:db8::1/5000 2001:db8::2/80", ("100.5", "200"));
        let n = archive_name(&q6);
        assert!(!n.contains(':') && !n.contains('/'), "{n}");
        assert!(n.contains("100.500000000-200.999999999"), "{n}");
        let many: Vec<Arc<str>> = (0..24)
            .map(|i| Arc::from(format!("sensor{i:02}-eth1")))
            .collect();
        let part = sensor_part(&many);
        assert!(
            part.len() < 100 && part.starts_with("sensor00-eth1+sensor01-eth1+22more-"),
            "{part}"
        );
        assert_eq!(part, sensor_part(&many), "deterministic");
        assert_ne!(part, sensor_part(&many[1..]));
        let p = archive_path(Path::new("/a"), &q1, &["s1".into(), "s2".into()]);
        assert_eq!(
            p,
            Path::new("/a/1970-01-01/s1+s2/tcp_10.0.0.1_5000_10.0.0.2_80_100-200.pcap")
        );
    }
}

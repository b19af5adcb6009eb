//! The limits of an extraction: how many packets and bytes it writes at most, and how long a
//! window it accepts. They are options of a [`super::Store`] (see [`super::Store::with_max_packets`],
//! [`super::Store::with_max_bytes`], [`super::Store::with_max_window`]).
//!
//! A web pivot or a Splunk row can ask for any window and any flow: without limits one request
//! for a week of a busy flow reads the whole store and fills the disk. Security Onion's CapMe
//! stopped at 999,999 packets; capme keeps that number and adds a byte limit and a window limit.

use crate::error::{Error, Result};
use std::time::Duration;

/// Default packet limit: 999,999, the number Security Onion's CapMe stopped at.
pub const DEFAULT_MAX_PACKETS: u64 = 999_999;

/// Default byte limit: 2 GiB of captured bytes. It is about the size of CapMe's 999,999
/// packets at full-size frames (999,999 × 1,514 bytes ≈ 1.4 GiB) with room for jumbo and
/// offloaded (GRO/TSO) frames, it stays under the 2 GiB that 32-bit pcap tools and many
/// browsers' downloads still choke on, and a pivot that large is a bulk export, not a pivot.
pub const DEFAULT_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Default window limit: 24 hours (a window of one day of one flow; longer ones are refused
/// unless the limit is raised).
pub const DEFAULT_MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The longest window limit there is (about 292 years: a window in nanoseconds fits an i64).
const MAX_WINDOW_SECS: u64 = (i64::MAX / 1_000_000_000) as u64;

/// The limits of one store's extractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Packets written at most.
    pub max_packets: u64,
    /// Captured bytes (sum of caplen) written at most.
    pub max_bytes: u64,
    /// The longest window accepted.
    pub max_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_packets: DEFAULT_MAX_PACKETS,
            max_bytes: DEFAULT_MAX_BYTES,
            max_window: DEFAULT_MAX_WINDOW,
        }
    }
}

/// Rejects a zero packet limit, naming the field (`max_packets`).
pub fn check_max_packets(n: u64) -> Result<u64> {
    if n == 0 {
        return Err(Error::invalid(
            "max_packets",
            "0",
            "expected a number of packets >= 1",
        ));
    }
    Ok(n)
}

/// Rejects a zero byte limit, naming the field (`max_bytes`).
pub fn check_max_bytes(n: u64) -> Result<u64> {
    if n == 0 {
        return Err(Error::invalid(
            "max_bytes",
            "0",
            "expected a number of bytes >= 1",
        ));
    }
    Ok(n)
}

/// Rejects a window limit of less than one second (or of more than ~292 years), naming the
/// field (`max_window`).
pub fn check_max_window(d: Duration) -> Result<Duration> {
    if d < Duration::from_secs(1) || d.as_secs() > MAX_WINDOW_SECS {
        return Err(Error::invalid(
            "max_window",
            format!("{}s", d.as_secs_f64()),
            format!("expected a duration from 1 second to {MAX_WINDOW_SECS} seconds"),
        ));
    }
    Ok(d)
}

/// Parses a positive count as typed (`--max-packets`, `--max-bytes`): decimal digits only, no
/// sign, no spaces, at least 1. `field` names the field in errors.
pub fn parse_count(field: &'static str, text: &str) -> Result<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            field,
            text,
            "expected a whole number >= 1 (decimal digits only)",
        ));
    }
    match text.parse::<u64>() {
        Ok(0) => Err(Error::invalid(field, text, "expected a whole number >= 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(Error::invalid(field, text, "number out of range")),
    }
}

/// Parses a window limit as typed (`--max-window`): whole seconds (`86400`) or a number with
/// one unit, `s`, `m`, `h` or `d` (`90m`, `24h`, `2d`). Strict: no spaces, no sign, no
/// fraction, at least one second. `field` names the field in errors.
pub fn parse_duration(field: &'static str, text: &str) -> Result<Duration> {
    let bad = |why: &str| Error::invalid(field, text, why.to_string());
    let (digits, unit) = match text.as_bytes().last() {
        Some(b's') => (&text[..text.len() - 1], 1),
        Some(b'm') => (&text[..text.len() - 1], 60),
        Some(b'h') => (&text[..text.len() - 1], 3600),
        Some(b'd') => (&text[..text.len() - 1], 86_400),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "expected a duration: seconds (86400) or a number with a unit s, m, h or d (90m, 24h, 2d)",
        ));
    }
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&s| s <= MAX_WINDOW_SECS)
        .ok_or_else(|| bad("duration out of range"))?;
    if secs == 0 {
        return Err(bad("expected a duration of at least 1 second"));
    }
    Ok(Duration::from_secs(secs))
}

/// A duration for messages: `24h`, `90m`, `2d`, `86401s` (the largest unit that divides it;
/// days from two days on).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 {
        return format!("{}s", d.as_secs_f64());
    }
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        // Whole days from two days on; one day reads better as 24h.
        if s > 0 && s % n == 0 && (unit != "d" || s >= 2 * 86_400) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_strictly() {
        let p = |t: &str| parse_duration("max_window", t).map(|d| d.as_secs());
        assert_eq!(p("86400").unwrap(), 86_400);
        assert_eq!(p("24h").unwrap(), 86_400);
        assert_eq!(p("90m").unwrap(), 5_400);
        assert_eq!(p("2d").unwrap(), 172_800);
        assert_eq!(p("45s").unwrap(), 45);
        for bad in [
            "",
            "0",
            "0h",
            "h",
            "-1",
            "+5",
            " 24h",
            "24h ",
            "24 h",
            "1.5h",
            "24H",
            "2w",
            "1d2h",
            "99999999999999999999",
            "9999999999999d",
        ] {
            let e = p(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid max_window {bad:?}")),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn counts_parse_strictly() {
        assert_eq!(parse_count("max_packets", "10").unwrap(), 10);
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1e3",
            "1k",
            "18446744073709551616",
        ] {
            let e = parse_count("max_packets", bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid max_packets {bad:?}")),
                "{e}"
            );
        }
    }

    #[test]
    fn zero_limits_are_refused_naming_the_field() {
        assert!(check_max_packets(0)
            .unwrap_err()
            .to_string()
            .starts_with("invalid max_packets \"0\""));
        assert!(check_max_bytes(0)
            .unwrap_err()
            .to_string()
            .starts_with("invalid max_bytes \"0\""));
        assert!(check_max_window(Duration::ZERO)
            .unwrap_err()
            .to_string()
            .starts_with("invalid max_window"));
    }

    #[test]
    fn durations_format_in_the_largest_unit() {
        assert_eq!(format_duration(Duration::from_secs(86_400)), "24h");
        assert_eq!(format_duration(Duration::from_secs(172_800)), "2d");
        assert_eq!(format_duration(Duration::from_secs(5_400)), "90m");
        assert_eq!(format_duration(Duration::from_secs(7_200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }
}

//! Timestamps and time windows.
//!
//! A [`Timestamp`] is an integer count of nanoseconds since the Unix epoch (UTC), so that every
//! capture precision (µs, ns, pcapng's `if_tsresol`) is kept exactly. A [`TimeWindow`] is an
//! inclusive range of timestamps. Parsing happens only at the edges (CLI, bindings): the search
//! itself compares integers.

use crate::error::{Error, Result};
use std::fmt;

const NS: i64 = 1_000_000_000;

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The earliest representable timestamp.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable timestamp.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// From whole seconds since the epoch (saturating).
    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(NS))
    }

    /// From seconds and nanoseconds (saturating).
    pub fn from_parts(secs: i64, nanos: u32) -> Self {
        Timestamp(secs.saturating_mul(NS).saturating_add(nanos as i64))
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (floor).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(NS)
    }

    /// Nanoseconds within the second (0..1e9).
    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(NS) as u32
    }

    /// Seconds as a float (loses precision below ~100 ns for current dates).
    pub fn as_secs_f64(self) -> f64 {
        self.secs() as f64 + self.subsec_nanos() as f64 / 1e9
    }

    /// Adds a signed number of nanoseconds, saturating.
    pub fn saturating_add_nanos(self, ns: i64) -> Self {
        Timestamp(self.0.saturating_add(ns))
    }

    /// The UTC calendar date `YYYY-MM-DD` of this timestamp.
    pub fn date_string(self) -> String {
        match chrono::DateTime::from_timestamp(self.secs(), self.subsec_nanos()) {
            Some(dt) => dt.format("%Y-%m-%d").to_string(),
            None => "0000-00-00".to_string(),
        }
    }

    /// RFC 3339 in UTC with nanoseconds, e.g. `2023-11-14T22:13:20.123456789Z`.
    pub fn to_rfc3339(self) -> String {
        match chrono::DateTime::from_timestamp(self.secs(), self.subsec_nanos()) {
            Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            None => format!("{}", self),
        }
    }
}

/// Displays as epoch seconds with nine decimals, e.g. `1700000000.123456789`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs(), self.subsec_nanos())
    }
}

/// A time as the user wrote it, before it is known to be a window's start or end.
///
/// `whole_second` is true when the text had no sub-second part: as an end time it then covers
/// the whole second (`etime=100` includes `100.999999999`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpec {
    /// The instant written.
    pub ts: Timestamp,
    /// The text named a whole second (no fraction).
    pub whole_second: bool,
}

impl TimeSpec {
    /// Parses epoch seconds (`1700000000`), epoch with a fraction (`1700000000.25`), or RFC 3339
    /// (`2023-11-14T22:13:20Z`, `2023-11-14T22:13:20.5+01:00`). `field` names the field in errors.
    /// Parsing is strict: no surrounding spaces, no sign, nothing before 1970.
    pub fn parse(field: &'static str, text: &str) -> Result<TimeSpec> {
        let t = text;
        if t.is_empty() {
            return Err(Error::invalid(
                field,
                text,
                "empty time; expected epoch seconds or RFC 3339",
            ));
        }
        if t.trim() != t {
            return Err(Error::invalid(
                field,
                text,
                "leading or trailing spaces; expected epoch seconds or RFC 3339",
            ));
        }
        let spec = Self::parse_any(field, text)?;
        if spec.ts.as_nanos() < 0 {
            return Err(Error::invalid(
                field,
                text,
                "before 1970-01-01T00:00:00Z; capture times are after the epoch",
            ));
        }
        Ok(spec)
    }

    fn parse_any(field: &'static str, text: &str) -> Result<TimeSpec> {
        let t = text;
        if t.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            && !t[1..].contains('-')
        {
            return parse_epoch(field, text, t);
        }
        match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(dt) => {
                let secs = dt.timestamp();
                let nanos = dt.timestamp_subsec_nanos();
                let whole = !t.contains('.') && !t.contains(',');
                Ok(TimeSpec { ts: Timestamp::from_parts(secs, nanos), whole_second: whole })
            }
            Err(e) => Err(Error::invalid(
                field,
                text,
                format!("not epoch seconds or RFC 3339 ({e}); e.g. 1700000000, 1700000000.5 or 2023-11-14T22:13:20Z"),
            )),
        }
    }
}

fn parse_epoch(field: &'static str, text: &str, t: &str) -> Result<TimeSpec> {
    let bad = |why: &str| Error::invalid(field, text, why.to_string());
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "expected epoch seconds, e.g. 1700000000 or 1700000000.5",
        ));
    }
    let secs: i64 = int.parse().map_err(|_| bad("epoch seconds out of range"))?;
    if secs > 9_000_000_000 {
        return Err(bad("epoch seconds out of range (after year 2255)"));
    }
    let mut nanos: i64 = 0;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("fraction must be 1 to 9 digits"));
        }
        nanos = f.parse::<i64>().map_err(|_| bad("bad fraction"))? * 10i64.pow(9 - f.len() as u32);
    }
    let mut ns = secs * NS + nanos;
    if neg {
        ns = -ns;
    }
    Ok(TimeSpec {
        ts: Timestamp(ns),
        whole_second: frac.is_none(),
    })
}

/// An inclusive range of timestamps: a packet matches when `start <= ts <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindow {
    /// First instant included.
    pub start: Timestamp,
    /// Last instant included.
    pub end: Timestamp,
}

impl TimeWindow {
    /// A window from two instants; `start > end` is an error naming `etime`.
    pub fn new(start: Timestamp, end: Timestamp) -> Result<TimeWindow> {
        if start > end {
            return Err(Error::invalid(
                "etime",
                end.to_string(),
                format!("etime is before stime {start}"),
            ));
        }
        Ok(TimeWindow { start, end })
    }

    /// Every instant there is.
    pub fn all() -> TimeWindow {
        TimeWindow {
            start: Timestamp::MIN,
            end: Timestamp::MAX,
        }
    }

    /// Parses `stime` and `etime` (see [`TimeSpec::parse`]). An `etime` without a fraction covers
    /// its whole second.
    pub fn parse(stime: &str, etime: &str) -> Result<TimeWindow> {
        let s = TimeSpec::parse("stime", stime)?;
        let e = TimeSpec::parse("etime", etime)?;
        Self::from_specs(s, e, etime)
    }

    /// Builds a window from parsed specs; `etime_text` is used in the error message.
    pub fn from_specs(s: TimeSpec, e: TimeSpec, etime_text: &str) -> Result<TimeWindow> {
        let end = if e.whole_second {
            e.ts.saturating_add_nanos(NS - 1)
        } else {
            e.ts
        };
        if s.ts > end {
            return Err(Error::invalid(
                "etime",
                etime_text,
                format!("etime is before stime ({} > {})", s.ts, end),
            ));
        }
        Ok(TimeWindow { start: s.ts, end })
    }

    /// True when `ts` lies in the window.
    #[inline]
    pub fn contains(&self, ts: Timestamp) -> bool {
        self.start <= ts && ts <= self.end
    }

    /// True when the inclusive span `[a, b]` overlaps the window.
    pub fn overlaps(&self, a: Timestamp, b: Timestamp) -> bool {
        a <= self.end && b >= self.start
    }

    /// The window widened by `pad` on both sides, `[start - pad, end + pad]` (saturating), as
    /// `--pad` does: a pivot's window comes from a log whose timestamps are rounded or taken
    /// when the connection was seen, not when its first and last packets were captured.
    ///
    /// ```
    /// use capme_core::TimeWindow;
    /// let w = TimeWindow::parse("100", "100")?.padded(std::time::Duration::from_secs(2));
    /// assert_eq!(w, TimeWindow::parse("98", "102")?);
    /// # Ok::<(), capme_core::Error>(())
    /// ```
    pub fn padded(&self, pad: std::time::Duration) -> TimeWindow {
        let ns = i64::try_from(pad.as_nanos()).unwrap_or(i64::MAX);
        TimeWindow {
            start: self.start.saturating_add_nanos(ns.saturating_neg()),
            end: self.end.saturating_add_nanos(ns),
        }
    }

    /// The length of the window, `end - start`, in nanoseconds (saturating).
    pub fn len_nanos(&self) -> i64 {
        self.end.as_nanos().saturating_sub(self.start.as_nanos())
    }
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} and {}",
            self.start.to_rfc3339(),
            self.end.to_rfc3339()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_etime_covers_whole_second() {
        let w = TimeWindow::parse("100", "100").unwrap();
        assert!(w.contains(Timestamp(100 * NS)));
        assert!(w.contains(Timestamp(100 * NS + 999_999_999)));
        assert!(!w.contains(Timestamp(101 * NS)));
        assert!(!w.contains(Timestamp(100 * NS - 1)));
    }

    #[test]
    fn fraction_is_exact() {
        let w = TimeWindow::parse("100.25", "100.5").unwrap();
        assert_eq!(w.start, Timestamp(100 * NS + 250_000_000));
        assert_eq!(w.end, Timestamp(100 * NS + 500_000_000));
        assert!(!w.contains(Timestamp(100 * NS + 500_000_001)));
    }

    #[test]
    fn rfc3339_forms() {
        let w = TimeWindow::parse("2023-11-14T22:13:20Z", "2023-11-14T23:13:20+01:00").unwrap();
        assert_eq!(w.start, Timestamp::from_secs(1_700_000_000));
        assert_eq!(
            w.end,
            Timestamp::from_secs(1_700_000_000).saturating_add_nanos(NS - 1)
        );
        let s = TimeSpec::parse("stime", "2023-11-14T22:13:20.000001Z").unwrap();
        assert_eq!(
            s.ts,
            Timestamp::from_secs(1_700_000_000).saturating_add_nanos(1000)
        );
        assert!(!s.whole_second);
    }

    #[test]
    fn errors_name_field_and_value() {
        let e = TimeWindow::parse("yesterday", "100")
            .unwrap_err()
            .to_string();
        assert!(e.contains("stime") && e.contains("yesterday"), "{e}");
        let e = TimeWindow::parse("200", "100").unwrap_err().to_string();
        assert!(e.contains("etime") && e.contains("100"), "{e}");
        for bad in [
            "",
            "1.",
            "1.1234567890",
            "12a",
            "1e9",
            "99999999999",
            // Strict: no spaces, no sign, nothing before 1970.
            " 1700000000",
            "1700000000 ",
            "+1700000000",
            "-1",
            "-0.5",
            "1969-12-31T23:59:59Z",
        ] {
            let e = TimeSpec::parse("stime", bad).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidQuery { field: "stime", value, .. } if value == bad),
                "{bad:?}: {e}"
            );
        }
        assert!(TimeSpec::parse("stime", "0").is_ok());
    }

    #[test]
    fn padded_widens_both_sides_and_saturates() {
        let w = TimeWindow::parse("100.5", "101.25").unwrap();
        let p = w.padded(std::time::Duration::from_millis(500));
        assert_eq!(p.start, Timestamp(100 * NS));
        assert_eq!(p.end, Timestamp(101 * NS + 750_000_000));
        assert_eq!(w.padded(std::time::Duration::ZERO), w);
        let all = TimeWindow::all().padded(std::time::Duration::from_secs(1));
        assert_eq!(all, TimeWindow::all());
        assert_eq!(p.len_nanos(), 1_750_000_000);
    }

    #[test]
    fn display_and_date() {
        let t = Timestamp::from_parts(1_700_000_000, 5);
        assert_eq!(t.to_string(), "1700000000.000000005");
        assert_eq!(t.date_string(), "2023-11-14");
        assert_eq!(Timestamp(-1).secs(), -1);
        assert_eq!(Timestamp(-1).subsec_nanos(), 999_999_999);
    }
}

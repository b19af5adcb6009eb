//! Pivots: a query from somewhere else than typed fields: a CapMe or Security Onion Console URL
//! ([`url`]) or the uid of a connection in Zeek's `conn.log` ([`zeek`]).
//!
//! A pivot never parses an address, a port or a time itself: it finds the text of the query's
//! fields (`sip`, `spt`, `dip`, `dpt`, `proto`, `community_id`, `stime`, `etime`) and hands them
//! to [`QueryText::parse`], the one parser, so a URL or a log record is validated exactly as
//! the same fields typed on the command line are.
//!
//! [`QuerySpec`] is every way a query can be given (a 5-tuple, a Community ID, a URL or a Zeek
//! uid, with a window and a pad) and [`QuerySpec::parse`] turns it into a [`Query`]: the CLI
//! calls it, and the bindings will.

pub mod url;
pub mod zeek;

use crate::error::{Error, Result};
use crate::query::{parse_seconds, Query, QueryText};
use std::path::Path;
use std::time::Duration;

/// The pad of a window that a pivot derived from a log (a Zeek record, the one instant of a
/// SOC `time`): 2 seconds on each side. A window given explicitly (typed, or a CapMe URL's
/// `stime`/`etime`) is not padded unless `--pad` says so.
pub const DEFAULT_PIVOT_PAD: Duration = Duration::from_secs(2);

/// The text of a query's fields as a pivot found them (owned, decoded), before the one parser
/// ([`QueryText::parse`]) sees them. `None` is a field the source did not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PivotFields {
    /// Source address.
    pub sip: Option<String>,
    /// Source port (ICMP: type).
    pub spt: Option<String>,
    /// Destination address.
    pub dip: Option<String>,
    /// Destination port (ICMP: code).
    pub dpt: Option<String>,
    /// Protocol name or number.
    pub proto: Option<String>,
    /// Community ID.
    pub community_id: Option<String>,
    /// Window start.
    pub stime: Option<String>,
    /// Window end.
    pub etime: Option<String>,
    /// True when the window was derived (from a log record's timestamp and duration, or from
    /// one instant) rather than given: it is padded by [`DEFAULT_PIVOT_PAD`] unless a pad is
    /// given.
    pub derived_window: bool,
    /// Where the fields came from, for messages (`CapMe URL`, `zeek uid C... in <file>`).
    pub origin: String,
}

impl PivotFields {
    /// The query of these fields. `stime` and `etime`, when given, replace the source's window
    /// (a SOC URL with only a Community ID carries none); a window still missing is an error
    /// naming the field and saying what to pass.
    pub fn query(&self, stime: Option<&str>, etime: Option<&str>) -> Result<Query> {
        let stime = stime.or(self.stime.as_deref());
        let etime = etime.or(self.etime.as_deref());
        let missing = |field: &'static str, option: &str| {
            Error::invalid(
                field,
                "",
                format!(
                    "the {} gives no {field}; pass --{option} (epoch seconds or RFC 3339)",
                    self.origin
                ),
            )
        };
        let stime = stime.ok_or_else(|| missing("stime", "stime"))?;
        let etime = etime.ok_or_else(|| missing("etime", "etime"))?;
        QueryText {
            sip: self.sip.as_deref(),
            spt: self.spt.as_deref(),
            dip: self.dip.as_deref(),
            dpt: self.dpt.as_deref(),
            proto: self.proto.as_deref(),
            community_id: self.community_id.as_deref(),
            stime,
            etime,
        }
        .parse()
    }
}

/// Every way of giving a query, as text (the CLI's options, a binding's arguments): exactly one
/// flow form, a 5-tuple (`sip`...`proto`), `community_id`, `url` or `zeek_uid` (with
/// `zeek_logs`); a window (`stime`, `etime`: required for a 5-tuple or a Community ID, optional
/// for a URL, whose own window they replace, refused for a Zeek uid, whose record gives it); and
/// a `pad` in seconds ([`parse_seconds`]; default 0, or [`DEFAULT_PIVOT_PAD`] for a window a
/// pivot derived).
///
/// ```
/// use capme_core::pivot::QuerySpec;
/// let q = QuerySpec {
///     url: Some("https://so/capme/index.php?sip=10.0.0.1&spt=51234&dip=10.0.0.2&dpt=80&stime=1700000000&etime=1700000100"),
///     pad: Some("5"),
///     ..Default::default()
/// }.parse()?;
/// assert_eq!(q.window.start.secs(), 1_699_999_995);
/// # Ok::<(), capme_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuerySpec<'a> {
    /// Source address.
    pub sip: Option<&'a str>,
    /// Source port (ICMP: type).
    pub spt: Option<&'a str>,
    /// Destination address.
    pub dip: Option<&'a str>,
    /// Destination port (ICMP: code).
    pub dpt: Option<&'a str>,
    /// Protocol.
    pub proto: Option<&'a str>,
    /// A Community ID.
    pub community_id: Option<&'a str>,
    /// A CapMe (`index.php?sip=...`) or SOC (`joblookup?ncid=...`) URL ([`url::parse`]).
    pub url: Option<&'a str>,
    /// The uid of a Zeek connection ([`zeek::find_conn`]).
    pub zeek_uid: Option<&'a str>,
    /// Where Zeek's logs are (a directory searched recursively, or one log file).
    pub zeek_logs: Option<&'a Path>,
    /// Window start.
    pub stime: Option<&'a str>,
    /// Window end.
    pub etime: Option<&'a str>,
    /// Seconds added to each side of the window.
    pub pad: Option<&'a str>,
}

impl QuerySpec<'_> {
    /// The query: the one flow form given, its window, padded.
    pub fn parse(&self) -> Result<Query> {
        let tuple = [
            ("sip", self.sip),
            ("spt", self.spt),
            ("dip", self.dip),
            ("dpt", self.dpt),
            ("proto", self.proto),
        ]
        .into_iter()
        .find(|(_, v)| v.is_some())
        .map(|(f, _)| f);
        let forms: Vec<(&'static str, &str)> = [
            tuple.map(|f| (f, "")),
            self.community_id.map(|v| ("community_id", v)),
            self.url.map(|v| ("url", v)),
            self.zeek_uid.map(|v| ("zeek_uid", v)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if forms.len() > 1 {
            let (field, value) = forms[forms.len() - 1];
            return Err(Error::invalid(
                field,
                value,
                format!(
                    "give one flow: a 5-tuple (sip/spt/dip/dpt/proto), community_id, url or \
                     zeek_uid, not both ({} given)",
                    forms[0].0
                ),
            ));
        }
        let pad = self.pad.map(|p| parse_seconds("pad", p)).transpose()?;
        let (query, derived) = match forms.first().map(|f| f.0) {
            Some("url") => {
                let fields = url::parse(self.url.unwrap_or_default())?;
                (fields.query(self.stime, self.etime)?, fields.derived_window)
            }
            Some("zeek_uid") => {
                if let Some((field, value)) = [("stime", self.stime), ("etime", self.etime)]
                    .into_iter()
                    .find_map(|(f, v)| v.map(|v| (f, v)))
                {
                    return Err(Error::invalid(
                        field,
                        value,
                        "a Zeek uid's record gives the window; widen it with pad (--pad) \
                         or whole-flow (--whole-flow) instead",
                    ));
                }
                let logs = self.zeek_logs.ok_or_else(|| {
                    Error::invalid(
                        "zeek_logs",
                        "",
                        "required with zeek_uid: the directory of Zeek's logs (e.g. \
                         /nsm/zeek/logs) or one conn log",
                    )
                })?;
                let uid = self.zeek_uid.unwrap_or_default();
                let fields = zeek::find_conn(uid, logs)?.fields();
                (fields.query(None, None)?, true)
            }
            _ => {
                let stime = self.stime.ok_or_else(|| {
                    Error::invalid(
                        "stime",
                        "",
                        "required with a 5-tuple or a Community ID (only url and zeek_uid \
                         carry their own window)",
                    )
                })?;
                let etime = self
                    .etime
                    .ok_or_else(|| Error::invalid("etime", "", "required with stime"))?;
                let q = QueryText {
                    sip: self.sip,
                    spt: self.spt,
                    dip: self.dip,
                    dpt: self.dpt,
                    proto: self.proto,
                    community_id: self.community_id,
                    stime,
                    etime,
                }
                .parse()?;
                (q, false)
            }
        };
        let pad = pad.unwrap_or(if derived {
            DEFAULT_PIVOT_PAD
        } else {
            Duration::ZERO
        });
        Ok(query.padded(pad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::FlowSpec;

    const URL: &str = "https://so/capme/index.php?sip=10.0.0.1&spt=51234&dip=10.0.0.2&dpt=80\
                       &stime=1700000000&etime=1700000100";

    #[test]
    fn one_flow_form_only_naming_the_second() {
        let e = QuerySpec {
            sip: Some("10.0.0.1"),
            url: Some(URL),
            ..Default::default()
        }
        .parse()
        .unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "url", .. }), "{e}");
        assert!(e.to_string().contains("sip given"), "{e}");
        let e = QuerySpec {
            community_id: Some("1:x"),
            zeek_uid: Some("C1"),
            ..Default::default()
        }
        .parse()
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidQuery {
                    field: "zeek_uid",
                    ..
                }
            ),
            "{e}"
        );
        let e = QuerySpec::default().parse().unwrap_err();
        assert!(
            matches!(e, Error::InvalidQuery { field: "stime", .. }),
            "{e}"
        );
    }

    #[test]
    fn pad_defaults_to_zero_for_a_given_window() {
        let q = QuerySpec {
            url: Some(URL),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!(q.window.start.secs(), 1_700_000_000);
        let q = QuerySpec {
            sip: Some("10.0.0.1"),
            spt: Some("1"),
            dip: Some("10.0.0.2"),
            dpt: Some("2"),
            stime: Some("100"),
            etime: Some("100"),
            pad: Some("1.5"),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!(q.window.start.as_nanos(), 98_500_000_000);
        assert!(matches!(q.flow, FlowSpec::Tuple { .. }));
    }

    #[test]
    fn zeek_uid_refuses_a_window_and_needs_logs() {
        let e = QuerySpec {
            zeek_uid: Some("C1"),
            stime: Some("1"),
            ..Default::default()
        }
        .parse()
        .unwrap_err();
        assert!(
            matches!(e, Error::InvalidQuery { field: "stime", .. }),
            "{e}"
        );
        let e = QuerySpec {
            zeek_uid: Some("C1"),
            ..Default::default()
        }
        .parse()
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidQuery {
                    field: "zeek_logs",
                    ..
                }
            ),
            "{e}"
        );
    }
}

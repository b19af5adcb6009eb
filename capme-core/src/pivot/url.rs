//! CapMe and Security Onion Console URLs.
//!
//! The forms understood (parameters are decoded as a PHP or Go server decodes a query string:
//! `+` is a space, `%XX` a byte; names are case-sensitive; unknown parameters are ignored):
//!
//! - **CapMe** (Security Onion 14.04/16.04), `https://HOST/capme/index.php?sip=IP&spt=PORT&
//!   dip=IP&dpt=PORT&stime=EPOCH&etime=EPOCH` (as Squert, ELSA and Kibana linked to it;
//!   `usr`, `pwd`, `filename`, `maxtx`, `xscript` are CapMe's own and ignored). CapMe checked
//!   the addresses with PHP's `FILTER_VALIDATE_IP`, the ports as integers 0-65535 and the times
//!   as integer epochs; here every field goes through the one parser ([`QueryText::parse`](crate::query::QueryText::parse)),
//!   which also takes IPv6 and fractional or RFC 3339 times. A `proto` parameter, which CapMe
//!   did not have, is honoured when present (without it: TCP, UDP and SCTP).
//! - **CapMe's Elasticsearch form**, `elastic.php?esid=ID` (or `index.php?esid=ID`): only the id
//!   of an Elasticsearch document, whose fields CapMe looked up. capme has no Elasticsearch to
//!   ask, so a URL whose only flow is an `esid` is refused, naming `esid` and saying what to
//!   pass instead. (An `esid` beside a full tuple is ignored: the tuple is the flow.)
//! - **Security Onion 2's SOC**, `https://HOST/joblookup?ncid=COMMUNITY_ID&time=RFC3339`: a
//!   Community ID (Zeek's and Suricata's `network.community_id`); `time` is the event's time, an
//!   instant, so the window is `[time, time]` padded by [`super::DEFAULT_PIVOT_PAD`] (use
//!   `--whole-flow` to get the whole connection). `stime`/`etime`, when present, give the window
//!   instead. `joblookup?esid=ID` and the older `joblookup?id=ID` need Elasticsearch, as
//!   CapMe's `esid`, and are refused the same way.
//!
//! A parameter given twice with different values is refused (which one a server takes differs:
//! PHP the last, Go the first).

use super::PivotFields;
use crate::error::{Error, Result};

/// What to pass instead of an id capme cannot resolve.
const INSTEAD: &str = "pass the flow instead: --sip/--spt/--dip/--dpt with --stime/--etime, \
                       --community-id, --zeek-uid, or a URL with sip, spt, dip, dpt, stime and \
                       etime (CapMe index.php) or ncid (SOC joblookup)";

/// The query fields of a CapMe or SOC URL (see the module documentation for the forms).
///
/// ```
/// use capme_core::pivot::url;
/// let f = url::parse("https://so/joblookup?ncid=1%3AwCb3OG7yAFWelaUydu0D%2B125CLM%3D&time=2023-11-14T22%3A13%3A20Z")?;
/// assert_eq!(f.community_id.as_deref(), Some("1:wCb3OG7yAFWelaUydu0D+125CLM="));
/// assert!(f.derived_window);
/// let e = url::parse("https://so/capme/elastic.php?esid=AWxyz").unwrap_err();
/// assert!(e.to_string().contains("esid"));
/// # Ok::<(), capme_core::Error>(())
/// ```
pub fn parse(url: &str) -> Result<PivotFields> {
    if url.is_empty() {
        return Err(Error::invalid("url", url, "empty URL"));
    }
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "url",
            url,
            format!("contains {c:?}; a URL has no spaces or control characters (quote it whole)"),
        ));
    }
    // The fragment is the browser's, never sent to the server.
    let no_fragment = url.split_once('#').map_or(url, |(u, _)| u);
    let Some((path, query)) = no_fragment.split_once('?') else {
        return Err(Error::invalid(
            "url",
            url,
            "has no query string; expected e.g. https://HOST/capme/index.php?sip=..&spt=..\
             &dip=..&dpt=..&stime=..&etime=.. or https://HOST/joblookup?ncid=..&time=..",
        ));
    };
    let mut params: Vec<(String, String)> = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let k = decode(k, url)?;
        let v = decode(v, url)?;
        if let Some((_, old)) = params.iter().find(|(ok, _)| *ok == k) {
            if *old != v {
                return Err(Error::invalid(
                    known_name(&k).unwrap_or("url"),
                    v,
                    format!("the URL gives {k} twice, with different values ({old:?} first)"),
                ));
            }
            continue;
        }
        params.push((k, v));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let page = path.rsplit('/').next().unwrap_or_default();
    let joblookup = page == "joblookup";
    let mut f = PivotFields {
        sip: get("sip"),
        spt: get("spt"),
        dip: get("dip"),
        dpt: get("dpt"),
        proto: get("proto"),
        community_id: get("ncid"),
        stime: get("stime"),
        etime: get("etime"),
        derived_window: false,
        origin: if joblookup {
            "SOC joblookup URL".into()
        } else {
            "CapMe URL".into()
        },
    };
    let tuple = [&f.sip, &f.spt, &f.dip, &f.dpt, &f.proto]
        .iter()
        .any(|v| v.is_some());
    if let (true, Some(ncid)) = (tuple, &f.community_id) {
        return Err(Error::invalid(
            "ncid",
            ncid.clone(),
            "the URL gives both a Community ID (ncid) and sip/spt/dip/dpt; it must name one flow",
        ));
    }
    if !tuple && f.community_id.is_none() {
        for id in ["esid", "id"] {
            if let Some(v) = get(id) {
                return Err(Error::invalid(
                    if id == "esid" { "esid" } else { "id" },
                    v,
                    format!(
                        "the URL names its flow only by an Elasticsearch document id, which \
                         capme cannot look up (it reads captures, not Elasticsearch); {INSTEAD}"
                    ),
                ));
            }
        }
        return Err(Error::invalid(
            "url",
            url,
            format!("carries no flow (no sip/spt/dip/dpt, no ncid); {INSTEAD}"),
        ));
    }
    if f.stime.is_none() && f.etime.is_none() {
        if let Some(t) = get("time") {
            f.stime = Some(t.clone());
            f.etime = Some(t);
            f.derived_window = true;
        }
    }
    Ok(f)
}

/// The `'static` name of a parameter capme reads, for errors naming it.
fn known_name(k: &str) -> Option<&'static str> {
    [
        "sip", "spt", "dip", "dpt", "proto", "ncid", "stime", "etime", "time", "esid", "id",
    ]
    .into_iter()
    .find(|n| *n == k)
}

/// Decodes one name or value of a query string: `+` is a space, `%XX` a byte; the result must
/// be UTF-8. A `%` not followed by two hex digits is an error naming the URL.
fn decode(text: &str, url: &str) -> Result<String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        return Err(Error::invalid(
                            "url",
                            url,
                            format!(
                                "bad percent-encoding in {text:?}: % must be followed by two \
                                 hex digits"
                            ),
                        ))
                    }
                }
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        Error::invalid(
            "url",
            url,
            format!("{text:?} decodes to bytes that are not UTF-8"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::FlowSpec;

    fn q(url: &str) -> Result<crate::query::Query> {
        parse(url)?.query(None, None)
    }

    #[test]
    fn capme_index_php() {
        let f = parse(
            "https://so.example/capme/index.php?sip=10.0.0.1&spt=51234&dip=93.184.216.34\
             &dpt=80&stime=1700000000&etime=1700000100&usr=analyst&pwd=secret&maxtx=500000",
        )
        .unwrap();
        assert_eq!(f.sip.as_deref(), Some("10.0.0.1"));
        assert!(!f.derived_window);
        let q = f.query(None, None).unwrap();
        assert!(q
            .to_string()
            .starts_with("tcp/udp/sctp 10.0.0.1:51234 <-> 93.184.216.34:80"));
        // --stime/--etime replace the URL's.
        let q2 = f.query(Some("1700000050"), None).unwrap();
        assert_eq!(q2.window.start.secs(), 1_700_000_050);
        assert_eq!(q2.window.end, q.window.end);
    }

    #[test]
    fn ipv6_and_percent_encoding() {
        for url in [
            "https://h/capme/index.php?sip=2001%3Adb8%3A%3A1&spt=1&dip=2001:db8::2&dpt=2&stime=1&etime=2",
            "https://h/capme/?sip=%5B2001:db8::1%5D&spt=1&dip=2001:DB8::2&dpt=2&stime=1&etime=2#frag",
            "https://h/capme/index.php?%73ip=2001:db8::1&spt=%31&dip=2001:db8::2&dpt=2&stime=1&etime=2&unknown=%E2%9C%93",
        ] {
            let q = q(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            match q.flow {
                FlowSpec::Tuple { src, .. } => assert_eq!(src.to_string(), "[2001:db8::1]:1"),
                _ => unreachable!(),
            }
        }
        // `+` is a space: the one parser refuses it, naming the field.
        let e =
            q("https://h/capme/index.php?sip=10.0.0.1+&spt=1&dip=10.0.0.2&dpt=2&stime=1&etime=2")
                .unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "sip", .. }), "{e}");
        for bad in ["%", "%4", "%zz", "%FF"] {
            let e = parse(&format!("https://h/?sip={bad}")).unwrap_err();
            assert!(
                matches!(e, Error::InvalidQuery { field: "url", .. }),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn errors_name_the_parameter() {
        let base = "https://h/capme/index.php?sip=10.0.0.1&dip=10.0.0.2&dpt=2&stime=1&etime=2";
        let e = q(&format!("{base}&spt=65536")).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidQuery { field: "spt", value, .. } if value == "65536"),
            "{e}"
        );
        let e = q(base).unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "spt", .. }), "{e}");
        let e = q("https://h/capme/index.php?sip=10.0.0.1&spt=1&dip=10.0.0.2&dpt=2&stime=1")
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidQuery { field: "etime", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("--etime"), "{e}");
        let e =
            q("https://h/capme/index.php?sip=10.0.0.1&spt=1&dip=10.0.0.999&dpt=2&stime=1&etime=2")
                .unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "dip", .. }), "{e}");
        let e = parse("https://h/capme/index.php?spt=1&spt=2").unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "spt", .. }), "{e}");
        let e = parse("https://h/capme/index.php").unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "url", .. }), "{e}");
        let e = parse("https://h/capme/index.php?foo=1").unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "url", .. }), "{e}");
        let e = parse("https://h/capme/index.php ?sip=1").unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "url", .. }), "{e}");
    }

    #[test]
    fn elasticsearch_ids_are_refused_clearly() {
        for (url, field) in [
            ("https://h/capme/elastic.php?esid=AWx1", "esid"),
            ("https://h/capme/index.php?esid=AWx1&maxtx=1000", "esid"),
            (
                "https://h/joblookup?esid=abc&time=2023-01-01T00:00:00.000Z",
                "esid",
            ),
            ("https://h/joblookup?id=abc", "id"),
        ] {
            let e = parse(url).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidQuery { field: f, .. } if *f == field),
                "{url}: {e}"
            );
            let m = e.to_string();
            assert!(
                m.contains("Elasticsearch") && m.contains("--community-id"),
                "{m}"
            );
        }
        // An esid beside a full tuple: the tuple is the flow.
        assert!(q("https://h/capme/index.php?esid=x&sip=10.0.0.1&spt=1&dip=10.0.0.2&dpt=2&stime=1&etime=2").is_ok());
    }

    #[test]
    fn soc_joblookup_ncid() {
        let f = parse(
            "https://h/joblookup?redirectUrl=/pcap&ncid=1%3AwCb3OG7yAFWelaUydu0D%2B125CLM%3D\
             &time=2023-01-01T00%3A00%3A00.000Z",
        )
        .unwrap();
        assert!(f.derived_window);
        let cq = f.query(None, None).unwrap();
        assert!(matches!(cq.flow, FlowSpec::CommunityId { .. }));
        assert_eq!(cq.window.start, cq.window.end);
        // No time: the window must come from --stime/--etime.
        let f = parse("https://h/joblookup?ncid=1%3AwCb3OG7yAFWelaUydu0D%2B125CLM%3D").unwrap();
        let e = f.query(None, None).unwrap_err();
        assert!(
            matches!(e, Error::InvalidQuery { field: "stime", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("--stime"), "{e}");
        assert!(f.query(Some("1"), Some("2")).is_ok());
        // A raw `+` in a Community ID decodes to a space: refused by the parser.
        let e = q("https://h/joblookup?ncid=1:wCb3OG7yAFWelaUydu0D+125CLM=&time=1").unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { .. }), "{e}");
        let e = parse("https://h/joblookup?ncid=1%3Ax&sip=10.0.0.1").unwrap_err();
        assert!(
            matches!(e, Error::InvalidQuery { field: "ncid", .. }),
            "{e}"
        );
    }
}

//! Queries: which flow, which time window, and the one parser of their text form.
//!
//! The CLI, the Python binding, the C ABI and the Tcl extension all receive a query as text
//! fields (`sip`, `spt`, `dip`, `dpt`, `proto`, `community_id`, `stime`, `etime`) and all hand
//! them to [`QueryText::parse`], so their validation and their messages cannot drift apart.

use crate::error::{Error, Result};
use crate::flow::{CommunityId, Endpoint, FlowKey, Proto};
use crate::time::TimeWindow;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// How a query names its flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowSpec {
    /// A 5-tuple; `keys` holds one canonical key per protocol the query accepts (one when the
    /// protocol was given; TCP, UDP and SCTP when it was not).
    Tuple {
        /// The endpoints as given (source, destination).
        src: Endpoint,
        /// Destination endpoint as given.
        dst: Endpoint,
        /// The protocol, if given.
        proto: Option<Proto>,
        /// Canonical keys accepted.
        keys: Vec<FlowKey>,
    },
    /// A Community ID (v1, seed 0 unless `seed` says otherwise).
    CommunityId {
        /// The ID.
        id: CommunityId,
        /// Its seed.
        seed: u16,
    },
}

impl FlowSpec {
    /// A 5-tuple flow. For ICMP/ICMPv6 the ports are type and code; for protocols without ports
    /// they are ignored. Without `proto`, TCP, UDP and SCTP with those ports are accepted.
    pub fn tuple(src: Endpoint, dst: Endpoint, proto: Option<Proto>) -> Result<FlowSpec> {
        if src.addr.is_ipv4() != dst.addr.is_ipv4() {
            return Err(Error::invalid(
                "dip",
                dst.addr.to_string(),
                format!("address family differs from sip {}", src.addr),
            ));
        }
        let keys = match proto {
            Some(p) => vec![FlowKey::new(p, src, dst)],
            None => [Proto::TCP, Proto::UDP, Proto::SCTP]
                .into_iter()
                .map(|p| FlowKey::new(p, src, dst))
                .collect(),
        };
        Ok(FlowSpec::Tuple {
            src,
            dst,
            proto,
            keys,
        })
    }

    /// Parses the text fields of a 5-tuple as the CLI receives them. Ports may be omitted only
    /// for protocols without ports (not TCP/UDP/SCTP, and required for ICMP as type/code).
    pub fn parse_tuple(
        sip: &str,
        spt: Option<&str>,
        dip: &str,
        dpt: Option<&str>,
        proto: Option<&str>,
    ) -> Result<FlowSpec> {
        // Strict: no spaces, no sign; brackets only as a pair around an IPv6 address.
        let addr = |field: &'static str, t: &str| -> Result<IpAddr> {
            let inner = match t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(v6) if v6.contains(':') => v6,
                _ => t,
            };
            inner
                .parse()
                .map_err(|_| Error::invalid(field, t, "not an IPv4 or IPv6 address"))
        };
        let proto = proto.map(|p| Proto::parse("proto", p)).transpose()?;
        let needs_ports = proto.is_none_or(|p| p.has_ports());
        let port = |field: &'static str, t: Option<&str>| -> Result<u16> {
            match t {
                Some(t) => t
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| t.parse::<u16>().ok())
                    .flatten()
                    .ok_or_else(|| {
                        Error::invalid(field, t, "expected a port (or ICMP type/code) 0-65535")
                    }),
                None if needs_ports => Err(Error::invalid(
                    field,
                    "",
                    format!(
                        "required for {}",
                        proto.map_or("tcp/udp/sctp".to_string(), |p| p.to_string())
                    ),
                )),
                None => Ok(0),
            }
        };
        let src = Endpoint::new(addr("sip", sip)?, port("spt", spt)?);
        let dst = Endpoint::new(addr("dip", dip)?, port("dpt", dpt)?);
        if let Some(p) = proto {
            if p.is_icmp() {
                for (f, v) in [("spt", src.port), ("dpt", dst.port)] {
                    if v > 255 {
                        return Err(Error::invalid(
                            f,
                            v.to_string(),
                            "ICMP type and code are 0-255",
                        ));
                    }
                }
            }
            let v6 = src.addr.is_ipv6();
            if (p == Proto::ICMP && v6) || (p == Proto::ICMP6 && !v6) {
                return Err(Error::invalid(
                    "proto",
                    p.to_string(),
                    format!("does not fit the address family of {}", src.addr),
                ));
            }
        }
        FlowSpec::tuple(src, dst, proto)
    }

    /// Parses a Community ID (`1:` + base64, or hex) with seed 0.
    pub fn parse_community_id(text: &str) -> Result<FlowSpec> {
        Ok(FlowSpec::CommunityId {
            id: text.parse()?,
            seed: 0,
        })
    }
}

impl fmt::Display for FlowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowSpec::Tuple {
                src, dst, proto, ..
            } => {
                let p = proto.map_or("tcp/udp/sctp".to_string(), |p| p.to_string());
                write!(f, "{p} {src} <-> {dst}")
            }
            FlowSpec::CommunityId { id, .. } => write!(f, "community id {id}"),
        }
    }
}

/// Which IP layers of a packet a query's flow is compared with (the CLI's `--layer`). A
/// tunnel packet (GRE, ERSPAN, VXLAN, GENEVE, IP in IP; see [`crate::wire::layers`]) has an
/// outer IP layer and one inner layer per tunnel; any other packet has only its outer layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layer {
    /// The outermost layer or any inner layer (the default).
    #[default]
    Any,
    /// The outermost IP layer only: tunnels are not entered (capme's behaviour before
    /// tunnels were decoded).
    Outer,
    /// Inner layers only: a packet matches only through a tunnel.
    Inner,
}

impl Layer {
    /// `any`, `outer` or `inner`.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Any => "any",
            Layer::Outer => "outer",
            Layer::Inner => "inner",
        }
    }

    /// Parses `any`, `outer` or `inner` (any case); `field` names the field in the error.
    pub fn parse(field: &'static str, text: &str) -> Result<Layer> {
        match text.to_ascii_lowercase().as_str() {
            "any" => Ok(Layer::Any),
            "outer" => Ok(Layer::Outer),
            "inner" => Ok(Layer::Inner),
            _ => Err(Error::invalid(field, text, "expected any, outer or inner")),
        }
    }
}

/// A flow and a time window.
///
/// ```
/// use capme_core::{FlowSpec, Query};
/// use capme_core::TimeWindow;
/// let flow = FlowSpec::parse_tuple("10.0.0.1", Some("51234"), "93.184.216.34", Some("80"), Some("tcp"))?;
/// let q = Query::new(flow, TimeWindow::parse("1700000000", "1700000100")?);
/// assert!(q.to_string().contains("93.184.216.34"));
/// # Ok::<(), capme_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The flow.
    pub flow: FlowSpec,
    /// The window.
    pub window: TimeWindow,
    /// The IP layers the flow is matched at ([`Layer::Any`] unless set).
    pub layer: Layer,
    /// Write each tunnel packet as its innermost frame (the CLI's `--decapsulate`; see
    /// [`crate::sink::decap`]). Extractions only: [`crate::Store::search`] yields the
    /// packets as stored.
    pub decapsulate: bool,
}

impl Query {
    /// A query for `flow` within `window`, at any layer.
    pub fn new(flow: FlowSpec, window: TimeWindow) -> Query {
        Query {
            flow,
            window,
            layer: Layer::Any,
            decapsulate: false,
        }
    }

    /// The same query, its tunnel packets written as their innermost frames or not.
    pub fn with_decapsulate(mut self, yes: bool) -> Query {
        self.decapsulate = yes;
        self
    }

    /// The same query matched at `layer`.
    pub fn with_layer(mut self, layer: Layer) -> Query {
        self.layer = layer;
        self
    }

    /// The same flow, layer and output over another window.
    pub fn with_window(&self, window: TimeWindow) -> Query {
        Query {
            flow: self.flow.clone(),
            window,
            layer: self.layer,
            decapsulate: self.decapsulate,
        }
    }

    /// The same flow over the window widened by `pad` on both sides ([`TimeWindow::padded`]):
    /// what `--pad SECONDS` does to every query form.
    pub fn padded(&self, pad: Duration) -> Query {
        self.with_window(self.window.padded(pad))
    }
}

/// The largest `--pad`: one day (a pad only widens a window by a little; the window limit,
/// `--max-window`, still applies to the result).
pub const MAX_PAD: Duration = Duration::from_secs(86_400);

/// Parses a number of seconds as typed for `--pad`: decimal digits with an optional fraction
/// of 1 to 9 digits (`2`, `0.5`), no sign, no unit, no spaces, at most [`MAX_PAD`]. `field`
/// names the field in errors.
///
/// ```
/// use capme_core::query::parse_seconds;
/// assert_eq!(parse_seconds("pad", "1.25")?, std::time::Duration::from_millis(1250));
/// assert!(parse_seconds("pad", "-1").unwrap_err().to_string().contains("pad"));
/// # Ok::<(), capme_core::Error>(())
/// ```
pub fn parse_seconds(field: &'static str, text: &str) -> Result<Duration> {
    let bad = |why: &str| Error::invalid(field, text, why.to_string());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f) || f.len() > 9) {
        return Err(bad(
            "expected seconds: digits with an optional fraction of up to 9 digits (2, 0.5)",
        ));
    }
    let secs: u64 = int.parse().map_err(|_| bad("seconds out of range"))?;
    let nanos = frac.map_or(0, |f| {
        f.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - f.len() as u32)
    });
    let d = Duration::new(secs.min(u64::MAX / 2), nanos);
    if d > MAX_PAD {
        return Err(bad("longer than one day (86400 seconds)"));
    }
    Ok(d)
}

/// The text fields of a query, exactly as a user typed them (CLI options, Python keyword
/// arguments, C strings, Tcl options). `None` is an absent field.
///
/// ```
/// use capme_core::QueryText;
/// let q = QueryText {
///     sip: Some("10.0.0.1"), spt: Some("51234"), dip: Some("93.184.216.34"), dpt: Some("80"),
///     proto: Some("tcp"), stime: "1700000000", etime: "1700000100", ..Default::default()
/// }.parse()?;
/// assert!(q.to_string().starts_with("tcp 10.0.0.1:51234 <-> 93.184.216.34:80"));
/// let err = QueryText { community_id: Some("1:abc"), sip: Some("10.0.0.1"),
///     stime: "0", etime: "1", ..Default::default() }.parse().unwrap_err();
/// assert!(err.to_string().contains("community_id"));
/// # Ok::<(), capme_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryText<'a> {
    /// Source address (IPv4 or IPv6, optionally in brackets).
    pub sip: Option<&'a str>,
    /// Source port (ICMP: type); absent only for protocols without ports.
    pub spt: Option<&'a str>,
    /// Destination address.
    pub dip: Option<&'a str>,
    /// Destination port (ICMP: code).
    pub dpt: Option<&'a str>,
    /// Protocol name or number; absent means TCP, UDP and SCTP.
    pub proto: Option<&'a str>,
    /// A Community ID naming the flow instead of the tuple fields.
    pub community_id: Option<&'a str>,
    /// Window start (epoch seconds, with a fraction, or RFC 3339).
    pub stime: &'a str,
    /// Window end, inclusive (an integer covers its whole second).
    pub etime: &'a str,
}

impl QueryText<'_> {
    /// The flow these fields name: a Community ID, or a 5-tuple. A Community ID together with
    /// any tuple field is rejected (naming `community_id`), as is a query with neither.
    pub fn flow(&self) -> Result<FlowSpec> {
        let tuple_fields = [
            ("sip", self.sip),
            ("spt", self.spt),
            ("dip", self.dip),
            ("dpt", self.dpt),
            ("proto", self.proto),
        ];
        match self.community_id {
            Some(id) => {
                if let Some((field, _)) = tuple_fields.iter().find(|(_, v)| v.is_some()) {
                    return Err(Error::invalid(
                        "community_id",
                        id,
                        format!(
                            "give either a Community ID or a 5-tuple, not both ({field} given)"
                        ),
                    ));
                }
                FlowSpec::parse_community_id(id)
            }
            None => {
                let sip = self
                    .sip
                    .ok_or_else(|| Error::invalid("sip", "", "required (or community_id)"))?;
                let dip = self
                    .dip
                    .ok_or_else(|| Error::invalid("dip", "", "required (or community_id)"))?;
                FlowSpec::parse_tuple(sip, self.spt, dip, self.dpt, self.proto)
            }
        }
    }

    /// The whole query: [`QueryText::flow`] and the window.
    pub fn parse(&self) -> Result<Query> {
        let flow = self.flow()?;
        Ok(Query::new(flow, TimeWindow::parse(self.stime, self.etime)?))
    }
}

/// The Community ID of a flow given as text, as `capme community-id` prints it: `proto` is
/// required; for ICMP/ICMPv6 the ports are type and code; protocols without ports take none.
pub fn tuple_community_id(
    sip: &str,
    spt: Option<&str>,
    dip: &str,
    dpt: Option<&str>,
    proto: &str,
    seed: u16,
) -> Result<CommunityId> {
    match FlowSpec::parse_tuple(sip, spt, dip, dpt, Some(proto))? {
        FlowSpec::Tuple {
            src,
            dst,
            proto: Some(p),
            ..
        } => Ok(FlowKey::new(p, src, dst).community_id(seed)),
        _ => unreachable!("parse_tuple with a protocol gives a tuple with that protocol"),
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} between {}", self.flow, self.window)?;
        match self.layer {
            Layer::Any => Ok(()),
            l => write!(f, " (layer {})", l.name()),
        }?;
        if self.decapsulate {
            f.write_str(" (decapsulated)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_without_proto_accepts_three() {
        let f = FlowSpec::parse_tuple("10.0.0.1", Some("1"), "10.0.0.2", Some("2"), None).unwrap();
        match f {
            FlowSpec::Tuple { keys, .. } => assert_eq!(keys.len(), 3),
            _ => unreachable!(),
        }
    }

    #[test]
    fn errors_name_fields() {
        let e = FlowSpec::parse_tuple("10.0.0.300", Some("1"), "10.0.0.2", Some("2"), None)
            .unwrap_err();
        assert!(e.to_string().contains("sip") && e.to_string().contains("10.0.0.300"));
        let e = FlowSpec::parse_tuple("10.0.0.1", Some("70000"), "10.0.0.2", Some("2"), None)
            .unwrap_err();
        assert!(e.to_string().contains("spt") && e.to_string().contains("70000"));
        let e = FlowSpec::parse_tuple("10.0.0.1", None, "10.0.0.2", Some("2"), Some("tcp"))
            .unwrap_err();
        assert!(e.to_string().contains("spt"));
        let e = FlowSpec::parse_tuple("10.0.0.1", Some("1"), "::1", Some("2"), None).unwrap_err();
        assert!(e.to_string().contains("dip"));
        let e =
            FlowSpec::parse_tuple("::1", Some("8"), "::2", Some("0"), Some("icmp")).unwrap_err();
        assert!(e.to_string().contains("proto"));
        // Strict parsing: every lenient form is rejected, naming the field and the value.
        for (sip, spt, field) in [
            ("10.0.0.1 ", "1", "sip"),
            (" 10.0.0.1", "1", "sip"),
            ("[10.0.0.1]", "1", "sip"),
            ("-1", "1", "sip"),
            ("10.0.0.1", "+22", "spt"),
            ("10.0.0.1", "22 ", "spt"),
            ("10.0.0.1", "-1", "spt"),
        ] {
            let e = FlowSpec::parse_tuple(sip, Some(spt), "10.0.0.2", Some("2"), None).unwrap_err();
            let value = if field == "sip" { sip } else { spt };
            assert!(
                matches!(&e, Error::InvalidQuery { field: f, value: v, .. } if *f == field && v == value),
                "{sip:?} {spt:?}: {e}"
            );
        }
        let e =
            FlowSpec::parse_tuple("::1", Some("1"), "::2", Some("2"), Some(" tcp")).unwrap_err();
        assert!(e.to_string().contains("proto"), "{e}");
        assert!(FlowSpec::parse_tuple("[::1]", Some("1"), "::2", Some("2"), Some("TCP")).is_ok());
        // Port-less protocols need no ports.
        assert!(FlowSpec::parse_tuple("10.0.0.1", None, "10.0.0.2", None, Some("47")).is_ok());
    }

    #[test]
    fn query_text_names_missing_and_conflicting_fields() {
        let base = QueryText {
            stime: "1700000000",
            etime: "1700000001",
            ..Default::default()
        };
        let e = base.parse().unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "sip", .. }), "{e}");
        let e = QueryText {
            sip: Some("10.0.0.1"),
            ..base
        }
        .parse()
        .unwrap_err();
        assert!(matches!(e, Error::InvalidQuery { field: "dip", .. }), "{e}");
        let e = QueryText {
            community_id: Some("1:wCb3OG7yAFWelaUydu0D+125CLM="),
            dpt: Some("80"),
            ..base
        }
        .parse()
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidQuery {
                    field: "community_id",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("dpt"), "{e}");
        let q = QueryText {
            community_id: Some("1:wCb3OG7yAFWelaUydu0D+125CLM="),
            ..base
        }
        .parse()
        .unwrap();
        assert!(matches!(q.flow, FlowSpec::CommunityId { seed: 0, .. }));
        let e = QueryText {
            sip: Some("10.0.0.1"),
            spt: Some("1"),
            dip: Some("10.0.0.2"),
            dpt: Some("2"),
            stime: "yesterday",
            ..base
        }
        .parse()
        .unwrap_err();
        assert!(e.to_string().contains("stime"), "{e}");
    }

    #[test]
    fn seconds_are_strict() {
        assert_eq!(parse_seconds("pad", "0").unwrap(), Duration::ZERO);
        assert_eq!(parse_seconds("pad", "2").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_seconds("pad", "0.000000001").unwrap(),
            Duration::from_nanos(1)
        );
        assert_eq!(parse_seconds("pad", "86400").unwrap(), MAX_PAD);
        for bad in [
            "",
            " 1",
            "1 ",
            "-1",
            "+1",
            "1.",
            ".5",
            "1e3",
            "2s",
            "1.0000000001",
            "86400.1",
            "99999999999999999999999",
        ] {
            let e = parse_seconds("pad", bad).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidQuery { field: "pad", value, .. } if value == bad),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn tuple_community_id_is_the_keys_id() {
        // The Community ID spec's example: TCP 128.232.110.120:34855 -> 66.35.250.204:80.
        let id = tuple_community_id(
            "128.232.110.120",
            Some("34855"),
            "66.35.250.204",
            Some("80"),
            "tcp",
            0,
        )
        .unwrap();
        assert_eq!(id.to_base64(), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        let e = tuple_community_id("10.0.0.1", None, "10.0.0.2", Some("2"), "tcp", 0).unwrap_err();
        assert!(e.to_string().contains("spt"), "{e}");
    }
}

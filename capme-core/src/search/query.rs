//! Queries: which flow, which time window.

use crate::error::{Error, Result};
use crate::flow::{CommunityId, Endpoint, FlowKey, Proto};
use crate::time::TimeWindow;
use std::fmt;
use std::net::IpAddr;

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
        let addr = |field: &'static str, t: &str| -> Result<IpAddr> {
            t.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| Error::invalid(field, t, "not an IPv4 or IPv6 address"))
        };
        let proto = proto.map(|p| Proto::parse("proto", p)).transpose()?;
        let needs_ports = proto.is_none_or(|p| p.has_ports());
        let port = |field: &'static str, t: Option<&str>| -> Result<u16> {
            match t {
                Some(t) => t.trim().parse::<u16>().map_err(|_| {
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

/// A flow and a time window.
///
/// ```
/// use capme_core::search::{FlowSpec, Query};
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
}

impl Query {
    /// A query for `flow` within `window`.
    pub fn new(flow: FlowSpec, window: TimeWindow) -> Query {
        Query { flow, window }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} between {}", self.flow, self.window)
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
        // Port-less protocols need no ports.
        assert!(FlowSpec::parse_tuple("10.0.0.1", None, "10.0.0.2", None, Some("47")).is_ok());
    }
}

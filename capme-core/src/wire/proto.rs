//! The IP protocol number, as smoltcp's `IpProtocol`: what a network header names and a flow
//! key carries.

use crate::error::{Error, Result};
use std::fmt;

/// An IP protocol number (IPv4 `protocol`, IPv6 upper-layer `next header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Proto(pub u8);

impl Proto {
    /// ICMP (1).
    pub const ICMP: Proto = Proto(1);
    /// TCP (6).
    pub const TCP: Proto = Proto(6);
    /// UDP (17).
    pub const UDP: Proto = Proto(17);
    /// ICMPv6 (58).
    pub const ICMP6: Proto = Proto(58);
    /// SCTP (132).
    pub const SCTP: Proto = Proto(132);
    /// UDP-Lite (136).
    pub const UDPLITE: Proto = Proto(136);

    /// True for protocols whose key carries ports (TCP, UDP, SCTP, UDP-Lite) or ICMP type/code.
    pub fn has_ports(self) -> bool {
        matches!(
            self,
            Proto::TCP | Proto::UDP | Proto::SCTP | Proto::UDPLITE | Proto::ICMP | Proto::ICMP6
        )
    }

    /// True for ICMP and ICMPv6, whose "ports" are type and code.
    pub fn is_icmp(self) -> bool {
        matches!(self, Proto::ICMP | Proto::ICMP6)
    }

    /// Parses `tcp`, `udp`, `sctp`, `icmp`, `icmp6` (or `icmpv6`, `ipv6-icmp`), `udplite`, or a
    /// number 0–255. `field` names the field in the error.
    pub fn parse(field: &'static str, text: &str) -> Result<Proto> {
        let t = text.to_ascii_lowercase();
        Ok(match t.as_str() {
            "tcp" => Proto::TCP,
            "udp" => Proto::UDP,
            "sctp" => Proto::SCTP,
            "icmp" => Proto::ICMP,
            "icmp6" | "icmpv6" | "ipv6-icmp" => Proto::ICMP6,
            "udplite" | "udp-lite" => Proto::UDPLITE,
            _ => match t.parse::<u8>() {
                Ok(n) => Proto(n),
                Err(_) => {
                    return Err(Error::invalid(
                        field,
                        text,
                        "expected tcp, udp, sctp, icmp, icmp6 or a protocol number 0-255",
                    ))
                }
            },
        })
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Proto::TCP => f.write_str("tcp"),
            Proto::UDP => f.write_str("udp"),
            Proto::SCTP => f.write_str("sctp"),
            Proto::ICMP => f.write_str("icmp"),
            Proto::ICMP6 => f.write_str("icmp6"),
            Proto::UDPLITE => f.write_str("udplite"),
            Proto(n) => write!(f, "proto{n}"),
        }
    }
}

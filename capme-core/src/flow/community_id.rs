//! Community ID v1 (<https://github.com/corelight/community-id-spec>).
//!
//! The ID is the SHA-1 digest of
//! `seed (u16 BE) . first address . second address . proto (u8) . 0 (u8) [. first port . second port]`
//! (ports as u16 BE, only for TCP, UDP, SCTP, ICMP and ICMPv6 as in the specification's reference
//! implementation), written `1:` followed by the base64 (or, for troubleshooting, hex) digest.
//! [`FlowKey`] is already in the specification's order (endpoints sorted by address then port,
//! ICMP type/counterpart pairing, one-way ICMP kept in its direction), so it is hashed as it is.

use crate::error::{Error, Result};
use crate::flow::{FlowKey, Proto};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The length of the digest (SHA-1).
const DIGEST_LEN: usize = 20;
/// The version prefix of v1 IDs.
const PREFIX: &str = "1:";
/// Base64 text of a 20-byte digest: 28 characters, one `=` of padding.
const BASE64_LEN: usize = 28;
/// Hex text of a 20-byte digest.
const HEX_LEN: usize = 2 * DIGEST_LEN;
/// The field name in parse errors.
const FIELD: &str = "community-id";

/// A Community ID v1 value: the SHA-1 digest of a canonical flow tuple and a seed.
///
/// Equality compares digests, so an ID parsed from its base64 form equals the same ID parsed from
/// its hex form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommunityId {
    digest: [u8; DIGEST_LEN],
}

impl CommunityId {
    /// The first two bytes of the digest: the tag the flow index files a flow under for
    /// Community ID lookups.
    pub fn tag(&self) -> u16 {
        u16::from_be_bytes([self.digest[0], self.digest[1]])
    }

    /// The Community ID of a canonical key.
    pub fn of_key(key: &FlowKey, seed: u16) -> CommunityId {
        let (first, second) = (key.first(), key.second());
        let proto = key.proto();
        let mut hasher = Sha1::new();
        hasher.update(seed.to_be_bytes());
        update_addr(&mut hasher, first.addr);
        update_addr(&mut hasher, second.addr);
        hasher.update([proto.0, 0]);
        if hashes_ports(proto) {
            hasher.update(first.port.to_be_bytes());
            hasher.update(second.port.to_be_bytes());
        }
        CommunityId {
            digest: hasher.finalize().into(),
        }
    }

    /// An ID from its raw digest.
    pub fn from_bytes(digest: [u8; DIGEST_LEN]) -> CommunityId {
        CommunityId { digest }
    }

    /// The raw 20-byte digest.
    pub fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.digest
    }

    /// The standard form, `1:` and the base64 digest (28 characters, padded).
    pub fn to_base64(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.digest))
    }

    /// The hex form, `1:` and 40 lowercase hex digits (`--no-base64` of the reference tools).
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut text = String::with_capacity(PREFIX.len() + HEX_LEN);
        text.push_str(PREFIX);
        for byte in self.digest {
            // Writing to a String cannot fail.
            let _ = write!(text, "{byte:02x}");
        }
        text
    }

    /// Parses `1:` followed by the base64 digest (28 characters) or the hex digest (40 digits,
    /// either case). Strict: the `1:` prefix is required, and nothing may surround the ID.
    pub fn parse(text: &str) -> Result<CommunityId> {
        let body = match text.split_once(':') {
            Some(("1", body)) => body,
            Some((version, _)) => {
                return Err(Error::invalid(
                    FIELD,
                    text,
                    format!("unsupported version {version:?}, only version 1 exists"),
                ))
            }
            None => {
                return Err(Error::invalid(
                    FIELD,
                    text,
                    "expected \"1:\" and a 28-character base64 or 40-digit hex SHA-1 digest",
                ))
            }
        };
        let digest = match body.len() {
            BASE64_LEN => decode_base64(body),
            HEX_LEN => decode_hex(body),
            _ => None,
        };
        digest.map(CommunityId::from_bytes).ok_or_else(|| {
            Error::invalid(
                FIELD,
                text,
                "expected \"1:\" and a 28-character base64 or 40-digit hex SHA-1 digest",
            )
        })
    }

    /// True when `text` ([`CommunityId::parse`] syntax, base64 or hex) is this ID.
    pub fn matches(&self, text: &str) -> bool {
        CommunityId::parse(text).is_ok_and(|other| other == *self)
    }
}

/// Protocols whose ports (ICMP: type and counterpart/code) enter the hash. UDP-Lite is not among
/// them: the specification and its reference implementation hash it as a port-less protocol.
fn hashes_ports(proto: Proto) -> bool {
    matches!(
        proto,
        Proto::TCP | Proto::UDP | Proto::SCTP | Proto::ICMP | Proto::ICMP6
    )
}

fn update_addr(hasher: &mut Sha1, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => hasher.update(a.octets()),
        IpAddr::V6(a) => hasher.update(a.octets()),
    }
}

fn decode_base64(text: &str) -> Option<[u8; DIGEST_LEN]> {
    let bytes = STANDARD.decode(text).ok()?;
    <[u8; DIGEST_LEN]>::try_from(bytes.as_slice()).ok()
}

fn decode_hex(text: &str) -> Option<[u8; DIGEST_LEN]> {
    // Digit by digit: `u8::from_str_radix` would accept a sign ("+f").
    let nibble = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut digest = [0u8; DIGEST_LEN];
    if text.len() != 2 * digest.len() {
        return None;
    }
    for (byte, pair) in digest.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        if let [high, low] = *pair {
            *byte = nibble(high)? << 4 | nibble(low)?;
        }
    }
    Some(digest)
}

impl fmt::Display for CommunityId {
    /// The base64 form, `1:...=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        f.write_str(&STANDARD.encode(self.digest))
    }
}

impl FromStr for CommunityId {
    type Err = Error;

    fn from_str(text: &str) -> Result<CommunityId> {
        CommunityId::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Endpoint;
    use std::collections::HashSet;
    use std::path::PathBuf;

    /// The conformance data of the specification, in the repository (with its license).
    fn data_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/community-id")
    }

    struct Record {
        key: FlowKey,
        expected: String,
    }

    fn baseline(file: &str) -> Vec<Record> {
        let path = data_dir().join("baseline").join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        records
            .iter()
            .map(|r| {
                let proto = Proto(r["proto"].as_u64().unwrap() as u8);
                let addr = |k: &str| r[k].as_str().unwrap().parse::<IpAddr>().unwrap();
                // Port-less records carry null ports.
                let port = |k: &str| r[k].as_u64().map_or(0, |p| p as u16);
                Record {
                    key: FlowKey::new(
                        proto,
                        Endpoint::new(addr("saddr"), port("sport")),
                        Endpoint::new(addr("daddr"), port("dport")),
                    ),
                    expected: r["communityid"].as_str().unwrap().to_string(),
                }
            })
            .collect()
    }

    /// Checks one baseline file; returns how many records it held.
    fn check_baseline(file: &str, seed: u16, render: fn(&CommunityId) -> String) -> usize {
        let records = baseline(file);
        for r in &records {
            let id = CommunityId::of_key(&r.key, seed);
            assert_eq!(render(&id), r.expected, "{file}: {}", r.key);
            assert_eq!(CommunityId::parse(&r.expected).unwrap(), id);
        }
        records.len()
    }

    #[test]
    fn community_id_baselines() {
        let total = check_baseline("baseline_deflt.json", 0, CommunityId::to_base64)
            + check_baseline("baseline_nob64.json", 0, CommunityId::to_hex)
            + check_baseline("baseline_seed1.json", 1, CommunityId::to_base64);
        assert_eq!(total, 69);
    }

    fn ep(addr: &str, port: u16) -> Endpoint {
        Endpoint::new(addr.parse().unwrap(), port)
    }

    #[test]
    fn community_id_spec_tables() {
        // From the specification's baseline/README.md tables.
        let cases = [
            (
                Proto::TCP,
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                0,
                "1:wCb3OG7yAFWelaUydu0D+125CLM=",
            ),
            (
                Proto::UDP,
                "5.6.7.8",
                3344,
                "1.2.3.4",
                1122,
                0,
                "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
            ),
            (
                Proto::SCTP,
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                1,
                "1:uitchpn5MMGAQKBJh7bIr/bAr7s=",
            ),
            (
                Proto::ICMP,
                "5.6.7.8",
                0,
                "1.2.3.4",
                0,
                0,
                "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
            ),
            (
                Proto::ICMP,
                "1.2.3.4",
                11,
                "5.6.7.8",
                0,
                0,
                "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=",
            ),
            (
                Proto::ICMP6,
                "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
                129,
                "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
                0,
                0,
                "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=",
            ),
            (
                Proto::ICMP6,
                "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
                146,
                "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
                0,
                0,
                "1:fYC8+pz24E+EhANP1EZhpX0Dw10=",
            ),
            (
                Proto(46),
                "5.6.7.8",
                0,
                "1.2.3.4",
                0,
                1,
                "1:/buhqeOmaRCopOZFy9HnoJd5XW8=",
            ),
            (
                Proto(46),
                "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
                0,
                "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
                0,
                0,
                "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=",
            ),
        ];
        for (proto, src, sport, dst, dport, seed, want) in cases {
            let key = FlowKey::new(proto, ep(src, sport), ep(dst, dport));
            assert_eq!(key.community_id(seed).to_string(), want, "{key}");
        }
        let key = FlowKey::new(Proto::TCP, ep("1.2.3.4", 1122), ep("5.6.7.8", 3344));
        assert_eq!(
            key.community_id(0).to_hex(),
            "1:c026f7386ef200559e95a53276ed03fb5db908b3"
        );
    }

    #[test]
    fn community_id_udplite_hashes_no_ports() {
        let a = FlowKey::new(Proto::UDPLITE, ep("10.0.0.1", 1), ep("10.0.0.2", 2));
        let b = FlowKey::new(Proto::UDPLITE, ep("10.0.0.1", 3), ep("10.0.0.2", 4));
        assert_eq!(a.community_id(0), b.community_id(0));
        let c = FlowKey::new(Proto::UDP, ep("10.0.0.1", 3), ep("10.0.0.2", 4));
        assert_ne!(a.community_id(0), c.community_id(0));
    }

    #[test]
    fn community_id_parse_forms() {
        let b64 = "1:wCb3OG7yAFWelaUydu0D+125CLM=";
        let hex = "1:c026f7386ef200559e95a53276ed03fb5db908b3";
        let id: CommunityId = b64.parse().unwrap();
        assert_eq!(id, CommunityId::parse(hex).unwrap());
        assert_eq!(id, CommunityId::parse(&hex.to_uppercase()).unwrap());
        // Strict: the version prefix is required, and nothing may surround the ID.
        assert!(CommunityId::parse(&hex[2..]).is_err());
        assert!(CommunityId::parse(&format!("  {b64}\n")).is_err());
        assert!(CommunityId::parse(&format!("{b64} ")).is_err());
        assert_eq!(id.to_base64(), b64);
        assert_eq!(id.to_hex(), hex);
        assert_eq!(id.to_string(), b64);
        assert_eq!(id.as_bytes()[..3], [0xc0, 0x26, 0xf7]);
        assert_eq!(CommunityId::from_bytes(*id.as_bytes()), id);
        assert!(id.matches(hex) && id.matches(b64));
        assert!(!id.matches("1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="));
        assert!(!id.matches("nonsense"));
    }

    #[test]
    fn community_id_parse_errors() {
        for bad in [
            "",
            "1:",
            "2:wCb3OG7yAFWelaUydu0D+125CLM=",
            "1:wCb3OG7yAFWelaUydu0D+125CLM",
            "1:wCb3OG7yAFWelaUydu0D+125CL==",
            "1:wCb3OG7yAFWelaUydu0D+125C!M=",
            "1:c026f7386ef200559e95a53276ed03fb5db908bg",
            "1:c026f7386ef200559e95a53276ed03fb5db908b",
            "1:+026f7386ef200559e95a53276ed03fb5db908b3",
            "1:é26f7386ef200559e95a53276ed03fb5db908b3",
        ] {
            let err = CommunityId::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidQuery, "{bad:?}");
            let message = err.to_string();
            assert!(message.contains("community-id"), "{message}");
        }
        let message = CommunityId::parse("2:abc").unwrap_err().to_string();
        assert!(message.contains("version"), "{message}");
    }

    // ---- end to end: the specification's pcaps through `wire::decode` ----

    /// Records of a little-endian microsecond pcap: (link type, packets).
    fn read_pcap(path: &std::path::Path) -> (u32, Vec<Vec<u8>>) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(u32_at(0), 0xa1b2_c3d4, "{}: magic", path.display());
        let linktype = u32_at(20);
        let mut packets = Vec::new();
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let caplen = u32_at(at + 8) as usize;
            packets.push(bytes[at + 16..at + 16 + caplen].to_vec());
            at += 16 + caplen;
        }
        assert_eq!(at, bytes.len(), "{}: trailing bytes", path.display());
        (linktype, packets)
    }

    #[test]
    fn community_id_spec_pcaps() {
        use crate::wire::decode;
        let ids: HashSet<String> = baseline("baseline_deflt.json")
            .into_iter()
            .map(|r| r.expected)
            .collect();
        let mut seen = HashSet::new();
        let mut decoded = 0;
        for name in ["icmp", "icmp6", "ipv6", "rsvp", "sctp", "tcp", "udp", "arp"] {
            let path = data_dir().join("pcaps").join(format!("{name}.pcap"));
            let (linktype, packets) = read_pcap(&path);
            for (i, pkt) in packets.iter().enumerate() {
                let Some(d) = decode(linktype, pkt) else {
                    assert_eq!(name, "arp", "{name}.pcap packet {i} did not decode");
                    continue;
                };
                let (sport, dport) = d.ports.unwrap_or((0, 0));
                let key = FlowKey::new(
                    d.proto,
                    Endpoint::new(d.src, sport),
                    Endpoint::new(d.dst, dport),
                );
                let id = key.community_id(0).to_base64();
                assert!(
                    ids.contains(&id),
                    "{name}.pcap packet {i}: {key} gives {id}"
                );
                seen.insert(id);
                decoded += 1;
            }
        }
        assert!(decoded > 0);
        assert_eq!(seen, ids, "every baseline ID comes from some packet");
    }
}

//! Header views over packet bytes, in the style of smoltcp.
//!
//! Each view wraps a byte slice. Its one constructor, `new_checked`, verifies every length that an
//! accessor will later read (IHL, IPv6 payload length, extension header lengths, ...), so that
//! accessors are plain field reads. Field offsets live in a small `field` module per header.
//! As a second line of defence, accessors read through small helpers (`read_u8`, `read_u16`, ...)
//! that never panic: no input, however malformed, can make this module panic.
//!
//! Unknown EtherTypes, link types and protocols are values (`Unknown(n)`), not errors.
//!
//! The hot path is [`decode()`]: from a link type and the captured bytes to addresses, protocol,
//! ports (or ICMP type/code) and fragment information, without allocating. [`layers()`] adds
//! the IP layers inside tunnels (GRE, ERSPAN, VXLAN, GENEVE, IP in IP), for packets that are
//! tunnel candidates ([`is_tunnel_candidate`]).
//!
//! | layer | views |
//! |---|---|
//! | link | [`LinkType`], [`EthernetFrame`], [`SllHeader`], [`Sll2Header`], [`NullHeader`], [`PppHeader`], [`CiscoHdlcHeader`], [`Ieee80211Frame`], [`RadiotapHeader`], [`PrismHeader`], [`AvsHeader`], [`NflogHeader`], [`ErfRecord`], [`PktapHeader`], [`JuniperHeader`], [`IpoibHeader`] |
//! | shim | [`VlanTag`], [`MplsLabel`], [`PppoeHeader`], [`LlcSnapHeader`], [`MacsecHeader`], [`NshHeader`] |
//! | network | [`Ipv4Packet`], [`Ipv6Packet`], [`Ipv6ExtHeader`], [`Ipv6FragmentHeader`] |
//! | transport | [`PortsHeader`], [`IcmpHeader`], [`TcpHeader`], [`UdpHeader`]; [`Proto`] (the IP protocol number) |
//! | tunnel | [`GreHeader`], [`ErspanIIHeader`], [`ErspanIIIHeader`], [`VxlanHeader`], [`GeneveHeader`]; [`layers()`] walks them |

pub mod decode;
pub mod erf;
pub mod ethernet;
pub mod gre;
pub mod hdlc;
pub mod ieee80211;
pub mod ipoib;
pub mod ipv4;
pub mod ipv6;
pub mod juniper;
pub mod link;
pub mod llc;
pub mod macsec;
pub mod mpls;
pub mod nflog;
pub mod nsh;
pub mod pktap;
pub mod ppp;
pub mod proto;
pub mod radiotap;
pub mod sll;
pub mod transport;
pub mod vlan;
pub mod vxlan;

pub use decode::{
    decode, decode_ip, decode_network, is_tunnel_candidate, layers, network_layer,
    skip_ipv6_extensions, Decoded, Encap, Encaps, Fragment, IpDatagram, IpLayer, IpLayers,
    NetworkLayer, MAX_INNER_LAYERS,
};
pub use erf::{ErfBody, ErfRecord};
pub use ethernet::{EtherType, EtherTypeTail, EthernetFrame};
pub use gre::{ErspanIIHeader, ErspanIIIHeader, GreHeader};
pub use hdlc::CiscoHdlcHeader;
pub use ieee80211::Ieee80211Frame;
pub use ipoib::IpoibHeader;
pub use ipv4::Ipv4Packet;
pub use ipv6::{Ipv6ExtHeader, Ipv6FragmentHeader, Ipv6Packet};
pub use juniper::{JuniperHeader, JuniperPayload};
pub use link::{AddressFamily, LinkType, NullHeader};
pub use llc::LlcSnapHeader;
pub use macsec::MacsecHeader;
pub use mpls::MplsLabel;
pub use nflog::{NflogFamily, NflogHeader};
pub use nsh::NshHeader;
pub use pktap::PktapHeader;
pub use ppp::{PppHeader, PppoeHeader};
pub use proto::Proto;
pub use radiotap::{AvsHeader, PrismHeader, RadiotapHeader};
pub use sll::{Sll2Header, SllHeader};
pub use transport::{IcmpHeader, PortsHeader, TcpHeader, UdpHeader};
pub use vlan::VlanTag;
pub use vxlan::{GeneveHeader, VxlanHeader};

use std::ops::Range;

/// A field that spans bytes `start..end` of a header.
pub(crate) type Field = Range<usize>;

/// The byte at `at`, or 0 when `buf` is shorter. Views call it only after `new_checked`.
#[inline]
pub(crate) fn read_u8(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// The big-endian `u16` in `field`, or 0 when `buf` is shorter.
#[inline]
pub(crate) fn read_u16(buf: &[u8], field: Field) -> u16 {
    u16::from_be_bytes(read_array(buf, field))
}

/// The big-endian `u32` in `field`, or 0 when `buf` is shorter.
#[inline]
pub(crate) fn read_u32(buf: &[u8], field: Field) -> u32 {
    u32::from_be_bytes(read_array(buf, field))
}

/// The bytes of `field` as an array, or zeros when `buf` is shorter or `field` has another length.
#[inline]
pub(crate) fn read_array<const N: usize>(buf: &[u8], field: Field) -> [u8; N] {
    buf.get(field)
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .unwrap_or([0; N])
}

/// `buf[from..]`, or an empty slice when `from` is past the end.
#[inline]
pub(crate) fn rest(buf: &[u8], from: usize) -> &[u8] {
    buf.get(from..).unwrap_or(&[])
}

/// `buf[from..to]` clamped to the slice (`to` beyond the end means "to the end").
#[inline]
pub(crate) fn between(buf: &[u8], from: usize, to: usize) -> &[u8] {
    let to = to.min(buf.len());
    buf.get(from..to).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_readers_never_panic() {
        let b = [1u8, 2, 3];
        assert_eq!(read_u8(&b, 2), 3);
        assert_eq!(read_u8(&b, 3), 0);
        assert_eq!(read_u16(&b, 1..3), 0x0203);
        assert_eq!(read_u16(&b, 2..4), 0);
        assert_eq!(read_u32(&b, 0..4), 0);
        assert_eq!(read_array::<2>(&b, 0..3), [0, 0]);
        assert_eq!(rest(&b, 1), &[2, 3]);
        assert_eq!(rest(&b, 4), &[] as &[u8]);
        assert_eq!(between(&b, 1, 9), &[2, 3]);
        assert_eq!(between(&b, 3, 9), &[] as &[u8]);
        assert_eq!(between(&b, 2, 1), &[] as &[u8]);
    }
}

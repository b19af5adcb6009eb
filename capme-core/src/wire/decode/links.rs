//! The link layers beyond Ethernet, cooked captures, raw IP and loopback: each from its header
//! view to the IP packet under it (or to an EtherType and the bytes it names, which
//! [`by_ethertype`](super::by_ethertype) follows). Headers whose length the packet says are
//! bounded by that length; an IP packet found is bounded by its own length later.

use super::{after_mpls, by_ethertype, by_version_nibble, network_layer, NetworkLayer};
use crate::wire::erf::{ErfBody, ErfRecord};
use crate::wire::nflog::{NflogFamily, NflogHeader};
use crate::wire::nsh::{next_protocol, NshHeader};
use crate::wire::ppp::{protocol, PppHeader, PppoeHeader};
use crate::wire::{
    AvsHeader, CiscoHdlcHeader, EtherType, EtherTypeTail, EthernetFrame, Ieee80211Frame,
    IpoibHeader, JuniperHeader, JuniperPayload, LinkType, LlcSnapHeader, MacsecHeader, PktapHeader,
    PrismHeader, RadiotapHeader,
};

/// What an EtherType handled here leads to: the network layer (or nothing), or another
/// EtherType and its bytes for [`by_ethertype`](super::by_ethertype)'s loop to follow. Every
/// `Next` has consumed at least 8 bytes, so that loop stays bounded by the packet.
pub(super) enum Step<'a> {
    /// Done: the IP packet, or `None` when it cannot be decoded.
    Done(Option<NetworkLayer<'a>>),
    /// Follow this EtherType over these bytes.
    Next(EtherType, &'a [u8]),
}

/// PPPoE session (0x8864), MACsec (0x88E5) and NSH (0x894F) after an EtherType. Out of line:
/// inlined, it made [`by_ethertype`](super::by_ethertype)'s VLAN/MPLS loop save more registers.
#[cold]
#[inline(never)]
pub(super) fn ethertype_step(ethertype: EtherType, bytes: &[u8]) -> Step<'_> {
    match ethertype {
        EtherType::PppoeSession => Step::Done(pppoe(bytes)),
        EtherType::Macsec => {
            // An encrypted frame cannot be read: None.
            let next =
                MacsecHeader::new_checked(bytes).and_then(|h| Some((h.ethertype()?, h.payload()?)));
            match next {
                Some((t, b)) => Step::Next(t, b),
                None => Step::Done(None),
            }
        }
        EtherType::Nsh => {
            let Some(h) = NshHeader::new_checked(bytes) else {
                return Step::Done(None);
            };
            let payload = h.payload();
            match h.next_protocol() {
                next_protocol::IPV4 => Step::Done(Some(NetworkLayer::Ipv4(payload))),
                next_protocol::IPV6 => Step::Done(Some(NetworkLayer::Ipv6(payload))),
                next_protocol::ETHERNET => match EthernetFrame::new_checked(payload) {
                    Some(f) => Step::Next(f.ethertype(), f.payload()),
                    None => Step::Done(None),
                },
                next_protocol::NSH => Step::Next(EtherType::Nsh, payload),
                next_protocol::MPLS => Step::Done(after_mpls(payload)),
                _ => Step::Done(None),
            }
        }
        _ => Step::Done(None),
    }
}

/// A PPP frame (with or without `FF 03`, protocol field compressed or not).
pub(super) fn ppp(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    let h = PppHeader::new_checked(bytes)?;
    match h.protocol() {
        protocol::IPV4 => Some(NetworkLayer::Ipv4(h.payload())),
        protocol::IPV6 => Some(NetworkLayer::Ipv6(h.payload())),
        protocol::MPLS_UNICAST | protocol::MPLS_MULTICAST => after_mpls(h.payload()),
        _ => None,
    }
}

/// An HDLC-framed frame: Cisco HDLC when its address byte says so, else PPP.
pub(super) fn hdlc(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    if CiscoHdlcHeader::starts(bytes) {
        cisco_hdlc(bytes)
    } else {
        ppp(bytes)
    }
}

/// A Cisco HDLC frame.
pub(super) fn cisco_hdlc(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    let h = CiscoHdlcHeader::new_checked(bytes)?;
    by_ethertype(h.protocol(), h.payload())
}

/// A PPPoE session header and its PPP frame.
pub(super) fn pppoe(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    ppp(PppoeHeader::new_checked(bytes)?.payload())
}

/// An 802.11 data frame with an LLC/SNAP header.
pub(super) fn ieee80211(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    let frame = Ieee80211Frame::new_checked(bytes)?;
    let llc = LlcSnapHeader::new_checked(frame.payload())?;
    by_ethertype(llc.ethertype(), llc.payload())
}

/// A radiotap header and its 802.11 frame.
pub(super) fn radiotap(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    ieee80211(RadiotapHeader::new_checked(bytes)?.payload())
}

/// A Prism header (or an AVS header, which some drivers write under this link type) and its
/// 802.11 frame.
pub(super) fn prism(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    if AvsHeader::starts(bytes) {
        return avs(bytes);
    }
    ieee80211(PrismHeader::new_checked(bytes)?.payload())
}

/// An AVS header and its 802.11 frame.
pub(super) fn avs(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    ieee80211(AvsHeader::new_checked(bytes)?.payload())
}

/// An NFLOG record: the packet of its payload TLV, by the header's address family, or for
/// another family (bridge) by the packet header's hardware protocol, as Wireshark reads it.
pub(super) fn nflog(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    let h = NflogHeader::new_checked(bytes)?;
    let payload = h.payload()?;
    match h.family() {
        NflogFamily::Ipv4 => Some(NetworkLayer::Ipv4(payload)),
        NflogFamily::Ipv6 => Some(NetworkLayer::Ipv6(payload)),
        NflogFamily::Other(_) => match EtherType::from(h.hw_protocol()?) {
            EtherType::Ipv4 => Some(NetworkLayer::Ipv4(payload)),
            EtherType::Ipv6 => Some(NetworkLayer::Ipv6(payload)),
            _ => None,
        },
    }
}

/// An ERF record, by its type.
pub(super) fn erf(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    match ErfRecord::new_checked(bytes)?.body() {
        ErfBody::Ethernet(frame) => {
            let frame = EthernetFrame::new_checked(frame)?;
            by_ethertype(frame.ethertype(), frame.payload())
        }
        ErfBody::Hdlc(frame) => hdlc(frame),
        ErfBody::Ipv4(ip) => Some(NetworkLayer::Ipv4(ip)),
        ErfBody::Ipv6(ip) => Some(NetworkLayer::Ipv6(ip)),
        ErfBody::Other(_) => None,
    }
}

/// A PKTAP header and the packet of the link type it names. A PKTAP header inside a PKTAP
/// packet is not followed: the recursion is one level deep.
pub(super) fn pktap(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    let h = PktapHeader::new_checked(bytes)?;
    match LinkType::from(h.dlt()) {
        LinkType::Pktap => None,
        _ => network_layer(h.dlt(), h.payload()),
    }
}

/// A Juniper header and its Ethernet frame (or IP packet).
pub(super) fn juniper(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    match JuniperHeader::new_checked(bytes)?.payload() {
        JuniperPayload::Ethernet(frame) => {
            let frame = EthernetFrame::new_checked(frame)?;
            by_ethertype(frame.ethertype(), frame.payload())
        }
        JuniperPayload::Ip(ip) => by_version_nibble(ip),
    }
}

/// An IPoIB pseudo-header and its payload.
pub(super) fn ipoib(bytes: &[u8]) -> Option<NetworkLayer<'_>> {
    let h = IpoibHeader::new_checked(bytes)?;
    by_ethertype(h.ethertype(), h.payload())
}

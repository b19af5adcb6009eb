//! Ethernet II frames and EtherTypes.

use super::{read_array, read_u16, rest};

/// An EtherType (also the protocol field of Linux cooked captures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// IPv4 (0x0800).
    Ipv4,
    /// ARP (0x0806).
    Arp,
    /// IPv6 (0x86DD).
    Ipv6,
    /// IEEE 802.1Q VLAN tag (0x8100).
    Vlan,
    /// IEEE 802.1ad service VLAN tag, "QinQ" (0x88A8).
    QinQ,
    /// Pre-standard QinQ tag (0x9100).
    QinQLegacy,
    /// MPLS unicast (0x8847).
    MplsUnicast,
    /// MPLS multicast (0x8848).
    MplsMulticast,
    /// PPPoE session stage (0x8864): a PPPoE header and a PPP frame (RFC 2516).
    PppoeSession,
    /// MACsec (0x88E5): a SecTAG, then the protected frame's EtherType (IEEE 802.1AE).
    Macsec,
    /// Network Service Header (0x894F, RFC 8300).
    Nsh,
    /// Any other value (or a length field of an 802.3 frame).
    Unknown(u16),
}

impl EtherType {
    /// True for the three VLAN tag types (0x8100, 0x88A8, 0x9100).
    pub fn is_vlan(self) -> bool {
        matches!(
            self,
            EtherType::Vlan | EtherType::QinQ | EtherType::QinQLegacy
        )
    }

    /// True for MPLS unicast and multicast.
    pub fn is_mpls(self) -> bool {
        matches!(self, EtherType::MplsUnicast | EtherType::MplsMulticast)
    }
}

impl From<u16> for EtherType {
    fn from(value: u16) -> Self {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86DD => EtherType::Ipv6,
            0x8100 => EtherType::Vlan,
            0x88A8 => EtherType::QinQ,
            0x9100 => EtherType::QinQLegacy,
            0x8847 => EtherType::MplsUnicast,
            0x8848 => EtherType::MplsMulticast,
            0x8864 => EtherType::PppoeSession,
            0x88E5 => EtherType::Macsec,
            0x894F => EtherType::Nsh,
            n => EtherType::Unknown(n),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> Self {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86DD,
            EtherType::Vlan => 0x8100,
            EtherType::QinQ => 0x88A8,
            EtherType::QinQLegacy => 0x9100,
            EtherType::MplsUnicast => 0x8847,
            EtherType::MplsMulticast => 0x8848,
            EtherType::PppoeSession => 0x8864,
            EtherType::Macsec => 0x88E5,
            EtherType::Nsh => 0x894F,
            EtherType::Unknown(n) => n,
        }
    }
}

mod field {
    use crate::wire::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const HEADER_LEN: usize = ETHERTYPE.end;
}

/// A view of an Ethernet II frame (destination, source, EtherType, payload). A trailing FCS
/// stays in the payload: the IP header's length bounds what a decoder reads.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<'a> {
    buffer: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// Destination MAC address.
    pub fn destination(&self) -> [u8; 6] {
        read_array(self.buffer, field::DESTINATION)
    }

    /// Source MAC address.
    pub fn source(&self) -> [u8; 6] {
        read_array(self.buffer, field::SOURCE)
    }
}

/// A header of fixed length that ends with the EtherType of the next layer, its last two
/// bytes: an Ethernet II header (14 bytes) and an 802.1Q/802.1ad tag (4 bytes). Their checked
/// constructor, [`ethertype`](Self::ethertype) and [`payload`](Self::payload) are written
/// once, here.
pub trait EtherTypeTail<'a>: Sized {
    /// The header's length; its EtherType is the last two bytes.
    const HEADER_LEN: usize;

    /// The view of `buffer`, unchecked (only [`new_checked`](Self::new_checked) calls it).
    fn wrap(buffer: &'a [u8]) -> Self;

    /// The bytes the view wraps (at least `HEADER_LEN`).
    fn bytes(&self) -> &'a [u8];

    /// Wraps `buffer` when it holds at least a whole header.
    fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= Self::HEADER_LEN).then(|| Self::wrap(buffer))
    }

    /// The EtherType of what follows the header.
    fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(
            self.bytes(),
            Self::HEADER_LEN - 2..Self::HEADER_LEN,
        ))
    }

    /// The bytes after the header.
    fn payload(&self) -> &'a [u8] {
        rest(self.bytes(), Self::HEADER_LEN)
    }
}

impl<'a> EtherTypeTail<'a> for EthernetFrame<'a> {
    const HEADER_LEN: usize = field::HEADER_LEN;
    fn wrap(buffer: &'a [u8]) -> Self {
        EthernetFrame { buffer }
    }
    fn bytes(&self) -> &'a [u8] {
        self.buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_ethernet_fields() {
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        f.extend_from_slice(&[0x86, 0xdd, 0xaa]);
        let e = EthernetFrame::new_checked(&f).unwrap();
        assert_eq!(e.destination(), [0xff; 6]);
        assert_eq!(e.source(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(e.ethertype(), EtherType::Ipv6);
        assert_eq!(e.payload(), &[0xaa]);
        assert!(EthernetFrame::new_checked(&f[..13]).is_none());
        assert_eq!(
            EthernetFrame::new_checked(&f[..14]).unwrap().payload(),
            &[] as &[u8]
        );
    }

    #[test]
    fn wire_ethertype_round_trip() {
        for n in [
            0x0800, 0x0806, 0x86DD, 0x8100, 0x88A8, 0x9100, 0x8847, 0x8848, 0x8864, 0x88E5, 0x894F,
            0x1234,
        ] {
            assert_eq!(u16::from(EtherType::from(n)), n);
        }
        assert!(EtherType::from(0x9100).is_vlan());
        assert!(EtherType::from(0x8848).is_mpls());
        assert_eq!(EtherType::from(0x0042), EtherType::Unknown(0x42));
    }
}

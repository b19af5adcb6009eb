//! Link types and the BSD loopback (`NULL`/`LOOP`) header.

use super::{read_array, rest};

/// A pcap/pcapng link type (`LINKTYPE_*`; the DLT values 12 and 14 of raw IP are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_NULL` (0): BSD loopback, 4-byte address family in the capturing host's byte order.
    Null,
    /// `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// Raw IP, version from the first nibble: `LINKTYPE_RAW` (101) and the DLT_RAW values 12, 14.
    Raw,
    /// `LINKTYPE_LOOP` (108): OpenBSD loopback, 4-byte address family in network byte order.
    Loop,
    /// `LINKTYPE_LINUX_SLL` (113).
    LinuxSll,
    /// `LINKTYPE_IPV4` (228): raw IPv4.
    Ipv4,
    /// `LINKTYPE_IPV6` (229): raw IPv6.
    Ipv6,
    /// `LINKTYPE_LINUX_SLL2` (276).
    LinuxSll2,
    /// Any other link type.
    Unknown(u32),
}

impl LinkType {
    /// `LINKTYPE_NULL`.
    pub const NULL: u32 = 0;
    /// `LINKTYPE_ETHERNET`.
    pub const ETHERNET: u32 = 1;
    /// `DLT_RAW` on most systems.
    pub const DLT_RAW: u32 = 12;
    /// `DLT_RAW` on OpenBSD.
    pub const DLT_RAW_OPENBSD: u32 = 14;
    /// `LINKTYPE_RAW`.
    pub const RAW: u32 = 101;
    /// `LINKTYPE_LOOP`.
    pub const LOOP: u32 = 108;
    /// `LINKTYPE_LINUX_SLL`.
    pub const LINUX_SLL: u32 = 113;
    /// `LINKTYPE_IPV4`.
    pub const IPV4: u32 = 228;
    /// `LINKTYPE_IPV6`.
    pub const IPV6: u32 = 229;
    /// `LINKTYPE_LINUX_SLL2`.
    pub const LINUX_SLL2: u32 = 276;
}

impl From<u32> for LinkType {
    fn from(value: u32) -> Self {
        match value {
            LinkType::NULL => LinkType::Null,
            LinkType::ETHERNET => LinkType::Ethernet,
            LinkType::DLT_RAW | LinkType::DLT_RAW_OPENBSD | LinkType::RAW => LinkType::Raw,
            LinkType::LOOP => LinkType::Loop,
            LinkType::LINUX_SLL => LinkType::LinuxSll,
            LinkType::IPV4 => LinkType::Ipv4,
            LinkType::IPV6 => LinkType::Ipv6,
            LinkType::LINUX_SLL2 => LinkType::LinuxSll2,
            n => LinkType::Unknown(n),
        }
    }
}

/// The address family of a loopback header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// `AF_INET` (2 everywhere).
    Inet,
    /// `AF_INET6`: 10 (Linux), 24 (NetBSD, OpenBSD, BSD/OS), 28 (FreeBSD), 30 (macOS).
    Inet6,
    /// Anything else.
    Unknown(u32),
}

impl AddressFamily {
    const AF_INET: u32 = 2;
    const AF_INET6_LINUX: u32 = 10;
    const AF_INET6_NETBSD: u32 = 24;
    const AF_INET6_FREEBSD: u32 = 28;
    const AF_INET6_DARWIN: u32 = 30;
}

impl From<u32> for AddressFamily {
    fn from(value: u32) -> Self {
        match value {
            AddressFamily::AF_INET => AddressFamily::Inet,
            AddressFamily::AF_INET6_LINUX
            | AddressFamily::AF_INET6_NETBSD
            | AddressFamily::AF_INET6_FREEBSD
            | AddressFamily::AF_INET6_DARWIN => AddressFamily::Inet6,
            n => AddressFamily::Unknown(n),
        }
    }
}

mod field {
    use crate::wire::Field;

    pub const FAMILY: Field = 0..4;
    pub const HEADER_LEN: usize = FAMILY.end;
}

/// A view of the 4-byte loopback header of `LINKTYPE_NULL` and `LINKTYPE_LOOP`.
#[derive(Debug, Clone, Copy)]
pub struct NullHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> NullHeader<'a> {
    /// The length of the header (4 bytes).
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wraps `buffer` when it holds at least a whole header.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::HEADER_LEN).then_some(NullHeader { buffer })
    }

    fn raw_family(&self) -> [u8; 4] {
        read_array(self.buffer, field::FAMILY)
    }

    /// The family of a `LINKTYPE_NULL` header, written in the byte order of the capturing host,
    /// which the file does not record: a known family in either byte order is accepted.
    pub fn family_host_order(&self) -> AddressFamily {
        let raw = self.raw_family();
        match AddressFamily::from(u32::from_le_bytes(raw)) {
            AddressFamily::Unknown(_) => AddressFamily::from(u32::from_be_bytes(raw)),
            known => known,
        }
    }

    /// The family of a `LINKTYPE_LOOP` header (network byte order).
    pub fn family_network_order(&self) -> AddressFamily {
        AddressFamily::from(u32::from_be_bytes(self.raw_family()))
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_linktype_values() {
        for (n, t) in [
            (0, LinkType::Null),
            (1, LinkType::Ethernet),
            (12, LinkType::Raw),
            (14, LinkType::Raw),
            (101, LinkType::Raw),
            (108, LinkType::Loop),
            (113, LinkType::LinuxSll),
            (228, LinkType::Ipv4),
            (229, LinkType::Ipv6),
            (276, LinkType::LinuxSll2),
            (147, LinkType::Unknown(147)),
        ] {
            assert_eq!(LinkType::from(n), t);
        }
    }

    #[test]
    fn wire_null_families() {
        for af in [10u32, 24, 28, 30] {
            let le = NullHeader::new_checked(&af.to_le_bytes())
                .unwrap()
                .family_host_order();
            let be = NullHeader::new_checked(&af.to_be_bytes())
                .unwrap()
                .family_host_order();
            assert_eq!((le, be), (AddressFamily::Inet6, AddressFamily::Inet6));
            let be_bytes = af.to_be_bytes();
            let lo = NullHeader::new_checked(&be_bytes).unwrap();
            assert_eq!(lo.family_network_order(), AddressFamily::Inet6);
        }
        let h = NullHeader::new_checked(&[2, 0, 0, 0, 0x45]).unwrap();
        assert_eq!(h.family_host_order(), AddressFamily::Inet);
        assert_eq!(
            h.family_network_order(),
            AddressFamily::Unknown(0x0200_0000)
        );
        assert_eq!(h.payload(), &[0x45]);
        let h = NullHeader::new_checked(&[0, 0, 0, 7]).unwrap();
        assert_eq!(h.family_host_order(), AddressFamily::Unknown(7));
        assert!(NullHeader::new_checked(&[2, 0, 0]).is_none());
    }
}

//! Link types and the BSD loopback (`NULL`/`LOOP`) header.

use super::{read_array, rest};

/// A pcap/pcapng link type (`LINKTYPE_*`; the DLT values 12 and 14 of raw IP, and 149 of
/// Apple's PKTAP, are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_NULL` (0): BSD loopback, 4-byte address family in the capturing host's byte order.
    Null,
    /// `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// `LINKTYPE_PPP` (9): PPP, with or without the `FF 03` address and control.
    Ppp,
    /// `LINKTYPE_PPP_HDLC` (50): PPP in HDLC-like framing (or Cisco HDLC, by its address byte).
    PppHdlc,
    /// `LINKTYPE_PPP_ETHER` (51): a PPPoE session header, then PPP.
    PppEther,
    /// Raw IP, version from the first nibble: `LINKTYPE_RAW` (101) and the DLT_RAW values 12, 14.
    Raw,
    /// `LINKTYPE_C_HDLC` (104): Cisco HDLC.
    CiscoHdlc,
    /// `LINKTYPE_IEEE802_11` (105): 802.11 frames.
    Ieee80211,
    /// `LINKTYPE_LOOP` (108): OpenBSD loopback, 4-byte address family in network byte order.
    Loop,
    /// `LINKTYPE_LINUX_SLL` (113).
    LinuxSll,
    /// `LINKTYPE_IEEE802_11_PRISM` (119): a Prism (or AVS) header, then an 802.11 frame.
    Ieee80211Prism,
    /// `LINKTYPE_IEEE802_11_RADIOTAP` (127): a radiotap header, then an 802.11 frame.
    Ieee80211Radiotap,
    /// `LINKTYPE_IEEE802_11_AVS` (163): an AVS header, then an 802.11 frame.
    Ieee80211Avs,
    /// `LINKTYPE_JUNIPER_ETHER` (178): a Juniper "MGC" header, then an Ethernet frame.
    JuniperEther,
    /// `LINKTYPE_ERF` (197): Endace ERF records.
    Erf,
    /// `LINKTYPE_IPV4` (228): raw IPv4.
    Ipv4,
    /// `LINKTYPE_IPV6` (229): raw IPv6.
    Ipv6,
    /// `LINKTYPE_NFLOG` (239): Linux NFLOG records.
    Nflog,
    /// `LINKTYPE_IPOIB` (242): IP over InfiniBand.
    Ipoib,
    /// `LINKTYPE_PKTAP` (258) and `DLT_PKTAP` (149, as macOS writes it): Apple PKTAP.
    Pktap,
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
    /// `LINKTYPE_PPP`.
    pub const PPP: u32 = 9;
    /// `LINKTYPE_PPP_HDLC`.
    pub const PPP_HDLC: u32 = 50;
    /// `LINKTYPE_PPP_ETHER`.
    pub const PPP_ETHER: u32 = 51;
    /// `DLT_RAW` on most systems.
    pub const DLT_RAW: u32 = 12;
    /// `DLT_RAW` on OpenBSD.
    pub const DLT_RAW_OPENBSD: u32 = 14;
    /// `LINKTYPE_RAW`.
    pub const RAW: u32 = 101;
    /// `LINKTYPE_C_HDLC`.
    pub const C_HDLC: u32 = 104;
    /// `LINKTYPE_IEEE802_11`.
    pub const IEEE802_11: u32 = 105;
    /// `LINKTYPE_LOOP`.
    pub const LOOP: u32 = 108;
    /// `LINKTYPE_LINUX_SLL`.
    pub const LINUX_SLL: u32 = 113;
    /// `LINKTYPE_IEEE802_11_PRISM`.
    pub const IEEE802_11_PRISM: u32 = 119;
    /// `LINKTYPE_IEEE802_11_RADIOTAP`.
    pub const IEEE802_11_RADIOTAP: u32 = 127;
    /// `DLT_PKTAP` on macOS (the value of `LINKTYPE_USER2`).
    pub const DLT_PKTAP: u32 = 149;
    /// `LINKTYPE_IEEE802_11_AVS`.
    pub const IEEE802_11_AVS: u32 = 163;
    /// `LINKTYPE_JUNIPER_ETHER`.
    pub const JUNIPER_ETHER: u32 = 178;
    /// `LINKTYPE_ERF`.
    pub const ERF: u32 = 197;
    /// `LINKTYPE_IPV4`.
    pub const IPV4: u32 = 228;
    /// `LINKTYPE_IPV6`.
    pub const IPV6: u32 = 229;
    /// `LINKTYPE_NFLOG`.
    pub const NFLOG: u32 = 239;
    /// `LINKTYPE_IPOIB`.
    pub const IPOIB: u32 = 242;
    /// `LINKTYPE_PKTAP`.
    pub const PKTAP: u32 = 258;
    /// `LINKTYPE_LINUX_SLL2`.
    pub const LINUX_SLL2: u32 = 276;
}

impl From<u32> for LinkType {
    fn from(value: u32) -> Self {
        match value {
            LinkType::NULL => LinkType::Null,
            LinkType::ETHERNET => LinkType::Ethernet,
            LinkType::PPP => LinkType::Ppp,
            LinkType::PPP_HDLC => LinkType::PppHdlc,
            LinkType::PPP_ETHER => LinkType::PppEther,
            LinkType::DLT_RAW | LinkType::DLT_RAW_OPENBSD | LinkType::RAW => LinkType::Raw,
            LinkType::C_HDLC => LinkType::CiscoHdlc,
            LinkType::IEEE802_11 => LinkType::Ieee80211,
            LinkType::LOOP => LinkType::Loop,
            LinkType::LINUX_SLL => LinkType::LinuxSll,
            LinkType::IEEE802_11_PRISM => LinkType::Ieee80211Prism,
            LinkType::IEEE802_11_RADIOTAP => LinkType::Ieee80211Radiotap,
            LinkType::DLT_PKTAP | LinkType::PKTAP => LinkType::Pktap,
            LinkType::IEEE802_11_AVS => LinkType::Ieee80211Avs,
            LinkType::JUNIPER_ETHER => LinkType::JuniperEther,
            LinkType::ERF => LinkType::Erf,
            LinkType::IPV4 => LinkType::Ipv4,
            LinkType::IPV6 => LinkType::Ipv6,
            LinkType::NFLOG => LinkType::Nflog,
            LinkType::IPOIB => LinkType::Ipoib,
            LinkType::LINUX_SLL2 => LinkType::LinuxSll2,
            n => LinkType::Unknown(n),
        }
    }
}

impl LinkType {
    /// The `LINKTYPE_` name of a link type value (without the prefix), for messages; `None`
    /// for a value not in the table (unassigned, or rare).
    pub fn name(value: u32) -> Option<&'static str> {
        Some(match value {
            0 => "NULL",
            1 => "ETHERNET",
            3 => "AX25",
            6 => "IEEE802_5",
            7 => "ARCNET_BSD",
            8 => "SLIP",
            9 => "PPP",
            10 => "FDDI",
            12 | 14 | 101 => "RAW",
            50 => "PPP_HDLC",
            51 => "PPP_ETHER",
            100 => "ATM_RFC1483",
            104 => "C_HDLC",
            105 => "IEEE802_11",
            107 => "FRELAY",
            108 => "LOOP",
            113 => "LINUX_SLL",
            114 => "LTALK",
            117 => "PFLOG",
            119 => "IEEE802_11_PRISM",
            122 => "IP_OVER_FC",
            123 => "SUNATM",
            127 => "IEEE802_11_RADIOTAP",
            129 => "ARCNET_LINUX",
            138 => "APPLE_IP_OVER_IEEE1394",
            139 => "MTP2_WITH_PHDR",
            140 => "MTP2",
            141 => "MTP3",
            142 => "SCCP",
            143 => "DOCSIS",
            144 => "LINUX_IRDA",
            147 => "USER0",
            148 => "USER1",
            149 => "PKTAP",
            150..=162 => USER[(value - 150) as usize],
            163 => "IEEE802_11_AVS",
            165 => "BACNET_MS_TP",
            166 => "PPP_PPPD",
            169 => "GPRS_LLC",
            177 => "LINUX_LAPD",
            178 => "JUNIPER_ETHER",
            187 => "BLUETOOTH_HCI_H4",
            189 => "USB_LINUX",
            192 => "PPI",
            195 => "IEEE802_15_4_WITHFCS",
            197 => "ERF",
            201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
            203 => "LAPD",
            204 => "PPP_WITH_DIR",
            205 => "C_HDLC_WITH_DIR",
            206 => "FRELAY_WITH_DIR",
            220 => "USB_LINUX_MMAPPED",
            226 => "IPNET",
            227 => "CAN_SOCKETCAN",
            228 => "IPV4",
            229 => "IPV6",
            230 => "IEEE802_15_4_NOFCS",
            231 => "DBUS",
            239 => "NFLOG",
            240 => "NETANALYZER",
            241 => "NETANALYZER_TRANSPARENT",
            242 => "IPOIB",
            243 => "MPEG_2_TS",
            247 => "INFINIBAND",
            248 => "SCTP",
            249 => "USBPCAP",
            251 => "BLUETOOTH_LE_LL",
            253 => "NETLINK",
            254 => "BLUETOOTH_LINUX_MONITOR",
            256 => "BLUETOOTH_LE_LL_WITH_PHDR",
            258 => "PKTAP",
            259 => "EPON",
            266 => "USB_DARWIN",
            274 => "ETHERNET_MPACKET",
            276 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

/// `LINKTYPE_USER3` to `LINKTYPE_USER15` (150-162).
const USER: [&str; 13] = [
    "USER3", "USER4", "USER5", "USER6", "USER7", "USER8", "USER9", "USER10", "USER11", "USER12",
    "USER13", "USER14", "USER15",
];

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
            (9, LinkType::Ppp),
            (50, LinkType::PppHdlc),
            (51, LinkType::PppEther),
            (104, LinkType::CiscoHdlc),
            (105, LinkType::Ieee80211),
            (119, LinkType::Ieee80211Prism),
            (127, LinkType::Ieee80211Radiotap),
            (149, LinkType::Pktap),
            (163, LinkType::Ieee80211Avs),
            (178, LinkType::JuniperEther),
            (197, LinkType::Erf),
            (239, LinkType::Nflog),
            (242, LinkType::Ipoib),
            (258, LinkType::Pktap),
            (147, LinkType::Unknown(147)),
        ] {
            assert_eq!(LinkType::from(n), t);
            assert!(LinkType::name(n).is_some(), "{n}");
        }
        assert_eq!(LinkType::name(162), Some("USER15"));
        assert_eq!(LinkType::name(150), Some("USER3"));
        assert_eq!(LinkType::name(1000), None);
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

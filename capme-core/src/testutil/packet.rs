//! Raw packet bytes built in code: link layer (Ethernet II, Linux cooked v1, or none), any stack of
//! VLAN tags (802.1Q, 802.1ad), MPLS labels, IPv4 (options, id, DF/MF, fragment offset) or IPv6
//! (extension headers), and TCP, UDP, ICMP or ICMPv6 with valid checksums.
//!
//! One [`PacketBuilder`] describes a packet from the outside in; [`build`](PacketBuilder::build)
//! returns its bytes and [`fragments`](PacketBuilder::fragments) /
//! [`fragments_mtu`](PacketBuilder::fragments_mtu) return the same datagram split into IP fragments
//! (IPv4 fragmentation, or an IPv6 fragment header inserted after the unfragmentable part).
//!
//! Setters apply to the layer they name and are ignored when that layer is absent: `id` on a
//! packet without IP, `seq` on a UDP packet, and so on. No setter panics; values that do not fit a
//! header field (a payload over 64 KiB, a VLAN id over 4095) are truncated to the field's width.
//!
//! ```
//! use capme_core::testutil::packet::{PacketBuilder, TcpFlags};
//! use std::net::Ipv4Addr;
//!
//! let syn = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
//!     .stag(300) // 802.1ad outer tag
//!     .vlan(20) // 802.1Q inner tag
//!     .ipv4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
//!     .id(7)
//!     .tcp(51234, 80)
//!     .seq(1000)
//!     .flags(TcpFlags::SYN)
//!     .build();
//! assert_eq!(syn.len(), 14 + 8 + 20 + 20);
//! assert_eq!(&syn[12..14], &[0x88, 0xa8]);
//!
//! // A 3000-byte UDP datagram as three IPv4 fragments.
//! let frags = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
//!     .ipv4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
//!     .id(42)
//!     .udp(5000, 53)
//!     .payload(&[0x55; 3000])
//!     .fragments(3);
//! assert_eq!(frags.len(), 3);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::BitOr;

/// A MAC address.
pub type Mac = [u8; 6];

/// EtherType and TPID values used by the builder.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (outer tag of QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// Local experimental EtherType, used for frames without IP when none is set.
    pub const EXPERIMENTAL: u16 = 0x88b5;
}

/// IP protocol numbers used by the builder (IPv4 `protocol`, IPv6 `next header`).
pub mod ipproto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPTS: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 no next header.
    pub const NONE: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
}

/// TCP flags (the low byte of the flags field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// True when every flag of `other` is set in `self`.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// An IPv6 extension header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv6Ext {
    /// Hop-by-hop options (next header 0). The option bytes are padded with Pad1/PadN to a
    /// multiple of 8 bytes.
    HopByHop(Vec<u8>),
    /// Destination options (next header 60), padded like [`Ipv6Ext::HopByHop`].
    DestOpts(Vec<u8>),
    /// Routing header (next header 43): type, segments left and the type-specific data (zero
    /// padded to a multiple of 8 bytes).
    Routing {
        /// Routing type.
        routing_type: u8,
        /// Segments left.
        segments_left: u8,
        /// Type-specific data after the first four bytes.
        data: Vec<u8>,
    },
    /// Fragment header (next header 44).
    Fragment {
        /// Offset in 8-byte units (13 bits).
        offset: u16,
        /// More-fragments flag.
        more: bool,
        /// Identification.
        id: u32,
    },
}

impl Ipv6Ext {
    /// The protocol number that announces this header.
    pub fn proto(&self) -> u8 {
        match self {
            Ipv6Ext::HopByHop(_) => ipproto::HOPOPTS,
            Ipv6Ext::DestOpts(_) => ipproto::DSTOPTS,
            Ipv6Ext::Routing { .. } => ipproto::ROUTING,
            Ipv6Ext::Fragment { .. } => ipproto::FRAGMENT,
        }
    }

    /// Appends the header's bytes, with `next` as its next header.
    fn write(&self, next: u8, out: &mut Vec<u8>) {
        let start = out.len();
        match self {
            Ipv6Ext::HopByHop(opts) | Ipv6Ext::DestOpts(opts) => {
                out.extend_from_slice(&[next, 0]);
                out.extend_from_slice(opts);
                let pad = (8 - (2 + opts.len()) % 8) % 8;
                match pad {
                    0 => {}
                    1 => out.push(0), // Pad1
                    n => {
                        out.extend_from_slice(&[1, (n - 2) as u8]); // PadN
                        out.resize(out.len() + n - 2, 0);
                    }
                }
            }
            Ipv6Ext::Routing {
                routing_type,
                segments_left,
                data,
            } => {
                out.extend_from_slice(&[next, 0, *routing_type, *segments_left]);
                out.extend_from_slice(data);
                let pad = (8 - (4 + data.len()) % 8) % 8;
                out.resize(out.len() + pad, 0);
            }
            Ipv6Ext::Fragment { offset, more, id } => {
                let off = ((offset & 0x1fff) << 3) | u16::from(*more);
                out.extend_from_slice(&[next, 0]);
                out.extend_from_slice(&off.to_be_bytes());
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
        let units = (out.len() - start) / 8;
        if !matches!(self, Ipv6Ext::Fragment { .. }) {
            out[start + 1] = units.saturating_sub(1).min(255) as u8;
        }
    }
}

#[derive(Debug, Clone)]
enum Link {
    Ethernet { src: Mac, dst: Mac },
    Sll { packet_type: u16, src: Mac },
    Raw,
}

#[derive(Debug, Clone)]
struct Ipv4Cfg {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tos: u8,
    ttl: u8,
    df: bool,
    mf: bool,
    offset: u16,
    options: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Ipv6Cfg {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    traffic_class: u8,
    flow_label: u32,
    hop_limit: u8,
    ext: Vec<Ipv6Ext>,
}

#[derive(Debug, Clone)]
enum Ip {
    None,
    V4(Ipv4Cfg),
    V6(Ipv6Cfg),
}

#[derive(Debug, Clone)]
enum Transport {
    /// The payload is the whole IP payload; the protocol number is given.
    Raw(u8),
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        options: Vec<u8>,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMP (v6 = false) or ICMPv6: type, code and the 4 bytes after the checksum.
    Icmp {
        v6: bool,
        icmp_type: u8,
        code: u8,
        rest: u32,
    },
}

/// Builds one packet from the outside in. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct PacketBuilder {
    link: Link,
    /// (TPID, TCI), outermost first.
    tags: Vec<(u16, u16)>,
    /// (label, traffic class, ttl), outermost first.
    mpls: Vec<(u32, u8, u8)>,
    ethertype: Option<u16>,
    ip: Ip,
    /// IPv4 identification (low 16 bits) or IPv6 fragment identification.
    id: u32,
    transport: Transport,
    payload: Vec<u8>,
    checksum: bool,
    min_len: usize,
}

impl PacketBuilder {
    fn with_link(link: Link) -> Self {
        PacketBuilder {
            link,
            tags: Vec::new(),
            mpls: Vec::new(),
            ethertype: None,
            ip: Ip::None,
            id: 0,
            transport: Transport::Raw(ipproto::NONE),
            payload: Vec::new(),
            checksum: true,
            min_len: 0,
        }
    }

    /// An Ethernet II frame from `src` to `dst` (written destination first, as on the wire).
    pub fn ethernet(src: Mac, dst: Mac) -> Self {
        Self::with_link(Link::Ethernet { src, dst })
    }

    /// A Linux cooked capture v1 (SLL, link type 113) header: packet type (0 = to us, 4 = sent
    /// by us, ...), ARPHRD_ETHER and the 6-byte source address.
    pub fn linux_sll(packet_type: u16, src: Mac) -> Self {
        Self::with_link(Link::Sll { packet_type, src })
    }

    /// No link header: the packet starts with the IP header (link type 101, raw IP). VLAN tags
    /// and MPLS labels are ignored.
    pub fn raw_ip() -> Self {
        Self::with_link(Link::Raw)
    }

    /// Appends an 802.1Q (TPID 0x8100) tag with this VLAN id; tags are written in call order,
    /// outermost first.
    pub fn vlan(self, vid: u16) -> Self {
        self.vlan_tag(ethertype::VLAN, vid & 0x0fff)
    }

    /// Appends an 802.1ad service tag (TPID 0x88a8), the outer tag of QinQ.
    pub fn stag(self, vid: u16) -> Self {
        self.vlan_tag(ethertype::QINQ, vid & 0x0fff)
    }

    /// Appends a tag with any TPID (e.g. 0x9100) and raw TCI (priority, DEI, VLAN id).
    pub fn vlan_tag(mut self, tpid: u16, tci: u16) -> Self {
        self.tags.push((tpid, tci));
        self
    }

    /// Appends an MPLS label (20 bits; traffic class 0, TTL 64). Labels come after the VLAN
    /// tags; the last one gets the bottom-of-stack bit.
    pub fn mpls(mut self, label: u32) -> Self {
        self.mpls.push((label & 0xf_ffff, 0, 64));
        self
    }

    /// Overrides the EtherType after the tags (default: from the IP version, or MPLS).
    pub fn ethertype(mut self, ethertype: u16) -> Self {
        self.ethertype = Some(ethertype);
        self
    }

    /// An IPv4 header from `src` to `dst`: TTL 64, id 0, no flags, no options.
    pub fn ipv4(mut self, src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        self.ip = Ip::V4(Ipv4Cfg {
            src,
            dst,
            tos: 0,
            ttl: 64,
            df: false,
            mf: false,
            offset: 0,
            options: Vec::new(),
        });
        self
    }

    /// An IPv6 header from `src` to `dst`: hop limit 64, no extension headers.
    pub fn ipv6(mut self, src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        self.ip = Ip::V6(Ipv6Cfg {
            src,
            dst,
            traffic_class: 0,
            flow_label: 0,
            hop_limit: 64,
            ext: Vec::new(),
        });
        self
    }

    /// IPv4 or IPv6 from two addresses. Mixed families give IPv6 with the IPv4 address mapped
    /// (`::ffff:a.b.c.d`).
    pub fn ip(self, src: IpAddr, dst: IpAddr) -> Self {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.ipv4(s, d),
            (s, d) => self.ipv6(to_v6(s), to_v6(d)),
        }
    }

    /// IPv4 identification; for IPv6 the identification of the fragment header that
    /// [`fragments`](Self::fragments) inserts.
    pub fn id(mut self, id: u16) -> Self {
        self.id = u32::from(id);
        self
    }

    /// The 32-bit identification used by IPv6 fragmentation (IPv4 keeps the low 16 bits).
    pub fn frag_id(mut self, id: u32) -> Self {
        self.id = id;
        self
    }

    /// IPv4 TTL or IPv6 hop limit.
    pub fn ttl(mut self, ttl: u8) -> Self {
        match &mut self.ip {
            Ip::V4(c) => c.ttl = ttl,
            Ip::V6(c) => c.hop_limit = ttl,
            Ip::None => {}
        }
        self
    }

    /// IPv4 type of service or IPv6 traffic class.
    pub fn tos(mut self, tos: u8) -> Self {
        match &mut self.ip {
            Ip::V4(c) => c.tos = tos,
            Ip::V6(c) => c.traffic_class = tos,
            Ip::None => {}
        }
        self
    }

    /// IPv6 flow label (20 bits).
    pub fn flow_label(mut self, label: u32) -> Self {
        if let Ip::V6(c) = &mut self.ip {
            c.flow_label = label & 0xf_ffff;
        }
        self
    }

    /// IPv4 don't-fragment flag.
    pub fn dont_fragment(mut self, df: bool) -> Self {
        if let Ip::V4(c) = &mut self.ip {
            c.df = df;
        }
        self
    }

    /// IPv4 more-fragments flag (of a hand-made fragment).
    pub fn more_fragments(mut self, mf: bool) -> Self {
        if let Ip::V4(c) = &mut self.ip {
            c.mf = mf;
        }
        self
    }

    /// IPv4 fragment offset in 8-byte units (13 bits) of a hand-made fragment. For a
    /// non-first fragment use [`raw`](Self::raw) so that no transport header is written.
    pub fn frag_offset(mut self, offset: u16) -> Self {
        if let Ip::V4(c) = &mut self.ip {
            c.offset = offset & 0x1fff;
        }
        self
    }

    /// IPv4 options, zero padded (EOL) to a multiple of 4 bytes; at most 40 bytes are kept.
    pub fn ipv4_options(mut self, options: &[u8]) -> Self {
        if let Ip::V4(c) = &mut self.ip {
            c.options = options[..options.len().min(40)].to_vec();
        }
        self
    }

    /// Appends an IPv6 extension header (in call order, after the fixed header).
    pub fn ipv6_ext(mut self, ext: Ipv6Ext) -> Self {
        if let Ip::V6(c) = &mut self.ip {
            c.ext.push(ext);
        }
        self
    }

    /// A TCP header: seq 0, ack 0, no flags, window 65535, no options.
    pub fn tcp(mut self, sport: u16, dport: u16) -> Self {
        self.transport = Transport::Tcp {
            sport,
            dport,
            seq: 0,
            ack: 0,
            flags: TcpFlags::NONE,
            window: 65535,
            options: Vec::new(),
        };
        self
    }

    /// TCP sequence number.
    pub fn seq(mut self, n: u32) -> Self {
        if let Transport::Tcp { seq, .. } = &mut self.transport {
            *seq = n;
        }
        self
    }

    /// TCP acknowledgment number (set the ACK flag with [`flags`](Self::flags)).
    pub fn ack(mut self, n: u32) -> Self {
        if let Transport::Tcp { ack, .. } = &mut self.transport {
            *ack = n;
        }
        self
    }

    /// TCP flags.
    pub fn flags(mut self, f: TcpFlags) -> Self {
        if let Transport::Tcp { flags, .. } = &mut self.transport {
            *flags = f;
        }
        self
    }

    /// TCP window.
    pub fn window(mut self, w: u16) -> Self {
        if let Transport::Tcp { window, .. } = &mut self.transport {
            *window = w;
        }
        self
    }

    /// TCP options, padded with EOL to a multiple of 4 bytes; at most 40 bytes are kept.
    pub fn tcp_options(mut self, opts: &[u8]) -> Self {
        if let Transport::Tcp { options, .. } = &mut self.transport {
            *options = opts[..opts.len().min(40)].to_vec();
        }
        self
    }

    /// A UDP header.
    pub fn udp(mut self, sport: u16, dport: u16) -> Self {
        self.transport = Transport::Udp { sport, dport };
        self
    }

    /// An ICMP header (type, code; the 4 bytes after the checksum are 0, see
    /// [`echo`](Self::echo)).
    pub fn icmp(mut self, icmp_type: u8, code: u8) -> Self {
        self.transport = Transport::Icmp {
            v6: false,
            icmp_type,
            code,
            rest: 0,
        };
        self
    }

    /// An ICMPv6 header (type, code), checksummed with the IPv6 pseudo-header.
    pub fn icmpv6(mut self, icmp_type: u8, code: u8) -> Self {
        self.transport = Transport::Icmp {
            v6: true,
            icmp_type,
            code,
            rest: 0,
        };
        self
    }

    /// ICMP/ICMPv6 echo identifier and sequence number (the 4 bytes after the checksum).
    pub fn echo(self, ident: u16, seq: u16) -> Self {
        self.icmp_rest((u32::from(ident) << 16) | u32::from(seq))
    }

    /// The 4 bytes after the ICMP/ICMPv6 checksum.
    pub fn icmp_rest(mut self, r: u32) -> Self {
        if let Transport::Icmp { rest, .. } = &mut self.transport {
            *rest = r;
        }
        self
    }

    /// No transport header: the payload is the IP payload, announced as protocol `proto`.
    pub fn raw(mut self, proto: u8) -> Self {
        self.transport = Transport::Raw(proto);
        self
    }

    /// The bytes after the transport header (replaces any earlier payload).
    pub fn payload(mut self, data: &[u8]) -> Self {
        self.payload = data.to_vec();
        self
    }

    /// Whether TCP/UDP/ICMP checksums are computed (default) or left 0. The IPv4 header
    /// checksum is always computed.
    pub fn checksum(mut self, valid: bool) -> Self {
        self.checksum = valid;
        self
    }

    /// Pads the frame with zeros to at least `len` bytes (60 = Ethernet minimum without FCS).
    pub fn min_len(mut self, len: usize) -> Self {
        self.min_len = len;
        self
    }

    /// The protocol number of the transport layer.
    fn transport_proto(&self) -> u8 {
        match &self.transport {
            Transport::Raw(p) => *p,
            Transport::Tcp { .. } => ipproto::TCP,
            Transport::Udp { .. } => ipproto::UDP,
            Transport::Icmp { v6: false, .. } => ipproto::ICMP,
            Transport::Icmp { v6: true, .. } => ipproto::ICMPV6,
        }
    }

    /// The transport header and payload, with the checksum computed over the pseudo-header of
    /// the configured IP layer.
    fn transport_bytes(&self) -> Vec<u8> {
        let mut t = Vec::with_capacity(60 + self.payload.len());
        let ck_at = match &self.transport {
            Transport::Raw(_) => None,
            Transport::Tcp {
                sport,
                dport,
                seq,
                ack,
                flags,
                window,
                options,
            } => {
                let opt_len = options.len().div_ceil(4) * 4;
                let doff = ((20 + opt_len) / 4) as u8;
                t.extend_from_slice(&sport.to_be_bytes());
                t.extend_from_slice(&dport.to_be_bytes());
                t.extend_from_slice(&seq.to_be_bytes());
                t.extend_from_slice(&ack.to_be_bytes());
                t.extend_from_slice(&[doff << 4, flags.0]);
                t.extend_from_slice(&window.to_be_bytes());
                t.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
                t.extend_from_slice(options);
                t.resize(20 + opt_len, 0);
                Some(16)
            }
            Transport::Udp { sport, dport } => {
                let len = (8 + self.payload.len()).min(0xffff) as u16;
                t.extend_from_slice(&sport.to_be_bytes());
                t.extend_from_slice(&dport.to_be_bytes());
                t.extend_from_slice(&len.to_be_bytes());
                t.extend_from_slice(&[0, 0]);
                Some(6)
            }
            Transport::Icmp {
                icmp_type,
                code,
                rest,
                ..
            } => {
                t.extend_from_slice(&[*icmp_type, *code, 0, 0]);
                t.extend_from_slice(&rest.to_be_bytes());
                Some(2)
            }
        };
        t.extend_from_slice(&self.payload);
        if let (Some(at), true) = (ck_at, self.checksum) {
            let proto = self.transport_proto();
            let len = t.len() as u32;
            let mut c = Checksum::default();
            match (&self.ip, proto) {
                (_, ipproto::ICMP) => {}
                (Ip::V4(ip), _) => {
                    c.add(&ip.src.octets());
                    c.add(&ip.dst.octets());
                    c.add(&[0, proto]);
                    c.add(&(len as u16).to_be_bytes());
                }
                (Ip::V6(ip), _) => {
                    c.add(&ip.src.octets());
                    c.add(&ip.dst.octets());
                    c.add(&len.to_be_bytes());
                    c.add(&[0, 0, 0, proto]);
                }
                (Ip::None, _) => {}
            }
            c.add(&t);
            let mut sum = c.finish();
            if sum == 0 && proto == ipproto::UDP {
                sum = 0xffff; // 0 means "no checksum" for UDP
            }
            t[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        t
    }

    /// The link header, tags and MPLS labels: everything before the IP header.
    fn link_prefix(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        let inner = self.ethertype.unwrap_or(if !self.mpls.is_empty() {
            ethertype::MPLS
        } else {
            match self.ip {
                Ip::V4(_) => ethertype::IPV4,
                Ip::V6(_) => ethertype::IPV6,
                Ip::None => ethertype::EXPERIMENTAL,
            }
        });
        match &self.link {
            Link::Raw => return out,
            Link::Ethernet { src, dst } => {
                out.extend_from_slice(dst);
                out.extend_from_slice(src);
            }
            Link::Sll { packet_type, src } => {
                out.extend_from_slice(&packet_type.to_be_bytes());
                out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                out.extend_from_slice(&6u16.to_be_bytes());
                out.extend_from_slice(src);
                out.extend_from_slice(&[0, 0]);
            }
        }
        for (tpid, tci) in &self.tags {
            out.extend_from_slice(&tpid.to_be_bytes());
            out.extend_from_slice(&tci.to_be_bytes());
        }
        out.extend_from_slice(&inner.to_be_bytes());
        for (i, (label, tc, ttl)) in self.mpls.iter().enumerate() {
            let bos = u32::from(i + 1 == self.mpls.len());
            let word = (label << 12) | (u32::from(tc & 7) << 9) | (bos << 8) | u32::from(*ttl);
            out.extend_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn ipv4_header(
        c: &Ipv4Cfg,
        id: u16,
        proto: u8,
        options: &[u8],
        offset: u16,
        mf: bool,
        payload_len: usize,
    ) -> Vec<u8> {
        let opt_len = options.len().div_ceil(4) * 4;
        let hlen = 20 + opt_len;
        let total = (hlen + payload_len).min(0xffff) as u16;
        let flags_off = (u16::from(c.df) << 14) | (u16::from(mf) << 13) | (offset & 0x1fff);
        let mut h = Vec::with_capacity(hlen);
        h.push(0x40 | (hlen / 4) as u8);
        h.push(c.tos);
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&flags_off.to_be_bytes());
        h.extend_from_slice(&[c.ttl, proto, 0, 0]);
        h.extend_from_slice(&c.src.octets());
        h.extend_from_slice(&c.dst.octets());
        h.extend_from_slice(options);
        h.resize(hlen, 0);
        let sum = internet_checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h
    }

    /// The IPv6 fixed header followed by `ext`, chained to `last_next`.
    fn ipv6_headers(c: &Ipv6Cfg, ext: &[&Ipv6Ext], last_next: u8, rest_len: usize) -> Vec<u8> {
        let mut exts = Vec::new();
        for (i, e) in ext.iter().enumerate() {
            let next = ext.get(i + 1).map_or(last_next, |n| n.proto());
            e.write(next, &mut exts);
        }
        let first_next = ext.first().map_or(last_next, |e| e.proto());
        let plen = (exts.len() + rest_len).min(0xffff) as u16;
        let vtf = (6u32 << 28) | (u32::from(c.traffic_class) << 20) | (c.flow_label & 0xf_ffff);
        let mut h = Vec::with_capacity(40 + exts.len());
        h.extend_from_slice(&vtf.to_be_bytes());
        h.extend_from_slice(&plen.to_be_bytes());
        h.extend_from_slice(&[first_next, c.hop_limit]);
        h.extend_from_slice(&c.src.octets());
        h.extend_from_slice(&c.dst.octets());
        h.extend_from_slice(&exts);
        h
    }

    fn finish_frame(&self, prefix: &[u8], ip_header: &[u8], body: &[u8]) -> Vec<u8> {
        let mut f = Vec::with_capacity((prefix.len() + ip_header.len() + body.len()).max(64));
        f.extend_from_slice(prefix);
        f.extend_from_slice(ip_header);
        f.extend_from_slice(body);
        if f.len() < self.min_len {
            f.resize(self.min_len, 0);
        }
        f
    }

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let prefix = self.link_prefix();
        let body = self.transport_bytes();
        let proto = self.transport_proto();
        let header = match &self.ip {
            Ip::None => Vec::new(),
            Ip::V4(c) => Self::ipv4_header(
                c,
                self.id as u16,
                proto,
                &c.options,
                c.offset,
                c.mf,
                body.len(),
            ),
            Ip::V6(c) => {
                let ext: Vec<&Ipv6Ext> = c.ext.iter().collect();
                Self::ipv6_headers(c, &ext, proto, body.len())
            }
        };
        self.finish_frame(&prefix, &header, &body)
    }

    /// The datagram split into `n` IP fragments of about equal size (a multiple of 8 bytes
    /// each, the last one shorter); fewer when the datagram is too small for `n`. IPv4 keeps
    /// the id, clears DF, sets MF on all but the last and copies into later fragments only the
    /// options with the copy bit. IPv6 inserts a fragment header (identification from
    /// [`id`](Self::id)/[`frag_id`](Self::frag_id)) after the hop-by-hop and routing headers.
    /// Without IP, returns the one packet.
    pub fn fragments(&self, n: usize) -> Vec<Vec<u8>> {
        let len = self.fragmentable_len();
        let piece = len.div_ceil(n.max(1)).div_ceil(8) * 8;
        self.split(piece.max(8))
    }

    /// The datagram split into fragments whose IP packets are at most `mtu` bytes (at least 8
    /// data bytes per fragment whatever the MTU).
    pub fn fragments_mtu(&self, mtu: usize) -> Vec<Vec<u8>> {
        let overhead = match &self.ip {
            Ip::None => 0,
            Ip::V4(c) => 20 + c.options.len().div_ceil(4) * 4,
            Ip::V6(c) => {
                let (unfrag, _) = split_ext(&c.ext);
                let mut tmp = Vec::new();
                for e in unfrag {
                    e.write(0, &mut tmp);
                }
                40 + tmp.len() + 8
            }
        };
        let piece = (mtu.saturating_sub(overhead) / 8 * 8).max(8);
        self.split(piece)
    }

    /// Length of the part that fragmentation splits.
    fn fragmentable_len(&self) -> usize {
        let body = self.transport_bytes().len();
        match &self.ip {
            Ip::V6(c) => {
                let (_, frag) = split_ext(&c.ext);
                let mut tmp = Vec::new();
                for e in frag {
                    e.write(0, &mut tmp);
                }
                tmp.len() + body
            }
            _ => body,
        }
    }

    /// Splits into fragments carrying `piece` bytes (a multiple of 8) each.
    fn split(&self, piece: usize) -> Vec<Vec<u8>> {
        let prefix = self.link_prefix();
        let body = self.transport_bytes();
        let proto = self.transport_proto();
        match &self.ip {
            Ip::None => vec![self.finish_frame(&prefix, &[], &body)],
            Ip::V4(c) => {
                let later_opts = copied_options(&c.options);
                let mut out = Vec::new();
                let mut at = 0;
                loop {
                    let end = (at + piece).min(body.len());
                    let last = end == body.len();
                    let opts = if at == 0 { &c.options[..] } else { &later_opts };
                    let off = c.offset.saturating_add((at / 8).min(0x1fff) as u16);
                    let mut cfg = c.clone();
                    cfg.df = false;
                    let h = Self::ipv4_header(
                        &cfg,
                        self.id as u16,
                        proto,
                        opts,
                        off,
                        !last || c.mf,
                        end - at,
                    );
                    out.push(self.finish_frame(&prefix, &h, &body[at..end]));
                    if last {
                        return out;
                    }
                    at = end;
                }
            }
            Ip::V6(c) => {
                let (unfrag, frag) = split_ext(&c.ext);
                // The fragmentable part: later extension headers, then the transport bytes.
                let mut data = Vec::new();
                for (i, e) in frag.iter().enumerate() {
                    let next = frag.get(i + 1).map_or(proto, |n| n.proto());
                    e.write(next, &mut data);
                }
                let frag_next = frag.first().map_or(proto, |e| e.proto());
                data.extend_from_slice(&body);
                let mut out = Vec::new();
                let mut at = 0;
                loop {
                    let end = (at + piece).min(data.len());
                    let last = end == data.len();
                    let fh = Ipv6Ext::Fragment {
                        offset: (at / 8).min(0x1fff) as u16,
                        more: !last,
                        id: self.id,
                    };
                    let mut chain: Vec<&Ipv6Ext> = unfrag.iter().collect();
                    chain.push(&fh);
                    let h = Self::ipv6_headers(c, &chain, frag_next, end - at);
                    out.push(self.finish_frame(&prefix, &h, &data[at..end]));
                    if last {
                        return out;
                    }
                    at = end;
                }
            }
        }
    }
}

/// Splits IPv6 extension headers into the unfragmentable part (up to the last hop-by-hop or
/// routing header) and the fragmentable rest.
fn split_ext(ext: &[Ipv6Ext]) -> (&[Ipv6Ext], &[Ipv6Ext]) {
    let cut = ext
        .iter()
        .rposition(|e| matches!(e, Ipv6Ext::HopByHop(_) | Ipv6Ext::Routing { .. }))
        .map_or(0, |i| i + 1);
    ext.split_at(cut)
}

/// The IPv4 options that RFC 791 copies into non-first fragments (copy bit set).
fn copied_options(opts: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < opts.len() {
        let kind = opts[i];
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let len = opts.get(i + 1).copied().unwrap_or(0) as usize;
                if len < 2 || i + len > opts.len() {
                    break;
                }
                if kind & 0x80 != 0 {
                    out.extend_from_slice(&opts[i..i + len]);
                }
                i += len;
            }
        }
    }
    out
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// An Ethernet + IPv4 + UDP packet from `src:sport` to `dst:dport` carrying `payload` (zero
/// MAC addresses, valid checksums, payload at byte 42): the packet most engine tests need.
///
/// ```
/// use capme_core::testutil::packet::udp4;
/// let p = udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &[7; 8]);
/// assert_eq!((p.len(), p[42]), (50, 7));
/// ```
pub fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    PacketBuilder::ethernet([0; 6], [0; 6])
        .ipv4(src.into(), dst.into())
        .udp(sport, dport)
        .payload(payload)
        .build()
}

/// Incremental RFC 1071 checksum over byte chunks of any length.
#[derive(Debug, Default, Clone)]
pub struct Checksum {
    sum: u64,
    odd: Option<u8>,
}

impl Checksum {
    /// Adds bytes, continuing where the previous chunk ended (odd lengths are fine).
    pub fn add(&mut self, mut data: &[u8]) {
        if let (Some(hi), Some((&lo, rest))) = (self.odd, data.split_first()) {
            self.sum += u64::from(u16::from_be_bytes([hi, lo]));
            self.odd = None;
            data = rest;
        }
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            self.sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [b] = chunks.remainder() {
            self.odd = Some(*b);
        }
    }

    /// The one's complement of the one's complement sum.
    pub fn finish(&self) -> u16 {
        let mut s = self.sum;
        if let Some(hi) = self.odd {
            s += u64::from(hi) << 8;
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }
}

/// The Internet checksum of `data`. Over a header that contains its own valid checksum the
/// result is 0.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut c = Checksum::default();
    c.add(data);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Mac = [2, 0, 0, 0, 0, 0xa];
    const B: Mac = [2, 0, 0, 0, 0, 0xb];

    fn v4(a: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, a)
    }
    fn v6(a: u16) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, a)
    }
    fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    /// Checks a transport checksum over the IPv4 pseudo-header.
    fn v4_l4_ok(ip: &[u8]) -> bool {
        let hl = usize::from(ip[0] & 0xf) * 4;
        let total = usize::from(be16(ip, 2));
        let mut c = Checksum::default();
        c.add(&ip[12..20]);
        c.add(&[0, ip[9]]);
        c.add(&((total - hl) as u16).to_be_bytes());
        c.add(&ip[hl..total]);
        c.finish() == 0
    }

    fn v6_l4_ok(src: &[u8], dst: &[u8], proto: u8, l4: &[u8]) -> bool {
        let mut c = Checksum::default();
        c.add(src);
        c.add(dst);
        c.add(&(l4.len() as u32).to_be_bytes());
        c.add(&[0, 0, 0, proto]);
        c.add(l4);
        c.finish() == 0
    }

    #[test]
    fn ethernet_vlans_ipv4_tcp() {
        let p = PacketBuilder::ethernet(A, B)
            .vlan(100)
            .vlan(200)
            .ipv4(v4(1), v4(2))
            .id(7)
            .dont_fragment(true)
            .ttl(33)
            .tcp(51234, 80)
            .seq(1000)
            .ack(2000)
            .flags(TcpFlags::PSH | TcpFlags::ACK)
            .window(512)
            .payload(b"hello")
            .build();
        assert_eq!(p.len(), 14 + 8 + 20 + 20 + 5);
        assert_eq!(&p[0..6], &B);
        assert_eq!(&p[6..12], &A);
        assert_eq!(be16(&p, 12), 0x8100);
        assert_eq!(be16(&p, 14), 100);
        assert_eq!(be16(&p, 16), 0x8100);
        assert_eq!(be16(&p, 18), 200);
        assert_eq!(be16(&p, 20), 0x0800);
        let ip = &p[22..];
        assert_eq!(ip[0], 0x45);
        assert_eq!(be16(ip, 2), 45);
        assert_eq!(be16(ip, 4), 7);
        assert_eq!(be16(ip, 6), 0x4000);
        assert_eq!(ip[8], 33);
        assert_eq!(ip[9], 6);
        assert_eq!(internet_checksum(&ip[..20]), 0);
        let tcp = &ip[20..];
        assert_eq!(be16(tcp, 0), 51234);
        assert_eq!(be16(tcp, 2), 80);
        assert_eq!(u32::from_be_bytes(tcp[4..8].try_into().unwrap()), 1000);
        assert_eq!(u32::from_be_bytes(tcp[8..12].try_into().unwrap()), 2000);
        assert_eq!(tcp[12], 0x50);
        assert_eq!(tcp[13], 0x18);
        assert_eq!(be16(tcp, 14), 512);
        assert_eq!(&tcp[20..], b"hello");
        assert!(v4_l4_ok(ip));

        let nock = PacketBuilder::ethernet(A, B)
            .ipv4(v4(1), v4(2))
            .tcp(1, 2)
            .checksum(false)
            .build();
        assert_eq!(be16(&nock, 14 + 20 + 16), 0);
    }

    #[test]
    fn qinq_mpls_padding_and_options() {
        let p = PacketBuilder::ethernet(A, B)
            .stag(300)
            .vlan(20)
            .mpls(16)
            .mpls(17)
            .ipv4(v4(1), v4(2))
            .ipv4_options(&[0x94, 0x04, 0, 0, 1]) // router alert + NOP
            .udp(53, 5353)
            .payload(b"x")
            .min_len(128)
            .build();
        assert_eq!(p.len(), 128);
        assert_eq!(be16(&p, 12), 0x88a8);
        assert_eq!(be16(&p, 14), 300);
        assert_eq!(be16(&p, 16), 0x8100);
        assert_eq!(be16(&p, 18), 20);
        assert_eq!(be16(&p, 20), 0x8847);
        let l1 = u32::from_be_bytes(p[22..26].try_into().unwrap());
        let l2 = u32::from_be_bytes(p[26..30].try_into().unwrap());
        assert_eq!((l1 >> 12, (l1 >> 8) & 1), (16, 0));
        assert_eq!((l2 >> 12, (l2 >> 8) & 1, l2 & 0xff), (17, 1, 64));
        let ip = &p[30..];
        assert_eq!(ip[0], 0x47); // 20 + 8 bytes of options
        assert_eq!(be16(ip, 2), 28 + 8 + 1);
        assert_eq!(internet_checksum(&ip[..28]), 0);
        assert_eq!(&ip[20..28], &[0x94, 4, 0, 0, 1, 0, 0, 0]);
        assert_eq!(be16(ip, 28 + 4), 9);
        assert!(v4_l4_ok(ip));
        assert!(ip[37..].iter().all(|&b| b == 0));

        let small = PacketBuilder::ethernet(A, B)
            .ipv4(v4(1), v4(2))
            .icmp(8, 0)
            .min_len(60)
            .build();
        assert_eq!(small.len(), 60);
    }

    #[test]
    fn ipv6_ext_headers_and_checksums() {
        let p = PacketBuilder::ethernet(A, B)
            .ipv6(v6(1), v6(2))
            .flow_label(0x12345)
            .ipv6_ext(Ipv6Ext::HopByHop(vec![5, 2, 0, 0])) // router alert
            .ipv6_ext(Ipv6Ext::DestOpts(vec![]))
            .udp(1000, 2000)
            .payload(b"abc")
            .build();
        assert_eq!(be16(&p, 12), 0x86dd);
        let ip = &p[14..];
        assert_eq!(
            u32::from_be_bytes(ip[0..4].try_into().unwrap()),
            0x6001_2345
        );
        assert_eq!(be16(ip, 4), 8 + 8 + 8 + 3);
        assert_eq!(ip[6], 0);
        // hop-by-hop: next = dstopts, len 0 (8 bytes), router alert, PadN(0)
        assert_eq!(&ip[40..48], &[60, 0, 5, 2, 0, 0, 1, 0]);
        assert_eq!(&ip[48..56], &[17, 0, 1, 4, 0, 0, 0, 0]);
        let udp = &ip[56..];
        assert_eq!(be16(udp, 4), 11);
        assert!(v6_l4_ok(&ip[8..24], &ip[24..40], 17, udp));

        let e = PacketBuilder::raw_ip()
            .ipv6(v6(1), v6(2))
            .icmpv6(128, 0)
            .echo(0x1234, 1)
            .payload(b"ping")
            .build();
        assert_eq!(e[0] >> 4, 6);
        assert_eq!(e[6], 58);
        assert_eq!(&e[40..42], &[128, 0]);
        assert_eq!(&e[44..48], &[0x12, 0x34, 0, 1]);
        assert!(v6_l4_ok(&e[8..24], &e[24..40], 58, &e[40..]));

        let icmp = PacketBuilder::linux_sll(0, A)
            .ipv4(v4(1), v4(2))
            .icmp(0, 0)
            .echo(1, 2)
            .build();
        assert_eq!(be16(&icmp, 14), 0x0800);
        assert_eq!(internet_checksum(&icmp[16 + 20..]), 0);
    }

    #[test]
    fn ipv4_fragments_reassemble() {
        let b = PacketBuilder::ethernet(A, B)
            .vlan(5)
            .ipv4(v4(1), v4(2))
            .id(0xbeef)
            .dont_fragment(true)
            .ipv4_options(&[0x94, 0x04, 0, 0, 0x07, 3, 4]) // copied RA, uncopied RR
            .udp(5000, 53)
            .payload(&(0..3000u32).map(|i| i as u8).collect::<Vec<_>>());
        let whole = b.build();
        let whole_ip = &whole[18..];
        let whole_hl = usize::from(whole_ip[0] & 0xf) * 4;
        let frags = b.fragments(3);
        assert_eq!(frags.len(), 3);
        let mut data = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let ip = &f[18..];
            let hl = usize::from(ip[0] & 0xf) * 4;
            assert_eq!(hl, if i == 0 { 28 } else { 24 });
            assert_eq!(internet_checksum(&ip[..hl]), 0);
            assert_eq!(be16(ip, 4), 0xbeef);
            let fo = be16(ip, 6);
            assert_eq!(fo & 0x4000, 0, "DF cleared");
            assert_eq!(fo & 0x2000 != 0, i < 2);
            assert_eq!(usize::from(fo & 0x1fff) * 8, data.len());
            assert_eq!(usize::from(be16(ip, 2)), ip.len());
            if i < 2 {
                assert_eq!((ip.len() - hl) % 8, 0);
            }
            data.extend_from_slice(&ip[hl..]);
        }
        assert_eq!(&data[..], &whole_ip[whole_hl..]);
        // The reassembled UDP checksum is valid against the unfragmented header.
        assert!(v4_l4_ok(whole_ip));

        let by_mtu = b.fragments_mtu(1500);
        assert_eq!(by_mtu.len(), 3);
        assert!(by_mtu.iter().all(|f| f.len() - 18 <= 1500));
        // Too many pieces for a small datagram: one fragment per 8 bytes at most.
        let tiny = PacketBuilder::raw_ip()
            .ipv4(v4(1), v4(2))
            .udp(1, 2)
            .fragments(10);
        assert_eq!(tiny.len(), 1);
        assert_eq!(be16(&tiny[0], 6) & 0x2000, 0);
    }

    #[test]
    fn ipv6_fragments_reassemble() {
        let payload: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
        let b = PacketBuilder::ethernet(A, B)
            .ipv6(v6(1), v6(2))
            .ipv6_ext(Ipv6Ext::HopByHop(vec![]))
            .frag_id(0xdead_beef)
            .udp(7000, 8000)
            .payload(&payload);
        let whole = b.build();
        let whole_l4 = &whole[14 + 48..];
        let frags = b.fragments(2);
        assert_eq!(frags.len(), 2);
        let mut data = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let ip = &f[14..];
            assert_eq!(usize::from(be16(ip, 4)), ip.len() - 40);
            assert_eq!(ip[6], 0); // hop-by-hop first
            assert_eq!(ip[40], 44); // then the fragment header
            let fh = &ip[48..56];
            assert_eq!(fh[0], 17);
            let off = be16(fh, 2);
            assert_eq!(usize::from(off >> 3) * 8, data.len());
            assert_eq!(off & 1 == 1, i == 0);
            assert_eq!(
                u32::from_be_bytes(fh[4..8].try_into().unwrap()),
                0xdead_beef
            );
            data.extend_from_slice(&ip[56..]);
        }
        assert_eq!(&data[..], whole_l4);
        assert!(v6_l4_ok(&whole[22..38], &whole[38..54], 17, whole_l4));
        assert!(b.fragments_mtu(1280).iter().all(|f| f.len() - 14 <= 1280));
    }

    #[test]
    fn checksum_helper() {
        // RFC 1071 example.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&d), !0xddf2);
        let mut c = Checksum::default();
        c.add(&d[..3]);
        c.add(&d[3..]);
        assert_eq!(c.finish(), !0xddf2);
        assert_eq!(internet_checksum(&[0xff]), !0xff00);
    }
}

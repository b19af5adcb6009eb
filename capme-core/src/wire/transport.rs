//! The first bytes of transport headers: ports (TCP, UDP, SCTP, UDP-Lite) and ICMP type/code.
//!
//! Matching needs only these, so [`PortsHeader`] and [`IcmpHeader`] check only these lengths.
//! Transcripts need the whole headers: [`TcpHeader`] (data offset checked) and [`UdpHeader`]
//! (length field checked).

use super::{between, read_u16, read_u32, read_u8};

mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const PORTS_LEN: usize = DST_PORT.end;

    pub const TCP_SEQ: Field = 4..8;
    pub const TCP_ACK: Field = 8..12;
    pub const TCP_OFFSET: usize = 12;
    pub const TCP_FLAGS: usize = 13;
    pub const TCP_WINDOW: Field = 14..16;
    pub const TCP_MIN_LEN: usize = 20;
    /// The data offset is the high nibble of byte 12, in 32-bit words.
    pub const TCP_OFFSET_SHIFT: u8 = 4;
    pub const TCP_OFFSET_UNIT: usize = 4;

    pub const UDP_LENGTH: Field = 4..6;
    pub const UDP_LEN: usize = 8;

    pub const ICMP_TYPE: usize = 0;
    pub const ICMP_CODE: usize = 1;
    pub const ICMP_LEN: usize = ICMP_CODE + 1;
}

/// The source and destination ports that open TCP, UDP, SCTP and UDP-Lite headers.
#[derive(Debug, Clone, Copy)]
pub struct PortsHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> PortsHeader<'a> {
    /// The bytes needed (4).
    pub const LEN: usize = field::PORTS_LEN;

    /// Wraps `buffer` when it holds both ports.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::PORTS_LEN).then_some(PortsHeader { buffer })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer, field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer, field::DST_PORT)
    }
}

/// The type and code that open ICMP and ICMPv6 messages.
#[derive(Debug, Clone, Copy)]
pub struct IcmpHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> IcmpHeader<'a> {
    /// The bytes needed (2).
    pub const LEN: usize = field::ICMP_LEN;

    /// Wraps `buffer` when it holds type and code.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::ICMP_LEN).then_some(IcmpHeader { buffer })
    }

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        read_u8(self.buffer, field::ICMP_TYPE)
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        read_u8(self.buffer, field::ICMP_CODE)
    }
}

/// A whole TCP header (RFC 9293) and the segment's data.
#[derive(Debug, Clone, Copy)]
pub struct TcpHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> TcpHeader<'a> {
    /// FIN flag bit.
    pub const FIN: u8 = 0x01;
    /// SYN flag bit.
    pub const SYN: u8 = 0x02;
    /// RST flag bit.
    pub const RST: u8 = 0x04;
    /// PSH flag bit.
    pub const PSH: u8 = 0x08;
    /// ACK flag bit.
    pub const ACK: u8 = 0x10;
    /// The length of a header without options (20 bytes).
    pub const MIN_HEADER_LEN: usize = field::TCP_MIN_LEN;

    /// Wraps `buffer` (the IP payload) when it holds a whole TCP header: at least 20 bytes,
    /// a data offset of at least 5 words, and the options inside `buffer`.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::TCP_MIN_LEN {
            return None;
        }
        let view = TcpHeader { buffer };
        let len = view.header_len();
        (len >= field::TCP_MIN_LEN && len <= buffer.len()).then_some(view)
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer, field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer, field::DST_PORT)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        read_u32(self.buffer, field::TCP_SEQ)
    }

    /// Acknowledgment number.
    pub fn ack(&self) -> u32 {
        read_u32(self.buffer, field::TCP_ACK)
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer, field::TCP_OFFSET) >> field::TCP_OFFSET_SHIFT)
            * field::TCP_OFFSET_UNIT
    }

    /// The flag bits (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR).
    pub fn flags(&self) -> u8 {
        read_u8(self.buffer, field::TCP_FLAGS)
    }

    /// True when every bit of `mask` is set in the flags.
    pub fn has(&self, mask: u8) -> bool {
        self.flags() & mask == mask
    }

    /// Receive window.
    pub fn window(&self) -> u16 {
        read_u16(self.buffer, field::TCP_WINDOW)
    }

    /// The segment's data: what follows the header, up to the end of the IP payload (or of
    /// the capture, when the snap length cut it).
    pub fn payload(&self) -> &'a [u8] {
        between(self.buffer, self.header_len(), self.buffer.len())
    }
}

/// A UDP header (RFC 768) and the datagram's data.
#[derive(Debug, Clone, Copy)]
pub struct UdpHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> UdpHeader<'a> {
    /// The header length (8 bytes).
    pub const HEADER_LEN: usize = field::UDP_LEN;

    /// Wraps `buffer` (the IP payload) when it holds the 8-byte header.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::UDP_LEN).then_some(UdpHeader { buffer })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer, field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer, field::DST_PORT)
    }

    /// The length field (header and data).
    pub fn length(&self) -> u16 {
        read_u16(self.buffer, field::UDP_LENGTH)
    }

    /// The datagram's data: up to the length field when it ends inside `buffer` (padding
    /// dropped), else to the end of `buffer` (a cut capture, or a length of 0 as in UDP
    /// jumbograms and segmentation offload).
    pub fn payload(&self) -> &'a [u8] {
        let len = usize::from(self.length());
        let end = if len >= field::UDP_LEN {
            len
        } else {
            self.buffer.len()
        };
        between(self.buffer, field::UDP_LEN, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_transport_fields() {
        let p = PortsHeader::new_checked(&[0x13, 0x88, 0, 80, 0xff]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (5000, 80));
        assert!(PortsHeader::new_checked(&[1, 2, 3]).is_none());
        let i = IcmpHeader::new_checked(&[8, 0]).unwrap();
        assert_eq!((i.msg_type(), i.code()), (8, 0));
        assert!(IcmpHeader::new_checked(&[8]).is_none());
    }

    #[test]
    fn wire_tcp_fields() {
        let mut h = vec![
            0x13, 0x88, 0, 80, 0, 0, 0, 7, 0, 0, 0, 9, 0x60, 0x12, 0xff, 0xff,
        ];
        h.extend_from_slice(&[0, 0, 0, 0, 2, 4, 5, 0xb4, b'h', b'i']);
        let t = TcpHeader::new_checked(&h).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (5000, 80));
        assert_eq!((t.seq(), t.ack(), t.header_len()), (7, 9, 24));
        assert!(t.has(TcpHeader::SYN | TcpHeader::ACK) && !t.has(TcpHeader::FIN));
        assert_eq!(t.window(), 0xffff);
        assert_eq!(t.payload(), b"hi");
        // Data offset beyond the buffer, below 5, or a short buffer.
        assert!(TcpHeader::new_checked(&h[..23]).is_none());
        h[12] = 0x40;
        assert!(TcpHeader::new_checked(&h).is_none());
        assert!(TcpHeader::new_checked(&h[..19]).is_none());
        h[12] = 0xf0;
        assert!(TcpHeader::new_checked(&h).is_none());
    }

    #[test]
    fn wire_udp_fields() {
        let u = UdpHeader::new_checked(&[0, 53, 0x13, 0x88, 0, 10, 0, 0, 1, 2, 0, 0]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.length()), (53, 5000, 10));
        assert_eq!(u.payload(), &[1, 2]);
        // A length past the capture, or below the header: to the end.
        let u = UdpHeader::new_checked(&[0, 53, 0, 53, 0, 99, 0, 0, 1]).unwrap();
        assert_eq!(u.payload(), &[1]);
        let u = UdpHeader::new_checked(&[0, 53, 0, 53, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(u.payload(), &[1]);
        assert!(UdpHeader::new_checked(&[0; 7]).is_none());
    }
}

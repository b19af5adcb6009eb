//! The first bytes of transport headers: ports (TCP, UDP, SCTP, UDP-Lite) and ICMP type/code.
//!
//! Matching needs only these, so the views check only these lengths; a full TCP view (with the
//! data offset checked) belongs to transcripts.

use super::{read_u16, read_u8};

mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const PORTS_LEN: usize = DST_PORT.end;

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
}

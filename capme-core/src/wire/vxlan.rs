//! The UDP tunnels: VXLAN (RFC 7348, UDP port 4789) and GENEVE (RFC 8926, UDP port 6081).

use super::{read_u16, read_u32, read_u8, rest};

mod field {
    use crate::wire::Field;

    pub const VXLAN_FLAGS: usize = 0;
    pub const VXLAN_VNI: Field = 4..8;
    pub const VXLAN_LEN: usize = 8;
    /// The I flag: the VNI is valid (RFC 7348 requires it).
    pub const VXLAN_I: u8 = 0x08;
    pub const VNI_SHIFT: u32 = 8;

    pub const GENEVE_VER_OPT: usize = 0;
    pub const GENEVE_FLAGS: usize = 1;
    pub const GENEVE_PROTOCOL: Field = 2..4;
    pub const GENEVE_VNI: Field = 4..8;
    pub const GENEVE_LEN: usize = 8;
    pub const GENEVE_VERSION_SHIFT: u8 = 6;
    pub const GENEVE_OPT_MASK: u8 = 0x3f;
    /// Option length counts 4-byte words.
    pub const GENEVE_OPT_UNIT: usize = 4;
    pub const GENEVE_O: u8 = 0x80;
}

/// The UDP destination port of VXLAN.
pub const VXLAN_PORT: u16 = 4789;
/// The UDP destination port of GENEVE.
pub const GENEVE_PORT: u16 = 6081;

/// A view of a VXLAN header (8 bytes), which an Ethernet frame follows.
#[derive(Debug, Clone, Copy)]
pub struct VxlanHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> VxlanHeader<'a> {
    /// The header's length (8 bytes).
    pub const HEADER_LEN: usize = field::VXLAN_LEN;

    /// Wraps `buffer` when it holds a whole header with the I flag set.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::VXLAN_LEN
            && read_u8(buffer, field::VXLAN_FLAGS) & field::VXLAN_I != 0)
            .then_some(VxlanHeader { buffer })
    }

    /// The VXLAN network identifier (24 bits).
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer, field::VXLAN_VNI) >> field::VNI_SHIFT
    }

    /// The inner Ethernet frame.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::VXLAN_LEN)
    }
}

/// A view of a GENEVE header (8 bytes and its options), version 0.
#[derive(Debug, Clone, Copy)]
pub struct GeneveHeader<'a> {
    buffer: &'a [u8],
}

impl<'a> GeneveHeader<'a> {
    /// Protocol type of an Ethernet payload.
    pub const PROTO_ETHERNET: u16 = 0x6558;

    /// Wraps `buffer` when it holds a whole version 0 header, options included.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        if buffer.len() < field::GENEVE_LEN {
            return None;
        }
        let view = GeneveHeader { buffer };
        let version = read_u8(buffer, field::GENEVE_VER_OPT) >> field::GENEVE_VERSION_SHIFT;
        (version == 0 && view.header_len() <= buffer.len()).then_some(view)
    }

    /// The header's length in bytes, options included (8 to 260).
    pub fn header_len(&self) -> usize {
        field::GENEVE_LEN
            + usize::from(read_u8(self.buffer, field::GENEVE_VER_OPT) & field::GENEVE_OPT_MASK)
                * field::GENEVE_OPT_UNIT
    }

    /// The O flag: an OAM (control) packet.
    pub fn is_oam(&self) -> bool {
        read_u8(self.buffer, field::GENEVE_FLAGS) & field::GENEVE_O != 0
    }

    /// The protocol type (an EtherType) of the payload.
    pub fn protocol(&self) -> u16 {
        read_u16(self.buffer, field::GENEVE_PROTOCOL)
    }

    /// The virtual network identifier (24 bits).
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer, field::GENEVE_VNI) >> field::VNI_SHIFT
    }

    /// The bytes after the header and its options.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, self.header_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_vxlan_fields() {
        let b = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xaa];
        let v = VxlanHeader::new_checked(&b).unwrap();
        assert_eq!((v.vni(), v.payload()), (0x123456, &[0xaa][..]));
        assert!(VxlanHeader::new_checked(&b[..7]).is_none());
        assert!(VxlanHeader::new_checked(&[0, 0, 0, 0, 0, 0, 1, 0]).is_none());
    }

    #[test]
    fn wire_geneve_fields() {
        // Two words of options, O flag, Ethernet.
        let mut b = vec![0x02, 0x80, 0x65, 0x58, 0, 0, 7, 0];
        b.extend_from_slice(&[1; 8]);
        b.push(0xbb);
        let g = GeneveHeader::new_checked(&b).unwrap();
        assert_eq!((g.header_len(), g.vni(), g.is_oam()), (16, 7, true));
        assert_eq!(g.protocol(), GeneveHeader::PROTO_ETHERNET);
        assert_eq!(g.payload(), &[0xbb]);
        assert!(GeneveHeader::new_checked(&b[..15]).is_none());
        b[0] = 0x40; // version 1
        assert!(GeneveHeader::new_checked(&b).is_none());
        assert!(GeneveHeader::new_checked(&[0; 7]).is_none());
    }
}

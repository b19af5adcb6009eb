//! MPLS label stack entries (RFC 3032).

use super::{read_u32, rest};

mod field {
    use crate::wire::Field;

    pub const ENTRY: Field = 0..4;
    pub const HEADER_LEN: usize = ENTRY.end;

    pub const LABEL_SHIFT: u32 = 12;
    pub const TC_SHIFT: u32 = 9;
    pub const TC_MASK: u32 = 0x7;
    pub const BOTTOM_OF_STACK: u32 = 0x100;
    pub const TTL_MASK: u32 = 0xff;
}

/// A view of one MPLS label stack entry.
#[derive(Debug, Clone, Copy)]
pub struct MplsLabel<'a> {
    buffer: &'a [u8],
}

impl<'a> MplsLabel<'a> {
    /// The length of an entry (4 bytes).
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wraps `buffer` when it holds at least a whole entry.
    pub fn new_checked(buffer: &'a [u8]) -> Option<Self> {
        (buffer.len() >= field::HEADER_LEN).then_some(MplsLabel { buffer })
    }

    fn entry(&self) -> u32 {
        read_u32(self.buffer, field::ENTRY)
    }

    /// The label value (20 bits).
    pub fn label(&self) -> u32 {
        self.entry() >> field::LABEL_SHIFT
    }

    /// Traffic class (3 bits).
    pub fn traffic_class(&self) -> u8 {
        ((self.entry() >> field::TC_SHIFT) & field::TC_MASK) as u8
    }

    /// True for the last entry of the stack.
    pub fn bottom_of_stack(&self) -> bool {
        self.entry() & field::BOTTOM_OF_STACK != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        (self.entry() & field::TTL_MASK) as u8
    }

    /// The bytes after this entry.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buffer, field::HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_mpls_fields() {
        // label 0x12345, TC 5, bottom of stack, TTL 64.
        let b = [0x12, 0x34, 0x5b, 0x40, 0x45];
        let m = MplsLabel::new_checked(&b).unwrap();
        assert_eq!(m.label(), 0x12345);
        assert_eq!(m.traffic_class(), 5);
        assert!(m.bottom_of_stack());
        assert_eq!(m.ttl(), 64);
        assert_eq!(m.payload(), &[0x45]);
        assert!(MplsLabel::new_checked(&b[..3]).is_none());
        assert!(!MplsLabel::new_checked(&[0, 0, 0, 0])
            .unwrap()
            .bottom_of_stack());
    }
}

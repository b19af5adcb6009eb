//! Header views over packet bytes, smoltcp style: `new_checked` validates every length an
//! accessor will later index, so accessors cannot panic.
//!
//! TODO(helper A): ethernet, vlan, mpls, sll, sll2, null/loop, raw ip, ipv4, ipv6 + extension
//! headers, transport; `decode`.

pub mod decode;

pub use decode::{decode, Decoded, Fragment};

//! Community ID v1 (https://github.com/corelight/community-id-spec).
//!
//! TODO(helper A): implement `CommunityId::of_key`, parsing, base64/hex output and the baseline tests.

use crate::flow::FlowKey;

/// A Community ID v1 value: the SHA-1 digest of a canonical flow tuple and a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommunityId {
    digest: [u8; 20],
}

impl CommunityId {
    /// The Community ID of a canonical key.
    pub fn of_key(_key: &FlowKey, _seed: u16) -> CommunityId {
        unimplemented!()
    }
}

//! capme-core: pull the packets of one connection out of rolling full-packet-capture stores.

#![warn(missing_docs)]

pub mod capture;
pub mod error;
pub mod flow;
pub mod sink;
pub mod time;
pub mod wire;

pub use error::{Error, Result};
pub use flow::{CommunityId, Endpoint, FlowKey, Proto};
pub use time::{TimeWindow, Timestamp};
#[doc(hidden)]
pub mod testutil;

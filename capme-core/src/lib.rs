//! capme-core: pull the packets of one connection out of rolling full-packet-capture stores.
//!
//! A query (a flow and a time window) goes through five stages, each owned by one module:
//!
//! ```text
//! Query ─► store: which capture files overlap the window?       (discovery, spans, plan)
//!       ─► search: read each file's records in the window        (one reader per rotation chain)
//!       ─► matcher: does this record belong to the flow?         (wire decode → FlowKey, fragments)
//!       ─► merge: one stream in timestamp order across files     (k-way, bounded memory)
//!       ─► sink: where matched records go                        (pcap, pcapng, archive)
//! ```
//!
//! ## The module ladder
//! Each module imports only modules on lower rungs (`tests/ladder.rs` checks it):
//!
//! ```text
//! extract   the whole job: plan → search → sink, the Summary, Store::search/extract/transcript,
//!           Store::grow_window (--whole-flow)
//! pivot     a query from a CapMe/SOC URL or a Zeek conn.log uid; QuerySpec: every query form
//! transcript  TCP reassembly, UDP datagrams, IP defragmentation, HTTP decoding: a sink
//! sink      Sink; pcap and pcapng writers; FileSink (atomic); archive (naming, verified cache)
//! search    scan loop, flow control, chains (fragments, reorder), merge; the matcher
//! index     format, keys, build, view, query (open_reader), maintenance (build, orphans)
//! store     discovery, spans, the window → file plan, the sidecar naming rule
//! packet    Packet: what a search yields and a sink consumes
//! capture   pcap/pcapng framing (capture::pcap: the pcap layout), seek and resync
//! query     FlowSpec, Query, QueryText: the one parser of a query's text fields
//! flow      FlowKey (canonical, bidirectional, FlowKey::of_decoded), Endpoint, Community ID
//! wire      header views, decode; Proto (the IP protocol number)
//! time      Timestamp (i64 ns), TimeWindow
//! error, hash, io   Error and ErrorKind; FNV; positional reads and RangesReader
//! ```
//!
//! ```no_run
//! use capme_core::{FlowSpec, Query, Store, TimeWindow};
//!
//! let store = Store::open(["/nsm/sensor_data"])?;
//! let flow = FlowSpec::parse_tuple("10.0.0.1", Some("51234"), "93.184.216.34", Some("80"), Some("tcp"))?;
//! let query = Query::new(flow, TimeWindow::parse("1700000000", "1700000100")?);
//! let summary = store.extract_to_file(&query, "out.pcap")?;
//! println!("{} packets", summary.packets);
//! for packet in store.search(&query)? {
//!     let packet = packet?;
//!     println!("{} {} bytes from {}", packet.ts, packet.data.len(), packet.file.display());
//! }
//! # Ok::<(), capme_core::Error>(())
//! ```

#![warn(missing_docs)]

pub mod capture;
pub mod error;
pub mod extract;
pub mod flow;
pub mod hash;
pub mod index;
pub mod io;
pub mod packet;
pub mod pivot;
pub mod query;
pub mod search;
pub mod sink;
pub mod store;
pub mod time;
pub mod transcript;
pub mod wire;

#[cfg(any(test, feature = "testutil"))]
#[doc(hidden)]
pub mod testutil;

pub use error::{Error, ErrorKind, Result};
pub use extract::{Encapsulated, Grown, Summary};
pub use flow::{CommunityId, Endpoint, FlowKey, Proto};
pub use packet::Packet;
pub use pivot::QuerySpec;
pub use query::{tuple_community_id, FlowSpec, Layer, Query, QueryText};
pub use search::{ScanOptions, Search};
pub use sink::{FileSink, Sink};
pub use store::Store;
pub use time::{TimeWindow, Timestamp};
pub use transcript::{Style, Transcript, TranscriptOptions};

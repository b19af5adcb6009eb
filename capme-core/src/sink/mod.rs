//! Where matched packets go.
//!
//! A [`Sink`] receives the merged stream of a search. The searcher never knows where packets
//! end up; sinks never know how files were read. [`FileSink`] writes a capture file (pcap, or
//! pcapng when the inputs differ, or when the file is named `*.pcapng`) atomically; the archive
//! is a [`FileSink`] at a path named for the query. The Python and C bindings pull packets
//! from a [`crate::search::Search`] iterator instead of pushing them into a sink.

pub mod archive;
pub mod decap;
pub mod file;
pub mod pcap;
pub mod pcapng;

pub use decap::Decapsulator;
pub use file::{check_output, write_file_atomically, FileSink};
pub use pcap::PcapFileWriter;
pub use pcapng::PcapngFileWriter;

use crate::error::Result;
use crate::packet::Packet;

/// Receives matched packets in timestamp order.
pub trait Sink {
    /// Called once before the first packet.
    fn begin(&mut self) -> Result<()> {
        Ok(())
    }

    /// Receives one packet. Return `Ok(false)` to stop the search early.
    fn packet(&mut self, packet: &Packet) -> Result<bool>;

    /// Called once after the last packet when at least one packet was received and no error
    /// occurred. A sink that is dropped without `finish` must leave nothing behind.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Collects packets in memory (for tests and small results).
impl Sink for Vec<Packet> {
    fn packet(&mut self, packet: &Packet) -> Result<bool> {
        self.push(packet.clone());
        Ok(true)
    }
}

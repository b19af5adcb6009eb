//! Where matched packets go.

pub mod pcap;

pub use pcap::PcapFileWriter;

//! Small pcap/pcapng files for tests (helper B).

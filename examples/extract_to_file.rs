//! Extracts one connection from a capture store into a pcap file: what `capme extract ... -o
//! FILE` does, through the library.
//!
//! ```text
//! cargo run --example extract_to_file -- [--store DIR] [--out FILE]
//!     [--sip IP --spt PORT --dip IP --dpt PORT --proto P --stime TIME --etime TIME]
//! ```
//!
//! Defaults: the bundled sample store (`examples/data/store`) and the README's connection, an
//! SSH session carried in QinQ (15 packets), written to `flow.pcap`.

use capme_core::{QueryText, Store};

/// The value after `name` on the command line, if given.
fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store_dir = arg("--store")
        .unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/store").into());
    let out = arg("--out").unwrap_or("flow.pcap".into());
    let field = |name: &str, default: &str| arg(name).unwrap_or(default.into());
    let (sip, spt, dip, dpt, proto) = (
        field("--sip", "10.10.5.10"),
        field("--spt", "52001"),
        field("--dip", "10.10.5.20"),
        field("--dpt", "22"),
        field("--proto", "tcp"),
    );
    let (stime, etime) = (
        field("--stime", "1718407577"),
        field("--etime", "1718407578"),
    );

    // The query's text fields are parsed (and checked) as the CLI and the bindings parse them.
    let query = QueryText {
        sip: Some(&sip),
        spt: Some(&spt),
        dip: Some(&dip),
        dpt: Some(&dpt),
        proto: Some(&proto),
        stime: &stime,
        etime: &etime,
        ..Default::default()
    }
    .parse()?;

    let store = Store::open([&store_dir])?;
    // Written to a temporary file and renamed into place: a failed or empty extraction leaves
    // no file behind (an empty one is `Error::NoPackets`).
    let summary = store.extract_to_file(&query, &out)?;
    println!(
        "{} packets, {} bytes written to {out}",
        summary.packets, summary.bytes
    );
    println!(
        "community id {}, {} files scanned, {} bytes read",
        summary.community_id.unwrap_or_default(),
        summary.files_scanned,
        summary.bytes_read
    );
    Ok(())
}

//! Streams the packets of one connection, in timestamp order across files and sensors, and
//! prints a line for each: what a program does that consumes packets instead of a file.
//!
//! ```text
//! cargo run --example stream_packets -- [--store DIR]
//!     [--sip IP --spt PORT --dip IP --dpt PORT --proto P --stime TIME --etime TIME]
//! ```
//!
//! Defaults: the bundled sample store (`examples/data/store`) and the README's connection.

use capme_core::{FlowSpec, Query, Store, TimeWindow};

/// The value after `name` on the command line, if given.
fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn main() -> Result<(), capme_core::Error> {
    let store_dir = arg("--store")
        .unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/store").into());
    let field = |name: &str, default: &str| arg(name).unwrap_or(default.into());

    // Direction does not matter: the reverse tuple finds the same packets.
    let flow = FlowSpec::parse_tuple(
        &field("--sip", "10.10.5.10"),
        Some(&field("--spt", "52001")),
        &field("--dip", "10.10.5.20"),
        Some(&field("--dpt", "22")),
        Some(&field("--proto", "tcp")),
    )?;
    let window = TimeWindow::parse(
        &field("--stime", "1718407577"),
        &field("--etime", "1718407578"),
    )?;
    let query = Query::new(flow, window);

    let store = Store::open([&store_dir])?;
    let mut count = 0;
    // `search` yields packets as they are found (bounded memory); each is the captured record,
    // unchanged, with its time, its interface and the file it came from.
    for packet in store.search(&query)? {
        let packet = packet?;
        count += 1;
        println!(
            "{} {} bytes sensor {} file {}",
            packet.ts,
            packet.data.len(),
            packet.sensor,
            packet.file.display()
        );
    }
    println!("{count} packets");
    Ok(())
}

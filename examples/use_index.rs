//! Builds the flow index of a store, then extracts a connection through it: what `capme index
//! --index-dir DIR` followed by `capme extract --index-dir DIR ...` do, through the library.
//!
//! ```text
//! cargo run --example use_index -- [--store DIR] [--index-dir DIR] [--out FILE]
//! ```
//!
//! Defaults: the bundled sample store (`examples/data/store`), the index in a fresh temporary
//! directory removed at the end (from the `tempfile` crate; a store opened without
//! `with_index_dir` keeps its index beside the captures, under `<root>/.capme/`), and the
//! README's connection, written to `flow.pcap`.

use capme_core::{FlowSpec, Query, Store, TimeWindow};

/// The value after `name` on the command line, if given.
fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store_dir = arg("--store")
        .unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/store").into());
    let out = arg("--out").unwrap_or("flow.pcap".into());
    let tmp = tempfile::tempdir()?;
    let index_dir = arg("--index-dir").map_or(tmp.path().to_path_buf(), Into::into);

    // The index lives under `index_dir`, mirroring the capture files' paths: the captures can
    // be read-only. Use the same directory to build and to query.
    let store = Store::open([&store_dir])?.with_index_dir(&index_dir);
    let report = store.build_indexes()?;
    println!(
        "indexed {} capture files ({} fresh already, {} skipped): {} bytes of index for {} bytes of captures in {}",
        report.built,
        report.fresh,
        report.skipped,
        report.index_bytes,
        report.capture_bytes,
        index_dir.display()
    );

    let flow = FlowSpec::parse_tuple(
        "10.10.5.10",
        Some("52001"),
        "10.10.5.20",
        Some("22"),
        Some("tcp"),
    )?;
    let query = Query::new(flow, TimeWindow::parse("1718407577", "1718407578")?);
    // The same result as a scan; only the flow's own records are read.
    let summary = store.extract_to_file(&query, &out)?;
    println!(
        "{} packets written to {out}: {} files answered from the index, {} scanned, {} bytes read",
        summary.packets, summary.files_indexed, summary.files_scanned, summary.bytes_read
    );
    Ok(())
}

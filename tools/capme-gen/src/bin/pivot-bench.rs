//! Runs many pivots in one process, as the Python binding or a long-running service does, and
//! prints each one's wall time: the macro benchmark's in-process measurement (no process start
//! per pivot). `benches/macro.py` builds and runs it.
//!
//! ```text
//! cargo run --release -p capme-gen --bin pivot-bench -- STORE OUTDIR [--index-dir DIR | --no-index] < queries
//! ```
//! Each line of standard input is `proto sip spt dip dpt stime etime`; each output line is
//! `<microseconds> <packets> <bytes>`.

use capme_core::{Error, FlowSpec, Query, Store, TimeWindow};
use std::io::BufRead;
use std::time::Instant;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: pivot-bench STORE OUTDIR [--index-dir DIR | --no-index] < queries");
        std::process::exit(2);
    }
    let mut store = Store::open([&args[0]])?;
    match args.get(2).map(String::as_str) {
        Some("--index-dir") => store = store.with_index_dir(&args[3]),
        Some("--no-index") => store = store.use_index(false),
        _ => {}
    }
    let out = std::path::Path::new(&args[1]).join("pivot.pcap");
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| Error::io("stdin", e))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 7 {
            continue;
        }
        let t0 = Instant::now();
        let flow = FlowSpec::parse_tuple(f[1], Some(f[2]), f[3], Some(f[4]), Some(f[0]))?;
        let q = Query::new(flow, TimeWindow::parse(f[5], f[6])?);
        let packets = match store.extract_to_file(&q, &out) {
            Ok(s) => (s.packets, s.bytes),
            Err(Error::NoPackets { .. }) => (0, 0),
            Err(e) => return Err(e),
        };
        println!("{} {} {}", t0.elapsed().as_micros(), packets.0, packets.1);
    }
    Ok(())
}

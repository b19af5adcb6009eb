//! `gen-scale`: writes a store of many small capture files with one known UDP flow, for the
//! scaling benchmark `benches/scale.py` (see the capme-gen library's `scale` module).
//!
//! ```text
//! cargo run --release -p capme-gen --bin gen-scale -- --out /tmp/scale/so30 --days 30 --files-per-day 8000
//! ```

use capme_gen::scale::{generate, ScaleConfig};
use clap::Parser;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let config = ScaleConfig::parse();
    let t0 = Instant::now();
    match generate(&config) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report.manifest).expect("a JSON value")
            );
            eprintln!(
                "gen-scale: {} files, {} packets, {} bytes in {} ({:.1} s)",
                report.files,
                report.packets,
                report.bytes,
                config.out.display(),
                t0.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-scale: {e}");
            ExitCode::FAILURE
        }
    }
}

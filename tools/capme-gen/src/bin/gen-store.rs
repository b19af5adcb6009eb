//! `gen-store`: writes a deterministic Security Onion style capture store (see the capme-gen
//! library's documentation for what it holds).
//!
//! ```text
//! cargo run --release -p capme-gen --bin gen-store -- --out /tmp/store --manifest /tmp/manifest.json
//! ```

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let config = capme_gen::Config::parse();
    match capme_gen::generate(&config) {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("gen-store: warning: {w}");
            }
            eprintln!(
                "gen-store: {} sensors, {} files, {} bytes, {} named flows in {}",
                report.sensors,
                report.files,
                report.bytes,
                report.named_flows,
                config.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-store: {e}");
            ExitCode::FAILURE
        }
    }
}

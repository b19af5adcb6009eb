//! Helpers shared by the CLI's integration tests (each test file includes this module with
//! `mod common;`; not every file uses every helper).
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The bundled sample store (read only: tests never write into it).
pub fn store() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/store")
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The JSON object a successful command printed on stdout (panics naming the exit code and
/// stderr otherwise).
pub fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("stdout is one JSON object")
}

/// A command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The QinQ SSH flow of the sample store and its window: 15 packets, 1718407577.678912 to
/// 1718407578.222645, read from both sensors (CapMe's filter lost it).
pub const QINQ: [&str; 14] = [
    "--sip",
    "10.10.5.10",
    "--spt",
    "52001",
    "--dip",
    "10.10.5.20",
    "--dpt",
    "22",
    "--proto",
    "tcp",
    "--stime",
    "1718407577",
    "--etime",
    "1718407578",
];

//! Helpers shared by the CLI's integration tests (each test file includes this module with
//! `mod common;`; not every file uses every helper).
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The capme binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_capme")
}

/// Runs `capme ARGS` to completion.
pub fn capme(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// A `capme serve` process, killed when the test ends, however it ends.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `capme serve --listen 127.0.0.1:0 --insecure-no-auth ARGS` and returns it with its
/// base URL (from its "listening on" line); the rest of its stderr is drained.
pub fn serve(args: &[&str]) -> (Server, String) {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--insecure-no-auth"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server's stderr ended before it listened")
            .unwrap();
        if let Some(url) = line.split("listening on ").nth(1) {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Server(child), url)
}

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

//! `capme serve` from the command line: `--add-user` writes a users file, the server then asks
//! for HTTP basic credentials; anonymous access is refused off loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_capme")
}

fn store() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/store")
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `capme serve ... --listen 127.0.0.1:0` and returns it with the port it listens on
/// (from its "listening on" line).
fn start(extra: &[&str]) -> (Server, u16) {
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--store",
            store().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("the server's stderr").unwrap();
        if let Some(url) = line.split("listening on ").nth(1) {
            break url.rsplit(':').next().unwrap().trim().parse().unwrap();
        }
    };
    // Keep draining stderr (the request log) so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (Server(child), port)
}

/// A GET with optional basic credentials (already base64); the status code.
fn status(port: u16, path: &str, basic: Option<&str>) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = basic.map_or(String::new(), |b| format!("Authorization: Basic {b}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

const SUMMARY: &str = "/api/v1/summary?sip=10.10.1.10&spt=51000&dip=10.10.1.20&dpt=80&stime=1718406497&etime=1718406498";

#[test]
fn add_user_then_basic_auth() {
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("users");
    let mut add = Command::new(bin())
        .args([
            "serve",
            "--users",
            users.to_str().unwrap(),
            "--add-user",
            "alice",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(add.wait().unwrap().success());
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(text.starts_with("alice:$argon2id$"), "{text}");
    assert!(!text.contains("s3cret"));

    let (_server, port) = start(&["--users", users.to_str().unwrap()]);
    assert_eq!(status(port, SUMMARY, None), 401);
    // alice:wrong, alice:s3cret
    assert_eq!(status(port, SUMMARY, Some("YWxpY2U6d3Jvbmc=")), 401);
    assert_eq!(status(port, SUMMARY, Some("YWxpY2U6czNjcmV0")), 200);
    assert_eq!(status(port, "/healthz", None), 200);
}

#[test]
fn anonymous_only_on_loopback_and_only_when_asked() {
    let refused = |listen: &str, extra: &[&str]| {
        let o = Command::new(bin())
            .args([
                "serve",
                "--store",
                store().to_str().unwrap(),
                "--listen",
                listen,
            ])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = refused("0.0.0.0:0", &["--insecure-no-auth"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--insecure-no-auth") && err.contains("0.0.0.0"),
        "{err}"
    );
    let (code, err) = refused("127.0.0.1:0", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--users"), "{err}");
    let (_server, port) = start(&["--insecure-no-auth"]);
    assert_eq!(status(port, SUMMARY, None), 200);
}

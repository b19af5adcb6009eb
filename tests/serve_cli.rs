//! `capme serve` from the command line: `--add-user` writes a users file, the server then asks
//! for HTTP basic credentials; `--add-token` prints a token and stores its hash, the server then
//! takes it as a bearer token; anonymous access is refused off loopback; `--no-watch` turns the
//! inotify-kept listing off.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

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
    let (server, port, _log) = start_logged(extra);
    (server, port)
}

/// [`start`], with the lines the server writes to stderr after "listening on" (the request
/// log) sent to the receiver.
fn start_logged(extra: &[&str]) -> (Server, u16, mpsc::Receiver<String>) {
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
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Server(child), port, rx)
}

/// A GET with optional basic credentials (already base64); the status code.
fn status(port: u16, path: &str, basic: Option<&str>) -> u16 {
    let auth = basic.map(|b| format!("Basic {b}"));
    get(port, path, auth.as_deref()).0
}

/// A GET with an optional `Authorization` value; the status code and the whole response.
fn get(port: u16, path: &str, authorization: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    (out.split(' ').nth(1).unwrap().parse().unwrap(), out)
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
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

#[test]
fn add_token_prints_it_once_then_bearer_auth_names_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    let add = |name: &str| {
        let o = Command::new(bin())
            .args([
                "serve",
                "--tokens",
                tokens.to_str().unwrap(),
                "--add-token",
                name,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        let out = String::from_utf8(o.stdout).unwrap();
        // One line on stdout: the token; stderr says where its hash went, not the token.
        assert_eq!(out.lines().count(), 1, "{out}");
        let token = out.trim_end().to_owned();
        assert_eq!(token.len(), 43, "{token}");
        assert!(!err.contains(&token) && err.contains(name), "{err}");
        token
    };
    let manager = add("so-manager");
    let other = add("other");
    assert_ne!(manager, other);
    let text = std::fs::read_to_string(&tokens).unwrap();
    assert_eq!(
        text,
        format!(
            "so-manager {}\nother {}\n",
            capme_auth::hash_token(&manager),
            capme_auth::hash_token(&other)
        )
    );
    assert!(!text.contains(&manager) && !text.contains(&other));
    #[cfg(unix)]
    assert_eq!(mode(&tokens), 0o600);

    // --add-token without --tokens, and a bad name, are refused before anything is written.
    let o = Command::new(bin())
        .args(["serve", "--add-token", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tokens"));
    let o = Command::new(bin())
        .args([
            "serve",
            "--tokens",
            tokens.to_str().unwrap(),
            "--add-token",
            "a:b",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success() && o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"a:b\""));

    let (_server, port, log) = start_logged(&["--tokens", tokens.to_str().unwrap()]);
    let (code, response) = get(port, SUMMARY, None);
    assert_eq!(code, 401);
    assert!(
        response.contains("www-authenticate: Bearer realm=\"capme\"\r\n"),
        "{response}"
    );
    let (code, response) = get(port, SUMMARY, Some(&format!("Bearer {manager}x")));
    assert_eq!(code, 401);
    assert!(response.contains("error=\"invalid_token\""), "{response}");
    // Basic credentials are not accepted by a tokens-only server, even with the token.
    assert_eq!(status(port, SUMMARY, Some(&manager)), 401);
    assert_eq!(
        get(port, SUMMARY, Some(&format!("Bearer {manager}"))).0,
        200
    );
    // The request log names the token's NAME as the user, and never holds a token.
    // (The log line is written when the body is done, maybe after the client has it.)
    let line = loop {
        let l = log
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the request log line");
        if l.contains(" status=200 ") {
            break l;
        }
    };
    assert!(line.contains("user=\"so-manager\""), "{line}");
    assert!(!line.contains(&manager), "{line}");
}

#[test]
fn tokens_and_users_together_and_tokens_with_another_mode_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    let o = Command::new(bin())
        .args([
            "serve",
            "--tokens",
            tokens.to_str().unwrap(),
            "--add-token",
            "t",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let token = String::from_utf8(o.stdout).unwrap().trim_end().to_owned();
    let o = Command::new(bin())
        .args([
            "serve",
            "--store",
            store().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--tokens",
            tokens.to_str().unwrap(),
            "--trusted-header",
            "X-Remote-User",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--tokens and --trusted-header exclude one another"),
        "{err}"
    );

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
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(add.wait().unwrap().success());
    let (_server, port) = start(&[
        "--users",
        users.to_str().unwrap(),
        "--tokens",
        tokens.to_str().unwrap(),
    ]);
    let (code, response) = get(port, SUMMARY, None);
    assert_eq!(code, 401);
    assert!(
        response.contains(
            "www-authenticate: Basic realm=\"capme\", charset=\"UTF-8\", Bearer realm=\"capme\""
        ),
        "{response}"
    );
    assert_eq!(status(port, SUMMARY, Some("YWxpY2U6czNjcmV0")), 200);
    assert_eq!(get(port, SUMMARY, Some(&format!("Bearer {token}"))).0, 200);
    assert_eq!(get(port, SUMMARY, Some("Bearer s3cret")).0, 401);
}

/// The `capme_listing_cache_enabled` gauge of /metrics.
fn listing_cache_enabled(port: u16) -> String {
    let (code, text) = get(port, "/metrics", None);
    assert_eq!(code, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("capme_listing_cache_enabled "))
        .unwrap_or_else(|| panic!("no capme_listing_cache_enabled in {text}"))
        .to_owned()
}

#[test]
fn no_watch_answers_with_the_listing_cache_off() {
    // The store, copied to a temporary directory (a local file system, watched by default).
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&store(), tmp.path());
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "--insecure-no-auth",
            "--store",
            tmp.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        start(&args)
    };
    let (_watched, port) = serve(&[]);
    assert_eq!(status(port, SUMMARY, None), 200);
    assert_eq!(listing_cache_enabled(port), "1");
    let (_unwatched, port) = serve(&["--no-watch"]);
    let (code, body) = get(port, SUMMARY, None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"packets\":"), "{body}");
    assert_eq!(listing_cache_enabled(port), "0");

    let o = Command::new(bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(o.stdout).unwrap();
    for flag in ["--no-watch", "--tokens <FILE>", "--add-token <NAME>"] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `capme extract --remote` sends `$CAPME_TOKEN` as a bearer token: a server with `--tokens`
/// takes it, and refuses the extraction without it (exit 3, naming the refusal).
#[test]
fn extract_remote_with_capme_token_against_a_tokens_server() {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    let o = Command::new(bin())
        .args([
            "serve",
            "--tokens",
            tokens.to_str().unwrap(),
            "--add-token",
            "analyst",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let token = String::from_utf8(o.stdout).unwrap().trim_end().to_owned();
    let (_server, port) = start(&["--tokens", tokens.to_str().unwrap()]);
    let out = tmp.path().join("flow.pcap");
    let extract = |token: Option<&str>| {
        let mut c = Command::new(bin());
        c.args([
            "extract",
            "--remote",
            &format!("http://127.0.0.1:{port}"),
            "--sip",
            "10.10.1.10",
            "--spt",
            "51000",
            "--dip",
            "10.10.1.20",
            "--dpt",
            "80",
            "--stime",
            "1718406497",
            "--etime",
            "1718406498",
            "-o",
            out.to_str().unwrap(),
        ])
        .env_remove("CAPME_TOKEN")
        .env_remove("CAPME_PASSWORD");
        if let Some(t) = token {
            c.env("CAPME_TOKEN", t);
        }
        c.output().unwrap()
    };
    let refused = extract(None);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!out.exists());
    let wrong = extract(Some(&format!("{token}x")));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(3), "{err}");
    assert!(!err.contains(&token), "{err}");
    let ok = extract(Some(&token));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let pcap = std::fs::read(&out).unwrap();
    assert!(pcap.len() > 24, "{} bytes", pcap.len());
}

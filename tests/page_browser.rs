//! The CapMe page (`/capme/index.php` of `capme serve`) checked in a real browser: headless
//! Chromium driven through the W3C WebDriver protocol by `chromedriver` (Debian's `chromium`
//! and `chromium-driver`).
//!
//! The store is written in a temporary directory: one HTTP connection whose request and
//! response carry `<script>` in their payload. The real `capme serve --insecure-no-auth` runs
//! on a loopback port over it; the test asserts on the DOM the browser built: the summary
//! table equals `/api/v1/summary` for the same query, the transcript shows known lines of the
//! payload with the markup as text (no `<script>` element anywhere), and the download link's
//! href, fetched, returns a valid pcap whose bytes equal `capme extract`'s. A screenshot of the
//! page is saved as a test artifact: `$CAPME_TEST_ARTIFACTS/capme-page.png`, by default
//! `<target dir>/test-artifacts/capme-page.png` (never in the source tree).
//!
//! Without chromium or chromedriver the test is skipped with a message, unless
//! `CAPME_REQUIRE_TOOLS` is set (CI, `scripts/test-all.sh`), where it fails.
//!
//! WebDriver is plain HTTP with JSON bodies: a handful of calls (new session, navigate, find,
//! execute a script, screenshot, delete session) through `ureq`, a small blocking client
//! already used by capme-serve's tests, rather than an async WebDriver crate and its runtime.

use base64::Engine;
use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::packet::{PacketBuilder, TcpFlags};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const CLIENT: [u8; 4] = [10, 20, 30, 40];
const SERVER: [u8; 4] = [10, 20, 30, 50];
const CPORT: u16 = 43210;
const SPORT: u16 = 80;
/// The first packet's time: 2024-06-14T22:13:20Z.
const T0: i64 = 1_718_403_200;

const REQUEST: &str = "GET /search?q=%3Cscript%3E HTTP/1.1\r\nHost: shop.example\r\n\
User-Agent: <script>alert('ua')</script>\r\n\r\n";
const RESPONSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 58\r\n\r\n";
const RESPONSE_BODY: &str = "<html><script>alert(\"xss\")</script><b>bold & co</b></html>";

/// Is `tool` installed? Without it the test is skipped, or fails under CAPME_REQUIRE_TOOLS.
fn have(tool: &str, package: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("CAPME_REQUIRE_TOOLS").is_some() {
            panic!("{tool} is required (CAPME_REQUIRE_TOOLS is set); install it: apt-get install {package}");
        }
        eprintln!("skipping: {tool} not installed (./scripts/test-all.sh installs {package})");
    }
    ok
}

/// The chromium binary: Debian's `chromium` (CHROMIUM overrides).
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// The connection's packets (ns timestamps): handshake, the request, the response in two
/// segments, and the close.
fn packets() -> Vec<(i64, Vec<u8>)> {
    let seg = |ms: i64, fwd: bool, seq: u32, ack: u32, flags: TcpFlags, data: &[u8]| {
        let (a, b, ap, bp) = if fwd {
            (CLIENT, SERVER, CPORT, SPORT)
        } else {
            (SERVER, CLIENT, SPORT, CPORT)
        };
        let f = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(a.into(), b.into())
            .tcp(ap, bp)
            .seq(seq)
            .ack(ack)
            .flags(flags)
            .payload(data)
            .build();
        (T0 * 1_000_000_000 + ms * 1_000_000 + 123_000, f)
    };
    let (req, head, body) = (
        REQUEST.as_bytes(),
        RESPONSE_HEAD.as_bytes(),
        RESPONSE_BODY.as_bytes(),
    );
    let c = 1000u32; // client ISN
    let s = 5000u32; // server ISN
    let ack = TcpFlags::ACK;
    let psh = TcpFlags::PSH | TcpFlags::ACK;
    let rlen = req.len() as u32;
    let (hlen, blen) = (head.len() as u32, body.len() as u32);
    vec![
        seg(0, true, c, 0, TcpFlags::SYN, &[]),
        seg(1, false, s, c + 1, TcpFlags::SYN | ack, &[]),
        seg(2, true, c + 1, s + 1, ack, &[]),
        seg(3, true, c + 1, s + 1, psh, req),
        seg(5, false, s + 1, c + 1 + rlen, ack, head),
        seg(6, false, s + 1 + hlen, c + 1 + rlen, psh, body),
        seg(
            7,
            true,
            c + 1 + rlen,
            s + 1 + hlen + blen,
            TcpFlags::FIN | ack,
            &[],
        ),
        seg(
            8,
            false,
            s + 1 + hlen + blen,
            c + 2 + rlen,
            TcpFlags::FIN | ack,
            &[],
        ),
        seg(9, true, c + 2 + rlen, s + 2 + hlen + blen, ack, &[]),
    ]
}

/// Writes the connection, plus a packet of another flow, as one capture file of a Security
/// Onion style store under `root`.
fn write_store(root: &Path) {
    let dir = root.join("sensor-web/dailylogs/2024-06-14");
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = PcapBuilder::new(1, false, false);
    let mut all = packets();
    let other = capme_core::testutil::packet::udp4(CLIENT, 5353, [224, 0, 0, 251], 5353, b"mdns");
    all.insert(4, (T0 * 1_000_000_000 + 4_000_000, other));
    for (ts, data) in &all {
        b.packet(
            (
                (ts / 1_000_000_000) as u32,
                ((ts % 1_000_000_000) / 1000) as u32,
            ),
            data,
        );
    }
    b.write(dir.join(format!("snort.log.{T0}"))).unwrap();
}

/// A child process killed (and reaped) when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program args` and returns it with the first stream line (stdout when `stdout`,
/// else stderr) that `find` accepts, mapped; the rest of that stream is drained in a thread.
fn start<T: Send + 'static>(
    program: &str,
    args: &[&str],
    stdout: bool,
    find: impl Fn(&str) -> Option<T>,
) -> (Killed, T) {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    if stdout {
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    } else {
        cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    }
    let mut child = Killed(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}")),
    );
    let stream: Box<dyn Read + Send> = if stdout {
        Box::new(child.0.stdout.take().unwrap())
    } else {
        Box::new(child.0.stderr.take().unwrap())
    };
    let mut lines = BufReader::new(stream).lines();
    let found = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{program} exited before it was ready"))
            .unwrap();
        if let Some(v) = find(&line) {
            break v;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, found)
}

/// One WebDriver session of chromedriver (deleted when dropped, which quits the browser).
struct Session {
    base: String,
}

impl Session {
    fn new(driver: &str, profile: &Path) -> Session {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": which(&chromium()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1200,1400",
                         format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let v = call("POST", &format!("{driver}/session"), Some(caps));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"));
        Session {
            base: format!("{driver}/session/{id}"),
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(method, &format!("{}{path}", self.base), body)
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn execute(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.base).call();
    }
}

/// The full path of `program` on PATH (chromedriver wants the binary's path).
fn which(program: &str) -> String {
    if program.contains('/') {
        return program.to_string();
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|f| f.is_file())
        })
        .unwrap_or_else(|| panic!("{program} not on PATH"))
        .to_string_lossy()
        .into_owned()
}

/// A WebDriver call: the response's `value` (a WebDriver error panics, naming it).
fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let req = ureq::request(method, url);
    let r = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let text = match r {
        Ok(r) => r.into_string().unwrap(),
        Err(ureq::Error::Status(code, r)) => {
            panic!(
                "{method} {url}: {code}: {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["value"].clone()
}

/// GET `url`: status and body.
fn get(url: &str) -> (u16, Vec<u8>) {
    let r = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status();
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    (status, body)
}

/// Where test artifacts go: `$CAPME_TEST_ARTIFACTS`, else `<target dir>/test-artifacts` (the
/// test binary is `<target dir>/<profile>/deps/<name>`).
fn artifact_dir() -> PathBuf {
    let dir = match std::env::var_os("CAPME_TEST_ARTIFACTS") {
        Some(d) => PathBuf::from(d),
        None => std::env::current_exe()
            .unwrap()
            .ancestors()
            .nth(3)
            .expect("the test binary in <target>/<profile>/deps")
            .join("test-artifacts"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The records of a classic pcap file (µs, little-endian, as the store's): (ts ns, data).
/// Panics unless the file is a complete pcap (header, then whole records to the end).
fn pcap_records(b: &[u8]) -> Vec<(i64, Vec<u8>)> {
    assert!(
        b.len() >= 24,
        "shorter than a pcap header: {} bytes",
        b.len()
    );
    assert_eq!(&b[..4], &0xa1b2c3d4u32.to_le_bytes(), "pcap magic");
    assert_eq!(
        u32::from_le_bytes(b[20..24].try_into().unwrap()),
        1,
        "linktype"
    );
    let mut out = Vec::new();
    let mut off = 24;
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    while off < b.len() {
        assert!(off + 16 <= b.len(), "a record header cut at {off}");
        let (s, us, incl) = (u32_at(off), u32_at(off + 4), u32_at(off + 8) as usize);
        assert!(off + 16 + incl <= b.len(), "a record cut at {off}");
        out.push((
            s as i64 * 1_000_000_000 + us as i64 * 1000,
            b[off + 16..off + 16 + incl].to_vec(),
        ));
        off += 16 + incl;
    }
    out
}

#[test]
fn the_capme_page_in_headless_chromium() {
    if !have(&chromium(), "chromium") || !have("chromedriver", "chromium-driver") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    write_store(&store);
    let capme = env!("CARGO_BIN_EXE_capme");

    // The server, on a loopback port (from its "listening on" line).
    let (_server, base) = start(
        capme,
        &[
            "serve",
            "--store",
            store.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--insecure-no-auth",
        ],
        false,
        |l| {
            l.split("listening on ")
                .nth(1)
                .map(|u| u.trim().trim_end_matches('/').to_string())
        },
    );
    let query = format!(
        "sip={}&spt={CPORT}&dip={}&dpt={SPORT}&stime={T0}&etime={}",
        std::net::Ipv4Addr::from(CLIENT),
        std::net::Ipv4Addr::from(SERVER),
        T0 + 1
    );

    // What the API says, and what `capme extract` writes, for the same query.
    let (status, summary) = get(&format!("{base}/api/v1/summary?{query}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&summary));
    let summary: Value = serde_json::from_slice(&summary).unwrap();
    assert_eq!(summary["packets"], 9, "{summary}");
    let extracted = tmp.path().join("extract.pcap");
    let o = Command::new(capme)
        .args(["extract", "--store", store.to_str().unwrap()])
        .args(["--url", &format!("index.php?{query}")])
        .args(["-o", extracted.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let extracted = std::fs::read(&extracted).unwrap();

    // The browser.
    // "Starting ChromeDriver ... on port 0", then "... started successfully on port N.".
    let (_driver, port) = start("chromedriver", &["--port=0"], true, |l| {
        let digits: String = l
            .rsplit_once("on port ")?
            .1
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u16>().ok().filter(|&p| p != 0)
    });
    let profile = tmp.path().join("chromium-profile");
    let session = Session::new(&format!("http://127.0.0.1:{port}"), &profile);
    let page_url = format!("{base}/capme/index.php?{query}");
    session.cmd("POST", "/url", Some(json!({ "url": page_url })));
    assert_eq!(
        session.execute("return document.readyState"),
        "complete",
        "the page loaded"
    );

    // The DOM: the summary table as {th: td}, the transcript's text, the link, the elements.
    let dom = session.execute(
        "const rows = {};
         for (const tr of document.querySelectorAll('main table tr')) {
             rows[tr.querySelector('th').textContent] = tr.querySelector('td').textContent;
         }
         const pre = document.querySelector('main pre');
         const a = document.querySelector('a.button');
         return {
             title: document.title,
             h1: document.querySelector('header h1').textContent,
             rows: rows,
             transcript: pre ? pre.textContent : null,
             pre_children: pre ? pre.children.length : -1,
             scripts: document.querySelectorAll('script').length,
             bolds: document.querySelectorAll('main b').length,
             href: a ? a.href : null,
             download: a ? a.hasAttribute('download') : false,
             link_text: a ? a.textContent : null,
             errors: document.querySelectorAll('.error').length,
             // Lines each summary label takes (a label wrapped in its cell is more than one).
             label_lines: Array.from(document.querySelectorAll('main table th')).map(th => {
                 const r = document.createRange();
                 r.selectNodeContents(th);
                 return [th.textContent, new Set(Array.from(r.getClientRects()).map(c => Math.round(c.top))).size];
             }),
             transcript_bottom: pre ? pre.getBoundingClientRect().bottom : 0,
             width: document.documentElement.scrollWidth,
             viewport: window.innerWidth,
         };",
    );
    let rows = &dom["rows"];
    let row = |k: &str| {
        rows[k]
            .as_str()
            .unwrap_or_else(|| panic!("no row {k:?}: {dom}"))
            .to_string()
    };
    let (src, dst) = (
        format!("{}:{CPORT}", std::net::Ipv4Addr::from(CLIENT)),
        format!("{}:{SPORT}", std::net::Ipv4Addr::from(SERVER)),
    );
    assert_eq!(dom["errors"], 0, "{dom}");
    assert_eq!(row("Source"), src);
    assert_eq!(row("Destination"), dst);
    assert_eq!(row("Protocol"), "tcp");
    assert_eq!(dom["h1"], format!("capme: tcp {src} <-> {dst}"));
    assert_eq!(row("Packets"), summary["packets"].to_string());
    assert_eq!(row("Bytes"), summary["bytes"].to_string());
    assert_eq!(
        row("Community ID"),
        summary["community_id"].as_str().unwrap()
    );
    // Times as the page prints them (RFC 3339, UTC, to the nanosecond), from the API's.
    for (k, ns) in [
        ("First packet", "first_ts_ns"),
        ("Last packet", "last_ts_ns"),
    ] {
        let ns = summary[ns].as_i64().unwrap();
        assert_eq!(row(k), capme_core::Timestamp(ns).to_rfc3339(), "{k}");
    }
    assert_eq!(row("First packet"), "2024-06-14T22:13:20.000123000Z");
    assert_eq!(row("Last packet"), "2024-06-14T22:13:20.009123000Z");
    assert_eq!(row("Sensor"), "sensor-web");
    assert_eq!(
        row("Transcript"),
        format!(
            "{} bytes from source, {} from destination",
            REQUEST.len(),
            RESPONSE_HEAD.len() + RESPONSE_BODY.len()
        )
    );

    // The transcript: CapMe's layout with the payload's lines, markup shown as text.
    let transcript = dom["transcript"].as_str().expect("a transcript <pre>");
    for line in [
        "SRC: GET /search?q=%3Cscript%3E HTTP/1.1",
        "SRC: User-Agent: <script>alert('ua')</script>",
        "DST: HTTP/1.1 200 OK",
        "DST: <html><script>alert(\"xss\")</script><b>bold & co</b></html>",
    ] {
        assert!(
            transcript.lines().any(|l| l == line),
            "no line {line:?} in the transcript:\n{transcript}"
        );
    }
    assert_eq!(dom["pre_children"], 0, "the transcript is text only");
    assert_eq!(
        dom["scripts"], 0,
        "a <script> of the payload became an element"
    );
    assert_eq!(dom["bolds"], 0, "a <b> of the payload became an element");
    assert_eq!(dom["title"], format!("tcp {src} <-> {dst}"));

    // The download link: the same query's pcap, valid, byte for byte `capme extract`'s.
    assert_eq!(dom["link_text"], "Download pcap");
    assert_eq!(dom["download"], true);
    let href = dom["href"].as_str().expect("a download link");
    assert!(href.starts_with(&format!("{base}/api/v1/pcap?")), "{href}");
    let (status, pcap) = get(href);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pcap));
    let records = pcap_records(&pcap);
    let want: Vec<(i64, Vec<u8>)> = packets();
    assert_eq!(records, want, "the link's pcap holds the flow's packets");
    assert_eq!(
        pcap, extracted,
        "the link's pcap differs from capme extract's"
    );
    assert_eq!(
        pcap.len() as u64,
        24 + 16 * summary["packets"].as_u64().unwrap() + summary["bytes"].as_u64().unwrap()
    );

    // The layout: nothing wider than the window, each label on one line.
    assert!(
        dom["width"].as_i64() <= dom["viewport"].as_i64(),
        "the page scrolls sideways: {dom}"
    );
    for l in dom["label_lines"].as_array().unwrap() {
        assert_eq!(l[1], 1, "the label {} wraps: {dom}", l[0]);
    }

    // The screenshot, as a test artifact.
    let png = session.cmd("GET", "/screenshot", None);
    let png = base64::engine::general_purpose::STANDARD
        .decode(png.as_str().expect("base64 PNG"))
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let path = artifact_dir().join("capme-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

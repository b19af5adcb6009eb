//! Many sensors (`--peer`): three servers on loopback ports over three stores (generated in
//! temporary directories). A query through one of them returns exactly the packets a local
//! extraction over all three stores returns; `sensor=PEER` is proxied; a peer that is down,
//! silent or refuses the credentials is named in the warnings while the others answer.

mod common;

use capme_core::capture::CaptureReader;
use capme_core::sink::PcapFileWriter;
use capme_core::testutil::packet::udp4;
use capme_core::{Query, QuerySpec, Store};
use capme_serve::auth::AllowLoopback;
use capme_serve::peer::{Credential, Peer};
use capme_serve::ServeConfig;
use common::TestServer;
use std::io::BufWriter;
use std::path::Path;

const START: u32 = 1_700_000_000;
const FLOW: &str =
    "sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&proto=udp&stime=1700000000&etime=1700000001";
/// Packets of the flow in each store.
const PER_STORE: u32 = 40;

/// A store with one sensor `sensor` and one capture file: `PER_STORE` packets of the flow
/// (both directions, each payload naming store and packet) between as many of another flow,
/// their times interleaved with the other stores' by `k` (no two stores share a timestamp).
/// `nanos`: a nanosecond pcap (the merged answer is then pcapng, as a local one is).
fn make_store(root: &Path, sensor: &str, k: u32, nanos: bool) {
    let dir = root.join(format!("{sensor}/dailylogs/2023-11-14"));
    std::fs::create_dir_all(&dir).unwrap();
    let f = std::fs::File::create(dir.join(format!("snort.log.{START}"))).unwrap();
    let mut w = PcapFileWriter::new(BufWriter::new(f), 1, 65535, nanos, false).unwrap();
    for i in 0..PER_STORE {
        let usec = i * 20_000 + k * 3_000;
        let frac = if nanos { usec * 1000 + 7 } else { usec };
        let payload = [k as u8, i as u8, 0xca, 0xfe];
        let p = if i % 2 == 0 {
            udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &payload)
        } else {
            udp4([10, 0, 0, 2], 53, [10, 0, 0, 1], 5000, &payload)
        };
        w.write_record((START, frac), p.len() as u32 + 2, &p)
            .unwrap();
        let noise = udp4([10, 0, 0, 3], 6000, [10, 0, 0, 4], 53, &payload);
        let frac = if nanos { (usec + 1) * 1000 } else { usec + 1 };
        w.write_record((START, frac), noise.len() as u32, &noise)
            .unwrap();
    }
    w.into_inner().unwrap();
}

fn query() -> Query {
    QuerySpec {
        sip: Some("10.0.0.1"),
        spt: Some("5000"),
        dip: Some("10.0.0.2"),
        dpt: Some("53"),
        proto: Some("udp"),
        stime: Some("1700000000"),
        etime: Some("1700000001"),
        ..Default::default()
    }
    .parse()
    .unwrap()
}

/// (timestamp ns, original length, bytes) of each packet, in order.
type Packets = Vec<(i64, u32, Vec<u8>)>;

/// The packets of a local search over `roots`.
fn local(roots: &[&Path]) -> Packets {
    Store::open(roots)
        .unwrap()
        .search(&query())
        .unwrap()
        .map(|p| {
            let p = p.unwrap();
            (p.ts.as_nanos(), p.orig_len, p.data.to_vec())
        })
        .collect()
}

/// The packets of a pcap or pcapng body.
fn parse(body: &[u8]) -> Packets {
    let mut r =
        CaptureReader::from_read(Box::new(std::io::Cursor::new(body.to_vec())), "body".into())
            .unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        out.push((rec.ts.as_nanos(), rec.orig_len, rec.data.to_vec()));
    }
    out
}

fn config(root: &Path) -> ServeConfig {
    let mut c = ServeConfig::new(
        Store::open([root]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        AllowLoopback,
    );
    c.log = false;
    c
}

fn peer(name: &str, s: &TestServer) -> Peer {
    Peer::parse(&format!("{name}={}", s.base)).unwrap()
}

/// Three stores in a temporary directory: alpha (µs), bravo (µs), charlie (ns).
struct Three {
    _dir: tempfile::TempDir,
    a: std::path::PathBuf,
    b: std::path::PathBuf,
    c: std::path::PathBuf,
}

fn three() -> Three {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    make_store(&a, "alpha", 0, false);
    make_store(&b, "bravo", 1, false);
    make_store(&c, "charlie", 2, true);
    Three { _dir: dir, a, b, c }
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_query_through_one_server_returns_what_a_local_extraction_over_all_three_returns() {
    let t = three();
    let sb = TestServer::start(config(&t.b));
    let sc = TestServer::start(config(&t.c));
    let mut ca = config(&t.a);
    ca.peers = vec![peer("bravo", &sb), peer("charlie", &sc)];
    let sa = TestServer::start(ca);

    let want = local(&[&t.a, &t.b, &t.c]);
    assert_eq!(want.len(), 3 * PER_STORE as usize);
    let r = sa.get(&format!("/api/v1/pcap?{FLOW}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(parse(&r.body), want, "the merged capture");
    // Precisions differ: pcapng, as a local extraction writes it.
    assert_eq!(&r.body[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);

    let local_sum = Store::open([&t.a, &t.b, &t.c])
        .unwrap()
        .extract(
            &query(),
            &mut capme_core::sink::FileSink::create(t._dir.path().join("l.pcap")).unwrap(),
        )
        .unwrap();
    let s = sa.get(&format!("/api/v1/summary?{FLOW}"));
    assert_eq!(s.status, 200, "{}", s.text());
    let s = s.json();
    assert_eq!(s["packets"], local_sum.packets);
    assert_eq!(s["bytes"], local_sum.bytes);
    assert_eq!(s["first_ts_ns"], local_sum.first_ts_ns.unwrap());
    assert_eq!(s["last_ts_ns"], local_sum.last_ts_ns.unwrap());
    assert_eq!(s["files_scanned"], 3);
    assert_eq!(s["community_id"], local_sum.community_id.clone().unwrap());
    assert_eq!(s["warnings"], 0, "{s}");

    // The transcript of the merged stream is the local transcript of all three stores.
    let tr = sa.get(&format!("/api/v1/transcript?{FLOW}&style=json"));
    assert_eq!(tr.status, 200, "{}", tr.text());
    let local_t = Store::open([&t.a, &t.b, &t.c])
        .unwrap()
        .transcript(
            &query(),
            &capme_core::TranscriptOptions::new().style(capme_core::Style::Json),
        )
        .unwrap();
    assert_eq!(tr.text(), local_t.text);

    // sensor=PEER is proxied: exactly that peer's store; a local sensor and a peer merge.
    let only_b = sa.get(&format!("/api/v1/pcap?{FLOW}&sensor=bravo"));
    assert_eq!(only_b.status, 200, "{}", only_b.text());
    assert_eq!(only_b.body, sb.get(&format!("/api/v1/pcap?{FLOW}")).body);
    assert_eq!(parse(&only_b.body), local(&[&t.b]));
    let ac = sa.get(&format!("/api/v1/pcap?{FLOW}&sensor=alpha&sensor=charlie"));
    assert_eq!(ac.status, 200, "{}", ac.text());
    assert_eq!(parse(&ac.body), local(&[&t.a, &t.c]));
    // local=1 (what peers are sent): this server's store only.
    let la = sa.get(&format!("/api/v1/pcap?{FLOW}&local=1"));
    assert_eq!(parse(&la.body), local(&[&t.a]));

    // A proxied transcript keeps its parameters (style) and headers.
    let tb = sa.get(&format!(
        "/api/v1/transcript?{FLOW}&style=json&sensor=bravo"
    ));
    assert_eq!(tb.status, 200, "{}", tb.text());
    assert_eq!(tb.content_type, "application/x-ndjson");
    assert_eq!(
        tb.body,
        sb.get(&format!("/api/v1/transcript?{FLOW}&style=json"))
            .body
    );

    // A proxied error keeps its status and JSON.
    let bad = sa.get(
        "/api/v1/summary?sip=10.0.0.1&spt=5000&dip=10.0.0.2&dpt=53&stime=x&etime=1&sensor=bravo",
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["field"], "stime");

    // Files: the local list, then each peer's with "peer".
    let files = sa
        .get("/api/v1/files?stime=1700000000&etime=1700000001")
        .json();
    let peers: Vec<Option<&str>> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["peer"].as_str())
        .collect();
    assert_eq!(peers, [None, Some("bravo"), Some("charlie")]);

    // CapMe's page (no sensor in its URL) answers from every source.
    let page = sa.get(&format!("/capme/index.php?{FLOW}&xscript=pcap"));
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(parse(&page.body), want);
}

#[test]
fn a_peer_down_or_silent_is_named_and_the_others_answer() {
    let t = three();
    let sb = TestServer::start(config(&t.b));
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let down_url = format!("http://127.0.0.1:{}", closed_port());
    let mut ca = config(&t.a);
    ca.peers = vec![
        peer("bravo", &sb),
        Peer::parse(&format!("down={down_url}")).unwrap(),
        Peer::parse(&format!("silent={silent_url}")).unwrap(),
    ];
    ca.peer_timeout = std::time::Duration::from_secs(1);
    let sa = TestServer::start(ca);

    let r = sa.get(&format!("/api/v1/pcap?{FLOW}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(parse(&r.body), local(&[&t.a, &t.b]));
    let warnings = r.warnings;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&format!("peer down ({down_url}): "))),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&format!("peer silent ({silent_url}): "))),
        "{warnings:?}"
    );

    let s = sa.get(&format!("/api/v1/summary?{FLOW}"));
    assert_eq!(s.status, 200, "{}", s.text());
    let s = s.json();
    assert_eq!(s["packets"], 2 * PER_STORE);
    assert_eq!(s["warnings"], 2, "{s}");
    let text = s["warning_messages"].to_string();
    assert!(text.contains(&format!("peer down ({down_url})")), "{text}");
    assert!(
        text.contains(&format!("peer silent ({silent_url})")),
        "{text}"
    );

    // sensor=down: the proxy answers 502 naming the peer.
    let p = sa.get(&format!("/api/v1/pcap?{FLOW}&sensor=down"));
    assert_eq!(p.status, 502, "{}", p.text());
    assert!(p.text().contains("peer down"), "{}", p.text());

    // Nothing found locally and the only peer asked failed: not "no packets" but 502.
    let other = "sip=10.9.9.9&spt=1&dip=10.9.9.8&dpt=2&stime=1700000000&etime=1700000001";
    let r = sa.get(&format!("/api/v1/pcap?{other}&sensor=alpha&sensor=down"));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("peer down"), "{}", r.text());
    // Nothing anywhere, nothing failed: 404.
    let r = sa.get(&format!("/api/v1/pcap?{other}&sensor=alpha&sensor=bravo"));
    assert_eq!(r.status, 404, "{}", r.text());
    drop(silent);
}

#[test]
fn peers_send_basic_credentials_from_the_file_and_a_refusal_is_named() {
    let t = three();
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    capme_auth::add_user(&users, "front", "s3cret:pw").unwrap();
    let auth = capme_auth::Auth::new(Some(&users), None, false, &[]).unwrap();
    let mut cb = ServeConfig::new(
        Store::open([&t.b]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        auth,
    );
    cb.log = false;
    let sb = TestServer::start(cb);
    // Anonymous requests are refused by bravo.
    assert_eq!(sb.get(&format!("/api/v1/summary?{FLOW}")).status, 401);

    let creds = dir.path().join("peer-credentials");
    std::fs::write(
        &creds,
        "# name scheme secret\nbravo basic front:s3cret:pw\n",
    )
    .unwrap();
    let (mut map, _) = capme_serve::peer::read_credentials(&creds, &["bravo"]).unwrap();
    let mut ca = config(&t.a);
    let mut pb = peer("bravo", &sb);
    pb.credential = map.remove("bravo");
    ca.peers = vec![pb];
    let sa = TestServer::start(ca);
    let r = sa.get(&format!("/api/v1/pcap?{FLOW}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(parse(&r.body), local(&[&t.a, &t.b]));

    // A wrong password: the fan-out answers from the local store and names the refusal; the
    // proxy is a 502 (not a 401 the client would take for its own credentials).
    let mut ca = config(&t.a);
    let mut pb = peer("bravo", &sb);
    pb.credential = Some(Credential::Basic {
        user: "front".into(),
        password: "wrong".into(),
    });
    ca.peers = vec![pb];
    let sa = TestServer::start(ca);
    let s = sa.get(&format!("/api/v1/summary?{FLOW}"));
    assert_eq!(s.status, 200, "{}", s.text());
    let s = s.json();
    assert_eq!(s["packets"], PER_STORE);
    assert!(
        s["warning_messages"][0]
            .as_str()
            .unwrap()
            .contains("HTTP 401"),
        "{s}"
    );
    let p = sa.get(&format!("/api/v1/summary?{FLOW}&sensor=bravo"));
    assert_eq!(p.status, 502, "{}", p.text());
    assert!(
        p.text().contains("refused this server's credentials"),
        "{}",
        p.text()
    );
}

/// The issue's setup without a proxy: bravo runs with a tokens file (`--tokens`), alpha
/// sends bravo's token from its `--peer-credentials` file (`bravo bearer TOKEN`).
#[test]
fn peers_send_bearer_tokens_from_the_file_to_a_server_with_a_tokens_file() {
    let t = three();
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let token = capme_auth::add_token(&tokens, "alpha").unwrap();
    let auth = capme_auth::Auth::with_options(
        &capme_auth::AuthOptions {
            tokens: Some(&tokens),
            ..Default::default()
        },
        &[],
    )
    .unwrap();
    let mut cb = ServeConfig::new(
        Store::open([&t.b]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        auth,
    );
    cb.log = false;
    let sb = TestServer::start(cb);
    let anonymous = sb.get(&format!("/api/v1/summary?{FLOW}"));
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.challenge.as_deref(),
        Some(r#"Bearer realm="capme""#)
    );

    let creds = dir.path().join("peer-credentials");
    std::fs::write(
        &creds,
        format!("# name scheme secret\nbravo bearer {token}\n"),
    )
    .unwrap();
    let (mut map, _) = capme_serve::peer::read_credentials(&creds, &["bravo"]).unwrap();
    let mut ca = config(&t.a);
    let mut pb = peer("bravo", &sb);
    pb.credential = map.remove("bravo");
    assert_eq!(pb.credential, Some(Credential::Bearer(token.clone())));
    ca.peers = vec![pb];
    let sa = TestServer::start(ca);
    let r = sa.get(&format!("/api/v1/pcap?{FLOW}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(parse(&r.body), local(&[&t.a, &t.b]));
    let p = sa.get(&format!("/api/v1/pcap?{FLOW}&sensor=bravo"));
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(parse(&p.body), local(&[&t.b]));

    // A token bravo does not know (say, replaced by a new --add-token): named, not fatal.
    let mut ca = config(&t.a);
    let mut pb = peer("bravo", &sb);
    pb.credential = Some(Credential::Bearer(format!("{token}x")));
    ca.peers = vec![pb];
    let sa = TestServer::start(ca);
    let s = sa.get(&format!("/api/v1/summary?{FLOW}"));
    assert_eq!(s.status, 200, "{}", s.text());
    let s = s.json();
    assert_eq!(s["packets"], PER_STORE);
    let warning = s["warning_messages"][0].as_str().unwrap();
    assert!(warning.contains("HTTP 401"), "{s}");
    assert!(!warning.contains(&token), "{s}");
    let p = sa.get(&format!("/api/v1/summary?{FLOW}&sensor=bravo"));
    assert_eq!(p.status, 502, "{}", p.text());
    assert!(
        p.text().contains("refused this server's credentials"),
        "{}",
        p.text()
    );
}

#[test]
fn peer_names_must_not_be_local_sensors_nor_repeat() {
    let t = three();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = config(&t.a);
    c.peers = vec![Peer::parse("alpha=http://127.0.0.1:1").unwrap()];
    let e = rt.block_on(capme_serve::Server::bind(c)).err().unwrap();
    assert!(e.to_string().contains("invalid peer \"alpha\""), "{e}");
    let mut c = config(&t.a);
    c.peers = vec![
        Peer::parse("x=http://127.0.0.1:1").unwrap(),
        Peer::parse("x=http://127.0.0.1:2").unwrap(),
    ];
    let e = rt.block_on(capme_serve::Server::bind(c)).err().unwrap();
    assert!(e.to_string().contains("named twice"), "{e}");
}

/// A private CA and a certificate for 127.0.0.1 signed by it, made with the openssl command
/// (scripts/test-all.sh installs it): (ca.pem, cert.pem, key.pem).
fn tls_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (apt-get install openssl)");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    std::fs::write(
        dir.join("ca.cnf"),
        "[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=capme test CA\n[v3_ca]\n\
         basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("leaf.cnf"),
        "[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=localhost\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
         authorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &[
            "req",
            "-x509",
            "-config",
            "ca.cnf",
            "-extensions",
            "v3_ca",
            "-days",
            "2",
        ][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem"],
    ]
    .concat());
    run(&[
        &["req", "-new", "-config", "leaf.cnf"][..],
        &ec,
        &["-keyout", "key.pem", "-out", "leaf.csr"],
    ]
    .concat());
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn https_peers_are_verified_against_the_peer_ca() {
    let t = three();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let mut cb = config(&t.b);
    cb.tls = Some(capme_serve::TlsFiles { cert, key });
    let sb = TestServer::start(cb);
    let https = sb.base.replacen("http://", "https://", 1);

    // Trusting the private CA: bravo answers over TLS.
    let mut ca_cfg = config(&t.a);
    ca_cfg.peers = vec![Peer::parse(&format!("bravo={https}")).unwrap()];
    ca_cfg.peer_ca = Some(ca.clone());
    let sa = TestServer::start(ca_cfg);
    let r = sa.get(&format!("/api/v1/pcap?{FLOW}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(parse(&r.body), local(&[&t.a, &t.b]));

    // With the Mozilla roots only, the private certificate is refused: named, not trusted.
    let mut ca_cfg = config(&t.a);
    ca_cfg.peers = vec![Peer::parse(&format!("bravo={https}")).unwrap()];
    let sa = TestServer::start(ca_cfg);
    let r = sa.get(&format!("/api/v1/pcap?{FLOW}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(parse(&r.body), local(&[&t.a]));
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].starts_with(&format!("peer bravo ({https}): ")),
        "{:?}",
        r.warnings
    );

    // `capme extract --remote`'s client, over TLS with --remote-ca: the same bytes as the
    // server sends.
    let remote = capme_serve::remote::Remote {
        url: https,
        credential: None,
        client: capme_serve::peer::Client::new(capme_serve::peer::DEFAULT_TIMEOUT, Some(&ca))
            .unwrap(),
    };
    let out = dir.path().join("out.pcap");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(FLOW).unwrap();
    let sum = remote
        .extract(
            &params,
            capme_serve::remote::Output::File {
                path: &out,
                replace: false,
            },
        )
        .unwrap();
    assert_eq!(sum.packets, u64::from(PER_STORE));
    assert_eq!(sum.files_scanned, 1);
    // A small result is sent exactly as `capme extract` writes it.
    let local_file = dir.path().join("local.pcap");
    Store::open([&t.b])
        .unwrap()
        .extract_to_file(&query(), &local_file)
        .unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&local_file).unwrap()
    );
}

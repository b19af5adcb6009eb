//! Every endpoint over loopback on the sample store (read only; archives go to tempdirs).

mod common;

use capme_core::{QuerySpec, Store};
use capme_serve::auth::{AllowLoopback, Authenticator, Refusal};
use capme_serve::ServeConfig;
use common::{sample_store, TestServer};
use std::net::SocketAddr;
use std::time::Duration;

/// The sample store's HTTP flow (manifest: tcp-v4): 13 packets, 5060 bytes.
const TCP_V4: &str =
    "sip=10.10.1.10&spt=51000&dip=10.10.1.20&dpt=80&proto=tcp&stime=1718406490&etime=1718406500";
/// CapMe's own parameters of the IPv6 flow (manifest: tcp-v6), 17 packets.
const TCP_V6_CAPME: &str =
    "sip=2001:db8:10::10&spt=51001&dip=2001:db8:10::20&dpt=443&stime=1718406710&etime=1718406720";

fn config() -> ServeConfig {
    let store = Store::open([sample_store()]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    c
}

fn server() -> TestServer {
    TestServer::start(config())
}

/// What `capme extract` writes for the same query.
fn extracted(query: &str) -> Vec<u8> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let q = QuerySpec {
        sip: get("sip"),
        spt: get("spt"),
        dip: get("dip"),
        dpt: get("dpt"),
        proto: get("proto"),
        stime: get("stime"),
        etime: get("etime"),
        ..Default::default()
    }
    .parse()
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.pcap");
    Store::open([sample_store()])
        .unwrap()
        .extract_to_file(&q, &out)
        .unwrap();
    std::fs::read(out).unwrap()
}

#[test]
fn healthz_and_metrics() {
    let s = server();
    let r = s.get("/healthz");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    s.get(&format!("/api/v1/summary?{TCP_V4}"));
    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m.content_type.starts_with("text/plain; version=0.0.4"));
    let t = m.text();
    for needle in [
        "capme_requests_total{endpoint=\"summary\",status=\"200\"} 1",
        "capme_extractions_total{kind=\"summary\"} 1",
        "capme_bytes_read_total ",
        "capme_files_indexed_total 0",
        "capme_request_duration_seconds_bucket{le=\"+Inf\"}",
        "capme_request_duration_seconds_count",
    ] {
        assert!(t.contains(needle), "{needle} not in\n{t}");
    }
}

#[test]
fn summary_is_the_cli_json() {
    let s = server();
    let r = s.get(&format!("/api/v1/summary?{TCP_V4}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["packets"], 13);
    assert_eq!(j["bytes"], 5060);
    assert_eq!(j["first_ts_ns"], 1718406497123456000i64);
    assert_eq!(j["last_ts_ns"], 1718406497201617000i64);
    assert_eq!(j["output"], serde_json::Value::Null);
    assert_eq!(j["community_id"], "1:iVudD/vFegv3BEmgpbUgZOmYUVw=");
    // The same flow by Community ID, padded, and through a CapMe URL.
    let r = s.get(
        "/api/v1/summary?community_id=1%3AiVudD%2FvFegv3BEmgpbUgZOmYUVw%3D&stime=1718406497&etime=1718406497&pad=3",
    );
    assert_eq!(r.json()["packets"], 13, "{}", r.text());
    let url = format!("https://so/capme/index.php?{TCP_V4}");
    let r = s.get(&format!(
        "/api/v1/summary?url={}",
        &serde_urlencoded::to_string([("u", url)]).unwrap()[2..]
    ));
    assert_eq!(r.json()["packets"], 13, "{}", r.text());
    let r = s.get(&format!("/api/v1/summary?{TCP_V4}&whole_flow=true"));
    assert_eq!(r.json()["packets"], 13, "{}", r.text());
}

#[test]
fn pcap_streams_the_bytes_capme_extract_writes() {
    let s = server();
    let r = s.get(&format!("/api/v1/pcap?{TCP_V4}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type, "application/vnd.tcpdump.pcap");
    assert_eq!(
        r.disposition,
        "attachment; filename=\"tcp_10.10.1.10_51000_10.10.1.20_80_1718406490-1718406500.pcap\""
    );
    assert_eq!(r.body, extracted(TCP_V4));
}

#[test]
fn transcript_styles() {
    let s = server();
    let r = s.get(&format!("/api/v1/transcript?{TCP_V4}&style=capme"));
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(t.starts_with("HDR: Sensor Name:\tsensor1-eth1\n"), "{t}");
    assert!(t.contains("SRC: GET /capme/tcp-v4 HTTP/1.1\n"), "{t}");
    let r = s.get(&format!("/api/v1/transcript?{TCP_V4}"));
    assert!(r.text().contains("GET /capme/tcp-v4 HTTP/1.1"));
    let r = s.get(&format!("/api/v1/transcript?{TCP_V4}&style=json&maxtx=10"));
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/x-ndjson");
    for line in r.text().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn files_lists_the_window() {
    let s = server();
    let r = s.get("/api/v1/files?stime=1718406490&etime=1718406500");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let files = v.as_array().unwrap();
    assert!(!files.is_empty());
    assert!(files.iter().any(|f| f["path"]
        .as_str()
        .unwrap()
        .ends_with("snort.log.1718406137")));
}

#[test]
fn capme_page_has_summary_transcript_and_download_link() {
    let s = server();
    let r = s.get(&format!(
        "/capme/index.php?{TCP_V6_CAPME}&usr=analyst&pwd=x"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type, "text/html; charset=utf-8");
    let html = r.text();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains("<tr><th>Packets</th><td>17</td></tr>"),
        "{html}"
    );
    assert!(html.contains("HDR: Src IP:\t\t2001:db8:10::10"), "{html}");
    assert!(html.contains("class=\"button\" href=\"/api/v1/pcap?sip=2001%3Adb8%3A10%3A%3A10&amp;spt=51001&amp;dip=2001%3Adb8%3A10%3A%3A20&amp;dpt=443&amp;stime=1718406710&amp;etime=1718406720\""), "{html}");
    assert!(!html.contains("<script"));
    // The link works and gives the page's flow.
    let link = "/api/v1/pcap?sip=2001%3Adb8%3A10%3A%3A10&spt=51001&dip=2001%3Adb8%3A10%3A%3A20&dpt=443&stime=1718406710&etime=1718406720";
    let p = s.get(link);
    assert_eq!(p.status, 200);
    assert_eq!(p.body, extracted(TCP_V6_CAPME));
    // Every value is escaped: the transcript's binary payload holds '<' and '>', and the
    // <pre> holds no tag.
    let r = s.get(&format!(
        "/capme/index.php?{}",
        TCP_V4.replace("&proto=tcp", "")
    ));
    let html = r.text();
    let pre = &html[html.find("<pre>").unwrap() + 5..html.find("</pre>").unwrap()];
    assert!(pre.contains("&lt;") && !pre.contains('<'), "{pre}");
    assert!(pre.contains("SRC: GET /capme/tcp-v4 HTTP/1.1"));
}

#[test]
fn xscript_pcap_returns_the_capture() {
    let s = server();
    let r = s.get(&format!(
        "/capme/index.php?{}&xscript=pcap",
        TCP_V4.replace("&proto=tcp", "")
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type, "application/vnd.tcpdump.pcap");
    assert_eq!(r.body, extracted(&TCP_V4.replace("&proto=tcp", "")));
    let r = s.get(&format!("/capme/index.php?{TCP_V4}&xscript=nope"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("xscript"));
}

#[test]
fn bad_parameters_are_400_naming_the_field() {
    let s = server();
    let w = "stime=1718406490&etime=1718406500";
    let cases: Vec<(String, &str)> = vec![
        (format!("/api/v1/pcap?sip=bogus&dip=10.0.0.1&{w}"), "sip"),
        (
            format!("/api/v1/pcap?sip=10.0.0.1&dip=10.0.0.2&spt=99999&{w}"),
            "spt",
        ),
        (
            format!("/api/v1/summary?sip=10.0.0.1&spt=1&dip=10.0.0.2&dpt=x&{w}"),
            "dpt",
        ),
        (
            format!("/api/v1/summary?sip=10.0.0.1&spt=1&dip=10.0.0.2&dpt=2&proto=zzz&{w}"),
            "proto",
        ),
        (
            "/api/v1/summary?sip=10.0.0.1&spt=1&dip=10.0.0.2&dpt=2&stime=yesterday&etime=1".into(),
            "stime",
        ),
        (
            "/api/v1/summary?sip=10.0.0.1&spt=1&dip=10.0.0.2&dpt=2&stime=1".into(),
            "etime",
        ),
        (format!("/api/v1/summary?{TCP_V4}&pad=x"), "pad"),
        (
            format!("/api/v1/summary?{TCP_V4}&whole_flow=maybe"),
            "whole_flow",
        ),
        (format!("/api/v1/summary?{TCP_V4}&sensor=a"), "sensor"),
        (format!("/api/v1/summary?{TCP_V4}&sip=10.0.0.9"), "sip"),
        (
            format!("/api/v1/summary?community_id=nope&{w}"),
            "community_id",
        ),
        ("/api/v1/summary?zeek_uid=CAbc".into(), "zeek_uid"),
        (format!("/api/v1/transcript?{TCP_V4}&style=fancy"), "style"),
        (format!("/api/v1/transcript?{TCP_V4}&maxtx=-1"), "maxtx"),
        (format!("/api/v1/pcap?{TCP_V4}&maxtx=1"), "maxtx"),
        ("/api/v1/files?stime=1".into(), "etime"),
        ("/api/v1/files?stime=x&etime=1".into(), "stime"),
        (
            "/capme/index.php?sip=10.0.0.1&spt=1&dip=bogus&dpt=2&stime=1&etime=2".into(),
            "dip",
        ),
    ];
    for (path, field) in cases {
        let r = s.get(&path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        if path.starts_with("/capme/") {
            assert!(
                r.text().contains(&format!("({field})")),
                "{path}: {}",
                r.text()
            );
            continue;
        }
        let j = r.json();
        assert_eq!(j["field"], field, "{path}: {j}");
        assert_eq!(j["kind"], "invalid", "{path}: {j}");
        // The CLI's message, which names the flag (`community-id`) or the parameter.
        let e = j["error"].as_str().unwrap();
        assert!(
            e.contains(field) || e.contains(&field.replace('_', "-")),
            "{path}: {j}"
        );
    }
}

#[test]
fn no_packets_is_404_and_a_window_over_the_limit_413() {
    let mut c = config();
    c.store = c.store.with_max_window(Duration::from_secs(600)).unwrap();
    let s = TestServer::start(c);
    let r = s.get("/api/v1/pcap?sip=10.10.1.10&spt=51000&dip=10.10.1.20&dpt=80&stime=1718406000&etime=1718406001");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["kind"], "nopackets");
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("no packet matched"));
    let r = s.get("/api/v1/summary?sip=10.10.1.10&spt=51000&dip=10.10.1.20&dpt=80&stime=1718406000&etime=1718406001");
    assert_eq!(r.status, 404);
    let r = s.get("/api/v1/pcap?sip=10.10.1.10&spt=51000&dip=10.10.1.20&dpt=80&stime=1718406000&etime=1718409600");
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["field"], "window");
    assert!(r.json()["error"].as_str().unwrap().contains("max_window"));
    let r = s.get("/nowhere");
    assert_eq!(r.status, 404);
}

#[test]
fn identical_concurrent_requests_share_one_extraction() {
    let mut c = config();
    // Long enough that every request arrives while the first is still extracting.
    c.extraction_delay = Duration::from_millis(400);
    c.max_concurrent = 64;
    let s = TestServer::start(c);
    let parallel = |path: String| -> Vec<common::Reply> {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                let url = format!("{}{path}", s.base);
                std::thread::spawn(move || common::get(&url))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    };
    let rs = parallel(format!("/api/v1/summary?{TCP_V4}"));
    assert!(rs
        .iter()
        .all(|r| r.status == 200 && r.json()["packets"] == 13));
    assert_eq!(s.metric("capme_extractions_total{kind=\"summary\"}"), 1);
    // The transcript and the CapMe page (capme style) share one too.
    let rs = parallel(format!("/api/v1/transcript?{TCP_V4}&style=capme"));
    assert!(rs.iter().all(|r| r.status == 200 && r.body == rs[0].body));
    assert_eq!(s.metric("capme_extractions_total{kind=\"transcript\"}"), 1);
    assert_eq!(s.metric("capme_shared_total"), 10);
    // Not a cache: a later request runs again.
    s.get(&format!("/api/v1/summary?{TCP_V4}"));
    assert_eq!(s.metric("capme_extractions_total{kind=\"summary\"}"), 2);
}

/// N identical pcap requests at once: one extraction, N identical bodies, `capme extract`'s.
#[test]
fn identical_concurrent_pcap_requests_share_one_stream() {
    let mut c = config();
    c.flight_quorum = 6;
    c.max_concurrent = 64;
    let s = TestServer::start(c);
    let hs: Vec<_> = (0..6)
        .map(|_| {
            let url = format!("{}/api/v1/pcap?{TCP_V4}", s.base);
            std::thread::spawn(move || common::get(&url))
        })
        .collect();
    let rs: Vec<common::Reply> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let want = extracted(TCP_V4);
    for r in &rs {
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.body == want, "a shared body differs from capme extract's");
    }
    assert_eq!(s.metric("capme_extractions_total{kind=\"pcap\"}"), 1);
    assert_eq!(s.metric("capme_shared_total"), 5);
}

/// Sharers of an extraction that finds nothing all get its 404.
#[test]
fn shared_pcap_requests_share_an_empty_answer() {
    let mut c = config();
    c.flight_quorum = 3;
    c.max_concurrent = 64;
    let s = TestServer::start(c);
    let q = "sip=10.9.9.9&spt=1&dip=10.9.9.8&dpt=2&proto=tcp&stime=1718406490&etime=1718406500";
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let url = format!("{}/api/v1/pcap?{q}", s.base);
            std::thread::spawn(move || common::get(&url))
        })
        .collect();
    for h in hs {
        let r = h.join().unwrap();
        assert_eq!(
            (r.status, r.json()["kind"].as_str()),
            (404, Some("nopackets"))
        );
    }
    assert_eq!(s.metric("capme_extractions_total{kind=\"pcap\"}"), 1);
    assert_eq!(s.metric("capme_shared_total"), 2);
}

#[test]
fn archive_single_flight_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.archive = Some(dir.path().to_path_buf());
    c.extraction_delay = Duration::from_millis(400);
    c.max_concurrent = 64;
    let s = TestServer::start(c);
    let hs: Vec<_> = (0..6)
        .map(|_| {
            let url = format!("{}/api/v1/pcap?{TCP_V4}", s.base);
            std::thread::spawn(move || common::get(&url))
        })
        .collect();
    let want = extracted(TCP_V4);
    for h in hs {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body, want);
        assert!(r
            .disposition
            .contains("tcp_10.10.1.10_51000_10.10.1.20_80_1718406490-1718406500.pcap"));
    }
    assert_eq!(s.metric("capme_extractions_total{kind=\"archive\"}"), 1);
    // A later request is served from the verified cache.
    let r = s.get(&format!("/api/v1/pcap?{TCP_V4}"));
    assert_eq!(r.body, want);
    assert_eq!(s.metric("capme_extractions_total{kind=\"archive\"}"), 1);
    assert_eq!(s.metric("capme_archive_hits_total"), 1);
}

#[test]
fn per_user_limit_is_429() {
    let mut c = config();
    c.max_concurrent = 1;
    c.extraction_delay = Duration::from_millis(600);
    let s = TestServer::start(c);
    let url = format!("{}/api/v1/summary?{TCP_V4}", s.base);
    let first = std::thread::spawn(move || common::get(&url));
    std::thread::sleep(Duration::from_millis(150));
    let r = s.get(&format!("/api/v1/summary?{TCP_V4}"));
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("max-concurrent"));
    assert_eq!(first.join().unwrap().status, 200);
    // The slot is free again.
    assert_eq!(s.get("/healthz").status, 200);
    assert_eq!(s.get(&format!("/api/v1/summary?{TCP_V4}")).status, 200);
}

/// An authenticator as capme-auth's will plug in: one call, a user or a refusal.
struct NeedsToken;

impl Authenticator for NeedsToken {
    fn check(&self, headers: &http::HeaderMap, _peer: SocketAddr) -> Result<String, Refusal> {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer good") => Ok("alice".into()),
            Some(_) => Err((403, "alice only".into(), None)),
            None => Err((401, "log in".into(), Some("Bearer realm=\"capme\"".into()))),
        }
    }
}

#[test]
fn authentication_is_one_call() {
    let mut c = config();
    c.auth = std::sync::Arc::new(NeedsToken);
    let s = TestServer::start(c);
    let r = s.get(&format!("/api/v1/summary?{TCP_V4}"));
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge.as_deref(), Some("Bearer realm=\"capme\""));
    assert_eq!(r.json()["kind"], "auth");
    let ok = ureq::get(&format!("{}/api/v1/summary?{TCP_V4}", s.base))
        .set("Authorization", "Bearer good")
        .call()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = ureq::get(&format!("{}/metrics", s.base))
        .set("Authorization", "Bearer bad")
        .call();
    assert!(matches!(bad, Err(ureq::Error::Status(403, _))));
    // /healthz needs no login.
    assert_eq!(s.get("/healthz").status, 200);
}

#[test]
fn allow_loopback_refuses_other_peers() {
    let h = http::HeaderMap::new();
    assert_eq!(
        AllowLoopback.check(&h, "127.0.0.1:1".parse().unwrap()),
        Ok("local".to_string())
    );
    assert!(AllowLoopback.check(&h, "[::1]:1".parse().unwrap()).is_ok());
    let e = AllowLoopback
        .check(&h, "192.0.2.7:1".parse().unwrap())
        .unwrap_err();
    assert_eq!(e.0, 403);
}

#[test]
fn zeek_uid_through_the_servers_zeek_logs() {
    let logs = tempfile::tempdir().unwrap();
    let conn = logs.path().join("current/conn.log");
    std::fs::create_dir_all(conn.parent().unwrap()).unwrap();
    std::fs::write(
        &conn,
        "{\"ts\":1718406497.123456,\"uid\":\"CServe1\",\"id.orig_h\":\"10.10.1.10\",\
         \"id.orig_p\":51000,\"id.resp_h\":\"10.10.1.20\",\"id.resp_p\":80,\"proto\":\"tcp\",\
         \"duration\":0.078161,\"conn_state\":\"SF\"}\n",
    )
    .unwrap();
    let mut c = config();
    c.zeek_logs = Some(logs.path().to_path_buf());
    let s = TestServer::start(c);
    let r = s.get("/api/v1/summary?zeek_uid=CServe1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["packets"], 13);
    let r = s.get("/api/v1/pcap?zeek_uid=CServe1&pad=0&whole_flow=1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.metric("capme_pivots_total"), 2);
    // A uid in no log: 404, as the CLI's exit 1.
    let r = s.get("/api/v1/summary?zeek_uid=CNowhere");
    assert_eq!(r.status, 404, "{}", r.text());
    // The record gives the window: stime is refused, naming it.
    let r = s.get("/api/v1/summary?zeek_uid=CServe1&stime=1");
    assert_eq!((r.status, r.json()["field"].clone()), (400, "stime".into()));
}

#[test]
fn an_archive_inside_the_store_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.store = Store::open([dir.path()]).unwrap();
    c.archive = Some(dir.path().join("."));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(capme_serve::Server::bind(c)).err().unwrap();
    assert!(e.to_string().contains("inside store root"), "{e}");
}

/// `--users` and `--tokens` together, through capme-auth: each scheme against its file, the
/// challenge offering both, and a token counting as the user it is named after.
#[test]
fn bearer_tokens_and_basic_users_together() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let (users, tokens) = (dir.path().join("users"), dir.path().join("tokens"));
    capme_auth::add_user(&users, "alice", "pw").unwrap();
    let token = capme_auth::add_token(&tokens, "alice").unwrap();
    let robot = capme_auth::add_token(&tokens, "robot").unwrap();
    let auth = capme_auth::Auth::with_options(
        &capme_auth::AuthOptions {
            users: Some(&users),
            tokens: Some(&tokens),
            ..Default::default()
        },
        &[],
    )
    .unwrap();
    let mut c = config();
    c.auth = std::sync::Arc::new(auth);
    c.max_concurrent = 1;
    c.extraction_delay = Duration::from_millis(600);
    let s = TestServer::start(c);
    let url = format!("{}/api/v1/summary?{TCP_V4}", s.base);
    let with = |value: String| {
        let url = url.clone();
        move || match ureq::get(&url).set("Authorization", &value).call() {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:pw")
    );

    let r = s.get(&format!("/api/v1/summary?{TCP_V4}"));
    assert_eq!(r.status, 401);
    assert_eq!(
        r.challenge.as_deref(),
        Some(r#"Basic realm="capme", charset="UTF-8", Bearer realm="capme""#)
    );
    let (status, body) = with(format!("Bearer {robot}"))();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["packets"],
        13
    );
    assert_eq!(with(basic.clone())().0, 200);
    let bad = ureq::get(&url)
        .set("Authorization", &format!("Bearer {robot}x"))
        .call()
        .unwrap_err();
    let ureq::Error::Status(401, bad) = bad else {
        panic!("{bad}")
    };
    assert_eq!(
        bad.header("www-authenticate"),
        Some(
            r#"Basic realm="capme", charset="UTF-8", Bearer realm="capme", error="invalid_token""#
        )
    );
    assert!(!bad.into_string().unwrap().contains(&robot));

    // The token named alice and the user alice are one user for --max-concurrent 1: of two
    // requests running at once (each holds its slot 600 ms), one is refused, naming alice.
    let start = std::sync::Arc::new(std::sync::Barrier::new(2));
    let both: Vec<_> = [format!("Bearer {token}"), basic]
        .into_iter()
        .map(|value| {
            let (start, request) = (start.clone(), with(value));
            std::thread::spawn(move || {
                start.wait();
                request()
            })
        })
        .collect();
    let mut answers: Vec<(u16, String)> = both.into_iter().map(|t| t.join().unwrap()).collect();
    answers.sort();
    assert_eq!((answers[0].0, answers[1].0), (200, 429), "{answers:?}");
    assert!(
        answers[1].1.contains("user alice has 1 requests running"),
        "{answers:?}"
    );
}

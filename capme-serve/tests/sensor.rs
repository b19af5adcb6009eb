//! The `sensor` parameter (repeatable): restricts a flow query or a files listing to the named
//! sensors; an unknown sensor is a 400 naming `sensor`. On the sample store (read only; the
//! archive goes to a tempdir). `shared-tcp` was seen by both sensors, 15 packets each.

mod common;

use capme_core::Store;
use capme_serve::auth::AllowLoopback;
use capme_serve::ServeConfig;
use common::{sample_store, TestServer};

const SHARED: &str =
    "sip=10.10.12.10&spt=46000&dip=10.10.12.20&dpt=80&proto=tcp&stime=1718409881&etime=1718409883";

fn config() -> ServeConfig {
    let store = Store::open([sample_store()]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    c
}

fn packets(s: &TestServer, extra: &str) -> u64 {
    let r = s.get(&format!("/api/v1/summary?{SHARED}{extra}"));
    assert_eq!(r.status, 200, "{extra}: {}", r.text());
    r.json()["packets"].as_u64().unwrap()
}

#[test]
fn sensor_restricts_summaries_transcripts_captures_and_files() {
    let s = TestServer::start(config());
    assert_eq!(packets(&s, ""), 30);
    assert_eq!(packets(&s, "&sensor=sensor1-eth1"), 15);
    assert_eq!(packets(&s, "&sensor=sensor2-eth0"), 15);
    assert_eq!(packets(&s, "&sensor=sensor2-eth0&sensor=sensor1-eth1"), 30);

    let t = s.get(&format!(
        "/api/v1/transcript?{SHARED}&style=capme&sensor=sensor2-eth0"
    ));
    assert_eq!(t.status, 200, "{}", t.text());
    assert!(
        t.text().contains("Sensor Name:\tsensor2-eth0"),
        "{}",
        t.text()
    );

    let all = s.get(&format!("/api/v1/pcap?{SHARED}"));
    let one = s.get(&format!("/api/v1/pcap?{SHARED}&sensor=sensor1-eth1"));
    assert_eq!((all.status, one.status), (200, 200));
    assert!(one.body.len() < all.body.len());

    let files = |extra: &str| -> Vec<String> {
        let r = s.get(&format!(
            "/api/v1/files?stime=1718409881&etime=1718409883{extra}"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["sensor"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(files("").iter().any(|s| s == "sensor1-eth1"));
    let two = files("&sensor=sensor2-eth0");
    assert!(
        !two.is_empty() && two.iter().all(|s| s == "sensor2-eth0"),
        "{two:?}"
    );
}

#[test]
fn an_unknown_sensor_is_a_400_naming_sensor() {
    let s = TestServer::start(config());
    for path in [
        format!("/api/v1/summary?{SHARED}&sensor=nope"),
        format!("/api/v1/summary?{SHARED}&sensor=sensor1-eth1&sensor=nope"),
        format!("/api/v1/pcap?{SHARED}&sensor=nope"),
        format!("/api/v1/transcript?{SHARED}&sensor=nope"),
        "/api/v1/files?stime=1718409881&etime=1718409883&sensor=nope".to_string(),
    ] {
        let r = s.get(&path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let j = r.json();
        assert_eq!(j["field"], "sensor", "{path}: {j}");
        assert_eq!(j["kind"], "invalid", "{path}: {j}");
        let e = j["error"].as_str().unwrap();
        assert!(
            e.contains("\"nope\"") && e.contains("sensor1-eth1, sensor2-eth0"),
            "{e}"
        );
    }
    // Another parameter given twice is still refused.
    let r = s.get(&format!("/api/v1/summary?{SHARED}&pad=1&pad=2"));
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("pad")));
}

#[test]
fn restricted_and_unrestricted_captures_are_archived_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.archive = Some(dir.path().to_path_buf());
    let s = TestServer::start(c);
    let all = s.get(&format!("/api/v1/pcap?{SHARED}"));
    let one = s.get(&format!("/api/v1/pcap?{SHARED}&sensor=sensor1-eth1"));
    let again = s.get(&format!("/api/v1/pcap?{SHARED}&sensor=sensor1-eth1"));
    assert_eq!((all.status, one.status, again.status), (200, 200, 200));
    assert_ne!(all.body, one.body);
    assert_eq!(one.body, again.body);
    assert_eq!(s.metric("capme_extractions_total{kind=\"archive\"}"), 2);
    assert_eq!(s.metric("capme_archive_hits_total"), 1);
    let mut sensors: Vec<String> = std::fs::read_dir(dir.path().join("2024-06-15"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    sensors.sort();
    assert_eq!(sensors, ["sensor1-eth1", "sensor1-eth1+sensor2-eth0"]);
}

/// CapMe's own parameters of the shared flow (no `proto`).
const SHARED_CAPME: &str =
    "sip=10.10.12.10&spt=46000&dip=10.10.12.20&dpt=80&stime=1718409881&etime=1718409883";

#[test]
fn the_capme_page_honours_sensor() {
    let s = TestServer::start(config());
    let page = |extra: &str| {
        let r = s.get(&format!("/capme/index.php?{SHARED_CAPME}{extra}"));
        assert_eq!(r.status, 200, "{extra}: {}", r.text());
        r.text()
    };
    let packets = "<tr><th>Packets</th><td>";
    assert!(page("").contains(&format!("{packets}30<")));
    let two = page("&sensor=sensor2-eth0");
    assert!(two.contains(&format!("{packets}15<")), "{two}");
    assert!(two.contains("<td>sensor2-eth0</td>"), "{two}");
    // The download link carries the restriction on.
    assert!(two.contains("&amp;sensor=sensor2-eth0\""), "{two}");
    let both = page("&sensor=sensor1-eth1&sensor=sensor2-eth0");
    assert!(both.contains(&format!("{packets}30<")), "{both}");

    // xscript=pcap: the restricted capture, as /api/v1/pcap gives it.
    let got = s.get(&format!(
        "/capme/index.php?{SHARED_CAPME}&xscript=pcap&sensor=sensor1-eth1"
    ));
    let want = s.get(&format!("/api/v1/pcap?{SHARED}&sensor=sensor1-eth1"));
    let all = s.get(&format!("/api/v1/pcap?{SHARED}"));
    assert_eq!((got.status, want.status), (200, 200), "{}", got.text());
    assert!(got.body == want.body && got.body != all.body);

    let r = s.get(&format!("/capme/index.php?{SHARED_CAPME}&sensor=nope"));
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("sensor1-eth1, sensor2-eth0"),
        "{}",
        r.text()
    );
}

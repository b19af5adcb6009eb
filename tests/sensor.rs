//! `--sensor NAME` on extract, transcript and files, on the sample store (read only: outputs go
//! to a temporary directory). `shared-tcp` was seen by both sensors (15 packets each),
//! `tcp-v4` only by sensor1-eth1 and `mpls-tcp` only by sensor2-eth0 (examples/data/manifest.json).

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn store() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data/store")
        .to_str()
        .unwrap()
        .to_owned()
}

fn capme(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capme"))
        .args(args)
        .output()
        .unwrap()
}

const SHARED: [&str; 14] = [
    "--sip",
    "10.10.12.10",
    "--spt",
    "46000",
    "--dip",
    "10.10.12.20",
    "--dpt",
    "80",
    "--proto",
    "tcp",
    "--stime",
    "1718409881",
    "--etime",
    "1718409883",
];

const TCP_V4: [&str; 14] = [
    "--sip",
    "10.10.1.10",
    "--spt",
    "51000",
    "--dip",
    "10.10.1.20",
    "--dpt",
    "80",
    "--proto",
    "tcp",
    "--stime",
    "1718406490",
    "--etime",
    "1718406500",
];

const MPLS: [&str; 14] = [
    "--sip",
    "10.10.6.10",
    "--spt",
    "52002",
    "--dip",
    "10.10.6.20",
    "--dpt",
    "25",
    "--proto",
    "tcp",
    "--stime",
    "1718407858",
    "--etime",
    "1718407860",
];

/// `capme extract --json -o <tmp>/out.pcap` of `flow` with `sensors`: (exit code, stdout JSON
/// when it exited 0, stderr).
fn extract(flow: &[&str], sensors: &[&str]) -> (i32, Option<Value>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.pcap");
    let st = store();
    let mut a = vec![
        "extract",
        "--store",
        &st,
        "--no-index",
        "--json",
        "-o",
        out.to_str().unwrap(),
    ];
    a.extend_from_slice(flow);
    for s in sensors {
        a.extend_from_slice(&["--sensor", s]);
    }
    let o = capme(&a);
    let code = o.status.code().unwrap_or(-1);
    let json = (code == 0).then(|| serde_json::from_slice(&o.stdout).unwrap());
    (code, json, String::from_utf8_lossy(&o.stderr).into_owned())
}

fn packets(v: &Option<Value>) -> u64 {
    v.as_ref().unwrap()["packets"].as_u64().unwrap()
}

#[test]
fn extract_reads_only_the_named_sensors() {
    let (_, all, _) = extract(&SHARED, &[]);
    assert_eq!(packets(&all), 30);
    let (_, one, _) = extract(&SHARED, &["sensor1-eth1"]);
    assert_eq!(packets(&one), 15);
    let (_, two, _) = extract(&SHARED, &["sensor2-eth0"]);
    assert_eq!(packets(&two), 15);
    let (_, both, _) = extract(&SHARED, &["sensor2-eth0", "sensor1-eth1"]);
    assert_eq!(packets(&both), 30);

    // A flow of one sensor is found there, and not on the other (exit 1, no packets).
    let (_, v4, _) = extract(&TCP_V4, &["sensor1-eth1"]);
    assert_eq!(packets(&v4), 13);
    let (code, _, err) = extract(&TCP_V4, &["sensor2-eth0"]);
    assert_eq!(code, 1, "{err}");
    let (_, mpls, _) = extract(&MPLS, &["sensor2-eth0"]);
    assert_eq!(packets(&mpls), 15);
    let (code, _, err) = extract(&MPLS, &["sensor1-eth1"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn an_unknown_sensor_exits_2_naming_sensor_and_the_store_sensors() {
    let (code, _, err) = extract(&SHARED, &["sensor9"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid sensor \"sensor9\""), "{err}");
    assert!(err.contains("sensor1-eth1, sensor2-eth0"), "{err}");
}

#[test]
fn transcript_and_files_take_sensor_too() {
    let st = store();
    let mut a = vec![
        "transcript",
        "--store",
        &st,
        "--no-index",
        "--style",
        "capme",
    ];
    a.extend_from_slice(&SHARED);
    a.extend_from_slice(&["--sensor", "sensor2-eth0"]);
    let o = capme(&a);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t.contains("Sensor Name:\tsensor2-eth0"), "{t}");

    let files = |sensors: &[&str]| -> Vec<String> {
        let mut a = vec![
            "files",
            "--store",
            &st,
            "--json",
            "--stime",
            "1718409881",
            "--etime",
            "1718409883",
        ];
        for s in sensors {
            a.extend_from_slice(&["--sensor", s]);
        }
        let o = capme(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f["sensor"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = files(&[]);
    assert!(all.contains(&"sensor1-eth1".to_string()) && all.contains(&"sensor2-eth0".to_string()));
    let one = files(&["sensor1-eth1"]);
    assert!(
        !one.is_empty() && one.iter().all(|s| s == "sensor1-eth1"),
        "{one:?}"
    );
    let o = capme(&[
        "files",
        "--store",
        &st,
        "--stime",
        "1718409881",
        "--etime",
        "1718409883",
        "--sensor",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid sensor \"nope\""));
}

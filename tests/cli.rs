//! End-to-end tests of the `capme` command line on the bundled sample store: both output modes,
//! `--json`, the archive cache, and every exit code.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{json, s, stderr, store};

fn capme(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capme"))
        .args(args)
        .output()
        .unwrap()
}

/// The QinQ flow of the sample store (CapMe's filter lost it): 15 packets.
const QINQ: [&str; 10] = [
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
];
const QINQ_WINDOW: [&str; 4] = ["--stime", "1718407577", "--etime", "1718407578"];

/// A flow the sample store does not hold.
const FLOW_1_2: [&str; 8] = [
    "--sip", "10.0.0.1", "--spt", "1", "--dip", "10.0.0.2", "--dpt", "2",
];

fn extract(extra: &[&str]) -> Output {
    let st = store();
    let mut a = vec!["extract", "--store", s(&st)];
    a.extend_from_slice(extra);
    capme(&a)
}

#[test]
fn extract_to_file_with_json_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("flow.pcap");
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    a.extend_from_slice(&["-o", s(&out), "--json"]);
    let v = json(&extract(&a));
    for k in [
        "packets",
        "bytes",
        "first_ts",
        "last_ts",
        "output",
        "community_id",
        "files_scanned",
        "bytes_read",
        "elapsed_ms",
        "cached",
        "warnings",
    ] {
        assert!(v.get(k).is_some(), "JSON lacks {k}: {v}");
    }
    assert_eq!(v["packets"], 15);
    assert_eq!(v["cached"], false);
    assert_eq!(v["output"], s(&out));
    assert_eq!(v["first_ts_ns"], 1_718_407_577_678_912_000i64);
    assert_eq!(
        v["bytes"].as_u64().unwrap() + 24 + 16 * 15,
        std::fs::metadata(&out).unwrap().len()
    );
    // The Community ID printed is the flow's, as `community-id` computes it.
    let cid = capme(&[
        "community-id",
        "--sip",
        "10.10.5.20",
        "--spt",
        "22",
        "--dip",
        "10.10.5.10",
        "--dpt",
        "52001",
        "--proto",
        "tcp",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&cid.stdout).trim(),
        v["community_id"].as_str().unwrap()
    );
    // The reverse direction, and no --proto, find the same packets.
    let out2 = tmp.path().join("rev.pcap");
    let rev = extract(&[
        "--sip",
        "10.10.5.20",
        "--spt",
        "22",
        "--dip",
        "10.10.5.10",
        "--dpt",
        "52001",
        "--stime",
        "1718407577",
        "--etime",
        "1718407578",
        "-o",
        s(&out2),
        "--json",
    ]);
    assert_eq!(json(&rev)["packets"], 15);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
}

#[test]
fn human_output_without_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("flow.pcap");
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    // --no-index: the count of scanned files does not depend on a `capme index` run.
    a.extend_from_slice(&["-o", s(&out), "--no-index"]);
    let o = extract(&a);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("wrote 15 packets"), "{text}");
    assert!(text.contains("2024-06-14T23:26:17.678912000Z"), "{text}");
    assert!(text.contains("scanned 2 files, 0 through"), "{text}");
}

#[test]
fn output_named_pcapng_is_pcapng_with_the_same_packets() {
    let tmp = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for name in ["flow.pcap", "flow.pcapng"] {
        let out = tmp.path().join(name);
        let mut a: Vec<&str> = QINQ.to_vec();
        a.extend_from_slice(&QINQ_WINDOW);
        a.extend_from_slice(&["-o", s(&out), "--json"]);
        assert_eq!(json(&extract(&a))["packets"], 15);
        let magic = std::fs::read(&out).unwrap()[..4].to_vec();
        let pcapng = magic == [0x0a, 0x0d, 0x0d, 0x0a];
        assert_eq!(pcapng, name.ends_with("ng"), "{name}: magic {magic:02x?}");
        let mut r = capme_core::capture::CaptureReader::open(&out).unwrap();
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push((rec.ts, rec.data.to_vec()));
        }
        records.push(got);
    }
    assert_eq!(records[0], records[1]);
}

#[test]
fn community_id_query_equals_tuple_query() {
    let tmp = tempfile::tempdir().unwrap();
    let (o1, o2) = (tmp.path().join("a.pcap"), tmp.path().join("b.pcap"));
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    a.extend_from_slice(&["-o", s(&o1), "--json"]);
    let v = json(&extract(&a));
    let cid = v["community_id"].as_str().unwrap().to_string();
    let mut b = vec!["--community-id", cid.as_str()];
    b.extend_from_slice(&QINQ_WINDOW);
    b.extend_from_slice(&["-o", s(&o2), "--json"]);
    let w = json(&extract(&b));
    assert_eq!(w["packets"], 15);
    assert_eq!(w["community_id"], cid.as_str());
    assert_eq!(std::fs::read(&o1).unwrap(), std::fs::read(&o2).unwrap());
}

#[test]
fn archive_mode_caches_and_separates_reused_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("archive");
    std::fs::create_dir(&arch).unwrap();
    let reused = [
        "--sip",
        "10.10.9.10",
        "--spt",
        "44123",
        "--dip",
        "10.10.9.20",
        "--dpt",
        "443",
        "--proto",
        "tcp",
    ];
    let run = |stime: &str, etime: &str, force: bool| {
        let mut a: Vec<&str> = reused.to_vec();
        a.extend_from_slice(&[
            "--stime",
            stime,
            "--etime",
            etime,
            "--archive",
            s(&arch),
            "--json",
        ]);
        if force {
            a.push("--force");
        }
        json(&extract(&a))
    };
    let first = run("1718406569", "1718406570", false);
    assert_eq!(first["packets"], 11);
    assert_eq!(first["cached"], false);
    let path = first["output"].as_str().unwrap().to_string();
    assert_eq!(
        path,
        s(&arch.join("2024-06-14/sensor1-eth1+sensor2-eth0/tcp_10.10.9.10_44123_10.10.9.20_443_1718406569-1718406570.pcap"))
    );
    let again = run("1718406569", "1718406570", false);
    assert_eq!(again["cached"], true);
    assert_eq!(again["packets"], 11);
    assert_eq!(again["files_scanned"], 0);
    assert_eq!(again["community_id"], first["community_id"]);
    assert_eq!(run("1718406569", "1718406570", true)["cached"], false);
    // The same 5-tuple an hour later: another archive file, other packets (CapMe's stale-pcap bug).
    let later = run("1718410186", "1718410187", false);
    assert_eq!(later["cached"], false);
    assert_ne!(later["output"], first["output"]);
    assert!(later["first_ts"].as_f64().unwrap() > 1_718_410_186.0);
    // A window past the newest packet of the store is not served from the archive (a window
    // that long needs a larger --max-window than the 24 h default).
    let long = || {
        let mut a: Vec<&str> = reused.to_vec();
        a.extend_from_slice(&["--stime", "1718410186", "--etime", "1999999999"]);
        a.extend_from_slice(&["--archive", s(&arch), "--json", "--max-window", "10000d"]);
        json(&extract(&a))
    };
    assert_eq!(long()["cached"], false);
    assert_eq!(long()["cached"], false);
}

#[test]
fn exit_1_no_packets_names_flow_and_window_and_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("none.pcap");
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&[
        "--stime",
        "1718406137",
        "--etime",
        "1718406140",
        "-o",
        s(&out),
    ]);
    let o = extract(&a);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("10.10.5.10:52001") && e.contains("2024-06-14T23:02:17"),
        "{e}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[test]
fn exit_2_invalid_input_names_the_field_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.pcap");
    let o = s(&out);
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec![
                "--sip",
                "10.10.5.300",
                "--spt",
                "1",
                "--dip",
                "10.0.0.1",
                "--dpt",
                "2",
            ],
            "sip",
            "10.10.5.300",
        ),
        (
            vec![
                "--sip", "10.0.0.1", "--spt", "99999", "--dip", "10.0.0.2", "--dpt", "2",
            ],
            "spt",
            "99999",
        ),
        (
            vec![
                "--sip", "10.0.0.1", "--spt", "1", "--dip", "10.0.0.2", "--dpt", "2", "--proto",
                "tcpp",
            ],
            "proto",
            "tcpp",
        ),
        (
            vec!["--community-id", "1:notanid"],
            "community-id",
            "1:notanid",
        ),
        // Strict parsing: what clap or a lenient parser used to take or reject unnamed.
        (
            vec![
                "--sip", "-1", "--spt", "1", "--dip", "10.0.0.2", "--dpt", "2",
            ],
            "invalid sip",
            "\"-1\"",
        ),
        (
            vec![
                "--sip", "10.0.0.1", "--spt", "+22", "--dip", "10.0.0.2", "--dpt", "2",
            ],
            "invalid spt",
            "+22",
        ),
        (
            vec![
                "--sip",
                "10.0.0.1 ",
                "--spt",
                "1",
                "--dip",
                "10.0.0.2",
                "--dpt",
                "2",
            ],
            "invalid sip",
            "\"10.0.0.1 \"",
        ),
        (
            vec!["--community-id", "wCb3OG7yAFWelaUydu0D+125CLM="],
            "community-id",
            "wCb3OG7yAFWelaUydu0D+125CLM=",
        ),
    ];
    for (args, field, value) in cases {
        let mut a = args.clone();
        a.extend_from_slice(&["--stime", "1718407577", "--etime", "1718407578", "-o", o]);
        let r = extract(&a);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", stderr(&r));
        let e = stderr(&r);
        assert!(e.contains(field) && e.contains(value), "{args:?}: {e}");
    }
    // A negative start, zero threads, and neither -o nor --archive.
    let flow = FLOW_1_2;
    let mut a = flow.to_vec();
    a.extend_from_slice(&["--stime", "-1", "--etime", "1718407578", "-o", o]);
    let r = extract(&a);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("invalid stime \"-1\""),
        "{}",
        stderr(&r)
    );
    let mut a = flow.to_vec();
    a.extend_from_slice(&["--stime", "1", "--etime", "2", "-o", o, "--threads", "0"]);
    let r = extract(&a);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("'0' for '--threads"), "{}", stderr(&r));
    let mut a = flow.to_vec();
    a.extend_from_slice(&["--stime", "1", "--etime", "2"]);
    let r = extract(&a);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert!(e.contains("--output") && e.contains("--archive"), "{e}");
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&["--stime", "1718407578", "--etime", "1718407577", "-o", o]);
    let r = extract(&a);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("etime") && stderr(&r).contains("1718407577"),
        "{}",
        stderr(&r)
    );
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&["--stime", "last tuesday", "--etime", "1718407577", "-o", o]);
    let r = extract(&a);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("stime") && stderr(&r).contains("last tuesday"));
    // Neither -o nor --archive: a usage error, also 2.
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    assert_eq!(extract(&a).status.code(), Some(2));
    assert!(!out.exists());
}

#[test]
fn exit_3_store_and_io_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-store");
    let mut a = vec!["extract", "--store", s(&missing)];
    a.extend_from_slice(&QINQ);
    a.extend_from_slice(&QINQ_WINDOW);
    a.extend_from_slice(&["-o", "/tmp/never-written.pcap"]);
    let r = capme(&a);
    assert_eq!(r.status.code(), Some(3));
    assert!(stderr(&r).contains("no-such-store"), "{}", stderr(&r));
    let bad_out = tmp.path().join("missing-dir/out.pcap");
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    a.extend_from_slice(&["-o", s(&bad_out)]);
    let r = extract(&a);
    assert_eq!(r.status.code(), Some(3));
    assert!(stderr(&r).contains("missing-dir"), "{}", stderr(&r));
}

#[test]
fn community_id_command_prints_only_the_id() {
    // A record of the specification's baseline (capme-core/tests/data/community-id).
    let o = capme(&[
        "community-id",
        "--sip",
        "128.232.110.120",
        "--spt",
        "34855",
        "--dip",
        "66.35.250.204",
        "--dpt",
        "80",
        "--proto",
        "tcp",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "1:LQU9qZlK+B5F3KDmev6m5PMibrg=\n"
    );
    let o = capme(&[
        "community-id",
        "--sip",
        "128.232.110.120",
        "--spt",
        "34855",
        "--dip",
        "66.35.250.204",
        "--dpt",
        "80",
        "--proto",
        "tcp",
        "--no-base64",
        "--seed",
        "1",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("1:") && out.trim().len() == 42, "{out}");
    // Port-less protocol: no ports.
    let o = capme(&[
        "community-id",
        "--sip",
        "10.0.0.1",
        "--dip",
        "10.0.0.2",
        "--proto",
        "47",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = capme(&[
        "community-id",
        "--sip",
        "10.0.0.1",
        "--dip",
        "10.0.0.2",
        "--proto",
        "tcp",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("spt"));
}

#[test]
fn files_lists_both_days_of_a_midnight_window() {
    let st = store();
    let o = capme(&[
        "files",
        "--store",
        s(&st),
        "--stime",
        "2024-06-14T23:55:00Z",
        "--etime",
        "2024-06-15T00:05:00Z",
        "--json",
    ]);
    let v = json(&o);
    let paths: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p.contains("2024-06-14/snort.log.1718408847")),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.contains("2024-06-15/snort.log.1718409747")),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.contains("snort.log.1718406137")),
        "{paths:?}"
    );
}

#[test]
fn help_explains_exit_codes_and_time_formats() {
    let o = capme(&["extract", "--help"]);
    let h = String::from_utf8_lossy(&o.stdout);
    assert!(
        h.contains("Exit codes") && h.contains("--community-id") && h.contains("RFC 3339"),
        "{h}"
    );
}

#[test]
fn index_command_then_indexed_extraction_equals_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    let st = store();
    let o = capme(&["index", "--store", s(&st), "--index-dir", s(&idx), "--json"]);
    let rep = json(&o);
    assert_eq!(rep["built"], 16);
    let again = json(&capme(&[
        "index",
        "--store",
        s(&st),
        "--index-dir",
        s(&idx),
        "--json",
    ]));
    assert_eq!(
        (again["built"].as_u64(), again["fresh"].as_u64()),
        (Some(0), Some(16))
    );
    let (o1, o2) = (tmp.path().join("scan.pcap"), tmp.path().join("idx.pcap"));
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    let mut scan = a.clone();
    scan.extend_from_slice(&["-o", s(&o1), "--json", "--no-index", "--index-dir", s(&idx)]);
    let mut ix = a.clone();
    ix.extend_from_slice(&[
        "-o",
        s(&o2),
        "--json",
        "--index-dir",
        s(&idx),
        "--threads",
        "1",
    ]);
    let v1 = json(&extract(&scan));
    let v2 = json(&extract(&ix));
    assert_eq!(
        (v1["files_indexed"].as_u64(), v2["files_scanned"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(v2["files_indexed"].as_u64().unwrap() > 0);
    assert_eq!(std::fs::read(&o1).unwrap(), std::fs::read(&o2).unwrap());
}

/// A pcap file whose first record header claims 0x7fffffff captured bytes.
fn corrupt_pcap(path: &Path) {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0u8; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    for v in [1_700_000_000u32, 0, 0x7fff_ffff, 60] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&[0u8; 64]);
    std::fs::write(path, h).unwrap();
}

#[test]
fn exit_1_with_damage_prints_warnings_and_the_json_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    std::fs::create_dir(&root).unwrap();
    corrupt_pcap(&root.join("snort.log.1700000000"));
    let out = tmp.path().join("flow.pcap");
    let o = capme(&[
        "extract",
        "--store",
        s(&root),
        "--sip",
        "10.0.0.1",
        "--spt",
        "1",
        "--dip",
        "10.0.0.2",
        "--dpt",
        "2",
        "--stime",
        "1700000000",
        "--etime",
        "1700000001",
        "-o",
        s(&out),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("capme: warning:") && err.contains("2147483647"),
        "{err}"
    );
    let last = err.lines().last().unwrap();
    assert!(
        last.contains("1 problem while reading 1 capture file")
            && last.contains("no packet matched"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("a JSON summary for exit 1 too");
    assert_eq!(v["packets"], 0);
    assert_eq!(v["warnings"], 1);
    assert_eq!(v["files_scanned"], 1);
    assert!(v["output"].is_null());
    assert!(!out.exists());
}

#[test]
fn files_says_why_its_answer_is_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let o = capme(&[
        "files",
        "--store",
        s(tmp.path()),
        "--stime",
        "1",
        "--etime",
        "2",
    ]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("the store holds no capture file"),
        "{}",
        stderr(&o)
    );
    let st = store();
    let o = capme(&[
        "files",
        "--store",
        s(&st),
        "--stime",
        "1",
        "--etime",
        "2",
        "--json",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    assert!(
        stderr(&o).contains("no capture file covers the window (16 capture files in the store)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_index_dir_is_a_warning_in_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-index");
    let out = tmp.path().join("f.pcap");
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    a.extend_from_slice(&["-o", s(&out), "--json", "--index-dir", s(&missing)]);
    let v = json(&extract(&a));
    assert_eq!(v["packets"], 15);
    assert_eq!(v["files_indexed"], 0);
    let w = v["warning_messages"].to_string();
    assert!(
        w.contains("no-such-index") && w.contains("does not exist"),
        "{w}"
    );
}

#[test]
fn exit_1_says_when_no_capture_file_covers_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty-store");
    std::fs::create_dir(&empty).unwrap();
    let out = tmp.path().join("f.pcap");
    let mut a = vec!["extract", "--store", s(&empty)];
    a.extend_from_slice(&FLOW_1_2);
    a.extend_from_slice(&[
        "--stime",
        "1700000000",
        "--etime",
        "1700000001",
        "-o",
        s(&out),
    ]);
    let o = capme(&a);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the store holds no capture file"),
        "{}",
        stderr(&o)
    );
    let mut a = FLOW_1_2.to_vec();
    a.extend_from_slice(&[
        "--stime",
        "1500000000",
        "--etime",
        "1500000001",
        "-o",
        s(&out),
    ]);
    let o = extract(&a);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("no capture file covers the window ("), "{err}");
    assert!(err.contains(" capture files in the store)"), "{err}");
}

fn qinq_to(out: &str, extra: &[&str]) -> Output {
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    a.extend_from_slice(&["-o", out]);
    a.extend_from_slice(extra);
    extract(&a)
}

#[test]
fn output_replaces_only_a_regular_file_and_only_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("flow.pcap");
    std::fs::write(&out, b"keep me").unwrap();
    let o = qinq_to(s(&out), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists") && stderr(&o).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    assert_eq!(
        json(&qinq_to(s(&out), &["--force", "--json"]))["packets"],
        15
    );
    assert_ne!(std::fs::read(&out).unwrap(), b"keep me");

    // Never a directory, FIFO, device or symlink, --force or not.
    let dir = tmp.path().join("a-dir");
    std::fs::create_dir(&dir).unwrap();
    let fifo = tmp.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let link = tmp.path().join("link.pcap");
    let target = tmp.path().join("target.pcap");
    std::fs::write(&target, b"target").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut refused = vec![
        (dir.clone(), "directory"),
        (fifo.clone(), "not a regular file"),
    ];
    refused.push((link.clone(), "symbolic link"));
    // A character device of our own (as root); elsewhere mknod fails and it is left out.
    let dev = tmp.path().join("null-dev");
    if Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
    {
        refused.push((dev.clone(), "not a regular file"));
    }
    for (path, why) in &refused {
        for force in [&[][..], &["--force"][..]] {
            let o = qinq_to(s(path), force);
            assert_eq!(
                o.status.code(),
                Some(2),
                "{path:?} {force:?}: {}",
                stderr(&o)
            );
            assert!(stderr(&o).contains(why), "{path:?}: {}", stderr(&o));
        }
    }
    assert!(dir.is_dir());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"target");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    if dev.exists() {
        assert!(std::fs::metadata(&dev)
            .unwrap()
            .file_type()
            .is_char_device());
    }
}

#[test]
fn output_inside_a_store_root_is_refused_even_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let day = root.join("s1/dailylogs/2024-06-14");
    std::fs::create_dir_all(&day).unwrap();
    // A capture file of the store, and the same path reached through `..`.
    let src = std::fs::read_dir(store().join("sensor1-eth1/dailylogs/2024-06-14"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snort.log.")
        })
        .unwrap();
    let capture = day.join(src.file_name().unwrap());
    std::fs::copy(&src, &capture).unwrap();
    let before = std::fs::read(&capture).unwrap();
    let sneaky = day.join("../2024-06-14").join(capture.file_name().unwrap());
    for out in [&capture, &sneaky, &root.join("new.pcap")] {
        let mut a = vec!["extract", "--store", s(&root)];
        a.extend_from_slice(&QINQ);
        a.extend_from_slice(&["--stime", "1718400000", "--etime", "1718500000"]);
        a.extend_from_slice(&["-o", s(out), "--force"]);
        let o = capme(&a);
        assert_eq!(o.status.code(), Some(2), "{out:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("inside store root"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&capture).unwrap(), before);
    assert!(!root.join("new.pcap").exists());
}

#[test]
fn output_dash_writes_the_capture_to_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("flow.pcap");
    assert!(qinq_to(s(&file), &[]).status.success());
    let o = qinq_to("-", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, std::fs::read(&file).unwrap());
    assert!(stderr(&o).contains("wrote 15 packets"), "{}", stderr(&o));
    let o = qinq_to("-", &["--json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

#[test]
fn outputs_and_archives_follow_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (umask, mode) in [("027", 0o640), ("022", 0o644), ("002", 0o664)] {
        let out = tmp.path().join(format!("flow-{umask}.pcap"));
        let archive = tmp.path().join(format!("archive-{umask}"));
        std::fs::create_dir(&archive).unwrap();
        let mut flow = QINQ.to_vec();
        flow.extend_from_slice(&QINQ_WINDOW);
        let bin = env!("CARGO_BIN_EXE_capme");
        let st = store();
        for dest in [
            vec!["-o", s(&out)],
            vec!["--archive", s(&archive), "--json"],
        ] {
            let script = format!("umask {umask}; exec \"$0\" \"$@\"");
            let mut args = vec!["extract", "--store", s(&st)];
            args.extend_from_slice(&flow);
            args.extend_from_slice(&dest);
            let o = Command::new("sh")
                .args(["-c", &script, bin])
                .args(&args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
        }
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            mode
        );
        // The archive and its cache record.
        let written = walk_files(&archive);
        assert_eq!(written.len(), 2, "{written:?}");
        for w in &written {
            let m = std::fs::metadata(w).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, mode, "{} under umask {umask}", w.display());
        }
    }
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The records of a capture file (timestamp and bytes).
fn records(path: &Path) -> Vec<(capme_core::Timestamp, Vec<u8>)> {
    let mut r = capme_core::capture::CaptureReader::open(path).unwrap();
    let mut got = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        got.push((rec.ts, rec.data.to_vec()));
    }
    got
}

/// The keys of a JSON object as printed, in their order.
fn key_order(stdout: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stdout);
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<(usize, String)> = v
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (text.find(&format!("\"{k}\":")).unwrap(), k.clone()))
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn max_packets_and_max_bytes_cap_the_result_and_say_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, limit: &[&str]| {
        let out = tmp.path().join(name);
        let mut a: Vec<&str> = QINQ.to_vec();
        a.extend_from_slice(&QINQ_WINDOW);
        a.extend_from_slice(&["-o", s(&out), "--json"]);
        a.extend_from_slice(limit);
        let o = extract(&a);
        (json(&o), o, out)
    };
    // Uncapped: the 15 packets, "truncated": false as a new last key, the others unchanged.
    let (all, o, all_path) = run("all.pcap", &[]);
    assert_eq!(all["packets"], 15);
    assert_eq!(all["truncated"], false);
    assert_eq!(
        key_order(&o.stdout),
        [
            "packets",
            "bytes",
            "first_ts",
            "last_ts",
            "output",
            "community_id",
            "files_scanned",
            "files_indexed",
            "bytes_read",
            "elapsed_ms",
            "cached",
            "warnings",
            "warning_messages",
            "first_ts_ns",
            "last_ts_ns",
            "truncated",
            "encapsulated"
        ]
    );
    let full = records(&all_path);
    // Exactly at the limit: nothing more matched, not truncated.
    let (v, _, _) = run("at.pcap", &["--max-packets", "15"]);
    assert_eq!(
        (v["packets"].as_u64(), v["truncated"].as_bool()),
        (Some(15), Some(false))
    );
    // Capped at 5 packets: a valid file of the first 5, truncated, a warning naming the limit.
    let (v, o, path) = run("five.pcap", &["--max-packets", "5"]);
    assert_eq!(v["packets"], 5);
    assert_eq!(v["truncated"], true);
    assert_eq!(records(&path), full[..5]);
    let w = v["warning_messages"].as_array().unwrap();
    assert_eq!(v["warnings"].as_u64(), Some(w.len() as u64));
    assert!(
        w.iter()
            .any(|m| m.as_str().unwrap().contains("truncated at max_packets = 5")),
        "{w:?}"
    );
    assert!(stderr(&o).contains("warning: result truncated at max_packets = 5"));
    // Capped by bytes: the packets that fit.
    let total = all["bytes"].as_u64().unwrap();
    let limit = (total - 1).to_string();
    let (v, o, path) = run("bytes.pcap", &["--max-bytes", &limit]);
    assert_eq!(v["truncated"], true, "{}", stderr(&o));
    let n = v["packets"].as_u64().unwrap() as usize;
    assert!(n < 15 && v["bytes"].as_u64().unwrap() < total);
    assert_eq!(records(&path), full[..n]);
    assert!(stderr(&o).contains(&format!("truncated at max_bytes = {limit}")));
    // The human summary says it too.
    let mut a: Vec<&str> = QINQ.to_vec();
    a.extend_from_slice(&QINQ_WINDOW);
    let human = tmp.path().join("human.pcap");
    a.extend_from_slice(&["-o", s(&human), "--max-packets", "3"]);
    let o = extract(&a);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("truncated at a limit"));
}

#[test]
fn max_window_refuses_longer_windows_unless_raised() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |stime: &str, etime: &str, extra: &[&str]| {
        let mut a: Vec<&str> = QINQ.to_vec();
        a.extend_from_slice(&["--stime", stime, "--etime", etime, "--json"]);
        let out = tmp
            .path()
            .join(format!("{stime}-{etime}-{}.pcap", extra.join("_")));
        let out = out.to_str().unwrap().to_string();
        a.extend_from_slice(&["-o", &out]);
        a.extend_from_slice(extra);
        extract(&a)
    };
    // 48 hours around the flow: refused by default, naming the window and --max-window.
    let o = run("1718320000", "1718492800", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("invalid window") && e.contains("--max-window"),
        "{e}"
    );
    assert!(
        e.contains("2024-06-13T23:06:40") && e.contains("2024-06-15T23:06:40"),
        "{e}"
    );
    assert!(
        e.contains("is 2d long") && e.contains("limit of 24h"),
        "{e}"
    );
    assert!(o.stdout.is_empty());
    // Raised: accepted (every accepted form).
    for raised in ["172800", "2880m", "48h", "2d", "3d"] {
        let o = run("1718320000", "1718492800", &["--max-window", raised]);
        assert_eq!(json(&o)["packets"], 15, "{raised}");
    }
    // Exactly 24 h (an integer etime covers its second) is within the default.
    let o = run("1718340000", "1718426400", &[]);
    assert_eq!(json(&o)["packets"], 15);
    // A smaller limit refuses a 2-second window.
    let o = run("1718407577", "1718407579", &["--max-window", "1s"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn limit_values_are_parsed_strictly_naming_the_field() {
    for (flag, value, field) in [
        ("--max-packets", "0", "max_packets"),
        ("--max-packets", "-1", "max_packets"),
        ("--max-packets", "+5", "max_packets"),
        ("--max-packets", " 5", "max_packets"),
        ("--max-packets", "1e3", "max_packets"),
        ("--max-bytes", "0", "max_bytes"),
        ("--max-bytes", "2G", "max_bytes"),
        ("--max-window", "0", "max_window"),
        ("--max-window", "24 h", "max_window"),
        ("--max-window", "1.5h", "max_window"),
        ("--max-window", "-1h", "max_window"),
        ("--max-window", "2w", "max_window"),
        ("--max-window", "", "max_window"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("x.pcap");
        let mut a: Vec<&str> = QINQ.to_vec();
        a.extend_from_slice(&QINQ_WINDOW);
        a.extend_from_slice(&["-o", s(&out), flag, value]);
        let o = extract(&a);
        assert_eq!(o.status.code(), Some(2), "{flag} {value:?}: {}", stderr(&o));
        let want = format!("capme: invalid {field} {value:?}");
        assert!(
            stderr(&o).starts_with(&want),
            "{flag} {value:?}: {}",
            stderr(&o)
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_truncated_archive_is_never_served_as_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("archive");
    std::fs::create_dir(&arch).unwrap();
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = QINQ.to_vec();
        a.extend_from_slice(&QINQ_WINDOW);
        a.extend_from_slice(&["--archive", s(&arch), "--json"]);
        a.extend_from_slice(extra);
        json(&extract(&a))
    };
    // Truncated: written beside the archive name, as <name>.truncated.pcap.
    let capped = run(&["--max-packets", "5"]);
    assert_eq!(
        (capped["packets"].as_u64(), capped["truncated"].as_bool()),
        (Some(5), Some(true))
    );
    let tpath = PathBuf::from(capped["output"].as_str().unwrap());
    assert!(s(&tpath).ends_with(".truncated.pcap"), "{tpath:?}");
    assert_eq!(records(&tpath).len(), 5);
    let cache = PathBuf::from(s(&tpath).replace(".truncated.pcap", ".pcap"));
    assert!(!cache.exists(), "a truncated result is not cached");
    // Under the default limits: scanned again, complete, cached under the archive name.
    let full = run(&[]);
    assert_eq!(full["cached"], false);
    assert_eq!(
        (full["packets"].as_u64(), full["truncated"].as_bool()),
        (Some(15), Some(false))
    );
    assert_eq!(PathBuf::from(full["output"].as_str().unwrap()), cache);
    assert_eq!(run(&[])["cached"], true);
    // The complete archive is larger than a smaller limit: not served, truncated again.
    let capped = run(&["--max-packets", "5"]);
    assert_eq!(
        (capped["cached"].as_bool(), capped["truncated"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(records(&cache).len(), 15, "the complete archive stays");
    // No staging file is left in the archive directory.
    let dir = cache.parent().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The archive, its cache record, and the truncated result beside them.
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

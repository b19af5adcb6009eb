//! End-to-end tests of the pivots on the bundled sample store: CapMe and SOC URLs, Zeek uids
//! (TSV and JSON conn logs, plain and gzip, Security Onion and stock Zeek layouts, written in
//! tempdirs), --pad and --whole-flow. Every flow used is one of examples/data/manifest.json.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{json, s, stderr, store, QINQ};

fn extract(extra: &[&str]) -> Output {
    let st = store();
    let mut a = vec!["extract", "--store", s(&st)];
    a.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_capme"))
        .args(&a)
        .output()
        .unwrap()
}

/// Extracts with `args` into `dir/name` and returns the summary and the file's bytes.
fn run(dir: &Path, name: &str, args: &[&str]) -> (Value, Vec<u8>) {
    let out = dir.join(name);
    let mut a = args.to_vec();
    a.extend_from_slice(&["-o", s(&out), "--json"]);
    let v = json(&extract(&a));
    (v, std::fs::read(&out).unwrap())
}

/// The IPv6 flow (17 packets, 1718406713.234567 to 1718406713.445920).
const V6: [&str; 14] = [
    "--sip",
    "2001:db8:10::10",
    "--spt",
    "51001",
    "--dip",
    "2001:db8:10::20",
    "--dpt",
    "443",
    "--proto",
    "tcp",
    "--stime",
    "1718406713",
    "--etime",
    "1718406713",
];

const CAPME: &str = "https://so.example/capme/index.php";

#[test]
fn capme_url_equals_the_tuple_query() {
    let t = tempfile::tempdir().unwrap();
    let (v, want) = run(t.path(), "tuple.pcap", &QINQ);
    assert_eq!(v["packets"], 15);
    let url = format!(
        "{CAPME}?sip=10.10.5.10&spt=52001&dip=10.10.5.20&dpt=22&stime=1718407577\
         &etime=1718407578&usr=analyst&maxtx=500000&filename=squert"
    );
    let (w, got) = run(t.path(), "url.pcap", &["--url", &url]);
    assert_eq!(w["packets"], 15);
    assert_eq!(got, want);
    // --stime/--etime replace the URL's window: a window before the flow finds nothing.
    let o = extract(&[
        "--url",
        &url,
        "--etime",
        "1718407577.5",
        "-o",
        s(&t.path().join("x")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn capme_url_with_percent_encoded_ipv6() {
    let t = tempfile::tempdir().unwrap();
    let (_, want) = run(t.path(), "tuple.pcap", &V6);
    let url = format!(
        "{CAPME}?sip=2001%3Adb8%3A10%3A%3A10&spt=%35%31%30%30%31&dip=%5B2001:DB8:10::20%5D\
         &dpt=443&stime=1718406713&etime=1718406713#ignored"
    );
    let (w, got) = run(t.path(), "url.pcap", &["--url", &url]);
    assert_eq!(w["packets"], 17);
    assert_eq!(got, want);
}

#[test]
fn bad_urls_exit_2_naming_the_parameter() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("x.pcap");
    for (url, needles) in [
        (
            format!("{CAPME}?sip=10.10.5.10&spt=65536&dip=10.10.5.20&dpt=22&stime=1&etime=2"),
            vec!["spt", "65536"],
        ),
        (
            format!("{CAPME}?sip=10.10.5.10&spt=1&dip=10.10.5.20&dpt=22&stime=1"),
            vec!["etime", "--etime"],
        ),
        (
            "https://so.example/capme/elastic.php?esid=AWx1dG9rZW4".to_string(),
            vec!["esid", "Elasticsearch", "--community-id"],
        ),
        (
            "https://so.example/joblookup?esid=abc&time=2024-06-14T23:26:17Z".to_string(),
            vec!["esid", "Elasticsearch"],
        ),
        (format!("{CAPME}?sip=%G1"), vec!["url", "percent"]),
        (CAPME.to_string(), vec!["url", "query string"]),
    ] {
        let o = extract(&["--url", &url, "-o", s(&out)]);
        assert_eq!(o.status.code(), Some(2), "{url}: {}", stderr(&o));
        let e = stderr(&o);
        for n in needles {
            assert!(e.contains(n), "{url}: {n:?} not in {e}");
        }
        assert!(!out.exists());
    }
}

#[test]
fn soc_joblookup_ncid_is_a_community_id_query() {
    let t = tempfile::tempdir().unwrap();
    let (v, want) = run(t.path(), "tuple.pcap", &QINQ);
    let cid = v["community_id"].as_str().unwrap();
    let enc = cid
        .replace(':', "%3A")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    // `time` is the event's instant: padded by 2 s by default, which covers this 0.5 s flow.
    let url = format!("https://so.example/joblookup?redirectUrl=%2F&ncid={enc}&time=2024-06-14T23%3A26%3A17.678912Z");
    let (w, got) = run(t.path(), "soc.pcap", &["--url", &url]);
    assert_eq!(w["packets"], 15);
    assert_eq!(w["community_id"], cid);
    assert_eq!(got, want);
    // --pad 0: the window is the one instant of the first packet.
    let (w, _) = run(t.path(), "soc0.pcap", &["--url", &url, "--pad", "0"]);
    assert_eq!(w["packets"], 1);
    // Without a time, the window must be given.
    let bare = format!("https://so.example/joblookup?ncid={enc}");
    let o = extract(&["--url", &bare, "-o", s(&t.path().join("y"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--stime"), "{}", stderr(&o));
    let (w, _) = run(
        t.path(),
        "soc2.pcap",
        &[
            "--url",
            &bare,
            "--stime",
            "1718407577",
            "--etime",
            "1718407578",
        ],
    );
    assert_eq!(w["packets"], 15);
}

#[test]
fn flow_forms_exclude_each_other_naming_the_options() {
    let out = tempfile::tempdir().unwrap().path().join("x.pcap");
    for (args, a, b) in [
        (
            vec!["--url", "u?sip=1", "--sip", "10.0.0.1"],
            "--url",
            "--sip",
        ),
        (
            vec!["--url", "u?sip=1", "--community-id", "1:x"],
            "--url",
            "--community-id",
        ),
        (
            vec!["--zeek-uid", "C1", "--zeek-logs", "/tmp", "--url", "u"],
            "--zeek-uid",
            "--url",
        ),
        (
            vec!["--zeek-uid", "C1", "--zeek-logs", "/tmp", "--stime", "1"],
            "--zeek-uid",
            "--stime",
        ),
        (vec!["--zeek-uid", "C1"], "--zeek-logs", ""),
        (
            vec!["--zeek-logs", "/tmp", "--stime", "1", "--etime", "2"],
            "--zeek-uid",
            "",
        ),
    ] {
        let mut full = args.clone();
        full.extend_from_slice(&["-o", s(&out)]);
        let o = extract(&full);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains(a) && e.contains(b), "{args:?}: {e}");
    }
    // A tuple still needs its window; `capme files` too.
    let o = extract(&[
        "--sip",
        "10.0.0.1",
        "--spt",
        "1",
        "--dip",
        "10.0.0.2",
        "--dpt",
        "2",
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--stime"));
    let st = store();
    let o = Command::new(env!("CARGO_BIN_EXE_capme"))
        .args(["files", "--store", s(&st), "--stime", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--etime"));
}

#[test]
fn extract_help_explains_the_pivot_options() {
    let o = Command::new(env!("CARGO_BIN_EXE_capme"))
        .args(["extract", "--help"])
        .output()
        .unwrap();
    let h = String::from_utf8_lossy(&o.stdout);
    for opt in [
        "--url",
        "joblookup",
        "--zeek-uid",
        "--zeek-logs",
        "--pad",
        "--whole-flow",
        "--max-window",
    ] {
        assert!(h.contains(opt), "{opt} not in {h}");
    }
}

// ---- Zeek ------------------------------------------------------------------------------

const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n\
    #unset_field\t-\n#path\tconn\n#open\t2024-06-14-23-00-00\n\
    #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\
    \torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\
    \torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n\
    #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\
    \tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n";
const CLOSE: &str = "#close\t2024-06-15-00-00-00\n";

/// A TSV conn record as Zeek writes it.
#[allow(clippy::too_many_arguments)]
fn tsv_row(
    ts: &str,
    uid: &str,
    oh: &str,
    op: u16,
    rh: &str,
    rp: u16,
    proto: &str,
    dur: &str,
) -> String {
    format!("{ts}\t{uid}\t{oh}\t{op}\t{rh}\t{rp}\t{proto}\t-\t{dur}\t0\t0\tSF\tT\tT\t0\tShADadFf\t8\t600\t7\t3000\t(empty)\n")
}

/// The JSON conn record of the same connection.
#[allow(clippy::too_many_arguments)]
fn json_row(
    ts: &str,
    uid: &str,
    oh: &str,
    op: u16,
    rh: &str,
    rp: u16,
    proto: &str,
    dur: Option<&str>,
) -> String {
    let dur = dur
        .map(|d| format!(",\"duration\":{d}"))
        .unwrap_or_default();
    format!(
        "{{\"ts\":{ts},\"uid\":\"{uid}\",\"id.orig_h\":\"{oh}\",\"id.orig_p\":{op},\"id.resp_h\":\"{rh}\",\
         \"id.resp_p\":{rp},\"proto\":\"{proto}\"{dur},\"conn_state\":\"SF\",\"local_orig\":true,\
         \"missed_bytes\":0,\"history\":\"ShADadFf\",\"orig_pkts\":8,\"tunnel_parents\":[]}}\n"
    )
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Zeek logs in every layout, each holding one of the sample store's flows:
/// Security Onion 2 (gzip TSV), Security Onion 16.04's /nsm/bro (plain TSV), stock Zeek
/// (current/conn.log JSON, a rotated gzip JSON).
fn zeek_logs(root: &Path) {
    let filler = tsv_row(
        "1718406000.000001",
        "CfillerA1",
        "10.9.9.9",
        1,
        "10.9.9.8",
        2,
        "udp",
        "-",
    );
    write(
        &root.join("nsm/zeek/logs/2024-06-14/conn.23:00:00-00:00:00.log.gz"),
        &gz(&format!(
            "{HEADER}{filler}{}{CLOSE}",
            tsv_row(
                "1718407577.678912",
                "CqinqTSV1",
                "10.10.5.10",
                52001,
                "10.10.5.20",
                22,
                "tcp",
                "0.543733"
            )
        )),
    );
    write(
        &root.join("nsm/bro/logs/2024-06-14/conn.23:00:00-00:00:00.log"),
        format!(
            "{HEADER}{}{CLOSE}",
            tsv_row(
                "1718406713.234567",
                "Cv6plain1",
                "2001:db8:10::10",
                51001,
                "2001:db8:10::20",
                443,
                "tcp",
                "0.211353"
            )
        )
        .as_bytes(),
    );
    write(
        &root.join("zeek/logs/current/conn.log"),
        json_row(
            "1718406929.345678",
            "CdnsJSON1",
            "10.10.2.10",
            53001,
            "10.10.2.53",
            53,
            "udp",
            Some("0.007000"),
        )
        .as_bytes(),
    );
    write(
        &root.join("zeek/logs/2024-06-14/conn.23:00:00-00:00:00.log.gz"),
        &gz(&json_row(
            "1718407145.456789",
            "CicmpGZ1",
            "10.10.3.10",
            8,
            "10.10.3.20",
            0,
            "icmp",
            Some("3.003"),
        )),
    );
    // The midnight flow with its duration unset and its ts rounded down a second: only
    // --whole-flow brings the whole connection back.
    write(
        &root.join("zeek/logs/2024-06-15/conn.00:00:00-01:00:00.log"),
        format!(
            "{HEADER}{}{CLOSE}",
            tsv_row(
                "1718409580.000000",
                "Cmidnight1",
                "10.10.10.10",
                45000,
                "10.10.10.20",
                5222,
                "tcp",
                "-"
            )
        )
        .as_bytes(),
    );
    // Not a conn log: never read.
    write(
        &root.join("zeek/logs/current/dns.log"),
        b"CqinqTSV1 garbage\n",
    );
}

#[test]
fn zeek_uid_equals_the_tuple_query_in_every_layout() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    zeek_logs(&logs);
    let tuple = |args: &[&str], name: &str| run(t.path(), name, args);
    let icmp = [
        "--sip",
        "10.10.3.10",
        "--spt",
        "8",
        "--dip",
        "10.10.3.20",
        "--dpt",
        "0",
        "--proto",
        "icmp",
        "--stime",
        "1718407145",
        "--etime",
        "1718407149",
    ];
    let dns = [
        "--sip",
        "10.10.2.10",
        "--spt",
        "53001",
        "--dip",
        "10.10.2.53",
        "--dpt",
        "53",
        "--proto",
        "udp",
        "--stime",
        "1718406929",
        "--etime",
        "1718406929",
    ];
    for (uid, dir, want_args, packets) in [
        ("CqinqTSV1", logs.join("nsm/zeek/logs"), &QINQ[..], 15),
        ("Cv6plain1", logs.join("nsm/bro/logs"), &V6[..], 17),
        ("CdnsJSON1", logs.join("zeek/logs"), &dns[..], 2),
        ("CicmpGZ1", logs.clone(), &icmp[..], 8),
    ] {
        let (_, want) = tuple(want_args, &format!("{uid}-tuple.pcap"));
        let (v, got) = run(
            t.path(),
            &format!("{uid}.pcap"),
            &["--zeek-uid", uid, "--zeek-logs", s(&dir)],
        );
        assert_eq!(v["packets"], packets, "{uid}");
        assert_eq!(got, want, "{uid}");
    }
    // One log file named directly.
    let one = logs.join("nsm/zeek/logs/2024-06-14/conn.23:00:00-00:00:00.log.gz");
    let (v, _) = run(
        t.path(),
        "one.pcap",
        &["--zeek-uid", "CqinqTSV1", "--zeek-logs", s(&one)],
    );
    assert_eq!(v["packets"], 15);
}

#[test]
fn zeek_uid_missing_exits_1_naming_uid_and_what_was_searched() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    zeek_logs(&logs);
    let out = t.path().join("x.pcap");
    let o = extract(&[
        "--zeek-uid",
        "CnotThere9",
        "--zeek-logs",
        s(&logs),
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("zeek uid CnotThere9 not found")
            && e.contains("searched 5 conn log files (6 records)"),
        "{e}"
    );
    assert!(!out.exists());
    let o = extract(&[
        "--zeek-uid",
        "CnotThere9",
        "--zeek-logs",
        s(&logs),
        "-o",
        s(&out),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).expect("--json prints the summary");
    assert_eq!(
        (v["packets"].as_u64(), v["output"].is_null()),
        (Some(0), true)
    );
    let o = extract(&[
        "--zeek-uid",
        "C1",
        "--zeek-logs",
        s(&t.path().join("none")),
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("zeek_logs"));
    let o = extract(&["--zeek-uid", "C;1", "--zeek-logs", s(&logs), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("zeek_uid"));
}

#[test]
fn pad_widens_every_form() {
    let t = tempfile::tempdir().unwrap();
    // The HTTP flow, 13 packets from .123456 to .201617; a window of its middle holds fewer.
    let base = [
        "--sip",
        "10.10.1.10",
        "--spt",
        "51000",
        "--dip",
        "10.10.1.20",
        "--dpt",
        "80",
        "--stime",
        "1718406497.15",
        "--etime",
        "1718406497.16",
    ];
    let (v, _) = run(t.path(), "narrow.pcap", &base);
    assert!(v["packets"].as_u64().unwrap() < 13, "{v}");
    let mut padded = base.to_vec();
    padded.extend_from_slice(&["--pad", "0.1"]);
    let (v, _) = run(t.path(), "padded.pcap", &padded);
    assert_eq!(v["packets"], 13);
    let url = format!(
        "{CAPME}?sip=10.10.1.10&spt=51000&dip=10.10.1.20&dpt=80&stime=1718406497.15&etime=1718406497.16"
    );
    let (v, _) = run(t.path(), "url.pcap", &["--url", &url, "--pad", "1"]);
    assert_eq!(v["packets"], 13);
    // A Zeek record's window is padded by 2 s by default; --pad 0 keeps it exact.
    let logs = t.path().join("logs");
    zeek_logs(&logs);
    let (v, _) = run(
        t.path(),
        "z0.pcap",
        &[
            "--zeek-uid",
            "CqinqTSV1",
            "--zeek-logs",
            s(&logs),
            "--pad",
            "0",
        ],
    );
    assert_eq!(v["packets"], 15);
    let o = extract(&[&base[..], &["--pad", "-1", "-o", s(&t.path().join("bad"))]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid pad"), "{}", stderr(&o));
}

#[test]
fn whole_flow_recovers_a_flow_its_window_cuts() {
    let t = tempfile::tempdir().unwrap();
    let flow = [
        "--sip",
        "10.10.10.10",
        "--spt",
        "45000",
        "--dip",
        "10.10.10.20",
        "--dpt",
        "5222",
    ];
    // The midnight flow: 54 packets over 45 s, keepalives crossing a rotation and midnight.
    let (_, want) = run(
        t.path(),
        "all.pcap",
        &[
            &flow[..],
            &["--stime", "1718409570", "--etime", "1718409630"],
        ]
        .concat(),
    );
    let cut = [
        &flow[..],
        &["--stime", "1718409579", "--etime", "1718409580"],
    ]
    .concat();
    let (v, _) = run(t.path(), "cut.pcap", &cut);
    assert!(v["packets"].as_u64().unwrap() < 54, "{v}");
    let (v, got) = run(
        t.path(),
        "whole.pcap",
        &[&cut[..], &["--whole-flow"]].concat(),
    );
    assert_eq!(v["packets"], 54);
    assert_eq!(v["warnings"], 0);
    assert_eq!(got, want);
    // From the middle of the flow, growing both ways.
    let mid = [
        &flow[..],
        &[
            "--stime",
            "1718409600",
            "--etime",
            "1718409600",
            "--whole-flow",
        ],
    ]
    .concat();
    let (_, got) = run(t.path(), "mid.pcap", &mid);
    assert_eq!(got, want);
    // A Zeek record with its duration unset.
    let logs = t.path().join("logs");
    zeek_logs(&logs);
    let z = ["--zeek-uid", "Cmidnight1", "--zeek-logs", s(&logs)];
    let (v, _) = run(t.path(), "z.pcap", &z);
    assert!(v["packets"].as_u64().unwrap() < 54, "{v}");
    let (_, got) = run(t.path(), "zw.pcap", &[&z[..], &["--whole-flow"]].concat());
    assert_eq!(got, want);
    // The window limit bounds the growing, and says so.
    let (v, _) = run(
        t.path(),
        "limited.pcap",
        &[&cut[..], &["--whole-flow", "--max-window", "10"]].concat(),
    );
    assert!(v["packets"].as_u64().unwrap() < 54, "{v}");
    let w = v["warning_messages"].to_string();
    assert!(
        w.contains("--whole-flow stopped at the window limit"),
        "{w}"
    );
}

#[test]
fn whole_flow_does_not_join_a_reused_tuple_an_hour_later() {
    let t = tempfile::tempdir().unwrap();
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
        "--stime",
        "1718406569",
        "--etime",
        "1718406569",
        "--whole-flow",
    ];
    let (v, _) = run(t.path(), "r.pcap", &reused);
    assert_eq!(v["packets"], 11);
    assert_eq!(v["last_ts_ns"], 1_718_406_569_320_786_000i64);
}

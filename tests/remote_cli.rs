//! `capme extract --remote URL` against real `capme serve` processes: the same bytes, JSON
//! fields and exit codes as a local extraction; and `capme serve --peer`: a server over one
//! sensor's copy of the sample store, with the other sensor's server as its peer, answers as
//! a local extraction over both stores. Stores are copied into temporary directories.

mod common;

use common::{bin, capme, json, s, serve, stderr, store, QINQ};
use std::path::Path;
use std::process::Command;

/// The JSON summary without the fields that differ between any two runs.
fn comparable(mut v: serde_json::Value) -> serde_json::Value {
    let o = v.as_object_mut().unwrap();
    o.remove("output");
    o.remove("elapsed_ms");
    v
}

/// A flow both sensors of the sample store saw: 15 packets each.
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn remote_extract_gives_the_local_bytes_json_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let (_srv, url) = serve(&["--store", s(&store()), "--max-window", "1h"]);
    let local_out = tmp.path().join("local.pcap");
    let remote_out = tmp.path().join("remote.pcap");
    let local = capme(
        &[
            &[
                "extract",
                "--store",
                s(&store()),
                "--json",
                "-o",
                s(&local_out),
            ][..],
            &QINQ[..],
        ]
        .concat(),
    );
    let remote = capme(
        &[
            &["extract", "--remote", &url, "--json", "-o", s(&remote_out)][..],
            &QINQ[..],
        ]
        .concat(),
    );
    let (lj, rj) = (json(&local), json(&remote));
    assert_eq!(rj["packets"], 15, "{rj}");
    assert_eq!(comparable(rj.clone()), comparable(lj));
    assert_eq!(rj["output"], s(&remote_out));
    assert_eq!(
        std::fs::read(&remote_out).unwrap(),
        std::fs::read(&local_out).unwrap()
    );

    // An existing file is not replaced without --force, as locally (exit 2 or 3 as local).
    let again = capme(
        &[
            &["extract", "--remote", &url, "-o", s(&remote_out)][..],
            &QINQ[..],
        ]
        .concat(),
    );
    let local_again = capme(
        &[
            &["extract", "--store", s(&store()), "-o", s(&local_out)][..],
            &QINQ[..],
        ]
        .concat(),
    );
    assert_eq!(
        again.status.code(),
        local_again.status.code(),
        "{}",
        stderr(&again)
    );
    assert_ne!(again.status.code(), Some(0));

    // --zeek-uid: looked up here, in the logs given; the server gets the record's flow and
    // window (padded), exact to the nanosecond: the same capture and summary.
    let log = tmp.path().join("conn.log");
    std::fs::write(
        &log,
        "{\"ts\":1718407577.678912,\"uid\":\"CqinqJ\",\"id.orig_h\":\"10.10.5.10\",\
         \"id.orig_p\":52001,\"id.resp_h\":\"10.10.5.20\",\"id.resp_p\":22,\"proto\":\"tcp\",\
         \"duration\":0.543733}\n",
    )
    .unwrap();
    let zeek = ["--zeek-uid", "CqinqJ", "--zeek-logs", s(&log)];
    let (lz, rz) = (tmp.path().join("lz.pcap"), tmp.path().join("rz.pcap"));
    let l = capme(
        &[
            &["extract", "--store", s(&store()), "--json", "-o", s(&lz)][..],
            &zeek[..],
        ]
        .concat(),
    );
    let r = capme(
        &[
            &["extract", "--remote", &url, "--json", "-o", s(&rz)][..],
            &zeek[..],
        ]
        .concat(),
    );
    let (lj, rj) = (json(&l), json(&r));
    assert_eq!(rj["packets"], 15, "{rj}");
    assert_eq!(comparable(rj), comparable(lj));
    assert_eq!(std::fs::read(&rz).unwrap(), std::fs::read(&lz).unwrap());
    // A uid in no log: exit 1 before any request, as locally.
    let r = capme(&[
        "extract",
        "--remote",
        &url,
        "-o",
        s(&rz),
        "--force",
        "--zeek-uid",
        "Cnone",
        "--zeek-logs",
        s(&log),
    ]);
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));

    // -o -: the capture on stdout, the same bytes.
    let out = capme(&[&["extract", "--remote", &url, "-o", "-"][..], &QINQ[..]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, std::fs::read(&local_out).unwrap());

    // Nothing matched: exit 1 and a JSON summary, as locally; no file left.
    let none = [
        "--sip",
        "10.9.9.9",
        "--spt",
        "1",
        "--dip",
        "10.9.9.8",
        "--dpt",
        "2",
        "--stime",
        "1718407577",
        "--etime",
        "1718407578",
    ];
    let empty = tmp.path().join("empty.pcap");
    let r = capme(
        &[
            &["extract", "--remote", &url, "--json", "-o", s(&empty)][..],
            &none[..],
        ]
        .concat(),
    );
    let l = capme(
        &[
            &["extract", "--store", s(&store()), "--json", "-o", s(&empty)][..],
            &none[..],
        ]
        .concat(),
    );
    assert_eq!(
        (r.status.code(), l.status.code()),
        (Some(1), Some(1)),
        "{}",
        stderr(&r)
    );
    let rj: serde_json::Value = serde_json::from_slice(&r.stdout).expect("a JSON summary");
    assert_eq!(rj["packets"], 0);
    assert!(!empty.exists());

    // A window over the server's --max-window: the server's 413 is invalid input, exit 2,
    // and its message reaches the user.
    let long = [
        "--sip",
        "10.10.5.10",
        "--spt",
        "52001",
        "--dip",
        "10.10.5.20",
        "--dpt",
        "22",
        "--stime",
        "1718407577",
        "--etime",
        "1718417577",
    ];
    let r = capme(
        &[
            &["extract", "--remote", &url, "-o", s(&empty)][..],
            &long[..],
        ]
        .concat(),
    );
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("max_window"), "{}", stderr(&r));

    // A bad query is refused before any request (exit 2), as locally.
    let r = capme(&[
        "extract",
        "--remote",
        &url,
        "-o",
        s(&empty),
        "--sip",
        "10.0.0.1",
        "--spt",
        "1",
        "--dip",
        "10.0.0.2",
        "--dpt",
        "2",
        "--stime",
        "yesterday",
        "--etime",
        "1",
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));

    // No server there: exit 3, naming the URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{port}");
    let r = capme(
        &[
            &["extract", "--remote", &down, "-o", s(&empty)][..],
            &QINQ[..],
        ]
        .concat(),
    );
    assert_eq!(r.status.code(), Some(3), "{}", stderr(&r));
    assert!(stderr(&r).contains(&down), "{}", stderr(&r));
}

#[test]
fn a_server_with_a_peer_answers_as_a_local_extraction_over_both_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_dir(&store().join("sensor1-eth1"), &a.join("sensor1-eth1"));
    copy_dir(&store().join("sensor2-eth0"), &b.join("sensor2-eth0"));
    let (_sb, url_b) = serve(&["--store", s(&b)]);
    let peer = format!("two={url_b}");
    let down = format!(
        "gone=http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let (_sa, url_a) = serve(&["--store", s(&a), "--peer", &peer, "--peer", &down]);

    let local_out = tmp.path().join("local.pcap");
    let local = capme(
        &[
            &[
                "extract",
                "--store",
                s(&a),
                "--store",
                s(&b),
                "--json",
                "-o",
                s(&local_out),
            ][..],
            &SHARED[..],
        ]
        .concat(),
    );
    let remote_out = tmp.path().join("remote.pcap");
    let remote = capme(
        &[
            &[
                "extract",
                "--remote",
                &url_a,
                "--json",
                "-o",
                s(&remote_out),
            ][..],
            &SHARED[..],
        ]
        .concat(),
    );
    let (lj, rj) = (json(&local), json(&remote));
    assert_eq!(rj["packets"], 30, "{rj}");
    for k in [
        "packets",
        "bytes",
        "first_ts_ns",
        "last_ts_ns",
        "community_id",
        "files_scanned",
    ] {
        assert_eq!(rj[k], lj[k], "{k}: {rj} vs {lj}");
    }
    // The peer that is down is named, on stderr and in the JSON.
    assert_eq!(rj["warnings"], 1, "{rj}");
    assert!(
        rj["warning_messages"][0]
            .as_str()
            .unwrap()
            .starts_with("peer gone (http://127.0.0.1:"),
        "{rj}"
    );
    assert!(
        stderr(&remote).contains("capme: warning: peer gone"),
        "{}",
        stderr(&remote)
    );
    assert_eq!(
        std::fs::read(&remote_out).unwrap(),
        std::fs::read(&local_out).unwrap(),
        "the merged capture"
    );

    // --sensor two: proxied to the peer, its store alone.
    let one = tmp.path().join("one.pcap");
    let only = capme(
        &[
            &[
                "extract",
                "--remote",
                &url_a,
                "--sensor",
                "two",
                "--json",
                "-o",
                s(&one),
            ][..],
            &SHARED[..],
        ]
        .concat(),
    );
    assert_eq!(json(&only)["packets"], 15);

    // A peer named as a local sensor is refused at start, naming it.
    let clash = Command::new(bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure-no-auth",
            "--store",
            s(&a),
        ])
        .arg("--peer")
        .arg(format!("sensor1-eth1={url_b}"))
        .output()
        .unwrap();
    assert_eq!(clash.status.code(), Some(3), "{}", stderr(&clash));
    assert!(
        stderr(&clash).contains("invalid peer \"sensor1-eth1\""),
        "{}",
        stderr(&clash)
    );
}

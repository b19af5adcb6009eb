//! The CLI over a store of many files (issue 12): open descriptors stay bounded under a low
//! `ulimit -n` whatever the number of files in the window, and the catalogue written by
//! `capme index` gives the answer `--no-catalogue` gives.

use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::packet::udp4;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const T0: u32 = 1_700_006_400; // 2023-11-15T00:00:00Z

/// `sensors` sensors of `files` files 20 s apart on 2023-11-15, each with one packet of the
/// flow 10.0.0.1:5000 <-> 10.0.0.2:53 and one of noise.
fn store(root: &Path, sensors: u32, files: u32) {
    for s in 0..sensors {
        let day = root.join(format!("sensor{s}/dailylogs/2023-11-15"));
        std::fs::create_dir_all(&day).unwrap();
        for i in 0..files {
            let t = T0 + i * 20 + s;
            let mut b = PcapBuilder::new(1, false, false);
            b.packet(
                (t, 0),
                &udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53, &[1; 8]),
            );
            b.packet(
                (t + 1, 0),
                &udp4([10, 0, 0, 3], 5000, [10, 0, 0, 2], 53, &[2; 8]),
            );
            b.write(day.join(format!("snort.log.{t}"))).unwrap();
        }
    }
}

/// Runs capme with at most `fds` open descriptors.
fn capme_limited(fds: u32, args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -n {fds} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_capme"))
        .args(args)
        .output()
        .unwrap()
}

fn extract_args<'a>(root: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "extract",
        "--store",
        root,
        "--sip",
        "10.0.0.1",
        "--spt",
        "5000",
        "--dip",
        "10.0.0.2",
        "--dpt",
        "53",
        "--proto",
        "udp",
        "--stime",
        "1700006400",
        "--etime",
        "1700020000",
        "-o",
        out,
        "--json",
        "--force",
    ];
    a.extend_from_slice(extra);
    a
}

fn summary(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn descriptors_stay_bounded_whatever_the_files_in_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    // 3 chains of 600 files each, all in the window; 16 descriptors in all (stdin, stdout,
    // stderr included) are far fewer than the 1,800 files.
    store(&root, 3, 600);
    let out = tmp.path().join("out.pcap");
    let (r, o) = (root.to_str().unwrap(), out.to_str().unwrap());
    for threads in ["1", "2"] {
        let v = summary(&capme_limited(
            16,
            &extract_args(r, o, &["--threads", threads, "--no-index"]),
        ));
        assert_eq!(v["packets"], 1800, "{v}");
        assert_eq!(v["files_scanned"], 1800, "{v}");
    }
    // Indexing the store under the same limit, then extracting through the indexes.
    let ix = capme_limited(16, &["index", "--store", r, "--json"]);
    let rep = summary(&ix);
    assert_eq!(rep["built"], 1800, "{rep}");
    let v = summary(&capme_limited(16, &extract_args(r, o, &[])));
    assert_eq!(
        (v["packets"].clone(), v["files_indexed"].clone()),
        (1800.into(), 1800.into())
    );
}

#[test]
fn the_catalogue_answers_as_listing_does() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    store(&root, 2, 300);
    let (r, out) = (root.to_str().unwrap(), tmp.path().join("a.pcap"));
    let o = out.to_str().unwrap();
    let first = summary(&capme_limited(1024, &["index", "--store", r, "--json"]));
    assert_eq!(first["built"], 600, "{first}");
    let second = summary(&capme_limited(1024, &["index", "--store", r, "--json"]));
    assert_eq!(
        (second["built"].clone(), second["fresh"].clone()),
        (0.into(), 600.into())
    );
    let with = summary(&capme_limited(1024, &extract_args(r, o, &[])));
    let a = std::fs::read(&out).unwrap();
    let without = summary(&capme_limited(
        1024,
        &extract_args(r, o, &["--no-catalogue"]),
    ));
    assert_eq!(std::fs::read(&out).unwrap(), a);
    assert_eq!(with["packets"], without["packets"]);
    assert_eq!(with["packets"], 600);
    // `capme files` lists the same files either way.
    let files = |extra: &[&str]| {
        let mut a = vec![
            "files",
            "--store",
            r,
            "--stime",
            "1700006400",
            "--etime",
            "1700007000",
            "--json",
        ];
        a.extend_from_slice(extra);
        summary(&capme_limited(1024, &a))
    };
    assert_eq!(files(&[]), files(&["--no-catalogue"]));
}

//! Encapsulation (issue 15): the generator's tunnel store (`capme_gen::tunnels`), where every
//! inner flow is written once plain and once inside its tunnel (GRE, ERSPAN II/III, VXLAN,
//! GENEVE, the four IP-in-IP kinds, PPPoE in VXLAN, VXLAN in GRE), queried through the CLI:
//!
//! - `--layer any|inner|outer` find the generator's counts, with and without flow indexes,
//!   and indexed and unindexed outputs are byte for byte the same file;
//! - the JSON summary's `encapsulated` counts the tunnel packets by kind;
//! - `--decapsulate` writes the plain packets' frames (Ethernet or raw IP) with the original
//!   timestamps;
//! - where tshark can filter the tunnel (`vxlan`, `gre`, `erspan`, `geneve`), it finds the
//!   same packets in the store as `--layer inner` does.
//!
//! tshark comes from Debian's package; without it the tshark test is skipped with a message,
//! unless `CAPME_REQUIRE_TOOLS` is set (CI), where a missing tool is a failure.

mod common;

use capme_core::capture::CaptureReader;
use capme_core::testutil::encap::ip_of;
use capme_core::wire::layers;
use capme_core::FlowKey;
use capme_gen::tunnels::{tunnel_store, Case, TunnelStore};
use common::{json, s};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn capme(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capme"))
        .args(args)
        .output()
        .unwrap()
}

fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CAPME_REQUIRE_TOOLS").is_some() {
            panic!("{tool} is required (CAPME_REQUIRE_TOOLS is set); install it: apt-get install {tool}");
        }
        eprintln!("skipping: {tool} not installed (./scripts/test-all.sh installs it)");
    }
    ok
}

/// The query options of a case's inner flow over the whole store.
fn inner_args(st: &TunnelStore, c: &Case) -> Vec<String> {
    let (ca, cp, sa, sp) = c.inner;
    vec![
        "--sip".into(),
        ca.to_string(),
        "--spt".into(),
        cp.to_string(),
        "--dip".into(),
        sa.to_string(),
        "--dpt".into(),
        sp.to_string(),
        "--proto".into(),
        "tcp".into(),
        "--stime".into(),
        st.start.to_string(),
        "--etime".into(),
        st.end.to_string(),
    ]
}

/// `capme extract --json` into `out` with `query` and `extra`: the exit code and the summary
/// (`Value::Null` when nothing matched).
fn extract(st: &TunnelStore, query: &[String], extra: &[&str], out: &Path) -> (i32, Value) {
    let mut args: Vec<&str> = vec!["extract", "--store", s(&st.root), "-o", s(out), "--json"];
    args.extend(query.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let o = capme(&args);
    let code = o.status.code().unwrap_or(-1);
    let v = if code == 0 { json(&o) } else { Value::Null };
    (code, v)
}

/// (ts ns, link type, orig_len, bytes) of every record of a capture file.
fn records(path: &Path) -> Vec<(i64, u32, u32, Vec<u8>)> {
    let mut r = CaptureReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut v = Vec::new();
    while let Some((rec, iface)) = r.next_with_interface().unwrap() {
        v.push((
            rec.ts.as_nanos(),
            iface.linktype,
            rec.orig_len,
            rec.data.to_vec(),
        ));
    }
    v
}

fn inner_key(c: &Case) -> FlowKey {
    let (ca, cp, sa, sp) = c.inner;
    FlowKey::new(
        capme_core::Proto::TCP,
        capme_core::Endpoint::new(ca, cp),
        capme_core::Endpoint::new(sa, sp),
    )
}

/// At which layer (0 outer) the case's inner flow is in a packet, checked by decoding here.
fn flow_depth(c: &Case, linktype: u32, data: &[u8]) -> Option<usize> {
    let want = inner_key(c);
    layers(linktype, data)
        .iter()
        .position(|l| FlowKey::of_decoded(&l.decoded) == Some(want))
}

fn store() -> (tempfile::TempDir, TunnelStore) {
    let dir = tempfile::tempdir().unwrap();
    let st = tunnel_store(&dir.path().join("store")).unwrap();
    (dir, st)
}

/// Every case at every layer finds the generator's counts and the right packets, the
/// summary counts the tunnel packets by kind, and an indexed store gives the same files.
#[test]
fn layers_find_the_generators_packets_indexed_and_not() {
    let (dir, st) = store();
    let tmp = dir.path();
    let mut outputs: BTreeMap<(String, &str, bool), Vec<u8>> = BTreeMap::new();
    for indexed in [false, true] {
        if indexed {
            let o = capme(&["index", "--store", s(&st.root)]);
            assert!(o.status.success(), "{}", common::stderr(&o));
        }
        for c in &st.cases {
            let q = inner_args(&st, c);
            for (layer, want) in [
                ("any", c.plain + c.tunnelled),
                ("inner", c.tunnelled),
                ("outer", c.plain),
            ] {
                let out = tmp.join(format!("{}-{layer}-{indexed}.pcap", c.name));
                let (code, v) = extract(&st, &q, &["--layer", layer], &out);
                assert_eq!(code, 0, "{} {layer}", c.name);
                let what = format!("{} --layer {layer} (indexed: {indexed})", c.name);
                assert_eq!(v["packets"], want, "{what}: {v}");
                if indexed {
                    assert_eq!(v["files_scanned"], 0, "{what}: {v}");
                    assert!(v["files_indexed"].as_u64().unwrap() > 0, "{what}: {v}");
                }
                let tunnelled = if layer == "outer" { 0 } else { c.tunnelled };
                assert_eq!(v["encapsulated"]["packets"], tunnelled, "{what}: {v}");
                let by: BTreeMap<String, u64> =
                    serde_json::from_value(v["encapsulated"]["by"].clone()).unwrap();
                let want_by = if layer == "outer" {
                    BTreeMap::new()
                } else {
                    c.by.clone()
                };
                assert_eq!(by, want_by, "{what}");
                // Each packet carries the flow: plain ones at the outer layer, the others
                // inside; bytes unchanged (the plain copies decode at layer 0).
                let recs = records(&out);
                assert_eq!(recs.len() as u64, want);
                let depths: Vec<usize> = recs
                    .iter()
                    .map(|(_, lt, _, d)| flow_depth(c, *lt, d).expect("the flow is in the packet"))
                    .collect();
                let inner = depths.iter().filter(|&&d| d > 0).count() as u64;
                assert_eq!(inner, tunnelled, "{what}");
                outputs
                    .entry((c.name.to_string(), layer, indexed))
                    .or_insert(std::fs::read(&out).unwrap());
            }
        }
    }
    for ((name, layer, indexed), bytes) in &outputs {
        if *indexed {
            assert!(
                outputs[&(name.clone(), *layer, false)] == *bytes,
                "{name} --layer {layer}: indexed and unindexed outputs differ"
            );
        }
    }
}

/// The tunnels' own flows (the outer GRE / IP-in-IP packets between the tunnel endpoints)
/// match at `any` and `outer`, never at `inner`; the other inner flow of a tunnel never
/// matches the case's flow.
#[test]
fn tunnel_flows_are_outer_flows() {
    let (dir, st) = store();
    for c in st.cases.iter().filter(|c| c.outer_proto != 17) {
        let q: Vec<String> = [
            "--sip".to_string(),
            c.outer.0.to_string(),
            "--dip".into(),
            c.outer.1.to_string(),
            "--proto".into(),
            c.outer_proto.to_string(),
            "--stime".into(),
            st.start.to_string(),
            "--etime".into(),
            st.end.to_string(),
        ]
        .to_vec();
        let out = dir.path().join(format!("{}-outer.pcap", c.name));
        let all = c.tunnelled + c.others;
        for (layer, want) in [("any", Some(all)), ("outer", Some(all)), ("inner", None)] {
            let _ = std::fs::remove_file(&out);
            let (code, v) = extract(&st, &q, &["--layer", layer], &out);
            match want {
                Some(n) => {
                    assert_eq!(code, 0, "{} {layer}", c.name);
                    assert_eq!(v["packets"], n, "{} {layer}: {v}", c.name);
                    assert_eq!(v["encapsulated"]["packets"], n, "{} {layer}", c.name);
                }
                None => assert_eq!(code, 1, "{} {layer}: nothing matches", c.name),
            }
        }
    }
}

/// `--decapsulate` writes each tunnel packet as the frame the tunnel carries: the plain
/// copy's Ethernet frame, its IP packet (link type 101), or its PPPoE frame; timestamps and
/// lengths as the generator wrote them.
#[test]
fn decapsulate_writes_the_innermost_frames() {
    let (dir, st) = store();
    let tmp = dir.path();
    for c in &st.cases {
        let q = inner_args(&st, c);
        let (plain_f, tun_f, dec_f) = (
            tmp.join(format!("{}-plain.pcap", c.name)),
            tmp.join(format!("{}-tun.pcap", c.name)),
            tmp.join(format!("{}-dec.pcap", c.name)),
        );
        assert_eq!(extract(&st, &q, &["--layer", "outer"], &plain_f).0, 0);
        assert_eq!(extract(&st, &q, &["--layer", "inner"], &tun_f).0, 0);
        let (code, v) = extract(&st, &q, &["--layer", "inner", "--decapsulate"], &dec_f);
        assert_eq!(code, 0, "{}", c.name);
        assert_eq!(v["encapsulated"]["packets"], c.tunnelled, "{}", c.name);
        let (plain, tun, dec) = (records(&plain_f), records(&tun_f), records(&dec_f));
        assert_eq!(dec.len(), plain.len());
        let mut bytes = 0;
        for ((p, t), d) in plain.iter().zip(&tun).zip(&dec) {
            assert_eq!(d.0, t.0, "{}: the tunnel packet's timestamp", c.name);
            assert_eq!(
                d.2 as usize,
                d.3.len(),
                "{}: orig_len of a whole frame",
                c.name
            );
            bytes += d.3.len();
            let frame = &p.3;
            if c.name == "pppoe-in-vxlan" {
                assert_eq!(d.1, 1);
                assert_eq!(&d.3[12..14], &[0x88, 0x64]);
                assert_eq!(&d.3[22..], ip_of(frame), "{}", c.name);
            } else if d.1 == 101 {
                assert_eq!(&d.3[..], ip_of(frame), "{}", c.name);
                assert!(
                    matches!(c.name, "gre" | "gre-key-seq" | "gre6" | "geneve-ip")
                        || c.outer_proto != 47 && c.outer_proto != 17
                );
            } else {
                assert_eq!(d.1, 1, "{}", c.name);
                assert_eq!(&d.3[..], &frame[..], "{}", c.name);
            }
        }
        assert_eq!(
            v["bytes"], bytes,
            "{}: the summary counts the bytes written",
            c.name
        );
    }
    // Mixed link types (plain Ethernet and raw IP from IP in IP): pcapng.
    let c = st.cases.iter().find(|c| c.name == "ipip").unwrap();
    let out = tmp.join("mixed.pcap");
    let (code, v) = extract(&st, &inner_args(&st, c), &["--decapsulate"], &out);
    assert_eq!(
        (code, v["packets"].as_u64()),
        (0, Some(c.plain + c.tunnelled))
    );
    let recs = records(&out);
    assert_eq!(
        &std::fs::read(&out).unwrap()[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a]
    );
    assert_eq!(
        recs.iter().filter(|r| r.1 == 101).count() as u64,
        c.tunnelled
    );
    // Not with an archive.
    let o = capme(&[
        "extract",
        "--store",
        s(&st.root),
        "--archive",
        s(tmp),
        "--decapsulate",
        "--sip",
        "10.0.0.1",
        "--spt",
        "1",
        "--dip",
        "10.0.0.2",
        "--dpt",
        "2",
        "--stime",
        "1",
        "--etime",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// An archive of an inner flow, served again from the cache, reports the same tunnel counts;
/// a query restricted to a layer has an archive of its own.
#[test]
fn archive_cache_keeps_the_counts_and_layers_apart() {
    let (dir, st) = store();
    let c = st.cases.iter().find(|c| c.name == "geneve").unwrap();
    // A window that ends before the store's newest packet (else the archive is not served).
    let mut q = inner_args(&st, c);
    *q.last_mut().unwrap() = (st.start + 100).to_string();
    let arch = dir.path().join("archive");
    std::fs::create_dir(&arch).unwrap();
    let run = |layer: &str| {
        let mut args: Vec<&str> = vec!["extract", "--store", s(&st.root), "--archive", s(&arch)];
        args.extend(q.iter().map(String::as_str));
        args.extend(["--json", "--layer", layer]);
        json(&capme(&args))
    };
    let first = run("any");
    let again = run("any");
    assert_eq!(
        (first["cached"].as_bool(), again["cached"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(again["encapsulated"], first["encapsulated"]);
    assert_eq!(again["encapsulated"]["packets"], c.tunnelled);
    let inner = run("inner");
    assert_eq!(inner["cached"], false, "another layer, another archive");
    assert_eq!(inner["packets"], c.tunnelled);
    assert_ne!(inner["output"], first["output"]);
}

/// A transcript of an inner flow is the inner connection's conversation, whatever tunnel
/// carries it.
#[test]
fn transcripts_of_inner_flows() {
    let (_dir, st) = store();
    for name in [
        "vxlan",
        "gre",
        "erspan3",
        "6in4",
        "vxlan-in-gre",
        "pppoe-in-vxlan",
    ] {
        let c = st.cases.iter().find(|c| c.name == name).unwrap();
        let q = inner_args(&st, c);
        let mut args: Vec<&str> = vec!["transcript", "--store", s(&st.root), "--layer", "inner"];
        args.extend(q.iter().map(String::as_str));
        let o = capme(&args);
        assert!(o.status.success(), "{name}: {}", common::stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("GET / HTTP/1.1")
                && text.contains("HTTP/1.1 200 OK")
                && text.contains("hello"),
            "{name}: {text}"
        );
    }
}

/// The human summary says how many packets were tunnelled and by what; a bad --layer is an
/// invalid query naming the field.
#[test]
fn human_summary_and_bad_layer() {
    let (dir, st) = store();
    let c = st.cases.iter().find(|c| c.name == "vxlan-in-gre").unwrap();
    let q = inner_args(&st, c);
    let out = dir.path().join("h.pcap");
    let mut args: Vec<&str> = vec!["extract", "--store", s(&st.root), "-o", s(&out)];
    args.extend(q.iter().map(String::as_str));
    let o = capme(&args);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("encapsulated 8 packets (gre 8, vxlan 8)"),
        "{text}"
    );
    args.extend(["--layer", "middle", "--force"]);
    let o = capme(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("layer"),
        "{}",
        common::stderr(&o)
    );
}

/// tshark, an independent dissector, finds in the store the same packets of each inner flow
/// inside its tunnel as `--layer inner` does (by timestamp).
#[test]
fn tshark_finds_the_same_tunnel_packets() {
    if !have("tshark") {
        return;
    }
    let (dir, st) = store();
    for c in &st.cases {
        let Some(proto) = c.tshark else {
            continue;
        };
        let filter = format!("{proto} && tcp.port == {}", c.inner.1);
        let mut theirs: Vec<String> = Vec::new();
        for f in &st.files {
            let o = Command::new("tshark")
                .args(["-n", "-r"])
                .arg(f)
                .args(["-Y", &filter, "-T", "fields", "-e", "frame.time_epoch"])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            theirs.extend(String::from_utf8_lossy(&o.stdout).lines().map(epoch_us));
        }
        let out: PathBuf = dir.path().join(format!("{}-ts.pcap", c.name));
        let (code, _) = extract(&st, &inner_args(&st, c), &["--layer", "inner"], &out);
        assert_eq!(code, 0);
        let ours: Vec<String> = records(&out)
            .iter()
            .map(|r| {
                format!(
                    "{}.{:06}",
                    r.0 / 1_000_000_000,
                    (r.0 % 1_000_000_000) / 1000
                )
            })
            .collect();
        theirs.sort();
        assert_eq!(ours.len() as u64, c.tunnelled, "{}", c.name);
        assert_eq!(ours, theirs, "{}: tshark -Y '{filter}'", c.name);
    }
}

/// tshark's `frame.time_epoch` (`1700000000.100000000`) to µs precision.
fn epoch_us(t: &str) -> String {
    let (s, f) = t.trim().split_once('.').unwrap_or((t.trim(), "0"));
    format!("{s}.{:0<6}", &f[..f.len().min(6)])
}

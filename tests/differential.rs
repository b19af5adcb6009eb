//! Differential tests: capme against tcpdump (and tshark as an independent reader) on the
//! generated sample store.
//!
//! For each flow, tcpdump runs the filter CapMe's pcap_agent used, `(F) or (vlan and (F))`, over
//! every capture file, and its output is restricted to the window. capme must return every packet
//! tcpdump returns, in timestamp order, plus exactly the packets BPF is known to miss: non-first IP
//! fragments (no ports), QinQ packets (the `vlan` keyword sees one tag), MPLS packets and IPv6
//! packets with extension headers. Flows are sampled from
//! the store itself (decoded here, independently of the generator) and, for the interesting flows,
//! also checked against the generator's manifest.
//!
//! tcpdump/tshark come from Debian's packages; the README's test command installs them. Without
//! them these tests are skipped with a message, unless `CAPME_REQUIRE_TOOLS` is set (CI), where a
//! missing tool is a failure.

use capme_core::capture::CaptureReader;
use capme_core::flow::{Endpoint, FlowKey, Proto};
use capme_core::wire::{decode, network_layer, NetworkLayer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn store() -> PathBuf {
    repo().join("examples/data/store")
}

thread_local! {
    /// The store the current test works on (tests run on their own threads).
    static STORE: std::cell::RefCell<PathBuf> = std::cell::RefCell::new(store());
}

thread_local! {
    /// Sum of capme's `bytes_read` over the extractions of the current test.
    static BYTES_READ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn current_store() -> PathBuf {
    STORE.with(|s| s.borrow().clone())
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

/// (ts_ns, bytes) of every record of a capture file.
fn read_all(path: &Path) -> Vec<(i64, Vec<u8>)> {
    let mut r = CaptureReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut v = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        v.push((rec.ts.as_nanos(), rec.data.to_vec()));
    }
    v
}

/// Number of 802.1Q/802.1ad tags of an Ethernet frame.
fn vlan_depth(frame: &[u8]) -> usize {
    let mut off = 12;
    let mut n = 0;
    while off + 2 <= frame.len() {
        let et = u16::from_be_bytes([frame[off], frame[off + 1]]);
        if et == 0x8100 || et == 0x88a8 || et == 0x9100 {
            n += 1;
            off += 4;
        } else {
            break;
        }
    }
    n
}

/// A packet BPF's `(F) or (vlan and (F))` cannot see: a non-first IP fragment (no ports), a
/// QinQ frame (`vlan` consumes one tag), an MPLS frame, or IPv6 with extension headers (BPF's `udp`/`port`
/// look only at the fixed header's next-header field).
fn bpf_blind(frame: &[u8]) -> bool {
    let nonfirst = decode(1, frame)
        .and_then(|d| d.frag)
        .is_some_and(|f| f.offset != 0);
    let v6_ext = match network_layer(1, frame) {
        Some(NetworkLayer::Ipv6(ip)) => ip.len() > 6 && ![6u8, 17, 132, 58].contains(&ip[6]),
        _ => false,
    };
    nonfirst || v6_ext || vlan_depth(frame) >= 2 || is_mpls(frame)
}

/// An MPLS frame (the CapMe filter has no `mpls` keyword).
fn is_mpls(frame: &[u8]) -> bool {
    let off = 12 + 4 * vlan_depth(frame);
    frame
        .get(off..off + 2)
        .is_some_and(|e| e == [0x88, 0x47] || e == [0x88, 0x48])
}

struct Flow {
    proto: Proto,
    src: Endpoint,
    dst: Endpoint,
}

impl Flow {
    fn bpf(&self) -> String {
        let p = if self.proto == Proto::TCP {
            "tcp"
        } else {
            "udp"
        };
        let f = format!(
            "host {} and host {} and port {} and port {} and {p}",
            self.src.addr, self.dst.addr, self.src.port, self.dst.port
        );
        format!("({f}) or (vlan and ({f}))")
    }
}

/// tcpdump the CapMe way over every file, restricted to the window.
fn tcpdump(flow: &Flow, stime_ns: i64, etime_ns: i64, tmp: &Path) -> Vec<(i64, Vec<u8>)> {
    let mut all = Vec::new();
    for (i, f) in capme_core::testutil::capture_files(&current_store())
        .iter()
        .enumerate()
    {
        let out = tmp.join(format!("td{i}.pcap"));
        let st = Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(f)
            .arg("-w")
            .arg(&out)
            .arg(flow.bpf())
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "tcpdump failed: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        all.extend(
            read_all(&out)
                .into_iter()
                .filter(|(ts, _)| *ts >= stime_ns && *ts <= etime_ns),
        );
    }
    all.sort();
    all
}

fn capme(args: &[String], out: &Path) -> (serde_json::Value, Vec<(i64, Vec<u8>)>) {
    let o = Command::new(env!("CARGO_BIN_EXE_capme"))
        .arg("extract")
        .arg("--store")
        .arg(current_store())
        .args(args)
        .arg("-o")
        .arg(out)
        .arg("--json")
        .output()
        .unwrap();
    if o.status.code() == Some(1) {
        // No packet matched: nothing written, nothing left behind.
        assert!(!out.exists(), "exit 1 must leave no file");
        return (serde_json::json!({"packets": 0}), Vec::new());
    }
    assert!(
        o.status.success(),
        "capme {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let packets = read_all(out);
    std::fs::remove_file(out).unwrap();
    (v, packets)
}

fn ns_to_arg(ns: i64) -> String {
    format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

/// Compares capme with tcpdump for one flow and window; returns capme's packets.
fn check_flow(flow: &Flow, stime_ns: i64, etime_ns: i64, tmp: &Path) -> Vec<(i64, Vec<u8>)> {
    let args = vec![
        "--sip".to_string(),
        flow.src.addr.to_string(),
        "--spt".into(),
        flow.src.port.to_string(),
        "--dip".into(),
        flow.dst.addr.to_string(),
        "--dpt".into(),
        flow.dst.port.to_string(),
        "--proto".into(),
        flow.proto.to_string(),
        "--stime".into(),
        ns_to_arg(stime_ns),
        "--etime".into(),
        ns_to_arg(etime_ns),
    ];
    let out = tmp.join("capme.pcap");
    let (json, got) = capme(&args, &out);
    assert!(
        got.windows(2).all(|w| w[0].0 <= w[1].0),
        "capme output not in time order"
    );
    assert!(
        got.iter().all(|(ts, _)| *ts >= stime_ns && *ts <= etime_ns),
        "packet outside the window"
    );
    assert_eq!(json["packets"].as_u64().unwrap() as usize, got.len());
    BYTES_READ.with(|b| b.set(b.get() + json["bytes_read"].as_u64().unwrap_or(0)));
    let mut sorted = got.clone();
    sorted.sort();
    let td = tcpdump(flow, stime_ns, etime_ns, tmp);
    // Every packet tcpdump finds, capme finds.
    let mut extra = sorted.clone();
    for p in &td {
        let i = extra.iter().position(|q| q == p).unwrap_or_else(|| {
            panic!(
                "capme misses a packet tcpdump found at {} for {}",
                p.0,
                flow.bpf()
            )
        });
        extra.remove(i);
    }
    // What capme finds beyond tcpdump is exactly what BPF cannot see.
    for (ts, data) in &extra {
        assert!(
            bpf_blind(data),
            "capme returned a packet at {ts} that tcpdump did not and BPF should have seen"
        );
    }
    got
}

/// Runs capme once more and has tshark count the packets of its output file.
fn tshark_count(args: &[String], tmp: &Path) -> (usize, usize) {
    let out = tmp.join("tshark.pcap");
    let o = Command::new(env!("CARGO_BIN_EXE_capme"))
        .arg("extract")
        .arg("--store")
        .arg(current_store())
        .args(args)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ours = read_all(&out).len();
    let t = Command::new("tshark")
        .arg("-r")
        .arg(&out)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    assert!(
        t.status.success(),
        "tshark cannot read capme's output: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let theirs = String::from_utf8_lossy(&t.stdout).lines().count();
    std::fs::remove_file(&out).unwrap();
    (ours, theirs)
}

#[test]
fn sampled_flows_match_tcpdump() {
    if !have("tcpdump") || !have("tshark") {
        return;
    }
    sampled_flows_on_current_store();
}

/// A generated store with 15-20 MB files, so that capme prunes inside files by time (bisection
/// at open, early stop past the window) while tcpdump reads everything.
#[test]
fn sampled_flows_match_tcpdump_with_time_pruning() {
    if !have("tcpdump") || !have("tshark") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("store");
    let mut config = capme_gen::Config::new(&st);
    config.target_bytes = 80_000_000;
    config.rotate = 1800;
    config.seed = 3;
    capme_gen::generate(&config).unwrap_or_else(|e| panic!("gen-store: {e}"));
    let big = capme_core::testutil::capture_files(&st)
        .iter()
        .filter(|f| std::fs::metadata(f).unwrap().len() > 8 << 20)
        .count();
    assert!(
        big >= 4,
        "expected files large enough to prune, found {big}"
    );
    STORE.with(|s| *s.borrow_mut() = st.clone());
    let checks = sampled_flows_on_current_store();
    // Pruning read much less than whole files: each check's window touches 1-3 files per sensor.
    let total: u64 = capme_core::testutil::capture_files(&st)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let read = BYTES_READ.with(|b| b.get());
    assert!(
        read < checks as u64 * total / 10,
        "read {read} bytes in {checks} extractions of a {total}-byte store"
    );
}

/// Checks sampled flows of the current store against tcpdump; returns the number of checks.
fn sampled_flows_on_current_store() -> usize {
    // Every TCP/UDP flow of the store, decoded here: key -> (first tuple seen, first ts, last ts).
    let mut flows: BTreeMap<FlowKey, (Flow, i64, i64, usize)> = BTreeMap::new();
    for f in capme_core::testutil::capture_files(&current_store()) {
        for (ts, data) in read_all(&f) {
            let Some(d) = decode(1, &data) else { continue };
            let Some((sp, dp)) = d.ports else { continue };
            if d.proto != Proto::TCP && d.proto != Proto::UDP {
                continue;
            }
            let (src, dst) = (Endpoint::new(d.src, sp), Endpoint::new(d.dst, dp));
            let e = flows.entry(FlowKey::new(d.proto, src, dst)).or_insert((
                Flow {
                    proto: d.proto,
                    src,
                    dst,
                },
                ts,
                ts,
                0,
            ));
            e.1 = e.1.min(ts);
            e.2 = e.2.max(ts);
            e.3 += 1;
        }
    }
    assert!(
        flows.len() >= 20,
        "the sample store should hold many flows, found {}",
        flows.len()
    );
    let tmp = tempfile::tempdir().unwrap();
    let step = flows.len() / 12;
    let mut checked = 0;
    for (i, (_, (flow, first, last, n))) in flows.iter().enumerate() {
        if i % step != 0 {
            continue;
        }
        // The whole flow, with a second of slack.
        let got = check_flow(
            flow,
            first - 1_000_000_000,
            last + 1_000_000_000,
            tmp.path(),
        );
        assert!(got.len() >= *n, "whole-flow window lost packets");
        // The middle part only: the window cuts inside the flow, at a fractional time.
        if last - first > 2_000_000 {
            let a = first + (last - first) / 3;
            let b = last - (last - first) / 3;
            check_flow(flow, a, b, tmp.path());
            checked += 1;
        }
    }
    assert!(checked >= 10);
    checked
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("examples/data/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The generator's record of each interesting flow is the ground truth: capme returns exactly
/// its packets, and what tcpdump misses is exactly the packets flagged QinQ, non-first fragment
/// or IPv6 extension headers.
#[test]
fn manifest_flows_match_ground_truth_and_tcpdump() {
    if !have("tcpdump") || !have("tshark") {
        return;
    }
    let m = manifest();
    let tmp = tempfile::tempdir().unwrap();
    let mut named = std::collections::BTreeSet::new();
    for f in m["flows"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let proto = Proto::parse("proto", f["proto"].as_str().unwrap()).unwrap();
        let ep = |ip: &str, port: &str| {
            Endpoint::new(
                f[ip].as_str().unwrap().parse().unwrap(),
                f[port].as_u64().unwrap() as u16,
            )
        };
        let flow = Flow {
            proto,
            src: ep("src_ip", "src_port"),
            dst: ep("dst_ip", "dst_port"),
        };
        // The flow's own time span: both sensors' copies of shared-tcp fall into it.
        let (a, b) = (
            f["first_ts_ns"].as_i64().unwrap(),
            f["last_ts_ns"].as_i64().unwrap(),
        );
        let want: Vec<(i64, u64, bool)> = m["flows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| {
                g["src_ip"] == f["src_ip"]
                    && g["dst_ip"] == f["dst_ip"]
                    && g["src_port"] == f["src_port"]
                    && g["dst_port"] == f["dst_port"]
                    && g["proto"] == f["proto"]
            })
            .flat_map(|g| g["packets"].as_array().unwrap().iter())
            .filter(|p| (a..=b).contains(&p["ts_ns"].as_i64().unwrap()))
            .map(|p| {
                let fl = &p["flags"];
                let blind = fl["qinq"].as_bool().unwrap()
                    || fl["mpls"].as_bool().unwrap()
                    || fl["non_first_fragment"].as_bool().unwrap()
                    || fl["ipv6_ext_headers"].as_bool().unwrap();
                (
                    p["ts_ns"].as_i64().unwrap(),
                    p["len"].as_u64().unwrap(),
                    blind,
                )
            })
            .collect();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        if proto == Proto::TCP || proto == Proto::UDP {
            let got = check_flow(&flow, a, b, tmp.path());
            let got_tl: Vec<(i64, u64)> = got.iter().map(|(t, d)| (*t, d.len() as u64)).collect();
            let want_tl: Vec<(i64, u64)> = want_sorted.iter().map(|(t, l, _)| (*t, *l)).collect();
            let mut got_sorted = got_tl.clone();
            got_sorted.sort();
            assert_eq!(
                got_sorted, want_tl,
                "{name}: capme differs from the manifest"
            );
            // tcpdump finds exactly the packets not flagged as BPF-blind.
            let td: Vec<(i64, u64)> = tcpdump(&flow, a, b, tmp.path())
                .iter()
                .map(|(t, d)| (*t, d.len() as u64))
                .collect();
            let want_td: Vec<(i64, u64)> = want_sorted
                .iter()
                .filter(|w| !w.2)
                .map(|(t, l, _)| (*t, *l))
                .collect();
            assert_eq!(
                td, want_td,
                "{name}: tcpdump's result is not what the manifest predicts"
            );
        } else {
            // ICMP/ICMPv6 by type/code: only capme, against the manifest.
            let args: Vec<String> = [
                "--sip",
                &flow.src.addr.to_string(),
                "--spt",
                &flow.src.port.to_string(),
                "--dip",
                &flow.dst.addr.to_string(),
                "--dpt",
                &flow.dst.port.to_string(),
                "--proto",
                &proto.to_string(),
                "--stime",
                &ns_to_arg(a),
                "--etime",
                &ns_to_arg(b),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let (_, got) = capme(&args, &tmp.path().join("icmp.pcap"));
            let mut got_tl: Vec<(i64, u64)> =
                got.iter().map(|(t, d)| (*t, d.len() as u64)).collect();
            got_tl.sort();
            let want_tl: Vec<(i64, u64)> = want_sorted.iter().map(|(t, l, _)| (*t, *l)).collect();
            assert_eq!(got_tl, want_tl, "{name}: capme differs from the manifest");
            let (ours, theirs) = tshark_count(&args, tmp.path());
            assert_eq!(ours, theirs, "{name}: tshark reads another packet count");
        }
        named.insert(name.to_string());
    }
    for must in [
        "qinq-tcp",
        "frag-udp-v4",
        "frag-udp-v6",
        "frag-reordered",
        "midnight-tcp",
        "reused-1",
        "reused-2",
    ] {
        assert!(named.contains(must), "manifest lacks {must}");
    }
}

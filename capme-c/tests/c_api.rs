//! Compiles the C programs under `tests/c/` with the system `cc` against the library cargo built
//! for this test run (`libcapme_c.a` and `libcapme_c.so` next to the test's `deps/` directory),
//! runs them on the bundled sample store and checks their output against the Rust API.
//! The valgrind run (`valgrind --leak-check=full --error-exitcode=1`) is here too: it runs when
//! valgrind is installed, and is required (missing valgrind fails) when `CAPME_REQUIRE_VALGRIND`
//! is set, as `capme-c/scripts/test.sh` does after installing it.

use capme_core::{
    Endpoint, FlowKey, FlowSpec, Layer, Proto, Query, QueryText, Store, TimeWindow, Timestamp,
};
use capme_gen::tunnels::{tunnel_store, Case, TunnelStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SIP: &str = "10.10.5.10";
const SPT: &str = "52001";
const DIP: &str = "10.10.5.20";
const DPT: &str = "22";
const STIME: &str = "1718407577";
const ETIME: &str = "1718407578";

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sample_store() -> PathBuf {
    crate_dir().join("../examples/data/store")
}

/// The profile directory holding the libraries (target/debug or target/release). `cargo test`
/// builds the library as an rlib for the tests, not always its staticlib/cdylib: they are
/// brought up to date here with `cargo build -p capme-c` (a no-op when they are), so the C
/// programs never link a library older than the sources.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary in <profile>/deps")
        .to_path_buf();
    {
        static BUILD: std::sync::Once = std::sync::Once::new();
        BUILD.call_once(|| {
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "capme-c"])
                .current_dir(crate_dir());
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            if let Some(target) = dir.parent() {
                cmd.env("CARGO_TARGET_DIR", target);
            }
            let st = cmd.status().expect("run cargo build -p capme-c");
            assert!(st.success(), "cargo build -p capme-c failed");
        });
    }
    for lib in ["libcapme_c.a", "libcapme_c.so"] {
        assert!(
            dir.join(lib).is_file(),
            "{} not found after cargo build -p capme-c",
            dir.join(lib).display()
        );
    }
    dir
}

/// Native libraries the Rust static library needs (`--print native-static-libs`).
const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn cc(out: &Path, src: &Path, link: &[String]) {
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args([
        "-std=c11",
        "-g",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-pthread",
    ])
    .arg("-D_POSIX_C_SOURCE=200809L")
    .arg("-I")
    .arg(crate_dir().join("include"))
    .arg(src)
    .args(link)
    .arg("-o")
    .arg(out);
    let o = cmd.output().expect("run cc (is a C compiler installed?)");
    assert!(
        o.status.success(),
        "cc failed: {cmd:?}\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Builds the statically and the dynamically linked test program.
fn build(tmp: &Path) -> (PathBuf, PathBuf) {
    let lib = lib_dir();
    let src = crate_dir().join("tests/c/test_api.c");
    let stat = tmp.join("test_api_static");
    let mut link = vec![lib.join("libcapme_c.a").display().to_string()];
    link.extend(NATIVE_LIBS.iter().map(|s| s.to_string()));
    cc(&stat, &src, &link);
    let dynamic = tmp.join("test_api_dynamic");
    let link = vec![
        format!("-L{}", lib.display()),
        format!("-Wl,-rpath,{}", lib.display()),
        "-lcapme_c".to_string(),
    ];
    cc(&dynamic, &src, &link);
    (stat, dynamic)
}

/// A store of one pcap with 10,000 records that match nothing, for the cancel test (the cancel
/// flag is looked at every 4096 records).
fn big_store(tmp: &Path) -> PathBuf {
    let root = tmp.join("big");
    let dir = root.join("sensorz/dailylogs/2023-11-14");
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for i in 0..10_000u32 {
        b.extend_from_slice(&(1_700_000_000 + i / 100).to_le_bytes());
        b.extend_from_slice(&((i % 100) * 10_000).to_le_bytes());
        b.extend_from_slice(&60u32.to_le_bytes());
        b.extend_from_slice(&60u32.to_le_bytes());
        b.extend_from_slice(&[0u8; 60]);
    }
    std::fs::write(dir.join("snort.log.1700000000"), b).unwrap();
    // A capture file cut inside its header, in the window of the QinQ flow: searches over the
    // sample store plus this root report it as a warning.
    let bad = root.join("sensorc/dailylogs/2024-06-14");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("snort.log.1718407577"),
        b"\xd4\xc3\xb2\xa1\x02\x00",
    )
    .unwrap();
    root
}

/// Flow indexes of the sample store written under `tmp/index` (never into the sample store),
/// for the C test of `capme_options_set_index_dir()`.
fn index_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("index");
    let report = Store::open([sample_store()])
        .unwrap()
        .with_index_dir(&dir)
        .build_indexes()
        .unwrap();
    assert!(report.built > 0, "no index built for the sample store");
    dir
}

fn run(bin: &Path, tmp: &Path, big: &Path, wrapper: Option<&[&str]>) -> Output {
    let mut cmd = match wrapper {
        Some(w) => {
            let mut c = Command::new(w[0]);
            c.args(&w[1..]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let st = tunnels(tmp);
    let c = tunnel_case(&st);
    let (ca, cp, sa, sp) = c.inner;
    cmd.arg(sample_store())
        .arg(tmp)
        .arg(big)
        .arg(index_dir(tmp))
        .arg(&st.root)
        .args([
            ca.to_string(),
            cp.to_string(),
            sa.to_string(),
            sp.to_string(),
        ])
        .args([st.start.to_string(), st.end.to_string()]);
    cmd.output().expect("run the C test program")
}

/// The generator's tunnel store under `tmp/tunnels` (for the tunnel options of the C API).
fn tunnels(tmp: &Path) -> TunnelStore {
    tunnel_store(&tmp.join("tunnels")).expect("the tunnel store")
}

/// The case the C program queries: an inner flow seen plain and inside VXLAN.
fn tunnel_case(st: &TunnelStore) -> &Case {
    let c = st
        .cases
        .iter()
        .find(|c| c.name == "vxlan")
        .expect("a vxlan case");
    assert!(c.plain > 0 && c.tunnelled > 0);
    c
}

/// The files the C program wrote with the tunnel options are, byte for byte, capme-core's
/// extractions with the same layer, decapsulation and (once decompressed) output.
fn check_tunnels(out: &str, tmp: &Path) {
    let st = tunnels(&tmp.join("check"));
    let c = tunnel_case(&st);
    let (ca, cp, sa, sp) = c.inner;
    let flow = FlowSpec::parse_tuple(
        &ca.to_string(),
        Some(&cp.to_string()),
        &sa.to_string(),
        Some(&sp.to_string()),
        Some("tcp"),
    )
    .unwrap();
    let query = Query::new(
        flow,
        TimeWindow::parse(&st.start.to_string(), &st.end.to_string()).unwrap(),
    );
    let store = Store::open([&st.root]).unwrap();
    let rust = |q: &Query, name: &str| -> Vec<u8> {
        let path = tmp.join(format!("rust-{name}"));
        store.extract_to_file(q, &path).unwrap();
        std::fs::read(path).unwrap()
    };
    let counts = [c.plain + c.tunnelled, c.plain, c.tunnelled];
    for (i, layer) in [Layer::Any, Layer::Outer, Layer::Inner]
        .into_iter()
        .enumerate()
    {
        let want = rust(&query.clone().with_layer(layer), &format!("layer-{i}.pcap"));
        let got = std::fs::read(tmp.join(format!("c-layer-{i}.pcap"))).unwrap();
        assert_eq!(got, want, "layer {layer:?}");
        let line = format!("TUN {} {}", ["any", "outer", "INNER"][i], counts[i]);
        assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
    }
    let want = rust(&query.clone().with_decapsulate(true), "decap.pcap");
    assert_eq!(std::fs::read(tmp.join("c-decap.pcap")).unwrap(), want);
    let plain = rust(&query, "plain.pcap");
    let zst = std::fs::read(tmp.join("c-zstd.pcap.zst")).unwrap();
    assert_eq!(zstd::decode_all(&zst[..]).unwrap(), plain, "zstd output");
    let gz = std::fs::read(tmp.join("c-gzip.pcap.gz")).unwrap();
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(&gz[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain, "gzip output");
}

fn stdout_ok(o: &Output, what: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success() && out.lines().any(|l| l == "OK"),
        "{what} failed ({}):\n{out}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn qinq_query() -> Query {
    let flow = FlowSpec::parse_tuple(SIP, Some(SPT), DIP, Some(DPT), Some("tcp")).unwrap();
    Query::new(flow, TimeWindow::parse(STIME, ETIME).unwrap())
}

/// Checks every line the C program printed against the Rust API.
fn check_against_rust(out: &str, tmp: &Path, big: &Path) {
    let store = Store::open([sample_store()]).unwrap();
    let query = qinq_query();

    // Packets: same order, timestamps, lengths, link type, sensor, file and bytes.
    let expected: Vec<String> = store
        .search(&query)
        .unwrap()
        .map(|p| {
            let p = p.unwrap();
            let hex: String = p.data.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "P {} {} {} {} {} {} {hex}",
                p.ts.as_nanos(),
                p.data.len(),
                p.orig_len,
                p.iface.linktype,
                p.sensor,
                p.file.display()
            )
        })
        .collect();
    let got: Vec<&str> = out.lines().filter(|l| l.starts_with("P ")).collect();
    assert_eq!(expected.len(), 15, "manifest: the QinQ flow has 15 packets");
    assert_eq!(got, expected, "C packets differ from the Rust search");

    // The summary JSON is byte for byte the CLI's (elapsed_ms and output aside), and the file
    // is the one the Rust API writes.
    let json_line = out
        .lines()
        .find_map(|l| l.strip_prefix("J "))
        .expect("J line");
    let c_json: serde_json::Value = serde_json::from_str(json_line).unwrap();
    let rust_out = tmp.join("rust-flow.pcap");
    let mut rust_sum = store.extract_to_file(&query, &rust_out).unwrap();
    rust_sum.elapsed_ms = c_json["elapsed_ms"].as_u64().unwrap();
    rust_sum.output = Some(PathBuf::from(c_json["output"].as_str().unwrap()));
    assert_eq!(serde_json::to_string(&rust_sum).unwrap(), json_line);
    assert_eq!(
        std::fs::read(tmp.join("c-flow.pcap")).unwrap(),
        std::fs::read(&rust_out).unwrap(),
        "the C extraction's file differs from the Rust one"
    );

    // Archive: same relative path as the Rust API's, cached on the second call.
    let rust_arch = store
        .extract_to_archive(&query, tmp.join("rust-archive"), false)
        .unwrap();
    let rel = rust_arch
        .output
        .unwrap()
        .strip_prefix(tmp.join("rust-archive"))
        .unwrap()
        .to_path_buf();
    let arch: BTreeMap<&str, serde_json::Value> = out
        .lines()
        .filter_map(|l| l.strip_prefix("A "))
        .map(|l| {
            let (label, json) = l.split_once(' ').unwrap();
            (label, serde_json::from_str(json).unwrap())
        })
        .collect();
    assert_eq!(arch.len(), 3);
    for (label, cached) in [("first", false), ("cached", true), ("forced", false)] {
        let v = &arch[label];
        assert_eq!(v["cached"], cached, "{label}");
        assert_eq!(v["packets"], 15, "{label}");
        assert_eq!(
            PathBuf::from(v["output"].as_str().unwrap()),
            tmp.join("c-archive").join(&rel),
            "{label}"
        );
    }

    // Community IDs.
    let src = Endpoint::new(SIP.parse().unwrap(), 52001);
    let dst = Endpoint::new(DIP.parse().unwrap(), 22);
    let key = FlowKey::new(Proto::TCP, src, dst);
    let cids: BTreeMap<&str, &str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("C "))
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    assert_eq!(cids["qinq"], key.community_id(0).to_base64());
    assert_eq!(cids["qinq-hex"], key.community_id(0).to_hex());
    assert_eq!(cids["qinq-seed1"], key.community_id(1).to_base64());

    // Errors: the status kind is the Rust error's kind and the message its Display (the CLI's).
    let errors: BTreeMap<&str, (&str, &str)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("E "))
        .map(|l| {
            let mut it = l.splitn(3, ' ');
            let label = it.next().unwrap();
            let kind = it.next().unwrap();
            (label, (kind, it.next().unwrap_or("")))
        })
        .collect();
    let tuple = |sip: &str, spt: Option<&str>, proto: &str| {
        FlowSpec::parse_tuple(sip, spt, DIP, Some(DPT), Some(proto)).unwrap_err()
    };
    let empty_query = Query::new(
        query.flow.clone(),
        TimeWindow::parse("1718400000", "1718400001").unwrap(),
    );
    let none_file = tmp.join("rust-none.pcap");
    let expected = [
        ("bad_sip", tuple("sip", Some(SPT), "tcp")),
        ("bad_spt", tuple(SIP, Some("70000"), "tcp")),
        ("missing_spt", tuple(SIP, None, "tcp")),
        ("bad_proto", tuple(SIP, Some(SPT), "bogus")),
        (
            "bad_stime",
            TimeWindow::parse("yesterday", ETIME).unwrap_err(),
        ),
        (
            "etime_before_stime",
            TimeWindow::parse("200", "100").unwrap_err(),
        ),
        (
            "ns_etime_before_stime",
            TimeWindow::new(Timestamp(200), Timestamp(100)).unwrap_err(),
        ),
        ("bad_cid", FlowSpec::parse_community_id("nope").unwrap_err()),
        (
            "cid_family",
            FlowSpec::parse_tuple("1.2.3.4", Some("1"), "::1", Some("2"), Some("udp")).unwrap_err(),
        ),
        (
            "missing_store",
            Store::open(["/nonexistent-capme-store"]).unwrap_err(),
        ),
        ("no_roots", Store::open(Vec::<PathBuf>::new()).unwrap_err()),
        (
            "nopackets",
            store.extract_to_file(&empty_query, &none_file).unwrap_err(),
        ),
        (
            "io",
            store
                .extract_to_file(&query, "/nonexistent-capme-dir/x.pcap")
                .unwrap_err(),
        ),
        ("cancelled", capme_core::Error::Cancelled),
        (
            "order",
            QueryText {
                sip: Some("sip"),
                spt: Some(SPT),
                dip: Some(DIP),
                dpt: Some(DPT),
                proto: Some("tcp"),
                stime: "yesterday",
                etime: ETIME,
                ..Default::default()
            }
            .parse()
            .unwrap_err(),
        ),
        (
            "threads_zero",
            capme_core::Error::invalid("threads", "0", "expected a number of scan threads >= 1"),
        ),
        (
            "empty_index_dir",
            capme_core::Error::invalid("index_dir", "", "expected a directory"),
        ),
        (
            "max_packets_zero",
            store.clone().with_max_packets(0).unwrap_err(),
        ),
        (
            "unknown_sensor",
            store
                .clone()
                .with_sensors(["sensor1-eth1", "nope"])
                .search(&shared_query())
                .err()
                .unwrap(),
        ),
        (
            "max_window",
            store
                .clone()
                .with_max_window(std::time::Duration::from_secs(1))
                .unwrap()
                .search(&Query::new(
                    query.flow.clone(),
                    TimeWindow::parse(STIME, "1718407580").unwrap(),
                ))
                .err()
                .unwrap(),
        ),
    ];
    for (label, err) in expected {
        let (kind, msg) = errors
            .get(label)
            .unwrap_or_else(|| panic!("no E line for {label}:\n{out}"));
        assert_eq!(*kind, err.kind().as_str(), "{label}");
        assert_eq!(*msg, err.to_string(), "{label}");
    }
    assert!(!none_file.exists());
    assert_eq!(
        errors["bad_sip"].1,
        "invalid sip \"sip\": not an IPv4 or IPv6 address"
    );
    assert_eq!(errors["missing_store"].0, "store");
    let (kind, msg) = errors["corrupt"];
    assert_eq!(kind, "nopackets");
    assert!(msg.contains("corrupt capture at byte"), "{msg}");
    let (kind, msg) = errors["not_utf8"];
    assert_eq!(kind, "invalid");
    assert!(msg.starts_with("invalid sip "), "{msg}");
    for (label, msg) in [
        ("null_out", "out is NULL"),
        ("null_roots", "roots is NULL"),
        ("null_sip", "sip is NULL"),
        ("null_store", "store is NULL"),
        ("null_query", "query is NULL"),
        ("null_opts", "opts is NULL"),
        ("null_dir", "dir is NULL"),
        ("null_names", "names is NULL"),
        ("null_name", "names[i] is NULL"),
    ] {
        assert_eq!(errors[label], ("null", msg), "{label}");
    }
    let (kind, msg) = errors["sensor_not_utf8"];
    assert_eq!(kind, "invalid");
    assert!(msg.starts_with("invalid sensor "), "{msg}");
    // 28 cases of the extraction API, 15 of transcripts and the query forms of issue 13, 4 of
    // the sensors.
    assert_eq!(errors.len(), 47, "error cases: {errors:?}");
    check_sensors(out, &errors);
    check_transcripts(out, tmp);

    // Limits: the C summary of an extraction capped at 5 packets is the Rust one.
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("L "))
        .expect("L line");
    let c_json: serde_json::Value = serde_json::from_str(line).unwrap();
    let mut capped = store
        .clone()
        .with_max_packets(5)
        .unwrap()
        .extract_to_file(&query, tmp.join("rust-limited.pcap"))
        .unwrap();
    assert!(capped.truncated && capped.packets == 5);
    capped.elapsed_ms = c_json["elapsed_ms"].as_u64().unwrap();
    capped.output = Some(PathBuf::from(c_json["output"].as_str().unwrap()));
    assert_eq!(serde_json::to_string(&capped).unwrap(), line);

    // Options: the index dir answered the query, no-index scanned (the C program checks the
    // counts; here that both runs reported).
    let idx: Vec<&str> = out.lines().filter(|l| l.starts_with("I ")).collect();
    assert_eq!(idx.len(), 2, "I lines: {idx:?}");

    // Warnings: the sample store plus the root with a truncated file.
    let two = Store::open([sample_store(), big.to_path_buf()]).unwrap();
    let mut w = two
        .extract_to_file(&query, tmp.join("rust-warn.pcap"))
        .unwrap();
    let got = out
        .lines()
        .find_map(|l| l.strip_prefix("W "))
        .expect("W line");
    let c_json: serde_json::Value = serde_json::from_str(got).unwrap();
    w.elapsed_ms = c_json["elapsed_ms"].as_u64().unwrap();
    w.output = Some(PathBuf::from(c_json["output"].as_str().unwrap()));
    assert_eq!(w.warnings, 1);
    assert_eq!(serde_json::to_string(&w).unwrap(), got);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("WM "))
        .expect("WM line");
    assert_eq!(line, w.warning_messages[0]);
}

/// shared-tcp of examples/data/manifest.json, seen by both sensors.
fn shared_query() -> Query {
    let flow = FlowSpec::parse_tuple(
        "10.10.12.10",
        Some("46000"),
        "10.10.12.20",
        Some("80"),
        Some("tcp"),
    )
    .unwrap();
    Query::new(flow, TimeWindow::parse("1718409881", "1718409883").unwrap())
}

/// The C searches restricted to sensors (N lines: label, ts_ns, sensor) are the Rust API's
/// with `Store::with_sensors`, and the unknown sensor's message lists the store's sensors.
fn check_sensors(out: &str, errors: &BTreeMap<&str, (&str, &str)>) {
    let store = Store::open([sample_store()]).unwrap();
    let lines = |label: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix("N "))
            .filter_map(|l| l.strip_prefix(label)?.strip_prefix(' '))
            .map(str::to_owned)
            .collect()
    };
    let rust = |sensors: &[&str]| -> Vec<String> {
        store
            .clone()
            .with_sensors(sensors.iter().copied())
            .search(&shared_query())
            .unwrap()
            .map(|p| {
                let p = p.unwrap();
                format!("{} {}", p.ts.as_nanos(), p.sensor)
            })
            .collect()
    };
    for (label, sensors) in [
        ("all", &[][..]),
        ("cleared", &[][..]),
        ("sensor1-eth1", &["sensor1-eth1"][..]),
        ("sensor2-eth0", &["sensor2-eth0"][..]),
        ("both", &["sensor1-eth1", "sensor2-eth0"][..]),
    ] {
        let want = rust(sensors);
        assert_eq!(lines(label), want, "{label}");
        assert_eq!(
            want.len(),
            if sensors.len() == 1 { 15 } else { 30 },
            "{label}"
        );
    }
    assert_ne!(rust(&["sensor1-eth1"]), rust(&["sensor2-eth0"]));
    assert_eq!(
        errors["unknown_sensor"].1,
        "invalid sensor \"nope\": no such sensor; the store has sensor1-eth1, sensor2-eth0"
    );
    let k = out
        .lines()
        .find_map(|l| l.strip_prefix("K "))
        .expect("K line");
    assert!(k.contains("catalogue"), "{k}");
}

#[test]
fn c_programs_match_the_rust_api() {
    let tmp = tempfile::tempdir().unwrap();
    let (stat, dynamic) = build(tmp.path());
    let big = big_store(tmp.path());
    for bin in [&stat, &dynamic] {
        let run_dir = tmp.path().join(format!(
            "run-{}",
            bin.file_name().unwrap().to_string_lossy()
        ));
        std::fs::create_dir_all(&run_dir).unwrap();
        let o = run(bin, &run_dir, &big, None);
        let out = stdout_ok(&o, &bin.display().to_string());
        check_against_rust(&out, &run_dir, &big);
        check_tunnels(&out, &run_dir);
        assert!(out.contains(&format!("V {}", env!("CARGO_PKG_VERSION"))));
    }
}

fn find_valgrind() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("valgrind"))
            .find(|v| v.is_file())
    })
}

#[test]
fn valgrind_reports_no_leak_and_no_error() {
    let Some(vg) = find_valgrind() else {
        assert!(
            std::env::var_os("CAPME_REQUIRE_VALGRIND").is_none(),
            "CAPME_REQUIRE_VALGRIND is set but valgrind is not installed"
        );
        eprintln!(
            "valgrind not installed: not run here (capme-c/scripts/test.sh installs and runs it)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (stat, _) = build(tmp.path());
    let big = big_store(tmp.path());
    let vg = vg.display().to_string();
    let supp = format!(
        "--suppressions={}",
        crate_dir().join("tests/valgrind.supp").display()
    );
    let o = run(
        &stat,
        tmp.path(),
        &big,
        Some(&[
            &vg,
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible",
            "--error-exitcode=1",
            &supp,
        ]),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.contains("ERROR SUMMARY")
                || l.contains("definitely lost")
                || l.contains("indirectly lost")
                || l.contains("possibly lost")
                || l.contains("All heap blocks were freed")
        })
        .collect();
    eprintln!("valgrind: {}", summary.join(" | "));
    let out = stdout_ok(&o, "test_api under valgrind");
    check_against_rust(&out, tmp.path(), &big);
    check_tunnels(&out, tmp.path());
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors from 0 contexts"),
        "valgrind found errors:\n{stderr}"
    );
    // Write the summary line for scripts/test.sh to print.
    if let Some(dir) = std::env::var_os("CAPME_VALGRIND_LOG") {
        std::fs::write(dir, summary.join("\n")).unwrap();
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The transcript (T, S) and pivot (E) lines of the C program against capme-core: each style's
/// text byte for byte, the segments, and the errors of the new query forms.
fn check_transcripts(out: &str, tmp: &Path) {
    use capme_core::pivot::QuerySpec;
    use capme_core::transcript::{Style, TranscriptOptions};
    let store = Store::open([sample_store()]).unwrap();
    let http = QuerySpec {
        sip: Some("10.10.1.10"),
        spt: Some("51000"),
        dip: Some("10.10.1.20"),
        dpt: Some("80"),
        proto: Some("tcp"),
        stime: Some("1718406497"),
        etime: Some("1718406498"),
        ..Default::default()
    }
    .parse()
    .unwrap();
    let texts: BTreeMap<&str, Vec<u8>> = out
        .lines()
        .filter_map(|l| l.strip_prefix("T "))
        .map(|l| {
            let (style, hex) = l.split_once(' ').unwrap();
            (style, unhex(hex))
        })
        .collect();
    assert_eq!(texts.len(), 4, "T lines: {:?}", texts.keys());
    for (label, style) in [
        ("capme", Style::Capme),
        ("plain", Style::Plain),
        ("json", Style::Json),
        ("default", Style::Plain),
    ] {
        let t = store
            .transcript(&http, &TranscriptOptions::new().style(style))
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&texts[label]),
            t.text,
            "{label} transcript differs from capme-core's"
        );
    }
    let t = store
        .transcript(&http, &TranscriptOptions::new().style(Style::Json))
        .unwrap();
    let segs: Vec<String> = t
        .segments
        .iter()
        .map(|s| {
            let hex: String = s.payload.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "S {} {} {} {hex}",
                s.direction.as_str(),
                s.ts.as_nanos(),
                s.offset
            )
        })
        .collect();
    let got: Vec<&str> = out.lines().filter(|l| l.starts_with("S ")).collect();
    assert_eq!(got, segs, "C segments differ from capme-core's");

    let errors: BTreeMap<&str, (&str, &str)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("E "))
        .map(|l| {
            let mut it = l.splitn(3, ' ');
            let label = it.next().unwrap();
            let kind = it.next().unwrap();
            (label, (kind, it.next().unwrap_or("")))
        })
        .collect();
    let url = "https://so/capme/index.php?sip=10.10.5.10&spt=52001&dip=10.10.5.20&dpt=22\
               &stime=1718407577&etime=1718407578&usr=analyst";
    let logs = tmp.join("zeek-logs");
    let spec = |s: QuerySpec| s.parse().unwrap_err();
    let d = QuerySpec::default;
    let empty = Query::new(
        http.flow.clone(),
        TimeWindow::parse("1718400000", "1718400001").unwrap(),
    );
    let expected = [
        (
            "transcript-style",
            Style::parse("style", "bogus").unwrap_err(),
        ),
        (
            "transcript-nopackets",
            store
                .transcript(&empty, &TranscriptOptions::new())
                .unwrap_err(),
        ),
        (
            "url-spt",
            spec(QuerySpec {
                url: Some(
                    "https://so/capme/index.php?sip=10.10.5.10&spt=65536&dip=10.10.5.20\
                     &dpt=22&stime=1&etime=2",
                ),
                ..d()
            }),
        ),
        (
            "url-no-window",
            spec(QuerySpec {
                url: Some("https://so/capme/index.php?sip=10.10.5.10&spt=1&dip=10.10.5.20&dpt=22"),
                ..d()
            }),
        ),
        (
            "url-pad",
            spec(QuerySpec {
                url: Some(url),
                pad: Some("soon"),
                ..d()
            }),
        ),
        (
            "fields-two-forms",
            spec(QuerySpec {
                sip: Some(SIP),
                url: Some("https://so/capme/index.php?sip=1.2.3.4"),
                ..d()
            }),
        ),
        ("fields-none", spec(d())),
        (
            "zeek-notfound",
            spec(QuerySpec {
                zeek_uid: Some("CNotThere"),
                zeek_logs: Some(&logs),
                ..d()
            }),
        ),
        (
            "zeek-stime",
            spec(QuerySpec {
                zeek_uid: Some("CHttp4Test"),
                zeek_logs: Some(&logs),
                stime: Some("1"),
                ..d()
            }),
        ),
        (
            "zeek-nologs",
            spec(QuerySpec {
                zeek_uid: Some("CHttp4Test"),
                ..d()
            }),
        ),
    ];
    for (label, err) in expected {
        let (kind, msg) = errors
            .get(label)
            .unwrap_or_else(|| panic!("no E line for {label}:\n{out}"));
        assert_eq!(*kind, err.kind().as_str(), "{label}");
        assert_eq!(*msg, err.to_string(), "{label}");
    }
    assert_eq!(
        errors["fields-unknown"].1,
        "invalid field \"sport\": unknown query field; expected one of sip, spt, dip, dpt, \
         proto, community_id, url, zeek_uid, zeek_logs, stime, etime, pad"
    );
    assert_eq!(
        errors["fields-twice"],
        ("invalid", "invalid sip \"\": given twice")
    );
    assert!(errors["url-spt"].1.starts_with("invalid spt \"65536\""));
    for (label, msg) in [
        ("transcript-null-store", "store is NULL"),
        ("url-null", "url is NULL"),
        ("grow-null", "store is NULL"),
    ] {
        assert_eq!(errors[label], ("null", msg), "{label}");
    }
}

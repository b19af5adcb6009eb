//! `gen-scale` writes the layout, the names and the spans it documents, puts the known flow
//! where its manifest says (as capme finds it), and writes the same bytes from the library, from
//! the binary and with any number of threads.

use capme_core::{FlowSpec, Query, Store, TimeWindow};
use capme_gen::scale::{generate, ScaleConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const START: i64 = 1_717_200_000; // 2024-06-01T00:00:00Z

fn gen_scale(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gen-scale"))
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

/// Runs gen-scale, which must succeed; returns the manifest it printed (checked equal to the
/// one it wrote to `--manifest`).
fn gen_ok(args: &[&str], out: &Path) -> Value {
    let manifest = out.with_extension("json");
    let mut all = args.to_vec();
    let m = manifest.to_str().unwrap();
    all.extend(["--manifest", m]);
    let o = gen_scale(&all, out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let written: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(printed, written);
    printed
}

/// Every file below `root`, relative, sorted.
fn walk(root: &Path) -> Vec<String> {
    fn go(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    go(root, root, &mut out);
    out.sort();
    out
}

/// The µs timestamps of a µs little-endian pcap's records (and checks its header).
fn stamps(path: &Path) -> Vec<i64> {
    let d = std::fs::read(path).unwrap();
    assert_eq!(&d[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "{}", path.display());
    assert_eq!(
        u32::from_le_bytes(d[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let u32_at = |o: usize| i64::from(u32::from_le_bytes(d[o..o + 4].try_into().unwrap()));
    let (mut off, mut out) = (24, Vec::new());
    while off < d.len() {
        out.push(u32_at(off) * 1_000_000 + u32_at(off + 4));
        off += 16 + u32_at(off + 8) as usize;
    }
    assert_eq!(off, d.len(), "{}: a truncated record", path.display());
    out
}

/// Checks the files `names` (relative to `root`, as written) against the spacing rule, and
/// returns the total number of packets.
fn check_spans(
    root: &Path,
    names: &[String],
    per_day: i64,
    k: usize,
    flow_files: &[String],
) -> usize {
    let mut total = 0;
    for (i, name) in names.iter().enumerate() {
        let a = START + i as i64 * 86_400 / per_day;
        let b = START + (i as i64 + 1) * 86_400 / per_day;
        let ts = stamps(&root.join(name));
        let want = if flow_files.contains(name) { k + 6 } else { k };
        assert_eq!(ts.len(), want, "{name}");
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{name}: out of order");
        assert!(
            ts.iter()
                .all(|t| (a * 1_000_000..b * 1_000_000).contains(t)),
            "{name}: a packet outside [{a}, {b})"
        );
        total += ts.len();
    }
    total
}

/// The known flow's packets as capme finds them in the manifest's window: (file, µs).
fn find_flow(m: &Value) -> Vec<(PathBuf, i64)> {
    let s = |k: &str| m[k].to_string().trim_matches('"').to_string();
    let flow = FlowSpec::parse_tuple(
        &s("sip"),
        Some(&s("spt")),
        &s("dip"),
        Some(&s("dpt")),
        Some(&s("proto")),
    )
    .unwrap();
    let q = Query::new(flow, TimeWindow::parse(&s("stime"), &s("etime")).unwrap());
    let store = Store::open([m["store"].as_str().unwrap()])
        .unwrap()
        .use_index(false);
    store
        .search(&q)
        .unwrap()
        .map(|p| {
            let p = p.unwrap();
            (p.file.to_path_buf(), p.ts.as_nanos() / 1000)
        })
        .collect()
}

fn check_flow(m: &Value) {
    let root = Path::new(m["store"].as_str().unwrap());
    let found = find_flow(m);
    assert_eq!(found.len() as u64, m["packets"].as_u64().unwrap());
    assert_eq!(found.len(), 6);
    let stime = m["stime"].as_i64().unwrap();
    let etime = m["etime"].as_i64().unwrap();
    let flow_files: Vec<PathBuf> = m["flow_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| root.join(f.as_str().unwrap()))
        .collect();
    for (file, t) in &found {
        assert!(
            flow_files.contains(file),
            "{} not in the manifest",
            file.display()
        );
        assert!((stime * 1_000_000..(etime + 1) * 1_000_000).contains(t));
    }
}

#[test]
fn security_onion_layout_and_the_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("so");
    let m = gen_ok(
        &[
            "--days",
            "2",
            "--files-per-day",
            "20",
            "--start",
            &START.to_string(),
        ],
        &out,
    );
    assert_eq!(m["layout"], "security-onion");
    assert_eq!(
        (m["files"].as_u64(), m["packets"].as_u64()),
        (Some(40), Some(6))
    );
    // Noon of the last day.
    assert_eq!(m["stime"].as_i64(), Some(START + 86_400 + 43_200));
    assert_eq!(m["etime"].as_i64(), Some(START + 86_400 + 43_201));
    let names = walk(&out);
    let want: Vec<String> = (0..40)
        .map(|i| {
            let e = START + i * 4320;
            format!(
                "sensor1-eth1/dailylogs/2024-06-0{}/snort.log.{e}",
                1 + i / 20
            )
        })
        .collect();
    assert_eq!(names, want);
    let flow_files: Vec<String> = m["flow_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        flow_files,
        [format!(
            "sensor1-eth1/dailylogs/2024-06-02/snort.log.{}",
            START + 129_600
        )]
    );
    let packets = check_spans(&out, &names, 20, 4, &flow_files);
    assert_eq!(m["store_packets"].as_u64(), Some(packets as u64));
    let bytes: u64 = names
        .iter()
        .map(|n| out.join(n).metadata().unwrap().len())
        .sum();
    assert_eq!(m["bytes"].as_u64(), Some(bytes));
    // capme sees every file, and finds the flow where the manifest says.
    assert_eq!(Store::open([&out]).unwrap().list().unwrap().files.len(), 40);
    check_flow(&m);
}

#[test]
fn flat_layout_and_the_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("flat");
    let m = gen_ok(
        &[
            "--flat",
            "--files",
            "30",
            "--files-per-day",
            "20",
            "--packets-per-file",
            "7",
        ],
        &out,
    );
    assert_eq!(m["layout"], "flat");
    assert_eq!(m["files"].as_u64(), Some(30));
    // The middle of the span: 30 files of 4320 s.
    assert_eq!(m["stime"].as_i64(), Some(START + 15 * 4320));
    let names = walk(&out);
    let want: Vec<String> = (0..30)
        .map(|i| format!("log.pcap.{}", START + i * 4320))
        .collect();
    assert_eq!(names, want);
    let flow_files: Vec<String> = m["flow_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    check_spans(&out, &names, 20, 7, &flow_files);
    check_flow(&m);
}

#[test]
fn uneven_spacing_keeps_every_packet_in_its_span() {
    // 7 files a day: 12342.857 s apart, so names step by 12342 or 12343 s.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("so");
    let m = gen_ok(&["--days", "3", "--files-per-day", "7"], &out);
    let names = walk(&out);
    assert_eq!(names.len(), 21);
    let flow_files: Vec<String> = m["flow_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    // The names sort by time only within a day; order them by epoch.
    let mut by_epoch = names.clone();
    by_epoch.sort_by_key(|n| n.rsplit('.').next().unwrap().parse::<i64>().unwrap());
    check_spans(&out, &by_epoch, 7, 4, &flow_files);
    check_flow(&m);
}

#[test]
fn library_binary_and_threads_write_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let mut c = ScaleConfig::new(&lib);
    c.days = Some(2);
    c.files_per_day = 700;
    c.threads = Some(1);
    let report = generate(&c).unwrap();
    assert_eq!(report.files, 1400);
    let bin = tmp.path().join("bin");
    let o = gen_scale(
        &["--days", "2", "--files-per-day", "700", "--threads", "3"],
        &bin,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names = walk(&lib);
    assert_eq!(names, walk(&bin));
    for n in &names {
        assert!(
            std::fs::read(lib.join(n)).unwrap() == std::fs::read(bin.join(n)).unwrap(),
            "{n} differs"
        );
    }
    let mut printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    printed["store"] = report.manifest["store"].clone();
    assert_eq!(printed, report.manifest);
}

#[test]
fn bad_arguments_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    for (args, want) in [
        (&["--files-per-day", "0"][..], "--files-per-day 0"),
        (&["--files-per-day", "86401"][..], "--files-per-day 86401"),
        (&["--days", "0"][..], "--days 0"),
        (&["--packets-per-file", "0"][..], "--packets-per-file 0"),
        (&["--sensor", "a/b"][..], "--sensor \"a/b\""),
        (&["--start", "-5"][..], "--start -5"),
        (&["--start", "4294960000"][..], "--start 4294960000"),
        (&["--flat", "--files", "0"][..], "--files 0"),
        (&["--flat"][..], "--files"),
        (&["--flat", "--files", "3", "--days", "2"][..], "--days"),
        (&["--threads", "0"][..], "--threads 0"),
    ] {
        let o = gen_scale(args, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    std::fs::create_dir_all(out.join("sub")).unwrap();
    let o = gen_scale(&["--days", "1", "--files-per-day", "2"], &out);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an empty directory"));
}

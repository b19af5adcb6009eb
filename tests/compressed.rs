//! Compressed stores (issue 15): the same store read plain, gzip'ed, zstd'ed and lz4'ed gives
//! identical results, for `capme files`, `extract` (scanned and through the flow index) and
//! `transcript`; and on a generated store whose files are many independent frames, an indexed
//! query decodes only the frames its records are in.
//!
//! The compressed copies are written with the crates capme reads them with
//! (`capme_core::testutil::compress`), so no command-line tool is needed; the cross-check
//! against the `gzip`, `zstd` and `lz4` tools runs when they are installed (required with
//! `CAPME_REQUIRE_TOOLS`).

use capme_core::capture::Compression;
use capme_core::testutil::compress::{compress, ALL};
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

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A copy of the store at `from` under `to`, each file compressed in `format` (`None`: as it
/// is) with frames of `frame` bytes (`None`: one frame) and the format's suffix added.
fn copy_store(from: &Path, to: &Path, format: Option<Compression>, frame: Option<usize>) {
    for f in walk(from) {
        let rel = f.strip_prefix(from).unwrap();
        let data = std::fs::read(&f).unwrap();
        let (bytes, name) = match format {
            Some(c) => (
                compress(c, &data, frame),
                format!("{}{}", rel.display(), c.suffix()),
            ),
            None => (data, rel.display().to_string()),
        };
        let dst = to.join(name);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::write(dst, bytes).unwrap();
    }
}

/// The variants of a store: plain and each format.
fn variants(from: &Path, tmp: &Path, frame: Option<usize>) -> Vec<(String, PathBuf)> {
    let mut v = vec![("plain".to_string(), tmp.join("plain"))];
    copy_store(from, &v[0].1, None, None);
    for c in ALL {
        let dir = tmp.join(c.name());
        copy_store(from, &dir, Some(c), frame);
        v.push((c.name().to_string(), dir));
    }
    v
}

/// The manifest flows of the sample store as query arguments (tuple and a window of whole
/// seconds around the flow).
fn manifest_flows() -> Vec<(String, Vec<String>)> {
    let m: Value = serde_json::from_slice(
        &std::fs::read(store().parent().unwrap().join("manifest.json")).unwrap(),
    )
    .unwrap();
    m["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let t = |k: &str| f[k].as_i64().unwrap() / 1_000_000_000;
            let name = format!("{}@{}", f["name"].as_str().unwrap(), f["sensor"]);
            let args = vec![
                "--sip".into(),
                f["src_ip"].as_str().unwrap().into(),
                "--spt".into(),
                f["src_port"].to_string(),
                "--dip".into(),
                f["dst_ip"].as_str().unwrap().into(),
                "--dpt".into(),
                f["dst_port"].to_string(),
                "--proto".into(),
                f["proto"].as_str().unwrap().into(),
                "--stime".into(),
                (t("first_ts_ns") - 1).to_string(),
                "--etime".into(),
                (t("last_ts_ns") + 1).to_string(),
            ];
            (name, args)
        })
        .collect()
}

/// `capme files` of a store as (path below the root without the compression suffix, sensor,
/// start, end).
fn files(root: &Path) -> Vec<(String, String, i64, Option<i64>)> {
    let o = capme(&[
        "files",
        "--store",
        s(root),
        "--stime",
        "1718400000",
        "--etime",
        "1718420000",
        "--json",
    ]);
    json(&o)
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = PathBuf::from(f["path"].as_str().unwrap());
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let rel = [".gz", ".zst", ".lz4"]
                .iter()
                .find_map(|x| rel.strip_suffix(x))
                .unwrap_or(&rel)
                .to_string();
            (
                rel,
                f["sensor"].as_str().unwrap().to_string(),
                f["start_ns"].as_i64().unwrap(),
                f["end_ns"].as_i64(),
            )
        })
        .collect()
}

/// Extracts `flow` from `root` to `out`; the summary.
fn extract(root: &Path, flow: &[String], out: &Path, extra: &[&str]) -> Value {
    let mut a: Vec<&str> = vec!["extract", "--store", s(root), "-o", s(out), "--json"];
    a.extend(flow.iter().map(String::as_str));
    a.extend_from_slice(extra);
    json(&capme(&a))
}

#[test]
fn the_sample_store_reads_the_same_plain_gzip_zstd_and_lz4() {
    let tmp = tempfile::tempdir().unwrap();
    // Small frames, so that the zstd and lz4 copies are many frames each.
    let vars = variants(&store(), tmp.path(), Some(16 << 10));
    let want_files = files(&vars[0].1);
    assert_eq!(want_files.len(), 16);
    let flows = manifest_flows();
    assert!(flows.len() >= 15);
    let mut plain: Vec<(Vec<u8>, Value)> = Vec::new();
    for (name, root) in &vars {
        assert_eq!(files(root), want_files, "{name}: capme files");
        let idx = tmp.path().join(format!("idx-{name}"));
        let rep = json(&capme(&[
            "index",
            "--store",
            s(root),
            "--index-dir",
            s(&idx),
            "--json",
        ]));
        assert_eq!(rep["built"], 16, "{name}: {rep}");
        for (i, (flow_name, flow)) in flows.iter().enumerate() {
            let (o1, o2) = (tmp.path().join("scan.pcap"), tmp.path().join("idx.pcap"));
            let _ = std::fs::remove_file(&o1);
            let _ = std::fs::remove_file(&o2);
            let v1 = extract(root, flow, &o1, &["--no-index"]);
            let v2 = extract(root, flow, &o2, &["--index-dir", s(&idx)]);
            let (b1, b2) = (std::fs::read(&o1).unwrap(), std::fs::read(&o2).unwrap());
            assert!(v1["packets"].as_u64().unwrap() > 0, "{name} {flow_name}");
            assert_eq!(v1["warnings"], 0, "{name} {flow_name}: {v1}");
            assert_eq!(v2["warnings"], 0, "{name} {flow_name}: {v2}");
            assert!(
                v2["files_indexed"].as_u64().unwrap() > 0,
                "{name} {flow_name}"
            );
            assert_eq!(v2["files_scanned"], 0, "{name} {flow_name}");
            assert!(b1 == b2, "{name} {flow_name}: indexed differs from scanned");
            if name == "plain" {
                plain.push((b1, v1));
            } else {
                assert!(b1 == plain[i].0, "{name} {flow_name}: differs from plain");
                for k in [
                    "packets",
                    "bytes",
                    "first_ts_ns",
                    "last_ts_ns",
                    "community_id",
                ] {
                    assert_eq!(v1[k], plain[i].1[k], "{name} {flow_name}: {k}");
                }
            }
        }
        // A transcript of the HTTP flow (its bytes come through the same search).
        let t = capme(&[
            "transcript",
            "--store",
            s(root),
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
            "1718406496",
            "--etime",
            "1718406498",
        ]);
        assert!(t.status.success(), "{name}: {}", stderr(&t));
        let text = String::from_utf8(t.stdout).unwrap();
        assert!(text.contains("GET "), "{name}: {text}");
        if name == "plain" {
            std::fs::write(tmp.path().join("transcript"), &text).unwrap();
        } else {
            let want = std::fs::read_to_string(tmp.path().join("transcript")).unwrap();
            assert_eq!(text, want, "{name}: transcript");
        }
    }
}

#[test]
fn a_corrupt_compressed_file_gives_the_packets_before_the_damage_and_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let vars = variants(&store(), tmp.path(), Some(8 << 10));
    // The QinQ flow is in sensor1's 2024-06-14/snort.log.1718407037 (1718407577 is 540 s
    // into a 900 s file): ruin the last frames of that file, after the flow.
    for (name, root) in &vars[1..] {
        let file = walk(root)
            .into_iter()
            .find(|p| {
                p.to_string_lossy()
                    .contains("sensor1-eth1/dailylogs/2024-06-14/snort.log.1718407037")
            })
            .unwrap();
        let mut data = std::fs::read(&file).unwrap();
        let n = data.len();
        data.truncate(n - n / 8);
        std::fs::write(&file, &data).unwrap();
        let out = tmp.path().join(format!("{name}.pcap"));
        let mut a: Vec<&str> = vec!["extract", "--store", s(root), "-o", s(&out), "--json"];
        a.extend_from_slice(&common::QINQ);
        let o = capme(&a);
        let v = json(&o);
        assert_eq!(v["packets"], 15, "{name}: {v}");
        let msgs = v["warning_messages"].to_string();
        assert!(
            msgs.contains(&format!("corrupt {name} stream at compressed byte"))
                && msgs.contains("snort.log.1718407037"),
            "{name}: {msgs}"
        );
        assert!(stderr(&o).contains("cut short"), "{name}: {}", stderr(&o));
    }
}

/// The `gzip`, `zstd` and `lz4` tools (what a sensor's rotation script would use) write files
/// capme reads as the plain ones. Skipped without the tools unless `CAPME_REQUIRE_TOOLS`.
#[test]
fn files_compressed_by_the_command_line_tools_read_the_same() {
    let tools = [("gzip", ".gz"), ("zstd", ".zst"), ("lz4", ".lz4")];
    let missing: Vec<&str> = tools
        .iter()
        .map(|t| t.0)
        .filter(|t| {
            !Command::new(t)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        if std::env::var_os("CAPME_REQUIRE_TOOLS").is_some() {
            panic!(
                "{missing:?} required (CAPME_REQUIRE_TOOLS is set): apt-get install zstd lz4 gzip"
            );
        }
        eprintln!("skipping: {missing:?} not installed (./scripts/test-all.sh installs them)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    copy_store(&store(), &plain, None, None);
    let mut a: Vec<&str> = vec!["extract", "--store", s(&plain), "-o"];
    let want_out = tmp.path().join("want.pcap");
    a.push(s(&want_out));
    a.extend_from_slice(&common::QINQ);
    assert!(capme(&a).status.success());
    for (tool, suffix) in tools {
        let root = tmp.path().join(tool);
        copy_store(&store(), &root, None, None);
        for f in walk(&root) {
            // Each tool replaces FILE with FILE<suffix> (`lz4 -m`: else it may write to a
            // stdout that is not a terminal).
            let args: &[&str] = match tool {
                "gzip" => &["-q"],
                "zstd" => &["-q", "--rm"],
                _ => &["-q", "-m", "--rm"],
            };
            let st = Command::new(tool).args(args).arg(&f).status().unwrap();
            assert!(st.success(), "{tool} {}", f.display());
            assert!(Path::new(&format!("{}{suffix}", f.display())).exists());
        }
        let out = tmp.path().join(format!("{tool}.pcap"));
        let mut a: Vec<&str> = vec!["extract", "--store", s(&root), "-o", s(&out)];
        a.extend_from_slice(&common::QINQ);
        let o = capme(&a);
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&want_out).unwrap(),
            "{tool}"
        );
    }
}

/// `extract --compress`: the output is the plain output compressed, named with the suffix;
/// the default stays plain.
#[test]
fn extract_compress_writes_the_plain_capture_compressed() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let st = store();
    let run = |out: &str, extra: &[&str]| {
        let mut a: Vec<&str> = vec!["extract", "--store", s(&st), "-o", out];
        a.extend_from_slice(&common::QINQ);
        a.extend_from_slice(extra);
        capme(&a)
    };
    let plain = tmp.path().join("flow.pcap");
    assert!(run(s(&plain), &[]).status.success());
    let want = std::fs::read(&plain).unwrap();
    assert_eq!(
        &want[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "the default is plain pcap"
    );
    let decode = |format: &str, bytes: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        match format {
            "zstd" => out = zstd::decode_all(bytes).unwrap(),
            "gzip" => {
                flate2::read::GzDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            _ => {
                lz4_flex::frame::FrameDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .unwrap();
            }
        }
        out
    };
    for (format, suffix) in [("zstd", ".zst"), ("gzip", ".gz"), ("lz4", ".lz4")] {
        let out = tmp.path().join(format!("{format}.pcap"));
        let v = json(&run(s(&out), &["--compress", format, "--json"]));
        let named = tmp.path().join(format!("{format}.pcap{suffix}"));
        assert_eq!(v["output"], s(&named), "{format}");
        assert!(!out.exists(), "{format}: only the suffixed name is written");
        let bytes = std::fs::read(&named).unwrap();
        assert!(bytes != want, "{format}: compressed");
        assert!(decode(format, &bytes) == want, "{format}");
        // A name with the suffix already keeps it; stdout gets the compressed stream.
        let out = tmp.path().join(format!("again.pcap{suffix}"));
        assert!(run(s(&out), &["--compress", format]).status.success());
        assert!(
            decode(format, &std::fs::read(&out).unwrap()) == want,
            "{format}"
        );
        let o = run("-", &["--compress", format]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(decode(format, &o.stdout) == want, "{format}: stdout");
    }
    // The compressed output is itself a store capme reads.
    let st2 = tmp.path().join("store2");
    std::fs::create_dir(&st2).unwrap();
    std::fs::rename(tmp.path().join("zstd.pcap.zst"), st2.join("flow.pcap.zst")).unwrap();
    let again = tmp.path().join("from-compressed.pcap");
    let mut a: Vec<&str> = vec!["extract", "--store", s(&st2), "-o", s(&again)];
    a.extend_from_slice(&common::QINQ);
    let o = capme(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&again).unwrap() == want);
    // --compress names a format, and is for -o (the archive keeps plain pcap).
    let o = run(s(&tmp.path().join("x.pcap")), &["--compress", "bzip2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let mut a: Vec<&str> = vec!["extract", "--store", s(&st), "--archive", s(tmp.path())];
    a.extend_from_slice(&common::QINQ);
    a.extend_from_slice(&["--compress", "zstd"]);
    assert_eq!(capme(&a).status.code(), Some(2));
}

/// Frames of the generated store's compressed copies: 64 KiB of capture each.
const FRAME: usize = 64 << 10;

/// What a search returned: (ts, bytes) of its packets, its warnings, its files indexed.
type Searched = (Vec<(i64, Vec<u8>)>, Vec<String>, u64);

/// (ts, bytes) of what a search returns, its warnings and how many files it read indexed.
fn search(store: &capme_core::Store, q: &capme_core::Query) -> Searched {
    let mut s = store.search(q).unwrap();
    let mut v = Vec::new();
    for p in s.by_ref() {
        let p = p.unwrap();
        v.push((p.ts.as_nanos(), p.data.to_vec()));
    }
    let st = s.stats();
    (v, st.warnings.clone(), st.files_indexed)
}

/// On a generated store compressed as frames of 64 KiB, an indexed query starts decoding at
/// the frame of its records: with every frame of a file's first index block ruined after the
/// index was built (size and mtime kept, so the index stays fresh), a query of a flow in its
/// second block gives exactly the plain store's packets and no warning, while a scan of the
/// same file meets the damage and says so.
#[test]
fn an_indexed_query_decodes_only_the_frames_its_records_are_in() {
    use capme_core::wire::decode;
    use capme_core::{FlowKey, FlowSpec, Query, Store, TimeWindow};
    let tmp = tempfile::tempdir().unwrap();
    let gen = tmp.path().join("gen");
    let mut config = capme_gen::Config::new(&gen);
    config.sensors = 1;
    config.duration = 1800;
    config.rotate = 900;
    config.target_bytes = 7_000_000;
    capme_gen::generate(&config).unwrap_or_else(|e| panic!("gen-store: {e}"));
    let vars = variants(&gen, tmp.path(), Some(FRAME));
    let plain = Store::open([&vars[0].1]).unwrap().use_index(false);
    // Queries: flows of records in the second index block of each file, 10 s after its start.
    let plain_files = capme_core::testutil::capture_files(&vars[0].1);
    let idx0 = tmp.path().join("idx-plain");
    let indexed_plain = Store::open([&vars[0].1]).unwrap().with_index_dir(&idx0);
    indexed_plain.build_indexes().unwrap();
    let mut queries = Vec::new();
    for f in &plain_files {
        let fi = capme_core::index::FileIndex::load(&indexed_plain.index_for(f).unwrap())
            .unwrap()
            .unwrap();
        if fi.blocks.len() < 3 {
            continue; // the generator's last, short file
        }
        let (b0, b1) = (&fi.blocks[0], &fi.blocks[1]);
        let mut r = capme_core::capture::CaptureReader::open(f).unwrap();
        let mut picked = 0;
        while let Some((ts, key)) = r.next_with_interface().unwrap().map(|(rec, iface)| {
            (
                rec.ts.as_nanos(),
                decode(iface.linktype, rec.data).and_then(|d| FlowKey::of_decoded(&d)),
            )
        }) {
            let (start, _) = r.last_block();
            let in_b1 = start >= b1.offset && start + 200_000 < b1.offset + b1.len;
            if !in_b1 || ts < b0.max_ts.max(b1.min_ts) + 10_000_000_000 || picked >= 4 {
                continue;
            }
            let Some(key) = key else {
                continue;
            };
            let sec = ts / 1_000_000_000;
            let w = TimeWindow::parse(&(sec - 1).to_string(), &(sec + 1).to_string()).unwrap();
            let flow = FlowSpec::CommunityId {
                id: key.community_id(0),
                seed: 0,
            };
            queries.push((f.clone(), Query::new(flow, w)));
            picked += 1;
        }
        assert_eq!(picked, 4, "{}", f.display());
    }
    assert!(queries.len() >= 4, "no file of three index blocks");
    for (name, root) in &vars[1..] {
        let c = ALL.into_iter().find(|c| c.name() == name).unwrap();
        let idx = tmp.path().join(format!("idx-{name}"));
        let store = Store::open([root]).unwrap().with_index_dir(&idx);
        let rep = store.build_indexes().unwrap();
        assert_eq!(rep.built as usize, plain_files.len(), "{name}");
        let files = capme_core::testutil::capture_files(root);
        for (f, pf) in files.iter().zip(&plain_files) {
            let fi = capme_core::index::FileIndex::load(&store.index_for(f).unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(fi.compression, Some(c), "{name}");
            // Frames logged at least 256 KiB apart: every fourth 64 KiB frame.
            let size = std::fs::metadata(pf).unwrap().len() as usize;
            assert_eq!(fi.frames.len(), size.div_ceil(4 * FRAME), "{name}");
            if fi.blocks.len() < 3 {
                continue;
            }
            // Ruin frames 1..16 (capture bytes 64 KiB..1 MiB: the first block's records
            // after the first frame), keeping the file's size and mtime.
            let plain_bytes = std::fs::read(pf).unwrap();
            let at = |k: usize| compress(c, &plain_bytes[..k * FRAME], Some(FRAME)).len();
            let (from, to) = (at(1), at(16));
            assert!(fi.blocks[1].offset >= 16 * FRAME as u64);
            let meta = std::fs::metadata(f).unwrap();
            let mut data = std::fs::read(f).unwrap();
            data[from..to].fill(0x55);
            std::fs::write(f, &data).unwrap();
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(meta.modified().unwrap())
                .unwrap();
        }
        let scan = Store::open([root]).unwrap().use_index(false);
        for (f, q) in &queries {
            let (want, w0, _) = search(&plain, q);
            assert!(!want.is_empty() && w0.is_empty(), "{name} {}", f.display());
            let (got, w, n_indexed) = search(&store, q);
            assert!(n_indexed > 0, "{name} {}: not indexed", f.display());
            assert!(w.is_empty(), "{name} {}: {w:?}", f.display());
            assert!(got == want, "{name} {}: indexed differs", f.display());
            let (_, w, _) = search(&scan, q);
            assert!(
                w.iter()
                    .any(|w| w.contains(&format!("corrupt {name} stream"))),
                "{name} {}: the scan read through the ruined frames without a warning: {w:?}",
                f.display()
            );
        }
    }
}

//! The archive (`--archive DIR`) under hostile conditions, end to end through the `capme`
//! binary: a cache that serves only what verifies, paths that never leave their place, 16
//! concurrent writers, disk full and a read-only archive.

use capme_core::capture::CaptureReader;
use serde_json::Value;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

mod common;
use common::{json, s, stderr, store, QINQ};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_capme")
}

const NAME: &str = "tcp_10.10.5.10_52001_10.10.5.20_22_1718407577-1718407578.pcap";
const SENSORS: &str = "sensor1-eth1+sensor2-eth0";

fn archive_args<'a>(st: &'a Path, arch: &'a Path) -> Vec<&'a str> {
    let mut a = vec!["extract", "--store", s(st)];
    a.extend_from_slice(&QINQ);
    a.extend_from_slice(&["--archive", s(arch), "--json"]);
    a
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// Every file and directory below `dir` (not `dir` itself), sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            out.push(p.clone());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                out.extend(tree(&p));
            }
        }
    }
    out.sort();
    out
}

/// Packets of a complete capture file, `None` when it does not parse to its end.
fn complete_packets(bytes: Vec<u8>) -> Option<u64> {
    let mut r = CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes)), "x".into()).ok()?;
    let mut n = 0;
    while r.next_record().ok()?.is_some() {
        n += 1;
    }
    (r.trailing_bytes() == 0).then_some(n)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A copy of the sample store without its `.capme` index directory, if any.
fn store_copy(to: &Path) {
    for sensor in ["sensor1-eth1", "sensor2-eth0"] {
        copy_tree(&store().join(sensor), &to.join(sensor));
    }
}

// ---------------------------------------------------------------- verified cache

#[test]
fn the_cache_serves_only_an_archive_that_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("archive");
    let st = store();
    let args = archive_args(&st, &arch);
    let first = json(&run(&args));
    assert_eq!(
        (first["packets"].as_u64(), first["cached"].as_bool()),
        (Some(15), Some(false))
    );
    let path = arch.join("2024-06-14").join(SENSORS).join(NAME);
    assert_eq!(first["output"], s(&path));
    let record = PathBuf::from(format!("{}.json", s(&path)));
    let rec: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(rec["packets"], 15);
    assert_eq!(rec["name"], NAME);
    let good = std::fs::read(&path).unwrap();
    assert_eq!(rec["size"], good.len());

    // Served from the record: same numbers, nothing read.
    let again = json(&run(&args));
    assert_eq!(again["cached"], true);
    for k in [
        "packets",
        "bytes",
        "first_ts_ns",
        "last_ts_ns",
        "community_id",
        "output",
    ] {
        assert_eq!(again[k], first[k], "{k}");
    }
    assert_eq!(again["files_scanned"], 0);
    assert_eq!(again["warnings"], 0);

    // An unrelated pcap (another flow's archive) put at the path.
    let other = tmp.path().join("other");
    let mut a = vec!["extract", "--store", s(&st)];
    a.extend_from_slice(&[
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
        "1718406570",
    ]);
    a.extend_from_slice(&["--archive", s(&other), "--json"]);
    let unrelated = json(&run(&a));
    let unrelated_bytes = std::fs::read(unrelated["output"].as_str().unwrap()).unwrap();

    let header_only = good[..24].to_vec();
    let cut = good[..good.len() - 100].to_vec();
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff; // same size, other bytes
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cut mid-record", cut, "size"),
        ("24-byte header only", header_only, "size"),
        ("unrelated pcap", unrelated_bytes, "size"),
        ("one byte changed", flipped, "SHA-1"),
    ];
    for (what, bytes, why) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let v = json(&run(&args));
        assert_eq!(v["cached"], false, "{what}");
        assert_eq!(v["packets"], 15, "{what}");
        let msgs = v["warning_messages"].to_string();
        assert!(
            msgs.contains("rebuilt") && msgs.contains(why),
            "{what}: {msgs}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), good, "{what}: rebuilt");
        assert_eq!(json(&run(&args))["cached"], true, "{what}: verified again");
    }

    // The record missing, unparsable, or for another query.
    let rec_text = std::fs::read_to_string(&record).unwrap();
    let other_query = rec_text.replace("1718407577000000000", "1718407576000000000");
    assert_ne!(other_query, rec_text);
    for (what, content, why) in [
        ("missing", None, "no cache record"),
        ("garbage", Some("{not json".to_string()), "does not parse"),
        ("other query", Some(other_query), "another query"),
    ] {
        match content {
            None => std::fs::remove_file(&record).unwrap(),
            Some(c) => std::fs::write(&record, c).unwrap(),
        }
        let v = json(&run(&args));
        assert_eq!(v["cached"], false, "{what}");
        let msgs = v["warning_messages"].to_string();
        assert!(msgs.contains(why), "{what}: {msgs}");
        assert_eq!(
            std::fs::read_to_string(&record).unwrap(),
            rec_text,
            "{what}"
        );
        assert_eq!(json(&run(&args))["cached"], true, "{what}");
    }
    // The record is not a capture file: the archive, used as a store, lists only the pcap.
    let o = run(&[
        "files",
        "--store",
        s(&arch),
        "--stime",
        "0",
        "--etime",
        "2000000000",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(files.as_array().unwrap().len(), 1, "{files}");
}

// ---------------------------------------------------------------- no empty directories

#[test]
fn a_failed_extraction_leaves_no_directory_it_created() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("archive");
    std::fs::create_dir(&arch).unwrap();
    // An existing date directory is kept; the sensor directory created for the try is not.
    std::fs::create_dir(arch.join("2024-06-14")).unwrap();
    let st = store();
    let mut a = vec!["extract", "--store", s(&st)];
    a.extend_from_slice(&QINQ[..10]);
    a.extend_from_slice(&["--stime", "1718406137", "--etime", "1718406140"]);
    a.extend_from_slice(&["--archive", s(&arch)]);
    let o = run(&a);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(tree(&arch), vec![arch.join("2024-06-14")]);
    std::fs::remove_dir(arch.join("2024-06-14")).unwrap();
    let o = run(&a);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(tree(&arch), Vec::<PathBuf>::new());
}

// ---------------------------------------------------------------- paths

#[test]
fn a_root_given_as_dotdot_writes_inside_its_sensor_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let sensor = tmp.path().join("sensor1-eth1");
    copy_tree(&store().join("sensor1-eth1"), &sensor);
    let arch = tmp.path().join("archive");
    let mut a = vec!["extract", "--store", ".."];
    a.extend_from_slice(&QINQ);
    a.extend_from_slice(&["--archive", s(&arch), "--json"]);
    let o = Command::new(bin())
        .current_dir(sensor.join("dailylogs"))
        .args(&a)
        .output()
        .unwrap();
    let v = json(&o);
    assert_eq!(
        v["output"],
        s(&arch.join("2024-06-14/sensor1-eth1").join(NAME)),
        "{v}"
    );
}

#[test]
fn non_utf8_sensor_names_are_percent_encoded_and_distinct() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("archive");
    let mut outputs = Vec::new();
    for (i, names) in [[b"s\xff".as_slice(), b"s\xfe"], [b"s\xfd", b"s\xfc"]]
        .iter()
        .enumerate()
    {
        let root = tmp.path().join(format!("store{i}"));
        copy_tree(
            &store().join("sensor1-eth1"),
            &root.join(OsStr::from_bytes(names[0])),
        );
        copy_tree(
            &store().join("sensor2-eth0"),
            &root.join(OsStr::from_bytes(names[1])),
        );
        let mut a = vec!["extract", "--store", s(&root)];
        a.extend_from_slice(&QINQ);
        a.extend_from_slice(&["--archive", s(&arch), "--json"]);
        let v = json(&run(&a));
        assert_eq!(v["packets"], 15);
        assert_eq!(v["cached"], false, "a store's archive is not another's");
        outputs.push(v["output"].as_str().unwrap().to_string());
    }
    assert_eq!(
        outputs,
        vec![
            s(&arch.join("2024-06-14/s%FE+s%FF").join(NAME)).to_string(),
            s(&arch.join("2024-06-14/s%FC+s%FD").join(NAME)).to_string(),
        ]
    );
}

#[test]
fn a_symlink_below_the_archive_root_is_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join(SENSORS)).unwrap();
    let st = store();
    // A symlinked date directory, then a symlinked sensor directory.
    for level in ["date", "sensor"] {
        let arch = tmp.path().join(format!("archive-{level}"));
        let link = match level {
            "date" => arch.join("2024-06-14"),
            _ => arch.join("2024-06-14").join(SENSORS),
        };
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let target = if level == "date" {
            outside.clone()
        } else {
            outside.join(SENSORS)
        };
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for force in [false, true] {
            let mut a = archive_args(&st, &arch);
            if force {
                a.push("--force");
            }
            let o = run(&a);
            assert_eq!(o.status.code(), Some(2), "{level}: {}", stderr(&o));
            let e = stderr(&o);
            assert!(
                e.contains(s(&link)) && e.contains("symbolic link"),
                "{level}: {e}"
            );
        }
        assert_eq!(
            tree(&outside),
            vec![outside.join(SENSORS)],
            "{level}: nothing outside"
        );
    }
    // The archive root itself may be a link: it is the directory the user chose.
    let real = tmp.path().join("real-archive");
    std::fs::create_dir(&real).unwrap();
    let root_link = tmp.path().join("archive-link");
    std::os::unix::fs::symlink(&real, &root_link).unwrap();
    let v = json(&run(&archive_args(&st, &root_link)));
    assert_eq!(v["packets"], 15);
    assert!(real.join("2024-06-14").join(SENSORS).join(NAME).is_file());
}

#[test]
fn hidden_directories_of_a_store_are_named_in_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    store_copy(&root);
    copy_tree(&store().join("sensor1-eth1"), &root.join(".old-sensor"));
    std::fs::create_dir(root.join(".capme")).unwrap();
    let arch = tmp.path().join("archive");
    let v = json(&run(&archive_args(&root, &arch)));
    let msgs: Vec<String> = v["warning_messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    let hidden: Vec<&String> = msgs
        .iter()
        .filter(|m| m.contains("hidden directory"))
        .collect();
    assert_eq!(hidden.len(), 1, "{msgs:?}");
    assert!(hidden[0].contains(".old-sensor"), "{msgs:?}");
}

// ---------------------------------------------------------------- concurrency

#[test]
fn sixteen_concurrent_writers_leave_one_complete_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("archive");
    let st = store();
    let path = arch.join("2024-06-14").join(SENSORS).join(NAME);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, seen, path) = (stop.clone(), seen.clone(), path.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(b) = std::fs::read(&path) {
                    assert_eq!(
                        complete_packets(b),
                        Some(15),
                        "a reader saw a partial archive"
                    );
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let children: Vec<_> = (0..16)
        .map(|_| {
            Command::new(bin())
                .args(archive_args(&st, &arch))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let v = json(&c.wait_with_output().unwrap());
        assert_eq!(v["packets"], 15, "{v}");
        assert_eq!(v["output"], s(&path));
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader never saw a partial file");
    assert!(
        seen.load(Ordering::Relaxed) > 0,
        "the reader saw the archive"
    );
    let dir = path.parent().unwrap();
    assert_eq!(
        tree(&arch),
        vec![
            arch.join("2024-06-14"),
            dir.to_path_buf(),
            path.clone(),
            PathBuf::from(format!("{}.json", s(&path))),
        ],
        "one archive and its record, no temporary file"
    );
    assert_eq!(complete_packets(std::fs::read(&path).unwrap()), Some(15));
    assert_eq!(
        json(&run(&archive_args(&st, &arch)))["cached"],
        true,
        "the record verifies"
    );
}

/// Extracting the QinQ flow from `root` with its indexes: 15 packets, read through indexes.
fn check_indexes(root: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = vec!["extract", "--store", s(root)];
    a.extend_from_slice(&QINQ);
    let out = tmp.path().join("x.pcap");
    a.extend_from_slice(&["-o", s(&out), "--json"]);
    let v = json(&run(&a));
    assert_eq!(v["packets"], 15, "{v}");
    assert!(v["files_indexed"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["files_scanned"], 0, "every index fresh and valid: {v}");
    assert_eq!(v["warnings"], 0, "{v}");
}

#[test]
fn eight_concurrent_index_runs_leave_valid_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    store_copy(&root);
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(bin())
                .args(["index", "--store", s(&root)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let leftovers: Vec<PathBuf> = tree(&root.join(".capme"))
        .into_iter()
        .filter(|p| {
            // Flow indexes and the store catalogue; no temporary file left behind.
            p.is_file()
                && p.extension() != Some(OsStr::new("cidx"))
                && p.extension() != Some(OsStr::new("ccat"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    check_indexes(&root);
}

#[test]
fn index_follow_beside_archive_extractions() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    store_copy(&root);
    let arch = tmp.path().join("archive");
    let mut follow = Command::new(bin())
        .args(["index", "--store", s(&root), "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut a = archive_args(&root, &arch);
            if i % 2 == 1 {
                a.push("--force");
            }
            Command::new(bin())
                .args(a)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        assert_eq!(json(&c.wait_with_output().unwrap())["packets"], 15);
    }
    // Let the first pass finish (its last step writes the store catalogue), then stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !tree(&root.join(".capme"))
        .iter()
        .any(|p| p.extension() == Some(OsStr::new("ccat")))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        follow.try_wait().unwrap().is_none(),
        "--follow keeps running"
    );
    follow.kill().unwrap();
    follow.wait().unwrap();
    check_indexes(&root);
    let path = arch.join("2024-06-14").join(SENSORS).join(NAME);
    assert_eq!(complete_packets(std::fs::read(&path).unwrap()), Some(15));
    assert_eq!(
        tree(path.parent().unwrap()).len(),
        2,
        "archive and record only"
    );
}

// ---------------------------------------------------------------- disk full, read-only

/// A mount made for a test, unmounted when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount(args: &[&str], dir: &Path) -> Result<Mounted, String> {
    let o = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(Mounted(dir.to_path_buf()))
    } else {
        Err(stderr(&o))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// The disk-full check: exit 3, a message that says so, nothing left below `arch` but `keep`.
fn assert_clean_failure(o: &Output, arch: &Path, keep: &[PathBuf], what: &str) {
    assert_eq!(o.status.code(), Some(3), "{what}: {}", stderr(o));
    let e = stderr(o);
    assert!(
        e.contains("No space left") || e.contains("File too large") || e.contains("Read-only"),
        "{what}: {e}"
    );
    assert_eq!(
        tree(arch),
        keep.to_vec(),
        "{what}: no partial file, no empty directory"
    );
}

#[test]
fn disk_full_by_write_failure_injection_leaves_nothing() {
    // RLIMIT_FSIZE makes every write past 1 KiB fail (EFBIG) in the sink, on any machine and
    // without privileges; SIGXFSZ is ignored so the write fails instead of killing capme.
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("archive");
    let st = store();
    let args = archive_args(&st, &arch);
    let o = Command::new("bash")
        .args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"", bin()])
        .args(&args)
        .output()
        .unwrap();
    assert_clean_failure(&o, &arch, &[], "write failure past 1 KiB");
    // The same with the date directory already there: it stays, the sensor directory goes.
    std::fs::create_dir_all(arch.join("2024-06-14")).unwrap();
    let o = Command::new("bash")
        .args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"", bin()])
        .args(&args)
        .output()
        .unwrap();
    assert_clean_failure(&o, &arch, &[arch.join("2024-06-14")], "existing date dir");
    assert_eq!(json(&run(&args))["packets"], 15, "works without the limit");
}

#[test]
fn disk_full_on_a_small_tmpfs_leaves_nothing() {
    if !is_root() {
        println!("skipped: mounting a tmpfs needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fs_dir = tmp.path().join("small");
    std::fs::create_dir(&fs_dir).unwrap();
    let _m = match mount(&["-t", "tmpfs", "-o", "size=64k", "tmpfs"], &fs_dir) {
        Ok(m) => m,
        Err(e) => {
            println!("skipped: cannot mount a tmpfs here: {e}");
            return;
        }
    };
    // Fill it: the archive (about 4 KB) cannot be written.
    let filler = fs_dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = [0u8; 4096];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let arch = fs_dir.join("archive");
    std::fs::create_dir(&arch).unwrap();
    let st = store();
    let o = run(&archive_args(&st, &arch));
    assert_clean_failure(&o, &arch, &[], "full tmpfs");
    // Room again: the same extraction works.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(json(&run(&archive_args(&st, &arch)))["packets"], 15);
}

#[test]
fn a_read_only_archive_gives_a_clear_error_and_leaves_nothing() {
    if !is_root() {
        println!(
            "skipped: a read-only bind mount needs root (and permission bits do not stop root)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("archive");
    let st = store();
    // Empty read-only root, then one whose date and sensor directories exist.
    for existing in [false, true] {
        let _ = std::fs::remove_dir_all(&arch);
        std::fs::create_dir(&arch).unwrap();
        let mut keep = Vec::new();
        if existing {
            std::fs::create_dir_all(arch.join("2024-06-14").join(SENSORS)).unwrap();
            keep = vec![
                arch.join("2024-06-14"),
                arch.join("2024-06-14").join(SENSORS),
            ];
        }
        let m = match mount(&["--bind"], &arch) {
            Ok(m) => m,
            Err(e) => {
                println!("skipped: cannot bind-mount here: {e}");
                return;
            }
        };
        let ro = Command::new("mount")
            .args(["-o", "remount,ro,bind"])
            .arg(&arch)
            .output()
            .unwrap();
        if !ro.status.success() {
            println!("skipped: cannot remount read-only: {}", stderr(&ro));
            return;
        }
        let o = run(&archive_args(&st, &arch));
        assert_clean_failure(&o, &arch, &keep, "read-only archive");
        assert!(stderr(&o).contains(s(&arch)), "{}", stderr(&o));
        drop(m);
    }
}

//! The bundled sample store is what `gen-store` writes with its defaults, byte for byte: the
//! generator and `examples/data` cannot drift apart.

use std::path::{Path, PathBuf};
use std::process::Command;

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn defaults_give_the_bundled_sample_store() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    let tmp = tempfile::tempdir().unwrap();
    let (store, manifest) = (tmp.path().join("store"), tmp.path().join("manifest.json"));
    let o = Command::new(env!("CARGO_BIN_EXE_gen-store"))
        .arg("--out")
        .arg(&store)
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = files(&data.join("store"));
    assert_eq!(files(&store), want, "the same file names");
    assert!(want.len() > 10);
    for f in &want {
        let (a, b) = (store.join(f), data.join("store").join(f));
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{} differs from the bundled sample store",
            f.display()
        );
    }
    assert!(
        std::fs::read(&manifest).unwrap() == std::fs::read(data.join("manifest.json")).unwrap(),
        "the manifest differs from examples/data/manifest.json"
    );
}

#[test]
fn the_library_writes_what_the_binary_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = capme_gen::Config::new(tmp.path().join("lib"));
    config.seed = 5;
    config.sensors = 3;
    config.target_bytes = 2_000_000;
    let report = capme_gen::generate(&config).unwrap();
    assert_eq!(report.sensors, 3);
    let bin = tmp.path().join("bin");
    let o = Command::new(env!("CARGO_BIN_EXE_gen-store"))
        .args([
            "--seed",
            "5",
            "--sensors",
            "3",
            "--target-bytes",
            "2000000",
            "--out",
        ])
        .arg(&bin)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names = files(&config.out);
    assert_eq!(names.len(), report.files);
    assert_eq!(files(&bin), names);
    for f in &names {
        assert!(std::fs::read(config.out.join(f)).unwrap() == std::fs::read(bin.join(f)).unwrap());
    }
}

//! The bundled sample store is what `gen-store` writes with its defaults, byte for byte (the
//! generator and `examples/data` cannot drift apart), and the library writes what the binary
//! writes.

use std::path::Path;
use std::process::Command;

/// Runs `gen-store ARGS --out DIR/store --manifest DIR/manifest.json`.
fn gen_store(args: &[&str], dir: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_gen-store"))
        .args(args)
        .arg("--out")
        .arg(dir.join("store"))
        .arg("--manifest")
        .arg(dir.join("manifest.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Asserts that two stores with their manifests (`DIR/store`, `DIR/manifest.json`) are the same
/// bytes: the manifests, and every capture file the manifest lists (which is every file the
/// generator writes).
fn assert_same_store(a: &Path, b: &Path) {
    let manifest = std::fs::read(a.join("manifest.json")).unwrap();
    assert!(
        manifest == std::fs::read(b.join("manifest.json")).unwrap(),
        "the manifests differ: {} and {}",
        a.display(),
        b.display()
    );
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let files = m["files"].as_array().unwrap();
    assert!(files.len() > 10, "{} files", files.len());
    for f in files {
        let path = f["path"].as_str().unwrap();
        let bytes = |dir: &Path| std::fs::read(dir.join("store").join(path)).unwrap();
        assert!(bytes(a) == bytes(b), "{path} differs");
    }
}

#[test]
fn defaults_give_the_bundled_sample_store() {
    let tmp = tempfile::tempdir().unwrap();
    gen_store(&[], tmp.path());
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    assert_same_store(tmp.path(), &data);
}

#[test]
fn the_library_writes_what_the_binary_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let mut config = capme_gen::Config::new(lib.join("store"));
    config.manifest = Some(lib.join("manifest.json"));
    config.seed = 5;
    config.sensors = 3;
    config.target_bytes = 2_000_000;
    let report = capme_gen::generate(&config).unwrap();
    assert_eq!(report.sensors, 3);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let bin = tmp.path().join("bin");
    gen_store(
        &["--seed", "5", "--sensors", "3", "--target-bytes", "2000000"],
        &bin,
    );
    assert_same_store(&lib, &bin);
}

#[test]
fn config_new_takes_any_path() {
    let config = capme_gen::Config::new("--seed");
    assert_eq!(config.out, std::path::PathBuf::from("--seed"));
    assert_eq!((config.seed, config.sensors, config.rotate), (1, 2, 900));
    assert!(config.manifest.is_none());
}

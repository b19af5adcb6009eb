//! The checked-in `include/capme.h` must be what cbindgen generates from `src/lib.rs` now.
//! `CAPME_BLESS=1 cargo test -p capme-c --test header` rewrites it.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("utf-8 header");
    let path = dir.join("include/capme.h");
    if std::env::var_os("CAPME_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "include/capme.h is out of date with src/lib.rs: run \
         `CAPME_BLESS=1 cargo test -p capme-c --test header` and commit the result"
    );
    for name in [
        "capme_store_open",
        "capme_search_next",
        "capme_extract_to_file",
        "CAPME_NO_PACKETS",
    ] {
        assert!(fresh.contains(name), "{name} missing from the header");
    }
}

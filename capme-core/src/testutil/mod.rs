//! Builders for tests, benchmarks and the sample-store generator: packets (`packet`), small
//! capture files (`capture`), compressed copies of them (`compress`) and the one seeded random
//! number generator (`rng`). Compiled only for capme-core's own unit tests and with the
//! `testutil` feature, which only dev-dependencies and the workspace's tools crate enable: the
//! library as shipped holds none of it. Not part of the stable API.

pub mod capture;
pub mod compress;
pub mod encap;
pub mod link;
pub mod packet;
pub mod rng;

/// The flow most engine tests ask for: UDP 10.0.0.1:5000 <-> 10.0.0.2:53.
pub fn udp_flow() -> crate::FlowSpec {
    crate::FlowSpec::parse_tuple(
        "10.0.0.1",
        Some("5000"),
        "10.0.0.2",
        Some("53"),
        Some("udp"),
    )
    .expect("a valid tuple")
}

/// The capture files below `root`, listed the way the store lists them (so index sidecars
/// under `.capme/`, and anything else that is not a capture, are left out), sorted.
pub fn capture_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = crate::store::Store::open([root])
        .expect("a store root")
        .list()
        .expect("a listing")
        .files
        .into_iter()
        .map(|f| f.path)
        .collect();
    out.sort();
    out
}

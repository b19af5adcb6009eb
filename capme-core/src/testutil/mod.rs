//! Builders for tests, benchmarks and the sample-store generator: packets (`packet`) and small
//! capture files (`capture`). Public so that examples and integration tests can use them; not part
//! of the stable API.

pub mod capture;
pub mod packet;

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

//! Builders for tests, benchmarks and the sample-store generator: packets (`packet`) and small
//! capture files (`capture`). Public so that examples and integration tests can use them; not part
//! of the stable API.

pub mod capture;
pub mod packet;

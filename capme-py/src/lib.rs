//! `capme._capme`: the Python binding of capme-core (pyo3, abi3).
//!
//! A thin layer: arguments are turned into the same text the CLI passes to capme-core and
//! parsed by capme-core's one parser (so that the error messages are identical), the work runs
//! on a worker thread with the GIL released, and Python objects are made only after
//! re-attaching. The modules follow the seams of that path:
//!
//! - [`errors`]: capme-core errors as the exception classes of `capme/_errors.py`;
//! - [`args`]: Python arguments → the CLI's text → capme-core's `QuerySpec` parser;
//! - [`work`]: detached, interruptible work (GIL released, Ctrl-C cancels);
//! - [`store`] and [`search`]: `Store` (`search`, `extract`, `transcript`) and
//!   `SearchIterator`;
//! - [`packet`] and [`summary`]: the `Packet` and `Summary` types;
//! - [`transcript`]: `Segment` and `SegmentIterator` (a `json` transcript);
//! - [`flow`]: `FlowKey` and `community_id`.
//!
//! The Python package (`python/capme/`) re-exports this module and the exceptions; its
//! hand-written `_capme.pyi` is checked against the built module by mypy's stubtest
//! (`scripts/test.sh`).

mod args;
mod errors;
mod flow;
mod packet;
mod search;
mod store;
mod summary;
mod transcript;
mod work;

use pyo3::prelude::*;

/// The compiled part of the ``capme`` package (see ``capme.__doc__``).
#[pymodule]
fn _capme(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::init(m.py())?;
    m.add_class::<store::Store>()?;
    m.add_class::<search::SearchIter>()?;
    m.add_class::<packet::Packet>()?;
    m.add_class::<summary::Summary>()?;
    m.add_class::<transcript::Segment>()?;
    m.add_class::<transcript::SegmentIterator>()?;
    m.add_class::<flow::FlowKey>()?;
    m.add_function(wrap_pyfunction!(flow::community_id, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

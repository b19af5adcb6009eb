//! `capme.Packet`: one matched packet, owning its bytes.
//!
//! Its length fields have the names every capme binding uses (C, Tcl and Python alike):
//! `caplen` (bytes captured, `len(packet.data)`) and `orig_len` (length on the wire).

use crate::args::{path_str, utc};
use capme_core::{Packet as CorePacket, Timestamp};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// One matched packet, owning its bytes.
///
/// Attributes: ``ts`` (epoch seconds, float), ``ts_ns`` (epoch nanoseconds, int, exact),
/// ``datetime`` (timezone-aware UTC ``datetime``, microsecond precision), ``data`` (the captured
/// bytes, unchanged), ``caplen`` (bytes captured, ``len(data)``), ``orig_len`` (length on the
/// wire), ``linktype`` (the capture's link type), ``sensor`` (sensor name of the capture file)
/// and ``file`` (path of the capture file). ``caplen`` and ``orig_len`` are named as in the C
/// and Tcl bindings.
#[pyclass(module = "capme", frozen)]
pub(crate) struct Packet {
    ts_ns: i64,
    data: Py<PyBytes>,
    caplen: u32,
    orig_len: u32,
    linktype: u32,
    sensor: String,
    file: String,
}

impl Packet {
    /// The Python object of a capme-core packet (copies its bytes into a `bytes`).
    pub(crate) fn new_py(py: Python<'_>, p: CorePacket) -> PyResult<Py<Packet>> {
        Py::new(
            py,
            Packet {
                ts_ns: p.ts.as_nanos(),
                data: PyBytes::new(py, &p.data).unbind(),
                caplen: u32::try_from(p.data.len()).unwrap_or(u32::MAX),
                orig_len: p.orig_len,
                linktype: p.iface.linktype,
                sensor: p.sensor.to_string(),
                file: path_str(&p.file),
            },
        )
    }
}

#[pymethods]
impl Packet {
    /// Timestamp, epoch seconds as a float (about 0.1 µs resolution for current dates).
    #[getter]
    fn ts(&self) -> f64 {
        Timestamp(self.ts_ns).as_secs_f64()
    }

    /// Timestamp, integer nanoseconds since the epoch (exact).
    #[getter]
    fn ts_ns(&self) -> i64 {
        self.ts_ns
    }

    /// Timestamp as a timezone-aware ``datetime`` in UTC (truncated to microseconds).
    #[getter]
    fn datetime<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = Timestamp(self.ts_ns);
        let dtm = py.import("datetime")?;
        let epoch = dtm
            .getattr("datetime")?
            .call1((1970, 1, 1, 0, 0, 0, 0, utc(py)?))?;
        let delta = dtm
            .getattr("timedelta")?
            .call1((0, t.secs(), t.subsec_nanos() / 1000))?;
        epoch.call_method1("__add__", (delta,))
    }

    /// The captured bytes, unchanged (``len(data) == caplen``).
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    /// Number of bytes captured (``len(data)``; at most ``orig_len``).
    #[getter]
    fn caplen(&self) -> u32 {
        self.caplen
    }

    /// Original length of the packet on the wire.
    #[getter]
    fn orig_len(&self) -> u32 {
        self.orig_len
    }

    /// Link type (LINKTYPE_* value) of the interface the packet was captured on.
    #[getter]
    fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Sensor name of the capture file (the directory before ``dailylogs``).
    #[getter]
    fn sensor(&self) -> &str {
        &self.sensor
    }

    /// Path of the capture file the packet was read from.
    #[getter]
    fn file(&self) -> &str {
        &self.file
    }

    fn __repr__(&self) -> String {
        format!(
            "<capme.Packet ts={} caplen={} orig_len={} sensor={:?}>",
            Timestamp(self.ts_ns),
            self.caplen,
            self.orig_len,
            self.sensor
        )
    }
}

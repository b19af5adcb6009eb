//! `capme.Summary`: what an extraction did, one typed attribute per `--json` field.
//!
//! The attributes are capme-core's [`CoreSummary`] fields, whose serde names are the CLI's
//! `--json` keys. [`Summary::new`] destructures the core summary without `..`: a field added to
//! capme-core fails this crate's build until it is given an attribute here and a line in
//! `_capme.pyi` (and `tests/test_api.py` checks the attributes against the CLI's JSON keys).

use crate::args::path_str;
use capme_core::Summary as CoreSummary;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};

/// What an extraction did. The attributes are exactly the CLI's ``--json`` fields:
/// ``packets``, ``bytes``, ``first_ts``, ``last_ts``, ``output``, ``community_id``,
/// ``files_scanned``, ``files_indexed``, ``bytes_read``, ``elapsed_ms``, ``cached``,
/// ``warnings``, ``warning_messages``, ``first_ts_ns``, ``last_ts_ns``, ``truncated``,
/// ``encapsulated``.
/// ``as_dict()`` returns
/// exactly the object ``capme extract --json`` prints.
#[pyclass(module = "capme", frozen)]
pub(crate) struct Summary {
    /// Packets written.
    #[pyo3(get)]
    packets: u64,
    /// Captured bytes of those packets (the sum of their ``caplen``).
    #[pyo3(get)]
    bytes: u64,
    /// First packet time, epoch seconds (float); None without packets.
    #[pyo3(get)]
    first_ts: Option<f64>,
    /// Last packet time, epoch seconds (float); None without packets.
    #[pyo3(get)]
    last_ts: Option<f64>,
    /// The file written (or found in the archive), as a str.
    #[pyo3(get)]
    output: Option<String>,
    /// Community ID (v1, seed 0, base64) of the flow found.
    #[pyo3(get)]
    community_id: Option<String>,
    /// Capture files read by scanning (without a fresh index).
    #[pyo3(get)]
    files_scanned: u64,
    /// Capture files answered through their flow index.
    #[pyo3(get)]
    files_indexed: u64,
    /// Bytes of capture files read.
    #[pyo3(get)]
    bytes_read: u64,
    /// Wall time in milliseconds.
    #[pyo3(get)]
    elapsed_ms: u64,
    /// True when an existing archive was returned without scanning.
    #[pyo3(get)]
    cached: bool,
    /// Number of non-fatal problems (corrupt records, vanished files...).
    #[pyo3(get)]
    warnings: u64,
    /// Messages of the non-fatal problems.
    #[pyo3(get)]
    warning_messages: Vec<String>,
    /// First packet time, integer nanoseconds (exact).
    #[pyo3(get)]
    first_ts_ns: Option<i64>,
    /// Last packet time, integer nanoseconds (exact).
    #[pyo3(get)]
    last_ts_ns: Option<i64>,
    /// True when the result stopped at ``max_packets`` or ``max_bytes``: more packets matched
    /// than were written (the output is valid up to the limit; a warning names it).
    #[pyo3(get)]
    truncated: bool,
    /// The CLI's `--json` object (capme-core's serde output), for `as_dict` and `==`.
    json: serde_json::Map<String, serde_json::Value>,
}

impl Summary {
    pub(crate) fn new(inner: CoreSummary) -> PyResult<Summary> {
        let json = match serde_json::to_value(&inner) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err(PyRuntimeError::new_err("summary is not an object")),
            Err(e) => return Err(PyRuntimeError::new_err(e.to_string())),
        };
        // No `..`: a new field of capme-core's Summary must be added here (see the module doc).
        let CoreSummary {
            packets,
            bytes,
            first_ts,
            last_ts,
            output,
            community_id,
            files_scanned,
            files_indexed,
            bytes_read,
            elapsed_ms,
            cached,
            warnings,
            warning_messages,
            first_ts_ns,
            last_ts_ns,
            truncated,
            encapsulated: _, // read from `json` by the `encapsulated` getter
        } = inner;
        Ok(Summary {
            packets,
            bytes,
            first_ts,
            last_ts,
            output: output.as_deref().map(path_str),
            community_id,
            files_scanned,
            files_indexed,
            bytes_read,
            elapsed_ms,
            cached,
            warnings,
            warning_messages,
            first_ts_ns,
            last_ts_ns,
            truncated,
            json,
        })
    }
}

fn json_to_py(py: Python<'_>, v: &serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any().unbind()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any().unbind()
            } else {
                n.as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| json_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any().unbind()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any().unbind()
        }
    })
}

#[pymethods]
impl Summary {
    /// The summary as a dict: the same keys, in the same order, and values as
    /// ``capme extract --json``.
    fn as_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &serde_json::Value::Object(self.json.clone()))
    }

    /// The tunnel packets written: ``{"packets": N, "by": {"vxlan": n, ...}}`` (see the
    /// README's ``encapsulated``).
    #[getter]
    fn encapsulated(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(
            py,
            self.json
                .get("encapsulated")
                .unwrap_or(&serde_json::Value::Null),
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Summary>()
            .is_ok_and(|o| o.get().json == self.json)
    }

    fn __repr__(&self) -> String {
        format!(
            "<capme.Summary packets={} bytes={} output={:?} cached={}>",
            self.packets,
            self.bytes,
            self.output.as_deref().unwrap_or_default(),
            self.cached
        )
    }
}

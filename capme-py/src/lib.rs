//! `capme._capme`: the Python binding of capme-core (pyo3, abi3).
//!
//! A thin layer: arguments are turned into the same text the CLI passes to capme-core (so that
//! the error messages are identical), the work runs on a worker thread with the GIL released,
//! and Python objects are made only after re-attaching. The calling thread waits in short slices
//! and checks for signals in between: on Ctrl-C it sets the store's cancel flag, waits for the
//! worker to stop (capme-core stops soon after the flag is set) and raises `KeyboardInterrupt`.

use capme_core::flow::{Endpoint, FlowKey as CoreKey, Proto};
use capme_core::{
    Error, ErrorKind, FlowSpec, Packet as CorePacket, Query, Search, Store as CoreStore,
    Summary as CoreSummary, TimeWindow, Timestamp,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyType};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// At most this many packets are read per batch of a search iterator.
const BATCH_PACKETS: usize = 256;
/// At most this many captured bytes are read per batch of a search iterator.
const BATCH_BYTES: usize = 1 << 20;
/// How long the calling thread waits, detached, between two signal checks.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------------
// Exceptions

const ERRORS_PY: &std::ffi::CStr = cr#"
class CapmeError(Exception):
    """Base class of every capme error. ``str(e)`` is capme-core's message, the same text the
    ``capme`` CLI prints after ``capme: ``; ``e.kind`` is its stable kind name (``invalid``,
    ``io``, ``format``, ``store``, ``nopackets``, ``cancelled``)."""
    __module__ = "capme"
    kind = "error"


class InvalidQuery(CapmeError, ValueError):
    """An argument was invalid (an address, port, protocol, time, Community ID...). The message
    names the field and the value. Also a ``ValueError``."""
    __module__ = "capme"
    kind = "invalid"


class StoreError(CapmeError, OSError):
    """The store could not be read: a missing root (kind ``store``), an I/O error on a file
    (``io``, with ``errno`` when the OS gave one) or a corrupt capture file (``format``). Also an
    ``OSError``."""
    __module__ = "capme"
    kind = "store"


class NoPackets(CapmeError):
    """The query matched no packet (the CLI's exit code 1). No file was written."""
    __module__ = "capme"
    kind = "nopackets"
"#;

struct Exceptions {
    base: Py<PyType>,
    invalid: Py<PyType>,
    store: Py<PyType>,
    nopackets: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

fn exceptions(py: Python<'_>) -> PyResult<&Exceptions> {
    EXCEPTIONS.get_or_try_init(py, || {
        let m = PyModule::from_code(py, ERRORS_PY, c"capme/_errors.py", c"capme._errors")?;
        let get = |name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok::<_, PyErr>(Exceptions {
            base: get("CapmeError")?,
            invalid: get("InvalidQuery")?,
            store: get("StoreError")?,
            nopackets: get("NoPackets")?,
        })
    })
}

/// The Python exception of a capme-core error: its message is `error.to_string()`.
fn to_py_err(py: Python<'_>, e: &Error) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let ex = exceptions(py)?;
        let ty = match e.kind() {
            ErrorKind::InvalidQuery => &ex.invalid,
            ErrorKind::Io | ErrorKind::Format | ErrorKind::Store => &ex.store,
            ErrorKind::NoPackets => &ex.nopackets,
            ErrorKind::Cancelled => &ex.base,
        };
        let value = ty.bind(py).call1((e.to_string(),))?;
        value.setattr("kind", e.kind().as_str())?;
        if let Error::Io { source, .. } = e {
            if let Some(n) = source.raw_os_error() {
                value.setattr("errno", n)?;
            }
        }
        Ok(PyErr::from_value(value))
    };
    make().unwrap_or_else(|err| err)
}

trait IntoPyResult<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, &e))
    }
}

// ---------------------------------------------------------------------------------------------
// Detached, interruptible work

/// Runs `f` on a worker thread with the GIL released. The calling thread wakes every
/// [`SIGNAL_SLICE`] to run Python's signal handlers; when one raises (Ctrl-C:
/// `KeyboardInterrupt`), `cancel` is set, the worker is waited for, and that exception is
/// returned instead of the worker's result.
fn run_interruptible<T, F>(py: Python<'_>, cancel: &AtomicBool, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    std::thread::scope(|s| {
        let (tx, rx) = channel();
        s.spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        });
        let mut rx = rx;
        let mut interrupted: Option<PyErr> = None;
        loop {
            let (r, back) = py.detach(move || {
                let r = rx.recv_timeout(SIGNAL_SLICE);
                (r, rx)
            });
            rx = back;
            match r {
                Ok(Ok(v)) => return interrupted.map_or(Ok(v), Err),
                Ok(Err(_panic)) => {
                    return Err(interrupted.unwrap_or_else(|| {
                        PyRuntimeError::new_err("capme: worker thread panicked")
                    }))
                }
                Err(RecvTimeoutError::Timeout) => {
                    if interrupted.is_none() {
                        if let Err(e) = py.check_signals() {
                            cancel.store(true, Ordering::SeqCst);
                            interrupted = Some(e);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(interrupted.unwrap_or_else(|| {
                        PyRuntimeError::new_err("capme: worker thread ended without a result")
                    }))
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Argument conversion: everything becomes the text the CLI would pass to capme-core.

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn is_datetime(v: &Bound<'_, PyAny>) -> PyResult<bool> {
    let dt = v.py().import("datetime")?.getattr("datetime")?;
    v.is_instance(&dt)
}

fn utc(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    py.import("datetime")?.getattr("timezone")?.getattr("utc")
}

/// The text of a time argument, as the CLI would receive it: an int as its digits, a float as
/// its `repr` (so `1700000000.5` is exact and `100.0` is an instant, not a whole second), a
/// string unchanged, a `datetime` as its RFC 3339 form in UTC (naive values are UTC).
fn time_text(field: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{field} must be an int, float, str or datetime, not bool"
        )));
    }
    if v.is_instance_of::<PyString>() {
        return v.extract::<String>();
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(v.str()?.to_string());
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(v.repr()?.to_string());
    }
    if is_datetime(v)? {
        let py = v.py();
        let aware = if v.getattr("tzinfo")?.is_none() {
            let kw = PyDict::new(py);
            kw.set_item("tzinfo", utc(py)?)?;
            v.call_method("replace", (), Some(&kw))?
        } else {
            v.call_method1("astimezone", (utc(py)?,))?
        };
        return aware.call_method0("isoformat")?.extract::<String>();
    }
    Err(PyTypeError::new_err(format!(
        "{field} must be an int, float, str or datetime, not {}",
        type_name(v)
    )))
}

fn window(
    py: Python<'_>,
    stime: Option<&Bound<'_, PyAny>>,
    etime: Option<&Bound<'_, PyAny>>,
    method: &str,
) -> PyResult<TimeWindow> {
    let stime = stime.ok_or_else(|| {
        PyTypeError::new_err(format!("{method}() missing required argument 'stime'"))
    })?;
    let etime = etime.ok_or_else(|| {
        PyTypeError::new_err(format!("{method}() missing required argument 'etime'"))
    })?;
    let s = time_text("stime", stime)?;
    let e = time_text("etime", etime)?;
    TimeWindow::parse(&s, &e).py(py)
}

fn ip_text(field: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<PyString>() {
        return v.extract();
    }
    let ipaddress = v.py().import("ipaddress")?;
    for cls in ["IPv4Address", "IPv6Address"] {
        if v.is_instance(&ipaddress.getattr(cls)?)? {
            return Ok(v.str()?.to_string());
        }
    }
    Err(PyTypeError::new_err(format!(
        "{field} must be a str or an ipaddress address, not {}",
        type_name(v)
    )))
}

fn int_or_str_text(field: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{field} must be an int or str, not bool"
        )));
    }
    if v.is_instance_of::<PyString>() {
        return v.extract();
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(v.str()?.to_string());
    }
    Err(PyTypeError::new_err(format!(
        "{field} must be an int or str, not {}",
        type_name(v)
    )))
}

fn opt_text(
    field: &str,
    v: Option<&Bound<'_, PyAny>>,
    f: fn(&str, &Bound<'_, PyAny>) -> PyResult<String>,
) -> PyResult<Option<String>> {
    match v {
        Some(v) if !v.is_none() => f(field, v).map(Some),
        _ => Ok(None),
    }
}

/// The 5-tuple's fields as text.
struct TupleText {
    sip: String,
    spt: Option<String>,
    dip: String,
    dpt: Option<String>,
    proto: Option<String>,
}

impl TupleText {
    fn new(
        method: &str,
        sip: Option<&Bound<'_, PyAny>>,
        spt: Option<&Bound<'_, PyAny>>,
        dip: Option<&Bound<'_, PyAny>>,
        dpt: Option<&Bound<'_, PyAny>>,
        proto: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<TupleText> {
        let missing = |name: &str| {
            PyTypeError::new_err(format!(
                "{method}() missing required argument '{name}' (or give community_id=)"
            ))
        };
        Ok(TupleText {
            sip: opt_text("sip", sip, ip_text)?.ok_or_else(|| missing("sip"))?,
            spt: opt_text("spt", spt, int_or_str_text)?,
            dip: opt_text("dip", dip, ip_text)?.ok_or_else(|| missing("dip"))?,
            dpt: opt_text("dpt", dpt, int_or_str_text)?,
            proto: opt_text("proto", proto, int_or_str_text)?,
        })
    }

    fn spec(&self, proto: Option<&str>) -> Result<FlowSpec, Error> {
        FlowSpec::parse_tuple(
            &self.sip,
            self.spt.as_deref(),
            &self.dip,
            self.dpt.as_deref(),
            proto,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn build_query(
    py: Python<'_>,
    method: &str,
    sip: Option<&Bound<'_, PyAny>>,
    spt: Option<&Bound<'_, PyAny>>,
    dip: Option<&Bound<'_, PyAny>>,
    dpt: Option<&Bound<'_, PyAny>>,
    stime: Option<&Bound<'_, PyAny>>,
    etime: Option<&Bound<'_, PyAny>>,
    proto: Option<&Bound<'_, PyAny>>,
    community_id: Option<&Bound<'_, PyAny>>,
) -> PyResult<Query> {
    let given = |v: Option<&Bound<'_, PyAny>>| v.is_some_and(|v| !v.is_none());
    // The CLI parses the window first, then the flow: the same order gives the same message
    // when both are wrong.
    let window = window(py, stime, etime, method)?;
    let flow = match community_id.filter(|v| !v.is_none()) {
        Some(cid) => {
            let text: String = cid.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "community_id must be a str, not {}",
                    type_name(cid)
                ))
            })?;
            if [sip, spt, dip, dpt, proto].into_iter().any(given) {
                return Err(to_py_err(
                    py,
                    &Error::invalid(
                        "community-id",
                        text,
                        "cannot be combined with sip, spt, dip, dpt or proto",
                    ),
                ));
            }
            FlowSpec::parse_community_id(&text).py(py)?
        }
        None => {
            let t = TupleText::new(method, sip, spt, dip, dpt, proto)?;
            t.spec(t.proto.as_deref()).py(py)?
        }
    };
    Ok(Query::new(flow, window))
}

fn path_arg(field: &str, v: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    v.extract::<PathBuf>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{field} must be a str or os.PathLike, not {}",
            type_name(v)
        ))
    })
}

fn path_str(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// Packet

/// One matched packet, owning its bytes.
///
/// Attributes: ``ts`` (epoch seconds, float), ``ts_ns`` (epoch nanoseconds, int, exact),
/// ``datetime`` (timezone-aware UTC ``datetime``, microsecond precision), ``data`` (the captured
/// bytes, unchanged), ``orig_len`` (length on the wire), ``linktype`` (the capture's link type),
/// ``sensor`` (sensor name of the capture file) and ``file`` (path of the capture file).
#[pyclass(module = "capme", frozen)]
struct Packet {
    ts_ns: i64,
    data: Py<PyBytes>,
    orig_len: u32,
    linktype: u32,
    sensor: String,
    file: String,
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

    /// The captured bytes, unchanged (``len(data)`` is the captured length).
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
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

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<capme.Packet ts={} len={} orig_len={} sensor={:?}>",
            Timestamp(self.ts_ns),
            self.data.bind(py).as_bytes().len(),
            self.orig_len,
            self.sensor
        )
    }
}

fn make_packet(py: Python<'_>, p: CorePacket) -> PyResult<Py<Packet>> {
    Py::new(
        py,
        Packet {
            ts_ns: p.ts.as_nanos(),
            data: PyBytes::new(py, &p.data).unbind(),
            orig_len: p.orig_len,
            linktype: p.iface.linktype,
            sensor: p.sensor.to_string(),
            file: path_str(&p.file),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Search iterator

struct IterState {
    search: Option<Search>,
    running: bool,
    buf: VecDeque<Py<Packet>>,
    pending_err: Option<Error>,
    files_scanned: u64,
    bytes_read: u64,
    warnings: Vec<String>,
}

/// The packets of one search, in timestamp order, read lazily in batches.
///
/// Creating it (``Store.search``) validates the arguments and lists the store's files; the
/// capture files are read only as the iterator is consumed, in batches of up to 256 packets or
/// 1 MiB with the GIL released. Ctrl-C during a batch raises ``KeyboardInterrupt`` and ends the
/// search. ``close()`` stops it early.
#[pyclass(module = "capme", name = "SearchIterator")]
struct SearchIter {
    state: Mutex<IterState>,
    cancel: Arc<AtomicBool>,
}

impl Drop for SearchIter {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

type Batch = (Search, Vec<CorePacket>, Option<Error>, bool);

fn read_batch(mut search: Search) -> Batch {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while out.len() < BATCH_PACKETS && bytes < BATCH_BYTES {
        match search.next() {
            Some(Ok(p)) => {
                bytes += p.data.len();
                out.push(p);
            }
            Some(Err(e)) => return (search, out, Some(e), true),
            None => return (search, out, None, true),
        }
    }
    (search, out, None, false)
}

#[pymethods]
impl SearchIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<Packet>>> {
        let search = {
            let mut st = self.lock();
            if let Some(p) = st.buf.pop_front() {
                return Ok(Some(p));
            }
            if let Some(e) = st.pending_err.take() {
                return Err(to_py_err(py, &e));
            }
            if st.running {
                return Err(PyRuntimeError::new_err(
                    "capme search iterator already executing",
                ));
            }
            match st.search.take() {
                Some(s) => {
                    st.running = true;
                    s
                }
                None => return Ok(None),
            }
        };
        let r = run_interruptible(py, &self.cancel, move || read_batch(search));
        let mut st = self.lock();
        st.running = false;
        // Interrupted: the search was cancelled and is dropped; the iterator ends.
        let (search, packets, err, done) = r?;
        let stats = search.stats();
        st.files_scanned = stats.files_scanned;
        st.bytes_read = stats.bytes_read;
        st.warnings = stats.warnings;
        if !done {
            st.search = Some(search);
        }
        for p in packets {
            st.buf.push_back(make_packet(py, p)?);
        }
        st.pending_err = err;
        if let Some(p) = st.buf.pop_front() {
            return Ok(Some(p));
        }
        match st.pending_err.take() {
            Some(e) => Err(to_py_err(py, &e)),
            None => Ok(None),
        }
    }

    /// Stops the search: later iteration ends at once.
    fn close(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        let mut st = self.lock();
        st.search = None;
        st.buf.clear();
        st.pending_err = None;
    }

    /// Capture files read completely so far.
    #[getter]
    fn files_scanned(&self) -> u64 {
        self.lock().files_scanned
    }

    /// Bytes of capture files read so far.
    #[getter]
    fn bytes_read(&self) -> u64 {
        self.lock().bytes_read
    }

    /// Non-fatal problems met so far (corrupt records, vanished files...).
    #[getter]
    fn warning_messages(&self) -> Vec<String> {
        self.lock().warnings.clone()
    }
}

impl SearchIter {
    fn lock(&self) -> std::sync::MutexGuard<'_, IterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------------------------
// Summary

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

/// What an extraction did. The attributes are the CLI's ``--json`` fields: ``packets``,
/// ``bytes``, ``first_ts``, ``last_ts``, ``output``, ``community_id``, ``files_scanned``,
/// ``bytes_read``, ``elapsed_ms``, ``cached``, ``warnings``, ``warning_messages``,
/// ``first_ts_ns``, ``last_ts_ns`` (and any field a newer capme-core adds). ``as_dict()``
/// returns exactly the object ``capme extract --json`` prints.
#[pyclass(module = "capme", frozen)]
struct Summary {
    inner: CoreSummary,
    json: serde_json::Map<String, serde_json::Value>,
}

impl Summary {
    fn new(inner: CoreSummary) -> PyResult<Summary> {
        let json = match serde_json::to_value(&inner) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err(PyRuntimeError::new_err("summary is not an object")),
            Err(e) => return Err(PyRuntimeError::new_err(e.to_string())),
        };
        Ok(Summary { inner, json })
    }
}

#[pymethods]
impl Summary {
    /// Packets written.
    #[getter]
    fn packets(&self) -> u64 {
        self.inner.packets
    }
    /// Captured bytes of those packets.
    #[getter]
    fn bytes(&self) -> u64 {
        self.inner.bytes
    }
    /// First packet time, epoch seconds (float).
    #[getter]
    fn first_ts(&self) -> Option<f64> {
        self.inner.first_ts
    }
    /// Last packet time, epoch seconds (float).
    #[getter]
    fn last_ts(&self) -> Option<f64> {
        self.inner.last_ts
    }
    /// First packet time, integer nanoseconds (exact).
    #[getter]
    fn first_ts_ns(&self) -> Option<i64> {
        self.inner.first_ts_ns
    }
    /// Last packet time, integer nanoseconds (exact).
    #[getter]
    fn last_ts_ns(&self) -> Option<i64> {
        self.inner.last_ts_ns
    }
    /// The file written (or found in the archive), as a str.
    #[getter]
    fn output(&self) -> Option<String> {
        self.inner.output.as_deref().map(path_str)
    }
    /// Community ID (v1, seed 0, base64) of the flow found.
    #[getter]
    fn community_id(&self) -> Option<String> {
        self.inner.community_id.clone()
    }
    /// Capture files opened.
    #[getter]
    fn files_scanned(&self) -> u64 {
        self.inner.files_scanned
    }
    /// Bytes of capture files read.
    #[getter]
    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read
    }
    /// Wall time in milliseconds.
    #[getter]
    fn elapsed_ms(&self) -> u64 {
        self.inner.elapsed_ms
    }
    /// True when an existing archive was returned without scanning.
    #[getter]
    fn cached(&self) -> bool {
        self.inner.cached
    }
    /// Number of non-fatal problems.
    #[getter]
    fn warnings(&self) -> u64 {
        self.inner.warnings
    }
    /// Messages of the non-fatal problems.
    #[getter]
    fn warning_messages(&self) -> Vec<String> {
        self.inner.warning_messages.clone()
    }

    /// The summary as a dict: the same keys and values as ``capme extract --json``.
    fn as_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &serde_json::Value::Object(self.json.clone()))
    }

    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        match self.json.get(name) {
            Some(v) => json_to_py(py, v),
            None => Err(pyo3::exceptions::PyAttributeError::new_err(format!(
                "'Summary' object has no attribute '{name}'"
            ))),
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Summary>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "<capme.Summary packets={} bytes={} output={:?} cached={}>",
            self.inner.packets,
            self.inner.bytes,
            self.inner
                .output
                .as_deref()
                .map(path_str)
                .unwrap_or_default(),
            self.inner.cached
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Store

/// A capture store: one or more root directories of pcap/pcapng files (e.g. Security Onion's
/// ``/nsm/sensor_data``, laid out ``<sensor>/dailylogs/YYYY-MM-DD/snort.log.<epoch>``).
///
/// ``Store(roots, index_dir=None, *, threads=None)``: ``roots`` is one path (str or
/// ``os.PathLike``) or a sequence of paths; each must exist (else ``StoreError``).
/// ``index_dir`` is where flow indexes are kept (``capme index --index-dir``); default: each
/// root's ``.capme/``. A fresh index is used automatically; files without one are scanned.
/// ``threads`` is the number of scan threads (default:
/// the available cores; results are the same for any number).
///
/// Times (``stime``/``etime``) are accepted as an int or float epoch, a numeric string, an
/// RFC 3339 string, or a ``datetime`` (a naive ``datetime`` is taken as UTC). A value behaves as
/// its text would on the command line: an end time without a fraction (an int, ``"100"``, a
/// ``datetime`` with ``microsecond == 0``) covers its whole second; a float is an exact instant.
#[pyclass(module = "capme", frozen)]
struct Store {
    inner: CoreStore,
    roots: Vec<PathBuf>,
    index_dir: Option<PathBuf>,
}

impl Store {
    fn with_cancel(&self) -> (CoreStore, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (self.inner.clone().with_cancel(flag.clone()), flag)
    }
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (roots, index_dir=None, *, threads=None))]
    fn new(
        py: Python<'_>,
        roots: &Bound<'_, PyAny>,
        index_dir: Option<&Bound<'_, PyAny>>,
        threads: Option<usize>,
    ) -> PyResult<Store> {
        let single = roots.is_instance_of::<PyString>()
            || roots.is_instance(&py.import("os")?.getattr("PathLike")?)?;
        let roots: Vec<PathBuf> = if single {
            vec![path_arg("roots", roots)?]
        } else {
            roots
                .try_iter()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "roots must be a path or a sequence of paths, not {}",
                        type_name(roots)
                    ))
                })?
                .map(|r| path_arg("roots", &r?))
                .collect::<PyResult<_>>()?
        };
        let index_dir = match index_dir {
            Some(d) if !d.is_none() => Some(path_arg("index_dir", d)?),
            _ => None,
        };
        let mut inner = CoreStore::open(&roots).py(py)?;
        if let Some(n) = threads {
            inner = inner.with_threads(n);
        }
        if let Some(d) = &index_dir {
            inner = inner.with_index_dir(d);
        }
        Ok(Store {
            inner,
            roots,
            index_dir,
        })
    }

    /// The store's root directories, as str.
    #[getter]
    fn roots(&self) -> Vec<String> {
        self.roots.iter().map(|p| path_str(p)).collect()
    }

    /// The ``index_dir`` given to the constructor (``None``: each root's ``.capme/``).
    #[getter]
    fn index_dir(&self) -> Option<String> {
        self.index_dir.as_deref().map(path_str)
    }

    /// search(sip, spt, dip, dpt, stime, etime, proto=None, *, community_id=None)
    /// --
    ///
    /// The packets of one flow in a time window, as a lazy iterator of ``Packet`` in timestamp
    /// order (both directions of the flow). Name the flow by its 5-tuple (``proto`` None means
    /// TCP, UDP and SCTP; for ICMP ``spt``/``dpt`` are type and code; ports may be omitted for
    /// protocols without ports) or by ``community_id=`` (then give only ``stime`` and
    /// ``etime``). A packet matches when ``stime <= ts <= etime``.
    ///
    /// Invalid arguments raise ``InvalidQuery`` (or ``TypeError``) here, not at the first
    /// iteration; the capture files are read as the iterator is consumed.
    #[pyo3(signature = (sip=None, spt=None, dip=None, dpt=None, stime=None, etime=None, proto=None, *, community_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        sip: Option<&Bound<'_, PyAny>>,
        spt: Option<&Bound<'_, PyAny>>,
        dip: Option<&Bound<'_, PyAny>>,
        dpt: Option<&Bound<'_, PyAny>>,
        stime: Option<&Bound<'_, PyAny>>,
        etime: Option<&Bound<'_, PyAny>>,
        proto: Option<&Bound<'_, PyAny>>,
        community_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<SearchIter> {
        let query = build_query(
            py,
            "search",
            sip,
            spt,
            dip,
            dpt,
            stime,
            etime,
            proto,
            community_id,
        )?;
        let (store, cancel) = self.with_cancel();
        let search = run_interruptible(py, &cancel, || store.search(&query))?.py(py)?;
        Ok(SearchIter {
            state: Mutex::new(IterState {
                search: Some(search),
                running: false,
                buf: VecDeque::new(),
                pending_err: None,
                files_scanned: 0,
                bytes_read: 0,
                warnings: Vec::new(),
            }),
            cancel,
        })
    }

    /// extract(sip, spt, dip, dpt, stime, etime, proto=None, *, community_id=None, out=None, archive=None, force=False)
    /// --
    ///
    /// Extracts one flow's packets in a time window, as ``capme extract`` does, and returns a
    /// ``Summary``. Give exactly one of ``out=PATH`` (a pcap file, pcapng when the inputs differ
    /// in link type or precision; written atomically) or ``archive=DIR`` (the CapMe-like archive
    /// ``DIR/YYYY-MM-DD/<sensor>/<flow>_<window>.pcap``; an existing complete archive is returned
    /// without scanning unless ``force=True``). The flow and times are as for ``search``.
    ///
    /// Raises ``NoPackets`` when nothing matched (no file is left), ``InvalidQuery`` for bad
    /// arguments, ``StoreError`` for store and I/O errors, ``KeyboardInterrupt`` on Ctrl-C.
    #[pyo3(signature = (sip=None, spt=None, dip=None, dpt=None, stime=None, etime=None, proto=None, *, community_id=None, out=None, archive=None, force=false))]
    #[allow(clippy::too_many_arguments)]
    fn extract(
        &self,
        py: Python<'_>,
        sip: Option<&Bound<'_, PyAny>>,
        spt: Option<&Bound<'_, PyAny>>,
        dip: Option<&Bound<'_, PyAny>>,
        dpt: Option<&Bound<'_, PyAny>>,
        stime: Option<&Bound<'_, PyAny>>,
        etime: Option<&Bound<'_, PyAny>>,
        proto: Option<&Bound<'_, PyAny>>,
        community_id: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        archive: Option<&Bound<'_, PyAny>>,
        force: bool,
    ) -> PyResult<Summary> {
        let out = match out {
            Some(o) if !o.is_none() => Some(path_arg("out", o)?),
            _ => None,
        };
        let archive = match archive {
            Some(a) if !a.is_none() => Some(path_arg("archive", a)?),
            _ => None,
        };
        let query = build_query(
            py,
            "extract",
            sip,
            spt,
            dip,
            dpt,
            stime,
            etime,
            proto,
            community_id,
        )?;
        let target = match (out, archive) {
            (Some(o), None) => {
                if force {
                    return Err(PyTypeError::new_err(
                        "extract(): force=True applies only to archive=",
                    ));
                }
                Ok(o)
            }
            (None, Some(a)) => Err(a),
            _ => {
                return Err(PyTypeError::new_err(
                    "extract() needs exactly one of out= or archive=",
                ))
            }
        };
        let (store, cancel) = self.with_cancel();
        let r = run_interruptible(py, &cancel, || match &target {
            Ok(out) => store.extract_to_file(&query, out),
            Err(dir) => store.extract_to_archive(&query, dir, force),
        })?;
        Summary::new(r.py(py)?)
    }

    fn __repr__(&self) -> String {
        format!("capme.Store({:?})", self.roots())
    }
}

// ---------------------------------------------------------------------------------------------
// FlowKey and community_id

/// A canonical, bidirectional flow key: ``FlowKey(sip, spt, dip, dpt, proto)``.
///
/// Both directions give the same key (endpoints ordered by address, then port), so keys are
/// hashable and comparable and work as dict keys for grouping packets by connection. For
/// ICMP/ICMPv6, ``spt`` is the type and ``dpt`` the code, paired as in the Community ID
/// specification; ports of protocols without ports may be omitted (``None``). ``proto`` is
/// ``"tcp"``, ``"udp"``, ``"sctp"``, ``"icmp"``, ``"icmp6"`` or a number. Also
/// ``FlowKey.from_tuple((sip, spt, dip, dpt, proto))``.
#[pyclass(module = "capme", frozen)]
struct FlowKey {
    key: CoreKey,
}

fn core_key(
    sip: &Bound<'_, PyAny>,
    spt: Option<&Bound<'_, PyAny>>,
    dip: &Bound<'_, PyAny>,
    dpt: Option<&Bound<'_, PyAny>>,
    proto: &Bound<'_, PyAny>,
    method: &str,
) -> PyResult<CoreKey> {
    let py = sip.py();
    let t = TupleText::new(method, Some(sip), spt, Some(dip), dpt, Some(proto))?;
    let ptext = t.proto.clone().unwrap_or_default();
    // The same calls as `capme community-id`: the same messages.
    let p = Proto::parse("proto", &ptext).py(py)?;
    let (src, dst): (Endpoint, Endpoint) = match t.spec(Some(&ptext)).py(py)? {
        FlowSpec::Tuple { src, dst, .. } => (src, dst),
        FlowSpec::CommunityId { .. } => unreachable!("parse_tuple gives a tuple"),
    };
    Ok(CoreKey::new(p, src, dst))
}

#[pymethods]
impl FlowKey {
    #[new]
    #[pyo3(signature = (sip, spt, dip, dpt, proto))]
    fn new(
        sip: &Bound<'_, PyAny>,
        spt: Option<&Bound<'_, PyAny>>,
        dip: &Bound<'_, PyAny>,
        dpt: Option<&Bound<'_, PyAny>>,
        proto: &Bound<'_, PyAny>,
    ) -> PyResult<FlowKey> {
        Ok(FlowKey {
            key: core_key(sip, spt, dip, dpt, proto, "FlowKey")?,
        })
    }

    /// ``FlowKey.from_tuple((sip, spt, dip, dpt, proto))``: the key of a 5-tuple.
    #[classmethod]
    fn from_tuple(_cls: &Bound<'_, PyType>, t: &Bound<'_, PyAny>) -> PyResult<FlowKey> {
        let items: Vec<Bound<'_, PyAny>> = t.try_iter()?.collect::<PyResult<_>>()?;
        if items.len() != 5 {
            return Err(PyTypeError::new_err(format!(
                "FlowKey.from_tuple() expects (sip, spt, dip, dpt, proto), got {} items",
                items.len()
            )));
        }
        Ok(FlowKey {
            key: core_key(
                &items[0],
                Some(&items[1]),
                &items[2],
                Some(&items[3]),
                &items[4],
                "FlowKey.from_tuple",
            )?,
        })
    }

    /// Protocol name (``tcp``, ``udp``, ``sctp``, ``icmp``, ``icmp6``, ``udplite``, else
    /// ``proto<N>``).
    #[getter]
    fn proto(&self) -> String {
        self.key.proto().to_string()
    }

    /// IP protocol number.
    #[getter]
    fn proto_number(&self) -> u8 {
        self.key.proto().0
    }

    /// First endpoint in canonical order, ``(address, port)`` (the source for one-way ICMP).
    #[getter]
    fn first(&self) -> (String, u16) {
        let e = self.key.first();
        (e.addr.to_string(), e.port)
    }

    /// Second endpoint in canonical order, ``(address, port)``.
    #[getter]
    fn second(&self) -> (String, u16) {
        let e = self.key.second();
        (e.addr.to_string(), e.port)
    }

    /// The key as ``(first_ip, first_port, second_ip, second_port, proto)``.
    fn as_tuple(&self) -> (String, u16, String, u16, String) {
        let (a, b) = (self.key.first(), self.key.second());
        (
            a.addr.to_string(),
            a.port,
            b.addr.to_string(),
            b.port,
            self.proto(),
        )
    }

    /// The Community ID (v1) of this flow: ``1:`` and base64 (or hex when ``base64=False``).
    #[pyo3(signature = (seed=0, base64=true))]
    fn community_id(&self, py: Python<'_>, seed: i64, base64: bool) -> PyResult<String> {
        let seed = seed_arg(py, seed)?;
        let id = self.key.community_id(seed);
        Ok(if base64 { id.to_base64() } else { id.to_hex() })
    }

    fn __hash__(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.key.hash(&mut h);
        h.finish()
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp, py: Python<'_>) -> Py<PyAny> {
        match other.cast::<FlowKey>() {
            Ok(o) => {
                let r = op.matches(self.key.cmp(&o.get().key));
                PyBool::new(py, r).to_owned().into_any().unbind()
            }
            Err(_) => py.NotImplemented(),
        }
    }

    fn __str__(&self) -> String {
        self.key.to_string()
    }

    fn __repr__(&self) -> String {
        let (a, b) = (self.key.first(), self.key.second());
        let port = |p: u16| p.to_string();
        format!(
            "capme.FlowKey({:?}, {}, {:?}, {}, {:?})",
            a.addr.to_string(),
            port(a.port),
            b.addr.to_string(),
            port(b.port),
            self.proto()
        )
    }
}

fn seed_arg(py: Python<'_>, seed: i64) -> PyResult<u16> {
    u16::try_from(seed).map_err(|_| {
        to_py_err(
            py,
            &Error::invalid("seed", seed.to_string(), "expected a seed 0-65535"),
        )
    })
}

/// community_id(sip, spt, dip, dpt, proto, seed=0, base64=True)
/// --
///
/// The Community ID (v1) of a flow, as ``capme community-id`` prints it: ``1:`` and the base64
/// digest, or hex when ``base64=False``. Direction does not matter. For ICMP/ICMPv6, ``spt`` is
/// the type and ``dpt`` the code; for protocols without ports pass ``None``.
#[pyfunction]
#[pyo3(signature = (sip, spt, dip, dpt, proto, seed=0, base64=true))]
#[allow(clippy::too_many_arguments)]
fn community_id(
    py: Python<'_>,
    sip: &Bound<'_, PyAny>,
    spt: Option<&Bound<'_, PyAny>>,
    dip: &Bound<'_, PyAny>,
    dpt: Option<&Bound<'_, PyAny>>,
    proto: &Bound<'_, PyAny>,
    seed: i64,
    base64: bool,
) -> PyResult<String> {
    let key = core_key(sip, spt, dip, dpt, proto, "community_id")?;
    let id = key.community_id(seed_arg(py, seed)?);
    Ok(if base64 { id.to_base64() } else { id.to_hex() })
}

/// The compiled part of the ``capme`` package (see ``capme.__doc__``).
#[pymodule]
fn _capme(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let ex = exceptions(py)?;
    m.add("CapmeError", ex.base.bind(py))?;
    m.add("InvalidQuery", ex.invalid.bind(py))?;
    m.add("StoreError", ex.store.bind(py))?;
    m.add("NoPackets", ex.nopackets.bind(py))?;
    m.add_class::<Store>()?;
    m.add_class::<SearchIter>()?;
    m.add_class::<Packet>()?;
    m.add_class::<Summary>()?;
    m.add_class::<FlowKey>()?;
    m.add_function(wrap_pyfunction!(community_id, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

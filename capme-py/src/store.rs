//! `capme.Store`: a capture store, and its `search`, `extract` and `transcript`.
//!
//! The methods turn their arguments into a capme-core [`capme_core::Query`] (see [`crate::args`])
//! before any work (a Zeek uid is looked up, and a `whole_flow` window grown, on the worker
//! thread), so invalid arguments raise at the call, and run capme-core on a worker
//! thread with the GIL released (see [`crate::work`]).

use crate::args::{
    int_or_str_text, opt_path_arg, path_arg, path_str, type_name, QueryArgs, TupleArgs,
};
use crate::errors::{to_py_err, IntoPyResult};
use crate::search::SearchIter;
use crate::summary::Summary;
use crate::transcript::SegmentIterator;
use crate::work::run_interruptible;
use capme_core::capture::Compression;
use capme_core::store::limits::parse_count;
use capme_core::transcript::{Style, TranscriptOptions, DEFAULT_MAXTX};
use capme_core::{Error, Store as CoreStore};
use pyo3::exceptions::{PyRuntimeWarning, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

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
/// Limits (the CLI's ``--max-packets``, ``--max-bytes``, ``--max-window``): an extraction writes
/// at most ``max_packets`` packets (default 999999) and ``max_bytes`` captured bytes (default
/// 2 GiB); a result that reaches a limit stops early, is valid up to it, and its
/// ``Summary.truncated`` is True. A window longer than ``max_window`` (default 24 h; an int of
/// seconds, a str such as ``"90m"``, ``"24h"``, ``"2d"``, or a ``timedelta``) is refused with
/// ``InvalidQuery`` by ``search`` and ``extract``. Each is an int (or str of digits) >= 1;
/// anything else raises ``InvalidQuery`` naming the field (``TypeError`` for a wrong type).
///
/// ``sensors`` (a list of sensor names, the CLI's ``--sensor``) restricts every query to
/// those sensors' files; a name the store does not have raises ``InvalidQuery`` naming
/// ``sensor`` when a query runs. ``no_catalogue=True`` ignores the store catalogue that
/// ``capme index`` keeps (the CLI's ``--no-catalogue``).
///
/// Times (``stime``/``etime``) are accepted as an int or float epoch, a numeric string, an
/// RFC 3339 string, or a ``datetime`` (a naive ``datetime`` is taken as UTC). A value behaves as
/// its text would on the command line: an end time without a fraction (an int, ``"100"``, a
/// ``datetime`` with ``microsecond == 0``) covers its whole second; a float is an exact instant.
#[pyclass(module = "capme", frozen)]
pub(crate) struct Store {
    inner: CoreStore,
    roots: Vec<PathBuf>,
    index_dir: Option<PathBuf>,
}

/// Where `Store.extract` writes: `out=` or `archive=`.
enum Target {
    File(PathBuf),
    Archive(PathBuf),
}

impl Store {
    /// A copy of the store with a fresh cancel flag (set on Ctrl-C or when an iterator ends).
    fn with_cancel(&self) -> (CoreStore, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (self.inner.clone().with_cancel(flag.clone()), flag)
    }
}

/// The limits given to `Store(...)`, as the CLI's text goes to capme-core's parsers (so the
/// messages are the CLI's): an int as its digits, a str unchanged, a `timedelta` (for
/// `max_window`) as its whole seconds.
fn apply_limits(
    py: Python<'_>,
    mut store: CoreStore,
    max_packets: Option<&Bound<'_, PyAny>>,
    max_bytes: Option<&Bound<'_, PyAny>>,
    max_window: Option<&Bound<'_, PyAny>>,
) -> PyResult<CoreStore> {
    use capme_core::store::limits::{parse_count, parse_duration};
    fn given<'py>(v: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyAny>> {
        v.filter(|v| !v.is_none()).cloned()
    }
    if let Some(v) = given(max_packets) {
        let t = int_or_str_text("max_packets", &v)?;
        store = parse_count("max_packets", &t)
            .and_then(|n| store.with_max_packets(n))
            .py(py)?;
    }
    if let Some(v) = given(max_bytes) {
        let t = int_or_str_text("max_bytes", &v)?;
        store = parse_count("max_bytes", &t)
            .and_then(|n| store.with_max_bytes(n))
            .py(py)?;
    }
    if let Some(v) = given(max_window) {
        let timedelta = py.import("datetime")?.getattr("timedelta")?;
        let t = if v.is_instance(&timedelta)? {
            let secs: f64 = v.call_method0("total_seconds")?.extract()?;
            if secs.fract() == 0.0 && secs >= 0.0 {
                format!("{}", secs as u64)
            } else {
                format!("{secs}")
            }
        } else {
            int_or_str_text("max_window", &v).map_err(|_| {
                PyTypeError::new_err(format!(
                    "max_window must be an int, str or timedelta, not {}",
                    type_name(&v)
                ))
            })?
        };
        store = parse_duration("max_window", &t)
            .and_then(|d| store.with_max_window(d))
            .py(py)?;
    }
    Ok(store)
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (roots, index_dir=None, *, threads=None, max_packets=None, max_bytes=None, max_window=None, sensors=None, no_catalogue=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        roots: &Bound<'_, PyAny>,
        index_dir: Option<&Bound<'_, PyAny>>,
        threads: Option<usize>,
        max_packets: Option<&Bound<'_, PyAny>>,
        max_bytes: Option<&Bound<'_, PyAny>>,
        max_window: Option<&Bound<'_, PyAny>>,
        sensors: Option<Vec<String>>,
        no_catalogue: bool,
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
        let index_dir = opt_path_arg("index_dir", index_dir)?;
        let mut inner = CoreStore::open(&roots).py(py)?;
        if let Some(n) = threads {
            inner = inner.with_threads(n);
        }
        if let Some(d) = &index_dir {
            inner = inner.with_index_dir(d);
        }
        inner = apply_limits(py, inner, max_packets, max_bytes, max_window)?;
        // The CLI's --sensor (a name the store does not have is InvalidQuery naming `sensor`
        // at the first search) and --no-catalogue.
        if let Some(names) = sensors {
            inner = inner.with_sensors(names);
        }
        inner = inner.use_catalogue(!no_catalogue);
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

    /// search(sip, spt, dip, dpt, stime, etime, proto=None, *, community_id=None, url=None, zeek_uid=None, zeek_logs=None, pad=None, whole_flow=False, layer=None)
    /// --
    ///
    /// The packets of one flow in a time window, as a lazy iterator of ``Packet`` in timestamp
    /// order (both directions of the flow). Name the flow by its 5-tuple (``proto`` None means
    /// TCP, UDP and SCTP; for ICMP ``spt``/``dpt`` are type and code; ports may be omitted for
    /// protocols without ports) or by ``community_id=`` (then give only ``stime`` and
    /// ``etime``), by ``url=`` (a CapMe ``index.php?sip=...`` or SOC ``joblookup?ncid=...``
    /// URL: its flow and window; ``stime``/``etime`` replace the window) or by ``zeek_uid=``
    /// with ``zeek_logs=`` (the uid's ``conn.log`` record: its 5-tuple and ``[ts, ts +
    /// duration]``, padded by 2 s; no ``stime``/``etime``). A packet matches when ``stime <=
    /// ts <= etime``. ``pad`` widens the window by that many seconds on each side (default 0,
    /// 2 for a window taken from a Zeek record or a SOC URL's time); ``whole_flow=True``
    /// extends it while packets of the flow keep appearing within 60 s of its edges (as the
    /// CLI's ``--whole-flow``; a warning in ``warning_messages`` when it stops at
    /// ``max_window``). ``layer`` is the IP layer the flow is matched at, as the CLI's
    /// ``--layer``: ``"any"`` (None: the outermost or any layer inside a GRE, ERSPAN, VXLAN,
    /// GENEVE or IP-in-IP tunnel), ``"outer"`` (tunnels are not entered) or ``"inner"`` (only
    /// through a tunnel); another value raises ``InvalidQuery`` naming ``layer``.
    ///
    /// Invalid arguments raise ``InvalidQuery`` (or ``TypeError``) here, not at the first
    /// iteration; the capture files are read as the iterator is consumed.
    #[pyo3(signature = (sip=None, spt=None, dip=None, dpt=None, stime=None, etime=None, proto=None, *, community_id=None, url=None, zeek_uid=None, zeek_logs=None, pad=None, whole_flow=false, layer=None))]
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
        url: Option<&Bound<'_, PyAny>>,
        zeek_uid: Option<&Bound<'_, PyAny>>,
        zeek_logs: Option<&Bound<'_, PyAny>>,
        pad: Option<&Bound<'_, PyAny>>,
        whole_flow: bool,
        layer: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<SearchIter> {
        let input = QueryArgs {
            tuple: TupleArgs {
                sip,
                spt,
                dip,
                dpt,
                proto,
            },
            community_id,
            url,
            zeek_uid,
            zeek_logs,
            stime,
            etime,
            pad,
            whole_flow,
            layer,
            decapsulate: false,
        }
        .input("search")?;
        let (store, cancel) = self.with_cancel();
        let r = run_interruptible(py, &cancel, || {
            let (query, warning) = input.resolve(&store)?;
            Ok((store.search(&query)?, warning))
        })?;
        let (search, warning) = r.py(py)?;
        Ok(SearchIter::new(
            search,
            cancel,
            warning.into_iter().collect(),
        ))
    }

    /// extract(sip, spt, dip, dpt, stime, etime, proto=None, *, community_id=None, url=None, zeek_uid=None, zeek_logs=None, pad=None, whole_flow=False, layer=None, decapsulate=False, compress=None, out=None, archive=None, force=False)
    /// --
    ///
    /// Extracts one flow's packets in a time window, as ``capme extract`` does, and returns a
    /// ``Summary``. Give exactly one of ``out=PATH`` (a new pcap file, pcapng when the inputs
    /// differ in link type or precision or PATH ends in ``.pcapng``; written atomically; an
    /// existing regular file is replaced only with ``force=True``, never a directory, device,
    /// FIFO, socket or link, never a path inside a store root) or ``archive=DIR`` (the
    /// CapMe-like archive ``DIR/YYYY-MM-DD/<sensor>/<flow>_<window>.pcap``; an existing
    /// complete archive is returned without scanning unless ``force=True``). The flow, times,
    /// ``pad``, ``whole_flow`` and ``layer`` are as for ``search``. ``decapsulate=True`` writes
    /// each tunnel packet as its innermost frame (the CLI's ``--decapsulate``; not with
    /// ``archive=``). ``compress="zstd"|"gzip"|"lz4"`` compresses the ``out=`` file, adding
    /// the suffix (``.zst``, ``.gz``, ``.lz4``) unless it has it, as ``--compress`` does (the
    /// summary's ``output`` is the name written; not with ``archive=``); another value raises
    /// ``InvalidQuery`` naming ``compress``.
    ///
    /// Raises ``NoPackets`` when nothing matched (no file is left), ``InvalidQuery`` for bad
    /// arguments, ``StoreError`` for store and I/O errors, ``KeyboardInterrupt`` on Ctrl-C.
    #[pyo3(signature = (sip=None, spt=None, dip=None, dpt=None, stime=None, etime=None, proto=None, *, community_id=None, url=None, zeek_uid=None, zeek_logs=None, pad=None, whole_flow=false, layer=None, decapsulate=false, compress=None, out=None, archive=None, force=false))]
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
        url: Option<&Bound<'_, PyAny>>,
        zeek_uid: Option<&Bound<'_, PyAny>>,
        zeek_logs: Option<&Bound<'_, PyAny>>,
        pad: Option<&Bound<'_, PyAny>>,
        whole_flow: bool,
        layer: Option<&Bound<'_, PyAny>>,
        decapsulate: bool,
        compress: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        archive: Option<&Bound<'_, PyAny>>,
        force: bool,
    ) -> PyResult<Summary> {
        let out = opt_path_arg("out", out)?;
        let archive = opt_path_arg("archive", archive)?;
        let input = QueryArgs {
            tuple: TupleArgs {
                sip,
                spt,
                dip,
                dpt,
                proto,
            },
            community_id,
            url,
            zeek_uid,
            zeek_logs,
            stime,
            etime,
            pad,
            whole_flow,
            layer,
            decapsulate,
        }
        .input("extract")?;
        // The CLI's --compress values; not with an archive (which keeps plain pcaps).
        let compress = match compress.filter(|c| !c.is_none()) {
            None => None,
            Some(c) => {
                let name: String = c.extract().map_err(|_| {
                    PyTypeError::new_err(format!("compress must be a str, not {}", type_name(c)))
                })?;
                Some(Compression::parse("compress", &name).py(py)?)
            }
        };
        if let (Some(c), Some(_)) = (compress, &archive) {
            return Err(to_py_err(
                py,
                &Error::invalid(
                    "compress",
                    c.name(),
                    "an archive keeps plain pcap files; give out= to compress",
                ),
            ));
        }
        let target = match (out, archive) {
            (Some(file), None) => Target::File(file),
            (None, Some(dir)) => Target::Archive(dir),
            _ => {
                return Err(PyTypeError::new_err(
                    "extract() needs exactly one of out= or archive=",
                ))
            }
        };
        let (store, cancel) = self.with_cancel();
        let r = run_interruptible(py, &cancel, || {
            let (query, warning) = input.resolve(&store)?;
            let mut sum = match &target {
                Target::File(file) => match compress {
                    Some(c) => store.extract_to_compressed_file(&query, file, c, force),
                    None if force => store.extract_to_file_replacing(&query, file),
                    None => store.extract_to_file(&query, file),
                },
                Target::Archive(dir) => store.extract_to_archive(&query, dir, force),
            }?;
            // As the CLI's --json: the growing's warning after the search's.
            if let Some(w) = warning {
                sum.warning_messages.push(w);
                sum.warnings = sum.warning_messages.len() as u64;
            }
            Ok(sum)
        })?;
        Summary::new(r.py(py)?)
    }

    /// transcript(sip, spt, dip, dpt, stime, etime, proto=None, *, community_id=None, url=None, zeek_uid=None, zeek_logs=None, pad=None, whole_flow=False, layer=None, style='plain', maxtx=500000, out=None, force=False)
    /// --
    ///
    /// The transcript of one flow's payload, as ``capme transcript`` makes it: TCP reassembled
    /// per direction (holes shown as missing bytes), UDP one block per datagram, IP fragments
    /// reassembled, HTTP/1.x decoded in the text styles. The flow, times, ``pad``,
    /// ``whole_flow`` and ``layer`` are as for ``search``.
    ///
    /// ``style``: ``"plain"`` (a readable conversation) or ``"capme"`` (CapMe's
    /// ``HDR:``/``SRC:``/``DST:`` layout) return the text (``str``); ``"json"`` returns a
    /// ``SegmentIterator`` of ``Segment`` (direction, ts, ts_ns, offset, payload bytes: the
    /// raw stream, never HTTP-decoded). At most ``maxtx`` payload bytes (both directions
    /// together; default 500000, CapMe's ``maxtx``) are transcribed: the text then ends with
    /// a notice, the iterator's ``truncated`` is True. ``out=PATH`` also writes the text (for
    /// ``json``: one JSON object per line, as the CLI prints) to a new file, atomically; an
    /// existing regular file is replaced only with ``force=True``.
    ///
    /// The transcript is built with the GIL released (Ctrl-C: ``KeyboardInterrupt``). The
    /// search's warnings (and ``whole_flow`` stopping at ``max_window``) are issued as
    /// ``RuntimeWarning`` (``warnings.warn``) and, for ``json``, in the iterator's
    /// ``warning_messages``. Raises ``NoPackets`` when nothing matched (or a ``zeek_uid`` is in
    /// no log), ``InvalidQuery`` for bad arguments (a ``style`` other than capme, plain or
    /// json; ``maxtx`` < 1), ``StoreError`` for store and I/O errors.
    #[pyo3(signature = (sip=None, spt=None, dip=None, dpt=None, stime=None, etime=None, proto=None, *, community_id=None, url=None, zeek_uid=None, zeek_logs=None, pad=None, whole_flow=false, layer=None, style="plain", maxtx=DEFAULT_MAXTX as i64, out=None, force=false))]
    #[allow(clippy::too_many_arguments)]
    fn transcript(
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
        url: Option<&Bound<'_, PyAny>>,
        zeek_uid: Option<&Bound<'_, PyAny>>,
        zeek_logs: Option<&Bound<'_, PyAny>>,
        pad: Option<&Bound<'_, PyAny>>,
        whole_flow: bool,
        layer: Option<&Bound<'_, PyAny>>,
        style: &str,
        maxtx: i64,
        out: Option<&Bound<'_, PyAny>>,
        force: bool,
    ) -> PyResult<Py<PyAny>> {
        let out = opt_path_arg("out", out)?;
        let input = QueryArgs {
            tuple: TupleArgs {
                sip,
                spt,
                dip,
                dpt,
                proto,
            },
            community_id,
            url,
            zeek_uid,
            zeek_logs,
            stime,
            etime,
            pad,
            whole_flow,
            layer,
            decapsulate: false,
        }
        .input("transcript")?;
        // The CLI's parsers and messages: `invalid style "x": expected capme, plain or json`.
        let style = Style::parse("style", style).py(py)?;
        let opts = parse_count("maxtx", &maxtx.to_string())
            .and_then(|n| TranscriptOptions::new().style(style).maxtx(n))
            .py(py)?;
        let (store, cancel) = self.with_cancel();
        let r = run_interruptible(py, &cancel, || {
            let (query, warning) = input.resolve(&store)?;
            let t = match &out {
                Some(path) => store.transcript_to_file(&query, &opts, path, force)?,
                None => store.transcript(&query, &opts)?,
            };
            Ok((t, warning))
        })?;
        let (mut t, warning) = r.py(py)?;
        // The CLI prints these on stderr: here they are Python warnings.
        let mut warnings = std::mem::take(&mut t.warnings);
        warnings.extend(warning);
        let category = py.get_type::<PyRuntimeWarning>();
        for w in &warnings {
            let msg = CString::new(w.replace('\0', " ")).unwrap_or_default();
            PyErr::warn(py, &category, &msg, 1)?;
        }
        if style == Style::Json {
            Ok(Py::new(py, SegmentIterator::new(t, warnings))?.into_any())
        } else {
            Ok(PyString::new(py, &t.text).into_any().unbind())
        }
    }

    fn __repr__(&self) -> String {
        format!("capme.Store({:?})", self.roots())
    }
}

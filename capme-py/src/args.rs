//! Argument conversion: Python arguments become the text the CLI would pass to capme-core.
//!
//! Each argument is turned into the text a user would type on the command line (an int as its
//! digits, a float as its `repr`, an `ipaddress` object as its `str`, a `datetime` as RFC 3339
//! in UTC) and the texts go to capme-core's one parser, [`QuerySpec::parse`] (or
//! [`QueryText::flow`], [`tuple_community_id`]), so validation and messages are the CLI's. What stays here is only
//! what is Python's own: a value of the wrong type, or a missing argument, is a `TypeError`.

use crate::errors::{to_py_err, IntoPyResult};
use capme_core::extract::WHOLE_FLOW_STEP;
use capme_core::{
    tuple_community_id, CommunityId, Error, FlowKey, FlowSpec, Layer, Query, QuerySpec, QueryText,
    Store as CoreStore,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};
use std::path::{Path, PathBuf};

/// An optional argument: absent or `None` are both "not given".
pub(crate) type Arg<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// The name of a value's type, for `TypeError` messages.
pub(crate) fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn given<'a, 'py>(v: Arg<'a, 'py>) -> Arg<'a, 'py> {
    v.filter(|v| !v.is_none())
}

fn is_datetime(v: &Bound<'_, PyAny>) -> PyResult<bool> {
    let dt = v.py().import("datetime")?.getattr("datetime")?;
    v.is_instance(&dt)
}

/// `datetime.timezone.utc`.
pub(crate) fn utc(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
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

/// An address: a `str` unchanged, an `ipaddress.IPv4Address`/`IPv6Address` as its `str`.
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

/// A port or protocol: an `int` as its digits, a `str` unchanged.
pub(crate) fn int_or_str_text(field: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
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

fn str_text(field: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    v.extract()
        .map_err(|_| PyTypeError::new_err(format!("{field} must be a str, not {}", type_name(v))))
}

fn opt_text(
    field: &str,
    v: Arg<'_, '_>,
    f: fn(&str, &Bound<'_, PyAny>) -> PyResult<String>,
) -> PyResult<Option<String>> {
    given(v).map(|v| f(field, v)).transpose()
}

/// The five fields of a flow, as Python arguments.
#[derive(Clone, Copy)]
pub(crate) struct TupleArgs<'a, 'py> {
    pub sip: Arg<'a, 'py>,
    pub spt: Arg<'a, 'py>,
    pub dip: Arg<'a, 'py>,
    pub dpt: Arg<'a, 'py>,
    pub proto: Arg<'a, 'py>,
}

/// The five fields of a flow as the CLI's text (`None`: not given).
struct TupleText {
    sip: Option<String>,
    spt: Option<String>,
    dip: Option<String>,
    dpt: Option<String>,
    proto: Option<String>,
}

impl TupleArgs<'_, '_> {
    /// The texts of the given fields; a value of a wrong type is a `TypeError`.
    fn given_text(&self) -> PyResult<TupleText> {
        Ok(TupleText {
            sip: opt_text("sip", self.sip, ip_text)?,
            spt: opt_text("spt", self.spt, int_or_str_text)?,
            dip: opt_text("dip", self.dip, ip_text)?,
            dpt: opt_text("dpt", self.dpt, int_or_str_text)?,
            proto: opt_text("proto", self.proto, int_or_str_text)?,
        })
    }

    /// As [`TupleArgs::given_text`], and a missing address is a `TypeError` too (as a missing
    /// argument is in Python; `hint` is appended to its message).
    fn text(&self, method: &str, hint: &str) -> PyResult<TupleText> {
        let t = self.given_text()?;
        for (field, v) in [("sip", &t.sip), ("dip", &t.dip)] {
            if v.is_none() {
                return Err(PyTypeError::new_err(format!(
                    "{method}() missing required argument '{field}'{hint}"
                )));
            }
        }
        Ok(t)
    }
}

/// A query's arguments as `Store.search`/`Store.extract`/`Store.transcript` receive them:
/// one flow form (a 5-tuple, `community_id`, `url` or `zeek_uid` with `zeek_logs`), a window,
/// a `pad`, `whole_flow`, the `layer` matched and (extract only) `decapsulate`.
pub(crate) struct QueryArgs<'a, 'py> {
    pub tuple: TupleArgs<'a, 'py>,
    pub community_id: Arg<'a, 'py>,
    pub url: Arg<'a, 'py>,
    pub zeek_uid: Arg<'a, 'py>,
    pub zeek_logs: Arg<'a, 'py>,
    pub stime: Arg<'a, 'py>,
    pub etime: Arg<'a, 'py>,
    pub pad: Arg<'a, 'py>,
    pub whole_flow: bool,
    /// `"any"`, `"outer"` or `"inner"` (the CLI's `--layer`; `None` is `"any"`).
    pub layer: Arg<'a, 'py>,
    /// Tunnel packets as their innermost frame (the CLI's `--decapsulate`).
    pub decapsulate: bool,
}

/// A pad: seconds as an `int` (its digits), a `float` (its `repr`), a `str` (unchanged) or a
/// `timedelta` (its `total_seconds()`), as the CLI's `--pad` reads them.
fn pad_text(field: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{field} must be an int, float, str or timedelta, not bool"
        )));
    }
    if v.is_instance_of::<PyString>() {
        return v.extract();
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(v.str()?.to_string());
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(v.repr()?.to_string());
    }
    let timedelta = v.py().import("datetime")?.getattr("timedelta")?;
    if v.is_instance(&timedelta)? {
        return Ok(v.call_method0("total_seconds")?.repr()?.to_string());
    }
    Err(PyTypeError::new_err(format!(
        "{field} must be an int, float, str or timedelta, not {}",
        type_name(v)
    )))
}

/// A query as the CLI's text, owned (so that it can be parsed on a worker thread: a Zeek uid
/// is looked up in the conn logs, which is I/O): the fields of capme-core's [`QuerySpec`] and
/// `whole_flow`.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryInput {
    sip: Option<String>,
    spt: Option<String>,
    dip: Option<String>,
    dpt: Option<String>,
    proto: Option<String>,
    community_id: Option<String>,
    url: Option<String>,
    zeek_uid: Option<String>,
    zeek_logs: Option<PathBuf>,
    stime: Option<String>,
    etime: Option<String>,
    pad: Option<String>,
    whole_flow: bool,
    layer: Option<String>,
    decapsulate: bool,
}

impl QueryInput {
    /// The query, parsed by capme-core's one entry point [`QuerySpec::parse`] (reads Zeek logs
    /// for a `zeek_uid`: run it with the GIL released).
    pub(crate) fn parse(&self) -> capme_core::Result<Query> {
        let query = QuerySpec {
            sip: self.sip.as_deref(),
            spt: self.spt.as_deref(),
            dip: self.dip.as_deref(),
            dpt: self.dpt.as_deref(),
            proto: self.proto.as_deref(),
            community_id: self.community_id.as_deref(),
            url: self.url.as_deref(),
            zeek_uid: self.zeek_uid.as_deref(),
            zeek_logs: self.zeek_logs.as_deref(),
            stime: self.stime.as_deref(),
            etime: self.etime.as_deref(),
            pad: self.pad.as_deref(),
        }
        .parse()?;
        let query = match &self.layer {
            Some(l) => query.with_layer(Layer::parse("layer", l)?),
            None => query,
        };
        Ok(query.with_decapsulate(self.decapsulate))
    }

    /// The query as it runs on `store`: parsed, and with `whole_flow` its window grown by
    /// [`CoreStore::grow_window`] (searches: run it with the GIL released). The second value is
    /// the CLI's warning when growing stopped at the store's window limit.
    pub(crate) fn resolve(&self, store: &CoreStore) -> capme_core::Result<(Query, Option<String>)> {
        let query = self.parse()?;
        if !self.whole_flow {
            return Ok((query, None));
        }
        let grown = store.grow_window(&query, WHOLE_FLOW_STEP)?;
        let warning = grown.warning();
        Ok((grown.query, warning))
    }
}

impl QueryArgs<'_, '_> {
    /// The query's text, as the CLI would pass it to capme-core's [`QuerySpec::parse`] (call
    /// [`QueryInput::resolve`] to parse it). Python's own errors are raised here: a value of a
    /// wrong type, a missing address or time (`TypeError`). `method` names the Python method
    /// in `TypeError` messages.
    pub(crate) fn input(&self, method: &str) -> PyResult<QueryInput> {
        let community_id = opt_text("community_id", self.community_id, str_text)?;
        let url = opt_text("url", self.url, str_text)?;
        let zeek_uid = opt_text("zeek_uid", self.zeek_uid, str_text)?;
        let zeek_logs = opt_path_arg("zeek_logs", self.zeek_logs)?;
        // A URL or a Zeek record carries its own window: the times are optional (a URL's are
        // replaced by them; a Zeek uid refuses them, in capme-core's words).
        let pivot = url.is_some() || zeek_uid.is_some();
        let time = |field: &str, v: Arg<'_, '_>| -> PyResult<Option<String>> {
            match given(v) {
                Some(v) => time_text(field, v).map(Some),
                None if pivot => Ok(None),
                None => Err(PyTypeError::new_err(format!(
                    "{method}() missing required argument '{field}'"
                ))),
            }
        };
        let stime = time("stime", self.stime)?;
        let etime = time("etime", self.etime)?;
        let pad = opt_text("pad", self.pad, pad_text)?;
        let layer = opt_text("layer", self.layer, str_text)?;
        // With another flow form, tuple fields are passed on as given (the parser rejects the
        // combination, naming the field); without one, the addresses are required.
        let t = if community_id.is_some() || pivot {
            self.tuple.given_text()?
        } else {
            self.tuple
                .text(method, " (or give community_id=, url= or zeek_uid=)")?
        };
        Ok(QueryInput {
            sip: t.sip,
            spt: t.spt,
            dip: t.dip,
            dpt: t.dpt,
            proto: t.proto,
            community_id,
            url,
            zeek_uid,
            zeek_logs,
            stime,
            etime,
            pad,
            whole_flow: self.whole_flow,
            layer,
            decapsulate: self.decapsulate,
        })
    }
}

impl TupleArgs<'_, '_> {
    /// The canonical key of a 5-tuple whose protocol is required (`FlowKey(...)`), parsed by
    /// capme-core's [`QueryText::flow`]: the messages of `capme community-id`.
    pub(crate) fn flow_key(&self, py: Python<'_>, method: &str) -> PyResult<FlowKey> {
        let t = self.text(method, "")?;
        // A missing protocol is passed as empty text: capme-core's message names `proto`.
        let proto = t.proto.unwrap_or_default();
        let flow = QueryText {
            sip: t.sip.as_deref(),
            spt: t.spt.as_deref(),
            dip: t.dip.as_deref(),
            dpt: t.dpt.as_deref(),
            proto: Some(&proto),
            ..Default::default()
        }
        .flow()
        .py(py)?;
        match flow {
            FlowSpec::Tuple { keys, .. } if keys.len() == 1 => Ok(keys[0]),
            other => unreachable!("a tuple with a protocol has one key, not {other:?}"),
        }
    }

    /// The Community ID of a 5-tuple, by capme-core's [`tuple_community_id`] (as `capme
    /// community-id` computes it).
    pub(crate) fn community_id(
        &self,
        py: Python<'_>,
        method: &str,
        seed: u16,
    ) -> PyResult<CommunityId> {
        let t = self.text(method, "")?;
        tuple_community_id(
            t.sip.as_deref().unwrap_or_default(),
            t.spt.as_deref(),
            t.dip.as_deref().unwrap_or_default(),
            t.dpt.as_deref(),
            t.proto.as_deref().unwrap_or_default(),
            seed,
        )
        .py(py)
    }
}

/// A Community ID seed: 0-65535 (else `InvalidQuery`, as capme-core words it).
pub(crate) fn seed_arg(py: Python<'_>, seed: i64) -> PyResult<u16> {
    u16::try_from(seed).map_err(|_| {
        to_py_err(
            py,
            &Error::invalid("seed", seed.to_string(), "expected a seed 0-65535"),
        )
    })
}

/// A path argument: `str` or `os.PathLike`.
pub(crate) fn path_arg(field: &str, v: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    v.extract::<PathBuf>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{field} must be a str or os.PathLike, not {}",
            type_name(v)
        ))
    })
}

/// An optional path argument (`None`: not given).
pub(crate) fn opt_path_arg(field: &str, v: Arg<'_, '_>) -> PyResult<Option<PathBuf>> {
    given(v).map(|v| path_arg(field, v)).transpose()
}

/// A path as a Python `str` (lossy for non-UTF-8 names).
pub(crate) fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

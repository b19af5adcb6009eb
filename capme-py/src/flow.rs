//! `capme.FlowKey` and `capme.community_id`: a 5-tuple's canonical key and Community ID.
//!
//! Both parse their arguments with capme-core's text parser (see [`crate::args`]), as
//! `capme community-id` does, so the messages are the CLI's.

use crate::args::{seed_arg, TupleArgs};
use capme_core::FlowKey as CoreKey;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyBool, PyType};
use std::hash::{Hash, Hasher};

/// A canonical, bidirectional flow key: ``FlowKey(sip, spt, dip, dpt, proto)``.
///
/// Both directions give the same key (endpoints ordered by address, then port), so keys are
/// hashable and comparable and work as dict keys for grouping packets by connection. For
/// ICMP/ICMPv6, ``spt`` is the type and ``dpt`` the code, paired as in the Community ID
/// specification; ports of protocols without ports may be omitted (``None``). ``proto`` is
/// ``"tcp"``, ``"udp"``, ``"sctp"``, ``"icmp"``, ``"icmp6"`` or a number. Also
/// ``FlowKey.from_tuple((sip, spt, dip, dpt, proto))``.
#[pyclass(module = "capme", frozen)]
pub(crate) struct FlowKey {
    key: CoreKey,
}

#[pymethods]
impl FlowKey {
    #[new]
    #[pyo3(signature = (sip, spt, dip, dpt, proto))]
    fn new(
        py: Python<'_>,
        sip: &Bound<'_, PyAny>,
        spt: Option<&Bound<'_, PyAny>>,
        dip: &Bound<'_, PyAny>,
        dpt: Option<&Bound<'_, PyAny>>,
        proto: &Bound<'_, PyAny>,
    ) -> PyResult<FlowKey> {
        let t = TupleArgs {
            sip: Some(sip),
            spt,
            dip: Some(dip),
            dpt,
            proto: Some(proto),
        };
        Ok(FlowKey {
            key: t.flow_key(py, "FlowKey")?,
        })
    }

    /// ``FlowKey.from_tuple((sip, spt, dip, dpt, proto))``: the key of a 5-tuple.
    #[classmethod]
    fn from_tuple(cls: &Bound<'_, PyType>, t: &Bound<'_, PyAny>) -> PyResult<FlowKey> {
        let items: Vec<Bound<'_, PyAny>> = t.try_iter()?.collect::<PyResult<_>>()?;
        if items.len() != 5 {
            return Err(PyTypeError::new_err(format!(
                "FlowKey.from_tuple() expects (sip, spt, dip, dpt, proto), got {} items",
                items.len()
            )));
        }
        let args = TupleArgs {
            sip: Some(&items[0]),
            spt: Some(&items[1]),
            dip: Some(&items[2]),
            dpt: Some(&items[3]),
            proto: Some(&items[4]),
        };
        Ok(FlowKey {
            key: args.flow_key(cls.py(), "FlowKey.from_tuple")?,
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

/// community_id(sip, spt, dip, dpt, proto, seed=0, base64=True)
/// --
///
/// The Community ID (v1) of a flow, as ``capme community-id`` prints it: ``1:`` and the base64
/// digest, or hex when ``base64=False``. Direction does not matter. For ICMP/ICMPv6, ``spt`` is
/// the type and ``dpt`` the code; for protocols without ports pass ``None``.
#[pyfunction]
#[pyo3(signature = (sip, spt, dip, dpt, proto, seed=0, base64=true))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn community_id(
    py: Python<'_>,
    sip: &Bound<'_, PyAny>,
    spt: Option<&Bound<'_, PyAny>>,
    dip: &Bound<'_, PyAny>,
    dpt: Option<&Bound<'_, PyAny>>,
    proto: &Bound<'_, PyAny>,
    seed: i64,
    base64: bool,
) -> PyResult<String> {
    let t = TupleArgs {
        sip: Some(sip),
        spt,
        dip: Some(dip),
        dpt,
        proto: Some(proto),
    };
    let id = t.community_id(py, "community_id", seed_arg(py, seed)?)?;
    Ok(if base64 { id.to_base64() } else { id.to_hex() })
}

//! `capme.Segment` and `capme.SegmentIterator`: a transcript in the `json` style, as Python
//! objects (the `capme` and `plain` styles are returned as `str` by `Store.transcript`).
//!
//! The transcript is built by capme-core with the GIL released (it is bounded by `maxtx`);
//! the iterator holds its segments and makes each `Segment` (copying its payload into a
//! `bytes`) only when it is reached.

use capme_core::transcript::{Segment as CoreSegment, Transcript};
use capme_core::Timestamp;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::VecDeque;

/// One piece of one direction's stream in a transcript: a TCP segment's new bytes (after
/// reassembly and de-duplication) or a UDP datagram's payload.
///
/// Attributes: ``direction`` (``"src"``, the side that opened the connection, or ``"dst"``),
/// ``ts`` (epoch seconds, float) and ``ts_ns`` (epoch nanoseconds, int, exact) of the packet
/// that carried it, ``offset`` (of its first byte in that direction's stream: TCP counts from
/// the handshake, UDP the datagram bytes sent so far) and ``payload`` (``bytes``). These are
/// the keys of ``capme transcript --style json`` (whose ``payload`` is base64).
#[pyclass(module = "capme", frozen)]
pub(crate) struct Segment {
    direction: &'static str,
    ts_ns: i64,
    offset: u64,
    payload: Py<PyBytes>,
}

impl Segment {
    fn new_py(py: Python<'_>, s: &CoreSegment) -> PyResult<Py<Segment>> {
        Py::new(
            py,
            Segment {
                direction: s.direction.as_str(),
                ts_ns: s.ts.as_nanos(),
                offset: s.offset,
                payload: PyBytes::new(py, &s.payload).unbind(),
            },
        )
    }
}

#[pymethods]
impl Segment {
    /// ``"src"`` (the side that opened the connection) or ``"dst"``.
    #[getter]
    fn direction(&self) -> &'static str {
        self.direction
    }

    /// Timestamp of the packet that carried it, epoch seconds as a float.
    #[getter]
    fn ts(&self) -> f64 {
        Timestamp(self.ts_ns).as_secs_f64()
    }

    /// Timestamp of the packet that carried it, integer nanoseconds since the epoch (exact).
    #[getter]
    fn ts_ns(&self) -> i64 {
        self.ts_ns
    }

    /// Offset of its first byte in its direction's stream.
    #[getter]
    fn offset(&self) -> u64 {
        self.offset
    }

    /// The bytes.
    #[getter]
    fn payload(&self, py: Python<'_>) -> Py<PyBytes> {
        self.payload.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<capme.Segment direction={:?} ts={} offset={} len={}>",
            self.direction,
            Timestamp(self.ts_ns),
            self.offset,
            self.payload.bind(py).as_bytes().len()
        )
    }
}

/// The segments of a ``json`` transcript, in the order they were delivered (each direction in
/// offset order), as ``Store.transcript(..., style="json")`` returns them.
///
/// The transcript is complete when it is returned (at most ``maxtx`` payload bytes); besides
/// the segments it tells ``truncated`` (the ``maxtx`` cap was reached: the flow has more
/// payload than the segments hold), ``maxtx``, ``notes`` (what the reader should know: packets
/// of another flow left out, no handshake seen...) and ``warning_messages`` (the search's
/// non-fatal problems).
#[pyclass(module = "capme")]
pub(crate) struct SegmentIterator {
    segments: VecDeque<CoreSegment>,
    truncated: bool,
    maxtx: u64,
    notes: Vec<String>,
    warnings: Vec<String>,
}

impl SegmentIterator {
    /// The iterator over a built transcript's segments; `warnings` are the search's (and the
    /// whole-flow growing's) warnings.
    pub(crate) fn new(t: Transcript, warnings: Vec<String>) -> SegmentIterator {
        SegmentIterator {
            segments: t.segments.into(),
            truncated: t.truncated,
            maxtx: t.maxtx,
            notes: t.notes,
            warnings,
        }
    }
}

#[pymethods]
impl SegmentIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<Segment>>> {
        self.segments
            .pop_front()
            .map(|s| Segment::new_py(py, &s))
            .transpose()
    }

    /// True when the ``maxtx`` cap was reached: the flow has more payload than shown.
    #[getter]
    fn truncated(&self) -> bool {
        self.truncated
    }

    /// The cap that applied (payload bytes of both directions together).
    #[getter]
    fn maxtx(&self) -> u64 {
        self.maxtx
    }

    /// What the reader should know (packets of another flow left out, no SYN seen...).
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    /// The search's non-fatal problems (corrupt records, vanished files...).
    #[getter]
    fn warning_messages(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

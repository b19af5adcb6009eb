//! `capme.SearchIterator`: the packets of one search, read lazily in batches.
//!
//! Each `__next__` that finds its buffer empty reads one batch (up to [`BATCH_PACKETS`] packets
//! or [`BATCH_BYTES`] captured bytes) on a worker thread with the GIL released, and makes the
//! Python `Packet` objects only after re-attaching.

use crate::errors::to_py_err;
use crate::packet::Packet;
use crate::work::run_interruptible;
use capme_core::{Error, Packet as CorePacket, Search};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// At most this many packets are read per batch of a search iterator.
const BATCH_PACKETS: usize = 256;
/// At most this many captured bytes are read per batch of a search iterator.
const BATCH_BYTES: usize = 1 << 20;

struct IterState {
    search: Option<Search>,
    running: bool,
    buf: VecDeque<Py<Packet>>,
    pending_err: Option<Error>,
    files_scanned: u64,
    bytes_read: u64,
    /// Warnings from before the search (growing a `whole_flow` window), kept first.
    early_warnings: Vec<String>,
    warnings: Vec<String>,
}

/// The packets of one search, in timestamp order, read lazily in batches.
///
/// Creating it (``Store.search``) validates the arguments and lists the store's files; the
/// capture files are read only as the iterator is consumed, in batches of up to 256 packets or
/// 1 MiB with the GIL released. Ctrl-C during a batch raises ``KeyboardInterrupt`` and ends the
/// search. ``close()`` stops it early.
#[pyclass(module = "capme", name = "SearchIterator")]
pub(crate) struct SearchIter {
    state: Mutex<IterState>,
    cancel: Arc<AtomicBool>,
}

impl SearchIter {
    /// An iterator over `search`, which stops when `cancel` is set; `early_warnings` come
    /// before the search's own in `warning_messages`.
    pub(crate) fn new(
        search: Search,
        cancel: Arc<AtomicBool>,
        early_warnings: Vec<String>,
    ) -> SearchIter {
        SearchIter {
            state: Mutex::new(IterState {
                search: Some(search),
                running: false,
                buf: VecDeque::new(),
                pending_err: None,
                files_scanned: 0,
                bytes_read: 0,
                warnings: early_warnings.clone(),
                early_warnings,
            }),
            cancel,
        }
    }

    fn lock(&self) -> MutexGuard<'_, IterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SearchIter {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// A batch: the search back, its packets, the error it ended with, and whether it ended.
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
        st.warnings = st
            .early_warnings
            .iter()
            .cloned()
            .chain(stats.warnings)
            .collect();
        if !done {
            st.search = Some(search);
        }
        for p in packets {
            st.buf.push_back(Packet::new_py(py, p)?);
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

//! Detached, interruptible work: capme-core runs on a worker thread with the GIL released,
//! while the calling thread wakes in short slices to run Python's signal handlers.
//!
//! On Ctrl-C the handler raises `KeyboardInterrupt`; the search's cancel flag is then set,
//! the worker (which capme-core stops soon after the flag is set) is waited for, and the
//! `KeyboardInterrupt` is returned instead of the worker's result.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

/// How long the calling thread waits, detached, between two signal checks.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// Runs `f` on a worker thread with the GIL released. The calling thread wakes every
/// [`SIGNAL_SLICE`] to run Python's signal handlers; when one raises (Ctrl-C:
/// `KeyboardInterrupt`), `cancel` is set, the worker is waited for, and that exception is
/// returned instead of the worker's result. A panic of the worker is a `RuntimeError`.
pub(crate) fn run_interruptible<T, F>(py: Python<'_>, cancel: &AtomicBool, f: F) -> PyResult<T>
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

//! capme-core errors as Python exceptions.
//!
//! The exception classes are defined in Python, in `capme/_errors.py` (so they are ordinary,
//! documented, picklable classes that subclass `ValueError`/`OSError`); this module imports
//! them once and maps each [`ErrorKind`] to one of them with an exhaustive `match`: a new kind
//! in capme-core fails this crate's build until it is given a class here (and in `_errors.py`).

use capme_core::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The Python module that defines the exception classes.
const ERRORS_MODULE: &str = "capme._errors";

/// The exception classes of `capme._errors`.
struct Classes {
    invalid: Py<PyType>,
    store: Py<PyType>,
    nopackets: Py<PyType>,
    cancelled: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let m = py.import(ERRORS_MODULE)?;
        let get = |name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok::<_, PyErr>(Classes {
            invalid: get("InvalidQuery")?,
            store: get("StoreError")?,
            nopackets: get("NoPackets")?,
            cancelled: get("Cancelled")?,
        })
    })
}

/// Imports the exception classes: called when the module is initialised, so a broken
/// installation fails at `import capme` rather than at the first error.
pub(crate) fn init(py: Python<'_>) -> PyResult<()> {
    classes(py).map(|_| ())
}

/// The Python exception of a capme-core error: its message is `error.to_string()` (the CLI's
/// message without `capme: `), its `kind` attribute `error.kind().as_str()`, and for I/O
/// errors with an OS error number, `errno`.
pub(crate) fn to_py_err(py: Python<'_>, e: &Error) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let c = classes(py)?;
        // No default arm: a new ErrorKind must be given a class here.
        let class = match e.kind() {
            ErrorKind::InvalidQuery => &c.invalid,
            ErrorKind::Io | ErrorKind::Format | ErrorKind::Store => &c.store,
            ErrorKind::NoPackets => &c.nopackets,
            ErrorKind::Cancelled => &c.cancelled,
        };
        let value = class.bind(py).call1((e.to_string(),))?;
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

/// `result.py(py)?`: a capme-core result as a Python result.
pub(crate) trait IntoPyResult<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, &e))
    }
}

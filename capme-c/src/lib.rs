//! capme-c: the C ABI of capme.
//!
//! The header `include/capme.h` is generated from this file by cbindgen (see `cbindgen.toml`);
//! the test `tests/header.rs` fails when the checked-in header differs from what cbindgen
//! generates now (`CAPME_BLESS=1 cargo test -p capme-c --test header` rewrites it).
//!
//! Conventions (as the regex crate's C API): one `capme_` prefix; opaque handles; every fallible
//! function returns a [`capme_status`] and fills an out-parameter; the message of the last failure
//! of a thread is read with [`capme_last_error`]; every object the library allocates has exactly
//! one `_free`; no panic crosses the boundary (each export runs under `catch_unwind` and reports
//! [`capme_status::CAPME_PANIC`]); every pointer argument is null-checked
//! ([`capme_status::CAPME_NULL`]). All error messages are the `Display` text of
//! `capme_core::Error`, i.e. what the `capme` CLI prints after `capme: `.

#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]

use capme_core::extract::WHOLE_FLOW_STEP;
use capme_core::transcript::{Direction, Style, Transcript, TranscriptOptions};
use capme_core::{
    tuple_community_id, Error, ErrorKind, Layer, Packet, Query, QuerySpec, QueryText, Search,
    Store, Summary, TimeWindow, Timestamp,
};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr::null;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The result of every fallible capme function.
///
/// `CAPME_OK` is 0. `CAPME_NO_PACKETS` to `CAPME_CANCELLED` are the kinds of capme-core's errors
/// (`capme_status_kind()` names them); the CLI exits with 1 for no packets, 2 for invalid input
/// and 3 for the other four. The message of a failure is read with `capme_last_error()` on the
/// same thread.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum capme_status {
    /// Success.
    CAPME_OK = 0,
    /// The query matched no packet (an extraction then leaves no file behind).
    CAPME_NO_PACKETS = 1,
    /// Invalid input: the message names the field and the value (e.g. `invalid sip "x": ...`).
    CAPME_INVALID = 2,
    /// An I/O error on a path (the message starts with the path).
    CAPME_IO = 3,
    /// A capture file that is not a readable pcap/pcapng.
    CAPME_FORMAT = 4,
    /// A store root that does not exist, or is neither a directory nor a file.
    CAPME_STORE = 5,
    /// The search was cancelled with `capme_store_cancel()` (or `capme_store_set_cancelled()`).
    CAPME_CANCELLED = 6,
    /// A bug: a Rust panic was caught at the boundary. The handles passed in may be left in an
    /// unspecified (but memory-safe) state; free them.
    CAPME_PANIC = 7,
    /// A required pointer argument was NULL (the message names the argument).
    CAPME_NULL = 8,
    /// Not an error: `capme_search_next()` has no more packets.
    CAPME_DONE = 9,
}

/// A store: one or more store roots (directories of capture files, or capture files) and the
/// options it was opened with.
///
/// Created by `capme_store_open()` or `capme_store_open_with()`, freed by `capme_store_free()`.
/// It has no parent: it copies its roots and its options (both may be freed once it is open).
/// Searches and summaries made from it do not borrow it: it may be freed while they live (a live
/// search then reads on, and can no longer be cancelled).
///
/// Thread-safety: a store may be used by several threads at once (searches and extractions only
/// read it). `capme_store_cancel()` and `capme_store_set_cancelled()` may be called from any
/// thread while other threads search or extract with the store, but, as every other function,
/// not concurrently with or after its `capme_store_free()`.
pub struct capme_store {
    store: Store,
    cancel: Arc<AtomicBool>,
}

/// Options of a store, in the style of the regex crate's `rure_options`: scan threads, an index
/// directory, no-index, the limits (packets, bytes, window), the sensors a query reads and
/// no-catalogue. Cancelling is per store (`capme_store_cancel()`).
///
/// Created by `capme_options_new()` with the defaults, changed by the `capme_options_set_*()`
/// functions, freed by `capme_options_free()`. It has no parent, and `capme_store_open_with()`
/// copies it: it may be changed or freed afterwards without affecting stores already open.
///
/// Thread-safety: it may be moved to another thread. A setter writes to it: it must not run while
/// another thread uses the same options object. Several threads may open stores with it at
/// once while no setter runs.
pub struct capme_options {
    threads: Option<usize>,
    index_dir: Option<PathBuf>,
    no_index: bool,
    max_packets: Option<u64>,
    max_bytes: Option<u64>,
    max_window_secs: Option<u64>,
    sensors: Vec<String>,
    no_catalogue: bool,
}

/// A query: a flow (5-tuple or Community ID; from a link or a Zeek uid they are found first) and
/// an inclusive time window.
///
/// Created by one of the `capme_query_new_*()` functions, freed by `capme_query_free()`. It has
/// no parent, and searches and summaries made from it do not borrow it (it may be freed while
/// they live). Thread-safety: only `capme_query_set_layer()` and `capme_query_set_decapsulate()`
/// change it, and must not run while another call uses it; otherwise several threads may use it
/// at once.
pub struct capme_query {
    query: Query,
}

/// A running search: an iterator over the matched packets of a query, in timestamp order.
///
/// Created by `capme_search_new()`, advanced by `capme_search_next()`, freed by
/// `capme_search_free()`. It owns what it needs and does not borrow its store or query (they may
/// be freed before it); it shares the store's cancel flag. The packet views it fills are valid
/// until its next `capme_search_next()` or its free. Thread-safety: it may be moved to another
/// thread, but must not be used by two threads at once.
pub struct capme_search {
    search: Search,
    current: Option<Packet>,
    sensor: CString,
    file: CString,
    last_sensor: Option<Arc<str>>,
    last_file: Option<Arc<Path>>,
}

/// The summary of an extraction (the CLI's `--json` object).
///
/// Created by `capme_extract_to_file()` or `capme_extract_to_archive()`, freed by
/// `capme_summary_free()`. It has no parent: it is independent of the store and query it came
/// from. The strings its accessors return are owned by it and valid until it is freed.
/// Thread-safety: it is immutable; several threads may read it at once.
pub struct capme_summary {
    summary: Summary,
    json: CString,
    output: Option<CString>,
    community_id: Option<CString>,
    warnings: Vec<CString>,
    /// The kinds of `summary.encapsulated.by`, NUL-terminated, in its (sorted) order.
    encaps: Vec<(CString, u64)>,
}

/// One matched packet, filled by `capme_search_next()`.
///
/// A view: `data`, `sensor` and `file` point into the search and are valid until the next call of
/// `capme_search_next()` or `capme_search_free()` on that search. Copy what you keep.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct capme_packet {
    /// Timestamp, nanoseconds since the Unix epoch (UTC).
    pub ts_ns: i64,
    /// Captured length: the number of bytes at `data`.
    pub caplen: u32,
    /// Original length on the wire (`orig_len`, as capme-core's `Packet`, the Python binding and
    /// the Tcl packet dict name it).
    pub orig_len: u32,
    /// The captured bytes, unchanged (`caplen` bytes; NULL only when `caplen` is 0).
    pub data: *const u8,
    /// Link type (LINKTYPE_* value) of the packet's capture interface, e.g. 1 for Ethernet.
    pub linktype: u32,
    /// Sensor name of the capture file (NUL-terminated).
    pub sensor: *const c_char,
    /// Path of the capture file the packet was read from (NUL-terminated).
    pub file: *const c_char,
}

impl capme_packet {
    const EMPTY: capme_packet = capme_packet {
        ts_ns: 0,
        caplen: 0,
        orig_len: 0,
        data: std::ptr::null(),
        linktype: 0,
        sensor: std::ptr::null(),
        file: std::ptr::null(),
    };
}

// ---------------------------------------------------------------------------------------------
// Errors and the boundary guard.

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

enum Fail {
    Core(Error),
    Null(&'static str),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Core(e)
    }
}

fn status_of(e: &Error) -> capme_status {
    status_of_kind(e.kind())
}

/// The status of each error kind: exhaustive on purpose (no default arm), so that a new kind in
/// capme-core fails this build until it has a status.
fn status_of_kind(kind: ErrorKind) -> capme_status {
    match kind {
        ErrorKind::InvalidQuery => capme_status::CAPME_INVALID,
        ErrorKind::Io => capme_status::CAPME_IO,
        ErrorKind::Format => capme_status::CAPME_FORMAT,
        ErrorKind::Store => capme_status::CAPME_STORE,
        ErrorKind::NoPackets => capme_status::CAPME_NO_PACKETS,
        ErrorKind::Cancelled => capme_status::CAPME_CANCELLED,
    }
}

fn cstring_lossy(s: impl Into<Vec<u8>>) -> CString {
    let mut v: Vec<u8> = s.into();
    v.retain(|&b| b != 0);
    CString::new(v).unwrap_or_default()
}

fn set_last_error(msg: &str) {
    LAST_ERROR.with(|l| *l.borrow_mut() = cstring_lossy(msg));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("internal error (panic) in capme: {what}")
}

/// Runs `f` at the boundary: its error or panic becomes a status and the thread's last error.
fn guard(f: impl FnOnce() -> Result<capme_status, Fail>) -> capme_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => status,
        Ok(Err(Fail::Core(e))) => {
            set_last_error(&e.to_string());
            status_of(&e)
        }
        Ok(Err(Fail::Null(arg))) => {
            set_last_error(&format!("{arg} is NULL"));
            capme_status::CAPME_NULL
        }
        Err(payload) => {
            set_last_error(&panic_message(payload.as_ref()));
            capme_status::CAPME_PANIC
        }
    }
}

/// Runs an infallible accessor at the boundary: a panic gives `default`.
fn guard_value<T>(default: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(&panic_message(payload.as_ref()));
            default
        }
    }
}

/// # Safety
/// `p` is NULL or a valid NUL-terminated string that outlives `'a`.
unsafe fn opt_text<'a>(p: *const c_char, field: &'static str) -> Result<Option<&'a str>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller guarantees a valid NUL-terminated string.
    let c = unsafe { CStr::from_ptr(p) };
    match c.to_str() {
        Ok(s) => Ok(Some(s)),
        Err(_) => Err(Error::invalid(
            field,
            String::from_utf8_lossy(c.to_bytes()).into_owned(),
            "not valid UTF-8",
        )
        .into()),
    }
}

/// # Safety
/// `p` is NULL or a valid NUL-terminated string.
unsafe fn path_arg(p: *const c_char, field: &'static str) -> Result<PathBuf, Fail> {
    if p.is_null() {
        return Err(Fail::Null(field));
    }
    // SAFETY: the caller guarantees a valid NUL-terminated string.
    let c = unsafe { CStr::from_ptr(p) };
    Ok(PathBuf::from(OsStr::from_bytes(c.to_bytes())))
}

/// # Safety
/// `out` is NULL or valid for a write of `*mut T`.
unsafe fn clear_out<T>(out: *mut *mut T, name: &'static str) -> Result<(), Fail> {
    if out.is_null() {
        return Err(Fail::Null(name));
    }
    // SAFETY: non-null and valid per the caller.
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}

/// # Safety
/// `p` is NULL or points to a live `T`.
unsafe fn handle<'a, T>(p: *const T, name: &'static str) -> Result<&'a T, Fail> {
    // SAFETY: non-null pointers are valid per the caller.
    unsafe { p.as_ref() }.ok_or(Fail::Null(name))
}

// ---------------------------------------------------------------------------------------------
// Library-wide functions.

/// The message of the most recent failed capme call on the calling thread. For the statuses of
/// capme-core's errors (`CAPME_NO_PACKETS` to `CAPME_CANCELLED`) it is what the `capme` CLI
/// prints after `capme: ` (for example `invalid sip "x": not an IPv4 or IPv6 address`); for
/// CAPME_NULL it names the argument (`out is NULL`); for CAPME_PANIC it describes the bug.
///
/// Returns "" when no call has failed on this thread. The string is owned by the library and
/// valid until the next failing capme call on the same thread; never free it. Thread-safety:
/// each thread has its own last error.
#[no_mangle]
pub extern "C" fn capme_last_error() -> *const c_char {
    guard_value(c"".as_ptr(), || LAST_ERROR.with(|l| l.borrow().as_ptr()))
}

/// A short stable name for a status (a `capme_status` value): "ok", "nopackets", "invalid",
/// "io", "format", "store", "cancelled", "panic", "null", "done" (those from "nopackets" to
/// "cancelled" are capme-core's `ErrorKind` names, the Tcl `-errorcode {CAPME kind}`).
/// A static string; never free it. Unknown values give "unknown".
#[no_mangle]
pub extern "C" fn capme_status_kind(status: c_int) -> *const c_char {
    guard_value(c"unknown".as_ptr(), || {
        let s: &'static CStr = match status {
            0 => c"ok",
            1 => c"nopackets",
            2 => c"invalid",
            3 => c"io",
            4 => c"format",
            5 => c"store",
            6 => c"cancelled",
            7 => c"panic",
            8 => c"null",
            9 => c"done",
            _ => c"unknown",
        };
        s.as_ptr()
    })
}

/// The library version, e.g. "0.1.0". A static string; never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn capme_version() -> *const c_char {
    guard_value(c"".as_ptr(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// Frees a string allocated by the library (`capme_community_id()`, `capme_transcript()`). NULL is ignored. Call at
/// most once per string, and never on strings that accessors return (those are owned by their
/// object).
///
/// # Safety
/// `s` is NULL or a string returned by a capme function documented to need this call.
#[no_mangle]
pub unsafe extern "C" fn capme_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    guard_value((), || {
        // SAFETY: `s` came from `CString::into_raw` per the contract.
        drop(unsafe { CString::from_raw(s) })
    })
}

// ---------------------------------------------------------------------------------------------
// Stores.

/// New store options with the defaults: scan threads = the available cores, flow indexes read
/// from `<root>/.capme/` when fresh. Free it with `capme_options_free()` (at most once).
///
/// NULL only after an internal error (a caught panic: `capme_last_error()` says which); an
/// allocation failure aborts the process, as everywhere in the library.
#[no_mangle]
pub extern "C" fn capme_options_new() -> *mut capme_options {
    guard_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(capme_options {
            threads: None,
            index_dir: None,
            no_index: false,
            max_packets: None,
            max_bytes: None,
            max_window_secs: None,
            sensors: Vec::new(),
            no_catalogue: false,
        }))
    })
}

/// Frees store options. NULL is ignored. Call at most once per options object; stores opened
/// with it are not affected.
///
/// # Safety
/// `opts` is NULL or an object from `capme_options_new()` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn capme_options_free(opts: *mut capme_options) {
    if opts.is_null() {
        return;
    }
    guard_value((), || {
        // SAFETY: from Box::into_raw per the contract.
        drop(unsafe { Box::from_raw(opts) })
    })
}

/// # Safety
/// `p` is NULL or points to a live `T` that nobody else uses during `'a`.
unsafe fn handle_mut<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T, Fail> {
    // SAFETY: non-null pointers are valid and unaliased per the caller.
    unsafe { p.as_mut() }.ok_or(Fail::Null(name))
}

/// The body of an options setter: `set` changes the live options at `opts` (NULL is
/// CAPME_NULL), or fails leaving them as they were, under the boundary's panic guard.
///
/// # Safety
/// `opts` is NULL or live options that nobody else uses meanwhile.
unsafe fn set_option(
    opts: *mut capme_options,
    set: impl FnOnce(&mut capme_options) -> Result<(), Fail>,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let o = unsafe { handle_mut(opts, "opts") }?;
        set(o)?;
        Ok(capme_status::CAPME_OK)
    })
}

/// Scan with about `threads` threads (default: the available cores). The results are the same
/// for any number. 0 is rejected: CAPME_INVALID, message `invalid threads "0": ...`, and the
/// options are unchanged.
///
/// # Safety
/// `opts` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn capme_options_set_threads(
    opts: *mut capme_options,
    threads: usize,
) -> capme_status {
    // SAFETY: per the contract.
    unsafe {
        set_option(opts, |o| {
            if threads == 0 {
                return Err(Error::invalid(
                    "threads",
                    threads.to_string(),
                    "expected a number of scan threads >= 1",
                )
                .into());
            }
            o.threads = Some(threads);
            Ok(())
        })
    }
}

/// Read flow indexes from `dir` (mirroring each capture file's path below its root, as
/// `capme index --index-dir DIR` writes them) instead of `<root>/.capme/`, e.g. when the capture
/// directories are read-only. The path is copied (bytes as the OS takes them). An empty path is
/// CAPME_INVALID; NULL is CAPME_NULL.
///
/// # Safety
/// `opts` is NULL or live options; `dir` is NULL or a valid NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn capme_options_set_index_dir(
    opts: *mut capme_options,
    dir: *const c_char,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let (o, d) = unsafe { (handle_mut(opts, "opts")?, path_arg(dir, "dir")?) };
        if d.as_os_str().is_empty() {
            return Err(Error::invalid("index_dir", "", "expected a directory").into());
        }
        o.index_dir = Some(d);
        Ok(capme_status::CAPME_OK)
    })
}

/// `no_index` true: never read flow indexes, always scan the capture files (the CLI's
/// `--no-index`); false (the default): use an index when it is fresh.
///
/// # Safety
/// `opts` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn capme_options_set_no_index(
    opts: *mut capme_options,
    no_index: bool,
) -> capme_status {
    // SAFETY: per the contract.
    unsafe {
        set_option(opts, |o| {
            o.no_index = no_index;
            Ok(())
        })
    }
}

/// An extraction writes at most `n` packets (default 999999, as Security Onion's CapMe; the
/// CLI's `--max-packets`). A result that reaches the limit stops early, is complete and valid
/// up to it, and `capme_summary_truncated()` is true. 0 is rejected: CAPME_INVALID, message
/// `invalid max_packets "0": ...`, and the options are unchanged.
///
/// # Safety
/// `opts` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn capme_options_set_max_packets(
    opts: *mut capme_options,
    n: u64,
) -> capme_status {
    // SAFETY: per the contract.
    unsafe {
        set_option(opts, |o| {
            o.max_packets = Some(capme_core::store::limits::check_max_packets(n)?);
            Ok(())
        })
    }
}

/// An extraction writes at most `n` captured bytes (default 2147483648, 2 GiB; the CLI's
/// `--max-bytes`), as `capme_options_set_max_packets()`. 0 is rejected (CAPME_INVALID,
/// `invalid max_bytes "0": ...`, options unchanged).
///
/// # Safety
/// `opts` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn capme_options_set_max_bytes(
    opts: *mut capme_options,
    n: u64,
) -> capme_status {
    // SAFETY: per the contract.
    unsafe {
        set_option(opts, |o| {
            o.max_bytes = Some(capme_core::store::limits::check_max_bytes(n)?);
            Ok(())
        })
    }
}

/// Searches and extractions refuse a window longer than `secs` seconds with CAPME_INVALID
/// (default 86400, 24 h; the CLI's `--max-window`); the message names the window and
/// `max_window`. 0 is rejected (CAPME_INVALID, `invalid max_window ...`, options unchanged).
///
/// # Safety
/// `opts` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn capme_options_set_max_window_secs(
    opts: *mut capme_options,
    secs: u64,
) -> capme_status {
    // SAFETY: per the contract.
    unsafe {
        set_option(opts, |o| {
            capme_core::store::limits::check_max_window(std::time::Duration::from_secs(secs))?;
            o.max_window_secs = Some(secs);
            Ok(())
        })
    }
}

/// Restricts every query of the stores opened with these options to the capture files of the
/// sensors `names[0..n]` (the CLI's `--sensor NAME`, repeated; Python's `Store(sensors=...)`):
/// the sensor names that `capme_packet.sensor` reports (in the Security Onion layout the
/// directory below the root). The names are copied and replace any set before; `n` 0 clears
/// the restriction (every sensor, the default).
///
/// The names are checked when a query runs, not here: a name the store does not have makes
/// `capme_search_new()`, the extractions and the transcripts fail with CAPME_INVALID and the
/// CLI's message naming it and listing the store's sensors (`invalid sensor "x": no such
/// sensor; the store has sensor1-eth1, sensor2-eth0`). A name that is not valid UTF-8 is
/// CAPME_INVALID here (naming `sensor`); NULL `names` with `n` > 0, or a NULL name, is
/// CAPME_NULL. On failure the options are unchanged.
///
/// # Safety
/// `opts` is NULL or live options; `names` points to `n` pointers, each NULL or a valid
/// NUL-terminated string (or `names` is NULL when `n` is 0).
#[no_mangle]
pub unsafe extern "C" fn capme_options_set_sensors(
    opts: *mut capme_options,
    names: *const *const c_char,
    n: usize,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let o = unsafe { handle_mut(opts, "opts") }?;
        let mut v = Vec::with_capacity(n);
        if n > 0 {
            if names.is_null() {
                return Err(Fail::Null("names"));
            }
            // SAFETY: `names` points to `n` pointers per the contract.
            let slice = unsafe { std::slice::from_raw_parts(names, n) };
            for &p in slice {
                if p.is_null() {
                    return Err(Fail::Null("names[i]"));
                }
                // SAFETY: non-null, a valid string per the contract.
                let name = unsafe { opt_text(p, "sensor") }?.unwrap_or_default();
                v.push(name.to_owned());
            }
        }
        o.sensors = v;
        Ok(capme_status::CAPME_OK)
    })
}

/// `no_catalogue` true: ignore the store catalogue that `capme index` keeps and list every
/// directory a query walks (the CLI's `--no-catalogue`); false (the default): take unchanged
/// directories from the catalogue. The results are the same either way; a damaged catalogue
/// is otherwise reported in a summary's warnings and ignored.
///
/// # Safety
/// `opts` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn capme_options_set_no_catalogue(
    opts: *mut capme_options,
    no_catalogue: bool,
) -> capme_status {
    // SAFETY: per the contract.
    unsafe {
        set_option(opts, |o| {
            o.no_catalogue = no_catalogue;
            Ok(())
        })
    }
}

/// Opens a store over `nroots` store roots (`roots[0..nroots]`, NUL-terminated paths, bytes as
/// the OS takes them), with the defaults (`capme_store_open_with()` with NULL options).
///
/// # Safety
/// As `capme_store_open_with()`.
#[no_mangle]
pub unsafe extern "C" fn capme_store_open(
    roots: *const *const c_char,
    nroots: usize,
    out: *mut *mut capme_store,
) -> capme_status {
    // SAFETY: per the contract.
    unsafe { capme_store_open_with(roots, nroots, std::ptr::null(), out) }
}

/// Opens a store over `nroots` store roots (`roots[0..nroots]`, NUL-terminated paths, bytes as
/// the OS takes them) with `opts` (NULL: the defaults of `capme_options_new()`). A root is a
/// directory (every pcap/pcapng file below it is a capture file; Security Onion's
/// `ROOT/<sensor>/dailylogs/YYYY-MM-DD/snort.log.<epoch>` gives the sensor names) or one capture
/// file. The roots and options are copied.
///
/// On success `*out` is a new store (free it with `capme_store_free()`); on failure `*out` is
/// NULL and the status is CAPME_STORE (a root is missing, or neither a directory nor a file),
/// CAPME_INVALID (no root) or CAPME_NULL.
///
/// # Safety
/// `roots` points to `nroots` valid strings (or is NULL when `nroots` is 0); `opts` is NULL or
/// live options; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_store_open_with(
    roots: *const *const c_char,
    nroots: usize,
    opts: *const capme_options,
    out: *mut *mut capme_store,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe { clear_out(out, "out") }?;
        let mut paths = Vec::with_capacity(nroots);
        if nroots > 0 {
            if roots.is_null() {
                return Err(Fail::Null("roots"));
            }
            // SAFETY: `roots` points to `nroots` pointers per the contract.
            let slice = unsafe { std::slice::from_raw_parts(roots, nroots) };
            for &r in slice {
                // SAFETY: each is a valid string or NULL.
                paths.push(unsafe { path_arg(r, "roots[i]") }?);
            }
        }
        // SAFETY: per the contract.
        let opts = unsafe { opts.as_ref() };
        let cancel = Arc::new(AtomicBool::new(false));
        let mut store = Store::open(&paths)?.with_cancel(cancel.clone());
        if let Some(o) = opts {
            if let Some(n) = o.threads {
                store = store.with_threads(n);
            }
            if let Some(d) = &o.index_dir {
                store = store.with_index_dir(d);
            }
            store = store.use_index(!o.no_index);
            if let Some(n) = o.max_packets {
                store = store.with_max_packets(n)?;
            }
            if let Some(n) = o.max_bytes {
                store = store.with_max_bytes(n)?;
            }
            if let Some(secs) = o.max_window_secs {
                store = store.with_max_window(std::time::Duration::from_secs(secs))?;
            }
            store = store
                .with_sensors(o.sensors.iter().cloned())
                .use_catalogue(!o.no_catalogue);
        }
        let b = Box::new(capme_store { store, cancel });
        // SAFETY: checked non-null above.
        unsafe { *out = Box::into_raw(b) };
        Ok(capme_status::CAPME_OK)
    })
}

/// Cancels: searches and extractions running on this store stop with CAPME_CANCELLED soon after
/// (the flag is looked at every few thousand records read, so one that reads fewer records may
/// still complete normally), and so do the ones started later, until
/// `capme_store_set_cancelled(store, false)` clears the flag. Thread-safe: meant to be
/// called from another thread (a signal handler's thread, a UI thread) while a search runs.
///
/// # Safety
/// `store` is NULL or a live store.
#[no_mangle]
pub unsafe extern "C" fn capme_store_cancel(store: *const capme_store) -> capme_status {
    // SAFETY: per the contract.
    unsafe { capme_store_set_cancelled(store, true) }
}

/// Sets (`cancelled` true, as `capme_store_cancel()`) or clears the store's cancel flag.
/// Thread-safe as `capme_store_cancel()`.
///
/// # Safety
/// `store` is NULL or a live store.
#[no_mangle]
pub unsafe extern "C" fn capme_store_set_cancelled(
    store: *const capme_store,
    cancelled: bool,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(store, "store") }?;
        s.cancel.store(cancelled, Ordering::SeqCst);
        Ok(capme_status::CAPME_OK)
    })
}

/// The number of scan threads the store's searches use (from `capme_options_set_threads()`, or
/// the available cores). 0 when `store` is NULL.
///
/// # Safety
/// `store` is NULL or a live store.
#[no_mangle]
pub unsafe extern "C" fn capme_store_threads(store: *const capme_store) -> usize {
    // SAFETY: per the contract.
    guard_value(0, || {
        unsafe { store.as_ref() }.map_or(0, |s| s.store.threads())
    })
}

/// Frees a store. NULL is ignored. Call at most once per store.
///
/// # Safety
/// `store` is NULL or a store from `capme_store_open()` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn capme_store_free(store: *mut capme_store) {
    if store.is_null() {
        return;
    }
    guard_value((), || {
        // SAFETY: from Box::into_raw per the contract.
        drop(unsafe { Box::from_raw(store) })
    })
}

// ---------------------------------------------------------------------------------------------
// Queries.

fn window_ns(start_ns: i64, end_ns: i64) -> Result<TimeWindow, Fail> {
    Ok(TimeWindow::new(Timestamp(start_ns), Timestamp(end_ns))?)
}

/// The text fields of a query, read from C strings. `sip` and `dip` (for a 5-tuple),
/// `community_id` (for a Community ID) and the window's `stime`/`etime` (for the text window)
/// are required pointers: NULL is CAPME_NULL naming the argument, as before capme-core's
/// [`QueryText`] took over the parsing. Everything else is parsed by [`QueryText`], the
/// parser of the CLI, so that the messages are the CLI's.
///
/// # Safety
/// Every pointer is NULL or a valid NUL-terminated string that outlives `'a`.
#[allow(clippy::too_many_arguments)]
unsafe fn query_text<'a>(
    sip: *const c_char,
    spt: *const c_char,
    dip: *const c_char,
    dpt: *const c_char,
    proto: *const c_char,
    community_id: *const c_char,
    stime: *const c_char,
    etime: *const c_char,
) -> Result<QueryText<'a>, Fail> {
    // SAFETY: per the contract of the callers.
    unsafe {
        Ok(QueryText {
            sip: opt_text(sip, "sip")?,
            spt: opt_text(spt, "spt")?,
            dip: opt_text(dip, "dip")?,
            dpt: opt_text(dpt, "dpt")?,
            proto: opt_text(proto, "proto")?,
            community_id: opt_text(community_id, "community_id")?,
            stime: opt_text(stime, "stime")?.unwrap_or(""),
            etime: opt_text(etime, "etime")?.unwrap_or(""),
        })
    }
}

/// NULL checks of required arguments, before anything is parsed.
fn require(args: &[(*const c_char, &'static str)]) -> Result<(), Fail> {
    match args.iter().find(|(p, _)| p.is_null()) {
        Some((_, name)) => Err(Fail::Null(name)),
        None => Ok(()),
    }
}

fn new_query(out: *mut *mut capme_query, query: Query) -> capme_status {
    let b = Box::new(capme_query { query });
    // SAFETY: the callers checked `out` with `clear_out`.
    unsafe { *out = Box::into_raw(b) };
    capme_status::CAPME_OK
}

/// A 5-tuple query with a window given as text, exactly as the CLI's `extract` options:
/// `sip`/`dip` IPv4 or IPv6 addresses; `spt`/`dpt` ports as decimal text (for ICMP the type and
/// code; NULL only for protocols without ports); `proto` "tcp", "udp", "sctp", "icmp", "icmp6"
/// or a number, or NULL for TCP, UDP and SCTP; `stime`/`etime` epoch seconds ("1700000000"),
/// with a fraction ("1700000000.25") or RFC 3339 ("2023-11-14T22:13:20Z"), inclusive, an
/// `etime` without a fraction covering its whole second. Direction does not matter.
///
/// On success `*out` is a new query (free it with `capme_query_free()`); on failure NULL, with
/// CAPME_INVALID (the message names the field) or CAPME_NULL.
///
/// # Safety
/// Every string is NULL or valid and NUL-terminated; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_query_new_tuple(
    sip: *const c_char,
    spt: *const c_char,
    dip: *const c_char,
    dpt: *const c_char,
    proto: *const c_char,
    stime: *const c_char,
    etime: *const c_char,
    out: *mut *mut capme_query,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe {
            clear_out(out, "out")?;
            require(&[
                (sip, "sip"),
                (dip, "dip"),
                (stime, "stime"),
                (etime, "etime"),
            ])?;
            let text = query_text(sip, spt, dip, dpt, proto, std::ptr::null(), stime, etime)?;
            Ok(new_query(out, text.parse()?))
        }
    })
}

/// As `capme_query_new_tuple()`, with the window as epoch nanoseconds: a packet matches when
/// `start_ns <= ts <= end_ns` (both inclusive, exact).
///
/// # Safety
/// As `capme_query_new_tuple()`.
#[no_mangle]
pub unsafe extern "C" fn capme_query_new_tuple_ns(
    sip: *const c_char,
    spt: *const c_char,
    dip: *const c_char,
    dpt: *const c_char,
    proto: *const c_char,
    start_ns: i64,
    end_ns: i64,
    out: *mut *mut capme_query,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe {
            clear_out(out, "out")?;
            require(&[(sip, "sip"), (dip, "dip")])?;
            let text = query_text(sip, spt, dip, dpt, proto, std::ptr::null(), null(), null())?;
            let flow = text.flow()?;
            Ok(new_query(
                out,
                Query::new(flow, window_ns(start_ns, end_ns)?),
            ))
        }
    })
}

/// A Community ID query (v1, seed 0: "1:" + base64, or hex) with a window given as text (see
/// `capme_query_new_tuple()`). On success `*out` is a new query (free it with
/// `capme_query_free()`); on failure NULL.
///
/// # Safety
/// Every string is NULL or valid and NUL-terminated; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_query_new_community_id(
    community_id: *const c_char,
    stime: *const c_char,
    etime: *const c_char,
    out: *mut *mut capme_query,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe {
            clear_out(out, "out")?;
            require(&[
                (community_id, "community_id"),
                (stime, "stime"),
                (etime, "etime"),
            ])?;
            let text = query_text(
                null(),
                null(),
                null(),
                null(),
                null(),
                community_id,
                stime,
                etime,
            )?;
            Ok(new_query(out, text.parse()?))
        }
    })
}

/// As `capme_query_new_community_id()`, with the window as inclusive epoch nanoseconds.
///
/// # Safety
/// As `capme_query_new_community_id()`.
#[no_mangle]
pub unsafe extern "C" fn capme_query_new_community_id_ns(
    community_id: *const c_char,
    start_ns: i64,
    end_ns: i64,
    out: *mut *mut capme_query,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe {
            clear_out(out, "out")?;
            require(&[(community_id, "community_id")])?;
            let text = query_text(
                null(),
                null(),
                null(),
                null(),
                null(),
                community_id,
                null(),
                null(),
            )?;
            let flow = text.flow()?;
            Ok(new_query(
                out,
                Query::new(flow, window_ns(start_ns, end_ns)?),
            ))
        }
    })
}

/// The query fields `capme_query_new_fields()` knows, in `QuerySpec`'s order.
const QUERY_FIELDS: [&str; 12] = [
    "sip",
    "spt",
    "dip",
    "dpt",
    "proto",
    "community_id",
    "url",
    "zeek_uid",
    "zeek_logs",
    "stime",
    "etime",
    "pad",
];

/// Text of the query fields, indexed as [`QUERY_FIELDS`]; `zeek_logs` is kept as a path.
#[derive(Default)]
struct SpecText<'a> {
    text: [Option<&'a str>; 12],
    zeek_logs: Option<PathBuf>,
}

impl<'a> SpecText<'a> {
    /// Sets field `name` from a C string (NULL leaves it unset).
    ///
    /// # Safety
    /// `value` is NULL or a valid NUL-terminated string that outlives `self`.
    unsafe fn set(&mut self, name: &str, value: *const c_char) -> Result<(), Fail> {
        let Some(i) = QUERY_FIELDS.iter().position(|f| *f == name) else {
            return Err(Error::invalid(
                "field",
                name,
                format!(
                    "unknown query field; expected one of {}",
                    QUERY_FIELDS.join(", ")
                ),
            )
            .into());
        };
        let field = QUERY_FIELDS[i];
        let given = if field == "zeek_logs" {
            self.zeek_logs.is_some()
        } else {
            self.text[i].is_some()
        };
        if given && !value.is_null() {
            return Err(Error::invalid(field, "", "given twice").into());
        }
        if value.is_null() {
            return Ok(());
        }
        if field == "zeek_logs" {
            // SAFETY: per the contract.
            self.zeek_logs = Some(unsafe { path_arg(value, "zeek_logs") }?);
        } else {
            // SAFETY: per the contract (the string outlives `'a`).
            self.text[i] = unsafe { opt_text(value, field) }?;
        }
        Ok(())
    }

    fn parse(&self) -> Result<Query, Fail> {
        let t = &self.text;
        Ok(QuerySpec {
            sip: t[0],
            spt: t[1],
            dip: t[2],
            dpt: t[3],
            proto: t[4],
            community_id: t[5],
            url: t[6],
            zeek_uid: t[7],
            zeek_logs: self.zeek_logs.as_deref(),
            stime: t[9],
            etime: t[10],
            pad: t[11],
        }
        .parse()?)
    }
}

/// A query from any of its forms, as `capme extract`'s query options give it (capme-core's
/// `QuerySpec`, the CLI's one entry point): `n` pairs `names[i]` = `values[i]`, names among
/// "sip", "spt", "dip", "dpt", "proto" (a 5-tuple), "community_id", "url" (a CapMe
/// `index.php?sip=...` or SOC `joblookup?ncid=...` link), "zeek_uid" with "zeek_logs" (a
/// directory searched for conn logs, or one log; bytes as the OS takes them), "stime",
/// "etime" (required for a 5-tuple or a Community ID; for a URL they replace its window;
/// refused with a Zeek uid) and "pad" (seconds added to each side of the window, e.g. "5" or
/// "0.5"; default 0, or 2 for a window derived from a Zeek record or a SOC `time`). A NULL
/// value is the same as leaving the name out. Exactly one flow form is allowed.
///
/// On success `*out` is a new query (free it with `capme_query_free()`); on failure NULL and
/// CAPME_INVALID (the message names the field: an unknown name is `invalid field "x"`, a name
/// given twice `invalid sip "": given twice`, two flow forms name the second), CAPME_IO (a
/// conn log that cannot be read), CAPME_NO_PACKETS (a Zeek uid in no conn log) or CAPME_NULL.
///
/// # Safety
/// `names` and `values` point to `n` pointers each (or are NULL when `n` is 0); every name is
/// a valid NUL-terminated string, every value NULL or one; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_query_new_fields(
    names: *const *const c_char,
    values: *const *const c_char,
    n: usize,
    out: *mut *mut capme_query,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe { clear_out(out, "out") }?;
        let mut spec = SpecText::default();
        if n > 0 {
            if names.is_null() {
                return Err(Fail::Null("names"));
            }
            if values.is_null() {
                return Err(Fail::Null("values"));
            }
            // SAFETY: both point to `n` pointers per the contract.
            let (names, values) = unsafe {
                (
                    std::slice::from_raw_parts(names, n),
                    std::slice::from_raw_parts(values, n),
                )
            };
            for (&name, &value) in names.iter().zip(values) {
                if name.is_null() {
                    return Err(Fail::Null("names[i]"));
                }
                // SAFETY: a valid string per the contract.
                let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
                // SAFETY: `value` is NULL or valid, and outlives `spec` (this call).
                unsafe { spec.set(&name, value) }?;
            }
        }
        Ok(new_query(out, spec.parse()?))
    })
}

/// A query from a CapMe link (`https://host/capme/index.php?sip=..&spt=..&dip=..&dpt=..&stime=..&etime=..`,
/// optional `proto`) or a Security Onion Console link (`joblookup?ncid=<Community ID>&time=<RFC 3339>`),
/// as the CLI's `--url`. `stime`/`etime` (NULL: the link's own window) replace the link's
/// window; `pad` (NULL: the default, 0 for a link's `stime`/`etime`, 2 s around a SOC `time`)
/// widens it by that many seconds on each side. The same as `capme_query_new_fields()` with
/// "url", "stime", "etime" and "pad".
///
/// On success `*out` is a new query (free it with `capme_query_free()`); on failure NULL, with
/// CAPME_INVALID naming the field (`invalid spt "65536": ...`, `the CapMe URL gives no etime;
/// ...`) or CAPME_NULL (`url`).
///
/// # Safety
/// Every string is NULL or valid and NUL-terminated; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_query_new_url(
    url: *const c_char,
    stime: *const c_char,
    etime: *const c_char,
    pad: *const c_char,
    out: *mut *mut capme_query,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe {
            clear_out(out, "out")?;
            require(&[(url, "url")])?;
            let mut spec = SpecText::default();
            spec.set("url", url)?;
            spec.set("stime", stime)?;
            spec.set("etime", etime)?;
            spec.set("pad", pad)?;
            Ok(new_query(out, spec.parse()?))
        }
    })
}

/// A query from the uid of a Zeek connection (`CHhAvVGS1DHFjwGM9`), as the CLI's `--zeek-uid
/// UID --zeek-logs LOGS`: LOGS (bytes as the OS takes them) is a directory searched
/// recursively for `conn.log`, `conn.*.log` and their `.gz` (TSV or JSON lines), or one log
/// file; the record's 5-tuple and `[ts, ts + duration]` make the query, padded by `pad`
/// seconds on each side (NULL: 2). The same as `capme_query_new_fields()` with "zeek_uid",
/// "zeek_logs" and "pad".
///
/// On success `*out` is a new query (free it with `capme_query_free()`); on failure NULL, with
/// CAPME_NO_PACKETS (the uid is in no conn log: the message says how many files and records
/// were searched), CAPME_INVALID (a record that cannot be used, naming `zeek_uid`, the file
/// and the line; a bad `pad`), CAPME_IO or CAPME_NULL (`uid`, `logs`).
///
/// # Safety
/// Every string is NULL or valid and NUL-terminated; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_query_new_zeek_uid(
    uid: *const c_char,
    logs: *const c_char,
    pad: *const c_char,
    out: *mut *mut capme_query,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe {
            clear_out(out, "out")?;
            require(&[(uid, "uid"), (logs, "logs")])?;
            let mut spec = SpecText::default();
            spec.set("zeek_uid", uid)?;
            spec.set("zeek_logs", logs)?;
            spec.set("pad", pad)?;
            Ok(new_query(out, spec.parse()?))
        }
    })
}

/// The query's window as inclusive epoch nanoseconds: `*start_ns` and `*end_ns` set, true; false
/// (nothing written) when an argument is NULL. For a query from a link or a Zeek uid, or a
/// grown one, this is the window that will be searched.
///
/// # Safety
/// `query` is NULL or a live query; `start_ns` and `end_ns` are NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_query_window_ns(
    query: *const capme_query,
    start_ns: *mut i64,
    end_ns: *mut i64,
) -> bool {
    guard_value(false, || {
        // SAFETY: per the contract.
        let (Some(q), Some(s), Some(e)) = (
            unsafe { query.as_ref() },
            unsafe { start_ns.as_mut() },
            unsafe { end_ns.as_mut() },
        ) else {
            return false;
        };
        *s = q.query.window.start.as_nanos();
        *e = q.query.window.end.as_nanos();
        true
    })
}

/// Matches `query`'s flow at `layer` (the CLI's `--layer`): "any" (the default: the outermost
/// IP layer or any layer inside a GRE, ERSPAN, VXLAN, GENEVE or IP-in-IP tunnel), "outer"
/// (tunnels are not entered) or "inner" (only through a tunnel), in any case. Another value is
/// CAPME_INVALID (message `invalid layer "x": expected any, outer or inner`) and the query is
/// unchanged; a NULL argument is CAPME_NULL. A query grown by `capme_store_grow_window()`
/// keeps its layer.
///
/// # Safety
/// `query` is NULL or a live query no other call uses meanwhile; `layer` is NULL or a valid
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn capme_query_set_layer(
    query: *mut capme_query,
    layer: *const c_char,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let (q, l) = unsafe {
            (
                handle_mut(query, "query")?,
                opt_text(layer, "layer")?.ok_or(Fail::Null("layer"))?,
            )
        };
        q.query.layer = Layer::parse("layer", l)?;
        Ok(capme_status::CAPME_OK)
    })
}

/// `yes` true: an extraction of `query` writes each tunnel packet as its innermost frame (the
/// CLI's `--decapsulate`: the inner Ethernet frame of VXLAN, GENEVE, GRE bridging or ERSPAN,
/// link type 1, or the inner IP packet of IP in IP or GRE, raw IP 101; pcapng when link types
/// mix); other packets are written unchanged. Not with `capme_extract_to_archive()`, which
/// refuses it (CAPME_INVALID naming `decapsulate`): an archive keeps packets as captured.
/// Searches (`capme_search_new()`) and transcripts yield the packets as captured either way.
///
/// # Safety
/// `query` is NULL or a live query no other call uses meanwhile.
#[no_mangle]
pub unsafe extern "C" fn capme_query_set_decapsulate(
    query: *mut capme_query,
    yes: bool,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let q = unsafe { handle_mut(query, "query")? };
        q.query.decapsulate = yes;
        Ok(capme_status::CAPME_OK)
    })
}

/// The CLI's `--whole-flow`: a new query over `query`'s window grown while packets of the flow
/// keep appearing in `store`, i.e. the smallest window containing `query`'s such that no packet
/// of the flow lies within 60 s outside it (one search of at most 60 s per step, forward then
/// backward). It never grows past the store's window limit (`capme_options_set_max_window_secs()`);
/// `*limited` (when not NULL) tells whether it stopped there (the flow may go on beyond).
///
/// On success `*out` is a new query (free it with `capme_query_free()`); `query` is unchanged.
/// On failure `*out` is NULL: CAPME_INVALID (a window already longer than the limit), CAPME_IO,
/// CAPME_CANCELLED, CAPME_NULL. A flow without packets in the window is not an error: the
/// window stays as it is.
///
/// # Safety
/// `store` and `query` are NULL or live handles; `out` is valid for a write; `limited` is NULL
/// or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_store_grow_window(
    store: *const capme_store,
    query: *const capme_query,
    out: *mut *mut capme_query,
    limited: *mut bool,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let (s, q) = unsafe {
            clear_out(out, "out")?;
            (handle(store, "store")?, handle(query, "query")?)
        };
        let grown = s.store.grow_window(&q.query, WHOLE_FLOW_STEP)?;
        // SAFETY: NULL or valid per the contract.
        if let Some(l) = unsafe { limited.as_mut() } {
            *l = grown.limited;
        }
        Ok(new_query(out, grown.query))
    })
}

/// Frees a query. NULL is ignored. Call at most once per query.
///
/// # Safety
/// `query` is NULL or a query from `capme_query_new_*()` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn capme_query_free(query: *mut capme_query) {
    if query.is_null() {
        return;
    }
    guard_value((), || {
        // SAFETY: from Box::into_raw per the contract.
        drop(unsafe { Box::from_raw(query) })
    })
}

// ---------------------------------------------------------------------------------------------
// Searches.

/// Starts a search: the matched packets of `query` in `store`, streamed in timestamp order with
/// bounded memory. Only the store's file listing is done here; packets are read by
/// `capme_search_next()`.
///
/// On success `*out` is a new search (free it with `capme_search_free()`); on failure NULL.
///
/// # Safety
/// `store` and `query` are NULL or live handles; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_search_new(
    store: *const capme_store,
    query: *const capme_query,
    out: *mut *mut capme_search,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let (s, q) = unsafe {
            clear_out(out, "out")?;
            (handle(store, "store")?, handle(query, "query")?)
        };
        let search = s.store.search(&q.query)?;
        let b = Box::new(capme_search {
            search,
            current: None,
            sensor: CString::default(),
            file: CString::default(),
            last_sensor: None,
            last_file: None,
        });
        // SAFETY: checked by clear_out.
        unsafe { *out = Box::into_raw(b) };
        Ok(capme_status::CAPME_OK)
    })
}

/// Advances a search. Returns CAPME_OK and fills `*packet` with the next matched packet (its
/// pointers are valid until the next call on this search or its free), CAPME_DONE when there
/// are no more packets (`*packet` zeroed), or an error (CAPME_IO, CAPME_FORMAT,
/// CAPME_CANCELLED...), after which the search is finished and further calls return CAPME_DONE.
/// A search that matches nothing returns CAPME_DONE at once, not CAPME_NO_PACKETS.
///
/// # Safety
/// `search` is NULL or a live search; `packet` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_search_next(
    search: *mut capme_search,
    packet: *mut capme_packet,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { search.as_mut() }.ok_or(Fail::Null("search"))?;
        // SAFETY: per the contract.
        let out = unsafe { packet.as_mut() }.ok_or(Fail::Null("packet"))?;
        *out = capme_packet::EMPTY;
        s.current = None;
        let p = match s.search.next() {
            None => return Ok(capme_status::CAPME_DONE),
            Some(r) => r?,
        };
        if s.last_sensor
            .as_ref()
            .is_none_or(|l| !Arc::ptr_eq(l, &p.sensor))
        {
            s.sensor = cstring_lossy(p.sensor.as_bytes());
            s.last_sensor = Some(p.sensor.clone());
        }
        if s.last_file
            .as_ref()
            .is_none_or(|l| !Arc::ptr_eq(l, &p.file))
        {
            s.file = cstring_lossy(p.file.as_os_str().as_bytes());
            s.last_file = Some(p.file.clone());
        }
        let p = s.current.insert(p);
        *out = capme_packet {
            ts_ns: p.ts.as_nanos(),
            caplen: p.data.len() as u32,
            orig_len: p.orig_len,
            data: if p.data.is_empty() {
                std::ptr::null()
            } else {
                p.data.as_ptr()
            },
            linktype: p.iface.linktype,
            sensor: s.sensor.as_ptr(),
            file: s.file.as_ptr(),
        };
        Ok(capme_status::CAPME_OK)
    })
}

/// Frees a search (and the last packet's bytes). NULL is ignored. Call at most once per search.
///
/// # Safety
/// `search` is NULL or a search from `capme_search_new()` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn capme_search_free(search: *mut capme_search) {
    if search.is_null() {
        return;
    }
    guard_value((), || {
        // SAFETY: from Box::into_raw per the contract.
        drop(unsafe { Box::from_raw(search) })
    })
}

// ---------------------------------------------------------------------------------------------
// Extraction and summaries.

fn new_summary(summary: Summary) -> Box<capme_summary> {
    let json = cstring_lossy(serde_json::to_string(&summary).expect("summary serializes"));
    let output = summary
        .output
        .as_ref()
        .map(|p| cstring_lossy(p.as_os_str().as_bytes()));
    let community_id = summary.community_id.as_deref().map(cstring_lossy);
    let warnings = summary
        .warning_messages
        .iter()
        .map(|w| cstring_lossy(w.as_str()))
        .collect();
    let encaps = summary
        .encapsulated
        .by
        .iter()
        .map(|(k, n)| (cstring_lossy(k.as_str()), *n))
        .collect();
    Box::new(capme_summary {
        summary,
        json,
        output,
        community_id,
        warnings,
        encaps,
    })
}

/// Extracts the packets of `query` into a new capture file at `path` (pcap with the input's
/// link type, snaplen and precision; pcapng when the matched inputs differ or `path` ends in
/// `.pcapng`), written to a temporary name and renamed into place. When nothing matches the
/// status is CAPME_NO_PACKETS and no file is left. Anything already at `path` is left alone
/// and the status is CAPME_INVALID (see `capme_extract_to_file_replacing()`); a `path` inside
/// a store root is refused too.
///
/// On success `*out` is a new summary (free it with `capme_summary_free()`); on failure NULL.
///
/// # Safety
/// `store`, `query` are NULL or live handles; `path` is NULL or a valid string; `out` is valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_extract_to_file(
    store: *const capme_store,
    query: *const capme_query,
    path: *const c_char,
    out: *mut *mut capme_summary,
) -> capme_status {
    // SAFETY: per the contract, passed on.
    unsafe { extract_file(store, query, path, out, false) }
}

/// As `capme_extract_to_file()`, but an existing *regular* file at `path` is replaced (the
/// CLI's `--force`, what sguil's `pcap_agent` expects of its raw file). A directory, device,
/// FIFO, socket or symbolic link at `path` is never replaced (CAPME_INVALID), nor is any path
/// inside a store root.
///
/// # Safety
/// As `capme_extract_to_file()`.
#[no_mangle]
pub unsafe extern "C" fn capme_extract_to_file_replacing(
    store: *const capme_store,
    query: *const capme_query,
    path: *const c_char,
    out: *mut *mut capme_summary,
) -> capme_status {
    // SAFETY: per the contract, passed on.
    unsafe { extract_file(store, query, path, out, true) }
}

/// The body of `capme_extract_to_file()` and `capme_extract_to_file_replacing()`.
///
/// # Safety
/// As `capme_extract_to_file()`.
unsafe fn extract_file(
    store: *const capme_store,
    query: *const capme_query,
    path: *const c_char,
    out: *mut *mut capme_summary,
    replace: bool,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let (s, q, p) = unsafe {
            clear_out(out, "out")?;
            (
                handle(store, "store")?,
                handle(query, "query")?,
                path_arg(path, "path")?,
            )
        };
        let sum = if replace {
            s.store.extract_to_file_replacing(&q.query, p)?
        } else {
            s.store.extract_to_file(&q.query, p)?
        };
        // SAFETY: checked by clear_out.
        unsafe { *out = Box::into_raw(new_summary(sum)) };
        Ok(capme_status::CAPME_OK)
    })
}

/// As `capme_extract_to_file()` (or `capme_extract_to_file_replacing()` when `replace`), the
/// capture compressed in `format`, "zstd", "gzip" or "lz4" (any case; the CLI's `extract
/// --compress`), its name given the format's suffix (`.zst`, `.gz`, `.lz4`) unless `path` ends
/// in it: `flow.pcap` with "zstd" writes `flow.pcap.zst`. `capme_summary_output()` is the name
/// written. Another format is CAPME_INVALID (message `invalid compress "x": expected zstd,
/// gzip or lz4`) and nothing is written.
///
/// # Safety
/// As `capme_extract_to_file()`; `format` is NULL or a valid NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn capme_extract_to_compressed_file(
    store: *const capme_store,
    query: *const capme_query,
    path: *const c_char,
    format: *const c_char,
    replace: bool,
    out: *mut *mut capme_summary,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let (s, q, p, f) = unsafe {
            clear_out(out, "out")?;
            (
                handle(store, "store")?,
                handle(query, "query")?,
                path_arg(path, "path")?,
                opt_text(format, "compress")?.ok_or(Fail::Null("format"))?,
            )
        };
        let format = capme_core::capture::Compression::parse("compress", f)?;
        let sum = s
            .store
            .extract_to_compressed_file(&q.query, p, format, replace)?;
        // SAFETY: checked by clear_out.
        unsafe { *out = Box::into_raw(new_summary(sum)) };
        Ok(capme_status::CAPME_OK)
    })
}

/// Extracts into a CapMe-like archive under `dir`
/// (`DIR/YYYY-MM-DD/<sensor>/<flow>_<stime>-<etime>.pcap`). An existing archive of the same flow
/// and window is returned without scanning (`capme_summary_cached()` true) unless `force`, or
/// unless the window reaches past the newest packet of the store.
///
/// On success `*out` is a new summary (free it with `capme_summary_free()`); on failure NULL.
///
/// # Safety
/// As `capme_extract_to_file()`.
#[no_mangle]
pub unsafe extern "C" fn capme_extract_to_archive(
    store: *const capme_store,
    query: *const capme_query,
    dir: *const c_char,
    force: bool,
    out: *mut *mut capme_summary,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let (s, q, d) = unsafe {
            clear_out(out, "out")?;
            (
                handle(store, "store")?,
                handle(query, "query")?,
                path_arg(dir, "dir")?,
            )
        };
        let sum = s.store.extract_to_archive(&q.query, d, force)?;
        // SAFETY: checked by clear_out.
        unsafe { *out = Box::into_raw(new_summary(sum)) };
        Ok(capme_status::CAPME_OK)
    })
}

/// # Safety
/// `s` is NULL or a live summary.
unsafe fn summary_ref<'a>(s: *const capme_summary) -> Option<&'a capme_summary> {
    // SAFETY: per the contract.
    unsafe { s.as_ref() }
}

/// The summary as one JSON object, byte for byte what `capme extract --json` prints (without
/// the newline): keys `packets`, `bytes`, `first_ts`, `last_ts`, `output`, `community_id`,
/// `files_scanned`, `files_indexed`, `bytes_read`, `elapsed_ms`, `cached`, `warnings`,
/// `warning_messages`, `first_ts_ns`, `last_ts_ns`, `truncated` (as capme-core's `Summary`
/// serializes). Owned
/// by the summary; NULL when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_json(summary: *const capme_summary) -> *const c_char {
    // SAFETY: per the contract.
    guard_value(std::ptr::null(), || match unsafe { summary_ref(summary) } {
        Some(s) => s.json.as_ptr(),
        None => std::ptr::null(),
    })
}

fn summary_u64(summary: *const capme_summary, f: fn(&Summary) -> u64) -> u64 {
    // SAFETY: the exported callers pass on their contract (NULL or a live summary).
    guard_value(0, || {
        unsafe { summary_ref(summary) }.map_or(0, |s| f(&s.summary))
    })
}

/// Packets written (`packets`). 0 when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_packets(summary: *const capme_summary) -> u64 {
    summary_u64(summary, |s| s.packets)
}

/// Captured bytes of those packets (`bytes`). 0 when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_bytes(summary: *const capme_summary) -> u64 {
    summary_u64(summary, |s| s.bytes)
}

/// Capture files read by scanning (`files_scanned`). 0 when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_files_scanned(summary: *const capme_summary) -> u64 {
    summary_u64(summary, |s| s.files_scanned)
}

/// Capture files answered through their flow index instead of a scan (`files_indexed`). 0 when
/// `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_files_indexed(summary: *const capme_summary) -> u64 {
    summary_u64(summary, |s| s.files_indexed)
}

/// Bytes of capture files read (`bytes_read`). 0 when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_bytes_read(summary: *const capme_summary) -> u64 {
    summary_u64(summary, |s| s.bytes_read)
}

/// Wall time in milliseconds (`elapsed_ms`). 0 when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_elapsed_ms(summary: *const capme_summary) -> u64 {
    summary_u64(summary, |s| s.elapsed_ms)
}

/// Timestamp of the first packet in epoch nanoseconds (`first_ts_ns`): true and `*out` set when
/// the summary has one; false otherwise (or when an argument is NULL).
///
/// # Safety
/// `summary` is NULL or a live summary; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_first_ts_ns(
    summary: *const capme_summary,
    out: *mut i64,
) -> bool {
    // SAFETY: per the contract.
    guard_value(false, || unsafe { ts_out(summary, out, |s| s.first_ts_ns) })
}

/// Timestamp of the last packet in epoch nanoseconds (`last_ts_ns`); as
/// `capme_summary_first_ts_ns()`.
///
/// # Safety
/// As `capme_summary_first_ts_ns()`.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_last_ts_ns(
    summary: *const capme_summary,
    out: *mut i64,
) -> bool {
    // SAFETY: per the contract.
    guard_value(false, || unsafe { ts_out(summary, out, |s| s.last_ts_ns) })
}

/// Timestamp of the first packet in float epoch seconds (`first_ts`, the very value of the
/// CLI's JSON): true and `*out` set when the summary has one; false otherwise (or when an
/// argument is NULL).
///
/// # Safety
/// `summary` is NULL or a live summary; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_first_ts(
    summary: *const capme_summary,
    out: *mut f64,
) -> bool {
    // SAFETY: per the contract.
    guard_value(false, || unsafe { ts_out(summary, out, |s| s.first_ts) })
}

/// Timestamp of the last packet in float epoch seconds (`last_ts`); as
/// `capme_summary_first_ts()`.
///
/// # Safety
/// As `capme_summary_first_ts()`.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_last_ts(
    summary: *const capme_summary,
    out: *mut f64,
) -> bool {
    // SAFETY: per the contract.
    guard_value(false, || unsafe { ts_out(summary, out, |s| s.last_ts) })
}

/// # Safety
/// As `capme_summary_first_ts_ns()`.
unsafe fn ts_out<T>(
    summary: *const capme_summary,
    out: *mut T,
    f: impl Fn(&Summary) -> Option<T>,
) -> bool {
    // SAFETY: per the contract.
    let (Some(s), Some(o)) = (unsafe { summary_ref(summary) }, unsafe { out.as_mut() }) else {
        return false;
    };
    match f(&s.summary) {
        Some(v) => {
            *o = v;
            true
        }
        None => false,
    }
}

/// True when an existing archive was returned without scanning (`cached`).
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_cached(summary: *const capme_summary) -> bool {
    // SAFETY: per the contract.
    guard_value(false, || {
        unsafe { summary_ref(summary) }.is_some_and(|s| s.summary.cached)
    })
}

/// True when the result stopped at a limit (`truncated`): more packets matched than the
/// store's `capme_options_set_max_packets()` / `_max_bytes()` let it write. The output is
/// complete and valid up to the limit, and a warning names the limit. False when `summary` is
/// NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_truncated(summary: *const capme_summary) -> bool {
    // SAFETY: per the contract.
    guard_value(false, || {
        unsafe { summary_ref(summary) }.is_some_and(|s| s.summary.truncated)
    })
}

/// The file written or found in the archive (`output`). Owned by the summary; NULL when absent
/// or when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_output(summary: *const capme_summary) -> *const c_char {
    // SAFETY: per the contract.
    guard_value(std::ptr::null(), || {
        unsafe { summary_ref(summary) }
            .and_then(|s| s.output.as_ref())
            .map_or(std::ptr::null(), |c| c.as_ptr())
    })
}

/// The Community ID (v1, seed 0, base64) of the flow found (`community_id`). Owned by the
/// summary; NULL when absent or when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_community_id(
    summary: *const capme_summary,
) -> *const c_char {
    // SAFETY: per the contract.
    guard_value(std::ptr::null(), || {
        unsafe { summary_ref(summary) }
            .and_then(|s| s.community_id.as_ref())
            .map_or(std::ptr::null(), |c| c.as_ptr())
    })
}

/// The number of non-fatal warnings (`warnings`); 0 when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_warning_count(summary: *const capme_summary) -> usize {
    // SAFETY: per the contract.
    guard_value(0, || {
        unsafe { summary_ref(summary) }.map_or(0, |s| s.warnings.len())
    })
}

/// Warning number `i` (0-based) of `warning_messages`. Owned by the summary; NULL when `i` is out
/// of range or `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_warning(
    summary: *const capme_summary,
    i: usize,
) -> *const c_char {
    // SAFETY: per the contract.
    guard_value(std::ptr::null(), || {
        unsafe { summary_ref(summary) }
            .and_then(|s| s.warnings.get(i))
            .map_or(std::ptr::null(), |c| c.as_ptr())
    })
}

/// How many of the packets written were tunnel packets (`encapsulated.packets` of the JSON):
/// packets with at least one inner IP layer (GRE, ERSPAN, VXLAN, GENEVE, IP in IP, PPPoE in a
/// tunnel). 0 when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_encapsulated(summary: *const capme_summary) -> u64 {
    // SAFETY: per the contract.
    guard_value(0, || {
        unsafe { summary_ref(summary) }.map_or(0, |s| s.summary.encapsulated.packets)
    })
}

/// The number of kinds of encapsulation the tunnel packets crossed (the keys of
/// `encapsulated.by` in the JSON). 0 when `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_encapsulation_count(summary: *const capme_summary) -> usize {
    // SAFETY: per the contract.
    guard_value(0, || {
        unsafe { summary_ref(summary) }.map_or(0, |s| s.encaps.len())
    })
}

/// Kind number `i` (0-based, in name order) of `encapsulated.by`: its name (`gre`, `erspan1`,
/// `erspan2`, `erspan3`, `vxlan`, `geneve`, `ipip`, `6in4`, `4in6`, `6in6`, `pppoe`), owned by
/// the summary, and in `*packets` (when not NULL) the packets that cross it. A nested packet
/// counts under each kind it crosses. NULL when `i` is out of range or `summary` is NULL.
///
/// # Safety
/// `summary` is NULL or a live summary; `packets` is NULL or points to a writable `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_encapsulation(
    summary: *const capme_summary,
    i: usize,
    packets: *mut u64,
) -> *const c_char {
    // SAFETY: per the contract.
    guard_value(std::ptr::null(), || {
        let Some((name, n)) = unsafe { summary_ref(summary) }.and_then(|s| s.encaps.get(i)) else {
            return std::ptr::null();
        };
        if !packets.is_null() {
            // SAFETY: per the contract, a writable u64.
            unsafe { *packets = *n };
        }
        name.as_ptr()
    })
}

/// Frees a summary and the strings its accessors returned. NULL is ignored. Call at most once
/// per summary.
///
/// # Safety
/// `summary` is NULL or a summary from `capme_extract_to_*()` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn capme_summary_free(summary: *mut capme_summary) {
    if summary.is_null() {
        return;
    }
    guard_value((), || {
        // SAFETY: from Box::into_raw per the contract.
        drop(unsafe { Box::from_raw(summary) })
    })
}

// ---------------------------------------------------------------------------------------------
// Transcripts.

/// A built transcript: its text and the stream segments it was made from.
///
/// Created by `capme_transcript_build()`, freed by `capme_transcript_result_free()`. It has no
/// parent: it is independent of the store and query it came from. The text and the segment
/// views its accessors return are owned by it and valid until it is freed. Thread-safety: it
/// is immutable; several threads may read it at once.
pub struct capme_transcript_result {
    transcript: Transcript,
    text: CString,
}

/// One segment of a transcript (`capme_transcript_segment()`): the new bytes of one TCP
/// segment, or one UDP datagram's payload, as the json style's lines carry them.
///
/// A view into its `capme_transcript_result`: `direction` and `payload` are valid until the
/// result is freed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct capme_segment {
    /// "src" (the side that opened the connection) or "dst" (a static string).
    pub direction: *const c_char,
    /// Timestamp of the packet that carried it, nanoseconds since the Unix epoch (UTC).
    pub ts_ns: i64,
    /// Offset of its first byte in that direction's stream (a hole the capture never filled is
    /// a jump in the offsets).
    pub offset: u64,
    /// The raw stream bytes (`len` bytes, not decoded; NULL only when `len` is 0).
    pub payload: *const u8,
    /// Number of bytes at `payload`.
    pub len: usize,
}

/// The options of a transcript from the C arguments: `style` NULL is plain, `maxtx` 0 the
/// default.
///
/// # Safety
/// `style` is NULL or a valid NUL-terminated string.
unsafe fn transcript_options(style: *const c_char, maxtx: u64) -> Result<TranscriptOptions, Fail> {
    // SAFETY: per the contract.
    let style = match unsafe { opt_text(style, "style") }? {
        None => Style::Plain,
        Some(s) => Style::parse("style", s)?,
    };
    let opts = TranscriptOptions::new().style(style);
    Ok(if maxtx == 0 { opts } else { opts.maxtx(maxtx)? })
}

/// The transcript of `query`'s flow in `store` (the CLI's `capme transcript`).
///
/// # Safety
/// As `capme_transcript()`.
unsafe fn transcript_of(
    store: *const capme_store,
    query: *const capme_query,
    style: *const c_char,
    maxtx: u64,
) -> Result<Transcript, Fail> {
    // SAFETY: per the contract.
    let (s, q, opts) = unsafe {
        (
            handle(store, "store")?,
            handle(query, "query")?,
            transcript_options(style, maxtx)?,
        )
    };
    Ok(s.store.transcript(&q.query, &opts)?)
}

/// The transcript of `query`'s flow, as `capme transcript --style STYLE --maxtx MAXTX` prints
/// it: `style` "capme" (sguil's xscript layout: `HDR:` lines, then `SRC:`/`DST:` lines),
/// "plain" (a readable conversation) or "json" (one JSON object per line and segment, keys
/// `direction`, `ts`, `offset`, `payload` in base64), NULL for "plain"; `maxtx` the most payload
/// bytes transcribed (0: the default, 500000), past which the search stops and the text styles
/// end with `[transcript truncated at maxtx = N bytes: ...]` (the json style carries only
/// segments: `capme_transcript_result_truncated()` tells). TCP is reassembled, UDP shown per
/// datagram, HTTP/1.x decoded in the text styles.
///
/// The string is NUL-terminated and contains no other NUL: payload bytes other than printable
/// ASCII, tab and newline are shown as `.` in the text styles, and the json style is base64.
///
/// On success `*out` is a new string (free it with `capme_string_free()`); on failure NULL,
/// with CAPME_NO_PACKETS (nothing matched), CAPME_INVALID (a bad `style`, naming it: `invalid
/// style "x": expected capme, plain or json`), CAPME_IO, CAPME_CANCELLED or CAPME_NULL.
///
/// # Safety
/// `store` and `query` are NULL or live handles; `style` is NULL or a valid NUL-terminated
/// string; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript(
    store: *const capme_store,
    query: *const capme_query,
    style: *const c_char,
    maxtx: u64,
    out: *mut *mut c_char,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let t = unsafe {
            clear_out(out, "out")?;
            transcript_of(store, query, style, maxtx)?
        };
        // SAFETY: checked by clear_out.
        unsafe { *out = cstring_lossy(t.text).into_raw() };
        Ok(capme_status::CAPME_OK)
    })
}

/// As `capme_transcript()`, but the result is an object: its text
/// (`capme_transcript_result_text()`), its segments (`capme_transcript_segment()`, the raw
/// bytes of each direction's stream, in any style) and its counts.
///
/// On success `*out` is a new result (free it with `capme_transcript_result_free()`); on
/// failure NULL, with the statuses of `capme_transcript()`.
///
/// # Safety
/// As `capme_transcript()`.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_build(
    store: *const capme_store,
    query: *const capme_query,
    style: *const c_char,
    maxtx: u64,
    out: *mut *mut capme_transcript_result,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        let transcript = unsafe {
            clear_out(out, "out")?;
            transcript_of(store, query, style, maxtx)?
        };
        let text = cstring_lossy(transcript.text.as_str());
        let b = Box::new(capme_transcript_result { transcript, text });
        // SAFETY: checked by clear_out.
        unsafe { *out = Box::into_raw(b) };
        Ok(capme_status::CAPME_OK)
    })
}

/// # Safety
/// `r` is NULL or a live result.
unsafe fn result_ref<'a>(r: *const capme_transcript_result) -> Option<&'a capme_transcript_result> {
    // SAFETY: per the contract.
    unsafe { r.as_ref() }
}

/// The transcript's text, as `capme_transcript()` returns it. Owned by the result; NULL when
/// `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_result_text(
    result: *const capme_transcript_result,
) -> *const c_char {
    // SAFETY: per the contract.
    guard_value(std::ptr::null(), || {
        unsafe { result_ref(result) }.map_or(std::ptr::null(), |r| r.text.as_ptr())
    })
}

/// The number of segments (`capme_transcript_segment()`); 0 when `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_segment_count(
    result: *const capme_transcript_result,
) -> usize {
    // SAFETY: per the contract.
    guard_value(0, || {
        unsafe { result_ref(result) }.map_or(0, |r| r.transcript.segments.len())
    })
}

/// Segment number `i` (0-based, in the order delivered; each direction in offset order): true
/// and `*out` filled (its pointers valid until the result is freed); false when `i` is out of
/// range or an argument is NULL.
///
/// # Safety
/// `result` is NULL or a live result; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_segment(
    result: *const capme_transcript_result,
    i: usize,
    out: *mut capme_segment,
) -> bool {
    guard_value(false, || {
        // SAFETY: per the contract.
        let (Some(r), Some(o)) = (unsafe { result_ref(result) }, unsafe { out.as_mut() }) else {
            return false;
        };
        let Some(seg) = r.transcript.segments.get(i) else {
            return false;
        };
        let direction: &'static CStr = match seg.direction {
            Direction::Src => c"src",
            Direction::Dst => c"dst",
        };
        *o = capme_segment {
            direction: direction.as_ptr(),
            ts_ns: seg.ts.as_nanos(),
            offset: seg.offset,
            payload: if seg.payload.is_empty() {
                std::ptr::null()
            } else {
                seg.payload.as_ptr()
            },
            len: seg.payload.len(),
        };
        true
    })
}

/// True when the transcript stopped at `maxtx`: it holds the first `maxtx` payload bytes and
/// the flow has more. False when `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_result_truncated(
    result: *const capme_transcript_result,
) -> bool {
    // SAFETY: per the contract.
    guard_value(false, || {
        unsafe { result_ref(result) }.is_some_and(|r| r.transcript.truncated)
    })
}

fn result_u64(result: *const capme_transcript_result, f: fn(&Transcript) -> u64) -> u64 {
    // SAFETY: the exported callers pass on their contract (NULL or a live result).
    guard_value(0, || {
        unsafe { result_ref(result) }.map_or(0, |r| f(&r.transcript))
    })
}

/// Packets the transcript consumed; 0 when `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_result_packets(
    result: *const capme_transcript_result,
) -> u64 {
    result_u64(result, |t| t.packets)
}

/// Payload bytes from the source side in the transcript; 0 when `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_result_src_bytes(
    result: *const capme_transcript_result,
) -> u64 {
    result_u64(result, |t| t.src_bytes)
}

/// Payload bytes from the destination side in the transcript; 0 when `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_result_dst_bytes(
    result: *const capme_transcript_result,
) -> u64 {
    result_u64(result, |t| t.dst_bytes)
}

/// Stream bytes the capture does not hold (the sum of the holes); 0 when `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_result_missing_bytes(
    result: *const capme_transcript_result,
) -> u64 {
    result_u64(result, |t| t.missing_bytes)
}

/// Frees a transcript result and what its accessors returned. NULL is ignored. Call at most
/// once per result.
///
/// # Safety
/// `result` is NULL or a result from `capme_transcript_build()` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn capme_transcript_result_free(result: *mut capme_transcript_result) {
    if result.is_null() {
        return;
    }
    guard_value((), || {
        // SAFETY: from Box::into_raw per the contract.
        drop(unsafe { Box::from_raw(result) })
    })
}

// ---------------------------------------------------------------------------------------------
// Community ID.

/// Computes the Community ID (v1) of a flow tuple, as `capme community-id`: `proto` is required
/// ("tcp", "udp", "sctp", "icmp", "icmp6" or a number); for ICMP `spt`/`dpt` are type and code;
/// for protocols without ports pass NULL ports. `base64` true gives "1:" + base64 (the usual
/// form), false "1:" + hex.
///
/// On success `*out` is a new string (free it with `capme_string_free()`); on failure NULL.
///
/// # Safety
/// Every string is NULL or valid and NUL-terminated; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn capme_community_id(
    sip: *const c_char,
    spt: *const c_char,
    dip: *const c_char,
    dpt: *const c_char,
    proto: *const c_char,
    seed: u16,
    base64: bool,
    out: *mut *mut c_char,
) -> capme_status {
    guard(|| {
        // SAFETY: per the contract.
        unsafe { clear_out(out, "out") }?;
        require(&[(sip, "sip"), (dip, "dip"), (proto, "proto")])?;
        // SAFETY: per the contract.
        let t = unsafe { query_text(sip, spt, dip, dpt, proto, null(), null(), null()) }?;
        let id = tuple_community_id(
            t.sip.unwrap_or_default(),
            t.spt,
            t.dip.unwrap_or_default(),
            t.dpt,
            t.proto.unwrap_or_default(),
            seed,
        )?;
        let s = if base64 { id.to_base64() } else { id.to_hex() };
        // SAFETY: checked by clear_out.
        unsafe { *out = cstring_lossy(s).into_raw() };
        Ok(capme_status::CAPME_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> String {
        // SAFETY: capme_last_error returns a valid string.
        unsafe { CStr::from_ptr(capme_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn panics_become_status() {
        let st = guard(|| panic!("boom"));
        assert_eq!(st, capme_status::CAPME_PANIC);
        assert!(last().contains("boom"), "{}", last());
        let v = guard_value(7u64, || panic!("bang {}", 1));
        assert_eq!(v, 7);
        assert!(last().contains("bang 1"), "{}", last());
    }

    #[test]
    fn null_out_is_reported() {
        // SAFETY: NULLs are allowed by the contract.
        let st = unsafe { capme_store_open(std::ptr::null(), 0, std::ptr::null_mut()) };
        assert_eq!(st, capme_status::CAPME_NULL);
        assert_eq!(last(), "out is NULL");
    }

    #[test]
    fn status_kinds_match_core() {
        for kind in ErrorKind::ALL {
            let st = status_of_kind(kind);
            // SAFETY: static strings.
            let got = unsafe { CStr::from_ptr(capme_status_kind(st as c_int)) };
            assert_eq!(got.to_str().unwrap(), kind.as_str(), "{kind:?}");
        }
        assert_eq!(status_of(&Error::Cancelled), capme_status::CAPME_CANCELLED);
    }

    /// The header's thread-safety claims, checked by the compiler.
    #[test]
    fn thread_safety_claims_hold() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<capme_store>();
        send_sync::<capme_query>();
        send_sync::<capme_summary>();
        send_sync::<capme_options>();
        send_sync::<capme_transcript_result>();
        send::<capme_search>();
    }

    #[test]
    fn options_threads_zero_is_rejected() {
        let o = capme_options_new();
        // SAFETY: a live options object, freed once.
        unsafe {
            assert_eq!(capme_options_set_threads(o, 0), capme_status::CAPME_INVALID);
            assert_eq!(
                last(),
                "invalid threads \"0\": expected a number of scan threads >= 1"
            );
            assert_eq!((*o).threads, None);
            assert_eq!(capme_options_set_threads(o, 3), capme_status::CAPME_OK);
            assert_eq!((*o).threads, Some(3));
            capme_options_free(o);
        }
    }

    #[test]
    fn options_zero_limits_are_rejected_naming_the_field() {
        let o = capme_options_new();
        // SAFETY: a live options object, freed once.
        unsafe {
            assert_eq!(
                capme_options_set_max_packets(o, 0),
                capme_status::CAPME_INVALID
            );
            assert!(
                last().starts_with("invalid max_packets \"0\""),
                "{}",
                last()
            );
            assert_eq!(
                capme_options_set_max_bytes(o, 0),
                capme_status::CAPME_INVALID
            );
            assert!(last().starts_with("invalid max_bytes \"0\""), "{}", last());
            assert_eq!(
                capme_options_set_max_window_secs(o, 0),
                capme_status::CAPME_INVALID
            );
            assert!(last().starts_with("invalid max_window"), "{}", last());
            assert_eq!((*o).max_packets, None);
            assert_eq!((*o).max_window_secs, None);
            assert_eq!(capme_options_set_max_packets(o, 5), capme_status::CAPME_OK);
            assert_eq!(
                capme_options_set_max_window_secs(o, 90),
                capme_status::CAPME_OK
            );
            assert_eq!((*o).max_packets, Some(5));
            assert_eq!((*o).max_window_secs, Some(90));
            capme_options_free(o);
        }
    }
}

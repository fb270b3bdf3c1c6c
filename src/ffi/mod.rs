//! The C ABI: a thin, checked layer over [`crate::session`]. `include/spmt.h` is generated from
//! this file by cbindgen (tests/c_header.rs) and carries the conventions at its top.
//!
//! Every export is a panic boundary ([`guard`]); every pointer is checked; sessions are named
//! by registry ids, never dereferenced, so a freed or forged handle is answered with
//! `SPMT_STATUS_INVALID_HANDLE` instead of touching memory.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use crate::session::{self, Event, EventKind, Next, Session, SessionError};
use crate::store::Outcome;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The ABI version; the .NET shim refuses a library whose version differs from its own.
pub const SPMT_ABI_VERSION: u32 = 3;

/// Status of every fallible call. Values are fixed and never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum spmt_status_t {
    /// Success; outputs were written.
    SPMT_STATUS_OK = 0,
    /// A required pointer argument (handle, string or output) was NULL.
    SPMT_STATUS_NULL_ARGUMENT = 1,
    /// The session handle is not live: already freed, or never returned by spmt_session_new.
    SPMT_STATUS_INVALID_HANDLE = 2,
    /// A string argument is not valid UTF-8.
    SPMT_STATUS_INVALID_UTF8 = 3,
    /// A JSON argument does not parse, or is not an object.
    SPMT_STATUS_INVALID_JSON = 4,
    /// A value is wrong: unknown setting or field, bad date, missing field, duplicate task...
    SPMT_STATUS_INVALID_ARGUMENT = 5,
    /// The call does not fit the session's state (start while running, wait before start,
    /// a blocking call from inside a callback...).
    SPMT_STATUS_INVALID_STATE = 6,
    /// The settings or task ask for a feature spmt does not have yet; the message names it.
    SPMT_STATUS_NOT_SUPPORTED = 7,
    /// No task with that id in this session.
    SPMT_STATUS_NOT_FOUND = 8,
    /// The timeout passed first (wait, next_event).
    SPMT_STATUS_TIMEOUT = 9,
    /// next_event: the run finished and every event has been taken.
    SPMT_STATUS_DONE = 10,
    /// The operating system refused something (runtime threads, files).
    SPMT_STATUS_IO = 11,
    /// A bug in spmt; the message says what.
    SPMT_STATUS_INTERNAL = 12,
    /// A bug in spmt that panicked; it was caught at the boundary, the process is fine.
    SPMT_STATUS_PANIC = 13,
}

use spmt_status_t::*;

/// What an event reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum spmt_event_kind_t {
    /// A message for a log (message), e.g. where the local target keeps its data: a diagnostic,
    /// or, with outcome FAILED, a problem to show the user (e.g. an internal error).
    SPMT_EVENT_LOG = 1,
    /// A task started (task_id; message "source -> target / list").
    SPMT_EVENT_TASK_STARTED = 2,
    /// Scan progress: items_done/bytes_done found so far; items_total/bytes_total once the scan
    /// is over (0 before); items_skipped by rules or unchanged since an earlier round.
    SPMT_EVENT_SCAN = 3,
    /// Packaging progress: items_done packaged of items_total to migrate.
    SPMT_EVENT_PACKAGE = 4,
    /// Upload progress: bytes_done of bytes_total.
    SPMT_EVENT_UPLOAD = 5,
    /// Import progress: items_done imported of items_total; items_failed so far.
    SPMT_EVENT_IMPORT = 6,
    /// An item's outcome (item_path, outcome, code, message) when the settings ask for
    /// PerItemEvents; otherwise a summary with item_path NULL: items_done outcomes so far,
    /// items_failed, items_skipped.
    SPMT_EVENT_ITEM = 7,
    /// A task ended: outcome MIGRATED (all fine) or FAILED (the task or some item failed);
    /// message starts with the task's Status (COMPLETED, COMPLETED_WITH_ERRORS, FAILED,
    /// STOPPED).
    SPMT_EVENT_TASK_FINISHED = 8,
    /// The run ended; always the last event of a run.
    SPMT_EVENT_SESSION_FINISHED = 9,
    /// Sign-in needs a person: `message` says what to do (the device code message, or the URL
    /// to open), `code` is `DeviceCode` or `Browser`.
    SPMT_EVENT_SIGN_IN = 10,
}

/// An item's outcome (SPMT_EVENT_ITEM), a task's (SPMT_EVENT_TASK_FINISHED), or a log line's
/// weight (SPMT_EVENT_LOG: FAILED for a problem).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum spmt_outcome_t {
    SPMT_OUTCOME_NONE = 0,
    SPMT_OUTCOME_MIGRATED = 1,
    /// Left out by a rule (hidden, extension, date, unchanged since an earlier round...).
    SPMT_OUTCOME_SKIPPED = 2,
    SPMT_OUTCOME_FAILED = 3,
    /// Removed from the target because the source no longer has it (delete propagation).
    SPMT_OUTCOME_DELETED = 4,
}

/// One event. Passed to callbacks as `const spmt_event_t *`, valid only during the call; from
/// spmt_session_next_event, owned by the caller until spmt_event_free. Strings are UTF-8,
/// NUL-terminated, NULL when absent. Never carries secrets.
#[repr(C)]
pub struct spmt_event_t {
    pub kind: spmt_event_kind_t,
    pub outcome: spmt_outcome_t,
    /// The task's id (a GUID string); NULL for session-level events.
    pub task_id: *const c_char,
    /// Source-relative path, `/`-separated (SPMT_EVENT_ITEM with PerItemEvents).
    pub item_path: *const c_char,
    /// SPMT's error code of a failed item, e.g. "0x01110010".
    pub code: *const c_char,
    pub message: *const c_char,
    pub items_done: u64,
    pub items_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub items_failed: u64,
    pub items_skipped: u64,
}

/// Opaque session handle.
pub struct spmt_session_t {
    _private: [u8; 0],
}

/// Opaque error object: a status and a message. Free with spmt_error_free.
pub struct spmt_error_t {
    status: spmt_status_t,
    message: CString,
    detail: Option<CString>,
}

/// Receives events: `user_data` as given to spmt_session_start, then the event. Called on
/// engine threads, possibly several at once. Must return quickly (enqueue and return), must not
/// call spmt_session_wait, spmt_session_next_event or spmt_session_free (they return
/// SPMT_STATUS_INVALID_STATE from there), and must not unwind (no C++ or managed exception).
pub type spmt_event_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event: *const spmt_event_t)>;

/// Releases `user_data`: called exactly once, after the last callback of the run.
pub type spmt_free_cb = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

// ---------------------------------------------------------------------------------------------
// Errors and the panic boundary

struct FfiError {
    status: spmt_status_t,
    message: String,
    /// JSON with the facts behind the message, for hosts that show them their own way.
    detail: Option<String>,
}

impl FfiError {
    fn new(status: spmt_status_t, message: impl Into<String>) -> Self {
        FfiError {
            status,
            message: message.into(),
            detail: None,
        }
    }
}

impl From<SessionError> for FfiError {
    fn from(e: SessionError) -> Self {
        let status = match &e {
            SessionError::InvalidJson(_) => SPMT_STATUS_INVALID_JSON,
            SessionError::InvalidArgument(_) => SPMT_STATUS_INVALID_ARGUMENT,
            SessionError::NotSupported(_) => SPMT_STATUS_NOT_SUPPORTED,
            SessionError::InvalidState(_) => SPMT_STATUS_INVALID_STATE,
            SessionError::NotFound(_) => SPMT_STATUS_NOT_FOUND,
            SessionError::Io(_) => SPMT_STATUS_IO,
            SessionError::Internal(_) => SPMT_STATUS_INTERNAL,
        };
        let mut f = FfiError::new(status, crate::secrets::redact(&e.to_string()));
        if let SessionError::NotSupported(u) = &e {
            f.detail = serde_json::to_string(u)
                .ok()
                .map(|d| crate::secrets::redact(&d));
        }
        f
    }
}

type FfiResult<T> = Result<T, FfiError>;

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("spmt panicked (a bug; please report it): {what}")
}

/// Lossless for text without NUL; a NUL inside becomes U+FFFD.
fn c_string(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| {
        CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_else(|_| CString::default())
    })
}

/// Runs `f` as a panic boundary; on failure writes a new error object to `*err` (when `err`
/// is not NULL) and returns its status.
fn guard(err: *mut *mut spmt_error_t, f: impl FnOnce() -> FfiResult<()>) -> spmt_status_t {
    let e = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return SPMT_STATUS_OK,
        Ok(Err(e)) => e,
        Err(p) => FfiError::new(SPMT_STATUS_PANIC, panic_message(&*p)),
    };
    let status = e.status;
    if !err.is_null() {
        let obj = Box::new(spmt_error_t {
            status,
            message: c_string(&e.message),
            detail: e.detail.as_deref().map(c_string),
        });
        // SAFETY: `err` is non-NULL and, by the header's contract, points to writable storage.
        unsafe { *err = Box::into_raw(obj) };
    }
    status
}

/// A panic boundary for calls without an error object.
fn guard_status(f: impl FnOnce() -> FfiResult<()>) -> spmt_status_t {
    guard(std::ptr::null_mut(), f)
}

fn not_null<T>(p: *const T, what: &str) -> FfiResult<()> {
    if p.is_null() {
        Err(FfiError::new(
            SPMT_STATUS_NULL_ARGUMENT,
            format!("{what} is NULL"),
        ))
    } else {
        Ok(())
    }
}

/// Borrows a NUL-terminated UTF-8 argument.
unsafe fn utf8<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    not_null(p, what)?;
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string that outlives the call.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|e| {
        FfiError::new(
            SPMT_STATUS_INVALID_UTF8,
            format!(
                "{what} is not valid UTF-8 (first bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The handle registry

/// Live sessions by handle value. A handle is an id shaped like a pointer, never an address:
/// ids are not reused, so a stale handle can never reach another session.
static SESSIONS: Mutex<BTreeMap<usize, Arc<Session>>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

fn registry() -> std::sync::MutexGuard<'static, BTreeMap<usize, Arc<Session>>> {
    SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

fn session(s: *const spmt_session_t) -> FfiResult<Arc<Session>> {
    not_null(s, "session")?;
    registry().get(&(s as usize)).cloned().ok_or_else(|| {
        FfiError::new(
            SPMT_STATUS_INVALID_HANDLE,
            "the session handle is not live (already freed, or not from spmt_session_new)",
        )
    })
}

/// How long spmt_session_free waits for a running session to stop before ending its threads.
const FREE_TIMEOUT: Duration = Duration::from_secs(10);

fn timeout(ms: u32) -> Option<Duration> {
    (ms != u32::MAX).then(|| Duration::from_millis(ms as u64))
}

// ---------------------------------------------------------------------------------------------
// Events across the boundary

fn kind_of(k: EventKind) -> spmt_event_kind_t {
    use spmt_event_kind_t::*;
    match k {
        EventKind::Log => SPMT_EVENT_LOG,
        EventKind::TaskStarted => SPMT_EVENT_TASK_STARTED,
        EventKind::Scan => SPMT_EVENT_SCAN,
        EventKind::Package => SPMT_EVENT_PACKAGE,
        EventKind::Upload => SPMT_EVENT_UPLOAD,
        EventKind::Import => SPMT_EVENT_IMPORT,
        EventKind::Item => SPMT_EVENT_ITEM,
        EventKind::TaskFinished => SPMT_EVENT_TASK_FINISHED,
        EventKind::SessionFinished => SPMT_EVENT_SESSION_FINISHED,
        EventKind::SignIn => SPMT_EVENT_SIGN_IN,
    }
}

fn outcome_of(o: Option<Outcome>) -> spmt_outcome_t {
    use spmt_outcome_t::*;
    match o {
        None | Some(Outcome::Pending) => SPMT_OUTCOME_NONE,
        Some(Outcome::Migrated) => SPMT_OUTCOME_MIGRATED,
        Some(Outcome::Skipped) => SPMT_OUTCOME_SKIPPED,
        Some(Outcome::Failed) => SPMT_OUTCOME_FAILED,
        Some(Outcome::Deleted) => SPMT_OUTCOME_DELETED,
    }
}

/// An event with its strings; `ev` is first so a `*mut spmt_event_t` is a `*mut OwnedEvent`.
#[repr(C)]
struct OwnedEvent {
    ev: spmt_event_t,
    strings: [Option<CString>; 4],
}

fn owned_event(e: &Event) -> Box<OwnedEvent> {
    let strings = [
        e.task_id.as_deref().map(c_string),
        e.item_path.as_deref().map(c_string),
        e.code.as_deref().map(c_string),
        e.message.as_deref().map(c_string),
    ];
    let ptr = |i: usize| {
        strings[i]
            .as_ref()
            .map(|c| c.as_ptr())
            .unwrap_or(std::ptr::null())
    };
    let ev = spmt_event_t {
        kind: kind_of(e.kind),
        outcome: outcome_of(e.outcome),
        task_id: ptr(0),
        item_path: ptr(1),
        code: ptr(2),
        message: ptr(3),
        items_done: e.items_done,
        items_total: e.items_total,
        bytes_done: e.bytes_done,
        bytes_total: e.bytes_total,
        items_failed: e.items_failed,
        items_skipped: e.items_skipped,
    };
    // The CStrings' buffers are on the heap: moving them into the box keeps the pointers valid.
    Box::new(OwnedEvent { ev, strings })
}

/// The host's callback and user data; the finalizer runs when the engine drops the last copy.
struct ForeignCallback {
    cb: unsafe extern "C" fn(*mut c_void, *const spmt_event_t),
    user_data: *mut c_void,
    free: spmt_free_cb,
    /// Cleared when a start is refused: user_data then stays the caller's.
    armed: std::sync::atomic::AtomicBool,
}

// SAFETY: the header requires callbacks and user_data to be usable from any thread.
unsafe impl Send for ForeignCallback {}
unsafe impl Sync for ForeignCallback {}

impl ForeignCallback {
    fn call(&self, e: &Event) {
        let owned = owned_event(e);
        // SAFETY: a function pointer from the host, called as the header documents.
        unsafe { (self.cb)(self.user_data, &owned.ev) };
    }
}

impl Drop for ForeignCallback {
    fn drop(&mut self) {
        if let (Some(f), true) = (self.free, *self.armed.get_mut()) {
            // SAFETY: the host's finalizer for its own user_data, called exactly once.
            unsafe { f(self.user_data) };
        }
    }
}

fn foreign(
    cb: spmt_event_cb,
    user_data: *mut c_void,
    free: spmt_free_cb,
) -> Option<(Arc<ForeignCallback>, session::Callback)> {
    let fc = Arc::new(ForeignCallback {
        cb: cb?,
        user_data,
        free,
        armed: std::sync::atomic::AtomicBool::new(true),
    });
    let inner = fc.clone();
    Some((fc, Arc::new(move |e: &Event| inner.call(e))))
}

// ---------------------------------------------------------------------------------------------
// Exports

/// The ABI version (SPMT_ABI_VERSION at build time).
#[no_mangle]
pub extern "C" fn spmt_abi_version() -> u32 {
    SPMT_ABI_VERSION
}

/// Creates a session from its settings (a JSON object; keys are Register-SPMTMigration's
/// parameter names plus WorkingFolder, AccessToken, LocalTargetRoot, PerItemEvents). Unknown
/// keys give SPMT_STATUS_INVALID_ARGUMENT; settings for features spmt lacks give
/// SPMT_STATUS_NOT_SUPPORTED. `*out` is written only on success; free it with spmt_session_free.
#[no_mangle]
pub unsafe extern "C" fn spmt_session_new(
    settings_json: *const c_char,
    out: *mut *mut spmt_session_t,
    err: *mut *mut spmt_error_t,
) -> spmt_status_t {
    guard(err, || {
        not_null(out, "out")?;
        // SAFETY: checked above; see `utf8`.
        let json = unsafe { utf8(settings_json, "settings_json") }?;
        let s = Session::from_json(json)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        // Pointer-shaped (aligned, far from 0) so hosts that store it as a pointer are happy.
        let handle = 0x5350_0000usize.wrapping_add(id << 4);
        registry().insert(handle, Arc::new(s));
        // SAFETY: `out` is non-NULL.
        unsafe { *out = handle as *mut spmt_session_t };
        Ok(())
    })
}

/// Adds one task: SPMT's JSON task format ({SourcePath, TargetPath, TargetList,
/// TargetListRelativePath, Settings}) or Add-SPMTTask's FileShare names (FileShareSource,
/// TargetSiteUrl...). TargetPath "local" is the embedded local target. `*out_task_id` (a GUID
/// string, free with spmt_string_free) is written only on success.
#[no_mangle]
pub unsafe extern "C" fn spmt_session_add_task(
    s: *mut spmt_session_t,
    task_json: *const c_char,
    out_task_id: *mut *mut c_char,
    err: *mut *mut spmt_error_t,
) -> spmt_status_t {
    guard(err, || {
        let sess = session(s)?;
        not_null(out_task_id, "out_task_id")?;
        // SAFETY: see `utf8`.
        let json = unsafe { utf8(task_json, "task_json") }?;
        let id = sess.add_task(json)?;
        // SAFETY: `out_task_id` is non-NULL.
        unsafe { *out_task_id = c_string(&id).into_raw() };
        Ok(())
    })
}

/// Removes a task that is not running. SPMT_STATUS_NOT_FOUND for an unknown id.
#[no_mangle]
pub unsafe extern "C" fn spmt_session_remove_task(
    s: *mut spmt_session_t,
    task_id: *const c_char,
    err: *mut *mut spmt_error_t,
) -> spmt_status_t {
    guard(err, || {
        let sess = session(s)?;
        // SAFETY: see `utf8`.
        let id = unsafe { utf8(task_id, "task_id") }?;
        Ok(sess.remove_task(id)?)
    })
}

/// Starts a round over every task and returns at once. With `cb`, events go to it (from
/// engine threads) and `user_data_free(user_data)` runs once after the last one; with `cb`
/// NULL, take them with spmt_session_next_event. On failure nothing is kept (user_data stays
/// the caller's). Starting again after a run finished runs the next, incremental round.
#[no_mangle]
pub unsafe extern "C" fn spmt_session_start(
    s: *mut spmt_session_t,
    cb: spmt_event_cb,
    user_data: *mut c_void,
    user_data_free: spmt_free_cb,
    err: *mut *mut spmt_error_t,
) -> spmt_status_t {
    guard(err, || {
        let sess = session(s)?;
        let fc = foreign(cb, user_data, user_data_free);
        let (keep, callback) = match fc {
            Some((fc, cb)) => (Some(fc), Some(cb)),
            None => (None, None),
        };
        let r = sess.start(callback);
        if r.is_err() {
            // A refused start keeps nothing: user_data stays the caller's.
            if let Some(fc) = &keep {
                fc.armed.store(false, Ordering::SeqCst);
            }
        }
        Ok(r?)
    })
}

/// Takes the next event of a run started without a callback. SPMT_STATUS_OK and `*out` (free
/// with spmt_event_free); SPMT_STATUS_TIMEOUT after `timeout_ms` (UINT32_MAX: no limit);
/// SPMT_STATUS_DONE once the run finished and every event was taken.
#[no_mangle]
pub unsafe extern "C" fn spmt_session_next_event(
    s: *mut spmt_session_t,
    timeout_ms: u32,
    out: *mut *mut spmt_event_t,
) -> spmt_status_t {
    guard_status(|| {
        let sess = session(s)?;
        not_null(out, "out")?;
        if session::in_callback() {
            return Err(FfiError::new(
                SPMT_STATUS_INVALID_STATE,
                "blocking call from inside a callback",
            ));
        }
        match sess.next_event(timeout(timeout_ms))? {
            Next::Event(e) => {
                let owned = owned_event(&e);
                // SAFETY: `out` is non-NULL; OwnedEvent starts with the spmt_event_t.
                unsafe { *out = Box::into_raw(owned) as *mut spmt_event_t };
                Ok(())
            }
            Next::Timeout => Err(FfiError::new(SPMT_STATUS_TIMEOUT, "")),
            Next::Done => Err(FfiError::new(SPMT_STATUS_DONE, "")),
        }
    })
}

/// Frees an event from spmt_session_next_event. NULL is a no-op. Never pass an event given
/// to a callback.
#[no_mangle]
pub unsafe extern "C" fn spmt_event_free(e: *mut spmt_event_t) {
    let _ = catch_unwind(|| {
        if !e.is_null() {
            // SAFETY: from spmt_session_next_event, which boxed an OwnedEvent at this address.
            drop(unsafe { Box::from_raw(e as *mut OwnedEvent) });
        }
    });
}

/// Waits until the run has finished: SPMT_STATUS_OK, or SPMT_STATUS_TIMEOUT after
/// `timeout_ms` (UINT32_MAX: no limit). When it returns OK every callback of the run has
/// returned and user_data_free has run.
#[no_mangle]
pub unsafe extern "C" fn spmt_session_wait(
    s: *mut spmt_session_t,
    timeout_ms: u32,
) -> spmt_status_t {
    guard_status(|| {
        let sess = session(s)?;
        if session::in_callback() {
            return Err(FfiError::new(
                SPMT_STATUS_INVALID_STATE,
                "blocking call from inside a callback",
            ));
        }
        if sess.wait(timeout(timeout_ms))? {
            Ok(())
        } else {
            Err(FfiError::new(SPMT_STATUS_TIMEOUT, ""))
        }
    })
}

/// The session's status as JSON: what `spmt status --json` shows for the working folder
/// (Get-SPMTMigration's shape: {"Status": NotStarted|Running|Finished, "Result",
/// "ReportFolderPath", "StatusOfTasks": [{"TaskId", "SourceURI", "TargetURI", "Status",
/// "MigratingProgressPercentage", "NumScannedTotalFiles", "NumScannedBadFiles",
/// "NumFileWillBeMigrated", "NumActuallyMigratedFiles", "NumFailedFiles", "ErrorMsg",
/// "ReportFolder", ...}]}) for this session's tasks, with a "Live" object of engine counters
/// for the task running now. Free `*out_json` with spmt_string_free.
#[no_mangle]
pub unsafe extern "C" fn spmt_session_status(
    s: *mut spmt_session_t,
    out_json: *mut *mut c_char,
    err: *mut *mut spmt_error_t,
) -> spmt_status_t {
    guard(err, || {
        let sess = session(s)?;
        not_null(out_json, "out_json")?;
        let text = serde_json::to_string(&sess.status_json()?)
            .map_err(|e| FfiError::new(SPMT_STATUS_INTERNAL, e.to_string()))?;
        // SAFETY: `out_json` is non-NULL.
        unsafe { *out_json = c_string(&text).into_raw() };
        Ok(())
    })
}

/// Asks a running session to stop and returns at once (spmt_session_wait to see it end): the
/// running task ends STOPPED, the others do not start. Jobs already submitted are settled by
/// the next run. SPMT_STATUS_INVALID_STATE when not running.
#[no_mangle]
pub unsafe extern "C" fn spmt_session_stop(s: *mut spmt_session_t) -> spmt_status_t {
    guard_status(|| Ok(session(s)?.stop()?))
}

/// Frees a session. A running session is stopped first; this waits for it about 10 seconds at
/// most, then ends its threads. NULL and already freed handles are a no-op. After it returns
/// no callback of this session runs (unless called from inside one, which only stops it).
#[no_mangle]
pub unsafe extern "C" fn spmt_session_free(s: *mut spmt_session_t) {
    let _ = catch_unwind(|| {
        if s.is_null() {
            return;
        }
        let Some(sess) = registry().remove(&(s as usize)) else {
            return;
        };
        sess.shutdown(FREE_TIMEOUT);
    });
}

/// Frees a string returned by spmt. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn spmt_string_free(s: *mut c_char) {
    let _ = catch_unwind(|| {
        if !s.is_null() {
            // SAFETY: from CString::into_raw in this library.
            drop(unsafe { CString::from_raw(s) });
        }
    });
}

/// The error's message (UTF-8), valid until spmt_error_free; NULL for a NULL error.
#[no_mangle]
pub unsafe extern "C" fn spmt_error_message(e: *const spmt_error_t) -> *const c_char {
    if e.is_null() {
        return std::ptr::null();
    }
    // SAFETY: a live error object from this library.
    unsafe { (*e).message.as_ptr() }
}

/// The facts behind the error as a JSON object (UTF-8), valid until spmt_error_free; NULL when
/// there are none. For SPMT_STATUS_NOT_SUPPORTED: `{"Key", "Feature", "Hint"}` (the setting as
/// given, the missing feature, what to do instead), so a host shows it without a table of its own.
#[no_mangle]
pub unsafe extern "C" fn spmt_error_detail(e: *const spmt_error_t) -> *const c_char {
    if e.is_null() {
        return std::ptr::null();
    }
    // SAFETY: a live error object from this library.
    match unsafe { &(*e).detail } {
        Some(d) => d.as_ptr(),
        None => std::ptr::null(),
    }
}

/// The error's status; SPMT_STATUS_NULL_ARGUMENT for a NULL error.
#[no_mangle]
pub unsafe extern "C" fn spmt_error_status(e: *const spmt_error_t) -> spmt_status_t {
    if e.is_null() {
        return SPMT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: a live error object from this library.
    unsafe { (*e).status }
}

/// Frees an error object. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn spmt_error_free(e: *mut spmt_error_t) {
    let _ = catch_unwind(|| {
        if !e.is_null() {
            // SAFETY: from Box::into_raw in `guard`.
            drop(unsafe { Box::from_raw(e) });
        }
    });
}

/// Diagnostic: sends `threads` × `per_thread` item events through `cb` along the path a run's
/// events take (conversion to spmt_event_t, the callback gate) and returns events per second.
/// `user_data` is passed through and not freed.
#[no_mangle]
pub unsafe extern "C" fn spmt_bench_callbacks(
    cb: spmt_event_cb,
    user_data: *mut c_void,
    threads: u32,
    per_thread: u64,
) -> f64 {
    catch_unwind(|| match foreign(cb, user_data, None) {
        Some((_, c)) => session::bench_events(c, threads, per_thread),
        None => 0.0,
    })
    .unwrap_or(0.0)
}

//! A migration session as SPMT's PowerShell module shapes it (Register-SPMTMigration →
//! Add-SPMTTask ×N → Start-SPMTMigration → Get-SPMTMigration / Stop-SPMTMigration), in plain
//! Rust: settings and tasks from JSON with SPMT's names, a tokio runtime owned by the session,
//! tasks run one after another through [`engine::migrate`], and events coalesced from the
//! engine's counters. `crate::ffi` is a thin C layer over this module.
//!
//! Each start is one round over every task of the session: the first sends everything, later
//! rounds only new and changed files (the working folder's state makes that exact).

use crate::engine::{self, Counters, ItemObserver, Summary};
use crate::runner::{RunContext, Runner};
use crate::status::Run;
use crate::store::Outcome;
use crate::task::{SettingError, Task, TaskError, TaskSettings, Unsupported};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What went wrong, by kind (the C ABI maps each kind to a fixed status code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{} is not supported by spmt yet (setting '{}'). {}", .0.feature, .0.key, .0.hint)]
    NotSupported(Unsupported),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Io(String),
    #[error("internal error: {0}")]
    Internal(String),
}

type Result<T> = std::result::Result<T, SessionError>;

// ---------------------------------------------------------------------------------------------
// Settings (Register-SPMTMigration's parameter names, reference spmt-features.md §1.3)

/// Session settings: the session's own (`WorkingFolder`, `AccessToken`, `PerItemEvents`,
/// `Force`) and every task setting, which becomes the default of the session's tasks. Task
/// settings are the task model's (`crate::task::settings`): the same names, aliases, parsers
/// and "not supported" answers as the CLI, bulk files and `spmt resume`.
#[derive(Clone)]
pub struct Settings {
    pub working_folder: PathBuf,
    pub access_token: Option<String>,
    /// One event per item outcome instead of a periodic summary.
    pub per_item_events: bool,
    /// The tasks' defaults; `LocalTargetRoot` defaults to `<WorkingFolder>/LocalTarget`.
    pub task_defaults: TaskSettings,
    /// What the settings said that the host should show as warnings (deprecated names).
    pub notes: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("working_folder", &self.working_folder)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "REDACTED"),
            )
            .field("per_item_events", &self.per_item_events)
            .field("task_defaults", &self.task_defaults)
            .finish_non_exhaustive()
    }
}

impl From<SettingError> for SessionError {
    fn from(e: SettingError) -> Self {
        match e {
            SettingError::Unsupported(u) => SessionError::NotSupported(u),
            e => SessionError::InvalidArgument(e.to_string()),
        }
    }
}

impl From<TaskError> for SessionError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::Setting(s) => s.into(),
            TaskError::InvalidJson(m) => SessionError::InvalidJson(format!("task: {m}")),
            e => SessionError::InvalidArgument(e.to_string()),
        }
    }
}

impl Settings {
    pub fn defaults(working_folder: PathBuf) -> Self {
        let working_folder = std::path::absolute(&working_folder).unwrap_or(working_folder);
        let task_defaults = TaskSettings {
            local_target_root: Some(working_folder.join("LocalTarget")),
            ..TaskSettings::default()
        };
        Settings {
            working_folder,
            access_token: None,
            per_item_events: false,
            task_defaults,
            notes: Vec::new(),
        }
    }

    pub fn from_json(json: &str) -> Result<Self> {
        let m = match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(SessionError::InvalidJson(
                    "settings must be a JSON object".into(),
                ))
            }
            Err(e) => return Err(SessionError::InvalidJson(format!("settings: {e}"))),
        };
        let text = |key: &str, v: &Value| -> Result<String> {
            v.as_str().map(str::to_string).ok_or_else(|| {
                SessionError::InvalidArgument(format!(
                    "setting '{key}': expected a string, got {v}"
                ))
            })
        };
        let mut wf = None;
        let mut token = None;
        let mut per_item_events = false;
        let mut task_defaults = TaskSettings::default();
        let mut notes = Vec::new();
        for (key, v) in &m {
            if v.is_null() {
                // PowerShell sends unset parameters as null.
                continue;
            }
            match key.to_ascii_lowercase().as_str() {
                "workingfolder" => wf = Some(PathBuf::from(text(key, v)?)),
                "accesstoken" => token = Some(text(key, v)?).filter(|t| !t.is_empty()),
                "peritemevents" => per_item_events = crate::task::settings::parse_bool(key, v)?,
                // Register-SPMTMigration's: stop and replace the current session (the host's).
                "force" => {}
                _ => {
                    if let Some(n) = task_defaults.set(key, v)? {
                        notes.push(n.to_string());
                    }
                }
            }
        }
        let wf = match wf {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => engine::default_working_folder("session"),
        };
        let mut s = Settings::defaults(wf);
        if let Some(root) = task_defaults.local_target_root.take() {
            task_defaults.local_target_root = Some(std::path::absolute(&root).unwrap_or(root));
        } else {
            task_defaults.local_target_root = s.task_defaults.local_target_root.take();
        }
        s.access_token = token;
        s.per_item_events = per_item_events;
        s.task_defaults = task_defaults;
        s.notes = notes;
        Ok(s)
    }

    /// A task from SPMT's JSON task format (or Add-SPMTTask's FileShare set) with these
    /// settings as its defaults; a real site needs the session's AccessToken.
    fn task(&self, task_json: &str) -> Result<Task> {
        let mut notes = Vec::new();
        let t = Task::from_spmt_json(task_json, &self.task_defaults, &mut notes)?;
        if !t.is_local() && self.access_token.is_none() {
            return Err(SessionError::InvalidArgument(format!(
                "task: TargetPath '{}' needs an AccessToken in the session settings",
                t.target
            )));
        }
        Ok(t)
    }
}

// ---------------------------------------------------------------------------------------------
// Events

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Log,
    TaskStarted,
    Scan,
    Package,
    Upload,
    Import,
    Item,
    TaskFinished,
    SessionFinished,
}

/// One event. Progress events are coalesced (at most a few per second per task); item events
/// come one per item only when the settings ask for `PerItemEvents`, otherwise an `Item` event
/// without a path summarises the outcomes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub task_id: Option<String>,
    pub items_done: u64,
    pub items_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub items_failed: u64,
    pub items_skipped: u64,
    pub item_path: Option<String>,
    /// The item's outcome; for `TaskFinished`, Failed when the task failed or any item did.
    pub outcome: Option<Outcome>,
    /// SPMT's error code of a failed item.
    pub code: Option<String>,
    pub message: Option<String>,
}

impl Event {
    fn new(kind: EventKind, task: Option<&str>) -> Self {
        Event {
            kind,
            task_id: task.map(str::to_string),
            items_done: 0,
            items_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            items_failed: 0,
            items_skipped: 0,
            item_path: None,
            outcome: None,
            code: None,
            message: None,
        }
    }
}

/// A host's callback: called on engine threads, possibly several at once.
pub type Callback = Arc<dyn Fn(&Event) + Send + Sync>;

/// Events waiting for [`Session::next_event`].
struct PullQueue {
    q: Mutex<PullState>,
    cond: Condvar,
    dropped: AtomicU64,
}

struct PullState {
    events: VecDeque<Event>,
    /// No more events will come (the run finished).
    closed: bool,
}

/// Above this many undelivered events, item events are dropped (and counted); progress and
/// finish events are always kept.
const PULL_CAPACITY: usize = 100_000;

#[derive(Clone)]
enum Sink {
    Callback(Callback),
    Pull(Arc<PullQueue>),
}

/// Where a run's events go. Once closed (the session is being freed), nothing more reaches the
/// host; `close` waits for callbacks already running to return.
struct Emitter {
    sink: Sink,
    closed: Arc<AtomicBool>,
    active: Arc<AtomicU64>,
}

impl Clone for Emitter {
    fn clone(&self) -> Self {
        Emitter {
            sink: self.sink.clone(),
            closed: self.closed.clone(),
            active: self.active.clone(),
        }
    }
}

thread_local! {
    static IN_CALLBACK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// True on a thread that is inside a host callback right now: blocking calls are refused there.
pub fn in_callback() -> bool {
    IN_CALLBACK.with(|c| c.get() > 0)
}

impl Emitter {
    fn emit(&self, ev: Event) {
        match &self.sink {
            Sink::Callback(cb) => {
                self.active.fetch_add(1, Ordering::SeqCst);
                if !self.closed.load(Ordering::SeqCst) {
                    IN_CALLBACK.with(|c| c.set(c.get() + 1));
                    // The host's code must not unwind into ours; a Rust callback that panics
                    // only loses this event.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&ev)));
                    IN_CALLBACK.with(|c| c.set(c.get() - 1));
                }
                self.active.fetch_sub(1, Ordering::SeqCst);
            }
            Sink::Pull(p) => {
                let Ok(mut st) = p.q.lock() else { return };
                if st.closed {
                    return;
                }
                if st.events.len() >= PULL_CAPACITY && ev.kind == EventKind::Item {
                    p.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                st.events.push_back(ev);
                drop(st);
                p.cond.notify_one();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The session

/// A task's state within this session (the persisted state, per round, is `crate::status`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Inited,
    InProgress,
    Completed,
    CompletedWithErrors,
    Failed,
    Stopped,
}

impl TaskState {
    /// The words of `spmt status --json` (`crate::status::task_state`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Inited => "INITED",
            TaskState::InProgress => "INPROGRESS",
            TaskState::Completed => "COMPLETED",
            TaskState::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            TaskState::Failed => "FAILED",
            TaskState::Stopped => "STOPPED",
        }
    }
}

struct TaskEntry {
    id: Uuid,
    def: Task,
    state: TaskState,
    counters: Option<Arc<Counters>>,
    summary: Option<Summary>,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    NotStarted,
    Running,
    Finished,
}

struct Inner {
    tasks: Vec<TaskEntry>,
    run: RunState,
    pull: Option<Arc<PullQueue>>,
    /// The current run's emitter gate (closed by `shutdown`).
    closed: Arc<AtomicBool>,
    active: Arc<AtomicU64>,
    /// The thread driving the current (or last) run.
    runner: Option<std::thread::JoinHandle<()>>,
}

struct SessionShared {
    settings: Settings,
    inner: Mutex<Inner>,
    cond: Condvar,
    stop: AtomicBool,
    /// Set by `shutdown`: the embedded local target abandons the jobs it is importing, so no
    /// runtime thread outlives the session (`EmulatorConfig::abandon_jobs`).
    abandon_local_jobs: Arc<AtomicBool>,
}

impl SessionShared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock left plain data behind; keep going with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What `next_event` found.
#[derive(Debug)]
pub enum Next {
    Event(Box<Event>),
    Timeout,
    /// The run finished and every event was taken.
    Done,
}

pub struct Session {
    shared: Arc<SessionShared>,
    rt: Mutex<Option<tokio::runtime::Runtime>>,
}

impl Session {
    pub fn new(settings: Settings) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("spmt-session")
            .enable_all()
            .build()
            .map_err(|e| SessionError::Io(format!("cannot start the session's runtime: {e}")))?;
        Ok(Session {
            shared: Arc::new(SessionShared {
                settings,
                inner: Mutex::new(Inner {
                    tasks: Vec::new(),
                    run: RunState::NotStarted,
                    pull: None,
                    closed: Arc::new(AtomicBool::new(false)),
                    active: Arc::new(AtomicU64::new(0)),
                    runner: None,
                }),
                cond: Condvar::new(),
                stop: AtomicBool::new(false),
                abandon_local_jobs: Arc::default(),
            }),
            rt: Mutex::new(Some(rt)),
        })
    }

    pub fn from_json(settings_json: &str) -> Result<Self> {
        Session::new(Settings::from_json(settings_json)?)
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Adds a task (SPMT JSON) and returns its id, a GUID string.
    pub fn add_task(&self, task_json: &str) -> Result<String> {
        let def = self.shared.settings.task(task_json)?;
        let id = def.id();
        let mut inner = self.shared.lock();
        if inner.tasks.iter().any(|t| t.id == id) {
            // SPMT's words (reference §2.1).
            return Err(SessionError::InvalidArgument(
                "A duplicate task has already been created.".into(),
            ));
        }
        inner.tasks.push(TaskEntry {
            id,
            def,
            state: TaskState::Inited,
            counters: None,
            summary: None,
            error: None,
        });
        Ok(id.to_string())
    }

    /// Removes a task that is not running.
    pub fn remove_task(&self, task_id: &str) -> Result<()> {
        let id = Uuid::parse_str(task_id.trim()).map_err(|_| {
            SessionError::InvalidArgument(format!("'{task_id}' is not a task id (a GUID)"))
        })?;
        let mut inner = self.shared.lock();
        let Some(i) = inner.tasks.iter().position(|t| t.id == id) else {
            return Err(SessionError::NotFound(format!(
                "no task {id} in this session"
            )));
        };
        if inner.tasks[i].state == TaskState::InProgress {
            return Err(SessionError::InvalidState(format!(
                "task {id} is running; stop the session first"
            )));
        }
        inner.tasks.remove(i);
        Ok(())
    }

    /// Starts a round over every task, without blocking. Events go to `callback`, or to the
    /// pull queue ([`Session::next_event`]) when it is None.
    pub fn start(&self, callback: Option<Callback>) -> Result<()> {
        let rt_guard = self.rt.lock().unwrap_or_else(|p| p.into_inner());
        let Some(rt) = rt_guard.as_ref() else {
            return Err(SessionError::InvalidState("the session is closing".into()));
        };
        let mut inner = self.shared.lock();
        if inner.run == RunState::Running {
            return Err(SessionError::InvalidState(
                "the session is already running; wait for it or stop it".into(),
            ));
        }
        if inner.tasks.is_empty() {
            return Err(SessionError::InvalidState(
                "the session has no tasks; add one first".into(),
            ));
        }
        let sink = match callback {
            Some(cb) => {
                inner.pull = None;
                Sink::Callback(cb)
            }
            None => {
                let q = Arc::new(PullQueue {
                    q: Mutex::new(PullState {
                        events: VecDeque::new(),
                        closed: false,
                    }),
                    cond: Condvar::new(),
                    dropped: AtomicU64::new(0),
                });
                inner.pull = Some(q.clone());
                Sink::Pull(q)
            }
        };
        inner.closed = Arc::new(AtomicBool::new(false));
        inner.active = Arc::new(AtomicU64::new(0));
        let emitter = Emitter {
            sink,
            closed: inner.closed.clone(),
            active: inner.active.clone(),
        };
        for t in inner.tasks.iter_mut() {
            t.state = TaskState::Inited;
            t.counters = None;
            t.summary = None;
            t.error = None;
        }
        inner.run = RunState::Running;
        self.shared.stop.store(false, Ordering::SeqCst);
        let previous = inner.runner.take();
        // The engine's future is not Send (it holds the SQLite store across awaits), so the
        // run is driven by its own thread; the work it spawns runs on the session's runtime.
        let (handle, shared) = (rt.handle().clone(), self.shared.clone());
        let runner = std::thread::Builder::new()
            .name("spmt-session-run".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle.block_on(run_session(shared.clone(), &emitter))
                }));
                if let Err(p) = r {
                    let mut e = Event::new(EventKind::Log, None);
                    e.message = Some(format!("internal error: the run panicked: {p:?}"));
                    emitter.emit(e);
                    emitter.emit(Event::new(EventKind::SessionFinished, None));
                }
                end_run(&shared, emitter);
            });
        match runner {
            Ok(t) => inner.runner = Some(t),
            Err(e) => {
                inner.run = RunState::Finished;
                return Err(SessionError::Io(format!(
                    "cannot start the run's thread: {e}"
                )));
            }
        }
        drop(inner);
        if let Some(t) = previous {
            let _ = t.join();
        }
        Ok(())
    }

    /// Asks the run to stop (non-blocking): the running task stops, the others do not start.
    pub fn stop(&self) -> Result<()> {
        let inner = self.shared.lock();
        if inner.run != RunState::Running {
            return Err(SessionError::InvalidState(
                "the session is not running".into(),
            ));
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in &inner.tasks {
            if let Some(c) = &t.counters {
                c.cancel.store(true, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    pub fn run_state(&self) -> RunState {
        self.shared.lock().run
    }

    /// Waits until the run has finished: true when it has, false on timeout.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut inner = self.shared.lock();
        if inner.run == RunState::NotStarted {
            return Err(SessionError::InvalidState(
                "the session has not been started".into(),
            ));
        }
        while inner.run == RunState::Running {
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(w) if !w.is_zero() => w,
                    _ => return Ok(false),
                },
                None => Duration::from_secs(3600),
            };
            inner = self
                .shared
                .cond
                .wait_timeout(inner, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(true)
    }

    /// The next event of a run started without a callback; `None` waits without limit.
    pub fn next_event(&self, timeout: Option<Duration>) -> Result<Next> {
        let q =
            {
                let inner = self.shared.lock();
                match (&inner.pull, inner.run) {
                    (Some(q), _) => q.clone(),
                    (None, RunState::NotStarted) => {
                        return Err(SessionError::InvalidState(
                            "the session has not been started".into(),
                        ))
                    }
                    (None, _) => return Err(SessionError::InvalidState(
                        "this run delivers events to its callback; start without one to pull them"
                            .into(),
                    )),
                }
            };
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = q.q.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(ev) = st.events.pop_front() {
                return Ok(Next::Event(Box::new(ev)));
            }
            if st.closed {
                return Ok(Next::Done);
            }
            let w = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(w) if !w.is_zero() => w,
                    _ => return Ok(Next::Timeout),
                },
                None => Duration::from_secs(3600),
            };
            st = q
                .cond
                .wait_timeout(st, w)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Stops a run, waits for it up to `timeout`, closes the event gate (no callback runs after
    /// this returns, unless called from inside one) and ends the runtime.
    pub fn shutdown(&self, timeout: Duration) {
        let _ = self.stop();
        self.shared.abandon_local_jobs.store(true, Ordering::SeqCst);
        let from_callback = in_callback();
        let deadline = Instant::now() + timeout;
        if !from_callback && self.wait(Some(timeout)).unwrap_or(true) {
            let runner = self.shared.lock().runner.take();
            if let Some(t) = runner {
                let _ = t.join();
            }
        }
        let (closed, active) = {
            let inner = self.shared.lock();
            (inner.closed.clone(), inner.active.clone())
        };
        closed.store(true, Ordering::SeqCst);
        if !from_callback {
            while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let rt = self.rt.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(rt) = rt {
            if from_callback || tokio::runtime::Handle::try_current().is_ok() {
                // Blocking here would deadlock (or panic) on a runtime thread.
                rt.shutdown_background();
            } else {
                // Jobs were abandoned and the run was stopped, so what is left (idle blocking
                // threads exiting, an object being imported) ends soon; give it a few seconds
                // even when the wait above used the whole timeout, because tokio joins none of
                // its blocking threads when this times out, and they would outlive the host.
                let left = deadline.saturating_duration_since(Instant::now());
                rt.shutdown_timeout(left.max(Duration::from_secs(3)));
            }
        }
    }

    /// Get-SPMTMigration's shape, as `spmt status --json` shows it (`crate::status`): the
    /// working folder's record of each task's last round, with live numbers from the engine's
    /// counters for the task running now (`Live`), and tasks not run yet as `INITED`.
    pub fn status_json(&self) -> Result<Value> {
        let wf = &self.shared.settings.working_folder;
        let wf = std::path::absolute(wf).unwrap_or_else(|_| wf.clone());
        // Read before taking the session's lock: SQLite may wait on the recorder.
        let persisted = if wf.join("spmt.db").exists() {
            Some(
                crate::status::load(&wf)
                    .map_err(|e| SessionError::Io(format!("cannot read the session state: {e}")))?,
            )
        } else {
            None
        };
        let inner = self.shared.lock();
        let mut tasks = Vec::new();
        for t in &inner.tasks {
            let id = t.id.to_string();
            let mut ts = persisted
                .as_ref()
                .and_then(|p| p.status_of_tasks.iter().find(|x| x.task_id == id).cloned())
                .unwrap_or_else(|| inited_status(t, &wf));
            if t.state == TaskState::InProgress {
                ts.status = TaskState::InProgress.as_str().into();
            }
            if ts.error_msg.is_empty() {
                if let Some(e) = &t.error {
                    ts.error_msg = e.clone();
                }
            }
            let mut v =
                serde_json::to_value(&ts).map_err(|e| SessionError::Internal(e.to_string()))?;
            if let (TaskState::InProgress, Some(c), Some(obj)) =
                (t.state, &t.counters, v.as_object_mut())
            {
                let p = Progress::read(c);
                let pct = c.percent().max(ts.migrating_progress_percentage as u64);
                obj.insert("MigratingProgressPercentage".into(), pct.into());
                obj.insert(
                    "Live".into(),
                    serde_json::json!({
                        "ScannedItems": p.scanned + p.skipped,
                        "ScannedBytes": p.scanned_bytes,
                        "ScanDone": p.scan_done,
                        "PackagedItems": p.packaged,
                        "UploadedBytes": p.uploaded_bytes,
                        "ImportedItems": p.imported,
                        "FailedItems": p.failed,
                        "SkippedItems": p.skipped,
                    }),
                );
            }
            tasks.push(v);
        }
        let states: Vec<String> = tasks
            .iter()
            .map(|v| {
                v.get("Status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let states: Vec<&str> = states.iter().map(String::as_str).collect();
        let run = match inner.run {
            RunState::NotStarted => Run::NotStarted,
            RunState::Running => Run::Running,
            RunState::Finished => Run::Finished,
        };
        let (status, result) = crate::status::roll_up(&states, Some(run));
        Ok(serde_json::json!({
            "Id": persisted.as_ref().map(|p| p.id.clone()),
            "Status": status,
            "Result": result,
            "WorkingFolder": wf.display().to_string(),
            "ReportFolderPath": crate::report::folder(&wf).display().to_string(),
            "StatusOfTasks": tasks,
            // The task settings as the engine understood them (defaults filled in; no secrets
            // live there), so every host shows what will actually run.
            "Settings": self.shared.settings.task_defaults.to_map(),
            // What the settings said that deserves a warning (deprecated names).
            "Notes": self.shared.settings.notes,
        }))
    }
}

/// A task the working folder has no round of yet.
fn inited_status(t: &TaskEntry, wf: &std::path::Path) -> crate::status::TaskStatus {
    let id = t.id.to_string();
    crate::status::TaskStatus {
        source_uri: t.def.source.display().to_string(),
        target_uri: t.def.target_uri(),
        target_list: t.def.target_list.clone(),
        target_list_relative_path: t.def.target_list_relative_path.clone(),
        status: TaskState::Inited.as_str().into(),
        migrating_progress_percentage: 0,
        num_scanned_total_files: 0,
        num_scanned_bad_files: 0,
        num_filtered_out_files: 0,
        num_file_will_be_migrated: 0,
        num_actually_migrated_files: 0,
        num_failed_files: 0,
        num_unchanged_files: 0,
        num_deleted_items: 0,
        error_msg: String::new(),
        report_folder: crate::report::task_folder(wf, &id).display().to_string(),
        round: 0,
        start_time: None,
        end_time: None,
        counts: Default::default(),
        settings: serde_json::to_value(&t.def.settings).unwrap_or_default(),
        task_id: id,
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.get_mut().ok().and_then(|r| r.take()) {
            let _ = self.stop();
            rt.shutdown_background();
        }
    }
}

/// One reading of a task's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Progress {
    scanned: u64,
    scanned_bytes: u64,
    scan_done: bool,
    packaged: u64,
    uploaded_bytes: u64,
    imported: u64,
    failed: u64,
    skipped: u64,
}

impl Progress {
    fn read(c: &Counters) -> Self {
        Progress {
            scanned: c.scanned_items.load(Ordering::Relaxed),
            scanned_bytes: c.scanned_bytes.load(Ordering::Relaxed),
            scan_done: c.scan_done.load(Ordering::Relaxed),
            packaged: c.packaged_items.load(Ordering::Relaxed),
            uploaded_bytes: c.uploaded_bytes.load(Ordering::Relaxed),
            imported: c.imported_items.load(Ordering::Relaxed),
            failed: c.failed_items.load(Ordering::Relaxed),
            skipped: c.skipped_items.load(Ordering::Relaxed),
        }
    }
}

/// Emits the progress events whose numbers changed since `last`.
fn emit_progress(em: &Emitter, task: &str, p: &Progress, last: &Progress, per_item: bool) {
    let mk = |kind| Event::new(kind, Some(task));
    if p.scanned != last.scanned || p.skipped != last.skipped || p.scan_done != last.scan_done {
        let mut e = mk(EventKind::Scan);
        e.items_done = p.scanned + p.skipped;
        e.items_total = if p.scan_done { e.items_done } else { 0 };
        e.bytes_done = p.scanned_bytes;
        e.bytes_total = if p.scan_done { p.scanned_bytes } else { 0 };
        e.items_skipped = p.skipped;
        em.emit(e);
    }
    if p.packaged != last.packaged {
        let mut e = mk(EventKind::Package);
        e.items_done = p.packaged;
        e.items_total = p.scanned;
        em.emit(e);
    }
    if p.uploaded_bytes != last.uploaded_bytes {
        let mut e = mk(EventKind::Upload);
        e.bytes_done = p.uploaded_bytes;
        e.bytes_total = p.scanned_bytes.max(p.uploaded_bytes);
        em.emit(e);
    }
    if p.imported != last.imported {
        let mut e = mk(EventKind::Import);
        e.items_done = p.imported;
        e.items_total = p.scanned;
        e.items_failed = p.failed;
        em.emit(e);
    }
    if !per_item
        && (p.imported != last.imported || p.failed != last.failed || p.skipped != last.skipped)
    {
        let mut e = mk(EventKind::Item);
        e.items_done = p.imported + p.failed + p.skipped;
        e.items_total = if p.scan_done {
            p.scanned + p.skipped
        } else {
            0
        };
        e.items_failed = p.failed;
        e.items_skipped = p.skipped;
        em.emit(e);
    }
}

/// How often progress is read and, when changed, reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

async fn run_session(shared: Arc<SessionShared>, em: &Emitter) {
    let settings = shared.settings.clone();
    let ids: Vec<Uuid> = shared.lock().tasks.iter().map(|t| t.id).collect();
    let em_local = em.clone();
    let mut runner = Runner::new()
        .abandoning_jobs_on(shared.abandon_local_jobs.clone())
        .on_local_start(move |url, root| {
            let mut e = Event::new(EventKind::Log, None);
            e.message = Some(format!("local target at {url}, data in {}", root.display()));
            em_local.emit(e);
        });
    for id in ids {
        let def = {
            let inner = shared.lock();
            match inner.tasks.iter().find(|t| t.id == id) {
                Some(t) => t.def.clone(),
                None => continue, // removed meanwhile
            }
        };
        let task = id.to_string();
        if shared.stop.load(Ordering::SeqCst) {
            set_task(&shared, id, |t| t.state = TaskState::Inited);
            let mut e = Event::new(EventKind::TaskFinished, Some(&task));
            e.outcome = Some(Outcome::Skipped);
            e.message = Some("INITED: the session was stopped before this task started".into());
            em.emit(e);
            continue;
        }
        let counters = Arc::new(Counters::default());
        set_task(&shared, id, |t| {
            t.state = TaskState::InProgress;
            t.counters = Some(counters.clone());
        });
        // A stop that came between the check above and the counters being visible.
        if shared.stop.load(Ordering::SeqCst) {
            counters.cancel.store(true, Ordering::SeqCst);
        }
        let mut e = Event::new(EventKind::TaskStarted, Some(&task));
        e.message = Some(format!(
            "{} -> {} / {}",
            def.source.display(),
            def.target,
            def.target_list
        ));
        em.emit(e);

        let result = run_task(&settings, &def, &task, &counters, em, &mut runner).await;
        let mut fin = Event::new(EventKind::TaskFinished, Some(&task));
        let (state, summary, error) = match result {
            Ok(s) => {
                let i = &s.items;
                fin.items_done = i.migrated + i.skipped + i.failed;
                fin.items_total = fin.items_done + i.pending;
                fin.items_failed = i.failed;
                fin.items_skipped = i.skipped;
                fin.bytes_done = s.uploaded_bytes;
                fin.bytes_total = s.scanned_bytes;
                fin.outcome = Some(if i.failed > 0 || i.pending > 0 {
                    Outcome::Failed
                } else {
                    Outcome::Migrated
                });
                let state = if s.status == "Stopped" {
                    TaskState::Stopped
                } else if i.failed > 0 || i.pending > 0 {
                    TaskState::CompletedWithErrors
                } else {
                    TaskState::Completed
                };
                fin.message = Some(format!("{}: {}", state.as_str(), s.status));
                (state, Some(s), None)
            }
            Err(msg) => {
                fin.outcome = Some(Outcome::Failed);
                fin.message = Some(format!("FAILED: {msg}"));
                (TaskState::Failed, None, Some(msg))
            }
        };
        set_task(&shared, id, |t| {
            t.state = state;
            t.summary = summary;
            t.error = error;
        });
        em.emit(fin);
    }
    // After a stop, jobs the local target is still importing are not waited for long.
    let wait = if shared.stop.load(Ordering::SeqCst) {
        2
    } else {
        60
    };
    runner.shutdown(Duration::from_secs(wait)).await;
    em.emit(Event::new(EventKind::SessionFinished, None));
}

/// Marks the run finished, closes the pull queue, and drops the emitter: the host's finalizer
/// (user_data_free) runs here, after the last callback and before `wait` returns.
fn end_run(shared: &SessionShared, em: Emitter) {
    let pull = {
        let inner = shared.lock();
        inner.pull.clone()
    };
    if let Some(q) = pull {
        let dropped = q.dropped.load(Ordering::Relaxed);
        let mut st = q.q.lock().unwrap_or_else(|p| p.into_inner());
        if dropped > 0 {
            let mut e = Event::new(EventKind::Log, None);
            e.message = Some(format!(
                "{dropped} item events were dropped: the host did not take events fast enough"
            ));
            // Before SessionFinished, so SessionFinished stays the last event.
            let at = st.events.len().saturating_sub(1);
            st.events.insert(at, e);
        }
        st.closed = true;
        drop(st);
        q.cond.notify_all();
    }
    drop(em);
    shared.lock().run = RunState::Finished;
    shared.cond.notify_all();
}

fn set_task(shared: &SessionShared, id: Uuid, f: impl FnOnce(&mut TaskEntry)) {
    let mut inner = shared.lock();
    if let Some(t) = inner.tasks.iter_mut().find(|t| t.id == id) {
        f(t);
    }
}

async fn run_task(
    settings: &Settings,
    def: &Task,
    task: &str,
    counters: &Arc<Counters>,
    em: &Emitter,
    runner: &mut Runner,
) -> std::result::Result<Summary, String> {
    let mut cx = RunContext {
        working_folder: settings.working_folder.clone(),
        access_token: settings.access_token.clone(),
        ..RunContext::default()
    };
    if settings.per_item_events {
        let (em2, task2) = (em.clone(), task.to_string());
        cx.item_observer = Some(ItemObserver(Arc::new(move |o| {
            let mut e = Event::new(EventKind::Item, Some(&task2));
            e.item_path = Some(o.rel_path.to_string());
            e.outcome = Some(o.outcome);
            e.code = o.code.map(str::to_string);
            e.message = o.message.map(crate::secrets::redact);
            em2.emit(e);
        })));
    }

    // Progress, coalesced: read the counters a few times a second, report what changed.
    let ticker = {
        let (em, task, c) = (em.clone(), task.to_string(), counters.clone());
        let per_item = settings.per_item_events;
        tokio::spawn(async move {
            let mut last = Progress::default();
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let p = Progress::read(&c);
                emit_progress(&em, &task, &p, &last, per_item);
                last = p;
            }
        })
    };
    let result = runner.run(def, cx, counters.clone()).await;
    ticker.abort();
    let _ = ticker.await;
    // The final numbers, whatever the ticker last said.
    emit_progress(
        em,
        task,
        &Progress::read(counters),
        &Progress::default(),
        settings.per_item_events,
    );
    result.map_err(|e| e.message)
}

// ---------------------------------------------------------------------------------------------
// A diagnostic: events through the host's callback as fast as they go

/// Sends `per_thread` item events from each of `threads` threads through `cb`, the same path
/// a run's events take, and returns the events per second.
pub fn bench_events(cb: Callback, threads: u32, per_thread: u64) -> f64 {
    let em = Emitter {
        sink: Sink::Callback(cb),
        closed: Arc::new(AtomicBool::new(false)),
        active: Arc::new(AtomicU64::new(0)),
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads.max(1) {
            let em = em.clone();
            s.spawn(move || {
                let task = Uuid::new_v4().to_string();
                for i in 0..per_thread {
                    let mut e = Event::new(EventKind::Item, Some(&task));
                    e.items_done = i;
                    e.item_path = Some(format!("bench/{t}/{i}.txt"));
                    e.outcome = Some(Outcome::Migrated);
                    em.emit(e);
                }
            });
        }
    });
    let n = threads.max(1) as f64 * per_thread as f64;
    n / started.elapsed().as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_use_register_spmtmigration_names_and_reject_unknown_keys() {
        let s = Settings::from_json(
            r#"{"WorkingFolder":"/tmp/w","ScanOnly":true,"IncludeHiddenFiles":false,
                "SkipFilesWithExtension":"tmp:.bak","MigrateFilesModifiedAfter":"2020-01-02",
                "ReplacementOfInvalidChar":"_","PerItemEvents":true,"AccessToken":"t",
                "Incremental":true}"#,
        )
        .unwrap();
        let d = &s.task_defaults;
        assert!(d.scan_only && !d.include_hidden_files && s.per_item_events);
        assert_eq!(d.skip_files_with_extension, vec!["tmp", "bak"]);
        assert_eq!(d.replacement_of_invalid_char, Some('_'));
        assert_eq!(
            d.local_target_root,
            Some(PathBuf::from("/tmp/w/LocalTarget"))
        );
        assert_eq!(s.notes.len(), 1, "the deprecated Incremental is noted");
        assert!(!format!("{s:?}").contains("\"t\""));
        let e = Settings::from_json(r#"{"Bogus":1}"#).unwrap_err();
        assert!(matches!(&e, SessionError::InvalidArgument(m) if m.contains("'Bogus'")));
        let e = Settings::from_json(r#"{"MigrationType":"WORKFLOW"}"#).unwrap_err();
        assert!(matches!(&e, SessionError::NotSupported(u) if u.feature.contains("workflow")));
        let e = Settings::from_json(r#"{"UserMappingFile":"/x.csv"}"#).unwrap_err();
        assert!(
            matches!(&e, SessionError::NotSupported(u) if u.key == "UserMappingFile" && u.feature == "user mapping")
        );
        assert!(e.to_string().contains("UserMappingFile"), "{e}");
        assert!(Settings::from_json(r#"{"UseCustomAzureStorage":false}"#).is_ok());
        assert!(matches!(
            Settings::from_json("[1]"),
            Err(SessionError::InvalidJson(_))
        ));
    }

    #[test]
    fn tasks_take_the_session_settings_as_defaults_and_need_a_token_for_a_site() {
        let mut s = Settings::defaults(PathBuf::from("/tmp/w"));
        s.task_defaults.scan_only = true;
        let t = s
            .task(
                r#"{"Tasks":[{"SourcePath":"/data/x","TargetPath":"local","TargetList":"Documents",
                 "TargetListRelativePath":"a/b","Settings":{"MigrateHiddenItems":false}}]}"#,
            )
            .unwrap();
        assert_eq!(t.source, PathBuf::from("/data/x"));
        assert_eq!(t.target_list_relative_path, "a/b/x");
        assert!(t.settings.scan_only && !t.settings.include_hidden_files);
        let e = s
            .task(r#"{"SourcePath":"http://onprem/sites/a","TargetPath":"local","TargetList":"D"}"#)
            .unwrap_err();
        assert!(matches!(e, SessionError::NotSupported(_)));
        let e = s
            .task(r#"{"SourcePath":"/x","TargetPath":"https://t.sharepoint.com/sites/a","TargetList":"D"}"#)
            .unwrap_err();
        assert!(matches!(&e, SessionError::InvalidArgument(m) if m.contains("AccessToken")));
        let e = s
            .task(r#"{"SourcePath":"/x","TargetPath":"local"}"#)
            .unwrap_err();
        assert!(matches!(&e, SessionError::InvalidArgument(m) if m.contains("TargetList")));
        assert!(matches!(s.task("{"), Err(SessionError::InvalidJson(_))));
    }

    #[test]
    fn duplicate_tasks_are_refused_and_removal_needs_a_known_id() {
        let dir = tempfile::tempdir().unwrap();
        let s = Session::new(Settings::defaults(dir.path().into())).unwrap();
        let t = r#"{"SourcePath":"/x","TargetPath":"local","TargetList":"Documents"}"#;
        let id = s.add_task(t).unwrap();
        assert!(Uuid::parse_str(&id).is_ok());
        assert!(matches!(
            s.add_task(t),
            Err(SessionError::InvalidArgument(_))
        ));
        assert!(matches!(
            s.remove_task(&Uuid::new_v4().to_string()),
            Err(SessionError::NotFound(_))
        ));
        s.remove_task(&id).unwrap();
        assert!(matches!(s.start(None), Err(SessionError::InvalidState(_))));
        assert!(matches!(s.wait(None), Err(SessionError::InvalidState(_))));
        s.shutdown(Duration::from_secs(5));
    }
}

//! A migration session as SPMT's PowerShell module shapes it (Register-SPMTMigration →
//! Add-SPMTTask ×N → Start-SPMTMigration → Get-SPMTMigration / Stop-SPMTMigration), in plain
//! Rust: settings and tasks from JSON with SPMT's names, a tokio runtime owned by the session,
//! tasks run one after another through the one [`crate::runner::Runner`], and events coalesced
//! from the engine's counters. `crate::ffi` is a thin C layer over this module.
//!
//! Each start is one round over every task of the session: the first sends everything, later
//! rounds only new and changed files (the working folder's state makes that exact).
//!
//! Here: the session's lifecycle (tasks, start, stop, wait, shutdown). Its settings are in
//! `settings`, the events a host receives in `events`, the run loop in `run`, and
//! Get-SPMTMigration's view in `status`.

mod events;
mod run;
mod settings;
mod status;

pub use events::{bench_events, in_callback, Callback, Event, EventKind};
use events::{Emitter, PullQueue, Sink};
use run::{end_run, run_session};
pub use settings::Settings;

use crate::engine::{Counters, Summary};
use crate::store::Outcome;
use crate::task::{Task, Unsupported};
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
    /// The farm account the task was added with (never recorded).
    source_credential: crate::source::sharepoint_server::FarmCredential,
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
    /// The working folder's log, for the run's own thread.
    log: tracing::Dispatch,
}

impl Session {
    pub fn new(settings: Settings) -> Result<Self> {
        crate::store::prepare_folder(&settings.working_folder).map_err(|e| {
            SessionError::InvalidArgument(format!(
                "WorkingFolder: {e}; give a folder this account can create and write"
            ))
        })?;
        // The session's threads log to its working folder's spmt.log (the path its reports name).
        let dispatch =
            crate::logging::file_dispatch(&crate::logging::log_file(&settings.working_folder));
        let on_start = dispatch.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("spmt-session")
            .on_thread_start(move || {
                // For the thread's whole life: the guard would only restore "none".
                std::mem::forget(tracing::dispatcher::set_default(&on_start));
            })
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
            log: dispatch,
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
        let (def, source_credential) = self.shared.settings.task(task_json)?;
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
            source_credential,
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
                let q = PullQueue::new();
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
        let log = self.log.clone();
        let runner = std::thread::Builder::new()
            .name("spmt-session-run".into())
            .spawn(move || {
                let _log = tracing::dispatcher::set_default(&log);
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle.block_on(run_session(shared.clone(), &emitter))
                }));
                if let Err(p) = r {
                    let mut e = Event::new(EventKind::Log, None);
                    e.message = Some(format!("internal error: the run panicked: {p:?}"));
                    // A log line marked Failed is a problem for the user, not a diagnostic.
                    e.outcome = Some(Outcome::Failed);
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
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.get_mut().ok().and_then(|r| r.take()) {
            let _ = self.stop();
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_working_folder_that_cannot_be_written_is_refused_at_once() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // A folder below a plain file can never be created.
        let bad = file.path().join("w");
        let e = match Session::new(Settings::defaults(bad.clone())) {
            Err(e) => e,
            Ok(_) => panic!("a session on {} was accepted", bad.display()),
        };
        assert!(
            matches!(&e, SessionError::InvalidArgument(m)
            if m.starts_with("WorkingFolder") && m.contains(&bad.display().to_string())),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("new/w");
        Session::new(Settings::defaults(good.clone())).unwrap();
        assert!(good.is_dir(), "created at once");
        assert_eq!(
            std::fs::read_dir(&good).unwrap().count(),
            0,
            "no probe left behind"
        );
    }

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
        let e = Settings::from_json(r#"{"PreservePermission":true}"#).unwrap_err();
        assert!(
            matches!(&e, SessionError::NotSupported(u) if u.key == "PreservePermission" && u.feature == "preserving file share permissions")
        );
        assert!(e.to_string().contains("PreservePermission"), "{e}");
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
        let (t, _) = s
            .task(
                r#"{"Tasks":[{"SourcePath":"/data/x","TargetPath":"local","TargetList":"Documents",
                 "TargetListRelativePath":"a/b","Settings":{"MigrateHiddenItems":false}}]}"#,
            )
            .unwrap();
        assert_eq!(
            t.source,
            crate::task::Source::FileShare(PathBuf::from("/data/x"))
        );
        assert_eq!(t.target_list_relative_path, "a/b/x");
        assert!(t.settings.scan_only && !t.settings.include_hidden_files);
        let e = s
            .task(r#"{"SourcePath":"http://onprem/sites/a","TargetPath":"local","TargetList":"D"}"#)
            .unwrap_err();
        assert!(
            matches!(&e, SessionError::InvalidArgument(m) if m.contains("SourceList")),
            "{e}"
        );
        // The farm account comes out of the task: never part of its record.
        let (t, cred) = s
            .task(
                r#"{"SharePointSourceSiteUrl":"http://onprem/sites/a","SourceList":"D","TargetPath":"local",
                 "TargetList":"D","SharePointSourceCredential":{"UserName":"CONTOSO\\u","Password":"farm-secret"}}"#,
            )
            .unwrap();
        assert_eq!(format!("{cred:?}"), "Windows(CONTOSO\\u)");
        assert!(!t.source.record().contains("farm-secret"));
        for bad in [
            r#""CONTOSO\\u:farm-secret""#,
            r#"{"UserName":"","Password":"farm-secret"}"#,
            r#"{"UserName":"u","Password":"farm-secret","Auth":"kerberos"}"#,
        ] {
            let e = s
                .task(&format!(
                    r#"{{"SourcePath":"http://onprem/sites/a","SourceList":"D","TargetPath":"local","TargetList":"D","SharePointSourceCredential":{bad}}}"#
                ))
                .unwrap_err();
            assert!(
                matches!(&e, SessionError::InvalidArgument(m) if m.contains("SharePointSourceCredential") && !m.contains("farm-secret")),
                "{e}"
            );
        }
        let e = s
            .task(r#"{"SourcePath":"/data/x","TargetPath":"local","TargetList":"D","SharePointSourceCredential":{"UserName":"u","Password":"p"}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("folder"), "{e}");
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

//! A migration session as SPMT's PowerShell module shapes it (Register-SPMTMigration →
//! Add-SPMTTask ×N → Start-SPMTMigration → Get-SPMTMigration / Stop-SPMTMigration), in plain
//! Rust: settings and tasks from JSON with SPMT's names, a tokio runtime owned by the session,
//! tasks run one after another through [`engine::migrate`], and events coalesced from the
//! engine's counters. `crate::ffi` is a thin C layer over this module.
//!
//! Each start is one round over every task of the session: the first sends everything, later
//! rounds only new and changed files (the working folder's state makes that exact).

use crate::emulator::{self, EmulatorConfig, EmulatorHandle};
use crate::engine::{self, Counters, ItemObserver, MigrateOptions, Summary};
use crate::store::Outcome;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use uuid::Uuid;

/// What went wrong, by kind (the C ABI maps each kind to a fixed status code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("not supported yet: {0}")]
    NotSupported(String),
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

fn invalid(msg: impl Into<String>) -> SessionError {
    SessionError::InvalidArgument(msg.into())
}

// ---------------------------------------------------------------------------------------------
// Settings (Register-SPMTMigration's parameter names, reference spmt-features.md §1.3)

/// Session settings. Keys are Register-SPMTMigration's parameter names (matched without regard
/// to case, as SPMT's JSON reader does) plus `WorkingFolder`, `AccessToken`, `LocalTargetRoot`
/// and `PerItemEvents`.
#[derive(Clone)]
pub struct Settings {
    pub scan_only: bool,
    pub include_hidden_files: bool,
    pub migrate_files_created_after: Option<SystemTime>,
    pub migrate_files_modified_after: Option<SystemTime>,
    pub skip_files_with_extension: Vec<String>,
    pub replacement_of_invalid_char: Option<char>,
    /// SPMT's switch: migrate the source folder's contents, not the folder itself.
    pub migrate_without_root_folder: bool,
    pub working_folder: PathBuf,
    pub access_token: Option<String>,
    /// Data folder of the embedded local target (tasks whose target is `local`).
    pub local_target_root: PathBuf,
    /// One event per item outcome instead of a periodic summary.
    pub per_item_events: bool,
    /// spmt's own, as the CLI's --check-content, --propagate-deletes and --follow-symlinks.
    pub check_content: bool,
    pub propagate_deletes: bool,
    pub follow_symlinks: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("scan_only", &self.scan_only)
            .field("working_folder", &self.working_folder)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "REDACTED"),
            )
            .field("local_target_root", &self.local_target_root)
            .field("per_item_events", &self.per_item_events)
            .finish_non_exhaustive()
    }
}

fn get_bool(key: &str, v: &Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| invalid(format!("setting '{key}': expected true or false, got {v}")))
}

fn get_str<'a>(key: &str, v: &'a Value) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| invalid(format!("setting '{key}': expected a string, got {v}")))
}

/// A date setting, by the task model's one parser (`engine::task::parse_date`).
fn get_date(key: &str, v: &Value) -> Result<SystemTime> {
    engine::task::parse_date(get_str(key, v)?, key).map_err(invalid)
}

/// `"tmp:bak"` (SPMT's form), `"tmp;bak"`, or `["tmp", "bak"]`; dots are dropped.
fn get_extensions(key: &str, v: &Value) -> Result<Vec<String>> {
    let parts: Vec<String> = match v {
        Value::String(s) => s.split([':', ';', ',']).map(str::to_string).collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| get_str(key, x).map(str::to_string))
            .collect::<Result<_>>()?,
        _ => {
            return Err(invalid(format!(
                "setting '{key}': expected \"ext1:ext2\" or a list of strings"
            )))
        }
    };
    Ok(parts
        .iter()
        .map(|p| p.trim().trim_start_matches('.').to_string())
        .filter(|p| !p.is_empty())
        .collect())
}

fn parse_object(json: &str, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(SessionError::InvalidJson(format!(
            "{what} must be a JSON object"
        ))),
        Err(e) => Err(SessionError::InvalidJson(format!("{what}: {e}"))),
    }
}

/// Settings the engine does not have yet: accepted only with a value that asks for nothing.
fn unsupported(key: &str, v: &Value, feature: &str) -> Result<()> {
    let inert = match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if inert {
        Ok(())
    } else {
        Err(SessionError::NotSupported(format!(
            "{feature} (setting '{key}')"
        )))
    }
}

const SP_SOURCE: &str = "SharePoint Server sources";

impl Settings {
    pub fn defaults(working_folder: PathBuf) -> Self {
        Settings {
            scan_only: false,
            include_hidden_files: true,
            migrate_files_created_after: None,
            migrate_files_modified_after: None,
            skip_files_with_extension: Vec::new(),
            replacement_of_invalid_char: None,
            migrate_without_root_folder: false,
            local_target_root: working_folder.join("LocalTarget"),
            working_folder,
            access_token: None,
            per_item_events: false,
            check_content: false,
            propagate_deletes: false,
            follow_symlinks: false,
        }
    }

    pub fn from_json(json: &str) -> Result<Self> {
        let m = parse_object(json, "settings")?;
        let mut wf = None;
        let mut ltr = None;
        let mut s = Settings::defaults(PathBuf::new());
        for (key, v) in &m {
            let k = key.to_ascii_lowercase();
            if v.is_null() {
                // PowerShell sends unset parameters as null.
                continue;
            }
            match k.as_str() {
                "workingfolder" => wf = Some(PathBuf::from(get_str(key, v)?)),
                "localtargetroot" => ltr = Some(PathBuf::from(get_str(key, v)?)),
                "accesstoken" => {
                    let t = get_str(key, v)?;
                    s.access_token = (!t.is_empty()).then(|| t.to_string());
                }
                "peritemevents" => s.per_item_events = get_bool(key, v)?,
                "checkcontent" => s.check_content = get_bool(key, v)?,
                "propagatedeletes" => s.propagate_deletes = get_bool(key, v)?,
                "followsymlinks" => s.follow_symlinks = get_bool(key, v)?,
                "scanonly" => s.scan_only = get_bool(key, v)?,
                "includehiddenfiles" => s.include_hidden_files = get_bool(key, v)?,
                "migratefilescreatedafter" => {
                    s.migrate_files_created_after = Some(get_date(key, v)?)
                }
                "migratefilesmodifiedafter" => {
                    s.migrate_files_modified_after = Some(get_date(key, v)?)
                }
                "skipfileswithextension" => s.skip_files_with_extension = get_extensions(key, v)?,
                "replacementofinvalidchar" => {
                    let t = get_str(key, v)?;
                    let mut chars = t.chars();
                    match (chars.next(), chars.next()) {
                        (None, _) => s.replacement_of_invalid_char = None,
                        (Some(c), None) => {
                            if crate::scan::check_name(&c.to_string(), None).is_err() {
                                return Err(invalid(format!("setting '{key}': '{c}' is itself not allowed in SharePoint names; use e.g. '_'")));
                            }
                            s.replacement_of_invalid_char = Some(c)
                        }
                        _ => {
                            return Err(invalid(format!(
                                "setting '{key}': one character expected, got '{t}'"
                            )))
                        }
                    }
                }
                "migratewithoutrootfolder" => s.migrate_without_root_folder = get_bool(key, v)?,
                // Accepted with any value: rounds are always incremental here; a file share has
                // one version per file; there is no update check; the handle is the session.
                "enablemultiround"
                | "migratefileversionhistory"
                | "keepallversions"
                | "numberofversiontomigrate"
                | "ignoreupdate"
                | "force" => {}
                "startmigrationautomaticallywhennoscanissue" => {
                    if !get_bool(key, v)? {
                        return Err(SessionError::NotSupported(format!(
                            "pausing between scan and migration (setting '{key}' = false)"
                        )));
                    }
                }
                "enableencryption" => {
                    if !get_bool(key, v)? {
                        return Err(SessionError::NotSupported(format!(
                            "unencrypted packages (setting '{key}' = false); spmt always encrypts"
                        )));
                    }
                }
                "migrationtype" => {
                    let t = get_str(key, v)?;
                    if !t.eq_ignore_ascii_case("CONTENT") {
                        return Err(SessionError::NotSupported(format!(
                            "MigrationType '{t}' (only CONTENT)"
                        )));
                    }
                }
                "spocredential" => {
                    return Err(SessionError::NotSupported(format!(
                        "sign-in with credentials (setting '{key}'); pass an OAuth token as AccessToken"
                    )))
                }
                "usermappingfile" | "automaticusermapping" | "azureactivedirectorylookup" => {
                    unsupported(key, v, "user mapping")?
                }
                "preserveuserpermissionsforfileshare" => {
                    unsupported(key, v, "file share permissions")?
                }
                "usecustomazurestorage"
                | "customazurestorageaccount"
                | "customazureaccesskey"
                | "deletetempfileswhenmigrationdone" => {
                    unsupported(key, v, "custom Azure storage")?
                }
                "defaultflowowneremail" | "handleunspportedworkflowactions" => {
                    unsupported(key, v, "workflow migration")?
                }
                "migrateallsitefieldsandcontenttypes"
                | "skipsiteswithname"
                | "skiplistswithname"
                | "skipcontenttypeswithname"
                | "duplicatepagebehavior"
                | "preserveuserpermissionsforsharepointsource"
                | "preservepermissioninheritance"
                | "migratesitesettings"
                | "skiplistwithaudiencetargetingenabled"
                | "migratenavigation"
                | "migratetermgroups"
                | "lookupreferencepolicy"
                | "disablenoscriptduringmigration" => unsupported(key, v, SP_SOURCE)?,
                _ => {
                    return Err(invalid(format!(
                        "unknown setting '{key}' (names follow Register-SPMTMigration's parameters, plus WorkingFolder, AccessToken, LocalTargetRoot, PerItemEvents)"
                    )))
                }
            }
        }
        s.working_folder = match wf {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => engine::default_working_folder("session"),
        };
        s.local_target_root = match ltr {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => s.working_folder.join("LocalTarget"),
        };
        Ok(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks (SPMT's JSON task format, reference spmt-features.md §2.2, or Add-SPMTTask's FileShare set)

/// One file-share task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDef {
    pub source: PathBuf,
    /// `local` for the embedded local target, or a site URL.
    pub target_site_url: String,
    pub target_list: String,
    pub target_list_relative_path: String,
    pub migrate_hidden_items: Option<bool>,
    pub created_after: Option<SystemTime>,
    pub modified_after: Option<SystemTime>,
    pub skip_extensions: Option<Vec<String>>,
}

impl TaskDef {
    pub fn is_local(&self) -> bool {
        self.target_site_url.eq_ignore_ascii_case("local")
    }

    /// `{SourcePath, TargetPath, TargetList, TargetListRelativePath, Settings}` (SPMT JSON),
    /// `{FileShareSource, TargetSiteUrl, TargetList, …}` (Add-SPMTTask's FileShare set), or a
    /// `{"Tasks": [one task]}` file.
    pub fn from_json(json: &str, settings: &Settings) -> Result<Self> {
        let mut m = parse_object(json, "task")?;
        if let Some((_, tasks)) = m.iter().find(|(k, _)| k.eq_ignore_ascii_case("tasks")) {
            match tasks {
                Value::Array(a) if a.len() == 1 => match &a[0] {
                    Value::Object(t) => m = t.clone(),
                    _ => return Err(invalid("task: Tasks[0] must be an object")),
                },
                _ => {
                    return Err(invalid(
                        "task: a Tasks list must hold exactly one task; add tasks one at a time",
                    ))
                }
            }
        }
        let mut t = TaskDef {
            source: PathBuf::new(),
            target_site_url: String::new(),
            target_list: String::new(),
            target_list_relative_path: String::new(),
            migrate_hidden_items: None,
            created_after: None,
            modified_after: None,
            skip_extensions: None,
        };
        for (key, v) in &m {
            if v.is_null() {
                continue;
            }
            match key.to_ascii_lowercase().as_str() {
                "sourcepath" | "filesharesource" => t.source = PathBuf::from(get_str(key, v)?),
                "targetpath" | "targetsiteurl" => t.target_site_url = get_str(key, v)?.to_string(),
                "targetlist" => t.target_list = get_str(key, v)?.to_string(),
                "targetlistrelativepath" => {
                    t.target_list_relative_path = get_str(key, v)?.to_string()
                }
                "migrationtype" => {
                    let s = get_str(key, v)?;
                    if !s.eq_ignore_ascii_case("content") {
                        return Err(SessionError::NotSupported(format!(
                            "MigrationType '{s}' (only Content)"
                        )));
                    }
                }
                "items" | "sharepointsourcesiteurl" | "sourcelist" | "sourcelistrelativepath"
                | "migrateall" => {
                    return Err(SessionError::NotSupported(format!(
                        "{SP_SOURCE} (task field '{key}')"
                    )))
                }
                "settings" => {
                    let Value::Object(s) = v else {
                        return Err(invalid("task: Settings must be an object"));
                    };
                    t.apply_settings(s)?;
                }
                _ => {
                    return Err(invalid(format!(
                        "task: unknown field '{key}' (SPMT JSON: SourcePath, TargetPath, TargetList, TargetListRelativePath, Settings)"
                    )))
                }
            }
        }
        if t.source.as_os_str().is_empty() {
            return Err(invalid(
                "task: SourcePath is missing (the file-share folder)",
            ));
        }
        let src = t.source.to_string_lossy();
        if src.starts_with("http://") || src.starts_with("https://") {
            return Err(SessionError::NotSupported(format!(
                "{SP_SOURCE} (SourcePath '{src}'); give a file-share folder"
            )));
        }
        if t.target_site_url.is_empty() {
            return Err(invalid(
                "task: TargetPath is missing (a site URL, or 'local' for the embedded local target)",
            ));
        }
        if !t.is_local() {
            let u = url::Url::parse(&t.target_site_url).map_err(|e| {
                invalid(format!(
                    "task: TargetPath '{}' is not a URL ({e}); use a site URL or 'local'",
                    t.target_site_url
                ))
            })?;
            if u.scheme() != "https" && u.scheme() != "http" {
                return Err(invalid(format!(
                    "task: TargetPath '{}' must be an http(s) site URL or 'local'",
                    t.target_site_url
                )));
            }
            if settings.access_token.is_none() {
                return Err(invalid(format!(
                    "task: TargetPath '{}' needs an AccessToken in the session settings",
                    t.target_site_url
                )));
            }
        }
        if t.target_list.is_empty() {
            return Err(invalid(
                "task: TargetList is missing (the document library's title, e.g. Documents)",
            ));
        }
        Ok(t)
    }

    fn apply_settings(&mut self, m: &Map<String, Value>) -> Result<()> {
        for (key, v) in m {
            if v.is_null() {
                continue;
            }
            match key.to_ascii_lowercase().as_str() {
                "migratehiddenitems" => self.migrate_hidden_items = Some(get_bool(key, v)?),
                "migrateitemscreatedafter" => self.created_after = Some(get_date(key, v)?),
                "migrateitemsmodifiedafter" => self.modified_after = Some(get_date(key, v)?),
                "skipfileswithextensions" => self.skip_extensions = Some(get_extensions(key, v)?),
                "enableincremental"
                | "migratefileversionhistory"
                | "keepfileversions"
                | "migrateonenotenotebook"
                | "skiplistwithaudienceenabled" => {}
                "preservepermission" => unsupported(key, v, "file share permissions")?,
                "enableazuredirectorylookup" | "usermappingcsvfile" => {
                    unsupported(key, v, "user mapping")?
                }
                "usecustomazurestorage"
                | "customazurestorageaccount"
                | "customazureaccesskey"
                | "customazuredeletionaftermig" => unsupported(key, v, "custom Azure storage")?,
                "migrateallwebstructures" => unsupported(key, v, SP_SOURCE)?,
                "filteroutpathspecialcharacters" => {
                    unsupported(key, v, "filtering out special-character paths")?
                }
                _ => return Err(invalid(format!("task: unknown setting 'Settings.{key}'"))),
            }
        }
        Ok(())
    }

    /// `local`, or the site URL: the target as the task's identity names it.
    fn target_name(&self) -> String {
        if self.is_local() {
            engine::task::LOCAL.to_string()
        } else {
            self.target_site_url.clone()
        }
    }

    /// The folder in the library the items land in: SPMT migrates the source folder itself
    /// (under TargetListRelativePath) unless MigrateWithoutRootFolder is set.
    fn effective_relative_path(&self, settings: &Settings) -> String {
        let base = self.target_list_relative_path.trim_matches(['/', '\\']);
        if settings.migrate_without_root_folder {
            return base.to_string();
        }
        match self.source.file_name().map(|n| n.to_string_lossy()) {
            Some(name) if base.is_empty() => name.into_owned(),
            Some(name) => format!("{base}/{name}"),
            None => base.to_string(),
        }
    }

    /// The engine's task id (`engine::task::task_id`): the same migration is the same task in
    /// every round and in `spmt status`.
    fn task_id(&self, settings: &Settings) -> Uuid {
        let source = std::path::absolute(&self.source).unwrap_or_else(|_| self.source.clone());
        engine::task::task_id(
            &source,
            &self.target_name(),
            &self.target_list,
            &self.effective_relative_path(settings),
        )
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
    def: TaskDef,
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
        let def = TaskDef::from_json(task_json, &self.shared.settings)?;
        let id = def.task_id(&self.shared.settings);
        let mut inner = self.shared.lock();
        if inner.tasks.iter().any(|t| t.id == id) {
            // SPMT's words (reference §2.1).
            return Err(invalid("A duplicate task has already been created."));
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
        let id = Uuid::parse_str(task_id.trim())
            .map_err(|_| invalid(format!("'{task_id}' is not a task id (a GUID)")))?;
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
                .unwrap_or_else(|| inited_status(t, &self.shared.settings, &wf));
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
                let pct = p.percent().max(ts.migrating_progress_percentage as u64);
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
        let state = |v: &Value| {
            v.get("Status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let states: Vec<String> = tasks.iter().map(state).collect();
        let any = |w: &str| states.iter().any(|s| s == w);
        let (status, result) = match inner.run {
            RunState::NotStarted => ("NotStarted", None),
            RunState::Running => ("Running", None),
            RunState::Finished if any("FAILED") => ("Finished", Some("Failed")),
            RunState::Finished if any("STOPPED") || any("INTERRUPTED") || any("INITED") => {
                ("Finished", Some("Interrupted"))
            }
            RunState::Finished if any("COMPLETED_WITH_ERRORS") => {
                ("Finished", Some("FinishedWithErrors"))
            }
            RunState::Finished => ("Finished", Some("Succeeded")),
        };
        Ok(serde_json::json!({
            "Id": persisted.as_ref().map(|p| p.id.clone()),
            "Status": status,
            "Result": result,
            "WorkingFolder": wf.display().to_string(),
            "ReportFolderPath": crate::report::folder(&wf).display().to_string(),
            "StatusOfTasks": tasks,
        }))
    }
}

/// A task the working folder has no round of yet.
fn inited_status(
    t: &TaskEntry,
    settings: &Settings,
    wf: &std::path::Path,
) -> crate::status::TaskStatus {
    let rel = t.def.effective_relative_path(settings);
    let mut target = format!(
        "{}/{}",
        t.def.target_name().trim_end_matches('/'),
        t.def.target_list
    );
    if !rel.is_empty() {
        target.push('/');
        target.push_str(&rel);
    }
    let id = t.id.to_string();
    crate::status::TaskStatus {
        source_uri: std::path::absolute(&t.def.source)
            .unwrap_or_else(|_| t.def.source.clone())
            .display()
            .to_string(),
        target_uri: target,
        target_list: t.def.target_list.clone(),
        target_list_relative_path: rel,
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
        settings: Value::Null,
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

    /// Half for the bytes uploaded, half for the items imported; 0 until the scan is done.
    fn percent(&self) -> u64 {
        if !self.scan_done || self.scanned == 0 {
            return 0;
        }
        let up =
            self.uploaded_bytes.min(self.scanned_bytes) as f64 / self.scanned_bytes.max(1) as f64;
        let im = (self.imported.min(self.scanned)) as f64 / self.scanned as f64;
        (((up + im) * 50.0) as u64).min(99)
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
    let mut local: Option<(EmulatorHandle, String, String)> = None;
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
            def.target_site_url,
            def.target_list
        ));
        em.emit(e);

        let abandon = &shared.abandon_local_jobs;
        let result = run_task(&settings, &def, &task, &counters, em, abandon, &mut local).await;
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
    if let Some((h, _, _)) = local.take() {
        // After a stop, jobs the local target is still importing are not waited for long.
        let wait = if shared.stop.load(Ordering::SeqCst) {
            2
        } else {
            60
        };
        let _ = tokio::time::timeout(Duration::from_secs(wait), h.shutdown()).await;
    }
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
    def: &TaskDef,
    task: &str,
    counters: &Arc<Counters>,
    em: &Emitter,
    abandon_jobs: &Arc<AtomicBool>,
    local: &mut Option<(EmulatorHandle, String, String)>,
) -> std::result::Result<Summary, String> {
    let (site_url, token) = if def.is_local() {
        if local.is_none() {
            let token = Uuid::new_v4().simple().to_string();
            let mut cfg =
                EmulatorConfig::embedded(settings.local_target_root.clone(), token.clone());
            cfg.abandon_jobs = abandon_jobs.clone();
            let h = emulator::start(cfg).await.map_err(|e| {
                format!(
                    "cannot start the local target in {}: {e}",
                    settings.local_target_root.display()
                )
            })?;
            let url = h.site_url("local");
            let mut e = Event::new(EventKind::Log, None);
            e.message = Some(format!(
                "local target at {url}, data in {}",
                settings.local_target_root.display()
            ));
            em.emit(e);
            *local = Some((h, url, token));
        }
        let (_, url, token) = local.as_ref().ok_or("no local target")?;
        (url.clone(), Some(token.clone()))
    } else {
        (def.target_site_url.clone(), settings.access_token.clone())
    };
    let mut opts = MigrateOptions::new(
        def.source.clone(),
        site_url,
        def.target_list.clone(),
        settings.working_folder.clone(),
    );
    opts.access_token = token;
    opts.target_name = def.target_name();
    if def.is_local() {
        opts.local_target_root = Some(
            std::path::absolute(&settings.local_target_root)
                .unwrap_or_else(|_| settings.local_target_root.clone()),
        );
    }
    opts.scan_only = settings.scan_only;
    opts.target_list_relative_path = def.effective_relative_path(settings);
    opts.scan.replace_invalid_char = settings.replacement_of_invalid_char;
    opts.scan.include_hidden = def
        .migrate_hidden_items
        .unwrap_or(settings.include_hidden_files);
    opts.scan.skip_extensions = def
        .skip_extensions
        .clone()
        .unwrap_or_else(|| settings.skip_files_with_extension.clone());
    opts.scan.created_after = def.created_after.or(settings.migrate_files_created_after);
    opts.scan.modified_after = def.modified_after.or(settings.migrate_files_modified_after);
    opts.scan.follow_symlinks = settings.follow_symlinks;
    opts.check_content = settings.check_content;
    opts.propagate_deletes = settings.propagate_deletes;
    if settings.per_item_events {
        let (em2, task2) = (em.clone(), task.to_string());
        opts.item_observer = Some(ItemObserver(Arc::new(move |o| {
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
    let result = engine::migrate(opts, counters.clone()).await;
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
    result.map_err(|e| crate::secrets::redact(&e.to_string()))
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
                "ReplacementOfInvalidChar":"_","PerItemEvents":true,"AccessToken":"t"}"#,
        )
        .unwrap();
        assert!(s.scan_only && !s.include_hidden_files && s.per_item_events);
        assert_eq!(s.skip_files_with_extension, vec!["tmp", "bak"]);
        assert_eq!(s.replacement_of_invalid_char, Some('_'));
        assert_eq!(s.local_target_root, PathBuf::from("/tmp/w/LocalTarget"));
        assert!(!format!("{s:?}").contains("\"t\""));
        let e = Settings::from_json(r#"{"Bogus":1}"#).unwrap_err();
        assert!(matches!(&e, SessionError::InvalidArgument(m) if m.contains("'Bogus'")));
        let e = Settings::from_json(r#"{"MigrationType":"WORKFLOW"}"#).unwrap_err();
        assert!(matches!(&e, SessionError::NotSupported(m) if m.contains("WORKFLOW")));
        let e = Settings::from_json(r#"{"UserMappingFile":"/x.csv"}"#).unwrap_err();
        assert!(matches!(&e, SessionError::NotSupported(m) if m.contains("user mapping")));
        assert!(Settings::from_json(r#"{"UseCustomAzureStorage":false}"#).is_ok());
        assert!(matches!(
            Settings::from_json("[1]"),
            Err(SessionError::InvalidJson(_))
        ));
    }

    #[test]
    fn tasks_read_spmt_json_and_refuse_sharepoint_sources() {
        let s = Settings::defaults(PathBuf::from("/tmp/w"));
        let t = TaskDef::from_json(
            r#"{"Tasks":[{"SourcePath":"/data/x","TargetPath":"local","TargetList":"Documents",
                 "TargetListRelativePath":"a/b","Settings":{"MigrateHiddenItems":false,
                 "SkipFilesWithExtensions":"txt:mp3","EnableIncremental":true}}]}"#,
            &s,
        )
        .unwrap();
        assert_eq!(t.source, PathBuf::from("/data/x"));
        assert_eq!(t.migrate_hidden_items, Some(false));
        assert_eq!(t.skip_extensions, Some(vec!["txt".into(), "mp3".into()]));
        let e = TaskDef::from_json(
            r#"{"SourcePath":"http://onprem/sites/a","TargetPath":"local","TargetList":"D"}"#,
            &s,
        )
        .unwrap_err();
        assert!(matches!(e, SessionError::NotSupported(_)));
        let e = TaskDef::from_json(
            r#"{"SourcePath":"/x","TargetPath":"https://t.sharepoint.com/sites/a","TargetList":"D"}"#,
            &s,
        )
        .unwrap_err();
        assert!(matches!(&e, SessionError::InvalidArgument(m) if m.contains("AccessToken")));
        let e = TaskDef::from_json(r#"{"SourcePath":"/x","TargetPath":"local"}"#, &s).unwrap_err();
        assert!(matches!(&e, SessionError::InvalidArgument(m) if m.contains("TargetList")));
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

//! The engine: runs one file-share task through scan → package → encrypt/upload → import →
//! outcomes, every stage concurrently, with memory bounded by a byte budget.
//!
//! Threads and tasks: the scan walks on its own thread; the recorder thread owns SQLite; the
//! packager, the uploads (several packages and files at once) and the job monitor are tokio
//! tasks. Progress is published as atomic counters that hosts read at their own pace, so a
//! million-file run never floods a terminal or an FFI callback.
//!
//! Where each stage lives: `round` wires one round from the stages; `scanner` drives the scan;
//! `recorder` owns the state; `send` packs (`packager`) and uploads (`upload`); `import`
//! submits, follows (`import::monitor`) and settles (`import::ledger`) jobs; `resume` settles
//! what an interrupted run left; `deletes` propagates deletions.

pub mod codes;
pub mod deletes;
pub mod import;
pub mod packager;
pub mod recorder;
pub mod resume;
mod round;
mod scanner;
mod send;
pub mod upload;

use crate::http::Http;
use crate::package::{PkgItem, Target};
use crate::scan;
use crate::spo::{SpoClient, SpoError};
use crate::store::{ItemRow, Outcome, OutcomeCounts, Store, StoreError};
use crate::task::Task;
use recorder::Rec;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// What to migrate, where to, and how: the one task model every front end builds.
    pub task: Task,
    /// Where requests go: the task's site URL, or the embedded local target's loopback URL.
    pub site_url: String,
    /// The token the SharePoint calls carry (renewed as it expires when signed in).
    pub bearer: crate::auth::Bearer,
    /// How to sign in to a SharePoint Server source (never recorded).
    pub source_credential: crate::source::sharepoint_server::FarmCredential,
    pub working_folder: PathBuf,
    pub max_package_items: usize,
    pub max_package_bytes: u64,
    /// Plaintext bytes per Put Block; files up to this size go in one Put Blob.
    pub block_size: usize,
    /// Memory budget for blocks in flight, MiB.
    pub budget_mib: u32,
    pub packages_in_flight: usize,
    pub files_in_flight_per_package: usize,
    pub blobs_in_flight: usize,
    pub poll_interval: Duration,
    pub progress_fallback_after: Duration,
    pub status_check_every: Duration,
    pub job_timeout: Duration,
    /// Work out what this round would send and delete, change nothing, send nothing.
    pub dry_run: bool,
    /// Set the working folder's state aside (kept as `spmt.db.set-aside-<time>`) and start a
    /// new session: the way on when that state is damaged.
    pub new_session: bool,
    /// Seconds between live report rewrites (they are also written at the end).
    pub report_every: Duration,
    /// Called on the recorder thread with every item's final outcome, when a host asks for
    /// per-item events (the C ABI's `PerItemEvents`). Keep it cheap: it runs inline.
    pub item_observer: Option<ItemObserver>,
    /// `--azure-storage-connection-string`: upload to the customer's own account instead of
    /// containers the service provisions (SPMT's CustomAzureStorageAccount).
    pub custom_storage: Option<crate::azure::StorageAccount>,
}

/// One item's final outcome, as handed to an [`ItemObserver`].
#[derive(Debug, Clone, Copy)]
pub struct ItemOutcome<'a> {
    /// Path relative to the source folder, `/`-separated.
    pub rel_path: &'a str,
    pub outcome: Outcome,
    /// SPMT's error code for failures (e.g. `0x01110010`).
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
}

/// See [`MigrateOptions::item_observer`].
#[derive(Clone)]
pub struct ItemObserver(pub Arc<dyn Fn(&ItemOutcome<'_>) + Send + Sync>);

impl std::fmt::Debug for ItemObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemObserver")
    }
}

impl MigrateOptions {
    /// Options to run `task` with the working folder's state; requests go to the task's
    /// site (a host running the local target points `site_url` at it, see [`Self::at`]).
    pub fn new(task: Task, working_folder: PathBuf) -> Self {
        let site_url = task.target.clone();
        Self::at(task, site_url, working_folder)
    }

    /// Options whose requests go to `site_url`; a loopback URL gets quick polling.
    pub fn at(task: Task, site_url: String, working_folder: PathBuf) -> Self {
        let loopback = url::Url::parse(&site_url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]")
            })
            .unwrap_or(false);
        MigrateOptions {
            task,
            dry_run: false,
            new_session: false,
            report_every: Duration::from_secs(5),
            site_url,
            bearer: crate::auth::Bearer::None,
            source_credential: Default::default(),
            working_folder,
            max_package_items: 250,
            max_package_bytes: 250 * 1024 * 1024,
            block_size: 8 * 1024 * 1024,
            budget_mib: 512,
            packages_in_flight: 8,
            files_in_flight_per_package: 32,
            blobs_in_flight: 16,
            // SPO asks for gentle polling; a loopback target answers at once.
            poll_interval: if loopback {
                Duration::from_millis(100)
            } else {
                Duration::from_secs(5)
            },
            progress_fallback_after: if loopback {
                Duration::from_secs(10)
            } else {
                Duration::from_secs(120)
            },
            status_check_every: if loopback {
                Duration::from_secs(5)
            } else {
                Duration::from_secs(60)
            },
            job_timeout: if loopback {
                Duration::from_secs(600)
            } else {
                Duration::from_secs(24 * 3600)
            },
            item_observer: None,
            custom_storage: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Target(#[from] SpoError),
    #[error(transparent)]
    Scan(#[from] scan::ScanError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--target-list-relative-path '{path}': {message}")]
    RelativePath { path: String, message: String },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    UserMapping(#[from] crate::people::MappingError),
}

impl EngineError {
    /// Usage/configuration problems (exit code 2) versus run failures.
    pub fn is_configuration(&self) -> bool {
        if let EngineError::Target(SpoError::SignIn(e)) = self {
            // A sign-in service that could not be reached is not the user's to fix.
            return e.configuration;
        }
        matches!(
            self,
            EngineError::Target(_)
                | EngineError::RelativePath { .. }
                | EngineError::Scan(_)
                | EngineError::Busy(_)
                | EngineError::UserMapping(_)
                | EngineError::Store(StoreError::Folder { .. } | StoreError::Damaged { .. })
        )
    }
}

pub use crate::progress::Counters;

/// One line per item that did not simply migrate, in the run's log file.
pub fn log_item(path: &str, outcome: Outcome, message: &str) {
    tracing::info!(item = %path, outcome = outcome.as_str(), "{}", crate::secrets::redact(message));
}

/// What every stage shares.
pub struct Shared {
    pub opts: MigrateOptions,
    pub http: Http,
    pub spo: SpoClient,
    pub target: Target,
    pub queue_uri: Option<String>,
    pub counters: Arc<Counters>,
    pub budget: Semaphore,
    /// Blobs being sent at once; lent back while a request waits out a throttle.
    pub blob_slots: Arc<Semaphore>,
    pub job_ids: Mutex<Vec<String>>,
    rec: Mutex<std::sync::mpsc::Sender<Rec>>,
    /// `--target-list-relative-path`, cleaned.
    prefix: String,
    /// Source paths of files whose target name differs (invalid characters replaced).
    sources: Mutex<std::collections::HashMap<uuid::Uuid, PathBuf>>,
    /// Where the items come from.
    pub reader: crate::source::Reader,
    /// The source's people as they are at the target.
    pub people: crate::people::People,
}

impl Shared {
    pub fn record(&self, r: Rec) {
        if let Ok(tx) = self.rec.lock() {
            let _ = tx.send(r);
        }
    }

    pub fn log_item(&self, path: &str, outcome: Outcome, message: &str) {
        log_item(path, outcome, message)
    }

    /// Source file of a package item: the target path maps back to the source unless the
    /// scan replaced characters in a name, in which case the scan remembered the source.
    pub fn source_path(&self, it: &PkgItem) -> PathBuf {
        self.sources
            .lock()
            .ok()
            .and_then(|m| m.get(&it.object_id).cloned())
            .unwrap_or_else(|| {
                let rel = it
                    .lib_rel
                    .strip_prefix(&self.prefix)
                    .unwrap_or(&it.lib_rel)
                    .trim_start_matches('/');
                self.reader.locate(rel)
            })
    }
}

/// What a dry run found: the source paths a round would send, and the target paths it would
/// delete (with `--propagate-deletes`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DryRun {
    pub would_send: Vec<String>,
    pub would_delete: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOutcome {
    /// Paths a dry run would delete.
    pub planned: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub status: String,
    pub task_id: String,
    pub round: i64,
    pub source: String,
    pub target_site_url: String,
    pub target_list: String,
    pub items: OutcomeCounts,
    pub scanned_items: u64,
    pub scanned_bytes: u64,
    pub uploaded_bytes: u64,
    pub packages: u64,
    pub job_ids: Vec<String>,
    pub duration_secs: f64,
    pub working_folder: String,
    pub report_folder: String,
    pub problems: Vec<ItemRow>,
    pub throttled_requests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRun>,
    /// Every HTTP request sent, throttled ones included (benchmarks: achieved request rate).
    pub http_requests: u64,
}

impl Summary {
    /// 0 when every item migrated or was skipped by a rule, 1 when any failed.
    pub fn exit_code(&self) -> i32 {
        if self.items.failed > 0 || self.items.pending > 0 {
            1
        } else {
            0
        }
    }
}

/// Runs one round of the task `opts` describes to the end and returns its summary.
/// `counters` may be watched meanwhile. The round is recorded in the working folder whatever
/// happens: a round that cannot start (unreadable source, unknown library) is recorded as
/// failed with its error, and reports are written for it.
pub async fn migrate(
    opts: MigrateOptions,
    counters: Arc<Counters>,
) -> Result<Summary, EngineError> {
    let mut opts = opts;
    // Absolute paths: the task's identity and its reports must not depend on the directory
    // the run was started from.
    opts.working_folder = std::path::absolute(&opts.working_folder).unwrap_or(opts.working_folder);
    std::fs::create_dir_all(&opts.working_folder).map_err(|e| StoreError::Folder {
        path: opts.working_folder.display().to_string(),
        source: e,
    })?;
    fit_open_file_limit(&mut opts);
    // The lock first: nothing may open, or set aside, the state of a round that is running.
    let _lock = crate::store::lock::acquire(&opts.working_folder).map_err(EngineError::Busy)?;
    let store = if opts.new_session {
        if let Some(aside) = crate::store::set_aside(&opts.working_folder).map_err(|e| {
            EngineError::Internal(format!(
                "cannot set the earlier state aside in {}: {e}",
                opts.working_folder.display()
            ))
        })? {
            tracing::warn!(kept = %aside.display(), "new session: the earlier state was set aside");
        }
        Store::open_new_session(&opts.working_folder)?
    } else {
        Store::open(&opts.working_folder)?
    };
    let task = &opts.task;
    let source = task.source.record();
    let task_id = task.id().to_string();
    store.session_id()?;
    store.ensure_task(
        &task_id,
        &source,
        &task.target,
        &task.target_list,
        &task.target_list_relative_path,
        &serde_json::to_string(&task.settings).unwrap_or_default(),
    )?;
    // A dry run works on a copy of the state, which it throws away.
    let mut scratch = None;
    let store = if opts.dry_run {
        let dir = opts
            .working_folder
            .join(format!(".dry-run-{}", uuid::Uuid::new_v4().simple()));
        let copy = store.copy_to(&dir)?;
        scratch = Some(dir);
        copy
    } else {
        store
    };
    let (run, round) = store.begin_run(
        &task_id,
        &source,
        &format!("{}|{}", opts.task.target, opts.task.target_list),
    )?;
    let folder = opts.working_folder.clone();
    let dry_run = opts.dry_run;
    let started = Instant::now();
    let id = round::RoundId {
        run,
        round,
        task_id: task_id.clone(),
    };
    let result = round::run(opts, counters.clone(), store, id).await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
        return result;
    }
    if let Err(e) = &result {
        // Record why the round failed; its items stay as the round left them.
        let message = crate::secrets::redact(&e.to_string());
        if let Ok(store) = Store::open(&folder) {
            let figures = round::figures(&counters, 0, started);
            let _ = store.finish_run(run, "Failed", Some(&message), &figures);
            if !dry_run {
                if let Err(w) = crate::report::write_round(&store, &folder, &task_id, run) {
                    tracing::warn!(error = %w, "cannot write the reports");
                }
            }
        }
    }
    result
}

/// Raises the open-file limit and, when it is still small, runs fewer blobs, files and
/// packages at once so the round fits in it (`crate::limits`).
fn fit_open_file_limit(opts: &mut MigrateOptions) {
    let limit = crate::limits::open_files();
    // Every file in flight may be open at once (one sitting out a throttle lends its blob
    // slot but keeps its file), so packages x files per package must fit, not only the blobs.
    let open_at_once = opts.packages_in_flight * opts.files_in_flight_per_package;
    let fit = crate::limits::blobs_in_flight(limit, open_at_once);
    if fit < open_at_once {
        let packages = opts.packages_in_flight.min(fit);
        let files = (fit / packages).max(1);
        if fit < opts.blobs_in_flight {
            tracing::warn!(
                limit,
                blobs = fit,
                "the open-file limit is low (ulimit -n): sending fewer files at once"
            );
        }
        opts.blobs_in_flight = opts.blobs_in_flight.min(fit);
        opts.files_in_flight_per_package = files;
        opts.packages_in_flight = packages;
    }
}

/// Default working folder: a per-user data directory, `spmt/<name>`.
pub fn default_working_folder(name: &str) -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(|| Path::new(".").to_path_buf())
        .join("spmt")
        .join(name)
}

//! The engine: runs one file-share task through scan → package → encrypt/upload → import →
//! outcomes, every stage concurrently, with memory bounded by a byte budget.
//!
//! Threads and tasks: the scan walks on its own thread; the recorder thread owns SQLite; the
//! packager, the uploads (several packages and files at once) and the job monitor are tokio
//! tasks. Progress is published as atomic counters that hosts read at their own pace, so a
//! million-file run never floods a terminal or an FFI callback.

pub mod deletes;
pub mod ledger;
pub mod monitor;
pub mod packager;
pub mod recorder;
pub mod resume;
pub mod upload;

use crate::azure::QueueClient;
use crate::http::Http;
use crate::package::{ids, PkgItem, Target};
use crate::report;
use crate::scan::{self, ItemKind};
use crate::spo::{SpoClient, SpoError};
use crate::store::{ItemRow, Outcome, OutcomeCounts, RunFigures, Store, StoreError};
use crate::task::Task;
use recorder::{Candidate, Rec, Recorder, Scanned};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, Semaphore};

/// Scanned items per message to the recorder.
const SCAN_BATCH: usize = 256;

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// What to migrate, where to, and how: the one task model every front end builds.
    pub task: Task,
    /// Where requests go: the task's site URL, or the embedded local target's loopback URL.
    pub site_url: String,
    pub access_token: Option<String>,
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
            access_token: None,
            working_folder,
            max_package_items: 250,
            max_package_bytes: 250 * 1024 * 1024,
            block_size: 8 * 1024 * 1024,
            budget_mib: 512,
            packages_in_flight: 4,
            files_in_flight_per_package: 8,
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
}

impl EngineError {
    /// Usage/configuration problems (exit code 2) versus run failures.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            EngineError::Target(_)
                | EngineError::RelativePath { .. }
                | EngineError::Scan(_)
                | EngineError::Busy(_)
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
    pub blob_slots: Semaphore,
    pub job_ids: Mutex<Vec<String>>,
    rec: Mutex<std::sync::mpsc::Sender<Rec>>,
    /// `--target-list-relative-path`, cleaned.
    prefix: String,
    /// Source paths of files whose target name differs (invalid characters replaced).
    sources: Mutex<std::collections::HashMap<uuid::Uuid, PathBuf>>,
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
                self.opts.task.source.join(rel)
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

fn build_target(site_url: &str, web: &crate::spo::WebInfo, list: &crate::spo::ListInfo) -> Target {
    Target {
        site_url: site_url.to_string(),
        web_url: web.server_relative_url.clone(),
        web_id: web.id,
        web_root_folder_id: web.root_folder_id,
        list_id: list.id,
        list_title: list.title.clone(),
        list_root_folder_id: list.root_folder_id,
        list_root_url: list.root_folder_url.clone(),
    }
}

fn clean_relative_path(p: &str) -> Result<String, EngineError> {
    let mut segs = Vec::new();
    for s in p.split(['/', '\\']).filter(|s| !s.is_empty()) {
        if s == "." || s == ".." {
            return Err(EngineError::RelativePath {
                path: p.into(),
                message: "'.' and '..' are not allowed".into(),
            });
        }
        scan::check_name(s, None).map_err(|(_, m)| EngineError::RelativePath {
            path: p.into(),
            message: format!("segment '{s}': {m}"),
        })?;
        segs.push(s.to_string());
    }
    Ok(segs.join("/"))
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
    let source = task.source.display().to_string();
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
    let result = run_round(opts, counters.clone(), store, run, round, task_id.clone()).await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
        return result;
    }
    if let Err(e) = &result {
        // Record why the round failed; its items stay as the round left them.
        let message = crate::secrets::redact(&e.to_string());
        if let Ok(store) = Store::open(&folder) {
            let figures = figures(&counters, 0, started);
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

fn figures(counters: &Counters, throttled: u64, started: Instant) -> RunFigures {
    RunFigures {
        scanned_items: counters.scanned_items.load(Ordering::Relaxed),
        scanned_bytes: counters.scanned_bytes.load(Ordering::Relaxed),
        uploaded_bytes: counters.uploaded_bytes.load(Ordering::Relaxed),
        packages: counters.packages.load(Ordering::Relaxed),
        throttled,
        duration_secs: started.elapsed().as_secs_f64(),
    }
}

async fn run_round(
    opts: MigrateOptions,
    counters: Arc<Counters>,
    store: Store,
    run: i64,
    round: i64,
    task_id: String,
) -> Result<Summary, EngineError> {
    let started = Instant::now();
    let http = Http::new().map_err(SpoError::from)?;
    let spo = SpoClient::new(http.clone(), &opts.site_url, opts.access_token.clone())?;
    let prefix = clean_relative_path(&opts.task.target_list_relative_path)?;
    // Fail fast on a missing source, before touching the target.
    let meta = std::fs::metadata(&opts.task.source).map_err(|e| scan::ScanError::Root {
        path: opts.task.source.display().to_string(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(scan::ScanError::NotADirectory {
            path: opts.task.source.display().to_string(),
        }
        .into());
    }
    let web = spo.web().await?;
    let list = spo.list_by_title(&opts.task.target_list).await?;
    let target = build_target(&opts.site_url, &web, &list);
    tracing::info!(web = %web.server_relative_url, list = %list.title, round, "target resolved");

    // New list-item ids go above the highest one the target already uses.
    let max_id = spo.max_item_id(&opts.task.target_list).await?;
    store.reserve_int_ids_above(&target.list_id.to_string(), max_id)?;
    let scan_only = opts.task.settings.scan_only || opts.dry_run;
    if !scan_only {
        let (settled, again) = resume::settle(&store, run, &spo, &target, &opts).await?;
        if settled + again > 0 {
            tracing::info!(
                settled,
                again,
                "settled the items an earlier, interrupted run left unconfirmed"
            );
        }
    }

    // The --target-list-relative-path folders: synthetic items every package re-declares.
    let mut prefix_folders = Vec::new();
    let mut acc = String::new();
    for seg in prefix.split('/').filter(|s| !s.is_empty()) {
        acc = if acc.is_empty() {
            seg.to_string()
        } else {
            format!("{acc}/{seg}")
        };
        let url = target.server_relative(&acc);
        prefix_folders.push(PkgItem {
            kind: ItemKind::Folder,
            lib_rel: acc.clone(),
            object_id: ids::object_id(target.list_id, &url),
            item_id: ids::list_item_id(target.list_id, &url),
            int_id: store.int_id(&target.list_id.to_string(), &url)?,
            size: 0,
            ctime: SystemTime::now(),
            mtime: SystemTime::now(),
            blob_name: String::new(),
        });
    }

    // The queue the service reports to, and the URL we read it with (they differ only in
    // customer storage, where the service gets `sp=rau` and we keep `raup`).
    let (queue_uri, queue_read_uri) = if scan_only {
        (None, None)
    } else if let Some(acct) = &opts.custom_storage {
        match acct.job_queue(&http).await {
            Ok((read, service)) => (Some(service), Some(read)),
            Err(e) => {
                tracing::warn!(error = %e, "creating the job queue in the custom storage account failed; following jobs with GetMigrationJobProgress");
                (None, None)
            }
        }
    } else {
        match spo.provision_queue().await {
            Ok(q) => (Some(q.job_queue_uri.clone()), Some(q.job_queue_uri)),
            Err(e) => {
                tracing::warn!(error = %e, "ProvisionMigrationQueue failed; following jobs with GetMigrationJobProgress");
                (None, None)
            }
        }
    };
    let queue = queue_read_uri
        .as_deref()
        .and_then(|u| QueueClient::new(http.clone(), u).ok());

    let (rec_tx, rec_rx) = std::sync::mpsc::channel::<Rec>();
    let (scan_tx, scan_rx) = std::sync::mpsc::sync_channel::<Rec>(16);
    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Vec<Scanned>>();
    let (cand_tx, mut cand_rx) = mpsc::channel::<Vec<Candidate>>(16);
    let mut scan_opts = opts.task.settings.scan_options();
    scan_opts.target_prefix = target
        .server_relative(&prefix)
        .trim_start_matches('/')
        .to_string();
    scan_opts.at_library_root = prefix.is_empty();
    let shared = Arc::new(Shared {
        budget: Semaphore::new(opts.budget_mib as usize),
        blob_slots: Semaphore::new(opts.blobs_in_flight.max(1)),
        opts: opts.clone(),
        http,
        spo,
        target: target.clone(),
        queue_uri,
        counters: counters.clone(),
        job_ids: Mutex::new(Vec::new()),
        rec: Mutex::new(rec_tx.clone()),
        prefix: prefix.clone(),
        sources: Mutex::new(Default::default()),
    });

    let recorder = Recorder {
        store,
        run,
        check_content: opts.task.settings.check_content,
        target: target.clone(),
        counters: counters.clone(),
        packaging: !scan_only,
        recycle: Some(recycle_tx),
        observer: opts.item_observer.clone(),
    };
    let rec_thread = std::thread::Builder::new()
        .name("spmt-recorder".into())
        .spawn(move || recorder.run(scan_rx, rec_rx, cand_tx))
        .map_err(|e| EngineError::Internal(e.to_string()))?;

    // Scan thread: the source is read by one thread, items flow to the recorder.
    let source = opts.task.source.clone();
    let sources = shared.clone();
    let scan_counters = counters.clone();
    let scan_thread = std::thread::Builder::new()
        .name("spmt-scan".into())
        .spawn(move || {
            // Items go to the recorder in batches: full, or after 50 ms on a slow share so
            // packaging never waits long for the first items.
            let mut batch = Vec::with_capacity(SCAN_BATCH);
            let mut sent = Instant::now();
            let r = scan::scan(&source, &scan_opts, |item| {
                if scan_counters.cancelled() {
                    return false;
                }
                let renamed = item.target_rel != item.rel_path;
                let item = Scanned::new(item, &sources.target, &sources.prefix);
                let it = &item.item;
                if it.kind == ItemKind::File && it.verdict == scan::Verdict::Migrate && renamed {
                    // A renamed item: remember where its bytes are.
                    if let Ok(mut m) = sources.sources.lock() {
                        m.insert(item.object_id, it.abs_path.clone());
                    }
                }
                batch.push(item);
                if batch.len() < SCAN_BATCH && sent.elapsed() < Duration::from_millis(50) {
                    return true;
                }
                sent = Instant::now();
                // A batch the recorder is done with is freed and reused here, on the thread
                // that allocated its items (see Recorder::recycle).
                let next = match recycle_rx.try_recv() {
                    Ok(mut v) => {
                        v.clear();
                        v
                    }
                    Err(_) => Vec::with_capacity(SCAN_BATCH),
                };
                let full = std::mem::replace(&mut batch, next);
                scan_tx.send(Rec::Scanned(full)).is_ok()
            });
            if !batch.is_empty() {
                let _ = scan_tx.send(Rec::Scanned(batch));
            }
            scan_counters.scan_done.store(true, Ordering::Relaxed);
            let _ = scan_tx.send(Rec::ScanDone);
            r
        })
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    drop(rec_tx);

    // Packager → uploads → monitor.
    let (sub_tx, sub_rx) = mpsc::channel(64);
    let monitor = tokio::spawn(monitor::run(shared.clone(), sub_rx, queue));
    let pk_shared = shared.clone();
    let reporter = (!opts.dry_run).then(|| {
        report::live::start(
            opts.working_folder.clone(),
            task_id.clone(),
            run,
            counters.clone(),
            opts.report_every,
        )
    });
    let pipeline = tokio::spawn(async move {
        let sh = pk_shared;
        let mut packager = packager::Packager::new(
            sh.opts.max_package_items,
            sh.opts.max_package_bytes,
            prefix_folders,
        );
        let slots = Arc::new(Semaphore::new(sh.opts.packages_in_flight.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let launch = |pkg: packager::Package,
                      slot: tokio::sync::OwnedSemaphorePermit,
                      tasks: &mut tokio::task::JoinSet<()>| {
            let rows: Vec<i64> = pkg.items.iter().map(|(r, _)| *r).collect();
            sh.counters
                .packaged_items
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            sh.counters.packages.fetch_add(1, Ordering::Relaxed);
            sh.record(Rec::Packaged {
                items: rows,
                package: pkg.id,
                bytes: pkg.bytes,
            });
            sh.record(Rec::Package {
                package: pkg.id,
                items: pkg.items.len() as u64,
                bytes: pkg.bytes,
                job_id: None,
                state: "Packaged",
            });
            let (sh2, sub_tx2) = (sh.clone(), sub_tx.clone());
            tasks.spawn(async move {
                let _slot = slot;
                let (res, failures, pkg) = upload::upload_package(sh2.clone(), pkg).await;
                for f in failures {
                    sh2.counters.failed_items.fetch_add(1, Ordering::Relaxed);
                    sh2.log_item(&format!("row {}", f.row), Outcome::Failed, &f.message);
                    sh2.record(Rec::Outcome {
                        item: f.row,
                        outcome: Outcome::Failed,
                        job_id: None,
                        code: Some(f.code.into()),
                        message: Some(f.message),
                    });
                }
                match res {
                    Ok(sub) => {
                        sh2.counters.submitted_jobs.fetch_add(1, Ordering::Relaxed);
                        sh2.record(Rec::Package {
                            package: sub.package,
                            items: sub.items.len() as u64,
                            bytes: 0,
                            job_id: Some(sub.job_id.to_string()),
                            state: "Submitted",
                        });
                        // The job id must be on disk before anything else happens: a run killed
                        // now is settled from it on resume instead of importing twice.
                        let (ack_tx, ack_rx) = std::sync::mpsc::channel();
                        sh2.record(Rec::Flush(ack_tx));
                        let acked = tokio::task::spawn_blocking(move || {
                            ack_rx.recv_timeout(Duration::from_secs(30))
                        })
                        .await;
                        if !matches!(acked, Ok(Ok(()))) {
                            sh2.counters.late_flushes.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                job = %sub.job_id,
                                "the job id was not recorded within 30 s; going on (a kill now would send its items again)"
                            );
                        }
                        let _ = sub_tx2.send(sub).await;
                    }
                    Err((code, message)) => {
                        tracing::error!(package = pkg.id, "{}", crate::secrets::redact(&message));
                        for (row, it) in &pkg.items {
                            sh2.counters.failed_items.fetch_add(1, Ordering::Relaxed);
                            sh2.log_item(&it.lib_rel, Outcome::Failed, &message);
                            sh2.record(Rec::Outcome {
                                item: *row,
                                outcome: Outcome::Failed,
                                job_id: None,
                                code: Some(code.into()),
                                message: Some(message.clone()),
                            });
                        }
                        sh2.record(Rec::Package {
                            package: pkg.id,
                            items: pkg.items.len() as u64,
                            bytes: 0,
                            job_id: None,
                            state: "Failed",
                        });
                    }
                }
            });
        };
        'candidates: while let Some(batch) = cand_rx.recv().await {
            if sh.counters.cancelled() {
                break;
            }
            if scan_only {
                continue;
            }
            for c in batch {
                if let Some(p) = packager.push(c) {
                    // Waiting for a slot here holds the scan back: packages in memory stay
                    // bounded.
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        break 'candidates;
                    };
                    launch(p, slot, &mut tasks);
                }
            }
        }
        if let Some(p) = packager.finish().filter(|_| !sh.counters.cancelled()) {
            if let Ok(slot) = slots.clone().acquire_owned().await {
                launch(p, slot, &mut tasks);
            }
        }
        while tasks.join_next().await.is_some() {}
        drop(sub_tx);
    });

    let scan_result = tokio::task::spawn_blocking(move || scan_thread.join()).await;
    let scan_result = match scan_result {
        Ok(Ok(r)) => r,
        _ => return Err(EngineError::Internal("the scan thread panicked".into())),
    };
    pipeline
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    monitor
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    counters.done.store(true, Ordering::Relaxed);
    // Last senders go away with `shared`; the recorder then commits and hands the store back.
    let job_ids = shared.job_ids.lock().map(|v| v.clone()).unwrap_or_default();
    let throttled = shared.http.stats.throttled.load(Ordering::Relaxed);
    let spo_for_deletes = shared.spo.clone();
    let http_requests = shared.http.stats.requests.load(Ordering::Relaxed);
    drop(shared);
    let store = tokio::task::spawn_blocking(move || rec_thread.join())
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
        .map_err(|_| EngineError::Internal("the recorder thread panicked".into()))??;
    scan_result?;

    if let Some(r) = reporter {
        r.stop();
    }

    let mut deletes = DeleteOutcome::default();
    if opts.task.settings.propagate_deletes || opts.dry_run {
        let vanished = deletes::vanished(&store, &task_id, run, &target.server_relative(&prefix))?;
        if opts.dry_run {
            deletes.planned = vanished.iter().map(|v| v.rel_path.clone()).collect();
        } else if !opts.task.settings.scan_only && !counters.cancelled() {
            deletes = deletes::apply(&store, run, &spo_for_deletes, vanished).await?;
        }
    }

    // Every item's outcome is settled: the item reports can be written while the round is
    // tallied and closed (a failure to start them leaves them to write_round).
    let reports_started = Instant::now();
    let item_reports = (!opts.dry_run)
        .then(|| report::start_item_reports(&store, &opts.working_folder, &task_id, run))
        .and_then(|r| {
            r.map_err(|e| tracing::warn!(error = %e, "item reports not started early"))
                .ok()
        });

    // Items still pending here were never confirmed: say so rather than call them migrated.
    let mut items = store.counts(run)?;
    let dry_run = opts.dry_run.then(|| DryRun {
        would_send: store.pending_paths(run).unwrap_or_default(),
        would_delete: deletes.planned.clone(),
    });
    if scan_only {
        items.pending = 0;
    }
    let status = if counters.cancelled() {
        "Stopped"
    } else if items.failed > 0 || items.pending > 0 {
        "CompletedWithErrors"
    } else if scan_only {
        "Scanned"
    } else {
        "Completed"
    };
    store.finish_run(run, status, None, &figures(&counters, throttled, started))?;
    let report_folder = report::folder(&opts.working_folder);
    if !opts.dry_run {
        match item_reports {
            Some(items) => {
                report::write_round_with(&store, &opts.working_folder, &task_id, run, items)
            }
            None => report::write_round(&store, &opts.working_folder, &task_id, run),
        }
        .map_err(|e| EngineError::Internal(format!("cannot write the reports: {e}")))?;
        tracing::info!(
            secs = reports_started.elapsed().as_secs_f64(),
            scan_and_send_secs = (reports_started - started).as_secs_f64(),
            "reports written"
        );
    }
    Ok(Summary {
        status: status.into(),
        task_id,
        round,
        source: opts.task.source.display().to_string(),
        target_site_url: opts.task.target.clone(),
        target_list: opts.task.target_list.clone(),
        problems: store.problems(run, 200, !scan_only)?,
        items,
        scanned_items: counters.scanned_items.load(Ordering::Relaxed),
        scanned_bytes: counters.scanned_bytes.load(Ordering::Relaxed),
        uploaded_bytes: counters.uploaded_bytes.load(Ordering::Relaxed),
        packages: counters.packages.load(Ordering::Relaxed),
        job_ids,
        duration_secs: started.elapsed().as_secs_f64(),
        working_folder: opts.working_folder.display().to_string(),
        report_folder: report_folder.display().to_string(),
        throttled_requests: throttled,
        dry_run,
        http_requests,
    })
}

/// Default working folder: a per-user data directory, `spmt/<name>`.
pub fn default_working_folder(name: &str) -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(|| Path::new(".").to_path_buf())
        .join("spmt")
        .join(name)
}

//! Reports under `<working folder>/Report/`, with SPMT's file and column names (reference
//! spmt-features.md §3; columns beyond SPMT's come after them):
//!
//! ```text
//! Report/SummaryReport.csv            one row per task round, every task of the session
//! Report/summary.json                 the same facts for programs (+ failures by reason, samples)
//! Report/report.html                  one self-contained page with charts, for people
//! Report/TaskReport_<task id>/        one set per round n:
//!     SummaryReport_R<n>.csv  ItemReport_R<n>.csv  ItemFailureReport_R<n>.csv
//!     FailureSummaryReport_R<n>.csv  ScanSummary_R<n>.csv  StructureReport_R<n>.csv
//!     PerformanceReport_R<n>.csv
//! ```
//!
//! Rounds count from 1. Reports are rewritten while a round runs (see `live`) and once more
//! when it ends, each file replaced atomically. Every count comes from the items' recorded
//! outcomes (`status::RoundCounts`), so the reports, `spmt status` and the exit code agree.

pub mod csv;
pub mod html;
pub mod live;

use crate::status::{self, RoundCounts};
pub use crate::store::Reason;
use crate::store::{ItemRef, ItemRow, RunRow, Sample, Store, StoreError, TaskRow};
use csv::CsvFile;
use serde::Serialize;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub fn folder(working_folder: &Path) -> PathBuf {
    working_folder.join("Report")
}

pub fn task_folder(working_folder: &Path, task_id: &str) -> PathBuf {
    folder(working_folder).join(format!("TaskReport_{task_id}"))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The machine's name, SPMT's "Device name" column.
pub fn device_name() -> String {
    std::env::var("COMPUTERNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// An item's full target: the site's origin and the item's server-relative URL, or
/// `local:/sites/…` for the embedded local target.
pub fn destination(task: &TaskRow, target_url: &str) -> String {
    format!("{}{}", destination_prefix(task), target_url)
}

/// What goes before a server-relative URL to make the item's full address: the site's
/// origin, or the local target's name and a colon.
fn destination_prefix(task: &TaskRow) -> String {
    match url::Url::parse(&task.site_url) {
        Ok(u) if u.has_host() => u.origin().ascii_serialization(),
        _ => format!("{}:", task.site_url),
    }
}

fn source_path(task: &TaskRow, rel_path: &str) -> String {
    let mut s = String::new();
    push_source_path(&mut s, task, rel_path);
    s
}

/// Appends the item's source path (the task's source joined with `rel_path`, in the
/// platform's separators) to `out`: built in place, it costs nothing per ItemReport row.
fn push_source_path(out: &mut String, task: &TaskRow, rel_path: &str) {
    if task.source.starts_with(crate::task::source::RECORD_PREFIX) {
        // A library's items are URLs: the library's location, then the item's path.
        out.push_str(&task.source_shown());
        if !rel_path.is_empty() {
            out.push('/');
            out.push_str(rel_path);
        }
        return;
    }
    out.push_str(&task.source);
    if rel_path.is_empty() {
        return;
    }
    if !task.source.is_empty() && !task.source.ends_with(std::path::is_separator) {
        out.push(std::path::MAIN_SEPARATOR);
    }
    for (i, part) in rel_path.split('/').enumerate() {
        if i > 0 {
            out.push(std::path::MAIN_SEPARATOR);
        }
        out.push_str(part);
    }
}

/// SPMT's "Result category" for an item.
pub fn result_category(it: &ItemRef<'_>) -> &'static str {
    let code = it.code.unwrap_or("");
    match (it.outcome, it.rule) {
        ("Migrated", _) => "MIGRATED",
        ("Deleted", _) => "DELETED",
        ("Skipped", Some("Unchanged")) => "SKIPPED UNCHANGED",
        ("Skipped", _) => "FILTERED OUT",
        ("Pending", _) => "NOT CONFIRMED",
        ("Failed", Some("Interrupted")) => "INTERRUPTED",
        ("Failed", Some("SourceDeleted")) => "DELETE FAILURE",
        ("Failed", _) if code.starts_with("0x0111") => "SCAN FILE FAILURE",
        ("Failed", _) if code.starts_with("0x0113") => "READING FAILURE",
        ("Failed", _) if code.starts_with("0x0114") => "PACKAGING FAILURE",
        ("Failed", _) if code.starts_with("0x0115") || code.starts_with("0x0116") => {
            "UPLOADING FAILURE"
        }
        ("Failed", _) if code.starts_with("0x0117") => "SERVER FAILURE",
        _ => "FAILURE",
    }
}

fn message(it: &ItemRef<'_>) -> Cow<'static, str> {
    match (it.outcome, it.message) {
        ("Migrated", _) => "Migrated Successfully".into(),
        (_, Some(m)) => crate::secrets::redact(m).into(),
        (_, None) => "".into(),
    }
}

fn name_and_extension(rel_path: &str) -> (&str, &str) {
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    let ext = match name.rfind('.') {
        Some(i) if i > 0 => &name[i..],
        _ => "",
    };
    (name, ext)
}

fn content_type(kind: &str) -> &'static str {
    if kind == "Folder" {
        "Folder"
    } else {
        "Document"
    }
}

fn gb(bytes: u64) -> String {
    format!("{:.6}", bytes as f64 / 1e9)
}

/// One round of one task, everything the reports say about it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoundReport {
    pub task_id: String,
    pub round: i64,
    pub status: String,
    pub source: String,
    pub destination: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration_secs: f64,
    pub error: Option<String>,
    pub counts: RoundCounts,
    pub uploaded_bytes: u64,
    pub packages: u64,
    pub throttled_requests: u64,
    /// Failed and left-out items by reason, most frequent first.
    pub reasons: Vec<Reason>,
    /// Progress over time (seconds since the round started).
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionReport {
    pub session_id: String,
    pub generated: String,
    pub device_name: String,
    pub status: status::SessionStatus,
    pub rounds: Vec<RoundReport>,
}

fn round_report(
    store: &Store,
    task: &TaskRow,
    run: &RunRow,
    live: bool,
) -> Result<RoundReport, StoreError> {
    let counts = RoundCounts::load(store, run.id)?;
    let state = status::task_state(Some(run), &counts, live);
    let duration = if run.duration_secs > 0.0 {
        run.duration_secs
    } else {
        chrono::DateTime::parse_from_rfc3339(&run.started)
            .map(|s| (chrono::Utc::now() - s.with_timezone(&chrono::Utc)).num_milliseconds())
            .unwrap_or(0) as f64
            / 1000.0
    };
    Ok(RoundReport {
        task_id: task.id.clone(),
        round: run.round,
        status: state.into(),
        source: task.source_shown(),
        destination: status::target_uri(task),
        start_time: run.started.clone(),
        end_time: run.finished.clone(),
        duration_secs: duration,
        error: run.error.as_deref().map(crate::secrets::redact),
        uploaded_bytes: run.uploaded_bytes,
        packages: run.packages,
        throttled_requests: run.throttled,
        reasons: store.reasons(run.id)?,
        samples: store.samples(run.id)?,
        counts,
    })
}

const SUMMARY_COLUMNS: &[&str] = &[
    "Source",
    "Destination",
    "Status",
    "Total bytes",
    "Total GB",
    "Count of files",
    "Migrated bytes",
    "Migrated GB in current round",
    "GB not migrated in current round",
    "Total scanned items",
    "Total to be migrated in current round",
    "Migrated items in current round",
    "Items not migrated in current round",
    "Warning count in current round",
    "Start time",
    "End time",
    "Duration (minutes)",
    "GB/hour",
    "Round number",
    "Workflow ID",
    "Task ID",
    "Log Path",
    // spmt's additions
    "Failed items",
    "Unchanged items",
    "Filtered out items",
    "Deleted items",
    "Error",
];

fn summary_row(r: &RoundReport, session_id: &str, log_path: &str) -> Vec<String> {
    let c = &r.counts;
    let minutes = r.duration_secs / 60.0;
    let gb_hour = if r.duration_secs > 0.0 {
        c.migrated_bytes as f64 / 1e9 / (r.duration_secs / 3600.0)
    } else {
        0.0
    };
    vec![
        r.source.clone(),
        r.destination.clone(),
        r.status.clone(),
        c.scanned_bytes.to_string(),
        gb(c.scanned_bytes),
        c.scanned_files.to_string(),
        c.migrated_bytes.to_string(),
        gb(c.migrated_bytes),
        gb(c.to_migrate_bytes.saturating_sub(c.migrated_bytes)),
        c.scanned_items.to_string(),
        c.to_migrate().to_string(),
        c.migrated().to_string(),
        c.to_migrate().saturating_sub(c.migrated()).to_string(),
        c.filtered.to_string(),
        r.start_time.clone(),
        r.end_time.clone().unwrap_or_default(),
        format!("{minutes:.2}"),
        format!("{gb_hour:.3}"),
        r.round.to_string(),
        session_id.to_string(),
        r.task_id.clone(),
        log_path.to_string(),
        c.failed.to_string(),
        c.unchanged.to_string(),
        c.filtered.to_string(),
        c.deleted.to_string(),
        r.error.clone().unwrap_or_default(),
    ]
}

const ITEM_COLUMNS: &[&str] = &[
    "Source",
    "Destination",
    "File name",
    "Extension",
    "File size",
    "Content type",
    "Status",
    "Result category",
    "Message",
    "Source item ID",
    "Destination item ID",
    "Package number",
    "Migration job ID",
    "Incremental round",
    "Task ID",
    "Device name",
    // spmt's additions
    "Error code",
    "Rule",
];

/// As SPMT's ItemFailureReport: "Item name/Item size", and the error code after Message.
const FAILURE_COLUMNS: &[&str] = &[
    "Source",
    "Destination",
    "Item name",
    "Extension",
    "Item size",
    "Content type",
    "Status",
    "Result category",
    "Message",
    "Error code",
    "Source item ID",
    "Destination item ID",
    "Package number",
    "Migration job ID",
    "Incremental round",
    "Task ID",
    "Device name",
    "Rule",
];

const FAILURE_SUMMARY_COLUMNS: &[&str] = &[
    "Source",
    "Destination",
    "File name",
    "Extension",
    "File size",
    "Content type",
    "Status",
    "Result category",
    "Message",
    "Error code",
    "Package number",
    "Migration job ID",
    "Incremental round",
    "Task ID",
    "Device name",
    // spmt's additions: one row per reason, with an example item
    "Count",
    "Total size",
    "Rule",
];

const SCAN_COLUMNS: &[&str] = &[
    "Incremental round",
    "Total scanned items",
    "Total scanned folders",
    "Total scanned list items",
    "Total scanned files",
    "Folders with issues",
    "Items with issues",
    "Items filtered out",
    "Folders to be migrated",
    "Items to be migrated",
    "Total items to be migrated",
    "Device name",
    // spmt's additions
    "Items unchanged since the last round",
    "Total scanned bytes",
];

const STRUCTURE_COLUMNS: &[&str] = &[
    "Structure type",
    "Structure title",
    "Operation",
    "Status",
    "Details",
    "Source structure URL",
    "Destination structure URL",
    "Source structure ID",
    "Destination structure ID",
    "Time stamp",
];

const PERFORMANCE_COLUMNS: &[&str] = &[
    "Metric",
    "Value",
    "Unit",
    "Score",
    "Suggestion",
    "Incremental round",
    "Task ID",
];

struct RoundFiles<'a> {
    dir: PathBuf,
    n: i64,
    task: &'a TaskRow,
    device: String,
    /// [`destination_prefix`], worked out once rather than per item.
    origin: String,
    /// `n` as text, for every item row.
    round: String,
}

impl<'a> RoundFiles<'a> {
    /// The files of `run` of `task`, in the task's report folder (created if missing).
    fn new(working_folder: &Path, task: &'a TaskRow, run: &RunRow) -> Result<Self, ReportError> {
        let dir = task_folder(working_folder, &task.id);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(RoundFiles {
            dir,
            n: run.round,
            task,
            device: device_name(),
            origin: destination_prefix(task),
            round: run.round.to_string(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}_R{}.csv", self.n))
    }

    fn open(&self, name: &str, header: &[&str]) -> Result<(CsvFile, PathBuf), ReportError> {
        let p = self.path(name);
        let f = CsvFile::create(&p, header).map_err(io_err(&p))?;
        Ok((f, p))
    }

    /// Writes one item's row to ItemReport (or, with `failure`, ItemFailureReport, which
    /// puts the error code after the message). Text the row holds is borrowed and the rest
    /// is built in `scratch`: a million-item ItemReport is written in about a second only
    /// without a dozen allocations per row.
    fn write_item(
        &self,
        out: &mut CsvFile,
        scratch: &mut ItemScratch,
        it: &ItemRef<'_>,
        failure: bool,
    ) -> std::io::Result<()> {
        use std::fmt::Write as _;
        let ItemScratch {
            source,
            dest,
            size,
            package,
        } = scratch;
        source.clear();
        push_source_path(source, self.task, it.rel_path);
        dest.clear();
        dest.push_str(&self.origin);
        dest.push_str(it.target_url);
        size.clear();
        let _ = write!(size, "{}", it.size);
        package.clear();
        match it.package {
            Some(p) => {
                let _ = write!(package, "{p}");
            }
            None => package.push_str("N/A"),
        }
        let (name, ext) = name_and_extension(it.rel_path);
        let message = message(it);
        let code = it.code.unwrap_or_default();
        let head = [
            source.as_str(),
            dest.as_str(),
            name,
            ext,
            size.as_str(),
            content_type(it.kind),
            it.outcome,
            result_category(it),
            &message,
        ];
        let tail = [
            "N/A",
            it.object_id.unwrap_or("N/A"),
            package.as_str(),
            it.job_id.unwrap_or("N/A"),
            &self.round,
            &self.task.id,
            &self.device,
        ];
        let rule = it.rule.unwrap_or_default();
        if failure {
            out.row(head.into_iter().chain([code]).chain(tail).chain([rule]))
        } else {
            out.row(head.into_iter().chain(tail).chain([code, rule]))
        }
    }
}

/// Buffers [`RoundFiles::write_item`] reuses from row to row.
#[derive(Default)]
struct ItemScratch {
    source: String,
    dest: String,
    size: String,
    package: String,
}

/// Writes the report set of round `run` of `task_id`, then the session-wide files.
pub fn write_round(
    store: &Store,
    working_folder: &Path,
    task_id: &str,
    run: i64,
) -> Result<(), ReportError> {
    write_round_unless(store, working_folder, task_id, run, &AtomicBool::new(false))
}

/// [`write_round`] that gives up (leaving the previous files in place) once `stop` is set:
/// the live writer must not hold up the end of a round with a rewrite the final reports
/// replace anyway.
pub fn write_round_unless(
    store: &Store,
    working_folder: &Path,
    task_id: &str,
    run: i64,
    stop: &AtomicBool,
) -> Result<(), ReportError> {
    let live = crate::store::lock::is_held(working_folder);
    if let (Some(task), Some(run)) = (store.task(task_id)?, store.run(run)?) {
        write_task_round(store, working_folder, &task, &run, live, stop, None)?;
    }
    write_session(store, working_folder)
}

/// ItemReport and ItemFailureReport of a round, being written on a thread of their own
/// (see [`start_item_reports`]). Dropping it waits for them.
pub struct ItemReports {
    handle: Option<std::thread::JoinHandle<Result<(), ReportError>>>,
    /// The task's report folder, for the error if the writer panicked.
    dir: PathBuf,
}

impl ItemReports {
    fn join(mut self) -> Result<(), ReportError> {
        match self.handle.take() {
            Some(h) => item_writer_result(h.join(), &self.dir),
            None => Ok(()),
        }
    }
}

/// What a thread writing the item reports of the round in `dir` came to; a panic there is a
/// failure to write them, not the caller's.
fn item_writer_result(
    joined: std::thread::Result<Result<(), ReportError>>,
    dir: &Path,
) -> Result<(), ReportError> {
    joined.unwrap_or_else(|_| {
        Err(ReportError::Io {
            path: dir.display().to_string(),
            source: std::io::Error::other("the item report writer panicked"),
        })
    })
}

impl Drop for ItemReports {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Starts writing the item reports of round `run` on a second connection. The engine starts
/// them as soon as the round's items are settled, then tallies the round and finishes it
/// meanwhile; [`write_round_with`] writes the rest and waits for them. (On a million-item
/// round the tally and the ItemReport each take a good part of a second.)
pub fn start_item_reports(
    store: &Store,
    working_folder: &Path,
    task_id: &str,
    run: i64,
) -> Result<ItemReports, ReportError> {
    let reader = store.reader()?;
    let live = crate::store::lock::is_held(working_folder);
    let dir = task_folder(working_folder, task_id);
    let wf = working_folder.to_path_buf();
    let task_id = task_id.to_string();
    let handle = std::thread::Builder::new()
        .name("spmt-item-report".into())
        .spawn(move || {
            let (Some(task), Some(run)) = (reader.task(&task_id)?, reader.run(run)?) else {
                return Ok(());
            };
            let files = RoundFiles::new(&wf, &task, &run)?;
            write_item_reports(&reader, &files, run.id, live, &AtomicBool::new(false))
        })
        .map_err(io_err(working_folder))?;
    Ok(ItemReports {
        handle: Some(handle),
        dir,
    })
}

/// [`write_round`] for a round whose item reports `items` is writing: writes the rest, then
/// waits for them.
pub fn write_round_with(
    store: &Store,
    working_folder: &Path,
    task_id: &str,
    run: i64,
    items: ItemReports,
) -> Result<(), ReportError> {
    let live = crate::store::lock::is_held(working_folder);
    if let (Some(task), Some(run)) = (store.task(task_id)?, store.run(run)?) {
        let stop = AtomicBool::new(false);
        write_task_round(store, working_folder, &task, &run, live, &stop, Some(items))?;
    } else {
        items.join()?;
    }
    write_session(store, working_folder)
}

fn write_task_round(
    store: &Store,
    working_folder: &Path,
    task: &TaskRow,
    run: &RunRow,
    live: bool,
    stop: &AtomicBool,
    started: Option<ItemReports>,
) -> Result<(), ReportError> {
    let files = RoundFiles::new(working_folder, task, run)?;
    if let Some(items) = started {
        let summary = write_summary_reports(store, working_folder, &files, task, run, live);
        return items.join().and(summary);
    }
    // The item reports are one pass over every row of the round, the rest a tally of it: for
    // a final report they run side by side on a second connection (a million-item round
    // spent a third as long tallying as writing ItemReport). Rewrites while the round runs
    // stay on one thread, so they never take a second core from the migration.
    std::thread::scope(|scope| -> Result<(), ReportError> {
        let items = if run.finished.is_none() {
            write_item_reports(store, &files, run.id, live, stop)?;
            None
        } else {
            let reader = store.reader()?;
            let files = &files;
            Some(scope.spawn(move || write_item_reports(&reader, files, run.id, live, stop)))
        };
        write_summary_reports(store, working_folder, &files, task, run, live)?;
        match items {
            Some(h) => item_writer_result(h.join(), &files.dir),
            None => Ok(()),
        }
    })
}

/// ItemReport and ItemFailureReport: one pass over the round's rows feeds both.
fn write_item_reports(
    store: &Store,
    files: &RoundFiles<'_>,
    run: i64,
    live: bool,
    stop: &AtomicBool,
) -> Result<(), ReportError> {
    let (mut items, ip) = files.open("ItemReport", ITEM_COLUMNS)?;
    let (mut fails, fp) = files.open("ItemFailureReport", FAILURE_COLUMNS)?;
    let mut scratch = ItemScratch::default();
    store.each_item(run, |it| {
        if stop.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("stopped"));
        }
        files.write_item(&mut items, &mut scratch, it, false)?;
        if it.outcome == "Failed" || (it.outcome == "Pending" && !live) {
            files.write_item(&mut fails, &mut scratch, it, true)?;
        }
        Ok(())
    })?;
    items.finish().map_err(io_err(&ip))?;
    fails.finish().map_err(io_err(&fp))
}

/// Every report of the round but the item reports: each a row or a few, from the tally.
fn write_summary_reports(
    store: &Store,
    working_folder: &Path,
    files: &RoundFiles<'_>,
    task: &TaskRow,
    run: &RunRow,
    live: bool,
) -> Result<(), ReportError> {
    let r = round_report(store, task, run, live)?;
    let session_id = store.session_id()?;
    let log_path = crate::logging::log_file(working_folder)
        .display()
        .to_string();

    let (mut f, p) = files.open("SummaryReport", SUMMARY_COLUMNS)?;
    f.row_owned(&summary_row(&r, &session_id, &log_path))
        .and_then(|_| f.finish())
        .map_err(io_err(&p))?;

    // Failure summary: one row per reason, an example item for each.
    let (mut fs, fsp) = files.open("FailureSummaryReport", FAILURE_SUMMARY_COLUMNS)?;
    for row in failure_summary_rows(store, task, run, &r.reasons, &files.device)? {
        fs.row_owned(&row).map_err(io_err(&fsp))?;
    }
    fs.finish().map_err(io_err(&fsp))?;

    let c = &r.counts;
    let (mut sc, scp) = files.open("ScanSummary", SCAN_COLUMNS)?;
    sc.row_owned(&[
        run.round.to_string(),
        c.scanned_items.to_string(),
        c.scanned_folders.to_string(),
        "0".into(),
        c.scanned_files.to_string(),
        c.scan_failed_folders.to_string(),
        c.scan_failed_files.to_string(),
        c.filtered.to_string(),
        c.to_migrate_folders.to_string(),
        c.to_migrate_files.to_string(),
        c.to_migrate().to_string(),
        files.device.clone(),
        c.unchanged.to_string(),
        c.scanned_bytes.to_string(),
    ])
    .and_then(|_| sc.finish())
    .map_err(io_err(&scp))?;

    // A file-share task creates no site structure; the library must exist, the folder path
    // is created by the import. Said plainly rather than left empty.
    let (mut st, stp) = files.open("StructureReport", STRUCTURE_COLUMNS)?;
    let now = chrono::Utc::now().to_rfc3339();
    st.row_owned(&[
        "list".into(),
        task.target_list.clone(),
        "skipped".into(),
        if r.status == "FAILED" {
            "failure".into()
        } else {
            "success".into()
        },
        "file-share task: the document library must exist and is used as it is".into(),
        task.source_shown(),
        status::target_uri(task),
        "N/A".into(),
        "N/A".into(),
        now.clone(),
    ])
    .map_err(io_err(&stp))?;
    if !task.rel_path.trim_matches('/').is_empty() {
        st.row_owned(&[
            "folder".into(),
            task.rel_path.clone(),
            "created".into(),
            if c.failed > 0 && c.migrated() == 0 {
                "failure".into()
            } else {
                "success".into()
            },
            "target folder (--target-list-relative-path), created by the import as needed".into(),
            task.source.clone(),
            status::target_uri(task),
            "N/A".into(),
            "N/A".into(),
            now,
        ])
        .map_err(io_err(&stp))?;
    }
    st.finish().map_err(io_err(&stp))?;

    let (mut pf, pfp) = files.open("PerformanceReport", PERFORMANCE_COLUMNS)?;
    for (metric, value, unit, score, advice) in performance(&r) {
        pf.row_owned(&[
            metric.into(),
            format!("{value:.2}"),
            unit.into(),
            score.to_string(),
            advice.into(),
            run.round.to_string(),
            task.id.clone(),
        ])
        .map_err(io_err(&pfp))?;
    }
    pf.finish().map_err(io_err(&pfp))
}

/// SPMT scores reading, local processing, upload and service throughput 1–100. These are
/// spmt's own scales: 100 means the stage kept up with what one SPMT machine is reported to
/// reach at best (reference §6: ~15 GB/hour, about 4 MB/s), so a low score points at the stage
/// that held the round back.
fn performance(r: &RoundReport) -> Vec<(&'static str, f64, &'static str, u32, &'static str)> {
    let secs = r.duration_secs.max(0.001);
    let c = &r.counts;
    let score = |v: f64, full: f64| ((v / full) * 100.0).clamp(1.0, 100.0) as u32;
    let read = c.scanned_items as f64 / secs;
    let upload = r.uploaded_bytes as f64 / 1e6 / secs;
    let gb_hour = c.migrated_bytes as f64 / 1e9 / (secs / 3600.0);
    let items = c.migrated() as f64 / secs;
    vec![
        (
            "Reading source speed",
            read,
            "items/s",
            score(read, 100.0),
            "low: the source share is slow to list; run spmt near the file server",
        ),
        (
            "Uploading speed",
            upload,
            "MB/s",
            score(upload, 4.0),
            "low: check the network path to Azure storage and proxies",
        ),
        (
            "SharePoint throughput",
            gb_hour,
            "GB/hour",
            score(gb_hour, 15.0),
            "low with throttled requests: migrate outside business hours",
        ),
        (
            "Items migrated",
            items,
            "items/s",
            score(items, 10.0),
            "many small files migrate slower than few large ones",
        ),
        (
            "Throttled requests",
            r.throttled_requests as f64,
            "requests",
            if r.throttled_requests == 0 { 100 } else { 50 },
            "the service asked spmt to slow down; it waited as told",
        ),
    ]
}

/// Every task's every round, and the session's state.
pub fn session_report(store: &Store, working_folder: &Path) -> Result<SessionReport, StoreError> {
    let live = crate::store::lock::is_held(working_folder);
    let mut rounds = Vec::new();
    for task in store.tasks()? {
        for run in store.runs_of(&task.id)? {
            rounds.push(round_report(store, &task, &run, live)?);
        }
    }
    Ok(SessionReport {
        session_id: store.session_id()?,
        generated: chrono::Utc::now().to_rfc3339(),
        device_name: device_name(),
        status: status::session_status(store, working_folder)?,
        rounds,
    })
}

/// FailureSummaryReport's rows for one round: one per failure reason, with an example item.
fn failure_summary_rows(
    store: &Store,
    task: &TaskRow,
    run: &RunRow,
    reasons: &[Reason],
    device: &str,
) -> Result<Vec<Vec<String>>, ReportError> {
    let mut examples: std::collections::HashMap<(String, String), ItemRow> = Default::default();
    store.each_failed_item(run.id, |it| {
        examples
            .entry((
                it.code.unwrap_or_default().to_string(),
                it.rule.unwrap_or_default().to_string(),
            ))
            .or_insert_with(|| it.to_row());
        Ok(())
    })?;
    let mut rows = Vec::new();
    for reason in reasons.iter().filter(|x| x.outcome == "Failed") {
        let Some(it) = examples.get(&(reason.code.clone(), reason.rule.clone())) else {
            continue;
        };
        let it = it.view();
        let (name, ext) = name_and_extension(it.rel_path);
        rows.push(vec![
            source_path(task, it.rel_path),
            destination(task, it.target_url),
            name.into(),
            ext.into(),
            it.size.to_string(),
            content_type(it.kind).into(),
            it.outcome.into(),
            result_category(&it).into(),
            message(&it).into_owned(),
            reason.code.clone(),
            it.package
                .map(|p| p.to_string())
                .unwrap_or_else(|| "N/A".into()),
            it.job_id.unwrap_or("N/A").into(),
            run.round.to_string(),
            task.id.clone(),
            device.to_string(),
            reason.count.to_string(),
            reason.bytes.to_string(),
            reason.rule.clone(),
        ]);
    }
    Ok(rows)
}

/// SummaryReport.csv, FailureSummaryReport.csv (every task's last round: admin scripts read
/// `$ReportFolderPath\FailureSummaryReport.csv`), summary.json and report.html for the whole
/// session.
pub fn write_session(store: &Store, working_folder: &Path) -> Result<(), ReportError> {
    let dir = folder(working_folder);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let rep = session_report(store, working_folder)?;
    let log_path = crate::logging::log_file(working_folder)
        .display()
        .to_string();
    let p = dir.join("SummaryReport.csv");
    let mut f = CsvFile::create(&p, SUMMARY_COLUMNS).map_err(io_err(&p))?;
    for r in &rep.rounds {
        f.row_owned(&summary_row(r, &rep.session_id, &log_path))
            .map_err(io_err(&p))?;
    }
    f.finish().map_err(io_err(&p))?;
    let fp = dir.join("FailureSummaryReport.csv");
    let mut fs = CsvFile::create(&fp, FAILURE_SUMMARY_COLUMNS).map_err(io_err(&fp))?;
    for task in store.tasks()? {
        let Some(run) = store.runs_of(&task.id)?.pop() else {
            continue;
        };
        let Some(r) = rep
            .rounds
            .iter()
            .find(|r| r.task_id == task.id && r.round == run.round)
        else {
            continue;
        };
        for row in failure_summary_rows(store, &task, &run, &r.reasons, &rep.device_name)? {
            fs.row_owned(&row).map_err(io_err(&fp))?;
        }
    }
    fs.finish().map_err(io_err(&fp))?;
    let json = serde_json::to_vec_pretty(&rep).unwrap_or_default();
    write_atomic(&dir.join("summary.json"), &json)?;
    write_atomic(&dir.join("report.html"), html::render(&rep).as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(io_err(path))
}

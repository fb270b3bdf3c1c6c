//! What a session and its tasks are, derived from the items' recorded outcomes, never from a
//! flag a stage set: a task whose source could not be read FAILED; a finished task with failed
//! or unconfirmed items is COMPLETED_WITH_ERRORS; a round whose process died is INTERRUPTED.
//!
//! Field names are SPMT's (`Get-SPMTMigration`: `Status`, `StatusOfTasks`, `TaskId`,
//! `SourceURI`, …) so scripts written for SPMT read `spmt status --json` unchanged; fields
//! SPMT lacks are additions, never renames.

use crate::store::{lock, RunRow, Store, StoreError, TaskRow};
use serde::Serialize;
use std::path::Path;

/// One round's items, counted the way SPMT's reports count them.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoundCounts {
    /// Items the scan saw (files and folders), not counting delete records.
    pub scanned_items: u64,
    pub scanned_files: u64,
    pub scanned_folders: u64,
    /// Bytes of the files the scan saw.
    pub scanned_bytes: u64,
    /// Files and folders the scan rejected (SPO rules, unreadable): SPMT's "bad" items.
    pub scan_failed_files: u64,
    pub scan_failed_folders: u64,
    /// Left out by a filter or rule that is not an error (hidden, extension, date, symlink).
    pub filtered: u64,
    /// Migrated by an earlier round and unchanged since (files and folders).
    pub unchanged: u64,
    /// The files among them: SPMT's NumUnchangedFiles.
    pub unchanged_files: u64,
    /// Sent in this round (packaged).
    pub to_migrate_files: u64,
    pub to_migrate_folders: u64,
    pub to_migrate_bytes: u64,
    pub migrated_files: u64,
    pub migrated_folders: u64,
    pub migrated_bytes: u64,
    /// Every failed item, scan failures included.
    pub failed: u64,
    pub failed_files: u64,
    /// Sent but never confirmed.
    pub pending: u64,
    pub deleted: u64,
    pub delete_failed: u64,
}

impl RoundCounts {
    pub fn load(store: &Store, run: i64) -> Result<Self, StoreError> {
        let mut c = RoundCounts::default();
        for t in store.tally(run)? {
            let file = t.kind == "File";
            let n = t.count;
            if t.rule == "SourceDeleted" {
                match t.outcome.as_str() {
                    "Deleted" => c.deleted += n,
                    _ => c.delete_failed += n,
                }
                if t.outcome == "Failed" {
                    c.failed += n;
                    c.failed_files += if file { n } else { 0 };
                }
                continue;
            }
            c.scanned_items += n;
            if file {
                c.scanned_files += n;
                c.scanned_bytes += t.bytes;
            } else {
                c.scanned_folders += n;
            }
            if t.sent {
                if file {
                    c.to_migrate_files += n;
                    c.to_migrate_bytes += t.bytes;
                } else {
                    c.to_migrate_folders += n;
                }
            }
            match t.outcome.as_str() {
                "Migrated" => {
                    if file {
                        c.migrated_files += n;
                        c.migrated_bytes += t.bytes;
                    } else {
                        c.migrated_folders += n;
                    }
                }
                "Failed" => {
                    c.failed += n;
                    if file {
                        c.failed_files += n;
                    }
                    if t.scan_failure {
                        if file {
                            c.scan_failed_files += n;
                        } else {
                            c.scan_failed_folders += n;
                        }
                    }
                }
                "Skipped" if t.rule == "Unchanged" => {
                    c.unchanged += n;
                    if file {
                        c.unchanged_files += n;
                    }
                }
                "Skipped" => c.filtered += n,
                _ => c.pending += n,
            }
        }
        Ok(c)
    }

    pub fn migrated(&self) -> u64 {
        self.migrated_files + self.migrated_folders
    }

    pub fn to_migrate(&self) -> u64 {
        self.to_migrate_files + self.to_migrate_folders
    }
}

/// A task's state in SPMT's words (`INITED`, `INPROGRESS`, `COMPLETED`) plus the ones SPMT
/// blurs: `COMPLETED_WITH_ERRORS`, `FAILED`, `INTERRUPTED`, `STOPPED`.
pub fn task_state(run: Option<&RunRow>, c: &RoundCounts, live: bool) -> &'static str {
    let Some(r) = run else { return "INITED" };
    match r.status.as_str() {
        "Running" if live => "INPROGRESS",
        "Running" | "Interrupted" => "INTERRUPTED",
        "Failed" => "FAILED",
        "Stopped" => "STOPPED",
        _ if c.failed > 0 || c.pending > 0 => "COMPLETED_WITH_ERRORS",
        _ => "COMPLETED",
    }
}

/// One task as `Get-SPMTMigration` shows it in `StatusOfTasks`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskStatus {
    pub task_id: String,
    #[serde(rename = "SourceURI")]
    pub source_uri: String,
    #[serde(rename = "TargetURI")]
    pub target_uri: String,
    pub target_list: String,
    pub target_list_relative_path: String,
    pub status: String,
    pub migrating_progress_percentage: u32,
    pub num_scanned_total_files: u64,
    pub num_scanned_bad_files: u64,
    pub num_filtered_out_files: u64,
    pub num_file_will_be_migrated: u64,
    pub num_actually_migrated_files: u64,
    pub num_failed_files: u64,
    pub num_unchanged_files: u64,
    pub num_deleted_items: u64,
    /// Empty when nothing went wrong.
    pub error_msg: String,
    pub report_folder: String,
    pub round: i64,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub counts: RoundCounts,
    /// The task's settings (SPMT names).
    pub settings: serde_json::Value,
}

/// The session as `Get-SPMTMigration` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionStatus {
    pub id: String,
    /// `NotStarted`, `Running` or `Finished` (SPMT scripts loop until `Finished`).
    pub status: String,
    /// How it finished: `Succeeded`, `FinishedWithErrors`, `Failed`, `Interrupted`; null
    /// while running or before the first start.
    pub result: Option<String>,
    pub working_folder: String,
    pub report_folder_path: String,
    pub status_of_tasks: Vec<TaskStatus>,
}

/// The target as a URL-like string: the site and library, and folder if any.
pub fn target_uri(t: &TaskRow) -> String {
    crate::task::target_uri(&t.site_url, &t.target_list, &t.rel_path)
}

/// Whether a session is running, as its host knows it (`None`: only the working folder is
/// known, as for `spmt status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    NotStarted,
    Running,
    Finished,
}

/// The session's `Status` and `Result` from its tasks' states: the one rule for `spmt status`,
/// the C ABI, Get-SPMTMigration and the reports. A task still INITED in a finished session
/// never ran (the run was stopped first), so the session was interrupted.
pub fn roll_up(states: &[&str], run: Option<Run>) -> (&'static str, Option<&'static str>) {
    let any = |w: &str| states.contains(&w);
    let run = run.unwrap_or(if states.iter().all(|s| *s == "INITED") {
        Run::NotStarted
    } else if any("INPROGRESS") {
        Run::Running
    } else {
        Run::Finished
    });
    match run {
        Run::NotStarted => ("NotStarted", None),
        Run::Running => ("Running", None),
        Run::Finished if any("FAILED") => ("Finished", Some("Failed")),
        Run::Finished if any("INTERRUPTED") || any("STOPPED") || any("INITED") => {
            ("Finished", Some("Interrupted"))
        }
        Run::Finished if any("COMPLETED_WITH_ERRORS") => ("Finished", Some("FinishedWithErrors")),
        Run::Finished => ("Finished", Some("Succeeded")),
    }
}

pub fn task_status(
    store: &Store,
    folder: &Path,
    t: &TaskRow,
    live: bool,
) -> Result<TaskStatus, StoreError> {
    let runs = store.runs_of(&t.id)?;
    let last = runs.last();
    let mut c = match last {
        Some(r) => RoundCounts::load(store, r.id)?,
        None => RoundCounts::default(),
    };
    // A scan-only round (ScanOnly, pre-migration assessment) sends nothing by design: its
    // items are assessed, not owed an import.
    let scanned_only = last.is_some_and(|r| r.status == "Scanned");
    if scanned_only {
        c.pending = 0;
    }
    let state = task_state(last, &c, live);
    let done = if scanned_only {
        c.scanned_items
    } else {
        c.migrated() + c.failed + c.filtered + c.unchanged
    };
    let progress = match state {
        "INITED" => 0,
        "INPROGRESS" if c.scanned_items > 0 => ((done * 100) / c.scanned_items).min(99) as u32,
        "INPROGRESS" => 0,
        _ if c.scanned_items == 0 => 100,
        _ => ((done * 100) / c.scanned_items.max(1)).min(100) as u32,
    };
    let mut error = last.and_then(|r| r.error.clone()).unwrap_or_default();
    if error.is_empty() {
        let mut parts = Vec::new();
        if c.failed > 0 {
            parts.push(format!(
                "{} item(s) failed; see ItemFailureReport_R{}.csv",
                c.failed,
                last.map(|r| r.round).unwrap_or(0)
            ));
        }
        if c.pending > 0 && state != "INPROGRESS" {
            parts.push(format!(
                "{} item(s) sent but not confirmed; run the task again to settle them",
                c.pending
            ));
        }
        if state == "INTERRUPTED" {
            parts.push(
                "the round stopped before it finished; run it again (spmt resume) to continue"
                    .into(),
            );
        }
        error = parts.join("; ");
    }
    Ok(TaskStatus {
        task_id: t.id.clone(),
        source_uri: t.source_shown(),
        target_uri: target_uri(t),
        target_list: t.target_list.clone(),
        target_list_relative_path: t.rel_path.clone(),
        status: state.into(),
        migrating_progress_percentage: progress,
        num_scanned_total_files: c.scanned_files,
        num_scanned_bad_files: c.scan_failed_files,
        num_filtered_out_files: c.filtered,
        num_file_will_be_migrated: c.to_migrate_files,
        num_actually_migrated_files: c.migrated_files,
        num_failed_files: c.failed_files,
        num_unchanged_files: c.unchanged_files,
        num_deleted_items: c.deleted,
        error_msg: crate::secrets::redact(&error),
        report_folder: crate::report::task_folder(folder, &t.id)
            .display()
            .to_string(),
        round: last.map(|r| r.round).unwrap_or(0),
        start_time: last.map(|r| r.started.clone()),
        end_time: last.and_then(|r| r.finished.clone()),
        counts: c,
        settings: serde_json::from_str(&t.settings).unwrap_or(serde_json::Value::Null),
    })
}

/// The session in `folder`, with the tasks in the order they were added.
pub fn load(folder: &Path) -> Result<SessionStatus, StoreError> {
    let store = Store::open(folder)?;
    session_status(&store, folder)
}

pub fn session_status(store: &Store, folder: &Path) -> Result<SessionStatus, StoreError> {
    let live = lock::is_held(folder);
    let tasks = store
        .tasks()?
        .iter()
        .map(|t| task_status(store, folder, t, live))
        .collect::<Result<Vec<_>, _>>()?;
    let states: Vec<&str> = tasks.iter().map(|t| t.status.as_str()).collect();
    let (status, result) = roll_up(&states, None);
    Ok(SessionStatus {
        id: store.session_id()?,
        status: status.into(),
        result: result.map(str::to_string),
        working_folder: folder.display().to_string(),
        report_folder_path: crate::report::folder(folder).display().to_string(),
        status_of_tasks: tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_roll_up_for_every_host() {
        assert_eq!(roll_up(&[], None), ("NotStarted", None));
        assert_eq!(roll_up(&["INITED", "INITED"], None), ("NotStarted", None));
        assert_eq!(
            roll_up(&["COMPLETED", "INPROGRESS"], None),
            ("Running", None)
        );
        assert_eq!(
            roll_up(&["COMPLETED", "INITED"], None),
            ("Finished", Some("Interrupted")),
            "a task that never ran in a finished session: the same answer with or without a host"
        );
        assert_eq!(
            roll_up(&["COMPLETED", "INITED"], Some(Run::Finished)),
            ("Finished", Some("Interrupted"))
        );
        assert_eq!(
            roll_up(&["COMPLETED"], Some(Run::Running)),
            ("Running", None)
        );
        assert_eq!(
            roll_up(&["COMPLETED_WITH_ERRORS", "FAILED", "STOPPED"], None),
            ("Finished", Some("Failed"))
        );
        assert_eq!(
            roll_up(&["COMPLETED", "COMPLETED_WITH_ERRORS"], None),
            ("Finished", Some("FinishedWithErrors"))
        );
        assert_eq!(
            roll_up(&["COMPLETED"], None),
            ("Finished", Some("Succeeded"))
        );
    }
}

//! Get-SPMTMigration's view of a session: the working folder's record with live counters.

use super::run::Progress;
use super::{Result, RunState, Session, SessionError, TaskEntry, TaskState};
use crate::status::Run;
use serde_json::Value;

impl Session {
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
            let recorded = persisted
                .as_ref()
                .and_then(|p| p.status_of_tasks.iter().find(|x| x.task_id == id).cloned());
            let mut ts = match recorded {
                Some(ts) => ts,
                // No round on record: the task did not start, or ended before its first round
                // (a sign-in that failed): its state is the session's.
                None => {
                    let mut ts = inited_status(t, &wf);
                    ts.status = t.state.as_str().into();
                    ts
                }
            };
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
        source_uri: t.def.source.shown(),
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

//! One task model: the same task built from the CLI's flags, from a session's settings JSON
//! (the C ABI's, what Register-SPMTMigration sends), from SPMT's JSON bulk file and from the
//! task record `spmt resume` reads is one identical `Task`, date-times with their time of day.

mod common;

use common::cli::{assert_exit_0, migrate_local, migrate_local_text, spmt};
use common::tree::set_mtime_rfc3339;
use spmt::session::{Next, Session};
use spmt::task::{Task, TaskSettings};
use std::path::{Path, PathBuf};
use std::time::Duration;

const AT: &str = "2024-05-06T14:30:00Z";

fn recorded_settings(status: &serde_json::Value) -> TaskSettings {
    serde_json::from_value(status["StatusOfTasks"][0]["Settings"].clone())
        .expect("the task's settings read back")
}

#[test]
fn cli_flags_session_json_bulk_file_and_resume_build_one_identical_task() {
    let (src, root, work, work2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let source = src.path().join("dept1");
    std::fs::create_dir(&source).unwrap();
    std::fs::write(source.join("a.txt"), b"a").unwrap();
    let root_s = root.path().display().to_string();

    // 1. The CLI's flags (a scan-only round, so the record is written and nothing is sent).
    let out = migrate_local_text(&source, root.path(), work.path())
        .args(["--target-list-relative-path", "Projects", "--scan-only"])
        .args(["--migrate-files-modified-after", AT])
        .args(["--migrate-files-created-after", "2020-01-31"])
        .args([
            "--skip-files-with-extension",
            "tmp:bak",
            "--include-hidden-files",
            "false",
        ])
        .args([
            "--replace-invalid-char",
            "_",
            "--check-content",
            "--propagate-deletes",
        ])
        .args([
            "--follow-symlinks",
            "--migrate-without-root-folder",
            "false",
        ])
        .output()
        .unwrap();
    assert_exit_0(&out);
    let status = spmt::status::load(work.path()).unwrap();
    let from_cli = recorded_settings(&serde_json::to_value(&status).unwrap());
    let cli_task = &status.status_of_tasks[0];

    // 2. A session's settings JSON, as the C ABI and Register-SPMTMigration send it (a .NET
    //    DateTime arrives with an offset; the engine keeps the instant).
    let settings = serde_json::json!({
        "WorkingFolder": work2.path(),
        "LocalTargetRoot": root_s,
        "ScanOnly": true,
        "MigrateFilesModifiedAfter": "2024-05-06T16:30:00+02:00",
        "MigrateFilesCreatedAfter": "2020-01-31T00:00:00Z",
        "SkipFilesWithExtension": ["tmp", ".bak"],
        "IncludeHiddenFiles": false,
        "ReplacementOfInvalidChar": "_",
        "CheckContent": true,
        "PropagateDeletes": true,
        "FollowSymlinks": true,
    });
    let session = Session::from_json(&settings.to_string()).unwrap();
    let task_json = serde_json::json!({
        "SourcePath": source, "TargetPath": "local", "TargetList": "Documents",
        "TargetListRelativePath": "Projects",
    });
    let id = session.add_task(&task_json.to_string()).unwrap();
    let from_session = recorded_settings(&session.status_json().unwrap());
    session.shutdown(std::time::Duration::from_secs(5));

    // 3. SPMT's JSON bulk file, with the bulk file's own key names.
    let bulk = serde_json::json!({"Tasks": [{
        "SourcePath": source, "TargetPath": "local", "TargetList": "Documents",
        "TargetListRelativePath": "Projects",
        "Settings": {
            "ScanOnly": true, "MigrateItemsModifiedAfter": "2024-05-06T14:30:00",
            "MigrateItemsCreatedAfter": "2020-01-31", "SkipFilesWithExtensions": "tmp:bak",
            "MigrateHiddenItems": false, "ReplacementOfInvalidChar": "_", "CheckContent": "true",
            "PropagateDeletes": true, "FollowSymlinks": true, "LocalTargetRoot": root_s,
            "EnableIncremental": true,
        }
    }]});
    let from_bulk =
        Task::from_spmt_json(&bulk.to_string(), &TaskSettings::default(), &mut Vec::new()).unwrap();

    // 4. The task record `spmt resume` runs.
    let store = spmt::store::Store::open(work.path()).unwrap();
    let row = &store.tasks().unwrap()[0];
    let from_record = Task::recorded(
        &row.source,
        &row.site_url,
        &row.target_list,
        &row.rel_path,
        &row.settings,
    )
    .unwrap();

    let at = spmt::task::parse_date("t", AT).unwrap();
    assert_eq!(
        from_cli.migrate_files_modified_after,
        Some(at),
        "14:30 kept"
    );
    assert_eq!(from_session, from_cli, "session settings JSON vs CLI flags");
    assert_eq!(from_bulk.settings, from_cli, "bulk file vs CLI flags");
    assert_eq!(from_record.settings, from_cli, "task record vs CLI flags");
    assert_eq!(
        from_bulk, from_record,
        "the whole task, not only its settings"
    );
    assert_eq!(from_record.target_list_relative_path, "Projects/dept1");
    assert_eq!(from_record.id().to_string(), cli_task.task_id);
    assert_eq!(id, cli_task.task_id, "the session's task is the CLI's task");
}

/// The defect this model fixed: a filter at 14:30 UTC was kept as a date, so `spmt resume`
/// ran the task with the filter moved to midnight and migrated a 09:00 file.
#[test]
fn a_filter_at_14_30_still_filters_a_09_00_file_after_a_resume() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::write(src.path().join("morning.txt"), b"09:00").unwrap();
    std::fs::write(src.path().join("afternoon.txt"), b"15:00").unwrap();
    set_mtime_rfc3339(&src.path().join("morning.txt"), "2024-05-06T09:00:00Z");
    set_mtime_rfc3339(&src.path().join("afternoon.txt"), "2024-05-06T15:00:00Z");
    let out = migrate_local_text(src.path(), root.path(), work.path())
        .args(["--migrate-files-modified-after", AT])
        .output()
        .unwrap();
    assert_exit_0(&out);
    let lib = root.path().join("sites/local/Documents");
    assert_eq!(std::fs::read(lib.join("afternoon.txt")).unwrap(), b"15:00");
    assert!(!lib.join("morning.txt").exists());
    // A change to the filtered file, then the next round from the working folder alone.
    std::fs::write(src.path().join("morning.txt"), b"09:00 again").unwrap();
    set_mtime_rfc3339(&src.path().join("morning.txt"), "2024-05-06T09:00:00Z");
    let out = spmt()
        .args(["resume", "--working-folder"])
        .arg(work.path())
        .output()
        .unwrap();
    assert_exit_0(&out);
    assert!(
        !lib.join("morning.txt").exists(),
        "the resumed round filtered at 14:30, not at midnight"
    );
}

/// One runner: a session run in-process (what the C ABI, .NET and the cmdlets drive) and the
/// CLI migrate the same tree into the local target alike: the same task id, the same outcome
/// counts, the same bytes at the same paths.
#[test]
fn a_session_in_process_and_the_cli_migrate_one_tree_alike() {
    let (src, cli_root, cli_work, ses_root, ses_work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (files, _) = common::tree::make_varied_tree(src.path());
    assert!(files.len() > 20, "a tree worth comparing");

    let out = migrate_local(src.path(), cli_root.path(), cli_work.path())
        .output()
        .unwrap();
    assert_exit_0(&out);
    let cli = spmt::status::load(cli_work.path()).unwrap();

    // The session, with the CLI's default for the root folder (SPMT's default is to keep it).
    let settings = serde_json::json!({
        "WorkingFolder": ses_work.path(),
        "LocalTargetRoot": ses_root.path(),
        "MigrateWithoutRootFolder": true,
    });
    let session = Session::from_json(&settings.to_string()).unwrap();
    let task = serde_json::json!({
        "SourcePath": src.path(), "TargetPath": "local", "TargetList": "Documents",
    });
    let id = session.add_task(&task.to_string()).unwrap();
    session.start(None).unwrap();
    while !matches!(
        session.next_event(Some(Duration::from_secs(300))).unwrap(),
        Next::Done
    ) {}
    let status = session.status_json().unwrap();
    session.shutdown(Duration::from_secs(10));

    let t = &status["StatusOfTasks"][0];
    let c = &cli.status_of_tasks[0];
    assert_eq!(id, c.task_id, "one task, one id");
    assert_eq!(t["Status"], "COMPLETED");
    assert_eq!(c.status, "COMPLETED");
    assert_eq!(
        t["NumActuallyMigratedFiles"].as_u64(),
        Some(c.num_actually_migrated_files)
    );
    assert_eq!(
        c.num_actually_migrated_files,
        files.len() as u64,
        "every file migrated"
    );
    let read_all = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let lib = common::emulator::library(root);
        let mut v: Vec<_> = common::tree::files(&lib)
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p.strip_prefix(&lib).unwrap().to_path_buf(), bytes)
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (read_all(cli_root.path()), read_all(ses_root.path()));
    assert_eq!(a.len(), files.len());
    assert!(
        a == b,
        "the CLI's and the session's libraries hold the same bytes at the same paths"
    );
    // Both keep a log in their working folder, where their reports say it is.
    for work in [cli_work.path(), ses_work.path()] {
        let log = std::fs::read_to_string(work.join("spmt.log")).unwrap_or_default();
        assert!(
            log.contains("target resolved"),
            "{} has the run's log: {log}",
            work.display()
        );
    }
}

//! Crash safety and incremental rounds: `kill -9` the CLI at different moments, run it again
//! with the same working folder, and prove the target equals the source with no file imported
//! twice; later rounds send only new and changed files.

mod common;

use common::cli::{migrate_site, output_off_runtime, status_json};
use common::emulator::{assert_each_file_imported_once, file_imports, library};
use common::tree::make_numbered_tree;
use spmt::emulator::{EmulatorConfig, EmulatorHandle, FaultProfile};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "resume-test-token";

async fn start(root: &Path, faults: FaultProfile, jobs: usize) -> EmulatorHandle {
    common::emulator::start(EmulatorConfig {
        access_token: TOKEN.into(),
        faults,
        max_concurrent_jobs: jobs,
        ..common::emulator::config(root)
    })
    .await
}

/// The migration these tests run: JSON summary piped, stderr dropped.
fn migrate_cmd(src: &Path, site: &str, work: &Path) -> Command {
    let mut c = migrate_site(src, site, TOKEN, work);
    c.arg("--json").stdout(Stdio::piped()).stderr(Stdio::null());
    c
}

/// What the killed run left: (items recorded, items confirmed migrated, jobs submitted,
/// packages cut).
fn db_state(work: &Path) -> (i64, i64, i64, i64) {
    let Ok(c) = rusqlite::Connection::open(work.join("spmt.db")) else {
        return (0, 0, 0, 0);
    };
    let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(0);
    (
        q("SELECT COUNT(*) FROM items"),
        q("SELECT COUNT(*) FROM items WHERE outcome = 'Migrated'"),
        q("SELECT COUNT(*) FROM packages WHERE job_id IS NOT NULL"),
        q("SELECT COUNT(*) FROM packages"),
    )
}

/// Runs to completion and returns the JSON summary and exit code.
async fn finish(src: &Path, site: &str, work: &Path) -> (serde_json::Value, i32) {
    let out = output_off_runtime(migrate_cmd(src, site, work)).await;
    (
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
        out.status.code().unwrap_or(-1),
    )
}

/// The moment of the kill, read from what the run has committed to its state database.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Some items recorded, the scan not finished.
    Scan,
    /// Every item recorded, no job submitted yet.
    Upload,
    /// At least one job submitted, not every item confirmed.
    Import,
}

fn reached(
    phase: Phase,
    (items, migrated, jobs, packages): (i64, i64, i64, i64),
    total: i64,
) -> bool {
    match phase {
        Phase::Scan => items > 0,
        Phase::Upload => items >= total && jobs == 0,
        // Every job submitted and recorded: a kill between CreateMigrationJob and recording
        // its id is another case (see the closing note of issue 7), not this one.
        Phase::Import => items >= total && jobs == packages && jobs > 0 && migrated < total,
    }
}

async fn kill_then_resume(phase: Phase, faults: FaultProfile, jobs: usize) {
    let (src, tgt, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let files = make_numbered_tree(src.path(), 1200);
    let total = (files.len() + 21) as i64; // 7 + 7×3 folders
    let h = start(tgt.path(), faults, jobs).await;
    let site = h.site_url("local");

    let mut child = migrate_cmd(src.path(), &site, work.path()).spawn().unwrap();
    let started = std::time::Instant::now();
    while !reached(phase, db_state(work.path()), total)
        && child.try_wait().unwrap().is_none()
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let finished_early = child.try_wait().unwrap().is_some();
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    let state = db_state(work.path());
    eprintln!(
        "killed in {phase:?} after {:?}: {state:?}",
        started.elapsed()
    );
    assert!(
        !finished_early,
        "the run ended before the {phase:?} phase could be interrupted"
    );

    // The killed round is no longer running: status says it was interrupted.
    let out = status_json(work.path()).output().unwrap();
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["StatusOfTasks"][0]["Status"], "INTERRUPTED", "{st}");
    assert_eq!(
        (st["Result"].as_str(), out.status.code()),
        (Some("Interrupted"), Some(1))
    );

    let (summary, code) = finish(src.path(), &site, work.path()).await;
    eprintln!("resumed run took {} s", summary["duration_secs"]);
    assert_eq!(code, 0, "resumed run succeeds: {summary}");
    assert_eq!(summary["items"]["failed"], 0, "{summary}");
    let lib = library(tgt.path());
    for (rel, data) in &files {
        assert_eq!(
            &std::fs::read(lib.join(rel)).unwrap_or_else(|_| panic!("{rel} missing after resume")),
            data,
            "{rel}"
        );
    }
    assert_each_file_imported_once(
        tgt.path(),
        files.len(),
        &format!("after a kill in {phase:?}"),
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_kill_during_scan_migrates_each_file_once() {
    kill_then_resume(Phase::Scan, FaultProfile::default(), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_kill_during_upload_migrates_each_file_once() {
    // Latency on every request keeps the run in its upload phase long enough to be caught.
    kill_then_resume(
        Phase::Upload,
        FaultProfile {
            latency_ms: 5,
            ..Default::default()
        },
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_kill_while_waiting_for_import_migrates_each_file_once() {
    // One job at a time: the later packages' jobs wait while the kill comes.
    kill_then_resume(
        Phase::Import,
        FaultProfile {
            latency_ms: 5,
            ..Default::default()
        },
        1,
    )
    .await;
}

/// Jobs the target at `root` has created, by its own records.
fn target_jobs(root: &Path) -> i64 {
    rusqlite::Connection::open_with_flags(
        root.join("_emulator/state.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .and_then(|c| c.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0)))
    .unwrap_or(0)
}

/// Issue 15.2, the last window: the process dies after the service created its job but before
/// the job's id reached the state database. The job goes on and imports the package; the
/// resumed run waits for it, finds its files in the target under their own ids and settles
/// them instead of sending them again (before: each of them was imported twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_but_not_recorded_before_a_kill_imports_its_files_once() {
    let (src, tgt, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let files = make_numbered_tree(src.path(), 120);
    // The answer to CreateMigrationJob comes 3 s after the job exists: the kill lands there.
    let h = start(
        tgt.path(),
        FaultProfile {
            create_job_reply_delay_ms: 3000,
            ..Default::default()
        },
        2,
    )
    .await;
    let site = h.site_url("local");
    let mut child = migrate_cmd(src.path(), &site, work.path()).spawn().unwrap();
    let started = std::time::Instant::now();
    while target_jobs(tgt.path()) == 0
        && child.try_wait().unwrap().is_none()
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, _, recorded, _) = db_state(work.path());
    assert!(
        target_jobs(tgt.path()) > 0 && recorded == 0,
        "killed with a job created ({}) and none recorded ({recorded})",
        target_jobs(tgt.path())
    );

    let (summary, code) = finish(src.path(), &site, work.path()).await;
    assert_eq!(code, 0, "resumed run succeeds: {summary}");
    let lib = library(tgt.path());
    for (rel, data) in &files {
        assert_eq!(&std::fs::read(lib.join(rel)).unwrap(), data, "{rel}");
    }
    assert_each_file_imported_once(
        tgt.path(),
        files.len(),
        "after a kill between job creation and its record",
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_rounds_send_only_new_and_changed_files() {
    let (src, tgt, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let files = make_numbered_tree(src.path(), 40);
    let h = start(tgt.path(), FaultProfile::default(), 4).await;
    let site = h.site_url("local");
    let (s1, code) = finish(src.path(), &site, work.path()).await;
    assert_eq!(code, 0, "{s1}");
    assert_eq!(s1["items"]["migrated_files"], files.len());

    std::fs::write(src.path().join("d0/s0/f0.txt"), b"changed content").unwrap();
    std::fs::write(src.path().join("d0/new.txt"), b"new file").unwrap();
    let (s2, code) = finish(src.path(), &site, work.path()).await;
    assert_eq!(code, 0, "{s2}");
    assert_eq!(
        s2["items"]["migrated_files"], 2,
        "only the changed and the new file: {s2}"
    );
    assert_eq!(s2["items"]["failed"], 0);
    let skipped = s2["items"]["skipped"].as_u64().unwrap();
    assert!(
        skipped >= (files.len() - 1) as u64,
        "unchanged files skipped: {s2}"
    );
    let lib = library(tgt.path());
    assert_eq!(
        std::fs::read(lib.join("d0/s0/f0.txt")).unwrap(),
        b"changed content"
    );
    assert_eq!(std::fs::read(lib.join("d0/new.txt")).unwrap(), b"new file");
    let imports = file_imports(tgt.path());
    assert_eq!(
        imports["/sites/local/Shared Documents/d0/s0/f0.txt"], 2,
        "the changed file was sent again"
    );
    assert_eq!(
        imports["/sites/local/Shared Documents/d1/s1/f1.txt"], 1,
        "an unchanged file was not"
    );
    h.shutdown().await;
}

//! End to end over loopback: the engine migrates generated trees into the emulator (the
//! embedded local target), and every byte and every modification time is compared.

mod common;

use common::emulator::{assert_each_file_imported_once, library};
use common::migrate::{options, run};
use common::tree::{content, count_files, make_varied_tree};
use spmt::emulator::{self, EmulatorConfig, EmulatorHandle, FaultProfile};
use spmt::engine::{self, Counters};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

async fn start(root: &Path, faults: FaultProfile) -> EmulatorHandle {
    common::emulator::start(EmulatorConfig {
        faults,
        ..common::emulator::config(root)
    })
    .await
}

fn mtime_secs(p: &Path) -> i64 {
    std::fs::metadata(p)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrates_a_generated_tree_byte_for_byte_with_mtimes() {
    let (src, tgt, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (files, folders) = make_varied_tree(src.path());
    assert!(files.len() > 500);
    let h = start(tgt.path(), FaultProfile::default()).await;
    let mut o = options(src.path(), &h, work.path());
    // Small blocks so the big file really goes through Put Block / Put Block List, and small
    // packages so several jobs run side by side.
    o.block_size = 1024 * 1024;
    o.max_package_items = 60;
    let s = run(o).await;
    assert_eq!(s.items.failed, 0, "no failures: {:?}", s.problems);
    assert_eq!(s.items.pending, 0);
    assert_eq!(s.items.migrated_files as usize, files.len());
    assert_eq!(s.items.migrated_folders as usize, folders.len());
    assert_eq!(s.exit_code(), 0);
    assert!(
        s.job_ids.len() >= 9,
        "packages of ≤60 items: {} jobs",
        s.job_ids.len()
    );

    let lib = library(tgt.path());
    for (rel, data) in &files {
        let p = lib.join(rel);
        let got = std::fs::read(&p).unwrap_or_else(|e| panic!("{rel} missing at the target: {e}"));
        assert!(
            got == *data,
            "{rel}: bytes differ ({} vs {})",
            got.len(),
            data.len()
        );
        // The package carries whole seconds (xs:dateTime without fractions).
        assert_eq!(
            mtime_secs(&p),
            mtime_secs(&src.path().join(rel)),
            "{rel}: mtime"
        );
    }
    for d in &folders {
        assert!(lib.join(d).is_dir(), "folder {d} exists at the target");
    }
    // Nothing extra appeared in the library.
    assert_eq!(count_files(&lib), files.len());
    assert_each_file_imported_once(tgt.path(), files.len(), "in one run");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_sharepoint_rejects_fail_with_a_code_unless_replaced() {
    let (src, tgt) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::create_dir(src.path().join("ok")).unwrap();
    std::fs::write(src.path().join("ok/good.txt"), b"good").unwrap();
    std::fs::write(src.path().join("ok/bad:name?.txt"), b"bad").unwrap();
    std::fs::create_dir(src.path().join("bad|dir")).unwrap();
    std::fs::write(src.path().join("bad|dir/inner.txt"), b"inner").unwrap();
    std::fs::write(src.path().join("CON"), b"reserved").unwrap();
    let h = start(tgt.path(), FaultProfile::default()).await;

    let w1 = tempfile::tempdir().unwrap();
    let s = run(options(src.path(), &h, w1.path())).await;
    assert_eq!(s.items.migrated, 2, "ok/ and ok/good.txt: {:?}", s.problems);
    assert_eq!(s.items.failed, 4);
    assert_eq!(s.exit_code(), 1);
    let bad = s
        .problems
        .iter()
        .find(|p| p.rel_path == "ok/bad:name?.txt")
        .unwrap();
    assert_eq!(bad.code.as_deref(), Some("0x01110010"));
    assert!(
        bad.message.as_deref().unwrap().contains("ok/bad:name?.txt"),
        "message names the item"
    );
    let inner = s
        .problems
        .iter()
        .find(|p| p.rel_path == "bad|dir/inner.txt")
        .unwrap();
    assert_eq!(
        inner.code.as_deref(),
        Some("0x0111000F"),
        "children of a rejected folder say why"
    );
    assert!(!library(tgt.path()).join("ok/bad:name?.txt").exists());

    // SPMT's character replacement: the same items now migrate under cleaned names.
    let w2 = tempfile::tempdir().unwrap();
    let mut o = options(src.path(), &h, w2.path());
    o.task.settings.replacement_of_invalid_char = Some('_');
    let s = run(o).await;
    assert_eq!(
        s.items.failed, 1,
        "only the reserved name CON still fails: {:?}",
        s.problems
    );
    assert_eq!(
        std::fs::read(library(tgt.path()).join("ok/bad_name_.txt")).unwrap(),
        b"bad"
    );
    assert_eq!(
        std::fs::read(library(tgt.path()).join("bad_dir/inner.txt")).unwrap(),
        b"inner"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_waited_out_and_nothing_fails() {
    let (src, tgt, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for i in 0..30 {
        std::fs::write(src.path().join(format!("f{i}.txt")), content(i, 3000)).unwrap();
    }
    let faults = FaultProfile {
        throttle_rate: 0.15,
        unavailable_rate: 0.05,
        retry_after_secs: 1,
        seed: Some(7),
        ..Default::default()
    };
    let h = start(tgt.path(), faults).await;
    let s = run(options(src.path(), &h, work.path())).await;
    assert_eq!(s.items.failed, 0, "{:?}", s.problems);
    assert_eq!(s.items.migrated_files, 30);
    assert!(s.throttled_requests > 0, "the fault profile did throttle");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_the_import_rejects_is_failed_and_the_rest_migrate() {
    let (src, tgt, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for i in 0..10 {
        std::fs::write(src.path().join(format!("f{i}.txt")), content(i, 100)).unwrap();
    }
    let faults = FaultProfile {
        fail_items: vec!["f3.txt".into()],
        ..Default::default()
    };
    let h = start(tgt.path(), faults).await;
    let s = run(options(src.path(), &h, work.path())).await;
    assert_eq!(s.items.migrated_files, 9);
    assert_eq!(s.items.failed, 1);
    let p = &s.problems[0];
    assert_eq!(p.rel_path, "f3.txt");
    assert_eq!(p.code.as_deref(), Some("0x01710009"));
    assert!(p.job_id.is_some(), "the failure names its job");
    assert!(!library(tgt.path()).join("f3.txt").exists());
    // The job's import logs were fetched, decrypted and kept.
    let logs = std::fs::read_dir(work.path().join("ImportLogs"))
        .unwrap()
        .count();
    assert!(logs >= 1);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_path_folders_are_created_and_reruns_reuse_ids() {
    let (src, tgt, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::create_dir(src.path().join("sub")).unwrap();
    std::fs::write(src.path().join("sub/a.txt"), b"one").unwrap();
    let h = start(tgt.path(), FaultProfile::default()).await;
    let mut o = options(src.path(), &h, work.path());
    o.task.target_list_relative_path = "Projects/2024".into();
    let s = run(o.clone()).await;
    assert_eq!(s.items.failed, 0, "{:?}", s.problems);
    let dest = library(tgt.path()).join("Projects/2024/sub/a.txt");
    assert_eq!(std::fs::read(&dest).unwrap(), b"one");

    // A second run of the same task sends the same object ids: the import overwrites, no conflict.
    std::fs::write(src.path().join("sub/a.txt"), b"two").unwrap();
    let s = run(o).await;
    assert_eq!(s.items.failed, 0, "rerun conflicts: {:?}", s.problems);
    assert_eq!(std::fs::read(&dest).unwrap(), b"two");
    let recs = emulator::import_records(tgt.path()).unwrap();
    let ids: Vec<_> = recs
        .iter()
        .filter(|r| r.server_relative_url.ends_with("/sub/a.txt"))
        .map(|r| r.object_id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1], "same object id on both runs");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_and_missing_source_are_clear_errors() {
    let (src, tgt, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let h = start(tgt.path(), FaultProfile::default()).await;
    let mut o = options(src.path(), &h, work.path());
    o.bearer = spmt::auth::Bearer::fixed("not-the-token");
    let e = engine::migrate(o, Arc::new(Counters::default()))
        .await
        .unwrap_err();
    assert!(e.is_configuration());
    let msg = e.to_string();
    assert!(
        msg.contains("access token") && !msg.contains("not-the-token"),
        "{msg}"
    );

    let o = options(&src.path().join("nope"), &h, work.path());
    let e = engine::migrate(o, Arc::new(Counters::default()))
        .await
        .unwrap_err();
    assert!(
        e.is_configuration() && e.to_string().contains("nope"),
        "{e}"
    );
    let _ = Duration::ZERO;
    h.shutdown().await;
}

/// More items than the packager's queue holds, in many small packages: the recorder must keep
/// committing job ids while the packager waits for a slot. It used to block on the packager,
/// so every job submission waited out the 30 s commit timeout (9,000 files took two minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_ids_are_committed_while_the_scan_is_far_ahead_of_the_uploads() {
    let src = tempfile::tempdir().unwrap();
    let (tgt, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in 0..20 {
        let dir = src.path().join(format!("d{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..300 {
            std::fs::write(dir.join(format!("f{f:03}.txt")), format!("{d}/{f}")).unwrap();
        }
    }
    let h = start(tgt.path(), FaultProfile::default()).await;
    let mut o = options(src.path(), &h, work.path());
    o.max_package_items = 100;
    o.packages_in_flight = 1;
    let counters = Arc::new(Counters::default());
    let s = engine::migrate(o, counters.clone())
        .await
        .expect("migration runs");
    assert_eq!(s.items.failed, 0);
    assert_eq!(s.items.migrated_files, 6000);
    assert_eq!(
        counters
            .late_flushes
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "every job id was committed at once"
    );
    let lib = library(tgt.path());
    assert_eq!(
        std::fs::read_to_string(lib.join("d19/f299.txt")).unwrap(),
        "19/299"
    );
    h.shutdown().await;
}

//! The `spmt` command as a user runs it: exit codes, the JSON summary, and the embedded local
//! target.

mod common;

use common::cli::{
    assert_exit_0, migrate_local, migrate_local_text, migrate_site, output_off_runtime,
    resume_json, spmt, status_json,
};
use common::emulator::{assert_each_file_imported_once, library};
use common::tree::files;

#[test]
fn migrate_into_the_local_target_prints_a_json_summary_and_exits_0() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::create_dir(src.path().join("docs")).unwrap();
    std::fs::write(src.path().join("docs/a.txt"), b"alpha").unwrap();
    std::fs::write(src.path().join("b.txt"), b"beta").unwrap();
    let out = migrate_local(src.path(), root.path(), work.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["items"]["migrated"], 3);
    assert_eq!(v["items"]["failed"], 0);
    assert_eq!(v["job_ids"].as_array().unwrap().len(), 1);
    let lib = std::path::PathBuf::from(v["target_library_path"].as_str().unwrap());
    assert_eq!(std::fs::read(lib.join("docs/a.txt")).unwrap(), b"alpha");
    assert_eq!(lib, root.path().join("sites/local/Documents"));
    assert!(
        work.path().join("spmt.db").exists(),
        "state kept in the working folder"
    );
}

#[test]
fn a_failed_item_exits_1_and_is_named() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::write(src.path().join("what?.txt"), b"x").unwrap();
    std::fs::write(src.path().join("fine.txt"), b"y").unwrap();
    // A library of the local target other than Documents is a folder the user makes.
    std::fs::create_dir_all(root.path().join("sites/local/Docs")).unwrap();
    let out = spmt()
        .args([
            "migrate",
            "--target-site-url",
            "local",
            "--target-list",
            "Docs",
        ])
        .arg("--file-share-source")
        .arg(src.path())
        .arg("--local-target-root")
        .arg(root.path())
        .arg("--working-folder")
        .arg(work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("what?.txt") && text.contains("0x01110010"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(root.path().join("sites/local/Docs/fine.txt")).unwrap(),
        b"y"
    );
}

/// A rehearsal into the local target catches a mistyped library as a real site would: exit 2,
/// naming the library and how to create it, and nothing created or sent. Made as the message
/// says, the library takes the migration.
#[test]
fn an_unknown_library_of_the_local_target_exits_2_and_creates_nothing() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::write(src.path().join("a.txt"), b"a").unwrap();
    let run = |list: &str| {
        spmt()
            .args([
                "migrate",
                "--target-site-url",
                "local",
                "--target-list",
                list,
            ])
            .arg("--file-share-source")
            .arg(src.path())
            .arg("--local-target-root")
            .arg(root.path())
            .arg("--working-folder")
            .arg(work.path())
            .output()
            .unwrap()
    };
    let out = run("NoSuchLibrary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'NoSuchLibrary' does not exist") && err.contains("mkdir"),
        "{err}"
    );
    let site = root.path().join("sites/local");
    assert!(!site.join("NoSuchLibrary").exists(), "no library made up");
    assert!(
        site.join("Documents").is_dir(),
        "a new site's Documents library is there"
    );

    // Titles ignore case, as SharePoint's do: the folder `nosuchlibrary` is that library.
    std::fs::create_dir(site.join("nosuchlibrary")).unwrap();
    let out = run("NoSuchLibrary");
    assert_exit_0(&out);
    assert_eq!(
        std::fs::read(site.join("nosuchlibrary/a.txt")).unwrap(),
        b"a"
    );
}

#[test]
fn usage_and_configuration_errors_exit_2_with_a_fix() {
    let work = tempfile::tempdir().unwrap();
    let out = spmt()
        .args([
            "migrate",
            "--target-site-url",
            "local",
            "--target-list",
            "Documents",
            "--file-share-source",
            "/no/such/folder",
        ])
        .arg("--local-target-root")
        .arg(work.path().join("t"))
        .arg("--working-folder")
        .arg(work.path().join("w"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/folder"));

    let out = spmt()
        .env_remove("SPMT_ACCESS_TOKEN")
        .args([
            "migrate",
            "--target-site-url",
            "https://contoso.sharepoint.com/sites/x",
            "--target-list",
            "Documents",
            "--file-share-source",
            ".",
        ])
        .arg("--working-folder")
        .arg(work.path().join("w2"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--access-token"));

    let out = spmt().args(["migrate", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn scan_only_reports_without_migrating() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::write(src.path().join("a.txt"), b"a").unwrap();
    std::fs::write(src.path().join("b*.txt"), b"b").unwrap();
    let out = migrate_local(src.path(), root.path(), work.path())
        .arg("--scan-only")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"]["failed"], 1, "the scan finds the bad name");
    assert_eq!(v["job_ids"].as_array().unwrap().len(), 0);
    assert!(
        !root.path().join("sites/local/Documents/a.txt").exists(),
        "nothing migrated"
    );
    assert_eq!(out.status.code(), Some(1));
}

/// Pre-migration assessment is a clean run: a scan-only round of a clean tree is COMPLETED,
/// owes nothing, and `spmt status` exits 0 (it said "N item(s) sent but not confirmed").
#[test]
fn a_scan_only_round_of_a_clean_tree_is_completed_and_status_exits_0() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::create_dir(src.path().join("d")).unwrap();
    std::fs::write(src.path().join("d/a.txt"), b"a").unwrap();
    std::fs::write(src.path().join("b.txt"), b"b").unwrap();
    let out = migrate_local_text(src.path(), root.path(), work.path())
        .arg("--scan-only")
        .output()
        .unwrap();
    assert_exit_0(&out);
    let out = status_json(work.path()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Result"], "Succeeded", "{v}");
    let t = &v["StatusOfTasks"][0];
    assert_eq!(t["Status"], "COMPLETED", "{t}");
    assert_eq!(t["ErrorMsg"], "", "{t}");
    assert_eq!(t["MigratingProgressPercentage"], 100, "{t}");
    assert_eq!(t["NumScannedTotalFiles"], 2, "{t}");
    assert!(
        !root.path().join("sites/local/Documents/b.txt").exists(),
        "nothing migrated"
    );
}

/// A migration with file names that hold a newline, ESC and BEL and that start with `=`, `+`,
/// `-` or `@`; then `spmt status --json` into a pipe nobody reads.
#[test]
fn hostile_names_stay_inert_in_reports_logs_and_terminals() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let names = [
        "=1+2.txt",
        "+cmd.txt",
        "-x.txt",
        "@SUM(A1).txt",
        "bell\x07.txt",
        "esc\x1b[2J.txt",
    ];
    for n in names {
        std::fs::write(src.path().join(n), n.as_bytes()).unwrap();
    }
    let out = migrate_local(src.path(), root.path(), work.path())
        .env("SPMT_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\x07') && !stderr.contains("\x1b[2J"),
        "raw controls reach the terminal: {stderr:?}"
    );
    let mut report = None;
    for e in files(work.path()) {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        if name == "spmt.log" {
            let log = std::fs::read_to_string(&e).unwrap();
            assert!(!log.contains('\x07'), "BEL in spmt.log");
            for line in log.lines() {
                assert!(
                    !line.contains("\x1b[2J"),
                    "ESC sequence in spmt.log: {line:?}"
                );
            }
        }
        if name == "ItemReport_R1.csv" {
            report = Some(std::fs::read_to_string(&e).unwrap());
        }
    }
    let report = report.expect("an ItemReport");
    for lead in ["=1+2.txt", "+cmd.txt", "-x.txt", "@SUM(A1).txt"] {
        assert!(
            report.contains(&format!("\"'{lead}\"")),
            "{lead} is neutralised in the report"
        );
        assert!(
            !report.contains(&format!(",\"{lead}\"")),
            "{lead} is a formula cell"
        );
    }

    // A reader that has gone away: nothing panics, and the exit is not Rust's 101.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = status_json(work.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(!err.contains("panicked"), "status panicked: {err}");
    assert_ne!(status.status.code(), Some(101));
}

/// A second process on a local target root that a running target holds is refused, and the
/// running one keeps every upload: it still imports a migration afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_a_busy_local_target_root_is_refused_and_takes_nothing() {
    let (src, root, work1, work2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for i in 0..20 {
        std::fs::write(src.path().join(format!("f{i}.txt")), format!("file {i}")).unwrap();
    }
    let token = "busy-root-token".to_string();
    let running = spmt::emulator::start(spmt::emulator::EmulatorConfig::embedded(
        root.path().to_path_buf(),
        token.clone(),
    ))
    .await
    .unwrap();
    let storage: Vec<_> = std::fs::read_dir(root.path().join("_emulator/storage"))
        .unwrap()
        .collect();
    assert_eq!(storage.len(), 1, "the running target's spool folder");

    let second = output_off_runtime(migrate_local(src.path(), root.path(), work2.path())).await;
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains("in use by another spmt process") && err.contains("--local-target-root"),
        "the refusal says why and what to do: {err}"
    );
    assert_eq!(
        std::fs::read_dir(root.path().join("_emulator/storage"))
            .unwrap()
            .count(),
        1,
        "the refused run removed nothing"
    );

    // The running target is untouched: a migration into it completes.
    let first = output_off_runtime(migrate_site(
        src.path(),
        &running.site_url("local"),
        &token,
        work1.path(),
    ))
    .await;
    assert_eq!(
        first.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let lib = library(root.path());
    for i in 0..20 {
        assert_eq!(
            std::fs::read_to_string(lib.join(format!("f{i}.txt"))).unwrap(),
            format!("file {i}")
        );
    }
    running.shutdown().await;
}

/// A working folder whose spmt.db was emptied or overwritten is refused with the way out,
/// nothing is sent again; --new-session sets the damaged state aside and starts over.
#[test]
fn a_damaged_state_database_is_refused_with_the_way_out() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for i in 0..5 {
        std::fs::write(src.path().join(format!("f{i}.txt")), format!("file {i}")).unwrap();
    }
    let first = migrate_local(src.path(), root.path(), work.path())
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0));
    let db = work.path().join("spmt.db");
    for (damage, what) in [
        (Vec::new(), "is empty (0 bytes)"),
        (
            b"this is not a database, it was overwritten".repeat(200),
            "cannot be read",
        ),
    ] {
        std::fs::write(&db, &damage).unwrap();
        let _ = std::fs::remove_file(work.path().join("spmt.db-wal"));
        let _ = std::fs::remove_file(work.path().join("spmt.db-shm"));
        let out = migrate_local(src.path(), root.path(), work.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "stderr: {err}");
        assert!(err.contains(what), "says what is wrong: {err}");
        assert!(err.contains("--new-session"), "says the way out: {err}");
        assert!(
            !err.contains("another spmt run"),
            "no misleading hint: {err}"
        );
        assert_eq!(
            std::fs::read(&db).unwrap(),
            damage,
            "the damaged state is kept"
        );
    }

    let again = migrate_local(src.path(), root.path(), work.path())
        .arg("--new-session")
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["items"]["migrated"], 5, "a new session sends everything");
    let kept: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("spmt.db.set-aside-")
        })
        .collect();
    assert!(
        !kept.is_empty(),
        "the damaged state is set aside, not deleted"
    );
}

/// Ctrl-C (SIGINT) and SIGTERM stop a run cleanly: it says how to resume and exits 130 or 143;
/// `spmt resume` then completes it exactly. A second signal ends the process at once.
#[cfg(unix)]
#[test]
fn signals_stop_cleanly_and_resume_completes_the_run() {
    let (src, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in 0..8 {
        let dir = src.path().join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for i in 0..250 {
            std::fs::write(
                dir.join(format!("f{i:03}.txt")),
                format!("{d}/{i} ").repeat(50),
            )
            .unwrap();
        }
    }
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let work = tempfile::tempdir().unwrap();
        let root = root.path().join(format!("t{code}"));
        let child = migrate_local(src.path(), &root, work.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Once the state is open the signals are caught (they are from before the round
        // starts), so the signal comes mid-run.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !work.path().join("spmt.db-wal").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "stderr: {err}");
        assert!(
            err.contains(&format!(
                "interrupted; resume with: spmt resume --working-folder {}",
                work.path().display()
            )),
            "says how to go on: {err}"
        );

        let resumed = spmt()
            .args(["resume", "--working-folder"])
            .arg(work.path())
            .output()
            .unwrap();
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        let lib = library(&root);
        for d in 0..8 {
            for i in 0..250 {
                let rel = format!("d{d:02}/f{i:03}.txt");
                assert_eq!(
                    std::fs::read_to_string(lib.join(&rel)).unwrap_or_default(),
                    format!("{d}/{i} ").repeat(50),
                    "{rel} after resume"
                );
            }
        }
    }

    // Twice: the second one ends the process at once, with the signal's code.
    let work = tempfile::tempdir().unwrap();
    let child = migrate_local(src.path(), &root.path().join("twice"), work.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !work.path().join("spmt.db-wal").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(std::time::Duration::from_millis(50));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {err}");
}

/// Emulator settings that would make a rehearsal meaningless are refused at start.
#[test]
fn invalid_emulator_settings_are_refused() {
    for (args, says) in [
        (
            &["--max-concurrent-jobs", "0"][..],
            "--max-concurrent-jobs 0",
        ),
        (&["--throttle-rate", "1.5"][..], "--throttle-rate 1.5"),
        (&["--drop-rate=-0.1"][..], "--drop-rate -0.1"),
        (
            &["--max-requests-per-sec", "0"][..],
            "--max-requests-per-sec 0",
        ),
    ] {
        let out = spmt()
            .args(["emulator", "--listen", "127.0.0.1:0", "--root"])
            .arg(tempfile::tempdir().unwrap().path())
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} is named: {err}");
    }
}

/// Names that become one SharePoint name (a replaced character, or case alone) are caught in
/// the scan: the first in name order is migrated with its own bytes, the others fail naming
/// it, and no report row claims bytes that were not sent.
#[test]
fn names_that_collide_in_sharepoint_fail_and_never_carry_other_bytes() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for n in [
        "c*d.txt", "c?d.txt", "a:b.txt", "a_b.txt", "Case.txt", "case.txt", "solo.txt",
    ] {
        std::fs::write(src.path().join(n), format!("bytes of {n}")).unwrap();
    }
    std::fs::create_dir(src.path().join("Dir")).unwrap();
    std::fs::create_dir(src.path().join("dir")).unwrap();
    std::fs::write(src.path().join("Dir/in.txt"), "upper").unwrap();
    std::fs::write(src.path().join("dir/in.txt"), "lower").unwrap();
    let out = migrate_local(src.path(), root.path(), work.path())
        .args(["--replace-invalid-char", "_"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the losers fail");
    let lib = library(root.path());
    let report = files(work.path())
        .into_iter()
        .find(|p| p.ends_with("ItemReport_R1.csv"))
        .unwrap();
    let bytes = std::fs::read(&report).unwrap();
    let mut rows = csv::Reader::from_reader(&bytes[3..]);
    let headers = rows.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (src_col, status_col, msg_col) = (col("Source"), col("Status"), col("Message"));
    let mut migrated = Vec::new();
    for r in rows.records() {
        let r = r.unwrap();
        let name = r[src_col].rsplit('/').next().unwrap().to_string();
        match &r[status_col] {
            "Migrated" => migrated.push(name),
            "Failed" => {
                let winner = match name.as_str() {
                    "c?d.txt" => "c*d.txt",
                    "a_b.txt" => "a:b.txt",
                    "case.txt" => "Case.txt",
                    "dir" => "Dir",
                    "in.txt" => continue, // inside the folder that lost: its parent failed
                    other => panic!("{other} failed: {}", &r[msg_col]),
                };
                assert!(
                    r[msg_col].contains(&format!("'{winner}'")),
                    "{name} names {winner}: {}",
                    &r[msg_col]
                );
            }
            other => panic!("{name}: {other}"),
        }
    }
    migrated.sort();
    assert_eq!(
        migrated,
        ["Case.txt", "Dir", "a:b.txt", "c*d.txt", "in.txt", "solo.txt"]
    );
    // Each migrated row has its own bytes behind it.
    for (target, source) in [
        ("c_d.txt", "c*d.txt"),
        ("a_b.txt", "a:b.txt"),
        ("Case.txt", "Case.txt"),
        ("solo.txt", "solo.txt"),
    ] {
        assert_eq!(
            std::fs::read_to_string(lib.join(target)).unwrap(),
            format!("bytes of {source}")
        );
    }
    assert_eq!(
        std::fs::read_to_string(lib.join("Dir/in.txt")).unwrap(),
        "upper"
    );
    assert!(!lib.join("case.txt").exists() && !lib.join("dir").exists());
}

/// A name that is not UTF-8 fails with a message saying so (never read through its lossy
/// text, which may be another file's); a sibling whose real name holds U+FFFD keeps its bytes.
#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_fail_clearly_and_take_no_other_file() {
    use std::os::unix::ffi::OsStrExt;
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(src.path().join(latin1), "latin-1 name").unwrap();
    std::fs::write(src.path().join("caf\u{FFFD}.txt"), "real replacement char").unwrap();
    let dir = src.path().join(std::ffi::OsStr::from_bytes(b"d\xff"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inside.txt"), "inside").unwrap();
    let out = migrate_local(src.path(), root.path(), work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"]["migrated"], 1, "{v}");
    let lib = library(root.path());
    assert_eq!(
        std::fs::read_to_string(lib.join("caf\u{FFFD}.txt")).unwrap(),
        "real replacement char"
    );
    let report = files(work.path())
        .into_iter()
        .find(|p| p.ends_with("ItemFailureReport_R1.csv"))
        .unwrap();
    let text = std::fs::read_to_string(report).unwrap();
    assert!(text.contains(r#"its bytes: ""caf\xe9.txt"""#), "{text}");
    assert!(text.contains(r#"its bytes: ""d\xff"""#), "{text}");
    assert!(
        text.contains("inside.txt"),
        "the folder's content fails too: {text}"
    );
}

/// A file written to while it is migrated: a "Migrated" row always has exactly the reported
/// size behind it, and a change seen during the read fails the item, saying so.
#[cfg(unix)]
#[test]
fn a_file_that_changes_while_read_is_never_reported_with_other_bytes() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let growing = src.path().join("growing.log");
    std::fs::write(&growing, vec![b'x'; 16 << 20]).unwrap();
    std::fs::write(src.path().join("still.txt"), "still").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, growing) = (stop.clone(), growing.clone());
        // Rewrites a block in place every millisecond: same size, new bytes, new mtime.
        std::thread::spawn(move || {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(growing)
                .unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.write_all_at(&[b'a' + (n % 26) as u8; 4096], (n * 4096) % (16 << 20))
                    .unwrap();
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let mut detected = 0;
    for round in 1..=3 {
        let out = migrate_local(src.path(), root.path(), work.path())
            .output()
            .unwrap();
        let report = files(work.path())
            .into_iter()
            .find(|p| p.ends_with(format!("ItemReport_R{round}.csv")))
            .unwrap();
        let bytes = std::fs::read(&report).unwrap();
        let mut rows = csv::Reader::from_reader(&bytes[3..]);
        let h = rows.headers().unwrap().clone();
        let col = |n: &str| h.iter().position(|x| x == n).unwrap();
        let (src_col, status_col, size_col, msg_col) = (
            col("Source"),
            col("Status"),
            col("File size"),
            col("Message"),
        );
        for r in rows.records() {
            let r = r.unwrap();
            if !r[src_col].ends_with("growing.log") {
                continue;
            }
            match &r[status_col] {
                "Migrated" => {
                    let there =
                        std::fs::metadata(root.path().join("sites/local/Documents/growing.log"))
                            .unwrap()
                            .len();
                    assert_eq!(r[size_col].parse::<u64>().unwrap(), there, "round {round}");
                }
                "Failed" => {
                    assert!(
                        r[msg_col].contains("changed while it was read"),
                        "{}",
                        &r[msg_col]
                    );
                    detected += 1;
                }
                other => panic!("round {round}: {other}, exit {:?}", out.status),
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        detected > 0,
        "a file growing all the time is seen changing in at least one round"
    );
}

/// A modified-after filter at 14:30 UTC keeps filtering a 09:00 file in the rounds that
/// `spmt resume` runs from the task's record (it once came back as midnight).
#[test]
fn a_date_and_time_filter_survives_resume() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let day = |h: u64| {
        // 2024-05-06 at h:00 UTC.
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_714_953_600 + h * 3600)
    };
    for (name, hour) in [("morning.txt", 9), ("afternoon.txt", 15)] {
        let p = src.path().join(name);
        std::fs::write(&p, name).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(day(hour))
            .unwrap();
    }
    let first = migrate_local(src.path(), root.path(), work.path())
        .args(["--migrate-files-modified-after", "2024-05-06T14:30:00Z"])
        .output()
        .unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let lib = library(root.path());
    assert!(lib.join("afternoon.txt").exists() && !lib.join("morning.txt").exists());
    let resumed = resume_json(work.path()).output().unwrap();
    assert_eq!(resumed.status.code(), Some(0));
    assert!(
        !lib.join("morning.txt").exists(),
        "the resumed round filters at 14:30 too"
    );
    let status = status_json(work.path()).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("2024-05-06T14:30:00Z"), "{text}");
}

/// `kill -9` of a run into the embedded local target, then the same command again: every file
/// arrives, and by the target's own import records none is imported twice. The target keeps its
/// job records in its store, so the resumed client settles the jobs that ended instead of
/// sending their files again.
#[cfg(unix)]
#[test]
fn kill_9_then_rerun_into_the_local_target_never_reimports_a_recorded_job() {
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for d in 0..12 {
        let dir = src.path().join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for i in 0..250 {
            std::fs::write(dir.join(format!("f{i:03}.txt")), format!("{d}/{i}")).unwrap();
        }
    }
    let imports = |root: &std::path::Path| -> Vec<(String, i64)> {
        let db = root.join("_emulator/state.db");
        let Ok(c) =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        else {
            return Vec::new();
        };
        let Ok(mut st) =
            c.prepare("SELECT url, COUNT(*) FROM imports WHERE kind = 'File' GROUP BY url")
        else {
            return Vec::new();
        };
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map(|rows| rows.flatten().collect())
            .unwrap_or_default()
    };
    let mut child = migrate_local(src.path(), root.path(), work.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once some jobs have ended and been imported, before the client is done.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut seen = 0;
    while std::time::Instant::now() < deadline {
        seen = imports(root.path()).len();
        if seen > 0 || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    assert!(
        seen > 0 && seen < 3000,
        "killed mid-run ({seen} files imported)"
    );

    let again = migrate_local(src.path(), root.path(), work.path())
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_each_file_imported_once(root.path(), 3000, "after a kill -9 and a rerun");
    let lib = library(root.path());
    for d in 0..12 {
        for i in 0..250 {
            assert_eq!(
                std::fs::read_to_string(lib.join(format!("d{d:02}/f{i:03}.txt"))).unwrap(),
                format!("{d}/{i}")
            );
        }
    }
}

/// The kill-anywhere test: a 5,000-file run killed (SIGKILL) at 20 points spread over the run,
/// `migrate` (a command for one run into the target at `root`) started again each time; at the
/// end the target holds the source exactly, and its own import records show every file
/// imported exactly once.
#[cfg(unix)]
fn killed_anywhere_twenty_times(
    root: &std::path::Path,
    migrate: &dyn Fn(&std::path::Path, &std::path::Path) -> std::process::Command,
) {
    let (src, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dirs, per) = (20, 250);
    for d in 0..dirs {
        let dir = src.path().join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for i in 0..per {
            std::fs::write(
                dir.join(format!("f{i:03}.txt")),
                format!("{d}/{i} ").repeat(i % 7 + 1),
            )
            .unwrap();
        }
    }
    let imported = |root: &std::path::Path| -> usize {
        rusqlite::Connection::open_with_flags(
            root.join("_emulator/state.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(DISTINCT url) FROM imports WHERE kind = 'File'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .unwrap_or(0) as usize
    };
    // Kill points: after a deterministic pseudo-random number of newly imported files (so
    // every kill lands in a run that is making progress, whatever the machine's speed), or
    // right at the start (before any import) for some.
    let mut seed = 0x5eed_u64;
    let mut kills = 0;
    let mut done = false;
    for _ in 0..20 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = imported(root) + (seed >> 33) as usize % 400;
        let mut child = migrate(src.path(), work.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut exited = false;
        while std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
            if imported(root) >= after {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if exited {
            done = true;
            break;
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        kills += 1;
    }
    assert!(
        kills >= 5,
        "the run was killed mid-way several times ({kills})"
    );
    if !done {
        let last = migrate(src.path(), work.path()).output().unwrap();
        assert_eq!(
            last.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&last.stderr)
        );
    }
    assert_each_file_imported_once(root, dirs * per, &format!("after {kills} kills"));
    eprintln!("{kills} kills; every file imported once");
    let lib = library(root);
    for d in 0..dirs {
        for i in 0..per {
            assert_eq!(
                std::fs::read_to_string(lib.join(format!("d{d:02}/f{i:03}.txt"))).unwrap(),
                format!("{d}/{i} ").repeat(i % 7 + 1)
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn killed_anywhere_twenty_times_into_the_local_target_every_file_arrives_once() {
    let root = tempfile::tempdir().unwrap();
    killed_anywhere_twenty_times(root.path(), &|src, work| {
        migrate_local(src, root.path(), work)
    });
}

/// The same against `spmt emulator` running as its own process: its jobs go on while the
/// client is dead, so a resumed client meets jobs still running, including one it created
/// but had not recorded.
#[cfg(unix)]
#[test]
fn killed_anywhere_twenty_times_into_spmt_emulator_every_file_arrives_once() {
    use std::io::BufRead;
    let root = tempfile::tempdir().unwrap();
    let token = "kill-anywhere-token";
    let mut server = spmt()
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--access-token",
            token,
        ])
        .arg("--root")
        .arg(root.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    // Its later lines are read and dropped: a closed pipe would fail its writes.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let _server = Stop(server);
    let base = first
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("the emulator names its address: {first:?}"))
        .to_string();
    let site = format!("{base}/sites/local");
    killed_anywhere_twenty_times(root.path(), &|src, work| {
        let mut c = migrate_site(src, &site, token, work);
        c.arg("--json");
        c
    });
}

/// Issue 15.8: under a tiny open-file limit (soft and hard 48, so spmt cannot raise it), the
/// scan used to fail folders with EMFILE while uploads held the descriptors, and their
/// contents appeared in no total. Now every item is scanned and migrated: the pipeline sends
/// fewer files at once to fit the limit and waits out a moment without descriptors.
#[cfg(unix)]
#[test]
fn under_a_tiny_open_file_limit_every_item_is_scanned_and_migrated() {
    use std::os::unix::process::CommandExt;
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for d in 0..100 {
        let dir = src.path().join(format!("d{d}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..30 {
            std::fs::write(dir.join(format!("f{f}.txt")), format!("{d}-{f}")).unwrap();
        }
    }
    let mut c = migrate_local(src.path(), root.path(), work.path());
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        c.pre_exec(|| {
            let l = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scanned_items"], 3100, "every folder listed: {err}");
    assert_eq!(v["items"]["migrated_files"], 3000);
    assert_eq!(v["items"]["failed"], 0);
    assert_eq!(files(&library(root.path())).len(), 3000);
    assert!(err.contains("open-file limit is low"), "{err}");
}

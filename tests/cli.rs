//! The `spmt` command as a user runs it: exit codes, the JSON summary, and the embedded local
//! target.

use std::process::Command;

fn spmt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spmt"))
}

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
    let out = spmt()
        .args([
            "migrate",
            "--target-site-url",
            "local",
            "--target-list",
            "Documents",
            "--json",
        ])
        .arg("--file-share-source")
        .arg(src.path())
        .arg("--local-target-root")
        .arg(root.path())
        .arg("--working-folder")
        .arg(work.path())
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
    let out = spmt()
        .args([
            "migrate",
            "--target-site-url",
            "local",
            "--target-list",
            "Documents",
            "--scan-only",
            "--json",
        ])
        .arg("--file-share-source")
        .arg(src.path())
        .arg("--local-target-root")
        .arg(root.path())
        .arg("--working-folder")
        .arg(work.path())
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
    let out = spmt()
        .args([
            "migrate",
            "--target-site-url",
            "local",
            "--target-list",
            "Documents",
        ])
        .arg("--file-share-source")
        .arg(src.path())
        .arg("--local-target-root")
        .arg(root.path())
        .arg("--working-folder")
        .arg(work.path())
        .env("SPMT_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\x07') && !stderr.contains("\x1b[2J"),
        "raw controls reach the terminal: {stderr:?}"
    );
    let mut report = None;
    for e in walk(work.path()) {
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
    let status = spmt()
        .args(["status", "--json", "--working-folder"])
        .arg(work.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(!err.contains("panicked"), "status panicked: {err}");
    assert_ne!(status.status.code(), Some(101));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

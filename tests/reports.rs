//! Reports and status: the CSVs parse and carry SPMT's columns, their counts agree with the
//! summary, the exit code, `spmt status` and the target tree; a task whose source cannot be
//! read fails and says why; report.html renders in headless Chromium without console errors.

mod common;

use common::cli::{json_output, migrate_local, status_json};
use common::tree::count_files;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    _dir: tempfile::TempDir,
    src: PathBuf,
    work: PathBuf,
    target: PathBuf,
}

impl Run {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Run {
            src: dir.path().join("share"),
            work: dir.path().join("work"),
            target: dir.path().join("target"),
            _dir: dir,
        }
    }

    fn migrate(&self, extra: &[&str]) -> (serde_json::Value, i32) {
        json_output(migrate_local(&self.src, &self.target, &self.work).args(extra))
    }

    fn status(&self) -> (serde_json::Value, i32) {
        json_output(&mut status_json(&self.work))
    }
}

/// (header, rows as column name → value).
fn read_csv(p: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "UTF-8 BOM for Excel"
    );
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), header.len(), "every row has every column");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

fn has_columns(header: &[String], want: &[&str]) {
    for w in want {
        assert!(header.iter().any(|h| h == w), "column {w:?} in {header:?}");
    }
}

#[test]
fn csv_reports_status_exit_code_and_tree_agree() {
    let r = Run::new();
    for i in 0..12 {
        let p = r.src.join(format!("dir{}/file{i}.txt", i % 3));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, vec![b'x'; 100 + i]).unwrap();
    }
    std::fs::write(r.src.join("bad:name.txt"), "rejected by SharePoint").unwrap();
    std::fs::write(r.src.join("notes.tmp"), "filtered out").unwrap();

    let (sum, code) = r.migrate(&["--skip-files-with-extension", "tmp"]);
    assert_eq!(code, 1, "a failed item makes exit code 1: {sum}");
    assert_eq!(sum["status"], "CompletedWithErrors");
    let tree_files = count_files(&common::emulator::library(&r.target));
    assert_eq!(tree_files, 12);
    assert_eq!(sum["items"]["migrated_files"], 12);

    let task = sum["task_id"].as_str().unwrap();
    let dir = r.work.join("Report").join(format!("TaskReport_{task}"));

    let (h, items) = read_csv(&dir.join("ItemReport_R1.csv"));
    has_columns(
        &h,
        &[
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
        ],
    );
    assert_eq!(
        items.len(),
        12 + 3 + 2,
        "files, folders, the bad and the filtered one"
    );
    let migrated_files = items
        .iter()
        .filter(|i| i["Status"] == "Migrated" && i["Content type"] == "Document")
        .count();
    assert_eq!(migrated_files, tree_files);
    let filtered = items
        .iter()
        .find(|i| i["File name"] == "notes.tmp")
        .unwrap();
    assert_eq!(filtered["Result category"], "FILTERED OUT");
    for i in items.iter().filter(|i| i["Status"] == "Migrated") {
        assert_eq!(i["Message"], "Migrated Successfully");
        assert_ne!(i["Migration job ID"], "N/A");
        assert!(i["Destination"].starts_with("local:/sites/local/Shared Documents/"));
    }

    let (h, fails) = read_csv(&dir.join("ItemFailureReport_R1.csv"));
    has_columns(&h, &["Item name", "Item size", "Error code", "Message"]);
    let msg_at = h.iter().position(|c| c == "Message").unwrap();
    assert_eq!(
        h[msg_at + 1],
        "Error code",
        "SPMT puts the code after Message"
    );
    assert_eq!(fails.len(), 1);
    assert_eq!(fails[0]["Item name"], "bad:name.txt");
    assert_eq!(fails[0]["Error code"], "0x01110010");
    assert_eq!(fails[0]["Result category"], "SCAN FILE FAILURE");
    assert!(fails[0]["Message"].contains("replace-invalid-char"));

    let (h, fsum) = read_csv(&dir.join("FailureSummaryReport_R1.csv"));
    has_columns(&h, &["Error code", "Result category", "Count"]);
    assert_eq!(fsum.len(), 1);
    assert_eq!(fsum[0]["Count"], "1");
    // Both summaries also at the top of the report folder, where admin scripts look for them.
    let top = r.work.join("Report");
    let (_, top_fsum) = read_csv(&top.join("FailureSummaryReport.csv"));
    assert_eq!(
        top_fsum, fsum,
        "the session's failure summary has the task's last round"
    );
    let (_, top_sum) = read_csv(&top.join("SummaryReport.csv"));
    assert_eq!(top_sum.len(), 1);

    let (h, scan) = read_csv(&dir.join("ScanSummary_R1.csv"));
    has_columns(
        &h,
        &[
            "Incremental round",
            "Total scanned items",
            "Total scanned folders",
            "Total scanned files",
            "Items with issues",
            "Items filtered out",
            "Items to be migrated",
            "Total items to be migrated",
        ],
    );
    assert_eq!(scan[0]["Total scanned files"], "14");
    assert_eq!(scan[0]["Total scanned folders"], "3");
    assert_eq!(scan[0]["Items with issues"], "1");
    assert_eq!(scan[0]["Items filtered out"], "1");
    assert_eq!(scan[0]["Items to be migrated"], "12");

    let summary_cols = [
        "Source",
        "Destination",
        "Status",
        "Total bytes",
        "Count of files",
        "Migrated bytes",
        "Total scanned items",
        "Total to be migrated in current round",
        "Migrated items in current round",
        "Items not migrated in current round",
        "Start time",
        "End time",
        "Duration (minutes)",
        "GB/hour",
        "Round number",
        "Task ID",
    ];
    for p in [
        dir.join("SummaryReport_R1.csv"),
        r.work.join("Report/SummaryReport.csv"),
    ] {
        let (h, rows) = read_csv(&p);
        has_columns(&h, &summary_cols);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row["Status"], "COMPLETED_WITH_ERRORS");
        assert_eq!(row["Migrated items in current round"], "15");
        assert_eq!(
            row["Migrated bytes"],
            sum["items"]["migrated_bytes"].to_string()
        );
        assert_eq!(row["Failed items"], "1");
        assert_eq!(row["Round number"], "1");
        assert_eq!(row["Task ID"], task);
    }
    let (h, _) = read_csv(&dir.join("StructureReport_R1.csv"));
    has_columns(&h, &["Structure type", "Operation", "Status", "Time stamp"]);
    let (h, perf) = read_csv(&dir.join("PerformanceReport_R1.csv"));
    has_columns(&h, &["Metric", "Score"]);
    assert!(perf.iter().any(|p| p["Metric"] == "Uploading speed"));

    // summary.json and status say the same, with SPMT's names.
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.work.join("Report/summary.json")).unwrap())
            .unwrap();
    assert_eq!(j["Rounds"][0]["Counts"]["MigratedFiles"], 12);
    let (st, st_code) = r.status();
    assert_eq!(st_code, 1, "status exit code agrees: {st}");
    assert_eq!(st["Status"], "Finished");
    assert_eq!(st["Result"], "FinishedWithErrors");
    let t = &st["StatusOfTasks"][0];
    assert_eq!(t["TaskId"], task);
    assert_eq!(t["Status"], "COMPLETED_WITH_ERRORS");
    assert_eq!(t["NumActuallyMigratedFiles"], 12);
    assert_eq!(t["NumFailedFiles"], 1);
    assert_eq!(t["NumScannedTotalFiles"], 14);
    assert_eq!(t["NumScannedBadFiles"], 1);
    assert_eq!(t["NumFileWillBeMigrated"], 12);
    assert_eq!(t["MigratingProgressPercentage"], 100);
    assert!(t["ErrorMsg"].as_str().unwrap().contains("1 item(s) failed"));
    assert_eq!(t["ReportFolder"], dir.display().to_string());
    assert_eq!(
        st["ReportFolderPath"],
        r.work.join("Report").display().to_string()
    );

    // A second round writes its own set beside the first.
    std::fs::remove_file(r.src.join("bad:name.txt")).unwrap();
    let (sum2, code2) = r.migrate(&["--skip-files-with-extension", "tmp"]);
    assert_eq!(code2, 0, "{sum2}");
    let (_, items2) = read_csv(&dir.join("ItemReport_R2.csv"));
    assert!(items2
        .iter()
        .filter(|i| i["Content type"] == "Document" && i["File name"] != "notes.tmp")
        .all(|i| i["Result category"] == "SKIPPED UNCHANGED"));
    assert!(dir.join("ItemReport_R1.csv").exists());
    let (_, all) = read_csv(&r.work.join("Report/SummaryReport.csv"));
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["Status"], "COMPLETED");
    let (st, st_code) = r.status();
    assert_eq!((st["Result"].as_str(), st_code), (Some("Succeeded"), 0));
}

#[test]
fn a_task_whose_source_cannot_be_read_fails_and_says_why() {
    let r = Run::new();
    // r.src does not exist.
    let (v, code) = r.migrate(&[]);
    assert_eq!(code, 2, "{v}");
    let (st, st_code) = r.status();
    assert_eq!(st_code, 1);
    assert_eq!(st["Result"], "Failed", "{st}");
    let t = &st["StatusOfTasks"][0];
    assert_eq!(t["Status"], "FAILED");
    assert!(
        t["ErrorMsg"].as_str().unwrap().contains("share"),
        "names the source: {t}"
    );
    let (_, rows) = read_csv(&r.work.join("Report/SummaryReport.csv"));
    assert_eq!(rows[0]["Status"], "FAILED");
    assert!(!rows[0]["Error"].is_empty());
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn report_html_renders_in_headless_chromium_without_console_errors() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("SPMT_REQUIRE_CHROMIUM").is_none(),
            "SPMT_REQUIRE_CHROMIUM is set but Chromium is not installed"
        );
        eprintln!("skipped: no chromium (apt-get install chromium)");
        return;
    };
    let r = Run::new();
    for i in 0..40 {
        let p = r.src.join(format!("d{}/f{i}.bin", i % 4));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, vec![7u8; 20_000 * (i + 1)]).unwrap();
    }
    std::fs::write(r.src.join("bad|name.txt"), "x").unwrap();
    std::fs::write(r.src.join("con.txt"), "reserved name").unwrap();
    let (_, code) = r.migrate(&[]);
    assert_eq!(code, 1);
    let html = r.work.join("Report/report.html");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("Failures and left-out items by reason"));
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "no external assets"
    );
    assert!(page.contains("COMPLETED_WITH_ERRORS"));

    let shot = std::env::var_os("SPMT_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| r.work.clone());
    std::fs::create_dir_all(&shot).unwrap();
    let png = shot.join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(out.status.success(), "chromium failed: {log}");

    // The screenshot shows a page, not a blank: many distinct colours, red and green badges.
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0usize;
    for p in buf[..info.buffer_size()].chunks(px) {
        colours.insert((p[0], p[1], p[2]));
        if p[0] < 240 || p[1] < 240 || p[2] < 240 {
            non_white += 1;
        }
    }
    assert!(
        colours.len() > 50,
        "only {} colours: blank page?",
        colours.len()
    );
    assert!(non_white > 20_000, "only {non_white} non-white pixels");
    eprintln!("screenshot: {}", png.display());
}

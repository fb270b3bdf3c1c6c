//! A SharePoint Server library as the source: the emulator's farm personality serves a site
//! over SharePoint's REST surface behind NTLM, `spmt migrate --sharepoint-source-site-url` signs
//! in, reads it and migrates it into the embedded local target, and the target's tree is
//! compared with what the farm holds, byte for byte and time for time. NTLM is also checked
//! across implementations: spmt's client (sspi) against pyspnego's acceptor, and the farm's
//! acceptor against curl's client.

mod common;

use common::cli::{json_output_off_runtime, spmt};
use common::emulator::library;
use common::tree::{files, set_mtime};
use spmt::emulator::farm::{self, FarmConfig, FARM_PASSWORD, FARM_USER};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `spmt migrate` of the farm library `list` into `Documents` of the local target at `root`,
/// signed in as the farm's account (the password in the environment, as a script gives it).
fn migrate_library(site: &str, list: &str, root: &Path, work: &Path) -> Command {
    let mut c = spmt();
    c.args(["migrate", "--json", "--sharepoint-source-site-url", site])
        .args(["--source-list", list])
        .args(["--source-username", FARM_USER])
        .env("SPMT_SOURCE_PASSWORD", FARM_PASSWORD)
        .args(["--target-site-url", "local", "--target-list", "Documents"])
        .arg("--local-target-root")
        .arg(root)
        .arg("--working-folder")
        .arg(work);
    c
}

/// The farm's folder, the local target's root and the working folder.
fn three_dirs() -> (tempfile::TempDir, tempfile::TempDir, tempfile::TempDir) {
    (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    )
}

/// Every file under `dir`, by path relative to it: (bytes, modified time in seconds).
fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, i64)> {
    files(dir)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap();
            let secs = m
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            (
                p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                (std::fs::read(&p).unwrap(), secs),
            )
        })
        .collect()
}

/// A library with folders, awkward names and a file of several MiB.
fn seed_documents(lib: &Path) {
    let files: &[(&str, usize)] = &[
        ("Budget 2024.xlsx", 5_000),
        ("Reports/Q1 #1 & 50%.docx", 70_000),
        ("Reports/Übersicht – Café.pdf", 1_234),
        ("Reports/Archive/O'Brien notes.txt", 17),
        ("Reports/Archive/empty.txt", 0),
        ("Design/big.bin", 6 * 1024 * 1024 + 3),
    ];
    for (i, (rel, len)) in files.iter().enumerate() {
        let p = lib.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, common::tree::content(i, *len)).unwrap();
        set_mtime(&p, 1_600_000_000 + i as i64 * 86_400);
    }
    std::fs::create_dir_all(lib.join("Empty folder")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_migrates_from_the_farm_with_its_folders_bytes_and_times() {
    let (farm_dir, root, work) = three_dirs();
    let docs = farm_dir.path().join("Shared Documents");
    seed_documents(&docs);
    let farm = farm::start(FarmConfig::new(farm_dir.path().to_path_buf()))
        .await
        .unwrap();
    let (v, code) = json_output_off_runtime(migrate_library(
        &farm.site_url,
        "Shared Documents",
        root.path(),
        work.path(),
    ))
    .await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["items"]["failed"], 0, "{v}");
    let target = library(root.path());
    assert_eq!(
        tree(&target),
        tree(&docs),
        "the target holds the farm's files"
    );
    assert!(
        target.join("Empty folder").is_dir(),
        "empty folders come too"
    );

    // The next round sends only what changed on the farm. (The farm reads its folder when it
    // starts: a new farm serves the change.)
    drop(farm);
    let changed = docs.join("Reports/Archive/O'Brien notes.txt");
    std::fs::write(&changed, b"revised notes").unwrap();
    set_mtime(&changed, 1_700_000_000);
    let farm = farm::start(FarmConfig::new(farm_dir.path().to_path_buf()))
        .await
        .unwrap();
    let (v, code) = json_output_off_runtime(migrate_library(
        &farm.site_url,
        "Shared Documents",
        root.path(),
        work.path(),
    ))
    .await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["items"]["migrated"], 1, "only the changed file: {v}");
    assert_eq!(tree(&target), tree(&docs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_above_the_list_view_threshold_is_read_whole_in_pages() {
    let (farm_dir, root, work) = three_dirs();
    let lib = farm_dir.path().join("Big");
    for i in 0..130 {
        let p = lib.join(format!("part {}/file {i:03}.txt", i % 4));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("file {i}")).unwrap();
    }
    // 134 items against a threshold of 25: a page of 5,000 is refused, as SharePoint refuses
    // it, and the client's pages shrink until the farm answers.
    let farm = farm::start(FarmConfig {
        threshold: 25,
        ..FarmConfig::new(farm_dir.path().to_path_buf())
    })
    .await
    .unwrap();
    let (v, code) = json_output_off_runtime(migrate_library(
        &farm.site_url,
        "Big",
        root.path(),
        work.path(),
    ))
    .await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["items"]["migrated"], 134, "130 files and 4 folders: {v}");
    assert_eq!(tree(&library(root.path())), tree(&lib));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_library_and_a_2010_farm_are_clear_errors() {
    let (farm_dir, root, work) = three_dirs();
    seed_documents(&farm_dir.path().join("Shared Documents"));
    let farm = farm::start(FarmConfig::new(farm_dir.path().to_path_buf()))
        .await
        .unwrap();
    let out = migrate_library(&farm.site_url, "Missing", root.path(), work.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no library 'Missing'") && err.contains("SourceList"),
        "{err}"
    );
    assert!(!library(root.path()).join("Budget 2024.xlsx").exists());

    let old = farm::start(FarmConfig {
        version: farm::SP2010.into(),
        ..FarmConfig::new(farm_dir.path().to_path_buf())
    })
    .await
    .unwrap();
    let out = migrate_library(&old.site_url, "Shared Documents", root.path(), work.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("SharePoint 2010"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_none_is_a_clear_error_that_never_shows_the_password() {
    let (farm_dir, root, work) = three_dirs();
    seed_documents(&farm_dir.path().join("Shared Documents"));
    let farm = farm::start(FarmConfig::new(farm_dir.path().to_path_buf()))
        .await
        .unwrap();
    let wrong = "not-the-Password-1";
    let out = migrate_library(&farm.site_url, "Shared Documents", root.path(), work.path())
        .env("SPMT_SOURCE_PASSWORD", wrong)
        .output()
        .unwrap();
    let (stdout, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refused the credentials of CONTOSO\\spadmin"),
        "{err}"
    );
    let log = std::fs::read_to_string(work.path().join("spmt.log")).unwrap_or_default();
    for text in [stdout.as_ref(), err.as_ref(), log.as_str()] {
        assert!(!text.contains(wrong), "the password is shown: {text}");
    }
    assert!(!library(root.path()).join("Budget 2024.xlsx").exists());

    // No account at all: the farm's 401 is named, with what to give.
    let mut c = spmt();
    c.args([
        "migrate",
        "--json",
        "--sharepoint-source-site-url",
        &farm.site_url,
    ])
    .args(["--source-list", "Shared Documents"])
    .args(["--target-site-url", "local", "--target-list", "Documents"])
    .arg("--local-target-root")
    .arg(root.path())
    .arg("--working-folder")
    .arg(work.path());
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--source-username"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spmt_signs_in_through_pyspnego_an_ntlm_acceptor_it_did_not_write() {
    let (farm_dir, root, work) = three_dirs();
    let docs = farm_dir.path().join("Shared Documents");
    seed_documents(&docs);
    // The farm lets everything through; the proxy in front of it does the NTLM.
    let farm = farm::start(FarmConfig {
        account: None,
        ..FarmConfig::new(farm_dir.path().to_path_buf())
    })
    .await
    .unwrap();
    let upstream = farm.site_url.trim_end_matches("/sites/proj").to_string();
    let users = farm_dir.path().join("ntlm-users");
    std::fs::write(&users, format!("CONTOSO:spadmin:{FARM_PASSWORD}\n")).unwrap();
    let mut proxy = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ntlm/proxy.py"))
        .arg(&upstream)
        .env("NTLM_USER_FILE", &users)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with pyspnego (pip install pyspnego; .ci/run installs it)");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(proxy.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the proxy did not start: {line:?}"));
    let site = format!("http://127.0.0.1:{port}/sites/proj");
    let out = common::cli::output_off_runtime(migrate_library(
        &site,
        "Shared Documents",
        root.path(),
        work.path(),
    ))
    .await;
    let wrong = common::cli::output_off_runtime({
        let mut c = migrate_library(&site, "Shared Documents", root.path(), work.path());
        c.env("SPMT_SOURCE_PASSWORD", "wrong");
        c
    })
    .await;
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree(&library(root.path())), tree(&docs));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(2), "{err}");
    assert!(err.contains("refused the credentials"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_farms_ntlm_acceptor_admits_curl_with_the_password_and_only_with_it() {
    let farm_dir = tempfile::tempdir().unwrap();
    seed_documents(&farm_dir.path().join("Shared Documents"));
    let farm = farm::start(FarmConfig::new(farm_dir.path().to_path_buf()))
        .await
        .unwrap();
    let url = format!("{}/_api/web", farm.site_url);
    let curl = |password: &str| {
        let url = url.clone();
        let user = format!("{FARM_USER}:{password}");
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["-s", "--ntlm", "-u", &user, "-w", "\n%{http_code}", &url])
                .output()
                .expect("curl")
        })
    };
    let ok = curl(FARM_PASSWORD).await.unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.ends_with("\n200"), "{text}");
    assert!(
        text.contains("\"ServerRelativeUrl\":\"/sites/proj\""),
        "{text}"
    );
    let bad = curl("wrong").await.unwrap();
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.ends_with("\n401"), "{text}");
}

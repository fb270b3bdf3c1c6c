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

/// A farm whose `Reports/plan.docx` has three versions by three people, one of whom no mapping
/// reaches, and whose `notes.txt` was made by a user the site no longer has (id 42). Returns
/// (current, [v1.0, v2.0]) bytes.
fn seed_history(farm_dir: &Path) -> (Vec<u8>, [Vec<u8>; 2]) {
    let docs = farm_dir.join("Shared Documents");
    std::fs::create_dir_all(docs.join("Reports")).unwrap();
    let current = common::tree::content(1, 40_000);
    let older = [
        common::tree::content(2, 30_000),
        common::tree::content(3, 35_000),
    ];
    std::fs::write(docs.join("Reports/plan.docx"), &current).unwrap();
    std::fs::write(docs.join("notes.txt"), b"notes").unwrap();
    let hist = farm_dir.join(farm::SEED_DIR);
    std::fs::create_dir_all(&hist).unwrap();
    std::fs::write(hist.join("plan-1.bin"), &older[0]).unwrap();
    std::fs::write(hist.join("plan-2.bin"), &older[1]).unwrap();
    let seed = serde_json::json!({
        "roles": [{"id": 1073741930, "name": "Approver", "description": "Approves documents", "perm_mask": 1_011_028_719u64}],
        "users": [
            {"id": 7, "login": "i:0#.w|contoso\\alice", "title": "Alice", "sid": "S-1-5-21-1-2-3-1107"},
            {"id": 8, "login": "i:0#.w|contoso\\bob", "title": "Bob", "email": "bob@contoso.com"},
            {"id": 9, "login": "i:0#.w|contoso\\carol", "title": "Carol"}
        ],
        "items": {
            "Shared Documents/Reports/plan.docx": {
                "author": 7, "editor": 8, "version": "3.0", "comment": "final",
                "permissions": [
                    {"principal": 8, "roles": [1073741826]},
                    {"principal": 9, "roles": [1073741830]}
                ],
                "versions": [
                    {"label": "1.0", "file": "plan-1.bin", "created": "2023-03-02T09:00:00Z", "created_by": 7, "comment": "first draft"},
                    {"label": "2.0", "file": "plan-2.bin", "created": "2023-03-04T10:30:00Z", "created_by": 9, "comment": "second"}
                ]
            },
            "Shared Documents/notes.txt": {"author": 42, "editor": 9},
            // Unique permissions: Alice contributes to Reports, Bob approves there (a custom
            // role); on plan.docx Bob reads and Carol (mapped to no one) edits.
            "Shared Documents/Reports": {"author": 7, "permissions": [
                {"principal": 7, "roles": [1073741827]},
                {"principal": 8, "roles": [1073741930]}
            ]}
        }
    });
    std::fs::write(hist.join("farm.json"), seed.to_string()).unwrap();
    (current, older)
}

/// GET on the local target's SPO REST for `Reports/plan.docx`.
async fn plan_rest(h: &spmt::emulator::EmulatorHandle, tail: &str) -> reqwest::Response {
    target_rest(
        h,
        &format!(
            "GetFileByServerRelativeUrl('/sites/local/Shared%20Documents/Reports/plan.docx'){tail}"
        ),
    )
    .await
}

/// GET `/_api/web/{call}` on the local target's SPO REST.
async fn target_rest(h: &spmt::emulator::EmulatorHandle, call: &str) -> reqwest::Response {
    let url = format!("{}/_api/web/{call}", h.site_url("local"));
    reqwest::Client::new()
        .get(url)
        .bearer_auth(common::emulator::TOKEN)
        .header("accept", "application/json;odata=verbose")
        .send()
        .await
        .unwrap()
}

async fn plan_json(h: &spmt::emulator::EmulatorHandle, tail: &str) -> serde_json::Value {
    let r = plan_rest(h, tail).await;
    assert_eq!(r.status(), 200, "{tail}");
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    v["d"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_authors_and_editors_arrive_mapped_and_readable_through_the_targets_rest() {
    let (farm_dir, root, work) = three_dirs();
    let (current, older) = seed_history(farm_dir.path());
    let mapping = work.path().join("map.csv");
    std::fs::write(
        &mapping,
        "i:0#.w|contoso\\alice,alice@contoso.onmicrosoft.com,FALSE\n",
    )
    .unwrap();
    let farm = farm::start(FarmConfig::new(farm_dir.path().to_path_buf()))
        .await
        .unwrap();
    let mut c = migrate_library(&farm.site_url, "Shared Documents", root.path(), work.path());
    c.arg("--user-mapping-file").arg(&mapping);
    let (v, code) = json_output_off_runtime(c).await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["items"]["failed"], 0, "{v}");
    let target = library(root.path());
    assert_eq!(
        std::fs::read(target.join("Reports/plan.docx")).unwrap(),
        current
    );

    // Read back through the target's own REST, as one would on SharePoint Online.
    let h = common::emulator::start(common::emulator::config(root.path())).await;
    let d = plan_json(&h, "/Versions?$expand=CreatedBy").await;
    let versions = d["results"].as_array().unwrap();
    let labels: Vec<&str> = versions
        .iter()
        .map(|v| v["VersionLabel"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["1.0", "2.0"], "{d}");
    assert_eq!(versions[0]["CheckInComment"], "first draft");
    assert_eq!(versions[1]["CheckInComment"], "second");
    assert!(versions[0]["Created"]
        .as_str()
        .unwrap()
        .starts_with("2023-03-02T09:00:00"));
    // Alice by the mapping file; Carol maps to no one, so the service records the System Account.
    assert_eq!(
        versions[0]["CreatedBy"]["LoginName"],
        "i:0#.f|membership|alice@contoso.onmicrosoft.com"
    );
    assert_eq!(versions[1]["CreatedBy"]["LoginName"], "SHAREPOINT\\system");
    for (id, want) in [(512, &older[0]), (1024, &older[1])] {
        let r = plan_rest(&h, &format!("/Versions({id})/$value")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(&r.bytes().await.unwrap()[..], &want[..], "version {id}");
    }
    let f = plan_json(&h, "/ListItemAllFields?$expand=Author,Editor").await;
    assert_eq!(
        f["Author"]["LoginName"],
        "i:0#.f|membership|alice@contoso.onmicrosoft.com"
    );
    // Bob has no mapping row: automatic mapping finds him by his e-mail address.
    assert_eq!(
        f["Editor"]["LoginName"],
        "i:0#.f|membership|bob@contoso.com"
    );
    assert_eq!(f["OData__UIVersionString"], "3.0");
    let file = plan_json(&h, "").await;
    assert_eq!(file["CheckInComment"], "final");

    // Unique permissions, as the target's REST shows them: principals mapped, built-in roles
    // by name, the custom role declared; Carol's assignment had no one to go to.
    let assignments = |d: serde_json::Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = d["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["Member"]["LoginName"].as_str().unwrap().to_string(),
                    a["RoleDefinitionBindings"]["results"][0]["Name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(f["HasUniqueRoleAssignments"], true);
    assert_eq!(
        assignments(plan_json(&h, "/ListItemAllFields/roleassignments").await),
        [(
            "i:0#.f|membership|bob@contoso.com".to_string(),
            "Read".to_string()
        )]
    );
    let r = target_rest(
        &h,
        "GetFolderByServerRelativeUrl('/sites/local/Shared%20Documents/Reports')/ListItemAllFields/roleassignments",
    )
    .await;
    assert_eq!(r.status(), 200);
    let folder: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        assignments(folder["d"].clone()),
        [
            (
                "i:0#.f|membership|alice@contoso.onmicrosoft.com".to_string(),
                "Contribute".to_string()
            ),
            (
                "i:0#.f|membership|bob@contoso.com".to_string(),
                "Approver".to_string()
            ),
        ]
    );
    let r = target_rest(
        &h,
        "GetFileByServerRelativeUrl('/sites/local/Shared%20Documents/notes.txt')/ListItemAllFields",
    )
    .await;
    let notes: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        notes["d"]["HasUniqueRoleAssignments"], false,
        "inherited stays inherited"
    );

    // Carol is in UserNotMapped.csv, with why.
    let reports = work.path().join("Report");
    let not_mapped: Vec<_> = common::tree::files(&reports)
        .into_iter()
        .filter(|p| p.ends_with("UserNotMapped.csv"))
        .collect();
    assert_eq!(not_mapped.len(), 1, "one task, one UserNotMapped.csv");
    let text = std::fs::read_to_string(&not_mapped[0]).unwrap();
    assert!(
        text.contains("contoso\\carol") && text.contains("not in the user mapping file"),
        "{text}"
    );
    assert!(!text.contains("alice") && !text.contains("bob"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_settings_choose_how_much_history_goes_and_a_bad_mapping_file_stops_first() {
    let (farm_dir, root, work) = three_dirs();
    seed_history(farm_dir.path());
    let farm = farm::start(FarmConfig::new(farm_dir.path().to_path_buf()))
        .await
        .unwrap();
    // Two versions in all: the current one and the newest older one.
    let mut c = migrate_library(&farm.site_url, "Shared Documents", root.path(), work.path());
    c.args(["--number-of-versions-to-migrate", "2"]);
    let (v, code) = json_output_off_runtime(c).await;
    assert_eq!(code, 0, "{v}");
    let h = common::emulator::start(common::emulator::config(root.path())).await;
    let d = plan_json(&h, "/Versions").await;
    let labels: Vec<&str> = d["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VersionLabel"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["2.0"], "{d}");
    drop(h);

    // No history at all, and no unique permissions.
    let (root2, work2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut c = migrate_library(
        &farm.site_url,
        "Shared Documents",
        root2.path(),
        work2.path(),
    );
    c.args(["--preserve-user-permissions-for-sharepoint-source", "false"]);
    c.args(["--migrate-file-version-history", "false"]);
    let (v, code) = json_output_off_runtime(c).await;
    assert_eq!(code, 0, "{v}");
    let h = common::emulator::start(common::emulator::config(root2.path())).await;
    let d = plan_json(&h, "/Versions").await;
    assert_eq!(d["results"], serde_json::json!([]), "{d}");
    let f = plan_json(&h, "/ListItemAllFields").await;
    assert_eq!(f["HasUniqueRoleAssignments"], false);
    drop(h);

    // A mapping file with a bad row: refused by line, before anything is sent.
    let (root3, work3) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mapping = work3.path().join("map.csv");
    std::fs::write(
        &mapping,
        "contoso\\alice,alice@contoso.com,FALSE\ncontoso\\bob,bob@contoso.com\n",
    )
    .unwrap();
    let mut c = migrate_library(
        &farm.site_url,
        "Shared Documents",
        root3.path(),
        work3.path(),
    );
    c.arg("--user-mapping-file").arg(&mapping);
    let out = common::cli::output_off_runtime(c).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    let said = format!("{stdout}{stderr}");
    assert!(
        said.contains("map.csv") && said.contains("line 2") && said.contains("expected 3"),
        "{said}"
    );
    assert_eq!(common::emulator::library_file_count(root3.path()), 0);
}

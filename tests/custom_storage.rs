//! Custom Azure storage (SPMT's CustomAzureStorageAccount): `spmt migrate` uploads into a
//! storage account the user owns — here a test-started Azurite — and the local target imports
//! from there with the SAS URIs spmt hands it.

mod common;

use common::azurite::{start_azurite, Azurite, DEV_KEY};
use common::cli::{migrate_local, migrate_local_text};

fn connection_string(az: &Azurite) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint={};QueueEndpoint={};",
        az.blob, az.queue
    )
}

/// Lists with an account SAS (the test's own view of the account): the `<Name>`s in the reply.
fn list_names(url: &str) -> Vec<String> {
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, DEV_KEY).unwrap();
    let expiry = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let sas = spmt::wire::account_sas("devstoreaccount1", &key, "bq", "sco", "rl", &expiry);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}&{sas}"))
            .header("x-ms-version", spmt::wire::STORAGE_VERSION)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    body.split("<Name>")
        .skip(1)
        .filter_map(|s| s.split_once("</Name>").map(|(n, _)| n.to_string()))
        .collect()
}

#[test]
fn migrate_with_custom_storage_uploads_to_azurite_and_the_files_arrive() {
    let az = start_azurite();
    let (src, root, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::create_dir(src.path().join("docs")).unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 5).map(|i| (i % 253) as u8).collect();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("docs/a.txt", b"alpha".to_vec()),
        ("b.txt", b"beta".to_vec()),
        ("docs/empty.bin", vec![]),
        ("docs/big.bin", big),
    ];
    for (p, d) in &files {
        std::fs::write(src.path().join(p), d).unwrap();
    }
    let out = migrate_local(src.path(), root.path(), work.path())
        .arg("--azure-storage-connection-string")
        .arg(connection_string(&az))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(v["items"]["migrated"], 5, "{stdout}");
    assert_eq!(v["items"]["failed"], 0, "{stdout}");

    // The bytes arrived in the target library.
    let lib = common::emulator::library(root.path());
    for (p, d) in &files {
        assert_eq!(&std::fs::read(lib.join(p)).unwrap(), d, "{p}");
    }

    // The package went through the customer's account: a data and a manifest container, one
    // encrypted blob per file plus the eight XMLs and the import logs.
    let containers = list_names(&format!("{}?comp=list", az.blob));
    let data: Vec<&String> = containers
        .iter()
        .filter(|c| c.ends_with("-files"))
        .collect();
    let pkg: Vec<&String> = containers
        .iter()
        .filter(|c| c.ends_with("-package"))
        .collect();
    assert_eq!((data.len(), pkg.len()), (1, 1), "{containers:?}");
    let blobs = list_names(&format!(
        "{}/{}?restype=container&comp=list",
        az.blob, data[0]
    ));
    assert_eq!(blobs.len(), 4, "one blob per file: {blobs:?}");
    let manifest = list_names(&format!(
        "{}/{}?restype=container&comp=list",
        az.blob, pkg[0]
    ));
    for x in ["Manifest.xml", "UserGroup.xml", "ExportSettings.xml"] {
        assert!(manifest.iter().any(|b| b == x), "{x} in {manifest:?}");
    }
    assert!(
        manifest
            .iter()
            .any(|b| b.starts_with("Import-") && b.ends_with(".log")),
        "the import log is written back to the manifest container: {manifest:?}"
    );
    let queues = list_names(&format!("{}?comp=list", az.queue));
    assert!(queues.iter().any(|q| q.starts_with("spmt-")), "{queues:?}");

    // The account key never reaches the output or the log.
    let log = std::fs::read_to_string(work.path().join("spmt.log")).unwrap_or_default();
    for text in [&*stdout, &*stderr, &log] {
        assert!(!text.contains(&DEV_KEY[..20]), "key leaked: {text}");
    }
}

#[test]
fn a_malformed_connection_string_exits_2_naming_the_field_not_the_key() {
    let src = tempfile::tempdir().unwrap();
    let secret = "c2VjcmV0*not-base64*";
    let out = migrate_local_text(src.path(), &src.path().join("t"), &src.path().join("w"))
        .arg("--azure-storage-connection-string")
        .arg(format!("AccountName=contoso;AccountKey={secret}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("AccountKey") && err.contains("connection string"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
}

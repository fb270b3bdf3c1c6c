//! The emulator (the embedded local target) started in-process on loopback, and what its own
//! records say it imported. A test that needs other settings starts from [`config`] with
//! struct update syntax: `EmulatorConfig { faults, ..config(root) }`.

use spmt::emulator::{self, EmulatorConfig, EmulatorHandle, FaultProfile};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The bearer token [`config`] sets.
pub const TOKEN: &str = "e2e-test-token";

/// Loopback on a free port, data under `root`, [`TOKEN`], lenient, no faults, four jobs at
/// once, no precreated sites, imported blobs released (as the embedded local target does).
pub fn config(root: &Path) -> EmulatorConfig {
    EmulatorConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        root: root.to_path_buf(),
        access_token: TOKEN.into(),
        strict: false,
        faults: FaultProfile::default(),
        max_concurrent_jobs: 4,
        precreate: vec![],
        release_imported_blobs: true,
        ..EmulatorConfig::default()
    }
}

/// Starts the emulator; panics if it cannot.
pub async fn start(cfg: EmulatorConfig) -> EmulatorHandle {
    emulator::start(cfg).await.expect("emulator starts")
}

/// The library `Documents` of site `local` under an emulator root, where migrations land.
pub fn library(root: &Path) -> PathBuf {
    root.join("sites/local/Documents")
}

/// How many files the library `Documents` of site `local` holds (0 before it exists).
pub fn library_file_count(root: &Path) -> usize {
    let lib = library(root);
    if lib.exists() {
        crate::common::tree::count_files(&lib)
    } else {
        0
    }
}

/// By the target's own import records under `root`: `files` files imported, none twice
/// (`after` says after what, for the message).
pub fn assert_each_file_imported_once(root: &Path, files: usize, after: &str) {
    let imports = file_imports(root);
    let mut twice: Vec<_> = imports.iter().filter(|(_, n)| **n > 1).collect();
    twice.sort();
    assert!(
        twice.is_empty(),
        "{} files imported twice {after}, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(3)]
    );
    assert_eq!(imports.len(), files, "files imported {after}");
}

/// File imports per server-relative URL, from the emulator's import records under `root`.
pub fn file_imports(root: &Path) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in emulator::import_records(root)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "File")
    {
        *m.entry(r.server_relative_url).or_insert(0) += 1;
    }
    m
}

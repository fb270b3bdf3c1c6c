//! A local stand-in for the parts of SharePoint Online and its Azure storage that the Migration
//! API uses, so migrations can be rehearsed, scripted and tested without a tenant.
//!
//! One HTTP listener serves three surfaces (reference §10):
//! - `{base}/sites/{site}/_api/...`: SPO REST (web and list lookup, the Migration API functions);
//! - `{base}/blob/{account}/{container}/{blob}?{sas}`: the Azure blob subset the client uses;
//! - `{base}/queue/{account}/{queue}/messages?{sas}`: the Azure queue subset.
//!
//! Jobs are imported by [`importer`] into a plain folder tree `root/sites/<site>/<library title>/`
//! with versions and metadata in a SQLite sidecar under `root/_emulator/`.
//!
//! The emulator shares only `crate::wire` (formats) and `crate::crypto` with the client, never the
//! client's logic, so each holds the other to the wire rules.

mod blob;
mod entra;
mod events;
pub mod farm;
mod farm_ntlm;
mod faults;
mod importer;
mod library;
/// Public for the fuzz target `package_xml` (tests/fuzz): the XML a client uploads.
#[doc(hidden)]
pub mod manifest;
mod queue;
mod recycle;
mod remote;
mod rest;
mod root_lock;
mod sas;
mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use blob::{BlobSource, SourceBlob, SourceError};
pub use entra::{
    EntraApp, EntraConfig, EntraUser, Persona, TrustedIssuer, LOCAL_ADMIN, LOCAL_ADMIN_PASSWORD,
    LOCAL_CLIENT_ID, LOCAL_TENANT_DOMAIN, LOCAL_TENANT_ID,
};
pub use importer::title_dir as library_folder_name;
pub use library::ImportRecord;

/// Which requests a [`FaultProfile`] applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub enum FaultScope {
    #[default]
    All,
    /// Only SPO REST calls (`/sites/...`).
    Rest,
    /// Only blob and queue calls.
    Storage,
}

/// Faults injected on demand, for tests and benchmarks. Load from JSON with
/// [`load_fault_profile`]; every field is optional there.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct FaultProfile {
    /// Fraction of requests answered 429 + Retry-After.
    pub throttle_rate: f64,
    /// Fraction of requests answered 503 + Retry-After.
    pub unavailable_rate: f64,
    /// Value of Retry-After in seconds (1 when 0).
    pub retry_after_secs: u64,
    /// SPO-like ceiling: requests over it within the current second get 429 + Retry-After: 1.
    pub max_requests_per_sec: Option<u32>,
    /// Added to every request.
    pub latency_ms: u64,
    /// Fraction of requests whose connection is closed with no response.
    pub drop_rate: f64,
    /// An imported file or folder whose server-relative URL ends with or contains one of these
    /// gets a JobError and is not written.
    pub fail_items: Vec<String>,
    /// The answer to `CreateMigrationJob*` waits this long after the job is created: a client
    /// that dies meanwhile leaves a job running whose id it never learnt.
    pub create_job_reply_delay_ms: u64,
    /// Deterministic fault choice for tests.
    pub seed: Option<u64>,
    pub scope: FaultScope,
}

pub struct EmulatorConfig {
    /// `127.0.0.1:0` is allowed; the bound address is reported by [`EmulatorHandle::base_url`].
    pub listen: SocketAddr,
    /// Data dir: libraries at `root/sites/<site>/<library title>/...`, sidecar at `root/_emulator/`.
    pub root: PathBuf,
    /// The only bearer token accepted. Empty: a random one is generated (see
    /// [`EmulatorHandle::access_token`]).
    pub access_token: String,
    /// Sites and libraries must exist (see `precreate`), blobs must have snapshots, containers are
    /// single-use.
    pub strict: bool,
    pub faults: FaultProfile,
    /// Jobs importing at once; others stay Queued. 0 means the default, 4.
    pub max_concurrent_jobs: usize,
    /// (site name, library title) created at start: how strict mode gets its sites.
    pub precreate: Vec<(String, String)>,
    /// Libraries must exist before a client looks them up, as on SharePoint: a lookup of an
    /// unknown title answers 404, so a mistyped library fails the rehearsal as it would fail
    /// against a real site. A library exists once created (`precreate`) or when its folder
    /// `root/sites/<site>/<title>` exists: `mkdir` is how a user adds one. Off (`spmt emulator`,
    /// tests): an unknown library is created on its first lookup.
    pub libraries_must_exist: bool,
    /// Drop a data container's blobs once a job that imported from it has ended. For a client
    /// that provisions new containers per job and never reads content back (the embedded local
    /// target): otherwise the target keeps a second, encrypted copy of every migrated byte until
    /// it stops (SPO itself keeps them 4-30 days, reference §1), and this host pays for it in
    /// disk space and in fresh page-cache pages. Off: blobs stay readable, as on Azure.
    pub release_imported_blobs: bool,
    /// Set by the owner to abandon running jobs: each stops before its next object and before
    /// committing, ending with a fatal error and nothing imported (the client sends it again).
    /// For an in-process target whose host is going away: without it a job still importing
    /// keeps a runtime thread alive past the host's shutdown.
    pub abandon_jobs: Arc<std::sync::atomic::AtomicBool>,
    /// The sign-in service at `{base}/login/{tenant}/…`: its tenant, apps and users.
    pub entra: EntraConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            root: PathBuf::from("spmt-local-target"),
            access_token: String::new(),
            strict: false,
            faults: FaultProfile::default(),
            max_concurrent_jobs: 4,
            precreate: Vec::new(),
            libraries_must_exist: false,
            release_imported_blobs: false,
            abandon_jobs: Arc::default(),
            entra: EntraConfig::default(),
        }
    }
}

impl EmulatorConfig {
    /// The embedded local target the CLI and sessions start in-process for `local` tasks:
    /// loopback, with the given one-off token, one site `local` whose libraries must exist (a
    /// new site's `Documents` is there from the start). The engine provisions new containers
    /// per package and never reads content back, so imported blobs are released.
    pub fn embedded(root: PathBuf, access_token: String) -> Self {
        EmulatorConfig {
            root,
            access_token,
            precreate: vec![("local".into(), "Documents".into())],
            libraries_must_exist: true,
            release_imported_blobs: true,
            // Only its one-off token gets in: no sign-in service with a known password.
            entra: EntraConfig {
                enabled: false,
                ..EntraConfig::default()
            },
            ..EmulatorConfig::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("emulator state store {path}: {source}; delete the _emulator folder to start afresh")]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("fault profile {path}: {message}")]
    FaultProfile { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
    /// Another process runs a local target on the same root.
    #[error("{0}")]
    InUse(String),
}

/// Shared state of one running emulator.
pub(crate) struct Emu {
    pub base_url: String,
    pub root: PathBuf,
    pub access_token: String,
    pub strict: bool,
    pub libraries_must_exist: bool,
    pub release_imported_blobs: bool,
    pub faults: faults::Faults,
    pub fail_items: Vec<String>,
    pub entra: entra::Entra,
    pub sas: sas::SasAuthority,
    pub blobs: Arc<blob::BlobStore>,
    pub queues: queue::Queues,
    pub library: library::Library,
    pub jobs: importer::Jobs,
    /// Client for customer-provided storage (loopback hosts only, see `remote`).
    pub remote_http: reqwest::Client,
    /// Dropped with the last reference (after the last job ends), releasing the root.
    pub _root_lock: root_lock::RootLock,
}

/// A running emulator. Dropping it without [`shutdown`](Self::shutdown) leaves the server running
/// until the tokio runtime ends.
pub struct EmulatorHandle {
    emu: Arc<Emu>,
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl EmulatorHandle {
    /// e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> &str {
        &self.emu.base_url
    }
    /// `{base}/sites/{site}`.
    pub fn site_url(&self, site: &str) -> String {
        format!("{}/sites/{}", self.emu.base_url, site)
    }
    pub fn access_token(&self) -> &str {
        &self.emu.access_token
    }
    /// The sign-in service's authority host (`--authority-host`): `{base}/login`.
    pub fn authority_host(&self) -> String {
        format!("{}/login", self.emu.base_url)
    }
    /// The tenant id SharePoint's challenge names.
    pub fn tenant_id(&self) -> &str {
        self.emu.entra.tenant_id()
    }
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// Signs `sas` with this run's storage account key. For tests and tools that need a SAS the
    /// service would not hand out (expired, other permissions); `canonical` is
    /// `/blob/{account}/{container}` or `/queue/{account}/{queue}`.
    pub fn sign_sas(&self, sas: &mut crate::wire::Sas, canonical: &str) {
        self.emu.sas.sign(sas, canonical);
    }
    /// The storage account name used in blob and queue URLs.
    pub fn storage_account(&self) -> &str {
        self.emu.sas.account()
    }
    /// Stops accepting connections, lets open connections finish their current request, waits for
    /// running jobs (at most 30 s), then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        self.emu
            .jobs
            .wait_idle(std::time::Duration::from_secs(30))
            .await;
    }
}

/// Binds, spawns the server on the current tokio runtime, and returns once listening.
pub async fn start(cfg: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
    server::start(cfg).await
}

/// `spmt emulator`: starts, prints the base URL and the access token on stdout, serves until
/// Ctrl-C, then shuts down.
pub async fn serve_until_ctrl_c(cfg: EmulatorConfig) -> Result<(), EmulatorError> {
    let h = start(cfg).await?;
    println!("{}", h.base_url());
    println!("access token: {}", h.access_token());
    let _ = tokio::signal::ctrl_c().await;
    h.shutdown().await;
    Ok(())
}

/// Every object import ever done under `root`, oldest first, from the sidecar store.
pub fn import_records(root: &Path) -> Result<Vec<ImportRecord>, EmulatorError> {
    library::Library::open(root)?.import_records()
}

/// Server-relative URLs of the files and folders clients recycled under `root`, oldest first.
pub fn recycled(root: &Path) -> Result<Vec<String>, EmulatorError> {
    library::Library::open(root)?.recycled()
}

/// Reads a [`FaultProfile`] from a JSON file (every field optional).
pub fn load_fault_profile(path: &Path) -> Result<FaultProfile, EmulatorError> {
    let text = std::fs::read_to_string(path).map_err(|e| EmulatorError::FaultProfile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| EmulatorError::FaultProfile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

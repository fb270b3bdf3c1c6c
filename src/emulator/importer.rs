//! The import job engine: queues jobs, runs a bounded number at once, and imports each package in
//! two phases so a failing job never leaves anything half-written in the tree:
//!
//! 1. read, decrypt and validate the package XMLs and every object (reference §6), decrypting each
//!    content blob (streaming, 1 MiB at a time) into `root/_emulator/staging/{job}/`;
//! 2. only then move the staged files into `root/sites/<site>/<library title>/…`, set mtimes, and
//!    record items, versions and imports in the sidecar store in one transaction.
//!
//! Per-object problems become JobError/JobWarning events and skip that object; package problems
//! become JobFatalError and skip phase 2 entirely.

use super::blob::{BlobSource, SourceError};
use super::events::{Events, Problem, ProgressLog, QueueTarget};
use super::library::{self, ImportRecord, Item, Library, List, Site};
use super::manifest::{self, Element};
use super::remote::RemoteStorage;
use super::Emu;
use crate::crypto::{self, CbcDecryptor, Key};
use crate::wire::{self, JOB_STATE_NONE, JOB_STATE_PROCESSING, JOB_STATE_QUEUED};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

// Signed HRESULTs carried in ErrorCode.
const E_ACCESS_DENIED: &str = "-2147024891"; // 0x80070005
const E_INVALIDARG: &str = "-2147024809"; // 0x80070057
const E_FILE_NOT_FOUND: &str = "-2147024894"; // 0x80070002
const E_PATH_NOT_FOUND: &str = "-2147024893"; // 0x80070003
const E_ALREADY_EXISTS: &str = "-2147024713"; // 0x800700B7
const E_BAD_DATA: &str = "-2146893819"; // 0x80090005 NTE_BAD_DATA
const E_IO: &str = "-2147024865"; // 0x8007001F ERROR_GEN_FAILURE
/// The code SPO's documented JobFatalError carries (reference §7.2).
const E_FATAL: &str = "-2147213196";

const SP_EXCEPTION: &str = "Microsoft.SharePoint.SPException";
const ARGUMENT_EXCEPTION: &str = "System.ArgumentException";
const FILE_NOT_FOUND_EXCEPTION: &str = "System.IO.FileNotFoundException";
const CRYPTO_EXCEPTION: &str = "System.Security.Cryptography.CryptographicException";
const IO_EXCEPTION: &str = "System.IO.IOException";

/// SPO stops a job after more than this many errors (reference §7.3).
const MAX_ERRORS: u64 = 100;
const PROGRESS_EVERY: u64 = 100;
const CHUNK: usize = 1 << 20;

/// What a job was asked to import.
pub struct JobSpec {
    pub site: Site,
    pub source_container: String,
    pub manifest_container: String,
    pub queue: Option<QueueTarget>,
    pub key: Option<Key>,
    /// Customer-provided containers (reference §3.3); `None`: this emulator's own storage.
    pub remote: Option<Arc<RemoteStorage>>,
}

/// Where a job's blobs are read from and its logs written to.
fn blob_source(emu: &Emu, spec: &JobSpec) -> Arc<dyn BlobSource> {
    match &spec.remote {
        Some(r) => r.clone(),
        None => emu.blobs.clone(),
    }
}

struct JobEntry {
    site: String,
    state: AtomicI32,
    progress: Arc<ProgressLog>,
}

pub struct Jobs {
    map: Mutex<HashMap<Uuid, Arc<JobEntry>>>,
    slots: Arc<tokio::sync::Semaphore>,
    active: AtomicUsize,
    /// Phase 2 of one job at a time: conflict checks and moves see a stable tree and store.
    commit_lock: Mutex<()>,
    /// `EmulatorConfig::abandon_jobs`.
    abandon: Arc<AtomicBool>,
}

impl Jobs {
    pub fn new(max_concurrent: usize, abandon: Arc<AtomicBool>) -> Self {
        Jobs {
            map: Mutex::new(HashMap::new()),
            slots: Arc::new(tokio::sync::Semaphore::new(max_concurrent.max(1))),
            active: AtomicUsize::new(0),
            commit_lock: Mutex::new(()),
            abandon,
        }
    }

    /// Fails the job when its owner abandoned the running jobs (nothing of it is committed).
    fn check_abandoned(&self) -> Result<(), Fatal> {
        if self.abandon.load(Ordering::SeqCst) {
            return Err(fatal(
                "The local target shut down before this job was imported; nothing was imported. \
                 Run the migration again to send it.",
            ));
        }
        Ok(())
    }

    fn get(&self, id: Uuid) -> Option<Arc<JobEntry>> {
        self.map.lock().ok()?.get(&id).cloned()
    }

    /// `SPMigrationJobState`: 2 queued, 4 processing, 0 done or unknown (reference §3.4). A job
    /// of an earlier process is done (it ended, or it died with that process).
    pub fn status(&self, id: Uuid) -> i32 {
        self.get(id)
            .map(|j| j.state.load(Ordering::SeqCst))
            .unwrap_or(JOB_STATE_NONE)
    }

    /// Events from index `start` on, and the next token; for a job of an earlier process, from
    /// the store (`Library::job_events`).
    pub fn progress(&self, id: Uuid, start: usize, lib: &Library) -> Option<(Vec<String>, usize)> {
        let log = match self.get(id) {
            Some(j) => j.progress.events.lock().ok()?.clone(),
            None => lib.job_events(id).ok()??,
        };
        let start = start.min(log.len());
        Some((log[start..].to_vec(), log.len()))
    }

    pub fn all(&self, site: &str, lib: &Library) -> Vec<(Uuid, i32)> {
        let Ok(map) = self.map.lock() else {
            return Vec::new();
        };
        let mut all: Vec<(Uuid, i32)> = map
            .iter()
            .filter(|(_, j)| j.site.eq_ignore_ascii_case(site))
            .map(|(id, j)| (*id, j.state.load(Ordering::SeqCst)))
            .collect();
        for id in lib.job_ids(site).unwrap_or_default() {
            if !map.contains_key(&id) {
                all.push((id, JOB_STATE_NONE));
            }
        }
        all
    }

    /// Forgets a job (a running one still finishes; its events are no longer served).
    pub fn delete(&self, id: Uuid, lib: &Library) -> bool {
        let here = self
            .map
            .lock()
            .map(|mut m| m.remove(&id).is_some())
            .unwrap_or(false);
        lib.forget_job(id).unwrap_or(false) || here
    }

    pub async fn wait_idle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The library's folder in the tree: its title, made safe as one path segment.
pub fn title_dir(title: &str) -> String {
    let t: String = title
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    match t.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => t,
    }
}

/// Where the current bytes of the library item at server-relative `url` live in the tree.
pub fn disk_path(root: &Path, list: &super::library::List, url: &str) -> PathBuf {
    let rel = url
        .get(list.server_relative_url().len()..)
        .unwrap_or_default()
        .trim_start_matches('/');
    rel.split('/').filter(|s| !s.is_empty()).fold(
        root.join("sites")
            .join(&list.site)
            .join(title_dir(&list.title)),
        |p, s| p.join(s),
    )
}

/// Queues a job: emits JobQueued now, imports when a slot is free. Returns the job id.
pub fn submit(emu: &Arc<Emu>, spec: JobSpec) -> Uuid {
    let id = Uuid::new_v4();
    let entry = Arc::new(JobEntry {
        site: spec.site.name.clone(),
        state: AtomicI32::new(JOB_STATE_QUEUED),
        progress: Arc::new(ProgressLog::default()),
    });
    if let Ok(mut m) = emu.jobs.map.lock() {
        m.insert(id, entry.clone());
    }
    // Before its first event: a record the events can belong to.
    if let Err(e) = emu.library.job_created(id, &spec.site.name) {
        tracing::warn!(job = %id, error = %e, "the job's record is not kept past this process");
    }
    let mut ev = Events::new(
        emu.clone(),
        id,
        spec.key.clone(),
        spec.queue.clone(),
        entry.progress.clone(),
    );
    ev.emit(
        "JobQueued",
        &[
            ("SiteId", spec.site.site_id.to_string()),
            ("DbId", db_id().to_string()),
        ],
    );
    emu.jobs.active.fetch_add(1, Ordering::SeqCst);
    let emu = emu.clone();
    tokio::spawn(async move {
        let permit = emu.jobs.slots.clone().acquire_owned().await;
        entry.state.store(JOB_STATE_PROCESSING, Ordering::SeqCst);
        let emu2 = emu.clone();
        let done = tokio::task::spawn_blocking(move || run(&emu2, &spec, &mut ev)).await;
        if let Err(e) = done {
            tracing::error!(job = %id, error = %e, "import job panicked");
        }
        if let Err(e) = emu.library.job_ended(id) {
            tracing::warn!(job = %id, error = %e, "the job's end is not kept past this process");
        }
        entry.state.store(JOB_STATE_NONE, Ordering::SeqCst);
        drop(permit);
        emu.jobs.active.fetch_sub(1, Ordering::SeqCst);
    });
    id
}

fn db_id() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, b"spmt-emulator-content-db")
}

#[derive(Default)]
struct Counters {
    files_created: u64,
    bytes_processed: u64,
    objects_processed: u64,
    total_expected: u64,
    expected_bytes: u64,
    files_irrespective: u64,
    bytes_current: u64,
}

fn run(emu: &Arc<Emu>, spec: &JobSpec, ev: &mut Events) {
    let started = Instant::now();
    let id = ev.job_id;
    ev.emit(
        "JobLogFileCreate",
        &[("FileName", format!("Import-{id}-1.log"))],
    );
    ev.emit(
        "JobStart",
        &[
            ("SiteId", spec.site.site_id.to_string()),
            ("WebId", spec.site.web_id.to_string()),
            ("DBId", db_id().to_string()),
            (
                "FarmId",
                Uuid::new_v5(&Uuid::NAMESPACE_OID, b"spmt-emulator-farm").to_string(),
            ),
            (
                "ServerId",
                Uuid::new_v5(&Uuid::NAMESPACE_OID, b"spmt-emulator-server").to_string(),
            ),
            ("SubscriptionId", Uuid::nil().to_string()),
        ],
    );
    let staging = emu
        .root
        .join("_emulator")
        .join("staging")
        .join(id.to_string());
    let sink = blob_source(emu, spec);
    let mut imp = Importer::new(emu, spec, ev, staging.clone());
    if let Err(f) = imp.import() {
        imp.ev.fatal(f.code, &f.message);
    }
    let fields = imp.counter_fields(started, true);
    drop(imp);
    let _ = std::fs::remove_dir_all(&staging);
    if spec.remote.is_none() && emu.release_imported_blobs {
        // Before JobEnd: a client that has seen the job end may exit, leaving the bodies on disk.
        emu.blobs.release_blobs(&spec.source_container);
    }
    ev.emit(
        "JobEnd",
        &fields
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect::<Vec<_>>(),
    );
    ev.write_logs(sink.as_ref(), &spec.manifest_container);
    ev.flush();
}

struct Fatal {
    code: &'static str,
    message: String,
}

fn fatal(message: impl Into<String>) -> Fatal {
    Fatal {
        code: E_FATAL,
        message: message.into(),
    }
}

/// A per-object failure before it is tied to an object's identity.
struct ObjErr {
    code: &'static str,
    error_type: &'static str,
    message: String,
    /// Overrides the object type/id (list item problems reported while validating its file).
    object_type: Option<&'static str>,
    id: Option<String>,
}

fn oerr(code: &'static str, error_type: &'static str, message: impl Into<String>) -> ObjErr {
    ObjErr {
        code,
        error_type,
        message: message.into(),
        object_type: None,
        id: None,
    }
}

fn invalid(message: impl Into<String>) -> ObjErr {
    oerr(E_INVALIDARG, ARGUMENT_EXCEPTION, message)
}

struct StagedVersion {
    label: String,
    staged: PathBuf,
    size: u64,
    modified: Option<String>,
    /// Login of who made this version (resolved through UserGroup.xml).
    modified_by: Option<String>,
    comment: Option<String>,
}

struct FolderPlan {
    list: List,
    id: Uuid,
    url: String,
    rel: Vec<String>,
    int_id: Option<i64>,
    list_item_id: Option<String>,
    created: Option<String>,
    modified: Option<DateTime<Utc>>,
    author: Option<String>,
}

struct FilePlan {
    list: List,
    id: Uuid,
    url: String,
    rel: Vec<String>,
    int_id: Option<i64>,
    list_item_id: Option<String>,
    versions: Vec<StagedVersion>,
    current: usize,
    created: Option<String>,
    modified: Option<DateTime<Utc>>,
    author: Option<String>,
}

enum Plan {
    Folder(FolderPlan),
    File(FilePlan),
}

struct Importer<'a> {
    emu: &'a Arc<Emu>,
    spec: &'a JobSpec,
    ev: &'a mut Events,
    source: Arc<dyn BlobSource>,
    staging: PathBuf,
    staged_count: u64,
    counters: Counters,
    web_url: String,
    lists: Vec<List>,
    /// Folders validated in this package: id → server-relative URL.
    defined_folders: HashMap<Uuid, String>,
    /// Urls and int ids this package already claimed: (list, key) → object id.
    claimed_urls: HashMap<(Uuid, String), Uuid>,
    claimed_ints: HashMap<(Uuid, i64), Uuid>,
    /// File list items by DocId (first pass), and the ids of every SPFile in the package.
    file_items: HashMap<Uuid, Element>,
    file_ids: HashSet<Uuid>,
    plans: Vec<Plan>,
    /// UserGroup.xml's users: package id → login.
    users: HashMap<String, String>,
    /// Custom roles the package declares: role id → title.
    roles: HashMap<String, String>,
    /// Unique permissions by object id: `[{"login","role_id","role"}]`.
    permissions: HashMap<Uuid, Vec<serde_json::Value>>,
}

fn parse_id(s: Option<&str>) -> Option<Uuid> {
    let s = s?.trim().trim_matches(|c| c == '{' || c == '}');
    Uuid::parse_str(s).ok()
}

fn eq_ci(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Dates as packages write them: `yyyy-MM-ddTHH:mm:ss`, with fractions, `Z` or an offset; no
/// zone means UTC (reference §6.7).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let bare = s.strip_suffix('Z').unwrap_or(s);
    chrono::NaiveDateTime::parse_from_str(bare, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

fn version_key(label: &str) -> (u64, u64) {
    let mut it = label.trim().split('.');
    let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// A file or folder name SPO accepts (reference §8) and that cannot escape the tree.
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.trim() == s
        && !s.chars().any(|c| {
            matches!(c, '"' | '*' | ':' | '<' | '>' | '?' | '/' | '\\' | '|') || c.is_control()
        })
}

fn int_attr(e: &Element, name: &str) -> Result<Option<i64>, ObjErr> {
    match e.attr_nonempty(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid(format!("{name}=\"{v}\" is not an integer"))),
    }
}

impl<'a> Importer<'a> {
    fn new(emu: &'a Arc<Emu>, spec: &'a JobSpec, ev: &'a mut Events, staging: PathBuf) -> Self {
        let source = blob_source(emu, spec);
        Importer {
            emu,
            spec,
            ev,
            source,
            staging,
            staged_count: 0,
            counters: Counters::default(),
            web_url: spec.site.server_relative_url(),
            lists: Vec::new(),
            defined_folders: HashMap::new(),
            claimed_urls: HashMap::new(),
            claimed_ints: HashMap::new(),
            file_items: HashMap::new(),
            file_ids: HashSet::new(),
            plans: Vec::new(),
            users: HashMap::new(),
            roles: HashMap::new(),
            permissions: HashMap::new(),
        }
    }

    /// `DeploymentRoles` and `DeploymentRoleAssignments`: custom roles by id, and each
    /// object's assignments with their principals resolved through UserGroup.xml. A principal
    /// the package does not declare is no one (its assignment is dropped, as SharePoint drops
    /// an unresolvable one).
    fn security(&mut self, o: &Element) {
        if let Some(roles) = o.child("Roles") {
            for r in roles.children_named("Role") {
                if let (Some(id), Some(title)) =
                    (r.attr_nonempty("RoleId"), r.attr_nonempty("Title"))
                {
                    self.roles.insert(id.to_string(), title.to_string());
                }
            }
        }
        let Some(all) = o.child("RoleAssignments") else {
            return;
        };
        for ra in all.children_named("RoleAssignment") {
            let Some(object) = parse_id(ra.attr("ObjectId")) else {
                continue;
            };
            let entry = self.permissions.entry(object).or_default();
            for a in ra.children_named("Assignment") {
                let (Some(role), Some(login)) = (
                    a.attr_nonempty("RoleId"),
                    a.attr_nonempty("PrincipalId")
                        .and_then(|p| self.users.get(p)),
                ) else {
                    continue;
                };
                let name = self
                    .roles
                    .get(role)
                    .cloned()
                    .or_else(|| {
                        let id = role.parse::<i64>().ok()?;
                        super::farm::BUILT_IN_ROLES
                            .iter()
                            .find(|(r, _, _)| *r == id)
                            .map(|(_, n, _)| n.to_string())
                    })
                    .unwrap_or_default();
                entry.push(serde_json::json!({"login": login, "role_id": role, "role": name}));
            }
        }
    }

    /// The login a package's `Author`/`ModifiedBy` id stands for. An id UserGroup.xml does not
    /// declare is no one: SharePoint then records the System Account (reference §6.4).
    fn person(&self, el: &Element, attr: &str) -> Option<String> {
        let id = el.attr_nonempty(attr)?;
        self.users.get(id).cloned()
    }

    fn counter_fields(&self, started: Instant, end: bool) -> Vec<(&'static str, String)> {
        let c = &self.counters;
        let mut v = vec![
            ("FilesCreated", c.files_created.to_string()),
            ("BytesProcessed", c.bytes_processed.to_string()),
            ("ObjectsProcessed", c.objects_processed.to_string()),
            ("TotalExpectedSPObjects", c.total_expected.to_string()),
            ("TotalExpectedBytes", c.expected_bytes.to_string()),
            ("TotalErrors", self.ev.errors.to_string()),
            ("TotalWarnings", self.ev.warnings.to_string()),
            ("WaitTimeOnSqlThrottlingMilliseconds", "0".into()),
            (
                "TotalDurationInMs",
                started.elapsed().as_millis().to_string(),
            ),
        ];
        if end {
            v.push((
                "FilesCreatedIrrespectiveOfVersions",
                c.files_irrespective.to_string(),
            ));
            v.push((
                "BytesProcessedOnlyCurrentVersion",
                c.bytes_current.to_string(),
            ));
        }
        v
    }

    /// Records a per-object error; more than [`MAX_ERRORS`] stops the job as SPO does.
    fn fail(&mut self, p: Problem) -> Result<(), Fatal> {
        self.ev.error(&p);
        if self.ev.errors > MAX_ERRORS {
            return Err(fatal(format!(
                "The job was stopped after more than {MAX_ERRORS} errors; nothing was imported."
            )));
        }
        Ok(())
    }

    fn import(&mut self) -> Result<(), Fatal> {
        let started = Instant::now();
        self.lists = self
            .emu
            .library
            .lists(&self.spec.site.name)
            .map_err(|e| fatal(e.to_string()))?;
        let manifests = self.load_package()?;
        let objects: Vec<Element> = manifests
            .into_iter()
            .flat_map(|m| m.children.into_iter().filter(|c| c.name == "SPObject"))
            .collect();
        self.counters.total_expected = objects.len() as u64;
        let mut contents = Vec::new();
        // First pass: what pairs with what (an SPFile needs its SPListItem, reference §6.7).
        for o in &objects {
            let kind = o.attr("ObjectType").unwrap_or("");
            if kind == "SPListItem" {
                if let Some(li) = o.child("ListItem") {
                    let doc_type = li.attr_nonempty("DocType").unwrap_or("File");
                    if doc_type.eq_ignore_ascii_case("File") {
                        if let Some(doc) = parse_id(li.attr("DocId")) {
                            self.file_items.entry(doc).or_insert_with(|| li.clone());
                        }
                    }
                }
            } else if kind == "SPFile" {
                if let Some(id) =
                    parse_id(o.child("File").and_then(|f| f.attr("Id")).or(o.attr("Id")))
                {
                    self.file_ids.insert(id);
                }
                for v in o.child("File").into_iter().flat_map(|f| {
                    std::iter::once(f).chain(
                        f.child("Versions")
                            .into_iter()
                            .flat_map(|vs| vs.children_named("File")),
                    )
                }) {
                    if let Some(n) = v
                        .attr_nonempty("FileSize")
                        .and_then(|s| s.parse::<u64>().ok())
                    {
                        self.counters.expected_bytes += n;
                    }
                    if let Some(fv) = v.attr_nonempty("FileValue") {
                        contents.push(fv.to_string());
                    }
                }
            }
        }
        self.source.will_open(&self.spec.source_container, contents);
        for o in &objects {
            self.emu.jobs.check_abandoned()?;
            self.process(o)?;
            self.counters.objects_processed += 1;
            if self
                .counters
                .objects_processed
                .is_multiple_of(PROGRESS_EVERY)
            {
                let f = self.counter_fields(started, false);
                self.ev.emit("JobProgress", &f);
            }
        }
        self.emu.jobs.check_abandoned()?;
        self.commit()?;
        let f = self.counter_fields(started, false);
        self.ev.emit("JobProgress", &f);
        Ok(())
    }

    // ---- phase 1: the package XMLs ----

    /// Downloads and decrypts one package XML; `None` when the blob does not exist.
    fn download_xml(&mut self, name: &str) -> Result<Option<Vec<u8>>, Fatal> {
        let mut blob = match self.source.open(&self.spec.manifest_container, name) {
            Ok(b) => b,
            Err(SourceError::NotFound | SourceError::NoContainer) => return Ok(None),
            Err(e) => return Err(fatal(format!("Unable to download {name}: {e}"))),
        };
        if self.emu.strict && !blob.from_snapshot {
            return Err(fatal(format!("Unable to download {name}: the blob has no snapshot (the Migration API imports the latest snapshot; reference §4.2)")));
        }
        let mut raw = Vec::with_capacity(blob.len as usize);
        blob.reader
            .read_to_end(&mut raw)
            .map_err(|e| fatal(format!("Unable to download {name}: {e}")))?;
        let Some(key) = &self.spec.key else {
            return Ok(Some(raw));
        };
        let iv = match blob.meta(wire::IV_METADATA) {
            None => {
                return Err(fatal(format!(
                    "Unable to decrypt {name}: the blob has no IV metadata"
                )))
            }
            Some(s) => crypto::iv_from_base64(s).map_err(|_| {
                fatal(format!(
                    "Unable to decrypt {name}: the IV metadata is not 16 bytes of base64"
                ))
            })?,
        };
        crypto::decrypt(key, &iv, &raw)
            .map(Some)
            .map_err(|e| fatal(format!("Unable to decrypt {name}: {e}")))
    }

    fn load_xml(
        &mut self,
        name: &str,
        root: &str,
        ns: &str,
        required: bool,
    ) -> Result<Option<Element>, Fatal> {
        let Some(bytes) = self.download_xml(name)? else {
            if required {
                return Err(fatal(format!("Unable to download {name} (404): the file is missing from the manifest container")));
            }
            self.ev.warning(&Problem {
                code: E_FILE_NOT_FOUND,
                error_type: FILE_NOT_FOUND_EXCEPTION,
                message: format!(
                    "{name} is missing from the package (404); an empty one avoids this warning"
                ),
                ..Default::default()
            });
            return Ok(None);
        };
        let el = manifest::parse(&bytes)
            .map_err(|e| fatal(format!("There is an error in XML document {name}: {e}")))?;
        manifest::check_root(name, &el, root, ns).map_err(fatal)?;
        Ok(Some(el))
    }

    /// Loads the eight XMLs (reference §6.1) and returns the manifests SystemData.xml lists.
    fn load_package(&mut self) -> Result<Vec<Element>, Fatal> {
        let spec_of = |file: &str| {
            wire::PACKAGE_XMLS
                .iter()
                .find(|(f, _, _)| *f == file)
                .map(|(_, r, n)| (*r, *n))
                .unwrap_or(("", ""))
        };
        let mut loaded: HashMap<&str, Element> = HashMap::new();
        let order = [
            (wire::EXPORT_SETTINGS_XML, true),
            (wire::SYSTEM_DATA_XML, true),
            (wire::USER_GROUP_XML, true),
            (wire::REQUIREMENTS_XML, true),
            (wire::MANIFEST_XML, false),
            (wire::ROOT_OBJECT_MAP_XML, false),
            (wire::LOOKUP_LIST_MAP_XML, false),
            (wire::VIEW_FORMS_LIST_XML, false),
        ];
        for (file, required) in order {
            if file == wire::MANIFEST_XML {
                continue; // loaded below, by the names SystemData.xml lists
            }
            let (root, ns) = spec_of(file);
            if let Some(el) = self.load_xml(file, root, ns, required)? {
                loaded.insert(file, el);
            }
        }
        let export = loaded
            .get(wire::EXPORT_SETTINGS_XML)
            .cloned()
            .unwrap_or_default();
        if export.attr_nonempty("SiteUrl").is_none() {
            return Err(fatal(
                "Invalid URI: The URI is empty. (ExportSettings.xml has no SiteUrl)",
            ));
        }
        if export.attr_nonempty("SourceType").is_none() {
            self.ev.warning(&Problem {
                code: E_INVALIDARG,
                error_type: ARGUMENT_EXCEPTION,
                message: "The source type is not specified (ExportSettings.xml SourceType)".into(),
                ..Default::default()
            });
        }
        let users = loaded
            .get(wire::USER_GROUP_XML)
            .cloned()
            .unwrap_or_default();
        let no_system_id = users
            .child("Users")
            .into_iter()
            .flat_map(|u| u.children_named("User"))
            .filter(|u| u.attr_nonempty("SystemId").is_none())
            .count();
        if no_system_id > 0 {
            self.ev.warning(&Problem {
                code: E_INVALIDARG,
                error_type: ARGUMENT_EXCEPTION,
                message: format!("{no_system_id} user(s) in UserGroup.xml have no SystemId"),
                ..Default::default()
            });
        }
        self.users = users
            .child("Users")
            .into_iter()
            .flat_map(|u| u.children_named("User"))
            .filter_map(|u| {
                Some((
                    u.attr_nonempty("Id")?.to_string(),
                    u.attr_nonempty("Login")?.to_string(),
                ))
            })
            .collect();
        let system = loaded
            .get(wire::SYSTEM_DATA_XML)
            .cloned()
            .unwrap_or_default();
        let names: Vec<String> = system
            .child("ManifestFiles")
            .into_iter()
            .flat_map(|m| m.children_named("ManifestFile"))
            .filter_map(|m| m.attr_nonempty("Name").map(str::to_string))
            .collect();
        if names.is_empty() {
            return Err(fatal(
                "SystemData.xml lists no ManifestFiles/ManifestFile; the package has no manifest",
            ));
        }
        let (root, ns) = spec_of(wire::MANIFEST_XML);
        let mut manifests = Vec::new();
        for n in names {
            if let Some(m) = self.load_xml(&n, root, ns, true)? {
                manifests.push(m);
            }
        }
        Ok(manifests)
    }

    // ---- phase 1: objects ----

    fn process(&mut self, o: &Element) -> Result<(), Fatal> {
        let kind = o.attr("ObjectType").unwrap_or("").to_string();
        let (object_type, child) = match kind.as_str() {
            "SPFolder" => ("Folder", "Folder"),
            "SPFile" => ("File", "File"),
            "SPListItem" => ("ListItem", "ListItem"),
            "SPDocumentLibrary" => ("List", "DocumentLibrary"),
            "SPList" => ("List", "List"),
            // Content types, templates, users, roles: accepted; nothing of them is materialised.
            "SPContentType"
            | "SPDocumentTemplate"
            | "DeploymentUserX"
            | "DeploymentGroupX"
            | "DeploymentRoleX"
            | "DeploymentRoleAssignmentX"
            | "SPAlert" => return Ok(()),
            "DeploymentRoles" | "DeploymentRoleAssignments" => {
                self.security(o);
                return Ok(());
            }
            other => {
                let p = Problem {
                    object_type: other.to_string(),
                    url: o.attr("Url").unwrap_or("").to_string(),
                    id: o.attr("Id").unwrap_or("").to_string(),
                    code: E_INVALIDARG,
                    error_type: ARGUMENT_EXCEPTION,
                    message: format!("ObjectType '{other}' is not supported in an import package (reference §6.7)"),
                    ..Default::default()
                };
                return self.fail(p);
            }
        };
        let Some(el) = o.child(child) else {
            let p = Problem {
                object_type: object_type.into(),
                url: o.attr("Url").unwrap_or("").to_string(),
                id: o.attr("Id").unwrap_or("").to_string(),
                code: E_INVALIDARG,
                error_type: ARGUMENT_EXCEPTION,
                message: format!("SPObject of type {kind} has no <{child}> element"),
                ..Default::default()
            };
            return self.fail(p);
        };
        let id_text = el.attr("Id").or(o.attr("Id")).unwrap_or("").to_string();
        let url_guess = o.attr("Url").map(str::to_string).unwrap_or_else(|| {
            el.attr("Url")
                .map(|u| format!("{}/{u}", self.web_url))
                .unwrap_or_default()
        });
        let result = self.check_web(o, el).and_then(|_| match object_type {
            "Folder" => self.folder(o, el),
            "File" => self.file(o, el),
            "ListItem" => self.list_item(el),
            _ => self.list_decl(el),
        });
        let Err(e) = result else { return Ok(()) };
        let int_id = el
            .attr("ListItemIntId")
            .or(el.attr("IntId"))
            .unwrap_or("")
            .to_string();
        self.fail(Problem {
            object_type: e.object_type.unwrap_or(object_type).to_string(),
            url: url_guess,
            id: e.id.unwrap_or(id_text),
            int_id,
            code: e.code,
            error_type: e.error_type,
            message: e.message,
        })
    }

    fn check_web(&self, o: &Element, el: &Element) -> Result<(), ObjErr> {
        for v in [
            o.attr_nonempty("ParentWebId"),
            el.attr_nonempty("ParentWebId"),
        ]
        .into_iter()
        .flatten()
        {
            if parse_id(Some(v)) != Some(self.spec.site.web_id) {
                return Err(oerr(
                    E_FILE_NOT_FOUND,
                    SP_EXCEPTION,
                    format!("Can't find the parent web {v}: ParentWebId must be the target web's Id ({}) as gWebId", self.spec.site.web_id),
                ));
            }
        }
        Ok(())
    }

    fn list_by_id(&self, id: Uuid) -> Option<List> {
        self.lists.iter().find(|l| l.list_id == id).cloned()
    }

    /// The object's library: the declared list id must be a real library of the target web
    /// (reference §6.8); without one, the library whose URL the object is under.
    fn list_for(&self, declared: Option<&str>, web_rel: &str) -> Result<List, ObjErr> {
        if let Some(d) = declared.map(str::trim).filter(|s| !s.is_empty()) {
            let id =
                parse_id(Some(d)).ok_or_else(|| invalid(format!("List id '{d}' is not a GUID")))?;
            return self.list_by_id(id).ok_or_else(|| {
                oerr(E_FILE_NOT_FOUND, SP_EXCEPTION, format!("List {id} does not exist in web {}: list ids must be the target library's real Id", self.web_url))
            });
        }
        let lower = web_rel.to_lowercase();
        self.lists
            .iter()
            .find(|l| {
                let u = l.url_name.to_lowercase();
                lower == u || lower.starts_with(&format!("{u}/"))
            })
            .cloned()
            .ok_or_else(|| {
                oerr(
                    E_FILE_NOT_FOUND,
                    SP_EXCEPTION,
                    format!("No library of web {} contains '{web_rel}'", self.web_url),
                )
            })
    }

    /// Checks a web-relative URL (reference §6.7) and returns it without a trailing '/'.
    fn web_relative(&self, what: &str, url: Option<&str>) -> Result<String, ObjErr> {
        let url = url
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(format!("{what} is missing")))?;
        if url.starts_with('/') {
            return Err(invalid(format!("{what} '{url}' must be web-relative (no leading '/'); SPObject@Url is the server-relative one")));
        }
        let web = self.web_url.trim_start_matches('/').to_lowercase();
        if url.to_lowercase().starts_with(&format!("{web}/")) {
            return Err(invalid(format!("{what} '{url}' repeats the web's path '{web}': the import would double it (/{web}/{web}/…)")));
        }
        Ok(url.trim_end_matches('/').to_string())
    }

    /// The server-relative URL from `SPObject@Url`, which must agree with the web-relative one.
    fn server_relative(&self, o: &Element, web_rel: &str) -> Result<String, ObjErr> {
        let expected = format!("{}/{web_rel}", self.web_url);
        if let Some(u) = o.attr_nonempty("Url") {
            if !u.starts_with('/') {
                return Err(invalid(format!(
                    "SPObject Url '{u}' must be server-relative (start with '/')"
                )));
            }
            if !eq_ci(u.trim_end_matches('/'), &expected) {
                return Err(invalid(format!("SPObject Url '{u}' does not match the element's web-relative Url (expected '{expected}')")));
            }
        }
        Ok(expected)
    }

    /// Path segments under the library root folder.
    fn rel_segments(&self, list: &List, web_rel: &str) -> Result<Vec<String>, ObjErr> {
        let prefix = format!("{}/", list.url_name.to_lowercase());
        if !web_rel.to_lowercase().starts_with(&prefix) {
            return Err(invalid(format!(
                "'{web_rel}' is not inside library '{}'",
                list.url_name
            )));
        }
        // The prefix is matched case-insensitively; cut by characters, not bytes.
        let rest: String = web_rel
            .chars()
            .skip(list.url_name.chars().count() + 1)
            .collect();
        let segs: Vec<String> = rest.split('/').map(str::to_string).collect();
        if let Some(bad) = segs.iter().find(|s| !valid_segment(s)) {
            return Err(invalid(format!("'{bad}' is not a valid file or folder name (empty, reserved, or contains \" * : < > ? / \\ |)")));
        }
        Ok(segs)
    }

    /// A parent must be the library root, a folder defined earlier in this package, or a folder
    /// that exists at the target (reference §6.7).
    fn check_parent(&self, list: &List, parent: Option<Uuid>, url: &str) -> Result<(), ObjErr> {
        let parent_url = url.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let missing = || {
            oerr(
                E_PATH_NOT_FOUND,
                SP_EXCEPTION,
                "The parent folder wasn't migrated",
            )
        };
        let Some(pid) = parent else {
            return Err(missing());
        };
        let actual = if pid == list.root_folder_id {
            list.server_relative_url()
        } else if let Some(u) = self.defined_folders.get(&pid) {
            u.clone()
        } else {
            match self.emu.library.item_by_id(list.list_id, pid) {
                Ok(Some(it)) if it.kind == "Folder" => it.url,
                Ok(_) => return Err(missing()),
                Err(e) => return Err(oerr(E_IO, IO_EXCEPTION, e.to_string())),
            }
        };
        if !eq_ci(&actual, parent_url) {
            return Err(invalid(format!("The parent folder {pid} is '{actual}', but the object's URL is under '{parent_url}'")));
        }
        Ok(())
    }

    /// URL and IntId conflicts with this package and with what the target already holds.
    fn check_conflicts(
        &self,
        list: &List,
        id: Uuid,
        url: &str,
        kind: &str,
        int_id: Option<i64>,
    ) -> Result<(), ObjErr> {
        let conflict = |m: String| oerr(E_ALREADY_EXISTS, SP_EXCEPTION, m);
        if let Some(other) = self.claimed_urls.get(&(list.list_id, url.to_lowercase())) {
            if *other != id {
                return Err(conflict(format!("'{url}' is declared twice in this package with different Ids ({other} and {id})")));
            }
        }
        if let Some(n) = int_id {
            if let Some(other) = self.claimed_ints.get(&(list.list_id, n)) {
                if *other != id {
                    return Err(conflict(format!(
                        "List item id {n} is used twice in this package ({other} and {id})"
                    )));
                }
            }
        }
        check_store_conflicts(&self.emu.library, list, id, url, kind, int_id)
            .map_err(|(code, m)| oerr(code, SP_EXCEPTION, m))
    }

    fn fault_injected(&self, url: &str) -> Result<(), ObjErr> {
        if self
            .emu
            .fail_items
            .iter()
            .any(|f| !f.is_empty() && (url.ends_with(f.as_str()) || url.contains(f.as_str())))
        {
            return Err(oerr(
                E_ACCESS_DENIED,
                "System.UnauthorizedAccessException",
                format!("Fault injected by the emulator for {url}"),
            ));
        }
        Ok(())
    }

    fn list_decl(&mut self, el: &Element) -> Result<(), ObjErr> {
        let id = parse_id(el.attr("Id")).ok_or_else(|| invalid("The library Id is not a GUID"))?;
        let list = self.list_by_id(id).ok_or_else(|| {
            oerr(E_FILE_NOT_FOUND, SP_EXCEPTION, format!("List {id} does not exist in web {}: declare the target library with its real Id", self.web_url))
        })?;
        if let Some(rf) = el.attr_nonempty("RootFolderId") {
            if parse_id(Some(rf)) != Some(list.root_folder_id) {
                return Err(invalid(format!(
                    "RootFolderId {rf} is not the library's root folder ({})",
                    list.root_folder_id
                )));
            }
        }
        Ok(())
    }

    fn folder(&mut self, o: &Element, el: &Element) -> Result<(), ObjErr> {
        let id = parse_id(el.attr("Id").or(o.attr("Id")))
            .ok_or_else(|| invalid("The folder Id is not a GUID"))?;
        if id == self.spec.site.web_root_folder_id {
            return Ok(()); // the web's root folder re-declared: nothing to do
        }
        let web_rel = self.web_relative("Folder Url", el.attr("Url"))?;
        let url = self.server_relative(o, &web_rel)?;
        let list = self.list_for(el.attr("ContainingDocumentLibrary"), &web_rel)?;
        if id == list.root_folder_id || eq_ci(&url, &list.server_relative_url()) {
            // The library's root folder may be re-declared, with its real Id (reference §6.10).
            if id != list.root_folder_id || !eq_ci(&url, &list.server_relative_url()) {
                return Err(oerr(
                    E_ALREADY_EXISTS,
                    SP_EXCEPTION,
                    format!(
                        "The library root folder is {} at {}; the package declares {id} at {url}",
                        list.root_folder_id,
                        list.server_relative_url()
                    ),
                ));
            }
            return Ok(());
        }
        let rel = self.rel_segments(&list, &web_rel)?;
        let parent = parse_id(el.attr("ParentFolderId").or(o.attr("ParentId")));
        self.check_parent(&list, parent, &url)?;
        let int_id = int_attr(el, "ListItemIntId")?;
        self.check_conflicts(&list, id, &url, "Folder", int_id)?;
        self.fault_injected(&url)?;
        self.claim(&list, id, &url, int_id);
        self.defined_folders.insert(id, url.clone());
        self.plans.push(Plan::Folder(FolderPlan {
            list,
            id,
            url,
            rel,
            int_id,
            list_item_id: None,
            created: el.attr_nonempty("TimeCreated").map(str::to_string),
            modified: el.attr_nonempty("TimeLastModified").and_then(parse_time),
            author: self.person(el, "Author"),
        }));
        Ok(())
    }

    fn claim(&mut self, list: &List, id: Uuid, url: &str, int_id: Option<i64>) {
        self.claimed_urls
            .insert((list.list_id, url.to_lowercase()), id);
        if let Some(n) = int_id {
            self.claimed_ints.insert((list.list_id, n), id);
        }
    }

    /// `DirName` in either form: `sites/x/Lib/sub` or `/sites/x/Lib/sub` (reference §6.7).
    fn check_dir_name(&self, dir: Option<&str>, url: &str) -> Result<(), String> {
        let Some(d) = dir.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        let parent = url.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let d_norm = format!("/{}", d.trim_start_matches('/').trim_end_matches('/'));
        if eq_ci(&d_norm, parent) {
            return Ok(());
        }
        Err(format!(
            "DirName '{d}' is not the item's folder '{}'",
            parent.trim_start_matches('/')
        ))
    }

    fn file(&mut self, o: &Element, el: &Element) -> Result<(), ObjErr> {
        let id = parse_id(el.attr("Id").or(o.attr("Id")))
            .ok_or_else(|| invalid("The file Id is not a GUID"))?;
        let web_rel = self.web_relative("File Url", el.attr("Url"))?;
        let url = self.server_relative(o, &web_rel)?;
        let list = self.list_for(el.attr("ListId"), &web_rel)?;
        let rel = self.rel_segments(&list, &web_rel)?;
        // Every SPFile needs its SPListItem (DocType=File, DocId = File Id): reference §6.7.
        let Some(li) = self.file_items.get(&id).cloned() else {
            return Err(invalid(format!(
                "The file has no SPListItem with DocType=\"File\" and DocId=\"{id}\"; every SPFile needs its list item"
            )));
        };
        let li_err = |m: String| ObjErr {
            code: E_INVALIDARG,
            error_type: ARGUMENT_EXCEPTION,
            message: m,
            object_type: Some("ListItem"),
            id: li.attr("Id").map(str::to_string),
        };
        if let Some(pl) = li.attr_nonempty("ParentListId") {
            if parse_id(Some(pl)) != Some(list.list_id) {
                return Err(li_err(format!(
                    "ParentListId {pl} is not the file's library ({})",
                    list.list_id
                )));
            }
        }
        if let Some(fu) = li.attr_nonempty("FileUrl") {
            let fu = self
                .web_relative("ListItem FileUrl", Some(fu))
                .map_err(|e| li_err(e.message))?;
            if !eq_ci(&fu, &web_rel) {
                return Err(li_err(format!(
                    "ListItem FileUrl '{fu}' is not the file's Url '{web_rel}'"
                )));
            }
        }
        self.check_dir_name(li.attr("DirName"), &url)
            .map_err(li_err)?;
        let file_int = int_attr(el, "ListItemIntId")?;
        let item_int = int_attr(&li, "IntId").map_err(|e| li_err(e.message))?;
        if let (Some(a), Some(b)) = (file_int, item_int) {
            if a != b {
                return Err(li_err(format!(
                    "File ListItemIntId {a} differs from its list item's IntId {b}"
                )));
            }
        }
        let int_id = file_int.or(item_int);
        let parent = parse_id(el.attr("ParentId").or(o.attr("ParentId")));
        self.check_parent(&list, parent, &url)?;
        self.check_conflicts(&list, id, &url, "File", int_id)?;
        self.fault_injected(&url)?;
        let (versions, current) = self.stage_versions(el)?;
        self.claim(&list, id, &url, int_id);
        let cur = &versions[current];
        let modified = cur
            .modified
            .as_deref()
            .or(el.attr_nonempty("TimeLastModified"))
            .and_then(parse_time);
        self.plans.push(Plan::File(FilePlan {
            list,
            id,
            url,
            rel,
            int_id,
            list_item_id: li.attr("Id").map(str::to_string),
            versions,
            current,
            created: el.attr_nonempty("TimeCreated").map(str::to_string),
            modified,
            author: self.person(el, "Author"),
        }));
        Ok(())
    }

    /// Versions in layout A (all nested, top without FileValue), B (top = current, nested =
    /// older) or C (both; the current one deduplicated by label): reference §6.9.
    fn stage_versions(&mut self, el: &Element) -> Result<(Vec<StagedVersion>, usize), ObjErr> {
        let mut specs: Vec<&Element> = el
            .child("Versions")
            .into_iter()
            .flat_map(|v| v.children_named("File"))
            .collect();
        let top_label = el.attr_nonempty("Version").unwrap_or("1.0").to_string();
        if el.attr_nonempty("FileValue").is_some() {
            specs.retain(|v| v.attr_nonempty("Version").unwrap_or("1.0") != top_label);
            specs.push(el);
        }
        if specs.is_empty() {
            return Err(invalid(
                "The file has no content: neither the File nor its Versions carry a FileValue",
            ));
        }
        specs.sort_by_key(|v| version_key(v.attr_nonempty("Version").unwrap_or("1.0")));
        let mut labels = HashSet::new();
        let mut out = Vec::with_capacity(specs.len());
        for v in &specs {
            let label = v.attr_nonempty("Version").unwrap_or("1.0").to_string();
            if !labels.insert(label.clone()) {
                return Err(invalid(format!("Version {label} is declared twice")));
            }
            let fv = v
                .attr_nonempty("FileValue")
                .ok_or_else(|| invalid(format!("Version {label} has no FileValue")))?;
            let (staged, size) = self.stage_blob(fv, v.attr_nonempty("InitializationVector"))?;
            if let Some(fs) = v.attr_nonempty("FileSize") {
                if fs.parse::<u64>().ok() != Some(size) {
                    return Err(invalid(format!("FileSize {fs} of version {label} differs from the decrypted content ({size} bytes)")));
                }
            }
            out.push(StagedVersion {
                label,
                staged,
                size,
                modified: v.attr_nonempty("TimeLastModified").map(str::to_string),
                modified_by: self.person(v, "ModifiedBy"),
                comment: v.attr_nonempty("CheckinComment").map(str::to_string),
            });
        }
        let current = out
            .iter()
            .position(|v| v.label == top_label)
            .unwrap_or(out.len() - 1);
        Ok((out, current))
    }

    /// Decrypts one content blob into the staging folder, 1 MiB at a time.
    fn stage_blob(&mut self, name: &str, iv_attr: Option<&str>) -> Result<(PathBuf, u64), ObjErr> {
        let mut blob = match self.source.open(&self.spec.source_container, name) {
            Ok(b) => b,
            Err(SourceError::NotFound | SourceError::NoContainer) => {
                return Err(oerr(
                    E_FILE_NOT_FOUND,
                    FILE_NOT_FOUND_EXCEPTION,
                    format!("The content blob '{name}' was not found in the data container (404)"),
                ))
            }
            Err(e) => {
                return Err(oerr(
                    E_IO,
                    IO_EXCEPTION,
                    format!("Reading the content blob '{name}' failed: {e}"),
                ))
            }
        };
        if self.emu.strict && !blob.from_snapshot {
            return Err(oerr(
                E_FILE_NOT_FOUND,
                FILE_NOT_FOUND_EXCEPTION,
                format!("The content blob '{name}' has no snapshot: every file must have at least one (reference §4.2)"),
            ));
        }
        let mut dec = match &self.spec.key {
            None => None,
            Some(key) => {
                // The IV lives in blob metadata; `InitializationVector` on <File> is the ship-disk form.
                let iv_text = blob
                    .meta(wire::IV_METADATA)
                    .map(str::to_string)
                    .or(iv_attr.map(str::to_string));
                let Some(iv_text) = iv_text else {
                    return Err(oerr(
                        E_BAD_DATA,
                        CRYPTO_EXCEPTION,
                        format!("The content blob '{name}' has no IV metadata"),
                    ));
                };
                let iv = crypto::iv_from_base64(&iv_text).map_err(|_| {
                    oerr(
                        E_BAD_DATA,
                        CRYPTO_EXCEPTION,
                        format!("The IV metadata of '{name}' is not 16 bytes of base64"),
                    )
                })?;
                Some(CbcDecryptor::new(key, &iv))
            }
        };
        let io =
            |e: std::io::Error| oerr(E_IO, IO_EXCEPTION, format!("Staging '{name}' failed: {e}"));
        std::fs::create_dir_all(&self.staging).map_err(io)?;
        self.staged_count += 1;
        let path = self.staging.join(format!("{:08}.bin", self.staged_count));
        // Unbuffered: every write is a whole chunk, decrypted where it was read.
        let mut out = std::fs::File::create(&path).map_err(io)?;
        let mut buf = vec![0u8; CHUNK];
        // buf[..have] was read and not yet written: with a key, the last block is always kept
        // back (it may be the padded one), and so is a partial block.
        let mut have = 0;
        let mut size = 0u64;
        loop {
            let n = blob.reader.read(&mut buf[have..]).map_err(io)?;
            if n == 0 {
                break;
            }
            have += n;
            let done = match dec.as_mut() {
                Some(d) => {
                    let keep = match have % crypto::BLOCK {
                        0 => crypto::BLOCK,
                        partial => partial,
                    };
                    let done = have - keep;
                    d.decrypt_in_place(&mut buf[..done]);
                    done
                }
                None => have,
            };
            out.write_all(&buf[..done]).map_err(io)?;
            size += done as u64;
            buf.copy_within(done..have, 0);
            have -= done;
        }
        if let Some(mut d) = dec {
            let mut plain = Vec::with_capacity(crypto::BLOCK);
            d.update(&buf[..have], &mut plain);
            d.finish(&mut plain).map_err(|e| {
                oerr(
                    E_BAD_DATA,
                    CRYPTO_EXCEPTION,
                    format!("Decrypting '{name}' failed: {e}"),
                )
            })?;
            size += plain.len() as u64;
            out.write_all(&plain).map_err(io)?;
        }
        out.flush().map_err(io)?;
        Ok((path, size))
    }

    fn list_item(&mut self, el: &Element) -> Result<(), ObjErr> {
        let doc_type = el.attr_nonempty("DocType").unwrap_or("File");
        let doc = parse_id(el.attr("DocId"));
        if doc_type.eq_ignore_ascii_case("File") {
            // Validated together with its SPFile; alone it is an error (reference §6.7).
            return match doc {
                Some(d) if self.file_ids.contains(&d) => Ok(()),
                _ => Err(invalid("Missing file info for list item")),
            };
        }
        if doc_type.eq_ignore_ascii_case("Folder") {
            let Some(d) = doc else {
                return Err(invalid(
                    "Missing folder info for list item (DocId is not a GUID)",
                ));
            };
            let li_id = el.attr("Id").map(str::to_string);
            let int_id = int_attr(el, "IntId")?;
            let pos = self
                .plans
                .iter()
                .rposition(|p| matches!(p, Plan::Folder(f) if f.id == d));
            if let Some(Plan::Folder(f)) = pos.and_then(|i| self.plans.get(i)) {
                let (list, url, existing) = (f.list.clone(), f.url.clone(), f.int_id);
                if let (Some(a), Some(b)) = (existing, int_id) {
                    if a != b {
                        return Err(invalid(format!(
                            "Folder ListItemIntId {a} differs from its list item's IntId {b}"
                        )));
                    }
                }
                if existing.is_none() {
                    if let Some(n) = int_id {
                        self.check_conflicts(&list, d, &url, "Folder", Some(n))?;
                        self.claimed_ints.insert((list.list_id, n), d);
                    }
                }
                if let Some(Plan::Folder(f)) = pos.and_then(|i| self.plans.get_mut(i)) {
                    f.list_item_id = li_id;
                    f.int_id = existing.or(int_id);
                }
                return Ok(());
            }
            if self.defined_folders.contains_key(&d)
                || self.lists.iter().any(|l| l.root_folder_id == d)
            {
                return Ok(());
            }
            let exists = self
                .lists
                .iter()
                .any(|l| matches!(self.emu.library.item_by_id(l.list_id, d), Ok(Some(_))));
            return if exists {
                Ok(())
            } else {
                Err(invalid("Missing folder info for list item"))
            };
        }
        // Plain list items (no file, no folder) have nothing to materialise in a library tree.
        self.ev.warning(&Problem {
            object_type: "ListItem".into(),
            id: el.attr("Id").unwrap_or("").to_string(),
            code: E_INVALIDARG,
            error_type: ARGUMENT_EXCEPTION,
            message: format!(
                "List item of DocType '{doc_type}' is not materialised by the emulator"
            ),
            ..Default::default()
        });
        Ok(())
    }

    // ---- phase 2: commit ----

    fn commit(&mut self) -> Result<(), Fatal> {
        let emu = self.emu;
        let _guard = emu
            .jobs
            .commit_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let site_dir = emu.root.join("sites").join(&self.spec.site.name);
        let versions_dir = emu.root.join("_emulator").join("versions");
        let now = wire::event_time(Utc::now());
        let mut items: Vec<Item> = Vec::new();
        let mut records: Vec<ImportRecord> = Vec::new();
        let mut folder_times: Vec<(PathBuf, DateTime<Utc>)> = Vec::new();
        let plans = std::mem::take(&mut self.plans);
        for plan in plans {
            let (list, id, url, kind, int_id) = match &plan {
                Plan::Folder(f) => (f.list.clone(), f.id, f.url.clone(), "Folder", f.int_id),
                Plan::File(f) => (f.list.clone(), f.id, f.url.clone(), "File", f.int_id),
            };
            // Another job may have committed since this one validated.
            let checked = check_store_conflicts(&emu.library, &list, id, &url, kind, int_id)
                .map_err(|(code, m)| {
                    Box::new(Problem {
                        code,
                        error_type: SP_EXCEPTION,
                        message: m,
                        ..Default::default()
                    })
                });
            let result = checked.and_then(|_| {
                let lib_dir = site_dir.join(title_dir(&list.title));
                match plan {
                    Plan::Folder(f) => {
                        let dir = f.rel.iter().fold(lib_dir, |p, s| p.join(s));
                        std::fs::create_dir_all(&dir).map_err(|e| io_problem(&f.url, e))?;
                        if let Some(t) = f.modified {
                            folder_times.push((dir, t));
                        }
                        items.push(Item {
                            list_id: f.list.list_id,
                            object_id: f.id,
                            int_id: f.int_id,
                            kind: "Folder".into(),
                            url: f.url.clone(),
                            list_item_id: f.list_item_id,
                            time_created: f.created,
                            time_modified: f.modified.map(|t| t.to_rfc3339()),
                            author: f.author,
                            versions: "[]".into(),
                            permissions: self
                                .permissions
                                .get(&f.id)
                                .map(|p| serde_json::Value::Array(p.clone()).to_string()),
                        });
                        records.push(ImportRecord {
                            job_id: self.ev.job_id,
                            object_id: f.id,
                            server_relative_url: f.url,
                            kind: "Folder".into(),
                            version: String::new(),
                            bytes: 0,
                            time: now.clone(),
                        });
                        Ok(())
                    }
                    Plan::File(f) => {
                        let (item, rec) = self.place_file(f, &lib_dir, &versions_dir, &now)?;
                        items.push(item);
                        records.push(rec);
                        Ok(())
                    }
                }
            });
            if let Err(mut p) = result {
                p.object_type = kind.into();
                p.url = url;
                p.id = id.to_string();
                p.int_id = int_id.map(|n| n.to_string()).unwrap_or_default();
                self.fail(*p)?;
            }
        }
        emu.library
            .with_tx(|tx| {
                for it in &items {
                    library::upsert_item(tx, it)?;
                }
                for r in &records {
                    library::insert_import(tx, r)?;
                }
                Ok(())
            })
            .map_err(|e| fatal(format!("Recording the import failed: {e}")))?;
        // Children changed their folders' mtimes: set folders last, deepest first.
        for (dir, t) in folder_times.into_iter().rev() {
            let _ = filetime::set_file_mtime(
                &dir,
                filetime::FileTime::from_unix_time(t.timestamp(), t.timestamp_subsec_nanos()),
            );
        }
        Ok(())
    }

    /// Moves a staged file into the tree and its older versions into the sidecar; a re-import
    /// replaces the file and all its versions (reference §8).
    fn place_file(
        &mut self,
        f: FilePlan,
        lib_dir: &Path,
        versions_dir: &Path,
        now: &str,
    ) -> Result<(Item, ImportRecord), Box<Problem>> {
        let path = f.rel.iter().fold(lib_dir.to_path_buf(), |p, s| p.join(s));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_problem(&f.url, e))?;
        }
        if path.is_dir() {
            return Err(Box::new(Problem {
                code: E_ALREADY_EXISTS,
                error_type: SP_EXCEPTION,
                message: format!("A folder already exists at {}", f.url),
                ..Default::default()
            }));
        }
        let vdir = versions_dir.join(f.id.to_string());
        let _ = std::fs::remove_dir_all(&vdir);
        let mut meta = Vec::with_capacity(f.versions.len());
        for (i, v) in f.versions.iter().enumerate() {
            let stored = if i == f.current {
                std::fs::rename(&v.staged, &path).map_err(|e| io_problem(&f.url, e))?;
                let t = f.modified.unwrap_or_else(Utc::now);
                filetime::set_file_mtime(
                    &path,
                    filetime::FileTime::from_unix_time(t.timestamp(), t.timestamp_subsec_nanos()),
                )
                .map_err(|e| io_problem(&f.url, e))?;
                String::new()
            } else {
                std::fs::create_dir_all(&vdir).map_err(|e| io_problem(&f.url, e))?;
                let name = format!("{i:04}-{}.bin", v.label);
                std::fs::rename(&v.staged, vdir.join(&name)).map_err(|e| io_problem(&f.url, e))?;
                format!("versions/{}/{name}", f.id)
            };
            meta.push(serde_json::json!({"label": v.label, "size": v.size, "time": v.modified, "current": i == f.current, "stored": stored, "modified_by": v.modified_by, "comment": v.comment}));
            self.counters.files_created += 1;
            self.counters.bytes_processed += v.size;
        }
        let cur = &f.versions[f.current];
        self.counters.files_irrespective += 1;
        self.counters.bytes_current += cur.size;
        let item = Item {
            list_id: f.list.list_id,
            object_id: f.id,
            int_id: f.int_id,
            kind: "File".into(),
            url: f.url.clone(),
            list_item_id: f.list_item_id,
            time_created: f.created,
            time_modified: f.modified.map(|t| t.to_rfc3339()),
            author: f.author,
            versions: serde_json::Value::Array(meta).to_string(),
            permissions: self
                .permissions
                .get(&f.id)
                .map(|p| serde_json::Value::Array(p.clone()).to_string()),
        };
        let rec = ImportRecord {
            job_id: self.ev.job_id,
            object_id: f.id,
            server_relative_url: f.url,
            kind: "File".into(),
            version: cur.label.clone(),
            bytes: cur.size,
            time: now.to_string(),
        };
        Ok((item, rec))
    }
}

fn io_problem(url: &str, e: std::io::Error) -> Box<Problem> {
    Box::new(Problem {
        code: E_IO,
        error_type: IO_EXCEPTION,
        message: format!("Writing {url} failed: {e}"),
        ..Default::default()
    })
}

/// Conflicts with the target's store: another Id at this URL, this Id at another URL or of
/// another kind, or this IntId taken by another object (reference §6.8).
fn check_store_conflicts(
    lib: &library::Library,
    list: &List,
    id: Uuid,
    url: &str,
    kind: &str,
    int_id: Option<i64>,
) -> Result<(), (&'static str, String)> {
    let db = |e: super::EmulatorError| (E_IO, e.to_string());
    if let Some(it) = lib.item_by_url(list.list_id, url).map_err(db)? {
        if it.object_id != id {
            return Err((E_ALREADY_EXISTS, format!("'{url}' already exists at the target with a different Id ({}); re-imports must reuse Ids", it.object_id)));
        }
        if it.kind != kind {
            return Err((
                E_ALREADY_EXISTS,
                format!("'{url}' already exists at the target as a {}", it.kind),
            ));
        }
    }
    if let Some(it) = lib.item_by_id(list.list_id, id).map_err(db)? {
        if !eq_ci(&it.url, url) {
            return Err((
                E_ALREADY_EXISTS,
                format!("The Id {id} already belongs to '{}' at the target", it.url),
            ));
        }
    }
    if let Some(n) = int_id {
        if let Some(it) = lib.item_by_int_id(list.list_id, n).map_err(db)? {
            if it.object_id != id {
                return Err((
                    E_ALREADY_EXISTS,
                    format!(
                        "List item id {n} is already used by '{}' at the target",
                        it.url
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_accept_the_forms_packages_use() {
        let a = parse_time("2023-03-05T16:30:00").unwrap();
        assert_eq!(parse_time("2023-03-05T16:30:00Z").unwrap(), a);
        assert_eq!(parse_time("2023-03-05T16:30:00.000").unwrap(), a);
        assert_eq!(parse_time("2023-03-05T17:30:00+01:00").unwrap(), a);
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn names_that_escape_or_spo_refuses_are_invalid() {
        for bad in ["", ".", "..", "a:b", "a/b", " lead", "trail ", "x\u{1}"] {
            assert!(!valid_segment(bad), "{bad:?}");
        }
        assert!(valid_segment("Über Pläne.docx"));
        assert_eq!(version_key("2.10"), (2, 10));
        assert_eq!(title_dir("a/b"), "a_b");
    }
}

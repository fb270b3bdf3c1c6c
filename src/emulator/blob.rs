//! The Azure blob subset the Migration API uses (reference §4): Put Blob, Put Block, Put Block
//! List, Set Blob Metadata, Snapshot Blob, Get Blob and Get Blob Properties, behind container SAS
//! checks. Containers are not listable and blobs cannot be deleted, as with SPO-provisioned
//! containers (`sp=rw`).
//!
//! Storage model: every uploaded body (a Put Blob or one Put Block) is streamed into its own
//! immutable file; a committed blob is a list of those files. Put Block List therefore copies no
//! bytes, a snapshot is a clone of the list, and a file is deleted when the last blob version,
//! snapshot or reader referring to it goes away. The index lives in memory: the account key is
//! per run, so no earlier run's SAS could reach an earlier run's blobs anyway.

use super::sas::{SasAuthority, SasDenied};
use super::server::{azure_error, empty, http_date, query_map, read_body, Body};
use super::Emu;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use md5::{Digest, Md5};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::AsyncWriteExt;

const MAX_BLOCKS: usize = 50_000;
const READ_CHUNK: usize = 1 << 20;

/// One immutable body on disk, removed when its last user drops it.
struct BlockFile {
    path: PathBuf,
    len: u64,
}

impl Drop for BlockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Clone)]
struct Block {
    id: String,
    file: Arc<BlockFile>,
}

#[derive(Clone)]
struct Committed {
    blocks: Vec<Block>,
    len: u64,
    md5: Option<String>,
    metadata: Vec<(String, String)>,
    etag: String,
    last_modified: DateTime<Utc>,
}

#[derive(Default)]
struct BlobEntry {
    current: Option<Committed>,
    /// (snapshot time as Azure writes it, state), oldest first.
    snapshots: Vec<(String, Committed)>,
    uncommitted: HashMap<String, Block>,
}

#[derive(Default)]
struct Container {
    blobs: HashMap<String, BlobEntry>,
    /// A job already used this container (SPO containers are single-use, reference §1).
    used: bool,
}

pub struct BlobStore {
    dir: PathBuf,
    containers: Mutex<HashMap<String, Container>>,
    counter: AtomicU64,
}

/// A blob as the importer sees it: the newest snapshot when there is one, else the base blob.
pub struct SourceBlob {
    pub metadata: Vec<(String, String)>,
    pub len: u64,
    pub from_snapshot: bool,
    pub reader: Box<dyn Read + Send>,
}

impl SourceBlob {
    /// Metadata lookup, case-insensitive as Azure's is.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the blob does not exist (404)")]
    NotFound,
    #[error("the container does not exist (404)")]
    NoContainer,
    #[error("reading the blob failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the importer reads package blobs from (and writes its logs to): the emulator's own
/// store, or customer-provided containers in an Azure-compatible account (`remote`).
pub trait BlobSource: Send + Sync {
    fn open(&self, container: &str, name: &str) -> Result<SourceBlob, SourceError>;
    /// The blobs the importer will open next, in order: a source over the network may start
    /// fetching them so the import is not one round trip per file. Nothing by default.
    fn will_open(&self, _container: &str, _names: Vec<String>) {}
    /// Writes a whole small blob (the import logs, into the manifest container).
    fn put(
        &self,
        container: &str,
        name: &str,
        data: &[u8],
        metadata: Vec<(String, String)>,
    ) -> Result<(), SourceError>;
}

impl BlobSource for BlobStore {
    fn open(&self, container: &str, name: &str) -> Result<SourceBlob, SourceError> {
        let state = {
            let map = self.lock();
            let c = map.get(container).ok_or(SourceError::NoContainer)?;
            let e = c.blobs.get(name).ok_or(SourceError::NotFound)?;
            match e.snapshots.last() {
                Some((_, s)) => (s.clone(), true),
                None => (e.current.clone().ok_or(SourceError::NotFound)?, false),
            }
        };
        let (c, from_snapshot) = state;
        Ok(SourceBlob {
            metadata: c.metadata.clone(),
            len: c.len,
            from_snapshot,
            reader: Box::new(ChainReader {
                blocks: c.blocks.into_iter().map(|b| b.file).collect(),
                next: 0,
                cur: None,
            }),
        })
    }

    fn put(
        &self,
        container: &str,
        name: &str,
        data: &[u8],
        metadata: Vec<(String, String)>,
    ) -> Result<(), SourceError> {
        Ok(self.put_bytes(container, name, data, metadata)?)
    }
}

/// Reads a committed blob's block files one after another.
struct ChainReader {
    blocks: Vec<Arc<BlockFile>>,
    next: usize,
    cur: Option<std::fs::File>,
}

impl Read for ChainReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(f) = self.cur.as_mut() {
                let n = f.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.cur = None;
            }
            let Some(b) = self.blocks.get(self.next) else {
                return Ok(0);
            };
            self.cur = Some(std::fs::File::open(&b.path)?);
            self.next += 1;
        }
    }
}

impl Drop for BlobStore {
    /// An instance's spooled uploads go with it (its account key went too).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl BlobStore {
    /// Starts empty: bodies left by an earlier run are unreachable (per-run account key).
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(BlobStore {
            dir,
            containers: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Container>> {
        // A panic while holding the lock leaves a consistent map (every update is one insert).
        self.containers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create_container(&self, name: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(self.dir.join(name))?;
        self.lock().entry(name.to_string()).or_default();
        Ok(())
    }

    pub fn container_exists(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    /// Marks a container used by a job; returns whether it had been used before.
    pub fn mark_used(&self, name: &str) -> bool {
        self.lock()
            .get_mut(name)
            .map(|c| std::mem::replace(&mut c.used, true))
            .unwrap_or(false)
    }

    /// Forgets every blob of a container (the container itself stays, empty): their bodies are
    /// deleted as soon as no reader holds them. See `EmulatorConfig::release_imported_blobs`.
    pub fn release_blobs(&self, container: &str) {
        let blobs = self
            .lock()
            .get_mut(container)
            .map(|c| std::mem::take(&mut c.blobs));
        // Dropped outside the lock: this unlinks the bodies' files.
        drop(blobs);
    }

    fn new_body_path(&self, container: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(container).join(format!("{n:016x}.blk"))
    }

    fn etag(&self) -> String {
        format!(
            "\"0x8D{:013X}\"",
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Writes a whole small blob (the importer's log files).
    pub fn put_bytes(
        &self,
        container: &str,
        name: &str,
        data: &[u8],
        metadata: Vec<(String, String)>,
    ) -> std::io::Result<()> {
        let path = self.new_body_path(container);
        std::fs::write(&path, data)?;
        let file = Arc::new(BlockFile {
            path,
            len: data.len() as u64,
        });
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(data));
        let committed = Committed {
            blocks: vec![Block {
                id: String::new(),
                file,
            }],
            len: data.len() as u64,
            md5: Some(md5),
            metadata,
            etag: self.etag(),
            last_modified: Utc::now(),
        };
        let mut map = self.lock();
        let c = map
            .get_mut(container)
            .ok_or_else(|| std::io::Error::other("container not found"))?;
        c.blobs.entry(name.to_string()).or_default().current = Some(committed);
        Ok(())
    }
}

/// Streams a request body into `path`, returning its length and MD5 when asked for.
async fn spool(
    body: Incoming,
    path: &Path,
    want_md5: bool,
) -> std::io::Result<(u64, Option<[u8; 16]>)> {
    let file = tokio::fs::File::create(path).await?;
    let mut out = tokio::io::BufWriter::with_capacity(READ_CHUNK, file);
    let mut md5 = want_md5.then(Md5::new);
    let mut len = 0u64;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        if let Ok(data) = frame.into_data() {
            if let Some(m) = md5.as_mut() {
                m.update(&data);
            }
            len += data.len() as u64;
            out.write_all(&data).await?;
        }
    }
    out.flush().await?;
    Ok((len, md5.map(|m| m.finalize().into())))
}

fn metadata_from(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix("x-ms-meta-")?;
            Some((name.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn denied(d: SasDenied) -> Response<Body> {
    match d {
        SasDenied::Authentication(m) => {
            azure_error(StatusCode::FORBIDDEN, "AuthenticationFailed", &m)
        }
        SasDenied::Permission(m) => {
            azure_error(StatusCode::FORBIDDEN, "AuthorizationPermissionMismatch", &m)
        }
    }
}

fn properties_headers(
    b: hyper::http::response::Builder,
    c: &Committed,
) -> hyper::http::response::Builder {
    let mut b = b
        .header("Content-Length", c.len.to_string())
        .header("ETag", &c.etag)
        .header("Last-Modified", http_date(c.last_modified))
        .header("x-ms-blob-type", "BlockBlob")
        .header("Content-Type", "application/octet-stream")
        .header("Accept-Ranges", "bytes");
    if let Some(m) = &c.md5 {
        b = b.header("Content-MD5", m);
    }
    for (k, v) in &c.metadata {
        b = b.header(format!("x-ms-meta-{k}"), v);
    }
    b
}

fn ok_headers(status: StatusCode, etag: &str) -> hyper::http::response::Builder {
    Response::builder()
        .status(status)
        .header("ETag", etag)
        .header("Last-Modified", http_date(Utc::now()))
        .header("x-ms-request-server-encrypted", "true")
        .header("x-ms-version", crate::wire::SAS_VERSION)
}

fn build(b: hyper::http::response::Builder, body: Body) -> Response<Body> {
    b.body(body).unwrap_or_else(|_| {
        azure_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "bad header value",
        )
    })
}

/// `path` is what follows `/blob/`: `{account}/{container}[/{blob name}]`, still percent-encoded.
pub async fn handle(
    emu: &Arc<Emu>,
    req: Request<Incoming>,
    path: &str,
    query: &str,
) -> Response<Body> {
    let mut parts = path.splitn(3, '/');
    let account = parts.next().unwrap_or("");
    let container = parts.next().unwrap_or("").to_string();
    let raw_name = parts.next().unwrap_or("");
    let name = percent_encoding::percent_decode_str(raw_name)
        .decode_utf8_lossy()
        .into_owned();
    if account != emu.sas.account() || container.is_empty() {
        return azure_error(
            StatusCode::BAD_REQUEST,
            "InvalidUri",
            "The requested URI does not represent any resource on the server.",
        );
    }
    let q = query_map(query);
    let comp = q.get("comp").map(String::as_str).unwrap_or("");
    let canonical = SasAuthority::blob_canonical(&container);
    let method = req.method().clone();

    // Permission each operation needs; listing and deleting need `l`/`d`, which provisioned SAS lack.
    let need = if name.is_empty() {
        match (&method, comp) {
            (_, "list") => "l",
            (&Method::GET | &Method::HEAD, _) => "r",
            (&Method::DELETE, _) => "d",
            _ => "c",
        }
    } else {
        match method {
            Method::GET | Method::HEAD => "r",
            Method::PUT => "w",
            Method::DELETE => "d",
            _ => "w",
        }
    };
    if let Err(d) = emu.sas.check(query, &canonical, need) {
        return denied(d);
    }
    if !emu.blobs.container_exists(&container) {
        return azure_error(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            "The specified container does not exist.",
        );
    }
    if name.is_empty() {
        if method == Method::GET || method == Method::HEAD {
            return build(
                Response::builder()
                    .status(StatusCode::OK)
                    .header("ETag", "\"0x8D000000000000\"")
                    .header("Last-Modified", http_date(Utc::now())),
                empty(),
            );
        }
        return azure_error(
            StatusCode::FORBIDDEN,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation.",
        );
    }
    let store = &emu.blobs;
    match (method, comp) {
        (Method::PUT, "") => put_blob(store, req, &container, &name).await,
        (Method::PUT, "block") => {
            put_block(
                store,
                req,
                &container,
                &name,
                q.get("blockid").cloned().unwrap_or_default(),
            )
            .await
        }
        (Method::PUT, "blocklist") => put_block_list(store, req, &container, &name).await,
        (Method::PUT, "metadata") => set_metadata(store, req.headers(), &container, &name),
        (Method::PUT, "snapshot") => snapshot(store, req.headers(), &container, &name),
        (Method::GET, "") | (Method::HEAD, "") => get_blob(
            store,
            req.method() == Method::HEAD,
            &container,
            &name,
            q.get("snapshot"),
        ),
        (Method::GET, "metadata") => get_blob(store, true, &container, &name, q.get("snapshot")),
        _ => azure_error(
            StatusCode::BAD_REQUEST,
            "UnsupportedHttpVerb",
            "The emulator does not support this blob operation.",
        ),
    }
}

fn md5_mismatch(expected: &str, got: &[u8; 16]) -> Response<Body> {
    azure_error(
        StatusCode::BAD_REQUEST,
        "Md5Mismatch",
        &format!(
            "The MD5 value specified in the request did not match with the MD5 value calculated by the server.\nUserSpecifiedMd5: {expected}\nServerCalculatedMd5: {}",
            base64::engine::general_purpose::STANDARD.encode(got)
        ),
    )
}

async fn put_blob(
    store: &BlobStore,
    req: Request<Incoming>,
    container: &str,
    name: &str,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    match header(&parts.headers, "x-ms-blob-type") {
        Some(t) if t.eq_ignore_ascii_case("BlockBlob") => {}
        _ => {
            return azure_error(
                StatusCode::BAD_REQUEST,
                "MissingRequiredHeader",
                "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type (BlockBlob).",
            )
        }
    }
    let path = store.new_body_path(container);
    let (len, md5) = match spool(body, &path, true).await {
        Ok(r) => r,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return azure_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &format!("writing the blob failed: {e}"),
            );
        }
    };
    let file = Arc::new(BlockFile { path, len });
    let md5 = md5.unwrap_or_default();
    let md5_b64 = base64::engine::general_purpose::STANDARD.encode(md5);
    if let Some(expected) = header(&parts.headers, "content-md5") {
        if expected.trim() != md5_b64 {
            return md5_mismatch(expected, &md5);
        }
    }
    let etag = store.etag();
    let committed = Committed {
        blocks: vec![Block {
            id: String::new(),
            file,
        }],
        len,
        md5: Some(md5_b64.clone()),
        metadata: metadata_from(&parts.headers),
        etag: etag.clone(),
        last_modified: Utc::now(),
    };
    {
        let mut map = store.lock();
        let Some(c) = map.get_mut(container) else {
            return azure_error(
                StatusCode::NOT_FOUND,
                "ContainerNotFound",
                "The specified container does not exist.",
            );
        };
        let e = c.blobs.entry(name.to_string()).or_default();
        e.current = Some(committed);
        // Azure discards uncommitted blocks when a blob is written whole.
        e.uncommitted.clear();
    }
    build(
        ok_headers(StatusCode::CREATED, &etag).header("Content-MD5", md5_b64),
        empty(),
    )
}

async fn put_block(
    store: &BlobStore,
    req: Request<Incoming>,
    container: &str,
    name: &str,
    block_id: String,
) -> Response<Body> {
    let valid_id = base64::engine::general_purpose::STANDARD
        .decode(&block_id)
        .map(|b| !b.is_empty() && b.len() <= 64)
        .unwrap_or(false);
    if !valid_id {
        return azure_error(StatusCode::BAD_REQUEST, "InvalidQueryParameterValue", "The value for one of the query parameters (blockid) is not valid base64 of at most 64 bytes.");
    }
    let (parts, body) = req.into_parts();
    let expected = header(&parts.headers, "content-md5").map(|s| s.trim().to_string());
    let path = store.new_body_path(container);
    let (len, md5) = match spool(body, &path, expected.is_some()).await {
        Ok(r) => r,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return azure_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &format!("writing the block failed: {e}"),
            );
        }
    };
    let file = Arc::new(BlockFile { path, len });
    if let (Some(expected), Some(md5)) = (expected, md5) {
        if expected != base64::engine::general_purpose::STANDARD.encode(md5) {
            return md5_mismatch(&expected, &md5);
        }
    }
    {
        let mut map = store.lock();
        let Some(c) = map.get_mut(container) else {
            return azure_error(
                StatusCode::NOT_FOUND,
                "ContainerNotFound",
                "The specified container does not exist.",
            );
        };
        let e = c.blobs.entry(name.to_string()).or_default();
        if e.uncommitted.len() >= 100_000 {
            return azure_error(
                StatusCode::CONFLICT,
                "BlockCountExceedsLimit",
                "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.",
            );
        }
        e.uncommitted
            .insert(block_id.clone(), Block { id: block_id, file });
    }
    build(
        Response::builder()
            .status(StatusCode::CREATED)
            .header("x-ms-request-server-encrypted", "true"),
        empty(),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum ListKind {
    Latest,
    Committed,
    Uncommitted,
}

fn parse_block_list(xml: &[u8]) -> Result<Vec<(ListKind, String)>, String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut kind = None;
    let mut buf = Vec::new();
    loop {
        match r.read_event_into(&mut buf).map_err(|e| e.to_string())? {
            Event::Start(e) => {
                kind = match e.local_name().as_ref() {
                    b"Latest" => Some(ListKind::Latest),
                    b"Committed" => Some(ListKind::Committed),
                    b"Uncommitted" => Some(ListKind::Uncommitted),
                    _ => None,
                }
            }
            Event::Text(t) => {
                if let Some(k) = kind {
                    let id = t.unescape().map_err(|e| e.to_string())?.trim().to_string();
                    out.push((k, id));
                }
            }
            Event::End(_) => kind = None,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

async fn put_block_list(
    store: &BlobStore,
    req: Request<Incoming>,
    container: &str,
    name: &str,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let xml = match read_body(body, 8 << 20).await {
        Ok(b) => b,
        Err(e) => return azure_error(StatusCode::BAD_REQUEST, "InvalidInput", &e),
    };
    let list = match parse_block_list(&xml) {
        Ok(l) => l,
        Err(e) => {
            return azure_error(
                StatusCode::BAD_REQUEST,
                "InvalidXmlDocument",
                &format!("XML specified is not syntactically valid: {e}"),
            )
        }
    };
    if list.len() > MAX_BLOCKS {
        return azure_error(
            StatusCode::BAD_REQUEST,
            "BlockListTooLong",
            "The block list may not contain more than 50,000 blocks.",
        );
    }
    let etag = store.etag();
    let mut map = store.lock();
    let Some(c) = map.get_mut(container) else {
        return azure_error(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            "The specified container does not exist.",
        );
    };
    let e = c.blobs.entry(name.to_string()).or_default();
    let mut blocks = Vec::with_capacity(list.len());
    for (kind, id) in &list {
        let committed = || {
            e.current
                .as_ref()
                .and_then(|cur| cur.blocks.iter().find(|b| &b.id == id).cloned())
        };
        let found = match kind {
            ListKind::Uncommitted => e.uncommitted.get(id).cloned(),
            ListKind::Committed => committed(),
            ListKind::Latest => e.uncommitted.get(id).cloned().or_else(committed),
        };
        match found {
            Some(b) => blocks.push(b),
            None => {
                return azure_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidBlockList",
                    &format!("The specified block list is invalid: block {id} was not found."),
                )
            }
        }
    }
    let len = blocks.iter().map(|b| b.file.len).sum();
    e.current = Some(Committed {
        blocks,
        len,
        md5: header(&parts.headers, "x-ms-blob-content-md5").map(|s| s.trim().to_string()),
        metadata: metadata_from(&parts.headers),
        etag: etag.clone(),
        last_modified: Utc::now(),
    });
    // Committing discards every uncommitted block (Azure semantics).
    e.uncommitted.clear();
    drop(map);
    build(ok_headers(StatusCode::CREATED, &etag), empty())
}

fn set_metadata(
    store: &BlobStore,
    headers: &HeaderMap,
    container: &str,
    name: &str,
) -> Response<Body> {
    let etag = store.etag();
    let mut map = store.lock();
    let cur = map
        .get_mut(container)
        .and_then(|c| c.blobs.get_mut(name))
        .and_then(|e| e.current.as_mut());
    let Some(cur) = cur else {
        return azure_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        );
    };
    cur.metadata = metadata_from(headers);
    cur.etag = etag.clone();
    cur.last_modified = Utc::now();
    drop(map);
    build(ok_headers(StatusCode::OK, &etag), empty())
}

fn snapshot(store: &BlobStore, headers: &HeaderMap, container: &str, name: &str) -> Response<Body> {
    let mut map = store.lock();
    let entry = map.get_mut(container).and_then(|c| c.blobs.get_mut(name));
    let Some(entry) = entry else {
        return azure_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        );
    };
    let Some(cur) = entry.current.clone() else {
        return azure_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        );
    };
    let mut snap = cur.clone();
    // Metadata on the request replaces the base blob's for the snapshot only (Azure semantics).
    let meta = metadata_from(headers);
    if !meta.is_empty() {
        snap.metadata = meta;
    }
    let mut ts = Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f0Z").to_string();
    if entry.snapshots.iter().any(|(t, _)| *t >= ts) {
        // Two snapshots within the clock's resolution: keep them ordered and distinct.
        let last = entry
            .snapshots
            .last()
            .map(|(t, _)| t.clone())
            .unwrap_or_default();
        ts = bump_snapshot_time(&last);
    }
    entry.snapshots.push((ts.clone(), snap));
    drop(map);
    build(
        ok_headers(StatusCode::CREATED, &cur.etag).header("x-ms-snapshot", ts),
        empty(),
    )
}

fn bump_snapshot_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            (d.with_timezone(&Utc) + chrono::Duration::microseconds(1))
                .format("%Y-%m-%dT%H:%M:%S%.6f0Z")
                .to_string()
        })
        .unwrap_or_else(|_| format!("{t}1"))
}

fn get_blob(
    store: &BlobStore,
    head: bool,
    container: &str,
    name: &str,
    snapshot: Option<&String>,
) -> Response<Body> {
    let found = {
        let map = store.lock();
        let entry = map.get(container).and_then(|c| c.blobs.get(name));
        match (entry, snapshot) {
            (Some(e), Some(ts)) => e
                .snapshots
                .iter()
                .find(|(t, _)| t == ts)
                .map(|(_, c)| c.clone()),
            (Some(e), None) => e.current.clone(),
            (None, _) => None,
        }
    };
    let Some(c) = found else {
        return azure_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        );
    };
    let b = properties_headers(Response::builder().status(StatusCode::OK), &c);
    if head {
        return build(b, empty());
    }
    let files: Vec<Arc<BlockFile>> = c.blocks.into_iter().map(|b| b.file).collect();
    build(b, stream_files(files))
}

/// Streams block files in 1 MiB chunks: a large blob is never held in memory.
fn stream_files(files: Vec<Arc<BlockFile>>) -> Body {
    use tokio::io::AsyncReadExt;
    struct St {
        files: Vec<Arc<BlockFile>>,
        next: usize,
        cur: Option<tokio::fs::File>,
    }
    let st = St {
        files,
        next: 0,
        cur: None,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(f) = st.cur.as_mut() {
                let mut buf = vec![0u8; READ_CHUNK];
                match f.read(&mut buf).await {
                    Ok(0) => st.cur = None,
                    Ok(n) => {
                        buf.truncate(n);
                        return Some((Ok(hyper::body::Frame::data(Bytes::from(buf))), st));
                    }
                    Err(e) => {
                        return Some((
                            Err(e),
                            St {
                                files: Vec::new(),
                                next: 0,
                                cur: None,
                            },
                        ))
                    }
                }
                continue;
            }
            let path = st.files.get(st.next)?.path.clone();
            st.next += 1;
            match tokio::fs::File::open(&path).await {
                Ok(f) => st.cur = Some(f),
                Err(e) => {
                    return Some((
                        Err(e),
                        St {
                            files: Vec::new(),
                            next: 0,
                            cur: None,
                        },
                    ))
                }
            }
        }
    });
    http_body_util::StreamBody::new(stream).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_list_accepts_all_three_kinds() {
        let l = parse_block_list(b"<?xml version=\"1.0\"?><BlockList><Latest>YQ==</Latest><Committed>Yg==</Committed><Uncommitted>Yw==</Uncommitted></BlockList>").unwrap();
        assert_eq!(l.len(), 3);
        assert!(l[0].0 == ListKind::Latest && l[0].1 == "YQ==");
        assert!(l[2].0 == ListKind::Uncommitted);
    }

    #[test]
    fn blobs_read_back_through_the_source_trait_newest_snapshot_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path().join("st")).unwrap();
        s.create_container("c").unwrap();
        s.put_bytes("c", "a/b.dat", b"hello", vec![("IV".into(), "x".into())])
            .unwrap();
        let mut b = s.open("c", "a/b.dat").unwrap();
        assert!(!b.from_snapshot);
        assert_eq!(b.meta("iv"), Some("x"));
        let mut v = Vec::new();
        b.reader.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"hello");
        assert!(matches!(s.open("c", "zz"), Err(SourceError::NotFound)));
    }

    #[test]
    fn released_blobs_are_gone_and_their_bodies_deleted_once_unread() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path().join("st")).unwrap();
        s.create_container("c").unwrap();
        s.put_bytes("c", "a.dat", b"hello", vec![]).unwrap();
        let bodies = || {
            std::fs::read_dir(dir.path().join("st").join("c"))
                .unwrap()
                .count()
        };
        let mut reader = s.open("c", "a.dat").unwrap();
        s.release_blobs("c");
        assert!(s.container_exists("c"));
        assert!(matches!(s.open("c", "a.dat"), Err(SourceError::NotFound)));
        // A reader that opened the blob before the release still reads it whole.
        let mut v = Vec::new();
        reader.reader.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"hello");
        assert_eq!(bodies(), 1);
        drop(reader);
        assert_eq!(bodies(), 0);
    }
}

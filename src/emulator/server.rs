//! The one HTTP listener: accepts connections, applies faults, routes to REST, blob or queue, and
//! holds the small HTTP helpers the three surfaces share.

use super::faults::{Fault, Faults};
use super::{
    blob, importer, library, queue, rest, sas, Emu, EmulatorConfig, EmulatorError, EmulatorHandle,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::Arc;

pub type Body = BoxBody<Bytes, std::io::Error>;

pub fn body_bytes(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// RFC 1123, as Azure writes Last-Modified and queue times.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Azure's XML error body, with the code also in `x-ms-error-code`.
pub fn azure_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{}</Code><Message>{}\nRequestId:{}\nTime:{}</Message></Error>",
        code,
        quick_xml::escape::escape(message),
        uuid::Uuid::new_v4(),
        Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f0Z")
    );
    let mut r = Response::new(body_bytes(xml));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(code) {
        h.insert("x-ms-error-code", v);
    }
    r
}

/// Query parameters, keys lowercased (Azure and SPO treat them case-insensitively).
pub fn query_map(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}

/// Reads a small request body whole (XML and JSON calls), refusing more than `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, String> {
    let mut out = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the request body failed: {e}"))?;
        if let Ok(d) = frame.into_data() {
            if out.len() + d.len() > limit {
                return Err(format!("the request body exceeds {limit} bytes"));
            }
            out.extend_from_slice(&d);
        }
    }
    Ok(Bytes::from(out))
}

/// Returned by the service to make hyper close the connection without answering (a dropped
/// connection fault).
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Listens on `listen` (port 0: a free one) and says where.
pub async fn bind(
    listen: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), EmulatorError> {
    let bound = |source| EmulatorError::Bind {
        addr: listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(bound)?;
    let addr = listener.local_addr().map_err(bound)?;
    Ok((listener, addr))
}

pub async fn start(cfg: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
    let (listener, addr) = bind(cfg.listen).await?;
    let base_url = format!("http://{addr}");
    let root = cfg.root.clone();
    let emu_dir = root.join("_emulator");
    let root_lock = super::root_lock::acquire(&emu_dir)?;
    if root_lock.first {
        // Uploads spooled and jobs staged by processes that have ended: nobody can still
        // commit them (each run has its own account key).
        let _ = std::fs::remove_dir_all(emu_dir.join("storage"));
        let _ = std::fs::remove_dir_all(emu_dir.join("staging"));
    }
    // Each instance spools into its own folder, so one that shares the root in this process
    // never touches another's uploads.
    let storage = emu_dir
        .join("storage")
        .join(uuid::Uuid::new_v4().simple().to_string());
    let blobs = blob::BlobStore::open(storage.clone()).map_err(|source| EmulatorError::Io {
        what: "cannot prepare blob storage in",
        path: storage,
        source,
    })?;
    let library = library::Library::open(&root)?;
    if root_lock.first {
        let closed = library.close_abandoned_jobs(super::events::closing_job_end)?;
        if closed > 0 {
            tracing::info!(
                jobs = closed,
                "closed jobs an earlier process left unfinished"
            );
        }
    }
    for (site, title) in &cfg.precreate {
        library.ensure_site(site)?;
        library.ensure_list(site, title)?;
        let dir = root
            .join("sites")
            .join(site)
            .join(importer::title_dir(title));
        std::fs::create_dir_all(&dir).map_err(|source| EmulatorError::Io {
            what: "cannot create",
            path: dir,
            source,
        })?;
    }
    let access_token = if cfg.access_token.is_empty() {
        format!("spmt-local-{}", uuid::Uuid::new_v4().simple())
    } else {
        cfg.access_token.clone()
    };
    let max_jobs = if cfg.max_concurrent_jobs == 0 {
        4
    } else {
        cfg.max_concurrent_jobs
    };
    let emu = Arc::new(Emu {
        base_url,
        root,
        access_token,
        strict: cfg.strict,
        libraries_must_exist: cfg.libraries_must_exist,
        release_imported_blobs: cfg.release_imported_blobs,
        fail_items: cfg.faults.fail_items.clone(),
        entra: super::entra::Entra::new(cfg.entra).map_err(EmulatorError::Config)?,
        faults: Faults::new(cfg.faults),
        sas: sas::SasAuthority::new(),
        blobs: Arc::new(blobs),
        queues: queue::Queues::default(),
        library,
        jobs: importer::Jobs::new(max_jobs, cfg.abandon_jobs.clone()),
        _root_lock: root_lock,
        remote_http: reqwest::Client::builder()
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| EmulatorError::Config(format!("cannot build the storage client: {e}")))?,
    });
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(accept_loop(listener, emu.clone(), stop_rx));
    tracing::info!(url = %emu.base_url, "emulator listening");
    Ok(EmulatorHandle {
        emu,
        addr,
        stop,
        server,
    })
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    emu: Arc<Emu>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let emu = emu.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let emu = emu.clone();
                async move { serve(emu, req).await }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

async fn serve(emu: Arc<Emu>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let is_rest = !(path.starts_with("/blob/") || path.starts_with("/queue/"));
    if let Some(d) = emu.faults.latency() {
        tokio::time::sleep(d).await;
    }
    match emu.faults.decide(is_rest) {
        Some(Fault::Drop) => return Err(Dropped),
        Some(Fault::Status {
            status,
            retry_after,
        }) => return Ok(fault_response(is_rest, status, retry_after)),
        None => {}
    }
    let resp = if let Some(p) = path.strip_prefix("/login/") {
        let method = req.method().clone();
        match read_body(req.into_body(), 1 << 16).await {
            Ok(body) => {
                emu.entra
                    .handle(&emu.base_url, &method, p, &query, &body)
                    .await
            }
            Err(e) => {
                super::entra::entra_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, &e)
            }
        }
    } else if let Some(p) = path.strip_prefix("/blob/") {
        blob::handle(&emu, req, p, &query).await
    } else if let Some(p) = path.strip_prefix("/queue/") {
        queue::handle(&emu, req, p, &query).await
    } else {
        rest::handle(&emu, req, &path, &query).await
    };
    Ok(resp)
}

fn fault_response(is_rest: bool, status: u16, retry_after: u64) -> Response<Body> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let mut r = if is_rest {
        let msg = if status == 429 {
            "The request has been throttled by the emulator's fault profile. Retry after the Retry-After interval."
        } else {
            "The service is unavailable (emulator fault profile). Retry after the Retry-After interval."
        };
        rest::spo_error(
            code,
            "-2147024860, Microsoft.SharePoint.SPQueryThrottledException",
            msg,
        )
    } else {
        azure_error(
            code,
            "ServerBusy",
            "The server is busy (emulator fault profile).",
        )
    };
    if let Ok(v) = hyper::header::HeaderValue::from_str(&retry_after.to_string()) {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

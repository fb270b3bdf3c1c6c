//! Customer-provided storage (reference §3.3): a job whose container URIs are not this
//! emulator's own is read over HTTP with the SAS it carries (Azurite, or any Azure-compatible
//! service on a loopback host), and its events go to the customer's queue with that queue's SAS.
//!
//! The source container is only read (List to find each blob's newest snapshot, then Get); the
//! manifest container is read and receives the import logs, as SPO writes them there. Only
//! loopback hosts are contacted: the emulator must never become a client of arbitrary hosts.

use super::blob::{BlobSource, SourceBlob, SourceError};
use crate::wire::{Sas, STORAGE_VERSION};
use bytes::Bytes;
use quick_xml::events::Event;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// SAS permissions per resource: (must have, may have) — reference §3.3: source Read+List only,
/// manifest Read+List+Write only, queue Add+Read+Update only.
pub const SOURCE_PERMS: (&str, &str) = ("rl", "rl");
pub const MANIFEST_PERMS: (&str, &str) = ("rwl", "rwl");
pub const QUEUE_PERMS: (&str, &str) = ("a", "rau");

fn loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `base` with `/{name}` added to its path and `extra` query pairs before its SAS.
fn child(base: &url::Url, name: &str, extra: &[(&str, &str)]) -> url::Url {
    let mut u = base.clone();
    if let Ok(mut segs) = u.path_segments_mut() {
        segs.pop_if_empty();
        for s in name.split('/') {
            segs.push(s);
        }
    }
    with_query(u, base.query().unwrap_or(""), extra)
}

fn with_query(mut u: url::Url, sas: &str, extra: &[(&str, &str)]) -> url::Url {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    let mut query = q.finish();
    if !sas.is_empty() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(sas);
    }
    u.set_query(Some(&query));
    u
}

/// Checks a customer URI: loopback, http(s), SAS permissions exactly as the API requires.
/// Returns the parsed URL and the resource name (last path segment).
fn check_uri(uri: &str, what: &str, perms: (&str, &str)) -> Result<(url::Url, String), String> {
    let u = url::Url::parse(uri.trim()).map_err(|_| format!("{what} is not a URL."))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{what} must be an http(s) URL."));
    }
    if !loopback(&u) {
        return Err(format!(
            "{what}: the emulator reads customer-provided storage on loopback hosts only (127.0.0.1, ::1, localhost)."
        ));
    }
    let name = u
        .path_segments()
        .and_then(|mut s| s.rfind(|s| !s.is_empty()).map(str::to_string))
        .ok_or_else(|| format!("{what} names no container or queue."))?;
    let sas = Sas::parse(u.query().unwrap_or(""));
    if sas.sig.is_empty() {
        return Err(format!("{what} carries no SAS signature."));
    }
    let (need, may) = perms;
    if let Some(c) = need.chars().find(|c| !sas.sp.contains(*c)) {
        return Err(format!(
            "{what} has incorrect access flags: '{c}' is required (sp={}; reference: {need} needed).",
            sas.sp
        ));
    }
    if let Some(c) = sas.sp.chars().find(|c| !may.contains(*c)) {
        return Err(format!(
            "{what} has incorrect access flags: '{c}' is not allowed (sp={}; only {may}).",
            sas.sp
        ));
    }
    Ok((u, name))
}

/// Verifies a customer container URI and that its SAS really lists the container.
pub async fn verify_container(
    http: &reqwest::Client,
    uri: &str,
    what: &str,
    perms: (&str, &str),
) -> Result<(String, url::Url), String> {
    let (u, name) = check_uri(uri, what, perms)?;
    let probe = with_query(
        u.clone(),
        u.query().unwrap_or(""),
        &[
            ("restype", "container"),
            ("comp", "list"),
            ("maxresults", "1"),
        ],
    );
    let r = http
        .get(probe)
        .header("x-ms-version", STORAGE_VERSION)
        .send()
        .await
        .map_err(|e| {
            format!(
                "{what}: the container cannot be reached: {}",
                e.without_url()
            )
        })?;
    if !r.status().is_success() {
        return Err(format!(
            "{what}: listing the container with the given SAS failed (HTTP {}); the SAS must grant {} on an existing container.",
            r.status().as_u16(),
            perms.0
        ));
    }
    Ok((name, u))
}

/// Verifies a customer queue URI (flags and host; its first event proves the SAS).
pub fn verify_queue(uri: &str) -> Result<url::Url, String> {
    check_uri(uri, "azureQueueReportUri", QUEUE_PERMS).map(|(u, _)| u)
}

/// Blob name → newest snapshot (None: the blob has none).
type Listing = Arc<HashMap<String, Option<String>>>;

/// Content blobs requested ahead of the importer. Only the request is made early: a response
/// waits with its body unread until the importer opens it, so memory stays at a few socket
/// buffers however large the blobs are.
const FETCH_AHEAD: usize = 8;

type Pending = tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>>;

type Key = (String, String);

#[derive(Default)]
struct Ahead {
    /// (order, (container, blob)) the importer will open, not requested yet.
    queue: std::collections::VecDeque<(u64, Key)>,
    /// Requests made ahead, with their place in the order.
    sent: HashMap<Key, (u64, Pending)>,
    next: u64,
}

impl Ahead {
    /// The importer opens `key`: what it passed over (an object that failed before its
    /// content was read) is dropped, so it never holds a place in the window.
    fn take(&mut self, key: &Key) -> Option<Pending> {
        let at = match self.sent.get(key) {
            Some((n, _)) => *n,
            None => match self.queue.iter().find(|(_, k)| k == key) {
                Some((n, _)) => *n,
                None => return None,
            },
        };
        while self.queue.front().is_some_and(|(n, _)| *n <= at) {
            self.queue.pop_front();
        }
        self.sent.retain(|_, (n, p)| {
            if *n < at {
                p.abort();
            }
            *n >= at
        });
        self.sent.remove(key).map(|(_, p)| p)
    }
}

/// The two containers of one job in customer storage.
pub struct RemoteStorage {
    http: reqwest::Client,
    rt: tokio::runtime::Handle,
    containers: HashMap<String, url::Url>,
    /// Per container: blob name → newest snapshot (None: no snapshot), listed once.
    index: Mutex<HashMap<String, Listing>>,
    ahead: Mutex<Ahead>,
}

impl RemoteStorage {
    /// Must be called on the runtime: blocking reads run on it later.
    pub fn new(http: reqwest::Client, containers: Vec<(String, url::Url)>) -> Self {
        RemoteStorage {
            http,
            rt: tokio::runtime::Handle::current(),
            containers: containers.into_iter().collect(),
            index: Mutex::new(HashMap::new()),
            ahead: Mutex::new(Ahead::default()),
        }
    }

    /// The GET of a blob's newest snapshot (or of the blob when it has none).
    fn request(&self, container: &str, name: &str) -> Result<(url::Url, bool), SourceError> {
        let listing = self.listing(container)?;
        let snapshot = listing.get(name).ok_or(SourceError::NotFound)?;
        let base = self.base(container)?;
        Ok(match snapshot {
            Some(s) => (child(base, name, &[("snapshot", s)]), true),
            None => (child(base, name, &[]), false),
        })
    }

    fn send(&self, url: url::Url) -> Pending {
        let http = self.http.clone();
        self.rt.spawn(async move {
            http.get(url)
                .header("x-ms-version", STORAGE_VERSION)
                .send()
                .await
        })
    }

    /// Keeps up to FETCH_AHEAD requests in flight from the importer's list.
    fn top_up(&self, ahead: &mut Ahead) {
        while ahead.sent.len() < FETCH_AHEAD {
            let Some((n, key)) = ahead.queue.pop_front() else {
                break;
            };
            if ahead.sent.contains_key(&key) {
                continue;
            }
            // A blob that is not there is reported when the importer opens it.
            if let Ok((url, _)) = self.request(&key.0, &key.1) {
                let pending = self.send(url);
                ahead.sent.insert(key, (n, pending));
            }
        }
    }

    fn base(&self, container: &str) -> Result<&url::Url, SourceError> {
        self.containers
            .get(container)
            .ok_or(SourceError::NoContainer)
    }

    /// Lists the container once (with snapshots; the API imports the newest, reference §4.2).
    fn listing(
        &self,
        container: &str,
    ) -> Result<Arc<HashMap<String, Option<String>>>, SourceError> {
        if let Some(i) = self
            .index
            .lock()
            .ok()
            .and_then(|m| m.get(container).cloned())
        {
            return Ok(i);
        }
        let base = self.base(container)?.clone();
        let mut out: HashMap<String, Option<String>> = HashMap::new();
        let mut marker = String::new();
        loop {
            let mut extra = vec![
                ("restype", "container"),
                ("comp", "list"),
                ("include", "snapshots"),
            ];
            if !marker.is_empty() {
                extra.push(("marker", marker.as_str()));
            }
            let url = with_query(base.clone(), base.query().unwrap_or(""), &extra);
            let body = self.rt.block_on(async {
                let r = self
                    .http
                    .get(url)
                    .header("x-ms-version", STORAGE_VERSION)
                    .send()
                    .await
                    .map_err(|e| std::io::Error::other(e.without_url().to_string()))?;
                if r.status().as_u16() == 404 {
                    return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "404"));
                }
                if !r.status().is_success() {
                    return Err(std::io::Error::other(format!(
                        "listing the container failed: HTTP {}",
                        r.status().as_u16()
                    )));
                }
                r.bytes()
                    .await
                    .map_err(|e| std::io::Error::other(e.without_url().to_string()))
            });
            let body = match body {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(SourceError::NoContainer)
                }
                Err(e) => return Err(SourceError::Io(e)),
            };
            let (blobs, next) = parse_listing(&String::from_utf8_lossy(&body));
            for (name, snap) in blobs {
                let e = out.entry(name).or_insert(None);
                if let Some(s) = snap {
                    if e.as_deref().is_none_or(|cur| s.as_str() > cur) {
                        *e = Some(s);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            marker = next;
        }
        let out = Arc::new(out);
        if let Ok(mut m) = self.index.lock() {
            m.insert(container.to_string(), out.clone());
        }
        Ok(out)
    }
}

/// (blob name, snapshot time) of each `<Blob>`, and `NextMarker`.
fn parse_listing(xml: &str) -> (Vec<(String, Option<String>)>, String) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut field = String::new();
    let mut cur: Option<(String, Option<String>)> = None;
    let mut next = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                field = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if field == "Blob" {
                    cur = Some((String::new(), None));
                }
            }
            Ok(Event::Text(t)) => {
                let v = t.unescape().map(|c| c.into_owned()).unwrap_or_default();
                match (field.as_str(), cur.as_mut()) {
                    ("Name", Some(c)) => c.0 = v,
                    ("Snapshot", Some(c)) if !v.is_empty() => c.1 = Some(v),
                    ("NextMarker", None) => next = v,
                    _ => {}
                }
            }
            Ok(Event::End(e)) => {
                if e.name().as_ref() == b"Blob" {
                    out.extend(cur.take());
                }
                field.clear();
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    (out, next)
}

/// Streams a response body into `Read`, blocking on the runtime for each chunk.
struct RemoteReader {
    resp: reqwest::Response,
    rt: tokio::runtime::Handle,
    buf: Bytes,
}

impl Read for RemoteReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rt.block_on(self.resp.chunk()) {
                Ok(Some(b)) => self.buf = b,
                Ok(None) => return Ok(0),
                Err(e) => return Err(std::io::Error::other(e.without_url().to_string())),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

impl BlobSource for RemoteStorage {
    fn will_open(&self, container: &str, names: Vec<String>) {
        if let Ok(mut ahead) = self.ahead.lock() {
            for name in names {
                let n = ahead.next;
                ahead.next += 1;
                ahead.queue.push_back((n, (container.to_string(), name)));
            }
            self.top_up(&mut ahead);
        }
    }

    fn open(&self, container: &str, name: &str) -> Result<SourceBlob, SourceError> {
        let (url, from_snapshot) = self.request(container, name)?;
        let pending = match self.ahead.lock() {
            Ok(mut ahead) => {
                let p = ahead.take(&(container.to_string(), name.to_string()));
                self.top_up(&mut ahead);
                p
            }
            Err(_) => None,
        };
        let pending = pending.unwrap_or_else(|| self.send(url));
        let resp = self
            .rt
            .block_on(pending)
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .map_err(|e| std::io::Error::other(e.without_url().to_string()))?;
        match resp.status().as_u16() {
            404 => return Err(SourceError::NotFound),
            s if !(200..300).contains(&s) => {
                return Err(SourceError::Io(std::io::Error::other(format!(
                    "GET failed: HTTP {s}"
                ))))
            }
            _ => {}
        }
        let metadata = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                let n = k.as_str().strip_prefix("x-ms-meta-")?;
                Some((n.to_string(), v.to_str().ok()?.to_string()))
            })
            .collect();
        let len = resp.content_length().unwrap_or(0);
        Ok(SourceBlob {
            metadata,
            len,
            from_snapshot,
            reader: Box::new(RemoteReader {
                resp,
                rt: self.rt.clone(),
                buf: Bytes::new(),
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
        let url = child(self.base(container)?, name, &[]);
        let mut req = self
            .http
            .put(url)
            .header("x-ms-version", STORAGE_VERSION)
            .header("x-ms-blob-type", "BlockBlob")
            .body(data.to_vec());
        for (k, v) in metadata {
            req = req.header(format!("x-ms-meta-{k}"), v);
        }
        let r = self
            .rt
            .block_on(req.send())
            .map_err(|e| std::io::Error::other(e.without_url().to_string()))?;
        if !r.status().is_success() {
            return Err(SourceError::Io(std::io::Error::other(format!(
                "PUT {name} failed: HTTP {}",
                r.status().as_u16()
            ))));
        }
        Ok(())
    }
}

enum QueueCmd {
    Put(String),
    Flush(std::sync::mpsc::Sender<()>),
}

/// A customer queue: events are posted in order by one task, so emitting never blocks the job.
pub struct RemoteQueue {
    tx: tokio::sync::mpsc::UnboundedSender<QueueCmd>,
}

impl RemoteQueue {
    /// Must be called on the runtime (spawns the posting task).
    pub fn start(http: reqwest::Client, queue: url::Url) -> Arc<Self> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let url = child(&queue, "messages", &[]);
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    QueueCmd::Flush(done) => {
                        let _ = done.send(());
                    }
                    QueueCmd::Put(text) => post(&http, &url, &text).await,
                }
            }
        });
        Arc::new(RemoteQueue { tx })
    }

    pub fn put(&self, text: String) {
        let _ = self.tx.send(QueueCmd::Put(text));
    }

    /// Waits (blocking; not on a runtime thread) until every event put so far was posted.
    pub fn flush(&self, timeout: Duration) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.tx.send(QueueCmd::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(timeout);
        }
    }
}

/// Put Message with a few retries (honouring Retry-After on 429/503).
async fn post(http: &reqwest::Client, url: &url::Url, text: &str) {
    let body = format!(
        "<QueueMessage><MessageText>{}</MessageText></QueueMessage>",
        quick_xml::escape::escape(text)
    );
    for attempt in 1..=5u64 {
        let r = http
            .post(url.clone())
            .header("x-ms-version", STORAGE_VERSION)
            .header("content-type", "application/xml")
            .body(body.clone())
            .send()
            .await;
        let wait = match r {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if matches!(r.status().as_u16(), 429 | 503) => r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(1)),
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "posting an event to the customer queue failed"
                );
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e.without_url(), attempt, "posting an event failed, retrying");
                Duration::from_millis(200 * attempt)
            }
        };
        tokio::time::sleep(wait).await;
    }
    tracing::warn!("posting an event to the customer queue failed after 5 attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_fetch_window_drops_what_the_importer_passed_over() {
        let rt = tokio::runtime::Handle::current();
        let mut ahead = Ahead::default();
        let key = |n: &str| ("c".to_string(), n.to_string());
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            ahead
                .sent
                .insert(key(n), (i as u64, rt.spawn(std::future::pending())));
        }
        ahead.queue.push_back((4, key("e")));
        ahead.queue.push_back((5, key("f")));
        // "a" failed validation and was never opened: opening "b" retires it.
        assert!(ahead.take(&key("b")).is_some());
        let mut left: Vec<_> = ahead.sent.keys().map(|k| k.1.clone()).collect();
        left.sort();
        assert_eq!(left, ["c", "d"]);
        // Opening "e" before it was requested drops "c", "d" and "e" from the plan.
        assert!(ahead.take(&key("e")).is_none());
        assert!(ahead.sent.is_empty());
        assert_eq!(ahead.queue.len(), 1);
        assert!(
            ahead.take(&key("zz")).is_none(),
            "an unknown blob changes nothing"
        );
        assert_eq!(ahead.queue.len(), 1);
    }

    #[test]
    fn customer_uris_need_loopback_and_exact_flags() {
        let ok = "http://127.0.0.1:10000/devstoreaccount1/c1?sv=2018-03-28&sr=c&sp=rl&se=x&sig=s";
        assert_eq!(check_uri(ok, "src", SOURCE_PERMS).unwrap().1, "c1");
        let e = check_uri(&ok.replace("sp=rl", "sp=rwl"), "src", SOURCE_PERMS).unwrap_err();
        assert!(e.contains("'w' is not allowed"), "{e}");
        let e = check_uri(&ok.replace("sp=rl", "sp=r"), "src", SOURCE_PERMS).unwrap_err();
        assert!(e.contains("'l' is required"), "{e}");
        let e = check_uri(
            &ok.replace("127.0.0.1:10000", "example.com"),
            "src",
            SOURCE_PERMS,
        )
        .unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        assert!(check_uri(
            "http://[::1]:10001/devstoreaccount1/q?sp=rau&sig=s",
            "q",
            QUEUE_PERMS
        )
        .is_ok());
    }

    #[test]
    fn listing_keeps_the_newest_snapshot_and_the_marker() {
        let xml = "<?xml version=\"1.0\"?><EnumerationResults><Blobs>\
            <Blob><Name>a.dat</Name><Snapshot>2024-01-01T00:00:01.0000000Z</Snapshot><Properties/></Blob>\
            <Blob><Name>a.dat</Name><Properties/></Blob>\
            <Blob><Name>b.dat</Name><Properties/></Blob></Blobs><NextMarker>m2</NextMarker></EnumerationResults>";
        let (b, next) = parse_listing(xml);
        assert_eq!(next, "m2");
        assert_eq!(
            b,
            vec![
                (
                    "a.dat".to_string(),
                    Some("2024-01-01T00:00:01.0000000Z".to_string())
                ),
                ("a.dat".to_string(), None),
                ("b.dat".to_string(), None)
            ]
        );
    }
}

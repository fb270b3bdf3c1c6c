//! The SharePoint Server source: a document library (or a folder of it) on a SharePoint Server
//! 2013, 2016, 2019 or Subscription Edition site, read over REST in verbose JSON
//! (sharepoint-server-source.md §1.2, §1.3, §1.6).
//!
//! The library is listed flat by item ID, a page at a time (`$orderby=ID`, `p_ID` skiptokens:
//! the one query that stays inside the list view threshold on any library size); a page the
//! server refuses with `SPQueryThrottledException` is asked again at half the size. Folders are
//! rebuilt from the items' paths and handed on in pre-order. A file's current bytes are streamed
//! into a spool file in the working folder (SharePoint Server does not serve ranges, so a broken
//! download starts over), never held in memory, and checked against the size the listing gave.
//!
//! Sign-in and pacing are `farm_http`'s (NTLM by `ntlm`, Basic). What this reads today: folders
//! and files with their current bytes and times; versions, people, column values and
//! permissions are issue 18's next steps.

use crate::scan::{
    self, check_name, codes, ItemKind, ScanCounts, ScanError, ScanItem, ScanOptions, Verdict,
    MAX_PATH_CHARS,
};
use crate::task::SharePointLibrary;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The largest page SharePoint allows (the default list view threshold).
const MAX_PAGE: usize = 5000;
/// How often a download broken by the network is started again.
const DOWNLOAD_ATTEMPTS: u32 = 3;

mod farm_http;
mod ntlm;

pub use farm_http::FarmCredential;
use farm_http::{FarmError, FarmHttp};

/// A library on a SharePoint Server site, looked up and ready to list.
pub struct Library {
    http: FarmHttp,
    site_url: String,
    title: String,
    /// Server-relative URL of the folder the task migrates (the library's root folder, or a
    /// folder in it).
    top: String,
    /// Where downloads are spooled.
    spool: PathBuf,
    runtime: tokio::runtime::Handle,
}

fn failed(site: &str, what: impl std::fmt::Display) -> ScanError {
    ScanError::Source(format!("SharePoint Server source {site}: {what}"))
}

/// The service's own message in a SharePoint error body (verbose or light JSON).
fn service_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error").or_else(|| v.get("odata.error"))?;
    let m = e.get("message")?;
    m.get("value")
        .and_then(Value::as_str)
        .or_else(|| m.as_str())
        .map(str::to_string)
}

/// A refusal for the list view threshold (or its lookup-column limit), by its exception name
/// or, where a log redacted the code, its message.
fn is_threshold(body: &[u8]) -> bool {
    let b = String::from_utf8_lossy(body);
    b.contains("SPQueryThrottledException")
        || b.contains("exceeds the list view threshold")
        || b.contains("exceeds the lookup column threshold")
}

/// OData quoting: `'` doubled inside single quotes.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// For a query parameter's value.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// For a path segment: `%20` for a space (`+` is a plus in a path).
fn encode_path(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

impl Library {
    /// Finds the site and the library; a farm without `/_api` (SharePoint 2010) is refused by
    /// name.
    pub async fn connect(
        lib: &SharePointLibrary,
        credential: FarmCredential,
        spool: PathBuf,
    ) -> Result<Library, ScanError> {
        let site = lib.site_url.trim_end_matches('/').to_string();
        let http = FarmHttp::new(&site, credential).map_err(|e| failed(&site, e))?;
        match get_json(&http, &format!("{site}/_api/web?$select=Id,Title,ServerRelativeUrl,Url")).await
        {
            Ok(_) => {}
            // 2010 answers /_api with 404 and says its build in a header.
            Err(FarmError::Status { build: Some(b), .. })
                if b.starts_with("14.") || b.starts_with("12.") =>
            {
                return Err(failed(
                    &site,
                    format!(
                        "this farm runs SharePoint 2010 or older (build {b}), which has no REST \
                         API; spmt reads SharePoint Server 2013 and later. Upgrade the content \
                         database, or migrate its libraries with Microsoft's SPMT"
                    ),
                ));
            }
            Err(FarmError::Status { status: 404, .. }) => {
                return Err(failed(
                    &site,
                    "no SharePoint site at this URL (its REST API answered 404); check the site URL",
                ))
            }
            Err(FarmError::Status { status: s @ (401 | 403), .. }) => {
                return Err(failed(
                    &site,
                    format!("the farm refused this account (HTTP {s}); check the source credentials and that the account may read the site"),
                ))
            }
            Err(e) => return Err(failed(&site, e)),
        }
        let list = get_json(
            &http,
            &format!(
                "{site}/_api/web/lists/GetByTitle({})?$select=Id,Title,BaseTemplate,ItemCount,RootFolder/ServerRelativeUrl&$expand=RootFolder",
                encode_path(&quoted(&lib.list))
            ),
        )
        .await
        .map_err(|e| match e {
            FarmError::Status { status: 404, .. } => failed(
                &site,
                format!("there is no library '{}' on this site; check SourceList (the library's title)", lib.list),
            ),
            e => failed(&site, e),
        })?;
        let d = list.get("d").unwrap_or(&list);
        let root = d
            .pointer("/RootFolder/ServerRelativeUrl")
            .and_then(Value::as_str)
            .ok_or_else(|| failed(&site, "the library's answer has no RootFolder"))?;
        if d.get("BaseTemplate")
            .and_then(Value::as_i64)
            .is_some_and(|t| t != 101)
        {
            return Err(failed(
                &site,
                format!(
                    "'{}' is not a document library; spmt migrates document libraries",
                    lib.list
                ),
            ));
        }
        let top = if lib.list_relative_path.is_empty() {
            root.trim_end_matches('/').to_string()
        } else {
            format!("{}/{}", root.trim_end_matches('/'), lib.list_relative_path)
        };
        let spool_dir = spool.clone();
        std::fs::create_dir_all(&spool_dir).map_err(|e| {
            failed(
                &site,
                format!(
                    "cannot prepare the download folder {}: {e}",
                    spool_dir.display()
                ),
            )
        })?;
        Ok(Library {
            http,
            title: d
                .get("Title")
                .and_then(Value::as_str)
                .unwrap_or(&lib.list)
                .to_string(),
            site_url: site,
            top,
            spool,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Server-relative URL of the item at `rel` (relative to the task's folder).
    pub fn locate(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("{}/{rel}", self.top))
    }

    /// Lists the task's folder and calls `sink` in pre-order. Blocking (the scan thread).
    pub fn scan(
        &self,
        opts: &ScanOptions,
        mut sink: impl FnMut(ScanItem) -> bool,
    ) -> Result<ScanCounts, ScanError> {
        let mut listed = self.runtime.block_on(self.list_items())?;
        // Pre-order: a folder's path sorts before every path below it when compared by segment.
        listed.sort_by(|a, b| a.rel.split('/').cmp(b.rel.split('/')));
        let mut counts = ScanCounts::default();
        let skip_ext = opts.extensions_to_skip();
        let prefix_chars = opts.target_prefix.chars().count();
        // Folders that did not migrate, so their contents follow them.
        let mut blocked: Vec<String> = Vec::new();
        for l in listed {
            let name = l.rel.rsplit('/').next().unwrap_or(&l.rel).to_string();
            let parent_rel = l.rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            let blocked_by = blocked.iter().find(|b| {
                parent_rel
                    .strip_prefix(b.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            });
            let target_rel = match l.rel.rsplit_once('/') {
                Some((p, _)) => {
                    // The parent's target name, with the same replacements.
                    let mut t = String::new();
                    for seg in p.split('/') {
                        let n = check_name(seg, opts.replace_invalid_char)
                            .map(|c| c.into_owned())
                            .unwrap_or_else(|_| seg.to_string());
                        t = scan::join(&t, &n);
                    }
                    t
                }
                None => String::new(),
            };
            let (target_name, mut verdict) = match check_name(&name, opts.replace_invalid_char) {
                Ok(n) => (n.into_owned(), Verdict::Migrate),
                Err((rule, message)) => (
                    name.clone(),
                    Verdict::Fail {
                        code: codes::INVALID_CHARS.into(),
                        rule,
                        message: format!("{}: {message}", l.rel),
                    },
                ),
            };
            let target_rel = scan::join(&target_rel, &target_name);
            if let Some(b) = blocked_by {
                verdict = Verdict::Fail {
                    code: codes::PARENT_NOT_MIGRATED.into(),
                    rule: "ParentNotMigrated".into(),
                    message: format!("{}: its folder {b} was not migrated", l.rel),
                };
            } else if verdict == Verdict::Migrate
                && prefix_chars + 1 + target_rel.chars().count() > MAX_PATH_CHARS
            {
                verdict = Verdict::Fail {
                    code: codes::PATH_TOO_LONG.into(),
                    rule: "PathTooLong".into(),
                    message: format!(
                        "{}: the target path is longer than SharePoint's {MAX_PATH_CHARS} characters; shorten the names above it",
                        l.rel
                    ),
                };
            } else if verdict == Verdict::Migrate && l.kind == ItemKind::File {
                verdict = scan::item_rules(
                    &l.rel, &name, l.size, l.created, l.modified, opts, &skip_ext,
                );
            }
            if l.kind == ItemKind::Folder && verdict != Verdict::Migrate {
                blocked.push(l.rel.clone());
            }
            match (&verdict, l.kind) {
                (Verdict::Migrate, ItemKind::File) => {
                    counts.files += 1;
                    counts.bytes += l.size;
                }
                (Verdict::Migrate, ItemKind::Folder) => counts.folders += 1,
                (Verdict::Skip { .. }, _) => counts.skipped += 1,
                (Verdict::Fail { .. }, _) => counts.failed += 1,
            }
            let item = ScanItem {
                abs_path: self.locate(&l.rel),
                rel_path: l.rel,
                target_rel,
                kind: l.kind,
                size: l.size,
                mtime: l.modified,
                ctime: l.created,
                verdict,
            };
            if !sink(item) {
                break;
            }
        }
        Ok(counts)
    }

    /// Every item under the task's folder, by ID pages.
    async fn list_items(&self) -> Result<Vec<Listed>, ScanError> {
        let mut out = Vec::new();
        let mut page = MAX_PAGE;
        let mut after = 0u64;
        let base = format!(
            "{}/_api/web/lists/GetByTitle({})/items?$select=ID,FileSystemObjectType,FileRef,Created,Modified,File/Length&$expand=File&$orderby=ID",
            self.site_url,
            encode_path(&quoted(&self.title))
        );
        let under = format!("{}/", self.top.to_lowercase());
        loop {
            let url = format!(
                "{base}&$top={page}&$skiptoken={}",
                encode(&format!("Paged=TRUE&p_ID={after}"))
            );
            let v = match get_json(&self.http, &url).await {
                Ok(v) => v,
                Err(FarmError::Status {
                    status: 500, body, ..
                }) if is_threshold(&body) && page > 1 => {
                    // Over the list view threshold (or its lookup limit): smaller pages.
                    page /= 2;
                    tracing::info!(page, "the farm refused a page over its list view threshold; asking for smaller pages");
                    continue;
                }
                Err(e) => {
                    return Err(failed(
                        &self.site_url,
                        format!("listing '{}' failed: {e}", self.title),
                    ))
                }
            };
            let d = v.get("d").unwrap_or(&v);
            let rows = d
                .get("results")
                .or_else(|| d.get("value"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let id = r
                    .get("ID")
                    .or_else(|| r.get("Id"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                after = after.max(id);
                let Some(file_ref) = r.get("FileRef").and_then(Value::as_str) else {
                    continue;
                };
                if !file_ref.to_lowercase().starts_with(&under) {
                    continue;
                }
                let rel = file_ref[under.len()..].to_string();
                let folder = r.get("FileSystemObjectType").and_then(Value::as_i64) == Some(1);
                let size = r
                    .pointer("/File/Length")
                    .and_then(|l| {
                        l.as_str()
                            .and_then(|s| s.parse().ok())
                            .or_else(|| l.as_u64())
                    })
                    .unwrap_or(0);
                let at = |k: &str| {
                    r.get(k)
                        .and_then(Value::as_str)
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                        .map(SystemTime::from)
                        .unwrap_or(SystemTime::UNIX_EPOCH)
                };
                out.push(Listed {
                    rel,
                    kind: if folder {
                        ItemKind::Folder
                    } else {
                        ItemKind::File
                    },
                    size: if folder { 0 } else { size },
                    created: at("Created"),
                    modified: at("Modified"),
                });
            }
            let more = d.get("__next").and_then(Value::as_str).is_some()
                || d.get("odata.nextLink").is_some();
            if !more {
                break;
            }
        }
        Ok(out)
    }

    /// Downloads the file at `server_relative` into a spool file and returns it open at its
    /// start. The spool file is unlinked at once: nothing is left behind, even by a crash after
    /// this returns. A download whose length is not `expected` is refused (the file changed
    /// since it was listed; the next round takes it as it is then).
    pub async fn open(
        &self,
        server_relative: &str,
        expected: u64,
    ) -> std::io::Result<std::fs::File> {
        let url = format!(
            "{}/_api/web/GetFileByServerRelativeUrl(@u)/$value?@u={}",
            self.site_url,
            encode(&quoted(server_relative))
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.download(&url, expected).await {
                Ok(f) => return Ok(f),
                Err(Download::Retry(e)) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::debug!(file = %server_relative, error = %e, attempt, "download broken; starting it again");
                }
                Err(Download::Retry(e) | Download::Fail(e)) => return Err(e),
            }
        }
    }

    async fn download(&self, url: &str, expected: u64) -> Result<std::fs::File, Download> {
        use futures_util::StreamExt;
        let other = |m: String| std::io::Error::other(m);
        let answer = match self.http.get(url, "*/*").await {
            Ok(a) => a,
            Err(FarmError::Transport(e)) => return Err(Download::Retry(other(e))),
            Err(FarmError::Status {
                status: 404,
                message,
                ..
            }) => {
                return Err(Download::Fail(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("the file is no longer on the farm: {message}"),
                )))
            }
            Err(e) => {
                return Err(Download::Fail(other(format!(
                    "the farm refused the download: {e}"
                ))))
            }
        };
        let resp = answer.response;
        let (path, file) = spool_file(&self.spool).map_err(Download::Fail)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut body = resp.bytes_stream();
        let mut got = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                Download::Retry(other(format!(
                    "the download broke after {got} bytes: {}",
                    e.without_url()
                )))
            })?;
            got += chunk.len() as u64;
            w.write_all(&chunk).map_err(Download::Fail)?;
        }
        let mut file = w.into_inner().map_err(|e| Download::Fail(e.into_error()))?;
        let _ = std::fs::remove_file(&path);
        if got != expected {
            return Err(Download::Fail(other(format!(
                "the file changed on the farm since it was listed ({expected} bytes listed, {got} downloaded); it was not migrated, the next round sends it as it is then"
            ))));
        }
        use std::io::Seek;
        file.rewind().map_err(Download::Fail)?;
        Ok(file)
    }
}

enum Download {
    /// Worth starting again (the connection broke, the farm was busy).
    Retry(std::io::Error),
    Fail(std::io::Error),
}

/// A new spool file, open for reading and writing.
fn spool_file(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, f))
}

/// One listed item, before the rules.
struct Listed {
    rel: String,
    kind: ItemKind,
    size: u64,
    created: SystemTime,
    modified: SystemTime,
}

async fn get_json(http: &FarmHttp, url: &str) -> Result<Value, FarmError> {
    let a = http.get(url, "application/json;odata=verbose").await?;
    let body = a.response.bytes().await.map_err(|e| {
        FarmError::Transport(format!(
            "GET {}: {}",
            crate::secrets::redact(url),
            e.without_url()
        ))
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        FarmError::Transport(format!(
            "GET {}: the answer is not JSON: {e}",
            crate::secrets::redact(url)
        ))
    })
}

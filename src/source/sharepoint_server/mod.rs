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
//! Sign-in and pacing are `farm_http`'s (NTLM by `ntlm`, Basic). What this reads: folders and
//! files with their current bytes, times, author, editor and version label; the site's users
//! (once, at connect); a file's older versions (`/Versions`, bytes from `_vti_history`,
//! §1.7). Column values and permissions are issue 18's next steps.

use crate::people::{RoleDef, SourceUser};
use crate::scan::{
    self, check_name, codes, ItemKind, ScanCounts, ScanError, ScanItem, ScanOptions, Verdict,
    MAX_PATH_CHARS,
};
use crate::scan::{ItemFacts, RoleAssignment};
use crate::task::SharePointLibrary;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// The site's users and groups, read once.
    users: Vec<SourceUser>,
    /// The site's role definitions, read once.
    roles: Vec<RoleDef>,
    /// Ids the listed items name that `users` does not have (deleted users).
    missing: std::sync::Mutex<std::collections::BTreeSet<i64>>,
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
        let users = site_users(&http, &site).await?;
        let roles = role_definitions(&http, &site).await;
        Ok(Library {
            users,
            roles,
            missing: Default::default(),
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

    pub fn users(&self) -> &[SourceUser] {
        &self.users
    }

    pub fn roles(&self) -> &[RoleDef] {
        &self.roles
    }

    /// Who holds which roles on the item with list item id `id` (it has unique permissions).
    async fn role_assignments(&self, id: u64) -> Result<Vec<RoleAssignment>, FarmError> {
        let v = get_json(
            &self.http,
            &format!(
                "{}/_api/web/lists/GetByTitle({})/items({id})/roleassignments?$expand=Member,RoleDefinitionBindings",
                self.site_url,
                encode_path(&quoted(&self.title))
            ),
        )
        .await?;
        Ok(results(&v)
            .iter()
            .filter_map(|r| {
                let principal = r
                    .get("PrincipalId")
                    .or_else(|| r.pointer("/Member/Id"))
                    .and_then(Value::as_i64)?;
                let bindings = r.get("RoleDefinitionBindings")?;
                let roles = bindings
                    .get("results")
                    .or(Some(bindings))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|b| b.get("Id").and_then(Value::as_i64))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(RoleAssignment { principal, roles })
            })
            .collect())
    }

    pub fn missing_users(&self) -> Vec<i64> {
        let m = self.missing.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().copied().collect()
    }

    /// The older versions of the file at `server_relative`, oldest first (`/Versions` lists
    /// them without the current one, §1.7).
    pub async fn history(
        &self,
        server_relative: &str,
    ) -> std::io::Result<Vec<super::SourceVersion>> {
        let url = format!(
            "{}/_api/web/GetFileByServerRelativeUrl(@u)/Versions?@u={}&$expand=CreatedBy&$select=ID,VersionLabel,CheckInComment,Created,Size,Url,IsCurrentVersion,CreatedBy/Id",
            self.site_url,
            encode(&quoted(server_relative))
        );
        let v = get_json(&self.http, &url).await.map_err(|e| match e {
            FarmError::Status {
                status: 404,
                message,
                ..
            } => std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the file is no longer on the farm: {message}"),
            ),
            e => std::io::Error::other(format!("reading its versions failed: {e}")),
        })?;
        let mut out: Vec<super::SourceVersion> = results(&v)
            .iter()
            .filter(|r| r.get("IsCurrentVersion").and_then(Value::as_bool) != Some(true))
            .filter_map(|r| {
                Some(super::SourceVersion {
                    id: r
                        .get("ID")
                        .or_else(|| r.get("Id"))
                        .and_then(Value::as_u64)? as u32,
                    label: r.get("VersionLabel").and_then(Value::as_str)?.to_string(),
                    created: r
                        .get("Created")
                        .and_then(Value::as_str)
                        .and_then(parse_time)
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                    created_by: r
                        .pointer("/CreatedBy/Id")
                        .or_else(|| r.get("CreatedById"))
                        .and_then(Value::as_i64),
                    comment: r
                        .get("CheckInComment")
                        .and_then(Value::as_str)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string),
                    size: number(r.get("Size")).unwrap_or(0),
                    url: r.get("Url").and_then(Value::as_str)?.to_string(),
                })
            })
            .collect();
        out.sort_by_key(|v| v.id);
        Ok(out)
    }

    /// Downloads an older version from `_vti_history` (a plain GET of its web-relative URL;
    /// `Versions(n)/$value` is not served by every on-premises build, §1.7).
    pub async fn open_version(&self, v: &super::SourceVersion) -> std::io::Result<std::fs::File> {
        let path: Vec<String> = v
            .url
            .trim_start_matches('/')
            .split('/')
            .map(encode_path)
            .collect();
        let url = format!("{}/{}", self.site_url, path.join("/"));
        self.fetch(&url, v.size, &v.url).await
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
        let known: std::collections::HashSet<i64> = self.users.iter().map(|u| u.id).collect();
        let mut missing = std::collections::BTreeSet::new();
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
            let mut l = l;
            if l.unique && opts.preserve_permissions && verdict == Verdict::Migrate {
                // Only objects with unique permissions carry them (sharepoint-server-source.md
                // §3.3); inherited ones come from the target.
                match self.runtime.block_on(self.role_assignments(l.id)) {
                    Ok(a) => {
                        if let Some(f) = l.facts.as_mut() {
                            Arc::make_mut(f).permissions = Some(a);
                        }
                    }
                    Err(e) => {
                        verdict = Verdict::Fail {
                            code: codes::CANNOT_READ_METADATA.into(),
                            rule: "PermissionsUnreadable".into(),
                            message: format!(
                                "{}: its unique permissions could not be read: {e}",
                                l.rel
                            ),
                        };
                    }
                }
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
            if let Some(f) = &l.facts {
                missing.extend(
                    [f.author, f.editor]
                        .into_iter()
                        .flatten()
                        .filter(|id| !known.contains(id)),
                );
            }
            let item = ScanItem {
                facts: l.facts,
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
        self.missing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(missing);
        Ok(counts)
    }

    /// Every item under the task's folder, by ID pages.
    async fn list_items(&self) -> Result<Vec<Listed>, ScanError> {
        let mut out = Vec::new();
        let mut page = MAX_PAGE;
        let mut after = 0u64;
        let base = format!(
            "{}/_api/web/lists/GetByTitle({})/items?$select=ID,FileSystemObjectType,FileRef,Created,Modified,AuthorId,EditorId,OData__UIVersionString,HasUniqueRoleAssignments,File/Length,File/CheckInComment&$expand=File&$orderby=ID",
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
            let rows = results(&v);
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
                let size = number(r.pointer("/File/Length")).unwrap_or(0);
                let at = |k: &str| {
                    r.get(k)
                        .and_then(Value::as_str)
                        .and_then(parse_time)
                        .unwrap_or(SystemTime::UNIX_EPOCH)
                };
                let facts = ItemFacts {
                    author: r.get("AuthorId").and_then(Value::as_i64),
                    editor: r.get("EditorId").and_then(Value::as_i64),
                    version: r
                        .get("OData__UIVersionString")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    checkin_comment: r
                        .pointer("/File/CheckInComment")
                        .and_then(Value::as_str)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string),
                    permissions: None,
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
                    facts: Some(Arc::new(facts)),
                    id,
                    unique: r.get("HasUniqueRoleAssignments").and_then(Value::as_bool)
                        == Some(true),
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
        self.fetch(&url, expected, server_relative).await
    }

    /// Downloads `url` (`shown` in messages) into a spool file, starting over when the
    /// connection breaks.
    async fn fetch(&self, url: &str, expected: u64, shown: &str) -> std::io::Result<std::fs::File> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.download(url, expected).await {
                Ok(f) => return Ok(f),
                Err(Download::Retry(e)) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::debug!(file = %shown, error = %e, attempt, "download broken; starting it again");
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
    facts: Option<Arc<ItemFacts>>,
    /// List item id.
    id: u64,
    /// `HasUniqueRoleAssignments`.
    unique: bool,
}

/// The rows of a verbose (`d.results`) or light (`value`) collection.
fn results(v: &Value) -> Vec<Value> {
    let d = v.get("d").unwrap_or(v);
    d.get("results")
        .or_else(|| d.get("value"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The site's role definitions. A farm that will not say them (an account that may read but
/// not enumerate them) leaves permissions to built-in roles only.
async fn role_definitions(http: &FarmHttp, site: &str) -> Vec<RoleDef> {
    let v = match get_json(
        http,
        &format!("{site}/_api/web/roledefinitions?$select=Id,Name,Description,BasePermissions,Hidden,Order,RoleTypeKind"),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(site, error = %e, "cannot read the site's role definitions; custom roles will not be carried over");
            return Vec::new();
        }
    };
    let num = |r: &Value, k: &str| number(r.pointer(k)).unwrap_or(0);
    results(&v)
        .iter()
        .filter_map(|r| {
            Some(RoleDef {
                id: r.get("Id").and_then(Value::as_i64)?,
                name: r.get("Name").and_then(Value::as_str)?.to_string(),
                description: r
                    .get("Description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                perm_mask: (num(r, "/BasePermissions/High") << 32)
                    | (num(r, "/BasePermissions/Low") & 0xffff_ffff),
                hidden: r.get("Hidden").and_then(Value::as_bool).unwrap_or(false),
                order: r.get("Order").and_then(Value::as_i64).unwrap_or(0),
                kind: r.get("RoleTypeKind").and_then(Value::as_i64).unwrap_or(0),
            })
        })
        .collect()
}

fn parse_time(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(SystemTime::from)
}

/// An Edm.Int64 as verbose JSON writes it (a string), or a plain number.
fn number(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
}

/// The site's users and groups (`siteusers`), read once. A Windows user's SID is taken from
/// `UserId.NameId` when it has a SID's form (what Windows-claims sites show there: INFERRED;
/// without it the package carries the login, spo-migration-api.md §6.4).
async fn site_users(http: &FarmHttp, site: &str) -> Result<Vec<SourceUser>, ScanError> {
    let v = get_json(
        http,
        &format!("{site}/_api/web/siteusers?$select=Id,LoginName,Title,Email,PrincipalType,UserId"),
    )
    .await
    .map_err(|e| failed(site, format!("reading the site's users failed: {e}")))?;
    Ok(results(&v)
        .iter()
        .filter_map(|r| {
            let login = r.get("LoginName").and_then(Value::as_str)?.to_string();
            let sid = r
                .pointer("/UserId/NameId")
                .and_then(Value::as_str)
                .filter(|n| n.to_ascii_uppercase().starts_with("S-1-"))
                .map(str::to_ascii_uppercase)
                .or_else(|| {
                    // An AD group's login carries its SID: c:0+.w|s-1-5-21-…
                    login
                        .rsplit_once('|')
                        .map(|(_, s)| s)
                        .filter(|s| s.to_ascii_uppercase().starts_with("S-1-"))
                        .map(str::to_ascii_uppercase)
                });
            Some(SourceUser {
                id: r.get("Id").and_then(Value::as_i64)?,
                title: r
                    .get("Title")
                    .and_then(Value::as_str)
                    .unwrap_or(&login)
                    .to_string(),
                email: r
                    .get("Email")
                    .and_then(Value::as_str)
                    .filter(|e| !e.is_empty())
                    .map(str::to_string),
                sid,
                // SP.PrincipalType: 1 user, 4 security group, 8 SharePoint group.
                is_group: r
                    .get("PrincipalType")
                    .and_then(Value::as_i64)
                    .is_some_and(|t| t != 1),
                login,
            })
        })
        .collect())
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

//! The emulator's SharePoint Server personality: a farm's site served over the REST surface a
//! migration reads (sharepoint-server-source.md §1.2, §7), from a folder whose sub-folders are the
//! site's document libraries. Items get ids in pre-order (a folder before its contents), times
//! from the file system, and every answer is verbose OData (`d`, `results`, `__next`) with the
//! `MicrosoftSharePointTeamServices` header a client detects the version by.
//!
//! People and versions come from `_farm/farm.json` beside the libraries (see [`Seed`]): the
//! site's users, and per file its author, editor, current label, check-in comment and older
//! versions, whose bytes are files under `_farm/`. Without it every item is the farm admin's
//! and at version 1.0.
//!
//! Like the rest of the emulator it shares no logic with the client (`crate::source`).

use super::server::{body_bytes, query_map, Body};
use super::EmulatorError;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

/// SharePoint Server 2019's build, as its answers carry it.
pub const SP2019: &str = "16.0.0.10337";
/// SharePoint 2010's build: it has no `/_api`.
pub const SP2010: &str = "14.0.0.7015";

#[derive(Debug, Clone)]
pub struct FarmConfig {
    pub listen: SocketAddr,
    /// Each sub-folder is a document library of that title.
    pub root: PathBuf,
    /// The site's server-relative path, e.g. `/sites/proj`.
    pub site_path: String,
    /// The list view threshold: queries over more items that are not paged by ID, or that ask
    /// for more than this many rows, fail as SharePoint's do.
    pub threshold: usize,
    /// The build the farm answers with (`SP2019`, `SP2010`, ...).
    pub version: String,
    /// The account (`DOMAIN\\user`, password) NTLM lets in; `None` lets every request through.
    pub account: Option<(String, String)>,
}

/// The account a farm lets in unless told otherwise.
pub const FARM_USER: &str = "CONTOSO\\spadmin";
pub const FARM_PASSWORD: &str = "farm-password";

impl FarmConfig {
    pub fn new(root: PathBuf) -> Self {
        FarmConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            root,
            site_path: "/sites/proj".into(),
            threshold: 5000,
            version: SP2019.into(),
            account: Some((FARM_USER.into(), FARM_PASSWORD.into())),
        }
    }
}

/// A running farm; stops when dropped.
pub struct FarmHandle {
    /// The site's URL, e.g. `http://127.0.0.1:PORT/sites/proj`.
    pub site_url: String,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for FarmHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// `_farm/farm.json`: who the site's users are and what history its files have.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Seed {
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// By `Library/path/in/library`.
    #[serde(default)]
    pub items: std::collections::BTreeMap<String, SeedItem>,
    /// Custom role definitions, beside the built-in ones every site has.
    #[serde(default)]
    pub roles: Vec<SeedRole>,
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct SeedRole {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// BasePermissions as one 64-bit mask.
    pub perm_mask: u64,
}

/// One principal's roles on an item with unique permissions.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct SeedAssignment {
    pub principal: i64,
    pub roles: Vec<i64>,
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct SeedUser {
    pub id: i64,
    /// `i:0#.w|contoso\alice`.
    pub login: String,
    pub title: String,
    #[serde(default)]
    pub email: String,
    /// `S-1-5-21-…`; shown in `UserId.NameId`, lower-case, as Windows claims do.
    #[serde(default)]
    pub sid: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct SeedItem {
    pub author: Option<i64>,
    pub editor: Option<i64>,
    /// Current label; "1.0" when absent.
    pub version: Option<String>,
    pub comment: Option<String>,
    /// Older versions, oldest first.
    #[serde(default)]
    pub versions: Vec<SeedVersion>,
    /// Unique permissions; absent, the item inherits its library's.
    pub permissions: Option<Vec<SeedAssignment>>,
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct SeedVersion {
    pub label: String,
    /// Its bytes: a path relative to `_farm/`.
    pub file: String,
    /// RFC 3339.
    pub created: String,
    pub created_by: Option<i64>,
    pub comment: Option<String>,
}

/// Folder beside the libraries that holds the seed and the older versions' bytes.
pub const SEED_DIR: &str = "_farm";
/// The farm admin, author of everything the seed says nothing about.
const ADMIN_ID: i64 = 1;

struct Item {
    id: u64,
    folder: bool,
    /// Path in the library, `/`-separated.
    rel: String,
    size: u64,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
    disk: PathBuf,
    seed: SeedItem,
}

struct Library {
    id: Uuid,
    title: String,
    items: Vec<Item>,
}

struct Farm {
    cfg: FarmConfig,
    base: String,
    web_id: Uuid,
    libraries: Vec<Library>,
    users: Vec<SeedUser>,
    roles: Vec<SeedRole>,
}

/// Starts serving the farm in `cfg.root` on `cfg.listen`.
pub async fn start(cfg: FarmConfig) -> Result<FarmHandle, EmulatorError> {
    let seed = load_seed(&cfg.root)?;
    let libraries = load(&cfg.root, &seed)?;
    let roles = seed.roles;
    let mut users = seed.users;
    if !users.iter().any(|u| u.id == ADMIN_ID) {
        users.insert(
            0,
            SeedUser {
                id: ADMIN_ID,
                login: "i:0#.w|contoso\\spadmin".into(),
                title: "SharePoint Admin".into(),
                ..Default::default()
            },
        );
    }
    let (listener, addr) = super::server::bind(cfg.listen).await?;
    let base = format!("http://{addr}");
    let site_url = format!("{base}{}", cfg.site_path);
    let farm = Arc::new(Farm {
        web_id: Uuid::new_v5(&Uuid::NAMESPACE_URL, site_url.as_bytes()),
        base,
        cfg,
        libraries,
        users,
        roles,
    });
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop_rx.changed() => break,
            };
            let Ok((stream, _)) = accepted else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let farm = farm.clone();
            tokio::spawn(async move {
                // NTLM signs in a connection: its state lives as long as the connection.
                let auth = Arc::new(std::sync::Mutex::new(
                    super::farm_ntlm::Connection::default(),
                ));
                let svc = hyper::service::service_fn(move |req| {
                    let farm = farm.clone();
                    let auth = auth.clone();
                    async move {
                        let resp = match &farm.cfg.account {
                            Some(account) => {
                                let refused = match auth.lock() {
                                    Ok(mut a) => a.admit(&req, account),
                                    Err(_) => Some(super::farm_ntlm::challenge(None)),
                                };
                                match refused {
                                    None => serve(&farm, req).await,
                                    Some(r) => stamp(&farm, r),
                                }
                            }
                            None => serve(&farm, req).await,
                        };
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(FarmHandle { site_url, stop })
}

fn load_seed(root: &Path) -> Result<Seed, EmulatorError> {
    let path = root.join(SEED_DIR).join("farm.json");
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| EmulatorError::Io {
            what: "cannot read the farm's seed",
            path,
            source: std::io::Error::other(e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Seed::default()),
        Err(source) => Err(EmulatorError::Io {
            what: "cannot read the farm's seed",
            path,
            source,
        }),
    }
}

/// Reads the libraries: every sub-folder of `root` (but the seed's), its items numbered in
/// pre-order.
fn load(root: &Path, seed: &Seed) -> Result<Vec<Library>, EmulatorError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EmulatorError::Io {
            what: "cannot read the farm's folder",
            path,
            source,
        }
    };
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter(|e| e.file_name() != SEED_DIR)
        .collect();
    dirs.sort_by_key(|e| e.file_name());
    for d in dirs {
        let title = d.file_name().to_string_lossy().into_owned();
        let mut items = Vec::new();
        let mut stack = vec![(d.path(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .map_err(io(&dir))?
                .filter_map(Result::ok)
                .collect();
            entries.sort_by_key(|e| e.file_name());
            // Folders are walked after the files beside them; ids still put a folder before
            // anything in it.
            let mut sub = Vec::new();
            for e in entries {
                let name = e.file_name().to_string_lossy().into_owned();
                let r = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let m = e.metadata().map_err(io(&e.path()))?;
                let modified: DateTime<Utc> =
                    m.modified().map(Into::into).unwrap_or_else(|_| Utc::now());
                let created = m
                    .created()
                    .map(Into::into)
                    .unwrap_or(modified)
                    .min(modified);
                items.push(Item {
                    id: items.len() as u64 + 1,
                    folder: m.is_dir(),
                    rel: r.clone(),
                    size: if m.is_dir() { 0 } else { m.len() },
                    created,
                    modified,
                    disk: e.path(),
                    seed: seed
                        .items
                        .get(&format!("{title}/{r}"))
                        .cloned()
                        .unwrap_or_default(),
                });
                if m.is_dir() {
                    sub.push((e.path(), r));
                }
            }
            stack.extend(sub.into_iter().rev());
        }
        out.push(Library {
            id: Uuid::new_v5(
                &Uuid::NAMESPACE_URL,
                format!("farm-list:{title}").as_bytes(),
            ),
            title,
            items,
        });
    }
    Ok(out)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// SharePoint's verbose error body.
fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let v = json!({"error": {"code": code, "message": {"lang": "en-US", "value": message}}});
    let mut r = Response::new(body_bytes(v.to_string()));
    *r.status_mut() = status;
    r
}

fn not_found(what: &str) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "-1, Microsoft.SharePoint.Client.ResourceNotFoundException",
        &format!("Cannot find resource for the request {what}."),
    )
}

fn verbose(v: Value) -> Response<Body> {
    let mut r = Response::new(body_bytes(json!({ "d": v }).to_string()));
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json;odata=verbose;charset=utf-8"),
    );
    r
}

/// A quoted OData argument (`'It''s'`) unquoted; `None` when not quoted.
fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

async fn serve(farm: &Farm, req: Request<Incoming>) -> Response<Body> {
    let resp = route(farm, &req).await;
    stamp(farm, resp)
}

/// The headers every answer of the farm carries.
fn stamp(farm: &Farm, mut resp: Response<Body>) -> Response<Body> {
    if let Ok(v) = hyper::header::HeaderValue::from_str(&farm.cfg.version) {
        resp.headers_mut()
            .insert("microsoftsharepointteamservices", v);
    }
    resp.headers_mut().insert(
        "x-sharepointhealthscore",
        hyper::header::HeaderValue::from_static("0"),
    );
    resp
}

async fn route(farm: &Farm, req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "-1, System.NotSupportedException",
            "This farm serves reads only.",
        );
    }
    // Paths arrive percent-encoded; SharePoint matches them decoded and without case.
    let raw = req.uri().path();
    let path = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned();
    let query = query_map(req.uri().query().unwrap_or(""));
    let site = farm.cfg.site_path.as_str();
    let Some(rest) = strip_prefix_ci(&path, site) else {
        return not_found(&path);
    };
    if let Some(h) = strip_prefix_ci(rest, "/_vti_history/") {
        return history_value(farm, h).await;
    }
    let Some(api) = strip_prefix_ci(rest, "/_api/") else {
        return not_found(&path);
    };
    if farm.cfg.version.starts_with("14.") {
        // SharePoint 2010 has no /_api.
        return not_found(&path);
    }
    let lower = api.to_ascii_lowercase();
    if lower == "web" {
        return verbose(json!({
            "__metadata": {"type": "SP.Web"},
            "Id": farm.web_id.to_string(),
            "Title": "Projects",
            "ServerRelativeUrl": site,
            "Url": format!("{}{site}", farm.base),
        }));
    }
    if lower == "web/siteusers" {
        return site_users(farm);
    }
    if lower == "web/roledefinitions" {
        return role_definitions(farm);
    }
    if let Some(what) = lower.strip_prefix("web/getfilebyserverrelativeurl(@u)/") {
        let Some(url) = query.get("@u").and_then(|u| unquote(u)) else {
            return error(
                StatusCode::BAD_REQUEST,
                "-1, Microsoft.SharePoint.Client.InvalidClientQueryException",
                "The parameter @u is missing.",
            );
        };
        match what {
            "$value" => return file_value(farm, &url).await,
            "versions" => return versions(farm, &url, &query),
            _ => return not_found(api),
        }
    }
    if let Some(a) = strip_prefix_ci(api, "web/lists/GetByTitle(") {
        let Some((arg, after)) = a.split_once(')') else {
            return not_found(api);
        };
        let Some(title) = unquote(arg) else {
            return not_found(api);
        };
        let Some(lib) = farm
            .libraries
            .iter()
            .find(|l| l.title.eq_ignore_ascii_case(&title))
        else {
            return error(
                StatusCode::NOT_FOUND,
                "-1, System.ArgumentException",
                &format!(
                    "List '{title}' does not exist at site with URL '{}{site}'.",
                    farm.base
                ),
            );
        };
        let after = after.to_ascii_lowercase();
        if let Some(n) = after
            .strip_prefix("/items(")
            .and_then(|r| r.strip_suffix(")/roleassignments"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            return role_assignments(farm, lib, n);
        }
        return match after.as_str() {
            "" => list(farm, lib),
            "/items" => items(farm, lib, &query),
            _ => not_found(api),
        };
    }
    not_found(api)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn root_url(farm: &Farm, lib: &Library) -> String {
    format!("{}/{}", farm.cfg.site_path, lib.title)
}

fn list(farm: &Farm, lib: &Library) -> Response<Body> {
    verbose(json!({
        "__metadata": {"type": "SP.List"},
        "Id": lib.id.to_string(),
        "Title": lib.title,
        "BaseTemplate": 101,
        "ItemCount": lib.items.len(),
        "EnableVersioning": true,
        "EnableMinorVersions": false,
        "HasUniqueRoleAssignments": false,
        "RootFolder": {"__metadata": {"type": "SP.Folder"}, "ServerRelativeUrl": root_url(farm, lib)},
    }))
}

/// One page of the library's items, ordered by ID, from the `p_ID` of the skiptoken on.
fn items(
    farm: &Farm,
    lib: &Library,
    q: &std::collections::HashMap<String, String>,
) -> Response<Body> {
    let threshold = farm.cfg.threshold;
    let top = q
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(100);
    let by_id = q
        .get("$orderby")
        .map(|o| o.trim().eq_ignore_ascii_case("ID"))
        .unwrap_or(false);
    if top > threshold || (lib.items.len() > threshold && !by_id) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "-2147024860, Microsoft.SharePoint.SPQueryThrottledException",
            "The attempted operation is prohibited because it exceeds the list view threshold enforced by the administrator.",
        );
    }
    let after = q
        .get("$skiptoken")
        .and_then(|t| {
            t.split('&')
                .find_map(|kv| kv.strip_prefix("p_ID="))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let root = root_url(farm, lib);
    let page: Vec<&Item> = lib
        .items
        .iter()
        .filter(|i| i.id > after)
        .take(top)
        .collect();
    let results: Vec<Value> = page
        .iter()
        .map(|i| {
            let (dir, leaf) = match i.rel.rsplit_once('/') {
                Some((d, l)) => (format!("{root}/{d}"), l.to_string()),
                None => (root.clone(), i.rel.clone()),
            };
            let mut m = Map::new();
            m.insert(
                "__metadata".into(),
                json!({"type": format!("SP.Data.{}Item", lib.title.replace(' ', "_x0020_"))}),
            );
            m.insert("ID".into(), json!(i.id));
            m.insert("Id".into(), json!(i.id));
            m.insert(
                "FileSystemObjectType".into(),
                json!(if i.folder { 1 } else { 0 }),
            );
            m.insert("FileRef".into(), json!(format!("{root}/{}", i.rel)));
            m.insert("FileLeafRef".into(), json!(leaf));
            m.insert("FileDirRef".into(), json!(dir));
            m.insert("Created".into(), json!(time(i.created)));
            m.insert("Modified".into(), json!(time(i.modified)));
            m.insert(
                "OData__UIVersionString".into(),
                json!(i.seed.version.as_deref().unwrap_or("1.0")),
            );
            m.insert(
                "HasUniqueRoleAssignments".into(),
                json!(i.seed.permissions.is_some()),
            );
            let author = i.seed.author.unwrap_or(ADMIN_ID);
            m.insert("AuthorId".into(), json!(author));
            m.insert("EditorId".into(), json!(i.seed.editor.unwrap_or(author)));
            if i.folder {
                m.insert("File".into(), json!({"__deferred": {}}));
            } else {
                m.insert(
                    "File".into(),
                    json!({
                        "__metadata": {"type": "SP.File"},
                        "Length": i.size.to_string(),
                        "CheckOutType": 2,
                        "CheckInComment": i.seed.comment.as_deref().unwrap_or(""),
                        "UniqueId": Uuid::new_v5(&lib.id, i.rel.as_bytes()).to_string(),
                    }),
                );
            }
            Value::Object(m)
        })
        .collect();
    let mut d = json!({ "results": results });
    if let Some(last) = page.last() {
        if lib.items.iter().any(|i| i.id > last.id) {
            let mut next = url::Url::parse(&format!(
                "{}{}/_api/web/lists/GetByTitle('{}')/items",
                farm.base,
                farm.cfg.site_path,
                lib.title.replace('\'', "''")
            ))
            .expect("a URL from a parsed base");
            {
                let mut qp = next.query_pairs_mut();
                for (k, v) in q {
                    if k != "$skiptoken" {
                        qp.append_pair(k, v);
                    }
                }
                qp.append_pair("$skiptoken", &format!("Paged=TRUE&p_ID={}", last.id));
            }
            d["__next"] = json!(next.to_string());
        }
    }
    verbose(d)
}

/// The file at a server-relative URL.
fn find_file<'a>(farm: &'a Farm, url: &str) -> Option<&'a Item> {
    farm.libraries.iter().find_map(|lib| {
        let root = root_url(farm, lib);
        let rel = strip_prefix_ci(url, &root)?.strip_prefix('/')?;
        lib.items
            .iter()
            .find(|i| !i.folder && i.rel.eq_ignore_ascii_case(rel))
    })
}

fn no_file(url: &str) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "-2130575338, Microsoft.SharePoint.SPException",
        &format!("The file {url} does not exist."),
    )
}

/// `siteusers`: the seed's users (and the farm admin), with their SIDs in `UserId.NameId`.
fn site_users(farm: &Farm) -> Response<Body> {
    let rows: Vec<Value> = farm
        .users
        .iter()
        .map(|u| {
            json!({
                "__metadata": {"type": "SP.User"},
                "Id": u.id,
                "LoginName": u.login,
                "Title": u.title,
                "Email": u.email,
                "PrincipalType": 1,
                "UserId": if u.sid.is_empty() { Value::Null } else {
                    json!({"__metadata": {"type": "SP.UserIdInfo"}, "NameId": u.sid.to_lowercase(), "NameIdIssuer": "urn:office:idp:activedirectory"})
                },
            })
        })
        .collect();
    verbose(json!({ "results": rows }))
}

/// The roles every SharePoint site has: id, name, SP.RoleType (what both the farm and the
/// local target know them by).
pub const BUILT_IN_ROLES: &[(i64, &str, i64)] = &[
    (1073741825, "Limited Access", 1),
    (1073741826, "Read", 2),
    (1073741827, "Contribute", 3),
    (1073741828, "Design", 4),
    (1073741829, "Full Control", 5),
    (1073741830, "Edit", 6),
];

/// The built-in roles and the seed's custom ones (RoleTypeKind 0): id, name, description,
/// permission mask, kind. (Built-in masks are not modelled: clients refer to those roles by id.)
fn all_roles(farm: &Farm) -> Vec<(i64, String, String, u64, i64)> {
    let mut out: Vec<(i64, String, String, u64, i64)> = BUILT_IN_ROLES
        .iter()
        .map(|(id, n, k)| (*id, n.to_string(), String::new(), 0, *k))
        .collect();
    out.extend(
        farm.roles
            .iter()
            .map(|r| (r.id, r.name.clone(), r.description.clone(), r.perm_mask, 0)),
    );
    out
}

fn role_definitions(farm: &Farm) -> Response<Body> {
    let rows: Vec<Value> = all_roles(farm)
        .into_iter()
        .enumerate()
        .map(|(i, (id, name, description, mask, kind))| {
            json!({
                "__metadata": {"type": "SP.RoleDefinition"},
                "Id": id, "Name": name, "Description": description, "Hidden": false,
                "Order": (i + 1) * 32, "RoleTypeKind": kind,
                "BasePermissions": {"__metadata": {"type": "SP.BasePermissions"},
                    "High": (mask >> 32).to_string(), "Low": (mask & 0xffff_ffff).to_string()},
            })
        })
        .collect();
    verbose(json!({ "results": rows }))
}

/// `items(n)/roleassignments` with Member and RoleDefinitionBindings expanded.
fn role_assignments(farm: &Farm, lib: &Library, id: u64) -> Response<Body> {
    let Some(item) = lib.items.iter().find(|i| i.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            "-2147024809, System.ArgumentException",
            "Item does not exist. It may have been deleted by another user.",
        );
    };
    let roles = all_roles(farm);
    // An item without unique permissions shows its library's: the farm admin's Full Control.
    let assigned = item.seed.permissions.clone().unwrap_or_else(|| {
        vec![SeedAssignment {
            principal: ADMIN_ID,
            roles: vec![1073741829],
        }]
    });
    let rows: Vec<Value> = assigned
        .iter()
        .map(|a| {
            let member = farm.users.iter().find(|u| u.id == a.principal);
            let bindings: Vec<Value> = a
                .roles
                .iter()
                .filter_map(|r| roles.iter().find(|x| x.0 == *r))
                .map(|(id, name, _, _, kind)| json!({"__metadata": {"type": "SP.RoleDefinition"}, "Id": id, "Name": name, "RoleTypeKind": kind}))
                .collect();
            json!({
                "__metadata": {"type": "SP.RoleAssignment"},
                "PrincipalId": a.principal,
                "Member": {"__metadata": {"type": "SP.User"}, "Id": a.principal,
                    "LoginName": member.map(|u| u.login.as_str()).unwrap_or(""), "PrincipalType": 1},
                "RoleDefinitionBindings": {"results": bindings},
            })
        })
        .collect();
    verbose(json!({ "results": rows }))
}

/// SharePoint's version id of a label: major × 512 + minor (the local target's REST numbers
/// versions the same way).
pub(crate) fn version_id(label: &str) -> u64 {
    let (major, minor) = label.split_once('.').unwrap_or((label, "0"));
    major.parse::<u64>().unwrap_or(0) * 512 + minor.parse::<u64>().unwrap_or(0)
}

/// A file's older versions (without the current one), with `CreatedBy` expanded on request.
fn versions(
    farm: &Farm,
    url: &str,
    q: &std::collections::HashMap<String, String>,
) -> Response<Body> {
    let Some(item) = find_file(farm, url) else {
        return no_file(url);
    };
    let expand = q
        .get("$expand")
        .is_some_and(|e| e.to_ascii_lowercase().contains("createdby"));
    let web_rel = url
        .strip_prefix(farm.cfg.site_path.as_str())
        .unwrap_or(url)
        .trim_start_matches('/');
    let rows: Vec<Value> = item
        .seed
        .versions
        .iter()
        .map(|v| {
            let id = version_id(&v.label);
            let size = std::fs::metadata(farm.cfg.root.join(SEED_DIR).join(&v.file))
                .map(|m| m.len())
                .unwrap_or(0);
            let by = v.created_by.unwrap_or(ADMIN_ID);
            let created_by = match farm.users.iter().find(|u| u.id == by) {
                Some(u) if expand => json!({"__metadata": {"type": "SP.User"}, "Id": u.id, "LoginName": u.login, "Title": u.title}),
                _ => json!({"__deferred": {}}),
            };
            json!({
                "__metadata": {"type": "SP.FileVersion"},
                "ID": id,
                "VersionLabel": v.label,
                "CheckInComment": v.comment.as_deref().unwrap_or(""),
                "Created": v.created,
                "Size": size,
                "IsCurrentVersion": false,
                "Url": format!("_vti_history/{id}/{web_rel}"),
                "CreatedBy": created_by,
            })
        })
        .collect();
    verbose(json!({ "results": rows }))
}

/// `_vti_history/{id}/{web-relative path}`: an older version's bytes.
async fn history_value(farm: &Farm, rest: &str) -> Response<Body> {
    let Some((id, web_rel)) = rest.split_once('/') else {
        return not_found(rest);
    };
    let url = format!("{}/{web_rel}", farm.cfg.site_path);
    let found = find_file(farm, &url).and_then(|i| {
        i.seed
            .versions
            .iter()
            .find(|v| version_id(&v.label).to_string() == id)
    });
    let Some(v) = found else {
        return no_file(&format!("_vti_history/{rest}"));
    };
    stream_file(&farm.cfg.root.join(SEED_DIR).join(&v.file), &url).await
}

/// The file's current bytes, streamed.
async fn file_value(farm: &Farm, url: &str) -> Response<Body> {
    let Some(item) = find_file(farm, url) else {
        return no_file(url);
    };
    stream_file(&item.disk, url).await
}

async fn stream_file(disk: &Path, url: &str) -> Response<Body> {
    let size = match tokio::fs::metadata(disk).await {
        Ok(m) => m.len(),
        Err(_) => return no_file(url),
    };
    let file = match tokio::fs::File::open(disk).await {
        Ok(f) => f,
        Err(_) => {
            return error(
                StatusCode::NOT_FOUND,
                "-2130575338, Microsoft.SharePoint.SPException",
                &format!("The file {url} does not exist."),
            )
        }
    };
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    let h = r.headers_mut();
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        "accept-ranges",
        hyper::header::HeaderValue::from_static("none"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&size.to_string()) {
        h.insert("content-length", v);
    }
    r
}

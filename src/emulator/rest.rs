//! SPO REST under `/sites/{site}/_api/...`: web and list lookup, `contextinfo`, and the Migration
//! API functions on `SP.Site` (reference §3), answering in the verbose (`{"d":…}`) or nometadata
//! JSON shape the request's Accept header asks for. Every call needs the configured bearer token.

use super::entra::Principal;
use super::events::QueueTarget;
use super::farm::version_id;
use super::importer::{self, JobSpec};
use super::library::{List, Site};
use super::recycle;
use super::remote;
use super::sas::SasAuthority;
use super::server::{body_bytes, read_body, Body};
use super::{Emu, EmulatorError};
use crate::crypto::Key;
use crate::wire::{CreateJobRequest, JOB_STATE_NONE};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use uuid::Uuid;

const ACCESS_DENIED: &str = "-2147024891, System.UnauthorizedAccessException";
const ARGUMENT: &str = "-2147024809, System.ArgumentException";
const NOT_FOUND: &str = "-2147024894, System.IO.FileNotFoundException";
const JOB_NOT_FOUND: &str = "-2147213145, Microsoft.SharePoint.SPException";
const INVALID_OPERATION: &str = "-2146233079, System.InvalidOperationException";
const BAD_QUERY: &str = "-1, Microsoft.SharePoint.Client.InvalidClientQueryException";

/// SPO's JSON error shape.
pub fn spo_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let v = json!({"error": {"code": code, "message": {"lang": "en-US", "value": message}}});
    json_response(status, &v)
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(body_bytes(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json;odata=verbose;charset=utf-8"),
    );
    r
}

fn internal(e: EmulatorError) -> Response<Body> {
    spo_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "-2146232832, Microsoft.SharePoint.SPException",
        &e.to_string(),
    )
}

/// The JSON shape a request asked for.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Verbose,
    NoMetadata,
}

struct Ctx<'a> {
    emu: &'a Arc<Emu>,
    shape: Shape,
    site: Site,
    /// Who the request's token speaks for.
    principal: Principal,
}

impl Ctx<'_> {
    fn site_url(&self) -> String {
        format!("{}{}", self.emu.base_url, self.site.server_relative_url())
    }

    /// An entity: verbose `{"d":{"__metadata":{type},…}}`, nometadata the plain object.
    fn entity(&self, type_name: &str, obj: Map<String, Value>) -> Response<Body> {
        json_response(StatusCode::OK, &self.entity_value(type_name, obj, true))
    }

    fn entity_value(&self, type_name: &str, mut obj: Map<String, Value>, top: bool) -> Value {
        match self.shape {
            Shape::NoMetadata => Value::Object(obj),
            Shape::Verbose => {
                obj.insert("__metadata".into(), json!({"type": type_name}));
                if top {
                    json!({ "d": obj })
                } else {
                    Value::Object(obj)
                }
            }
        }
    }

    /// A function result: verbose `{"d":{"Fn":value}}`; nometadata the object itself, or
    /// `{"value":scalar}` (reference §3).
    fn function(&self, name: &str, type_name: Option<&str>, value: Value) -> Response<Body> {
        let v = match (self.shape, value) {
            (Shape::Verbose, Value::Object(mut o)) => {
                if let Some(t) = type_name {
                    o.insert("__metadata".into(), json!({"type": t}));
                }
                json!({"d": {name: o}})
            }
            (Shape::Verbose, v) => json!({"d": {name: v}}),
            (Shape::NoMetadata, Value::Object(o)) => Value::Object(o),
            (Shape::NoMetadata, v) => json!({ "value": v }),
        };
        json_response(StatusCode::OK, &v)
    }

    fn folder_obj(&self, id: Uuid, server_relative_url: &str, name: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("UniqueId".into(), json!(id.to_string()));
        m.insert("ServerRelativeUrl".into(), json!(server_relative_url));
        m.insert("Name".into(), json!(name));
        m.insert("Exists".into(), json!(true));
        m
    }

    fn list_obj(&self, l: &List) -> Result<Map<String, Value>, EmulatorError> {
        let mut m = Map::new();
        m.insert("Id".into(), json!(l.list_id.to_string()));
        m.insert("Title".into(), json!(l.title));
        m.insert(
            "ItemCount".into(),
            json!(self.emu.library.item_count(l.list_id)?),
        );
        m.insert("BaseTemplate".into(), json!(101));
        m.insert("BaseType".into(), json!(1));
        m.insert(
            "ParentWebUrl".into(),
            json!(self.site.server_relative_url()),
        );
        let rf = self.folder_obj(l.root_folder_id, &l.server_relative_url(), &l.url_name);
        m.insert(
            "RootFolder".into(),
            self.entity_value("SP.Folder", rf, false),
        );
        Ok(m)
    }
}

/// Parses the inside of an OData call `(a='x',b=guid'…',c=3)` starting after `(`: returns the
/// arguments (lowercased names; positional ones get an empty name) and what follows `)`.
fn parse_call(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut args = Vec::new();
    let mut chars = s.char_indices().peekable();
    let mut name = String::new();
    let mut value = String::new();
    let mut in_value = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => {
                // A quoted value; `''` is an escaped quote. A `guid` prefix is dropped.
                value.clear();
                loop {
                    let (_, c) = chars.next()?;
                    if c == '\'' {
                        if chars.peek().map(|(_, c)| *c) == Some('\'') {
                            chars.next();
                            value.push('\'');
                        } else {
                            break;
                        }
                    } else {
                        value.push(c);
                    }
                }
            }
            '=' => in_value = true,
            ',' | ')' => {
                let (n, v) = if in_value {
                    (std::mem::take(&mut name), std::mem::take(&mut value))
                } else if !value.is_empty() {
                    (String::new(), std::mem::take(&mut value))
                } else {
                    (String::new(), std::mem::take(&mut name))
                };
                name.clear();
                if !(n.is_empty() && v.is_empty()) {
                    args.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
                value.clear();
                in_value = false;
                if c == ')' {
                    return Some((args, &s[i + 1..]));
                }
            }
            c if in_value => {
                if !(value.is_empty() && c.is_whitespace()) {
                    value.push(c);
                }
                // `guid'…'` and `datetime'…'`: the type prefix is not part of the value.
                if value.eq_ignore_ascii_case("guid") && chars.peek().map(|(_, c)| *c) == Some('\'')
                {
                    value.clear();
                }
            }
            c => name.push(c),
        }
    }
    None
}

fn arg<'a>(args: &'a [(String, String)], name: &str) -> Option<&'a str> {
    args.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub async fn handle(
    emu: &Arc<Emu>,
    req: Request<Incoming>,
    path: &str,
    query: &str,
) -> Response<Body> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let Some(after) = decoded.strip_prefix("/sites/") else {
        return spo_error(
            StatusCode::NOT_FOUND,
            NOT_FOUND,
            "File Not Found. The emulator serves sites at /sites/{name}.",
        );
    };
    let (site_name, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let principal = match authorized(emu, &req).await {
        Ok(p) => p,
        Err(why) => {
            let mut r = spo_error(
                StatusCode::UNAUTHORIZED,
                ACCESS_DENIED,
                &format!("Access denied. The access token is missing or was not accepted: {why}"),
            );
            if let Ok(v) = hyper::header::HeaderValue::from_str(&emu.entra.challenge(&emu.base_url))
            {
                r.headers_mut().insert("www-authenticate", v);
            }
            return r;
        }
    };
    if site_name.is_empty()
        || site_name.contains(['\\', '\0'])
        || site_name == "."
        || site_name == ".."
    {
        return spo_error(StatusCode::NOT_FOUND, NOT_FOUND, "File Not Found.");
    }
    let site = match if emu.strict {
        emu.library.site(site_name)
    } else {
        emu.library.ensure_site(site_name).map(Some)
    } {
        Ok(Some(s)) => s,
        Ok(None) => {
            return spo_error(
                StatusCode::NOT_FOUND,
                NOT_FOUND,
                &format!("File Not Found. There is no site at /sites/{site_name}."),
            )
        }
        Err(e) => return internal(e),
    };
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let shape = if accept.contains("odata=verbose") {
        Shape::Verbose
    } else {
        Shape::NoMetadata
    };
    let ctx = Ctx {
        emu,
        shape,
        site,
        principal,
    };
    let method = req.method().clone();
    let body = if method == Method::POST {
        match read_body(req.into_body(), 1 << 20).await {
            Ok(b) => b,
            Err(e) => return spo_error(StatusCode::BAD_REQUEST, ARGUMENT, &e),
        }
    } else {
        bytes::Bytes::new()
    };
    let lower = rest.trim_end_matches('/').to_ascii_lowercase();
    match route(&ctx, &lower, rest, query, &body).await {
        Ok(r) => r,
        Err(e) => internal(e),
    }
}

/// The principal behind the request's bearer token: the configured static token (the
/// embedded local target signs itself in with one), or a JWT the sign-in service validates.
async fn authorized(emu: &Emu, req: &Request<Incoming>) -> Result<Principal, String> {
    let h = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let (scheme, token) = h
        .trim()
        .split_once(' ')
        .ok_or("the Authorization header is not 'Bearer <token>'")?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err("the Authorization header is not 'Bearer <token>'".into());
    }
    let (a, b) = (token.as_bytes(), emu.access_token.as_bytes());
    if a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0 {
        return Ok(Principal {
            name: "spmt-local".into(),
            site_admin: true,
        });
    }
    emu.entra
        .validate(&emu.base_url, token, &emu.remote_http)
        .await
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn body_json(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // Verbose callers sometimes wrap parameters in one object; unwrap it.
    match &v {
        Value::Object(o)
            if o.len() == 1
                && o.values().next().is_some_and(Value::is_object)
                && !o.contains_key("options") =>
        {
            o.values().next().cloned().unwrap_or(Value::Null)
        }
        _ => v,
    }
}

fn json_field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn parse_guid(s: &str) -> Option<Uuid> {
    let s = s.trim();
    let s = s
        .strip_prefix("guid'")
        .and_then(|x| x.strip_suffix('\''))
        .unwrap_or(s);
    Uuid::parse_str(s.trim_matches(|c| c == '{' || c == '}')).ok()
}

async fn route(
    ctx: &Ctx<'_>,
    lower: &str,
    rest: &str,
    query: &str,
    body: &[u8],
) -> Result<Response<Body>, EmulatorError> {
    let emu = ctx.emu;
    let site = &ctx.site;
    if lower.starts_with("/_api/site/") && lower.contains("migration") && !ctx.principal.site_admin
    {
        // The Migration API needs a site collection admin (reference §2).
        return Ok(spo_error(
            StatusCode::FORBIDDEN,
            ACCESS_DENIED,
            "Access denied. You do not have permission to perform this action or access this resource.",
        ));
    }
    let r = match lower {
        "" | "/_api/web" => {
            let mut m = Map::new();
            m.insert("Id".into(), json!(site.web_id.to_string()));
            m.insert("Title".into(), json!(site.name));
            m.insert(
                "ServerRelativeUrl".into(),
                json!(site.server_relative_url()),
            );
            m.insert("Url".into(), json!(ctx.site_url()));
            m.insert("WebTemplate".into(), json!("STS"));
            m.insert("UIVersion".into(), json!(15));
            ctx.entity("SP.Web", m)
        }
        "/_api/site" => {
            let mut m = Map::new();
            m.insert("Id".into(), json!(site.site_id.to_string()));
            m.insert(
                "ServerRelativeUrl".into(),
                json!(site.server_relative_url()),
            );
            m.insert("Url".into(), json!(ctx.site_url()));
            ctx.entity("SP.Site", m)
        }
        "/_api/web/currentuser" => ctx.entity(
            "SP.User",
            obj(json!({
                "Id": 1,
                "LoginName": format!("i:0#.f|membership|{}", ctx.principal.name),
                "Title": ctx.principal.name,
                "Email": ctx.principal.name,
                "UserPrincipalName": ctx.principal.name,
                "IsSiteAdmin": ctx.principal.site_admin,
            })),
        ),
        "/_api/web/effectivebasepermissions" => {
            // FullMask for a site collection admin; Read (ViewListItems, OpenItems, Open…) otherwise.
            let (high, low) = if ctx.principal.site_admin {
                ("2147483647", "4294967295")
            } else {
                ("176", "138612833")
            };
            ctx.entity("SP.BasePermissions", obj(json!({"High": high, "Low": low})))
        }
        "/_api/web/rootfolder" => ctx.entity(
            "SP.Folder",
            ctx.folder_obj(site.web_root_folder_id, &site.server_relative_url(), ""),
        ),
        "/_api/web/lists" => {
            let lists = emu.library.lists(&site.name)?;
            let items: Result<Vec<Value>, EmulatorError> = lists
                .iter()
                .map(|l| Ok(ctx.entity_value("SP.List", ctx.list_obj(l)?, false)))
                .collect();
            let v = match ctx.shape {
                Shape::Verbose => json!({"d": {"results": items?}}),
                Shape::NoMetadata => json!({"value": items?}),
            };
            json_response(StatusCode::OK, &v)
        }
        "/_api/contextinfo" => {
            let mut m = Map::new();
            m.insert("FormDigestTimeoutSeconds".into(), json!(1800));
            m.insert(
                "FormDigestValue".into(),
                json!(format!(
                    "0x{},{}",
                    Uuid::new_v4().simple().to_string().to_uppercase(),
                    chrono::Utc::now().format("%d %b %Y %H:%M:%S -0000")
                )),
            );
            m.insert("LibraryVersion".into(), json!("16.0.0.0"));
            m.insert("SiteFullUrl".into(), json!(ctx.site_url()));
            m.insert("WebFullUrl".into(), json!(ctx.site_url()));
            ctx.function(
                "GetContextWebInformation",
                Some("SP.ContextWebInformation"),
                Value::Object(m),
            )
        }
        "/_api/site/provisionmigrationcontainers" => provision_containers(ctx)?,
        "/_api/site/provisionmigrationqueue" => {
            let name = format!("q-{}", Uuid::new_v4().simple());
            emu.queues.create(&name);
            let uri = emu.sas.queue_url(&emu.base_url, &name);
            ctx.function(
                "ProvisionMigrationQueue",
                Some("SP.ProvisionedMigrationQueueInfo"),
                json!({"JobQueueUri": uri}),
            )
        }
        "/_api/site/createmigrationjobencrypted" => {
            create_job(ctx, body, true, "CreateMigrationJobEncrypted").await?
        }
        "/_api/site/createmigrationjob" => {
            create_job(ctx, body, false, "CreateMigrationJob").await?
        }
        "/_api/site/getmigrationstatus" => {
            let items: Vec<Value> = emu
                .jobs
                .all(&site.name, &emu.library)
                .into_iter()
                .map(|(id, state)| {
                    let mut m = Map::new();
                    m.insert("JobId".into(), json!(id.to_string()));
                    m.insert("JobState".into(), json!(state));
                    ctx.entity_value("SP.SPMigrationJobStatus", m, false)
                })
                .collect();
            let v = match ctx.shape {
                Shape::Verbose => {
                    json!({"d": {"GetMigrationStatus": {"__metadata": {"type": "Collection(SP.SPMigrationJobStatus)"}, "results": items}}})
                }
                Shape::NoMetadata => json!({ "value": items }),
            };
            json_response(StatusCode::OK, &v)
        }
        "/_api/site/deletemigrationjob" => {
            let id = json_field(&body_json(body), "id")
                .and_then(Value::as_str)
                .and_then(parse_guid);
            let deleted = id.is_some_and(|id| emu.jobs.delete(id, &emu.library));
            ctx.function("DeleteMigrationJob", None, json!(deleted))
        }
        _ => return Ok(route_calls(ctx, lower, rest, query, body)),
    };
    Ok(r)
}

/// Routes whose path carries OData call arguments: `GetByTitle('…')`, `GetMigrationJobStatus(…)`…
fn route_calls(ctx: &Ctx<'_>, lower: &str, rest: &str, query: &str, body: &[u8]) -> Response<Body> {
    let emu = ctx.emu;
    let call = |prefix: &str| -> Option<(Vec<(String, String)>, String)> {
        if !lower.starts_with(prefix) {
            return None;
        }
        // Prefix is ASCII, so byte offsets agree between `lower` and `rest`.
        let inner = &rest[prefix.len()..];
        parse_call(inner).map(|(a, tail)| (a, tail.trim_end_matches('/').to_ascii_lowercase()))
    };
    let r: Result<Response<Body>, EmulatorError> = (|| {
        if let Some((args, tail)) = call("/_api/web/lists/getbytitle(") {
            let title = args.first().map(|(_, v)| v.clone()).unwrap_or_default();
            return list_response(ctx, lookup_list_by_title(ctx, &title)?, &title, &tail);
        }
        if let Some((args, tail)) = call("/_api/web/getlist(") {
            let url = args.first().map(|(_, v)| v.clone()).unwrap_or_default();
            let found = emu.library.lists(&ctx.site.name)?.into_iter().find(|l| {
                let full = l.server_relative_url();
                full.eq_ignore_ascii_case(url.trim_end_matches('/'))
                    || format!("{}{}", emu.base_url, full).eq_ignore_ascii_case(&url)
            });
            return list_response(ctx, found, &url, &tail);
        }
        if let Some((args, tail)) = call("/_api/web/getfilebyid(") {
            let file = match args.first().and_then(|(_, v)| parse_guid(v)) {
                Some(id) if tail.is_empty() => file_by_id(ctx, id)?,
                _ => None,
            };
            return Ok(match file {
                Some(m) => ctx.entity("SP.File", m),
                None => spo_error(
                    StatusCode::NOT_FOUND,
                    "-2147024894, System.IO.FileNotFoundException",
                    "File Not Found.",
                ),
            });
        }
        for (prefix, folder) in [
            ("/_api/web/getfilebyserverrelativepath(", false),
            ("/_api/web/getfilebyserverrelativeurl(", false),
            ("/_api/web/getfolderbyserverrelativepath(", true),
            ("/_api/web/getfolderbyserverrelativeurl(", true),
        ] {
            let Some((args, tail)) = call(prefix) else {
                continue;
            };
            let url = arg(&args, "decodedurl")
                .or(arg(&args, "serverrelativeurl"))
                .or(args.first().map(|(_, v)| v.as_str()))
                .unwrap_or_default()
                .to_string();
            if (!folder || tail.starts_with("/listitemallfields"))
                && !matches!(tail.as_str(), "/recycle()" | "/recycle")
            {
                return file_call(ctx, &url, &tail, query);
            }
            if !matches!(tail.as_str(), "/recycle()" | "/recycle") {
                return Ok(spo_error(
                    StatusCode::NOT_FOUND,
                    BAD_QUERY,
                    &format!(
                        "The emulator serves only recycle() on files and folders, not '{tail}'."
                    ),
                ));
            }
            return Ok(match recycle::recycle(emu, &ctx.site.name, &url, folder)? {
                recycle::Recycled::Done(id) => ctx.function("Recycle", None, json!(id.to_string())),
                recycle::Recycled::NotFound => spo_error(
                    StatusCode::NOT_FOUND,
                    "-2147024894, System.IO.FileNotFoundException",
                    "File Not Found.",
                ),
            });
        }
        if lower == "/_api/site/getmigrationjobstatus"
            || lower.starts_with("/_api/site/getmigrationjobstatus(")
        {
            let id = match call("/_api/site/getmigrationjobstatus(") {
                Some((args, _)) => arg(&args, "id")
                    .or(args.first().map(|(_, v)| v.as_str()))
                    .and_then(parse_guid),
                None => json_field(&body_json(body), "id")
                    .and_then(Value::as_str)
                    .and_then(parse_guid),
            };
            let state = id.map(|id| emu.jobs.status(id)).unwrap_or(JOB_STATE_NONE);
            return Ok(ctx.function("GetMigrationJobStatus", None, json!(state)));
        }
        if lower == "/_api/site/getmigrationjobprogress"
            || lower.starts_with("/_api/site/getmigrationjobprogress(")
        {
            let (id, token) = match call("/_api/site/getmigrationjobprogress(") {
                Some((args, _)) => (
                    arg(&args, "jobid").and_then(parse_guid),
                    arg(&args, "nexttoken").map(str::to_string),
                ),
                None => {
                    let v = body_json(body);
                    let token = json_field(&v, "nextToken").map(|t| {
                        t.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| t.to_string())
                    });
                    (
                        json_field(&v, "jobId")
                            .and_then(Value::as_str)
                            .and_then(parse_guid),
                        token,
                    )
                }
            };
            return Ok(progress(ctx, id, token));
        }
        Ok(spo_error(
            StatusCode::NOT_FOUND,
            BAD_QUERY,
            &format!(
                "The expression \"{}\" is not valid, or the emulator does not serve it.",
                rest.trim_start_matches('/')
            ),
        ))
    })();
    r.unwrap_or_else(internal)
}

/// `GetFileById('…')`: the file with that UniqueId in any library of the site, with the
/// properties SPO returns (`Length` as a string, as Edm.Int64 is in SPO's JSON).
fn file_by_id(ctx: &Ctx<'_>, id: Uuid) -> Result<Option<Map<String, Value>>, EmulatorError> {
    let lib = &ctx.emu.library;
    for list in lib.lists(&ctx.site.name)? {
        let Some(item) = lib.item_by_id(list.list_id, id)? else {
            continue;
        };
        if item.kind != "File" {
            return Ok(None);
        }
        let Ok(meta) = std::fs::metadata(importer::disk_path(&ctx.emu.root, &list, &item.url))
        else {
            return Ok(None);
        };
        let name = item.url.rsplit('/').next().unwrap_or_default().to_string();
        let mut m = Map::new();
        m.insert("UniqueId".into(), json!(id.to_string()));
        m.insert("Name".into(), json!(name));
        m.insert("ServerRelativeUrl".into(), json!(item.url));
        m.insert("Length".into(), json!(meta.len().to_string()));
        m.insert("TimeCreated".into(), json!(item.time_created));
        m.insert("TimeLastModified".into(), json!(item.time_modified));
        return Ok(Some(m));
    }
    Ok(None)
}

fn file_not_found() -> Response<Body> {
    spo_error(
        StatusCode::NOT_FOUND,
        "-2147024894, System.IO.FileNotFoundException",
        "File Not Found.",
    )
}

/// A user as SPO's REST shows it: expanded when `$expand` names the property, else deferred.
fn person_value(ctx: &Ctx<'_>, login: Option<&str>, prop: &str, expand: &[String]) -> Value {
    if !expand.iter().any(|e| e.eq_ignore_ascii_case(prop)) {
        return json!({"__deferred": {}});
    }
    // No login: SharePoint records the System Account (reference §6.4).
    let login = login.unwrap_or("SHAREPOINT\\system");
    let mut m = Map::new();
    m.insert("LoginName".into(), json!(login));
    m.insert(
        "Title".into(),
        json!(login.rsplit('|').next().unwrap_or(login)),
    );
    ctx.entity_value("SP.User", m, false)
}

/// Reads of an imported file: its properties, `ListItemAllFields` (Author, Editor, unique
/// permissions and their `roleassignments`, the last two for folders too), its older
/// `Versions`, and `Versions(id)/$value` — what a test compares a migrated item with.
fn file_call(
    ctx: &Ctx<'_>,
    url: &str,
    tail: &str,
    query: &str,
) -> Result<Response<Body>, EmulatorError> {
    let lib = &ctx.emu.library;
    let url = url.trim_end_matches('/');
    let Some(list) = lib.lists(&ctx.site.name)?.into_iter().find(|l| {
        let root = l.server_relative_url().to_lowercase();
        url.to_lowercase().starts_with(&format!("{root}/"))
    }) else {
        return Ok(file_not_found());
    };
    let Some(item) = lib.item_by_url(list.list_id, url)? else {
        return Ok(file_not_found());
    };
    if item.kind != "File" && !tail.starts_with("/listitemallfields") {
        return Ok(file_not_found());
    }
    let q = super::server::query_map(query);
    let expand: Vec<String> = q
        .get("$expand")
        .map(|e| e.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    let versions: Vec<Value> = serde_json::from_str(&item.versions).unwrap_or_default();
    let current = versions
        .iter()
        .find(|v| v["current"].as_bool() == Some(true));
    let editor = current
        .and_then(|v| v["modified_by"].as_str())
        .or(item.author.as_deref());
    let label = current.and_then(|v| v["label"].as_str()).unwrap_or("1.0");
    let web_rel = url
        .strip_prefix(&ctx.site.server_relative_url())
        .unwrap_or(url)
        .trim_start_matches('/')
        .to_string();
    match tail {
        "" => {
            let Ok(meta) = std::fs::metadata(importer::disk_path(&ctx.emu.root, &list, url)) else {
                return Ok(file_not_found());
            };
            let mut m = Map::new();
            m.insert("UniqueId".into(), json!(item.object_id.to_string()));
            m.insert(
                "Name".into(),
                json!(url.rsplit('/').next().unwrap_or_default()),
            );
            m.insert("ServerRelativeUrl".into(), json!(item.url));
            m.insert("Length".into(), json!(meta.len().to_string()));
            m.insert("UIVersionLabel".into(), json!(label));
            m.insert(
                "CheckInComment".into(),
                json!(current.and_then(|v| v["comment"].as_str()).unwrap_or("")),
            );
            m.insert("TimeCreated".into(), json!(item.time_created));
            m.insert("TimeLastModified".into(), json!(item.time_modified));
            m.insert(
                "Author".into(),
                person_value(ctx, item.author.as_deref(), "Author", &expand),
            );
            m.insert(
                "ModifiedBy".into(),
                person_value(ctx, editor, "ModifiedBy", &expand),
            );
            Ok(ctx.entity("SP.File", m))
        }
        "/listitemallfields" => {
            let mut m = Map::new();
            m.insert("Id".into(), json!(item.int_id));
            m.insert("ID".into(), json!(item.int_id));
            m.insert("FileRef".into(), json!(item.url));
            m.insert("OData__UIVersionString".into(), json!(label));
            m.insert("Created".into(), json!(item.time_created));
            m.insert("Modified".into(), json!(item.time_modified));
            m.insert(
                "Author".into(),
                person_value(ctx, item.author.as_deref(), "Author", &expand),
            );
            m.insert(
                "Editor".into(),
                person_value(ctx, editor, "Editor", &expand),
            );
            m.insert(
                "HasUniqueRoleAssignments".into(),
                json!(item.permissions.is_some()),
            );
            Ok(ctx.entity("SP.ListItem", m))
        }
        "/listitemallfields/roleassignments" => {
            // Unique ones as imported; an item without inherits the library's, shown here as
            // the signed-in owner's Full Control.
            let given: Vec<Value> = item
                .permissions
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or_else(|| {
                    vec![json!({"login": ctx.principal.name, "role_id": "1073741829", "role": "Full Control"})]
                });
            let rows: Vec<Value> = given
                .iter()
                .map(|a| {
                    let mut member = Map::new();
                    member.insert("LoginName".into(), a["login"].clone());
                    let mut role = Map::new();
                    role.insert(
                        "Id".into(),
                        json!(a["role_id"].as_str().and_then(|r| r.parse::<i64>().ok())),
                    );
                    role.insert("Name".into(), a["role"].clone());
                    let mut m = Map::new();
                    m.insert("Member".into(), ctx.entity_value("SP.User", member, false));
                    m.insert(
                        "RoleDefinitionBindings".into(),
                        json!({"results": [ctx.entity_value("SP.RoleDefinition", role, false)]}),
                    );
                    ctx.entity_value("SP.RoleAssignment", m, false)
                })
                .collect();
            Ok(match ctx.shape {
                Shape::Verbose => json_response(StatusCode::OK, &json!({"d": {"results": rows}})),
                Shape::NoMetadata => json_response(StatusCode::OK, &json!({ "value": rows })),
            })
        }
        "/versions" => {
            // The history without the current version, as SharePoint lists it.
            let rows: Vec<Value> = versions
                .iter()
                .filter(|v| v["current"].as_bool() != Some(true))
                .map(|v| {
                    let label = v["label"].as_str().unwrap_or("1.0");
                    let id = version_id(label);
                    let mut m = Map::new();
                    m.insert("ID".into(), json!(id));
                    m.insert("VersionLabel".into(), json!(label));
                    m.insert("IsCurrentVersion".into(), json!(false));
                    m.insert("Size".into(), json!(v["size"]));
                    m.insert("Created".into(), v["time"].clone());
                    m.insert(
                        "CheckInComment".into(),
                        json!(v["comment"].as_str().unwrap_or("")),
                    );
                    m.insert("Url".into(), json!(format!("_vti_history/{id}/{web_rel}")));
                    m.insert(
                        "CreatedBy".into(),
                        person_value(ctx, v["modified_by"].as_str(), "CreatedBy", &expand),
                    );
                    ctx.entity_value("SP.FileVersion", m, false)
                })
                .collect();
            Ok(match ctx.shape {
                Shape::Verbose => json_response(StatusCode::OK, &json!({"d": {"results": rows}})),
                Shape::NoMetadata => json_response(StatusCode::OK, &json!({ "value": rows })),
            })
        }
        t => {
            // Versions(id)/$value: an older version's bytes.
            let id = t
                .strip_prefix("/versions(")
                .and_then(|r| r.strip_suffix(")/$value"))
                .and_then(|n| n.parse::<u64>().ok());
            let stored = id.and_then(|id| {
                versions.iter().find(|v| {
                    v["current"].as_bool() != Some(true)
                        && version_id(v["label"].as_str().unwrap_or("")) == id
                })
            });
            let Some(stored) = stored.and_then(|v| v["stored"].as_str()) else {
                return Ok(spo_error(
                    StatusCode::NOT_FOUND,
                    BAD_QUERY,
                    &format!("The emulator serves no '{t}' on this file."),
                ));
            };
            let bytes =
                std::fs::read(ctx.emu.root.join("_emulator").join(stored)).map_err(|source| {
                    EmulatorError::Io {
                        what: "cannot read a stored version",
                        path: ctx.emu.root.join("_emulator").join(stored),
                        source,
                    }
                })?;
            let mut r = Response::new(super::server::body_bytes(bytes));
            r.headers_mut().insert(
                "content-type",
                hyper::header::HeaderValue::from_static("application/octet-stream"),
            );
            Ok(r)
        }
    }
}

fn lookup_list_by_title(ctx: &Ctx<'_>, title: &str) -> Result<Option<List>, EmulatorError> {
    let lib = &ctx.emu.library;
    if ctx.emu.strict || title.trim().is_empty() {
        return lib.list_by_title(&ctx.site.name, title);
    }
    let site_dir = ctx.emu.root.join("sites").join(&ctx.site.name);
    let title = if ctx.emu.libraries_must_exist {
        if let Some(l) = lib.list_by_title(&ctx.site.name, title)? {
            return Ok(Some(l));
        }
        // A folder the user made is a library; titles ignore case, as SharePoint's do.
        match folder_named(&site_dir, &importer::title_dir(title)) {
            Some(name) => name,
            None => return Ok(None),
        }
    } else {
        title.to_string()
    };
    let l = lib.ensure_list(&ctx.site.name, &title)?;
    let dir = site_dir.join(importer::title_dir(&l.title));
    std::fs::create_dir_all(&dir).map_err(|source| EmulatorError::Io {
        what: "cannot create",
        path: dir,
        source,
    })?;
    Ok(Some(l))
}

/// The folder in `dir` named `name`, ignoring case (its own spelling), if there is one.
fn folder_named(dir: &std::path::Path, name: &str) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| n.to_lowercase() == name.to_lowercase())
}

fn list_response(
    ctx: &Ctx<'_>,
    list: Option<List>,
    what: &str,
    tail: &str,
) -> Result<Response<Body>, EmulatorError> {
    let Some(l) = list else {
        return Ok(spo_error(
            StatusCode::NOT_FOUND,
            "-1, System.ArgumentException",
            &format!(
                "List '{what}' does not exist at site with URL '{}'.",
                ctx.site_url()
            ),
        ));
    };
    Ok(match tail {
        "" => ctx.entity("SP.List", ctx.list_obj(&l)?),
        "/rootfolder" => ctx.entity(
            "SP.Folder",
            ctx.folder_obj(l.root_folder_id, &l.server_relative_url(), &l.url_name),
        ),
        // Only the form clients use to find the highest list-item id in use
        // (`items?$select=Id&$orderby=Id desc&$top=1`): the top item, or none.
        "/items" => {
            let top: Vec<Value> = ctx
                .emu
                .library
                .max_int_id(l.list_id)?
                .map(|id| json!({"Id": id}))
                .into_iter()
                .collect();
            let v = match ctx.shape {
                Shape::Verbose => json!({"d": {"results": top}}),
                Shape::NoMetadata => json!({"value": top}),
            };
            json_response(StatusCode::OK, &v)
        }
        _ => spo_error(
            StatusCode::NOT_FOUND,
            BAD_QUERY,
            &format!("The emulator does not serve the list resource '{tail}'."),
        ),
    })
}

fn provision_containers(ctx: &Ctx<'_>) -> Result<Response<Body>, EmulatorError> {
    let emu = ctx.emu;
    let day = chrono::Utc::now().format("%Y%m%d");
    let mut uris = Vec::new();
    for _ in 0..2 {
        let name = format!("emu-{day}-{}", Uuid::new_v4().simple());
        emu.blobs
            .create_container(&name)
            .map_err(|source| EmulatorError::Io {
                what: "cannot create container in",
                path: emu.root.clone(),
                source,
            })?;
        uris.push(emu.sas.container_url(&emu.base_url, &name));
    }
    let key = Key::random();
    let v = json!({
        "DataContainerUri": uris[0],
        "MetadataContainerUri": uris[1],
        "EncryptionKey": key.to_base64(),
    });
    Ok(ctx.function(
        "ProvisionMigrationContainers",
        Some("SP.ProvisionedMigrationContainersInfo"),
        v,
    ))
}

/// Parses `{base}/blob/{account}/{container}?{sas}` (or `/queue/…`), returning the resource name
/// and the SAS query. Only this emulator's storage is served.
fn our_resource(emu: &Emu, uri: &str, kind: &str) -> Option<(String, String)> {
    let u = url::Url::parse(uri.trim()).ok()?;
    let base = url::Url::parse(&emu.base_url).ok()?;
    if u.host_str() != base.host_str() || u.port_or_known_default() != base.port_or_known_default()
    {
        return None;
    }
    let segs: Vec<&str> = u.path_segments()?.filter(|s| !s.is_empty()).collect();
    if segs.len() != 3 || segs[0] != kind || segs[1] != emu.sas.account() {
        return None;
    }
    Some((segs[2].to_string(), u.query().unwrap_or("").to_string()))
}

async fn create_job(
    ctx: &Ctx<'_>,
    body: &[u8],
    encrypted: bool,
    fn_name: &str,
) -> Result<Response<Body>, EmulatorError> {
    let emu = ctx.emu;
    let bad = |m: &str| Ok(spo_error(StatusCode::BAD_REQUEST, ARGUMENT, m));
    let req: CreateJobRequest = match serde_json::from_value(body_json(body)) {
        Ok(r) => r,
        Err(e) => {
            return bad(&format!(
                "The request body is not a valid {fn_name} call: {e}"
            ))
        }
    };
    let Some(web_id) = parse_guid(&req.g_web_id) else {
        return bad("gWebId is not a GUID.");
    };
    if web_id != ctx.site.web_id {
        return bad(&format!(
            "The web {web_id} does not exist in site {}: gWebId must be the Id of the target web.",
            ctx.site.server_relative_url()
        ));
    }
    // Our own (provisioned) containers, or the customer's (reference §3.3): not a mix.
    let source_uri = &req.azure_container_source_uri;
    let remote_job = our_resource(emu, source_uri, "blob").is_none();
    let mut containers = Vec::new();
    let mut remote_urls = Vec::new();
    for (uri, what, need, customer) in [
        (
            source_uri,
            "azureContainerSourceUri",
            "r",
            remote::SOURCE_PERMS,
        ),
        (
            &req.azure_container_manifest_uri,
            "azureContainerManifestUri",
            "rw",
            remote::MANIFEST_PERMS,
        ),
    ] {
        if remote_job {
            match remote::verify_container(&emu.remote_http, uri, what, customer).await {
                Ok((name, url)) => {
                    containers.push(name.clone());
                    remote_urls.push((name, url));
                }
                Err(m) => return bad(&m),
            }
            continue;
        }
        let Some((name, sas)) = our_resource(emu, uri, "blob") else {
            return bad(&format!("{what} is not a container of this emulator, while azureContainerSourceUri is: both containers come from ProvisionMigrationContainers or both from your own storage."));
        };
        if let Err(e) = emu
            .sas
            .check(&sas, &SasAuthority::blob_canonical(&name), need)
        {
            return bad(&format!("{what} has an invalid or insufficient SAS: {e:?}"));
        }
        if !emu.blobs.container_exists(&name) {
            return bad(&format!("{what}: the container does not exist."));
        }
        containers.push(name);
    }
    if containers[0] == containers[1] {
        return bad("The source and manifest containers must differ.");
    }
    let key = if encrypted {
        let Some(k) = req.options.as_ref().map(|o| o.aes256_cbc_key.as_str()) else {
            return bad("options.AES256CBCKey is required.");
        };
        match Key::from_base64(k) {
            Ok(k) => Some(k),
            Err(e) => return bad(&format!("options.AES256CBCKey: {e}")),
        }
    } else if remote_job {
        // Customer-provided containers may be imported unencrypted.
        None
    } else {
        // Containers this emulator provisions are SPO-provisioned (reference §3.3, [D-AZ]).
        return Ok(spo_error(
            StatusCode::BAD_REQUEST,
            INVALID_OPERATION,
            "Migration jobs from SharePoint-provided containers must be encrypted: use CreateMigrationJobEncrypted.",
        ));
    };
    let queue = match req
        .azure_queue_report_uri
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(uri) => match our_resource(emu, uri, "queue") {
            Some((name, sas)) => {
                if emu
                    .sas
                    .check(&sas, &SasAuthority::queue_canonical(&name), "a")
                    .is_err()
                    || !emu.queues.exists(&name)
                {
                    return bad("azureQueueReportUri has an invalid SAS or names no queue.");
                }
                Some(QueueTarget::Local(name))
            }
            None => match remote::verify_queue(uri) {
                Ok(u) => Some(QueueTarget::Remote(remote::RemoteQueue::start(
                    emu.remote_http.clone(),
                    u,
                ))),
                Err(m) => return bad(&m),
            },
        },
    };
    if emu.strict && !remote_job {
        let used = emu.blobs.mark_used(&containers[0]) | emu.blobs.mark_used(&containers[1]);
        if used {
            return Ok(spo_error(
                StatusCode::BAD_REQUEST,
                INVALID_OPERATION,
                "A provisioned container can be used by one migration job only: provision new containers.",
            ));
        }
    }
    let spec = JobSpec {
        site: ctx.site.clone(),
        source_container: containers[0].clone(),
        manifest_container: containers[1].clone(),
        queue,
        key,
        remote: remote_job.then(|| {
            Arc::new(remote::RemoteStorage::new(
                emu.remote_http.clone(),
                remote_urls,
            ))
        }),
    };
    let id = importer::submit(emu, spec);
    if let Some(delay) = emu.faults.create_job_reply_delay() {
        tokio::time::sleep(delay).await;
    }
    Ok(ctx.function(fn_name, None, json!(id.to_string())))
}

fn progress(ctx: &Ctx<'_>, id: Option<Uuid>, token: Option<String>) -> Response<Body> {
    let start = token
        .as_deref()
        .and_then(|t| t.trim().trim_matches('\'').parse::<usize>().ok())
        .unwrap_or(0);
    let Some((logs, next)) = id.and_then(|id| ctx.emu.jobs.progress(id, start, &ctx.emu.library))
    else {
        let v = json!({"error": {"code": JOB_NOT_FOUND, "innererror": {"message": "Job not found"}, "message": {"lang": "en-US", "value": "Job not found"}}});
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, &v);
    };
    let v = match ctx.shape {
        Shape::Verbose => json!({"d": {"GetMigrationJobProgress": {
            "__metadata": {"type": "SP.MigrationJobProgress"},
            "Logs": {"__metadata": {"type": "Collection(Edm.String)"}, "results": logs},
            "NextToken": next.to_string(),
        }}}),
        Shape::NoMetadata => json!({"Logs": logs, "NextToken": next.to_string()}),
    };
    json_response(StatusCode::OK, &v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_calls_parse_quotes_guids_and_numbers() {
        let (a, tail) = parse_call("'It''s Docs')/RootFolder").unwrap();
        assert_eq!(a, vec![(String::new(), "It's Docs".to_string())]);
        assert_eq!(tail, "/RootFolder");
        let (a, _) =
            parse_call("jobId=guid'0f0e0d0c-0000-0000-0000-000000000001',nextToken=12)").unwrap();
        assert_eq!(
            arg(&a, "jobid"),
            Some("0f0e0d0c-0000-0000-0000-000000000001")
        );
        assert_eq!(arg(&a, "nexttoken"), Some("12"));
        let (a, _) = parse_call("jobId='abc', nextToken='0')").unwrap();
        assert_eq!(arg(&a, "jobid"), Some("abc"));
        assert_eq!(arg(&a, "nexttoken"), Some("0"));
    }
}

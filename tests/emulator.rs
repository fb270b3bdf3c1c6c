//! The emulator over real loopback HTTP: SPO REST, SAS-checked blob and queue subsets, the
//! importer's validation and materialisation, and fault profiles. Packages are built by hand here
//! (no client packaging code), so these tests hold the emulator to the wire rules on their own.

mod common;

use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::Value;
use spmt::crypto::{self, Key};
use spmt::emulator::{self, EmulatorConfig, EmulatorHandle, FaultProfile, FaultScope};
use spmt::wire::{self, Sas};
use std::path::{Path, PathBuf};
use std::time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const VERBOSE: &str = "application/json;odata=verbose";
const NOMETA: &str = "application/json;odata=nometadata";

async fn start(
    root: &Path,
    strict: bool,
    faults: FaultProfile,
    precreate: Vec<(String, String)>,
) -> EmulatorHandle {
    // The token is spelled out: the tests below send it by hand.
    common::emulator::start(EmulatorConfig {
        access_token: "test-token".into(),
        strict,
        faults,
        max_concurrent_jobs: 2,
        precreate,
        release_imported_blobs: false,
        ..common::emulator::config(root)
    })
    .await
}

async fn json_of(r: reqwest::Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null)
}

struct Api {
    http: reqwest::Client,
    site: String,
    token: String,
}

impl Api {
    fn new(h: &EmulatorHandle, site: &str) -> Self {
        Api {
            http: reqwest::Client::new(),
            site: h.site_url(site),
            token: h.access_token().to_string(),
        }
    }

    async fn get(&self, path: &str, accept: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{}", self.site, path))
            .bearer_auth(&self.token)
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, json_of(r).await)
    }

    async fn post(&self, path: &str, accept: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{}", self.site, path))
            .bearer_auth(&self.token)
            .header("Accept", accept)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, json_of(r).await)
    }
}

/// Ids of the target as the REST API reports them.
#[derive(Clone)]
struct Target {
    site: String,
    web: String,
    web_root: String,
    list: String,
    root_folder: String,
    lib_url: String,
}

impl Target {
    fn web_url(&self) -> String {
        format!("/sites/{}", self.site)
    }
}

async fn target(api: &Api, site: &str) -> Target {
    let (s, web) = api.get("/_api/web", NOMETA).await;
    assert_eq!(s, 200, "{web}");
    let (_, wrf) = api.get("/_api/web/RootFolder", NOMETA).await;
    let (s, list) = api
        .get(
            "/_api/web/lists/GetByTitle('Documents')?$expand=RootFolder",
            NOMETA,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    let lib_url = list["RootFolder"]["ServerRelativeUrl"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    Target {
        site: site.to_string(),
        web: web["Id"].as_str().unwrap().to_string(),
        web_root: wrf["UniqueId"].as_str().unwrap().to_string(),
        list: list["Id"].as_str().unwrap().to_string(),
        root_folder: list["RootFolder"]["UniqueId"].as_str().unwrap().to_string(),
        lib_url,
    }
}

struct Containers {
    data: String,
    meta: String,
    key: Key,
}

async fn provision(api: &Api) -> Containers {
    let (s, v) = api
        .post(
            "/_api/site/ProvisionMigrationContainers",
            NOMETA,
            Value::Null,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    Containers {
        data: v["DataContainerUri"].as_str().unwrap().into(),
        meta: v["MetadataContainerUri"].as_str().unwrap().into(),
        key: Key::from_base64(v["EncryptionKey"].as_str().unwrap()).unwrap(),
    }
}

async fn provision_queue(api: &Api) -> String {
    let (s, v) = api
        .post("/_api/site/ProvisionMigrationQueue", NOMETA, Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    v["JobQueueUri"].as_str().unwrap().to_string()
}

/// `{container}/{name}?{sas}{extra}`.
fn blob_url(container_uri: &str, name: &str, extra: &str) -> String {
    let (base, q) = container_uri.split_once('?').unwrap();
    let enc: Vec<String> = name
        .split('/')
        .map(|s| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        })
        .collect();
    format!("{base}/{}?{q}{extra}", enc.join("/"))
}

#[derive(Clone, Copy, PartialEq)]
enum Iv {
    Good,
    Malformed,
    Missing,
}

// Positional flags read best at the many call sites of these two builders.
#[allow(clippy::too_many_arguments)]
/// Encrypts and uploads one blob (in blocks of `block` bytes when given), then snapshots it.
async fn upload(
    http: &reqwest::Client,
    container: &str,
    name: &str,
    key: &Key,
    plain: &[u8],
    block: Option<usize>,
    snapshot: bool,
    iv_mode: Iv,
) {
    let iv = crypto::random_iv();
    let cipher = crypto::encrypt(key, &iv, plain);
    let iv_meta = match iv_mode {
        Iv::Good => Some(crypto::iv_to_base64(&iv)),
        Iv::Malformed => Some("not-an-iv".to_string()),
        Iv::Missing => None,
    };
    let md5 = B64.encode(Md5::digest(&cipher));
    match block {
        None => {
            let mut r = http
                .put(blob_url(container, name, ""))
                .header("x-ms-blob-type", "BlockBlob")
                .header("Content-MD5", &md5)
                .body(cipher.clone());
            if let Some(iv) = &iv_meta {
                r = r.header("x-ms-meta-IV", iv);
            }
            let resp = r.send().await.unwrap();
            assert_eq!(
                resp.status().as_u16(),
                201,
                "{}",
                resp.text().await.unwrap()
            );
        }
        Some(bs) => {
            let mut ids = Vec::new();
            for (i, chunk) in cipher.chunks(bs).enumerate() {
                let id = B64.encode(format!("block-{i:06}"));
                let u = blob_url(
                    container,
                    name,
                    &format!(
                        "&comp=block&blockid={}",
                        percent_encoding::utf8_percent_encode(
                            &id,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    ),
                );
                let resp = http.put(u).body(chunk.to_vec()).send().await.unwrap();
                assert_eq!(
                    resp.status().as_u16(),
                    201,
                    "{}",
                    resp.text().await.unwrap()
                );
                ids.push(id);
            }
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>{}</BlockList>",
                ids.iter()
                    .map(|i| format!("<Latest>{i}</Latest>"))
                    .collect::<String>()
            );
            let mut r = http
                .put(blob_url(container, name, "&comp=blocklist"))
                .header("x-ms-blob-content-md5", &md5)
                .body(xml);
            if let Some(iv) = &iv_meta {
                r = r.header("x-ms-meta-IV", iv);
            }
            let resp = r.send().await.unwrap();
            assert_eq!(
                resp.status().as_u16(),
                201,
                "{}",
                resp.text().await.unwrap()
            );
        }
    }
    if snapshot {
        let resp = http
            .put(blob_url(container, name, "&comp=snapshot"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
    }
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn gid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An SPFolder and its SPListItem; `path` is under the library root.
fn folder_xml(t: &Target, id: &str, path: &str, parent: &str, int_id: u32, time: &str) -> String {
    let (w, l, wu, lib) = (&t.web, &t.list, t.web_url(), &t.lib_url);
    let name = path.rsplit('/').next().unwrap();
    let dir = path
        .rsplit_once('/')
        .map(|(d, _)| format!("/{d}"))
        .unwrap_or_default();
    let li = gid();
    format!(
        r#"<SPObject Id="{id}" ObjectType="SPFolder" ParentId="{parent}" ParentWebId="{w}" ParentWebUrl="{wu}" Url="{su}">
  <Folder Id="{id}" Url="{wr}" Name="{n}" ParentFolderId="{parent}" ParentWebId="{w}" ParentWebUrl="{wu}" ContainingDocumentLibrary="{l}" ListItemIntId="{int_id}" TimeCreated="{time}" TimeLastModified="{time}" Author="1" ModifiedBy="1" SortBehavior="1" />
</SPObject>
<SPObject Id="{li}" ObjectType="SPListItem" ParentId="{l}" ParentWebId="{w}" ParentWebUrl="{wu}" Url="{su}">
  <ListItem FileUrl="{wr}" DocType="Folder" ParentFolderId="{parent}" Order="{o}" Id="{li}" ParentWebId="{w}" ParentListId="{l}" Name="{n}" DirName="{dn}" IntId="{int_id}" DocId="{id}" Version="1.0" ContentTypeId="0x0120" Author="1" ModifiedBy="1" TimeCreated="{time}" TimeLastModified="{time}" ModerationStatus="Approved"><Fields /></ListItem>
</SPObject>
"#,
        su = esc(&format!("{wu}/{lib}/{path}")),
        wr = esc(&format!("{lib}/{path}")),
        n = esc(name),
        o = int_id * 100,
        dn = esc(&format!("sites/{}/{lib}{dir}", t.site)),
    )
}

/// One version of a file: (label, blob name, plaintext size, time).
struct Ver<'a>(&'a str, &'a str, usize, &'a str);

#[allow(clippy::too_many_arguments)]
/// An SPFile (layout A when `versions` has more than one entry, else B) and, unless
/// `with_item` is false, its SPListItem. `dirname_slash` writes DirName with a leading '/'.
fn file_xml(
    t: &Target,
    id: &str,
    path: &str,
    parent: &str,
    int_id: u32,
    versions: &[Ver<'_>],
    with_item: bool,
    dirname_slash: bool,
) -> String {
    let (w, l, wu, lib) = (&t.web, &t.list, t.web_url(), &t.lib_url);
    let name = path.rsplit('/').next().unwrap();
    let dir = path
        .rsplit_once('/')
        .map(|(d, _)| format!("/{d}"))
        .unwrap_or_default();
    let su = esc(&format!("{wu}/{lib}/{path}"));
    let wr = esc(&format!("{lib}/{path}"));
    let n = esc(name);
    let cur = versions.last().unwrap();
    let common = format!(
        r#"Url="{wr}" Id="{id}" ParentWebId="{w}" ParentWebUrl="{wu}" Name="{n}" ListItemIntId="{int_id}" ListId="{l}" ParentId="{parent}" TimeCreated="{}" Author="1" ModifiedBy="1""#,
        versions[0].3
    );
    let file = if versions.len() == 1 {
        format!(
            r#"<File {common} TimeLastModified="{}" Version="{}" FileValue="{}" FileSize="{}" />"#,
            cur.3, cur.0, cur.1, cur.2
        )
    } else {
        let vs: String = versions
            .iter()
            .map(|v| format!(r#"<File {common} TimeLastModified="{}" Version="{}" FileValue="{}" FileSize="{}" />"#, v.3, v.0, v.1, v.2))
            .collect();
        format!(
            r#"<File {common} TimeLastModified="{}" Version="{}"><Versions>{vs}</Versions></File>"#,
            cur.3, cur.0
        )
    };
    let mut s = format!(
        r#"<SPObject Id="{id}" ObjectType="SPFile" ParentId="{parent}" ParentWebId="{w}" ParentWebUrl="{wu}" Url="{su}">{file}</SPObject>"#
    );
    if with_item {
        let li = gid();
        let dn = format!(
            "{}sites/{}/{lib}{dir}",
            if dirname_slash { "/" } else { "" },
            t.site
        );
        s.push_str(&format!(
            r#"<SPObject Id="{li}" ObjectType="SPListItem" ParentId="{l}" ParentWebId="{w}" ParentWebUrl="{wu}" Url="{su}">
  <ListItem FileUrl="{wr}" DocType="File" ParentFolderId="{parent}" Order="{o}" Id="{li}" ParentWebId="{w}" ParentListId="{l}" Name="{n}" DirName="{dn}" IntId="{int_id}" DocId="{id}" Version="{v}" ContentTypeId="0x0101" Author="1" ModifiedBy="1" TimeCreated="{t0}" TimeLastModified="{t1}" ModerationStatus="Approved"><Fields /></ListItem>
</SPObject>
"#,
            o = int_id * 100,
            dn = esc(&dn),
            v = cur.0,
            t0 = versions[0].3,
            t1 = cur.3,
        ));
    }
    s
}

/// The library root folder and the library, re-declared with their real ids (reference §6.10).
fn library_xml(t: &Target) -> String {
    let (w, l, wu, lib) = (&t.web, &t.list, t.web_url(), &t.lib_url);
    format!(
        r#"<SPObject Id="{rf}" ObjectType="SPFolder" ParentId="{wr}" ParentWebId="{w}" ParentWebUrl="{wu}" Url="{wu}/{lib}">
  <Folder Id="{rf}" Url="{lib}" Name="{lib}" ParentFolderId="{wr}" ParentWebId="{w}" ParentWebUrl="{wu}" ContainingDocumentLibrary="{l}" TimeCreated="2024-01-01T00:00:00" TimeLastModified="2024-01-01T00:00:00" SortBehavior="1" />
</SPObject>
<SPObject Id="{l}" ObjectType="SPDocumentLibrary" ParentId="{w}" ParentWebId="{w}" ParentWebUrl="{wu}" Url="{wu}/{lib}">
  <DocumentLibrary Id="{l}" BaseTemplate="DocumentLibrary" RootFolderId="{rf}" RootFolderUrl="{wu}/{lib}" ParentWebId="{w}" ParentWebUrl="{wu}" Title="Documents"><ContentTypes /></DocumentLibrary>
</SPObject>
"#,
        rf = t.root_folder,
        wr = t.web_root,
    )
}

/// The eight package XMLs around `objects`.
fn package(t: &Target, objects: &str) -> Vec<(String, String)> {
    let h = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";
    let wu = t.web_url();
    vec![
        ("Manifest.xml".into(), format!("{h}<SPObjects xmlns=\"urn:deployment-manifest-schema\">{objects}</SPObjects>")),
        (
            "ExportSettings.xml".into(),
            format!("{h}<ExportSettings xmlns=\"urn:deployment-exportsettings-schema\" SiteUrl=\"http://emulator{wu}\" FileLocation=\"C:\\Temp\" IncludeSecurity=\"None\" IncludeVersions=\"All\" SourceType=\"FileShare\" IgnoreWebParts=\"true\"><ExportObjects><DeploymentObject Id=\"{}\" Type=\"List\" ParentId=\"{}\" /></ExportObjects></ExportSettings>", t.list, t.web),
        ),
        (
            "SystemData.xml".into(),
            format!("{h}<SystemData xmlns=\"urn:deployment-systemdata-schema\"><SchemaVersion Version=\"15.0.0.0\" Build=\"16.0.3111.1200\" DatabaseVersion=\"11552\" SiteVersion=\"15\" /><ManifestFiles><ManifestFile Name=\"Manifest.xml\" /></ManifestFiles><SystemObjects /><RootWebOnlyLists /></SystemData>"),
        ),
        (
            "UserGroup.xml".into(),
            format!("{h}<UserGroupMap xmlns=\"urn:deployment-usergroupmap-schema\"><Users><User Id=\"1\" Name=\"Alice\" Login=\"i:0#.f|membership|alice@contoso.com\" Email=\"alice@contoso.com\" IsDomainGroup=\"false\" IsSiteAdmin=\"false\" SystemId=\"YWxpY2U=\" IsDeleted=\"false\" Flags=\"0\" /></Users><Groups /></UserGroupMap>"),
        ),
        ("Requirements.xml".into(), format!("{h}<Requirements xmlns=\"urn:deployment-requirements-schema\" />")),
        (
            "RootObjectMap.xml".into(),
            format!("{h}<RootObjects xmlns=\"urn:deployment-rootobjectmap-schema\"><RootObject Id=\"{}\" Type=\"List\" ParentId=\"{}\" WebUrl=\"{wu}\" Url=\"{wu}/{}\" IsDependency=\"false\" /></RootObjects>", t.list, t.web, t.lib_url),
        ),
        ("LookupListMap.xml".into(), format!("{h}<LookupLists xmlns=\"urn:deployment-lookuplistmap-schema\" />")),
        ("ViewFormsList.xml".into(), format!("{h}<ViewFormsList xmlns=\"urn:deployment-viewformlist-schema\" />")),
    ]
}

async fn upload_xmls(
    http: &reqwest::Client,
    c: &Containers,
    xmls: &[(String, String)],
    snapshot: bool,
    bad_iv_for: Option<&str>,
) {
    for (name, xml) in xmls {
        let iv = if Some(name.as_str()) == bad_iv_for {
            Iv::Malformed
        } else {
            Iv::Good
        };
        upload(
            http,
            &c.meta,
            name,
            &c.key,
            xml.as_bytes(),
            None,
            snapshot,
            iv,
        )
        .await;
    }
}

async fn create_job(api: &Api, t: &Target, c: &Containers, queue: Option<&str>) -> String {
    let body = serde_json::json!({
        "gWebId": t.web,
        "azureContainerSourceUri": c.data,
        "azureContainerManifestUri": c.meta,
        "azureQueueReportUri": queue,
        "options": {"AES256CBCKey": c.key.to_base64()},
    });
    let (s, v) = api
        .post("/_api/site/CreateMigrationJobEncrypted", NOMETA, body)
        .await;
    assert_eq!(s, 200, "{v}");
    v["value"].as_str().unwrap().to_string()
}

fn field<'a>(ev: &'a Value, k: &str) -> &'a str {
    ev[k].as_str().unwrap_or("")
}

/// Polls GetMigrationJobProgress until JobEnd; returns every event.
async fn wait_job(api: &Api, job: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut token = "0".to_string();
    for _ in 0..600 {
        let (s, v) = api
            .get(
                &format!("/_api/site/GetMigrationJobProgress(jobId='{job}',nextToken={token})"),
                NOMETA,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        for l in v["Logs"].as_array().unwrap() {
            events.push(serde_json::from_str::<Value>(l.as_str().unwrap()).unwrap());
        }
        token = v["NextToken"].as_str().unwrap().to_string();
        if events.iter().any(|e| field(e, "Event") == "JobEnd") {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {job} did not end: {events:?}");
}

async fn import(
    api: &Api,
    t: &Target,
    objects: &str,
    files: &[(&str, Vec<u8>)],
) -> (String, Vec<Value>) {
    let c = provision(api).await;
    for (name, data) in files {
        upload(&api.http, &c.data, name, &c.key, data, None, true, Iv::Good).await;
    }
    upload_xmls(&api.http, &c, &package(t, objects), true, None).await;
    let job = create_job(api, t, &c, None).await;
    let ev = wait_job(api, &job).await;
    (job, ev)
}

fn errors_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| field(e, "Event") == kind)
        .collect()
}

fn job_end(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| field(e, "Event") == "JobEnd")
        .expect("JobEnd")
}

/// Every file and folder under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

fn lib_dir(root: &Path, site: &str) -> PathBuf {
    root.join("sites").join(site).join("Documents")
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_token_gets_401_in_spo_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let http = reqwest::Client::new();
    for auth in [Some("Bearer nope"), None, Some("Basic dGVzdC10b2tlbg==")] {
        let mut r = http
            .get(format!("{}/_api/web", h.site_url("a")))
            .header("Accept", VERBOSE);
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        let v: Value = json_of(resp).await;
        assert!(
            v["error"]["code"]
                .as_str()
                .unwrap()
                .starts_with("-2147024891"),
            "{v}"
        );
        assert_eq!(v["error"]["message"]["lang"], "en-US");
    }
    let api = Api::new(&h, "a");
    let (s, v) = api.get("/_api/web", VERBOSE).await;
    assert_eq!(s, 200);
    assert_eq!(v["d"]["ServerRelativeUrl"], "/sites/a");
    let (_, v) = api
        .get("/_api/web/lists/GetByTitle('Documents')", VERBOSE)
        .await;
    assert_eq!(
        v["d"]["RootFolder"]["ServerRelativeUrl"], "/sites/a/Shared Documents",
        "Documents lives at Shared Documents"
    );
    let (_, v) = api.post("/_api/contextinfo", VERBOSE, Value::Null).await;
    assert!(v["d"]["GetContextWebInformation"]["FormDigestValue"]
        .as_str()
        .unwrap()
        .starts_with("0x"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_gives_two_fresh_containers_a_32_byte_key_and_a_queue() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let api = Api::new(&h, "p");
    let (s, v) = api
        .post(
            "/_api/site/ProvisionMigrationContainers",
            VERBOSE,
            Value::Null,
        )
        .await;
    assert_eq!(s, 200);
    let info = &v["d"]["ProvisionMigrationContainers"];
    let (d, m) = (
        info["DataContainerUri"].as_str().unwrap(),
        info["MetadataContainerUri"].as_str().unwrap(),
    );
    assert_ne!(d.split('?').next(), m.split('?').next());
    assert_eq!(
        B64.decode(info["EncryptionKey"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    let sas = Sas::parse(d.split_once('?').unwrap().1);
    assert_eq!(
        (sas.sp.as_str(), sas.sr.as_str(), sas.sv.as_str()),
        ("rw", "c", wire::SAS_VERSION)
    );
    let again = provision(&api).await;
    assert_ne!(
        again.data.split('?').next(),
        d.split('?').next(),
        "containers are never reused"
    );
    let q = provision_queue(&api).await;
    assert_eq!(Sas::parse(q.split_once('?').unwrap().1).sp, "raup");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_expired_or_foreign_sas_gets_403_and_containers_are_not_listable() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let api = Api::new(&h, "s");
    let c = provision(&api).await;
    let http = &api.http;
    let put = |url: String| {
        http.put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body("x")
            .send()
    };

    let bad_sig = blob_url(&c.data, "a.dat", "").replace("sig=", "sig=AAAA");
    let r = put(bad_sig).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.headers()["x-ms-error-code"], "AuthenticationFailed");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<Code>AuthenticationFailed</Code>"));

    let container = c
        .data
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let canonical = format!("/blob/{}/{container}", h.storage_account());
    let mut expired = Sas {
        sv: wire::SAS_VERSION.into(),
        sr: "c".into(),
        sp: "rw".into(),
        st: "2020-01-01T00:00:00Z".into(),
        se: "2020-01-02T00:00:00Z".into(),
        spr: "https,http".into(),
        sig: String::new(),
    };
    h.sign_sas(&mut expired, &canonical);
    let base = c.data.split('?').next().unwrap();
    let r = put(format!("{base}/a.dat?{}", expired.to_query()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "expired");
    let mut future = expired.clone();
    future.st = "2999-01-01T00:00:00Z".into();
    future.se = "2999-01-02T00:00:00Z".into();
    h.sign_sas(&mut future, &canonical);
    assert_eq!(
        put(format!("{base}/a.dat?{}", future.to_query()))
            .await
            .unwrap()
            .status()
            .as_u16(),
        403,
        "not yet valid"
    );

    // The data container's SAS used on the manifest container.
    let other = c.meta.split('?').next().unwrap();
    let q = c.data.split_once('?').unwrap().1;
    assert_eq!(
        put(format!("{other}/a.dat?{q}"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        403,
        "foreign container"
    );

    // A read-only SAS cannot write.
    let mut ro = Sas {
        sv: wire::SAS_VERSION.into(),
        sr: "c".into(),
        sp: "r".into(),
        se: "2999-01-01T00:00:00Z".into(),
        ..Default::default()
    };
    h.sign_sas(&mut ro, &canonical);
    let r = put(format!("{base}/a.dat?{}", ro.to_query()))
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["x-ms-error-code"].to_str().unwrap()
        ),
        (403, "AuthorizationPermissionMismatch")
    );

    for extra in ["&restype=container&comp=list", "&comp=list"] {
        let r = http.get(format!("{}{extra}", c.data)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "list {extra}");
        assert_eq!(
            r.headers()["x-ms-error-code"],
            "AuthorizationPermissionMismatch"
        );
    }
    let r = http
        .delete(blob_url(&c.data, "a.dat", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "no delete permission");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_round_trip_with_metadata_snapshots_md5_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let api = Api::new(&h, "b");
    let c = provision(&api).await;
    let http = &api.http;
    let url = blob_url(&c.data, "dir/ü 1.dat", "");
    let body = b"first body".to_vec();
    let md5 = B64.encode(Md5::digest(&body));
    let r = http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-meta-IV", "aXY=")
        .header("Content-MD5", &md5)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .header("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==")
        .body("other")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["x-ms-error-code"].to_str().unwrap()
        ),
        (400, "Md5Mismatch")
    );

    let snap = http
        .put(blob_url(&c.data, "dir/ü 1.dat", "&comp=snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(snap.status().as_u16(), 201);
    let ts = snap.headers()["x-ms-snapshot"]
        .to_str()
        .unwrap()
        .to_string();
    // Rewriting the base blob leaves the snapshot as it was.
    let r = http
        .put(blob_url(&c.data, "dir/ü 1.dat", "&comp=metadata"))
        .header("x-ms-meta-IV", "bmV3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .body("second")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = http.get(&url).send().await.unwrap();
    assert!(
        r.headers().get("x-ms-meta-iv").is_none(),
        "Put Blob replaces metadata"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"second");
    let r = http
        .get(format!(
            "{url}&snapshot={}",
            percent_encoding::utf8_percent_encode(&ts, percent_encoding::NON_ALPHANUMERIC)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-ms-meta-iv"], "aXY=");
    assert_eq!(r.headers()["content-md5"].to_str().unwrap(), md5);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"first body");
    let r = http.head(&url).send().await.unwrap();
    assert_eq!(r.headers()["content-length"], "6");
    assert!(r.headers().contains_key("etag") && r.headers().contains_key("last-modified"));
    assert_eq!(
        http.get(blob_url(&c.data, "missing.dat", ""))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    // Blocks: nothing is visible until the list is committed; Committed reuses committed blocks.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let burl = |extra: &str| blob_url(&c.data, "big.dat", extra);
    let ids: Vec<String> = (0..3).map(|i| B64.encode(format!("b{i}"))).collect();
    for (i, chunk) in big.chunks(1_000_000).enumerate() {
        let r = http
            .put(burl(&format!(
                "&comp=block&blockid={}",
                percent_encoding::utf8_percent_encode(&ids[i], percent_encoding::NON_ALPHANUMERIC)
            )))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    assert_eq!(
        http.get(burl("")).send().await.unwrap().status().as_u16(),
        404,
        "uncommitted blocks are not a blob"
    );
    let xml = format!("<BlockList><Latest>{}</Latest><Uncommitted>{}</Uncommitted><Latest>{}</Latest></BlockList>", ids[0], ids[1], ids[2]);
    let r = http
        .put(burl("&comp=blocklist"))
        .header("x-ms-meta-IV", "aXY=")
        .header("x-ms-blob-content-md5", "bWQ1")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = http.get(burl("")).send().await.unwrap();
    assert_eq!(r.headers()["content-md5"], "bWQ1");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &big[..]);
    let xml = format!(
        "<BlockList><Committed>{}</Committed><Committed>{}</Committed></BlockList>",
        ids[2], ids[0]
    );
    assert_eq!(
        http.put(burl("&comp=blocklist"))
            .body(xml)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    let got = http
        .get(burl(""))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.len(), 2_000_000);
    assert_eq!(&got[..1_000_000], &big[2_000_000..]);
    let r = http
        .put(burl("&comp=blocklist"))
        .body(format!(
            "<BlockList><Uncommitted>{}</Uncommitted></BlockList>",
            ids[1]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        400,
        "uncommitted blocks are discarded on commit"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_messages_put_get_delete_and_reappear_after_visibility_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let api = Api::new(&h, "q");
    let q = provision_queue(&api).await;
    let (base, sas) = q.split_once('?').unwrap();
    let http = &api.http;
    let msgs = |extra: &str| format!("{base}/messages?{sas}{extra}");
    for text in ["one", "two & <three>"] {
        let r = http
            .post(msgs(""))
            .body(format!(
                "<QueueMessage><MessageText>{}</MessageText></QueueMessage>",
                esc(text)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    let peek = http
        .get(msgs("&peekonly=true&numofmessages=32"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        peek.contains("<MessageText>one</MessageText>") && !peek.contains("PopReceipt"),
        "{peek}"
    );
    let got = http
        .get(msgs("&numofmessages=1&visibilitytimeout=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let between = |s: &str, a: &str, b: &str| {
        s.split(a)
            .nth(1)
            .unwrap()
            .split(b)
            .next()
            .unwrap()
            .to_string()
    };
    let (id, receipt) = (
        between(&got, "<MessageId>", "</"),
        between(&got, "<PopReceipt>", "</"),
    );
    assert!(got.contains("<DequeueCount>1</DequeueCount>"));
    let rest = http
        .get(msgs("&numofmessages=32"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        rest.contains("two &amp; &lt;three&gt;") && !rest.contains(">one<"),
        "one is invisible: {rest}"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let again = http
        .get(msgs("&numofmessages=32&visibilitytimeout=30"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        again.contains(">one<") && again.contains("<DequeueCount>2</DequeueCount>"),
        "{again}"
    );
    let stale = http
        .delete(format!(
            "{base}/messages/{id}?{sas}&popreceipt={}",
            percent_encoding::utf8_percent_encode(&receipt, percent_encoding::NON_ALPHANUMERIC)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.status().as_u16(),
        400,
        "an old pop receipt no longer deletes"
    );
    let receipt = between(&again, "<PopReceipt>", "</");
    let del = http
        .delete(format!(
            "{base}/messages/{id}?{sas}&popreceipt={}",
            percent_encoding::utf8_percent_encode(&receipt, percent_encoding::NON_ALPHANUMERIC)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);
    let bad = http
        .get(format!("{base}/messages?{}", sas.replace("sig=", "sig=x")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 403);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_package_imports_bytes_mtimes_events_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let api = Api::new(&h, "proj");
    let t = target(&api, "proj").await;
    let c = provision(&api).await;
    let queue = provision_queue(&api).await;

    let v1: Vec<u8> = b"draft".to_vec();
    let v2: Vec<u8> = (0..(3 << 20) + 123)
        .map(|i: u32| (i * 7 % 253) as u8)
        .collect();
    upload(
        &api.http,
        &c.data,
        "00000001.dat",
        &c.key,
        &v1,
        None,
        true,
        Iv::Good,
    )
    .await;
    upload(
        &api.http,
        &c.data,
        "00000002.dat",
        &c.key,
        &v2,
        Some(1 << 20),
        true,
        Iv::Good,
    )
    .await;
    upload(
        &api.http,
        &c.data,
        "00000003.dat",
        &c.key,
        b"",
        None,
        true,
        Iv::Good,
    )
    .await;
    let (folder, big, empty) = (gid(), gid(), gid());
    let mut objects = library_xml(&t);
    objects.push_str(&folder_xml(
        &t,
        &folder,
        "Berichte ä",
        &t.root_folder,
        1,
        "2023-03-01T08:00:00",
    ));
    objects.push_str(&file_xml(
        &t,
        &big,
        "Berichte ä/Plän ü.bin",
        &folder,
        2,
        &[
            Ver("1.0", "00000001.dat", v1.len(), "2023-03-02T09:00:00"),
            Ver("2.0", "00000002.dat", v2.len(), "2023-03-05T16:30:00.5Z"),
        ],
        true,
        false,
    ));
    objects.push_str(&file_xml(
        &t,
        &empty,
        "empty.txt",
        &t.root_folder,
        3,
        &[Ver("1.0", "00000003.dat", 0, "2022-12-31T23:59:59")],
        true,
        true,
    ));
    upload_xmls(&api.http, &c, &package(&t, &objects), true, None).await;
    let job = create_job(&api, &t, &c, Some(&queue)).await;

    let (s, v) = api
        .post(
            "/_api/site/GetMigrationJobStatus",
            NOMETA,
            serde_json::json!({ "id": job }),
        )
        .await;
    assert_eq!(s, 200);
    assert!([0, 2, 4].contains(&v["value"].as_i64().unwrap()));
    let events = wait_job(&api, &job).await;
    let end = job_end(&events);
    assert_eq!(field(end, "TotalErrors"), "0", "{events:#?}");
    assert_eq!(field(end, "FilesCreated"), "3");
    assert_eq!(field(end, "FilesCreatedIrrespectiveOfVersions"), "2");
    assert_eq!(
        field(end, "BytesProcessedOnlyCurrentVersion"),
        v2.len().to_string()
    );
    let names: Vec<&str> = events.iter().map(|e| field(e, "Event")).collect();
    assert_eq!(&names[..3], &["JobQueued", "JobLogFileCreate", "JobStart"]);
    assert!(
        events
            .iter()
            .all(|e| e.as_object().unwrap().values().all(Value::is_string)),
        "all values are strings"
    );
    assert!(events
        .iter()
        .all(|e| field(e, "JobId") == job && field(e, "MigrationDirection") == "Import"));

    // The tree: current bytes, mtime = TimeLastModified, nothing else.
    let lib = lib_dir(dir.path(), "proj");
    assert_eq!(
        tree(&lib),
        vec!["Berichte ä", "Berichte ä/Plän ü.bin", "empty.txt"]
    );
    assert_eq!(
        std::fs::read(lib.join("Berichte ä/Plän ü.bin")).unwrap(),
        v2
    );
    assert_eq!(std::fs::read(lib.join("empty.txt")).unwrap().len(), 0);
    let mtime = |p: &str| {
        filetime::FileTime::from_last_modification_time(&std::fs::metadata(lib.join(p)).unwrap())
    };
    assert_eq!(mtime("Berichte ä/Plän ü.bin").unix_seconds(), 1678033800);
    assert_eq!(mtime("Berichte ä/Plän ü.bin").nanoseconds(), 500_000_000);
    assert_eq!(mtime("empty.txt").unix_seconds(), 1672531199);
    assert_eq!(mtime("Berichte ä").unix_seconds(), 1677657600);
    let recs = emulator::import_records(dir.path()).unwrap();
    assert_eq!(recs.len(), 3);
    let rec = recs
        .iter()
        .find(|r| r.object_id.to_string() == big)
        .unwrap();
    assert_eq!(
        (rec.kind.as_str(), rec.version.as_str(), rec.bytes),
        ("File", "2.0", v2.len() as u64)
    );
    assert_eq!(
        rec.server_relative_url,
        "/sites/proj/Shared Documents/Berichte ä/Plän ü.bin"
    );

    // The same events through the queue, each in the encrypted envelope.
    let (qbase, qsas) = queue.split_once('?').unwrap();
    let mut from_queue = Vec::new();
    loop {
        let xml = api
            .http
            .get(format!("{qbase}/messages?{qsas}&numofmessages=32"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let texts: Vec<&str> = xml
            .split("<MessageText>")
            .skip(1)
            .map(|s| s.split("</MessageText>").next().unwrap())
            .collect();
        if texts.is_empty() {
            break;
        }
        for text in texts {
            let env: wire::EncryptedEnvelope =
                serde_json::from_slice(&B64.decode(text).unwrap()).unwrap();
            assert_eq!(
                (env.label.as_str(), env.job_id.as_str()),
                ("Encrypted", job.as_str())
            );
            let iv = crypto::iv_from_base64(&env.iv).unwrap();
            let plain = crypto::decrypt(&c.key, &iv, &B64.decode(&env.content).unwrap()).unwrap();
            from_queue.push(serde_json::from_slice::<Value>(&plain).unwrap());
        }
    }
    assert_eq!(from_queue.len(), events.len());
    assert!(from_queue
        .iter()
        .any(|e| field(e, "Event") == "JobEnd" && field(e, "TotalErrors") == "0"));

    // Both progress id forms and the verbose shape; an unknown job is SPO's "Job not found".
    let (s, v) = api
        .get(
            &format!("/_api/site/GetMigrationJobProgress(jobId=guid'{job}',nextToken=2)"),
            VERBOSE,
        )
        .await;
    assert_eq!(s, 200);
    let p = &v["d"]["GetMigrationJobProgress"];
    assert_eq!(
        p["Logs"]["results"].as_array().unwrap().len(),
        events.len() - 2
    );
    assert_eq!(p["NextToken"], events.len().to_string());
    let (s, v) = api
        .get(
            &format!(
                "/_api/site/GetMigrationJobProgress(jobId='{}',nextToken=0)",
                gid()
            ),
            VERBOSE,
        )
        .await;
    assert_eq!(s, 500);
    assert!(v["error"]["code"]
        .as_str()
        .unwrap()
        .starts_with("-2147213145"));
    let (_, v) = api
        .get(
            &format!("/_api/site/GetMigrationJobStatus(id=guid'{job}')"),
            VERBOSE,
        )
        .await;
    assert_eq!(
        v["d"]["GetMigrationJobStatus"], 0,
        "a finished job reads as None"
    );

    // Import-{job}-1.log, encrypted with the job key, IV in metadata.
    let r = api
        .http
        .get(blob_url(&c.meta, &format!("Import-{job}-1.log"), ""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let iv = crypto::iv_from_base64(r.headers()["x-ms-meta-iv"].to_str().unwrap()).unwrap();
    let log = String::from_utf8(crypto::decrypt(&c.key, &iv, &r.bytes().await.unwrap()).unwrap())
        .unwrap();
    assert!(
        log.lines().count() >= events.len() && log.contains("JobEnd"),
        "{log}"
    );
    for ext in ["err", "wrn"] {
        assert_eq!(
            api.http
                .head(blob_url(&c.meta, &format!("Import-{job}-1.{ext}"), ""))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }
    assert!(dir.path().join("_emulator/state.db").exists());
    assert!(
        !dir.path().join("_emulator/staging").join(&job).exists(),
        "staging is cleaned up"
    );
    h.shutdown().await;
}

/// How an invalid package is broken.
#[derive(Clone, Copy, Debug)]
enum Broken {
    UserGroupMapName,
    WrongNamespace,
    MissingParent,
    FileWithoutItem,
    ContentBadIv,
    ContentNoIv,
    ManifestBadIv,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_packages_end_with_the_right_error_and_leave_the_tree_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let cases = [
        (
            Broken::UserGroupMapName,
            "JobFatalError",
            "Unable to download UserGroup.xml",
        ),
        (Broken::WrongNamespace, "JobFatalError", "namespace"),
        (
            Broken::MissingParent,
            "JobError",
            "The parent folder wasn't migrated",
        ),
        (Broken::FileWithoutItem, "JobError", "SPListItem"),
        (Broken::ContentBadIv, "JobError", "IV"),
        (Broken::ContentNoIv, "JobError", "no IV metadata"),
        (
            Broken::ManifestBadIv,
            "JobFatalError",
            "Unable to decrypt Manifest.xml",
        ),
    ];
    for (i, (case, event, message)) in cases.into_iter().enumerate() {
        let site = format!("bad{i}");
        let api = Api::new(&h, &site);
        let t = target(&api, &site).await;
        let c = provision(&api).await;
        let folder = gid();
        let mut objects = library_xml(&t);
        let content_iv = match case {
            Broken::ContentBadIv => Iv::Malformed,
            Broken::ContentNoIv => Iv::Missing,
            _ => Iv::Good,
        };
        upload(
            &api.http, &c.data, "1.dat", &c.key, b"hello", None, true, content_iv,
        )
        .await;
        match case {
            Broken::MissingParent => {
                objects.push_str(&file_xml(
                    &t,
                    &gid(),
                    "Nowhere/a.txt",
                    &gid(),
                    1,
                    &[Ver("1.0", "1.dat", 5, "2024-01-01T00:00:00")],
                    true,
                    false,
                ));
            }
            Broken::FileWithoutItem => {
                objects.push_str(&file_xml(
                    &t,
                    &gid(),
                    "a.txt",
                    &t.root_folder,
                    1,
                    &[Ver("1.0", "1.dat", 5, "2024-01-01T00:00:00")],
                    false,
                    false,
                ));
            }
            Broken::ContentBadIv | Broken::ContentNoIv => {
                objects.push_str(&file_xml(
                    &t,
                    &gid(),
                    "a.txt",
                    &t.root_folder,
                    1,
                    &[Ver("1.0", "1.dat", 5, "2024-01-01T00:00:00")],
                    true,
                    false,
                ));
            }
            _ => {
                // Fatal cases carry a valid folder and file: neither may appear.
                objects.push_str(&folder_xml(
                    &t,
                    &folder,
                    "F",
                    &t.root_folder,
                    1,
                    "2024-01-01T00:00:00",
                ));
                objects.push_str(&file_xml(
                    &t,
                    &gid(),
                    "F/a.txt",
                    &folder,
                    2,
                    &[Ver("1.0", "1.dat", 5, "2024-01-01T00:00:00")],
                    true,
                    false,
                ));
            }
        }
        let mut xmls = package(&t, &objects);
        match case {
            Broken::UserGroupMapName => xmls[3].0 = "UserGroupMap.xml".into(),
            Broken::WrongNamespace => {
                xmls[0].1 = xmls[0]
                    .1
                    .replace("urn:deployment-manifest-schema", "urn:deployment-manifest")
            }
            _ => {}
        }
        let bad_iv_for = matches!(case, Broken::ManifestBadIv).then_some("Manifest.xml");
        upload_xmls(&api.http, &c, &xmls, true, bad_iv_for).await;
        let job = create_job(&api, &t, &c, None).await;
        let events = wait_job(&api, &job).await;
        let errs = errors_of(&events, event);
        assert_eq!(errs.len(), 1, "{case:?}: {events:#?}");
        assert!(
            field(errs[0], "Message").contains(message),
            "{case:?}: {}",
            field(errs[0], "Message")
        );
        assert!(field(errs[0], "ErrorCode").starts_with('-'), "{case:?}");
        if event == "JobError" {
            assert!(
                field(errs[0], "Url").starts_with(&format!("/sites/{site}/Shared Documents/")),
                "{case:?}: server-relative Url"
            );
            assert!(!field(errs[0], "Id").is_empty());
        } else {
            assert_eq!(field(errs[0], "Url"), "", "fatal errors carry no object");
        }
        assert!(
            field(job_end(&events), "TotalErrors")
                .parse::<u32>()
                .unwrap()
                >= 1
        );
        assert_eq!(
            tree(&lib_dir(dir.path(), &site)),
            Vec::<String>::new(),
            "{case:?} left the tree untouched"
        );
    }
    assert!(emulator::import_records(dir.path()).unwrap().is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_requires_sites_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(
        dir.path(),
        true,
        FaultProfile::default(),
        vec![("strict".into(), "Documents".into())],
    )
    .await;
    let (s, _) = Api::new(&h, "nosuch").get("/_api/web", NOMETA).await;
    assert_eq!(s, 404, "strict: unknown sites do not exist");
    let api = Api::new(&h, "strict");
    let (s, v) = api.get("/_api/web/lists/GetByTitle('Other')", NOMETA).await;
    assert_eq!(s, 404, "{v}");
    let t = target(&api, "strict").await;

    // Content without a snapshot: JobError for that file.
    let c = provision(&api).await;
    upload(
        &api.http,
        &c.data,
        "1.dat",
        &c.key,
        b"hi",
        None,
        false,
        Iv::Good,
    )
    .await;
    let objects = library_xml(&t)
        + &file_xml(
            &t,
            &gid(),
            "a.txt",
            &t.root_folder,
            1,
            &[Ver("1.0", "1.dat", 2, "2024-01-01T00:00:00")],
            true,
            false,
        );
    upload_xmls(&api.http, &c, &package(&t, &objects), true, None).await;
    let events = wait_job(&api, &create_job(&api, &t, &c, None).await).await;
    let errs = errors_of(&events, "JobError");
    assert_eq!(errs.len(), 1, "{events:#?}");
    assert!(field(errs[0], "Message").contains("snapshot"));

    // Package XMLs without snapshots: the job is fatal.
    let c = provision(&api).await;
    upload(
        &api.http,
        &c.data,
        "1.dat",
        &c.key,
        b"hi",
        None,
        true,
        Iv::Good,
    )
    .await;
    upload_xmls(&api.http, &c, &package(&t, &objects), false, None).await;
    let job = create_job(&api, &t, &c, None).await;
    let events = wait_job(&api, &job).await;
    assert!(field(errors_of(&events, "JobFatalError")[0], "Message").contains("snapshot"));
    assert_eq!(tree(&lib_dir(dir.path(), "strict")), Vec::<String>::new());

    // Strict containers are single-use.
    let body = serde_json::json!({"gWebId": t.web, "azureContainerSourceUri": c.data, "azureContainerManifestUri": c.meta, "options": {"AES256CBCKey": c.key.to_base64()}});
    let (s, _) = api
        .post("/_api/site/CreateMigrationJobEncrypted", NOMETA, body)
        .await;
    assert_eq!(s, 400);
    // Unencrypted jobs are refused for SPO-provisioned containers.
    let body = serde_json::json!({"gWebId": t.web, "azureContainerSourceUri": c.data, "azureContainerManifestUri": c.meta});
    let (s, v) = api
        .post("/_api/site/CreateMigrationJob", NOMETA, body)
        .await;
    assert_eq!(s, 400, "{v}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_profiles_answer_with_the_configured_status_codes() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    let h = start(
        dir.path(),
        false,
        FaultProfile {
            throttle_rate: 1.0,
            retry_after_secs: 7,
            seed: Some(1),
            ..Default::default()
        },
        vec![],
    )
    .await;
    let r = http
        .get(format!("{}/_api/web", h.site_url("f")))
        .bearer_auth("test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert!(
        json_of(r).await["error"]["code"].is_string(),
        "SPO error shape"
    );
    let r = http
        .get(format!("{}/blob/{}/c/b", h.base_url(), h.storage_account()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["x-ms-error-code"], "ServerBusy");
    h.shutdown().await;

    let h = start(
        dir.path(),
        false,
        FaultProfile {
            unavailable_rate: 1.0,
            scope: FaultScope::Storage,
            ..Default::default()
        },
        vec![],
    )
    .await;
    let r = http
        .get(format!("{}/blob/{}/c/b", h.base_url(), h.storage_account()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().unwrap()
        ),
        (503, "1")
    );
    let r = http
        .get(format!("{}/_api/web", h.site_url("f")))
        .bearer_auth("test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "REST is out of the Storage scope");
    h.shutdown().await;

    let h = start(
        dir.path(),
        false,
        FaultProfile {
            max_requests_per_sec: Some(5),
            ..Default::default()
        },
        vec![],
    )
    .await;
    let mut codes = Vec::new();
    for _ in 0..20 {
        let r = http
            .get(format!("{}/_api/web", h.site_url("f")))
            .bearer_auth("test-token")
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 429 {
            assert_eq!(r.headers()["retry-after"], "1");
        }
        codes.push(r.status().as_u16());
    }
    let throttled = codes.iter().filter(|c| **c == 429).count();
    assert!(
        throttled >= 10 && codes.iter().filter(|c| **c == 200).count() >= 5,
        "{codes:?}"
    );
    h.shutdown().await;

    let h = start(
        dir.path(),
        false,
        FaultProfile {
            drop_rate: 1.0,
            ..Default::default()
        },
        vec![],
    )
    .await;
    let r = http
        .get(format!("{}/_api/web", h.site_url("f")))
        .bearer_auth("test-token")
        .send()
        .await;
    assert!(r.is_err(), "the connection is closed without a response");
    h.shutdown().await;

    let h = start(
        dir.path(),
        false,
        FaultProfile {
            latency_ms: 150,
            ..Default::default()
        },
        vec![],
    )
    .await;
    let t0 = std::time::Instant::now();
    http.get(format!("{}/_api/web", h.site_url("f")))
        .bearer_auth("test-token")
        .send()
        .await
        .unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(150));
    h.shutdown().await;

    // fail_items: that item alone gets a JobError and is not written.
    let h = start(
        dir.path(),
        false,
        FaultProfile {
            fail_items: vec!["Docs2/b.txt".into()],
            ..Default::default()
        },
        vec![],
    )
    .await;
    let api = Api::new(&h, "faulty");
    let t = target(&api, "faulty").await;
    let folder = gid();
    let objects = library_xml(&t)
        + &folder_xml(
            &t,
            &folder,
            "Docs2",
            &t.root_folder,
            1,
            "2024-01-01T00:00:00",
        )
        + &file_xml(
            &t,
            &gid(),
            "Docs2/a.txt",
            &folder,
            2,
            &[Ver("1.0", "a.dat", 1, "2024-01-01T00:00:00")],
            true,
            false,
        )
        + &file_xml(
            &t,
            &gid(),
            "Docs2/b.txt",
            &folder,
            3,
            &[Ver("1.0", "b.dat", 1, "2024-01-01T00:00:00")],
            true,
            false,
        );
    let (_, events) = import(
        &api,
        &t,
        &objects,
        &[("a.dat", b"a".to_vec()), ("b.dat", b"b".to_vec())],
    )
    .await;
    let errs = errors_of(&events, "JobError");
    assert_eq!(errs.len(), 1, "{events:#?}");
    assert_eq!(
        field(errs[0], "Url"),
        "/sites/faulty/Shared Documents/Docs2/b.txt"
    );
    assert_eq!(field(errs[0], "ErrorCode"), "-2147024891");
    assert!(field(errs[0], "Message").starts_with("Fault injected by the emulator for"));
    assert_eq!(
        tree(&lib_dir(dir.path(), "faulty")),
        vec!["Docs2", "Docs2/a.txt"]
    );
    h.shutdown().await;

    let profile = dir.path().join("faults.json");
    std::fs::write(
        &profile,
        r#"{"throttle_rate":0.25,"scope":"Rest","fail_items":["x"]}"#,
    )
    .unwrap();
    let p = emulator::load_fault_profile(&profile).unwrap();
    assert_eq!(
        (p.throttle_rate, p.scope, p.fail_items.len()),
        (0.25, FaultScope::Rest, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reimport_overwrites_and_a_new_id_at_an_existing_url_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let api = Api::new(&h, "re");
    let t = target(&api, "re").await;
    let id = gid();
    let objects = |id: &str, int_id: u32| {
        library_xml(&t)
            + &file_xml(
                &t,
                id,
                "same.txt",
                &t.root_folder,
                int_id,
                &[Ver("1.0", "f.dat", 5, "2024-02-02T02:02:02")],
                true,
                false,
            )
    };
    let (_, ev) = import(&api, &t, &objects(&id, 1), &[("f.dat", b"first".to_vec())]).await;
    assert_eq!(field(job_end(&ev), "TotalErrors"), "0", "{ev:#?}");
    let (_, ev) = import(&api, &t, &objects(&id, 1), &[("f.dat", b"again".to_vec())]).await;
    assert_eq!(field(job_end(&ev), "TotalErrors"), "0", "{ev:#?}");
    let lib = lib_dir(dir.path(), "re");
    assert_eq!(std::fs::read(lib.join("same.txt")).unwrap(), b"again");
    let recs = emulator::import_records(dir.path()).unwrap();
    assert_eq!(recs.len(), 2);
    assert!(recs
        .iter()
        .all(|r| r.object_id.to_string() == id && r.kind == "File"));
    assert_ne!(recs[0].job_id, recs[1].job_id);

    let (_, ev) = import(
        &api,
        &t,
        &objects(&gid(), 9),
        &[("f.dat", b"other".to_vec())],
    )
    .await;
    let errs = errors_of(&ev, "JobError");
    assert_eq!(errs.len(), 1, "{ev:#?}");
    assert_eq!(field(errs[0], "ErrorCode"), "-2147024713");
    assert!(field(errs[0], "Message").contains("different Id"));
    assert_eq!(
        std::fs::read(lib.join("same.txt")).unwrap(),
        b"again",
        "the conflicting file was not written"
    );

    // Ids persist across restarts on the same root.
    h.shutdown().await;
    let h = start(dir.path(), false, FaultProfile::default(), vec![]).await;
    let again = target(&Api::new(&h, "re"), "re").await;
    assert_eq!((again.web, again.list), (t.web.clone(), t.list.clone()));
    h.shutdown().await;
}

//! SharePoint Online REST: web and list lookup and the Migration API calls (reference §3).
//!
//! Requests ask for `odata=nometadata`; replies are read in either shape (verbose `{"d":…}`
//! wrappers and function-name wrappers are peeled off), so the client works against SPO and
//! against any faithful emulator.

pub mod answers;

use crate::auth::Bearer;
use crate::crypto::Key;
use crate::http::{Http, HttpError, Req};
use crate::wire::{CreateJobRequest, EncryptionOption, ProvisionedContainers, ProvisionedQueue};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum SpoError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("unexpected reply from {what}: {detail}")]
    Shape { what: String, detail: String },
    #[error("{site} refused the access token (HTTP 401{}): {}", if .reason.is_empty() { String::new() } else { format!(", {}", .reason) }, if *.signed_in { "a fresh sign-in did not help; check that the app registration has SharePoint's AllSites.FullControl (or Sites.FullControl.All for app-only) with admin consent, and that the account can open the site" } else { "pass a valid token for this site with --access-token or SPMT_ACCESS_TOKEN, or sign in (--auth, --client-id)" })]
    Unauthorized {
        site: String,
        reason: String,
        signed_in: bool,
    },
    #[error("sign-in: {0}")]
    SignIn(#[from] crate::auth::AuthError),
    #[error("{account} cannot migrate into {site}: {missing}. The Migration API needs a site collection administrator of the destination (or an app with SharePoint's Sites.FullControl.All); ask a SharePoint admin to add {account} as site collection admin, or sign in as one")]
    NoWriteAccess {
        account: String,
        site: String,
        missing: String,
    },
    #[error("the target library '{title}' does not exist at {site}: create the document library first, or correct the task's TargetList (--target-list)")]
    ListNotFound { title: String, site: String },
    #[error("CreateMigrationJobEncrypted returned no job id (the service refused the job)")]
    JobRefused,
}

#[derive(Debug, Clone)]
pub struct WebInfo {
    pub id: Uuid,
    pub title: String,
    pub server_relative_url: String,
    pub root_folder_id: Uuid,
}

#[derive(Debug, Clone)]
pub struct ListInfo {
    pub id: Uuid,
    pub title: String,
    pub root_folder_id: Uuid,
    /// Server-relative, e.g. `/sites/Proj/Shared Documents`.
    pub root_folder_url: String,
}

/// A file as the target holds it (`GetFileById`).
#[derive(Debug, Clone)]
pub struct TargetFile {
    pub length: u64,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone)]
pub struct SpoClient {
    http: Http,
    site_url: String,
    bearer: Bearer,
}

impl std::fmt::Debug for SpoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoClient")
            .field("site_url", &self.site_url)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// SP REST string literal: single quotes doubled, then percent-encoded for the path.
fn odata_string(s: &str) -> String {
    percent_encoding::utf8_percent_encode(
        &s.replace('\'', "''"),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string()
}

impl SpoClient {
    pub fn new(http: Http, site_url: &str, bearer: Bearer) -> Result<Self, SpoError> {
        crate::http::check_url(site_url)?;
        Ok(SpoClient {
            http,
            site_url: site_url.trim_end_matches('/').to_string(),
            bearer,
        })
    }

    pub fn site_url(&self) -> &str {
        &self.site_url
    }

    fn req(&self, method: Method, path: &str) -> Req {
        Req::new(method, format!("{}{}", self.site_url, path))
            .header("Accept", "application/json;odata=nometadata")
    }

    /// Sends `r` with a current token; when SharePoint refuses the token, once more with a
    /// renewed one (it may have expired in flight, or been revoked).
    async fn call(&self, r: Req, what: &str, function: Option<&str>) -> Result<Value, SpoError> {
        let mut renewed = false;
        let resp = loop {
            let token = self.bearer.token().await?;
            let mut req = r.clone();
            if let Some(t) = &token {
                req = req.header("Authorization", &format!("Bearer {}", t.as_str()));
            }
            match self.http.send(req).await {
                Ok(resp) => break resp,
                Err(e) if e.status() == Some(401) => {
                    let renewable = match &token {
                        Some(t) => self.bearer.refused(t).await,
                        None => false,
                    };
                    if renewable && !renewed {
                        tracing::info!(site = %self.site_url, "the site refused the access token; renewing it");
                        renewed = true;
                        continue;
                    }
                    return Err(SpoError::Unauthorized {
                        site: self.site_url.clone(),
                        reason: e.service_message().unwrap_or_default(),
                        signed_in: matches!(self.bearer, Bearer::SignedIn(_)),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        };
        answers::read(&resp.body, what, function)
    }

    fn post_json(&self, path: &str, body: &Value) -> Req {
        self.req(Method::POST, path)
            .header("Content-Type", "application/json;odata=nometadata")
            .body(body.to_string())
    }

    /// Calls the Migration API function `name` on `SP.Site` with a JSON body and returns
    /// its result with the OData wrappers removed.
    async fn site_function(&self, name: &str, body: &Value) -> Result<Value, SpoError> {
        self.call(
            self.post_json(&format!("/_api/site/{name}"), body),
            name,
            Some(name),
        )
        .await
    }

    pub async fn web(&self) -> Result<WebInfo, SpoError> {
        let v = self
            .call(
                self.req(Method::GET, "/_api/web?$select=Id,Title,ServerRelativeUrl"),
                "/_api/web",
                None,
            )
            .await?;
        let rf = self
            .call(
                self.req(
                    Method::GET,
                    "/_api/web/RootFolder?$select=UniqueId,ServerRelativeUrl",
                ),
                "/_api/web/RootFolder",
                None,
            )
            .await?;
        answers::web(&v, &rf)
    }

    /// Whether the signed-in identity can use the Migration API on this site: a site
    /// collection admin, or full control (an app with `Sites.FullControl.All`). A site that
    /// does not answer these calls is not held against the run (the Migration API will say).
    pub async fn check_write_access(&self) -> Result<(), SpoError> {
        let user = match self
            .call(
                self.req(
                    Method::GET,
                    "/_api/web/currentuser?$select=LoginName,Title,IsSiteAdmin",
                ),
                "/_api/web/currentuser",
                None,
            )
            .await
        {
            Ok(v) => v,
            Err(SpoError::Http(e)) if e.status().is_some_and(|s| s != 401) => return Ok(()),
            Err(e) => return Err(e),
        };
        if answers::is_site_admin(&user) {
            return Ok(());
        }
        let perms = match self
            .call(
                self.req(Method::GET, "/_api/web/effectiveBasePermissions"),
                "/_api/web/effectiveBasePermissions",
                None,
            )
            .await
        {
            Ok(v) => v,
            Err(SpoError::Http(e)) if e.status().is_some_and(|s| s != 401) => return Ok(()),
            Err(e) => return Err(e),
        };
        if answers::is_full_control(&perms) {
            return Ok(());
        }
        let account = self
            .bearer
            .account()
            .or_else(|| answers::user_name(&user))
            .unwrap_or_else(|| "the signed-in account".into());
        Err(SpoError::NoWriteAccess {
            account,
            site: self.site_url.clone(),
            missing: "it is not a site collection administrator and lacks full control".into(),
        })
    }

    pub async fn list_by_title(&self, title: &str) -> Result<ListInfo, SpoError> {
        let path = format!("/_api/web/lists/GetByTitle('{}')?$select=Id,Title,RootFolder/UniqueId,RootFolder/ServerRelativeUrl&$expand=RootFolder", odata_string(title));
        let v = match self
            .call(self.req(Method::GET, &path), "list lookup", None)
            .await
        {
            Err(SpoError::Http(e)) if e.status() == Some(404) => {
                return Err(SpoError::ListNotFound {
                    title: title.into(),
                    site: self.site_url.clone(),
                })
            }
            other => other?,
        };
        answers::list(&v, title)
    }

    /// Highest list-item id in use in the list (0 when empty), so new items get ids above it:
    /// imported `IntId`s are kept as given and must not collide (reference §6.8).
    pub async fn max_item_id(&self, title: &str) -> Result<i64, SpoError> {
        let path = format!(
            "/_api/web/lists/GetByTitle('{}')/items?$select=Id&$orderby=Id%20desc&$top=1",
            odata_string(title)
        );
        let v = self
            .call(self.req(Method::GET, &path), "list items", None)
            .await?;
        Ok(answers::first_item_id(&v))
    }

    /// The file whose UniqueId is `id`, if the site has one: its size and last-modified time
    /// as the target holds them.
    pub async fn file_by_id(&self, id: Uuid) -> Result<Option<TargetFile>, SpoError> {
        let path =
            format!("/_api/web/GetFileById('{id}')?$select=UniqueId,Length,TimeLastModified");
        let v = match self
            .call(self.req(Method::GET, &path), "GetFileById", None)
            .await
        {
            Err(SpoError::Http(e)) if e.status() == Some(404) => return Ok(None),
            other => other?,
        };
        answers::target_file(&v).map(Some)
    }

    /// The site's migration jobs with their states (`GetMigrationStatus`, reference §3.4).
    pub async fn migration_jobs(&self) -> Result<Vec<(Uuid, i32)>, SpoError> {
        let name = "GetMigrationStatus";
        let v = self
            .call(
                self.req(Method::GET, &format!("/_api/site/{name}")),
                name,
                Some(name),
            )
            .await?;
        Ok(answers::migration_jobs(&v))
    }

    /// Moves a file or folder to the site's recycle bin (restorable there, unlike a delete).
    /// Returns false when the target no longer had it.
    pub async fn recycle(&self, server_relative_url: &str, folder: bool) -> Result<bool, SpoError> {
        let path = format!(
            "/_api/web/{}(DecodedUrl='{}')/recycle()",
            if folder {
                "GetFolderByServerRelativePath"
            } else {
                "GetFileByServerRelativePath"
            },
            odata_string(server_relative_url)
        );
        match self
            .call(self.req(Method::POST, &path), "recycle", Some("Recycle"))
            .await
        {
            Ok(_) => Ok(true),
            Err(SpoError::Http(e)) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn provision_containers(&self) -> Result<(ProvisionedContainers, Key), SpoError> {
        let name = "ProvisionMigrationContainers";
        let v = self
            .site_function(name, &Value::Object(Default::default()))
            .await?;
        answers::containers(&v)
    }

    pub async fn provision_queue(&self) -> Result<ProvisionedQueue, SpoError> {
        let name = "ProvisionMigrationQueue";
        let v = self
            .site_function(name, &Value::Object(Default::default()))
            .await?;
        answers::queue(&v)
    }

    pub async fn create_job_encrypted(
        &self,
        web_id: Uuid,
        data_uri: &str,
        manifest_uri: &str,
        queue_uri: Option<&str>,
        key: &Key,
    ) -> Result<Uuid, SpoError> {
        let name = "CreateMigrationJobEncrypted";
        let body = CreateJobRequest {
            g_web_id: web_id.to_string(),
            azure_container_source_uri: data_uri.to_string(),
            azure_container_manifest_uri: manifest_uri.to_string(),
            azure_queue_report_uri: queue_uri.map(str::to_string),
            options: Some(EncryptionOption {
                aes256_cbc_key: key.to_base64(),
            }),
        };
        let body = serde_json::to_value(&body).map_err(|e| SpoError::Shape {
            what: name.into(),
            detail: e.to_string(),
        })?;
        let v = self.site_function(name, &body).await?;
        answers::job_id(&v)
    }

    /// Events after `next_token` as JSON strings, and the token to pass next time (reference §3.5).
    pub async fn job_progress(
        &self,
        job: Uuid,
        next_token: &str,
    ) -> Result<(Vec<String>, String), SpoError> {
        let name = "GetMigrationJobProgress";
        let path = format!(
            "/_api/site/{name}(jobId=guid'{job}',nextToken='{}')",
            odata_string(next_token)
        );
        let v = self
            .call(self.req(Method::GET, &path), name, Some(name))
            .await?;
        Ok(answers::job_progress(&v, next_token))
    }

    /// Every event of a job from the start (following `NextToken`). Fails only when nothing
    /// could be read; a failure part-way returns what was read, with a warning.
    pub async fn all_job_events(&self, job: Uuid) -> Result<Vec<String>, SpoError> {
        let mut all = Vec::new();
        let mut token = "0".to_string();
        for page in 0..1000 {
            match self.job_progress(job, &token).await {
                Ok((events, next)) => {
                    let done = events.is_empty() || next == token;
                    all.extend(events);
                    if done {
                        break;
                    }
                    token = next;
                }
                Err(e) if page == 0 => return Err(e),
                Err(e) => {
                    tracing::warn!(job = %job, error = %e, "reading the job's events stopped part-way");
                    break;
                }
            }
        }
        Ok(all)
    }

    pub async fn job_status(&self, job: Uuid) -> Result<i32, SpoError> {
        let name = "GetMigrationJobStatus";
        let v = self
            .site_function(name, &serde_json::json!({ "id": job.to_string() }))
            .await?;
        answers::job_status(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_titles_are_quoted_for_odata() {
        assert_eq!(odata_string("Bob's Docs"), "Bob%27%27s%20Docs");
    }
}

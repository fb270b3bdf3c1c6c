//! A storage account the customer owns (SPMT's CustomAzureStorageAccount / AccessKey): parsed from
//! a standard Azure connection string, it creates spmt's own containers and queue and signs the
//! SAS URIs handed to the Migration API with the permissions it requires (reference §3.3).
//!
//! The account key never leaves this type: `Debug` hides it and errors name fields, not values.

use crate::http::{Http, HttpError, Req};
use crate::wire::{self, Sas, SAS_VERSION, STORAGE_VERSION};
use base64::Engine as _;
use reqwest::Method;
use zeroize::Zeroizing;

/// Azurite's well-known development account (documented by Microsoft; not a secret).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// SAS permissions the Migration API requires for customer-provided storage (reference §3.3).
pub const SOURCE_PERMS: &str = "rl";
pub const MANIFEST_PERMS: &str = "rwl";
pub const QUEUE_PERMS: &str = "rau";
/// What spmt itself uses: write, create and snapshot blobs; read its logs; dequeue events.
const CLIENT_BLOB_PERMS: &str = "racwl";
const CLIENT_QUEUE_PERMS: &str = "raup";
/// Lifetime of the SAS tokens spmt signs (an import may queue for a while).
const SAS_LIFETIME_DAYS: i64 = 7;

const FIX: &str = "use the storage account's connection string (Access keys page), e.g. \
DefaultEndpointsProtocol=https;AccountName=NAME;AccountKey=KEY;EndpointSuffix=core.windows.net, \
or UseDevelopmentStorage=true for Azurite";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--azure-storage-connection-string: {message}; {FIX}")]
pub struct ConnectionStringError {
    /// The field at fault (`AccountKey`, `BlobEndpoint`, …), never its value.
    pub field: String,
    pub message: String,
}

fn cs_err(field: &str, message: impl Into<String>) -> ConnectionStringError {
    ConnectionStringError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Clone)]
pub struct StorageAccount {
    pub name: String,
    key: Zeroizing<Vec<u8>>,
    /// e.g. `https://acct.blob.core.windows.net` or `http://127.0.0.1:10000/devstoreaccount1`.
    pub blob_endpoint: url::Url,
    pub queue_endpoint: url::Url,
}

impl std::fmt::Debug for StorageAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageAccount")
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .field("blob_endpoint", &self.blob_endpoint.as_str())
            .field("queue_endpoint", &self.queue_endpoint.as_str())
            .finish()
    }
}

fn endpoint(field: &str, v: &str) -> Result<url::Url, ConnectionStringError> {
    let u =
        url::Url::parse(v.trim()).map_err(|_| cs_err(field, format!("{field} is not a URL")))?;
    crate::http::check_url(u.as_str()).map_err(|e| match e {
        HttpError::InsecureUrl(_) => cs_err(
            field,
            format!("{field} uses plain http to a non-loopback host: use https"),
        ),
        _ => cs_err(field, format!("{field} must be an http(s) URL")),
    })?;
    Ok(u)
}

fn trim_slash(mut u: url::Url) -> url::Url {
    let p = u.path().trim_end_matches('/').to_string();
    u.set_path(&p);
    u
}

impl StorageAccount {
    /// Parses `Key=Value;…` (keys case-insensitive; values may contain `=`).
    pub fn from_connection_string(s: &str) -> Result<Self, ConnectionStringError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                // The fragment is not shown: it may be a pasted key.
                return Err(cs_err(
                    "",
                    "a part has no '=' (the form is Key=Value pairs separated by ';')",
                ));
            };
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| n == &k.to_ascii_lowercase())
                .map(|(_, v)| v.as_str())
        };
        for (k, _) in &fields {
            if !matches!(
                k.as_str(),
                "defaultendpointsprotocol"
                    | "accountname"
                    | "accountkey"
                    | "blobendpoint"
                    | "queueendpoint"
                    | "tableendpoint"
                    | "fileendpoint"
                    | "endpointsuffix"
                    | "usedevelopmentstorage"
                    | "developmentstorageproxyuri"
                    | "sharedaccesssignature"
            ) {
                return Err(cs_err(k, format!("unknown field '{k}'")));
            }
        }
        if get("SharedAccessSignature").is_some() {
            return Err(cs_err(
                "SharedAccessSignature",
                "a SAS connection string cannot create containers and sign the job's SAS URIs: AccountName and AccountKey are needed",
            ));
        }
        if let Some(v) = get("UseDevelopmentStorage") {
            if !v.eq_ignore_ascii_case("true") {
                return Err(cs_err(
                    "UseDevelopmentStorage",
                    "UseDevelopmentStorage must be 'true' when present",
                ));
            }
            let host = match get("DevelopmentStorageProxyUri") {
                Some(p) => endpoint("DevelopmentStorageProxyUri", p)?
                    .host_str()
                    .unwrap_or("127.0.0.1")
                    .to_string(),
                None => "127.0.0.1".to_string(),
            };
            let mk = |port: u16| {
                url::Url::parse(&format!("http://{host}:{port}/{DEV_ACCOUNT}"))
                    .map_err(|_| cs_err("DevelopmentStorageProxyUri", "not a host name"))
            };
            return Ok(StorageAccount {
                name: DEV_ACCOUNT.into(),
                key: Zeroizing::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(DEV_KEY)
                        .map_err(|_| cs_err("AccountKey", "internal: development key"))?,
                ),
                blob_endpoint: mk(10000)?,
                queue_endpoint: mk(10001)?,
            });
        }
        let name = get("AccountName")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| cs_err("AccountName", "AccountName is missing"))?;
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            || name.len() < 3
            || name.len() > 24
        {
            return Err(cs_err(
                "AccountName",
                "AccountName must be 3-24 lowercase letters and digits",
            ));
        }
        let key = get("AccountKey")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| cs_err("AccountKey", "AccountKey is missing"))?;
        let key = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(key)
                .map_err(|_| cs_err("AccountKey", "AccountKey is not valid base64"))?,
        );
        let proto = get("DefaultEndpointsProtocol").unwrap_or("https");
        if !proto.eq_ignore_ascii_case("https") && !proto.eq_ignore_ascii_case("http") {
            return Err(cs_err(
                "DefaultEndpointsProtocol",
                "DefaultEndpointsProtocol must be https or http",
            ));
        }
        let suffix = get("EndpointSuffix").unwrap_or("core.windows.net");
        let default_ep = |svc: &str, field: &str| {
            endpoint(
                field,
                &format!("{}://{name}.{svc}.{suffix}", proto.to_ascii_lowercase()),
            )
        };
        let blob_endpoint = match get("BlobEndpoint") {
            Some(v) => endpoint("BlobEndpoint", v)?,
            None => default_ep("blob", "EndpointSuffix")?,
        };
        let queue_endpoint = match get("QueueEndpoint") {
            Some(v) => endpoint("QueueEndpoint", v)?,
            None if get("BlobEndpoint").is_some() => {
                return Err(cs_err(
                    "QueueEndpoint",
                    "QueueEndpoint is missing (needed with an explicit BlobEndpoint)",
                ))
            }
            None => default_ep("queue", "EndpointSuffix")?,
        };
        Ok(StorageAccount {
            name: name.to_string(),
            key,
            blob_endpoint: trim_slash(blob_endpoint),
            queue_endpoint: trim_slash(queue_endpoint),
        })
    }

    fn expiry() -> String {
        (chrono::Utc::now() + chrono::Duration::days(SAS_LIFETIME_DAYS))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn start() -> String {
        (chrono::Utc::now() - chrono::Duration::minutes(15))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn service_sas(&self, canonical: &str, sr: &str, perms: &str) -> String {
        let spr = if self.blob_endpoint.scheme() == "https" {
            "https"
        } else {
            "https,http"
        };
        let mut sas = Sas {
            sv: SAS_VERSION.into(),
            sr: sr.into(),
            sp: perms.into(),
            st: Self::start(),
            se: Self::expiry(),
            spr: spr.into(),
            sig: String::new(),
        };
        sas.sign(canonical, &self.key);
        sas.to_query()
    }

    fn url(base: &url::Url, name: &str, query: &str) -> String {
        format!("{}/{name}?{query}", base.as_str().trim_end_matches('/'))
    }

    /// Container SAS URL with `perms` (service SAS, `sr=c`).
    pub fn container_sas_url(&self, container: &str, perms: &str) -> String {
        let q = self.service_sas(&format!("/blob/{}/{container}", self.name), "c", perms);
        Self::url(&self.blob_endpoint, container, &q)
    }

    /// Queue SAS URL with `perms`.
    pub fn queue_sas_url(&self, queue: &str, perms: &str) -> String {
        let q = self.service_sas(&format!("/queue/{}/{queue}", self.name), "", perms);
        Self::url(&self.queue_endpoint, queue, &q)
    }

    fn account_sas(&self, services: &str) -> String {
        wire::account_sas(
            &self.name,
            &self.key,
            services,
            "sco",
            "racwlup",
            &Self::expiry(),
        )
    }

    /// Creates a container (an existing one is fine).
    pub async fn create_container(&self, http: &Http, name: &str) -> Result<(), HttpError> {
        let url = format!(
            "{}&{}",
            Self::url(&self.blob_endpoint, name, "restype=container"),
            self.account_sas("b")
        );
        ignore_conflict(
            http.send(Req::new(Method::PUT, url).header("x-ms-version", STORAGE_VERSION))
                .await,
        )
    }

    /// Creates a queue (an existing one is fine).
    pub async fn create_queue(&self, http: &Http, name: &str) -> Result<(), HttpError> {
        let url = Self::url(&self.queue_endpoint, name, &self.account_sas("q"));
        ignore_conflict(
            http.send(Req::new(Method::PUT, url).header("x-ms-version", STORAGE_VERSION))
                .await,
        )
    }

    /// A new pair of job containers: (client URL for data, client URL for the manifest,
    /// service URI for data `sp=rl`, service URI for the manifest `sp=rwl`).
    pub async fn job_containers(&self, http: &Http) -> Result<JobContainers, HttpError> {
        let id = uuid::Uuid::new_v4();
        let (data, manifest) = (format!("{id}-files"), format!("{id}-package"));
        self.create_container(http, &data).await?;
        self.create_container(http, &manifest).await?;
        Ok(JobContainers {
            data_client_uri: self.container_sas_url(&data, CLIENT_BLOB_PERMS),
            manifest_client_uri: self.container_sas_url(&manifest, CLIENT_BLOB_PERMS),
            data_service_uri: self.container_sas_url(&data, SOURCE_PERMS),
            manifest_service_uri: self.container_sas_url(&manifest, MANIFEST_PERMS),
        })
    }

    /// A new queue for job events: (client URL `sp=raup`, service URI `sp=rau`).
    pub async fn job_queue(&self, http: &Http) -> Result<(String, String), HttpError> {
        let name = format!("spmt-{}", uuid::Uuid::new_v4().simple());
        self.create_queue(http, &name).await?;
        Ok((
            self.queue_sas_url(&name, CLIENT_QUEUE_PERMS),
            self.queue_sas_url(&name, QUEUE_PERMS),
        ))
    }
}

/// Container URIs of one job in customer storage.
pub struct JobContainers {
    pub data_client_uri: String,
    pub manifest_client_uri: String,
    pub data_service_uri: String,
    pub manifest_service_uri: String,
}

fn ignore_conflict(r: Result<crate::http::Resp, HttpError>) -> Result<(), HttpError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(409) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VjcmV0LWtleS1ieXRlcy1mb3ItdGVzdHMtb25seQ==";

    #[test]
    fn development_storage_forms_parse_to_azurite_endpoints() {
        let a = StorageAccount::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(a.name, "devstoreaccount1");
        assert_eq!(
            a.blob_endpoint.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        assert_eq!(
            a.queue_endpoint.as_str(),
            "http://127.0.0.1:10001/devstoreaccount1"
        );
        let explicit = format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};\
             BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
        );
        let b = StorageAccount::from_connection_string(&explicit).unwrap();
        assert_eq!(b.name, a.name);
        assert_eq!(b.blob_endpoint, a.blob_endpoint);
        assert_eq!(b.queue_endpoint, a.queue_endpoint);
        assert_eq!(*b.key, *a.key);
    }

    #[test]
    fn cloud_form_builds_https_endpoints_from_the_suffix() {
        let a = StorageAccount::from_connection_string(&format!(
            "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey={KEY};EndpointSuffix=core.windows.net"
        ))
        .unwrap();
        assert_eq!(
            a.blob_endpoint.as_str(),
            "https://contoso.blob.core.windows.net/"
        );
        assert_eq!(
            a.queue_endpoint.as_str(),
            "https://contoso.queue.core.windows.net/"
        );
        let url = a.container_sas_url("c1", SOURCE_PERMS);
        assert!(
            url.starts_with("https://contoso.blob.core.windows.net/c1?"),
            "{url}"
        );
        let sas = Sas::parse(url.split_once('?').unwrap().1);
        assert_eq!((sas.sp.as_str(), sas.sr.as_str()), ("rl", "c"));
        assert!(!format!("{a:?}").contains(KEY));
    }

    #[test]
    fn errors_name_the_bad_field_and_never_echo_the_key() {
        let bad_key = "not*base64*secret";
        let e = StorageAccount::from_connection_string(&format!(
            "AccountName=contoso;AccountKey={bad_key}"
        ))
        .unwrap_err();
        assert_eq!(e.field, "AccountKey");
        let shown = e.to_string();
        assert!(!shown.contains(bad_key), "{shown}");
        assert!(shown.contains("AccountKey") && shown.contains("connection string"));

        let e = StorageAccount::from_connection_string(&format!("AccountKey={KEY}")).unwrap_err();
        assert_eq!(e.field, "AccountName");
        assert!(!e.to_string().contains(KEY));

        let e = StorageAccount::from_connection_string(&format!(
            "AccountName=contoso;AccountKey={KEY};BlobEndpoint=http://example.com/x;QueueEndpoint=https://q"
        ))
        .unwrap_err();
        assert_eq!(e.field, "BlobEndpoint");
        assert!(!e.to_string().contains(KEY));

        let e = StorageAccount::from_connection_string("UseDevelopmentStorage=yes").unwrap_err();
        assert_eq!(e.field, "UseDevelopmentStorage");
        let e = StorageAccount::from_connection_string(KEY).unwrap_err();
        assert!(!e.to_string().contains(KEY), "{e}");
        let e =
            StorageAccount::from_connection_string(&format!("AccountName=contoso;Acountkey={KEY}"))
                .unwrap_err();
        assert_eq!(e.field, "acountkey");
        assert!(!e.to_string().contains(KEY), "{e}");
    }
}

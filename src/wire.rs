//! Wire types shared by the client and the emulator: names, JSON shapes, the SAS format and the
//! queue envelope. Only formats live here; neither side's logic does, so the two check each other.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;

/// Package XML names at the manifest container's root (reference §6.1). `UserGroup.xml`, not
/// `UserGroupMap.xml`: that is the name the service downloads.
pub const MANIFEST_XML: &str = "Manifest.xml";
pub const EXPORT_SETTINGS_XML: &str = "ExportSettings.xml";
pub const SYSTEM_DATA_XML: &str = "SystemData.xml";
pub const USER_GROUP_XML: &str = "UserGroup.xml";
pub const REQUIREMENTS_XML: &str = "Requirements.xml";
pub const ROOT_OBJECT_MAP_XML: &str = "RootObjectMap.xml";
pub const LOOKUP_LIST_MAP_XML: &str = "LookupListMap.xml";
pub const VIEW_FORMS_LIST_XML: &str = "ViewFormsList.xml";

pub const NS_MANIFEST: &str = "urn:deployment-manifest-schema";
pub const NS_EXPORT_SETTINGS: &str = "urn:deployment-exportsettings-schema";
pub const NS_SYSTEM_DATA: &str = "urn:deployment-systemdata-schema";
pub const NS_USER_GROUP: &str = "urn:deployment-usergroupmap-schema";
pub const NS_REQUIREMENTS: &str = "urn:deployment-requirements-schema";
pub const NS_ROOT_OBJECT_MAP: &str = "urn:deployment-rootobjectmap-schema";
pub const NS_LOOKUP_LIST_MAP: &str = "urn:deployment-lookuplistmap-schema";
/// Singular "viewformlist" in the namespace, plural in the file name (reference §6.1).
pub const NS_VIEW_FORMS_LIST: &str = "urn:deployment-viewformlist-schema";

/// (file name, root element, namespace) of the eight package XMLs.
pub const PACKAGE_XMLS: [(&str, &str, &str); 8] = [
    (MANIFEST_XML, "SPObjects", NS_MANIFEST),
    (EXPORT_SETTINGS_XML, "ExportSettings", NS_EXPORT_SETTINGS),
    (SYSTEM_DATA_XML, "SystemData", NS_SYSTEM_DATA),
    (USER_GROUP_XML, "UserGroupMap", NS_USER_GROUP),
    (REQUIREMENTS_XML, "Requirements", NS_REQUIREMENTS),
    (ROOT_OBJECT_MAP_XML, "RootObjects", NS_ROOT_OBJECT_MAP),
    (LOOKUP_LIST_MAP_XML, "LookupLists", NS_LOOKUP_LIST_MAP),
    (VIEW_FORMS_LIST_XML, "ViewFormsList", NS_VIEW_FORMS_LIST),
];

/// Blob metadata key holding the base64 IV of an encrypted blob (reference §4.4).
pub const IV_METADATA: &str = "IV";
/// `x-ms-version` the client sends; provisioned SAS carry `sv=2018-03-28` (reference §4.1).
pub const STORAGE_VERSION: &str = "2020-10-02";
pub const SAS_VERSION: &str = "2018-03-28";

/// `SPMigrationJobState` (reference §3.4).
pub const JOB_STATE_NONE: i32 = 0;
pub const JOB_STATE_QUEUED: i32 = 2;
pub const JOB_STATE_PROCESSING: i32 = 4;

/// `SP.ProvisionedMigrationContainersInfo` (nometadata shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedContainers {
    pub data_container_uri: String,
    pub metadata_container_uri: String,
    /// base64 of the 32-byte AES key.
    pub encryption_key: String,
}

/// `SP.ProvisionedMigrationQueueInfo`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedQueue {
    pub job_queue_uri: String,
}

/// Body of `CreateMigrationJobEncrypted` (reference §3.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobRequest {
    pub g_web_id: String,
    pub azure_container_source_uri: String,
    pub azure_container_manifest_uri: String,
    #[serde(default)]
    pub azure_queue_report_uri: Option<String>,
    #[serde(default)]
    pub options: Option<EncryptionOption>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncryptionOption {
    #[serde(rename = "AES256CBCKey")]
    pub aes256_cbc_key: String,
}

/// An encrypted job's queue message, before base64 transport encoding (reference §5.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncryptedEnvelope {
    #[serde(rename = "Label")]
    pub label: String,
    #[serde(rename = "JobId")]
    pub job_id: String,
    #[serde(rename = "IV")]
    pub iv: String,
    #[serde(rename = "Content")]
    pub content: String,
}

/// A migration event: a flat object whose values are all strings (reference §7.1).
pub type EventFields = BTreeMap<String, String>;

/// Parses one event leniently: keys are matched case-insensitively by callers via [`field`],
/// non-string values are stringified, and a trailing `,}` (seen in the wild) is tolerated.
pub fn parse_event(json: &str) -> Option<EventFields> {
    let cleaned;
    let text = if json.contains(",}") {
        cleaned = json.replace(",}", "}");
        cleaned.as_str()
    } else {
        json
    };
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    let obj = v.as_object()?;
    Some(
        obj.iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s.trim().to_string(),
                    other => other.to_string(),
                };
                (k.trim().to_string(), s)
            })
            .collect(),
    )
}

/// Case-insensitive lookup of an event field.
pub fn field<'a>(ev: &'a EventFields, name: &str) -> Option<&'a str> {
    ev.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The parts of an Azure SAS query this project reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sas {
    pub sv: String,
    pub sr: String,
    pub sp: String,
    pub st: String,
    pub se: String,
    pub spr: String,
    pub sig: String,
}

impl Sas {
    pub fn parse(query: &str) -> Sas {
        let mut s = Sas::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "sv" => s.sv = v,
                "sr" => s.sr = v,
                "sp" => s.sp = v,
                "st" => s.st = v,
                "se" => s.se = v,
                "spr" => s.spr = v,
                "sig" => s.sig = v,
                _ => {}
            }
        }
        s
    }

    /// Service SAS string-to-sign for versions 2015-04-05 … 2018-03-28, blob or queue
    /// (`canonical` is `/blob/{account}/{container}` or `/queue/{account}/{queue}`).
    pub fn string_to_sign(&self, canonical: &str) -> String {
        if canonical.starts_with("/queue/") {
            // Queue SAS: no response-header overrides.
            format!(
                "{}\n{}\n{}\n{}\n\n\n{}\n{}",
                self.sp, self.st, self.se, canonical, self.spr, self.sv
            )
        } else {
            format!(
                "{}\n{}\n{}\n{}\n\n\n{}\n{}\n\n\n\n\n",
                self.sp, self.st, self.se, canonical, self.spr, self.sv
            )
        }
    }

    /// Computes `sig` with the storage account key (HMAC-SHA256, base64).
    pub fn sign(&mut self, canonical: &str, account_key: &[u8]) {
        self.sig = sas_signature(&self.string_to_sign(canonical), account_key);
    }

    pub fn to_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("sv", &self.sv);
        if !self.sr.is_empty() {
            q.append_pair("sr", &self.sr);
        }
        if !self.st.is_empty() {
            q.append_pair("st", &self.st);
        }
        q.append_pair("se", &self.se);
        q.append_pair("sp", &self.sp);
        if !self.spr.is_empty() {
            q.append_pair("spr", &self.spr);
        }
        q.append_pair("sig", &self.sig);
        q.finish()
    }
}

pub fn sas_signature(string_to_sign: &str, account_key: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(account_key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Time as events carry it: `MM/dd/yyyy HH:mm:ss.fff`, UTC (reference §7.1).
pub fn event_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%m/%d/%Y %H:%M:%S%.3f").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_leniently() {
        let ev = parse_event(r#"{"Event":"JobEnd","TotalErrors":"2","FilesCreated":5,}"#).unwrap();
        assert_eq!(field(&ev, "event"), Some("JobEnd"));
        assert_eq!(field(&ev, "totalerrors"), Some("2"));
        assert_eq!(field(&ev, "FilesCreated"), Some("5"));
    }

    #[test]
    fn sas_round_trips_through_query() {
        let mut s = Sas {
            sv: SAS_VERSION.into(),
            sr: "c".into(),
            sp: "rw".into(),
            se: "2030-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        s.sign("/blob/acct/cont", b"key");
        let back = Sas::parse(&s.to_query());
        assert_eq!(back, s);
        assert_ne!(
            back.sig,
            sas_signature(&back.string_to_sign("/blob/acct/other"), b"key")
        );
    }
}

//! Reading SharePoint's REST answers: every shape the client takes from a site, as functions of
//! the answer's JSON alone, apart from the requests that fetch them (so they can be checked,
//! and fuzzed, without a server). Either OData shape is read: verbose `{"d":…}` wrappers and
//! function-name wrappers are peeled off, property names match without regard to case.

use super::{ListInfo, SpoError, TargetFile, WebInfo};
use crate::crypto::Key;
use crate::wire::{ProvisionedContainers, ProvisionedQueue};
use serde_json::Value;
use uuid::Uuid;

/// The JSON of an answer to `what`, with its OData wrappers (and the wrapper named after
/// `function`, when given) removed.
pub fn read(body: &[u8], what: &str, function: Option<&str>) -> Result<Value, SpoError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| SpoError::Shape {
        what: what.into(),
        detail: format!("not JSON: {e}"),
    })?;
    Ok(unwrap_odata(v, function))
}

/// Removes `{"d": …}` and a single function-name wrapper such as `{"ProvisionMigrationContainers": {…}}`.
pub fn unwrap_odata(mut v: Value, function: Option<&str>) -> Value {
    if let Some(d) = v.get_mut("d") {
        v = d.take();
    }
    if let Some(f) = function {
        if let Some(inner) = v.get_mut(f) {
            v = inner.take();
        }
    }
    v
}

/// Case-insensitive property lookup (nometadata casing is not pinned down, reference §3.5).
fn prop<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn prop_str(v: &Value, name: &str) -> Option<String> {
    prop(v, name).and_then(|x| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn prop_uuid(v: &Value, name: &str) -> Option<Uuid> {
    prop_str(v, name).and_then(|s| Uuid::parse_str(s.trim_matches(|c| c == '{' || c == '}')).ok())
}

/// An integer that SharePoint may send as a number or (Edm.Int64) as a string.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The rows of a collection answer: a bare array, or under `value` (nometadata) or `results`
/// (verbose).
fn rows(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => prop(other, "value")
            .or_else(|| prop(other, "results"))
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default(),
    }
}

fn shape(what: &str, detail: &str) -> SpoError {
    SpoError::Shape {
        what: what.into(),
        detail: detail.into(),
    }
}

/// `/_api/web` and `/_api/web/RootFolder`.
pub fn web(web: &Value, root_folder: &Value) -> Result<WebInfo, SpoError> {
    let what = "/_api/web";
    Ok(WebInfo {
        id: prop_uuid(web, "Id").ok_or_else(|| shape(what, "no Id"))?,
        title: prop_str(web, "Title").unwrap_or_default(),
        server_relative_url: prop_str(web, "ServerRelativeUrl")
            .ok_or_else(|| shape(what, "no ServerRelativeUrl"))?,
        root_folder_id: prop_uuid(root_folder, "UniqueId")
            .ok_or_else(|| shape(what, "no RootFolder UniqueId"))?,
    })
}

/// `/_api/web/currentuser`: whether the user is a site collection administrator.
pub fn is_site_admin(user: &Value) -> bool {
    prop(user, "IsSiteAdmin").and_then(Value::as_bool) == Some(true)
}

/// `/_api/web/effectiveBasePermissions`: whether they are full control (SPBasePermissions.
/// FullMask: every bit of both halves).
pub fn is_full_control(perms: &Value) -> bool {
    let num = |name: &str| prop(perms, name).and_then(int);
    num("High") == Some(0x7FFF_FFFF) && num("Low") == Some(0xFFFF_FFFF)
}

/// The name to show for the signed-in user of `/_api/web/currentuser`.
pub fn user_name(user: &Value) -> Option<String> {
    prop_str(user, "Title").or_else(|| prop_str(user, "LoginName"))
}

/// `lists/GetByTitle('…')` with its RootFolder expanded.
pub fn list(v: &Value, title: &str) -> Result<ListInfo, SpoError> {
    let what = format!("list '{title}'");
    let rf = prop(v, "RootFolder").ok_or_else(|| shape(&what, "no RootFolder"))?;
    Ok(ListInfo {
        id: prop_uuid(v, "Id").ok_or_else(|| shape(&what, "no Id"))?,
        title: prop_str(v, "Title").unwrap_or_else(|| title.to_string()),
        root_folder_id: prop_uuid(rf, "UniqueId")
            .ok_or_else(|| shape(&what, "no RootFolder.UniqueId"))?,
        root_folder_url: prop_str(rf, "ServerRelativeUrl")
            .ok_or_else(|| shape(&what, "no RootFolder.ServerRelativeUrl"))?,
    })
}

/// The `Id` of the first row of a list-items answer (0 when there is none).
pub fn first_item_id(v: &Value) -> i64 {
    rows(v)
        .first()
        .and_then(|r| prop(r, "Id"))
        .and_then(int)
        .unwrap_or(0)
}

/// `ProvisionMigrationContainers`: the containers and their key. The key's text is wiped: it
/// lives on only as `Key`, which wipes itself.
pub fn containers(v: &Value) -> Result<(ProvisionedContainers, Key), SpoError> {
    let what = "ProvisionMigrationContainers";
    let mut c = ProvisionedContainers {
        data_container_uri: prop_str(v, "DataContainerUri")
            .ok_or_else(|| shape(what, "no DataContainerUri"))?,
        metadata_container_uri: prop_str(v, "MetadataContainerUri")
            .ok_or_else(|| shape(what, "no MetadataContainerUri"))?,
        encryption_key: prop_str(v, "EncryptionKey")
            .ok_or_else(|| shape(what, "no EncryptionKey"))?,
    };
    let key = Key::from_base64(&c.encryption_key);
    zeroize::Zeroize::zeroize(&mut c.encryption_key);
    Ok((c, key.map_err(|e| shape(what, &e.to_string()))?))
}

/// `ProvisionMigrationQueue`.
pub fn queue(v: &Value) -> Result<ProvisionedQueue, SpoError> {
    Ok(ProvisionedQueue {
        job_queue_uri: prop_str(v, "JobQueueUri")
            .ok_or_else(|| shape("ProvisionMigrationQueue", "no JobQueueUri"))?,
    })
}

/// `CreateMigrationJob*`: the job's id. An empty GUID (or null) means the job was not
/// created (reference §3.3).
pub fn job_id(v: &Value) -> Result<Uuid, SpoError> {
    let s = match v {
        Value::String(s) => Some(s.clone()),
        other => prop_str(other, "value"),
    };
    match s.and_then(|s| Uuid::parse_str(&s).ok()) {
        Some(id) if !id.is_nil() => Ok(id),
        _ => Err(SpoError::JobRefused),
    }
}

/// `GetMigrationJobProgress`: the events as JSON strings and the token to pass next time
/// (`next_token` again when the answer has none).
pub fn job_progress(v: &Value, next_token: &str) -> (Vec<String>, String) {
    let logs = match prop(v, "Logs") {
        Some(Value::Array(a)) => a.clone(),
        Some(logs @ Value::Object(_)) => rows(logs),
        _ => Vec::new(),
    };
    let events = logs
        .into_iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    let next = prop_str(v, "NextToken").unwrap_or_else(|| next_token.to_string());
    (events, next)
}

/// `GetMigrationJobStatus`: the job's state.
pub fn job_status(v: &Value) -> Result<i32, SpoError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        other => prop(other, "value").and_then(|x| x.as_i64()),
    };
    n.and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| shape("GetMigrationJobStatus", "no state"))
}

/// `GetMigrationStatus`: the site's jobs with their states.
pub fn migration_jobs(v: &Value) -> Vec<(Uuid, i32)> {
    rows(v)
        .iter()
        .filter_map(|r| {
            let state = prop(r, "JobState").and_then(int)?;
            Some((prop_uuid(r, "JobId")?, i32::try_from(state).ok()?))
        })
        .collect()
}

/// `GetFileById('…')`: the file's size and last-modified time.
pub fn target_file(v: &Value) -> Result<TargetFile, SpoError> {
    let length = prop(v, "Length")
        .and_then(int)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| shape("GetFileById", "no Length"))?;
    let modified = prop_str(v, "TimeLastModified").and_then(|t| {
        chrono::DateTime::parse_from_rfc3339(&t)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    });
    Ok(TargetFile { length, modified })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_odata_shapes_unwrap_to_the_same_object() {
        let f = Some("ProvisionMigrationContainers");
        let verbose = read(
            br#"{"d":{"ProvisionMigrationContainers":{"__metadata":{},"DataContainerUri":"a"}}}"#,
            "x",
            f,
        )
        .unwrap();
        let plain = read(br#"{"DataContainerUri":"a"}"#, "x", f).unwrap();
        assert_eq!(prop_str(&verbose, "datacontaineruri").as_deref(), Some("a"));
        assert_eq!(prop_str(&plain, "DataContainerUri").as_deref(), Some("a"));
    }

    #[test]
    fn numbers_are_read_as_sharepoint_sends_them() {
        let v: Value = serde_json::json!({"d": {"results": [
            {"JobId": "2f1c44b5-6a3e-4d8b-9a8e-0c2d3f4a5b6c", "JobState": "4"},
            {"JobId": "{3f1c44b5-6a3e-4d8b-9a8e-0c2d3f4a5b6c}", "JobState": 0},
            {"JobId": "not a guid", "JobState": 2}
        ]}});
        let jobs = migration_jobs(&unwrap_odata(v, Some("GetMigrationStatus")));
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].1, jobs[1].1), (4, 0));
        let f = target_file(
            &serde_json::json!({"Length": "12", "TimeLastModified": "2024-05-06T14:30:00Z"}),
        )
        .unwrap();
        assert_eq!(f.length, 12);
        assert_eq!(f.modified.unwrap().timestamp(), 1_715_005_800);
        assert!(target_file(&serde_json::json!({"Length": "-1"})).is_err());
        assert!(job_id(&serde_json::json!("00000000-0000-0000-0000-000000000000")).is_err());
    }
}

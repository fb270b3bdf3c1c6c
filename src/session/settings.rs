//! Session settings (Register-SPMTMigration's parameter names, reference spmt-features.md §1.3).

use super::{Result, SessionError};
use crate::auth::SignIn;
use crate::source::sharepoint_server::FarmCredential;
use crate::task::{SettingError, Task, TaskError, TaskSettings};
use serde_json::Value;
use std::path::PathBuf;

/// Session settings: the session's own (`WorkingFolder`, `PerItemEvents`, `Force`), the
/// sign-in settings (`crate::auth::SignIn`: `AccessToken`, `ClientId`, `TenantId`, `Username`
/// and `Password` from `-SPOCredential`, `CertificatePath`, …) and every task setting, which becomes the default of the session's tasks. Task
/// settings are the task model's (`crate::task::settings`): the same names, aliases, parsers
/// and "not supported" answers as the CLI, bulk files and `spmt resume`.
#[derive(Clone)]
pub struct Settings {
    pub working_folder: PathBuf,
    pub sign_in: SignIn,
    /// One event per item outcome instead of a periodic summary.
    pub per_item_events: bool,
    /// The tasks' defaults; `LocalTargetRoot` defaults to `<WorkingFolder>/LocalTarget`.
    pub task_defaults: TaskSettings,
    /// What the settings said that the host should show as warnings (deprecated names).
    pub notes: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("working_folder", &self.working_folder)
            .field("sign_in", &self.sign_in)
            .field("per_item_events", &self.per_item_events)
            .field("task_defaults", &self.task_defaults)
            .finish_non_exhaustive()
    }
}

impl From<SettingError> for SessionError {
    fn from(e: SettingError) -> Self {
        match e {
            SettingError::Unsupported(u) => SessionError::NotSupported(u),
            e => SessionError::InvalidArgument(e.to_string()),
        }
    }
}

impl From<TaskError> for SessionError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::Setting(s) => s.into(),
            TaskError::InvalidJson(m) => SessionError::InvalidJson(format!("task: {m}")),
            e => SessionError::InvalidArgument(e.to_string()),
        }
    }
}

impl Settings {
    pub fn defaults(working_folder: PathBuf) -> Self {
        let working_folder = std::path::absolute(&working_folder).unwrap_or(working_folder);
        let task_defaults = TaskSettings {
            local_target_root: Some(working_folder.join("LocalTarget")),
            ..TaskSettings::default()
        };
        Settings {
            working_folder,
            sign_in: SignIn::default(),
            per_item_events: false,
            task_defaults,
            notes: Vec::new(),
        }
    }

    pub fn from_json(json: &str) -> Result<Self> {
        let m = match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(SessionError::InvalidJson(
                    "settings must be a JSON object".into(),
                ))
            }
            Err(e) => return Err(SessionError::InvalidJson(format!("settings: {e}"))),
        };
        let text = |key: &str, v: &Value| -> Result<String> {
            v.as_str().map(str::to_string).ok_or_else(|| {
                SessionError::InvalidArgument(format!(
                    "setting '{key}': expected a string, got {v}"
                ))
            })
        };
        let mut wf = None;
        let mut sign_in = SignIn::default();
        let mut per_item_events = false;
        let mut task_defaults = TaskSettings::default();
        let mut notes = Vec::new();
        for (key, v) in &m {
            if v.is_null() {
                // PowerShell sends unset parameters as null.
                continue;
            }
            match key.to_ascii_lowercase().as_str() {
                "workingfolder" => wf = Some(PathBuf::from(text(key, v)?)),
                "peritemevents" => per_item_events = crate::task::settings::parse_bool(key, v)?,
                // Register-SPMTMigration's: stop and replace the current session (the host's).
                "force" => {}
                _ if sign_in.set(key, v)? => {}
                _ => {
                    if let Some(n) = task_defaults.set(key, v)? {
                        notes.push(n.to_string());
                    }
                }
            }
        }
        let wf = match wf {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => crate::engine::default_working_folder("session"),
        };
        let mut s = Settings::defaults(wf);
        if let Some(root) = task_defaults.local_target_root.take() {
            task_defaults.local_target_root = Some(std::path::absolute(&root).unwrap_or(root));
        } else {
            task_defaults.local_target_root = s.task_defaults.local_target_root.take();
        }
        s.sign_in = sign_in;
        s.per_item_events = per_item_events;
        s.task_defaults = task_defaults;
        s.notes = notes;
        Ok(s)
    }

    /// A task from SPMT's JSON task format (or Add-SPMTTask's parameter sets) with these
    /// settings as its defaults, and the farm account it came with; a real site needs a way
    /// to sign in.
    pub(super) fn task(&self, task_json: &str) -> Result<(Task, FarmCredential)> {
        let mut notes = Vec::new();
        let (task_json, credential) = take_source_credential(task_json)?;
        let t = Task::from_spmt_json(&task_json, &self.task_defaults, &mut notes)?;
        if !t.is_local() && !self.sign_in.is_configured() {
            return Err(SessionError::InvalidArgument(format!(
                "task: TargetPath '{}' needs a sign-in: give the session SPOCredential (Username and Password) with ClientId, CertificatePath with ClientId, DeviceLogin, or AccessToken",
                t.target
            )));
        }
        if !matches!(credential, FarmCredential::None) && t.source.folder().is_some() {
            return Err(SessionError::InvalidArgument(
                "task: SharePointSourceCredential signs in to a SharePoint Server source; this task's source is a folder".into(),
            ));
        }
        Ok((t, credential))
    }
}

/// Takes Add-SPMTTask's `-SharePointSourceCredential` (`{"UserName": "DOMAIN\\user",
/// "Password": "…", "Auth": "ntlm"|"basic"}`) out of a task's JSON, so it is never part of the
/// task, its record or a message. JSON the task parser will refuse is passed on as it is.
fn take_source_credential(json: &str) -> Result<(String, FarmCredential)> {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(json) else {
        return Ok((json.to_string(), FarmCredential::None));
    };
    let Some(key) = m
        .keys()
        .find(|k| k.eq_ignore_ascii_case("SharePointSourceCredential"))
        .cloned()
    else {
        return Ok((json.to_string(), FarmCredential::None));
    };
    let v = m.remove(&key).unwrap_or_default();
    let field = |name: &str| {
        v.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        })
    };
    let shape = "SharePointSourceCredential: expected {\"UserName\": \"DOMAIN\\\\user\", \"Password\": \"...\"}";
    let (Some(user), Some(password)) = (field("UserName"), field("Password")) else {
        return Err(SessionError::InvalidArgument(shape.into()));
    };
    if user.trim().is_empty() {
        return Err(SessionError::InvalidArgument(shape.into()));
    }
    let credential = FarmCredential::new(
        field("Auth").unwrap_or("ntlm"),
        user.trim().to_string(),
        zeroize::Zeroizing::new(password.to_string()),
    )
    .map_err(|e| SessionError::InvalidArgument(format!("SharePointSourceCredential: {e}")))?;
    Ok((Value::Object(m).to_string(), credential))
}

//! Every task setting, once: its SPMT name (the serde name and what `spmt status --json`, the
//! reports and the task record show), the legacy and bulk-file aliases it is also read under,
//! how its value is parsed, and what spmt does with the settings it does not have yet.
//!
//! Every front end goes through [`TaskSettings::set`]: the CLI's flags, Register-SPMTMigration's
//! parameters (the C ABI's settings JSON), the `Settings` object of SPMT's JSON and CSV bulk
//! tasks, and the task record `spmt resume` reads back. Adding a setting is one field, one row
//! in [`KEYS`] and one arm in `set_field`/`to_map`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// A task's settings. Secrets (tokens, keys) are never part of them: they are recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSettings {
    pub scan_only: bool,
    /// Migrate hidden (dot) files and folders; SPMT's default is on.
    pub include_hidden_files: bool,
    /// Replace characters SharePoint rejects with this one instead of failing the item.
    pub replacement_of_invalid_char: Option<char>,
    /// Extensions to leave out, without dots, compared without regard to case.
    pub skip_files_with_extension: Vec<String>,
    pub migrate_files_modified_after: Option<SystemTime>,
    pub migrate_files_created_after: Option<SystemTime>,
    pub follow_symlinks: bool,
    /// Later rounds compare a content hash too, not only size and modification time.
    pub check_content: bool,
    /// Later rounds remove from the target what the source no longer has.
    pub propagate_deletes: bool,
    /// Migrate the source folder's contents, not the folder itself (SPMT's default: off).
    pub migrate_without_root_folder: bool,
    /// Data folder of the embedded local target, for tasks whose target is `local`.
    pub local_target_root: Option<PathBuf>,
    /// Older versions go with a file (SharePoint sources; a file share has one version).
    pub migrate_file_version_history: bool,
    /// Every older version, rather than the newest `number_of_versions_to_migrate`.
    pub keep_all_versions: bool,
    /// Versions a file arrives with, the current one included, when not keeping all.
    pub number_of_versions_to_migrate: u32,
    /// SPMT's three-column user mapping CSV (source login or SID, target UPN, is-group).
    pub user_mapping_file: Option<PathBuf>,
    /// Map a source user without a mapping row by the e-mail address the source knows.
    pub automatic_user_mapping: bool,
    /// Items with unique permissions keep them (SharePoint sources).
    pub preserve_permissions: bool,
}

impl Default for TaskSettings {
    /// SPMT's defaults.
    fn default() -> Self {
        TaskSettings {
            scan_only: false,
            include_hidden_files: true,
            replacement_of_invalid_char: None,
            skip_files_with_extension: Vec::new(),
            migrate_files_modified_after: None,
            migrate_files_created_after: None,
            follow_symlinks: false,
            check_content: false,
            propagate_deletes: false,
            migrate_without_root_folder: false,
            local_target_root: None,
            migrate_file_version_history: true,
            keep_all_versions: true,
            // "By default, the number of versions kept is 10" (spmt-features.md §1.3).
            number_of_versions_to_migrate: 10,
            user_mapping_file: None,
            automatic_user_mapping: true,
            preserve_permissions: true,
        }
    }
}

/// A setting spmt cannot honour yet: what it is and what to do instead. Hosts show it as they
/// show a missing feature (PowerShell: category NotImplemented, id `Spmt.NotSupported.<key>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Unsupported {
    /// The setting as the caller spelled it.
    pub key: String,
    pub feature: String,
    pub hint: String,
}

/// Why a setting was refused. Each message names the setting, the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("setting '{key}': {message}")]
    Invalid { key: String, message: String },
    #[error("setting '{}': {} is not supported by spmt yet. {}", .0.key, .0.feature, .0.hint)]
    Unsupported(Unsupported),
    #[error("unknown setting '{key}' (names follow Register-SPMTMigration's parameters and SPMT's JSON task Settings)")]
    Unknown { key: String },
}

/// What the task model does with a key.
#[derive(Debug, Clone, Copy)]
enum Meaning {
    Field(Field),
    /// Accepted with any value: nothing to do for a file share (one version a file, every
    /// round after the first incremental, no update check).
    Inapplicable,
    /// Accepted, with a note the host shows as a warning.
    Deprecated(&'static str),
    /// Accepted; when `true`, with a note on how spmt does it instead.
    NoteIfTrue(&'static str),
    /// Only the value `true` can be honoured (spmt always does this).
    OnlyTrue {
        feature: &'static str,
        hint: &'static str,
    },
    /// Accepted only with a value that asks for nothing (false, empty, null).
    OnlyOff {
        feature: &'static str,
    },
    /// `CONTENT` (the default) or `WORKFLOW`.
    MigrationType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ScanOnly,
    IncludeHiddenFiles,
    ReplacementOfInvalidChar,
    SkipFilesWithExtension,
    ModifiedAfter,
    CreatedAfter,
    FollowSymlinks,
    CheckContent,
    PropagateDeletes,
    MigrateWithoutRootFolder,
    LocalTargetRoot,
    MigrateFileVersionHistory,
    KeepAllVersions,
    NumberOfVersionsToMigrate,
    UserMappingFile,
    AutomaticUserMapping,
    PreservePermissions,
}

const SP_SOURCE: &str = "migration from SharePoint Server sources";
const CUSTOM_STORAGE: &str =
    "custom Azure storage from settings (the CLI has --azure-storage-connection-string)";
const WORKFLOW: &str = "workflow migration (MigrationType WORKFLOW)";

/// Every key, with its aliases: the first name is the canonical one (SPMT's). Matched without
/// regard to case, as SPMT's JSON reader does. Sources: reference/spmt-features.md §1.3
/// (Register-SPMTMigration), §2.2 (JSON task Settings), §2.4 (Migration Center names).
const KEYS: &[(&[&str], Meaning)] = &[
    (&["ScanOnly"], Meaning::Field(Field::ScanOnly)),
    (
        &["IncludeHiddenFiles", "MigrateHiddenFiles", "MigrateHiddenItems"],
        Meaning::Field(Field::IncludeHiddenFiles),
    ),
    (
        &["ReplacementOfInvalidChar"],
        Meaning::Field(Field::ReplacementOfInvalidChar),
    ),
    (
        &["SkipFilesWithExtension", "SkipFilesWithExtensions", "IgnoredFileExtensions"],
        Meaning::Field(Field::SkipFilesWithExtension),
    ),
    (
        &["MigrateFilesModifiedAfter", "MigrateItemsModifiedAfter"],
        Meaning::Field(Field::ModifiedAfter),
    ),
    (
        &["MigrateFilesCreatedAfter", "MigrateItemsCreatedAfter"],
        Meaning::Field(Field::CreatedAfter),
    ),
    (&["FollowSymlinks"], Meaning::Field(Field::FollowSymlinks)),
    (&["CheckContent"], Meaning::Field(Field::CheckContent)),
    (&["PropagateDeletes"], Meaning::Field(Field::PropagateDeletes)),
    (
        &["MigrateWithoutRootFolder"],
        Meaning::Field(Field::MigrateWithoutRootFolder),
    ),
    (&["LocalTargetRoot"], Meaning::Field(Field::LocalTargetRoot)),
    (
        &["MigrateFileVersionHistory"],
        Meaning::Field(Field::MigrateFileVersionHistory),
    ),
    (&["KeepAllVersions"], Meaning::Field(Field::KeepAllVersions)),
    (
        &["NumberOfVersionToMigrate", "KeepFileVersions", "NumberOfVersionsToMigrate"],
        Meaning::Field(Field::NumberOfVersionsToMigrate),
    ),
    (
        &["UserMappingFile", "UserMappingCSVFile"],
        Meaning::Field(Field::UserMappingFile),
    ),
    (
        &["AutomaticUserMapping", "AzureActiveDirectoryLookup", "EnableAzureDirectoryLookup"],
        Meaning::Field(Field::AutomaticUserMapping),
    ),
    (
        &["PreserveUserPermissionsForSharePointSource"],
        Meaning::Field(Field::PreservePermissions),
    ),
    (
        &["EnableMultiRound"],
        Meaning::NoteIfTrue("EnableMultiRound: spmt runs one round per start; start the migration again for the next round (rounds after the first are incremental)."),
    ),
    (
        &[
            "EnableIncremental",
            "IgnoreUpdate",
            "MigrateOneNoteNotebook",
            "SkipListWithAudienceEnabled",
        ],
        Meaning::Inapplicable,
    ),
    (
        &["Incremental"],
        Meaning::Deprecated("Incremental is deprecated (SPMT replaced it with EnableMultiRound); in spmt every round after the first is incremental."),
    ),
    (
        &["MigrateFilesAndFoldersWithInvalidChars"],
        Meaning::Deprecated("MigrateFilesAndFoldersWithInvalidChars is deprecated (SPMT 3.4.120.0); use ReplacementOfInvalidChar to rename such items instead of failing them."),
    ),
    (
        &["MigrateOneNoteFolderAsOneNoteNoteBook"],
        Meaning::Deprecated("MigrateOneNoteFolderAsOneNoteNoteBook is deprecated (SPMT 3.4.121.2) and has no effect; spmt migrates OneNote folders as folders of files."),
    ),
    (
        &["StartMigrationAutomaticallyWhenNoScanIssue"],
        Meaning::OnlyTrue {
            feature: "pausing between scan and migration",
            hint: "Use ScanOnly to scan without migrating.",
        },
    ),
    (
        &["EnableEncryption", "Encrypted"],
        Meaning::OnlyTrue {
            feature: "unencrypted packages",
            hint: "spmt always encrypts packages; remove the setting.",
        },
    ),
    (&["MigrationType"], Meaning::MigrationType),
    (
        &["PreserveUserPermissionsForFileShare", "PreservePermission"],
        Meaning::OnlyOff {
            feature: "preserving file share permissions",
        },
    ),
    (
        &[
            "UseCustomAzureStorage",
            "CustomAzureStorageAccount",
            "CustomAzureAccessKey",
            "DeleteTempFilesWhenMigrationDone",
            "CustomAzureDeletionAfterMig",
        ],
        Meaning::OnlyOff {
            feature: CUSTOM_STORAGE,
        },
    ),
    (
        &["DefaultFlowOwnerEmail", "HandleUnspportedWorkflowActions"],
        Meaning::OnlyOff { feature: WORKFLOW },
    ),
    (
        &[
            "MigrateAllSiteFieldsAndContentTypes",
            "SkipSitesWithName",
            "SkipListsWithName",
            "SkipContentTypesWithName",
            "DuplicatePageBehavior",
            "PreservePermissionInheritance",
            "MigrateSiteSettings",
            "SkipListWithAudienceTargetingEnabled",
            "MigrateNavigation",
            "MigrateTermGroups",
            "LookupReferencePolicy",
            "DisableNoScriptDuringMigration",
            "MigrateAllWebStructures",
        ],
        Meaning::OnlyOff { feature: SP_SOURCE },
    ),
    (
        &["FilterOutPathSpecialCharacters"],
        Meaning::OnlyOff {
            feature: "filtering out paths with special characters",
        },
    ),
];

fn meaning(key: &str) -> Option<Meaning> {
    KEYS.iter()
        .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(key)))
        .map(|(_, m)| *m)
}

/// True for a key the task model knows (a setting, an alias, or one it refuses knowingly).
pub fn is_known(key: &str) -> bool {
    meaning(key).is_some()
}

// ---------------------------------------------------------------------------------------------
// One parser per value type

fn invalid(key: &str, message: impl Into<String>) -> SettingError {
    SettingError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// `true`/`false`, or the same as a string (CSV bulk files and PowerShell give strings).
pub fn parse_bool(key: &str, v: &Value) -> Result<bool, SettingError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(key, format!("expected true or false, got {v}"))),
    }
}

fn parse_str<'a>(key: &str, v: &'a Value) -> Result<&'a str, SettingError> {
    v.as_str()
        .ok_or_else(|| invalid(key, format!("expected a string, got {v}")))
}

/// A date setting: `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SS[.f]` (UTC; PowerShell's
/// ConvertTo-Json of a DateTime) or RFC 3339 with an offset (a .NET `DateTime` over the C ABI).
/// The time of day is kept, so a resumed task filters exactly as its first round did.
pub fn parse_date(key: &str, s: &str) -> Result<SystemTime, SettingError> {
    let s = s.trim();
    let t = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&chrono::Utc)
    } else if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        t.and_utc()
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_time(chrono::NaiveTime::MIN).and_utc()
    } else {
        return Err(invalid(
            key,
            format!("'{s}' is not a date; use YYYY-MM-DD or a date and time such as 2024-05-06T14:30:00Z"),
        ));
    };
    let since = t.signed_duration_since(chrono::DateTime::UNIX_EPOCH);
    Ok(UNIX_EPOCH + since.to_std().unwrap_or_default())
}

/// How a date is written back: `YYYY-MM-DD` at midnight UTC, else RFC 3339 in UTC with the
/// time of day (and the fraction of a second).
pub fn date_string(t: SystemTime) -> String {
    let d = chrono::DateTime::<chrono::Utc>::from(t);
    if d.time() == chrono::NaiveTime::MIN {
        d.format("%Y-%m-%d").to_string()
    } else {
        d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

/// `"tmp:bak"` (SPMT's form), `"tmp;bak"`, `"tmp,bak"` or `["tmp", ".bak"]`; dots dropped.
pub fn parse_extensions(key: &str, v: &Value) -> Result<Vec<String>, SettingError> {
    let parts: Vec<&str> = match v {
        Value::String(s) => s.split([':', ';', ',']).collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| parse_str(key, x))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(
                key,
                format!("expected \"ext1:ext2\" or a list of strings, got {v}"),
            ))
        }
    };
    Ok(parts
        .iter()
        .map(|p| p.trim().trim_start_matches('.').to_string())
        .filter(|p| !p.is_empty())
        .collect())
}

/// A count of versions, 1 to 50,000 (SharePoint keeps at most 50,000 major versions); a
/// number or a string of one (CSV bulk files and PowerShell give strings).
pub fn parse_count(key: &str, v: &Value) -> Result<u32, SettingError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n @ 1..=50_000) => Ok(n as u32),
        _ => Err(invalid(
            key,
            format!("expected a number of versions from 1 to 50000, got {v}"),
        )),
    }
}

/// One character SharePoint itself accepts in names, or empty for none.
pub fn parse_replacement(key: &str, s: &str) -> Result<Option<char>, SettingError> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) if crate::scan::check_name(&c.to_string(), None).is_err() => Err(invalid(
            key,
            format!("'{c}' is itself not allowed in SharePoint names; use e.g. '_'"),
        )),
        (Some(c), None) => Ok(Some(c)),
        _ => Err(invalid(
            key,
            format!("one character expected (e.g. '_'), got '{s}'"),
        )),
    }
}

/// True when a value asks for nothing: false, empty, null.
fn inert(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.trim().is_empty() || s.trim().eq_ignore_ascii_case("false"),
        Value::Array(a) => a.iter().all(inert),
        _ => false,
    }
}

fn unsupported(key: &str, feature: &str, hint: &str) -> SettingError {
    SettingError::Unsupported(Unsupported {
        key: key.to_string(),
        feature: feature.to_string(),
        hint: hint.to_string(),
    })
}

const OFF_HINT: &str = "Remove the setting (or give it its 'off' value) to continue.";

impl TaskSettings {
    /// Sets one setting by any of its names. Null means "not given" (PowerShell sends unset
    /// parameters as null). Returns a note for deprecated settings.
    pub fn set(&mut self, key: &str, v: &Value) -> Result<Option<&'static str>, SettingError> {
        if v.is_null() {
            return Ok(None);
        }
        let Some(m) = meaning(key) else {
            return Err(SettingError::Unknown {
                key: key.to_string(),
            });
        };
        match m {
            Meaning::Field(f) => self.set_field(f, key, v)?,
            Meaning::Inapplicable => {}
            Meaning::Deprecated(note) => return Ok(Some(note)),
            Meaning::NoteIfTrue(note) => return Ok(parse_bool(key, v)?.then_some(note)),
            Meaning::OnlyTrue { feature, hint } => {
                if !parse_bool(key, v)? {
                    return Err(unsupported(key, feature, hint));
                }
            }
            Meaning::OnlyOff { feature } => {
                if !inert(v) {
                    return Err(unsupported(key, feature, OFF_HINT));
                }
            }
            Meaning::MigrationType => {
                let t = parse_str(key, v)?.trim();
                if t.eq_ignore_ascii_case("WORKFLOW") {
                    return Err(unsupported(
                        key,
                        WORKFLOW,
                        "Use MigrationType CONTENT (the default).",
                    ));
                }
                if !t.is_empty() && !t.eq_ignore_ascii_case("CONTENT") {
                    return Err(invalid(
                        key,
                        format!("'{t}' is not a migration type; use CONTENT or WORKFLOW"),
                    ));
                }
            }
        }
        Ok(None)
    }

    fn set_field(&mut self, f: Field, key: &str, v: &Value) -> Result<(), SettingError> {
        match f {
            Field::ScanOnly => self.scan_only = parse_bool(key, v)?,
            Field::IncludeHiddenFiles => self.include_hidden_files = parse_bool(key, v)?,
            Field::ReplacementOfInvalidChar => {
                self.replacement_of_invalid_char = parse_replacement(key, parse_str(key, v)?)?
            }
            Field::SkipFilesWithExtension => {
                self.skip_files_with_extension = parse_extensions(key, v)?
            }
            Field::ModifiedAfter => {
                self.migrate_files_modified_after = Some(parse_date(key, parse_str(key, v)?)?)
            }
            Field::CreatedAfter => {
                self.migrate_files_created_after = Some(parse_date(key, parse_str(key, v)?)?)
            }
            Field::FollowSymlinks => self.follow_symlinks = parse_bool(key, v)?,
            Field::CheckContent => self.check_content = parse_bool(key, v)?,
            Field::PropagateDeletes => self.propagate_deletes = parse_bool(key, v)?,
            Field::MigrateWithoutRootFolder => {
                self.migrate_without_root_folder = parse_bool(key, v)?
            }
            Field::LocalTargetRoot => {
                let p = parse_str(key, v)?;
                self.local_target_root = (!p.is_empty()).then(|| PathBuf::from(p));
            }
            Field::MigrateFileVersionHistory => {
                self.migrate_file_version_history = parse_bool(key, v)?
            }
            Field::KeepAllVersions => self.keep_all_versions = parse_bool(key, v)?,
            Field::NumberOfVersionsToMigrate => {
                self.number_of_versions_to_migrate = parse_count(key, v)?
            }
            Field::UserMappingFile => {
                let p = parse_str(key, v)?;
                self.user_mapping_file = (!p.trim().is_empty()).then(|| PathBuf::from(p));
            }
            Field::AutomaticUserMapping => self.automatic_user_mapping = parse_bool(key, v)?,
            Field::PreservePermissions => self.preserve_permissions = parse_bool(key, v)?,
        }
        Ok(())
    }

    /// Applies every entry of `m` (SPMT's JSON `Settings`, the task record); collects notes.
    pub fn set_all(
        &mut self,
        m: &Map<String, Value>,
        notes: &mut Vec<String>,
    ) -> Result<(), SettingError> {
        for (k, v) in m {
            if let Some(n) = self.set(k, v)? {
                notes.push(n.to_string());
            }
        }
        Ok(())
    }

    /// The settings under their canonical names; defaults included so a record is complete.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("ScanOnly", self.scan_only.into());
        put("IncludeHiddenFiles", self.include_hidden_files.into());
        if let Some(c) = self.replacement_of_invalid_char {
            put("ReplacementOfInvalidChar", c.to_string().into());
        }
        if !self.skip_files_with_extension.is_empty() {
            put(
                "SkipFilesWithExtension",
                self.skip_files_with_extension.clone().into(),
            );
        }
        if let Some(t) = self.migrate_files_modified_after {
            put("MigrateFilesModifiedAfter", date_string(t).into());
        }
        if let Some(t) = self.migrate_files_created_after {
            put("MigrateFilesCreatedAfter", date_string(t).into());
        }
        put("FollowSymlinks", self.follow_symlinks.into());
        put("CheckContent", self.check_content.into());
        put("PropagateDeletes", self.propagate_deletes.into());
        put(
            "MigrateWithoutRootFolder",
            self.migrate_without_root_folder.into(),
        );
        if let Some(p) = &self.local_target_root {
            put("LocalTargetRoot", p.display().to_string().into());
        }
        put(
            "MigrateFileVersionHistory",
            self.migrate_file_version_history.into(),
        );
        put("KeepAllVersions", self.keep_all_versions.into());
        put(
            "NumberOfVersionToMigrate",
            self.number_of_versions_to_migrate.into(),
        );
        if let Some(p) = &self.user_mapping_file {
            put("UserMappingFile", p.display().to_string().into());
        }
        put("AutomaticUserMapping", self.automatic_user_mapping.into());
        put(
            "PreserveUserPermissionsForSharePointSource",
            self.preserve_permissions.into(),
        );
        m
    }

    /// The scan's view of these settings (the target prefix is the engine's to fill in).
    pub fn scan_options(&self) -> crate::scan::ScanOptions {
        crate::scan::ScanOptions {
            replace_invalid_char: self.replacement_of_invalid_char,
            include_hidden: self.include_hidden_files,
            skip_extensions: self.skip_files_with_extension.clone(),
            modified_after: self.migrate_files_modified_after,
            created_after: self.migrate_files_created_after,
            follow_symlinks: self.follow_symlinks,
            preserve_permissions: self.preserve_permissions,
            ..Default::default()
        }
    }
}

impl Serialize for TaskSettings {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for TaskSettings {
    /// Through [`TaskSettings::set`], so a record reads exactly as any other front end's input.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = Map::<String, Value>::deserialize(d)?;
        let mut s = TaskSettings::default();
        s.set_all(&m, &mut Vec::new())
            .map_err(serde::de::Error::custom)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> SystemTime {
        parse_date("MigrateFilesModifiedAfter", s).unwrap()
    }

    #[test]
    fn settings_round_trip_through_json_with_spmt_names() {
        let mut s = TaskSettings::default();
        s.set("includehiddenfiles", &json!(false)).unwrap();
        s.set("SkipFilesWithExtensions", &json!("tmp:.bak"))
            .unwrap();
        s.set("MigrateItemsModifiedAfter", &json!("2020-01-31"))
            .unwrap();
        s.set("CheckContent", &json!("True")).unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"IncludeHiddenFiles\":false"), "{j}");
        assert!(
            j.contains("\"SkipFilesWithExtension\":[\"tmp\",\"bak\"]"),
            "{j}"
        );
        assert!(
            j.contains("\"MigrateFilesModifiedAfter\":\"2020-01-31\""),
            "{j}"
        );
        let back: TaskSettings = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn legacy_and_bulk_file_aliases_reach_the_same_field() {
        for key in [
            "IncludeHiddenFiles",
            "MIGRATEHIDDENFILES",
            "migrateHiddenItems",
        ] {
            let mut s = TaskSettings::default();
            s.set(key, &json!(false)).unwrap();
            assert!(!s.include_hidden_files, "{key}");
        }
        let mut s = TaskSettings::default();
        assert!(s.set("EnableMultiRound", &json!(true)).unwrap().is_some());
        for key in ["EnableMultiRound", "EnableIncremental"] {
            assert_eq!(s.set(key, &json!(false)), Ok(None), "{key}");
        }
        let note = s.set("incremental", &json!(true)).unwrap().unwrap();
        assert!(note.contains("EnableMultiRound"), "{note}");
        assert_eq!(s, TaskSettings::default());
    }

    /// A filter at 14:30 UTC stays at 14:30 through the task's record (what `spmt resume`
    /// reads), whatever form it came in.
    #[test]
    fn date_settings_keep_their_time_of_day_through_the_task_record() {
        let want = at("2024-05-06T14:30:00Z");
        assert_eq!(at("2024-05-06T16:30:00+02:00"), want);
        assert_eq!(at("2024-05-06T14:30:00"), want);
        assert_eq!(at("2024-05-06T14:30:00.000"), want);
        let mut s = TaskSettings {
            migrate_files_modified_after: Some(want),
            migrate_files_created_after: Some(at("2024-05-06")),
            ..Default::default()
        };
        let m = s.to_map();
        assert_eq!(
            m["MigrateFilesModifiedAfter"],
            json!("2024-05-06T14:30:00Z")
        );
        assert_eq!(m["MigrateFilesCreatedAfter"], json!("2024-05-06"));
        let back: TaskSettings = serde_json::from_value(Value::Object(m)).unwrap();
        assert_eq!(back, s);
        s.migrate_files_modified_after = Some(at("2024-05-06T14:30:00.25Z"));
        let back: TaskSettings = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s, "sub-second precision survives too");
    }

    #[test]
    fn version_and_people_settings_keep_spmt_defaults_and_names() {
        let mut s = TaskSettings::default();
        assert!(s.migrate_file_version_history && s.keep_all_versions);
        assert_eq!(s.number_of_versions_to_migrate, 10);
        s.set("KeepFileVersions", &json!("5")).unwrap();
        s.set("keepallversions", &json!(false)).unwrap();
        s.set("UserMappingCSVFile", &json!("/m.csv")).unwrap();
        let back: TaskSettings = serde_json::from_value(Value::Object(s.to_map())).unwrap();
        assert_eq!(back.number_of_versions_to_migrate, 5);
        assert_eq!(back.user_mapping_file, Some(PathBuf::from("/m.csv")));
        assert_eq!(back, s);
        let e = s
            .set("NumberOfVersionToMigrate", &json!(0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("NumberOfVersionToMigrate") && e.contains("1 to 50000"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_the_setting_the_value_and_the_fix() {
        let mut s = TaskSettings::default();
        let e = s
            .set("MigrateFilesCreatedAfter", &json!("31/01/2020"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("MigrateFilesCreatedAfter")
                && e.contains("31/01/2020")
                && e.contains("YYYY-MM-DD"),
            "{e}"
        );
        let e = s
            .set("ReplacementOfInvalidChar", &json!("*"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'*'") && e.contains("'_'"), "{e}");
        let e = s
            .set("ReplacementOfInvalidChar", &json!("__"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("one character"), "{e}");
        let e = s.set("ScanOnly", &json!(3)).unwrap_err().to_string();
        assert!(e.contains("ScanOnly") && e.contains("true or false"), "{e}");
        assert!(matches!(
            s.set("Bogus", &json!(1)),
            Err(SettingError::Unknown { .. })
        ));
    }

    #[test]
    fn unsupported_settings_say_what_and_what_instead_and_off_values_pass() {
        let mut s = TaskSettings::default();
        let Err(SettingError::Unsupported(u)) =
            s.set("preserveuserpermissionsforfileshare", &json!(true))
        else {
            panic!("file share permissions accepted")
        };
        assert_eq!(
            (u.key.as_str(), u.feature.as_str()),
            (
                "preserveuserpermissionsforfileshare",
                "preserving file share permissions"
            )
        );
        assert!(!u.hint.is_empty());
        for (k, v) in [
            ("PreserveUserPermissionsForFileShare", json!("")),
            ("PreservePermission", json!(false)),
            ("SkipSitesWithName", json!([])),
            ("EnableEncryption", json!(true)),
            ("MigrationType", json!("Content")),
        ] {
            assert_eq!(s.set(k, &v), Ok(None), "{k}");
        }
        for (k, v) in [
            ("EnableEncryption", json!(false)),
            ("MigrationType", json!("WORKFLOW")),
            ("StartMigrationAutomaticallyWhenNoScanIssue", json!(false)),
        ] {
            assert!(
                matches!(s.set(k, &v), Err(SettingError::Unsupported(_))),
                "{k}"
            );
        }
        assert!(matches!(
            s.set("MigrationType", &json!("BOTH")),
            Err(SettingError::Invalid { .. })
        ));
    }
}

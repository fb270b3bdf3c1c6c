//! A task's identity and settings: what makes running the same migration again its next round,
//! and what `spmt resume` needs to run a task again from its working folder alone.
//!
//! Settings carry SPMT's names (Register-SPMTMigration / JSON task `Settings`) so a task
//! reads the same in `spmt status --json`, the reports and an SPMT script. Secrets (tokens,
//! keys) are never part of them.

use super::MigrateOptions;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The user-facing target of a task: `local` for the embedded local target, else the site URL.
pub const LOCAL: &str = "local";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskSettings {
    pub scan_only: bool,
    pub include_hidden_files: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement_of_invalid_char: Option<char>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skip_files_with_extension: Vec<String>,
    /// `YYYY-MM-DD`, or RFC 3339 in UTC when the time of day is not midnight (see `date_string`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrate_files_modified_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrate_files_created_after: Option<String>,
    pub follow_symlinks: bool,
    /// Compare content hashes, not only size and modification time, in later rounds.
    pub check_content: bool,
    /// Remove from the target what earlier rounds migrated and the source no longer has.
    pub propagate_deletes: bool,
    /// Data folder of the embedded local target, for `local` tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_target_root: Option<PathBuf>,
}

/// How a date setting is kept: `YYYY-MM-DD` at midnight UTC, else RFC 3339 in UTC with the
/// time of day (and fraction of a second), so a resumed task filters exactly as its first round.
fn date_string(t: SystemTime) -> String {
    let d = chrono::DateTime::<chrono::Utc>::from(t);
    if d.time() == chrono::NaiveTime::MIN {
        d.format("%Y-%m-%d").to_string()
    } else {
        d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

/// A date setting: `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SS[.f]` (UTC; PowerShell's
/// ConvertTo-Json of a DateTime) or RFC 3339 with an offset (a .NET `DateTime` over the C ABI).
/// The one parser of dates for every host; the error names the setting and the forms.
pub fn parse_date(s: &str, setting: &str) -> Result<SystemTime, String> {
    let s = s.trim();
    let t = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&chrono::Utc)
    } else if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        t.and_utc()
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_time(chrono::NaiveTime::MIN).and_utc()
    } else {
        return Err(format!(
            "{setting} '{s}': not a date; use YYYY-MM-DD or a date and time such as 2024-05-06T14:30:00Z"
        ));
    };
    let since = t.signed_duration_since(chrono::DateTime::UNIX_EPOCH);
    Ok(UNIX_EPOCH + since.to_std().unwrap_or_default())
}

impl TaskSettings {
    pub fn from_options(o: &MigrateOptions, local_target_root: Option<&Path>) -> Self {
        TaskSettings {
            scan_only: o.scan_only,
            include_hidden_files: o.scan.include_hidden,
            replacement_of_invalid_char: o.scan.replace_invalid_char,
            skip_files_with_extension: o.scan.skip_extensions.clone(),
            migrate_files_modified_after: o.scan.modified_after.map(date_string),
            migrate_files_created_after: o.scan.created_after.map(date_string),
            follow_symlinks: o.scan.follow_symlinks,
            check_content: o.check_content,
            propagate_deletes: o.propagate_deletes,
            local_target_root: local_target_root.map(Path::to_path_buf),
        }
    }

    /// Applies these settings to `o`.
    pub fn apply(&self, o: &mut MigrateOptions) -> Result<(), String> {
        o.scan_only = self.scan_only;
        o.scan.include_hidden = self.include_hidden_files;
        o.scan.replace_invalid_char = self.replacement_of_invalid_char;
        o.scan.skip_extensions = self.skip_files_with_extension.clone();
        o.scan.follow_symlinks = self.follow_symlinks;
        o.scan.modified_after = self
            .migrate_files_modified_after
            .as_deref()
            .map(|s| parse_date(s, "MigrateFilesModifiedAfter"))
            .transpose()?;
        o.scan.created_after = self
            .migrate_files_created_after
            .as_deref()
            .map(|s| parse_date(s, "MigrateFilesCreatedAfter"))
            .transpose()?;
        o.check_content = self.check_content;
        o.propagate_deletes = self.propagate_deletes;
        Ok(())
    }
}

/// The task's id: stable for the same source folder, target, library and folder, so a later
/// run of the same migration is its next round (SPMT: "Duplicate tasks aren't allowed").
pub fn task_id(source: &Path, target: &str, list: &str, rel_path: &str) -> uuid::Uuid {
    let source = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let key = format!(
        "spmt:task:{}\n{}\n{}\n{}",
        source.display(),
        target.trim_end_matches('/').to_lowercase(),
        list.to_lowercase(),
        rel_path.trim_matches(['/', '\\']).to_lowercase()
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_json_with_spmt_names() {
        let s = TaskSettings {
            include_hidden_files: true,
            skip_files_with_extension: vec!["tmp".into()],
            migrate_files_modified_after: Some("2020-01-31".into()),
            check_content: true,
            ..Default::default()
        };
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"IncludeHiddenFiles\":true"), "{j}");
        assert!(j.contains("\"SkipFilesWithExtension\":[\"tmp\"]"), "{j}");
        let back: TaskSettings = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s);
        let mut o = MigrateOptions::new("/x".into(), "local".into(), "D".into(), "/w".into());
        back.apply(&mut o).unwrap();
        assert_eq!(
            TaskSettings::from_options(&o, None).migrate_files_modified_after,
            Some("2020-01-31".into())
        );
    }

    #[test]
    fn a_bad_date_names_the_setting_and_the_form() {
        let e = parse_date("31/01/2020", "MigrateFilesCreatedAfter").unwrap_err();
        assert!(e.contains("MigrateFilesCreatedAfter") && e.contains("YYYY-MM-DD"));
    }

    /// A filter at 14:30 UTC stays at 14:30 through the task's record (what `spmt resume`
    /// reads), whatever form it came in.
    #[test]
    fn date_settings_keep_their_time_of_day_through_the_task_record() {
        let at = |s| parse_date(s, "MigrateFilesModifiedAfter").unwrap();
        let want = at("2024-05-06T14:30:00Z");
        assert_eq!(at("2024-05-06T16:30:00+02:00"), want);
        assert_eq!(at("2024-05-06T14:30:00"), want);
        assert_eq!(at("2024-05-06T14:30:00.000"), want);
        let mut o = MigrateOptions::new("/x".into(), "local".into(), "D".into(), "/w".into());
        o.scan.modified_after = Some(want);
        o.scan.created_after = Some(at("2024-05-06"));
        let kept = TaskSettings::from_options(&o, None);
        assert_eq!(
            kept.migrate_files_modified_after.as_deref(),
            Some("2024-05-06T14:30:00Z")
        );
        assert_eq!(
            kept.migrate_files_created_after.as_deref(),
            Some("2024-05-06")
        );
        let json = serde_json::to_string(&kept).unwrap();
        let mut resumed = MigrateOptions::new("/x".into(), "local".into(), "D".into(), "/w".into());
        serde_json::from_str::<TaskSettings>(&json)
            .unwrap()
            .apply(&mut resumed)
            .unwrap();
        assert_eq!(resumed.scan.modified_after, Some(want));
        assert_eq!(resumed.scan.created_after, Some(at("2024-05-06")));
        // Sub-second precision survives too.
        o.scan.modified_after = Some(at("2024-05-06T14:30:00.25Z"));
        let kept = TaskSettings::from_options(&o, None);
        kept.apply(&mut resumed).unwrap();
        assert_eq!(resumed.scan.modified_after, o.scan.modified_after);
    }

    #[test]
    fn task_ids_are_stable_and_distinct() {
        let a = task_id(Path::new("/nonexistent/a"), "local", "Documents", "");
        assert_eq!(
            a,
            task_id(Path::new("/nonexistent/a"), "LOCAL", "documents", "/")
        );
        assert_ne!(
            a,
            task_id(Path::new("/nonexistent/a"), "local", "Documents", "sub")
        );
    }
}

//! The one task model: what to migrate, where to, and how. Every front end (CLI flags, the
//! C ABI's settings and task JSON, SPMT's JSON bulk file, Add-SPMTTask, `spmt resume` reading
//! a task record) builds a [`Task`] and nothing else; the engine runs a `Task`.
//!
//! Depends on nothing above it: `engine` and `session` use it, never the reverse.

pub mod settings;
pub mod source;

pub use settings::{parse_date, SettingError, TaskSettings, Unsupported};
pub use source::{SharePointLibrary, Source};

use serde_json::{Map, Value};
use std::path::Path;

/// The user-facing target of a task: `local` for the embedded local target, else the site URL.
pub const LOCAL: &str = "local";

/// One migration task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub source: Source,
    /// `local`, or the site URL.
    pub target: String,
    pub target_list: String,
    /// Where the items land in the library (`/`-separated, no leading or trailing `/`): the
    /// given TargetListRelativePath plus, unless MigrateWithoutRootFolder, the source folder's
    /// name (SPMT migrates the folder itself; for a library, its folder's name when the task
    /// names one). Resolved once, when the task is made.
    pub target_list_relative_path: String,
    pub settings: TaskSettings,
}

/// A task that cannot be made: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("{0}")]
    Setting(#[from] SettingError),
    #[error("task: {0}")]
    Invalid(String),
    #[error("task: {0}")]
    InvalidJson(String),
}

impl Task {
    /// A file-share task from its parts, as a front end names them.
    pub fn new(
        source: &Path,
        target: &str,
        target_list: &str,
        target_list_relative_path: &str,
        settings: TaskSettings,
    ) -> Result<Task, TaskError> {
        let raw = source.to_string_lossy();
        let lower = raw.trim().to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Err(TaskError::Invalid(format!(
                "'{raw}' is a SharePoint site, not a folder: give it as the SharePoint source \
                 (--sharepoint-source-site-url, -SharePointSourceSiteUrl, or SourcePath with a \
                 SourceList in a bulk file) together with the library's title"
            )));
        }
        let source = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
        Task::from_source(
            Source::FileShare(source),
            target,
            target_list,
            target_list_relative_path,
            settings,
        )
    }

    /// A task from any source; the target folder is resolved here, once.
    pub fn from_source(
        source: Source,
        target: &str,
        target_list: &str,
        target_list_relative_path: &str,
        settings: TaskSettings,
    ) -> Result<Task, TaskError> {
        let source = match source {
            Source::SharePointServer(mut l) => {
                l.site_url = l.site_url.trim().trim_end_matches('/').to_string();
                l.list = l.list.trim().to_string();
                l.list_relative_path = l
                    .list_relative_path
                    .replace('\\', "/")
                    .trim_matches('/')
                    .to_string();
                Source::SharePointServer(l)
            }
            s => s,
        };
        let target = if target.trim().eq_ignore_ascii_case(LOCAL) {
            LOCAL.to_string()
        } else {
            target.trim().to_string()
        };
        let base = target_list_relative_path
            .replace('\\', "/")
            .trim_matches('/')
            .to_string();
        let rel = match source.root_name() {
            Some(name) if !settings.migrate_without_root_folder => {
                if base.is_empty() {
                    name
                } else {
                    format!("{base}/{name}")
                }
            }
            _ => base,
        };
        let t = Task {
            source,
            target,
            target_list: target_list.trim().to_string(),
            target_list_relative_path: rel,
            settings,
        };
        t.validate()?;
        Ok(t)
    }

    fn validate(&self) -> Result<(), TaskError> {
        match &self.source {
            Source::FileShare(p) if p.as_os_str().is_empty() => {
                return Err(TaskError::Invalid(
                    "SourcePath is missing (the file-share folder)".into(),
                ))
            }
            Source::FileShare(_) => {}
            Source::SharePointServer(l) => {
                if !matches!(url::Url::parse(&l.site_url), Ok(u) if u.scheme() == "https" || u.scheme() == "http")
                {
                    return Err(TaskError::Invalid(format!(
                        "the SharePoint source site '{}' must be an http(s) URL, e.g. \
                         http://sp2016/sites/projects",
                        l.site_url
                    )));
                }
                if l.list.is_empty() {
                    return Err(TaskError::Invalid(
                        "SourceList is missing (the SharePoint Server library's title, e.g. Documents)"
                            .into(),
                    ));
                }
            }
        }
        if self.target.is_empty() {
            return Err(TaskError::Invalid(
                "TargetPath is missing (a site URL, or 'local' for the embedded local target)"
                    .into(),
            ));
        }
        if !self.is_local() {
            match url::Url::parse(&self.target) {
                Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                Ok(_) => {
                    return Err(TaskError::Invalid(format!(
                        "TargetPath '{}' must be an http(s) site URL or 'local'",
                        self.target
                    )))
                }
                Err(e) => {
                    return Err(TaskError::Invalid(format!(
                        "TargetPath '{}' is not a URL ({e}); use a site URL or 'local'",
                        self.target
                    )))
                }
            }
        }
        if self.target_list.is_empty() {
            return Err(TaskError::Invalid(
                "TargetList is missing (the document library's title, e.g. Documents)".into(),
            ));
        }
        Ok(())
    }

    pub fn is_local(&self) -> bool {
        self.target == LOCAL
    }

    /// Stable for the same source folder, target, library and folder, so running the same
    /// migration again is its next round (SPMT: "Duplicate tasks aren't allowed").
    pub fn id(&self) -> uuid::Uuid {
        task_id(
            &self.source.identity(),
            &self.target,
            &self.target_list,
            &self.target_list_relative_path,
        )
    }

    /// SPMT's JSON task: `{SourcePath, TargetPath, TargetList, TargetListRelativePath,
    /// Settings}`, Add-SPMTTask's FileShare names (`FileShareSource`, `TargetSiteUrl`), or a
    /// `{"Tasks": [one task]}` file. `defaults` are the session's settings; the task's own
    /// `Settings` go over them. Deprecation notes are added to `notes`.
    pub fn from_spmt_json(
        json: &str,
        defaults: &TaskSettings,
        notes: &mut Vec<String>,
    ) -> Result<Task, TaskError> {
        let mut m = match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(TaskError::InvalidJson("must be a JSON object".into())),
            Err(e) => return Err(TaskError::InvalidJson(e.to_string())),
        };
        if let Some((_, tasks)) = m.iter().find(|(k, _)| k.eq_ignore_ascii_case("tasks")) {
            m = match tasks {
                Value::Array(a) if a.len() == 1 => match &a[0] {
                    Value::Object(t) => t.clone(),
                    _ => return Err(TaskError::Invalid("Tasks[0] must be an object".into())),
                },
                _ => {
                    return Err(TaskError::Invalid(
                        "a Tasks list must hold exactly one task; add tasks one at a time".into(),
                    ))
                }
            };
        }
        Task::from_fields(&m, defaults, notes)
    }

    /// The fields of one SPMT task (JSON object, or a bulk CSV row as an object).
    pub fn from_fields(
        m: &Map<String, Value>,
        defaults: &TaskSettings,
        notes: &mut Vec<String>,
    ) -> Result<Task, TaskError> {
        let mut settings = defaults.clone();
        let (mut source, mut target, mut list, mut rel) = (None, None, None, String::new());
        let (mut source_list, mut source_rel, mut site_url) = (None, String::new(), None);
        let text = |k: &str, v: &Value| -> Result<String, TaskError> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| TaskError::Invalid(format!("{k}: expected a string, got {v}")))
        };
        for (key, v) in m {
            if v.is_null() {
                continue;
            }
            match key.to_ascii_lowercase().as_str() {
                "sourcepath" | "filesharesource" => source = Some(text(key, v)?),
                "targetpath" | "targetsiteurl" => target = Some(text(key, v)?),
                "targetlist" => list = Some(text(key, v)?),
                "targetlistrelativepath" => rel = text(key, v)?,
                // Add-SPMTTask's name for the site (its credential is the session's to keep).
                "sharepointsourcesiteurl" => site_url = Some(text(key, v)?),
                "sourcelist" => source_list = Some(text(key, v)?),
                "sourcelistrelativepath" => source_rel = text(key, v)?,
                "migrateall" => {
                    return Err(SettingError::Unsupported(Unsupported {
                        key: key.clone(),
                        feature: "migrating every library of a site at once (-MigrateAll)".into(),
                        hint: "add one task per library with -SourceList (and -SourceListRelativePath for a folder of it).".into(),
                    })
                    .into())
                }
                "items" => {
                    return Err(SettingError::Unsupported(Unsupported {
                        key: key.clone(),
                        feature: "choosing single items of a SharePoint Server library".into(),
                        hint: "migrate the library, or a folder of it with SourceListRelativePath."
                            .into(),
                    })
                    .into())
                }
                "settings" => {
                    let Value::Object(s) = v else {
                        return Err(TaskError::Invalid("Settings must be an object".into()));
                    };
                    settings.set_all(s, notes)?;
                }
                // MigrationType and the like may sit at the task's top level too.
                _ if settings::is_known(key) => {
                    if let Some(n) = settings.set(key, v)? {
                        notes.push(n.to_string());
                    }
                }
                _ => {
                    return Err(TaskError::Invalid(format!(
                        "unknown field '{key}' (SPMT JSON: SourcePath, TargetPath, TargetList, TargetListRelativePath, Settings)"
                    )))
                }
            }
        }
        // SPMT's bulk files name a SharePoint source by its site URL as SourcePath and the
        // library as SourceList.
        let is_url = |s: &str| {
            let l = s.trim().to_ascii_lowercase();
            l.starts_with("http://") || l.starts_with("https://")
        };
        let site = site_url.or_else(|| source.clone().filter(|s| is_url(s)));
        if site.is_some() || source_list.is_some() {
            let Some(site_url) = site else {
                return Err(TaskError::Invalid(
                    "SourceList names a SharePoint library: give its site URL as SourcePath \
                     (or SharePointSourceSiteUrl)"
                        .into(),
                ));
            };
            return Task::from_source(
                Source::SharePointServer(SharePointLibrary {
                    site_url,
                    list: source_list.unwrap_or_default(),
                    list_relative_path: source_rel,
                }),
                &target.unwrap_or_default(),
                &list.unwrap_or_default(),
                &rel,
                settings,
            );
        }
        Task::new(
            Path::new(&source.unwrap_or_default()),
            &target.unwrap_or_default(),
            &list.unwrap_or_default(),
            &rel,
            settings,
        )
    }

    /// A task as its record keeps it (`spmt resume`): nothing is resolved again.
    pub fn recorded(
        source: &str,
        target: &str,
        target_list: &str,
        target_list_relative_path: &str,
        settings_json: &str,
    ) -> Result<Task, TaskError> {
        let settings: TaskSettings = serde_json::from_str(settings_json)
            .map_err(|e| TaskError::Invalid(format!("its recorded settings: {e}")))?;
        Ok(Task {
            source: Source::from_record(source),
            target: target.to_string(),
            target_list: target_list.to_string(),
            target_list_relative_path: target_list_relative_path.to_string(),
            settings,
        })
    }

    /// Where the task's items are, as a URL-like string: the site, library and folder.
    pub fn target_uri(&self) -> String {
        target_uri(
            &self.target,
            &self.target_list,
            &self.target_list_relative_path,
        )
    }
}

/// The target as a URL-like string: the site and library, and the folder if any.
pub fn target_uri(site: &str, list: &str, rel_path: &str) -> String {
    let mut s = format!("{}/{}", site.trim_end_matches('/'), list);
    if !rel_path.trim_matches('/').is_empty() {
        s.push('/');
        s.push_str(rel_path.trim_matches('/'));
    }
    s
}

/// The task's id from its identity (see [`Task::id`]).
pub fn task_id(source: &str, target: &str, list: &str, rel_path: &str) -> uuid::Uuid {
    let key = format!(
        "spmt:task:{}\n{}\n{}\n{}",
        source,
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
    fn task_ids_are_stable_and_distinct() {
        let a = task_id(
            &Source::FileShare("/nonexistent/a".into()).identity(),
            "local",
            "Documents",
            "",
        );
        assert_eq!(
            a,
            task_id(
                &Source::FileShare("/nonexistent/a".into()).identity(),
                "LOCAL",
                "documents",
                "/"
            )
        );
        assert_ne!(
            a,
            task_id(
                &Source::FileShare("/nonexistent/a".into()).identity(),
                "local",
                "Documents",
                "sub"
            )
        );
    }

    #[test]
    fn tasks_read_spmt_json_for_both_sources() {
        let d = TaskSettings::default();
        let mut notes = Vec::new();
        let t = Task::from_spmt_json(
            r#"{"Tasks":[{"SourcePath":"/srv/dept1","TargetPath":"https://contoso.sharepoint.com/sites/a","TargetList":"Documents","TargetListRelativePath":"x/","Settings":{"MigrateHiddenItems":false,"SkipFilesWithExtensions":"txt:mp3","EnableIncremental":true}}]}"#,
            &d,
            &mut notes,
        )
        .unwrap();
        assert_eq!(t.target_list_relative_path, "x/dept1");
        assert!(!t.settings.include_hidden_files);
        assert_eq!(t.settings.skip_files_with_extension, ["txt", "mp3"]);
        let e = Task::from_spmt_json(
            r#"{"SourcePath":"http://onprem/sites/test","TargetPath":"local","TargetList":"D"}"#,
            &d,
            &mut notes,
        )
        .unwrap_err();
        assert!(e.to_string().contains("SourceList is missing"), "{e}");
        // SPMT's bulk JSON names a library by SourcePath + SourceList.
        let expected = Source::SharePointServer(SharePointLibrary {
            site_url: "http://onprem/sites/test".into(),
            list: "Shared Documents".into(),
            list_relative_path: "Reports/2024".into(),
        });
        for json in [
            r#"{"SourcePath":"http://onprem/sites/test/","SourceList":"Shared Documents","SourceListRelativePath":"/Reports/2024/","TargetPath":"local","TargetList":"D"}"#,
            r#"{"SourcePath":"http://onprem/sites/test","SourceList":"Shared Documents","SourceListRelativePath":"Reports\\2024","TargetSiteUrl":"local","TargetList":"D"}"#,
        ] {
            let t = Task::from_spmt_json(json, &d, &mut notes).unwrap();
            assert_eq!(t.source, expected, "{json}");
            // The library's folder keeps its name in the target, as a file share's does.
            assert_eq!(t.target_list_relative_path, "2024");
        }
        let e = Task::from_spmt_json(
            r#"{"SourceList":"Documents","TargetPath":"local","TargetList":"D"}"#,
            &d,
            &mut notes,
        )
        .unwrap_err();
        assert!(e.to_string().contains("site URL"), "{e}");
        // Add-SPMTTask's SharePoint names make the same task as the bulk file's.
        let t = Task::from_spmt_json(
            r#"{"SharePointSourceSiteUrl":"http://onprem/sites/test","SourceList":"D","TargetPath":"local","TargetList":"D"}"#,
            &d,
            &mut notes,
        )
        .unwrap();
        let bulk = Task::from_spmt_json(
            r#"{"SourcePath":"http://onprem/sites/test","SourceList":"D","TargetPath":"local","TargetList":"D"}"#,
            &d,
            &mut notes,
        )
        .unwrap();
        assert_eq!(t.id(), bulk.id());
        let e = Task::from_spmt_json(
            r#"{"SharePointSourceSiteUrl":"http://onprem/sites/test","MigrateAll":true,"TargetPath":"local","TargetList":"D"}"#,
            &d,
            &mut notes,
        )
        .unwrap_err();
        assert!(e.to_string().contains("-SourceList"), "{e}");
        let e = Task::from_spmt_json(
            r#"{"SourcePath":"/s","TargetPath":"local","TargetList":"D","Items":{}}"#,
            &d,
            &mut notes,
        )
        .unwrap_err();
        assert!(
            matches!(e, TaskError::Setting(SettingError::Unsupported(_))),
            "{e}"
        );
        for (json, what) in [
            (r#"{"TargetPath":"local","TargetList":"D"}"#, "SourcePath"),
            (r#"{"SourcePath":"/s","TargetList":"D"}"#, "TargetPath"),
            (
                r#"{"SourcePath":"/s","TargetPath":"ftp://x","TargetList":"D"}"#,
                "http(s)",
            ),
            (r#"{"SourcePath":"/s","TargetPath":"local"}"#, "TargetList"),
            (
                r#"{"SourcePath":"/s","TargetPath":"local","TargetList":"D","Bogus":1}"#,
                "Bogus",
            ),
        ] {
            let e = Task::from_spmt_json(json, &d, &mut notes)
                .unwrap_err()
                .to_string();
            assert!(e.contains(what), "{json}: {e}");
        }
    }

    #[test]
    fn the_root_folder_is_kept_unless_migrate_without_root_folder() {
        let mut s = TaskSettings::default();
        let t = Task::new(Path::new("/srv/dept1"), "Local", "D", "\\a\\b\\", s.clone()).unwrap();
        assert_eq!(
            (t.target.as_str(), t.target_list_relative_path.as_str()),
            ("local", "a/b/dept1")
        );
        s.migrate_without_root_folder = true;
        let t = Task::new(Path::new("/srv/dept1"), "local", "D", "a/b", s).unwrap();
        assert_eq!(t.target_list_relative_path, "a/b");
        assert_eq!(t.target_uri(), "local/D/a/b");
    }
}

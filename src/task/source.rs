//! What a task migrates from: a file-share folder, or a SharePoint Server document library.
//! Credentials are not part of it: they are given to the run, never recorded.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A folder, absolute.
    FileShare(PathBuf),
    SharePointServer(SharePointLibrary),
}

/// A document library (or a folder in it) on a SharePoint Server site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharePointLibrary {
    /// The site (web) URL, without a trailing `/`.
    pub site_url: String,
    /// The library's title (SPMT's SourceList).
    pub list: String,
    /// SPMT's SourceListRelativePath: a folder in the library, `/`-separated, or empty.
    #[serde(default)]
    pub list_relative_path: String,
}

/// How a SharePoint Server source is written in a task record.
pub const RECORD_PREFIX: &str = "sharepoint-server:";

impl Source {
    /// The folder of a file-share source.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            Source::FileShare(p) => Some(p),
            Source::SharePointServer(_) => None,
        }
    }

    /// The name the source's top folder keeps in the target (SPMT migrates the folder itself
    /// unless MigrateWithoutRootFolder): the folder's name, or the library folder's last name.
    /// A whole library has none: its contents land where the task points.
    pub fn root_name(&self) -> Option<String> {
        match self {
            Source::FileShare(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
            Source::SharePointServer(l) => l
                .list_relative_path
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        }
    }

    /// A short name for folders named after the task: the top folder's name, or the library's.
    pub fn label(&self) -> String {
        match self {
            Source::SharePointServer(l) => self.root_name().unwrap_or_else(|| l.list.clone()),
            Source::FileShare(_) => self.root_name().unwrap_or_else(|| "session".into()),
        }
    }

    /// For people: the folder, or the library's URL-like location.
    pub fn shown(&self) -> String {
        match self {
            Source::FileShare(p) => p.display().to_string(),
            Source::SharePointServer(l) => {
                crate::task::target_uri(&l.site_url, &l.list, &l.list_relative_path)
            }
        }
    }

    /// As the task record keeps it; [`Source::from_record`] reads it back.
    pub fn record(&self) -> String {
        match self {
            Source::FileShare(p) => p.display().to_string(),
            Source::SharePointServer(l) => format!(
                "{RECORD_PREFIX}{}",
                serde_json::to_string(l).unwrap_or_default()
            ),
        }
    }

    pub fn from_record(s: &str) -> Source {
        s.strip_prefix(RECORD_PREFIX)
            .and_then(|j| serde_json::from_str(j).ok())
            .map(Source::SharePointServer)
            .unwrap_or_else(|| Source::FileShare(PathBuf::from(s)))
    }

    /// What makes two tasks' sources the same: the real folder, or the site, library and
    /// folder compared as SharePoint compares them (without case).
    pub fn identity(&self) -> String {
        match self {
            Source::FileShare(p) => std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
            Source::SharePointServer(l) => format!(
                "{RECORD_PREFIX}{}\n{}\n{}",
                l.site_url.trim_end_matches('/').to_lowercase(),
                l.list.to_lowercase(),
                l.list_relative_path.trim_matches('/').to_lowercase()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_reads_back_from_its_record() {
        for s in [
            Source::FileShare(PathBuf::from("/srv/a b")),
            Source::SharePointServer(SharePointLibrary {
                site_url: "http://sp2016/sites/proj".into(),
                list: "Shared Documents".into(),
                list_relative_path: "Reports/2024".into(),
            }),
        ] {
            assert_eq!(Source::from_record(&s.record()), s);
        }
    }
}

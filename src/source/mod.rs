//! Sources: where a task's items come from. Each source lists its items as [`ScanItem`]s judged
//! by the same rules (`crate::scan`), in pre-order (a folder before its contents), and opens a
//! file's current bytes for upload; everything after (packaging, encryption, upload, import,
//! reports, rounds, resume) is the same for all of them.
//!
//! - `file_share`: a folder tree on a local or mounted file system;
//! - `sharepoint_server`: a document library on a SharePoint Server 2013+ site, over REST.

pub mod file_share;
pub mod sharepoint_server;

pub use crate::people::SourceUser;
pub use crate::scan::ScanItem;
use crate::scan::{ScanCounts, ScanError, ScanOptions};
use crate::task::Source;
use std::path::{Path, PathBuf};

/// A task's source, ready to be read by one round.
pub enum Reader {
    FileShare(PathBuf),
    SharePointServer(Box<sharepoint_server::Library>),
}

impl Reader {
    /// Checks the source is there and usable, before the target is touched.
    /// `working_folder` holds what a source must keep on disk meanwhile (downloads).
    pub async fn connect(
        source: &Source,
        credential: &sharepoint_server::FarmCredential,
        working_folder: &Path,
    ) -> Result<Reader, ScanError> {
        match source {
            Source::FileShare(root) => {
                file_share::check_root(root)?;
                Ok(Reader::FileShare(root.clone()))
            }
            Source::SharePointServer(l) => {
                let spool = working_folder.join("downloads");
                // Downloads an earlier, killed run left (each is unlinked once complete).
                let _ = std::fs::remove_dir_all(&spool);
                Ok(Reader::SharePointServer(Box::new(
                    sharepoint_server::Library::connect(l, credential.clone(), spool).await?,
                )))
            }
        }
    }

    /// Lists every item in pre-order, calling `sink` for each; `sink` returns false to stop.
    /// Blocking: runs on the scan thread.
    pub fn scan(
        &self,
        opts: &ScanOptions,
        sink: impl FnMut(ScanItem) -> bool,
    ) -> Result<ScanCounts, ScanError> {
        match self {
            Reader::FileShare(root) => file_share::scan(root, opts, sink),
            Reader::SharePointServer(lib) => lib.scan(opts, sink),
        }
    }

    /// Where the item at `rel` (relative to the source's top, `/`-separated) is read from.
    pub fn locate(&self, rel: &str) -> PathBuf {
        match self {
            Reader::FileShare(root) => root.join(rel),
            Reader::SharePointServer(lib) => lib.locate(rel),
        }
    }

    /// Opens the current bytes of the file at `at` (from [`Reader::locate`]) whose listing said
    /// `size` bytes. `Live` content is the source file itself, which may change while it is read;
    /// a `Copy` was checked whole when it was made.
    pub async fn open(&self, at: PathBuf, size: u64) -> std::io::Result<(std::fs::File, Content)> {
        match self {
            Reader::FileShare(_) => {
                // Out of descriptors for a moment, the file waits for some rather than failing.
                let f = tokio::task::spawn_blocking(move || {
                    crate::limits::retry_exhausted(std::time::Duration::from_secs(60), || {
                        std::fs::File::open(&at)
                    })
                })
                .await
                .map_err(std::io::Error::other)??;
                Ok((f, Content::Live))
            }
            Reader::SharePointServer(lib) => {
                let f = lib.open(&at.to_string_lossy(), size).await?;
                Ok((f, Content::Copy))
            }
        }
    }
}

impl Reader {
    /// ExportSettings' `SourceType` for packages from this source (spo-migration-api.md §6.2).
    pub fn source_type(&self) -> &'static str {
        match self {
            Reader::FileShare(_) => "FileShare",
            Reader::SharePointServer(_) => "SharePointOnPremServer",
        }
    }

    /// The source site's users and groups (none for a file share).
    pub fn users(&self) -> &[SourceUser] {
        match self {
            Reader::FileShare(_) => &[],
            Reader::SharePointServer(lib) => lib.users(),
        }
    }

    /// The source site's role definitions (none for a file share).
    pub fn roles(&self) -> &[crate::people::RoleDef] {
        match self {
            Reader::FileShare(_) => &[],
            Reader::SharePointServer(lib) => lib.roles(),
        }
    }

    /// Ids of people the scan's items name that are not among [`Reader::users`] (deleted).
    pub fn missing_users(&self) -> Vec<i64> {
        match self {
            Reader::FileShare(_) => Vec::new(),
            Reader::SharePointServer(lib) => lib.missing_users(),
        }
    }

    /// The older versions of the file at `at` the task's settings keep, oldest first. A file
    /// share has none.
    pub async fn history(
        &self,
        at: &Path,
        policy: VersionPolicy,
    ) -> std::io::Result<Vec<SourceVersion>> {
        match self {
            Reader::FileShare(_) => Ok(Vec::new()),
            Reader::SharePointServer(_) if !policy.migrate => Ok(Vec::new()),
            Reader::SharePointServer(lib) => {
                let all = lib.history(&at.to_string_lossy()).await?;
                Ok(policy.pick(all))
            }
        }
    }

    /// Opens an older version's bytes (a checked copy, like a SharePoint file's current bytes).
    pub async fn open_version(&self, v: &SourceVersion) -> std::io::Result<std::fs::File> {
        match self {
            Reader::FileShare(_) => Err(std::io::Error::other("a file share has no versions")),
            Reader::SharePointServer(lib) => lib.open_version(v).await,
        }
    }
}

/// An older version of a file on the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVersion {
    /// SharePoint's version id: major × 512 + minor.
    pub id: u32,
    pub label: String,
    pub created: std::time::SystemTime,
    /// Source user id of who made it.
    pub created_by: Option<i64>,
    pub comment: Option<String>,
    pub size: u64,
    /// Where its bytes are, relative to the site (`_vti_history/512/Shared Documents/a.docx`).
    pub url: String,
}

/// Which older versions go with a file: SPMT's MigrateFileVersionHistory, KeepAllVersions and
/// NumberOfVersionToMigrate (which counts the current version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionPolicy {
    pub migrate: bool,
    pub keep_all: bool,
    pub keep: u32,
}

impl VersionPolicy {
    pub fn of(s: &crate::task::TaskSettings) -> Self {
        VersionPolicy {
            migrate: s.migrate_file_version_history,
            keep_all: s.keep_all_versions,
            keep: s.number_of_versions_to_migrate,
        }
    }

    /// The newest versions the policy keeps from `older` (oldest first), still oldest first.
    pub fn pick(self, mut older: Vec<SourceVersion>) -> Vec<SourceVersion> {
        if !self.migrate {
            return Vec::new();
        }
        if !self.keep_all {
            let keep = self.keep.saturating_sub(1) as usize;
            let drop = older.len().saturating_sub(keep);
            older.drain(..drop);
        }
        older
    }
}

/// What an opened file's bytes are: see [`Reader::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Live,
    Copy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_count_includes_the_current_version_and_keeps_the_newest() {
        let v = |id: u32| SourceVersion {
            id,
            label: format!("{}.0", id / 512),
            created: std::time::SystemTime::UNIX_EPOCH,
            created_by: None,
            comment: None,
            size: 0,
            url: String::new(),
        };
        let older: Vec<_> = (1..=4).map(|n| v(n * 512)).collect();
        let p = |migrate, keep_all, keep| VersionPolicy {
            migrate,
            keep_all,
            keep,
        };
        assert_eq!(p(true, true, 1).pick(older.clone()).len(), 4);
        let three = p(true, false, 3).pick(older.clone());
        assert_eq!(three.iter().map(|v| v.id).collect::<Vec<_>>(), [1536, 2048]);
        assert!(p(true, false, 1).pick(older.clone()).is_empty());
        assert!(p(false, true, 10).pick(older).is_empty());
    }
}

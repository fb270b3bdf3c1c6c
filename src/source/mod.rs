//! Sources: where a task's items come from. Each source lists its items as [`ScanItem`]s judged
//! by the same rules (`crate::scan`), in pre-order (a folder before its contents), and opens a
//! file's current bytes for upload; everything after (packaging, encryption, upload, import,
//! reports, rounds, resume) is the same for all of them.
//!
//! - `file_share`: a folder tree on a local or mounted file system;
//! - `sharepoint_server`: a document library on a SharePoint Server 2013+ site, over REST.

pub mod file_share;
pub mod sharepoint_server;

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

/// What an opened file's bytes are: see [`Reader::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Live,
    Copy,
}

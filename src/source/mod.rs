//! Sources: where a task's items come from. Each source lists its items as [`ScanItem`]s judged
//! by the same rules (`crate::scan`), in pre-order (a folder before its contents), and opens a
//! file's current bytes for upload; everything after (packaging, encryption, upload, import,
//! reports, rounds, resume) is the same for all of them.
//!
//! - `file_share`: a folder tree on a local or mounted file system.

pub mod file_share;

pub use crate::scan::ScanItem;
use crate::scan::{ScanCounts, ScanError, ScanOptions};
use crate::task::Source;
use std::path::PathBuf;

/// A task's source, ready to be read by one round.
pub enum Reader {
    FileShare(PathBuf),
}

impl Reader {
    /// Checks the source is there and usable, before the target is touched.
    pub async fn connect(source: &Source) -> Result<Reader, ScanError> {
        match source {
            Source::FileShare(root) => {
                file_share::check_root(root)?;
                Ok(Reader::FileShare(root.clone()))
            }
            Source::SharePointServer(l) => Err(ScanError::Source(format!(
                "{}: reading SharePoint Server libraries is not built yet",
                crate::task::target_uri(&l.site_url, &l.list, &l.list_relative_path)
            ))),
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
        }
    }

    /// Where the item at `rel` (relative to the source's top, `/`-separated) is read from.
    pub fn locate(&self, rel: &str) -> PathBuf {
        match self {
            Reader::FileShare(root) => root.join(rel),
        }
    }
}

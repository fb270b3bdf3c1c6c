//! Package: the Migration API's content package (reference §6) for a batch of scanned items.
//!
//! A package is the eight XMLs plus one content blob per file. Each package re-declares the
//! folders above its items (same ids every time), so packages are self-contained and their
//! import jobs may run in any order or in parallel.

pub mod ids;
pub mod xml;

use crate::scan::{ItemFacts, ItemKind};
use std::sync::Arc;
use std::time::SystemTime;
use uuid::Uuid;

/// Where a package lands: real ids from the target (reference §6.8).
#[derive(Debug, Clone)]
pub struct Target {
    /// Absolute site URL for `ExportSettings@SiteUrl`.
    pub site_url: String,
    /// Server-relative web URL, e.g. `/sites/Proj`.
    pub web_url: String,
    pub web_id: Uuid,
    pub web_root_folder_id: Uuid,
    pub list_id: Uuid,
    pub list_title: String,
    pub list_root_folder_id: Uuid,
    /// Server-relative, e.g. `/sites/Proj/Shared Documents`.
    pub list_root_url: String,
}

impl Target {
    /// Web-relative form of a server-relative URL (`/sites/Proj/Shared Documents/a` → `Shared Documents/a`).
    pub fn web_relative(&self, server_relative: &str) -> String {
        let web = self.web_url.trim_end_matches('/');
        server_relative
            .strip_prefix(web)
            .unwrap_or(server_relative)
            .trim_start_matches('/')
            .to_string()
    }

    /// Server-relative URL of a path relative to the library root.
    pub fn server_relative(&self, lib_rel: &str) -> String {
        if lib_rel.is_empty() {
            self.list_root_url.clone()
        } else {
            format!("{}/{}", self.list_root_url.trim_end_matches('/'), lib_rel)
        }
    }
}

/// One folder or file as it goes into a manifest.
#[derive(Debug, Clone)]
pub struct PkgItem {
    pub kind: ItemKind,
    /// Path relative to the library root folder (target-list-relative path included).
    pub lib_rel: String,
    /// SPFile/SPFolder id.
    pub object_id: Uuid,
    /// SPListItem id.
    pub item_id: Uuid,
    pub int_id: i64,
    pub size: u64,
    pub ctime: SystemTime,
    pub mtime: SystemTime,
    /// Content blob name in the data container (files only).
    pub blob_name: String,
    /// People and version label from a SharePoint source.
    pub facts: Option<Arc<ItemFacts>>,
    /// Older versions sent with the file, oldest first (filled in by the upload).
    pub versions: Vec<PkgVersion>,
}

/// An older version of a file: its own content blob, label, time, author and comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgVersion {
    pub label: String,
    /// When this version was made (SharePoint: `FileVersion.Created`).
    pub modified: SystemTime,
    /// Source user id of who made it.
    pub modified_by: Option<i64>,
    pub comment: Option<String>,
    pub size: u64,
    pub blob_name: String,
}

impl PkgItem {
    pub fn name(&self) -> &str {
        self.lib_rel.rsplit('/').next().unwrap_or(&self.lib_rel)
    }
    pub fn parent_rel(&self) -> &str {
        self.lib_rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
    }
}

/// The XMLs of one package, by blob name, UTF-8 without BOM.
pub struct PackageXml {
    pub files: Vec<(&'static str, String)>,
}

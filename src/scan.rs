//! Scan rules: how every source's items are judged against SharePoint Online's rules (names,
//! lengths, sizes, dates, filters) before they are packaged. The sources (`crate::source`) walk
//! or list their items and apply these. Rules: reference §8 and spmt-features §4; codes follow
//! SPMT's published item-level scan codes.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::SystemTime;

/// SPMT's item-level scan codes (spmt-features §4.2).
pub mod codes {
    pub const INVALID_CHARS: &str = "0x01110010";
    pub const PATH_TOO_LONG: &str = "0x0111000B";
    pub const FILE_TOO_LARGE: &str = "0x0111000A";
    pub const PARENT_NOT_MIGRATED: &str = "0x0111000F";
    pub const CANNOT_ACCESS: &str = "0x01110003";
    pub const CANNOT_READ_METADATA: &str = "0x01110009";
    pub const BAD_TIMESTAMP: &str = "0x01110011";
}

/// SharePoint Online's file size limit (spmt-features §4.1: 250 GB).
pub const MAX_FILE_SIZE: u64 = 250 * 1024 * 1024 * 1024;
/// Whole decoded path, site and library included (reference §8).
pub const MAX_PATH_CHARS: usize = 400;

#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// SPMT's `ReplacementOfInvalidChar`: replace `" * : < > ? / \ |` instead of failing the item.
    pub replace_invalid_char: Option<char>,
    /// SPMT's `IncludeHiddenFiles` (dot-files here); default true.
    pub include_hidden: bool,
    /// SPMT's `SkipFilesWithExtension`, without dots, case-insensitive.
    pub skip_extensions: Vec<String>,
    pub modified_after: Option<SystemTime>,
    pub created_after: Option<SystemTime>,
    pub follow_symlinks: bool,
    /// Server-relative path of the target folder without the leading `/`
    /// (`sites/x/Shared Documents/sub`), so the 400-character rule sees the whole path.
    pub target_prefix: String,
    /// True when items land at the library root, where a folder named `forms` is reserved.
    pub at_library_root: bool,
    /// SPMT's `PreserveUserPermissionsForSharePointSource`: read unique permissions.
    pub preserve_permissions: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            replace_invalid_char: None,
            include_hidden: true,
            skip_extensions: Vec::new(),
            modified_after: None,
            created_after: None,
            follow_symlinks: false,
            preserve_permissions: true,
            target_prefix: String::new(),
            at_library_root: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    File,
    Folder,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::File => "File",
            ItemKind::Folder => "Folder",
        }
    }
}

/// The scan's judgement of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Migrate,
    /// Left out by a configured rule or a reported policy (symlinks); not a failure.
    Skip {
        rule: String,
        message: String,
    },
    /// SharePoint would reject it, or it cannot be read.
    Fail {
        code: String,
        rule: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct ScanItem {
    pub abs_path: PathBuf,
    /// Source path relative to the scanned root, `/`-separated, names as on disk.
    pub rel_path: String,
    /// Path relative to the target folder after character replacement.
    pub target_rel: String,
    pub kind: ItemKind,
    pub size: u64,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub verdict: Verdict,
    /// What the source knows beyond path, size and times; `None` for a file share.
    pub facts: Option<std::sync::Arc<ItemFacts>>,
}

/// What a SharePoint source knows about an item: who made and last changed it and its current
/// version. People are the source site's user ids (see `crate::people`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFacts {
    pub author: Option<i64>,
    pub editor: Option<i64>,
    /// Current version label (`"3.0"`); `None` when the source has no versions.
    pub version: Option<String>,
    pub checkin_comment: Option<String>,
    /// `Some` only for an item with unique permissions: who holds which roles on it.
    pub permissions: Option<Vec<RoleAssignment>>,
}

/// One principal's roles on an item: source user or group id, source role definition ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub principal: i64,
    pub roles: Vec<i64>,
}

impl ItemFacts {
    /// Whether the source may hold older versions of this file: anything past a first 1.0
    /// (or 0.1 draft) has some.
    pub fn may_have_history(&self) -> bool {
        self.version
            .as_deref()
            .is_some_and(|v| !matches!(v, "1.0" | "0.1" | ""))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read the source folder {path}: {source}. Check the path and that this account may list it")]
    Root {
        path: String,
        source: std::io::Error,
    },
    #[error("the source {path} is not a folder: --file-share-source must name a directory")]
    NotADirectory { path: String },
    #[error("{0}")]
    Source(String),
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ScanCounts {
    pub files: u64,
    pub folders: u64,
    pub bytes: u64,
    pub skipped: u64,
    pub failed: u64,
}

const INVALID: [char; 9] = ['"', '*', ':', '<', '>', '?', '/', '\\', '|'];
const RESERVED: [&str; 26] = [
    ".lock",
    "con",
    "prn",
    "aux",
    "nul",
    "com0",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt0",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
    "desktop.ini",
];

/// Checks one name; returns the (possibly replaced) target name or a failure. A name that
/// needs no replacement is borrowed: this runs for every entry of a scan.
pub fn check_name(name: &str, replace: Option<char>) -> Result<Cow<'_, str>, (String, String)> {
    let is_bad = |c: char| INVALID.contains(&c) || c.is_control();
    let mut out = Cow::Borrowed(name);
    if name.chars().any(is_bad) {
        match replace {
            Some(r) => {
                out = Cow::Owned(
                    name.chars()
                        .map(|c| if is_bad(c) { r } else { c })
                        .collect(),
                )
            }
            None => {
                let shown: String = name
                    .chars()
                    .filter(|c| is_bad(*c))
                    .map(|c| {
                        if c.is_control() {
                            format!("U+{:04X}", c as u32)
                        } else {
                            c.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err((
                    "InvalidCharacters".into(),
                    format!("name contains characters SharePoint rejects ({shown}); rename it or set --replace-invalid-char"),
                ));
            }
        }
    }
    if is_reserved(&out) || out.starts_with("~$") {
        return Err(("ReservedName".into(), "name is reserved in SharePoint (CON, PRN, AUX, NUL, COM0-9, LPT0-9, .lock, desktop.ini, _vti_, ~$…); rename it".into()));
    }
    if out.starts_with(' ') || out.ends_with(' ') {
        return Err((
            "LeadingOrTrailingSpace".into(),
            "name starts or ends with a space, which SharePoint rejects; rename it".into(),
        ));
    }
    if out.is_empty() || out == "." || out == ".." {
        return Err(("InvalidName".into(), "empty name".into()));
    }
    Ok(out)
}

/// A reserved name, or one containing `_vti_`, in any case. ASCII names (nearly all) are
/// compared without lowercasing a copy; others as Unicode lowercase, as before.
fn is_reserved(name: &str) -> bool {
    if name.is_ascii() {
        RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
            || name
                .as_bytes()
                .windows(5)
                .any(|w| w.eq_ignore_ascii_case(b"_vti_"))
    } else {
        let lower = name.to_lowercase();
        RESERVED.contains(&lower.as_str()) || lower.contains("_vti_")
    }
}

/// `a/b`, or `b` when `a` is empty, allocated once at its final size.
pub fn join(a: &str, b: &str) -> String {
    let mut s = String::with_capacity(a.len() + 1 + b.len());
    if !a.is_empty() {
        s.push_str(a);
        s.push('/');
    }
    s.push_str(b);
    s
}

/// 1900-01-01T00:00:00Z and 8901-01-01T00:00:00Z as seconds from the Unix epoch.
pub const YEAR_1900: i64 = -2_208_988_800;
pub const YEAR_8901: i64 = 218_721_254_400;

pub fn epoch_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    }
}

/// The rules every source's files answer to, on their plain facts: the filters (hidden,
/// extension, dates), SharePoint's size limit and the dates it stores. `skip_ext` is
/// [`ScanOptions::skip_extensions`] lowercased without dots, worked out once per scan.
pub fn item_rules(
    rel: &str,
    name: &str,
    size: u64,
    ctime: SystemTime,
    mtime: SystemTime,
    opts: &ScanOptions,
    skip_ext: &[String],
) -> Verdict {
    if !opts.include_hidden && name.starts_with('.') {
        return Verdict::Skip {
            rule: "HiddenFile".into(),
            message: format!("{rel}: hidden file skipped (IncludeHiddenFiles is off)"),
        };
    }
    // Lowercasing the extension is only worth it when some are filtered.
    let ext = (!skip_ext.is_empty())
        .then(|| name.rsplit_once('.').map(|(_, e)| e.to_lowercase()))
        .flatten();
    if let Some(ext) = ext {
        if skip_ext.contains(&ext) {
            return Verdict::Skip {
                rule: "SkipFilesWithExtension".into(),
                message: format!("{rel}: extension .{ext} is filtered out"),
            };
        }
    }
    if let Some(after) = opts.modified_after {
        if mtime < after {
            return Verdict::Skip {
                rule: "MigrateFilesModifiedAfter".into(),
                message: format!("{rel}: modified before the configured date"),
            };
        }
    }
    if let Some(after) = opts.created_after {
        if ctime < after {
            return Verdict::Skip {
                rule: "MigrateFilesCreatedAfter".into(),
                message: format!("{rel}: created before the configured date"),
            };
        }
    }
    if size > MAX_FILE_SIZE {
        return Verdict::Fail {
            code: codes::FILE_TOO_LARGE.into(),
            rule: "FileTooLarge".into(),
            message: format!(
                "{rel}: {} bytes exceeds SharePoint's 250 GB file limit",
                size
            ),
        };
    }
    // SharePoint stores dates from 1900 on; a file system can hold earlier ones. Compared as
    // seconds: formatting a date per file was a visible share of a million-entry scan.
    if !(YEAR_1900..YEAR_8901).contains(&epoch_secs(mtime)) {
        let year = chrono::DateTime::<chrono::Utc>::from(mtime)
            .format("%Y")
            .to_string();
        return Verdict::Fail { code: codes::BAD_TIMESTAMP.into(), rule: "UnsupportedTimestamp".into(), message: format!("{rel}: modified time (year {year}) is outside what SharePoint stores; touch the file to fix it") };
    }
    Verdict::Migrate
}

impl ScanOptions {
    /// `skip_extensions` as [`item_rules`] compares them: lowercase, without dots.
    pub fn extensions_to_skip(&self) -> Vec<String> {
        self.skip_extensions
            .iter()
            .map(|e| e.trim_start_matches('.').to_lowercase())
            .collect()
    }
}

//! The file-share source: stream a folder tree and judge every item against SharePoint
//! Online's rules (`crate::scan`).
//!
//! The walk is depth-first and pre-order (a folder comes before its contents, which packaging
//! relies on), reads one directory at a time (memory grows with depth and the widest directory,
//! never with the tree), and hands each item to a sink as soon as it is judged.

use crate::scan::{
    self, check_name, codes, join, ItemKind, ScanCounts, ScanError, ScanItem, ScanOptions, Verdict,
    MAX_PATH_CHARS,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

struct Frame {
    entries: std::vec::IntoIter<Entry>,
    /// The directory itself, open: readability checks go through it rather than a walk of
    /// the whole path per file.
    dir: Option<fs::File>,
    rel: String,
    target_rel: String,
    /// Why everything below must not migrate (a failed or skipped ancestor).
    blocked: Option<Verdict>,
    /// (dev, ino) of this directory, for symlink loop detection when following links.
    id: (u64, u64),
    /// The SharePoint names already taken in this folder, by [`folded_hash`], with the source
    /// name that took each: SharePoint names ignore case, and a replaced character can make
    /// two source names one.
    claimed: HashMap<u64, Box<str>>,
}

/// A hash of `name` as SharePoint compares names (case-insensitively), without allocating.
fn folded_hash(name: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        h.write_u32(c as u32);
    }
    h.finish()
}

fn same_folded(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

fn dev_ino(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

/// One directory entry with its own metadata (not following a link).
struct Entry {
    /// The name as text; a name that is not UTF-8 is shown with U+FFFD and never migrated
    /// (`raw` is then its bytes, for the message).
    name: String,
    raw: Option<Vec<u8>>,
    path: PathBuf,
    meta: std::io::Result<fs::Metadata>,
}

/// Lists a directory, sorted by name. The metadata is read while the directory is open
/// (std's `DirEntry::metadata` is a `statx` relative to the directory's descriptor), which
/// spares the kernel a lookup of every path component per entry.
fn read_sorted(dir: &Path) -> std::io::Result<(Vec<Entry>, Option<fs::File>)> {
    let mut v = Vec::new();
    // Out of descriptors for a moment (uploads hold them), the listing waits for some: a
    // folder failed for that would leave its contents out of every total.
    let listing =
        crate::limits::retry_exhausted(std::time::Duration::from_secs(60), || fs::read_dir(dir))?;
    for e in listing {
        let e = e?;
        // A UTF-8 name keeps the buffer it came in; only others are converted.
        let (name, raw) = match e.file_name().into_string() {
            Ok(n) => (n, None),
            Err(n) => {
                use std::os::unix::ffi::OsStrExt;
                (
                    n.to_string_lossy().into_owned(),
                    Some(n.as_bytes().to_vec()),
                )
            }
        };
        v.push(Entry {
            name,
            raw,
            path: e.path(),
            meta: e.metadata(),
        });
    }
    // A stable order makes packages and reports reproducible run to run. (Names in a
    // directory are unique, so an unstable sort gives the same order, with fewer moves.)
    v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok((v, fs::File::open(dir).ok()))
}

/// Fails fast on a missing source folder, or one that is not a folder.
pub fn check_root(root: &Path) -> Result<(), ScanError> {
    let shown = || root.display().to_string();
    let meta = fs::metadata(root).map_err(|e| ScanError::Root {
        path: shown(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(ScanError::NotADirectory { path: shown() });
    }
    Ok(())
}

/// Walks `root` and calls `sink` for every item in pre-order. `sink` returns false to stop early.
pub fn scan(
    root: &Path,
    opts: &ScanOptions,
    mut sink: impl FnMut(ScanItem) -> bool,
) -> Result<ScanCounts, ScanError> {
    let shown = root.display().to_string();
    let meta = fs::metadata(root).map_err(|e| ScanError::Root {
        path: shown.clone(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(ScanError::NotADirectory { path: shown });
    }
    let (entries, dir) = read_sorted(root).map_err(|e| ScanError::Root {
        path: shown.clone(),
        source: e,
    })?;
    let mut counts = ScanCounts::default();
    let mut stack = vec![Frame {
        entries: entries.into_iter(),
        dir,
        rel: String::new(),
        target_rel: String::new(),
        blocked: None,
        id: dev_ino(&meta),
        claimed: HashMap::new(),
    }];
    let prefix_chars = opts.target_prefix.chars().count();
    let skip_ext = opts.extensions_to_skip();

    loop {
        let depth = stack.len();
        let Some(top) = stack.last_mut() else { break };
        let Some(Entry {
            name,
            raw,
            path,
            meta,
        }) = top.entries.next()
        else {
            stack.pop();
            continue;
        };
        let top = &stack[depth - 1];
        let rel = join(&top.rel, &name);

        let lmeta = match meta {
            Ok(m) => m,
            Err(e) => {
                counts.failed += 1;
                let item = bare_item(
                    &path,
                    &rel,
                    &join(&top.target_rel, &name),
                    ItemKind::File,
                    Verdict::Fail {
                        code: codes::CANNOT_READ_METADATA.into(),
                        rule: "CannotReadMetadata".into(),
                        message: format!("{rel}: cannot read metadata: {e}"),
                    },
                );
                if !sink(item) {
                    break;
                }
                continue;
            }
        };
        let mut meta = lmeta.clone();
        let mut verdict = Verdict::Migrate;
        if lmeta.file_type().is_symlink() {
            if opts.follow_symlinks {
                match fs::metadata(&path) {
                    Ok(m) => meta = m,
                    Err(e) => {
                        verdict = Verdict::Fail {
                            code: codes::CANNOT_ACCESS.into(),
                            rule: "BrokenSymlink".into(),
                            message: format!("{rel}: symbolic link cannot be followed: {e}"),
                        }
                    }
                }
                if meta.is_dir() && stack.iter().any(|f| f.id == dev_ino(&meta)) {
                    verdict = Verdict::Skip {
                        rule: "SymlinkLoop".into(),
                        message: format!(
                            "{rel}: symbolic link points back to an ancestor folder; not followed"
                        ),
                    };
                }
            } else {
                verdict = Verdict::Skip {
                    rule: "SymlinkNotFollowed".into(),
                    message: format!(
                        "{rel}: symbolic link not followed (use --follow-symlinks to follow links)"
                    ),
                };
            }
        }
        let kind = if meta.is_dir() {
            ItemKind::Folder
        } else {
            ItemKind::File
        };
        if verdict == Verdict::Migrate && !meta.is_dir() && !meta.is_file() {
            verdict = Verdict::Skip {
                rule: "NotARegularFile".into(),
                message: format!(
                    "{rel}: not a regular file or folder (device, socket or pipe); skipped"
                ),
            };
        }

        // A name that is not UTF-8 has no SharePoint name, and its lossy text could be another
        // file's: it fails, and claims no name.
        if let (Some(raw), Verdict::Migrate) = (&raw, &verdict) {
            verdict = Verdict::Fail {
                code: codes::INVALID_CHARS.into(),
                rule: "NameNotUtf8".into(),
                message: format!(
                    "{rel}: the name is not valid UTF-8 (its bytes: \"{}\"), so it has no SharePoint name; rename it to UTF-8 (e.g. convmv -f latin1 -t utf-8)",
                    raw.escape_ascii()
                ),
            };
        }
        // Name and target path.
        let target_name = match check_name(&name, opts.replace_invalid_char) {
            Ok(t) => t,
            Err((rule, msg)) => {
                if verdict == Verdict::Migrate {
                    verdict = Verdict::Fail {
                        code: codes::INVALID_CHARS.into(),
                        rule,
                        message: format!("{rel}: {msg}"),
                    };
                }
                Cow::Borrowed(name.as_str())
            }
        };
        let target_rel = join(&top.target_rel, &target_name);
        if verdict == Verdict::Migrate
            && kind == ItemKind::Folder
            && depth == 1
            && opts.at_library_root
            && target_name.eq_ignore_ascii_case("forms")
        {
            verdict = Verdict::Fail { code: codes::INVALID_CHARS.into(), rule: "ReservedName".into(), message: format!("{rel}: a folder named 'forms' is reserved at a library's root; rename it or migrate into a subfolder") };
        }
        // "You can't create a folder name in SharePoint that begins with a tilde (~)": Microsoft's
        // "Invalid file names and file types in OneDrive and SharePoint", as reproduced by e.g.
        // https://tdx.maine.edu/TDClient/2624/Portal/KB/ArticleDet?ID=134558 (issue 15.12). The
        // file rule is `~$` (check_name); a file like `~notes.txt` is fine.
        if verdict == Verdict::Migrate && kind == ItemKind::Folder && target_name.starts_with('~') {
            verdict = Verdict::Fail { code: codes::INVALID_CHARS.into(), rule: "ReservedName".into(), message: format!("{rel}: SharePoint does not allow a folder name that begins with '~'; rename the folder") };
        }
        if verdict == Verdict::Migrate {
            // The length of join(target_prefix, target_rel), counted without building it.
            let n = prefix_chars + usize::from(prefix_chars > 0) + target_rel.chars().count();
            if n > MAX_PATH_CHARS {
                verdict = Verdict::Fail { code: codes::PATH_TOO_LONG.into(), rule: "PathTooLong".into(), message: format!("{rel}: target path is {n} characters; SharePoint allows {MAX_PATH_CHARS}. Shorten folder or file names") };
            }
        }
        if verdict == Verdict::Migrate && kind == ItemKind::File {
            verdict = file_rules(&rel, &name, &path, top.dir.as_ref(), &meta, opts, &skip_ext);
        }
        if verdict == Verdict::Migrate
            && kind == ItemKind::Folder
            && !opts.include_hidden
            && name.starts_with('.')
        {
            verdict = Verdict::Skip {
                rule: "HiddenFolder".into(),
                message: format!("{rel}: hidden folder skipped (IncludeHiddenFiles is off)"),
            };
        }
        // An ancestor that does not migrate takes its whole subtree with it.
        if let Some(b) = &top.blocked {
            verdict = match b {
                Verdict::Skip { rule, .. } => Verdict::Skip {
                    rule: rule.clone(),
                    message: format!("{rel}: inside a folder that was skipped ({rule})"),
                },
                _ => Verdict::Fail {
                    code: codes::PARENT_NOT_MIGRATED.into(),
                    rule: "ParentNotMigrated".into(),
                    message: format!("{rel}: its parent folder cannot be migrated"),
                },
            };
        }

        // One SharePoint name per folder: the first source name (in sorted order) takes it,
        // the others fail naming it, so no row ever claims another file's bytes.
        if verdict == Verdict::Migrate {
            let key = folded_hash(&target_name);
            let claimed = &mut stack[depth - 1].claimed;
            match claimed.get(&key) {
                Some(other)
                    if check_name(other, opts.replace_invalid_char)
                        .is_ok_and(|t| same_folded(&t, &target_name)) =>
                {
                    let how = if target_name.as_ref() == name.as_str() {
                        String::new()
                    } else {
                        format!(" (as '{target_name}' with --replace-invalid-char)")
                    };
                    verdict = Verdict::Fail {
                        code: codes::INVALID_CHARS.into(),
                        rule: "NameConflict".into(),
                        message: format!(
                            "{rel}: its SharePoint name{how} is the same as that of '{other}' in this folder (SharePoint names ignore case), which is migrated instead; rename one of them"
                        ),
                    };
                }
                Some(_) => {}
                None => {
                    claimed.insert(key, name.as_str().into());
                }
            }
        }

        let (ctime, mtime) = times(&meta);
        // Descend into folders (a blocked one too, so every item below gets its own outcome),
        // but never into a link that was not followed. Only a folder keeps copies of its paths.
        let descend = kind == ItemKind::Folder
            && !(lmeta.file_type().is_symlink() && matches!(verdict, Verdict::Skip { .. }));
        let next = descend.then(|| {
            let sub_block = (verdict != Verdict::Migrate).then(|| verdict.clone());
            (path.clone(), rel.clone(), target_rel.clone(), sub_block)
        });
        let item = ScanItem {
            abs_path: path,
            rel_path: rel,
            target_rel,
            kind,
            size: if kind == ItemKind::File {
                meta.len()
            } else {
                0
            },
            mtime,
            ctime,
            verdict,
            facts: None,
        };
        match &item.verdict {
            Verdict::Migrate => match kind {
                ItemKind::File => {
                    counts.files += 1;
                    counts.bytes += item.size;
                }
                ItemKind::Folder => counts.folders += 1,
            },
            Verdict::Skip { .. } => counts.skipped += 1,
            Verdict::Fail { .. } => counts.failed += 1,
        }
        if !sink(item) {
            break;
        }
        if let Some((path, rel, target_rel, sub_block)) = next {
            match read_sorted(&path) {
                Ok((entries, dir)) => stack.push(Frame {
                    entries: entries.into_iter(),
                    dir,
                    rel,
                    target_rel,
                    blocked: sub_block,
                    id: dev_ino(&meta),
                    claimed: HashMap::new(),
                }),
                Err(e) => {
                    // Reported as a separate failure of the folder's contents: the folder
                    // itself can still be created, but nothing under it can be read.
                    counts.failed += 1;
                    let msg = format!("{rel}: cannot list the folder: {e}. {}", access_hint(&e));
                    let it = bare_item(
                        &path,
                        &join(&rel, "*"),
                        &join(&target_rel, "*"),
                        ItemKind::Folder,
                        Verdict::Fail {
                            code: codes::CANNOT_ACCESS.into(),
                            rule: "CannotAccessFolder".into(),
                            message: msg,
                        },
                    );
                    if !sink(it) {
                        break;
                    }
                }
            }
        }
    }
    Ok(counts)
}

fn bare_item(
    path: &Path,
    rel: &str,
    target_rel: &str,
    kind: ItemKind,
    verdict: Verdict,
) -> ScanItem {
    ScanItem {
        abs_path: path.to_path_buf(),
        rel_path: rel.into(),
        target_rel: target_rel.into(),
        kind,
        size: 0,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        verdict,
        facts: None,
    }
}

/// Whether this account may read the file, without opening it: one `faccessat` with the
/// effective ids (ACLs included), relative to the open parent directory when there is one,
/// instead of an open and a close per file.
#[cfg(unix)]
fn readable(dir: Option<&fs::File>, name: &str, path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    let (fd, rel) = match dir {
        // A lossy name (not UTF-8) would not be the file's: use the whole path then.
        Some(d) if path.file_name().and_then(|n| n.to_str()) == Some(name) => {
            (d.as_raw_fd(), std::ffi::OsStr::new(name))
        }
        _ => (libc::AT_FDCWD, path.as_os_str()),
    };
    // The NUL-terminated name on the stack when it fits (a name is at most 255 bytes on
    // most file systems): no allocation per file.
    let bytes = rel.as_bytes();
    let mut buf = [0u8; 256];
    let heap;
    let c: &std::ffi::CStr = if bytes.len() < buf.len() {
        buf[..bytes.len()].copy_from_slice(bytes);
        std::ffi::CStr::from_bytes_with_nul(&buf[..=bytes.len()])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
    } else {
        heap = std::ffi::CString::new(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        &heap
    };
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call, and `fd` is an open
    // directory (or AT_FDCWD) borrowed for its duration.
    let rc = unsafe { libc::faccessat(fd, c.as_ptr(), libc::R_OK, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The file's owner is this process's effective user and the owner-read bit is set: then
/// the kernel grants reading without asking (POSIX ACLs take the owner's rights from those
/// bits too), and the `faccessat` per file is skipped; about a tenth of a big scan's walk.
/// Everyone else's files still get the full check.
#[cfg(unix)]
fn owner_may_read(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = *EUID.get_or_init(|| unsafe { libc::geteuid() });
    meta.uid() == euid && meta.mode() & 0o400 != 0
}

#[cfg(not(unix))]
fn owner_may_read(_meta: &fs::Metadata) -> bool {
    false
}

#[cfg(not(unix))]
fn readable(_dir: Option<&fs::File>, _name: &str, path: &Path) -> std::io::Result<()> {
    fs::File::open(path).map(|_| ())
}

fn times(m: &fs::Metadata) -> (SystemTime, SystemTime) {
    let mtime = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    // Birth time where the file system has it; else the older of ctime/mtime stands in.
    let ctime = m.created().unwrap_or(mtime).min(mtime);
    (ctime, mtime)
}

fn file_rules(
    rel: &str,
    name: &str,
    path: &Path,
    dir: Option<&fs::File>,
    meta: &fs::Metadata,
    opts: &ScanOptions,
    skip_ext: &[String],
) -> Verdict {
    let (ctime, mtime) = times(meta);
    let v = scan::item_rules(rel, name, meta.len(), ctime, mtime, opts, skip_ext);
    if v != Verdict::Migrate {
        return v;
    }
    let read = if owner_may_read(meta) {
        Ok(())
    } else {
        readable(dir, name, path)
    };
    if let Err(e) = read {
        return Verdict::Fail {
            code: codes::CANNOT_ACCESS.into(),
            rule: "CannotReadFile".into(),
            message: format!("{rel}: cannot open the file: {e}. {}", access_hint(&e)),
        };
    }
    Verdict::Migrate
}

/// What to do about a file or folder the scan could not open, by what the system said.
fn access_hint(e: &std::io::Error) -> std::borrow::Cow<'static, str> {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ENAMETOOLONG) {
        return "Its path is longer than this system allows: shorten the folder names above it, or \
                migrate from a folder deeper in the tree as the source"
            .into();
    }
    if let Some(h) = crate::limits::exhausted_hint(e) {
        return h.into();
    }
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "It went away during the scan; the next round picks it up if it comes back".into()
        }
        _ => "Grant this account read access".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{epoch_secs, YEAR_1900, YEAR_8901};

    fn collect(root: &Path, opts: &ScanOptions) -> Vec<ScanItem> {
        let mut v = Vec::new();
        scan(root, opts, |i| {
            v.push(i);
            true
        })
        .unwrap();
        v
    }

    #[test]
    fn names_spo_rejects_fail_unless_replaced() {
        assert!(check_name("a:b.txt", None).is_err());
        assert_eq!(check_name("a:b|c.txt", Some('_')).unwrap(), "a_b_c.txt");
        assert_eq!(check_name("CON", None).unwrap_err().0, "ReservedName");
        assert_eq!(
            check_name("~$draft.docx", None).unwrap_err().0,
            "ReservedName"
        );
        assert_eq!(check_name("x_vti_y", None).unwrap_err().0, "ReservedName");
        // Any case, ASCII or not (ASCII names take the no-copy path).
        for n in ["Desktop.INI", "A_VTI_b", "é_VTI_", "lPt1"] {
            assert_eq!(check_name(n, None).unwrap_err().0, "ReservedName", "{n}");
        }
        assert!(matches!(
            check_name("plain.txt", None),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(
            check_name(" lead.txt", None).unwrap_err().0,
            "LeadingOrTrailingSpace"
        );
        assert_eq!(
            check_name("Ünïcødé 日本.txt", None).unwrap(),
            "Ünïcødé 日本.txt"
        );
        assert_eq!(check_name("100% #1.txt", None).unwrap(), "100% #1.txt");
    }

    #[test]
    fn walk_is_preorder_and_failed_folders_take_their_subtree() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("a/b")).unwrap();
        fs::create_dir_all(r.join("bad:dir/inner")).unwrap();
        fs::write(r.join("a/b/f.txt"), b"x").unwrap();
        fs::write(r.join("bad:dir/inner/g.txt"), b"y").unwrap();
        fs::create_dir(r.join("empty")).unwrap();
        std::os::unix::fs::symlink(r.join("a"), r.join("link")).unwrap();
        let items = collect(r, &ScanOptions::default());
        let names: Vec<&str> = items.iter().map(|i| i.rel_path.as_str()).collect();
        assert_eq!(
            names,
            [
                "a",
                "a/b",
                "a/b/f.txt",
                "bad:dir",
                "bad:dir/inner",
                "bad:dir/inner/g.txt",
                "empty",
                "link"
            ]
        );
        assert!(
            matches!(&items[3].verdict, Verdict::Fail { code, .. } if code == codes::INVALID_CHARS)
        );
        assert!(
            matches!(&items[5].verdict, Verdict::Fail { code, .. } if code == codes::PARENT_NOT_MIGRATED)
        );
        assert_eq!(items[6].verdict, Verdict::Migrate, "empty folders migrate");
        assert!(
            matches!(&items[7].verdict, Verdict::Skip { rule, .. } if rule == "SymlinkNotFollowed")
        );
    }

    #[test]
    fn a_folder_name_beginning_with_a_tilde_fails_but_a_file_name_may() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("~folder")).unwrap();
        fs::write(r.join("~folder/a.txt"), b"x").unwrap();
        fs::write(r.join("~notes.txt"), b"y").unwrap();
        let items = collect(r, &ScanOptions::default());
        let by = |p: &str| &items.iter().find(|i| i.rel_path == p).unwrap().verdict;
        assert!(
            matches!(by("~folder"), Verdict::Fail { rule, message, .. } if rule == "ReservedName" && message.contains("'~'"))
        );
        assert!(
            matches!(by("~folder/a.txt"), Verdict::Fail { code, .. } if code == codes::PARENT_NOT_MIGRATED)
        );
        assert_eq!(*by("~notes.txt"), Verdict::Migrate);
    }

    #[test]
    fn path_length_counts_the_whole_target_path() {
        let d = tempfile::tempdir().unwrap();
        let long = "n".repeat(200);
        fs::create_dir(d.path().join(&long)).unwrap();
        fs::write(d.path().join(&long).join(&long), b"").unwrap();
        let opts = ScanOptions {
            target_prefix: "sites/x/Shared Documents".into(),
            ..Default::default()
        };
        let items = collect(d.path(), &opts);
        assert_eq!(items[0].verdict, Verdict::Migrate);
        assert!(
            matches!(&items[1].verdict, Verdict::Fail { code, .. } if code == codes::PATH_TOO_LONG)
        );
    }

    #[test]
    fn filters_skip_by_rule() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.tmp"), b"").unwrap();
        fs::write(d.path().join(".hidden"), b"").unwrap();
        fs::write(d.path().join("keep.txt"), b"").unwrap();
        let opts = ScanOptions {
            include_hidden: false,
            skip_extensions: vec!["TMP".into()],
            ..Default::default()
        };
        let items = collect(d.path(), &opts);
        let v: Vec<(&str, bool)> = items
            .iter()
            .map(|i| (i.rel_path.as_str(), i.verdict == Verdict::Migrate))
            .collect();
        assert_eq!(
            v,
            [(".hidden", false), ("a.tmp", false), ("keep.txt", true)]
        );
    }

    #[test]
    fn sharepoint_stores_modified_times_from_1900_to_8900() {
        // File systems here clamp times to 1901-2038, so the rule is checked on the times.
        let at = |secs: i64| {
            let d = std::time::Duration::from_secs(secs.unsigned_abs());
            if secs < 0 {
                SystemTime::UNIX_EPOCH - d
            } else {
                SystemTime::UNIX_EPOCH + d
            }
        };
        let storable = |secs: i64| (YEAR_1900..YEAR_8901).contains(&epoch_secs(at(secs)));
        assert!(!storable(YEAR_1900 - 1), "1899-12-31T23:59:59Z");
        assert!(storable(YEAR_1900));
        assert!(storable(0) && storable(1_000_000_000));
        assert!(storable(YEAR_8901 - 1));
        assert!(!storable(YEAR_8901), "8901-01-01");
        // Half a second before 1900 is still 1899.
        let t = at(YEAR_1900) - std::time::Duration::from_millis(500);
        assert_eq!(epoch_secs(t), YEAR_1900 - 1);
    }

    #[test]
    fn missing_root_is_an_error_not_an_empty_success() {
        assert!(matches!(
            scan(
                Path::new("/nonexistent/spmt"),
                &ScanOptions::default(),
                |_| true
            ),
            Err(ScanError::Root { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn only_the_owner_read_bit_skips_the_access_check() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, b"x").unwrap();
        let with = |mode| {
            fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
            owner_may_read(&fs::metadata(&f).unwrap())
        };
        assert!(with(0o400), "our own file, owner may read");
        assert!(!with(0o044), "group and others' bits are not the owner's");
        assert!(!with(0o200));
        // Without the bit the full check decides (and says so for a file we cannot read).
        let dir = fs::File::open(d.path()).unwrap();
        let r = readable(Some(&dir), "f", &f);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(r.is_err(), "mode 200: not readable by its owner");
        }
    }
}

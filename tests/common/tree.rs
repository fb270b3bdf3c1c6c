//! Source trees for the tests: deterministic file contents ([`content`]), modification times
//! ([`set_mtime`], [`set_mtime_rfc3339`]), two generated trees ([`make_varied_tree`],
//! [`make_numbered_tree`]) and walkers that list what a folder holds ([`files`],
//! [`count_files`], [`dirs`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Deterministic bytes for a file.
pub fn content(seed: usize, len: usize) -> Vec<u8> {
    let mut x = (seed as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Sets a file's modification time to `secs` since the Unix epoch.
pub fn set_mtime(p: &Path, secs: i64) {
    filetime::set_file_mtime(p, filetime::FileTime::from_unix_time(secs, 0)).unwrap();
}

/// Sets a file's modification time to an RFC 3339 date-time (whole seconds).
pub fn set_mtime_rfc3339(p: &Path, rfc3339: &str) {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    set_mtime(p, t.timestamp());
}

/// ~500 files in nested folders, an empty folder, a 0-byte file, non-ASCII names, and a file
/// of several blocks, with set modification times. Returns (relative path → bytes) of every
/// file and the list of folders.
pub fn make_varied_tree(root: &Path) -> (HashMap<String, Vec<u8>>, Vec<String>) {
    let mut files = HashMap::new();
    let mut folders = vec![];
    let mut n = 0usize;
    for a in 0..5 {
        for b in 0..4 {
            let dir = if b == 0 {
                format!("dept-{a}")
            } else {
                format!("dept-{a}/team {b}/Ünïcødé 日本語")
            };
            std::fs::create_dir_all(root.join(&dir)).unwrap();
            for f in 0..25 {
                n += 1;
                let rel = format!("{dir}/file-{f:02} café.txt");
                let data = content(n, (n * 97) % 20_000);
                std::fs::write(root.join(&rel), &data).unwrap();
                set_mtime(&root.join(&rel), 1_500_000_000 + (n as i64) * 3600);
                files.insert(rel, data);
            }
        }
    }
    for d in dirs(root) {
        folders.push(d);
    }
    std::fs::create_dir_all(root.join("empty/deeper-empty")).unwrap();
    folders.push("empty".into());
    folders.push("empty/deeper-empty".into());
    std::fs::write(root.join("zero.bin"), b"").unwrap();
    files.insert("zero.bin".into(), vec![]);
    let big = content(999, 5 * 1024 * 1024 + 7);
    std::fs::write(root.join("dept-0/big.bin"), &big).unwrap();
    set_mtime(&root.join("dept-0/big.bin"), 1_600_000_000);
    files.insert("dept-0/big.bin".into(), big);
    (files, folders)
}

/// `n` small text files `d{i % 7}/s{i % 3}/f{i}.txt` (so 7 + 7×3 folders once `n` ≥ 21).
/// Returns (relative path → bytes) of every file.
pub fn make_numbered_tree(root: &Path, n: usize) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    for i in 0..n {
        let rel = format!("d{}/s{}/f{i}.txt", i % 7, i % 3);
        std::fs::create_dir_all(root.join(&rel).parent().unwrap()).unwrap();
        let data = format!("file {i} ").repeat(1 + i % 50).into_bytes();
        std::fs::write(root.join(&rel), &data).unwrap();
        files.insert(rel, data);
    }
    files
}

/// Every file under `dir`, at any depth (full paths, in directory order).
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// How many files `dir` holds, at any depth.
pub fn count_files(dir: &Path) -> usize {
    files(dir).len()
}

/// Every folder under `root`, at any depth, relative to `root` (in directory order).
pub fn dirs(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, v: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                v.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                walk(root, &p, v);
            }
        }
    }
    let mut v = vec![];
    walk(root, root, &mut v);
    v
}

//! The working-folder lock: one process runs rounds in a working folder at a time, and
//! `spmt status` tells a round that is running from one whose process died (its lock is gone).
//!
//! The lock is an OS file lock on `<working folder>/spmt.lock`, so it vanishes with the
//! process however it ends. Inside one process, tasks of one session share it (counted).

use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static HELD: Lazy<Mutex<HashMap<PathBuf, (File, usize)>>> = Lazy::new(Default::default);

fn lock_path(folder: &Path) -> PathBuf {
    folder.join("spmt.lock")
}

fn key(folder: &Path) -> PathBuf {
    std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf())
}

/// Held while a round runs; released on drop.
#[derive(Debug)]
pub struct Guard {
    key: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut held) = HELD.lock() {
            if let Some(e) = held.get_mut(&self.key) {
                e.1 -= 1;
                if e.1 == 0 {
                    // Dropping the file releases the OS lock.
                    held.remove(&self.key);
                }
            }
        }
    }
}

/// Takes the lock of `folder` (which must exist) or says which process holds it.
pub fn acquire(folder: &Path) -> Result<Guard, String> {
    let key = key(folder);
    let mut held = HELD
        .lock()
        .map_err(|_| "working-folder lock poisoned".to_string())?;
    if let Some(e) = held.get_mut(&key) {
        e.1 += 1;
        return Ok(Guard { key });
    }
    let path = lock_path(folder);
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {
            use std::io::{Seek, Write};
            let _ = f.set_len(0);
            let _ = f.seek(std::io::SeekFrom::Start(0));
            let _ = write!(f, "{}", std::process::id());
            held.insert(key.clone(), (f, 1));
            Ok(Guard { key })
        }
        Err(_) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            Err(format!(
                "another spmt process (pid {}) is running a migration in the working folder {}; wait for it, stop it, or choose another --working-folder",
                pid.trim(),
                folder.display()
            ))
        }
    }
}

/// True when a process (this one or another) holds the lock of `folder` now.
pub fn is_held(folder: &Path) -> bool {
    if HELD
        .lock()
        .map(|h| h.contains_key(&key(folder)))
        .unwrap_or(false)
    {
        return true;
    }
    let Ok(f) = OpenOptions::new()
        .read(true)
        .write(true)
        .open(lock_path(folder))
    else {
        return false;
    };
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_shares_the_lock_and_it_is_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        assert!(!is_held(d.path()));
        let a = acquire(d.path()).unwrap();
        let b = acquire(d.path()).unwrap();
        assert!(is_held(d.path()));
        drop(a);
        assert!(is_held(d.path()));
        drop(b);
        assert!(!is_held(d.path()));
    }
}

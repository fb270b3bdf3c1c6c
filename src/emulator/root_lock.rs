//! One local target root, one process: an OS file lock on `<root>/_emulator/target.lock`,
//! taken before anything under the root is read, written or cleaned.
//!
//! Another process that opens the same root is refused with a message naming the holder, so
//! it cannot remove the spooled uploads or staged imports of a run in progress. Inside one
//! process the root is shared (counted): a session's next round may start while the previous
//! instance still finishes its last import, and each instance keeps its uploads in its own
//! folder. Only the first holder cleans what earlier, finished processes left behind.

use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::EmulatorError;

static HELD: Lazy<Mutex<HashMap<PathBuf, (File, usize)>>> = Lazy::new(Default::default);

/// Held by a running emulator; the OS lock is released when the last holder in this process
/// drops it (or the process ends, however it ends).
#[derive(Debug)]
pub(crate) struct RootLock {
    key: PathBuf,
    /// No other instance used the root when this one took it: whatever is spooled or staged
    /// under it belongs to processes that have ended.
    pub first: bool,
}

impl Drop for RootLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = held.get_mut(&self.key) {
            e.1 -= 1;
            if e.1 == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// Locks `emu_dir` (`<root>/_emulator`, created if missing).
pub(crate) fn acquire(emu_dir: &Path) -> Result<RootLock, EmulatorError> {
    std::fs::create_dir_all(emu_dir).map_err(|source| EmulatorError::Io {
        what: "cannot create",
        path: emu_dir.to_path_buf(),
        source,
    })?;
    let key = std::fs::canonicalize(emu_dir).unwrap_or_else(|_| emu_dir.to_path_buf());
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = held.get_mut(&key) {
        e.1 += 1;
        return Ok(RootLock { key, first: false });
    }
    let path = emu_dir.join("target.lock");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| EmulatorError::Io {
            what: "cannot open",
            path: path.clone(),
            source,
        })?;
    if f.try_lock().is_err() {
        let pid = std::fs::read_to_string(&path).unwrap_or_default();
        let root = emu_dir.parent().unwrap_or(emu_dir);
        return Err(EmulatorError::InUse(format!(
            "the local target in {} is in use by another spmt process (pid {}); wait for it to \
             finish, or give this run another local target root (--local-target-root)",
            root.display(),
            pid.trim()
        )));
    }
    use std::io::{Seek, Write};
    let _ = f.set_len(0);
    let _ = f.seek(std::io::SeekFrom::Start(0));
    let _ = write!(f, "{}", std::process::id());
    held.insert(key.clone(), (f, 1));
    Ok(RootLock { key, first: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_in_one_process_first_holder_told_and_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let emu = d.path().join("_emulator");
        let a = acquire(&emu).unwrap();
        assert!(a.first);
        let b = acquire(&emu).unwrap();
        assert!(
            !b.first,
            "the second instance must not clean the first one's files"
        );
        drop(a);
        drop(b);
        let c = acquire(&emu).unwrap();
        assert!(c.first, "released when the last holder went");
    }
}

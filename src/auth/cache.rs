//! Refresh tokens kept between runs, per sign-in service, tenant, app, SharePoint host and
//! account, in `tokens.json` under the user's config dir (`SPMT_CONFIG_DIR` overrides):
//! folder mode 0700, file 0600, every change written to a new file and renamed over the old
//! under an exclusive lock, so concurrent spmt processes never see half a file or lose each
//! other's sign-ins. Nothing else is stored: no access token, password, secret or key.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    pub host: String,
    pub account: String,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    key: CacheKey,
    refresh_token: String,
    saved_at: String,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    version: u32,
    entries: Vec<Entry>,
}

/// A saved sign-in, as `spmt auth status` lists it (no token).
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    #[serde(flatten)]
    pub key: CacheKey,
    pub saved_at: String,
}

pub struct TokenCache {
    dir: PathBuf,
}

/// The default folder: `SPMT_CONFIG_DIR`, else `<config dir>/spmt`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("SPMT_CONFIG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            dirs::config_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("spmt")
        })
}

struct Lock(std::fs::File);

impl Drop for Lock {
    fn drop(&mut self) {
        #[cfg(unix)]
        unsafe {
            use std::os::unix::io::AsRawFd;
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

impl TokenCache {
    pub fn at(dir: &Path) -> Self {
        TokenCache {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("tokens.json")
    }

    fn lock(&self) -> std::io::Result<Lock> {
        create_private_dir(&self.dir)?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("tokens.lock"))?;
        #[cfg(unix)]
        unsafe {
            use std::os::unix::io::AsRawFd;
            if libc::flock(f.as_raw_fd(), libc::LOCK_EX) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(Lock(f))
    }

    fn read(&self) -> File {
        std::fs::read(self.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn write(&self, f: &File) -> std::io::Result<()> {
        let text = Zeroizing::new(serde_json::to_vec_pretty(f)?);
        let tmp = self
            .dir
            .join(format!("tokens.json.{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let result = (|| {
            use std::io::Write;
            let mut file = opts.open(&tmp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&tmp, self.path())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// The refresh token saved for `key`; with an empty `key.account`, the one account saved
    /// for the rest of the key (none when there are several: the user must say which).
    pub fn find(&self, key: &CacheKey) -> Option<(String, Zeroizing<String>)> {
        let _l = self.lock().ok()?;
        let f = self.read();
        let same = |e: &&Entry| {
            e.key.authority.eq_ignore_ascii_case(&key.authority)
                && e.key.tenant.eq_ignore_ascii_case(&key.tenant)
                && e.key.client_id.eq_ignore_ascii_case(&key.client_id)
                && e.key.host.eq_ignore_ascii_case(&key.host)
                && (key.account.is_empty() || e.key.account.eq_ignore_ascii_case(&key.account))
        };
        let found: Vec<&Entry> = f.entries.iter().filter(same).collect();
        match found.as_slice() {
            [e] => Some((
                e.key.account.clone(),
                Zeroizing::new(e.refresh_token.clone()),
            )),
            _ => None,
        }
    }

    /// Saves (or replaces) the refresh token for `key`.
    pub fn save(&self, key: &CacheKey, refresh_token: &str) -> std::io::Result<()> {
        let _l = self.lock()?;
        let mut f = self.read();
        f.version = 1;
        f.entries.retain(|e| &e.key != key);
        f.entries.push(Entry {
            key: key.clone(),
            refresh_token: refresh_token.to_string(),
            saved_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
        self.write(&f)
    }

    /// Removes the saved sign-ins `keep` says no to; returns how many.
    pub fn remove(&self, drop: impl Fn(&CacheKey) -> bool) -> std::io::Result<usize> {
        let _l = self.lock()?;
        let mut f = self.read();
        let before = f.entries.len();
        f.entries.retain(|e| !drop(&e.key));
        let removed = before - f.entries.len();
        if removed > 0 {
            self.write(&f)?;
        }
        Ok(removed)
    }

    pub fn list(&self) -> Vec<Saved> {
        let Ok(_l) = self.lock() else {
            return Vec::new();
        };
        self.read()
            .entries
            .into_iter()
            .map(|e| Saved {
                key: e.key,
                saved_at: e.saved_at,
            })
            .collect()
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account: &str) -> CacheKey {
        CacheKey {
            authority: "https://login.example".into(),
            tenant: "t".into(),
            client_id: "c".into(),
            host: "contoso.sharepoint.com".into(),
            account: account.into(),
        }
    }

    #[test]
    fn saved_sign_ins_are_private_replaced_and_removed() {
        let d = tempfile::tempdir().unwrap();
        let c = TokenCache::at(&d.path().join("spmt"));
        c.save(&key("a@x"), "rt-1").unwrap();
        c.save(&key("a@x"), "rt-2").unwrap();
        let (acct, rt) = c.find(&key("")).unwrap();
        assert_eq!((acct.as_str(), rt.as_str()), ("a@x", "rt-2"));
        c.save(&key("b@x"), "rt-3").unwrap();
        assert!(
            c.find(&key("")).is_none(),
            "two accounts: the user must say which"
        );
        assert_eq!(c.find(&key("B@X")).unwrap().1.as_str(), "rt-3");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(c.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dmode = std::fs::metadata(d.path().join("spmt"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dmode, 0o700);
        }
        assert_eq!(c.remove(|k| k.account == "a@x").unwrap(), 1);
        assert_eq!(c.list().len(), 1);
        let leftovers: Vec<_> = std::fs::read_dir(d.path().join("spmt"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}

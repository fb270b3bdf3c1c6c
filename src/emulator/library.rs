//! The sidecar store `root/_emulator/state.db`: sites, lists, the items imported into them (ids,
//! versions, metadata) and every import done. The folder tree under `root/sites/` holds only the
//! current bytes; everything SharePoint knows beyond that lives here, so the tree stays clean.

use super::EmulatorError;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sites (
    name TEXT PRIMARY KEY, name_key TEXT NOT NULL UNIQUE,
    site_id TEXT NOT NULL, web_id TEXT NOT NULL, web_root_folder_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists (
    list_id TEXT PRIMARY KEY, site TEXT NOT NULL, title TEXT NOT NULL, title_key TEXT NOT NULL,
    url_name TEXT NOT NULL, root_folder_id TEXT NOT NULL, UNIQUE (site, title_key));
CREATE TABLE IF NOT EXISTS items (
    list_id TEXT NOT NULL, object_id TEXT NOT NULL, int_id INTEGER, kind TEXT NOT NULL,
    url TEXT NOT NULL, url_key TEXT NOT NULL, list_item_id TEXT, time_created TEXT,
    time_modified TEXT, author TEXT, versions TEXT NOT NULL DEFAULT '[]', permissions TEXT,
    PRIMARY KEY (list_id, object_id));
CREATE UNIQUE INDEX IF NOT EXISTS items_url ON items (list_id, url_key);
CREATE INDEX IF NOT EXISTS items_int ON items (list_id, int_id);
CREATE TABLE IF NOT EXISTS imports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, object_id TEXT NOT NULL,
    url TEXT NOT NULL, kind TEXT NOT NULL, version TEXT NOT NULL, bytes INTEGER NOT NULL,
    time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recycled (
    id TEXT PRIMARY KEY, url TEXT NOT NULL, kind TEXT NOT NULL, time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, ended INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS job_events (
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (job_id, seq));
";

#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub site_id: Uuid,
    pub web_id: Uuid,
    pub web_root_folder_id: Uuid,
}

impl Site {
    pub fn server_relative_url(&self) -> String {
        format!("/sites/{}", self.name)
    }
}

#[derive(Debug, Clone)]
pub struct List {
    pub site: String,
    pub title: String,
    /// The library's URL segment: the title, except "Documents" → "Shared Documents" as SPO does.
    pub url_name: String,
    pub list_id: Uuid,
    pub root_folder_id: Uuid,
}

impl List {
    pub fn server_relative_url(&self) -> String {
        format!("/sites/{}/{}", self.site, self.url_name)
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub list_id: Uuid,
    pub object_id: Uuid,
    pub int_id: Option<i64>,
    pub kind: String,
    /// Server-relative.
    pub url: String,
    pub list_item_id: Option<String>,
    pub time_created: Option<String>,
    pub time_modified: Option<String>,
    pub author: Option<String>,
    /// JSON array: `[{"label","size","time","current","stored","modified_by","comment"}]`,
    /// `stored` = where a non-current version's bytes are kept under `root/_emulator/`;
    /// `modified_by` the login of who made it (the current one's is the item's editor).
    pub versions: String,
    /// Unique permissions, JSON `[{"login","role_id","role"}]`; `None` inherits the library's.
    pub permissions: Option<String>,
}

/// One object import, as [`super::import_records`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub job_id: Uuid,
    pub object_id: Uuid,
    pub server_relative_url: String,
    /// "File" or "Folder".
    pub kind: String,
    /// Label of the current version ("1.0"); empty for folders.
    pub version: String,
    /// Bytes of the current version; 0 for folders.
    pub bytes: u64,
    pub time: String,
}

pub struct Library {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn library_url_name(title: &str) -> String {
    if title.eq_ignore_ascii_case("Documents") {
        "Shared Documents".to_string()
    } else {
        title.to_string()
    }
}

fn uuid_col(s: String) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn list_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<List> {
    Ok(List {
        list_id: uuid_col(r.get(0)?)?,
        site: r.get(1)?,
        title: r.get(2)?,
        url_name: r.get(3)?,
        root_folder_id: uuid_col(r.get(4)?)?,
    })
}

const LIST_COLS: &str = "list_id, site, title, url_name, root_folder_id";
const ITEM_COLS: &str = "list_id, object_id, int_id, kind, url, list_item_id, time_created, time_modified, author, versions, permissions";

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        list_id: uuid_col(r.get(0)?)?,
        object_id: uuid_col(r.get(1)?)?,
        int_id: r.get(2)?,
        kind: r.get(3)?,
        url: r.get(4)?,
        list_item_id: r.get(5)?,
        time_created: r.get(6)?,
        time_modified: r.get(7)?,
        author: r.get(8)?,
        versions: r.get(9)?,
        permissions: r.get(10)?,
    })
}

impl Library {
    pub fn open(root: &Path) -> Result<Self, EmulatorError> {
        let dir = root.join("_emulator");
        std::fs::create_dir_all(&dir).map_err(|source| EmulatorError::Io {
            what: "cannot create",
            path: dir.clone(),
            source,
        })?;
        let path = dir.join("state.db");
        let db = |source| EmulatorError::Db {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        // WAL: readers (REST lookups) do not wait for an import's commit.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        // A root an earlier emulator made has no permissions column yet.
        let has_permissions: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('items') WHERE name = 'permissions'")
            .and_then(|mut st| st.exists([]))
            .map_err(db)?;
        if !has_permissions {
            conn.execute_batch("ALTER TABLE items ADD COLUMN permissions TEXT")
                .map_err(db)?;
        }
        Ok(Library {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, source: rusqlite::Error) -> EmulatorError {
        EmulatorError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// One statement that writes, outside any import's transaction.
    fn write(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), EmulatorError> {
        self.lock()
            .execute(sql, params)
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// A job was queued: its record outlives this process.
    pub fn job_created(&self, id: Uuid, site: &str) -> Result<(), EmulatorError> {
        self.write(
            "INSERT OR IGNORE INTO jobs (id, site) VALUES (?1, ?2)",
            params![id.to_string(), site],
        )
    }

    /// The job's `seq`th event (as GetMigrationJobProgress serves it).
    pub fn job_event(&self, id: Uuid, seq: usize, event: &str) -> Result<(), EmulatorError> {
        self.write(
            "INSERT OR REPLACE INTO job_events (job_id, seq, event) VALUES (?1, ?2, ?3)",
            params![id.to_string(), seq as i64, event],
        )
    }

    pub fn job_ended(&self, id: Uuid) -> Result<(), EmulatorError> {
        self.write(
            "UPDATE jobs SET ended = 1 WHERE id = ?1",
            params![id.to_string()],
        )
    }

    /// The events, in order, of a job an earlier process ran: SPO keeps job records past a
    /// client's restart, and so must the local target, or a resumed client sends everything
    /// again. `None`: no such job.
    pub fn job_events(&self, id: Uuid) -> Result<Option<Vec<String>>, EmulatorError> {
        let c = self.lock();
        let id = id.to_string();
        let known = c
            .query_row("SELECT 1 FROM jobs WHERE id = ?1", params![id], |_| Ok(()))
            .optional()
            .map_err(|e| self.err(e))?;
        if known.is_none() {
            return Ok(None);
        }
        let mut st = c
            .prepare("SELECT event FROM job_events WHERE job_id = ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let events = st
            .query_map(params![id], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(Some(events))
    }

    /// Jobs of `site` this store knows (earlier processes' included).
    pub fn job_ids(&self, site: &str) -> Result<Vec<Uuid>, EmulatorError> {
        let c = self.lock();
        let mut st = c
            .prepare("SELECT id FROM jobs WHERE site = ?1 COLLATE NOCASE")
            .map_err(|e| self.err(e))?;
        let ids = st
            .query_map(params![site], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect())
    }

    pub fn forget_job(&self, id: Uuid) -> Result<bool, EmulatorError> {
        let c = self.lock();
        let id = id.to_string();
        c.execute("DELETE FROM job_events WHERE job_id = ?1", params![id])
            .and_then(|_| c.execute("DELETE FROM jobs WHERE id = ?1", params![id]))
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Jobs a process that has ended left unfinished (it died while they were queued or
    /// importing). One whose commit went through (the store has its imports) gets the JobEnd
    /// it did not live to write, from `closing`, so a resumed client settles its items instead
    /// of importing them twice; one that committed nothing stays without, and the client sends
    /// its items again. Only for the first process on a root (see `root_lock`).
    pub fn close_abandoned_jobs(
        &self,
        closing: impl Fn(Uuid) -> String,
    ) -> Result<usize, EmulatorError> {
        let c = self.lock();
        let open: Vec<(String, bool, i64)> = {
            let mut st = c
                .prepare(
                    "SELECT id, EXISTS (SELECT 1 FROM imports i WHERE i.job_id = jobs.id),
                            (SELECT COUNT(*) FROM job_events e WHERE e.job_id = jobs.id)
                     FROM jobs WHERE ended = 0",
                )
                .map_err(|e| self.err(e))?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| self.err(e))?
        };
        for (id, imported, events) in &open {
            if *imported {
                if let Ok(uuid) = Uuid::parse_str(id) {
                    c.execute(
                        "INSERT OR REPLACE INTO job_events (job_id, seq, event) VALUES (?1, ?2, ?3)",
                        params![id, events, closing(uuid)],
                    )
                    .map_err(|e| self.err(e))?;
                }
            }
            c.execute("UPDATE jobs SET ended = 1 WHERE id = ?1", params![id])
                .map_err(|e| self.err(e))?;
        }
        Ok(open.len())
    }

    pub fn site(&self, name: &str) -> Result<Option<Site>, EmulatorError> {
        let c = self.lock();
        c.query_row(
            "SELECT name, site_id, web_id, web_root_folder_id FROM sites WHERE name_key = ?1",
            params![name.to_lowercase()],
            |r| {
                Ok(Site {
                    name: r.get(0)?,
                    site_id: uuid_col(r.get(1)?)?,
                    web_id: uuid_col(r.get(2)?)?,
                    web_root_folder_id: uuid_col(r.get(3)?)?,
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Returns the site, creating it (with fresh random ids that persist) on first use.
    pub fn ensure_site(&self, name: &str) -> Result<Site, EmulatorError> {
        if let Some(s) = self.site(name)? {
            return Ok(s);
        }
        let s = Site {
            name: name.to_string(),
            site_id: Uuid::new_v4(),
            web_id: Uuid::new_v4(),
            web_root_folder_id: Uuid::new_v4(),
        };
        self.lock()
            .execute(
                "INSERT OR IGNORE INTO sites (name, name_key, site_id, web_id, web_root_folder_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.name, s.name.to_lowercase(), s.site_id.to_string(), s.web_id.to_string(), s.web_root_folder_id.to_string()],
            )
            .map_err(|e| self.err(e))?;
        // Another request may have created it first: read back what won.
        self.site(name)?
            .ok_or_else(|| EmulatorError::Config(format!("site {name} vanished")))
    }

    pub fn list_by_title(&self, site: &str, title: &str) -> Result<Option<List>, EmulatorError> {
        let c = self.lock();
        c.query_row(
            &format!("SELECT {LIST_COLS} FROM lists WHERE site = ?1 AND title_key = ?2"),
            params![site, title.to_lowercase()],
            list_from_row,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    pub fn lists(&self, site: &str) -> Result<Vec<List>, EmulatorError> {
        let c = self.lock();
        let mut st = c
            .prepare(&format!("SELECT {LIST_COLS} FROM lists WHERE site = ?1"))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![site], list_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn ensure_list(&self, site: &str, title: &str) -> Result<List, EmulatorError> {
        if let Some(l) = self.list_by_title(site, title)? {
            return Ok(l);
        }
        let l = List {
            site: site.to_string(),
            title: title.to_string(),
            url_name: library_url_name(title),
            list_id: Uuid::new_v4(),
            root_folder_id: Uuid::new_v4(),
        };
        self.lock()
            .execute(
                "INSERT OR IGNORE INTO lists (list_id, site, title, title_key, url_name, root_folder_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![l.list_id.to_string(), l.site, l.title, l.title.to_lowercase(), l.url_name, l.root_folder_id.to_string()],
            )
            .map_err(|e| self.err(e))?;
        self.list_by_title(site, title)?
            .ok_or_else(|| EmulatorError::Config(format!("list {title} vanished")))
    }

    pub fn item_count(&self, list_id: Uuid) -> Result<i64, EmulatorError> {
        self.lock()
            .query_row(
                "SELECT COUNT(*) FROM items WHERE list_id = ?1",
                params![list_id.to_string()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Highest list-item id in use in the list, if any item exists.
    pub fn max_int_id(&self, list_id: Uuid) -> Result<Option<i64>, EmulatorError> {
        self.lock()
            .query_row(
                "SELECT MAX(int_id) FROM items WHERE list_id = ?1",
                params![list_id.to_string()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    pub fn item_by_id(
        &self,
        list_id: Uuid,
        object_id: Uuid,
    ) -> Result<Option<Item>, EmulatorError> {
        item_by_id(&self.lock(), list_id, object_id).map_err(|e| self.err(e))
    }

    pub fn item_by_url(&self, list_id: Uuid, url: &str) -> Result<Option<Item>, EmulatorError> {
        item_by_url(&self.lock(), list_id, url).map_err(|e| self.err(e))
    }

    pub fn item_by_int_id(
        &self,
        list_id: Uuid,
        int_id: i64,
    ) -> Result<Option<Item>, EmulatorError> {
        item_by_int_id(&self.lock(), list_id, int_id).map_err(|e| self.err(e))
    }

    /// Runs `f` in one transaction: an import's items and records land together or not at all.
    pub fn with_tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, EmulatorError> {
        let mut c = self.lock();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let v = f(&tx).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(v)
    }

    pub fn import_records(&self) -> Result<Vec<ImportRecord>, EmulatorError> {
        let c = self.lock();
        let mut st = c
            .prepare("SELECT job_id, object_id, url, kind, version, bytes, time FROM imports ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(ImportRecord {
                    job_id: uuid_col(r.get(0)?)?,
                    object_id: uuid_col(r.get(1)?)?,
                    server_relative_url: r.get(2)?,
                    kind: r.get(3)?,
                    version: r.get(4)?,
                    bytes: r.get::<_, i64>(5)? as u64,
                    time: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

impl Library {
    /// Server-relative URLs recycled so far, oldest first.
    pub fn recycled(&self) -> Result<Vec<String>, EmulatorError> {
        let c = self.lock();
        let mut st = c
            .prepare("SELECT url FROM recycled ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

pub fn item_by_id(
    c: &Connection,
    list_id: Uuid,
    object_id: Uuid,
) -> rusqlite::Result<Option<Item>> {
    c.query_row(
        &format!("SELECT {ITEM_COLS} FROM items WHERE list_id = ?1 AND object_id = ?2"),
        params![list_id.to_string(), object_id.to_string()],
        item_from_row,
    )
    .optional()
}

pub fn item_by_url(c: &Connection, list_id: Uuid, url: &str) -> rusqlite::Result<Option<Item>> {
    c.query_row(
        &format!("SELECT {ITEM_COLS} FROM items WHERE list_id = ?1 AND url_key = ?2"),
        params![list_id.to_string(), url.to_lowercase()],
        item_from_row,
    )
    .optional()
}

pub fn item_by_int_id(
    c: &Connection,
    list_id: Uuid,
    int_id: i64,
) -> rusqlite::Result<Option<Item>> {
    c.query_row(
        &format!("SELECT {ITEM_COLS} FROM items WHERE list_id = ?1 AND int_id = ?2 LIMIT 1"),
        params![list_id.to_string(), int_id],
        item_from_row,
    )
    .optional()
}

/// Inserts or replaces an item: re-importing replaces the item and all its versions (reference §8).
pub fn upsert_item(tx: &Transaction<'_>, it: &Item) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO items (list_id, object_id, int_id, kind, url, url_key, list_item_id, time_created, time_modified, author, versions, permissions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            it.list_id.to_string(),
            it.object_id.to_string(),
            it.int_id,
            it.kind,
            it.url,
            it.url.to_lowercase(),
            it.list_item_id,
            it.time_created,
            it.time_modified,
            it.author,
            it.versions,
            it.permissions
        ],
    )?;
    Ok(())
}

pub fn insert_import(tx: &Transaction<'_>, r: &ImportRecord) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO imports (job_id, object_id, url, kind, version, bytes, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![r.job_id.to_string(), r.object_id.to_string(), r.server_relative_url, r.kind, r.version, r.bytes as i64, r.time],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_persist_across_reopen_and_documents_maps_to_shared_documents() {
        let dir = tempfile::tempdir().unwrap();
        let (site, list) = {
            let l = Library::open(dir.path()).unwrap();
            (
                l.ensure_site("proj").unwrap(),
                l.ensure_list("proj", "Documents").unwrap(),
            )
        };
        assert_eq!(list.url_name, "Shared Documents");
        let l = Library::open(dir.path()).unwrap();
        assert_eq!(l.ensure_site("PROJ").unwrap().web_id, site.web_id);
        assert_eq!(
            l.ensure_list("proj", "documents").unwrap().list_id,
            list.list_id
        );
    }
}

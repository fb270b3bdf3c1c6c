//! State in SQLite (the working folder's `spmt.db`): items, packages, jobs and outcomes.
//!
//! It gives every item one recorded outcome and keeps the ids a re-run must reuse (stable
//! `IntId`s per target URL). Writes are batched in transactions by the single thread that owns
//! the connection (see `engine::recorder`).

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {path}: {source}. If another spmt run uses this working folder, wait for it or choose another --working-folder")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot create the working folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
}

/// The outcome every item ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Migrated,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "Pending",
            Outcome::Migrated => "Migrated",
            Outcome::Skipped => "Skipped",
            Outcome::Failed => "Failed",
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OutcomeCounts {
    pub migrated: u64,
    pub skipped: u64,
    pub failed: u64,
    pub pending: u64,
    pub migrated_files: u64,
    pub migrated_folders: u64,
    pub migrated_bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ItemRow {
    pub rel_path: String,
    pub target_url: String,
    pub kind: String,
    pub size: u64,
    pub outcome: String,
    pub code: Option<String>,
    pub rule: Option<String>,
    pub message: Option<String>,
    pub job_id: Option<String>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS int_ids (list_id TEXT NOT NULL, target_url TEXT NOT NULL, int_id INTEGER NOT NULL,
    PRIMARY KEY (list_id, target_url));
-- The next free id is MAX(int_id) of the list: without this index every new item scanned the
-- whole table (quadratic; a 1,000,000-entry scan ran at a few hundred items/s).
CREATE INDEX IF NOT EXISTS int_ids_max ON int_ids(list_id, int_id);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    rel_path TEXT NOT NULL,
    target_url TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    object_id TEXT,
    int_id INTEGER,
    package INTEGER,
    job_id TEXT,
    outcome TEXT NOT NULL,
    code TEXT,
    rule TEXT,
    message TEXT);
CREATE INDEX IF NOT EXISTS items_run ON items(run, outcome);
CREATE INDEX IF NOT EXISTS items_url ON items(target_url, run);
CREATE INDEX IF NOT EXISTS items_package ON items(run, package);
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, source TEXT, target TEXT, status TEXT);
CREATE TABLE IF NOT EXISTS packages (run INTEGER NOT NULL, id INTEGER NOT NULL, items INTEGER, bytes INTEGER, job_id TEXT, state TEXT,
    PRIMARY KEY (run, id));
"#;

impl Store {
    /// Opens (creating) `spmt.db` in `folder`, which is created readable by its owner only.
    pub fn open(folder: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(folder).map_err(|e| StoreError::Folder {
            path: folder.display().to_string(),
            source: e,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700));
        }
        let path = folder.join("spmt.db");
        let err = |e| StoreError::Sqlite {
            path: path.display().to_string(),
            source: e,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        )
        .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Store { conn, path })
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        }
    }

    pub fn begin_run(&self, source: &str, target: &str) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO runs (started, source, target, status) VALUES (?1, ?2, ?3, 'Running')",
                params![chrono::Utc::now().to_rfc3339(), source, target],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, run: i64, status: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET finished = ?1, status = ?2 WHERE id = ?3",
                params![chrono::Utc::now().to_rfc3339(), status, run],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn begin(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("BEGIN").map_err(|e| self.err(e))
    }

    pub fn commit(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))
    }

    /// Raises the floor for new list-item ids of `list_id` to above `max_in_use` (the
    /// target's highest id): ids already given out stay as they are.
    pub fn reserve_int_ids_above(&self, list_id: &str, max_in_use: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES ('int_floor:' || ?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                params![list_id, max_in_use.to_string()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The item's stable list-item id in this list: the one used before, or the next free one
    /// above both our own ids and the target's highest id.
    pub fn int_id(&self, list_id: &str, target_url: &str) -> Result<i64, StoreError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT int_id FROM int_ids WHERE list_id = ?1 AND target_url = ?2",
                params![list_id, target_url],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(id) = found {
            return Ok(id);
        }
        let next: i64 = self
            .conn
            .query_row(
                "SELECT MAX(COALESCE((SELECT MAX(int_id) FROM int_ids WHERE list_id = ?1), 0),
                            COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'int_floor:' || ?1), 0)) + 1",
                params![list_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT INTO int_ids (list_id, target_url, int_id) VALUES (?1, ?2, ?3)",
                params![list_id, target_url, next],
            )
            .map_err(|e| self.err(e))?;
        Ok(next)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn insert_item(
        &self,
        run: i64,
        rel_path: &str,
        target_url: &str,
        kind: &str,
        size: u64,
        mtime_ns: i64,
        object_id: Option<&str>,
        int_id: Option<i64>,
        outcome: Outcome,
        code: Option<&str>,
        rule: Option<&str>,
        message: Option<&str>,
    ) -> Result<i64, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT INTO items (run, rel_path, target_url, kind, size, mtime_ns, object_id, int_id, outcome, code, rule, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .map_err(|e| self.err(e))?;
        st.execute(params![
            run,
            rel_path,
            target_url,
            kind,
            size as i64,
            mtime_ns,
            object_id,
            int_id,
            outcome.as_str(),
            code,
            rule,
            message
        ])
        .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_package(&self, item: i64, package: i64) -> Result<(), StoreError> {
        let mut st = self
            .conn
            .prepare_cached("UPDATE items SET package = ?1 WHERE id = ?2")
            .map_err(|e| self.err(e))?;
        st.execute(params![package, item])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn set_outcome(
        &self,
        item: i64,
        outcome: Outcome,
        job_id: Option<&str>,
        code: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut st = self
            .conn
            .prepare_cached("UPDATE items SET outcome = ?1, job_id = COALESCE(?2, job_id), code = ?3, message = ?4 WHERE id = ?5")
            .map_err(|e| self.err(e))?;
        st.execute(params![outcome.as_str(), job_id, code, message, item])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn upsert_package(
        &self,
        run: i64,
        id: i64,
        items: u64,
        bytes: u64,
        job_id: Option<&str>,
        state: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO packages (run, id, items, bytes, job_id, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(run, id) DO UPDATE SET job_id = COALESCE(excluded.job_id, job_id), state = excluded.state",
                params![run, id, items as i64, bytes as i64, job_id, state],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The latest record of `target_url` in an earlier run: (outcome, size, mtime in ns, run).
    pub fn previous(
        &self,
        target_url: &str,
        run: i64,
    ) -> Result<Option<(String, u64, i64, i64)>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT outcome, size, mtime_ns, run FROM items WHERE target_url = ?1 AND run < ?2 ORDER BY run DESC, id DESC LIMIT 1")
            .map_err(|e| self.err(e))?;
        st.query_row(params![target_url, run], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?, r.get(3)?))
        })
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Jobs submitted by earlier runs whose items are still pending: (run, package, job id,
    /// items as (row, target URL, object id)).
    #[allow(clippy::type_complexity)]
    pub fn unsettled_jobs(
        &self,
        run: i64,
    ) -> Result<Vec<(i64, i64, String, Vec<(i64, String, String)>)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT DISTINCT p.run, p.id, p.job_id FROM packages p JOIN items i ON i.run = p.run AND i.package = p.id
                 WHERE p.run < ?1 AND p.job_id IS NOT NULL AND i.outcome = 'Pending'",
            )
            .map_err(|e| self.err(e))?;
        let jobs = st
            .query_map(params![run], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        let mut items = self
            .conn
            .prepare("SELECT id, target_url, COALESCE(object_id, '') FROM items WHERE run = ?1 AND package = ?2 AND outcome = 'Pending'")
            .map_err(|e| self.err(e))?;
        for (r, p, j) in jobs {
            let rows = items
                .query_map(params![r, p], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))
                .map_err(|e| self.err(e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?;
            out.push((r, p, j, rows));
        }
        Ok(out)
    }

    /// Marks what earlier, interrupted runs left unconfirmed; this run sends those items again.
    pub fn close_interrupted(&self, run: i64) -> Result<u64, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE items SET outcome = 'Failed', rule = 'Interrupted',
                 message = 'the run stopped before this item''s import was confirmed; it is sent again in round ' || ?1
                 WHERE run < ?1 AND outcome = 'Pending'",
                params![run],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute("UPDATE runs SET status = 'Interrupted', finished = COALESCE(finished, ?2) WHERE id < ?1 AND status = 'Running'", params![run, chrono::Utc::now().to_rfc3339()])
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }

    pub fn counts(&self, run: i64) -> Result<OutcomeCounts, StoreError> {
        let mut c = OutcomeCounts::default();
        let mut st = self
            .conn
            .prepare("SELECT outcome, kind, COUNT(*), COALESCE(SUM(size), 0) FROM items WHERE run = ?1 GROUP BY outcome, kind")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![run], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (o, kind, n, bytes) = row.map_err(|e| self.err(e))?;
            let n = n as u64;
            match o.as_str() {
                "Migrated" => {
                    c.migrated += n;
                    if kind == "File" {
                        c.migrated_files += n;
                        c.migrated_bytes += bytes as u64;
                    } else {
                        c.migrated_folders += n;
                    }
                }
                "Skipped" => c.skipped += n,
                "Failed" => c.failed += n,
                _ => c.pending += n,
            }
        }
        Ok(c)
    }

    /// Items of a run that did not migrate (failed first), for the summary and reports.
    pub fn problems(&self, run: i64, limit: usize) -> Result<Vec<ItemRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT rel_path, target_url, kind, size, outcome, code, rule, message, job_id FROM items
                 WHERE run = ?1 AND outcome != 'Migrated' ORDER BY outcome = 'Skipped', id LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![run, limit as i64], |r| {
                Ok(ItemRow {
                    rel_path: r.get(0)?,
                    target_url: r.get(1)?,
                    kind: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    outcome: r.get(4)?,
                    code: r.get(5)?,
                    rule: r.get(6)?,
                    message: r.get(7)?,
                    job_id: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_ids_are_stable_per_url_and_unique_per_list() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let a = s.int_id("L", "/x/a").unwrap();
        let b = s.int_id("L", "/x/b").unwrap();
        assert_ne!(a, b);
        drop(s);
        let s = Store::open(d.path()).unwrap();
        assert_eq!(
            s.int_id("L", "/x/a").unwrap(),
            a,
            "a re-run reuses the IntId"
        );
        assert_eq!(
            s.int_id("M", "/x/a").unwrap(),
            1,
            "another list counts from 1"
        );
    }
}

//! State in SQLite (the working folder's `spmt.db`): items, packages, jobs and outcomes.
//!
//! It gives every item one recorded outcome and keeps the ids a re-run must reuse (stable
//! `IntId`s per target URL). Writes are batched in transactions by the single thread that owns
//! the connection (see `engine::recorder`).

pub mod lock;

use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {path}: {source}{hint}", hint = busy_hint(source))]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    /// The folder held a session whose state cannot be read: nothing may run on a guess.
    #[error("the working folder {folder} holds an earlier migration (its Report folder) but its state, spmt.db, {what}. Nothing was sent: without that state spmt cannot tell what earlier rounds migrated. Restore spmt.db (with its -wal file) from a backup of the working folder, or start a new session with --new-session (the damaged state is kept beside it as spmt.db.set-aside-<time>; every file is sent again and overwrites its earlier copy)")]
    Damaged { folder: String, what: String },
    #[error("cannot create or write in the working folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
}

/// Only a database another connection holds deserves the "another run" hint.
fn busy_hint(e: &rusqlite::Error) -> &'static str {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            ". If another spmt run uses this working folder, wait for it or choose another --working-folder"
        }
        _ => "",
    }
}

/// A database file SQLite cannot read as one (truncated, overwritten, corrupted).
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Moves a working folder's state files aside (`--new-session`): kept, never deleted, so a
/// damaged session can still be examined.
pub fn set_aside(folder: &Path) -> std::io::Result<Option<PathBuf>> {
    let db = folder.join("spmt.db");
    if !db.exists() {
        return Ok(None);
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = folder.join(format!("spmt.db.set-aside-{stamp}"));
    for suffix in ["-wal", "-shm"] {
        let side = folder.join(format!("spmt.db{suffix}"));
        if side.exists() {
            std::fs::rename(
                &side,
                folder.join(format!("spmt.db.set-aside-{stamp}{suffix}")),
            )?;
        }
    }
    std::fs::rename(&db, &aside)?;
    Ok(Some(aside))
}

/// The outcome every item ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Migrated,
    Skipped,
    Failed,
    /// Removed from the target (delete propagation).
    Deleted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "Pending",
            Outcome::Migrated => "Migrated",
            Outcome::Skipped => "Skipped",
            Outcome::Failed => "Failed",
            Outcome::Deleted => "Deleted",
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Tallies by run, each with the database version it was made at (see `tally`).
    tallies: std::cell::RefCell<HashMap<i64, (DbVersion, Vec<TallyRow>)>>,
}

/// (this connection's `total_changes()`, `data_version`): moves whenever anyone writes.
type DbVersion = (i64, i64);

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OutcomeCounts {
    pub migrated: u64,
    pub skipped: u64,
    pub failed: u64,
    pub pending: u64,
    pub migrated_files: u64,
    pub migrated_folders: u64,
    pub migrated_bytes: u64,
    /// Removed from the target because the source no longer has them (`--propagate-deletes`).
    pub deleted: u64,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<i64>,
}

const ITEM_COLS: &str = "rel_path, target_url, kind, size, outcome, code, rule, message, job_id, object_id, int_id, package";

/// An item row borrowed from SQLite's buffers: the item reports read every row of a round,
/// a million on a big one, and an owned copy of each was a large share of that.
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    pub rel_path: &'a str,
    pub target_url: &'a str,
    pub kind: &'a str,
    pub size: u64,
    pub outcome: &'a str,
    pub code: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub message: Option<&'a str>,
    pub job_id: Option<&'a str>,
    pub object_id: Option<&'a str>,
    pub int_id: Option<i64>,
    pub package: Option<i64>,
}

impl ItemRow {
    pub fn view(&self) -> ItemRef<'_> {
        ItemRef {
            rel_path: &self.rel_path,
            target_url: &self.target_url,
            kind: &self.kind,
            size: self.size,
            outcome: &self.outcome,
            code: self.code.as_deref(),
            rule: self.rule.as_deref(),
            message: self.message.as_deref(),
            job_id: self.job_id.as_deref(),
            object_id: self.object_id.as_deref(),
            int_id: self.int_id,
            package: self.package,
        }
    }
}

impl ItemRef<'_> {
    pub fn to_row(&self) -> ItemRow {
        let own = |v: Option<&str>| v.map(str::to_string);
        ItemRow {
            rel_path: self.rel_path.into(),
            target_url: self.target_url.into(),
            kind: self.kind.into(),
            size: self.size,
            outcome: self.outcome.into(),
            code: own(self.code),
            rule: own(self.rule),
            message: own(self.message),
            job_id: own(self.job_id),
            object_id: own(self.object_id),
            int_id: self.int_id,
            package: self.package,
        }
    }
}

/// Column `i` (of ITEM_COLS) as text borrowed from the row, or None for NULL.
fn text_at<'a>(r: &'a rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'a str>> {
    r.get_ref(i)?.as_str_or_null().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

fn item_ref<'a>(r: &'a rusqlite::Row<'_>) -> rusqlite::Result<ItemRef<'a>> {
    let text = |i| text_at(r, i).map(Option::unwrap_or_default);
    Ok(ItemRef {
        rel_path: text(0)?,
        target_url: text(1)?,
        kind: text(2)?,
        size: r.get::<_, i64>(3)? as u64,
        outcome: text(4)?,
        code: text_at(r, 5)?,
        rule: text_at(r, 6)?,
        message: text_at(r, 7)?,
        job_id: text_at(r, 8)?,
        object_id: text_at(r, 9)?,
        int_id: r.get(10)?,
        package: r.get(11)?,
    })
}

fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRow> {
    item_ref(r).map(|i| i.to_row())
}

/// Failed or left-out items of a run sharing an outcome, code and rule.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Reason {
    pub outcome: String,
    pub code: String,
    pub rule: String,
    pub count: u64,
    pub bytes: u64,
}

/// Items of a run with the same kind, outcome, rule, scan failure and "sent" flag.
#[derive(Debug, Clone)]
pub struct TallyRow {
    pub kind: String,
    pub outcome: String,
    /// Empty when none.
    pub rule: String,
    /// Failed by the scan (an SPMT 0x0111… code): never sent.
    pub scan_failure: bool,
    /// Was put in a package (has an object id).
    pub sent: bool,
    pub count: u64,
    pub bytes: u64,
}

/// Hands out new list-item ids of one list during a round (see [`Store::int_id_allocator`]).
#[derive(Debug)]
pub struct IntIdAllocator {
    list_id: String,
    next: i64,
    saved: i64,
    /// Earlier rounds exist, so an item may already have an id.
    history: bool,
}

impl IntIdAllocator {
    pub fn has_history(&self) -> bool {
        self.history
    }
}

/// The latest record of an item in an earlier round.
#[derive(Debug, Clone)]
pub struct Previous {
    pub outcome: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub run: i64,
    pub content_hash: Option<String>,
    pub rule: Option<String>,
}

/// A task of the session: one source folder into one library folder. Its id is stable for
/// the same source and target, so running the same migration again is its next round.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskRow {
    pub id: String,
    pub ord: i64,
    pub source: String,
    pub site_url: String,
    pub target_list: String,
    pub rel_path: String,
    /// The task's settings as JSON (never secrets).
    pub settings: String,
    pub created: String,
}

impl TaskRow {
    /// The task's source for people (the record keeps a SharePoint library as JSON).
    pub fn source_shown(&self) -> String {
        crate::task::Source::from_record(&self.source).shown()
    }
}

/// One round of a task.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub task_id: Option<String>,
    pub round: i64,
    pub started: String,
    pub finished: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub scanned_items: u64,
    pub scanned_bytes: u64,
    pub uploaded_bytes: u64,
    pub packages: u64,
    pub throttled: u64,
    pub duration_secs: f64,
}

const RUN_COLS: &str = "id, task_id, COALESCE(round, 0), started, finished, COALESCE(status, ''), error, COALESCE(scanned_items, 0), COALESCE(scanned_bytes, 0), COALESCE(uploaded_bytes, 0), COALESCE(packages, 0), COALESCE(throttled, 0), COALESCE(duration_secs, 0)";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        task_id: r.get(1)?,
        round: r.get(2)?,
        started: r.get(3)?,
        finished: r.get(4)?,
        status: r.get(5)?,
        error: r.get(6)?,
        scanned_items: r.get::<_, i64>(7)? as u64,
        scanned_bytes: r.get::<_, i64>(8)? as u64,
        uploaded_bytes: r.get::<_, i64>(9)? as u64,
        packages: r.get::<_, i64>(10)? as u64,
        throttled: r.get::<_, i64>(11)? as u64,
        duration_secs: r.get(12)?,
    })
}

/// Figures a finished round keeps beside its items.
#[derive(Debug, Clone, Default)]
pub struct RunFigures {
    pub scanned_items: u64,
    pub scanned_bytes: u64,
    pub uploaded_bytes: u64,
    pub packages: u64,
    pub throttled: u64,
    pub duration_secs: f64,
}

/// One point of a round's progress over time (for the throughput chart).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    pub t: f64,
    pub scanned: u64,
    pub uploaded_bytes: u64,
    pub migrated: u64,
    pub failed: u64,
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
    message TEXT,
    content_hash TEXT);
-- One index serves a round's items by outcome and, with outcome = 'Pending', a package's
-- unconfirmed items (resume). It replaced items_run (run, outcome) and items_package
-- (run, package): each index is a B-tree insert per scanned item, the recorder's main cost.
CREATE INDEX IF NOT EXISTS items_state ON items(run, outcome, package);
DROP INDEX IF EXISTS items_run;
DROP INDEX IF EXISTS items_package;
CREATE INDEX IF NOT EXISTS items_url ON items(target_url, run);
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, source TEXT, target TEXT, status TEXT,
    task_id TEXT, round INTEGER, error TEXT, scanned_items INTEGER, scanned_bytes INTEGER, uploaded_bytes INTEGER,
    packages INTEGER, throttled INTEGER, duration_secs REAL);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, ord INTEGER NOT NULL, source TEXT NOT NULL, site_url TEXT NOT NULL,
    target_list TEXT NOT NULL, rel_path TEXT NOT NULL, settings TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (run INTEGER NOT NULL, t REAL NOT NULL, scanned INTEGER NOT NULL, uploaded_bytes INTEGER NOT NULL,
    migrated INTEGER NOT NULL, failed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS packages (run INTEGER NOT NULL, id INTEGER NOT NULL, items INTEGER, bytes INTEGER, job_id TEXT, state TEXT,
    PRIMARY KEY (run, id));
"#;

/// Adds the columns later versions introduced to a working folder made by an earlier one.
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let wanted: &[(&str, &[&str])] = &[
        (
            "runs",
            &[
                "task_id TEXT",
                "round INTEGER",
                "error TEXT",
                "scanned_items INTEGER",
                "scanned_bytes INTEGER",
                "uploaded_bytes INTEGER",
                "packages INTEGER",
                "throttled INTEGER",
                "duration_secs REAL",
            ],
        ),
        ("items", &["content_hash TEXT"]),
    ];
    for (table, cols) in wanted {
        let mut st = conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let have: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(1))?
            .collect::<Result<_, _>>()?;
        for col in *cols {
            let name = col.split(' ').next().unwrap_or_default();
            if !have.iter().any(|h| h == name) {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {col}"))?;
            }
        }
    }
    Ok(())
}

/// Creates a working folder (readable by its owner only) and checks that this account can
/// write in it: a session refuses at once a folder it could never keep its state in, rather
/// than failing when the run starts.
pub fn prepare_folder(folder: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::Folder {
        path: folder.display().to_string(),
        source,
    };
    std::fs::create_dir_all(folder).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700));
    }
    let probe = folder.join(format!(".spmt-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(err)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

impl Store {
    /// Opens (creating) `spmt.db` in `folder`, which is created readable by its owner only.
    pub fn open(folder: &Path) -> Result<Self, StoreError> {
        Self::open_checked(folder, true)
    }

    /// Opens `spmt.db` for a new session after [`set_aside`]: no earlier state is expected.
    pub fn open_new_session(folder: &Path) -> Result<Self, StoreError> {
        Self::open_checked(folder, false)
    }

    fn open_checked(folder: &Path, expect_state: bool) -> Result<Self, StoreError> {
        prepare_folder(folder)?;
        let path = folder.join("spmt.db");
        // Evidence of an earlier session: its reports. A state file that is then empty or
        // unreadable must stop the run; opened as it is, SQLite would start a new session and
        // every file would be imported again.
        let earlier = expect_state && folder.join("Report").is_dir();
        let damaged = |what: String| StoreError::Damaged {
            folder: folder.display().to_string(),
            what,
        };
        if earlier {
            match std::fs::metadata(&path) {
                Ok(m) if m.len() == 0 => return Err(damaged("is empty (0 bytes)".into())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(damaged("is missing".into()))
                }
                _ => {}
            }
        }
        let err = |e: rusqlite::Error| {
            if is_damage(&e) {
                damaged(format!("cannot be read ({e})"))
            } else {
                StoreError::Sqlite {
                    path: path.display().to_string(),
                    source: e,
                }
            }
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch(
            // A 32 MiB page cache and checkpoints every ~16 MiB of WAL: with SQLite's defaults
            // (2 MiB, 4 MiB) a million-item round re-read index pages and copied the WAL
            // into the database many times over.
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
             PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=4000;",
        )
        .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        upgrade(&conn).map_err(err)?;
        Ok(Store {
            conn,
            path,
            tallies: Default::default(),
        })
    }

    /// A second, read-only connection to the same database, for a thread that reads while
    /// this one goes on (WAL lets readers and the writer work side by side).
    pub fn reader(&self) -> Result<Self, StoreError> {
        let conn = Connection::open(&self.path).map_err(|e| self.err(e))?;
        conn.execute_batch(
            "PRAGMA busy_timeout=5000; PRAGMA cache_size=-32768; PRAGMA query_only=1;",
        )
        .map_err(|e| self.err(e))?;
        Ok(Store {
            conn,
            path: self.path.clone(),
            tallies: Default::default(),
        })
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        }
    }

    /// Runs one cached statement that writes.
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        st.execute(params).map(|_| ()).map_err(|e| self.err(e))
    }

    /// Every row of a query, each made by `f`.
    fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(params, f).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Starts the next round of `task_id`: returns (run id, round number from 1).
    pub fn begin_run(
        &self,
        task_id: &str,
        source: &str,
        target: &str,
    ) -> Result<(i64, i64), StoreError> {
        let round: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) + 1 FROM runs WHERE task_id = ?1",
                params![task_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT INTO runs (started, source, target, status, task_id, round) VALUES (?1, ?2, ?3, 'Running', ?4, ?5)",
                params![chrono::Utc::now().to_rfc3339(), source, target, task_id, round],
            )
            .map_err(|e| self.err(e))?;
        Ok((self.conn.last_insert_rowid(), round))
    }

    pub fn finish_run(
        &self,
        run: i64,
        status: &str,
        error: Option<&str>,
        f: &RunFigures,
    ) -> Result<(), StoreError> {
        // The round's tally stays good: this writes the runs table only, and a million-item
        // round's reports would otherwise tally it a second time right after.
        let before = self.version()?;
        self.conn
            .execute(
                "UPDATE runs SET finished = ?1, status = ?2, error = ?3, scanned_items = ?4, scanned_bytes = ?5,
                 uploaded_bytes = ?6, packages = ?7, throttled = ?8, duration_secs = ?9 WHERE id = ?10",
                params![
                    chrono::Utc::now().to_rfc3339(),
                    status,
                    error,
                    f.scanned_items as i64,
                    f.scanned_bytes as i64,
                    f.uploaded_bytes as i64,
                    f.packages as i64,
                    f.throttled as i64,
                    f.duration_secs,
                    run
                ],
            )
            .map_err(|e| self.err(e))?;
        self.keep_tallies(before)
    }

    /// Tallies made at `before` stay valid after a write of this connection's that touched
    /// no items, unless another connection wrote meanwhile (data_version moved).
    fn keep_tallies(&self, before: DbVersion) -> Result<(), StoreError> {
        let after = self.version()?;
        if after.1 == before.1 {
            for (v, _) in self.tallies.borrow_mut().values_mut() {
                if *v == before {
                    *v = after;
                }
            }
        }
        Ok(())
    }

    fn version(&self) -> Result<DbVersion, StoreError> {
        self.conn
            .query_row(
                "SELECT total_changes(), (SELECT data_version FROM pragma_data_version)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))
    }

    /// Starts a write transaction. IMMEDIATE takes the write lock now (waiting up to the busy
    /// timeout): a deferred one that reads first fails outright with SQLITE_BUSY when another
    /// connection (the live reports) wrote in between.
    pub fn begin(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))
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
        if let Some(id) = self.recorded_int_id(list_id, target_url)? {
            return Ok(id);
        }
        let next = self.highest_int_id(list_id)? + 1;
        self.conn
            .execute(
                "INSERT INTO int_ids (list_id, target_url, int_id) VALUES (?1, ?2, ?3)",
                params![list_id, target_url, next],
            )
            .map_err(|e| self.err(e))?;
        Ok(next)
    }

    /// The id `int_ids` holds for `target_url` in `list_id`, if any.
    fn recorded_int_id(&self, list_id: &str, target_url: &str) -> Result<Option<i64>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT int_id FROM int_ids WHERE list_id = ?1 AND target_url = ?2")
            .map_err(|e| self.err(e))?;
        st.query_row(params![list_id, target_url], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The highest list-item id of `list_id` in use: ours in `int_ids`, or the recorded floor
    /// (the target's highest, and what a round's allocator gave out).
    fn highest_int_id(&self, list_id: &str) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT MAX(COALESCE((SELECT MAX(int_id) FROM int_ids WHERE list_id = ?1), 0),
                            COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'int_floor:' || ?1), 0))",
                params![list_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// The list-item id allocator a round's recorder uses for `list_id`: it starts above
    /// every id this folder gave out (the recorded floor, and the `int_ids` table of earlier
    /// versions and of the `--target-list-relative-path` folders) and the target's highest.
    pub fn int_id_allocator(&self, list_id: &str, run: i64) -> Result<IntIdAllocator, StoreError> {
        let max = self.highest_int_id(list_id)?;
        Ok(IntIdAllocator {
            list_id: list_id.to_string(),
            next: max + 1,
            saved: max,
            history: self.has_history(run)?,
        })
    }

    /// The item's stable list-item id: the one an earlier round gave the same item (same URL
    /// in the same list, so the same object id), else the next free one. The recorder calls
    /// [`Store::save_int_floor`] in every transaction that used the allocator.
    pub fn stable_int_id(
        &self,
        alloc: &mut IntIdAllocator,
        target_url: &str,
        object_id: &str,
    ) -> Result<i64, StoreError> {
        if alloc.history {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT int_id FROM items WHERE target_url = ?1 AND object_id = ?2 AND int_id IS NOT NULL
                     ORDER BY run DESC LIMIT 1",
                )
                .map_err(|e| self.err(e))?;
            let found: Option<i64> = st
                .query_row(params![target_url, object_id], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(e))?;
            if let Some(id) = found {
                return Ok(id);
            }
            // Working folders of earlier versions kept the ids in `int_ids` only.
            if let Some(id) = self.recorded_int_id(&alloc.list_id, target_url)? {
                return Ok(id);
            }
        }
        let id = alloc.next;
        alloc.next += 1;
        Ok(id)
    }

    /// Records the highest id `alloc` gave out, in the caller's transaction, so the ids stay
    /// unique however the round ends.
    pub fn save_int_floor(&self, alloc: &mut IntIdAllocator) -> Result<(), StoreError> {
        let max = alloc.next - 1;
        if max > alloc.saved {
            self.reserve_int_ids_above(&alloc.list_id, max)?;
            alloc.saved = max;
        }
        Ok(())
    }

    /// Whether an earlier round recorded any item: a first round has nothing to compare
    /// with, and skips the per-item lookups of an incremental one.
    pub fn has_history(&self, run: i64) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM items WHERE run < ?1)",
                params![run],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
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
        self.exec(
            "UPDATE items SET package = ?1 WHERE id = ?2",
            params![package, item],
        )
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

    /// Source-relative path of an item row (for per-item events).
    pub fn item_rel_path(&self, item: i64) -> Result<Option<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT rel_path FROM items WHERE id = ?1")
            .map_err(|e| self.err(e))?;
        st.query_row(params![item], |r| r.get(0))
            .optional()
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

    /// The latest record of `target_url` in an earlier run.
    pub fn previous(&self, target_url: &str, run: i64) -> Result<Option<Previous>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT outcome, size, mtime_ns, run, content_hash, rule FROM items WHERE target_url = ?1 AND run < ?2 ORDER BY run DESC, id DESC LIMIT 1")
            .map_err(|e| self.err(e))?;
        st.query_row(params![target_url, run], |r| {
            Ok(Previous {
                outcome: r.get(0)?,
                size: r.get::<_, i64>(1)? as u64,
                mtime_ns: r.get(2)?,
                run: r.get(3)?,
                content_hash: r.get(4)?,
                rule: r.get(5)?,
            })
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

    /// Pending files of packages an earlier run was submitting when it stopped (state
    /// `Submitting`, no job id recorded): the service may hold a job for them that the run
    /// never recorded. (row, object id, size, mtime in ns).
    pub fn unrecorded_submissions(
        &self,
        run: i64,
    ) -> Result<Vec<(i64, String, u64, i64)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT i.id, COALESCE(i.object_id, ''), i.size, i.mtime_ns FROM items i
                 JOIN packages p ON p.run = i.run AND p.id = i.package
                 WHERE p.run < ?1 AND p.job_id IS NULL AND p.state = 'Submitting'
                   AND i.outcome = 'Pending' AND i.kind = 'File'",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![run], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get(3)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every job id this session recorded, lowercase.
    pub fn recorded_jobs(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT lower(job_id) FROM packages WHERE job_id IS NOT NULL")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
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
        for t in self.tally(run)? {
            let (o, kind, n, bytes) = (t.outcome, t.kind, t.count, t.bytes);
            match o.as_str() {
                "Migrated" => {
                    c.migrated += n;
                    if kind == "File" {
                        c.migrated_files += n;
                        c.migrated_bytes += bytes;
                    } else {
                        c.migrated_folders += n;
                    }
                }
                "Skipped" => c.skipped += n,
                "Failed" => c.failed += n,
                "Deleted" => c.deleted += n,
                _ => c.pending += n,
            }
        }
        Ok(c)
    }

    /// Items of a run that did not migrate (failed first), for the summary and reports.
    /// Pending items are problems only where the round meant to send them (not a scan-only
    /// round, where every item to migrate stays pending).
    pub fn problems(
        &self,
        run: i64,
        limit: usize,
        pending_too: bool,
    ) -> Result<Vec<ItemRow>, StoreError> {
        let pending = if pending_too { "" } else { ", 'Pending'" };
        self.rows(
            &format!(
                "SELECT {ITEM_COLS} FROM items
                 WHERE run = ?1 AND outcome NOT IN ('Migrated', 'Deleted'{pending}) ORDER BY outcome = 'Skipped', id LIMIT ?2"
            ),
            params![run, limit as i64], item_row
        )
    }

    /// Calls `f` with every item of a run in scan order, without holding them all in memory.
    pub fn each_item(
        &self,
        run: i64,
        f: impl FnMut(&ItemRef<'_>) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let (lo, hi) = self.run_range(run)?;
        self.each(
            &format!("SELECT {ITEM_COLS} FROM items WHERE id BETWEEN ?2 AND ?3 AND +run = ?1 ORDER BY id"),
            params![run, lo, hi],
            f,
        )
    }

    /// Calls `f` with every failed item of a run in scan order (through the run index).
    pub fn each_failed_item(
        &self,
        run: i64,
        f: impl FnMut(&ItemRef<'_>) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        self.each(
            &format!(
                "SELECT {ITEM_COLS} FROM items WHERE run = ?1 AND outcome = 'Failed' ORDER BY id"
            ),
            params![run],
            f,
        )
    }

    fn each(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        mut f: impl FnMut(&ItemRef<'_>) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let mut rows = st.query(params).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let item = item_ref(r).map_err(|e| self.err(e))?;
            f(&item).map_err(|e| StoreError::Folder {
                path: "report".into(),
                source: e,
            })?;
        }
        Ok(())
    }

    /// Failed and skipped items of a run grouped by (outcome, code, rule): count and bytes.
    pub fn reasons(&self, run: i64) -> Result<Vec<Reason>, StoreError> {
        self.rows(
            "SELECT outcome, COALESCE(code, ''), COALESCE(rule, ''), COUNT(*), COALESCE(SUM(size), 0) FROM items
                 WHERE run = ?1 AND outcome IN ('Failed', 'Skipped') GROUP BY 1, 2, 3 ORDER BY 4 DESC",
            params![run], |r| {
                Ok(Reason {
                    outcome: r.get(0)?,
                    code: r.get(1)?,
                    rule: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                    bytes: r.get::<_, i64>(4)? as u64,
                })
            }
        )
    }

    /// A run's items counted by what the status and reports tell apart.
    /// Grouped in Rust over one pass in rowid order: SQLite's GROUP BY sorted every row of
    /// the run by text (seconds for a million items, once per report and status call).
    ///
    /// The end of a round asks for the same tallies several times (summary, status, the
    /// round's and the session's reports): a tally is kept until any connection writes.
    pub fn tally(&self, run: i64) -> Result<Vec<TallyRow>, StoreError> {
        let version = self.version()?;
        if let Some((v, t)) = self.tallies.borrow().get(&run) {
            if *v == version {
                return Ok(t.clone());
            }
        }
        let t = self.tally_now(run)?;
        self.tallies.borrow_mut().insert(run, (version, t.clone()));
        Ok(t)
    }

    fn tally_now(&self, run: i64) -> Result<Vec<TallyRow>, StoreError> {
        type Key = (String, String, String, bool, bool);
        let (lo, hi) = self.run_range(run)?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT kind, outcome, COALESCE(rule, ''), COALESCE(code, '') LIKE '0x0111%', object_id IS NOT NULL, size
                 FROM items WHERE id BETWEEN ?2 AND ?3 AND +run = ?1",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = st.query(params![run, lo, hi]).map_err(|e| self.err(e))?;
        let mut groups: HashMap<Key, (u64, u64)> = HashMap::new();
        let mut add = |(k, n, b): (Key, u64, u64)| {
            let g = groups.entry(k).or_default();
            g.0 += n;
            g.1 += b;
        };
        let mut last: Option<(Key, u64, u64)> = None;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            type RowKey<'r> = (&'r str, &'r str, &'r str, bool, bool);
            let row = || -> rusqlite::Result<(RowKey<'_>, u64)> {
                Ok((
                    (
                        text_at(r, 0)?.unwrap_or_default(),
                        text_at(r, 1)?.unwrap_or_default(),
                        text_at(r, 2)?.unwrap_or_default(),
                        r.get(3)?,
                        r.get(4)?,
                    ),
                    r.get::<_, i64>(5)? as u64,
                ))
            };
            let ((kind, outcome, rule, failed, sent), size) = row().map_err(|e| self.err(e))?;
            // Neighbours mostly share a group: add up runs before touching the map, and
            // compare the row's text in place (no copies unless the group changes).
            match &mut last {
                Some((k, n, b))
                    if k.0 == kind
                        && k.1 == outcome
                        && k.2 == rule
                        && k.3 == failed
                        && k.4 == sent =>
                {
                    *n += 1;
                    *b += size;
                }
                _ => {
                    let key = (kind.into(), outcome.into(), rule.into(), failed, sent);
                    if let Some(done) = last.replace((key, 1, size)) {
                        add(done);
                    }
                }
            }
        }
        if let Some(done) = last {
            add(done);
        }
        let mut out: Vec<TallyRow> = groups
            .into_iter()
            .map(
                |((kind, outcome, rule, scan_failure, sent), (count, bytes))| TallyRow {
                    kind,
                    outcome,
                    rule,
                    scan_failure,
                    sent,
                    count,
                    bytes,
                },
            )
            .collect();
        out.sort_by(|a, b| {
            (&a.kind, &a.outcome, &a.rule, a.scan_failure, a.sent).cmp(&(
                &b.kind,
                &b.outcome,
                &b.rule,
                b.scan_failure,
                b.sent,
            ))
        });
        Ok(out)
    }

    /// The first and last row id of a run's items. A round's items are written while it
    /// runs, so reading by rowid between these bounds (`+run` keeps SQLite off the run
    /// index) gives them in scan order with no sort.
    fn run_range(&self, run: i64) -> Result<(i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), -1) FROM items WHERE run = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))
    }

    // ---- session and tasks ----

    /// The session's id, made on first use.
    pub fn session_id(&self) -> Result<String, StoreError> {
        // Read first: status and reports call this often and should not need the write lock.
        if let Some(id) = self.meta("session_id")? {
            return Ok(id);
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.conn
            .execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('session_id', ?1)",
                params![id],
            )
            .map_err(|e| self.err(e))?;
        self.meta("session_id").map(|v| v.unwrap_or(id))
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Adds the task (or refreshes its settings when it exists) and returns it.
    pub fn ensure_task(
        &self,
        id: &str,
        source: &str,
        site_url: &str,
        target_list: &str,
        rel_path: &str,
        settings: &str,
    ) -> Result<TaskRow, StoreError> {
        self.conn
            .execute(
                "INSERT INTO tasks (id, ord, source, site_url, target_list, rel_path, settings, created)
                 VALUES (?1, (SELECT COALESCE(MAX(ord), 0) + 1 FROM tasks), ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET settings = excluded.settings",
                params![id, source, site_url, target_list, rel_path, settings, chrono::Utc::now().to_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        self.task(id)?
            .ok_or_else(|| self.err(rusqlite::Error::QueryReturnedNoRows))
    }

    pub fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError> {
        Ok(self.tasks()?.into_iter().find(|t| t.id == id))
    }

    pub fn tasks(&self) -> Result<Vec<TaskRow>, StoreError> {
        self.rows(
            "SELECT id, ord, source, site_url, target_list, rel_path, settings, created FROM tasks ORDER BY ord",
            [], |r| {
                Ok(TaskRow {
                    id: r.get(0)?,
                    ord: r.get(1)?,
                    source: r.get(2)?,
                    site_url: r.get(3)?,
                    target_list: r.get(4)?,
                    rel_path: r.get(5)?,
                    settings: r.get(6)?,
                    created: r.get(7)?,
                })
            }
        )
    }

    /// Removes a task from the session; its rounds' records stay for the reports.
    pub fn remove_task(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .execute("DELETE FROM tasks WHERE id = ?1", params![id])
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Rounds of a task, oldest first.
    pub fn runs_of(&self, task_id: &str) -> Result<Vec<RunRow>, StoreError> {
        self.rows(
            &format!("SELECT {RUN_COLS} FROM runs WHERE task_id = ?1 ORDER BY id"),
            params![task_id],
            run_row,
        )
    }

    pub fn run(&self, run: i64) -> Result<Option<RunRow>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"),
                params![run],
                run_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn add_sample(&self, run: i64, s: &Sample) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO samples (run, t, scanned, uploaded_bytes, migrated, failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run, s.t, s.scanned as i64, s.uploaded_bytes as i64, s.migrated as i64, s.failed as i64],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn samples(&self, run: i64) -> Result<Vec<Sample>, StoreError> {
        self.rows(
            "SELECT t, scanned, uploaded_bytes, migrated, failed FROM samples WHERE run = ?1 ORDER BY t",
            params![run], |r| {
                Ok(Sample {
                    t: r.get(0)?,
                    scanned: r.get::<_, i64>(1)? as u64,
                    uploaded_bytes: r.get::<_, i64>(2)? as u64,
                    migrated: r.get::<_, i64>(3)? as u64,
                    failed: r.get::<_, i64>(4)? as u64,
                })
            }
        )
    }

    pub fn set_hash(&self, item: i64, hash: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE items SET content_hash = ?1 WHERE id = ?2",
            params![hash, item],
        )
    }

    /// What earlier rounds of `task_id` put in the target and this round's scan did not see:
    /// (rel_path, target_url, kind), deepest first so children go before their folder.
    pub fn vanished(
        &self,
        task_id: &str,
        run: i64,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.rows(
            "WITH latest AS (
                    SELECT i.target_url, i.rel_path, i.kind, i.outcome, i.rule,
                           ROW_NUMBER() OVER (PARTITION BY i.target_url ORDER BY i.run DESC, i.id DESC) AS n
                    FROM items i JOIN runs r ON r.id = i.run
                    WHERE r.task_id = ?1 AND i.run < ?2)
                 SELECT rel_path, target_url, kind FROM latest
                 WHERE n = 1 AND (outcome = 'Migrated' OR (outcome = 'Skipped' AND rule = 'Unchanged'))
                   AND NOT EXISTS (SELECT 1 FROM items k WHERE k.run = ?2 AND k.target_url = latest.target_url)
                 ORDER BY LENGTH(target_url) - LENGTH(REPLACE(target_url, '/', '')) DESC, kind = 'Folder', target_url",
            params![task_id, run], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            }
        )
    }

    /// Folders recorded in a run: (target URL, outcome, rule).
    #[allow(clippy::type_complexity)]
    pub fn folders_of(
        &self,
        run: i64,
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        self.rows(
            "SELECT target_url, outcome, rule FROM items WHERE run = ?1 AND kind = 'Folder'",
            params![run],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// Source paths of the items a run would send (still pending).
    pub fn pending_paths(&self, run: i64) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT rel_path FROM items WHERE run = ?1 AND outcome = 'Pending' ORDER BY id",
            params![run],
            |r| r.get(0),
        )
    }

    /// A copy of this database in `folder` (for a dry run, which must leave the state as is).
    pub fn copy_to(&self, folder: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(folder).map_err(|e| StoreError::Folder {
            path: folder.display().to_string(),
            source: e,
        })?;
        let dest = folder.join("spmt.db");
        self.conn
            .execute("VACUUM INTO ?1", params![dest.display().to_string()])
            .map_err(|e| self.err(e))?;
        Store::open(folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_reuses_earlier_ids_and_new_items_go_above_every_id_given_out() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        // A --target-list-relative-path folder takes its id through `int_id` first.
        let prefix = s.int_id("L", "/lib/sub").unwrap();
        s.reserve_int_ids_above("L", 40).unwrap();
        let (run1, _) = s.begin_run("t", "src", "dst").unwrap();
        let mut ids = s.int_id_allocator("L", run1).unwrap();
        assert!(!ids.has_history(), "a first round has nothing to look up");
        s.begin().unwrap();
        let a = s.stable_int_id(&mut ids, "/lib/sub/a", "oa").unwrap();
        let b = s.stable_int_id(&mut ids, "/lib/sub/b", "ob").unwrap();
        assert_eq!(
            (prefix, a, b),
            (1, 41, 42),
            "new ids start above the target's highest"
        );
        for (url, obj, id) in [("/lib/sub/a", "oa", a), ("/lib/sub/b", "ob", b)] {
            s.insert_item(
                run1,
                url,
                url,
                "File",
                1,
                0,
                Some(obj),
                Some(id),
                Outcome::Migrated,
                None,
                None,
                None,
            )
            .unwrap();
        }
        s.save_int_floor(&mut ids).unwrap();
        s.commit().unwrap();
        drop(s);

        let s = Store::open(d.path()).unwrap();
        let (run2, _) = s.begin_run("t", "src", "dst").unwrap();
        let mut ids = s.int_id_allocator("L", run2).unwrap();
        assert!(ids.has_history());
        assert_eq!(s.stable_int_id(&mut ids, "/lib/sub/b", "ob").unwrap(), b);
        // Same URL in another list (another object id) is another item.
        assert_eq!(
            s.stable_int_id(&mut ids, "/lib/sub/a", "other").unwrap(),
            43
        );
        assert_eq!(s.stable_int_id(&mut ids, "/lib/sub/c", "oc").unwrap(), 44);
        s.save_int_floor(&mut ids).unwrap();
        let mut again = s.int_id_allocator("L", run2).unwrap();
        assert_eq!(
            s.stable_int_id(&mut again, "/lib/sub/d", "od").unwrap(),
            45,
            "a saved floor keeps later allocators above every id given out"
        );
    }

    fn add(s: &Store, run: i64, url: &str, outcome: Outcome) -> i64 {
        s.insert_item(
            run, url, url, "File", 1, 0, None, None, outcome, None, None, None,
        )
        .unwrap()
    }

    #[test]
    fn a_tally_outlives_finishing_the_run_but_never_an_item_change() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let (run, _) = s.begin_run("t", "src", "dst").unwrap();
        let a = add(&s, run, "/a", Outcome::Migrated);
        add(&s, run, "/b", Outcome::Migrated);
        assert_eq!(s.counts(run).unwrap().migrated, 2);
        let figures = RunFigures {
            scanned_items: 1,
            scanned_bytes: 1,
            uploaded_bytes: 1,
            packages: 1,
            throttled: 0,
            duration_secs: 1.0,
        };
        s.finish_run(run, "Completed", None, &figures).unwrap();
        let kept = s.tallies.borrow().get(&run).map(|(v, _)| *v);
        assert_eq!(
            kept,
            Some(s.version().unwrap()),
            "finishing the run touches no item: the tally is reused"
        );

        // Another connection's change: this one's cached tally must not be used.
        let other = Store::open(d.path()).unwrap();
        other
            .set_outcome(a, Outcome::Failed, None, None, None)
            .unwrap();
        assert_eq!(s.counts(run).unwrap().failed, 1);
        // This connection's own item after the run was finished.
        s.finish_run(run, "CompletedWithErrors", None, &figures)
            .unwrap();
        add(&s, run, "/c", Outcome::Migrated);
        assert_eq!(s.counts(run).unwrap().migrated, 2);
        assert_eq!(other.counts(run).unwrap().migrated, 2);
    }

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

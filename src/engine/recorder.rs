//! The recorder: one thread owns the SQLite connection, records every scanned item and every
//! outcome in batched transactions, and forwards items to be migrated to the packager with
//! their stable ids.

use super::{log_item, Counters, ItemObserver, ItemOutcome};
use crate::package::{ids, PkgItem, Target};
use crate::scan::{ItemKind, ScanItem, Verdict};
use crate::store::{IntIdAllocator, Outcome, Store, StoreError};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::sync::mpsc::error::TrySendError;

pub enum Rec {
    /// Scanned items in scan order, a few hundred at a time: one message (and one wake-up
    /// of this thread) per item was the larger part of a million-entry scan's cost.
    Scanned(Vec<Scanned>),
    Packaged {
        items: Vec<i64>,
        package: i64,
        bytes: u64,
    },
    Package {
        package: i64,
        items: u64,
        bytes: u64,
        job_id: Option<String>,
        state: &'static str,
    },
    Outcome {
        item: i64,
        outcome: Outcome,
        job_id: Option<String>,
        code: Option<String>,
        message: Option<String>,
    },
    /// Commit now and answer (used before reading counts).
    Flush(std::sync::mpsc::Sender<()>),
    /// The scan is over: no more items will reach the packager.
    ScanDone,
}

/// A scanned item with its place in the target. Worked out on the scan thread: the recorder,
/// which writes every item to SQLite, is the busier of the two on a big scan.
pub struct Scanned {
    pub item: ScanItem,
    /// Path under the library root (the `--target-list-relative-path` prefix included).
    pub lib_rel: String,
    /// Server-relative URL in the target.
    pub url: String,
    /// The item's deterministic object id ([`ids::object_id`]).
    pub object_id: uuid::Uuid,
}

impl Scanned {
    /// `prefix`: the folder under the library root, no slashes around (may be empty).
    /// `item.target_rel` moves into `lib_rel` (it is left empty): nothing reads it after this.
    pub fn new(mut item: ScanItem, target: &Target, prefix: &str) -> Self {
        let lib_rel = if prefix.is_empty() {
            std::mem::take(&mut item.target_rel)
        } else {
            format!("{prefix}/{}", item.target_rel)
        };
        let url = target.server_relative(&lib_rel);
        let object_id = ids::object_id(target.list_id, &url);
        Scanned {
            item,
            lib_rel,
            url,
            object_id,
        }
    }
}

/// MD5 of a file's bytes, hex (`--check-content`). None when it cannot be read; the
/// item is then sent again rather than assumed unchanged.
fn content_hash(path: &std::path::Path) -> Option<String> {
    use md5::{Digest, Md5};
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

/// An item on its way to a package: its row id and its manifest form.
pub struct Candidate {
    pub row: i64,
    pub item: PkgItem,
}

pub struct Recorder {
    pub store: Store,
    pub run: i64,
    /// `--check-content`: a file is unchanged only if its content hash is too.
    pub check_content: bool,
    pub target: Target,
    pub counters: Arc<Counters>,
    /// False in a scan-only (or dry) round: nothing is packaged, so no candidates are built.
    pub packaging: bool,
    /// Where recorded batches go to be freed (the scan thread); dropped here if None.
    pub recycle: Option<std::sync::mpsc::Sender<Vec<Scanned>>>,
    /// Per-item outcome events for a host that asked for them.
    pub observer: Option<ItemObserver>,
}

impl Recorder {
    fn observe(&self, rel_path: &str, outcome: Outcome, code: Option<&str>, message: Option<&str>) {
        if let Some(o) = &self.observer {
            (o.0)(&ItemOutcome {
                rel_path,
                outcome,
                code,
                message,
            });
        }
    }

    /// Records an item that will not be sent (skipped or failed) with its rule and message.
    #[allow(clippy::too_many_arguments)]
    fn record_final(
        &self,
        it: &ScanItem,
        url: &str,
        mtime_ns: i64,
        outcome: Outcome,
        code: Option<&str>,
        rule: &str,
        message: &str,
    ) -> Result<i64, StoreError> {
        let row = self.store.insert_item(
            self.run,
            &it.rel_path,
            url,
            it.kind.as_str(),
            it.size,
            mtime_ns,
            None,
            None,
            outcome,
            code,
            Some(rule),
            Some(message),
        )?;
        let c = &self.counters;
        match outcome {
            Outcome::Failed => c.failed_items.fetch_add(1, Ordering::Relaxed),
            _ => c.skipped_items.fetch_add(1, Ordering::Relaxed),
        };
        self.observe(&it.rel_path, outcome, code, Some(message));
        Ok(row)
    }

    fn record_scanned(
        &self,
        s: &mut Scanned,
        out: &mut Vec<Candidate>,
        ints: &mut IntIdAllocator,
    ) -> Result<(), StoreError> {
        let c: &Counters = &self.counters;
        let Scanned {
            item: it,
            lib_rel,
            url,
            object_id,
        } = s;
        let object_id = *object_id;
        let mtime_ns = it
            .mtime
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let kind = it.kind.as_str();
        match &it.verdict {
            Verdict::Migrate => {
                // Incremental rounds: what an earlier round migrated and has not changed since
                // (same size and modification time, and with --check-content the same content
                // hash; a folder by its path) is not sent again.
                let hash = if self.check_content && it.kind == ItemKind::File {
                    content_hash(&it.abs_path)
                } else {
                    None
                };
                let previous = if ints.has_history() {
                    self.store.previous(url, self.run)?
                } else {
                    None
                };
                if let Some(p) = previous {
                    // In the target: migrated, or found unchanged by a round after that.
                    let was_there = p.outcome == Outcome::Migrated.as_str()
                        || (p.outcome == Outcome::Skipped.as_str()
                            && p.rule.as_deref() == Some("Unchanged"));
                    let same = it.kind == ItemKind::Folder
                        || (p.size == it.size
                            && p.mtime_ns == mtime_ns
                            && (!self.check_content || (hash.is_some() && p.content_hash == hash)));
                    if was_there && same {
                        let message = format!(
                            "{}: unchanged since an earlier round migrated it",
                            it.rel_path
                        );
                        let row = self.record_final(
                            it,
                            url,
                            mtime_ns,
                            Outcome::Skipped,
                            None,
                            "Unchanged",
                            &message,
                        )?;
                        // The hash carries over, so a later --check-content round compares
                        // with the content that was migrated.
                        if let Some(h) = hash.as_ref().or(p.content_hash.as_ref()) {
                            self.store.set_hash(row, h)?;
                        }
                        c.unchanged_items.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                }
                let mut object_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let object_text = object_id.hyphenated().encode_lower(&mut object_text);
                let int_id = self.store.stable_int_id(ints, url, object_text)?;
                let row = self.store.insert_item(
                    self.run,
                    &it.rel_path,
                    url,
                    kind,
                    it.size,
                    mtime_ns,
                    Some(object_text),
                    Some(int_id),
                    Outcome::Pending,
                    None,
                    None,
                    None,
                )?;
                if let Some(h) = &hash {
                    self.store.set_hash(row, h)?;
                }
                c.scanned_items.fetch_add(1, Ordering::Relaxed);
                c.scanned_bytes.fetch_add(it.size, Ordering::Relaxed);
                if !self.packaging {
                    return Ok(());
                }
                let item = PkgItem {
                    kind: it.kind,
                    lib_rel: std::mem::take(lib_rel),
                    object_id,
                    item_id: ids::list_item_id(self.target.list_id, url),
                    int_id,
                    size: it.size,
                    ctime: it.ctime,
                    mtime: it.mtime,
                    blob_name: if it.kind == ItemKind::File {
                        ids::blob_name(object_id)
                    } else {
                        String::new()
                    },
                    facts: it.facts.take(),
                    versions: Vec::new(),
                };
                out.push(Candidate { row, item });
                Ok(())
            }
            Verdict::Skip { rule, message } => {
                self.record_final(it, url, mtime_ns, Outcome::Skipped, None, rule, message)?;
                log_item(&it.rel_path, Outcome::Skipped, message);
                Ok(())
            }
            Verdict::Fail {
                code,
                rule,
                message,
            } => {
                self.record_final(
                    it,
                    url,
                    mtime_ns,
                    Outcome::Failed,
                    Some(code),
                    rule,
                    message,
                )?;
                log_item(&it.rel_path, Outcome::Failed, message);
                Ok(())
            }
        }
    }

    /// Commits the open transaction with the highest list-item id given out in it.
    fn commit(&self, ints: &mut IntIdAllocator) -> Result<(), StoreError> {
        self.store.save_int_floor(ints)?;
        self.store.commit()
    }

    /// Runs until both channels are closed; returns the store for the final summary.
    /// `scan_rx` is bounded (the scan waits when packaging falls behind); `rx` carries
    /// outcomes from async tasks and is unbounded so they never block a runtime thread.
    pub fn run(
        self,
        scan_rx: Receiver<Rec>,
        rx: Receiver<Rec>,
        out: tokio::sync::mpsc::Sender<Vec<Candidate>>,
    ) -> Result<Store, StoreError> {
        let mut out = Some(out);
        let mut ints = self
            .store
            .int_id_allocator(&self.target.list_id.to_string(), self.run)?;
        let mut scan_open = true;
        let mut rx_open = true;
        let mut in_tx = false;
        let mut ops = 0u32;
        let mut last = Instant::now();
        // Candidates the packager has no room for yet. This thread never blocks on the
        // packager: an upload waits for its job id to be committed here (Flush) while holding
        // the packager's slot, so blocking would stall every job submission until the Flush
        // timed out. While candidates wait, the scan is not read (its back-pressure).
        let mut waiting: VecDeque<Vec<Candidate>> = VecDeque::new();
        // No more candidates will come: the channel closes once `waiting` is delivered.
        let mut scan_over = false;
        while scan_open || rx_open {
            if let Some(o) = &out {
                let mut closed = false;
                while let Some(b) = waiting.pop_front() {
                    match o.try_send(b) {
                        Ok(()) => {}
                        Err(TrySendError::Full(b)) => {
                            waiting.push_front(b);
                            break;
                        }
                        Err(TrySendError::Closed(_)) => {
                            closed = true;
                            break;
                        }
                    }
                }
                if closed || (scan_over && waiting.is_empty()) {
                    // Closing the channel lets the packager cut its last package.
                    waiting.clear();
                    out = None;
                }
            }
            let mut batch = Vec::new();
            while rx_open {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => rx_open = false,
                }
            }
            let wait = if batch.is_empty() {
                Duration::from_millis(50)
            } else {
                Duration::ZERO
            };
            if scan_open && waiting.is_empty() {
                match scan_rx.recv_timeout(wait.max(Duration::from_millis(1))) {
                    Ok(m) => batch.push(m),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        scan_open = false;
                        scan_over = true;
                    }
                }
            } else if batch.is_empty() {
                // Waiting candidates are retried every few milliseconds.
                let t = if waiting.is_empty() {
                    Duration::from_millis(100)
                } else {
                    Duration::from_millis(2)
                };
                if rx_open {
                    match rx.recv_timeout(t) {
                        Ok(m) => batch.push(m),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => rx_open = false,
                    }
                } else {
                    std::thread::sleep(t);
                }
            }
            for msg in batch {
                if !in_tx {
                    self.store.begin()?;
                    in_tx = true;
                }
                ops += 1;
                match msg {
                    Rec::Scanned(mut items) => {
                        if out.is_none() {
                            continue;
                        }
                        ops += items.len() as u32;
                        let mut candidates = Vec::with_capacity(items.len());
                        for it in items.iter_mut() {
                            self.record_scanned(it, &mut candidates, &mut ints)?;
                        }
                        if !candidates.is_empty() {
                            waiting.push_back(candidates);
                        }
                        // The items' memory goes back to the scan thread, which allocated it:
                        // freed here, every free took the scan thread's malloc arena lock and
                        // the two threads spent a sixth of a big scan waiting on each other.
                        if let Some(r) = &self.recycle {
                            let _ = r.send(items);
                        }
                    }
                    Rec::Packaged {
                        items,
                        package,
                        bytes: _,
                    } => {
                        for i in items {
                            self.store.set_package(i, package)?;
                        }
                    }
                    Rec::Package {
                        package,
                        items,
                        bytes,
                        job_id,
                        state,
                    } => {
                        self.store.upsert_package(
                            self.run,
                            package,
                            items,
                            bytes,
                            job_id.as_deref(),
                            state,
                        )?;
                    }
                    Rec::Outcome {
                        item,
                        outcome,
                        job_id,
                        code,
                        message,
                    } => {
                        self.store.set_outcome(
                            item,
                            outcome,
                            job_id.as_deref(),
                            code.as_deref(),
                            message.as_deref(),
                        )?;
                        if self.observer.is_some() && outcome != Outcome::Pending {
                            if let Some(path) = self.store.item_rel_path(item)? {
                                self.observe(&path, outcome, code.as_deref(), message.as_deref());
                            }
                        }
                    }
                    Rec::ScanDone => scan_over = true,
                    Rec::Flush(ack) => {
                        self.commit(&mut ints)?;
                        in_tx = false;
                        let _ = ack.send(());
                    }
                }
            }
            // Batch writes: one transaction per ~20,000 operations or 200 ms.
            if in_tx && (ops >= 20_000 || last.elapsed() > Duration::from_millis(200)) {
                self.commit(&mut ints)?;
                in_tx = false;
                ops = 0;
                last = Instant::now();
            }
        }
        if in_tx {
            self.commit(&mut ints)?;
        }
        Ok(self.store)
    }
}

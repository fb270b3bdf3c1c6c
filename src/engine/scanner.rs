//! The scan stage's driver: one thread walks the source (`crate::scan`) and hands the items to
//! the recorder in batches, remembering where renamed files' bytes are.

use super::recorder::{Rec, Scanned};
use super::{EngineError, Shared};
use crate::scan::{self, ItemKind, ScanError, ScanOptions};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Items per batch sent to the recorder.
const BATCH: usize = 256;

/// Starts the scan thread. It ends with `Rec::ScanDone` (or early when the run is cancelled or
/// the recorder went away) and returns the scan's result.
pub fn start(
    shared: Arc<Shared>,
    opts: ScanOptions,
    to_recorder: SyncSender<Rec>,
    recycled: Receiver<Vec<Scanned>>,
) -> Result<JoinHandle<Result<(), ScanError>>, EngineError> {
    std::thread::Builder::new()
        .name("spmt-scan".into())
        .spawn(move || walk(&shared, &opts, &to_recorder, &recycled))
        .map_err(|e| EngineError::Internal(e.to_string()))
}

fn walk(
    shared: &Shared,
    opts: &ScanOptions,
    to_recorder: &SyncSender<Rec>,
    recycled: &Receiver<Vec<Scanned>>,
) -> Result<(), ScanError> {
    let counters = &shared.counters;
    // Items go to the recorder in batches: full, or after 50 ms on a slow share so packaging
    // never waits long for the first items.
    let mut batch = Vec::with_capacity(BATCH);
    let mut sent = Instant::now();
    let r = shared.reader.scan(opts, |item| {
        if counters.cancelled() {
            return false;
        }
        let renamed = item.target_rel != item.rel_path;
        let item = Scanned::new(item, &shared.target, &shared.prefix);
        let it = &item.item;
        if it.kind == ItemKind::File && it.verdict == scan::Verdict::Migrate && renamed {
            // A renamed item: remember where its bytes are.
            if let Ok(mut m) = shared.sources.lock() {
                m.insert(item.object_id, it.abs_path.clone());
            }
        }
        batch.push(item);
        if batch.len() < BATCH && sent.elapsed() < Duration::from_millis(50) {
            return true;
        }
        sent = Instant::now();
        // A batch the recorder is done with is freed and reused here, on the thread that
        // allocated its items (see Recorder::recycle).
        let next = match recycled.try_recv() {
            Ok(mut v) => {
                v.clear();
                v
            }
            Err(_) => Vec::with_capacity(BATCH),
        };
        let full = std::mem::replace(&mut batch, next);
        to_recorder.send(Rec::Scanned(full)).is_ok()
    });
    if !batch.is_empty() {
        let _ = to_recorder.send(Rec::Scanned(batch));
    }
    counters.scan_done.store(true, Ordering::Relaxed);
    let _ = to_recorder.send(Rec::ScanDone);
    r.map(|_| ())
}

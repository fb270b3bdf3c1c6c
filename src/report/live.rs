//! Reports while a round runs: a thread with its own SQLite connection records a progress
//! sample every second (the throughput chart) and rewrites the round's reports every few
//! seconds, backing off when writing them takes long (a million-item ItemReport), so the
//! reports never cost the migration more than a small share of its time.

use super::write_round_unless;
use crate::progress::Counters;
use crate::store::{Sample, Store};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Live {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Live {
    /// Stops the thread after one last sample; the caller writes the final reports.
    pub fn stop(self) {}
}

impl Drop for Live {
    /// Joined, not detached: the final reports must not race a live rewrite. The thread
    /// notices the flag within 50 ms.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sample(c: &Counters, started: Instant) -> Sample {
    Sample {
        t: started.elapsed().as_secs_f64(),
        scanned: c.scanned_items.load(Ordering::Relaxed)
            + c.skipped_items.load(Ordering::Relaxed)
            + c.unchanged_items.load(Ordering::Relaxed),
        uploaded_bytes: c.uploaded_bytes.load(Ordering::Relaxed),
        migrated: c.imported_items.load(Ordering::Relaxed),
        failed: c.failed_items.load(Ordering::Relaxed),
    }
}

pub fn start(
    working_folder: PathBuf,
    task_id: String,
    run: i64,
    counters: Arc<Counters>,
    every: Duration,
) -> Live {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("spmt-reports".into())
        .spawn(move || {
            let Ok(store) = Store::open(&working_folder) else {
                return;
            };
            let started = Instant::now();
            let mut next_report = Instant::now() + every;
            // Cost of a rewrite per recorded item, from the last one (a first guess until then):
            // a rewrite waits until it would take at most a tenth of the time so far, so a
            // million-item scan is not slowed by an ItemReport nobody reads before it ends.
            let mut per_item = Duration::from_micros(3);
            loop {
                let stopping = flag.load(Ordering::SeqCst);
                let now = sample(&counters, started);
                if let Err(e) = store.add_sample(run, &now) {
                    tracing::debug!(error = %e, "progress sample not recorded");
                }
                if stopping {
                    return;
                }
                // Items the round has recorded so far: what a rewrite goes through.
                let items = (now.scanned + now.failed).min(u32::MAX as u64) as u32;
                let due =
                    Instant::now() >= next_report && per_item * items * 10 <= started.elapsed();
                if due {
                    let t = Instant::now();
                    if let Err(e) =
                        write_round_unless(&store, &working_folder, &task_id, run, &flag)
                    {
                        if !flag.load(Ordering::SeqCst) {
                            tracing::warn!(error = %e, "live reports not written");
                        }
                    }
                    // Spend at most a tenth of the time writing reports.
                    next_report = Instant::now() + every.max(t.elapsed() * 10);
                    if items > 0 {
                        per_item = t.elapsed() / items;
                    }
                }
                // Sleep in short steps so stopping is prompt.
                let until = Instant::now() + Duration::from_secs(1);
                while Instant::now() < until && !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
        .ok();
    Live { stop, thread }
}

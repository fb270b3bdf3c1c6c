//! Live progress of a round: atomic counters the engine's stages bump and hosts (terminal bars,
//! FFI events, live reports) read whenever they like, so a million-file run never floods a
//! terminal or a callback. A leaf module: the engine writes it, `report` and `status` read it,
//! and none of them reaches into another for it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Counters {
    pub scanned_items: AtomicU64,
    pub scanned_bytes: AtomicU64,
    /// Submitted jobs whose id the recorder did not commit within 30 s (should stay 0).
    pub late_flushes: AtomicU64,
    pub scan_done: AtomicBool,
    pub packaged_items: AtomicU64,
    pub packages: AtomicU64,
    pub uploaded_bytes: AtomicU64,
    pub submitted_jobs: AtomicU64,
    pub imported_items: AtomicU64,
    pub failed_items: AtomicU64,
    pub skipped_items: AtomicU64,
    /// Skipped because an earlier round migrated them and they have not changed.
    pub unchanged_items: AtomicU64,
    pub done: AtomicBool,
    /// Set by the host to stop the run: the scan and packaging stop, submitted jobs are no
    /// longer followed (a later run settles them), and the run ends with status `Stopped`.
    pub cancel: AtomicBool,
}

impl Counters {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The round's percentage while it runs: half for the bytes uploaded, half for the items
    /// settled (imported or failed); 0 until the scan is done (the total is not known
    /// before), never 100 before the round is recorded as finished.
    pub fn percent(&self) -> u64 {
        let scanned = self.scanned_items.load(Ordering::Relaxed);
        if !self.scan_done.load(Ordering::Relaxed) || scanned == 0 {
            return 0;
        }
        let bytes = self.scanned_bytes.load(Ordering::Relaxed);
        let up =
            self.uploaded_bytes.load(Ordering::Relaxed).min(bytes) as f64 / bytes.max(1) as f64;
        // `scanned_items` leaves skipped items out, so they are left out here too.
        let settled =
            self.imported_items.load(Ordering::Relaxed) + self.failed_items.load(Ordering::Relaxed);
        let im = settled.min(scanned) as f64 / scanned as f64;
        (((up + im) * 50.0) as u64).min(99)
    }
}

//! The sending stage's driver: candidates from the recorder are packed into packages
//! (`packager`), each package is uploaded (`upload`) and its job submitted and handed to the
//! monitor (`import`), several packages at once. Every item that fails on the way gets its
//! outcome recorded here, so none is left without one.

use super::import::{self, Submitted};
use super::recorder::{Candidate, Rec};
use super::{packager, upload, Shared};
use crate::package::PkgItem;
use crate::store::Outcome;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Packs and sends every candidate until the recorder closes the channel (or the run is
/// cancelled), then waits for the packages in flight. `prefix_folders` are the
/// `--target-list-relative-path` folders every package re-declares. A scan-only round drains
/// the candidates and sends nothing.
pub async fn run(
    sh: Arc<Shared>,
    prefix_folders: Vec<PkgItem>,
    mut candidates: mpsc::Receiver<Vec<Candidate>>,
    monitor: mpsc::Sender<Submitted>,
    scan_only: bool,
) {
    let mut packager = packager::Packager::new(
        sh.opts.max_package_items,
        sh.opts.max_package_bytes,
        prefix_folders,
    );
    // Waiting for a slot holds the scan back: packages in memory stay bounded.
    let slots = Arc::new(Semaphore::new(sh.opts.packages_in_flight.max(1)));
    let mut in_flight = tokio::task::JoinSet::new();
    'candidates: while let Some(batch) = candidates.recv().await {
        if sh.counters.cancelled() {
            break;
        }
        if scan_only {
            continue;
        }
        for c in batch {
            if let Some(p) = packager.push(c) {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break 'candidates;
                };
                launch(&sh, p, slot, &monitor, &mut in_flight);
            }
        }
    }
    if let Some(p) = packager.finish().filter(|_| !sh.counters.cancelled()) {
        if let Ok(slot) = slots.clone().acquire_owned().await {
            launch(&sh, p, slot, &monitor, &mut in_flight);
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Records a package as packaged and sends it on its own task, holding `slot` until done.
fn launch(
    sh: &Arc<Shared>,
    pkg: packager::Package,
    slot: OwnedSemaphorePermit,
    monitor: &mpsc::Sender<Submitted>,
    in_flight: &mut tokio::task::JoinSet<()>,
) {
    let rows: Vec<i64> = pkg.items.iter().map(|(r, _)| *r).collect();
    sh.counters
        .packaged_items
        .fetch_add(rows.len() as u64, Ordering::Relaxed);
    sh.counters.packages.fetch_add(1, Ordering::Relaxed);
    sh.record(Rec::Packaged {
        items: rows,
        package: pkg.id,
        bytes: pkg.bytes,
    });
    sh.record(Rec::Package {
        package: pkg.id,
        items: pkg.items.len() as u64,
        bytes: pkg.bytes,
        job_id: None,
        state: "Packaged",
    });
    let (sh, monitor) = (sh.clone(), monitor.clone());
    in_flight.spawn(async move {
        let _slot = slot;
        send(&sh, pkg, &monitor).await;
    });
}

/// Uploads a package, submits its job and hands it to the monitor; records the outcome of
/// every item that fails on the way.
async fn send(sh: &Arc<Shared>, pkg: packager::Package, monitor: &mpsc::Sender<Submitted>) {
    let (res, failures, pkg) = upload::upload_package(sh.clone(), pkg).await;
    for f in failures {
        sh.counters.failed_items.fetch_add(1, Ordering::Relaxed);
        sh.log_item(&format!("row {}", f.row), Outcome::Failed, &f.message);
        sh.record(Rec::Outcome {
            item: f.row,
            outcome: Outcome::Failed,
            job_id: None,
            code: Some(f.code.into()),
            message: Some(f.message),
        });
    }
    let uploaded = match res {
        Ok(up) => up,
        Err((code, message)) => return fail_package(sh, pkg.id, &pkg.items, code, &message),
    };
    match import::submit(sh, uploaded).await {
        Ok(sub) => import::hand_over(sh, sub, monitor).await,
        Err(((code, message), up)) => fail_package(sh, up.package, &up.items, code, &message),
    }
}

/// Every item of a package that could not be sent fails with the package's error.
fn fail_package(sh: &Shared, package: i64, items: &[(i64, PkgItem)], code: &str, message: &str) {
    tracing::error!(package, "{}", crate::secrets::redact(message));
    for (row, it) in items {
        sh.counters.failed_items.fetch_add(1, Ordering::Relaxed);
        sh.log_item(&it.lib_rel, Outcome::Failed, message);
        sh.record(Rec::Outcome {
            item: *row,
            outcome: Outcome::Failed,
            job_id: None,
            code: Some(code.into()),
            message: Some(message.into()),
        });
    }
    sh.record(Rec::Package {
        package,
        items: items.len() as u64,
        bytes: 0,
        job_id: None,
        state: "Failed",
    });
}

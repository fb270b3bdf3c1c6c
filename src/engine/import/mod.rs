//! The import stage: everything between "a package is in its containers" and "each of its items
//! has an outcome". It submits the package's job (`CreateMigrationJobEncrypted`), commits the
//! job id before anything else can happen (a run killed afterwards is settled from it on
//! resume instead of importing twice), and hands the job to the monitor, which follows it
//! through the job queue and settles every item from the import log (the ledger).

pub mod ledger;
pub mod monitor;

use super::codes;
use super::recorder::Rec;
use super::upload::{Failure, Uploaded};
use super::{MigrateOptions, Shared};
use crate::azure::{ContainerClient, QueueClient};
use crate::crypto::Key;
use crate::http::Http;
use crate::package::PkgItem;
use crate::spo::SpoClient;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// A package whose job was submitted: what the monitor needs to follow it.
pub struct Submitted {
    pub package: i64,
    pub job_id: uuid::Uuid,
    pub key: Key,
    pub manifest: ContainerClient,
    /// (row id, item) the job is responsible for.
    pub items: Vec<(i64, PkgItem)>,
}

/// The queue the service reports jobs to, as (URI given to the service, client we read it
/// with). They differ only with customer storage, where the service gets `sp=rau` and we keep
/// `raup`. None when no queue could be had: the monitor then polls `GetMigrationJobProgress`.
pub async fn job_queue(
    opts: &MigrateOptions,
    http: &Http,
    spo: &SpoClient,
) -> (Option<String>, Option<QueueClient>) {
    let (service, read) = if let Some(acct) = &opts.custom_storage {
        match acct.job_queue(http).await {
            Ok((read, service)) => (Some(service), Some(read)),
            Err(e) => {
                tracing::warn!(error = %e, "creating the job queue in the custom storage account failed; following jobs with GetMigrationJobProgress");
                (None, None)
            }
        }
    } else {
        match spo.provision_queue().await {
            Ok(q) => (Some(q.job_queue_uri.clone()), Some(q.job_queue_uri)),
            Err(e) => {
                tracing::warn!(error = %e, "ProvisionMigrationQueue failed; following jobs with GetMigrationJobProgress");
                (None, None)
            }
        }
    };
    let client = read
        .as_deref()
        .and_then(|u| QueueClient::new(http.clone(), u).ok());
    (service, client)
}

/// Submits the job of an uploaded package. The package is recorded as `Submitting` on disk
/// first: a run killed after the service created the job but before its id was recorded is
/// then known on resume to have one the service may hold (`resume::settle_unrecorded`).
pub async fn submit(shared: &Shared, up: Uploaded) -> Result<Submitted, (Failure, Uploaded)> {
    shared.record(Rec::Package {
        package: up.package,
        items: up.items.len() as u64,
        bytes: 0,
        job_id: None,
        state: "Submitting",
    });
    flush(shared, "the package's submission").await;
    let created = shared
        .spo
        .create_job_encrypted(
            shared.target.web_id,
            &up.data_uri,
            &up.manifest_uri,
            shared.queue_uri.as_deref(),
            &up.key,
        )
        .await;
    match created {
        Ok(job_id) => Ok(Submitted {
            package: up.package,
            job_id,
            key: up.key,
            manifest: up.manifest,
            items: up.items,
        }),
        Err(e) => Err((
            (
                codes::SUBMIT_FAILED,
                format!("CreateMigrationJobEncrypted failed: {e}"),
            ),
            up,
        )),
    }
}

/// Records a submitted job and waits until its id is on disk, then gives it to the monitor.
pub async fn hand_over(shared: &Shared, sub: Submitted, monitor: &mpsc::Sender<Submitted>) {
    shared
        .counters
        .submitted_jobs
        .fetch_add(1, Ordering::Relaxed);
    shared.record(Rec::Package {
        package: sub.package,
        items: sub.items.len() as u64,
        bytes: 0,
        job_id: Some(sub.job_id.to_string()),
        state: "Submitted",
    });
    // The job id must be on disk before anything else happens: a run killed now is settled
    // from it on resume instead of importing twice.
    flush(shared, &format!("job {}'s id", sub.job_id)).await;
    let _ = monitor.send(sub).await;
}

/// Waits until everything recorded so far is committed to the state database (at most 30 s:
/// a slow disk delays the run rather than stopping it, with a warning naming what waited).
async fn flush(shared: &Shared, what: &str) {
    let (ack_tx, ack_rx) = std::sync::mpsc::channel();
    shared.record(Rec::Flush(ack_tx));
    let acked =
        tokio::task::spawn_blocking(move || ack_rx.recv_timeout(Duration::from_secs(30))).await;
    if !matches!(acked, Ok(Ok(()))) {
        shared.counters.late_flushes.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("{what} was not recorded within 30 s; going on (a kill now could import its items twice)");
    }
}

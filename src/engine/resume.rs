//! Resume: before a new round scans, jobs that an interrupted run submitted but never saw end
//! are settled from the service's own record (`GetMigrationJobProgress`), so an item imported
//! by such a job is not sent again; what no job confirmed is closed as interrupted and the new
//! round sends it again with the same ids.

use super::import::ledger::Ledger;
use super::MigrateOptions;
use crate::package::{ids, Target};
use crate::spo::SpoClient;
use crate::store::{Outcome, Store, StoreError};
use crate::wire::{self, parse_event};
use std::time::Instant;
use uuid::Uuid;

/// Every event of `job`, waiting while the service still queues or runs it. Returns
/// `None` when the service no longer knows the job.
async fn settled_events(spo: &SpoClient, job: Uuid, opts: &MigrateOptions) -> Option<Vec<String>> {
    let start = Instant::now();
    loop {
        let (all, ok) = match spo.all_job_events(job).await {
            Ok(all) => (all, true),
            Err(e) => {
                tracing::warn!(job = %job, error = %e, "cannot read the events of an earlier job");
                (Vec::new(), false)
            }
        };
        let ended = all.iter().filter_map(|e| parse_event(e)).any(|e| {
            matches!(
                wire::field(&e, "Event"),
                Some("JobEnd" | "JobCancelled" | "JobDeleted")
            )
        });
        if ended {
            return Some(all);
        }
        match spo.job_status(job).await {
            Ok(wire::JOB_STATE_QUEUED | wire::JOB_STATE_PROCESSING)
                if start.elapsed() < opts.job_timeout =>
            {
                tokio::time::sleep(
                    opts.poll_interval
                        .max(std::time::Duration::from_millis(200)),
                )
                .await;
            }
            _ => {
                // The job may have ended between reading its events and asking its state:
                // read them once more, so its JobEnd is not missed (that would send its items
                // again and import them twice).
                let all = match spo.all_job_events(job).await {
                    Ok(again) => again,
                    Err(_) => all,
                };
                return if ok && !all.is_empty() {
                    Some(all)
                } else {
                    None
                };
            }
        }
    }
}

/// Settles earlier runs' unconfirmed jobs and closes what stays unconfirmed. Returns
/// (items settled from their job's record, items to send again).
pub async fn settle(
    store: &Store,
    run: i64,
    spo: &SpoClient,
    target: &Target,
    opts: &MigrateOptions,
) -> Result<(u64, u64), StoreError> {
    let mut settled = 0u64;
    for (_run, package, job, items) in store.unsettled_jobs(run)? {
        let Ok(job_id) = Uuid::parse_str(&job) else {
            continue;
        };
        let Some(events) = settled_events(spo, job_id, opts).await else {
            tracing::info!(job = %job, package, "earlier job unknown to the service; its items are sent again");
            continue;
        };
        let mut ledger = Ledger::default();
        for (n, (_, url, oid)) in items.iter().enumerate() {
            let oid = Uuid::parse_str(oid).unwrap_or_else(|_| ids::object_id(target.list_id, url));
            ledger.add_item(
                n,
                oid,
                ids::list_item_id(target.list_id, url),
                url,
                &target.web_relative(url),
            );
        }
        for e in events.iter().filter_map(|e| parse_event(e)) {
            ledger.apply(&e);
        }
        if !ledger.ended {
            continue;
        }
        store.begin()?;
        for (n, (row, _, _)) in items.iter().enumerate() {
            let (outcome, code, message) = ledger.outcome(n);
            store.set_outcome(
                *row,
                outcome,
                Some(&job),
                code.as_deref(),
                message.as_deref(),
            )?;
            settled += 1;
        }
        store.commit()?;
    }
    settled += settle_unrecorded(store, run, spo, opts).await?;
    let again = store.close_interrupted(run)?;
    Ok((settled, again))
}

/// The window between `CreateMigrationJobEncrypted` and the job id reaching disk: a run killed
/// there left a job the service runs but the state does not name. Its package was recorded
/// as `Submitting` first, so its files are known. Every job of the site this session did not
/// record is waited for until it ends (one of them may be that job, and must not import after
/// the files are sent again); then a file the target holds under its own UniqueId, with the
/// source's size and modification time, was imported by that job and is settled as migrated.
/// The rest is sent again. Returns the files settled.
async fn settle_unrecorded(
    store: &Store,
    run: i64,
    spo: &SpoClient,
    opts: &MigrateOptions,
) -> Result<u64, StoreError> {
    let files = store.unrecorded_submissions(run)?;
    if files.is_empty() {
        return Ok(0);
    }
    wait_for_unrecorded_jobs(store, spo, opts).await?;
    let mut found = Vec::new();
    for (row, oid, size, mtime_ns) in files {
        let Ok(oid) = Uuid::parse_str(&oid) else {
            continue;
        };
        match spo.file_by_id(oid).await {
            Ok(Some(f))
                if f.length == size
                    && f.modified.map(|t| t.timestamp())
                        == Some(mtime_ns.div_euclid(1_000_000_000)) =>
            {
                found.push(row)
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot look a file up in the target; it is sent again");
            }
        }
    }
    tracing::info!(
        found = found.len(),
        "files of a submission the interrupted run had not recorded, found imported in the target"
    );
    store.begin()?;
    for row in &found {
        store.set_outcome(
            *row,
            Outcome::Migrated,
            None,
            None,
            Some("imported by a job the interrupted run had created but not recorded (found in the target)"),
        )?;
    }
    store.commit()?;
    Ok(found.len() as u64)
}

/// Waits (up to the job timeout) until no job of the site that this session did not record
/// is queued or running.
async fn wait_for_unrecorded_jobs(
    store: &Store,
    spo: &SpoClient,
    opts: &MigrateOptions,
) -> Result<(), StoreError> {
    let known = store.recorded_jobs()?;
    let start = Instant::now();
    let mut said = false;
    loop {
        let jobs = match spo.migration_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the site's migration jobs; files of an unrecorded submission are looked up in the target now");
                return Ok(());
            }
        };
        let busy = jobs
            .iter()
            .filter(|(id, state)| {
                matches!(*state, wire::JOB_STATE_QUEUED | wire::JOB_STATE_PROCESSING)
                    && !known.contains(&id.to_string())
            })
            .count();
        if busy == 0 {
            return Ok(());
        }
        if start.elapsed() >= opts.job_timeout {
            tracing::warn!(
                busy,
                "jobs this session did not record are still running; going on"
            );
            return Ok(());
        }
        if !said {
            tracing::info!(busy, "waiting for jobs on the site that the interrupted run may have created without recording them");
            said = true;
        }
        tokio::time::sleep(
            opts.poll_interval
                .max(std::time::Duration::from_millis(200)),
        )
        .await;
    }
}

//! Monitor: follows every submitted job to its end through the queue (base64 JSON, encrypted
//! envelopes decrypted with the right job's key, many jobs on one queue) with
//! `GetMigrationJobProgress` as the fallback, then records one outcome per item: migrated only
//! when its job ended and no event names it as failed (reference §5.1, §7).

use super::ledger::Ledger;
use super::Submitted;
use crate::azure::QueueClient;
use crate::crypto::{self, Key};
use crate::engine::recorder::Rec;
use crate::engine::Shared;
use crate::store::Outcome;
use crate::wire::{self, field, EncryptedEnvelope, EventFields};
use base64::Engine as _;
use futures_util::StreamExt as _;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

struct Watch {
    sub: Submitted,
    ledger: Ledger,
    progress_token: String,
    last_event: Instant,
    last_status_check: Instant,
    seen_none: u32,
}

impl Watch {
    fn new(sub: Submitted, shared: &Shared) -> Self {
        let mut ledger = Ledger::default();
        for (n, (_, it)) in sub.items.iter().enumerate() {
            let url = shared.target.server_relative(&it.lib_rel);
            ledger.add_item(
                n,
                it.object_id,
                it.item_id,
                &url,
                &shared.target.web_relative(&url),
            );
        }
        Watch {
            sub,
            ledger,
            progress_token: "0".into(),
            last_event: Instant::now(),
            last_status_check: Instant::now(),
            seen_none: 0,
        }
    }

    fn apply(&mut self, ev: &EventFields) {
        self.last_event = Instant::now();
        self.ledger.apply(ev);
    }
}

/// Decodes one queue message into (job id, event), decrypting encrypted envelopes. Public for
/// the fuzz target `queue_message` (tests/fuzz): queue text comes from outside.
pub fn decode_message(text: &str, keys: &HashMap<Uuid, Key>) -> Option<(Uuid, EventFields)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    // Transport is base64 of UTF-8 JSON; fall back to raw JSON (reference §5.1).
    let json = b64
        .decode(text.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| text.to_string());
    let outer = wire::parse_event(&json)?;
    let job = field(&outer, "JobId").and_then(|s| Uuid::parse_str(s).ok())?;
    if field(&outer, "Label") == Some("Encrypted") {
        let env: EncryptedEnvelope = serde_json::from_str(&json.replace(",}", "}")).ok()?;
        let key = keys.get(&job)?;
        let iv = crypto::iv_from_base64(&env.iv).ok()?;
        let cipher = b64.decode(env.content.trim()).ok()?;
        let plain = crypto::decrypt(key, &iv, &cipher).ok()?;
        let ev = wire::parse_event(&String::from_utf8_lossy(&plain))?;
        Some((job, ev))
    } else {
        Some((job, outer))
    }
}

/// Runs until `rx` is closed and every job has ended.
pub async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Submitted>,
    queue: Option<QueueClient>,
) {
    let mut jobs: HashMap<Uuid, Watch> = HashMap::new();
    let mut keys: HashMap<Uuid, Key> = HashMap::new();
    let mut open = true;
    let mut parked: Vec<(Instant, crate::azure::QueueMessage)> = Vec::new();
    // Ended jobs being settled; a cancelled run drops (aborts) them, and a later run settles
    // those jobs from their recorded ids.
    let mut finishing = tokio::task::JoinSet::new();
    // Requests these side tasks may add at once: the blob fan-out, which the open-file fit
    // shrinks under a low `ulimit -n` (each settling job fetches three logs side by side).
    let side = shared.opts.blobs_in_flight.max(1);
    let settling = Arc::new(tokio::sync::Semaphore::new((side / 2).max(1)));
    let poll = shared.opts.poll_interval;
    let fallback_after = if queue.is_some() {
        shared.opts.progress_fallback_after
    } else {
        Duration::ZERO
    };
    loop {
        // Stopped by the host: submitted jobs are left to the service; a later run settles them.
        if shared.counters.cancelled() {
            return;
        }
        // Take newly submitted jobs without blocking while others are being followed.
        loop {
            match if jobs.is_empty() && open {
                rx.recv()
                    .await
                    .ok_or(mpsc::error::TryRecvError::Disconnected)
            } else {
                rx.try_recv()
            } {
                Ok(sub) => {
                    keys.insert(sub.job_id, sub.key.clone());
                    shared
                        .job_ids
                        .lock()
                        .map(|mut v| v.push(sub.job_id.to_string()))
                        .ok();
                    jobs.insert(sub.job_id, Watch::new(sub, &shared));
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if jobs.is_empty() {
            if !open {
                while finishing.join_next().await.is_some() {}
                return;
            }
            continue;
        }

        let mut got_any = false;
        if let Some(q) = &queue {
            match q.get_messages(32, 60).await {
                Ok(msgs) => {
                    got_any = !msgs.is_empty();
                    parked.extend(msgs.into_iter().map(|m| (Instant::now(), m)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the job queue failed; using GetMigrationJobProgress")
                }
            }
            // Events can arrive before CreateMigrationJobEncrypted has returned the job id to
            // us: such messages wait here until their job is known. Messages of another
            // session's jobs are let go (they become visible again for their owner).
            let mut keep = Vec::new();
            let mut read = Vec::new();
            for (at, m) in parked.drain(..) {
                match decode_message(&m.text, &keys) {
                    Some((job, ev)) if jobs.contains_key(&job) => {
                        if let Some(w) = jobs.get_mut(&job) {
                            w.apply(&ev);
                        }
                        read.push(m);
                    }
                    _ if at.elapsed() < Duration::from_secs(30) => keep.push((at, m)),
                    _ => {}
                }
            }
            parked = keep;
            // Side by side: one after another, each refused delete (Retry-After) held up
            // every job's news; at 30 % random throttling that was half the run.
            futures_util::stream::iter(&read)
                .for_each_concurrent(side, |m| async move {
                    let _ = q.delete_message(m).await;
                })
                .await;
        }

        // Fallback: jobs silent on the queue for a while are asked directly.
        let ids: Vec<Uuid> = jobs.keys().copied().collect();
        for id in ids {
            let Some(w) = jobs.get_mut(&id) else { continue };
            if w.ledger.ended || w.last_event.elapsed() < fallback_after {
                continue;
            }
            match shared.spo.job_progress(id, &w.progress_token).await {
                Ok((events, next)) => {
                    w.progress_token = next;
                    for e in events {
                        if let Some(ev) = wire::parse_event(&e) {
                            got_any = true;
                            w.apply(&ev);
                        }
                    }
                    if !w.ledger.ended
                        && w.last_status_check.elapsed() > shared.opts.status_check_every
                    {
                        w.last_status_check = Instant::now();
                        // State 0 after the job was accepted means it is gone; after two such
                        // readings with no JobEnd the job is recorded as failed, never as done.
                        if let Ok(wire::JOB_STATE_NONE) = shared.spo.job_status(id).await {
                            w.seen_none += 1;
                            if w.seen_none >= 2 {
                                w.ledger.fatal.get_or_insert_with(|| {
                                    "the job ended without a JobEnd event".into()
                                });
                                w.ledger.ended = true;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(job = %id, error = %e, "GetMigrationJobProgress failed"),
            }
            if !w.ledger.ended && w.last_event.elapsed() > shared.opts.job_timeout {
                w.ledger.fatal.get_or_insert_with(|| format!("no news from the job for {} s; it may still finish: check with GetMigrationJobProgress", shared.opts.job_timeout.as_secs()));
                w.ledger.ended = true;
            }
        }

        let finished: Vec<Uuid> = jobs
            .iter()
            .filter(|(_, w)| w.ledger.ended)
            .map(|(k, _)| *k)
            .collect();
        for id in finished {
            if let Some(w) = jobs.remove(&id) {
                keys.remove(&id);
                // Settling a job re-reads its events and fetches its logs: on its own task,
                // so the other jobs are followed meanwhile.
                let (shared, settling) = (shared.clone(), settling.clone());
                finishing.spawn(async move {
                    let _turn = settling.acquire_owned().await;
                    finish(&shared, w).await
                });
            }
        }
        if !got_any {
            tokio::time::sleep(poll).await;
        }
    }
}

/// Records the outcome of every item of an ended job and keeps the job's import logs.
/// Before deciding, the job's whole event log is read once more through
/// `GetMigrationJobProgress`: queues are not ordered, so a JobError may still be in flight
/// when JobEnd arrives, and an item must never be called migrated while an error names it.
async fn finish(shared: &Shared, mut w: Watch) {
    let job = w.sub.job_id.to_string();
    // The logs are fetched while the events are re-read: each may sit out a Retry-After, and
    // the last job's settling is the end of the run.
    let (events, ()) = tokio::join!(
        shared.spo.all_job_events(w.sub.job_id),
        save_logs(shared, &w.sub, &job)
    );
    match events {
        Ok(events) => {
            for ev in events.iter().filter_map(|e| wire::parse_event(e)) {
                w.apply(&ev);
            }
        }
        Err(e) => {
            tracing::warn!(job = %w.sub.job_id, error = %e, "could not re-read the job's events; deciding from the queue")
        }
    }
    let mut failed = 0u64;
    let mut migrated = 0u64;
    let mut seen = HashSet::new();
    for (n, (row, _)) in w.sub.items.iter().enumerate() {
        if !seen.insert(*row) {
            continue;
        }
        let (outcome, code, message) = w.ledger.outcome(n);
        if outcome == Outcome::Failed {
            failed += 1;
            shared.log_item(
                &w.sub.items[n].1.lib_rel,
                Outcome::Failed,
                message.as_deref().unwrap_or(""),
            );
        } else {
            migrated += 1;
        }
        shared.record(Rec::Outcome {
            item: *row,
            outcome,
            job_id: Some(job.clone()),
            code,
            message,
        });
    }
    let c = &shared.counters;
    c.imported_items.fetch_add(migrated, Ordering::Relaxed);
    c.failed_items.fetch_add(failed, Ordering::Relaxed);
    for wmsg in &w.ledger.warnings {
        tracing::warn!(job = %job, "{}", crate::secrets::redact(wmsg));
    }
    shared.record(Rec::Package {
        package: w.sub.package,
        items: w.sub.items.len() as u64,
        bytes: 0,
        job_id: Some(job.clone()),
        state: if w.ledger.fatal.is_some() {
            "Failed"
        } else {
            "Imported"
        },
    });
}

/// Downloads and decrypts `Import-{JobId}-1.log/.err/.wrn` into the working folder's
/// `ImportLogs/`; `.err`/`.wrn` may be absent when empty (reference §7.5).
async fn save_logs(shared: &Shared, sub: &Submitted, job: &str) {
    let dir = shared.opts.working_folder.join("ImportLogs");
    if tokio::fs::create_dir_all(&dir).await.is_err() {
        return;
    }
    let names = ["log", "err", "wrn"].map(|ext| format!("Import-{job}-1.{ext}"));
    // Fetched side by side: each may sit out a Retry-After.
    let got = futures_util::future::join_all(names.iter().map(|n| sub.manifest.get(n))).await;
    for (name, got) in names.iter().zip(got) {
        let Ok((body, props)) = got else {
            continue;
        };
        let plain = props
            .iv
            .as_deref()
            .and_then(|iv| crypto::iv_from_base64(iv).ok())
            .and_then(|iv| crypto::decrypt(&sub.key, &iv, &body).ok())
            .unwrap_or_else(|| body.to_vec());
        let _ = tokio::fs::write(
            dir.join(name),
            crate::secrets::redact(&String::from_utf8_lossy(&plain)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_envelopes_decode_with_their_own_jobs_key() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let (j1, j2) = (Uuid::new_v4(), Uuid::new_v4());
        let (k1, k2) = (Key::random(), Key::random());
        let iv = crypto::random_iv();
        let ev = format!(r#"{{"Event":"JobEnd","JobId":"{j2}","TotalErrors":"0"}}"#);
        let env = serde_json::json!({"Label":"Encrypted","JobId":j2.to_string(),"IV":crypto::iv_to_base64(&iv),"Content":b64.encode(crypto::encrypt(&k2, &iv, ev.as_bytes()))});
        let text = b64.encode(env.to_string());
        let keys: HashMap<Uuid, Key> = [(j1, k1), (j2, k2)].into_iter().collect();
        let (job, fields) = decode_message(&text, &keys).unwrap();
        assert_eq!(job, j2);
        assert_eq!(field(&fields, "Event"), Some("JobEnd"));
        // Plain (unencrypted) events and raw JSON are read too.
        let plain = format!(r#"{{"Event":"JobStart","JobId":"{j1}"}}"#);
        assert_eq!(decode_message(&plain, &keys).unwrap().0, j1);
        // A job whose key we do not hold is not ours to read.
        assert!(decode_message(&text, &HashMap::new()).is_none());
    }
}

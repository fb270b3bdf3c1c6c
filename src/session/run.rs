//! A session's run: its tasks one after another through the one [`Runner`], with progress
//! events read from the engine's counters.

use super::events::{Emitter, Event, EventKind};
use super::{RunState, SessionShared, Settings, TaskEntry, TaskState};
use crate::auth::{Credentials, SignIn, SignInPrompt};
use crate::engine::{Counters, ItemObserver, Summary};
use crate::runner::{RunContext, Runner};
use crate::store::Outcome;
use crate::task::Task;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// One reading of a task's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Progress {
    pub(super) scanned: u64,
    pub(super) scanned_bytes: u64,
    pub(super) scan_done: bool,
    pub(super) packaged: u64,
    pub(super) uploaded_bytes: u64,
    pub(super) imported: u64,
    pub(super) failed: u64,
    pub(super) skipped: u64,
}

impl Progress {
    pub(super) fn read(c: &Counters) -> Self {
        Progress {
            scanned: c.scanned_items.load(Ordering::Relaxed),
            scanned_bytes: c.scanned_bytes.load(Ordering::Relaxed),
            scan_done: c.scan_done.load(Ordering::Relaxed),
            packaged: c.packaged_items.load(Ordering::Relaxed),
            uploaded_bytes: c.uploaded_bytes.load(Ordering::Relaxed),
            imported: c.imported_items.load(Ordering::Relaxed),
            failed: c.failed_items.load(Ordering::Relaxed),
            skipped: c.skipped_items.load(Ordering::Relaxed),
        }
    }
}

/// Emits the progress events whose numbers changed since `last`.
fn emit_progress(em: &Emitter, task: &str, p: &Progress, last: &Progress, per_item: bool) {
    let mk = |kind| Event::new(kind, Some(task));
    if p.scanned != last.scanned || p.skipped != last.skipped || p.scan_done != last.scan_done {
        let mut e = mk(EventKind::Scan);
        e.items_done = p.scanned + p.skipped;
        e.items_total = if p.scan_done { e.items_done } else { 0 };
        e.bytes_done = p.scanned_bytes;
        e.bytes_total = if p.scan_done { p.scanned_bytes } else { 0 };
        e.items_skipped = p.skipped;
        em.emit(e);
    }
    if p.packaged != last.packaged {
        let mut e = mk(EventKind::Package);
        e.items_done = p.packaged;
        e.items_total = p.scanned;
        em.emit(e);
    }
    if p.uploaded_bytes != last.uploaded_bytes {
        let mut e = mk(EventKind::Upload);
        e.bytes_done = p.uploaded_bytes;
        e.bytes_total = p.scanned_bytes.max(p.uploaded_bytes);
        em.emit(e);
    }
    if p.imported != last.imported {
        let mut e = mk(EventKind::Import);
        e.items_done = p.imported;
        e.items_total = p.scanned;
        e.items_failed = p.failed;
        em.emit(e);
    }
    if !per_item
        && (p.imported != last.imported || p.failed != last.failed || p.skipped != last.skipped)
    {
        let mut e = mk(EventKind::Item);
        e.items_done = p.imported + p.failed + p.skipped;
        e.items_total = if p.scan_done {
            p.scanned + p.skipped
        } else {
            0
        };
        e.items_failed = p.failed;
        e.items_skipped = p.skipped;
        em.emit(e);
    }
}

/// How often progress is read and, when changed, reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

pub(super) async fn run_session(shared: Arc<SessionShared>, em: &Emitter) {
    let settings = shared.settings.clone();
    let ids: Vec<Uuid> = shared.lock().tasks.iter().map(|t| t.id).collect();
    let em_local = em.clone();
    // One sign-in for the run: every task to the same host shares its identity and tokens.
    let em_sign_in = em.clone();
    let credentials = Arc::new(Credentials::new(
        SignIn {
            interactive: true,
            ..settings.sign_in.clone()
        }
        .with_environment(),
        Arc::new(move |p: &SignInPrompt| {
            let mut e = Event::new(EventKind::SignIn, None);
            let (code, message) = match p {
                SignInPrompt::DeviceCode { message, .. } => ("DeviceCode", message.clone()),
                SignInPrompt::Browser { url } => (
                    "Browser",
                    format!("To sign in, open this address in a browser: {url}"),
                ),
            };
            e.code = Some(code.into());
            e.message = Some(message);
            em_sign_in.emit(e);
        }),
    ));
    let mut runner = Runner::new()
        .abandoning_jobs_on(shared.abandon_local_jobs.clone())
        .on_local_start(move |url, root| {
            let mut e = Event::new(EventKind::Log, None);
            e.message = Some(format!("local target at {url}, data in {}", root.display()));
            em_local.emit(e);
        });
    for id in ids {
        let (def, source_credential) = {
            let inner = shared.lock();
            match inner.tasks.iter().find(|t| t.id == id) {
                Some(t) => (t.def.clone(), t.source_credential.clone()),
                None => continue, // removed meanwhile
            }
        };
        let task = id.to_string();
        if shared.stop.load(Ordering::SeqCst) {
            set_task(&shared, id, |t| t.state = TaskState::Inited);
            let mut e = Event::new(EventKind::TaskFinished, Some(&task));
            e.outcome = Some(Outcome::Skipped);
            e.message = Some("INITED: the session was stopped before this task started".into());
            em.emit(e);
            continue;
        }
        let counters = Arc::new(Counters::default());
        set_task(&shared, id, |t| {
            t.state = TaskState::InProgress;
            t.counters = Some(counters.clone());
        });
        // A stop that came between the check above and the counters being visible.
        if shared.stop.load(Ordering::SeqCst) {
            counters.cancel.store(true, Ordering::SeqCst);
        }
        let mut e = Event::new(EventKind::TaskStarted, Some(&task));
        e.message = Some(format!(
            "{} -> {} / {}",
            def.source.shown(),
            def.target,
            def.target_list
        ));
        em.emit(e);

        let cx = RunContext {
            working_folder: settings.working_folder.clone(),
            credentials: Some(credentials.clone()),
            source_credential,
            ..RunContext::default()
        };
        let result = run_task(&settings, cx, &def, &task, &counters, em, &mut runner).await;
        let mut fin = Event::new(EventKind::TaskFinished, Some(&task));
        let (state, summary, error) = match result {
            Ok(s) => {
                let i = &s.items;
                fin.items_done = i.migrated + i.skipped + i.failed;
                fin.items_total = fin.items_done + i.pending;
                fin.items_failed = i.failed;
                fin.items_skipped = i.skipped;
                fin.bytes_done = s.uploaded_bytes;
                fin.bytes_total = s.scanned_bytes;
                fin.outcome = Some(if i.failed > 0 || i.pending > 0 {
                    Outcome::Failed
                } else {
                    Outcome::Migrated
                });
                let state = if s.status == "Stopped" {
                    TaskState::Stopped
                } else if i.failed > 0 || i.pending > 0 {
                    TaskState::CompletedWithErrors
                } else {
                    TaskState::Completed
                };
                fin.message = Some(format!("{}: {}", state.as_str(), s.status));
                (state, Some(s), None)
            }
            Err(msg) => {
                fin.outcome = Some(Outcome::Failed);
                fin.message = Some(format!("FAILED: {msg}"));
                (TaskState::Failed, None, Some(msg))
            }
        };
        set_task(&shared, id, |t| {
            t.state = state;
            t.summary = summary;
            t.error = error;
        });
        em.emit(fin);
    }
    // After a stop, jobs the local target is still importing are not waited for long.
    let wait = if shared.stop.load(Ordering::SeqCst) {
        2
    } else {
        60
    };
    runner.shutdown(Duration::from_secs(wait)).await;
    em.emit(Event::new(EventKind::SessionFinished, None));
}

/// Marks the run finished, closes the pull queue, and drops the emitter: the host's finalizer
/// (user_data_free) runs here, after the last callback and before `wait` returns.
pub(super) fn end_run(shared: &SessionShared, em: Emitter) {
    let pull = {
        let inner = shared.lock();
        inner.pull.clone()
    };
    if let Some(q) = pull {
        let dropped = q.dropped.load(Ordering::Relaxed);
        let mut st = q.q.lock().unwrap_or_else(|p| p.into_inner());
        if dropped > 0 {
            let mut e = Event::new(EventKind::Log, None);
            e.message = Some(format!(
                "{dropped} item events were dropped: the host did not take events fast enough"
            ));
            // Before SessionFinished, so SessionFinished stays the last event.
            let at = st.events.len().saturating_sub(1);
            st.events.insert(at, e);
        }
        st.closed = true;
        drop(st);
        q.cond.notify_all();
    }
    drop(em);
    shared.lock().run = RunState::Finished;
    shared.cond.notify_all();
}

fn set_task(shared: &SessionShared, id: Uuid, f: impl FnOnce(&mut TaskEntry)) {
    let mut inner = shared.lock();
    if let Some(t) = inner.tasks.iter_mut().find(|t| t.id == id) {
        f(t);
    }
}

/// Runs one task with `cx` (its sign-ins), reporting progress and per-item events as the
/// session's settings ask.
async fn run_task(
    settings: &Settings,
    mut cx: RunContext,
    def: &Task,
    task: &str,
    counters: &Arc<Counters>,
    em: &Emitter,
    runner: &mut Runner,
) -> std::result::Result<Summary, String> {
    if settings.per_item_events {
        let (em2, task2) = (em.clone(), task.to_string());
        cx.item_observer = Some(ItemObserver(Arc::new(move |o| {
            let mut e = Event::new(EventKind::Item, Some(&task2));
            e.item_path = Some(o.rel_path.to_string());
            e.outcome = Some(o.outcome);
            e.code = o.code.map(str::to_string);
            e.message = o.message.map(crate::secrets::redact);
            em2.emit(e);
        })));
    }

    // Progress, coalesced: read the counters a few times a second, report what changed.
    let ticker = {
        let (em, task, c) = (em.clone(), task.to_string(), counters.clone());
        let per_item = settings.per_item_events;
        tokio::spawn(async move {
            let mut last = Progress::default();
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let p = Progress::read(&c);
                emit_progress(&em, &task, &p, &last, per_item);
                last = p;
            }
        })
    };
    let result = runner.run(def, cx, counters.clone()).await;
    ticker.abort();
    let _ = ticker.await;
    // The final numbers, whatever the ticker last said.
    emit_progress(
        em,
        task,
        &Progress::read(counters),
        &Progress::default(),
        settings.per_item_events,
    );
    result.map_err(|e| e.message)
}

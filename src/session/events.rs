//! A session's events: what a host receives through its callback or pulls from the queue, and
//! the emitter that never lets a callback run after the session closed.

use crate::store::Outcome;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Log,
    TaskStarted,
    Scan,
    Package,
    Upload,
    Import,
    Item,
    TaskFinished,
    SessionFinished,
    /// Sign-in needs a person: `message` says what to do, `code` is `DeviceCode` or `Browser`.
    SignIn,
}

/// One event. Progress events are coalesced (at most a few per second per task); item events
/// come one per item only when the settings ask for `PerItemEvents`, otherwise an `Item` event
/// without a path summarises the outcomes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub task_id: Option<String>,
    pub items_done: u64,
    pub items_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub items_failed: u64,
    pub items_skipped: u64,
    pub item_path: Option<String>,
    /// The item's outcome; for `TaskFinished`, Failed when the task failed or any item did; for
    /// `Log`, Failed marks a problem the user must see (the others are diagnostics).
    pub outcome: Option<Outcome>,
    /// SPMT's error code of a failed item.
    pub code: Option<String>,
    pub message: Option<String>,
}

impl Event {
    pub(super) fn new(kind: EventKind, task: Option<&str>) -> Self {
        Event {
            kind,
            task_id: task.map(str::to_string),
            items_done: 0,
            items_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            items_failed: 0,
            items_skipped: 0,
            item_path: None,
            outcome: None,
            code: None,
            message: None,
        }
    }
}

/// A host's callback: called on engine threads, possibly several at once.
pub type Callback = Arc<dyn Fn(&Event) + Send + Sync>;

/// Events waiting for [`Session::next_event`].
pub(super) struct PullQueue {
    pub(super) q: Mutex<PullState>,
    pub(super) cond: Condvar,
    pub(super) dropped: AtomicU64,
}

impl PullQueue {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(PullQueue {
            q: Mutex::new(PullState {
                events: VecDeque::new(),
                closed: false,
            }),
            cond: Condvar::new(),
            dropped: AtomicU64::new(0),
        })
    }
}

pub(super) struct PullState {
    pub(super) events: VecDeque<Event>,
    /// No more events will come (the run finished).
    pub(super) closed: bool,
}

/// Above this many undelivered events, item events are dropped (and counted); progress and
/// finish events are always kept.
const PULL_CAPACITY: usize = 100_000;

#[derive(Clone)]
pub(super) enum Sink {
    Callback(Callback),
    Pull(Arc<PullQueue>),
}

/// Where a run's events go. Once closed (the session is being freed), nothing more reaches the
/// host; `close` waits for callbacks already running to return.
pub(super) struct Emitter {
    pub(super) sink: Sink,
    pub(super) closed: Arc<AtomicBool>,
    pub(super) active: Arc<AtomicU64>,
}

impl Clone for Emitter {
    fn clone(&self) -> Self {
        Emitter {
            sink: self.sink.clone(),
            closed: self.closed.clone(),
            active: self.active.clone(),
        }
    }
}

thread_local! {
    static IN_CALLBACK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// True on a thread that is inside a host callback right now: blocking calls are refused there.
pub fn in_callback() -> bool {
    IN_CALLBACK.with(|c| c.get() > 0)
}

impl Emitter {
    pub(super) fn emit(&self, ev: Event) {
        match &self.sink {
            Sink::Callback(cb) => {
                self.active.fetch_add(1, Ordering::SeqCst);
                if !self.closed.load(Ordering::SeqCst) {
                    IN_CALLBACK.with(|c| c.set(c.get() + 1));
                    // The host's code must not unwind into ours; a Rust callback that panics
                    // only loses this event.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&ev)));
                    IN_CALLBACK.with(|c| c.set(c.get() - 1));
                }
                self.active.fetch_sub(1, Ordering::SeqCst);
            }
            Sink::Pull(p) => {
                let Ok(mut st) = p.q.lock() else { return };
                if st.closed {
                    return;
                }
                if st.events.len() >= PULL_CAPACITY && ev.kind == EventKind::Item {
                    p.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                st.events.push_back(ev);
                drop(st);
                p.cond.notify_one();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A diagnostic: events through the host's callback as fast as they go

/// Sends `per_thread` item events from each of `threads` threads through `cb`, the same path
/// a run's events take, and returns the events per second.
pub fn bench_events(cb: Callback, threads: u32, per_thread: u64) -> f64 {
    let em = Emitter {
        sink: Sink::Callback(cb),
        closed: Arc::new(AtomicBool::new(false)),
        active: Arc::new(AtomicU64::new(0)),
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads.max(1) {
            let em = em.clone();
            s.spawn(move || {
                let task = Uuid::new_v4().to_string();
                for i in 0..per_thread {
                    let mut e = Event::new(EventKind::Item, Some(&task));
                    e.items_done = i;
                    e.item_path = Some(format!("bench/{t}/{i}.txt"));
                    e.outcome = Some(Outcome::Migrated);
                    em.emit(e);
                }
            });
        }
    });
    let n = threads.max(1) as f64 * per_thread as f64;
    n / started.elapsed().as_secs_f64().max(1e-9)
}

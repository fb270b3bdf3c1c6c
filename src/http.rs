//! The one HTTP client and the one place for retries (reference §8, DESIGN "Wire rules").
//!
//! Throttling is answered the way SPO asks: on 429/503 wait exactly what `Retry-After` says (no
//! blind exponential back-off); transport errors get a few short, bounded retries. Every URL that
//! reaches an error or a log line is redacted first.

use crate::secrets::redact;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `ISV|CompanyName|AppName/Version` traffic decoration (reference §2).
pub fn user_agent() -> String {
    format!("ISV|spmt|spmt/{}", env!("CARGO_PKG_VERSION"))
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{method} {url}: still throttled (HTTP {status}) after {attempts} attempts; the service asks to slow down — retry later or lower concurrency")]
    Throttled {
        method: String,
        url: String,
        status: u16,
        attempts: u32,
    },
    #[error("refusing plain http to non-loopback host in {0}: use https")]
    InsecureUrl(String),
    #[error("invalid URL {0}")]
    BadUrl(String),
}

impl HttpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } | HttpError::Throttled { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The service's own message in an error answer (SharePoint's `error.message.value`, or
    /// the start of a text body), secrets redacted.
    pub fn service_message(&self) -> Option<String> {
        let HttpError::Status { body, .. } = self else {
            return None;
        };
        let from_json = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                let e = v.get("error").or_else(|| v.get("odata.error"))?;
                e.pointer("/message/value")
                    .or_else(|| e.get("message"))
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            });
        let text = from_json.unwrap_or_else(|| body.chars().take(200).collect());
        Some(crate::secrets::redact(text.trim())).filter(|t| !t.is_empty())
    }
}

/// Counters a benchmark or report can read: how often the service pushed back.
#[derive(Debug, Default)]
pub struct HttpStats {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub retried_transport: AtomicU64,
    pub waited_ms: AtomicU64,
}

/// Concurrency towards one host, adapted to what the host says instead of a fixed fan-out.
/// The throttled request always waits its own Retry-After (without holding a permit). When
/// throttling is pressure, a fifth or more of the host's recent answers, it also cuts the limit
/// by a quarter and holds every new request until that Retry-After has passed (so the rest of
/// the fan-out does not walk into the same wall). A stray 429/503 among successes is not
/// pressure: treating it as such stalled the whole client once per answer, 59x slower at 5 %
/// random throttling. A window of successes at a latency near the best seen adds one
/// (additive increase, multiplicative decrease).
pub struct Gate {
    sem: Arc<tokio::sync::Semaphore>,
    state: std::sync::Mutex<GateState>,
}

struct GateState {
    /// Answers in the current and the previous window, for the throttled share.
    recent: [Window; 2],
    limit: usize,
    /// Permits to retire as requests finish (a cut larger than the idle permits).
    debt: usize,
    not_before: Option<tokio::time::Instant>,
    /// When pressure last cut the limit: the refusals of one burst are one signal, not many.
    last_cut: Option<tokio::time::Instant>,
    /// The refused share and the limit when a run of cuts began, and the cuts since:
    /// refusals that do not follow the request rate are noise.
    share_before_cuts: f64,
    limit_before_cuts: usize,
    cuts_in_a_row: u32,
    /// Until then refusals are taken as noise: each waits its own Retry-After, nothing is cut.
    noise_until: Option<tokio::time::Instant>,
    /// How long the next spell of noise lasts: doubled each time refusals are found to be
    /// noise again, so steady random refusals are learnt once, not every 30 s.
    noise_spell: Duration,
    ok_streak: usize,
    best_latency: Duration,
}

#[derive(Clone, Copy)]
struct Window {
    started: tokio::time::Instant,
    ok: u32,
    throttled: u32,
}

/// How long one window of answers lasts; the share is read over this one and the last.
const WINDOW: Duration = Duration::from_secs(1);
/// The throttled share of recent answers from which throttling is treated as pressure.
const PRESSURE: f64 = 0.2;
/// Cuts in a row (the share read at the second) after which a refused share that has not
/// fallen by a quarter is taken as noise.
const NOISE_AFTER_CUTS: u32 = 4;
/// How long one request waits out throttling in all before it gives up.
const MAX_THROTTLED_WAIT: Duration = Duration::from_secs(30 * 60);
/// How long refusals are then taken as noise before cutting is tried again (the first time;
/// doubled each time after, up to `NOISE_SPELL_MAX`).
const NOISE_SPELL: Duration = Duration::from_secs(30);
const NOISE_SPELL_MAX: Duration = Duration::from_secs(8 * 60);

impl GateState {
    /// Counts one answer; returns the throttled share of the current and the last window.
    fn answer(&mut self, throttled: bool) -> f64 {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.recent[1].started) >= WINDOW {
            self.recent[0] = self.recent[1];
            self.recent[1] = Window {
                started: now,
                ok: 0,
                throttled: 0,
            };
        }
        let w = &mut self.recent[1];
        if throttled {
            w.throttled += 1;
        } else {
            w.ok += 1;
        }
        let (t, n) = self.recent.iter().fold((0u32, 0u32), |(t, n), w| {
            (t + w.throttled, n + w.ok + w.throttled)
        });
        f64::from(t) / f64::from(n.max(1))
    }
}

const GATE_START: usize = 32;
const GATE_MIN: usize = 1;
const GATE_MAX: usize = 128;

/// A request's place in its host's [`Gate`]; finishing it returns (or retires) the permit.
pub struct GatePermit {
    gate: Arc<Gate>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            let mut st = self.gate.lock();
            if st.debt > 0 {
                st.debt -= 1;
                p.forget();
            }
        }
    }
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Gate {
            sem: Arc::new(tokio::sync::Semaphore::new(GATE_START)),
            state: std::sync::Mutex::new(GateState {
                recent: [Window {
                    started: tokio::time::Instant::now(),
                    ok: 0,
                    throttled: 0,
                }; 2],
                limit: GATE_START,
                debt: 0,
                not_before: None,
                last_cut: None,
                share_before_cuts: 0.0,
                limit_before_cuts: GATE_START,
                cuts_in_a_row: 0,
                noise_until: None,
                noise_spell: NOISE_SPELL,
                ok_streak: 0,
                best_latency: Duration::MAX,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current concurrency limit (for tests and diagnostics).
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    async fn enter(self: &Arc<Self>) -> GatePermit {
        loop {
            let hold = self.lock().not_before;
            match hold {
                Some(t) if t > tokio::time::Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        let permit = self.sem.clone().acquire_owned().await.ok();
        GatePermit {
            gate: self.clone(),
            permit,
        }
    }

    fn throttled(&self, wait: Duration) {
        let mut st = self.lock();
        let share = st.answer(true);
        if share < PRESSURE {
            return;
        }
        // One cut and one hold per window. Cutting on every refusal of a burst took the limit
        // from 32 to 1 within one window and held every request whenever a fifth of answers
        // were refusals, which random throttling always is (237x slower at 30 %).
        let now = tokio::time::Instant::now();
        if st.last_cut.is_some_and(|t| now.duration_since(t) < WINDOW)
            || st.noise_until.is_some_and(|t| now < t)
        {
            return;
        }
        // A ceiling refuses less once we send less; random refusals (a flaky proxy, a noisy
        // neighbour) keep their share however little we send, and cutting for them only
        // starves the run. When the cuts after the first have not taken a quarter off the
        // refused share, the limit goes back and refusals are noise for a spell (30 s, then
        // longer each time); cuts that do take the share down are a ceiling, and the spell
        // starts again from 30 s.
        let consecutive = st
            .last_cut
            .is_some_and(|t| now.duration_since(t) < WINDOW * 3);
        if consecutive {
            st.cuts_in_a_row += 1;
            // The share at the first cut is the threshold just crossed; a window later it
            // is a true reading.
            if st.cuts_in_a_row == 1 {
                st.share_before_cuts = share;
            }
        } else {
            st.limit_before_cuts = st.limit;
            st.cuts_in_a_row = 0;
        }
        if st.cuts_in_a_row >= NOISE_AFTER_CUTS && share > st.share_before_cuts * 0.75 {
            tracing::debug!(
                share,
                "refusals do not follow the request rate: taken as noise"
            );
            st.noise_until = Some(now + st.noise_spell);
            st.noise_spell = (st.noise_spell * 2).min(NOISE_SPELL_MAX);
            st.last_cut = None;
            st.cuts_in_a_row = 0;
            st.not_before = None;
            let back = st.limit_before_cuts.saturating_sub(st.limit);
            self.grow(&mut st, back);
            return;
        }
        if st.cuts_in_a_row >= NOISE_AFTER_CUTS {
            st.noise_spell = NOISE_SPELL;
        }
        st.last_cut = Some(now);
        let until = now + wait;
        st.not_before = Some(st.not_before.map_or(until, |t| t.max(until)));
        st.ok_streak = 0;
        let target = (st.limit * 3 / 4).max(GATE_MIN);
        let mut cut = st.limit - target;
        st.limit = target;
        while cut > 0 {
            match self.sem.try_acquire() {
                Ok(p) => p.forget(),
                Err(_) => break,
            }
            cut -= 1;
        }
        st.debt += cut;
    }

    fn succeeded(&self, latency: Duration) {
        let mut st = self.lock();
        st.answer(false);
        st.best_latency = st.best_latency.min(latency);
        // Latency well above the best seen means queueing at the host: hold the limit there.
        if latency > st.best_latency * 3 + Duration::from_millis(20) {
            st.ok_streak = 0;
            return;
        }
        st.ok_streak += 1;
        if st.ok_streak >= st.limit && st.limit < GATE_MAX {
            st.ok_streak = 0;
            self.grow(&mut st, 1);
        }
    }

    /// Raises the limit by `n`, paying off retired permits first.
    fn grow(&self, st: &mut GateState, n: usize) {
        for _ in 0..n {
            st.limit += 1;
            if st.debt > 0 {
                st.debt -= 1;
            } else {
                self.sem.add_permits(1);
            }
        }
    }
}

/// A concurrency slot its caller holds around its requests (the engine's blob slots), given
/// back while one of them waits out a `Retry-After` and taken again before it is sent anew. A
/// request sitting out a throttle is not using the service: holding its slot made each random
/// 429 stall a sixteenth of the client for a second (11x slower at 5 %).
struct Slot {
    sem: Arc<tokio::sync::Semaphore>,
    weight: u32,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

tokio::task_local! {
    static SLOT: std::cell::RefCell<Option<Slot>>;
}

/// Runs `work` holding `weight` permits of `sem`, lent back during throttle waits of the
/// requests it sends. `None` when the semaphore is closed.
pub async fn with_slot<F: std::future::Future>(
    sem: &Arc<tokio::sync::Semaphore>,
    weight: u32,
    work: F,
) -> Option<F::Output> {
    let permit = sem.clone().acquire_many_owned(weight).await.ok()?;
    let slot = Slot {
        sem: sem.clone(),
        weight,
        permit: Some(permit),
    };
    Some(SLOT.scope(std::cell::RefCell::new(Some(slot)), work).await)
}

/// Sleeps `wait` with the caller's [`Slot`] (if any) given back meanwhile.
async fn sit_out(wait: Duration) {
    let lent = SLOT
        .try_with(|c| {
            c.borrow_mut().as_mut().map(|s| {
                s.permit = None;
                (s.sem.clone(), s.weight)
            })
        })
        .ok()
        .flatten();
    tokio::time::sleep(wait).await;
    if let Some((sem, weight)) = lent {
        let permit = sem.acquire_many_owned(weight).await.ok();
        let _ = SLOT.try_with(|c| {
            if let Some(s) = c.borrow_mut().as_mut() {
                s.permit = permit;
            }
        });
    }
}

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    pub stats: Arc<HttpStats>,
    max_attempts: u32,
    max_wait: Duration,
    gates: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Gate>>>>,
}

/// A request to send: method, URL, headers and a clonable body, so it can be retried as-is.
#[derive(Clone)]
pub struct Req {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Req {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.insert(n, v);
        }
        self
    }
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Only loopback hosts may be spoken to over plain http (DESIGN "Real parts").
pub fn check_url(url: &str) -> Result<url::Url, HttpError> {
    let u = url::Url::parse(url).map_err(|_| HttpError::BadUrl(redact(url)))?;
    match u.scheme() {
        "https" => Ok(u),
        "http" => {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(u)
            } else {
                Err(HttpError::InsecureUrl(redact(url)))
            }
        }
        _ => Err(HttpError::BadUrl(redact(url))),
    }
}

/// Seconds (or an HTTP date) from `Retry-After`; the larger of it and `RateLimit-Reset`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let mut wait = get("retry-after").and_then(|v| {
        v.parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
            chrono::DateTime::parse_from_rfc2822(v).ok().map(|t| {
                let d = t.with_timezone(&chrono::Utc) - chrono::Utc::now();
                d.to_std().unwrap_or(Duration::ZERO)
            })
        })
    });
    if let Some(reset) = get("ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
        let r = Duration::from_secs(reset);
        wait = Some(wait.map_or(r, |w| w.max(r)));
    }
    wait
}

impl Http {
    pub fn new() -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .user_agent(user_agent())
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(600))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| HttpError::Transport {
                method: "-".into(),
                url: "-".into(),
                message: e.to_string(),
            })?;
        Ok(Http {
            client,
            stats: Arc::default(),
            // Throttling is retried for as long as the service asks, within reason: at 30 %
            // random refusals, 8 attempts left one request in a few thousand refused 8 times
            // running, and its file failed. 30 attempts or 30 minutes of waiting, whichever
            // comes first.
            max_attempts: 30,
            max_wait: Duration::from_secs(300),
            gates: Arc::default(),
        })
    }

    /// The adaptive concurrency gate of `url`'s service: one per host and port, and on a host
    /// that serves SharePoint and storage side by side (the local target: `/blob/…`,
    /// `/queue/…`), one per surface, since each throttles on its own (on Microsoft's they are
    /// different hosts anyway).
    pub fn gate(&self, url: &url::Url) -> Arc<Gate> {
        let surface = url
            .path_segments()
            .and_then(|mut s| s.next())
            .filter(|seg| matches!(*seg, "blob" | "queue"))
            .unwrap_or_default();
        let key = format!(
            "{}:{}/{surface}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut m = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key).or_insert_with(Gate::new).clone()
    }

    /// Sends `req`, retrying throttling per `Retry-After` and transport failures a few times.
    /// Non-success statuses other than 429/503 come back as [`HttpError::Status`].
    pub async fn send(&self, req: Req) -> Result<Resp, HttpError> {
        let r = self.send_raw(req).await?;
        Ok(r)
    }

    async fn send_raw(&self, req: Req) -> Result<Resp, HttpError> {
        let gate = self.gate(&check_url(&req.url)?);
        let method = req.method.to_string();
        let shown = redact(&req.url);
        let mut attempt = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            let permit = gate.enter().await;
            let started = std::time::Instant::now();
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .client
                .request(req.method.clone(), &req.url)
                .headers(req.headers.clone())
                .body(req.body.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    // reqwest puts the URL (with its SAS) into its message: strip it.
                    let message = redact(&e.without_url().to_string());
                    if attempt < self.max_attempts.min(5) {
                        self.stats.retried_transport.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%method, url = %shown, %message, attempt, "transport error, retrying");
                        tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
                        continue;
                    }
                    return Err(HttpError::Transport {
                        method,
                        url: shown,
                        message,
                    });
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                if attempt >= self.max_attempts || waited >= MAX_THROTTLED_WAIT {
                    return Err(HttpError::Throttled {
                        method,
                        url: shown,
                        status: status.as_u16(),
                        attempts: attempt,
                    });
                }
                // Honour the service's wait; without one, a short fixed pause (not exponential).
                let wait = retry_after(&headers)
                    .unwrap_or(Duration::from_secs(1))
                    .min(self.max_wait);
                gate.throttled(wait);
                waited += wait;
                drop(permit);
                self.stats
                    .waited_ms
                    .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
                tracing::debug!(%method, url = %shown, status = status.as_u16(), wait_ms = wait.as_millis() as u64, "throttled");
                let _ = resp.bytes().await;
                sit_out(wait).await;
                continue;
            }
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    if attempt < 5 {
                        self.stats.retried_transport.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
                        continue;
                    }
                    return Err(HttpError::Transport {
                        method,
                        url: shown,
                        message: redact(&e.without_url().to_string()),
                    });
                }
            };
            gate.succeeded(started.elapsed());
            drop(permit);
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                let text: String = text.chars().take(600).collect();
                return Err(HttpError::Status {
                    method,
                    url: shown,
                    status: status.as_u16(),
                    body: redact(&text),
                });
            }
            return Ok(Resp {
                status,
                headers,
                body,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_url("http://127.0.0.1:1/x").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        assert!(check_url("http://[::1]:8/x").is_ok());
        assert!(matches!(
            check_url("http://contoso.sharepoint.com/x"),
            Err(HttpError::InsecureUrl(_))
        ));
        assert!(check_url("https://contoso.sharepoint.com/sites/x").is_ok());
    }

    #[tokio::test]
    async fn a_stray_throttle_among_successes_neither_cuts_nor_holds() {
        let g = Gate::new();
        for _ in 0..40 {
            g.succeeded(Duration::from_millis(5));
        }
        let before = g.limit();
        g.throttled(Duration::from_secs(5));
        assert_eq!(g.limit(), before, "one 429 in 41 answers is noise");
        assert!(g.lock().not_before.is_none(), "nobody else waits for it");
        // A run of them is pressure.
        for _ in 0..20 {
            g.throttled(Duration::from_millis(10));
        }
        assert!(g.limit() < before, "pressure cuts the limit");
        assert!(g.lock().not_before.is_some(), "and holds new requests");
    }

    #[test]
    fn storage_and_sharepoint_on_one_host_are_paced_apart() {
        let h = Http::new().unwrap();
        let u = |s: &str| url::Url::parse(s).unwrap();
        let rest = h.gate(&u("http://127.0.0.1:8808/sites/x/_api/web"));
        let blob = h.gate(&u("http://127.0.0.1:8808/blob/acct/c/b?sig=x"));
        let queue = h.gate(&u("http://127.0.0.1:8808/queue/acct/q/messages"));
        assert!(!Arc::ptr_eq(&rest, &blob) && !Arc::ptr_eq(&blob, &queue));
        assert!(Arc::ptr_eq(
            &rest,
            &h.gate(&u("http://127.0.0.1:8808/sites/y"))
        ));
    }

    /// Moves the gate's clock one window on, as if WINDOW had passed.
    fn next_window(g: &Gate) {
        let mut st = g.lock();
        for w in &mut st.recent {
            w.started -= WINDOW;
        }
        if let Some(t) = st.last_cut.as_mut() {
            *t -= WINDOW;
        }
    }

    /// `refused` of 100 answers refused, spread evenly, as slow successes (no growth).
    fn window_of_answers(g: &Gate, refused: u32) {
        for i in 0..100u32 {
            if (i + 1) * refused / 100 > i * refused / 100 {
                g.throttled(Duration::from_millis(1));
            } else {
                g.succeeded(Duration::from_millis(500));
            }
        }
        next_window(g);
    }

    #[tokio::test]
    async fn a_request_sitting_out_a_throttle_lends_its_slot() {
        let sem = Arc::new(tokio::sync::Semaphore::new(1));
        let waiting = with_slot(&sem, 1, async {
            sit_out(Duration::from_millis(300)).await;
            // Taken again before it is sent anew.
            assert_eq!(sem.available_permits(), 0);
        });
        let other = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let t = std::time::Instant::now();
            let _p = sem.acquire().await.unwrap();
            t.elapsed()
        };
        let (done, waited) = tokio::join!(waiting, other);
        assert!(done.is_some());
        assert!(
            waited < Duration::from_millis(200),
            "another file used the slot meanwhile (waited {waited:?})"
        );
    }

    #[tokio::test]
    async fn a_burst_of_refusals_cuts_once_per_window() {
        let g = Gate::new();
        for _ in 0..50 {
            g.throttled(Duration::from_millis(1));
        }
        assert_eq!(g.limit(), GATE_START * 3 / 4, "one burst, one cut");
        next_window(&g);
        g.throttled(Duration::from_millis(1));
        assert_eq!(
            g.limit(),
            GATE_START * 3 / 4 * 3 / 4,
            "the next window cuts again"
        );
    }

    #[tokio::test]
    async fn refusals_that_keep_their_share_as_the_limit_falls_are_noise() {
        let g = Gate::new();
        g.succeeded(Duration::from_millis(1));
        let start = g.limit();
        let mut lowest = start;
        for _ in 0..=NOISE_AFTER_CUTS {
            window_of_answers(&g, 30);
            lowest = lowest.min(g.limit());
        }
        assert!(lowest < start, "cut at first");
        assert_eq!(
            g.limit(),
            start,
            "the limit is back once it is seen to be noise"
        );
        assert!(g.lock().not_before.is_none(), "nobody is held for noise");
        window_of_answers(&g, 30);
        assert_eq!(g.limit(), start, "and noise cuts nothing");

        // When the spell is over and the refusals are still noise, the next spell is longer:
        // steady random refusals are learnt once, not every 30 s.
        g.lock().noise_until = None;
        for _ in 0..=NOISE_AFTER_CUTS {
            window_of_answers(&g, 30);
        }
        let second = g.lock().noise_until.unwrap();
        assert!(
            second > tokio::time::Instant::now() + NOISE_SPELL * 3 / 2,
            "the second spell lasts longer than the first"
        );
        assert_eq!(g.limit(), start);
    }

    #[tokio::test]
    async fn a_ceiling_whose_refusals_fall_as_the_limit_falls_stays_pressure() {
        let g = Gate::new();
        g.succeeded(Duration::from_millis(1));
        let start = g.limit();
        for refused in [90, 80, 60, 45, 35, 30, 25] {
            window_of_answers(&g, refused);
        }
        assert!(
            g.limit() <= start / 2,
            "still cutting: {} of {start}",
            g.limit()
        );
        assert!(g.lock().noise_until.is_none());
    }

    #[tokio::test]
    async fn the_gate_backs_off_on_throttling_and_grows_on_fast_successes() {
        let g = Gate::new();
        let held: Vec<GatePermit> = futures_util::future::join_all((0..4).map(|_| g.enter())).await;
        g.throttled(Duration::from_millis(300));
        assert_eq!(
            g.limit(),
            GATE_START * 3 / 4,
            "a 429 cuts the limit by a quarter"
        );
        drop(held);
        let t = tokio::time::Instant::now();
        let _p = g.enter().await;
        assert!(
            t.elapsed() >= Duration::from_millis(290),
            "new requests wait out Retry-After"
        );
        let before = g.limit();
        for _ in 0..before {
            g.succeeded(Duration::from_millis(1));
        }
        assert_eq!(g.limit(), before + 1, "a window of fast successes adds one");
        for _ in 0..10 * before {
            g.succeeded(Duration::from_millis(500));
        }
        assert_eq!(
            g.limit(),
            before + 1,
            "slow answers (queueing) hold the limit"
        );
    }

    #[test]
    fn retry_after_takes_seconds_and_the_larger_ratelimit_reset() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("ratelimit-reset", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }
}

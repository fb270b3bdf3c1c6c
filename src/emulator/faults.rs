//! Faults on demand, applied to each request before routing: added latency, dropped
//! connections, 429/503 with Retry-After at a rate, and an SPO-like request ceiling per second.

use super::{FaultProfile, FaultScope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without answering.
    Drop,
    /// Answer with this status and `Retry-After: secs`.
    Status { status: u16, retry_after: u64 },
}

pub struct Faults {
    profile: FaultProfile,
    rng: Mutex<StdRng>,
    window: Mutex<(Instant, u32)>,
}

impl Faults {
    pub fn new(profile: FaultProfile) -> Self {
        let rng = match profile.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        Faults {
            profile,
            rng: Mutex::new(rng),
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    pub fn latency(&self) -> Option<Duration> {
        (self.profile.latency_ms > 0).then(|| Duration::from_millis(self.profile.latency_ms))
    }

    /// How long the answer to a job creation waits after the job exists.
    pub fn create_job_reply_delay(&self) -> Option<Duration> {
        let ms = self.profile.create_job_reply_delay_ms;
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    fn applies(&self, is_rest: bool) -> bool {
        match self.profile.scope {
            FaultScope::All => true,
            FaultScope::Rest => is_rest,
            FaultScope::Storage => !is_rest,
        }
    }

    /// Decides the fault for one request (`is_rest`: an SPO call under `/sites/`).
    pub fn decide(&self, is_rest: bool) -> Option<Fault> {
        if !self.applies(is_rest) {
            return None;
        }
        let p = &self.profile;
        let retry_after = p.retry_after_secs.max(1);
        if p.drop_rate > 0.0 || p.throttle_rate > 0.0 || p.unavailable_rate > 0.0 {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            if p.drop_rate > 0.0 && rng.gen::<f64>() < p.drop_rate {
                return Some(Fault::Drop);
            }
            if p.throttle_rate > 0.0 && rng.gen::<f64>() < p.throttle_rate {
                return Some(Fault::Status {
                    status: 429,
                    retry_after,
                });
            }
            if p.unavailable_rate > 0.0 && rng.gen::<f64>() < p.unavailable_rate {
                return Some(Fault::Status {
                    status: 503,
                    retry_after,
                });
            }
        }
        if let Some(max) = p.max_requests_per_sec {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if now.duration_since(w.0) >= Duration::from_secs(1) {
                *w = (now, 0);
            }
            w.1 += 1;
            if w.1 > max {
                return Some(Fault::Status {
                    status: 429,
                    retry_after: 1,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_rates_are_deterministic_and_scoped() {
        let p = FaultProfile {
            throttle_rate: 0.5,
            seed: Some(7),
            scope: FaultScope::Storage,
            ..Default::default()
        };
        let a: Vec<_> = (0..50)
            .map(|_| Faults::new(p.clone()).decide(false))
            .collect();
        let f = Faults::new(p.clone());
        let b: Vec<_> = (0..50).map(|_| f.decide(false)).collect();
        assert!(
            a.iter().all(|x| *x == a[0]),
            "a fresh seeded generator gives the same first choice"
        );
        assert!(b.iter().any(Option::is_some) && b.iter().any(Option::is_none));
        assert_eq!(f.decide(true), None, "REST is out of scope");
    }

    #[test]
    fn ceiling_counts_requests_in_the_current_second() {
        let f = Faults::new(FaultProfile {
            max_requests_per_sec: Some(3),
            ..Default::default()
        });
        let r: Vec<_> = (0..5).map(|_| f.decide(true)).collect();
        assert_eq!(&r[..3], &[None, None, None]);
        assert_eq!(
            r[3],
            Some(Fault::Status {
                status: 429,
                retry_after: 1
            })
        );
    }
}

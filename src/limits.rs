//! Open files: the process's limit, raised once to the hard limit, the share of it the
//! pipeline may hold at once, and what a stage does when descriptors run out for a moment.
//!
//! Found under `ulimit -n 48` (issue 15.8): the scan failed folders with EMFILE while uploads
//! held the descriptors, and their contents appeared in no total. Now the pipeline's
//! concurrency fits the limit, and a stage that still meets EMFILE waits for descriptors to
//! be released instead of failing what it was opening.

use std::io;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Descriptors kept for everything but blobs in flight: stdio, the state database and its
/// WAL and shared memory, the log, the runtime's epoll and event descriptors, the scan's open
/// directories, reports, and the embedded local target's own database and import files.
const RESERVED: u64 = 40;
/// Descriptors one blob in flight may hold: the source file and the connection, and with the
/// embedded local target the server's end of the connection and its spool file.
const PER_BLOB: u64 = 4;

/// The soft limit on open files, raised to the hard limit first (once per process, as Go's
/// runtime does: the usual soft default of 1024 only matters to programs using select(2),
/// which nothing here does). `u64::MAX` when unlimited or unknown.
pub fn open_files() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(raise)
}

#[cfg(unix)]
fn raise() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own; no other preconditions.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } != 0 {
        return u64::MAX;
    }
    if l.rlim_cur < l.rlim_max {
        let want = libc::rlimit {
            rlim_cur: l.rlim_max,
            rlim_max: l.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            l.rlim_cur = l.rlim_max;
        }
    }
    if l.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        // rlim_t is u64 on Linux but not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        let cur = l.rlim_cur as u64;
        cur
    }
}

#[cfg(not(unix))]
fn raise() -> u64 {
    u64::MAX
}

/// How many blobs may be in flight under `limit` open files, at most `wanted` and at least 1.
pub fn blobs_in_flight(limit: u64, wanted: usize) -> usize {
    let fit = limit.saturating_sub(RESERVED) / PER_BLOB;
    (fit.min(wanted as u64) as usize).max(1)
}

/// The process (EMFILE) or the system (ENFILE) is out of file descriptors.
pub fn is_exhausted(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Runs `op` again while it fails for want of descriptors (other stages release theirs as
/// their requests end), for up to `patience`; any other error, or the last one, is returned.
pub fn retry_exhausted<T>(
    patience: Duration,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match op() {
            Err(e) if is_exhausted(&e) && start.elapsed() < patience => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            r => return r,
        }
    }
}

/// The hint for an error opening something: set when descriptors ran out.
pub fn exhausted_hint(e: &io::Error) -> Option<String> {
    is_exhausted(e).then(|| {
        let limit = open_files();
        let shown = if limit == u64::MAX {
            "no limit".to_string()
        } else {
            limit.to_string()
        };
        format!("The system ran out of open files (this process may open {shown}); raise the limit (ulimit -n) and run again: the next round picks it up")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_fit_the_limit_and_never_drop_to_zero() {
        assert_eq!(blobs_in_flight(u64::MAX, 16), 16);
        assert_eq!(blobs_in_flight(1024, 16), 16);
        assert_eq!(blobs_in_flight(80, 16), 10);
        assert_eq!(blobs_in_flight(48, 16), 2);
        assert_eq!(blobs_in_flight(20, 16), 1);
    }

    #[test]
    fn only_exhaustion_is_retried() {
        let mut calls = 0;
        let r: io::Result<()> = retry_exhausted(Duration::from_secs(5), || {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from_raw_os_error(libc::EMFILE))
            } else {
                Err(io::Error::from(io::ErrorKind::NotFound))
            }
        });
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(calls, 3);
    }
}

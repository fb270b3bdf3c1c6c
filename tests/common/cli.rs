//! The `spmt` binary as a user runs it: [`spmt`], `spmt migrate` into the embedded local target
//! ([`migrate_local`], [`migrate_local_text`]) or into a running target ([`migrate_site`]),
//! `spmt status` and `spmt resume` on a working folder, and running a command for its JSON.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The `spmt` binary of this build.
pub fn spmt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spmt"))
}

/// `spmt migrate` of `src` into the library `Documents` of site `local` of the embedded local
/// target at `root`, state in `work`, with the human-readable output.
pub fn migrate_local_text(src: &Path, root: &Path, work: &Path) -> Command {
    let mut c = spmt();
    c.args([
        "migrate",
        "--target-site-url",
        "local",
        "--target-list",
        "Documents",
    ])
    .arg("--file-share-source")
    .arg(src)
    .arg("--local-target-root")
    .arg(root)
    .arg("--working-folder")
    .arg(work);
    c
}

/// [`migrate_local_text`] with `--json`: the summary on stdout as JSON.
pub fn migrate_local(src: &Path, root: &Path, work: &Path) -> Command {
    let mut c = migrate_local_text(src, root, work);
    c.arg("--json");
    c
}

/// `spmt migrate` of `src` into the library `Documents` of a running target's `site_url`, with
/// its `token`, state in `work`.
pub fn migrate_site(src: &Path, site_url: &str, token: &str, work: &Path) -> Command {
    let mut c = spmt();
    c.args([
        "migrate",
        "--target-list",
        "Documents",
        "--target-site-url",
        site_url,
        "--access-token",
        token,
    ])
    .arg("--file-share-source")
    .arg(src)
    .arg("--working-folder")
    .arg(work);
    c
}

/// `spmt status --json` of the session in `work`.
pub fn status_json(work: &Path) -> Command {
    let mut c = spmt();
    c.args(["status", "--json", "--working-folder"]).arg(work);
    c
}

/// `spmt resume --json`: the next round of the session's tasks in `work`.
pub fn resume_json(work: &Path) -> Command {
    let mut c = spmt();
    c.args(["resume", "--json", "--working-folder"]).arg(work);
    c
}

/// Runs `c` to its end and returns its stdout as JSON and its exit code (-1 for a signal);
/// panics, showing stdout and stderr, when stdout is not JSON.
pub fn json_output(c: &mut Command) -> (serde_json::Value, i32) {
    as_json(c.output().unwrap())
}

/// [`json_output`] without holding up the runtime that serves what the command talks to.
pub async fn json_output_off_runtime(c: Command) -> (serde_json::Value, i32) {
    as_json(output_off_runtime(c).await)
}

fn as_json(out: Output) -> (serde_json::Value, i32) {
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1))
}

/// Runs a command to the end without holding up the runtime that serves it.
pub async fn output_off_runtime(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

/// Fails the test with the command's stderr unless it exited 0.
#[track_caller]
pub fn assert_exit_0(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A browser sign-in in progress: the `spmt` child, the sign-in address it showed, and its
/// stderr (all of it, once the child ends).
pub struct BrowserSignIn {
    pub child: Child,
    pub url: String,
    stderr: std::thread::JoinHandle<String>,
}

impl BrowserSignIn {
    /// Starts `c` (an `spmt` command with `--auth browser --no-browser`) and waits, up to a
    /// minute, for the address it shows.
    pub fn start(mut c: Command) -> Self {
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.starts_with("http") {
                    let _ = tx.send(line.clone());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let url = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("spmt shows the sign-in address");
        BrowserSignIn { child, url, stderr }
    }

    /// Waits for the child; its exit status and stderr.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, self.stderr.join().unwrap())
    }
}

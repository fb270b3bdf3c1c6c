//! Running tasks: the one place that turns a [`Task`] into an engine run, starting the embedded
//! local target first when the task's target is `local`. The CLI (`migrate`, `resume`) and
//! sessions (the C ABI, .NET, PowerShell) all run tasks through a [`Runner`], so a task runs
//! the same whichever front end made it.

use crate::auth::{Bearer, Credentials};
use crate::emulator::{self, EmulatorConfig, EmulatorHandle};
use crate::engine::{self, Counters, EngineError, ItemObserver, MigrateOptions, Summary};
use crate::spo::SpoError;
use crate::task::Task;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// What the host adds to a task for one run: where its state is, how to reach the target,
/// and what it watches. None of it is part of the task's record.
#[derive(Default)]
pub struct RunContext {
    pub working_folder: PathBuf,
    /// How to sign in to a real site (local tasks get the local target's own token).
    pub credentials: Option<Arc<Credentials>>,
    pub dry_run: bool,
    pub new_session: bool,
    pub custom_storage: Option<crate::azure::StorageAccount>,
    pub item_observer: Option<ItemObserver>,
    /// How to sign in to a SharePoint Server source.
    pub source_credential: crate::source::sharepoint_server::FarmCredential,
}

/// A run that could not happen or broke off: the CLI's exit code (2 for configuration, 1
/// otherwise) and the message, secrets redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    pub exit_code: u8,
    pub message: String,
}

impl RunError {
    fn config(message: String) -> Self {
        RunError {
            exit_code: 2,
            message,
        }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

struct LocalTarget {
    root: PathBuf,
    handle: EmulatorHandle,
    url: String,
    token: String,
}

/// Runs tasks one after another; keeps each local target it started (one per data folder)
/// until [`Runner::shutdown`].
#[derive(Default)]
pub struct Runner {
    locals: Vec<LocalTarget>,
    /// Set by a session that stops: the local target gives up the jobs it is importing.
    abandon_jobs: Arc<AtomicBool>,
    /// Told where each local target started (a session shows it as an event).
    on_local_start: Option<Box<LocalStartHook>>,
}

/// Called with the target's URL and its data folder when a local target starts.
type LocalStartHook = dyn Fn(&str, &Path) + Send + Sync;

impl Runner {
    pub fn new() -> Self {
        Runner::default()
    }

    /// A runner whose local targets abandon their jobs when `flag` is set.
    pub fn abandoning_jobs_on(mut self, flag: Arc<AtomicBool>) -> Self {
        self.abandon_jobs = flag;
        self
    }

    pub fn on_local_start(mut self, f: impl Fn(&str, &Path) + Send + Sync + 'static) -> Self {
        self.on_local_start = Some(Box::new(f));
        self
    }

    /// One round of `task`.
    pub async fn run(
        &mut self,
        task: &Task,
        cx: RunContext,
        counters: Arc<Counters>,
    ) -> Result<Summary, RunError> {
        let local_root = if task.is_local() {
            Some(task.settings.local_target_root.clone().ok_or_else(|| {
                RunError::config(format!(
                    "task {}: the local target's folder is not known; give LocalTargetRoot (--local-target-root)",
                    task.id()
                ))
            })?)
        } else {
            None
        };
        let mut opts = if let Some(root) = &local_root {
            let (url, token) = self.local(root).await?;
            let mut o = MigrateOptions::at(task.clone(), url, cx.working_folder);
            o.bearer = Bearer::fixed(token);
            o
        } else {
            let mut o = MigrateOptions::new(task.clone(), cx.working_folder);
            o.bearer = match &cx.credentials {
                Some(c) => c.bearer_for(&task.target).await.map_err(|e| RunError {
                    exit_code: if e.configuration { 2 } else { 1 },
                    message: format!("sign-in to {}: {}", task.target, e.message),
                })?,
                // A dry run changes nothing; a site that lets it read without a token may.
                None if cx.dry_run => Bearer::None,
                None => {
                    return Err(RunError::config(format!(
                        "task {}: {} needs a sign-in: give --access-token, or sign in (--auth, --client-id; see spmt login --help)",
                        task.id(),
                        task.target
                    )))
                }
            };
            o
        };
        opts.dry_run = cx.dry_run;
        opts.new_session = cx.new_session;
        opts.custom_storage = cx.custom_storage;
        opts.source_credential = cx.source_credential;
        opts.item_observer = cx.item_observer;
        engine::migrate(opts, counters).await.map_err(|e| {
            let mut message = crate::secrets::redact(&e.to_string());
            if let (Some(root), EngineError::Target(SpoError::ListNotFound { title, .. })) =
                (&local_root, &e)
            {
                let site = root.join("sites").join("local");
                message.push_str(&format!(
                    " (the local target's libraries are the folders in {}: `mkdir {}` creates this one)",
                    site.display(),
                    site.join(crate::emulator::library_folder_name(title)).display()
                ));
            }
            RunError {
                exit_code: if e.is_configuration() { 2 } else { 1 },
                message,
            }
        })
    }

    /// The local target for `root`, started on first use: it runs in this process, on
    /// loopback, with a one-off token.
    async fn local(&mut self, root: &Path) -> Result<(String, String), RunError> {
        if let Some(l) = self.locals.iter().find(|l| l.root == root) {
            return Ok((l.url.clone(), l.token.clone()));
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut cfg = EmulatorConfig::embedded(root.to_path_buf(), token.clone());
        cfg.abandon_jobs = self.abandon_jobs.clone();
        let handle = emulator::start(cfg).await.map_err(|e| {
            RunError::config(format!(
                "cannot start the local target in {}: {e}",
                root.display()
            ))
        })?;
        let url = handle.site_url("local");
        if let Some(f) = &self.on_local_start {
            f(&url, root);
        }
        self.locals.push(LocalTarget {
            root: root.to_path_buf(),
            handle,
            url: url.clone(),
            token: token.clone(),
        });
        Ok((url, token))
    }

    /// Stops the local targets, waiting up to `wait` for the jobs they are importing.
    pub async fn shutdown(self, wait: Duration) {
        for l in self.locals {
            let _ = tokio::time::timeout(wait, l.handle.shutdown()).await;
        }
    }
}

/// The folder on disk where a local task's items land (for the CLI to show), `None` for a
/// task whose target is a real site.
pub fn local_library_folder(task: &Task) -> Option<PathBuf> {
    let root = task
        .settings
        .local_target_root
        .as_ref()
        .filter(|_| task.is_local())?;
    let mut p = root
        .join("sites")
        .join("local")
        .join(emulator::library_folder_name(&task.target_list));
    for seg in task
        .target_list_relative_path
        .split(['/', '\\'])
        .filter(|s| !s.is_empty())
    {
        p = p.join(seg);
    }
    Some(p)
}

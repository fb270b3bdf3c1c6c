//! `spmt`: migrate file shares into SharePoint Online (or the embedded local target), and run
//! the local target standalone.

#[path = "spmt/signin.rs"]
mod signin;

use clap::{Args, Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use spmt::emulator::{self, EmulatorConfig, FaultProfile};
use spmt::engine::{self, Counters, Summary};
use spmt::logging::terminal_safe;
use spmt::runner::{self, RunContext, Runner};
use spmt::source::sharepoint_server::FarmCredential;
use spmt::task::{Task, TaskSettings};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "spmt",
    version,
    about = "Open, cross-platform SharePoint Migration Tool"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Migrate a file-share folder into a SharePoint document library.
    Migrate(Box<MigrateArgs>),
    /// Continue a session: run every task of a working folder again (an interrupted round
    /// is settled and finished; a finished one gets an incremental round).
    Resume(ResumeArgs),
    /// Show a session's state and its tasks, as Get-SPMTMigration does.
    Status(StatusArgs),
    /// Run the local SharePoint-compatible target as a server.
    Emulator(EmulatorArgs),
    /// Sign in for a site and save the sign-in for later runs.
    Login(signin::LoginArgs),
    /// Forget saved sign-ins.
    Logout(signin::LogoutArgs),
    /// Saved sign-ins.
    #[command(subcommand)]
    Auth(signin::AuthCmd),
    /// The Entra app registration spmt needs.
    #[command(subcommand)]
    App(signin::AppCmd),
}

#[derive(Args)]
struct ResumeArgs {
    /// The session's working folder.
    #[arg(long, value_name = "DIR")]
    working_folder: PathBuf,
    /// Sign-in for tasks whose target is a real site.
    #[command(flatten)]
    sign_in: signin::SignInArgs,
    /// Sign-in for tasks whose source is a SharePoint Server library (never recorded).
    #[command(flatten)]
    source_sign_in: SourceSignInArgs,
    /// Print a machine-readable summary per task on stdout (one JSON array).
    #[arg(long)]
    json: bool,
}

/// How to sign in to a SharePoint Server source.
#[derive(Args)]
struct SourceSignInArgs {
    /// Account for the SharePoint Server source (`DOMAIN\user`); its password comes from
    /// SPMT_SOURCE_PASSWORD, --source-password-stdin, or a prompt at a terminal.
    #[arg(long, value_name = "DOMAIN\\USER")]
    source_username: Option<String>,
    /// Read the source account's password from the first line of stdin.
    #[arg(long, requires = "source_username")]
    source_password_stdin: bool,
    /// How to sign in to the farm: ntlm (Windows sign-in; also answers Negotiate) or basic
    /// (https only).
    #[arg(long, value_name = "ntlm|basic", default_value = "ntlm")]
    source_auth: String,
}

#[derive(Args)]
struct StatusArgs {
    /// The session's working folder.
    #[arg(long, value_name = "DIR")]
    working_folder: PathBuf,
    /// Print the status as JSON with SPMT's property names.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct MigrateArgs {
    /// Folder to migrate (its contents land in the target folder).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "sharepoint_source_site_url",
        conflicts_with = "sharepoint_source_site_url"
    )]
    file_share_source: Option<PathBuf>,
    /// A SharePoint Server 2013+ site to migrate a library of (with --source-list).
    #[arg(long, value_name = "URL", requires = "source_list")]
    sharepoint_source_site_url: Option<String>,
    /// Title of the SharePoint Server library to migrate.
    #[arg(long, value_name = "TITLE", requires = "sharepoint_source_site_url")]
    source_list: Option<String>,
    /// A folder of that library to migrate instead of all of it.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "",
        requires = "sharepoint_source_site_url"
    )]
    source_list_relative_path: String,
    /// Sign-in to the SharePoint Server source.
    #[command(flatten)]
    source_sign_in: SourceSignInArgs,
    /// Site URL, or `local` for the embedded local target (site /sites/local).
    #[arg(long, value_name = "URL")]
    target_site_url: String,
    /// Title of the target document library.
    #[arg(long, value_name = "TITLE")]
    target_list: String,
    /// Folder inside the library to migrate into; created as needed.
    #[arg(long, value_name = "PATH", default_value = "")]
    target_list_relative_path: String,
    /// Where state, logs and import logs are kept (default: per-user data dir spmt/<name>).
    #[arg(long, value_name = "DIR")]
    working_folder: Option<PathBuf>,
    /// Data folder of the embedded local target.
    #[arg(long, value_name = "DIR", default_value = "./spmt-local-target")]
    local_target_root: PathBuf,
    /// Sign-in for a real site (not needed for `local`).
    #[command(flatten)]
    sign_in: signin::SignInArgs,
    /// Print a machine-readable summary on stdout.
    #[arg(long)]
    json: bool,
    /// Only scan and report (SPMT's ScanOnly).
    #[arg(long)]
    scan_only: bool,
    /// Replace characters SharePoint rejects with this one instead of failing the item.
    #[arg(long, value_name = "CHAR")]
    replace_invalid_char: Option<char>,
    /// Migrate hidden (dot) files and folders.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    include_hidden_files: bool,
    /// Extensions to leave out, colon-separated without dots (e.g. `tmp:bak`).
    #[arg(long, value_name = "EXTS")]
    skip_files_with_extension: Option<String>,
    /// Only files modified on or after this date (YYYY-MM-DD, or a date and time in UTC such as
    /// 2024-05-06T14:30:00Z).
    #[arg(long, value_name = "DATE")]
    migrate_files_modified_after: Option<String>,
    /// Only files created on or after this date (as --migrate-files-modified-after).
    #[arg(long, value_name = "DATE")]
    migrate_files_created_after: Option<String>,
    /// Follow symbolic links (loops are detected and reported).
    #[arg(long)]
    follow_symlinks: bool,
    /// Migrate the folder's contents into the target folder (the CLI's default), or `false` to
    /// migrate the folder itself into it, as SPMT's cmdlets do by default.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    migrate_without_root_folder: bool,
    /// SharePoint Server sources: send each file's older versions too (SPMT's default: on).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    migrate_file_version_history: bool,
    /// Send every older version (the default, unless --number-of-versions-to-migrate is given).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    keep_all_versions: Option<bool>,
    /// Send at most this many versions of a file, the current one included.
    #[arg(long, value_name = "N")]
    number_of_versions_to_migrate: Option<u32>,
    /// SPMT's user mapping CSV: no header; source login or SID, target UPN, TRUE/FALSE (group).
    #[arg(long, value_name = "CSV")]
    user_mapping_file: Option<PathBuf>,
    /// Map a source user with no row in the mapping file by the e-mail address the source
    /// knows (SPMT's AutomaticUserMapping).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    automatic_user_mapping: bool,
    /// Items with unique permissions on the SharePoint Server source keep them (SPMT's
    /// default: on); inherited permissions come from the target library.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    preserve_user_permissions_for_sharepoint_source: bool,
    /// In later rounds, compare file content (MD5) too, not only size and modification time.
    #[arg(long)]
    check_content: bool,
    /// Remove from the target (to its recycle bin) what earlier rounds migrated and the source
    /// no longer has. Off by default, as in SPMT.
    #[arg(long)]
    propagate_deletes: bool,
    /// List what this round would send (and delete, with --propagate-deletes) without sending
    /// or changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Start a new session in this working folder: its earlier state is set aside (kept as
    /// spmt.db.set-aside-<time>), and every file is sent again. For a damaged spmt.db.
    #[arg(long)]
    new_session: bool,
    /// Upload to your own Azure storage account (SPMT's custom Azure storage): a standard
    /// connection string, or `UseDevelopmentStorage=true` for Azurite.
    #[arg(
        long,
        value_name = "CONNECTION_STRING",
        env = "SPMT_AZURE_STORAGE_CONNECTION_STRING",
        hide_env_values = true
    )]
    azure_storage_connection_string: Option<String>,
}

#[derive(Args)]
struct EmulatorArgs {
    #[arg(long, default_value = "127.0.0.1:8808")]
    listen: std::net::SocketAddr,
    #[arg(long, default_value = "./spmt-local-target")]
    root: PathBuf,
    /// The bearer token clients must send (default: a random one, printed at start).
    #[arg(long, env = "SPMT_EMULATOR_TOKEN", hide_env_values = true)]
    access_token: Option<String>,
    /// Sites and libraries must exist (create them with --library SITE/TITLE).
    #[arg(long)]
    strict: bool,
    /// Create a library at start: SITE/TITLE (repeatable).
    #[arg(long = "library", value_name = "SITE/TITLE")]
    libraries: Vec<String>,
    /// Fault profile (JSON with the fields below).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    unavailable_rate: f64,
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
    #[arg(long)]
    max_requests_per_sec: Option<u32>,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Fail the import of items whose URL contains this text (repeatable).
    #[arg(long = "fail-item", value_name = "TEXT")]
    fail_items: Vec<String>,
    #[arg(long, default_value_t = 4)]
    max_concurrent_jobs: usize,
    /// The sign-in service's tenant, apps and users (JSON: tenant_id, apps [{client_id,
    /// public_client, certificates, redirect_uris}], users [{username, password, persona,
    /// site_admin}], token_lifetime_secs, trusted_issuers [{issuer, jwks_uri}]).
    #[arg(long, value_name = "FILE")]
    entra: Option<PathBuf>,
    /// Lifetime of the access tokens the sign-in service issues, in seconds.
    #[arg(long, value_name = "SECS")]
    token_lifetime: Option<u64>,
    /// Also serve a SharePoint Server site from this folder (each sub-folder a document
    /// library; users and version history in _farm/farm.json), over SharePoint's REST API with
    /// NTLM sign-in as --farm-user, its password from SPMT_FARM_PASSWORD (without it, the farm
    /// lets every request through).
    #[arg(long, value_name = "DIR")]
    farm: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:0", requires = "farm")]
    farm_listen: std::net::SocketAddr,
    #[arg(long, value_name = "DOMAIN\\USER", default_value = emulator::farm::FARM_USER, requires = "farm")]
    farm_user: String,
}

/// A real site and no way to sign in.
const NO_SIGN_IN: &str = "no sign-in for the site: give --client-id with your Entra app registration (or SPMT_CLIENT_ID) and a way in (--auth device-code, browser, password or certificate), or --access-token; `spmt app manifest` prints the app registration spmt needs; --target-site-url local needs none";

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {}", terminal_safe(msg));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage_error(&format!("cannot start the async runtime: {e}")),
    };
    match cli.cmd {
        Cmd::Migrate(a) => rt.block_on(migrate(*a)),
        Cmd::Resume(a) => rt.block_on(resume(a)),
        Cmd::Status(a) => {
            // `spmt status --json | head`: a reader that stops early ends this read-only command
            // quietly, as it would `cat`, instead of a panic on the broken pipe.
            #[cfg(unix)]
            // SAFETY: restoring the default action of one signal before any thread writes.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            status(a)
        }
        Cmd::Emulator(a) => rt.block_on(run_emulator(a)),
        Cmd::Login(a) => {
            spmt::logging::init(None);
            rt.block_on(signin::login(a))
        }
        Cmd::Logout(a) => signin::logout(a),
        Cmd::Auth(c) => signin::auth(c),
        Cmd::App(c) => signin::app(c),
    }
}

impl MigrateArgs {
    /// The task these flags describe, through the task model's one parser per setting (each
    /// flag is the setting of the same name); the error names the flag.
    fn task(&self) -> Result<Task, String> {
        let mut st = TaskSettings::default();
        let ltr = std::path::absolute(&self.local_target_root)
            .unwrap_or_else(|_| self.local_target_root.clone());
        let mapping = self
            .user_mapping_file
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
        let keep_all = self
            .keep_all_versions
            .unwrap_or(self.number_of_versions_to_migrate.is_none());
        let flags: [(&str, &str, Option<Value>); 17] = [
            (
                "preserve-user-permissions-for-sharepoint-source",
                "PreserveUserPermissionsForSharePointSource",
                Some(self.preserve_user_permissions_for_sharepoint_source.into()),
            ),
            (
                "migrate-file-version-history",
                "MigrateFileVersionHistory",
                Some(self.migrate_file_version_history.into()),
            ),
            (
                "keep-all-versions",
                "KeepAllVersions",
                Some(keep_all.into()),
            ),
            (
                "number-of-versions-to-migrate",
                "NumberOfVersionToMigrate",
                self.number_of_versions_to_migrate.map(Value::from),
            ),
            (
                "user-mapping-file",
                "UserMappingFile",
                mapping.map(|p| p.display().to_string().into()),
            ),
            (
                "automatic-user-mapping",
                "AutomaticUserMapping",
                Some(self.automatic_user_mapping.into()),
            ),
            ("scan-only", "ScanOnly", Some(self.scan_only.into())),
            (
                "include-hidden-files",
                "IncludeHiddenFiles",
                Some(self.include_hidden_files.into()),
            ),
            (
                "replace-invalid-char",
                "ReplacementOfInvalidChar",
                self.replace_invalid_char.map(|c| c.to_string().into()),
            ),
            (
                "skip-files-with-extension",
                "SkipFilesWithExtension",
                self.skip_files_with_extension.clone().map(Value::from),
            ),
            (
                "migrate-files-modified-after",
                "MigrateFilesModifiedAfter",
                self.migrate_files_modified_after.clone().map(Value::from),
            ),
            (
                "migrate-files-created-after",
                "MigrateFilesCreatedAfter",
                self.migrate_files_created_after.clone().map(Value::from),
            ),
            (
                "follow-symlinks",
                "FollowSymlinks",
                Some(self.follow_symlinks.into()),
            ),
            (
                "check-content",
                "CheckContent",
                Some(self.check_content.into()),
            ),
            (
                "propagate-deletes",
                "PropagateDeletes",
                Some(self.propagate_deletes.into()),
            ),
            (
                "migrate-without-root-folder",
                "MigrateWithoutRootFolder",
                Some(self.migrate_without_root_folder.into()),
            ),
            (
                "local-target-root",
                "LocalTargetRoot",
                Some(ltr.display().to_string().into()),
            ),
        ];
        for (flag, key, v) in flags {
            if let Some(v) = v {
                st.set(key, &v).map_err(|e| format!("--{flag}: {e}"))?;
            }
        }
        match (&self.file_share_source, &self.sharepoint_source_site_url) {
            (Some(folder), _) => Task::new(
                folder,
                &self.target_site_url,
                &self.target_list,
                &self.target_list_relative_path,
                st,
            ),
            (None, site) => Task::from_source(
                spmt::task::Source::SharePointServer(spmt::task::SharePointLibrary {
                    site_url: site.clone().unwrap_or_default(),
                    list: self.source_list.clone().unwrap_or_default(),
                    list_relative_path: self.source_list_relative_path.clone(),
                }),
                &self.target_site_url,
                &self.target_list,
                &self.target_list_relative_path,
                st,
            ),
        }
        .map_err(|e| e.to_string())
    }
}

impl SourceSignInArgs {
    /// The farm sign-in: the password from the environment, stdin or a terminal prompt, never
    /// from the command line.
    fn credential(&self) -> Result<FarmCredential, String> {
        let Some(user) = self.source_username.clone() else {
            return Ok(FarmCredential::None);
        };
        let password = if self.source_password_stdin {
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("--source-password-stdin: cannot read stdin: {e}"))?;
            zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string())
        } else if let Ok(p) = std::env::var("SPMT_SOURCE_PASSWORD") {
            zeroize::Zeroizing::new(p)
        } else if std::io::stdin().is_terminal() {
            rpassword::prompt_password(format!("Password for {user}: "))
                .map(zeroize::Zeroizing::new)
                .map_err(|e| format!("cannot read the password from the terminal: {e}"))?
        } else {
            return Err(format!(
                "--source-username {user}: give the password in SPMT_SOURCE_PASSWORD or with \
                 --source-password-stdin"
            ));
        };
        FarmCredential::new(&self.source_auth, user, password)
            .map_err(|e| format!("--source-auth: {e}"))
    }
}

async fn migrate(a: MigrateArgs) -> ExitCode {
    let custom_storage = match a.azure_storage_connection_string.as_deref() {
        None => None,
        Some(cs) => match spmt::azure::StorageAccount::from_connection_string(cs) {
            Ok(acct) => Some(acct),
            Err(e) => return usage_error(&e.to_string()),
        },
    };
    let task = match a.task() {
        Ok(t) => t,
        Err(m) => return usage_error(&m),
    };
    // Default: one session per source and target, so running the same command again is the
    // task's next round: spmt/<source folder name>-<id>.
    let working = a.working_folder.clone().unwrap_or_else(|| {
        let name = task.source.label();
        engine::default_working_folder(&format!("{name}-{}", &task.id().simple().to_string()[..8]))
    });
    if a.working_folder.is_none() && !a.json {
        eprintln!("working folder: {}", working.display());
    }
    spmt::logging::init(Some(&spmt::logging::log_file(&working)));
    let credentials = if task.is_local() {
        None
    } else {
        match a.sign_in.credentials() {
            Ok(c) if c.settings().is_configured() => Some(c),
            Ok(_) if a.dry_run => None,
            Ok(_) => return usage_error(NO_SIGN_IN),
            Err(m) => return usage_error(&m),
        }
    };
    if a.source_sign_in.source_username.is_some() && a.sharepoint_source_site_url.is_none() {
        return usage_error("--source-username signs in to a SharePoint Server source: give --sharepoint-source-site-url too");
    }
    let source_credential = match a.source_sign_in.credential() {
        Ok(c) => c,
        Err(m) => return usage_error(&m),
    };
    let cx = RunContext {
        working_folder: working.clone(),
        credentials,
        dry_run: a.dry_run,
        new_session: a.new_session,
        custom_storage,
        item_observer: None,
        source_credential,
    };
    let mut runner = Runner::new();
    let result = run_task(&mut runner, &task, cx).await;
    runner.shutdown(shutdown_wait()).await;
    match result {
        Ok(s) => {
            print_summary(&s, runner::local_library_folder(&task).as_deref(), a.json);
            if let Some(code) = interrupted(&working) {
                return code;
            }
            ExitCode::from(s.exit_code() as u8)
        }
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({ "status": "Failed", "error": e.message })
                );
            }
            eprintln!("error: {}", terminal_safe(&e.message));
            interrupted(&working).unwrap_or(ExitCode::from(e.exit_code))
        }
    }
}

/// How long the local target may finish the jobs it is importing when the run is over: long
/// after a normal end, briefly after a signal (`spmt resume` settles the rest).
fn shutdown_wait() -> Duration {
    if SIGNALLED.load(Ordering::SeqCst) != 0 {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(60)
    }
}

/// 130 (SIGINT) or 143 (SIGTERM) once a signal stopped the run; 0 while none came.
static SIGNALLED: AtomicU8 = AtomicU8::new(0);

/// Ctrl-C or SIGTERM: the run stops submitting, finishes what is in flight and records every
/// outcome, so `spmt resume` goes on from there; a second signal ends the process at once.
async fn watch_signals(counters: Arc<Counters>, mut signals: Signals) {
    loop {
        let code = signals.next().await;
        if code == 0 {
            return;
        }
        if SIGNALLED.swap(code, Ordering::SeqCst) != 0 {
            eprintln!("second interrupt: exiting now (what was recorded is kept; spmt resume settles the rest)");
            std::process::exit(i32::from(code));
        }
        counters.cancel.store(true, Ordering::SeqCst);
        eprintln!("interrupt: stopping; nothing new is sent, what is in flight is finished and recorded (press Ctrl-C again to quit at once)");
    }
}

/// SIGINT and SIGTERM, caught from the moment this is made (before the run starts, so no
/// signal meets the default action mid-run).
#[cfg(unix)]
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

#[cfg(unix)]
impl Signals {
    fn catch() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Signals(
            signal(SignalKind::interrupt())
                .and_then(|i| Ok((i, signal(SignalKind::terminate())?)))
                .ok(),
        )
    }

    /// 130 for SIGINT, 143 for SIGTERM; 0 when they cannot be watched.
    async fn next(&mut self) -> u8 {
        let Some((int, term)) = self.0.as_mut() else {
            return 0;
        };
        tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn catch() -> Self {
        Signals
    }

    async fn next(&mut self) -> u8 {
        match tokio::signal::ctrl_c().await {
            Ok(()) => 130,
            Err(_) => 0,
        }
    }
}

/// After a run a signal stopped: says how to go on and gives the signal's exit code.
fn interrupted(working: &Path) -> Option<ExitCode> {
    let code = SIGNALLED.load(Ordering::SeqCst);
    (code != 0).then(|| {
        eprintln!(
            "interrupted; resume with: spmt resume --working-folder {}",
            terminal_safe(&working.display().to_string())
        );
        ExitCode::from(code)
    })
}

/// Runs one round of a task with the progress display and signal handling around it.
async fn run_task(
    runner: &mut Runner,
    task: &Task,
    cx: RunContext,
) -> Result<Summary, runner::RunError> {
    let counters = Arc::new(Counters::default());
    if SIGNALLED.load(Ordering::SeqCst) != 0 {
        // A signal during an earlier task of `spmt resume`: the others do not start.
        counters.cancel.store(true, Ordering::SeqCst);
    }
    let progress = tokio::spawn(show_progress(counters.clone()));
    let signals = tokio::spawn(watch_signals(counters.clone(), Signals::catch()));
    let result = runner.run(task, cx, counters.clone()).await;
    counters.done.store(true, Ordering::Relaxed);
    let _ = progress.await;
    // Until here a signal stops the run; after, the default action (the run is recorded).
    signals.abort();
    result
}

async fn resume(a: ResumeArgs) -> ExitCode {
    if !a.working_folder.join("spmt.db").exists() {
        return usage_error(&format!(
            "{} is not a working folder (no spmt.db): pass the --working-folder of an earlier spmt migrate",
            a.working_folder.display()
        ));
    }
    spmt::logging::init(Some(&spmt::logging::log_file(&a.working_folder)));
    let tasks = match spmt::store::Store::open(&a.working_folder).and_then(|s| s.tasks()) {
        Ok(t) => t,
        Err(e) => return usage_error(&e.to_string()),
    };
    if tasks.is_empty() {
        return usage_error("the session has no tasks: start one with spmt migrate");
    }
    let mut worst = 0u8;
    let mut summaries = Vec::new();
    let mut runner = Runner::new();
    // One sign-in for every task of the session (per host).
    let credentials = match a.sign_in.credentials() {
        Ok(c) => c,
        Err(m) => return usage_error(&m),
    };
    // One farm account for the session's SharePoint Server tasks: it is never recorded.
    let source_credential = match a.source_sign_in.credential() {
        Ok(c) => c,
        Err(m) => return usage_error(&m),
    };
    for t in tasks {
        let task = match Task::recorded(
            &t.source,
            &t.site_url,
            &t.target_list,
            &t.rel_path,
            &t.settings,
        ) {
            Ok(task) => task,
            Err(e) => return usage_error(&format!("task {}: {e}", t.id)),
        };
        if !task.is_local() && !credentials.settings().is_configured() {
            return usage_error(NO_SIGN_IN);
        }
        if !a.json {
            eprintln!(
                "task {}: {} → {}",
                t.id,
                task.source.shown(),
                task.target_uri()
            );
        }
        let cx = RunContext {
            working_folder: a.working_folder.clone(),
            credentials: Some(credentials.clone()),
            source_credential: source_credential.clone(),
            ..RunContext::default()
        };
        match run_task(&mut runner, &task, cx).await {
            Ok(s) => {
                worst = worst.max(s.exit_code() as u8);
                if a.json {
                    summaries.push(serde_json::to_value(&s).unwrap_or_default());
                } else {
                    print_summary(&s, runner::local_library_folder(&task).as_deref(), false);
                }
            }
            Err(e) => {
                worst = worst.max(e.exit_code);
                eprintln!("error: task {}: {}", t.id, terminal_safe(&e.message));
                summaries.push(
                    serde_json::json!({"task_id": t.id, "status": "Failed", "error": e.message}),
                );
            }
        }
    }
    runner.shutdown(shutdown_wait()).await;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summaries).unwrap_or_default()
        );
    }
    interrupted(&a.working_folder).unwrap_or(ExitCode::from(worst))
}

fn status(a: StatusArgs) -> ExitCode {
    if !a.working_folder.join("spmt.db").exists() {
        return usage_error(&format!(
            "{} is not a working folder (no spmt.db): pass the --working-folder of an spmt migrate",
            a.working_folder.display()
        ));
    }
    let st = match spmt::status::load(&a.working_folder) {
        Ok(s) => s,
        Err(e) => return usage_error(&e.to_string()),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
    } else {
        println!(
            "session {}: {}{}",
            st.id,
            st.status,
            st.result
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        for t in &st.status_of_tasks {
            println!(
                "task {} [{}] round {} {}%\n  {} → {}\n  scanned {} files ({} bad, {} filtered out), to migrate {}, migrated {}, failed {}, unchanged {}, deleted {}",
                t.task_id, t.status, t.round, t.migrating_progress_percentage,
                t.source_uri, t.target_uri,
                t.num_scanned_total_files, t.num_scanned_bad_files, t.num_filtered_out_files,
                t.num_file_will_be_migrated, t.num_actually_migrated_files, t.num_failed_files,
                t.num_unchanged_files, t.num_deleted_items
            );
            if !t.error_msg.is_empty() {
                println!("  {}", terminal_safe(&t.error_msg));
            }
            println!("  reports: {}", t.report_folder);
        }
        println!("reports: {}", st.report_folder_path);
    }
    // The exit code says the same as the status: 0 finished cleanly (or still running or
    // not started), 1 finished with failures or interrupted.
    match st.result.as_deref() {
        Some("FinishedWithErrors" | "Failed" | "Interrupted") => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

fn print_summary(s: &Summary, library: Option<&std::path::Path>, json: bool) {
    if json {
        let mut v = serde_json::to_value(s).unwrap_or_default();
        if let (Some(obj), Some(p)) = (v.as_object_mut(), library) {
            obj.insert(
                "target_library_path".into(),
                serde_json::Value::String(p.display().to_string()),
            );
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    if let Some(d) = &s.dry_run {
        println!(
            "dry run (round {} of task {}): would send {} item(s), would delete {}; nothing was sent or changed",
            s.round,
            s.task_id,
            d.would_send.len(),
            d.would_delete.len()
        );
        for p in &d.would_send {
            println!("  send    {}", terminal_safe(p));
        }
        for p in &d.would_delete {
            println!("  delete  {}", terminal_safe(p));
        }
        return;
    }
    let i = &s.items;
    println!("{}: {} migrated ({} files, {} folders, {} bytes), {} skipped, {} failed in {:.1} s; {} package(s), jobs: {}",
        s.status, i.migrated, i.migrated_files, i.migrated_folders, i.migrated_bytes, i.skipped, i.failed, s.duration_secs, s.packages,
        if s.job_ids.is_empty() { "none".to_string() } else { s.job_ids.len().to_string() });
    for p in s.problems.iter().take(20) {
        println!(
            "  {:8} {} [{}] {}",
            p.outcome,
            p.rel_path,
            p.code.as_deref().or(p.rule.as_deref()).unwrap_or("-"),
            p.message.as_deref().unwrap_or("")
        );
    }
    if s.problems.len() > 20 {
        println!(
            "  … {} more; see {}/spmt.db and spmt.log",
            s.problems.len() - 20,
            s.working_folder
        );
    }
    if let Some(p) = library {
        println!("library: {}", p.display());
    }
    println!("reports: {}", s.report_folder);
    println!("working folder: {}", s.working_folder);
}

/// Bars on a terminal, a plain line every few seconds otherwise; both read the counters.
async fn show_progress(c: Arc<Counters>) {
    let tty = std::io::stderr().is_terminal();
    if !tty {
        let mut last = String::new();
        loop {
            let done = c.done.load(Ordering::Relaxed);
            let line = format!(
                "scanned {} items ({} MB), packaged {}, uploaded {} MB, imported {}, failed {}, skipped {}",
                c.scanned_items.load(Ordering::Relaxed), c.scanned_bytes.load(Ordering::Relaxed) >> 20, c.packaged_items.load(Ordering::Relaxed),
                c.uploaded_bytes.load(Ordering::Relaxed) >> 20, c.imported_items.load(Ordering::Relaxed), c.failed_items.load(Ordering::Relaxed), c.skipped_items.load(Ordering::Relaxed)
            );
            if line != last {
                eprintln!("{line}");
                last = line;
            }
            if done {
                return;
            }
            for _ in 0..20 {
                if c.done.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
    let style =
        |t: &str| ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar());
    let scanned = mp
        .add(ProgressBar::new_spinner().with_style(style("{spinner} scanned   {pos} items {msg}")));
    let packaged =
        mp.add(ProgressBar::new(0).with_style(style("  packaged  [{bar:30}] {pos}/{len} items")));
    let uploaded = mp.add(ProgressBar::new(0).with_style(style(
        "  uploaded  [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
    )));
    let imported = mp.add(
        ProgressBar::new(0).with_style(style("  imported  [{bar:30}] {pos}/{len} items {msg}")),
    );
    loop {
        let n = c.scanned_items.load(Ordering::Relaxed);
        let b = c.scanned_bytes.load(Ordering::Relaxed);
        scanned.set_position(n);
        scanned.set_message(format!(
            "({} MB){}",
            b >> 20,
            if c.scan_done.load(Ordering::Relaxed) {
                " done"
            } else {
                ""
            }
        ));
        packaged.set_length(n);
        packaged.set_position(c.packaged_items.load(Ordering::Relaxed));
        // Ciphertext is up to 16 bytes a file longer than the plaintext.
        uploaded.set_length(b.max(c.uploaded_bytes.load(Ordering::Relaxed)));
        uploaded.set_position(c.uploaded_bytes.load(Ordering::Relaxed));
        imported.set_length(n);
        imported.set_position(c.imported_items.load(Ordering::Relaxed));
        imported.set_message(format!(
            "failed {} skipped {}",
            c.failed_items.load(Ordering::Relaxed),
            c.skipped_items.load(Ordering::Relaxed)
        ));
        if c.done.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    for b in [&scanned, &packaged, &uploaded, &imported] {
        b.finish();
    }
}

async fn run_emulator(a: EmulatorArgs) -> ExitCode {
    spmt::logging::init(None);
    let mut faults = match &a.faults {
        Some(p) => match emulator::load_fault_profile(p) {
            Ok(f) => f,
            Err(e) => return usage_error(&format!("--faults {}: {e}", p.display())),
        },
        None => FaultProfile::default(),
    };
    if a.faults.is_none() {
        faults.throttle_rate = a.throttle_rate;
        faults.unavailable_rate = a.unavailable_rate;
        faults.retry_after_secs = a.retry_after;
        faults.max_requests_per_sec = a.max_requests_per_sec;
        faults.latency_ms = a.latency_ms;
        faults.drop_rate = a.drop_rate;
        faults.fail_items = a.fail_items.clone();
    }
    if a.max_concurrent_jobs == 0 {
        return usage_error(
            "--max-concurrent-jobs 0: no job could ever run; give 1 or more (default 4)",
        );
    }
    for (flag, v) in [
        ("throttle-rate", faults.throttle_rate),
        ("unavailable-rate", faults.unavailable_rate),
        ("drop-rate", faults.drop_rate),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return usage_error(&format!(
                "--{flag} {v}: a fraction of requests, from 0 to 1 (e.g. 0.05)"
            ));
        }
    }
    if faults.max_requests_per_sec == Some(0) {
        return usage_error("--max-requests-per-sec 0: no request could ever pass; give 1 or more");
    }
    let mut precreate = Vec::new();
    for l in &a.libraries {
        match l.split_once('/') {
            Some((site, title)) if !site.is_empty() && !title.is_empty() => {
                precreate.push((site.to_string(), title.to_string()))
            }
            _ => {
                return usage_error(&format!(
                    "--library '{l}': use SITE/TITLE, e.g. local/Documents"
                ))
            }
        }
    }
    let mut entra = match &a.entra {
        Some(p) => match std::fs::read(p).map_err(|e| e.to_string()).and_then(|b| {
            serde_json::from_slice::<emulator::EntraConfig>(&b).map_err(|e| e.to_string())
        }) {
            Ok(c) => c,
            Err(e) => return usage_error(&format!("--entra {}: {e}", p.display())),
        },
        None => emulator::EntraConfig::default(),
    };
    if let Some(secs) = a.token_lifetime {
        entra.token_lifetime_secs = secs;
    }
    let token = a
        .access_token
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let cfg = EmulatorConfig {
        listen: a.listen,
        root: a.root.clone(),
        access_token: token.clone(),
        strict: a.strict,
        faults,
        max_concurrent_jobs: a.max_concurrent_jobs,
        precreate,
        // A server for scripts and tests: blobs stay readable, as on Azure.
        release_imported_blobs: false,
        entra,
        ..EmulatorConfig::default()
    };
    let h = match emulator::start(cfg).await {
        Ok(h) => h,
        Err(e) => return usage_error(&format!("cannot start the emulator on {}: {e}", a.listen)),
    };
    println!("spmt emulator listening on {}", h.base_url());
    println!(
        "sites at {}/sites/<name>; data in {}",
        h.base_url(),
        a.root.display()
    );
    if a.access_token.is_none() {
        // Printed because it was generated here and a script needs it; it guards only this emulator.
        println!("access token: {token}");
    }
    println!(
        "sign-in: --authority-host {} (tenant {}); the app {} and the user {} are registered",
        h.authority_host(),
        h.tenant_id(),
        emulator::LOCAL_CLIENT_ID,
        emulator::LOCAL_ADMIN
    );
    let _farm = match &a.farm {
        Some(dir) => {
            let mut cfg = emulator::farm::FarmConfig::new(dir.clone());
            cfg.listen = a.farm_listen;
            cfg.account = std::env::var("SPMT_FARM_PASSWORD")
                .ok()
                .map(|p| (a.farm_user.clone(), p));
            let open = cfg.account.is_none();
            match emulator::farm::start(cfg).await {
                Ok(f) => {
                    println!("farm site: {}", f.site_url);
                    if open {
                        println!(
                            "the farm lets every request through (SPMT_FARM_PASSWORD is not set)"
                        );
                    } else {
                        println!("the farm signs in {} with NTLM", a.farm_user);
                    }
                    Some(f)
                }
                Err(e) => return usage_error(&format!("--farm {}: {e}", dir.display())),
            }
        }
        None => None,
    };
    let _ = tokio::signal::ctrl_c().await;
    h.shutdown().await;
    ExitCode::SUCCESS
}

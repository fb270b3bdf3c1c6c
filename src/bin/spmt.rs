//! `spmt`: migrate file shares into SharePoint Online (or the embedded local target), and run
//! the local target standalone.

use clap::{Args, Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use spmt::emulator::{self, EmulatorConfig, FaultProfile};
use spmt::engine::{self, Counters, MigrateOptions, Summary};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
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
    Migrate(MigrateArgs),
    /// Run the local SharePoint-compatible target as a server.
    Emulator(EmulatorArgs),
}

#[derive(Args)]
struct MigrateArgs {
    /// Folder to migrate (its contents land in the target folder).
    #[arg(long, value_name = "DIR")]
    file_share_source: PathBuf,
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
    /// Bearer token for the target site.
    #[arg(long, env = "SPMT_ACCESS_TOKEN", hide_env_values = true)]
    access_token: Option<String>,
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
    /// Only files modified on or after this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    migrate_files_modified_after: Option<String>,
    /// Only files created on or after this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    migrate_files_created_after: Option<String>,
    /// Follow symbolic links (loops are detected and reported).
    #[arg(long)]
    follow_symlinks: bool,
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
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn parse_date(s: &str, flag: &str) -> Result<std::time::SystemTime, String> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{flag} '{s}': use the form YYYY-MM-DD"))?;
    let t = d
        .and_hms_opt(0, 0, 0)
        .ok_or_else(|| format!("{flag} '{s}': not a date"))?
        .and_utc();
    Ok(std::time::UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64))
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
        Cmd::Migrate(a) => rt.block_on(migrate(a)),
        Cmd::Emulator(a) => rt.block_on(run_emulator(a)),
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
    let local = a.target_site_url.eq_ignore_ascii_case("local");
    let working = a.working_folder.clone().unwrap_or_else(|| {
        let name = a
            .file_share_source
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "session".into());
        engine::default_working_folder(&name)
    });
    spmt::logging::init(Some(&working.join("spmt.log")));

    // The embedded local target runs in this process, on loopback, with a one-off token.
    let mut handle = None;
    let (site_url, token) = if local {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let cfg = EmulatorConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            root: a.local_target_root.clone(),
            access_token: token.clone(),
            strict: false,
            faults: FaultProfile::default(),
            max_concurrent_jobs: 4,
            precreate: vec![],
        };
        match emulator::start(cfg).await {
            Ok(h) => {
                let url = h.site_url("local");
                handle = Some(h);
                (url, Some(token))
            }
            Err(e) => {
                return usage_error(&format!(
                    "cannot start the local target in {}: {e}",
                    a.local_target_root.display()
                ))
            }
        }
    } else {
        if a.access_token.is_none() {
            return usage_error("no access token: pass --access-token or set SPMT_ACCESS_TOKEN (or use --target-site-url local)");
        }
        (a.target_site_url.clone(), a.access_token.clone())
    };

    let mut opts = MigrateOptions::new(
        a.file_share_source.clone(),
        site_url,
        a.target_list.clone(),
        working,
    );
    opts.access_token = token;
    opts.target_list_relative_path = a.target_list_relative_path.clone();
    opts.scan_only = a.scan_only;
    opts.scan.replace_invalid_char = a.replace_invalid_char;
    if let Some(c) = a.replace_invalid_char {
        if spmt::scan::check_name(&c.to_string(), None).is_err() {
            return usage_error(&format!("--replace-invalid-char '{c}' is itself not allowed in SharePoint names; pick e.g. '_'"));
        }
    }
    opts.scan.include_hidden = a.include_hidden_files;
    opts.scan.follow_symlinks = a.follow_symlinks;
    if let Some(e) = &a.skip_files_with_extension {
        opts.scan.skip_extensions = e
            .split([':', ',', ';'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
    }
    for (v, flag, slot) in [
        (
            &a.migrate_files_modified_after,
            "--migrate-files-modified-after",
            &mut opts.scan.modified_after,
        ),
        (
            &a.migrate_files_created_after,
            "--migrate-files-created-after",
            &mut opts.scan.created_after,
        ),
    ] {
        if let Some(s) = v {
            match parse_date(s, flag) {
                Ok(t) => *slot = Some(t),
                Err(m) => return usage_error(&m),
            }
        }
    }

    opts.custom_storage = custom_storage;

    let counters = Arc::new(Counters::default());
    let progress = tokio::spawn(show_progress(counters.clone()));
    let result = engine::migrate(opts, counters.clone()).await;
    counters.done.store(true, Ordering::Relaxed);
    let _ = progress.await;
    if let Some(h) = handle {
        h.shutdown().await;
    }
    match result {
        Ok(s) => {
            let library = local.then(|| {
                let mut p = a
                    .local_target_root
                    .join("sites")
                    .join("local")
                    .join(&a.target_list);
                for seg in a
                    .target_list_relative_path
                    .split(['/', '\\'])
                    .filter(|s| !s.is_empty())
                {
                    p = p.join(seg);
                }
                p
            });
            print_summary(&s, library.as_deref(), a.json);
            ExitCode::from(s.exit_code() as u8)
        }
        Err(e) => {
            let code = if e.is_configuration() { 2 } else { 1 };
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({ "status": "Failed", "error": spmt::secrets::redact(&e.to_string()) })
                );
            }
            eprintln!("error: {}", spmt::secrets::redact(&e.to_string()));
            ExitCode::from(code)
        }
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
        max_concurrent_jobs: a.max_concurrent_jobs.max(1),
        precreate,
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
    let _ = tokio::signal::ctrl_c().await;
    h.shutdown().await;
    ExitCode::SUCCESS
}

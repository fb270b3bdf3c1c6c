//! One round of a task, wired from its stages: resolve the target and settle what an earlier
//! run left unconfirmed, start the scan (`scanner`), the recorder, the sending stage (`send`)
//! and the import monitor (`import`), wait for all of them, apply deletions, then tally the
//! round, close it and write its reports. Each stage's own logic lives in its module; this file
//! only connects them.

use super::recorder::{Candidate, Rec, Recorder, Scanned};
use super::{deletes, import, resume, scanner, send};
use super::{Counters, DeleteOutcome, DryRun, EngineError, MigrateOptions, Shared, Summary};
use crate::http::Http;
use crate::package::{ids, PkgItem, Target};
use crate::report;
use crate::scan::{self, ItemKind};
use crate::spo::{SpoClient, SpoError};
use crate::store::{RunFigures, Store};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::sync::{mpsc, Semaphore};

/// The round's identity in the store.
pub(super) struct RoundId {
    pub run: i64,
    pub round: i64,
    pub task_id: String,
}

pub(super) async fn run(
    opts: MigrateOptions,
    counters: Arc<Counters>,
    store: Store,
    id: RoundId,
) -> Result<Summary, EngineError> {
    let started = Instant::now();
    let RoundId {
        run,
        round,
        task_id,
    } = id;
    let http = Http::new().map_err(SpoError::from)?;
    let spo = SpoClient::new(http.clone(), &opts.site_url, opts.bearer.clone())?;
    let prefix = clean_relative_path(&opts.task.target_list_relative_path)?;
    let reader = crate::source::Reader::connect(
        &opts.task.source,
        &opts.source_credential,
        &opts.working_folder,
    )
    .await?;
    let settings = &opts.task.settings;
    let mapping = settings
        .user_mapping_file
        .as_deref()
        .map(crate::people::UserMapping::load)
        .transpose()?;
    let mut people = crate::people::People::resolve(
        reader.users(),
        mapping.as_ref(),
        settings.automatic_user_mapping,
    );
    people.set_roles(reader.roles());
    let web = spo.web().await?;
    // Before anything is scanned, as SPMT's scan does: can this identity migrate here?
    spo.check_write_access().await?;
    let list = spo.list_by_title(&opts.task.target_list).await?;
    let target = build_target(&opts.site_url, &web, &list);
    tracing::info!(web = %web.server_relative_url, list = %list.title, round, "target resolved");

    // New list-item ids go above the highest one the target already uses.
    let max_id = spo.max_item_id(&opts.task.target_list).await?;
    store.reserve_int_ids_above(&target.list_id.to_string(), max_id)?;
    let scan_only = opts.task.settings.scan_only || opts.dry_run;
    if !scan_only {
        let (settled, again) = resume::settle(&store, run, &spo, &target, &opts).await?;
        if settled + again > 0 {
            tracing::info!(
                settled,
                again,
                "settled the items an earlier, interrupted run left unconfirmed"
            );
        }
    }
    let prefix_folders = prefix_folders(&store, &target, &prefix)?;
    let (queue_uri, queue) = if scan_only {
        (None, None)
    } else {
        import::job_queue(&opts, &http, &spo).await
    };

    let (rec_tx, rec_rx) = std::sync::mpsc::channel::<Rec>();
    let (scan_tx, scan_rx) = std::sync::mpsc::sync_channel::<Rec>(16);
    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Vec<Scanned>>();
    let (cand_tx, cand_rx) = mpsc::channel::<Vec<Candidate>>(16);
    let mut scan_opts = opts.task.settings.scan_options();
    scan_opts.target_prefix = target
        .server_relative(&prefix)
        .trim_start_matches('/')
        .to_string();
    scan_opts.at_library_root = prefix.is_empty();
    let shared = Arc::new(Shared {
        budget: Semaphore::new(opts.budget_mib as usize),
        blob_slots: Arc::new(Semaphore::new(opts.blobs_in_flight.max(1))),
        opts: opts.clone(),
        http,
        spo,
        target: target.clone(),
        queue_uri,
        counters: counters.clone(),
        job_ids: Mutex::new(Vec::new()),
        rec: Mutex::new(rec_tx.clone()),
        prefix: prefix.clone(),
        sources: Mutex::new(Default::default()),
        reader,
        people,
    });

    // The stages: scan thread → recorder thread (SQLite) → sending → import monitor.
    let recorder = Recorder {
        store,
        run,
        check_content: opts.task.settings.check_content,
        target: target.clone(),
        counters: counters.clone(),
        packaging: !scan_only,
        recycle: Some(recycle_tx),
        observer: opts.item_observer.clone(),
    };
    let rec_thread = std::thread::Builder::new()
        .name("spmt-recorder".into())
        .spawn(move || recorder.run(scan_rx, rec_rx, cand_tx))
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    let scan_thread = scanner::start(shared.clone(), scan_opts, scan_tx, recycle_rx)?;
    drop(rec_tx);
    let (sub_tx, sub_rx) = mpsc::channel(64);
    let monitor = tokio::spawn(import::monitor::run(shared.clone(), sub_rx, queue));
    let reporter = (!opts.dry_run).then(|| {
        report::live::start(
            opts.working_folder.clone(),
            task_id.clone(),
            run,
            counters.clone(),
            opts.report_every,
        )
    });
    let sending = tokio::spawn(send::run(
        shared.clone(),
        prefix_folders,
        cand_rx,
        sub_tx,
        scan_only,
    ));

    let scan_result = match tokio::task::spawn_blocking(move || scan_thread.join()).await {
        Ok(Ok(r)) => r,
        _ => return Err(EngineError::Internal("the scan thread panicked".into())),
    };
    sending
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    monitor
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    counters.done.store(true, Ordering::Relaxed);
    if !shared.reader.users().is_empty() && !opts.dry_run {
        // SPMT's UserNotMapped report: the site's users no mapping reached, and the deleted
        // users the scan met.
        let mut people = shared.people.clone();
        people.note_missing(shared.reader.missing_users());
        let folder = report::task_folder(&opts.working_folder, &task_id);
        if let Err(e) = people.write_not_mapped(&folder) {
            tracing::warn!(error = %e, "cannot write UserNotMapped.csv");
        }
    }
    // Last senders go away with `shared`; the recorder then commits and hands the store back.
    let job_ids = shared.job_ids.lock().map(|v| v.clone()).unwrap_or_default();
    let throttled = shared.http.stats.throttled.load(Ordering::Relaxed);
    let spo = shared.spo.clone();
    let http_requests = shared.http.stats.requests.load(Ordering::Relaxed);
    drop(shared);
    let store = tokio::task::spawn_blocking(move || rec_thread.join())
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
        .map_err(|_| EngineError::Internal("the recorder thread panicked".into()))??;
    scan_result?;
    if let Some(r) = reporter {
        r.stop();
    }

    let mut deletes = DeleteOutcome::default();
    if opts.task.settings.propagate_deletes || opts.dry_run {
        let vanished = deletes::vanished(&store, &task_id, run, &target.server_relative(&prefix))?;
        if opts.dry_run {
            deletes.planned = vanished.iter().map(|v| v.rel_path.clone()).collect();
        } else if !opts.task.settings.scan_only && !counters.cancelled() {
            deletes = deletes::apply(&store, run, &spo, vanished).await?;
        }
    }

    let mut summary = close(
        &opts,
        &counters,
        &store,
        RoundId {
            run,
            round,
            task_id,
        },
        deletes,
        throttled,
        started,
    )?;
    summary.job_ids = job_ids;
    summary.http_requests = http_requests;
    Ok(summary)
}

/// Tallies the round once every item's outcome is settled, closes it in the store, writes its
/// reports, and returns its summary.
fn close(
    opts: &MigrateOptions,
    counters: &Counters,
    store: &Store,
    id: RoundId,
    deletes: DeleteOutcome,
    throttled: u64,
    started: Instant,
) -> Result<Summary, EngineError> {
    let RoundId {
        run,
        round,
        task_id,
    } = id;
    let scan_only = opts.task.settings.scan_only || opts.dry_run;
    // The item reports can be written while the round is tallied and closed (a failure to
    // start them leaves them to write_round).
    let reports_started = Instant::now();
    let item_reports = (!opts.dry_run)
        .then(|| report::start_item_reports(store, &opts.working_folder, &task_id, run))
        .and_then(|r| {
            r.map_err(|e| tracing::warn!(error = %e, "item reports not started early"))
                .ok()
        });

    // Items still pending here were never confirmed: say so rather than call them migrated.
    let mut items = store.counts(run)?;
    let dry_run = opts.dry_run.then(|| DryRun {
        would_send: store.pending_paths(run).unwrap_or_default(),
        would_delete: deletes.planned.clone(),
    });
    if scan_only {
        items.pending = 0;
    }
    let status = if counters.cancelled() {
        "Stopped"
    } else if items.failed > 0 || items.pending > 0 {
        "CompletedWithErrors"
    } else if scan_only {
        "Scanned"
    } else {
        "Completed"
    };
    store.finish_run(run, status, None, &figures(counters, throttled, started))?;
    let report_folder = report::folder(&opts.working_folder);
    if !opts.dry_run {
        match item_reports {
            Some(items) => {
                report::write_round_with(store, &opts.working_folder, &task_id, run, items)
            }
            None => report::write_round(store, &opts.working_folder, &task_id, run),
        }
        .map_err(|e| EngineError::Internal(format!("cannot write the reports: {e}")))?;
        tracing::info!(
            secs = reports_started.elapsed().as_secs_f64(),
            scan_and_send_secs = (reports_started - started).as_secs_f64(),
            "reports written"
        );
    }
    Ok(Summary {
        status: status.into(),
        task_id,
        round,
        source: opts.task.source.shown(),
        target_site_url: opts.task.target.clone(),
        target_list: opts.task.target_list.clone(),
        problems: store.problems(run, 200, !scan_only)?,
        items,
        scanned_items: counters.scanned_items.load(Ordering::Relaxed),
        scanned_bytes: counters.scanned_bytes.load(Ordering::Relaxed),
        uploaded_bytes: counters.uploaded_bytes.load(Ordering::Relaxed),
        packages: counters.packages.load(Ordering::Relaxed),
        job_ids: Vec::new(),
        duration_secs: started.elapsed().as_secs_f64(),
        working_folder: opts.working_folder.display().to_string(),
        report_folder: report_folder.display().to_string(),
        throttled_requests: throttled,
        dry_run,
        http_requests: 0,
    })
}

/// The `--target-list-relative-path` folders: synthetic items every package re-declares.
fn prefix_folders(
    store: &Store,
    target: &Target,
    prefix: &str,
) -> Result<Vec<PkgItem>, EngineError> {
    let mut folders = Vec::new();
    let mut acc = String::new();
    for seg in prefix.split('/').filter(|s| !s.is_empty()) {
        acc = if acc.is_empty() {
            seg.to_string()
        } else {
            format!("{acc}/{seg}")
        };
        let url = target.server_relative(&acc);
        folders.push(PkgItem {
            kind: ItemKind::Folder,
            lib_rel: acc.clone(),
            object_id: ids::object_id(target.list_id, &url),
            item_id: ids::list_item_id(target.list_id, &url),
            int_id: store.int_id(&target.list_id.to_string(), &url)?,
            size: 0,
            ctime: SystemTime::now(),
            mtime: SystemTime::now(),
            blob_name: String::new(),
            facts: None,
            versions: Vec::new(),
        });
    }
    Ok(folders)
}

fn build_target(site_url: &str, web: &crate::spo::WebInfo, list: &crate::spo::ListInfo) -> Target {
    Target {
        site_url: site_url.to_string(),
        web_url: web.server_relative_url.clone(),
        web_id: web.id,
        web_root_folder_id: web.root_folder_id,
        list_id: list.id,
        list_title: list.title.clone(),
        list_root_folder_id: list.root_folder_id,
        list_root_url: list.root_folder_url.clone(),
    }
}

fn clean_relative_path(p: &str) -> Result<String, EngineError> {
    let mut segs = Vec::new();
    for s in p.split(['/', '\\']).filter(|s| !s.is_empty()) {
        if s == "." || s == ".." {
            return Err(EngineError::RelativePath {
                path: p.into(),
                message: "'.' and '..' are not allowed".into(),
            });
        }
        scan::check_name(s, None).map_err(|(_, m)| EngineError::RelativePath {
            path: p.into(),
            message: format!("segment '{s}': {m}"),
        })?;
        segs.push(s.to_string());
    }
    Ok(segs.join("/"))
}

pub(super) fn figures(counters: &Counters, throttled: u64, started: Instant) -> RunFigures {
    RunFigures {
        scanned_items: counters.scanned_items.load(Ordering::Relaxed),
        scanned_bytes: counters.scanned_bytes.load(Ordering::Relaxed),
        uploaded_bytes: counters.uploaded_bytes.load(Ordering::Relaxed),
        packages: counters.packages.load(Ordering::Relaxed),
        throttled,
        duration_secs: started.elapsed().as_secs_f64(),
    }
}

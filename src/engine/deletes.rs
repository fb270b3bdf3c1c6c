//! Delete propagation (`--propagate-deletes`, off by default as in SPMT): what earlier rounds
//! of a task put in the target and this round's scan no longer finds is moved to the site's
//! recycle bin, so an admin can still restore it.
//!
//! Only what the scan could prove gone is removed: an item whose parent folder was not read
//! in this round (unreadable, filtered, or itself failed) is kept, so a share that is briefly
//! unreadable never empties the library.

use super::DeleteOutcome;
use crate::spo::SpoClient;
use crate::store::{Outcome, Store, StoreError};
use std::collections::HashSet;

#[derive(Debug, Clone)]
pub struct Vanished {
    pub rel_path: String,
    pub target_url: String,
    pub kind: String,
}

enum Gone {
    Recycled,
    WithFolder,
    Absent,
}

fn parent(url: &str) -> &str {
    url.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// Items to delete in this round, deepest first. `root_url` is the task's target folder.
pub fn vanished(
    store: &Store,
    task_id: &str,
    run: i64,
    root_url: &str,
) -> Result<Vec<Vanished>, StoreError> {
    let candidates = store.vanished(task_id, run)?;
    // Folders this round read completely: their children's absence is proof.
    let mut read: HashSet<String> = store
        .folders_of(run)?
        .into_iter()
        .filter(|(_, outcome, rule)| {
            outcome == Outcome::Migrated.as_str()
                || outcome == Outcome::Pending.as_str()
                || (outcome == Outcome::Skipped.as_str() && rule.as_deref() == Some("Unchanged"))
        })
        .map(|(url, _, _)| url.to_lowercase())
        .collect();
    read.insert(root_url.trim_end_matches('/').to_lowercase());
    let gone: HashSet<String> = candidates
        .iter()
        .filter(|c| c.2 == "Folder")
        .map(|c| c.1.to_lowercase())
        .collect();
    let mut out = Vec::new();
    for (rel_path, target_url, kind) in candidates {
        // Walk up through folders that vanished too, to the first one this round knows.
        let mut p = parent(&target_url).to_lowercase();
        while gone.contains(&p) {
            p = parent(&p).to_string();
        }
        if read.contains(&p) {
            out.push(Vanished {
                rel_path,
                target_url,
                kind,
            });
        } else {
            tracing::info!(item = %rel_path, "not deleted: its folder was not read in this round");
        }
    }
    Ok(out)
}

/// Recycles each vanished item and records the outcome (Deleted, or Failed with the reason)
/// as an item of this round.
pub async fn apply(
    store: &Store,
    run: i64,
    spo: &SpoClient,
    items: Vec<Vanished>,
) -> Result<DeleteOutcome, StoreError> {
    // Shallowest first: recycling a folder takes what is inside it, so its children are not
    // asked for one by one.
    let mut results = Vec::with_capacity(items.len());
    let mut recycled_folders: Vec<String> = Vec::new();
    for v in items.into_iter().rev() {
        let url = v.target_url.to_lowercase();
        let r = if recycled_folders
            .iter()
            .any(|f| url.starts_with(&format!("{f}/")))
        {
            Ok(Gone::WithFolder)
        } else {
            spo.recycle(&v.target_url, v.kind == "Folder")
                .await
                .map(|found| if found { Gone::Recycled } else { Gone::Absent })
        };
        if v.kind == "Folder" && r.is_ok() {
            recycled_folders.push(url);
        }
        results.push((v, r));
    }
    store.begin()?;
    for (v, r) in results {
        let (outcome, code, message) = match r {
            Ok(Gone::Recycled) => (
                Outcome::Deleted,
                None,
                "deleted from the source; moved to the target site's recycle bin".to_string(),
            ),
            Ok(Gone::WithFolder) => (
                Outcome::Deleted,
                None,
                "deleted from the source; recycled with its folder".to_string(),
            ),
            Ok(Gone::Absent) => (
                Outcome::Deleted,
                None,
                "deleted from the source; the target no longer had it".to_string(),
            ),
            Err(e) => (
                Outcome::Failed,
                Some("0x01710006"),
                format!(
                    "deleted from the source, but could not be removed from the target: {}",
                    crate::secrets::redact(&e.to_string())
                ),
            ),
        };
        super::log_item(&v.rel_path, outcome, &message);
        store.insert_item(
            run,
            &v.rel_path,
            &v.target_url,
            &v.kind,
            0,
            0,
            None,
            None,
            outcome,
            code,
            Some("SourceDeleted"),
            Some(&message),
        )?;
    }
    store.commit()?;
    Ok(DeleteOutcome::default())
}

//! Upload: encrypt each file with the package key and a fresh IV, stream it into the data
//! container (Put Blob for small files, Put Block + Put Block List for large ones), snapshot it,
//! then write the eight XMLs the same way; the import stage submits the job.

use super::codes;
use super::packager::Package;
use super::Shared;
use crate::azure::blob::block_id;
use crate::azure::ContainerClient;
use crate::crypto::{self, CbcEncryptor, Key};
use crate::package::{ids, xml, PkgItem, PkgVersion};
use crate::scan::ItemKind;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use md5::{Digest, Md5};
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// (SPMT code, message) of an item that failed at this stage.
pub type Failure = (&'static str, String);

#[derive(Debug)]
pub struct FileFailure {
    pub row: i64,
    pub code: &'static str,
    pub message: String,
}

/// A package whose files and XMLs are in the job's containers: what the import stage needs to
/// submit its job.
pub struct Uploaded {
    pub package: i64,
    pub data_uri: String,
    pub manifest_uri: String,
    pub key: Key,
    pub manifest: ContainerClient,
    /// (row id, item) the job will be responsible for.
    pub items: Vec<(i64, PkgItem)>,
}

struct EncState {
    file: std::fs::File,
    enc: Option<CbcEncryptor>,
    plain: u64,
    /// Size the scan saw; the file may have changed since, so it is only a hint.
    expected: u64,
}

/// Reads the next `block` plaintext bytes and returns their ciphertext (at EOF the padded tail)
/// and its MD5 for `Content-MD5`, hashed here, on the blocking thread, once. `spare` is the
/// previous block's buffer when nothing else holds it any more.
fn next_block(
    st: &mut EncState,
    block: usize,
    spare: Option<Vec<u8>>,
) -> std::io::Result<(Vec<u8>, bool, [u8; 16])> {
    // Sized from what the scan saw, not from the block size: a 1 KiB file must not cost an
    // 8 MiB zeroed buffer (that memset dominated small-file runs).
    let hint = (st.expected.saturating_sub(st.plain) as usize)
        .saturating_add(1)
        .min(block);
    // Room for the padding: the last block grows by up to 16 bytes. Reusing the previous block's
    // buffer spares the page faults of fresh memory (~1 s/GB on a busy VM).
    let mut buf = match spare {
        Some(mut b) if b.capacity() >= hint + crypto::BLOCK => {
            b.clear();
            b
        }
        _ => Vec::with_capacity(hint + crypto::BLOCK),
    };
    let n = (&mut st.file).take(block as u64).read_to_end(&mut buf)?;
    st.plain += n as u64;
    let eof = n < block;
    // Encrypted where it was read: one buffer per block, no copy.
    if let Some(enc) = st.enc.as_mut() {
        enc.update_in_place(&mut buf, eof);
    }
    if eof {
        st.enc = None;
    }
    let md5: [u8; 16] = Md5::digest(&buf).into();
    Ok((buf, eof, md5))
}

/// Blob slots a file takes: one per block, at most a quarter of them. A file of several blocks
/// keeps the cores busy on its own (read, encrypt, hash, send, the target's check); many at once
/// only interleave the packages, so every package finishes late, its import cannot overlap the
/// next upload, and more blocks are held in memory (16 large files at once: 8.1 CPU s, 4: 6.6 s).
fn slot_weight(size: u64, block: usize, slots: usize) -> u32 {
    let blocks = size.div_ceil(block.max(1) as u64).max(1);
    blocks.min((slots / 4).max(1) as u64) as u32
}

/// The failure of a file that could not be read, with the fix when the process ran out of
/// open files.
fn read_failure(shown: &str) -> impl Fn(std::io::Error) -> Failure + Clone {
    let shown = shown.to_string();
    move |e: std::io::Error| {
        let hint = crate::limits::exhausted_hint(&e)
            .map(|h| format!(". {h}"))
            .unwrap_or_default();
        (
            codes::CANNOT_OPEN,
            format!("{shown}: cannot read the file: {e}{hint}"),
        )
    }
}

/// What one file's upload sent: the plaintext size of the current version, and the older
/// versions, oldest first.
type Sent = (u64, Vec<PkgVersion>);

/// Uploads one file with the older versions the task keeps.
async fn upload_item(
    shared: &Shared,
    data: &ContainerClient,
    key: &Key,
    it: &PkgItem,
    path: std::path::PathBuf,
) -> Result<Sent, Failure> {
    let mut versions = Vec::new();
    if it.facts.as_deref().is_some_and(|f| f.may_have_history()) {
        let policy = crate::source::VersionPolicy::of(&shared.opts.task.settings);
        let history = shared
            .reader
            .history(&path, policy)
            .await
            .map_err(|e| (codes::CANNOT_OPEN, format!("{}: {e}", it.lib_rel)))?;
        for v in history {
            let shown = format!("{} (version {})", it.lib_rel, v.label);
            let blob = ids::version_blob_name(it.object_id, v.id);
            let opened = shared
                .reader
                .open_version(&v)
                .await
                .map(|f| (f, crate::source::Content::Copy))
                .map_err(read_failure(&shown))?;
            let sent =
                upload_blob(shared, data, key, &shown, &blob, v.size, it.mtime, opened).await?;
            versions.push(PkgVersion {
                label: v.label,
                modified: v.created,
                modified_by: v.created_by,
                comment: v.comment,
                size: sent,
                blob_name: blob,
            });
        }
    }
    let opened = shared
        .reader
        .open(path, it.size)
        .await
        .map_err(read_failure(&it.lib_rel))?;
    let sent = upload_blob(
        shared,
        data,
        key,
        &it.lib_rel,
        &it.blob_name,
        it.size,
        it.mtime,
        opened,
    )
    .await?;
    Ok((sent, versions))
}

/// Encrypts and uploads one opened content (`shown` in messages) as `blob`; returns the
/// plaintext size sent. `size` and `mtime` are what the source listed: live content that no
/// longer matches them is refused.
#[allow(clippy::too_many_arguments)]
async fn upload_blob(
    shared: &Shared,
    data: &ContainerClient,
    key: &Key,
    shown: &str,
    blob: &str,
    size: u64,
    mtime: std::time::SystemTime,
    (file, content): (std::fs::File, crate::source::Content),
) -> Result<u64, Failure> {
    let block = shared.opts.block_size;
    let iv = crypto::random_iv();
    let iv_b64 = crypto::iv_to_base64(&iv);
    // Memory: at most two copies of one block per file in flight, charged to the byte budget.
    let charge = ((size.min(block as u64) * 2) >> 20) as u32 + 1;
    let _permit = shared
        .budget
        .acquire_many(charge.min(shared.opts.budget_mib))
        .await
        .map_err(|_| (codes::UPLOAD_FAILED, "engine stopped".to_string()))?;
    let key2 = key.clone();
    let open_err = read_failure(shown);
    let mut st = Some(EncState {
        file,
        enc: Some(CbcEncryptor::new(&key2, &iv)),
        plain: 0,
        expected: size,
    });
    let mut ids = Vec::new();
    let mut first = true;
    let mut spare = None;
    loop {
        let mut s = st
            .take()
            .ok_or((codes::UPLOAD_FAILED, "internal state lost".to_string()))?;
        let (res, s) = tokio::task::spawn_blocking(move || {
            let r = next_block(&mut s, block, spare);
            (r, s)
        })
        .await
        .map_err(|e| (codes::CANNOT_OPEN, e.to_string()))?;
        let (cipher, eof, md5) = res.map_err(open_err.clone())?;
        st = Some(s);
        let len = cipher.len() as u64;
        let up = |e: crate::http::HttpError| {
            (codes::UPLOAD_FAILED, format!("{shown}: upload failed: {e}"))
        };
        let body = Bytes::from(cipher);
        let sent = body.clone();
        if first && eof {
            // Whole file in one request: Put Blob carries the IV and Content-MD5.
            data.put_blob_md5(blob, body, Some(&iv_b64), &md5)
                .await
                .map_err(up)?;
        } else {
            let id = block_id(ids.len() as u32);
            data.put_block_md5(blob, &id, body, &md5)
                .await
                .map_err(up)?;
            ids.push(id);
        }
        // The request is done with it: the next block is read into the same memory.
        spare = sent.try_into_mut().ok().map(Vec::from);
        shared
            .counters
            .uploaded_bytes
            .fetch_add(len, Ordering::Relaxed);
        first = false;
        if eof {
            break;
        }
    }
    let s = st.ok_or((codes::UPLOAD_FAILED, "internal state lost".to_string()))?;
    // The file as it is after its last byte was read: a file written to meanwhile would be
    // reported with the scan's size and time but hold other bytes (or half of each). It is
    // not committed; the next round sends it as it is then.
    let (s, now) = tokio::task::spawn_blocking(move || {
        let m = s.file.metadata();
        (s, m)
    })
    .await
    .map_err(|e| (codes::CANNOT_OPEN, e.to_string()))?;
    let now_len = now.as_ref().map(|m| m.len()).ok();
    let now_mtime = now.as_ref().ok().and_then(|m| m.modified().ok());
    // A copy (a download) was checked whole when it was made; it has its own times.
    let changed = match content {
        crate::source::Content::Live => now_mtime != Some(mtime),
        crate::source::Content::Copy => false,
    };
    if s.plain != size || now_len != Some(s.plain) || changed {
        return Err((
            codes::CANNOT_OPEN,
            format!(
                "{}: the file changed while it was read ({} bytes when scanned, {} read, {} now); \
                 it was not migrated, the next round sends it as it is then",
                shown,
                size,
                s.plain,
                now_len.map_or_else(|| "unknown".to_string(), |n| n.to_string())
            ),
        ));
    }
    if !ids.is_empty() {
        // Each block carried its own Content-MD5; a whole-blob MD5 would cost another pass
        // over every byte (x-ms-blob-content-md5 is optional).
        data.put_block_list(blob, &ids, Some(&iv_b64), None)
            .await
            .map_err(|e| (codes::UPLOAD_FAILED, format!("{shown}: commit failed: {e}")))?;
    }
    // The service imports the newest snapshot (reference §4.2).
    data.snapshot(blob).await.map_err(|e| {
        (
            codes::UPLOAD_FAILED,
            format!("{shown}: snapshot failed: {e}"),
        )
    })?;
    Ok(s.plain)
}

/// Encrypts and uploads one XML with its own IV, then snapshots it.
async fn upload_xml(
    manifest: &ContainerClient,
    key: &Key,
    name: &str,
    text: String,
) -> Result<(), crate::http::HttpError> {
    let iv = crypto::random_iv();
    let cipher = crypto::encrypt(key, &iv, text.as_bytes());
    manifest
        .put_blob(name, Bytes::from(cipher), Some(&crypto::iv_to_base64(&iv)))
        .await?;
    manifest.snapshot(name).await.map(|_| ())
}

/// Where one package goes: the containers we write to, the URIs the service reads from, the key.
struct JobStorage {
    data: ContainerClient,
    manifest: ContainerClient,
    data_uri: String,
    manifest_uri: String,
    key: Key,
}

/// Containers the service provisions, or (`--azure-storage-connection-string`) a new pair in the
/// customer's account with SAS URIs of the permissions the API requires (reference §3.3) and a
/// key of our own.
async fn job_storage(shared: &Shared) -> Result<JobStorage, String> {
    let mk = |u: &str| {
        ContainerClient::new(shared.http.clone(), u)
            .map_err(|e| format!("unusable container URI: {e}"))
    };
    if let Some(acct) = &shared.opts.custom_storage {
        let c = acct.job_containers(&shared.http).await.map_err(|e| {
            format!("creating containers in the custom storage account failed: {e}")
        })?;
        return Ok(JobStorage {
            data: mk(&c.data_client_uri)?,
            manifest: mk(&c.manifest_client_uri)?,
            data_uri: c.data_service_uri,
            manifest_uri: c.manifest_service_uri,
            key: Key::random(),
        });
    }
    let (containers, key) = shared
        .spo
        .provision_containers()
        .await
        .map_err(|e| format!("ProvisionMigrationContainers failed: {e}"))?;
    Ok(JobStorage {
        data: mk(&containers.data_container_uri)?,
        manifest: mk(&containers.metadata_container_uri)?,
        data_uri: containers.data_container_uri,
        manifest_uri: containers.metadata_container_uri,
        key,
    })
}

/// Uploads a package's files and its XMLs. Items that could not be read or sent come back as
/// failures and are left out of the manifest; an error fails the whole package.
pub async fn upload_package(
    shared: Arc<Shared>,
    mut pkg: Package,
) -> (Result<Uploaded, Failure>, Vec<FileFailure>, Package) {
    let js = match job_storage(&shared).await {
        Ok(js) => js,
        Err(message) => return (Err((codes::SUBMIT_FAILED, message)), vec![], pkg),
    };
    let (data, manifest, key) = (js.data, js.manifest, js.key);

    let files: Vec<(usize, PkgItem)> = pkg
        .items
        .iter()
        .enumerate()
        .filter(|(_, (_, i))| i.kind == ItemKind::File)
        .map(|(n, (_, i))| (n, i.clone()))
        .collect();
    let results: Vec<(usize, Result<Sent, Failure>)> = stream::iter(files)
        .map(|(n, it)| {
            let (data, key, shared) = (&data, &key, &shared);
            async move {
                let path = shared.source_path(&it);
                let weight =
                    slot_weight(it.size, shared.opts.block_size, shared.opts.blobs_in_flight);
                let sent = crate::http::with_slot(
                    &shared.blob_slots,
                    weight,
                    upload_item(shared, data, key, &it, path),
                )
                .await
                .unwrap_or_else(|| Err((codes::UPLOAD_FAILED, "engine stopped".to_string())));
                (n, sent)
            }
        })
        .buffer_unordered(shared.opts.files_in_flight_per_package)
        .collect()
        .await;

    let mut failures = Vec::new();
    let mut drop_idx = std::collections::HashSet::new();
    for (n, r) in results {
        match r {
            Ok((sent, versions)) => {
                pkg.items[n].1.size = sent;
                pkg.items[n].1.versions = versions;
            }
            Err((code, message)) => {
                failures.push(FileFailure {
                    row: pkg.items[n].0,
                    code,
                    message,
                });
                drop_idx.insert(n);
            }
        }
    }
    if !drop_idx.is_empty() {
        let mut n = 0;
        pkg.items.retain(|_| {
            let keep = !drop_idx.contains(&n);
            n += 1;
            keep
        });
    }
    if pkg.items.is_empty() {
        return (
            Err((
                codes::UPLOAD_FAILED,
                "no item of the package could be uploaded".into(),
            )),
            failures,
            pkg,
        );
    }
    let owned: Vec<PkgItem> = pkg.items.iter().map(|(_, i)| i.clone()).collect();
    let xmls = xml::build(
        &shared.target,
        &pkg.ancestors,
        &owned,
        &shared.people,
        shared.reader.source_type(),
    );
    // Side by side, not one after another: each may sit out a throttle and the package waits
    // for all. Each takes a blob slot, so a small open-file limit still holds.
    let sent = futures_util::future::join_all(xmls.files.into_iter().map(|(name, text)| {
        let (manifest, key, slots) = (&manifest, &key, &shared.blob_slots);
        async move {
            let r = crate::http::with_slot(slots, 1, upload_xml(manifest, key, name, text)).await;
            let stopped = || crate::http::HttpError::Transport {
                method: "PUT".into(),
                url: name.into(),
                message: "the run is stopping".into(),
            };
            (name, r.unwrap_or_else(|| Err(stopped())))
        }
    }))
    .await;
    if let Some((name, Err(e))) = sent.into_iter().find(|(_, r)| r.is_err()) {
        return (
            Err((
                codes::UPLOAD_FAILED,
                format!("uploading {name} failed: {e}"),
            )),
            failures,
            pkg,
        );
    }
    let items = std::mem::take(&mut pkg.items);
    (
        Ok(Uploaded {
            package: pkg.id,
            data_uri: js.data_uri,
            manifest_uri: js.manifest_uri,
            key,
            manifest,
            items,
        }),
        failures,
        pkg,
    )
}

#[cfg(test)]
mod tests {
    use super::slot_weight;

    #[test]
    fn large_files_take_more_blob_slots_small_ones_one() {
        let mib = 1 << 20;
        assert_eq!(slot_weight(0, 8 * mib, 16), 1);
        assert_eq!(slot_weight(1000, 8 * mib, 16), 1);
        assert_eq!(slot_weight(12 << 20, 8 * mib, 16), 2);
        assert_eq!(slot_weight(64 << 20, 8 * mib, 16), 4);
        assert_eq!(
            slot_weight(64 << 20, 8 * mib, 2),
            1,
            "never more slots than exist"
        );
    }
}

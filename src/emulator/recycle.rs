//! `GetFileByServerRelativePath(DecodedUrl='…')/recycle()` and the folder form: the emulator's
//! recycle bin. The item (a folder with everything under it) leaves the library tree and the
//! sidecar, its bytes are kept under `root/_emulator/recycle/<id>/`, and the removal is
//! recorded so tests can tell what a client deleted.

use super::importer::disk_path;
use super::library::List;
use super::{Emu, EmulatorError};
use rusqlite::params;
use std::sync::Arc;
use uuid::Uuid;

pub enum Recycled {
    /// The recycle-bin item id, as SPO returns it.
    Done(Uuid),
    NotFound,
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> EmulatorError + '_ {
    move |source| EmulatorError::Io {
        what: "cannot recycle",
        path: path.to_path_buf(),
        source,
    }
}

pub fn recycle(
    emu: &Arc<Emu>,
    site: &str,
    url: &str,
    folder: bool,
) -> Result<Recycled, EmulatorError> {
    let url = url.trim_end_matches('/');
    let lists: Vec<List> = emu.library.lists(site)?;
    let Some(list) = lists.into_iter().find(|l| {
        let root = l.server_relative_url().to_lowercase();
        url.to_lowercase().starts_with(&format!("{root}/"))
    }) else {
        return Ok(Recycled::NotFound);
    };
    let Some(item) = emu.library.item_by_url(list.list_id, url)? else {
        return Ok(Recycled::NotFound);
    };
    if (item.kind == "Folder") != folder {
        return Ok(Recycled::NotFound);
    }
    let disk = disk_path(&emu.root, &list, url);
    let id = Uuid::new_v4();
    let bin = emu
        .root
        .join("_emulator")
        .join("recycle")
        .join(id.to_string());
    std::fs::create_dir_all(&bin).map_err(io(&bin))?;
    if disk.exists() {
        let name = disk.file_name().map(|n| n.to_owned()).unwrap_or_default();
        std::fs::rename(&disk, bin.join(name)).map_err(io(&disk))?;
    }
    emu.library.with_tx(|tx| {
        let key = url.to_lowercase();
        tx.execute(
            "DELETE FROM items WHERE list_id = ?1 AND (url_key = ?2 OR substr(url_key, 1, length(?2) + 1) = ?2 || '/')",
            params![list.list_id.to_string(), key],
        )?;
        tx.execute(
            "INSERT INTO recycled (id, url, kind, time) VALUES (?1, ?2, ?3, ?4)",
            params![id.to_string(), url, item.kind, chrono::Utc::now().to_rfc3339()],
        )?;
        Ok(())
    })?;
    Ok(Recycled::Done(id))
}

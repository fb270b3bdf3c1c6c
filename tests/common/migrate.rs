//! The engine run in-process (no CLI) against an emulator the test started: [`options`] for a
//! task that migrates a source folder into site `local`, library `Documents`, and [`run`].

use spmt::emulator::EmulatorHandle;
use spmt::engine::{self, Counters, MigrateOptions, Summary};
use spmt::task::{Task, TaskSettings};
use std::path::Path;
use std::sync::Arc;

/// Migrates the contents of `src` (without the root folder itself) into the library
/// `Documents` of site `local` on `h`, with `h`'s token and state in `work`.
pub fn options(src: &Path, h: &EmulatorHandle, work: &Path) -> MigrateOptions {
    let settings = TaskSettings {
        migrate_without_root_folder: true,
        ..TaskSettings::default()
    };
    let task = Task::new(src, &h.site_url("local"), "Documents", "", settings).unwrap();
    let mut o = MigrateOptions::new(task, work.to_path_buf());
    o.bearer = spmt::auth::Bearer::fixed(h.access_token());
    o
}

/// Runs the migration to its end; panics if it cannot run at all.
pub async fn run(o: MigrateOptions) -> Summary {
    engine::migrate(o, Arc::new(Counters::default()))
        .await
        .expect("migration runs")
}

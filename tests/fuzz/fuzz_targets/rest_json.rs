//! The SharePoint REST answers the client reads (`spmt::spo::answers`): any bytes, in either
//! OData shape, give a value or an error, never a panic; what is read keeps its promises (a
//! job id is never the empty GUID, events are strings the body holds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spmt::spo::answers;

const FUNCTIONS: [&str; 7] = [
    "ProvisionMigrationContainers",
    "ProvisionMigrationQueue",
    "CreateMigrationJobEncrypted",
    "GetMigrationJobProgress",
    "GetMigrationJobStatus",
    "GetMigrationStatus",
    "Recycle",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let function = FUNCTIONS
        .get(usize::from(pick) % (FUNCTIONS.len() + 1))
        .copied();
    let Ok(v) = answers::read(body, "fuzz", function) else {
        return;
    };
    let _ = answers::web(&v, &v);
    let _ = answers::is_site_admin(&v);
    let _ = answers::is_full_control(&v);
    let _ = answers::user_name(&v);
    let _ = answers::list(&v, "Documents");
    let _ = answers::first_item_id(&v);
    let _ = answers::containers(&v);
    let _ = answers::queue(&v);
    if let Ok(id) = answers::job_id(&v) {
        assert!(!id.is_nil(), "the empty GUID means no job");
    }
    let (events, _next) = answers::job_progress(&v, "7");
    assert!(events.len() <= body.len(), "events come from the body");
    let _ = answers::job_status(&v);
    let _ = answers::migration_jobs(&v);
    let _ = answers::target_file(&v);
});

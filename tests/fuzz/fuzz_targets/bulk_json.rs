//! SPMT's JSON bulk file (`Add-SPMTTask -JsonDefinition`, reference spmt-features §3): any
//! text gives tasks or an error, never a panic; a task that parses keeps a stable id and
//! settings that read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spmt::task::{Task, TaskSettings};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut notes = Vec::new();
    if let Ok(task) = Task::from_spmt_json(text, &TaskSettings::default(), &mut notes) {
        let _ = task.id();
        let _ = task.target_uri();
        let again: TaskSettings =
            serde_json::from_value(serde_json::to_value(&task.settings).unwrap()).unwrap();
        assert_eq!(again, task.settings, "settings read back as written");
    }
});

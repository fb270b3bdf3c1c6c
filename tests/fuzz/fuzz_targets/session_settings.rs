//! The C ABI's settings JSON (`spmt_session_new`, what Register-SPMTMigration sends): any text
//! gives settings or an error naming the key, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = spmt::session::Settings::from_json(text) {
        let _ = s.task_defaults.to_map();
        let _ = format!("{s:?}");
    }
});

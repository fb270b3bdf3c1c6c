//! SPMT's user-mapping CSV, as an admin writes it: any bytes give a mapping or an error naming
//! a line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = spmt::people::UserMapping::parse(data) {
        let _ = m.len();
    }
});

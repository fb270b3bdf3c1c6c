//! The package XML the local target parses (Manifest.xml and its seven siblings, uploaded by
//! any client): any bytes give a tree or an error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spmt::emulator::manifest::parse(data);
});

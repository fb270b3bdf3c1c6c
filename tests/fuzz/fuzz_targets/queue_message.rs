//! One job-queue message as the monitor reads it: base64 (or raw) JSON, possibly an encrypted
//! envelope decrypted with its job's key. Any text gives an event or nothing, never a panic.
//! The first input byte picks whether the message is wrapped as an envelope of a known job,
//! so the decryption path is reached without the fuzzer having to forge base64 and AES.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use spmt::crypto::{self, Key};
use spmt::engine::import::monitor::decode_message;
use std::collections::HashMap;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let job = Uuid::from_u128(0x5eed);
    let key = Key::from_bytes(&[7u8; 32]).unwrap();
    let keys = HashMap::from([(job, key.clone())]);
    let text = if mode & 1 == 1 {
        // The rest is the plaintext of an envelope of a known job.
        let iv = [3u8; 16];
        let b64 = base64::engine::general_purpose::STANDARD;
        let env = serde_json::json!({
            "Label": "Encrypted", "JobId": job.to_string(),
            "IV": crypto::iv_to_base64(&iv), "Content": b64.encode(crypto::encrypt(&key, &iv, rest)),
        });
        b64.encode(env.to_string())
    } else {
        String::from_utf8_lossy(rest).into_owned()
    };
    let _ = decode_message(&text, &keys);
});

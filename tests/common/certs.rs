//! Test certificates for app-only sign-in: self-signed RSA certificates with their keys, as
//! PEM, PFX and the public `.cer` an admin uploads to the app registration, and the key as a
//! JWK for a provider that registers keys that way.

use std::path::{Path, PathBuf};

/// A self-signed RSA certificate valid from `from` to `to` (years), as PEM (certificate and
/// key) and PFX (password `pfx-pw`).
pub fn certificate(dir: &Path, name: &str, from: i32, to: i32) -> (PathBuf, PathBuf, PathBuf) {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let kp =
        rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![format!("{name}.spmt.test")]).unwrap();
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(to, 1, 1);
    let cert = params.self_signed(&kp).unwrap();
    let pem = dir.join(format!("{name}.pem"));
    std::fs::write(&pem, format!("{}{}", cert.pem(), key_pem.as_str())).unwrap();
    let cer = dir.join(format!("{name}.cer"));
    std::fs::write(&cer, cert.pem()).unwrap();
    let mut ks = p12_keystore::KeyStore::new();
    let der = key.to_pkcs8_der().unwrap();
    ks.add_entry(
        name,
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            der.as_bytes(),
            [1u8; 20],
            [p12_keystore::Certificate::from_der(cert.der()).unwrap()],
        )),
    );
    let pfx = dir.join(format!("{name}.pfx"));
    std::fs::write(&pfx, ks.writer("pfx-pw").write().unwrap()).unwrap();
    (pem, pfx, cer)
}

/// The public key of the PEM file `pem` (certificate and key) as an RSA JWK.
pub fn public_jwk(pem: &Path) -> serde_json::Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let text = std::fs::read_to_string(pem).unwrap();
    let start = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&text[start..]).unwrap();
    serde_json::json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    })
}

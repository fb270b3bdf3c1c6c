//! X.509 certificates for app-only sign-in: the one place that reads a certificate and its RSA
//! key (PEM or PFX), computes the thumbprints Entra matches an assertion against (`x5t` = SHA-1,
//! `x5t#S256` = SHA-256 of the DER, reference signin.md §4.2), and checks its validity. The
//! local target's sign-in service uses the same reading for the certificates it trusts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read the certificate {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no certificate: give a PEM file with a CERTIFICATE block (and its private key), or a .pfx/.p12 file")]
    NoCertificate { path: PathBuf },
    #[error("{path} has the certificate but not its private key: app-only sign-in signs with the key; give a PEM file with both blocks, or the .pfx exported with its private key")]
    NoPrivateKey { path: PathBuf },
    #[error("{path}: the PFX password is wrong (or the file is damaged); give the password in SPMT_CERTIFICATE_PASSWORD, or at the prompt")]
    PfxPassword { path: PathBuf },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("the certificate in {path} (thumbprint {thumbprint}) expired on {not_after}: Entra refuses assertions signed with it; create a new certificate, upload it to the app registration and point --certificate-path at it")]
    Expired {
        path: PathBuf,
        thumbprint: String,
        not_after: String,
    },
    #[error("the certificate in {path} has thumbprint {actual}, not {wanted} as configured (--certificate-thumbprint / CertificateConfig.json): point --certificate-path at the certificate with that thumbprint, or correct the thumbprint")]
    ThumbprintMismatch {
        path: PathBuf,
        wanted: String,
        actual: String,
    },
}

/// A certificate as DER, with what sign-in needs from it.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("thumbprint", &self.thumbprint_hex())
            .finish()
    }
}

impl Certificate {
    pub fn from_der(der: Vec<u8>) -> Self {
        Certificate { der }
    }

    /// The first certificate in a PEM text.
    pub fn from_pem(text: &[u8]) -> Option<Self> {
        pem::parse_many(text)
            .ok()?
            .into_iter()
            .find(|p| p.tag() == "CERTIFICATE")
            .map(|p| Certificate::from_der(p.into_contents()))
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-1 of the DER, upper-case hex: the thumbprint Windows, the Entra portal and SPMT's
    /// `CertificateConfig.json` show.
    pub fn thumbprint_hex(&self) -> String {
        hex_upper(&sha1_smol::Sha1::from(&self.der).digest().bytes())
    }

    /// `x5t`: base64url SHA-1 of the DER.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha1_smol::Sha1::from(&self.der).digest().bytes())
    }

    /// `x5t#S256`: base64url SHA-256 of the DER.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.der))
    }

    /// Whether `thumbprint` (hex, any case, spaces or colons allowed; SHA-1 or SHA-256) names
    /// this certificate.
    pub fn matches_thumbprint(&self, thumbprint: &str) -> bool {
        let want: String = thumbprint
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect::<String>()
            .to_ascii_uppercase();
        want == self.thumbprint_hex() || want == hex_upper(&Sha256::digest(&self.der))
    }

    /// The validity period as Unix seconds (not before, not after).
    pub fn validity(&self) -> Result<(i64, i64), String> {
        let (_, c) = x509_parser::parse_x509_certificate(&self.der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        Ok((
            c.validity().not_before.timestamp(),
            c.validity().not_after.timestamp(),
        ))
    }

    /// The RSA public key (assertions and tokens here are RSA-signed).
    pub fn rsa_public_key(&self) -> Result<RsaPublicKey, String> {
        let (_, c) = x509_parser::parse_x509_certificate(&self.der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        RsaPublicKey::from_public_key_der(c.public_key().raw)
            .map_err(|e| format!("the certificate's key is not an RSA key ({e}); Entra app-only sign-in here needs an RSA certificate"))
    }
}

/// A certificate with its private key: what signs a client assertion.
pub struct SigningCertificate {
    pub certificate: Certificate,
    key: RsaPrivateKey,
    pub path: PathBuf,
}

impl std::fmt::Debug for SigningCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCertificate")
            .field("certificate", &self.certificate)
            .field("path", &self.path)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SigningCertificate {
    /// Reads `path`: a PFX/PKCS#12 file (by extension `.pfx`/`.p12`, or when it is not PEM)
    /// opened with `password`, or PEM with a CERTIFICATE block and an RSA private key block
    /// (PKCS#8 or PKCS#1). Checks the validity period against `now` and, when given, the
    /// thumbprint.
    pub fn load(
        path: &Path,
        password: Option<&str>,
        thumbprint: Option<&str>,
        now: i64,
    ) -> Result<Self, CertificateError> {
        let bytes =
            Zeroizing::new(
                std::fs::read(path).map_err(|source| CertificateError::Read {
                    path: path.to_path_buf(),
                    source,
                })?,
            );
        let invalid = |detail: String| CertificateError::Invalid {
            path: path.to_path_buf(),
            detail,
        };
        let is_pem = bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ");
        let (certificate, key) = if is_pem {
            let blocks = pem::parse_many(&bytes[..]).map_err(|e| invalid(format!("{e}")))?;
            let cert = blocks
                .iter()
                .find(|p| p.tag() == "CERTIFICATE")
                .map(|p| Certificate::from_der(p.contents().to_vec()))
                .ok_or_else(|| CertificateError::NoCertificate {
                    path: path.to_path_buf(),
                })?;
            let key_block = blocks
                .iter()
                .find(|p| p.tag().ends_with("PRIVATE KEY"))
                .ok_or_else(|| CertificateError::NoPrivateKey {
                    path: path.to_path_buf(),
                })?;
            let key = match key_block.tag() {
                "RSA PRIVATE KEY" => {
                    use rsa::pkcs1::DecodeRsaPrivateKey;
                    RsaPrivateKey::from_pkcs1_der(key_block.contents())
                        .map_err(|e| invalid(format!("the private key is not readable: {e}")))?
                }
                "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(key_block.contents())
                    .map_err(|e| invalid(format!("the private key is not an RSA key: {e}")))?,
                other => {
                    return Err(invalid(format!(
                        "the private key is a {other} block; decrypt it first (openssl pkey -in KEY -out plain.pem) or use the .pfx"
                    )))
                }
            };
            (cert, key)
        } else {
            let store = p12_keystore::KeyStore::from_pkcs12(&bytes, password.unwrap_or(""))
                .map_err(|e| match e {
                    p12_keystore::error::Error::MacError(_) => CertificateError::PfxPassword {
                        path: path.to_path_buf(),
                    },
                    other => invalid(format!("not a readable PFX file: {other}")),
                })?;
            let (_, chain) =
                store
                    .private_key_chain()
                    .ok_or_else(|| CertificateError::NoPrivateKey {
                        path: path.to_path_buf(),
                    })?;
            let cert = chain
                .chain()
                .first()
                .map(|c| Certificate::from_der(c.as_der().to_vec()))
                .ok_or_else(|| CertificateError::NoCertificate {
                    path: path.to_path_buf(),
                })?;
            let key = RsaPrivateKey::from_pkcs8_der(chain.key())
                .map_err(|e| invalid(format!("the private key is not an RSA key: {e}")))?;
            (cert, key)
        };
        let public = certificate.rsa_public_key().map_err(invalid)?;
        if public.n() != key.n() || public.e() != key.e() {
            return Err(invalid(
                "the private key does not belong to the certificate in the same file".into(),
            ));
        }
        let (_, not_after) = certificate.validity().map_err(invalid)?;
        if not_after < now {
            return Err(CertificateError::Expired {
                path: path.to_path_buf(),
                thumbprint: certificate.thumbprint_hex(),
                not_after: chrono::DateTime::from_timestamp(not_after, 0)
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_else(|| not_after.to_string()),
            });
        }
        if let Some(t) = thumbprint.filter(|t| !t.trim().is_empty()) {
            if !certificate.matches_thumbprint(t) {
                return Err(CertificateError::ThumbprintMismatch {
                    path: path.to_path_buf(),
                    wanted: t.trim().to_string(),
                    actual: certificate.thumbprint_hex(),
                });
            }
        }
        Ok(SigningCertificate {
            certificate,
            key,
            path: path.to_path_buf(),
        })
    }

    /// The key in the form the JWT signer takes (PKCS#1 DER).
    pub fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, String> {
        let der = self
            .key
            .to_pkcs1_der()
            .map_err(|e| format!("cannot encode the private key: {e}"))?;
        Ok(jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()))
    }
}

/// A verifying key for an RSA public key, for the JWT library.
pub fn decoding_key(key: &RsaPublicKey) -> jsonwebtoken::DecodingKey {
    jsonwebtoken::DecodingKey::from_rsa_raw_components(
        &key.n().to_bytes_be(),
        &key.e().to_bytes_be(),
    )
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

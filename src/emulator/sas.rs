//! The storage account's SAS authority: issues container and queue SAS tokens signed with a
//! per-run random account key and checks them on every storage request (reference §4.1).

use crate::wire::{sas_signature, Sas, SAS_VERSION};
use chrono::{DateTime, Utc};
use rand::RngCore;

/// Account name in every blob and queue URL.
const ACCOUNT: &str = "spmtemulator";
/// Provisioned SAS tokens live three days, as SPO's do (reference §3.1).
const SAS_LIFETIME_DAYS: i64 = 3;
/// Azure tolerates some clock skew on `st`.
const START_SKEW_SECS: i64 = 15 * 60;

pub struct SasAuthority {
    key: [u8; 32],
}

/// Why a SAS was refused; each maps to Azure's 403 code.
#[derive(Debug)]
pub enum SasDenied {
    /// Bad signature, malformed or expired token, wrong resource: `AuthenticationFailed`.
    Authentication(String),
    /// Valid token without the permission the operation needs: `AuthorizationPermissionMismatch`.
    Permission(String),
}

impl SasAuthority {
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        SasAuthority { key }
    }

    pub fn account(&self) -> &str {
        ACCOUNT
    }

    pub fn sign(&self, sas: &mut Sas, canonical: &str) {
        sas.sign(canonical, &self.key);
    }

    pub fn blob_canonical(container: &str) -> String {
        format!("/blob/{ACCOUNT}/{container}")
    }

    pub fn queue_canonical(queue: &str) -> String {
        format!("/queue/{ACCOUNT}/{queue}")
    }

    /// `{base}/blob/{account}/{container}?{sas}` with `sp=rw` (no list, no delete: reference §3.1).
    pub fn container_url(&self, base: &str, container: &str) -> String {
        let now = Utc::now();
        let mut sas = Sas {
            sv: SAS_VERSION.into(),
            sr: "c".into(),
            sp: "rw".into(),
            st: azure_time(now - chrono::Duration::minutes(5)),
            se: azure_time(now + chrono::Duration::days(SAS_LIFETIME_DAYS)),
            // Plain http is what a loopback emulator serves; SPO hands out `https` only.
            spr: "https,http".into(),
            sig: String::new(),
        };
        self.sign(&mut sas, &Self::blob_canonical(container));
        format!("{base}/blob/{ACCOUNT}/{container}?{}", sas.to_query())
    }

    /// `{base}/queue/{account}/{queue}?{sas}` with `sp=raup` as SPO provisions (reference §3.2).
    pub fn queue_url(&self, base: &str, queue: &str) -> String {
        let now = Utc::now();
        let mut sas = Sas {
            sv: SAS_VERSION.into(),
            sr: String::new(),
            sp: "raup".into(),
            st: azure_time(now - chrono::Duration::minutes(5)),
            se: azure_time(now + chrono::Duration::days(SAS_LIFETIME_DAYS)),
            spr: "https,http".into(),
            sig: String::new(),
        };
        self.sign(&mut sas, &Self::queue_canonical(queue));
        format!("{base}/queue/{ACCOUNT}/{queue}?{}", sas.to_query())
    }

    /// Checks signature, validity window and that every letter of `need` is granted.
    pub fn check(&self, query: &str, canonical: &str, need: &str) -> Result<(), SasDenied> {
        let sas = Sas::parse(query);
        if sas.sig.is_empty() || sas.se.is_empty() || sas.sp.is_empty() {
            return Err(SasDenied::Authentication(
                "Server failed to authenticate the request. The request has no valid SAS (sig, se and sp are required).".into(),
            ));
        }
        let expected = sas_signature(&sas.string_to_sign(canonical), &self.key);
        if !constant_time_eq(expected.as_bytes(), sas.sig.as_bytes()) {
            return Err(SasDenied::Authentication(format!(
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.\nAuthenticationErrorDetail: Signature did not match. Resource: {canonical}"
            )));
        }
        let now = Utc::now();
        let expiry = parse_azure_time(&sas.se).ok_or_else(|| {
            SasDenied::Authentication(format!(
                "Signed expiry time [{}] is not a valid time",
                sas.se
            ))
        })?;
        if now > expiry {
            return Err(SasDenied::Authentication(format!(
                "Server failed to authenticate the request.\nAuthenticationErrorDetail: Signed expiry time [{}] must be after current time [{}]",
                sas.se,
                now.to_rfc2822()
            )));
        }
        if !sas.st.is_empty() {
            let start = parse_azure_time(&sas.st).ok_or_else(|| {
                SasDenied::Authentication(format!(
                    "Signed start time [{}] is not a valid time",
                    sas.st
                ))
            })?;
            if now + chrono::Duration::seconds(START_SKEW_SECS) < start {
                return Err(SasDenied::Authentication(format!(
                    "Server failed to authenticate the request.\nAuthenticationErrorDetail: Signed start time [{}] is in the future",
                    sas.st
                )));
            }
        }
        if let Some(missing) = need.chars().find(|c| !sas.sp.contains(*c)) {
            return Err(SasDenied::Permission(format!(
                "This request is not authorized to perform this operation using this permission (needs '{missing}', SAS grants '{}').",
                sas.sp
            )));
        }
        Ok(())
    }
}

/// ISO 8601 to the second with `Z`, the form Azure SAS tokens carry.
pub fn azure_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse_azure_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Azure also accepts a date alone, or minutes precision.
    for fmt in ["%Y-%m-%dT%H:%MZ", "%Y-%m-%d"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, fmt) {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        }
    }
    None
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_container_sas_checks_and_grants_rw_only() {
        let a = SasAuthority::new();
        let url = a.container_url("http://h", "c1");
        let q = url.split_once('?').unwrap().1;
        assert!(a
            .check(q, &SasAuthority::blob_canonical("c1"), "rw")
            .is_ok());
        assert!(matches!(
            a.check(q, &SasAuthority::blob_canonical("c1"), "l"),
            Err(SasDenied::Permission(_))
        ));
        assert!(matches!(
            a.check(q, &SasAuthority::blob_canonical("c2"), "r"),
            Err(SasDenied::Authentication(_))
        ));
        assert!(matches!(
            SasAuthority::new().check(q, &SasAuthority::blob_canonical("c1"), "r"),
            Err(SasDenied::Authentication(_))
        ));
    }

    #[test]
    fn expired_sas_is_refused() {
        let a = SasAuthority::new();
        let mut s = Sas {
            sv: SAS_VERSION.into(),
            sr: "c".into(),
            sp: "rw".into(),
            se: "2020-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        a.sign(&mut s, &SasAuthority::blob_canonical("c"));
        assert!(matches!(
            a.check(&s.to_query(), &SasAuthority::blob_canonical("c"), "r"),
            Err(SasDenied::Authentication(_))
        ));
    }
}

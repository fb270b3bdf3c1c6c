//! Sign-in failures as a person can act on them: Entra's AADSTS code (from `error_codes`, or
//! the `AADSTSnnnnn:` the description starts with) mapped to what went wrong and the fix
//! (reference signin.md §3.4, §4.2). The service's description is appended only as detail.

use super::flows::Flows;
use super::AuthError;
use oauth2::{HttpClientError, RequestTokenError};
use serde::{Deserialize, Serialize};

/// Entra's error body; other providers send the RFC 6749 subset.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EntraErrorResponse {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u64>,
}

impl std::fmt::Display for EntraErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl oauth2::ErrorResponse for EntraErrorResponse {}

fn aadsts(description: Option<&str>) -> Option<u64> {
    let d = description?.trim_start();
    let rest = d.strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The first line of a description, without Entra's trace lines.
fn detail(description: Option<&str>) -> String {
    let d = description
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .trim();
    let d = d.split(" Trace ID:").next().unwrap_or(d);
    crate::secrets::redact(d)
}

/// Codes that mean a refresh token can no longer be used: sign in again.
const STALE_GRANT: [u64; 6] = [50173, 70008, 700082, 70043, 50078, 700084];

fn explain(
    error: &str,
    code: Option<u64>,
    description: Option<&str>,
    f: Option<&Flows>,
    user: Option<&str>,
) -> AuthError {
    let client = f.map(|f| f.client_id.as_str()).unwrap_or("the app");
    let tenant = f
        .map(|f| f.endpoints.tenant.as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or("the tenant");
    let who = user.unwrap_or("the account");
    let d = detail(description);
    let config = |m: String| AuthError::config(m);
    match code {
        Some(50076) | Some(50079) | Some(50072) | Some(50074) | Some(50158) => config(format!(
            "{who} must use multi-factor authentication, which password sign-in cannot do: sign in with --auth device-code or --auth browser (Register-SPMTMigration -DeviceLogin / -Interactive), or app-only with --auth certificate"
        )),
        Some(50126) => config(format!(
            "wrong username or password for {who}: check both (the password comes from SPMT_PASSWORD, the PSCredential, or the prompt)"
        )),
        Some(50034) => config(format!(
            "{who} is not an account of tenant {tenant}: check the username, and --tenant if you gave one"
        )),
        Some(53003) | Some(530035) | Some(53000) | Some(53001) => config(format!(
            "sign-in for {who} was blocked by the tenant's Conditional Access policy (password sign-in counts as legacy authentication): use --auth browser or --auth device-code, or ask the tenant admin ({d})"
        )),
        Some(7000218) => config(format!(
            "the app registration {client} does not allow public client flows, which device code and password sign-in need: in the Entra admin center open App registrations > {client} > Authentication and set 'Allow public client flows' to Yes (or sign in with --auth certificate or --auth browser)"
        )),
        Some(700016) => config(format!(
            "there is no app registration {client} in tenant {tenant}: check --client-id (SPMT_CLIENT_ID) and --tenant; `spmt app manifest` prints the registration spmt needs"
        )),
        Some(90002) | Some(90038) => config(format!(
            "tenant {tenant} was not found in this cloud: check --tenant, and --cloud for a government or China tenant ({d})"
        )),
        Some(9001023) | Some(90124) | Some(90130) => config(format!(
            "password sign-in needs a tenant, not 'common': give --tenant with the tenant id or domain ({d})"
        )),
        Some(700027) | Some(50012) | Some(50027) | Some(50013) | Some(700024) | Some(5002738) => config(format!(
            "the certificate sign-in of app {client} was refused: {d}; check that this certificate is uploaded under the app registration's Certificates & secrets, and that the machine's clock is right"
        )),
        Some(7000215) | Some(7000222) => config(
            "SharePoint does not accept app-only tokens obtained with a client secret: sign in app-only with a certificate (--auth certificate --certificate-path …)".into(),
        ),
        Some(65001) | Some(65004) => config(format!(
            "the app {client} has no consent for SharePoint in tenant {tenant}: a tenant admin grants it once (Entra admin center > App registrations > {client} > API permissions > Grant admin consent) ({d})"
        )),
        Some(50055) | Some(50144) => config(format!("the password of {who} has expired: change it, then sign in again")),
        Some(50057) => config(format!("the account {who} is disabled: ask the tenant admin")),
        Some(50053) => config(format!("the account {who} is locked (too many attempts, or a sign-in from a blocked IP): wait, or ask the tenant admin")),
        Some(500011) | Some(70011) => config(format!("the sign-in service refused the SharePoint scope: {d}; check --target-site-url (and --scope if you gave one)")),
        Some(c) if STALE_GRANT.contains(&c) => AuthError::stale(format!(
            "the saved sign-in is no longer valid (revoked, expired or a fresh sign-in is required): sign in again with spmt login, or run interactively ({d})"
        )),
        _ if error == "invalid_grant" && user.is_none() && description.is_none_or(|d| !d.contains("AADSTS")) => AuthError::stale(format!(
            "the sign-in was refused ({error}): sign in again with spmt login"
        )),
        _ if error == "interaction_required" => AuthError::stale(
            "the tenant requires a fresh interactive sign-in: run spmt login, or use --auth browser / device-code".into(),
        ),
        _ if error == "invalid_client" => config(format!(
            "the sign-in service refused the app {client} ({error}: {d}): check --client-id, and that the app allows this flow"
        )),
        _ => AuthError::failed(format!("sign-in failed: {error}{}", if d.is_empty() { String::new() } else { format!(": {d}") })),
    }
}

/// Codes that, on a refresh, mean a person must sign in again (MFA, Conditional Access).
const NEEDS_INTERACTION: [u64; 8] = [50076, 50079, 50072, 50074, 50158, 53003, 530035, 53000];

pub fn from_token_error(
    e: RequestTokenError<HttpClientError<reqwest::Error>, EntraErrorResponse>,
    f: &Flows,
    user: Option<&str>,
    refreshing: bool,
) -> AuthError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let code = r
                .error_codes
                .first()
                .copied()
                .or_else(|| aadsts(r.error_description.as_deref()));
            let e = explain(
                &r.error,
                code,
                r.error_description.as_deref(),
                Some(f),
                user,
            );
            if refreshing
                && (r.error == "interaction_required"
                    || code.is_some_and(|c| NEEDS_INTERACTION.contains(&c)))
            {
                // The saved grant needs a person now: sign in again interactively.
                return AuthError::stale(e.message);
            }
            e
        }
        RequestTokenError::Request(e) => AuthError::failed(format!(
            "cannot reach the sign-in service {}: {}",
            f.endpoints.authority,
            crate::secrets::redact(&error_chain(&e))
        )),
        RequestTokenError::Parse(_, body) => AuthError::failed(format!(
            "the sign-in service {} answered something that is not a token response ({} bytes)",
            f.endpoints.authority,
            body.len()
        )),
        RequestTokenError::Other(m) => AuthError::failed(format!(
            "the sign-in service {} answered unexpectedly: {}",
            f.endpoints.authority,
            crate::secrets::redact(&m)
        )),
    }
}

pub fn from_device_error(
    e: RequestTokenError<HttpClientError<reqwest::Error>, oauth2::DeviceCodeErrorResponse>,
) -> AuthError {
    use oauth2::DeviceCodeErrorResponseType as T;
    match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            T::AccessDenied => AuthError::config("the device code sign-in was declined: run again and approve it, or sign in another way".into()),
            T::ExpiredToken => AuthError::config("the device code expired before anyone signed in with it: run again and enter the new code within its time".into()),
            T::Basic(oauth2::basic::BasicErrorResponseType::Extension(x)) if x == "authorization_declined" => AuthError::config("the device code sign-in was declined: run again and approve it, or sign in another way".into()),
            T::Basic(oauth2::basic::BasicErrorResponseType::Extension(x)) if x == "code_expired" => AuthError::config("the device code expired before anyone signed in with it: run again and enter the new code within its time".into()),
            other => {
                let d = r.error_description().map(String::as_str);
                explain(&format!("{other:?}"), aadsts(d), d, None, None)
            }
        },
        RequestTokenError::Request(e) => AuthError::failed(format!(
            "cannot reach the sign-in service while waiting for the device code: {}",
            crate::secrets::redact(&error_chain(&e))
        )),
        other => AuthError::failed(format!("device code sign-in failed: {}", crate::secrets::redact(&other.to_string()))),
    }
}

pub fn from_authorize_error(error: &str, description: Option<&str>) -> AuthError {
    if error == "access_denied" && aadsts(description).is_none_or(|c| c == 65004) {
        return AuthError::config(format!(
            "the browser sign-in was declined ({}): run again and accept, or sign in another way",
            detail(description)
        ));
    }
    explain(error, aadsts(description), description, None, None)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_error_codes_or_the_description() {
        assert_eq!(
            aadsts(Some("AADSTS50126: Error validating credentials")),
            Some(50126)
        );
        assert_eq!(aadsts(Some("no code")), None);
        let e = explain("invalid_grant", Some(50076), None, None, Some("u@x"));
        assert!(
            e.message.contains("--auth device-code") && e.message.contains("u@x"),
            "{}",
            e.message
        );
        assert!(explain("invalid_grant", Some(50173), None, None, None).stale);
        let unknown = explain(
            "weird",
            None,
            Some("AADSTS1: something\r\nTrace ID: x"),
            None,
            None,
        );
        assert_eq!(unknown.message, "sign-in failed: weird: AADSTS1: something");
    }
}

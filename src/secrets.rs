//! Redaction of secrets in anything a person may read: logs, errors, reports, events.
//!
//! SAS signatures (`sig=`), bearer tokens, AES keys in JSON bodies, OAuth secrets (tokens,
//! assertions, passwords, codes and verifiers in form or JSON fields) and anything shaped like
//! a JWT are replaced. Callers pass
//! every URL or message that may carry one through [`redact`]; the log writer does it again at the
//! formatting layer so a missed call site still leaks nothing.

const MASK: &str = "REDACTED";

/// Replaces secret values in `text`.
pub fn redact(text: &str) -> String {
    let mut out = mask_after(text, "sig=", |c| {
        c == '&' || c == '"' || c == '\'' || c.is_whitespace() || c == ')' || c == '>'
    });
    for prefix in ["Bearer ", "bearer "] {
        out = mask_after(&out, prefix, |c| {
            c.is_whitespace() || c == '"' || c == '\'' || c == ','
        });
    }
    for key in [
        "\"AES256CBCKey\":\"",
        "\"EncryptionKey\":\"",
        "AccountKey=",
        "accountkey=",
    ] {
        out = mask_after(&out, key, |c| c == '"' || c == ';');
    }
    for field in OAUTH_FIELDS {
        out = mask_json_field(&out, field);
        for sep in ['?', '&'] {
            out = mask_after(&out, &format!("{sep}{field}="), |c| {
                c == '&' || c == '"' || c == '\'' || c.is_whitespace()
            });
        }
    }
    mask_jwts(&out)
}

/// Masks the string value of the JSON member `field`, whatever its case and the spacing around
/// the colon (`"Password" : "x"` as well as `"password":"x"`).
fn mask_json_field(text: &str, field: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let key = format!("\"{field}\"");
    if !lower.contains(&key) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(&key) {
        let after_key = at + found + key.len();
        out.push_str(&text[at..after_key]);
        let rest = &text[after_key..];
        let colon = rest.len() - rest.trim_start().len();
        let after_colon = match rest[colon..].strip_prefix(':') {
            Some(r) => r,
            None => {
                at = after_key;
                continue;
            }
        };
        let space = after_colon.len() - after_colon.trim_start().len();
        let value = &after_colon[space..];
        let Some(inner) = value.strip_prefix('"') else {
            at = after_key;
            continue;
        };
        let end = inner.find('"').unwrap_or(inner.len());
        let prefix_len = colon + 1 + space + 1;
        out.push_str(&rest[..prefix_len]);
        if end > 0 {
            out.push_str(MASK);
        }
        at = after_key + prefix_len + end;
    }
    out.push_str(&text[at..]);
    out
}

/// OAuth request and response fields that carry secrets (reference signin.md §7.3).
const OAUTH_FIELDS: [&str; 12] = [
    "accesstoken",
    "certificatepassword",
    "access_token",
    "refresh_token",
    "id_token",
    "client_assertion",
    "client_secret",
    "password",
    "code",
    "device_code",
    "code_verifier",
    "assertion",
];

/// Replaces every `eyJ….….…` (a JWT: base64url JSON header, payload, signature).
fn mask_jwts(text: &str) -> String {
    if !text.contains("eyJ") {
        return text.to_string();
    }
    let jwt_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("eyJ") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        let len = after.find(|c: char| !jwt_char(c)).unwrap_or(after.len());
        let candidate = &after[..len];
        if candidate.matches('.').count() >= 2 && len > 20 {
            out.push_str(MASK);
        } else {
            out.push_str(candidate);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn mask_after(text: &str, marker: &str, end: impl Fn(char) -> bool) -> String {
    if !text.contains(marker) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        out.push_str(&rest[..pos + marker.len()]);
        let after = &rest[pos + marker.len()..];
        let stop = after.find(|c: char| end(c)).unwrap_or(after.len());
        if stop > 0 {
            out.push_str(MASK);
        }
        rest = &after[stop..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn sas_signatures_tokens_and_keys_are_masked() {
        let s = redact(
            "PUT http://h/c/b?sv=1&sig=abc%2Bdef&sp=rw failed; Authorization: Bearer eyJ0.x.y",
        );
        assert!(!s.contains("abc%2Bdef") && !s.contains("eyJ0"), "{s}");
        assert!(s.contains("sig=REDACTED&sp=rw"), "{s}");
        let j = redact(r#"{"AES256CBCKey":"c2VjcmV0","x":1}"#);
        assert_eq!(j, r#"{"AES256CBCKey":"REDACTED","x":1}"#);
        assert_eq!(redact("nothing here"), "nothing here");
        let cs = redact("DefaultEndpointsProtocol=http;AccountName=a;AccountKey=Eby8vd+M0/2x==;BlobEndpoint=http://h");
        assert_eq!(
            cs,
            "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=REDACTED;BlobEndpoint=http://h"
        );
    }

    #[test]
    fn oauth_secrets_and_jwts_are_masked() {
        let form = redact("grant_type=password&username=u&password=hunter2&client_id=c");
        assert_eq!(
            form,
            "grant_type=password&username=u&password=REDACTED&client_id=c"
        );
        let back = redact("http://localhost:5/?code=abc123&state=s");
        assert_eq!(back, "http://localhost:5/?code=REDACTED&state=s");
        let j = redact(r#"{"refresh_token":"0.AAA","expires_in":5,"id_token":"x"}"#);
        assert_eq!(
            j,
            r#"{"refresh_token":"REDACTED","expires_in":5,"id_token":"REDACTED"}"#
        );
        let jwt = redact("token eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl refused");
        assert_eq!(jwt, "token REDACTED refused");
        assert_eq!(redact("error code=5 at eyJ"), "error code=5 at eyJ");
        assert_eq!(
            redact(r#"{"Password" : "hunter2", "Username":"u", "CertificatePassword":"p"}"#),
            r#"{"Password" : "REDACTED", "Username":"u", "CertificatePassword":"REDACTED"}"#
        );
    }
}

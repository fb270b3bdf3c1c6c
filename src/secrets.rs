//! Redaction of secrets in anything a person may read: logs, errors, reports, events.
//!
//! SAS signatures (`sig=`), bearer tokens and AES keys in JSON bodies are replaced. Callers pass
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
}

//! Where to sign in for a site: the cloud from the SharePoint host suffix, the tenant from
//! SharePoint's `WWW-Authenticate` realm, and the Entra endpoints built from both (reference
//! signin.md §1). Overrides: `--cloud`, `--tenant`, `--authority-host`, or explicit endpoints
//! for a provider that is not Entra. A login host that is not https is refused unless it is
//! loopback, before any connection is made.

use super::{AuthError, SignIn};
use std::net::IpAddr;
use url::Url;

/// The national clouds and their login hosts (reference signin.md §1.3).
const CLOUDS: &[(&str, &[&str], &str)] = &[
    (
        "public",
        &[".sharepoint.com"],
        "https://login.microsoftonline.com",
    ),
    ("gcc", &[], "https://login.microsoftonline.com"),
    (
        "gcchigh",
        &[".sharepoint.us"],
        "https://login.microsoftonline.us",
    ),
    (
        "dod",
        &[".dps.mil", ".sharepoint-mil.us"],
        "https://login.microsoftonline.us",
    ),
    (
        "china",
        &[".sharepoint.cn"],
        "https://login.partner.microsoftonline.cn",
    ),
];

/// The endpoints of one sign-in authority.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub token: Url,
    pub device: Option<Url>,
    pub authorize: Option<Url>,
    /// The tenant the endpoints are for (empty with explicit endpoints).
    pub tenant: String,
    /// The login host (for cache keys and messages).
    pub authority: String,
    /// Entra ID (its own parameters, such as `prompt=select_account`, may be sent).
    pub entra: bool,
}

pub fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a).is_loopback(),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a).is_loopback(),
        None => false,
    }
}

/// Refuses a sign-in URL that would send secrets in the clear to another machine.
fn check_secure(what: &str, s: &str) -> Result<Url, AuthError> {
    let u =
        Url::parse(s).map_err(|e| AuthError::config(format!("{what} '{s}' is not a URL: {e}")))?;
    match u.scheme() {
        "https" => Ok(u),
        "http" if is_loopback(&u) => Ok(u),
        _ => Err(AuthError::config(format!(
            "{what} '{s}' is not https: passwords, codes and tokens would cross the network unencrypted; use an https URL (plain http is allowed only on loopback, for the local target)"
        ))),
    }
}

/// The cloud a SharePoint host belongs to, by suffix.
pub fn cloud_of_host(host: &str) -> Option<&'static str> {
    let h = host.to_ascii_lowercase();
    CLOUDS
        .iter()
        .find(|(_, suffixes, _)| suffixes.iter().any(|s| h.ends_with(s)))
        .map(|(name, _, _)| *name)
}

fn login_host_of(cloud: &str) -> Result<&'static str, AuthError> {
    let c = cloud.to_ascii_lowercase().replace(['-', '_', ' '], "");
    let c = match c.as_str() {
        "worldwide" | "global" | "azurecloud" | "production" => "public",
        "usgov" | "gccmoderate" => "gcc",
        "usgovhigh" => "gcchigh",
        "usgovdod" => "dod",
        "azurechinacloud" | "21vianet" => "china",
        other => other,
    };
    CLOUDS
        .iter()
        .find(|(name, _, _)| *name == c)
        .map(|(_, _, login)| *login)
        .ok_or_else(|| {
            AuthError::config(format!(
                "--cloud {cloud}: use public, gcc, gcchigh, dod or china"
            ))
        })
}

/// What SharePoint's 401 challenge says: the tenant (realm) and where to sign in.
#[derive(Debug, Default, Clone)]
pub struct Challenge {
    pub realm: Option<String>,
    pub authorization_uri: Option<String>,
}

/// Parses `Bearer realm="…",client_id="…",authorization_uri="…"`.
pub fn parse_challenge(h: &str) -> Challenge {
    let field = |name: &str| {
        let lower = h.to_ascii_lowercase();
        let at = lower.find(&format!("{name}=\""))? + name.len() + 2;
        let end = h[at..].find('"')?;
        Some(h[at..at + end].to_string()).filter(|s| !s.is_empty())
    };
    Challenge {
        // PnP and node-sp-auth accept only a GUID (reference signin.md §1.1).
        realm: field("realm").filter(|r| uuid::Uuid::parse_str(r).is_ok()),
        authorization_uri: field("authorization_uri"),
    }
}

/// Asks the site, without a token, for its challenge.
pub async fn challenge(http: &reqwest::Client, site_url: &str) -> Result<Challenge, AuthError> {
    let url = format!("{}/_vti_bin/client.svc", site_url.trim_end_matches('/'));
    let resp = http
        .get(&url)
        .header("Authorization", "Bearer ")
        .send()
        .await
        .map_err(|e| {
            AuthError::failed(format!(
                "cannot reach {site_url} to find its tenant: {}",
                crate::secrets::redact(&e.to_string())
            ))
        })?;
    Ok(resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(parse_challenge)
        .unwrap_or_default())
}

/// The endpoints for `site_url` under `s`, asking the site for its tenant when it is not given.
pub async fn endpoints(
    http: &reqwest::Client,
    s: &SignIn,
    site_url: &str,
) -> Result<Endpoints, AuthError> {
    if let Some(token) = &s.token_endpoint {
        let opt = |what: &str, v: &Option<String>| {
            v.as_deref().map(|u| check_secure(what, u)).transpose()
        };
        return Ok(Endpoints {
            token: check_secure("--token-endpoint", token)?,
            device: opt("--device-endpoint", &s.device_endpoint)?,
            authorize: opt("--authorize-endpoint", &s.authorize_endpoint)?,
            tenant: s.tenant.clone().unwrap_or_default(),
            authority: token.clone(),
            entra: false,
        });
    }
    let site = Url::parse(site_url).map_err(|e| {
        AuthError::config(format!("--target-site-url '{site_url}' is not a URL: {e}"))
    })?;
    let host = site.host_str().unwrap_or("").to_string();
    // The authority: given, or the cloud's (given or from the host suffix); checked before
    // anything is sent.
    let mut authority = match (&s.authority_host, &s.cloud) {
        (Some(a), _) => Some(
            check_secure("--authority-host", a)?
                .as_str()
                .trim_end_matches('/')
                .to_string(),
        ),
        (None, Some(c)) => Some(login_host_of(c)?.to_string()),
        (None, None) => cloud_of_host(&host)
            .map(|c| login_host_of(c).map(str::to_string))
            .transpose()?,
    };
    let mut tenant = s.tenant.clone();
    if tenant.is_none() || authority.is_none() {
        let ch = challenge(http, site_url).await?;
        if tenant.is_none() {
            tenant = ch.realm.clone();
        }
        if authority.is_none() && is_loopback(&site) {
            // A local target names its own sign-in service; trusted only when it is on the
            // same origin as the site (never a password sent where a site merely points).
            if let Some(a) = ch
                .authorization_uri
                .as_deref()
                .and_then(|a| Url::parse(a).ok())
            {
                if a.origin() == site.origin() {
                    let path = a.path();
                    let base = path
                        .find("/common/")
                        .or_else(|| path.find("/organizations/"))
                        .map(|i| &path[..i])
                        .unwrap_or("");
                    authority = Some(format!("{}{}", a.origin().ascii_serialization(), base));
                }
            }
        }
    }
    let authority = authority.ok_or_else(|| {
        AuthError::config(format!(
            "cannot tell which cloud {host} is in: give --cloud (public, gcc, gcchigh, dod, china) or --authority-host"
        ))
    })?;
    let tenant = tenant.ok_or_else(|| {
        AuthError::config(format!(
            "{site_url} did not name its tenant (no realm in its WWW-Authenticate challenge): give --tenant with the tenant id or domain (e.g. contoso.onmicrosoft.com)"
        ))
    })?;
    let at = |p: &str| {
        Url::parse(&format!("{authority}/{tenant}/oauth2/v2.0/{p}"))
            .map_err(|e| AuthError::config(format!("--tenant '{tenant}': {e}")))
    };
    Ok(Endpoints {
        token: at("token")?,
        device: Some(at("devicecode")?),
        authorize: Some(at("authorize")?),
        tenant,
        authority,
        entra: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_follow_the_host_suffix() {
        assert_eq!(cloud_of_host("contoso.sharepoint.com"), Some("public"));
        assert_eq!(
            cloud_of_host("Contoso-Admin.SharePoint.us"),
            Some("gcchigh")
        );
        assert_eq!(cloud_of_host("contoso.dps.mil"), Some("dod"));
        assert_eq!(cloud_of_host("contoso.sharepoint-mil.us"), Some("dod"));
        assert_eq!(cloud_of_host("contoso.sharepoint.cn"), Some("china"));
        assert_eq!(cloud_of_host("intranet.example"), None);
        assert_eq!(
            login_host_of("GCC-High").unwrap(),
            "https://login.microsoftonline.us"
        );
        assert!(login_host_of("mars").is_err());
    }

    #[test]
    fn the_realm_is_read_from_sharepoints_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="6c482541-7a1b-4d45-9f0e-2b1d3c4e5f60",client_id="00000003-0000-0ff1-ce00-000000000000",trusted_issuers="00000001-0000-0000-c000-000000000000@*",authorization_uri="https://login.windows.net/common/oauth2/authorize""#,
        );
        assert_eq!(
            c.realm.as_deref(),
            Some("6c482541-7a1b-4d45-9f0e-2b1d3c4e5f60")
        );
        assert_eq!(
            c.authorization_uri.as_deref(),
            Some("https://login.windows.net/common/oauth2/authorize")
        );
        assert!(parse_challenge(r#"Bearer realm="spmt-emulator""#)
            .realm
            .is_none());
    }

    #[test]
    fn plain_http_is_refused_unless_loopback() {
        assert!(check_secure("x", "http://login.example.com").is_err());
        assert!(check_secure("x", "ftp://127.0.0.1").is_err());
        assert!(check_secure("x", "http://127.0.0.1:9/login").is_ok());
        assert!(check_secure("x", "http://localhost:9").is_ok());
        assert!(check_secure("x", "https://login.microsoftonline.com").is_ok());
    }
}

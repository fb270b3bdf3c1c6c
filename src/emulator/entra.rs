//! The local target's sign-in service: an Entra ID personality at `{base}/login/{tenant}/…`
//! (reference signin.md §9.2), so every sign-in flow is tested end to end without a tenant.
//!
//! It serves the OpenID configuration and JWKS, `devicecode`, `authorize` (auto-consent as the
//! configured user, with PKCE) and `token` for the device code, password, authorization code,
//! refresh (rotating) and client credentials (certificate assertion verified) grants, answering
//! errors in Entra's shape with its AADSTS codes. Users carry personas (MFA required, blocked by
//! policy, consent declined) so the client's handling of each is tested. Tokens are RS256 JWTs
//! the SharePoint side validates ([`Entra::validate`]); tokens from other issuers it is told to
//! trust (an independent OpenID provider) are validated against their JWKS.
//!
//! Test hooks (loopback only, like the rest of the local target): `POST /login/_emulator/device`
//! approves or declines a device code, `POST /login/_emulator/revoke` revokes a user's refresh
//! tokens.

use super::server::{body_bytes, empty, query_map, Body};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::{Response, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use once_cell::sync::Lazy;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The local tenant's id: the `realm` SharePoint's challenge names.
pub const LOCAL_TENANT_ID: &str = "6c482541-7a1b-4d45-9f0e-2b1d3c4e5f60";
pub const LOCAL_TENANT_DOMAIN: &str = "local.onmicrosoft.com";
/// The app registration the local tenant has from the start: public client flows on,
/// `http://localhost` as its redirect URI.
pub const LOCAL_CLIENT_ID: &str = "8d1f6a53-2b7c-4e0a-9c3d-5e6f7a8b9c0d";
/// The local tenant's first user (site collection admin).
pub const LOCAL_ADMIN: &str = "admin@local.onmicrosoft.com";
/// Their password: the local target is reachable on loopback only and holds nothing secret.
pub const LOCAL_ADMIN_PASSWORD: &str = "local-admin-password";
/// SharePoint's resource app id (the `client_id` in its challenge, an accepted `aud`).
pub const SHAREPOINT_PRINCIPAL: &str = "00000003-0000-0ff1-ce00-000000000000";
/// The delegated permission a user's token carries, and the application role an app-only one.
pub const DELEGATED_PERMISSION: &str = "AllSites.FullControl";
pub const APP_ROLE: &str = "Sites.FullControl.All";

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];
/// Other resources the tenant issues tokens for (a Graph token sent to SharePoint is the
/// classic wrong-audience mistake).
const OTHER_RESOURCES: [&str; 1] = ["https://graph.microsoft.com"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Persona {
    #[default]
    Normal,
    /// Conditional Access asks for MFA: password sign-in fails with AADSTS50076.
    MfaRequired,
    /// Blocked by Conditional Access / security defaults: AADSTS53003.
    BlockedByPolicy,
    /// Declines consent in the browser: `authorize` redirects with `access_denied`.
    DeclinesConsent,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EntraUser {
    pub username: String,
    pub password: String,
    pub persona: Persona,
    /// Site collection admin on every site (the Migration API needs it).
    pub site_admin: bool,
}

impl Default for EntraUser {
    fn default() -> Self {
        EntraUser {
            username: LOCAL_ADMIN.into(),
            password: LOCAL_ADMIN_PASSWORD.into(),
            persona: Persona::Normal,
            site_admin: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EntraApp {
    pub client_id: String,
    /// "Allow public client flows" (device code, password): off gives AADSTS7000218.
    pub public_client: bool,
    /// Certificates (PEM or DER files) registered for app-only sign-in.
    pub certificates: Vec<PathBuf>,
    /// Redirect URIs; a loopback one matches any port (reference signin.md §5).
    pub redirect_uris: Vec<String>,
}

impl Default for EntraApp {
    fn default() -> Self {
        EntraApp {
            client_id: LOCAL_CLIENT_ID.into(),
            public_client: true,
            certificates: Vec::new(),
            redirect_uris: vec!["http://localhost".into()],
        }
    }
}

/// Another issuer whose tokens the SharePoint side accepts (an independent OpenID provider).
#[derive(Debug, Clone, Deserialize)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub jwks_uri: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EntraConfig {
    pub tenant_id: String,
    pub tenant_domain: String,
    pub apps: Vec<EntraApp>,
    pub users: Vec<EntraUser>,
    /// Access token lifetime (Entra's default is about an hour); short ones test refreshing.
    pub token_lifetime_secs: u64,
    /// Who signs in at `authorize` when the request has no `login_hint`.
    pub interactive_user: String,
    /// Device codes expire after this long (Entra: 900 s).
    pub device_code_lifetime_secs: u64,
    /// Poll interval a device code asks for (Entra: 5 s).
    pub device_poll_interval_secs: u64,
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// Off: no sign-in service, and only the configured static token is accepted (the
    /// embedded local target, which signs itself in with a one-off token).
    pub enabled: bool,
}

impl Default for EntraConfig {
    fn default() -> Self {
        EntraConfig {
            tenant_id: LOCAL_TENANT_ID.into(),
            tenant_domain: LOCAL_TENANT_DOMAIN.into(),
            apps: vec![EntraApp::default()],
            users: vec![EntraUser::default()],
            token_lifetime_secs: 3600,
            interactive_user: LOCAL_ADMIN.into(),
            device_code_lifetime_secs: 900,
            device_poll_interval_secs: 5,
            trusted_issuers: Vec::new(),
            enabled: true,
        }
    }
}

/// A registered certificate, read here on its own (not with the client's code, so a mistake in
/// either side's thumbprints or key reading shows up as a refused sign-in).
#[derive(Clone)]
struct Certificate {
    der: Vec<u8>,
}

impl Certificate {
    fn read(bytes: Vec<u8>) -> Self {
        let der = pem::parse_many(&bytes)
            .ok()
            .and_then(|blocks| blocks.into_iter().find(|b| b.tag() == "CERTIFICATE"))
            .map(|b| b.into_contents())
            .unwrap_or(bytes);
        Certificate { der }
    }
    fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha1_smol::Sha1::from(&self.der).digest().bytes())
    }
    fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.der))
    }
    fn parsed<T>(
        &self,
        f: impl FnOnce(&x509_parser::certificate::X509Certificate) -> T,
    ) -> Result<T, String> {
        x509_parser::parse_x509_certificate(&self.der)
            .map(|(_, c)| f(&c))
            .map_err(|e| format!("not an X.509 certificate: {e}"))
    }
    fn validity(&self) -> Result<(i64, i64), String> {
        self.parsed(|c| {
            (
                c.validity().not_before.timestamp(),
                c.validity().not_after.timestamp(),
            )
        })
    }
    fn rsa_public_key(&self) -> Result<RsaPublicKey, String> {
        use rsa::pkcs8::DecodePublicKey;
        let spki = self.parsed(|c| c.public_key().raw.to_vec())?;
        RsaPublicKey::from_public_key_der(&spki).map_err(|e| format!("not an RSA key: {e}"))
    }
}

fn decoding_key(key: &RsaPublicKey) -> jsonwebtoken::DecodingKey {
    jsonwebtoken::DecodingKey::from_rsa_raw_components(
        &key.n().to_bytes_be(),
        &key.e().to_bytes_be(),
    )
}

/// The key this process signs tokens with: made once (an RSA key takes a moment to make),
/// published in every local tenant's JWKS.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public: RsaPublicKey,
}

static SIGNING: Lazy<SigningKey> = Lazy::new(|| {
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key generation");
    let public = RsaPublicKey::from(&key);
    let der = key.to_pkcs1_der().expect("PKCS#1 encoding");
    SigningKey {
        kid: URL_SAFE_NO_PAD.encode(&Sha256::digest(public.n().to_bytes_be())[..12]),
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        public,
    }
});

struct Device {
    user_code: String,
    client_id: String,
    scopes: Vec<String>,
    expires: Instant,
    interval: Duration,
    last_poll: Option<Instant>,
    verdict: Option<Result<String, ()>>,
}

struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    user: String,
    scopes: Vec<String>,
    expires: Instant,
    used: bool,
}

struct Refresh {
    client_id: String,
    user: String,
    scopes: Vec<String>,
}

#[derive(Default)]
struct State {
    devices: HashMap<String, Device>,
    codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, Refresh>,
    revoked_users: HashSet<String>,
    jtis: HashSet<String>,
}

/// Who a validated token speaks for.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub site_admin: bool,
}

pub(crate) struct Entra {
    cfg: EntraConfig,
    certificates: HashMap<String, Vec<Certificate>>,
    state: Mutex<State>,
    jwks_cache: Mutex<HashMap<String, (Instant, jsonwebtoken::jwk::JwkSet)>>,
}

/// An error answer, boxed (it is large and rare).
type Refusal = Box<Response<Body>>;

/// Entra's error body: `error`, `error_description` starting `AADSTSnnnnn:`, `error_codes`
/// and the trace fields (reference signin.md §9.2 item 5).
pub fn entra_error(status: StatusCode, error: &str, code: u32, text: &str) -> Response<Body> {
    let trace = Uuid::new_v4();
    let v = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {trace} Timestamp: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    json(status, &v)
}

fn json(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(body_bytes(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut().insert(
        "cache-control",
        hyper::header::HeaderValue::from_static("no-store, no-cache"),
    );
    r
}

fn random(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A loopback redirect URI matches a registered one whatever its port (RFC 8252, Entra's
/// reply-URL rules); otherwise the match is exact, up to a trailing slash.
fn redirect_matches(registered: &str, given: &str) -> bool {
    let trim = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    if trim(registered) == trim(given) {
        return true;
    }
    match (url::Url::parse(registered), url::Url::parse(given)) {
        (Ok(r), Ok(g)) => {
            let loopback = matches!(r.host_str(), Some("localhost") | Some("127.0.0.1"));
            loopback
                && r.scheme() == "http"
                && g.scheme() == "http"
                && r.host_str() == g.host_str()
                && r.path().trim_end_matches('/') == g.path().trim_end_matches('/')
        }
        _ => false,
    }
}

impl Entra {
    pub fn new(cfg: EntraConfig) -> Result<Self, String> {
        let mut certificates = HashMap::new();
        for app in &cfg.apps {
            let mut certs = Vec::new();
            for p in &app.certificates {
                let bytes = std::fs::read(p).map_err(|e| {
                    format!("app {}: certificate {}: {e}", app.client_id, p.display())
                })?;
                let c = Certificate::read(bytes);
                c.rsa_public_key().map_err(|e| {
                    format!("app {}: certificate {}: {e}", app.client_id, p.display())
                })?;
                certs.push(c);
            }
            certificates.insert(app.client_id.to_ascii_lowercase(), certs);
        }
        Ok(Entra {
            cfg,
            certificates,
            state: Mutex::new(State::default()),
            jwks_cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn tenant_id(&self) -> &str {
        &self.cfg.tenant_id
    }

    fn issuer(&self, base: &str) -> String {
        format!("{base}/login/{}/v2.0", self.cfg.tenant_id)
    }

    fn app(&self, client_id: &str) -> Option<&EntraApp> {
        self.cfg
            .apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    fn user(&self, name: &str) -> Option<&EntraUser> {
        self.cfg
            .users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(name))
    }

    /// The tenant a path segment names: the id, the domain, or an alias (`common`,
    /// `organizations`) given back as such.
    fn tenant_ok(&self, t: &str) -> bool {
        t.eq_ignore_ascii_case(&self.cfg.tenant_id)
            || t.eq_ignore_ascii_case(&self.cfg.tenant_domain)
            || t.eq_ignore_ascii_case("common")
            || t.eq_ignore_ascii_case("organizations")
    }

    /// `rest` is the path after `/login`.
    pub async fn handle(
        &self,
        base: &str,
        method: &hyper::Method,
        rest: &str,
        query: &str,
        body: &[u8],
    ) -> Response<Body> {
        if !self.cfg.enabled {
            return entra_error(
                StatusCode::NOT_FOUND,
                "invalid_request",
                900561,
                "This local target has no sign-in service (it signs itself in).",
            );
        }
        let form: HashMap<String, String> = if method == hyper::Method::POST {
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        } else {
            query_map(query)
        };
        let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
        if segs.first() == Some(&"_emulator") {
            return self.hook(segs.get(1).copied().unwrap_or(""), &form);
        }
        let Some(tenant) = segs.first().copied().filter(|t| !t.is_empty()) else {
            return entra_error(
                StatusCode::NOT_FOUND,
                "invalid_request",
                90002,
                "No tenant in the path: use /login/{tenant}/oauth2/v2.0/….",
            );
        };
        if !self.tenant_ok(tenant) {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_tenant",
                90002,
                &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            );
        }
        let tail = segs[1..].join("/").to_ascii_lowercase();
        match (method.as_str(), tail.as_str()) {
            ("GET", "v2.0/.well-known/openid-configuration") => {
                self.openid_configuration(base, tenant)
            }
            ("GET", "discovery/v2.0/keys") => json(StatusCode::OK, &self.jwks()),
            ("POST", "oauth2/v2.0/devicecode") => self.devicecode(base, &form),
            ("POST", "oauth2/v2.0/token") => self.token(base, tenant, &form),
            ("GET", "oauth2/v2.0/authorize") => self.authorize(&form),
            _ => entra_error(
                StatusCode::NOT_FOUND,
                "invalid_request",
                900561,
                &format!("The endpoint {method} /login/{tenant}/{tail} is not served."),
            ),
        }
    }

    fn openid_configuration(&self, base: &str, tenant: &str) -> Response<Body> {
        let t = &self.cfg.tenant_id;
        json(
            StatusCode::OK,
            &json!({
                "issuer": self.issuer(base),
                "authorization_endpoint": format!("{base}/login/{tenant}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{base}/login/{t}/oauth2/v2.0/token"),
                "device_authorization_endpoint": format!("{base}/login/{t}/oauth2/v2.0/devicecode"),
                "jwks_uri": format!("{base}/login/{t}/discovery/v2.0/keys"),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": "LOCAL",
                "cloud_instance_name": "local",
            }),
        )
    }

    fn jwks(&self) -> Value {
        let k = &*SIGNING;
        json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
            "n": URL_SAFE_NO_PAD.encode(k.public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(k.public.e().to_bytes_be()),
        }]})
    }

    fn hook(&self, what: &str, form: &HashMap<String, String>) -> Response<Body> {
        let mut st = self.state.lock().unwrap();
        match what {
            "device" => {
                let code = form.get("user_code").map(|c| c.to_ascii_uppercase());
                let user = form
                    .get("username")
                    .cloned()
                    .unwrap_or_else(|| self.cfg.interactive_user.clone());
                let approve = form.get("action").map(String::as_str) != Some("decline");
                // Without a user code: the most recent device code still waiting.
                let target = st
                    .devices
                    .values_mut()
                    .filter(|d| d.verdict.is_none())
                    .filter(|d| code.as_deref().is_none_or(|c| d.user_code == c))
                    .max_by_key(|d| d.expires);
                match target {
                    Some(d) => {
                        d.verdict = Some(if approve { Ok(user) } else { Err(()) });
                        json(StatusCode::OK, &json!({"user_code": d.user_code}))
                    }
                    None => json(
                        StatusCode::NOT_FOUND,
                        &json!({"error": "no device code is waiting"}),
                    ),
                }
            }
            "revoke" => {
                let user = form.get("username").cloned().unwrap_or_default();
                st.revoked_users.insert(user.to_ascii_lowercase());
                st.refresh
                    .retain(|_, r| !r.user.eq_ignore_ascii_case(&user));
                json(StatusCode::OK, &json!({"revoked": user}))
            }
            "pending" => {
                let codes: Vec<&str> = st
                    .devices
                    .values()
                    .filter(|d| d.verdict.is_none())
                    .map(|d| d.user_code.as_str())
                    .collect();
                json(StatusCode::OK, &json!({"user_codes": codes}))
            }
            _ => entra_error(
                StatusCode::NOT_FOUND,
                "invalid_request",
                900561,
                "Unknown test hook.",
            ),
        }
    }

    /// Client id and app, or Entra's error for a missing or unknown one.
    fn client<'a>(&'a self, form: &HashMap<String, String>) -> Result<&'a EntraApp, Refusal> {
        let Some(id) = form.get("client_id").filter(|c| !c.is_empty()) else {
            return Err(Box::new(entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )));
        };
        self.app(id).ok_or_else(|| {
            Box::new(entra_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                &format!("Application with identifier '{id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", self.cfg.tenant_domain),
            ))
        })
    }

    /// The requested scopes, checked: one resource (this SharePoint) and OIDC scopes.
    fn scopes(&self, base: &str, scope: Option<&String>) -> Result<Vec<String>, Refusal> {
        let scopes: Vec<String> = scope
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let resource: Vec<&String> = scopes
            .iter()
            .filter(|s| !OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str()))
            .collect();
        if resource.is_empty() {
            return Err(Box::new(entra_error(StatusCode::BAD_REQUEST, "invalid_scope", 70011, "The provided request must include a 'scope' input parameter naming a resource, e.g. https://contoso.sharepoint.com/.default.")));
        }
        for s in &resource {
            let (res, _) = s.rsplit_once('/').unwrap_or(("", s));
            let res = res.trim_end_matches('/');
            if !res.eq_ignore_ascii_case(base)
                && !OTHER_RESOURCES.iter().any(|o| o.eq_ignore_ascii_case(res))
            {
                return Err(Box::new(entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_resource",
                    500011,
                    &format!("The resource principal named {res} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", self.cfg.tenant_domain),
                )));
            }
        }
        Ok(scopes)
    }

    fn devicecode(&self, base: &str, form: &HashMap<String, String>) -> Response<Body> {
        let app = match self.client(form) {
            Ok(a) => a,
            Err(r) => return *r,
        };
        let scopes = match self.scopes(base, form.get("scope")) {
            Ok(s) => s,
            Err(r) => return *r,
        };
        let device_code = random(32);
        let user_code: String = {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            (0..9)
                .map(|_| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.gen_range(0..32)] as char)
                .collect()
        };
        let verification_uri = format!("{base}/login/device");
        let interval = self.cfg.device_poll_interval_secs;
        self.state.lock().unwrap().devices.insert(
            device_code.clone(),
            Device {
                user_code: user_code.clone(),
                client_id: app.client_id.clone(),
                scopes,
                expires: Instant::now() + Duration::from_secs(self.cfg.device_code_lifetime_secs),
                interval: Duration::from_secs(interval),
                last_poll: None,
                verdict: None,
            },
        );
        json(
            StatusCode::OK,
            &json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "expires_in": self.cfg.device_code_lifetime_secs,
                "interval": interval,
                "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
            }),
        )
    }

    fn authorize(&self, q: &HashMap<String, String>) -> Response<Body> {
        let app = match self.client(q) {
            Ok(a) => a,
            Err(r) => return *r,
        };
        let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
        if !app
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, &redirect))
        {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50011,
                &format!("The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{}'.", app.client_id),
            );
        }
        let state = q.get("state").cloned().unwrap_or_default();
        let to = |params: &[(&str, &str)]| {
            let mut u = url::Url::parse(&redirect).expect("checked above");
            {
                let mut qp = u.query_pairs_mut();
                for (k, v) in params {
                    qp.append_pair(k, v);
                }
                if !state.is_empty() {
                    qp.append_pair("state", &state);
                }
            }
            let mut r = Response::new(empty());
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = hyper::header::HeaderValue::from_str(u.as_str()) {
                r.headers_mut().insert("location", v);
            }
            r
        };
        if q.get("response_type").map(String::as_str) != Some("code") {
            return to(&[
                ("error", "unsupported_response_type"),
                (
                    "error_description",
                    "AADSTS70005: response_type 'code' is the only one served here.",
                ),
            ]);
        }
        let base = redirect.clone();
        let scopes = q
            .get("scope")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let user = q
            .get("login_hint")
            .cloned()
            .unwrap_or_else(|| self.cfg.interactive_user.clone());
        match self.user(&user) {
            None => {
                return to(&[
                    ("error", "access_denied"),
                    (
                        "error_description",
                        "AADSTS50034: The user account does not exist in the directory.",
                    ),
                ])
            }
            Some(u) if u.persona == Persona::DeclinesConsent => {
                return to(&[
                    ("error", "access_denied"),
                    (
                        "error_description",
                        "AADSTS65004: User declined to consent to access the app.",
                    ),
                ])
            }
            Some(u) if u.persona == Persona::BlockedByPolicy => {
                return to(&[
                    ("error", "access_denied"),
                    (
                        "error_description",
                        "AADSTS53003: Access has been blocked by Conditional Access policies.",
                    ),
                ])
            }
            Some(_) => {}
        }
        let challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
            (Some(c), m) => Some((c.clone(), m.cloned().unwrap_or_else(|| "plain".into()))),
            (None, _) => None,
        };
        let code = random(48);
        self.state.lock().unwrap().codes.insert(
            code.clone(),
            AuthCode {
                client_id: app.client_id.clone(),
                redirect_uri: base,
                challenge,
                user,
                scopes,
                expires: Instant::now() + Duration::from_secs(600),
                used: false,
            },
        );
        to(&[
            ("code", &code),
            ("session_state", &Uuid::new_v4().to_string()),
        ])
    }

    fn token(&self, base: &str, tenant: &str, form: &HashMap<String, String>) -> Response<Body> {
        let app = match self.client(form) {
            Ok(a) => a,
            Err(r) => return *r,
        };
        let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
        let user_flow = matches!(grant, "password" | DEVICE_GRANT);
        if user_flow && !app.public_client && !form.contains_key("client_assertion") {
            return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
        }
        if form.contains_key("client_secret") {
            return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.");
        }
        match grant {
            "password" => {
                if tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("consumers")
                {
                    return entra_error(StatusCode::BAD_REQUEST, "invalid_request", 9001023, "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.");
                }
                let scopes = match self.scopes(base, form.get("scope")) {
                    Ok(s) => s,
                    Err(r) => return *r,
                };
                let name = form.get("username").cloned().unwrap_or_default();
                let Some(u) = self.user(&name) else {
                    return entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 50034, &format!("The user account {{EUII Hidden}} does not exist in the {} directory. To sign into this application, the account must be added to the directory.", self.cfg.tenant_domain));
                };
                if form.get("password").map(String::as_str) != Some(u.password.as_str()) {
                    return entra_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        50126,
                        "Error validating credentials due to invalid username or password.",
                    );
                }
                match u.persona {
                    Persona::MfaRequired => entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'SharePoint'."),
                    Persona::BlockedByPolicy => entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."),
                    _ => self.issue(base, &app.client_id, Some(&u.username), &scopes),
                }
            }
            DEVICE_GRANT => {
                let code = form.get("device_code").cloned().unwrap_or_default();
                let mut st = self.state.lock().unwrap();
                let Some(d) = st.devices.get_mut(&code) else {
                    return entra_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        70018,
                        "The provided value for the input parameter 'device_code' is not valid.",
                    );
                };
                if !d.client_id.eq_ignore_ascii_case(&app.client_id) {
                    return entra_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        70018,
                        "The device code was issued to another client.",
                    );
                }
                if Instant::now() > d.expires {
                    st.devices.remove(&code);
                    return entra_error(
                        StatusCode::BAD_REQUEST,
                        "expired_token",
                        70019,
                        "Verification code expired.",
                    );
                }
                let early = d
                    .last_poll
                    .is_some_and(|t| t.elapsed() + Duration::from_millis(200) < d.interval);
                d.last_poll = Some(Instant::now());
                match d.verdict.clone() {
                    None if early => entra_error(
                        StatusCode::BAD_REQUEST,
                        "slow_down",
                        70016,
                        "The client is polling too quickly; add 5 seconds to the interval.",
                    ),
                    None => entra_error(
                        StatusCode::BAD_REQUEST,
                        "authorization_pending",
                        70016,
                        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                    ),
                    Some(Err(())) => {
                        st.devices.remove(&code);
                        entra_error(
                            StatusCode::BAD_REQUEST,
                            "authorization_declined",
                            70016,
                            "The end user denied the authorization request.",
                        )
                    }
                    Some(Ok(user)) => {
                        let d = st.devices.remove(&code).expect("present");
                        drop(st);
                        self.issue(base, &app.client_id, Some(&user), &d.scopes)
                    }
                }
            }
            "authorization_code" => {
                let code = form.get("code").cloned().unwrap_or_default();
                let mut st = self.state.lock().unwrap();
                let Some(c) = st.codes.get_mut(&code) else {
                    return entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity.");
                };
                if c.used {
                    return entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
                }
                c.used = true;
                if Instant::now() > c.expires || !c.client_id.eq_ignore_ascii_case(&app.client_id) {
                    return entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 70008, "The provided authorization code has expired or was issued to another client.");
                }
                if form.get("redirect_uri") != Some(&c.redirect_uri) {
                    return entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 50148, "The redirect_uri does not match the one used in the authorization request.");
                }
                if let Some((challenge, method)) = &c.challenge {
                    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                    let computed = if method.eq_ignore_ascii_case("S256") {
                        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
                    } else {
                        verifier
                    };
                    if &computed != challenge {
                        return entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
                    }
                }
                let (user, scopes) = (c.user.clone(), c.scopes.clone());
                drop(st);
                let scopes = match self.scopes(base, Some(&scopes.join(" "))) {
                    Ok(s) => s,
                    Err(r) => return *r,
                };
                self.issue(base, &app.client_id, Some(&user), &scopes)
            }
            "refresh_token" => {
                let rt = form.get("refresh_token").cloned().unwrap_or_default();
                let mut st = self.state.lock().unwrap();
                let Some(r) = st.refresh.get(&rt) else {
                    return entra_error(StatusCode::BAD_REQUEST, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.");
                };
                if !r.client_id.eq_ignore_ascii_case(&app.client_id) {
                    return entra_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        70000,
                        "The refresh token was issued to another client.",
                    );
                }
                let (user, granted) = (r.user.clone(), r.scopes.clone());
                // Stricter than Entra (which keeps an old one valid for a while): a used refresh
                // token is retired, so a client that does not keep the rotated one fails here.
                st.refresh.remove(&rt);
                drop(st);
                let scopes = match form.get("scope") {
                    Some(s) => match self.scopes(base, Some(s)) {
                        Ok(s) => s,
                        Err(r) => return *r,
                    },
                    None => granted,
                };
                self.issue(base, &app.client_id, Some(&user), &scopes)
            }
            "client_credentials" => {
                if let Err(r) = self.check_assertion(base, tenant, app, form) {
                    return *r;
                }
                let scopes = match self.scopes(base, form.get("scope")) {
                    Ok(s) => s,
                    Err(r) => return *r,
                };
                if !scopes.iter().all(|s| s.ends_with("/.default")) {
                    return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).");
                }
                self.issue(base, &app.client_id, None, &scopes)
            }
            "" => entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ),
            other => entra_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            ),
        }
    }

    /// Verifies a client assertion as Entra does (reference signin.md §4.2, §9.2 item 3).
    fn check_assertion(
        &self,
        base: &str,
        tenant: &str,
        app: &EntraApp,
        form: &HashMap<String, String>,
    ) -> Result<(), Refusal> {
        let bad = |code: u32, text: &str| -> Refusal {
            Box::new(entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                code,
                text,
            ))
        };
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(bad(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
        }
        let assertion = form.get("client_assertion").cloned().unwrap_or_default();
        let header = jsonwebtoken::decode_header(&assertion)
            .map_err(|_| bad(50013, "Assertion is not a well-formed JWT."))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
            return Err(bad(
                5002738,
                "The assertion must be signed with RS256 or PS256.",
            ));
        }
        let certs = self
            .certificates
            .get(&app.client_id.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let cert = certs
            .iter()
            .find(|c| {
                header.x5t_s256.as_deref() == Some(c.x5t_s256().as_str())
                    || header.x5t.as_deref() == Some(c.x5t().as_str())
            })
            .ok_or_else(|| {
                bad(
                    700027,
                    &format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']", header.x5t_s256.as_deref().or(header.x5t.as_deref()).unwrap_or("none")),
                )
            })?;
        if let Ok((_, not_after)) = cert.validity() {
            if not_after < now_secs() {
                return Err(bad(
                    700027,
                    "The certificate used to sign the client assertion has expired.",
                ));
            }
        }
        let key = cert.rsa_public_key().map_err(|e| bad(700027, e.as_str()))?;
        let mut v = Validation::new(header.alg);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        v.validate_nbf = true;
        // The audience is this tenant's token endpoint, named by id or domain.
        let auds: Vec<String> = [
            self.cfg.tenant_id.as_str(),
            self.cfg.tenant_domain.as_str(),
            tenant,
        ]
        .iter()
        .map(|t| format!("{base}/login/{t}/oauth2/v2.0/token"))
        .collect();
        v.set_audience(&auds);
        v.set_issuer(&[&app.client_id]);
        v.sub = Some(app.client_id.clone());
        let data = jsonwebtoken::decode::<Value>(&assertion, &decoding_key(&key), &v).map_err(|e| {
            let text = match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "Client assertion failed signature validation.".to_string(),
                jsonwebtoken::errors::ErrorKind::ExpiredSignature | jsonwebtoken::errors::ErrorKind::ImmatureSignature => "The client assertion is not within its valid time range.".to_string(),
                jsonwebtoken::errors::ErrorKind::InvalidAudience => format!("The audience claim value is invalid; it must be the token endpoint, e.g. {}.", auds[0]),
                other => format!("Client assertion contains an invalid claim: {other:?}."),
            };
            bad(700027, &text)
        })?;
        let jti = data
            .claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if jti.is_empty() || !self.state.lock().unwrap().jtis.insert(jti) {
            return Err(bad(50013, "The client assertion's 'jti' is missing or was already used; every assertion needs a fresh one."));
        }
        Ok(())
    }

    /// Token response for `user` (or the app itself) with `scopes`.
    fn issue(
        &self,
        base: &str,
        client_id: &str,
        user: Option<&str>,
        scopes: &[String],
    ) -> Response<Body> {
        let resource_scopes: Vec<&String> = scopes
            .iter()
            .filter(|s| !OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str()))
            .collect();
        let aud = resource_scopes
            .first()
            .and_then(|s| s.rsplit_once('/'))
            .map(|(r, _)| r.trim_end_matches('/').to_string())
            .unwrap_or_else(|| base.to_string());
        let now = now_secs();
        let lifetime = self.cfg.token_lifetime_secs.max(1) as i64;
        let mut claims = json!({
            "aud": aud, "iss": self.issuer(base), "iat": now, "nbf": now, "exp": now + lifetime,
            "tid": self.cfg.tenant_id, "appid": client_id, "azp": client_id, "ver": "2.0",
            "uti": random(12),
        });
        let granted_scope: String;
        match user {
            Some(u) => {
                let perms: Vec<String> = resource_scopes
                    .iter()
                    .map(|s| s.rsplit_once('/').map(|(_, p)| p).unwrap_or(s))
                    .map(|p| {
                        if p == ".default" {
                            DELEGATED_PERMISSION.to_string()
                        } else {
                            p.to_string()
                        }
                    })
                    .collect();
                claims["scp"] = json!(perms.join(" "));
                claims["upn"] = json!(u);
                claims["unique_name"] = json!(u);
                claims["oid"] = json!(Uuid::new_v5(
                    &Uuid::NAMESPACE_OID,
                    u.to_ascii_lowercase().as_bytes()
                ));
                claims["sub"] = claims["oid"].clone();
                granted_scope = perms
                    .iter()
                    .map(|p| format!("{aud}/{p}"))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            None => {
                claims["roles"] = json!([APP_ROLE]);
                claims["oid"] = json!(Uuid::new_v5(&Uuid::NAMESPACE_OID, client_id.as_bytes()));
                claims["sub"] = claims["oid"].clone();
                granted_scope = format!("{aud}/.default");
            }
        }
        let sign = |c: &Value| {
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some(SIGNING.kid.clone());
            jsonwebtoken::encode(&h, c, &SIGNING.encoding).unwrap_or_default()
        };
        let mut out = json!({
            "token_type": "Bearer",
            "scope": granted_scope,
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": sign(&claims),
        });
        if let Some(u) = user {
            let lower: Vec<String> = scopes.iter().map(|s| s.to_ascii_lowercase()).collect();
            if lower.iter().any(|s| s == "offline_access") {
                let rt = random(48);
                self.state.lock().unwrap().refresh.insert(
                    rt.clone(),
                    Refresh {
                        client_id: client_id.to_string(),
                        user: u.to_string(),
                        scopes: scopes.to_vec(),
                    },
                );
                out["refresh_token"] = json!(rt);
            }
            if lower.iter().any(|s| s == "openid") {
                out["id_token"] = json!(sign(&json!({
                    "aud": client_id, "iss": self.issuer(base), "iat": now, "nbf": now, "exp": now + 3600,
                    "tid": self.cfg.tenant_id, "oid": claims["oid"], "sub": claims["oid"],
                    "preferred_username": u, "name": u, "ver": "2.0",
                })));
            }
        }
        json(StatusCode::OK, &out)
    }

    /// Validates a bearer token the SharePoint side received: signed by this tenant (or a
    /// trusted issuer), for this SharePoint (`aud` its origin or SharePoint's app id), not
    /// expired, with the SharePoint permission delegated (`scp`) or granted (`roles`).
    pub async fn validate(
        &self,
        base: &str,
        token: &str,
        http: &reqwest::Client,
    ) -> Result<Principal, String> {
        if !self.cfg.enabled {
            return Err("this local target accepts only its own token".into());
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| "the bearer token is not a JWT".to_string())?;
        let unverified: Value = {
            let payload = token.split('.').nth(1).unwrap_or("");
            URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null)
        };
        let iss = unverified
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // The algorithm comes from the key, never from the token's own header.
        let (key, alg) = if iss == self.issuer(base) {
            if header.kid.as_deref() != Some(SIGNING.kid.as_str()) {
                return Err("the token was signed with a key this tenant does not publish".into());
            }
            (decoding_key(&SIGNING.public), Algorithm::RS256)
        } else if let Some(t) = self.cfg.trusted_issuers.iter().find(|t| t.issuer == iss) {
            let set = self.trusted_keys(&t.jwks_uri, http).await?;
            let jwk = match header.kid.as_deref() {
                Some(kid) => set.find(kid),
                None => set.keys.first(),
            }
            .ok_or("no key in the issuer's JWKS matches the token's kid")?;
            let alg = match jwk.common.key_algorithm.map(|a| a.to_string()) {
                Some(a) => a.parse::<Algorithm>().map_err(|_| {
                    format!("the issuer's key has an algorithm ({a}) not used here")
                })?,
                None if matches!(
                    jwk.algorithm,
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
                ) =>
                {
                    Algorithm::RS256
                }
                None => return Err("the issuer's key names no algorithm".into()),
            };
            let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
                .map_err(|e| format!("the issuer's key is unusable: {e}"))?;
            (key, alg)
        } else {
            return Err(format!("the token's issuer '{iss}' is not trusted here"));
        };
        if header.alg != alg {
            return Err(format!(
                "the token is signed {:?}; this issuer's key is {alg:?}",
                header.alg
            ));
        }
        let mut v = Validation::new(alg);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = true;
        v.set_issuer(&[&iss]);
        v.set_audience(&[
            base.to_string(),
            format!("{base}/"),
            SHAREPOINT_PRINCIPAL.to_string(),
        ]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                "The token is expired.".to_string()
            }
            jsonwebtoken::errors::ErrorKind::InvalidAudience => format!(
                "Invalid audience Uri '{}'.",
                unverified.get("aud").and_then(Value::as_str).unwrap_or("")
            ),
            other => format!("the token is not valid: {other:?}"),
        })?;
        let c = &data.claims;
        let scp = c
            .get("scp")
            .or_else(|| c.get("scope"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let delegated = scp.split_whitespace().any(|s| {
            s.rsplit('/').next().is_some_and(|p| {
                p.eq_ignore_ascii_case(DELEGATED_PERMISSION)
                    || p.eq_ignore_ascii_case("AllSites.Manage")
                    || p.eq_ignore_ascii_case("AllSites.Write")
            })
        });
        let app_only = c
            .get("roles")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(APP_ROLE)));
        if !delegated && !app_only {
            return Err(format!("the token grants neither {DELEGATED_PERMISSION} (delegated) nor {APP_ROLE} (application)"));
        }
        let name = c
            .get("upn")
            .or_else(|| c.get("preferred_username"))
            .or_else(|| c.get("sub"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "app@{}",
                    c.get("appid").and_then(Value::as_str).unwrap_or("unknown")
                )
            });
        let site_admin = if delegated {
            // A user of another issuer is taken as admin; a local user as configured.
            self.user(&name).is_none_or(|u| u.site_admin)
        } else {
            true
        };
        Ok(Principal { name, site_admin })
    }

    async fn trusted_keys(
        &self,
        jwks_uri: &str,
        http: &reqwest::Client,
    ) -> Result<jsonwebtoken::jwk::JwkSet, String> {
        if let Some((at, set)) = self.jwks_cache.lock().unwrap().get(jwks_uri) {
            if at.elapsed() < Duration::from_secs(300) {
                return Ok(set.clone());
            }
        }
        let body = http
            .get(jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("cannot fetch the trusted issuer's JWKS {jwks_uri}: {e}"))?
            .bytes()
            .await
            .map_err(|e| format!("cannot fetch the trusted issuer's JWKS {jwks_uri}: {e}"))?;
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&body)
            .map_err(|e| format!("the trusted issuer's JWKS {jwks_uri} is not readable: {e}"))?;
        self.jwks_cache
            .lock()
            .unwrap()
            .insert(jwks_uri.to_string(), (Instant::now(), set.clone()));
        Ok(set)
    }

    /// SharePoint's challenge to a request without a valid token: the realm is the tenant id,
    /// `authorization_uri` where to sign in (reference signin.md §1.1).
    pub fn challenge(&self, base: &str) -> String {
        format!(
            "Bearer realm=\"{}\",client_id=\"{SHAREPOINT_PRINCIPAL}\",trusted_issuers=\"00000001-0000-0000-c000-000000000000@*,{base}/login/*/\",authorization_uri=\"{base}/login/common/oauth2/authorize\"",
            self.cfg.tenant_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::redirect_matches;

    #[test]
    fn loopback_redirects_match_any_port_and_others_exactly() {
        assert!(redirect_matches(
            "http://localhost",
            "http://localhost:53682/"
        ));
        assert!(redirect_matches("http://localhost/", "http://localhost:1"));
        assert!(redirect_matches(
            "http://127.0.0.1",
            "http://127.0.0.1:8400"
        ));
        assert!(!redirect_matches(
            "http://localhost",
            "http://127.0.0.1:8400"
        ));
        assert!(!redirect_matches(
            "http://localhost",
            "http://localhost:5/cb"
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
        assert!(redirect_matches(
            "https://app.example/cb",
            "https://app.example/cb/"
        ));
    }
}

//! Tokens that last a migration: one signed-in identity per SharePoint host, its access token
//! renewed before it expires (a quarter of its lifetime ahead, at most 5 minutes) and at once
//! when SharePoint refuses it, from the certificate (app-only) or the refresh token (users,
//! rotated and saved). A refresh token the service no longer accepts falls back to the
//! password the run was given, or to an interactive sign-in when a person can answer;
//! otherwise the run stops with a message saying how to sign in again.

use super::authority::{self, Endpoints};
use super::cache::{CacheKey, TokenCache};
use super::certificate::SigningCertificate;
use super::flows::{Flows, Grant};
use super::{AuthError, AuthMethod, Prompt, SignIn};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How a token is renewed.
enum Renew {
    Certificate(Box<SigningCertificate>),
    User,
}

struct Current {
    token: Zeroizing<String>,
    /// When a refusal last forced a renewal.
    forced_at: Option<Instant>,
    renew_at: Instant,
    expires_at: Instant,
    refresh: Option<Zeroizing<String>>,
}

/// A signed-in identity for one SharePoint host.
pub struct SignedIn {
    flows: Flows,
    renew: Renew,
    account: String,
    host: String,
    settings: SignIn,
    prompt: Prompt,
    cache: Option<(TokenCache, CacheKey)>,
    current: tokio::sync::Mutex<Current>,
    /// One renewal at a time: the first caller renews, the others wait for it.
    renewing: tokio::sync::Mutex<()>,
}

/// When to renew a token that lasts `lifetime`.
fn renew_at(lifetime: Duration) -> Instant {
    let ahead = (lifetime / 4).min(Duration::from_secs(300));
    Instant::now() + lifetime.saturating_sub(ahead)
}

fn is_app_only(s: &SignIn) -> bool {
    s.method == AuthMethod::Certificate
        || (s.method == AuthMethod::Auto && s.certificate_path.is_some())
}

fn scopes(s: &SignIn, origin: &str) -> Vec<String> {
    if let Some(sc) = &s.scope {
        return sc.split_whitespace().map(str::to_string).collect();
    }
    if is_app_only(s) {
        vec![format!("{origin}/.default")]
    } else {
        vec![
            format!("{origin}/{}", super::DELEGATED_PERMISSION),
            "offline_access".into(),
            "openid".into(),
            "profile".into(),
        ]
    }
}

/// The HTTP client for sign-in: no redirects (a token endpoint that redirects is refused, as
/// the `oauth2` crate advises), bounded time.
pub fn http_client() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .user_agent(crate::http::user_agent())
        .build()
        .map_err(|e| AuthError::failed(format!("cannot build the sign-in client: {e}")))
}

impl SignedIn {
    /// Signs in for `site_url` as `s` says.
    pub async fn sign_in(
        s: &SignIn,
        site_url: &str,
        prompt: Prompt,
    ) -> Result<Arc<Self>, AuthError> {
        let site = url::Url::parse(site_url).map_err(|e| {
            AuthError::config(format!("--target-site-url '{site_url}' is not a URL: {e}"))
        })?;
        let origin = site.origin().ascii_serialization();
        let host = site.host_str().unwrap_or("").to_ascii_lowercase();
        if let Some(Err(why)) = &s.certificate_config {
            return Err(AuthError::config(why.clone()));
        }
        // Read the certificate first: a bad file fails before anything is sent.
        let certificate = if is_app_only(s) {
            let path = s.certificate_path.as_ref().ok_or_else(|| match &s.certificate_config {
                Some(Ok(config)) => AuthError::config(format!(
                    "{} names certificate {}: spmt reads certificates from files, not the Windows certificate store; give --certificate-path (-CertificatePath) with the PEM (certificate and private key) or the .pfx",
                    config.display(),
                    s.certificate_thumbprint.as_deref().unwrap_or("(no thumbprint)")
                )),
                _ => AuthError::config("--auth certificate needs --certificate-path: a PEM file with the certificate and its private key, or a .pfx".into()),
            })?;
            Some(
                SigningCertificate::load(
                    path,
                    s.certificate_password.as_deref().map(String::as_str),
                    s.certificate_thumbprint.as_deref(),
                    chrono::Utc::now().timestamp(),
                )
                .map_err(|e| AuthError::config(e.to_string()))?,
            )
        } else {
            None
        };
        let client_id = s.client_id.clone().ok_or_else(|| {
            AuthError::config(
                "no app registration to sign in with: give --client-id (or SPMT_CLIENT_ID / AZURE_CLIENT_ID). spmt ships no shared app id; register one once in your tenant (`spmt app manifest` prints what it needs) and pass its Application (client) ID".into(),
            )
        })?;
        let http = http_client()?;
        let endpoints: Endpoints = authority::endpoints(&http, s, site_url).await?;
        let flows = Flows {
            http,
            endpoints,
            client_id,
            scopes: scopes(s, &origin),
        };
        let cache = (!s.no_cache).then(|| {
            let dir = s
                .cache_dir
                .clone()
                .unwrap_or_else(super::cache::default_dir);
            let key = CacheKey {
                authority: flows.endpoints.authority.clone(),
                tenant: flows.endpoints.tenant.clone(),
                client_id: flows.client_id.clone(),
                host: host.clone(),
                account: s.username.clone().unwrap_or_default(),
            };
            (TokenCache::at(&dir), key)
        });
        let mut me = SignedIn {
            flows,
            renew: Renew::User,
            account: String::new(),
            host,
            settings: s.clone(),
            prompt,
            cache,
            current: tokio::sync::Mutex::new(Current {
                token: Zeroizing::new(String::new()),
                forced_at: None,
                renew_at: Instant::now(),
                expires_at: Instant::now(),
                refresh: None,
            }),
            renewing: tokio::sync::Mutex::new(()),
        };
        let grant = if let Some(cert) = certificate {
            let g = me.flows.certificate(&cert, s.assertion_rs256).await?;
            me.account = format!("app {}", me.flows.client_id);
            me.renew = Renew::Certificate(Box::new(cert));
            g
        } else {
            me.first_user_grant().await?
        };
        tracing::info!(host = %me.host, account = %me.account, valid_secs = grant.expires_in.as_secs(), "signed in");
        me.keep(grant).await;
        Ok(Arc::new(me))
    }

    /// A user's first token: the password when that is the method, else a saved refresh
    /// token, else an interactive sign-in.
    async fn first_user_grant(&mut self) -> Result<Grant, AuthError> {
        let s = &self.settings;
        if s.method == AuthMethod::Password {
            return self.password_grant().await;
        }
        if s.method == AuthMethod::Auto {
            if let Some((cache, key)) = &self.cache {
                if let Some((account, rt)) = cache.find(key) {
                    match self.flows.refresh(&rt).await {
                        Ok(g) => {
                            self.account = g.account.clone().unwrap_or(account);
                            return Ok(g);
                        }
                        Err(e) if e.stale => {
                            tracing::info!(account = %account, "the saved sign-in is no longer valid; signing in again");
                            let _ = cache.remove(|k| {
                                k == &CacheKey {
                                    account: account.clone(),
                                    ..key.clone()
                                }
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        self.interactive_grant().await
    }

    async fn password_grant(&mut self) -> Result<Grant, AuthError> {
        let s = &self.settings;
        let user = s.username.clone().ok_or_else(|| {
            AuthError::config("password sign-in needs --username (the account's UPN, e.g. admin@contoso.onmicrosoft.com)".into())
        })?;
        let pass = s.password.clone().ok_or_else(|| {
            AuthError::config(format!("password sign-in for {user} needs its password: set SPMT_PASSWORD, pipe it with --password-stdin, type it when asked at a terminal, or pass a PSCredential (-SPOCredential); never on the command line"))
        })?;
        let g = self.flows.password(&user, &pass).await?;
        self.account = g.account.clone().unwrap_or(user);
        Ok(g)
    }

    /// Browser where one can open (or was asked for), else device code.
    async fn interactive_grant(&mut self) -> Result<Grant, AuthError> {
        let s = &self.settings;
        let method = match s.method {
            AuthMethod::Browser => AuthMethod::Browser,
            AuthMethod::DeviceCode => AuthMethod::DeviceCode,
            AuthMethod::Password => return self.password_grant().await,
            _ if !s.interactive => {
                return Err(AuthError::config(
                    "no saved sign-in for this site and nobody to sign in interactively: run `spmt login` once (or give --auth device-code / browser / password / certificate)".into(),
                ))
            }
            _ if super::browser::available() && self.flows.endpoints.authorize.is_some() => AuthMethod::Browser,
            _ => AuthMethod::DeviceCode,
        };
        let g = if method == AuthMethod::Browser {
            let open = !s.no_browser && super::browser::available();
            self.flows
                .browser(&self.prompt, open, s.username.as_deref())
                .await?
        } else {
            self.flows.device_code(&self.prompt).await?
        };
        self.account = g
            .account
            .clone()
            .or_else(|| s.username.clone())
            .unwrap_or_else(|| "signed-in user".into());
        Ok(g)
    }

    /// Makes `g` the current token; saves its refresh token.
    async fn keep(&self, g: Grant) {
        if let (Some(rt), Some((cache, key))) = (&g.refresh_token, &self.cache) {
            let key = CacheKey {
                account: self.account.clone(),
                ..key.clone()
            };
            if let Err(e) = cache.save(&key, rt) {
                tracing::warn!(error = %e, path = %cache.path().display(), "cannot save the sign-in for later runs");
            }
        }
        let mut cur = self.current.lock().await;
        cur.token = g.access_token;
        cur.renew_at = renew_at(g.expires_in);
        cur.expires_at = Instant::now() + g.expires_in;
        if g.refresh_token.is_some() {
            cur.refresh = g.refresh_token;
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// A token that is valid now, renewed first when it is due.
    pub async fn token(&self) -> Result<Zeroizing<String>, AuthError> {
        {
            let cur = self.current.lock().await;
            if Instant::now() < cur.renew_at && !cur.token.is_empty() {
                return Ok(cur.token.clone());
            }
        }
        let _one = self.renewing.lock().await;
        {
            let cur = self.current.lock().await;
            if Instant::now() < cur.renew_at && !cur.token.is_empty() {
                return Ok(cur.token.clone());
            }
        }
        let g = match self.renewed().await {
            Ok(g) => g,
            // The sign-in service could not be reached (or failed) while the token still has
            // time: keep using it and try again shortly, rather than stop the run.
            Err(e) if !e.configuration => {
                let mut cur = self.current.lock().await;
                if Instant::now() + Duration::from_secs(5) < cur.expires_at {
                    tracing::warn!(host = %self.host, error = %e.message, "cannot renew the sign-in yet; the current token is still valid, trying again shortly");
                    cur.renew_at = Instant::now() + Duration::from_secs(15);
                    return Ok(cur.token.clone());
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        tracing::info!(host = %self.host, account = %self.account, valid_secs = g.expires_in.as_secs(), "sign-in renewed");
        let token = g.access_token.clone();
        self.keep(g).await;
        Ok(token)
    }

    async fn renewed(&self) -> Result<Grant, AuthError> {
        match &self.renew {
            Renew::Certificate(cert) => {
                self.flows
                    .certificate(cert, self.settings.assertion_rs256)
                    .await
            }
            Renew::User => {
                let rt = self.current.lock().await.refresh.clone();
                let refreshed = match rt {
                    Some(rt) => self.flows.refresh(&rt).await,
                    None => Err(AuthError::stale("the sign-in gave no refresh token".into())),
                };
                match refreshed {
                    Err(e) if e.stale => {
                        if let (Some(u), Some(p)) =
                            (&self.settings.username, &self.settings.password)
                        {
                            return self.flows.password(u, p).await;
                        }
                        if self.settings.interactive && self.settings.method != AuthMethod::Password
                        {
                            tracing::warn!(account = %self.account, "the sign-in can no longer be renewed; signing in again");
                            return if self.settings.method == AuthMethod::Browser
                                || (super::browser::available()
                                    && self.settings.method != AuthMethod::DeviceCode)
                            {
                                self.flows
                                    .browser(
                                        &self.prompt,
                                        !self.settings.no_browser,
                                        Some(&self.account),
                                    )
                                    .await
                            } else {
                                self.flows.device_code(&self.prompt).await
                            };
                        }
                        Err(AuthError::config(format!(
                            "the sign-in of {} can no longer be renewed ({}); sign in again (spmt login) and resume: nothing already migrated is lost",
                            self.account, e.message
                        )))
                    }
                    other => other,
                }
            }
        }
    }

    /// SharePoint refused `token`: the next [`token`](Self::token) renews it (it may have
    /// expired in flight, or been revoked). At most one such renewal per 10 seconds: a refusal
    /// that lasts (a missing permission) must not turn every call into a token request.
    /// Returns whether a renewal was arranged.
    pub async fn refused(&self, token: &str) -> bool {
        let mut cur = self.current.lock().await;
        if cur.token.as_str() != token {
            // Already renewed by another call: asking again gets the new token.
            return true;
        }
        if cur
            .forced_at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            return false;
        }
        cur.forced_at = Some(Instant::now());
        cur.renew_at = Instant::now();
        true
    }
}

/// What the SharePoint client sends as its bearer token.
#[derive(Clone, Default)]
pub enum Bearer {
    #[default]
    None,
    /// Given as is (`--access-token`, the local target's own): cannot be renewed.
    Fixed(Arc<Zeroizing<String>>),
    SignedIn(Arc<SignedIn>),
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bearer::None => "Bearer::None",
            Bearer::Fixed(_) => "Bearer::Fixed(<redacted>)",
            Bearer::SignedIn(_) => "Bearer::SignedIn(<redacted>)",
        })
    }
}

impl Bearer {
    pub fn fixed(token: impl Into<String>) -> Self {
        Bearer::Fixed(Arc::new(Zeroizing::new(token.into())))
    }

    pub async fn token(&self) -> Result<Option<Zeroizing<String>>, AuthError> {
        match self {
            Bearer::None => Ok(None),
            Bearer::Fixed(t) => Ok(Some((**t).clone())),
            Bearer::SignedIn(s) => s.token().await.map(Some),
        }
    }

    /// SharePoint refused `token`; whether asking again can help.
    pub async fn refused(&self, token: &str) -> bool {
        match self {
            Bearer::SignedIn(s) => s.refused(token).await,
            _ => false,
        }
    }

    /// Who the token speaks for, for messages.
    pub fn account(&self) -> Option<String> {
        match self {
            Bearer::SignedIn(s) => Some(s.account().to_string()),
            _ => None,
        }
    }
}

/// A run's sign-in: the settings, and the identities signed in so far (one per host).
pub struct Credentials {
    settings: SignIn,
    prompt: Prompt,
    signed_in: tokio::sync::Mutex<HashMap<String, Arc<SignedIn>>>,
}

impl Credentials {
    pub fn new(settings: SignIn, prompt: Prompt) -> Self {
        Credentials {
            settings,
            prompt,
            signed_in: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &SignIn {
        &self.settings
    }

    /// The bearer for `site_url`: the given token, or the identity signed in for its host
    /// (signing in on first use).
    pub async fn bearer_for(&self, site_url: &str) -> Result<Bearer, AuthError> {
        if let Some(t) = &self.settings.access_token {
            if matches!(self.settings.method, AuthMethod::Auto | AuthMethod::Token) {
                return Ok(Bearer::Fixed(Arc::new(t.clone())));
            }
        }
        if self.settings.method == AuthMethod::Token {
            return Err(AuthError::config(
                "--auth token needs --access-token (or SPMT_ACCESS_TOKEN)".into(),
            ));
        }
        let origin = url::Url::parse(site_url)
            .map(|u| u.origin().ascii_serialization())
            .map_err(|e| AuthError::config(format!("'{site_url}' is not a URL: {e}")))?;
        let mut map = self.signed_in.lock().await;
        if let Some(s) = map.get(&origin) {
            return Ok(Bearer::SignedIn(s.clone()));
        }
        let s = SignedIn::sign_in(&self.settings, site_url, self.prompt.clone()).await?;
        map.insert(origin, s.clone());
        Ok(Bearer::SignedIn(s))
    }
}

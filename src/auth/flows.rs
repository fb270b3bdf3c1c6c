//! The OAuth 2.0 flows, on the `oauth2` crate over reqwest (redirects off): device code, password
//! (ROPC), authorization code + PKCE with a loopback redirect, client credentials with a
//! certificate-signed assertion, and refresh (reference signin.md §2-§5). Each returns what
//! the token endpoint granted; errors become [`AuthError`]s that name the problem and the fix
//! from Entra's AADSTS code ([`super::errors`]).

use super::authority::Endpoints;
use super::certificate::SigningCertificate;
use super::errors::{from_device_error, from_token_error};
use super::{AuthError, Prompt, SignInPrompt};
use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, DeviceAuthorizationUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, ExtraTokenFields, PkceCodeChallenge, RedirectUrl, RefreshToken,
    ResourceOwnerPassword, ResourceOwnerUsername, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zeroize::Zeroizing;

/// The id token, when `openid` was asked for: it names the account that signed in.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

/// Entra's device authorization answer adds `message`, the text to show the user.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DeviceMessage {
    #[serde(default)]
    message: Option<String>,
}
impl oauth2::ExtraDeviceAuthorizationFields for DeviceMessage {}

type Granted = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    super::errors::EntraErrorResponse,
    Granted,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What a flow obtained.
pub struct Grant {
    pub access_token: Zeroizing<String>,
    pub expires_in: Duration,
    pub refresh_token: Option<Zeroizing<String>>,
    /// The account, from the id token (`preferred_username`), when there is one.
    pub account: Option<String>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("expires_in", &self.expires_in)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

fn grant(t: Granted) -> Grant {
    let account = t.extra_fields().id_token.as_deref().and_then(|jwt| {
        // Shown to the user and used as the cache key only; the token endpoint sent it
        // straight to us, so its signature is not what protects anything here.
        let payload = jwt.split('.').nth(1)?;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v.get("preferred_username")
            .or_else(|| v.get("upn"))
            .or_else(|| v.get("email"))
            .and_then(|x| x.as_str())
            .map(str::to_string)
    });
    Grant {
        access_token: Zeroizing::new(t.access_token().secret().clone()),
        // Entra always says; an answer without it is taken as an hour, and renewed on a 401.
        expires_in: t.expires_in().unwrap_or(Duration::from_secs(3600)),
        refresh_token: t
            .refresh_token()
            .map(|r| Zeroizing::new(r.secret().clone())),
        account,
    }
}

/// One authority, one app, one set of scopes.
pub struct Flows {
    pub http: reqwest::Client,
    pub endpoints: Endpoints,
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl Flows {
    fn client(&self) -> Client {
        oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri_option(
                self.endpoints
                    .authorize
                    .as_ref()
                    .map(|u| AuthUrl::from_url(u.clone())),
            )
            .set_device_authorization_url_option(
                self.endpoints
                    .device
                    .as_ref()
                    .map(|u| DeviceAuthorizationUrl::from_url(u.clone())),
            )
            .set_token_uri(TokenUrl::from_url(self.endpoints.token.clone()))
            // Public client: the client id goes in the body, never a secret.
            .set_auth_type(oauth2::AuthType::RequestBody)
    }

    fn scopes(&self) -> Vec<Scope> {
        self.scopes.iter().cloned().map(Scope::new).collect()
    }

    pub async fn password(&self, username: &str, password: &str) -> Result<Grant, AuthError> {
        let user = ResourceOwnerUsername::new(username.to_string());
        let pass = ResourceOwnerPassword::new(password.to_string());
        self.client()
            .exchange_password(&user, &pass)
            .add_scopes(self.scopes())
            .request_async(&self.http)
            .await
            .map(grant)
            .map_err(|e| from_token_error(e, self, Some(username), false))
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Grant, AuthError> {
        let rt = RefreshToken::new(refresh_token.to_string());
        self.client()
            .exchange_refresh_token(&rt)
            .add_scopes(self.scopes())
            .request_async(&self.http)
            .await
            .map(grant)
            .map_err(|e| from_token_error(e, self, None, true))
    }

    pub async fn device_code(&self, prompt: &Prompt) -> Result<Grant, AuthError> {
        let client = self.client();
        let details: oauth2::DeviceAuthorizationResponse<DeviceMessage> = client
            .exchange_device_code()
            .map_err(|_| {
                AuthError::config(
                    "this sign-in service has no device code endpoint: give --device-endpoint, or use --auth browser"
                        .into(),
                )
            })?
            .add_scopes(self.scopes())
            .request_async(&self.http)
            .await
            .map_err(|e| from_token_error(e, self, None, false))?;
        let uri = details.verification_uri().to_string();
        let code = details.user_code().secret().clone();
        let message = details
            .extra_fields()
            .message
            .clone()
            .unwrap_or_else(|| format!("To sign in, open {uri} and enter the code {code}."));
        prompt(&SignInPrompt::DeviceCode {
            message,
            user_code: code,
            verification_uri: uri,
        });
        client
            .exchange_device_access_token(&details)
            .request_async(&self.http, tokio::time::sleep, None)
            .await
            .map(grant)
            .map_err(from_device_error)
    }

    /// App-only: a client assertion signed with the certificate's key (PS256 with `x5t#S256`,
    /// or RS256 with `x5t`), 5 minutes long, fresh `jti`, `aud` the token endpoint.
    pub async fn certificate(
        &self,
        cert: &SigningCertificate,
        rs256: bool,
    ) -> Result<Grant, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let mut header = jsonwebtoken::Header::new(if rs256 {
            jsonwebtoken::Algorithm::RS256
        } else {
            jsonwebtoken::Algorithm::PS256
        });
        if rs256 {
            header.x5t = Some(cert.certificate.x5t());
        } else {
            header.x5t_s256 = Some(cert.certificate.x5t_s256());
        }
        let claims = serde_json::json!({
            "aud": self.endpoints.token.as_str(),
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 300,
        });
        let key = cert.encoding_key().map_err(AuthError::config)?;
        let assertion =
            Zeroizing::new(jsonwebtoken::encode(&header, &claims, &key).map_err(|e| {
                AuthError::config(format!(
                    "cannot sign the client assertion with {}: {e}",
                    cert.path.display()
                ))
            })?);
        self.client()
            .exchange_client_credentials()
            .add_scopes(self.scopes())
            .add_extra_param(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .add_extra_param("client_assertion", assertion.as_str())
            .request_async(&self.http)
            .await
            .map(grant)
            .map_err(|e| from_token_error(e, self, None, false))
    }

    /// Authorization code + PKCE (S256): a loopback listener on a free port, the browser sent
    /// to the authorize URL (or the URL shown), `state` checked on the way back.
    pub async fn browser(
        &self,
        prompt: &Prompt,
        open_browser: bool,
        login_hint: Option<&str>,
    ) -> Result<Grant, AuthError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| {
                AuthError::failed(format!(
                    "cannot listen on loopback for the sign-in redirect: {e}"
                ))
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| AuthError::failed(e.to_string()))?
            .port();
        // Entra's portal registers `http://localhost`; the port is ignored when matching.
        let redirect = format!("http://localhost:{port}");
        let client = self.client().set_redirect_uri(
            RedirectUrl::new(redirect.clone()).map_err(|e| AuthError::failed(e.to_string()))?,
        );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(CsrfToken::new_random)
            .map_err(|_| {
                AuthError::config(
                    "this sign-in service has no authorization endpoint: give --authorize-endpoint, or use --auth device-code"
                        .into(),
                )
            })?
            .add_scopes(self.scopes())
            .set_pkce_challenge(challenge);
        if self.endpoints.entra {
            // Entra shows its account picker; other providers may not know the value.
            req = req.add_extra_param("prompt", "select_account");
        }
        if let Some(h) = login_hint {
            req = req.add_extra_param("login_hint", h);
        }
        let (url, state) = req.url();
        prompt(&SignInPrompt::Browser {
            url: url.to_string(),
        });
        if open_browser {
            super::browser::open(url.as_str());
        }
        let back = tokio::time::timeout(
            Duration::from_secs(300),
            super::browser::wait_for_redirect(listener, state.secret().clone()),
        )
        .await
        .map_err(|_| {
            AuthError::failed(
                "no sign-in came back within 5 minutes: run again, or use --auth device-code where no browser can reach this machine"
                    .into(),
            )
        })??;
        if let Some(err) = back.get("error") {
            return Err(super::errors::from_authorize_error(
                err,
                back.get("error_description").map(String::as_str),
            ));
        }
        let code = back
            .get("code")
            .ok_or_else(|| AuthError::failed("the sign-in redirect carried no code".into()))?;
        client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map(grant)
            .map_err(|e| from_token_error(e, self, login_hint, false))
    }
}

//! Sign-in settings: the one definition every host fills (CLI flags, the session/C ABI JSON,
//! Register-SPMTMigration's parameters). Secrets (password, certificate password, access
//! token) are held in `Zeroizing` strings and never printed by `Debug`.

use crate::task::SettingError;
use serde_json::Value;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// How to sign in (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// Certificate when configured, else a cached sign-in, else the browser where there is a
    /// display, else a device code.
    #[default]
    Auto,
    /// App-only: client credentials with a certificate-signed assertion.
    Certificate,
    /// Authorization code with PKCE through the system browser and a loopback redirect.
    Browser,
    /// Device code: sign in on another device (SSH sessions, containers).
    DeviceCode,
    /// Username and password (ROPC): what `-SPOCredential` does; no MFA.
    Password,
    /// A ready-made bearer token (`--access-token`).
    Token,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Option<Self> {
        Some(
            match s
                .trim()
                .to_ascii_lowercase()
                .replace(['_', ' '], "-")
                .as_str()
            {
                "auto" => AuthMethod::Auto,
                "certificate" | "cert" | "app-only" => AuthMethod::Certificate,
                "browser" | "interactive" => AuthMethod::Browser,
                "device-code" | "devicecode" | "device" => AuthMethod::DeviceCode,
                "password" | "ropc" | "credential" => AuthMethod::Password,
                "token" | "access-token" => AuthMethod::Token,
                _ => return None,
            },
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Auto => "auto",
            AuthMethod::Certificate => "certificate",
            AuthMethod::Browser => "browser",
            AuthMethod::DeviceCode => "device-code",
            AuthMethod::Password => "password",
            AuthMethod::Token => "token",
        }
    }
}

/// Everything sign-in needs besides the site URL.
#[derive(Clone, Default)]
pub struct SignIn {
    pub method: AuthMethod,
    /// The Entra app registration (`--client-id`, `SPMT_CLIENT_ID`, `AZURE_CLIENT_ID`).
    pub client_id: Option<String>,
    /// Tenant id or domain; default: the realm SharePoint's challenge names.
    pub tenant: Option<String>,
    /// `public`, `gcc`, `gcchigh`, `dod`, `china`; default: from the site's host name.
    pub cloud: Option<String>,
    /// The login host, e.g. `https://login.microsoftonline.com` (tests: the local target's).
    pub authority_host: Option<String>,
    /// Explicit endpoints, for an OpenID provider that is not Entra.
    pub token_endpoint: Option<String>,
    pub device_endpoint: Option<String>,
    pub authorize_endpoint: Option<String>,
    /// Scopes to ask for instead of the SharePoint ones spmt derives from the site.
    pub scope: Option<String>,
    pub certificate_path: Option<PathBuf>,
    pub certificate_password: Option<Zeroizing<String>>,
    pub certificate_thumbprint: Option<String>,
    /// Sign the assertion RS256 with `x5t` (older Entra guidance) instead of PS256 + `x5t#S256`.
    pub assertion_rs256: bool,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    pub access_token: Option<Zeroizing<String>>,
    /// Print the browser URL instead of opening a browser.
    pub no_browser: bool,
    /// Where refresh tokens are cached; `None`: the user's config dir. Off with `no_cache`.
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
    /// A person can answer (a browser or device code may be shown). Off in unattended runs:
    /// a sign-in that needs a person then fails with a message instead of waiting.
    pub interactive: bool,
    /// SPMT's `CertificateConfig.json` when one was found (its ids fill what is unset), or why
    /// it could not be read.
    pub certificate_config: Option<Result<PathBuf, String>>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |o: bool| if o { "<set>" } else { "<none>" };
        f.debug_struct("SignIn")
            .field("method", &self.method)
            .field("client_id", &self.client_id)
            .field("tenant", &self.tenant)
            .field("cloud", &self.cloud)
            .field("authority_host", &self.authority_host)
            .field("certificate_path", &self.certificate_path)
            .field(
                "certificate_password",
                &set(self.certificate_password.is_some()),
            )
            .field("username", &self.username)
            .field("password", &set(self.password.is_some()))
            .field("access_token", &set(self.access_token.is_some()))
            .finish_non_exhaustive()
    }
}

fn text(key: &str, v: &Value) -> Result<Option<String>, SettingError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        // The value is not repeated: it may be a secret given the wrong type.
        _ => Err(SettingError::Invalid {
            key: key.into(),
            message: "expected a string".into(),
        }),
    }
}

impl SignIn {
    /// Sets the sign-in setting `key` (Register-SPMTMigration's parameter names, any case).
    /// `Ok(false)`: not a sign-in key.
    pub fn set(&mut self, key: &str, v: &Value) -> Result<bool, SettingError> {
        let secret = |v: &Value| text(key, v).map(|o| o.map(Zeroizing::new));
        match key.to_ascii_lowercase().as_str() {
            "authmethod" | "auth" => {
                if let Some(s) = text(key, v)? {
                    self.method = AuthMethod::parse(&s).ok_or_else(|| SettingError::Invalid {
                        key: key.into(),
                        message: format!("'{s}' is not a sign-in method: use auto, certificate, browser, device-code, password or token"),
                    })?;
                }
            }
            "clientid" | "appid" => self.client_id = text(key, v)?,
            "tenantid" | "tenant" => self.tenant = text(key, v)?,
            "cloud" | "azureenvironment" => self.cloud = text(key, v)?,
            "authorityhost" => self.authority_host = text(key, v)?,
            "tokenendpoint" => self.token_endpoint = text(key, v)?,
            "deviceauthorizationendpoint" | "deviceendpoint" => {
                self.device_endpoint = text(key, v)?
            }
            "authorizationendpoint" | "authorizeendpoint" => {
                self.authorize_endpoint = text(key, v)?
            }
            "scope" => self.scope = text(key, v)?,
            "certificatepath" => self.certificate_path = text(key, v)?.map(PathBuf::from),
            "certificatepassword" => self.certificate_password = secret(v)?,
            "certificatethumbprint" | "thumbprint" => self.certificate_thumbprint = text(key, v)?,
            // Register-SPMTMigration -SPOCredential: its user name (the host sends the password
            // as `Password`); password sign-in unless another method was chosen.
            "username" | "spocredential" => {
                self.username = text(key, v)?;
                if key.eq_ignore_ascii_case("spocredential") && self.method == AuthMethod::Auto {
                    self.method = AuthMethod::Password;
                }
            }
            "password" => self.password = secret(v)?,
            "accesstoken" => self.access_token = secret(v)?,
            "devicelogin" => {
                if crate::task::settings::parse_bool(key, v)? {
                    self.method = AuthMethod::DeviceCode;
                }
            }
            "interactive" => {
                if crate::task::settings::parse_bool(key, v)? {
                    self.method = AuthMethod::Browser;
                }
            }
            "nobrowser" => self.no_browser = crate::task::settings::parse_bool(key, v)?,
            "clientsecret" | "appsecret" => {
                return Err(SettingError::Invalid {
                    key: key.into(),
                    message: "SharePoint Online refuses app-only tokens obtained with a client secret (\"Unsupported app only token\"): sign in app-only with a certificate (CertificatePath), or as a user".into(),
                })
            }
            "tokencache" => match text(key, v)?.as_deref().map(str::to_ascii_lowercase) {
                None => {}
                Some(s) if s == "none" || s == "off" || s == "false" => self.no_cache = true,
                Some(s) if s == "auto" || s == "file" || s == "true" => self.no_cache = false,
                Some(dir) => self.cache_dir = Some(PathBuf::from(dir)),
            },
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Fills what is unset from the environment: `SPMT_CLIENT_ID` / `AZURE_CLIENT_ID`,
    /// `SPMT_TENANT_ID` / `AZURE_TENANT_ID`, `AZURE_AUTHORITY_HOST`, `SPMT_PASSWORD`,
    /// `SPMT_CERTIFICATE_PASSWORD`, `SPMT_ACCESS_TOKEN`, `SPMT_CONFIG_DIR`.
    pub fn with_environment(mut self) -> Self {
        let env = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        self.client_id = self
            .client_id
            .or_else(|| env(&["SPMT_CLIENT_ID", "AZURE_CLIENT_ID"]));
        self.tenant = self
            .tenant
            .or_else(|| env(&["SPMT_TENANT_ID", "AZURE_TENANT_ID"]));
        self.authority_host = self
            .authority_host
            .or_else(|| env(&["AZURE_AUTHORITY_HOST"]));
        self.password = self
            .password
            .or_else(|| env(&["SPMT_PASSWORD"]).map(Zeroizing::new));
        self.certificate_password = self
            .certificate_password
            .or_else(|| env(&["SPMT_CERTIFICATE_PASSWORD"]).map(Zeroizing::new));
        self.access_token = self
            .access_token
            .or_else(|| env(&["SPMT_ACCESS_TOKEN"]).map(Zeroizing::new));
        self.cache_dir = self
            .cache_dir
            .or_else(|| env(&["SPMT_CONFIG_DIR"]).map(PathBuf::from));
        if matches!(self.method, AuthMethod::Auto | AuthMethod::Certificate)
            && self.access_token.is_none()
        {
            self.apply_certificate_config();
        }
        self
    }

    /// SPMT's certificate sign-in file: `CertificateConfig.json` with `Thumbprint`, `TenantId`
    /// and `ClientId`, in spmt's config folder or where SPMT keeps it
    /// (`%APPDATA%\Microsoft\MigrationToolStorage`, i.e. the config dir on every OS). When
    /// present, sign-in is app-only with that app and certificate.
    fn apply_certificate_config(&mut self) {
        let dirs = [
            Some(
                self.cache_dir
                    .clone()
                    .unwrap_or_else(super::cache::default_dir),
            ),
            dirs::config_dir().map(|d| d.join("Microsoft").join("MigrationToolStorage")),
        ];
        let Some(path) = dirs
            .into_iter()
            .flatten()
            .map(|d| d.join("CertificateConfig.json"))
            .find(|p| p.is_file())
        else {
            return;
        };
        let read = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
        let field = |v: &Value, name: &str| {
            v.as_object()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, x)| x.as_str())
                .filter(|x| !x.trim().is_empty())
                .map(str::to_string)
        };
        match read {
            Ok(v) if field(&v, "ClientId").is_some() => {
                self.client_id = self.client_id.take().or_else(|| field(&v, "ClientId"));
                self.tenant = self.tenant.take().or_else(|| field(&v, "TenantId"));
                self.certificate_thumbprint = self
                    .certificate_thumbprint
                    .take()
                    .or_else(|| field(&v, "Thumbprint"));
                self.method = AuthMethod::Certificate;
                self.certificate_config = Some(Ok(path));
            }
            Ok(_) => {
                self.certificate_config = Some(Err(format!(
                    "{} has no ClientId: it must hold {{\"Thumbprint\": …, \"TenantId\": …, \"ClientId\": …}}; fix or remove it",
                    path.display()
                )))
            }
            Err(e) => {
                self.certificate_config = Some(Err(format!(
                    "{} is not readable JSON ({e}): it must hold {{\"Thumbprint\": …, \"TenantId\": …, \"ClientId\": …}}; fix or remove it",
                    path.display()
                )))
            }
        }
    }

    /// Whether anything says how to sign in (a token, a method, a client id): a task for a real
    /// site without any of these cannot run.
    pub fn is_configured(&self) -> bool {
        self.access_token.is_some()
            || self.method != AuthMethod::Auto
            || self.client_id.is_some()
            || self.certificate_path.is_some()
            || self.certificate_config.is_some()
    }
}

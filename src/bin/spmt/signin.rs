//! The CLI's sign-in: the flags every command that reaches a real site takes, and `spmt login`,
//! `spmt logout`, `spmt auth status`, `spmt app manifest`. Secrets never come from argv: the
//! password from `SPMT_PASSWORD` or `--password-stdin`, the certificate password from
//! `SPMT_CERTIFICATE_PASSWORD`, a token from `SPMT_ACCESS_TOKEN` (or `--access-token`, kept for
//! scripts that already pass one).

use clap::{Args, Subcommand};
use spmt::auth::{cache, AuthMethod, Credentials, Prompt, SignIn, SignInPrompt};
use spmt::logging::terminal_safe;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use zeroize::Zeroizing;

#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Sign-in")]
pub struct SignInArgs {
    /// How to sign in: auto (certificate when given, else a saved sign-in, else browser or
    /// device code), certificate, browser, device-code, password, token.
    #[arg(long = "auth", value_name = "METHOD", default_value = "auto")]
    pub auth: String,
    /// A ready-made bearer token for the site.
    #[arg(long, env = "SPMT_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// Application (client) ID of your Entra app registration (env SPMT_CLIENT_ID or
    /// AZURE_CLIENT_ID); `spmt app manifest` prints what it needs.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Tenant id or domain (default: the one the site names; env SPMT_TENANT_ID).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// public, gcc, gcchigh, dod or china (default: from the site's host name).
    #[arg(long, value_name = "CLOUD")]
    pub cloud: Option<String>,
    /// The sign-in service's host, e.g. https://login.microsoftonline.us (env
    /// AZURE_AUTHORITY_HOST).
    #[arg(long, value_name = "URL")]
    pub authority_host: Option<String>,
    /// Token endpoint of an OpenID provider that is not Entra.
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    /// Device authorization endpoint of such a provider.
    #[arg(long, value_name = "URL")]
    pub device_endpoint: Option<String>,
    /// Authorization endpoint of such a provider.
    #[arg(long, value_name = "URL")]
    pub authorize_endpoint: Option<String>,
    /// Scopes to ask for instead of the site's AllSites.FullControl (space-separated).
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,
    /// Certificate for app-only sign-in: PEM (certificate and private key) or .pfx; its
    /// password from SPMT_CERTIFICATE_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub certificate_path: Option<PathBuf>,
    /// The certificate's thumbprint, checked against the file.
    #[arg(long, value_name = "HEX")]
    pub certificate_thumbprint: Option<String>,
    /// Sign the assertion RS256 with x5t instead of PS256 with x5t#S256.
    #[arg(long)]
    pub assertion_rs256: bool,
    /// Account for password sign-in (and the account to use from saved sign-ins).
    #[arg(long, value_name = "UPN")]
    pub username: Option<String>,
    /// Read the password for --auth password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Print the browser sign-in address instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Where sign-ins are saved: a folder, or `none` (default: the user's config dir, or
    /// SPMT_CONFIG_DIR).
    #[arg(long, value_name = "DIR|none")]
    pub token_cache: Option<String>,
}

impl SignInArgs {
    pub fn sign_in(&self) -> Result<SignIn, String> {
        let method = AuthMethod::parse(&self.auth).ok_or_else(|| {
            format!(
                "--auth {}: use auto, certificate, browser, device-code, password or token",
                self.auth
            )
        })?;
        let password = if self.password_stdin {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("--password-stdin: cannot read stdin: {e}"))?;
            Some(Zeroizing::new(
                line.trim_end_matches(['\r', '\n']).to_string(),
            ))
        } else {
            None
        };
        let mut s = SignIn {
            method,
            client_id: self.client_id.clone(),
            tenant: self.tenant.clone(),
            cloud: self.cloud.clone(),
            authority_host: self.authority_host.clone(),
            token_endpoint: self.token_endpoint.clone(),
            device_endpoint: self.device_endpoint.clone(),
            authorize_endpoint: self.authorize_endpoint.clone(),
            scope: self.scope.clone(),
            certificate_path: self.certificate_path.clone(),
            certificate_thumbprint: self.certificate_thumbprint.clone(),
            assertion_rs256: self.assertion_rs256,
            username: self.username.clone(),
            password,
            access_token: self.access_token.clone().map(Zeroizing::new),
            no_browser: self.no_browser,
            // Someone can answer a browser or device code: a terminal, or a method asked for
            // by name.
            interactive: std::io::stderr().is_terminal()
                || matches!(method, AuthMethod::Browser | AuthMethod::DeviceCode),
            ..SignIn::default()
        };
        if let Some(c) = &self.token_cache {
            s.set("TokenCache", &serde_json::Value::String(c.clone()))
                .map_err(|e| e.to_string())?;
        }
        let mut s = s.with_environment();
        prompt_for_secrets(&mut s)?;
        Ok(s)
    }

    /// The run's credentials; prompts go to stderr.
    pub fn credentials(&self) -> Result<Arc<Credentials>, String> {
        Ok(Arc::new(Credentials::new(self.sign_in()?, stderr_prompt())))
    }
}

/// At a terminal, asks for the secrets the sign-in needs and was not given (the password of
/// password sign-in, a PFX's password), without echo; elsewhere they must come from the
/// environment or stdin, and sign-in says so when they are missing.
fn prompt_for_secrets(s: &mut SignIn) -> Result<(), String> {
    if !std::io::stdin().is_terminal() {
        return Ok(());
    }
    let ask = |what: &str| {
        rpassword::prompt_password(format!("{what}: "))
            .map(Zeroizing::new)
            .map_err(|e| format!("cannot read the password from the terminal: {e}"))
    };
    if s.method == AuthMethod::Password && s.password.is_none() {
        if let Some(user) = s.username.clone() {
            s.password = Some(ask(&format!("Password for {user}"))?);
        }
    }
    let pfx = s.certificate_path.as_ref().filter(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"))
    });
    if let (Some(p), None) = (pfx, &s.certificate_password) {
        let p = p.display().to_string();
        s.certificate_password = Some(ask(&format!("Password for {p} (empty for none)"))?);
    }
    Ok(())
}

/// Shows a sign-in prompt on stderr (stdout stays for `--json`).
pub fn stderr_prompt() -> Prompt {
    Arc::new(|p: &SignInPrompt| match p {
        SignInPrompt::DeviceCode { message, .. } => eprintln!("{}", terminal_safe(message)),
        SignInPrompt::Browser { url } => eprintln!(
            "To sign in, a browser opens at this address (open it yourself if none does):\n{url}"
        ),
    })
}

#[derive(Args)]
pub struct LoginArgs {
    /// The site to sign in for (its host; the tenant is found from it).
    #[arg(long, value_name = "URL")]
    pub target_site_url: String,
    #[command(flatten)]
    pub sign_in: SignInArgs,
}

#[derive(Args)]
pub struct LogoutArgs {
    /// Forget the sign-ins for this site's host only.
    #[arg(long, value_name = "URL")]
    pub target_site_url: Option<String>,
    /// Forget this account's sign-ins only.
    #[arg(long, value_name = "UPN")]
    pub username: Option<String>,
    /// Where sign-ins are saved (default: the user's config dir, or SPMT_CONFIG_DIR).
    #[arg(long, value_name = "DIR")]
    pub token_cache: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum AuthCmd {
    /// List the saved sign-ins (accounts, tenants, hosts; never a token).
    Status {
        #[arg(long, value_name = "DIR")]
        token_cache: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum AppCmd {
    /// Print the Entra app registration spmt's sign-in needs (manifest JSON).
    Manifest,
}

fn cache_at(dir: &Option<PathBuf>) -> cache::TokenCache {
    cache::TokenCache::at(&dir.clone().unwrap_or_else(cache::default_dir))
}

pub async fn login(a: LoginArgs) -> ExitCode {
    let mut s = match a.sign_in.sign_in() {
        Ok(s) => s,
        Err(m) => return super::usage_error(&m),
    };
    s.interactive = true;
    if s.no_cache {
        return super::usage_error("spmt login saves a sign-in: drop --token-cache none");
    }
    let creds = Credentials::new(s, stderr_prompt());
    match creds.bearer_for(&a.target_site_url).await {
        Ok(b) => {
            let who = b.account().unwrap_or_else(|| "the given token".into());
            let saved = match creds.settings().method {
                AuthMethod::Certificate | AuthMethod::Token => {
                    " (app-only and token sign-ins are not saved: each run signs in again)"
                }
                _ if creds.settings().certificate_path.is_some() => {
                    " (app-only sign-ins are not saved: each run signs in again)"
                }
                _ => "; later runs for this site use this sign-in",
            };
            eprintln!(
                "signed in to {} as {}{saved}",
                a.target_site_url,
                terminal_safe(&who)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", terminal_safe(&e.message));
            ExitCode::from(if e.configuration { 2 } else { 1 })
        }
    }
}

pub fn logout(a: LogoutArgs) -> ExitCode {
    let host = match &a.target_site_url {
        Some(u) => match url::Url::parse(u) {
            Ok(u) => u.host_str().map(str::to_ascii_lowercase),
            Err(e) => return super::usage_error(&format!("--target-site-url '{u}': {e}")),
        },
        None => None,
    };
    let c = cache_at(&a.token_cache);
    match c.remove(|k| {
        host.as_deref()
            .is_none_or(|h| k.host.eq_ignore_ascii_case(h))
            && a.username
                .as_deref()
                .is_none_or(|u| k.account.eq_ignore_ascii_case(u))
    }) {
        Ok(n) => {
            eprintln!("removed {n} saved sign-in(s) from {}", c.path().display());
            ExitCode::SUCCESS
        }
        Err(e) => super::usage_error(&format!("cannot change {}: {e}", c.path().display())),
    }
}

pub fn auth(cmd: AuthCmd) -> ExitCode {
    match cmd {
        AuthCmd::Status { token_cache, json } => {
            let c = cache_at(&token_cache);
            let saved = c.list();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&saved).unwrap_or_default()
                );
            } else if saved.is_empty() {
                println!("no saved sign-ins in {}", c.path().display());
            } else {
                for s in &saved {
                    println!(
                        "{} on {} (tenant {}, app {}, via {}), saved {}",
                        s.key.account,
                        s.key.host,
                        s.key.tenant,
                        s.key.client_id,
                        s.key.authority,
                        s.saved_at
                    );
                }
            }
            ExitCode::SUCCESS
        }
    }
}

pub fn app(cmd: AppCmd) -> ExitCode {
    match cmd {
        AppCmd::Manifest => {
            println!(
                "{}",
                serde_json::to_string_pretty(&spmt::auth::app_manifest()).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
    }
}

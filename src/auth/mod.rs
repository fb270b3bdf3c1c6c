//! Sign-in: the pipeline's first stage. Finds the tenant and cloud of a SharePoint site,
//! signs in with one of Entra ID's flows (certificate, browser, device code, password) or
//! takes a ready-made token, and keeps a valid token for each SharePoint host for as long as a
//! migration runs (reference signin.md). Refresh tokens are saved between runs
//! ([`cache`]); nothing secret is ever logged ([`crate::secrets`]).
//!
//! Hosts fill [`SignIn`] (CLI flags, session JSON, cmdlet parameters) and hand a
//! [`Credentials`] to the runner; the SharePoint client asks its [`Bearer`] for a token before
//! each call and tells it when SharePoint refused one.

mod authority;
mod browser;
pub mod cache;
pub mod certificate;
mod errors;
mod flows;
mod settings;
mod tokens;

pub use authority::{cloud_of_host, is_loopback};
pub use settings::{AuthMethod, SignIn};
use std::sync::Arc;
pub use tokens::{Bearer, Credentials, SignedIn};

/// The delegated SharePoint permission spmt asks for (reference signin.md §2.1).
pub const DELEGATED_PERMISSION: &str = "AllSites.FullControl";
/// The application permission for app-only sign-in.
pub const APPLICATION_PERMISSION: &str = "Sites.FullControl.All";

/// A sign-in that did not work: what happened and the fix, secrets redacted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    pub message: String,
    /// The user must change something (exit code 2), rather than a fault that may pass.
    pub configuration: bool,
    /// A saved or refresh grant that no longer works: signing in again can fix it.
    pub stale: bool,
}

impl AuthError {
    pub fn config(message: String) -> Self {
        AuthError {
            message: crate::secrets::redact(&message),
            configuration: true,
            stale: false,
        }
    }
    pub fn failed(message: String) -> Self {
        AuthError {
            message: crate::secrets::redact(&message),
            configuration: false,
            stale: false,
        }
    }
    pub fn stale(message: String) -> Self {
        AuthError {
            message: crate::secrets::redact(&message),
            configuration: true,
            stale: true,
        }
    }
}

/// What a person must see to sign in: the device code message, or the browser URL.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "Kind")]
pub enum SignInPrompt {
    DeviceCode {
        #[serde(rename = "Message")]
        message: String,
        #[serde(rename = "UserCode")]
        user_code: String,
        #[serde(rename = "VerificationUri")]
        verification_uri: String,
    },
    Browser {
        #[serde(rename = "Url")]
        url: String,
    },
}

/// Shows a [`SignInPrompt`] (the CLI prints it; a session raises an event).
pub type Prompt = Arc<dyn Fn(&SignInPrompt) + Send + Sync>;

/// The Entra app registration spmt's flows need, in the shape of the app manifest (Microsoft
/// Graph `application` resource): public client flows on, the loopback redirect, SharePoint's
/// delegated `AllSites.FullControl` and application `Sites.FullControl.All`.
pub fn app_manifest() -> serde_json::Value {
    serde_json::json!({
        "displayName": "spmt (SharePoint migration)",
        "signInAudience": "AzureADMyOrg",
        "isFallbackPublicClient": true,
        "publicClient": {
            "redirectUris": ["http://localhost", "https://login.microsoftonline.com/common/oauth2/nativeclient"]
        },
        "requiredResourceAccess": [{
            "resourceAppId": "00000003-0000-0ff1-ce00-000000000000",
            "resourceAccess": [
                {"id": "56680e0d-d2a3-4ae1-80d8-3c4f2100e3d0", "type": "Scope"},
                {"id": "678536fe-1083-478a-9c59-b99265e6b0d3", "type": "Role"}
            ]
        }],
        "keyCredentials": [],
        "notes": "Register in the Entra admin center (App registrations > New registration > Manifest), or with `az ad app create`. Grant admin consent for SharePoint; for app-only sign-in upload your certificate's .cer under Certificates & secrets. Public client flows allow device code and password sign-in; http://localhost is the browser sign-in's redirect (any port). Government and China tenants register the app in their own cloud's portal."
    })
}

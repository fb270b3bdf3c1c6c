//! Requests to a SharePoint Server farm: signed in, paced, on connections that stay signed in.
//!
//! NTLM authenticates a connection, not a request (sharepoint-server-source.md §4): the three
//! legs of the handshake must travel on one socket, and later requests on that socket need no
//! handshake. So each slot here is a client with a single kept-alive connection, used by one
//! request at a time; a request that meets 401 runs the handshake on its own slot and is sent
//! again there. A slot whose connection the farm closed simply handshakes again.
//!
//! Basic is sent with every request, over https only (or to a loopback host). The farm's pacing
//! is obeyed: 429/503 wait for `Retry-After`, and a `X-SharePointHealthScore` of 8 or more (the
//! farm is busy) slows requests down before it starts refusing them.

use super::ntlm;
use base64::Engine;
use reqwest::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard, Semaphore};
use zeroize::Zeroizing;

/// How a run signs in to the farm. Never recorded and never shown: `Debug` hides the password.
#[derive(Clone, Default)]
pub enum FarmCredential {
    /// The farm lets requests through (or a proxy in front of it authenticates).
    #[default]
    None,
    /// NTLM, also when the farm offers Negotiate (answered with raw NTLM, which Windows accepts).
    Windows {
        user: String,
        password: Arc<Zeroizing<String>>,
    },
    /// Basic: over https, or to a loopback host.
    Basic {
        user: String,
        password: Arc<Zeroizing<String>>,
    },
}

impl std::fmt::Debug for FarmCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FarmCredential::None => f.write_str("None"),
            FarmCredential::Windows { user, .. } => write!(f, "Windows({user})"),
            FarmCredential::Basic { user, .. } => write!(f, "Basic({user})"),
        }
    }
}

impl FarmCredential {
    /// A credential for `scheme` (`ntlm`, also `windows` or `negotiate`; or `basic`).
    pub fn new(
        scheme: &str,
        user: String,
        password: Zeroizing<String>,
    ) -> Result<FarmCredential, String> {
        let password = Arc::new(password);
        match scheme.to_ascii_lowercase().as_str() {
            "ntlm" | "windows" | "negotiate" => Ok(FarmCredential::Windows { user, password }),
            "basic" => Ok(FarmCredential::Basic { user, password }),
            other => Err(format!("sign-in '{other}' to the farm: use ntlm or basic")),
        }
    }

    fn user(&self) -> &str {
        match self {
            FarmCredential::None => "",
            FarmCredential::Windows { user, .. } | FarmCredential::Basic { user, .. } => user,
        }
    }
}

/// Requests sent at once to one farm (SharePoint Server is a shared, on-premises service).
const SLOTS: usize = 4;
/// NTLM handshakes tried before the credentials are called wrong.
const HANDSHAKES: usize = 4;
/// Throttled answers waited out before a request gives up.
const MAX_THROTTLED: u32 = 12;

/// A failed request: what the farm said, or why it could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    #[error("{0}")]
    Transport(String),
    #[error("HTTP {status}: {message}")]
    Status {
        status: u16,
        message: String,
        body: bytes::Bytes,
        /// The farm's build (`MicrosoftSharePointTeamServices`), when it said.
        build: Option<String>,
    },
    #[error("the farm refused the credentials of {user}: {why}")]
    SignIn { user: String, why: String },
}

/// An answer, with its slot held until the body is read.
pub struct Answer {
    pub response: Response,
    _slot: OwnedMutexGuard<reqwest::Client>,
}

pub struct FarmHttp {
    slots: Vec<Arc<Mutex<reqwest::Client>>>,
    free: Semaphore,
    credential: FarmCredential,
    host: String,
}

impl FarmHttp {
    pub fn new(site_url: &str, credential: FarmCredential) -> Result<FarmHttp, String> {
        let u = crate::http::check_url(site_url).map_err(|e| e.to_string())?;
        let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if matches!(credential, FarmCredential::Basic { .. }) && u.scheme() != "https" && !loopback
        {
            return Err(
                "Basic sign-in sends the password with every request: use an https site URL".into(),
            );
        }
        let mut slots = Vec::with_capacity(SLOTS);
        for _ in 0..SLOTS {
            let c = reqwest::Client::builder()
                .user_agent(crate::http::user_agent())
                .http1_only()
                .pool_max_idle_per_host(1)
                .pool_idle_timeout(Duration::from_secs(60))
                .connect_timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?;
            slots.push(Arc::new(Mutex::new(c)));
        }
        Ok(FarmHttp {
            slots,
            free: Semaphore::new(SLOTS),
            credential,
            host: u.host_str().unwrap_or_default().to_string(),
        })
    }

    /// A free slot: each one's single connection carries one request at a time.
    async fn slot(&self) -> OwnedMutexGuard<reqwest::Client> {
        let permit = self.free.acquire().await;
        for s in &self.slots {
            if let Ok(g) = s.clone().try_lock_owned() {
                drop(permit);
                return g;
            }
        }
        drop(permit);
        // Unreachable while the permits match the slots; waiting on the first is still right.
        self.slots[0].clone().lock_owned().await
    }

    /// GETs `url` with `accept`; a success comes back with its body unread (its slot held).
    pub async fn get(&self, url: &str, accept: &str) -> Result<Answer, FarmError> {
        let shown = crate::secrets::redact(url);
        let mut throttled = 0;
        loop {
            let slot = self.slot().await;
            let r = self.send_signed_in(&slot, url, accept).await?;
            let status = r.status();
            if let Some(score) = r
                .headers()
                .get("x-sharepointhealthscore")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|s| *s >= 8)
            {
                // Busy: keep the pace down before the farm has to refuse.
                tracing::debug!(score, "the farm reports it is busy; slowing down");
                tokio::time::sleep(Duration::from_millis(250 * score)).await;
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                throttled += 1;
                let wait = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(5)
                    .min(300);
                drop(r);
                drop(slot);
                if throttled > MAX_THROTTLED {
                    return Err(FarmError::Transport(format!(
                        "GET {shown}: the farm is still busy (HTTP {}) after {MAX_THROTTLED} waits; run again later",
                        status.as_u16()
                    )));
                }
                tracing::info!(url = %shown, wait, "the farm asks to wait (Retry-After)");
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            if !status.is_success() {
                let build = r
                    .headers()
                    .get("microsoftsharepointteamservices")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = r.bytes().await.unwrap_or_default();
                let message = super::service_message(&body)
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
                return Err(FarmError::Status {
                    status: status.as_u16(),
                    message,
                    body,
                    build,
                });
            }
            return Ok(Answer {
                response: r,
                _slot: slot,
            });
        }
    }

    /// Sends on the slot; a 401 that offers NTLM or Negotiate gets the handshake on the same
    /// connection and the request is sent again.
    async fn send_signed_in(
        &self,
        c: &reqwest::Client,
        url: &str,
        accept: &str,
    ) -> Result<Response, FarmError> {
        let send = |auth: Option<String>| {
            let mut rb = c.get(url).header("accept", accept);
            if let Some(a) = auth {
                rb = rb.header("authorization", a);
            }
            async move {
                rb.send().await.map_err(|e| {
                    FarmError::Transport(format!(
                        "GET {}: {}",
                        crate::secrets::redact(url),
                        e.without_url()
                    ))
                })
            }
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let first = match &self.credential {
            FarmCredential::Basic { user, password } => {
                let token = Zeroizing::new(b64.encode(format!("{user}:{}", password.as_str())));
                return send(Some(format!("Basic {}", token.as_str()))).await;
            }
            _ => send(None).await?,
        };
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let FarmCredential::Windows { user, password } = &self.credential else {
            return Err(FarmError::SignIn {
                user: "(nobody)".into(),
                why: "the farm asks for sign-in (HTTP 401): give --source-username and the \
                      password in SPMT_SOURCE_PASSWORD"
                    .into(),
            });
        };
        let offered: Vec<String> = first
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| {
                v.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase()
            })
            .collect();
        // NTLM by its own name where offered; otherwise raw NTLM under Negotiate.
        let scheme = if offered.iter().any(|s| s == "ntlm") {
            "NTLM"
        } else if offered.iter().any(|s| s == "negotiate") {
            "Negotiate"
        } else {
            return Err(FarmError::SignIn {
                user: user.clone(),
                why: format!(
                    "it offers only {} sign-in; spmt signs in to farms with NTLM or Basic",
                    offered.join(", ")
                ),
            });
        };
        // The body is read so the connection is free for the next leg.
        let _ = first.bytes().await;
        settle().await;
        let refused = |why: String| FarmError::SignIn {
            user: self.credential.user().to_string(),
            why,
        };
        // A client's pool can hand a leg to another of the slot's connections while the last
        // one is being returned (hyper puts a connection back a moment after its body ends),
        // so a handshake split across two sockets is tried again before the password is
        // called wrong; and a leg that lands on an already signed-in socket is simply answered.
        let mut last = String::new();
        for _ in 0..HANDSHAKES {
            let (handshake, negotiate) =
                ntlm::start(user, password, &self.host).map_err(refused)?;
            let challenge = send(Some(format!("{scheme} {}", b64.encode(negotiate)))).await?;
            if challenge.status() != StatusCode::UNAUTHORIZED {
                return Ok(challenge);
            }
            let token = challenge
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| {
                    let (s, t) = v.split_once(' ')?;
                    s.eq_ignore_ascii_case(scheme).then(|| t.trim().to_string())
                });
            let _ = challenge.bytes().await;
            settle().await;
            let Some(token) = token else {
                last = "no NTLM challenge came back; the farm or a proxy in front of it may \
                        not keep the connection between the handshake's requests"
                    .into();
                continue;
            };
            let challenge = b64
                .decode(token)
                .map_err(|e| refused(format!("its NTLM challenge is not base64: {e}")))?;
            let authenticate = handshake.answer(&challenge).map_err(refused)?;
            let answer = send(Some(format!("{scheme} {}", b64.encode(authenticate)))).await?;
            if answer.status() != StatusCode::UNAUTHORIZED {
                return Ok(answer);
            }
            let _ = answer.bytes().await;
            settle().await;
            last = "wrong user name or password, or the account may not read this site".into();
        }
        Err(refused(last))
    }
}

/// Gives the client's pool a moment to take back the connection whose body was just read, so
/// the next leg of a handshake finds it idle instead of opening another (hyper returns a
/// connection from the connection's own task, a moment after the body ends).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

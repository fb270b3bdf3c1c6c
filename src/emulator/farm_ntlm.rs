//! The farm's NTLM acceptor, per connection, by Devolutions' `sspi` crate (its server side):
//! a request without credentials gets 401 offering Negotiate and NTLM; a NEGOTIATE message gets
//! the CHALLENGE; an AUTHENTICATE message that proves the account's password signs the
//! connection in, and every later request on it passes (IIS's default, `authPersistNonNTLM`).
//! Checked by independent clients (curl `--ntlm`) in the tests.

use super::server::{body_bytes, Body};
use base64::Engine;
use hyper::{Request, Response, StatusCode};
use sspi::{
    AuthIdentity, BufferType, CredentialUse, DataRepresentation, Ntlm, SecurityBuffer,
    SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
};

#[derive(Default)]
pub struct Connection {
    /// Between the NEGOTIATE and the AUTHENTICATE messages: the scheme used, the state, and
    /// the server challenge sent.
    pending: Option<(String, Ntlm, Option<sspi::AuthIdentityBuffers>, [u8; 8])>,
    signed_in: bool,
}

/// 401 with the challenge (`Some((scheme, token))`), or offering both schemes.
pub fn challenge(token: Option<(&str, &[u8])>) -> Response<Body> {
    let v = serde_json::json!({"error": {"code": "-2147024891, System.UnauthorizedAccessException",
        "message": {"lang": "en-US", "value": "Access denied. You do not have permission to perform this action or access this resource."}}});
    let mut r = Response::new(body_bytes(v.to_string()));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let h = r.headers_mut();
    let b64 = base64::engine::general_purpose::STANDARD;
    match token {
        Some((scheme, t)) => {
            if let Ok(v) = format!("{scheme} {}", b64.encode(t)).parse() {
                h.append("www-authenticate", v);
            }
        }
        None => {
            h.append(
                "www-authenticate",
                hyper::header::HeaderValue::from_static("Negotiate"),
            );
            h.append(
                "www-authenticate",
                hyper::header::HeaderValue::from_static("NTLM"),
            );
        }
    }
    r
}

impl Connection {
    /// Lets the request through (`None`), or answers it with the next 401 of the handshake.
    pub fn admit<B>(
        &mut self,
        req: &Request<B>,
        account: &(String, String),
    ) -> Option<Response<Body>> {
        self.step(req, account).err().map(|r| *r)
    }

    fn step<B>(
        &mut self,
        req: &Request<B>,
        account: &(String, String),
    ) -> Result<(), Box<Response<Body>>> {
        if self.signed_in {
            return Ok(());
        }
        let Some((scheme, token)) = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(s, _)| s.eq_ignore_ascii_case("ntlm") || s.eq_ignore_ascii_case("negotiate"))
            .and_then(|(s, t)| {
                let t = base64::engine::general_purpose::STANDARD
                    .decode(t.trim())
                    .ok()?;
                Some((s.to_string(), t))
            })
        else {
            self.pending = None;
            return Err(Box::new(challenge(None)));
        };
        // NTLMSSP\0 then the message type: 1 NEGOTIATE, 3 AUTHENTICATE.
        if token.len() < 12 || &token[..8] != b"NTLMSSP\0" {
            return Err(Box::new(challenge(None)));
        }
        match token[8] {
            1 => match negotiate(account, &token) {
                Ok((ntlm, creds, out)) if out.len() >= 32 => {
                    let r = Box::new(challenge(Some((&scheme, &out))));
                    let mut server_challenge = [0u8; 8];
                    server_challenge.copy_from_slice(&out[24..32]);
                    self.pending = Some((scheme, ntlm, creds, server_challenge));
                    Err(r)
                }
                Ok(_) => Err(Box::new(challenge(None))),
                Err(_) => Err(Box::new(challenge(None))),
            },
            3 => {
                let Some((_, ntlm, creds, server_challenge)) = self.pending.take() else {
                    return Err(Box::new(challenge(None)));
                };
                if proves_password(&token, account, &server_challenge)
                    && authenticate(ntlm, creds, &token)
                {
                    self.signed_in = true;
                    Ok(())
                } else {
                    Err(Box::new(challenge(None)))
                }
            }
            _ => Err(Box::new(challenge(None))),
        }
    }
}

type Negotiated = (Ntlm, Option<sspi::AuthIdentityBuffers>, Vec<u8>);

fn negotiate(account: &(String, String), token: &[u8]) -> Result<Negotiated, sspi::Error> {
    let identity = AuthIdentity {
        username: Username::parse(&account.0)
            .map_err(|e| sspi::Error::new(sspi::ErrorKind::UnknownCredentials, e.to_string()))?,
        password: account.1.clone().into(),
    };
    let mut ntlm = Ntlm::new();
    let acquired = ntlm
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Inbound)
        .with_auth_data(&identity)
        .execute(&mut ntlm)?;
    let mut creds = acquired.credentials_handle;
    // sspi's acceptor insists that NEGOTIATE asks for Unicode and the target name; curl (and
    // other OEM-capable clients) leave those bits out although they follow a server that picks
    // Unicode, as Windows servers do. The bits are set here and the CHALLENGE picks Unicode.
    let mut token = token.to_vec();
    if token.len() >= 16 {
        const UNICODE: u32 = 0x0000_0001;
        const REQUEST_TARGET: u32 = 0x0000_0004;
        let mut flags = u32::from_le_bytes([token[12], token[13], token[14], token[15]]);
        flags |= UNICODE | REQUEST_TARGET;
        token[12..16].copy_from_slice(&flags.to_le_bytes());
    }
    let out = step(&mut ntlm, &mut creds, &token)?;
    Ok((ntlm, creds, out))
}

/// Whether the AUTHENTICATE message proves the account's password.
fn authenticate(
    mut ntlm: Ntlm,
    mut creds: Option<sspi::AuthIdentityBuffers>,
    token: &[u8],
) -> bool {
    step(&mut ntlm, &mut creds, token).is_ok()
}

fn step(
    ntlm: &mut Ntlm,
    creds: &mut Option<sspi::AuthIdentityBuffers>,
    token: &[u8],
) -> Result<Vec<u8>, sspi::Error> {
    let mut input = vec![SecurityBuffer::new(token.to_vec(), BufferType::Token)];
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = ntlm
        .accept_security_context()
        .with_credentials_handle(creds)
        .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    let result = ntlm
        .accept_security_context_impl(builder)?
        .resolve_to_result()?;
    if matches!(
        result.status,
        SecurityStatus::CompleteAndContinue | SecurityStatus::CompleteNeeded
    ) {
        // Here the proof of the password is checked (LogonDenied when wrong).
        ntlm.complete_auth_token(&mut output)?;
    }
    Ok(std::mem::take(&mut output[0].buffer))
}

/// Whether the AUTHENTICATE message's NTLMv2 response proves the account's password
/// ([MS-NLMP] 3.3.2: NTProofStr = HMAC-MD5(NTOWFv2, server challenge ‖ blob)) and names its
/// user. sspi's acceptor only checks the MIC, which clients such as curl do not send, so this
/// check is made here for every client. NTLMv1 responses are refused.
fn proves_password(token: &[u8], account: &(String, String), server_challenge: &[u8; 8]) -> bool {
    use hmac::{Hmac, Mac};
    use md4::{Digest, Md4};
    type HmacMd5 = Hmac<md5::Md5>;
    let field = |at: usize| -> Option<&[u8]> {
        let len = u16::from_le_bytes([*token.get(at)?, *token.get(at + 1)?]) as usize;
        let off = u32::from_le_bytes(token.get(at + 4..at + 8)?.try_into().ok()?) as usize;
        token.get(off..off.checked_add(len)?)
    };
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let text = |b: &[u8]| -> String {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    };
    let (Some(nt), Some(domain), Some(user)) = (field(20), field(28), field(36)) else {
        return false;
    };
    if nt.len() <= 24 {
        return false;
    }
    let (domain, user) = (text(domain), text(user));
    let (want_domain, want_user) = match account.0.split_once('\\') {
        Some((d, u)) => (d, u),
        None => ("", account.0.as_str()),
    };
    if !user.eq_ignore_ascii_case(want_user)
        || !(domain.is_empty() || domain.eq_ignore_ascii_case(want_domain))
    {
        return false;
    }
    let nt_hash = Md4::digest(utf16(&account.1));
    let Ok(mut mac) = HmacMd5::new_from_slice(&nt_hash) else {
        return false;
    };
    mac.update(&utf16(&(user.to_uppercase() + &domain)));
    let ntowf = mac.finalize().into_bytes();
    let Ok(mut mac) = HmacMd5::new_from_slice(&ntowf) else {
        return false;
    };
    mac.update(server_challenge);
    mac.update(&nt[16..]);
    mac.verify_slice(&nt[..16]).is_ok()
}

//! NTLM (v2) as the client side of an HTTP handshake, by Devolutions' `sspi` crate: the
//! NEGOTIATE message to send, then the AUTHENTICATE message answering the server's CHALLENGE.
//! The messages and their cryptography are the crate's; this module only drives it.

use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation, Ntlm,
    SecurityBuffer, Sspi, SspiImpl, Username,
};

/// One handshake in progress: holds the NTLM state between the two messages.
pub struct Handshake {
    ntlm: Ntlm,
    creds: Option<sspi::AuthIdentityBuffers>,
    target: String,
}

/// `DOMAIN\user`, `user@domain` or a bare user name, as `sspi` reads it.
fn username(user: &str) -> Result<Username, String> {
    Username::parse(user).map_err(|e| format!("'{user}' is not a user name sspi can use: {e}"))
}

/// Starts a handshake for `user` with `password` towards `host`; returns the NEGOTIATE message.
pub fn start(user: &str, password: &str, host: &str) -> Result<(Handshake, Vec<u8>), String> {
    let identity = AuthIdentity {
        username: username(user)?,
        password: password.to_string().into(),
    };
    let mut ntlm = Ntlm::new();
    let acquired = ntlm
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Outbound)
        .with_auth_data(&identity)
        .execute(&mut ntlm)
        .map_err(|e| format!("NTLM: {e}"))?;
    let mut h = Handshake {
        ntlm,
        creds: acquired.credentials_handle,
        target: format!("HTTP/{host}"),
    };
    let token = h.step(None)?;
    Ok((h, token))
}

impl Handshake {
    /// The AUTHENTICATE message answering the server's `challenge`.
    pub fn answer(mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        self.step(Some(challenge))
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut input_bufs =
            input.map(|i| vec![SecurityBuffer::new(i.to_vec(), BufferType::Token)]);
        let mut builder = self
            .ntlm
            .initialize_security_context()
            .with_credentials_handle(&mut self.creds)
            .with_context_requirements(ClientRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.target)
            .with_output(&mut output);
        if let Some(i) = input_bufs.as_mut() {
            builder = builder.with_input(i);
        }
        let result = self
            .ntlm
            .initialize_security_context_impl(&mut builder)
            .map_err(|e| format!("NTLM: {e}"))?
            .resolve_to_result()
            .map_err(|e| format!("NTLM: {e}"))?;
        if matches!(
            result.status,
            sspi::SecurityStatus::CompleteAndContinue | sspi::SecurityStatus::CompleteNeeded
        ) {
            self.ntlm
                .complete_auth_token(&mut output)
                .map_err(|e| format!("NTLM: {e}"))?;
        }
        Ok(std::mem::take(&mut output[0].buffer))
    }
}

//! The browser side of the authorization-code flow: opening the system browser, and the
//! loopback listener the sign-in redirects back to (served with hyper; one request that carries
//! `code` or `error` ends it).

use super::AuthError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Whether a browser can be opened here: a desktop OS, or a display on Unix, or `$BROWSER`.
pub fn available() -> bool {
    if std::env::var_os("BROWSER").is_some_and(|b| !b.is_empty()) {
        return true;
    }
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// Opens `url` with `$BROWSER`, or the platform's opener; failures are ignored (the URL has
/// been shown as well).
pub fn open(url: &str) {
    let (cmd, args): (String, Vec<&str>) = match std::env::var("BROWSER") {
        Ok(b) if !b.trim().is_empty() => (b, vec![url]),
        _ if cfg!(target_os = "windows") => {
            ("rundll32".into(), vec!["url.dll,FileProtocolHandler", url])
        }
        _ if cfg!(target_os = "macos") => ("open".into(), vec![url]),
        _ => ("xdg-open".into(), vec![url]),
    };
    let _ = std::process::Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

const DONE_PAGE: &str = "<!doctype html><title>spmt</title><p>Signed in. You can close this window and return to spmt.</p>";
const FAILED_PAGE: &str = "<!doctype html><title>spmt</title><p>Sign-in did not complete. Return to spmt for details.</p>";

/// Serves the loopback listener until a request with this sign-in's `state` carries `code` or
/// `error`; returns its query. A request with another state (a stale tab, another local
/// process) is answered and ignored: it can neither end nor hijack the sign-in.
pub async fn wait_for_redirect(
    listener: tokio::net::TcpListener,
    state: String,
) -> Result<HashMap<String, String>, AuthError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<HashMap<String, String>>(1);
    let answered = Arc::new(Mutex::new(false));
    loop {
        let (stream, _) = tokio::select! {
            got = rx.recv() => return got.ok_or_else(|| AuthError::failed("the sign-in listener stopped".into())),
            a = listener.accept() => a.map_err(|e| AuthError::failed(format!("the sign-in listener failed: {e}")))?,
        };
        let tx = tx.clone();
        let state = state.clone();
        let answered = answered.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let tx = tx.clone();
                let answered = answered.clone();
                let state = state.clone();
                async move {
                    let q: HashMap<String, String> =
                        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect();
                    let ends = (q.contains_key("code") || q.contains_key("error"))
                        && q.get("state") == Some(&state);
                    let page = if q.contains_key("code") {
                        DONE_PAGE
                    } else {
                        FAILED_PAGE
                    };
                    if ends && !std::mem::replace(&mut *answered.lock().unwrap(), true) {
                        let _ = tx.send(q).await;
                    }
                    let mut r = Response::new(Full::new(Bytes::from_static(if ends {
                        page.as_bytes()
                    } else {
                        b""
                    })));
                    if !ends {
                        // A favicon or a probe: not the redirect.
                        *r.status_mut() = StatusCode::NOT_FOUND;
                    }
                    r.headers_mut().insert(
                        "content-type",
                        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    Ok::<_, std::convert::Infallible>(r)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

//! The Azure queue subset (reference §4.1, §7.4): Put, Get (with visibility timeout), Peek,
//! Update (release with visibility 0) and Delete Message, behind queue SAS checks (`sp=raup`).
//! One queue carries the events of many jobs.

use super::sas::{SasAuthority, SasDenied};
use super::server::{azure_error, body_bytes, empty, http_date, query_map, read_body, Body};
use super::Emu;
use chrono::{DateTime, Duration, Utc};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

const DEFAULT_VISIBILITY_SECS: i64 = 30;
const MAX_VISIBILITY_SECS: i64 = 7 * 24 * 3600;
const DEFAULT_TTL_SECS: i64 = 7 * 24 * 3600;

struct Msg {
    id: Uuid,
    text: String,
    inserted: DateTime<Utc>,
    expires: DateTime<Utc>,
    pop_receipt: String,
    visible_at: DateTime<Utc>,
    dequeue_count: u32,
}

#[derive(Default)]
pub struct Queues {
    inner: Mutex<HashMap<String, Vec<Msg>>>,
}

impl Queues {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<Msg>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create(&self, name: &str) {
        self.lock().entry(name.to_string()).or_default();
    }

    pub fn exists(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    /// Server-side Put Message (the importer's events). Returns false for an unknown queue.
    pub fn put(&self, name: &str, text: String) -> bool {
        let mut map = self.lock();
        let Some(q) = map.get_mut(name) else {
            return false;
        };
        q.push(new_msg(
            text,
            Duration::seconds(DEFAULT_TTL_SECS),
            Duration::zero(),
        ));
        true
    }
}

fn new_msg(text: String, ttl: Duration, initial_invisibility: Duration) -> Msg {
    let now = Utc::now();
    Msg {
        id: Uuid::new_v4(),
        text,
        inserted: now,
        expires: now + ttl,
        pop_receipt: new_pop_receipt(),
        visible_at: now + initial_invisibility,
        dequeue_count: 0,
    }
}

fn new_pop_receipt() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(&Uuid::new_v4().as_bytes()[..8])
}

fn xml_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn message_xml(m: &Msg, with_text: bool, with_receipt: bool) -> String {
    let mut s = format!(
        "<QueueMessage><MessageId>{}</MessageId><InsertionTime>{}</InsertionTime><ExpirationTime>{}</ExpirationTime>",
        m.id,
        http_date(m.inserted),
        http_date(m.expires)
    );
    if with_receipt {
        s.push_str(&format!(
            "<PopReceipt>{}</PopReceipt><TimeNextVisible>{}</TimeNextVisible>",
            xml_escape(&m.pop_receipt),
            http_date(m.visible_at)
        ));
    }
    if with_text {
        s.push_str(&format!(
            "<DequeueCount>{}</DequeueCount><MessageText>{}</MessageText>",
            m.dequeue_count,
            xml_escape(&m.text)
        ));
    }
    s.push_str("</QueueMessage>");
    s
}

fn xml_response(status: StatusCode, xml: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/xml")
        .body(body_bytes(format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>{xml}"
        )))
        .unwrap_or_else(|_| {
            azure_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "response",
            )
        })
}

fn parse_message_text(xml: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut inside = false;
    let mut text = None;
    loop {
        match r.read_event_into(&mut buf).ok()? {
            Event::Start(e) => inside = e.local_name().as_ref() == b"MessageText",
            Event::Text(t) if inside => text = Some(t.unescape().ok()?.into_owned()),
            Event::End(e) if e.local_name().as_ref() == b"MessageText" => {
                inside = false;
                text.get_or_insert_with(String::new);
            }
            Event::Eof => return text,
            _ => {}
        }
        buf.clear();
    }
}

fn int_param(q: &HashMap<String, String>, name: &str) -> Option<i64> {
    q.get(name).and_then(|v| v.parse().ok())
}

/// `path` is what follows `/queue/`: `{account}/{queue}/messages[/{id}]`.
pub async fn handle(
    emu: &Arc<Emu>,
    req: Request<Incoming>,
    path: &str,
    query: &str,
) -> Response<Body> {
    let segs: Vec<&str> = path.split('/').collect();
    let (account, queue) = (
        segs.first().copied().unwrap_or(""),
        segs.get(1).copied().unwrap_or(""),
    );
    let on_messages = segs
        .get(2)
        .is_some_and(|s| s.eq_ignore_ascii_case("messages"));
    let msg_id = segs.get(3).copied().filter(|s| !s.is_empty());
    if account != emu.sas.account() || queue.is_empty() || !on_messages {
        return azure_error(
            StatusCode::BAD_REQUEST,
            "InvalidUri",
            "The emulator serves only {queue}/messages operations.",
        );
    }
    let q = query_map(query);
    let peek = q
        .get("peekonly")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let method = req.method().clone();
    let need = match (&method, msg_id) {
        (&Method::POST, _) => "a",
        (&Method::GET, _) if peek => "r",
        (&Method::GET, _) | (&Method::DELETE, Some(_)) => "p",
        (&Method::PUT, Some(_)) => "u",
        (&Method::DELETE, None) => "d",
        _ => "p",
    };
    if let Err(d) = emu
        .sas
        .check(query, &SasAuthority::queue_canonical(queue), need)
    {
        return match d {
            SasDenied::Authentication(m) => {
                azure_error(StatusCode::FORBIDDEN, "AuthenticationFailed", &m)
            }
            SasDenied::Permission(m) => {
                azure_error(StatusCode::FORBIDDEN, "AuthorizationPermissionMismatch", &m)
            }
        };
    }
    if !emu.queues.exists(queue) {
        return azure_error(
            StatusCode::NOT_FOUND,
            "QueueNotFound",
            "The specified queue does not exist.",
        );
    }
    let now = Utc::now();
    match (method, msg_id) {
        (Method::POST, None) => {
            let body = match read_body(req.into_body(), 1 << 20).await {
                Ok(b) => b,
                Err(e) => return azure_error(StatusCode::BAD_REQUEST, "InvalidInput", &e),
            };
            let Some(text) = parse_message_text(&body) else {
                return azure_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidXmlDocument",
                    "The body must be <QueueMessage><MessageText>…</MessageText></QueueMessage>.",
                );
            };
            if text.len() > 64 * 1024 {
                return azure_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestBodyTooLarge",
                    "The message exceeds 64 KiB.",
                );
            }
            let ttl = int_param(&q, "messagettl")
                .filter(|t| *t > 0)
                .unwrap_or(DEFAULT_TTL_SECS);
            let vis = int_param(&q, "visibilitytimeout")
                .unwrap_or(0)
                .clamp(0, MAX_VISIBILITY_SECS);
            let m = new_msg(text, Duration::seconds(ttl), Duration::seconds(vis));
            let xml = format!(
                "<QueueMessagesList>{}</QueueMessagesList>",
                message_xml(&m, false, true)
            );
            let mut map = emu.queues.lock();
            if let Some(list) = map.get_mut(queue) {
                list.push(m);
            }
            xml_response(StatusCode::CREATED, xml)
        }
        (Method::GET, None) => {
            let n = int_param(&q, "numofmessages").unwrap_or(1);
            if !(1..=32).contains(&n) {
                return azure_error(
                    StatusCode::BAD_REQUEST,
                    "OutOfRangeQueryParameterValue",
                    "numofmessages must be between 1 and 32.",
                );
            }
            let vis = int_param(&q, "visibilitytimeout").unwrap_or(DEFAULT_VISIBILITY_SECS);
            if !(1..=MAX_VISIBILITY_SECS).contains(&vis) && !peek {
                return azure_error(
                    StatusCode::BAD_REQUEST,
                    "OutOfRangeQueryParameterValue",
                    "visibilitytimeout must be between 1 second and 7 days.",
                );
            }
            let mut map = emu.queues.lock();
            let list = map.entry(queue.to_string()).or_default();
            list.retain(|m| m.expires > now);
            let mut xml = String::from("<QueueMessagesList>");
            for m in list
                .iter_mut()
                .filter(|m| m.visible_at <= now)
                .take(n as usize)
            {
                if peek {
                    xml.push_str(&message_xml(m, true, false));
                } else {
                    m.dequeue_count += 1;
                    m.pop_receipt = new_pop_receipt();
                    m.visible_at = now + Duration::seconds(vis);
                    xml.push_str(&message_xml(m, true, true));
                }
            }
            xml.push_str("</QueueMessagesList>");
            xml_response(StatusCode::OK, xml)
        }
        (method @ (Method::DELETE | Method::PUT), Some(id)) => {
            let receipt = q.get("popreceipt").cloned().unwrap_or_default();
            let mut map = emu.queues.lock();
            let list = map.entry(queue.to_string()).or_default();
            let Some(pos) = list
                .iter()
                .position(|m| m.id.to_string().eq_ignore_ascii_case(id))
            else {
                return azure_error(
                    StatusCode::NOT_FOUND,
                    "MessageNotFound",
                    "The specified message does not exist.",
                );
            };
            if list[pos].pop_receipt != receipt {
                return azure_error(StatusCode::BAD_REQUEST, "PopReceiptMismatch", "The specified pop receipt did not match the pop receipt for a dequeued message.");
            }
            if method == Method::DELETE {
                list.remove(pos);
                return Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(empty())
                    .unwrap_or_else(|_| {
                        azure_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "InternalError",
                            "response",
                        )
                    });
            }
            let vis = int_param(&q, "visibilitytimeout")
                .unwrap_or(0)
                .clamp(0, MAX_VISIBILITY_SECS);
            let m = &mut list[pos];
            m.visible_at = now + Duration::seconds(vis);
            m.pop_receipt = new_pop_receipt();
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header("x-ms-popreceipt", m.pop_receipt.clone())
                .header("x-ms-time-next-visible", http_date(m.visible_at))
                .body(empty())
                .unwrap_or_else(|_| {
                    azure_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "response",
                    )
                })
        }
        _ => azure_error(
            StatusCode::BAD_REQUEST,
            "UnsupportedHttpVerb",
            "The emulator does not support this queue operation.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_is_unescaped() {
        assert_eq!(
            parse_message_text(b"<QueueMessage><MessageText>a&amp;b</MessageText></QueueMessage>")
                .as_deref(),
            Some("a&b")
        );
        assert_eq!(
            parse_message_text(b"<QueueMessage><MessageText></MessageText></QueueMessage>")
                .as_deref(),
            Some("")
        );
        assert_eq!(parse_message_text(b"<Other/>"), None);
    }
}

//! Azure queue over a SAS URI: get, delete and put messages (reference §4.1, §7.4).

use super::child_url;
use crate::http::{Http, HttpError, Req};
use crate::wire::STORAGE_VERSION;
use quick_xml::events::Event;
use reqwest::Method;

#[derive(Clone)]
pub struct QueueClient {
    http: Http,
    base: url::Url,
}

#[derive(Debug, Clone, Default)]
pub struct QueueMessage {
    pub id: String,
    pub pop_receipt: String,
    pub text: String,
}

impl QueueClient {
    pub fn new(http: Http, queue_sas_url: &str) -> Result<Self, HttpError> {
        let base = crate::http::check_url(queue_sas_url)?;
        Ok(QueueClient { http, base })
    }

    /// Dequeues up to `max` (≤ 32) messages, hidden from others for `visibility_secs`.
    pub async fn get_messages(
        &self,
        max: u32,
        visibility_secs: u32,
    ) -> Result<Vec<QueueMessage>, HttpError> {
        let n = max.clamp(1, 32).to_string();
        let v = visibility_secs.to_string();
        let url = child_url(
            &self.base,
            "messages",
            &[("numofmessages", &n), ("visibilitytimeout", &v)],
        );
        let r = self
            .http
            .send(Req::new(Method::GET, url).header("x-ms-version", STORAGE_VERSION))
            .await?;
        Ok(parse_messages(&String::from_utf8_lossy(&r.body)))
    }

    pub async fn delete_message(&self, m: &QueueMessage) -> Result<(), HttpError> {
        let url = child_url(
            &self.base,
            &format!("messages/{}", m.id),
            &[("popreceipt", &m.pop_receipt)],
        );
        self.http
            .send(Req::new(Method::DELETE, url).header("x-ms-version", STORAGE_VERSION))
            .await
            .map(|_| ())
    }

    /// Puts a message; `text` is sent as given (callers base64 it as the service does).
    pub async fn put_message(&self, text: &str) -> Result<(), HttpError> {
        let url = child_url(&self.base, "messages", &[]);
        let body = format!(
            "<QueueMessage><MessageText>{}</MessageText></QueueMessage>",
            quick_xml::escape::escape(text)
        );
        self.http
            .send(
                Req::new(Method::POST, url)
                    .header("x-ms-version", STORAGE_VERSION)
                    .header("Content-Type", "application/xml")
                    .body(body),
            )
            .await
            .map(|_| ())
    }
}

fn parse_messages(xml: &str) -> Vec<QueueMessage> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut cur: Option<QueueMessage> = None;
    let mut field = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if name == "QueueMessage" {
                    cur = Some(QueueMessage::default());
                }
                field = name;
            }
            Ok(Event::Text(t)) => {
                if let Some(m) = cur.as_mut() {
                    let v = t.unescape().map(|c| c.into_owned()).unwrap_or_default();
                    match field.as_str() {
                        "MessageId" => m.id = v,
                        "PopReceipt" => m.pop_receipt = v,
                        "MessageText" => m.text = v,
                        _ => {}
                    }
                }
            }
            Ok(Event::End(e)) => {
                if e.name().as_ref() == b"QueueMessage" {
                    if let Some(m) = cur.take() {
                        out.push(m);
                    }
                }
                field.clear();
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_azure_queue_listing() {
        let xml = "<?xml version=\"1.0\"?><QueueMessagesList><QueueMessage><MessageId>m1</MessageId><InsertionTime>x</InsertionTime><PopReceipt>p%2B1</PopReceipt><MessageText>eyJhIjoxfQ==</MessageText></QueueMessage><QueueMessage><MessageId>m2</MessageId><PopReceipt>p2</PopReceipt><MessageText>e30=</MessageText></QueueMessage></QueueMessagesList>";
        let m = super::parse_messages(xml);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (
                m[0].id.as_str(),
                m[0].pop_receipt.as_str(),
                m[0].text.as_str()
            ),
            ("m1", "p%2B1", "eyJhIjoxfQ==")
        );
    }
}

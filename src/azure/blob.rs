//! Block blobs in one SAS container: Put Blob, Put Block, Put Block List, metadata, snapshot, get.

use super::child_url;
use crate::http::{Http, HttpError, Req};
use crate::wire::{IV_METADATA, STORAGE_VERSION};
use base64::Engine as _;
use bytes::Bytes;
use reqwest::Method;

#[derive(Clone)]
pub struct ContainerClient {
    http: Http,
    base: url::Url,
}

#[derive(Debug, Clone, Default)]
pub struct BlobProperties {
    pub content_length: u64,
    pub content_md5: Option<String>,
    pub iv: Option<String>,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Block ids must have one length within a blob; a zero-padded counter, base64.
pub fn block_id(n: u32) -> String {
    b64(format!("{n:08}").as_bytes())
}

impl ContainerClient {
    pub fn new(http: Http, container_sas_url: &str) -> Result<Self, HttpError> {
        let base = crate::http::check_url(container_sas_url)?;
        Ok(ContainerClient { http, base })
    }

    pub fn blob_url(&self, name: &str, extra: &[(&str, &str)]) -> String {
        child_url(&self.base, name, extra)
    }

    fn req(&self, method: Method, name: &str, extra: &[(&str, &str)]) -> Req {
        Req::new(method, self.blob_url(name, extra)).header("x-ms-version", STORAGE_VERSION)
    }

    /// Single-shot upload with the IV in metadata and `Content-MD5` over the bytes sent.
    pub async fn put_blob(
        &self,
        name: &str,
        body: Bytes,
        iv_b64: Option<&str>,
    ) -> Result<(), HttpError> {
        let md5 = md5::compute_digest(&body);
        self.put_blob_md5(name, body, iv_b64, &md5).await
    }

    /// [`put_blob`](Self::put_blob) with the body's MD5 already computed (by the thread that
    /// encrypted it: hashing the bytes twice was a visible share of a large upload).
    pub async fn put_blob_md5(
        &self,
        name: &str,
        body: Bytes,
        iv_b64: Option<&str>,
        md5: &[u8; 16],
    ) -> Result<(), HttpError> {
        let md5 = b64(md5);
        let mut r = self
            .req(Method::PUT, name, &[])
            .header("x-ms-blob-type", "BlockBlob")
            .header("Content-MD5", &md5)
            .header("Content-Type", "application/octet-stream");
        if let Some(iv) = iv_b64 {
            r = r.header(&format!("x-ms-meta-{IV_METADATA}"), iv);
        }
        self.http.send(r.body(body)).await.map(|_| ())
    }

    pub async fn put_block(
        &self,
        name: &str,
        block_id: &str,
        body: Bytes,
    ) -> Result<(), HttpError> {
        let md5 = md5::compute_digest(&body);
        self.put_block_md5(name, block_id, body, &md5).await
    }

    /// [`put_block`](Self::put_block) with the body's MD5 already computed.
    pub async fn put_block_md5(
        &self,
        name: &str,
        block_id: &str,
        body: Bytes,
        md5: &[u8; 16],
    ) -> Result<(), HttpError> {
        let md5 = b64(md5);
        let r = self
            .req(
                Method::PUT,
                name,
                &[("comp", "block"), ("blockid", block_id)],
            )
            .header("Content-MD5", &md5);
        self.http.send(r.body(body)).await.map(|_| ())
    }

    /// Commits the blocks in order; the IV and the MD5 of the whole ciphertext travel here.
    pub async fn put_block_list(
        &self,
        name: &str,
        ids: &[String],
        iv_b64: Option<&str>,
        whole_md5: Option<&[u8]>,
    ) -> Result<(), HttpError> {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in ids {
            xml.push_str("<Latest>");
            xml.push_str(id);
            xml.push_str("</Latest>");
        }
        xml.push_str("</BlockList>");
        let mut r = self
            .req(Method::PUT, name, &[("comp", "blocklist")])
            .header("Content-Type", "application/xml");
        if let Some(iv) = iv_b64 {
            r = r.header(&format!("x-ms-meta-{IV_METADATA}"), iv);
        }
        if let Some(m) = whole_md5 {
            r = r.header("x-ms-blob-content-md5", &b64(m));
        }
        self.http.send(r.body(xml)).await.map(|_| ())
    }

    /// Replaces all metadata of the blob.
    pub async fn set_metadata(&self, name: &str, pairs: &[(&str, &str)]) -> Result<(), HttpError> {
        let mut r = self.req(Method::PUT, name, &[("comp", "metadata")]);
        for (k, v) in pairs {
            r = r.header(&format!("x-ms-meta-{k}"), v);
        }
        self.http.send(r).await.map(|_| ())
    }

    /// Snapshot after the last write: the service imports the newest snapshot (reference §4.2).
    pub async fn snapshot(&self, name: &str) -> Result<Option<String>, HttpError> {
        let r = self
            .http
            .send(self.req(Method::PUT, name, &[("comp", "snapshot")]))
            .await?;
        Ok(r.header("x-ms-snapshot").map(str::to_string))
    }

    pub async fn get(&self, name: &str) -> Result<(Bytes, BlobProperties), HttpError> {
        let r = self.http.send(self.req(Method::GET, name, &[])).await?;
        let props = BlobProperties {
            content_length: r.body.len() as u64,
            content_md5: r.header("content-md5").map(str::to_string),
            iv: meta_iv(&r.headers),
        };
        Ok((r.body, props))
    }

    pub async fn properties(&self, name: &str) -> Result<BlobProperties, HttpError> {
        let r = self.http.send(self.req(Method::HEAD, name, &[])).await?;
        Ok(BlobProperties {
            content_length: r
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            content_md5: r.header("content-md5").map(str::to_string),
            iv: meta_iv(&r.headers),
        })
    }
}

/// Metadata names are case-insensitive on the wire; look `IV` up that way.
fn meta_iv(h: &reqwest::header::HeaderMap) -> Option<String> {
    let want = format!("x-ms-meta-{}", IV_METADATA.to_ascii_lowercase());
    h.iter()
        .find(|(k, _)| k.as_str().eq_ignore_ascii_case(&want))
        .and_then(|(_, v)| v.to_str().ok())
        .map(str::to_string)
}

/// MD5 helper kept local so callers need not import the digest traits.
pub(crate) mod md5 {
    use md5::{Digest, Md5};
    pub fn compute_digest(b: &[u8]) -> [u8; 16] {
        Md5::digest(b).into()
    }
}

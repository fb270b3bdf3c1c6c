//! Azure Blob and Queue REST over SAS URIs: the subset the Migration API needs (reference §4).
//!
//! Works with host-style URIs (`https://acct.blob.core.windows.net/c?sas`) and path-style ones
//! (`http://127.0.0.1:10000/devstoreaccount1/c?sas`, as Azurite and the emulator serve them): a
//! blob URL is the container URL with `/{name}` added to its path and the SAS query kept.

pub mod account;
pub mod blob;
pub mod queue;

pub use account::StorageAccount;
pub use blob::{BlobProperties, ContainerClient};
pub use queue::{QueueClient, QueueMessage};

/// Adds `/{name}` (each segment percent-encoded, `/` kept) to a SAS URL's path, and `extra`
/// query pairs before the SAS.
pub(crate) fn child_url(base: &url::Url, name: &str, extra: &[(&str, &str)]) -> String {
    let mut u = base.clone();
    {
        let mut segs = match u.path_segments_mut() {
            Ok(s) => s,
            Err(_) => return base.to_string(),
        };
        segs.pop_if_empty();
        for s in name.split('/') {
            segs.push(s);
        }
    }
    let sas = base.query().unwrap_or("").to_string();
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    let mut query = q.finish();
    if !sas.is_empty() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&sas);
    }
    u.set_query(if query.is_empty() { None } else { Some(&query) });
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::child_url;

    #[test]
    fn child_urls_keep_sas_and_path_style() {
        let host =
            url::Url::parse("https://acct.blob.core.windows.net:443/c1?sv=1&sig=x%2By").unwrap();
        assert_eq!(
            child_url(&host, "a b/ü.dat", &[("comp", "snapshot")]),
            "https://acct.blob.core.windows.net/c1/a%20b/%C3%BC.dat?comp=snapshot&sv=1&sig=x%2By"
        );
        let path = url::Url::parse("http://127.0.0.1:10000/devstoreaccount1/c1?sig=s").unwrap();
        assert_eq!(
            child_url(&path, "Manifest.xml", &[]),
            "http://127.0.0.1:10000/devstoreaccount1/c1/Manifest.xml?sig=s"
        );
    }
}

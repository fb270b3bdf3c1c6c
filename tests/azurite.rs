//! The blob and queue client against Azurite, Microsoft's storage emulator, so our client is
//! held to real Azure behaviour and not only to our own emulator.
//!
//! Each test run starts its own Azurite (fresh location, free ports). It is found through
//! `AZURITE_BIN`, `./node_modules/.bin/azurite` or `PATH`; `.ci/test` installs it from npm.

mod common;

use base64::Engine as _;
use bytes::Bytes;
use common::azurite::{start_azurite, Azurite, ACCOUNT, DEV_KEY};
use spmt::azure::{ContainerClient, QueueClient};
use spmt::crypto::{self, Key};
use spmt::http::Http;
use spmt::wire::{self, Sas};

fn key() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(DEV_KEY)
        .unwrap()
}

fn expiry() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Creates a container with an account SAS and returns a service SAS URL for it with `perms`.
async fn container(az: &Azurite, name: &str, perms: &str) -> String {
    let acct = wire::account_sas(ACCOUNT, &key(), "bq", "sco", "rwdlacup", &expiry());
    let r = reqwest::Client::new()
        .put(format!("{}/{name}?restype=container&{acct}", az.blob))
        .header("x-ms-version", wire::STORAGE_VERSION)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create container: {}", r.status());
    let mut sas = Sas {
        sv: wire::SAS_VERSION.into(),
        sr: "c".into(),
        sp: perms.into(),
        se: expiry(),
        spr: "https,http".into(),
        ..Default::default()
    };
    sas.sign(&format!("/blob/{ACCOUNT}/{name}"), &key());
    format!("{}/{name}?{}", az.blob, sas.to_query())
}

#[tokio::test]
async fn blob_client_round_trips_through_azurite() {
    let az = start_azurite();
    let url = container(&az, "spmt-data", "rw").await;
    let c = ContainerClient::new(Http::new().unwrap(), &url).unwrap();
    let k = Key::random();

    // Put Blob: ciphertext, IV in metadata, Content-MD5 checked by Azure.
    let iv = crypto::random_iv();
    let plain = b"hello migration".to_vec();
    c.put_blob(
        "small.dat",
        Bytes::from(crypto::encrypt(&k, &iv, &plain)),
        Some(&crypto::iv_to_base64(&iv)),
    )
    .await
    .unwrap();
    c.snapshot("small.dat").await.unwrap();
    let (body, props) = c.get("small.dat").await.unwrap();
    assert_eq!(
        props.iv.as_deref(),
        Some(crypto::iv_to_base64(&iv).as_str()),
        "IV metadata comes back"
    );
    assert_eq!(crypto::decrypt(&k, &iv, &body).unwrap(), plain);

    // Put Block ×3 + Put Block List with the IV and the whole-blob MD5.
    let iv2 = crypto::random_iv();
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 123)
        .map(|i| (i % 251) as u8)
        .collect();
    let cipher = crypto::encrypt(&k, &iv2, &big);
    let mut ids = vec![];
    for (n, chunk) in cipher.chunks(1024 * 1024 + 16).enumerate() {
        let id = spmt::azure::blob::block_id(n as u32);
        c.put_block("big.dat", &id, Bytes::copy_from_slice(chunk))
            .await
            .unwrap();
        ids.push(id);
    }
    use md5::Digest;
    let whole: [u8; 16] = md5::Md5::digest(&cipher).into();
    c.put_block_list(
        "big.dat",
        &ids,
        Some(&crypto::iv_to_base64(&iv2)),
        Some(&whole),
    )
    .await
    .unwrap();
    assert!(
        c.snapshot("big.dat").await.unwrap().is_some(),
        "snapshot time returned"
    );
    let p = c.properties("big.dat").await.unwrap();
    assert_eq!(p.content_length, cipher.len() as u64);
    assert_eq!(
        p.content_md5.as_deref(),
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(whole)
                .as_str()
        )
    );
    let (body, _) = c.get("big.dat").await.unwrap();
    assert_eq!(crypto::decrypt(&k, &iv2, &body).unwrap(), big);

    // Metadata replacement keeps the IV readable.
    c.set_metadata("big.dat", &[("IV", &crypto::iv_to_base64(&iv2))])
        .await
        .unwrap();
    assert_eq!(
        c.properties("big.dat").await.unwrap().iv.as_deref(),
        Some(crypto::iv_to_base64(&iv2).as_str())
    );

    // A corrupted body is refused by Azure's MD5 check, and the error names no secret.
    let bad = ContainerClient::new(Http::new().unwrap(), &url.replace("sig=", "sig=x")).unwrap();
    let err = bad
        .put_blob("x.dat", Bytes::from_static(b"0123456789abcdef"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("403"), "{err}");
    assert!(
        !err.contains(&url[url.find("sig=").unwrap() + 4..]),
        "signature redacted: {err}"
    );
}

#[tokio::test]
async fn rw_sas_cannot_list_the_container() {
    let az = start_azurite();
    let url = container(&az, "spmt-nolist", "rw").await;
    let (base, q) = url.split_once('?').unwrap();
    let r = reqwest::get(format!("{base}?restype=container&comp=list&{q}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn queue_client_puts_gets_and_deletes() {
    let az = start_azurite();
    let acct = wire::account_sas(ACCOUNT, &key(), "bq", "sco", "rwdlacup", &expiry());
    let r = reqwest::Client::new()
        .put(format!("{}/spmt-q?{acct}", az.queue))
        .header("x-ms-version", wire::STORAGE_VERSION)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create queue: {}", r.status());
    let mut sas = Sas {
        sv: wire::SAS_VERSION.into(),
        sp: "raup".into(),
        se: expiry(),
        spr: "https,http".into(),
        ..Default::default()
    };
    sas.sign(&format!("/queue/{ACCOUNT}/spmt-q"), &key());
    let q = QueueClient::new(
        Http::new().unwrap(),
        &format!("{}/spmt-q?{}", az.queue, sas.to_query()),
    )
    .unwrap();
    let text =
        base64::engine::general_purpose::STANDARD.encode(r#"{"Event":"JobQueued","JobId":"1"}"#);
    q.put_message(&text).await.unwrap();
    q.put_message(&text).await.unwrap();
    let got = q.get_messages(32, 30).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].text, text);
    assert!(
        q.get_messages(32, 30).await.unwrap().is_empty(),
        "invisible while leased"
    );
    for m in &got {
        q.delete_message(m).await.unwrap();
    }
    // After delete they never come back, even once the visibility window would have passed.
    let q2 = q.clone();
    let again = q2.get_messages(32, 1).await.unwrap();
    assert!(again.is_empty());
}

//! Interop with an OpenID provider spmt did not write: panva's `oidc-provider` (npm, started on
//! loopback by tests/oidc/provider.mjs). spmt signs in against it with explicit endpoints by
//! device code (the test approves the code), by certificate (`private_key_jwt`, PS256 and
//! RS256) and by browser (authorization code + PKCE; curl plays the browser), and the local
//! target's SharePoint side accepts its tokens because it is told to trust that issuer's JWKS.
//! `.ci/test` installs oidc-provider from npm.

mod common;

use common::certs::{certificate, public_jwk};
use common::cli::{assert_exit_0, spmt, BrowserSignIn};
use common::emulator::{config, start};
use common::tree::make_numbered_tree;
use spmt::emulator::{EmulatorConfig, EmulatorHandle, EntraConfig, TrustedIssuer};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The provider, killed on drop.
struct OidcProvider {
    child: Child,
    issuer: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(app_jwk: &Path) -> OidcProvider {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("node_modules/oidc-provider").is_dir(),
        "oidc-provider is not installed: npm install --no-save oidc-provider@9 (.ci/test does)"
    );
    let mut child = Command::new("node")
        .arg(root.join("tests/oidc/provider.mjs"))
        .arg(app_jwk)
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // The provider logs to stdout now and then: keep reading, or it dies of EPIPE.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let v: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("oidc-provider did not start ({e}): {line}"));
    OidcProvider {
        child,
        issuer: v["issuer"].as_str().unwrap().to_string(),
    }
}

struct Fixture {
    provider: OidcProvider,
    h: EmulatorHandle,
    root: tempfile::TempDir,
    src: tempfile::TempDir,
    pem: PathBuf,
    _certs: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let certs = tempfile::tempdir().unwrap();
    let (pem, _, _) = certificate(certs.path(), "app", 2020, 2090);
    let jwk = certs.path().join("app.jwk");
    std::fs::write(&jwk, public_jwk(&pem).to_string()).unwrap();
    let provider = start_provider(&jwk);
    let root = tempfile::tempdir().unwrap();
    let h = start(EmulatorConfig {
        entra: EntraConfig {
            trusted_issuers: vec![TrustedIssuer {
                issuer: provider.issuer.clone(),
                jwks_uri: format!("{}/jwks", provider.issuer),
            }],
            ..EntraConfig::default()
        },
        ..config(root.path())
    })
    .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/test/resource", provider.issuer))
        .body(h.base_url().to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let src = tempfile::tempdir().unwrap();
    make_numbered_tree(src.path(), 8);
    Fixture {
        provider,
        h,
        root,
        src,
        pem,
        _certs: certs,
    }
}

impl Fixture {
    fn migrate(&self, work: &Path, args: &[&str]) -> Command {
        let iss = &self.provider.issuer;
        let mut c = spmt();
        c.args([
            "migrate",
            "--target-list",
            "Documents",
            "--token-cache",
            "none",
        ])
        .arg("--target-site-url")
        .arg(self.h.site_url("local"))
        .arg("--file-share-source")
        .arg(self.src.path())
        .arg("--working-folder")
        .arg(work)
        .arg("--token-endpoint")
        .arg(format!("{iss}/token"))
        .args(args)
        .env_remove("SPMT_ACCESS_TOKEN")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("BROWSER");
        c
    }

    fn migrated(&self) -> usize {
        common::emulator::library_file_count(self.root.path())
    }
}

async fn run(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_against_oidc_provider() {
    let f = fixture().await;
    let work = tempfile::tempdir().unwrap();
    let device = format!("{}/device/auth", f.provider.issuer);
    let c = f.migrate(
        work.path(),
        &[
            "--auth",
            "device-code",
            "--client-id",
            "spmt-public",
            "--device-endpoint",
            &device,
            "--scope",
            "openid offline_access AllSites.FullControl",
        ],
    );
    let child = tokio::task::spawn_blocking({
        let mut c = c;
        move || c.output().unwrap()
    });
    let approve = format!("{}/test/approve", f.provider.issuer);
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let r = reqwest::Client::new().post(&approve).send().await.unwrap();
        if r.status().is_success() || child.is_finished() {
            break;
        }
    }
    let out = child.await.unwrap();
    assert_exit_0(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/device"),
        "the provider's address is shown: {err}"
    );
    assert_eq!(f.migrated(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_private_key_jwt_against_oidc_provider() {
    let f = fixture().await;
    let pem = f.pem.display().to_string();
    for extra in [&[][..], &["--assertion-rs256"][..]] {
        let work = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--auth",
            "certificate",
            "--client-id",
            "spmt-app",
            "--certificate-path",
            &pem,
            "--scope",
            "AllSites.FullControl",
        ];
        args.extend_from_slice(extra);
        let out = run(f.migrate(work.path(), &args)).await;
        assert_exit_0(&out);
    }
    assert_eq!(f.migrated(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_pkce_against_oidc_provider() {
    let f = fixture().await;
    let work = tempfile::tempdir().unwrap();
    let authorize = format!("{}/auth", f.provider.issuer);
    let c = f.migrate(
        work.path(),
        &[
            "--auth",
            "browser",
            "--no-browser",
            "--client-id",
            "spmt-public",
            "--authorize-endpoint",
            &authorize,
            "--scope",
            "openid AllSites.FullControl",
        ],
    );
    let signing_in = tokio::task::spawn_blocking(move || BrowserSignIn::start(c))
        .await
        .unwrap();
    let url = signing_in.url.clone();
    // The browser: follows the provider's redirects (login and consent answered by the
    // provider's test interaction) with its cookies, back to spmt's loopback listener.
    let jar = work.path().join("cookies");
    let browser = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args([
                "-s",
                "-L",
                "--max-redirs",
                "20",
                "-o",
                "/dev/null",
                "-w",
                "%{url_effective} %{http_code}",
            ])
            .arg("-c")
            .arg(&jar)
            .arg("-b")
            .arg(&jar)
            .arg(&url)
            .output()
            .expect("curl runs")
    })
    .await
    .unwrap();
    let landed = String::from_utf8_lossy(&browser.stdout).into_owned();
    let (status, err) = tokio::task::spawn_blocking(move || signing_in.finish())
        .await
        .unwrap();
    assert!(
        landed.starts_with("http://localhost:") && landed.ends_with(" 200"),
        "the browser ended at spmt's listener: {landed}\n{err}"
    );
    assert!(status.success(), "{err}");
    assert_eq!(f.migrated(), 8);
}

//! Sign-in end to end: `spmt migrate` signs in to the local target's Entra personality with each
//! flow (device code approved by the test, password, certificate PEM/PFX with PS256 and RS256,
//! browser with the test playing the browser), its tokens are validated by the target's
//! SharePoint side, renewed while a run outlasts them, and saved for later runs. Every bad
//! input and refusal ends in a message naming the problem and the fix, with no secret in any
//! output or log.

mod common;

use common::certs::certificate;
use common::cli::{assert_exit_0, spmt, BrowserSignIn};
use common::emulator::{config, start};
use common::tree::make_numbered_tree;
use spmt::emulator::{
    EmulatorConfig, EmulatorHandle, EntraApp, EntraConfig, EntraUser, Persona, LOCAL_ADMIN,
    LOCAL_ADMIN_PASSWORD, LOCAL_CLIENT_ID,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const MFA_USER: &str = "mfa@local.onmicrosoft.com";
const BLOCKED_USER: &str = "blocked@local.onmicrosoft.com";
const READER: &str = "reader@local.onmicrosoft.com";
const DECLINER: &str = "decliner@local.onmicrosoft.com";
const CLOSED_APP: &str = "11111111-2222-3333-4444-555555555555";
const APP_ONLY: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn user(name: &str, persona: Persona, site_admin: bool) -> EntraUser {
    EntraUser {
        username: name.into(),
        password: format!("{name}-pw"),
        persona,
        site_admin,
    }
}

/// The local tenant with personas, an app with public flows off, and an app-only app with
/// the given certificates registered.
fn entra(certs: Vec<PathBuf>) -> EntraConfig {
    EntraConfig {
        apps: vec![
            EntraApp::default(),
            EntraApp {
                client_id: CLOSED_APP.into(),
                public_client: false,
                ..EntraApp::default()
            },
            EntraApp {
                client_id: APP_ONLY.into(),
                public_client: false,
                certificates: certs,
                redirect_uris: vec![],
            },
        ],
        users: vec![
            EntraUser::default(),
            user(MFA_USER, Persona::MfaRequired, true),
            user(BLOCKED_USER, Persona::BlockedByPolicy, true),
            user(READER, Persona::Normal, false),
            user(DECLINER, Persona::DeclinesConsent, true),
        ],
        device_poll_interval_secs: 1,
        // A code the test failed to approve ends the run in minutes, not Entra's 15.
        device_code_lifetime_secs: 120,
        ..EntraConfig::default()
    }
}

struct Fixture {
    h: EmulatorHandle,
    root: tempfile::TempDir,
    src: tempfile::TempDir,
    /// SPMT_CONFIG_DIR: where sign-ins are saved.
    config: tempfile::TempDir,
}

async fn fixture(cfg: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    make_numbered_tree(src.path(), 12);
    let h = start(cfg(EmulatorConfig {
        entra: entra(vec![]),
        ..config(root.path())
    }))
    .await;
    Fixture {
        h,
        root,
        src,
        config: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    fn site(&self) -> String {
        self.h.site_url("local")
    }

    /// `spmt migrate` into the site with `args`, saved sign-ins in this fixture's folder.
    fn migrate(&self, work: &Path, args: &[&str]) -> Command {
        let mut c = spmt();
        c.args(["migrate", "--target-list", "Documents", "--json"])
            .arg("--target-site-url")
            .arg(self.site())
            .arg("--file-share-source")
            .arg(self.src.path())
            .arg("--working-folder")
            .arg(work)
            .args(args)
            .env("SPMT_CONFIG_DIR", self.config.path())
            .env_remove("SPMT_ACCESS_TOKEN")
            .env_remove("SPMT_CLIENT_ID")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("SPMT_PASSWORD")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("BROWSER");
        c
    }

    /// [`migrate`](Self::migrate) with password sign-in as `user` of app `client`, the password
    /// in `SPMT_PASSWORD`, then `extra` flags.
    fn migrate_password(
        &self,
        work: &Path,
        client: &str,
        user: &str,
        password: &str,
        extra: &[&str],
    ) -> Command {
        let mut args = vec![
            "--auth",
            "password",
            "--client-id",
            client,
            "--username",
            user,
        ];
        args.extend_from_slice(extra);
        let mut c = self.migrate(work, &args);
        c.env("SPMT_PASSWORD", password);
        c
    }

    fn migrated_files(&self) -> usize {
        common::emulator::library_file_count(self.root.path())
    }

    /// `n` more small files under `more/` in the source.
    fn add_files(&self, n: usize) {
        let more = self.src.path().join("more");
        std::fs::create_dir_all(&more).unwrap();
        for i in 0..n {
            std::fs::write(more.join(format!("m{i}.txt")), format!("more {i}")).unwrap();
        }
    }

    /// A token straight from the sign-in service: the admin's password grant for `scope`.
    async fn password_token(&self, scope: &str) -> String {
        let body = reqwest::Client::new()
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                self.h.authority_host(),
                self.h.tenant_id()
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", LOCAL_CLIENT_ID),
                ("username", LOCAL_ADMIN),
                ("password", LOCAL_ADMIN_PASSWORD),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    async fn hook(&self, what: &str, form: &[(&str, &str)]) -> reqwest::StatusCode {
        reqwest::Client::new()
            .post(format!("{}/_emulator/{what}", self.h.authority_host()))
            .form(form)
            .send()
            .await
            .unwrap()
            .status()
    }
}

async fn run(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails the test when `o` shows a secret: a JWT, the passwords, a refresh token.
fn assert_no_secrets(o: &Output, log: &Path) {
    let all = format!(
        "{}{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o),
        std::fs::read_to_string(log).unwrap_or_default()
    );
    for s in ["eyJ", LOCAL_ADMIN_PASSWORD, "-pw\"", "refresh_token"] {
        assert!(
            !all.contains(s),
            "a secret ({s}) shows in the output or log:\n{all}"
        );
    }
}

/// Runs `c` (a device-code sign-in) while approving (or declining) its code as the user would.
async fn with_device_approval(f: &Fixture, c: Command, approve: bool) -> Output {
    let child = tokio::task::spawn_blocking({
        let mut c = c;
        move || c.output().unwrap()
    });
    let action = if approve { "approve" } else { "decline" };
    for _ in 0..900 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if f.hook("device", &[("action", action), ("username", LOCAL_ADMIN)])
            .await
            == reqwest::StatusCode::OK
        {
            break;
        }
        if child.is_finished() {
            break;
        }
    }
    child.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_sign_in_migrates_and_later_runs_use_the_saved_sign_in() {
    let f = fixture(|c| c).await;
    let work = tempfile::tempdir().unwrap();
    let c = f.migrate(
        work.path(),
        &["--auth", "device-code", "--client-id", LOCAL_CLIENT_ID],
    );
    let out = with_device_approval(&f, c, true).await;
    assert_exit_0(&out);
    let err = stderr(&out);
    assert!(
        err.contains("enter the code"),
        "Entra's message is shown: {err}"
    );
    assert_eq!(f.migrated_files(), 12);
    assert_no_secrets(&out, &work.path().join("spmt.log"));

    // Saved: a later run signs in with no one there (stderr is not a terminal).
    std::fs::write(f.src.path().join("later.txt"), b"later").unwrap();
    let out = run(f.migrate(work.path(), &["--client-id", LOCAL_CLIENT_ID])).await;
    assert_exit_0(&out);
    assert_eq!(f.migrated_files(), 13);
    let cache = f.config.path().join("tokens.json");
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(
        text.contains(LOCAL_ADMIN) && !text.contains("eyJ"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let status = spmt()
        .args(["auth", "status", "--json"])
        .env("SPMT_CONFIG_DIR", f.config.path())
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(listed[0]["account"], LOCAL_ADMIN);
    assert!(!String::from_utf8_lossy(&status.stdout).contains("refresh"));

    // Revoked: with nobody to sign in, the run stops with how to sign in again.
    assert_eq!(
        f.hook("revoke", &[("username", LOCAL_ADMIN)]).await,
        reqwest::StatusCode::OK
    );
    std::fs::write(f.src.path().join("after-revoke.txt"), b"x").unwrap();
    let out = run(f.migrate(work.path(), &["--client-id", LOCAL_CLIENT_ID])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("spmt login"), "{}", stderr(&out));
    assert_eq!(f.migrated_files(), 13, "nothing sent without a token");

    let out = spmt()
        .args(["logout"])
        .env("SPMT_CONFIG_DIR", f.config.path())
        .output()
        .unwrap();
    assert_exit_0(&out);
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(!text.contains(LOCAL_ADMIN), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_codes_declined_or_expired_end_with_a_message() {
    let f = fixture(|mut c| {
        c.entra.device_code_lifetime_secs = 2;
        c
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let c = f.migrate(
        work.path(),
        &["--auth", "device-code", "--client-id", LOCAL_CLIENT_ID],
    );
    let out = with_device_approval(&f, c, false).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("declined"), "{}", stderr(&out));
    let out = run(f.migrate(
        work.path(),
        &["--auth", "device-code", "--client-id", LOCAL_CLIENT_ID],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    assert_eq!(f.migrated_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_sign_in_works_and_each_refusal_names_the_fix() {
    let f = fixture(|c| c).await;
    let work = tempfile::tempdir().unwrap();
    let c = f.migrate_password(
        work.path(),
        LOCAL_CLIENT_ID,
        LOCAL_ADMIN,
        LOCAL_ADMIN_PASSWORD,
        &[],
    );
    let out = run(c).await;
    assert_exit_0(&out);
    assert_eq!(f.migrated_files(), 12);
    assert_no_secrets(&out, &work.path().join("spmt.log"));

    let cases: &[(&str, &str, &str, &str)] = &[
        (
            LOCAL_CLIENT_ID,
            LOCAL_ADMIN,
            "Wr0ngPassw0rd!",
            "wrong username or password",
        ),
        (
            LOCAL_CLIENT_ID,
            MFA_USER,
            "mfa@local.onmicrosoft.com-pw",
            "--auth device-code",
        ),
        (
            LOCAL_CLIENT_ID,
            BLOCKED_USER,
            "blocked@local.onmicrosoft.com-pw",
            "Conditional Access",
        ),
        (
            LOCAL_CLIENT_ID,
            "ghost@local.onmicrosoft.com",
            "x",
            "is not an account of tenant",
        ),
        (
            CLOSED_APP,
            LOCAL_ADMIN,
            LOCAL_ADMIN_PASSWORD,
            "Allow public client flows",
        ),
        (
            "99999999-0000-0000-0000-000000000000",
            LOCAL_ADMIN,
            LOCAL_ADMIN_PASSWORD,
            "no app registration",
        ),
    ];
    for (client, user, pass, want) in cases {
        let w = tempfile::tempdir().unwrap();
        let c = f.migrate_password(w.path(), client, user, pass, &[]);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(2), "{user}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(want),
            "{user}/{client}: want '{want}' in {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains(pass) || pass.len() < 3,
            "the password shows: {}",
            stderr(&out)
        );
    }
    // A tenant alias ROPC refuses, and a tenant that does not exist.
    for (tenant, want) in [
        ("common", "needs a tenant"),
        ("nosuch.onmicrosoft.com", "was not found"),
    ] {
        let w = tempfile::tempdir().unwrap();
        let c = f.migrate_password(
            w.path(),
            LOCAL_CLIENT_ID,
            LOCAL_ADMIN,
            LOCAL_ADMIN_PASSWORD,
            &["--tenant", tenant],
        );
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(want), "{tenant}: {}", stderr(&out));
    }
    // `spmt login` saves the sign-in; a later run needs no password.
    let mut c = spmt();
    c.args([
        "login",
        "--auth",
        "password",
        "--client-id",
        LOCAL_CLIENT_ID,
        "--username",
        LOCAL_ADMIN,
    ])
    .arg("--target-site-url")
    .arg(f.site())
    .env("SPMT_CONFIG_DIR", f.config.path())
    .env("SPMT_PASSWORD", LOCAL_ADMIN_PASSWORD);
    let out = run(c).await;
    assert_exit_0(&out);
    assert!(
        stderr(&out).contains(&format!("as {LOCAL_ADMIN}")),
        "{}",
        stderr(&out)
    );
    let w = tempfile::tempdir().unwrap();
    std::fs::write(f.src.path().join("after-login.txt"), b"x").unwrap();
    assert_exit_0(&run(f.migrate(w.path(), &["--client-id", LOCAL_CLIENT_ID])).await);

    // The password from stdin.
    let w = tempfile::tempdir().unwrap();
    let mut c = f.migrate(
        w.path(),
        &[
            "--auth",
            "password",
            "--client-id",
            LOCAL_CLIENT_ID,
            "--username",
            LOCAL_ADMIN,
            "--password-stdin",
        ],
    );
    c.stdin(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{LOCAL_ADMIN_PASSWORD}").unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_exit_0(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_rights_on_the_site_is_stopped_before_the_scan() {
    let f = fixture(|c| c).await;
    let work = tempfile::tempdir().unwrap();
    let c = f.migrate_password(
        work.path(),
        LOCAL_CLIENT_ID,
        READER,
        &format!("{READER}-pw"),
        &[],
    );
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains(READER) && e.contains(&f.site()) && e.contains("site collection admin"),
        "{e}"
    );
    assert_eq!(f.migrated_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_urls_and_tokens_are_checked_before_anything_is_sent() {
    let f = fixture(|c| c).await;
    let work = tempfile::tempdir().unwrap();
    let out = run(f.migrate(
        work.path(),
        &[
            "--auth",
            "device-code",
            "--client-id",
            LOCAL_CLIENT_ID,
            "--authority-host",
            "http://login.example.com",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not https"), "{}", stderr(&out));

    // No client id: how to get one.
    let out = run(f.migrate(work.path(), &["--auth", "device-code"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("spmt app manifest"),
        "{}",
        stderr(&out)
    );

    // A token of the same tenant for another resource (Graph): refused, nothing migrated.
    let graph = f
        .password_token("https://graph.microsoft.com/User.Read")
        .await;
    let token = graph.as_str();
    let out = run(f.migrate(work.path(), &["--access-token", token])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Invalid audience"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(token));
    assert_eq!(f.migrated_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_sign_in_with_pem_or_pfx_ps256_or_rs256_and_its_failures() {
    let certs = tempfile::tempdir().unwrap();
    let (pem, pfx, cer) = certificate(certs.path(), "good", 2020, 2090);
    let (old_pem, _, old_cer) = certificate(certs.path(), "old", 2001, 2002);
    let (stranger, _, _) = certificate(certs.path(), "stranger", 2020, 2090);
    let f = fixture(|mut c| {
        c.entra = entra(vec![cer.clone(), old_cer.clone()]);
        c
    })
    .await;
    let cert_args = |p: &Path, extra: &[&str]| {
        let mut v: Vec<String> = [
            "--auth",
            "certificate",
            "--client-id",
            APP_ONLY,
            "--certificate-path",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(p.display().to_string());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let go = |args: Vec<String>, pfx_pw: Option<&str>| {
        let w = tempfile::tempdir().unwrap();
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = f.migrate(w.path(), &a);
        if let Some(p) = pfx_pw {
            c.env("SPMT_CERTIFICATE_PASSWORD", p);
        }
        (c, w)
    };
    let (c, w) = go(cert_args(&pem, &[]), None);
    let out = run(c).await;
    assert_exit_0(&out);
    assert_no_secrets(&out, &w.path().join("spmt.log"));
    assert_eq!(f.migrated_files(), 12);
    for (args, pw) in [
        (cert_args(&pem, &["--assertion-rs256"]), None),
        (cert_args(&pfx, &[]), Some("pfx-pw")),
    ] {
        let (c, _w) = go(args, pw);
        assert_exit_0(&run(c).await);
    }
    let thumb = spmt::auth::certificate::Certificate::from_pem(&std::fs::read(&cer).unwrap())
        .unwrap()
        .thumbprint_hex();
    let (c, _w) = go(
        cert_args(&pem, &["--certificate-thumbprint", &thumb.to_lowercase()]),
        None,
    );
    assert_exit_0(&run(c).await);

    // SPMT's CertificateConfig.json supplies the app and thumbprint; the file is still named.
    let config = f.config.path().join("CertificateConfig.json");
    std::fs::write(
        &config,
        serde_json::json!({"Thumbprint": thumb, "TenantId": spmt::emulator::LOCAL_TENANT_ID, "ClientId": APP_ONLY}).to_string(),
    )
    .unwrap();
    let w = tempfile::tempdir().unwrap();
    let pem_arg = pem.display().to_string();
    assert_exit_0(&run(f.migrate(w.path(), &["--certificate-path", &pem_arg])).await);
    let out = run(f.migrate(w.path(), &[])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--certificate-path"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&config, "{not json").unwrap();
    let out = run(f.migrate(w.path(), &["--certificate-path", &pem_arg])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("CertificateConfig.json is not readable JSON"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(&config).unwrap();

    let cases: Vec<(Vec<String>, Option<&str>, &str)> = vec![
        (cert_args(&cer, &[]), None, "not its private key"),
        (cert_args(&pfx, &[]), Some("wrong"), "PFX password is wrong"),
        (cert_args(&old_pem, &[]), None, "expired on 2002-01-01"),
        (
            cert_args(&pem, &["--certificate-thumbprint", "00AA"]),
            None,
            "not 00AA",
        ),
        (
            cert_args(&stranger, &[]),
            None,
            "is uploaded under the app registration",
        ),
    ];
    for (args, pw, want) in cases {
        let (c, _w) = go(args.clone(), pw);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(want),
            "{args:?}: want '{want}' in {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("PRIVATE KEY"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_with_pkce_and_a_declined_consent() {
    let f = fixture(|c| c).await;
    for (user, ok) in [(LOCAL_ADMIN, true), (DECLINER, false)] {
        let work = tempfile::tempdir().unwrap();
        let c = f.migrate(
            work.path(),
            &[
                "--auth",
                "browser",
                "--no-browser",
                "--client-id",
                LOCAL_CLIENT_ID,
                "--username",
                user,
            ],
        );
        // Play the browser: read the address spmt shows, follow the sign-in to its loopback
        // redirect.
        let signing_in = tokio::task::spawn_blocking(move || BrowserSignIn::start(c))
            .await
            .unwrap();
        let url = signing_in.url.clone();
        assert!(
            url.contains("code_challenge_method=S256") && url.contains("state="),
            "{url}"
        );
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = browser.get(&url).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::FOUND);
        let back = r.headers()["location"].to_str().unwrap().to_string();
        assert!(back.starts_with("http://localhost:"), "{back}");
        let page = browser
            .get(&back)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(if ok { "Signed in" } else { "did not complete" }),
            "{page}"
        );
        let (status, err) = tokio::task::spawn_blocking(move || signing_in.finish())
            .await
            .unwrap();
        if ok {
            assert!(status.success(), "{err}");
        } else {
            assert_eq!(status.code(), Some(2), "{err}");
            assert!(err.contains("declined"), "{err}");
        }
    }
    assert_eq!(f.migrated_files(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_its_tokens_renews_them_and_loses_nothing() {
    // 2-second tokens (renewed after 1.5 s), a run slowed to well past that (more than ten
    // calls one after another, each 200 ms late): every call still carries a valid token.
    let f = fixture(|mut c| {
        c.entra.token_lifetime_secs = 2;
        c.faults.latency_ms = 200;
        c
    })
    .await;
    f.add_files(40);
    let work = tempfile::tempdir().unwrap();
    let c = f.migrate_password(
        work.path(),
        LOCAL_CLIENT_ID,
        LOCAL_ADMIN,
        LOCAL_ADMIN_PASSWORD,
        &[],
    );
    let out = run(c).await;
    assert_exit_0(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"]["failed"], 0, "{v}");
    assert_eq!(f.migrated_files(), 52);
    let log = std::fs::read_to_string(work.path().join("spmt.log")).unwrap();
    let renewals = log.matches("sign-in renewed").count();
    assert!(renewals >= 1, "no renewal with 2 s tokens:\n{log}");
    assert_no_secrets(&out, &work.path().join("spmt.log"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_expires_mid_run_loses_nothing_and_sends_nothing_twice_on_resume() {
    // A ready-made 3-second token (not renewable) on a run slowed to take longer: SharePoint
    // refuses it part of the way (the items it could not send fail, saying why); resumed with
    // a sign-in that renews, every file is imported exactly once.
    let f = fixture(|mut c| {
        c.entra.token_lifetime_secs = 3;
        c.faults.latency_ms = 150;
        c
    })
    .await;
    f.add_files(60);
    let work = tempfile::tempdir().unwrap();
    let first = f
        .password_token(&format!("{}/AllSites.FullControl", f.h.base_url()))
        .await;
    let out = run(f.migrate(work.path(), &["--access-token", &first])).await;
    assert!(matches!(out.status.code(), Some(0..=2)), "{}", stderr(&out));
    // Resumed with a sign-in that renews itself: whatever the first run left is settled or sent.
    let mut c = spmt();
    c.args(["resume", "--json", "--working-folder"])
        .arg(work.path())
        .args([
            "--auth",
            "password",
            "--client-id",
            LOCAL_CLIENT_ID,
            "--username",
            LOCAL_ADMIN,
        ])
        .env("SPMT_PASSWORD", LOCAL_ADMIN_PASSWORD)
        .env("SPMT_CONFIG_DIR", f.config.path());
    let resumed = run(c).await;
    assert_exit_0(&resumed);
    assert_eq!(f.migrated_files(), 72, "first run: {}", stderr(&out));
    common::emulator::assert_each_file_imported_once(f.root.path(), 72, "across the resume");
}

//! The same login through a certified third-party OpenID provider: the npm package
//! `oidc-provider` (installed by the test command with `npm ci` in tests/oidc-provider),
//! started on a free loopback port. RS256 ID tokens, its own discovery and JWKS.

use omadata::server::ServerOptions;
use omadata_clock::{Clock, ManualClock, SystemClock};
use omadata_gateway::config::OidcSettings;
use reqwest::StatusCode;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-provider")
}

/// A port that was free a moment ago (the provider binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_oidc_provider_checks_acr_too() {
    let dir = provider_dir();
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "run `npm ci` in {} first (scripts/test.sh does)",
        dir.display()
    );
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");

    let data = tempfile::tempdir().unwrap();
    let mut options = ServerOptions::demo("127.0.0.1:0".parse().unwrap(), data.path().join("data"));
    options.clock = Some(Arc::new(ManualClock::new(SystemClock.now())));
    options.oidc = Some(OidcSettings {
        issuer: issuer.clone(),
        client_id: "omadata-e2e".into(),
        client_secret: None,
    });
    let server = omadata::server::start(options).await.unwrap();
    let base = server.public_url.as_str().trim_end_matches('/').to_owned();

    let mut node = Command::new("node")
        .arg("server.mjs")
        .arg(port.to_string())
        .arg(format!("{base}/auth/callback"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node must be installed");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("oidc-provider did not start in 30 s")
        .unwrap()
        .unwrap_or_default();
    assert_eq!(ready, format!("READY {issuer}"));

    let gateway = omadata_e2e::Gateway {
        server: None,
        store: omadata::store::StoreChoice::Embedded,
        base: base.clone(),
        clock: Arc::new(ManualClock::new(SystemClock.now())),
        dir: tempfile::tempdir().unwrap(),
    };
    let mut browser = gateway.browser().unwrap();
    let (status, page) = browser.login("oidc-client", None).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, me) = browser.get("/api/v1/me").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "client");
    assert_eq!(me["display_name"], "Olli Oidc");
    // The test provider is off when a real provider is configured.
    assert_eq!(
        browser
            .raw("/test-idp/.well-known/openid-configuration")
            .await
            .unwrap()
            .0,
        StatusCode::NOT_FOUND
    );

    let mut weak = gateway.browser().unwrap();
    let (status, page) = weak.login("oidc-weak", None).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("vahva"));

    drop(node.stdin.take());
    let _ = node.kill().await;
    server.stop().await.unwrap();
}

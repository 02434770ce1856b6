//! The gateway's network edge: sign-in limits keyed by
//! the real peer (or a trusted proxy's `X-Forwarded-For`), refusals audited as a bounded
//! summary, header and idle timeouts and the connection cap, `/metrics` behind a token,
//! and `serve` refusing a plain-http public URL.

use chrono::Duration;
use omadata::cli::run;
use omadata_e2e::{Gateway, METRICS_TOKEN};
use reqwest::StatusCode;
use std::net::IpAddr;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP client that connects from `local` (Linux loopback takes any 127.x) and does
/// not follow redirects.
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn audit_entries(gateway: &Gateway) -> u64 {
    let metrics = gateway.metrics().await.unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("omadata_audit_entries "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

async fn login_status(
    client: &reqwest::Client,
    gateway: &Gateway,
    forwarded: Option<&str>,
) -> StatusCode {
    let mut request = client.get(format!("{}/auth/login", gateway.base));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_from_one_address_neither_locks_out_others_nor_grows_the_log() {
    let mut gateway = Gateway::demo().await.unwrap();
    let flooder = client_from("127.0.0.2");
    let before = audit_entries(&gateway).await;
    let mut refused = 0;
    for _ in 0..500 {
        match login_status(&flooder, &gateway, None).await {
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            status => assert_eq!(status, StatusCode::SEE_OTHER),
        }
    }
    assert_eq!(refused, 440, "60 sign-in starts a minute per address");
    // Someone else, from another address, can still start signing in.
    let other = client_from("127.0.0.3");
    assert_eq!(
        login_status(&other, &gateway, None).await,
        StatusCode::SEE_OTHER
    );
    let after = audit_entries(&gateway).await;
    assert!(
        after - before <= 2,
        "440 refusals wrote {} audit entries",
        after - before
    );

    // When the window has closed, one summary carries the count.
    gateway.clock.advance(Duration::seconds(61));
    assert_eq!(
        login_status(&other, &gateway, None).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        login_status(&flooder, &gateway, None).await,
        StatusCode::SEE_OTHER
    );
    // The summary is written beside the request, not on its time: wait for it.
    let mut written = audit_entries(&gateway).await - before;
    for _ in 0..50 {
        if written >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        written = audit_entries(&gateway).await - before;
    }
    assert_eq!(written, 2);
    gateway.stop().await.unwrap();
    let reasons: Vec<String> = gateway
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e["event"] == "login_refused")
        .map(|e| e["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(reasons, ["rate_limited", "rate_limited_total=440"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_from_a_trusted_proxy_only() {
    let mut gateway = Gateway::demo_with(|options| {
        options.network.trusted_proxies = vec!["127.0.0.4".parse().unwrap()];
    })
    .await
    .unwrap();
    // An untrusted peer cannot dodge its limit by naming other addresses.
    let spoofer = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for i in 0..61 {
        let forged = format!("203.0.113.{i}");
        statuses.push(login_status(&spoofer, &gateway, Some(&forged)).await);
    }
    assert!(statuses[..60].iter().all(|s| *s == StatusCode::SEE_OTHER));
    assert_eq!(statuses[60], StatusCode::TOO_MANY_REQUESTS);

    // Behind the trusted proxy, each client has its own limit: the rightmost address
    // that is not the proxy itself.
    let proxy = client_from("127.0.0.4");
    for _ in 0..60 {
        assert_eq!(
            login_status(&proxy, &gateway, Some("198.51.100.7")).await,
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        login_status(&proxy, &gateway, Some("10.9.9.9, 198.51.100.7, 127.0.0.4")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_status(&proxy, &gateway, Some("198.51.100.7, 198.51.100.8")).await,
        StatusCode::SEE_OTHER
    );
    gateway.stop().await.unwrap();
}

/// Sends a request head one header line at a time, `pause` apart, for at most `give_up`;
/// returns how long until the server closed the connection (`None`: still open).
async fn slow_loris(
    addr: std::net::SocketAddr,
    pause: std::time::Duration,
    give_up: std::time::Duration,
) -> Option<std::time::Duration> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let closed = tokio::spawn(async move {
        let mut buffer = [0u8; 1024];
        // Whatever the server answers (a 408 or nothing), it ends with the close.
        while let Ok(n) = reader.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
        started.elapsed()
    });
    let _ = writer.write_all(b"GET /healthz HTTP/1.1\r\n").await;
    let mut line = 0;
    while started.elapsed() < give_up && !closed.is_finished() {
        tokio::time::sleep(pause).await;
        line += 1;
        if writer
            .write_all(format!("x-slow-{line}: still here\r\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
    }
    match tokio::time::timeout(std::time::Duration::from_millis(500), closed).await {
        Ok(Ok(elapsed)) => Some(elapsed),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_client_is_cut_off_while_normal_requests_are_served() {
    let mut gateway = Gateway::demo_with(|options| {
        options.network.header_read_timeout = std::time::Duration::from_secs(1);
    })
    .await
    .unwrap();
    let addr = gateway.server.as_ref().unwrap().addr;
    let cut_off = slow_loris(
        addr,
        std::time::Duration::from_millis(300),
        std::time::Duration::from_secs(8),
    )
    .await;
    let elapsed = cut_off.expect("a client trickling its headers for 8 s was never cut off");
    assert!(elapsed < std::time::Duration::from_secs(4), "{elapsed:?}");
    let normal = reqwest::get(format!("{}/healthz", gateway.base))
        .await
        .unwrap();
    assert_eq!(normal.status(), StatusCode::OK);
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let mut gateway = Gateway::demo_with(|options| {
        options.network.header_read_timeout = std::time::Duration::from_secs(60);
        options.network.idle_timeout = std::time::Duration::from_secs(1);
    })
    .await
    .unwrap();
    let addr = gateway.server.as_ref().unwrap().addr;
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(8), silent.read(&mut buffer))
        .await
        .expect("a silent connection was still open after 8 s");
    assert!(matches!(read, Ok(0) | Err(_)));
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let mut gateway = Gateway::demo_with(|options| {
        options.network.max_connections = 1;
    })
    .await
    .unwrap();
    let addr = gateway.server.as_ref().unwrap().addr;
    let holder = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Let the server accept it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(1))
        .build()
        .unwrap();
    let waited = impatient
        .get(format!("{}/healthz", gateway.base))
        .send()
        .await;
    assert!(
        waited.is_err(),
        "a second connection was served over a cap of one"
    );
    drop(holder);
    let served = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{}/healthz", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_only_to_the_metrics_token() {
    let mut gateway = Gateway::demo().await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", gateway.base);
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth("not-the-token-at-all-0000")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let scraped = http
        .get(&url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(
        scraped
            .text()
            .await
            .unwrap()
            .contains("omadata_audit_entries")
    );
    gateway.stop().await.unwrap();

    // Without a configured token there is no /metrics at all.
    let mut gateway = Gateway::demo_with(|options| options.network.metrics_token = None)
        .await
        .unwrap();
    let url = format!("{}/metrics", gateway.base);
    assert_eq!(
        http.get(&url)
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    gateway.stop().await.unwrap();
}

#[test]
fn serve_refuses_a_plain_http_public_url_unless_told_it_is_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("omadata.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "data = {:?}\npublic_url = \"http://omadata.example.org\"\n[oidc]\nissuer = \"https://idp.example.org\"\nclient_id = \"omadata\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let serve = |extra: &[&str]| {
        let mut argv = vec!["omadata", "serve", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(extra);
        let mut out = Vec::new();
        run(argv, &mut out).unwrap_err().to_string()
    };
    let refused = serve(&[]);
    assert!(
        refused.contains("plain http") && refused.contains("--insecure-http"),
        "{refused}"
    );
    assert!(!data.exists(), "nothing is opened before the refusal");
    // With the flag it goes on (and stops at the missing keys of this empty directory).
    let went_on = serve(&["--insecure-http"]);
    assert!(!went_on.contains("insecure-http"), "{went_on}");
    assert!(went_on.contains("master.key"), "{went_on}");
}

//! Nobody signed in can stall the gateway or grow its
//! storage without limit. Audit verification runs one at a time and stops when its caller
//! leaves; pairing codes, record versions and refused probes are bounded; every list pages.

use omadata_consent::ServiceKey;
use omadata_consent::audit::{AuditEntry, AuditEvent, AuditLog};
use omadata_e2e::{Browser, Gateway};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Restarts the gateway on its own data directory (same clock).
async fn restart(gateway: &mut Gateway) {
    gateway.stop().await.unwrap();
    let mut options = gateway.restart_options().unwrap();
    options.clock = Some(gateway.clock.clone());
    let server = omadata::server::start(options).await.unwrap();
    gateway.base = server.public_url.as_str().trim_end_matches('/').to_owned();
    gateway.server = Some(server);
}

/// Appends `n` entries straight to the stopped gateway's log: a log long enough that
/// verifying it takes a while.
fn grow_log(gateway: &Gateway, n: u64) {
    let data = gateway.data_dir();
    let store = gateway.open_store().unwrap();
    let key = ServiceKey::from_file(&data.join("signing.key")).unwrap();
    let log = AuditLog::open(store.consent(), Arc::new(key)).unwrap();
    let now = gateway.now();
    for i in 0..n {
        log.append_deferred(AuditEntry::new(AuditEvent::Access, now))
            .unwrap();
        if i % 10_000 == 0 {
            log.sync_pending().unwrap();
        }
    }
    log.checkpoint(now).unwrap();
    log.save_heads().unwrap();
    log.wait_for_saved_heads();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verification_runs_one_at_a_time_and_stops_when_its_caller_leaves() {
    let mut gateway = Gateway::demo().await.unwrap();
    gateway.stop().await.unwrap();
    grow_log(&gateway, 150_000);
    restart(&mut gateway).await;
    let auditor = Arc::new(gateway.signed_in("auditor", None).await.unwrap());

    // A whole verification, alone, for the time it takes.
    let started = Instant::now();
    let (status, report) = auditor.get("/api/v1/audit/verify").await.unwrap();
    let alone = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["entries"].as_u64().unwrap() >= 150_000);

    // A second call while one runs is refused at once, with a code and Retry-After.
    let first = {
        let auditor = auditor.clone();
        tokio::spawn(async move { auditor.get("/api/v1/audit/verify").await.unwrap() })
    };
    tokio::time::sleep(alone / 5).await;
    let response = auditor
        .http
        .get(format!("{}/api/v1/audit/verify", auditor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "verification_running");
    let (status, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK);

    // A caller who leaves stops the work: the slot is free again long before a whole
    // verification would have ended.
    let leaving = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(alone / 5)
        .build()
        .unwrap();
    // The leaving caller signs in with its own client (its cookie jar).
    let mut leaver = gateway.browser().unwrap();
    leaver.http = leaving;
    let (status, _) = leaver.login("auditor", None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let gone = leaver.get("/api/v1/audit/verify").await;
    assert!(
        gone.is_err(),
        "the request should have timed out on the client"
    );
    let left_at = Instant::now();
    let freed_after = loop {
        let sent = left_at.elapsed();
        let response = auditor
            .http
            .get(format!("{}/api/v1/audit/verify", auditor.base))
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(response.status(), StatusCode::OK);
            break sent;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        freed_after < alone / 2,
        "the abandoned verification held the slot {freed_after:?} more (a whole run takes {alone:?})"
    );
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_a_few_live_pairing_codes_and_expired_ones_make_room() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    for _ in 0..5 {
        let (status, _) = client
            .call(Method::POST, "/api/v1/me/pairing-codes", None)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, problem) = client
        .call(Method::POST, "/api/v1/me/pairing-codes", None)
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("too_many_pairing_codes")
        )
    );
    // Once they expire, they no longer count (and are removed as new ones are issued).
    gateway.clock.advance(chrono::Duration::minutes(16));
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (status, _) = client
        .call(Method::POST, "/api/v1/me/pairing-codes", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);
    gateway.stop().await.unwrap();
}

/// Entries in the whole log, as the auditor's verification counts them.
async fn log_length(auditor: &Browser) -> u64 {
    let (status, report) = auditor.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    report["entries"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_client_ids_is_cut_off_and_grows_the_log_by_a_bounded_amount() {
    let mut gateway = Gateway::demo().await.unwrap();
    let pro = gateway.signed_in("pro-youth", None).await.unwrap();
    let auditor = gateway.signed_in("auditor", None).await.unwrap();
    let before = log_length(&auditor).await;
    let mut refused = 0;
    let mut limited = 0;
    for _ in 0..100 {
        let id = uuid_like();
        let (status, problem) = pro
            .get(&format!("/api/v1/clients/{id}/record"))
            .await
            .unwrap();
        match status {
            StatusCode::FORBIDDEN => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(problem["code"], "too_many_refused_reads");
                limited += 1;
            }
            other => panic!("unexpected {other}: {problem}"),
        }
    }
    assert_eq!(refused, 20);
    assert_eq!(limited, 80);
    // Writes count against the same limit.
    let (status, _) = pro
        .call(
            Method::PUT,
            &format!("/api/v1/clients/{}/record/identity.name", uuid_like()),
            Some(json!({"value": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // One entry per refused probe up to the limit, and one summary: not one per probe.
    let grown = log_length(&auditor).await - before;
    assert!(grown <= 21, "100 probes grew the log by {grown} entries");
    // What the grants allow goes on (client1 granted pro-youth read and write of the plan),
    // and it is audited as always; a refused write is still turned away.
    let (_, clients) = pro.get("/api/v1/clients").await.unwrap();
    let client1 = clients[0]["client"].as_str().unwrap().to_owned();
    let (status, record) = pro
        .get(&format!("/api/v1/clients/{client1}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{record}");
    let (status, written) = pro
        .call(
            Method::PUT,
            &format!("/api/v1/clients/{client1}/record/plan.agreed_actions"),
            Some(json!({"value": "Haetaan yhteishaussa."})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{written}");
    let (status, _) = pro
        .call(
            Method::PUT,
            &format!("/api/v1/clients/{client1}/record/health.status"),
            Some(json!({"value": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(log_length(&auditor).await - before > grown);
    // The window passes: the professional may read again.
    gateway.clock.advance(chrono::Duration::minutes(16));
    let (status, _) = pro
        .get(&format!("/api/v1/clients/{}/record", uuid_like()))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    gateway.stop().await.unwrap();
}

/// A random, well-formed client id nobody has.
fn uuid_like() -> String {
    omadata_vault::ClientId::random().to_string()
}

/// Follows `Link: rel="next"` from `path` with `limit`; every item's `key`, in order.
async fn walk(browser: &Browser, path: &str, limit: usize, key: &str) -> (Vec<String>, usize) {
    let mut next = Some(format!("{path}?limit={limit}"));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(url) = next.take() {
        let response = browser
            .http
            .get(format!("{}{url}", browser.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        next = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned())
            .map(|l| {
                assert!(l.ends_with("; rel=\"next\""), "{l}");
                l.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            });
        let page: Value = response.json().await.unwrap();
        let items = page.as_array().unwrap();
        assert!(items.len() <= limit);
        seen.extend(items.iter().map(|i| i[key].to_string()));
        pages += 1;
        assert!(pages < 100, "paging does not end");
    }
    (seen, pages)
}

fn assert_same_set(paged: &[String], whole: &[String]) {
    let mut paged_sorted = paged.to_vec();
    paged_sorted.sort();
    paged_sorted.dedup();
    assert_eq!(paged_sorted.len(), paged.len(), "a page repeated an item");
    let mut whole_sorted = whole.to_vec();
    whole_sorted.sort();
    assert_eq!(paged_sorted, whole_sorted, "paging lost or added items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_pages_with_cursors_without_gaps_or_duplicates() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let pro = gateway.signed_in("pro-youth", None).await.unwrap();
    let admin = gateway.signed_in("admin", None).await.unwrap();
    let (_, me) = pro.get("/api/v1/me").await.unwrap();
    let professional = me["id"].as_str().unwrap().to_owned();
    for _ in 0..7 {
        let (status, created) = client
            .call(
                Method::POST,
                "/api/v1/me/grants",
                Some(json!({
                    "professional": professional,
                    "fields": [{"path": "identity.name"}],
                    "actions": ["read"],
                    "purpose": {"code": "guidance"},
                    "valid_until": (gateway.now() + chrono::Duration::days(30)).to_rfc3339(),
                })),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    // Requests: three codes used by the professional.
    for _ in 0..3 {
        let (_, code) = client
            .call(Method::POST, "/api/v1/me/pairing-codes", None)
            .await
            .unwrap();
        let (status, request) = pro
            .call(
                Method::POST,
                "/api/v1/access-requests",
                Some(json!({
                    "pairing_code": code["code"],
                    "fields": [{"path": "identity.name"}],
                    "actions": ["read"],
                    "purpose": {"code": "guidance"},
                    "valid_until": (gateway.now() + chrono::Duration::days(30)).to_rfc3339(),
                })),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED, "{request}");
    }

    let lists: [(&Browser, &str, &str); 5] = [
        (&client, "/api/v1/me/grants", "id"),
        (&client, "/api/v1/me/access-requests", "id"),
        (&client, "/api/v1/directory/professionals", "id"),
        (&pro, "/api/v1/clients", "client"),
        (&admin, "/api/v1/admin/professionals", "id"),
    ];
    for (who, path, key) in lists {
        let (status, whole) = who.get(path).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}");
        let whole: Vec<String> = whole
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[key].to_string())
            .collect();
        assert!(!whole.is_empty(), "{path}");
        let limit = whole.len().div_ceil(3).max(1);
        let (paged, pages) = walk(who, path, limit, key).await;
        assert_same_set(&paged, &whole);
        if whole.len() > limit {
            assert!(pages > 1, "{path} fit one page of {limit}");
        }
        // A cursor we never gave is refused, never a 500.
        for bad in ["nonsense", "AAAA", "%00"] {
            let (status, problem) = who.get(&format!("{path}?cursor={bad}")).await.unwrap();
            assert_eq!(
                (status, problem["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_cursor")),
                "{path} {bad}"
            );
        }
    }
    let (_, grants) = client.get("/api/v1/me/grants?limit=3").await.unwrap();
    assert_eq!(grants.as_array().unwrap().len(), 3);
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_creates_a_bounded_number_of_grants_a_day() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let pro = gateway.signed_in("pro-youth", None).await.unwrap();
    let (_, me) = pro.get("/api/v1/me").await.unwrap();
    let body = |gateway: &Gateway| {
        json!({
            "professional": me["id"],
            "fields": [{"path": "identity.name"}],
            "actions": ["read"],
            "purpose": {"code": "guidance"},
            "valid_until": (gateway.now() + chrono::Duration::days(30)).to_rfc3339(),
        })
    };
    let (_, seeded) = client.get("/api/v1/me/grants").await.unwrap();
    let seeded = seeded.as_array().unwrap().len();
    for _ in 0..100 {
        let (status, created) = client
            .call(Method::POST, "/api/v1/me/grants", Some(body(&gateway)))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let (status, problem) = client
        .call(Method::POST, "/api/v1/me/grants", Some(body(&gateway)))
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_grants"))
    );
    // Refused: nothing was stored.
    let (_, grants) = client.get("/api/v1/me/grants?limit=1000").await.unwrap();
    assert_eq!(grants.as_array().unwrap().len(), seeded + 100);
    // A day later the client may grant again.
    gateway.clock.advance(chrono::Duration::days(1));
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (status, _) = client
        .call(Method::POST, "/api/v1/me/grants", Some(body(&gateway)))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);
    gateway.stop().await.unwrap();
}

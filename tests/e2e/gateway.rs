//! Each role's main flow over HTTP against the real gateway wiring, signing in through
//! the OpenID code flow of the built-in test provider.

use chrono::Duration;
use omadata_consent::Jwks;
use omadata_consent::receipt::verify_receipt;
use omadata_e2e::Gateway;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn paths(fields: &Value) -> Vec<String> {
    let mut out: Vec<String> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_lifecycle_across_every_role() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client2", None).await.unwrap();
    let (status, me) = client.get("/api/v1/me").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "client");
    assert_eq!(me["display_name"], "Eero Esimerkki");
    let client_id = me["id"].as_str().unwrap().to_owned();

    // The client edits their own data; a bad value changes nothing.
    let (status, written) = client
        .call(
            Method::PUT,
            "/api/v1/me/record/identity.phone",
            Some(json!({"value": "+358 50 765 4321"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{written}");
    let (status, problem) = client
        .call(
            Method::PUT,
            "/api/v1/me/record/identity.phone",
            Some(json!({"value": "call me maybe"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "invalid_value");
    let (status, problem) = client
        .call(
            Method::PUT,
            "/api/v1/me/record/identity.shoe_size",
            Some(json!({"value": "42"})),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_field"))
    );

    // A professional finds the client with a pairing code and asks.
    let (status, code) = client
        .call(Method::POST, "/api/v1/me/pairing-codes", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);
    let pro = gateway.signed_in("pro-employment", None).await.unwrap();
    let until = (gateway.now() + Duration::days(30)).to_rfc3339();
    let (status, request) = pro
        .call(
            Method::POST,
            "/api/v1/access-requests",
            Some(json!({
                "pairing_code": code["code"],
                "fields": [{"path": "identity.name"}, {"path": "identity.phone"}, {"path": "background.skills"}],
                "actions": ["read"],
                "purpose": {"code": "employer_cooperation", "text": "Työkokeilu"},
                "valid_until": until,
            })),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let request_id = request["id"].as_str().unwrap().to_owned();

    // The client approves less than asked: no phone number.
    let (status, requests) = client.get("/api/v1/me/access-requests").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == request_id.as_str() && r["current_status"] == "pending")
    );
    let (status, grant) = client
        .call(
            Method::POST,
            &format!("/api/v1/me/access-requests/{request_id}/approve"),
            Some(json!({"fields": [{"path": "identity.name"}, {"path": "background.skills"}]})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{grant}");
    let grant_id = grant["id"].as_str().unwrap().to_owned();

    // The professional sees exactly the granted fields.
    let (status, clients) = pro.get("/api/v1/clients").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client"] == client_id.as_str())
    );
    let (status, record) = pro
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(
        paths(&record["fields"]),
        vec!["background.skills", "identity.name"]
    );
    // ... and may not write with a read grant.
    let (status, _) = pro
        .call(
            Method::PUT,
            &format!("/api/v1/clients/{client_id}/record/background.skills"),
            Some(json!({"value": ["x"]})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The receipt verifies offline against the published keys.
    let (status, receipt) = client
        .raw(&format!("/api/v1/me/grants/{grant_id}/receipt"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (_, jwks) = client.get("/.well-known/jwks.json").await.unwrap();
    let jwks: Jwks = serde_json::from_value(jwks).unwrap();
    let verified = verify_receipt(&receipt, &jwks).unwrap();
    assert_eq!(verified.receipt.pii_principal_id.to_string(), client_id);

    // The client revokes; the professional's very next view is refused.
    let (status, _) = client
        .call(
            Method::DELETE,
            &format!("/api/v1/me/grants/{grant_id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = pro
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    // The client sees the access in "who has seen my data".
    let (status, log) = client.get("/api/v1/me/access-log").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let accesses = log.as_array().unwrap();
    assert!(accesses.iter().any(|a| a["outcome"] == "permit"
        && a["professional_name"] == "Tero Työllisyys"
        && a["grant"] == grant_id.as_str()));

    // The auditor finds the permit and the deny, and the log verifies.
    let auditor = gateway.signed_in("auditor", None).await.unwrap();
    let (status, page) = auditor
        .get(&format!("/api/v1/audit/events?client={client_id}"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    let events = page["events"].as_array().unwrap();
    let outcomes: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "access")
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert!(
        outcomes.contains(&"permit") && outcomes.contains(&"deny"),
        "{outcomes:?}"
    );
    assert!(events.iter().any(|e| e["event"] == "revoke"));
    assert!(
        events.iter().all(|e| e.get("value").is_none()),
        "no record contents in the log"
    );
    // Signed on request (a POST); a GET only reads the newest.
    let (status, checkpoint) = auditor
        .call(Method::POST, "/api/v1/audit/checkpoint", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(checkpoint["tree_size"].as_u64().unwrap() > 5);
    let (status, report) = auditor.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["unanchored_entries"], 0);
    // Roles hold: the auditor cannot read records, the client cannot audit.
    assert_eq!(
        auditor
            .get(&format!("/api/v1/clients/{client_id}/record"))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        client.get("/api/v1/audit/events").await.unwrap().0,
        StatusCode::FORBIDDEN
    );
    gateway.stop().await.unwrap();
}

/// A plan entry with quotes, a backslash, a line break and characters outside ASCII.
const AGREED: &str = "Haku jätetty 10.3. \"Kevät\" \\ seuraava:\nsoitto ✓ 😀";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_limit_professionals_by_field_action_time_and_grant() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    let client_id = me["id"].as_str().unwrap().to_owned();

    // pro-youth: read and write on five fields, not health.
    let youth = gateway.signed_in("pro-youth", None).await.unwrap();
    let (status, record) = youth
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let seen = paths(&record["fields"]);
    assert!(!seen.contains(&"health.status".to_owned()));
    assert!(seen.contains(&"plan.agreed_actions".to_owned()));
    let (status, written) = youth
        .call(
            Method::PUT,
            &format!("/api/v1/clients/{client_id}/record/plan.agreed_actions"),
            Some(json!({"value": AGREED})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{written}");
    assert_eq!(written["author"]["kind"], "professional");
    assert_eq!(written["value"], AGREED);
    // Values are served as the JSON text the vault sealed: escapes come back intact.
    let (_, record) = youth
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    let agreed = record["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "plan.agreed_actions")
        .unwrap();
    assert_eq!(agreed["value"], AGREED, "{record}");
    let (status, _) = youth
        .call(
            Method::PUT,
            &format!("/api/v1/clients/{client_id}/record/health.status"),
            Some(json!({"value": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The client sees the professional's entry with author and date.
    let (_, mine) = client.get("/api/v1/me/record").await.unwrap();
    let plan = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "plan.agreed_actions")
        .unwrap()
        .clone();
    assert_eq!(plan["author"]["name"], "Pirjo Nuorisotyö");
    assert_eq!(plan["value"], AGREED);

    // A registered professional without grants gets nothing, same as for a stranger id.
    let unrelated = gateway.signed_in("pro-unrelated", None).await.unwrap();
    let (status, denied) = unrelated
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    let (status2, denied2) = unrelated
        .get("/api/v1/clients/00000000-0000-4000-8000-000000000000/record")
        .await
        .unwrap();
    assert_eq!(
        (status, status2),
        (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN)
    );
    assert_eq!(
        denied, denied2,
        "the answer must not tell whether the client exists"
    );

    // pro-health's read grant lasts 30 days: after it, nothing.
    let health = gateway.signed_in("pro-health", None).await.unwrap();
    let (status, record) = health
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        paths(&record["fields"]),
        vec!["health.status", "identity.name"]
    );
    gateway.clock.advance(Duration::days(31));
    let health = gateway.signed_in("pro-health", None).await.unwrap();
    let (status, _) = health
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Every permit and deny is in the log, and it verifies.
    let auditor = gateway.signed_in("auditor", None).await.unwrap();
    let (_, page) = auditor
        .get(&format!(
            "/api/v1/audit/events?client={client_id}&limit=1000"
        ))
        .await
        .unwrap();
    let accesses: Vec<&Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "access")
        .collect();
    let permits = accesses.iter().filter(|e| e["outcome"] == "permit").count();
    let denies = accesses.iter().filter(|e| e["outcome"] == "deny").count();
    assert!(
        permits >= 3 && denies >= 3,
        "permits {permits}, denies {denies}"
    );
    let (status, _) = auditor.get("/api/v1/audit/checkpoint").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, report) = auditor.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_checked_for_assurance_level_and_registration() {
    let mut gateway = Gateway::demo().await.unwrap();
    let mut weak = gateway.browser().unwrap();
    let (status, page) = weak.login("client-weak", None).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("vahva"), "{page}");
    assert_eq!(
        weak.get("/api/v1/me").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );

    let mut stranger = gateway.browser().unwrap();
    let (status, page) = stranger
        .login("stranger", Some("professional"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("rekisteröi"), "{page}");
    // A client asking for the auditor role is refused too.
    let (status, _) = gateway
        .browser()
        .unwrap()
        .login("client1", Some("auditor"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A newcomer becomes a client with an empty record.
    let newcomer = gateway.signed_in("newcomer", None).await.unwrap();
    let (_, me) = newcomer.get("/api/v1/me").await.unwrap();
    assert_eq!(me["role"], "client");
    let (status, record) = newcomer.get("/api/v1/me/record").await.unwrap();
    assert_eq!((status, record), (StatusCode::OK, json!([])));
    // The same person again is the same client.
    let again = gateway.signed_in("newcomer", None).await.unwrap();
    assert_eq!(again.get("/api/v1/me").await.unwrap().1["id"], me["id"]);

    // The refusals are audited.
    let auditor = gateway.signed_in("auditor", None).await.unwrap();
    let (_, verify) = auditor.get("/api/v1/audit/verify").await.unwrap();
    assert!(verify["entries"].as_u64().unwrap() > 0);
    let reasons: Vec<String> = {
        gateway.stop().await.unwrap();
        gateway
            .audit_entries()
            .unwrap()
            .into_iter()
            .filter(|e| e["event"] == "login_refused")
            .map(|e| e["reason"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert!(
        reasons.contains(&"weak_acr".to_owned()) && reasons.contains(&"not_registered".to_owned()),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_need_csrf_bearer_tokens_work_and_logout_ends_the_session() {
    let mut gateway = Gateway::demo().await.unwrap();
    let mut client = gateway.signed_in("client1", None).await.unwrap();
    // Without the CSRF header a state-changing request is refused and changes nothing.
    let csrf = client.csrf.take();
    let (status, problem) = client
        .call(Method::POST, "/api/v1/me/pairing-codes", None)
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_token_invalid"))
    );
    client.csrf = csrf;
    let (status, token) = client
        .call(Method::POST, "/api/v1/tokens", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);

    let mut api = gateway.browser().unwrap();
    api.bearer = token["access_token"].as_str().map(str::to_owned);
    let (status, me) = api.get("/api/v1/me").await.unwrap();
    assert_eq!(
        (status, me["role"].as_str()),
        (StatusCode::OK, Some("client"))
    );
    assert_eq!(
        api.call(Method::POST, "/api/v1/me/pairing-codes", None)
            .await
            .unwrap()
            .0,
        StatusCode::CREATED
    );
    gateway.clock.advance(Duration::minutes(16));
    assert_eq!(
        api.get("/api/v1/me").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );

    let (status, _) = client
        .call(Method::POST, "/auth/logout", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        client.get("/api/v1/me").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );

    // Bad input: malformed JSON, unknown fields, a wrong type; all 4xx problem+json.
    let client = gateway.signed_in("client1", None).await.unwrap();
    let response = client
        .http
        .put(format!("{}/api/v1/me/record/identity.name", client.base))
        .header("x-csrf-token", client.csrf.clone().unwrap())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (status, problem) = client
        .call(
            Method::PUT,
            "/api/v1/me/record/identity.name",
            Some(json!({"value": "A", "extra": 1})),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body"))
    );
    let (status, _) = client
        .call(
            Method::POST,
            "/api/v1/me/grants",
            Some(json!({"professional": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, problem) = client.get("/no/such/page").await.unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_erasure() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (status, export) = client.get("/api/v1/me/export").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(export["records"].as_array().unwrap().len() >= 6);
    assert_eq!(export["grants"].as_array().unwrap().len(), 2);
    let client_id = export["client"].as_str().unwrap().to_owned();

    let (status, _) = client
        .call(Method::DELETE, "/api/v1/me", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        client.get("/api/v1/me/record").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );
    let youth = gateway.signed_in("pro-youth", None).await.unwrap();
    assert_eq!(
        youth
            .get(&format!("/api/v1/clients/{client_id}/record"))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );
    // Signing in again makes a new, empty client: nothing links back.
    let again = gateway.signed_in("client1", None).await.unwrap();
    let (_, me) = again.get("/api/v1/me").await.unwrap();
    assert_ne!(me["id"].as_str().unwrap(), client_id);
    assert_eq!(again.get("/api/v1/me/record").await.unwrap().1, json!([]));
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_registers_staff_and_public_endpoints_answer() {
    let mut gateway = Gateway::demo().await.unwrap();
    let admin = gateway.signed_in("admin", None).await.unwrap();
    let (status, staff) = admin.get("/api/v1/admin/professionals").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(staff.as_array().unwrap().len(), 6);
    let (status, created) = admin
        .call(
            Method::POST,
            "/api/v1/admin/professionals",
            Some(json!({"name": "Sanna Sosiaalityö", "title": "Sosiaaliohjaaja", "profession": "social_work", "roles": ["professional"], "login_subject": "pro-social"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = admin
        .call(Method::POST, "/api/v1/admin/professionals", Some(json!({"name": "", "title": "x", "profession": "nonsense", "roles": [], "login_subject": "y"})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let pro = gateway.signed_in("pro-youth", None).await.unwrap();
    assert_eq!(
        pro.get("/api/v1/admin/professionals").await.unwrap().0,
        StatusCode::FORBIDDEN
    );

    let anonymous = gateway.browser().unwrap();
    assert_eq!(
        anonymous.get("/api/v1/me").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );
    let (status, fields) = anonymous.get("/api/v1/fields").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        fields
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "health.status" && f["sensitivity"] == "special")
    );
    let debts = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "situation.debts")
        .unwrap();
    assert_eq!(
        debts["help"]["sv"], "Har du obetalda räkningar eller lån?",
        "each field comes with its plain-language explanation"
    );
    let (status, jwks) = anonymous.get("/.well-known/jwks.json").await.unwrap();
    assert_eq!(
        (status, jwks["keys"][0]["crv"].as_str()),
        (StatusCode::OK, Some("Ed25519"))
    );
    assert_eq!(anonymous.raw("/healthz").await.unwrap().0, StatusCode::OK);
    assert_eq!(anonymous.raw("/readyz").await.unwrap().0, StatusCode::OK);
    // Metrics are for the scraper with the token only.
    assert_eq!(
        anonymous.raw("/metrics").await.unwrap().0,
        StatusCode::NOT_FOUND
    );
    let metrics = gateway.metrics().await.unwrap();
    assert!(metrics.contains("omadata_logins_total 2"), "{metrics}");
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_registers_staff_from_the_cli_and_data_survives_a_restart() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    gateway.stop().await.unwrap();

    // The operator registers a new organisation and a professional while the service is down.
    let data = gateway.data_dir();
    let data_arg = data.to_str().unwrap();
    let text = gateway
        .cli(&[
            "register",
            "organisation",
            "--data",
            data_arg,
            "--name",
            "Nuorten Paja ry",
            "--business-id",
            "1572860-0",
            "--privacy-notice-url",
            "https://paja.example.fi/tietosuoja",
            "--dpo-contact",
            "dpo@paja.example.fi",
        ])
        .unwrap();
    let organisation = text.split_whitespace().nth(1).unwrap().to_owned();
    gateway
        .cli(&[
            "register",
            "staff",
            "--data",
            data_arg,
            "--organisation",
            &organisation,
            "--name",
            "Sami Satunnainen",
            "--title",
            "Pajaohjaaja",
            "--profession",
            "youth_work",
            "--role",
            "professional",
            "--login-subject",
            "stranger",
        ])
        .unwrap();
    let bad = gateway.cli(&[
        "register",
        "staff",
        "--data",
        data_arg,
        "--organisation",
        &organisation,
        "--name",
        "X",
        "--title",
        "Y",
        "--profession",
        "astrology",
        "--role",
        "professional",
        "--login-subject",
        "z",
    ]);
    assert!(bad.is_err());

    // Restart on the same data: the client is still there, and the stranger is now a professional.
    let mut options = gateway.restart_options().unwrap();
    options.clock = Some(gateway.clock.clone());
    let server = omadata::server::start(options).await.unwrap();
    gateway.base = server.public_url.as_str().trim_end_matches('/').to_owned();
    gateway.server = Some(server);
    let again = gateway.signed_in("client1", None).await.unwrap();
    assert_eq!(again.get("/api/v1/me").await.unwrap().1["id"], me["id"]);
    let (_, record) = again.get("/api/v1/me/record").await.unwrap();
    assert!(record.as_array().unwrap().len() >= 6);
    let mut stranger = gateway.browser().unwrap();
    let (status, page) = stranger
        .login("stranger", Some("professional"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        stranger.get("/api/v1/me").await.unwrap().1["role"],
        "professional"
    );
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_4xx_problems_never_500() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let pro = gateway.signed_in("pro-youth", None).await.unwrap();
    let huge = "x".repeat(200 * 1024);
    let response = client
        .http
        .put(format!("{}/api/v1/me/record/identity.name", client.base))
        .header("x-csrf-token", client.csrf.clone().unwrap())
        .header("content-type", "application/json")
        .body(format!("{{\"value\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let weird = [
        "%00",
        "..%2F..%2Fetc%2Fpasswd",
        "identity.name%0A",
        "ä",
        &"a.".repeat(500),
        "%F0%9F%98%80",
    ];
    for path in weird {
        for (who, method, url, body) in [
            (
                &client,
                Method::PUT,
                format!("/api/v1/me/record/{path}"),
                Some(json!({"value": "x"})),
            ),
            (
                &client,
                Method::POST,
                format!("/api/v1/me/access-requests/{path}/approve"),
                Some(json!({})),
            ),
            (
                &client,
                Method::DELETE,
                format!("/api/v1/me/grants/{path}"),
                None,
            ),
            (
                &client,
                Method::GET,
                format!("/api/v1/me/grants/{path}/receipt"),
                None,
            ),
            (
                &pro,
                Method::GET,
                format!("/api/v1/clients/{path}/record"),
                None,
            ),
            (
                &pro,
                Method::PUT,
                format!("/api/v1/clients/{path}/record/{path}"),
                Some(json!({"value": 1})),
            ),
        ] {
            let (status, body) = who.call(method.clone(), &url, body).await.unwrap();
            assert!(status.is_client_error(), "{method} {url}: {status} {body}");
        }
    }
    for body in [
        json!(null),
        json!([]),
        json!({"value": {"deep": [[[[1]]]]}}),
        json!({"pairing_code": 1}),
    ] {
        let (status, _) = client
            .call(
                Method::PUT,
                "/api/v1/me/record/identity.name",
                Some(body.clone()),
            )
            .await
            .unwrap();
        assert!(status.is_client_error());
        let (status, _) = pro
            .call(Method::POST, "/api/v1/access-requests", Some(body))
            .await
            .unwrap();
        assert!(status.is_client_error());
    }
    let auditor = gateway.signed_in("auditor", None).await.unwrap();
    for query in [
        "seq=5&size=2",
        "seq=999999&size=1000000",
        "seq=-1&size=x",
        "size=18446744073709551615&seq=0",
    ] {
        let (status, _) = auditor
            .get(&format!("/api/v1/audit/proofs/inclusion?{query}"))
            .await
            .unwrap();
        assert!(status.is_client_error(), "{query}: {status}");
    }
    for query in [
        "from=10&to=5",
        "from=0&to=18446744073709551615",
        "limit=0",
        "before=0",
        "from=2026-13-01T00:00:00Z",
        "client=nope",
        "unknown=1",
    ] {
        let (status, _) = auditor
            .get(&format!("/api/v1/audit/events?{query}"))
            .await
            .unwrap();
        assert!(
            status.is_client_error() || status == StatusCode::OK,
            "{query}: {status}"
        );
        assert!(!status.is_server_error());
    }
    let (status, problem) = auditor
        .get("/api/v1/audit/proofs/inclusion?seq=-1&size=x")
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    let (status, problem) = client
        .call(Method::DELETE, "/api/v1/me/grants/%FF%FE", None)
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_path"))
    );
    let metrics = gateway.metrics().await.unwrap();
    assert!(
        metrics.contains("omadata_http_server_errors_total 0"),
        "{metrics}"
    );
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_provider_only_redirects_to_the_gateway() {
    let mut gateway = Gateway::demo().await.unwrap();
    let browser = gateway.browser().unwrap();
    let url = "/test-idp/authorize?response_type=code&scope=openid&client_id=omadata-demo&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&code_challenge=x&code_challenge_method=S256&login_hint=client1";
    let (status, problem) = browser.get(url).await.unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("invalid_authorization_request")
        )
    );
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_pairing_codes_and_hammering_login_are_stopped_and_audited() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (_, code) = client
        .call(Method::POST, "/api/v1/me/pairing-codes", None)
        .await
        .unwrap();
    let pro = gateway.signed_in("pro-unrelated", None).await.unwrap();
    let ask = |code: &str| {
        json!({
            "pairing_code": code,
            "fields": [{"path": "identity.name"}],
            "actions": ["read"],
            "purpose": {"code": "guidance"},
            "valid_until": (gateway.now() + Duration::days(5)).to_rfc3339(),
        })
    };
    for guess in 0..5 {
        let (status, problem) = pro
            .call(
                Method::POST,
                "/api/v1/access-requests",
                Some(ask(&format!("AAAAA-AAAA{guess}"))),
            )
            .await
            .unwrap();
        assert_eq!(
            (status, problem["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("pairing_code_invalid")
            )
        );
    }
    let (status, problem) = pro
        .call(
            Method::POST,
            "/api/v1/access-requests",
            Some(ask("AAAAA-AAAA9")),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts"))
    );
    // Locked out: even the right code is refused until the window passes.
    let right = code["code"].as_str().unwrap();
    assert_eq!(
        pro.call(Method::POST, "/api/v1/access-requests", Some(ask(right)))
            .await
            .unwrap()
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    gateway.clock.advance(Duration::minutes(16));
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (_, code) = client
        .call(Method::POST, "/api/v1/me/pairing-codes", None)
        .await
        .unwrap();
    let pro = gateway.signed_in("pro-unrelated", None).await.unwrap();
    let (status, _) = pro
        .call(
            Method::POST,
            "/api/v1/access-requests",
            Some(ask(code["code"].as_str().unwrap())),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);

    // Sign-in starts are limited per address.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut limited = false;
    for _ in 0..80 {
        let response = no_redirects
            .get(format!("{}/auth/login", gateway.base))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            assert_eq!(response.headers()["retry-after"], "60");
            break;
        }
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    assert!(limited, "80 sign-in starts in a minute were all accepted");

    gateway.stop().await.unwrap();
    let events = gateway.audit_entries().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "lockout" && e["reason"] == "pairing_code_guessing")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "login_refused" && e["reason"] == "rate_limited")
    );
}

/// A restart forgives nothing and signs nobody out: the pairing-code lockout and the
/// professional's session are in the store, not in the stopped process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_pairing_lockouts_and_sessions() {
    let mut gateway = Gateway::demo().await.unwrap();
    let mut pro = gateway.signed_in("pro-unrelated", None).await.unwrap();
    let ask = |code: &str, now: chrono::DateTime<chrono::Utc>| {
        json!({
            "pairing_code": code,
            "fields": [{"path": "identity.name"}],
            "actions": ["read"],
            "purpose": {"code": "guidance"},
            "valid_until": (now + Duration::days(5)).to_rfc3339(),
        })
    };
    for guess in 0..5 {
        let (status, _) = pro
            .call(
                Method::POST,
                "/api/v1/access-requests",
                Some(ask(&format!("BBBBB-BBBB{guess}"), gateway.now())),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    gateway.stop().await.unwrap();
    let mut options = gateway.restart_options().unwrap();
    options.clock = Some(gateway.clock.clone());
    let server = omadata::server::start(options).await.unwrap();
    gateway.base = server.public_url.as_str().trim_end_matches('/').to_owned();
    gateway.server = Some(server);
    pro.base = gateway.base.clone();
    // The same browser session, without signing in again: still signed in, still locked out.
    let (status, problem) = pro
        .call(
            Method::POST,
            "/api/v1/access-requests",
            Some(ask("BBBBB-BBBB9", gateway.now())),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")),
        "{problem}"
    );
    // Past the window the professional may try again.
    gateway.clock.advance(Duration::minutes(16));
    let (status, problem) = pro
        .call(
            Method::POST,
            "/api/v1/access-requests",
            Some(ask("BBBBB-BBBB9", gateway.now())),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

//! What a professional sees of their own work: the requests they sent with the client's
//! answer, and the fields the sensitivity policy lets them be shared.

use omadata_e2e::Gateway;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_professional_sees_their_sent_requests_and_only_shareable_fields() {
    let gateway = Gateway::demo().await.unwrap();
    let employment = gateway.signed_in("pro-employment", None).await.unwrap();
    let health = gateway.signed_in("pro-health", None).await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();

    let (status, fields) = employment
        .get("/api/v1/access-requests/fields")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let fields: Vec<&str> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(fields.contains(&"identity.name"));
    assert!(
        !fields.iter().any(|f| f.starts_with("health.")),
        "{fields:?}"
    );
    let (_, health_fields) = health.get("/api/v1/access-requests/fields").await.unwrap();
    assert!(
        health_fields
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("health."))
    );

    let sent = employment
        .ask_access(
            &client,
            json!({
                "fields": [{"path": "identity.name"}],
                "actions": ["read"],
                "purpose": {"code": "guidance"},
                "valid_until": (gateway.now() + chrono::Duration::days(10)).to_rfc3339(),
            }),
        )
        .await
        .unwrap();
    let (status, mine) = employment.get_all("/api/v1/access-requests").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&Value> = mine.iter().filter(|r| r["id"] == sent["id"]).collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["current_status"], "pending");
    // Another professional's list does not hold it, and a client has no such list.
    let (_, theirs) = health.get_all("/api/v1/access-requests").await.unwrap();
    assert!(theirs.iter().all(|r| r["id"] != sent["id"]));
    let (status, _) = client.get("/api/v1/access-requests").await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = client.get("/api/v1/access-requests/fields").await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The audited reads of `identity.name` of `client` by `professional`, as the auditor
/// sees them.
async fn name_reads(auditor: &omadata_e2e::Browser, client: &str, professional: &str) -> usize {
    let (status, page) = auditor
        .get(&format!("/api/v1/audit/events?client={client}&limit=1000"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["event"] == "access"
                && e["outcome"] == "permit"
                && e["professional"] == professional
                && e["fields"] == json!(["identity.name"])
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_professional_sees_a_clients_name_only_when_granted_and_the_read_is_audited() {
    let gateway = Gateway::demo().await.unwrap();
    let youth = gateway.signed_in("pro-youth", None).await.unwrap();
    let employment = gateway.signed_in("pro-employment", None).await.unwrap();
    let auditor = gateway.signed_in("auditor", None).await.unwrap();
    let aino = gateway.signed_in("client1", None).await.unwrap();
    let (_, me) = aino.get("/api/v1/me").await.unwrap();
    let aino_id = me["id"].as_str().unwrap().to_owned();
    let (_, me) = youth.get("/api/v1/me").await.unwrap();
    let youth_id = me["id"].as_str().unwrap().to_owned();
    let (_, me) = employment.get("/api/v1/me").await.unwrap();
    let employment_id = me["id"].as_str().unwrap().to_owned();

    // Aino's grant to the youth worker covers her name: the list shows it, and that read
    // is in the log, once for each time the list is read.
    let before = name_reads(&auditor, &aino_id, &youth_id).await;
    let (status, clients) = youth.get("/api/v1/clients").await.unwrap();
    assert_eq!(status, StatusCode::OK, "{clients}");
    let listed: Vec<&Value> = clients
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["client"] == aino_id.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "{clients}");
    assert_eq!(listed[0]["name"], "Aino Asiakas");
    assert!(listed[0]["grants"][0]["valid_from"].is_string());
    assert_eq!(name_reads(&auditor, &aino_id, &youth_id).await, before + 1);

    // Aino shares her goals, not her name, with the employment coach: the list names her
    // by nothing of hers, and no read of her name is logged.
    let request = employment
        .ask_access(
            &aino,
            json!({
                "fields": [{"path": "needs.own_goals"}],
                "actions": ["read"],
                "purpose": {"code": "guidance"},
                "valid_until": (gateway.now() + chrono::Duration::days(10)).to_rfc3339(),
            }),
        )
        .await
        .unwrap();
    let (status, approved) = aino
        .call(
            Method::POST,
            &format!(
                "/api/v1/me/access-requests/{}/approve",
                request["id"].as_str().unwrap()
            ),
            None,
        )
        .await
        .unwrap();
    assert!(status.is_success(), "{approved}");
    let (status, clients) = employment.get("/api/v1/clients").await.unwrap();
    assert_eq!(status, StatusCode::OK, "{clients}");
    let listed: Vec<&Value> = clients
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["client"] == aino_id.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "{clients}");
    assert!(listed[0]["name"].is_null(), "{clients}");
    assert!(!clients.to_string().contains("Aino"), "{clients}");
    assert_eq!(name_reads(&auditor, &aino_id, &employment_id).await, 0);

    // Her record tells the coach what the grants allow without another list read.
    let (status, record) = employment
        .get(&format!("/api/v1/clients/{aino_id}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["grants"].as_array().unwrap().len(), 1);
    assert_eq!(record["grants"][0]["actions"], json!(["read"]));
    assert!(!record.to_string().contains("Aino"), "{record}");
    assert_eq!(name_reads(&auditor, &aino_id, &employment_id).await, 0);
}

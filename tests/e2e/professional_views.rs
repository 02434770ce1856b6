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

    let (_, code) = client
        .call(Method::POST, "/api/v1/me/pairing-codes", None)
        .await
        .unwrap();
    let ask = json!({
        "pairing_code": code["code"],
        "fields": [{"path": "identity.name"}],
        "actions": ["read"],
        "purpose": {"code": "guidance"},
        "valid_until": (gateway.now() + chrono::Duration::days(10)).to_rfc3339(),
    });
    let (status, sent) = employment
        .call(Method::POST, "/api/v1/access-requests", Some(ask))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{sent}");
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

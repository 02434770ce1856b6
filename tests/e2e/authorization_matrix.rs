//! The authorization matrix: every API operation x every role and grant state, with the
//! expected status and, for record reads, exactly the disclosed fields. A refused read
//! answers the same whether or not the client exists.

use chrono::Duration;
use omadata_e2e::Gateway;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Who calls, and what grant state they are in towards client1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Owner,
    OtherClient,
    ProNoGrant,
    ProActiveRead,
    ProExpired,
    ProRevoked,
    ProOtherClientsGrant,
    ProOtherField,
    ProWrite,
    Auditor,
    Admin,
}

const EVERYONE: [Who; 12] = [
    Who::Anonymous,
    Who::Owner,
    Who::OtherClient,
    Who::ProNoGrant,
    Who::ProActiveRead,
    Who::ProExpired,
    Who::ProRevoked,
    Who::ProOtherClientsGrant,
    Who::ProOtherField,
    Who::ProWrite,
    Who::Auditor,
    Who::Admin,
];

fn is_client(who: Who) -> bool {
    matches!(who, Who::Owner | Who::OtherClient)
}

fn is_pro(who: Who) -> bool {
    matches!(
        who,
        Who::ProNoGrant
            | Who::ProActiveRead
            | Who::ProExpired
            | Who::ProRevoked
            | Who::ProOtherClientsGrant
            | Who::ProOtherField
            | Who::ProWrite
    )
}

/// Fields each professional may read on client1 at matrix time.
fn readable(who: Who) -> BTreeSet<&'static str> {
    match who {
        Who::ProActiveRead => ["identity.name", "identity.phone"].into(),
        Who::ProOtherField => ["identity.phone"].into(),
        Who::ProWrite => ["plan.agreed_actions"].into(),
        _ => BTreeSet::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_for_every_role_and_grant_state() {
    let mut gateway = Gateway::demo().await.unwrap();
    let owner = gateway.signed_in("client1", None).await.unwrap();
    let other = gateway.signed_in("client2", None).await.unwrap();
    let owner_id = owner.get("/api/v1/me").await.unwrap().1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = gateway.signed_in("admin", None).await.unwrap();

    // One professional per grant state, registered by the admin.
    let mut pros = std::collections::BTreeMap::new();
    for (who, name) in [
        (Who::ProNoGrant, "none"),
        (Who::ProActiveRead, "active"),
        (Who::ProExpired, "expired"),
        (Who::ProRevoked, "revoked"),
        (Who::ProOtherClientsGrant, "other-client"),
        (Who::ProOtherField, "other-field"),
        (Who::ProWrite, "write"),
    ] {
        let (status, staff) = admin
            .call(Method::POST, "/api/v1/admin/professionals", Some(json!({"name": format!("Matrix {name}"), "title": "Ohjaaja", "profession": "youth_work", "roles": ["professional"], "login_subject": format!("matrix-{name}")})))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED);
        pros.insert(format!("{who:?}"), staff["id"].as_str().unwrap().to_owned());
    }
    let pro = |who: Who| pros[&format!("{who:?}")].clone();
    let grant_body = |who: Who, fields: Vec<&str>, actions: Vec<&str>, days: i64| {
        json!({
            "professional": pro(who),
            "fields": fields.iter().map(|f| json!({"path": f})).collect::<Vec<_>>(),
            "actions": actions,
            "purpose": {"code": "guidance"},
            "valid_until": (gateway.now() + Duration::days(days)).to_rfc3339(),
        })
    };
    for (client, who, fields, actions, days) in [
        (
            &owner,
            Who::ProActiveRead,
            vec!["identity.name", "identity.phone"],
            vec!["read"],
            30,
        ),
        (
            &owner,
            Who::ProExpired,
            vec!["identity.name"],
            vec!["read"],
            1,
        ),
        (
            &owner,
            Who::ProRevoked,
            vec!["identity.name"],
            vec!["read"],
            30,
        ),
        (
            &other,
            Who::ProOtherClientsGrant,
            vec!["identity.name"],
            vec!["read"],
            30,
        ),
        (
            &owner,
            Who::ProOtherField,
            vec!["identity.phone"],
            vec!["read"],
            30,
        ),
        (
            &owner,
            Who::ProWrite,
            vec!["plan.agreed_actions"],
            vec!["read", "write"],
            30,
        ),
    ] {
        let body = grant_body(who, fields, actions, days);
        let (status, created) = client
            .call(Method::POST, "/api/v1/me/grants", Some(body))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED, "{created}");
        if who == Who::ProRevoked {
            let id = created["id"].as_str().unwrap();
            assert_eq!(
                client
                    .call(Method::DELETE, &format!("/api/v1/me/grants/{id}"), None)
                    .await
                    .unwrap()
                    .0,
                StatusCode::OK
            );
        }
    }
    // Two days later: the one-day grant has expired. Tokens are minted now.
    gateway.clock.advance(Duration::days(2));
    // Bearer tokens minted from each person's own session, signed in now (a token is
    // bound to its session; the registered professionals sign in through the test
    // provider under their own subjects).
    let mut callers = Vec::new();
    for who in EVERYONE {
        let person = match who {
            Who::Anonymous => None,
            Who::Owner => Some(("client1", None)),
            Who::OtherClient => Some(("client2", None)),
            Who::Auditor => Some(("auditor", None)),
            Who::Admin => Some(("admin", None)),
            Who::ProNoGrant => Some(("matrix-none", Some("professional"))),
            Who::ProActiveRead => Some(("matrix-active", Some("professional"))),
            Who::ProExpired => Some(("matrix-expired", Some("professional"))),
            Who::ProRevoked => Some(("matrix-revoked", Some("professional"))),
            Who::ProOtherClientsGrant => Some(("matrix-other-client", Some("professional"))),
            Who::ProOtherField => Some(("matrix-other-field", Some("professional"))),
            Who::ProWrite => Some(("matrix-write", Some("professional"))),
        };
        let mut browser = gateway.browser().unwrap();
        if let Some((login, role)) = person {
            let mut session = gateway.browser().unwrap();
            let (status, page) = session.login(login, role).await.unwrap();
            assert_eq!(status, StatusCode::OK, "{login}: {page}");
            let (status, token) = session
                .call(Method::POST, "/api/v1/tokens", None)
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK, "{token}");
            browser.bearer = token["access_token"].as_str().map(str::to_owned);
            if is_pro(who) {
                let (_, me) = browser.get("/api/v1/me").await.unwrap();
                assert_eq!(me["id"].as_str(), Some(pro(who).as_str()), "{who:?}");
            }
        }
        callers.push((who, browser));
    }

    let missing = "00000000-0000-4000-8000-000000000000";
    let ops: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("me", Method::GET, "/api/v1/me".into(), None),
        ("my record", Method::GET, "/api/v1/me/record".into(), None),
        (
            "write my field",
            Method::PUT,
            "/api/v1/me/record/identity.municipality".into(),
            Some(json!({"value": "Oulu"})),
        ),
        ("my grants", Method::GET, "/api/v1/me/grants".into(), None),
        (
            "my access log",
            Method::GET,
            "/api/v1/me/access-log".into(),
            None,
        ),
        ("my export", Method::GET, "/api/v1/me/export".into(), None),
        (
            "pairing code",
            Method::POST,
            "/api/v1/me/pairing-codes".into(),
            None,
        ),
        (
            "professionals directory",
            Method::GET,
            "/api/v1/directory/professionals".into(),
            None,
        ),
        ("my clients", Method::GET, "/api/v1/clients".into(), None),
        (
            "client record",
            Method::GET,
            format!("/api/v1/clients/{owner_id}/record"),
            None,
        ),
        (
            "write client field",
            Method::PUT,
            format!("/api/v1/clients/{owner_id}/record/plan.agreed_actions"),
            Some(json!({"value": "Matriisi"})),
        ),
        (
            "write ungranted field",
            Method::PUT,
            format!("/api/v1/clients/{owner_id}/record/identity.name"),
            Some(json!({"value": "x"})),
        ),
        (
            "missing client record",
            Method::GET,
            format!("/api/v1/clients/{missing}/record"),
            None,
        ),
        (
            "audit events",
            Method::GET,
            "/api/v1/audit/events".into(),
            None,
        ),
        (
            "audit checkpoint",
            Method::GET,
            "/api/v1/audit/checkpoint".into(),
            None,
        ),
        (
            "sign audit checkpoint",
            Method::POST,
            "/api/v1/audit/checkpoint".into(),
            None,
        ),
        (
            "admin staff",
            Method::GET,
            "/api/v1/admin/professionals".into(),
            None,
        ),
    ];
    let mut cells = 0;
    let mut refusal_for_owner_record = std::collections::BTreeMap::new();
    for (op, method, path, body) in &ops {
        for (who, browser) in &callers {
            let who = *who;
            let expected = if who == Who::Anonymous {
                StatusCode::UNAUTHORIZED
            } else {
                match *op {
                    "me" => StatusCode::OK,
                    "my record"
                    | "my grants"
                    | "my access log"
                    | "my export"
                    | "professionals directory"
                    | "write my field" => {
                        if is_client(who) {
                            StatusCode::OK
                        } else {
                            StatusCode::FORBIDDEN
                        }
                    }
                    "pairing code" => {
                        if is_client(who) {
                            StatusCode::CREATED
                        } else {
                            StatusCode::FORBIDDEN
                        }
                    }
                    "my clients" => {
                        if is_pro(who) {
                            StatusCode::OK
                        } else {
                            StatusCode::FORBIDDEN
                        }
                    }
                    "client record" => {
                        if readable(who).is_empty() {
                            StatusCode::FORBIDDEN
                        } else {
                            StatusCode::OK
                        }
                    }
                    "write client field" => {
                        if who == Who::ProWrite {
                            StatusCode::OK
                        } else {
                            StatusCode::FORBIDDEN
                        }
                    }
                    "write ungranted field" | "missing client record" => StatusCode::FORBIDDEN,
                    "audit events" | "audit checkpoint" | "sign audit checkpoint" => {
                        if who == Who::Auditor {
                            StatusCode::OK
                        } else {
                            StatusCode::FORBIDDEN
                        }
                    }
                    "admin staff" => {
                        if who == Who::Admin {
                            StatusCode::OK
                        } else {
                            StatusCode::FORBIDDEN
                        }
                    }
                    other => panic!("no expectation for {other}"),
                }
            };
            let (status, answer) = browser
                .call(method.clone(), path, body.clone())
                .await
                .unwrap();
            assert_eq!(status, expected, "{op} as {who:?}: {answer}");
            cells += 1;
            if *op == "client record" && status == StatusCode::OK {
                let disclosed: BTreeSet<String> = answer["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["path"].as_str().unwrap().to_owned())
                    .collect();
                let allowed: BTreeSet<String> =
                    readable(who).iter().map(|s| (*s).to_owned()).collect();
                assert!(
                    disclosed.is_subset(&allowed),
                    "{who:?} saw {disclosed:?}, may see {allowed:?}"
                );
                assert!(!disclosed.is_empty());
            }
            if status == StatusCode::FORBIDDEN && is_pro(who) {
                if *op == "client record" {
                    refusal_for_owner_record.insert(format!("{who:?}"), answer.clone());
                }
                if *op == "missing client record"
                    && let Some(existing) = refusal_for_owner_record.get(&format!("{who:?}"))
                {
                    // The same answer whether or not the client exists.
                    assert_eq!(&answer, existing, "{who:?}");
                }
            }
            // No refusal carries record contents.
            if !status.is_success() {
                let text = answer.to_string();
                assert!(
                    !text.contains("Aino") && !text.contains("+358"),
                    "{op} as {who:?} leaked: {text}"
                );
            }
        }
    }
    assert_eq!(cells, ops.len() * EVERYONE.len());
    println!("authorization matrix: {cells} cells");
    gateway.stop().await.unwrap();
}

//! What an auditor finds in the log without typing ids: their organisation's staff by
//! name, a client by the short reference the table shows, one day at a time; and a wrong
//! filter is refused with a code the page can tell next to its field.

use omadata_e2e::{Browser, Gateway};
use reqwest::StatusCode;
use serde_json::Value;

async fn events(auditor: &Browser, query: &str) -> (StatusCode, Value) {
    auditor
        .get(&format!("/api/v1/audit/events?{query}"))
        .await
        .unwrap()
}

fn seqs(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_filters_by_staff_name_short_client_reference_and_day() {
    let gateway = Gateway::demo().await.unwrap();
    let auditor = gateway.signed_in("auditor", None).await.unwrap();
    let youth = gateway.signed_in("pro-youth", None).await.unwrap();
    let aino = gateway.signed_in("client1", None).await.unwrap();
    let (_, me) = aino.get("/api/v1/me").await.unwrap();
    let aino_id = me["id"].as_str().unwrap().to_owned();
    let (status, _) = youth
        .get(&format!("/api/v1/clients/{aino_id}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);

    // The staff of the auditor's organisation, by name and title, without how they sign in.
    let (status, staff) = auditor.get_all("/api/v1/audit/staff").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let youth_worker = staff
        .iter()
        .find(|s| s["title"] == "Nuoriso-ohjaaja")
        .unwrap();
    assert!(
        youth_worker["name"]
            .as_str()
            .unwrap()
            .contains("Nuorisotyö")
    );
    assert!(staff.iter().all(|s| s.get("login_subject").is_none()));
    assert_eq!(staff.len(), 6);
    for other in [&youth, &aino] {
        let (status, _) = other.get("/api/v1/audit/staff").await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // A professional chosen from that list.
    let (status, by_youth) = events(
        &auditor,
        &format!("professional={}", youth_worker["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{by_youth}");
    let listed = by_youth["events"].as_array().unwrap();
    assert!(listed.iter().any(|e| e["event"] == "access"));
    assert!(
        listed
            .iter()
            .all(|e| e["professional"] == youth_worker["id"])
    );

    // A client by the first 8 characters of the id finds what the whole id finds, in
    // either case; a reference no client has finds nothing.
    let (status, whole) = events(&auditor, &format!("client={aino_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!seqs(&whole).is_empty());
    let short = &aino_id[..8];
    for reference in [short.to_owned(), short.to_uppercase()] {
        let (status, found) = events(&auditor, &format!("client={reference}")).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(seqs(&found), seqs(&whole));
    }
    let unknown = if short == "00000000" {
        "ffffffff"
    } else {
        "00000000"
    };
    let (status, none) = events(&auditor, &format!("client={unknown}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(seqs(&none).is_empty());
    // Paging by `before` goes on with the short reference as with the whole id.
    let (_, first) = events(&auditor, &format!("client={short}&limit=1")).await;
    let (_, first_whole) = events(&auditor, &format!("client={aino_id}&limit=1")).await;
    assert_eq!(first["next_before"], first_whole["next_before"]);

    // One Finnish day is a range: today's events are found.
    let today = gateway.now().date_naive();
    let from = format!("{today}T00:00:00Z");
    let to = format!("{}T00:00:00Z", today.succ_opt().unwrap());
    let (status, day) = events(&auditor, &format!("client={short}&from={from}&to={to}")).await;
    assert_eq!(status, StatusCode::OK, "{day}");
    assert!(!seqs(&day).is_empty());

    // Wrong filters are refused with a code to tell next to the field, and nothing else.
    for reference in ["1a2b3c4", "1a2b3c4d5", "zzzzzzzz", "+1a2b3c4", "1a2b-3c4"] {
        let (status, problem) = events(&auditor, &format!("client={reference}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reference}: {problem}");
        assert_eq!(problem["code"], "invalid_client_reference", "{reference}");
    }
    let (status, problem) = events(
        &auditor,
        &format!(
            "client={short}&professional={}",
            youth_worker["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["code"], "conflicting_filters");
    let (status, problem) = events(&auditor, &format!("from={to}&to={from}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["code"], "invalid_time_range");
}

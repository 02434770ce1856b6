//! The client's grant pages without a browser: a grant the policy refuses keeps the
//! person's choices and creates nothing, "stop now" ends a grant for good, a form without
//! its CSRF token changes nothing, and a receipt page reads as words, not ids.

use omadata_e2e::{Browser, Gateway, has_uuid};
use reqwest::StatusCode;
use serde_json::Value;

/// The text a person reads: the page without its tags (attributes hold ids, which are
/// fine there).
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

async fn grants(browser: &Browser) -> Vec<Value> {
    let (status, grants) = browser.get_all("/api/v1/me/grants").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    grants
}

/// The professional named `name`, as the directory lists them.
async fn professional_id(browser: &Browser, name: &str) -> String {
    let (_, listed) = browser
        .get_all("/api/v1/directory/professionals")
        .await
        .unwrap();
    listed
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["id"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_the_policy_refuses_keeps_the_choices_and_creates_nothing() {
    let gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let csrf = client.csrf.clone().unwrap();
    let youth = professional_id(&client, "Pirjo Nuorisotyö").await;
    let before = grants(&client).await.len();
    let until = (gateway.now() + chrono::Duration::days(20))
        .format("%Y-%m-%d")
        .to_string();

    // Health data may be shared with health-care staff only.
    let (status, _, html) = client
        .post_form(
            "/my/share/grant",
            &[
                ("csrf", &csrf),
                ("professional", &youth),
                ("field", "identity.name"),
                ("field", "health.status"),
                ("may", "change"),
                ("purpose", "shared_plan"),
                ("purpose_text", "Kesätyön etsiminen"),
                ("until", &until),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    // The message, next to the refused field, which is marked; the allowed one is not.
    assert!(
        html.contains("Merkittyjä tietoja ei voi jakaa tälle ammattilaiselle"),
        "{html}"
    );
    assert!(html.contains(
        r#"value="health.status" checked aria-invalid="true" aria-describedby="grant-f-health-status-error""#
    ));
    assert!(html.contains(r#"id="grant-f-health-status-error""#));
    assert!(html.contains(r#"value="identity.name" checked>"#), "{html}");
    // Every other choice is as the person left it.
    assert!(html.contains(&format!(r#"<option value="{youth}" selected>"#)));
    assert!(html.contains(r#"value="change" checked"#));
    assert!(html.contains(r#"<option value="shared_plan" selected>"#));
    assert!(html.contains(">Kesätyön etsiminen</textarea>"));
    assert!(html.contains(&format!(r#"value="{until}""#)));
    assert_eq!(grants(&client).await.len(), before, "nothing was created");

    // Without the refused field it goes through, on to "who sees my data now".
    let (status, url, html) = client
        .post_form(
            "/my/share/grant",
            &[
                ("csrf", &csrf),
                ("professional", &youth),
                ("field", "identity.name"),
                ("may", "see"),
                ("purpose", "shared_plan"),
                ("until", &until),
            ],
        )
        .await
        .unwrap();
    assert_eq!((status, url.path()), (StatusCode::OK, "/my/grants"));
    assert!(html.contains("Lupa annettu."), "{html}");
    let after = grants(&client).await;
    assert_eq!(after.len(), before + 1);
    let given = after
        .iter()
        .find(|g| g["purpose"]["code"] == "shared_plan")
        .unwrap();
    assert_eq!(given["actions"], serde_json::json!(["read"]));
    // The chosen day lasts to its end in Helsinki.
    let valid_until: chrono::DateTime<chrono::Utc> =
        given["valid_until"].as_str().unwrap().parse().unwrap();
    // (23:59:59 in Helsinki is 21:59:59 or 20:59:59 UTC: two hours on is the same day.)
    let helsinki_day = (valid_until + chrono::Duration::hours(2)).date_naive();
    assert_eq!(helsinki_day.format("%Y-%m-%d").to_string(), until);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_grant_from_the_page_ends_it_and_needs_the_csrf_token() {
    let gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let csrf = client.csrf.clone().unwrap();
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    let client_id = me["id"].as_str().unwrap().to_owned();
    let health = gateway.signed_in("pro-health", None).await.unwrap();
    let record = format!("/api/v1/clients/{client_id}/record");
    let (status, _) = health.get(&record).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let grant = grants(&client)
        .await
        .into_iter()
        .find(|g| g["grantee"]["name"] == "Hanna Terveys")
        .unwrap();
    let id = grant["id"].as_str().unwrap();
    let before = grants(&client).await.len();

    // Without the token (or with a wrong one) nothing changes.
    for sent in [vec![], vec![("csrf", "not-the-token")]] {
        let (status, _, html) = client
            .post_form(&format!("/my/grants/{id}/revoke"), &sent)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert!(html.contains("Lomake on vanhentunut"), "{html}");
        let (status, _, html) = client
            .post_form(
                "/my/share/grant",
                &[
                    ("csrf", sent.first().map_or("", |(_, v)| *v)),
                    (
                        "professional",
                        grant["grantee"]["professional"].as_str().unwrap(),
                    ),
                    ("field", "identity.name"),
                    ("purpose", "guidance"),
                    ("until", "2099-01-01"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    }
    let (status, _) = health.get(&record).await.unwrap();
    assert_eq!(status, StatusCode::OK, "the grant still holds");
    assert_eq!(grants(&client).await.len(), before, "nothing was created");

    // With it, the grant ends at once and the page says so.
    let (status, url, html) = client
        .post_form(&format!("/my/grants/{id}/revoke"), &[("csrf", &csrf)])
        .await
        .unwrap();
    assert_eq!((status, url.path()), (StatusCode::OK, "/my/grants"));
    assert!(html.contains("Lupa lopetettu."), "{html}");
    let (_, ended) = client.get("/api/v1/me/grants").await.unwrap();
    let ended = ended
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(ended["state"], "revoked");
    let (status, problem) = health.get(&record).await.unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // It is listed among the ended ones, in words.
    assert!(html.contains("lopetit luvan"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_page_names_the_people_and_fields_in_words_without_ids() {
    let gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let grant = grants(&client)
        .await
        .into_iter()
        .find(|g| g["grantee"]["name"] == "Pirjo Nuorisotyö")
        .unwrap();
    let id = grant["id"].as_str().unwrap();
    let (status, html) = client
        .page(&format!("/my/grants/{id}/receipt"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    let text = visible_text(&html);
    assert!(text.contains("Pirjo Nuorisotyö, Nuoriso-ohjaaja"), "{text}");
    for label in ["Nimi", "Puhelinnumero", "Omat tavoitteet"] {
        assert!(text.contains(label), "{label}: {text}");
    }
    assert!(text.contains("Saa nähdä ja myös muuttaa tietoja"), "{text}");
    assert!(text.contains("Ed25519"), "{text}");
    assert!(!has_uuid(&text), "{text}");
    assert!(has_uuid(&html), "the download link names the grant");

    // The signed JSON it offers is there for the signed-in client, and is the receipt.
    let (status, signed) = client
        .get(&format!("/api/v1/me/grants/{id}/receipt"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(signed["receipt"]["omadata"]["grant_id"], id);
    assert!(html.contains(&format!(
        r#"href="/api/v1/me/grants/{id}/receipt" download="#
    )));

    // Someone else's grant, or no grant, is not found.
    let other = gateway.signed_in("client2", None).await.unwrap();
    let (status, html) = other
        .page(&format!("/my/grants/{id}/receipt"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    let (status, _) = client.page("/my/grants/nonsense/receipt").await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_days_quota_the_form_says_so_and_keeps_the_choices() {
    let gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client2", None).await.unwrap();
    let csrf = client.csrf.clone().unwrap();
    let youth = professional_id(&client, "Pirjo Nuorisotyö").await;
    let until = gateway.now() + chrono::Duration::days(20);
    // The day's own-initiative grants used up through the JSON API.
    let mut given = 0;
    loop {
        let (status, _) = client
            .call(
                reqwest::Method::POST,
                "/api/v1/me/grants",
                Some(serde_json::json!({
                    "professional": youth,
                    "fields": [{"path": "identity.name"}],
                    "actions": ["read"],
                    "purpose": {"code": "guidance"},
                    "valid_until": until,
                })),
            )
            .await
            .unwrap();
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(status, StatusCode::CREATED);
        given += 1;
        assert!(given <= 100, "no daily quota");
    }
    let before = grants(&client).await.len();
    let day = until.format("%Y-%m-%d").to_string();
    let (status, _, html) = client
        .post_form(
            "/my/share/grant",
            &[
                ("csrf", &csrf),
                ("professional", &youth),
                ("field", "identity.phone"),
                ("may", "see"),
                ("purpose", "guidance"),
                ("until", &day),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
    assert!(
        html.contains("Olet antanut tänään jo monta lupaa"),
        "{html}"
    );
    assert!(html.contains(r#"value="identity.phone" checked"#), "{html}");
    assert_eq!(grants(&client).await.len(), before, "nothing was created");
}

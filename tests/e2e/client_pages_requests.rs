//! The client's request pages, without a browser: a request to change data says so, and
//! approving less can remove that right; sensitive fields are marked; a post without the form's token, or one that
//! asks for more than was requested, changes nothing; a request that is unknown,
//! another client's or already answered gives a plain page.

use chrono::Duration;
use omadata_e2e::{Browser, Gateway};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Eero (`client2`) signed in, and the id of a request from Tero (`pro-employment`) to
/// see and change his name and agreed plan for 30 days.
async fn asked_to_see_and_change(gateway: &Gateway) -> (Browser, String) {
    asked(
        gateway,
        "pro-employment",
        json!([{"path": "identity.name"}, {"path": "plan.agreed_actions"}]),
        json!(["read", "write"]),
    )
    .await
}

/// Eero (`client2`) signed in, and the id of `pro`'s request for `fields` and `actions`.
async fn asked(gateway: &Gateway, pro: &str, fields: Value, actions: Value) -> (Browser, String) {
    let client = gateway.signed_in("client2", None).await.unwrap();
    let pro = gateway.signed_in(pro, None).await.unwrap();
    let request = pro
        .ask_access(
            &client,
            json!({
                "fields": fields,
                "actions": actions,
                "purpose": {"code": "shared_plan", "text": "Yhteinen suunnitelma"},
                "valid_until": (gateway.now() + Duration::days(30)).to_rfc3339(),
            }),
        )
        .await
        .unwrap();
    (client, request["id"].as_str().unwrap().to_owned())
}

/// Posts a page's form (`csrf` is added when given); returns the final status, address
/// and page (redirects are followed, as a browser does).
async fn post_form(
    client: &Browser,
    path: &str,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
) -> (StatusCode, reqwest::Url, String) {
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    if let Some(csrf) = csrf {
        form.push(("csrf", csrf));
    }
    client.post_form(path, &form).await.unwrap()
}

/// The request as the JSON API shows it, and the grants made from it.
async fn state_of(client: &Browser, id: &str) -> (String, Vec<Value>) {
    let (_, requests) = client.get("/api/v1/me/access-requests").await.unwrap();
    let request = requests
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
        .clone();
    let (_, grants) = client.get("/api/v1/me/grants").await.unwrap();
    let made: Vec<Value> = grants
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["request"] == id)
        .cloned()
        .collect();
    (request["current_status"].as_str().unwrap().to_owned(), made)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_change_says_so_and_approving_less_removes_the_right() {
    let gateway = Gateway::demo().await.unwrap();
    let (client, id) = asked_to_see_and_change(&gateway).await;
    let csrf = client.csrf.clone().unwrap();

    let (status, list) = client.page("/my/requests").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("Tero Työllisyys pyytää lupaa nähdä ja muuttaa tietojasi"),
        "{list}"
    );
    assert!(
        list.contains("Saa katsoa tietoja ja myös muuttaa niitä."),
        "{list}"
    );
    // Tero's earlier request (the demo's) asks only to see.
    assert!(list.contains("Saa vain katsoa tietoja."), "{list}");
    assert!(list.contains(&format!("/my/requests/{id}/less")), "{list}");

    let (status, less) = client
        .page(&format!("/my/requests/{id}/less"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        less.contains(r#"name="change" value="1" checked"#),
        "{less}"
    );
    assert!(less.contains("Saa myös muuttaa tietoja"), "{less}");

    // Both fields, the right to change unticked (not sent), the time as asked.
    let (status, url, done) = post_form(
        &client,
        &format!("/my/requests/{id}/approve"),
        Some(&csrf),
        &[
            ("less", "1"),
            ("field", "identity.name"),
            ("field", "plan.agreed_actions"),
            ("until", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(url.as_str().ends_with("done=approved"), "{url}");
    assert!(
        done.contains("Hyväksytty: Tero Työllisyys näkee nyt valitsemasi tiedot"),
        "{done}"
    );
    assert!(!done.contains("tiedot ja voi muuttaa niitä"), "{done}");

    let (state, grants) = state_of(&client, &id).await;
    assert_eq!(state, "approved");
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["actions"], json!(["read"]));
    assert_eq!(
        grants[0]["fields"],
        json!(["identity.name", "plan.agreed_actions"])
    );

    // "Approve" on the list (the form holds only its token) gives all that was asked:
    // the demo's request from Tero to see a name and skills.
    let (_, requests) = client.get("/api/v1/me/access-requests").await.unwrap();
    let seeing = requests
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["current_status"] == "pending")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, done) = post_form(
        &client,
        &format!("/my/requests/{seeing}/approve"),
        Some(&csrf),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        done.contains("Hyväksytty: Tero Työllisyys näkee nyt valitsemasi tiedot"),
        "{done}"
    );
    let (state, grants) = state_of(&client, &seeing).await;
    assert_eq!((state.as_str(), grants.len()), ("approved", 1));
    assert_eq!(grants[0]["actions"], json!(["read"]));
    assert_eq!(
        grants[0]["fields"],
        json!(["background.skills", "identity.name"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_without_the_token_or_beyond_the_request_change_nothing() {
    let gateway = Gateway::demo().await.unwrap();
    let (client, id) = asked_to_see_and_change(&gateway).await;
    let csrf = client.csrf.clone().unwrap();
    let approve = format!("/my/requests/{id}/approve");
    let deny = format!("/my/requests/{id}/deny");

    for token in [None, Some("not-the-token")] {
        for path in [&approve, &deny] {
            let (status, _, body) = post_form(&client, path, token, &[]).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
            assert!(body.contains("Lomake on vanhentunut"), "{body}");
        }
    }

    // A field not asked for, and a later end, are refused next to their control.
    let later = (gateway.now() + Duration::days(60))
        .format("%Y-%m-%d")
        .to_string();
    let wider: [(&[(&str, &str)], &str); 3] = [
        (
            &[
                ("less", "1"),
                ("field", "identity.name"),
                ("field", "identity.phone"),
                ("change", "1"),
            ],
            "Voit vain vähentää pyydettyä, et lisätä.",
        ),
        (
            &[("less", "1"), ("field", "identity.name"), ("until", &later)],
            "Voit vain lyhentää aikaa.",
        ),
        (&[("less", "1")], "Valitse vähintään yksi tieto."),
    ];
    for (form, message) in wider {
        let (status, _, body) = post_form(&client, &approve, Some(&csrf), form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}: {body}");
        assert!(body.contains(message), "{body}");
        assert!(body.contains(r#"aria-invalid="true""#), "{body}");
        // The form comes back with what was sent.
        assert!(
            body.contains(r#"value="identity.name" checked"#) || form.len() == 1,
            "{body}"
        );
    }
    let (state, grants) = state_of(&client, &id).await;
    assert_eq!((state.as_str(), grants.len()), ("pending", 0));

    // Unknown, malformed and another client's requests: a plain page, never an error 500.
    let other = gateway.signed_in("client1", None).await.unwrap();
    for (who, path) in [
        (
            &client,
            "/my/requests/7d0c1d36-1f7e-4c07-9a53-1f5b8c0f0e11/less".to_owned(),
        ),
        (&client, "/my/requests/nonsense/less".to_owned()),
        (&other, format!("/my/requests/{id}/less")),
    ] {
        let (status, body) = who.page(&path).await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body.contains("Etsimääsi asiaa ei löytynyt"), "{body}");
    }
    let other_csrf = other.csrf.clone().unwrap();
    let (status, _, _) = post_form(&other, &approve, Some(&other_csrf), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Refused once; then it is answered, and answering again says so.
    let (status, url, body) = post_form(&client, &deny, Some(&csrf), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(url.as_str().ends_with("done=denied"), "{url}");
    assert!(body.contains("Kielletty: Tero Työllisyys"), "{body}");
    let (status, body) = client
        .page(&format!("/my/requests/{id}/less"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("Tähän pyyntöön on jo vastattu"), "{body}");
    let (status, _, _) = post_form(&client, &approve, Some(&csrf), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (state, grants) = state_of(&client, &id).await;
    assert_eq!((state.as_str(), grants.len()), ("denied", 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_fields_are_marked_on_the_card_and_the_form() {
    let gateway = Gateway::demo().await.unwrap();
    let (client, id) = asked(
        &gateway,
        "pro-health",
        json!([{"path": "identity.name"}, {"path": "health.status"}]),
        json!(["read"]),
    )
    .await;
    let marked = r#"Terveydentila <span class="badge special">arkaluonteinen</span>"#;
    let (_, list) = client.page("/my/requests").await.unwrap();
    assert!(list.contains(marked), "{list}");
    assert!(!list.contains(r#"Nimi <span class="badge"#), "{list}");
    let (_, less) = client
        .page(&format!("/my/requests/{id}/less"))
        .await
        .unwrap();
    assert!(less.contains(marked), "{less}");
}

//! The client's pages "who has looked" (`/my/seen`), the readable export (`/my/export`)
//! and erasure (`/my/account`): a professional's change reads as a change, erasure needs
//! the confirm box and a recent sign-in and otherwise changes nothing, and the export
//! speaks in labels and values, never ids.

use chrono::Duration;
use omadata_e2e::{Browser, Gateway, has_uuid};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

/// Posts the erasure form (with the session's CSRF token); `confirm` ticks the box.
async fn erase(browser: &Browser, confirm: bool) -> reqwest::Response {
    let mut form = vec![("csrf", browser.csrf.clone().unwrap())];
    if confirm {
        form.push(("confirm", "yes".to_owned()));
    }
    browser
        .http
        .post(format!("{}/my/account/erase", browser.base))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The client's records still there (nothing erased).
async fn still_holds_records(client: &Browser) {
    let (status, record) = client.get("/api/v1/me/record").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(!record.as_array().unwrap().is_empty(), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_has_looked_says_changed_for_a_write_and_looked_for_a_read_newest_first() {
    let gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    let client_id = me["id"].as_str().unwrap().to_owned();
    let youth = gateway.signed_in("pro-youth", None).await.unwrap();
    // More reads than a page shows, then one change.
    for _ in 0..21 {
        let (status, _) = youth
            .get(&format!("/api/v1/clients/{client_id}/record"))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    let (status, written) = youth
        .call(
            Method::PUT,
            &format!("/api/v1/clients/{client_id}/record/plan.agreed_actions"),
            Some(json!({"value": "Haetaan kesätyötä."})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{written}");

    let (status, seen) = client.page("/my/seen").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(seen.contains("Pirjo Nuorisotyö, Nuoriso-ohjaaja, Ohjaamo Demokaupunki"));
    assert!(seen.contains("Sovitut toimenpiteet"), "{seen}");
    assert!(seen.contains("Käyttötarkoitus: Ohjaus"), "{seen}");
    let changed = seen
        .find("muutti näitä tietoja")
        .expect("the change is shown");
    let looked = seen.find("katsoi näitä tietoja").expect("a read is shown");
    assert!(changed < looked, "the change is newer, so first");
    assert_eq!(seen.matches("muutti näitä tietoja").count(), 1);
    assert!(
        !seen.contains("plan.agreed_actions") && !has_uuid(&seen),
        "{seen}"
    );

    // The older entries are one plain link away; the cursor stays in the link.
    let older = seen
        .split("href=\"/my/seen?before=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to older entries");
    assert!(seen.contains(">Vanhemmat</a>"), "{seen}");
    let (status, older_page) = client
        .page(&format!("/my/seen?before={older}"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    // 22 entries: 20 on the first page, 2 on the next; no link further back.
    assert_eq!(older_page.matches("katsoi näitä tietoja").count(), 2);
    assert!(!older_page.contains("before="), "{older_page}");
    assert!(older_page.contains(r#"href="/my/seen">Uusimmat</a>"#));
    // A cursor that is not one shows the newest entries.
    let (status, nonsense) = client.page("/my/seen?before=x%00").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(nonsense.contains("muutti näitä tietoja"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_without_the_confirm_box_or_the_form_token_changes_nothing() {
    let gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client2", None).await.unwrap();

    let response = erase(&client, false).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("Rastita ensin ruutu"), "{html}");
    assert!(
        html.contains(r#"aria-invalid="true" aria-describedby="confirm-error""#),
        "{html}"
    );
    still_holds_records(&client).await;

    let forged = client
        .http
        .post(format!("{}/my/account/erase", client.base))
        .form(&[("csrf", "forged"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    still_holds_records(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_with_an_old_sign_in_asks_to_sign_in_again_and_changes_nothing() {
    let gateway = Gateway::demo().await.unwrap();
    let mut client = gateway.signed_in("client2", None).await.unwrap();
    gateway.clock.advance(Duration::minutes(6));

    let response = erase(&client, true).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // (An attribute's `&` may be written as `&#38;` or `&amp;`.)
    let html = response
        .text()
        .await
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        html.contains("vaatii, että olet kirjautunut aivan äsken"),
        "{html}"
    );
    // A link, not a redirect: a form post may not be sent on to the identity provider.
    assert!(
        html.contains(
            r#"href="/auth/login?role=client&prompt=login&next=account">Kirjaudu uudelleen</a>"#
        ),
        "{html}"
    );
    still_holds_records(&client).await;

    // Signing in again as the link does makes the sign-in recent, and erasure goes through.
    let again = client
        .http
        .get(format!(
            "{}/auth/login?login_hint=client2&role=client&prompt=login&next=account",
            client.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    client.csrf = me["csrf_token"].as_str().map(str::to_owned);
    assert_eq!(erase(&client, true).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_with_a_fresh_sign_in_erases_and_ends_every_session() {
    let gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client2", None).await.unwrap();
    let laptop = gateway.signed_in("client2", None).await.unwrap();

    let response = erase(&client, true).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("omadata_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Tietosi on poistettu"), "{html}");
    // Nobody is signed in on the goodbye page.
    assert!(!html.contains("Kirjautunut:"), "{html}");

    for (who, browser) in [("this browser", &client), ("another", &laptop)] {
        let (status, _) = browser.get("/api/v1/me/record").await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{who}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_page_shows_labels_and_values_and_no_ids() {
    let gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let (status, html) = client.page("/my/export").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    for shown in [
        "Puhelinnumero",
        "+358 40 123 4567",
        "Sovitut toimenpiteet",
        "Tutustutaan ammattiopiston avoimiin oviin. Haetaan yhteishaussa.",
        "Kirjoittanut Pirjo Nuorisotyö, Nuoriso-ohjaaja",
        "Antamasi luvat",
        "katsoa ja muuttaa",
        "Hanna Terveys, Terveydenhoitaja, Ohjaamo Demokaupunki",
        "Annoit luvan: Pirjo Nuorisotyö",
        r#"href="/api/v1/me/export""#,
    ] {
        assert!(html.contains(shown), "{shown}: {html}");
    }
    assert!(
        !html.contains("identity.phone") && !has_uuid(&html),
        "{html}"
    );
}

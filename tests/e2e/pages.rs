//! The server-rendered pages speak the person's language: the one chosen from the menu,
//! else the browser's, else Finnish; the menu remembers the choice and returns only to
//! this site.

use omadata_e2e::Gateway;
use reqwest::{StatusCode, header};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The refusal page for an unknown role, asked with `headers`.
async fn refusal_page(gateway: &Gateway, headers: &[(header::HeaderName, &str)]) -> String {
    let mut request = client().get(format!("{}/auth/login?role=wizard", gateway.base));
    for (name, value) in headers {
        request = request.header(name.clone(), *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refusals_speak_the_persons_language() {
    let gateway = Gateway::demo().await.unwrap();

    let finnish = refusal_page(&gateway, &[]).await;
    assert!(finnish.contains(r#"<html lang="fi">"#), "{finnish}");
    assert!(finnish.contains("Tuntematon rooli"), "{finnish}");
    assert!(!finnish.contains("Unknown role"), "{finnish}");

    let swedish = refusal_page(&gateway, &[(header::ACCEPT_LANGUAGE, "sv-FI,sv;q=0.9")]).await;
    assert!(swedish.contains(r#"<html lang="sv">"#), "{swedish}");
    assert!(swedish.contains("Okänd roll"), "{swedish}");
    assert!(swedish.contains("Till startsidan"), "{swedish}");

    // A choice made from the menu wins over the browser's language.
    let chosen = refusal_page(
        &gateway,
        &[
            (header::ACCEPT_LANGUAGE, "sv-FI"),
            (header::COOKIE, "lang=en"),
        ],
    )
    .await;
    assert!(chosen.contains("Unknown role"), "{chosen}");
    // Every page offers the three languages, each named in itself.
    for name in ["Suomeksi", "På svenska", "In English"] {
        assert!(chosen.contains(name), "{chosen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_menu_remembers_the_choice_and_returns_only_here() {
    let gateway = Gateway::demo().await.unwrap();
    let response = client()
        .get(format!("{}/language?to=sv&back=/app", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/app");
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("lang=sv;") && cookie.contains("Max-Age=31536000"));

    for elsewhere in ["https://evil.example/", "//evil.example/x"] {
        let response = client()
            .get(format!("{}/language", gateway.base))
            .query(&[("to", "en"), ("back", elsewhere)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[header::LOCATION], "/", "{elsewhere}");
    }
    let unknown = client()
        .get(format!("{}/language?to=de", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(unknown.headers().get(header::SET_COOKIE).is_none());
}

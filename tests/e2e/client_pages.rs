//! The client's server-rendered pages as a browser without JavaScript meets them: who may
//! open them, forms that change nothing without the session's token, "my data" keeping
//! what was typed when a value is refused, and the front page.

use omadata_e2e::Gateway;
use reqwest::cookie::Jar;
use reqwest::{StatusCode, header};
use serde_json::Value;
use std::sync::Arc;

/// A browser's cookie jar with two clients on it: one that follows redirects (to sign
/// in) and one that stops at the first answer (to see it).
struct Person {
    base: String,
    jar: Arc<Jar>,
    follow: reqwest::Client,
    stop: reqwest::Client,
}

impl Person {
    fn new(gateway: &Gateway) -> Self {
        let jar = Arc::new(Jar::default());
        let build = |policy| {
            reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(policy)
                .build()
                .unwrap()
        };
        Person {
            base: gateway.base.clone(),
            jar: jar.clone(),
            follow: build(reqwest::redirect::Policy::limited(10)),
            stop: build(reqwest::redirect::Policy::none()),
        }
    }

    async fn signed_in(gateway: &Gateway, login: &str) -> Self {
        let person = Person::new(gateway);
        let response = person
            .follow
            .get(format!("{}/auth/login?login_hint={login}", person.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        person
    }

    async fn get(&self, path: &str) -> (StatusCode, Option<String>, String) {
        let response = self
            .stop
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (response.status(), location, response.text().await.unwrap())
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let response = self
            .stop
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn csrf(&self) -> String {
        let me: Value = self
            .stop
            .get(format!("{}/api/v1/me", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        me["csrf_token"].as_str().unwrap().to_owned()
    }

    /// The stored value of one of the client's fields (JSON API).
    async fn field(&self, path: &str) -> Value {
        let records: Vec<Value> = self
            .stop
            .get(format!("{}/api/v1/me/record", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        records
            .into_iter()
            .find(|r| r["path"] == path)
            .map_or(Value::Null, |r| r["value"].clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_page_needs_a_signed_in_client() {
    let gateway = Gateway::demo().await.unwrap();
    let nobody = Person::new(&gateway);
    // Signed out: a page signs in first and comes back to it.
    let (status, location, _) = nobody.get("/my/data").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/auth/login?role=client&next=data")
    );
    let (_, location, _) = nobody.get("/my/data/edit?field=identity.phone").await;
    assert_eq!(
        location.as_deref(),
        Some("/auth/login?role=client&next=data")
    );
    // A form posted after the sign-in ended is not repeated: it says so.
    let (status, page) = nobody
        .post_form(
            "/my/data/edit",
            &[("field", "identity.phone"), ("value", "1")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Kirjautumisesi on päättynyt"), "{page}");

    // Staff have their own pages.
    let professional = Person::signed_in(&gateway, "pro-youth").await;
    let (status, location, _) = professional.get("/my/data").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/"));
    let (status, _, page) = professional.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("/assets/app.js"),
        "staff get the web app: {page}"
    );

    // The front page: sign-in choices for nobody, the client's pages for a client.
    let (status, _, front) = nobody.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        front.contains(r#"href="/auth/login?role=client""#),
        "{front}"
    );
    assert!(!front.contains("sign-out"), "{front}");
    let client = Person::signed_in(&gateway, "client1").await;
    let (status, location, _) = client.get("/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/my/data"));
    let (status, _, page) = client.get("/my/data").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Kirjautunut: Aino Asiakas (asiakas)"),
        "{page}"
    );
    // A hand-edited query is read as none: the page, not an error.
    for odd in ["/my/data?done=saved&done=x", "/my/seen?before=1&before=2"] {
        let (status, _, page) = client.get(odd).await;
        assert_eq!(status, StatusCode::OK, "{odd}");
        assert!(page.starts_with("<!doctype html>"), "{odd}: {page}");
    }
    // A form's address opened as a page (the language menu after a post) leads to the page.
    let (status, location, _) = client.get("/my/share/code").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/my/share"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_the_sessions_token_changes_nothing() {
    let gateway = Gateway::demo().await.unwrap();
    let client = Person::signed_in(&gateway, "client1").await;
    let before = client.field("identity.phone").await;
    assert!(before.is_string());
    for form in [
        vec![("field", "identity.phone"), ("value", "+358 40 111 2222")],
        vec![
            ("csrf", "not-the-token"),
            ("field", "identity.phone"),
            ("value", "+358 40 111 2222"),
        ],
    ] {
        let (status, page) = client.post_form("/my/data/edit", &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(page.contains("Lomake on vanhentunut"), "{page}");
    }
    // The refusal leads back to the page the form was on.
    let (status, page) = client
        .post_form("/my/grants/not-a-grant/revoke", &[("csrf", "wrong")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains(r#"<a class="button" href="/my/grants">"#),
        "{page}"
    );
    // Not a form at all.
    let response = client
        .stop
        .post(format!("{}/my/data/edit", client.base))
        .json(&serde_json::json!({"field": "identity.phone", "value": "+358 40 111 2222"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(client.field("identity.phone").await, before);

    // With the token it goes through, and the browser is sent back to the field.
    let csrf = client.csrf().await;
    let (status, _) = client
        .post_form(
            "/my/data/edit",
            &[
                ("csrf", &csrf),
                ("field", "identity.phone"),
                ("value", "+358 40 111 2222"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(client.field("identity.phone").await, "+358 40 111 2222");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_data_explains_a_refused_value_next_to_its_field_and_keeps_it() {
    let gateway = Gateway::demo().await.unwrap();
    let client = Person::signed_in(&gateway, "client2").await;
    let csrf = client.csrf().await;
    let before = client.field("identity.email").await;

    let response = client
        .stop
        .post(format!("{}/my/data/edit", client.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("field", "identity.email"),
            ("value", "ei-osoite"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"class="field-error""#), "{page}");
    assert!(page.contains("sähköpostiosoite"), "{page}");
    assert!(page.contains(r#"value="ei-osoite""#), "{page}");
    assert!(page.contains(r#"aria-invalid="true""#), "{page}");
    assert_eq!(client.field("identity.email").await, before);

    // A list is one item a line; an empty value clears the field.
    let (status, _) = client
        .post_form(
            "/my/data/edit",
            &[
                ("csrf", &csrf),
                ("field", "identity.languages"),
                ("value", "suomi\r\n\r\n  ruotsi \n"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        client.field("identity.languages").await,
        serde_json::json!(["suomi", "ruotsi"])
    );
    let (_, _, page) = client.get("/my/data").await;
    assert!(page.contains("<li>ruotsi</li>"), "{page}");
    let (status, _) = client
        .post_form(
            "/my/data/edit",
            &[
                ("csrf", &csrf),
                ("field", "identity.languages"),
                ("value", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(client.field("identity.languages").await, Value::Null);
    let (_, _, page) = client.get("/my/data?done=cleared").await;
    assert!(!page.contains("ruotsi"), "{page}");
    assert!(page.contains("Tieto poistettu."), "{page}");

    // A field only a professional writes, or none at all: a plain page, nothing written.
    for field in ["encounters.visits", "no.such_field"] {
        let (status, page) = client
            .post_form(
                "/my/data/edit",
                &[("csrf", &csrf), ("field", field), ("value", "x")],
            )
            .await;
        assert!(status.is_client_error(), "{field}: {status}");
        assert!(page.contains("Tämä ei onnistunut"), "{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_from_a_page_needs_the_token_and_ends_the_session() {
    let gateway = Gateway::demo().await.unwrap();
    let client = Person::signed_in(&gateway, "client1").await;
    // Without the token (a form another site sends, or a body that is not a form at all):
    // refused, still signed in.
    let (status, page) = client.post_form("/sign-out", &[("csrf", "wrong")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("Lomake on vanhentunut"), "{page}");
    let response = client
        .stop
        .post(format!("{}/sign-out", client.base))
        .body(vec![0xff_u8; 10_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _, _) = client.get("/my/data").await;
    assert_eq!(status, StatusCode::OK);

    use reqwest::cookie::CookieStore;
    let cookies = client.jar.cookies(&client.base.parse().unwrap()).unwrap();
    let csrf = client.csrf().await;
    let response = client
        .stop
        .post(format!("{}/sign-out", client.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/signed-out");
    let cleared = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The session itself ended: its old cookie opens nothing.
    let stale = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/my/data", client.base))
        .header(header::COOKIE, cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::SEE_OTHER);
    let (status, _, page) = client.get("/signed-out").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Olet kirjautunut ulos"), "{page}");
}

//! Nothing another site can start reaches a signed-in session, and no GET signs or
//! stores anything.

use omadata_e2e::Gateway;
use reqwest::{Method, StatusCode, header};

/// Follows the sign-in by hand (no automatic redirects) and returns every
/// `Set-Cookie` the gateway sent on the way.
async fn sign_in_cookies(gateway: &Gateway, person: &str) -> Vec<String> {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = format!("{}/auth/login?login_hint={person}", gateway.base);
    let mut cookies = Vec::new();
    for _ in 0..10 {
        let response = http.get(&url).send().await.unwrap();
        cookies.extend(
            response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned()),
        );
        if !response.status().is_redirection() {
            return cookies;
        }
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        url = if location.starts_with('/') {
            format!("{}{location}", gateway.base)
        } else {
            location.to_owned()
        };
    }
    panic!("the sign-in did not end within 10 redirects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_never_sent_on_requests_other_sites_start() {
    let mut gateway = Gateway::demo().await.unwrap();
    let cookies = sign_in_cookies(&gateway, "client1").await;
    let session = cookies
        .iter()
        .find(|c| c.starts_with("omadata_session=") && !c.starts_with("omadata_session=;"))
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("HttpOnly"), "{session}");
    // The login cookie comes back on the provider's redirect, so it stays Lax.
    let login = cookies
        .iter()
        .find(|c| c.starts_with("omadata_login="))
        .unwrap();
    assert!(login.contains("SameSite=Lax"), "{login}");
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_checkpoint_signs_nothing_and_a_post_signs_only_a_grown_log() {
    let mut gateway = Gateway::demo().await.unwrap();
    let mut auditor = gateway.browser().unwrap();
    assert_eq!(
        auditor.login("auditor", None).await.unwrap().0,
        StatusCode::OK
    );
    // One was signed as the gateway started.
    let (status, first) = auditor.get("/api/v1/audit/checkpoint").await.unwrap();
    assert_eq!(status, StatusCode::OK, "{first}");
    // The log grows (a sign-in is audited), but reading again signs nothing new.
    let mut client = gateway.browser().unwrap();
    assert_eq!(
        client.login("client1", None).await.unwrap().0,
        StatusCode::OK
    );
    for _ in 0..3 {
        let (status, again) = auditor.get("/api/v1/audit/checkpoint").await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, first, "a GET signed a new checkpoint");
    }
    // A POST (which needs the CSRF token) signs one over the grown log...
    let (status, signed) = auditor
        .call(Method::POST, "/api/v1/audit/checkpoint", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert!(signed["tree_size"].as_u64() > first["tree_size"].as_u64());
    // ...and none when nothing was added since.
    let (_, same) = auditor
        .call(Method::POST, "/api/v1/audit/checkpoint", None)
        .await
        .unwrap();
    assert_eq!(same, signed);
    // Without the token the POST is refused.
    let mut no_token = gateway.browser().unwrap();
    no_token.login("auditor", None).await.unwrap();
    no_token.csrf = None;
    let (status, problem) = no_token
        .call(Method::POST, "/api/v1/audit/checkpoint", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["code"], "csrf_token_invalid");
    gateway.stop().await.unwrap();
}

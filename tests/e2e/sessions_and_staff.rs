//! Against the real gateway: a bearer token cannot mint
//! its successor and dies with the session it came from; erasure needs a recent sign-in
//! and ends every session and token; an organisation admin cannot take over a client's
//! sign-in, and their `health_care` registrations wait for the operator; a deactivated
//! staff member loses their sessions and tokens at the next request.

use chrono::Duration;
use omadata_e2e::{Browser, Gateway};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A bearer-token API client minted from `browser`'s session.
async fn token_client(gateway: &Gateway, browser: &Browser) -> Browser {
    let (status, token) = browser
        .call(Method::POST, "/api/v1/tokens", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{token}");
    let mut api = gateway.browser().unwrap();
    api.bearer = token["access_token"].as_str().map(str::to_owned);
    api
}

fn code(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

/// Restarts the gateway on its data directory and address (so the test provider's
/// issuer, which admin registrations name, stays the same), with the same clock.
async fn restart(gateway: &mut Gateway, addr: std::net::SocketAddr) {
    gateway.stop().await.unwrap();
    let mut options = gateway.restart_options().unwrap();
    options.listen = addr;
    options.clock = Some(gateway.clock.clone());
    let server = omadata::server::start(options).await.unwrap();
    gateway.base = server.public_url.as_str().trim_end_matches('/').to_owned();
    gateway.server = Some(server);
}

fn cli(gateway: &Gateway, args: &[&str]) -> Result<String, String> {
    gateway.cli(args).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_cannot_mint_its_successor_and_dies_with_its_session() {
    let mut gateway = Gateway::demo().await.unwrap();
    let client = gateway.signed_in("client1", None).await.unwrap();
    let api = token_client(&gateway, &client).await;
    assert_eq!(api.get("/api/v1/me").await.unwrap().0, StatusCode::OK);

    // A stolen token cannot renew itself.
    let (status, problem) = api
        .call(Method::POST, "/api/v1/tokens", None)
        .await
        .unwrap();
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::FORBIDDEN, Some("session_required"))
    );

    // Signing out in the browser ends the token too.
    let (status, _) = client
        .call(Method::POST, "/auth/logout", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/me").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );

    // Signing out with a token ends that token's whole session (browser included).
    let client = gateway.signed_in("client1", None).await.unwrap();
    let api = token_client(&gateway, &client).await;
    let (status, _) = api.call(Method::POST, "/auth/logout", None).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/me").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client.get("/api/v1/me").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );

    // A token outlives neither its 15 minutes nor its session's 8 hours.
    let client = gateway.signed_in("client1", None).await.unwrap();
    gateway
        .clock
        .advance(Duration::hours(8) - Duration::minutes(5));
    let (status, token) = client
        .call(Method::POST, "/api/v1/tokens", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(token["expires_in"].as_i64().unwrap() <= 5 * 60);
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_needs_a_recent_sign_in_and_ends_every_session_and_token() {
    let mut gateway = Gateway::demo().await.unwrap();
    let mut phone = gateway.signed_in("client1", None).await.unwrap();
    let laptop = gateway.signed_in("client1", None).await.unwrap();
    let api = token_client(&gateway, &laptop).await;

    gateway.clock.advance(Duration::minutes(6));
    let (status, problem) = phone
        .call(Method::DELETE, "/api/v1/me", None)
        .await
        .unwrap();
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::FORBIDDEN, Some("reauthentication_required"))
    );
    // Nothing was erased.
    let (status, record) = phone.get("/api/v1/me/record").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(!record.as_array().unwrap().is_empty());

    // The web app's way back: a fresh sign-in that returns to the account page.
    let response = phone
        .http
        .get(format!(
            "{}/auth/login?login_hint=client1&role=client&prompt=login&next=account",
            phone.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // ... and the callback sends the browser back to that page (seen by a browser that
    // stops at the callback's answer).
    let stop_at_app = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt
                .previous()
                .last()
                .is_some_and(|u| u.path() == "/auth/callback")
            {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap();
    let response = stop_at_app
        .get(format!(
            "{}/auth/login?login_hint=client2&role=client&prompt=login&next=account",
            phone.base
        ))
        .send()
        .await
        .unwrap();
    // The sign-in ends on a page that moves on from itself (so the strict session cookie
    // goes with it), to the client's account page.
    assert_eq!(response.status(), StatusCode::OK);
    let landing = response.text().await.unwrap();
    assert!(
        landing.contains(r#"<meta http-equiv="refresh" content="0;url=/my/account">"#),
        "{landing}"
    );
    let (_, me) = phone.get("/api/v1/me").await.unwrap();
    phone.csrf = me["csrf_token"].as_str().map(str::to_owned);
    let (status, _) = phone
        .call(Method::DELETE, "/api/v1/me", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Every session and token of the person ended with it.
    for (who, caller) in [("phone", &phone), ("laptop", &laptop), ("token", &api)] {
        assert_eq!(
            caller.get("/api/v1/me").await.unwrap().0,
            StatusCode::UNAUTHORIZED,
            "{who}"
        );
    }
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_cannot_take_over_a_clients_sign_in() {
    let mut gateway = Gateway::demo().await.unwrap();
    let admin = gateway.signed_in("admin", Some("admin")).await.unwrap();
    // A client who enrolled by signing in, too.
    let newcomer = gateway.signed_in("newcomer", None).await.unwrap();
    assert_eq!(
        newcomer.get("/api/v1/me").await.unwrap().1["role"],
        "client"
    );

    // The take-over: register client2's subject as staff. Refused, as are a
    // signed-in client's subject and another staff member's.
    for subject in ["client2", "newcomer", "pro-youth"] {
        let (status, problem) = admin
            .call(
                Method::POST,
                "/api/v1/admin/professionals",
                Some(json!({"name": "Kaappari", "title": "Ohjaaja", "profession": "youth_work", "roles": ["professional"], "login_subject": subject})),
            )
            .await
            .unwrap();
        assert_eq!(
            (status, code(&problem)),
            (StatusCode::CONFLICT, Some("login_subject_taken")),
            "{subject}"
        );
    }
    // Another provider's subject is not the admin's to name.
    let (status, _) = admin
        .call(
            Method::POST,
            "/api/v1/admin/professionals",
            Some(json!({"name": "X", "title": "Y", "profession": "youth_work", "roles": ["professional"], "login_subject": "someone", "login_issuer": "https://elsewhere.example"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // client2 still signs in as the client they are, with their data.
    let client2 = gateway.signed_in("client2", None).await.unwrap();
    let (_, me) = client2.get("/api/v1/me").await.unwrap();
    assert_eq!(me["role"], "client");
    let (status, record) = client2.get("/api/v1/me/record").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(record.to_string().contains("trukkikortti"));
    let mut as_pro = gateway.browser().unwrap();
    assert_eq!(
        as_pro
            .login("client2", Some("professional"))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admins_health_care_registration_waits_for_the_operator() {
    let mut gateway = Gateway::demo().await.unwrap();
    let admin = gateway.signed_in("admin", Some("admin")).await.unwrap();
    let admin_id = admin.get("/api/v1/me").await.unwrap().1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, nurse) = admin
        .call(
            Method::POST,
            "/api/v1/admin/professionals",
            Some(json!({"name": "Sami Satunnainen", "title": "Sairaanhoitaja", "profession": "health_care", "roles": ["professional"], "login_subject": "stranger"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{nurse}");
    assert_eq!(nurse["status"], "pending_confirmation");
    assert_eq!(nurse["login_issuer"], format!("{}/test-idp", gateway.base));
    let nurse_id = nurse["id"].as_str().unwrap().to_owned();
    let (_, staff) = admin.get("/api/v1/admin/professionals").await.unwrap();
    let listed = staff
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == nurse["id"])
        .unwrap();
    assert_eq!(listed["status"], "pending_confirmation");

    // Audited: who registered whom, as what.
    let auditor = gateway.signed_in("auditor", Some("auditor")).await.unwrap();
    let (_, events) = auditor
        .get(&format!("/api/v1/audit/events?professional={admin_id}"))
        .await
        .unwrap();
    let events = events.to_string();
    assert!(
        events.contains(&format!("registered staff {nurse_id}"))
            && events.contains("HealthCare")
            && events.contains("PendingConfirmation"),
        "{events}"
    );

    // Not yet: the admin's word alone does not open special-category data.
    let mut nurse_browser = gateway.browser().unwrap();
    assert_eq!(
        nurse_browser
            .login("stranger", Some("professional"))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );

    // The operator confirms (the store is theirs only while the gateway is stopped).
    let addr = gateway.server.as_ref().unwrap().addr;
    gateway.stop().await.unwrap();
    let data = gateway.data_dir();
    let data = data.to_str().unwrap();
    let said = cli(
        &gateway,
        &[
            "register",
            "confirm-staff",
            "--data",
            data,
            "--staff",
            &nurse_id,
        ],
    )
    .unwrap();
    assert!(said.contains("confirmed"), "{said}");
    assert!(
        cli(
            &gateway,
            &[
                "register",
                "confirm-staff",
                "--data",
                data,
                "--staff",
                &nurse_id
            ]
        )
        .is_err()
    );
    restart(&mut gateway, addr).await;
    let mut nurse_browser = gateway.browser().unwrap();
    let (status, page) = nurse_browser
        .login("stranger", Some("professional"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        nurse_browser.get("/api/v1/me").await.unwrap().1["role"],
        "professional"
    );

    // And the operator can remove them from the CLI too.
    gateway.stop().await.unwrap();
    let said = cli(
        &gateway,
        &[
            "register",
            "deactivate-staff",
            "--data",
            data,
            "--staff",
            &nurse_id,
        ],
    )
    .unwrap();
    assert!(said.contains("deactivated"), "{said}");
    restart(&mut gateway, addr).await;
    let mut nurse_browser = gateway.browser().unwrap();
    assert_eq!(
        nurse_browser
            .login("stranger", Some("professional"))
            .await
            .unwrap()
            .0,
        StatusCode::FORBIDDEN
    );
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_staff_lose_sessions_and_tokens_at_once_and_cannot_sign_in_again() {
    let mut gateway = Gateway::demo().await.unwrap();
    let admin = gateway.signed_in("admin", Some("admin")).await.unwrap();
    let pro = gateway
        .signed_in("pro-unrelated", Some("professional"))
        .await
        .unwrap();
    let pro_api = token_client(&gateway, &pro).await;
    let youth = gateway
        .signed_in("pro-youth", Some("professional"))
        .await
        .unwrap();
    assert_eq!(pro.get("/api/v1/clients").await.unwrap().0, StatusCode::OK);
    assert_eq!(
        pro_api.get("/api/v1/clients").await.unwrap().0,
        StatusCode::OK
    );
    let pro_id = pro.get("/api/v1/me").await.unwrap().1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/admin/professionals/{pro_id}/deactivate");
    let client = gateway.signed_in("client1", None).await.unwrap();
    let listed_ids = || async {
        let (status, listed) = client
            .get("/api/v1/directory/professionals?limit=1000")
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        listed
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["id"].as_str().map(str::to_owned))
            .collect::<Vec<String>>()
    };
    assert!(listed_ids().await.contains(&pro_id));

    // Only an admin may.
    assert_eq!(
        youth.call(Method::POST, &path, None).await.unwrap().0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = admin.call(Method::POST, &path, None).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "deactivated");

    // The next request of their session and of their token is refused.
    assert_eq!(
        pro.get("/api/v1/clients").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        pro_api.get("/api/v1/clients").await.unwrap().0,
        StatusCode::UNAUTHORIZED
    );
    // Other staff are untouched.
    assert_eq!(
        youth.get("/api/v1/clients").await.unwrap().0,
        StatusCode::OK
    );
    // Clients no longer find them to share with.
    let ids = listed_ids().await;
    assert!(!ids.is_empty());
    assert!(!ids.contains(&pro_id), "{ids:?}");
    // They cannot sign in again, in any role.
    for role in [Some("professional"), None] {
        let mut again = gateway.browser().unwrap();
        assert_eq!(
            again.login("pro-unrelated", role).await.unwrap().0,
            StatusCode::FORBIDDEN,
            "{role:?}"
        );
    }
    // A missing staff id answers like another organisation's: 403.
    let (status, _) = admin
        .call(
            Method::POST,
            "/api/v1/admin/professionals/00000000-0000-4000-8000-000000000000/deactivate",
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    gateway.stop().await.unwrap();
}

/// What the directory cannot check: a client enrolled by national identity number who
/// never signed in is unknown by subject, so a staff registration of their subject goes
/// through (or was made by a version before the check). Signing in without asking for a
/// staff role, they still are the client they were; only an explicit choice of a staff
/// role they are registered for makes them staff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_subject_was_registered_as_staff_stays_a_client_unless_they_choose() {
    use omadata_consent::{ClientIdentity, Directory};
    use omadata_vault::{Catalogue, Keyring, MasterKey, Vault};
    use std::sync::Arc;

    let mut gateway = Gateway::demo().await.unwrap();
    let admin = gateway.signed_in("admin", Some("admin")).await.unwrap();
    let organisation = admin.get("/api/v1/admin/organisation").await.unwrap().1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let addr = gateway.server.as_ref().unwrap().addr;
    gateway.stop().await.unwrap();
    let data = gateway.data_dir();
    // "newcomer" becomes a client by national identity number, never having signed in.
    let client_id = {
        let store = gateway.open_store().unwrap();
        let vault = Vault::open(
            store.vault(),
            Keyring::new(MasterKey::from_file(&data.join("master.key")).unwrap()),
            Arc::new(Catalogue::builtin().unwrap()),
        )
        .unwrap();
        let directory = Directory::new(
            store.consent(),
            omadata::server::read_enrolment_secret(&data.join("enrolment.secret")).unwrap(),
        );
        let id = vault.enrol_client().unwrap();
        directory
            .enrol_client(ClientIdentity::NationalId("040405A915F"), id)
            .unwrap();
        id.to_string()
    };
    let data_arg = data.to_str().unwrap();
    cli(
        &gateway,
        &[
            "register",
            "staff",
            "--data",
            data_arg,
            "--organisation",
            &organisation,
            "--name",
            "Niko Uusi",
            "--title",
            "Ohjaaja",
            "--profession",
            "youth_work",
            "--role",
            "professional",
            "--login-subject",
            "newcomer",
        ],
    )
    .unwrap();
    restart(&mut gateway, addr).await;

    let newcomer = gateway.signed_in("newcomer", None).await.unwrap();
    let (_, me) = newcomer.get("/api/v1/me").await.unwrap();
    assert_eq!(
        (me["role"].as_str(), me["id"].as_str()),
        (Some("client"), Some(client_id.as_str()))
    );
    let as_staff = gateway
        .signed_in("newcomer", Some("professional"))
        .await
        .unwrap();
    assert_eq!(
        as_staff.get("/api/v1/me").await.unwrap().1["role"],
        "professional"
    );
    gateway.stop().await.unwrap();
}

//! No secrets in the logs: a full run's log lines (JSON, at the default level) hold no key,
//! token, session, identity number or record value.

use omadata_e2e::Gateway;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_no_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("this test process has no other subscriber");

    let mut gateway = Gateway::demo().await.unwrap();
    let mut client = gateway.browser().unwrap();
    assert_eq!(
        client.login("client1", None).await.unwrap().0,
        StatusCode::OK
    );
    let secret_value = "SALAISUUS-7f3a9c";
    let (status, _) = client
        .call(
            Method::PUT,
            "/api/v1/me/record/needs.own_goals",
            Some(json!({"value": secret_value})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (_, code) = client
        .call(Method::POST, "/api/v1/me/pairing-codes", None)
        .await
        .unwrap();
    let (_, token) = client
        .call(Method::POST, "/api/v1/tokens", None)
        .await
        .unwrap();
    let mut youth = gateway.browser().unwrap();
    youth.login("pro-youth", None).await.unwrap();
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    let (status, record) = youth
        .get(&format!(
            "/api/v1/clients/{}/record",
            me["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(record.to_string().contains(secret_value));
    let (status, _) = client.get("/api/v1/me/export").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let data = gateway.data_dir();
    gateway.stop().await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("request_id"),
        "the log should have request lines: {log}"
    );
    let file = |name: &str| {
        std::fs::read_to_string(data.join(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let secrets = [
        ("master key", file("master.key")),
        ("signing key", file("signing.key")),
        ("enrolment secret", file("enrolment.secret")),
        ("record value", secret_value.to_owned()),
        ("national identity number", "010106A901R".to_owned()),
        ("CSRF token", client.csrf.clone().unwrap()),
        (
            "bearer token",
            token["access_token"].as_str().unwrap().to_owned(),
        ),
        ("pairing code", code["code"].as_str().unwrap().to_owned()),
        ("client name", "Aino Asiakas".to_owned()),
    ];
    for (what, secret) in secrets {
        assert!(!secret.is_empty());
        assert!(!log.contains(&secret), "the log holds the {what}");
    }
}

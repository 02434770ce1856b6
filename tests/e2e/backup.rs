//! `omadata backup` of a live store under a write load, `omadata restore` into a new
//! data directory, and the restored service: every write acknowledged before the backup
//! began is there, the audit log verifies, and the client can sign in and read it.

use omadata::server::ServerOptions;
use omadata_e2e::{Gateway, open_sled_vault};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn omadata(args: &[&str]) -> Result<String, omadata::cli::CliError> {
    omadata_e2e::omadata_cli(args)
}

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_backup_restores_every_acknowledged_write() {
    // `backup` copies the embedded store (PostgreSQL has its own tools).
    let mut gateway =
        Gateway::demo_with(|options| options.store = omadata::store::StoreChoice::Embedded)
            .await
            .unwrap();
    let data = gateway.data_dir();
    let mut client = gateway.browser().unwrap();
    assert_eq!(
        client.login("client2", None).await.unwrap().0,
        StatusCode::OK
    );
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    let client_id: omadata_vault::ClientId = me["id"].as_str().unwrap().parse().unwrap();
    let client = Arc::new(client);

    // A writer keeps writing through the API while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writer = {
        let (client, stop, acknowledged) = (client.clone(), stop.clone(), acknowledged.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                let value = format!("seurantamerkintä {i}");
                let (status, body) = client
                    .call(
                        Method::PUT,
                        "/api/v1/me/record/plan.follow_up",
                        Some(json!({ "value": value })),
                    )
                    .await
                    .unwrap();
                assert_eq!(status, StatusCode::OK, "{body}");
                acknowledged.lock().unwrap().push(value);
                i += 1;
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before = acknowledged.lock().unwrap().clone();
    let file = gateway.dir.path().join("omadata.backup");
    let said = {
        let (data, file) = (p(&data), p(&file));
        tokio::task::spawn_blocking(move || {
            omadata(&["backup", "--data", &data, "--out", &file]).unwrap()
        })
        .await
        .unwrap()
    };
    assert!(said.contains("live, from the running gateway"), "{said}");
    // The gateway kept serving after the backup.
    let served_after = acknowledged.lock().unwrap().len();
    while acknowledged.lock().unwrap().len() < served_after + 5 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    let all = acknowledged.lock().unwrap().clone();
    // A second backup to the same file is refused; the first stays.
    let again = omadata(&["backup", "--data", &p(&data), "--out", &p(&file)]);
    assert!(again.is_err());
    gateway.stop().await.unwrap();

    // Restore into a new data directory with the same key files.
    let restored = gateway.dir.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    for key in ["master.key", "signing.key", "enrolment.secret"] {
        std::fs::copy(data.join(key), restored.join(key)).unwrap();
    }
    let said = omadata(&["restore", "--from", &p(&file), "--data", &p(&restored)]).unwrap();
    assert!(said.contains("restored"), "{said}");
    assert!(omadata(&["restore", "--from", &p(&file), "--data", &p(&restored)]).is_err());

    let latest = {
        let vault = open_sled_vault(&restored).unwrap();
        let history: Vec<_> = vault
            .history(client_id, "plan.follow_up")
            .unwrap()
            .into_iter()
            .map(|v| v.parse_value().unwrap())
            .collect();
        for value in &before {
            assert!(
                history.contains(&json!(value)),
                "acknowledged before the backup, missing after restore: {value}"
            );
        }
        history.last().cloned().unwrap()
    };
    // The copy ends at one moment: at or after the last write acknowledged before it.
    let position = all.iter().position(|v| json!(v) == latest).unwrap();
    assert!(position + 1 >= before.len());
    let jwks = omadata(&[
        "keys",
        "jwks",
        "--signing-key",
        &p(&restored.join("signing.key")),
    ])
    .unwrap();
    std::fs::write(gateway.dir.path().join("jwks.json"), jwks).unwrap();
    let verified = omadata(&[
        "audit",
        "verify",
        "--data",
        &p(&restored),
        "--jwks",
        &p(&gateway.dir.path().join("jwks.json")),
    ])
    .unwrap();
    assert!(verified.contains("audit log valid"), "{verified}");

    // The restored directory serves: the client signs in and finds the last value.
    let server = omadata::server::start(ServerOptions::demo(
        "127.0.0.1:0".parse().unwrap(),
        restored.clone(),
    ))
    .await
    .unwrap();
    let mut browser = omadata_e2e::Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        base: server.public_url.as_str().trim_end_matches('/').to_owned(),
        csrf: None,
        bearer: None,
    };
    assert_eq!(
        browser.login("client2", None).await.unwrap().0,
        StatusCode::OK
    );
    let (status, record) = browser.get("/api/v1/me/record").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let restored_values: Vec<_> = record
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"] == "plan.follow_up")
        .map(|f| f["value"].clone())
        .collect();
    assert_eq!(restored_values, vec![latest], "{record}");
    server.stop().await.unwrap();
}

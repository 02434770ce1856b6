//! A purpose's free text is stored only sealed under the client's data key: no file in
//! the data directory holds it in clear, the client and the grantee still see it, and
//! after the client's erasure every listing still answers.

use omadata_e2e::Gateway;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The demo's texts (crates/gateway/src/demo.rs): a grant's and a pending request's.
const GRANT_TEXT: &str = "Opiskelupaikan ja asunnon etsiminen";
const REQUEST_TEXT: &str = "Työkokeilupaikan etsiminen";

/// Files under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else if path.is_file()
            && std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}

fn texts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| item["purpose"]["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purpose_texts_are_sealed_at_rest_shown_to_client_and_grantee_and_erasure_breaks_nothing() {
    let mut gateway = Gateway::demo().await.unwrap();
    let data = gateway.data_dir();

    // The client and the grantee see the texts as given.
    let client1 = gateway.signed_in("client1", None).await.unwrap();
    let (status, grants) = client1.get_all("/api/v1/me/grants").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        texts(&grants).contains(&GRANT_TEXT.to_owned()),
        "{grants:?}"
    );
    let with_text = grants
        .iter()
        .find(|g| g["purpose"]["text"] == GRANT_TEXT)
        .unwrap();
    let (status, receipt) = client1
        .raw(&format!(
            "/api/v1/me/grants/{}/receipt",
            with_text["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        receipt
            .windows(GRANT_TEXT.len())
            .any(|w| w == GRANT_TEXT.as_bytes()),
        "the client's receipt carries the text"
    );
    let youth = gateway.signed_in("pro-youth", None).await.unwrap();
    let (status, clients) = youth.get_all("/api/v1/clients").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let shown: Vec<String> = clients
        .iter()
        .flat_map(|c| texts(c["grants"].as_array().unwrap()))
        .collect();
    assert_eq!(shown, vec![GRANT_TEXT.to_owned()]);
    let client2 = gateway.signed_in("client2", None).await.unwrap();
    let (status, requests) = client2.get_all("/api/v1/me/access-requests").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(texts(&requests), vec![REQUEST_TEXT.to_owned()]);
    let (status, export) = client1.get("/api/v1/me/export").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(texts(export["grants"].as_array().unwrap()).contains(&GRANT_TEXT.to_owned()));

    // Written durably at the demo's seeding, yet in no file in clear.
    for text in [GRANT_TEXT, REQUEST_TEXT] {
        assert_eq!(files_holding(&data, text), Vec::<PathBuf>::new(), "{text}");
    }

    // Both clients erased: the grantee's and the requester's listings still answer.
    for client in [&client1, &client2] {
        let (status, body) = client
            .call(Method::DELETE, "/api/v1/me", None)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (status, clients) = youth.get_all("/api/v1/clients").await.unwrap();
    assert_eq!((status, clients.len()), (StatusCode::OK, 0));
    let employment = gateway.signed_in("pro-employment", None).await.unwrap();
    let (status, _) = employment.get_all("/api/v1/clients").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    for text in [GRANT_TEXT, REQUEST_TEXT] {
        assert_eq!(files_holding(&data, text), Vec::<PathBuf>::new(), "{text}");
    }
    gateway.stop().await.unwrap();
}

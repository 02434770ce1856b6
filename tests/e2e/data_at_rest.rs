//! Data at rest readable only by the service: the data directory and every directory in
//! it 0700, every file 0600 (sled's, the journal's, the keys, the control socket, a
//! backup), whatever the umask; a directory others can read is made private on start.

use omadata::server::ServerOptions;
use omadata_e2e::Gateway;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Entries under `dir` (itself included) that others could read: (path, mode).
fn not_private(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        seen += 1;
        let is_dir = path.is_dir();
        let wanted = if is_dir { 0o700 } else { 0o600 };
        if mode(&path) != wanted {
            out.push((path.clone(), mode(&path)));
        }
        if is_dir {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    assert!(seen > 10, "only {seen} entries under {}", dir.display());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_private_and_a_readable_one_is_fixed_on_start() {
    // What a service manager's default umask would let everyone read.
    let old_umask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    // The embedded store's files and control socket (PostgreSQL keeps its own).
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
    let (status, body) = client
        .call(
            Method::PUT,
            "/api/v1/me/record/plan.follow_up",
            Some(json!({ "value": "tapaaminen maanantaina" })),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let backup = gateway.dir.path().join("omadata.backup");
    {
        let (data, backup) = (data.clone(), backup.clone());
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            omadata::cli::run(
                [
                    "omadata",
                    "backup",
                    "--data",
                    data.to_str().unwrap(),
                    "--out",
                    backup.to_str().unwrap(),
                ],
                &mut out,
            )
            .unwrap();
        })
        .await
        .unwrap();
    }
    assert_eq!(mode(&backup), 0o600, "the backup file");
    assert!(data.join("control.sock").exists());
    assert_eq!(not_private(&data), vec![], "while serving");
    gateway.stop().await.unwrap();

    // Left readable by others (an older release, a careless operator): fixed on start.
    for (path, loose) in [
        (data.clone(), 0o755),
        (data.join("db"), 0o755),
        (data.join("master.key"), 0o644),
        (data.join("db/db"), 0o644),
        (data.join("db/audit/log"), 0o644),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    let server = omadata::server::start(ServerOptions::demo(
        "127.0.0.1:0".parse().unwrap(),
        data.clone(),
    ))
    .await
    .unwrap();
    assert_eq!(
        not_private(&data),
        vec![],
        "after a start on a readable directory"
    );
    server.stop().await.unwrap();
    rustix::process::umask(old_umask);
}

//! The PostgreSQL store: its traits agree with the in-memory ones, its journal appends
//! whole batches and tells a retry from a second writer, one process holds a database at
//! a time, migrations run once and a newer schema is refused, and a sled data directory
//! moves to PostgreSQL whole (`migrate-store`) and serves there: the same records, the
//! same audit log (it verifies), old receipts still verify.

use omadata::server::ServerOptions;
use omadata::store::StoreChoice;
use omadata_consent::store::{ConsentStore, JournalRecord, MemoryConsentStore};
use omadata_e2e::postgres::fresh_database;
use omadata_e2e::{Browser, Gateway};
use omadata_store_postgres::{Access, PgOptions, PgStore};
use omadata_vault::ClientId;
use omadata_vault::memory::MemoryStore;
use omadata_vault::store::VaultStore;
use proptest::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::Path;

fn omadata(args: &[&str]) -> Result<String, omadata::cli::CliError> {
    omadata_e2e::omadata_cli(args)
}

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

fn open(url: &str) -> PgStore {
    PgStore::open(url, &PgOptions::default()).unwrap()
}

fn reader(url: &str) -> PgStore {
    PgStore::open(
        url,
        &PgOptions {
            access: Access::Read,
            ..PgOptions::default()
        },
    )
    .unwrap()
}

fn alone(url: &str) -> Result<PgStore, omadata_vault::store::StoreError> {
    PgStore::open(
        url,
        &PgOptions {
            access: Access::Exclusive,
            lease_wait: Some(std::time::Duration::ZERO),
            ..PgOptions::default()
        },
    )
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1u8), Just(0xffu8), any::<u8>()],
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Scans and batches behave exactly as in memory, at prefix edges (0x00, 0xff), in
    /// both directions, from any start; later writes to one key in a batch win.
    #[test]
    fn postgres_and_memory_consent_stores_agree(
        batches in proptest::collection::vec(proptest::collection::vec((bytes(), proptest::option::of(bytes())), 1..6), 1..6),
        scans in proptest::collection::vec((bytes(), proptest::option::of(bytes()), any::<bool>(), 0..5usize), 1..10),
    ) {
        use std::sync::OnceLock;
        static URL: OnceLock<String> = OnceLock::new();
        let store = reader(URL.get_or_init(|| fresh_database().unwrap()));
        // One database for every case: empty it first.
        let old: Vec<_> = store.scan(&[], None, false, usize::MAX).unwrap().into_iter().map(|(k, _)| (k, None)).collect();
        store.apply(old).unwrap();
        let memory = MemoryConsentStore::new();
        for (i, batch) in batches.into_iter().enumerate() {
            if i % 2 == 0 {
                store.apply(batch.clone()).unwrap();
                memory.apply(batch).unwrap();
            } else {
                store.apply_deferred(batch.clone()).unwrap();
                memory.apply_deferred(batch).unwrap();
                store.sync().unwrap();
            }
        }
        for (prefix, from, reverse, limit) in scans {
            let a = store.scan(&prefix, from.as_deref(), reverse, limit).unwrap();
            let b = memory.scan(&prefix, from.as_deref(), reverse, limit).unwrap();
            prop_assert_eq!(&a, &b, "prefix {:?} from {:?} reverse {}", prefix, from, reverse);
            prop_assert_eq!(store.get(&prefix).unwrap(), memory.get(&prefix).unwrap());
        }
    }
}

#[derive(Clone, Debug)]
enum VaultOp {
    SetMeta(u8, Option<Vec<u8>>),
    Swap(u8, Option<u8>, Option<u8>),
    Insert(u8, u8, u64, u8),
    Prune(u8, u8, u64),
    DeleteClient(u8),
}

fn vault_op() -> impl Strategy<Value = VaultOp> {
    let key = || proptest::option::of(0u8..3);
    prop_oneof![
        1 => (0u8..2, proptest::option::of(bytes())).prop_map(|(n, v)| VaultOp::SetMeta(n, v)),
        1 => (0u8..3, key(), key()).prop_map(|(c, e, n)| VaultOp::Swap(c, e, n)),
        3 => (0u8..3, 0u8..3, 0u64..5, any::<u8>()).prop_map(|(c, p, v, s)| VaultOp::Insert(c, p, v, s)),
        1 => (0u8..3, 0u8..3, 0u64..5).prop_map(|(c, p, v)| VaultOp::Prune(c, p, v)),
        1 => (0u8..3).prop_map(VaultOp::DeleteClient),
    ]
}

const PATHS: [&str; 3] = ["a.b", "a.bc", "identity.name"];

/// Everything one vault store holds, read through the trait.
fn vault_state(store: &dyn VaultStore, clients: &[ClientId]) -> String {
    let mut state = format!(
        "meta {:?} {:?}; keys {:?}; data {:?}",
        store.meta("m0").unwrap(),
        store.meta("m1").unwrap(),
        store.wrapped_keys_after(None, 10).unwrap(),
        store.holds_client_data().unwrap()
    );
    for client in clients {
        state += &format!(
            "; {:?} after {:?}",
            store.client_records(*client).unwrap(),
            store.wrapped_keys_after(Some(*client), 1).unwrap()
        );
        // The one-look read, of no field, of one, and of all (one of them twice).
        for paths in [
            &[][..],
            &PATHS[1..2],
            &["identity.name", "a.b", "a.bc", "a.b"],
        ] {
            state += &format!(
                " {:?}",
                store.wrapped_key_and_latest(*client, paths).unwrap()
            );
        }
        for path in PATHS {
            state += &format!(
                " {:?} {:?}",
                store.latest_record_version(*client, path).unwrap(),
                store.record_versions(*client, path).unwrap()
            );
        }
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// Every vault store method answers exactly as the in-memory store does.
    #[test]
    fn postgres_and_memory_vault_stores_agree(ops in proptest::collection::vec(vault_op(), 1..30)) {
        let store = reader(&fresh_database().unwrap());
        let memory = MemoryStore::new();
        let clients: Vec<ClientId> = (0..3).map(|_| ClientId::random()).collect();
        let wrapped = |k: u8| vec![k; 8];
        for op in &ops {
            let outcome = |s: &dyn VaultStore| match op {
                VaultOp::SetMeta(n, v) => format!("{:?}", s.set_meta(&format!("m{n}"), v.as_deref())),
                VaultOp::Swap(c, e, n) => format!(
                    "{:?}",
                    s.compare_and_swap_wrapped_key(clients[*c as usize], e.map(wrapped).as_deref(), n.map(wrapped).as_deref())
                ),
                VaultOp::Insert(c, p, v, b) => format!("{:?}", s.insert_record_version(clients[*c as usize], PATHS[*p as usize], *v, &[*b])),
                VaultOp::Prune(c, p, v) => format!("{:?}", s.prune_record_versions(clients[*c as usize], PATHS[*p as usize], *v)),
                VaultOp::DeleteClient(c) => format!("{:?}", s.delete_client_records(clients[*c as usize])),
            };
            prop_assert_eq!(outcome(&store), outcome(&memory), "{:?}", op);
        }
        prop_assert_eq!(vault_state(&store, &clients), vault_state(&memory, &clients));
    }
}

fn record(i: u64) -> JournalRecord {
    JournalRecord {
        bytes: format!("{{\"entry\":{i}}}").into_bytes(),
        meta: [i as u8; 32],
    }
}

#[test]
fn the_audit_journal_appends_whole_batches_takes_a_retry_and_refuses_a_second_writer() {
    let url = fresh_database().unwrap();
    let first = reader(&url);
    let second = reader(&url);
    assert_eq!(first.journal_len().unwrap(), 0);
    assert_eq!(second.journal_len().unwrap(), 0);
    first
        .journal_append(&[record(0), record(1)], &[(4, 0, [7; 32])])
        .unwrap();
    // The same batch again at the same place (a retry after an unknown commit outcome)
    // lands once.
    second.journal_append(&[record(0), record(1)], &[]).unwrap();
    assert_eq!(second.journal_len().unwrap(), 2);
    // Other entries at a place already written: refused, nothing changed.
    let third = reader(&url);
    assert_eq!(third.journal_len().unwrap(), 2);
    first.journal_append(&[record(2)], &[]).unwrap();
    let error = third.journal_append(&[record(9)], &[]).unwrap_err();
    assert!(error.to_string().contains("another process"), "{error}");
    let fresh = reader(&url);
    assert_eq!(fresh.journal_len().unwrap(), 3);
    assert_eq!(fresh.journal_record(2).unwrap(), Some(record(2)));
    assert_eq!(fresh.journal_record(3).unwrap(), None);
    assert_eq!(fresh.journal_node(4, 0).unwrap(), Some([7; 32]));
    assert_eq!(fresh.journal_node(4, 1).unwrap(), None);
    fresh.save_journal_snapshot(b"heads").unwrap();
    fresh.save_journal_snapshot(b"heads 2").unwrap();
    assert_eq!(
        reader(&url).journal_snapshot().unwrap(),
        Some(b"heads 2".to_vec())
    );
}

#[test]
fn gateways_share_a_database_a_command_that_must_be_alone_is_refused_and_migrations_run_once() {
    let url = fresh_database().unwrap();
    let latest = omadata_store_postgres::migrations::latest();
    let holder = open(&url);
    assert_eq!(holder.schema_version().unwrap(), latest);
    // A second gateway serves beside the first.
    let beside = open(&url);
    assert_eq!(beside.schema_version().unwrap(), latest);
    // `keys rotate` must be alone: refused while any gateway serves.
    let refused = alone(&url).unwrap_err();
    assert!(
        refused.to_string().contains("excludes this one"),
        "{refused}"
    );
    // Reading (audit verify) is not refused.
    assert_eq!(reader(&url).schema_version().unwrap(), latest);
    drop(holder);
    drop(beside);
    // The lease ends with the processes' connections.
    let mut reopened = None;
    for _ in 0..50 {
        match alone(&url) {
            Ok(store) => {
                reopened = Some(store);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    let reopened = reopened.expect("the lease was not released");
    assert_eq!(reopened.schema_version().unwrap(), latest);
    // ... and while it is alone, no gateway starts.
    assert!(
        PgStore::open(
            &url,
            &PgOptions {
                lease_wait: Some(std::time::Duration::ZERO),
                ..PgOptions::default()
            }
        )
        .is_err()
    );
    drop(reopened);

    // A database a newer OmaData upgraded is refused, not used.
    let said = omadata(&["migrate", "--store", &url]).unwrap();
    assert!(
        said.contains(&format!("schema at version {latest}")),
        "{said}"
    );
    assert!(
        !said.contains("postgres@"),
        "no credentials in output: {said}"
    );
    let bump = omadata_store_postgres::migrations::latest() + 1;
    run_sql(
        &url,
        &format!("INSERT INTO omadata_migrations (version, name) VALUES ({bump}, 'future')"),
    );
    let error = PgStore::open(&url, &PgOptions::default()).unwrap_err();
    assert!(
        error.to_string().contains("newer than this OmaData"),
        "{error}"
    );
}

/// Runs SQL on the test database (through the store's own client library).
fn run_sql(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
        drop(client);
        let _ = task.await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_store_moves_to_postgres_whole_and_serves_there() {
    let mut gateway = Gateway::demo_with(|options| options.store = StoreChoice::Embedded)
        .await
        .unwrap();
    let data = gateway.data_dir();
    let client = gateway.signed_in("client2", None).await.unwrap();
    let (status, body) = client
        .call(
            Method::PUT,
            "/api/v1/me/record/plan.follow_up",
            Some(json!({ "value": "ennen siirtoa" })),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let professional = gateway.signed_in("pro-employment", None).await.unwrap();
    let request = professional
        .ask_access(
            &client,
            json!({
                "fields": [{"path": "plan.follow_up"}],
                "actions": ["read"],
                "purpose": {"code": "guidance"},
                "valid_until": (gateway.now() + chrono::Duration::days(10)).to_rfc3339(),
            }),
        )
        .await
        .unwrap();
    let (status, grant) = client
        .call(
            Method::POST,
            &format!(
                "/api/v1/me/access-requests/{}/approve",
                request["id"].as_str().unwrap()
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{grant}");
    let (status, receipt) = client
        .raw(&format!(
            "/api/v1/me/grants/{}/receipt",
            grant["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    let client_id = me["id"].as_str().unwrap().to_owned();
    let (status, read) = professional
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{read}");
    gateway.stop().await.unwrap();

    let jwks_file = gateway.dir.path().join("jwks.json");
    let jwks = omadata(&[
        "keys",
        "jwks",
        "--signing-key",
        &p(&data.join("signing.key")),
    ])
    .unwrap();
    std::fs::write(&jwks_file, jwks).unwrap();
    let before = omadata(&[
        "audit",
        "verify",
        "--data",
        &p(&data),
        "--jwks",
        &p(&jwks_file),
    ])
    .unwrap();
    let entries = |said: &str| -> u64 {
        said.split("valid: ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };

    // Not a connection string, or a target that holds data: refused.
    assert!(omadata(&["migrate-store", "--from", &p(&data), "--to", "/tmp/x"]).is_err());
    let url = fresh_database().unwrap();
    let said = omadata(&["migrate-store", "--from", &p(&data), "--to", &url]).unwrap();
    assert!(said.contains("audit entries"), "{said}");
    let again = omadata(&["migrate-store", "--from", &p(&data), "--to", &url]).unwrap_err();
    assert!(again.to_string().contains("already holds data"), "{again}");

    // The log verifies on PostgreSQL with the same entries, root and checkpoints.
    let after = omadata(&["audit", "verify", "--store", &url, "--jwks", &p(&jwks_file)]).unwrap();
    assert_eq!(entries(&after), entries(&before), "{before} / {after}");
    let root = |said: &str| {
        said.split("root ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(root(&after), root(&before));
    // The receipt issued on sled still verifies.
    let receipt_file = gateway.dir.path().join("receipt.json");
    std::fs::write(&receipt_file, &receipt).unwrap();
    let verified = omadata(&[
        "receipt",
        "verify",
        &p(&receipt_file),
        "--jwks",
        &p(&jwks_file),
    ])
    .unwrap();
    assert!(verified.contains("receipt valid"), "{verified}");
    // The embedded store's backup does not pretend to copy PostgreSQL.
    let refused = omadata(&[
        "backup",
        "--store",
        &url,
        "--data",
        &p(&data),
        "--out",
        "/tmp/never",
    ])
    .unwrap_err();
    assert!(refused.to_string().contains("pg_basebackup"), "{refused}");

    // The gateway on PostgreSQL (same key files) serves the same data, seeds nothing.
    let mut options = ServerOptions::demo("127.0.0.1:0".parse().unwrap(), data.clone());
    options.store = StoreChoice::resolve(Some(url.clone()), None).unwrap();
    let server = omadata::server::start(options).await.unwrap();
    let base = server.public_url.as_str().trim_end_matches('/').to_owned();
    let client = Browser::signed_in_at(&base, "client2").await.unwrap();
    let (status, record) = client.get("/api/v1/me/record").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(record.to_string().contains("ennen siirtoa"), "{record}");
    let professional = Browser::signed_in_at(&base, "pro-employment")
        .await
        .unwrap();
    let (status, read) = professional
        .get(&format!("/api/v1/clients/{client_id}/record"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{read}");
    assert!(read.to_string().contains("ennen siirtoa"), "{read}");
    server.stop().await.unwrap();
    let last = omadata(&["audit", "verify", "--store", &url, "--jwks", &p(&jwks_file)]).unwrap();
    assert!(entries(&last) > entries(&before), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_serve_one_database_at_once_and_share_everything() {
    let url = fresh_database().unwrap();
    let mut first = Gateway::demo_with(|options| {
        options.store = StoreChoice::resolve(Some(url.clone()), None).unwrap();
    })
    .await
    .unwrap();
    // The second shares the key files, the database, the clock and the public URL (as
    // gateways behind one load balancer do); it serves at once.
    let mut options = first.restart_options().unwrap();
    options.clock = Some(first.clock.clone());
    options.public_url = first.server.as_ref().map(|s| s.public_url.clone());
    let second = omadata::server::start(options).await.unwrap();
    let second_base = format!("http://{}", second.addr);
    let first_base = first.base.clone();

    // A sign-in started at the first and finished at the second: the login under way is
    // in the browser's cookie, not in either gateway.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut next = format!("{first_base}/auth/login?login_hint=client1");
    let mut finished_at_second = false;
    for _ in 0..10 {
        if let Some(rest) = next.strip_prefix(&format!("{first_base}/auth/callback")) {
            next = format!("{second_base}/auth/callback{rest}");
            finished_at_second = true;
        }
        let response = http.get(&next).send().await.unwrap();
        match response.headers().get(reqwest::header::LOCATION) {
            Some(location) if response.status().is_redirection() => {
                let location = location.to_str().unwrap();
                next = if location.starts_with('/') {
                    let origin: String = next.split('/').take(3).collect::<Vec<_>>().join("/");
                    format!("{origin}{location}")
                } else {
                    location.to_owned()
                };
            }
            _ => {
                assert_eq!(response.status(), StatusCode::OK);
                break;
            }
        }
    }
    assert!(
        finished_at_second,
        "the callback went to the second gateway"
    );
    let me = http
        .get(format!("{second_base}/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "signed in through the second");

    // Signed in at the first, the client is signed in at the second (the same cookie).
    let mut client = first.signed_in("client2", None).await.unwrap();
    let (_, me) = client.get("/api/v1/me").await.unwrap();
    let client_id = me["id"].as_str().unwrap().to_owned();
    client.base = second_base.clone();
    let (status, _) = client
        .call(
            Method::PUT,
            "/api/v1/me/record/identity.phone",
            Some(json!({ "value": "+358 50 111 2222" })),
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "the session and its CSRF token are shared"
    );
    client.base = first_base.clone();

    // A professional at the second asks with a code the first issued; the client
    // approves at the first; the professional reads at the second.
    let pro = Browser::signed_in_at(&second_base, "pro-employment")
        .await
        .unwrap();
    let until = (first.now() + chrono::Duration::days(30)).to_rfc3339();
    let request = pro
        .ask_access(
            &client,
            json!({
                "fields": [{"path": "identity.phone"}],
                "actions": ["read"],
                "purpose": {"code": "guidance"},
                "valid_until": until,
            }),
        )
        .await
        .unwrap();
    let (status, grant) = client
        .call(
            Method::POST,
            &format!(
                "/api/v1/me/access-requests/{}/approve",
                request["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{grant}");
    let record_path = format!("/api/v1/clients/{client_id}/record");
    // Both gateways append to the one audit log at once.
    let mut pro_at_first = Browser::signed_in_at(&first_base, "pro-employment")
        .await
        .unwrap();
    for _ in 0..10 {
        let (a, b) = tokio::join!(pro.get(&record_path), pro_at_first.get(&record_path));
        let ((status_a, record), (status_b, _)) = (a.unwrap(), b.unwrap());
        assert_eq!(
            (status_a, status_b),
            (StatusCode::OK, StatusCode::OK),
            "{record}"
        );
        assert!(record.to_string().contains("+358 50 111 2222"), "{record}");
    }

    // Revoked through the first: the very next read through the second is refused.
    let (status, _) = client
        .call(
            Method::DELETE,
            &format!("/api/v1/me/grants/{}", grant["id"].as_str().unwrap()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, _) = pro.get(&record_path).await.unwrap();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a revocation holds at every gateway"
    );

    // Wrong pairing codes count across gateways: 3 at one and 2 at the other lock out.
    let ask = |code: &str| {
        json!({
            "pairing_code": code,
            "fields": [{"path": "identity.name"}],
            "actions": ["read"],
            "purpose": {"code": "guidance"},
            "valid_until": until,
        })
    };
    for guess in 0..5 {
        let guesser = if guess < 3 { &pro_at_first } else { &pro };
        let (status, _) = guesser
            .call(
                Method::POST,
                "/api/v1/access-requests",
                Some(ask(&format!("BBBBB-BBBB{guess}"))),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, problem) = pro_at_first
        .call(
            Method::POST,
            "/api/v1/access-requests",
            Some(ask("BBBBB-BBBB9")),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")),
        "{problem}"
    );

    // Signed out at the second: the same session is gone at the first too.
    pro_at_first.base = second_base.clone();
    let (status, _) = pro_at_first
        .call(Method::POST, "/auth/logout", None)
        .await
        .unwrap();
    assert!(status.is_success() || status.is_redirection(), "{status}");
    pro_at_first.base = first_base.clone();
    let (status, _) = pro_at_first.get("/api/v1/me").await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed out everywhere");

    // One log, with both gateways' entries in one order: it verifies.
    second.stop().await.unwrap();
    first.stop().await.unwrap();
    let jwks_file = first.dir.path().join("jwks.json");
    let jwks = omadata(&[
        "keys",
        "jwks",
        "--signing-key",
        &p(&first.data_dir().join("signing.key")),
    ])
    .unwrap();
    std::fs::write(&jwks_file, jwks).unwrap();
    let said = omadata(&["audit", "verify", "--store", &url, "--jwks", &p(&jwks_file)]).unwrap();
    assert!(said.contains("audit log valid"), "{said}");
    let reads = first
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "access" && e["outcome"] == "permit")
        .count();
    assert!(
        reads >= 20,
        "every read through either gateway is in the log: {reads}"
    );
}

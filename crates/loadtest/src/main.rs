//! `omadata-loadtest`: OmaData close to its limit.
//!
//! 1. Seeds a store with N clients (a 4 KiB record for the first R of them), P
//!    professionals and one grant per client, through the domain crates (bulk loading:
//!    flushed once at the end).
//! 2. Measures the use case behind an authorised read without HTTP, in process (the
//!    same `omadata_app` function the gateway's handler calls): one at a time, then as
//!    64 tasks sharing the group commit.
//! 3. Opens the store once so sled replays the log the bulk load wrote (timed), then
//!    starts the real `omadata` binary on it and times its first start and a restart.
//! 4. Drives a bare axum hello-world (the ceiling) and the gateway with `wrk` (64
//!    connections by default): mostly authorised reads of 4 KiB records, some writes,
//!    some denied requests. Prints throughput, latency percentiles, the ratio to the
//!    ceiling and the gateway's peak memory.
//!
//! The load only goes to 127.0.0.1, bounded in time. Run it with `scripts/loadtest.sh`.
#![allow(clippy::print_stdout, clippy::expect_used)] // a command-line report

use chrono::Duration;
use clap::Parser;
use omadata_app::{professional, sign_in};
use omadata_clock::{Clock, SystemClock};
use omadata_consent::{
    AccessAsk, Action, Consent, ConsentConfig, Directory, EnrolmentSecret, FieldSelector,
    NewOrganisation, NewStaff, Profession, Purpose, PurposeCode, Registrar, SensitivityPolicy,
    ServiceKey, StaffRole,
};
use omadata_store_sled::SledStore;
use omadata_vault::{Author, Catalogue, ClientId, Keyring, MasterKey, ProfessionalId, Vault};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Parser)]
struct Args {
    /// Clients enrolled in the store.
    #[arg(long, default_value_t = 100_000)]
    clients: usize,
    /// Clients that also hold a 4 KiB record (the ones the load reads).
    #[arg(long, default_value_t = 10_000)]
    with_records: usize,
    #[arg(long, default_value_t = 1_000)]
    professionals: usize,
    /// Seconds of load per target.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of unmeasured load on the gateway first: a start leaves sled's page cache
    /// cold, which the measured run should not include.
    #[arg(long, default_value_t = 5)]
    warm_up: u64,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// The omadata binary (default: next to this one).
    #[arg(long)]
    omadata: Option<PathBuf>,
    /// Data directory (default: a fresh one under the system temp directory).
    #[arg(long)]
    data: Option<PathBuf>,
}

type Fail = Box<dyn std::error::Error + Send + Sync>;

/// In-process threads for the concurrent run: as many as the load's connections.
const CONCURRENT: usize = 64;

struct Seeded {
    store: SledStore,
    signing: Arc<ServiceKey>,
    professionals: Vec<(ProfessionalId, omadata_consent::OrganisationId)>,
    clients: Vec<ClientId>,
}

fn seed(args: &Args, data: &Path) -> Result<Seeded, Fail> {
    std::fs::create_dir_all(data)?;
    MasterKey::generate()?.write_new_file(&data.join("master.key"))?;
    let signing = ServiceKey::generate()?;
    signing.write_new_file(&data.join("signing.key"))?;
    ServiceKey::generate()?.write_new_file(&data.join("enrolment.secret"))?;
    let store = SledStore::open(&data.join("db"))?;
    let bulk = Arc::new(store.for_bulk_load());
    let signing = Arc::new(signing);
    let catalogue = Arc::new(Catalogue::builtin()?);
    let vault = Arc::new(Vault::open(
        bulk.clone(),
        Keyring::new(MasterKey::from_file(&data.join("master.key"))?),
        catalogue.clone(),
    )?);
    let consent = Consent::open(
        bulk.clone(),
        catalogue,
        SensitivityPolicy::builtin()?,
        signing.clone(),
        vault.clone(),
        ConsentConfig::default(),
    )?;
    let directory = Directory::new(
        bulk.clone(),
        EnrolmentSecret::new(b"loadtest-enrolment-secret-32-bytes!!"),
    );
    let now = SystemClock.now();
    let organisation = directory.register_organisation(NewOrganisation {
        name: "Ohjaamo Kuormitus".into(),
        business_id: "0201256-6".into(),
        privacy_notice_url: "https://example.fi/tietosuoja".into(),
        dpo_contact: "dpo@example.fi".into(),
    })?;
    let mut professionals = Vec::new();
    let mut grantees = Vec::new();
    for i in 0..args.professionals {
        let staff = directory.register_staff(
            organisation.id,
            NewStaff {
                name: format!("Ammattilainen {i}"),
                title: "Ohjaaja".into(),
                profession: Profession::YouthWork,
                roles: [StaffRole::Professional].into_iter().collect(),
                login_subject: format!("load-pro-{i}"),
                login_issuer: None,
            },
            Registrar::Operator,
            now,
        )?;
        grantees.push(directory.grantee(&staff)?);
        professionals.push((staff.id, organisation.id));
    }
    let record = "x".repeat(4000);
    let mut clients = Vec::with_capacity(args.clients);
    let started = Instant::now();
    for i in 0..args.clients {
        let client = vault.enrol_client()?;
        vault.write(
            client,
            "identity.name",
            json!(format!("Asiakas {i}")),
            Author::Client(client),
            now,
        )?;
        let mut fields = vec![FieldSelector::Path("identity.name".into())];
        let mut actions = vec![Action::Read];
        if i < args.with_records {
            vault.write(
                client,
                "plan.follow_up",
                json!(record),
                Author::Client(client),
                now,
            )?;
            fields.push(FieldSelector::Path("plan.follow_up".into()));
            actions.push(Action::Write);
        }
        consent.grant(
            client,
            &grantees[i % grantees.len()],
            AccessAsk {
                fields,
                actions: actions.into_iter().collect(),
                purpose: Purpose {
                    code: PurposeCode::Guidance,
                    text: None,
                },
                valid_until: now + Duration::days(300),
            },
            now,
        )?;
        clients.push(client);
        if (i + 1) % 100_000 == 0 {
            println!(
                "  seeded {} clients in {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.flush()?;
    Ok(Seeded {
        store,
        signing,
        professionals,
        clients,
    })
}

/// The use case behind an authorised read, as the gateway's handler calls it, without
/// HTTP (no token check): the staff look-up, the decision on what the pair's grants name,
/// the audit entries (group-committed), decrypt, JSON.
async fn in_process(seeded: &Seeded, args: &Args, data: &Path) -> Result<(f64, f64), Fail> {
    let store = Arc::new(seeded.store.clone());
    let catalogue = Arc::new(Catalogue::builtin()?);
    let vault = Arc::new(Vault::open(
        store.clone(),
        Keyring::new(MasterKey::from_file(&data.join("master.key"))?),
        catalogue.clone(),
    )?);
    let consent = Consent::open(
        store.clone(),
        catalogue,
        SensitivityPolicy::builtin()?,
        seeded.signing.clone(),
        vault.clone(),
        ConsentConfig::default(),
    )?;
    let directory = Directory::new(store, EnrolmentSecret::new(b"x"));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let services = omadata_app::Services::start(vault, consent, directory, clock, None)?;
    let readers = args.with_records.min(seeded.clients.len()).max(1);
    let clients: Arc<Vec<String>> = Arc::new(
        seeded.clients[..readers]
            .iter()
            .map(ClientId::to_string)
            .collect(),
    );
    let professionals = Arc::new(seeded.professionals.clone());
    let read = move |services: Arc<omadata_app::Services>, i: usize| {
        let (clients, professionals) = (clients.clone(), professionals.clone());
        async move {
            let c = i % clients.len();
            let (pro, _) = professionals[c % professionals.len()];
            let staff = sign_in::current_staff(&services, pro)
                .map_err(|e| e.to_string())?
                .ok_or("staff")?;
            let (_, fields) = professional::read_client_record(&services, &staff, &clients[c], now)
                .await
                .map_err(|e| e.to_string())?;
            let values: Vec<&serde_json::value::RawValue> =
                fields.iter().map(|f| &*f.record.record.value).collect();
            std::hint::black_box(serde_json::to_vec(&values).map_err(|e| e.to_string())?);
            Ok::<(), String>(())
        }
    };
    let seconds = std::time::Duration::from_secs(3);

    // One at a time: each read waits for its own flush.
    let deadline = Instant::now() + seconds;
    let mut alone = 0u64;
    while Instant::now() < deadline {
        read(services.clone(), alone as usize).await?;
        alone += 1;
    }

    // Many at once on this program's runtime (one thread per core, like the gateway's),
    // sharing flushes through the group commit, as the gateway's handlers do.
    let deadline = Instant::now() + seconds;
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|t| {
            let (read, services) = (read.clone(), services.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                let mut i = t;
                while Instant::now() < deadline {
                    read(services.clone(), i).await?;
                    done += 1;
                    i += CONCURRENT;
                }
                Ok::<u64, String>(done)
            })
        })
        .collect();
    let mut together = 0u64;
    for task in tasks {
        together += task.await.map_err(|e| e.to_string())??;
    }
    // As a gateway does when it stops: the next start replays no audit entries.
    services
        .on_disk(|services| services.save_audit_heads())
        .await
        .map_err(|e| e.to_string())?;
    drop(services);
    Ok((
        alone as f64 / seconds.as_secs_f64(),
        together as f64 / seconds.as_secs_f64(),
    ))
}

struct WrkResult {
    requests: u64,
    seconds: f64,
    non_2xx: u64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
}

impl WrkResult {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

const WRK_SCRIPT: &str = r#"
local reqs = {}
local n = 0
function init(args)
  for line in io.lines(args[1]) do
    local method, path, token, body = line:match("^(%S+) (%S+) (%S+) ?(.*)$")
    local headers = { ["Authorization"] = "Bearer " .. token }
    if body ~= nil and body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
    reqs[#reqs + 1] = wrk.format(method, path, headers, body)
  end
end
function request()
  n = n % #reqs + 1
  return reqs[n]
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    summary.errors.status, latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#;

async fn wrk(
    url: &str,
    script: Option<(&Path, &Path)>,
    args: &Args,
    seconds: u64,
) -> Result<WrkResult, Fail> {
    let mut command = tokio::process::Command::new("wrk");
    command
        .arg("-t1")
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("5s");
    if let Some((lua, requests)) = script {
        command.arg("-s").arg(lua).arg(url).arg("--").arg(requests);
    } else {
        command.arg("-s").arg(script_path_plain()?).arg(url);
    }
    let output = command.output().await?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| format!("wrk printed no result: {text}"))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    Ok(WrkResult {
        requests: v[0] as u64,
        seconds: v[1] / 1e6,
        non_2xx: v[2] as u64,
        p50_ms: v[3] / 1000.0,
        p99_ms: v[4] / 1000.0,
        p999_ms: v[5] / 1000.0,
    })
}

/// A script that only reports (for the hello-world ceiling).
fn script_path_plain() -> Result<PathBuf, Fail> {
    let path = std::env::temp_dir().join("omadata-wrk-plain.lua");
    std::fs::write(
        &path,
        r#"
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    summary.errors.status, latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#,
    )?;
    Ok(path)
}

fn peak_memory_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// jemalloc instead of the system allocator: the gateway allocates per request on
/// two busy threads, where glibc's malloc measured a third slower (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<(), Fail> {
    let args = Args::parse();
    let data = args.data.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("omadata-load-{}", std::process::id()))
    });
    if data.join("db").exists() {
        return Err(format!(
            "{} already holds a store; give a fresh --data",
            data.display()
        )
        .into());
    }
    println!(
        "seeding {} clients ({} with a 4 KiB record), {} professionals, one grant each",
        args.clients, args.with_records, args.professionals
    );
    let started = Instant::now();
    let seeded = tokio::task::block_in_place(|| seed(&args, &data))?;
    let seeding = started.elapsed().as_secs_f64();

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    println!(
        "in-process work without HTTP (3 s each: one at a time, then {CONCURRENT} tasks sharing the group commit)"
    );
    let (in_process_1, in_process_2) = in_process(&seeded, &args, &data).await?;
    let Seeded {
        store,
        signing: _,
        professionals,
        clients,
    } = seeded;
    drop(store);
    // sled advances its snapshot only when a store is opened, by replaying the log written
    // since: after a bulk load that is the whole load. Opening it once here, as a bulk load
    // should end, keeps that replay out of the gateway's first start (and is timed).
    let replaying = Instant::now();
    drop(tokio::task::block_in_place(|| {
        SledStore::open(&data.join("db"))
    })?);
    let replay = replaying.elapsed().as_secs_f64();

    // The real binary on the seeded store.
    let omadata = match &args.omadata {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("omadata"),
    };
    // The first start after seeding and a restart after a clean stop (what an operator
    // sees day to day) are both timed.
    let (first, first_startup) = launch(&omadata, port, &data).await?;
    stop_gracefully(first).await?;
    let (mut gateway, startup) = launch(&omadata, port, &data).await?;
    let pid = gateway.id().ok_or("no pid")?;

    // Requests: 90 % authorised reads of 4 KiB records, 5 % writes, 5 % denied.
    let signing_in = Instant::now();
    let tokens = sign_in_professionals(&base, professionals.len()).await?;
    println!(
        "signed {} professionals in through the test provider in {:.1} s",
        tokens.len(),
        signing_in.elapsed().as_secs_f64()
    );
    let readers = args.with_records.min(clients.len()).max(1);
    let mut requests = String::new();
    for i in 0..20_000usize {
        let c = (i * 7919) % readers;
        let owner = c % professionals.len();
        match i % 20 {
            0 => requests.push_str(&format!("PUT /api/v1/clients/{}/record/plan.follow_up {} {{\"value\":\"seurantamerkintä {i}\"}}\n", clients[c], tokens[owner])),
            1 => requests.push_str(&format!("GET /api/v1/clients/{}/record {}\n", clients[c], tokens[(owner + 1) % professionals.len()])),
            _ => requests.push_str(&format!("GET /api/v1/clients/{}/record {}\n", clients[c], tokens[owner])),
        }
    }
    let requests_path = std::env::temp_dir().join("omadata-wrk-requests.txt");
    let lua_path = std::env::temp_dir().join("omadata-wrk.lua");
    std::fs::write(&requests_path, requests)?;
    std::fs::write(&lua_path, WRK_SCRIPT)?;

    // The ceiling: a bare axum hello-world, same generator, same run.
    let hello_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hello_addr = hello_listener.local_addr()?;
    let hello = tokio::spawn(async move {
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
        axum::serve(hello_listener, app).await
    });
    println!(
        "driving the hello-world ceiling and the gateway with wrk ({} connections, {} s each; the gateway after {} s of warm-up)",
        args.connections, args.seconds, args.warm_up
    );
    let ceiling = wrk(&format!("http://{hello_addr}/"), None, &args, args.seconds).await?;
    hello.abort();
    if args.warm_up > 0 {
        wrk(
            &base,
            Some((&lua_path, &requests_path)),
            &args,
            args.warm_up,
        )
        .await?;
    }
    let load = wrk(
        &base,
        Some((&lua_path, &requests_path)),
        &args,
        args.seconds,
    )
    .await?;
    let memory = peak_memory_mb(pid).unwrap_or(0.0);
    let _ = gateway.kill().await;
    let db_bytes = dir_size(&data.join("db"));

    let expected_denied = load.requests / 20;
    println!();
    println!("| measure | figure |");
    println!("| --- | --- |");
    println!(
        "| clients / professionals / grants seeded | {} / {} / {} |",
        clients.len(),
        professionals.len(),
        clients.len()
    );
    println!("| seeding time | {seeding:.0} s |");
    println!("| replaying sled's log once after the bulk load | {replay:.1} s |");
    println!("| store on disk | {:.0} MB |", db_bytes as f64 / 1e6);
    println!("| gateway first start after seeding (spawn to listening) | {first_startup:.2} s |");
    println!("| gateway restart (spawn to listening) | {startup:.2} s |");
    println!("| in-process authorised read, one at a time | {in_process_1:.0} /s |");
    println!(
        "| in-process authorised read, {CONCURRENT} tasks (group commit shared) | {in_process_2:.0} /s |"
    );
    println!(
        "| hello-world ceiling (bare axum) | {:.0} req/s, p99 {:.2} ms |",
        ceiling.rps(),
        ceiling.p99_ms
    );
    println!(
        "| gateway mix (90 % reads of 4 KiB, 5 % writes, 5 % denied) | {:.0} req/s |",
        load.rps()
    );
    println!(
        "| ratio to ceiling | {:.1} % |",
        100.0 * load.rps() / ceiling.rps()
    );
    println!(
        "| gateway latency p50 / p99 / p99.9 | {:.2} / {:.2} / {:.2} ms |",
        load.p50_ms, load.p99_ms, load.p999_ms
    );
    println!(
        "| non-2xx responses (5 % denied expected: {expected_denied}) | {} |",
        load.non_2xx
    );
    println!("| gateway peak memory (VmHWM) | {memory:.0} MB |");
    std::io::stdout().flush()?;
    if args.data.is_none() {
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(())
}

/// Starts `omadata demo` on the store; returns the process and seconds to listening.
async fn launch(
    omadata: &Path,
    port: u16,
    data: &Path,
) -> Result<(tokio::process::Child, f64), Fail> {
    let started = Instant::now();
    let mut gateway = tokio::process::Command::new(omadata)
        .arg("demo")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(gateway.stdout.take().ok_or("no stdout")?).lines();
    while let Some(line) = lines.next_line().await? {
        if line.contains("listening on") {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // Keep reading so the gateway never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((gateway, seconds))
}

/// Signs every seeded professional in through the gateway's test provider, as a person
/// would, and mints a bearer token from each session (a token must name a live session).
/// Sign-in starts are limited per network address, so they come from several loopback
/// addresses, 40 from each.
async fn sign_in_professionals(base: &str, count: usize) -> Result<Vec<String>, Fail> {
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        let group = i / 40;
        let source = std::net::IpAddr::V4(std::net::Ipv4Addr::new(
            127,
            1,
            u8::try_from(group / 250).map_err(|_| "too many professionals")?,
            u8::try_from(group % 250 + 1)?,
        ));
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .local_address(source)
            .build()?;
        let login = http
            .get(format!(
                "{base}/auth/login?login_hint=load-pro-{i}&role=professional"
            ))
            .send()
            .await?;
        if !login.status().is_success() {
            return Err(format!("load-pro-{i} could not sign in: {}", login.status()).into());
        }
        let me: serde_json::Value = http
            .get(format!("{base}/api/v1/me"))
            .send()
            .await?
            .json()
            .await?;
        let csrf = me["csrf_token"].as_str().ok_or("no csrf_token")?;
        let token: serde_json::Value = http
            .post(format!("{base}/api/v1/tokens"))
            .header("x-csrf-token", csrf)
            .send()
            .await?
            .json()
            .await?;
        tokens.push(
            token["access_token"]
                .as_str()
                .ok_or("no access_token")?
                .to_owned(),
        );
    }
    Ok(tokens)
}

/// SIGTERM, then wait for the graceful shutdown to finish.
async fn stop_gracefully(mut gateway: tokio::process::Child) -> Result<(), Fail> {
    let pid = gateway.id().ok_or("no pid")?;
    tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await?;
    gateway.wait().await?;
    Ok(())
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

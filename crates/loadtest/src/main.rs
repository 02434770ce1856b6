//! `omadata-loadtest`: OmaData close to its limit.
//!
//! 1. Seeds a store with N clients (a 4 KiB record for the first R of them), P
//!    professionals and one grant per client, through the domain crates (bulk loading
//!    into sled: flushed once at the end).
//! 2. Measures the use case behind an authorised read without HTTP, in process (the
//!    same `omadata_app` function the gateway's handler calls), on the sled store: one at
//!    a time, then as 64 tasks sharing the group commit.
//! 3. Opens the store once so sled replays the log the bulk load wrote (timed), then
//!    starts the real `omadata` binary on it and times its first start and a restart.
//! 4. Drives a bare axum hello-world (the ceiling) and the gateway with `wrk` (64
//!    connections by default): mostly authorised reads of 4 KiB records, some writes,
//!    some denied requests. Prints throughput, latency percentiles, the ratio to the
//!    ceiling, the gateway's CPU per request and its peak memory. With `--rate N`, the
//!    same mix also runs open loop at N requests a second (paced per connection, latency
//!    counted from when each request was due), for its p50/p99/p99.9.
//! 5. With `--store postgres://…` (an empty database), copies the seeded store into it
//!    with `omadata migrate-store` (timed), starts the gateway on it and measures it the
//!    same way, with PostgreSQL's server CPU per request beside the gateway's: both
//!    stores side by side from one seeding.
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
    /// Also measure the gateway on PostgreSQL: an empty database (postgres://…), into
    /// which the seeded sled store is copied with `omadata migrate-store` after the sled
    /// gateway has been measured.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Also run the mix open loop at this many requests a second for `--seconds` (paced
    /// over `--connections`, latency counted from when each request was due).
    #[arg(long, value_name = "N")]
    rate: Option<u32>,
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
    if let Some(url) = &args.store
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        return Err(
            "--store takes a postgres://… connection string (sled is always measured)".into(),
        );
    }
    if let Some(url) = &args.store {
        // Before the long part: the database must be reachable, on this machine and empty.
        postgres_preflight(url).await?;
    }
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
        "seeding {} clients ({} with a 4 KiB record), {} professionals, one grant each, into sled",
        args.clients, args.with_records, args.professionals
    );
    let started = Instant::now();
    let seeded = tokio::task::block_in_place(|| seed(&args, &data))?;
    let seeding = started.elapsed().as_secs_f64();

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    println!(
        "in-process work without HTTP on the sled store (3 s each: one at a time, then {CONCURRENT} tasks sharing the group commit)"
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
    let lua_path = std::env::temp_dir().join("omadata-wrk.lua");
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

    let target = Target {
        omadata: &omadata,
        port,
        data: &data,
        professionals: &professionals,
        clients: &clients,
        lua: &lua_path,
    };
    let mut runs = vec![measure_gateway(&target, None, &args, 0).await?];
    if let Some(url) = &args.store {
        runs.push(measure_gateway(&target, Some(url), &args, 1).await?);
    }

    println!();
    println!("| measure | figure |");
    println!("| --- | --- |");
    println!(
        "| clients / professionals / grants seeded | {} / {} / {} |",
        clients.len(),
        professionals.len(),
        clients.len()
    );
    println!("| seeding time (bulk load into sled) | {seeding:.0} s |");
    println!("| replaying sled's log once after the bulk load | {replay:.1} s |");
    println!("| in-process authorised read on sled, one at a time | {in_process_1:.0} /s |");
    println!(
        "| in-process authorised read on sled, {CONCURRENT} tasks (group commit shared) | {in_process_2:.0} /s |"
    );
    println!(
        "| hello-world ceiling (bare axum) | {:.0} req/s, p99 {:.2} ms |",
        ceiling.rps(),
        ceiling.p99_ms
    );
    println!();
    print_runs(&runs, &ceiling, args.rate);
    std::io::stdout().flush()?;
    if args.data.is_none() {
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(())
}

/// What every gateway run shares.
struct Target<'a> {
    omadata: &'a Path,
    port: u16,
    data: &'a Path,
    professionals: &'a [(ProfessionalId, omadata_consent::OrganisationId)],
    clients: &'a [ClientId],
    lua: &'a Path,
}

/// One gateway measured on one store.
struct GatewayRun {
    store: &'static str,
    /// Seconds `omadata migrate-store` took to copy the seeded store (PostgreSQL only).
    copy: Option<f64>,
    store_bytes: u64,
    first_startup: f64,
    startup: f64,
    load: WrkResult,
    cpu: CpuPerRequest,
    open: Option<(OpenLoop, CpuPerRequest)>,
    memory_mb: f64,
}

/// Seeds nothing: copies (for PostgreSQL), starts, restarts, signs in, warms up, then
/// measures the mix closed loop (wrk) and, with `--rate`, open loop; stops the gateway.
/// `index` keeps each gateway's sign-ins on their own loopback addresses.
async fn measure_gateway(
    target: &Target<'_>,
    store: Option<&str>,
    args: &Args,
    index: u8,
) -> Result<GatewayRun, Fail> {
    let base = format!("http://127.0.0.1:{}", target.port);
    let name = if store.is_some() {
        "PostgreSQL"
    } else {
        "sled"
    };
    let copy = match store {
        Some(url) => {
            println!("copying the seeded store into PostgreSQL with omadata migrate-store");
            let copying = Instant::now();
            let output = tokio::process::Command::new(target.omadata)
                .arg("migrate-store")
                .arg("--from")
                .arg(target.data)
                .arg("--to")
                .arg(url)
                .env("RUST_LOG", "warn")
                .output()
                .await?;
            let seconds = copying.elapsed().as_secs_f64();
            if !output.status.success() {
                return Err(format!(
                    "omadata migrate-store failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )
                .into());
            }
            println!(
                "  {} ({seconds:.1} s)",
                String::from_utf8_lossy(&output.stdout).trim()
            );
            Some(seconds)
        }
        None => None,
    };
    // The first start (after seeding, or after the copy) and a restart after a clean stop
    // (what an operator sees day to day) are both timed.
    let (first, first_startup) = launch(target.omadata, target.port, target.data, store).await?;
    stop_gracefully(first).await?;
    let (gateway, startup) = launch(target.omadata, target.port, target.data, store).await?;
    let pid = gateway.id().ok_or("no pid")?;
    let postmaster = match store {
        Some(url) => Some(postgres_facts(url).await?.0),
        None => None,
    };
    let cpu = CpuCounters {
        gateway: pid,
        postmaster,
    };

    // Requests: 90 % authorised reads of 4 KiB records, 5 % writes, 5 % denied.
    let signing_in = Instant::now();
    let tokens = sign_in_professionals(&base, target.professionals.len(), index).await?;
    println!(
        "{name}: signed {} professionals in through the test provider in {:.1} s",
        tokens.len(),
        signing_in.elapsed().as_secs_f64()
    );
    let (professionals, clients) = (target.professionals, target.clients);
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
    std::fs::write(&requests_path, &requests)?;

    println!(
        "{name}: driving the gateway with wrk ({} s of warm-up, {} s measured)",
        args.warm_up, args.seconds
    );
    if args.warm_up > 0 {
        wrk(
            &base,
            Some((target.lua, &requests_path)),
            args,
            args.warm_up,
        )
        .await?;
    }
    let before = cpu.sample();
    let load = wrk(
        &base,
        Some((target.lua, &requests_path)),
        args,
        args.seconds,
    )
    .await?;
    let closed_cpu = cpu.since(&before, load.requests);
    let open = match args.rate {
        Some(rate) => {
            println!(
                "{name}: the same mix open loop at {rate} req/s for {} s",
                args.seconds
            );
            let before = cpu.sample();
            let open = open_loop(&base, &requests, rate, args.connections, args.seconds).await?;
            let open_cpu = cpu.since(&before, open.completed);
            Some((open, open_cpu))
        }
        None => None,
    };
    let memory_mb = peak_memory_mb(pid).unwrap_or(0.0);
    stop_gracefully(gateway).await?;
    let store_bytes = match store {
        Some(url) => postgres_facts(url).await?.1,
        None => dir_size(&target.data.join("db")),
    };
    Ok(GatewayRun {
        store: name,
        copy,
        store_bytes,
        first_startup,
        startup,
        load,
        cpu: closed_cpu,
        open,
        memory_mb,
    })
}

/// One table, a column per store measured.
fn print_runs(runs: &[GatewayRun], ceiling: &WrkResult, rate: Option<u32>) {
    let row = |measure: &str, figure: &dyn Fn(&GatewayRun) -> String| {
        let figures: Vec<String> = runs.iter().map(figure).collect();
        println!("| {measure} | {} |", figures.join(" | "));
    };
    let names: Vec<&str> = runs.iter().map(|r| r.store).collect();
    println!("| gateway on | {} |", names.join(" | "));
    println!("| --- |{}", " --- |".repeat(runs.len()));
    let us = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.0} µs"));
    if runs.iter().any(|r| r.copy.is_some()) {
        row("copy of the seeded store (omadata migrate-store)", &|r| {
            r.copy.map_or("–".into(), |s| format!("{s:.1} s"))
        });
    }
    row(
        "store size (sled: db on disk; PostgreSQL: pg_database_size)",
        &|r| format!("{:.0} MB", r.store_bytes as f64 / 1e6),
    );
    row(
        "first start after seeding or copy (spawn to listening)",
        &|r| format!("{:.2} s", r.first_startup),
    );
    row("restart (spawn to listening)", &|r| {
        format!("{:.2} s", r.startup)
    });
    row(
        "mix, closed loop (90 % reads of 4 KiB, 5 % writes, 5 % denied)",
        &|r| format!("{:.0} req/s", r.load.rps()),
    );
    row("ratio to the hello-world ceiling", &|r| {
        format!("{:.1} %", 100.0 * r.load.rps() / ceiling.rps())
    });
    row("latency p50 / p99 / p99.9, closed loop", &|r| {
        format!(
            "{:.2} / {:.2} / {:.2} ms",
            r.load.p50_ms, r.load.p99_ms, r.load.p999_ms
        )
    });
    row("non-2xx responses (5 % denied expected)", &|r| {
        format!("{} (expected {})", r.load.non_2xx, r.load.requests / 20)
    });
    row("gateway CPU per request (user + system)", &|r| {
        us(r.cpu.gateway_us)
    });
    if runs.iter().any(|r| r.cpu.postgres_us.is_some()) {
        row(
            "PostgreSQL server CPU per request (all its processes)",
            &|r| us(r.cpu.postgres_us),
        );
    }
    if let Some(rate) = rate {
        row(
            &format!("open loop at {rate} req/s offered: served"),
            &|r| {
                r.open.as_ref().map_or("–".into(), |(o, _)| {
                    format!(
                        "{:.0} req/s ({} non-2xx, {} failed)",
                        o.served_rps(),
                        o.non_2xx,
                        o.failed
                    )
                })
            },
        );
        row("open loop latency p50 / p99 / p99.9", &|r| {
            r.open.as_ref().map_or("–".into(), |(o, _)| {
                format!("{:.2} / {:.2} / {:.2} ms", o.p50_ms, o.p99_ms, o.p999_ms)
            })
        });
        row("open loop gateway CPU per request", &|r| {
            us(r.open.as_ref().and_then(|(_, c)| c.gateway_us))
        });
        if runs.iter().any(|r| r.cpu.postgres_us.is_some()) {
            row("open loop PostgreSQL server CPU per request", &|r| {
                us(r.open.as_ref().and_then(|(_, c)| c.postgres_us))
            });
        }
    }
    row("gateway peak memory (VmHWM)", &|r| {
        format!("{:.0} MB", r.memory_mb)
    });
}

/// The processes whose CPU time is counted: the gateway, and PostgreSQL's postmaster
/// with its children (the backends serving the gateway, the WAL writer, checkpointer…).
struct CpuCounters {
    gateway: u32,
    postmaster: Option<u32>,
}

/// CPU time in clock ticks.
struct CpuSample {
    gateway: Option<u64>,
    postgres: Option<u64>,
}

/// CPU time per request served (µs), over a measured window.
struct CpuPerRequest {
    gateway_us: Option<f64>,
    postgres_us: Option<f64>,
}

impl CpuCounters {
    fn sample(&self) -> CpuSample {
        CpuSample {
            gateway: proc_stat(self.gateway).map(|s| s.utime + s.stime),
            postgres: self.postmaster.and_then(postgres_ticks),
        }
    }

    fn since(&self, before: &CpuSample, requests: u64) -> CpuPerRequest {
        let after = self.sample();
        let tick_us = 1e6 / clock_ticks_per_second();
        let per_request = |b: Option<u64>, a: Option<u64>| match (b, a) {
            (Some(b), Some(a)) if requests > 0 => {
                Some(a.saturating_sub(b) as f64 * tick_us / requests as f64)
            }
            _ => None,
        };
        CpuPerRequest {
            gateway_us: per_request(before.gateway, after.gateway),
            postgres_us: per_request(before.postgres, after.postgres),
        }
    }
}

/// The CPU fields of `/proc/<pid>/stat` (proc(5)).
struct ProcStat {
    ppid: u32,
    utime: u64,
    stime: u64,
    /// Of children that ended and were waited for.
    cutime: u64,
    cstime: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; fields 3… follow.
    let fields: Vec<&str> = text
        .get(text.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcStat {
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

/// A PostgreSQL cluster's CPU time: the postmaster's own, its children's that ended
/// (backends of closed connections), and each living child's.
fn postgres_ticks(postmaster: u32) -> Option<u64> {
    let main = proc_stat(postmaster)?;
    let mut total = main.utime + main.stime + main.cutime + main.cstime;
    for entry in std::fs::read_dir("/proc").ok()?.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(child) = proc_stat(pid).filter(|s| s.ppid == postmaster) {
            total += child.utime + child.stime;
        }
    }
    Some(total)
}

/// `getconf CLK_TCK` (100 on Linux unless it says otherwise).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The PostgreSQL server's postmaster (the parent of this connection's backend) and the
/// database's size in bytes.
async fn postgres_facts(url: &str) -> Result<(u32, u64), Fail> {
    let (client, connection) = connect_postgres(url).await?;
    let connection = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT pg_backend_pid(), pg_database_size(current_database())",
            &[],
        )
        .await?;
    let backend: i32 = row.get(0);
    let size: i64 = row.get(1);
    drop(client);
    let _ = connection.await;
    let backend = u32::try_from(backend)?;
    let postmaster = proc_stat(backend)
        .map(|s| s.ppid)
        .ok_or("PostgreSQL's server processes are not on this machine (/proc): --store must name a local cluster")?;
    Ok((postmaster, u64::try_from(size)?))
}

async fn connect_postgres(
    url: &str,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    Fail,
> {
    tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| {
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}"));
            format!(
                "cannot reach the database given with --store: {e}{}",
                cause.unwrap_or_default()
            )
            .into()
        })
}

/// Refuses a database that is out of reach, on another machine (its server's CPU could
/// not be counted) or already holds a store (`migrate-store` would refuse it after the
/// sled half of the run).
async fn postgres_preflight(url: &str) -> Result<(), Fail> {
    postgres_facts(url).await?;
    let (client, connection) = connect_postgres(url).await?;
    let connection = tokio::spawn(connection);
    let has_store: bool = client
        .query_one("SELECT to_regclass('vault_meta') IS NOT NULL", &[])
        .await?
        .get(0);
    let holds_data = has_store
        && client
            .query_one("SELECT EXISTS (SELECT 1 FROM vault_meta)", &[])
            .await?
            .get::<_, bool>(0);
    drop(client);
    let _ = connection.await;
    if holds_data {
        return Err(
            "the database given with --store already holds a store: give an empty one (scripts/postgres.sh createdb DIR NAME)"
                .into(),
        );
    }
    Ok(())
}

/// The mix at a fixed offered rate, as wrk2 paces it: each of `connections` connections
/// sends every `connections / rate` seconds, staggered; a request is due at its slot
/// whatever happened before, so a slow response delays the requests behind it and their
/// latency counts from when they were due (no coordinated omission). When a connection is
/// on time, latency counts from the send (the timer's own lateness is not the server's).
async fn open_loop(
    base: &str,
    requests: &str,
    rate: u32,
    connections: usize,
    seconds: u64,
) -> Result<OpenLoop, Fail> {
    let requests: Arc<Vec<MixRequest>> = Arc::new(
        requests
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(4, ' ');
                let method = reqwest::Method::from_bytes(parts.next()?.as_bytes()).ok()?;
                let url = format!("{base}{}", parts.next()?);
                let token = parts.next()?.to_owned();
                let body = parts.next().map(str::to_owned);
                Some(MixRequest {
                    method,
                    url,
                    token,
                    body,
                })
            })
            .collect(),
    );
    if requests.is_empty() || rate == 0 || connections == 0 {
        return Err("the open loop needs requests, a rate and connections".into());
    }
    let interval = std::time::Duration::from_secs_f64(connections as f64 / f64::from(rate));
    let started = Instant::now();
    let end = started + std::time::Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let requests = requests.clone();
            tokio::spawn(async move {
                // One client, one keep-alive connection, used one request at a time.
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .timeout(std::time::Duration::from_secs(5))
                    .build()
                    .map_err(|e| e.to_string())?;
                let first =
                    started + std::time::Duration::from_secs_f64(c as f64 / f64::from(rate));
                let mut tally = Tally::default();
                for k in 0u32.. {
                    let due = first + interval * k;
                    if due >= end {
                        break;
                    }
                    let late = Instant::now() >= due;
                    if !late {
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let origin = if late { due } else { Instant::now() };
                    let request = &requests[(k as usize * connections + c) % requests.len()];
                    let mut builder = http
                        .request(request.method.clone(), &request.url)
                        .bearer_auth(&request.token);
                    if let Some(body) = &request.body {
                        builder = builder
                            .header("content-type", "application/json")
                            .body(body.clone());
                    }
                    match builder.send().await {
                        Ok(response) => {
                            let ok = response.status().is_success();
                            if response.bytes().await.is_ok() {
                                tally.latencies_us.push(origin.elapsed().as_micros() as u64);
                                if !ok {
                                    tally.non_2xx += 1;
                                }
                            } else {
                                tally.failed += 1;
                            }
                        }
                        Err(_) => tally.failed += 1,
                    }
                }
                Ok::<Tally, String>(tally)
            })
        })
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let tally = task.await.map_err(|e| e.to_string())??;
        all.latencies_us.extend(tally.latencies_us);
        all.non_2xx += tally.non_2xx;
        all.failed += tally.failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let percentile = |p: f64| {
        let n = all.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
        all.latencies_us[rank - 1] as f64 / 1000.0
    };
    Ok(OpenLoop {
        completed: all.latencies_us.len() as u64,
        seconds: elapsed,
        non_2xx: all.non_2xx,
        failed: all.failed,
        p50_ms: percentile(50.0),
        p99_ms: percentile(99.0),
        p999_ms: percentile(99.9),
    })
}

struct MixRequest {
    method: reqwest::Method,
    url: String,
    token: String,
    body: Option<String>,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    non_2xx: u64,
    failed: u64,
}

struct OpenLoop {
    /// Responses received (2xx or not); failures (time-outs, resets) not counted.
    completed: u64,
    /// From the first due time to the last response.
    seconds: f64,
    non_2xx: u64,
    failed: u64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
}

impl OpenLoop {
    fn served_rps(&self) -> f64 {
        self.completed as f64 / self.seconds
    }
}

/// Starts `omadata demo` on the store (sled in `data`, or the PostgreSQL database given);
/// returns the process and seconds to listening.
async fn launch(
    omadata: &Path,
    port: u16,
    data: &Path,
    store: Option<&str>,
) -> Result<(tokio::process::Child, f64), Fail> {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(omadata);
    if let Some(url) = store {
        command.arg("--store").arg(url);
    }
    let mut gateway = command
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
/// addresses, 40 from each; each gateway measured (`index`) has its own range of them.
async fn sign_in_professionals(base: &str, count: usize, index: u8) -> Result<Vec<String>, Fail> {
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        let group = i / 40;
        let source = std::net::IpAddr::V4(std::net::Ipv4Addr::new(
            127,
            1 + index,
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

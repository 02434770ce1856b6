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
//! 6. With `--gateways N` (N > 1, beside `--store`), measures PostgreSQL again with N
//!    gateways serving the same database at once, in a column of their own: started one
//!    after another on consecutive ports, the later ones answering at the first's public
//!    URL (so the tokens signed in at the first work at each); a `wrk` per gateway at once
//!    with the connections shared out, their latency histograms merged; with `--rate`, an
//!    open loop per gateway at rate / N, their latency samples merged. CPU per request is
//!    all the gateways' CPU over all their requests, and each gateway's over its own
//!    (which should not grow with N); peak memory that of the largest.
//!
//! The load only goes to 127.0.0.1, bounded in time. Run it with `scripts/loadtest.sh`.
//!
//! Here: the arguments, seeding, the in-process run and the order of it all.
//! `gateway_run`: a run of one or several gateways on one store (start, sign-in, load,
//! CPU, memory, stop) and the table; `load`: `wrk` and the open loop, one per gateway,
//! results merged; `processes`: CPU time and peak memory from `/proc`; `postgres`: the
//! `--store` database (checks, its server, its size).
#![allow(clippy::print_stdout, clippy::expect_used)] // a command-line report

mod gateway_run;
mod load;
mod postgres;
mod processes;

use chrono::Duration;
use clap::Parser;
use gateway_run::{Setup, Target, measure_gateway, print_runs};
use load::{WrkScripts, wrk};
use omadata_app::{professional, sign_in};
use omadata_clock::{Clock, SystemClock};
use omadata_consent::{
    AccessAsk, Action, Consent, ConsentConfig, Directory, EnrolmentSecret, FieldSelector,
    NewOrganisation, NewStaff, Profession, Purpose, PurposeCode, Registrar, SensitivityPolicy,
    ServiceKey, StaffRole,
};
use omadata_store_sled::SledStore;
use omadata_vault::{Author, Catalogue, ClientId, Keyring, MasterKey, ProfessionalId, Vault};
use postgres::postgres_preflight;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

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
    /// With `--store`: after the single gateway on PostgreSQL, N gateways serving the same
    /// database at once, measured the same way (a `wrk` and an open loop per gateway, with
    /// `--connections` and `--rate` shared out among them) in a column of their own.
    #[arg(long, value_name = "N", default_value_t = 1)]
    gateways: usize,
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
    if args.gateways == 0 || (args.gateways > 1 && args.store.is_none()) {
        return Err(
            "--gateways takes 1, or more with --store (several gateways need PostgreSQL)".into(),
        );
    }
    if args.connections < args.gateways || args.rate.is_some_and(|r| (r as usize) < args.gateways) {
        return Err(
            "--connections and --rate are shared out among the gateways: give at least one each"
                .into(),
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
    let scripts = WrkScripts::write()?;

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
    let ceiling = wrk(
        &format!("http://{hello_addr}/"),
        &scripts,
        args.connections,
        args.seconds,
    )
    .await?;
    hello.abort();

    let target = Target {
        omadata: &omadata,
        port,
        data: &data,
        professionals: &professionals,
        clients: &clients,
        scripts: &scripts,
    };
    let sled = Setup {
        store: None,
        gateways: 1,
        first_on_store: true,
        index: 0,
    };
    let mut runs = vec![measure_gateway(&target, &sled, &args).await?];
    if let Some(url) = &args.store {
        let postgres = Setup {
            store: Some(url),
            gateways: 1,
            first_on_store: true,
            index: 1,
        };
        runs.push(measure_gateway(&target, &postgres, &args).await?);
        if args.gateways > 1 {
            let several = Setup {
                gateways: args.gateways,
                first_on_store: false,
                index: 2,
                ..postgres
            };
            runs.push(measure_gateway(&target, &several, &args).await?);
        }
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
        ceiling.percentile_ms(99.0)
    );
    println!();
    print_runs(&runs, &ceiling, args.rate);
    std::io::stdout().flush()?;
    if args.data.is_none() {
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(())
}

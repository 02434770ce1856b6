//! One gateway measured on one store: start, sign-in, load, CPU, memory; the table.

use crate::load::{OpenLoop, WrkResult, open_loop, wrk};
use crate::postgres::postgres_facts;
use crate::processes::{CpuCounters, CpuPerRequest, peak_memory_mb};
use crate::{Args, Fail};
use omadata_vault::{ClientId, ProfessionalId};
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What every gateway run shares.
pub(crate) struct Target<'a> {
    pub(crate) omadata: &'a Path,
    pub(crate) port: u16,
    pub(crate) data: &'a Path,
    pub(crate) professionals: &'a [(ProfessionalId, omadata_consent::OrganisationId)],
    pub(crate) clients: &'a [ClientId],
    pub(crate) lua: &'a Path,
}

/// One gateway measured on one store.
pub(crate) struct GatewayRun {
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
pub(crate) async fn measure_gateway(
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
pub(crate) fn print_runs(runs: &[GatewayRun], ceiling: &WrkResult, rate: Option<u32>) {
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

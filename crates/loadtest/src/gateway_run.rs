//! A run of one or several gateways at once on one store: start, sign-in, load, CPU,
//! memory, stop; and the table, a column per run.

use crate::load::{Mix, OpenLoop, WrkResult, WrkScripts, open_loop_each, wrk_each};
use crate::postgres::postgres_facts;
use crate::processes::{CpuCounters, CpuPerRequest, peak_memory_mb};
use crate::{Args, Fail};
use omadata_vault::{ClientId, ProfessionalId};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What every gateway run shares.
pub(crate) struct Target<'a> {
    pub(crate) omadata: &'a Path,
    /// The first gateway's port; further gateways of a run take the ports after it.
    pub(crate) port: u16,
    pub(crate) data: &'a Path,
    pub(crate) professionals: &'a [(ProfessionalId, omadata_consent::OrganisationId)],
    pub(crate) clients: &'a [ClientId],
    pub(crate) scripts: &'a WrkScripts,
}

/// What one run measures.
pub(crate) struct Setup<'a> {
    /// The PostgreSQL database, or `None` for sled (in the data directory).
    pub(crate) store: Option<&'a str>,
    /// Gateways serving the store at once.
    pub(crate) gateways: usize,
    /// The store's first run: the seeded store is copied into PostgreSQL, and a first
    /// start is timed (then stopped) before the gateways start. A later run on the same
    /// database only starts its gateways (restarts, after the previous run's clean stop).
    pub(crate) first_on_store: bool,
    /// Keeps each run's sign-ins on their own loopback addresses.
    pub(crate) index: u8,
}

/// One run measured: a column of the table.
pub(crate) struct GatewayRun {
    name: String,
    /// Seconds `omadata migrate-store` took to copy the seeded store (PostgreSQL only).
    copy: Option<f64>,
    store_bytes: u64,
    /// The first start after seeding or the copy (a store's first run only).
    first_startup: Option<f64>,
    /// Each gateway's start, spawn to listening.
    startups: Vec<f64>,
    /// Each gateway's `wrk`.
    loads: Vec<WrkResult>,
    /// All the `wrk`s together.
    load: WrkResult,
    cpu: CpuPerRequest,
    open: Option<(OpenLoop, CpuPerRequest)>,
    /// The largest peak (`VmHWM`) among the gateways.
    memory_mb: f64,
}

/// Seeds nothing: copies (a PostgreSQL store's first run), starts the gateways, signs the
/// professionals in at the first, warms up, then measures the mix closed loop (`wrk`, one
/// per gateway at once) and, with `--rate`, open loop (one per gateway at once); stops
/// the gateways.
pub(crate) async fn measure_gateway(
    target: &Target<'_>,
    setup: &Setup<'_>,
    args: &Args,
) -> Result<GatewayRun, Fail> {
    let name = match (setup.store, setup.gateways) {
        (None, _) => "sled".to_owned(),
        (Some(_), 1) => "PostgreSQL".to_owned(),
        (Some(_), n) => format!("PostgreSQL ×{n}"),
    };
    let copy = match setup.store {
        Some(url) if setup.first_on_store => Some(copy_into(target, url).await?),
        _ => None,
    };
    // The first start (after seeding, or after the copy) and a restart after a clean stop
    // (what an operator sees day to day) are both timed.
    let first_startup = if setup.first_on_store {
        let (first, seconds) = launch(target, setup, target.port, None).await?;
        stop_gracefully(first, target.port).await?;
        Some(seconds)
    } else {
        None
    };
    // The gateways after the first answer at the first's public URL, as the gateways of
    // one deployment do (tokens name it), so the tokens signed in at the first work at
    // every one. They start one after another.
    let public_url = format!("http://127.0.0.1:{}/", target.port);
    let mut gateways = Vec::with_capacity(setup.gateways);
    let mut startups = Vec::with_capacity(setup.gateways);
    let mut bases = Vec::with_capacity(setup.gateways);
    for i in 0..setup.gateways {
        let port = u16::try_from(i)
            .ok()
            .and_then(|i| target.port.checked_add(i))
            .ok_or("no port left for the gateways")?;
        let (gateway, seconds) =
            launch(target, setup, port, (i > 0).then_some(&*public_url)).await?;
        gateways.push((port, gateway));
        startups.push(seconds);
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let pids = gateways
        .iter()
        .map(|(_, g)| g.id().ok_or("no pid"))
        .collect::<Result<Vec<u32>, _>>()?;
    let postmaster = match setup.store {
        Some(url) => Some(postgres_facts(url).await?.0),
        None => None,
    };
    let cpu = CpuCounters {
        gateways: pids,
        postmaster,
    };

    let signing_in = Instant::now();
    let tokens = sign_in_professionals(&bases[0], target.professionals.len(), setup.index).await?;
    println!(
        "{name}: signed {} professionals in through the test provider in {:.1} s",
        tokens.len(),
        signing_in.elapsed().as_secs_f64()
    );
    let readers = args.with_records.min(target.clients.len()).max(1);
    let requests = request_mix(target, &tokens, readers);
    let requests_path = std::env::temp_dir().join("omadata-wrk-requests.txt");
    std::fs::write(&requests_path, &requests)?;
    // Each gateway's generator starts readers / N lines after the one before, so at any
    // moment they read and write different clients, not the same ones in step (lines j
    // and j + d name the same client only when d is a multiple of `readers`).
    let starts: Vec<usize> = (0..setup.gateways)
        .map(|i| i * readers / setup.gateways)
        .collect();
    let mix = Mix {
        text: &requests,
        path: &requests_path,
        starts: &starts,
    };

    let each = if setup.gateways > 1 {
        format!(
            ", a wrk per gateway with {} connections in all",
            args.connections
        )
    } else {
        String::new()
    };
    println!(
        "{name}: driving the gateway with wrk ({} s of warm-up, {} s measured{each})",
        args.warm_up, args.seconds
    );
    let closed_loop = |seconds| {
        wrk_each(
            &bases,
            target.scripts,
            Some(&mix),
            args.connections,
            seconds,
        )
    };
    if args.warm_up > 0 {
        closed_loop(args.warm_up).await?;
    }
    let before = cpu.sample();
    let loads = closed_loop(args.seconds).await?;
    let closed_cpu = cpu.since(
        &before,
        &loads.iter().map(|l| l.requests).collect::<Vec<_>>(),
    );
    let load = WrkResult::merged(&loads);
    let open = match args.rate {
        Some(rate) => {
            println!(
                "{name}: the same mix open loop at {rate} req/s for {} s",
                args.seconds
            );
            let before = cpu.sample();
            let opens = open_loop_each(&bases, &mix, rate, args.connections, args.seconds).await?;
            let served: Vec<u64> = opens.iter().map(OpenLoop::completed).collect();
            let open_cpu = cpu.since(&before, &served);
            Some((OpenLoop::merged(&opens), open_cpu))
        }
        None => None,
    };
    let memory_mb = cpu
        .gateways
        .iter()
        .filter_map(|pid| peak_memory_mb(*pid))
        .fold(0.0, f64::max);
    // In the reverse order of their starts.
    while let Some((port, gateway)) = gateways.pop() {
        stop_gracefully(gateway, port).await?;
        report_stderr(&name, setup.index, port);
    }
    let store_bytes = match setup.store {
        Some(url) => postgres_facts(url).await?.1,
        None => dir_size(&target.data.join("db")),
    };
    Ok(GatewayRun {
        name,
        copy,
        store_bytes,
        first_startup,
        startups,
        loads,
        load,
        cpu: closed_cpu,
        open,
        memory_mb,
    })
}

/// Copies the seeded sled store into the (empty) PostgreSQL database with
/// `omadata migrate-store`; returns the seconds it took.
async fn copy_into(target: &Target<'_>, url: &str) -> Result<f64, Fail> {
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
    Ok(seconds)
}

/// Requests, one a line (`METHOD PATH TOKEN [BODY]`), per 20: 18 authorised reads of a
/// client's granted fields (a name and a 4 KiB entry), one write of the 4 KiB entry, one
/// read by a professional without a grant (403); the clients are the first `readers`
/// (those with a record), in an order that repeats every `readers` lines.
fn request_mix(target: &Target<'_>, tokens: &[String], readers: usize) -> String {
    let (professionals, clients) = (target.professionals, target.clients);
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
    requests
}

/// One table, a column per run.
pub(crate) fn print_runs(runs: &[GatewayRun], ceiling: &WrkResult, rate: Option<u32>) {
    let row = |measure: &str, figure: &dyn Fn(&GatewayRun) -> String| {
        let figures: Vec<String> = runs.iter().map(figure).collect();
        println!("| {measure} | {} |", figures.join(" | "));
    };
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    println!("| gateway on | {} |", names.join(" | "));
    println!("| --- |{}", " --- |".repeat(runs.len()));
    let us = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.0} µs"));
    let each_us = |each: &[Option<f64>]| {
        let figures: Vec<String> = each
            .iter()
            .map(|v| v.map_or("–".to_owned(), |v| format!("{v:.0}")))
            .collect();
        format!("{} µs", figures.join(" / "))
    };
    let several = runs.iter().any(|r| r.startups.len() > 1);
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
        &|r| r.first_startup.map_or("–".into(), |s| format!("{s:.2} s")),
    );
    row(
        if several {
            "restart (spawn to listening), each gateway"
        } else {
            "restart (spawn to listening)"
        },
        &|r| {
            let each: Vec<String> = r.startups.iter().map(|s| format!("{s:.2}")).collect();
            format!("{} s", each.join(" / "))
        },
    );
    row(
        "mix, closed loop (90 % reads of 4 KiB, 5 % writes, 5 % denied)",
        &|r| format!("{:.0} req/s", r.load.rps()),
    );
    if several {
        row("mix, closed loop, at each gateway", &|r| {
            let each: Vec<String> = r.loads.iter().map(|l| format!("{:.0}", l.rps())).collect();
            format!("{} req/s", each.join(" / "))
        });
    }
    row("ratio to the hello-world ceiling", &|r| {
        format!("{:.1} %", 100.0 * r.load.rps() / ceiling.rps())
    });
    row(
        if several {
            "latency p50 / p99 / p99.9, closed loop (all gateways' requests together)"
        } else {
            "latency p50 / p99 / p99.9, closed loop"
        },
        &|r| {
            format!(
                "{:.2} / {:.2} / {:.2} ms",
                r.load.percentile_ms(50.0),
                r.load.percentile_ms(99.0),
                r.load.percentile_ms(99.9)
            )
        },
    );
    row("non-2xx responses (5 % denied expected)", &|r| {
        let socket = match r.load.socket_errors {
            0 => String::new(),
            n => format!("; {n} socket errors or time-outs"),
        };
        format!(
            "{} (expected {}){socket}",
            r.load.non_2xx,
            r.load.requests / 20
        )
    });
    row(
        if several {
            "gateway CPU per request (user + system; all gateways' over all requests)"
        } else {
            "gateway CPU per request (user + system)"
        },
        &|r| us(r.cpu.gateway_us),
    );
    if several {
        row(
            "gateway CPU per request, each gateway over its own requests",
            &|r| each_us(&r.cpu.each_gateway_us),
        );
    }
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
                format!(
                    "{:.2} / {:.2} / {:.2} ms",
                    o.percentile_ms(50.0),
                    o.percentile_ms(99.0),
                    o.percentile_ms(99.9)
                )
            })
        });
        row("open loop gateway CPU per request", &|r| {
            us(r.open.as_ref().and_then(|(_, c)| c.gateway_us))
        });
        if several {
            row(
                "open loop gateway CPU per request, each gateway over its own requests",
                &|r| {
                    r.open
                        .as_ref()
                        .map_or("–".into(), |(_, c)| each_us(&c.each_gateway_us))
                },
            );
        }
        if runs.iter().any(|r| r.cpu.postgres_us.is_some()) {
            row("open loop PostgreSQL server CPU per request", &|r| {
                us(r.open.as_ref().and_then(|(_, c)| c.postgres_us))
            });
        }
    }
    row(
        if several {
            "gateway peak memory (VmHWM; the largest gateway)"
        } else {
            "gateway peak memory (VmHWM)"
        },
        &|r| format!("{:.0} MB", r.memory_mb),
    );
}

/// Where the gateway on `port` of run `index` writes its stderr (`RUST_LOG=warn`), kept
/// after the run.
fn stderr_path(index: u8, port: u16) -> PathBuf {
    std::env::temp_dir().join(format!(
        "omadata-loadtest-{}-run{index}-port{port}.log",
        std::process::id()
    ))
}

/// Says so when a gateway logged errors (its start-up warnings are expected: plain http,
/// the test identity provider).
fn report_stderr(name: &str, index: u8, port: u16) {
    let path = stderr_path(index, port);
    let errors = std::fs::read_to_string(&path).map_or(0, |text| {
        text.lines().filter(|l| l.contains("ERROR")).count()
    });
    if errors > 0 {
        println!(
            "{name}: the gateway on port {port} logged {errors} errors: {}",
            path.display()
        );
    }
}

/// Starts `omadata demo` on the run's store (sled in the data directory, or the
/// PostgreSQL database) at `port`, answering at `public_url` if given; returns the process and
/// seconds to listening.
async fn launch(
    target: &Target<'_>,
    setup: &Setup<'_>,
    port: u16,
    public_url: Option<&str>,
) -> Result<(tokio::process::Child, f64), Fail> {
    let log = stderr_path(setup.index, port);
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let started = Instant::now();
    let mut command = tokio::process::Command::new(target.omadata);
    if let Some(url) = setup.store {
        command.arg("--store").arg(url);
    }
    if let Some(url) = public_url {
        command.env("OMADATA_PUBLIC_URL", url);
    }
    let mut gateway = command
        .arg("demo")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data")
        .arg(target.data)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(gateway.stdout.take().ok_or("no stdout")?).lines();
    let mut listening = false;
    while let Some(line) = lines.next_line().await? {
        if line.contains("listening on") {
            listening = true;
            break;
        }
    }
    if !listening {
        let status = gateway.wait().await?;
        return Err(format!(
            "the gateway on port {port} ended ({status}) before listening; its stderr is in {}",
            log.display()
        )
        .into());
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

/// SIGTERM, then wait for the graceful shutdown to finish; says so if it did not end well.
async fn stop_gracefully(mut gateway: tokio::process::Child, port: u16) -> Result<(), Fail> {
    let pid = gateway.id().ok_or("no pid")?;
    tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await?;
    let status = gateway.wait().await?;
    if !status.success() {
        println!("the gateway on port {port} stopped with {status}");
    }
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

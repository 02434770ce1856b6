//! The load generators: `wrk` (closed loop) and the load test's own open loop.

use crate::{Args, Fail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub(crate) struct WrkResult {
    pub(crate) requests: u64,
    seconds: f64,
    pub(crate) non_2xx: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
}

impl WrkResult {
    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

pub(crate) const WRK_SCRIPT: &str = r#"
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

pub(crate) async fn wrk(
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

/// The mix at a fixed offered rate, as wrk2 paces it: each of `connections` connections
/// sends every `connections / rate` seconds, staggered; a request is due at its slot
/// whatever happened before, so a slow response delays the requests behind it and their
/// latency counts from when they were due (no coordinated omission). When a connection is
/// on time, latency counts from the send (the timer's own lateness is not the server's).
pub(crate) async fn open_loop(
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

pub(crate) struct OpenLoop {
    /// Responses received (2xx or not); failures (time-outs, resets) not counted.
    pub(crate) completed: u64,
    /// From the first due time to the last response.
    seconds: f64,
    pub(crate) non_2xx: u64,
    pub(crate) failed: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
}

impl OpenLoop {
    pub(crate) fn served_rps(&self) -> f64 {
        self.completed as f64 / self.seconds
    }
}

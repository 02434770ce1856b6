//! The load generators: `wrk` for the closed loop and the load test's own open loop,
//! each run as one generator per gateway at once (the connections, and the open loop's
//! rate, shared out among them) and their results merged as if from one generator.

use crate::Fail;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A closed-loop result: one `wrk` process's, or several run at once and merged.
pub(crate) struct WrkResult {
    pub(crate) requests: u64,
    seconds: f64,
    pub(crate) non_2xx: u64,
    /// Connect, read and write errors and time-outs (5 s).
    pub(crate) socket_errors: u64,
    /// wrk's latency histogram: latency in µs → responses that took it.
    latency_us: BTreeMap<u64, u64>,
}

impl WrkResult {
    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The p-th latency percentile in ms, ranked as wrk ranks it (`round(p/100 · n + 0.5)`
    /// over its histogram), so one process's figure is the one wrk itself reports.
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        let n: u64 = self.latency_us.values().sum();
        let rank = (p / 100.0 * n as f64 + 0.5).round() as u64;
        let mut seen = 0;
        for (us, count) in &self.latency_us {
            seen += count;
            if seen >= rank {
                return *us as f64 / 1000.0;
            }
        }
        0.0
    }

    /// wrk processes that ran at the same time, as one: counts summed over the longest
    /// window of theirs, and the latency histograms added, so the percentiles are those
    /// of all their requests together (not the worst of the per-process percentiles, nor
    /// a request-weighted average of them).
    pub(crate) fn merged(results: &[WrkResult]) -> WrkResult {
        let mut latency_us = BTreeMap::new();
        for result in results {
            for (us, count) in &result.latency_us {
                *latency_us.entry(*us).or_insert(0) += count;
            }
        }
        WrkResult {
            requests: results.iter().map(|r| r.requests).sum(),
            seconds: results.iter().map(|r| r.seconds).fold(0.0, f64::max),
            non_2xx: results.iter().map(|r| r.non_2xx).sum(),
            socket_errors: results.iter().map(|r| r.socket_errors).sum(),
            latency_us,
        }
    }
}

/// The report every script ends with: the counts, then wrk's latency histogram
/// (`latency(i)` is the i-th latency recorded, in µs, and how many responses took it).
const REPORT: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout))
  io.write("LATENCY")
  for i = 1, #latency do
    local us, count = latency(i)
    io.write(string.format(" %d:%d", us, count))
  end
  io.write("\n")
end
"#;

/// The mix: each line of the request file (`METHOD PATH TOKEN [BODY]`) in turn, from the
/// given line on (counted from 0).
const MIX: &str = r#"
local reqs = {}
local n = 0
function init(args)
  for line in io.lines(args[1]) do
    local method, path, token, body = line:match("^(%S+) (%S+) (%S+) ?(.*)$")
    local headers = { ["Authorization"] = "Bearer " .. token }
    if body ~= nil and body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
    reqs[#reqs + 1] = wrk.format(method, path, headers, body)
  end
  n = (tonumber(args[2]) or 0) % #reqs
end
function request()
  n = n % #reqs + 1
  return reqs[n]
end
"#;

/// The wrk scripts, written to the temp directory.
pub(crate) struct WrkScripts {
    /// Only reports (for the hello-world ceiling).
    pub(crate) plain: PathBuf,
    /// Sends the mix in the request file given after `--`.
    pub(crate) mix: PathBuf,
}

impl WrkScripts {
    pub(crate) fn write() -> Result<WrkScripts, Fail> {
        let dir = std::env::temp_dir();
        let scripts = WrkScripts {
            plain: dir.join("omadata-wrk-plain.lua"),
            mix: dir.join("omadata-wrk.lua"),
        };
        std::fs::write(&scripts.plain, REPORT)?;
        std::fs::write(&scripts.mix, format!("{MIX}{REPORT}"))?;
        Ok(scripts)
    }
}

/// The mix's requests, one a line (`METHOD PATH TOKEN [BODY]`, the paths under each
/// gateway's base URL), as text and in a file (for `wrk`), and the line each gateway's
/// generator starts at.
pub(crate) struct Mix<'a> {
    pub(crate) text: &'a str,
    pub(crate) path: &'a Path,
    /// One per gateway.
    pub(crate) starts: &'a [usize],
}

/// One `wrk` (one thread, `connections` connections) for `seconds`, sending `GET /`.
pub(crate) async fn wrk(
    url: &str,
    scripts: &WrkScripts,
    connections: usize,
    seconds: u64,
) -> Result<WrkResult, Fail> {
    let mut results = wrk_each(&[url.to_owned()], scripts, None, connections, seconds).await?;
    results.pop().ok_or_else(|| "wrk gave no result".into())
}

/// One `wrk` per URL, all at once, `connections` shared out among them, sending the mix
/// if given (each from its own start line), else `GET /`; a result each.
pub(crate) async fn wrk_each(
    urls: &[String],
    scripts: &WrkScripts,
    mix: Option<&Mix<'_>>,
    connections: usize,
    seconds: u64,
) -> Result<Vec<WrkResult>, Fail> {
    let mut running = Vec::with_capacity(urls.len());
    for (i, (url, connections)) in urls.iter().zip(shares(connections, urls.len())).enumerate() {
        if connections == 0 {
            return Err("fewer connections than gateways".into());
        }
        let mut command = tokio::process::Command::new("wrk");
        command
            .arg("-t1")
            .arg(format!("-c{connections}"))
            .arg(format!("-d{seconds}s"))
            .arg("--timeout")
            .arg("5s")
            .kill_on_drop(true);
        match mix {
            Some(mix) => {
                let start = mix.starts.get(i).copied().unwrap_or(0);
                command
                    .arg("-s")
                    .arg(&scripts.mix)
                    .arg(url)
                    .arg("--")
                    .arg(mix.path)
                    .arg(start.to_string())
            }
            None => command.arg("-s").arg(&scripts.plain).arg(url),
        };
        // Each waited for in its own task, so none blocks on a full pipe.
        running.push(tokio::spawn(command.output()));
    }
    let mut results = Vec::with_capacity(running.len());
    for output in running {
        let output = output.await??;
        results.push(
            parse_wrk(&String::from_utf8_lossy(&output.stdout)).map_err(|e| {
                format!(
                    "{e} (wrk's stderr: {})",
                    String::from_utf8_lossy(&output.stderr).trim()
                )
            })?,
        );
    }
    Ok(results)
}

fn parse_wrk(text: &str) -> Result<WrkResult, String> {
    let line = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .ok_or_else(|| format!("wrk printed no {prefix}line: {text}"))
    };
    let counts = line("RESULT ")?
        .split_whitespace()
        .map(str::parse::<u64>)
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|e| format!("wrk's RESULT line: {e}"))?;
    let &[requests, duration_us, non_2xx, socket_errors] = counts.as_slice() else {
        return Err(format!(
            "wrk's RESULT line has {} numbers, not 4",
            counts.len()
        ));
    };
    let mut latency_us = BTreeMap::new();
    for bucket in line("LATENCY")?.split_whitespace() {
        let (us, count) = bucket
            .split_once(':')
            .and_then(|(us, count)| Some((us.parse::<u64>().ok()?, count.parse::<u64>().ok()?)))
            .ok_or_else(|| format!("wrk's LATENCY line: {bucket}"))?;
        *latency_us.entry(us).or_insert(0) += count;
    }
    Ok(WrkResult {
        requests,
        seconds: duration_us as f64 / 1e6,
        non_2xx,
        socket_errors,
        latency_us,
    })
}

/// `total` shared out among `parts` as evenly as whole numbers allow (the first ones get
/// one more); the shares add up to `total`.
pub(crate) fn shares(total: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

/// The open loop of the mix against each base URL at once, the rate and the connections
/// shared out among them, each from its own start line; a result each (merge them with
/// [`OpenLoop::merged`]).
pub(crate) async fn open_loop_each(
    bases: &[String],
    mix: &Mix<'_>,
    rate: u32,
    connections: usize,
    seconds: u64,
) -> Result<Vec<OpenLoop>, Fail> {
    let rates = shares(usize::try_from(rate)?, bases.len());
    let running: Vec<_> = bases
        .iter()
        .zip(rates)
        .zip(shares(connections, bases.len()))
        .enumerate()
        .map(|(i, ((base, rate), connections))| {
            let (base, requests) = (base.clone(), mix.text.to_owned());
            let start = mix.starts.get(i).copied().unwrap_or(0);
            tokio::spawn(async move {
                let rate = u32::try_from(rate)?;
                open_loop(&base, &requests, start, rate, connections, seconds).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(running.len());
    for result in running {
        results.push(result.await??);
    }
    Ok(results)
}

/// The mix at a fixed offered rate, as wrk2 paces it: each of `connections` connections
/// sends every `connections / rate` seconds, staggered; a request is due at its slot
/// whatever happened before, so a slow response delays the requests behind it and their
/// latency counts from when they were due (no coordinated omission). When a connection is
/// on time, latency counts from the send (the timer's own lateness is not the server's).
/// The requests (`METHOD PATH TOKEN [BODY]` lines, paths under `base`) are taken in turn
/// from the `start`-th on.
async fn open_loop(
    base: &str,
    requests: &str,
    start: usize,
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
                    let request =
                        &requests[(start + k as usize * connections + c) % requests.len()];
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
    let seconds = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    Ok(OpenLoop {
        latencies_us: all.latencies_us,
        seconds,
        non_2xx: all.non_2xx,
        failed: all.failed,
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

/// An open-loop result: one loop's, or several run at once and merged.
pub(crate) struct OpenLoop {
    /// The latency of each response received (2xx or not), sorted; failures (time-outs,
    /// resets) are not in it.
    latencies_us: Vec<u64>,
    /// From the first due time to the last response.
    seconds: f64,
    pub(crate) non_2xx: u64,
    pub(crate) failed: u64,
}

impl OpenLoop {
    /// Responses received (2xx or not).
    pub(crate) fn completed(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    pub(crate) fn served_rps(&self) -> f64 {
        self.completed() as f64 / self.seconds
    }

    /// The p-th latency percentile in ms (nearest rank).
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_us[rank - 1] as f64 / 1000.0
    }

    /// Loops that ran at the same time, as one: every latency sample together, counts
    /// summed over the longest window of theirs.
    pub(crate) fn merged(results: &[OpenLoop]) -> OpenLoop {
        let mut latencies_us: Vec<u64> = results
            .iter()
            .flat_map(|r| r.latencies_us.iter().copied())
            .collect();
        latencies_us.sort_unstable();
        OpenLoop {
            latencies_us,
            seconds: results.iter().map(|r| r.seconds).fold(0.0, f64::max),
            non_2xx: results.iter().map(|r| r.non_2xx).sum(),
            failed: results.iter().map(|r| r.failed).sum(),
        }
    }
}

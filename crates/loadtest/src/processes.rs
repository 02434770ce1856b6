//! What `/proc` tells about the processes measured: CPU time and peak memory.

/// A process's peak resident memory (`VmHWM`) in MB.
pub(crate) fn peak_memory_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The processes whose CPU time is counted: the gateways, and PostgreSQL's postmaster
/// with its children (the backends serving the gateways, the WAL writer, checkpointer…).
pub(crate) struct CpuCounters {
    pub(crate) gateways: Vec<u32>,
    pub(crate) postmaster: Option<u32>,
}

/// CPU time in clock ticks.
pub(crate) struct CpuSample {
    gateways: Vec<Option<u64>>,
    postgres: Option<u64>,
}

/// CPU time per request served (µs), over a measured window.
pub(crate) struct CpuPerRequest {
    /// All the gateways' CPU time over all the requests they served.
    pub(crate) gateway_us: Option<f64>,
    /// Each gateway's CPU time over the requests it served.
    pub(crate) each_gateway_us: Vec<Option<f64>>,
    pub(crate) postgres_us: Option<f64>,
}

impl CpuCounters {
    pub(crate) fn sample(&self) -> CpuSample {
        CpuSample {
            gateways: self
                .gateways
                .iter()
                .map(|pid| proc_stat(*pid).map(|s| s.utime + s.stime))
                .collect(),
            postgres: self.postmaster.and_then(postgres_ticks),
        }
    }

    /// `requests`: how many each gateway served (in the order of `gateways`) since `before`.
    pub(crate) fn since(&self, before: &CpuSample, requests: &[u64]) -> CpuPerRequest {
        let after = self.sample();
        let tick_us = 1e6 / clock_ticks_per_second();
        let ticks =
            |b: &Option<u64>, a: &Option<u64>| Some(a.as_ref()?.saturating_sub(*b.as_ref()?));
        let per_request = |ticks: Option<u64>, requests: u64| match ticks {
            Some(ticks) if requests > 0 => Some(ticks as f64 * tick_us / requests as f64),
            _ => None,
        };
        let each: Vec<Option<u64>> = before
            .gateways
            .iter()
            .zip(&after.gateways)
            .map(|(b, a)| ticks(b, a))
            .collect();
        let all_requests = requests.iter().sum();
        CpuPerRequest {
            gateway_us: per_request(each.iter().copied().sum(), all_requests),
            each_gateway_us: each
                .iter()
                .zip(requests)
                .map(|(t, r)| per_request(*t, *r))
                .collect(),
            postgres_us: per_request(ticks(&before.postgres, &after.postgres), all_requests),
        }
    }
}

/// The CPU fields of `/proc/<pid>/stat` (proc(5)).
pub(crate) struct ProcStat {
    pub(crate) ppid: u32,
    utime: u64,
    stime: u64,
    /// Of children that ended and were waited for.
    cutime: u64,
    cstime: u64,
}

pub(crate) fn proc_stat(pid: u32) -> Option<ProcStat> {
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

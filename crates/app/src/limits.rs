//! Quotas the use cases keep: against guessing pairing codes, probing client ids, and
//! growing storage. In memory: they protect one running gateway.

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// At most `limit` events per key within `window`.
#[derive(Debug)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
    events: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            events: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` is still under its limit at `now` (nothing is recorded).
    pub fn allows(&self, key: &str, now: DateTime<Utc>) -> bool {
        let mut events = self.events.lock();
        let recent = events.entry(key.to_owned()).or_default();
        recent.retain(|at| *at > now - self.window);
        recent.len() < self.limit
    }

    /// Records one event for `key`; returns whether it was still within the limit.
    pub fn record(&self, key: &str, now: DateTime<Utc>) -> bool {
        let mut events = self.events.lock();
        if events.len() > 100_000 {
            // Forget idle keys rather than grow without bound.
            let window = self.window;
            events.retain(|_, v| v.iter().any(|at| *at > now - window));
        }
        let recent = events.entry(key.to_owned()).or_default();
        recent.retain(|at| *at > now - self.window);
        recent.push(now);
        recent.len() <= self.limit
    }
}

/// The use cases' quotas.
#[derive(Debug)]
pub struct Quotas {
    /// Failed pairing-code uses per professional: 5 in 15 minutes, then locked out until
    /// the window passes. With 50-bit codes that live 15 minutes, guessing is hopeless.
    pub pairing_failures: RateLimiter,
    /// Refused reads of a client's record per professional: 20 in 15 minutes, then
    /// refused without a durable entry each (the refusal that reaches the limit is
    /// audited once).
    pub refused_reads: RateLimiter,
    /// Grants a client creates on their own initiative: 100 a day. Each is stored for good
    /// (grant, receipt, audit entry), so a signed-in client cannot grow storage unbounded.
    pub grants_created: RateLimiter,
    /// One audit verification at a time: it reads the whole log.
    pub audit_verification: Arc<tokio::sync::Semaphore>,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            pairing_failures: RateLimiter::new(5, Duration::minutes(15)),
            refused_reads: RateLimiter::new(20, Duration::minutes(15)),
            grants_created: RateLimiter::new(100, Duration::days(1)),
            audit_verification: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_hold_within_the_window_and_reset_after_it() {
        let limiter = RateLimiter::new(3, Duration::minutes(1));
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        for i in 0..3 {
            assert!(limiter.allows("a", t0 + Duration::seconds(i)));
            assert!(limiter.record("a", t0 + Duration::seconds(i)));
        }
        assert!(!limiter.allows("a", t0 + Duration::seconds(5)));
        assert!(!limiter.record("a", t0 + Duration::seconds(5)));
        assert!(limiter.allows("b", t0 + Duration::seconds(5)));
        assert!(limiter.allows("a", t0 + Duration::seconds(70)));
    }
}

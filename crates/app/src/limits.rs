//! Quotas the use cases keep: against guessing pairing codes, probing client ids, and
//! growing storage. Counted in memory; every counted event is also written to the store
//! (`layout::QUOTA_EVENT`) and read back at start, so a restart forgives nothing. On a
//! store other gateways share, the memory is a cache: forgotten when another gateway's
//! quota events move the store's change count ([`Quotas::forget`]), after which a key's events are read from the store
//! again before it is judged, so 5 wrong pairing codes are 5 across all gateways. Events
//! are few by design (each quota stops its own growth), so the writes are bounded per
//! professional or client.

use chrono::{DateTime, Duration, Utc};
use omadata_consent::layout;
use omadata_consent::store::{ConsentStore, Write};
use omadata_vault::store::StoreError;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// At most `limit` events per key within `window`.
#[derive(Debug)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
    events: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
    /// Moved on by [`RateLimiter::forget`]; 0 while memory holds every event.
    generation: std::sync::atomic::AtomicU64,
    /// Keys read from the store again since the last [`RateLimiter::forget`].
    current: Mutex<std::collections::HashSet<String>>,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            events: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            current: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Forgets the counted events: another process may have counted more.
    pub fn forget(&self) {
        let mut events = self.events.lock();
        let mut current = self.current.lock();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        events.clear();
        current.clear();
    }

    /// Whether memory holds every event of `key` (else read them with
    /// [`RateLimiter::reload`] before judging it).
    pub fn is_current(&self, key: &str) -> bool {
        self.generation.load(std::sync::atomic::Ordering::Acquire) == 0
            || self.current.lock().contains(key)
    }

    /// Replaces memory's events of `key` with the stored ones still inside the window.
    pub fn reload(
        &self,
        store: &dyn ConsentStore,
        name: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let prefix = event_prefix(name, key);
        let stored: Vec<DateTime<Utc>> = store
            .scan(&prefix, None, false, SCAN_BATCH)?
            .iter()
            .filter_map(|(k, _)| Self::time_of(&prefix, k))
            .filter(|at| *at > now - self.window && *at <= now)
            .collect();
        let mut events = self.events.lock();
        let mut current = self.current.lock();
        if self.generation.load(std::sync::atomic::Ordering::Acquire) == generation {
            // Two reads of one key can finish out of order; events only come, so the
            // longer list is the later read and is kept.
            let held = events.get(key).map_or(0, |held| {
                held.iter().filter(|at| **at > now - self.window).count()
            });
            if stored.len() >= held {
                events.insert(key.to_owned(), stored);
            }
            current.insert(key.to_owned());
        }
        Ok(())
    }

    /// Whether `key` is still under its limit at `now` (nothing is recorded).
    pub fn allows(&self, key: &str, now: DateTime<Utc>) -> bool {
        let mut events = self.events.lock();
        let recent = events.entry(key.to_owned()).or_default();
        recent.retain(|at| *at > now - self.window);
        recent.len() < self.limit
    }

    /// Whether the events of `key` counted so far (the newest included) are within the
    /// limit.
    fn allows_after(&self, key: &str, now: DateTime<Utc>) -> bool {
        let mut events = self.events.lock();
        let recent = events.entry(key.to_owned()).or_default();
        recent.retain(|at| *at > now - self.window);
        recent.len() <= self.limit
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

/// A quota's events in the store: `q/NAME\0KEY\0` then the time (8 bytes) and a
/// counter (4 bytes), so two events in one millisecond are two keys.
fn event_prefix(name: &str, key: &str) -> Vec<u8> {
    layout::key(&[
        layout::QUOTA_EVENT,
        name.as_bytes(),
        b"\0",
        key.as_bytes(),
        b"\0",
    ])
}

/// Stored events read per scan.
const SCAN_BATCH: usize = 1_000;

impl RateLimiter {
    /// The writes that store one event for `key` at `now` and drop its events that left
    /// the window.
    fn stored_event(
        &self,
        store: &dyn ConsentStore,
        name: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Write>, StoreError> {
        let prefix = event_prefix(name, key);
        let existing = store.scan(&prefix, None, false, SCAN_BATCH)?;
        let mut writes: Vec<Write> = existing
            .iter()
            .filter(|(k, _)| Self::time_of(&prefix, k).is_none_or(|at| at <= now - self.window))
            .map(|(k, _)| (k.clone(), None))
            .collect();
        let mut event = prefix;
        event.extend_from_slice(&layout::time_key(&now));
        event.extend_from_slice(&(existing.len() as u32).to_be_bytes());
        writes.push((event, Some(Vec::new())));
        Ok(writes)
    }

    fn time_of(prefix: &[u8], key: &[u8]) -> Option<DateTime<Utc>> {
        layout::time_of_key(key.get(prefix.len()..prefix.len() + 8)?)
    }

    /// Takes the events of the stored quota `name` still inside the window at `now`.
    fn restore(
        &self,
        store: &dyn ConsentStore,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let prefix = layout::key(&[layout::QUOTA_EVENT, name.as_bytes(), b"\0"]);
        let mut from: Option<Vec<u8>> = None;
        let mut restored = 0;
        let mut events = self.events.lock();
        loop {
            let page = store.scan(&prefix, from.as_deref(), false, SCAN_BATCH + 1)?;
            let fresh: Vec<_> = page
                .into_iter()
                .filter(|(k, _)| from.as_deref() != Some(k.as_slice()))
                .collect();
            let Some((last, _)) = fresh.last() else {
                return Ok(restored);
            };
            from = Some(last.clone());
            for (stored, _) in &fresh {
                let rest = stored.get(prefix.len()..).unwrap_or_default();
                let Some(end) = rest.iter().position(|b| *b == 0) else {
                    continue;
                };
                let (Ok(key), Some(at)) = (
                    std::str::from_utf8(rest.get(..end).unwrap_or_default()),
                    rest.get(end + 1..end + 9).and_then(layout::time_of_key),
                ) else {
                    continue;
                };
                if at > now - self.window && at <= now {
                    events.entry(key.to_owned()).or_default().push(at);
                    restored += 1;
                }
            }
        }
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

/// Which stored quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    PairingFailures,
    RefusedReads,
    GrantsCreated,
}

impl Quota {
    const ALL: [Quota; 3] = [
        Quota::PairingFailures,
        Quota::RefusedReads,
        Quota::GrantsCreated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quota::PairingFailures => "pairing",
            Quota::RefusedReads => "refused",
            Quota::GrantsCreated => "grants",
        }
    }
}

impl Quotas {
    pub fn limiter(&self, quota: Quota) -> &RateLimiter {
        match quota {
            Quota::PairingFailures => &self.pairing_failures,
            Quota::RefusedReads => &self.refused_reads,
            Quota::GrantsCreated => &self.grants_created,
        }
    }

    /// The quotas with every stored event still inside its window at `now`.
    pub fn restore(store: &dyn ConsentStore, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let quotas = Self::default();
        for quota in Quota::ALL {
            quotas.limiter(quota).restore(store, quota.name(), now)?;
        }
        Ok(quotas)
    }

    /// Counts one event of `quota` for `key`, in the store first; returns whether it was
    /// still within the limit. A store that refuses it leaves it uncounted and says so.
    pub fn record(
        &self,
        store: &dyn ConsentStore,
        quota: Quota,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let limiter = self.limiter(quota);
        store.apply(limiter.stored_event(store, quota.name(), key, now)?)?;
        if store.shared() {
            // Other gateways count too: the store has every event.
            limiter.reload(store, quota.name(), key, now)?;
            return Ok(limiter.allows_after(key, now));
        }
        Ok(limiter.record(key, now))
    }

    /// Another gateway counted quota events. Pairing-code guesses are read from the
    /// store again before the next is judged, so 5 wrong codes are 5 across all gateways.
    /// Refused reads and created grants, checked on busy paths, are judged from memory,
    /// which takes in the stored events at each one this gateway counts: across N
    /// gateways at most N - 1 more pass than the limit.
    pub fn forget(&self) {
        self.pairing_failures.forget();
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

    /// A read of a key's events that started before another and ends after it (an
    /// older view of the store) does not take counted events away.
    #[test]
    fn a_stale_read_of_the_events_does_not_undercount() {
        use omadata_consent::store::MemoryConsentStore;
        let (older, newer) = (MemoryConsentStore::new(), MemoryConsentStore::new());
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let limiter = RateLimiter::new(3, Duration::minutes(15));
        for (store, events) in [(&older, 2), (&newer, 3)] {
            for i in 0..events {
                let at = t0 + Duration::seconds(i);
                store
                    .apply(limiter.stored_event(store, "q", "pro-1", at).unwrap())
                    .unwrap();
            }
        }
        limiter.forget();
        let now = t0 + Duration::minutes(1);
        limiter.reload(&newer, "q", "pro-1", now).unwrap();
        assert!(!limiter.allows("pro-1", now));
        limiter.reload(&older, "q", "pro-1", now).unwrap();
        assert!(
            !limiter.allows("pro-1", now),
            "the older read undid an event"
        );
        // After a forget, what the store holds is taken as it is.
        limiter.forget();
        limiter.reload(&older, "q", "pro-1", now).unwrap();
        assert!(limiter.allows("pro-1", now));
    }

    #[test]
    fn stored_events_count_again_after_a_restart_until_their_window_passes() {
        use omadata_consent::store::MemoryConsentStore;
        let store = MemoryConsentStore::new();
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let quotas = Quotas::default();
        for i in 0..5 {
            let within = quotas
                .record(
                    &store,
                    Quota::PairingFailures,
                    "pro-1",
                    t0 + Duration::milliseconds(i % 2),
                )
                .unwrap();
            assert!(within);
        }
        assert!(!quotas.pairing_failures.allows("pro-1", t0));
        // A restarted gateway still refuses, and counts nothing for others.
        let restarted = Quotas::restore(&store, t0 + Duration::minutes(1)).unwrap();
        assert!(
            !restarted
                .pairing_failures
                .allows("pro-1", t0 + Duration::minutes(1))
        );
        assert!(
            restarted
                .pairing_failures
                .allows("pro-2", t0 + Duration::minutes(1))
        );
        assert!(
            restarted
                .grants_created
                .allows("pro-1", t0 + Duration::minutes(1))
        );
        // Past the window the events neither count nor come back; the next event drops
        // the stored ones that left the window.
        let later = t0 + Duration::minutes(16);
        let fresh = Quotas::restore(&store, later).unwrap();
        assert!(fresh.pairing_failures.allows("pro-1", later));
        fresh
            .record(&store, Quota::PairingFailures, "pro-1", later)
            .unwrap();
        let prefix = event_prefix("pairing", "pro-1");
        assert_eq!(store.scan(&prefix, None, false, 100).unwrap().len(), 1);
    }
}

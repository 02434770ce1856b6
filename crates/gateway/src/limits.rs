//! The rate limit on sign-in starts per network address. In memory: it protects one
//! running gateway.

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};

/// What the sign-in limiter decided about one sign-in start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginVerdict {
    Allowed,
    /// Over the limit. `first_in_window`: the address's first refusal in its window,
    /// the one that is audited at once; later ones are only counted.
    Refused {
        first_in_window: bool,
    },
}

/// An address's closed window in which it was refused more than once: the count that
/// is audited as one summary entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusalSummary {
    pub window_opened: DateTime<Utc>,
    pub refused: u64,
}

/// Sign-in starts per network address in fixed windows, in bounded memory.
///
/// Audit design: an anonymous flood must not write a durable entry per request. Per
/// address and window, the first refusal is audited at once (`login_refused`,
/// `rate_limited`), the rest are counted here, and when the window closes with more
/// than one refusal one summary entry carries the count (`rate_limited_total=N`): at
/// most two entries per address a window, however fast it knocks. Closed windows are
/// summarised at the next sign-in start from anyone, by a sweep every window, and at
/// shutdown. An address is never written to the audit log (it is personal data and
/// the log keeps everything); the log line of a summary names it.
///
/// Memory: at most `capacity` addresses (about 64 bytes each); IPv6 addresses count by
/// their /64, which one host usually holds whole. When every slot holds a live window,
/// new addresses share one overflow slot.
///
/// Disk: besides the two per address, at most `audit_budget` such entries a window in
/// all, so that many flooding addresses together cannot grow the log fast either; past
/// the budget refusals are only counted (the metric) and logged once a window.
#[derive(Debug)]
pub struct LoginLimiter {
    limit: u32,
    window: Duration,
    capacity: usize,
    audit_budget: u32,
    inner: Mutex<LoginWindows>,
}

#[derive(Debug, Default)]
struct LoginWindows {
    by_address: HashMap<IpAddr, AddressWindow>,
    /// Windows with refusals, by closing time (all windows are equally long, so the
    /// order they opened in is the order they close in).
    refusing: VecDeque<(DateTime<Utc>, IpAddr)>,
    /// The audit budget's current window and what it has used.
    budget_opened: Option<DateTime<Utc>>,
    budget_used: u32,
}

impl LoginWindows {
    /// Whether one more rate-limit entry may be audited in the window of `now`.
    fn take_budget(&mut self, now: DateTime<Utc>, window: Duration, budget: u32) -> bool {
        if self
            .budget_opened
            .is_none_or(|opened| opened + window <= now)
        {
            self.budget_opened = Some(now);
            self.budget_used = 0;
        }
        if self.budget_used < budget {
            self.budget_used += 1;
            return true;
        }
        if self.budget_used == budget {
            self.budget_used += 1;
            tracing::warn!(
                budget,
                "sign-in refusals from many addresses: no more are audited in this window (they are still counted)"
            );
        }
        false
    }
}

#[derive(Debug)]
struct AddressWindow {
    opened: DateTime<Utc>,
    starts: u32,
    refused: u64,
}

/// The slot of callers without a known address, and of new addresses when all slots
/// are taken.
const SHARED_SLOT: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

fn slot_of(address: Option<IpAddr>) -> IpAddr {
    match address.map(crate::config::canonical_ip) {
        None => SHARED_SLOT,
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
    }
}

impl LoginLimiter {
    pub fn new(limit: u32, window: Duration, capacity: usize, audit_budget: u32) -> Self {
        Self {
            limit,
            window,
            capacity: capacity.max(1),
            audit_budget,
            inner: Mutex::new(LoginWindows::default()),
        }
    }

    /// Counts one sign-in start from `address` at `now`. Also returns the summaries of
    /// windows that have closed since the last call (usually none: no allocation).
    pub fn check(
        &self,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> (LoginVerdict, Vec<(IpAddr, RefusalSummary)>) {
        let mut inner = self.inner.lock();
        let mut closed = Vec::new();
        self.close_due(&mut inner, now, &mut closed);
        let mut slot = slot_of(address);
        if !inner.by_address.contains_key(&slot) && inner.by_address.len() >= self.capacity {
            // Windows that closed with refusals were summarised just above.
            let window = self.window;
            inner.by_address.retain(|_, w| w.opened + window > now);
            if inner.by_address.len() >= self.capacity {
                slot = SHARED_SLOT;
            }
        }
        let entry = inner.by_address.entry(slot).or_insert(AddressWindow {
            opened: now,
            starts: 0,
            refused: 0,
        });
        if entry.opened + self.window <= now {
            *entry = AddressWindow {
                opened: now,
                starts: 0,
                refused: 0,
            };
        }
        if entry.starts < self.limit {
            entry.starts += 1;
            return (LoginVerdict::Allowed, closed);
        }
        entry.refused += 1;
        let first = entry.refused == 1;
        let closes = entry.opened + self.window;
        if first {
            inner.refusing.push_back((closes, slot));
        }
        let first_in_window = first && inner.take_budget(now, self.window, self.audit_budget);
        (LoginVerdict::Refused { first_in_window }, closed)
    }

    /// Summaries of the windows closed by `now`.
    pub fn close_windows(&self, now: DateTime<Utc>) -> Vec<(IpAddr, RefusalSummary)> {
        let mut closed = Vec::new();
        self.close_due(&mut self.inner.lock(), now, &mut closed);
        closed
    }

    /// Summaries of every window with refusals, closed or not (at shutdown).
    pub fn close_all(&self) -> Vec<(IpAddr, RefusalSummary)> {
        let mut closed = Vec::new();
        self.close_due(
            &mut self.inner.lock(),
            DateTime::<Utc>::MAX_UTC,
            &mut closed,
        );
        closed
    }

    fn close_due(
        &self,
        inner: &mut LoginWindows,
        now: DateTime<Utc>,
        closed: &mut Vec<(IpAddr, RefusalSummary)>,
    ) {
        let window = self.window;
        while let Some(&(closes, slot)) = inner.refusing.front() {
            if closes > now {
                break;
            }
            inner.refusing.pop_front();
            let Some(entry) = inner.by_address.get_mut(&slot) else {
                continue;
            };
            if entry.opened + window != closes {
                continue;
            }
            let refused = std::mem::take(&mut entry.refused);
            let window_opened = entry.opened;
            // At shutdown (`now` at the end of time) the budget is the current one.
            let budget_at = now.min(closes);
            if refused > 1 && inner.take_budget(budget_at, window, self.audit_budget) {
                closed.push((
                    slot,
                    RefusalSummary {
                        window_opened,
                        refused,
                    },
                ));
            }
        }
    }
}

/// The gateway's own limits (the use cases keep theirs: `omadata_app::limits`).
#[derive(Debug)]
pub struct Limits {
    /// Sign-in starts per client address: 60 a minute, at most 65 536 addresses tracked,
    /// at most 1 000 rate-limit audit entries a minute in all.
    pub logins: LoginLimiter,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            logins: LoginLimiter::new(60, Duration::minutes(1), 65_536, 1_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn sign_in_starts_are_limited_per_address_and_refusals_summarised_once() {
        let limiter = LoginLimiter::new(3, Duration::minutes(1), 100, 100);
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip("10.0.0.1"), t0).0, LoginVerdict::Allowed);
        }
        assert_eq!(
            limiter.check(ip("10.0.0.1"), t0).0,
            LoginVerdict::Refused {
                first_in_window: true
            }
        );
        for _ in 0..500 {
            assert_eq!(
                limiter.check(ip("10.0.0.1"), t0).0,
                LoginVerdict::Refused {
                    first_in_window: false
                }
            );
        }
        // Another address is not affected.
        let (verdict, closed) = limiter.check(ip("10.0.0.2"), t0);
        assert_eq!((verdict, closed.len()), (LoginVerdict::Allowed, 0));
        // After the window, the next start from anyone brings the summary.
        let later = t0 + Duration::seconds(61);
        let (verdict, closed) = limiter.check(ip("10.0.0.2"), later);
        assert_eq!(verdict, LoginVerdict::Allowed);
        assert_eq!(
            closed,
            vec![(
                "10.0.0.1".parse().unwrap(),
                RefusalSummary {
                    window_opened: t0,
                    refused: 501
                }
            )]
        );
        assert!(limiter.close_all().is_empty());
        assert_eq!(
            limiter.check(ip("10.0.0.1"), later).0,
            LoginVerdict::Allowed
        );
    }

    #[test]
    fn the_sign_in_limiter_holds_a_bounded_number_of_addresses() {
        let limiter = LoginLimiter::new(1, Duration::minutes(1), 10, 100);
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        for i in 0..10_000u32 {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            limiter.check(Some(address), t0);
        }
        assert!(limiter.inner.lock().by_address.len() <= 11);
        // IPv6 addresses count by their /64.
        let limiter = LoginLimiter::new(1, Duration::minutes(1), 10, 100);
        assert_eq!(
            limiter.check(ip("2001:db8::1"), t0).0,
            LoginVerdict::Allowed
        );
        assert!(matches!(
            limiter.check(ip("2001:db8::2"), t0).0,
            LoginVerdict::Refused { .. }
        ));
        assert_eq!(
            limiter.check(ip("2001:db8:0:1::1"), t0).0,
            LoginVerdict::Allowed
        );
    }

    #[test]
    fn many_flooding_addresses_together_stay_within_the_audit_budget() {
        let limiter = LoginLimiter::new(1, Duration::minutes(1), 10_000, 5);
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let mut audited = 0;
        for i in 0..1_000u32 {
            let address = Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)));
            for _ in 0..3 {
                if limiter.check(address, t0).0
                    == (LoginVerdict::Refused {
                        first_in_window: true,
                    })
                {
                    audited += 1;
                }
            }
        }
        assert_eq!(audited, 5);
        // The summaries of the next window share the next budget.
        let (_, closed) = limiter.check(ip("192.0.2.1"), t0 + Duration::seconds(61));
        assert_eq!(closed.len(), 5);
        assert!(limiter.close_all().is_empty());
    }
}

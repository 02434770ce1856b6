//! Who is signed in. Browser sessions are server-side, found by a random cookie value;
//! each carries its CSRF token, an opaque id (`sid`, a hash of the cookie value) that the
//! bearer tokens minted from it name, and when the person authenticated. Pending logins
//! hold the OpenID state, nonce and PKCE verifier between the redirect out and the
//! callback.
//!
//! Memory is bounded: expired sessions are swept at most once a minute (amortised on
//! create), and pending logins are capped and dropped oldest first (all live equally
//! long, so insertion order is expiry order and no sweep scans the whole map).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use omadata_app::Principal;
use omadata_vault::ProfessionalId;
use parking_lot::Mutex;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::{HashMap, VecDeque};
use zeroize::Zeroizing;

pub(crate) const SESSION_COOKIE: &str = "omadata_session";
pub(crate) const LOGIN_COOKIE: &str = "omadata_login";

/// Pending logins kept at most; beyond it the oldest is dropped.
pub(crate) const PENDING_LOGIN_LIMIT: usize = 10_000;

/// How often expired sessions are swept.
const SWEEP_INTERVAL_SECONDS: i64 = 60;

#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    /// The opaque id bearer tokens name (`sid`): not the cookie secret, nor derivable
    /// into it.
    pub sid: String,
    /// When the person last proved who they are at the provider (`auth_time`).
    pub authenticated_at: DateTime<Utc>,
}

/// What the callback needs to finish a login. The verifier is a secret.
#[derive(Debug)]
pub struct PendingLogin {
    pub nonce: String,
    pub pkce_verifier: Zeroizing<String>,
    pub role: Option<String>,
    /// The web app page to return to after the sign-in.
    pub next: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// 256 random bits, base64url.
pub fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// The session id named in tokens, from the cookie value (one-way).
pub(crate) fn sid_of(cookie_value: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"omadata-sid\0");
    context.update(cookie_value.as_bytes());
    URL_SAFE_NO_PAD.encode(context.finish().as_ref())
}

#[derive(Debug, Default)]
struct PendingLogins {
    by_state: HashMap<String, PendingLogin>,
    /// States in the order added (= expiry order); may name states already taken.
    order: VecDeque<(String, DateTime<Utc>)>,
}

#[derive(Debug, Default)]
struct Live {
    /// By sid.
    sessions: HashMap<String, Session>,
    next_sweep: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<Live>,
    pending: Mutex<PendingLogins>,
}

impl Sessions {
    /// A new session; returns the cookie value and the session.
    pub fn create(
        &self,
        principal: Principal,
        authenticated_at: DateTime<Utc>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Option<(String, Session)> {
        let cookie = random_token()?;
        let session = Session {
            principal,
            csrf_token: random_token()?,
            expires_at,
            sid: sid_of(&cookie),
            authenticated_at,
        };
        let mut live = self.live.lock();
        if live.next_sweep.is_none_or(|at| now >= at) {
            live.sessions.retain(|_, s| s.expires_at > now);
            live.next_sweep = Some(now + Duration::seconds(SWEEP_INTERVAL_SECONDS));
        }
        live.sessions.insert(session.sid.clone(), session.clone());
        Some((cookie, session))
    }

    /// The live session of a cookie value; an expired one is dropped.
    pub fn get(&self, cookie: &str, now: DateTime<Utc>) -> Option<Session> {
        self.get_by_sid(&sid_of(cookie), now)
    }

    /// The live session a bearer token names; an expired one is dropped.
    pub fn get_by_sid(&self, sid: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut live = self.live.lock();
        match live.sessions.get(sid) {
            Some(session) if session.expires_at > now => Some(session.clone()),
            Some(_) => {
                live.sessions.remove(sid);
                None
            }
            None => None,
        }
    }

    /// Ends a session (and so every token minted from it).
    pub fn remove_sid(&self, sid: &str) -> Option<Session> {
        self.live.lock().sessions.remove(sid)
    }

    /// Ends every session of a principal (after erasure).
    pub fn remove_principal(&self, principal: &Principal) {
        let key = principal.key();
        self.live
            .lock()
            .sessions
            .retain(|_, s| s.principal.key() != key);
    }

    /// Ends every session of a staff member, in every role (after deactivation).
    pub fn remove_staff(&self, id: ProfessionalId) {
        self.live.lock().sessions.retain(|_, s| match &s.principal {
            Principal::Staff { staff, .. } => staff.id != id,
            Principal::Client { .. } => true,
        });
    }

    /// Live and expired-but-unswept sessions held.
    pub fn len(&self) -> usize {
        self.live.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn pending_len(&self) -> usize {
        self.pending.lock().by_state.len()
    }

    pub fn add_pending(&self, state: String, pending: PendingLogin, now: DateTime<Utc>) {
        let mut map = self.pending.lock();
        // Expired ones first, from the old end only.
        while let Some((oldest, expires_at)) = map.order.front().cloned() {
            if expires_at > now
                && map.by_state.len() < PENDING_LOGIN_LIMIT
                && map.order.len() < 2 * PENDING_LOGIN_LIMIT
            {
                break;
            }
            map.order.pop_front();
            if map
                .by_state
                .get(&oldest)
                .is_some_and(|p| p.expires_at == expires_at)
            {
                map.by_state.remove(&oldest);
            }
        }
        map.order.push_back((state.clone(), pending.expires_at));
        map.by_state.insert(state, pending);
    }

    /// Takes a pending login: a state works once.
    pub fn take_pending(&self, state: &str, now: DateTime<Utc>) -> Option<PendingLogin> {
        self.pending
            .lock()
            .by_state
            .remove(state)
            .filter(|p| p.expires_at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omadata_vault::ClientId;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    fn pending(expires_at: DateTime<Utc>) -> PendingLogin {
        PendingLogin {
            nonce: "n".into(),
            pkce_verifier: Zeroizing::new("v".into()),
            role: None,
            next: None,
            expires_at,
        }
    }

    fn client() -> Principal {
        Principal::Client {
            id: ClientId::random(),
            display_name: "A".into(),
        }
    }

    #[test]
    fn pending_logins_are_bounded_and_expired_ones_purged() {
        let sessions = Sessions::default();
        for i in 0..(PENDING_LOGIN_LIMIT + 50) {
            sessions.add_pending(format!("s{i}"), pending(t0() + Duration::minutes(10)), t0());
        }
        assert_eq!(sessions.pending_len(), PENDING_LOGIN_LIMIT);
        // The oldest went first; the newest is there.
        assert!(sessions.take_pending("s0", t0()).is_none());
        assert!(
            sessions
                .take_pending(&format!("s{}", PENDING_LOGIN_LIMIT + 49), t0())
                .is_some()
        );
        // After they expire, one new login sweeps them all away.
        let later = t0() + Duration::minutes(11);
        sessions.add_pending(
            "fresh".into(),
            pending(later + Duration::minutes(10)),
            later,
        );
        assert_eq!(sessions.pending_len(), 1);
        assert!(sessions.take_pending("fresh", later).is_some());
    }

    #[test]
    fn expired_sessions_are_swept_and_sids_are_not_cookies() {
        let sessions = Sessions::default();
        let (cookie, session) = sessions
            .create(client(), t0(), t0(), t0() + Duration::hours(8))
            .unwrap();
        assert_ne!(cookie, session.sid);
        assert_eq!(sessions.get(&cookie, t0()).unwrap().sid, session.sid);
        assert!(sessions.get_by_sid(&session.sid, t0()).is_some());
        for _ in 0..100 {
            sessions
                .create(client(), t0(), t0(), t0() + Duration::hours(1))
                .unwrap();
        }
        assert_eq!(sessions.len(), 101);
        let later = t0() + Duration::hours(2);
        sessions
            .create(client(), later, later, later + Duration::hours(1))
            .unwrap();
        // The hour-long ones are gone; the first (8 h) and the new one remain.
        assert_eq!(sessions.len(), 2);
        assert!(sessions.remove_sid(&session.sid).is_some());
        assert!(sessions.get(&cookie, later).is_none());
    }
}

//! Who is signed in. Browser sessions are server-side, found by a random cookie value;
//! each carries its CSRF token. Pending logins hold the OpenID state, nonce and PKCE
//! verifier between the redirect out and the callback.

use crate::principal::Principal;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use zeroize::Zeroizing;

pub const SESSION_COOKIE: &str = "omadata_session";
pub const LOGIN_COOKIE: &str = "omadata_login";

#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// What the callback needs to finish a login. The verifier is a secret.
#[derive(Debug)]
pub struct PendingLogin {
    pub nonce: String,
    pub pkce_verifier: Zeroizing<String>,
    pub role: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// 256 random bits, base64url.
pub fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    pending: Mutex<HashMap<String, PendingLogin>>,
}

impl Sessions {
    pub fn create(
        &self,
        principal: Principal,
        expires_at: DateTime<Utc>,
    ) -> Option<(String, Session)> {
        let id = random_token()?;
        let session = Session {
            principal,
            csrf_token: random_token()?,
            expires_at,
        };
        self.sessions.lock().insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session under `id`; an expired one is dropped.
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut sessions = self.sessions.lock();
        match sessions.get(id) {
            Some(session) if session.expires_at > now => Some(session.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) -> Option<Session> {
        self.sessions.lock().remove(id)
    }

    /// Ends every session of a principal (after erasure).
    pub fn remove_principal(&self, principal: &Principal) {
        self.sessions
            .lock()
            .retain(|_, s| s.principal.key() != principal.key());
    }

    pub fn add_pending(&self, state: String, pending: PendingLogin, now: DateTime<Utc>) {
        let mut map = self.pending.lock();
        map.retain(|_, p| p.expires_at > now);
        map.insert(state, pending);
    }

    /// Takes a pending login: a state works once.
    pub fn take_pending(&self, state: &str, now: DateTime<Utc>) -> Option<PendingLogin> {
        self.pending
            .lock()
            .remove(state)
            .filter(|p| p.expires_at > now)
    }
}

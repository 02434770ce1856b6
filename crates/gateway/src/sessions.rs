//! Who is signed in. Browser sessions are server-side, found by a random cookie value;
//! each carries its CSRF token, an opaque id (`sid`, a hash of the cookie value) that the
//! bearer tokens minted from it name, and when the person authenticated. Pending logins
//! hold the OpenID state, nonce and PKCE verifier between the redirect out and the
//! callback.
//!
//! Memory is bounded: expired sessions are swept at most once a minute (amortised on
//! create), and pending logins are capped and dropped oldest first (all live equally
//! long, so insertion order is expiry order and no sweep scans the whole map).
//!
//! Sessions are also kept in the store (`SessionVault`), sealed under a key derived from
//! the service key, so a restarted gateway, or a standby taking over, signs nobody out.
//! Memory is a cache in front of it; a session ended here is ended in the store first.
//! Pending logins live in memory only: a sign-in under way when a gateway stops starts
//! again.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use omadata_app::Principal;
use omadata_consent::layout;
use omadata_consent::store::ConsentStore;
use omadata_vault::ProfessionalId;
use omadata_vault::store::StoreError;
use parking_lot::Mutex;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use zeroize::Zeroizing;

pub(crate) const SESSION_COOKIE: &str = "omadata_session";
pub(crate) const LOGIN_COOKIE: &str = "omadata_login";

/// Pending logins kept at most; beyond it the oldest is dropped.
pub(crate) const PENDING_LOGIN_LIMIT: usize = 10_000;

/// How often expired sessions are swept.
const SWEEP_INTERVAL_SECONDS: i64 = 60;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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

/// Sessions in the store, sealed (AES-256-GCM, the sid as associated data): a reader of
/// the database learns only how many sessions there are and when they end.
pub(crate) struct SessionVault {
    store: Arc<dyn ConsentStore>,
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SessionVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionVault").finish_non_exhaustive()
    }
}

/// Stored sessions read per scan when sweeping or ending many.
const SCAN_BATCH: usize = 1_000;

impl SessionVault {
    pub(crate) fn new(store: Arc<dyn ConsentStore>, secret: &[u8; 32]) -> Option<Self> {
        let key = UnboundKey::new(&AES_256_GCM, secret).ok()?;
        Some(Self {
            store,
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    fn key_of(sid: &str) -> Vec<u8> {
        layout::key(&[layout::SESSION, sid.as_bytes()])
    }

    /// Expiry (8 bytes, big-endian milliseconds) || nonce || sealed JSON.
    fn seal(&self, session: &Session) -> Result<Vec<u8>, StoreError> {
        let fail = |what: &str| StoreError::Backend(format!("sealing a session: {what}"));
        let mut plain = serde_json::to_vec(session).map_err(|e| fail(&e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| fail("no randomness"))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(session.sid.as_bytes()),
                &mut plain,
            )
            .map_err(|_| fail("sealing"))?;
        let mut out = session.expires_at.timestamp_millis().to_be_bytes().to_vec();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        Ok(out)
    }

    /// The session sealed in `value` under `sid`; `None` if it is not one (tampered, or
    /// sealed under another key: then it is as if signed out).
    fn open(&self, sid: &str, value: &[u8]) -> Option<Session> {
        let (nonce, sealed) = value.get(8..)?.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = Zeroizing::new(sealed.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(sid.as_bytes()), &mut sealed)
            .ok()?;
        serde_json::from_slice::<Session>(plain)
            .ok()
            .filter(|s| s.sid == sid)
    }

    fn expiry(value: &[u8]) -> Option<DateTime<Utc>> {
        let millis = i64::from_be_bytes(value.get(..8)?.try_into().ok()?);
        DateTime::from_timestamp_millis(millis)
    }

    fn put(&self, session: &Session) -> Result<(), StoreError> {
        self.store.apply(vec![(
            Self::key_of(&session.sid),
            Some(self.seal(session)?),
        )])
    }

    fn load(&self, sid: &str) -> Result<Option<Session>, StoreError> {
        Ok(self
            .store
            .get(&Self::key_of(sid))?
            .and_then(|value| self.open(sid, &value)))
    }

    fn remove(&self, sids: &[String]) -> Result<(), StoreError> {
        if sids.is_empty() {
            return Ok(());
        }
        self.store
            .apply(sids.iter().map(|sid| (Self::key_of(sid), None)).collect())
    }

    /// Removes every stored session `doomed` picks (given its sid and, when `open`, the
    /// opened session; else its expiry only).
    fn remove_where(
        &self,
        open: bool,
        doomed: impl Fn(&str, Option<&Session>, Option<DateTime<Utc>>) -> bool,
    ) -> Result<usize, StoreError> {
        let mut from: Option<Vec<u8>> = None;
        let mut removed = 0;
        loop {
            let page = self
                .store
                .scan(layout::SESSION, from.as_deref(), false, SCAN_BATCH + 1)?;
            let fresh: Vec<_> = page
                .into_iter()
                .filter(|(k, _)| from.as_deref() != Some(k.as_slice()))
                .collect();
            let Some((last, _)) = fresh.last() else {
                return Ok(removed);
            };
            from = Some(last.clone());
            let mut gone = Vec::new();
            for (key, value) in &fresh {
                let Some(sid) = key
                    .get(layout::SESSION.len()..)
                    .and_then(|b| std::str::from_utf8(b).ok())
                else {
                    continue;
                };
                let session = if open { self.open(sid, value) } else { None };
                if doomed(sid, session.as_ref(), Self::expiry(value)) {
                    gone.push(sid.to_owned());
                }
            }
            removed += gone.len();
            self.remove(&gone)?;
        }
    }
}

#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<Live>,
    /// Moved on by [`Sessions::forget_cached`]: a session read from the store before it
    /// is not cached.
    generation: std::sync::atomic::AtomicU64,
    pending: Mutex<PendingLogins>,
    /// `None`: in memory only (unit tests).
    vault: Option<Arc<SessionVault>>,
}

/// Runs store work on the blocking pool, so no async worker waits on the database.
async fn on_disk<T: Send + 'static>(
    vault: &Arc<SessionVault>,
    work: impl FnOnce(&SessionVault) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let vault = vault.clone();
    tokio::task::spawn_blocking(move || work(&vault))
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
}

impl Sessions {
    /// Sessions kept in `vault` as well as in memory.
    pub(crate) fn persistent(vault: SessionVault) -> Self {
        Self {
            vault: Some(Arc::new(vault)),
            ..Self::default()
        }
    }

    /// A new session, stored before it is returned; returns the cookie value and the
    /// session (`None`: no randomness, or the store refused it).
    pub async fn create(
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
        if let Some(vault) = &self.vault {
            let stored = session.clone();
            if let Err(error) = on_disk(vault, move |v| v.put(&stored)).await {
                tracing::error!(%error, "could not store a new session");
                return None;
            }
        }
        let sweep = {
            let mut live = self.live.lock();
            let due = live.next_sweep.is_none_or(|at| now >= at);
            if due {
                live.sessions.retain(|_, s| s.expires_at > now);
                live.next_sweep = Some(now + Duration::seconds(SWEEP_INTERVAL_SECONDS));
            }
            live.sessions.insert(session.sid.clone(), session.clone());
            due
        };
        if sweep && let Some(vault) = &self.vault {
            let swept = on_disk(vault, move |v| {
                v.remove_where(false, |_, _, expiry| expiry.is_none_or(|at| at <= now))
            })
            .await;
            if let Err(error) = swept {
                tracing::warn!(%error, "could not sweep expired sessions from the store");
            }
        }
        Some((cookie, session))
    }

    /// Forgets the sessions held in memory (another gateway may have ended one); they are
    /// read from the store again when next used.
    pub fn forget_cached(&self) {
        let mut live = self.live.lock();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        live.sessions.clear();
    }

    /// The live session of a cookie value; an expired one is dropped.
    pub async fn get(&self, cookie: &str, now: DateTime<Utc>) -> Option<Session> {
        self.get_by_sid(&sid_of(cookie), now).await
    }

    /// The live session a bearer token names: from memory, else from the store (a
    /// session from before this gateway started); an expired one is dropped.
    pub async fn get_by_sid(&self, sid: &str, now: DateTime<Utc>) -> Option<Session> {
        {
            let mut live = self.live.lock();
            match live.sessions.get(sid) {
                Some(session) if session.expires_at > now => return Some(session.clone()),
                Some(_) => {
                    live.sessions.remove(sid);
                    return None;
                }
                None => {}
            }
        }
        let vault = self.vault.as_ref()?;
        let owned = sid.to_owned();
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let stored = match on_disk(vault, move |v| v.load(&owned)).await {
            Ok(stored) => stored?,
            Err(error) => {
                tracing::error!(%error, "could not read a session from the store");
                return None;
            }
        };
        if stored.expires_at <= now {
            return None;
        }
        let mut live = self.live.lock();
        if self.generation.load(std::sync::atomic::Ordering::Acquire) == generation {
            live.sessions.insert(stored.sid.clone(), stored.clone());
        }
        Some(stored)
    }

    /// Ends a session (and so every token minted from it): in the store first, so it
    /// cannot come back; false if the store could not end it.
    pub async fn remove_sid(&self, sid: &str) -> bool {
        self.live.lock().sessions.remove(sid);
        match &self.vault {
            None => true,
            Some(vault) => {
                let owned = vec![sid.to_owned()];
                match on_disk(vault, move |v| v.remove(&owned)).await {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::error!(%error, "could not end a stored session");
                        false
                    }
                }
            }
        }
    }

    /// Ends every session of a principal (after erasure).
    pub async fn remove_principal(&self, principal: &Principal) -> bool {
        let key = principal.key();
        self.live
            .lock()
            .sessions
            .retain(|_, s| s.principal.key() != key);
        self.remove_stored(move |s| s.principal.key() == key).await
    }

    /// Ends every session of a staff member, in every role (after deactivation).
    pub async fn remove_staff(&self, id: ProfessionalId) -> bool {
        let is_theirs = move |s: &Session| match &s.principal {
            Principal::Staff { staff, .. } => staff.id == id,
            Principal::Client { .. } => false,
        };
        self.live.lock().sessions.retain(|_, s| !is_theirs(s));
        self.remove_stored(is_theirs).await
    }

    async fn remove_stored(&self, doomed: impl Fn(&Session) -> bool + Send + 'static) -> bool {
        let Some(vault) = &self.vault else {
            return true;
        };
        let removed = on_disk(vault, move |v| {
            v.remove_where(true, |_, session, _| session.is_some_and(&doomed))
        })
        .await;
        match removed {
            Ok(_) => true,
            Err(error) => {
                tracing::error!(%error, "could not end stored sessions");
                false
            }
        }
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
    use omadata_consent::store::MemoryConsentStore;
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

    #[tokio::test]
    async fn expired_sessions_are_swept_and_sids_are_not_cookies() {
        let sessions = Sessions::default();
        let (cookie, session) = sessions
            .create(client(), t0(), t0(), t0() + Duration::hours(8))
            .await
            .unwrap();
        assert_ne!(cookie, session.sid);
        assert_eq!(sessions.get(&cookie, t0()).await.unwrap().sid, session.sid);
        assert!(sessions.get_by_sid(&session.sid, t0()).await.is_some());
        for _ in 0..100 {
            sessions
                .create(client(), t0(), t0(), t0() + Duration::hours(1))
                .await
                .unwrap();
        }
        assert_eq!(sessions.len(), 101);
        let later = t0() + Duration::hours(2);
        sessions
            .create(client(), later, later, later + Duration::hours(1))
            .await
            .unwrap();
        // The hour-long ones are gone; the first (8 h) and the new one remain.
        assert_eq!(sessions.len(), 2);
        assert!(sessions.remove_sid(&session.sid).await);
        assert!(sessions.get(&cookie, later).await.is_none());
    }

    fn stored(store: &MemoryConsentStore, secret: [u8; 32]) -> Sessions {
        Sessions::persistent(SessionVault::new(Arc::new(store.clone()), &secret).unwrap())
    }

    #[tokio::test]
    async fn stored_sessions_outlive_the_gateway_sealed_and_end_for_good() {
        let store = MemoryConsentStore::new();
        let first = stored(&store, [7; 32]);
        let named = Principal::Client {
            id: ClientId::random(),
            display_name: "Aino Ainutlaatuinen".into(),
        };
        let (cookie, session) = first
            .create(named, t0(), t0(), t0() + Duration::hours(8))
            .await
            .unwrap();
        let (other_cookie, other) = first
            .create(client(), t0(), t0(), t0() + Duration::hours(8))
            .await
            .unwrap();
        // Nothing of the session is readable in the store: not the name, not the token.
        let raw = store.scan(layout::SESSION, None, false, 10).unwrap();
        assert_eq!(raw.len(), 2);
        for (_, value) in &raw {
            let text = String::from_utf8_lossy(value);
            assert!(
                !text.contains(&session.csrf_token) && !text.contains("Ainutlaatuinen"),
                "{text}"
            );
        }

        // A restarted gateway (same key) finds it; one with another key does not.
        let restarted = stored(&store, [7; 32]);
        let found = restarted.get(&cookie, t0()).await.unwrap();
        assert_eq!(
            (found.sid.as_str(), found.csrf_token.as_str()),
            (session.sid.as_str(), session.csrf_token.as_str())
        );
        assert!(stored(&store, [8; 32]).get(&cookie, t0()).await.is_none());
        // A value moved to another sid does not open there.
        let moved = store
            .get(&SessionVault::key_of(&session.sid))
            .unwrap()
            .unwrap();
        store.put_raw(&SessionVault::key_of(&other.sid), Some(moved));
        assert!(
            stored(&store, [7; 32])
                .get(&other_cookie, t0())
                .await
                .is_none()
        );

        // Signed out in one gateway: gone for every later one, and past expiry too.
        assert!(restarted.remove_sid(&session.sid).await);
        assert!(stored(&store, [7; 32]).get(&cookie, t0()).await.is_none());
        let later = t0() + Duration::hours(9);
        let third = stored(&store, [7; 32]);
        assert!(third.get(&other_cookie, later).await.is_none());
        // A sign-in after expiry sweeps the expired ones out of the store.
        third
            .create(client(), later, later, later + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(
            store.scan(layout::SESSION, None, false, 10).unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn ending_a_principal_ends_its_stored_sessions_too() {
        let store = MemoryConsentStore::new();
        let gateway = stored(&store, [7; 32]);
        let aino = client();
        let (cookie, _) = gateway
            .create(aino.clone(), t0(), t0(), t0() + Duration::hours(8))
            .await
            .unwrap();
        let (kept, _) = gateway
            .create(client(), t0(), t0(), t0() + Duration::hours(8))
            .await
            .unwrap();
        assert!(stored(&store, [7; 32]).remove_principal(&aino).await);
        assert!(
            gateway.get(&cookie, t0()).await.is_some(),
            "another gateway's memory"
        );
        assert!(stored(&store, [7; 32]).get(&cookie, t0()).await.is_none());
        assert!(stored(&store, [7; 32]).get(&kept, t0()).await.is_some());
    }
}

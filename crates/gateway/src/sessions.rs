//! Who is signed in. Browser sessions are server-side, found by a random cookie value;
//! each carries its CSRF token, an opaque id (`sid`, a hash of the cookie value) that the
//! bearer tokens minted from it name, and when the person authenticated.
//!
//! Sessions are kept in the store (`SessionVault`), sealed under a key derived from the
//! service key, so a restarted gateway, or another gateway of the same deployment, knows
//! them. Memory is a cache in front of it (expired sessions swept at most once a minute,
//! amortised on create); a session ended here is ended in the store first.
//!
//! A login under way (the OpenID state, nonce and PKCE verifier between the redirect out
//! and the callback) is kept by nobody on the server: it is sealed into the browser's
//! login cookie ([`LoginSealer`]), so whichever gateway the provider's redirect reaches
//! finishes it, and a flood of sign-in starts costs no memory.

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
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

pub(crate) const SESSION_COOKIE: &str = "omadata_session";
pub(crate) const LOGIN_COOKIE: &str = "omadata_login";

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
pub(crate) struct PendingLogin {
    pub nonce: String,
    pub pkce_verifier: Zeroizing<String>,
    pub role: Option<String>,
    /// The web app page to return to after the sign-in.
    pub next: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A [`PendingLogin`] with its state, as sealed into the login cookie.
#[derive(serde::Serialize, serde::Deserialize)]
struct SealedLogin {
    state: String,
    nonce: String,
    pkce_verifier: String,
    role: Option<String>,
    next: Option<String>,
    expires_at: DateTime<Utc>,
}

/// Seals logins under way into the login cookie (AES-256-GCM under a key derived from
/// the service key, which every gateway of a deployment shares): nonce || sealed JSON,
/// base64url.
pub(crate) struct LoginSealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for LoginSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginSealer").finish_non_exhaustive()
    }
}

/// Binds a sealed login to its use.
const LOGIN_AAD: &[u8] = b"omadata login cookie";

impl LoginSealer {
    pub(crate) fn new(secret: &[u8; 32]) -> Option<Self> {
        let key = UnboundKey::new(&AES_256_GCM, secret).ok()?;
        Some(Self {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// The login cookie's value for `pending` under `state` (`None`: no randomness).
    pub(crate) fn seal(&self, state: &str, pending: &PendingLogin) -> Option<String> {
        let sealed = SealedLogin {
            state: state.to_owned(),
            nonce: pending.nonce.clone(),
            pkce_verifier: pending.pkce_verifier.to_string(),
            role: pending.role.clone(),
            next: pending.next.clone(),
            expires_at: pending.expires_at,
        };
        let mut body = Zeroizing::new(serde_json::to_vec(&sealed).ok()?);
        drop(Zeroizing::new(sealed.pkce_verifier));
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        // Sealed in place: the plaintext is overwritten (and zeroized if sealing fails).
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(LOGIN_AAD),
                &mut *body,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The login the cookie holds, if it is one this deployment sealed, for the `state`
    /// the provider returned, and not expired at `now`.
    pub(crate) fn open(
        &self,
        cookie: &str,
        returned_state: &str,
        now: DateTime<Utc>,
    ) -> Option<PendingLogin> {
        if cookie.len() > 4096 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = Zeroizing::new(sealed.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(LOGIN_AAD), &mut sealed)
            .ok()?;
        let login: SealedLogin = serde_json::from_slice(plain).ok()?;
        let pkce_verifier = Zeroizing::new(login.pkce_verifier);
        let same_state =
            crate::extract::same_secret(login.state.as_bytes(), returned_state.as_bytes());
        (same_state && login.expires_at > now).then(|| PendingLogin {
            nonce: login.nonce,
            pkce_verifier,
            role: login.role,
            next: login.next,
            expires_at: login.expires_at,
        })
    }
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
        let Some(vault) = &self.vault else {
            return true;
        };
        let owned = vec![sid.to_owned()];
        let removed = on_disk(vault, move |v| v.remove(&owned)).await;
        self.forget_raced(|s| s.sid == sid);
        match removed {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, "could not end a stored session");
                false
            }
        }
    }

    /// After sessions were removed from the store: a read of one of them that began
    /// before the removal may have put it back in memory, or may yet; moving the
    /// generation on keeps the latter out and this drops the former.
    fn forget_raced(&self, doomed: impl Fn(&Session) -> bool) {
        let mut live = self.live.lock();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        live.sessions.retain(|_, s| !doomed(s));
    }

    /// Ends every session of a principal (after erasure).
    pub async fn remove_principal(&self, principal: &Principal) -> bool {
        let key = principal.key();
        self.live
            .lock()
            .sessions
            .retain(|_, s| s.principal.key() != key);
        let doomed = key.clone();
        let removed = self
            .remove_stored(move |s| s.principal.key() == doomed)
            .await;
        self.forget_raced(|s| s.principal.key() == key);
        removed
    }

    /// Ends every session of a staff member, in every role (after deactivation).
    pub async fn remove_staff(&self, id: ProfessionalId) -> bool {
        let is_theirs = move |s: &Session| match &s.principal {
            Principal::Staff { staff, .. } => staff.id == id,
            Principal::Client { .. } => false,
        };
        self.live.lock().sessions.retain(|_, s| !is_theirs(s));
        let removed = self.remove_stored(is_theirs).await;
        self.forget_raced(is_theirs);
        removed
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use omadata_consent::store::MemoryConsentStore;
    use omadata_vault::ClientId;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    fn client() -> Principal {
        Principal::Client {
            id: ClientId::random(),
            display_name: "A".into(),
        }
    }

    #[test]
    fn a_sealed_login_opens_only_for_its_state_before_it_expires_and_under_its_key() {
        let sealer = LoginSealer::new(&[7u8; 32]).unwrap();
        let pending = PendingLogin {
            nonce: "n".into(),
            pkce_verifier: Zeroizing::new("verifier".into()),
            role: Some("auditor".into()),
            next: Some("grants".into()),
            expires_at: t0() + Duration::minutes(10),
        };
        let cookie = sealer.seal("state-1", &pending).unwrap();
        assert!(!cookie.contains("verifier"));
        // Another gateway of the deployment (the same key) opens it.
        let other = LoginSealer::new(&[7u8; 32]).unwrap();
        let opened = other.open(&cookie, "state-1", t0()).unwrap();
        assert_eq!(opened.pkce_verifier.as_str(), "verifier");
        assert_eq!(
            (opened.role.as_deref(), opened.next.as_deref()),
            (Some("auditor"), Some("grants"))
        );
        assert!(
            other.open(&cookie, "state-2", t0()).is_none(),
            "another state"
        );
        assert!(
            other
                .open(&cookie, "state-1", t0() + Duration::minutes(10))
                .is_none(),
            "expired"
        );
        let stranger = LoginSealer::new(&[8u8; 32]).unwrap();
        assert!(
            stranger.open(&cookie, "state-1", t0()).is_none(),
            "another key"
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert!(other.open(&tampered, "state-1", t0()).is_none(), "tampered");
        assert!(other.open("not base64 !", "state-1", t0()).is_none());
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

//! Short-lived bearer tokens for API clients: EdDSA JWTs (jsonwebtoken) signed with the
//! service key, naming the principal, role and the browser session they were minted
//! from (`sid`). A token lives no longer than that session: the caller extractor looks
//! the session up on every use, so signing out or removing the person ends the token.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use omadata_app::Role;
use omadata_consent::ServiceKey;
use serde::{Deserialize, Serialize};

pub(crate) const AUDIENCE: &str = "omadata-api";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BearerClaims {
    pub iss: String,
    pub aud: String,
    /// `client:<id>` or `staff:<id>`.
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The session the token was minted from (required: a token without one is refused).
    pub sid: String,
}

pub struct BearerKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    issuer: String,
    /// Tokens whose signature already verified, by SHA-256 of the token. Safe to keep:
    /// a token's claims cannot change, expiry is still checked here on every use, and
    /// whether its session still lives is the caller's check on every use.
    verified: parking_lot::Mutex<std::collections::HashMap<[u8; 32], BearerClaims>>,
}

/// Bounds the verified-token cache; it is emptied when full.
const VERIFIED_CACHE_LIMIT: usize = 100_000;

impl std::fmt::Debug for BearerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerKeys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl BearerKeys {
    pub fn new(key: &ServiceKey, issuer: String) -> Result<Self, jsonwebtoken::errors::Error> {
        let jwk = key.public().to_jwk();
        Ok(Self {
            encoding: EncodingKey::from_ed_der(&key.pkcs8_der()),
            decoding: DecodingKey::from_ed_components(&jwk.x)?,
            kid: key.kid().to_owned(),
            issuer,
            verified: parking_lot::Mutex::new(std::collections::HashMap::new()),
        })
    }

    pub fn issue(
        &self,
        subject: String,
        role: Role,
        sid: String,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Option<(String, BearerClaims)> {
        let claims = BearerClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.into(),
            sub: subject,
            role,
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            jti: crate::sessions::random_token()?,
            sid,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).ok()?;
        Some((token, claims))
    }

    /// Verifies signature, issuer, audience and expiry against `now` (not the system clock).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<BearerClaims> {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(
            ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref(),
        );
        let fresh = |claims: &BearerClaims| {
            claims.exp > now.timestamp() && claims.iat <= now.timestamp() + 60
        };
        if let Some(claims) = self.verified.lock().get(&digest) {
            return fresh(claims).then(|| claims.clone());
        }
        let claims = self.verify_signature(token)?;
        let mut cache = self.verified.lock();
        if cache.len() >= VERIFIED_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(digest, claims.clone());
        fresh(&claims).then_some(claims)
    }

    fn verify_signature(&self, token: &str) -> Option<BearerClaims> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "aud", "iss", "sub", "sid"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        Some(
            jsonwebtoken::decode::<BearerClaims>(token, &self.decoding, &validation)
                .ok()?
                .claims,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// jsonwebtoken panics at the first sign or verify without a crypto backend: keep a
    /// test that does both.
    #[test]
    fn bearer_tokens_sign_verify_and_expire() {
        let key = ServiceKey::generate().unwrap();
        let keys = BearerKeys::new(&key, "http://127.0.0.1".into()).unwrap();
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let (token, claims) = keys
            .issue(
                "client:x".into(),
                Role::Client,
                "sid-1".into(),
                now,
                chrono::Duration::minutes(15),
            )
            .unwrap();
        assert_eq!(keys.verify(&token, now), Some(claims));
        assert_eq!(
            keys.verify(&token, now + chrono::Duration::minutes(15)),
            None
        );
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(keys.verify(&tampered, now), None);
        let other =
            BearerKeys::new(&ServiceKey::generate().unwrap(), "http://127.0.0.1".into()).unwrap();
        assert_eq!(other.verify(&token, now), None);
    }

    /// A token minted before tokens were bound to sessions (no `sid`) is refused.
    #[test]
    fn tokens_without_a_session_id_are_refused() {
        #[derive(Serialize)]
        struct Unbound {
            iss: String,
            aud: String,
            sub: String,
            role: Role,
            iat: i64,
            exp: i64,
            jti: String,
        }
        let key = ServiceKey::generate().unwrap();
        let keys = BearerKeys::new(&key, "http://127.0.0.1".into()).unwrap();
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(
            &header,
            &Unbound {
                iss: "http://127.0.0.1".into(),
                aud: AUDIENCE.into(),
                sub: "client:x".into(),
                role: Role::Client,
                iat: now.timestamp(),
                exp: now.timestamp() + 900,
                jti: "j".into(),
            },
            &EncodingKey::from_ed_der(&key.pkcs8_der()),
        )
        .unwrap();
        assert_eq!(keys.verify(&token, now), None);
    }
}

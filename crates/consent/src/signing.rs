//! The service's Ed25519 signing key (ed25519-dalek): it signs consent receipts and audit
//! checkpoints. The public half is published as a JWKS document so anyone can verify
//! offline.

use crate::error::ConsentError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Key id: the first 8 bytes of SHA-256 of the public key, hex.
fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&digest::digest(&digest::SHA256, public.as_bytes()).as_ref()[..8])
}

/// The private signing key. Zeroized on drop (ed25519-dalek's `zeroize` feature).
pub struct ServiceKey {
    signing: SigningKey,
    kid: String,
}

impl ServiceKey {
    pub fn generate() -> Result<Self, ConsentError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(seed.as_mut())
            .map_err(|_| ConsentError::SigningKey("the random number generator failed".into()))?;
        Ok(Self::from_seed(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let kid = key_id(&signing.verifying_key());
        Self { signing, kid }
    }

    /// A 32-byte secret for `context`, derived from this key's seed (HKDF-SHA256): every
    /// gateway with the same key file derives the same one, nothing else can.
    pub fn derive_secret(&self, context: &[u8]) -> Result<Zeroizing<[u8; 32]>, ConsentError> {
        use ring::hkdf;
        let seed = Zeroizing::new(self.signing.to_bytes());
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, b"omadata-derived-secret-v1").extract(seed.as_ref());
        let mut secret = Zeroizing::new([0u8; 32]);
        prk.expand(&[context], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(secret.as_mut()))
            .map_err(|_| ConsentError::SigningKey("deriving a secret failed".into()))?;
        Ok(secret)
    }

    /// Reads a key file: the 32-byte seed as 64 hex characters.
    pub fn from_file(path: &Path) -> Result<Self, ConsentError> {
        // Refuses a file others may read (`chmod 600` fixes it).
        let text = omadata_vault::keys::read_secret_file(path)
            .map_err(|e| ConsentError::SigningKey(format!("{}: {e}", path.display())))?;
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
            ConsentError::SigningKey(format!("{} must hold 64 hex characters", path.display()))
        })?;
        Ok(Self::from_seed(&seed))
    }

    /// Writes the seed to a new file readable only by its owner; never overwrites.
    pub fn write_new_file(&self, path: &Path) -> Result<(), ConsentError> {
        let fail = |e: std::io::Error| ConsentError::SigningKey(format!("{}: {e}", path.display()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(fail)?;
        let mut text = Zeroizing::new(hex::encode(self.signing.to_bytes()));
        text.push('\n');
        file.write_all(text.as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        omadata_vault::keys::sync_parent_dir(path).map_err(fail)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key as PKCS#8 DER (RFC 8410), for JWT libraries that take that form.
    pub fn pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let mut der = Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&PREFIX);
        der.extend_from_slice(self.signing.as_bytes());
        der
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: self.signing.verifying_key(),
            kid: self.kid.clone(),
        }
    }

    /// Signs `message`; the signature as base64url without padding.
    pub fn sign(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.sign(message).to_bytes())
    }
}

impl fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceKey")
            .field("kid", &self.kid)
            .field("signing", &"<redacted>")
            .finish()
    }
}

/// A public verification key with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    kid: String,
}

impl PublicKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Strict Ed25519 verification of a base64url signature.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature_b64) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        let signature = Signature::from_bytes(&bytes);
        self.key.verify_strict(message, &signature).is_ok()
            && self.key.verify(message, &signature).is_ok()
    }

    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(self.key.as_bytes()),
            kid: self.kid.clone(),
            alg: "EdDSA".into(),
            key_use: "sig".into(),
        }
    }

    pub fn from_jwk(jwk: &Jwk) -> Result<Self, ConsentError> {
        let bad = |why: &str| ConsentError::SigningKey(format!("JWK {}: {why}", jwk.kid));
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(bad("not an Ed25519 (OKP) key"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(&jwk.x)
            .map_err(|_| bad("x is not base64url"))?;
        let bytes = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad("x is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("x is not a curve point"))?;
        if key_id(&key) != jwk.kid {
            return Err(bad("kid does not match the key"));
        }
        Ok(Self {
            key,
            kid: jwk.kid.clone(),
        })
    }
}

/// RFC 8037 JSON Web Key for an Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub key_use: String,
}

/// A JWKS document: `{"keys": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    pub fn of(keys: &[PublicKey]) -> Self {
        Self {
            keys: keys.iter().map(PublicKey::to_jwk).collect(),
        }
    }

    /// The Ed25519 keys of the document; other key types are skipped.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter_map(|jwk| PublicKey::from_jwk(jwk).ok())
            .collect()
    }

    pub fn find(&self, kid: &str) -> Option<PublicKey> {
        self.public_keys().into_iter().find(|k| k.kid == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_jwks_round_trip() {
        let key = ServiceKey::generate().unwrap();
        let signature = key.sign(b"hello");
        let jwks = Jwks::of(&[key.public()]);
        let json = serde_json::to_string(&jwks).unwrap();
        let parsed: Jwks = serde_json::from_str(&json).unwrap();
        let public = parsed.find(key.kid()).unwrap();
        assert!(public.verify(b"hello", &signature));
        assert!(!public.verify(b"hellp", &signature));
        assert!(
            !public.verify(b"hello", &signature.replacen('A', "B", 1)) || !signature.contains('A')
        );
        assert!(!format!("{key:?}").contains(&hex::encode(key.signing.to_bytes())));
    }

    #[test]
    fn key_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = ServiceKey::generate().unwrap();
        key.write_new_file(&path).unwrap();
        assert_eq!(ServiceKey::from_file(&path).unwrap().kid(), key.kid());
        assert!(
            ServiceKey::generate()
                .unwrap()
                .write_new_file(&path)
                .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_signing_key_file_others_may_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = ServiceKey::generate().unwrap();
        key.write_new_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ServiceKey::from_file(&path).unwrap().kid(), key.kid());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = ServiceKey::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("signing.key") && err.contains("chmod 600"),
            "{err}"
        );
    }
}

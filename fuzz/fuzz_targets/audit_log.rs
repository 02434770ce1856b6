//! Exported audit logs and checkpoints from outside: the verifier never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omadata_consent::audit::{Checkpoint, verify_entries};
use omadata_consent::{Jwks, ServiceKey};
use std::sync::OnceLock;

static KEYS: OnceLock<Jwks> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let keys = KEYS.get_or_init(|| Jwks::of(&[ServiceKey::from_seed(&[9; 32]).public()]));
    let mut parts = data.splitn(2, |b| *b == 0);
    let entries = parts.next().unwrap_or_default();
    let checkpoints: Vec<Checkpoint> = parts
        .next()
        .and_then(|c| serde_json::from_slice(c).ok())
        .unwrap_or_default();
    let lines = entries.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let _ = verify_entries(lines, &checkpoints, keys);
});

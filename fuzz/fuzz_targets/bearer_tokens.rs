//! Bearer tokens from outside: verification never panics and never accepts a forgery.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omadata_consent::ServiceKey;
use omadata_gateway::tokens::BearerKeys;
use std::sync::OnceLock;

static KEYS: OnceLock<BearerKeys> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let keys = KEYS.get_or_init(|| BearerKeys::new(&ServiceKey::from_seed(&[3; 32]), "http://127.0.0.1/".into()).expect("keys"));
    let Ok(token) = std::str::from_utf8(data) else { return };
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("time");
    assert!(keys.verify(token, now).is_none(), "a forged token verified");
});

//! Receipt files from outside: verification never panics and never accepts what the
//! key did not sign.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omadata_consent::receipt::verify_receipt;
use omadata_consent::{Jwks, ServiceKey};
use std::sync::OnceLock;

static KEYS: OnceLock<Jwks> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let keys = KEYS.get_or_init(|| Jwks::of(&[ServiceKey::from_seed(&[7; 32]).public()]));
    assert!(verify_receipt(data, keys).is_err(), "an unsigned receipt verified");
    let _ = serde_json::from_slice::<Jwks>(data).map(|j| j.public_keys());
});

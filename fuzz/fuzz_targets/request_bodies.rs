//! JSON bodies the API accepts: parsing arbitrary bytes never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<omadata_consent::Narrowing>(data);
    let _ = serde_json::from_slice::<omadata_consent::AccessAsk>(data);
    let _ = serde_json::from_slice::<omadata_consent::NewStaff>(data);
    let _ = serde_json::from_slice::<omadata_gateway::routes::client::WriteBody>(data);
    let _ = serde_json::from_slice::<omadata_gateway::routes::client::NewGrant>(data);
    let _ = serde_json::from_slice::<omadata_gateway::routes::professional::NewRequest>(data);
});

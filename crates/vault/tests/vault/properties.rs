//! Property tests over random field values and sizes.
use crate::{new_key, open, t};
use omadata_vault::memory::MemoryStore;
use omadata_vault::{Author, ClientId, VaultError, envelope, keys::DataKey};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use serde_json::json;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Any plaintext of any size seals and opens back to itself, and to nothing else
    /// under any other version.
    #[test]
    fn seal_open_round_trips_any_bytes(plaintext in proptest::collection::vec(any::<u8>(), 0..70_000), version in 1u64..u64::MAX) {
        let rng = SystemRandom::new();
        let key = DataKey::generate(&rng).unwrap();
        let client = ClientId::random();
        let sealed = envelope::seal_record(&key, &rng, client, "plan.follow_up", version, &plaintext).unwrap();
        let opened = envelope::open_record(&key, client, "plan.follow_up", version, &sealed).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        prop_assert!(envelope::open_record(&key, client, "plan.follow_up", version - 1, &sealed).is_err());
    }

    /// Text within the limit is stored and read back exactly; text over it is refused
    /// and nothing is stored.
    #[test]
    fn text_fields_accept_exactly_what_fits(text in "[\\PC\n\t]{0,260}") {
        let store = MemoryStore::new();
        let vault = open(&store, new_key().0);
        let client = vault.enrol_client().unwrap();
        let result = vault.write(client, "identity.name", json!(text), Author::Client(client), t(0));
        if text.chars().count() <= 200 {
            let record = result.unwrap();
            prop_assert_eq!(record.version, 1);
            prop_assert_eq!(vault.read_value(client, "identity.name").unwrap().unwrap(), json!(text));
        } else {
            let refused = matches!(result, Err(VaultError::InvalidValue { .. }));
            prop_assert!(refused);
            prop_assert!(store.raw_records().is_empty());
        }
    }

    /// Lists of random lengths and item sizes follow the list limits.
    #[test]
    fn list_fields_follow_item_and_length_limits(items in proptest::collection::vec("[a-zA-Z0-9åäö ]{0,70}", 0..14)) {
        let store = MemoryStore::new();
        let vault = open(&store, new_key().0);
        let client = vault.enrol_client().unwrap();
        let fits = items.len() <= 10 && items.iter().all(|i| i.chars().count() <= 60);
        let result = vault.write(client, "identity.languages", json!(items), Author::Client(client), t(0));
        prop_assert_eq!(result.is_ok(), fits);
        if fits {
            prop_assert_eq!(vault.read_value(client, "identity.languages").unwrap().unwrap(), json!(items));
        } else {
            prop_assert!(store.raw_records().is_empty());
        }
    }

    /// Any JSON value of the wrong shape for a field is refused without a panic.
    #[test]
    fn wrong_shapes_are_refused(n in any::<i64>(), b in any::<bool>(), s in ".{0,20}") {
        let store = MemoryStore::new();
        let vault = open(&store, new_key().0);
        let client = vault.enrol_client().unwrap();
        let me = Author::Client(client);
        for value in [json!(n), json!(b), json!([s.clone()]), json!({"v": s.clone()})] {
            prop_assert!(vault.write(client, "identity.name", value, me, t(0)).is_err());
        }
        prop_assert!(vault.write(client, "plan.next_meeting", json!(s), me, t(0)).is_err() || chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_ok());
    }
}

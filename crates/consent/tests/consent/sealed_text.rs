//! A purpose's free text is stored only sealed under the client's data key: the raw store
//! never holds it in clear, readers see it opened, and erasing the client shreds it.

use crate::*;
use omadata_consent::receipt::verify_receipt;
use omadata_consent::store::ConsentStore;

const GRANT_TEXT: &str = "Opiskelupaikan etsiminen";
const REQUEST_TEXT: &str = "Asunnottomuuden selvittäminen ja tuki";

fn with_text(text: &str) -> Purpose {
    Purpose {
        code: PurposeCode::Guidance,
        text: Some(text.into()),
    }
}

/// Every byte the consent store holds: keys, values and the audit journal.
fn raw_bytes(store: &MemoryConsentStore) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = store
        .scan(b"", None, false, usize::MAX)
        .unwrap()
        .into_iter()
        .flat_map(|(k, v)| [k, v])
        .collect();
    for seq in 0..store.journal_len().unwrap() {
        all.push(store.journal_record(seq).unwrap().unwrap().bytes);
    }
    all.extend(store.journal_snapshot().unwrap());
    all
}

fn holds(haystack: &[Vec<u8>], needle: &str) -> bool {
    haystack
        .iter()
        .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// A grant given with a text and a request asked with another, the request approved
/// narrowed, the grant narrowed and revoked, and the sweep run: every way a record with
/// a purpose text is written.
fn history(f: &Fixture, c: ClientId, pro: &Grantee) -> (GrantId, RequestId, GrantId) {
    let mut terms = ask(
        &["identity.name", "identity.email"],
        &[Action::Read],
        t(0) + days(30),
    );
    terms.purpose = with_text(GRANT_TEXT);
    let grant = f.consent.grant(c, pro, terms, t(0)).unwrap();
    let code = f.consent.issue_pairing_code(c, t(1)).unwrap();
    let mut terms = ask(&["identity.name"], &[Action::Read], t(0) + days(20));
    terms.purpose = with_text(REQUEST_TEXT);
    let request = f
        .consent
        .request_access(pro, &code.code, terms, t(2))
        .unwrap();
    let approved = f
        .consent
        .approve(c, request.id, &Narrowing::default(), t(3))
        .unwrap();
    let narrowing = Narrowing {
        fields: Some(paths(&["identity.name"])),
        ..Narrowing::default()
    };
    f.consent.narrow(c, grant.id, &narrowing, t(4)).unwrap();
    f.consent.revoke(c, grant.id, t(5)).unwrap();
    f.consent.sweep(t(0) + days(21)).unwrap();
    (grant.id, request.id, approved.id)
}

#[test]
fn the_raw_store_never_holds_a_purpose_text_in_clear() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let (grant, request, approved) = history(&f, c, &pro);
    let raw = raw_bytes(&f.store);
    assert!(
        !holds(&raw, GRANT_TEXT),
        "a grant's text is stored in clear"
    );
    assert!(
        !holds(&raw, REQUEST_TEXT),
        "a request's text is stored in clear"
    );
    // Not even in pieces: a part of either text is not found either.
    assert!(!holds(&raw, "Opiskelupaikan") && !holds(&raw, "Asunnottomuuden"));

    // Readers see the texts as given.
    let read = f.consent.get_grant(grant).unwrap().unwrap();
    assert_eq!(read.purpose.text.as_deref(), Some(GRANT_TEXT));
    let read = f.consent.request(request).unwrap().unwrap();
    assert_eq!(read.purpose.text.as_deref(), Some(REQUEST_TEXT));
    let read = f.consent.get_grant(approved).unwrap().unwrap();
    assert_eq!(read.purpose.text.as_deref(), Some(REQUEST_TEXT));
    assert!(
        f.consent
            .grants_for_professional(pro.professional)
            .unwrap()
            .iter()
            .all(|g| g.purpose.text.is_some())
    );
    // The receipts the client is handed carry the text, and verify.
    let receipts = f.consent.receipts(c, grant).unwrap();
    assert_eq!(receipts.len(), 3, "grant, narrow, revoke");
    for bytes in receipts {
        let receipt = verify_receipt(&bytes, &f.consent.jwks()).unwrap();
        assert_eq!(
            receipt.receipt.omadata.purpose.text.as_deref(),
            Some(GRANT_TEXT)
        );
    }
}

#[test]
fn after_erasure_the_text_cannot_be_read_even_with_the_stores_bytes_and_the_master_key() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let (grant, request, approved) = history(&f, c, &pro);
    // A copy of the consent store as it was (a backup, or sectors left on a disk).
    let copy = MemoryConsentStore::new();
    for (key, value) in f.store.scan(b"", None, false, usize::MAX).unwrap() {
        copy.put_raw(&key, Some(value));
    }

    // The vault shreds the client's key: here alone, as if the consent side had not
    // run yet (a crash in between), so the consent records are all still there.
    f.vault.erase_client(c).unwrap();

    // The same vault, holding the master key, reads the copy: no text opens.
    let reopened = fixture_over(copy.clone(), f.vault.clone());
    for consent in [&f.consent, &reopened.consent] {
        let grants = consent.grants_for_client(c).unwrap();
        assert_eq!(grants.len(), 2);
        assert!(
            grants.iter().all(|g| g.purpose.text.is_none()),
            "{grants:?}"
        );
        let requests = consent.requests_for_client(c).unwrap();
        assert_eq!(requests.len(), 1);
        assert!(requests[0].purpose.text.is_none());
        assert!(
            consent
                .requests_by_professional(pro.professional)
                .unwrap()
                .iter()
                .all(|r| r.purpose.text.is_none())
        );
        assert!(
            consent
                .request(request)
                .unwrap()
                .unwrap()
                .purpose
                .text
                .is_none()
        );
        let (page, _) = consent
            .clients_of_professional_page(pro.professional, None, 10, |_| true)
            .unwrap();
        assert_eq!(page.len(), 1);
        // Receipts carrying the text were sealed too: none can be handed out any more.
        assert!(consent.receipts(c, grant).unwrap().is_empty());
        // Decisions go on without the text.
        assert!(
            consent
                .decide(pro.professional, c, "identity.name", Action::Read, t(6))
                .unwrap()
                .is_permit()
        );
    }
    // Every sealed text of the copy fails to open, with the master key loaded.
    let mut sealed_seen = 0;
    for (_, value) in copy.scan(b"", None, false, usize::MAX).unwrap() {
        let Ok(record) = serde_json::from_slice::<serde_json::Value>(&value) else {
            continue;
        };
        if let Some(sealed) = record["purpose"]["sealed_text"].as_str() {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(sealed)
                .unwrap();
            let id = record["id"].as_str().unwrap();
            for label in [
                format!("grant/{id}/purpose.text"),
                format!("request/{id}/purpose.text"),
            ] {
                assert!(f.vault.open_for_client(c, &label, &bytes).is_err());
            }
            sealed_seen += 1;
        }
    }
    assert_eq!(
        sealed_seen, 3,
        "two grants and one request hold sealed text"
    );
    // Changes to the erased client's records go on (the consent side of the erasure).
    f.consent.revoke(c, approved, t(7)).unwrap();
    assert_eq!(f.consent.erase_client(c, t(8)).unwrap(), 2);
    assert!(f.consent.grants_for_client(c).unwrap().is_empty());
}

#[test]
fn a_record_stored_with_its_text_in_clear_before_sealing_still_reads() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let mut terms = ask(&["identity.name"], &[Action::Read], t(0) + days(30));
    terms.purpose = with_text(GRANT_TEXT);
    let grant = f.consent.grant(c, &pro, terms, t(0)).unwrap();
    let receipt = f.consent.receipts(c, grant.id).unwrap().pop().unwrap();

    // As written before texts were sealed: the grant's JSON with `purpose.text` in clear,
    // and its receipt file as signed.
    let mut key = b"g/".to_vec();
    key.extend_from_slice(grant.id.as_bytes());
    let old_grant = serde_json::to_vec(&grant).unwrap();
    assert!(
        old_grant
            .windows(GRANT_TEXT.len())
            .any(|w| w == GRANT_TEXT.as_bytes())
    );
    f.store.put_raw(&key, Some(old_grant));
    let mut receipt_key = b"rcpt/".to_vec();
    receipt_key.extend_from_slice(grant.id.as_bytes());
    receipt_key.extend_from_slice(&0u32.to_be_bytes());
    f.store.put_raw(&receipt_key, Some(receipt.clone()));

    let read = f.consent.get_grant(grant.id).unwrap().unwrap();
    assert_eq!(read, grant);
    assert_eq!(
        f.consent.grants_for_client(c).unwrap()[0]
            .purpose
            .text
            .as_deref(),
        Some(GRANT_TEXT)
    );
    assert_eq!(f.consent.receipts(c, grant.id).unwrap(), vec![receipt]);

    // Its next change stores it sealed.
    f.consent.revoke(c, grant.id, t(1)).unwrap();
    let stored = f.store.get(&key).unwrap().unwrap();
    assert!(
        !stored
            .windows(GRANT_TEXT.len())
            .any(|w| w == GRANT_TEXT.as_bytes())
    );
    assert_eq!(
        f.consent
            .get_grant(grant.id)
            .unwrap()
            .unwrap()
            .purpose
            .text
            .as_deref(),
        Some(GRANT_TEXT)
    );
}

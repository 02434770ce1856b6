use crate::*;
use omadata_consent::receipt::{ReceiptInvalid, verify_receipt};

#[test]
fn receipts_verify_offline_and_fail_when_any_byte_is_altered() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::HealthCare);
    let grant = f
        .consent
        .grant(
            c,
            &pro,
            ask(
                &["health.status", "identity.name"],
                &[Action::Read],
                t(0) + days(30),
            ),
            t(0),
        )
        .unwrap();
    let bytes = f.consent.receipts(c, grant.id).unwrap().pop().unwrap();
    // Only the published JWKS is needed.
    let jwks: Jwks =
        serde_json::from_str(&serde_json::to_string(&f.consent.jwks()).unwrap()).unwrap();
    let receipt = verify_receipt(&bytes, &jwks).unwrap();
    assert_eq!(receipt.receipt.pii_principal_id, c);
    assert_eq!(receipt.receipt.jurisdiction, "FI");
    assert!(receipt.receipt.sensitive);
    assert_eq!(receipt.receipt.spi_cat, vec!["health".to_string()]);
    assert_eq!(receipt.receipt.omadata.grant_id, grant.id);
    assert_eq!(
        receipt.receipt.policy_url,
        pro.organisation.privacy_notice_url
    );

    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x20] {
            let mut altered = bytes.clone();
            altered[i] ^= flip;
            assert!(
                verify_receipt(&altered, &jwks).is_err(),
                "byte {i} ^ {flip:#x} went unnoticed"
            );
        }
    }
    let mut longer = bytes.clone();
    longer.push(b' ');
    assert!(verify_receipt(&longer, &jwks).is_err());
    let other = Jwks::of(&[ServiceKey::generate().unwrap().public()]);
    assert!(matches!(
        verify_receipt(&bytes, &other),
        Err(ReceiptInvalid::UnknownKey(_))
    ));
}

#[test]
fn a_receipt_resigned_with_another_key_under_the_same_kid_fails() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let grant = f
        .consent
        .grant(
            c,
            &pro,
            ask(&["identity.name"], &[Action::Read], t(100)),
            t(0),
        )
        .unwrap();
    let bytes = f.consent.receipts(c, grant.id).unwrap().pop().unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let forger = ServiceKey::generate().unwrap();
    value["signature"]["value"] = serde_json::json!(forger.sign(b"anything"));
    let forged = omadata_consent::canonical::to_vec(&value).unwrap();
    assert!(matches!(
        verify_receipt(&forged, &f.consent.jwks()),
        Err(ReceiptInvalid::BadSignature)
    ));
}

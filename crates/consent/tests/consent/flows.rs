use crate::*;
use omadata_consent::audit::{AuditEvent, AuditFilter};
use omadata_consent::receipt::verify_receipt;

#[test]
fn request_approve_narrowed_decide_revoke() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let code = f.consent.issue_pairing_code(c, t(0)).unwrap();
    assert_eq!(code.code.len(), 11);

    let request = f
        .consent
        .request_access(
            &pro,
            &code.code.to_lowercase().replace('-', ""),
            ask(
                &["identity.name", "identity.phone", "plan.agreed_actions"],
                &[Action::Read, Action::Write],
                t(0) + days(30),
            ),
            t(10),
        )
        .unwrap();
    assert_eq!(request.client, c);
    assert_eq!(f.consent.requests_for_client(c).unwrap().len(), 1);
    // The code is single use.
    assert!(matches!(
        f.consent.request_access(
            &pro,
            &code.code,
            ask(&["identity.name"], &[Action::Read], t(0) + days(1)),
            t(11)
        ),
        Err(ConsentError::PairingCodeInvalid)
    ));

    let narrowing = Narrowing {
        fields: Some(paths(&["identity.name", "plan.agreed_actions"])),
        actions: Some(actions(&[Action::Read])),
        valid_until: Some(t(0) + days(7)),
    };
    let grant = f.consent.approve(c, request.id, &narrowing, t(20)).unwrap();
    assert_eq!(grant.fields.len(), 2);
    assert_eq!(grant.actions, actions(&[Action::Read]));
    assert_eq!(grant.valid_until, t(0) + days(7));
    assert_eq!(
        f.consent.request(request.id).unwrap().unwrap().status,
        RequestStatus::Approved
    );

    let p = pro.professional;
    let permit = f
        .consent
        .decide(p, c, "identity.name", Action::Read, t(30))
        .unwrap();
    assert_eq!(
        permit,
        Decision::Permit {
            grant: grant.id,
            purpose: guidance()
        }
    );
    assert_eq!(
        f.consent
            .decide(p, c, "identity.phone", Action::Read, t(30))
            .unwrap(),
        Decision::Deny {
            reason: DenyReason::FieldNotGranted
        }
    );
    assert_eq!(
        f.consent
            .decide(p, c, "identity.name", Action::Write, t(30))
            .unwrap(),
        Decision::Deny {
            reason: DenyReason::ActionNotGranted
        }
    );
    let stranger = ProfessionalId::random();
    assert_eq!(
        f.consent
            .decide(stranger, c, "identity.name", Action::Read, t(30))
            .unwrap(),
        Decision::Deny {
            reason: DenyReason::NoGrant
        }
    );

    f.consent.revoke(c, grant.id, t(40)).unwrap();
    assert_eq!(
        f.consent
            .decide(p, c, "identity.name", Action::Read, t(40))
            .unwrap(),
        Decision::Deny {
            reason: DenyReason::Revoked
        }
    );
    assert!(matches!(
        f.consent.revoke(c, grant.id, t(41)),
        Err(ConsentError::GrantNotActive(_))
    ));

    // Receipts for the grant and the revocation, both valid.
    let receipts = f.consent.receipts(c, grant.id).unwrap();
    assert_eq!(receipts.len(), 2);
    for bytes in &receipts {
        verify_receipt(bytes, &f.consent.jwks()).unwrap();
    }
    let last = verify_receipt(&receipts[1], &f.consent.jwks()).unwrap();
    assert_eq!(last.receipt.omadata.revoked_at, Some(t(40)));

    // Every event is in the log, for this client, in order.
    let events: Vec<AuditEvent> = f
        .consent
        .audit()
        .query(AuditFilter::Client(c), None, None, None, 100)
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        vec![
            AuditEvent::PairingCode,
            AuditEvent::Request,
            AuditEvent::Approve,
            AuditEvent::Revoke
        ]
    );
}

#[test]
fn approval_may_only_narrow_and_refusals_change_nothing() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let code = f.consent.issue_pairing_code(c, t(0)).unwrap();
    let request = f
        .consent
        .request_access(
            &pro,
            &code.code,
            ask(&["identity.name"], &[Action::Read], t(0) + days(10)),
            t(1),
        )
        .unwrap();
    let log_len = f.consent.audit().len();
    for widening in [
        Narrowing {
            fields: Some(paths(&["identity.name", "identity.phone"])),
            ..Default::default()
        },
        Narrowing {
            actions: Some(actions(&[Action::Read, Action::Write])),
            ..Default::default()
        },
        Narrowing {
            valid_until: Some(t(0) + days(11)),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            f.consent.approve(c, request.id, &widening, t(2)),
            Err(ConsentError::Widening(_))
        ));
    }
    assert!(
        f.consent
            .approve(
                c,
                request.id,
                &Narrowing {
                    valid_until: Some(t(1)),
                    ..Default::default()
                },
                t(2)
            )
            .is_err()
    );
    // Another client cannot answer it, and learns nothing more than "unknown".
    assert!(matches!(
        f.consent
            .approve(client(), request.id, &Narrowing::default(), t(2)),
        Err(ConsentError::UnknownRequest(_))
    ));
    assert_eq!(f.consent.audit().len(), log_len);
    assert_eq!(
        f.consent.request(request.id).unwrap().unwrap().status,
        RequestStatus::Pending
    );
    assert!(f.consent.grants_for_client(c).unwrap().is_empty());

    let denied = f.consent.deny(c, request.id, t(3)).unwrap();
    assert_eq!(denied.status, RequestStatus::Denied);
    assert!(matches!(
        f.consent
            .approve(c, request.id, &Narrowing::default(), t(4)),
        Err(ConsentError::RequestNotPending(_))
    ));
}

#[test]
fn codes_expire_requests_lapse_and_limits_hold() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let code = f.consent.issue_pairing_code(c, t(0)).unwrap();
    let lifetime = f.consent.config().pairing_code_lifetime;
    assert!(matches!(
        f.consent.request_access(
            &pro,
            &code.code,
            ask(&["identity.name"], &[Action::Read], t(0) + days(1)),
            t(0) + lifetime
        ),
        Err(ConsentError::PairingCodeInvalid)
    ));
    assert!(matches!(
        f.consent.request_access(
            &pro,
            "ABCDE-FGHJK",
            ask(&["identity.name"], &[Action::Read], t(0) + days(1)),
            t(1)
        ),
        Err(ConsentError::PairingCodeInvalid)
    ));

    let code = f.consent.issue_pairing_code(c, t(0)).unwrap();
    let too_long = f.consent.request_access(
        &pro,
        &code.code,
        ask(&["identity.name"], &[Action::Read], t(0) + days(400)),
        t(1),
    );
    assert!(matches!(
        too_long,
        Err(ConsentError::Invalid {
            what: "valid_until",
            ..
        })
    ));
    let unknown = f.consent.request_access(
        &pro,
        &code.code,
        ask(&["identity.shoe"], &[Action::Read], t(0) + days(1)),
        t(1),
    );
    assert!(matches!(unknown, Err(ConsentError::UnknownField(_))));
    let no_actions = f.consent.request_access(
        &pro,
        &code.code,
        ask(&["identity.name"], &[], t(0) + days(1)),
        t(1),
    );
    assert!(matches!(
        no_actions,
        Err(ConsentError::Invalid {
            what: "actions",
            ..
        })
    ));
    // A refused request leaves the code usable.
    let request = f
        .consent
        .request_access(
            &pro,
            &code.code,
            ask(&["identity.name"], &[Action::Read], t(0) + days(1)),
            t(1),
        )
        .unwrap();

    let answer_by = request.answer_by;
    assert!(matches!(
        f.consent
            .approve(c, request.id, &Narrowing::default(), answer_by),
        Err(ConsentError::RequestNotPending(_))
    ));
    let sweep = f.consent.sweep(answer_by).unwrap();
    assert_eq!(sweep.requests_expired, 1);
    assert_eq!(
        f.consent.request(request.id).unwrap().unwrap().status,
        RequestStatus::Expired
    );
    assert_eq!(f.consent.sweep(answer_by).unwrap().requests_expired, 0);
}

#[test]
fn own_initiative_grant_by_category_resolves_to_paths() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::EmploymentServices);
    let terms = AccessAsk {
        fields: vec![FieldSelector::Category("background".into())],
        actions: actions(&[Action::Read]),
        purpose: Purpose {
            code: PurposeCode::EmployerCooperation,
            text: None,
        },
        valid_until: t(0) + days(30),
    };
    let grant = f.consent.grant(c, &pro, terms, t(0)).unwrap();
    assert!(grant.fields.contains("background.skills"));
    assert!(grant.fields.iter().all(|p| p.starts_with("background.")));
    assert!(
        f.consent
            .decide(pro.professional, c, "background.skills", Action::Read, t(1))
            .unwrap()
            .is_permit()
    );
    assert_eq!(
        f.consent
            .grants_for_professional(pro.professional)
            .unwrap()
            .len(),
        1
    );
    let bad = AccessAsk {
        fields: vec![FieldSelector::Category("nonsense".into())],
        ..ask(&[], &[Action::Read], t(0) + days(1))
    };
    assert!(matches!(
        f.consent.grant(c, &pro, bad, t(0)),
        Err(ConsentError::UnknownCategory(_))
    ));
}

#[test]
fn erasing_a_client_ends_every_grant_and_removes_consent_records() {
    let f = fixture();
    let c = client();
    let other = client();
    let pro = professional(Profession::YouthWork);
    let grant = f
        .consent
        .grant(
            c,
            &pro,
            ask(&["identity.name"], &[Action::Read], t(1000)),
            t(0),
        )
        .unwrap();
    let kept = f
        .consent
        .grant(
            other,
            &pro,
            ask(&["identity.name"], &[Action::Read], t(1000)),
            t(0),
        )
        .unwrap();
    let code = f.consent.issue_pairing_code(c, t(1)).unwrap();
    f.consent
        .request_access(
            &pro,
            &code.code,
            ask(&["identity.phone"], &[Action::Read], t(500)),
            t(2),
        )
        .unwrap();

    assert_eq!(f.consent.erase_client(c, t(10)).unwrap(), 1);
    assert_eq!(
        f.consent
            .decide(pro.professional, c, "identity.name", Action::Read, t(11))
            .unwrap(),
        Decision::Deny {
            reason: DenyReason::NoGrant
        }
    );
    assert!(f.consent.grants_for_client(c).unwrap().is_empty());
    assert!(f.consent.requests_for_client(c).unwrap().is_empty());
    assert!(f.consent.get_grant(grant.id).unwrap().is_none());
    assert!(f.consent.receipts(c, grant.id).is_err());
    assert_eq!(
        f.consent.grants_for_professional(pro.professional).unwrap(),
        vec![kept.clone()]
    );
    assert!(
        f.consent
            .decide(
                pro.professional,
                other,
                "identity.name",
                Action::Read,
                t(11)
            )
            .unwrap()
            .is_permit()
    );

    // The log keeps its entries (ids and field names only) and still verifies.
    use omadata_consent::audit::{AuditEvent, AuditFilter};
    let events: Vec<AuditEvent> = f
        .consent
        .audit()
        .query(AuditFilter::Client(c), None, None, None, 20)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events.first(), Some(&AuditEvent::Erase));
    assert!(events.contains(&AuditEvent::Revoke) && events.contains(&AuditEvent::Deny));
    f.consent.audit().checkpoint(t(12)).unwrap();
    f.consent.audit().verify(&f.consent.jwks()).unwrap();
}

/// Every key a store holds under `prefix`.
fn keys_under(f: &Fixture, prefix: &[u8]) -> usize {
    use omadata_consent::ConsentStore;
    f.store.scan(prefix, None, false, usize::MAX).unwrap().len()
}

#[test]
fn live_pairing_codes_are_capped_and_used_or_expired_ones_leave_storage() {
    use omadata_consent::service::MAX_LIVE_PAIRING_CODES;
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let lifetime = f.consent.config().pairing_code_lifetime;
    let mut codes: Vec<PairingCode> = (0..MAX_LIVE_PAIRING_CODES)
        .map(|_| f.consent.issue_pairing_code(c, t(0)).unwrap())
        .collect();
    let log_before = f.consent.audit().len();
    assert!(matches!(
        f.consent.issue_pairing_code(c, t(1)),
        Err(ConsentError::TooManyPairingCodes { limit }) if limit == MAX_LIVE_PAIRING_CODES
    ));
    // Refused: nothing written, not even an audit entry.
    assert_eq!(f.consent.audit().len(), log_before);
    assert_eq!(keys_under(&f, b"pc/"), MAX_LIVE_PAIRING_CODES);
    // Another client is not affected.
    f.consent.issue_pairing_code(client(), t(1)).unwrap();

    // A used code frees its place and leaves storage.
    let used = codes.pop().unwrap();
    f.consent
        .request_access(
            &pro,
            &used.code,
            ask(&["identity.name"], &[Action::Read], t(0) + days(1)),
            t(2),
        )
        .unwrap();
    assert_eq!(keys_under(&f, b"pc/"), MAX_LIVE_PAIRING_CODES);
    assert_eq!(keys_under(&f, b"pcc/"), MAX_LIVE_PAIRING_CODES);
    f.consent.issue_pairing_code(c, t(3)).unwrap();
    assert!(f.consent.issue_pairing_code(c, t(3)).is_err());

    // Once they expire, issuing removes the client's expired codes; the sweep removes
    // everyone's.
    let later = t(3) + lifetime;
    f.consent.issue_pairing_code(c, later).unwrap();
    assert_eq!(keys_under(&f, b"pcc/"), 1);
    let sweep = f.consent.sweep(later + lifetime).unwrap();
    assert_eq!(sweep.codes_removed, 1);
    for prefix in [&b"pc/"[..], b"pcc/", b"pce/"] {
        assert_eq!(keys_under(&f, prefix), 0, "{prefix:?}");
    }
    assert_eq!(f.consent.sweep(later + lifetime).unwrap().codes_removed, 0);
}

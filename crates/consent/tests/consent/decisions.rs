//! The decision rule against an independent model, across random histories.
use crate::*;
use omadata_consent::service::decide_among;
use proptest::prelude::*;

const FIELDS: [&str; 5] = [
    "identity.name",
    "identity.phone",
    "plan.agreed_actions",
    "situation.housing",
    "background.skills",
];

#[derive(Debug, Clone)]
enum Op {
    Grant {
        pro: usize,
        fields: Vec<usize>,
        write: bool,
        start: i64,
        length: i64,
    },
    Revoke {
        index: usize,
        at: i64,
    },
    Narrow {
        index: usize,
        keep: Vec<bool>,
        drop_write: bool,
        shorten: i64,
        at: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2usize, proptest::collection::vec(0..5usize, 1..4), any::<bool>(), 0..500i64, 1..500i64)
            .prop_map(|(pro, fields, write, start, length)| Op::Grant { pro, fields, write, start, length }),
        1 => (0..8usize, 0..1000i64).prop_map(|(index, at)| Op::Revoke { index, at }),
        1 => (0..8usize, proptest::collection::vec(any::<bool>(), 5), any::<bool>(), 0..300i64, 0..1000i64)
            .prop_map(|(index, keep, drop_write, shorten, at)| Op::Narrow { index, keep, drop_write, shorten, at }),
    ]
}

/// The oracle: permitted iff some grant in the model covers the field and action and is
/// inside its window and not revoked at `now`.
fn oracle(
    grants: &[Grant],
    pro: ProfessionalId,
    c: ClientId,
    field: &str,
    action: Action,
    now: DateTime<Utc>,
) -> Vec<GrantId> {
    grants
        .iter()
        .filter(|g| g.grantee.professional == pro && g.client == c)
        .filter(|g| g.fields.contains(field) && g.actions.contains(&action))
        .filter(|g| g.valid_from <= now && now < g.valid_until)
        .filter(|g| g.revoked_at.is_none_or(|r| r > now))
        .map(|g| g.id)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn no_decision_permits_outside_an_active_grant(ops in proptest::collection::vec(op(), 1..12), probes in proptest::collection::vec((0..2usize, 0..5usize, any::<bool>(), 0..1200i64), 40)) {
        let f = fixture();
        let c = client();
        let pros = [professional(Profession::YouthWork), professional(Profession::EmploymentServices)];
        // Ops run in time order, since `now` only moves forward in a real service.
        let mut clock = 0i64;
        let mut given: Vec<GrantId> = Vec::new();
        for op in &ops {
            match op {
                Op::Grant { pro, fields, write, start, length } => {
                    clock = clock.max(*start);
                    let acts = if *write { vec![Action::Read, Action::Write] } else { vec![Action::Read] };
                    let names: Vec<&str> = fields.iter().map(|i| FIELDS[*i]).collect();
                    let grant = f.consent.grant(c, &pros[*pro], ask(&names, &acts, t(clock + length)), t(clock)).unwrap();
                    given.push(grant.id);
                }
                Op::Revoke { index, at } => {
                    if let Some(id) = given.get(*index) {
                        clock = clock.max(*at);
                        let _ = f.consent.revoke(c, *id, t(clock));
                    }
                }
                Op::Narrow { index, keep, drop_write, shorten, at } => {
                    if let Some(id) = given.get(*index) {
                        clock = clock.max(*at);
                        let before = f.consent.get_grant(*id).unwrap().unwrap();
                        let fields: Vec<FieldSelector> = before.fields.iter().enumerate().filter(|(i, _)| keep[*i % 5]).map(|(_, p)| FieldSelector::Path(p.clone())).collect();
                        let narrowing = Narrowing {
                            fields: Some(fields),
                            actions: if *drop_write { Some(actions(&[Action::Read])) } else { None },
                            valid_until: Some(before.valid_until - Duration::seconds(*shorten)),
                        };
                        match f.consent.narrow(c, *id, &narrowing, t(clock)) {
                            Ok(after) => {
                                // Narrowing never widens.
                                prop_assert!(after.fields.is_subset(&before.fields));
                                prop_assert!(after.actions.is_subset(&before.actions));
                                prop_assert!(after.valid_until <= before.valid_until);
                                prop_assert!(!after.fields.is_empty());
                            }
                            Err(_) => prop_assert_eq!(f.consent.get_grant(*id).unwrap().unwrap(), before),
                        }
                    }
                }
            }
            // Decisions after every change (they read grants through the cache): none
            // may rest on grants read before the change.
            let current = f.consent.grants_for_client(c).unwrap();
            for (pro, field) in (0..2).flat_map(|p| (0..5).map(move |i| (p, i))) {
                let allowed = oracle(&current, pros[pro].professional, c, FIELDS[field], Action::Read, t(clock));
                let decision = f.consent.decide(pros[pro].professional, c, FIELDS[field], Action::Read, t(clock)).unwrap();
                prop_assert_eq!(decision.is_permit(), !allowed.is_empty(), "after {:?}", op);
            }
        }
        let grants = f.consent.grants_for_client(c).unwrap();
        for (pro, field, write, at) in probes {
            let action = if write { Action::Write } else { Action::Read };
            let now = t(at);
            let allowed = oracle(&grants, pros[pro].professional, c, FIELDS[field], action, now);
            let decision = f.consent.decide(pros[pro].professional, c, FIELDS[field], action, now).unwrap();
            match decision {
                Decision::Permit { grant, .. } => prop_assert!(allowed.contains(&grant), "permit names {grant:?}, allowed {allowed:?}"),
                Decision::Deny { .. } => prop_assert!(allowed.is_empty(), "denied although {allowed:?} allow"),
            }
        }
    }
}

#[test]
fn expiry_holds_at_the_exact_boundary() {
    let f = fixture();
    let c = client();
    let pro = professional(Profession::YouthWork);
    let until = t(1000);
    let grant = f
        .consent
        .grant(
            c,
            &pro,
            ask(&["identity.name"], &[Action::Read], until),
            t(0),
        )
        .unwrap();
    let p = pro.professional;
    assert!(
        f.consent
            .decide(
                p,
                c,
                "identity.name",
                Action::Read,
                until - Duration::nanoseconds(1)
            )
            .unwrap()
            .is_permit()
    );
    assert_eq!(
        f.consent
            .decide(p, c, "identity.name", Action::Read, until)
            .unwrap(),
        Decision::Deny {
            reason: DenyReason::Expired
        }
    );
    assert_eq!(
        f.consent
            .sweep(until - Duration::milliseconds(1))
            .unwrap()
            .grants_expired,
        0
    );
    assert_eq!(f.consent.sweep(until).unwrap().grants_expired, 1);
    assert!(
        f.consent
            .get_grant(grant.id)
            .unwrap()
            .unwrap()
            .expiry_logged
    );
    assert!(matches!(
        f.consent.revoke(c, grant.id, until),
        Err(ConsentError::GrantNotActive(_))
    ));
}

#[test]
fn unknown_fields_are_denied_and_another_clients_grant_does_not_count() {
    let f = fixture();
    let (a, b) = (client(), client());
    let pro = professional(Profession::YouthWork);
    f.consent
        .grant(
            a,
            &pro,
            ask(&["identity.name"], &[Action::Read], t(100)),
            t(0),
        )
        .unwrap();
    let p = pro.professional;
    assert_eq!(
        f.consent
            .decide(p, a, "identity.nope", Action::Read, t(1))
            .unwrap(),
        Decision::Deny {
            reason: DenyReason::UnknownField
        }
    );
    assert_eq!(
        f.consent
            .decide(p, b, "identity.name", Action::Read, t(1))
            .unwrap(),
        Decision::Deny {
            reason: DenyReason::NoGrant
        }
    );
    let grants = f.consent.grants_between(p, a).unwrap();
    assert_eq!(grants.len(), 1);
    assert!(
        decide_among(
            f.consent.catalogue(),
            &grants,
            "identity.name",
            Action::Read,
            t(1)
        )
        .is_permit()
    );
}

/// A client who granted a youth worker reading of their name and agreed actions (at t(0),
/// until t(100)).
fn name_and_plan_granted(f: &Fixture) -> (ClientId, Grantee, Grant) {
    let c = client();
    let pro = professional(Profession::YouthWork);
    let grant = f
        .consent
        .grant(
            c,
            &pro,
            ask(
                &["identity.name", "plan.agreed_actions"],
                &[Action::Read],
                t(100),
            ),
            t(0),
        )
        .unwrap();
    (c, pro, grant)
}

#[test]
fn authorize_logs_every_permit_and_deny() {
    use omadata_consent::audit::{AuditEvent, AuditFilter, Outcome};
    let f = fixture();
    let (c, pro, grant) = name_and_plan_granted(&f);
    let fields: Vec<String> = ["identity.name", "plan.agreed_actions", "identity.phone"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let decisions = f
        .consent
        .authorize(
            pro.professional,
            pro.organisation.id,
            c,
            &fields,
            Action::Read,
            t(5),
        )
        .unwrap();
    assert_eq!(
        decisions.iter().filter(|d| d.decision.is_permit()).count(),
        2
    );
    let entries = f
        .consent
        .audit()
        .query(
            AuditFilter::Professional(pro.professional),
            None,
            None,
            None,
            10,
        )
        .unwrap();
    let accesses: Vec<_> = entries
        .iter()
        .filter(|e| e.event == AuditEvent::Access)
        .collect();
    assert_eq!(accesses.len(), 2);
    let deny = accesses
        .iter()
        .find(|e| e.outcome == Some(Outcome::Deny))
        .unwrap();
    assert_eq!(deny.fields, vec!["identity.phone".to_string()]);
    assert_eq!(deny.reason.as_deref(), Some("field_not_granted"));
    let permit = accesses
        .iter()
        .find(|e| e.outcome == Some(Outcome::Permit))
        .unwrap();
    assert_eq!(permit.grant, Some(grant.id));
    assert_eq!(permit.fields.len(), 2);
    assert_eq!(permit.purpose, Some(PurposeCode::Guidance));
}

#[test]
fn the_sweep_pages_through_many_due_grants_and_leaves_later_ones() {
    let f = fixture();
    let pro = professional(Profession::YouthWork);
    for i in 0..300 {
        f.consent
            .grant(
                client(),
                &pro,
                ask(&["identity.name"], &[Action::Read], t(100 + i)),
                t(0),
            )
            .unwrap();
    }
    let later = f
        .consent
        .grant(
            client(),
            &pro,
            ask(&["identity.name"], &[Action::Read], t(10_000)),
            t(0),
        )
        .unwrap();
    assert_eq!(f.consent.sweep(t(1_000)).unwrap().grants_expired, 300);
    assert_eq!(f.consent.sweep(t(1_000)).unwrap().grants_expired, 0);
    assert!(
        !f.consent
            .get_grant(later.id)
            .unwrap()
            .unwrap()
            .expiry_logged
    );
}

#[test]
fn authorizing_over_another_pairs_grants_is_refused() {
    let f = fixture();
    let (a, b) = (client(), client());
    let pro = professional(Profession::YouthWork);
    f.consent
        .grant(
            a,
            &pro,
            ask(&["identity.name"], &[Action::Read], t(100)),
            t(0),
        )
        .unwrap();
    let grants_of_a = f.consent.grants_between(pro.professional, a).unwrap();
    let attempt = AccessAttempt {
        professional: pro.professional,
        organisation: pro.organisation.id,
        client: b,
        action: Action::Read,
        now: t(1),
    };
    let refused =
        f.consent
            .authorize_deferred_among(&attempt, &grants_of_a, &["identity.name".to_owned()]);
    assert!(matches!(
        refused,
        Err(ConsentError::Invalid { what: "grants", .. })
    ));
    let own = AccessAttempt {
        client: a,
        ..attempt
    };
    let (decisions, seq) = f
        .consent
        .authorize_deferred_among(&own, &grants_of_a, &["identity.name".to_owned()])
        .unwrap();
    assert!(decisions[0].decision.is_permit());
    f.consent.audit().sync_through(seq.unwrap()).unwrap();
}

#[test]
fn granted_reads_decide_exactly_what_the_grants_name_or_the_attempt_itself() {
    use omadata_consent::audit::{AuditEvent, AuditFilter, Outcome};
    let f = fixture();
    let (c, pro, _) = name_and_plan_granted(&f);
    let stranger = client();
    let (decisions, _) = f
        .consent
        .authorize_granted_reads_deferred(pro.professional, pro.organisation.id, c, t(5))
        .unwrap();
    let decided: Vec<(&str, bool)> = decisions
        .iter()
        .map(|d| (d.field.as_str(), d.decision.is_permit()))
        .collect();
    assert_eq!(
        decided,
        [("identity.name", true), ("plan.agreed_actions", true)]
    );
    // No grant at all: the attempt is denied and audited as field `*`.
    let (decisions, seq) = f
        .consent
        .authorize_granted_reads_deferred(pro.professional, pro.organisation.id, stranger, t(6))
        .unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].field, "*");
    assert!(!decisions[0].decision.is_permit());
    f.consent.audit().sync_through(seq.unwrap()).unwrap();
    let entries = f
        .consent
        .audit()
        .query(AuditFilter::Client(stranger), None, None, None, 10)
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event, AuditEvent::Access);
    assert_eq!(entries[0].outcome, Some(Outcome::Deny));
    assert_eq!(entries[0].fields, vec!["*".to_owned()]);
}

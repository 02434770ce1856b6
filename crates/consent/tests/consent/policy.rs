use crate::*;

const ALL: [Profession; 6] = [
    Profession::YouthWork,
    Profession::SocialWork,
    Profession::EmploymentServices,
    Profession::HealthCare,
    Profession::Education,
    Profession::Other,
];

fn allowed(field: &str, profession: Profession) -> bool {
    match field {
        f if f.starts_with("health.") => profession == Profession::HealthCare,
        f if f.starts_with("social_welfare.") => profession == Profession::SocialWork,
        f if f.starts_with("employment_services.") => {
            matches!(
                profession,
                Profession::EmploymentServices | Profession::SocialWork
            )
        }
        _ => true,
    }
}

#[test]
fn every_forbidden_combination_is_refused_before_the_client_is_asked() {
    let sensitive = [
        "health.status",
        "health.work_capacity",
        "health.substance_use",
        "social_welfare.client_status",
        "social_welfare.decisions",
        "employment_services.client_status",
        "identity.name",
    ];
    for profession in ALL {
        for field in sensitive {
            let f = fixture();
            let c = client();
            let pro = professional(profession);
            let code = f.consent.issue_pairing_code(c, t(0)).unwrap();
            let log_len = f.consent.audit().len();
            let request = f.consent.request_access(
                &pro,
                &code.code,
                ask(&[field], &[Action::Read], t(100)),
                t(1),
            );
            let own = f
                .consent
                .grant(c, &pro, ask(&[field], &[Action::Read], t(100)), t(1));
            if allowed(field, profession) {
                assert!(request.is_ok(), "{field} to {profession:?}: {request:?}");
                assert!(own.is_ok(), "{field} to {profession:?}");
            } else {
                let err = request.unwrap_err();
                assert!(
                    matches!(err, ConsentError::PolicyForbids { .. }),
                    "{field} to {profession:?}: {err}"
                );
                assert!(err.to_string().contains(field));
                assert!(matches!(own, Err(ConsentError::PolicyForbids { .. })));
                // Nothing reached the client or the log.
                assert!(f.consent.requests_for_client(c).unwrap().is_empty());
                assert_eq!(f.consent.audit().len(), log_len);
            }
        }
    }
}

#[test]
fn a_category_with_one_forbidden_field_is_refused_whole() {
    let f = fixture();
    let pro = professional(Profession::YouthWork);
    let terms = AccessAsk {
        fields: vec![FieldSelector::Category("health".into())],
        ..ask(&[], &[Action::Read], t(100))
    };
    assert!(matches!(
        f.consent.grant(client(), &pro, terms, t(0)),
        Err(ConsentError::PolicyForbids { .. })
    ));
}

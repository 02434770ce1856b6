//! Access requests: every pending request as a card that says everything (who, which
//! fields grouped by category with the sensitive ones marked, whether they may also
//! change the data, why, until when), answered with "approve", "approve less" or
//! "refuse"; earlier requests below with their state in words.
//!
//! "Approve less" is a page of its own: the requested fields as checkboxes, the right to
//! change as a checkbox of its own, and a date to end sooner. A chosen day means the end
//! of that day in Helsinki. What is not a narrowing (no field, a field not asked for, a
//! later or past day) is shown next to its control and changes nothing.

use super::{ClientPage, PageForm, PageQuery, done, read_all};
use crate::error::ApiError;
use crate::extract::AppPath;
use crate::state::AppState;
use crate::web::i18n::{Lang, Speak};
use crate::web::words;
use crate::web::{Chrome, Notice, render};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use fluent_bundle::FluentArgs;
use omadata_app::Services;
use omadata_app::calendar;
use omadata_app::client;
use omadata_consent::{
    AccessRequest, Action, FieldSelector, Grant, Narrowing, RequestId, RequestStatus,
};
use omadata_vault::{Catalogue, ClientId};
use serde::Deserialize;
use std::collections::BTreeSet;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/my/requests", get(my_requests))
        .route("/my/requests/{id}/less", get(approve_less))
        // An answer's address opened as a page (the language menu on a refused form
        // returns to it, or a reload): the form again, or the list.
        .route(
            "/my/requests/{id}/approve",
            get(|AppPath(id): AppPath<String>| async move {
                match id.parse::<RequestId>() {
                    Ok(id) => Redirect::to(&format!("/my/requests/{id}/less")),
                    Err(_) => Redirect::to("/my/requests"),
                }
            })
            .post(approve),
        )
        .route(
            "/my/requests/{id}/deny",
            get(|| async { Redirect::to("/my/requests") }).post(deny),
        )
}

/// How many requests are read in one batch from the store.
const PAGE: usize = 100;

/// The most requests the page reads: enough for years of requests, and bounded. The
/// store lists them in id order (random), so the page reads them all to show every
/// pending one and the newest earlier ones.
const MOST_REQUESTS: usize = 10_000;

/// How many earlier (answered or lapsed) requests the page lists, newest first.
const EARLIER: usize = 100;

/// Every request of the client, up to [`MOST_REQUESTS`]; and whether there were more.
fn all_requests(
    app: &Services,
    client: ClientId,
) -> Result<(Vec<AccessRequest>, bool), omadata_app::AppError> {
    read_all(MOST_REQUESTS, |after| {
        client::my_requests(app, client, after, 5 * PAGE)
    })
}

/// What the requests page reads: every request (up to [`MOST_REQUESTS`]), whether there
/// were more, and, after an approval (`approved` names the request), the grant it made.
type RequestsRead = (Vec<AccessRequest>, bool, Option<Grant>);

/// The requests page's reads, in one go: the requests and the grant an approval just
/// made (for the notice).
async fn read_requests(
    state: &AppState,
    page: &ClientPage,
    approved: Option<String>,
) -> Result<RequestsRead, omadata_app::AppError> {
    let client = page.client;
    state
        .app()
        .reading(move |app| {
            let (requests, truncated) = all_requests(app, client)?;
            let grant = approved
                .and_then(|id| requests.iter().find(|r| r.id.to_string() == id)?.grant)
                .and_then(|id| find_grant(app, client, |g| g.id == id));
            Ok((requests, truncated, grant))
        })
        .await
}

/// One requested field as a card or the form shows it.
struct AskedField {
    path: String,
    /// The checkbox's element id.
    anchor: String,
    label: String,
    badge: Option<String>,
    checked: bool,
}

/// The requested fields of one category.
struct FieldGroup {
    label: String,
    fields: Vec<AskedField>,
}

/// The requested fields grouped by the catalogue's categories in its order; paths the
/// catalogue no longer knows come last under a generic word. `checked` says which
/// boxes are ticked.
fn grouped(
    catalogue: &Catalogue,
    paths: &BTreeSet<String>,
    checked: impl Fn(&str) -> bool,
    lang: Lang,
) -> Vec<FieldGroup> {
    let mut groups = Vec::new();
    for category in catalogue.categories() {
        let fields: Vec<AskedField> = catalogue
            .fields()
            .iter()
            .filter(|f| f.category == category.id && paths.contains(&f.path))
            .map(|f| AskedField {
                path: f.path.clone(),
                anchor: super::field_anchor(&f.path),
                label: words::in_lang(&f.labels, lang).to_owned(),
                badge: words::sensitivity_badge(f, lang),
                checked: checked(&f.path),
            })
            .collect();
        if !fields.is_empty() {
            groups.push(FieldGroup {
                label: words::in_lang(&category.labels, lang).to_owned(),
                fields,
            });
        }
    }
    let unknown: Vec<AskedField> = paths
        .iter()
        .filter(|p| catalogue.field(p).is_none())
        .map(|p| AskedField {
            path: p.clone(),
            anchor: super::field_anchor(p),
            label: lang.text("unknown-field", None),
            badge: None,
            checked: checked(p),
        })
        .collect();
    if !unknown.is_empty() {
        groups.push(FieldGroup {
            label: lang.text("req-other-fields", None),
            fields: unknown,
        });
    }
    groups
}

/// Who asks: "Tero Työllisyys, työllisyysasiantuntija, Työllisyyspalvelut".
fn who(request: &AccessRequest) -> String {
    let asker = &request.requester;
    format!(
        "{}, {}, {}",
        asker.name, asker.title, asker.organisation.name
    )
}

fn may_change(actions: &BTreeSet<Action>) -> bool {
    actions.contains(&Action::Write)
}

/// A pending request as its card shows it.
struct PendingCard {
    id: String,
    heading: String,
    who: String,
    groups: Vec<FieldGroup>,
    may_change: bool,
    why: String,
    until: String,
    asked: String,
}

fn pending_card(catalogue: &Catalogue, request: &AccessRequest, lang: Lang) -> PendingCard {
    let change = may_change(&request.actions);
    let mut args = FluentArgs::new();
    args.set("name", request.requester.name.clone());
    args.set("asked", words::date(request.created_at, lang));
    args.set("answer_by", words::date(request.answer_by, lang));
    PendingCard {
        id: request.id.to_string(),
        heading: lang.text(
            if change {
                "req-heading-change"
            } else {
                "req-heading-see"
            },
            Some(&args),
        ),
        who: who(request),
        groups: grouped(catalogue, &request.fields, |_| true, lang),
        may_change: change,
        why: words::purpose(&request.purpose, lang),
        until: words::date(request.valid_until, lang),
        asked: lang.text("req-asked", Some(&args)),
    }
}

/// An answered or lapsed request, one line.
struct EarlierRequest {
    who: String,
    state: String,
}

fn earlier(request: &AccessRequest, now: DateTime<Utc>, lang: Lang) -> EarlierRequest {
    let mut args = FluentArgs::new();
    args.set("asked", words::date(request.created_at, lang));
    let answered = request.answered_at.unwrap_or(request.answer_by);
    args.set("answered", words::date(answered, lang));
    let state = match request.status_at(now) {
        RequestStatus::Approved => "req-state-approved",
        RequestStatus::Denied => "req-state-denied",
        RequestStatus::Expired => "req-state-expired",
        RequestStatus::Pending => "req-state-pending",
    };
    EarlierRequest {
        who: who(request),
        state: lang.text(state, Some(&args)),
    }
}

#[derive(Template)]
#[template(path = "client/requests.html")]
struct RequestsPage<'a> {
    chrome: &'a Chrome,
    csrf: &'a str,
    notice: Option<Notice>,
    pending: Vec<PendingCard>,
    earlier: Vec<EarlierRequest>,
    more: bool,
}

/// The list's query: what was just done, and to which request.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    done: Option<String>,
    request: Option<String>,
}

async fn my_requests(
    State(state): State<AppState>,
    page: ClientPage,
    PageQuery(query): PageQuery<ListQuery>,
) -> Response {
    let approved = match query.done.as_deref() {
        Some("approved") => query.request.clone(),
        _ => None,
    };
    let (mut requests, truncated, grant) = match read_requests(&state, &page, approved).await {
        Ok(listed) => listed,
        Err(error) => return page.problem(error.into(), "/my/data"),
    };
    requests.sort_by_key(|request| std::cmp::Reverse(request.created_at));
    let now = state.now();
    let lang = page.lang();
    let catalogue = state.app().catalogue();
    let (pending, answered): (Vec<&AccessRequest>, Vec<&AccessRequest>) = requests
        .iter()
        .partition(|r| r.status_at(now) == RequestStatus::Pending);
    let notice = answer_notice(&page, &query, &requests, grant);
    let view = RequestsPage {
        chrome: &page.chrome,
        csrf: &page.csrf,
        notice,
        pending: pending
            .into_iter()
            .map(|r| pending_card(catalogue, r, lang))
            .collect(),
        more: truncated || answered.len() > EARLIER,
        earlier: answered
            .into_iter()
            .take(EARLIER)
            .map(|r| earlier(r, now, lang))
            .collect(),
    };
    render(StatusCode::OK, &view)
}

/// What was just done, in a sentence that names who and until when when the request
/// (and `grant`, the grant its approval made) can be found; a plainer sentence when not.
fn answer_notice(
    page: &ClientPage,
    query: &ListQuery,
    requests: &[AccessRequest],
    grant: Option<Grant>,
) -> Option<Notice> {
    let lang = page.lang();
    let done = query.done.as_deref()?;
    if done != "approved" && done != "denied" {
        return None;
    }
    let request = query
        .request
        .as_deref()
        .and_then(|id| requests.iter().find(|r| r.id.to_string() == id));
    let mut args = FluentArgs::new();
    let text = match (done, request) {
        ("approved", Some(_)) => match grant {
            Some(grant) => {
                args.set("name", grant.grantee.name.clone());
                args.set("date", words::date(grant.valid_until, lang));
                if may_change(&grant.actions) {
                    lang.text("req-done-approved-change", Some(&args))
                } else {
                    lang.text("req-done-approved-see", Some(&args))
                }
            }
            None => lang.text("req-done-approved", None),
        },
        ("approved", None) => lang.text("req-done-approved", None),
        (_, Some(request)) => {
            args.set("name", request.requester.name.clone());
            lang.text("req-done-denied-name", Some(&args))
        }
        (_, None) => lang.text("req-done-denied", None),
    };
    Some(Notice { text })
}

/// The client's grant that `wanted` picks, read page by page (a few pages at most).
fn find_grant(app: &Services, client: ClientId, wanted: impl Fn(&Grant) -> bool) -> Option<Grant> {
    let mut after = None;
    for _ in 0..10 {
        let (grants, next) = client::my_grants(app, client, after, PAGE).ok()?;
        if let Some(grant) = grants.into_iter().find(&wanted) {
            return Some(grant);
        }
        after = Some(next?);
    }
    None
}

/// The control of the "approve less" form a refusal is shown next to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Control {
    Fields,
    Write,
    Until,
    /// Nothing in particular: shown above the form.
    Form,
}

/// Why a narrowing was refused: the control, and the message.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    control: Control,
    message: String,
}

#[derive(Template)]
#[template(path = "client/request_less.html")]
struct LessPage<'a> {
    chrome: &'a Chrome,
    csrf: &'a str,
    id: String,
    intro: String,
    groups: Vec<FieldGroup>,
    /// Whether the request asks to change data too, and whether the box is ticked.
    asks_change: bool,
    change: bool,
    until: String,
    until_max: String,
    until_min: String,
    until_help: String,
    refusal: Option<Refusal>,
}

impl LessPage<'_> {
    /// The refusal's message when it belongs next to `control`.
    fn error_at(&self, control: Control) -> Option<&str> {
        self.refusal
            .as_ref()
            .filter(|r| r.control == control)
            .map(|r| r.message.as_str())
    }
}

/// What the "approve less" form holds: everything at first, what was sent after a
/// refusal.
struct Chosen {
    fields: BTreeSet<String>,
    change: bool,
    until: String,
}

fn less_page<'a>(
    state: &AppState,
    page: &'a ClientPage,
    request: &AccessRequest,
    chosen: Chosen,
    refusal: Option<Refusal>,
) -> LessPage<'a> {
    let lang = page.lang();
    let catalogue = state.app().catalogue();
    let latest = calendar::local_date(request.valid_until);
    let mut args = FluentArgs::new();
    args.set("name", request.requester.name.clone());
    args.set("who", who(request));
    args.set("date", words::calendar_date(latest, lang));
    LessPage {
        chrome: &page.chrome,
        csrf: &page.csrf,
        id: request.id.to_string(),
        intro: lang.text("req-less-intro", Some(&args)),
        groups: grouped(
            catalogue,
            &request.fields,
            |p| chosen.fields.contains(p),
            lang,
        ),
        asks_change: may_change(&request.actions),
        change: chosen.change,
        until: chosen.until,
        until_max: latest.format("%Y-%m-%d").to_string(),
        until_min: calendar::local_date(state.now())
            .format("%Y-%m-%d")
            .to_string(),
        until_help: lang.text("req-until-help", Some(&args)),
        refusal,
    }
}

/// One of the client's requests that is still waiting for an answer, or why not.
async fn pending_request(
    state: &AppState,
    page: &ClientPage,
    id: &str,
) -> Result<AccessRequest, ApiError> {
    let (client, id) = (page.client, id.to_owned());
    let request = state
        .app()
        .reading(move |app| client::my_request(app, client, &id))
        .await?;
    if request.status_at(state.now()) != RequestStatus::Pending {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "request_not_pending",
            "the request is no longer pending",
        ));
    }
    Ok(request)
}

async fn approve_less(
    State(state): State<AppState>,
    page: ClientPage,
    AppPath(id): AppPath<String>,
) -> Response {
    let request = match pending_request(&state, &page, &id).await {
        Ok(request) => request,
        Err(error) => return page.problem(error, "/my/requests"),
    };
    let chosen = Chosen {
        fields: request.fields.clone(),
        change: true,
        until: calendar::local_date(request.valid_until)
            .format("%Y-%m-%d")
            .to_string(),
    };
    render(
        StatusCode::OK,
        &less_page(&state, &page, &request, chosen, None),
    )
}

/// An answer's form: only the CSRF token for "approve" as asked; the choices of the
/// "approve less" form (`less` set) otherwise.
#[derive(Debug, Default, Deserialize)]
struct ApproveForm {
    #[serde(default)]
    less: Option<String>,
    #[serde(default)]
    field: Vec<String>,
    #[serde(default)]
    change: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

/// The narrowing the "approve less" form asks for, or why it is not one: no field, a
/// field not asked for, the right to change removed from a request that asks only that,
/// a day that is not a date, after the asked end, or already past.
fn narrowing_of(
    request: &AccessRequest,
    form: &ApproveForm,
    today: NaiveDate,
    lang: Lang,
) -> Result<Narrowing, Refusal> {
    let refuse = |control, id: &str| Refusal {
        control,
        message: lang.text(id, None),
    };
    if form.field.is_empty() {
        return Err(refuse(Control::Fields, "req-error-no-fields"));
    }
    if form.field.iter().any(|f| !request.fields.contains(f)) {
        return Err(Refusal {
            control: Control::Fields,
            message: words::problem("widening", lang),
        });
    }
    let fields: BTreeSet<&String> = form.field.iter().collect();
    let mut actions = request.actions.clone();
    if form.change.is_none() {
        actions.remove(&Action::Write);
    }
    if actions.is_empty() {
        return Err(refuse(Control::Write, "req-error-change-only"));
    }
    let latest = calendar::local_date(request.valid_until);
    let until = form.until.as_deref().map(str::trim).unwrap_or_default();
    let valid_until = if until.is_empty() {
        None
    } else {
        let Ok(day) = NaiveDate::parse_from_str(until, "%Y-%m-%d") else {
            return Err(refuse(Control::Until, "req-error-until-invalid"));
        };
        if day > latest {
            return Err(refuse(Control::Until, "req-error-until-later"));
        }
        if day < today {
            return Err(refuse(Control::Until, "req-error-until-past"));
        }
        // The asked end itself may fall before that day's end: keep it as asked.
        (day < latest).then(|| calendar::end_of_day(day))
    };
    Ok(Narrowing {
        fields: Some(
            fields
                .into_iter()
                .map(|f| FieldSelector::Path(f.clone()))
                .collect(),
        ),
        actions: (actions != request.actions).then_some(actions),
        valid_until,
    })
}

/// The control a refusal of the use case belongs to.
fn control_of(code: &str) -> Control {
    match code {
        "widening" | "policy_forbids" | "unknown_field" => Control::Fields,
        "invalid_value" => Control::Until,
        _ => Control::Form,
    }
}

async fn approve(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    post: PageForm<ApproveForm>,
) -> Response {
    let PageForm { page, form } = post;
    let now = state.now();
    if form.less.is_none() {
        return match client::approve(state.app(), page.client, &id, Narrowing::default(), now).await
        {
            Ok(grant) => approved(grant.request),
            Err(error) => page.problem(error.into(), "/my/requests"),
        };
    }
    let request = match pending_request(&state, &page, &id).await {
        Ok(request) => request,
        Err(error) => return page.problem(error, "/my/requests"),
    };
    let lang = page.lang();
    let narrowing = narrowing_of(&request, &form, calendar::local_date(now), lang);
    let refusal = match narrowing {
        Ok(narrowing) => {
            match client::approve(state.app(), page.client, &id, narrowing, now).await {
                Ok(grant) => return approved(grant.request),
                Err(error) => {
                    let error = ApiError::from(error);
                    if matches!(error.code, "not_found" | "request_not_pending") {
                        return page.problem(error, "/my/requests");
                    }
                    (
                        error.status,
                        Refusal {
                            control: control_of(error.code),
                            message: words::problem(error.code, lang),
                        },
                    )
                }
            }
        }
        Err(refusal) => (StatusCode::UNPROCESSABLE_ENTITY, refusal),
    };
    let (status, refusal) = refusal;
    let chosen = Chosen {
        fields: form.field.into_iter().collect(),
        change: form.change.is_some(),
        until: form.until.unwrap_or_default(),
    };
    render(
        status,
        &less_page(&state, &page, &request, chosen, Some(refusal)),
    )
}

/// On to the list, which says what was done to which request.
fn answered(request: Option<RequestId>, notice: &str) -> Response {
    match request {
        Some(id) => done(&format!("/my/requests?request={id}"), notice, None),
        None => done("/my/requests", notice, None),
    }
}

fn approved(request: Option<RequestId>) -> Response {
    answered(request, "approved")
}

#[derive(Debug, Deserialize)]
struct DenyForm {}

async fn deny(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    post: PageForm<DenyForm>,
) -> Response {
    let PageForm { page, .. } = post;
    match client::deny(state.app(), page.client, &id, state.now()).await {
        Ok(request) => answered(Some(request.id), "denied"),
        Err(error) => page.problem(error.into(), "/my/requests"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omadata_consent::{
        Grantee, Organisation, OrganisationId, Profession, Purpose, PurposeCode,
    };
    use omadata_vault::{ClientId, ProfessionalId};

    /// A request to see and change a name and the agreed plan until 15.1.2027 at noon in
    /// Helsinki (10.00 UTC): that day's end is later than the asked end.
    fn request(actions: &[Action]) -> AccessRequest {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        AccessRequest {
            id: RequestId::random(),
            client: ClientId::random(),
            requester: Grantee {
                professional: ProfessionalId::random(),
                name: "Tero Työllisyys".into(),
                title: "Työvalmentaja".into(),
                profession: Profession::EmploymentServices,
                organisation: Organisation {
                    id: OrganisationId::random(),
                    name: "Ohjaamo".into(),
                    business_id: "1234567-8".into(),
                    privacy_notice_url: "https://example.fi".into(),
                    dpo_contact: "tietosuoja@example.fi".into(),
                },
            },
            fields: ["identity.name", "plan.agreed_actions"]
                .map(String::from)
                .into(),
            actions: actions.iter().copied().collect(),
            purpose: Purpose {
                code: PurposeCode::SharedPlan,
                text: None,
            },
            valid_until: at("2027-01-15T10:00:00Z"),
            created_at: at("2026-12-01T10:00:00Z"),
            answer_by: at("2026-12-15T10:00:00Z"),
            status: RequestStatus::Pending,
            grant: None,
            answered_at: None,
        }
    }

    fn form(fields: &[&str], change: bool, until: &str) -> ApproveForm {
        ApproveForm {
            less: Some("1".into()),
            field: fields.iter().map(|f| (*f).to_owned()).collect(),
            change: change.then(|| "1".into()),
            until: Some(until.into()),
        }
    }

    fn control(result: Result<Narrowing, Refusal>) -> Control {
        result.map(|_| ()).unwrap_err().control
    }

    #[test]
    fn approving_less_narrows_or_says_which_control_is_wrong() {
        let both = request(&[Action::Read, Action::Write]);
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let narrow = |form: &ApproveForm| narrowing_of(&both, form, today, Lang::Fi);

        // All kept: the asked end stays as asked, not the end of its day.
        let all = narrow(&form(
            &["identity.name", "plan.agreed_actions"],
            true,
            "2027-01-15",
        ));
        assert_eq!(
            all.unwrap(),
            Narrowing {
                fields: Some(vec![
                    FieldSelector::Path("identity.name".into()),
                    FieldSelector::Path("plan.agreed_actions".into()),
                ]),
                actions: None,
                valid_until: None,
            }
        );
        // The right to change removed, and a day chosen: the end of that Helsinki day.
        let less = narrow(&form(&["identity.name"], false, "2026-12-31")).unwrap();
        assert_eq!(less.actions, Some([Action::Read].into()));
        assert_eq!(
            less.valid_until,
            Some("2026-12-31T21:59:59Z".parse().unwrap())
        );
        assert_eq!(control(narrow(&form(&[], true, ""))), Control::Fields);
        assert_eq!(
            control(narrow(&form(
                &["identity.name", "identity.phone"],
                true,
                ""
            ))),
            Control::Fields
        );
        for day in ["2027-01-16", "2026-11-30", "15.1.2027"] {
            assert_eq!(
                control(narrow(&form(&["identity.name"], true, day))),
                Control::Until
            );
        }
        // Only the right to change was asked: removing it leaves nothing to approve.
        let change_only = request(&[Action::Write]);
        assert_eq!(
            control(narrowing_of(
                &change_only,
                &form(&["identity.name"], false, ""),
                today,
                Lang::Fi
            )),
            Control::Write
        );
    }
}

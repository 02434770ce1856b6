//! The gateway's one error type, and the one place that maps domain errors to HTTP.
//! Every error leaves as RFC 9457 `application/problem+json` with a stable `code`.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omadata_app::AppError;
use omadata_app::commit::CommitError;
use omadata_consent::ConsentError;
use omadata_consent::audit::LogInvalid;
use omadata_vault::VaultError;
use omadata_vault::store::StoreError;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// `Retry-After`, in seconds, for refusals that pass with time.
    pub retry_after: Option<u32>,
}

/// RFC 9457 problem details, with OmaData's stable `code`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:omadata:problem:<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The same error, telling the caller to wait `seconds` before trying again.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
    }

    /// The one answer for "not yours, not allowed, or not there": it never reveals
    /// whether the target exists.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role or your grants do not permit this",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the service could not complete the request",
        )
    }

    /// A known path asked with a method it does not answer (axum adds `Allow`).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not answer that method",
        )
    }

    /// A browser session's change without its CSRF token.
    pub fn csrf_token_invalid() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "send the csrf_token from GET /api/v1/me in the X-CSRF-Token header",
        )
    }

    /// A bearer token asked to mint another.
    pub fn session_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "session_required",
            "bearer tokens are minted only from a signed-in browser session, not from another token",
        )
    }

    pub fn no_checkpoint() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "no_checkpoint",
            "no checkpoint has been signed yet",
        )
    }

    pub fn invalid_cursor() -> Self {
        Self::bad_request("invalid_cursor", "the cursor is not one we gave")
    }

    /// A read stopped at the request time limit: nothing was changed or shown.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long and was stopped; nothing was changed",
        )
    }

    /// A change still running at the request time limit: it is never cut halfway.
    pub fn outcome_pending() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "outcome_pending",
            "the change is taking longer than usual and is still being made; reload to see whether it went through before repeating it",
        )
    }

    /// A page's form sent as something other than a form.
    pub fn unsupported_form() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the form as application/x-www-form-urlencoded",
        )
    }

    pub(crate) fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is too large",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let problem = Problem {
            kind: format!("urn:omadata:problem:{}", self.code),
            title: title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request("malformed_json", e.body_text())
            }
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.body_text(),
            ),
            JsonRejection::BytesRejection(e) => e.into(),
            other => ApiError::bad_request("unreadable_body", other.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large()
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    }
}

/// An optional JSON body that did not parse.
impl From<serde_json::Error> for ApiError {
    fn from(error: serde_json::Error) -> Self {
        match error.classify() {
            serde_json::error::Category::Data => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                error.to_string(),
            ),
            _ => ApiError::bad_request("malformed_json", error.to_string()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let too_many =
            |code, detail: &str| ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, detail);
        match error {
            AppError::Consent(e) => e.into(),
            AppError::Vault(e) => e.into(),
            AppError::Store(e) => e.into(),
            AppError::AuditNotDurable(e) => e.into(),
            AppError::Forbidden => ApiError::forbidden(),
            AppError::NotFound(_) => ApiError::not_found(),
            AppError::ConflictingFilters => ApiError::bad_request(
                "conflicting_filters",
                "filter by client or by professional, not both",
            ),
            AppError::InvalidClientReference => ApiError::bad_request(
                "invalid_client_reference",
                "name a client by its id or the first 8 characters of it",
            ),
            AppError::InvalidTimeRange => {
                ApiError::bad_request("invalid_time_range", "`from` must be before `to`")
            }
            AppError::ForeignIssuer => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                "login_issuer must be the gateway's identity provider (or left out)",
            ),
            AppError::InvalidStaffId => {
                ApiError::bad_request("invalid_path", "the id is not a staff id")
            }
            AppError::TooManyRefusedReads => too_many(
                "too_many_refused_reads",
                "too many reads were refused: try again in 15 minutes",
            )
            .retry_after(900),
            AppError::TooManyPairingAttempts => too_many(
                "too_many_attempts",
                "too many wrong pairing codes: try again in 15 minutes",
            ),
            AppError::TooManyGrants => too_many(
                "too_many_grants",
                "you have created the most grants allowed in a day: try again tomorrow",
            )
            .retry_after(3600),
            AppError::UnknownProfessional => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_professional",
                "no registered professional has that id",
            ),
            AppError::ReauthenticationRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "reauthentication_required",
                "erasure needs a recent sign-in: sign in again (/auth/login?role=client&prompt=login) and retry",
            ),
            AppError::VerificationRunning => too_many(
                "verification_running",
                "a verification of the audit log is already running: try again shortly",
            )
            .retry_after(5),
            AppError::LogInvalid(LogInvalid::Cancelled) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "verification_cancelled",
                "the verification was stopped before it finished",
            ),
            AppError::LogInvalid(e) => {
                ApiError::new(StatusCode::CONFLICT, "log_invalid", e.to_string())
            }
            AppError::WorkerLost => ApiError::internal(),
        }
    }
}

impl From<CommitError> for ApiError {
    fn from(error: CommitError) -> Self {
        tracing::error!(%error, "audit entry not durable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "the audit log could not be written; nothing was disclosed",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "storage failure");
        match error {
            // The answer says what is true: the change was applied, only its durability
            // is in doubt.
            StoreError::Unconfirmed(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unconfirmed",
                "the change was made, but storage could not confirm it is safely saved; reload to check it before repeating it",
            ),
            StoreError::Backend(_) | StoreError::Corrupt(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "storage is not available; nothing was changed",
            ),
        }
    }
}

impl From<VaultError> for ApiError {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::UnknownField { path } => ApiError::bad_request(
                "unknown_field",
                format!("`{path}` is not in the field catalogue"),
            ),
            VaultError::InvalidValue { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                error.to_string(),
            ),
            VaultError::NotAnAuthor { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "not_an_author", error.to_string())
            }
            VaultError::UnknownClient(_) => ApiError::forbidden(),
            VaultError::WriteConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "write_conflict", error.to_string())
            }
            VaultError::Store(e) => e.into(),
            VaultError::Tampered { .. } => {
                tracing::error!(%error, "integrity failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "integrity_failure",
                    "stored data failed its integrity check",
                )
            }
            other => {
                tracing::error!(error = %other, "vault failure");
                ApiError::internal()
            }
        }
    }
}

impl From<ConsentError> for ApiError {
    fn from(error: ConsentError) -> Self {
        let unprocessable =
            |code| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, error.to_string());
        match &error {
            ConsentError::UnknownField(_) => {
                ApiError::bad_request("unknown_field", error.to_string())
            }
            ConsentError::UnknownCategory(_) => {
                ApiError::bad_request("unknown_category", error.to_string())
            }
            ConsentError::PolicyForbids { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "policy_forbids", error.to_string())
            }
            ConsentError::Invalid { .. } => unprocessable("invalid_value"),
            ConsentError::Widening(_) => unprocessable("widening"),
            ConsentError::PairingCodeInvalid => unprocessable("pairing_code_invalid"),
            ConsentError::IdentityTaken => ApiError::new(
                StatusCode::CONFLICT,
                "login_subject_taken",
                error.to_string(),
            ),
            ConsentError::UnknownStaff => ApiError::forbidden(),
            ConsentError::TooManyPairingCodes { .. } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_pairing_codes",
                error.to_string(),
            ),
            ConsentError::UnknownRequest(_) | ConsentError::UnknownGrant(_) => {
                ApiError::not_found()
            }
            ConsentError::RequestNotPending(_) => ApiError::new(
                StatusCode::CONFLICT,
                "request_not_pending",
                error.to_string(),
            ),
            ConsentError::GrantNotActive(_) => {
                ApiError::new(StatusCode::CONFLICT, "grant_not_active", error.to_string())
            }
            ConsentError::Store(store)
            | ConsentError::Sealing(omadata_consent::SealError::Store(store)) => {
                store.clone().into()
            }
            // The client's key is gone: erased meanwhile, like the vault's unknown client.
            ConsentError::Sealing(omadata_consent::SealError::NoKey) => ApiError::forbidden(),
            _ => {
                tracing::error!(%error, "consent failure");
                ApiError::internal()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_failure_after_the_change_never_says_nothing_was_changed() {
        let unconfirmed = StoreError::Unconfirmed("fsync failed".into());
        for error in [
            ApiError::from(unconfirmed.clone()),
            ApiError::from(ConsentError::Store(unconfirmed.clone())),
            ApiError::from(VaultError::Store(unconfirmed)),
        ] {
            assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(error.code, "storage_unconfirmed");
            assert!(
                !error.detail.contains("nothing was changed"),
                "{}",
                error.detail
            );
        }
        let before = ApiError::from(ConsentError::Store(StoreError::Backend("down".into())));
        assert_eq!(before.code, "storage_unavailable");
        assert!(before.detail.contains("nothing was changed"));
    }

    #[test]
    fn sealing_failures_answer_like_the_vault_s() {
        use omadata_consent::SealError;
        let gone = ApiError::from(ConsentError::Sealing(SealError::NoKey));
        assert_eq!(gone.status, StatusCode::FORBIDDEN);
        let down = ApiError::from(ConsentError::Sealing(SealError::Store(
            StoreError::Backend("down".into()),
        )));
        assert_eq!(
            (down.status, down.code),
            (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
        );
    }
}

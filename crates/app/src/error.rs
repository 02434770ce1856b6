//! The use cases' one error enum. The gateway maps it to HTTP in one place.

use crate::commit::CommitError;
use omadata_consent::ConsentError;
use omadata_consent::audit::LogInvalid;
use omadata_vault::VaultError;
use omadata_vault::store::StoreError;

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Consent(#[from] ConsentError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit entry could not be made durable: nothing it covers was disclosed.
    #[error(transparent)]
    AuditNotDurable(#[from] CommitError),
    /// Not yours, not allowed, or not there: never says which.
    #[error("not permitted")]
    Forbidden,
    #[error("no such {0}")]
    NotFound(&'static str),
    /// An auditor filtered by client and by professional at once.
    #[error("filter by client or by professional, not both")]
    ConflictingFilters,
    #[error("`from` must be before `to`")]
    InvalidTimeRange,
    /// An auditor named a client by neither its id nor its 8-character short reference.
    #[error("a client is named by its id or the first 8 characters of it")]
    InvalidClientReference,
    /// An admin named an identity provider other than the gateway's.
    #[error("login_issuer must be the gateway's identity provider (or left out)")]
    ForeignIssuer,
    #[error("the id is not a staff id")]
    InvalidStaffId,
    /// Too many of the professional's reads or writes were refused lately.
    #[error("too many refused reads")]
    TooManyRefusedReads,
    /// Too many wrong pairing codes from this professional lately.
    #[error("too many wrong pairing codes")]
    TooManyPairingAttempts,
    /// The client has created the most grants allowed in a day.
    #[error("too many grants created today")]
    TooManyGrants,
    #[error("no registered professional has that id")]
    UnknownProfessional,
    /// Erasure needs a recent sign-in.
    #[error("a recent sign-in is needed")]
    ReauthenticationRequired,
    /// A verification of the whole log is already running.
    #[error("a verification is already running")]
    VerificationRunning,
    #[error("the audit log did not verify: {0}")]
    LogInvalid(LogInvalid),
    /// The blocking task doing the work was lost (it panicked or the runtime stopped).
    #[error("the work was lost")]
    WorkerLost,
}

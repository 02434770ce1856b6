//! The consent crate's one error enum.

use crate::model::{GrantId, Profession, RequestId};
use omadata_vault::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("unknown field `{0}`: it is not in the field catalogue")]
    UnknownField(String),

    #[error("unknown category `{0}`")]
    UnknownCategory(String),

    #[error("`{field}` may not be shared with a professional in {profession:?}: {rule}")]
    PolicyForbids {
        field: String,
        profession: Profession,
        rule: String,
    },

    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },

    #[error("this sign-in identity already belongs to someone else")]
    IdentityTaken,

    #[error("no such staff member")]
    UnknownStaff,

    #[error("the pairing code is unknown, used or expired")]
    PairingCodeInvalid,

    #[error("you already have {limit} pairing codes in use: use one or wait until one expires")]
    TooManyPairingCodes { limit: usize },

    #[error("no such access request")]
    UnknownRequest(RequestId),

    #[error("the access request is no longer pending")]
    RequestNotPending(RequestId),

    #[error("no such grant")]
    UnknownGrant(GrantId),

    #[error("the grant is no longer active")]
    GrantNotActive(GrantId),

    #[error("approval may only narrow the request: {0}")]
    Widening(String),

    #[error("configuration: {0}")]
    Config(String),

    #[error("signing key: {0}")]
    SigningKey(String),

    #[error("sealing consent text about a client: {0}")]
    Sealing(#[from] crate::sealing::SealError),

    #[error("stored consent data is unreadable: {0}")]
    Corrupt(String),

    #[error(transparent)]
    Store(#[from] StoreError),
}

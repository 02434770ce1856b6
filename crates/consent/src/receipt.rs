//! Consent receipts: what the client agreed to, signed so that anyone can verify it
//! offline with the published key.
//!
//! The body follows the Kantara Initiative Consent Receipt v1.1 fields (jurisdiction,
//! timestamp, principal, controller, policy URL, purposes, PII categories, sensitive
//! categories, termination) and adds OmaData's own exact terms under `omadata`. A receipt
//! file is the canonical JSON of `{"receipt": body, "signature": {...}}`; verification
//! demands that exact canonical form, so any altered byte fails.

use crate::canonical;
use crate::error::ConsentError;
use crate::model::{Action, Grant, GrantId, Grantee, Purpose, RequestId};
use crate::signing::{Jwks, ServiceKey};
use chrono::{DateTime, Utc};
use omadata_vault::{Catalogue, ClientId, Sensitivity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// What a receipt records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptEvent {
    Grant,
    Narrow,
    Revoke,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PiiController {
    pub pii_controller: String,
    pub contact: String,
    pub pii_controller_url: String,
    pub on_behalf: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptPurpose {
    pub purpose: String,
    pub purpose_category: Vec<String>,
    pub consent_type: String,
    pub pii_category: Vec<String>,
    pub primary_purpose: bool,
    pub termination: String,
    pub third_party_disclosure: bool,
    pub third_party_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptService {
    pub service: String,
    pub purposes: Vec<ReceiptPurpose>,
}

/// OmaData's exact terms of the consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmaDataTerms {
    pub event: ReceiptEvent,
    pub grant_id: GrantId,
    pub request_id: Option<RequestId>,
    pub grantee: Grantee,
    pub fields: BTreeSet<String>,
    pub actions: BTreeSet<Action>,
    pub purpose: Purpose,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptBody {
    pub version: String,
    pub jurisdiction: String,
    /// Seconds since the epoch, as Kantara asks.
    pub consent_timestamp: i64,
    pub collection_method: String,
    #[serde(rename = "consentReceiptID")]
    pub consent_receipt_id: String,
    pub language: String,
    pub pii_principal_id: ClientId,
    pub pii_controllers: Vec<PiiController>,
    pub policy_url: String,
    pub services: Vec<ReceiptService>,
    pub sensitive: bool,
    pub spi_cat: Vec<String>,
    pub omadata: OmaDataTerms,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSignature {
    pub alg: String,
    pub kid: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    pub receipt: ReceiptBody,
    pub signature: ReceiptSignature,
}

const SIGNING_CONTEXT: &[u8] = b"omadata.consent-receipt.v1\n";

fn signing_input(body: &ReceiptBody) -> Result<Vec<u8>, ConsentError> {
    let mut input = SIGNING_CONTEXT.to_vec();
    input.extend(canonical::to_vec(body).map_err(|e| ConsentError::Corrupt(e.to_string()))?);
    Ok(input)
}

/// Builds the receipt body for an event on `grant`.
pub fn receipt_body(
    catalogue: &Catalogue,
    grant: &Grant,
    event: ReceiptEvent,
    at: DateTime<Utc>,
) -> ReceiptBody {
    let fields = grant.fields.iter().filter_map(|p| catalogue.field(p));
    let categories: BTreeSet<String> = fields.clone().map(|f| f.category.clone()).collect();
    let sensitive_categories: BTreeSet<String> = fields
        .filter(|f| f.sensitivity != Sensitivity::Basic)
        .map(|f| f.category.clone())
        .collect();
    let organisation = &grant.grantee.organisation;
    let purpose_text = match &grant.purpose.text {
        Some(text) => format!("{}: {text}", grant.purpose.code.label_en()),
        None => grant.purpose.code.label_en().to_owned(),
    };
    let purpose_code = serde_json::to_value(grant.purpose.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    ReceiptBody {
        version: "KI-CR-v1.1.0".into(),
        jurisdiction: "FI".into(),
        consent_timestamp: at.timestamp(),
        collection_method: "OmaData: given by the client after strong authentication".into(),
        consent_receipt_id: Uuid::new_v4().to_string(),
        language: "fi".into(),
        pii_principal_id: grant.client,
        pii_controllers: vec![PiiController {
            pii_controller: organisation.name.clone(),
            contact: organisation.dpo_contact.clone(),
            pii_controller_url: organisation.privacy_notice_url.clone(),
            on_behalf: false,
        }],
        policy_url: organisation.privacy_notice_url.clone(),
        services: vec![ReceiptService {
            service: "OmaData".into(),
            purposes: vec![ReceiptPurpose {
                purpose: purpose_text,
                purpose_category: vec![purpose_code],
                consent_type: "EXPLICIT".into(),
                pii_category: categories.into_iter().collect(),
                primary_purpose: true,
                termination: grant.revoked_at.unwrap_or(grant.valid_until).to_rfc3339(),
                third_party_disclosure: true,
                third_party_name: format!("{}, {}", grant.grantee.name, organisation.name),
            }],
        }],
        sensitive: !sensitive_categories.is_empty(),
        spi_cat: sensitive_categories.into_iter().collect(),
        omadata: OmaDataTerms {
            event,
            grant_id: grant.id,
            request_id: grant.request,
            grantee: grant.grantee.clone(),
            fields: grant.fields.clone(),
            actions: grant.actions.clone(),
            purpose: grant.purpose.clone(),
            valid_from: grant.valid_from,
            valid_until: grant.valid_until,
            revoked_at: grant.revoked_at,
        },
    }
}

/// Signs a body; returns the receipt file's bytes.
pub fn sign_receipt(key: &ServiceKey, body: ReceiptBody) -> Result<Vec<u8>, ConsentError> {
    let signature = ReceiptSignature {
        alg: "EdDSA".into(),
        kid: key.kid().to_owned(),
        value: key.sign(&signing_input(&body)?),
    };
    canonical::to_vec(&SignedReceipt {
        receipt: body,
        signature,
    })
    .map_err(|e| ConsentError::Corrupt(e.to_string()))
}

/// Why a receipt did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptInvalid {
    #[error("not a consent receipt: {0}")]
    Malformed(String),
    #[error("not in canonical form: the bytes were altered after signing")]
    NotCanonical,
    #[error("signed by key {0}, which the given key set does not hold")]
    UnknownKey(String),
    #[error("unsupported signature algorithm {0}")]
    Algorithm(String),
    #[error("the signature does not match the receipt")]
    BadSignature,
}

/// Verifies a receipt file offline against published keys.
pub fn verify_receipt(bytes: &[u8], keys: &Jwks) -> Result<SignedReceipt, ReceiptInvalid> {
    let receipt: SignedReceipt =
        serde_json::from_slice(bytes).map_err(|e| ReceiptInvalid::Malformed(e.to_string()))?;
    let canonical_bytes =
        canonical::to_vec(&receipt).map_err(|e| ReceiptInvalid::Malformed(e.to_string()))?;
    if canonical_bytes != bytes {
        return Err(ReceiptInvalid::NotCanonical);
    }
    if receipt.signature.alg != "EdDSA" {
        return Err(ReceiptInvalid::Algorithm(receipt.signature.alg.clone()));
    }
    let key = keys
        .find(&receipt.signature.kid)
        .ok_or_else(|| ReceiptInvalid::UnknownKey(receipt.signature.kid.clone()))?;
    let input =
        signing_input(&receipt.receipt).map_err(|e| ReceiptInvalid::Malformed(e.to_string()))?;
    if key.verify(&input, &receipt.signature.value) {
        Ok(receipt)
    } else {
        Err(ReceiptInvalid::BadSignature)
    }
}

//! Sealed free text: a purpose's text is stored sealed under the client's data key and
//! opened on read.

use super::{Consent, json, parse};
use crate::error::ConsentError;
use crate::layout::{self, SEALED_TEXT};
use crate::model::*;
use crate::sealing::SealError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use omadata_vault::ClientId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

impl Consent {
    /// A grant as stored: its purpose's text sealed.
    pub(super) fn stored_grant(&self, grant: &Grant) -> Result<Vec<u8>, ConsentError> {
        self.sealed_json(grant, grant.client, &layout::grant_text_label(grant.id))
    }

    /// A request as stored: its purpose's text sealed.
    pub(super) fn stored_request(&self, request: &AccessRequest) -> Result<Vec<u8>, ConsentError> {
        self.sealed_json(
            request,
            request.client,
            &layout::request_text_label(request.id),
        )
    }

    /// `record`'s JSON with `purpose.text` replaced by `purpose.sealed_text`: the text
    /// sealed for `client` and `label`, in base64.
    fn sealed_json<T: Serialize>(
        &self,
        record: &T,
        client: ClientId,
        label: &str,
    ) -> Result<Vec<u8>, ConsentError> {
        let mut value =
            serde_json::to_value(record).map_err(|e| ConsentError::Corrupt(e.to_string()))?;
        if let Some(purpose) = value.get_mut("purpose").and_then(Value::as_object_mut)
            && let Some(Value::String(text)) = purpose.remove("text")
        {
            let sealed = self.sealer.seal(client, label, text.as_bytes())?;
            purpose.insert(
                SEALED_TEXT.to_owned(),
                Value::String(STANDARD_NO_PAD.encode(sealed)),
            );
        }
        json(&value)
    }

    /// Reads a stored grant or request, opening `purpose.sealed_text` into `purpose.text`.
    /// A record stored before texts were sealed holds `purpose.text` in clear and reads
    /// as it is. After the client's erasure the text cannot be opened: the record reads
    /// without it.
    pub(super) fn opened<T: for<'de> Deserialize<'de>>(
        &self,
        bytes: &[u8],
        what: &str,
        label: &str,
    ) -> Result<T, ConsentError> {
        let marker = format!("\"{SEALED_TEXT}\"");
        if !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            return parse(bytes, what);
        }
        let corrupt = |reason: String| ConsentError::Corrupt(format!("{what}: {reason}"));
        let mut value: Value = parse(bytes, what)?;
        let client: ClientId = value
            .get("client")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?
            .ok_or_else(|| corrupt("no client".into()))?;
        if let Some(purpose) = value.get_mut("purpose").and_then(Value::as_object_mut)
            && let Some(sealed) = purpose.remove(SEALED_TEXT)
        {
            let sealed = sealed
                .as_str()
                .and_then(|b64| STANDARD_NO_PAD.decode(b64).ok())
                .ok_or_else(|| corrupt("malformed sealed text".into()))?;
            match self.sealer.open(client, label, &sealed) {
                Ok(text) => {
                    let text = String::from_utf8(text.to_vec())
                        .map_err(|_| corrupt("sealed text is not UTF-8".into()))?;
                    purpose.insert("text".to_owned(), Value::String(text));
                }
                // Crypto-shredded with the client: the record reads without its text.
                Err(SealError::NoKey) => {}
                Err(SealError::Store(error)) => return Err(error.into()),
                Err(error) => return Err(corrupt(error.to_string())),
            }
        }
        serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
    }
}

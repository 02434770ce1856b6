//! The sensitivity policy (`specs/sensitivity-policy.json`): which professions may be
//! given `special` and `confidential` fields. Checked before a client is even asked.

use crate::error::ConsentError;
use crate::model::Profession;
use omadata_vault::{Catalogue, Sensitivity};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub const BUILTIN_JSON: &str = include_str!("../../../specs/sensitivity-policy.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[allow(dead_code)] // read so that an unknown version is at least parsed, not ignored
    version: u32,
    special: SpecialRule,
    confidential: ConfidentialRule,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecialRule {
    #[serde(default)]
    #[allow(dead_code)]
    note: String,
    professions: BTreeSet<Profession>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfidentialRule {
    #[serde(default)]
    #[allow(dead_code)]
    note: String,
    by_category: BTreeMap<String, BTreeSet<Profession>>,
}

#[derive(Debug, Clone)]
pub struct SensitivityPolicy {
    special: BTreeSet<Profession>,
    confidential: BTreeMap<String, BTreeSet<Profession>>,
}

impl SensitivityPolicy {
    pub fn builtin() -> Result<Self, ConsentError> {
        Self::from_json(BUILTIN_JSON)
    }

    pub fn from_json(json: &str) -> Result<Self, ConsentError> {
        let file: PolicyFile = serde_json::from_str(json)
            .map_err(|e| ConsentError::Config(format!("sensitivity policy: {e}")))?;
        Ok(Self {
            special: file.special.professions,
            confidential: file.confidential.by_category,
        })
    }

    /// Refuses, naming the first offending field, if `profession` may not receive every
    /// one of `fields`. Confidential fields of a category the policy does not list are
    /// refused to everyone (default deny).
    pub fn check(
        &self,
        catalogue: &Catalogue,
        profession: Profession,
        fields: &BTreeSet<String>,
    ) -> Result<(), ConsentError> {
        for path in fields {
            let field = catalogue
                .field(path)
                .ok_or_else(|| ConsentError::UnknownField(path.clone()))?;
            let allowed = match field.sensitivity {
                Sensitivity::Basic => true,
                Sensitivity::Special => self.special.contains(&profession),
                Sensitivity::Confidential => self
                    .confidential
                    .get(&field.category)
                    .is_some_and(|professions| professions.contains(&profession)),
            };
            if !allowed {
                let rule = match field.sensitivity {
                    Sensitivity::Special => {
                        "special-category (health) data may be shared only with health-care professionals"
                    }
                    _ => {
                        "confidential client data may be shared only with the professions the policy lists for it"
                    }
                };
                return Err(ConsentError::PolicyForbids {
                    field: path.clone(),
                    profession,
                    rule: rule.into(),
                });
            }
        }
        Ok(())
    }
}

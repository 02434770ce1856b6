//! Who is who: registered organisations and their staff (professionals, auditors,
//! organisation admins), and enrolled clients. Stored in the consent keyspace.
//!
//! Staff are matched at login by their identity provider subject; clients by a keyed
//! hash (HMAC-SHA-256 with a server secret) of their national identity number when the
//! provider gives one, else of the provider's subject. The number itself is never stored.
//!
//! Keys: `do/org` organisations; `ds/staff` staff; `dl/sha256(subject)` staff login;
//! `dc/hmac` client enrolment; `dk/client` the client's enrolment key (for erasure).

use crate::error::ConsentError;
use crate::model::{Grantee, Organisation, OrganisationId, Profession};
use crate::store::{ConsentStore, Write};
use chrono::{DateTime, Utc};
use omadata_vault::{ClientId, ProfessionalId};
use parking_lot::Mutex;
use ring::{digest, hmac};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

/// What a registered staff member may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StaffRole {
    Professional,
    Auditor,
    Admin,
}

/// A registered person of an organisation. Their id doubles as the professional id in
/// grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Staff {
    pub id: ProfessionalId,
    pub organisation: OrganisationId,
    pub name: String,
    pub title: String,
    pub profession: Profession,
    pub roles: BTreeSet<StaffRole>,
    /// The identity provider subject this person logs in as.
    pub login_subject: String,
    pub registered_at: DateTime<Utc>,
}

/// A new organisation, as registered by the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewOrganisation {
    pub name: String,
    pub business_id: String,
    pub privacy_notice_url: String,
    pub dpo_contact: String,
}

/// A new staff member, as registered by the operator or the organisation's admin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewStaff {
    pub name: String,
    pub title: String,
    pub profession: Profession,
    pub roles: BTreeSet<StaffRole>,
    pub login_subject: String,
}

/// The server secret for enrolment hashes. Zeroized by ring when dropped.
pub struct EnrolmentSecret(hmac::Key);

impl EnrolmentSecret {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    fn hash(&self, kind: &str, value: &str) -> Vec<u8> {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(kind.as_bytes());
        context.update(b"\0");
        context.update(value.as_bytes());
        context.sign().as_ref().to_vec()
    }
}

impl fmt::Debug for EnrolmentSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrolmentSecret(<redacted>)")
    }
}

/// How a client is recognised at login.
#[derive(Clone, Copy, Debug)]
pub enum ClientIdentity<'a> {
    /// A national identity number (henkilötunnus) from the provider.
    NationalId(&'a str),
    /// The provider's subject, when it gives no national identity number.
    Subject { issuer: &'a str, subject: &'a str },
}

fn k(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, ConsentError> {
    serde_json::to_vec(value).map_err(|e| ConsentError::Corrupt(e.to_string()))
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ConsentError> {
    serde_json::from_slice(bytes).map_err(|e| ConsentError::Corrupt(e.to_string()))
}

fn check_text(what: &'static str, value: &str, max: usize) -> Result<(), ConsentError> {
    let invalid = |reason: &str| ConsentError::Invalid {
        what,
        reason: reason.into(),
    };
    if value.trim().is_empty() {
        return Err(invalid("must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(&format!("at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid("contains control characters"));
    }
    Ok(())
}

/// Finnish business id (Y-tunnus): seven digits, a hyphen and a check digit.
fn check_business_id(id: &str) -> Result<(), ConsentError> {
    let invalid = || ConsentError::Invalid {
        what: "business_id",
        reason: "expected a Finnish business id like 1234567-8 with a valid check digit".into(),
    };
    let (digits, check) = id.split_once('-').ok_or_else(invalid)?;
    if digits.len() != 7
        || check.len() != 1
        || !id
            .bytes()
            .filter(|b| *b != b'-')
            .all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let weights = [7u32, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let expected = match sum % 11 {
        0 => 0,
        1 => return Err(invalid()),
        r => 11 - r,
    };
    if check.bytes().next().map(|b| u32::from(b - b'0')) == Some(expected) {
        Ok(())
    } else {
        Err(invalid())
    }
}

#[derive(Debug)]
pub struct Directory {
    store: Arc<dyn ConsentStore>,
    secret: EnrolmentSecret,
    /// Staff records read so far. A staff record is written once, at registration, and
    /// never changed or removed, so a cached one is never stale (absences are not cached).
    staff_cache: Mutex<HashMap<ProfessionalId, Staff>>,
}

/// Staff records cached at most; the cache is emptied when full.
const STAFF_CACHE_LIMIT: usize = 100_000;

impl Directory {
    pub fn new(store: Arc<dyn ConsentStore>, secret: EnrolmentSecret) -> Self {
        Self {
            store,
            secret,
            staff_cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn register_organisation(
        &self,
        new: NewOrganisation,
    ) -> Result<Organisation, ConsentError> {
        check_text("name", &new.name, 200)?;
        check_business_id(&new.business_id)?;
        check_text("privacy_notice_url", &new.privacy_notice_url, 500)?;
        if !new.privacy_notice_url.starts_with("https://") {
            return Err(ConsentError::Invalid {
                what: "privacy_notice_url",
                reason: "must be an https:// address".into(),
            });
        }
        check_text("dpo_contact", &new.dpo_contact, 300)?;
        let organisation = Organisation {
            id: OrganisationId::random(),
            name: new.name,
            business_id: new.business_id,
            privacy_notice_url: new.privacy_notice_url,
            dpo_contact: new.dpo_contact,
        };
        self.store.apply(vec![(
            k(&[b"do/", organisation.id.as_bytes()]),
            Some(json(&organisation)?),
        )])?;
        Ok(organisation)
    }

    pub fn organisation(&self, id: OrganisationId) -> Result<Option<Organisation>, ConsentError> {
        self.store
            .get(&k(&[b"do/", id.as_bytes()]))?
            .map(|b| parse(&b))
            .transpose()
    }

    pub fn organisations(&self) -> Result<Vec<Organisation>, ConsentError> {
        self.store
            .scan(b"do/", None, false, usize::MAX)?
            .iter()
            .map(|(_, v)| parse(v))
            .collect()
    }

    pub fn register_staff(
        &self,
        organisation: OrganisationId,
        new: NewStaff,
        now: DateTime<Utc>,
    ) -> Result<Staff, ConsentError> {
        if self.organisation(organisation)?.is_none() {
            return Err(ConsentError::Invalid {
                what: "organisation",
                reason: "no such organisation".into(),
            });
        }
        check_text("name", &new.name, 200)?;
        check_text("title", &new.title, 200)?;
        check_text("login_subject", &new.login_subject, 255)?;
        if new.roles.is_empty() {
            return Err(ConsentError::Invalid {
                what: "roles",
                reason: "name at least one role".into(),
            });
        }
        let login_key = k(&[
            b"dl/",
            digest::digest(&digest::SHA256, new.login_subject.as_bytes()).as_ref(),
        ]);
        if self.store.get(&login_key)?.is_some() {
            return Err(ConsentError::Invalid {
                what: "login_subject",
                reason: "already registered".into(),
            });
        }
        let staff = Staff {
            id: ProfessionalId::random(),
            organisation,
            name: new.name,
            title: new.title,
            profession: new.profession,
            roles: new.roles,
            login_subject: new.login_subject,
            registered_at: now,
        };
        self.store.apply(vec![
            (k(&[b"ds/", staff.id.as_bytes()]), Some(json(&staff)?)),
            (login_key, Some(staff.id.as_bytes().to_vec())),
        ])?;
        Ok(staff)
    }

    pub fn staff(&self, id: ProfessionalId) -> Result<Option<Staff>, ConsentError> {
        if let Some(staff) = self.staff_cache.lock().get(&id) {
            return Ok(Some(staff.clone()));
        }
        let staff: Option<Staff> = self
            .store
            .get(&k(&[b"ds/", id.as_bytes()]))?
            .map(|b| parse(&b))
            .transpose()?;
        if let Some(staff) = &staff {
            let mut cache = self.staff_cache.lock();
            if cache.len() >= STAFF_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(id, staff.clone());
        }
        Ok(staff)
    }

    pub fn staff_by_login(&self, subject: &str) -> Result<Option<Staff>, ConsentError> {
        let key = k(&[
            b"dl/",
            digest::digest(&digest::SHA256, subject.as_bytes()).as_ref(),
        ]);
        let Some(id) = self.store.get(&key)? else {
            return Ok(None);
        };
        let id = <[u8; 16]>::try_from(id.as_slice())
            .map_err(|_| ConsentError::Corrupt("malformed staff login".into()))?;
        self.staff(ProfessionalId::from_bytes(id))
    }

    /// Every registered staff member, of every organisation.
    pub fn all_staff(&self) -> Result<Vec<Staff>, ConsentError> {
        self.store
            .scan(b"ds/", None, false, usize::MAX)?
            .iter()
            .map(|(_, v)| parse(v))
            .collect()
    }

    /// Up to `limit` staff members that `keep` accepts, in id order after `after`, and
    /// the id to continue after when more may follow: a key-range scan, a page at a time.
    pub fn staff_page(
        &self,
        after: Option<ProfessionalId>,
        limit: usize,
        keep: impl Fn(&Staff) -> bool,
    ) -> Result<(Vec<Staff>, Option<ProfessionalId>), ConsentError> {
        const SCAN: usize = 256;
        let mut from = after.map(|id| k(&[b"ds/", id.as_bytes(), &[0]]));
        let mut out = Vec::new();
        loop {
            let page = self.store.scan(b"ds/", from.as_deref(), false, SCAN)?;
            let full = page.len() == SCAN;
            for (key, value) in &page {
                let staff: Staff = parse(value)?;
                if keep(&staff) {
                    if out.len() == limit {
                        let next = out.last().map(|s: &Staff| s.id);
                        return Ok((out, next));
                    }
                    out.push(staff);
                }
                from = Some(k(&[key, &[0]]));
            }
            if !full {
                return Ok((out, None));
            }
        }
    }

    pub fn staff_of(&self, organisation: OrganisationId) -> Result<Vec<Staff>, ConsentError> {
        let mut staff = self.all_staff()?;
        staff.retain(|s| s.organisation == organisation);
        Ok(staff)
    }

    /// The grantee a staff member appears as in grants and receipts.
    pub fn grantee(&self, staff: &Staff) -> Result<Grantee, ConsentError> {
        let organisation = self.organisation(staff.organisation)?.ok_or_else(|| {
            ConsentError::Corrupt(format!("staff {} names a missing organisation", staff.id))
        })?;
        Ok(Grantee {
            professional: staff.id,
            name: staff.name.clone(),
            title: staff.title.clone(),
            profession: staff.profession,
            organisation,
        })
    }

    fn enrolment_key(&self, identity: ClientIdentity<'_>) -> Vec<u8> {
        let hash = match identity {
            ClientIdentity::NationalId(id) => self.secret.hash("national-id", id.trim()),
            ClientIdentity::Subject { issuer, subject } => {
                self.secret.hash("subject", &format!("{issuer}\0{subject}"))
            }
        };
        k(&[b"dc/", &hash])
    }

    /// The client already enrolled under this identity.
    pub fn find_client(
        &self,
        identity: ClientIdentity<'_>,
    ) -> Result<Option<ClientId>, ConsentError> {
        let Some(id) = self.store.get(&self.enrolment_key(identity))? else {
            return Ok(None);
        };
        let id = <[u8; 16]>::try_from(id.as_slice())
            .map_err(|_| ConsentError::Corrupt("malformed enrolment".into()))?;
        Ok(Some(ClientId::from_bytes(id)))
    }

    /// Records that `identity` is `client` (a fresh random id from the vault).
    pub fn enrol_client(
        &self,
        identity: ClientIdentity<'_>,
        client: ClientId,
    ) -> Result<(), ConsentError> {
        let key = self.enrolment_key(identity);
        self.store.apply(vec![
            (key.clone(), Some(client.as_bytes().to_vec())),
            (k(&[b"dk/", client.as_bytes()]), Some(key)),
        ])?;
        Ok(())
    }

    /// Forgets who the client was: after this nothing links the random id to a person.
    pub fn forget_client(&self, client: ClientId) -> Result<(), ConsentError> {
        let link = k(&[b"dk/", client.as_bytes()]);
        let mut writes: Vec<Write> = vec![(link.clone(), None)];
        if let Some(key) = self.store.get(&link)? {
            writes.push((key, None));
        }
        self.store.apply(writes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryConsentStore;

    fn directory() -> (Directory, MemoryConsentStore) {
        let store = MemoryConsentStore::new();
        (
            Directory::new(Arc::new(store.clone()), EnrolmentSecret::new(b"secret")),
            store,
        )
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    fn org() -> NewOrganisation {
        NewOrganisation {
            name: "Ohjaamo Testikaupunki".into(),
            business_id: "0201256-6".into(),
            privacy_notice_url: "https://example.fi/tietosuoja".into(),
            dpo_contact: "tietosuoja@example.fi".into(),
        }
    }

    #[test]
    fn business_ids_are_checked() {
        assert!(check_business_id("0201256-6").is_ok());
        assert!(check_business_id("1572860-0").is_ok());
        assert!(check_business_id("0201256-7").is_err());
        assert!(check_business_id("201256-6").is_err());
        assert!(check_business_id("abcdefg-h").is_err());
    }

    #[test]
    fn staff_are_found_by_login_and_subjects_are_unique() {
        let (directory, _) = directory();
        let organisation = directory.register_organisation(org()).unwrap();
        let staff = directory
            .register_staff(
                organisation.id,
                NewStaff {
                    name: "Pirjo".into(),
                    title: "Ohjaaja".into(),
                    profession: Profession::YouthWork,
                    roles: [StaffRole::Professional].into_iter().collect(),
                    login_subject: "pro-youth".into(),
                },
                now(),
            )
            .unwrap();
        assert_eq!(
            directory.staff_by_login("pro-youth").unwrap(),
            Some(staff.clone())
        );
        assert_eq!(directory.staff_by_login("stranger").unwrap(), None);
        let again = NewStaff {
            name: "X".into(),
            title: "Y".into(),
            profession: Profession::Other,
            roles: [StaffRole::Auditor].into_iter().collect(),
            login_subject: "pro-youth".into(),
        };
        assert!(
            directory
                .register_staff(organisation.id, again, now())
                .is_err()
        );
        assert_eq!(
            directory.grantee(&staff).unwrap().organisation,
            organisation
        );
        assert_eq!(directory.staff_of(organisation.id).unwrap(), vec![staff]);
        let bad = NewOrganisation {
            business_id: "123".into(),
            ..org()
        };
        assert!(directory.register_organisation(bad).is_err());
    }

    #[test]
    fn clients_are_matched_by_keyed_hash_only_and_can_be_forgotten() {
        let (directory, store) = directory();
        let client = ClientId::random();
        let hetu = "010101-123N";
        assert_eq!(
            directory
                .find_client(ClientIdentity::NationalId(hetu))
                .unwrap(),
            None
        );
        directory
            .enrol_client(ClientIdentity::NationalId(hetu), client)
            .unwrap();
        assert_eq!(
            directory
                .find_client(ClientIdentity::NationalId(hetu))
                .unwrap(),
            Some(client)
        );
        for (key, value) in store.scan(b"", None, false, usize::MAX).unwrap() {
            assert!(!String::from_utf8_lossy(&key).contains("123N"));
            assert!(!String::from_utf8_lossy(&value).contains("123N"));
        }
        // Another secret gives another hash: the store alone cannot be searched by number.
        let other = Directory::new(Arc::new(store.clone()), EnrolmentSecret::new(b"other"));
        assert_eq!(
            other.find_client(ClientIdentity::NationalId(hetu)).unwrap(),
            None
        );
        directory.forget_client(client).unwrap();
        assert_eq!(
            directory
                .find_client(ClientIdentity::NationalId(hetu))
                .unwrap(),
            None
        );
    }
}

//! Who is who: registered organisations and their staff (professionals, auditors,
//! organisation admins), and enrolled clients. Stored in the consent keyspace.
//!
//! Staff are matched at login by their identity (issuer, subject): the record names the
//! issuer (`None`: whichever issuer the gateway is configured with) and the login index
//! the subject. Subjects are unique among staff across issuers (stricter than the pair,
//! and needs no knowledge of the configured issuer to check). Clients are matched by a
//! keyed hash (HMAC-SHA-256 with a server secret) of their national identity number
//! when the provider gives one, else of the provider's (issuer, subject). The number
//! itself is never stored. Every client who signed in also leaves a keyed hash of their
//! subject, so a staff registration cannot claim a client's sign-in (a client enrolled by
//! national id who never signed in is unknown by subject: nothing can be checked then).
//!
//! Keys: [`crate::layout`] (`do/`, `ds/`, `dl/`, `dc/`, `dk/`, `dcs/`, `dks/`).

use crate::error::ConsentError;
use crate::layout;
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
    /// The provider (issuer) of `login_subject`; `None` (records older than this field,
    /// and the operator's registrations without `--login-issuer`): the gateway's
    /// configured issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_issuer: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// Whether the person may sign in. Records older than this field are active.
    #[serde(default)]
    pub status: StaffStatus,
}

impl Staff {
    pub fn is_active(&self) -> bool {
        self.status == StaffStatus::Active
    }

    /// Whether this record is the sign-in `(issuer, subject)`, given the issuer the
    /// gateway is configured with.
    pub fn signs_in_as(&self, issuer: &str, subject: &str, configured_issuer: &str) -> bool {
        self.login_subject == subject
            && self.login_issuer.as_deref().unwrap_or(configured_issuer) == issuer
    }
}

/// A staff member's standing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StaffStatus {
    #[default]
    Active,
    /// Registered by an organisation admin for a profession that unlocks
    /// special-category data: cannot sign in until the operator confirms it.
    PendingConfirmation,
    /// Removed: cannot sign in; the login subject stays reserved.
    Deactivated,
}

/// Who registers a staff member: the operator is trusted with every profession; an
/// organisation admin's `health_care` registrations wait for the operator's confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registrar {
    Operator,
    OrganisationAdmin,
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
    /// The provider of `login_subject`; left out: the gateway's configured issuer.
    #[serde(default)]
    pub login_issuer: Option<String>,
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

fn staff_login_key(subject: &str) -> Vec<u8> {
    layout::staff_login(digest::digest(&digest::SHA256, subject.as_bytes()).as_ref())
}

#[derive(Debug)]
pub struct Directory {
    store: Arc<dyn ConsentStore>,
    secret: EnrolmentSecret,
    /// Staff records read so far. A record changes through this Directory
    /// ([`Directory::set_staff_status`] updates the cache in the same call), through the
    /// operator's CLI, or through another gateway on a shared store; the last two move
    /// the store's change count on, and the gateway then calls
    /// [`Directory::forget_cached`]. Absences are not cached.
    staff_cache: Mutex<HashMap<ProfessionalId, Staff>>,
    /// Moved on by [`Directory::forget_cached`]: a record read before it is not cached.
    generation: std::sync::atomic::AtomicU64,
}

/// Staff records cached at most; the cache is emptied when full.
const STAFF_CACHE_LIMIT: usize = 100_000;

impl Directory {
    pub fn new(store: Arc<dyn ConsentStore>, secret: EnrolmentSecret) -> Self {
        Self {
            store,
            secret,
            staff_cache: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Forgets every cached staff record (another process may have changed one).
    pub fn forget_cached(&self) {
        let mut cache = self.staff_cache.lock();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        cache.clear();
    }

    /// Caches `staff` as read in `generation`, unless the cache was forgotten since.
    fn cache_staff(&self, staff: &Staff, generation: u64) {
        let mut cache = self.staff_cache.lock();
        if self.generation.load(std::sync::atomic::Ordering::Acquire) != generation {
            return;
        }
        if cache.len() >= STAFF_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(staff.id, staff.clone());
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
            layout::organisation(organisation.id),
            Some(json(&organisation)?),
        )])?;
        Ok(organisation)
    }

    pub fn organisation(&self, id: OrganisationId) -> Result<Option<Organisation>, ConsentError> {
        self.store
            .get(&layout::organisation(id))?
            .map(|b| parse(&b))
            .transpose()
    }

    pub fn organisations(&self) -> Result<Vec<Organisation>, ConsentError> {
        self.store
            .scan(layout::ORGANISATION, None, false, usize::MAX)?
            .iter()
            .map(|(_, v)| parse(v))
            .collect()
    }

    /// Registers a staff member. Refused with [`ConsentError::IdentityTaken`] when the
    /// subject already belongs to a staff member (of any organisation) or to a client who
    /// has signed in.
    pub fn register_staff(
        &self,
        organisation: OrganisationId,
        new: NewStaff,
        registrar: Registrar,
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
        if let Some(issuer) = &new.login_issuer {
            check_text("login_issuer", issuer, 500)?;
        }
        if new.roles.is_empty() {
            return Err(ConsentError::Invalid {
                what: "roles",
                reason: "name at least one role".into(),
            });
        }
        let login_key = staff_login_key(&new.login_subject);
        if self.store.get(&login_key)?.is_some()
            || self
                .store
                .get(&self.client_subject_key(&new.login_subject))?
                .is_some()
        {
            return Err(ConsentError::IdentityTaken);
        }
        let status = if registrar == Registrar::OrganisationAdmin
            && new.profession == Profession::HealthCare
        {
            StaffStatus::PendingConfirmation
        } else {
            StaffStatus::Active
        };
        let staff = Staff {
            id: ProfessionalId::random(),
            organisation,
            name: new.name,
            title: new.title,
            profession: new.profession,
            roles: new.roles,
            login_subject: new.login_subject,
            login_issuer: new.login_issuer,
            registered_at: now,
            status,
        };
        self.store.apply(vec![
            (layout::staff(staff.id), Some(json(&staff)?)),
            (login_key, Some(staff.id.as_bytes().to_vec())),
        ])?;
        Ok(staff)
    }

    /// Confirms, or deactivates, a staff member; the cache follows at once. A deactivated
    /// member stays deactivated (confirming them again is refused).
    pub fn set_staff_status(
        &self,
        id: ProfessionalId,
        status: StaffStatus,
    ) -> Result<Staff, ConsentError> {
        let mut staff = self.staff(id)?.ok_or(ConsentError::UnknownStaff)?;
        if staff.status == StaffStatus::Deactivated && status != StaffStatus::Deactivated {
            return Err(ConsentError::Invalid {
                what: "status",
                reason: "a deactivated staff member cannot be reinstated; register them again under a new login".into(),
            });
        }
        staff.status = status;
        self.store
            .apply(vec![(layout::staff(id), Some(json(&staff)?))])?;
        // Moved on with the new record in place, so a read of the old record that began
        // before this write is not cached after it (nothing else would forget it: on a
        // shared store a gateway's own changes do not make it forget).
        let mut cache = self.staff_cache.lock();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if cache.len() >= STAFF_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(staff.id, staff.clone());
        Ok(staff)
    }

    /// The staff record of `id` if it is in memory now (`None`: ask [`Directory::staff`]).
    pub fn cached_staff(&self, id: ProfessionalId) -> Option<Staff> {
        self.staff_cache.lock().get(&id).cloned()
    }

    pub fn staff(&self, id: ProfessionalId) -> Result<Option<Staff>, ConsentError> {
        if let Some(staff) = self.staff_cache.lock().get(&id) {
            return Ok(Some(staff.clone()));
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let staff: Option<Staff> = self
            .store
            .get(&layout::staff(id))?
            .map(|b| parse(&b))
            .transpose()?;
        if let Some(staff) = &staff {
            self.cache_staff(staff, generation);
        }
        Ok(staff)
    }

    /// The staff member who signs in as `(issuer, subject)`, whatever their status.
    /// `configured_issuer`: the gateway's, which records without an issuer name.
    pub fn staff_by_login(
        &self,
        issuer: &str,
        subject: &str,
        configured_issuer: &str,
    ) -> Result<Option<Staff>, ConsentError> {
        let Some(id) = self.store.get(&staff_login_key(subject))? else {
            return Ok(None);
        };
        let id = <[u8; 16]>::try_from(id.as_slice())
            .map_err(|_| ConsentError::Corrupt("malformed staff login".into()))?;
        Ok(self
            .staff(ProfessionalId::from_bytes(id))?
            .filter(|staff| staff.signs_in_as(issuer, subject, configured_issuer)))
    }

    /// Every registered staff member, of every organisation.
    pub fn all_staff(&self) -> Result<Vec<Staff>, ConsentError> {
        self.store
            .scan(layout::STAFF, None, false, usize::MAX)?
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
        let mut from = after.map(|id| layout::key(&[layout::STAFF, id.as_bytes(), &[0]]));
        let mut out = Vec::new();
        loop {
            let page = self
                .store
                .scan(layout::STAFF, from.as_deref(), false, SCAN)?;
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
                from = Some(layout::key(&[key, &[0]]));
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
            ClientIdentity::NationalId(id) => self.secret.hash(layout::NATIONAL_ID_HASH, id.trim()),
            ClientIdentity::Subject { issuer, subject } => self
                .secret
                .hash(layout::SUBJECT_HASH, &format!("{issuer}\0{subject}")),
        };
        layout::client_enrolment(&hash)
    }

    fn client_subject_key(&self, subject: &str) -> Vec<u8> {
        layout::client_subject(&self.secret.hash(layout::SIGN_IN_SUBJECT_HASH, subject))
    }

    /// The client who signed in with `subject` (of any issuer): for refusing a staff
    /// registration of it, and for keeping such a person a client at sign-in.
    pub fn client_by_subject(&self, subject: &str) -> Result<Option<ClientId>, ConsentError> {
        let Some(id) = self.store.get(&self.client_subject_key(subject))? else {
            return Ok(None);
        };
        let id = <[u8; 16]>::try_from(id.as_slice())
            .map_err(|_| ConsentError::Corrupt("malformed client subject".into()))?;
        Ok(Some(ClientId::from_bytes(id)))
    }

    /// Remembers (keyed hash) that `client` signs in as `subject`; a no-op when known.
    pub fn link_client_subject(&self, subject: &str, client: ClientId) -> Result<(), ConsentError> {
        let key = self.client_subject_key(subject);
        if self.store.get(&key)?.as_deref() == Some(client.as_bytes().as_slice()) {
            return Ok(());
        }
        self.store.apply(vec![
            (key.clone(), Some(client.as_bytes().to_vec())),
            (layout::client_subject_of(client), Some(key)),
        ])?;
        Ok(())
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
            (layout::client_enrolment_of(client), Some(key)),
        ])?;
        Ok(())
    }

    /// Forgets who the client was: after this nothing links the random id to a person.
    pub fn forget_client(&self, client: ClientId) -> Result<(), ConsentError> {
        let mut writes: Vec<Write> = Vec::new();
        for link in [
            layout::client_enrolment_of(client),
            layout::client_subject_of(client),
        ] {
            if let Some(key) = self.store.get(&link)? {
                writes.push((key, None));
            }
            writes.push((link, None));
        }
        self.store.apply(writes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

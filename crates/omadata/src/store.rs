//! Which store a command opens: sled in the data directory (the embedded default), or a
//! PostgreSQL database (`--store postgres://…`, `store = "…"` in the config file, or
//! `OMADATA_STORE`). With PostgreSQL the data directory holds only the key files.

use omadata_consent::store::ConsentStore;
use omadata_store_postgres::{Access, PgOptions, PgStore};
use omadata_store_sled::SledStore;
use omadata_vault::store::{StoreError, VaultStore};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The environment variable naming the store when no flag does.
pub const STORE_ENV: &str = "OMADATA_STORE";

/// A PostgreSQL connection string; it may hold a password, so it is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Zeroizing<String>);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgres://…")
    }
}

/// Where the data lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreChoice {
    /// sled in `<data>/db`.
    #[default]
    Embedded,
    Postgres(DatabaseUrl),
}

impl StoreChoice {
    /// From a `--store` value (else `OMADATA_STORE`, else the config file's `store`);
    /// none of them: the embedded store.
    pub fn resolve(flag: Option<String>, config_file: Option<String>) -> Result<Self, String> {
        let given = flag
            .or_else(|| std::env::var(STORE_ENV).ok().filter(|v| !v.is_empty()))
            .or(config_file);
        match given {
            None => Ok(Self::Embedded),
            Some(value) if value == "sled" || value == "embedded" => Ok(Self::Embedded),
            Some(value) if omadata_store_postgres::is_postgres_url(&value) => {
                Ok(Self::Postgres(DatabaseUrl(Zeroizing::new(value))))
            }
            Some(_) => Err(
                "the store is `sled` (the data directory) or a postgres://… connection string"
                    .into(),
            ),
        }
    }
}

/// How a PostgreSQL store is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lease {
    /// Read only: no lease.
    None,
    /// Beside other gateways, waiting briefly while a command that must be alone runs.
    Take,
    /// Beside other gateways, waiting as long as a command that must be alone runs.
    StandBy,
    /// Alone: refused while any gateway serves.
    Alone,
}

/// An open store, as the domain's traits.
#[derive(Clone, Debug)]
pub enum OpenStore {
    Sled(Arc<SledStore>),
    Postgres(Arc<PgStore>),
}

impl OpenStore {
    /// Opens the chosen store (sled in `data/db`) to change it; a PostgreSQL store may be
    /// served by gateways meanwhile.
    pub fn open(data: &Path, choice: &StoreChoice) -> Result<Self, StoreError> {
        Self::open_with(data, choice, Lease::Take)
    }

    /// Opens the chosen store for a change that must be made alone (`keys rotate`): a
    /// PostgreSQL store is refused while any gateway serves it.
    pub fn open_alone(data: &Path, choice: &StoreChoice) -> Result<Self, StoreError> {
        Self::open_with(data, choice, Lease::Alone)
    }

    /// Opens the chosen store to serve it, beside any other gateways on the same
    /// PostgreSQL database (waiting while a command that must be alone runs).
    pub fn open_to_serve(data: &Path, choice: &StoreChoice) -> Result<Self, StoreError> {
        Self::open_with(data, choice, Lease::StandBy)
    }

    /// Opens the chosen store only to read it (`audit verify`, `audit export`): a
    /// PostgreSQL store can be read while a gateway serves it.
    pub fn open_to_read(data: &Path, choice: &StoreChoice) -> Result<Self, StoreError> {
        Self::open_with(data, choice, Lease::None)
    }

    fn open_with(data: &Path, choice: &StoreChoice, lease: Lease) -> Result<Self, StoreError> {
        match choice {
            StoreChoice::Embedded => Ok(Self::Sled(Arc::new(SledStore::open(&sled_dir(data))?))),
            StoreChoice::Postgres(url) => {
                let options = PgOptions {
                    access: match lease {
                        Lease::None => Access::Read,
                        Lease::Take | Lease::StandBy => Access::Shared,
                        Lease::Alone => Access::Exclusive,
                    },
                    lease_wait: match lease {
                        Lease::StandBy => None,
                        Lease::Take | Lease::None | Lease::Alone => {
                            Some(omadata_store_postgres::DEFAULT_LEASE_WAIT)
                        }
                    },
                    ..PgOptions::default()
                };
                Ok(Self::Postgres(Arc::new(PgStore::open(
                    url.expose(),
                    &options,
                )?)))
            }
        }
    }

    /// Whether the store holds nothing yet (demo data is seeded only then).
    pub fn is_new(data: &Path, choice: &StoreChoice) -> bool {
        match choice {
            StoreChoice::Embedded => !sled_dir(data).exists(),
            // Decided after opening: see [`OpenStore::is_empty`].
            StoreChoice::Postgres(_) => false,
        }
    }

    /// Whether an opened store holds no data at all.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        match self {
            Self::Sled(store) => Ok(!store.holds_client_data()?
                && ConsentStore::scan(store.as_ref(), &[], None, false, 1)?.is_empty()
                && store.journal_len()? == 0),
            Self::Postgres(store) => store.is_empty(),
        }
    }

    pub fn vault(&self) -> Arc<dyn VaultStore> {
        match self {
            Self::Sled(store) => store.clone(),
            Self::Postgres(store) => store.clone(),
        }
    }

    pub fn consent(&self) -> Arc<dyn ConsentStore> {
        match self {
            Self::Sled(store) => store.clone(),
            Self::Postgres(store) => store.clone(),
        }
    }

    /// The embedded store, for what only it has (the live backup).
    pub fn sled(&self) -> Option<&Arc<SledStore>> {
        match self {
            Self::Sled(store) => Some(store),
            Self::Postgres(_) => None,
        }
    }
}

/// The sled database inside a data directory.
pub fn sled_dir(data: &Path) -> PathBuf {
    data.join("db")
}

//! The PostgreSQL store, for real deployments: OmaData's storage traits on one PostgreSQL
//! database (a primary with a synchronous standby; gateways find the primary through a
//! multi-host connection string with `target_session_attrs=read-write`).
//!
//! - [`PgStore`]: opens the database, runs the migrations, holds the writer lease, and
//!   implements [`omadata_vault::store::VaultStore`] (`vault.rs`) and
//!   [`omadata_consent::store::ConsentStore`] (`consent.rs`).
//! - [`migrations`]: the schema, created and upgraded by numbered migrations at open.
//! - `bridge`: the traits are synchronous and the gateway calls them on blocking threads;
//!   each call runs its queries on the store's own small runtime and waits for the
//!   answer, so no async worker of the gateway ever waits on the database.
//!
//! Durability: every mutating method returns after its transaction committed with
//! `synchronous_commit = on` (the WAL flushed, and with a synchronous standby on both
//! servers). A write whose commit outcome is unknown (the connection broke) is reported
//! as [`StoreError::Unconfirmed`], never as "nothing changed".
//!
//! Several gateways serve one database at once ([`Access::Shared`]). Each holds a shared
//! advisory lock (the lease) on a connection of its own, so a command that must be alone
//! (`keys rotate`, [`Access::Exclusive`]) is refused while any gateway serves. The audit
//! journal is appended, and consent is changed, by one gateway at a time: the gateway
//! whose turn it is holds another advisory lock on a second connection and writes those
//! batches on that connection only, so a turn that ended (the primary failed over) cannot
//! write. Every consent batch moves a shared change count on in its transaction; the
//! gateways compare it, less the moves their own batches made, with what they cached.
//! One gateway at a time leads (a third
//! advisory lock): it signs the checkpoints. When a connection ends,
//! the lease and the turn are taken again on the server reached next.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use omadata_vault::store::StoreError;
use parking_lot::Mutex;
use std::fmt;
use std::time::Duration;
use tokio_postgres::NoTls;

mod bridge;
mod consent;
pub mod migrations;
mod own_changes;
mod vault;
mod writes;

use bridge::Bridge;

/// Connections kept open to the database by one gateway.
pub const DEFAULT_POOL_SIZE: usize = 32;

/// How long a call may wait for a pooled connection or a new one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The lease: every gateway holds it shared while it serves; a command that must be
/// alone holds it exclusively.
const WRITER_LEASE: i64 = 0x4f6d_6144_6174_6101;

/// The journal turn: held by the one gateway appending to the audit journal or changing
/// consent.
const JOURNAL_TURN: i64 = 0x4f6d_6144_6174_6103;

/// Held by the gateway that signs the checkpoints.
const LEADER: i64 = 0x4f6d_6144_6174_6104;

/// How long a gateway waits for its turn (the statement fails after it).
const TURN_WAIT_SQL: &str = "SET lock_timeout = '10s'";

/// How often a process waiting for the lease asks again.
const LEASE_RETRY: Duration = Duration::from_millis(100);

/// How long a command waits for the lease by default: a gateway that just stopped may
/// still be closing its connections.
pub const DEFAULT_LEASE_WAIT: Duration = Duration::from_secs(3);

/// How a process uses the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads only (`audit verify`, `audit export`): no lease.
    Read,
    /// Serves or writes beside other gateways.
    Shared,
    /// Must be alone (`keys rotate`): refused while any gateway serves.
    Exclusive,
}

/// Settings for [`PgStore::open`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    pub pool_size: usize,
    pub access: Access,
    /// How long to wait while the lease cannot be had (`None`: until it can).
    pub lease_wait: Option<Duration>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
            access: Access::Shared,
            lease_wait: Some(DEFAULT_LEASE_WAIT),
        }
    }
}

/// The connection holding this gateway's turn, with its statements.
struct TurnConnection {
    client: tokio_postgres::Client,
    statements: writes::Statements,
    turn: writes::TurnStatements,
}

/// One PostgreSQL database holding the vault, consent, the directory and the audit log.
pub struct PgStore {
    bridge: Bridge,
    pool: Pool,
    /// Where the connection string pointed, without the password (for messages).
    target: String,
    /// The connection holding the lease, kept open for the store's life.
    lease: Mutex<Option<std::sync::Arc<tokio_postgres::Client>>>,
    /// How to connect, when this store holds a lease.
    lease_config: Option<tokio_postgres::Config>,
    access: Access,
    /// Other gateways write the same database ([`Access::Shared`]).
    shared: bool,
    /// The connection holding the journal turn, while this process holds it.
    turn: Mutex<Option<std::sync::Arc<TurnConnection>>>,
    /// This process leads, on the lease connection it holds now.
    leading: std::sync::atomic::AtomicBool,
    /// The journal sequence number the next append starts at; moved on only after a
    /// confirmed commit, so a retried append of a batch that did land finds its own rows.
    journal_next: Mutex<Option<u64>>,
    /// The moves of the shared change counts that were this process's own batches.
    own_changes: Mutex<own_changes::OwnChanges>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// Whether `location` names a PostgreSQL database rather than a directory.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A connection string's hosts and database, without credentials.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "postgres://{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

impl PgStore {
    /// Connects to the database at `url`, creates or upgrades its schema, and (unless
    /// reading only) takes the lease, refusing while it cannot be had.
    pub fn open(url: &str, options: &PgOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("not a PostgreSQL connection string: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("omadata");
        }
        // A primary that vanished without closing its sockets is noticed in seconds.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(5));
        let target = describe(&config);
        let bridge = Bridge::new()?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("connection pool: {e}")))?;
        let leased = options.access != Access::Read;
        let store = Self {
            bridge,
            pool,
            target,
            lease: Mutex::new(None),
            lease_config: leased.then(|| config.clone()),
            access: options.access,
            shared: options.access == Access::Shared,
            turn: Mutex::new(None),
            leading: std::sync::atomic::AtomicBool::new(false),
            journal_next: Mutex::new(None),
            own_changes: Mutex::new(own_changes::OwnChanges::default()),
        };
        if leased {
            let lease = store.connect_lease(options.lease_wait)?;
            *store.lease.lock() = lease;
        }
        let pool = store.pool.clone();
        store.bridge.run_write(async move {
            let mut client = connection(&pool).await?;
            migrations::run(&mut client).await
        })?;
        Ok(store)
    }

    /// Makes sure this store still holds the writer lease before it writes: after a
    /// failover its lease connection is gone, and it takes the lease again (once) on the
    /// server it now reaches.
    fn check_lease(&self) -> Result<(), StoreError> {
        if self.lease_config.is_none() {
            return Ok(());
        }
        // Held while the lease is taken again, so one writer does it and the others wait.
        let mut lease = self.lease.lock();
        if lease.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        tracing::warn!(target = %self.target, "the database lease connection ended; taking the lease again");
        self.leading
            .store(false, std::sync::atomic::Ordering::Release);
        *lease = self.connect_lease(Some(Duration::ZERO))?;
        Ok(())
    }

    /// Connects without the pool (for the lease and the turn), or says why not.
    async fn connect_alone(
        config: tokio_postgres::Config,
        target: String,
        what: &'static str,
    ) -> Result<tokio_postgres::Client, StoreError> {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to {target}: {e}")))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "the connection holding {what} ended");
            }
        });
        Ok(client)
    }

    /// Waits for the journal turn (on a connection of its own, opened again if it ended)
    /// and returns the journal's length then.
    fn take_turn_now(&self) -> Result<u64, StoreError> {
        if !self.shared {
            return self.journal_len_stored();
        }
        self.check_lease()?;
        let mut turn = self.turn.lock();
        let existing = turn.as_ref().filter(|t| !t.client.is_closed()).cloned();
        let config = self
            .lease_config
            .clone()
            .ok_or_else(|| StoreError::Backend("a read-only store has no turn".into()))?;
        let target = self.target.clone();
        let taken = self.bridge.run_waiting(
            async move {
                let connection = match existing {
                    Some(connection) => connection,
                    None => {
                        let client =
                            Self::connect_alone(config, target, "the journal turn").await?;
                        client.batch_execute(TURN_WAIT_SQL).await.map_err(backend)?;
                        let statements = writes::Statements::prepare(&client).await?;
                        let turn = writes::TurnStatements::prepare(&client).await?;
                        std::sync::Arc::new(TurnConnection {
                            client,
                            statements,
                            turn,
                        })
                    }
                };
                connection
                    .client
                    .execute(&connection.turn.lock, &[&JOURNAL_TURN])
                    .await
                    .map_err(backend)?;
                let row = connection
                    .client
                    .query_one(&connection.turn.journal_len, &[])
                    .await
                    .map_err(backend)?;
                let len: i64 = row.try_get(0).map_err(backend)?;
                Ok((connection, to_u64(len, "journal length")?))
            },
            Some(bridge::CALL_TIMEOUT),
        );
        match taken {
            Ok((connection, len)) => {
                *turn = Some(connection);
                Ok(len)
            }
            Err(error) => {
                // Closing the connection frees whatever it may still hold or be waiting
                // for.
                *turn = None;
                Err(error)
            }
        }
    }

    /// Gives the turn back (a turn that ended needs nothing).
    fn release_turn_now(&self) {
        let Some(connection) = self.turn.lock().take() else {
            return;
        };
        if connection.client.is_closed() {
            return;
        }
        let kept = connection.clone();
        let released = self.bridge.run_read(async move {
            connection
                .client
                .execute(&connection.turn.unlock, &[&JOURNAL_TURN])
                .await
                .map_err(backend)
        });
        if released.is_ok() {
            // Kept for the next turn.
            let mut turn = self.turn.lock();
            if turn.is_none() {
                *turn = Some(kept);
            }
        }
    }

    /// The connection holding this process's turn, for a write that must not land
    /// outside it.
    fn turn_connection(&self) -> Result<std::sync::Arc<TurnConnection>, StoreError> {
        self.turn
            .lock()
            .as_ref()
            .filter(|t| !t.client.is_closed())
            .cloned()
            .ok_or_else(|| {
                StoreError::Backend(
                    "this gateway does not hold the journal turn (its connection ended)".into(),
                )
            })
    }

    /// Whether this process leads: takes the leader's lock on the lease connection if it
    /// is free.
    fn leads_now(&self) -> bool {
        use std::sync::atomic::Ordering;
        if !self.shared {
            return true;
        }
        if self.check_lease().is_err() {
            return false;
        }
        let Some(lease) = self.lease.lock().clone() else {
            return false;
        };
        if self.leading.load(Ordering::Acquire) {
            return true;
        }
        let took = self.bridge.run_read(async move {
            let row = lease
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER])
                .await
                .map_err(backend)?;
            row.try_get::<_, bool>(0).map_err(backend)
        });
        let leads = took.unwrap_or(false);
        if leads {
            tracing::info!(target = %self.target, "this gateway now signs the checkpoints");
        }
        self.leading.store(leads, Ordering::Release);
        leads
    }

    /// Takes the writer lease on a connection of its own, waiting up to `wait` (`None`:
    /// as long as it takes); the connection holds it (`None`: this store writes without
    /// one).
    fn connect_lease(
        &self,
        wait: Option<Duration>,
    ) -> Result<Option<std::sync::Arc<tokio_postgres::Client>>, StoreError> {
        let Some(config) = self.lease_config.clone() else {
            return Ok(None);
        };
        let target = self.target.clone();
        let try_lock = match self.access {
            Access::Exclusive => "SELECT pg_try_advisory_lock($1)",
            Access::Shared | Access::Read => "SELECT pg_try_advisory_lock_shared($1)",
        };
        let client = self.bridge.run_waiting(
            async move {
            let client = Self::connect_alone(config, target.clone(), "the database lease").await?;
            let started = tokio::time::Instant::now();
            let mut said = None::<tokio::time::Instant>;
            loop {
                let row = client
                    .query_one(try_lock, &[&WRITER_LEASE])
                    .await
                    .map_err(backend)?;
                if row.try_get::<_, bool>(0).map_err(backend)? {
                    if said.is_some() {
                        tracing::info!(%target, "took the database lease");
                    }
                    return Ok(std::sync::Arc::new(client));
                }
                if wait.is_some_and(|wait| started.elapsed() >= wait) {
                    return Err(StoreError::Backend(format!(
                        "another OmaData process is using {target} in a way that excludes this one; \
                         a command that must be alone runs only while no gateway serves"
                    )));
                }
                if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    tracing::info!(%target, "a command that must be alone holds the database: waiting until it is done");
                    said = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(LEASE_RETRY).await;
            }
            },
            wait.map(|wait| wait + bridge::CALL_TIMEOUT),
        )?;
        Ok(Some(client))
    }

    /// Where this store is, without credentials.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i32, StoreError> {
        let pool = self.pool.clone();
        self.bridge.run_read(async move {
            let client = connection(&pool).await?;
            migrations::current(&client).await
        })
    }

    /// Whether the database holds nothing of OmaData's (settings, client data, consent
    /// entries or audit entries): the only target `migrate-store` writes into.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let pool = self.pool.clone();
        self.bridge.run_read(async move {
            let client = connection(&pool).await?;
            let row = client
                .query_one(
                    "SELECT NOT (EXISTS (SELECT 1 FROM vault_meta) \
                     OR EXISTS (SELECT 1 FROM vault_wrapped_keys) \
                     OR EXISTS (SELECT 1 FROM vault_records) \
                     OR EXISTS (SELECT 1 FROM consent_entries) \
                     OR EXISTS (SELECT 1 FROM audit_journal) \
                     OR EXISTS (SELECT 1 FROM audit_snapshot))",
                    &[],
                )
                .await
                .map_err(backend)?;
            row.try_get(0).map_err(backend)
        })
    }
}

/// One statement parameter.
type Param = Box<dyn tokio_postgres::types::ToSql + Send + Sync>;
type Params = Vec<Param>;

impl PgStore {
    /// Runs one read statement and maps its rows.
    fn rows<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: Params,
        map: fn(Vec<tokio_postgres::Row>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pool = self.pool.clone();
        self.bridge.run_read(async move {
            let client = connection(&pool).await?;
            let statement = client.prepare_cached(sql).await.map_err(backend)?;
            map(client
                .query(&statement, &as_refs(&params))
                .await
                .map_err(backend)?)
        })
    }

    /// Runs one writing statement (its own durable transaction); returns the rows it
    /// changed.
    fn execute(&self, sql: &'static str, params: Params) -> Result<u64, StoreError> {
        self.check_lease()?;
        let pool = self.pool.clone();
        self.bridge.run_write(async move {
            let client = connection(&pool).await?;
            let statement = client.prepare_cached(sql).await.map_err(backend)?;
            client
                .execute(&statement, &as_refs(&params))
                .await
                .map_err(write_error)
        })
    }
}

fn as_refs(params: &Params) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as _).collect()
}

/// A pooled connection, or why none could be had (nothing was done).
async fn connection(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get()
        .await
        .map_err(|e| StoreError::Backend(format!("no database connection: {e}")))
}

/// An error before anything could have been written.
fn backend(error: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// An error from a statement that writes: when the server answered with an error the
/// change did not happen; when the connection broke, it may have.
fn write_error(error: tokio_postgres::Error) -> StoreError {
    if error.as_db_error().is_some() {
        StoreError::Backend(error.to_string())
    } else {
        StoreError::Unconfirmed(error.to_string())
    }
}

/// A `u64` the database keeps as `bigint`.
fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Backend(format!("{what} {value} is out of range")))
}

/// A stored `bigint` read back as the `u64` it was written from.
fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}

/// Rows copied in from another store, written in one transaction (`omadata
/// migrate-store`). The target must not hold them yet.
#[derive(Debug, Default)]
pub struct ImportBatch {
    pub meta: Vec<(String, Vec<u8>)>,
    pub wrapped_keys: Vec<(omadata_vault::ClientId, Vec<u8>)>,
    pub records: Vec<(omadata_vault::ClientId, omadata_vault::store::StoredVersion)>,
    pub consent: Vec<omadata_consent::store::Entry>,
}

impl ImportBatch {
    pub fn len(&self) -> usize {
        self.meta.len() + self.wrapped_keys.len() + self.records.len() + self.consent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PgStore {
    /// Writes `batch` in one durable transaction.
    pub fn import(&self, batch: ImportBatch) -> Result<(), StoreError> {
        self.check_lease()?;
        let (names, meta_values): (Vec<String>, Vec<Vec<u8>>) = batch.meta.into_iter().unzip();
        let (key_clients, wrapped): (Vec<Vec<u8>>, Vec<Vec<u8>>) = batch
            .wrapped_keys
            .into_iter()
            .map(|(client, key)| (client.as_bytes().to_vec(), key))
            .unzip();
        let mut record_clients = Vec::with_capacity(batch.records.len());
        let mut paths = Vec::with_capacity(batch.records.len());
        let mut versions = Vec::with_capacity(batch.records.len());
        let mut sealed = Vec::with_capacity(batch.records.len());
        for (client, version) in batch.records {
            record_clients.push(client.as_bytes().to_vec());
            paths.push(version.path);
            versions.push(to_i64(version.version, "record version")?);
            sealed.push(version.sealed);
        }
        let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = batch.consent.into_iter().unzip();
        let pool = self.pool.clone();
        self.bridge.run_write(async move {
            let mut client = connection(&pool).await?;
            let tx = client.transaction().await.map_err(backend)?;
            tx.execute(
                "INSERT INTO vault_meta (name, value) SELECT * FROM unnest($1::text[], $2::bytea[])",
                &[&names, &meta_values],
            )
            .await
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO vault_wrapped_keys (client, wrapped) \
                 SELECT * FROM unnest($1::bytea[], $2::bytea[])",
                &[&key_clients, &wrapped],
            )
            .await
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO vault_records (client, path, version, sealed) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::bigint[], $4::bytea[])",
                &[&record_clients, &paths, &versions, &sealed],
            )
            .await
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO consent_entries (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[])",
                &[&keys, &values],
            )
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(write_error)
        })
    }
}

//! The schema, as numbered migrations run in order at open (or by `omadata migrate`). Each
//! runs in one transaction with its number recorded, under an advisory lock, so gateways
//! starting together apply each exactly once. A database newer than this binary is
//! refused rather than used.

use super::{backend, write_error};
use omadata_vault::store::StoreError;

/// (number, name, SQL). Append only: a released migration never changes.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "shared gateways",
        include_str!("../migrations/0002_shared_gateways.sql"),
    ),
    (
        3,
        "sealed values inline",
        include_str!("../migrations/0003_sealed_inline.sql"),
    ),
];

/// Serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x4f6d_6144_6174_6102;

/// The newest schema this binary knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// The version the database is at (0: no schema yet).
pub async fn current(client: &tokio_postgres::Client) -> Result<i32, StoreError> {
    let row = client
        .query_one(
            "SELECT CASE WHEN to_regclass('omadata_migrations') IS NULL THEN 0 \
             ELSE (SELECT coalesce(max(version), 0) FROM omadata_migrations) END",
            &[],
        )
        .await
        .map_err(backend)?;
    row.try_get(0).map_err(backend)
}

/// Brings the schema up to [`latest`]; returns how many migrations ran.
pub async fn run(client: &mut tokio_postgres::Client) -> Result<usize, StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS omadata_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(backend)?;
    let row = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM omadata_migrations",
            &[],
        )
        .await
        .map_err(backend)?;
    let at: i32 = row.try_get(0).map_err(backend)?;
    if at > latest() {
        return Err(StoreError::Backend(format!(
            "the database schema is at version {at}, newer than this OmaData knows ({}); run the newer version",
            latest()
        )));
    }
    let mut ran = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > at) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Backend(format!("migration {version} ({name}): {e}")))?;
        tx.execute(
            "INSERT INTO omadata_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(backend)?;
        ran += 1;
        tracing::info!(version, name, "database migration applied");
    }
    tx.commit().await.map_err(write_error)?;
    Ok(ran)
}

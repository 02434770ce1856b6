//! The writes of consent batches and journal appends, as one transaction each, on any
//! connection: a pooled one, or (on a shared database) the connection holding the
//! gateway's turn, so a turn that ended cannot write.

use super::{StoreError, backend, write_error};
use tokio_postgres::{Client, Statement};

/// The statements of [`write_batch`] and [`append_journal`], prepared on one connection.
pub(crate) struct Statements {
    upsert: Statement,
    delete: Statement,
    count_change: Statement,
    journal_insert: Statement,
    journal_read: Statement,
    nodes_upsert: Statement,
}

/// The statements of a turn, prepared once on the connection that holds it.
pub(crate) struct TurnStatements {
    pub lock: Statement,
    pub unlock: Statement,
    pub journal_len: Statement,
}

impl TurnStatements {
    pub(crate) async fn prepare(client: &Client) -> Result<Self, StoreError> {
        Ok(Self {
            lock: client
                .prepare("SELECT pg_advisory_lock($1)")
                .await
                .map_err(backend)?,
            unlock: client
                .prepare("SELECT pg_advisory_unlock($1)")
                .await
                .map_err(backend)?,
            journal_len: client
                .prepare("SELECT coalesce(max(seq) + 1, 0) FROM audit_journal")
                .await
                .map_err(backend)?,
        })
    }
}

const UPSERT: &str = "INSERT INTO consent_entries (key, value) \
     SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM consent_entries WHERE key = ANY($1::bytea[])";
const COUNT_CHANGE: &str =
    "UPDATE omadata_changes SET count = count + 1 WHERE kind = $1 RETURNING count";
const JOURNAL_INSERT: &str = "INSERT INTO audit_journal (seq, bytes, meta) \
     SELECT $1::bigint + ord - 1, b, m \
     FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS t(b, m, ord) \
     ON CONFLICT (seq) DO NOTHING";
const JOURNAL_READ: &str = "SELECT bytes, meta FROM audit_journal WHERE seq >= $1 \
     ORDER BY seq LIMIT $2";
const NODES_UPSERT: &str = "INSERT INTO audit_nodes (level, index, hash) \
     SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[]) \
     ON CONFLICT (level, index) DO UPDATE SET hash = excluded.hash";

impl Statements {
    /// Prepares them on `client` (once per connection).
    pub(crate) async fn prepare(client: &Client) -> Result<Self, StoreError> {
        Ok(Self {
            upsert: client.prepare(UPSERT).await.map_err(backend)?,
            delete: client.prepare(DELETE).await.map_err(backend)?,
            count_change: client.prepare(COUNT_CHANGE).await.map_err(backend)?,
            journal_insert: client.prepare(JOURNAL_INSERT).await.map_err(backend)?,
            journal_read: client.prepare(JOURNAL_READ).await.map_err(backend)?,
            nodes_upsert: client.prepare(NODES_UPSERT).await.map_err(backend)?,
        })
    }

    /// The same, from a pooled connection's statement cache.
    pub(crate) async fn cached(client: &deadpool_postgres::Object) -> Result<Self, StoreError> {
        Ok(Self {
            upsert: client.prepare_cached(UPSERT).await.map_err(backend)?,
            delete: client.prepare_cached(DELETE).await.map_err(backend)?,
            count_change: client.prepare_cached(COUNT_CHANGE).await.map_err(backend)?,
            journal_insert: client
                .prepare_cached(JOURNAL_INSERT)
                .await
                .map_err(backend)?,
            journal_read: client.prepare_cached(JOURNAL_READ).await.map_err(backend)?,
            nodes_upsert: client.prepare_cached(NODES_UPSERT).await.map_err(backend)?,
        })
    }
}

/// Ends the transaction `outcome` ran in: committed if it succeeded.
async fn finish<T>(client: &Client, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
    match outcome {
        Ok(value) => {
            client.batch_execute("COMMIT").await.map_err(write_error)?;
            Ok(value)
        }
        Err(error) => {
            // A broken connection rolls back by itself.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(error)
        }
    }
}

/// One consent batch: upserts and removals, and the change count of its kind moved on.
pub(crate) struct Batch {
    pub keys: Vec<Vec<u8>>,
    pub values: Vec<Vec<u8>>,
    pub removed: Vec<Vec<u8>>,
    /// The count it moves on (`None`: it makes nothing cached stale).
    pub counts: Option<&'static str>,
}

/// Writes `batch` in one durable transaction; returns the change count it moved and
/// what to, once committed.
pub(crate) async fn write_batch(
    client: &Client,
    statements: &Statements,
    batch: Batch,
) -> Result<Option<(&'static str, i64)>, StoreError> {
    client.batch_execute("BEGIN").await.map_err(backend)?;
    let outcome = async {
        if !batch.keys.is_empty() {
            client
                .execute(&statements.upsert, &[&batch.keys, &batch.values])
                .await
                .map_err(backend)?;
        }
        if !batch.removed.is_empty() {
            client
                .execute(&statements.delete, &[&batch.removed])
                .await
                .map_err(backend)?;
        }
        let Some(kind) = batch.counts else {
            return Ok(None);
        };
        let row = client
            .query_one(&statements.count_change, &[&kind])
            .await
            .map_err(backend)?;
        let count: i64 = row.try_get(0).map_err(backend)?;
        Ok(Some((kind, count)))
    }
    .await;
    finish(client, outcome).await
}

/// Journal records and tree nodes, as the columns they are written to.
pub(crate) struct JournalRows {
    pub first: i64,
    pub bytes: Vec<Vec<u8>>,
    pub metas: Vec<Vec<u8>>,
    pub levels: Vec<i32>,
    pub indexes: Vec<i64>,
    pub hashes: Vec<Vec<u8>>,
}

pub(crate) async fn append_journal(
    client: &Client,
    statements: &Statements,
    rows: JournalRows,
) -> Result<(), StoreError> {
    let count = rows.bytes.len() as u64;
    client.batch_execute("BEGIN").await.map_err(backend)?;
    let outcome = async {
        let inserted = client
            .execute(
                &statements.journal_insert,
                &[&rows.first, &rows.bytes, &rows.metas],
            )
            .await
            .map_err(backend)?;
        if inserted < count {
            // A retry of an append whose commit did land (its outcome was unknown): the
            // rows there must be exactly these records.
            let stored = client
                .query(
                    &statements.journal_read,
                    &[&rows.first, &i64::try_from(count).unwrap_or(i64::MAX)],
                )
                .await
                .map_err(backend)?;
            let same = stored.len() == rows.bytes.len()
                && stored
                    .iter()
                    .zip(rows.bytes.iter().zip(&rows.metas))
                    .all(|(row, (b, m))| {
                        row.try_get::<_, Vec<u8>>(0).is_ok_and(|x| &x == b)
                            && row.try_get::<_, Vec<u8>>(1).is_ok_and(|x| &x == m)
                    });
            if !same {
                return Err(StoreError::Backend(format!(
                    "the audit journal already holds other entries from {}: another process wrote to it",
                    rows.first
                )));
            }
        }
        if !rows.levels.is_empty() {
            client
                .execute(
                    &statements.nodes_upsert,
                    &[&rows.levels, &rows.indexes, &rows.hashes],
                )
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
    .await;
    finish(client, outcome).await
}

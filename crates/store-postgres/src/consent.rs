//! [`ConsentStore`] on PostgreSQL: the ordered key space in `consent_entries` (bytea
//! sorts bytewise, as the domain's keys expect), the audit journal in `audit_journal`,
//! its stored tree nodes in `audit_nodes`, and the heads' snapshot in `audit_snapshot`.

use super::{Param, Params, PgStore, backend, connection, to_i64, write_error};
use omadata_consent::store::{ConsentStore, Entry, JournalNode, JournalRecord, Write, prefix_end};
use omadata_vault::store::StoreError;
use std::collections::BTreeMap;
use tokio_postgres::Row;

fn entries(rows: Vec<Row>) -> Result<Vec<Entry>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0).map_err(backend)?,
                row.try_get(1).map_err(backend)?,
            ))
        })
        .collect()
}

fn journal_record(row: &Row) -> Result<JournalRecord, StoreError> {
    let meta: Vec<u8> = row.try_get(1).map_err(backend)?;
    Ok(JournalRecord {
        bytes: row.try_get(0).map_err(backend)?,
        meta: meta.as_slice().try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "an audit journal record with {} meta bytes",
                meta.len()
            ))
        })?,
    })
}

/// The scan statement and its parameters for one shape of bounds (each shape its own
/// statement, so every bound is an index condition).
fn scan_statement(
    prefix: &[u8],
    from: Option<&[u8]>,
    reverse: bool,
    limit: i64,
) -> Option<(&'static str, Params)> {
    let end = prefix_end(prefix);
    let limit: Param = Box::new(limit);
    Some(if reverse {
        match (from, end) {
            (Some(from), _) if from < prefix => return None,
            (Some(from), Some(end)) if from < end.as_slice() => (
                "SELECT key, value FROM consent_entries WHERE key >= $1 AND key <= $2 \
                 ORDER BY key DESC LIMIT $3",
                vec![Box::new(prefix.to_vec()), Box::new(from.to_vec()), limit],
            ),
            (Some(from), None) => (
                "SELECT key, value FROM consent_entries WHERE key >= $1 AND key <= $2 \
                 ORDER BY key DESC LIMIT $3",
                vec![Box::new(prefix.to_vec()), Box::new(from.to_vec()), limit],
            ),
            (_, Some(end)) => (
                "SELECT key, value FROM consent_entries WHERE key >= $1 AND key < $2 \
                 ORDER BY key DESC LIMIT $3",
                vec![Box::new(prefix.to_vec()), Box::new(end), limit],
            ),
            (None, None) => (
                "SELECT key, value FROM consent_entries WHERE key >= $1 \
                 ORDER BY key DESC LIMIT $2",
                vec![Box::new(prefix.to_vec()), limit],
            ),
        }
    } else {
        let start = match from {
            Some(from) if from > prefix => from.to_vec(),
            _ => prefix.to_vec(),
        };
        match end {
            Some(end) => (
                "SELECT key, value FROM consent_entries WHERE key >= $1 AND key < $2 \
                 ORDER BY key LIMIT $3",
                vec![Box::new(start), Box::new(end), limit],
            ),
            None => (
                "SELECT key, value FROM consent_entries WHERE key >= $1 ORDER BY key LIMIT $2",
                vec![Box::new(start), limit],
            ),
        }
    })
}

impl PgStore {
    /// The journal's length as the database has it.
    fn journal_len_stored(&self) -> Result<u64, StoreError> {
        self.rows(
            "SELECT coalesce(max(seq) + 1, 0) FROM audit_journal",
            Vec::new(),
            |rows| {
                let len: i64 = match rows.first() {
                    Some(row) => row.try_get(0).map_err(backend)?,
                    None => 0,
                };
                super::to_u64(len, "journal length")
            },
        )
    }
}

impl ConsentStore for PgStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.rows(
            "SELECT value FROM consent_entries WHERE key = $1",
            vec![Box::new(key.to_vec())],
            |rows| {
                rows.first()
                    .map(|row| row.try_get(0).map_err(backend))
                    .transpose()
            },
        )
    }

    fn scan(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match scan_statement(prefix, from, reverse, limit) {
            Some((sql, params)) => self.rows(sql, params, entries),
            None => Ok(Vec::new()),
        }
    }

    /// Durable on return (the trait allows later): see [`ConsentStore::sync`] below.
    fn apply_deferred(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.check_lease()?;
        // Later writes to a key win, as if applied in order.
        let last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = writes.into_iter().collect();
        let (mut keys, mut values, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in last {
            match value {
                Some(value) => {
                    keys.push(key);
                    values.push(value);
                }
                None => removed.push(key),
            }
        }
        let pool = self.pool.clone();
        self.bridge.run_write(async move {
            let mut client = connection(&pool).await?;
            let tx = client.transaction().await.map_err(backend)?;
            if !keys.is_empty() {
                let upsert = tx
                    .prepare_cached(
                        "INSERT INTO consent_entries (key, value) \
                         SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )
                    .await
                    .map_err(backend)?;
                tx.execute(&upsert, &[&keys, &values])
                    .await
                    .map_err(backend)?;
            }
            if !removed.is_empty() {
                let delete = tx
                    .prepare_cached("DELETE FROM consent_entries WHERE key = ANY($1::bytea[])")
                    .await
                    .map_err(backend)?;
                tx.execute(&delete, &[&removed]).await.map_err(backend)?;
            }
            tx.commit().await.map_err(write_error)
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Every batch was committed durably already: a batch committed without waiting
        // could be lost in a failover after its audit entry was journaled.
        Ok(())
    }

    fn journal_len(&self) -> Result<u64, StoreError> {
        let mut next = self.journal_next.lock();
        match *next {
            Some(len) => Ok(len),
            None => {
                let len = self.journal_len_stored()?;
                *next = Some(len);
                Ok(len)
            }
        }
    }

    fn journal_append(
        &self,
        records: &[JournalRecord],
        nodes: &[JournalNode],
    ) -> Result<(), StoreError> {
        self.check_lease()?;
        let mut next = self.journal_next.lock();
        let start = match *next {
            Some(start) => start,
            None => self.journal_len_stored()?,
        };
        let count = records.len() as u64;
        let first = to_i64(start, "journal sequence number")?;
        let bytes: Vec<Vec<u8>> = records.iter().map(|r| r.bytes.clone()).collect();
        let metas: Vec<Vec<u8>> = records.iter().map(|r| r.meta.to_vec()).collect();
        let levels: Vec<i32> = nodes
            .iter()
            .map(|(level, _, _)| i32::try_from(*level).unwrap_or(i32::MAX))
            .collect();
        let indexes = nodes
            .iter()
            .map(|(_, index, _)| to_i64(*index, "tree node index"))
            .collect::<Result<Vec<i64>, _>>()?;
        let hashes: Vec<Vec<u8>> = nodes.iter().map(|(_, _, hash)| hash.to_vec()).collect();
        let pool = self.pool.clone();
        self.bridge.run_write(async move {
            let mut client = connection(&pool).await?;
            let tx = client.transaction().await.map_err(backend)?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO audit_journal (seq, bytes, meta) \
                     SELECT $1::bigint + ord - 1, b, m \
                     FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS t(b, m, ord) \
                     ON CONFLICT (seq) DO NOTHING",
                )
                .await
                .map_err(backend)?;
            let inserted = tx
                .execute(&insert, &[&first, &bytes, &metas])
                .await
                .map_err(backend)?;
            if inserted < count {
                // A retry of an append whose commit did land (its outcome was unknown):
                // the rows there must be exactly these records.
                let rows = tx
                    .query(
                        "SELECT bytes, meta FROM audit_journal WHERE seq >= $1 \
                         ORDER BY seq LIMIT $2",
                        &[&first, &i64::try_from(count).unwrap_or(i64::MAX)],
                    )
                    .await
                    .map_err(backend)?;
                let same = rows.len() == bytes.len()
                    && rows.iter().zip(bytes.iter().zip(&metas)).all(|(row, (b, m))| {
                        row.try_get::<_, Vec<u8>>(0).is_ok_and(|x| &x == b)
                            && row.try_get::<_, Vec<u8>>(1).is_ok_and(|x| &x == m)
                    });
                if !same {
                    return Err(StoreError::Backend(format!(
                        "the audit journal already holds other entries from {start}: another process wrote to it"
                    )));
                }
            }
            if !levels.is_empty() {
                let nodes = tx
                    .prepare_cached(
                        "INSERT INTO audit_nodes (level, index, hash) \
                         SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[]) \
                         ON CONFLICT (level, index) DO UPDATE SET hash = excluded.hash",
                    )
                    .await
                    .map_err(backend)?;
                tx.execute(&nodes, &[&levels, &indexes, &hashes])
                    .await
                    .map_err(backend)?;
            }
            tx.commit().await.map_err(write_error)
        })?;
        *next = Some(start + count);
        Ok(())
    }

    fn journal_record(&self, seq: u64) -> Result<Option<JournalRecord>, StoreError> {
        let seq = match i64::try_from(seq) {
            Ok(seq) => seq,
            Err(_) => return Ok(None),
        };
        self.rows(
            "SELECT bytes, meta FROM audit_journal WHERE seq = $1",
            vec![Box::new(seq)],
            |rows| rows.first().map(journal_record).transpose(),
        )
    }

    fn journal_node(&self, level: u32, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let (Ok(level), Ok(index)) = (i32::try_from(level), i64::try_from(index)) else {
            return Ok(None);
        };
        self.rows(
            "SELECT hash FROM audit_nodes WHERE level = $1 AND index = $2",
            vec![Box::new(level), Box::new(index)],
            |rows| {
                rows.first()
                    .map(|row| {
                        let hash: Vec<u8> = row.try_get(0).map_err(backend)?;
                        <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
                            StoreError::Corrupt(format!("a tree node of {} bytes", hash.len()))
                        })
                    })
                    .transpose()
            },
        )
    }

    fn journal_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.rows("SELECT bytes FROM audit_snapshot", Vec::new(), |rows| {
            rows.first()
                .map(|row| row.try_get(0).map_err(backend))
                .transpose()
        })
    }

    fn save_journal_snapshot(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO audit_snapshot (id, bytes) VALUES (true, $1) \
             ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes",
            vec![Box::new(bytes.to_vec())],
        )
        .map(drop)
    }
}

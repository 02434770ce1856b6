//! [`ConsentStore`] on PostgreSQL: the ordered key space in `consent_entries` (bytea
//! sorts bytewise, as the domain's keys expect), the audit journal in `audit_journal`,
//! its stored tree nodes in `audit_nodes`, and the heads' snapshot in `audit_snapshot`.

use super::{Param, Params, PgStore, backend, connection, to_i64, writes};
use omadata_consent::layout;
use omadata_consent::store::{
    ChangeCounts, ConsentStore, Entry, JournalNode, JournalRecord, Write, prefix_end,
};
use omadata_vault::store::StoreError;
use std::collections::BTreeMap;
use tokio_postgres::Row;

/// The first two columns of each row.
fn pairs<A, B>(rows: Vec<Row>) -> Result<Vec<(A, B)>, StoreError>
where
    A: for<'a> tokio_postgres::types::FromSql<'a>,
    B: for<'a> tokio_postgres::types::FromSql<'a>,
{
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0).map_err(backend)?,
                row.try_get(1).map_err(backend)?,
            ))
        })
        .collect()
}

fn entries(rows: Vec<Row>) -> Result<Vec<Entry>, StoreError> {
    pairs(rows)
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

/// Later writes to a key win, as if applied in order.
fn batch_of(writes: Vec<Write>) -> writes::Batch {
    let last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = writes.into_iter().collect();
    let counts = match layout::change_kind(last.iter().map(|(k, v)| (k.as_slice(), v.is_none()))) {
        layout::ChangeKind::Nothing => None,
        layout::ChangeKind::Quotas => Some("quotas"),
        layout::ChangeKind::Caches => Some("caches"),
    };
    let mut batch = writes::Batch {
        keys: Vec::new(),
        values: Vec::new(),
        removed: Vec::new(),
        counts,
    };
    for (key, value) in last {
        match value {
            Some(value) => {
                batch.keys.push(key);
                batch.values.push(value);
            }
            None => batch.removed.push(key),
        }
    }
    batch
}

impl PgStore {
    /// Writes `batch` in its own durable transaction on a pooled connection.
    fn apply_pooled(&self, batch: writes::Batch) -> Result<(), StoreError> {
        self.check_lease()?;
        let pool = self.pool.clone();
        let moved = self.bridge.run_write(async move {
            let client = connection(&pool).await?;
            let statements = writes::Statements::cached(&client).await?;
            writes::write_batch(&client, &statements, batch).await
        })?;
        self.record_own(moved);
        Ok(())
    }

    /// A change count this process's own batch moved (see [`crate::own_changes`]).
    fn record_own(&self, moved: Option<(&'static str, i64)>) {
        // Only a shared store looks at the counts (which also prunes what is kept here).
        if !self.shared {
            return;
        }
        if let Some((kind, count)) = moved {
            self.own_changes.lock().record(kind, count);
        }
    }

    /// The journal's length as the database has it.
    pub(crate) fn journal_len_stored(&self) -> Result<u64, StoreError> {
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

    /// Durable on return (the trait allows later): see [`ConsentStore::sync`] below. On a
    /// shared database, only on the connection holding this process's turn.
    fn apply_deferred(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let batch = batch_of(writes);
        if self.shared {
            let turn = self.turn_connection()?;
            let moved = self.bridge.run_write(async move {
                writes::write_batch(&turn.client, &turn.statements, batch).await
            })?;
            self.record_own(moved);
            return Ok(());
        }
        self.apply_pooled(batch)
    }

    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_pooled(batch_of(writes))
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Every batch was committed durably already: a batch committed without waiting
        // could be lost in a failover after its audit entry was journaled.
        Ok(())
    }

    fn journal_len(&self) -> Result<u64, StoreError> {
        if self.shared {
            // Others append too: only the database knows.
            return self.journal_len_stored();
        }
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
        let rows = writes::JournalRows {
            first: to_i64(start, "journal sequence number")?,
            bytes: records.iter().map(|r| r.bytes.clone()).collect(),
            metas: records.iter().map(|r| r.meta.to_vec()).collect(),
            levels: nodes
                .iter()
                .map(|(level, _, _)| i32::try_from(*level).unwrap_or(i32::MAX))
                .collect(),
            indexes: nodes
                .iter()
                .map(|(_, index, _)| to_i64(*index, "tree node index"))
                .collect::<Result<Vec<i64>, _>>()?,
            hashes: nodes.iter().map(|(_, _, hash)| hash.to_vec()).collect(),
        };
        if self.shared {
            let turn = self.turn_connection()?;
            self.bridge.run_write(async move {
                writes::append_journal(&turn.client, &turn.statements, rows).await
            })?;
        } else {
            let pool = self.pool.clone();
            self.bridge.run_write(async move {
                let client = connection(&pool).await?;
                let statements = writes::Statements::cached(&client).await?;
                writes::append_journal(&client, &statements, rows).await
            })?;
        }
        *next = Some(start + count);
        Ok(())
    }

    fn journal_records(&self, from: u64, limit: usize) -> Result<Vec<JournalRecord>, StoreError> {
        let (Ok(from), Ok(limit)) = (i64::try_from(from), i64::try_from(limit)) else {
            return Ok(Vec::new());
        };
        let records = self.rows(
            "SELECT bytes, meta, seq FROM audit_journal WHERE seq >= $1 AND seq < $1 + $2 \
             ORDER BY seq",
            vec![Box::new(from), Box::new(limit)],
            |rows| {
                rows.iter()
                    .map(|row| {
                        Ok((
                            row.try_get::<_, i64>(2).map_err(backend)?,
                            journal_record(row)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            },
        )?;
        // Only the unbroken run from `from`, as record by record would read it.
        Ok((from..)
            .zip(records)
            .take_while(|(expected, (seq, _))| expected == seq)
            .map(|(_, (_, record))| record)
            .collect())
    }

    fn shared(&self) -> bool {
        self.shared
    }

    fn take_turn(&self) -> Result<u64, StoreError> {
        let len = self.take_turn_now()?;
        *self.journal_next.lock() = Some(len);
        Ok(len)
    }

    fn release_turn(&self) {
        self.release_turn_now();
    }

    fn change_counts(&self) -> Result<Option<ChangeCounts>, StoreError> {
        if !self.shared {
            return Ok(None);
        }
        let stored: Vec<(String, i64)> =
            self.rows("SELECT kind, count FROM omadata_changes", Vec::new(), pairs)?;
        Ok(Some(self.own_changes.lock().others_of(&stored)))
    }

    fn leads(&self) -> bool {
        self.leads_now()
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

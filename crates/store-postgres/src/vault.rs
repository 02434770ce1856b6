//! [`VaultStore`] on PostgreSQL: one statement per method, each its own durable commit.

use super::{Param, PgStore, backend, to_i64, to_u64};
use omadata_vault::ClientId;
use omadata_vault::store::{KeyAndLatest, StoreError, StoredVersion, VaultStore};
use tokio_postgres::Row;

fn client_id(bytes: &[u8]) -> Result<ClientId, StoreError> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a client id of {} bytes", bytes.len())))?;
    Ok(ClientId::from_bytes(bytes))
}

fn stored_version(row: &Row) -> Result<StoredVersion, StoreError> {
    Ok(StoredVersion {
        path: row.try_get(0).map_err(backend)?,
        version: to_u64(row.try_get(1).map_err(backend)?, "record version")?,
        sealed: row.try_get(2).map_err(backend)?,
    })
}

/// The first column of the first row, if any.
fn first_bytes(rows: Vec<Row>) -> Result<Option<Vec<u8>>, StoreError> {
    rows.first()
        .map(|row| row.try_get(0).map_err(backend))
        .transpose()
}

fn versions(rows: Vec<Row>) -> Result<Vec<StoredVersion>, StoreError> {
    rows.iter().map(stored_version).collect()
}

fn key_of(client: ClientId) -> Param {
    Box::new(client.as_bytes().to_vec())
}

fn wrapped_keys(rows: Vec<Row>) -> Result<Vec<(ClientId, Vec<u8>)>, StoreError> {
    rows.iter()
        .map(|row| {
            let id: Vec<u8> = row.try_get(0).map_err(backend)?;
            Ok((client_id(&id)?, row.try_get(1).map_err(backend)?))
        })
        .collect()
}

impl VaultStore for PgStore {
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.rows(
            "SELECT value FROM vault_meta WHERE name = $1",
            vec![Box::new(name.to_owned())],
            first_bytes,
        )
    }

    fn set_meta(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        match value {
            Some(value) => self.execute(
                "INSERT INTO vault_meta (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                vec![Box::new(name.to_owned()), Box::new(value.to_vec())],
            ),
            None => self.execute(
                "DELETE FROM vault_meta WHERE name = $1",
                vec![Box::new(name.to_owned())],
            ),
        }
        .map(drop)
    }

    fn wrapped_key(&self, client: ClientId) -> Result<Option<Vec<u8>>, StoreError> {
        self.rows(
            "SELECT wrapped FROM vault_wrapped_keys WHERE client = $1",
            vec![key_of(client)],
            first_bytes,
        )
    }

    fn compare_and_swap_wrapped_key(
        &self,
        client: ClientId,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        // Each case is one statement, so the comparison and the change are atomic.
        let changed = match (expected, new) {
            (None, None) => {
                return Ok(self.wrapped_key(client)?.is_none());
            }
            (None, Some(new)) => self.execute(
                "INSERT INTO vault_wrapped_keys (client, wrapped) VALUES ($1, $2) \
                 ON CONFLICT (client) DO NOTHING",
                vec![key_of(client), Box::new(new.to_vec())],
            )?,
            (Some(expected), Some(new)) => self.execute(
                "UPDATE vault_wrapped_keys SET wrapped = $3 WHERE client = $1 AND wrapped = $2",
                vec![
                    key_of(client),
                    Box::new(expected.to_vec()),
                    Box::new(new.to_vec()),
                ],
            )?,
            (Some(expected), None) => self.execute(
                "DELETE FROM vault_wrapped_keys WHERE client = $1 AND wrapped = $2",
                vec![key_of(client), Box::new(expected.to_vec())],
            )?,
        };
        Ok(changed == 1)
    }

    fn wrapped_keys_after(
        &self,
        after: Option<ClientId>,
        limit: usize,
    ) -> Result<Vec<(ClientId, Vec<u8>)>, StoreError> {
        let limit: Param = Box::new(i64::try_from(limit).unwrap_or(i64::MAX));
        match after {
            Some(after) => self.rows(
                "SELECT client, wrapped FROM vault_wrapped_keys WHERE client > $1 \
                 ORDER BY client LIMIT $2",
                vec![key_of(after), limit],
                wrapped_keys,
            ),
            None => self.rows(
                "SELECT client, wrapped FROM vault_wrapped_keys ORDER BY client LIMIT $1",
                vec![limit],
                wrapped_keys,
            ),
        }
    }

    fn insert_record_version(
        &self,
        client: ClientId,
        path: &str,
        version: u64,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let inserted = self.execute(
            "INSERT INTO vault_records (client, path, version, sealed) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (client, path, version) DO NOTHING",
            vec![
                key_of(client),
                Box::new(path.to_owned()),
                Box::new(to_i64(version, "record version")?),
                Box::new(sealed.to_vec()),
            ],
        )?;
        Ok(inserted == 1)
    }

    fn latest_record_version(
        &self,
        client: ClientId,
        path: &str,
    ) -> Result<Option<StoredVersion>, StoreError> {
        self.rows(
            "SELECT path, version, sealed FROM vault_records WHERE client = $1 AND path = $2 \
             ORDER BY version DESC LIMIT 1",
            vec![key_of(client), Box::new(path.to_owned())],
            |rows| rows.first().map(stored_version).transpose(),
        )
    }

    fn wrapped_key_and_latest(
        &self,
        client: ClientId,
        paths: &[&str],
    ) -> Result<Option<KeyAndLatest>, StoreError> {
        if paths.is_empty() {
            return Ok(self
                .wrapped_key(client)?
                .map(|wrapped| (wrapped, Vec::new())));
        }
        let paths: Vec<String> = paths.iter().map(|path| (*path).to_owned()).collect();
        // One row per path, in the paths' order (none without the client's key).
        self.rows(
            "SELECT k.wrapped, r.path, r.version, r.sealed \
             FROM vault_wrapped_keys k \
             CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS p(path, ord) \
             LEFT JOIN LATERAL (SELECT v.path, v.version, v.sealed FROM vault_records v \
                 WHERE v.client = $1 AND v.path = p.path ORDER BY v.version DESC LIMIT 1) r \
               ON true \
             WHERE k.client = $1 \
             ORDER BY p.ord",
            vec![key_of(client), Box::new(paths)],
            |rows| {
                let Some(first) = rows.first() else {
                    return Ok(None);
                };
                let wrapped: Vec<u8> = first.try_get(0).map_err(backend)?;
                let latest = rows
                    .iter()
                    .map(|row| {
                        let path: Option<String> = row.try_get(1).map_err(backend)?;
                        let Some(path) = path else {
                            return Ok(None);
                        };
                        Ok(Some(StoredVersion {
                            path,
                            version: to_u64(row.try_get(2).map_err(backend)?, "record version")?,
                            sealed: row.try_get(3).map_err(backend)?,
                        }))
                    })
                    .collect::<Result<_, StoreError>>()?;
                Ok(Some((wrapped, latest)))
            },
        )
    }

    fn record_versions(
        &self,
        client: ClientId,
        path: &str,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        self.rows(
            "SELECT path, version, sealed FROM vault_records WHERE client = $1 AND path = $2 \
             ORDER BY version",
            vec![key_of(client), Box::new(path.to_owned())],
            versions,
        )
    }

    fn client_records(&self, client: ClientId) -> Result<Vec<StoredVersion>, StoreError> {
        self.rows(
            "SELECT path, version, sealed FROM vault_records WHERE client = $1 \
             ORDER BY path, version",
            vec![key_of(client)],
            versions,
        )
    }

    fn prune_record_versions(
        &self,
        client: ClientId,
        path: &str,
        below: u64,
    ) -> Result<usize, StoreError> {
        let removed = self.execute(
            "DELETE FROM vault_records WHERE client = $1 AND path = $2 AND version < $3",
            vec![
                key_of(client),
                Box::new(path.to_owned()),
                Box::new(to_i64(below, "record version")?),
            ],
        )?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    fn delete_client_records(&self, client: ClientId) -> Result<usize, StoreError> {
        let removed = self.execute(
            "DELETE FROM vault_records WHERE client = $1",
            vec![key_of(client)],
        )?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    fn holds_client_data(&self) -> Result<bool, StoreError> {
        self.rows(
            "SELECT EXISTS (SELECT 1 FROM vault_wrapped_keys) \
             OR EXISTS (SELECT 1 FROM vault_records)",
            Vec::new(),
            |rows| match rows.first() {
                Some(row) => row.try_get(0).map_err(backend),
                None => Ok(false),
            },
        )
    }
}

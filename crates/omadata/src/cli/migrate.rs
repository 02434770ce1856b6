//! `migrate`: creates or upgrades a PostgreSQL store's schema. `migrate-store`: copies a
//! sled store into an empty PostgreSQL store, byte for byte: records stay sealed under
//! the clients' data keys, the audit journal keeps its entries, tree nodes and heads, so
//! old receipts and proofs still verify.

use super::{CliError, say};
use crate::store::{StoreChoice, sled_dir};
use omadata_consent::audit::STORED_LEVEL;
use omadata_consent::store::ConsentStore;
use omadata_store_postgres::{ImportBatch, PgOptions, PgStore, is_postgres_url};
use omadata_store_sled::{SledStore, VaultTree};
use omadata_vault::VaultError;
use omadata_vault::store::{StoreError, StoredVersion, keys};
use std::io::Write;
use std::path::Path;

/// Rows per transaction while copying.
const BATCH: usize = 2_000;

pub(super) fn migrate(store: &StoreChoice, out: &mut dyn Write) -> Result<(), CliError> {
    let StoreChoice::Postgres(url) = store else {
        return Err(CliError::Config(
            "`migrate` upgrades a PostgreSQL store: give --store postgres://… (or OMADATA_STORE); the embedded store needs no migrations".into(),
        ));
    };
    // Opening runs the migrations; a gateway may be serving meanwhile.
    let options = PgOptions {
        access: omadata_store_postgres::Access::Read,
        ..PgOptions::default()
    };
    let store = PgStore::open(url.expose(), &options).map_err(VaultError::from)?;
    let version = store.schema_version().map_err(VaultError::from)?;
    say(
        out,
        format_args!("{}: schema at version {version}", store.target()),
    )
}

/// What was copied.
#[derive(Debug, Default)]
struct Copied {
    meta: usize,
    wrapped_keys: usize,
    records: usize,
    consent: usize,
    journal: u64,
    nodes: usize,
}

pub(super) fn migrate_store(from: &Path, to: &str, out: &mut dyn Write) -> Result<(), CliError> {
    if !is_postgres_url(to) {
        return Err(CliError::Config(
            "--to must be a postgres://… connection string".into(),
        ));
    }
    let db = sled_dir(from);
    if !db.exists() {
        return Err(CliError::Config(format!(
            "{} holds no store to copy",
            from.display()
        )));
    }
    // sled's lock refuses while a gateway serves the directory.
    let source = SledStore::open(&db).map_err(VaultError::from)?;
    // No gateway may serve the target meanwhile.
    let options = PgOptions {
        access: omadata_store_postgres::Access::Exclusive,
        ..PgOptions::default()
    };
    let target = PgStore::open(to, &options).map_err(VaultError::from)?;
    if !target.is_empty().map_err(VaultError::from)? {
        return Err(CliError::Config(format!(
            "{} already holds data: migrate-store copies only into an empty store",
            target.target()
        )));
    }
    let copied = copy(&source, &target).map_err(VaultError::from)?;
    say(
        out,
        format_args!(
            "copied {} into {}: {} settings, {} data keys, {} record versions, {} consent entries, {} audit entries, {} audit tree nodes",
            from.display(),
            target.target(),
            copied.meta,
            copied.wrapped_keys,
            copied.records,
            copied.consent,
            copied.journal,
            copied.nodes
        ),
    )
}

fn copy(source: &SledStore, target: &PgStore) -> Result<Copied, StoreError> {
    let mut copied = Copied::default();
    for tree in [VaultTree::Meta, VaultTree::WrappedKeys, VaultTree::Records] {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let entries = source.vault_entries_after(tree, after.as_deref(), BATCH)?;
            let Some((last, _)) = entries.last() else {
                break;
            };
            after = Some(last.clone());
            let mut batch = ImportBatch::default();
            for (key, value) in entries {
                match tree {
                    VaultTree::Meta => batch.meta.push((
                        String::from_utf8(key)
                            .map_err(|_| StoreError::Corrupt("a setting's name".into()))?,
                        value,
                    )),
                    VaultTree::WrappedKeys => {
                        batch.wrapped_keys.push((keys::decode_client(&key)?, value));
                    }
                    VaultTree::Records => {
                        let (path, version) = keys::decode_record(&key)?;
                        let client = keys::decode_client(key.get(..16).unwrap_or_default())?;
                        batch.records.push((
                            client,
                            StoredVersion {
                                path,
                                version,
                                sealed: value,
                            },
                        ));
                    }
                }
            }
            copied.meta += batch.meta.len();
            copied.wrapped_keys += batch.wrapped_keys.len();
            copied.records += batch.records.len();
            target.import(batch)?;
        }
    }
    let mut from: Option<Vec<u8>> = None;
    loop {
        let mut entries = ConsentStore::scan(source, &[], from.as_deref(), false, BATCH + 1)?;
        // `from` is inclusive: the first entry after the first page was the last one copied.
        if from.is_some() && !entries.is_empty() {
            entries.remove(0);
        }
        let Some((last, _)) = entries.last() else {
            break;
        };
        from = Some(last.clone());
        copied.consent += entries.len();
        target.import(ImportBatch {
            consent: entries,
            ..ImportBatch::default()
        })?;
    }
    let len = source.journal_len()?;
    let mut seq = 0;
    while seq < len {
        let end = (seq + BATCH as u64).min(len);
        let records = (seq..end)
            .map(|s| {
                source
                    .journal_record(s)?
                    .ok_or_else(|| StoreError::Corrupt(format!("audit journal lacks entry {s}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        target.journal_append(&records, &[])?;
        seq = end;
    }
    copied.journal = len;
    let mut nodes = Vec::new();
    for level in STORED_LEVEL..64 {
        let count = len >> level;
        if count == 0 {
            break;
        }
        for index in 0..count {
            if let Some(hash) = source.journal_node(level, index)? {
                nodes.push((level, index, hash));
            }
        }
    }
    copied.nodes = nodes.len();
    for chunk in nodes.chunks(BATCH * 5) {
        target.journal_append(&[], chunk)?;
    }
    if let Some(snapshot) = source.journal_snapshot()? {
        target.save_journal_snapshot(&snapshot)?;
    }
    Ok(copied)
}

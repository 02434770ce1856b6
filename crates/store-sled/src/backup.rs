//! A consistent copy of a live store in one file, and its restore.
//!
//! [`SledStore::write_backup`] takes the write barrier exclusively, so every mutation
//! is either wholly in the copy or wholly out of it, and streams every tree. Readers go
//! on meanwhile; writers (including audit appends) wait until the copy is written.
//!
//! Format (`specs/formats.md`): the line `omadata-backup v1\n`, then one record per
//! stored key: `1`, tree number (u8), key length (u32 BE), key, value length (u32 BE),
//! value; then `0`, the record count (u64 BE) and the SHA-256 of every byte before it.
//! Keys stay as they are stored: record values sealed under the clients' data keys, data
//! keys wrapped under the master key, which is never in a backup.

use crate::{SledStore, backend};
use omadata_vault::store::StoreError;
use ring::digest::{Context, SHA256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"omadata-backup v1\n";
const RECORD: u8 = 1;
const END: u8 = 0;
/// Larger keys or values than any OmaData writes: a corrupt length, refused before
/// anything is allocated for it.
const MAX_KEY: u32 = 64 * 1024;
const MAX_VALUE: u32 = 16 * 1024 * 1024;
/// The consent tree's number in [`SledStore::trees`] order.
const CONSENT_TREE_NUMBER: u8 = 3;

/// What a backup holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// Stored keys copied.
    pub records: u64,
    /// Bytes of the backup file.
    pub bytes: u64,
    /// Hex SHA-256 of the file before its last 32 bytes (the digest itself).
    pub sha256: String,
}

/// Why a backup could not be read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not an OmaData backup (version 1)")]
    NotABackup,
    #[error("the backup is damaged or cut short: {0}")]
    Damaged(String),
    #[error("{0} already exists: restore only into a new directory")]
    TargetExists(PathBuf),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    digest: Context,
    bytes: u64,
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            digest: Context::new(&SHA256),
            bytes: 0,
        }
    }
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(data)?;
        self.digest.update(data);
        self.bytes += data.len() as u64;
        Ok(())
    }
}

impl<R: Read> Hashing<R> {
    fn take(&mut self, out: &mut [u8]) -> Result<(), BackupError> {
        self.inner.read_exact(out).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => BackupError::Damaged("it ends early".into()),
            _ => BackupError::Io(e),
        })?;
        self.digest.update(out);
        self.bytes += out.len() as u64;
        Ok(())
    }

    fn take_u32(&mut self) -> Result<u32, BackupError> {
        let mut b = [0u8; 4];
        self.take(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn take_vec(&mut self, len: u32, max: u32) -> Result<Vec<u8>, BackupError> {
        if len > max {
            return Err(BackupError::Damaged(format!("a length of {len} bytes")));
        }
        let mut v = vec![0u8; len as usize];
        self.take(&mut v)?;
        Ok(v)
    }
}

impl SledStore {
    fn trees(&self) -> [&sled::Tree; 4] {
        [&self.meta, &self.wrapped_keys, &self.records, &self.consent]
    }

    /// Writes a consistent copy of the whole store to `out`. Mutations wait meanwhile.
    pub fn write_backup(&self, out: &mut dyn Write) -> Result<BackupSummary, BackupError> {
        let _barrier = self.barrier.write();
        let mut out = Hashing::new(std::io::BufWriter::new(out));
        out.put(MAGIC)?;
        let mut records = 0u64;
        for (number, tree) in (0u8..).zip(self.trees()) {
            for item in tree.iter() {
                let (key, value) = item.map_err(backend)?;
                out.put(&[RECORD, number])?;
                out.put(&(key.len() as u32).to_be_bytes())?;
                out.put(&key)?;
                out.put(&(value.len() as u32).to_be_bytes())?;
                out.put(&value)?;
                records += 1;
            }
        }
        // The audit journal goes in as the consent keys the log imports on open: the
        // format stays one of keys and values.
        for seq in 0..self.journal.len() {
            let record = self
                .journal
                .record(seq)?
                .ok_or_else(|| BackupError::Damaged(format!("audit record {seq} is missing")))?;
            let key = omadata_consent::layout::audit_entry(seq);
            out.put(&[RECORD, CONSENT_TREE_NUMBER])?;
            out.put(&(key.len() as u32).to_be_bytes())?;
            out.put(&key)?;
            out.put(&(record.bytes.len() as u32).to_be_bytes())?;
            out.put(&record.bytes)?;
            records += 1;
        }
        out.put(&[END])?;
        out.put(&records.to_be_bytes())?;
        let digest = out.digest.clone().finish();
        out.inner.write_all(digest.as_ref())?;
        out.inner.flush()?;
        Ok(BackupSummary {
            records,
            bytes: out.bytes + 32,
            sha256: hex::encode(digest.as_ref()),
        })
    }

    /// Reads a backup through and checks it whole, writing nothing.
    pub fn check_backup(input: &mut dyn Read) -> Result<BackupSummary, BackupError> {
        read_backup(input, |_, _, _| Ok(()))
    }

    /// Restores a backup into `dir`, which must not exist yet. The store is built
    /// beside it and moved into place only once the whole backup has checked out, so a
    /// damaged backup leaves nothing behind.
    pub fn restore(dir: &Path, input: &mut dyn Read) -> Result<BackupSummary, BackupError> {
        if dir.exists() {
            return Err(BackupError::TargetExists(dir.to_path_buf()));
        }
        let mut building = dir.as_os_str().to_owned();
        building.push(".restoring");
        let building = PathBuf::from(building);
        if building.exists() {
            std::fs::remove_dir_all(&building)?;
        }
        let result = (|| {
            let store = SledStore::open(&building)?;
            let trees = store.trees().map(Clone::clone);
            let summary = read_backup(input, |tree, key, value| {
                let tree = trees
                    .get(usize::from(tree))
                    .ok_or_else(|| BackupError::Damaged(format!("tree number {tree}")))?;
                tree.insert(key, value).map_err(backend)?;
                Ok(())
            })?;
            store.flush()?;
            Ok(summary)
        })();
        match result {
            Ok(summary) => {
                std::fs::rename(&building, dir)?;
                // The rename is durable only once the directory holding both names is.
                crate::permissions::sync_parent_dir(dir)?;
                Ok(summary)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&building);
                Err(e)
            }
        }
    }
}

fn read_backup(
    input: &mut dyn Read,
    mut each: impl FnMut(u8, Vec<u8>, Vec<u8>) -> Result<(), BackupError>,
) -> Result<BackupSummary, BackupError> {
    let mut input = Hashing::new(std::io::BufReader::new(input));
    let mut magic = [0u8; MAGIC.len()];
    input
        .take(&mut magic)
        .map_err(|_| BackupError::NotABackup)?;
    if magic != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let mut records = 0u64;
    loop {
        let mut tag = [0u8; 1];
        input.take(&mut tag)?;
        match tag[0] {
            RECORD => {
                let mut tree = [0u8; 1];
                input.take(&mut tree)?;
                let key_len = input.take_u32()?;
                let key = input.take_vec(key_len, MAX_KEY)?;
                let value_len = input.take_u32()?;
                let value = input.take_vec(value_len, MAX_VALUE)?;
                each(tree[0], key, value)?;
                records += 1;
            }
            END => break,
            other => return Err(BackupError::Damaged(format!("record tag {other}"))),
        }
    }
    let mut count = [0u8; 8];
    input.take(&mut count)?;
    if u64::from_be_bytes(count) != records {
        return Err(BackupError::Damaged(
            "the record count does not match".into(),
        ));
    }
    let expected = input.digest.clone().finish();
    let mut stored = [0u8; 32];
    input
        .inner
        .read_exact(&mut stored)
        .map_err(|_| BackupError::Damaged("the checksum is missing".into()))?;
    if stored != expected.as_ref() {
        return Err(BackupError::Damaged("the checksum does not match".into()));
    }
    let mut rest = [0u8; 1];
    if input.inner.read(&mut rest)? != 0 {
        return Err(BackupError::Damaged("bytes follow the checksum".into()));
    }
    Ok(BackupSummary {
        records,
        bytes: input.bytes + 32,
        sha256: hex::encode(expected.as_ref()),
    })
}

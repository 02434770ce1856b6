//! The audit journal on disk: append-only files under `<store>/audit/`, beside sled.
//!
//! - `log`: frames, one after another: kind (u8: 1 record, 2 tree node, 3 end of an
//!   append), payload length
//!   (u32 BE), check (the first 4 bytes of SHA-256 over kind, length and payload), payload.
//!   A record's payload is its meta (32 bytes) and its bytes; a node's is its level (u32
//!   BE), index (u64 BE) and hash (32 bytes).
//! - `slots`: 16 bytes per record: its frame's offset (u64 BE) and payload length (u32 BE).
//! - `nodes-LL`: the tree nodes of level LL, 32 bytes at index × 32 (zeros: none).
//! - `synced`: how far `slots` and the node files are known to be on disk: records (u64
//!   BE), `log` bytes (u64 BE), check (4 bytes).
//! - `snapshot`: the log's snapshot blob, replaced by a rename.
//!
//! Only `log` is synced on every append (one `fdatasync` per group commit): an append is
//! durable when its frames are. `slots` and the node files are derived from `log` and
//! synced now and then; opening rebuilds them from the frames after `synced`, and cuts
//! `log` after the last whole append (one whose end frame is there and every frame of
//! which passes its check). `synced` is written only after `log` up to the bytes it
//! names, the derived files and (if a node file was created) the directory are synced.
//! Files are 0600, the directory 0700.

use omadata_consent::store::{JOURNAL_META, JournalNode, JournalRecord};
use omadata_vault::store::StoreError;
use parking_lot::Mutex;
use ring::digest::{Context, SHA256};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SLOT: u64 = 16;
const HEADER: u64 = 9;
const RECORD: u8 = 1;
const NODE: u8 = 2;
const END_OF_APPEND: u8 = 3;
const NODE_PAYLOAD: usize = 4 + 8 + 32;
/// The derived files are synced after this many records.
const SYNC_DERIVED_EVERY: u64 = 4096;

fn io(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("audit journal {what}: {e}"))
}

fn check(parts: &[&[u8]]) -> [u8; 4] {
    let mut context = Context::new(&SHA256);
    for part in parts {
        context.update(part);
    }
    let digest = context.finish();
    let mut out = [0u8; 4];
    out.copy_from_slice(digest.as_ref().get(..4).unwrap_or(&[0; 4]));
    out
}

fn frame(kind: u8, payload: &[&[u8]], out: &mut Vec<u8>) -> Result<u32, StoreError> {
    let length: usize = payload.iter().map(|p| p.len()).sum();
    let length =
        u32::try_from(length).map_err(|_| StoreError::Corrupt("audit record too large".into()))?;
    let length_bytes = length.to_be_bytes();
    let kind_byte = [kind];
    let mut parts: Vec<&[u8]> = vec![&kind_byte, &length_bytes];
    parts.extend_from_slice(payload);
    out.push(kind);
    out.extend_from_slice(&length_bytes);
    out.extend_from_slice(&check(&parts));
    for part in payload {
        out.extend_from_slice(part);
    }
    Ok(length)
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(word)
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes.get(..4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(word)
}

/// Where the next frame and record go, and how much of the derived files is on disk.
#[derive(Debug)]
struct End {
    records: u64,
    log_bytes: u64,
    synced_records: u64,
    /// Set by a failed sync: the kernel may have dropped the pages it could not write,
    /// so a later sync that succeeds would prove nothing. Every later append fails.
    sync_failure: Option<String>,
}

impl End {
    /// Runs a sync, refusing if one failed before and remembering a failure.
    fn sync(
        &mut self,
        what: &str,
        sync: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        if let Some(failure) = &self.sync_failure {
            return Err(StoreError::Backend(format!(
                "audit journal: an earlier sync failed ({failure}); restart the service"
            )));
        }
        sync().map_err(|e| {
            self.sync_failure = Some(format!("{what}: {e}"));
            io(what, e)
        })
    }
}

#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    log: File,
    slots: File,
    synced: File,
    end: Mutex<End>,
    nodes: Mutex<NodeFiles>,
}

/// The open node files, and whether one was created since the directory was synced.
#[derive(Debug, Default)]
struct NodeFiles {
    files: HashMap<u32, Arc<File>>,
    created: bool,
}

fn open_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::permissions::FILE_MODE)
        .open(path)
        .map_err(|e| io(&format!("open {}", path.display()), e))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    crate::permissions::sync_dir(dir).map_err(|e| io("sync directory", e))
}

impl Journal {
    /// Opens (or creates) the journal in `dir`: rebuilds the derived files from the
    /// frames after `synced` and drops an append cut short.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        crate::permissions::create_private_dir(dir).map_err(|e| io("create directory", e))?;
        let journal = Self {
            dir: dir.to_owned(),
            log: open_file(&dir.join("log"))?,
            slots: open_file(&dir.join("slots"))?,
            synced: open_file(&dir.join("synced"))?,
            end: Mutex::new(End {
                records: 0,
                log_bytes: 0,
                synced_records: 0,
                sync_failure: None,
            }),
            nodes: Mutex::new(NodeFiles::default()),
        };
        sync_dir(dir)?;
        let log_len = journal.log.metadata().map_err(|e| io("size", e))?.len();
        let (mut records, mut offset) = journal.read_synced(log_len)?;
        let mut header = [0u8; HEADER as usize];
        let mut slots = Vec::new();
        let mut nodes = Vec::new();
        // Frames of the append being read: kept only once its end frame is read.
        let (mut append_slots, mut append_nodes, mut append_records) = (Vec::new(), Vec::new(), 0);
        let mut position = offset;
        while position + HEADER <= log_len {
            journal
                .log
                .read_exact_at(&mut header, position)
                .map_err(|e| io("read", e))?;
            let (kind, length) = (header[0], be_u32(&header[1..5]));
            let end = position + HEADER + u64::from(length);
            if !matches!(kind, RECORD | NODE | END_OF_APPEND) || end > log_len {
                break;
            }
            let mut payload = vec![0u8; length as usize];
            journal
                .log
                .read_exact_at(&mut payload, position + HEADER)
                .map_err(|e| io("read", e))?;
            if check(&[&[kind], &header[1..5], &payload]) != header[5..9] {
                break;
            }
            match kind {
                RECORD => {
                    append_slots.extend_from_slice(&position.to_be_bytes());
                    append_slots.extend_from_slice(&length.to_be_bytes());
                    append_slots.extend_from_slice(&[0; 4]);
                    append_records += 1;
                }
                NODE if payload.len() == NODE_PAYLOAD => {
                    let mut hash = [0u8; 32];
                    hash.copy_from_slice(&payload[12..]);
                    append_nodes.push((be_u32(&payload[..4]), be_u64(&payload[4..12]), hash));
                }
                END_OF_APPEND => {
                    slots.append(&mut append_slots);
                    nodes.append(&mut append_nodes);
                    records += append_records;
                    append_records = 0;
                    offset = end;
                }
                _ => break,
            }
            position = end;
        }
        if offset < log_len {
            tracing::warn!(
                bytes = log_len - offset,
                "dropping an audit journal append cut short"
            );
        }
        let first_rebuilt = records - (slots.len() as u64 / SLOT);
        journal
            .log
            .set_len(offset)
            .and_then(|()| journal.log.sync_all())
            .and_then(|()| journal.slots.set_len(first_rebuilt * SLOT))
            .and_then(|()| journal.slots.write_all_at(&slots, first_rebuilt * SLOT))
            .map_err(|e| io("rebuild", e))?;
        journal.write_nodes(&nodes)?;
        *journal.end.lock() = End {
            records,
            log_bytes: offset,
            synced_records: first_rebuilt,
            sync_failure: None,
        };
        journal.sync_derived(&mut journal.end.lock(), true)?;
        Ok(journal)
    }

    /// `(records, log bytes)` the derived files are on disk for; `(0, 0)` if unknown.
    fn read_synced(&self, log_len: u64) -> Result<(u64, u64), StoreError> {
        let mut raw = [0u8; 20];
        let known = match self.synced.read_exact_at(&mut raw, 0) {
            Ok(()) => {
                let (records, bytes) = (be_u64(&raw[..8]), be_u64(&raw[8..16]));
                (check(&[&raw[..16]]) == raw[16..20]
                    && bytes <= log_len
                    && records <= self.slots.metadata().map_err(|e| io("size", e))?.len() / SLOT)
                    .then_some((records, bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
            Err(e) => return Err(io("read synced", e)),
        };
        Ok(known.unwrap_or((0, 0)))
    }

    /// Syncs the derived files, then records how far they go. `log` must be durable up
    /// to `end.log_bytes` (an append without `durable` leaves it to this).
    fn sync_derived(&self, end: &mut End, log_synced: bool) -> Result<(), StoreError> {
        if !log_synced {
            end.sync("sync", || self.log.sync_data())?;
        }
        end.sync("sync slots", || self.slots.sync_data())?;
        {
            let mut nodes = self.nodes.lock();
            for file in nodes.files.values() {
                end.sync("sync nodes", || file.sync_data())?;
            }
            // A new node file's name must be on disk before `synced` counts on it.
            if nodes.created {
                end.sync("sync directory", || crate::permissions::sync_dir(&self.dir))?;
                nodes.created = false;
            }
        }
        let mut raw = [0u8; 20];
        raw[..8].copy_from_slice(&end.records.to_be_bytes());
        raw[8..16].copy_from_slice(&end.log_bytes.to_be_bytes());
        let sum = check(&[&raw[..16]]);
        raw[16..].copy_from_slice(&sum);
        self.synced
            .write_all_at(&raw, 0)
            .map_err(|e| io("write synced", e))?;
        end.sync("sync synced", || self.synced.sync_data())?;
        end.synced_records = end.records;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.end.lock().records
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn node_file(&self, level: u32) -> Result<Arc<File>, StoreError> {
        let mut nodes = self.nodes.lock();
        if let Some(file) = nodes.files.get(&level) {
            return Ok(file.clone());
        }
        let path = self.dir.join(format!("nodes-{level:02}"));
        nodes.created |= !path.exists();
        let file = Arc::new(open_file(&path)?);
        nodes.files.insert(level, file.clone());
        Ok(file)
    }

    fn write_nodes(&self, nodes: &[JournalNode]) -> Result<(), StoreError> {
        for (level, index, hash) in nodes {
            let at = index
                .checked_mul(32)
                .ok_or_else(|| StoreError::Corrupt("audit node index out of range".into()))?;
            self.node_file(*level)?
                .write_all_at(hash, at)
                .map_err(|e| io("write node", e))?;
        }
        Ok(())
    }

    /// Durable when it returns (unless `durable` is false: bulk loading, see
    /// [`Journal::sync`]); after a crash, whole or not at all.
    pub fn append(
        &self,
        records: &[JournalRecord],
        nodes: &[JournalNode],
        durable: bool,
    ) -> Result<(), StoreError> {
        let mut end = self.end.lock();
        let mut frames = Vec::new();
        let mut slots = Vec::with_capacity(records.len() * SLOT as usize);
        for record in records {
            let offset = end.log_bytes + frames.len() as u64;
            let length = frame(RECORD, &[&record.meta, &record.bytes], &mut frames)?;
            slots.extend_from_slice(&offset.to_be_bytes());
            slots.extend_from_slice(&length.to_be_bytes());
            slots.extend_from_slice(&[0; 4]);
        }
        for (level, index, hash) in nodes {
            frame(
                NODE,
                &[&level.to_be_bytes(), &index.to_be_bytes(), hash],
                &mut frames,
            )?;
        }
        frame(END_OF_APPEND, &[], &mut frames)?;
        if let Some(failure) = &end.sync_failure {
            return Err(io("append", std::io::Error::other(failure.clone())));
        }
        self.log
            .write_all_at(&frames, end.log_bytes)
            .map_err(|e| io("write", e))?;
        if durable {
            end.sync("sync", || self.log.sync_data())?;
        }
        self.slots
            .write_all_at(&slots, end.records * SLOT)
            .map_err(|e| io("write slots", e))?;
        self.write_nodes(nodes)?;
        end.records += records.len() as u64;
        end.log_bytes += frames.len() as u64;
        if end.records - end.synced_records >= SYNC_DERIVED_EVERY {
            self.sync_derived(&mut end, durable)?;
        }
        Ok(())
    }

    /// Makes every append so far durable, with the derived files.
    pub fn sync(&self) -> Result<(), StoreError> {
        let mut end = self.end.lock();
        self.sync_derived(&mut end, false)
    }

    pub fn record(&self, seq: u64) -> Result<Option<JournalRecord>, StoreError> {
        if seq >= self.len() {
            return Ok(None);
        }
        let mut slot = [0u8; SLOT as usize];
        self.slots
            .read_exact_at(&mut slot, seq * SLOT)
            .map_err(|e| io("read slot", e))?;
        let (offset, length) = (be_u64(&slot[..8]), be_u32(&slot[8..12]) as usize);
        let mut payload = vec![0u8; length];
        self.log
            .read_exact_at(&mut payload, offset + HEADER)
            .map_err(|e| io("read", e))?;
        if payload.len() < JOURNAL_META {
            return Err(StoreError::Corrupt(format!(
                "audit record {seq} is malformed"
            )));
        }
        let bytes = payload.split_off(JOURNAL_META);
        let mut meta = [0u8; JOURNAL_META];
        meta.copy_from_slice(&payload);
        Ok(Some(JournalRecord { bytes, meta }))
    }

    pub fn node(&self, level: u32, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let path = self.dir.join(format!("nodes-{level:02}"));
        if !self.nodes.lock().files.contains_key(&level) && !path.exists() {
            return Ok(None);
        }
        let file = self.node_file(level)?;
        let Some(at) = index.checked_mul(32) else {
            return Ok(None);
        };
        let mut hash = [0u8; 32];
        match file.read_exact_at(&mut hash, at) {
            Ok(()) if hash != [0u8; 32] => Ok(Some(hash)),
            Ok(()) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(io("read node", e)),
        }
    }

    pub fn snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(self.dir.join("snapshot")) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read snapshot", e)),
        }
    }

    pub fn save_snapshot(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let partial = self.dir.join("snapshot.partial");
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(crate::permissions::FILE_MODE)
            .open(&partial)
            .and_then(|mut file| {
                file.write_all(bytes)?;
                file.sync_all()
            })
            .and_then(|()| std::fs::rename(&partial, self.dir.join("snapshot")))
            .map_err(|e| io("write snapshot", e))?;
        sync_dir(&self.dir)
    }
}

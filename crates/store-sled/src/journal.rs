//! The audit journal on disk: append-only files under `<store>/audit/`, beside sled.
//!
//! - `entries`: the records' bytes, one after another.
//! - `slots`: 48 bytes per record: its offset (u64 BE) and length (u32 BE) in `entries`,
//!   a check (the first 4 bytes of SHA-256 over the bytes and the meta), the meta (32
//!   bytes).
//! - `nodes-LL`: the tree nodes of level LL, 32 bytes at index × 32 (zeros: none).
//! - `snapshot`: the log's snapshot blob, replaced by a rename.
//!
//! An append writes and syncs the bytes, then the nodes, then the slots: a slot on disk
//! means its record and nodes are. Opening drops trailing slots whose record fails its
//! check (an append cut short) and cuts `entries` after the last good record.

use omadata_consent::store::{JOURNAL_META, JournalNode, JournalRecord};
use omadata_vault::store::StoreError;
use parking_lot::Mutex;
use ring::digest::{Context, SHA256};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SLOT: u64 = 48;

fn io(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("audit journal {what}: {e}"))
}

fn check(bytes: &[u8], meta: &[u8; JOURNAL_META]) -> [u8; 4] {
    let mut context = Context::new(&SHA256);
    context.update(bytes);
    context.update(meta);
    let digest = context.finish();
    let mut out = [0u8; 4];
    out.copy_from_slice(digest.as_ref().get(..4).unwrap_or(&[0; 4]));
    out
}

/// Where a record lies, and what it must hash to.
struct Slot {
    offset: u64,
    length: u32,
    check: [u8; 4],
    meta: [u8; JOURNAL_META],
}

impl Slot {
    fn encode(&self) -> [u8; SLOT as usize] {
        let mut out = [0u8; SLOT as usize];
        out[..8].copy_from_slice(&self.offset.to_be_bytes());
        out[8..12].copy_from_slice(&self.length.to_be_bytes());
        out[12..16].copy_from_slice(&self.check);
        out[16..].copy_from_slice(&self.meta);
        out
    }

    fn decode(raw: &[u8; SLOT as usize]) -> Self {
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&raw[..8]);
        let mut length = [0u8; 4];
        length.copy_from_slice(&raw[8..12]);
        let mut check = [0u8; 4];
        check.copy_from_slice(&raw[12..16]);
        let mut meta = [0u8; JOURNAL_META];
        meta.copy_from_slice(&raw[16..]);
        Slot {
            offset: u64::from_be_bytes(offset),
            length: u32::from_be_bytes(length),
            check,
            meta,
        }
    }
}

/// Where the next record goes.
#[derive(Debug)]
struct End {
    records: u64,
    entries_bytes: u64,
}

#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    entries: File,
    slots: File,
    end: Mutex<End>,
    nodes: Mutex<HashMap<u32, Arc<File>>>,
}

fn open_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io(&format!("open {}", path.display()), e))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync directory", e))
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, dropping an append cut short.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io("create directory", e))?;
        let entries = open_file(&dir.join("entries"))?;
        let slots = open_file(&dir.join("slots"))?;
        sync_dir(dir)?;
        let entries_bytes = entries.metadata().map_err(|e| io("size", e))?.len();
        let mut records = slots.metadata().map_err(|e| io("size", e))?.len() / SLOT;
        let mut end_of_last = 0;
        while records > 0 {
            let slot = read_slot(&slots, records - 1)?;
            let end = slot.offset.saturating_add(u64::from(slot.length));
            if end <= entries_bytes {
                let mut bytes = vec![0u8; slot.length as usize];
                entries
                    .read_exact_at(&mut bytes, slot.offset)
                    .map_err(|e| io("read", e))?;
                if check(&bytes, &slot.meta) == slot.check {
                    end_of_last = end;
                    break;
                }
            }
            tracing::warn!(record = records - 1, "dropping an audit record cut short");
            records -= 1;
        }
        slots
            .set_len(records * SLOT)
            .and_then(|()| entries.set_len(end_of_last))
            .and_then(|()| slots.sync_all())
            .and_then(|()| entries.sync_all())
            .map_err(|e| io("cut", e))?;
        Ok(Self {
            dir: dir.to_owned(),
            entries,
            slots,
            end: Mutex::new(End {
                records,
                entries_bytes: end_of_last,
            }),
            nodes: Mutex::new(HashMap::new()),
        })
    }

    pub fn len(&self) -> u64 {
        self.end.lock().records
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn node_file(&self, level: u32) -> Result<Arc<File>, StoreError> {
        let mut files = self.nodes.lock();
        if let Some(file) = files.get(&level) {
            return Ok(file.clone());
        }
        let file = Arc::new(open_file(&self.dir.join(format!("nodes-{level:02}")))?);
        files.insert(level, file.clone());
        Ok(file)
    }

    /// Appends whole or, after a crash, not at all (see the module map).
    pub fn append(
        &self,
        records: &[JournalRecord],
        nodes: &[JournalNode],
    ) -> Result<(), StoreError> {
        let mut end = self.end.lock();
        let mut bytes = Vec::new();
        let mut slots = Vec::with_capacity(records.len() * SLOT as usize);
        let mut offset = end.entries_bytes;
        for record in records {
            let length = u32::try_from(record.bytes.len())
                .map_err(|_| StoreError::Corrupt("audit record too large".into()))?;
            slots.extend_from_slice(
                &Slot {
                    offset,
                    length,
                    check: check(&record.bytes, &record.meta),
                    meta: record.meta,
                }
                .encode(),
            );
            bytes.extend_from_slice(&record.bytes);
            offset += u64::from(length);
        }
        self.entries
            .write_all_at(&bytes, end.entries_bytes)
            .and_then(|()| self.entries.sync_data())
            .map_err(|e| io("write", e))?;
        let mut touched: Vec<Arc<File>> = Vec::new();
        for (level, index, hash) in nodes {
            let file = self.node_file(*level)?;
            let at = index
                .checked_mul(32)
                .ok_or_else(|| StoreError::Corrupt("audit node index out of range".into()))?;
            file.write_all_at(hash, at)
                .map_err(|e| io("write node", e))?;
            if !touched.iter().any(|f| Arc::ptr_eq(f, &file)) {
                touched.push(file);
            }
        }
        for file in touched {
            file.sync_data().map_err(|e| io("sync node", e))?;
        }
        self.slots
            .write_all_at(&slots, end.records * SLOT)
            .and_then(|()| self.slots.sync_data())
            .map_err(|e| io("write slots", e))?;
        end.records += records.len() as u64;
        end.entries_bytes = offset;
        Ok(())
    }

    pub fn record(&self, seq: u64) -> Result<Option<JournalRecord>, StoreError> {
        if seq >= self.len() {
            return Ok(None);
        }
        let slot = read_slot(&self.slots, seq)?;
        let mut bytes = vec![0u8; slot.length as usize];
        self.entries
            .read_exact_at(&mut bytes, slot.offset)
            .map_err(|e| io("read", e))?;
        Ok(Some(JournalRecord {
            bytes,
            meta: slot.meta,
        }))
    }

    pub fn node(&self, level: u32, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let path = self.dir.join(format!("nodes-{level:02}"));
        if !self.nodes.lock().contains_key(&level) && !path.exists() {
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
        std::fs::write(&partial, bytes)
            .and_then(|()| File::open(&partial)?.sync_all())
            .and_then(|()| std::fs::rename(&partial, self.dir.join("snapshot")))
            .map_err(|e| io("write snapshot", e))?;
        sync_dir(&self.dir)
    }
}

fn read_slot(slots: &File, seq: u64) -> Result<Slot, StoreError> {
    let mut raw = [0u8; SLOT as usize];
    slots
        .read_exact_at(&mut raw, seq * SLOT)
        .map_err(|e| io("read slot", e))?;
    Ok(Slot::decode(&raw))
}

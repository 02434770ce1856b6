//! Verification and export: the raw log as an auditor takes it, and the verifiers that
//! recompute it (whole, streaming and cancellable, or one checkpoint against another).

use super::AuditLog;
use super::checkpoints::Checkpoint;
use super::entry::AuditEntry;
use crate::canonical;
use crate::error::ConsentError;
use crate::layout;
use crate::merkle::{self, Hash};
use crate::signing::Jwks;
use crate::store::ConsentStore;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

impl AuditLog {
    /// The raw entries in order, `limit` at a time from `from_seq`: for export and
    /// verification.
    pub fn raw_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<Vec<u8>>, ConsentError> {
        let end = from_seq.saturating_add(limit as u64).min(self.len());
        (from_seq..end)
            .map(|seq| {
                self.raw_entry(seq)?
                    .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))
            })
            .collect()
    }

    /// Verifies the stored log from its raw entries against its stored checkpoints.
    pub fn verify(&self, keys: &Jwks) -> Result<LogReport, LogInvalid> {
        verify_store(self.store.as_ref(), keys)
    }

    /// [`AuditLog::verify`], stopping early once `cancel` is set.
    pub fn verify_cancellable(
        &self,
        keys: &Jwks,
        cancel: &AtomicBool,
    ) -> Result<LogReport, LogInvalid> {
        verify_store_cancellable(self.store.as_ref(), keys, cancel)
    }
}

/// Every raw entry and checkpoint in a store, without the signing key: what an auditor
/// exports or verifies.
pub fn export_store(
    store: &dyn ConsentStore,
) -> Result<(Vec<Vec<u8>>, Vec<Checkpoint>), ConsentError> {
    // The journal, then entries only the key space holds yet (see `AuditLog::import`).
    let journaled = store.journal_len()?;
    let mut entries = Vec::new();
    for seq in 0..journaled {
        let record = store
            .journal_record(seq)?
            .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))?;
        entries.push(record.bytes);
    }
    entries.extend(
        store
            .scan(
                layout::AUDIT_ENTRY,
                Some(&layout::audit_entry(journaled)),
                false,
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, v)| v),
    );
    let checkpoints = store
        .scan(layout::AUDIT_CHECKPOINT, None, false, usize::MAX)?
        .into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| ConsentError::Corrupt(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok((entries, checkpoints))
}

/// Verifies the log held in a store (see [`verify_store_cancellable`]).
pub fn verify_store(store: &dyn ConsentStore, keys: &Jwks) -> Result<LogReport, LogInvalid> {
    verify_store_cancellable(store, keys, &AtomicBool::new(false))
}

/// Verifies the log held in a store, streaming: entries and checkpoints are read
/// [`VERIFY_BATCH`] at a time and the tree is recomputed as they pass, so memory stays
/// bounded whatever the log's length. Stops with [`LogInvalid::Cancelled`] at the next
/// batch once `cancel` is set.
pub fn verify_store_cancellable(
    store: &dyn ConsentStore,
    keys: &Jwks,
    cancel: &AtomicBool,
) -> Result<LogReport, LogInvalid> {
    let journaled = store
        .journal_len()
        .map_err(|e| LogInvalid::Unreadable(e.to_string()))?;
    // The journal, then entries only the key space holds yet (see `AuditLog::import`).
    let journal = JournalEntries {
        store,
        next: 0,
        end: journaled,
        buffer: VecDeque::new(),
    };
    let copies = StoredPages::new(
        store,
        layout::AUDIT_ENTRY,
        Some(layout::audit_entry(journaled)),
    )
    .map(|r| r.map(|(_, v)| v));
    let checkpoints = StoredPages::new(store, layout::AUDIT_CHECKPOINT, None).map(|r| {
        r.and_then(|(_, v)| {
            serde_json::from_slice(&v).map_err(|e| LogInvalid::Unreadable(e.to_string()))
        })
    });
    verify_stream(journal.chain(copies), checkpoints, keys, cancel)
}

/// Entries (and checkpoints) a streaming verification reads, and holds, at a time.
pub const VERIFY_BATCH: usize = 1024;

/// Journal records `next..end`, read [`VERIFY_BATCH`] at a time.
struct JournalEntries<'a> {
    store: &'a dyn ConsentStore,
    next: u64,
    end: u64,
    buffer: VecDeque<Vec<u8>>,
}

impl Iterator for JournalEntries<'_> {
    type Item = Result<Vec<u8>, LogInvalid>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && self.next < self.end {
            let end = self.end.min(self.next.saturating_add(VERIFY_BATCH as u64));
            let wanted = usize::try_from(end - self.next).unwrap_or(VERIFY_BATCH);
            match self.store.journal_records(self.next, wanted) {
                Ok(records) if records.len() == wanted => {
                    self.buffer.extend(records.into_iter().map(|r| r.bytes));
                }
                Ok(records) => {
                    let missing = self.next + records.len() as u64;
                    self.next = self.end;
                    return Some(Err(LogInvalid::Unreadable(format!(
                        "audit entry {missing} is missing"
                    ))));
                }
                Err(e) => {
                    self.next = self.end;
                    return Some(Err(LogInvalid::Unreadable(e.to_string())));
                }
            }
            self.next = end;
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// The keys under a prefix in key order, scanned [`VERIFY_BATCH`] at a time.
struct StoredPages<'a> {
    store: &'a dyn ConsentStore,
    prefix: &'static [u8],
    /// Where the next scan starts; `None` once the prefix is exhausted.
    from: Option<Vec<u8>>,
    buffer: VecDeque<crate::store::Entry>,
}

impl<'a> StoredPages<'a> {
    fn new(store: &'a dyn ConsentStore, prefix: &'static [u8], from: Option<Vec<u8>>) -> Self {
        Self {
            store,
            prefix,
            from: Some(from.unwrap_or_else(|| prefix.to_vec())),
            buffer: VecDeque::new(),
        }
    }
}

impl Iterator for StoredPages<'_> {
    type Item = Result<crate::store::Entry, LogInvalid>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty()
            && let Some(from) = self.from.take()
        {
            match self
                .store
                .scan(self.prefix, Some(&from), false, VERIFY_BATCH)
            {
                Ok(page) => {
                    if page.len() == VERIFY_BATCH {
                        // The least key after the page's last one.
                        self.from = page.last().map(|(k, _)| {
                            let mut next = k.clone();
                            next.push(0);
                            next
                        });
                    }
                    self.buffer.extend(page);
                }
                Err(e) => return Some(Err(LogInvalid::Unreadable(e.to_string()))),
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// What a verification established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogReport {
    pub entries: u64,
    pub root_hash: String,
    pub checkpoints_verified: usize,
    /// Entries after the last checkpoint: intact in order, but not yet anchored by a
    /// signature.
    pub unanchored_entries: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogInvalid {
    #[error("entry at position {position} is malformed: {reason}")]
    MalformedEntry { position: u64, reason: String },
    #[error(
        "entry at position {position} carries sequence number {seq}: entries were deleted, inserted or reordered"
    )]
    OutOfOrder { position: u64, seq: u64 },
    #[error("checkpoint of size {size} has a bad signature or an unknown key")]
    BadCheckpointSignature { size: u64 },
    #[error(
        "checkpoint of size {size} is signed, but the log has only {entries} entries: the log was truncated"
    )]
    Truncated { size: u64, entries: u64 },
    #[error(
        "the first {size} entries do not hash to the signed root: entries were modified, deleted, inserted or reordered"
    )]
    RootMismatch { size: u64 },
    #[error("checkpoint of size {new} does not extend checkpoint of size {old}")]
    NotAnExtension { old: u64, new: u64 },
    #[error("the log cannot be read: {0}")]
    Unreadable(String),
    /// Not a finding about the log: whoever asked went away before it finished.
    #[error("verification was cancelled before it finished")]
    Cancelled,
}

/// Recomputes the tree over raw entries (in order) and checks every checkpoint.
pub fn verify_entries<'a>(
    entries: impl Iterator<Item = &'a [u8]>,
    checkpoints: &[Checkpoint],
    keys: &Jwks,
) -> Result<LogReport, LogInvalid> {
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| (c.tree_size, c.timestamp));
    verify_stream(
        entries.map(|bytes| Ok(bytes.to_vec())),
        sorted.into_iter().cloned().map(Ok),
        keys,
        &AtomicBool::new(false),
    )
}

/// Checks one raw entry at `position`: canonical, and numbered by its position.
fn check_entry(position: u64, bytes: &[u8]) -> Result<(), LogInvalid> {
    let entry: AuditEntry =
        serde_json::from_slice(bytes).map_err(|e| LogInvalid::MalformedEntry {
            position,
            reason: e.to_string(),
        })?;
    if canonical::to_vec(&entry).ok().as_deref() != Some(bytes) {
        return Err(LogInvalid::MalformedEntry {
            position,
            reason: "not in canonical form".into(),
        });
    }
    if entry.seq != position {
        return Err(LogInvalid::OutOfOrder {
            position,
            seq: entry.seq,
        });
    }
    Ok(())
}

/// The streaming verifier: reads `entries` in order once, keeping only the tree's right
/// edge ([`merkle::Frontier`]), and checks each checkpoint (given in ascending
/// `tree_size`) when the entries reach its size. Memory is O(log n) plus what the
/// iterators buffer. `cancel` is read every [`VERIFY_BATCH`] entries.
pub fn verify_stream(
    mut entries: impl Iterator<Item = Result<Vec<u8>, LogInvalid>>,
    checkpoints: impl Iterator<Item = Result<Checkpoint, LogInvalid>>,
    keys: &Jwks,
    cancel: &AtomicBool,
) -> Result<LogReport, LogInvalid> {
    let mut tree = merkle::Frontier::new();
    // Reads entries into the tree until it holds `size` of them or they run out.
    let mut advance = |tree: &mut merkle::Frontier, size: u64| -> Result<(), LogInvalid> {
        while tree.len() < size {
            let position = tree.len();
            if position.is_multiple_of(VERIFY_BATCH as u64) && cancel.load(Ordering::Acquire) {
                return Err(LogInvalid::Cancelled);
            }
            let Some(bytes) = entries.next() else {
                return Ok(());
            };
            let bytes = bytes?;
            check_entry(position, &bytes)?;
            tree.push(&bytes);
        }
        Ok(())
    };
    let mut previous: Option<Checkpoint> = None;
    let mut verified = 0usize;
    for checkpoint in checkpoints {
        let checkpoint = checkpoint?;
        let size = checkpoint.tree_size;
        if !checkpoint.verify_signature(keys) {
            return Err(LogInvalid::BadCheckpointSignature { size });
        }
        if let Some(prev) = &previous
            && (prev.timestamp > checkpoint.timestamp || prev.tree_size > size)
        {
            return Err(LogInvalid::NotAnExtension {
                old: prev.tree_size,
                new: size,
            });
        }
        advance(&mut tree, size)?;
        if tree.len() < size {
            return Err(LogInvalid::Truncated {
                size,
                entries: tree.len(),
            });
        }
        if Some(tree.root()) != checkpoint.root() {
            return Err(LogInvalid::RootMismatch { size });
        }
        previous = Some(checkpoint);
        verified += 1;
    }
    advance(&mut tree, u64::MAX)?;
    let entries = tree.len();
    let anchored = previous.map_or(0, |c| c.tree_size);
    Ok(LogReport {
        entries,
        root_hash: hex::encode(tree.root()),
        checkpoints_verified: verified,
        unanchored_entries: entries - anchored,
    })
}

/// Checks, from two signed checkpoints and a consistency proof alone, that the newer one
/// extends the older: what an auditor who kept an old checkpoint runs.
pub fn verify_extension(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[Hash],
    keys: &Jwks,
) -> Result<(), LogInvalid> {
    for c in [old, new] {
        if !c.verify_signature(keys) {
            return Err(LogInvalid::BadCheckpointSignature { size: c.tree_size });
        }
    }
    let (Some(old_root), Some(new_root)) = (old.root(), new.root()) else {
        return Err(LogInvalid::NotAnExtension {
            old: old.tree_size,
            new: new.tree_size,
        });
    };
    if merkle::verify_consistency(old.tree_size, new.tree_size, &old_root, &new_root, proof) {
        Ok(())
    } else {
        Err(LogInvalid::NotAnExtension {
            old: old.tree_size,
            new: new.tree_size,
        })
    }
}

//! The write pipeline: appending (with a consent change, or deferred to the next group
//! commit), writing the waiting entries to the journal in one durable write, and saving
//! the chain heads now and then.

use super::AuditLog;
use super::chains::{CHAINS, Heads, Links, SortedHeads, chain_ids};
use super::checkpoints::STORED_LEVEL;
use super::entry::{AuditEntry, canonical_entry};
use crate::error::ConsentError;
use crate::layout;
use crate::merkle::{self, Hash};
use crate::store::{JournalNode, JournalRecord, Write};
use chrono::DateTime;
use omadata_vault::store::StoreError;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

/// The chain heads are saved after this many entries, so a start replays at most this
/// many.
const SNAPSHOT_EVERY: u64 = 1 << 16;

/// An appended entry not yet in the journal.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) record: JournalRecord,
    pub(super) ids: [Option<[u8; 16]>; 3],
    /// Stored tree nodes its append completed.
    pub(super) nodes: Vec<JournalNode>,
}

/// The end of the log, under one lock.
#[derive(Debug)]
pub(super) struct Tail {
    pub(super) next_seq: u64,
    /// Appended but not yet in the journal, oldest first, ending at `next_seq - 1`.
    pub(super) pending: VecDeque<Pending>,
    /// `frontier[level]`: the newest complete node at `level` still waiting for its
    /// right sibling.
    pub(super) frontier: Vec<Option<Hash>>,
    pub(super) heads: Heads,
    /// The log time of the newest entry.
    pub(super) last_at_millis: i64,
    /// Entries the saved snapshot of the heads covers.
    pub(super) snapshot_covered: u64,
    /// Consent-change copies of entries now in the journal: removed with the next change.
    pub(super) stale_copies: Vec<u64>,
}

impl Tail {
    pub(super) fn pending_record(&self, seq: u64) -> Option<&Pending> {
        let first = self.pending.front()?.seq;
        self.pending
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)
    }
}

impl AuditLog {
    /// Queues `entry` as the next one: assigns its `seq` and log time (never before the
    /// previous entry's), hashes it into the tree and links it into its chains. An
    /// imported entry keeps its `bytes` as they are.
    pub(super) fn push(
        &self,
        tail: &mut Tail,
        mut entry: AuditEntry,
        bytes: Option<Vec<u8>>,
    ) -> Result<AuditEntry, ConsentError> {
        let seq = tail.next_seq;
        let bytes = match bytes {
            Some(bytes) => bytes,
            None => {
                entry.seq = seq;
                if entry.at.timestamp_millis() < tail.last_at_millis
                    && let Some(last) = DateTime::from_timestamp_millis(tail.last_at_millis)
                {
                    entry.at = last;
                }
                canonical_entry(&entry).map_err(|e| ConsentError::Corrupt(e.to_string()))?
            }
        };
        let at_millis = entry.at.timestamp_millis().max(tail.last_at_millis);
        let mut hash = merkle::leaf_hash(&bytes);
        let mut nodes = Vec::new();
        let (mut level, mut index) = (0u32, seq);
        while index % 2 == 1 {
            let left = tail
                .frontier
                .get(level as usize)
                .copied()
                .flatten()
                .ok_or_else(|| ConsentError::Corrupt(format!("audit tree lacks node {level}")))?;
            hash = merkle::node_hash(&left, &hash);
            level += 1;
            index /= 2;
            if level >= STORED_LEVEL {
                nodes.push((level, index, hash));
            }
        }
        *tail
            .frontier
            .get_mut(level as usize)
            .ok_or_else(|| ConsentError::Corrupt("audit tree too deep".into()))? = Some(hash);
        let ids = chain_ids(&entry);
        let [client, professional, organisation] = tail.heads.link(&ids, seq);
        let links = Links {
            client,
            professional,
            organisation,
            at_millis,
        };
        tail.pending.push_back(Pending {
            seq,
            record: JournalRecord {
                bytes,
                meta: links.encode(),
            },
            ids,
            nodes,
        });
        tail.next_seq = seq + 1;
        tail.last_at_millis = at_millis;
        Ok(entry)
    }

    /// Undoes the newest [`AuditLog::push`].
    pub(super) fn unpush(tail: &mut Tail, frontier: Vec<Option<Hash>>, last_at_millis: i64) {
        if let Some(p) = tail.pending.pop_back() {
            let links = Links::decode(&p.record.meta);
            let previous = CHAINS.map(|chain| links.previous(chain));
            tail.heads.unlink(&p.ids, previous);
            tail.next_seq = p.seq;
        }
        tail.frontier = frontier;
        tail.last_at_millis = last_at_millis;
    }

    /// Appends `entry` (its `seq` is assigned) together with `extra` writes, atomically
    /// and durably: a consent change and its log entry land together or not at all.
    pub fn append_with(
        &self,
        entry: AuditEntry,
        extra: Vec<Write>,
    ) -> Result<AuditEntry, ConsentError> {
        // No group commit may write this entry to the journal before its change is on disk.
        let _flusher = self.flushing.lock();
        let entry = {
            let mut tail = self.tail.lock();
            let (frontier, last_at) = (tail.frontier.clone(), tail.last_at_millis);
            let entry = self.push(&mut tail, entry, None)?;
            // The change, with a copy of every entry not yet in the journal (this one
            // last): if a crash cuts off the journal write below, `open` imports them.
            let mut writes = extra;
            writes.extend(
                tail.pending
                    .iter()
                    .map(|p| (layout::audit_entry(p.seq), Some(p.record.bytes.clone()))),
            );
            writes.extend(
                tail.stale_copies
                    .iter()
                    .map(|&seq| (layout::audit_entry(seq), None)),
            );
            match self.store.apply_deferred(writes) {
                Ok(()) => {}
                // The change may have landed (with the copy of its entry): the entry
                // stays, so its sequence number is never given to another.
                Err(e @ StoreError::Unconfirmed(_)) => return Err(e.into()),
                Err(e) => {
                    // Nothing landed: the change did not happen, so neither did its entry.
                    Self::unpush(&mut tail, frontier, last_at);
                    return Err(e.into());
                }
            }
            tail.stale_copies.clear();
            (
                entry,
                tail.pending.iter().map(|p| p.seq).collect::<Vec<_>>(),
            )
        };
        let (entry, copied) = entry;
        // From here the change has landed: a failure must not read "nothing changed".
        self.store.sync().map_err(StoreError::after_change)?;
        self.write_pending().map_err(|e| match e {
            ConsentError::Store(e) => ConsentError::Store(e.after_change()),
            other => ConsentError::Store(StoreError::Unconfirmed(other.to_string())),
        })?;
        // The copies are no longer needed once the journal has their entries.
        self.tail.lock().stale_copies.extend(copied);
        Ok(entry)
    }

    /// Appends an entry without waiting for the disk; the caller must
    /// [`AuditLog::sync_through`] the returned `seq` before acting on it (answering a
    /// request). Many callers share one journal write this way (group commit).
    pub fn append_deferred(&self, entry: AuditEntry) -> Result<AuditEntry, ConsentError> {
        let entry = self.push(&mut self.tail.lock(), entry, None)?;
        self.appended.notify_all();
        Ok(entry)
    }

    /// Writes every waiting entry to the journal (one durable write). The caller holds
    /// `flushing`.
    pub(super) fn write_pending(&self) -> Result<(), ConsentError> {
        let (records, nodes, count, appended) = {
            let tail = self.tail.lock();
            let records: Vec<JournalRecord> =
                tail.pending.iter().map(|p| p.record.clone()).collect();
            let nodes: Vec<JournalNode> =
                tail.pending.iter().flat_map(|p| p.nodes.clone()).collect();
            (records, nodes, tail.pending.len(), tail.next_seq)
        };
        if count > 0 {
            self.store.journal_append(&records, &nodes)?;
            // Only appends ran meanwhile (they add at the back): the front is ours.
            self.tail.lock().pending.drain(..count);
        }
        self.durable_below.fetch_max(appended, Ordering::AcqRel);
        self.maybe_save_heads()?;
        Ok(())
    }

    /// Saves the chain heads as of the journal's end once enough entries went by.
    fn maybe_save_heads(&self) -> Result<(), ConsentError> {
        // Merging, encoding and writing tens of megabytes would hold up group commits: a
        // thread of its own does it, one at a time. A failed save is retried an interval
        // later.
        let mut saving = self.saving.lock();
        if saving.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        self.rebase_on_saved(saving.take());
        let Some((covered, heads)) = self.heads_to_save(SNAPSHOT_EVERY) else {
            return Ok(());
        };
        let store = self.store.clone();
        let writer = std::thread::Builder::new()
            .name("audit-heads".into())
            .spawn(move || {
                let merged = heads.merged();
                if let Err(e) = store.save_journal_snapshot(&Heads::encode(&merged, covered)) {
                    tracing::warn!(error = %e, "saving the audit chain heads failed");
                }
                merged
            })
            .map_err(|e| ConsentError::Store(StoreError::Backend(e.to_string())))?;
        *saving = Some(writer);
        Ok(())
    }

    /// The chain heads as of the journal's end, if at least `interval` entries went into
    /// the journal since the last snapshot.
    fn heads_to_save(&self, interval: u64) -> Option<(u64, Heads)> {
        let mut tail = self.tail.lock();
        let covered = tail.pending.front().map_or(tail.next_seq, |p| p.seq);
        if covered < tail.snapshot_covered + interval {
            return None;
        }
        // The heads without the entries still waiting, newest first. The clone copies only
        // the heads moved since the last snapshot.
        let mut heads = tail.heads.clone();
        for p in tail.pending.iter().rev() {
            let links = Links::decode(&p.record.meta);
            heads.unlink(&p.ids, CHAINS.map(|chain| links.previous(chain)));
        }
        tail.snapshot_covered = covered;
        Some((covered, heads))
    }

    /// Writes what waits and saves the chain heads as of the end of the log, so that the
    /// next open replays nothing: for a clean shutdown and the end of a bulk load.
    pub fn save_heads(&self) -> Result<(), ConsentError> {
        self.sync_pending()?;
        let mut saving = self.saving.lock();
        self.rebase_on_saved(saving.take());
        if let Some((covered, heads)) = self.heads_to_save(1) {
            let merged = heads.merged();
            self.store
                .save_journal_snapshot(&Heads::encode(&merged, covered))?;
            self.tail.lock().heads.rebase(merged);
        }
        Ok(())
    }

    /// Takes the heads a finished save merged as the new base (whether or not the write
    /// succeeded: they are right either way).
    fn rebase_on_saved(&self, finished: Option<std::thread::JoinHandle<[SortedHeads; 3]>>) {
        if let Some(Ok(merged)) = finished.map(std::thread::JoinHandle::join) {
            self.tail.lock().heads.rebase(merged);
        }
    }

    /// Waits for a save of the chain heads under way, if any.
    pub fn wait_for_saved_heads(&self) {
        let mut saving = self.saving.lock();
        self.rebase_on_saved(saving.take());
    }

    /// Returns once entry `seq` (and everything before it) is on disk. Concurrent callers
    /// wait for one journal write instead of each making their own.
    pub fn sync_through(&self, seq: u64) -> Result<(), ConsentError> {
        if self.durable_below() > seq {
            return Ok(());
        }
        let _flusher = self.flushing.lock();
        if self.durable_below() > seq {
            return Ok(());
        }
        self.write_pending()
    }

    /// Entries below this sequence number are on disk.
    pub fn durable_below(&self) -> u64 {
        self.durable_below.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for an entry that is not yet on disk; true if there is one.
    /// A flusher thread loops on this and [`AuditLog::sync_pending`].
    pub fn wait_for_pending(&self, timeout: std::time::Duration) -> bool {
        let mut tail = self.tail.lock();
        if tail.next_seq > self.durable_below() {
            return true;
        }
        self.appended.wait_for(&mut tail, timeout);
        tail.next_seq > self.durable_below()
    }

    /// Makes everything appended so far durable (one journal write) and returns the new
    /// [`AuditLog::durable_below`].
    pub fn sync_pending(&self) -> Result<u64, ConsentError> {
        if let Some(last) = self.len().checked_sub(1) {
            self.sync_through(last)?;
        }
        Ok(self.durable_below())
    }

    pub fn append(&self, entry: AuditEntry) -> Result<AuditEntry, ConsentError> {
        self.append_with(entry, Vec::new())
    }
}

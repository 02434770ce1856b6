//! The write pipeline: appending (with a consent change, or deferred to the next group
//! commit), writing the waiting entries to the journal in one durable write, and saving
//! the chain heads now and then.
//!
//! On a store shared with other processes (several gateways on one database) a process
//! appends only during its turn: taking it catches the tree and the chains up with what
//! the others appended since, and brings in entries whose consent change landed while
//! their journal write did not. The turn is given back once nothing waits, or after a
//! short slice of group commits while appends keep coming, so others are not starved. A process that loses its turn with entries
//! still waiting finds out at its next turn whether they landed; where another process
//! appended first, they are void and their requests fail (nothing was disclosed). A
//! caller waits on the [`Ticket`] of its entry rather than its sequence number, which a
//! void entry gives up.

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
use parking_lot::MutexGuard;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The chain heads are saved after this many entries, so a start replays at most this
/// many.
const SNAPSHOT_EVERY: u64 = 1 << 16;

/// How long an append waits for its process's turn to come round again.
const TURN_WAIT: Duration = Duration::from_secs(15);

/// While appends keep coming, a process keeps its turn for about this long (several group
/// commits) before it lets the others have it: taking the turn costs round trips.
const TURN_SLICE: Duration = Duration::from_millis(5);

/// Void ticket ranges remembered (one is added each time a turn is lost with entries
/// waiting, which takes a failover).
const VOIDED_KEPT: usize = 4096;

/// Journal records read per query while catching up.
const CATCH_UP_BATCH: usize = 4096;

/// What a caller waits on for its appended entry: its place in this process's appends.
/// Unlike the sequence number, it is never given to another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

/// Held by a consent change from before it reads what it changes until its entry is in
/// the journal, so no other process changes consent in between (a shared store; nothing
/// otherwise).
#[derive(Debug)]
pub struct TurnHold<'a> {
    log: &'a AuditLog,
    counted: bool,
}

impl Drop for TurnHold<'_> {
    fn drop(&mut self) {
        if self.counted {
            {
                let mut tail = self.log.tail.lock();
                tail.turn_holders = tail.turn_holders.saturating_sub(1);
                if tail.turn_holders == 0 {
                    tail.holders_lost = false;
                }
            }
            self.log.release_if_idle();
        }
    }
}

fn turn_error(reason: &str) -> ConsentError {
    ConsentError::Store(StoreError::Backend(reason.into()))
}

/// An appended entry not yet in the journal.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) ticket: u64,
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
    /// The ticket the next append gets.
    pub(super) next_ticket: u64,
    /// A shared store: this process holds the turn.
    pub(super) turn_held: bool,
    /// Consent changes holding the turn.
    pub(super) turn_holders: usize,
    /// The turn was lost while consent changes held it: what they read may be stale, so
    /// none of them may write (until all have let go).
    pub(super) holders_lost: bool,
    /// The turn is given back after the entries waiting now: new appends wait for the
    /// next turn.
    pub(super) draining: bool,
    /// When this process took the turn it holds.
    pub(super) turn_taken_at: Option<Instant>,
}

impl Tail {
    pub(super) fn new(
        next_seq: u64,
        frontier: Vec<Option<Hash>>,
        heads: Heads,
        last_at_millis: i64,
        snapshot_covered: u64,
    ) -> Self {
        Self {
            next_seq,
            pending: VecDeque::new(),
            frontier,
            heads,
            last_at_millis,
            snapshot_covered,
            stale_copies: Vec::new(),
            next_ticket: 0,
            turn_held: false,
            turn_holders: 0,
            holders_lost: false,
            draining: false,
            turn_taken_at: None,
        }
    }

    /// Tickets below this are settled: every waiting entry holds a later one.
    fn settled_below(&self) -> u64 {
        self.pending.front().map_or(self.next_ticket, |p| p.ticket)
    }
}

/// Hashes leaf `seq` (its entry's `bytes`) into `frontier`; returns the stored nodes it
/// completed.
fn hash_into(
    frontier: &mut [Option<Hash>],
    seq: u64,
    bytes: &[u8],
) -> Result<Vec<JournalNode>, ConsentError> {
    let mut hash = merkle::leaf_hash(bytes);
    let mut nodes = Vec::new();
    let (mut level, mut index) = (0u32, seq);
    while index % 2 == 1 {
        let left = frontier
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
    *frontier
        .get_mut(level as usize)
        .ok_or_else(|| ConsentError::Corrupt("audit tree too deep".into()))? = Some(hash);
    Ok(nodes)
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
    ) -> Result<(AuditEntry, Ticket), ConsentError> {
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
        let nodes = hash_into(&mut tail.frontier, seq, &bytes)?;
        let ids = chain_ids(&entry);
        let [client, professional, organisation] = tail.heads.link(&ids, seq);
        let links = Links {
            client,
            professional,
            organisation,
            at_millis,
        };
        let ticket = tail.next_ticket;
        tail.pending.push_back(Pending {
            seq,
            ticket,
            record: JournalRecord {
                bytes,
                meta: links.encode(),
            },
            ids,
            nodes,
        });
        tail.next_seq = seq + 1;
        tail.next_ticket = ticket + 1;
        tail.last_at_millis = at_millis;
        Ok((entry, Ticket(ticket)))
    }

    /// Undoes the newest [`AuditLog::push`].
    pub(super) fn unpush(tail: &mut Tail, frontier: Vec<Option<Hash>>, last_at_millis: i64) {
        if let Some(p) = tail.pending.pop_back() {
            let links = Links::decode(&p.record.meta);
            let previous = CHAINS.map(|chain| links.previous(chain));
            tail.heads.unlink(&p.ids, previous);
            tail.next_seq = p.seq;
            tail.next_ticket = p.ticket;
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
        let _hold = self.hold_turn()?;
        // No group commit may write this entry to the journal before its change is on disk.
        let _flusher = self.flushing.lock();
        let entry = {
            let mut tail = self.tail.lock();
            // A change decided in a turn that was lost since may rest on stale reads.
            if self.shared && (!tail.turn_held || tail.holders_lost) {
                return Err(turn_error(
                    "the database connection holding this gateway's turn ended",
                ));
            }
            let (frontier, last_at) = (tail.frontier.clone(), tail.last_at_millis);
            let (entry, _) = self.push(&mut tail, entry, None)?;
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
    /// [`AuditLog::sync_through`] its ticket (or wait for the group commit to settle it)
    /// before acting on it (answering a request). Many callers share one journal write
    /// this way (group commit).
    pub fn append_deferred(&self, entry: AuditEntry) -> Result<(AuditEntry, Ticket), ConsentError> {
        let appended = self.push(&mut *self.tail_in_turn()?, entry, None)?;
        self.appended.notify_all();
        Ok(appended)
    }

    /// Writes every waiting entry to the journal (one durable write). The caller holds
    /// `flushing`.
    pub(super) fn write_pending(&self) -> Result<(), ConsentError> {
        if self.shared && !self.tail.lock().turn_held {
            // The turn was lost with entries waiting: the next one settles them.
            self.take_turn()?;
        }
        let (records, nodes, count, appended) = {
            let tail = self.tail.lock();
            let records: Vec<JournalRecord> =
                tail.pending.iter().map(|p| p.record.clone()).collect();
            let nodes: Vec<JournalNode> =
                tail.pending.iter().flat_map(|p| p.nodes.clone()).collect();
            (records, nodes, tail.pending.len(), tail.next_seq)
        };
        if count > 0 {
            if let Err(e) = self.store.journal_append(&records, &nodes) {
                if self.shared {
                    self.lose_turn();
                }
                return Err(e.into());
            }
            // Only appends ran meanwhile (they add at the back): the front is ours.
            let mut tail = self.tail.lock();
            tail.pending.drain(..count);
            self.settled_below
                .fetch_max(tail.settled_below(), Ordering::AcqRel);
        }
        self.durable_below.fetch_max(appended, Ordering::AcqRel);
        if self.shared {
            let idle = {
                let mut tail = self.tail.lock();
                // Past its slice, appends that came during this write go with the next, and
                // then the turn goes to whoever waits.
                let slice_over = tail
                    .turn_taken_at
                    .is_none_or(|at| at.elapsed() >= TURN_SLICE);
                tail.draining = !tail.pending.is_empty() && slice_over;
                tail.pending.is_empty()
            };
            if idle {
                self.release_if_idle();
            }
        }
        self.maybe_save_heads()?;
        Ok(())
    }

    /// The tail, with this process's turn held (a shared store): takes the turn if need
    /// be, and waits out a turn being given back.
    fn tail_in_turn(&self) -> Result<MutexGuard<'_, Tail>, ConsentError> {
        let deadline = Instant::now() + TURN_WAIT;
        loop {
            let mut tail = self.tail.lock();
            if !self.shared || (tail.turn_held && (!tail.draining || tail.turn_holders > 0)) {
                return Ok(tail);
            }
            if tail.turn_held {
                if self.turn_free.wait_until(&mut tail, deadline).timed_out() {
                    return Err(turn_error("the audit log's turn did not come round"));
                }
                continue;
            }
            drop(tail);
            self.take_turn()?;
        }
    }

    /// Takes this process's turn for a consent change: until the hold is dropped, no
    /// other process appends or changes consent (a shared store).
    pub fn hold_turn(&self) -> Result<TurnHold<'_>, ConsentError> {
        if !self.shared {
            return Ok(TurnHold {
                log: self,
                counted: false,
            });
        }
        self.tail_in_turn()?.turn_holders += 1;
        Ok(TurnHold {
            log: self,
            counted: true,
        })
    }

    /// Takes the turn (waiting for the other processes), settles entries a lost turn left
    /// in doubt, catches up with what the others appended, and brings in entries whose
    /// consent change landed while their journal write did not.
    fn take_turn(&self) -> Result<(), ConsentError> {
        let _gate = self.turn_gate.lock();
        if self.tail.lock().turn_held {
            return Ok(());
        }
        let end = self.store.take_turn()?;
        let caught_up = self
            .settle_in_doubt(end)
            .and_then(|()| self.catch_up(end))
            .and_then(|()| self.import_copies().map(drop));
        if let Err(e) = caught_up {
            self.store.release_turn();
            return Err(e);
        }
        let mut tail = self.tail.lock();
        tail.turn_held = true;
        tail.draining = false;
        tail.turn_taken_at = Some(Instant::now());
        if !tail.pending.is_empty() {
            self.appended.notify_all();
        }
        Ok(())
    }

    /// Entries still waiting from a lost turn: those the journal holds at their place
    /// landed; where it holds others, another process appended first and ours are void.
    fn settle_in_doubt(&self, end: u64) -> Result<(), ConsentError> {
        let (first, waiting) = {
            let tail = self.tail.lock();
            let Some(first) = tail.pending.front().map(|p| p.seq) else {
                return Ok(());
            };
            let waiting: Vec<JournalRecord> =
                tail.pending.iter().map(|p| p.record.clone()).collect();
            (first, waiting)
        };
        if end < first {
            return Err(ConsentError::Corrupt(format!(
                "the audit journal ends at {end}, before entry {first} this process wrote"
            )));
        }
        if end == first {
            return Ok(());
        }
        let there = self
            .store
            .journal_records(first, waiting.len().min((end - first) as usize))?;
        let landed = there
            .iter()
            .zip(&waiting)
            .take_while(|(stored, ours)| stored == ours)
            .count();
        let mut tail = self.tail.lock();
        if landed == there.len() && !there.is_empty() {
            tail.pending.drain(..landed);
            self.durable_below
                .fetch_max(first + landed as u64, Ordering::AcqRel);
        } else {
            tracing::warn!(
                first,
                entries = waiting.len(),
                "another gateway appended at the place of this gateway's waiting audit entries: their requests fail"
            );
            self.rewind(&mut tail, first)?;
        }
        self.settled_below
            .fetch_max(tail.settled_below(), Ordering::AcqRel);
        Ok(())
    }

    /// Drops every waiting entry (their tickets are void) and puts the end of the log
    /// back at `first`, the journal's end as this process last knew it.
    fn rewind(&self, tail: &mut Tail, first: u64) -> Result<(), ConsentError> {
        let Some(first_ticket) = tail.pending.front().map(|p| p.ticket) else {
            return Ok(());
        };
        while let Some(p) = tail.pending.pop_back() {
            let links = Links::decode(&p.record.meta);
            tail.heads
                .unlink(&p.ids, CHAINS.map(|chain| links.previous(chain)));
        }
        {
            let mut voided = self.voided.lock();
            if voided.len() >= VOIDED_KEPT {
                voided.pop_front();
            }
            voided.push_back(first_ticket..tail.next_ticket);
        }
        tail.frontier = super::checkpoints::frontier_of(
            &super::checkpoints::LogNodes {
                store: self.store.as_ref(),
                tail: None,
            },
            first,
        )?;
        tail.last_at_millis = match first.checked_sub(1) {
            Some(last) => self
                .store
                .journal_record(last)?
                .map_or(i64::MIN, |r| Links::decode(&r.meta).at_millis),
            None => i64::MIN,
        };
        tail.next_seq = first;
        Ok(())
    }

    /// Takes in the entries other processes appended, up to `end`.
    fn catch_up(&self, end: u64) -> Result<(), ConsentError> {
        loop {
            let from = self.tail.lock().next_seq;
            if from >= end {
                return Ok(());
            }
            let limit = CATCH_UP_BATCH.min(usize::try_from(end - from).unwrap_or(usize::MAX));
            let records = self.store.journal_records(from, limit)?;
            if records.is_empty() {
                return Err(ConsentError::Corrupt(format!(
                    "audit entry {from} is missing from the journal"
                )));
            }
            let mut tail = self.tail.lock();
            for (seq, record) in (from..).zip(&records) {
                let entry = super::entry::parse_entry(seq, &record.bytes)?;
                hash_into(&mut tail.frontier, seq, &record.bytes)?;
                tail.heads.link(&chain_ids(&entry), seq);
                tail.last_at_millis = tail
                    .last_at_millis
                    .max(Links::decode(&record.meta).at_millis);
                tail.next_seq = seq + 1;
            }
            self.durable_below
                .fetch_max(tail.next_seq, Ordering::AcqRel);
        }
    }

    /// Entries a consent change copied into the key space whose journal write never came
    /// (the process making it stopped): they come next, in order.
    /// Returns how many came (at most one batch); an entry after a gap is left out.
    pub(super) fn import_copies(&self) -> Result<u64, ConsentError> {
        let next = self.tail.lock().next_seq;
        let copies = self.store.scan(
            layout::AUDIT_ENTRY,
            Some(&layout::audit_entry(next)),
            false,
            CATCH_UP_BATCH,
        )?;
        let mut tail = self.tail.lock();
        let mut imported = 0;
        for (key, bytes) in copies {
            let seq = layout::seq_suffix(&key)?;
            if seq != tail.next_seq {
                tracing::warn!(
                    seq,
                    expected = tail.next_seq,
                    "audit entries after a gap left out"
                );
                break;
            }
            let entry = super::entry::parse_entry(seq, &bytes)?;
            if entry.seq != seq {
                return Err(ConsentError::Corrupt(format!(
                    "audit entry {seq} carries sequence number {}",
                    entry.seq
                )));
            }
            self.push(&mut tail, entry, Some(bytes))?;
            imported += 1;
        }
        Ok(imported)
    }

    /// The connection holding the turn ended (or the journal refused a write): entries
    /// still waiting are settled at the next turn.
    fn lose_turn(&self) {
        let _gate = self.turn_gate.lock();
        {
            let mut tail = self.tail.lock();
            tail.turn_held = false;
            tail.draining = false;
            tail.holders_lost = tail.turn_holders > 0;
        }
        self.store.release_turn();
        self.turn_free.notify_all();
    }

    /// Gives the turn back once nothing waits and no consent change holds it.
    pub(super) fn release_if_idle(&self) {
        if !self.shared {
            return;
        }
        let _gate = self.turn_gate.lock();
        {
            let mut tail = self.tail.lock();
            if !tail.turn_held || !tail.pending.is_empty() || tail.turn_holders > 0 {
                return;
            }
            tail.turn_held = false;
            tail.draining = false;
        }
        self.store.release_turn();
        self.turn_free.notify_all();
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

    /// Returns once the entry of `ticket` (and everything before it) is on disk; fails if
    /// it never will be. Concurrent callers wait for one journal write instead of each
    /// making their own.
    pub fn sync_through(&self, ticket: Ticket) -> Result<(), ConsentError> {
        for _ in 0..3 {
            if let Some(durable) = self.settled(ticket) {
                return durable;
            }
            let _flusher = self.flushing.lock();
            if let Some(durable) = self.settled(ticket) {
                return durable;
            }
            self.write_pending()?;
        }
        self.settled(ticket)
            .unwrap_or_else(|| Err(turn_error("the audit entry is still waiting")))
    }

    /// `None` while the entry of `ticket` waits; then whether it is on disk (an error: it
    /// is void, another process appended at its place first).
    pub fn settled(&self, ticket: Ticket) -> Option<Result<(), ConsentError>> {
        if ticket.0 >= self.settled_below.load(Ordering::Acquire) {
            return None;
        }
        if self.voided.lock().iter().any(|r| r.contains(&ticket.0)) {
            return Some(Err(turn_error(
                "the audit entry was not written: the database failed over under it",
            )));
        }
        Some(Ok(()))
    }

    /// Entries below this sequence number are on disk.
    pub fn durable_below(&self) -> u64 {
        self.durable_below.load(Ordering::Acquire)
    }

    /// The ticket the next append will get: every earlier one is settled once
    /// [`AuditLog::settled_below`] reaches it.
    pub fn next_ticket(&self) -> Ticket {
        Ticket(self.tail.lock().next_ticket)
    }

    /// Tickets below this one are settled.
    pub fn settled_below(&self) -> Ticket {
        Ticket(self.settled_below.load(Ordering::Acquire))
    }

    /// Waits up to `timeout` for an entry that is not yet on disk; true if there is one.
    /// A flusher thread loops on this and [`AuditLog::sync_pending`].
    pub fn wait_for_pending(&self, timeout: std::time::Duration) -> bool {
        let mut tail = self.tail.lock();
        if !tail.pending.is_empty() {
            return true;
        }
        self.appended.wait_for(&mut tail, timeout);
        !tail.pending.is_empty()
    }

    /// Makes everything appended so far durable (one journal write) and returns the new
    /// [`AuditLog::durable_below`].
    pub fn sync_pending(&self) -> Result<u64, ConsentError> {
        let waiting = !self.tail.lock().pending.is_empty();
        if waiting {
            let _flusher = self.flushing.lock();
            self.write_pending()?;
        }
        Ok(self.durable_below())
    }

    pub fn append(&self, entry: AuditEntry) -> Result<AuditEntry, ConsentError> {
        self.append_with(entry, Vec::new())
    }

    /// Whether other processes append to this log's journal too.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Whether this process signs the checkpoints now (one of those sharing the store).
    pub fn leads(&self) -> bool {
        self.store.leads()
    }
}

//! The append-only, tamper-evident audit log.
//!
//! Every consent event and every access decision is one entry: ids, field names and
//! outcomes, never record contents. Entries are leaves of an RFC 6962 Merkle tree; the
//! log signs checkpoints (size, root, time) with the service key, and gives inclusion and
//! consistency proofs. [`verify_entries`] recomputes everything from the raw entries and
//! detects any modified, deleted, inserted, reordered or truncated entry;
//! [`verify_store_cancellable`] does it streaming, in bounded memory, and can be stopped.
//!
//! Storage: entries are the store's audit journal (`ConsentStore::journal_*`): one record
//! per entry with its links to the previous entry of the same client, professional and
//! organisation and its log time; tree nodes of 16 leaves and more beside them. In the key
//! space only `a/k/size` checkpoints, and `a/e/seq` copies of entries that a consent
//! change wrote with its batch (imported on open if the journal lacks them). Stores
//! written before the journal (`a/e/` entries, `a/n/` nodes, `a/c|p|o|t/` indexes) are
//! imported into it on open.
//!
//! Map of the module:
//! - `entry`: [`AuditEntry`], its events and outcomes, and its canonical bytes.
//! - `chains`: the links between entries of one client, professional or organisation,
//!   the chain heads and their snapshot, and the views ([`AuditLog::query`]).
//! - `pipeline`: appends (with a consent change, or deferred), group commit, and saving
//!   the chain heads.
//! - `checkpoints`: the tree's nodes, signed [`Checkpoint`]s, inclusion and consistency
//!   proofs.
//! - `verify`: export and the verifiers.
//! - Here: [`AuditLog`] itself, opening it and importing entries only the key space holds.
//!
//! Key layout: [`crate::layout`].

mod chains;
mod checkpoints;
mod entry;
mod pipeline;
mod verify;

pub use chains::AuditFilter;
pub use checkpoints::{Checkpoint, STORED_LEVEL};
pub use entry::{AuditEntry, AuditEvent, Outcome};
pub use pipeline::{Ticket, TurnHold};
pub use verify::{
    LogInvalid, LogReport, VERIFY_BATCH, export_store, verify_entries, verify_extension,
    verify_store, verify_store_cancellable, verify_stream,
};

use crate::error::ConsentError;
use crate::layout;
use crate::signing::ServiceKey;
use crate::store::{ConsentStore, JournalRecord};
use chains::{Heads, Links, SortedHeads, chain_ids};
use checkpoints::{LogNodes, frontier_of};
use entry::parse_entry;
use parking_lot::{Condvar, Mutex};
use pipeline::Tail;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Entries imported into the journal per append, on open.
const IMPORT_BATCH: usize = 4096;

/// The log. Entries live in the store's journal; an access entry waits in memory until
/// the next group commit appends every waiting entry in one durable journal write. Views
/// follow each entry's links to the previous entry of the same client, professional or
/// organisation; the newest of each is held in memory (and saved now and then).
#[derive(Debug)]
pub struct AuditLog {
    store: Arc<dyn ConsentStore>,
    key: Arc<ServiceKey>,
    tail: Mutex<Tail>,
    /// Entries below this sequence number are known to be on disk.
    durable_below: AtomicU64,
    /// Held by the one caller writing the journal for everyone (group commit), and by a
    /// consent change from its batch to its journal write.
    flushing: Mutex<()>,
    /// Signalled after every append, for a flusher waiting on [`AuditLog::wait_for_pending`].
    appended: Condvar,
    /// The thread saving the chain heads, if one was started.
    saving: Mutex<Option<std::thread::JoinHandle<[SortedHeads; 3]>>>,
    /// Other processes append to the same journal (`ConsentStore::shared`).
    shared: bool,
    /// Held while this process takes its turn or gives it back.
    turn_gate: Mutex<()>,
    /// Signalled (with the tail's lock) when the turn is given back.
    turn_free: Condvar,
    /// Tickets below this are settled: on disk, or void.
    settled_below: AtomicU64,
    /// Tickets of entries that are void (another process appended at their place first).
    voided: Mutex<VecDeque<std::ops::Range<u64>>>,
}

impl AuditLog {
    pub fn open(store: Arc<dyn ConsentStore>, key: Arc<ServiceKey>) -> Result<Self, ConsentError> {
        let journaled = store.journal_len()?;
        let nodes = LogNodes {
            store: store.as_ref(),
            tail: None,
        };
        let frontier = frontier_of(&nodes, journaled)?;
        let (covered, mut heads) = store
            .journal_snapshot()?
            .and_then(|bytes| Heads::decode(&bytes))
            .filter(|(covered, _)| *covered <= journaled)
            .unwrap_or_default();
        let mut last_at_millis = i64::MIN;
        for seq in covered..journaled {
            let record = store
                .journal_record(seq)?
                .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))?;
            heads.link(&chain_ids(&parse_entry(seq, &record.bytes)?), seq);
        }
        if let Some(last) = journaled.checked_sub(1)
            && let Some(record) = store.journal_record(last)?
        {
            last_at_millis = Links::decode(&record.meta).at_millis;
        }
        let shared = store.shared();
        let log = Self {
            store,
            key,
            tail: Mutex::new(Tail::new(
                journaled,
                frontier,
                heads,
                last_at_millis,
                covered,
            )),
            durable_below: AtomicU64::new(journaled),
            flushing: Mutex::new(()),
            appended: Condvar::new(),
            saving: Mutex::new(None),
            shared,
            turn_gate: Mutex::new(()),
            turn_free: Condvar::new(),
            settled_below: AtomicU64::new(0),
            voided: Mutex::new(VecDeque::new()),
        };
        log.import()?;
        Ok(log)
    }

    /// Brings into the journal the entries only the key space holds: every entry of a
    /// store from before the journal or of a restored backup, or the copies a consent
    /// change wrote with its batch when a crash cut off its journal write. Then removes
    /// them and the old layout's nodes and indexes.
    fn import(&self) -> Result<(), ConsentError> {
        // On a shared store, taking the turn catches up and brings the copies in.
        let _hold = self.hold_turn()?;
        let _flusher = self.flushing.lock();
        loop {
            let imported = self.import_copies()?;
            if imported == 0 {
                break;
            }
            tracing::info!(
                entries = imported,
                "imported audit entries into the journal"
            );
            self.write_pending()?;
        }
        let journaled = self.len();
        for prefix in std::iter::once(layout::AUDIT_ENTRY).chain(layout::AUDIT_LEGACY) {
            loop {
                let keys = self.store.scan(prefix, None, false, IMPORT_BATCH)?;
                let mut removals = Vec::new();
                for (k, _) in &keys {
                    if prefix == layout::AUDIT_ENTRY && layout::seq_suffix(k)? >= journaled {
                        break;
                    }
                    removals.push((k.clone(), None));
                }
                let done = removals.len() < IMPORT_BATCH;
                if !removals.is_empty() {
                    self.store.apply(removals)?;
                }
                if done {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The number of entries.
    pub fn len(&self) -> u64 {
        self.tail.lock().next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record `seq`: from memory while it waits for its group commit, else the journal.
    fn record(&self, seq: u64) -> Result<Option<JournalRecord>, ConsentError> {
        if let Some(p) = self.tail.lock().pending_record(seq) {
            return Ok(Some(p.record.clone()));
        }
        Ok(self.store.journal_record(seq)?)
    }

    /// The raw bytes of entry `seq`.
    pub fn raw_entry(&self, seq: u64) -> Result<Option<Vec<u8>>, ConsentError> {
        Ok(self.record(seq)?.map(|r| r.bytes))
    }
}

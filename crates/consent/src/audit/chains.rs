//! Chains and views: each entry's links to the previous entry of the same client,
//! professional and organisation, the chain heads held in memory (and their snapshot),
//! and the filtered listings that walk the chains.

use super::AuditLog;
use super::entry::{AuditEntry, parse_entry};
use crate::error::ConsentError;
use crate::model::OrganisationId;
use crate::store::JOURNAL_META;
use chrono::{DateTime, Utc};
use omadata_vault::{ClientId, ProfessionalId};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// "No earlier entry" in a chain link.
pub(super) const NO_LINK: u64 = u64::MAX;
const SNAPSHOT_FORMAT: u8 = 1;

/// What the log keeps beside each entry (the journal record's meta): the previous entry
/// of the same client, professional and organisation ([`NO_LINK`]: none), and the log
/// time in milliseconds, which never decreases along the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Links {
    pub(super) client: u64,
    pub(super) professional: u64,
    pub(super) organisation: u64,
    pub(super) at_millis: i64,
}

impl Links {
    pub(super) fn encode(&self) -> [u8; JOURNAL_META] {
        let mut out = [0u8; JOURNAL_META];
        for (slot, value) in out.chunks_exact_mut(8).zip([
            self.client,
            self.professional,
            self.organisation,
            self.at_millis as u64,
        ]) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        out
    }

    pub(super) fn decode(meta: &[u8; JOURNAL_META]) -> Self {
        let mut words = meta.chunks_exact(8).map(|c| {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            u64::from_be_bytes(word)
        });
        let mut next = || words.next().unwrap_or(NO_LINK);
        Links {
            client: next(),
            professional: next(),
            organisation: next(),
            at_millis: next() as i64,
        }
    }

    pub(super) fn previous(&self, chain: Chain) -> u64 {
        match chain {
            Chain::Client => self.client,
            Chain::Professional => self.professional,
            Chain::Organisation => self.organisation,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chain {
    Client,
    Professional,
    Organisation,
}

pub(super) const CHAINS: [Chain; 3] = [Chain::Client, Chain::Professional, Chain::Organisation];

/// The ids an entry is chained by.
pub(super) fn chain_ids(entry: &AuditEntry) -> [Option<[u8; 16]>; 3] {
    [
        entry.client.map(|c| *c.as_bytes()),
        entry.professional.map(|p| *p.as_bytes()),
        entry.organisation.map(|o| *o.as_bytes()),
    ]
}

/// Heads sorted by id, as saved in a snapshot.
pub(super) type SortedHeads = Arc<[([u8; 16], u64)]>;

fn sorted_get(sorted: &[([u8; 16], u64)], id: &[u8; 16]) -> Option<u64> {
    sorted
        .binary_search_by(|(key, _)| key.cmp(id))
        .ok()
        .map(|i| sorted[i].1)
}

/// The heads of one kind of chain: a sorted base as of the last saved snapshot, shared
/// with the thread that saved it, and a map of the heads that moved since.
///
/// At 10^6 clients a single map took a third of the start-up time to rebuild (hashing and
/// growing it) and a lock-holding clone of tens of megabytes at every snapshot; the base
/// is read from the snapshot in one pass and shared, and only the moved heads are copied.
/// The ids are random UUIDs the service made, so a fast non-keyed hash is safe for them.
#[derive(Clone, Debug, Default)]
struct ChainHeads {
    base: SortedHeads,
    moved: FxHashMap<[u8; 16], u64>,
}

impl ChainHeads {
    fn get(&self, id: &[u8; 16]) -> Option<u64> {
        match self.moved.get(id) {
            Some(seq) => Some(*seq),
            None => sorted_get(&self.base, id),
        }
    }

    fn insert(&mut self, id: [u8; 16], seq: u64) -> Option<u64> {
        let previous = self.get(&id);
        self.moved.insert(id, seq);
        previous
    }

    /// Up to `limit` ids that start with `prefix`, sorted: a binary search in the base
    /// and a pass over the heads moved since the last snapshot (at most the snapshot
    /// interval of them).
    fn starting_with(&self, prefix: &[u8], limit: usize) -> Vec<[u8; 16]> {
        let first = self.base.partition_point(|(id, _)| id.as_slice() < prefix);
        let mut ids: Vec<[u8; 16]> = self
            .base
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|(id, _)| id.starts_with(prefix))
            .map(|(id, _)| *id)
            .chain(
                self.moved
                    .keys()
                    .filter(|id| id.starts_with(prefix))
                    .copied(),
            )
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(limit);
        ids
    }

    /// Forgets `id`, which had no head before its newest insert (so the base lacks it).
    fn remove_new(&mut self, id: &[u8; 16]) {
        self.moved.remove(id);
    }

    /// Every head, sorted by id.
    fn merged(&self) -> SortedHeads {
        let mut moved: Vec<([u8; 16], u64)> = self.moved.iter().map(|(k, v)| (*k, *v)).collect();
        moved.sort_unstable_by_key(|(id, _)| *id);
        let mut out = Vec::with_capacity(self.base.len() + moved.len());
        let (mut base, mut moved) = (self.base.iter().peekable(), moved.into_iter().peekable());
        loop {
            let next = match (base.peek(), moved.peek()) {
                (Some(b), Some(m)) => match b.0.cmp(&m.0) {
                    std::cmp::Ordering::Less => base.next().copied(),
                    std::cmp::Ordering::Greater => moved.next(),
                    std::cmp::Ordering::Equal => {
                        base.next();
                        moved.next()
                    }
                },
                (Some(_), None) => base.next().copied(),
                (None, Some(_)) => moved.next(),
                (None, None) => break,
            };
            out.extend(next);
        }
        out.into()
    }

    /// Takes `merged`, this chain's heads as of an earlier moment made from this very
    /// base, as the new base: a moved head that still equals it is dropped (a head only
    /// moves forward, so an equal one has not moved since).
    fn rebase(&mut self, merged: SortedHeads) {
        self.moved
            .retain(|id, seq| sorted_get(&merged, id) != Some(*seq));
        self.base = merged;
    }
}

/// The newest entry of every client, professional and organisation: where a view's walk
/// along the links starts.
#[derive(Clone, Debug, Default)]
pub(super) struct Heads([ChainHeads; 3]);

impl Heads {
    pub(super) fn head(&self, chain: Chain, id: &[u8; 16]) -> Option<u64> {
        self.0[chain as usize].get(id)
    }

    /// Up to `limit` clients with an entry in the log whose id starts with `prefix`.
    pub(super) fn clients_starting_with(&self, prefix: &[u8], limit: usize) -> Vec<ClientId> {
        self.0[Chain::Client as usize]
            .starting_with(prefix, limit)
            .into_iter()
            .map(ClientId::from_bytes)
            .collect()
    }

    /// Makes `seq` the head of each of `ids`' chains; returns the links to the previous
    /// heads.
    pub(super) fn link(&mut self, ids: &[Option<[u8; 16]>; 3], seq: u64) -> [u64; 3] {
        let mut previous = [NO_LINK; 3];
        for ((heads, id), prev) in self.0.iter_mut().zip(ids).zip(previous.iter_mut()) {
            if let Some(id) = id {
                *prev = heads.insert(*id, seq).unwrap_or(NO_LINK);
            }
        }
        previous
    }

    /// Undoes [`Heads::link`].
    pub(super) fn unlink(&mut self, ids: &[Option<[u8; 16]>; 3], previous: [u64; 3]) {
        for ((heads, id), prev) in self.0.iter_mut().zip(ids).zip(previous) {
            if let Some(id) = id {
                if prev == NO_LINK {
                    heads.remove_new(id);
                } else {
                    heads.insert(*id, prev);
                }
            }
        }
    }

    pub(super) fn merged(&self) -> [SortedHeads; 3] {
        [self.0[0].merged(), self.0[1].merged(), self.0[2].merged()]
    }

    pub(super) fn rebase(&mut self, merged: [SortedHeads; 3]) {
        for (heads, merged) in self.0.iter_mut().zip(merged) {
            heads.rebase(merged);
        }
    }

    /// Format: [`SNAPSHOT_FORMAT`], the number of entries covered (u64 BE), then per
    /// chain the count (u64 BE) and (id, seq) pairs, sorted by id.
    pub(super) fn encode(merged: &[SortedHeads; 3], covered: u64) -> Vec<u8> {
        let pairs: usize = merged.iter().map(|m| m.len()).sum();
        let mut out = Vec::with_capacity(9 + 24 + pairs * 24);
        out.push(SNAPSHOT_FORMAT);
        out.extend_from_slice(&covered.to_be_bytes());
        for heads in merged {
            out.extend_from_slice(&(heads.len() as u64).to_be_bytes());
            for (id, seq) in heads.iter() {
                out.extend_from_slice(id);
                out.extend_from_slice(&seq.to_be_bytes());
            }
        }
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<(u64, Self)> {
        let (&format, mut rest) = bytes.split_first()?;
        if format != SNAPSHOT_FORMAT {
            return None;
        }
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let word = |b: &[u8]| -> Option<u64> { Some(u64::from_be_bytes(b.try_into().ok()?)) };
        let covered = word(take(8)?)?;
        let mut heads = Heads::default();
        for chain in heads.0.iter_mut() {
            let count = usize::try_from(word(take(8)?)?).ok()?;
            // A count larger than the bytes left is damage, not a size to reserve.
            let mut sorted = Vec::with_capacity(count.min(bytes.len() / 24));
            for _ in 0..count {
                let id: [u8; 16] = take(16)?.try_into().ok()?;
                sorted.push((id, word(take(8)?)?));
            }
            // Snapshots written before they were sorted are sorted here.
            if !sorted.is_sorted_by_key(|(id, _)| *id) {
                sorted.sort_unstable_by_key(|(id, _)| *id);
            }
            chain.base = sorted.into();
        }
        Some((covered, heads))
    }
}

/// Which entries an audit view asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFilter {
    All,
    Client(ClientId),
    Professional(ProfessionalId),
    Organisation(OrganisationId),
}

impl AuditFilter {
    fn chain(&self) -> Option<(Chain, [u8; 16])> {
        match self {
            AuditFilter::All => None,
            AuditFilter::Client(c) => Some((Chain::Client, *c.as_bytes())),
            AuditFilter::Professional(p) => Some((Chain::Professional, *p.as_bytes())),
            AuditFilter::Organisation(o) => Some((Chain::Organisation, *o.as_bytes())),
        }
    }
}

impl AuditLog {
    fn entry_and_links(&self, seq: u64) -> Result<(AuditEntry, Links), ConsentError> {
        let record = self
            .record(seq)?
            .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))?;
        Ok((
            parse_entry(seq, &record.bytes)?,
            Links::decode(&record.meta),
        ))
    }

    /// The first entry whose log time is after `millis` (binary search: log time never
    /// decreases).
    fn first_after(&self, millis: i64, size: u64) -> Result<u64, ConsentError> {
        let (mut low, mut high) = (0u64, size);
        while low < high {
            let mid = low + (high - low) / 2;
            let record = self
                .record(mid)?
                .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {mid} is missing")))?;
            if Links::decode(&record.meta).at_millis > millis {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        Ok(low)
    }

    /// Up to `limit` clients the log holds entries of whose id starts with `prefix`
    /// (a short reference an auditor typed), sorted by id. Cheap: the heads are in
    /// memory; the lock on the tail is held for one pass over the heads moved since the
    /// last snapshot.
    pub fn clients_starting_with(&self, prefix: &[u8], limit: usize) -> Vec<ClientId> {
        self.tail.lock().heads.clients_starting_with(prefix, limit)
    }

    /// Entries matching `filter`, newest first, with `seq` below `before_seq` (paging)
    /// and `at` within `[from, to)` if given. Never reads every entry: a client,
    /// professional or organisation view walks that chain's links from its newest entry
    /// (or from `before_seq` when that is one of its entries); a time range starts at a
    /// binary search; every walk stops at the first entry logged before `from`.
    pub fn query(
        &self,
        filter: AuditFilter,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ConsentError> {
        let size = self.len();
        let end = before_seq.map_or(size, |b| b.min(size));
        let mut out = Vec::new();
        if limit == 0 || end == 0 {
            return Ok(out);
        }
        let from_millis = from.map(|f| f.timestamp_millis());
        // Where the walk starts, and how it steps back.
        let (mut next, chain) = match filter.chain() {
            None => {
                let start = match to {
                    Some(to) => self.first_after(to.timestamp_millis(), end)?.min(end),
                    None => end,
                };
                (start.checked_sub(1), None)
            }
            Some((chain, id)) => {
                let from_page = match before_seq {
                    Some(b) if b < size => {
                        let (entry, links) = self.entry_and_links(b)?;
                        (chain_ids(&entry)[chain as usize] == Some(id))
                            .then(|| links.previous(chain))
                    }
                    _ => None,
                };
                let start = match from_page {
                    Some(previous) => previous,
                    None => self.tail.lock().heads.head(chain, &id).unwrap_or(NO_LINK),
                };
                ((start != NO_LINK).then_some(start), Some((chain, id)))
            }
        };
        while let Some(seq) = next {
            let (entry, links) = self.entry_and_links(seq)?;
            next = match chain {
                None => seq.checked_sub(1),
                Some((chain, _)) => {
                    let previous = links.previous(chain);
                    (previous != NO_LINK && previous < seq).then_some(previous)
                }
            };
            // Log time never decreases: nothing further back is in the range.
            if from_millis.is_some_and(|f| links.at_millis < f) {
                break;
            }
            if let Some((chain, id)) = chain
                && chain_ids(&entry)[chain as usize] != Some(id)
            {
                return Err(ConsentError::Corrupt(format!(
                    "audit entry {seq} is linked into another chain"
                )));
            }
            if seq >= end || to.is_some_and(|t| entry.at >= t) || from.is_some_and(|f| entry.at < f)
            {
                continue;
            }
            out.push(entry);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    type ChainIds = [Option<[u8; 16]>; 3];

    #[derive(Clone, Debug)]
    enum Op {
        /// A new entry names this id (of eight).
        Append(u8),
        /// The waiting entries reach the journal.
        Journal,
        /// The newest waiting entry's append fails and is undone.
        UndoNewest,
        /// A snapshot: the heads without the waiting entries, merged.
        Snapshot,
        /// The last snapshot's merge becomes the base.
        Rebase,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..8).prop_map(Op::Append),
            1 => Just(Op::Journal),
            1 => Just(Op::UndoNewest),
            1 => Just(Op::Snapshot),
            1 => Just(Op::Rebase),
        ]
    }

    proptest! {
        /// The base-plus-moved heads answer like one plain map through appends, undone
        /// appends, snapshots and rebases in any order.
        #[test]
        fn chain_heads_match_a_plain_map(ops in proptest::collection::vec(op(), 1..200)) {
            let mut heads = Heads::default();
            let mut model: HashMap<[u8; 16], u64> = HashMap::new();
            // Each waiting entry's ids and the links its append returned.
            let mut waiting: Vec<(ChainIds, [u64; 3])> = Vec::new();
            let mut saved: Option<[SortedHeads; 3]> = None;
            for (seq, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Append(n) => {
                        let ids = [Some([n; 16]), None, None];
                        let previous = heads.link(&ids, seq as u64);
                        prop_assert_eq!(previous[0], model.insert([n; 16], seq as u64).unwrap_or(NO_LINK));
                        waiting.push((ids, previous));
                    }
                    Op::Journal => waiting.clear(),
                    Op::UndoNewest => {
                        if let Some((ids, previous)) = waiting.pop() {
                            heads.unlink(&ids, previous);
                            let id = ids[0].unwrap();
                            if previous[0] == NO_LINK {
                                model.remove(&id);
                            } else {
                                model.insert(id, previous[0]);
                            }
                        }
                    }
                    Op::Snapshot => {
                        let mut copy = heads.clone();
                        for (ids, previous) in waiting.iter().rev() {
                            copy.unlink(ids, *previous);
                        }
                        saved = Some(copy.merged());
                    }
                    Op::Rebase => {
                        if let Some(merged) = saved.take() {
                            heads.rebase(merged);
                        }
                    }
                }
                for n in 0u8..8 {
                    prop_assert_eq!(heads.head(Chain::Client, &[n; 16]), model.get(&[n; 16]).copied());
                    // A short reference finds the client whether its head is in the base
                    // or moved since.
                    let expected: Vec<ClientId> = model
                        .contains_key(&[n; 16])
                        .then(|| ClientId::from_bytes([n; 16]))
                        .into_iter()
                        .collect();
                    prop_assert_eq!(heads.clients_starting_with(&[n, n, n, n], 4), expected);
                }
                prop_assert_eq!(heads.clients_starting_with(&[0, 1], 4), Vec::<ClientId>::new());
                let all = heads.clients_starting_with(&[], 100);
                prop_assert_eq!(all.len(), model.len());
            }
            // What a snapshot encodes decodes to the same heads.
            let (covered, decoded) = Heads::decode(&Heads::encode(&heads.merged(), 7)).unwrap();
            prop_assert_eq!(covered, 7);
            for n in 0u8..8 {
                prop_assert_eq!(decoded.head(Chain::Client, &[n; 16]), model.get(&[n; 16]).copied());
            }
        }
    }
}

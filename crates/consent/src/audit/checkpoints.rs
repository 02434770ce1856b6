//! Checkpoints and proofs: the tree's nodes (stored, or hashed from the entries), signed
//! checkpoints of the log, and inclusion and consistency proofs.

use super::AuditLog;
use super::pipeline::Tail;
use crate::error::ConsentError;
use crate::layout;
use crate::merkle::{self, Hash, MissingNode, NodeSource};
use crate::signing::Jwks;
use crate::store::ConsentStore;
use chrono::{DateTime, Utc};
use omadata_vault::store::StoreError;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Tree nodes below this level are not stored: a leaf hash is the hash of its entry and
/// a lower node is hashed from at most 8 entries when a proof needs it.
pub const STORED_LEVEL: u32 = 4;

/// A signed statement of the log's size and root at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    pub tree_size: u64,
    /// Hex SHA-256 root hash.
    pub root_hash: String,
    pub timestamp: DateTime<Utc>,
    pub kid: String,
    /// Ed25519 over `omadata.checkpoint.v1\n{tree_size}\n{root_hash}\n{timestamp}\n`.
    pub signature: String,
}

fn checkpoint_message(tree_size: u64, root_hash: &str, timestamp: &DateTime<Utc>) -> Vec<u8> {
    format!(
        "omadata.checkpoint.v1\n{tree_size}\n{root_hash}\n{}\n",
        timestamp.to_rfc3339()
    )
    .into_bytes()
}

impl Checkpoint {
    pub fn root(&self) -> Option<Hash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.root_hash, &mut out).ok()?;
        Some(out)
    }

    pub fn verify_signature(&self, keys: &Jwks) -> bool {
        keys.find(&self.kid).is_some_and(|key| {
            key.verify(
                &checkpoint_message(self.tree_size, &self.root_hash, &self.timestamp),
                &self.signature,
            )
        })
    }
}

/// The log's nodes: stored ones from the journal (or an entry still waiting for it),
/// leaf hashes from the entries; `merkle::subtree_hash` hashes the rest from these.
pub(super) struct LogNodes<'a> {
    pub(super) store: &'a dyn ConsentStore,
    pub(super) tail: Option<&'a Mutex<Tail>>,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Missing(#[from] MissingNode),
}

impl From<NodeError> for ConsentError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Store(e) => ConsentError::Store(e),
            NodeError::Missing(m) => ConsentError::Corrupt(m.to_string()),
        }
    }
}

impl NodeSource for LogNodes<'_> {
    type Error = NodeError;
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, NodeError> {
        if level == 0 {
            if let Some(tail) = self.tail
                && let Some(p) = tail.lock().pending_record(index)
            {
                return Ok(Some(merkle::leaf_hash(&p.record.bytes)));
            }
            return Ok(self
                .store
                .journal_record(index)?
                .map(|r| merkle::leaf_hash(&r.bytes)));
        }
        if level < STORED_LEVEL {
            return Ok(None);
        }
        let completed_by = index
            .checked_add(1)
            .and_then(|n| n.checked_mul(1u64.checked_shl(level)?))
            .and_then(|n| n.checked_sub(1));
        if let (Some(tail), Some(seq)) = (self.tail, completed_by)
            && let Some(p) = tail.lock().pending_record(seq)
        {
            return Ok(p
                .nodes
                .iter()
                .find(|(l, i, _)| (*l, *i) == (level, index))
                .map(|(_, _, hash)| *hash));
        }
        Ok(self.store.journal_node(level, index)?)
    }
}

/// The roots of the perfect subtrees that make up a tree of `size` leaves, by level.
pub(super) fn frontier_of(
    source: &LogNodes<'_>,
    size: u64,
) -> Result<Vec<Option<Hash>>, ConsentError> {
    let mut frontier = vec![None; 64];
    for (level, slot) in frontier.iter_mut().enumerate() {
        let subtrees = size >> level;
        if subtrees % 2 == 1 {
            let start = (subtrees - 1) << level;
            *slot = Some(merkle::subtree_hash(source, start, start + (1 << level))?);
        }
    }
    Ok(frontier)
}

impl AuditLog {
    fn nodes(&self) -> LogNodes<'_> {
        LogNodes {
            store: self.store.as_ref(),
            tail: Some(&self.tail),
        }
    }

    pub fn root(&self, size: u64) -> Result<Hash, ConsentError> {
        Ok(merkle::root(&self.nodes(), size)?)
    }

    /// Signs and stores a checkpoint of the log as it is now. Waiting entries are
    /// written first: a checkpoint never covers an entry a crash could lose.
    pub fn checkpoint(&self, now: DateTime<Utc>) -> Result<Checkpoint, ConsentError> {
        // On a shared store, taking the turn takes in what the other processes appended.
        let _turn = self.hold_turn()?;
        let size = self.sync_pending()?;
        let root_hash = hex::encode(self.root(size)?);
        let signature = self.key.sign(&checkpoint_message(size, &root_hash, &now));
        let checkpoint = Checkpoint {
            tree_size: size,
            root_hash,
            timestamp: now,
            kid: self.key.kid().to_owned(),
            signature,
        };
        let bytes =
            serde_json::to_vec(&checkpoint).map_err(|e| ConsentError::Corrupt(e.to_string()))?;
        self.store
            .apply(vec![(layout::audit_checkpoint(size), Some(bytes))])?;
        Ok(checkpoint)
    }

    /// The newest checkpoint if it already covers the whole log; otherwise signs and
    /// stores a new one. Signing only when the log has grown bounds how many checkpoints
    /// anyone can make the service store.
    pub fn checkpoint_if_grown(&self, now: DateTime<Utc>) -> Result<Checkpoint, ConsentError> {
        match self.latest_checkpoint()? {
            Some(latest) if latest.tree_size >= self.len() => Ok(latest),
            _ => self.checkpoint(now),
        }
    }

    /// Every stored checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, ConsentError> {
        self.store
            .scan(layout::AUDIT_CHECKPOINT, None, false, usize::MAX)?
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice(&v).map_err(|e| ConsentError::Corrupt(e.to_string()))
            })
            .collect()
    }

    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, ConsentError> {
        self.store
            .scan(layout::AUDIT_CHECKPOINT, None, true, 1)?
            .into_iter()
            .next()
            .map(|(_, v)| {
                serde_json::from_slice(&v).map_err(|e| ConsentError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, ConsentError> {
        if seq >= size || size > self.len() {
            return Err(ConsentError::Invalid {
                what: "proof request",
                reason: format!(
                    "entry {seq} is not in a tree of size {size} (log has {})",
                    self.len()
                ),
            });
        }
        Ok(merkle::inclusion_proof(&self.nodes(), seq, size)?)
    }

    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, ConsentError> {
        if old_size > new_size || new_size > self.len() {
            return Err(ConsentError::Invalid {
                what: "proof request",
                reason: format!(
                    "no consistency between sizes {old_size} and {new_size} (log has {})",
                    self.len()
                ),
            });
        }
        Ok(merkle::consistency_proof(
            &self.nodes(),
            old_size,
            new_size,
        )?)
    }
}

//! RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs.
//!
//! Leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right). A tree
//! of `n` leaves is split at the largest power of two below `n`. Any node source that
//! can give leaf hashes and (optionally) stored perfect-subtree hashes can build roots
//! and proofs; the verifiers need nothing but hashes.

use ring::digest::{Context, SHA256};

pub type Hash = [u8; 32];

fn finish(context: Context) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

pub fn empty_root() -> Hash {
    finish(Context::new(&SHA256))
}

pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut context = Context::new(&SHA256);
    context.update(&[0x00]);
    context.update(entry);
    finish(context)
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut context = Context::new(&SHA256);
    context.update(&[0x01]);
    context.update(left);
    context.update(right);
    finish(context)
}

/// The largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Where hashes come from. `node(level, index)` is the root of the perfect subtree over
/// leaves `[index << level, (index + 1) << level)`; level 0 is the leaf hashes.
pub trait NodeSource {
    type Error;
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, Self::Error>;
}

/// Raised when a source lacks a hash the tree needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tree has no node at level {level}, index {index}")]
pub struct MissingNode {
    pub level: u32,
    pub index: u64,
}

/// MTH(D[start:end]) for a range that arises in RFC 6962's recursion.
pub fn subtree_hash<S: NodeSource>(source: &S, start: u64, end: u64) -> Result<Hash, S::Error>
where
    S::Error: From<MissingNode>,
{
    let size = end - start;
    if size == 0 {
        return Ok(empty_root());
    }
    if size.is_power_of_two() && start.is_multiple_of(size) {
        let level = size.trailing_zeros();
        if let Some(hash) = source.node(level, start >> level)? {
            return Ok(hash);
        }
        if level == 0 {
            return Err(MissingNode {
                level,
                index: start,
            }
            .into());
        }
    }
    let k = split_point(size);
    let left = subtree_hash(source, start, start + k)?;
    let right = subtree_hash(source, start + k, end)?;
    Ok(node_hash(&left, &right))
}

pub fn root<S: NodeSource>(source: &S, size: u64) -> Result<Hash, S::Error>
where
    S::Error: From<MissingNode>,
{
    subtree_hash(source, 0, size)
}

/// PATH(m, D[start:end]) of RFC 6962 §2.1.1, leaf first.
pub fn inclusion_proof<S: NodeSource>(
    source: &S,
    leaf: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error>
where
    S::Error: From<MissingNode>,
{
    let mut path = Vec::new();
    path_into(source, leaf, 0, size, &mut path)?;
    Ok(path)
}

fn path_into<S: NodeSource>(
    source: &S,
    leaf: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error>
where
    S::Error: From<MissingNode>,
{
    let size = end - start;
    if size <= 1 {
        return Ok(());
    }
    let k = split_point(size);
    if leaf < start + k {
        path_into(source, leaf, start, start + k, out)?;
        out.push(subtree_hash(source, start + k, end)?);
    } else {
        path_into(source, leaf, start + k, end, out)?;
        out.push(subtree_hash(source, start, start + k)?);
    }
    Ok(())
}

/// PROOF(m, D[n]) of RFC 6962 §2.1.2.
pub fn consistency_proof<S: NodeSource>(
    source: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, S::Error>
where
    S::Error: From<MissingNode>,
{
    let mut proof = Vec::new();
    if old_size == 0 || old_size >= new_size {
        return Ok(proof);
    }
    subproof_into(source, old_size, 0, new_size, true, &mut proof)?;
    Ok(proof)
}

fn subproof_into<S: NodeSource>(
    source: &S,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error>
where
    S::Error: From<MissingNode>,
{
    let size = end - start;
    if m == size {
        if !whole {
            out.push(subtree_hash(source, start, end)?);
        }
        return Ok(());
    }
    let k = split_point(size);
    if m <= k {
        subproof_into(source, m, start, start + k, whole, out)?;
        out.push(subtree_hash(source, start + k, end)?);
    } else {
        subproof_into(source, m - k, start + k, end, false, out)?;
        out.push(subtree_hash(source, start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: does `leaf_hash` sit at `leaf` in the tree of `size` with `root`?
pub fn verify_inclusion(
    leaf: u64,
    size: u64,
    leaf_hash: &Hash,
    path: &[Hash],
    root: &Hash,
) -> bool {
    if leaf >= size {
        return false;
    }
    let (mut fn_, mut sn) = (leaf, size - 1);
    let mut r = *leaf_hash;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: is the tree (`new_size`, `new_root`) an extension of
/// (`old_size`, `old_root`)?
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    let mut nodes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(proof);
    let Some((first, rest)) = nodes.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

/// The right edge of a tree built leaf by leaf: the roots of its perfect subtrees, largest
/// first (at most 64 hashes). It gives the root of every size as the leaves pass, so a
/// verifier streams a log of any length in constant memory.
#[derive(Debug, Default, Clone)]
pub struct Frontier {
    len: u64,
    /// One hash per set bit of `len`, the highest bit first.
    subtrees: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a leaf, merging every pair of equal subtrees it completes.
    pub fn push_leaf_hash(&mut self, hash: Hash) {
        let mut current = hash;
        let mut size = self.len;
        while size & 1 == 1 {
            let Some(left) = self.subtrees.pop() else {
                break;
            };
            current = node_hash(&left, &current);
            size >>= 1;
        }
        self.subtrees.push(current);
        self.len += 1;
    }

    pub fn push(&mut self, entry: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry));
    }

    /// MTH of the leaves pushed so far: the subtrees folded from the right (RFC 6962
    /// splits at the largest power of two, which is the leftmost subtree).
    pub fn root(&self) -> Hash {
        match self.subtrees.split_last() {
            None => empty_root(),
            Some((last, rest)) => rest
                .iter()
                .rev()
                .fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

/// A whole tree held in memory, every level: what a verifier builds from exported entries.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a leaf and completes every perfect subtree it closes.
    pub fn push_leaf_hash(&mut self, hash: Hash) {
        let mut level = 0;
        let mut current = hash;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(current);
            let index = row.len() - 1;
            if index.is_multiple_of(2) {
                break;
            }
            current = node_hash(&row[index - 1], &row[index]);
            level += 1;
        }
    }

    pub fn push(&mut self, entry: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry));
    }

    pub fn root(&self) -> Hash {
        self.root_at(self.len()).unwrap_or_else(|_| empty_root())
    }

    pub fn root_at(&self, size: u64) -> Result<Hash, MissingNode> {
        root(self, size)
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, MissingNode> {
        Ok(self
            .levels
            .get(level as usize)
            .and_then(|row| usize::try_from(index).ok().and_then(|i| row.get(i)))
            .copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH straight from the RFC's definition, as an oracle.
    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_frontier_gives_the_root_of_every_size() {
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        let mut leaves = Vec::new();
        for i in 0..300u64 {
            let h = leaf_hash(format!("entry {i}").as_bytes());
            frontier.push_leaf_hash(h);
            leaves.push(h);
            assert_eq!(frontier.root(), naive_root(&leaves), "size {}", i + 1);
            assert_eq!(frontier.len(), i + 1);
            assert!(frontier.subtrees.len() <= 64);
        }
    }

    fn build(n: u64) -> (MemoryTree, Vec<Hash>) {
        let mut tree = MemoryTree::new();
        let mut leaves = Vec::new();
        for i in 0..n {
            let h = leaf_hash(format!("entry {i}").as_bytes());
            tree.push_leaf_hash(h);
            leaves.push(h);
        }
        (tree, leaves)
    }

    #[test]
    fn known_empty_root_matches_rfc() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn roots_match_the_definition() {
        for n in 0..70 {
            let (tree, leaves) = build(n);
            assert_eq!(tree.root(), naive_root(&leaves), "n = {n}");
            for m in 0..=n {
                assert_eq!(tree.root_at(m).unwrap(), naive_root(&leaves[..m as usize]));
            }
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_wrong_ones_fail() {
        for n in 1..40u64 {
            let (tree, leaves) = build(n);
            let root = tree.root();
            for m in 0..n {
                let path = inclusion_proof(&tree, m, n).unwrap();
                assert!(
                    verify_inclusion(m, n, &leaves[m as usize], &path, &root),
                    "{m}/{n}"
                );
                let other = leaves[((m + 1) % n) as usize];
                if n > 1 {
                    assert!(!verify_inclusion(m, n, &other, &path, &root));
                }
                // A root of another size does not accept the proof.
                let (bigger, _) = build(n + 1);
                assert!(!verify_inclusion(
                    m,
                    n + 1,
                    &leaves[m as usize],
                    &path,
                    &bigger.root()
                ));
                if let Some(first) = path.first() {
                    let mut bad = path.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(m, n, &leaves[m as usize], &bad, &root));
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_forks_fail() {
        for n in 1..40u64 {
            let (tree, _) = build(n);
            let new_root = tree.root();
            for m in 0..=n {
                let old_root = tree.root_at(m).unwrap();
                let proof = consistency_proof(&tree, m, n).unwrap();
                assert!(
                    verify_consistency(m, n, &old_root, &new_root, &proof),
                    "{m}->{n}"
                );
                if m > 0 && m < n {
                    // A different history of the same size does not extend to the new root.
                    let forged = leaf_hash(b"forged");
                    assert!(!verify_consistency(m, n, &forged, &new_root, &proof));
                    assert!(!verify_consistency(m, n, &old_root, &forged, &proof));
                    let (bigger, _) = build(n + 1);
                    assert!(!verify_consistency(
                        m,
                        n + 1,
                        &old_root,
                        &bigger.root(),
                        &proof
                    ));
                }
            }
        }
    }
}

//! Which moves of the shared change counts were this process's own. What it changes
//! itself it keeps right in its memory as it changes it (consent changes move the grant
//! cache's generation on, a staff status change and a session's end do the same for
//! theirs), so only the others' batches make that memory stale: a gateway alone on its
//! database then never forgets what it cached, and two forget only for each other's
//! changes.

use omadata_consent::store::ChangeCounts;
use std::collections::BTreeSet;

/// The counts this process moved, per kind, against what the looks at the counts saw.
#[derive(Debug, Default)]
pub(crate) struct OwnChanges {
    caches: OwnKind,
    quotas: OwnKind,
}

#[derive(Debug, Default)]
struct OwnKind {
    /// Own values (the count each own batch moved it to) no look has covered yet.
    pending: BTreeSet<i64>,
    /// Own values the looks so far covered.
    covered: u64,
    /// The highest count a look saw. An own value at or below it that is told only
    /// now was taken for another's change by that look, and stays taken: so the count
    /// of others' changes never goes back, and a move is never missed.
    looked: i64,
    /// The others' changes as of the last look.
    others: u64,
}

impl OwnKind {
    fn record(&mut self, value: i64) {
        if value > self.looked {
            self.pending.insert(value);
        }
    }

    fn others(&mut self, count: i64) -> u64 {
        if count <= self.looked {
            return self.others;
        }
        let later = self.pending.split_off(&(count + 1));
        self.covered += self.pending.len() as u64;
        self.pending = later;
        self.looked = count;
        self.others = u64::try_from(count)
            .unwrap_or(0)
            .saturating_sub(self.covered);
        self.others
    }
}

impl OwnChanges {
    fn kind_mut(&mut self, kind: &str) -> Option<&mut OwnKind> {
        match kind {
            "caches" => Some(&mut self.caches),
            "quotas" => Some(&mut self.quotas),
            _ => None,
        }
    }

    /// A batch of this process, committed, moved `kind`'s count to `value`.
    pub(crate) fn record(&mut self, kind: &str, value: i64) {
        if let Some(own) = self.kind_mut(kind) {
            own.record(value);
        }
    }

    /// How many of the changes up to `count` (as read from the database) of `kind`
    /// other processes made; own batches told after the look that covered them count
    /// as others'.
    pub(crate) fn others(&mut self, kind: &str, count: i64) -> u64 {
        self.kind_mut(kind).map_or(0, |own| own.others(count))
    }

    /// The others' changes of each kind, from the counts as read (kind, count).
    pub(crate) fn others_of(&mut self, stored: &[(String, i64)]) -> ChangeCounts {
        let mut counts = ChangeCounts::default();
        for (kind, count) in stored {
            let others = self.others(kind, *count);
            match kind.as_str() {
                "caches" => counts.caches = others,
                "quotas" => counts.quotas = others,
                _ => {}
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_changes_are_not_counted_and_others_are() {
        let mut own = OwnChanges::default();
        own.record("caches", 1);
        own.record("caches", 2);
        assert_eq!(own.others("caches", 2), 0);
        // 3 is another's, 4 ours.
        own.record("caches", 4);
        assert_eq!(own.others("caches", 4), 1);
        assert_eq!(own.others("quotas", 3), 3);
        // As read from the database, an unknown kind ignored.
        own.record("quotas", 5);
        let stored = [
            ("caches".into(), 6),
            ("quotas".into(), 5),
            ("other".into(), 9),
        ];
        let counts = own.others_of(&stored);
        assert_eq!((counts.caches, counts.quotas), (3, 4));
    }

    #[test]
    fn an_own_change_told_after_its_look_stays_counted_as_another() {
        let mut own = OwnChanges::default();
        assert_eq!(own.others("caches", 1), 1);
        // Our batch moved the count to 1, but it is told only after the look saw it.
        own.record("caches", 1);
        assert_eq!(own.others("caches", 1), 1);
        // A change by another: the count of others' changes moves on.
        assert_eq!(own.others("caches", 2), 2);
    }

    #[test]
    fn the_count_of_others_never_goes_back() {
        let mut own = OwnChanges::default();
        assert_eq!(own.others("caches", 5), 5);
        // An older look answering late changes nothing.
        assert_eq!(own.others("caches", 3), 5);
        own.record("caches", 6);
        own.record("caches", 7);
        assert_eq!(own.others("caches", 6), 5);
        assert_eq!(own.others("caches", 8), 6);
    }
}

//! Making what sled wrote survive a power cut, with one sync shared by every writer
//! that waits for it (group commit).
//!
//! sled 0.34.7's `flush` writes its log buffers to the `db` file with `pwrite` and
//! `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)`: the data reaches the device, but
//! neither the file's size and extents nor the device's write cache are flushed. Only its
//! background thread (every 500 ms) and its drop call `fsync`. A page too large for a log
//! buffer (over about 128 KiB) goes to a file of its own in `blobs/`, written and never
//! synced. So after sled's flush, [`DiskFiles::make_durable`] syncs every blob file not
//! yet synced and, if there was one, the `blobs` directory, then `fdatasync`s `db`.
//! See `specs/durability.md`.

use parking_lot::{Condvar, Mutex};
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes a file's data durable, with the size and extents needed to read it back.
fn sync_data(file: &File, what: &Path) -> Result<(), String> {
    file.sync_data()
        .map_err(|e| format!("sync {}: {e}", what.display()))
}

/// The files of one sled database that a sync must make durable.
#[derive(Debug)]
pub(crate) struct DiskFiles {
    /// sled's log, opened a second time: `fdatasync` on any handle syncs the file.
    log: File,
    log_path: PathBuf,
    blobs: PathBuf,
    /// Blob files already synced (and made private); the rest are new.
    synced_blobs: Mutex<HashSet<OsString>>,
    /// How many times the files were synced (tests and figures).
    syncs: AtomicU64,
}

impl DiskFiles {
    /// Opens the files of the sled database in `dir` and syncs every blob there.
    pub(crate) fn open(dir: &Path) -> Result<Self, String> {
        let log_path = dir.join("db");
        let log = File::open(&log_path).map_err(|e| format!("open {}: {e}", log_path.display()))?;
        let files = Self {
            log,
            log_path,
            blobs: dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
            syncs: AtomicU64::new(0),
        };
        files.sync_new_blobs()?;
        Ok(files)
    }

    /// Makes everything sled's last `flush` wrote durable: new blob files and their
    /// directory entries first, then the log.
    pub(crate) fn make_durable(&self) -> Result<(), String> {
        self.sync_new_blobs()?;
        sync_data(&self.log, &self.log_path)?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Syncs each blob file not synced before (and makes it private: sled creates it
    /// under the process umask), then the directory if there was one. A blob is complete
    /// once sled's flush has returned for the page in it.
    fn sync_new_blobs(&self) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let mut synced = self.synced_blobs.lock();
        let entries =
            std::fs::read_dir(&self.blobs).map_err(|e| format!("list blob files: {e}"))?;
        let mut present = HashSet::with_capacity(synced.len());
        let mut new = false;
        for entry in entries {
            let entry = entry.map_err(|e| format!("list blob files: {e}"))?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                let path = entry.path();
                match File::open(&path) {
                    Ok(file) => {
                        file.set_permissions(std::fs::Permissions::from_mode(0o600))
                            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
                        sync_data(&file, &path)?;
                        new = true;
                    }
                    // sled removed it meanwhile (its page was rewritten).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(format!("open {}: {e}", path.display())),
                }
            }
            present.insert(name);
        }
        if new {
            crate::permissions::sync_dir(&self.blobs)
                .map_err(|e| format!("sync {}: {e}", self.blobs.display()))?;
        }
        *synced = present;
        Ok(())
    }
}

/// One sync at a time, shared: a writer that applied its change waits for a sync that
/// started after it; if none is running it runs one itself (the leader) for everyone
/// waiting. After a failed sync every later one fails too: the kernel may have dropped
/// the pages it could not write, so a later sync succeeding would prove nothing.
#[derive(Debug, Default)]
pub(crate) struct SyncGate {
    state: Mutex<GateState>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    /// Syncs started so far; the running one, if any, is number `started`.
    started: u64,
    /// The newest sync that completed successfully.
    completed: u64,
    running: bool,
    failure: Option<String>,
}

/// Ends the leader's sync even if the work unwinds, so followers never wait forever.
struct Leading<'a> {
    gate: &'a SyncGate,
    number: u64,
    outcome: Option<Result<(), String>>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut state = self.gate.state.lock();
        state.running = false;
        match self.outcome.take() {
            Some(Ok(())) => state.completed = state.completed.max(self.number),
            Some(Err(e)) => state.failure = Some(e),
            None => state.failure = Some("a sync was interrupted".into()),
        }
        drop(state);
        self.gate.finished.notify_all();
    }
}

impl SyncGate {
    /// Why syncs are refused, if an earlier one failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.state.lock().failure.clone()
    }

    /// Returns once a `sync` that started after this call did (the caller's change is
    /// applied before it calls), running it here if no other caller is.
    pub(crate) fn sync(&self, sync: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        let mut state = self.state.lock();
        // A running sync may have started before the caller's change: the next one is
        // the first sure to cover it.
        let needed = state.started + 1;
        loop {
            if let Some(failure) = &state.failure {
                return Err(format!("an earlier sync failed: {failure}"));
            }
            if state.completed >= needed {
                return Ok(());
            }
            if !state.running {
                break;
            }
            self.finished.wait(&mut state);
        }
        state.running = true;
        state.started += 1;
        let mut leading = Leading {
            gate: self,
            number: state.started,
            outcome: None,
        };
        drop(state);
        let outcome = sync();
        leading.outcome = Some(outcome.clone());
        drop(leading);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// Writers arriving while a sync runs share the next one; each returns only after a
    /// sync that started after it arrived.
    #[test]
    fn concurrent_callers_share_syncs_that_start_after_them() {
        let gate = Arc::new(SyncGate::default());
        let runs = Arc::new(AtomicUsize::new(0));
        // Each caller bumps `applied` before syncing; a sync records how many changes it
        // saw when it started; each caller checks that the sync it got saw its change.
        let applied = Arc::new(AtomicU64::new(0));
        let covered = Arc::new(AtomicU64::new(0));
        std::thread::scope(|scope| {
            for _ in 0..32 {
                let (gate, runs, applied, covered) =
                    (gate.clone(), runs.clone(), applied.clone(), covered.clone());
                scope.spawn(move || {
                    for _ in 0..20 {
                        let mine = applied.fetch_add(1, Ordering::SeqCst) + 1;
                        gate.sync(|| {
                            runs.fetch_add(1, Ordering::SeqCst);
                            let seen = applied.load(Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(2));
                            covered.fetch_max(seen, Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap();
                        assert!(covered.load(Ordering::SeqCst) >= mine);
                    }
                });
            }
        });
        let runs = runs.load(Ordering::SeqCst);
        assert!(runs < 32 * 20 / 2, "{runs} syncs for 640 changes");
    }

    #[test]
    fn after_a_failed_sync_nothing_is_confirmed() {
        let gate = SyncGate::default();
        assert!(gate.sync(|| Ok(())).is_ok());
        assert!(gate.sync(|| Err("EIO".into())).is_err());
        let mut ran = false;
        let later = gate.sync(|| {
            ran = true;
            Ok(())
        });
        assert!(later.unwrap_err().contains("EIO"));
        assert!(!ran);
    }
}

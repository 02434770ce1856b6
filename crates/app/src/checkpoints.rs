//! Checkpoints of the audit log signed on a schedule, on a thread of their own, so no
//! GET request signs or stores anything (a cross-site link could otherwise make a
//! signed-in auditor's browser do it).

use omadata_clock::Clock;
use omadata_consent::audit::AuditLog;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// The signing thread; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Signs a checkpoint at once and then every `interval`, each time only if the log
    /// has grown since the newest checkpoint.
    pub fn start(
        audit: Arc<AuditLog>,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let sign = move || {
            // Among gateways sharing a store, the one that leads signs.
            if !audit.leads() {
                return;
            }
            if let Err(error) = audit.checkpoint_if_grown(clock.now()) {
                tracing::error!(%error, "signing an audit checkpoint failed");
            }
        };
        // The first before serving, so an auditor always finds one.
        sign();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("audit-checkpoints".into())
            .spawn(move || {
                // Stops when the sender is dropped (or sends).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    sign();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omadata_clock::ManualClock;
    use omadata_consent::ServiceKey;
    use omadata_consent::audit::{AuditEntry, AuditEvent};
    use omadata_consent::store::MemoryConsentStore;

    #[test]
    fn signs_at_start_and_only_when_the_log_has_grown() {
        let audit = Arc::new(
            AuditLog::open(
                Arc::new(MemoryConsentStore::default()),
                Arc::new(ServiceKey::generate().unwrap()),
            )
            .unwrap(),
        );
        let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
        for _ in 0..3 {
            audit
                .append(AuditEntry::new(AuditEvent::Access, clock.now()))
                .unwrap();
        }
        let checkpointer =
            Checkpointer::start(audit.clone(), clock.clone(), Duration::from_millis(20)).unwrap();
        let count = || audit.checkpoints().unwrap().len();
        let wait_for = |n: usize| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while count() < n && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        assert_eq!(count(), 1, "the first is signed before start returns");
        std::thread::sleep(Duration::from_millis(200));
        // Several intervals passed, but the log did not grow: one checkpoint.
        assert_eq!(count(), 1);
        assert_eq!(audit.latest_checkpoint().unwrap().unwrap().tree_size, 3);
        audit
            .append(AuditEntry::new(AuditEvent::Access, clock.now()))
            .unwrap();
        wait_for(2);
        drop(checkpointer);
        let checkpoints = audit.checkpoints().unwrap();
        assert_eq!(checkpoints.len(), 2);
        assert_eq!(checkpoints[1].tree_size, 4);
    }
}

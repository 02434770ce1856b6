//! The operator's control socket: `DATA/control.sock`, a Unix socket only the data
//! directory's owner may open (mode 0600). While the gateway holds the store, this is
//! how `omadata backup` reaches it: the client writes `backup\n`; the gateway answers
//! `ok\n` and streams a consistent backup, or `error: ...\n`.

use omadata_store_sled::SledStore;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const SOCKET_NAME: &str = "control.sock";

/// The socket of a data directory.
pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET_NAME)
}

/// Serves the control socket until the returned task is aborted.
pub fn start(data: &Path, store: Arc<SledStore>) -> std::io::Result<ControlSocket> {
    let path = socket_path(data);
    // A socket file left by a process that died: nobody answers on it.
    if path.exists() && std::os::unix::net::UnixStream::connect(&path).is_err() {
        std::fs::remove_file(&path)?;
    }
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "control socket accept failed");
                    // Out of file descriptors, say: do not spin.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                let stream = stream.into_std().and_then(|s| {
                    s.set_nonblocking(false)?;
                    Ok(s)
                });
                match stream {
                    Ok(stream) => {
                        if let Err(error) = answer(stream, &store) {
                            tracing::warn!(%error, "control request failed");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "control socket"),
                }
            });
        }
    });
    Ok(ControlSocket { path, task })
}

/// A client that stops reading must not hold the write barrier (and so every write)
/// for long; one that never sends its command must not hold a thread.
const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

fn answer(stream: std::os::unix::net::UnixStream, store: &SledStore) -> std::io::Result<()> {
    stream.set_read_timeout(Some(STALL_LIMIT))?;
    stream.set_write_timeout(Some(STALL_LIMIT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut command = String::new();
    // A command is one short line; anything longer is not one.
    (&mut reader).take(64).read_line(&mut command)?;
    let mut out = std::io::BufWriter::new(stream);
    match command.trim_end() {
        "backup" => {
            out.write_all(b"ok\n")?;
            match store.write_backup(&mut out) {
                Ok(summary) => tracing::info!(
                    records = summary.records,
                    bytes = summary.bytes,
                    sha256 = %summary.sha256,
                    "backup written to the control socket"
                ),
                // The stream is cut short; the client's check refuses it.
                Err(error) => tracing::error!(%error, "backup failed"),
            }
        }
        other => {
            let shown: String = other.chars().filter(|c| !c.is_control()).take(32).collect();
            writeln!(out, "error: unknown command `{shown}`")?;
        }
    }
    out.flush()
}

/// The running socket; [`ControlSocket::stop`] closes it and removes the file.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl ControlSocket {
    pub fn stop(&self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Asks a running gateway for a backup and writes it to `out`. `Ok(false)`: no gateway
/// answers on the data directory's socket.
pub fn request_backup(data: &Path, out: &mut dyn Write) -> std::io::Result<bool> {
    let path = socket_path(data);
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(&path) else {
        return Ok(false);
    };
    stream.write_all(b"backup\n")?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    (&mut reader).take(256).read_line(&mut status)?;
    if status != "ok\n" {
        return Err(std::io::Error::other(format!(
            "the gateway refused: {}",
            status.trim_end()
        )));
    }
    std::io::copy(&mut reader, out)?;
    Ok(true)
}

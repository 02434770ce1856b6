//! `omadata`: see `omadata --help`.

use std::process::ExitCode;

/// jemalloc instead of the system allocator: the gateway allocates per request on
/// two busy threads, where glibc's malloc measured a third slower (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Everything the service creates (sled's files, the journal, keys, the control
    // socket, backups) is its own alone, whatever umask it was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // Human-readable logs by default; OMADATA_LOG_FORMAT=json for machines.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("OMADATA_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
    let mut stdout = std::io::stdout();
    match omadata::cli::run(std::env::args_os(), &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(omadata::cli::CliError::Usage(message)) => {
            // clap's own help and errors are already formatted for the terminal.
            eprint!("{message}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("omadata: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

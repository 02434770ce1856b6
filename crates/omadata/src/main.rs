//! `omadata`: see `omadata --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
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

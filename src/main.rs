//! The `supplyrisk` binary: parse arguments, run, exit with the documented code (a panic — a
//! bug in supplyrisk — is one line on stderr and exit 3; see `bug.rs`).
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(supplyrisk::bug::run_main(|| {
        supplyrisk::cli::main_with_args(std::env::args_os())
    }))
}

//! The `supplyrisk` binary: parse arguments, run, exit with the documented code.
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(supplyrisk::cli::main_with_args(std::env::args_os()))
}

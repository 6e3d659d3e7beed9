//! The library's error type. Every variant carries the context a user needs to act on it
//! (file, sheet, row, column, key); [`Error::exit_code`] maps it to the documented exit codes.

use std::path::{Path, PathBuf};

use crate::spec::SpecError;

/// Exit code of a run that completed and passed its quality gates.
pub const EXIT_OK: u8 = 0;
/// Exit code of a run that completed (all outputs written) but failed a quality gate.
pub const EXIT_QUALITY_GATE: u8 = 1;
/// Exit code of a usage, input or data error: nothing (or nothing further) was written.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The survey spec is invalid; the message lists every problem with its line.
    #[error("{0}")]
    Spec(#[from] SpecError),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A problem with the data in an input file, located as precisely as possible.
    #[error("{location}: {message}")]
    Input { location: String, message: String },

    /// Population targets or weighting could not be used.
    #[error("weighting: {0}")]
    Weighting(String),

    /// A `[[models]]` entry cannot be fitted on this round's data.
    #[error("model `{id}` ([[models]]): {message}")]
    Model { id: String, message: String },

    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),

    /// Writing an output failed.
    #[error("writing {path}: {message}")]
    Output { path: PathBuf, message: String },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn output(path: &Path, message: impl std::fmt::Display) -> Self {
        Error::Output {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    /// An input problem at `file` (and optionally sheet/row/column).
    pub fn input(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            location: location.into(),
            message: message.into(),
        }
    }

    /// Every error is a usage/input/data error (exit 2); quality-gate failures are not errors.
    pub fn exit_code(&self) -> u8 {
        EXIT_ERROR
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

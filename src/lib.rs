//! supplyrisk — survey pipeline for the health sector's supply-chain cybersecurity work.
pub mod error;
pub mod clean;
pub mod ingest;
pub mod kernels;
pub mod score;
pub mod spec;
pub use error::{Error, Result};

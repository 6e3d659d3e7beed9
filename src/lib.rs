//! supplyrisk — a survey pipeline for the health sector's supply-chain cybersecurity work.
//!
//! One round of the HSCC critical-supplier survey flows through these stages, one module each:
//!
//! ```text
//!  survey.toml ─► spec ─┐
//!  responses ──► ingest ─► clean ─► score ─► weight ─► estimate ─► disclose ─► render / export
//!                          │                                                  ├─ charts/, summary.md, report.html
//!                          └─ data/quarantine.csv, cleaning log               └─ metrics/, manifest.json
//! ```
//!
//! [`pipeline::run`] runs them all on a round; [`kernels`] holds the survey statistics (plain
//! slices, no polars) that reproduce R's `survey` package; [`table`] is the one module that
//! touches polars. [`synth`] generates realistic example rounds; [`cli`] is the command line;
//! [`bug`] turns a panic (a bug in supplyrisk, never the user's data) into one line and exit 3.

pub mod benchmark;
pub mod bug;
pub mod clean;
pub mod clearinghouse;
pub mod cli;
pub mod concentration;
pub mod disclose;
pub mod error;
pub mod estimate;
pub mod export;
pub mod ingest;
pub mod kernels;
pub mod paths;
pub mod pipeline;
pub mod previous;
pub mod published;
pub mod render;
pub mod score;
pub mod spec;
pub mod synth;
pub mod table;
pub mod timings;
pub mod verify;
pub mod weight;
pub mod words;

pub use error::{Error, Result};

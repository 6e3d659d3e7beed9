//! The one integration-test binary: every test module that drives the library or the binary.

mod benchmark;
mod clean;
mod clearinghouse;
mod cli;
mod concentration;
mod disclosure;
mod estimate_props;
mod export;
mod first_round;
mod fuzz;
mod generative;
mod golden;
mod ingest;
#[path = "../support/minimal_xlsx.rs"]
mod minimal_xlsx;
mod notebooks;
mod properties;
mod publish;
mod reference;
mod report;
mod robustness;
mod statistics;
mod util;
mod weight;

//! Concentration benchmark (not a test): supplier names of 1,000,000 respondents resolved through
//! the example's alias table, then every supplier's and category's dependency share, HHI,
//! effective number and no-alternative share for the example's 27 segments, with linearized SEs.
//!
//!     cargo bench --bench concentration
//!
//! The round is `common::round_dir()` (the example's Qualtrics rows replicated to 1M, supplier
//! answers included). Ingest, cleaning and weighting run first and are not timed.

use std::time::Instant;

use supplyrisk::clean::clean;
use supplyrisk::concentration::analyse;
use supplyrisk::ingest::read_all;
use supplyrisk::spec::load;
use supplyrisk::weight::{weight, Population};

#[path = "common/mod.rs"]
mod common;

use common::{peak_rss_mib, round_dir};

/// `target/bench-data/concentration-1m`: the 1M round with its population scaled by 10,000 (a
/// million respondents are a sample of it; FPC stays on).
fn bench_dir() -> std::path::PathBuf {
    let source = round_dir();
    let dir = source.parent().unwrap().join("concentration-1m");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = std::fs::read_to_string(source.join("survey.toml")).unwrap();
    std::fs::write(dir.join("survey.toml"), spec).unwrap();
    common::link_responses(&source, &dir);
    std::fs::copy(source.join("suppliers.csv"), dir.join("suppliers.csv")).unwrap();
    common::write_scaled_population(&source, &dir);
    dir
}

fn main() {
    let dir = bench_dir();
    let spec = load(&dir).expect("spec");
    let population = Population::read(&spec).expect("population");
    let sources = read_all(&spec).expect("ingest");
    let cleaned = clean(&spec, &sources, &population.frame()).expect("clean");
    let weighted = weight(&spec.spec, &population, &cleaned.records).expect("weight");
    println!(
        "{} respondents kept; peak RSS before concentration {:.0} MiB",
        cleaned.records.len(),
        peak_rss_mib()
    );
    for run in 1..=2 {
        let t = Instant::now();
        let a = analyse(&spec, &cleaned.records, &weighted)
            .expect("concentration")
            .expect("[concentration] section");
        println!(
            "run {run}: {:.2} s — {} suppliers ({} published), {} category rows, {} supplier rows",
            t.elapsed().as_secs_f64(),
            a.suppliers.len(),
            a.suppliers.iter().filter(|s| s.published).count(),
            a.category_rows.len(),
            a.supplier_rows.len()
        );
    }
}

//! Cleaning benchmark (not a test): 1,000,000 responses × the example instrument's 37 questions
//! (35 items plus key and name), made by replicating the data rows of
//! `surveys/example-2024/responses_qualtrics.csv` — with their label variants, typos, partial and
//! test rows — under fresh member ids.
//!
//!     cargo bench --bench clean
//!
//! Prints the time to clean (ingest timed separately) and the process's peak memory (VmHWM).

use std::time::Instant;

use supplyrisk::clean::clean;
use supplyrisk::ingest::read_all;
use supplyrisk::spec::load;
use supplyrisk::weight::Population;

#[path = "common/mod.rs"]
mod common;

use common::{peak_rss_mib, round_dir};

fn main() {
    let dir = round_dir();
    let spec = load(&dir).expect("spec");
    let pop = Population::read(&spec).expect("population");
    let t = Instant::now();
    let sources = read_all(&spec).expect("ingest");
    let ingest = t.elapsed().as_secs_f64();
    let rss_after_ingest = peak_rss_mib();
    let t = Instant::now();
    let cleaned = clean(&spec, &sources, &pop.frame()).expect("clean");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "clean: {} rows × {} questions in {secs:.3} s ({:.0} rows/s); kept {}, quarantined {}; ingest {ingest:.3} s; \
         peak RSS {:.0} MiB (after ingest {rss_after_ingest:.0} MiB)",
        cleaned.rows_read(),
        spec.spec.questions.len(),
        cleaned.rows_read() as f64 / secs,
        cleaned.records.len(),
        cleaned.quarantine.len(),
        peak_rss_mib()
    );
}

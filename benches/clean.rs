//! Cleaning benchmark (not a test): 1,000,000 responses × the example instrument's 37 questions
//! (35 items plus key and name), made by replicating the data rows of
//! `surveys/example-2024/responses_qualtrics.csv` — with their label variants, typos, partial and
//! test rows — under fresh member ids.
//!
//!     cargo bench --bench clean
//!
//! Prints the time to clean (ingest timed separately) and the process's peak memory (VmHWM).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use supplyrisk::clean::clean;
use supplyrisk::ingest::read_all;
use supplyrisk::spec::load;
use supplyrisk::weight::Population;

const ROWS: usize = 1_000_000;

fn round_dir() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = repo.join("target/bench-data/clean-1m");
    if dir.join("survey.toml").exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let example = repo.join("surveys/example-2024");
    let spec = std::fs::read_to_string(example.join("survey.toml")).unwrap();
    // Only the Qualtrics source.
    let spec = spec.replace(
        "[[sources]]\npath = \"responses_forms.xlsx\"\nlayout = \"msforms\"\nsheet = \"Sheet1\"\n",
        "",
    );
    std::fs::write(dir.join("survey.toml"), spec).unwrap();
    std::fs::copy(example.join("population.csv"), dir.join("population.csv")).unwrap();
    let text = std::fs::read_to_string(example.join("responses_qualtrics.csv")).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let key = records[0]
        .iter()
        .position(|h| h == "ExternalReference")
        .unwrap();
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(
        std::fs::File::create(dir.join("responses_qualtrics.csv")).unwrap(),
    ));
    for r in &records[..3] {
        w.write_record(r).unwrap();
    }
    let data = &records[3..];
    for i in 0..ROWS {
        let src = &data[i % data.len()];
        let mut row: Vec<String> = src.iter().map(str::to_string).collect();
        if !row[key].is_empty() && row[key] != "HSCC-TEST" {
            // Keep the template's duplicate pairs as pairs: the id depends on the replica number.
            row[key] = format!("{}-{}", row[key], i / data.len());
        }
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    std::io::stdout().flush().unwrap();
    dir
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

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

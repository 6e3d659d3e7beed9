//! Shared by the benchmarks: the 1,000,000-response round made from the example's rows, and
//! the process's peak memory.

#![allow(dead_code)] // each bench uses what it needs

use std::io::Write;
use std::path::PathBuf;

pub const ROWS: usize = 1_000_000;

/// `target/bench-data/clean-1m`: the example-2024 round with only its Qualtrics source,
/// replicated to [`ROWS`] data rows (label variants, typos, partial and test rows included)
/// under fresh member ids. Made on first use (≈ 1 GB).
pub fn round_dir() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = repo.join("target/bench-data/clean-1m");
    // Made again when the example changed (its spec is copied below).
    let example_spec = repo.join("surveys/example-2024/survey.toml");
    let fresh = |f: &str| {
        let (a, b) = (dir.join(f).metadata(), example_spec.metadata());
        matches!((a, b), (Ok(a), Ok(b)) if a.modified().ok() >= b.modified().ok())
    };
    if fresh("survey.toml") && dir.join("suppliers.csv").exists() {
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
    for f in ["population.csv", "suppliers.csv"] {
        std::fs::copy(example.join(f), dir.join(f)).unwrap();
    }
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

/// Write `source`'s `population.csv` into `dir` with every count × 10,000, so that the 1M
/// respondents are a sample of it (the FPC stays on).
pub fn write_scaled_population(source: &std::path::Path, dir: &std::path::Path) {
    let pop = std::fs::read_to_string(source.join("population.csv")).unwrap();
    let scaled: Vec<String> = pop
        .lines()
        .enumerate()
        .map(|(i, l)| match l.rsplit_once(',') {
            Some((cells, count)) if i > 0 => {
                format!("{cells},{}", count.parse::<u64>().unwrap() * 10_000)
            }
            _ => l.to_string(),
        })
        .collect();
    std::fs::write(dir.join("population.csv"), scaled.join("\n") + "\n").unwrap();
}

/// Peak resident memory of this process so far (VmHWM), MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Put the 1M responses of `source` into the bench round `dir` as a hard link (a copy where links
/// are not possible): a round's input files must be inside its folder.
pub fn link_responses(source: &std::path::Path, dir: &std::path::Path) {
    let (from, to) = (
        source.join("responses_qualtrics.csv"),
        dir.join("responses_qualtrics.csv"),
    );
    let _ = std::fs::remove_file(&to);
    if std::fs::hard_link(&from, &to).is_err() {
        std::fs::copy(&from, &to).expect("copy the bench responses");
    }
}

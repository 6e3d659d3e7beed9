//! Ingest benchmark (not a test): supplyrisk's reader on a 1,000,000-row × 40-column CSV against
//! polars reading the same file on its own, and on a 100,000-row × 40-column .xlsx.
//!
//!     cargo bench --bench ingest -- csv        # supplyrisk on the CSV
//!     cargo bench --bench ingest -- polars     # polars CsvReader on the same CSV
//!     cargo bench --bench ingest -- xlsx       # supplyrisk on the workbook
//!
//! Each mode runs in its own process so that its peak memory (VmHWM) is its own; the inputs are
//! generated once under `target/bench-data/`. Results go in docs/performance.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::prelude::{CsvReadOptions, SerReader};
use supplyrisk::ingest::{read_path, ReadOptions};

const ROWS: usize = 1_000_000;
const XLSX_ROWS: u32 = 100_000;
const COLS: usize = 40;
const REPEATS: usize = 3;

fn data_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&d).expect("bench data dir");
    d
}

/// A deterministic survey-like cell: ids, small integers, shares, labels, free text.
fn cell(r: usize, c: usize) -> String {
    let x = (r.wrapping_mul(2_654_435_761) ^ c.wrapping_mul(40_503)) % 1000;
    match c % 5 {
        0 => format!("R{r:07}"),
        1 => (x % 7).to_string(),
        2 => format!("{:.2}", x as f64 / 10.0),
        3 => ["Strongly agree", "Agree", "Disagree", "Don't know"][x % 4].to_string(),
        _ => format!("note {x}"),
    }
}

fn csv_file() -> PathBuf {
    let p = data_dir().join("wide_1m_x_40.csv");
    if !p.exists() {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&p).expect("create csv"));
        let header: Vec<String> = (0..COLS).map(|c| format!("q{c}")).collect();
        writeln!(w, "{}", header.join(",")).unwrap();
        for r in 0..ROWS {
            let row: Vec<String> = (0..COLS).map(|c| cell(r, c)).collect();
            writeln!(w, "{}", row.join(",")).unwrap();
        }
    }
    p
}

fn xlsx_file() -> PathBuf {
    let p = data_dir().join("wide_100k_x_40.xlsx");
    if !p.exists() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for c in 0..COLS {
            sheet.write_string(0, c as u16, format!("q{c}")).unwrap();
        }
        for r in 0..XLSX_ROWS {
            for c in 0..COLS {
                let v = cell(r as usize, c);
                if c % 5 == 1 || c % 5 == 2 {
                    sheet
                        .write_number(r + 1, c as u16, v.parse::<f64>().unwrap())
                        .unwrap();
                } else {
                    sheet.write_string(r + 1, c as u16, v).unwrap();
                }
            }
        }
        book.save(&p).unwrap();
    }
    p
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn time<F: FnMut() -> usize>(label: &str, path: &Path, mut f: F) {
    let mb = std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6);
    let mut best = f64::INFINITY;
    let mut rows = 0;
    for _ in 0..REPEATS {
        let t = Instant::now();
        rows = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{label}: {rows} rows, {mb:.0} MB, best of {REPEATS}: {best:.3} s ({:.0} MB/s), peak RSS {:.0} MiB",
        mb / best,
        peak_rss_mib()
    );
}

fn main() {
    let mode = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "csv".into());
    match mode.as_str() {
        "csv" => {
            let p = csv_file();
            time("supplyrisk ingest (csv)", &p, || {
                read_path(&p, "wide.csv", &ReadOptions::default())
                    .expect("read")
                    .rows
                    .len()
            });
        }
        "polars" => {
            let p = csv_file();
            time("polars CsvReader (csv)", &p, || {
                CsvReadOptions::default()
                    .with_has_header(true)
                    .try_into_reader_with_file_path(Some(p.clone()))
                    .expect("reader")
                    .finish()
                    .expect("read")
                    .height()
            });
        }
        "xlsx" => {
            let p = xlsx_file();
            time("supplyrisk ingest (xlsx)", &p, || {
                read_path(&p, "wide.xlsx", &ReadOptions::default())
                    .expect("read")
                    .rows
                    .len()
            });
        }
        "parts" => {
            let p = csv_file();
            let t = Instant::now();
            let bytes = std::fs::read(&p).unwrap();
            println!("read file: {:.3} s", t.elapsed().as_secs_f64());
            let t = Instant::now();
            let h = supplyrisk::ingest::sha256_hex(&bytes);
            println!("sha256: {:.3} s ({})", t.elapsed().as_secs_f64(), &h[..8]);
            let t = Instant::now();
            let s = std::str::from_utf8(&bytes).unwrap();
            println!("utf-8 check: {:.3} s", t.elapsed().as_secs_f64());
            let t = Instant::now();
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(s.as_bytes());
            let mut rec = csv::StringRecord::new();
            let mut rows = Vec::new();
            while r.read_record(&mut rec).unwrap() {
                let next = csv::StringRecord::with_capacity(rec.as_slice().len(), rec.len());
                rows.push(std::mem::replace(&mut rec, next));
            }
            println!(
                "csv StringRecords: {:.3} s ({} rows)",
                t.elapsed().as_secs_f64(),
                rows.len()
            );
            let t = Instant::now();
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(s.as_bytes());
            let mut rec = csv::ByteRecord::new();
            let mut n = 0;
            while r.read_byte_record(&mut rec).unwrap() {
                n += rec.len();
            }
            println!(
                "csv ByteRecord reuse (no storage): {:.3} s ({n} fields)",
                t.elapsed().as_secs_f64()
            );
        }
        other => eprintln!("unknown mode `{other}`: csv, polars, xlsx or parts"),
    }
}

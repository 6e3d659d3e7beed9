//! Hostile-workbook benchmark (not a test): `supplyrisk inspect` on small files that declare far
//! more than they hold, and on one that really holds a lot, measuring wall time and the peak
//! resident size of supplyrisk and its contained workbook reader together. Target (issue 15):
//! under 1 GiB on any file under 50 MB, unless the file really holds that much cell data — then
//! exit 2 naming the limit.
//!
//!     cargo bench --bench hostile
//!
//! Inputs: the committed fixtures in tests/fixtures/hostile/, plus, generated once under
//! `target/bench-data/hostile/`, a 3.5 MB .xlsx whose sheet is 1000 MiB of XML and a
//! 100,000 × 40 workbook of real answers. Each file is measured in a fresh process, so that its
//! peak is its own. Results go in docs/reliability.md.

#[path = "../tests/support/minimal_xlsx.rs"]
mod minimal_xlsx;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn data_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/hostile");
    std::fs::create_dir_all(&d).expect("bench data dir");
    d
}

fn inputs() -> Vec<(String, PathBuf)> {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let mut out: Vec<(String, PathBuf)> = [
        "far_cell.xlsx",
        "huge_unique_count.xlsx",
        "date_out_of_range.xlsx",
    ]
    .iter()
    .map(|n| (n.to_string(), fixtures.join(n)))
    .collect();
    let bomb = data_dir().join("sheet_1000mib.xlsx");
    if !bomb.exists() {
        // 200 shared-string cells a row until the sheet XML passes 1000 MiB.
        let cells: String = (0..200)
            .map(|_| r#"<c t="inlineStr"><is><t>x</t></is></c>"#)
            .collect();
        let per_row = cells.len() as u32 + 20;
        minimal_xlsx::write_sheet(&bomb, (1000u32 << 20) / per_row + 1, |r, b| {
            b.push_str(&format!("<row r=\"{r}\">"));
            b.push_str(&cells);
            b.push_str("</row>");
        });
    }
    out.push(("1000 MiB sheet".into(), bomb));
    let real = data_dir().join("answers_100k_x_40.xlsx");
    if !real.exists() {
        minimal_xlsx::write_sheet(&real, 100_001, |r, b| {
            b.push_str(&format!("<row r=\"{r}\">"));
            for c in 0..40u32 {
                let col = if c < 26 {
                    ((b'A' + c as u8) as char).to_string()
                } else {
                    format!("A{}", (b'A' + (c - 26) as u8) as char)
                };
                let v = if r == 1 {
                    format!("q{c}")
                } else {
                    ["Strongly agree", "Agree", "Disagree", "Don't know"]
                        [((r * 7 + c) % 4) as usize]
                        .to_string()
                };
                b.push_str(&format!(
                    "<c r=\"{col}{r}\" t=\"inlineStr\"><is><t>{v}</t></is></c>"
                ));
            }
            b.push_str("</row>");
        });
    }
    out.push(("100,000 × 40 answers".into(), real));
    out
}

/// Largest resident size of the children waited for, MiB.
fn children_peak_mib() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } == 0 {
        ru.ru_maxrss as f64 / 1024.0
    } else {
        f64::NAN
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        // One file in this fresh process: run supplyrisk, report exit, wall, peak.
        let file = &args[i + 1];
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_supplyrisk"))
            .args(["inspect", file])
            .output()
            .expect("run supplyrisk");
        let secs = start.elapsed().as_secs_f64();
        let msg = String::from_utf8_lossy(&out.stderr);
        let first = msg
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(90)
            .collect::<String>();
        println!(
            "{}\t{secs:.2}\t{:.0}\t{first}",
            out.status.code().map_or("signal".into(), |c| c.to_string()),
            children_peak_mib()
        );
        return;
    }
    let me = std::env::current_exe().unwrap();
    println!(
        "| file | bytes | exit | wall (s) | peak RSS (MiB) | message |\n|---|---|---|---|---|---|"
    );
    for (name, path) in inputs() {
        let out = Command::new(&me)
            .args(["--measure", path.to_str().unwrap()])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = line.trim().splitn(4, '\t').collect();
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "| {name} | {bytes} | {} | {} | {} | {} |",
            f.first().unwrap_or(&""),
            f.get(1).unwrap_or(&""),
            f.get(2).unwrap_or(&""),
            f.get(3).unwrap_or(&"")
        );
    }
}

//! Scale benchmark (issue 20; not a test): the whole `supplyrisk run` — and `validate` — on a
//! generated job at 100,000 and 1,000,000 respondents, side by side with polars' `read_csv` of
//! the same file, measured in the same session.
//!
//!     cargo bench --bench scale              # 100k and 1M, three runs each (median)
//!     cargo bench --bench scale -- 100k      # one size
//!     cargo bench --bench scale -- 1m --runs 1
//!     cargo bench --bench scale -- --binary /path/to/older/supplyrisk   # before/after
//!
//! The job: 41 columns — an organization key, subsector (6), size (3), region (4), a supplier
//! count and 36 agreement items coded 1–5 over the ten GV.SC domains — read, cleaned, scored
//! (risk index and tier), raked on subsector, size and region, then the mean of every item,
//! the median risk index and the high-or-critical share, overall, by subsector and by subsector
//! × size, with the segment-against-the-rest comparisons, the Rao–Scott test of tier by
//! subsector, disclosure control, charts, report, workbook and metrics. The inputs are generated
//! once under `target/bench-data/scale-<size>/` (deterministic).
//!
//! Polars runs from a throwaway Python venv (`target/bench-venv`, `pip install polars`), as the
//! notebook tests do; each command is a child process timed by wall clock, its peak memory the
//! child's own maximum resident set (`wait4`). The table printed is what docs/performance.md
//! records.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const ITEMS: usize = 36;
const SUBSECTORS: [&str; 6] = ["dpc", "plb", "medtech", "payer", "hit", "public_health"];
const SIZES: [&str; 3] = ["small", "medium", "large"];
const REGIONS: [&str; 4] = ["northeast", "midwest", "south", "west"];
/// Bump when the generated job changes, so old inputs are regenerated.
const GENERATOR: &str = "scale job v2";

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(3usize);
    let sizes: Vec<(&str, usize)> = [("100k", 100_000), ("1m", 1_000_000)]
        .into_iter()
        .filter(|(label, _)| {
            !args.iter().any(|a| a == "100k" || a == "1m") || args.iter().any(|a| a == label)
        })
        .collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let python = polars_venv(&root.join("bench-venv"));
    // `--binary PATH`: time another build (an earlier commit's) on the same job.
    let binary = args
        .iter()
        .position(|a| a == "--binary")
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_supplyrisk")),
            PathBuf::from,
        );
    let polars_version =
        output(Command::new(&python).args(["-c", "import polars; print(polars.__version__)"]));
    println!(
        "supplyrisk {} ({}) against Python polars {} — median of {runs}, {} cores",
        env!("CARGO_PKG_VERSION"),
        binary.display(),
        polars_version.trim(),
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    );
    println!(
        "{:<6} {:>9} {:<28} {:>9} {:>10} {:>9} {:>11}",
        "rows", "CSV", "what", "wall", "× polars", "peak RSS", "RSS / CSV"
    );
    for (label, rows) in sizes {
        let round = root.join(format!("bench-data/scale-{label}"));
        generate(&round, rows);
        let csv = round.join("responses.csv");
        let csv_bytes = std::fs::metadata(&csv).expect("responses.csv").len() as f64;
        let out = round.with_file_name(format!("scale-{label}-out"));
        let read = format!(
            "import polars as pl; pl.read_csv({:?}, infer_schema_length=10000)",
            csv.display().to_string()
        );
        let mut polars = Vec::new();
        let mut run = Vec::new();
        let mut validate = Vec::new();
        for _ in 0..runs {
            polars.push(measure(Command::new(&python).args(["-c", &read])));
            let _ = std::fs::remove_dir_all(&out);
            run.push(measure(
                Command::new(&binary)
                    .arg("run")
                    .arg(&round)
                    .arg("--out")
                    .arg(&out)
                    .arg("-q"),
            ));
            validate.push(measure(
                Command::new(&binary).arg("validate").arg(&round).arg("-q"),
            ));
        }
        let (p_wall, p_rss) = median(&polars);
        for (what, m) in [
            ("polars read_csv", &polars),
            ("supplyrisk run", &run),
            ("supplyrisk validate", &validate),
        ] {
            let (wall, rss) = median(m);
            println!(
                "{:<6} {:>6.1} MB {:<28} {:>7.2} s {:>9.1}× {:>5.0} MiB {:>10.1}×",
                label,
                csv_bytes / 1e6,
                what,
                wall.as_secs_f64(),
                wall.as_secs_f64() / p_wall.as_secs_f64(),
                rss as f64 / 1024.0,
                rss as f64 * 1024.0 / csv_bytes,
            );
        }
        let _ = p_rss;
    }
}

/// The median wall time and the median peak RSS (KiB) of the runs.
fn median(runs: &[(Duration, u64)]) -> (Duration, u64) {
    let mut walls: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    let mut rss: Vec<u64> = runs.iter().map(|r| r.1).collect();
    walls.sort();
    rss.sort_unstable();
    (walls[walls.len() / 2], rss[rss.len() / 2])
}

/// Run a child to completion: its wall time and its own peak resident set in KiB. A command
/// that fails stops the benchmark with its output.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its rusage
fn measure(cmd: &mut Command) -> (Duration, u64) {
    let start = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let mut status = 0;
    // SAFETY: rusage is plain data filled by the kernel; pid is our child, reaped here once.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    let err = reader.join().unwrap_or_default();
    assert!(r == pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    assert!(code == 0 || code == 1, "{cmd:?} exited {code}:\n{err}");
    (wall, usage.ru_maxrss as u64)
}

fn output(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run");
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A Python with polars: the venv under `dir`, made once.
fn polars_venv(dir: &Path) -> PathBuf {
    let python = dir.join("bin/python");
    if !python.exists() {
        output(Command::new("python3").args(["-m", "venv"]).arg(dir));
        output(Command::new(dir.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "polars",
        ]));
    }
    python
}

/// Write the job's round (spec, margins, responses) into `dir` unless it is there already.
fn generate(dir: &Path, rows: usize) {
    let stamp = dir.join("generated");
    let want = format!("{GENERATOR}, {rows} rows\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return;
    }
    std::fs::create_dir_all(dir).expect("round dir");
    std::fs::write(dir.join("survey.toml"), spec()).expect("survey.toml");
    let mut rng = ChaCha8Rng::seed_from_u64(rows as u64);
    let mut u = move |k: u64| rng.next_u64() % k;
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(dir.join("responses.csv")).expect("csv"));
    let mut head = vec![
        "org_id".to_string(),
        "subsector".into(),
        "size".into(),
        "region".into(),
        "suppliers".into(),
    ];
    head.extend((1..=ITEMS).map(|i| format!("q{i:02}")));
    writeln!(f, "{}", head.join(",")).expect("write");
    let mut line = String::new();
    for r in 0..rows {
        // Subsectors and sizes skewed, as the sector is; each organization's maturity drives
        // its answers.
        let s = [0, 0, 0, 1, 1, 2, 2, 3, 4, 5][u(10) as usize];
        let z = [0, 0, 1, 1, 1, 2][u(6) as usize];
        let g = u(4) as usize;
        let level = 1 + u(4) + u(2) * (s as u64 % 2);
        line.clear();
        line.push_str(&format!(
            "O{r:07},{},{},{},{}",
            SUBSECTORS[s],
            SIZES[z],
            REGIONS[g],
            u(400)
        ));
        for _ in 0..ITEMS {
            line.push(',');
            match u(40) {
                0 => {}              // skipped
                1 => line.push('8'), // don't know
                _ => {
                    let a = (level + u(3)).clamp(2, 6) - 1;
                    line.push(char::from(b'0' + a as u8));
                }
            }
        }
        writeln!(f, "{line}").expect("write");
    }
    f.flush().expect("flush");
    // Raking targets: a population ten times the sample, with sizes in other shares than the
    // sample's (so the weights vary).
    let mut pop = String::from("variable,level,count\n");
    let rows = rows as u64;
    for (s, percent) in SUBSECTORS.iter().zip([30u64, 20, 20, 10, 10, 10]) {
        pop.push_str(&format!("subsector,{s},{}\n", rows * percent / 10));
    }
    for (z, percent) in SIZES.iter().zip([40u64, 40, 20]) {
        pop.push_str(&format!("size,{z},{}\n", rows * percent / 10));
    }
    for r in REGIONS {
        pop.push_str(&format!("region,{r},{}\n", rows * 10 / 4));
    }
    std::fs::write(dir.join("population.csv"), pop).expect("population.csv");
    std::fs::write(&stamp, want).expect("stamp");
}

/// The job's survey.toml.
fn spec() -> String {
    let mut s = String::from(
        r#"# The scale benchmark's job (benches/scale.rs): generated, not real data.
[survey]
id = "scale-bench"
round = "1"
title = "Scale benchmark job"
tlp = "CLEAR"

[[sources]]
path = "responses.csv"
layout = "plain"

[respondent]
key = "org_id"

[scales.agree5]
options = [
  { code = 1, label = "Strongly disagree", score = 0 },
  { code = 2, label = "Disagree", score = 1 },
  { code = 3, label = "Neither agree nor disagree", score = 2 },
  { code = 4, label = "Agree", score = 3 },
  { code = 5, label = "Strongly agree", score = 4 },
]
missing = [{ code = 8, label = "Don't know" }]

[[questions]]
id = "org_id"
text = "Organization"
type = "text"

[[questions]]
id = "subsector"
text = "Subsector"
type = "single"
options = [
  { code = "dpc", label = "Direct patient care" },
  { code = "plb", label = "Pharmaceuticals, laboratories and blood" },
  { code = "medtech", label = "Medical technology" },
  { code = "payer", label = "Health plans and payers" },
  { code = "hit", label = "Health information technology" },
  { code = "public_health", label = "Public health" },
]

[[questions]]
id = "size"
text = "Size"
type = "single"
options = [
  { code = "small", label = "Small" },
  { code = "medium", label = "Medium" },
  { code = "large", label = "Large" },
]

[[questions]]
id = "region"
text = "Region"
type = "single"
options = [
  { code = "northeast", label = "Northeast" },
  { code = "midwest", label = "Midwest" },
  { code = "south", label = "South" },
  { code = "west", label = "West" },
]

[[questions]]
id = "suppliers"
text = "Critical suppliers"
type = "numeric"
range = [0, 100000]
"#,
    );
    for i in 1..=ITEMS {
        let domain = (i - 1) % 10 + 1;
        s.push_str(&format!(
            "\n[[questions]]\nid = \"q{i:02}\"\ntext = \"Item {i}\"\ntype = \"likert\"\nscale = \"agree5\"\ndomain = \"GV.SC-{domain:02}\"\n"
        ));
    }
    for d in 1..=10 {
        s.push_str(&format!(
            "\n[[domains]]\nid = \"GV.SC-{d:02}\"\ntitle = \"Domain {d}\"\n"
        ));
    }
    s.push_str(
        r#"
[scoring]
tiers = [
  { name = "Low", below = 25 },
  { name = "Moderate", below = 50 },
  { name = "High", below = 75 },
  { name = "Critical" },
]

[design]
population = "population.csv"

[weighting]
method = "rake"
variables = ["subsector", "size", "region"]

[segments]
variables = ["subsector"]
crosses = [["subsector", "size"]]

[[metrics]]
id = "JOB.RISK.MEDIAN"
version = 1
title = "Median risk index"
kind = "quantile"
variable = "risk_index"
probs = [0.5]
definition = "Median risk index"

[[metrics]]
id = "JOB.RISK.HIGH"
version = 1
title = "High or critical risk"
kind = "proportion"
variable = "risk_tier"
levels = ["High", "Critical"]
definition = "Share of organizations at high or critical risk"
"#,
    );
    for i in 1..=ITEMS {
        s.push_str(&format!(
            "\n[[metrics]]\nid = \"JOB.Q{i:02}\"\nversion = 1\ntitle = \"Item {i}\"\nkind = \"mean\"\nvariable = \"q{i:02}\"\ndefinition = \"Mean score of item {i}\"\n"
        ));
    }
    s
}

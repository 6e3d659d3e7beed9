//! The command line: argument parsing (clap derive) and one function per subcommand. `main.rs`
//! only calls [`main_with_args`]; everything here returns an exit code instead of exiting, so it
//! can run many times in one process (tests do).

mod clearinghouse;
mod draft;
mod init;
mod inspect;
mod metrics;
mod redcap;
mod validate;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::{Error, EXIT_ERROR, EXIT_OK, EXIT_QUALITY_GATE};
use crate::pipeline::{run, RunOptions};
use crate::synth::{synth, SynthOptions};

/// `--version`: the package version, the git commit of the source and its date (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SUPPLYRISK_GIT_COMMIT"),
    ", ",
    env!("SUPPLYRISK_SOURCE_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "supplyrisk",
    version = VERSION,
    about = "Survey pipeline for health-sector supply-chain cybersecurity: ingest, clean, score, weight, estimate, report.",
    after_help = "Exit codes: 0 success; 1 the run completed but failed a quality gate; 2 usage, input or data error."
)]
pub struct Cli {
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline on a round and write its output folder.
    Run {
        /// Round directory holding survey.toml.
        round_dir: PathBuf,
        /// Output folder (default: output/<round folder name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// An earlier round's output folder: adds the round-over-round chart and table.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// Print each stage's wall time and peak memory to stderr (nothing is written).
        #[arg(long)]
        timings: bool,
    },
    /// Check a round's spec and data without writing anything.
    Validate {
        /// Round directory holding survey.toml.
        round_dir: PathBuf,
    },
    /// Show what supplyrisk reads from one file, without a spec.
    Inspect {
        /// A CSV/text file or a workbook.
        file: PathBuf,
        /// Workbook sheet name or 1-based index.
        #[arg(long)]
        sheet: Option<String>,
        /// Export layout (default: detect).
        #[arg(long, value_parser = ["auto", "qualtrics", "surveymonkey", "msforms", "redcap", "plain"], default_value = "auto")]
        layout: String,
        /// 1-based row of the header, when detection picks the wrong one.
        #[arg(long)]
        header_row: Option<usize>,
        /// Text encoding, when it is not UTF-8/UTF-16 with BOM (e.g. windows-1252).
        #[arg(long)]
        encoding: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// How many of each column's most frequent answers to list (0: none).
        #[arg(long, default_value_t = crate::ingest::ANSWERS_SHOWN)]
        top: usize,
    },
    /// Scaffold a new round: a commented survey.toml to fill in.
    Init {
        /// Directory to create the round in.
        round_dir: PathBuf,
        /// Draft the questions from a REDCap data dictionary (CSV).
        #[arg(long, value_name = "FILE")]
        from_redcap_dictionary: Option<PathBuf>,
        /// Draft the whole spec from one or more exports (CSV or workbooks, any layout): copies
        /// them into the round folder and writes survey.toml and a placeholder population.csv.
        #[arg(long, value_name = "EXPORT", num_args = 1.., conflicts_with = "from_redcap_dictionary")]
        from: Vec<PathBuf>,
    },
    /// Re-run the round recorded in an output folder's manifest and compare every file.
    Verify {
        /// An output folder written by `supplyrisk run`.
        out_dir: PathBuf,
        /// The round folder, when it is not where the manifest says (another working directory).
        #[arg(long)]
        round: Option<PathBuf>,
    },
    /// Round-over-round change of every metric and segment in two outputs of one survey.
    Compare {
        /// The earlier round's output folder.
        out_a: PathBuf,
        /// The later round's output folder.
        out_b: PathBuf,
        /// Where to write comparison.csv and the trend chart (default: compare-<A>-<B> beside B).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The metric catalog: list it, or lock new metric versions.
    Metrics {
        #[command(subcommand)]
        action: MetricsCommand,
    },
    /// One HTML page per responding organization: its own scores beside its peers' and the
    /// sector's published estimates (internal: for that organization only).
    Benchmark {
        /// An output folder written by `supplyrisk run`.
        out_dir: PathBuf,
        /// Only the organization with this respondent key (repeatable; default: every kept response).
        #[arg(long = "org", value_name = "KEY")]
        orgs: Vec<String>,
        /// Where to write (default: <OUT_DIR>/data/benchmarks, listed in its manifest).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The round folder, when it is not where the manifest says.
        #[arg(long)]
        round: Option<PathBuf>,
    },
    /// The clearinghouse store: many rounds' published metrics in one SQLite file.
    Clearinghouse {
        #[command(subcommand)]
        action: ClearinghouseCommand,
    },
    /// Supplier names: propose alias-table additions.
    Suppliers {
        #[command(subcommand)]
        action: SuppliersCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions {
        /// The shell, e.g. `bash`: `supplyrisk completions bash > ~/.local/share/bash-completion/completions/supplyrisk`.
        shell: clap_complete::Shell,
    },
    /// Internal: read a workbook from stdin in a memory-limited child (ingest/contained.rs).
    #[command(name = "__read-workbook", hide = true)]
    ReadWorkbook { file: String, sheet: Option<String> },
    /// Generate a realistic synthetic round (deterministic for a given seed).
    Synth {
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        /// Approximate number of responding organizations.
        #[arg(long, default_value_t = 160)]
        rows: usize,
        /// Round label (its first four digits set the field-period year).
        #[arg(long, default_value = "2024")]
        round: String,
        /// Directory to write the round into.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuppliersCommand {
    /// Propose rows for the alias table (alias,canonical,category + organizations, reason):
    /// names matched only by similarity, and names that matched nothing. Review, then append
    /// the accepted rows' first three columns to the round's suppliers.csv.
    Suggest {
        /// Round directory holding survey.toml.
        round_dir: PathBuf,
        /// Write the CSV here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Where the clearinghouse commands find the store unless `--store` says otherwise.
pub const DEFAULT_STORE: &str = "output/clearinghouse.sqlite";

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SeriesFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ClearinghouseCommand {
    /// Load output folders' published metrics into the store, each checked against its
    /// manifest first (all or nothing: one refused folder adds none).
    Add {
        /// Output folders written by `supplyrisk run`, in the order to add them.
        #[arg(required = true)]
        out_dirs: Vec<PathBuf>,
        /// The store (created when missing).
        #[arg(long, default_value = DEFAULT_STORE)]
        store: PathBuf,
        /// Replace a different output of a round already in the store (recorded in `replacements`).
        #[arg(long)]
        replace: bool,
    },
    /// One metric across every round held, with the change between consecutive rounds.
    Series {
        /// The metric id, e.g. SCRM.RISK.01.
        metric_id: String,
        /// One segment instead of all organizations, e.g. subsector=dpc.
        #[arg(long, value_name = "VAR=VALUE")]
        segment: Option<String>,
        #[arg(long, default_value = DEFAULT_STORE)]
        store: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: SeriesFormat,
    },
    /// The surveys, rounds and metric versions the store holds.
    List {
        #[arg(long, default_value = DEFAULT_STORE)]
        store: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Write the whole store as a Frictionless Data Package (CSV + datapackage.json).
    Export {
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = DEFAULT_STORE)]
        store: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Print the round's metric catalog with each metric's lock status.
    Catalog {
        /// Round directory holding survey.toml.
        round_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Record the round's new metric versions in the survey's lock file.
    Lock {
        /// Round directory holding survey.toml.
        round_dir: PathBuf,
    },
}

/// Print to stdout, ignoring a closed pipe (`supplyrisk … | head` is not an error).
fn say(quiet: bool, text: &str) {
    if !quiet {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }
}

fn report_error(e: &Error) -> u8 {
    eprintln!("error: {e}");
    e.exit_code()
}

/// Parse arguments and run; returns the process exit code.
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    crate::pipeline::limit_malloc_arenas();
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let quiet = cli.quiet;
    match cli.command {
        Command::Run {
            round_dir,
            out,
            previous,
            timings,
        } => {
            let opts = RunOptions {
                round_dir,
                out_dir: out,
                progress: !quiet,
                previous,
                timings,
            };
            match run(&opts) {
                Err(e) => report_error(&e),
                Ok(r) => {
                    let w = &r.weighted;
                    let mut excl: Vec<String> = r
                        .cleaned
                        .log
                        .excluded
                        .iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect();
                    if excl.is_empty() {
                        excl.push("none".into());
                    }
                    let flags: Vec<String> = r
                        .cleaned
                        .log
                        .flagged
                        .iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect();
                    let flagged = if flags.is_empty() {
                        "none".to_string()
                    } else {
                        flags.join(", ")
                    };
                    say(
                        quiet,
                        &format!(
                            "{} round {}: read {} from {}; kept {}, quarantined {} ({}); flagged {}\n\
                             weighting: {}{} to a population of {:.0}; Kish effective n {:.1}\n\
                             estimates: {} for {}\n\
                             report: {}",
                            r.spec.spec.survey.id,
                            r.spec.spec.survey.round,
                            crate::words::count(r.cleaned.rows_read() as i64, "row"),
                            crate::words::count(r.sources.len() as i64, "source"),
                            r.records().len(),
                            r.cleaned.quarantine.len(),
                            excl.join(", "),
                            flagged,
                            w.method,
                            w.passes.map(|p| format!(" ({p} passes)")).unwrap_or_default(),
                            w.population_total,
                            crate::kernels::estimators::kish_ess(&w.weights),
                            crate::words::count(r.estimates.len() as i64, "row"),
                            crate::words::count(r.spec.spec.metrics.len() as i64, "metric"),
                            r.out_dir.join("report.html").display()
                        ),
                    );
                    if let Some(c) = &r.concentration {
                        say(quiet, &format!("suppliers: {}", c.unresolved.sentence()));
                    }
                    if !quiet {
                        for note in r.sources.iter().flat_map(|s| &s.notes) {
                            eprintln!("warning: {note}");
                        }
                    }
                    if let Some(note) = &w.note {
                        say(quiet, &format!("note: {note}"));
                    }
                    for note in &w.design_notes {
                        eprintln!("warning: {note}");
                    }
                    if r.failed_gates.is_empty() {
                        EXIT_OK
                    } else {
                        for g in &r.failed_gates {
                            eprintln!("quality gate failed: {g}");
                        }
                        EXIT_QUALITY_GATE
                    }
                }
            }
        }
        Command::Validate { round_dir } => validate::validate(&round_dir, quiet),
        Command::Metrics { action } => metrics::metrics(action, quiet),
        Command::Clearinghouse { action } => clearinghouse::clearinghouse(action, quiet),
        Command::Benchmark {
            out_dir,
            orgs,
            out,
            round,
        } => {
            let opts = crate::benchmark::BenchmarkOptions {
                out_dir,
                orgs,
                dest: out,
                round,
            };
            match crate::benchmark::benchmark(&opts) {
                Err(e) => report_error(&e),
                Ok(r) => {
                    say(
                        quiet,
                        &format!(
                            "wrote {} to {} ({}; index.csv says which file is whose — for the people who distribute them)",
                            crate::words::count(r.pages as i64, "benchmark"),
                            r.dest.display(),
                            r.tlp.label()
                        ),
                    );
                    EXIT_OK
                }
            }
        }
        Command::Suppliers {
            action: SuppliersCommand::Suggest { round_dir, out },
        } => {
            let rows = match crate::concentration::suggestions_for_round(&round_dir) {
                Ok(r) => r,
                Err(e) => return report_error(&e),
            };
            let table = crate::concentration::suggestions_csv(&rows);
            let written = match &out {
                Some(path) => table.write_csv(path),
                None => {
                    table.write_csv_to(std::io::stdout().lock(), std::path::Path::new("<stdout>"))
                }
            };
            match written {
                Ok(()) => {
                    if out.is_some() {
                        eprintln!("{} suggestions", rows.len());
                    }
                    EXIT_OK
                }
                Err(e) => report_error(&e),
            }
        }
        Command::Compare { out_a, out_b, out } => {
            let name = |p: &std::path::Path| {
                p.file_name()
                    .map_or_else(|| "a".into(), |n| n.to_string_lossy().into_owned())
            };
            let dir = out.unwrap_or_else(|| {
                out_b
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(format!("compare-{}-{}", name(&out_a), name(&out_b)))
            });
            match crate::render::compare::compare(&out_a, &out_b, &dir, 0.95) {
                Err(e) => report_error(&e),
                Ok(c) => {
                    let n = |s: &str| c.changes.iter().filter(|x| x.status == s).count();
                    let significant = c
                        .changes
                        .iter()
                        .filter(|x| x.p_adjusted.is_some_and(|p| p < 0.05))
                        .count();
                    let panel = match c.overlap {
                        Some((both, a, b)) => format!(
                            "{both} organizations answered both rounds (of {a} and {b}): changes use the panel SE where both rounds have the series"
                        ),
                        None => "no organization in both rounds (or no panel data): changes use independent-samples SEs".into(),
                    };
                    say(
                        quiet,
                        &format!(
                            "{} round {} → {}: {} comparable ({} with BH-adjusted p < 0.05), {} suppressed in a round, {} not comparable (version changed)\n{panel}\nwrote {}",
                            c.a.survey_id,
                            c.a.round,
                            c.b.round,
                            n("comparable"),
                            significant,
                            n("suppressed"),
                            n("version_changed"),
                            c.out_dir.join("comparison.csv").display()
                        ),
                    );
                    EXIT_OK
                }
            }
        }
        Command::Verify { out_dir, round } => {
            match crate::verify::verify(&out_dir, round.as_deref()) {
                Err(e) => report_error(&e),
                Ok(v) => {
                    if let Some(note) = &v.version_note {
                        say(quiet, &format!("note: {note}"));
                    }
                    for (what, list) in [
                        ("input changed", &v.changed_inputs),
                        ("output altered", &v.altered_outputs),
                        ("not reproduced", &v.not_reproduced),
                    ] {
                        for item in list {
                            eprintln!("{what}: {item}");
                        }
                    }
                    if v.ok() {
                        say(
                            quiet,
                            &format!(
                                "verified: {} outputs reproduced byte for byte from {}",
                                v.outputs_checked,
                                v.round_dir.display()
                            ),
                        );
                        EXIT_OK
                    } else {
                        eprintln!(
                            "verify failed: {} input(s) changed, {} output(s) altered, {} not reproduced",
                            v.changed_inputs.len(),
                            v.altered_outputs.len(),
                            v.not_reproduced.len()
                        );
                        EXIT_QUALITY_GATE
                    }
                }
            }
        }
        Command::Inspect {
            file,
            sheet,
            layout,
            header_row,
            encoding,
            json,
            top,
        } => {
            let layout: crate::spec::Layout = match toml::Value::String(layout).try_into() {
                Ok(l) => l,
                Err(e) => return report_error(&Error::Usage(e.to_string())),
            };
            let opts = crate::ingest::ReadOptions {
                layout,
                sheet,
                header_row,
                encoding,
            };
            match inspect::inspect(&file, &opts, json, top) {
                Ok(text) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(text.as_bytes());
                    EXIT_OK
                }
                Err(e) => report_error(&e),
            }
        }
        Command::Init {
            round_dir,
            from_redcap_dictionary: _,
            from,
        } if !from.is_empty() => match draft::init_from(&round_dir, &from) {
            Ok(path) => {
                say(quiet, &format!("wrote {} (and population.csv, with the exports copied beside it); check the TODO lines, then: supplyrisk validate {}", path.display(), round_dir.display()));
                EXIT_OK
            }
            Err(e) => report_error(&e),
        },
        Command::Init {
            round_dir,
            from_redcap_dictionary,
            from: _,
        } => match init::init(&round_dir, from_redcap_dictionary.as_deref()) {
            Ok(path) => {
                say(quiet, &format!("wrote {}; fill it in, add the response files, then: supplyrisk validate {}", path.display(), round_dir.display()));
                EXIT_OK
            }
            Err(e) => report_error(&e),
        },
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "supplyrisk", &mut std::io::stdout());
            EXIT_OK
        }
        Command::ReadWorkbook { file, sheet } => {
            crate::ingest::contained::child_main(&file, sheet.as_deref())
        }
        Command::Synth {
            seed,
            rows,
            round,
            out,
        } => match synth(&SynthOptions { seed, rows, round }, &out) {
            Ok(s) => {
                say(
                    quiet,
                    &format!(
                        "wrote {}: population {}, {} responding organizations, {} Qualtrics rows, {} Forms rows",
                        out.display(),
                        s.population,
                        s.respondents,
                        s.qualtrics_rows,
                        s.forms_rows
                    ),
                );
                EXIT_OK
            }
            Err(e) => report_error(&e),
        },
    }
}

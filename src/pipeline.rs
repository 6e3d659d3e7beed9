//! The whole run on one round: ingest → clean → score → weight → estimate → render/export, with
//! the output folder laid out as `docs/output.md` documents and the quality gates evaluated.

pub use crate::published::{PublishedTables, RunResult};

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::clean::{Answer, Cleaned};
use crate::error::{Error, Result};
use crate::estimate::estimate_and_compare;
use crate::spec::QuestionType;
use crate::table::Table;
use crate::weight::{Population, Weighted};
use crate::{clean, disclose, export, ingest, render, score, spec, weight};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub round_dir: PathBuf,
    /// Output folder; default `output/<round folder name>`.
    pub out_dir: Option<PathBuf>,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
    /// An earlier round's output folder, for the round-over-round chart and table.
    pub previous: Option<PathBuf>,
    /// Print each stage's wall time and peak memory to stderr (`--timings`).
    pub timings: bool,
}

/// Default output folder for a round directory: `output/<folder name>`.
pub fn default_out_dir(round_dir: &Path) -> PathBuf {
    let name = round_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "round".to_string());
    PathBuf::from("output").join(name)
}

/// Check that `out` may be replaced (absent, empty, or an earlier supplyrisk output) and make a
/// fresh staging folder beside it, `.<name>.partial-<pid>`: the run writes there and
/// [`publish_out_dir`] renames it into place only when everything is written, so a failed or
/// interrupted run leaves any previous output untouched and no half-written folder at `out`.
fn prepare_out_dir(out: &Path) -> Result<PathBuf> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(|e| Error::io(out, e))?
            .next()
            .is_none();
        if !empty && !out.join("manifest.json").is_file() {
            return Err(Error::Usage(format!(
                "{} exists and was not written by supplyrisk (no manifest.json); choose another --out",
                out.display()
            )));
        }
    }
    let name = out
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    for sub in ["", "data", "tables", "charts", "metrics"] {
        let d = staging.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    Ok(staging)
}

/// Move the finished staging folder to `out`, replacing an earlier output: the old folder is
/// first renamed aside, then the new one into place, then the old one removed.
fn publish_out_dir(staging: &Path, out: &Path) -> Result<()> {
    let aside = staging.with_file_name(
        staging
            .file_name()
            .map(|n| n.to_string_lossy().replace(".partial-", ".replaced-"))
            .unwrap_or_default(),
    );
    let had_old = out.exists();
    if had_old {
        std::fs::rename(out, &aside).map_err(|e| Error::io(out, e))?;
    }
    if let Err(e) = std::fs::rename(staging, out) {
        if had_old {
            // Put the earlier output back.
            let _ = std::fs::rename(&aside, out);
        }
        return Err(Error::io(out, e));
    }
    if had_old {
        std::fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
    }
    Ok(())
}

/// Test hook: `SUPPLYRISK_INJECT_FAILURE=<stage>` makes the run fail after that stage's files
/// are written (`tables`, `render`), to show that a failed run leaves the previous output intact.
fn injected_failure(stage: &str, staging: &Path) -> Result<()> {
    if std::env::var("SUPPLYRISK_INJECT_FAILURE").as_deref() == Ok(stage) {
        return Err(Error::output(
            staging,
            format!("injected failure after the {stage} stage (SUPPLYRISK_INJECT_FAILURE)"),
        ));
    }
    Ok(())
}

const STAGES: [&str; 7] = [
    "spec",
    "ingest",
    "clean",
    "score",
    "weight",
    "estimate",
    "render and export",
];

/// The quality gates a completed run is judged by (exit 1 when any fails): quarantine share,
/// usable responses, row accounting, the cell size against the round, trimming and raking
/// convergence. `validate` evaluates the same gates.
pub fn quality_gates(
    spec: &crate::spec::Spec,
    cleaned: &Cleaned,
    weighted: &Weighted,
) -> Vec<String> {
    let mut failed_gates = Vec::new();
    let read = cleaned.rows_read();
    let share = if read == 0 {
        0.0
    } else {
        cleaned.quarantine.len() as f64 / read as f64
    };
    let q = &spec.quality;
    if share > q.max_quarantine_share {
        failed_gates.push(format!(
            "{:.1}% of rows were quarantined, above quality.max_quarantine_share = {:.1}%",
            share * 100.0,
            q.max_quarantine_share * 100.0
        ));
    }
    if cleaned.records.len() < q.min_responses {
        failed_gates.push(format!(
            "{} usable responses, below quality.min_responses = {}",
            cleaned.records.len(),
            q.min_responses
        ));
    }
    for v in cleaned.log.invariant_violations() {
        failed_gates.push(format!("row accounting broken: {v}"));
    }
    if let Some(t) = weighted.trim.as_ref().filter(|t| !t.settled) {
        failed_gates.push(format!(
            "trimming and re-calibration did not settle in {} rounds: {} weights remain outside [{:.4}, {:.4}] or the margins do not hold",
            t.rounds, t.n_outside_after, t.lower, t.upper
        ));
    } else if !weighted.converged {
        failed_gates.push(format!(
            "{} did not converge in {} passes (largest relative margin error {:.2e})",
            weighted.method,
            weighted.passes.unwrap_or(0),
            weighted.max_rel_error
        ));
    }

    failed_gates.extend(crate::disclose::feasibility_gate(
        spec,
        cleaned.records.len(),
    ));
    failed_gates
}

/// `SUPPLYRISK_DISCLOSURE=primary-only` runs disclosure control without secondary suppression
/// (each table protected on its own, as before the stage existed), for the tests that show what
/// the audit catches; never for publication (the audit then fails the run).
fn disclosure_mode() -> disclose::Mode {
    match std::env::var("SUPPLYRISK_DISCLOSURE").as_deref() {
        Ok("primary-only") => disclose::Mode::PrimaryOnly,
        _ => disclose::Mode::Full,
    }
}

/// Run the pipeline and write every output.
pub fn run(opts: &RunOptions) -> Result<RunResult> {
    let bar = if opts.progress && !opts.timings && std::io::stderr().is_terminal() {
        let b = ProgressBar::new(STAGES.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let step = |i: usize| {
        bar.set_position(i as u64);
        bar.set_message(STAGES[i]);
        crate::bug::set_activity(format!("{} ({})", STAGES[i], opts.round_dir.display()));
    };

    let mut clock = crate::timings::Timings::new(opts.timings);
    step(0);
    let spec = spec::load(&opts.round_dir)?;
    // A metric whose definition changed under a locked version is not published.
    let changed = spec::catalog::check(&spec)?;
    if !changed.is_empty() {
        return Err(Error::Usage(changed.join("\n")));
    }
    let previous = opts
        .previous
        .as_deref()
        .map(|dir| render::PreviousRound::read(dir, &spec.spec.survey.id))
        .transpose()?;
    let population = Population::read(&spec)?;
    clock.stage("spec and population");
    step(1);
    let mut sources = ingest::read_all(&spec)?;
    clock.stage("ingest");
    step(2);
    let cleaned = clean::clean(&spec, &sources, &population.frame())?;
    sources
        .iter_mut()
        .for_each(ingest::SourceTable::release_rows);
    return_freed_memory();
    clock.stage("clean");
    step(3);
    let scores = score::score(&spec.spec, &cleaned.records);
    clock.stage("score");
    step(4);
    let weighted = weight::weight(&spec.spec, &population, &cleaned.records)?;
    clock.stage("weight");
    step(5);
    let out_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| default_out_dir(&opts.round_dir));
    let staging = prepare_out_dir(&out_dir)?;
    // The respondent-level files need nothing the estimates make: they are written beside them
    // (at a million respondents, hundreds of MB that would otherwise wait for the estimates).
    let respondent = RespondentData {
        spec: &spec.spec,
        cleaned: &cleaned,
        scores: &scores,
        weighted: &weighted,
    };
    let (data_written, analysed) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let started = std::time::Instant::now();
            let written = write_respondent_data(&respondent, &staging);
            (written, started.elapsed())
        });
        let analysed = analyse(&spec, &cleaned, &scores, &weighted, &mut clock);
        let (written, took) = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        clock.beside("data: respondent-level", took);
        clock.stage("data: waiting for them");
        (written, analysed)
    });
    // This round's data/panel.csv as just written, stacked on the earlier round's when both
    // have panel data and share organizations (what `compare` does from two output folders).
    let with_panel = |a: Analysis| -> Result<(Analysis, Option<crate::previous::Panel>)> {
        let Some(prev) = &previous else {
            return Ok((a, None));
        };
        let panel = match crate::previous::PanelData::read(&prev.dir)? {
            Some(before) => crate::previous::PanelData::read(&staging)?
                .and_then(|now| crate::previous::Panel::new(before, now)),
            None => None,
        };
        clock.stage("panel with the previous round");
        Ok((a, panel))
    };
    let analysed = analysed
        .and_then(|a| data_written.map(|()| a))
        .and_then(with_panel);
    let (
        Analysis {
            estimates,
            comparisons,
            distributions,
            weight_summary,
            disclosure,
            failed_gates,
            concentration,
            models,
            models_not_fitted,
        },
        panel,
    ) = match analysed {
        Ok(a) => a,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };

    step(6);
    let mut result = RunResult {
        spec,
        population,
        sources,
        cleaned,
        scores,
        weighted,
        estimates,
        comparisons,
        distributions,
        weight_summary,
        disclosure,
        out_dir: staging.clone(),
        failed_gates,
        previous,
        panel,
        concentration,
        models,
        models_not_fitted,
    };
    let written = (|| {
        let published = write_data(&result)?;
        clock.stage("tables");
        injected_failure("tables", &staging)?;
        render::write_all(&result)?;
        clock.stage("charts and report");
        render::write_tables_workbook(&result, &published)?;
        clock.stage("workbook");
        injected_failure("render", &staging)?;
        export::write_all(&result, &published)?;
        clock.stage("metrics and manifest");
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    publish_out_dir(&staging, &out_dir)?;
    result.out_dir = out_dir;
    bar.finish_and_clear();
    clock.stage("publish");
    clock.finish();
    Ok(result)
}

/// What the stages after weighting produce, before anything is written.
struct Analysis {
    estimates: Vec<crate::estimate::EstimateRow>,
    comparisons: Vec<crate::estimate::ComparisonRow>,
    distributions: Vec<crate::estimate::DistributionRow>,
    weight_summary: Vec<crate::estimate::WeightSummaryRow>,
    disclosure: disclose::Disclosure,
    failed_gates: Vec<String>,
    concentration: Option<crate::concentration::Analysis>,
    models: Vec<crate::estimate::ModelRow>,
    models_not_fitted: Vec<(String, String)>,
}

/// Estimates, concentration, comparisons, distributions, models, disclosure control and the
/// quality gates.
fn analyse(
    spec: &spec::LoadedSpec,
    cleaned: &Cleaned,
    scores: &score::Scores,
    weighted: &Weighted,
    clock: &mut crate::timings::Timings,
) -> Result<Analysis> {
    // Computed once: the tables, the report and the charts all read them.
    let (mut estimates, mut comparisons) =
        estimate_and_compare(&spec.spec, &cleaned.records, scores, weighted);
    clock.stage("estimates and comparisons");
    let concentration = crate::concentration::analyse(spec, &cleaned.records, weighted)?;
    if let Some(c) = &concentration {
        estimates.extend(c.metric_rows.iter().cloned());
        clock.stage("concentration");
    }
    let mut distributions =
        crate::estimate::distributions(&spec.spec, &cleaned.records, scores, weighted);
    let mut weight_summary =
        crate::estimate::weight_summary(&spec.spec, &cleaned.records, weighted);
    clock.stage("distributions, weights");
    let crate::estimate::Models {
        rows: mut models,
        not_fitted: models_not_fitted,
    } = crate::estimate::models(&spec.spec, &cleaned.records, scores, weighted);
    if !spec.spec.models.is_empty() {
        clock.stage("models");
    }
    let mut concentration = concentration;
    crate::bug::set_activity(format!("disclose ({})", spec.dir.display()));
    let disclosure = disclose::disclose(
        &spec.spec,
        &cleaned.records,
        scores,
        weighted,
        disclose::Results {
            estimates: &mut estimates,
            comparisons: &mut comparisons,
            distributions: &mut distributions,
            weight_summary: &mut weight_summary,
            concentration: concentration.as_mut(),
            models: &mut models,
        },
        disclosure_mode(),
    );
    clock.stage("disclose");

    let mut failed_gates = quality_gates(&spec.spec, cleaned, weighted);
    if let Some(c) = &concentration {
        failed_gates.extend(
            c.unresolved
                .gate(spec.spec.quality.max_unresolved_supplier_share),
        );
    }
    failed_gates.extend(disclosure.failures.iter().cloned());
    failed_gates.extend(
        models_not_fitted
            .iter()
            .map(|(id, why)| format!("model `{id}` ([[models]]) was not fitted: {why}")),
    );
    clock.stage("quality gates");

    Ok(Analysis {
        estimates,
        comparisons,
        distributions,
        weight_summary,
        disclosure,
        failed_gates,
        concentration,
        models,
        models_not_fitted,
    })
}

/// At most one glibc malloc arena per core, set before any thread starts. By default glibc
/// gives threads up to eight arenas per core, and memory one thread frees stays in its arena
/// where another thread's allocations cannot reuse it: with the respondent-level files written
/// beside the estimates, that was 75 MiB more peak memory at a million rows, for no speed.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a glibc tunable; it takes no pointers.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Hand the pages of freed allocations back to the system. The rows read are millions of small
/// allocations freed at once when cleaning is done; glibc keeps those pages as part of the heap
/// (they sit below live allocations, so it cannot shrink the heap), and without this they count
/// in the process's memory until it exits.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap and releases free pages; it takes no
    // pointers of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `R0001`-style respondent ids in record order (never the organization's key).
pub fn respondent_ids(n: usize) -> Vec<String> {
    let width = n.to_string().len().max(4);
    (1..=n).map(|i| format!("R{i:0width$}")).collect()
}

/// The respondent-level analysis table's rows `at` (record positions): provenance, answers
/// (identifying questions left out), scores and weights. It is written a row group at a time,
/// so a large round never holds it whole.
pub fn clean_table(r: &RespondentData<'_>, at: std::ops::Range<usize>) -> Table {
    let s = r.spec;
    let recs = &r.cleaned.records;
    let n = recs.len();
    let rows = &recs.rows()[at.clone()];
    let width = n.to_string().len().max(4);
    let mut t = Table::new();
    t.text(
        "respondent",
        at.clone().map(|i| Some(format!("R{:0width$}", i + 1))),
    )
    .codes("source_file", rows.iter().map(|x| Some(x.file())))
    .codes("source_sheet", rows.iter().map(|x| x.sheet()))
    .int("source_row", rows.iter().map(|x| Some(x.row as i64)))
    .text("submitted", rows.iter().map(|x| x.submitted.as_deref()))
    .boolean("finished", rows.iter().map(|x| x.finished))
    .text(
        "flags",
        rows.iter().map(|x| {
            Some(
                x.flags
                    .iter()
                    .map(|f| f.code())
                    .collect::<Vec<_>>()
                    .join(";"),
            )
        }),
    );
    for (qi, q) in s.questions.iter().enumerate() {
        if s.respondent.identifying.contains(&q.id) {
            continue;
        }
        // Column by column; what a cell shows depends on the answer alone, so it is worked
        // out once per distinct answer and looked up per record.
        let column = recs.column(qi);
        let answers = || at.clone().map(|i| column.get(i));
        let per_record = |per_value: &[Option<i64>]| -> Vec<Option<i64>> {
            at.clone().map(|i| per_value[column.slot(i)]).collect()
        };
        match q.kind {
            QuestionType::Numeric => {
                t.float(&q.id, answers().map(Answer::as_number));
            }
            QuestionType::Text => {
                t.text(&q.id, answers().map(|a| a.as_text().map(str::to_string)));
            }
            QuestionType::Multi => {
                for o in s.options(q) {
                    let per_value: Vec<Option<i64>> = column
                        .values()
                        .iter()
                        .map(|a| match a {
                            Answer::Codes(cs) => Some(i64::from(cs.contains(&o.code.0))),
                            _ => None,
                        })
                        .collect();
                    t.int(&format!("{}.{}", q.id, o.code), per_record(&per_value));
                }
            }
            _ => {
                // The options' codes, then the declared missing codes: a choice is its index.
                let options = s.options(q);
                let missing: Vec<String> = s
                    .missing_codes(q)
                    .iter()
                    .map(|m| m.code.0.clone())
                    .collect();
                let mut levels: Vec<String> = options.iter().map(|o| o.code.0.clone()).collect();
                levels.extend(missing.iter().cloned());
                let per_value: Vec<Option<u32>> = column
                    .values()
                    .iter()
                    .map(|a| match a {
                        Answer::Code(c) => Some(u32::from(c.index)),
                        Answer::Missing(c) => missing
                            .iter()
                            .position(|m| **m == **c)
                            .map(|i| (options.len() + i) as u32),
                        _ => None,
                    })
                    .collect();
                t.indexed(&q.id, levels, at.clone().map(|i| per_value[column.slot(i)]));
            }
        }
    }
    let maturity = &r.scores.maturity;
    for (d, m) in r.scores.domains.iter().zip(maturity) {
        t.float(&format!("maturity:{d}"), m.range(at.clone()));
    }
    for (d, m) in r.scores.domains.iter().zip(maturity) {
        t.int(
            &format!("tier:{d}"),
            m.range(at.clone())
                .map(|x| x.map(|x| i64::from(crate::score::maturity_tier(x)))),
        );
    }
    let w = &r.weighted;
    t.float("risk_index", r.scores.risk_index.range(at.clone()))
        .codes(
            "risk_tier",
            r.scores.tier[at.clone()]
                .iter()
                .map(|x| x.map(|i| s.scoring.tiers[usize::from(i)].name.as_str())),
        )
        .float(
            "base_weight",
            w.base_weights[at.clone()].iter().map(|w| Some(*w)),
        )
        .float(
            "calibrated_weight",
            w.calibrated_weights[at.clone()].iter().map(|w| Some(*w)),
        )
        .float("weight", w.weights[at].iter().map(|w| Some(*w)));
    t
}

/// Every quarantined row with its reasons and original values (identifying values masked).
pub fn quarantine_table(r: &RespondentData<'_>) -> Table {
    let s = r.spec;
    let q = &r.cleaned.quarantine;
    let mut t = Table::new();
    t.text("source_file", q.iter().map(|x| Some(x.file.clone())))
        .text("source_sheet", q.iter().map(|x| x.sheet.clone()))
        .int("source_row", q.iter().map(|x| Some(x.row as i64)))
        .text(
            "reasons",
            q.iter().map(|x| {
                Some(
                    x.reasons
                        .iter()
                        .map(|r| r.code())
                        .collect::<Vec<_>>()
                        .join(";"),
                )
            }),
        )
        .text("message", q.iter().map(|x| Some(x.message.clone())));
    for (qi, question) in s.questions.iter().enumerate() {
        let mask = s.respondent.identifying.contains(&question.id);
        t.text(
            &question.id,
            q.iter().map(|x| {
                let v = &x.raw[qi];
                Some(if mask && !v.trim().is_empty() {
                    "[masked]".to_string()
                } else {
                    v.clone()
                })
            }),
        );
    }
    t
}

/// One cleaning-log row: kind, source, question, rule, from, to, count, similarity.
type LogRow = (
    &'static str,
    String,
    String,
    String,
    String,
    String,
    Option<usize>,
    Option<f64>,
);

/// The cleaning log: one long table of rows read, kept, quarantined and flagged per source,
/// exclusions and flags per rule, recodes, unbound questions and notes.
pub fn cleaning_log_table(r: &RunResult) -> Table {
    let log = &r.cleaned.log;
    let mut rows: Vec<LogRow> = Vec::new();
    let e = String::new;
    for (src, c) in &log.sources {
        for (kind, n) in [
            ("rows_read", c.read),
            ("rows_kept", c.kept),
            ("rows_quarantined", c.quarantined),
            ("rows_flagged", c.flagged),
        ] {
            rows.push((kind, src.clone(), e(), e(), e(), e(), Some(n), None));
        }
    }
    for (kind, counts) in [("excluded", &log.excluded), ("flagged", &log.flagged)] {
        for (reason, n) in counts {
            rows.push((kind, e(), e(), (*reason).into(), e(), e(), Some(*n), None));
        }
    }
    if let (Some(med), Some(thr)) = (log.speeder_median_secs, log.speeder_threshold_secs) {
        rows.push((
            "speeder_threshold",
            e(),
            e(),
            "speeder".into(),
            format!("median {med:.0} s"),
            format!("below {thr:.0} s"),
            None,
            None,
        ));
    }
    for ((q, from, to, how), rc) in &log.recodes {
        rows.push((
            "recode",
            e(),
            q.clone(),
            (*how).into(),
            from.clone(),
            to.clone(),
            Some(rc.count),
            rc.similarity,
        ));
    }
    for (src, q) in &log.unbound {
        rows.push((
            "question_not_in_source",
            src.clone(),
            q.clone(),
            e(),
            e(),
            e(),
            None,
            None,
        ));
    }
    for note in &log.notes {
        rows.push(("note", e(), e(), e(), note.clone(), e(), None, None));
    }
    let mut t = Table::new();
    t.text("kind", rows.iter().map(|r| Some(r.0)))
        .text("source", rows.iter().map(|r| Some(r.1.clone())))
        .text("question", rows.iter().map(|r| Some(r.2.clone())))
        .text("rule", rows.iter().map(|r| Some(r.3.clone())))
        .text("from", rows.iter().map(|r| Some(r.4.clone())))
        .text("to", rows.iter().map(|r| Some(r.5.clone())))
        .int("count", rows.iter().map(|r| r.6.map(|n| n as i64)))
        .float("similarity", rows.iter().map(|r| r.7));
    t
}

/// Target vs achieved weighted totals per weighting-variable level.
pub fn weighting_table(r: &RunResult) -> Table {
    let m = &r.weighted.margins;
    let mut t = Table::new();
    t.text("variable", m.iter().map(|x| Some(x.variable.clone())))
        .text("level", m.iter().map(|x| Some(x.level.clone())))
        .float("population", m.iter().map(|x| Some(x.population)))
        .int("respondents", m.iter().map(|x| Some(x.respondents as i64)))
        .float("base_weighted", m.iter().map(|x| Some(x.base_total)))
        .float("weighted", m.iter().map(|x| Some(x.weighted_total)));
    t
}

/// What the respondent-level files are made from — the stages up to weighting, nothing the
/// estimates produce — so they can be written while the estimates are computed.
pub struct RespondentData<'a> {
    pub spec: &'a crate::spec::Spec,
    pub cleaned: &'a Cleaned,
    pub scores: &'a score::Scores,
    pub weighted: &'a Weighted,
}

/// `data/clean.csv` and `.parquet`, `data/quarantine.csv` and `data/panel.csv` into `out_dir`
/// (the staging folder), each a row group at a time.
fn write_respondent_data(r: &RespondentData<'_>, out_dir: &Path) -> Result<()> {
    let data = out_dir.join("data");
    let n = r.cleaned.records.len();
    Table::write_both_in_groups(&data, "clean", n, |at| clean_table(r, at))?;
    quarantine_table(r).write_csv(&data.join("quarantine.csv"))?;
    let panel = data.join("panel.csv");
    let file = std::fs::File::create(&panel).map_err(|e| Error::io(&panel, e))?;
    crate::estimate::write_panel_csv(
        r.spec,
        &r.cleaned.records,
        r.scores,
        r.weighted,
        std::io::BufWriter::new(file),
        &panel,
    )
}

fn write_data(r: &RunResult) -> Result<PublishedTables> {
    let data = r.out_dir.join("data");
    let tables = r.out_dir.join("tables");
    let estimates = crate::estimate::estimates_table(&r.estimates);
    estimates.write_both(&tables, "estimates")?;
    let comparisons = crate::estimate::comparisons_table(&r.comparisons);
    comparisons.write_both(&tables, "comparisons")?;
    let distributions = crate::estimate::distributions_table(&r.distributions);
    distributions.write_both(&tables, "distributions")?;
    cleaning_log_table(r).write_csv(&tables.join("cleaning_log.csv"))?;
    weighting_table(r).write_both(&tables, "weighting")?;
    let weight_summary = crate::estimate::weight_summary_table(&r.weight_summary);
    weight_summary.write_both(&tables, "weight_summary")?;
    crate::disclose::audit_table(&r.disclosure.audit)
        .write_csv(&tables.join("disclosure_audit.csv"))?;
    let concentration = match &r.concentration {
        Some(c) => {
            use crate::concentration as conc;
            conc::matches_table(c).write_csv(&tables.join("supplier_matches.csv"))?;
            conc::mentions_table(c, &respondent_ids(r.records().len()))
                .write_csv(&data.join("supplier_mentions.csv"))?;
            let by_category = conc::concentration_table(c);
            by_category.write_both(&tables, "concentration")?;
            let dependency = conc::dependency_table(c, c.tlp);
            dependency.write_both(&tables, "supplier_dependency")?;
            Some((by_category, dependency))
        }
        None => None,
    };
    let metrics = export::metrics_table(r);
    let models = if r.spec.spec.models.is_empty() {
        None
    } else {
        let t = crate::estimate::models_table(&r.models);
        t.write_both(&tables, "models")?;
        Some(t)
    };
    Ok(PublishedTables {
        models,
        estimates,
        comparisons,
        distributions,
        weight_summary,
        concentration,
        metrics,
    })
}

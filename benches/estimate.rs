//! Estimation benchmark (not a test): every mean and proportion of the example instrument for
//! 1,000,000 respondents, overall and by 6 subsectors, 3 sizes and the 18 subsector × size
//! cells (28 segments), with linearized SEs over the stratified, FPC, post-stratified design;
//! then the risk-index quantiles with Woodruff intervals by the 18 cells.
//!
//!     cargo bench --bench estimate
//!
//! The round is `common::round_dir()` (the example's Qualtrics rows replicated to 1M) with its
//! metrics replaced by one per item: a distribution (every level or option) for each single,
//! Likert, yes/no and multi-select question, a mean for each numeric one, the risk-index mean
//! and tier distribution. Ingest, cleaning, scoring and weighting run first and are not timed.
//! Targets (issue 6): the means and proportions under 3 s; the quantiles under 1 s.

use std::time::Instant;

use supplyrisk::clean::clean;
use supplyrisk::estimate::estimate;
use supplyrisk::ingest::read_all;
use supplyrisk::spec::{load, QuestionType};
use supplyrisk::weight::{weight, Population};

#[path = "common/mod.rs"]
mod common;

use common::{peak_rss_mib, round_dir};

/// Bench round: the 1M responses with one metric per item and the 28 segments.
fn bench_dir() -> std::path::PathBuf {
    let source = round_dir();
    let dir = source.parent().unwrap().join("estimate-1m");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(source.join("survey.toml")).unwrap();
    let spec = load(&source).expect("spec");
    // Keep everything up to the segments; then our segments and metrics.
    let head = &text[..text.find("[segments]").expect("segments table")];
    common::link_responses(&source, &dir);
    common::write_scaled_population(&source, &dir);
    let mut out = head.to_string();
    out.push_str("[segments]\nvariables = [\"subsector\", \"size\"]\ncrosses = [[\"subsector\", \"size\"]]\n\n");
    let mut metric = |id: &str, kind: &str, variable: &str| {
        out.push_str(&format!(
            "[[metrics]]\nid = \"BENCH.{id}\"\nversion = 1\ntitle = \"{id}\"\nkind = \"{kind}\"\nvariable = \"{variable}\"\ndefinition = \"bench\"\n\n"
        ));
    };
    metric("RISK", "mean", "risk_index");
    metric("TIER", "distribution", "risk_tier");
    let mut items = 0;
    for q in &spec.spec.questions {
        if spec.spec.respondent.identifying.contains(&q.id) || q.id == spec.spec.respondent.key {
            continue;
        }
        match q.kind {
            QuestionType::Text => {}
            QuestionType::Numeric => metric(&q.id, "mean", &q.id),
            _ => metric(&q.id, "distribution", &q.id),
        }
        items += 1;
    }
    std::fs::write(dir.join("survey.toml"), out).unwrap();
    println!("bench round: {items} items");
    dir
}

fn main() {
    let dir = bench_dir();
    let spec = load(&dir).expect("spec");
    let pop = Population::read(&spec).expect("population");
    let sources = read_all(&spec).expect("ingest");
    let mut cleaned = clean(&spec, &sources, &pop.frame()).expect("clean");
    drop(sources);
    // Cleaning keeps ~91 % of the rows (duplicates, tests, previews go); top the kept records
    // up to exactly one million by repeating the first ones.
    let kept = cleaned.records.len();
    let cycled: Vec<usize> = (0..common::ROWS.max(kept)).map(|i| i % kept).collect();
    cleaned.records = cleaned.records.select(&cycled);
    let scores = supplyrisk::score::score(&spec.spec, &cleaned.records);
    let weighted = weight(&spec.spec, &pop, &cleaned.records).expect("weight");
    let n = cleaned.records.len();
    let mut best = f64::INFINITY;
    let mut rows = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        rows = estimate(&spec.spec, &cleaned.records, &scores, &weighted);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let segments: std::collections::BTreeSet<_> = rows
        .iter()
        .map(|r| (r.segment_var.clone(), r.segment_value.clone()))
        .collect();
    println!(
        "means and proportions: {n} respondents, {} metrics, {} segments, {} estimates in {best:.3} s (best of 3)",
        spec.spec.metrics.len(),
        segments.len(),
        rows.len()
    );
    // Quantiles of the index by the 18 cells (and the coarser segments) alone.
    let mut qspec = spec.spec.clone();
    qspec.metrics.retain(|m| m.id == "BENCH.RISK");
    qspec.metrics[0].kind = supplyrisk::spec::MetricKind::Quantile;
    qspec.metrics[0].probs = vec![0.1, 0.25, 0.5, 0.75, 0.9];
    qspec.segments.variables.clear();
    let mut best_q = f64::INFINITY;
    let mut q_rows = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        q_rows = estimate(&qspec, &cleaned.records, &scores, &weighted);
        best_q = best_q.min(t.elapsed().as_secs_f64());
    }
    println!(
        "quantiles p10–p90 of the risk index with Woodruff CIs, overall + 18 cells: {} estimates in {best_q:.3} s (best of 3); peak RSS {:.0} MiB",
        q_rows.len(),
        peak_rss_mib()
    );
}

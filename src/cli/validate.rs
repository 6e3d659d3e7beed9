//! `supplyrisk validate`: every check a run would make before writing anything — the spec, the
//! population targets, each source file, the questions' columns, the cleaning rules and the
//! weighting — reported together. Exit 0 when clean, 2 with every problem listed otherwise.

use std::path::Path;

use crate::error::{EXIT_ERROR, EXIT_OK, EXIT_QUALITY_GATE};
use crate::weight::Population;
use crate::{clean, ingest, spec, weight};

const EXAMPLES: usize = 3;

fn place(file: &str, sheet: Option<&str>, row: usize) -> String {
    match sheet {
        Some(s) => format!("{file} [{s}] row {row}"),
        None => format!("{file} row {row}"),
    }
}

/// The cleaning outcome: counts per source and per rule, with the first examples of each.
fn cleaning_report(c: &clean::Cleaned) -> Vec<String> {
    let mut out = vec![format!(
        "cleaning: {} read, {} kept, {} would be quarantined, {} kept with flags",
        crate::words::count(c.rows_read() as i64, "row"),
        c.records.len(),
        c.quarantine.len(),
        c.records.iter().filter(|r| !r.flags.is_empty()).count()
    )];
    for (src, n) in &c.log.sources {
        out.push(format!(
            "  {src}: read {}, kept {}, quarantined {}, flagged {}",
            n.read, n.kept, n.quarantined, n.flagged
        ));
    }
    for (reason, n) in &c.log.excluded {
        let examples: Vec<String> = c
            .quarantine
            .iter()
            .filter(|q| q.reasons.iter().any(|r| r.code() == *reason))
            .take(EXAMPLES)
            .map(|q| {
                format!(
                    "{}: {}",
                    place(&q.file, q.sheet.as_deref(), q.row),
                    q.message
                )
            })
            .collect();
        out.push(format!(
            "  quarantined {reason} ({n}): {}{}",
            examples.join("; "),
            if *n > EXAMPLES { "; …" } else { "" }
        ));
    }
    for (flag, n) in &c.log.flagged {
        let examples: Vec<String> = c
            .records
            .iter()
            .filter(|r| r.flags.iter().any(|f| f.code() == *flag))
            .take(EXAMPLES)
            .map(|r| place(r.file(), r.sheet(), r.row))
            .collect();
        out.push(format!(
            "  flagged {flag} ({n}): {}{}",
            examples.join(", "),
            if *n > EXAMPLES { ", …" } else { "" }
        ));
    }
    let mut by_how: std::collections::BTreeMap<&str, (usize, Vec<String>)> =
        std::collections::BTreeMap::new();
    for ((q, from, to, how), rc) in &c.log.recodes {
        let e = by_how.entry(how).or_default();
        e.0 += rc.count;
        if e.1.len() < EXAMPLES {
            e.1.push(format!("{q}: `{from}` → {to}"));
        }
    }
    for (how, (n, examples)) in by_how {
        out.push(format!("  recoded {how} ({n}): {}", examples.join("; ")));
    }
    out
}

/// What a question is to the design, when it is more than an item: a segment, stratum, cluster
/// or weighting variable.
fn variable_role(spec: &crate::spec::Spec, q: &str) -> Option<&'static str> {
    if spec.design.strata.as_deref() == Some(q) {
        Some("the design's strata")
    } else if spec.design.cluster.as_deref() == Some(q) {
        Some("the design's clusters")
    } else if spec.weighting.variables.iter().any(|v| v == q) {
        Some("a weighting variable")
    } else if spec.segments.variables.iter().any(|v| v == q) {
        Some("a segment variable")
    } else {
        None
    }
}

/// Answers whose label matched no option (the run reads them as unanswered): one problem per
/// question, each distinct answer with its count and the most similar option.
fn unmatched_labels(spec: &crate::spec::Spec, c: &clean::Cleaned) -> Vec<String> {
    let mut by_question: std::collections::BTreeMap<&str, Vec<(&str, usize)>> =
        std::collections::BTreeMap::new();
    for ((q, from, _, how), rc) in &c.log.recodes {
        if *how == "unmatched" {
            by_question.entry(q).or_default().push((from, rc.count));
        }
    }
    by_question
        .into_iter()
        .map(|(q, mut answers)| {
            answers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let options: Vec<&crate::spec::OptionSpec> = spec
                .question(q)
                .map(|question| spec.options(question).iter().collect())
                .unwrap_or_default();
            let listed: Vec<String> = answers
                .iter()
                .map(|(raw, n)| {
                    let nearest = options
                        .iter()
                        .map(|o| {
                            let s = strsim::jaro_winkler(
                                &clean::normalize_label(raw),
                                &clean::normalize_label(&o.label),
                            );
                            (s, &o.label)
                        })
                        .max_by(|a, b| a.0.total_cmp(&b.0));
                    match nearest {
                        Some((s, label)) => format!(
                            "`{raw}` ({}; nearest option \"{label}\", similarity {s:.2})",
                            crate::words::count(*n as i64, "answer")
                        ),
                        None => format!("`{raw}` ({})", crate::words::count(*n as i64, "answer")),
                    }
                })
                .collect();
            format!(
                "question `{q}`: {} match{} no option and would be read as unanswered: {}; add the label (or an alias) to the option it means, or a missing code",
                crate::words::count(answers.len() as i64, "distinct answer"),
                if answers.len() == 1 { "es" } else { "" },
                listed.join("; ")
            )
        })
        .collect()
}

pub(super) fn validate(round_dir: &Path, quiet: bool) -> u8 {
    let spec = match spec::load(round_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let mut problems: Vec<String> = Vec::new();
    let mut info: Vec<String> = Vec::new();
    match spec::catalog::check(&spec) {
        Ok(p) => problems.extend(p),
        Err(e) => problems.push(e.to_string()),
    }
    let population = match Population::read(&spec) {
        Ok(p) => Some(p),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let mut gates: Vec<String> = Vec::new();
    // Answers the run would read as unanswered: it completes, but exit 1 like a gate.
    let mut losses: Vec<String> = Vec::new();
    let mut sources = Vec::new();
    for s in &spec.spec.sources {
        match ingest::read_source(&spec, s) {
            Ok(t) => {
                info.push(format!(
                    "{}: {} rows, layout {}, {}",
                    t.label(),
                    t.rows.len(),
                    format!("{:?}", t.layout).to_lowercase(),
                    t.encoding.clone().unwrap_or_else(|| "workbook".into())
                ));
                for note in &t.notes {
                    info.push(format!("note: {note}"));
                }
                sources.push(t);
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let (Some(pop), true) = (&population, problems.is_empty()) {
        match clean::clean(&spec, &sources, &pop.frame()) {
            Err(e) => problems.push(e.to_string()),
            Ok(c) => {
                // A segment, design or weighting variable that matches no column leaves every
                // row of the source without it: the run would publish nothing by it (or
                // quarantine every row). Other unbound questions are only skipped.
                for (src, q) in &c.log.unbound {
                    match variable_role(&spec.spec, q) {
                        Some(role) => problems.push(format!(
                            "{src}: question `{q}` ({role}) matches no column, so no row of this source has it; set its `column` (or `text`) to the export's header"
                        )),
                        None => info.push(format!(
                            "warning: {src}: question `{q}` matches no column; its answers are all skipped"
                        )),
                    }
                }
                losses = unmatched_labels(&spec.spec, &c);
                info.extend(cleaning_report(&c));
                let mut weights: Vec<f64> = Vec::new();
                match weight::weight(&spec.spec, pop, &c.records) {
                    Ok(w) => {
                        weights = w.weights.clone();
                        info.push(format!(
                            "weighting: {}{}",
                            w.method,
                            w.note
                                .clone()
                                .map(|n| format!(" — {n}"))
                                .unwrap_or_default()
                        ));
                        for n in &w.design_notes {
                            info.push(format!("warning: {n}"));
                        }
                        gates = crate::pipeline::quality_gates(&spec.spec, &c, &w);
                    }
                    Err(e) => problems.push(e.to_string()),
                }
                if let Some(conc) = &spec.spec.concentration {
                    match crate::concentration::resolve_names(&spec, conc, &c.records) {
                        Ok(r) => {
                            let summary = crate::concentration::Unresolved::of(
                                &r.matches,
                                &r.suppliers,
                                &r.named,
                                &weights,
                            );
                            info.push(format!("suppliers: {}", summary.sentence()));
                            gates.extend(
                                summary.gate(spec.spec.quality.max_unresolved_supplier_share),
                            );
                            let unresolved: Vec<_> = r
                                .matches
                                .iter()
                                .filter(|m| m.resolution.canonical.is_none())
                                .collect();
                            info.push(format!(
                                "suppliers: {} distinct names, {} resolved by the alias table ({} by similarity), {} unresolved ({} mentions){}",
                                r.matches.len(),
                                r.matches.len() - unresolved.len(),
                                r.matches
                                    .iter()
                                    .filter(|m| matches!(m.resolution.how, crate::concentration::names::How::Similar(_)))
                                    .count(),
                                unresolved.len(),
                                unresolved.iter().map(|m| m.mentions).sum::<usize>(),
                                if unresolved.is_empty() {
                                    String::new()
                                } else {
                                    " — `supplyrisk suppliers suggest` proposes alias rows".to_string()
                                }
                            ));
                        }
                        Err(e) => problems.push(e.to_string()),
                    }
                }
            }
        }
    }
    if !quiet {
        for line in &info {
            println!("{line}");
        }
    }
    if problems.is_empty() && !(gates.is_empty() && losses.is_empty()) {
        // The run would complete but exit 1 (a gate), or lose answers: say which.
        for g in &gates {
            eprintln!("quality gate would fail: {g}");
        }
        for l in &losses {
            eprintln!("answers would be lost: {l}");
        }
        let mut what = Vec::new();
        if !gates.is_empty() {
            what.push(format!(
                "`supplyrisk run` would fail {} (exit 1)",
                crate::words::count(gates.len() as i64, "quality gate")
            ));
        }
        if !losses.is_empty() {
            what.push(format!(
                "{} answers that match no option, which the run would read as unanswered",
                if losses.len() == 1 {
                    "1 question has".to_string()
                } else {
                    format!("{} questions have", losses.len())
                }
            ));
        }
        eprintln!(
            "{}: the spec and data are readable, but {}",
            spec.path.display(),
            what.join("; and ")
        );
        EXIT_QUALITY_GATE
    } else if problems.is_empty() {
        if !quiet {
            println!("{}: valid", spec.path.display());
        }
        EXIT_OK
    } else {
        for p in &problems {
            eprintln!("error: {p}");
        }
        eprintln!(
            "{} problem{} found",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        EXIT_ERROR
    }
}

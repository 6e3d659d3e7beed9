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
        "cleaning: {} rows read, {} kept, {} would be quarantined, {} kept with flags",
        c.rows_read(),
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
            .map(|r| place(&r.file, r.sheet.as_deref(), r.row))
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
                for (src, q) in &c.log.unbound {
                    info.push(format!("warning: {src}: question `{q}` matches no column; its answers are all skipped"));
                }
                info.extend(cleaning_report(&c));
                match weight::weight(&spec.spec, pop, &c.records) {
                    Ok(w) => {
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
    if problems.is_empty() && !gates.is_empty() {
        // The run would complete but exit 1: say which gate.
        for g in &gates {
            eprintln!("quality gate would fail: {g}");
        }
        eprintln!(
            "{}: the spec and data are readable, but `supplyrisk run` would fail {} quality gate{} (exit 1)",
            spec.path.display(),
            gates.len(),
            if gates.len() == 1 { "" } else { "s" }
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

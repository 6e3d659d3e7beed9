//! `supplyrisk validate`: every check a run would make before writing anything — the spec, the
//! population targets, each source file, the questions' columns, the cleaning rules and the
//! weighting — reported together. Exit 0 when clean, 2 with every problem listed otherwise.

use std::path::Path;

use crate::error::{EXIT_ERROR, EXIT_OK};
use crate::weight::Population;
use crate::{clean, ingest, spec, weight};

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
    let population = match Population::read(&spec) {
        Ok(p) => Some(p),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
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
                let excl: Vec<String> = c
                    .log
                    .excluded
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                info.push(format!(
                    "cleaning: {} rows read, {} kept, {} would be quarantined{}",
                    c.rows_read(),
                    c.records.len(),
                    c.quarantine.len(),
                    if excl.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", excl.join(", "))
                    }
                ));
                match weight::weight(&spec.spec, pop, &c.records) {
                    Ok(w) => info.push(format!(
                        "weighting: {}{}",
                        w.method,
                        w.note.map(|n| format!(" — {n}")).unwrap_or_default()
                    )),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
    }
    if !quiet {
        for line in &info {
            println!("{line}");
        }
    }
    if problems.is_empty() {
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

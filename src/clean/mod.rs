//! Clean: turn source rows into analysis records, with an audit trail in which every input row
//! is either kept or quarantined with a reason, and every recoded value is counted.
//!
//! Steps: bind each question to its column(s) in each source ([`binding`]); read each cell into
//! an [`Answer`] ([`values`]); apply the respondent-level rules (blank rows, preview/test
//! responses, missing key, incomplete responses, values outside the population frame, duplicate
//! submissions) in that order.

mod binding;
mod values;

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::ingest::{RowMeta, SourceTable};
use crate::spec::{DuplicateRule, LoadedSpec};

pub use binding::{bind_source, Binding};
pub use values::{normalize_label, Answer};

/// An analysis record: one kept response.
#[derive(Debug, Clone)]
pub struct Record {
    pub file: String,
    pub sheet: Option<String>,
    pub row: usize,
    pub meta: RowMeta,
    /// One answer per spec question, in spec order.
    pub answers: Vec<Answer>,
}

/// Why a row was excluded. The code is stable (written to `quarantine.csv` and the cleaning log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    BlankRow,
    RepeatInstance,
    Preview,
    TestKey,
    MissingKey,
    Incomplete,
    MissingDesignValue,
    OutOfFrame,
    Duplicate,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::BlankRow => "blank_row",
            Reason::RepeatInstance => "repeat_instance",
            Reason::Preview => "preview",
            Reason::TestKey => "test_key",
            Reason::MissingKey => "missing_key",
            Reason::Incomplete => "incomplete",
            Reason::MissingDesignValue => "missing_design_value",
            Reason::OutOfFrame => "out_of_frame",
            Reason::Duplicate => "duplicate",
        }
    }
}

/// An excluded row: where it came from, why, and what it held (raw text per question).
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub file: String,
    pub sheet: Option<String>,
    pub row: usize,
    pub reasons: Vec<Reason>,
    pub message: String,
    pub raw: Vec<String>,
}

/// Counts for the cleaning log.
#[derive(Debug, Clone, Default)]
pub struct CleaningLog {
    /// Rows read per source label.
    pub rows_read: BTreeMap<String, usize>,
    /// Rows quarantined per reason code.
    pub excluded: BTreeMap<&'static str, usize>,
    /// (question, raw value, result, how) → count, for every value that was not an exact label.
    pub recodes: BTreeMap<(String, String, String, &'static str), usize>,
    /// Questions absent from a source: (source label, question id).
    pub unbound: Vec<(String, String)>,
    /// Source notes (encodings, error cells) and other remarks, in order.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Cleaned {
    pub records: Vec<Record>,
    pub quarantine: Vec<Quarantined>,
    pub log: CleaningLog,
}

impl Cleaned {
    pub fn rows_read(&self) -> usize {
        self.log.rows_read.values().sum()
    }
}

/// Values a weighting or design variable may take (from the population targets).
pub type Frame = BTreeMap<String, BTreeSet<String>>;

struct Candidate {
    record: Record,
    raw: Vec<String>,
    order: usize,
}

/// Clean all sources. `frame` lists, for each design/weighting variable, the levels in the
/// population; a respondent with another level is quarantined as out of frame.
pub fn clean(spec: &LoadedSpec, sources: &[SourceTable], frame: &Frame) -> Result<Cleaned> {
    let s = &spec.spec;
    let mut log = CleaningLog::default();
    let mut quarantine = Vec::new();
    let mut candidates = Vec::new();
    let key_idx = s
        .questions
        .iter()
        .position(|q| q.id == s.respondent.key)
        .unwrap_or(0);
    let scored: Vec<usize> = (0..s.questions.len())
        .filter(|&i| s.questions[i].is_scored())
        .collect();
    let design_vars: Vec<(usize, &String)> = frame
        .keys()
        .filter_map(|v| s.questions.iter().position(|q| &q.id == v).map(|i| (i, v)))
        .collect();
    let test_keys: BTreeSet<String> = s
        .cleaning
        .test_keys
        .iter()
        .map(|k| k.trim().to_string())
        .collect();

    for table in sources {
        let label = table.label();
        log.notes.extend(table.notes.iter().cloned());
        log.rows_read.insert(label.clone(), table.rows.len());
        let bindings = bind_source(s, table);
        for (q, b) in s.questions.iter().zip(&bindings) {
            if matches!(b, Binding::Absent) {
                log.unbound.push((label.clone(), q.id.clone()));
            }
        }
        // Questions every row needs: the respondent key and the design/weighting variables.
        let mut required = vec![key_idx];
        required.extend(design_vars.iter().map(|(qi, _)| *qi));
        for &qi in &required {
            if matches!(bindings[qi], Binding::Absent) {
                let q = &s.questions[qi];
                let close = binding::closest_columns(q, table);
                return Err(Error::input(
                    label,
                    format!(
                        "no column for the required question `{}` (looked for id `{}`{}){}",
                        q.id,
                        q.column_id(),
                        q.text
                            .as_ref()
                            .map(|t| format!(" or text \"{t}\""))
                            .unwrap_or_default(),
                        if close.is_empty() {
                            String::new()
                        } else {
                            format!("; closest columns: {}", close.join(", "))
                        }
                    ),
                ));
            }
        }
        for row in &table.rows {
            let mut answers = Vec::with_capacity(s.questions.len());
            let mut raw = Vec::with_capacity(s.questions.len());
            for (q, b) in s.questions.iter().zip(&bindings) {
                let (answer, raw_text, how) = values::read_answer(s, q, b, &row.cells);
                if let Some(how) = how {
                    let result = answer.describe();
                    *log.recodes
                        .entry((q.id.clone(), raw_text.clone(), result, how))
                        .or_insert(0) += 1;
                }
                answers.push(answer);
                raw.push(raw_text);
            }
            let record = Record {
                file: table.file.clone(),
                sheet: table.sheet.clone(),
                row: row.row,
                meta: row.meta.clone(),
                answers,
            };
            let mut reasons = Vec::new();
            let mut messages = Vec::new();
            if row.is_blank() {
                reasons.push(Reason::BlankRow);
                messages.push("the row is empty".to_string());
            } else if row.meta.repeat_instance {
                reasons.push(Reason::RepeatInstance);
                messages.push(
                    "a REDCap repeating-instrument row, not a survey response (one row per record is analysed)".to_string(),
                );
            } else {
                if s.cleaning.drop_preview && row.meta.preview {
                    reasons.push(Reason::Preview);
                    messages.push("the platform marks this a preview/test response".to_string());
                }
                let key = record.answers[key_idx].as_text();
                match key {
                    None => {
                        reasons.push(Reason::MissingKey);
                        messages.push(format!(
                            "no value for the respondent key `{}`",
                            s.respondent.key
                        ));
                    }
                    Some(k) if test_keys.contains(k.trim()) => {
                        reasons.push(Reason::TestKey);
                        messages
                            .push("the respondent key is listed in cleaning.test_keys".to_string());
                    }
                    Some(_) => {}
                }
                if !scored.is_empty() {
                    let answered = scored
                        .iter()
                        .filter(|&&i| record.answers[i].is_answered())
                        .count();
                    let share = answered as f64 / scored.len() as f64;
                    if share < s.cleaning.min_answered_share {
                        reasons.push(Reason::Incomplete);
                        messages.push(format!(
                            "answered {answered} of {} scored items ({:.0}%), below the minimum {:.0}%",
                            scored.len(),
                            share * 100.0,
                            s.cleaning.min_answered_share * 100.0
                        ));
                    }
                }
                for (qi, var) in &design_vars {
                    match record.answers[*qi].as_code() {
                        None => {
                            reasons.push(Reason::MissingDesignValue);
                            let why = match &record.answers[*qi] {
                                Answer::Invalid(why) => format!(": {why}"),
                                Answer::Missing(code) => format!(": declared missing (`{code}`)"),
                                _ => ": left blank".to_string(),
                            };
                            messages.push(format!(
                                "no usable value for design/weighting variable `{var}`{why}"
                            ));
                        }
                        Some(code) if !frame[*var].contains(code) => {
                            reasons.push(Reason::OutOfFrame);
                            messages.push(format!(
                                "`{var}` = `{code}` is not a level of the population targets"
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            if reasons.is_empty() {
                let order = candidates.len();
                candidates.push(Candidate { record, raw, order });
            } else {
                quarantine.push(Quarantined {
                    file: record.file,
                    sheet: record.sheet,
                    row: record.row,
                    reasons,
                    message: messages.join("; "),
                    raw,
                });
            }
        }
    }

    // Duplicate submissions of one key.
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in candidates.iter().enumerate() {
        let k = c.record.answers[key_idx]
            .as_text()
            .unwrap_or_default()
            .trim()
            .to_string();
        by_key.entry(k).or_default().push(i);
    }
    let mut dropped = vec![None; candidates.len()];
    for (k, idxs) in &by_key {
        if idxs.len() < 2 {
            continue;
        }
        let keep = match s.cleaning.duplicates {
            DuplicateRule::Error => {
                let places: Vec<String> = idxs
                    .iter()
                    .map(|&i| {
                        format!(
                            "{} row {}",
                            place(&candidates[i].record),
                            candidates[i].record.row
                        )
                    })
                    .collect();
                let _ = k;
                return Err(Error::input(
                    places[0].clone(),
                    format!(
                        "the respondent key repeats in {} submissions ({}); cleaning.duplicates = \"error\"",
                        idxs.len(),
                        places.join(", ")
                    ),
                ));
            }
            DuplicateRule::Latest => *idxs
                .iter()
                .max_by(|&&a, &&b| {
                    let ka = (
                        candidates[a].record.meta.finished != Some(false),
                        candidates[a].record.meta.submitted.clone(),
                        candidates[a].order,
                    );
                    let kb = (
                        candidates[b].record.meta.finished != Some(false),
                        candidates[b].record.meta.submitted.clone(),
                        candidates[b].order,
                    );
                    ka.cmp(&kb)
                })
                .unwrap_or(&idxs[0]),
            DuplicateRule::First => *idxs
                .iter()
                .min_by(|&&a, &&b| {
                    let ka = (
                        candidates[a].record.meta.submitted.clone(),
                        candidates[a].order,
                    );
                    let kb = (
                        candidates[b].record.meta.submitted.clone(),
                        candidates[b].order,
                    );
                    ka.cmp(&kb)
                })
                .unwrap_or(&idxs[0]),
        };
        for &i in idxs {
            if i != keep {
                dropped[i] = Some(keep);
            }
        }
    }
    let mut records = Vec::with_capacity(candidates.len());
    let kept_place: Vec<String> = candidates
        .iter()
        .map(|c| format!("{} row {}", place(&c.record), c.record.row))
        .collect();
    for (i, c) in candidates.into_iter().enumerate() {
        match dropped[i] {
            None => records.push(c.record),
            Some(keep) => quarantine.push(Quarantined {
                file: c.record.file,
                sheet: c.record.sheet,
                row: c.record.row,
                reasons: vec![Reason::Duplicate],
                message: format!(
                    "another submission with the same respondent key was kept ({}; rule: {:?})",
                    kept_place[keep], s.cleaning.duplicates
                )
                .replace("Latest", "latest complete")
                .replace("First", "first"),
                raw: c.raw,
            }),
        }
    }
    for q in &quarantine {
        for r in &q.reasons {
            *log.excluded.entry(r.code()).or_insert(0) += 1;
        }
    }
    quarantine.sort_by(|a, b| (&a.file, &a.sheet, a.row).cmp(&(&b.file, &b.sheet, b.row)));
    Ok(Cleaned {
        records,
        quarantine,
        log,
    })
}

fn place(r: &Record) -> String {
    match &r.sheet {
        Some(s) => format!("{} [{s}]", r.file),
        None => r.file.clone(),
    }
}

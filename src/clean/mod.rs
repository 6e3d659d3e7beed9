//! Clean: turn source rows into analysis records with an audit trail in which every input row is
//! either kept or quarantined with a reason, and every recoded value is counted.
//!
//! Steps: bind each question to its column(s) in each source ([`binding`]); read each cell into
//! an [`Answer`] ([`values`]); apply the respondent rules. Rules run in three passes:
//!
//! 1. per row: blank row, REDCap repeat row, missing key and missing or out-of-frame design values
//!    (always quarantined — such a row cannot be analysed); preview/test status, test keys,
//!    incomplete responses and straight-lining (each `drop`, `flag` or `off` in the spec);
//! 2. speeders: duration below a fraction of the median duration of the rows still in;
//! 3. duplicate submissions of one key among the rows still in.
//!
//! The accounting invariant — rows read = kept + quarantined, per source — is checked on every
//! run ([`CleaningLog::invariant_violations`]).

mod binding;
mod records;
mod values;

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::ingest::{RowMeta, SourceTable};
use crate::spec::{DuplicateRule, LoadedSpec, QuestionType, RuleAction, Spec};

pub use binding::{bind_source, header_key, Binding};
pub use records::{AnswerColumn, RecordRef, Records, RowInfo, SourceName};
pub use values::{normalize_label, similarity_at_least, Answer, Choice, Matcher, Recode};

/// Why a row was excluded or flagged. The code is stable (quarantine file, flags, cleaning log).
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
    Straightline,
    Speeder,
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
            Reason::Straightline => "straightline",
            Reason::Speeder => "speeder",
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

/// Rows read, kept, quarantined and flagged in one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCounts {
    pub read: usize,
    pub kept: usize,
    pub quarantined: usize,
    pub flagged: usize,
}

/// One recode: how often a raw value was read as a result, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RecodeCount {
    pub count: usize,
    /// Jaro–Winkler similarity of a fuzzy match.
    pub similarity: Option<f64>,
}

/// Counts for the cleaning log.
#[derive(Debug, Clone, Default)]
pub struct CleaningLog {
    /// Per source label, in spec order.
    pub sources: Vec<(String, SourceCounts)>,
    /// Rows quarantined per reason code (a row may have several reasons).
    pub excluded: BTreeMap<&'static str, usize>,
    /// Kept rows flagged per reason code.
    pub flagged: BTreeMap<&'static str, usize>,
    /// (question, raw value, result, how) → count, for every value not read verbatim.
    pub recodes: BTreeMap<(String, String, String, &'static str), RecodeCount>,
    /// Questions absent from a source: (source label, question id).
    pub unbound: Vec<(String, String)>,
    /// Source notes (encodings, error cells) and other remarks, in order.
    pub notes: Vec<String>,
    /// The speeder rule's median duration and threshold, in seconds, when durations exist.
    pub speeder_median_secs: Option<f64>,
    pub speeder_threshold_secs: Option<f64>,
}

impl CleaningLog {
    /// Sources where rows read ≠ kept + quarantined (always empty unless there is a defect).
    pub fn invariant_violations(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter(|(_, c)| c.read != c.kept + c.quarantined)
            .map(|(s, c)| {
                format!(
                    "{s}: {} rows read but {} kept + {} quarantined",
                    c.read, c.kept, c.quarantined
                )
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Cleaned {
    pub records: Records,
    pub quarantine: Vec<Quarantined>,
    pub log: CleaningLog,
}

impl Cleaned {
    pub fn rows_read(&self) -> usize {
        self.log.sources.iter().map(|(_, c)| c.read).sum()
    }
}

/// Values a weighting or design variable may take (from the population targets).
pub type Frame = BTreeMap<String, BTreeSet<String>>;

/// A row that passed the per-row rules: where it is, so its raw values can be recovered if a
/// later rule quarantines it.
struct Candidate {
    info: RowInfo,
    /// Position among all rows read (the row's slot in every column).
    read: usize,
    source: usize,
    row_index: usize,
    duration: Option<f64>,
}

/// Seconds since 0000-03-01 of an ISO `YYYY-MM-DD[THH:MM:SS]` timestamp.
fn iso_seconds(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (
        t[..4].parse().ok()?,
        t[5..7].parse().ok()?,
        t[8..10].parse().ok()?,
    );
    let (h, mi, s): (i64, i64, i64) = if b.len() >= 19 {
        (
            t[11..13].parse().ok()?,
            t[14..16].parse().ok()?,
            t[17..19].parse().ok()?,
        )
    } else {
        (0, 0, 0)
    };
    // Days from civil (proleptic Gregorian), March-based year.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d - 1;
    Some((days * 86_400 + h * 3600 + mi * 60 + s) as f64)
}

/// Response duration: the platform's, else submission − start.
fn duration_of(meta: &RowMeta) -> Option<f64> {
    meta.duration_secs.or_else(|| {
        let (a, b) = (
            iso_seconds(meta.started.as_deref()?)?,
            iso_seconds(meta.submitted.as_deref()?)?,
        );
        (b >= a).then_some(b - a)
    })
}

fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// Raw text of every question in one row (for quarantine).
fn raw_values(
    spec: &Spec,
    matchers: &mut [Matcher],
    bindings: &[Binding],
    cells: &crate::ingest::Cells<'_>,
) -> Vec<String> {
    spec.questions
        .iter()
        .zip(bindings)
        .zip(matchers.iter_mut())
        .map(|((q, b), m)| values::read_answer(spec, q, m, b, cells).1.into_owned())
        .collect()
}

fn place(file: &str, sheet: Option<&str>) -> String {
    match sheet {
        Some(s) => format!("{file} [{s}]"),
        None => file.to_string(),
    }
}

/// Per question and answer slot, when the raw text was recoded: (raw, rule, similarity, cells
/// read so) — folded into `log.recodes` at the end.
type Recoded = Option<(String, &'static str, Option<f64>, usize)>;

/// Every row of `table` its answer to every question, appended to `columns`. A question's
/// column, matcher and recodes depend on its own cells alone, so the questions are read a few
/// at a time on all cores, each stretch over every row in order: the same columns as reading
/// row by row.
fn read_answers(
    s: &Spec,
    table: &SourceTable,
    bindings: &[Binding],
    columns: &mut records::ColumnsBuilder,
    matchers: &mut [Matcher],
    recoded: &mut [Vec<Recoded>],
) {
    use rayon::prelude::*;
    const PART: usize = 4;
    columns
        .parts(PART)
        .into_par_iter()
        .zip(matchers.par_chunks_mut(PART))
        .zip(recoded.par_chunks_mut(PART))
        .for_each(|((mut part, matchers), recoded)| {
            let questions = part.questions();
            for row in table.rows.iter() {
                for ((qi, m), recoded) in questions
                    .clone()
                    .zip(matchers.iter_mut())
                    .zip(&mut *recoded)
                {
                    let (q, b) = (&s.questions[qi], &bindings[qi]);
                    let slot = match b {
                        // Free text: every answer its own.
                        _ if q.kind == QuestionType::Text => {
                            part.push(qi, values::read_answer(s, q, m, b, &row.cells).0);
                            continue;
                        }
                        Binding::Column(col) => {
                            let raw = row.cells.get(*col).unwrap_or_default();
                            let (slot, _) = part.intern(qi, records::Key::Cell(raw), || {
                                let (answer, raw, how) =
                                    values::read_answer(s, q, m, b, &row.cells);
                                recoded
                                    .push(how.map(|h| (raw.into_owned(), h.how, h.similarity, 0)));
                                answer
                            });
                            slot
                        }
                        // Absent, or split over one column per option: the options chosen decide.
                        _ => {
                            let (answer, _, _) = values::read_answer(s, q, m, b, &row.cells);
                            let key = match &answer {
                                Answer::Codes(cs) => cs.join("\u{1f}"),
                                _ => String::new(),
                            };
                            let (slot, new) =
                                part.intern(qi, records::Key::Chosen(&key), || answer);
                            if new {
                                recoded.push(None);
                            }
                            slot
                        }
                    };
                    if let Some(r) = &mut recoded[slot] {
                        r.3 += 1;
                    }
                }
            }
        });
}

/// Clean all sources. `frame` lists, for each design/weighting variable, the levels in the
/// population; a respondent with another level is quarantined as out of frame.
pub fn clean(spec: &LoadedSpec, sources: &[SourceTable], frame: &Frame) -> Result<Cleaned> {
    let s = &spec.spec;
    let rules = &s.cleaning;
    let act = &rules.actions;
    let mut log = CleaningLog::default();
    let mut quarantine = Vec::new();
    // Most rows are kept: room for all of them at once, not a doubling copy at a million.
    let mut candidates: Vec<Candidate> =
        Vec::with_capacity(sources.iter().map(|t| t.rows.len()).sum());
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
    // The cluster (PSU) column: any identifier will do, but a row without one has no place in
    // the design.
    let cluster: Option<(usize, &String)> = s
        .design
        .cluster
        .as_ref()
        .and_then(|c| s.questions.iter().position(|q| &q.id == c).map(|i| (i, c)));
    let test_keys: BTreeSet<String> = rules
        .test_keys
        .iter()
        .map(|k| k.trim().to_string())
        .collect();
    let grids: Vec<Vec<usize>> = rules
        .straightline_grids
        .iter()
        .map(|g| {
            g.iter()
                .filter_map(|id| s.questions.iter().position(|q| &q.id == id))
                .collect()
        })
        .collect();
    let mut matchers: Vec<Matcher> = s.questions.iter().map(|q| Matcher::new(s, q)).collect();
    let mut all_bindings = Vec::with_capacity(sources.len());
    // Every row read, column by column: a raw text always reads the same way, so each is
    // read once per question and its answer shared.
    let mut columns = records::ColumnsBuilder::new(s.questions.len());
    let mut read = 0usize;
    let mut recoded: Vec<Vec<Recoded>> = vec![Vec::new(); s.questions.len()];

    for (si, table) in sources.iter().enumerate() {
        let label = table.label();
        log.notes.extend(table.notes.iter().cloned());
        log.sources.push((
            label.clone(),
            SourceCounts {
                read: table.rows.len(),
                ..SourceCounts::default()
            },
        ));
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
        let source = std::sync::Arc::new(SourceName {
            file: table.file.clone(),
            sheet: table.sheet.clone(),
        });
        read_answers(
            s,
            table,
            &bindings,
            &mut columns,
            &mut matchers,
            &mut recoded,
        );
        for (ri, row) in table.rows.iter().enumerate() {
            let this = read;
            read += 1;
            let answer = |qi: usize| columns.answer(qi, this);
            let mut drop = Vec::new();
            let mut flags = Vec::new();
            let mut messages = Vec::new();
            let mut apply = |action: RuleAction,
                             reason: Reason,
                             message: String,
                             drop: &mut Vec<Reason>,
                             flags: &mut Vec<Reason>| match action {
                RuleAction::Drop => {
                    drop.push(reason);
                    messages.push(message);
                }
                RuleAction::Flag => flags.push(reason),
                RuleAction::Off => {}
            };
            if row.is_blank() {
                apply(
                    RuleAction::Drop,
                    Reason::BlankRow,
                    "the row is empty".into(),
                    &mut drop,
                    &mut flags,
                );
            } else if row.meta.repeat_instance {
                apply(
                    RuleAction::Drop,
                    Reason::RepeatInstance,
                    "a REDCap repeating-instrument row, not a survey response (one row per record is analysed)".into(),
                    &mut drop,
                    &mut flags,
                );
            } else {
                if row.meta.preview {
                    apply(
                        act.preview,
                        Reason::Preview,
                        "the platform marks this a preview/test response".into(),
                        &mut drop,
                        &mut flags,
                    );
                }
                match answer(key_idx).as_text().map(str::trim) {
                    None | Some("") => apply(
                        RuleAction::Drop,
                        Reason::MissingKey,
                        format!("no value for the respondent key `{}`", s.respondent.key),
                        &mut drop,
                        &mut flags,
                    ),
                    Some(k) if test_keys.contains(k) => {
                        apply(
                            act.test_key,
                            Reason::TestKey,
                            "the respondent key is listed in cleaning.test_keys".into(),
                            &mut drop,
                            &mut flags,
                        );
                    }
                    Some(_) => {}
                }
                if !scored.is_empty() {
                    let answered = scored.iter().filter(|&&i| answer(i).is_answered()).count();
                    let share = answered as f64 / scored.len() as f64;
                    if share < rules.min_answered_share {
                        apply(
                            act.incomplete,
                            Reason::Incomplete,
                            format!(
                                "answered {answered} of {} scored items ({:.0}%), below the minimum {:.0}%",
                                scored.len(),
                                share * 100.0,
                                rules.min_answered_share * 100.0
                            ),
                            &mut drop,
                            &mut flags,
                        );
                    }
                }
                for (qi, var) in &design_vars {
                    match answer(*qi).as_code() {
                        None => {
                            let why = match answer(*qi) {
                                Answer::Invalid(why) => format!(": {why}"),
                                Answer::Missing(code) => format!(": declared missing (`{code}`)"),
                                _ => ": left blank".to_string(),
                            };
                            apply(
                                RuleAction::Drop,
                                Reason::MissingDesignValue,
                                format!(
                                    "no usable value for design/weighting variable `{var}`{why}"
                                ),
                                &mut drop,
                                &mut flags,
                            );
                        }
                        Some(code) if !frame[*var].contains(code) => apply(
                            RuleAction::Drop,
                            Reason::OutOfFrame,
                            format!("`{var}` = `{code}` is not a level of the population targets"),
                            &mut drop,
                            &mut flags,
                        ),
                        Some(_) => {}
                    }
                }
                if let Some((qi, c)) = cluster {
                    let has_psu = match answer(qi) {
                        Answer::Code(_) | Answer::Number(_) => true,
                        Answer::Text(t) => !t.trim().is_empty(),
                        _ => false,
                    };
                    if !has_psu {
                        apply(
                            RuleAction::Drop,
                            Reason::MissingDesignValue,
                            format!("no value for the cluster (PSU) `{c}` (design.cluster)"),
                            &mut drop,
                            &mut flags,
                        );
                    }
                }
                for (g, grid) in grids.iter().enumerate() {
                    let codes: Vec<&str> =
                        grid.iter().filter_map(|&qi| answer(qi).as_code()).collect();
                    if codes.len() >= rules.straightline_min_items.max(2)
                        && codes.iter().all(|c| *c == codes[0])
                    {
                        apply(
                            act.straightline,
                            Reason::Straightline,
                            format!(
                                "the same answer (`{}`) to all {} answered items of grid {} ({})",
                                codes[0],
                                codes.len(),
                                g + 1,
                                rules.straightline_grids[g].join(", ")
                            ),
                            &mut drop,
                            &mut flags,
                        );
                    }
                }
            }
            if drop.is_empty() {
                let mut info = RowInfo::new(source.clone(), row.row, row.meta);
                info.flags = flags.into();
                let duration = duration_of(row.meta);
                candidates.push(Candidate {
                    info,
                    read: this,
                    source: si,
                    row_index: ri,
                    duration,
                });
            } else {
                quarantine.push(Quarantined {
                    file: table.file.clone(),
                    sheet: table.sheet.clone(),
                    row: row.row,
                    reasons: drop,
                    message: messages.join("; "),
                    raw: raw_values(s, &mut matchers, &bindings, &row.cells),
                });
            }
        }
        all_bindings.push(bindings);
    }
    for (qi, (q, by_slot)) in s.questions.iter().zip(recoded).enumerate() {
        for (slot, r) in by_slot.into_iter().enumerate() {
            let Some((raw, how, similarity, count)) = r else {
                continue;
            };
            let answer = columns.value(qi, slot).describe();
            let entry = log
                .recodes
                .entry((q.id.clone(), raw, answer, how))
                .or_default();
            entry.count += count;
            entry.similarity = similarity;
        }
    }

    // Late quarantine: recover the raw values of a candidate a later rule drops.
    let late =
        |c: Candidate, reason: Reason, message: String, matchers: &mut [Matcher]| Quarantined {
            raw: raw_values(
                s,
                matchers,
                &all_bindings[c.source],
                &sources[c.source].rows.get(c.row_index).cells,
            ),
            file: c.info.file().to_string(),
            sheet: c.info.sheet().map(str::to_string),
            row: c.info.row,
            reasons: vec![reason],
            message,
        };

    // Pass 2: speeders, against the median duration of the rows still in.
    if act.speeder != RuleAction::Off {
        let mut durations: Vec<f64> = candidates.iter().filter_map(|c| c.duration).collect();
        if let Some(med) = median(&mut durations) {
            let threshold = rules.speeder_fraction * med;
            log.speeder_median_secs = Some(med);
            log.speeder_threshold_secs = Some(threshold);
            let mut kept = Vec::with_capacity(candidates.len());
            for mut c in candidates {
                match c.duration {
                    Some(d) if d < threshold => {
                        if act.speeder == RuleAction::Drop {
                            let message = format!(
                                "completed in {d:.0} s, below {:.0}% of the median {med:.0} s",
                                rules.speeder_fraction * 100.0
                            );
                            quarantine.push(late(c, Reason::Speeder, message, &mut matchers));
                            continue;
                        }
                        c.info.flag(Reason::Speeder);
                        kept.push(c);
                    }
                    _ => kept.push(c),
                }
            }
            candidates = kept;
        }
    }

    // Pass 3: duplicate submissions of one key, key by key in key order (so `error` names
    // the same repeat whatever the rows' order).
    let mut repeats: Vec<(&str, Vec<usize>)> = Vec::new();
    if act.duplicate != RuleAction::Off {
        let mut first: rustc_hash::FxHashMap<&str, usize> = Default::default();
        first.reserve(candidates.len());
        let mut group_of: rustc_hash::FxHashMap<usize, usize> = Default::default();
        for (i, c) in candidates.iter().enumerate() {
            let k = columns
                .answer(key_idx, c.read)
                .as_text()
                .unwrap_or_default()
                .trim();
            match first.get(k) {
                None => {
                    first.insert(k, i);
                }
                Some(&f) => {
                    let g = *group_of.entry(f).or_insert_with(|| {
                        repeats.push((k, vec![f]));
                        repeats.len() - 1
                    });
                    repeats[g].1.push(i);
                }
            }
        }
        repeats.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    let mut superseded: Vec<Option<usize>> = vec![None; candidates.len()];
    for (_, idxs) in &repeats {
        let keep = match rules.duplicates {
            DuplicateRule::Error => {
                let places: Vec<String> = idxs
                    .iter()
                    .map(|&i| {
                        format!(
                            "{} row {}",
                            place(candidates[i].info.file(), candidates[i].info.sheet()),
                            candidates[i].info.row
                        )
                    })
                    .collect();
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
                .max_by_key(|&&i| {
                    (
                        candidates[i].info.finished != Some(false),
                        candidates[i].info.submitted.clone(),
                        i,
                    )
                })
                .unwrap_or(&idxs[0]),
            DuplicateRule::First => *idxs
                .iter()
                .min_by_key(|&&i| (candidates[i].info.submitted.clone(), i))
                .unwrap_or(&idxs[0]),
        };
        for &i in idxs {
            if i != keep {
                superseded[i] = Some(keep);
            }
        }
    }
    let kept_place: BTreeMap<usize, String> = superseded
        .iter()
        .flatten()
        .map(|&k| {
            let c = &candidates[k];
            let place = place(c.info.file(), c.info.sheet());
            (k, format!("{place} row {}", c.info.row))
        })
        .collect();
    let rule_name = match rules.duplicates {
        DuplicateRule::Latest => "latest complete",
        DuplicateRule::First => "first",
        DuplicateRule::Error => "error",
    };
    let mut kept = Vec::with_capacity(candidates.len());
    for (i, mut c) in candidates.into_iter().enumerate() {
        match (superseded[i], act.duplicate) {
            (Some(keep), RuleAction::Drop) => {
                let message = format!(
                    "another submission with the same respondent key was kept ({}; rule: {rule_name})",
                    kept_place[&keep]
                );
                quarantine.push(late(c, Reason::Duplicate, message, &mut matchers));
            }
            (Some(_), _) => {
                c.info.flag(Reason::Duplicate);
                kept.push((c.read, c.info));
            }
            (None, _) => kept.push((c.read, c.info)),
        }
    }
    let records = columns.finish(kept);

    // Accounting: `log.sources` is in the order of `sources`.
    let source_of = |file: &str, sheet: Option<&str>| {
        sources
            .iter()
            .position(|t| t.file == file && t.sheet.as_deref() == sheet)
    };
    for q in &quarantine {
        for r in &q.reasons {
            *log.excluded.entry(r.code()).or_insert(0) += 1;
        }
        if let Some(si) = source_of(&q.file, q.sheet.as_deref()) {
            log.sources[si].1.quarantined += 1;
        }
    }
    // Records come source by source, sharing the source's name: look it up once a run.
    let mut last: Option<(&std::sync::Arc<SourceName>, Option<usize>)> = None;
    for r in records.rows() {
        for f in &r.flags {
            *log.flagged.entry(f.code()).or_insert(0) += 1;
        }
        let si = match last {
            Some((source, si)) if std::sync::Arc::ptr_eq(source, r.source()) => si,
            _ => source_of(r.file(), r.sheet()),
        };
        last = Some((r.source(), si));
        if let Some(si) = si {
            log.sources[si].1.kept += 1;
            log.sources[si].1.flagged += usize::from(!r.flags.is_empty());
        }
    }
    quarantine.sort_by(|a, b| (&a.file, &a.sheet, a.row).cmp(&(&b.file, &b.sheet, b.row)));
    Ok(Cleaned {
        records,
        quarantine,
        log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_seconds_differences() {
        let a = iso_seconds("2024-02-28T23:59:00").unwrap();
        let b = iso_seconds("2024-03-01T00:01:00").unwrap();
        assert_eq!(b - a, 86_400.0 + 120.0, "2024 is a leap year");
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), Some(2.5));
    }
}

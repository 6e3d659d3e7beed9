//! Reading one cell into an [`Answer`]: option labels, codes and aliases matched after
//! normalization (trim, collapse spaces, case-fold); declared missing codes kept apart from
//! skipped items; numbers parsed and range-checked; multi-select cells split.

use super::binding::Binding;
use crate::spec::{Question, QuestionType, Spec};

/// One respondent's answer to one question.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Left blank.
    Skipped,
    /// A declared missing code ("Don't know", "Not applicable"), by code.
    Missing(String),
    /// A single-choice, Likert or yes/no option, by code.
    Code(String),
    /// Multi-select: the codes chosen, in option order.
    Codes(Vec<String>),
    Number(f64),
    Text(String),
    /// A value that could not be read (unknown label, not a number, out of range); counts as skipped.
    Invalid(String),
}

impl Answer {
    /// Answered: anything but skipped or unreadable (declared missing codes count as answered).
    pub fn is_answered(&self) -> bool {
        !matches!(self, Answer::Skipped | Answer::Invalid(_))
    }

    pub fn as_code(&self) -> Option<&str> {
        match self {
            Answer::Code(c) => Some(c),
            _ => None,
        }
    }

    /// Text of a text-like answer (free text, or a code used as text).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Answer::Text(t) | Answer::Code(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Answer::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// Short description for the cleaning log.
    pub fn describe(&self) -> String {
        match self {
            Answer::Skipped => "(skipped)".into(),
            Answer::Missing(c) => format!("missing:{c}"),
            Answer::Code(c) => c.clone(),
            Answer::Codes(cs) => cs.join(";"),
            Answer::Number(x) => x.to_string(),
            Answer::Text(_) => "(text)".into(),
            Answer::Invalid(why) => format!("invalid: {why}"),
        }
    }
}

/// A split multi-select cell that means "not chosen": blank, 0, Unchecked, FALSE, No.
fn is_unchecked(v: &str) -> bool {
    v.is_empty()
        || v == "0"
        || ["unchecked", "false", "no"]
            .iter()
            .any(|u| v.eq_ignore_ascii_case(u))
}

/// Trim, collapse internal whitespace, lower-case.
pub fn normalize_label(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

enum Matched {
    Option(String, Option<&'static str>),
    Missing(String, Option<&'static str>),
    None,
}

fn match_label(spec: &Spec, q: &Question, raw: &str) -> Matched {
    let norm = normalize_label(raw);
    for o in spec.options(q) {
        if raw == o.label {
            return Matched::Option(o.code.0.clone(), None);
        }
        if norm == normalize_label(&o.label) {
            return Matched::Option(o.code.0.clone(), Some("variant"));
        }
        if norm == normalize_label(&o.code.0) {
            return Matched::Option(o.code.0.clone(), Some("code"));
        }
        if o.aliases.iter().any(|a| normalize_label(a) == norm) {
            return Matched::Option(o.code.0.clone(), Some("alias"));
        }
    }
    for m in spec.missing_codes(q) {
        if raw == m.label {
            return Matched::Missing(m.code.0.clone(), None);
        }
        if norm == normalize_label(&m.label) || norm == normalize_label(&m.code.0) {
            return Matched::Missing(m.code.0.clone(), Some("variant"));
        }
        if m.aliases.iter().any(|a| normalize_label(a) == norm) {
            return Matched::Missing(m.code.0.clone(), Some("alias"));
        }
    }
    Matched::None
}

fn parse_number(raw: &str) -> Option<f64> {
    let t: String = raw
        .trim()
        .trim_end_matches('%')
        .chars()
        .filter(|c| *c != ',' && !c.is_whitespace())
        .collect();
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Read the answer to `q` from one row. Returns the answer, the raw text (for quarantine and the
/// log) and, when the value was recoded rather than read verbatim, how.
pub(super) fn read_answer(
    spec: &Spec,
    q: &Question,
    binding: &Binding,
    cells: &csv::StringRecord,
) -> (Answer, String, Option<&'static str>) {
    match binding {
        Binding::Absent => (Answer::Skipped, String::new(), None),
        Binding::Split(cols) => {
            let options = spec.options(q);
            let mut chosen: Vec<usize> = Vec::new();
            let mut raw_parts = Vec::new();
            for (col, opt) in cols {
                let v = cells.get(*col).map_or("", str::trim);
                if !is_unchecked(v) {
                    chosen.push(*opt);
                    raw_parts.push(options[*opt].label.clone());
                }
            }
            chosen.sort_unstable();
            chosen.dedup();
            let raw = raw_parts.join("; ");
            if chosen.is_empty() {
                (Answer::Skipped, raw, None)
            } else {
                (
                    Answer::Codes(chosen.iter().map(|&i| options[i].code.0.clone()).collect()),
                    raw,
                    None,
                )
            }
        }
        Binding::Column(col) => {
            let raw = cells.get(*col).unwrap_or_default().to_string();
            if raw.trim().is_empty() {
                return (Answer::Skipped, raw, None);
            }
            let (answer, how) = interpret(spec, q, &raw);
            (answer, raw, how)
        }
    }
}

fn interpret(spec: &Spec, q: &Question, raw: &str) -> (Answer, Option<&'static str>) {
    match q.kind {
        QuestionType::Text => (Answer::Text(raw.trim().to_string()), None),
        QuestionType::Numeric => {
            if let Matched::Missing(c, how) = match_label(spec, q, raw) {
                return (Answer::Missing(c), how);
            }
            match parse_number(raw) {
                None => (
                    Answer::Invalid(format!("`{}` is not a number", raw.trim())),
                    Some("unreadable"),
                ),
                Some(x) => match q.range {
                    Some([lo, hi]) if x < lo || x > hi => (
                        Answer::Invalid(format!("{x} is outside [{lo}, {hi}]")),
                        Some("out_of_range"),
                    ),
                    _ => (Answer::Number(x), None),
                },
            }
        }
        QuestionType::Single | QuestionType::Likert | QuestionType::Yesno => {
            match match_label(spec, q, raw) {
                Matched::Option(c, how) => (Answer::Code(c), how),
                Matched::Missing(c, how) => (Answer::Missing(c), how),
                Matched::None => (
                    Answer::Invalid(format!("`{}` is not an option", raw.trim())),
                    Some("unmatched"),
                ),
            }
        }
        QuestionType::Multi => {
            // The whole cell may be one option (labels can contain the separator).
            match match_label(spec, q, raw.trim().trim_end_matches(';')) {
                Matched::Option(c, how) => return (Answer::Codes(vec![c]), how),
                Matched::Missing(c, how) => return (Answer::Missing(c), how),
                Matched::None => {}
            }
            let sep = if raw.contains(';') { ';' } else { ',' };
            let options = spec.options(q);
            let mut chosen = Vec::new();
            let mut how = None;
            for part in raw.split(sep).map(str::trim).filter(|p| !p.is_empty()) {
                match match_label(spec, q, part) {
                    Matched::Option(c, h) => {
                        if h.is_some() {
                            how = h;
                        }
                        if let Some(i) = options.iter().position(|o| o.code.0 == c) {
                            chosen.push(i);
                        }
                    }
                    _ => {
                        return (
                            Answer::Invalid(format!("`{part}` is not an option")),
                            Some("unmatched"),
                        )
                    }
                }
            }
            chosen.sort_unstable();
            chosen.dedup();
            (
                Answer::Codes(chosen.iter().map(|&i| options[i].code.0.clone()).collect()),
                how,
            )
        }
    }
}

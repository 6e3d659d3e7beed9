//! Which column(s) of a source hold each question. A question matches a column by its `column`
//! id, by one of its `aliases`, or by its question text — ids and texts compared without regard
//! to case, whitespace or punctuation. A multi-select question binds either to one joined cell
//! or to one column per option:
//!
//! - Qualtrics `C3_1`, `C3_2`, … (text row `… - Selected Choice - EHR`),
//! - SurveyMonkey `question - EHR`,
//! - REDCap raw `c3___ehr` (the option code) and label exports `question (choice=EHR)`.

use crate::ingest::SourceTable;
use crate::spec::{OptionSpec, Question, QuestionType, Spec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// The question has no column in this source: every answer is skipped.
    Absent,
    /// One column holds the answer.
    Column(usize),
    /// Multi-select split into one column per option: (column, option index).
    Split(Vec<(usize, usize)>),
}

/// Lower-case letters and digits only, words separated by one space: the key headers are
/// compared by.
pub fn header_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else {
            space = true;
        }
    }
    out
}

/// Option index named by the remainder of a split column's header.
fn option_by_label(options: &[OptionSpec], rest: &str) -> Option<usize> {
    let key = header_key(rest);
    options
        .iter()
        .position(|o| header_key(&o.label) == key || o.aliases.iter().any(|a| header_key(a) == key))
        .or_else(|| options.iter().position(|o| header_key(&o.code.0) == key))
}

/// The option a split column stands for, if the column belongs to question `q`.
fn split_option(
    q: &Question,
    options: &[OptionSpec],
    id: &str,
    text: Option<&str>,
) -> Option<usize> {
    let names: Vec<String> = std::iter::once(q.column_id().to_string())
        .chain(q.aliases.iter().cloned())
        .collect();
    let lower = id.trim().to_lowercase();
    for name in &names {
        let n = name.trim().to_lowercase();
        // REDCap raw checkbox: field___code.
        if let Some(code) = lower.strip_prefix(&format!("{n}___")) {
            if let Some(i) = options.iter().position(|o| o.code.0.to_lowercase() == code) {
                return Some(i);
            }
        }
        // Qualtrics: Q_k (k-th option), with the option named in the text row when present.
        if let Some(k) = lower
            .strip_prefix(&format!("{n}_"))
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_digit()))
        {
            let by_text = text
                .and_then(|t| t.split(" - Selected Choice - ").nth(1))
                .and_then(|l| option_by_label(options, l));
            return by_text.or_else(|| {
                k.parse::<usize>()
                    .ok()
                    .and_then(|k| k.checked_sub(1))
                    .filter(|k| *k < options.len())
            });
        }
    }
    // By question text: "text - Selected Choice - label", "text - label", "text (choice=label)".
    let q_text = q.text.as_deref()?;
    let q_key = header_key(q_text);
    for candidate in [text.unwrap_or(id), id] {
        let c = candidate.trim();
        for sep in [" - Selected Choice - ", " - "] {
            if let Some((head, rest)) = c.split_once(sep) {
                if header_key(head) == q_key {
                    return option_by_label(options, rest);
                }
            }
        }
        if let Some(inner) = c.strip_suffix(')').and_then(|x| x.rsplit_once(" (choice=")) {
            if header_key(inner.0) == q_key {
                return option_by_label(options, inner.1);
            }
        }
    }
    None
}

pub fn bind_source(spec: &Spec, table: &SourceTable) -> Vec<Binding> {
    let col_keys: Vec<String> = table.columns.iter().map(|c| header_key(&c.id)).collect();
    let text_keys: Vec<Option<String>> = table
        .columns
        .iter()
        .map(|c| c.text.as_deref().map(header_key))
        .collect();
    spec.questions
        .iter()
        .map(|q| {
            let mut wanted: Vec<String> = vec![header_key(q.column_id())];
            wanted.extend(q.aliases.iter().map(|a| header_key(a)));
            if let Some(i) = col_keys.iter().position(|k| wanted.contains(k)) {
                return Binding::Column(i);
            }
            let want_text = q.text.as_deref().map(header_key);
            if let Some(wt) = &want_text {
                if let Some(i) = text_keys.iter().position(|t| t.as_ref() == Some(wt)) {
                    return Binding::Column(i);
                }
                if let Some(i) = col_keys.iter().position(|k| k == wt) {
                    return Binding::Column(i);
                }
            }
            if q.kind == QuestionType::Multi {
                let options = spec.options(q);
                let split: Vec<(usize, usize)> = table
                    .columns
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| {
                        split_option(q, options, &c.id, c.text.as_deref()).map(|o| (i, o))
                    })
                    .collect();
                if !split.is_empty() {
                    return Binding::Split(split);
                }
            }
            Binding::Absent
        })
        .collect()
}

/// Up to three column names closest to a question's id or text (for "no column" errors).
pub fn closest_columns(q: &Question, table: &SourceTable) -> Vec<String> {
    let targets: Vec<String> = std::iter::once(q.column_id())
        .chain(q.text.as_deref())
        .chain(q.aliases.iter().map(String::as_str))
        .map(header_key)
        .collect();
    let mut scored: Vec<(f64, String)> = table
        .columns
        .iter()
        .map(|c| {
            let names = [Some(c.id.as_str()), c.text.as_deref()];
            let best = names
                .iter()
                .flatten()
                .flat_map(|n| {
                    targets
                        .iter()
                        .map(move |t| strsim::jaro_winkler(&header_key(n), t))
                })
                .fold(0.0, f64::max);
            (best, format!("`{}`", c.id))
        })
        .filter(|(score, _)| *score >= 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.into_iter().take(3).map(|x| x.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_keys_ignore_case_space_and_punctuation() {
        assert_eq!(
            header_key("  Which HSCC subsector?  "),
            "which hscc subsector"
        );
        assert_eq!(header_key("Which  hscc-subsector"), "which hscc subsector");
    }
}

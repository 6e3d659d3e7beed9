//! Which column(s) of a source hold each question: by column id (export tags, plain headers),
//! by question text (Forms, the Qualtrics text row), and for multi-select questions either one
//! joined cell or one column per option (`C3_1`, `C3_2`, … / "… - Selected Choice - EHR").

use super::values::normalize_label;
use crate::ingest::SourceTable;
use crate::spec::{QuestionType, Spec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// The question has no column in this source: every answer is skipped.
    Absent,
    /// One column holds the answer.
    Column(usize),
    /// Multi-select split into one column per option: (column, option index).
    Split(Vec<(usize, usize)>),
}

const SELECTED: &str = " - selected choice - ";

pub fn bind_source(spec: &Spec, table: &SourceTable) -> Vec<Binding> {
    spec.questions
        .iter()
        .map(|q| {
            let want_id = q.column_id().trim().to_ascii_lowercase();
            let want_text = q.text.as_deref().map(normalize_label);
            if let Some(i) = table
                .columns
                .iter()
                .position(|c| c.id.trim().to_ascii_lowercase() == want_id)
            {
                return Binding::Column(i);
            }
            if q.kind == QuestionType::Multi {
                let options = spec.options(q);
                let mut split = Vec::new();
                for (i, c) in table.columns.iter().enumerate() {
                    let id = c.id.trim().to_ascii_lowercase();
                    let by_id = id
                        .strip_prefix(&want_id)
                        .and_then(|rest| rest.strip_prefix('_'))
                        .filter(|rest| {
                            !rest.is_empty() && rest.chars().all(|ch| ch.is_ascii_digit())
                        })
                        .and_then(|rest| rest.parse::<usize>().ok());
                    let text = c.text.as_deref().map(normalize_label).unwrap_or_default();
                    let by_text = want_text.as_ref().and_then(|wt| {
                        text.strip_prefix(wt.as_str()).and_then(|rest| {
                            rest.strip_prefix(SELECTED.trim_start())
                                .or_else(|| rest.strip_prefix(SELECTED))
                        })
                    });
                    if by_id.is_none() && by_text.is_none() {
                        continue;
                    }
                    let by_label = c
                        .text
                        .as_deref()
                        .map(normalize_label)
                        .and_then(|t| t.split(SELECTED).nth(1).map(str::to_string))
                        .and_then(|label| {
                            options
                                .iter()
                                .position(|o| normalize_label(&o.label) == label)
                        });
                    let opt = by_label.or_else(|| {
                        by_id
                            .and_then(|k| k.checked_sub(1))
                            .filter(|k| *k < options.len())
                    });
                    if let Some(o) = opt {
                        split.push((i, o));
                    }
                }
                if !split.is_empty() {
                    return Binding::Split(split);
                }
            }
            if let Some(wt) = want_text {
                if let Some(i) = table
                    .columns
                    .iter()
                    .position(|c| c.text.as_deref().map(normalize_label).as_ref() == Some(&wt))
                {
                    return Binding::Column(i);
                }
            }
            Binding::Absent
        })
        .collect()
}

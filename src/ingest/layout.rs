//! Export layouts: where the header is, how many header rows there are, and which platform
//! columns carry response metadata (ids, timestamps, preview status). Detected from the headers
//! unless the spec names the layout.

use super::{Column, Grid, SourceRow};
use crate::error::{Error, Result};
use crate::spec::Layout;

/// Platform metadata of one response row.
#[derive(Debug, Clone, Default)]
pub struct RowMeta {
    /// The platform's response id (Qualtrics ResponseId, Forms ID, …).
    pub response_id: Option<String>,
    /// Submission time, ISO 8601 (`YYYY-MM-DDTHH:MM:SS`) when recognisable.
    pub submitted: Option<String>,
    /// Duration in seconds, where the platform records it.
    pub duration_secs: Option<f64>,
    /// A preview or test response according to the platform's status fields.
    pub preview: bool,
    /// Whether the platform marks the response finished.
    pub finished: Option<bool>,
}

pub(crate) struct Shaped {
    pub layout: Layout,
    pub columns: Vec<Column>,
    pub rows: Vec<SourceRow>,
}

fn non_empty(cells: &[String]) -> usize {
    cells.iter().filter(|c| !c.trim().is_empty()).count()
}

fn has(header: &[String], name: &str) -> bool {
    header.iter().any(|h| h.trim().eq_ignore_ascii_case(name))
}

fn detect(header: &[String], next: Option<&[String]>) -> Layout {
    if has(header, "ResponseId") && (has(header, "StartDate") || has(header, "Status")) {
        return Layout::Qualtrics;
    }
    if (has(header, "ID") || has(header, "Id"))
        && has(header, "Start time")
        && has(header, "Completion time")
    {
        return Layout::Msforms;
    }
    if has(header, "Respondent ID") && has(header, "Collector ID") {
        return Layout::Surveymonkey;
    }
    if header.first().is_some_and(|h| h.trim() == "record_id") {
        return Layout::Redcap;
    }
    let _ = next;
    Layout::Plain
}

/// ISO 8601 from the timestamp forms exports use (`2024-03-05 14:02:11`, `2024-03-05T14:02:11`).
pub(crate) fn iso_timestamp(raw: &str) -> Option<String> {
    let s = raw.trim();
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit) {
        if b.len() >= 19 && (b[10] == b' ' || b[10] == b'T') {
            return Some(format!("{}T{}", &s[..10], &s[11..19]));
        }
        return Some(s[..10].to_string());
    }
    None
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

pub(crate) fn apply(
    grid: Grid,
    layout: Layout,
    header_row: Option<usize>,
    label: &str,
) -> Result<Shaped> {
    let rows = grid.rows;
    let header_idx = match header_row {
        Some(r) => rows.iter().position(|(n, _)| *n == r).ok_or_else(|| {
            Error::input(label, format!("header_row = {r} is beyond the last row"))
        })?,
        None => rows
            .iter()
            .position(|(_, c)| non_empty(c) >= 2)
            .ok_or_else(|| {
                Error::input(
                    label,
                    "no header row found: no row has two or more filled cells",
                )
            })?,
    };
    let header: Vec<String> = rows[header_idx]
        .1
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let next = rows.get(header_idx + 1).map(|(_, c)| c.as_slice());
    let layout = if layout == Layout::Auto {
        detect(&header, next)
    } else {
        layout
    };

    // How many header rows, and the question-text row.
    let (extra_rows, texts): (usize, Option<Vec<String>>) = match layout {
        Layout::Qualtrics => {
            let second = next.map(<[String]>::to_vec).unwrap_or_default();
            let third_is_import = rows
                .get(header_idx + 2)
                .and_then(|(_, c)| c.iter().find(|v| !v.trim().is_empty()))
                .is_some_and(|v| v.trim_start().starts_with("{\"ImportId\""));
            (if third_is_import { 2 } else { 1 }, Some(second))
        }
        Layout::Surveymonkey => {
            let mut first = header.clone();
            let mut last = String::new();
            for h in &mut first {
                if h.is_empty() {
                    h.clone_from(&last);
                } else {
                    last.clone_from(h);
                }
            }
            (1, Some(first))
        }
        Layout::Msforms => (0, Some(header.clone())),
        _ => (0, None),
    };
    let columns: Vec<Column> = header
        .iter()
        .enumerate()
        .map(|(i, id)| Column {
            id: id.clone(),
            text: texts
                .as_ref()
                .and_then(|t| t.get(i))
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        })
        .collect();
    let find = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (id_col, time_col, status_col, channel_col, finished_col, duration_col) = match layout {
        Layout::Qualtrics => (
            find("ResponseId"),
            find("RecordedDate").or_else(|| find("EndDate")),
            find("Status"),
            find("DistributionChannel"),
            find("Finished"),
            find("Duration (in seconds)"),
        ),
        Layout::Msforms => (
            find("ID").or_else(|| find("Id")),
            find("Completion time"),
            None,
            None,
            None,
            None,
        ),
        Layout::Surveymonkey => (
            find("Respondent ID"),
            find("End Date"),
            None,
            None,
            None,
            None,
        ),
        Layout::Redcap => (find("record_id"), None, None, None, None, None),
        _ => (None, None, None, None, None, None),
    };
    let get = |cells: &[String], i: Option<usize>| {
        i.and_then(|i| cells.get(i))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let data = rows
        .into_iter()
        .skip(header_idx + 1 + extra_rows)
        .map(|(row, mut cells)| {
            cells.resize(header.len().max(cells.len()), String::new());
            let status = get(&cells, status_col)
                .unwrap_or_default()
                .to_ascii_lowercase();
            let channel = get(&cells, channel_col)
                .unwrap_or_default()
                .to_ascii_lowercase();
            let meta = RowMeta {
                response_id: get(&cells, id_col),
                submitted: get(&cells, time_col).and_then(|t| iso_timestamp(&t).or(Some(t))),
                duration_secs: get(&cells, duration_col).and_then(|d| d.parse().ok()),
                preview: status.contains("preview")
                    || status.contains("test")
                    || status == "1"
                    || channel == "preview"
                    || channel == "test",
                finished: get(&cells, finished_col).and_then(|f| parse_bool(&f)),
            };
            SourceRow { row, cells, meta }
        })
        .collect();
    Ok(Shaped {
        layout,
        columns,
        rows: data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&[&str]]) -> Grid {
        Grid {
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, r)| (i + 1, r.iter().map(|s| (*s).to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn qualtrics_three_header_rows() {
        let g = grid(&[
            &["StartDate", "Status", "ResponseId", "Q1"],
            &["Start Date", "Response Type", "Response ID", "Subsector"],
            &[
                "{\"ImportId\":\"startDate\"}",
                "{\"ImportId\":\"status\"}",
                "{\"ImportId\":\"_recordId\"}",
                "{\"ImportId\":\"QID1\"}",
            ],
            &["2024-03-01 10:00:00", "Survey Preview", "R_1", "x"],
            &["2024-03-02 10:00:00", "IP Address", "R_2", "y"],
        ]);
        let s = apply(g, Layout::Auto, None, "q.csv").unwrap();
        assert_eq!(s.layout, Layout::Qualtrics);
        assert_eq!(s.rows.len(), 2);
        assert_eq!(s.rows[0].row, 4);
        assert!(s.rows[0].meta.preview);
        assert!(!s.rows[1].meta.preview);
        assert_eq!(s.columns[3].text.as_deref(), Some("Subsector"));
    }

    #[test]
    fn title_rows_above_the_header_are_skipped() {
        let g = grid(&[
            &["Survey export"],
            &[],
            &["ID", "Start time", "Completion time", "Q"],
            &["1", "", "2024-01-02T03:04:05", "a"],
        ]);
        let s = apply(g, Layout::Auto, None, "f.xlsx").unwrap();
        assert_eq!(s.layout, Layout::Msforms);
        assert_eq!(s.rows.len(), 1);
        assert_eq!(
            s.rows[0].meta.submitted.as_deref(),
            Some("2024-01-02T03:04:05")
        );
    }
}

//! Export layouts: where the header is, how many header rows there are, what each column is
//! called (and which question text it carries), and which platform columns hold response
//! metadata (ids, timestamps, preview status, completion). Detected from the headers unless the
//! spec names the layout (domain notes §4):
//!
//! - **Qualtrics**: row 1 export tags, row 2 question text, row 3 `{"ImportId":…}` (older exports
//!   have only the first two); `Status`/`DistributionChannel` mark previews and tests.
//! - **SurveyMonkey**: row 1 question text over the first column of each question only
//!   (forward-filled), row 2 `Response`, `Open-Ended Response`, an option or a matrix row; a
//!   column is named `question - option` unless its row 2 is `Response`/`Open-Ended Response`.
//! - **Microsoft Forms**: `ID, Start time, Completion time, Email, Name[, Last modified time]`,
//!   then one column per question titled with its full text.
//! - **REDCap**: raw exports (`record_id`, `redcap_*`, `field___code` checkboxes,
//!   `<instrument>_complete` 0/1/2) and label exports (`Record ID`, `Complete?`).
//! - **Plain**: one header row.

use std::collections::BTreeMap;

use super::excel::column_letter;
use super::{Cells, Column, Grid, SourceRows};
use crate::error::{Error, Result};
use crate::spec::Layout;

/// Platform metadata of one response row.
#[derive(Debug, Clone, Default)]
pub struct RowMeta {
    /// The platform's response id (Qualtrics ResponseId, Forms ID, REDCap record id, …).
    pub response_id: Option<String>,
    /// Start time, ISO 8601 when recognisable.
    pub started: Option<String>,
    /// Submission time, ISO 8601 (`YYYY-MM-DDTHH:MM:SS`) when recognisable.
    pub submitted: Option<String>,
    /// Duration in seconds, where the platform records it.
    pub duration_secs: Option<f64>,
    /// A preview or test response according to the platform's status fields.
    pub preview: bool,
    /// Whether the platform marks the response finished.
    pub finished: Option<bool>,
    /// A REDCap repeating-instrument row (`redcap_repeat_instrument` filled), not a response.
    pub repeat_instance: bool,
}

pub(crate) struct Shaped {
    pub layout: Layout,
    pub header_row: usize,
    pub header_rows: usize,
    pub columns: Vec<Column>,
    pub rows: SourceRows,
}

fn non_empty(cells: &Cells) -> usize {
    cells.iter().filter(|c| !c.trim().is_empty()).count()
}

fn find(header: &[String], name: &str) -> Option<usize> {
    header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
}

fn has(header: &[String], name: &str) -> bool {
    find(header, name).is_some()
}

fn detect(header: &[String]) -> Layout {
    if (has(header, "ResponseId") || has(header, "ResponseID"))
        && (has(header, "StartDate") || has(header, "Status"))
    {
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
    let redcap_raw = header
        .iter()
        .any(|h| h.starts_with("redcap_") || h.ends_with("_complete"));
    let redcap_labels = has(header, "Record ID") && header.iter().any(|h| h.ends_with("Complete?"));
    if redcap_raw || redcap_labels {
        return Layout::Redcap;
    }
    Layout::Plain
}

/// ISO 8601 from the timestamp forms exports use (`2024-03-05 14:02:11`, `2024-03-05T14:02:11`,
/// `3/5/2024 14:02:11`, `3/5/24 2:02 PM`).
pub(crate) fn iso_timestamp(raw: &str) -> Option<String> {
    let s = raw.trim();
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit) {
        // Slices by byte position only where those bytes are ASCII (a `°` typed into a time
        // is two bytes; cutting through it would panic).
        let date = s.get(..10)?;
        if b.len() >= 19 && (b[10] == b' ' || b[10] == b'T') {
            // A garbled time is not a timestamp (rather than a date with the time dropped).
            let time = s.get(11..19).filter(|t| t.is_ascii())?;
            return Some(format!("{date}T{time}"));
        }
        return Some(date.to_string());
    }
    // US month/day/year with an optional time.
    let (date, time) = s.split_once(' ').map_or((s, ""), |(d, t)| (d, t.trim()));
    let parts: Vec<&str> = date.split('/').collect();
    if parts.len() != 3 {
        return None;
    }
    let (m, d, y): (u32, u32, u32) = (
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        parts[2].parse().ok()?,
    );
    let y = if y < 100 { 2000 + y } else { y };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    if time.is_empty() {
        return Some(format!("{y:04}-{m:02}-{d:02}"));
    }
    let (clock, ampm) = match time.rsplit_once(' ') {
        Some((c, ap)) if ap.eq_ignore_ascii_case("AM") || ap.eq_ignore_ascii_case("PM") => {
            (c, Some(ap.to_ascii_uppercase()))
        }
        _ => (time, None),
    };
    let hms: Vec<u32> = clock
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let (mut h, mi, sec) = (
        hms.first().copied()?,
        hms.get(1).copied().unwrap_or(0),
        hms.get(2).copied().unwrap_or(0),
    );
    match ampm.as_deref() {
        Some("PM") if h < 12 => h += 12,
        Some("AM") if h == 12 => h = 0,
        _ => {}
    }
    Some(format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{sec:02}"))
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// REDCap's `<instrument>_complete`: 2 / "Complete" = finished.
fn redcap_complete(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "2" | "complete" => Some(true),
        "0" | "1" | "incomplete" | "unverified" => Some(false),
        _ => None,
    }
}

/// Find the header row: the first row with at least two filled cells and at least half as many
/// filled cells as the widest of the first rows (title rows and merged title cells fall short).
fn detect_header(rows: &Grid) -> Option<usize> {
    let scan = rows.len().min(30);
    let widest = (0..scan).map(|i| non_empty(&rows.cells(i))).max()?;
    let need = 2.max(widest.div_ceil(2));
    (0..scan).position(|i| non_empty(&rows.cells(i)) >= need)
}

pub(crate) fn apply(
    grid: Grid,
    layout: Layout,
    header_row: Option<usize>,
    label: &str,
) -> Result<Shaped> {
    let rows = grid;
    if rows.is_empty() {
        return Err(Error::input(
            label,
            "no rows: the file or sheet holds no data",
        ));
    }
    let header_idx = match header_row {
        Some(r) => (0..rows.len())
            .position(|i| rows.line(i) == r)
            .ok_or_else(|| {
                Error::input(
                    label,
                    format!(
                        "header_row = {r} is beyond the last row ({})",
                        rows.line(rows.len() - 1)
                    ),
                )
            })?,
        None => detect_header(&rows).ok_or_else(|| {
            Error::input(
                label,
                "no header row found: no row among the first 30 has two or more filled cells",
            )
        })?,
    };
    let header_line = rows.line(header_idx);
    let raw_header: Vec<String> = rows
        .cells(header_idx)
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let last_named = |cells: &Cells| {
        (0..cells.len())
            .rev()
            .find(|&i| !cells[i].trim().is_empty())
            .map_or(0, |p| p + 1)
    };
    let layout = if layout == Layout::Auto {
        detect(&raw_header)
    } else {
        layout
    };
    // Trailing columns without a header are ignored (their cells must be empty). SurveyMonkey
    // names its option columns in the second header row.
    let mut width = last_named(&rows.cells(header_idx));
    if layout == Layout::Surveymonkey && header_idx + 1 < rows.len() {
        width = width.max(last_named(&rows.cells(header_idx + 1)));
    }
    let mut header: Vec<String> = raw_header;
    header.resize(width, String::new());

    let cell = |idx: usize, i: usize| {
        (idx < rows.len())
            .then(|| rows.cells(idx).get(i))
            .flatten()
            .unwrap_or("")
            .trim()
            .to_string()
    };
    // Header rows below the first, and the (id, question text) of each column.
    let (extra_rows, columns): (usize, Vec<Column>) = match layout {
        Layout::Qualtrics => {
            let third_is_import = (header_idx + 2 < rows.len())
                .then(|| {
                    rows.cells(header_idx + 2)
                        .iter()
                        .find(|v| !v.trim().is_empty())
                })
                .flatten()
                .is_some_and(|v| v.trim_start().starts_with("{\"ImportId\""));
            let cols = (0..width)
                .map(|i| Column {
                    id: header[i].clone(),
                    text: Some(cell(header_idx + 1, i)).filter(|t| !t.is_empty()),
                })
                .collect();
            (if third_is_import { 2 } else { 1 }, cols)
        }
        Layout::Surveymonkey => {
            let mut last = String::new();
            let cols = (0..width)
                .map(|i| {
                    if !header[i].is_empty() {
                        last.clone_from(&header[i]);
                    }
                    let sub = cell(header_idx + 1, i);
                    let name =
                        if sub.is_empty() || sub == "Response" || sub == "Open-Ended Response" {
                            last.clone()
                        } else {
                            format!("{last} - {sub}")
                        };
                    Column {
                        id: name.clone(),
                        text: Some(name),
                    }
                })
                .collect();
            (1, cols)
        }
        Layout::Msforms => (
            0,
            header
                .iter()
                .map(|h| Column {
                    id: h.clone(),
                    text: Some(h.clone()),
                })
                .collect(),
        ),
        _ => (
            0,
            header
                .iter()
                .map(|h| Column {
                    id: h.clone(),
                    text: None,
                })
                .collect(),
        ),
    };
    // Every column needs a name, and names must be unique.
    if let Some(i) = columns.iter().position(|c| c.id.is_empty()) {
        return Err(Error::input(
            format!("{label}, row {header_line}, column {}", column_letter(i)),
            "a column has no header between named columns; every column needs a name",
        ));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dups = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if let Some(first) = seen.insert(c.id.as_str(), i) {
            dups.push(format!(
                "`{}` (columns {} and {})",
                c.id,
                column_letter(first),
                column_letter(i)
            ));
        }
    }
    if !dups.is_empty() {
        return Err(Error::input(
            format!("{label}, row {header_line}"),
            format!(
                "duplicate column names: {}; rename them so each column is unambiguous",
                dups.join(", ")
            ),
        ));
    }
    let first_data = header_idx + 1 + extra_rows;
    if first_data >= rows.len() {
        return Err(Error::input(
            label,
            format!("the header (row {header_line}) has no data rows under it"),
        ));
    }

    let ids: Vec<String> = columns.iter().map(|c| c.id.clone()).collect();
    let texts: Vec<String> = columns
        .iter()
        .map(|c| c.text.clone().unwrap_or_default())
        .collect();
    // A platform column by name, or (older Qualtrics exports: V1, V8, …) by its text row.
    let pos = |name: &str| find(&ids, name).or_else(|| find(&texts, name));
    let (id_col, time_col, status_col, channel_col, finished_col, duration_col, complete_col) =
        match layout {
            Layout::Qualtrics => (
                pos("ResponseId"),
                pos("RecordedDate").or_else(|| pos("EndDate")),
                pos("Status"),
                pos("DistributionChannel"),
                pos("Finished"),
                pos("Duration (in seconds)"),
                None,
            ),
            Layout::Msforms => (
                pos("ID").or_else(|| pos("Id")),
                pos("Completion time"),
                None,
                None,
                None,
                None,
                None,
            ),
            Layout::Surveymonkey => (
                pos("Respondent ID"),
                pos("End Date"),
                None,
                None,
                None,
                None,
                None,
            ),
            Layout::Redcap => (
                Some(0),
                pos("redcap_survey_timestamp"),
                None,
                None,
                None,
                None,
                ids.iter()
                    .position(|h| h.ends_with("_complete") || h.ends_with("Complete?")),
            ),
            _ => (None, None, None, None, None, None, None),
        };
    let start_col = match layout {
        Layout::Qualtrics => pos("StartDate"),
        Layout::Msforms => pos("Start time"),
        Layout::Surveymonkey => pos("Start Date"),
        _ => None,
    };
    let repeat_col = if layout == Layout::Redcap {
        pos("redcap_repeat_instrument").or_else(|| pos("Repeat Instrument"))
    } else {
        None
    };
    let get = |cells: &Cells, i: Option<usize>| {
        i.and_then(|i| cells.get(i))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    // Rows hold platform metadata only where the layout records some.
    let has_meta = [
        id_col,
        time_col,
        status_col,
        channel_col,
        finished_col,
        duration_col,
        complete_col,
        start_col,
        repeat_col,
    ]
    .iter()
    .any(Option::is_some);
    let mut metas = Vec::with_capacity(if has_meta { rows.len() - first_data } else { 0 });
    for (row, cells) in rows.iter().skip(first_data) {
        if cells.len() > width {
            if let Some(extra) = (width..cells.len()).find(|&i| !cells[i].trim().is_empty()) {
                return Err(Error::input(
                    format!("{label}, row {row}, column {}", column_letter(extra)),
                    format!("the row has {} fields but the header names {width} columns (a ragged row: check quoting and delimiters)", cells.len()),
                ));
            }
        } else if cells.len() < width && cells.len() > 1 {
            return Err(Error::input(
                format!("{label}, row {row}"),
                format!("the row has {} fields but the header names {width} columns (a ragged row: check quoting and delimiters)", cells.len()),
            ));
        }
        let status = get(&cells, status_col)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let channel = get(&cells, channel_col)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let meta = RowMeta {
            response_id: get(&cells, id_col),
            started: get(&cells, start_col).map(|t| iso_timestamp(&t).unwrap_or(t)),
            submitted: get(&cells, time_col).map(|t| iso_timestamp(&t).unwrap_or(t)),
            duration_secs: get(&cells, duration_col).and_then(|d| d.parse().ok()),
            preview: status.contains("preview")
                || status.contains("test")
                || status == "1"
                || status == "8"
                || channel == "preview"
                || channel == "test",
            finished: get(&cells, finished_col)
                .and_then(|f| parse_bool(&f))
                .or_else(|| get(&cells, complete_col).and_then(|f| redcap_complete(&f))),
            repeat_instance: get(&cells, repeat_col).is_some(),
        };
        if has_meta {
            metas.push(meta);
        }
    }
    Ok(Shaped {
        layout,
        header_row: header_line,
        header_rows: 1 + extra_rows,
        columns,
        rows: SourceRows::new(rows, first_data, metas),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&[&str]]) -> Grid {
        let mut grid = Grid::default();
        for (i, r) in rows.iter().enumerate() {
            grid.push_row(i + 1, r.iter().copied()).unwrap();
        }
        grid
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
        assert_eq!((s.layout, s.header_rows), (Layout::Qualtrics, 3));
        assert_eq!(s.rows.len(), 2);
        assert_eq!(s.rows.get(0).row, 4);
        assert!(s.rows.get(0).meta.preview);
        assert!(!s.rows.get(1).meta.preview);
        assert_eq!(s.columns[3].text.as_deref(), Some("Subsector"));
    }

    #[test]
    fn title_rows_above_the_header_are_skipped() {
        let g = grid(&[
            &["Survey export", "", "", ""],
            &["", "", "", ""],
            &["ID", "Start time", "Completion time", "Q"],
            &["1", "", "2024-01-02T03:04:05", "a"],
        ]);
        let s = apply(g, Layout::Auto, None, "f.xlsx").unwrap();
        assert_eq!((s.layout, s.header_row), (Layout::Msforms, 3));
        assert_eq!(s.rows.len(), 1);
        assert_eq!(
            s.rows.get(0).meta.submitted.as_deref(),
            Some("2024-01-02T03:04:05")
        );
    }

    #[test]
    fn surveymonkey_forward_fills_question_text() {
        let g = grid(&[
            &[
                "Respondent ID",
                "Collector ID",
                "Subsector",
                "Critical cats",
                "",
                "",
            ],
            &["", "", "Response", "EHR", "Cloud", "Other (please specify)"],
            &["1", "9", "Public health", "EHR", "", "mainframe"],
        ]);
        let s = apply(g, Layout::Auto, None, "sm.csv").unwrap();
        assert_eq!(s.layout, Layout::Surveymonkey);
        let names: Vec<&str> = s.columns.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            names,
            [
                "Respondent ID",
                "Collector ID",
                "Subsector",
                "Critical cats - EHR",
                "Critical cats - Cloud",
                "Critical cats - Other (please specify)"
            ]
        );
    }

    #[test]
    fn duplicate_names_and_ragged_rows_are_errors() {
        let e = apply(
            grid(&[&["a", "b", "a"], &["1", "2", "3"]]),
            Layout::Plain,
            None,
            "x.csv",
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("duplicate column names: `a`"), "{e}");
        let e = apply(
            grid(&[&["a", "b"], &["1", "2", "3"]]),
            Layout::Plain,
            None,
            "x.csv",
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("row 2, column C"), "{e}");
        let e = apply(grid(&[&["a", "b"]]), Layout::Plain, None, "x.csv")
            .err()
            .unwrap();
        assert!(e.to_string().contains("no data rows"), "{e}");
    }

    #[test]
    fn us_timestamps_become_iso() {
        assert_eq!(
            iso_timestamp("3/5/24 2:02 PM").as_deref(),
            Some("2024-03-05T14:02:00")
        );
        assert_eq!(
            iso_timestamp("12/31/2023 23:59:01").as_deref(),
            Some("2023-12-31T23:59:01")
        );
        assert_eq!(iso_timestamp("soon"), None);
    }

    #[test]
    fn a_timestamp_with_a_multibyte_character_is_not_cut_through() {
        // Reproducer: `byte index 19 is not a char boundary`.
        assert_eq!(iso_timestamp("2023-05-03 02:12:0°"), None);
        assert_eq!(iso_timestamp("2023-0é-03"), None);
        assert_eq!(iso_timestamp("2023-05-03°"), Some("2023-05-03".into()));
        assert_eq!(
            iso_timestamp("2023-05-03 02:12:09°").as_deref(),
            Some("2023-05-03T02:12:09")
        );
    }
}

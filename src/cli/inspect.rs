//! `supplyrisk inspect FILE`: what supplyrisk reads from one file, without a spec — layout,
//! encoding, delimiter, sheet, header rows, columns (name and question text) and the number of
//! records. `--json` prints one object (documented in docs/inspect.md).

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::ingest::{layout_name, read_path, ReadOptions, SourceTable};

pub(super) fn inspect(file: &Path, opts: &ReadOptions, json: bool, top: usize) -> Result<String> {
    let display = file.display().to_string();
    let table = read_path(file, &display, opts)?;
    if json {
        let mut s = serde_json::to_string_pretty(&table.describe_json(top))
            .map_err(|e| Error::output(file, e))?;
        s.push('\n');
        return Ok(s);
    }
    Ok(human(&table, top))
}

/// One column's answers in a line: the most frequent with their counts, then what is left.
fn answers_line(t: &SourceTable, i: usize, top: usize) -> String {
    let (answers, blank) = t.answers(i);
    let blank = if blank > 0 {
        format!(", {blank} blank")
    } else {
        String::new()
    };
    if answers.is_empty() {
        return format!("(no answers{blank})");
    }
    let c = &t.columns[i];
    if crate::ingest::looks_identifying(&c.id, c.text.as_deref()) {
        return format!(
            "{} distinct values; the column looks identifying (names, addresses, contacts): not listed{blank}",
            answers.len()
        );
    }
    let numbers: Vec<f64> = answers
        .iter()
        .filter_map(|(v, _)| v.replace(',', "").parse::<f64>().ok())
        .collect();
    if numbers.len() == answers.len() && answers.len() > top {
        let (lo, hi) = numbers
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(*x), b.max(*x))
            });
        return format!(
            "numbers: {} distinct, from {lo} to {hi}{blank}",
            answers.len()
        );
    }
    if !crate::ingest::answers_listable(&answers) {
        return format!(
            "{} distinct values, mostly unique (free text, numbers, names or identifiers: not listed){blank}",
            answers.len()
        );
    }
    let shown: Vec<String> = answers
        .iter()
        .take(top)
        .map(|(v, n)| format!("{v} ({n})"))
        .collect();
    let rest = answers.len().saturating_sub(top);
    format!(
        "{}{}{blank}",
        shown.join(" · "),
        if rest > 0 {
            format!(" · … {rest} more value{}", if rest == 1 { "" } else { "s" })
        } else {
            String::new()
        }
    )
}

fn human(t: &SourceTable, top: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "file:        {}", t.file);
    if let Some(sheet) = &t.sheet {
        let _ = writeln!(s, "sheet:       {sheet}");
    }
    let _ = writeln!(s, "layout:      {}", layout_name(t.layout));
    if let Some(e) = &t.encoding {
        let _ = writeln!(s, "encoding:    {e}");
    }
    if let Some(d) = t.delimiter {
        let shown = match d {
            '\t' => "tab".to_string(),
            c => format!("'{c}'"),
        };
        let _ = writeln!(s, "delimiter:   {shown}");
    }
    let _ = writeln!(
        s,
        "header:      row {} ({} header row{})",
        t.header_row,
        t.header_rows,
        if t.header_rows == 1 { "" } else { "s" }
    );
    let blank = t.rows.iter().filter(|r| r.is_blank()).count();
    let _ = writeln!(s, "records:     {} ({} blank)", t.rows.len(), blank);
    let _ = writeln!(s, "sha256:      {}", t.sha256);
    let _ = writeln!(s, "columns:     {}", t.columns.len());
    for (i, c) in t.columns.iter().enumerate() {
        match &c.text {
            Some(text) if text != &c.id => {
                let _ = writeln!(s, "  {:>3}  {}  —  {}", i + 1, c.id, text);
            }
            _ => {
                let _ = writeln!(s, "  {:>3}  {}", i + 1, c.id);
            }
        }
        if top > 0 {
            let _ = writeln!(s, "         {}", answers_line(t, i, top));
        }
    }
    for n in &t.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

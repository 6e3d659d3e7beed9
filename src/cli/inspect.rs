//! `supplyrisk inspect FILE`: what supplyrisk reads from one file, without a spec — layout,
//! encoding, delimiter, sheet, header rows, columns (name and question text) and the number of
//! records. `--json` prints one object (documented in docs/inspect.md).

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::ingest::{layout_name, read_path, ReadOptions, SourceTable};

pub(super) fn inspect(file: &Path, opts: &ReadOptions, json: bool) -> Result<String> {
    let display = file.display().to_string();
    let table = read_path(file, &display, opts)?;
    if json {
        let mut s = serde_json::to_string_pretty(&table.describe_json())
            .map_err(|e| Error::output(file, e))?;
        s.push('\n');
        return Ok(s);
    }
    Ok(human(&table))
}

fn human(t: &SourceTable) -> String {
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
    }
    for n in &t.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

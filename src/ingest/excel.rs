//! Workbooks (.xlsx, .xlsm, .xlsb, .xls, .ods) through calamine: sheet by name or the first
//! sheet holding data; numbers, dates and error cells turned into text the cleaner understands.

use std::io::Cursor;
use std::path::Path;

use calamine::{open_workbook_auto_from_rs, Data, Reader};

use super::Grid;
use crate::error::{Error, Result};

/// Text of one cell. Whole numbers lose their `.0`; dates become ISO 8601; error cells become
/// blank with a note.
fn cell_text(cell: &Data, at: &str, notes: &mut Vec<String>) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                f.to_string()
            }
        }
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(ndt) => {
                if dt.as_f64().fract() == 0.0 {
                    ndt.format("%Y-%m-%d").to_string()
                } else {
                    ndt.format("%Y-%m-%dT%H:%M:%S").to_string()
                }
            }
            None => dt.as_f64().to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => {
            notes.push(format!("{at}: error cell {e} read as missing"));
            String::new()
        }
    }
}

fn column_letter(mut c: usize) -> String {
    let mut s = Vec::new();
    c += 1;
    while c > 0 {
        let r = (c - 1) % 26;
        s.push(b'A' + r as u8);
        c = (c - 1) / 26;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

pub(crate) fn read_workbook(
    path: &Path,
    file: &str,
    sheet: Option<&str>,
    bytes: Vec<u8>,
    notes: &mut Vec<String>,
) -> Result<(Grid, String)> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| Error::input(file, format!("cannot open as a workbook: {e}")))?;
    let names = book.sheet_names();
    let chosen = match sheet {
        Some(s) => {
            if let Some(name) = names.iter().find(|n| n.as_str() == s) {
                name.clone()
            } else if let Some(idx) = s
                .parse::<usize>()
                .ok()
                .filter(|i| *i >= 1 && *i <= names.len())
            {
                names[idx - 1].clone()
            } else {
                return Err(Error::input(
                    file,
                    format!(
                        "no sheet named `{s}`; the workbook has: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        None => {
            let mut found = None;
            for n in &names {
                if let Ok(r) = book.worksheet_range(n) {
                    if !r.is_empty() {
                        found = Some(n.clone());
                        break;
                    }
                }
            }
            found.ok_or_else(|| Error::input(file, "no sheet in the workbook holds data"))?
        }
    };
    let range = book.worksheet_range(&chosen).map_err(|e| {
        Error::input(
            format!("{file} [{chosen}]"),
            format!("cannot read the sheet: {e}"),
        )
    })?;
    let (start_row, start_col) = range.start().unwrap_or((0, 0));
    let mut rows = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let row_no = start_row as usize + i + 1;
        let mut cells = Vec::with_capacity(start_col as usize + row.len());
        cells.resize(start_col as usize, String::new());
        for (j, cell) in row.iter().enumerate() {
            let at = format!(
                "{file} [{chosen}] cell {}{row_no}",
                column_letter(start_col as usize + j)
            );
            cells.push(cell_text(cell, &at, notes));
        }
        rows.push((row_no, cells));
    }
    let _ = path;
    Ok((Grid { rows }, chosen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
    }
}

//! Workbooks (.xlsx, .xlsm, .xlsb, .xls, .ods) through calamine: sheet by name or index, or the
//! first sheet holding data; cached formula results, numbers, dates and error cells turned into
//! text the cleaner understands. Zip-based workbooks are checked first for entries that would
//! expand past a size limit (a decompression bomb stops early, in bounded memory), and a reader
//! failure on a corrupt file becomes an error, never a crash.

use std::io::{Cursor, Read};

use calamine::{open_workbook_auto_from_rs, Data, Reader};

use super::Grid;
use crate::error::{Error, Result};

/// Largest uncompressed size of one workbook part (sheet XML, shared strings): 1 GiB.
pub const MAX_PART_BYTES: u64 = 1 << 30;

/// The serial of 9999-12-31 23:59:59, Excel's last date.
const EXCEL_LAST_SERIAL: f64 = 2_958_465.999_99;

const ERROR_LITERALS: [&str; 7] = [
    "#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!",
];

/// Text of one cell. Whole numbers lose their `.0`; dates become ISO 8601; error cells become
/// blank with a note.
fn cell_text(cell: &Data, at: impl Fn() -> String, notes: &mut Vec<String>) -> String {
    match cell {
        Data::Empty => String::new(),
        // .ods stores error results as their text.
        Data::String(s) if ERROR_LITERALS.contains(&s.as_str()) => {
            notes.push(format!("{}: error cell {s} read as missing", at()));
            String::new()
        }
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
        // Outside Excel's calendar (years 1900–9999) a date serial is not a date; chrono would
        // panic converting it.
        Data::DateTime(dt) if !(-1.0..=EXCEL_LAST_SERIAL).contains(&dt.as_f64()) => {
            notes.push(format!(
                "{}: date cell holds {}, outside Excel's date range; read as missing",
                at(),
                dt.as_f64()
            ));
            String::new()
        }
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(ndt) if dt.is_datetime() => {
                if dt.as_f64().fract() == 0.0 {
                    ndt.format("%Y-%m-%d").to_string()
                } else if dt.as_f64() < 1.0 {
                    ndt.format("%H:%M:%S").to_string()
                } else {
                    ndt.format("%Y-%m-%dT%H:%M:%S").to_string()
                }
            }
            _ => dt.as_f64().to_string(),
        },
        Data::DateTimeIso(s) => s.clone(),
        Data::DurationIso(s) => iso_duration_clock(s).unwrap_or_else(|| s.clone()),
        Data::Error(e) => {
            notes.push(format!("{}: error cell {e} read as missing", at()));
            String::new()
        }
    }
}

/// `PT09H15M00S` (how .ods stores a time of day) as `09:15:00`.
fn iso_duration_clock(s: &str) -> Option<String> {
    let rest = s.strip_prefix("PT")?;
    let (h, rest) = rest.split_once('H')?;
    let (m, rest) = rest.split_once('M')?;
    let sec = rest.strip_suffix('S')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let sec: f64 = sec.parse().ok()?;
    (h < 24).then(|| format!("{h:02}:{m:02}:{:02}", sec.round() as u32))
}

pub(crate) fn column_letter(mut c: usize) -> String {
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

/// Refuse zip-based workbooks whose parts expand past [`MAX_PART_BYTES`], decompressing each
/// part into a counting sink (never into memory) and stopping at the limit.
///
/// Returns whether any sheet part holds a formula (`<f>` in .xlsx/.xlsm, `table:formula` in .ods);
/// non-zip workbooks answer `true` (unknown).
fn check_zip_sizes(bytes: &[u8], file: &str) -> Result<bool> {
    if !bytes.starts_with(b"PK") {
        return Ok(true);
    }
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        // Not a readable zip: calamine reports the corruption.
        return Ok(true);
    };
    let mut formulas = false;
    for i in 0..archive.len() {
        let Ok(entry) = archive.by_index(i) else {
            continue;
        };
        let name = entry
            .name()
            .map_or_else(|_| format!("#{i}"), |n| n.to_string());
        if entry.size() > MAX_PART_BYTES {
            return Err(Error::input(
                file,
                format!("workbook part `{name}` declares {} bytes uncompressed, over the {} MiB limit; refusing to expand it", entry.size(), MAX_PART_BYTES >> 20),
            ));
        }
        let is_sheet = name.starts_with("xl/worksheets/") || name == "content.xml";
        let mut limited = entry.take(MAX_PART_BYTES + 1);
        let n = if is_sheet && !formulas {
            let mut scan = FormulaScan::default();
            let n = std::io::copy(&mut limited, &mut scan).unwrap_or(0);
            formulas = scan.found;
            n
        } else {
            std::io::copy(&mut limited, &mut std::io::sink()).unwrap_or(0)
        };
        if n > MAX_PART_BYTES {
            return Err(Error::input(
                file,
                format!("workbook part `{name}` expands past {} MiB (a decompression bomb?); stopped reading", MAX_PART_BYTES >> 20),
            ));
        }
    }
    Ok(formulas)
}

/// A sink that notices formula markup (`<f>`, `<f `, `table:formula=`) in streamed sheet XML.
#[derive(Default)]
struct FormulaScan {
    found: bool,
    /// The last bytes of the previous chunk, so a marker split across chunks is still seen.
    tail: Vec<u8>,
}

impl std::io::Write for FormulaScan {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.found {
            let mut joined = std::mem::take(&mut self.tail);
            joined.extend_from_slice(&buf[..buf.len().min(16)]);
            let hit = |b: &[u8]| {
                b.windows(3)
                    .any(|w| w[0] == b'<' && w[1] == b'f' && (w[2] == b'>' || w[2] == b' '))
                    || b.windows(14).any(|w| w == b"table:formula=")
            };
            self.found = hit(&joined) || hit(buf);
            self.tail = buf[buf.len().saturating_sub(16)..].to_vec();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Read a BIFF12 varint (record type: up to 2 bytes; size: up to 4 bytes).
fn biff12_varint(data: &[u8], pos: &mut usize, max_bytes: usize) -> Option<u32> {
    let mut value = 0u32;
    for i in 0..max_bytes {
        let b = *data.get(*pos)?;
        *pos += 1;
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    Some(value)
}

/// .xlsb sheets may store cells in the compact `BrtShort*` records (types 12–18: the column is
/// implied by the previous cell), as SheetJS writes every cell after the first of a row. The
/// workbook reader skips those records, so such a sheet would read with columns silently
/// missing: refuse it instead.
fn check_xlsb_short_cells(bytes: &[u8], file: &str) -> Result<()> {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .collect();
    if !names.iter().any(|n| n == "xl/workbook.bin") {
        return Ok(());
    }
    for name in names
        .iter()
        .filter(|n| n.starts_with("xl/worksheets/") && n.ends_with(".bin"))
    {
        let Ok(entry) = archive.by_name(name) else {
            continue;
        };
        let mut data = Vec::new();
        if entry.take(MAX_PART_BYTES).read_to_end(&mut data).is_err() {
            continue;
        }
        let mut pos = 0;
        while pos < data.len() {
            let (Some(kind), Some(size)) = (
                biff12_varint(&data, &mut pos, 2),
                biff12_varint(&data, &mut pos, 4),
            ) else {
                break;
            };
            if (12..=18).contains(&kind) {
                return Err(Error::input(
                    file,
                    format!(
                        "`{name}` stores cells in compact records (as SheetJS writes .xlsb) that the workbook reader \
                         would skip, losing columns; open the file in Excel or LibreOffice and save it as .xlsx"
                    ),
                ));
            }
            pos = pos.saturating_add(size as usize);
        }
    }
    Ok(())
}

fn reader_failed(file: &str) -> Error {
    Error::input(file, "the workbook is corrupt or truncated: the workbook reader failed on it; re-save it from Excel or LibreOffice")
}

/// One sheet as its non-empty cells: (0-based row, 0-based column, text), in row-major order.
pub(crate) struct SheetCells {
    pub sheet: String,
    pub cells: Vec<(u32, u32, String)>,
}

/// Runs of more absent rows than this between two rows with cells are not read as blank rows
/// (a stray cell a million rows down would otherwise be a million quarantined "rows"); a note
/// names the rows skipped.
pub const MAX_BLANK_RUN: u32 = 10_000;

/// A sheet whose padded rectangle (rows with cells × columns) would exceed this many fields,
/// and 50 times the cells it really holds, is refused rather than materialised.
pub const MAX_PADDED_FIELDS: u64 = 20_000_000;

/// Read a workbook's sheet: in a child process with a memory limit when running as the
/// `supplyrisk` binary (see [`super::contained`]), else in this process.
pub(crate) fn read_workbook(
    bytes: &[u8],
    file: &str,
    sheet: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<(Grid, String)> {
    let cells = match super::contained::reader_exe() {
        Some(exe) => super::contained::read_in_child(&exe, bytes, file, sheet, notes)?,
        None => read_cells(bytes, file, sheet, notes)?,
    };
    let name = cells.sheet.clone();
    Ok((grid_from_cells(cells, file, notes)?, name))
}

/// The rows of a sheet from its cells: every row from the first with a cell to the last, blank
/// where the sheet has none (cleaning quarantines blank rows), each padded to the sheet's
/// width — except long runs of absent rows ([`MAX_BLANK_RUN`]) and rectangles far larger than
/// the data ([`MAX_PADDED_FIELDS`]).
pub(crate) fn grid_from_cells(
    cells: SheetCells,
    file: &str,
    notes: &mut Vec<String>,
) -> Result<Grid> {
    let SheetCells { sheet, cells } = cells;
    let Some(width) = cells.iter().map(|c| c.1 as usize + 1).max() else {
        return Ok(Grid::default());
    };
    let mut rows_with_cells = 0u64;
    let mut last = None;
    for c in &cells {
        if last != Some(c.0) {
            rows_with_cells += 1;
            last = Some(c.0);
        }
    }
    let padded = rows_with_cells * width as u64;
    if padded > MAX_PADDED_FIELDS && padded > 50 * cells.len() as u64 {
        let far = cells
            .iter()
            .max_by_key(|c| c.1)
            .map_or((0, 0), |c| (c.0, c.1));
        return Err(Error::input(
            format!("{file} [{sheet}]"),
            format!(
                "the sheet spans {rows_with_cells} rows × {width} columns ({padded} fields) but holds only {} cells \
                 (the farthest is {}{}); delete the stray cells, or copy the data to a new sheet or a CSV file",
                cells.len(),
                column_letter(far.1 as usize),
                far.0 + 1
            ),
        ));
    }
    let mut rows = Grid::default();
    let mut i = 0;
    let mut prev_row: Option<u32> = None;
    while i < cells.len() {
        let r = cells[i].0;
        if let Some(p) = prev_row {
            let gap = r - p - 1;
            if gap > MAX_BLANK_RUN {
                notes.push(format!(
                    "{file} [{sheet}]: rows {}–{} hold no cells ({gap} rows); not read as blank rows",
                    p + 2,
                    r
                ));
            } else {
                for b in p + 1..r {
                    rows.push_row(b as usize + 1, []).unwrap_or_default();
                }
            }
        }
        let mut record: Vec<&str> = Vec::with_capacity(width);
        while i < cells.len() && cells[i].0 == r {
            let (_, c, text) = &cells[i];
            record.resize((*c as usize).max(record.len()), "");
            record.push(text);
            i += 1;
        }
        record.resize(width.max(record.len()), "");
        rows.push_row(r as usize + 1, record).ok_or_else(|| {
            Error::input(
                format!("{file} [{sheet}] row {}", r + 1),
                "a row of more than 4 GiB of text",
            )
        })?;
        prev_row = Some(r);
    }
    Ok(rows)
}

type Book<'a> = calamine::Sheets<Cursor<&'a [u8]>>;

/// The non-empty cells of sheet `name`, read without materialising its declared rectangle
/// where the format allows it (.xlsx/.xlsm and .xlsb stream their cells; .xls and .ods are
/// read as a range). A reader panic is an error naming the file.
fn sheet_cells(
    book: &mut Book<'_>,
    file: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<(u32, u32, String)>> {
    let at_cell = |r: u32, c: u32| {
        format!(
            "{file} [{name}] cell {}{}",
            column_letter(c as usize),
            r + 1
        )
    };
    let cannot = |e: String| {
        Error::input(
            format!("{file} [{name}]"),
            format!("cannot read the sheet: {e}"),
        )
    };
    let mut out: Vec<(u32, u32, String)> = Vec::new();
    let mut push = |r: u32, c: u32, d: Data, notes: &mut Vec<String>| {
        let text = cell_text(&d, || at_cell(r, c), notes);
        if !text.is_empty() {
            out.push((r, c, text));
        }
    };
    let read = crate::bug::contained(|| -> std::result::Result<(), String> {
        match book {
            calamine::Sheets::Xlsx(x) => {
                let mut cr = x.worksheet_cells_reader(name).map_err(|e| e.to_string())?;
                while let Some(cell) = cr.next_cell().map_err(|e| e.to_string())? {
                    let (r, c) = cell.get_position();
                    push(r, c, Data::from(cell.get_value().clone()), notes);
                }
            }
            calamine::Sheets::Xlsb(x) => {
                let mut cr = x.worksheet_cells_reader(name).map_err(|e| e.to_string())?;
                while let Some(cell) = cr.next_cell().map_err(|e| e.to_string())? {
                    let (r, c) = cell.get_position();
                    push(r, c, Data::from(cell.get_value().clone()), notes);
                }
            }
            other => {
                let range = other.worksheet_range(name).map_err(|e| e.to_string())?;
                let (r0, c0) = range.start().unwrap_or((0, 0));
                for (r, c, d) in range.used_cells() {
                    push(r0 + r as u32, c0 + c as u32, d.clone(), notes);
                }
            }
        }
        Ok(())
    });
    match read {
        Err(_) => Err(reader_failed(file)),
        Ok(Err(e)) => Err(cannot(e)),
        Ok(Ok(())) => {
            // Streamed cells come in file order; rows and columns are what the grid needs.
            out.sort_by_key(|c| (c.0, c.1));
            out.dedup_by_key(|c| (c.0, c.1));
            Ok(out)
        }
    }
}

/// Read the cells of the chosen sheet (by name, by 1-based index, or the first holding data) in
/// this process.
pub(crate) fn read_cells(
    bytes: &[u8],
    file: &str,
    sheet: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<SheetCells> {
    let may_have_formulas = check_zip_sizes(bytes, file)?;
    check_xlsb_short_cells(bytes, file)?;
    let opened = crate::bug::contained(|| open_workbook_auto_from_rs(Cursor::new(bytes)));
    let mut book = match opened {
        Err(_) => return Err(reader_failed(file)),
        Ok(Err(e)) => {
            return Err(Error::input(
                file,
                format!("cannot open as a workbook (corrupt, truncated or not a workbook): {e}"),
            ))
        }
        Ok(Ok(b)) => b,
    };
    let names = book.sheet_names();
    if names.is_empty() {
        return Err(Error::input(file, "the workbook has no sheets"));
    }
    let (chosen, cells) = match sheet {
        Some(s) => {
            let name = if let Some(n) = names.iter().find(|n| n.as_str() == s) {
                n.clone()
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
            };
            let cells = sheet_cells(&mut book, file, &name, notes)?;
            (name, cells)
        }
        None => {
            let mut found = None;
            for n in &names {
                let cells = sheet_cells(&mut book, file, n, notes)?;
                if !cells.is_empty() {
                    found = Some((n.clone(), cells));
                    break;
                }
            }
            found.ok_or_else(|| {
                Error::input(
                    file,
                    format!("no sheet holds data (sheets: {})", names.join(", ")),
                )
            })?
        }
    };
    // Formulas saved without a result (files written by scripts) read as empty: say so. The
    // formula range is rectangular, so only for sheets of a sane extent.
    let extent = cells.last().map_or(0, |c| u64::from(c.0) + 1)
        * cells.iter().map(|c| u64::from(c.1) + 1).max().unwrap_or(0);
    let formulas = if may_have_formulas && extent <= MAX_PADDED_FIELDS {
        crate::bug::contained(|| book.worksheet_formula(&chosen))
            .ok()
            .and_then(std::result::Result::ok)
    } else {
        None
    };
    if let Some(formulas) = formulas {
        let (f_row, f_col) = formulas.start().unwrap_or((0, 0));
        let mut missing = Vec::new();
        for (r, c, f) in formulas.used_cells() {
            let (row, col) = (f_row + r as u32, f_col + c as u32);
            let has_value = cells
                .binary_search_by_key(&(row, col), |x| (x.0, x.1))
                .is_ok();
            if !f.is_empty() && !has_value {
                missing.push(format!("{}{}", column_letter(col as usize), row + 1));
            }
        }
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
            notes.push(format!(
                "{file} [{chosen}]: {} formula cell(s) have no saved result ({}{}) and read as missing — \
                 the file was probably written by a script; open and save it in Excel or LibreOffice",
                missing.len(),
                shown.join(", "),
                if missing.len() > 5 { ", …" } else { "" }
            ));
        }
    }
    Ok(SheetCells {
        sheet: chosen,
        cells,
    })
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

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        let mut notes = Vec::new();
        assert!(read_workbook(b"PK\x03\x04garbage", "x.xlsx", None, &mut notes).is_err());
        assert!(read_workbook(
            &[0xD0, 0xCF, 0x11, 0xE0, 1, 2, 3],
            "x.xls",
            None,
            &mut notes
        )
        .is_err());
    }
}

//! `tables.xlsx`: every published table as one formatted sheet (bold shaded header, frozen
//! header row, filters, number formats, column widths) behind a README sheet that says what
//! each table and column holds — for task-group members who paste tables into drafts.
//!
//! Safe and reproducible: text is always written as text, never as a formula, and a text cell
//! that a spreadsheet would read as one (starting with `=`, `+`, `-`, `@`, tab or carriage
//! return) carries Excel's quote-prefix ("this is text") attribute; suppressed numbers are
//! blank; the document properties are fixed (no wall-clock creation time), so the same run
//! gives the same bytes.

use std::path::Path;

use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, FormatBorder, Workbook, Worksheet, XlsxError,
};

use crate::error::{Error, Result};
use crate::spec::Spec;
use crate::table::{Table, Values};

/// One sheet: its name, the table, a sentence on what it holds, and which cells hold shares
/// (formatted as percentages): `percent(column, row)`.
pub struct Sheet<'a> {
    pub name: &'a str,
    pub table: &'a Table,
    pub about: &'a str,
    pub percent: &'a dyn Fn(&str, usize) -> bool,
}

/// A cell of the Headline sheet.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    /// A share (0–1), shown as a percentage.
    Percent(f64),
    /// A number with one decimal.
    Number(f64),
    Count(usize),
    Empty,
}

/// A titled table of the Headline sheet.
pub struct Block {
    pub title: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// The Headline sheet: the report's key findings and its key tables, ready to paste.
pub struct Headline {
    pub findings: Vec<String>,
    pub blocks: Vec<Block>,
}

fn xlsx_err(path: &Path) -> impl Fn(XlsxError) -> Error + '_ {
    move |e| Error::output(path, e)
}

/// Whether a spreadsheet would take this text for a formula.
fn formula_like(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Write `tables.xlsx`. `withheld`: a sentence per table on what disclosure control withheld and
/// why; `failed_gates`: the quality gates the run failed (a line each at the top of the README).
pub fn write_workbook(
    path: &Path,
    spec: &Spec,
    sheets: &[Sheet<'_>],
    headline: &Headline,
    withheld: &[String],
    failed_gates: &[String],
) -> Result<()> {
    let err = xlsx_err(path);
    let mut wb = Workbook::new();
    let fixed = ExcelDateTime::from_ymd(2000, 1, 1).map_err(&err)?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("{} — {}", spec.survey.title, spec.survey.round))
            .set_subject(spec.survey.tlp.label().to_string())
            .set_author("supplyrisk")
            .set_creation_datetime(&fixed),
    );
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xDDE6F0))
        .set_border_bottom(FormatBorder::Thin);
    let text = Format::new();
    let quoted = Format::new().set_quote_prefix();
    let decimal = Format::new().set_num_format("0.0000");
    let percent = Format::new().set_num_format("0.0%");
    let one_decimal = Format::new().set_num_format("0.0");
    let integer = Format::new().set_num_format("0");
    let title = Format::new().set_bold().set_font_size(14);

    let readme = wb.add_worksheet();
    readme.set_name("README").map_err(&err)?;
    readme.set_column_width(0, 28).map_err(&err)?;
    readme.set_column_width(1, 90).map_err(&err)?;
    let mut row = 0u32;
    let mut line = |ws: &mut Worksheet, a: &str, b: &str, f: &Format| -> Result<()> {
        write_text(ws, row, 0, a, f, &quoted).map_err(&err)?;
        write_text(ws, row, 1, b, &text, &quoted).map_err(&err)?;
        row += 1;
        Ok(())
    };
    line(readme, &spec.survey.title, "", &title)?;
    line(readme, "Round", &spec.survey.round, &text)?;
    line(
        readme,
        "TLP",
        &format!(
            "{} — share only as this label allows",
            spec.survey.tlp.label()
        ),
        &text,
    )?;
    for g in failed_gates {
        line(
            readme,
            "QUALITY GATE FAILED",
            &format!("{g} — do not publish or forward these results"),
            &text,
        )?;
    }
    line(readme, "Withheld", crate::disclose::LEGEND, &text)?;
    line(readme, "", crate::disclose::CAUTION_LEGEND, &text)?;
    for x in withheld {
        line(readme, "", x, &text)?;
    }
    line(readme, "", "", &text)?;
    line(readme, "Sheet", "What it holds", &header)?;
    line(
        readme,
        "Headline",
        "the report's key findings and headline tables, with labels and units, ready to paste",
        &text,
    )?;
    for s in sheets {
        line(readme, s.name, s.about, &text)?;
    }
    for s in sheets {
        line(readme, "", "", &text)?;
        line(readme, s.name, "Column meanings", &header)?;
        for name in s.table.names() {
            line(
                readme,
                name,
                crate::published::column_meaning(s.name, name),
                &text,
            )?;
        }
    }

    // The Headline sheet: findings, then each block under its title.
    {
        let ws = wb.add_worksheet();
        ws.set_name("Headline").map_err(&err)?;
        let mut r = 0u32;
        write_text(ws, r, 0, &spec.survey.title, &title, &quoted).map_err(&err)?;
        r += 1;
        write_text(
            ws,
            r,
            0,
            &format!("Round {} · {}", spec.survey.round, spec.survey.tlp.label()),
            &text,
            &quoted,
        )
        .map_err(&err)?;
        r += 2;
        for g in failed_gates {
            write_text(
                ws,
                r,
                0,
                &format!("QUALITY GATE FAILED: {g}"),
                &text,
                &quoted,
            )
            .map_err(&err)?;
            r += 1;
        }
        write_text(ws, r, 0, "Key findings", &header, &quoted).map_err(&err)?;
        r += 1;
        for f in &headline.findings {
            write_text(ws, r, 0, f, &text, &quoted).map_err(&err)?;
            r += 1;
        }
        let mut widths = vec![12usize; 1];
        for b in &headline.blocks {
            r += 1;
            write_text(ws, r, 0, &b.title, &title, &quoted).map_err(&err)?;
            r += 1;
            for (c, h) in b.head.iter().enumerate() {
                ws.write_string_with_format(r, c as u16, h, &header)
                    .map_err(&err)?;
                if widths.len() <= c {
                    widths.resize(c + 1, 12);
                }
                widths[c] = widths[c].max(h.chars().count());
            }
            r += 1;
            for row in &b.rows {
                for (c, cell) in row.iter().enumerate() {
                    let c16 = c as u16;
                    if widths.len() <= c {
                        widths.resize(c + 1, 12);
                    }
                    match cell {
                        Cell::Text(x) => {
                            write_text(ws, r, c16, x, &text, &quoted).map_err(&err)?;
                            widths[c] = widths[c].max(x.chars().count());
                        }
                        Cell::Percent(x) if x.is_finite() => {
                            ws.write_number_with_format(r, c16, *x, &percent)
                                .map_err(&err)?;
                        }
                        Cell::Number(x) if x.is_finite() => {
                            ws.write_number_with_format(r, c16, *x, &one_decimal)
                                .map_err(&err)?;
                        }
                        Cell::Count(x) => {
                            ws.write_number_with_format(r, c16, *x as f64, &integer)
                                .map_err(&err)?;
                        }
                        _ => {}
                    }
                }
                r += 1;
            }
        }
        // The findings are long sentences: the first column is not widened for them.
        for (c, w) in widths.iter().enumerate() {
            ws.set_column_width(c as u16, (*w.min(&48) + 2) as f64)
                .map_err(&err)?;
        }
    }

    for s in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(s.name).map_err(&err)?;
        let t = s.table;
        let height = t.height() as u32;
        for (c, (name, values)) in t.columns.iter().enumerate() {
            let c = c as u16;
            ws.write_string_with_format(0, c, name, &header)
                .map_err(&err)?;
            let mut width = name.chars().count();
            for i in 0..t.height() {
                let r = i as u32 + 1;
                match values {
                    Values::Text(_) | Values::Codes { .. } => {
                        if let Some(x) = values.text_at(i) {
                            write_text(ws, r, c, x, &text, &quoted).map_err(&err)?;
                            width = width.max(x.chars().count());
                        }
                    }
                    Values::Float(v) => {
                        if let Some(x) = Some(v[i]).filter(|x| x.is_finite()) {
                            let f = if (s.percent)(name, i) {
                                &percent
                            } else {
                                &decimal
                            };
                            ws.write_number_with_format(r, c, x, f).map_err(&err)?;
                            width = width.max(10);
                        }
                    }
                    Values::Int(v) => {
                        if let Some(x) = v[i] {
                            ws.write_number_with_format(r, c, x as f64, &integer)
                                .map_err(&err)?;
                            width = width.max(x.to_string().len());
                        }
                    }
                    Values::Bool(v) => {
                        if let Some(x) = v[i] {
                            ws.write_boolean(r, c, x).map_err(&err)?;
                            width = width.max(5);
                        }
                    }
                }
            }
            ws.set_column_width(c, (width.min(60) + 2) as f64)
                .map_err(&err)?;
        }
        ws.set_freeze_panes(1, 0).map_err(&err)?;
        if !t.columns.is_empty() {
            ws.autofilter(0, 0, height, t.columns.len() as u16 - 1)
                .map_err(&err)?;
        }
    }
    // Level 3 deflate: about half the time of the default level (6) for ~10% more bytes.
    wb.set_zip_compression_level(3);
    wb.save(path).map_err(&err)
}

fn write_text(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    s: &str,
    format: &Format,
    quoted: &Format,
) -> std::result::Result<(), XlsxError> {
    let f = if formula_like(s) { quoted } else { format };
    ws.write_string_with_format(row, col, s, f).map(|_| ())
}

//! A small column-oriented table that every stage's outputs pass through, written as CSV (the
//! csv crate; shortest round-trip floats, empty = missing) and as Parquet (polars — the only
//! module that touches polars, so a polars upgrade changes one file).

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use polars::prelude::{
    ChunkTake, Column as PlColumn, DataFrame, Float64Chunked, IdxCa, IdxSize, IntoSeries,
    NamedFrom, NewChunkedArray, ParquetCompression, ParquetWriter, Series, StringChunked,
};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub enum Values {
    Text(Vec<Option<String>>),
    /// Text from a small vocabulary (option codes, file names, tier names): each cell an index
    /// into `levels` (`None` = empty). Written exactly as `Text` (a string column in Parquet),
    /// without a string per cell in memory.
    Codes {
        levels: Vec<String>,
        codes: Vec<Option<u32>>,
    },
    /// Finite numbers; NaN marks an empty cell (half the memory of `Option<f64>`).
    Float(Vec<f64>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Text(v) => v.len(),
            Values::Codes { codes, .. } => codes.len(),
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    /// Text cell `i` as stored (before formula neutralization); `None` for other columns.
    pub fn text_at(&self, i: usize) -> Option<&str> {
        match self {
            Values::Text(v) => v[i].as_deref(),
            Values::Codes { levels, codes } => {
                codes[i].and_then(|c| levels.get(c as usize).map(String::as_str))
            }
            _ => None,
        }
    }

    fn cell(&self, i: usize) -> String {
        let mut s = String::new();
        self.write_cell(i, &mut s);
        s
    }

    /// Cell `i` as the CSV shows it, into `buf` (cleared first).
    fn write_cell(&self, i: usize, buf: &mut String) {
        use std::fmt::Write;
        buf.clear();
        match self {
            Values::Text(_) | Values::Codes { .. } => {
                if let Some(s) = self.text_at(i) {
                    buf.push_str(&neutralize_formula(s));
                }
            }
            Values::Float(v) => {
                if let Some(x) = Some(v[i]).filter(|x| x.is_finite()) {
                    let _ = write!(buf, "{x}");
                }
            }
            Values::Int(v) => {
                if let Some(x) = v[i] {
                    let _ = write!(buf, "{x}");
                }
            }
            Values::Bool(v) => {
                if let Some(x) = v[i] {
                    buf.push_str(if x { "true" } else { "false" });
                }
            }
        }
    }
}

/// The text of the floats one CSV column wrote last, so a value met again is copied, not
/// formatted again: a respondent-level column takes few distinct values (a weight per
/// weighting cell, a domain's maturity levels), and `{}` of an f64 is most of the cost of
/// writing one. Direct-mapped on the value's bits: a column of distinct values pays one
/// comparison a cell. The bytes are `{}`'s, whichever way they are found.
struct FloatTexts {
    /// (bits, length, text) per slot; `u64::MAX` (a NaN, never written) marks an empty slot.
    slots: Vec<(u64, u8, [u8; 32])>,
}

impl FloatTexts {
    const SLOTS: usize = 256;

    fn new(used: bool) -> Self {
        let n = if used { Self::SLOTS } else { 0 };
        FloatTexts {
            slots: vec![(u64::MAX, 0, [0; 32]); n],
        }
    }

    /// `x` (finite) as `{}` writes it, formatted through `buf` when not held.
    fn text<'a>(&'a mut self, x: f64, buf: &'a mut String) -> &'a [u8] {
        use std::fmt::Write;
        let bits = x.to_bits();
        let at = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % Self::SLOTS;
        if self.slots[at].0 == bits {
            let (_, len, text) = &self.slots[at];
            return &text[..usize::from(*len)];
        }
        buf.clear();
        let _ = write!(buf, "{x}");
        if buf.len() <= 32 {
            let slot = &mut self.slots[at];
            slot.0 = bits;
            slot.1 = buf.len() as u8;
            slot.2[..buf.len()].copy_from_slice(buf.as_bytes());
        }
        buf.as_bytes()
    }
}

/// One column's CSV fields for a few hundred rows at a time: their bytes one after another
/// (then [`SHORT_FIELD`] zero bytes of padding), and where each ends. Numbers and booleans
/// never need quotes; a vocabulary column's levels are written (formula-neutralized and
/// quoted) once. Made in small runs of rows so that every column's fields of a run stay in
/// cache while the records are interleaved from them.
struct ColumnFields<'a> {
    column: &'a Values,
    levels: Vec<Vec<u8>>,
    floats: FloatTexts,
    buf: String,
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl<'a> ColumnFields<'a> {
    fn new(column: &'a Values) -> Self {
        let levels = match column {
            Values::Codes { levels, .. } => levels
                .iter()
                .map(|l| {
                    let mut field = Vec::new();
                    push_csv_field(&mut field, neutralize_formula(l).as_bytes());
                    field
                })
                .collect(),
            _ => Vec::new(),
        };
        ColumnFields {
            column,
            levels,
            floats: FloatTexts::new(matches!(column, Values::Float(_))),
            buf: String::new(),
            bytes: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// The fields of rows `rows` (replacing the previous run's).
    fn fill(&mut self, rows: std::ops::Range<usize>) {
        let (bytes, ends) = (&mut self.bytes, &mut self.ends);
        bytes.clear();
        ends.clear();
        let mut end = |bytes: &Vec<u8>| ends.push(bytes.len() as u32);
        match self.column {
            Values::Codes { codes, .. } => {
                for i in rows {
                    if let Some(l) = codes[i].and_then(|k| self.levels.get(k as usize)) {
                        bytes.extend_from_slice(l);
                    }
                    end(bytes);
                }
            }
            Values::Float(v) => {
                for &x in &v[rows] {
                    if x.is_finite() {
                        bytes.extend_from_slice(self.floats.text(x, &mut self.buf));
                    }
                    end(bytes);
                }
            }
            Values::Int(v) => {
                let mut digits = itoa::Buffer::new();
                for x in &v[rows] {
                    if let Some(x) = x {
                        bytes.extend_from_slice(digits.format(*x).as_bytes());
                    }
                    end(bytes);
                }
            }
            Values::Bool(v) => {
                for x in &v[rows] {
                    if let Some(x) = x {
                        bytes.extend_from_slice(if *x { b"true" } else { b"false" });
                    }
                    end(bytes);
                }
            }
            Values::Text(_) => {
                for i in rows {
                    self.column.write_cell(i, &mut self.buf);
                    push_csv_field(bytes, self.buf.as_bytes());
                    end(bytes);
                }
            }
        }
        bytes.extend_from_slice(&[0; SHORT_FIELD]);
    }

    /// The fields' bytes without the padding.
    fn width(&self) -> usize {
        self.bytes.len() - SHORT_FIELD
    }
}

/// Append `rows` CSV records made of `columns`' fields: each record is its fields, a comma
/// after each but the last, then `\n`; a record of one empty field is `""`.
fn interleave_records(columns: &[ColumnFields<'_>], rows: usize, out: &mut Vec<u8>) {
    let width: usize = columns.iter().map(ColumnFields::width).sum();
    if columns.len() < 2 {
        // Only with fewer than two columns can a record be empty.
        out.reserve(width + rows * 3);
        let mut from = 0;
        for r in 0..rows {
            let field = columns.first().map_or(&[][..], |c| {
                let end = c.ends[r] as usize;
                let field = &c.bytes[from..end];
                from = end;
                field
            });
            if field.is_empty() {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(field);
            out.push(b'\n');
        }
        return;
    }
    // The run's length is known, so its records are filled in place. A short field is copied
    // as one fixed-size chunk (each column's bytes end in that much padding; the overshoot is
    // overwritten by what follows), which is most fields: codes, flags, small integers.
    let mut at = out.len();
    out.resize(at + width + rows * columns.len() + SHORT_FIELD, 0);
    let mut from = vec![0usize; columns.len()];
    for r in 0..rows {
        for (c, from) in columns.iter().zip(&mut from) {
            let (a, b) = (*from, c.ends[r] as usize);
            let len = b - a;
            if len <= SHORT_FIELD {
                out[at..at + SHORT_FIELD].copy_from_slice(&c.bytes[a..a + SHORT_FIELD]);
            } else {
                out[at..at + len].copy_from_slice(&c.bytes[a..b]);
            }
            at += len;
            out[at] = b',';
            at += 1;
            *from = b;
        }
        out[at - 1] = b'\n';
    }
    out.truncate(at);
}

/// A field at most this long is copied into a CSV block as one fixed-size chunk.
const SHORT_FIELD: usize = 16;

/// One CSV field: quoted (quotes doubled) when it holds a comma, a quote, `\r` or `\n`.
fn push_csv_field(out: &mut Vec<u8>, field: &[u8]) {
    if !field
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// A text cell a spreadsheet would run as a formula — starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return (OWASP's CSV-injection list) — gets a leading `'`, which spreadsheets
/// read as "this is text". Numbers are written as numbers and never pass through here.
pub fn neutralize_formula(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<(String, Values)>,
}

impl Table {
    pub fn new() -> Self {
        Table::default()
    }

    pub fn push(&mut self, name: &str, values: Values) -> &mut Self {
        self.columns.push((name.to_string(), values));
        self
    }

    pub fn text<S: Into<String>>(
        &mut self,
        name: &str,
        v: impl IntoIterator<Item = Option<S>>,
    ) -> &mut Self {
        self.push(
            name,
            Values::Text(v.into_iter().map(|x| x.map(Into::into)).collect()),
        )
    }

    pub fn float(&mut self, name: &str, v: impl IntoIterator<Item = Option<f64>>) -> &mut Self {
        self.push(
            name,
            Values::Float(
                v.into_iter()
                    .map(|x| x.filter(|f| f.is_finite()).unwrap_or(f64::NAN))
                    .collect(),
            ),
        )
    }

    pub fn int(&mut self, name: &str, v: impl IntoIterator<Item = Option<i64>>) -> &mut Self {
        self.push(name, Values::Int(v.into_iter().collect()))
    }

    pub fn boolean(&mut self, name: &str, v: impl IntoIterator<Item = Option<bool>>) -> &mut Self {
        self.push(name, Values::Bool(v.into_iter().collect()))
    }

    pub fn height(&self) -> usize {
        self.columns.first().map_or(0, |c| c.1.len())
    }

    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.0.as_str()).collect()
    }

    /// Cell `i` of column `name` as text (as written to CSV).
    pub fn cell(&self, name: &str, i: usize) -> Option<String> {
        self.columns
            .iter()
            .find(|c| c.0 == name)
            .map(|c| c.1.cell(i))
    }

    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        self.write_csv_to(std::io::BufWriter::new(file), path)
    }

    /// The CSV into any writer (`path` names it in errors). Rows are formatted in blocks on all
    /// cores (each block through one buffer, no string per cell) and written in order, a few
    /// blocks at a time: the bytes are those of writing row by row.
    pub fn write_csv_to(&self, mut out: impl std::io::Write, path: &Path) -> Result<()> {
        self.write_csv_header(&mut out, path)?;
        self.write_csv_body(&mut out, path)?;
        out.flush().map_err(|e| Error::io(path, e))
    }

    /// The CSV of a table too large to hold at once, into `out`, built a group of rows at a
    /// time by `rows` (each group's table has the same columns): the bytes of
    /// [`Table::write_csv_to`] for the whole table, with one group in memory.
    pub fn write_csv_in_groups_to(
        mut out: impl std::io::Write,
        path: &Path,
        height: usize,
        rows: impl Fn(std::ops::Range<usize>) -> Table,
    ) -> Result<()> {
        let groups = row_groups(height);
        if groups.len() <= 1 {
            return rows(0..height).write_csv_to(out, path);
        }
        for (g, range) in groups.into_iter().enumerate() {
            let table = rows(range);
            if g == 0 {
                table.write_csv_header(&mut out, path)?;
            }
            table.write_csv_body(&mut out, path)?;
        }
        out.flush().map_err(|e| Error::io(path, e))
    }

    /// The CSV's header record.
    fn write_csv_header(&self, mut out: impl std::io::Write, path: &Path) -> Result<()> {
        let mut header = csv::Writer::from_writer(Vec::new());
        header
            .write_record(self.names())
            .map_err(|e| Error::output(path, e))?;
        let header = header.into_inner().map_err(|e| Error::output(path, e))?;
        out.write_all(&header).map_err(|e| Error::io(path, e))
    }

    /// The records of the CSV, without the header.
    fn write_csv_body(&self, mut out: impl std::io::Write, path: &Path) -> Result<()> {
        use rayon::prelude::*;
        const BLOCK: usize = 16_384;
        let height = self.height();
        let wave = BLOCK * rayon::current_num_threads().max(1) * 2;
        for start in (0..height).step_by(wave) {
            let end = (start + wave).min(height);
            let blocks: Vec<Vec<u8>> = (start..end)
                .step_by(BLOCK)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|from| self.csv_rows(from..(from + BLOCK).min(end)))
                .collect();
            for block in blocks {
                out.write_all(&block).map_err(|e| Error::io(path, e))?;
            }
        }
        Ok(())
    }

    /// Rows `rows` as CSV records, in the bytes the `csv` crate's default writer gives
    /// (unit test): a field is quoted when it holds a comma, a quote or a line break, quotes
    /// doubled inside; a record of one empty field is `""`; records end in `\n`.
    fn csv_rows(&self, rows: std::ops::Range<usize>) -> Vec<u8> {
        // A run of rows column by column first (a tight loop per column kind), then its
        // records interleaved from those fields.
        const RUN: usize = 512;
        let mut columns: Vec<ColumnFields<'_>> = self
            .columns
            .iter()
            .map(|(_, c)| ColumnFields::new(c))
            .collect();
        let mut out = Vec::new();
        for start in rows.clone().step_by(RUN) {
            let run = start..(start + RUN).min(rows.end);
            for c in &mut columns {
                c.fill(run.clone());
            }
            interleave_records(&columns, run.len(), &mut out);
        }
        out
    }

    fn to_frame(&self) -> std::result::Result<DataFrame, polars::prelude::PolarsError> {
        let cols = self
            .columns
            .iter()
            .map(|(name, v)| {
                let s = match v {
                    // Gathered from the levels (a view per cell onto one copy of each level)
                    // rather than built cell by cell: the same column, the same Parquet bytes.
                    Values::Codes { levels, codes } => {
                        let dict = StringChunked::from_iter_values(
                            name.as_str().into(),
                            levels.iter().map(String::as_str),
                        );
                        let at: IdxCa = codes
                            .iter()
                            .map(|c| {
                                c.filter(|&c| (c as usize) < levels.len())
                                    .map(|c| c as IdxSize)
                            })
                            .collect();
                        let mut gathered = dict.take(&at)?;
                        gathered.rename(name.as_str().into());
                        gathered.into_series()
                    }
                    Values::Text(_) => {
                        let cells: Vec<Option<&str>> = (0..v.len()).map(|i| v.text_at(i)).collect();
                        Series::new(name.as_str().into(), cells)
                    }
                    Values::Float(x) => Float64Chunked::from_iter_options(
                        name.as_str().into(),
                        x.iter().map(|v| v.is_finite().then_some(*v)),
                    )
                    .into_series(),
                    Values::Int(x) => Series::new(name.as_str().into(), x.clone()),
                    Values::Bool(x) => Series::new(name.as_str().into(), x.clone()),
                };
                Ok(PlColumn::from(s))
            })
            .collect::<std::result::Result<Vec<PlColumn>, polars::prelude::PolarsError>>()?;
        DataFrame::new(self.height(), cols)
    }

    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        let mut df = self.to_frame().map_err(|e| Error::output(path, e))?;
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Uncompressed)
            .finish(&mut df)
            .map_err(|e| Error::output(path, e))?;
        Ok(())
    }

    /// Write `<stem>.csv` and `<stem>.parquet`, the two at once.
    pub fn write_both(&self, dir: &Path, stem: &str) -> Result<()> {
        let (csv, parquet) = std::thread::scope(|scope| {
            let csv = scope.spawn(|| self.write_csv(&dir.join(format!("{stem}.csv"))));
            let parquet = self.write_parquet(&dir.join(format!("{stem}.parquet")));
            (
                csv.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                parquet,
            )
        });
        csv.and(parquet)
    }

    /// Write `<stem>.csv` and `<stem>.parquet` of a table too large to hold at once, built a
    /// group of rows at a time by `rows` (each group's table has the same columns); only one
    /// group is in memory. The CSV has the bytes [`Table::write_both`] writes for the whole
    /// table; the Parquet file has the same rows in one row group per [`ROW_GROUP`] rows (the
    /// whole table's bytes when it fits in one).
    pub fn write_both_in_groups(
        dir: &Path,
        stem: &str,
        height: usize,
        rows: impl Fn(std::ops::Range<usize>) -> Table,
    ) -> Result<()> {
        let groups = row_groups(height);
        if groups.len() <= 1 {
            return rows(0..height).write_both(dir, stem);
        }
        let csv_path = dir.join(format!("{stem}.csv"));
        let parquet_path = dir.join(format!("{stem}.parquet"));
        let create = |p: &Path| File::create(p).map_err(|e| Error::io(p, e));
        let mut csv = std::io::BufWriter::new(create(&csv_path)?);
        let mut parquet: Option<polars::io::parquet::write::BatchedWriter<File>> = None;
        for (g, range) in groups.into_iter().enumerate() {
            let table = rows(range);
            let mut frame = table
                .to_frame()
                .map_err(|e| Error::output(&parquet_path, e))?;
            let (written, batch) = std::thread::scope(|scope| {
                let (csv, table, csv_path) = (&mut csv, &table, &csv_path);
                let written = scope.spawn(move || {
                    if g == 0 {
                        table.write_csv_header(&mut *csv, csv_path)?;
                    }
                    table.write_csv_body(csv, csv_path)
                });
                let batch = (|| {
                    let writer = match &mut parquet {
                        Some(w) => w,
                        None => parquet.insert(
                            ParquetWriter::new(create(&parquet_path)?)
                                .with_compression(ParquetCompression::Uncompressed)
                                .batched(frame.schema())
                                .map_err(|e| Error::output(&parquet_path, e))?,
                        ),
                    };
                    frame.align_chunks_par();
                    writer
                        .write_batch(&frame)
                        .map_err(|e| Error::output(&parquet_path, e))
                })();
                (
                    written
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    batch,
                )
            });
            written.and(batch)?;
        }
        csv.flush().map_err(|e| Error::io(&csv_path, e))?;
        if let Some(w) = parquet {
            w.finish().map_err(|e| Error::output(&parquet_path, e))?;
        }
        Ok(())
    }

    /// A text column of a small vocabulary (option codes, file names), stored as indexes into
    /// the distinct values in order of appearance: the same CSV and Parquet as [`Table::text`].
    pub fn codes<'a>(
        &mut self,
        name: &str,
        v: impl IntoIterator<Item = Option<&'a str>>,
    ) -> &mut Self {
        let mut levels: Vec<String> = Vec::new();
        let mut index: std::collections::HashMap<&'a str, u32> = std::collections::HashMap::new();
        let codes = v
            .into_iter()
            .map(|x| {
                let x = x?;
                Some(*index.entry(x).or_insert_with(|| {
                    levels.push(x.to_string());
                    levels.len() as u32 - 1
                }))
            })
            .collect();
        self.push(name, Values::Codes { levels, codes })
    }

    /// A text column given as indexes into `levels` (`None` = empty), as [`Table::codes`]
    /// stores it.
    pub fn indexed(
        &mut self,
        name: &str,
        levels: Vec<String>,
        codes: impl IntoIterator<Item = Option<u32>>,
    ) -> &mut Self {
        let codes = codes.into_iter().collect();
        self.push(name, Values::Codes { levels, codes })
    }
}

/// Rows per group when a table is written a group at a time: small enough that a group's
/// table and frame stay a small part of a run's memory, large enough for column statistics and
/// readers (DuckDB writes 122,880-row groups, polars 512²). The groups are fixed by the height
/// alone, so a rerun writes the same bytes.
const ROW_GROUP: usize = 1 << 16;

/// The row groups of a table of `height` rows: `ROW_GROUP` rows each, the last taking the rest;
/// one (possibly empty) group when the table is no taller than one.
fn row_groups(height: usize) -> Vec<std::ops::Range<usize>> {
    if height <= ROW_GROUP {
        return std::iter::once(0..height).collect();
    }
    (0..height)
        .step_by(ROW_GROUP)
        .map(|start| start..(start + ROW_GROUP).min(height))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{ParquetReader, SerReader};

    /// A vocabulary column writes the same CSV and Parquet bytes as the same text column, and
    /// numbers, booleans and formula-like text are written as before (cell by cell).
    /// The remembered texts are `{}`'s bytes for every value, met once or again, whether it
    /// keeps its slot or another value took it (few distinct values, then many colliding).
    #[test]
    fn a_remembered_float_text_is_the_formatted_text() {
        let mut texts = FloatTexts::new(true);
        let mut buf = String::new();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..3 {
            for k in 0..20_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = match round {
                    0 => [0.0, -0.0, 0.25, 1.0 / 3.0, 1e-300, 123456.789][(x % 6) as usize],
                    1 => (x % 1000) as f64 / 7.0,
                    _ => f64::from_bits(x >> 2) * if k % 2 == 0 { 1.0 } else { -1.0 },
                };
                if !v.is_finite() {
                    continue;
                }
                let want = format!("{v}");
                assert_eq!(texts.text(v, &mut buf), want.as_bytes(), "{v:e}");
            }
        }
    }

    /// The CSV writer's bytes are the `csv` crate's, record by record, on random tables of
    /// every column kind with hostile text (commas, quotes, line breaks, formula starts,
    /// empties), including one-column tables whose empty records must be `""`.
    #[test]
    fn csv_bytes_are_the_csv_crates() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let words = [
            "",
            "a",
            "a,b",
            "say \"hi\"",
            "\"",
            "line\nbreak",
            "cr\rhere",
            "=1+2",
            "-3",
            "plain text",
            "é ü",
            ",",
            "\r\n",
            // Around the short-field copy's 16 bytes, and well past it.
            "exactly 16 bytes",
            "seventeen bytes!!",
            "a longer field, with a comma and \"quotes\", past any fixed chunk",
        ];
        for round in 0..60 {
            let height = next(40) as usize;
            let mut t = Table::new();
            let columns = 1 + next(if round % 3 == 0 { 1 } else { 6 });
            for c in 0..columns {
                let name = format!("c{c}");
                let blank = |next: &mut dyn FnMut(u64) -> u64| next(4) == 0;
                match next(5) {
                    0 => {
                        let v: Vec<Option<String>> = (0..height)
                            .map(|_| {
                                let w = words[next(words.len() as u64) as usize];
                                (!blank(&mut next)).then(|| w.to_string())
                            })
                            .collect();
                        t.text(&name, v)
                    }
                    1 => {
                        let v: Vec<Option<&str>> = (0..height)
                            .map(|_| {
                                let w = words[next(words.len() as u64) as usize];
                                (!blank(&mut next)).then_some(w)
                            })
                            .collect();
                        t.codes(&name, v)
                    }
                    2 => {
                        let v: Vec<Option<f64>> = (0..height)
                            .map(|_| {
                                let v = next(2001) as f64 / 8.0 - 125.0;
                                (!blank(&mut next)).then_some(v)
                            })
                            .collect();
                        t.float(&name, v)
                    }
                    3 => {
                        let v: Vec<Option<i64>> = (0..height)
                            .map(|_| (!blank(&mut next)).then(|| next(1000) as i64 - 500))
                            .collect();
                        t.int(&name, v)
                    }
                    _ => {
                        let v: Vec<Option<bool>> = (0..height)
                            .map(|_| (!blank(&mut next)).then(|| next(2) == 0))
                            .collect();
                        t.boolean(&name, v)
                    }
                };
            }
            let mut mine = Vec::new();
            t.write_csv_to(&mut mine, Path::new("t.csv")).unwrap();
            let mut reference = csv::Writer::from_writer(Vec::new());
            reference.write_record(t.names()).unwrap();
            for i in 0..height {
                let row: Vec<String> = t.columns.iter().map(|(_, c)| c.cell(i)).collect();
                reference.write_record(&row).unwrap();
            }
            let reference = reference.into_inner().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&mine),
                String::from_utf8_lossy(&reference),
                "round {round}"
            );
        }
    }

    #[test]
    fn a_codes_column_writes_what_the_text_column_writes() {
        let cells = [
            Some("dpc"),
            None,
            Some("=cmd"),
            Some("dpc"),
            Some("hit"),
            Some(""),
            Some("hit"),
        ];
        let mut as_text = Table::new();
        let mut as_codes = Table::new();
        for t in [&mut as_text, &mut as_codes] {
            t.float(
                "x",
                [
                    Some(0.1),
                    None,
                    Some(1e3),
                    Some(-0.0),
                    Some(2.5),
                    Some(f64::NAN),
                    Some(3.0),
                ],
            )
            .int(
                "n",
                [Some(1), None, Some(-3), Some(0), Some(7), Some(8), Some(9)],
            )
            .boolean(
                "b",
                [
                    Some(true),
                    None,
                    Some(false),
                    Some(true),
                    None,
                    Some(false),
                    Some(true),
                ],
            );
        }
        as_text.text("s", cells);
        as_codes.codes("s", cells);
        let dir = std::env::temp_dir().join(format!("supplyrisk-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        as_text.write_both(&dir, "text").unwrap();
        as_codes.write_both(&dir, "codes").unwrap();
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        assert_eq!(read("text.csv"), read("codes.csv"));
        assert_eq!(read("text.parquet"), read("codes.parquet"));
        assert_eq!(
            String::from_utf8(read("text.csv")).unwrap(),
            "x,n,b,s\n0.1,1,true,dpc\n,,,\n1000,-3,false,'=cmd\n-0,0,true,dpc\n2.5,7,,hit\n,8,false,\n3,9,true,hit\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every row is in exactly one group, in order; every group but the last is full.
    #[test]
    fn row_groups_cover_the_rows_in_order() {
        const G: usize = ROW_GROUP;
        for h in [0, 1, G - 1, G, G + 1, 2 * G, 2 * G + 7, 1_000_000] {
            let groups = row_groups(h);
            assert_eq!(groups.first().map(|g| g.start), Some(0), "{h}");
            assert_eq!(groups.last().map(|g| g.end), Some(h), "{h}");
            assert!(groups.windows(2).all(|w| w[0].end == w[1].start), "{h}");
            assert_eq!(groups.len(), h.div_ceil(G).max(1), "{h}");
            let (last, full) = groups.split_last().unwrap();
            assert!(full.iter().all(|g| g.len() == G), "{h}: {groups:?}");
            assert!(!last.is_empty() || h == 0, "{h}");
        }
    }

    /// A table written a row group at a time is the table written whole: the same CSV bytes
    /// (beside its Parquet file or alone), and a Parquet file that reads back as the same
    /// frame (text, vocabulary, float, integer and boolean columns, with missing cells) in one
    /// row group per `ROW_GROUP` rows — the very bytes of the whole table when it fits in one
    /// group — and the same bytes again on a rerun.
    #[test]
    fn a_table_written_in_row_groups_is_the_table_written_whole() {
        let dir = std::env::temp_dir().join(format!("supplyrisk-groups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = |at: std::ops::Range<usize>| {
            let mut t = Table::new();
            t.text("id", at.clone().map(|i| Some(format!("R{i:07}"))))
                .codes(
                    "tier",
                    at.clone()
                        .map(|i| ["low", "=high", "mid"].get(i % 4).copied()),
                )
                .float(
                    "x",
                    at.clone().map(|i| (i % 5 != 0).then(|| i as f64 / 7.0)),
                )
                .int("n", at.clone().map(|i| (i % 3 != 0).then_some(i as i64)))
                .boolean("b", at.map(|i| (i % 11 != 0).then_some(i % 2 == 0)));
            t
        };
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let frame = |f: &str| {
            let mut reader = ParquetReader::new(File::open(dir.join(f)).unwrap());
            let groups = reader.get_metadata().unwrap().row_groups.len();
            (reader.finish().unwrap(), groups)
        };
        for h in [10, ROW_GROUP, 3 * ROW_GROUP + 5] {
            rows(0..h).write_both(&dir, "whole").unwrap();
            Table::write_both_in_groups(&dir, "groups", h, rows).unwrap();
            assert!(read("whole.csv") == read("groups.csv"), "{h} rows: CSV");
            let mut csv_alone = Vec::new();
            Table::write_csv_in_groups_to(&mut csv_alone, Path::new("x.csv"), h, rows).unwrap();
            assert!(read("whole.csv") == csv_alone, "{h} rows: CSV alone");
            let (whole, _) = frame("whole.parquet");
            let (grouped, groups) = frame("groups.parquet");
            assert!(whole.equals_missing(&grouped), "{h} rows: Parquet rows");
            assert_eq!(groups, h.div_ceil(ROW_GROUP), "{h} rows: row groups");
            if h <= ROW_GROUP {
                assert!(read("whole.parquet") == read("groups.parquet"), "{h} rows");
            }
            let first = read("groups.parquet");
            Table::write_both_in_groups(&dir, "groups", h, rows).unwrap();
            assert!(first == read("groups.parquet"), "{h} rows: rerun");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

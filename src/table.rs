//! A small column-oriented table that every stage's outputs pass through, written as CSV (the
//! csv crate; shortest round-trip floats, empty = missing) and as Parquet (polars — the only
//! module that touches polars, so a polars upgrade changes one file).

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use polars::prelude::{
    Column as PlColumn, DataFrame, NamedFrom, ParquetCompression, ParquetWriter, Series,
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
    Float(Vec<Option<f64>>),
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
                if let Some(x) = v[i].filter(|x| x.is_finite()) {
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
            Values::Float(v.into_iter().map(|x| x.filter(|f| f.is_finite())).collect()),
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
        let mut header = csv::Writer::from_writer(Vec::new());
        header
            .write_record(self.names())
            .map_err(|e| Error::output(path, e))?;
        let header = header.into_inner().map_err(|e| Error::output(path, e))?;
        out.write_all(&header).map_err(|e| Error::io(path, e))?;
        self.write_csv_body(&mut out, path)?;
        out.flush().map_err(|e| Error::io(path, e))
    }

    /// The records of the CSV, without the header.
    fn write_csv_body(&self, mut out: impl std::io::Write, path: &Path) -> Result<()> {
        use rayon::prelude::*;
        const BLOCK: usize = 16_384;
        let height = self.height();
        let wave = BLOCK * rayon::current_num_threads().max(1) * 2;
        for start in (0..height).step_by(wave) {
            let end = (start + wave).min(height);
            let blocks: Vec<std::result::Result<Vec<u8>, csv::Error>> = (start..end)
                .step_by(BLOCK)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|from| self.csv_rows(from..(from + BLOCK).min(end)))
                .collect();
            for block in blocks {
                let block = block.map_err(|e| Error::output(path, e))?;
                out.write_all(&block).map_err(|e| Error::io(path, e))?;
            }
        }
        Ok(())
    }

    /// Rows `rows` as CSV records.
    fn csv_rows(&self, rows: std::ops::Range<usize>) -> std::result::Result<Vec<u8>, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 64));
        let mut buf = String::new();
        // A vocabulary column's cells are its levels as written (formula-neutralized once).
        let written_levels: Vec<Option<Vec<std::borrow::Cow<str>>>> = self
            .columns
            .iter()
            .map(|(_, c)| match c {
                Values::Codes { levels, .. } => {
                    Some(levels.iter().map(|l| neutralize_formula(l)).collect())
                }
                _ => None,
            })
            .collect();
        for i in rows {
            for ((_, c), levels) in self.columns.iter().zip(&written_levels) {
                if let (Values::Codes { codes, .. }, Some(levels)) = (c, levels) {
                    let cell = codes[i].and_then(|k| levels.get(k as usize));
                    w.write_field(cell.map_or(&b""[..], |l| l.as_bytes()))?;
                    continue;
                }
                c.write_cell(i, &mut buf);
                w.write_field(buf.as_bytes())?;
            }
            w.write_record(None::<&[u8]>)?;
        }
        w.into_inner().map_err(|e| e.into_error().into())
    }

    fn to_frame(&self) -> std::result::Result<DataFrame, polars::prelude::PolarsError> {
        let cols: Vec<PlColumn> = self
            .columns
            .iter()
            .map(|(name, v)| {
                let s = match v {
                    Values::Text(_) | Values::Codes { .. } => {
                        let cells: Vec<Option<&str>> = (0..v.len()).map(|i| v.text_at(i)).collect();
                        Series::new(name.as_str().into(), cells)
                    }
                    Values::Float(x) => Series::new(name.as_str().into(), x.clone()),
                    Values::Int(x) => Series::new(name.as_str().into(), x.clone()),
                    Values::Bool(x) => Series::new(name.as_str().into(), x.clone()),
                };
                PlColumn::from(s)
            })
            .collect();
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
    /// group of rows at a time by `rows` (each group's table has the same columns). The groups
    /// are the row groups polars would cut a table of `height` rows into, so both files have
    /// the bytes [`Table::write_both`] writes for the whole table; only one group is in memory.
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
                        let mut header = csv::Writer::from_writer(Vec::new());
                        header
                            .write_record(table.names())
                            .map_err(|e| Error::output(csv_path, e))?;
                        let header = header
                            .into_inner()
                            .map_err(|e| Error::output(csv_path, e))?;
                        csv.write_all(&header).map_err(|e| Error::io(csv_path, e))?;
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

/// The row groups polars' Parquet writer cuts a one-chunk table of `height` rows into: one
/// group below 512² rows, else `height / 512²` groups of equal size, the last taking the rest
/// (`chunk_df_for_writing` and `split_df_as_ref` in polars-core 0.55).
fn row_groups(height: usize) -> Vec<std::ops::Range<usize>> {
    const ROW_GROUP: usize = 512 * 512;
    let n = height / ROW_GROUP;
    if n <= 1 {
        return std::iter::once(0..height).collect();
    }
    let size = height / n;
    (0..n)
        .map(|g| g * size..if g + 1 == n { height } else { (g + 1) * size })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary column writes the same CSV and Parquet bytes as the same text column, and
    /// numbers, booleans and formula-like text are written as before (cell by cell).
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

    /// The row groups are polars' own: one below 512² rows, then `height / 512²` equal groups
    /// with the rest in the last — and every row in exactly one group, in order.
    #[test]
    fn row_groups_cover_the_rows_as_polars_cuts_them() {
        const G: usize = 512 * 512;
        for h in [
            0,
            1,
            G - 1,
            G,
            2 * G - 1,
            2 * G,
            2 * G + 7,
            1_000_000,
            7 * G + 3,
        ] {
            let groups = row_groups(h);
            assert_eq!(groups.first().map(|g| g.start), Some(0), "{h}");
            assert_eq!(groups.last().map(|g| g.end), Some(h), "{h}");
            assert!(groups.windows(2).all(|w| w[0].end == w[1].start), "{h}");
            assert_eq!(groups.len(), (h / G).max(1), "{h}");
            if groups.len() > 1 {
                assert!(groups.iter().all(|g| g.len() >= G), "{h}: {groups:?}");
            }
        }
    }

    /// A table written a row group at a time has the bytes of the whole table written at
    /// once, CSV and Parquet, on both sides of the first row-group boundary (text, vocabulary,
    /// float, integer and boolean columns, with missing cells).
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
        for h in [10, 2 * 512 * 512 + 5] {
            rows(0..h).write_both(&dir, "whole").unwrap();
            Table::write_both_in_groups(&dir, "groups", h, rows).unwrap();
            assert!(read("whole.csv") == read("groups.csv"), "{h} rows: CSV");
            assert!(
                read("whole.parquet") == read("groups.parquet"),
                "{h} rows: Parquet"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

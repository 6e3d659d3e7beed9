//! A small column-oriented table that every stage's outputs pass through, written as CSV (the
//! csv crate; shortest round-trip floats, empty = missing) and as Parquet (polars — the only
//! module that touches polars, so a polars upgrade changes one file).

use std::fs::File;
use std::path::Path;

use polars::prelude::{
    Column as PlColumn, DataFrame, NamedFrom, ParquetCompression, ParquetWriter, Series,
};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub enum Values {
    Text(Vec<Option<String>>),
    Float(Vec<Option<f64>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Text(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    fn cell(&self, i: usize) -> String {
        match self {
            Values::Text(v) => v[i]
                .as_deref()
                .map(|s| neutralize_formula(s).into_owned())
                .unwrap_or_default(),
            Values::Float(v) => v[i]
                .filter(|x| x.is_finite())
                .map(|x| format!("{x}"))
                .unwrap_or_default(),
            Values::Int(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Values::Bool(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
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

    /// The CSV into any writer (`path` names it in errors).
    pub fn write_csv_to(&self, out: impl std::io::Write, path: &Path) -> Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(self.names())
            .map_err(|e| Error::output(path, e))?;
        for i in 0..self.height() {
            let row: Vec<String> = self.columns.iter().map(|c| c.1.cell(i)).collect();
            w.write_record(&row).map_err(|e| Error::output(path, e))?;
        }
        w.flush().map_err(|e| Error::io(path, e))
    }

    fn to_frame(&self) -> std::result::Result<DataFrame, polars::prelude::PolarsError> {
        let cols: Vec<PlColumn> = self
            .columns
            .iter()
            .map(|(name, v)| {
                let s = match v {
                    Values::Text(x) => Series::new(name.as_str().into(), x.clone()),
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

    /// Write `<stem>.csv` and `<stem>.parquet`.
    pub fn write_both(&self, dir: &Path, stem: &str) -> Result<()> {
        self.write_csv(&dir.join(format!("{stem}.csv")))?;
        self.write_parquet(&dir.join(format!("{stem}.parquet")))
    }
}

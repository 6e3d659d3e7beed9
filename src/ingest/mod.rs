//! Ingest: read every response file named in the spec into a [`SourceTable`] — header columns
//! (id and question text), data rows with their original row numbers, the platform metadata of
//! each row, and what was read (encoding, delimiter, layout, SHA-256).
//!
//! Nothing is interpreted here beyond the export layout: blank rows are kept (cleaning
//! quarantines them) and every cell stays text.

mod csv_file;
mod excel;
mod layout;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::spec::{Layout, LoadedSpec, Source};

pub use csv_file::decode as decode_text;
pub use layout::RowMeta;

/// One header column: the id (first header row) and the question text, where the layout has it.
#[derive(Debug, Clone)]
pub struct Column {
    pub id: String,
    pub text: Option<String>,
}

/// One data row: its 1-based row (line) number in the file or sheet, and its cells as text.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub row: usize,
    pub cells: Vec<String>,
    pub meta: RowMeta,
}

impl SourceRow {
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| c.trim().is_empty())
    }
}

/// Everything read from one source file.
#[derive(Debug, Clone)]
pub struct SourceTable {
    /// The path as written in the spec (relative to the round directory).
    pub file: String,
    pub sheet: Option<String>,
    pub layout: Layout,
    /// Encoding found (`utf-8`, `utf-8-bom`, `utf-16le`, `windows-1252`, …); `None` for workbooks.
    pub encoding: Option<String>,
    pub delimiter: Option<char>,
    pub columns: Vec<Column>,
    pub rows: Vec<SourceRow>,
    pub sha256: String,
    pub bytes: u64,
    /// Things worth telling the user (encoding fallbacks, error cells, …).
    pub notes: Vec<String>,
}

impl SourceTable {
    /// "file", "file [sheet]" — how messages name this source.
    pub fn label(&self) -> String {
        match &self.sheet {
            Some(s) => format!("{} [{s}]", self.file),
            None => self.file.clone(),
        }
    }
}

/// A grid of text cells with 1-based row numbers, as read before layout handling.
pub(crate) struct Grid {
    pub rows: Vec<(usize, Vec<String>)>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Read one source.
pub fn read_source(spec: &LoadedSpec, source: &Source) -> Result<SourceTable> {
    let path = spec.resolve(&source.path);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let sha256 = sha256_hex(&bytes);
    let ext = Path::new(&source.path)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut notes = Vec::new();
    let (grid, sheet, encoding, delimiter) = match ext.as_str() {
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => {
            let (grid, sheet) = excel::read_workbook(
                &path,
                &source.path,
                source.sheet.as_deref(),
                bytes.clone(),
                &mut notes,
            )?;
            (grid, Some(sheet), None, None)
        }
        _ => {
            let (grid, enc, delim) = csv_file::read_delimited(
                &bytes,
                &source.path,
                source.encoding.as_deref(),
                &mut notes,
            )?;
            (grid, None, Some(enc), Some(delim))
        }
    };
    let label = match &sheet {
        Some(s) => format!("{} [{s}]", source.path),
        None => source.path.clone(),
    };
    let shaped = layout::apply(grid, source.layout, source.header_row, &label)?;
    Ok(SourceTable {
        file: source.path.clone(),
        sheet,
        layout: shaped.layout,
        encoding,
        delimiter,
        columns: shaped.columns,
        rows: shaped.rows,
        sha256,
        bytes: bytes.len() as u64,
        notes,
    })
}

/// Read every source of the spec, in spec order.
pub fn read_all(spec: &LoadedSpec) -> Result<Vec<SourceTable>> {
    spec.spec
        .sources
        .iter()
        .map(|s| read_source(spec, s))
        .collect()
}

//! Ingest: read every response file named in the spec into a [`SourceTable`] — the header
//! columns (id and question text), data rows with their original row numbers, the platform
//! metadata of each row, and what was read (layout, encoding, delimiter, sheet, header rows,
//! SHA-256). [`read_path`] reads one file without a spec (it backs `supplyrisk inspect`).
//!
//! Nothing is interpreted here beyond the export layout: blank rows are kept (cleaning
//! quarantines them) and every cell stays text. What cannot be read is an error naming the file
//! (and sheet, row, column) — never a partial, silent read.

mod cells;
pub mod contained;
mod csv_file;
mod excel;
mod layout;

use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::spec::{Layout, LoadedSpec, Source};

pub use cells::{Cells, Grid};
pub use csv_file::decode as decode_text;
pub use layout::RowMeta;

/// One header column: its name (the first header row, or the layout's combination) and the
/// question text, where the layout has one.
#[derive(Debug, Clone)]
pub struct Column {
    pub id: String,
    pub text: Option<String>,
}

/// One data row: its 1-based row (line) number in the file or sheet, its cells as text, and
/// the platform metadata read from it.
#[derive(Debug, Clone, Copy)]
pub struct SourceRow<'a> {
    pub row: usize,
    pub cells: Cells<'a>,
    pub meta: &'a RowMeta,
}

impl<'a> SourceRow<'a> {
    /// Cell `i` ("" past the end).
    pub fn cell(&self, i: usize) -> &'a str {
        self.cells.get(i).unwrap_or("")
    }

    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| c.trim().is_empty())
    }
}

/// The data rows of a source: the rows read (header rows included) in one [`Grid`], where
/// the data start, and each data row's platform metadata — none held when the layout records
/// none.
#[derive(Debug, Clone, Default)]
pub struct SourceRows {
    grid: Grid,
    first: usize,
    metas: Vec<RowMeta>,
}

/// The metadata of a row whose layout records none.
static NO_META: RowMeta = RowMeta {
    response_id: None,
    started: None,
    submitted: None,
    duration_secs: None,
    preview: false,
    finished: None,
    repeat_instance: false,
};

impl SourceRows {
    /// Rows `first..` of `grid`, with their metadata (one per data row, or none at all).
    pub(crate) fn new(grid: Grid, first: usize, metas: Vec<RowMeta>) -> Self {
        debug_assert!(metas.is_empty() || metas.len() == grid.len() - first);
        SourceRows { grid, first, metas }
    }

    pub fn len(&self) -> usize {
        self.grid.len().saturating_sub(self.first)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Data row `i`; panics past the last row, as a slice does.
    pub fn get(&self, i: usize) -> SourceRow<'_> {
        assert!(i < self.len(), "data row {i} of {}", self.len());
        SourceRow {
            row: self.grid.line(self.first + i),
            cells: self.grid.cells(self.first + i),
            meta: self.metas.get(i).unwrap_or(&NO_META),
        }
    }

    /// The data rows in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = SourceRow<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// Everything read from one source file.
#[derive(Debug, Clone)]
pub struct SourceTable {
    /// The path as written in the spec (or given on the command line).
    pub file: String,
    pub sheet: Option<String>,
    pub layout: Layout,
    /// Encoding found (`utf-8`, `utf-8-bom`, `utf-16le`, `windows-1252`, …); `None` for workbooks.
    pub encoding: Option<String>,
    pub delimiter: Option<char>,
    /// 1-based row of the first header row.
    pub header_row: usize,
    /// Number of header rows the layout has (Qualtrics 3, SurveyMonkey 2, others 1).
    pub header_rows: usize,
    pub columns: Vec<Column>,
    /// The data rows; emptied by [`SourceTable::release_rows`] once cleaning has read them.
    pub rows: SourceRows,
    /// How many data rows the file held (kept when the rows are released).
    pub rows_read: usize,
    pub sha256: String,
    pub bytes: u64,
    /// Things worth telling the user (encoding fallbacks, error cells, …), as warnings.
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

    /// Drop the rows (cleaning has turned them into records and quarantine entries); what the
    /// manifest and report say about the file stays.
    pub fn release_rows(&mut self) {
        self.rows = SourceRows::default();
    }

    /// What `supplyrisk inspect --json` prints (documented in docs/inspect.md).
    /// The answers found in column `i`: (distinct non-blank values with their counts, most
    /// frequent first then alphabetical; blank cells).
    pub fn answers(&self, i: usize) -> (Vec<(String, usize)>, usize) {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        let mut blank = 0;
        for r in self.rows.iter() {
            let v = r.cell(i).trim();
            if v.is_empty() {
                blank += 1;
            } else {
                *counts.entry(v).or_default() += 1;
            }
        }
        let mut out: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(v, n)| (v.to_string(), n))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        (out, blank)
    }

    /// What `inspect --json` prints: the reading, the columns with the `top` most frequent
    /// answers of each (docs/inspect.md).
    pub fn describe_json(&self, top: usize) -> serde_json::Value {
        let columns: Vec<serde_json::Value> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (answers, blank) = self.answers(i);
                let listed = answers_listable(&answers)
                    && !looks_identifying(&c.id, c.text.as_deref());
                json!({
                    "name": c.id,
                    "label": c.text,
                    "distinct": answers.len(),
                    "blank": blank,
                    "answers": if listed {
                        answers.iter().take(top).map(|(v, n)| json!({"value": v, "count": n})).collect::<Vec<_>>()
                    } else {
                        Vec::new()
                    },
                })
            })
            .collect();
        json!({
            "file": self.file,
            "layout": layout_name(self.layout),
            "encoding": self.encoding,
            "delimiter": self.delimiter.map(|d| d.to_string()),
            "sheet": self.sheet,
            "header_row": self.header_row,
            "header_rows": self.header_rows,
            "columns": columns,
            "rows": self.rows.len(),
            "blank_rows": self.rows.iter().filter(|r| r.is_blank()).count(),
            "bytes": self.bytes,
            "sha256": self.sha256,
            "notes": self.notes,
        })
    }
}

/// How many answers per column `inspect` lists by default.
pub const ANSWERS_SHOWN: usize = 8;

/// Whether a column's answers are worth listing: not a column of mostly unique values (free
/// text, names, e-mail addresses, identifiers, timestamps), which `inspect` does not print.
pub fn answers_listable(answers: &[(String, usize)]) -> bool {
    let total: usize = answers.iter().map(|a| a.1).sum();
    answers.len() <= 30 || answers.len() * 2 <= total
}

/// Whether a column's name or question text says it holds who answered (names, e-mail and IP
/// addresses, locations, phone numbers, recipient and organization fields): `inspect` never
/// lists its answers.
pub fn looks_identifying(id: &str, text: Option<&str>) -> bool {
    const WORDS: [&str; 14] = [
        "name",
        "email",
        "e-mail",
        "ip address",
        "ipaddress",
        "latitude",
        "longitude",
        "location",
        "recipient",
        "phone",
        "address",
        "externalreference",
        "external data reference",
        "contact",
    ];
    let hay = format!("{} {}", id, text.unwrap_or_default()).to_lowercase();
    WORDS.iter().any(|w| hay.contains(w))
}

/// Lower-case name of a layout, as the spec writes it.
pub fn layout_name(l: Layout) -> &'static str {
    match l {
        Layout::Auto => "auto",
        Layout::Qualtrics => "qualtrics",
        Layout::Surveymonkey => "surveymonkey",
        Layout::Msforms => "msforms",
        Layout::Redcap => "redcap",
        Layout::Plain => "plain",
    }
}

/// How to read one file (the reading part of a `[[sources]]` entry).
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub layout: Layout,
    pub sheet: Option<String>,
    pub header_row: Option<usize>,
    pub encoding: Option<String>,
}

impl From<&Source> for ReadOptions {
    fn from(s: &Source) -> Self {
        ReadOptions {
            layout: s.layout,
            sheet: s.sheet.clone(),
            header_row: s.header_row,
            encoding: s.encoding.clone(),
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A file's size and SHA-256, read a megabyte at a time (outputs run to hundreds of
/// megabytes; hashing one never holds it whole).
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                len += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((len, hex(&hasher.finalize())))
}

fn hex(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * digest.len());
    for b in digest.iter() {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

const WORKBOOK_EXTENSIONS: [&str; 5] = ["xlsx", "xlsm", "xlsb", "xls", "ods"];

/// Read one file. `display` names it in messages and outputs (the path as the user wrote it).
pub fn read_path(path: &Path, display: &str, opts: &ReadOptions) -> Result<SourceTable> {
    crate::bug::doing(format!("reading {display}"), || {
        read_path_inner(path, display, opts)
    })
}

fn read_path_inner(path: &Path, display: &str, opts: &ReadOptions) -> Result<SourceTable> {
    crate::paths::check_regular_file(path).map_err(|m| Error::input(display, m))?;
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::input(display, format!("file not found ({})", path.display()))
        }
        _ => Error::io(path, e),
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    read_bytes(&bytes, &ext, display, opts)
}

/// Read a file's bytes; `ext` (lower case, no dot) says whether it is a workbook or text.
pub fn read_bytes(
    bytes: &[u8],
    ext: &str,
    display: &str,
    opts: &ReadOptions,
) -> Result<SourceTable> {
    if bytes.is_empty() {
        return Err(Error::input(display, "the file is empty (0 bytes)"));
    }
    let mut notes = Vec::new();
    // Hash on the other core while the file is parsed.
    let (parsed, sha256) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| sha256_hex(bytes));
        let parsed = if WORKBOOK_EXTENSIONS.contains(&ext) {
            excel::read_workbook(bytes, display, opts.sheet.as_deref(), &mut notes)
                .map(|(grid, sheet)| (grid, Some(sheet), None, None))
        } else {
            csv_file::read_delimited(bytes, display, opts.encoding.as_deref(), &mut notes)
                .map(|(grid, enc, delim)| (grid, None, Some(enc), Some(delim)))
        };
        (parsed, hasher.join().unwrap_or_default())
    });
    let (grid, sheet, encoding, delimiter) = parsed?;
    let label = match &sheet {
        Some(s) => format!("{display} [{s}]"),
        None => display.to_string(),
    };
    let shaped = layout::apply(grid, opts.layout, opts.header_row, &label)?;
    Ok(SourceTable {
        file: display.to_string(),
        sheet,
        layout: shaped.layout,
        encoding,
        delimiter,
        header_row: shaped.header_row,
        header_rows: shaped.header_rows,
        columns: shaped.columns,
        rows_read: shaped.rows.len(),
        rows: shaped.rows,
        sha256,
        bytes: bytes.len() as u64,
        notes,
    })
}

/// Read one source of a spec.
pub fn read_source(spec: &LoadedSpec, source: &Source) -> Result<SourceTable> {
    read_path(
        &spec.input(&source.path, "sources.path")?,
        &source.path,
        &ReadOptions::from(source),
    )
}

/// Read every source of the spec, in spec order.
pub fn read_all(spec: &LoadedSpec) -> Result<Vec<SourceTable>> {
    spec.spec
        .sources
        .iter()
        .map(|s| read_source(spec, s))
        .collect()
}

//! Delimited text: encoding detection (BOM, UTF-8, else Windows-1252 or the spec's encoding,
//! reported), a refusal of binary files, delimiter detection, and parsing with quoted fields,
//! embedded delimiters, quotes and newlines, CRLF or LF.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

use super::Grid;
use crate::error::{Error, Result};

/// Decode bytes to UTF-8 text (borrowed when already UTF-8), with the name of the encoding used.
pub fn decode<'a>(
    bytes: &'a [u8],
    file: &str,
    declared: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<(Cow<'a, str>, String)> {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let name = if enc == UTF_8 {
            "utf-8-bom"
        } else if enc == UTF_16LE {
            "utf-16le"
        } else if enc == UTF_16BE {
            "utf-16be"
        } else {
            enc.name()
        };
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            return Err(Error::input(
                file,
                format!("the file starts with a {name} byte-order mark but is not valid {name}"),
            ));
        }
        return Ok((text, name.to_string()));
    }
    if bytes[..bytes.len().min(65_536)].contains(&0) {
        return Err(Error::input(
            file,
            "this is not a text file (it contains NUL bytes); expected delimited text (CSV) — \
             if it is a workbook, give it its real extension (.xlsx, .xls, .ods)",
        ));
    }
    if let Some(label) = declared {
        let enc = Encoding::for_label(label.as_bytes())
            .ok_or_else(|| Error::input(file, format!("unknown encoding `{label}`")))?;
        let (text, had_errors) = enc.decode_without_bom_handling(bytes);
        if had_errors {
            return Err(Error::input(
                file,
                format!("the bytes are not valid {}", enc.name()),
            ));
        }
        return Ok((text, enc.name().to_ascii_lowercase()));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((Cow::Borrowed(s), "utf-8".to_string())),
        Err(e) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            notes.push(format!(
                "{file}: not valid UTF-8 (first bad byte on line {line}); read as windows-1252 — check accented text"
            ));
            Ok((text, "windows-1252".to_string()))
        }
    }
}

/// Pick the delimiter that splits the first line (outside quotes) into the most fields.
fn detect_delimiter(text: &str) -> char {
    let mut counts = [0usize; 4];
    let cands = [',', ';', '\t', '|'];
    let mut in_quotes = false;
    for ch in text.chars() {
        match ch {
            '"' => in_quotes = !in_quotes,
            '\n' if !in_quotes => break,
            c if !in_quotes => {
                if let Some(i) = cands.iter().position(|d| *d == c) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..4).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        ','
    } else {
        cands[best]
    }
}

pub(crate) fn read_delimited(
    bytes: &[u8],
    file: &str,
    declared: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<(Grid, String, char)> {
    let (text, encoding) = decode(bytes, file, declared, notes)?;
    let delimiter = detect_delimiter(&text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter as u8)
        .from_reader(text.as_bytes());
    // The cells' text is at most the file's.
    let mut grid = Grid::with_text_capacity(text.len());
    let mut record = csv::StringRecord::new();
    // Line numbers from byte offsets: csv's own line count lags after CRLF terminators.
    let bytes = text.as_bytes();
    let (mut counted_to, mut newlines) = (0usize, 0usize);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let mut start = record
                    .position()
                    .map_or(counted_to, |p| p.byte() as usize)
                    .min(bytes.len());
                while start < bytes.len() && (bytes[start] == b'\r' || bytes[start] == b'\n') {
                    start += 1;
                }
                if start > counted_to {
                    newlines += bytes[counted_to..start]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count();
                    counted_to = start;
                }
                grid.push_record(newlines + 1, &record).ok_or_else(|| {
                    Error::input(
                        format!("{file}:{}", newlines + 1),
                        "a row of more than 4 GiB of text: check the quoting",
                    )
                })?;
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                return Err(Error::input(
                    format!("{file}:{line}"),
                    format!("cannot parse the delimited text: {e}"),
                ));
            }
        }
    }
    Ok((grid, encoding, delimiter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_is_detected_and_reported() {
        let mut notes = Vec::new();
        let (text, enc) = decode(b"caf\xe9;na\xefve\n", "x.csv", None, &mut notes).unwrap();
        assert_eq!(text, "café;naïve\n");
        assert_eq!(enc, "windows-1252");
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn utf16le_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "a\tb\n".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let mut notes = Vec::new();
        let (grid, enc, delim) = read_delimited(&bytes, "x.txt", None, &mut notes).unwrap();
        assert_eq!((enc.as_str(), delim), ("utf-16le", '\t'));
        assert_eq!(&grid.cells(0)[0], "a");
        assert_eq!(&grid.cells(0)[1], "b");
    }

    #[test]
    fn quoted_delimiters_and_newlines_keep_row_numbers() {
        let mut notes = Vec::new();
        let text = "id;q\n1;\"a;b\nc\"\n2;x\n";
        let (grid, _, delim) = read_delimited(text.as_bytes(), "x.csv", None, &mut notes).unwrap();
        assert_eq!(delim, ';');
        assert_eq!(&grid.cells(1)[1], "a;b\nc");
        assert_eq!(grid.line(2), 4);
    }

    #[test]
    fn binary_bytes_are_refused() {
        let mut notes = Vec::new();
        let e = read_delimited(b"PK\x03\x04\x00\x00", "x.csv", None, &mut notes).unwrap_err();
        assert!(e.to_string().contains("not a text file"), "{e}");
    }
}

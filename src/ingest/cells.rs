//! Rows of text cells held compactly: every cell's text end to end in one buffer, and where
//! each cell ends within its row — two bytes a cell while every row is under 64 KiB, four
//! bytes beyond. A million 41-cell rows cost their text plus about 106 bytes a row, in a few
//! large allocations the system gets back whole when the rows are released. A row of its own
//! (a `csv::StringRecord`, or a boxed text and boxed ends) cost 290–560 bytes and two
//! allocations, and was most of what ingest and cleaning held at a million respondents.

/// Rows of cells with their 1-based row (line) numbers, in the order read.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    text: String,
    ends: Ends,
    rows: Vec<RowStart>,
}

/// Where a row's text and cells start, and its row number in the file or sheet.
#[derive(Debug, Clone, Copy)]
struct RowStart {
    text: usize,
    cell: usize,
    line: usize,
}

/// Each cell's end, counted from the start of its row's text.
#[derive(Debug, Clone)]
enum Ends {
    Short(Vec<u16>),
    Long(Vec<u32>),
}

impl Default for Ends {
    fn default() -> Self {
        Ends::Short(Vec::new())
    }
}

impl Ends {
    fn len(&self) -> usize {
        match self {
            Ends::Short(e) => e.len(),
            Ends::Long(e) => e.len(),
        }
    }

    /// Append `end`, widening to four bytes the first time an end passes 65,535.
    fn push(&mut self, end: u32) {
        if let Ends::Short(e) = self {
            match u16::try_from(end) {
                Ok(x) => return e.push(x),
                Err(_) => *self = Ends::Long(e.iter().map(|&x| u32::from(x)).collect()),
            }
        }
        if let Ends::Long(e) = self {
            e.push(end);
        }
    }

    fn slice(&self, at: std::ops::Range<usize>) -> EndsRef<'_> {
        match self {
            Ends::Short(e) => EndsRef::Short(&e[at]),
            Ends::Long(e) => EndsRef::Long(&e[at]),
        }
    }
}

impl Grid {
    /// An empty grid with room for `text` bytes of cell text (a file's size bounds its cells').
    pub fn with_text_capacity(text: usize) -> Self {
        Grid {
            text: String::with_capacity(text),
            ..Grid::default()
        }
    }

    /// Append row `line` with cells `fields`; `None` (and nothing appended) when the row's
    /// text runs past 4 GiB.
    pub fn push_row<'a>(
        &mut self,
        line: usize,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Option<()> {
        let start = RowStart {
            text: self.text.len(),
            cell: self.ends.len(),
            line,
        };
        for f in fields {
            self.text.push_str(f);
            let Ok(end) = u32::try_from(self.text.len() - start.text) else {
                self.truncate(start);
                return None;
            };
            self.ends.push(end);
        }
        self.rows.push(start);
        Some(())
    }

    /// Append a parsed CSV record as row `line`; `None` when its text runs past 4 GiB.
    pub fn push_record(&mut self, line: usize, record: &csv::StringRecord) -> Option<()> {
        u32::try_from(record.as_slice().len()).ok()?;
        let start = RowStart {
            text: self.text.len(),
            cell: self.ends.len(),
            line,
        };
        self.text.push_str(record.as_slice());
        let mut end = 0u32;
        for f in record {
            end += f.len() as u32;
            self.ends.push(end);
        }
        self.rows.push(start);
        Some(())
    }

    /// Undo a row pushed partly.
    fn truncate(&mut self, to: RowStart) {
        self.text.truncate(to.text);
        match &mut self.ends {
            Ends::Short(e) => e.truncate(to.cell),
            Ends::Long(e) => e.truncate(to.cell),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `i`'s cells; panics past the last row, as a slice does.
    pub fn cells(&self, i: usize) -> Cells<'_> {
        let start = self.rows[i];
        let (text_end, cell_end) = match self.rows.get(i + 1) {
            Some(next) => (next.text, next.cell),
            None => (self.text.len(), self.ends.len()),
        };
        Cells {
            text: &self.text[start.text..text_end],
            ends: self.ends.slice(start.cell..cell_end),
        }
    }

    /// Row `i`'s 1-based row (line) number.
    pub fn line(&self, i: usize) -> usize {
        self.rows[i].line
    }

    /// The rows in order: (row number, cells).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (usize, Cells<'_>)> + '_ {
        (0..self.len()).map(|i| (self.line(i), self.cells(i)))
    }
}

#[derive(Debug, Clone, Copy)]
enum EndsRef<'a> {
    Short(&'a [u16]),
    Long(&'a [u32]),
}

/// One row's cells, seen in its [`Grid`].
#[derive(Debug, Clone, Copy)]
pub struct Cells<'a> {
    text: &'a str,
    ends: EndsRef<'a>,
}

impl<'a> Cells<'a> {
    pub fn len(&self) -> usize {
        match self.ends {
            EndsRef::Short(e) => e.len(),
            EndsRef::Long(e) => e.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn end(&self, i: usize) -> usize {
        match self.ends {
            EndsRef::Short(e) => usize::from(e[i]),
            EndsRef::Long(e) => e[i] as usize,
        }
    }

    /// Cell `i`, or `None` past the last cell.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        if i >= self.len() {
            return None;
        }
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        self.text.get(start..self.end(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let cells = *self;
        (0..cells.len()).map(move |i| cells.get(i).unwrap_or_default())
    }
}

impl std::ops::Index<usize> for Cells<'_> {
    type Output = str;

    /// Cell `i`; panics past the last cell, as a slice does.
    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(c) => c,
            None => panic!("cell {i} of a row of {}", self.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of building a row gives back the cells it was given — empty cells, non-ASCII
    /// text, rows with no cells, a row past 64 KiB that widens the ends of the rows before it
    /// — with the row numbers, and nothing past the end.
    #[test]
    fn cells_are_the_fields_they_were_built_from() {
        let long = "x".repeat(70_000);
        let rows: [&[&str]; 7] = [
            &[],
            &[""],
            &["a", "", "ünïcødé ✓", "", ""],
            &["1", "22", "333"],
            &[&long, "after", ""],
            &[],
            &["", "", "x"],
        ];
        for by_record in [false, true] {
            let mut grid = Grid::with_text_capacity(16);
            for (line, fields) in rows.iter().enumerate() {
                if by_record {
                    let record = csv::StringRecord::from(fields.to_vec());
                    grid.push_record(line + 1, &record).unwrap();
                } else {
                    grid.push_row(line + 1, fields.iter().copied()).unwrap();
                }
                if line == 3 {
                    // Before the long row, two bytes a cell.
                    assert!(matches!(grid.ends, Ends::Short(_)));
                }
            }
            assert!(matches!(grid.ends, Ends::Long(_)));
            assert_eq!(grid.len(), rows.len());
            for (i, ((line, cells), fields)) in grid.iter().zip(rows).enumerate() {
                assert_eq!(line, i + 1);
                assert_eq!(cells.len(), fields.len());
                assert_eq!(cells.is_empty(), fields.is_empty());
                assert_eq!(cells.iter().collect::<Vec<_>>(), fields);
                for (c, f) in fields.iter().enumerate() {
                    assert_eq!(cells.get(c), Some(*f));
                    assert_eq!(&cells[c], *f);
                }
                assert_eq!(cells.get(fields.len()), None);
            }
        }
    }
}

//! One row's cells as text, held compactly: the cells' text end to end in one buffer and where
//! each cell ends. A `csv::StringRecord` costs about 560 bytes for a 41-cell row (its own
//! allocation, 8-byte bounds, spare capacity); this costs the text and 4 bytes a cell, which is
//! most of the memory ingest and cleaning hold at a million respondents.

/// A row's cells. Rows longer than 4 GiB are refused where they are read
/// ([`Cells::from_fields`] returns `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cells {
    text: Box<str>,
    ends: Box<[u32]>,
}

impl Cells {
    /// The cells in order; `None` when their text runs past 4 GiB.
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = &'a str>) -> Option<Cells> {
        let mut text = String::new();
        let mut ends = Vec::new();
        for f in fields {
            text.push_str(f);
            ends.push(u32::try_from(text.len()).ok()?);
        }
        Some(Cells {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        })
    }

    /// A parsed CSV record's cells; `None` when its text runs past 4 GiB.
    pub fn from_record(record: &csv::StringRecord) -> Option<Cells> {
        u32::try_from(record.as_slice().len()).ok()?;
        let ends = record
            .iter()
            .scan(0u32, |end, f| {
                *end += f.len() as u32;
                Some(*end)
            })
            .collect();
        Some(Cells {
            text: record.as_slice().into(),
            ends,
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Cell `i`, or `None` past the last cell.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

impl std::ops::Index<usize> for Cells {
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
    /// text, a row with no cells — with nothing past the end.
    #[test]
    fn cells_are_the_fields_they_were_built_from() {
        let rows: [&[&str]; 5] = [
            &[],
            &[""],
            &["a", "", "ünïcødé ✓", "", ""],
            &["1", "22", "333"],
            &["", "", "x"],
        ];
        for fields in rows {
            let record = csv::StringRecord::from(fields.to_vec());
            for cells in [
                Cells::from_fields(fields.iter().copied()).unwrap(),
                Cells::from_record(&record).unwrap(),
            ] {
                assert_eq!(cells.len(), fields.len());
                assert_eq!(cells.is_empty(), fields.is_empty());
                assert_eq!(cells.iter().collect::<Vec<_>>(), fields);
                for (i, f) in fields.iter().enumerate() {
                    assert_eq!(cells.get(i), Some(*f));
                    assert_eq!(&cells[i], *f);
                }
                assert_eq!(cells.get(fields.len()), None);
            }
        }
    }
}

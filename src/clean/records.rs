//! The kept responses, stored column by column: for each spec question the distinct answers
//! read ([`AnswerColumn::values`]) and, per record, the index of its answer among them — a
//! byte while the question has at most 256 distinct answers, four bytes beyond. A million
//! records of forty agreement items are forty megabytes of indexes instead of a 32-byte
//! [`Answer`] per cell, and a stage that reads one question reads one contiguous column.
//!
//! [`RecordRef`] is one record seen through the columns: where it came from (it dereferences
//! to its [`RowInfo`]) and [`RecordRef::answer`] per question.

use super::{Answer, Reason};
use crate::ingest::RowMeta;

/// A source file (and sheet) rows were read from, shared by all its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceName {
    /// The path as written in the spec.
    pub file: String,
    pub sheet: Option<String>,
}

/// Where a record came from and what the respondent rules said of it: 56 bytes a record (the
/// source shared, the platform's metadata reduced to what later stages read).
#[derive(Debug, Clone)]
pub struct RowInfo {
    source: std::sync::Arc<SourceName>,
    pub row: usize,
    /// Submission time, ISO 8601 when recognisable (the platform's, when it records one).
    pub submitted: Option<Box<str>>,
    /// Whether the platform marks the response finished.
    pub finished: Option<bool>,
    /// Rules set to `flag` that caught this record, in the order they were applied.
    pub flags: Box<[Reason]>,
}

impl RowInfo {
    /// Row `row` of `source`, with what its platform said of it and no flags.
    pub fn new(source: std::sync::Arc<SourceName>, row: usize, meta: &RowMeta) -> Self {
        RowInfo {
            source,
            row,
            submitted: meta.submitted.as_deref().map(Into::into),
            finished: meta.finished,
            flags: Box::default(),
        }
    }

    /// The source's path as written in the spec.
    pub fn file(&self) -> &str {
        &self.source.file
    }

    pub fn sheet(&self) -> Option<&str> {
        self.source.sheet.as_deref()
    }

    /// The source, shared by all its records.
    pub fn source(&self) -> &std::sync::Arc<SourceName> {
        &self.source
    }

    /// Add a flag after the ones already raised.
    pub fn flag(&mut self, reason: Reason) {
        self.flags = self.flags.iter().copied().chain([reason]).collect();
    }
}

#[derive(Debug, Clone)]
enum Slots {
    Small(Vec<u8>),
    Wide(Vec<u32>),
}

impl Slots {
    fn len(&self) -> usize {
        match self {
            Slots::Small(s) => s.len(),
            Slots::Wide(s) => s.len(),
        }
    }

    fn get(&self, i: usize) -> usize {
        match self {
            Slots::Small(s) => usize::from(s[i]),
            Slots::Wide(s) => s[i] as usize,
        }
    }

    /// Append `slot`, widening to four bytes the first time a slot passes 255.
    fn push(&mut self, slot: usize) {
        if let Slots::Small(s) = self {
            match u8::try_from(slot) {
                Ok(b) => return s.push(b),
                Err(_) => *self = Slots::Wide(s.iter().map(|&b| u32::from(b)).collect()),
            }
        }
        if let Slots::Wide(s) = self {
            s.push(slot as u32);
        }
    }

    /// The slots at positions `keep`, in that order.
    fn select(&self, keep: &[usize]) -> Slots {
        match self {
            Slots::Small(s) => Slots::Small(keep.iter().map(|&i| s[i]).collect()),
            Slots::Wide(s) => Slots::Wide(keep.iter().map(|&i| s[i]).collect()),
        }
    }
}

/// One question's answers: the distinct answers and, per record, which of them it gave.
#[derive(Debug, Clone)]
pub struct AnswerColumn {
    values: Vec<Answer>,
    slots: Slots,
}

impl AnswerColumn {
    fn new() -> Self {
        AnswerColumn {
            values: Vec::new(),
            slots: Slots::Small(Vec::new()),
        }
    }

    /// Record `i`'s answer.
    pub fn get(&self, i: usize) -> &Answer {
        &self.values[self.slots.get(i)]
    }

    /// The distinct answers (in the order first read; an answer may appear more than once
    /// when read from differently written cells).
    pub fn values(&self) -> &[Answer] {
        &self.values
    }

    /// Record `i`'s answer as a position in [`AnswerColumn::values`]: work that depends only
    /// on the answer can be done once per value and looked up per record.
    pub fn slot(&self, i: usize) -> usize {
        self.slots.get(i)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The answers in record order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Answer> + Clone + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Append a new distinct answer and give it to the next record; its slot.
    fn push_value(&mut self, answer: Answer) -> usize {
        self.values.push(answer);
        let slot = self.values.len() - 1;
        self.slots.push(slot);
        slot
    }
}

/// The kept responses, column by column (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct Records {
    rows: Vec<RowInfo>,
    columns: Vec<AnswerColumn>,
}

impl Records {
    /// Records from whole rows (tests and generated rounds; cleaning builds them column by
    /// column with [`ColumnsBuilder`]). Every row holds one answer per question.
    pub fn from_rows(
        questions: usize,
        rows: impl IntoIterator<Item = (RowInfo, Vec<Answer>)>,
    ) -> Self {
        let mut columns: Vec<AnswerColumn> = (0..questions).map(|_| AnswerColumn::new()).collect();
        let mut infos = Vec::new();
        for (info, answers) in rows {
            assert_eq!(answers.len(), questions, "one answer per question");
            for (c, a) in columns.iter_mut().zip(answers) {
                // Share a value among the first few distinct ones (an agreement item's five).
                let found = (c.values.len() <= 64)
                    .then(|| c.values.iter().position(|v| *v == a))
                    .flatten();
                match found {
                    Some(slot) => c.slots.push(slot),
                    None => {
                        c.push_value(a);
                    }
                }
            }
            infos.push(info);
        }
        Records {
            rows: infos,
            columns,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Record `i`.
    pub fn get(&self, i: usize) -> RecordRef<'_> {
        assert!(i < self.rows.len(), "record {i} of {}", self.rows.len());
        RecordRef {
            records: self,
            index: i,
        }
    }

    /// The records in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            records: self,
            range: 0..self.rows.len(),
        }
    }

    /// The records at positions `at`, in that order (a position may repeat).
    pub fn select(&self, at: &[usize]) -> Records {
        Records {
            rows: at.iter().map(|&i| self.rows[i].clone()).collect(),
            columns: self
                .columns
                .iter()
                .map(|c| AnswerColumn {
                    values: c.values.clone(),
                    slots: c.slots.select(at),
                })
                .collect(),
        }
    }

    /// Question `qi`'s column.
    pub fn column(&self, qi: usize) -> &AnswerColumn {
        &self.columns[qi]
    }

    /// Each record's provenance and flags, in record order.
    pub fn rows(&self) -> &[RowInfo] {
        &self.rows
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = RecordRef<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The records in order ([`Records::iter`]).
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    records: &'a Records,
    range: std::ops::Range<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = RecordRef<'a>;
    fn next(&mut self) -> Option<RecordRef<'a>> {
        let index = self.range.next()?;
        Some(RecordRef {
            records: self.records,
            index,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let index = self.range.next_back()?;
        Some(RecordRef {
            records: self.records,
            index,
        })
    }
}

/// One record seen through the columns; dereferences to its [`RowInfo`].
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    records: &'a Records,
    index: usize,
}

impl<'a> RecordRef<'a> {
    /// The answer to question `qi` (spec order).
    pub fn answer(&self, qi: usize) -> &'a Answer {
        self.records.columns[qi].get(self.index)
    }

    /// Every answer, in spec order.
    pub fn answers(&self) -> impl ExactSizeIterator<Item = &'a Answer> + 'a {
        let (records, index) = (self.records, self.index);
        records.columns.iter().map(move |c| c.get(index))
    }

    /// Where the record came from, for as long as the records live.
    pub fn info(&self) -> &'a RowInfo {
        &self.records.rows[self.index]
    }

    /// Position among the records.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<'a> std::ops::Deref for RecordRef<'a> {
    type Target = RowInfo;
    fn deref(&self) -> &RowInfo {
        &self.records.rows[self.index]
    }
}

/// Cleaning's column builder: every row read gets a slot in every column, an answer read from
/// a cell is read once per distinct raw text (`intern`), and [`ColumnsBuilder::finish`] keeps
/// the rows that survive the rules.
pub(super) struct ColumnsBuilder {
    columns: Vec<AnswerColumn>,
    /// Per question and [`Key`] kind, the slot each key was given.
    seen: Vec<[Seen; 2]>,
}

/// The slot of each raw text one question has met (FxHash: a million cells a column). Most
/// raw texts are short option codes or labels: one of up to 7 bytes is looked up as one word
/// (its bytes and its length), with no string hashed or compared.
#[derive(Default)]
struct Seen {
    /// The first [`Seen::FEW`] short texts met, scanned in order: an option code column never
    /// needs more, and a scan of a few words beats hashing one.
    few: Vec<(u64, usize)>,
    short: rustc_hash::FxHashMap<u64, usize>,
    long: rustc_hash::FxHashMap<String, usize>,
}

impl Seen {
    /// `key`'s bytes and length in one word, when it has at most 7 bytes (one word per text:
    /// two texts of different lengths differ in the last byte).
    fn packed(key: &str) -> Option<u64> {
        let b = key.as_bytes();
        if b.len() > 7 {
            return None;
        }
        // In registers: through a byte array the whole word is read back just after its bytes
        // were stored one by one, and the store cannot be forwarded to the load.
        let mut w = (b.len() as u64) << 56;
        for (i, &c) in b.iter().enumerate() {
            w |= u64::from(c) << (8 * i);
        }
        Some(w)
    }

    const FEW: usize = 8;

    fn get(&self, key: &str) -> Option<usize> {
        match Self::packed(key) {
            Some(w) => match self.few.iter().find(|(k, _)| *k == w) {
                Some(&(_, slot)) => Some(slot),
                None if self.few.len() < Self::FEW => None,
                None => self.short.get(&w).copied(),
            },
            None => self.long.get(key).copied(),
        }
    }

    fn insert(&mut self, key: &str, slot: usize) {
        match Self::packed(key) {
            Some(w) if self.few.len() < Self::FEW => self.few.push((w, slot)),
            Some(w) => {
                self.short.insert(w, slot);
            }
            None => {
                self.long.insert(key.to_string(), slot);
            }
        }
    }
}

/// Questions `first..first + len` of a [`ColumnsBuilder`], filled apart from the rest: the
/// same [`ColumnsBuilder::intern`] and [`ColumnsBuilder::push`], by question index.
pub(super) struct ColumnsPart<'b> {
    first: usize,
    columns: &'b mut [AnswerColumn],
    seen: &'b mut [[Seen; 2]],
}

impl ColumnsPart<'_> {
    /// The questions this part holds.
    pub(super) fn questions(&self) -> std::ops::Range<usize> {
        self.first..self.first + self.columns.len()
    }

    /// [`ColumnsBuilder::intern`] for question `qi` of this part.
    pub(super) fn intern(
        &mut self,
        qi: usize,
        key: Key<'_>,
        read: impl FnOnce() -> Answer,
    ) -> (usize, bool) {
        let (kind, key) = key.kind_and_text();
        let at = qi - self.first;
        intern_in(&mut self.columns[at], &mut self.seen[at][kind], key, read)
    }

    /// Give the next row of question `qi` a new answer of its own (free text: no two alike).
    pub(super) fn push(&mut self, qi: usize, answer: Answer) -> usize {
        self.columns[qi - self.first].push_value(answer)
    }
}

/// Give the next row of `column` the slot of `key`, reading its answer with `read` only the
/// first time `key` is seen; returns the slot and whether it was new.
fn intern_in(
    column: &mut AnswerColumn,
    seen: &mut Seen,
    key: &str,
    read: impl FnOnce() -> Answer,
) -> (usize, bool) {
    if let Some(slot) = seen.get(key) {
        column.slots.push(slot);
        return (slot, false);
    }
    let slot = column.push_value(read());
    seen.insert(key, slot);
    (slot, true)
}

/// What decides an answer: a cell's raw text, or the options chosen in a multi-select split
/// over one column per option (another round's source may bind the same question either way;
/// the two never share a slot, so each keeps its own recode accounting).
#[derive(Debug, Clone, Copy)]
pub(super) enum Key<'a> {
    Cell(&'a str),
    Chosen(&'a str),
}

impl<'a> Key<'a> {
    /// Which of a question's two lookups the key belongs to, and its text.
    fn kind_and_text(self) -> (usize, &'a str) {
        match self {
            Key::Cell(k) => (0, k),
            Key::Chosen(k) => (1, k),
        }
    }
}

impl ColumnsBuilder {
    pub(super) fn new(questions: usize) -> Self {
        ColumnsBuilder {
            columns: (0..questions).map(|_| AnswerColumn::new()).collect(),
            seen: (0..questions).map(|_| Default::default()).collect(),
        }
    }

    /// Give the next row of question `qi` the answer that `key` reads as, reading it with
    /// `read` only the first time `key` is seen; returns the slot and whether it was new.
    /// (Tests; cleaning fills the columns through [`ColumnsBuilder::parts`].)
    #[cfg(test)]
    pub(super) fn intern(
        &mut self,
        qi: usize,
        key: Key<'_>,
        read: impl FnOnce() -> Answer,
    ) -> (usize, bool) {
        let all = self.columns.len();
        self.parts(all).remove(0).intern(qi, key, read)
    }

    /// The builder's questions in stretches of `size`, each to be filled on a thread of its
    /// own (a question's column depends on its own rows alone).
    pub(super) fn parts(&mut self, size: usize) -> Vec<ColumnsPart<'_>> {
        self.columns
            .chunks_mut(size.max(1))
            .zip(self.seen.chunks_mut(size.max(1)))
            .enumerate()
            .map(|(k, (columns, seen))| ColumnsPart {
                first: k * size.max(1),
                columns,
                seen,
            })
            .collect()
    }

    /// The answer at `slot` of question `qi`.
    pub(super) fn value(&self, qi: usize, slot: usize) -> &Answer {
        &self.columns[qi].values[slot]
    }

    /// Question `qi`'s answer in row `read` (its position among all rows read so far).
    pub(super) fn answer(&self, qi: usize, read: usize) -> &Answer {
        self.columns[qi].get(read)
    }

    /// The records: `rows` pairs each kept row's position among the rows read (ascending) with
    /// its provenance.
    pub(super) fn finish(self, rows: Vec<(usize, RowInfo)>) -> Records {
        let keep: Vec<usize> = rows.iter().map(|(i, _)| *i).collect();
        debug_assert!(keep.windows(2).all(|w| w[0] < w[1]));
        let columns = self
            .columns
            .into_iter()
            .map(|c| AnswerColumn {
                slots: c.slots.select(&keep),
                values: c.values,
            })
            .collect();
        Records {
            rows: rows.into_iter().map(|(_, info)| info).collect(),
            columns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(row: usize) -> RowInfo {
        let source = SourceName {
            file: "f.csv".into(),
            sheet: None,
        };
        RowInfo::new(source.into(), row, &RowMeta::default())
    }

    /// Three hundred distinct numbers widen the slots past a byte; every record still reads
    /// back the answer it was given, through the record and through the column.
    #[test]
    fn records_read_back_what_they_were_given_past_256_values() {
        let rows: Vec<(RowInfo, Vec<Answer>)> = (0..600)
            .map(|i| {
                (
                    info(i + 2),
                    vec![Answer::Number((i % 300) as f64), Answer::Skipped],
                )
            })
            .collect();
        let recs = Records::from_rows(2, rows.clone());
        assert_eq!(recs.len(), 600);
        for (r, (want_info, want)) in recs.iter().zip(&rows) {
            assert_eq!(r.row, want_info.row);
            assert_eq!(r.answers().cloned().collect::<Vec<_>>(), *want);
            assert_eq!(recs.column(0).get(r.index()), &want[0]);
        }
        assert!(matches!(recs.column(0).slots, Slots::Wide(_)));
        assert!(matches!(recs.column(1).slots, Slots::Small(_)));
    }

    /// Filling the columns a stretch of questions at a time, each stretch on a thread of its
    /// own, gives the columns (values in the same order, the same slots) that filling them row
    /// by row gives — with columns of few and of many distinct texts, short and long.
    #[test]
    fn parts_filled_apart_give_the_row_by_row_columns() {
        let (n, questions) = (500, 7);
        let rows: Vec<Vec<String>> = (0..n)
            .map(|i| {
                (0..questions)
                    .map(|q| format!("{:0w$}", (i * (q + 1) * 7919) % (3 + q * 40), w = q * 2))
                    .collect()
            })
            .collect();
        let mut one = ColumnsBuilder::new(questions);
        for r in &rows {
            for (q, raw) in r.iter().enumerate() {
                one.intern(q, Key::Cell(raw), || Answer::Text(raw.clone()));
            }
        }
        let mut apart = ColumnsBuilder::new(questions);
        std::thread::scope(|scope| {
            for mut part in apart.parts(3) {
                let rows = &rows;
                scope.spawn(move || {
                    for r in rows {
                        for q in part.questions() {
                            part.intern(q, Key::Cell(&r[q]), || Answer::Text(r[q].clone()));
                        }
                    }
                });
            }
        });
        let keep: Vec<(usize, RowInfo)> = (0..n).map(|i| (i, info(i + 2))).collect();
        let (a, b) = (one.finish(keep.clone()), apart.finish(keep));
        for q in 0..questions {
            assert_eq!(a.column(q).values(), b.column(q).values(), "question {q}");
            for i in 0..n {
                assert_eq!(
                    a.column(q).slot(i),
                    b.column(q).slot(i),
                    "question {q} row {i}"
                );
            }
        }
        assert!(a.column(6).values().len() > 100 && a.column(0).values().len() == 3);
    }

    /// Raw texts that differ only in length, in trailing NULs or across the 7-byte packing
    /// limit, and the empty text, each get a slot of their own; a text met again gets its slot.
    #[test]
    fn every_distinct_raw_text_keeps_its_own_slot_short_or_long() {
        let raws = [
            "",
            "\0",
            "\0\0",
            "a",
            "a\0",
            "3",
            "3 ",
            " 3",
            "ü",
            "abcdefg",
            "abcdefg\0",
            "abcdefgh",
            "abcdefgi",
            "Strongly agree",
            "1234567",
            "12345678",
        ];
        let mut b = ColumnsBuilder::new(1);
        let mut slots = Vec::new();
        for raw in raws {
            let (slot, new) = b.intern(0, Key::Cell(raw), || Answer::Text(raw.into()));
            assert!(new, "{raw:?} is new");
            slots.push(slot);
        }
        for (raw, &slot) in raws.iter().zip(&slots).rev() {
            let again = b.intern(0, Key::Cell(raw), || unreachable!("{raw:?} was read"));
            assert_eq!(again, (slot, false), "{raw:?}");
            assert_eq!(b.value(0, slot), &Answer::Text((*raw).into()));
        }
        let distinct: std::collections::BTreeSet<usize> = slots.iter().copied().collect();
        assert_eq!(distinct.len(), raws.len());
    }

    /// The builder reads a raw text once, keeps only the rows asked for, in order.
    #[test]
    fn the_builder_reads_each_raw_text_once_and_keeps_the_chosen_rows() {
        let mut b = ColumnsBuilder::new(1);
        let mut reads = 0;
        for raw in ["a", "b", "a", "a", "c", "b"] {
            b.intern(0, Key::Cell(raw), || {
                reads += 1;
                Answer::Text(raw.to_uppercase())
            });
        }
        assert_eq!(reads, 3);
        // The same text as chosen options is another key.
        let (_, new) = b.intern(0, Key::Chosen("a"), || Answer::Skipped);
        assert!(new);
        let recs = b.finish(vec![(1, info(3)), (2, info(4)), (4, info(6)), (6, info(8))]);
        let got: Vec<&Answer> = recs.column(0).iter().collect();
        assert_eq!(
            got,
            [
                &Answer::Text("B".into()),
                &Answer::Text("A".into()),
                &Answer::Text("C".into()),
                &Answer::Skipped
            ]
        );
        assert_eq!(recs.get(2).row, 6);
    }
}

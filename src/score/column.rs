//! One score per record, held compactly: the values in one `f64` column and whether each record
//! has one in a byte column — 9 bytes a record where `Option<f64>` takes 16. At a million
//! respondents the eleven score columns of a ten-domain instrument are 99 MiB instead of 176.

/// A record's score or none, for every record (see the module doc). Compares as the
/// `Vec<Option<f64>>` it stands for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoreColumn {
    /// The score where there is one, 0 where there is none (so equal columns compare equal).
    values: Vec<f64>,
    present: Vec<bool>,
}

impl ScoreColumn {
    /// `n` records without a score.
    pub fn missing(n: usize) -> Self {
        ScoreColumn {
            values: vec![0.0; n],
            present: vec![false; n],
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Record `i`'s score; panics past the last record, as a slice does.
    pub fn get(&self, i: usize) -> Option<f64> {
        self.present[i].then(|| self.values[i])
    }

    /// The scores in record order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<f64>> + '_ {
        self.range(0..self.len())
    }

    /// The scores of the records in `at`.
    pub fn range(
        &self,
        at: std::ops::Range<usize>,
    ) -> impl ExactSizeIterator<Item = Option<f64>> + '_ {
        self.values[at.clone()]
            .iter()
            .zip(&self.present[at])
            .map(|(&v, &p)| p.then_some(v))
    }

    /// The scores of the records in `at` as numbers, NaN where there is none.
    pub fn nan_for_missing(&self, at: std::ops::Range<usize>) -> Vec<f64> {
        self.range(at).map(|x| x.unwrap_or(f64::NAN)).collect()
    }

    /// The column cut into writable blocks of `block` records (the last may be shorter), for
    /// filling in parallel.
    pub(super) fn blocks_mut(&mut self, block: usize) -> impl Iterator<Item = Block<'_>> {
        self.values
            .chunks_mut(block)
            .zip(self.present.chunks_mut(block))
            .map(|(values, present)| Block { values, present })
    }
}

impl FromIterator<Option<f64>> for ScoreColumn {
    fn from_iter<I: IntoIterator<Item = Option<f64>>>(scores: I) -> Self {
        let (values, present) = scores
            .into_iter()
            .map(|x| (x.unwrap_or(0.0), x.is_some()))
            .unzip();
        ScoreColumn { values, present }
    }
}

/// Consecutive records of a [`ScoreColumn`], to fill.
pub(super) struct Block<'a> {
    values: &'a mut [f64],
    present: &'a mut [bool],
}

impl Block<'_> {
    pub(super) fn set(&mut self, i: usize, score: Option<f64>) {
        self.values[i] = score.unwrap_or(0.0);
        self.present[i] = score.is_some();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column gives back the scores it was given, through every accessor and after filling
    /// it block by block, and compares as the options do (NaN included).
    #[test]
    fn a_column_reads_back_its_scores() {
        let scores = [
            Some(0.25),
            None,
            Some(0.0),
            Some(-1.5),
            None,
            Some(f64::MAX),
        ];
        let c: ScoreColumn = scores.iter().copied().collect();
        assert_eq!(c.len(), 6);
        assert_eq!(c.iter().collect::<Vec<_>>(), scores);
        assert_eq!((0..6).map(|i| c.get(i)).collect::<Vec<_>>(), scores);
        assert_eq!(c.range(2..5).collect::<Vec<_>>(), scores[2..5]);
        let nan = c.nan_for_missing(0..3);
        assert_eq!((nan[0], nan[2]), (0.25, 0.0));
        assert!(nan[1].is_nan());
        for block in [1, 4, 6, 100] {
            let mut filled = ScoreColumn::missing(6);
            assert_eq!(filled.iter().flatten().count(), 0);
            for (b, mut part) in filled.blocks_mut(block).enumerate() {
                for i in 0..part.values.len() {
                    part.set(i, scores[b * block + i]);
                }
            }
            assert_eq!(filled, c, "blocks of {block}");
        }
        let other: ScoreColumn = [Some(0.25), Some(0.0)].into_iter().collect();
        assert_ne!(other, [Some(0.25), None].into_iter().collect());
        let nan: ScoreColumn = [Some(f64::NAN)].into_iter().collect();
        assert_ne!(
            nan,
            nan.clone(),
            "NaN is not equal to itself, as in an Option"
        );
        assert!(ScoreColumn::default().is_empty());
    }
}

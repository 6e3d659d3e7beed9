//! Score: items → domain maturity (0–1) → per-organization risk index (0–100, higher = more
//! exposed) → risk tier; plus a CSF-style maturity tier (1–4) per domain.
//!
//! Item maturity is the option's points over the question's highest points (reversed with
//! `reverse`); numeric items scale linearly over `score_range`; multi-select items with
//! `score_share` score the share of options chosen. Declared missing codes and skipped items do
//! not score. A domain scores when at least `domain_min_answered` of its items do; the index
//! exists when at least `index_min_domains` of the domains do.
//!
//! Averages are exact: option points, counts of chosen options and the spec's weights and tier
//! thresholds are all rationals (every finite f64 is one), so domain means and the index are
//! computed as exact fractions ([`Ratio`]) and an organization whose index is exactly 25 is
//! "Moderate", never "Low" by a rounding error. The float a table shows is the correctly
//! rounded fraction. Only numeric items (a real answer scaled over `score_range`) fall back to
//! floating point, for the organizations that answered one.

use crate::clean::{Answer, Records};
use crate::spec::{QuestionType, Spec};

mod column;
pub use column::ScoreColumn;

/// Scores for every record, in record order.
#[derive(Debug, Clone)]
pub struct Scores {
    /// Domain ids in spec order.
    pub domains: Vec<String>,
    /// `[domain][record]` maturity in 0–1: one column per domain.
    pub maturity: Vec<ScoreColumn>,
    pub risk_index: ScoreColumn,
    /// Index into the spec's tiers (at most 255 of them: spec validation).
    pub tier: Vec<Option<u8>>,
}

/// An exact fraction num/den (den > 0, reduced). i128 holds every fraction scoring builds from
/// survey-sized inputs; an operation that would overflow returns `None` (float fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    num: i128,
    den: i128,
}

/// a / b, by 64-bit division while both fit (128-bit division is a library routine; survey
/// fractions are small).
fn div(a: i128, b: i128) -> i128 {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(x), Ok(y)) if !(x == i64::MIN && y == -1) => i128::from(x / y),
        _ => a / b,
    }
}

/// a mod b (b > 0), by 64-bit division while both fit, as [`div`].
fn rem(a: i128, b: i128) -> i128 {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(x), Ok(y)) if y != -1 => i128::from(x % y),
        _ => a % b,
    }
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    // Survey fractions are small: 64-bit division (one instruction) instead of 128-bit (a
    // library routine) while both fit.
    while b != 0 {
        if a <= u128::from(u64::MAX) && b <= u128::from(u64::MAX) {
            return i128::from(binary_gcd(a as u64, b as u64).max(1));
        }
        (a, b) = (b, a % b);
    }
    a.max(1) as i128
}

/// Stein's binary GCD: shifts and subtractions, no division.
fn binary_gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 || b == 0 {
        return a | b;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

impl Ratio {
    pub fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den) * den.signum();
        Some(Ratio {
            num: div(num, g),
            den: div(den, g),
        })
    }

    pub fn int(n: i128) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    /// The exact value of a finite f64 (mantissa × 2^exp), if it fits.
    pub fn from_f64(x: f64) -> Option<Ratio> {
        if !x.is_finite() {
            return None;
        }
        if x == x.trunc() && x.abs() < 1e30 {
            return Some(Ratio::int(x as i128));
        }
        let bits = x.to_bits();
        let sign: i128 = if bits >> 63 == 0 { 1 } else { -1 };
        let exp = ((bits >> 52) & 0x7ff) as i32;
        let frac = (bits & ((1 << 52) - 1)) as i128;
        let (mant, e) = if exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1 << 52), exp - 1075)
        };
        if e >= 0 || -e > 100 {
            return None;
        }
        Ratio::new(sign * mant, 1i128 << -e)
    }

    pub fn checked_add(self, o: Ratio) -> Option<Ratio> {
        let g = gcd(self.den, o.den);
        let den = div(self.den, g).checked_mul(o.den)?;
        let num = self
            .num
            .checked_mul(div(o.den, g))?
            .checked_add(o.num.checked_mul(div(self.den, g))?)?;
        Ratio::new(num, den)
    }

    pub fn checked_mul(self, o: Ratio) -> Option<Ratio> {
        let (g1, g2) = (gcd(self.num, o.den), gcd(o.num, self.den));
        Ratio::new(
            div(self.num, g1).checked_mul(div(o.num, g2))?,
            div(self.den, g2).checked_mul(div(o.den, g1))?,
        )
    }

    pub fn checked_div(self, o: Ratio) -> Option<Ratio> {
        if o.num == 0 {
            return None;
        }
        self.checked_mul(Ratio::new(o.den, o.num)?)
    }

    /// self < o, exactly.
    pub fn lt(self, o: Ratio) -> Option<bool> {
        Some(self.num.checked_mul(o.den)? < o.num.checked_mul(self.den)?)
    }

    /// The nearest f64 (exact when numerator and denominator are below 2^53).
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

/// Exact maturity of one answer, for the item kinds whose score is a fraction.
fn item_maturity_exact(spec: &Spec, qi: usize, answer: &Answer) -> Option<Ratio> {
    let q = &spec.questions[qi];
    q.domain.as_ref()?;
    let m = match (q.kind, answer) {
        (QuestionType::Multi, Answer::Codes(cs)) if q.score_share => {
            Ratio::new(cs.len() as i128, spec.options(q).len() as i128)?
        }
        (QuestionType::Single | QuestionType::Likert | QuestionType::Yesno, Answer::Code(c)) => {
            let options = spec.options(q);
            let max = options.iter().filter_map(|o| o.score).max()?;
            let pts = options.get(usize::from(c.index))?.score?;
            Ratio::new(i128::from(pts), i128::from(max))?
        }
        _ => return None,
    };
    if q.reverse {
        Ratio::int(1).checked_add(Ratio::new(-m.num, m.den)?)
    } else {
        Some(m)
    }
}

/// Maturity (0–1) of one answer to one question, when it scores.
pub fn item_maturity(spec: &Spec, qi: usize, answer: &Answer) -> Option<f64> {
    let q = &spec.questions[qi];
    q.domain.as_ref()?;
    let m = match (q.kind, answer) {
        (QuestionType::Numeric, Answer::Number(x)) => {
            let [lo, hi] = q.score_range?;
            ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
        }
        (QuestionType::Multi, Answer::Codes(cs)) if q.score_share => {
            let n = spec.options(q).len();
            if n == 0 {
                return None;
            }
            cs.len() as f64 / n as f64
        }
        (QuestionType::Single | QuestionType::Likert | QuestionType::Yesno, Answer::Code(c)) => {
            let options = spec.options(q);
            let max = options.iter().filter_map(|o| o.score).max()?;
            let pts = options.get(usize::from(c.index))?.score?;
            if max == 0 {
                return None;
            }
            f64::from(pts) / f64::from(max)
        }
        _ => return None,
    };
    Some(if q.reverse { 1.0 - m } else { m })
}

/// Tier index for a risk index value.
pub fn tier_of(spec: &Spec, index: f64) -> usize {
    let tiers = &spec.scoring.tiers;
    tiers
        .iter()
        .position(|t| t.below.is_none_or(|b| index < b))
        .unwrap_or(tiers.len().saturating_sub(1))
}

/// CSF-style maturity tier 1–4 from a domain maturity in 0–1.
pub fn maturity_tier(m: f64) -> u8 {
    ((m * 4.0).floor() as u8 + 1).min(4)
}

/// What scoring needs of one question, worked out once per distinct answer of its column (an
/// answer's maturity depends on the answer alone) and looked up per record.
struct ItemTable<'a> {
    column: &'a crate::clean::AnswerColumn,
    numeric: bool,
    exact: Vec<Option<Ratio>>,
    float: Vec<Option<f64>>,
}

impl ItemTable<'_> {
    fn exact(&self, i: usize) -> Option<Ratio> {
        self.exact[self.column.slot(i)]
    }

    fn float(&self, i: usize) -> Option<f64> {
        self.float[self.column.slot(i)]
    }
}

/// The domain weights and tier bounds as fractions, once per round; `None` where a weight or
/// bound has no exact fraction (the record is then scored in floating point).
struct ExactConstants {
    weights: Vec<Option<Ratio>>,
    /// Per tier: `None` for the open top tier, else the bound as a fraction (if it has one).
    below: Vec<Option<Option<Ratio>>>,
}

/// Each domain's items as lookup tables over their columns, and the round's constants.
fn score_tables<'a>(
    spec: &Spec,
    records: &'a Records,
) -> (Vec<Vec<ItemTable<'a>>>, ExactConstants) {
    let items: Vec<Vec<ItemTable>> = spec
        .domains
        .iter()
        .map(|d| {
            (0..spec.questions.len())
                .filter(|&i| spec.questions[i].domain.as_deref() == Some(d.id.as_str()))
                .map(|qi| {
                    let column = records.column(qi);
                    ItemTable {
                        column,
                        numeric: spec.questions[qi].kind == QuestionType::Numeric,
                        exact: column
                            .values()
                            .iter()
                            .map(|a| item_maturity_exact(spec, qi, a))
                            .collect(),
                        float: column
                            .values()
                            .iter()
                            .map(|a| item_maturity(spec, qi, a))
                            .collect(),
                    }
                })
                .collect()
        })
        .collect();
    let constants = ExactConstants {
        weights: spec
            .domains
            .iter()
            .map(|d| Ratio::from_f64(d.weight))
            .collect(),
        below: spec
            .scoring
            .tiers
            .iter()
            .map(|t| t.below.map(Ratio::from_f64))
            .collect(),
    };
    (items, constants)
}

pub fn score(spec: &Spec, records: &Records) -> Scores {
    score_in_blocks(spec, records, 1 << 15, DomainMemo::DENSE)
}

/// [`score`], with the records scored in parallel blocks of `block`, each with its own memo
/// (a record's scores do not depend on which records came before it), joined in order; a
/// domain's memo is a table when it has at most `dense_limit` combinations of answers.
fn score_in_blocks(spec: &Spec, records: &Records, block: usize, dense_limit: usize) -> Scores {
    use rayon::prelude::*;
    let domains: Vec<String> = spec.domains.iter().map(|d| d.id.clone()).collect();
    let (items, constants) = score_tables(spec, records);
    let n = records.len();
    let mut maturity = vec![ScoreColumn::missing(n); domains.len()];
    let mut risk_index = ScoreColumn::missing(n);
    let mut tier = vec![None; n];
    // Each block's part of every domain's column.
    let mut maturity_blocks: Vec<Vec<column::Block<'_>>> =
        (0..n.div_ceil(block)).map(|_| Vec::new()).collect();
    for column in &mut maturity {
        for (b, part) in column.blocks_mut(block).enumerate() {
            maturity_blocks[b].push(part);
        }
    }
    let index_blocks: Vec<column::Block<'_>> = risk_index.blocks_mut(block).collect();
    maturity_blocks
        .into_par_iter()
        .zip(index_blocks)
        .zip(tier.par_chunks_mut(block))
        .enumerate()
        .for_each(|(b, ((mut maturity, mut risk_index), tier))| {
            let mut memo = ScoreMemo::new(&items, dense_limit);
            for (i, tier) in tier.iter_mut().enumerate() {
                let (dm, idx, t) = memo.score(spec, &items, &constants, b * block + i);
                for (column, m) in maturity.iter_mut().zip(dm) {
                    column.set(i, *m);
                }
                risk_index.set(i, idx);
                // At most 255 tiers (spec validation).
                *tier = t.and_then(|t| u8::try_from(t).ok());
            }
        });
    Scores {
        domains,
        maturity,
        risk_index,
        tier,
    }
}

/// A record's domain means, risk index and tier.
#[cfg(test)]
type RecordScore = (Vec<Option<f64>>, Option<f64>, Option<usize>);

/// Record `r`'s scores, computed directly: exactly where every item and constant is a
/// fraction that fits, otherwise in floating point. The definition [`ScoreMemo`] must agree
/// with (unit test).
#[cfg(test)]
fn score_record(
    spec: &Spec,
    items: &[Vec<ItemTable>],
    constants: &ExactConstants,
    r: usize,
) -> RecordScore {
    if let Some((dm, idx, t)) = score_exact(spec, items, constants, r) {
        return (dm, idx, t);
    }
    let dm: Vec<Option<f64>> = items.iter().map(|qs| domain_float(spec, qs, r)).collect();
    let idx = index_float(spec, &dm);
    (dm, idx, idx.map(|x| tier_of(spec, x)))
}

/// A domain's mean maturity in floating point: the mean of its scored items, when enough of
/// them score.
fn domain_float(spec: &Spec, qs: &[ItemTable], r: usize) -> Option<f64> {
    let mut sum = 0.0;
    let mut scored = 0usize;
    for m in qs.iter().filter_map(|q| q.float(r)) {
        sum += m;
        scored += 1;
    }
    if qs.is_empty()
        || (scored as f64) < spec.scoring.domain_min_answered * qs.len() as f64
        || scored == 0
    {
        None
    } else {
        Some(sum / scored as f64)
    }
}

/// The risk index in floating point from the domain means.
fn index_float(spec: &Spec, dm: &[Option<f64>]) -> Option<f64> {
    let present: Vec<(f64, f64)> = dm
        .iter()
        .zip(&spec.domains)
        .filter_map(|(m, d)| m.map(|m| (m, d.weight)))
        .collect();
    if !present.is_empty()
        && present.len() as f64 >= spec.scoring.index_min_domains * dm.len() as f64
    {
        let wsum: f64 = present.iter().map(|p| p.1).sum();
        let msum: f64 = present.iter().map(|p| p.0 * p.1).sum();
        Some(100.0 * (1.0 - msum / wsum))
    } else {
        None
    }
}

/// One domain scored for one combination of its items' answers.
#[derive(Clone, Copy)]
struct DomainScore {
    /// The exact mean (`Some(None)`: the domain does not score); `None` when this combination
    /// cannot be scored exactly (a numeric answer, a fraction outgrowing i128).
    exact: Option<Option<Ratio>>,
    float: Option<f64>,
    /// The exact mean as the nearest float, and times the domain's weight (`None` when the
    /// weight has no exact fraction or the product outgrows i128): what the index sums.
    exact_float: Option<f64>,
    weighted: Option<Ratio>,
}

impl DomainScore {
    fn new(spec: &Spec, qs: &[ItemTable], weight: Option<Ratio>, r: usize) -> Self {
        let exact = domain_exact(spec, qs, r);
        let mean = exact.flatten();
        DomainScore {
            exact,
            float: domain_float(spec, qs, r),
            exact_float: mean.map(Ratio::to_f64),
            weighted: mean.and_then(|m| m.checked_mul(weight?)),
        }
    }
}

/// Domain means worked out once per distinct combination of answers and looked up per record:
/// the combination of a domain's item answer slots decides its mean, and a round's records
/// repeat combinations heavily (a domain of four five-point items has at most 5⁴), so a
/// domain's exact fraction is summed once per combination instead of once per record. The
/// index is not memoized: the combinations of ten domain means are mostly distinct (measured
/// at 1M: a memo of them cost more than it saved). Gives what [`score_record`] gives for
/// every record (unit test on random rounds).
struct ScoreMemo {
    domains: Vec<DomainMemo>,
    key: Vec<u32>,
    scores: Vec<DomainScore>,
    /// The record's domain means, as returned.
    means: Vec<Option<f64>>,
    /// Σ weight of the scoring domains, by which domains score (a bit each, up to 64).
    weight_sums: rustc_hash::FxHashMap<u64, Option<Ratio>>,
}

/// One domain's scores by combination of its items' answer slots: in a table indexed by the
/// combination as a mixed-radix number when the combinations are few (the common case: a
/// few items of a few options), else in a hash map.
struct DomainMemo {
    /// Per item, the weight of its slot in the combination's number (with `dense`).
    strides: Vec<usize>,
    /// Combination number → position in `found` (`u32::MAX` = not yet scored).
    dense: Vec<u32>,
    found: Vec<DomainScore>,
    by_slots: rustc_hash::FxHashMap<Box<[u32]>, DomainScore>,
}

impl DomainMemo {
    /// Combinations up to this many go in the table.
    const DENSE: usize = 1 << 16;

    fn new(qs: &[ItemTable], dense_limit: usize) -> Self {
        let mut strides = Vec::with_capacity(qs.len());
        let mut size = Some(1usize);
        for q in qs {
            strides.push(size.unwrap_or(0));
            size = size
                .and_then(|s| s.checked_mul(q.column.values().len().max(1)))
                .filter(|&s| s <= dense_limit);
        }
        let dense = match size {
            Some(size) => vec![u32::MAX; size],
            None => {
                strides.clear();
                Vec::new()
            }
        };
        DomainMemo {
            strides,
            dense,
            found: Vec::new(),
            by_slots: Default::default(),
        }
    }
}

impl ScoreMemo {
    fn new(items: &[Vec<ItemTable>], dense_limit: usize) -> Self {
        ScoreMemo {
            domains: items
                .iter()
                .map(|qs| DomainMemo::new(qs, dense_limit))
                .collect(),
            key: Vec::new(),
            scores: Vec::new(),
            means: Vec::new(),
            weight_sums: Default::default(),
        }
    }

    /// Record `r`'s domain means, risk index and tier.
    fn score(
        &mut self,
        spec: &Spec,
        items: &[Vec<ItemTable>],
        constants: &ExactConstants,
        r: usize,
    ) -> (&[Option<f64>], Option<f64>, Option<usize>) {
        self.scores.clear();
        for (d, (qs, memo)) in items.iter().zip(&mut self.domains).enumerate() {
            let score = if memo.dense.is_empty() {
                self.key.clear();
                self.key.extend(qs.iter().map(|q| q.column.slot(r) as u32));
                match memo.by_slots.get(&self.key[..]) {
                    Some(s) => *s,
                    None => {
                        let s = DomainScore::new(spec, qs, constants.weights[d], r);
                        memo.by_slots.insert(self.key.clone().into_boxed_slice(), s);
                        s
                    }
                }
            } else {
                let at: usize = qs
                    .iter()
                    .zip(&memo.strides)
                    .map(|(q, stride)| q.column.slot(r) * stride)
                    .sum();
                match memo.dense[at] {
                    u32::MAX => {
                        let s = DomainScore::new(spec, qs, constants.weights[d], r);
                        memo.dense[at] = memo.found.len() as u32;
                        memo.found.push(s);
                        s
                    }
                    i => memo.found[i as usize],
                }
            };
            self.scores.push(score);
        }
        let scores = &self.scores;
        self.means.clear();
        if scores.iter().all(|s| s.exact.is_some()) {
            if let Some((idx, t)) = index_exact(spec, constants, scores, &mut self.weight_sums) {
                self.means.extend(scores.iter().map(|s| s.exact_float));
                return (&self.means, idx, t);
            }
        }
        self.means.extend(scores.iter().map(|s| s.float));
        let idx = index_float(spec, &self.means);
        (&self.means, idx, idx.map(|x| tier_of(spec, x)))
    }
}

/// A domain's exact mean (`Some(None)` when too few items score); `None` when an answer
/// scores only in floating point or a fraction outgrows i128.
fn domain_exact(spec: &Spec, qs: &[ItemTable], r: usize) -> Option<Option<Ratio>> {
    let mut sum = Ratio::int(0);
    let mut scored = 0usize;
    for q in qs {
        if q.numeric && q.float(r).is_some() {
            return None;
        }
        if let Some(m) = q.exact(r) {
            sum = sum.checked_add(m)?;
            scored += 1;
        } else if q.float(r).is_some() {
            return None;
        }
    }
    let enough = !qs.is_empty()
        && scored > 0
        && (scored as f64) >= spec.scoring.domain_min_answered * qs.len() as f64;
    Some(if enough {
        Some(sum.checked_div(Ratio::int(scored as i128))?)
    } else {
        None
    })
}

/// The exact index (as the nearest float) and tier from the domain scores, which carry their
/// weighted means; the sum of the weights is remembered per set of scoring domains. `None`
/// when a scoring domain's weight has no exact fraction or a fraction outgrows i128.
fn index_exact(
    spec: &Spec,
    constants: &ExactConstants,
    scores: &[DomainScore],
    weight_sums: &mut rustc_hash::FxHashMap<u64, Option<Ratio>>,
) -> Option<(Option<f64>, Option<usize>)> {
    let present = scores.iter().filter(|s| s.exact_float.is_some()).count();
    if present == 0 || (present as f64) < spec.scoring.index_min_domains * scores.len() as f64 {
        // A weight without an exact fraction still sends the record to floating point.
        return constants
            .weights
            .iter()
            .zip(scores)
            .all(|(w, s)| s.exact_float.is_none() || w.is_some())
            .then_some((None, None));
    }
    let weight_sum = |weight_sums: &mut rustc_hash::FxHashMap<u64, Option<Ratio>>| {
        let sum = || {
            let mut wsum = Ratio::int(0);
            for (w, s) in constants.weights.iter().zip(scores) {
                if s.exact_float.is_some() {
                    wsum = wsum.checked_add((*w)?)?;
                }
            }
            Some(wsum)
        };
        if scores.len() > 64 {
            return sum();
        }
        let mask = scores
            .iter()
            .enumerate()
            .filter(|(_, s)| s.exact_float.is_some())
            .fold(0u64, |m, (d, _)| m | 1 << d);
        *weight_sums.entry(mask).or_insert_with(sum)
    };
    let wsum = weight_sum(weight_sums)?;
    let index = match index_over_common_denominator(scores, wsum) {
        Some(index) => index,
        None => {
            let mut msum = Ratio::int(0);
            for s in scores.iter().filter(|s| s.exact_float.is_some()) {
                msum = msum.checked_add(s.weighted?)?;
            }
            // 100 (1 − Σ m w / Σ w)
            let one_minus = Ratio::int(1)
                .checked_add(Ratio::new(-1, 1)?.checked_mul(msum.checked_div(wsum)?)?)?;
            Ratio::int(100).checked_mul(one_minus)?
        }
    };
    Some((Some(index.to_f64()), Some(tier_of_exact(constants, index)?)))
}

/// 100 (1 − Σ m w / Σ w) from the scoring domains' weighted means, summed over a common
/// denominator and reduced once at the end (the reduction per addition was most of scoring's
/// time). `None` when a step outgrows i128; the caller then sums reduced fractions, whose
/// intermediates are never larger, so a record scores exactly here whenever it would there,
/// with the same (unique, reduced) fraction.
fn index_over_common_denominator(scores: &[DomainScore], wsum: Ratio) -> Option<Ratio> {
    let (mut num, mut den) = (0i128, 1i128);
    for s in scores.iter().filter(|s| s.exact_float.is_some()) {
        let m = s.weighted?;
        if m.den == den {
            num = num.checked_add(m.num)?;
        } else if rem(den, m.den) == 0 {
            num = num.checked_add(m.num.checked_mul(div(den, m.den))?)?;
        } else if rem(m.den, den) == 0 {
            num = num.checked_mul(div(m.den, den))?.checked_add(m.num)?;
            den = m.den;
        } else {
            num = num
                .checked_mul(m.den)?
                .checked_add(m.num.checked_mul(den)?)?;
            den = den.checked_mul(m.den)?;
        }
    }
    // With Σ w = p/q: 100 (1 − (num/den)(q/p)) = 100 (den p − num q) / (den p).
    let dp = den.checked_mul(wsum.num)?;
    let top = dp
        .checked_sub(num.checked_mul(wsum.den)?)?
        .checked_mul(100)?;
    Ratio::new(top, dp)
}

/// Tier index for an exact risk index.
fn tier_of_exact(constants: &ExactConstants, index: Ratio) -> Option<usize> {
    for (i, below) in constants.below.iter().enumerate() {
        match below {
            None => return Some(i),
            Some(b) => {
                if index.lt((*b)?)? {
                    return Some(i);
                }
            }
        }
    }
    Some(constants.below.len().saturating_sub(1))
}

/// Record `r`'s scores in exact arithmetic; `None` when an item is numeric or a fraction
/// outgrows i128 (the caller then scores in floating point).
#[cfg(test)]
fn score_exact(
    spec: &Spec,
    items: &[Vec<ItemTable>],
    constants: &ExactConstants,
    r: usize,
) -> Option<RecordScore> {
    let mut domain_means: Vec<Option<Ratio>> = Vec::with_capacity(items.len());
    for qs in items {
        let mut sum = Ratio::int(0);
        let mut scored = 0usize;
        for q in qs {
            if q.numeric && q.float(r).is_some() {
                return None;
            }
            if let Some(m) = q.exact(r) {
                sum = sum.checked_add(m)?;
                scored += 1;
            } else if q.float(r).is_some() {
                return None;
            }
        }
        let enough = !qs.is_empty()
            && scored > 0
            && (scored as f64) >= spec.scoring.domain_min_answered * qs.len() as f64;
        domain_means.push(if enough {
            Some(sum.checked_div(Ratio::int(scored as i128))?)
        } else {
            None
        });
    }
    let present: Vec<(Ratio, Ratio)> = domain_means
        .iter()
        .zip(&constants.weights)
        .filter_map(|(m, w)| m.map(|m| w.map(|w| (m, w))))
        .collect::<Option<Vec<_>>>()?;
    let n_domains = items.len();
    let (idx, t) = if !present.is_empty()
        && present.len() as f64 >= spec.scoring.index_min_domains * n_domains as f64
    {
        let mut wsum = Ratio::int(0);
        let mut msum = Ratio::int(0);
        for &(m, w) in &present {
            wsum = wsum.checked_add(w)?;
            msum = msum.checked_add(m.checked_mul(w)?)?;
        }
        // 100 (1 − Σ m w / Σ w)
        let one_minus =
            Ratio::int(1).checked_add(Ratio::new(-1, 1)?.checked_mul(msum.checked_div(wsum)?)?)?;
        let index = Ratio::int(100).checked_mul(one_minus)?;
        (Some(index.to_f64()), Some(tier_of_exact(constants, index)?))
    } else {
        (None, None)
    };
    let dm = domain_means.iter().map(|m| m.map(Ratio::to_f64)).collect();
    Some((dm, idx, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_exact() {
        let third = Ratio::new(1, 3).unwrap();
        assert_eq!(
            third
                .checked_add(third)
                .unwrap()
                .checked_add(third)
                .unwrap(),
            Ratio::int(1)
        );
        assert_eq!(Ratio::from_f64(37.5), Ratio::new(75, 2));
        assert_eq!(Ratio::from_f64(0.1).unwrap().to_f64(), 0.1);
        // 1/2, 5/6, 5/6, 5/6 average to exactly 3/4: in floating point 0.7500000000000001.
        let ms = [(1, 2), (5, 6), (5, 6), (5, 6)].map(|(a, b)| Ratio::new(a, b).unwrap());
        let sum = ms
            .iter()
            .fold(Ratio::int(0), |s, m| s.checked_add(*m).unwrap());
        assert_eq!(
            sum.checked_div(Ratio::int(4)).unwrap(),
            Ratio::new(3, 4).unwrap()
        );
        let float: f64 = [0.5, 5.0 / 6.0, 5.0 / 6.0, 5.0 / 6.0].iter().sum::<f64>() / 4.0;
        assert!(100.0 * (1.0 - float) < 25.0, "the float path would say Low");
    }

    /// Four domains of one 7-point item each, answered 3, 5, 5, 5 (of 6): maturities 1/2,
    /// 5/6, 5/6, 5/6, index exactly 25 — "Moderate" (25 ≤ Moderate < 50), where summing floats
    /// gives 24.999999999999993 and "Low".
    #[test]
    fn an_index_exactly_on_a_threshold_gets_the_upper_tier() {
        let mut toml = String::from(
            "[survey]\nid = \"t\"\nround = \"1\"\ntitle = \"t\"\ntlp = \"GREEN\"\n\n[[sources]]\npath = \"Cargo.toml\"\n\n\
             [respondent]\nkey = \"id\"\n\n[scales.seven]\noptions = [\n",
        );
        for k in 0..7 {
            toml.push_str(&format!(
                "  {{ code = {k}, label = \"p{k}\", score = {k} }},\n"
            ));
        }
        toml.push_str("]\n\n[[questions]]\nid = \"id\"\ntype = \"text\"\n\n");
        for d in 1..=4 {
            toml.push_str(&format!(
                "[[questions]]\nid = \"q{d}\"\ntype = \"likert\"\nscale = \"seven\"\ndomain = \"D{d}\"\n\n\
                 [[domains]]\nid = \"D{d}\"\ntitle = \"D{d}\"\n\n"
            ));
        }
        toml.push_str(
            "[scoring]\ntiers = [{ name = \"Low\", below = 25 }, { name = \"Moderate\", below = 50 }, \
             { name = \"High\" }]\n\n[design]\npopulation = \"surveys/example-2024/population.csv\"\n\n[weighting]\nmethod = \"none\"\n",
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let spec = crate::spec::load_str(&toml, "survey.toml", dir)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .spec;
        let answers = ["", "3", "5", "5", "5"]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    Answer::Text("org".into())
                } else {
                    let q = &spec.questions[i];
                    let index = spec.options(q).iter().position(|o| o.code.0 == *c).unwrap();
                    Answer::Code(crate::clean::Choice {
                        index: index as u16,
                        code: (*c).into(),
                    })
                }
            })
            .collect();
        let info = crate::clean::RowInfo::new(
            crate::clean::SourceName {
                file: "x.csv".into(),
                sheet: None,
            }
            .into(),
            2,
            &Default::default(),
        );
        let records = Records::from_rows(spec.questions.len(), [(info, answers)]);
        let s = score(&spec, &records);
        assert_eq!(s.risk_index.get(0), Some(25.0));
        assert_eq!(
            spec.scoring.tiers[usize::from(s.tier[0].unwrap())].name,
            "Moderate"
        );
        let float = [0.5, 5.0 / 6.0, 5.0 / 6.0, 5.0 / 6.0].iter().sum::<f64>() / 4.0;
        assert_eq!(
            tier_of(&spec, 100.0 * (1.0 - float)),
            0,
            "floats would say Low"
        );
    }

    /// The memoized scoring gives, for every record, exactly what scoring the record directly
    /// gives — exact and floating-point paths alike — on random answers to the example round's
    /// questions (every question type, reversed items, numeric items that force the float path,
    /// declared missing codes, skips), from rounds of one record to thousands.
    #[test]
    fn memoized_scores_are_the_direct_scores() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut spec = crate::spec::load(&dir.join("surveys/example-2024/survey.toml"))
            .unwrap()
            .spec;
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n.max(1)
        };
        for (round, n) in [1usize, 2, 7, 60, 500, 4000].into_iter().enumerate() {
            // Later rounds answer from fewer options, so combinations repeat and the memo hits.
            let spread = [100, 100, 3, 2, 100, 2][round];
            // Domain weights: whole, binary fractions, thirds (no exact binary fraction, so a
            // large denominator), one without an exact fraction at all (1e-300), mixed.
            let weights: [&[f64]; 6] = [
                &[1.0],
                &[0.5, 2.0, 0.25],
                &[1.0 / 3.0, 0.1, 3.0],
                &[1.0, 1e-300],
                &[0.1, 0.7, 1.0 / 7.0, 2.5],
                &[1.0],
            ];
            for (d, domain) in spec.domains.iter_mut().enumerate() {
                domain.weight = weights[round][d % weights[round].len()];
            }
            let rows = (0..n).map(|row| {
                let answers = spec
                    .questions
                    .iter()
                    .map(|q| {
                        let options = spec.options(q);
                        if next(10) < 2 {
                            return Answer::Skipped;
                        }
                        match q.kind {
                            QuestionType::Numeric => Answer::Number(next(120) as f64),
                            QuestionType::Multi => Answer::Codes(
                                options
                                    .iter()
                                    .filter(|_| next(2) == 0)
                                    .map(|o| o.code.0.to_string())
                                    .collect(),
                            ),
                            _ if options.is_empty() => Answer::Text("t".into()),
                            _ => {
                                let i = next(options.len().min(spread) as u64) as usize;
                                if let Some(missing) = q.missing.first().filter(|_| next(8) == 0) {
                                    Answer::Missing(missing.code.0.as_str().into())
                                } else {
                                    Answer::Code(crate::clean::Choice {
                                        index: i as u16,
                                        code: options[i].code.0.as_str().into(),
                                    })
                                }
                            }
                        }
                    })
                    .collect();
                let info = crate::clean::RowInfo::new(
                    crate::clean::SourceName {
                        file: "x.csv".into(),
                        sheet: None,
                    }
                    .into(),
                    row + 2,
                    &Default::default(),
                );
                (info, answers)
            });
            let records = Records::from_rows(spec.questions.len(), rows);
            let s = score(&spec, &records);
            // Small blocks, and memos in hash maps rather than tables, give the same.
            for (block, dense_limit) in [(3, DomainMemo::DENSE), (n.max(1), 0)] {
                let other = score_in_blocks(&spec, &records, block, dense_limit);
                assert_eq!(s.maturity, other.maturity);
                assert_eq!(s.risk_index, other.risk_index);
                assert_eq!(s.tier, other.tier);
            }
            let (items, constants) = score_tables(&spec, &records);
            let (mut exact, mut float) = (0, 0);
            for r in 0..n {
                let (dm, idx, t) = score_record(&spec, &items, &constants, r);
                let mine: Vec<Option<f64>> = s.maturity.iter().map(|d| d.get(r)).collect();
                assert_eq!(mine, dm, "round {round} record {r}");
                assert_eq!(s.risk_index.get(r), idx, "round {round} record {r}");
                assert_eq!(s.tier[r].map(usize::from), t, "round {round} record {r}");
                match score_exact(&spec, &items, &constants, r) {
                    Some(_) => exact += 1,
                    None => float += 1,
                }
            }
            if n >= 500 {
                assert!(exact > 0 && float > 0, "both paths taken: {exact} {float}");
            }
        }
    }

    /// The binary GCD agrees with Euclid's on small, large, equal, zero and coprime pairs.
    #[test]
    fn binary_gcd_is_euclid() {
        fn euclid(mut a: u64, mut b: u64) -> u64 {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut pairs = vec![
            (0, 0),
            (0, 7),
            (7, 0),
            (12, 18),
            (1 << 40, 6),
            (u64::MAX, 3),
        ];
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pairs.push((x >> (x % 60), (x.rotate_left(17)) >> (x % 50)));
        }
        for (a, b) in pairs {
            assert_eq!(binary_gcd(a, b), euclid(a, b), "gcd({a}, {b})");
        }
    }

    #[test]
    fn maturity_tiers_split_quarters() {
        assert_eq!(maturity_tier(0.0), 1);
        assert_eq!(maturity_tier(0.25), 2);
        assert_eq!(maturity_tier(0.74), 3);
        assert_eq!(maturity_tier(1.0), 4);
    }
}

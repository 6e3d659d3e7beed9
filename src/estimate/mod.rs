//! Estimate: every metric of the spec for every segmentation (overall, each segment variable,
//! each cross), with linearized standard errors over the full design and calibration, CIs,
//! design effects and effective sample sizes — one long table ([`EstimateRow`]) that every
//! chart, table, report and export is drawn from.
//!
//! Domains are estimated as R's `svyby` does: rows outside the segment keep their place in
//! the design with zero influence. A categorical answer that is a declared missing code ("Don't
//! know") or skipped is outside the denominator of that question's proportions.

use std::borrow::Cow;
use std::sync::Arc;

use crate::clean::{Answer, Records};
use crate::kernels::dist::pt_two_sided;
use crate::kernels::domains::{
    Difference, DomainEstimate, DomainLinearizer, Domains, Partition, Series, NO_DOMAIN,
};
use crate::kernels::estimators::{
    ci_normal, critical, kish_ess, Estimate, QuantileEstimate, Survey,
};
use crate::kernels::intervals::{proportion_ci, PropCi, QRule, WoodruffCi};
use crate::kernels::replicates::{replicate_logit, replicate_ratio_se, replicate_se};
use crate::score::Scores;
use crate::spec::{
    ChisqStatistic, MeanCi, MetricKind, ProportionCi, QuestionType, Spec, MATURITY_PREFIX,
    RISK_INDEX, RISK_TIER,
};
use crate::table::Table;
use crate::weight::Weighted;

/// Segment variable name of the overall rows.
pub const ALL: &str = "all";

mod models;
mod weight_summary;
pub use models::{models, models_table, ModelGroup, ModelRow, Models};
pub use weight_summary::{weight_summary, weight_summary_table, WeightSummaryRow};

#[derive(Debug, Clone, PartialEq)]
pub struct EstimateRow {
    pub metric_id: String,
    pub metric_version: u32,
    /// `mean`, `total`, `proportion`, `quantile`.
    pub statistic: &'static str,
    /// Level code for proportions; `p50` etc. for quantiles; empty otherwise.
    pub level: String,
    pub segment_var: String,
    pub segment_value: String,
    pub estimate: f64,
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// `normal`, `logit` (t on the segment's design df), `woodruff`.
    pub ci_method: &'static str,
    pub n: usize,
    /// Kish effective sample size of the rows used.
    pub n_eff: f64,
    pub weight_sum: f64,
    pub deff: f64,
    pub df: f64,
    /// Below the minimum cell size: the published tables blank the numbers.
    pub suppressed: bool,
    /// Reliability flags, `;`-separated (`below_min_cell`, `n_eff_lt_30`).
    pub flag: String,
}

/// A segment: its variable label, value label and row mask (`None` = everyone).
pub struct Segment {
    pub var: String,
    pub value: String,
    pub mask: Option<Vec<bool>>,
}

fn question_index(spec: &Spec, id: &str) -> Option<usize> {
    spec.questions.iter().position(|q| q.id == id)
}

/// Every segment to estimate: overall, each level of each segment variable, each cross.
pub fn segments(spec: &Spec, records: &Records) -> Vec<Segment> {
    segments_with(spec, records, &AnswerSetCache::default())
}

fn segments_with(spec: &Spec, records: &Records, cache: &AnswerSetCache) -> Vec<Segment> {
    let mut out = Vec::new();
    for vars in spec.segmentations() {
        if vars.is_empty() {
            out.push(Segment {
                var: ALL.to_string(),
                value: String::new(),
                mask: None,
            });
            continue;
        }
        let qis: Vec<usize> = vars
            .iter()
            .filter_map(|v| question_index(spec, v))
            .collect();
        // Each record's cell as one mixed-radix number of its option indexes (first variable
        // most significant, so numeric order is the order of the option tuples).
        let radix: Vec<u64> = qis
            .iter()
            .map(|&qi| spec.options(&spec.questions[qi]).len() as u64)
            .collect();
        let columns: Vec<Vec<u32>> = qis
            .iter()
            .map(|&qi| match cache.get(qi) {
                // A single choice is a one-option set.
                Some((sets, _)) => sets
                    .iter()
                    .map(|s| match s {
                        Some(s)
                            if s.count_ones() == 1
                                && matches!(
                                    spec.questions[qi].kind,
                                    QuestionType::Single
                                        | QuestionType::Likert
                                        | QuestionType::Yesno
                                ) =>
                        {
                            s.trailing_zeros()
                        }
                        _ => NOT_AN_OPTION,
                    })
                    .collect(),
                None => option_indexes(records, qi),
            })
            .collect();
        let keys: Vec<Option<u64>> = (0..records.len())
            .map(|i| {
                columns.iter().zip(&radix).try_fold(0u64, |key, (col, &k)| {
                    (col[i] != NOT_AN_OPTION).then(|| key * k + u64::from(col[i]))
                })
            })
            .collect();
        let present: std::collections::BTreeSet<u64> = keys.iter().flatten().copied().collect();
        for key in present {
            let mut rest = key;
            let mut parts = Vec::with_capacity(qis.len());
            for (&qi, &k) in qis.iter().zip(&radix).rev() {
                parts.push(
                    spec.options(&spec.questions[qi])[(rest % k) as usize]
                        .code
                        .0
                        .clone(),
                );
                rest /= k;
            }
            parts.reverse();
            let mask = keys.iter().map(|k| *k == Some(key)).collect();
            out.push(Segment {
                var: vars.join(":"),
                value: parts.join(":"),
                mask: Some(mask),
            });
        }
    }
    out
}

/// No option: the answer is missing, skipped or not a single code.
const NOT_AN_OPTION: u32 = u32::MAX;

/// Each record's option index for question `qi` ([`NOT_AN_OPTION`] when not a single code).
fn option_indexes(records: &Records, qi: usize) -> Vec<u32> {
    records
        .iter()
        .map(|r| {
            r.answer(qi)
                .choice()
                .map_or(NOT_AN_OPTION, |c| u32::from(c.index))
        })
        .collect()
}

/// Per-record numeric values of a metric variable (NaN = missing).
/// The values of a numeric variable (a numeric question, `risk_index`, `maturity:<domain>`) per
/// record; NaN when missing.
pub fn numeric_values(spec: &Spec, records: &Records, scores: &Scores, var: &str) -> Vec<f64> {
    numeric_values_in(spec, records, scores, var, 0..records.len())
}

/// [`numeric_values`] of the records in `rows`.
fn numeric_values_in(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    var: &str,
    rows: std::ops::Range<usize>,
) -> Vec<f64> {
    if var == RISK_INDEX {
        return scores.risk_index.nan_for_missing(rows);
    }
    if let Some(d) = var.strip_prefix(MATURITY_PREFIX) {
        let di = scores.domains.iter().position(|x| x == d).unwrap_or(0);
        return scores.maturity.get(di).map_or_else(
            || vec![f64::NAN; rows.len()],
            |m| m.nan_for_missing(rows.clone()),
        );
    }
    if var == RISK_TIER {
        // The tier's ordinal code: 1 for the first tier of `[scoring] tiers`, 2 for the next …
        return scores.tier[rows]
            .iter()
            .map(|t| t.map_or(f64::NAN, |t| f64::from(t) + 1.0))
            .collect();
    }
    let qi = question_index(spec, var).unwrap_or(0);
    let q = &spec.questions[qi];
    if q.kind != QuestionType::Numeric {
        // A single-choice, Likert or yes/no item by its options' scores (unscored options and
        // missing codes are missing).
        let options = spec.options(q);
        return rows
            .map(|i| {
                records
                    .get(i)
                    .answer(qi)
                    .choice()
                    .and_then(|c| options.get(usize::from(c.index)))
                    .and_then(|o| o.score)
                    .map_or(f64::NAN, f64::from)
            })
            .collect();
    }
    rows.map(|i| records.get(i).answer(qi).as_number().unwrap_or(f64::NAN))
        .collect()
}

/// Per-record answer sets (shared by a metric's levels) and the level codes.
type AnswerSets = (Arc<Vec<Option<u64>>>, Vec<String>);

/// The answer sets of every question a proportion or distribution metric reads, converted in
/// one row-major pass over the records (on both cores) rather than one pass per metric: the
/// records' answers are strings behind pointers, and visiting each record once is what makes
/// a million-row round fast.
#[derive(Default)]
struct AnswerSetCache {
    by_question: Vec<(usize, AnswerSets)>,
}

impl AnswerSetCache {
    fn new(spec: &Spec, records: &Records) -> Self {
        let mut wanted: Vec<usize> = spec
            .metrics
            .iter()
            .filter(|m| matches!(m.kind, MetricKind::Proportion | MetricKind::Distribution))
            .map(|m| m.variable.as_str())
            .chain(spec.segmentations().iter().flatten().map(String::as_str))
            .filter_map(|v| question_index(spec, v))
            .filter(|&qi| spec.options(&spec.questions[qi]).len() <= 64)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return AnswerSetCache::default();
        }
        let codes: Vec<Vec<String>> = wanted
            .iter()
            .map(|&qi| levels_of(spec, &spec.questions[qi].id))
            .collect();
        let keys: Vec<Vec<(usize, u64)>> = codes
            .iter()
            .map(|c| c.iter().map(|x| code_key(x)).collect())
            .collect();
        // An answer's set depends on the answer alone: once per distinct answer, then looked
        // up per record.
        let by_question = wanted
            .iter()
            .zip(codes)
            .zip(&keys)
            .map(|((&qi, codes), keys)| {
                let column = records.column(qi);
                let per_value: Vec<Option<u64>> = column
                    .values()
                    .iter()
                    .map(|a| answer_set(a, &codes, keys))
                    .collect();
                let sets: Vec<Option<u64>> = (0..column.len())
                    .map(|i| per_value[column.slot(i)])
                    .collect();
                (qi, (Arc::new(sets), codes))
            })
            .collect();
        AnswerSetCache { by_question }
    }

    fn get(&self, qi: usize) -> Option<AnswerSets> {
        self.by_question
            .iter()
            .find(|(q, _)| *q == qi)
            .map(|(_, (sets, codes))| (Arc::clone(sets), codes.clone()))
    }
}

/// A code's length and first eight bytes: most codes differ there, so matching an answer
/// against a question's codes is a few integer comparisons rather than string comparisons.
fn code_key(c: &str) -> (usize, u64) {
    let mut head = [0u8; 8];
    let n = c.len().min(8);
    head[..n].copy_from_slice(&c.as_bytes()[..n]);
    (c.len(), u64::from_le_bytes(head))
}

/// One answer as a set of option indexes (`None` = not answered).
fn answer_set(answer: &Answer, codes: &[String], keys: &[(usize, u64)]) -> Option<u64> {
    let bit = |c: &str| {
        let key = code_key(c);
        keys.iter()
            .zip(codes)
            .position(|(k, code)| *k == key && (key.0 <= 8 || code == c))
            .map_or(0, |i| 1u64 << i)
    };
    match answer {
        // `codes` are the question's options in order: a choice's bit is its index.
        Answer::Code(c) => Some(if usize::from(c.index) < codes.len() {
            1u64 << c.index
        } else {
            bit(c)
        }),
        Answer::Codes(cs) => Some(cs.iter().fold(0, |acc, c| acc | bit(c))),
        _ => None,
    }
}

/// Each record's answer as a set of option indexes (bit k = the variable's k-th level; `None`
/// = not answered), and the level codes — or `None` when the variable has more than 64 levels.
fn answer_sets(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    cache: &AnswerSetCache,
    var: &str,
) -> Option<AnswerSets> {
    let codes = levels_of(spec, var);
    if codes.len() > 64 {
        return None;
    }
    if var == RISK_TIER {
        let sets = scores.tier.iter().map(|t| t.map(|t| 1u64 << t)).collect();
        return Some((Arc::new(sets), codes));
    }
    let qi = question_index(spec, var)?;
    if let Some(cached) = cache.get(qi) {
        return Some(cached);
    }
    let keys: Vec<(usize, u64)> = codes.iter().map(|x| code_key(x)).collect();
    let sets = records
        .iter()
        .map(|r| answer_set(r.answer(qi), &codes, &keys))
        .collect();
    Some((Arc::new(sets), codes))
}

/// Per-record indicator that the variable's answer is in `levels` (NaN = not answered), as a
/// level set with one level.
fn indicator(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    var: &str,
    levels: &[String],
) -> Vec<Option<u64>> {
    if var == RISK_TIER {
        let wanted: Vec<usize> = spec
            .scoring
            .tiers
            .iter()
            .enumerate()
            .filter(|(_, t)| levels.contains(&t.name))
            .map(|(i, _)| i)
            .collect();
        return scores
            .tier
            .iter()
            .map(|t| t.map(|t| u64::from(wanted.contains(&usize::from(t)))))
            .collect();
    }
    let qi = question_index(spec, var).unwrap_or(0);
    records
        .iter()
        .map(|r| match r.answer(qi) {
            Answer::Code(c) => Some(u64::from(levels.iter().any(|l| l == &**c))),
            Answer::Codes(cs) => Some(u64::from(cs.iter().any(|c| levels.contains(c)))),
            // A numeric question: whether the value is one of the levels' numbers.
            a => a.as_number().map(|x| {
                u64::from(
                    levels
                        .iter()
                        .any(|l| l.trim().parse::<f64>().ok() == Some(x)),
                )
            }),
        })
        .collect()
}

fn levels_of(spec: &Spec, var: &str) -> Vec<String> {
    if var == RISK_TIER {
        return spec.scoring.tiers.iter().map(|t| t.name.clone()).collect();
    }
    question_index(spec, var)
        .map(|qi| {
            spec.options(&spec.questions[qi])
                .iter()
                .map(|o| o.code.0.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A metric series' per-record values.
#[derive(Clone)]
enum SeriesValues {
    /// NaN = missing.
    Numeric(Vec<f64>),
    /// A proportion: the records whose answer set meets `mask`, among those answering. The
    /// sets are shared by every level of a metric.
    Levels {
        sets: Arc<Vec<Option<u64>>>,
        mask: u64,
    },
}

impl SeriesValues {
    /// As numbers: the values, or the 0/1 indicator (NaN = not answered).
    fn values(&self) -> Cow<'_, [f64]> {
        match self {
            SeriesValues::Numeric(y) => Cow::Borrowed(y),
            SeriesValues::Levels { sets, .. } => Cow::Owned(self.values_in(0..sets.len())),
        }
    }

    /// [`SeriesValues::values`] of the records in `rows`.
    fn values_in(&self, rows: std::ops::Range<usize>) -> Vec<f64> {
        match self {
            SeriesValues::Numeric(y) => y[rows].to_vec(),
            SeriesValues::Levels { sets, mask } => sets[rows]
                .iter()
                .map(|s| s.map_or(f64::NAN, |s| f64::from(u8::from(s & mask != 0))))
                .collect(),
        }
    }
}

/// The per-record series a metric is estimated from: (statistic, level label, values) — one for
/// a mean, total or proportion, one per level of a distribution, one per probability of a
/// quantile.
fn metric_series(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    cache: &AnswerSetCache,
    m: &crate::spec::Metric,
) -> Vec<(&'static str, String, SeriesValues)> {
    let numeric = || SeriesValues::Numeric(numeric_values(spec, records, scores, &m.variable));
    match m.kind {
        MetricKind::Mean => vec![("mean", String::new(), numeric())],
        MetricKind::Total => vec![("total", String::new(), numeric())],
        MetricKind::Ratio => vec![("ratio", String::new(), numeric())],
        // Estimated by the concentration stage (crate::concentration).
        MetricKind::Concentration => Vec::new(),
        MetricKind::Quantile => {
            let y = numeric();
            m.probs
                .iter()
                .map(|p| ("quantile", format!("p{}", (p * 100.0).round()), y.clone()))
                .collect()
        }
        MetricKind::Proportion | MetricKind::Distribution => {
            let counted: Vec<Vec<String>> = if m.kind == MetricKind::Proportion {
                vec![m.levels.clone()]
            } else if m.levels.is_empty() {
                levels_of(spec, &m.variable)
                    .into_iter()
                    .map(|l| vec![l])
                    .collect()
            } else {
                m.levels.iter().map(|l| vec![l.clone()]).collect()
            };
            let label = |levels: &[String]| levels.join("|");
            let numeric_question = question_index(spec, &m.variable)
                .is_some_and(|qi| spec.questions[qi].kind == QuestionType::Numeric);
            let sets = if numeric_question {
                None
            } else {
                answer_sets(spec, records, scores, cache, &m.variable)
            };
            match sets {
                Some((sets, codes)) => counted
                    .iter()
                    .map(|levels| {
                        let mask = codes
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| levels.contains(c))
                            .fold(0u64, |acc, (i, _)| acc | 1 << i);
                        let values = SeriesValues::Levels {
                            sets: Arc::clone(&sets),
                            mask,
                        };
                        ("proportion", label(levels), values)
                    })
                    .collect(),
                None => counted
                    .iter()
                    .map(|levels| {
                        let sets = indicator(spec, records, scores, &m.variable, levels);
                        let values = SeriesValues::Levels {
                            sets: Arc::new(sets),
                            mask: 1,
                        };
                        ("proportion", label(levels), values)
                    })
                    .collect(),
            }
        }
    }
}

/// The proportion CI method the spec asks for (the metric's own when it names one), and its
/// name in the outputs.
pub(crate) fn proportion_method(
    spec: &Spec,
    metric: Option<&crate::spec::Metric>,
) -> (PropCi, &'static str) {
    let asked = metric.map_or(spec.publication.proportion_ci, |m| {
        m.proportion_ci_or(&spec.publication)
    });
    match asked {
        ProportionCi::Logit => (PropCi::Logit, "logit"),
        ProportionCi::Xlogit => (PropCi::Logit, "xlogit"),
        ProportionCi::Beta => (PropCi::Beta, "beta"),
        ProportionCi::Wilson => (PropCi::Wilson, "wilson"),
        ProportionCi::Mean => (PropCi::Mean, "mean"),
        ProportionCi::Normal => (PropCi::Mean, "normal"),
        ProportionCi::Asin => (PropCi::Asin, "asin"),
    }
}

/// The segments as partitions, one per segment variable (or cross): each row's domain code in
/// it, and where each segment sits.
pub(crate) struct SegmentPartitions {
    pub(crate) parts: Vec<(Vec<u32>, usize)>,
    /// Segment index → (partition, domain).
    pub(crate) place: Vec<(usize, usize)>,
}

impl SegmentPartitions {
    pub(crate) fn new(segs: &[Segment], n: usize) -> Self {
        let mut parts: Vec<(Vec<u32>, usize)> = Vec::new();
        let mut place = Vec::with_capacity(segs.len());
        let mut current: Option<&str> = None;
        for seg in segs {
            if current != Some(seg.var.as_str()) {
                parts.push((vec![NO_DOMAIN; n], 0));
                current = Some(seg.var.as_str());
            }
            let p = parts.len() - 1;
            let (codes, k) = &mut parts[p];
            for i in 0..n {
                if seg.mask.as_ref().is_none_or(|m| m[i]) {
                    codes[i] = *k as u32;
                }
            }
            place.push((p, *k));
            *k += 1;
        }
        SegmentPartitions { parts, place }
    }

    pub(crate) fn partition(&self, p: usize) -> Partition<'_> {
        Partition {
            codes: &self.parts[p].0,
            k: self.parts[p].1,
        }
    }
}

/// Series indexes and the answer sets re-coded for them (see [`level_chunks`]).
type LevelChunk<'a> = (Vec<usize>, Cow<'a, [Option<u64>]>);

/// The proportion series of a metric grouped for batched passes: those over the same answer
/// sets, up to 64 at a time, each with the sets re-coded so that bit b is the chunk's b-th
/// series (the sets themselves when they already are).
fn level_chunks<'a>(series: &'a [(&'static str, String, SeriesValues)]) -> Vec<LevelChunk<'a>> {
    let mut out = Vec::new();
    let mut done = vec![false; series.len()];
    for s in 0..series.len() {
        let SeriesValues::Levels { sets, .. } = &series[s].2 else {
            continue;
        };
        if done[s] {
            continue;
        }
        let group: Vec<(usize, u64)> = (s..series.len())
            .filter_map(|t| match &series[t].2 {
                SeriesValues::Levels { sets: other, mask } if Arc::ptr_eq(sets, other) => {
                    Some((t, *mask))
                }
                _ => None,
            })
            .collect();
        for chunk in group.chunks(64) {
            let identity = chunk
                .iter()
                .enumerate()
                .all(|(b, &(_, mask))| mask == 1 << b);
            let level_sets: Cow<'a, [Option<u64>]> = if identity {
                Cow::Borrowed(sets.as_slice())
            } else {
                Cow::Owned(
                    sets.iter()
                        .map(|set| {
                            set.map(|set| {
                                chunk.iter().enumerate().fold(0u64, |acc, (b, &(_, mask))| {
                                    acc | (u64::from(set & mask != 0) << b)
                                })
                            })
                        })
                        .collect(),
                )
            };
            for &(t, _) in chunk {
                done[t] = true;
            }
            out.push((chunk.iter().map(|&(t, _)| t).collect(), level_sets));
        }
    }
    out
}

/// A batched result for one (series, segment), with the Kish n_eff of its rows.
#[derive(Clone, Copy)]
enum Batched {
    Estimate(Estimate, f64),
    Quantile(QuantileEstimate, f64),
    /// Estimated one segment at a time (ratios).
    Ratio,
}

/// Every series of a metric for every segment: `[series][segment]`, and with `compared` each
/// mean and proportion series' differences from the rest, `[series][compared segment]`. A
/// metric's proportion series share one pass (each is a level of the same answer sets); every
/// segment variable is estimated in that same pass; quantiles sort each domain once for all
/// probabilities.
#[allow(clippy::too_many_arguments)]
fn batch_estimates(
    lin: &DomainLinearizer<'_>,
    parts: &SegmentPartitions,
    domains: &Domains<'_>,
    series: &[(&'static str, String, SeriesValues)],
    spec: &Spec,
    m: &crate::spec::Metric,
    level: f64,
    compared: Option<&Compared<'_>>,
) -> (Vec<Vec<Batched>>, Vec<Vec<Difference>>) {
    let n_seg = parts.place.len();
    let mut out = vec![vec![Batched::Ratio; n_seg]; series.len()];
    let missing = Difference {
        difference: f64::NAN,
        se: f64::NAN,
    };
    let n_compared = compared.map_or(0, |c| c.segments.len());
    let mut differences = vec![vec![missing; n_compared]; series.len()];
    // Quantiles: every probability of the metric at once.
    let quantile_series: Vec<usize> = (0..series.len())
        .filter(|&s| series[s].0 == "quantile")
        .collect();
    if let Some(&first) = quantile_series.first() {
        let probs: Vec<f64> = quantile_series
            .iter()
            .map(|&s| {
                let p_label: f64 = series[s]
                    .1
                    .trim_start_matches('p')
                    .parse::<f64>()
                    .unwrap_or(50.0)
                    / 100.0;
                m.probs
                    .iter()
                    .copied()
                    .find(|x| ((x * 100.0).round() - p_label * 100.0).abs() < 1e-9)
                    .unwrap_or(p_label)
            })
            .collect();
        let rule = QRule::parse(m.quantile_rule_or(&spec.publication)).unwrap_or(QRule::Math);
        let interval = WoodruffCi::parse(m.quantile_interval_or(&spec.publication))
            .unwrap_or(WoodruffCi::Mean);
        let y = series[first].2.values();
        let results = lin.quantiles(&y, domains, &probs, rule, interval, level);
        for (pi, &s) in quantile_series.iter().enumerate() {
            for (g, &(p, d)) in parts.place.iter().enumerate() {
                let (q, n_eff) = results[p][pi][d];
                out[s][g] = Batched::Quantile(q, n_eff);
            }
        }
    }
    let mut put = |s: usize,
                   results: &[Vec<Vec<DomainEstimate>>],
                   diffs: &Option<PerDomain<Difference>>,
                   l: usize| {
        for (g, &(p, d)) in parts.place.iter().enumerate() {
            let r = results[p][d][l];
            out[s][g] = Batched::Estimate(r.estimate, r.n_eff);
        }
        if let (Some(c), Some(diffs)) = (compared, diffs) {
            for (at, &g) in c.segments.iter().enumerate() {
                let (p, d) = parts.place[g];
                if let Some(k) = c.partitions.iter().position(|&q| q == p) {
                    differences[s][at] = diffs[k][d][l];
                }
            }
        }
    };
    // Proportions: the series over the same answer sets, up to 64 per pass.
    for (chunk, level_sets) in level_chunks(series) {
        let levels = Series::Levels {
            k: chunk.len(),
            sets: &level_sets,
        };
        let (results, diffs) = estimates_and_differences(lin, levels, domains, false, compared);
        for (b, &t) in chunk.iter().enumerate() {
            put(t, &results, &diffs, b);
        }
    }
    for (s, (statistic, _, values)) in series.iter().enumerate() {
        if let ("mean" | "total", SeriesValues::Numeric(y)) = (*statistic, values) {
            let (results, diffs) = estimates_and_differences(
                lin,
                Series::Numeric(y),
                domains,
                *statistic == "total",
                compared,
            );
            put(s, &results, &diffs, 0);
        }
    }
    (out, differences)
}

/// `nrow()` of R's subset `design[segment, ]` of `n` rows — what Korn–Graubard's n is: the
/// segment's rows, or all `n` for a calibrated linearized design (whose subset keeps every row,
/// at weight 0 outside the segment).
pub(crate) fn subset_rows(weighted: &Weighted, mask: Option<&[bool]>, n: usize) -> usize {
    let calibrated_linear = weighted.replicates.is_none()
        && !matches!(
            weighted.calibration,
            crate::kernels::calibration::Calibration::None
        );
    match mask {
        Some(m) if !calibrated_linear => m.iter().filter(|x| **x).count(),
        _ => n,
    }
}

/// What R's `svyciprop` reads from a segment's subset beside the estimate (`svyby` takes the
/// subset `design[segment, ]`): the rows Korn–Graubard's n counts (`nrow()`: the segment's
/// rows, or every row of a calibrated linearized design, whose subset keeps its rows at weight
/// 0) and, on a replicate design, `degf()` = the rank of the segment's replicate weights − 1.
struct SegmentConventions {
    nrow: Vec<usize>,
    replicate_df: Option<Vec<f64>>,
}

impl SegmentConventions {
    fn new(segs: &[Segment], weighted: &Weighted, n: usize) -> Self {
        let rows = |seg: &Segment| -> Vec<usize> {
            (0..n)
                .filter(|&i| seg.mask.as_ref().is_none_or(|m| m[i]))
                .collect()
        };
        SegmentConventions {
            nrow: segs
                .iter()
                .map(|seg| subset_rows(weighted, seg.mask.as_deref(), n))
                .collect(),
            replicate_df: weighted.replicates.as_ref().map(|set| {
                let survey = Survey {
                    design: &weighted.design,
                    weights: &weighted.weights,
                    calibration: &weighted.calibration,
                };
                segs.iter()
                    .map(|seg| {
                        crate::kernels::replicates::replicate_degf(set, &rows(seg))
                            .unwrap_or_else(|| survey.domain_degf(seg.mask.as_deref()))
                    })
                    .collect()
            }),
        }
    }

    fn replicate_df(&self, segment: usize) -> Option<f64> {
        self.replicate_df.as_ref().map(|d| d[segment])
    }
}

/// Estimate every metric for every segment.
pub fn estimate(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    weighted: &Weighted,
) -> Vec<EstimateRow> {
    estimates_and_comparisons(spec, records, scores, weighted, false).0
}

/// Every metric for every segment ([`estimate`]) and the comparisons: each mean, proportion
/// and distribution series of each single segment variable's segments against the rest of the
/// sample (Benjamini–Hochberg within a series and variable), the risk tier against each
/// segment variable, and the spec's tests of association. Without clusters a series' one pass
/// over the rows serves its estimates and its comparisons, so a domain's sums are the same in
/// both.
pub fn estimate_and_compare(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    weighted: &Weighted,
) -> (Vec<EstimateRow>, Vec<ComparisonRow>) {
    estimates_and_comparisons(spec, records, scores, weighted, true)
}

fn estimates_and_comparisons(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    weighted: &Weighted,
    compare: bool,
) -> (Vec<EstimateRow>, Vec<ComparisonRow>) {
    let survey = Survey {
        design: &weighted.design,
        weights: &weighted.weights,
        calibration: &weighted.calibration,
    };
    let level = spec.publication.ci_level;
    let answer_cache = AnswerSetCache::new(spec, records);
    let segs = segments_with(spec, records, &answer_cache);
    let parts = SegmentPartitions::new(&segs, records.len());
    let domains = Domains::new((0..parts.parts.len()).map(|p| parts.partition(p)).collect());
    let linearizer = DomainLinearizer::new(survey);
    let per_segment = SegmentConventions::new(&segs, weighted, records.len());
    let compared = compare.then(|| Compared::new(&segs, &parts));
    let df = weighted.design.degf(|_| true);
    let mut rows = Vec::new();
    // One metric per task; the results are put back in spec order, so the output does not
    // depend on how the work was split.
    let per_metric = |m: &crate::spec::Metric| -> (Vec<EstimateRow>, Vec<ComparisonRow>) {
        let mut rows = Vec::new();
        // (statistic, level label, values) series to estimate for this metric.
        let series = metric_series(spec, records, scores, &answer_cache, m);
        let compared = compared.as_ref().filter(|_| {
            matches!(
                m.kind,
                MetricKind::Mean | MetricKind::Proportion | MetricKind::Distribution
            )
        });
        // Every segment of every series in one pass per segment variable (ratios aside).
        let (batched, differences) = batch_estimates(
            &linearizer,
            &parts,
            &domains,
            &series,
            spec,
            m,
            level,
            compared,
        );
        let comparisons = compared.map_or_else(Vec::new, |c| {
            difference_rows(m, &series, &segs, &parts, c, &differences, df)
        });
        for (si, (statistic, level_label, values)) in series.iter().enumerate() {
            // The numbers themselves only for ratios and replicate variances.
            let needs_values = *statistic == "ratio" || weighted.replicates.is_some();
            let y: Cow<'_, [f64]> = if needs_values {
                values.values()
            } else {
                Cow::Borrowed(&[])
            };
            let y: &[f64] = &y;
            for (gi, seg) in segs.iter().enumerate() {
                let mask = seg.mask.as_deref();
                let (est, se, lo, hi, method, n, ws, deff, df) = match *statistic {
                    "quantile" => {
                        let Batched::Quantile(q, _) = batched[si][gi] else {
                            unreachable!("quantile series are batched as quantiles")
                        };
                        (
                            q.value,
                            q.se,
                            q.ci_low,
                            q.ci_high,
                            "woodruff",
                            q.n,
                            q.weight_sum,
                            f64::NAN,
                            q.df,
                        )
                    }
                    stat => {
                        let mut e: Estimate = match batched[si][gi] {
                            Batched::Estimate(e, _) => e,
                            _ => {
                                let den = m.denominator.as_deref().unwrap_or_default();
                                survey.ratio(y, &numeric_values(spec, records, scores, den), mask)
                            }
                        };
                        if let Some(df) = per_segment.replicate_df(gi) {
                            e.df = df;
                        }
                        if let Some(set) = &weighted.replicates {
                            // Replicate variance: the design effect keeps its SRS denominator.
                            let se = if stat == "ratio" {
                                let den = m.denominator.as_deref().unwrap_or_default();
                                replicate_ratio_se(
                                    set,
                                    y,
                                    &numeric_values(spec, records, scores, den),
                                    mask,
                                )
                            } else {
                                replicate_se(set, y, mask, stat == "total")
                            };
                            e.deff *= (se / e.se).powi(2);
                            e.se = se;
                        }
                        let (lo, hi, method) = if stat == "proportion" {
                            let (method, name) = proportion_method(spec, Some(m));
                            let nrow = per_segment.nrow[gi];
                            let refit = match (&weighted.replicates, name) {
                                // R's `logit` on a replicate design refits the logistic
                                // intercept in every replicate (`xlogit` is the delta method).
                                (Some(set), "logit") => {
                                    replicate_logit(set, &weighted.weights, y, mask)
                                }
                                _ => None,
                            };
                            let (lo, hi) = match refit {
                                Some((beta, se_logit)) => {
                                    let t = critical(level, e.df);
                                    let expit = |x: f64| 1.0 / (1.0 + (-x).exp());
                                    (expit(beta - t * se_logit), expit(beta + t * se_logit))
                                }
                                None => proportion_ci(method, e.value, e.se, e.df, nrow, level),
                            };
                            (lo, hi, name)
                        } else if spec.publication.mean_ci == MeanCi::T {
                            let t = critical(level, e.df);
                            (e.value - t * e.se, e.value + t * e.se, "t")
                        } else {
                            let (lo, hi) = ci_normal(e.value, e.se, level);
                            (lo, hi, "normal")
                        };
                        (
                            e.value,
                            e.se,
                            lo,
                            hi,
                            method,
                            e.n,
                            e.weight_sum,
                            e.deff,
                            e.df,
                        )
                    }
                };
                let n_eff = match batched[si][gi] {
                    Batched::Estimate(_, n_eff) | Batched::Quantile(_, n_eff) => n_eff,
                    Batched::Ratio => {
                        let w: Vec<f64> = (0..y.len())
                            .filter(|&i| {
                                !y[i].is_nan()
                                    && weighted.weights[i] > 0.0
                                    && mask.is_none_or(|m| m[i])
                            })
                            .map(|i| weighted.weights[i])
                            .collect();
                        kish_ess(&w)
                    }
                };
                // Reliability flags; what is published is decided by `disclose`.
                let mut flags = Vec::new();
                if *statistic == "proportion" && spec.publication.nchs_proportions && n > 0 {
                    let (_, nchs_flags) =
                        nchs_proportion(est, se, df, n, level, per_segment.nrow[gi]);
                    flags.extend(nchs_flags);
                } else if n > 0 {
                    if n_eff < 30.0 {
                        flags.push("n_eff_lt_30");
                    }
                    if est != 0.0 && se / est.abs() > 0.3 {
                        flags.push("rse_gt_30");
                    }
                    if df < 8.0 {
                        flags.push("df_lt_8");
                    }
                }
                rows.push(EstimateRow {
                    metric_id: m.id.clone(),
                    metric_version: m.version,
                    statistic,
                    level: level_label.clone(),
                    segment_var: seg.var.clone(),
                    segment_value: seg.value.clone(),
                    estimate: est,
                    se,
                    ci_low: lo,
                    ci_high: hi,
                    ci_method: method,
                    n,
                    n_eff,
                    weight_sum: ws,
                    deff,
                    df,
                    suppressed: false,
                    flag: flags.join(";"),
                });
            }
        }
        (rows, comparisons)
    };
    let mut comparisons = Vec::new();
    for (e, c) in in_parallel(&spec.metrics, |m| per_metric(m)) {
        rows.extend(e);
        comparisons.extend(c);
    }
    if compare {
        comparisons.extend(association_tests(spec, records, scores, &linearizer));
    }
    (rows, comparisons)
}

/// The segments compared with the rest of the sample — each single segment variable's, not
/// the overall one nor the crosses — as partitions of the estimates' domains.
struct Compared<'a> {
    /// Per compared segment, in order: its index among the estimates' segments.
    segments: Vec<usize>,
    /// The estimates' partitions compared, in order.
    partitions: Vec<usize>,
    /// Those partitions on their own: the domains of the comparisons when a series' sums
    /// cannot be shared with its estimates (clusters).
    domains: Domains<'a>,
}

impl<'a> Compared<'a> {
    fn new(segs: &[Segment], parts: &'a SegmentPartitions) -> Self {
        let segments: Vec<usize> = (0..segs.len())
            .filter(|&g| segs[g].var != ALL && !segs[g].var.contains(':'))
            .collect();
        let mut partitions: Vec<usize> = segments.iter().map(|&g| parts.place[g].0).collect();
        partitions.dedup();
        let domains = Domains::new(partitions.iter().map(|&p| parts.partition(p)).collect());
        Compared {
            segments,
            partitions,
            domains,
        }
    }

    /// Compared partition `k`'s results from results for every partition of the estimates.
    fn of_all<T>(&self, mut all: Vec<T>) -> Vec<T> {
        let mut out = Vec::with_capacity(self.partitions.len());
        for &p in self.partitions.iter().rev() {
            out.push(all.swap_remove(p));
            all.truncate(p);
        }
        out.reverse();
        out
    }
}

/// `[partition][domain][level]`.
type PerDomain<T> = Vec<Vec<Vec<T>>>;

/// A series' estimates for every domain and, when `compared`, the compared domains'
/// differences from the rest (`[compared partition][domain][level]`): from one pass over the
/// rows where the design allows ([`DomainLinearizer::cell_sums`]).
fn estimates_and_differences(
    lin: &DomainLinearizer<'_>,
    series: Series<'_>,
    domains: &Domains<'_>,
    total: bool,
    compared: Option<&Compared<'_>>,
) -> (PerDomain<DomainEstimate>, Option<PerDomain<Difference>>) {
    match lin.cell_sums(series, domains) {
        Some(sums) => (
            lin.estimate_from(&sums, series, domains, total),
            compared.map(|c| c.of_all(lin.differences_from(&sums, series, domains))),
        ),
        None => (
            lin.estimate(series, domains, total),
            compared.map(|c| lin.differences(series, &c.domains)),
        ),
    }
}

/// The NCHS Data Presentation Standards for Proportions (Parker et al. 2017; domain.md §5):
/// Korn–Graubard interval and effective sample size n_eff = min(p(1−p)/Var, n), with
/// - suppress when n_eff < 30, when the CI width ≥ 0.30, or when 0.05 < width < 0.30 and the
///   width is more than 130 % of p;
/// - flag for review when df < 8, when p is 0 or 1, or when the complement's relative width
///   (width / (1 − p)) exceeds 130 %.
///
/// Returns whether to suppress and the flag codes (`nchs_*`); the suppressing codes are
/// [`NCHS_SUPPRESS`].
/// The NCHS flags that suppress a proportion (unless `publication.nchs_action = "flag"`).
pub const NCHS_SUPPRESS: [&str; 3] = [
    "nchs_n_eff_lt_30",
    "nchs_width_ge_30",
    "nchs_relative_width_gt_130",
];

pub fn nchs_proportion(
    p: f64,
    se: f64,
    df: f64,
    n: usize,
    level: f64,
    nrow: usize,
) -> (bool, Vec<&'static str>) {
    let mut flags = Vec::new();
    let n_eff = if se > 0.0 {
        (p * (1.0 - p) / (se * se)).min(n as f64)
    } else {
        n as f64
    };
    let (lo, hi) = proportion_ci(PropCi::Beta, p, se, df.max(1.0), nrow, level);
    let width = hi - lo;
    let mut suppress = false;
    if n_eff < 30.0 {
        suppress = true;
        flags.push("nchs_n_eff_lt_30");
    }
    if width >= 0.30 {
        suppress = true;
        flags.push("nchs_width_ge_30");
    } else if width > 0.05 && p > 0.0 && width / p > 1.30 {
        suppress = true;
        flags.push("nchs_relative_width_gt_130");
    }
    if df < 8.0 {
        flags.push("nchs_review_df_lt_8");
    }
    if p <= 0.0 || p >= 1.0 {
        flags.push("nchs_review_p_0_or_1");
    } else if width > 0.05 && width / (1.0 - p) > 1.30 {
        flags.push("nchs_review_complement_width");
    }
    (suppress, flags)
}

/// The published estimates table: numbers of suppressed rows are blank.
pub fn estimates_table(rows: &[EstimateRow]) -> Table {
    let shown = |r: &EstimateRow, x: f64| if r.suppressed { None } else { Some(x) };
    let mut t = Table::new();
    t.text("metric_id", rows.iter().map(|r| Some(r.metric_id.clone())))
        .int(
            "metric_version",
            rows.iter().map(|r| Some(i64::from(r.metric_version))),
        )
        .text("statistic", rows.iter().map(|r| Some(r.statistic)))
        .text("level", rows.iter().map(|r| Some(r.level.clone())))
        .text(
            "segment_var",
            rows.iter().map(|r| Some(r.segment_var.clone())),
        )
        .text(
            "segment_value",
            rows.iter().map(|r| Some(r.segment_value.clone())),
        )
        .float("estimate", rows.iter().map(|r| shown(r, r.estimate)))
        .float("se", rows.iter().map(|r| shown(r, r.se)))
        .float("ci_low", rows.iter().map(|r| shown(r, r.ci_low)))
        .float("ci_high", rows.iter().map(|r| shown(r, r.ci_high)))
        .text("ci_method", rows.iter().map(|r| Some(r.ci_method)))
        .int(
            "n",
            rows.iter()
                .map(|r| if r.suppressed { None } else { Some(r.n as i64) }),
        )
        .float("n_eff", rows.iter().map(|r| shown(r, r.n_eff)))
        .float("weight_sum", rows.iter().map(|r| shown(r, r.weight_sum)))
        .float("deff", rows.iter().map(|r| shown(r, r.deff)))
        .float("df", rows.iter().map(|r| shown(r, r.df)))
        .boolean("suppressed", rows.iter().map(|r| Some(r.suppressed)))
        .text("flag", rows.iter().map(|r| Some(r.flag.clone())));
    t
}

/// One comparison: a segment against the rest of the sector, or a test of association.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    pub metric_id: String,
    pub metric_version: u32,
    /// `difference` (segment − rest), or a test of association: `rao_scott_f`,
    /// `rao_scott_chisq`, `wald`, `adj_wald`, `lincom`, `saddlepoint`.
    pub test: &'static str,
    pub level: String,
    pub segment_var: String,
    pub segment_value: String,
    pub estimate: f64,
    pub se: f64,
    pub statistic: f64,
    pub ndf: f64,
    pub ddf: f64,
    pub p_value: f64,
    /// Benjamini–Hochberg adjusted across the rows of one table (metric × level × segment variable).
    pub p_adjusted: f64,
    /// Why there is no test (statistic and p-value blank): one of [`UNTESTABLE`]; empty when
    /// the test was computed.
    pub flag: &'static str,
    pub n_segment: usize,
    pub n_rest: usize,
    pub suppressed: bool,
    /// A test of association's variables and ingredients (`None` for a difference).
    pub association: Option<Association>,
}

/// What a test of association was computed from (R's `svychisq` internals).
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    pub rows_var: String,
    pub cols_var: String,
    /// Pearson's X² of the weighted table rescaled to the respondents used.
    pub pearson_x2: f64,
    /// Trace of the generalized design-effect matrix Δ, and of Δ².
    pub deff_trace: f64,
    pub deff_trace2: f64,
    /// Δ's eigenvalues, largest first.
    pub deff_eigenvalues: Vec<f64>,
    /// Design degrees of freedom ν.
    pub design_df: f64,
}

/// The reasons a comparison has no statistic or p-value, as written in its `flag`:
/// - `empty_domain`: no respondent with a value on one side (a segment nobody in it answered);
/// - `not_testable_no_variation`: the difference's SE is 0 — every value on both sides is the
///   same (a tier nobody is in, a constant answer), so t = d/0 is undefined;
/// - `not_testable_no_df`: the design has fewer than 1 degree of freedom;
/// - `not_testable_single_level`: a Rao–Scott table with one row or one column (every
///   respondent in the same tier, or one segment level answered);
/// - `not_testable_degenerate`: no finite SE, or a Rao–Scott table whose design covariance
///   has no variance to test against (the statistic is undefined).
pub const UNTESTABLE: [&str; 5] = [EMPTY_DOMAIN, NO_VARIATION, NO_DF, SINGLE_LEVEL, DEGENERATE];
const EMPTY_DOMAIN: &str = "empty_domain";
const NO_VARIATION: &str = "not_testable_no_variation";
const NO_DF: &str = "not_testable_no_df";
const SINGLE_LEVEL: &str = "not_testable_single_level";
const DEGENERATE: &str = "not_testable_degenerate";

/// Why a segment-vs-rest difference cannot be tested, if it cannot.
fn untestable_difference(
    n_segment: usize,
    n_rest: usize,
    se: f64,
    df: f64,
) -> Option<&'static str> {
    if n_segment == 0 || n_rest == 0 {
        Some(EMPTY_DOMAIN)
    } else if se == 0.0 {
        Some(NO_VARIATION)
    } else if !se.is_finite() {
        Some(DEGENERATE)
    } else if df.is_nan() || df < 1.0 {
        Some(NO_DF)
    } else {
        None
    }
}

pub use crate::kernels::estimators::benjamini_hochberg;

/// A metric's rows of differences from the rest: per series, each compared segment, with
/// its test and Benjamini–Hochberg within the series and segment variable.
fn difference_rows(
    m: &crate::spec::Metric,
    series: &[(&'static str, String, SeriesValues)],
    segs: &[Segment],
    parts: &SegmentPartitions,
    compared: &Compared<'_>,
    diffs: &[Vec<Difference>],
    df: f64,
) -> Vec<ComparisonRow> {
    let n = parts.parts.first().map_or(0, |(codes, _)| codes.len());
    let mut rows = Vec::new();
    for (s, (_, level, values)) in series.iter().enumerate() {
        // Respondents who answered, per segment and in all.
        let answered = |i: usize| match values {
            SeriesValues::Numeric(y) => !y[i].is_nan(),
            SeriesValues::Levels { sets, .. } => sets[i].is_some(),
        };
        let mut in_domain: Vec<Vec<usize>> = parts.parts.iter().map(|(_, k)| vec![0; *k]).collect();
        let mut everyone = 0;
        for i in (0..n).filter(|&i| answered(i)) {
            everyone += 1;
            for &p in &compared.partitions {
                let codes = &parts.parts[p].0;
                if codes[i] != NO_DOMAIN {
                    in_domain[p][codes[i] as usize] += 1;
                }
            }
        }
        let start = rows.len();
        for (at, &g) in compared.segments.iter().enumerate() {
            let seg = &segs[g];
            let (p, d) = parts.place[g];
            let n_segment = in_domain[p][d];
            let n_rest = everyone - n_segment;
            let Difference {
                difference: diff,
                se,
            } = diffs[s][at];
            let flag = untestable_difference(n_segment, n_rest, se, df);
            let (stat, p) = match flag {
                Some(_) => (f64::NAN, f64::NAN),
                None => {
                    let t = diff / se;
                    (t, pt_two_sided(t, df).unwrap_or(f64::NAN))
                }
            };
            let estimate = if n_segment == 0 || n_rest == 0 {
                f64::NAN
            } else {
                diff
            };
            rows.push(ComparisonRow {
                metric_id: m.id.clone(),
                metric_version: m.version,
                test: "difference",
                level: level.clone(),
                segment_var: seg.var.clone(),
                segment_value: seg.value.clone(),
                estimate,
                se: if estimate.is_nan() { f64::NAN } else { se },
                statistic: stat,
                ndf: f64::NAN,
                ddf: df,
                p_value: p,
                p_adjusted: f64::NAN,
                flag: flag.unwrap_or(""),
                n_segment,
                n_rest,
                suppressed: false,
                association: None,
            });
        }
        // BH within each segment variable's rows of this series.
        let vars: Vec<String> = rows[start..]
            .iter()
            .map(|r| r.segment_var.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for v in vars {
            let idx: Vec<usize> = (start..rows.len())
                .filter(|&i| rows[i].segment_var == v)
                .collect();
            let adj = benjamini_hochberg(&idx.iter().map(|&i| rows[i].p_value).collect::<Vec<_>>());
            for (k, &i) in idx.iter().enumerate() {
                rows[i].p_adjusted = adj[k];
            }
        }
    }
    rows
}

/// Risk tier × each segment variable, then the spec's own tests of association.
fn association_tests(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    linearizer: &DomainLinearizer<'_>,
) -> Vec<ComparisonRow> {
    let mut rows = Vec::new();
    if let Some(m) = spec.metrics.iter().find(|m| m.variable == RISK_TIER) {
        for var in &spec.segments.variables {
            if question_index(spec, var).is_none() {
                continue;
            }
            rows.extend(association(
                spec,
                records,
                scores,
                linearizer,
                (&m.id, m.version),
                (RISK_TIER, var),
                &[ChisqStatistic::F],
            ));
        }
    }
    for t in &spec.tests {
        rows.extend(association(
            spec,
            records,
            scores,
            linearizer,
            (&t.id, 0),
            (&t.rows, &t.cols),
            &t.statistics,
        ));
    }
    rows
}

/// `f` of each item on the machine's cores, the results in the items' order (so the output
/// does not depend on how the work was split).
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(items.len().max(1));
    let mut parts: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    items
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % threads == t)
                        .map(|(i, x)| (i, f(x)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                parts[i] = Some(r);
            }
        }
    });
    parts.into_iter().flatten().collect()
}

/// Each respondent's category of a categorical variable (a question's option index, or the
/// risk tier); `None` where there is none.
fn categories(spec: &Spec, records: &Records, scores: &Scores, var: &str) -> Vec<Option<usize>> {
    if var == RISK_TIER {
        return scores.tier.iter().map(|t| t.map(usize::from)).collect();
    }
    let Some(qi) = question_index(spec, var) else {
        return vec![None; records.len()];
    };
    option_indexes(records, qi)
        .into_iter()
        .map(|i| (i != NOT_AN_OPTION).then_some(i as usize))
        .collect()
}

/// Tests of association of two categorical variables over the respondents with both (R's
/// `svychisq` on a subset of the full design): one row per statistic asked for.
fn association(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    linearizer: &DomainLinearizer<'_>,
    (id, version): (&str, u32),
    (rows_var, cols_var): (&str, &str),
    statistics: &[ChisqStatistic],
) -> Vec<ComparisonRow> {
    use std::collections::BTreeSet;
    let a = categories(spec, records, scores, rows_var);
    let b = categories(spec, records, scores, cols_var);
    let domain: Vec<bool> = (0..records.len())
        .map(|i| a[i].is_some() && b[i].is_some())
        .collect();
    let n_used = domain.iter().filter(|d| **d).count();
    let levels = |x: &[Option<usize>]| -> BTreeSet<usize> {
        (0..records.len())
            .filter(|&i| domain[i])
            .filter_map(|i| x[i])
            .collect()
    };
    let (a_levels, b_levels) = (levels(&a), levels(&b));
    let df = linearizer.survey().design.degf(|_| true);
    let (mut test, mut flag) = (None, "");
    if a_levels.len() < 2 || b_levels.len() < 2 {
        flag = SINGLE_LEVEL;
    } else if df.is_nan() || df < 1.0 {
        flag = NO_DF;
    } else {
        let code = |levels: &BTreeSet<usize>, v: Option<usize>| {
            v.and_then(|v| levels.iter().position(|l| *l == v))
                .unwrap_or(0) as u32
        };
        let a_codes: Vec<u32> = a.iter().map(|v| code(&a_levels, *v)).collect();
        let b_codes: Vec<u32> = b.iter().map(|v| code(&b_levels, *v)).collect();
        let t = crate::kernels::chisq::svychisq(
            linearizer,
            &a_codes,
            a_levels.len(),
            &b_codes,
            b_levels.len(),
            Some(&domain),
        );
        if t.f.statistic.is_finite() && t.f.ndf > 0.0 && t.f.ddf > 0.0 && !t.f.p_value.is_nan() {
            test = Some(t);
        } else {
            flag = DEGENERATE;
        }
    }
    statistics
        .iter()
        .map(|&stat| {
            let nan = crate::kernels::chisq::TestResult {
                statistic: f64::NAN,
                ndf: f64::NAN,
                ddf: f64::NAN,
                p_value: f64::NAN,
            };
            let r = test.as_ref().map_or(nan, |t| match stat {
                ChisqStatistic::F => t.f,
                ChisqStatistic::Chisq => t.chisq,
                ChisqStatistic::Wald => t.wald,
                ChisqStatistic::AdjWald => t.adj_wald,
                ChisqStatistic::Lincom => t.lincom,
                ChisqStatistic::Saddlepoint => t.saddlepoint,
            });
            let ingredient =
                |f: fn(&crate::kernels::chisq::Chisq) -> f64| test.as_ref().map_or(f64::NAN, f);
            ComparisonRow {
                metric_id: id.to_string(),
                metric_version: version,
                test: stat.test_name(),
                level: String::new(),
                segment_var: cols_var.to_string(),
                segment_value: String::new(),
                estimate: f64::NAN,
                se: f64::NAN,
                statistic: r.statistic,
                ndf: r.ndf,
                ddf: r.ddf,
                p_value: r.p_value,
                p_adjusted: r.p_value,
                flag,
                n_segment: n_used,
                n_rest: 0,
                suppressed: false,
                association: Some(Association {
                    rows_var: rows_var.to_string(),
                    cols_var: cols_var.to_string(),
                    pearson_x2: ingredient(|t| t.pearson),
                    deff_trace: ingredient(|t| t.trace),
                    deff_trace2: ingredient(|t| t.trace2),
                    deff_eigenvalues: test.as_ref().map_or(Vec::new(), |t| t.eigenvalues.clone()),
                    design_df: ingredient(|t| t.design_df),
                }),
            }
        })
        .collect()
}

/// The per-respondent values a later round needs to estimate a change with the covariance of
/// the organizations in both rounds (`data/panel.csv`, internal): a pseudonymous organization
/// key (SHA-256 of the survey id and the respondent key, so it matches across rounds of one
/// survey and nothing else), the final weight, each single segment variable's code, and one
/// column per mean or proportion series, named `<metric_id>@<version>|<statistic>|<level>`.
///
/// Written to `out` (`path` names it in errors) a row group at a time: the keys and the means'
/// values are made per group, so the table is never whole in memory; the bytes are those of
/// the whole table.
pub fn write_panel_csv(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    weighted: &Weighted,
    out: impl std::io::Write,
    path: &std::path::Path,
) -> crate::error::Result<()> {
    let sources = PanelSources::new(spec, records, scores, weighted);
    Table::write_csv_in_groups_to(out, path, records.len(), |rows| sources.rows(rows))
}

/// What `data/panel.csv`'s columns are made from, once per round; [`PanelSources::rows`] makes
/// the table of a range of rows.
struct PanelSources<'a> {
    spec: &'a Spec,
    records: &'a Records,
    scores: &'a Scores,
    weighted: &'a Weighted,
    key_question: Option<usize>,
    /// The cluster labels as pseudonyms (SHA-256 of the survey id and the label).
    cluster_keys: Option<Vec<String>>,
    calibration: Vec<(String, crate::previous::CalibrationColumn)>,
    /// Per single segment variable: its column name, level codes and each record's level.
    segments: Vec<(String, Vec<String>, Vec<Option<usize>>)>,
    /// Per mean or proportion series, in the columns' order: its column name and values.
    series: Vec<(String, PanelSeries)>,
}

enum PanelSeries {
    /// A mean's variable, its values made per group.
    Numeric(String),
    Levels(SeriesValues),
}

impl<'a> PanelSources<'a> {
    fn new(
        spec: &'a Spec,
        records: &'a Records,
        scores: &'a Scores,
        weighted: &'a Weighted,
    ) -> Self {
        let cluster_keys = weighted.psu_levels.as_ref().map(|levels| {
            levels
                .iter()
                .map(|l| {
                    let material = format!("{}\n{l}", spec.survey.id);
                    crate::ingest::sha256_hex(material.as_bytes())
                })
                .collect()
        });
        let segments = spec
            .segments
            .variables
            .iter()
            .map(|var| {
                (
                    format!("segment:{var}"),
                    levels_of(spec, var),
                    categories(spec, records, scores, var),
                )
            })
            .collect();
        let cache = AnswerSetCache::default();
        let mut series = Vec::new();
        for m in &spec.metrics {
            let name = |statistic: &str, level: &str| {
                format!("{}@{}|{statistic}|{level}", m.id, m.version)
            };
            match m.kind {
                MetricKind::Mean => {
                    series.push((name("mean", ""), PanelSeries::Numeric(m.variable.clone())));
                }
                MetricKind::Proportion | MetricKind::Distribution => {
                    for (statistic, level, values) in
                        metric_series(spec, records, scores, &cache, m)
                    {
                        series.push((name(statistic, &level), PanelSeries::Levels(values)));
                    }
                }
                _ => {}
            }
        }
        PanelSources {
            spec,
            records,
            scores,
            weighted,
            key_question: question_index(spec, &spec.respondent.key),
            cluster_keys,
            calibration: crate::previous::calibration_columns(&weighted.calibration),
            segments,
            series,
        }
    }

    /// The table of rows `rows`.
    fn rows(&self, rows: std::ops::Range<usize>) -> Table {
        use rayon::prelude::*;
        let (spec, weighted) = (self.spec, self.weighted);
        let mut t = Table::new();
        let panel_keys: Vec<Option<String>> = rows
            .clone()
            .into_par_iter()
            .map(|i| {
                let r = self.records.get(i);
                let qi = self.key_question?;
                let answer = r.answer(qi);
                let key = answer
                    .as_text()
                    .map(str::to_string)
                    .or_else(|| answer.as_code().map(str::to_string))
                    .or_else(|| answer.as_number().map(|x| x.to_string()))?;
                let material = format!("{}\n{}", spec.survey.id, key.trim());
                Some(crate::ingest::sha256_hex(material.as_bytes()))
            })
            .collect();
        t.text("panel_key", panel_keys).float(
            "weight",
            weighted.weights[rows.clone()].iter().map(|w| Some(*w)),
        );
        // The round's own design, so the later round's combined design keeps it: stratum
        // labels (the stratum variable's codes), clusters (pseudonymous like the key),
        // calibration.
        let strata = &weighted.design.strata()[rows.clone()];
        if spec.design.strata.is_some() {
            t.indexed(
                "design:stratum",
                weighted.stratum_levels.clone(),
                strata.iter().map(|h| Some(*h)),
            );
        }
        if weighted.fpc {
            let f = weighted.design.fractions();
            t.float(
                "design:fpc",
                strata.iter().map(|h| Some(1.0 - f[*h as usize])),
            );
        }
        if let Some(keys) = &self.cluster_keys {
            t.indexed(
                "design:cluster",
                keys.clone(),
                weighted.design.psu()[rows.clone()].iter().map(|c| Some(*c)),
            );
        }
        for (name, column) in &self.calibration {
            match column {
                crate::previous::CalibrationColumn::Codes(c) => {
                    t.int(name, c[rows.clone()].iter().map(|x| Some(i64::from(*x))))
                }
                crate::previous::CalibrationColumn::Weights(w) => {
                    t.float(name, w[rows.clone()].iter().map(|x| Some(*x)))
                }
            };
        }
        for (name, codes, cats) in &self.segments {
            t.indexed(
                name,
                codes.clone(),
                cats[rows.clone()].iter().map(|c| c.map(|c| c as u32)),
            );
        }
        for (name, series) in &self.series {
            let y = match series {
                PanelSeries::Numeric(variable) => {
                    numeric_values_in(spec, self.records, self.scores, variable, rows.clone())
                }
                PanelSeries::Levels(values) => values.values_in(rows.clone()),
            };
            t.float(name, y.iter().map(|v| (!v.is_nan()).then_some(*v)));
        }
        t
    }
}

/// The comparisons table: numbers of suppressed rows are blank.
pub fn comparisons_table(rows: &[ComparisonRow]) -> Table {
    let shown = |r: &ComparisonRow, x: f64| if r.suppressed { None } else { Some(x) };
    let mut t = Table::new();
    t.text("metric_id", rows.iter().map(|r| Some(r.metric_id.clone())))
        .int(
            "metric_version",
            rows.iter().map(|r| Some(i64::from(r.metric_version))),
        )
        .text("test", rows.iter().map(|r| Some(r.test)))
        .text("level", rows.iter().map(|r| Some(r.level.clone())))
        .text(
            "segment_var",
            rows.iter().map(|r| Some(r.segment_var.clone())),
        )
        .text(
            "segment_value",
            rows.iter().map(|r| Some(r.segment_value.clone())),
        )
        .float("estimate", rows.iter().map(|r| shown(r, r.estimate)))
        .float("se", rows.iter().map(|r| shown(r, r.se)))
        .float("statistic", rows.iter().map(|r| shown(r, r.statistic)))
        .float("ndf", rows.iter().map(|r| shown(r, r.ndf)))
        .float("ddf", rows.iter().map(|r| shown(r, r.ddf)))
        .float("p_value", rows.iter().map(|r| shown(r, r.p_value)))
        .float("p_adjusted", rows.iter().map(|r| shown(r, r.p_adjusted)))
        // A suppressed row's reason would tell something of its numbers (no variation).
        .text(
            "flag",
            rows.iter()
                .map(|r| Some(if r.suppressed { "" } else { r.flag })),
        )
        .int(
            "n_segment",
            rows.iter().map(|r| {
                if r.suppressed {
                    None
                } else {
                    Some(r.n_segment as i64)
                }
            }),
        )
        .int(
            "n_rest",
            rows.iter().map(|r| {
                if r.suppressed {
                    None
                } else {
                    Some(r.n_rest as i64)
                }
            }),
        )
        .boolean("suppressed", rows.iter().map(|r| Some(r.suppressed)));
    fn assoc(r: &ComparisonRow) -> Option<&Association> {
        r.association.as_ref().filter(|_| !r.suppressed)
    }
    let num = |f: fn(&Association) -> f64| {
        rows.iter()
            .map(move |r| assoc(r).map(f).filter(|x| x.is_finite()))
    };
    t.text(
        "rows_var",
        rows.iter()
            .map(|r| r.association.as_ref().map(|a| a.rows_var.clone())),
    )
    .text(
        "cols_var",
        rows.iter()
            .map(|r| r.association.as_ref().map(|a| a.cols_var.clone())),
    )
    .float("pearson_x2", num(|a| a.pearson_x2))
    .float("deff_trace", num(|a| a.deff_trace))
    .float("deff_trace2", num(|a| a.deff_trace2))
    .text(
        "deff_eigenvalues",
        rows.iter().map(|r| {
            assoc(r)
                .filter(|a| !a.deff_eigenvalues.is_empty())
                .map(|a| {
                    a.deff_eigenvalues
                        .iter()
                        .map(|x| format!("{x:e}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
        }),
    )
    .float("design_df", num(|a| a.design_df));
    t
}

#[cfg(test)]
mod bh_tests {
    use super::benjamini_hochberg;

    #[test]
    fn matches_r_p_adjust_bh() {
        // p.adjust(c(0.01, 0.04, 0.03, 0.20), "BH") = 0.04, 0.05333333, 0.05333333, 0.20
        let adj = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.20]);
        let want = [0.04, 0.16 / 3.0, 0.16 / 3.0, 0.20];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
    }
}

/// One bin of a weighted histogram in one segment.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionRow {
    pub variable: String,
    pub segment_var: String,
    pub segment_value: String,
    pub bin_low: f64,
    pub bin_high: f64,
    pub share: f64,
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Respondents in the bin.
    pub n_bin: usize,
    /// Respondents with a value in the segment.
    pub n: usize,
    /// Σ weight of those respondents (the share's denominator).
    pub weight_sum: f64,
    pub suppressed: bool,
    /// Why the row is withheld (`disclose`), empty when published.
    pub flag: String,
}

/// Weighted histograms of the spec's `[[distributions]]` for every segment: the share in each
/// bin is a domain proportion with its linearized SE and the spec's proportion CI.
pub fn distributions(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    weighted: &Weighted,
) -> Vec<DistributionRow> {
    let survey = Survey {
        design: &weighted.design,
        weights: &weighted.weights,
        calibration: &weighted.calibration,
    };
    let level = spec.publication.ci_level;
    let (method, _) = proportion_method(spec, None);
    // Overall and each segment variable: the cells of a cross are too small for a histogram
    // (nearly every bin would be withheld, and, linked to its margins, force withholding there).
    let segs: Vec<Segment> = segments(spec, records)
        .into_iter()
        .filter(|s| !s.var.contains(':'))
        .collect();
    let mut out = Vec::new();
    for d in &spec.distributions {
        let y = numeric_values(spec, records, scores, &d.variable);
        let last = d.bins.len() - 2;
        for (k, edge) in d.bins.windows(2).enumerate() {
            let (lo, hi) = (edge[0], edge[1]);
            let ind: Vec<f64> = y
                .iter()
                .map(|&v| {
                    if v.is_nan() {
                        f64::NAN
                    } else {
                        f64::from(u8::from(v >= lo && (v < hi || (k == last && v <= hi))))
                    }
                })
                .collect();
            for s in &segs {
                let mask = s.mask.as_deref();
                let e = survey.mean(&ind, mask);
                let n_bin = (0..ind.len())
                    .filter(|&i| ind[i] == 1.0 && mask.is_none_or(|m| m[i]))
                    .count();
                let nrow = subset_rows(weighted, mask, records.len());
                let (cl, ch) = proportion_ci(method, e.value, e.se, e.df, nrow, level);
                out.push(DistributionRow {
                    variable: d.variable.clone(),
                    segment_var: s.var.clone(),
                    segment_value: s.value.clone(),
                    bin_low: lo,
                    bin_high: hi,
                    share: e.value,
                    se: e.se,
                    ci_low: cl,
                    ci_high: ch,
                    n_bin,
                    n: e.n,
                    weight_sum: e.weight_sum,
                    suppressed: false,
                    flag: String::new(),
                });
            }
        }
    }
    out
}

/// The distributions table: numbers of segments below the minimum cell size are blank.
pub fn distributions_table(rows: &[DistributionRow]) -> Table {
    let shown = |r: &DistributionRow, x: f64| if r.suppressed { None } else { Some(x) };
    let mut t = Table::new();
    t.text("variable", rows.iter().map(|r| Some(r.variable.clone())))
        .text(
            "segment_var",
            rows.iter().map(|r| Some(r.segment_var.clone())),
        )
        .text(
            "segment_value",
            rows.iter().map(|r| Some(r.segment_value.clone())),
        )
        .float("bin_low", rows.iter().map(|r| Some(r.bin_low)))
        .float("bin_high", rows.iter().map(|r| Some(r.bin_high)))
        .float("share", rows.iter().map(|r| shown(r, r.share)))
        .float("se", rows.iter().map(|r| shown(r, r.se)))
        .float("ci_low", rows.iter().map(|r| shown(r, r.ci_low)))
        .float("ci_high", rows.iter().map(|r| shown(r, r.ci_high)))
        .int(
            "n_bin",
            rows.iter().map(|r| {
                if r.suppressed {
                    None
                } else {
                    Some(r.n_bin as i64)
                }
            }),
        )
        .int(
            "n",
            rows.iter()
                .map(|r| if r.suppressed { None } else { Some(r.n as i64) }),
        )
        .boolean("suppressed", rows.iter().map(|r| Some(r.suppressed)))
        .text("flag", rows.iter().map(|r| Some(r.flag.clone())));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchs_rules_suppress_and_flag() {
        // p = 0.5 with SE 0.02 on 500 rows and 400 df: n_eff = 625 → shown, no flags.
        let (s, f) = nchs_proportion(0.5, 0.02, 400.0, 500, 0.95, 500);
        assert!(!s && f.is_empty(), "{f:?}");
        // SE 0.1: n_eff = 25 and the interval is wide → suppressed.
        let (s, f) = nchs_proportion(0.5, 0.1, 400.0, 500, 0.95, 500);
        assert!(
            s && f.contains(&"nchs_n_eff_lt_30") && f.contains(&"nchs_width_ge_30"),
            "{f:?}"
        );
        // A small p with a moderate width: relative width > 130 % → suppressed.
        let (s, f) = nchs_proportion(0.04, 0.015, 400.0, 500, 0.95, 500);
        assert!(s && f.contains(&"nchs_relative_width_gt_130"), "{f:?}");
        // Few degrees of freedom: review flag.
        let (_, f) = nchs_proportion(0.5, 0.02, 5.0, 500, 0.95, 500);
        assert!(f.contains(&"nchs_review_df_lt_8"), "{f:?}");
    }
}

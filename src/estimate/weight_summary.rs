//! Weight diagnostics overall and per segment (`tables/weight_summary.csv`): Kish effective
//! sample size and weighting design effect, the weight distribution, its coefficient of
//! variation, and how many weights trimming changed. What is published is `disclose`'s call.

use crate::clean::Records;
use crate::kernels::estimators::{kish_ess, quantile_math};
use crate::spec::Spec;
use crate::table::Table;
use crate::weight::Weighted;

/// One segment's weight diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightSummaryRow {
    pub segment_var: String,
    pub segment_value: String,
    pub n: usize,
    pub weight_sum: f64,
    pub kish_ess: f64,
    pub kish_deff: f64,
    pub weight_min: f64,
    pub weight_p25: f64,
    pub weight_median: f64,
    pub weight_p75: f64,
    pub weight_max: f64,
    pub weight_cv: f64,
    pub n_trimmed: usize,
    /// Withheld by `disclose` (every number blank), and why.
    pub suppressed: bool,
    pub flag: String,
}

/// Weight diagnostics of every segment, in the order of [`super::segments`].
pub fn weight_summary(
    spec: &Spec,
    records: &Records,
    weighted: &Weighted,
) -> Vec<WeightSummaryRow> {
    let w = &weighted.weights;
    super::segments(spec, records)
        .iter()
        .map(|s| {
            let idx: Vec<usize> = (0..w.len())
                .filter(|&i| s.mask.as_ref().is_none_or(|m| m[i]))
                .collect();
            let ws: Vec<f64> = idx.iter().map(|&i| w[i]).collect();
            let n_trimmed = idx
                .iter()
                .filter(|&&i| weighted.trim.is_some() && w[i] != weighted.calibrated_weights[i])
                .count();
            let mut sorted = ws.clone();
            sorted.sort_by(f64::total_cmp);
            let ones = vec![1.0; sorted.len()];
            let q = |p: f64| {
                if sorted.is_empty() {
                    f64::NAN
                } else {
                    quantile_math(&sorted, &ones, p)
                }
            };
            let n = ws.len() as f64;
            let sum = crate::kernels::sum(ws.iter().copied());
            let mean = sum / n;
            let var = crate::kernels::sum(ws.iter().map(|x| (x - mean) * (x - mean))) / n;
            let ess = kish_ess(&ws);
            WeightSummaryRow {
                segment_var: s.var.clone(),
                segment_value: s.value.clone(),
                n: ws.len(),
                weight_sum: sum,
                kish_ess: ess,
                kish_deff: n / ess,
                weight_min: sorted.first().copied().unwrap_or(f64::NAN),
                weight_p25: q(0.25),
                weight_median: q(0.5),
                weight_p75: q(0.75),
                weight_max: sorted.last().copied().unwrap_or(f64::NAN),
                weight_cv: var.sqrt() / mean,
                n_trimmed,
                suppressed: false,
                flag: String::new(),
            }
        })
        .collect()
}

/// The published weight summary: every number of a withheld row is blank.
pub fn weight_summary_table(rows: &[WeightSummaryRow]) -> Table {
    let num = |f: fn(&WeightSummaryRow) -> f64| {
        rows.iter()
            .map(move |r| (!r.suppressed).then(|| f(r)))
            .collect::<Vec<_>>()
    };
    let mut t = Table::new();
    t.text(
        "segment_var",
        rows.iter().map(|r| Some(r.segment_var.clone())),
    )
    .text(
        "segment_value",
        rows.iter().map(|r| Some(r.segment_value.clone())),
    )
    .int(
        "n",
        rows.iter().map(|r| (!r.suppressed).then_some(r.n as i64)),
    )
    .float("weight_sum", num(|r| r.weight_sum))
    .float("kish_ess", num(|r| r.kish_ess))
    .float("kish_deff", num(|r| r.kish_deff))
    .float("weight_min", num(|r| r.weight_min))
    .float("weight_p25", num(|r| r.weight_p25))
    .float("weight_median", num(|r| r.weight_median))
    .float("weight_p75", num(|r| r.weight_p75))
    .float("weight_max", num(|r| r.weight_max))
    .float("weight_cv", num(|r| r.weight_cv))
    .int(
        "n_trimmed",
        rows.iter()
            .map(|r| (!r.suppressed).then_some(r.n_trimmed as i64)),
    )
    .text("flag", rows.iter().map(|r| Some(r.flag.clone())));
    t
}

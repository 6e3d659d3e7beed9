//! Statistical kernels on plain slices and integer group codes — no polars, no spec. Each
//! function reproduces what R's `survey` package computes (its documented formulas; "methods.md §N"
//! in these files cites the task group's methods notes) and is unit-tested on its own, including
//! against R's reference values (`tests/reference/`).
//!
//! - [`design`]: a stratified, clustered design with FPC; linearized variance; degrees of freedom.
//! - [`calibration`]: post-stratification and raking of weights, and the residual step that
//!   makes the variance account for them.
//! - [`estimators`]: means, totals, proportions, quantiles with their standard errors and CIs.
//! - [`domains`]: the same for every domain of several segmentations at once, in one pass.
//! - [`prec`]: tolerances, in one place.

#![allow(clippy::needless_range_loop)] // numeric kernels index several parallel slices

pub mod calibration;
pub mod chisq;
pub mod concentration;
pub mod design;
pub mod dist;
pub mod domains;
pub mod estimators;
pub mod glm;
pub mod greg;
pub mod intervals;
pub mod panel;
pub mod quadform;
pub mod replicates;
pub mod trim;

/// Tolerances shared by the kernels and their tests.
pub mod prec {
    /// Relative agreement with R's `survey` for estimates, SEs, weights (methods.md §12).
    pub const R_RTOL: f64 = 1e-9;
    /// Relative agreement for p-values and svyglm-based logit CIs.
    pub const R_RTOL_P: f64 = 1e-7;
    /// A stratum whose sampling fraction is within this of 1 contributes no variance (as R).
    pub const FPC_CENSUS: f64 = 1e-7;

    /// `|a − b| <= rtol · max(|a|, |b|)`, with exact equality for zeros.
    pub fn close(a: f64, b: f64, rtol: f64) -> bool {
        a == b || (a - b).abs() <= rtol * a.abs().max(b.abs())
    }
}

/// Group codes 0..k for a slice of labels, in order of first appearance of the sorted labels.
/// Returns the codes and the sorted distinct labels.
pub fn group_codes<T: Ord + Clone>(labels: &[T]) -> (Vec<u32>, Vec<T>) {
    let mut levels: Vec<T> = labels.to_vec();
    levels.sort();
    levels.dedup();
    let codes = labels
        .iter()
        .map(|l| levels.binary_search(l).map_or(0, |i| i as u32))
        .collect();
    (codes, levels)
}

/// Per-group sums (Neumaier-compensated) of `values` by group code 0..k, in one pass.
pub fn group_sums(values: &[f64], codes: &[u32], k: usize) -> Vec<f64> {
    let mut s = vec![0.0_f64; k];
    let mut c = vec![0.0_f64; k];
    for (&x, &g) in values.iter().zip(codes) {
        let g = g as usize;
        let t = s[g] + x;
        if s[g].abs() >= x.abs() {
            c[g] += (s[g] - t) + x;
        } else {
            c[g] += (x - t) + s[g];
        }
        s[g] = t;
    }
    s.iter().zip(&c).map(|(a, b)| a + b).collect()
}

/// Sum with Neumaier compensation (R accumulates in long double).
pub fn sum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut s = 0.0_f64;
    let mut c = 0.0_f64;
    for x in xs {
        let t = s + x;
        if s.abs() >= x.abs() {
            c += (s - t) + x;
        } else {
            c += (x - t) + s;
        }
        s = t;
    }
    s + c
}

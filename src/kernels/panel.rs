//! Change between two rounds that share organizations (docs/metrics.md, "Which SE"): both
//! rounds' rows with their own final weights, stacked into one design whose primary sampling unit is the
//! organization, and the change as the contrast of the two rounds' domain means, linearized —
//! what R gives for `svyby(~y, ~round, svydesign(id = ~org, weights = ~w, data = stacked),
//! svymean)` + `svycontrast(c(-1, 1))`. An organization in both rounds contributes both of its
//! influence scores to one PSU total, so the covariance of its two answers enters the SE.

use std::collections::HashMap;
use std::hash::Hash;

use super::calibration::Calibration;
use super::design::Design;
use super::estimators::Survey;

/// Two rounds stacked: round A's rows first, then round B's.
pub struct Stacked {
    pub design: Design,
    pub weights: Vec<f64>,
    /// Rows of round B (the rest are round A's).
    pub in_b: Vec<bool>,
    /// Organizations in both rounds.
    pub overlap: usize,
    /// Organizations in either round (the combined design's PSUs).
    pub organizations: usize,
}

/// A change B − A with its panel SE and the SE as if the rounds were independent samples of
/// the combined design (√(SE_A² + SE_B²) there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanelChange {
    pub estimate_a: f64,
    pub estimate_b: f64,
    pub difference: f64,
    pub se: f64,
    pub se_independent: f64,
    /// Degrees of freedom of the combined design over the domain (PSUs − 1; rows that skipped
    /// the item count, as R's `degf` of the subset).
    pub df: f64,
}

/// Stack round A (`keys_a`, `weights_a`) on round B; keys are organization identifiers,
/// comparable across rounds. A key repeated within a round keeps its rows in one PSU. Fewer
/// than two organizations in all is an error (no variance).
pub fn stack<K: Eq + Hash + Clone>(
    keys_a: &[K],
    weights_a: &[f64],
    keys_b: &[K],
    weights_b: &[f64],
) -> Result<Stacked, super::design::DesignError> {
    let mut index: HashMap<K, u32> = HashMap::new();
    let mut psu = Vec::with_capacity(keys_a.len() + keys_b.len());
    for k in keys_a.iter().chain(keys_b) {
        let next = index.len() as u32;
        psu.push(*index.entry(k.clone()).or_insert(next));
    }
    let in_a: std::collections::HashSet<&K> = keys_a.iter().collect();
    let overlap = keys_b
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .filter(|k| in_a.contains(k))
        .count();
    let n = psu.len();
    let organizations = index.len();
    let design = Design::new(vec![0; n], psu, None)?;
    let mut weights = weights_a.to_vec();
    weights.extend_from_slice(weights_b);
    let mut in_b = vec![false; keys_a.len()];
    in_b.resize(n, true);
    Ok(Stacked {
        design,
        weights,
        in_b,
        overlap,
        organizations,
    })
}

impl Stacked {
    /// The change of the mean of `y` (stacked like the rows; NaN = not answered) over the rows
    /// of `domain` (all when `None`), B − A.
    pub fn mean_change(&self, y: &[f64], domain: Option<&[bool]>) -> PanelChange {
        let cal = Calibration::None;
        let s = Survey {
            design: &self.design,
            weights: &self.weights,
            calibration: &cal,
        };
        let inside = |i: usize| domain.is_none_or(|d| d[i]);
        let a: Vec<bool> = (0..y.len()).map(|i| !self.in_b[i] && inside(i)).collect();
        let b: Vec<bool> = (0..y.len()).map(|i| self.in_b[i] && inside(i)).collect();
        let (difference, se) = s.mean_difference(y, &b, &a);
        let (ea, eb) = (s.mean(y, Some(&a)), s.mean(y, Some(&b)));
        // R's degf of the (sub)design: PSUs of the domain's rows, answered or not.
        let used = |i: usize| inside(i) && self.weights[i] > 0.0;
        PanelChange {
            estimate_a: ea.value,
            estimate_b: eb.value,
            difference,
            se,
            se_independent: (ea.se * ea.se + eb.se * eb.se).sqrt(),
            df: self.design.degf(used),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no organization in both rounds the panel SE is the independent one.
    #[test]
    fn disjoint_rounds_give_the_independent_se() {
        let st = stack(
            &["a", "b", "c"],
            &[1.0, 2.0, 1.0],
            &["d", "e", "f"],
            &[1.0, 1.0, 3.0],
        )
        .unwrap();
        assert_eq!(st.overlap, 0);
        let c = st.mean_change(&[1.0, 4.0, 2.0, 5.0, 3.0, 8.0], None);
        assert!((c.se - c.se_independent).abs() < 1e-12, "{c:?}");
        assert!((c.difference - (c.estimate_b - c.estimate_a)).abs() < 1e-12);
    }

    /// The same organizations answering alike: the change is exact and its panel SE far below
    /// the independent one.
    #[test]
    fn correlated_answers_shrink_the_se() {
        let keys = ["a", "b", "c", "d"];
        let w = [1.0; 4];
        let st = stack(&keys, &w, &keys, &w).unwrap();
        assert_eq!((st.overlap, st.organizations), (4, 4));
        let y = [1.0, 5.0, 2.0, 9.0, 2.0, 6.0, 3.0, 10.0];
        let c = st.mean_change(&y, None);
        assert!((c.difference - 1.0).abs() < 1e-12);
        assert!(c.se < 1e-12 && c.se_independent > 1.0, "{c:?}");
    }

    #[test]
    fn one_organization_is_an_error_not_a_panic() {
        assert!(stack(&["a"], &[1.0], &["a"], &[1.0]).is_err());
    }
}

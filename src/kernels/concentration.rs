//! Concentration of dependence: the Herfindahl–Hirschman index of weighted totals, HHI =
//! Σ_s (T_s / T)², T_s = Σ w x_s (x_s: a row names supplier s), and the effective number of
//! suppliers 1/HHI, with linearized SEs — the delta method R's `svycontrast` applies to
//! `svytotal`: z_i = w_i Σ_s (2/T)(T_s/T − HHI) x_is, through the full design and calibration.

use super::estimators::Survey;
use super::sum;

/// HHI and the effective number with their SEs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Concentration {
    pub hhi: f64,
    pub hhi_se: f64,
    pub effective_number: f64,
    pub effective_number_se: f64,
    /// T = Σ_s T_s.
    pub total: f64,
}

/// `columns[s][i]`: how far row `i` counts toward supplier `s` (0/1 for "names it"; NaN is 0).
pub fn hhi(survey: &Survey<'_>, columns: &[Vec<f64>]) -> Concentration {
    hhi_sparse(survey, columns.len(), |i| {
        columns.iter().enumerate().filter_map(move |(s, col)| {
            let v = col[i];
            (!v.is_nan() && v != 0.0).then_some((s, v))
        })
    })
}

/// The same from each row's non-zero entries: `counts(i)` yields `(supplier, x_is)` for the
/// suppliers (indexes below `k`) row `i` counts toward — nothing for rows outside the domain.
/// One pass for the totals and one for the influence scores, whatever `k`.
pub fn hhi_sparse<I: Iterator<Item = (usize, f64)>>(
    survey: &Survey<'_>,
    k: usize,
    counts: impl Fn(usize) -> I,
) -> Concentration {
    let w = survey.weights;
    let mut totals = vec![0.0; k];
    for (i, wi) in w.iter().enumerate() {
        for (s, x) in counts(i) {
            totals[s] += wi * x;
        }
    }
    let t = sum(totals.iter().copied());
    if t.is_nan() || t <= 0.0 {
        return Concentration {
            hhi: f64::NAN,
            hhi_se: f64::NAN,
            effective_number: f64::NAN,
            effective_number_se: f64::NAN,
            total: t,
        };
    }
    let shares: Vec<f64> = totals.iter().map(|ts| ts / t).collect();
    let h = sum(shares.iter().map(|p| p * p));
    // z_i = w_i Σ_s (2/T)(p_s − H) x_is.
    let coef: Vec<f64> = shares.iter().map(|p| 2.0 / t * (p - h)).collect();
    let z: Vec<f64> = (0..w.len())
        .map(|i| w[i] * counts(i).map(|(s, x)| coef[s] * x).sum::<f64>())
        .collect();
    let se = survey.variance(z).max(0.0).sqrt();
    Concentration {
        hhi: h,
        hhi_se: se,
        effective_number: 1.0 / h,
        // d(1/H) = −dH / H².
        effective_number_se: se / (h * h),
        total: t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::calibration::Calibration;
    use crate::kernels::design::Design;

    #[test]
    fn hand_computed_shares_and_hhi() {
        // Weighted totals 3 (rows 0, 1 name s0 with weights 1 and 2), 1 (row 2 names s1) and
        // 4 (row 3 names s0 and s2 with weight 4): T_s = (7, 1, 4), T = 12.
        let d = Design::srs(4, None).unwrap();
        let w = [1.0, 2.0, 1.0, 4.0];
        let cal = Calibration::None;
        let s = Survey {
            design: &d,
            weights: &w,
            calibration: &cal,
        };
        let cols = vec![
            vec![1.0, 1.0, 0.0, 1.0],
            vec![0.0, 0.0, 1.0, 0.0],
            vec![0.0, 0.0, 0.0, 1.0],
        ];
        let c = hhi(&s, &cols);
        let want = (49.0 + 1.0 + 16.0) / 144.0;
        assert!((c.hhi - want).abs() < 1e-15);
        assert!((c.effective_number - 144.0 / 66.0).abs() < 1e-12);
        assert_eq!(c.total, 12.0);
        assert!(c.hhi_se > 0.0);
        // One supplier named by everyone: HHI 1, effective number 1, no uncertainty.
        let one = hhi(&s, &[vec![1.0; 4]]);
        assert_eq!((one.hhi, one.effective_number), (1.0, 1.0));
        assert!(one.hhi_se.abs() < 1e-12);
    }
}

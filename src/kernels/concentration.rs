//! Concentration of dependence: the Herfindahl–Hirschman index of weighted totals, HHI =
//! Σ_s (T_s / T)², T_s = Σ w x_s (x_s: a row names supplier s), and the effective number of
//! suppliers 1/HHI, with linearized SEs — the delta method R's `svycontrast` applies to
//! `svytotal`: z_i = w_i Σ_s (2/T)(T_s/T − HHI) x_is, through the full design and calibration.

use super::domains::{DomainLinearizer, Domains, Partition, Series, NO_DOMAIN};
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

/// [`hhi_sparse`] for every domain of one partition at once. A domain's influence scores
/// z_i = w_i Σ_s c_ds x_is (c_ds = (2/T_d)(p_ds − H_d)) are those of the domain total of
/// y_i = Σ_s c_d(i)s x_is, with d(i) the row's own domain — one series for the whole partition,
/// so its variances come from one batched pass instead of one per domain.
pub fn hhi_by_domain<I: Iterator<Item = (usize, f64)>>(
    lin: &DomainLinearizer<'_>,
    partition: Partition<'_>,
    k: usize,
    counts: impl Fn(usize) -> I,
) -> Vec<Concentration> {
    let w = lin.survey().weights;
    let codes = partition.codes;
    let mut totals = vec![vec![0.0; k]; partition.k];
    for i in 0..w.len() {
        if codes[i] != NO_DOMAIN {
            for (s, x) in counts(i) {
                totals[codes[i] as usize][s] += w[i] * x;
            }
        }
    }
    let mut out = Vec::with_capacity(partition.k);
    let mut coef = vec![vec![0.0; k]; partition.k];
    for (d, t_d) in totals.iter().enumerate() {
        let t = sum(t_d.iter().copied());
        if t.is_nan() || t <= 0.0 {
            out.push(Concentration {
                hhi: f64::NAN,
                hhi_se: f64::NAN,
                effective_number: f64::NAN,
                effective_number_se: f64::NAN,
                total: t,
            });
            continue;
        }
        let shares: Vec<f64> = t_d.iter().map(|ts| ts / t).collect();
        let h = sum(shares.iter().map(|p| p * p));
        coef[d] = shares.iter().map(|p| 2.0 / t * (p - h)).collect();
        out.push(Concentration {
            hhi: h,
            hhi_se: f64::NAN,
            effective_number: 1.0 / h,
            effective_number_se: f64::NAN,
            total: t,
        });
    }
    let y: Vec<f64> = (0..w.len())
        .map(|i| {
            if codes[i] == NO_DOMAIN {
                f64::NAN
            } else {
                let c = &coef[codes[i] as usize];
                counts(i).map(|(s, x)| c[s] * x).sum::<f64>()
            }
        })
        .collect();
    let domains = Domains::new(vec![partition]);
    let res = lin.estimate(Series::Numeric(&y), &domains, true);
    for (d, c) in out.iter_mut().enumerate() {
        if c.hhi.is_finite() {
            let se = res[0][d][0].estimate.se.max(0.0);
            c.hhi_se = se;
            c.effective_number_se = se / (c.hhi * c.hhi);
        }
    }
    out
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

    #[test]
    fn every_domain_at_once_equals_one_domain_at_a_time() {
        // Stratified, post-stratified-like weights; 3 suppliers; two domains and rows in none.
        let strata = vec![0u32, 0, 0, 0, 1, 1, 1, 1, 1, 0];
        let d = Design::new(strata, (0..10).collect(), None).unwrap();
        let w = [1.0, 2.0, 1.5, 3.0, 0.5, 2.5, 1.0, 4.0, 2.0, 1.0];
        let cal = Calibration::None;
        let s = Survey {
            design: &d,
            weights: &w,
            calibration: &cal,
        };
        let names: [&[usize]; 10] = [
            &[0],
            &[0, 1],
            &[2],
            &[1],
            &[0],
            &[0, 2],
            &[1],
            &[],
            &[0],
            &[2],
        ];
        let codes = [0u32, 1, 0, 1, 0, 1, 0, 1, NO_DOMAIN, 0];
        let lin = DomainLinearizer::new(s);
        let all = hhi_by_domain(
            &lin,
            Partition {
                codes: &codes,
                k: 2,
            },
            3,
            |i| names[i].iter().map(|&j| (j, 1.0)),
        );
        for (dom, got) in all.iter().enumerate() {
            let want = hhi_sparse(&s, 3, |i| {
                let inside = codes[i] == dom as u32;
                names[i].iter().filter(move |_| inside).map(|&j| (j, 1.0))
            });
            assert!((got.hhi - want.hhi).abs() < 1e-14, "{got:?} {want:?}");
            assert!(
                (got.hhi_se - want.hhi_se).abs() < 1e-12 * want.hhi_se.max(1.0),
                "{got:?} {want:?}"
            );
            assert!(got.hhi_se > 0.0);
        }
    }
}

//! Properties of the estimators on random stratified designs: invariance to row order, a domain
//! estimate equals the same estimate with the other rows' values changed (they carry zero
//! influence), SEs are non-negative and CIs contain their estimate.

use proptest::prelude::*;
use supplyrisk::kernels::calibration::Calibration;
use supplyrisk::kernels::design::Design;
use supplyrisk::kernels::estimators::{ci_normal, Survey};
use supplyrisk::kernels::intervals::{proportion_ci, PropCi};

/// Rows: (stratum 0..3, weight, value, in domain); every stratum gets at least two rows.
fn design_of(rows: &[(u32, f64, f64, bool)]) -> Design {
    let strata: Vec<u32> = rows.iter().map(|r| r.0).collect();
    Design::new(strata, (0..rows.len() as u32).collect(), None).unwrap()
}

fn rows_strategy() -> impl Strategy<Value = Vec<(u32, f64, f64, bool)>> {
    proptest::collection::vec(
        (0u32..3, 0.5f64..20.0, -50.0f64..50.0, any::<bool>()),
        6..60,
    )
    .prop_map(|mut v| {
        for h in 0..3 {
            v.push((h, 1.0, f64::from(h), true));
            v.push((h, 2.0, f64::from(h) + 1.0, false));
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn estimates_do_not_depend_on_row_order(rows in rows_strategy(), seed in any::<u64>()) {
        let mut shuffled = rows.clone();
        // A deterministic permutation from the seed.
        let n = shuffled.len();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let est = |rows: &[(u32, f64, f64, bool)]| {
            let d = design_of(rows);
            let w: Vec<f64> = rows.iter().map(|r| r.1).collect();
            let y: Vec<f64> = rows.iter().map(|r| r.2).collect();
            let dom: Vec<bool> = rows.iter().map(|r| r.3).collect();
            let cal = Calibration::None;
            let s = Survey { design: &d, weights: &w, calibration: &cal };
            (s.mean(&y, None), s.mean(&y, Some(&dom)), s.total(&y, Some(&dom)))
        };
        let (a, b) = (est(&rows), est(&shuffled));
        for (x, y) in [(a.0, b.0), (a.1, b.1), (a.2, b.2)] {
            prop_assert!((x.value - y.value).abs() <= 1e-9 * (1.0 + x.value.abs()));
            prop_assert!((x.se - y.se).abs() <= 1e-9 * (1.0 + x.se));
        }
    }

    #[test]
    fn rows_outside_the_domain_have_no_influence(rows in rows_strategy(), other in -1e3f64..1e3) {
        let d = design_of(&rows);
        let w: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let y: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let dom: Vec<bool> = rows.iter().map(|r| r.3).collect();
        // The same domain estimate with every value outside the domain replaced.
        let y2: Vec<f64> = rows.iter().map(|r| if r.3 { r.2 } else { other }).collect();
        let cal = Calibration::None;
        let s = Survey { design: &d, weights: &w, calibration: &cal };
        let (a, b) = (s.mean(&y, Some(&dom)), s.mean(&y2, Some(&dom)));
        prop_assert!((a.value - b.value).abs() <= 1e-12 * (1.0 + a.value.abs()));
        prop_assert!((a.se - b.se).abs() <= 1e-12 * (1.0 + a.se));
        prop_assert_eq!(a.df, b.df);
    }

    #[test]
    fn ses_are_non_negative_and_cis_contain_the_estimate(rows in rows_strategy()) {
        let d = design_of(&rows);
        let w: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let y: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let ind: Vec<f64> = rows.iter().map(|r| f64::from(u8::from(r.2 > 0.0))).collect();
        let cal = Calibration::None;
        let s = Survey { design: &d, weights: &w, calibration: &cal };
        let m = s.mean(&y, None);
        prop_assert!(m.se >= 0.0);
        let (lo, hi) = ci_normal(m.value, m.se, 0.95);
        prop_assert!(lo <= m.value && m.value <= hi);
        let p = s.mean(&ind, None);
        prop_assert!(p.se >= 0.0);
        for method in [PropCi::Logit, PropCi::Beta, PropCi::Wilson, PropCi::Mean, PropCi::Asin] {
            let (lo, hi) = proportion_ci(method, p.value, p.se, p.df, rows.len(), 0.95);
            prop_assert!(lo <= p.value + 1e-12 && p.value <= hi + 1e-12, "{:?}: {} not in [{}, {}]", method, p.value, lo, hi);
        }
    }
}

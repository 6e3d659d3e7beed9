//! Distribution functions checked at the edges of their domains: the only place supplyrisk calls
//! statrs. Every function takes any `f64` (NaN, ±∞, zero or negative degrees of freedom, a
//! probability outside (0, 1)) and returns `None` where the value is undefined, so no argument
//! outside a distribution's domain ever reaches statrs — whose functions panic on some of them
//! (`StudentsT::sf(NaN)` unwraps an `XOutOfRange` error) and loop for hours on others (the inverse
//! incomplete beta with a + b ≳ 1e8). Callers turn `None` into a blank value with a flag.
//!
//! Where a parameter is so large that statrs' series are slow or inaccurate, the limiting
//! distribution is used (t and F with more than [`LIMIT_DF`] denominator degrees of freedom are
//! the normal and χ²/ν; a beta with a + b above [`QBETA_NORMAL_ABOVE`] its normal approximation):
//! the difference is below 1e-9 relative there.

use statrs::distribution::{Beta, ChiSquared, ContinuousCDF, FisherSnedecor, Normal, StudentsT};

/// Degrees of freedom beyond which t is the standard normal and F(d1, d2) is χ²(d1)/d1.
pub const LIMIT_DF: f64 = 1e10;

/// Beyond this a + b, statrs' inverse incomplete beta loops for hours (measured: b ≥ 1e8 with
/// a small) and its incomplete beta returns values above 1, so [`qbeta`] uses the normal
/// approximation there. Such parameters only arise from a Korn–Graubard effective n of
/// p(1−p)/SE² with an SE that is rounding noise (a calibrated variable's share in a segment):
/// the interval is then the point to within 1e-3 of a percentage point either way.
pub const QBETA_NORMAL_ABOVE: f64 = 1e7;

/// A beta shape below this is its point mass (0 for a, 1 for b): the quantiles of Beta(1e-6, b)
/// at the levels CIs use are below 1e-1000, and statrs' inverse fails near 0.
pub const QBETA_MIN_SHAPE: f64 = 1e-6;

/// Probabilities closer than this to 0 or 1 have no t or beta quantile here (statrs' inverse
/// incomplete beta fails there; a CI never asks for one).
pub const MIN_P: f64 = 1e-12;

fn open_unit(p: f64) -> bool {
    p > 0.0 && p < 1.0
}

/// Degrees of freedom below this are treated as none (statrs' series do not converge in
/// reasonable time near 0; a design never has fewer than 1).
pub const MIN_DF: f64 = 1e-3;

fn positive_df(df: f64) -> bool {
    df >= MIN_DF // false for NaN
}

/// The standard normal quantile; `None` unless 0 < p < 1.
pub fn qnorm(p: f64) -> Option<f64> {
    open_unit(p).then(|| Normal::standard().inverse_cdf(p))
}

/// P(Z ≤ x) for a standard normal Z; `None` for NaN.
pub fn pnorm(x: f64) -> Option<f64> {
    if x.is_nan() {
        return None;
    }
    Some(Normal::standard().cdf(x))
}

/// The two-sided normal p-value 2·(1 − Φ(|x|)); `None` for NaN.
pub fn pnorm_two_sided(x: f64) -> Option<f64> {
    pnorm(x.abs()).map(|c| 2.0 * (1.0 - c))
}

/// P(Z > x) for a standard normal Z; `None` for NaN.
pub fn pnorm_upper(x: f64) -> Option<f64> {
    if x.is_nan() {
        return None;
    }
    Some(Normal::standard().sf(x))
}

/// The quantile of Student's t with `df` degrees of freedom (∞ allowed: the normal); `None`
/// unless 0 < p < 1 (for finite df, within [`MIN_P`] of neither end) and df ≥ [`MIN_DF`].
pub fn qt(p: f64, df: f64) -> Option<f64> {
    if !open_unit(p) || !positive_df(df) {
        return None;
    }
    if df > LIMIT_DF {
        return qnorm(p);
    }
    if !(MIN_P..=1.0 - MIN_P).contains(&p) {
        return None;
    }
    StudentsT::new(0.0, 1.0, df).ok().map(|t| t.inverse_cdf(p))
}

/// P(T > x) for Student's t with `df` degrees of freedom (∞ allowed); `None` for a NaN x or
/// df ≤ 0.
pub fn pt_upper(x: f64, df: f64) -> Option<f64> {
    if x.is_nan() || !positive_df(df) {
        return None;
    }
    if x.is_infinite() {
        return Some(if x > 0.0 { 0.0 } else { 1.0 });
    }
    if df > LIMIT_DF {
        return pnorm_upper(x);
    }
    StudentsT::new(0.0, 1.0, df).ok().map(|t| t.sf(x))
}

/// The two-sided p-value 2·P(T > |x|) of a t statistic; `None` as [`pt_upper`].
pub fn pt_two_sided(x: f64, df: f64) -> Option<f64> {
    pt_upper(x.abs(), df).map(|p| (2.0 * p).min(1.0))
}

/// P(X > x) for X ~ χ²(k); `None` for a NaN x or k ≤ 0 or k infinite. Beyond [`LIMIT_DF`]
/// degrees of freedom, the normal limit (X − k)/√(2k).
pub fn pchisq_upper(x: f64, k: f64) -> Option<f64> {
    if x.is_nan() || !positive_df(k) || k.is_infinite() {
        return None;
    }
    if x <= 0.0 {
        return Some(1.0);
    }
    if x.is_infinite() {
        return Some(0.0);
    }
    if k > LIMIT_DF {
        return pnorm_upper((x - k) / (2.0 * k).sqrt());
    }
    ChiSquared::new(k).ok().map(|d| d.sf(x))
}

/// P(X > x) for X ~ F(d1, d2) (d2 = ∞ allowed: χ²(d1)/d1); `None` for a NaN x, d1 ≤ 0 or
/// beyond [`LIMIT_DF`], or d2 ≤ 0.
pub fn pf_upper(x: f64, d1: f64, d2: f64) -> Option<f64> {
    if x.is_nan() || !positive_df(d1) || d1 > LIMIT_DF || !positive_df(d2) {
        return None;
    }
    if x <= 0.0 {
        return Some(1.0);
    }
    if x.is_infinite() {
        return Some(0.0);
    }
    if d2 > LIMIT_DF {
        return pchisq_upper(x * d1, d1);
    }
    FisherSnedecor::new(d1, d2).ok().map(|f| f.sf(x))
}

/// The quantile of Beta(a, b). A degenerate a ≤ 0 is the point 0 and b ≤ 0 the point 1 (R's
/// Korn–Graubard interval at p = 0 or 1); `None` for NaN or infinite parameters or p outside
/// [0, 1] (or within [`MIN_P`] of either end).
pub fn qbeta(p: f64, a: f64, b: f64) -> Option<f64> {
    if !(0.0..=1.0).contains(&p) || a.is_nan() || b.is_nan() {
        return None;
    }
    if a <= 0.0 {
        return Some(0.0);
    }
    if b <= 0.0 {
        return Some(1.0);
    }
    if !(a + b).is_finite() {
        return None;
    }
    if p == 0.0 {
        return Some(0.0);
    }
    if p == 1.0 {
        return Some(1.0);
    }
    if !(MIN_P..=1.0 - MIN_P).contains(&p) {
        return None;
    }
    if a < QBETA_MIN_SHAPE {
        return Some(0.0);
    }
    if b < QBETA_MIN_SHAPE {
        return Some(1.0);
    }
    if a + b > QBETA_NORMAL_ABOVE {
        let s = a + b;
        let sd = (a * b / (s * s * (s + 1.0))).sqrt();
        return qnorm(p).map(|z| (a / s + z * sd).clamp(0.0, 1.0));
    }
    Beta::new(a, b).ok().map(|d| d.inverse_cdf(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ODD: [f64; 10] = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -1.0,
        1e300,
        -1e-300,
        1e-300,
        0.5,
        1e12,
    ];

    #[test]
    fn every_function_answers_every_input_without_panicking() {
        for &a in &ODD {
            for &b in &ODD {
                let _ = qnorm(a);
                let _ = pnorm_upper(a);
                let _ = qt(a, b);
                let _ = pt_upper(a, b);
                let _ = pt_two_sided(a, b);
                let _ = pchisq_upper(a, b);
                for &c in &ODD {
                    let _ = pf_upper(a, b, c);
                    let _ = qbeta(a, b, c);
                }
            }
        }
    }

    #[test]
    fn undefined_values_are_none() {
        assert_eq!(qnorm(0.0), None);
        assert_eq!(qnorm(1.0), None);
        assert_eq!(qnorm(f64::NAN), None);
        assert_eq!(qt(0.975, 0.0), None);
        assert_eq!(qt(0.975, -3.0), None);
        assert_eq!(qt(0.975, f64::NAN), None);
        // 0/0: a t statistic of a domain with no variation.
        assert_eq!(pt_two_sided(f64::NAN, 10.0), None);
        assert_eq!(pt_upper(1.0, 0.0), None);
        assert_eq!(pf_upper(f64::NAN, 2.0, 10.0), None);
        assert_eq!(pf_upper(1.0, 0.0, 10.0), None);
        assert_eq!(pf_upper(1.0, 2.0, f64::NAN), None);
        assert_eq!(pchisq_upper(1.0, 0.0), None);
        assert_eq!(qbeta(0.5, f64::NAN, 1.0), None);
        assert_eq!(qbeta(0.5, f64::INFINITY, 1.0), None);
        assert_eq!(qbeta(1.5, 1.0, 1.0), None);
    }

    #[test]
    fn limits_and_edges() {
        // An infinite statistic is certain; a zero F or χ² is no evidence.
        assert_eq!(pt_two_sided(f64::INFINITY, 5.0), Some(0.0));
        assert_eq!(pt_upper(f64::NEG_INFINITY, 5.0), Some(1.0));
        assert_eq!(pf_upper(0.0, 2.0, 10.0), Some(1.0));
        assert_eq!(pf_upper(f64::INFINITY, 2.0, 10.0), Some(0.0));
        assert_eq!(pchisq_upper(0.0, 3.0), Some(1.0));
        // Infinite degrees of freedom are the normal and χ²/ν.
        let z = qnorm(0.975).unwrap();
        assert!((z - 1.959963984540054).abs() < 1e-12);
        assert_eq!(qt(0.975, f64::INFINITY), Some(z));
        assert_eq!(qt(0.975, 1e300), Some(z));
        let p = pt_two_sided(1.959963984540054, f64::INFINITY).unwrap();
        assert!((p - 0.05).abs() < 1e-10, "{p}"); // statrs' erfc: 2e-12
        let f = pf_upper(2.0, 3.0, f64::INFINITY).unwrap();
        assert!((f - pchisq_upper(6.0, 3.0).unwrap()).abs() < 1e-15);
        // Closed forms: t(1) is Cauchy, P(T > 2) = 1/2 − atan(2)/π; F(2, d2) has
        // P(X > x) = (1 + 2x/d2)^(−d2/2), here 1.6^−5.
        let cauchy = 0.5 - 2f64.atan() / std::f64::consts::PI;
        assert!((pt_upper(2.0, 1.0).unwrap() - cauchy).abs() < 1e-12);
        assert!((pf_upper(3.0, 2.0, 10.0).unwrap() - 1.6f64.powi(-5)).abs() < 1e-12);
        // The Korn–Graubard edges.
        assert_eq!(qbeta(0.025, 0.0, 5.0), Some(0.0));
        assert_eq!(qbeta(0.975, 5.0, 0.0), Some(1.0));
        // The huge a + b of a noise-level SE answers at once (statrs alone loops).
        let q = qbeta(0.975, 0.3 * 2e23, 0.7 * 2e23).unwrap();
        assert!((q - 0.3).abs() < 1e-9);
    }
}

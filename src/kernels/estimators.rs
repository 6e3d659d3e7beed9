//! Design-based estimators with linearized standard errors, as R's `svymean`, `svytotal`,
//! `svyciprop` and `svyquantile` compute them (methods.md §2–§4, §8–§10).
//!
//! Domains are never subsets: a row outside the domain (or with a missing value) keeps its
//! place in the design with a zero influence score, so domain SEs keep the full design and the
//! full calibration structure, as `svyby` does.
//!
//! Missing values are `NaN` in `y`. Degenerate inputs: an estimate over no rows is `NaN` with
//! `n = 0`.

use super::calibration::Calibration;
use super::design::Design;
use super::intervals::{quantile, woodruff_f_interval, QRule, WoodruffCi};
use super::sum;

/// A weighted design with its calibration: what every estimator needs.
#[derive(Debug, Clone, Copy)]
pub struct Survey<'a> {
    pub design: &'a Design,
    pub weights: &'a [f64],
    pub calibration: &'a Calibration,
}

/// A point estimate with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub se: f64,
    /// Rows used: in the domain, non-missing, weight > 0.
    pub n: usize,
    pub weight_sum: f64,
    /// Design effect against SRS without replacement (R's `deff = TRUE`).
    pub deff: f64,
    /// Design degrees of freedom over the used rows.
    pub df: f64,
}

/// A quantile with its Woodruff interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileEstimate {
    pub value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub se: f64,
    pub n: usize,
    pub weight_sum: f64,
    pub df: f64,
}

/// Σw y / Σw over the rows used; exactly the common value when every used y is the same, so
/// that the influence scores y − ȳ of a domain without variation are exactly 0 and its SE is 0
/// (as R reports it), not rounding noise.
fn hajek_mean(y: &[f64], used: &[bool], w: &[f64], wsum: f64) -> f64 {
    let mut values = (0..y.len()).filter(|&i| used[i]).map(|i| y[i]);
    if let Some(first) = values.next() {
        if values.all(|v| v == first) {
            return first;
        }
    }
    sum((0..y.len()).filter(|&i| used[i]).map(|i| w[i] * y[i])) / wsum
}

/// Two-sided critical value: t(df) or, for infinite df, normal.
pub fn critical(level: f64, df: f64) -> f64 {
    if df >= 1.0 {
        super::dist::qt(0.5 + level / 2.0, df).unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// est ± z·SE (R's `confint` default for means and totals: df = ∞).
pub fn ci_normal(est: f64, se: f64, level: f64) -> (f64, f64) {
    let z = critical(level, f64::INFINITY);
    (est - z * se, est + z * se)
}

/// R's `svyciprop(method = "xlogit")`: expit(logit p ± t·SE/(p(1−p))), t on `df`.
/// For p = 0 or 1 the interval collapses to the point.
pub fn ci_logit(p: f64, se: f64, df: f64, level: f64) -> (f64, f64) {
    if p <= 0.0 || p >= 1.0 {
        return (p, p);
    }
    let t = critical(level, df);
    let logit = (p / (1.0 - p)).ln();
    let half = t * se / (p * (1.0 - p));
    let expit = |x: f64| 1.0 / (1.0 + (-x).exp());
    (expit(logit - half), expit(logit + half))
}

/// Kish effective sample size (Σw)²/Σw² over the weights given.
pub fn kish_ess(w: &[f64]) -> f64 {
    let s = sum(w.iter().copied());
    let s2 = sum(w.iter().map(|x| x * x));
    if s2 > 0.0 {
        s * s / s2
    } else {
        f64::NAN
    }
}

impl Survey<'_> {
    fn used(&self, y: &[f64], domain: Option<&[bool]>) -> Vec<bool> {
        (0..y.len())
            .map(|i| self.weights[i] > 0.0 && !y[i].is_nan() && domain.is_none_or(|d| d[i]))
            .collect()
    }

    /// Degrees of freedom of a domain (all rows when `None`): PSUs − strata of its rows with a
    /// positive weight, answered or not — R's `degf()` of `svyby`'s subset, which `confint`
    /// and `svyciprop` take before any missing answer is dropped.
    pub fn domain_degf(&self, domain: Option<&[bool]>) -> f64 {
        self.design
            .degf(|i| self.weights[i] > 0.0 && domain.is_none_or(|d| d[i]))
    }

    /// Linearized variance of a total of influence scores `z`, after the calibration residual.
    pub fn variance(&self, mut z: Vec<f64>) -> f64 {
        self.calibration.residualize(&mut z);
        self.design.variance(&z)
    }

    /// Weighted (Hájek) mean Σw y / Σw over the domain, with its linearized SE.
    pub fn mean(&self, y: &[f64], domain: Option<&[bool]>) -> Estimate {
        self.mean_or_total(y, domain, false)
    }

    /// Weighted total Σ w y over the domain.
    pub fn total(&self, y: &[f64], domain: Option<&[bool]>) -> Estimate {
        self.mean_or_total(y, domain, true)
    }

    /// Ratio of weighted totals Σw·y / Σw·x over the domain (rows where both are present), with
    /// its linearized SE: z = w (y − R x) / Σw·x (R's `svyratio`).
    pub fn ratio(&self, y: &[f64], x: &[f64], domain: Option<&[bool]>) -> Estimate {
        let both: Vec<f64> = y
            .iter()
            .zip(x)
            .map(|(a, b)| if b.is_nan() { f64::NAN } else { *a })
            .collect();
        let used = self.used(&both, domain);
        let w = self.weights;
        let idx = || (0..y.len()).filter(|&i| used[i]);
        let n = idx().count();
        let df = self.domain_degf(domain);
        let wsum = sum(idx().map(|i| w[i]));
        let tx = sum(idx().map(|i| w[i] * x[i]));
        let ty = sum(idx().map(|i| w[i] * y[i]));
        if n == 0 || tx == 0.0 {
            return Estimate {
                value: f64::NAN,
                se: f64::NAN,
                n,
                weight_sum: wsum,
                deff: f64::NAN,
                df,
            };
        }
        let r = ty / tx;
        let z: Vec<f64> = (0..y.len())
            .map(|i| {
                if used[i] {
                    w[i] * (y[i] - r * x[i]) / tx
                } else {
                    0.0
                }
            })
            .collect();
        Estimate {
            value: r,
            se: self.variance(z).sqrt(),
            n,
            weight_sum: wsum,
            deff: f64::NAN,
            df,
        }
    }

    /// The mean over a domain and its (unresidualized) influence scores.
    pub(crate) fn mean_influence(&self, y: &[f64], domain: Option<&[bool]>) -> (f64, Vec<f64>) {
        let used = self.used(y, domain);
        let w = self.weights;
        let wsum = sum((0..y.len()).filter(|&i| used[i]).map(|i| w[i]));
        let mean = hajek_mean(y, &used, w, wsum);
        let z = (0..y.len())
            .map(|i| {
                if used[i] {
                    w[i] * (y[i] - mean) / wsum
                } else {
                    0.0
                }
            })
            .collect();
        (mean, z)
    }

    /// Difference of the means over domains `a` and `b` (e.g. a segment and the rest of the
    /// sector) with its linearized SE: both estimates' influence scores over the full design.
    pub fn mean_difference(&self, y: &[f64], a: &[bool], b: &[bool]) -> (f64, f64) {
        let (ma, za) = self.mean_influence(y, Some(a));
        let (mb, zb) = self.mean_influence(y, Some(b));
        let z: Vec<f64> = za.iter().zip(&zb).map(|(x, y)| x - y).collect();
        (ma - mb, self.variance(z).sqrt())
    }

    fn mean_or_total(&self, y: &[f64], domain: Option<&[bool]>, total: bool) -> Estimate {
        let used = self.used(y, domain);
        let w = self.weights;
        let n = used.iter().filter(|u| **u).count();
        let idx = || (0..y.len()).filter(|&i| used[i]);
        let wsum = sum(idx().map(|i| w[i]));
        let df = self.domain_degf(domain);
        if n == 0 {
            return Estimate {
                value: f64::NAN,
                se: f64::NAN,
                n,
                weight_sum: 0.0,
                deff: f64::NAN,
                df,
            };
        }
        let ty = sum(idx().map(|i| w[i] * y[i]));
        let mean = hajek_mean(y, &used, w, wsum);
        let z: Vec<f64> = (0..y.len())
            .map(|i| {
                if !used[i] {
                    0.0
                } else if total {
                    w[i] * y[i]
                } else {
                    w[i] * (y[i] - mean) / wsum
                }
            })
            .collect();
        let v = self.variance(z);
        let nf = n as f64;
        let s2 = nf / (nf - 1.0) * sum(idx().map(|i| w[i] * (y[i] - mean) * (y[i] - mean))) / wsum;
        let vsrs_mean = s2 * (wsum - nf) / (wsum * nf);
        let vsrs = if total {
            vsrs_mean * wsum * wsum
        } else {
            vsrs_mean
        };
        Estimate {
            value: if total { ty } else { mean },
            se: v.sqrt(),
            n,
            weight_sum: wsum,
            deff: v / vsrs,
            df,
        }
    }

    /// Quantile by R's `qrule = "math"` (the inverse ECDF), with the Woodruff interval
    /// (`interval.type = "mean"`) on t(df) of the domain.
    pub fn quantile(
        &self,
        y: &[f64],
        domain: Option<&[bool]>,
        p: f64,
        level: f64,
    ) -> QuantileEstimate {
        self.quantile_with(y, domain, p, QRule::Math, WoodruffCi::Mean, level)
    }

    /// Quantile by any of R's `qrule`s with a Woodruff interval of the given type: F̂ at the
    /// quantile is estimated over the domain with the full design, its CI formed on t(df) and
    /// mapped back with the same rule; SE = (upper − lower) / (2 t).
    pub fn quantile_with(
        &self,
        y: &[f64],
        domain: Option<&[bool]>,
        p: f64,
        rule: QRule,
        interval: WoodruffCi,
        level: f64,
    ) -> QuantileEstimate {
        let used = self.used(y, domain);
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| used[i]).collect();
        // svyquantile drops the missing answers before it takes degf(): the answered rows' PSUs.
        let df = self.design.degf(|i| used[i]);
        let n = rows.len();
        let weight_sum = sum(rows.iter().map(|&i| self.weights[i]));
        if n == 0 {
            return QuantileEstimate {
                value: f64::NAN,
                ci_low: f64::NAN,
                ci_high: f64::NAN,
                se: f64::NAN,
                n,
                weight_sum,
                df,
            };
        }
        rows.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
        let xs: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
        let ws: Vec<f64> = rows.iter().map(|&i| self.weights[i]).collect();
        let value = quantile(&xs, &ws, p, rule);
        let ind: Vec<f64> = (0..y.len())
            .map(|i| {
                if used[i] {
                    f64::from(u8::from(y[i] <= value))
                } else {
                    f64::NAN
                }
            })
            .collect();
        let t = critical(level, df);
        let (ci_low, ci_high) = if interval == WoodruffCi::Score {
            self.score_interval(y, &used, domain, &xs, &ws, p, rule, t)
        } else {
            // F̂ on the answered rows' df, as svyquantile (its missing answers dropped first).
            let f = Estimate {
                df,
                ..self.mean(&ind, domain)
            };
            woodruff_back(&xs, &ws, &f, rule, interval, level, self.weights.len())
        };
        QuantileEstimate {
            value,
            ci_low,
            ci_high,
            se: (ci_high - ci_low) / (2.0 * t),
            n,
            weight_sum,
            df,
        }
    }
}

/// Woodruff: the CI of F̂ at the quantile (`f`: estimate, SE, df) mapped back to the sorted
/// values `xs` (weights `ws`) through the same rule; an endpoint outside [0, 1] is NaN.
pub(crate) fn woodruff_back(
    xs: &[f64],
    ws: &[f64],
    f: &Estimate,
    rule: QRule,
    interval: WoodruffCi,
    level: f64,
    nrow: usize,
) -> (f64, f64) {
    let (lo, hi) = woodruff_f_interval(interval, f.value, f.se, f.df, nrow, level);
    let back = |q: f64| {
        if (0.0..=1.0).contains(&q) {
            quantile(xs, ws, q, rule)
        } else {
            f64::NAN
        }
    };
    (back(lo), back(hi))
}

impl Survey<'_> {
    /// R's `interval.type = "score"` (Francisco and Fuller, `ffullerCI`): the θ where the score
    /// statistic of U(θ) = 1{x > θ} − (1 − p) equals ±t — found, as R's `uniroot` does, within
    /// [min + IQR/100, max − IQR/100] — and the quantiles, by the same rule, at the unweighted
    /// shares of values at or below them. U is a step function of θ, so each root is a data
    /// value; which side of it `uniroot` stops on is taken as the side where |score| is smaller
    /// (its convergence rule). R documents this interval as approximate (methods.md §12).
    #[allow(clippy::too_many_arguments)]
    fn score_interval(
        &self,
        y: &[f64],
        used: &[bool],
        domain: Option<&[bool]>,
        xs: &[f64],
        ws: &[f64],
        p: f64,
        rule: QRule,
        t: f64,
    ) -> (f64, f64) {
        let n = xs.len();
        if n < 2 {
            return (f64::NAN, f64::NAN);
        }
        // R's IQR (type-7 quantiles of the unweighted values).
        let q7 = |prob: f64| {
            let h = (n - 1) as f64 * prob;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            xs[lo] + (h - lo as f64) * (xs[hi] - xs[lo])
        };
        let iqr = q7(0.75) - q7(0.25);
        let (lower, upper) = (xs[0] + iqr / 100.0, xs[n - 1] - iqr / 100.0);
        let score = |theta: f64| {
            let ind: Vec<f64> = (0..y.len())
                .map(|i| {
                    if used[i] {
                        f64::from(u8::from(y[i] > theta))
                    } else {
                        f64::NAN
                    }
                })
                .collect();
            let e = self.mean(&ind, domain);
            (e.value - (1.0 - p)) / e.se
        };
        let mut unique: Vec<f64> = xs
            .iter()
            .copied()
            .filter(|&x| x > lower && x < upper)
            .collect();
        unique.dedup();
        let root = |limit: f64| -> f64 {
            let g = |theta: f64| score(theta) - limit;
            let (g_lo, g_hi) = (g(lower), g(upper));
            if g_lo.is_nan() || g_hi.is_nan() || (g_lo > 0.0) == (g_hi > 0.0) {
                return f64::NAN;
            }
            // g is constant between data values: find the first data value past the sign change.
            let (mut a, mut b) = (0usize, unique.len());
            while a < b {
                let m = (a + b) / 2;
                if (g(unique[m]) > 0.0) == (g_lo > 0.0) {
                    a = m + 1;
                } else {
                    b = m;
                }
            }
            if a >= unique.len() {
                return upper;
            }
            let before = if a == 0 { g_lo } else { g(unique[a - 1]) };
            let at = g(unique[a]);
            if at.abs() <= before.abs() {
                unique[a]
            } else {
                // Just below the data value: it is not counted.
                f64::from_bits(unique[a].to_bits() - 1)
            }
        };
        let share = |theta: f64| xs.iter().filter(|&&x| x <= theta).count() as f64 / n as f64;
        let (q_low, q_up) = (root(t), root(-t));
        let back = |theta: f64| {
            if theta.is_nan() {
                f64::NAN
            } else {
                quantile(xs, ws, share(theta), rule)
            }
        };
        (back(q_low), back(q_up))
    }
}

/// R's `qrule_math` on sorted values and their weights: the smallest x with F̂(x) ≥ p, with R's
/// `qs()` position rule (cumulative sums compensated, `wlow == 0` tested exactly).
pub fn quantile_math(xs: &[f64], ws: &[f64], p: f64) -> f64 {
    quantile(xs, ws, p, QRule::Math)
}

/// Benjamini–Hochberg adjusted p-values (R's `p.adjust(method = "BH")`).
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut out = vec![f64::NAN; m];
    let mut running = f64::INFINITY;
    for (rank_from_top, &i) in order.iter().enumerate() {
        let rank = m - rank_from_top;
        if p[i].is_nan() {
            continue;
        }
        running = running.min(p[i] * m as f64 / rank as f64);
        out[i] = running.min(1.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srs_mean_and_its_deff_of_one() {
        let d = Design::srs(5, None).unwrap();
        let w = vec![1.0; 5];
        let cal = Calibration::None;
        let s = Survey {
            design: &d,
            weights: &w,
            calibration: &cal,
        };
        let e = s.mean(&[1.0, 2.0, 3.0, 4.0, 5.0], None);
        assert_eq!(e.value, 3.0);
        // var(y)/n = 2.5/5.
        assert!((e.se - (0.5_f64).sqrt()).abs() < 1e-12);
        assert_eq!(e.df, 4.0);
    }

    #[test]
    fn quantile_math_is_the_inverse_ecdf() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        let ws = [1.0; 4];
        assert_eq!(quantile_math(&xs, &ws, 0.5), 2.0);
        assert_eq!(quantile_math(&xs, &ws, 0.51), 3.0);
        assert_eq!(quantile_math(&xs, &ws, 1.0), 4.0);
    }

    #[test]
    fn domain_rows_outside_keep_the_design() {
        let d = Design::srs(4, None).unwrap();
        let w = vec![1.0; 4];
        let cal = Calibration::None;
        let s = Survey {
            design: &d,
            weights: &w,
            calibration: &cal,
        };
        let dom = [true, true, false, false];
        let e = s.mean(&[1.0, 3.0, 100.0, 100.0], Some(&dom));
        assert_eq!(e.value, 2.0);
        assert_eq!(e.n, 2);
        // z = (−0.5, 0.5, 0, 0): V = 4/3 · 0.5.
        assert!((e.se * e.se - 4.0 / 3.0 * 0.5).abs() < 1e-12);
    }
}

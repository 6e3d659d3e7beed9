//! Confidence intervals for proportions as R's `svyciprop` computes them (methods.md §9), and
//! quantile rules and Woodruff intervals as `svyquantile` does (§8).

use super::estimators::critical;

/// Proportion CI methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropCi {
    /// `xlogit`/`logit`: expit(logit p ± t·SE/(p(1−p))).
    Logit,
    /// p ± t·SE.
    Mean,
    /// sin²(asin √p ± t·SE/(2√(p(1−p)))).
    Asin,
    /// Korn–Graubard (`beta`), with R's degrees-of-freedom adjustment of the effective n.
    Beta,
    /// Wilson score interval on the effective sample size p(1−p)/SE².
    Wilson,
}

fn qt(p: f64, df: f64) -> f64 {
    super::dist::qt(p, df).unwrap_or(f64::NAN)
}

fn qbeta(p: f64, a: f64, b: f64) -> f64 {
    super::dist::qbeta(p, a, b).unwrap_or(f64::NAN)
}

/// CI for a proportion `p` with standard error `se`, on `df` design degrees of freedom.
/// `nrow` is the number of rows of the design (R's Korn–Graubard uses it, not the domain's n).
pub fn proportion_ci(
    method: PropCi,
    p: f64,
    se: f64,
    df: f64,
    nrow: usize,
    level: f64,
) -> (f64, f64) {
    let alpha = 1.0 - level;
    let t = critical(level, df);
    match method {
        PropCi::Mean => (p - t * se, p + t * se),
        PropCi::Logit => {
            if p <= 0.0 || p >= 1.0 {
                return (p, p);
            }
            let l = (p / (1.0 - p)).ln();
            let h = t * se / (p * (1.0 - p));
            let expit = |x: f64| 1.0 / (1.0 + (-x).exp());
            (expit(l - h), expit(l + h))
        }
        PropCi::Asin => {
            if p <= 0.0 || p >= 1.0 {
                return (p, p);
            }
            let a = p.sqrt().asin();
            let h = t * se / (2.0 * (p * (1.0 - p)).sqrt());
            let sq = |x: f64| x.clamp(0.0, std::f64::consts::FRAC_PI_2).sin().powi(2);
            (sq(a - h), sq(a + h))
        }
        PropCi::Beta => {
            let n_eff = if se > 0.0 {
                p * (1.0 - p) / (se * se)
            } else {
                nrow as f64
            };
            let ratio = qt(alpha / 2.0, nrow as f64 - 1.0) / qt(alpha / 2.0, df);
            let n = n_eff * ratio * ratio;
            (
                qbeta(alpha / 2.0, n * p, n * (1.0 - p) + 1.0),
                qbeta(1.0 - alpha / 2.0, n * p + 1.0, n * (1.0 - p)),
            )
        }
        PropCi::Wilson => {
            let n = if se > 0.0 {
                p * (1.0 - p) / (se * se)
            } else {
                f64::INFINITY
            };
            let z = t;
            let denom = 1.0 + z * z / n;
            let centre = (p + z * z / (2.0 * n)) / denom;
            let half = z / denom * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
            ((centre - half).max(0.0), (centre + half).min(1.0))
        }
    }
}

/// Quantile rules of R's `svyquantile` (`qrule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QRule {
    /// `math` = `hf1`: the inverse of the weighted ECDF.
    Math,
    /// `school` = `hf2`.
    School,
    Hf3,
    Hf4,
    Hf5,
    Hf6,
    Hf7,
    Hf8,
    Hf9,
    /// `shahvaish` (Shah & Vaish): a step function at p_k = (S_k + 0.5 − w_k/2)/(n+1),
    /// S = cumsum(w/mean(w)), with R's quirk of the raw w_k (methods.md §8): reproduced for
    /// completeness; with unequal weights its estimate can fall outside its own interval.
    ShahVaish,
}

impl QRule {
    pub fn parse(s: &str) -> Option<QRule> {
        Some(match s {
            "math" | "hf1" => QRule::Math,
            "school" | "hf2" => QRule::School,
            "hf3" => QRule::Hf3,
            "hf4" => QRule::Hf4,
            "hf5" => QRule::Hf5,
            "hf6" => QRule::Hf6,
            "hf7" => QRule::Hf7,
            "hf8" => QRule::Hf8,
            "hf9" => QRule::Hf9,
            "shahvaish" => QRule::ShahVaish,
            _ => return None,
        })
    }
}

/// Cumulative sums, compensated (R accumulates in long double).
fn cumsum(ws: &[f64]) -> Vec<f64> {
    let (mut s, mut c) = (0.0_f64, 0.0_f64);
    ws.iter()
        .map(|&w| {
            let t = s + w;
            if s.abs() >= w.abs() {
                c += (s - t) + w;
            } else {
                c += (w - t) + s;
            }
            s = t;
            s + c
        })
        .collect()
}

/// R's `qs()`: (pos, next, wlow, wup) with 0-based positions.
fn qs(cum: &[f64], p: f64) -> (usize, usize, f64, f64) {
    let n = cum.len();
    let total = cum[n - 1];
    let pos = cum.iter().rposition(|&ck| ck <= p * total).unwrap_or(0);
    let next = (pos + 1).min(n - 1);
    (pos, next, p - cum[pos] / total, cum[next] / total - p)
}

/// R's `approx(pk, x, p, rule = 2)`: linear interpolation, end values outside.
fn approx(pk: &[f64], xs: &[f64], p: f64) -> f64 {
    let n = pk.len();
    if p <= pk[0] {
        return xs[0];
    }
    if p >= pk[n - 1] {
        return xs[n - 1];
    }
    let j = pk.iter().rposition(|&v| v <= p).unwrap_or(0);
    if pk[j] == p || j + 1 >= n {
        return xs[j];
    }
    xs[j] + (xs[j + 1] - xs[j]) * (p - pk[j]) / (pk[j + 1] - pk[j])
}

/// The `p` quantile of sorted values `xs` with weights `ws` (no zero weights) by `rule`.
pub fn quantile(xs: &[f64], ws: &[f64], p: f64, rule: QRule) -> f64 {
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    let cum = cumsum(ws);
    let total = cum[n - 1];
    match rule {
        QRule::Math | QRule::School | QRule::Hf4 => {
            let (pos, next, wlow, wup) = qs(&cum, p);
            match rule {
                QRule::Math => {
                    if wlow == 0.0 {
                        xs[pos]
                    } else {
                        xs[next]
                    }
                }
                QRule::School => {
                    if wlow == 0.0 {
                        (xs[pos] + xs[next]) / 2.0
                    } else {
                        xs[next]
                    }
                }
                _ => {
                    let g = wlow / (wlow + wup);
                    xs[pos] * (1.0 - g) + xs[next] * g
                }
            }
        }
        QRule::Hf3 => {
            let mut ux: Vec<f64> = Vec::new();
            let mut uw: Vec<f64> = Vec::new();
            for (&x, &w) in xs.iter().zip(ws) {
                if ux.last() == Some(&x) {
                    *uw.last_mut().unwrap_or(&mut 0.0) += w;
                } else {
                    ux.push(x);
                    uw.push(w);
                }
            }
            let ucum = cumsum(&uw);
            let (pos, next, wlow, _) = qs(&ucum, p);
            // R's pos is 1-based: "even" means an odd 0-based index.
            if wlow == 0.0 && (pos + 1) % 2 == 0 {
                ux[pos]
            } else {
                ux[next]
            }
        }
        QRule::ShahVaish => {
            let mean_w = total / n as f64;
            let s = cumsum(&ws.iter().map(|w| w / mean_w).collect::<Vec<_>>());
            // R's approx(pk, x, p, method = "constant", f = 0, rule = 2): pairs sorted by p_k,
            // tied p_k averaged, then the value at the last p_k ≤ p (end values outside).
            let mut pairs: Vec<(f64, f64)> = (0..n)
                .map(|k| ((s[k] + 0.5 - ws[k] / 2.0) / (n as f64 + 1.0), xs[k]))
                .collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut steps: Vec<(f64, f64, usize)> = Vec::new();
            for (pk, x) in pairs {
                match steps.last_mut() {
                    Some(last) if last.0 == pk => {
                        last.1 += x;
                        last.2 += 1;
                    }
                    _ => steps.push((pk, x, 1)),
                }
            }
            let value = |i: usize| steps[i].1 / steps[i].2 as f64;
            match steps.iter().rposition(|s| s.0 <= p) {
                Some(i) => value(i),
                None => value(0),
            }
        }
        QRule::Hf5 | QRule::Hf6 | QRule::Hf7 | QRule::Hf8 | QRule::Hf9 => {
            let wn = ws[n - 1];
            let prev = |k: usize| if k == 0 { 0.0 } else { cum[k - 1] };
            let pk: Vec<f64> = (0..n)
                .map(|k| match rule {
                    QRule::Hf5 => (cum[k] - ws[k] / 2.0) / total,
                    QRule::Hf6 => cum[k] / (total + wn),
                    QRule::Hf7 => prev(k) / if n > 1 { cum[n - 2] } else { total },
                    QRule::Hf8 => (prev(k) / 3.0 + 2.0 * cum[k] / 3.0) / (total + wn / 3.0),
                    _ => (3.0 * prev(k) / 8.0 + 5.0 * cum[k] / 8.0) / (total + wn / 4.0),
                })
                .collect();
            approx(&pk, xs, p)
        }
    }
}

/// Interval types of `svyquantile`: the Woodruff intervals (a CI for F̂ mapped back through
/// the quantile rule) and `score`, Francisco and Fuller's inverted score test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WoodruffCi {
    Mean,
    Xlogit,
    Asin,
    Beta,
    /// Francisco–Fuller: not a Woodruff interval; see `Survey::quantile_with`.
    Score,
}

impl WoodruffCi {
    pub fn parse(s: &str) -> Option<WoodruffCi> {
        Some(match s {
            "mean" => WoodruffCi::Mean,
            "xlogit" => WoodruffCi::Xlogit,
            "asin" => WoodruffCi::Asin,
            "beta" => WoodruffCi::Beta,
            "score" => WoodruffCi::Score,
            _ => return None,
        })
    }
}

/// The CI for F̂ (the proportion at or below the quantile) that the Woodruff method maps back.
pub fn woodruff_f_interval(
    kind: WoodruffCi,
    f: f64,
    se: f64,
    df: f64,
    nrow: usize,
    level: f64,
) -> (f64, f64) {
    match kind {
        WoodruffCi::Mean => proportion_ci(PropCi::Mean, f, se, df, nrow, level),
        WoodruffCi::Xlogit => proportion_ci(PropCi::Logit, f, se, df, nrow, level),
        WoodruffCi::Asin => proportion_ci(PropCi::Asin, f, se, df, nrow, level),
        WoodruffCi::Beta => proportion_ci(PropCi::Beta, f, se, df, nrow, level),
        // The score interval is not built from F̂'s CI.
        WoodruffCi::Score => (f64::NAN, f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korn_graubard_with_a_noise_se_returns_promptly() {
        // SE of 1e-12 on p = 0.3: effective n ≈ 2e23 (statrs alone loops on such parameters).
        let (lo, hi) = proportion_ci(PropCi::Beta, 0.3, 1e-12, 1e6, 1_000_000, 0.95);
        assert!((lo - 0.3).abs() < 1e-9 && (hi - 0.3).abs() < 1e-9 && lo <= hi);
        // Tiny a with a huge b: the lower bound is 0, the upper just above p.
        let (lo, hi) = proportion_ci(PropCi::Beta, 1e-9, 1e-9, 1e6, 1_000_000, 0.95);
        assert!(
            (0.0..1e-8).contains(&lo) && hi > 1e-9 && hi < 1e-7,
            "{lo} {hi}"
        );
        // Below the switch the exact Beta quantile is used: R's qbeta(0.025, 30, 71).
        assert!((qbeta(0.025, 30.0, 71.0) - 0.212_406_420_5).abs() < 1e-9);
    }

    #[test]
    fn rules_agree_on_an_unweighted_sample() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        let ws = [1.0; 4];
        assert_eq!(quantile(&xs, &ws, 0.5, QRule::Math), 2.0);
        assert_eq!(quantile(&xs, &ws, 0.5, QRule::School), 2.5);
        // Type 7 is R's default `quantile()`: 2.5 for the median of 1..4.
        assert!((quantile(&xs, &ws, 0.5, QRule::Hf7) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn wilson_stays_inside_the_unit_interval() {
        let (lo, hi) = proportion_ci(PropCi::Wilson, 0.02, 0.01, 100.0, 200, 0.95);
        assert!((0.0..0.02).contains(&lo) && hi > 0.02 && hi <= 1.0);
    }
}

//! Replicate-weight variance, as R's `as.svrepdesign` and `svrVar` compute it: jackknife JK1
//! (delete one PSU; scale (1 − f)(n − 1)/n), stratified jackknife JKn (delete one PSU within its
//! stratum; replicate scale (1 − f_h)(n_h − 1)/n_h), and the Rao–Wu bootstrap (n_h − 1 PSUs drawn
//! with replacement in each stratum; scale 1/(R − 1)) from a seeded ChaCha8 stream. Variances are
//! centred on the mean of the replicates (R's default `mse = FALSE`).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Replicate weight multipliers (one row of n per replicate) and their scales.
#[derive(Debug, Clone)]
pub struct ReplicateSet {
    /// `weights[r][i]`: replicate r's weight of row i (multipliers until calibrated).
    pub weights: Vec<Vec<f64>>,
    pub rscales: Vec<f64>,
    pub scale: f64,
}

fn psus_by_stratum(strata: &[u32], psu: &[u32]) -> Vec<Vec<u32>> {
    let n_strata = strata.iter().max().map_or(0, |m| *m as usize + 1);
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); n_strata];
    for (h, c) in strata.iter().zip(psu) {
        if !out[*h as usize].contains(c) {
            out[*h as usize].push(*c);
        }
    }
    out
}

/// JK1 over all PSUs; `fraction` is the sampling fraction of PSUs (0 without FPC).
pub fn jk1(psu: &[u32], fraction: f64) -> ReplicateSet {
    let mut unique: Vec<u32> = psu.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let n = unique.len() as f64;
    let weights = unique
        .iter()
        .map(|&r| {
            psu.iter()
                .map(|&c| if c == r { 0.0 } else { n / (n - 1.0) })
                .collect()
        })
        .collect();
    ReplicateSet {
        weights,
        rscales: vec![1.0; unique.len()],
        scale: (1.0 - fraction) * (n - 1.0) / n,
    }
}

/// JKn: one replicate per PSU, deleting it within its stratum; `fractions[h]` per stratum.
pub fn jkn(strata: &[u32], psu: &[u32], fractions: &[f64]) -> ReplicateSet {
    let mut weights = Vec::new();
    let mut rscales = Vec::new();
    for (h, members) in psus_by_stratum(strata, psu).iter().enumerate() {
        let nh = members.len() as f64;
        for &r in members {
            weights.push(
                strata
                    .iter()
                    .zip(psu)
                    .map(|(&s, &c)| {
                        if s as usize != h {
                            1.0
                        } else if c == r {
                            0.0
                        } else {
                            nh / (nh - 1.0)
                        }
                    })
                    .collect(),
            );
            rscales.push((1.0 - fractions.get(h).copied().unwrap_or(0.0)) * (nh - 1.0) / nh);
        }
    }
    ReplicateSet {
        weights,
        rscales,
        scale: 1.0,
    }
}

/// Rao–Wu bootstrap: in each stratum draw n_h − 1 PSUs with replacement; a PSU drawn k times gets
/// the multiplier k · n_h/(n_h − 1).
pub fn bootstrap(strata: &[u32], psu: &[u32], replicates: usize, seed: u64) -> ReplicateSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let groups = psus_by_stratum(strata, psu);
    let n_psu = psu.iter().max().map_or(0, |m| *m as usize + 1);
    let mut weights = Vec::with_capacity(replicates);
    for _ in 0..replicates {
        let mut mult = vec![0.0; n_psu];
        for members in &groups {
            let nh = members.len();
            for _ in 0..nh.saturating_sub(1) {
                let pick = members[(rng.next_u64() % nh as u64) as usize] as usize;
                mult[pick] += nh as f64 / (nh as f64 - 1.0);
            }
        }
        weights.push(psu.iter().map(|&c| mult[c as usize]).collect());
    }
    ReplicateSet {
        weights,
        rscales: vec![1.0; replicates],
        scale: 1.0 / (replicates as f64 - 1.0),
    }
}

/// A replicate weight as the estimators read it: a row a replicate's calibration could not
/// weight (0 × target / 0 in a post-stratum it emptied) counts as weight 0, as in
/// [`replicate_se`], which skips rows without a positive weight.
fn usable(w: f64) -> f64 {
    if w.is_finite() && w > 0.0 {
        w
    } else {
        0.0
    }
}

/// `svrVar`: scale · Σ_r rscale_r (θ_r − θ̄)², θ̄ the mean of the replicates.
pub fn replicate_variance(thetas: &[f64], rscales: &[f64], scale: f64) -> f64 {
    let used: Vec<f64> = thetas
        .iter()
        .zip(rscales)
        .filter(|(_, s)| **s > 0.0)
        .map(|(t, _)| *t)
        .collect();
    if used.is_empty() {
        return f64::NAN;
    }
    let mean = super::sum(used.iter().copied()) / used.len() as f64;
    scale
        * super::sum(
            thetas
                .iter()
                .zip(rscales)
                .map(|(t, s)| s * (t - mean) * (t - mean)),
        )
}

/// Mean (or total) over a domain under each replicate's weights, and its replicate variance.
pub fn replicate_se(set: &ReplicateSet, y: &[f64], domain: Option<&[bool]>, total: bool) -> f64 {
    let thetas: Vec<f64> = set
        .weights
        .iter()
        .map(|w| {
            let used = (0..y.len())
                .filter(|&i| !y[i].is_nan() && w[i] > 0.0 && domain.is_none_or(|d| d[i]));
            let (mut sw, mut swy) = (0.0, 0.0);
            for i in used {
                sw += w[i];
                swy += w[i] * y[i];
            }
            if total {
                swy
            } else {
                swy / sw
            }
        })
        .collect();
    replicate_variance(&thetas, &set.rscales, set.scale).sqrt()
}

/// Ratio Σw·y / Σw·x over a domain under each replicate's weights, and its replicate SE.
pub fn replicate_ratio_se(
    set: &ReplicateSet,
    y: &[f64],
    x: &[f64],
    domain: Option<&[bool]>,
) -> f64 {
    let thetas: Vec<f64> = set
        .weights
        .iter()
        .map(|w| {
            let (mut sx, mut sy) = (0.0, 0.0);
            for i in 0..y.len() {
                if !y[i].is_nan() && !x[i].is_nan() && w[i] > 0.0 && domain.is_none_or(|d| d[i]) {
                    sx += w[i] * x[i];
                    sy += w[i] * y[i];
                }
            }
            sy / sx
        })
        .collect();
    replicate_variance(&thetas, &set.rscales, set.scale).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jk1_of_a_mean_is_the_classical_jackknife() {
        let set = jk1(&[0, 1, 2, 3], 0.0);
        let y = [1.0, 2.0, 3.0, 6.0];
        // Classical jackknife SE of a mean = SD/√n.
        let m = 3.0;
        let sd2 = y.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 3.0;
        let se = replicate_se(&set, &y, None, false);
        assert!((se - (sd2 / 4.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_is_reproducible_from_its_seed() {
        let (s, p): (Vec<u32>, Vec<u32>) = ((0..20).map(|i| i % 2).collect(), (0..20).collect());
        let a = bootstrap(&s, &p, 10, 7);
        let b = bootstrap(&s, &p, 10, 7);
        assert_eq!(a.weights, b.weights);
        assert!(
            a.weights
                .iter()
                .all(|w| (w.iter().sum::<f64>() - 20.0).abs() < 1e-9),
            "each stratum keeps its size"
        );
    }
}

/// R's `degf()` of a replicate design restricted to `rows`: the rank of those rows' replicate
/// weights (rows × replicates) minus 1, the rank as R's `qr(…, tol = 1e-5)` finds it — LINPACK's
/// Householder reduction with R's limited pivoting (`dqrdc2`), where a column whose remaining
/// norm has fallen below `tol` times its original norm is moved to the right-hand edge and not
/// counted. Calibration and domains can make the rank, and so the df, smaller than PSUs − strata.
///
/// Identical columns (replicates that delete PSUs outside the rows) are counted once, which
/// leaves the rank unchanged. `None` when the reduction would still take more than
/// [`RANK_BUDGET`] multiply–adds (thousands of PSUs, each its own replicate): the caller then
/// uses PSUs − strata, the rank's value for an uncalibrated jackknife, where t is normal anyway.
pub fn replicate_degf(set: &ReplicateSet, rows: &[usize]) -> Option<f64> {
    let mut seen: std::collections::HashSet<Vec<u64>> = Default::default();
    let cols: Vec<Vec<f64>> = set
        .weights
        .iter()
        .map(|w| rows.iter().map(|&i| usable(w[i])).collect::<Vec<f64>>())
        .filter(|c| seen.insert(c.iter().map(|v| v.to_bits()).collect()))
        .collect();
    let (n, p) = (rows.len() as f64, cols.len() as f64);
    if n * p * n.min(p) > RANK_BUDGET {
        return None;
    }
    Some(limited_pivoting_rank(cols, 1e-5) as f64 - 1.0)
}

/// The most replicate × row passes [`replicate_logit`] makes for one interval.
pub const REFIT_BUDGET: f64 = 2e6;

/// The most multiply–adds [`replicate_degf`] spends on one rank (a few seconds at worst).
pub const RANK_BUDGET: f64 = 2e8;

fn norm(x: &[f64]) -> f64 {
    // Scaled like the reference BLAS dnrm2, so large weights do not overflow.
    let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        return 0.0;
    }
    scale
        * x.iter()
            .map(|v| (v / scale) * (v / scale))
            .sum::<f64>()
            .sqrt()
}

/// The rank of the matrix with columns `x` (each of length n) under R's `qr()` rule.
fn limited_pivoting_rank(mut x: Vec<Vec<f64>>, tol: f64) -> usize {
    let p = x.len();
    let n = x.first().map_or(0, Vec::len);
    if n == 0 || p == 0 {
        return 0;
    }
    let mut remaining: Vec<f64> = x.iter().map(|c| norm(c)).collect();
    let mut original: Vec<f64> = remaining
        .iter()
        .map(|&v| if v == 0.0 { 1.0 } else { v })
        .collect();
    // Columns at or beyond `k` (1-based, as the rule is stated) are the negligible ones.
    let mut k = p + 1;
    for l in 0..n.min(p) {
        // Move negligible columns to the end until column l is not.
        while l + 1 < k && remaining[l] < original[l] * tol {
            let col = x.remove(l);
            x.push(col);
            let r = remaining.remove(l);
            remaining.push(r);
            let o = original.remove(l);
            original.push(o);
            k -= 1;
        }
        if l + 1 == n {
            break;
        }
        let mut nrmxl = norm(&x[l][l..]);
        if nrmxl == 0.0 {
            continue;
        }
        if x[l][l] != 0.0 {
            nrmxl = nrmxl.copysign(x[l][l]);
        }
        for v in &mut x[l][l..] {
            *v /= nrmxl;
        }
        x[l][l] += 1.0;
        let (head, tail) = x.split_at_mut(l + 1);
        let u = &head[l];
        for (jj, col) in tail.iter_mut().enumerate() {
            let j = l + 1 + jj;
            let dot: f64 = u[l..].iter().zip(&col[l..]).map(|(a, b)| a * b).sum();
            let t = -dot / u[l];
            for (c, a) in col[l..].iter_mut().zip(&u[l..]) {
                *c += t * a;
            }
            if remaining[j] != 0.0 {
                let shrink = (1.0 - (col[l].abs() / remaining[j]).powi(2)).max(0.0);
                if shrink.abs() >= 1e-6 {
                    remaining[j] *= shrink.sqrt();
                } else {
                    // A large reduction: recompute the norm rather than trust the update.
                    remaining[j] = norm(&col[l + 1..]);
                }
            }
        }
        x[l][l] = -nrmxl;
    }
    (k - 1).min(n)
}

/// R's `svyciprop(method = "logit")` on a replicate design: the intercept β̂ of
/// `svyglm(y ~ 1, family = quasibinomial)` over the domain's answered rows (prior weights the
/// full-sample weights over their mean in the domain), refitted in every replicate from β̂
/// with the replicate's weights scaled to sum 1 (`svyglm.svyrep.design`), and the replicate
/// SE of β̂ (`svrVar`). `None` when a fit does not settle (a share of 0 or 1 in a replicate),
/// or when the refits would pass over more than [`REFIT_BUDGET`] replicate-rows (then the
/// caller uses the delta-method interval, R's `xlogit`).
pub fn replicate_logit(
    set: &ReplicateSet,
    weights: &[f64],
    y: &[f64],
    domain: Option<&[bool]>,
) -> Option<(f64, f64)> {
    let inside: Vec<usize> = (0..y.len())
        .filter(|&i| domain.is_none_or(|d| d[i]))
        .collect();
    if inside.is_empty() {
        return None;
    }
    let mean_w = super::sum(inside.iter().map(|&i| weights[i])) / inside.len() as f64;
    let used: Vec<usize> = inside.iter().copied().filter(|&i| !y[i].is_nan()).collect();
    if (set.weights.len() * used.len()) as f64 > REFIT_BUDGET {
        return None;
    }
    let yy: Vec<f64> = used.iter().map(|&i| y[i]).collect();
    let pw: Vec<f64> = used.iter().map(|&i| weights[i] / mean_w).collect();
    let beta0 = super::glm::intercept_logit(&yy, &pw, None)?;
    let betas: Vec<f64> = set
        .weights
        .iter()
        .map(|w| {
            let total = super::sum(used.iter().map(|&i| usable(w[i])));
            let wr: Vec<f64> = used.iter().map(|&i| usable(w[i]) / total).collect();
            super::glm::intercept_logit(&yy, &wr, Some(beta0))
        })
        .collect::<Option<_>>()?;
    let se = replicate_variance(&betas, &set.rscales, set.scale).sqrt();
    se.is_finite().then_some((beta0, se))
}

/// R's `svyglm` on a replicate design (`svyglm.svyrep.design`): the full-sample fit with the
/// weights over their mean as prior weights, refitted in every replicate from it with the
/// replicate's weights scaled to sum 1, the covariance of the coefficients from the replicates'
/// spread (`svrVar`, centred on their mean), and the residual df `degf + 1 − p` with `degf` the
/// rank of all rows' replicate weights − 1 (`design_df` when the rank is too costly).
pub fn svyglm_replicate(
    set: &ReplicateSet,
    weights: &[f64],
    x: &[Vec<f64>],
    y: &[f64],
    used: &[bool],
    family: super::glm::Family,
    design_df: f64,
) -> Result<super::glm::GlmFit, super::glm::GlmError> {
    use nalgebra::{DMatrix, DVector};
    let n_all = y.len();
    let p = x.len();
    let rows: Vec<usize> = (0..n_all)
        .filter(|&i| used[i] && weights[i] > 0.0)
        .collect();
    let n = rows.len();
    let all: Vec<usize> = (0..n_all).collect();
    let df_residual = replicate_degf(set, &all).unwrap_or(design_df) + 1.0 - p as f64;
    if n <= p || df_residual.is_nan() || df_residual < 1.0 {
        return Err(super::glm::GlmError::TooFewRows {
            rows: n,
            parameters: p,
        });
    }
    let mean_w = super::sum(weights.iter().copied()) / n_all as f64;
    let pw: Vec<f64> = rows.iter().map(|&i| weights[i] / mean_w).collect();
    let yy: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
    if family == super::glm::Family::Quasibinomial {
        if let Some(k) = yy.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(super::glm::GlmError::ResponseOutOfRange {
                row: rows[k],
                value: yy[k],
            });
        }
    }
    let xm = DMatrix::from_fn(n, p, |r, j| x[j][rows[r]]);
    let full = super::glm::irls(&xm, &yy, &pw, None, family)?;
    let betas: Vec<DVector<f64>> = set
        .weights
        .iter()
        .map(|w| {
            let total = super::sum(rows.iter().map(|&i| usable(w[i])));
            let wr: Vec<f64> = rows.iter().map(|&i| usable(w[i]) / total).collect();
            super::glm::irls(&xm, &yy, &wr, Some(&full.beta), family).map(|f| f.beta)
        })
        .collect::<Result<_, _>>()?;
    // svrVar: scale Σ_r rscale_r (β_r − β̄)(β_r − β̄)ᵀ over the replicates with rscale > 0.
    let counted: Vec<usize> = (0..betas.len()).filter(|&r| set.rscales[r] > 0.0).collect();
    let mean: Vec<f64> = (0..p)
        .map(|j| super::sum(counted.iter().map(|&r| betas[r][j])) / counted.len() as f64)
        .collect();
    let cov: Vec<Vec<f64>> = (0..p)
        .map(|a| {
            (0..p)
                .map(|b| {
                    set.scale
                        * super::sum((0..betas.len()).map(|r| {
                            set.rscales[r] * (betas[r][a] - mean[a]) * (betas[r][b] - mean[b])
                        }))
                })
                .collect()
        })
        .collect();
    Ok(super::glm::GlmFit {
        coef: full.beta.iter().copied().collect(),
        cov,
        df_residual,
        iterations: full.iterations,
        converged: full.converged,
        n,
    })
}

#[cfg(test)]
mod rank_tests {
    use super::*;

    #[test]
    fn rank_of_independent_and_repeated_columns() {
        let cols = vec![
            vec![1.0, 0.0, 0.0, 1.0],
            vec![0.0, 1.0, 0.0, 1.0],
            vec![1.0, 1.0, 0.0, 2.0], // the sum of the first two
            vec![0.0, 0.0, 1.0, 0.0],
            vec![2.0, 0.0, 0.0, 2.0], // twice the first
        ];
        assert_eq!(limited_pivoting_rank(cols, 1e-5), 3);
        // More columns than rows: at most n.
        let wide: Vec<Vec<f64>> = (0..6)
            .map(|j| vec![1.0, j as f64, (j * j) as f64])
            .collect();
        assert_eq!(limited_pivoting_rank(wide, 1e-5), 3);
    }

    /// JK1 on n rows, one PSU each: n replicates of full rank, so df = n − 1 (PSUs − 1).
    #[test]
    fn jk1_df_is_psus_minus_one() {
        let set = jk1(&[0, 1, 2, 3, 4, 5], 0.0);
        assert_eq!(replicate_degf(&set, &[0, 1, 2, 3, 4, 5]), Some(5.0));
        // In a domain of three rows: its three deletions and the common column span rank 3.
        assert_eq!(replicate_degf(&set, &[0, 2, 4]), Some(2.0));
    }
}

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

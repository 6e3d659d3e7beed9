//! The design covariance of a domain's level shares (or totals) — the cells of a two-way table, each row of
//! the domain in exactly one — from sufficient statistics: what [`Design::covariance`] of the
//! shares' residualized influence scores gives (the Rao–Scott tests' V̂), without an influence
//! vector per cell or a calibration residual per cell.
//!
//! With a_l = w·[cell = l] and b = w on the domain's rows, share l's influence is
//! z_l = (a_l − p_l b)/W and its residual R_l,p = A_l,p − p_l B_p − S_p γ_l per PSU. The
//! covariance needs per stratum Σ_p A_l A_m (diagonal when every PSU is one row: a row is in one
//! cell; gathered PSU by PSU otherwise), Σ_p A_l B, Σ_p B², the sums and the calibration terms
//! the estimates already accumulate.
//!
//! [`Design::covariance`]: crate::kernels::design::Design::covariance

use nalgebra::DMatrix;

use super::{DomainLinearizer, Partition, Series, NO_DOMAIN};

impl DomainLinearizer<'_> {
    /// The covariance matrix (k × k) of the shares of levels `0..k` among the rows of
    /// `domain` (code 0; [`NO_DOMAIN`] outside), every domain row in exactly one level of
    /// `sets` — or, with `totals`, of the levels' weighted totals (influence a_l); `None`
    /// above 64 levels.
    pub fn level_covariance(
        &self,
        sets: &[Option<u64>],
        k: usize,
        domain: &[u32],
        totals: bool,
    ) -> Option<DMatrix<f64>> {
        if k > 64 {
            return None;
        }
        let (h_n, j) = (self.n_strata, self.j);
        let series = Series::Levels { k, sets };
        let part = Partition {
            codes: domain,
            k: 1,
        };
        let acc = if self.singleton_psus {
            self.accumulate_rows(series, &[part], k, 0.0).pop()?
        } else {
            self.accumulate_psus(series, part, k, 0.0, None)
        };
        // Σ_p A_l A_m per stratum.
        let mut aa = vec![0.0; h_n * k * k];
        if self.singleton_psus {
            for h in 0..h_n {
                for l in 0..k {
                    aa[(h * k + l) * k + l] = acc.beta_aa[l * h_n + h];
                }
            }
        } else {
            let w = self.survey.weights;
            let mut totals = vec![0.0; k];
            let mut touched: Vec<usize> = Vec::new();
            for c in 0..self.psu_start.len() - 1 {
                for &i in &self.order[self.psu_start[c]..self.psu_start[c + 1]] {
                    let i = i as usize;
                    if domain[i] == NO_DOMAIN || w[i] <= 0.0 || w[i].is_nan() {
                        continue;
                    }
                    let Some(set) = sets[i] else { continue };
                    let l = set.trailing_zeros() as usize;
                    if l < k {
                        if totals[l] == 0.0 {
                            touched.push(l);
                        }
                        totals[l] += w[i];
                    }
                }
                let h = self.psu_stratum[c] as usize;
                for &l in &touched {
                    for &m in &touched {
                        aa[(h * k + l) * k + m] += totals[l] * totals[m];
                    }
                }
                for &l in &touched {
                    totals[l] = 0.0;
                }
                touched.clear();
            }
        }
        let big_w = acc.w_sum[0];
        if big_w <= 0.0 {
            return None;
        }
        // A total's influence is a_l: no centring, no scaling.
        let (p, norm): (Vec<f64>, f64) = if totals {
            (vec![0.0; k], 1.0)
        } else {
            ((0..k).map(|l| acc.wx[l] / big_w).collect(), big_w * big_w)
        };
        let gammas: Vec<Vec<f64>> = (0..k)
            .map(|l| {
                if j == 0 {
                    return Vec::new();
                }
                let probe: Vec<f64> = (0..j)
                    .map(|r| acc.s_a[l * j + r] - p[l] * acc.s_b[r])
                    .collect();
                self.phi(&probe)
            })
            .collect();
        let mut v = DMatrix::zeros(k, k);
        for h in 0..h_n {
            let scale = self.scale[h];
            if scale == 0.0 {
                continue;
            }
            let bb = acc.beta_bb[h];
            let ab = |l: usize| acc.beta_ab[l * h_n + h];
            let ua = |l: usize, r: usize| acc.u_a[(l * h_n + h) * j + r];
            let ub = |r: usize| acc.u_b[h * j + r];
            let q = &self.q[h * j * j..(h + 1) * j * j];
            let t = &self.t[h * j..(h + 1) * j];
            // Σ_p R_l and, per level, the calibration terms Σ_p (A_l − p_l B) S_p · γ.
            let sums: Vec<f64> = (0..k)
                .map(|l| {
                    let lin_t: f64 = (0..j).map(|r| gammas[l][r] * t[r]).sum();
                    acc.alpha_a[l * h_n + h] - p[l] * acc.alpha_b[h] - lin_t
                })
                .collect();
            for l in 0..k {
                for m in l..k {
                    let mut s =
                        aa[(h * k + l) * k + m] - p[m] * ab(l) - p[l] * ab(m) + p[l] * p[m] * bb;
                    if j > 0 {
                        let (gl, gm) = (&gammas[l], &gammas[m]);
                        let mut cross = 0.0;
                        let mut quad = 0.0;
                        for r in 0..j {
                            cross += gm[r] * (ua(l, r) - p[l] * ub(r))
                                + gl[r] * (ua(m, r) - p[m] * ub(r));
                            let row = &q[r * j..(r + 1) * j];
                            quad += gl[r] * row.iter().zip(gm).map(|(a, b)| a * b).sum::<f64>();
                        }
                        s += quad - cross;
                    }
                    let c = scale * (s - sums[l] * sums[m] / self.n_h[h]) / norm;
                    v[(l, m)] += c;
                    if m != l {
                        v[(m, l)] += c;
                    }
                }
            }
        }
        Some(v)
    }
}

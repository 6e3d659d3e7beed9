//! A survey design: strata, first-stage clusters (PSUs) and the finite population correction.
//! [`Design::variance`] is R's `svyrecvar` for one-stage designs (methods.md §3);
//! [`Design::degf`] is R's `degf` (§1).

use super::prec::FPC_CENSUS;

#[derive(Debug, Clone, PartialEq)]
pub enum DesignError {
    /// A stratum with one PSU has no variance estimate (R: `lonely.psu = "fail"`).
    LonelyPsu {
        stratum: usize,
    },
    /// A population count smaller than the sample count of its stratum.
    FpcTooSmall {
        stratum: usize,
        population: f64,
        sampled: usize,
    },
    LengthMismatch,
}

impl std::fmt::Display for DesignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DesignError::LonelyPsu { stratum } => write!(f, "stratum {stratum} has a single PSU"),
            DesignError::FpcTooSmall {
                stratum,
                population,
                sampled,
            } => {
                write!(f, "stratum {stratum}: population count {population} is below the {sampled} sampled PSUs")
            }
            DesignError::LengthMismatch => f.write_str("strata and PSU codes differ in length"),
        }
    }
}

impl std::error::Error for DesignError {}

#[derive(Debug, Clone)]
pub struct Design {
    strata: Vec<u32>,
    psu: Vec<u32>,
    n_strata: usize,
    n_psu: usize,
    /// Sampled PSUs per stratum in the full design.
    psus_in_stratum: Vec<usize>,
    /// Sampling fraction per stratum (0 without FPC).
    fraction: Vec<f64>,
}

impl Design {
    /// `strata[i]`, `psu[i]`: codes 0..k (PSU codes unique across strata). `population_psus`:
    /// N_h per stratum for the FPC, or `None`.
    pub fn new(
        strata: Vec<u32>,
        psu: Vec<u32>,
        population_psus: Option<&[f64]>,
    ) -> Result<Self, DesignError> {
        if strata.len() != psu.len() {
            return Err(DesignError::LengthMismatch);
        }
        let n_strata = strata.iter().max().map_or(0, |m| *m as usize + 1);
        let n_psu = psu.iter().max().map_or(0, |m| *m as usize + 1);
        let mut seen = vec![false; n_psu];
        let mut psus_in_stratum = vec![0usize; n_strata];
        for (h, c) in strata.iter().zip(&psu) {
            if !seen[*c as usize] {
                seen[*c as usize] = true;
                psus_in_stratum[*h as usize] += 1;
            }
        }
        if let Some(h) = psus_in_stratum.iter().position(|&n| n == 1) {
            return Err(DesignError::LonelyPsu { stratum: h });
        }
        let fraction = match population_psus {
            None => vec![0.0; n_strata],
            Some(pop) => {
                let mut f = Vec::with_capacity(n_strata);
                for (h, &n) in psus_in_stratum.iter().enumerate() {
                    let big_n = pop.get(h).copied().unwrap_or(f64::INFINITY);
                    if big_n < n as f64 {
                        return Err(DesignError::FpcTooSmall {
                            stratum: h,
                            population: big_n,
                            sampled: n,
                        });
                    }
                    f.push(n as f64 / big_n);
                }
                f
            }
        };
        Ok(Design {
            strata,
            psu,
            n_strata,
            n_psu,
            psus_in_stratum,
            fraction,
        })
    }

    /// Each row its own PSU, one stratum, optional population size.
    pub fn srs(n: usize, population: Option<f64>) -> Result<Self, DesignError> {
        let pop = population.map(|p| vec![p]);
        Design::new(vec![0; n], (0..n as u32).collect(), pop.as_deref())
    }

    pub fn len(&self) -> usize {
        self.strata.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strata.is_empty()
    }

    pub fn strata(&self) -> &[u32] {
        &self.strata
    }

    pub fn psu(&self) -> &[u32] {
        &self.psu
    }

    pub fn n_psu(&self) -> usize {
        self.n_psu
    }

    pub fn n_strata(&self) -> usize {
        self.n_strata
    }

    /// Sampled PSUs per stratum in the full design (n_h).
    pub fn psus_in_stratum(&self) -> &[usize] {
        &self.psus_in_stratum
    }

    /// Each stratum's sampling fraction f_h (0 without FPC).
    pub fn fractions(&self) -> &[f64] {
        &self.fraction
    }

    /// Each stratum's factor (1 − f_h) n_h/(n_h − 1) in [`Design::variance`]; 0 for a stratum
    /// that contributes no variance (one PSU, or a census).
    pub fn stratum_scales(&self) -> Vec<f64> {
        (0..self.n_strata)
            .map(|h| {
                let n = self.psus_in_stratum[h] as f64;
                if n < 2.0 || self.fraction[h] >= 1.0 - FPC_CENSUS {
                    0.0
                } else {
                    (1.0 - self.fraction[h]) * n / (n - 1.0)
                }
            })
            .collect()
    }

    /// Linearized variance of a total of influence scores `z` (methods.md §3):
    /// Σ_h (1 − f_h) n_h/(n_h − 1) Σ_c (Z_hc − Z̄_h)², PSUs without rows counting as zeros.
    pub fn variance(&self, z: &[f64]) -> f64 {
        let mut totals = vec![0.0; self.n_psu];
        let mut comp = vec![0.0; self.n_psu];
        let mut psu_stratum = vec![0u32; self.n_psu];
        for (i, &zi) in z.iter().enumerate() {
            let c = self.psu[i] as usize;
            // Neumaier-compensated PSU totals.
            let t = totals[c] + zi;
            if totals[c].abs() >= zi.abs() {
                comp[c] += (totals[c] - t) + zi;
            } else {
                comp[c] += (zi - t) + totals[c];
            }
            totals[c] = t;
            psu_stratum[c] = self.strata[i];
        }
        let mut by_stratum: Vec<Vec<f64>> = vec![Vec::new(); self.n_strata];
        for c in 0..self.n_psu {
            by_stratum[psu_stratum[c] as usize].push(totals[c] + comp[c]);
        }
        let mut v = 0.0;
        for (h, zs) in by_stratum.iter().enumerate() {
            let n = self.psus_in_stratum[h] as f64;
            if n < 2.0 || self.fraction[h] >= 1.0 - FPC_CENSUS {
                continue;
            }
            let mean = super::sum(zs.iter().copied()) / n;
            let ss = super::sum(zs.iter().map(|x| (x - mean) * (x - mean)));
            v += (1.0 - self.fraction[h]) * n / (n - 1.0) * ss;
        }
        v
    }

    /// Covariance matrix of the totals of several influence-score vectors (the matrix form of
    /// [`Design::variance`]): `V[a][b] = Σ_h (1 − f_h) n_h/(n_h − 1) Σ_c (Z_hca − Z̄_ha)(Z_hcb − Z̄_hb)`.
    pub fn covariance(&self, zs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let k = zs.len();
        // PSU totals per column.
        let mut totals = vec![vec![0.0; k]; self.n_psu];
        let mut psu_stratum = vec![0u32; self.n_psu];
        for i in 0..self.len() {
            let c = self.psu[i] as usize;
            psu_stratum[c] = self.strata[i];
            for (a, z) in zs.iter().enumerate() {
                totals[c][a] += z[i];
            }
        }
        let mut v = vec![vec![0.0; k]; k];
        for h in 0..self.n_strata {
            let n = self.psus_in_stratum[h] as f64;
            if n < 2.0 || self.fraction[h] >= 1.0 - FPC_CENSUS {
                continue;
            }
            let members: Vec<usize> = (0..self.n_psu)
                .filter(|&c| psu_stratum[c] as usize == h)
                .collect();
            let means: Vec<f64> = (0..k)
                .map(|a| members.iter().map(|&c| totals[c][a]).sum::<f64>() / n)
                .collect();
            let scale = (1.0 - self.fraction[h]) * n / (n - 1.0);
            for &c in &members {
                for a in 0..k {
                    let da = totals[c][a] - means[a];
                    for b in 0..k {
                        v[a][b] += scale * da * (totals[c][b] - means[b]);
                    }
                }
            }
        }
        v
    }

    /// Degrees of freedom over the rows where `used` holds: distinct PSUs − distinct strata.
    pub fn degf(&self, used: impl Fn(usize) -> bool) -> f64 {
        let mut psu_seen = vec![false; self.n_psu];
        let mut str_seen = vec![false; self.n_strata];
        let (mut np, mut ns) = (0usize, 0usize);
        for i in 0..self.len() {
            if !used(i) {
                continue;
            }
            let (c, h) = (self.psu[i] as usize, self.strata[i] as usize);
            if !psu_seen[c] {
                psu_seen[c] = true;
                np += 1;
            }
            if !str_seen[h] {
                str_seen[h] = true;
                ns += 1;
            }
        }
        np as f64 - ns as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srs_variance_of_a_total() {
        // SRS of 4 from 8: V = (1 − 4/8)·4/3·Σ(z − z̄)².
        let d = Design::srs(4, Some(8.0)).unwrap();
        let z = [1.0, 2.0, 3.0, 6.0];
        let expect = 0.5 * 4.0 / 3.0 * (4.0 + 1.0 + 0.0 + 9.0);
        assert!((d.variance(&z) - expect).abs() < 1e-12);
        assert_eq!(d.degf(|_| true), 3.0);
    }

    #[test]
    fn lonely_psu_is_an_error_naming_the_stratum() {
        let e = Design::new(vec![0, 0, 1], vec![0, 1, 2], None).unwrap_err();
        assert_eq!(e, DesignError::LonelyPsu { stratum: 1 });
    }

    #[test]
    fn census_stratum_contributes_nothing() {
        let d = Design::new(vec![0, 0, 1, 1], vec![0, 1, 2, 3], Some(&[2.0, 10.0])).unwrap();
        let z = [5.0, -5.0, 1.0, 3.0];
        let expect = (1.0 - 0.2) * 2.0 * (1.0 + 1.0);
        assert!((d.variance(&z) - expect).abs() < 1e-12);
    }
}

//! Each domain against the rest of the sample: the difference of the domain's mean (or share)
//! and the rest's, with the linearized SE of the difference — what [`Survey::mean_difference`]
//! gives for one domain, for every domain of every partition from the same sufficient
//! statistics as the estimates.
//!
//! Why it is exact: with a_i = w_i (y_i − c) and b_i = w_i on the rows that answered, the
//! difference's influence score is z_d − z_rest = c₁ a_d + c₂ b_d + c₃ a_all + c₄ b_all (the rest
//! is the whole sample less the domain), a linear combination of four row vectors, and the
//! calibration's residual step is linear too. Its variance then needs, per stratum, the sums of
//! products of the four vectors' PSU totals: the domain's own (already accumulated), the whole
//! sample's (the domain "everyone"), and the cross products of the two, which are the domain's
//! own sums when every PSU is one row, and otherwise are gathered PSU by PSU.

use super::{Accumulators, CellSums, DomainLinearizer, Domains, Partition, Series, NO_DOMAIN};

/// A domain's estimate minus the rest's, and the SE of that difference; NaN when the domain
/// or the rest has no respondent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    pub difference: f64,
    pub se: f64,
}

/// Per (domain, level, stratum): Σ_p A_d A_all, Σ_p A_d B_all, Σ_p B_d A_all; per (domain,
/// stratum): Σ_p B_d B_all.
pub(super) struct Cross {
    pub(super) aa: Vec<f64>,
    pub(super) ab: Vec<f64>,
    pub(super) ba: Vec<f64>,
    pub(super) bb: Vec<f64>,
}

impl Cross {
    fn new(nd: usize, levels: usize, h_n: usize) -> Self {
        Cross {
            aa: vec![0.0; nd * levels * h_n],
            ab: vec![0.0; nd * levels * h_n],
            ba: vec![0.0; nd * levels * h_n],
            bb: vec![0.0; nd * h_n],
        }
    }

    /// One row per PSU: a domain's PSU is a row of the whole sample, so the cross products are
    /// the domain's own.
    fn of_singletons(acc: &Accumulators) -> Self {
        Cross {
            aa: acc.beta_aa.clone(),
            ab: acc.beta_ab.clone(),
            ba: acc.beta_ab.clone(),
            bb: acc.beta_bb.clone(),
        }
    }
}

impl DomainLinearizer<'_> {
    /// Every domain of every partition against the rest of the sample (the rows that answered
    /// outside the domain, in another domain or in none): `[partition][domain][level]`.
    pub fn differences(
        &self,
        series: Series<'_>,
        domains: &Domains<'_>,
    ) -> Vec<Vec<Vec<Difference>>> {
        let (levels, centre) = self.levels_and_centre(series);
        let n = self.survey.weights.len();
        let everyone = vec![0u32; n];
        let all = Partition {
            codes: &everyone,
            k: 1,
        };
        let partitions = domains.partitions();
        let joint = self.singleton_psus && !domains.joint_maps.is_empty();
        let (all_acc, accs): (Accumulators, Vec<(Accumulators, Cross)>) = if joint {
            // One pass on the joint cells (and the rows in none), as `estimate` does.
            let (accs, all) = self.accumulate_joint(series, domains, true, levels, centre);
            let accs = accs
                .into_iter()
                .map(|acc| {
                    let cross = Cross::of_singletons(&acc);
                    (acc, cross)
                })
                .collect();
            (all.expect("the whole sample's accumulators"), accs)
        } else if self.singleton_psus {
            let mut parts = vec![all];
            parts.extend(partitions.iter().copied());
            let mut accs = self
                .accumulate_rows(series, &parts, levels, centre)
                .into_iter();
            let all_acc = accs.next().expect("the whole sample's accumulators");
            let accs = accs
                .map(|acc| {
                    let cross = Cross::of_singletons(&acc);
                    (acc, cross)
                })
                .collect();
            (all_acc, accs)
        } else {
            let all_acc = self.accumulate_psus(series, all, levels, centre, None);
            let accs = partitions
                .iter()
                .map(|&p| {
                    let mut cross = Cross::new(p.k, levels, self.n_strata);
                    let acc = self.accumulate_psus(series, p, levels, centre, Some(&mut cross));
                    (acc, cross)
                })
                .collect();
            (all_acc, accs)
        };
        // The range of the values outside every domain, for the rest's constancy.
        let outside: Vec<(f64, f64)> = partitions
            .iter()
            .map(|p| match series {
                Series::Numeric(y) => self.range_outside(y, p),
                Series::Levels { .. } => (f64::INFINITY, f64::NEG_INFINITY),
            })
            .collect();
        self.finish_differences(&all_acc, &accs, &outside, series, levels, centre)
    }

    /// [`DomainLinearizer::differences`] from the sums [`DomainLinearizer::cell_sums`] made of
    /// the same series and domains, with no further pass over the rows. The domains' sums are
    /// the estimates' own ([`DomainLinearizer::estimate_from`]), and the whole sample's the sum
    /// of every cell.
    pub fn differences_from(
        &self,
        sums: &CellSums,
        series: Series<'_>,
        domains: &Domains<'_>,
    ) -> Vec<Vec<Vec<Difference>>> {
        let levels = sums.levels;
        let (accs, all) = self.sum_cells(&sums.cells, domains, true, levels);
        let all_acc = all.expect("the whole sample's accumulators");
        let cells = &sums.cells;
        let outside_cell = cells.n.len() - 1;
        // The rows in no domain of a partition are its cells that map to none, and the cell of
        // the rows in no domain at all.
        let outside: Vec<(f64, f64)> = domains
            .joint_maps
            .iter()
            .map(|map| match series {
                Series::Numeric(_) => map
                    .iter()
                    .enumerate()
                    .filter(|&(_, &d)| d == NO_DOMAIN)
                    .map(|(c, _)| c)
                    .chain([outside_cell])
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
                        (
                            lo.min(cells.y_min[c * levels]),
                            hi.max(cells.y_max[c * levels]),
                        )
                    }),
                Series::Levels { .. } => (f64::INFINITY, f64::NEG_INFINITY),
            })
            .collect();
        let accs: Vec<(Accumulators, Cross)> = accs
            .into_iter()
            .map(|acc| {
                let cross = Cross::of_singletons(&acc);
                (acc, cross)
            })
            .collect();
        self.finish_differences(&all_acc, &accs, &outside, series, levels, sums.centre)
    }

    /// Every domain's difference from its partition's accumulators, the whole sample's and the
    /// range of the values outside the partition's domains.
    fn finish_differences(
        &self,
        all_acc: &Accumulators,
        accs: &[(Accumulators, Cross)],
        outside: &[(f64, f64)],
        series: Series<'_>,
        levels: usize,
        centre: f64,
    ) -> Vec<Vec<Vec<Difference>>> {
        accs.iter()
            .zip(outside)
            .map(|((acc, cross), &outside)| {
                (0..acc.n.len())
                    .map(|d| {
                        (0..levels)
                            .map(|l| {
                                self.difference(acc, cross, all_acc, d, l, centre, series, outside)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// The smallest and largest answered value of the rows in no domain of `p`.
    fn range_outside(&self, y: &[f64], p: &Partition<'_>) -> (f64, f64) {
        let w = self.survey.weights;
        (0..y.len())
            .filter(|&i| p.codes[i] == NO_DOMAIN && w[i] > 0.0 && !y[i].is_nan())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), i| {
                (lo.min(y[i]), hi.max(y[i]))
            })
    }

    #[allow(clippy::too_many_arguments)]
    fn difference(
        &self,
        acc: &Accumulators,
        cross: &Cross,
        all: &Accumulators,
        d: usize,
        l: usize,
        centre: f64,
        series: Series<'_>,
        outside: (f64, f64),
    ) -> Difference {
        let (h_n, j, levels) = (self.n_strata, self.j, acc.levels);
        let dl = d * levels + l;
        let (n_d, n_r) = (acc.n[d], all.n[0] - acc.n[d]);
        if n_d == 0 || n_r == 0 {
            return Difference {
                difference: f64::NAN,
                se: f64::NAN,
            };
        }
        let (w_d, w_r) = (acc.w_sum[d], all.w_sum[0] - acc.w_sum[d]);
        let (wa_d, wa_r) = (acc.wx[dl], all.wx[l] - acc.wx[dl]);
        let (mu_d, mu_r) = (wa_d / w_d, wa_r / w_r);
        // A side whose values are all the same has that value and an influence of exactly 0.
        let (const_d, const_r, value_d, value_r) = match series {
            Series::Numeric(_) => {
                let (lo, hi) = (0..acc.n.len())
                    .filter(|&e| e != d)
                    .fold(outside, |(lo, hi), e| {
                        (lo.min(acc.y_min[e * levels]), hi.max(acc.y_max[e * levels]))
                    });
                let const_d = acc.y_min[dl] == acc.y_max[dl];
                let const_r = lo == hi;
                (
                    const_d,
                    const_r,
                    if const_d {
                        acc.y_min[dl]
                    } else {
                        centre + mu_d
                    },
                    if const_r { lo } else { centre + mu_r },
                )
            }
            Series::Levels { .. } => {
                let (hits_d, hits_r) = (acc.hits[dl], all.hits[l] - acc.hits[dl]);
                let const_d = hits_d == 0 || hits_d == n_d;
                let const_r = hits_r == 0 || hits_r == n_r;
                (
                    const_d,
                    const_r,
                    if const_d {
                        f64::from(u8::from(hits_d == n_d))
                    } else {
                        mu_d
                    },
                    if const_r {
                        f64::from(u8::from(hits_r == n_r))
                    } else {
                        mu_r
                    },
                )
            }
        };
        let difference = value_d - value_r;
        if const_d && const_r {
            return Difference {
                difference,
                se: 0.0,
            };
        }
        // z = c₁ a_d + c₂ b_d + c₃ a_all + c₄ b_all, with z_d = (a_d − μ_d b_d)/W_d and
        // z_rest = ((a_all − a_d) − μ_r (b_all − b_d))/W_r.
        let mut c = [0.0; 4];
        if !const_d {
            c[0] += 1.0 / w_d;
            c[1] -= mu_d / w_d;
        }
        if !const_r {
            c[0] += 1.0 / w_r;
            c[1] -= mu_r / w_r;
            c[2] -= 1.0 / w_r;
            c[3] += mu_r / w_r;
        }
        let gamma = if j > 0 {
            let probe: Vec<f64> = (0..j)
                .map(|r| {
                    c[0] * acc.s_a[dl * j + r]
                        + c[1] * acc.s_b[d * j + r]
                        + c[2] * all.s_a[l * j + r]
                        + c[3] * all.s_b[r]
                })
                .collect();
            self.phi(&probe)
        } else {
            Vec::new()
        };
        let mut v = 0.0;
        for h in 0..h_n {
            let scale = self.scale[h];
            if scale == 0.0 {
                continue;
            }
            let (ih, dh, ah) = (dl * h_n + h, d * h_n + h, l * h_n + h);
            // The four PSU-total vectors' sums of products in the stratum.
            let m = [
                [acc.beta_aa[ih], acc.beta_ab[ih], cross.aa[ih], cross.ab[ih]],
                [acc.beta_ab[ih], acc.beta_bb[dh], cross.ba[ih], cross.bb[dh]],
                [cross.aa[ih], cross.ba[ih], all.beta_aa[ah], all.beta_ab[ah]],
                [cross.ab[ih], cross.bb[dh], all.beta_ab[ah], all.beta_bb[h]],
            ];
            let mut sr2 = 0.0;
            for (a, row) in m.iter().enumerate() {
                for (b, x) in row.iter().enumerate() {
                    sr2 += c[a] * c[b] * x;
                }
            }
            let mut sr = c[0] * acc.alpha_a[ih]
                + c[1] * acc.alpha_b[dh]
                + c[2] * all.alpha_a[ah]
                + c[3] * all.alpha_b[h];
            if j > 0 {
                let q = &self.q[h * j * j..(h + 1) * j * j];
                let t = &self.t[h * j..(h + 1) * j];
                let (mut cross_s, mut quad, mut lin_t) = (0.0, 0.0, 0.0);
                for r in 0..j {
                    if gamma[r] == 0.0 {
                        continue;
                    }
                    let u = c[0] * acc.u_a[ih * j + r]
                        + c[1] * acc.u_b[dh * j + r]
                        + c[2] * all.u_a[ah * j + r]
                        + c[3] * all.u_b[h * j + r];
                    cross_s += gamma[r] * u;
                    lin_t += gamma[r] * t[r];
                    let row = &q[r * j..(r + 1) * j];
                    quad += gamma[r] * row.iter().zip(&gamma).map(|(a, b)| a * b).sum::<f64>();
                }
                sr2 += -2.0 * cross_s + quad;
                sr -= lin_t;
            }
            v += scale * (sr2 - sr * sr / self.n_h[h]);
        }
        Difference {
            difference,
            se: v.max(0.0).sqrt(),
        }
    }
}

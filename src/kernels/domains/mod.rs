//! Every domain of a partition at once: weighted means, totals, proportions and quantiles with
//! the same linearized standard errors as [`Survey::mean`], [`Survey::total`] and
//! [`Survey::quantile_with`] — in one pass over the rows instead of several per estimate.
//!
//! Why it is exact: a domain mean's influence scores are z = (a + k·b)/W with a_i = w_i x_i
//! and b_i = w_i on the domain's rows (x = y − c for a centring constant c, or a level
//! indicator), and every calibration's residual step is linear: z ← z − Bγ with γ = Φ(Σ_i D_i z_i)
//! for a per-row basis B_i and probe D_i (post-stratification: cell indicator × final weight;
//! raking: each margin's indicator × its snapshot weight, Φ = R's ten back-fitting sweeps
//! replayed on the level sums; GREG: model columns, Φ = (X'DX)⁻¹). The variance
//! Σ_h c_h [Σ_p R_p² − (Σ_p R_p)²/n_h] of the residual PSU totals R_p = A_p − S_p·γ then needs
//! only, per stratum, Σ A_p, Σ A_p², Σ A_p B_p and Σ A_p S_p for a and b, and the design-wide
//! Σ_p S_p S_pᵀ — sufficient statistics one pass over the rows collects for all domains and
//! levels together. Tests check every result against the one-estimate-at-a-time estimators.

mod covariance;
mod differences;

use differences::Cross;
pub use differences::Difference;

use nalgebra::DMatrix;

use super::calibration::{Calibration, RAKE_SWEEPS};
use super::estimators::{critical, woodruff_back, Estimate, QuantileEstimate, Survey};
use super::intervals::{quantile, QRule, WoodruffCi};

/// Domain code of a row in no domain of the partition.
pub const NO_DOMAIN: u32 = u32::MAX;

/// A partition of the rows into domains `0..k` (or [`NO_DOMAIN`]).
#[derive(Debug, Clone, Copy)]
pub struct Partition<'a> {
    pub codes: &'a [u32],
    pub k: usize,
}

/// Several partitions estimated together, with their cross-classification: each row's
/// combination of domains ("joint cell"). Without clusters every sufficient statistic is a
/// sum over rows, so the statistics of a domain are the sums of those of its joint cells —
/// one accumulation per row serves every partition.
pub struct Domains<'a> {
    partitions: Vec<Partition<'a>>,
    joint_codes: Vec<u32>,
    /// Per partition: joint cell → its domain (or [`NO_DOMAIN`]).
    joint_maps: Vec<Vec<u32>>,
    /// Each partition's domain degrees of freedom, computed once for the design they were
    /// first estimated on (keyed by its weights' address; another design recomputes).
    df: std::sync::OnceLock<(usize, Vec<Vec<f64>>)>,
    /// [`Domains::joint_and_outside`]'s codes, made when first asked for.
    joint_and_outside: std::sync::OnceLock<Vec<u32>>,
}

impl<'a> Domains<'a> {
    pub fn new(partitions: Vec<Partition<'a>>) -> Self {
        let n = partitions.first().map_or(0, |p| p.codes.len());
        let mut joint_maps: Vec<Vec<u32>> = vec![Vec::new(); partitions.len()];
        // A row's key: its domains as one mixed-radix number (NO_DOMAIN as the extra digit);
        // cells are numbered in order of first appearance through a dense table.
        let radix: Vec<u64> = partitions.iter().map(|p| p.k as u64 + 1).collect();
        let size = radix
            .iter()
            .try_fold(1u64, |acc, &r| acc.checked_mul(r))
            .filter(|&s| s <= 1 << 24);
        let Some(size) = size else {
            // Too many combinations for a table: no joint cells (each partition on its own).
            return Domains {
                partitions,
                joint_codes: Vec::new(),
                joint_maps: Vec::new(),
                df: std::sync::OnceLock::new(),
                joint_and_outside: std::sync::OnceLock::new(),
            };
        };
        let mut table = vec![NO_DOMAIN; size as usize];
        let mut joint_codes = Vec::with_capacity(n);
        for i in 0..n {
            let mut key = 0u64;
            let mut any = false;
            for (p, &r) in partitions.iter().zip(&radix) {
                let c = p.codes[i];
                let digit = if c == NO_DOMAIN { r - 1 } else { u64::from(c) };
                any |= c != NO_DOMAIN;
                key = key * r + digit;
            }
            if !any {
                joint_codes.push(NO_DOMAIN);
                continue;
            }
            let slot = &mut table[key as usize];
            if *slot == NO_DOMAIN {
                *slot = joint_maps.first().map_or(0, Vec::len) as u32;
                for (map, p) in joint_maps.iter_mut().zip(&partitions) {
                    map.push(p.codes[i]);
                }
            }
            joint_codes.push(*slot);
        }
        Domains {
            partitions,
            joint_codes,
            joint_maps,
            df: std::sync::OnceLock::new(),
            joint_and_outside: std::sync::OnceLock::new(),
        }
    }

    pub fn partitions(&self) -> &[Partition<'a>] {
        &self.partitions
    }

    /// Each partition's domain degrees of freedom on `survey`: the PSUs of the domain's rows
    /// with a positive weight minus their strata — whether or not a row answered the item, as
    /// R's `degf()` of `svyby`'s subset (`svyciprop` and `confint` take it before any answer
    /// is dropped).
    pub fn degf(&self, survey: &Survey<'_>) -> std::borrow::Cow<'_, [Vec<f64>]> {
        let key = survey.weights.as_ptr() as usize;
        let compute = || -> Vec<Vec<f64>> {
            self.partitions
                .iter()
                .map(|p| domain_degf(survey, p, None))
                .collect()
        };
        let (k, df) = self.df.get_or_init(|| (key, compute()));
        if *k == key {
            std::borrow::Cow::Borrowed(df)
        } else {
            std::borrow::Cow::Owned(compute())
        }
    }

    /// [`Domains::degf`] of a subpopulation: each domain's rows that are also `within` (R's
    /// `degf()` of `subset(design, within)` by domain) — for a share among organizations of
    /// a kind, whose other rows are missing in the series but not missing answers.
    pub fn degf_within(&self, survey: &Survey<'_>, within: &[bool]) -> Vec<Vec<f64>> {
        self.partitions
            .iter()
            .map(|p| domain_degf(survey, p, Some(within)))
            .collect()
    }

    fn joint(&self) -> Partition<'_> {
        Partition {
            codes: &self.joint_codes,
            k: self.joint_maps.first().map_or(0, Vec::len),
        }
    }

    /// The joint cells and one more, the rows in no domain of any partition: every row in
    /// exactly one cell, so the whole sample's sums are the sums over the cells.
    fn joint_and_outside(&self) -> Partition<'_> {
        let k = self.joint_maps.first().map_or(0, Vec::len);
        let codes = self.joint_and_outside.get_or_init(|| {
            self.joint_codes
                .iter()
                .map(|&c| if c == NO_DOMAIN { k as u32 } else { c })
                .collect()
        });
        Partition { codes, k: k + 1 }
    }
}

/// PSUs − strata of each domain's rows with a positive weight (and in `within`, if given).
fn domain_degf(survey: &Survey<'_>, p: &Partition<'_>, within: Option<&[bool]>) -> Vec<f64> {
    let design = survey.design;
    let (psu, strata) = (design.psu(), design.strata());
    // Every (domain, PSU) and (domain, stratum) pair of the rows used, as one sortable number:
    // the distinct pairs are counted once sorted (8 bytes a row, where hash sets took 27).
    let mut psus: Vec<u64> = Vec::new();
    let mut strata_in: Vec<u64> = Vec::new();
    for i in 0..p.codes.len() {
        let d = p.codes[i];
        if d == NO_DOMAIN
            || survey.weights[i].is_nan()
            || survey.weights[i] <= 0.0
            || within.is_some_and(|m| !m[i])
        {
            continue;
        }
        psus.push(u64::from(d) << 32 | u64::from(psu[i]));
        strata_in.push(u64::from(d) << 32 | u64::from(strata[i]));
    }
    let mut df = vec![0.0; p.k];
    for (pairs, sign) in [(&mut psus, 1.0), (&mut strata_in, -1.0)] {
        pairs.sort_unstable();
        pairs.dedup();
        for &pair in pairs.iter() {
            df[(pair >> 32) as usize] += sign;
        }
    }
    df
}

/// What is estimated per domain.
#[derive(Debug, Clone, Copy)]
pub enum Series<'a> {
    /// Numeric values; NaN = missing.
    Numeric(&'a [f64]),
    /// Level sets: bit ℓ set = the row counts in level ℓ (a multi-select may set several);
    /// `None` = not answered (outside every level's denominator). At most 64 levels.
    Levels { k: usize, sets: &'a [Option<u64>] },
}

/// A domain estimate with the Kish effective sample size of its rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DomainEstimate {
    pub estimate: Estimate,
    pub n_eff: f64,
}

/// One series' sums on the joint cells of a [`Domains`] and the rows in none, from
/// [`DomainLinearizer::cell_sums`]: what every partition's estimates and differences are summed
/// from, so the estimates and the comparisons share one pass over the rows.
pub struct CellSums {
    cells: Accumulators,
    levels: usize,
    centre: f64,
}

/// Sparse rows (compressed): row r's entries are `index/value[start[r]..start[r + 1]]`.
#[derive(Debug, Clone, Default)]
struct Sparse {
    start: Vec<usize>,
    index: Vec<u32>,
    value: Vec<f64>,
}

impl Sparse {
    fn row(&self, r: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.start[r], self.start[r + 1]);
        (&self.index[a..b], &self.value[a..b])
    }
}

/// Φ: from the probe sums Σ D_i z_i to the residual coefficients γ.
#[derive(Debug, Clone)]
enum Phi {
    None,
    /// Post-stratification: γ_g = s_g / Σ_g (weights before).
    Scale(Vec<f64>),
    /// Raking: R's back-fitting sweeps on the level sums; `g` = Σ_i D_i B_iᵀ (J × J).
    Rake {
        blocks: Vec<(usize, usize)>,
        counts: Vec<f64>,
        g: Vec<f64>,
    },
    /// GREG: γ = (X'DX)⁻¹ s.
    Linear(DMatrix<f64>),
}

/// A design and calibration prepared for batched domain estimation.
pub struct DomainLinearizer<'a> {
    survey: Survey<'a>,
    /// Rows ordered by PSU, and where each PSU's rows start in that order.
    order: Vec<u32>,
    psu_start: Vec<usize>,
    psu_stratum: Vec<u32>,
    n_strata: usize,
    /// Width of the calibration basis.
    j: usize,
    /// S_p = Σ_{i∈p} B_i per PSU; D_i per row.
    basis_psu: Sparse,
    probe_row: Sparse,
    /// Σ_{p∈h} S_p S_pᵀ (H × J × J) and Σ_{p∈h} S_p (H × J).
    q: Vec<f64>,
    t: Vec<f64>,
    scale: Vec<f64>,
    n_h: Vec<f64>,
    phi: Phi,
    /// Every PSU is one row (no clusters): the faster one-pass accumulation applies.
    singleton_psus: bool,
}

/// Per-row basis B_i and probe D_i entries of the calibration's residual step.
fn row_basis(cal: &Calibration, i: usize, b: &mut Vec<(u32, f64)>, d: &mut Vec<(u32, f64)>) {
    b.clear();
    d.clear();
    match cal {
        Calibration::None => {}
        Calibration::PostStrat {
            cells,
            before,
            after,
            ..
        } => {
            if after[i] != 0.0 {
                b.push((cells[i], after[i]));
                d.push((cells[i], before[i] / after[i]));
            }
        }
        Calibration::Rake { margins, snapshots } => {
            let mut offset = 0u32;
            for ((codes, k), psw) in margins.iter().zip(snapshots) {
                if psw[i] != 0.0 {
                    b.push((offset + codes[i], psw[i]));
                    d.push((offset + codes[i], 1.0 / psw[i]));
                }
                offset += *k as u32;
            }
        }
        Calibration::Greg(greg) => {
            let (pre, post) = greg.pre_post();
            let mut cols = Vec::new();
            greg.columns_of(i, &mut cols);
            if post[i] != 0.0 {
                for &a in &cols {
                    b.push((a as u32, post[i]));
                    d.push((a as u32, pre[i] / post[i]));
                }
            }
        }
    }
}

fn basis_width(cal: &Calibration) -> usize {
    match cal {
        Calibration::None => 0,
        Calibration::PostStrat { n_cells, .. } => *n_cells,
        Calibration::Rake { margins, .. } => margins.iter().map(|(_, k)| *k).sum(),
        Calibration::Greg(greg) => greg.inverse().nrows(),
    }
}

impl<'a> DomainLinearizer<'a> {
    pub fn new(survey: Survey<'a>) -> Self {
        let design = survey.design;
        let n = survey.weights.len();
        let n_psu = design.n_psu();
        let n_strata = design.n_strata();
        let psu = design.psu();
        // Counting sort of rows by PSU.
        let mut psu_start = vec![0usize; n_psu + 1];
        for &c in psu {
            psu_start[c as usize + 1] += 1;
        }
        for c in 0..n_psu {
            psu_start[c + 1] += psu_start[c];
        }
        let mut fill = psu_start.clone();
        let mut order = vec![0u32; n];
        let mut psu_stratum = vec![0u32; n_psu];
        for i in 0..n {
            let c = psu[i] as usize;
            order[fill[c]] = i as u32;
            fill[c] += 1;
            psu_stratum[c] = design.strata()[i];
        }
        let cal = survey.calibration;
        let j = basis_width(cal);
        let mut probe_row = Sparse {
            start: vec![0],
            ..Sparse::default()
        };
        let mut basis_psu = Sparse {
            start: vec![0],
            ..Sparse::default()
        };
        let mut q = vec![0.0; n_strata * j * j];
        let mut t = vec![0.0; n_strata * j];
        let mut g = vec![0.0; j * j];
        let (mut b, mut d) = (Vec::new(), Vec::new());
        let mut dense = vec![0.0; j];
        let mut touched: Vec<u32> = Vec::new();
        // Per-row probes are stored in row order; the PSU sums in PSU order.
        if j > 0 {
            for i in 0..n {
                row_basis(cal, i, &mut b, &mut d);
                for &(k, v) in &d {
                    probe_row.index.push(k);
                    probe_row.value.push(v);
                    for &(k2, v2) in &b {
                        g[k as usize * j + k2 as usize] += v * v2;
                    }
                }
                probe_row.start.push(probe_row.index.len());
            }
            for c in 0..n_psu {
                for &i in &order[psu_start[c]..psu_start[c + 1]] {
                    row_basis(cal, i as usize, &mut b, &mut d);
                    for &(k, v) in &b {
                        if dense[k as usize] == 0.0 {
                            touched.push(k);
                        }
                        dense[k as usize] += v;
                    }
                }
                touched.sort_unstable();
                touched.dedup();
                let h = psu_stratum[c] as usize;
                for &k in &touched {
                    let v = dense[k as usize];
                    basis_psu.index.push(k);
                    basis_psu.value.push(v);
                    t[h * j + k as usize] += v;
                    for &k2 in &touched {
                        q[(h * j + k as usize) * j + k2 as usize] += v * dense[k2 as usize];
                    }
                }
                for &k in &touched {
                    dense[k as usize] = 0.0;
                }
                touched.clear();
                basis_psu.start.push(basis_psu.index.len());
            }
        } else {
            probe_row.start = vec![0; n + 1];
            basis_psu.start = vec![0; n_psu + 1];
        }
        let phi = match cal {
            Calibration::None => Phi::None,
            Calibration::PostStrat {
                cells,
                n_cells,
                before,
                ..
            } => {
                let den = super::group_sums(before, cells, *n_cells);
                Phi::Scale(
                    den.iter()
                        .map(|&x| if x > 0.0 { 1.0 / x } else { 0.0 })
                        .collect(),
                )
            }
            Calibration::Rake { margins, .. } => {
                let mut blocks = Vec::new();
                let mut counts = vec![0.0; j];
                let mut offset = 0;
                for (codes, k) in margins {
                    blocks.push((offset, *k));
                    for &c in codes {
                        counts[offset + c as usize] += 1.0;
                    }
                    offset += k;
                }
                Phi::Rake { blocks, counts, g }
            }
            Calibration::Greg(greg) => Phi::Linear(greg.inverse().clone()),
        };
        let n_h = design.psus_in_stratum().iter().map(|&x| x as f64).collect();
        let singleton_psus = psu_start.windows(2).all(|s| s[1] - s[0] == 1);
        DomainLinearizer {
            singleton_psus,
            survey,
            order,
            psu_start,
            psu_stratum,
            n_strata,
            j,
            basis_psu,
            probe_row,
            q,
            t,
            scale: design.stratum_scales(),
            n_h,
            phi,
        }
    }

    fn phi(&self, s: &[f64]) -> Vec<f64> {
        match &self.phi {
            Phi::None => Vec::new(),
            Phi::Scale(scale) => s.iter().zip(scale).map(|(a, b)| a * b).collect(),
            Phi::Linear(inv) => {
                let v = inv * nalgebra::DVector::from_column_slice(s);
                v.iter().copied().collect()
            }
            Phi::Rake { blocks, counts, g } => {
                let j = self.j;
                let mut gamma = vec![0.0; j];
                let mut step = vec![0.0; j];
                for _ in 0..RAKE_SWEEPS {
                    for &(offset, k) in blocks {
                        for r in offset..offset + k {
                            let fitted: f64 = (0..j).map(|c| g[r * j + c] * gamma[c]).sum::<f64>();
                            step[r] = if counts[r] > 0.0 {
                                (s[r] - fitted) / counts[r]
                            } else {
                                0.0
                            };
                        }
                        for r in offset..offset + k {
                            gamma[r] += step[r];
                        }
                    }
                }
                gamma
            }
        }
    }

    /// Means (or totals) of a numeric series, or the proportion in each level of a level-set
    /// series, for every domain of every partition: `[partition][domain][level]` (one level
    /// for a numeric series).
    /// The design and calibration it was prepared for.
    pub fn survey(&self) -> &Survey<'a> {
        &self.survey
    }

    pub fn estimate(
        &self,
        series: Series<'_>,
        domains: &Domains<'_>,
        total: bool,
    ) -> Vec<Vec<Vec<DomainEstimate>>> {
        self.estimate_with(series, domains, total, true)
    }

    /// [`DomainLinearizer::estimate`]; `domain_df = false` gives each estimate the df of the
    /// rows that answered (the quantiles' F̂, as `svyquantile` drops missing answers first).
    fn estimate_with(
        &self,
        series: Series<'_>,
        domains: &Domains<'_>,
        total: bool,
        domain_df: bool,
    ) -> Vec<Vec<Vec<DomainEstimate>>> {
        let partitions = domains.partitions();
        let (levels, centre) = self.levels_and_centre(series);
        let accs = if self.singleton_psus && partitions.len() > 1 && !domains.joint_maps.is_empty()
        {
            self.accumulate_joint(series, domains, false, levels, centre)
                .0
        } else if self.singleton_psus {
            self.accumulate_rows(series, partitions, levels, centre)
        } else {
            partitions
                .iter()
                .map(|&p| self.accumulate_psus(series, p, levels, centre, None))
                .collect()
        };
        self.finish_estimates(&accs, series, domains, total, domain_df, levels, centre)
    }

    /// Every domain's estimates from its partition's accumulators.
    #[allow(clippy::too_many_arguments)]
    fn finish_estimates(
        &self,
        accs: &[Accumulators],
        series: Series<'_>,
        domains: &Domains<'_>,
        total: bool,
        domain_df: bool,
        levels: usize,
        centre: f64,
    ) -> Vec<Vec<Vec<DomainEstimate>>> {
        let dfs = domain_df.then(|| domains.degf(&self.survey));
        domains
            .partitions()
            .iter()
            .zip(accs)
            .enumerate()
            .map(|(p, (partition, acc))| {
                (0..partition.k)
                    .map(|d| {
                        let gamma_b = self.phi(acc.s_b(d));
                        let df = dfs.as_ref().map(|dfs| dfs[p][d]);
                        (0..levels)
                            .map(|l| acc.finish(self, d, l, &gamma_b, centre, total, &series, df))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// A series' levels (1 for a numeric one) and the constant its values are centred on: the
    /// overall weighted mean, so the expanded sums of squares keep their precision.
    fn levels_and_centre(&self, series: Series<'_>) -> (usize, f64) {
        let w = self.survey.weights;
        match series {
            Series::Numeric(y) => {
                let (mut sw, mut swy) = (0.0, 0.0);
                for i in 0..y.len() {
                    if w[i] > 0.0 && !y[i].is_nan() {
                        sw += w[i];
                        swy += w[i] * y[i];
                    }
                }
                (1, if sw > 0.0 { swy / sw } else { 0.0 })
            }
            Series::Levels { k, .. } => (k.min(64), 0.0),
        }
    }

    /// Without clusters, with joint cells: one accumulation per row on the joint cells, each
    /// partition's domains then summed from their joint cells. With `whole_sample`, the rows
    /// in no cell are accumulated too (as one more cell) and the whole sample's sums returned
    /// beside: the sums over every cell.
    fn accumulate_joint(
        &self,
        series: Series<'_>,
        domains: &Domains<'_>,
        whole_sample: bool,
        levels: usize,
        centre: f64,
    ) -> (Vec<Accumulators>, Option<Accumulators>) {
        let cells = if whole_sample {
            domains.joint_and_outside()
        } else {
            domains.joint()
        };
        let cells = self
            .accumulate_rows(series, &[cells], levels, centre)
            .remove(0);
        self.sum_cells(&cells, domains, whole_sample, levels)
    }

    /// Each partition's domains summed from the joint cells `cells` (in cell order), and with
    /// `whole_sample` the sum of every cell.
    fn sum_cells(
        &self,
        cells: &Accumulators,
        domains: &Domains<'_>,
        whole_sample: bool,
        levels: usize,
    ) -> (Vec<Accumulators>, Option<Accumulators>) {
        let partitions = domains
            .partitions()
            .iter()
            .zip(&domains.joint_maps)
            .map(|(p, map)| {
                let mut acc = Accumulators::new(p.k, levels, self.n_strata, self.j);
                for (c, &d) in map.iter().enumerate() {
                    if d != NO_DOMAIN {
                        acc.add_domain(d as usize, cells, c);
                    }
                }
                acc
            })
            .collect();
        let whole = whole_sample.then(|| {
            let mut acc = Accumulators::new(1, levels, self.n_strata, self.j);
            for c in 0..cells.n.len() {
                acc.add_domain(0, cells, c);
            }
            acc
        });
        (partitions, whole)
    }

    /// One series' sums on the joint cells of `domains` and the rows in none: one pass over
    /// the rows that both [`DomainLinearizer::estimate_from`] and
    /// [`DomainLinearizer::differences_from`] read. `None` with clusters (a PSU's rows are
    /// gathered per partition) or without joint cells (too many combinations).
    pub fn cell_sums(&self, series: Series<'_>, domains: &Domains<'_>) -> Option<CellSums> {
        if !self.singleton_psus || domains.joint_maps.is_empty() {
            return None;
        }
        let (levels, centre) = self.levels_and_centre(series);
        let cells = self
            .accumulate_rows(series, &[domains.joint_and_outside()], levels, centre)
            .remove(0);
        Some(CellSums {
            cells,
            levels,
            centre,
        })
    }

    /// [`DomainLinearizer::estimate`] from the sums [`DomainLinearizer::cell_sums`] made of
    /// the same series and domains: the same numbers, bit for bit.
    pub fn estimate_from(
        &self,
        sums: &CellSums,
        series: Series<'_>,
        domains: &Domains<'_>,
        total: bool,
    ) -> Vec<Vec<Vec<DomainEstimate>>> {
        let (accs, _) = self.sum_cells(&sums.cells, domains, false, sums.levels);
        self.finish_estimates(
            &accs,
            series,
            domains,
            total,
            true,
            sums.levels,
            sums.centre,
        )
    }

    /// The one-row-per-PSU case (no clusters): each row's sums go straight to the stratum
    /// accumulators of every partition in one pass.
    fn accumulate_rows(
        &self,
        series: Series<'_>,
        partitions: &[Partition<'_>],
        levels: usize,
        centre: f64,
    ) -> Vec<Accumulators> {
        let (h_n, j) = (self.n_strata, self.j);
        let w = self.survey.weights;
        let strata = self.survey.design.strata();
        let psu = self.survey.design.psu();
        let mut accs: Vec<Accumulators> = partitions
            .iter()
            .map(|p| Accumulators::new(p.k, levels, h_n, j))
            .collect();
        let numeric = matches!(series, Series::Numeric(_));
        // The row's contributions: (level, a = w·x, x).
        let mut contrib = [(0usize, 0.0f64, 0.0f64); 64];
        let mut yi = 0.0;
        for i in 0..w.len() {
            let wi = w[i];
            if wi <= 0.0 || wi.is_nan() {
                continue;
            }
            let mut nc = 0;
            match series {
                Series::Numeric(y) => {
                    if y[i].is_nan() {
                        continue;
                    }
                    let x = y[i] - centre;
                    contrib[0] = (0, wi * x, x);
                    nc = 1;
                    yi = y[i];
                }
                Series::Levels { sets, .. } => {
                    let Some(mut set) = sets[i] else { continue };
                    while set != 0 {
                        let l = set.trailing_zeros() as usize;
                        set &= set - 1;
                        if l >= levels {
                            break;
                        }
                        contrib[nc] = (l, wi, 1.0);
                        nc += 1;
                    }
                }
            }
            let h = strata[i] as usize;
            let (pidx, pval) = self.probe_row.row(i);
            let (sidx, sval) = self.basis_psu.row(psu[i] as usize);
            for (partition, acc) in partitions.iter().zip(accs.iter_mut()) {
                let d = partition.codes[i];
                if d == NO_DOMAIN {
                    continue;
                }
                let d = d as usize;
                let dh = d * h_n + h;
                acc.n[d] += 1;
                acc.strata_seen[dh] = true;
                acc.alpha_b[dh] += wi;
                acc.beta_bb[dh] += wi * wi;
                for (&k, &v) in sidx.iter().zip(sval) {
                    acc.u_b[dh * j + k as usize] += wi * v;
                }
                for (&k, &v) in pidx.iter().zip(pval) {
                    acc.s_b[d * j + k as usize] += wi * v;
                }
                for &(l, a, x) in &contrib[..nc] {
                    let dl = d * levels + l;
                    let idx = dl * h_n + h;
                    acc.hits[dl] += 1;
                    if numeric {
                        acc.y_min[dl] = acc.y_min[dl].min(yi);
                        acc.y_max[dl] = acc.y_max[dl].max(yi);
                    }
                    acc.alpha_a[idx] += a;
                    acc.beta_aa[idx] += a * a;
                    if numeric {
                        acc.wx2[dl] += a * x;
                        acc.beta_ab[idx] += a * wi;
                    }
                    for (&k, &v) in sidx.iter().zip(sval) {
                        acc.u_a[idx * j + k as usize] += a * v;
                    }
                    for (&k, &v) in pidx.iter().zip(pval) {
                        acc.s_a[dl * j + k as usize] += a * v;
                    }
                }
            }
        }
        // What one row per PSU makes redundant was not accumulated: derive it. (For a level,
        // a = w, so Σ a x = Σ a and Σ a b = Σ a².)
        for acc in &mut accs {
            acc.psus.clone_from(&acc.n);
            for d in 0..acc.n.len() {
                let strata = d * h_n..(d + 1) * h_n;
                acc.w_sum[d] = acc.alpha_b[strata.clone()].iter().sum();
                acc.w2_sum[d] = acc.beta_bb[strata].iter().sum();
                for l in 0..levels {
                    let dl = d * levels + l;
                    acc.wx[dl] = acc.alpha_a[dl * h_n..(dl + 1) * h_n].iter().sum();
                    if !numeric {
                        acc.wx2[dl] = acc.wx[dl];
                    }
                }
            }
            if !numeric {
                acc.beta_ab.clone_from(&acc.beta_aa);
            }
        }
        accs
    }

    /// The clustered case: a row's sums are gathered per PSU first, then each PSU's totals
    /// go to its stratum's accumulators.
    ///
    /// With `cross`, also the products of each domain's PSU totals with the whole sample's
    /// (every row that answered, in a domain or not): what a domain-against-the-rest
    /// difference needs beyond each one's own sums.
    fn accumulate_psus(
        &self,
        series: Series<'_>,
        partition: Partition<'_>,
        levels: usize,
        centre: f64,
        mut cross: Option<&mut Cross>,
    ) -> Accumulators {
        let (nd, h_n, j) = (partition.k, self.n_strata, self.j);
        let w = self.survey.weights;
        let mut acc = Accumulators::new(nd, levels, h_n, j);
        let mut loc_b = vec![0.0; nd];
        let mut loc_a = vec![0.0; nd * levels];
        let mut loc_on = vec![false; nd];
        let mut touched: Vec<usize> = Vec::new();
        // The whole sample's PSU totals (with `cross`).
        let mut all_a = vec![0.0; levels];
        let mut all_b = 0.0;
        for c in 0..self.psu_start.len() - 1 {
            let h = self.psu_stratum[c] as usize;
            for &i in &self.order[self.psu_start[c]..self.psu_start[c + 1]] {
                let i = i as usize;
                if cross.is_some() && w[i] > 0.0 {
                    match series {
                        Series::Numeric(y) if !y[i].is_nan() => {
                            all_a[0] += w[i] * (y[i] - centre);
                            all_b += w[i];
                        }
                        Series::Levels { sets, .. } => {
                            if let Some(mut set) = sets[i] {
                                while set != 0 {
                                    let l = set.trailing_zeros() as usize;
                                    set &= set - 1;
                                    if l >= levels {
                                        break;
                                    }
                                    all_a[l] += w[i];
                                }
                                all_b += w[i];
                            }
                        }
                        Series::Numeric(_) => {}
                    }
                }
                let d = partition.codes[i];
                if d == NO_DOMAIN || w[i] <= 0.0 || w[i].is_nan() {
                    continue;
                }
                let d = d as usize;
                let wi = w[i];
                let (pidx, pval) = self.probe_row.row(i);
                match series {
                    Series::Numeric(y) => {
                        if y[i].is_nan() {
                            continue;
                        }
                        let x = y[i] - centre;
                        let a = wi * x;
                        acc.hits[d * levels] += 1;
                        acc.y_min[d * levels] = acc.y_min[d * levels].min(y[i]);
                        acc.y_max[d * levels] = acc.y_max[d * levels].max(y[i]);
                        loc_a[d * levels] += a;
                        acc.wx[d * levels] += a;
                        acc.wx2[d * levels] += a * x;
                        let base = d * levels * j;
                        for (&k, &v) in pidx.iter().zip(pval) {
                            acc.s_a[base + k as usize] += a * v;
                        }
                    }
                    Series::Levels { sets, .. } => {
                        let Some(mut set) = sets[i] else { continue };
                        while set != 0 {
                            let l = set.trailing_zeros() as usize;
                            set &= set - 1;
                            if l >= levels {
                                break;
                            }
                            loc_a[d * levels + l] += wi;
                            acc.hits[d * levels + l] += 1;
                            acc.wx[d * levels + l] += wi;
                            acc.wx2[d * levels + l] += wi;
                            let base = (d * levels + l) * j;
                            for (&k, &v) in pidx.iter().zip(pval) {
                                acc.s_a[base + k as usize] += wi * v;
                            }
                        }
                    }
                }
                acc.n[d] += 1;
                acc.w_sum[d] += wi;
                acc.w2_sum[d] += wi * wi;
                for (&k, &v) in pidx.iter().zip(pval) {
                    acc.s_b[d * j + k as usize] += wi * v;
                }
                loc_b[d] += wi;
                if !loc_on[d] {
                    loc_on[d] = true;
                    touched.push(d);
                }
            }
            if touched.is_empty() {
                all_a.iter_mut().for_each(|x| *x = 0.0);
                all_b = 0.0;
                continue;
            }
            let (sidx, sval) = self.basis_psu.row(c);
            for &d in &touched {
                let bt = loc_b[d];
                if let Some(x) = cross.as_deref_mut() {
                    let dh = d * h_n + h;
                    x.bb[dh] += bt * all_b;
                    for l in 0..levels {
                        let idx = (d * levels + l) * h_n + h;
                        let at = loc_a[d * levels + l];
                        x.aa[idx] += at * all_a[l];
                        x.ab[idx] += at * all_b;
                        x.ba[idx] += bt * all_a[l];
                    }
                }
                acc.psus[d] += 1;
                acc.strata_seen[d * h_n + h] = true;
                let dh = d * h_n + h;
                acc.alpha_b[dh] += bt;
                acc.beta_bb[dh] += bt * bt;
                for (&k, &v) in sidx.iter().zip(sval) {
                    acc.u_b[dh * j + k as usize] += bt * v;
                }
                for l in 0..levels {
                    let at = loc_a[d * levels + l];
                    if at == 0.0 {
                        continue;
                    }
                    loc_a[d * levels + l] = 0.0;
                    let idx = (d * levels + l) * h_n + h;
                    acc.alpha_a[idx] += at;
                    acc.beta_aa[idx] += at * at;
                    acc.beta_ab[idx] += at * bt;
                    for (&k, &v) in sidx.iter().zip(sval) {
                        acc.u_a[idx * j + k as usize] += at * v;
                    }
                }
                loc_b[d] = 0.0;
                loc_on[d] = false;
            }
            touched.clear();
            all_a.iter_mut().for_each(|x| *x = 0.0);
            all_b = 0.0;
        }
        acc
    }

    /// Quantiles `probs` of `y` in every domain of every partition, with their Woodruff
    /// intervals and the domain's Kish n_eff — as [`Survey::quantile_with`] computes one:
    /// `[partition][prob][domain]`.
    pub fn quantiles(
        &self,
        y: &[f64],
        domains: &Domains<'_>,
        probs: &[f64],
        rule: QRule,
        interval: WoodruffCi,
        level: f64,
    ) -> Vec<Vec<Vec<(QuantileEstimate, f64)>>> {
        let w = self.survey.weights;
        let partitions = domains.partitions();
        if interval == WoodruffCi::Score {
            // The score interval searches θ with a variance per step: one domain at a time.
            return partitions
                .iter()
                .map(|part| {
                    probs
                        .iter()
                        .map(|&p| {
                            (0..part.k as u32)
                                .map(|d| {
                                    let mask: Vec<bool> =
                                        part.codes.iter().map(|&c| c == d).collect();
                                    let q = self.survey.quantile_with(
                                        y,
                                        Some(&mask),
                                        p,
                                        rule,
                                        interval,
                                        level,
                                    );
                                    let used: Vec<f64> = (0..y.len())
                                        .filter(|&i| mask[i] && w[i] > 0.0 && !y[i].is_nan())
                                        .map(|i| w[i])
                                        .collect();
                                    (q, super::estimators::kish_ess(&used))
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect();
        }
        // One partition at a time (its domains' sorted values are the memory this takes):
        // each domain's values and weights, sorted once for every probability.
        partitions
            .iter()
            .map(|partition| {
                let mut rows: Vec<Vec<u32>> = vec![Vec::new(); partition.k];
                for i in 0..y.len() {
                    let d = partition.codes[i];
                    if d != NO_DOMAIN && w[i] > 0.0 && !y[i].is_nan() {
                        rows[d as usize].push(i as u32);
                    }
                }
                let doms: Vec<(Vec<f64>, Vec<f64>)> = rows
                    .into_iter()
                    .map(|mut r| {
                        r.sort_by(|&a, &b| y[a as usize].total_cmp(&y[b as usize]));
                        (
                            r.iter().map(|&i| y[i as usize]).collect(),
                            r.iter().map(|&i| w[i as usize]).collect(),
                        )
                    })
                    .collect();
                let single = Domains::new(vec![*partition]);
                probs
                    .iter()
                    .map(|&p| {
                        let values: Vec<f64> = doms
                            .iter()
                            .map(|(xs, ws)| {
                                if xs.is_empty() {
                                    f64::NAN
                                } else {
                                    quantile(xs, ws, p, rule)
                                }
                            })
                            .collect();
                        // F̂(q_d) in every domain: the share at or below its own quantile, as
                        // one level of a level set.
                        let sets: Vec<Option<u64>> = (0..y.len())
                            .map(|i| {
                                let d = partition.codes[i];
                                if d == NO_DOMAIN || y[i].is_nan() {
                                    None
                                } else {
                                    Some(u64::from(y[i] <= values[d as usize]))
                                }
                            })
                            .collect();
                        let f: Vec<DomainEstimate> = self
                            .estimate_with(
                                Series::Levels { k: 1, sets: &sets },
                                &single,
                                false,
                                false,
                            )
                            .into_iter()
                            .next()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|l| l[0])
                            .collect();
                        doms.iter()
                            .enumerate()
                            .map(|(d, (xs, ws))| {
                                let fd = f[d];
                                (
                                    self.woodruff(
                                        xs,
                                        ws,
                                        values[d],
                                        fd.estimate,
                                        rule,
                                        interval,
                                        level,
                                    ),
                                    fd.n_eff,
                                )
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// The Woodruff interval of a quantile `value` of the sorted `xs` from F̂ at it.
    #[allow(clippy::too_many_arguments)]
    fn woodruff(
        &self,
        xs: &[f64],
        ws: &[f64],
        value: f64,
        e: Estimate,
        rule: QRule,
        interval: WoodruffCi,
        level: f64,
    ) -> QuantileEstimate {
        if xs.is_empty() {
            return QuantileEstimate {
                value: f64::NAN,
                ci_low: f64::NAN,
                ci_high: f64::NAN,
                se: f64::NAN,
                n: 0,
                weight_sum: e.weight_sum,
                df: e.df,
            };
        }
        let t = critical(level, e.df);
        let n_rows = self.survey.weights.len();
        let (ci_low, ci_high) = woodruff_back(xs, ws, &e, rule, interval, level, n_rows);
        QuantileEstimate {
            value,
            ci_low,
            ci_high,
            se: (ci_high - ci_low) / (2.0 * t),
            n: e.n,
            weight_sum: e.weight_sum,
            df: e.df,
        }
    }
}

/// The sufficient statistics of one pass (see the module doc).
struct Accumulators {
    levels: usize,
    h_n: usize,
    j: usize,
    n: Vec<usize>,
    w_sum: Vec<f64>,
    w2_sum: Vec<f64>,
    psus: Vec<usize>,
    strata_seen: Vec<bool>,
    /// Per (domain, level): Σ w x and Σ w x².
    wx: Vec<f64>,
    wx2: Vec<f64>,
    /// Per (domain, level): the smallest and largest y (numeric series) and the rows counted in
    /// the level (levels), so a domain whose values are all the same gets its exact mean and an
    /// SE of exactly 0 (as R), not the rounding noise of the expanded sums of squares.
    y_min: Vec<f64>,
    y_max: Vec<f64>,
    hits: Vec<usize>,
    alpha_b: Vec<f64>,
    beta_bb: Vec<f64>,
    alpha_a: Vec<f64>,
    beta_aa: Vec<f64>,
    beta_ab: Vec<f64>,
    u_b: Vec<f64>,
    u_a: Vec<f64>,
    s_b: Vec<f64>,
    s_a: Vec<f64>,
}

impl Accumulators {
    fn new(nd: usize, levels: usize, h_n: usize, j: usize) -> Self {
        let dl = nd * levels;
        Accumulators {
            levels,
            h_n,
            j,
            n: vec![0; nd],
            w_sum: vec![0.0; nd],
            w2_sum: vec![0.0; nd],
            psus: vec![0; nd],
            strata_seen: vec![false; nd * h_n],
            wx: vec![0.0; dl],
            wx2: vec![0.0; dl],
            y_min: vec![f64::INFINITY; dl],
            y_max: vec![f64::NEG_INFINITY; dl],
            hits: vec![0; dl],
            alpha_b: vec![0.0; nd * h_n],
            beta_bb: vec![0.0; nd * h_n],
            alpha_a: vec![0.0; dl * h_n],
            beta_aa: vec![0.0; dl * h_n],
            beta_ab: vec![0.0; dl * h_n],
            u_b: vec![0.0; nd * h_n * j],
            u_a: vec![0.0; dl * h_n * j],
            s_b: vec![0.0; nd * j],
            s_a: vec![0.0; dl * j],
        }
    }

    /// Add domain `c` of `from` (same levels, strata and basis) into domain `d`.
    fn add_domain(&mut self, d: usize, from: &Accumulators, c: usize) {
        fn add(to: &mut [f64], from: &[f64], d: usize, c: usize, width: usize) {
            let (to, from) = (
                &mut to[d * width..(d + 1) * width],
                &from[c * width..(c + 1) * width],
            );
            for (a, b) in to.iter_mut().zip(from) {
                *a += b;
            }
        }
        let (l, h, j) = (self.levels, self.h_n, self.j);
        self.n[d] += from.n[c];
        self.psus[d] += from.psus[c];
        self.w_sum[d] += from.w_sum[c];
        self.w2_sum[d] += from.w2_sum[c];
        for k in 0..h {
            self.strata_seen[d * h + k] |= from.strata_seen[c * h + k];
        }
        add(&mut self.wx, &from.wx, d, c, l);
        for k in 0..l {
            let (to, fr) = (d * l + k, c * l + k);
            self.y_min[to] = self.y_min[to].min(from.y_min[fr]);
            self.y_max[to] = self.y_max[to].max(from.y_max[fr]);
            self.hits[to] += from.hits[fr];
        }
        add(&mut self.wx2, &from.wx2, d, c, l);
        add(&mut self.alpha_b, &from.alpha_b, d, c, h);
        add(&mut self.beta_bb, &from.beta_bb, d, c, h);
        add(&mut self.alpha_a, &from.alpha_a, d, c, l * h);
        add(&mut self.beta_aa, &from.beta_aa, d, c, l * h);
        add(&mut self.beta_ab, &from.beta_ab, d, c, l * h);
        add(&mut self.u_b, &from.u_b, d, c, h * j);
        add(&mut self.u_a, &from.u_a, d, c, l * h * j);
        add(&mut self.s_b, &from.s_b, d, c, j);
        add(&mut self.s_a, &from.s_a, d, c, l * j);
    }

    fn s_b(&self, d: usize) -> &[f64] {
        &self.s_b[d * self.j..(d + 1) * self.j]
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        lin: &DomainLinearizer<'_>,
        d: usize,
        l: usize,
        gamma_b: &[f64],
        centre: f64,
        total: bool,
        series: &Series<'_>,
        df: Option<f64>,
    ) -> DomainEstimate {
        let (h_n, j) = (self.h_n, self.j);
        let n = self.n[d];
        // Without the domain's df: the PSUs of the rows that answered (svyquantile's).
        let df = df.unwrap_or_else(|| {
            let strata = (0..h_n).filter(|&h| self.strata_seen[d * h_n + h]).count();
            self.psus[d] as f64 - strata as f64
        });
        let big_w = self.w_sum[d];
        let n_eff = if self.w2_sum[d] > 0.0 {
            big_w * big_w / self.w2_sum[d]
        } else {
            f64::NAN
        };
        if n == 0 {
            return DomainEstimate {
                estimate: Estimate {
                    value: f64::NAN,
                    se: f64::NAN,
                    n,
                    weight_sum: 0.0,
                    deff: f64::NAN,
                    df,
                },
                n_eff,
            };
        }
        let dl = d * self.levels + l;
        let wa = self.wx[dl];
        let mu = wa / big_w;
        let numeric = matches!(series, Series::Numeric(_));
        // Every value in the domain the same: its mean is that value and its SE exactly 0.
        let constant = if numeric {
            self.y_min[dl] == self.y_max[dl]
        } else {
            self.hits[dl] == 0 || self.hits[dl] == n
        };
        let value = match (numeric, total) {
            (true, true) => wa + centre * big_w,
            (true, false) if constant => self.y_min[dl],
            (true, false) => centre + mu,
            (false, true) => wa,
            (false, false) if constant => (self.hits[dl] == n) as u8 as f64,
            (false, false) => mu,
        };
        // z = (a + k b)·scale.
        let (k, scale) = if total {
            (if numeric { centre } else { 0.0 }, 1.0)
        } else {
            (-mu, 1.0 / big_w)
        };
        let gamma_a = lin.phi(&self.s_a[dl * j..(dl + 1) * j]);
        let gamma: Vec<f64> = gamma_a
            .iter()
            .zip(gamma_b)
            .map(|(a, b)| a + k * b)
            .collect();
        let mut v = 0.0;
        for h in 0..h_n {
            let c = lin.scale[h];
            if c == 0.0 {
                continue;
            }
            let ih = dl * h_n + h;
            let dh = d * h_n + h;
            let mut sr2 = self.beta_aa[ih] + 2.0 * k * self.beta_ab[ih] + k * k * self.beta_bb[dh];
            let mut sr = self.alpha_a[ih] + k * self.alpha_b[dh];
            if j > 0 {
                let ua = &self.u_a[ih * j..(ih + 1) * j];
                let ub = &self.u_b[dh * j..(dh + 1) * j];
                let q = &lin.q[h * j * j..(h + 1) * j * j];
                let t = &lin.t[h * j..(h + 1) * j];
                let mut cross = 0.0;
                let mut quad = 0.0;
                let mut lin_t = 0.0;
                for r in 0..j {
                    if gamma[r] == 0.0 {
                        continue;
                    }
                    cross += gamma[r] * (ua[r] + k * ub[r]);
                    lin_t += gamma[r] * t[r];
                    let row = &q[r * j..(r + 1) * j];
                    quad += gamma[r] * row.iter().zip(&gamma).map(|(a, b)| a * b).sum::<f64>();
                }
                sr2 += -2.0 * cross + quad;
                sr -= lin_t;
            }
            v += c * (sr2 - sr * sr / lin.n_h[h]);
        }
        let var = if constant && !total {
            0.0
        } else {
            v.max(0.0) * scale * scale
        };
        // Design effect against SRS without replacement, as `Survey::mean` computes it.
        let nf = n as f64;
        let ss = (self.wx2[dl] - wa * wa / big_w).max(0.0);
        let s2 = nf / (nf - 1.0) * ss / big_w;
        let vsrs_mean = s2 * (big_w - nf) / (big_w * nf);
        let vsrs = if total {
            vsrs_mean * big_w * big_w
        } else {
            vsrs_mean
        };
        DomainEstimate {
            estimate: Estimate {
                value,
                se: var.sqrt(),
                n,
                weight_sum: big_w,
                deff: var / vsrs,
                df,
            },
            n_eff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::calibration::{poststratify, rake, Margin};
    use crate::kernels::design::Design;
    use crate::kernels::estimators::kish_ess;
    use crate::kernels::greg::{calibrate, column_totals, CalFun, GregResidual};
    use crate::kernels::prec::close;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    /// A random round: strata, PSUs (singletons or clusters), FPC, weights, two margins, a
    /// numeric y with missing values, a 4-level answer (some unanswered), a 3-option multi.
    struct Round {
        strata: Vec<u32>,
        psu: Vec<u32>,
        w: Vec<f64>,
        m1: Vec<u32>,
        m2: Vec<u32>,
        y: Vec<f64>,
        sets: Vec<Option<u64>>,
        multi: Vec<Option<u64>>,
    }

    fn round(seed: u64, n: usize, clustered: bool) -> Round {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut u = move |k: u64| rng.next_u64() % k;
        let mut r = Round {
            strata: Vec::new(),
            psu: Vec::new(),
            w: Vec::new(),
            m1: Vec::new(),
            m2: Vec::new(),
            y: Vec::new(),
            sets: Vec::new(),
            multi: Vec::new(),
        };
        for i in 0..n {
            let h = (i % 3) as u32;
            r.strata.push(h);
            // Clusters of about four rows, nested in strata.
            r.psu.push(if clustered {
                (i / 12 * 3) as u32 + h
            } else {
                i as u32
            });
            r.w.push(1.0 + u(40) as f64 / 10.0);
            r.m1.push(u(3) as u32);
            r.m2.push(u(4) as u32);
            r.y.push(if u(10) == 0 {
                f64::NAN
            } else {
                u(1000) as f64 / 7.0
            });
            r.sets.push(if u(8) == 0 { None } else { Some(1 << u(4)) });
            r.multi.push(if u(6) == 0 { None } else { Some(u(8)) });
        }
        r
    }

    fn calibrations(r: &Round) -> Vec<(&'static str, Vec<f64>, Calibration)> {
        let n = r.w.len();
        let cells: Vec<u32> = r.m1.iter().zip(&r.m2).map(|(a, b)| a * 4 + b).collect();
        let ps_targets: Vec<f64> = (0..12).map(|c| 100.0 + 10.0 * c as f64).collect();
        let ps = poststratify(&r.w, &cells, &ps_targets).unwrap();
        let margins = vec![
            Margin {
                codes: r.m1.clone(),
                targets: vec![600.0, 800.0, 1000.0],
            },
            Margin {
                codes: r.m2.clone(),
                targets: vec![500.0, 700.0, 600.0, 600.0],
            },
        ];
        let fit = rake(&r.w, &margins, 1e-10, 100).unwrap();
        let codes = vec![(r.m1.clone(), 3), (r.m2.clone(), 4)];
        let totals = column_totals(&[vec![600.0, 800.0, 1000.0], vec![500.0, 700.0, 600.0, 600.0]]);
        let greg = calibrate(&r.w, &codes, &totals, CalFun::Linear, 1e-10, 50).unwrap();
        let resid = GregResidual::new(codes.clone(), r.w.clone(), greg.weights.clone()).unwrap();
        vec![
            ("none", r.w.clone(), Calibration::None),
            (
                "poststrat",
                ps.clone(),
                Calibration::PostStrat {
                    cells,
                    n_cells: 12,
                    before: r.w.clone(),
                    after: ps,
                },
            ),
            (
                "rake",
                fit.weights.clone(),
                Calibration::Rake {
                    margins: codes,
                    snapshots: fit.snapshots,
                },
            ),
            ("greg", greg.weights, Calibration::Greg(resid)),
        ]
        .into_iter()
        .map(|(a, w, c)| {
            assert_eq!(w.len(), n);
            (a, w, c)
        })
        .collect()
    }

    fn agree(what: &str, batch: &Estimate, one: &Estimate) {
        let ok = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || close(a, b, 1e-9);
        assert!(
            ok(batch.value, one.value),
            "{what}: value {batch:?} vs {one:?}"
        );
        assert!(
            ok(batch.se, one.se) || (batch.se - one.se).abs() < 1e-12 * one.value.abs().max(1.0),
            "{what}: se {batch:?} vs {one:?}"
        );
        assert!(
            ok(batch.deff, one.deff) || (batch.deff - one.deff).abs() < 1e-9,
            "{what}: deff {batch:?} vs {one:?}"
        );
        assert_eq!(batch.n, one.n, "{what}");
        assert_eq!(batch.df, one.df, "{what}");
        assert!(ok(batch.weight_sum, one.weight_sum), "{what}");
    }

    #[test]
    fn every_domain_matches_the_one_at_a_time_estimators() {
        for (seed, clustered, fpc) in [
            (1, false, false),
            (2, false, true),
            (3, true, false),
            (4, true, true),
        ] {
            let r = round(seed, 240, clustered);
            let (strata, psu) = (r.strata.clone(), r.psu.clone());
            let n_psu = *psu.iter().max().unwrap() as usize + 1;
            let pop = fpc.then(|| vec![n_psu as f64 * 2.0; 3]);
            let design = Design::new(strata, psu, pop.as_deref()).unwrap();
            // Domains: m1's levels, with some rows in none.
            let codes: Vec<u32> = (0..r.w.len())
                .map(|i| if i % 11 == 0 { NO_DOMAIN } else { r.m1[i] })
                .collect();
            let partition = Partition {
                codes: &codes,
                k: 3,
            };
            for (name, w, cal) in calibrations(&r) {
                let survey = Survey {
                    design: &design,
                    weights: &w,
                    calibration: &cal,
                };
                let lin = DomainLinearizer::new(survey);
                // The partition twice, everyone as one domain, and m2 crossing m1: one pass
                // (through the joint cells when there are no clusters) serves them all.
                let all = vec![0u32; r.w.len()];
                let by_m2 = Partition { codes: &r.m2, k: 4 };
                let parts = vec![partition, Partition { codes: &all, k: 1 }, partition, by_m2];
                let domains = Domains::new(parts);
                let levels4 = Series::Levels {
                    k: 4,
                    sets: &r.sets,
                };
                let levels3 = Series::Levels {
                    k: 3,
                    sets: &r.multi,
                };
                let means = &lin.estimate(Series::Numeric(&r.y), &domains, false);
                let totals = &lin.estimate(Series::Numeric(&r.y), &domains, true)[0];
                let props = &lin.estimate(levels4, &domains, false)[0];
                let multi = &lin.estimate(levels3, &domains, false)[2];
                let what = format!("seed {seed} {name}");
                agree(
                    &format!("{what} overall"),
                    &means[1][0][0].estimate,
                    &survey.mean(&r.y, None),
                );
                let probs = [0.5, 0.9];
                let q_math =
                    lin.quantiles(&r.y, &domains, &probs, QRule::Math, WoodruffCi::Mean, 0.95);
                let q_hf7 =
                    lin.quantiles(&r.y, &domains, &probs, QRule::Hf7, WoodruffCi::Mean, 0.95);
                for d in 0..4u32 {
                    let mask: Vec<bool> = r.m2.iter().map(|&c| c == d).collect();
                    let one = survey.mean(&r.y, Some(&mask));
                    agree(
                        &format!("{what} m2 {d} mean"),
                        &means[3][d as usize][0].estimate,
                        &one,
                    );
                    let ind: Vec<f64> = r
                        .sets
                        .iter()
                        .map(|s| s.map_or(f64::NAN, |s| (s & 1) as f64))
                        .collect();
                    let one = survey.mean(&ind, Some(&mask));
                    let got = &lin.estimate(levels4, &domains, false)[3][d as usize][0];
                    agree(&format!("{what} m2 {d} level 0"), &got.estimate, &one);
                }
                for d in 0..3u32 {
                    let mask: Vec<bool> = codes.iter().map(|&c| c == d).collect();
                    let what = format!("{what} domain {d}");
                    let one = survey.mean(&r.y, Some(&mask));
                    agree(
                        &format!("{what} mean"),
                        &means[2][d as usize][0].estimate,
                        &one,
                    );
                    let one = survey.total(&r.y, Some(&mask));
                    agree(
                        &format!("{what} total"),
                        &totals[d as usize][0].estimate,
                        &one,
                    );
                    for (k, series, got) in [(4, &r.sets, props), (3, &r.multi, multi)] {
                        for l in 0..k {
                            let ind: Vec<f64> = series
                                .iter()
                                .map(|s| s.map_or(f64::NAN, |s| ((s >> l) & 1) as f64))
                                .collect();
                            let one = survey.mean(&ind, Some(&mask));
                            agree(
                                &format!("{what} level {l}/{k}"),
                                &got[d as usize][l].estimate,
                                &one,
                            );
                        }
                    }
                    let used: Vec<f64> = (0..r.w.len())
                        .filter(|&i| mask[i] && !r.y[i].is_nan() && w[i] > 0.0)
                        .map(|i| w[i])
                        .collect();
                    assert!(close(means[0][d as usize][0].n_eff, kish_ess(&used), 1e-12));
                    for (rule, q) in [(QRule::Math, &q_math), (QRule::Hf7, &q_hf7)] {
                        for (pi, &p) in probs.iter().enumerate() {
                            let one = survey.quantile_with(
                                &r.y,
                                Some(&mask),
                                p,
                                rule,
                                WoodruffCi::Mean,
                                0.95,
                            );
                            let (qd, n_eff) = q[2][pi][d as usize];
                            assert_eq!(qd.value, one.value, "{what}");
                            assert!(
                                close(qd.ci_low, one.ci_low, 1e-9)
                                    && close(qd.ci_high, one.ci_high, 1e-9),
                                "{what}: {qd:?} vs {one:?}"
                            );
                            assert_eq!((qd.n, qd.df), (one.n, one.df));
                            assert!(close(n_eff, kish_ess(&used), 1e-12));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_domain_without_variation_has_its_exact_value_and_se_zero() {
        // Domain 0 of m1: y is 0.7 (not exact in binary) on every row, and every row answered
        // level 2; elsewhere y and the levels vary. R reports SE 0 for such a mean; the
        // expanded sums of squares alone leave rounding noise (5e-9 was seen).
        for clustered in [false, true] {
            let mut r = round(7, 240, clustered);
            for i in 0..r.w.len() {
                if r.m1[i] == 0 {
                    r.y[i] = 0.7;
                    r.sets[i] = Some(1 << 2);
                }
            }
            let design = Design::new(r.strata.clone(), r.psu.clone(), None).unwrap();
            let domain: Vec<bool> = r.m1.iter().map(|&c| c == 0).collect();
            let partition = Partition { codes: &r.m1, k: 3 };
            for (name, w, cal) in calibrations(&r) {
                let survey = Survey {
                    design: &design,
                    weights: &w,
                    calibration: &cal,
                };
                let one = survey.mean(&r.y, Some(&domain));
                assert_eq!((one.value, one.se), (0.7, 0.0), "{name} {clustered}");
                let lin = DomainLinearizer::new(survey);
                let domains = Domains::new(vec![partition]);
                let e = &lin.estimate(Series::Numeric(&r.y), &domains, false)[0];
                assert_eq!(e[0][0].estimate.value, 0.7, "{name} {clustered}");
                assert_eq!(e[0][0].estimate.se, 0.0, "{name} {clustered}");
                assert!(
                    e[1][0].estimate.se > 0.0,
                    "{name}: a varying domain keeps its SE"
                );
                let levels = Series::Levels {
                    k: 4,
                    sets: &r.sets,
                };
                let e = &lin.estimate(levels, &domains, false)[0];
                for (l, want) in [(0, 0.0), (2, 1.0)] {
                    assert_eq!(e[0][l].estimate.value, want, "{name} level {l}");
                    assert_eq!(e[0][l].estimate.se, 0.0, "{name} level {l}");
                }
            }
        }
    }

    /// Each domain against the rest (rows in another domain or in none) as
    /// `Survey::mean_difference` computes it one at a time: numeric means, single-level shares
    /// and multi-select levels, under every calibration, with and without clusters and FPC; a
    /// domain whose values are all the same and a rest whose values are all the same included.
    #[test]
    fn every_difference_matches_the_one_at_a_time_contrast() {
        for (seed, clustered, fpc) in [
            (11, false, false),
            (12, false, true),
            (13, true, false),
            (14, true, true),
        ] {
            let mut r = round(seed, 240, clustered);
            // m1 = 0 answers y = 0.7 and level 2 throughout; on q, m2 = 3 varies while every
            // other row answers 2 (so the rest of m2 = 3 is constant), m2 = 3 itself 5 to 7.
            let mut q = vec![2.0; r.w.len()];
            for i in 0..r.w.len() {
                if r.m1[i] == 0 {
                    r.y[i] = 0.7;
                    r.sets[i] = Some(1 << 2);
                }
                if r.m2[i] == 3 {
                    q[i] = 5.0 + (i % 3) as f64;
                }
            }
            let n_psu = *r.psu.iter().max().unwrap() as usize + 1;
            let pop = fpc.then(|| vec![n_psu as f64 * 2.0; 3]);
            let design = Design::new(r.strata.clone(), r.psu.clone(), pop.as_deref()).unwrap();
            // Some rows in no domain of the first partition, some of those in none at all
            // (in no joint cell, yet in the rest of every domain).
            let codes: Vec<u32> = (0..r.w.len())
                .map(|i| if i % 11 == 0 { NO_DOMAIN } else { r.m1[i] })
                .collect();
            let codes2: Vec<u32> = (0..r.w.len())
                .map(|i| if i % 22 == 0 { NO_DOMAIN } else { r.m2[i] })
                .collect();
            let both = vec![
                Partition {
                    codes: &codes,
                    k: 3,
                },
                Partition {
                    codes: &codes2,
                    k: 4,
                },
            ];
            // Two partitions, and one alone (its joint cells are its domains).
            for parts in [both.clone(), vec![both[1]]] {
                let domains = Domains::new(parts.clone());
                for (name, w, cal) in calibrations(&r) {
                    let survey = Survey {
                        design: &design,
                        weights: &w,
                        calibration: &cal,
                    };
                    let lin = DomainLinearizer::new(survey);
                    let indicator = |sets: &[Option<u64>], l: usize| -> Vec<f64> {
                        sets.iter()
                            .map(|s| s.map_or(f64::NAN, |s| ((s >> l) & 1) as f64))
                            .collect()
                    };
                    // (what, the batched differences, each level's series one at a time)
                    type Case = (String, Vec<Vec<Vec<Difference>>>, Vec<Vec<f64>>);
                    let mut cases: Vec<Case> = vec![
                        (
                            "y".into(),
                            lin.differences(Series::Numeric(&r.y), &domains),
                            vec![r.y.clone()],
                        ),
                        (
                            "q".into(),
                            lin.differences(Series::Numeric(&q), &domains),
                            vec![q.clone()],
                        ),
                    ];
                    for (k, sets) in [(4, &r.sets), (3, &r.multi)] {
                        cases.push((
                            format!("levels/{k}"),
                            lin.differences(Series::Levels { k, sets }, &domains),
                            (0..k).map(|l| indicator(sets, l)).collect(),
                        ));
                    }
                    // The pass the estimates share: each series' cell sums give the same
                    // differences (the whole sample summed cell by cell) and, bit for bit,
                    // the same estimates. Only without clusters.
                    let every = [
                        Series::Numeric(&r.y),
                        Series::Numeric(&q),
                        Series::Levels {
                            k: 4,
                            sets: &r.sets,
                        },
                        Series::Levels {
                            k: 3,
                            sets: &r.multi,
                        },
                    ];
                    for (c, &series) in every.iter().enumerate() {
                        let Some(sums) = lin.cell_sums(series, &domains) else {
                            assert!(clustered, "seed {seed} {name}: no cell sums");
                            continue;
                        };
                        assert!(!clustered, "seed {seed} {name}: cell sums with clusters");
                        for total in [false, true] {
                            assert_eq!(
                                format!("{:?}", lin.estimate_from(&sums, series, &domains, total)),
                                format!("{:?}", lin.estimate(series, &domains, total)),
                                "seed {seed} {name} series {c} total {total}"
                            );
                        }
                        let (what, _, ys) = &cases[c];
                        let (what, ys) = (format!("{what} from cell sums"), ys.clone());
                        cases.push((what, lin.differences_from(&sums, series, &domains), ys));
                    }
                    for (what, got, ys) in &cases {
                        for (p, part) in parts.iter().enumerate() {
                            for d in 0..part.k {
                                let mask: Vec<bool> =
                                    part.codes.iter().map(|&c| c == d as u32).collect();
                                let rest: Vec<bool> = mask.iter().map(|x| !x).collect();
                                for (l, y) in ys.iter().enumerate() {
                                    let (diff, se) = survey.mean_difference(y, &mask, &rest);
                                    let g = got[p][d][l];
                                    let at = format!("seed {seed} {name} {what} partition {p} domain {d} level {l}: {g:?} vs ({diff}, {se})");
                                    assert!(
                                        (g.difference - diff).abs() <= 1e-9 * diff.abs().max(1e-3),
                                        "{at}"
                                    );
                                    assert!((g.se - se).abs() <= 1e-9 * se.max(1e-6), "{at}");
                                    if se == 0.0 {
                                        assert_eq!(g.se, 0.0, "{at}");
                                    }
                                }
                            }
                        }
                    }
                    // The constant cases occurred: a domain without variation beside a varying
                    // rest, and a varying domain beside a constant rest.
                    let (y0, q3) = (cases[0].1[0][0][0], cases[1].1[parts.len() - 1][3][0]);
                    assert!(q3.se > 0.0, "{q3:?}");
                    if parts.len() == 2 {
                        assert!(y0.se > 0.0, "{y0:?}");
                    }
                }
            }
        }
    }

    /// The shares' covariance matrix equals `Design::covariance` of the residualized influence
    /// scores (what svychisq computed cell by cell), under every calibration, with and without
    /// clusters and FPC, in a domain that leaves rows out.
    #[test]
    fn the_level_covariance_matches_the_influence_scores_covariance() {
        for (seed, clustered, fpc) in [
            (21, false, false),
            (22, false, true),
            (23, true, false),
            (24, true, true),
        ] {
            let r = round(seed, 240, clustered);
            let n_psu = *r.psu.iter().max().unwrap() as usize + 1;
            let pop = fpc.then(|| vec![n_psu as f64 * 2.0; 3]);
            let design = Design::new(r.strata.clone(), r.psu.clone(), pop.as_deref()).unwrap();
            // Cells of m1 × (4 levels of sets), rows without a level outside the domain.
            let cell: Vec<Option<u64>> = (0..r.w.len())
                .map(|i| {
                    r.sets[i].map(|s| 1u64 << (r.m1[i] as u64 * 4 + u64::from(s.trailing_zeros())))
                })
                .collect();
            let domain: Vec<u32> = (0..r.w.len())
                .map(|i| {
                    if cell[i].is_some() && i % 7 != 0 {
                        0
                    } else {
                        NO_DOMAIN
                    }
                })
                .collect();
            for (name, w, cal) in calibrations(&r) {
                let survey = Survey {
                    design: &design,
                    weights: &w,
                    calibration: &cal,
                };
                let lin = DomainLinearizer::new(survey);
                let got = lin.level_covariance(&cell, 12, &domain, false).unwrap();
                let got_totals = lin.level_covariance(&cell, 12, &domain, true).unwrap();
                let inside = |i: usize| domain[i] == 0;
                let wsum: f64 = (0..w.len()).filter(|&i| inside(i)).map(|i| w[i]).sum();
                let zs: Vec<Vec<f64>> = (0..12)
                    .map(|l| {
                        let pl = (0..w.len())
                            .filter(|&i| inside(i) && cell[i] == Some(1 << l))
                            .map(|i| w[i])
                            .sum::<f64>()
                            / wsum;
                        let mut z: Vec<f64> = (0..w.len())
                            .map(|i| {
                                if inside(i) {
                                    w[i] * (f64::from(u8::from(cell[i] == Some(1 << l))) - pl)
                                        / wsum
                                } else {
                                    0.0
                                }
                            })
                            .collect();
                        cal.residualize(&mut z);
                        z
                    })
                    .collect();
                let zt: Vec<Vec<f64>> = (0..12)
                    .map(|l| {
                        let mut z: Vec<f64> = (0..w.len())
                            .map(|i| {
                                if inside(i) && cell[i] == Some(1 << l) {
                                    w[i]
                                } else {
                                    0.0
                                }
                            })
                            .collect();
                        cal.residualize(&mut z);
                        z
                    })
                    .collect();
                for (what, got, want) in [
                    ("shares", &got, design.covariance(&zs)),
                    ("totals", &got_totals, design.covariance(&zt)),
                ] {
                    let scale = (0..12).map(|l| want[l][l]).fold(0.0, f64::max);
                    for l in 0..12 {
                        for m in 0..12 {
                            assert!(
                                (got[(l, m)] - want[l][m]).abs() <= 1e-9 * scale,
                                "seed {seed} {name} {what} ({l}, {m}): {} vs {}",
                                got[(l, m)],
                                want[l][m]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_empty_domain_is_missing_not_an_error() {
        let design = Design::srs(4, None).unwrap();
        let w = vec![1.0; 4];
        let cal = Calibration::None;
        let survey = Survey {
            design: &design,
            weights: &w,
            calibration: &cal,
        };
        let lin = DomainLinearizer::new(survey);
        let codes = [0, 0, 0, 0];
        let part = Partition {
            codes: &codes,
            k: 2,
        };
        let domains = Domains::new(vec![part]);
        let e = &lin.estimate(Series::Numeric(&[1.0, 2.0, 3.0, 4.0]), &domains, false)[0];
        assert_eq!(e[0][0].estimate.value, 2.5);
        assert!(e[1][0].estimate.value.is_nan());
        assert_eq!(e[1][0].estimate.n, 0);
    }
}

//! Tests of association in a two-way table under the design, as R's `svychisq` computes them
//! (methods.md §11): the Rao–Scott second-order corrected F (the default), the first-order
//! corrected chi-square, the Wald and adjusted Wald tests, and Pearson's X² against its
//! asymptotic distribution (a linear combination of χ²_1 by the design effects' eigenvalues)
//! evaluated exactly (`lincom`, Davies' method) or by a saddlepoint (`saddlepoint`). All match
//! R's values on the API cluster, stratified and raked designs (tests/it/reference.rs).

use nalgebra::{DMatrix, DVector};

use super::domains::DomainLinearizer;

/// One test: statistic, numerator and denominator degrees of freedom (NaN when none), p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestResult {
    pub statistic: f64,
    pub ndf: f64,
    pub ddf: f64,
    pub p_value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chisq {
    pub f: TestResult,
    pub chisq: TestResult,
    pub wald: TestResult,
    pub adj_wald: TestResult,
    /// Pearson's X² against Σ δ_j χ²_1 / (χ²_ddf / ddf), exactly (Davies): `statistic` is X²,
    /// `ddf` the F test's denominator df, `ndf` NaN (R reports no parameter).
    pub lincom: TestResult,
    /// The same by the saddlepoint approximation.
    pub saddlepoint: TestResult,
    /// The test's ingredients: Pearson's X² of the weighted table rescaled to n.
    pub pearson: f64,
    /// Trace of the generalized design-effect matrix Δ, and of Δ².
    pub trace: f64,
    pub trace2: f64,
    /// Eigenvalues of Δ, largest first (the generalized design effects).
    pub eigenvalues: Vec<f64>,
    /// Design degrees of freedom ν (PSUs − strata of the rows used).
    pub design_df: f64,
}

/// Eigenvalues of A⁻¹B for symmetric positive definite A and symmetric B, largest first.
fn generalized_eigenvalues(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Vec<f64> {
    let Some(ch) = a.clone().cholesky() else {
        return vec![f64::NAN; a.nrows()];
    };
    let l = ch.l();
    let Some(linv) = l.clone().try_inverse() else {
        return vec![f64::NAN; a.nrows()];
    };
    let m = &linv * b * linv.transpose();
    let m = (&m + m.transpose()) * 0.5;
    let mut e: Vec<f64> = m.symmetric_eigenvalues().iter().copied().collect();
    e.sort_by(|x, y| y.total_cmp(x));
    e
}

fn f_sf(x: f64, d1: f64, d2: f64) -> f64 {
    super::dist::pf_upper(x, d1, d2).unwrap_or(f64::NAN)
}

/// Association of `rows` (codes 0..r) with `cols` (codes 0..c) over the rows of `domain` (all
/// rows when `None`), as R's `svychisq` on `subset(design, domain)`: rows outside keep their
/// place in the design with zero influence; N and the degrees of freedom are the domain's.
/// The design comes with its linearizer, built once for all the tests on it (at a million
/// respondents it holds a hundred MiB of per-row calibration probes).
pub fn svychisq(
    lin: &DomainLinearizer<'_>,
    rows: &[u32],
    r: usize,
    cols: &[u32],
    c: usize,
    domain: Option<&[bool]>,
) -> Chisq {
    let s = lin.survey();
    let n = rows.len();
    let inside = |i: usize| domain.is_none_or(|d| d[i]);
    let cells = r * c;
    // Cell indicators, the row factor varying fastest.
    let cell_of = |i: usize| rows[i] as usize + r * cols[i] as usize;
    let w = s.weights;
    let wsum = super::sum((0..n).filter(|&i| inside(i)).map(|i| w[i]));
    // Means (proportions) and their influence scores.
    let mut p = vec![0.0; cells];
    for i in (0..n).filter(|&i| inside(i)) {
        p[cell_of(i)] += w[i];
    }
    for x in &mut p {
        *x /= wsum;
    }
    // Their design covariance from sufficient statistics (up to 64 cells), else from each
    // cell's residualized influence scores.
    let batched = (cells <= 64)
        .then(|| {
            let sets: Vec<Option<u64>> = (0..n)
                .map(|i| inside(i).then(|| 1u64 << cell_of(i)))
                .collect();
            let domain: Vec<u32> = (0..n)
                .map(|i| {
                    if inside(i) {
                        0
                    } else {
                        super::domains::NO_DOMAIN
                    }
                })
                .collect();
            Some((
                lin.level_covariance(&sets, cells, &domain, false)?,
                lin.level_covariance(&sets, cells, &domain, true)?,
            ))
        })
        .flatten();
    let (batched, batched_totals) = batched.unzip();
    let vm = batched.unwrap_or_else(|| {
        let infl_mean: Vec<Vec<f64>> = (0..cells)
            .map(|k| {
                let mut z: Vec<f64> = (0..n)
                    .map(|i| {
                        if inside(i) {
                            w[i] * (f64::from(u8::from(cell_of(i) == k)) - p[k]) / wsum
                        } else {
                            0.0
                        }
                    })
                    .collect();
                s.calibration.residualize(&mut z);
                z
            })
            .collect();
        let v = s.design.covariance(&infl_mean);
        DMatrix::from_fn(cells, cells, |a, b| v[a][b])
    });
    let big_n = (0..n).filter(|&i| inside(i)).count() as f64;
    let nu = s.design.degf(|i| inside(i) && w[i] > 0.0);

    // Model matrices over the cell grid (treatment contrasts).
    let k = (r - 1) * (c - 1);
    let x1 = DMatrix::from_fn(cells, 1 + (r - 1) + (c - 1), |cell, j| {
        let (i, jj) = (cell % r, cell / r);
        if j == 0 {
            1.0
        } else if j < r {
            f64::from(u8::from(i == j))
        } else {
            f64::from(u8::from(jj == j - (r - 1)))
        }
    });
    let xint = DMatrix::from_fn(cells, k, |cell, col| {
        let (i, jj) = (cell % r, cell / r);
        let (ri, cj) = (1 + col % (r - 1), 1 + col / (r - 1));
        f64::from(u8::from(i == ri && jj == cj))
    });
    let proj = &x1
        * (x1.transpose() * &x1)
            .try_inverse()
            .unwrap_or_else(|| DMatrix::zeros(x1.ncols(), x1.ncols()))
        * x1.transpose();
    let cmat = (DMatrix::identity(cells, cells) - proj) * &xint;
    let dinv = DMatrix::from_diagonal(&DVector::from_iterator(
        cells,
        p.iter().map(|&x| if x > 0.0 { 1.0 / x } else { 0.0 }),
    ));
    let left = (cmat.transpose() * &dinv * &cmat / big_n)
        .try_inverse()
        .unwrap_or_else(|| DMatrix::zeros(k, k));
    let denom = cmat.transpose() * &dinv * &cmat / big_n;
    let numr = cmat.transpose() * &dinv * &vm * &dinv * &cmat;
    let eigenvalues = generalized_eigenvalues(&denom, &numr);
    let delta = left * numr;
    let tr = delta.trace();
    let tr2 = (&delta * &delta).trace();

    // Pearson X² on the weighted table rescaled to total N.
    let table: Vec<f64> = p.iter().map(|x| x * big_n).collect();
    let row_tot: Vec<f64> = (0..r)
        .map(|i| (0..c).map(|j| table[i + r * j]).sum())
        .collect();
    let col_tot: Vec<f64> = (0..c)
        .map(|j| (0..r).map(|i| table[i + r * j]).sum())
        .collect();
    let mut x2 = 0.0;
    for i in 0..r {
        for j in 0..c {
            let e = row_tot[i] * col_tot[j] / big_n;
            if e > 0.0 {
                x2 += (table[i + r * j] - e).powi(2) / e;
            }
        }
    }
    let d0 = tr * tr / tr2;
    let fstat = x2 / tr;
    let f = TestResult {
        statistic: fstat,
        ndf: d0,
        ddf: d0 * nu,
        p_value: f_sf(fstat, d0, d0 * nu),
    };
    let mean_diag = tr / k as f64;
    let chisq = TestResult {
        statistic: x2,
        ndf: k as f64,
        ddf: f64::NAN,
        p_value: super::dist::pchisq_upper(x2 / mean_diag, k as f64).unwrap_or(f64::NAN),
    };

    // Wald: Y_ij = T_ij − T_i. T_.j / T (i, j ≥ 1), delta-method covariance from the totals.
    let mut t = vec![0.0; cells];
    for i in (0..n).filter(|&i| inside(i)) {
        t[cell_of(i)] += w[i];
    }
    let vtm = batched_totals.unwrap_or_else(|| {
        let infl_total: Vec<Vec<f64>> = (0..cells)
            .map(|kk| {
                let mut z: Vec<f64> = (0..n)
                    .map(|i| {
                        if inside(i) && cell_of(i) == kk {
                            w[i]
                        } else {
                            0.0
                        }
                    })
                    .collect();
                s.calibration.residualize(&mut z);
                z
            })
            .collect();
        let vt = s.design.covariance(&infl_total);
        DMatrix::from_fn(cells, cells, |a, b| vt[a][b])
    });
    let ttot: f64 = t.iter().sum();
    let tr_row: Vec<f64> = (0..r).map(|i| (0..c).map(|j| t[i + r * j]).sum()).collect();
    let tr_col: Vec<f64> = (0..c).map(|j| (0..r).map(|i| t[i + r * j]).sum()).collect();
    let mut y = DVector::zeros(k);
    let mut jac = DMatrix::zeros(k, cells);
    for col in 0..k {
        let (i, j) = (1 + col % (r - 1), 1 + col / (r - 1));
        y[col] = t[i + r * j] - tr_row[i] * tr_col[j] / ttot;
        for cell in 0..cells {
            let (a, b) = (cell % r, cell / r);
            let mut d = f64::from(u8::from(a == i && b == j));
            d -= (f64::from(u8::from(a == i)) * tr_col[j]
                + f64::from(u8::from(b == j)) * tr_row[i])
                / ttot;
            d += tr_row[i] * tr_col[j] / (ttot * ttot);
            jac[(col, cell)] = d;
        }
    }
    let vy = &jac * vtm * jac.transpose();
    let wald_stat = vy.try_inverse().map_or(f64::NAN, |inv| {
        (y.transpose() * inv * &y)[(0, 0)] / k as f64
    });
    let kf = k as f64;
    let wald = TestResult {
        statistic: wald_stat,
        ndf: kf,
        ddf: nu,
        p_value: f_sf(wald_stat, kf, nu),
    };
    // R multiplies the unscaled quadratic form Y'V⁻¹Y (= k × Wald) by (ν − k + 1)/(kν).
    let adj = wald_stat * kf * (nu - kf + 1.0) / (kf * nu);
    let adj_wald = TestResult {
        statistic: adj,
        ndf: kf,
        ddf: nu - kf + 1.0,
        p_value: f_sf(adj, kf, nu - kf + 1.0),
    };
    let exact = |p: f64| TestResult {
        statistic: x2,
        ndf: f64::NAN,
        ddf: d0 * nu,
        p_value: p,
    };
    let lincom = exact(super::quadform::pfsum_integration(
        x2,
        &eigenvalues,
        d0 * nu,
    ));
    let saddlepoint = exact(super::quadform::pfsum_saddlepoint(
        x2,
        &eigenvalues,
        d0 * nu,
    ));
    Chisq {
        f,
        chisq,
        wald,
        adj_wald,
        lincom,
        saddlepoint,
        pearson: x2,
        trace: tr,
        trace2: tr2,
        eigenvalues,
        design_df: nu,
    }
}

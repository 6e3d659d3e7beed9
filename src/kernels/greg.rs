//! Calibration to margins by Newton's method, as R's `calibrate()` (`grake`) does it: linear
//! (GREG, g = 1 + x'λ) or raking (g = exp(x'λ)) on the model matrix of an intercept plus the
//! non-first levels of each margin — and the matching variance residuals (methods.md §6):
//! z ← w (e − x'β̂), β̂ = (X'DX)⁻¹ X'D e, e = z/w, D = diag(pre-calibration weights).
//!
//! Rows touch 1 + (margins) columns of X, all ones, so X is never formed: every product is a
//! sum over those positions.

use nalgebra::{DMatrix, DVector};

use super::calibration::CalibrationError;

/// Calibration function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalFun {
    Linear,
    Raking,
}

/// Column positions of X that are 1 for row `i` (intercept first).
fn columns(margins: &[(Vec<u32>, usize)], i: usize, out: &mut Vec<usize>) {
    out.clear();
    out.push(0);
    let mut offset = 1;
    for (codes, k) in margins {
        let c = codes[i] as usize;
        if c > 0 {
            out.push(offset + c - 1);
        }
        offset += k - 1;
    }
}

fn width(margins: &[(Vec<u32>, usize)]) -> usize {
    1 + margins.iter().map(|(_, k)| k - 1).sum::<usize>()
}

/// Population totals of X's columns from per-level targets of each margin.
pub fn column_totals(margins_targets: &[Vec<f64>]) -> Vec<f64> {
    let mut out = vec![margins_targets
        .first()
        .map_or(0.0, |t| super::sum(t.iter().copied()))];
    for t in margins_targets {
        out.extend(t.iter().skip(1));
    }
    out
}

/// X'DX for row weights d.
fn cross(margins: &[(Vec<u32>, usize)], d: &[f64]) -> DMatrix<f64> {
    let p = width(margins);
    let mut m = DMatrix::zeros(p, p);
    let mut cols = Vec::new();
    for (i, &di) in d.iter().enumerate() {
        columns(margins, i, &mut cols);
        for &a in &cols {
            for &b in &cols {
                m[(a, b)] += di;
            }
        }
    }
    m
}

fn solve(m: &DMatrix<f64>, v: &DVector<f64>) -> Option<DVector<f64>> {
    m.clone()
        .lu()
        .solve(v)
        .filter(|x| x.iter().all(|v| v.is_finite()))
}

/// The result of calibration.
#[derive(Debug, Clone)]
pub struct CalFit {
    pub weights: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
    /// max |population − achieved| / (1 + |population|) over X's columns.
    pub max_rel_misfit: f64,
}

/// Achieved totals of X's columns under weights `w0·g`, and the largest relative misfit.
fn misfit(
    margins: &[(Vec<u32>, usize)],
    w0: &[f64],
    g: &[f64],
    pop: &DVector<f64>,
) -> (DVector<f64>, f64) {
    let mut achieved = DVector::zeros(pop.len());
    let mut cols = Vec::new();
    for i in 0..w0.len() {
        columns(margins, i, &mut cols);
        for &a in &cols {
            achieved[a] += w0[i] * g[i];
        }
    }
    let m = pop - achieved;
    let rel = m
        .iter()
        .zip(pop.iter())
        .map(|(m, t)| m.abs() / (1.0 + t.abs()))
        .fold(0.0, f64::max);
    (m, rel)
}

/// Calibrate `w0` so that the weighted totals of X's columns equal `totals`
/// (see [`column_totals`]). The loop is R's `grake`: a Newton step, then the misfit; stop when
/// every |misfit| / (1 + |total|) is below `tol` (R's default `epsilon = 1e-7`).
pub fn calibrate(
    w0: &[f64],
    margins: &[(Vec<u32>, usize)],
    totals: &[f64],
    calfun: CalFun,
    tol: f64,
    maxit: usize,
) -> Result<CalFit, CalibrationError> {
    let n = w0.len();
    let p = width(margins);
    let pop = DVector::from_column_slice(totals);
    let mut eta: DVector<f64> = DVector::zeros(p);
    let mut cols = Vec::new();
    let mut g = vec![1.0; n];
    let mut deriv = vec![1.0; n];
    let mut iterations = 0;
    loop {
        iterations += 1;
        let d: Vec<f64> = w0.iter().zip(&deriv).map(|(w, d)| w * d).collect();
        let t = cross(margins, &d);
        let (m, _) = misfit(margins, w0, &g, &pop);
        let step = solve(&t, &m).ok_or(CalibrationError::Singular)?;
        eta += step;
        for i in 0..n {
            columns(margins, i, &mut cols);
            let xeta: f64 = cols.iter().map(|&a| eta[a]).sum();
            match calfun {
                CalFun::Linear => {
                    g[i] = 1.0 + xeta;
                    deriv[i] = 1.0;
                }
                CalFun::Raking => {
                    g[i] = xeta.exp();
                    deriv[i] = g[i];
                }
            }
        }
        let (_, rel) = misfit(margins, w0, &g, &pop);
        if rel < tol || iterations >= maxit {
            return Ok(CalFit {
                weights: w0.iter().zip(&g).map(|(w, g)| w * g).collect(),
                iterations,
                converged: rel < tol,
                max_rel_misfit: rel,
            });
        }
    }
}

/// What the variance needs to residualize against the calibration model.
#[derive(Debug, Clone)]
pub struct GregResidual {
    margins: Vec<(Vec<u32>, usize)>,
    /// Pre-calibration weights (D).
    pre: Vec<f64>,
    /// Final weights.
    post: Vec<f64>,
    /// (X'DX)⁻¹.
    inverse: DMatrix<f64>,
}

impl GregResidual {
    pub fn new(
        margins: Vec<(Vec<u32>, usize)>,
        pre: Vec<f64>,
        post: Vec<f64>,
    ) -> Result<Self, CalibrationError> {
        let inverse = cross(&margins, &pre)
            .try_inverse()
            .ok_or(CalibrationError::Singular)?;
        Ok(GregResidual {
            margins,
            pre,
            post,
            inverse,
        })
    }

    /// Pre-calibration and final weights (for batched domain variances, [`super::domains`]).
    pub(crate) fn pre_post(&self) -> (&[f64], &[f64]) {
        (&self.pre, &self.post)
    }

    /// (X'DX)⁻¹.
    pub(crate) fn inverse(&self) -> &DMatrix<f64> {
        &self.inverse
    }

    /// Column indices of row `i` in the calibration model matrix.
    /// The calibration margins (codes, levels): with [`GregResidual::pre`] and
    /// [`GregResidual::post`], what [`GregResidual::new`] rebuilds it from.
    pub fn margins(&self) -> &[(Vec<u32>, usize)] {
        &self.margins
    }

    /// Pre-calibration weights.
    pub fn pre(&self) -> &[f64] {
        &self.pre
    }

    /// Final weights.
    pub fn post(&self) -> &[f64] {
        &self.post
    }

    pub(crate) fn columns_of(&self, i: usize, out: &mut Vec<usize>) {
        columns(&self.margins, i, out);
    }

    /// z ← w (e − x'β̂), β̂ = (X'DX)⁻¹ X'D e, e = z/w.
    pub fn residualize(&self, z: &mut [f64]) {
        let p = self.inverse.nrows();
        let mut xde = DVector::zeros(p);
        let mut cols = Vec::new();
        for i in 0..z.len() {
            columns(&self.margins, i, &mut cols);
            let v = self.pre[i] * z[i] / self.post[i];
            for &a in &cols {
                xde[a] += v;
            }
        }
        let beta = &self.inverse * xde;
        for i in 0..z.len() {
            columns(&self.margins, i, &mut cols);
            let fit: f64 = cols.iter().map(|&a| beta[a]).sum();
            z[i] -= self.post[i] * fit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_calibration_on_one_margin_is_post_stratification() {
        let w = vec![1.0, 1.0, 2.0, 4.0];
        let margins = vec![(vec![0, 0, 1, 1], 2)];
        let totals = column_totals(&[vec![10.0, 30.0]]);
        let fit = calibrate(&w, &margins, &totals, CalFun::Linear, 1e-12, 50).unwrap();
        let ps =
            crate::kernels::calibration::poststratify(&w, &[0, 0, 1, 1], &[10.0, 30.0]).unwrap();
        for (a, b) in fit.weights.iter().zip(&ps) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}

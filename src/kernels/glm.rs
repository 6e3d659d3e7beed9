//! Design-based generalized linear models, as R's `svyglm` fits them on a linearized design
//! (docs/survey-spec.md, `[[models]]`): coefficients by iteratively reweighted least squares
//! with the sampling weights as prior weights (R's `glm.fit`, the same start and stopping
//! rule, so the iterates are R's), and the sandwich variance `svy.varcoef` computes — the
//! estimating functions times the inverse information, residualized against the calibration
//! and summed over strata and PSUs like any influence score. Rows outside `used` (a missing
//! response or predictor) keep their place in the design with zero influence, as R's
//! `design[-nas, ]`.

use nalgebra::{DMatrix, DVector};

use super::estimators::Survey;

/// The model family: Gaussian with the identity link (`svyglm`'s default) or quasibinomial
/// with the logit link (a 0/1 response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Gaussian,
    Quasibinomial,
}

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq)]
pub enum GlmError {
    /// Fewer usable rows than parameters, or no residual degrees of freedom.
    TooFewRows { rows: usize, parameters: usize },
    /// A predictor column is (nearly) a linear combination of the ones before it (R reports
    /// its coefficient as NA): the column's index.
    Aliased { column: usize },
    /// A quasibinomial response outside [0, 1].
    ResponseOutOfRange { row: usize, value: f64 },
    /// The fit produced non-finite values (complete separation pushes coefficients to ±∞).
    Diverged,
}

impl std::fmt::Display for GlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GlmError::TooFewRows { rows, parameters } => write!(
                f,
                "{rows} usable respondents for {parameters} parameters: too few to fit the model"
            ),
            GlmError::Aliased { column } => write!(
                f,
                "predictor column {column} is a linear combination of the others (aliased)"
            ),
            GlmError::ResponseOutOfRange { row, value } => write!(
                f,
                "row {row}: a logistic model's response must be 0 or 1 (or a share), got {value}"
            ),
            GlmError::Diverged => f.write_str(
                "the fit did not settle (a predictor separates the response completely?)",
            ),
        }
    }
}

impl std::error::Error for GlmError {}

/// A fitted model: coefficients, their design-based covariance and the residual df R uses
/// for intervals and tests (`degf(design) + 1 − p`).
#[derive(Debug, Clone)]
pub struct GlmFit {
    pub coef: Vec<f64>,
    pub cov: Vec<Vec<f64>>,
    pub df_residual: f64,
    pub iterations: usize,
    pub converged: bool,
    /// Rows used (weight > 0 and complete).
    pub n: usize,
}

impl GlmFit {
    pub fn se(&self) -> Vec<f64> {
        (0..self.coef.len())
            .map(|j| self.cov[j][j].sqrt())
            .collect()
    }

    /// R's `regTermTest(model, ~term, method = "Wald")` for the coefficients `index`: F =
    /// β'V⁻¹β / k on (k, df_residual), and its p-value.
    pub fn wald_test(&self, index: &[usize]) -> (f64, f64, f64, f64) {
        let k = index.len();
        let v = DMatrix::from_fn(k, k, |a, b| self.cov[index[a]][index[b]]);
        let beta = DVector::from_iterator(k, index.iter().map(|&j| self.coef[j]));
        let Some(vi) = v.try_inverse() else {
            return (f64::NAN, k as f64, self.df_residual, f64::NAN);
        };
        let chisq = (beta.transpose() * vi * &beta)[(0, 0)];
        let f = chisq / k as f64;
        let p = super::dist::pf_upper(f, k as f64, self.df_residual).unwrap_or(f64::NAN);
        (f, k as f64, self.df_residual, p)
    }
}

/// R's `glm.control()` defaults.
const EPSILON: f64 = 1e-8;
const MAXIT: usize = 25;

fn expit(eta: f64) -> f64 {
    // R's binomial()$linkinv (logit_linkinv in family.c), with its thresholds at ±30.
    let t = if eta < -30.0 {
        f64::EPSILON
    } else if eta > 30.0 {
        1.0 / f64::EPSILON
    } else {
        eta.exp()
    };
    t / (1.0 + t)
}

fn mu_eta_logit(eta: f64) -> f64 {
    let opexp = 1.0 + eta.exp();
    if eta.abs() > 30.0 {
        f64::EPSILON
    } else {
        eta.exp() / (opexp * opexp)
    }
}

fn y_log_y(y: f64, mu: f64) -> f64 {
    if y != 0.0 {
        y * (y / mu).ln()
    } else {
        0.0
    }
}

fn deviance(family: Family, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
    match family {
        Family::Gaussian => super::sum((0..y.len()).map(|i| w[i] * (y[i] - mu[i]).powi(2))),
        Family::Quasibinomial => super::sum(
            (0..y.len())
                .map(|i| 2.0 * w[i] * (y_log_y(y[i], mu[i]) + y_log_y(1.0 - y[i], 1.0 - mu[i]))),
        ),
    }
}

/// One weighted least-squares step: β minimizing Σ (√w z − √w Xβ)², and (X'WX)⁻¹.
fn wls(x: &DMatrix<f64>, z: &[f64], sw: &[f64]) -> Result<(DVector<f64>, DMatrix<f64>), GlmError> {
    let (n, p) = (x.nrows(), x.ncols());
    let xw = DMatrix::from_fn(n, p, |i, j| x[(i, j)] * sw[i]);
    let zw = DVector::from_iterator(n, (0..n).map(|i| z[i] * sw[i]));
    let qr = xw.clone().qr();
    let r = qr.r();
    let scale = (0..p).map(|j| xw.column(j).norm()).fold(0.0, f64::max);
    for j in 0..p {
        // R's dqrdc2 tolerance (1e-7) on the column's remaining norm.
        if r[(j, j)].abs() <= 1e-7 * xw.column(j).norm().max(scale * 1e-300)
            || !r[(j, j)].is_finite()
        {
            return Err(GlmError::Aliased { column: j });
        }
    }
    let qtz = qr.q().transpose() * zw;
    let beta = r
        .solve_upper_triangular(&qtz)
        .ok_or(GlmError::Aliased { column: p - 1 })?;
    let rinv = r
        .clone()
        .try_inverse()
        .ok_or(GlmError::Aliased { column: p - 1 })?;
    Ok((beta, &rinv * rinv.transpose()))
}

/// The intercept-only quasibinomial fit as R's `glm.fit` makes it (its start — `start`, or
/// `family$initialize` from the prior weights `pw` — its working weights, least-squares step and
/// deviance stopping rule, rows of weight 0 left out of the step), so the iterate returned is
/// R's: what `svyciprop(method = "logit")` and its replicate refits are built from. `None`
/// when the fit does not settle.
pub(crate) fn intercept_logit(y: &[f64], pw: &[f64], start: Option<f64>) -> Option<f64> {
    let n = y.len();
    let mut eta: Vec<f64> = match start {
        Some(b) => vec![b; n],
        None => (0..n)
            .map(|i| {
                let m = (pw[i] * y[i] + 0.5) / (pw[i] + 1.0);
                (m / (1.0 - m)).ln()
            })
            .collect(),
    };
    let mut mu: Vec<f64> = eta.iter().map(|e| expit(*e)).collect();
    let mut devold = deviance(Family::Quasibinomial, y, &mu, pw);
    let mut beta = f64::NAN;
    for _ in 0..MAXIT {
        // One column of ones: the least-squares step is Σ w² z / Σ w² over the good rows.
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..n {
            let me = mu_eta_logit(eta[i]);
            if pw[i] <= 0.0 || me == 0.0 {
                continue;
            }
            let z = eta[i] + (y[i] - mu[i]) / me;
            let w2 = pw[i] * me * me / (mu[i] * (1.0 - mu[i]));
            num += w2 * z;
            den += w2;
        }
        beta = num / den;
        if !beta.is_finite() {
            return None;
        }
        eta.iter_mut().for_each(|e| *e = beta);
        mu.iter_mut().for_each(|m| *m = expit(beta));
        let dev = deviance(Family::Quasibinomial, y, &mu, pw);
        if !dev.is_finite() {
            return None;
        }
        if (dev - devold).abs() / (dev.abs() + 0.1) < EPSILON {
            return Some(beta);
        }
        devold = dev;
    }
    // R warns and keeps the last iterate.
    Some(beta)
}

/// The IRLS iterates of R's `glm.fit`: from `start` (η = Xβ) or `family$initialize`, working
/// weights and responses, a weighted least-squares step, and the relative-deviance stopping
/// rule; rows of prior weight 0 contribute nothing to the step.
pub(crate) struct Irls {
    pub beta: DVector<f64>,
    pub eta: Vec<f64>,
    pub mu: Vec<f64>,
    /// √(working weights) of the last iteration.
    pub sw: Vec<f64>,
    /// (X'WX)⁻¹ of the last iteration.
    pub ainv: DMatrix<f64>,
    pub iterations: usize,
    pub converged: bool,
}

pub(crate) fn irls(
    xm: &DMatrix<f64>,
    yy: &[f64],
    pw: &[f64],
    start: Option<&DVector<f64>>,
    family: Family,
) -> Result<Irls, GlmError> {
    let (n, p) = (xm.nrows(), xm.ncols());
    let linkinv = |eta: f64| match family {
        Family::Gaussian => eta,
        Family::Quasibinomial => expit(eta),
    };
    let mu_eta = |eta: f64| match family {
        Family::Gaussian => 1.0,
        Family::Quasibinomial => mu_eta_logit(eta),
    };
    let variance = |mu: f64| match family {
        Family::Gaussian => 1.0,
        Family::Quasibinomial => mu * (1.0 - mu),
    };
    let mut eta: Vec<f64> = match start {
        Some(b) => (xm * b).iter().copied().collect(),
        None => {
            // family$initialize.
            let mustart: Vec<f64> = match family {
                Family::Gaussian => yy.to_vec(),
                Family::Quasibinomial => (0..n)
                    .map(|i| (pw[i] * yy[i] + 0.5) / (pw[i] + 1.0))
                    .collect(),
            };
            match family {
                Family::Gaussian => mustart,
                Family::Quasibinomial => mustart.iter().map(|m| (m / (1.0 - m)).ln()).collect(),
            }
        }
    };
    let mut mu: Vec<f64> = eta.iter().map(|e| linkinv(*e)).collect();
    let mut devold = deviance(family, yy, &mu, pw);
    let mut converged = false;
    let mut iterations = 0;
    let mut sw = vec![0.0; n];
    let mut ainv = DMatrix::zeros(p, p);
    let mut beta = DVector::zeros(p);
    for iter in 1..=MAXIT {
        iterations = iter;
        let me: Vec<f64> = eta.iter().map(|e| mu_eta(*e)).collect();
        let z: Vec<f64> = (0..n).map(|i| eta[i] + (yy[i] - mu[i]) / me[i]).collect();
        sw = (0..n)
            .map(|i| (pw[i] * me[i] * me[i] / variance(mu[i])).sqrt())
            .collect();
        let (b, a) = wls(xm, &z, &sw)?;
        beta = b;
        ainv = a;
        let e = xm * &beta;
        eta = e.iter().copied().collect();
        mu = eta.iter().map(|e| linkinv(*e)).collect();
        let dev = deviance(family, yy, &mu, pw);
        if !dev.is_finite() || beta.iter().any(|b| !b.is_finite()) {
            return Err(GlmError::Diverged);
        }
        if (dev - devold).abs() / (dev.abs() + 0.1) < EPSILON {
            converged = true;
            break;
        }
        devold = dev;
    }
    Ok(Irls {
        beta,
        eta,
        mu,
        sw,
        ainv,
        iterations,
        converged,
    })
}

/// Fit `y ~ x` (columns of `x`, the intercept among them if wanted) over the `used` rows, with
/// the design-based covariance of the coefficients.
pub fn svyglm(
    s: &Survey<'_>,
    x: &[Vec<f64>],
    y: &[f64],
    used: &[bool],
    family: Family,
) -> Result<GlmFit, GlmError> {
    let n_all = y.len();
    let p = x.len();
    let rows: Vec<usize> = (0..n_all)
        .filter(|&i| used[i] && s.weights[i] > 0.0)
        .collect();
    let n = rows.len();
    let df_design = s.design.degf(|i| used[i] && s.weights[i] > 0.0);
    let df_residual = df_design + 1.0 - p as f64;
    if n <= p || df_residual.is_nan() || df_residual < 1.0 {
        return Err(GlmError::TooFewRows {
            rows: n,
            parameters: p,
        });
    }
    // Prior weights as R's svyglm: 1/π scaled to mean 1 over the design's rows.
    let mean_w = super::sum(s.weights.iter().copied()) / n_all as f64;
    let pw: Vec<f64> = rows.iter().map(|&i| s.weights[i] / mean_w).collect();
    let yy: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
    if family == Family::Quasibinomial {
        if let Some(k) = yy.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(GlmError::ResponseOutOfRange {
                row: rows[k],
                value: yy[k],
            });
        }
    }
    let xm = DMatrix::from_fn(n, p, |r, j| x[j][rows[r]]);
    let Irls {
        beta,
        eta,
        mu,
        sw,
        ainv,
        iterations,
        converged,
    } = irls(&xm, &yy, &pw, None, family)?;
    let mu_eta = |eta: f64| match family {
        Family::Gaussian => 1.0,
        Family::Quasibinomial => mu_eta_logit(eta),
    };
    // svy.varcoef: estfun = X · working residual · working weight (the last iteration's
    // weights, the final μ), times the unscaled covariance; then svyrecvar.
    let resid: Vec<f64> = (0..n).map(|i| (yy[i] - mu[i]) / mu_eta(eta[i])).collect();
    let mut infl = vec![vec![0.0; n_all]; p];
    for (r, &i) in rows.iter().enumerate() {
        let u = resid[r] * sw[r] * sw[r];
        for (k, col) in infl.iter_mut().enumerate() {
            let mut v = 0.0;
            for j in 0..p {
                v += xm[(r, j)] * u * ainv[(j, k)];
            }
            col[i] = v;
        }
    }
    for z in &mut infl {
        s.calibration.residualize(z);
    }
    let cov = s.design.covariance(&infl);
    Ok(GlmFit {
        coef: beta.iter().copied().collect(),
        cov,
        df_residual,
        iterations,
        converged,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::calibration::Calibration;
    use crate::kernels::design::Design;

    fn srs(n: usize) -> Design {
        Design::new(vec![0; n], (0..n as u32).collect(), None).unwrap()
    }

    /// With equal weights and an intercept only, the Gaussian coefficient is the mean and its
    /// SE the sample SE of the mean (n − 1 denominator), as svymean on an SRS without FPC.
    #[test]
    fn intercept_only_gaussian_is_the_mean() {
        let y = [1.0, 2.0, 4.0, 7.0, 11.0];
        let n = y.len();
        let d = srs(n);
        let w = vec![3.0; n];
        let cal = Calibration::None;
        let s = Survey {
            design: &d,
            weights: &w,
            calibration: &cal,
        };
        let fit = svyglm(&s, &[vec![1.0; n]], &y, &[true; 5], Family::Gaussian).unwrap();
        let mean = y.iter().sum::<f64>() / n as f64;
        let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!((fit.coef[0] - mean).abs() < 1e-12);
        assert!((fit.se()[0] - (var / n as f64).sqrt()).abs() < 1e-12);
        assert_eq!(fit.df_residual, (n - 1) as f64);
    }

    /// Intercept-only logistic: expit(β₀) is the weighted share.
    #[test]
    fn intercept_only_logistic_is_the_share() {
        let y = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
        let n = y.len();
        let d = srs(n);
        let w = [1.0, 2.0, 1.0, 3.0, 1.0, 1.0, 2.0, 1.0];
        let cal = Calibration::None;
        let s = Survey {
            design: &d,
            weights: &w,
            calibration: &cal,
        };
        let fit = svyglm(&s, &[vec![1.0; n]], &y, &[true; 8], Family::Quasibinomial).unwrap();
        let share = (0..n).map(|i| w[i] * y[i]).sum::<f64>() / w.iter().sum::<f64>();
        assert!(
            (expit(fit.coef[0]) - share).abs() < 1e-8,
            "{}",
            expit(fit.coef[0])
        );
        assert!(fit.converged);
    }

    #[test]
    fn aliased_columns_and_too_few_rows_are_errors() {
        let n = 6;
        let d = srs(n);
        let w = vec![1.0; n];
        let cal = Calibration::None;
        let s = Survey {
            design: &d,
            weights: &w,
            calibration: &cal,
        };
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 7.0];
        let x1: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let x2: Vec<f64> = x1.iter().map(|v| 2.0 * v).collect();
        let e = svyglm(
            &s,
            &[vec![1.0; n], x1, x2],
            &y,
            &[true; 6],
            Family::Gaussian,
        );
        assert_eq!(e.unwrap_err(), GlmError::Aliased { column: 2 });
        let e = svyglm(
            &s,
            &[vec![1.0; n]],
            &y,
            &[true, false, false, false, false, false],
            Family::Gaussian,
        );
        assert!(matches!(e, Err(GlmError::TooFewRows { .. })));
        let e = svyglm(&s, &[vec![1.0; n]], &y, &[true; 6], Family::Quasibinomial);
        assert!(matches!(e, Err(GlmError::ResponseOutOfRange { .. })));
    }
}

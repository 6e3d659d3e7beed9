//! Calibrating weights to population counts — post-stratification and raking — and the
//! residual step ([`Calibration::residualize`]) that makes linearized variances account for
//! the calibration as R's `svyrecvar` does (methods.md §5–§6).

use super::sum;

#[derive(Debug, Clone, PartialEq)]
pub enum CalibrationError {
    /// A population cell/level with a positive count has no sample rows.
    EmptyCell { margin: usize, level: usize },
    /// A sample row falls in a cell/level whose population count is zero or negative.
    BadTarget {
        margin: usize,
        level: usize,
        target: f64,
    },
    /// Margins whose totals disagree.
    InconsistentTotals {
        margin: usize,
        total: f64,
        first_total: f64,
    },
    /// The calibration equations have no unique solution (a level without respondents).
    Singular,
}

impl std::fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalibrationError::Singular => {
                f.write_str("the calibration equations are singular (a level without respondents?)")
            }
            CalibrationError::EmptyCell { margin, level } => {
                write!(
                    f,
                    "margin {margin}, level {level}: a population count with no respondents"
                )
            }
            CalibrationError::BadTarget {
                margin,
                level,
                target,
            } => {
                write!(f, "margin {margin}, level {level}: respondents but a population count of {target}")
            }
            CalibrationError::InconsistentTotals {
                margin,
                total,
                first_total,
            } => {
                write!(
                    f,
                    "margin {margin} totals {total}, the first margin {first_total}"
                )
            }
        }
    }
}

impl std::error::Error for CalibrationError {}

/// One raking margin: each row's level code (0..k) and the population count per level.
#[derive(Debug, Clone)]
pub struct Margin {
    pub codes: Vec<u32>,
    pub targets: Vec<f64>,
}

fn check_cells(margin: usize, codes: &[u32], targets: &[f64]) -> Result<(), CalibrationError> {
    let mut counts = vec![0usize; targets.len()];
    for &c in codes {
        counts[c as usize] += 1;
    }
    for (level, (&n, &t)) in counts.iter().zip(targets).enumerate() {
        if n > 0 && !(t > 0.0 && t.is_finite()) {
            return Err(CalibrationError::BadTarget {
                margin,
                level,
                target: t,
            });
        }
        if n == 0 && t > 0.0 {
            return Err(CalibrationError::EmptyCell { margin, level });
        }
    }
    Ok(())
}

fn cell_sums(w: &[f64], codes: &[u32], k: usize) -> Vec<f64> {
    super::group_sums(w, codes, k)
}

/// Post-stratify, ignoring population cells without sample rows (R's `partial = TRUE`): the
/// weights of the sampled cells match their cells' counts; the total is their sum.
pub fn poststratify_partial(
    w: &[f64],
    cells: &[u32],
    targets: &[f64],
) -> Result<Vec<f64>, CalibrationError> {
    let sums = cell_sums(w, cells, targets.len());
    for (level, (&t, &s)) in targets.iter().zip(&sums).enumerate() {
        if s > 0.0 && !(t > 0.0 && t.is_finite()) {
            return Err(CalibrationError::BadTarget {
                margin: 0,
                level,
                target: t,
            });
        }
    }
    Ok(w.iter()
        .zip(cells)
        .map(|(wi, &g)| wi * targets[g as usize] / sums[g as usize])
        .collect())
}

/// Post-stratify: w*_i = w_i · N_g / Σ_{j∈g} w_j.
pub fn poststratify(
    w: &[f64],
    cells: &[u32],
    targets: &[f64],
) -> Result<Vec<f64>, CalibrationError> {
    check_cells(0, cells, targets)?;
    let sums = cell_sums(w, cells, targets.len());
    Ok(w.iter()
        .zip(cells)
        .map(|(wi, &g)| wi * targets[g as usize] / sums[g as usize])
        .collect())
}

/// The result of raking.
#[derive(Debug, Clone)]
pub struct RakeFit {
    pub weights: Vec<f64>,
    pub passes: usize,
    /// Whether every margin met the tolerance; when not, the weights are the last pass's.
    pub converged: bool,
    /// Largest |achieved − target| / target over all margins and levels after the last pass.
    pub max_rel_error: f64,
    /// Weights just after each margin's step in the final pass (for the variance).
    pub snapshots: Vec<Vec<f64>>,
}

/// When raking stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RakeStop {
    /// Every margin level within this relative distance of its target (supplyrisk's default).
    MarginRelative(f64),
    /// R's `rake()` rule: stop when no cell of the joint table of all raking variables moved by
    /// `epsilon` or more in the last pass, `epsilon` being absolute when ≥ 1 and a share of the
    /// total starting weight when < 1 (R: `control$epsilon * sum(weights(design, "sampling"))`).
    RTable { epsilon: f64 },
}

/// Rake (iterative proportional fitting) to the margins, in order, until every margin level is
/// within `tol` (relative) of its target, for at most `max_passes` passes. A fit that runs out
/// of passes comes back with `converged = false` (the caller decides whether that is fatal).
pub fn rake(
    w: &[f64],
    margins: &[Margin],
    tol: f64,
    max_passes: usize,
) -> Result<RakeFit, CalibrationError> {
    rake_until(w, margins, RakeStop::MarginRelative(tol), max_passes)
}

/// The joint table of all margins' codes: each row's cell and the number of cells.
fn joint_cells(margins: &[Margin], n: usize) -> (Vec<u32>, usize) {
    let mut index = std::collections::HashMap::new();
    let cells = (0..n)
        .map(|i| {
            let key: Vec<u32> = margins.iter().map(|m| m.codes[i]).collect();
            let next = index.len() as u32;
            *index.entry(key).or_insert(next)
        })
        .collect();
    (cells, index.len())
}

/// Rake to the margins, in order, until `stop` holds, for at most `max_passes` passes.
pub fn rake_until(
    w: &[f64],
    margins: &[Margin],
    stop: RakeStop,
    max_passes: usize,
) -> Result<RakeFit, CalibrationError> {
    let first_total = margins
        .first()
        .map_or(0.0, |m| sum(m.targets.iter().copied()));
    for (m, margin) in margins.iter().enumerate() {
        check_cells(m, &margin.codes, &margin.targets)?;
        let total = sum(margin.targets.iter().copied());
        if (total - first_total).abs() > 1e-6 * first_total.abs() {
            return Err(CalibrationError::InconsistentTotals {
                margin: m,
                total,
                first_total,
            });
        }
    }
    let mut weights = w.to_vec();
    let mut snapshots = vec![Vec::new(); margins.len()];
    let mut max_rel_error = f64::INFINITY;
    let (joint, n_joint) = match stop {
        RakeStop::RTable { .. } => joint_cells(margins, w.len()),
        RakeStop::MarginRelative(_) => (Vec::new(), 0),
    };
    let epsilon = match stop {
        RakeStop::RTable { epsilon } if epsilon < 1.0 => epsilon * sum(w.iter().copied()),
        RakeStop::RTable { epsilon } => epsilon,
        RakeStop::MarginRelative(_) => f64::NAN,
    };
    let mut table = cell_sums(&weights, &joint, n_joint);
    for pass in 1..=max_passes {
        for (m, margin) in margins.iter().enumerate() {
            let sums = cell_sums(&weights, &margin.codes, margin.targets.len());
            for (wi, &g) in weights.iter_mut().zip(&margin.codes) {
                *wi *= margin.targets[g as usize] / sums[g as usize];
            }
            snapshots[m].clone_from(&weights);
        }
        max_rel_error = margins
            .iter()
            .flat_map(|margin| {
                let sums = cell_sums(&weights, &margin.codes, margin.targets.len());
                margin
                    .targets
                    .iter()
                    .zip(sums)
                    .filter(|(t, _)| **t > 0.0)
                    .map(|(t, s)| (s - t).abs() / t)
                    .collect::<Vec<_>>()
            })
            .fold(0.0, f64::max);
        let done = match stop {
            RakeStop::MarginRelative(tol) => max_rel_error < tol,
            RakeStop::RTable { .. } => {
                let new_table = cell_sums(&weights, &joint, n_joint);
                let moved = table
                    .iter()
                    .zip(&new_table)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                table = new_table;
                moved < epsilon
            }
        };
        if done {
            return Ok(RakeFit {
                weights,
                passes: pass,
                converged: true,
                max_rel_error,
                snapshots,
            });
        }
    }
    Ok(RakeFit {
        weights,
        passes: max_passes,
        converged: false,
        max_rel_error,
        snapshots,
    })
}

/// How the final weights were calibrated, kept for the variance.
#[derive(Debug, Clone, Default)]
pub enum Calibration {
    #[default]
    None,
    /// Post-stratified on `cells`: weights before and after.
    PostStrat {
        cells: Vec<u32>,
        n_cells: usize,
        before: Vec<f64>,
        after: Vec<f64>,
    },
    /// Raked: each margin's codes and level count, and the final-pass snapshot weights.
    Rake {
        margins: Vec<(Vec<u32>, usize)>,
        snapshots: Vec<Vec<f64>>,
    },
    /// Calibrated by `calibrate` (linear or raking): residuals against the calibration model.
    Greg(super::greg::GregResidual),
}

/// Back-fitting sweeps R runs for raking residuals.
pub(crate) const RAKE_SWEEPS: usize = 10;

impl Calibration {
    /// Replace influence scores by calibration residuals, in place.
    pub fn residualize(&self, z: &mut [f64]) {
        match self {
            Calibration::None => {}
            Calibration::PostStrat {
                cells,
                n_cells,
                before,
                after,
            } => {
                // e = z / w*, ē_g = Σ_g w e / Σ_g w (old weights w), z ← z − w* ē_g.
                let num: Vec<f64> = (0..z.len()).map(|i| before[i] * z[i] / after[i]).collect();
                let num = super::group_sums(&num, cells, *n_cells);
                let den = super::group_sums(before, cells, *n_cells);
                for i in 0..z.len() {
                    let g = cells[i] as usize;
                    if den[g] > 0.0 {
                        z[i] -= after[i] * num[g] / den[g];
                    }
                }
            }
            Calibration::Rake { margins, snapshots } => {
                let counts: Vec<Vec<f64>> = margins
                    .iter()
                    .map(|(codes, k)| {
                        let mut n = vec![0.0; *k];
                        for &c in codes {
                            n[c as usize] += 1.0;
                        }
                        n
                    })
                    .collect();
                let mut e = vec![0.0; z.len()];
                for _ in 0..RAKE_SWEEPS {
                    for (((codes, k), w), n) in margins.iter().zip(snapshots).zip(&counts) {
                        for i in 0..z.len() {
                            e[i] = z[i] / w[i];
                        }
                        let sums = super::group_sums(&e, codes, *k);
                        for i in 0..z.len() {
                            let g = codes[i] as usize;
                            z[i] -= w[i] * sums[g] / n[g];
                        }
                    }
                }
            }
            Calibration::Greg(greg) => greg.residualize(z),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poststratify_hits_cell_totals() {
        let w = [1.0, 1.0, 2.0, 4.0];
        let cells = [0, 0, 1, 1];
        let out = poststratify(&w, &cells, &[10.0, 30.0]).unwrap();
        assert_eq!(out, vec![5.0, 5.0, 10.0, 20.0]);
    }

    #[test]
    fn empty_cell_is_named() {
        let e = poststratify(&[1.0, 1.0], &[0, 0], &[10.0, 5.0]).unwrap_err();
        assert_eq!(
            e,
            CalibrationError::EmptyCell {
                margin: 0,
                level: 1
            }
        );
    }

    #[test]
    fn rake_reproduces_both_margins() {
        let w = vec![1.0; 6];
        let a = Margin {
            codes: vec![0, 0, 0, 1, 1, 1],
            targets: vec![40.0, 60.0],
        };
        let b = Margin {
            codes: vec![0, 1, 1, 0, 0, 1],
            targets: vec![30.0, 70.0],
        };
        let fit = rake(&w, &[a.clone(), b.clone()], 1e-12, 1000).unwrap();
        for m in [&a, &b] {
            let s = cell_sums(&fit.weights, &m.codes, 2);
            for (x, t) in s.iter().zip(&m.targets) {
                assert!((x - t).abs() < 1e-9 * t);
            }
        }
        assert!(fit.weights.iter().all(|x| *x > 0.0));
    }

    #[test]
    fn inconsistent_margins_are_refused() {
        let a = Margin {
            codes: vec![0, 1],
            targets: vec![40.0, 60.0],
        };
        let b = Margin {
            codes: vec![0, 1],
            targets: vec![30.0, 60.0],
        };
        assert!(matches!(
            rake(&[1.0, 1.0], &[a, b], 1e-10, 100),
            Err(CalibrationError::InconsistentTotals { margin: 1, .. })
        ));
    }
}

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
}

impl std::fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
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
    let mut groups: Vec<Vec<f64>> = vec![Vec::new(); k];
    for (wi, &c) in w.iter().zip(codes) {
        groups[c as usize].push(*wi);
    }
    groups.into_iter().map(sum).collect()
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

/// Rake (iterative proportional fitting) to the margins, in order, until every margin level is
/// within `tol` (relative) of its target, for at most `max_passes` passes. A fit that runs out
/// of passes comes back with `converged = false` (the caller decides whether that is fatal).
pub fn rake(
    w: &[f64],
    margins: &[Margin],
    tol: f64,
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
        if max_rel_error < tol {
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
}

/// Back-fitting sweeps R runs for raking residuals.
const RAKE_SWEEPS: usize = 10;

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
                let mut num: Vec<Vec<f64>> = vec![Vec::new(); *n_cells];
                let mut den: Vec<Vec<f64>> = vec![Vec::new(); *n_cells];
                for i in 0..z.len() {
                    let g = cells[i] as usize;
                    num[g].push(before[i] * z[i] / after[i]);
                    den[g].push(before[i]);
                }
                let ebar: Vec<f64> = num
                    .into_iter()
                    .zip(den)
                    .map(|(n, d)| {
                        let d = sum(d);
                        if d > 0.0 {
                            sum(n) / d
                        } else {
                            0.0
                        }
                    })
                    .collect();
                for i in 0..z.len() {
                    z[i] -= after[i] * ebar[cells[i] as usize];
                }
            }
            Calibration::Rake { margins, snapshots } => {
                for _ in 0..RAKE_SWEEPS {
                    for ((codes, k), w) in margins.iter().zip(snapshots) {
                        let mut groups: Vec<Vec<f64>> = vec![Vec::new(); *k];
                        for i in 0..z.len() {
                            groups[codes[i] as usize].push(z[i] / w[i]);
                        }
                        let means: Vec<f64> = groups
                            .into_iter()
                            .map(|g| {
                                if g.is_empty() {
                                    0.0
                                } else {
                                    sum(g.iter().copied()) / g.len() as f64
                                }
                            })
                            .collect();
                        for i in 0..z.len() {
                            z[i] -= w[i] * means[codes[i] as usize];
                        }
                    }
                }
            }
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

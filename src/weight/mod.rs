//! Weight: the survey design (strata, clusters, FPC, base weights N_h/n_h) and calibration of
//! the weights to the population targets by post-stratification or raking. The result carries
//! everything the estimators need for honest variances ([`Weighted`]) and the diagnostics the
//! report shows (target vs achieved per margin level).

mod population;

use crate::clean::{Answer, RecordRef, Records};
use crate::error::{Error, Result};
use crate::kernels::calibration::{
    poststratify, poststratify_partial, rake_until, Calibration, CalibrationError, Margin,
};
use crate::kernels::design::{Design, DesignError};
use crate::kernels::greg::{calibrate, column_totals, CalFun, GregResidual};
use crate::kernels::group_codes;
use crate::kernels::replicates::{bootstrap, jk1, jkn, ReplicateSet};
use crate::kernels::trim::trim_weights;
use crate::spec::{CalFunSpec, EmptyCellRule, Spec, Trim, TrimScale, VarianceMethod, WeightMethod};

pub use population::Population;

/// Target vs achieved for one level of one weighting variable.
#[derive(Debug, Clone)]
pub struct MarginCheck {
    pub variable: String,
    pub level: String,
    pub population: f64,
    pub respondents: usize,
    pub base_total: f64,
    pub weighted_total: f64,
}

#[derive(Debug, Clone)]
pub struct Weighted {
    pub design: Design,
    pub base_weights: Vec<f64>,
    /// Weights after calibration, before trimming.
    pub calibrated_weights: Vec<f64>,
    /// Final weights.
    pub weights: Vec<f64>,
    pub calibration: Calibration,
    /// What was done: `none`, `poststratify`, `rake`, `calibrate`.
    pub method: &'static str,
    /// Why the method differs from the spec's, or other remarks.
    pub note: Option<String>,
    pub passes: Option<usize>,
    /// False only when raking ran out of passes (a quality gate).
    pub converged: bool,
    pub max_rel_error: f64,
    pub margins: Vec<MarginCheck>,
    pub population_total: f64,
    pub fpc: bool,
    pub trim: Option<TrimInfo>,
    /// Replicate weights (each replicate calibrated like the full sample), when the spec asks
    /// for replicate variance.
    pub replicates: Option<ReplicateSet>,
    /// Warnings about the design that do not stop the run (a cluster column giving every
    /// response its own PSU); `validate` and `run` print them, the manifest records them.
    pub design_notes: Vec<String>,
    /// The stratum variable's code of each stratum (`design.strata()` indexes it); one empty
    /// label without strata.
    pub stratum_levels: Vec<String>,
    /// The cluster identifier of each PSU (`design.psu()` indexes it), when the design has
    /// clusters.
    pub psu_levels: Option<Vec<String>>,
}

fn code_of<'a>(spec: &Spec, r: RecordRef<'a>, var: &str) -> Option<&'a str> {
    let qi = spec.questions.iter().position(|q| q.id == var)?;
    r.answer(qi).as_code()
}

/// A PSU identifier as written, whatever the question type: a code, a text, or a number (whole
/// numbers without `.0`). `None` when not answered.
fn identifier(a: &Answer) -> Option<String> {
    match a {
        Answer::Code(c) => Some(c.to_string()),
        Answer::Text(t) => Some(t.trim().to_string()).filter(|t| !t.is_empty()),
        Answer::Number(x) if x.fract() == 0.0 && x.abs() < 1e15 => Some(format!("{}", *x as i64)),
        Answer::Number(x) => Some(x.to_string()),
        _ => None,
    }
}

/// Each record's PSU label for `design.cluster = c`: its identifier, prefixed by its stratum
/// when `design.nest` (PSUs numbered within strata, R's `nest = TRUE`). PSU codes that repeat
/// across strata without `nest`, and a missing PSU, are errors naming the codes and the row.
fn psu_labels(
    spec: &Spec,
    records: &Records,
    c: &str,
    strata: &[u32],
    stratum_levels: &[String],
) -> Result<Vec<String>> {
    let qi = spec.questions.iter().position(|q| q.id == c).unwrap_or(0);
    let mut labels = Vec::with_capacity(records.len());
    let mut stratum_of: std::collections::BTreeMap<String, u32> = Default::default();
    for (i, r) in records.iter().enumerate() {
        let Some(id) = identifier(r.answer(qi)) else {
            return Err(Error::input(
                format!("{} row {}", r.file(), r.row),
                format!("no value for the cluster (PSU) `{c}` (design.cluster); every response needs its PSU"),
            ));
        };
        let h = strata[i];
        if spec.design.nest {
            labels.push(format!("{}\u{1}{id}", stratum_levels[h as usize]));
            continue;
        }
        match stratum_of.get(&id) {
            Some(&g) if g != h => {
                let s = spec.design.strata.as_deref().unwrap_or("");
                return Err(Error::Weighting(format!(
                    "PSU `{id}` of `{c}` appears in stratum `{}` and in stratum `{}` of `{s}`: PSU codes repeat across strata. \
                     If PSUs are numbered within each stratum (1, 2, … in every stratum), set design.nest = true \
                     (R's nest = TRUE); otherwise give every PSU a code of its own",
                    stratum_levels[g as usize],
                    stratum_levels[h as usize]
                )));
            }
            Some(_) => {}
            None => {
                stratum_of.insert(id.clone(), h);
            }
        }
        labels.push(id);
    }
    Ok(labels)
}

/// Population PSUs per stratum from `design.fpc_variable` (R's `svydesign(fpc = ~var)`): each
/// respondent's value is the stratum's population PSU count, or its sampling fraction when at
/// most 1 (then N_h = sampled PSUs / f). Missing values and values that differ within a stratum
/// are errors naming the row.
fn fpc_from_variable(
    spec: &Spec,
    records: &Records,
    strata: &[u32],
    stratum_levels: &[String],
    psu: &[u32],
) -> Result<Vec<f64>> {
    let v = spec.design.fpc_variable.as_deref().unwrap_or_default();
    let qi = spec.questions.iter().position(|q| q.id == v).unwrap_or(0);
    let mut value: Vec<Option<f64>> = vec![None; stratum_levels.len()];
    for (i, r) in records.iter().enumerate() {
        let x = match r.answer(qi).as_number() {
            Some(x) if x > 0.0 && x.is_finite() => x,
            other => {
                return Err(Error::input(
                    format!("{} row {}", r.file(), r.row),
                    format!("design.fpc_variable `{v}` must be a positive number (the stratum's population PSU count, or its sampling fraction), got {other:?}"),
                ))
            }
        };
        let h = strata[i] as usize;
        match value[h] {
            Some(y) if y != x => {
                return Err(Error::input(
                    format!("{} row {}", r.file(), r.row),
                    format!(
                        "design.fpc_variable `{v}` is {x} here but {y} elsewhere in stratum `{}`: it must be constant within a stratum",
                        stratum_levels[h]
                    ),
                ))
            }
            _ => value[h] = Some(x),
        }
    }
    let mut psus: Vec<std::collections::BTreeSet<u32>> =
        vec![Default::default(); stratum_levels.len()];
    for (h, c) in strata.iter().zip(psu) {
        psus[*h as usize].insert(*c);
    }
    Ok(value
        .iter()
        .zip(&psus)
        .map(|(x, s)| match x {
            Some(f) if *f <= 1.0 => s.len() as f64 / f,
            Some(big_n) => *big_n,
            None => f64::INFINITY,
        })
        .collect())
}

fn levels_of(spec: &Spec, records: &Records, var: &str) -> Result<Vec<String>> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            code_of(spec, r, var)
                .map(str::to_string)
                .ok_or_else(|| Error::Weighting(format!("record {i} has no value for `{var}`")))
        })
        .collect()
}

fn calibration_message(
    e: &CalibrationError,
    vars: &[Vec<String>],
    levels: &[Vec<Vec<String>>],
) -> String {
    let name = |m: usize, l: usize| {
        let key = &levels[m][l];
        vars[m]
            .iter()
            .zip(key)
            .map(|(v, x)| format!("{v}={x}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match e {
        CalibrationError::Singular => {
            "the calibration equations are singular: some level has no respondents".to_string()
        }
        CalibrationError::EmptyCell { margin, level } => {
            format!(
                "the population cell {} has no respondents",
                name(*margin, *level)
            )
        }
        CalibrationError::BadTarget {
            margin,
            level,
            target,
        } => {
            format!(
                "the population cell {} has respondents but a count of {target}",
                name(*margin, *level)
            )
        }
        CalibrationError::InconsistentTotals {
            margin,
            total,
            first_total,
        } => format!(
            "the margin of {} totals {total} but the margin of {} totals {first_total}",
            vars[*margin].join(" × "),
            vars[0].join(" × ")
        ),
    }
}

/// Each record's cell code, the population count per cell, and each cell's levels.
type Cells = (Vec<u32>, Vec<f64>, Vec<Vec<String>>);

/// Codes of each record in the cells of `vars`, and targets per cell, from the population.
fn cells(spec: &Spec, pop: &Population, records: &Records, vars: &[String]) -> Result<Cells> {
    let margin = pop.margin(vars)?;
    let keys: Vec<Vec<String>> = margin.keys().cloned().collect();
    let targets: Vec<f64> = margin.values().copied().collect();
    // A record's cell depends on its answers' slots alone: each combination of slots is
    // looked up once (the slots numbered together in one u64, or the record's own key when
    // the numbering would not fit).
    let columns: Vec<Option<&crate::clean::AnswerColumn>> = vars
        .iter()
        .map(|v| {
            let qi = spec.questions.iter().position(|q| q.id == *v)?;
            Some(records.column(qi))
        })
        .collect();
    let radix: Vec<u64> = columns
        .iter()
        .map(|c| c.map_or(1, |c| c.values().len().max(1)) as u64)
        .collect();
    let fits = radix
        .iter()
        .try_fold(1u64, |acc, n| acc.checked_mul(*n))
        .is_some();
    let mut seen: rustc_hash::FxHashMap<u64, u32> = Default::default();
    let mut codes = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let combined = fits.then(|| {
            columns.iter().zip(&radix).fold(0u64, |acc, (c, n)| {
                acc * n + c.map_or(0, |c| c.slot(i) as u64)
            })
        });
        if let Some(c) = combined.and_then(|k| seen.get(&k)) {
            codes.push(*c);
            continue;
        }
        let key: Vec<String> = vars
            .iter()
            .map(|v| code_of(spec, r, v).unwrap_or_default().to_string())
            .collect();
        let c = keys.binary_search(&key).map_err(|_| {
            Error::Weighting(format!(
                "respondents in the cell {} which {} does not list",
                vars.iter()
                    .zip(&key)
                    .map(|(v, x)| format!("{v}={x}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                pop.file
            ))
        })?;
        if let Some(k) = combined {
            seen.insert(k, c as u32);
        }
        codes.push(c as u32);
    }
    Ok((codes, targets, keys))
}

/// Build the design and calibrate the weights.
pub fn weight(spec: &Spec, pop: &Population, records: &Records) -> Result<Weighted> {
    let n = records.len();
    if n < 2 {
        return Err(Error::Weighting(format!(
            "{n} usable response(s); at least 2 are needed for a variance"
        )));
    }
    // Strata and base weights N_h / n_h.
    let (strata, stratum_levels) = match &spec.design.strata {
        Some(v) => group_codes(&levels_of(spec, records, v)?),
        None => (vec![0; n], vec![String::new()]),
    };
    // Weights from a column with no population targets (method none): no stratum sizes, so no
    // FPC unless the sampling fraction is given.
    let no_targets = pop.vars.is_empty();
    let stratum_pop: Vec<f64> = match &spec.design.strata {
        _ if no_targets => vec![f64::NAN; stratum_levels.len()],
        Some(v) => {
            let m = pop.margin(std::slice::from_ref(v))?;
            stratum_levels
                .iter()
                .map(|l| m.get(std::slice::from_ref(l)).copied().unwrap_or(0.0))
                .collect()
        }
        None => vec![pop.total()],
    };
    let mut n_h = vec![0usize; stratum_levels.len()];
    for h in &strata {
        n_h[*h as usize] += 1;
    }
    let base_weights: Vec<f64> = match &spec.design.base_weight {
        None => strata
            .iter()
            .map(|h| stratum_pop[*h as usize] / n_h[*h as usize] as f64)
            .collect(),
        Some(q) => {
            let qi = spec.questions.iter().position(|x| &x.id == q).unwrap_or(0);
            records
                .iter()
                .map(|r| match r.answer(qi).as_number() {
                    Some(w) if w > 0.0 && w.is_finite() => Ok(w),
                    other => Err(Error::input(
                        format!("{} row {}", r.file(), r.row),
                        format!("base weight `{q}` must be a positive number, got {other:?}"),
                    )),
                })
                .collect::<Result<_>>()?
        }
    };
    let mut design_notes = Vec::new();
    let mut psu_levels = None;
    let (psu, fpc) = match &spec.design.cluster {
        Some(c) => {
            let labels = psu_labels(spec, records, c, &strata, &stratum_levels)?;
            let (codes, levels) = group_codes(&labels);
            let singletons = {
                let mut size = vec![0usize; levels.len()];
                for &p in &codes {
                    size[p as usize] += 1;
                }
                size.iter().filter(|&&k| k == 1).count()
            };
            if levels.len() == n && n >= 10 {
                design_notes.push(format!(
                    "design.cluster `{c}` gives every one of the {n} responses its own PSU, as if there were no clusters; \
                     check that `{c}` holds the cluster (PSU) identifier"
                ));
            } else if n >= 20 && singletons * 10 > levels.len() * 9 {
                design_notes.push(format!(
                    "design.cluster `{c}`: {singletons} of its {} PSUs hold a single response ({n} responses), \
                     which is implausible for clusters; check that `{c}` holds the cluster (PSU) identifier",
                    levels.len()
                ));
            }
            psu_levels = Some(levels);
            (codes, false)
        }
        None => ((0..n as u32).collect(), spec.design.fpc),
    };
    // FPC: a per-respondent variable (R's fpc = ~var), population counts per stratum, or PSUs
    // sampled / sampling fraction.
    let fpc_counts: Option<Vec<f64>> = match spec.design.sampling_fraction {
        _ if spec.design.fpc_variable.is_some() => Some(fpc_from_variable(
            spec,
            records,
            &strata,
            &stratum_levels,
            &psu,
        )?),
        Some(f) => {
            let mut psus: Vec<std::collections::BTreeSet<u32>> =
                vec![Default::default(); stratum_levels.len()];
            for (h, c) in strata.iter().zip(&psu) {
                psus[*h as usize].insert(*c);
            }
            Some(psus.iter().map(|s| s.len() as f64 / f).collect())
        }
        None => (fpc && !no_targets).then(|| stratum_pop.clone()),
    };
    let fpc = fpc_counts.is_some();
    let design = Design::new(strata.clone(), psu, fpc_counts.as_deref()).map_err(|e| match e {
        DesignError::LonelyPsu { stratum } => Error::Weighting(format!(
            "stratum `{}` of `{}` has a single PSU, so its variance cannot be estimated; \
             merge it with a neighbouring stratum in the spec or drop `design.strata`",
            stratum_levels[stratum],
            spec.design.strata.as_deref().unwrap_or("")
        )),
        other => Error::Weighting(other.to_string()),
    })?;

    let vars = &spec.weighting.variables;
    let fit = calibrate_weights(spec, pop, records, &base_weights)?;
    let calibrated_weights = fit.weights.clone();
    let (fit, trim) = match &spec.weighting.trim {
        None => (fit, None),
        Some(t) => trim_and_recalibrate(spec, pop, records, t, fit)?,
    };
    let Fit {
        weights,
        calibration,
        method,
        passes,
        converged,
        max_rel_error,
        note,
    } = fit;
    let converged = converged && trim.as_ref().is_none_or(|t| t.settled);

    let mut margins = Vec::new();
    for v in vars {
        let (codes, targets, keys) = cells(spec, pop, records, std::slice::from_ref(v))?;
        let mut resp = vec![0usize; targets.len()];
        let mut base = vec![0.0; targets.len()];
        let mut after = vec![0.0; targets.len()];
        for i in 0..n {
            let c = codes[i] as usize;
            resp[c] += 1;
            base[c] += base_weights[i];
            after[c] += weights[i];
        }
        // Levels in the question's option order, not alphabetical.
        let order = |level: &str| {
            spec.question(v)
                .and_then(|q| spec.options(q).iter().position(|o| o.code.0 == level))
                .unwrap_or(usize::MAX)
        };
        let mut ks: Vec<usize> = (0..keys.len()).collect();
        ks.sort_by_key(|&k| (order(&keys[k][0]), keys[k][0].clone()));
        for k in ks {
            let key = &keys[k];
            margins.push(MarginCheck {
                variable: v.clone(),
                level: key[0].clone(),
                population: targets[k],
                respondents: resp[k],
                base_total: base[k],
                weighted_total: after[k],
            });
        }
    }
    let replicates = match spec.design.variance {
        VarianceMethod::Linearization => None,
        method => {
            let fractions: Vec<f64> = fpc_counts.as_ref().map_or_else(
                || vec![0.0; stratum_levels.len()],
                |counts| {
                    let mut psus: Vec<std::collections::BTreeSet<u32>> =
                        vec![Default::default(); stratum_levels.len()];
                    for (h, c) in strata.iter().zip(design.psu()) {
                        psus[*h as usize].insert(*c);
                    }
                    psus.iter()
                        .zip(counts)
                        .map(|(s, n)| s.len() as f64 / n)
                        .collect()
                },
            );
            let mut set = match method {
                VarianceMethod::Jk1 => {
                    // One fraction for all PSUs: sampled PSUs over population PSUs.
                    let f = fpc_counts.as_ref().map_or(0.0, |c| {
                        let sampled: std::collections::BTreeSet<u32> =
                            design.psu().iter().copied().collect();
                        sampled.len() as f64 / c.iter().sum::<f64>()
                    });
                    jk1(design.psu(), f)
                }
                VarianceMethod::Jkn => jkn(&strata, design.psu(), &fractions),
                _ => bootstrap(
                    &strata,
                    design.psu(),
                    spec.design.replicates.max(2),
                    spec.design.seed,
                ),
            };
            // A replicate that deletes every respondent of a post-stratum cannot calibrate it
            // (0 × target / 0): those rows keep weight 0 there, and the run says so — R's
            // survey returns NA for such a design.
            let mut uncalibrated = 0;
            for r in &mut set.weights {
                for (m, b) in r.iter_mut().zip(&base_weights) {
                    *m *= b;
                }
                if spec.weighting.method != WeightMethod::None {
                    *r = calibrate_weights(spec, pop, records, r)?.weights;
                    if r.iter().any(|x| !x.is_finite()) {
                        uncalibrated += 1;
                        r.iter_mut()
                            .filter(|x| !x.is_finite())
                            .for_each(|x| *x = 0.0);
                    }
                }
            }
            if uncalibrated > 0 {
                design_notes.push(format!(
                    "{uncalibrated} of the {} replicates delete every respondent of a weighting cell,                      which those replicates cannot calibrate: its rows weigh 0 there (R's survey returns NA                      standard errors for such a design); merge small cells or use linearization",
                    set.weights.len()
                ));
            }
            Some(set)
        }
    };
    let population_total = if no_targets {
        crate::kernels::sum(base_weights.iter().copied())
    } else {
        pop.total()
    };
    Ok(Weighted {
        replicates,
        design,
        base_weights,
        calibrated_weights,
        weights,
        calibration,
        method,
        note,
        passes,
        converged,
        max_rel_error,
        margins,
        // Without targets the population is what the weights say it is.
        population_total,
        fpc,
        trim,
        design_notes,
        stratum_levels,
        psu_levels,
    })
}

/// The outcome of one calibration of the weights.
struct Fit {
    weights: Vec<f64>,
    calibration: Calibration,
    method: &'static str,
    passes: Option<usize>,
    converged: bool,
    max_rel_error: f64,
    note: Option<String>,
}

/// Calibrate `start` weights by the spec's method (with the empty-cell fallback).
fn calibrate_weights(
    spec: &Spec,
    pop: &Population,
    records: &Records,
    start: &[f64],
) -> Result<Fit> {
    let vars = &spec.weighting.variables;
    let plain = |weights: Vec<f64>, calibration, method| Fit {
        weights,
        calibration,
        method,
        passes: None,
        converged: true,
        max_rel_error: 0.0,
        note: None,
    };
    match spec.weighting.method {
        WeightMethod::None => Ok(plain(start.to_vec(), Calibration::None, "none")),
        WeightMethod::Rake => run_rake(spec, pop, records, start),
        WeightMethod::Calibrate => run_calibrate(spec, pop, records, start),
        WeightMethod::Poststratify => {
            let (codes, targets, keys) = cells(spec, pop, records, vars)?;
            let result = if spec.weighting.empty_cell == EmptyCellRule::Ignore {
                poststratify_partial(start, &codes, &targets)
            } else {
                poststratify(start, &codes, &targets)
            };
            match result {
                Ok(w) => {
                    let cal = Calibration::PostStrat {
                        cells: codes,
                        n_cells: targets.len(),
                        before: start.to_vec(),
                        after: w.clone(),
                    };
                    Ok(plain(w, cal, "poststratify"))
                }
                Err(e @ CalibrationError::EmptyCell { .. })
                    if spec.weighting.empty_cell == EmptyCellRule::Rake && vars.len() > 1 =>
                {
                    let mut fit = run_rake(spec, pop, records, start)?;
                    fit.note = Some(format!(
                        "post-stratification impossible ({}); raked on the margins of {} instead (weighting.empty_cell = \"rake\")",
                        calibration_message(&e, std::slice::from_ref(vars), &[keys]),
                        vars.join(", ")
                    ));
                    Ok(fit)
                }
                Err(e) => Err(Error::Weighting(calibration_message(
                    &e,
                    std::slice::from_ref(vars),
                    &[keys],
                ))),
            }
        }
    }
}

/// What trimming did.
#[derive(Debug, Clone)]
pub struct TrimInfo {
    /// Absolute bounds applied.
    pub lower: f64,
    pub upper: f64,
    /// Weights outside the bounds before the first trim.
    pub n_trimmed: usize,
    /// Weights outside the bounds at the end.
    pub n_outside_after: usize,
    /// Trim (and re-calibrate) rounds run.
    pub rounds: usize,
    /// With `rerake`: margins and bounds both hold at the end (else a quality gate fails).
    pub settled: bool,
}

fn median_of(w: &[f64]) -> f64 {
    let mut s = w.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Largest relative margin error of `w` over the weighting variables' margins.
fn margin_error(spec: &Spec, pop: &Population, records: &Records, w: &[f64]) -> Result<f64> {
    let mut worst: f64 = 0.0;
    for v in &spec.weighting.variables {
        let (codes, targets, _) = cells(spec, pop, records, std::slice::from_ref(v))?;
        let sums = crate::kernels::group_sums(w, &codes, targets.len());
        for (s, t) in sums.iter().zip(&targets) {
            if *t > 0.0 {
                worst = worst.max((s - t).abs() / t);
            }
        }
    }
    Ok(worst)
}

/// Trim (R's `trimWeights`), and with `rerake` calibrate again and repeat until the margins and
/// the bounds both hold or `max_passes` rounds have run. Bounds relative to the mean or median
/// use the calibrated weights.
fn trim_and_recalibrate(
    spec: &Spec,
    pop: &Population,
    records: &Records,
    t: &Trim,
    mut fit: Fit,
) -> Result<(Fit, Option<TrimInfo>)> {
    let scale = match t.relative_to {
        TrimScale::Absolute => 1.0,
        TrimScale::Mean => {
            crate::kernels::sum(fit.weights.iter().copied()) / fit.weights.len() as f64
        }
        TrimScale::Median => median_of(&fit.weights),
    };
    let lower = t.lower.map_or(f64::NEG_INFINITY, |l| l * scale);
    let upper = t.upper.map_or(f64::INFINITY, |u| u * scale);
    let outside = |w: &[f64]| w.iter().filter(|&&x| x < lower || x > upper).count();
    let n_trimmed = outside(&fit.weights);
    let n = fit.weights.len() as f64;
    let total = crate::kernels::sum(fit.weights.iter().copied());
    if upper * n < total || lower * n > total {
        return Err(Error::Weighting(format!(
            "trim bounds [{lower}, {upper}] cannot hold: trimming keeps the total {total:.6}, whose mean weight {:.6} is outside them",
            total / n
        )));
    }
    let tolerance = spec.weighting.tolerance.max(1e-9);
    let mut rounds = 0;
    let mut settled = !t.rerake;
    while rounds < t.max_passes.max(1) {
        rounds += 1;
        fit.weights = trim_weights(&fit.weights, lower, upper, t.strict).weights;
        if !t.rerake || spec.weighting.method == WeightMethod::None {
            settled = true;
            break;
        }
        if margin_error(spec, pop, records, &fit.weights)? < tolerance {
            settled = true;
            break;
        }
        let note = fit.note.take();
        fit = calibrate_weights(spec, pop, records, &fit.weights)?;
        fit.note = note;
        if outside(&fit.weights) == 0 {
            settled = true;
            break;
        }
    }
    let info = TrimInfo {
        lower,
        upper,
        n_trimmed,
        n_outside_after: outside(&fit.weights),
        rounds,
        settled,
    };
    Ok((fit, Some(info)))
}

fn run_calibrate(spec: &Spec, pop: &Population, records: &Records, start: &[f64]) -> Result<Fit> {
    let mut margins = Vec::new();
    let mut targets = Vec::new();
    let mut names = Vec::new();
    let mut keys_all = Vec::new();
    for v in &spec.weighting.variables {
        let (codes, t, keys) = cells(spec, pop, records, std::slice::from_ref(v))?;
        // A level with no respondents makes the equations singular: name it first.
        let mut seen = vec![false; t.len()];
        for &c in &codes {
            seen[c as usize] = true;
        }
        if let Some(level) = (0..t.len()).find(|&l| !seen[l] && t[l] > 0.0) {
            return Err(Error::Weighting(format!(
                "the population level {v}={} has no respondents, so calibration cannot reach it",
                keys[level][0]
            )));
        }
        margins.push((codes, t.len()));
        targets.push(t);
        names.push(vec![v.clone()]);
        keys_all.push(keys);
    }
    let calfun = match spec.weighting.calfun {
        CalFunSpec::Raking => CalFun::Raking,
        CalFunSpec::Linear => CalFun::Linear,
    };
    let totals = column_totals(&targets);
    let fit = calibrate(
        start,
        &margins,
        &totals,
        calfun,
        spec.weighting.tolerance,
        spec.weighting.max_iterations.unwrap_or(1000).min(500),
    )
    .map_err(|e| Error::Weighting(calibration_message(&e, &names, &keys_all)))?;
    if fit.weights.iter().any(|w| *w <= 0.0) {
        return Err(Error::Weighting(
            "linear calibration produced zero or negative weights; use calfun = \"raking\" or trim"
                .into(),
        ));
    }
    let residual = GregResidual::new(margins, start.to_vec(), fit.weights.clone())
        .map_err(|e| Error::Weighting(calibration_message(&e, &names, &keys_all)))?;
    Ok(Fit {
        weights: fit.weights,
        calibration: Calibration::Greg(residual),
        method: "calibrate",
        passes: Some(fit.iterations),
        converged: fit.converged,
        max_rel_error: fit.max_rel_misfit,
        note: None,
    })
}

fn run_rake(spec: &Spec, pop: &Population, records: &Records, base: &[f64]) -> Result<Fit> {
    let mut margins = Vec::new();
    let mut names = Vec::new();
    let mut keys_all = Vec::new();
    for v in &spec.weighting.variables {
        let (codes, targets, keys) = cells(spec, pop, records, std::slice::from_ref(v))?;
        margins.push(Margin { codes, targets });
        names.push(vec![v.clone()]);
        keys_all.push(keys);
    }
    let fit = rake_until(
        base,
        &margins,
        spec.weighting.rake_stop(),
        spec.weighting.rake_passes(),
    )
    .map_err(|e| Error::Weighting(calibration_message(&e, &names, &keys_all)))?;
    let cal = Calibration::Rake {
        margins: margins
            .iter()
            .map(|m| (m.codes.clone(), m.targets.len()))
            .collect(),
        snapshots: fit.snapshots,
    };
    Ok(Fit {
        weights: fit.weights,
        calibration: cal,
        method: "rake",
        passes: Some(fit.passes),
        converged: fit.converged,
        max_rel_error: fit.max_rel_error,
        note: None,
    })
}

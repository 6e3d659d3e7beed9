//! The spec's `[[models]]`: design-based regressions of a response on organization traits
//! (R's `svyglm` + `confint` + `regTermTest`), as rows of `tables/models.csv`. The design
//! matrix is built here from the clean records and scores; the fit is `kernels::glm`.

use crate::clean::Records;
use crate::error::{Error, Result};
use crate::kernels::dist::{pt_two_sided, qt};
use crate::kernels::estimators::Survey;
use crate::kernels::glm::{svyglm, Family, GlmError};
use crate::score::Scores;
use crate::spec::{ModelFamily, ModelSpec, QuestionType, Spec, RISK_TIER};
use crate::table::Table;
use crate::weight::Weighted;

/// One row of `tables/models.csv`: a coefficient, or the Wald test of a factor.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub model_id: String,
    pub family: &'static str,
    pub response: String,
    /// `coefficient` or `term_test`.
    pub row: &'static str,
    /// `(Intercept)`, or the predictor.
    pub term: String,
    /// A factor coefficient's level (a code or tier name); empty otherwise.
    pub level: String,
    /// A factor's reference level.
    pub reference: String,
    pub estimate: f64,
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// t of a coefficient; the Wald F of a term test.
    pub statistic: f64,
    pub ndf: f64,
    pub ddf: f64,
    pub p_value: f64,
    /// Logistic models: exp of the coefficient and of its interval.
    pub odds_ratio: f64,
    pub odds_ratio_low: f64,
    pub odds_ratio_high: f64,
    /// Respondents the model used.
    pub n: usize,
    /// A factor coefficient: respondents at its level (what disclosure control checks).
    pub n_level: Option<usize>,
    /// A one-factor model is its levels' domain estimates in another form: the intercept is the
    /// reference level's mean (or logit share), a level's coefficient the difference from it.
    /// The groups whose numbers the row gives away — the intercept its reference level, a
    /// coefficient its level and the reference — for disclosure control to treat as the same
    /// cells as the estimates table's. Empty for any other model.
    pub reveals: Vec<ModelGroup>,
    pub suppressed: bool,
    /// Why a suppressed row is withheld (disclosure control's reason code); empty otherwise.
    pub flag: String,
}

/// A level of a one-factor model's factor, as the domain estimate the model restates: the
/// respondents used at that level, their weight sum and weighted total of the response (of
/// its indicator, for a logistic model) and, for a logistic model, the share's NCHS flags.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelGroup {
    /// The factor (a segment variable or a categorical item) and the level's code.
    pub var: String,
    pub level: String,
    pub n: usize,
    pub weight_sum: f64,
    pub total: f64,
    pub nchs_flags: Vec<&'static str>,
}

/// A predictor as read: numbers, or category indexes (`None` = missing).
type RawPredictor = (String, std::result::Result<Vec<f64>, Vec<Option<usize>>>);

/// A predictor's columns in the design matrix.
enum Predictor {
    Numeric(Vec<f64>),
    /// Category index per row (`None` = missing), the levels used (option order), the
    /// reference's position among them.
    Factor {
        cats: Vec<Option<usize>>,
        levels: Vec<usize>,
        reference: usize,
    },
}

fn is_factor(spec: &Spec, var: &str) -> bool {
    var == RISK_TIER
        || spec.question(var).is_some_and(|q| {
            matches!(
                q.kind,
                QuestionType::Single | QuestionType::Likert | QuestionType::Yesno
            )
        })
}

/// The round's `[[models]]`: the rows of those fitted, and for each the data cannot support
/// (too few organizations per parameter, a factor with one level left, aliased columns) its
/// id and why — a failed quality gate of the run, not an abort: everything else is published.
#[derive(Debug, Clone, Default)]
pub struct Models {
    pub rows: Vec<ModelRow>,
    pub not_fitted: Vec<(String, String)>,
}

/// Fit every `[[models]]` entry.
pub fn models(spec: &Spec, records: &Records, scores: &Scores, weighted: &Weighted) -> Models {
    let survey = Survey {
        design: &weighted.design,
        weights: &weighted.weights,
        calibration: &weighted.calibration,
    };
    let mut out = Models::default();
    for m in &spec.models {
        match fit_one(spec, records, scores, &survey, weighted, m) {
            Ok(rows) => out.rows.extend(rows),
            Err(Error::Model { id, message }) => out.not_fitted.push((id, message)),
            Err(other) => out.not_fitted.push((m.id.clone(), other.to_string())),
        }
    }
    out
}

fn fit_one(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    survey: &Survey<'_>,
    weighted: &Weighted,
    m: &ModelSpec,
) -> Result<Vec<ModelRow>> {
    let n_all = records.len();
    let refuse = |message: String| Error::Model {
        id: m.id.clone(),
        message,
    };
    let (family, family_name) = match m.family {
        ModelFamily::Gaussian => (Family::Gaussian, "gaussian"),
        ModelFamily::Quasibinomial => (Family::Quasibinomial, "quasibinomial"),
    };
    let y: Vec<f64> = if m.family == ModelFamily::Quasibinomial && is_factor(spec, &m.response) {
        super::indicator(spec, records, scores, &m.response, &m.levels)
            .into_iter()
            .map(|v| v.map_or(f64::NAN, |v| v as f64))
            .collect()
    } else {
        super::numeric_values(spec, records, scores, &m.response)
    };
    let mut used: Vec<bool> = (0..n_all)
        .map(|i| !y[i].is_nan() && survey.weights[i] > 0.0)
        .collect();
    let mut raw: Vec<RawPredictor> = Vec::new();
    for p in &m.predictors {
        if is_factor(spec, p) {
            let cats = super::categories(spec, records, scores, p);
            for i in 0..n_all {
                used[i] &= cats[i].is_some();
            }
            raw.push((p.clone(), Err(cats)));
        } else {
            let x = super::numeric_values(spec, records, scores, p);
            for i in 0..n_all {
                used[i] &= !x[i].is_nan();
            }
            raw.push((p.clone(), Ok(x)));
        }
    }
    // Factor levels among the rows used (R's factor of the model frame), in option order.
    let mut predictors = Vec::new();
    for (name, r) in raw {
        predictors.push(match r {
            Ok(x) => (name, Predictor::Numeric(x)),
            Err(cats) => {
                let mut levels: Vec<usize> = (0..n_all)
                    .filter(|&i| used[i])
                    .filter_map(|i| cats[i])
                    .collect();
                levels.sort_unstable();
                levels.dedup();
                let codes = super::levels_of(spec, &name);
                let reference = match m.reference.get(&name) {
                    Some(code) => {
                        let want = codes.iter().position(|c| c == code);
                        levels
                            .iter()
                            .position(|l| Some(*l) == want)
                            .ok_or_else(|| {
                                refuse(format!(
                                    "the reference level `{code}` of `{name}` has no respondents in the model"
                                ))
                            })?
                    }
                    None => 0,
                };
                if levels.len() < 2 {
                    return Err(refuse(format!(
                        "`{name}` has {} level(s) among the respondents used; a factor needs two",
                        levels.len()
                    )));
                }
                (
                    name,
                    Predictor::Factor {
                        cats,
                        levels,
                        reference,
                    },
                )
            }
        });
    }
    // The design matrix: intercept, then each predictor's columns.
    let mut x: Vec<Vec<f64>> = vec![vec![1.0; n_all]];
    let mut names: Vec<(String, String, String, Option<usize>)> =
        vec![("(Intercept)".into(), String::new(), String::new(), None)];
    let mut factor_cols: Vec<(String, String, Vec<usize>)> = Vec::new();
    for (name, p) in &predictors {
        match p {
            Predictor::Numeric(v) => {
                x.push(
                    v.iter()
                        .map(|v| if v.is_nan() { 0.0 } else { *v })
                        .collect(),
                );
                names.push((name.clone(), String::new(), String::new(), None));
            }
            Predictor::Factor {
                cats,
                levels,
                reference,
            } => {
                let codes = super::levels_of(spec, name);
                let ref_code = codes[levels[*reference]].clone();
                let mut cols = Vec::new();
                for (k, &l) in levels.iter().enumerate() {
                    if k == *reference {
                        continue;
                    }
                    let col: Vec<f64> = cats
                        .iter()
                        .map(|c| f64::from(u8::from(*c == Some(l))))
                        .collect();
                    let at_level = (0..n_all)
                        .filter(|&i| used[i] && cats[i] == Some(l))
                        .count();
                    cols.push(x.len());
                    x.push(col);
                    names.push((
                        name.clone(),
                        codes[l].clone(),
                        ref_code.clone(),
                        Some(at_level),
                    ));
                }
                factor_cols.push((name.clone(), ref_code, cols));
            }
        }
    }
    let p = x.len();
    let n_used = used.iter().filter(|u| **u).count();
    if n_used < m.min_per_parameter * p {
        return Err(refuse(format!(
            "{n_used} organizations answered the response and every predictor, for {p} parameters; \
             at least {} per parameter ({} in all) are needed (min_per_parameter) — drop predictors or merge levels",
            m.min_per_parameter,
            m.min_per_parameter * p
        )));
    }
    // Linearized, or refitted in every replicate when the round has replicate weights.
    let fit = match &weighted.replicates {
        None => svyglm(survey, &x, &y, &used, family),
        Some(set) => crate::kernels::replicates::svyglm_replicate(
            set,
            &weighted.weights,
            &x,
            &y,
            &used,
            family,
            survey.domain_degf(None),
        ),
    }
    .map_err(|e| {
        refuse(match e {
            GlmError::Aliased { column } => {
                let (t, l, _, _) = &names[column];
                format!(
                    "the column of `{t}`{} is a combination of the others (aliased): drop it or merge levels",
                    if l.is_empty() { String::new() } else { format!(" = {l}") }
                )
            }
            other => other.to_string(),
        })
    })?;
    let se = fit.se();
    let q = qt(0.5 + spec.publication.ci_level / 2.0, fit.df_residual).unwrap_or(f64::NAN);
    let logistic = family == Family::Quasibinomial;
    let groups = one_factor_groups(spec, survey, weighted, &predictors, &y, &used, logistic);
    let mut out = Vec::new();
    for (j, (term, level, reference, n_level)) in names.into_iter().enumerate() {
        // Column j ≥ 1 of a one-factor model is the (j − 1)-th non-reference level.
        let reveals = match &groups {
            Some((groups, r)) if j == 0 => vec![groups[*r].clone()],
            Some((groups, r)) => {
                let k = if j - 1 < *r { j - 1 } else { j };
                vec![groups[k].clone(), groups[*r].clone()]
            }
            None => Vec::new(),
        };
        let (b, s) = (fit.coef[j], se[j]);
        let (lo, hi) = (b - q * s, b + q * s);
        let t = b / s;
        let or = |v: f64| if logistic { v.exp() } else { f64::NAN };
        out.push(ModelRow {
            model_id: m.id.clone(),
            family: family_name,
            response: m.response.clone(),
            row: "coefficient",
            term,
            level,
            reference,
            estimate: b,
            se: s,
            ci_low: lo,
            ci_high: hi,
            statistic: t,
            ndf: f64::NAN,
            ddf: fit.df_residual,
            p_value: pt_two_sided(t, fit.df_residual).unwrap_or(f64::NAN),
            odds_ratio: or(b),
            odds_ratio_low: or(lo),
            odds_ratio_high: or(hi),
            n: fit.n,
            n_level,
            reveals,
            suppressed: false,
            flag: String::new(),
        });
    }
    for (term, reference, cols) in factor_cols {
        let (f, ndf, ddf, pv) = fit.wald_test(&cols);
        out.push(ModelRow {
            model_id: m.id.clone(),
            family: family_name,
            response: m.response.clone(),
            row: "term_test",
            term,
            level: String::new(),
            reference,
            estimate: f64::NAN,
            se: f64::NAN,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            statistic: f,
            ndf,
            ddf,
            p_value: pv,
            odds_ratio: f64::NAN,
            odds_ratio_low: f64::NAN,
            odds_ratio_high: f64::NAN,
            n: fit.n,
            n_level: None,
            reveals: Vec::new(),
            suppressed: false,
            flag: String::new(),
        });
    }
    Ok(out)
}

/// The levels of a model whose only predictor is a factor (a saturated model: its fitted values
/// are the levels' domain estimates), in the factor's level order, with the reference's
/// position; `None` for any other model.
fn one_factor_groups(
    spec: &Spec,
    survey: &Survey<'_>,
    weighted: &Weighted,
    predictors: &[(String, Predictor)],
    y: &[f64],
    used: &[bool],
    logistic: bool,
) -> Option<(Vec<ModelGroup>, usize)> {
    let [(
        var,
        Predictor::Factor {
            cats,
            levels,
            reference,
        },
    )] = predictors
    else {
        return None;
    };
    let codes = super::levels_of(spec, var);
    let y_used: Vec<f64> = (0..y.len())
        .map(|i| if used[i] { y[i] } else { f64::NAN })
        .collect();
    let groups = levels
        .iter()
        .map(|&l| {
            let mask: Vec<bool> = (0..y.len())
                .map(|i| used[i] && cats[i] == Some(l))
                .collect();
            let rows = || (0..y.len()).filter(|&i| mask[i]);
            let n = rows().count();
            let weight_sum: f64 = rows().map(|i| survey.weights[i]).sum();
            let total: f64 = rows().map(|i| survey.weights[i] * y[i]).sum();
            let nchs_flags = if logistic && spec.publication.nchs_proportions && n > 0 {
                let e = survey.mean(&y_used, Some(&mask));
                let df = survey.domain_degf(Some(&mask));
                let nrow = super::subset_rows(weighted, Some(&mask), y.len());
                super::nchs_proportion(e.value, e.se, df, n, spec.publication.ci_level, nrow).1
            } else {
                Vec::new()
            };
            ModelGroup {
                var: var.clone(),
                level: codes[l].clone(),
                n,
                weight_sum,
                total,
                nchs_flags,
            }
        })
        .collect();
    Some((groups, *reference))
}

/// `tables/models.csv`: numbers of suppressed rows are blank.
pub fn models_table(rows: &[ModelRow]) -> Table {
    let shown = |r: &ModelRow, x: f64| {
        if r.suppressed || !x.is_finite() {
            None
        } else {
            Some(x)
        }
    };
    let mut t = Table::new();
    t.text("model_id", rows.iter().map(|r| Some(r.model_id.clone())))
        .text("family", rows.iter().map(|r| Some(r.family)))
        .text("response", rows.iter().map(|r| Some(r.response.clone())))
        .text("row", rows.iter().map(|r| Some(r.row)))
        .text("term", rows.iter().map(|r| Some(r.term.clone())))
        .text("level", rows.iter().map(|r| Some(r.level.clone())))
        .text("reference", rows.iter().map(|r| Some(r.reference.clone())))
        .float("estimate", rows.iter().map(|r| shown(r, r.estimate)))
        .float("se", rows.iter().map(|r| shown(r, r.se)))
        .float("ci_low", rows.iter().map(|r| shown(r, r.ci_low)))
        .float("ci_high", rows.iter().map(|r| shown(r, r.ci_high)))
        .float("statistic", rows.iter().map(|r| shown(r, r.statistic)))
        .float("ndf", rows.iter().map(|r| shown(r, r.ndf)))
        .float("ddf", rows.iter().map(|r| shown(r, r.ddf)))
        .float("p_value", rows.iter().map(|r| shown(r, r.p_value)))
        .float("odds_ratio", rows.iter().map(|r| shown(r, r.odds_ratio)))
        .float(
            "odds_ratio_low",
            rows.iter().map(|r| shown(r, r.odds_ratio_low)),
        )
        .float(
            "odds_ratio_high",
            rows.iter().map(|r| shown(r, r.odds_ratio_high)),
        )
        .int("n", rows.iter().map(|r| Some(r.n as i64)))
        .boolean("suppressed", rows.iter().map(|r| Some(r.suppressed)))
        .text("flag", rows.iter().map(|r| Some(r.flag.clone())));
    t
}

//! What `report.html` and `summary.md` say, as data for their templates: the key findings, the
//! tables (cells already formatted, withheld numbers already marked), the charts' SVG, and the
//! numbers the templates' prose cites. The templates (`src/render/templates/`) own the wording
//! and the layout; this module owns the numbers.

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Serialize;

use crate::disclose::{caution_mark, withheld_cell};
use crate::estimate::{EstimateRow, ALL};
use crate::published::RunResult;
use crate::spec::{MetricKind, Spec, RISK_INDEX};

use super::{
    concentration_rows, estimate_with_ci, format_p, format_value, is_concentration_metric,
    level_label, metric_by, segment_label, trend_lines, unit_label,
};

/// Any serializable value as a template value.
fn val<T: Serialize>(x: T) -> Value {
    Value::from(minijinja::value::Serde(x))
}

/// A table as the templates print it: header, rows of formatted cells, and which columns are
/// numbers (right-aligned).
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub head: Vec<String>,
    pub num: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: &[(&str, bool)]) -> Self {
        Table {
            head: head.iter().map(|(h, _)| (*h).to_string()).collect(),
            num: head.iter().map(|(_, n)| *n).collect(),
            rows: Vec::new(),
        }
    }
    fn with_rows(mut self, rows: Vec<Vec<String>>) -> Self {
        self.rows = rows;
        self
    }
}

/// A published estimate's cell: the value with a caution mark, or "withheld" with its mark.
pub fn value_cell(spec: &Spec, e: &EstimateRow) -> String {
    if e.suppressed {
        withheld_cell(&e.flag)
    } else {
        format!(
            "{}{}",
            format_value(spec, e, e.estimate),
            caution_mark(&e.flag)
        )
    }
}

fn ci_cell(spec: &Spec, e: &EstimateRow) -> String {
    if e.suppressed {
        String::new()
    } else {
        format!(
            "{} – {}",
            format_value(spec, e, e.ci_low),
            format_value(spec, e, e.ci_high)
        )
    }
}

fn metric_title<'a>(spec: &'a Spec, id: &str) -> &'a str {
    spec.metrics
        .iter()
        .find(|m| m.id == id)
        .map_or("", |m| m.title.as_str())
}

/// The segment variable as a reader names it ("subsector", "size").
pub fn segment_var_label(spec: &Spec, var: &str) -> String {
    var.split(':')
        .map(|v| {
            spec.question(v)
                .map_or(v.to_string(), |q| q.id.replace('_', " "))
        })
        .collect::<Vec<_>>()
        .join(" × ")
}

fn headline(r: &RunResult) -> Table {
    let spec = &r.spec.spec;
    let level = spec.publication.ci_level * 100.0;
    let ci = format!("{level:.0}% CI");
    Table::new(&[
        ("Metric", false),
        ("Level", false),
        ("Estimate", true),
        (&ci, true),
        ("Unit", false),
        ("n", true),
        ("Metric id", false),
    ])
    .with_rows(
        r.estimates
            .iter()
            .filter(|e| e.segment_var == ALL && !is_concentration_metric(spec, &e.metric_id))
            .map(|e| {
                vec![
                    metric_title(spec, &e.metric_id).to_string(),
                    level_label(spec, e),
                    value_cell(spec, e),
                    ci_cell(spec, e),
                    unit_label(spec, e),
                    if e.suppressed {
                        String::new()
                    } else {
                        e.n.to_string()
                    },
                    e.metric_id.clone(),
                ]
            })
            .collect(),
    )
}

fn risk_by_segment(r: &RunResult) -> Option<Value> {
    let spec = &r.spec.spec;
    let m = metric_by(spec, RISK_INDEX, MetricKind::Mean)?;
    let level = spec.publication.ci_level * 100.0;
    let ci = format!("{level:.0}% CI");
    let t = Table::new(&[
        ("Segment by", false),
        ("Segment", false),
        ("Risk index (0–100)", true),
        (&ci, true),
        ("n", true),
        ("Code", false),
    ])
    .with_rows(
        r.estimates
            .iter()
            .filter(|e| e.metric_id == m.id && e.segment_var != ALL)
            .map(|e| {
                vec![
                    segment_var_label(spec, &e.segment_var),
                    segment_label(spec, &e.segment_var, &e.segment_value),
                    value_cell(spec, e),
                    ci_cell(spec, e),
                    if e.suppressed {
                        String::new()
                    } else {
                        e.n.to_string()
                    },
                    format!("{}={}", e.segment_var, e.segment_value),
                ]
            })
            .collect(),
    );
    Some(val(serde_json::json!({
        "title": m.title, "id": m.id, "table": t,
    })))
}

fn comparisons(r: &RunResult) -> Option<Value> {
    let spec = &r.spec.spec;
    let m = metric_by(spec, RISK_INDEX, MetricKind::Mean)?;
    let level = spec.publication.ci_level;
    let diff_ci = format!("{:.0}% CI", level * 100.0);
    let differences = Table::new(&[
        ("Segment by", false),
        ("Segment", false),
        ("Difference from the rest (points)", true),
        (&diff_ci, true),
        ("p", true),
        ("p (BH-adjusted)", true),
    ])
    .with_rows(
        r.comparisons
            .iter()
            .filter(|c| c.metric_id == m.id && c.test == "difference")
            .map(|c| {
                let by = segment_var_label(spec, &c.segment_var);
                let label = segment_label(spec, &c.segment_var, &c.segment_value);
                if c.suppressed {
                    vec![
                        by,
                        label,
                        "withheld".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]
                } else if !c.flag.is_empty() {
                    vec![
                        by,
                        label,
                        format!("{:+.1}", c.estimate),
                        String::new(),
                        "not testable".into(),
                        String::new(),
                    ]
                } else {
                    let (_, lo, hi) = super::findings::difference_ci(c, level);
                    vec![
                        by,
                        label,
                        format!("{:+.1}", c.estimate),
                        format!("{lo:+.1} to {hi:+.1}"),
                        format_p(c.p_value),
                        format_p(c.p_adjusted),
                    ]
                }
            })
            .collect(),
    );
    let tests = Table::new(&[
        ("Table", false),
        ("Rao–Scott F", true),
        ("df", true),
        ("p", true),
    ])
    .with_rows(
        r.comparisons
            .iter()
            .filter(|c| c.test == "rao_scott_f")
            .map(|c| {
                let untestable = !c.flag.is_empty() || c.suppressed;
                let rows_title = match metric_title(spec, &c.metric_id) {
                    "" => c
                        .association
                        .as_ref()
                        .map_or(String::new(), |a| variable_label(spec, &a.rows_var)),
                    t => t.to_string(),
                };
                vec![
                    format!("{rows_title} × {}", segment_var_label(spec, &c.segment_var)),
                    if untestable {
                        "–".into()
                    } else {
                        format!("{:.2}", c.statistic)
                    },
                    if untestable {
                        String::new()
                    } else {
                        format!("{:.2}, {:.1}", c.ndf, c.ddf)
                    },
                    if untestable {
                        "not testable".into()
                    } else {
                        format_p(c.p_value)
                    },
                ]
            })
            .collect(),
    );
    Some(val(serde_json::json!({
        "title": m.title, "id": m.id, "differences": differences,
        "tests": if tests.rows.is_empty() { None } else { Some(tests) },
    })))
}

/// A coefficient to the precision its SE carries (two significant digits of the SE, at most
/// six decimals): 30.4 and -11.9 with an SE of 2.5; -0.00041 with an SE of 0.00012.
fn coef_text(x: f64, signed: bool, se: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let digits = if se.is_finite() && se > 0.0 {
        (1 - se.log10().floor() as i32).clamp(0, 6) as usize
    } else {
        2
    };
    if signed {
        format!("{x:+.digits$}")
    } else {
        format!("{x:.digits$}")
    }
}

/// The sentence with its first letter capitalized.
fn capitalized(s: String) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// "= 0.012" or "< 0.001", to follow a "p".
fn p_words(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

/// A variable as a reader names it: the risk index or tier, a GV.SC maturity, else the
/// question's id in words.
fn variable_label(spec: &Spec, var: &str) -> String {
    match var {
        RISK_INDEX => "the risk index".into(),
        crate::spec::RISK_TIER => "the risk tier".into(),
        v => v
            .strip_prefix(crate::spec::MATURITY_PREFIX)
            .map_or_else(|| segment_var_label(spec, v), |d| format!("{d} maturity")),
    }
}

/// "What goes with higher risk": each model in plain words — the factors and numbers whose
/// test supports an association at the report's level, with their contrasts — and the full
/// coefficient table. Withheld coefficients say so.
fn models(r: &RunResult) -> Option<Value> {
    let spec = &r.spec.spec;
    if spec.models.is_empty() {
        return None;
    }
    let level = spec.publication.ci_level;
    let alpha = 1.0 - level;
    let ci = format!("{:.0}% CI", level * 100.0);
    let mut out = Vec::new();
    for m in &spec.models {
        let rows: Vec<&crate::estimate::ModelRow> =
            r.models.iter().filter(|x| x.model_id == m.id).collect();
        let Some(first) = rows.first() else {
            if let Some((_, why)) = r.models_not_fitted.iter().find(|(id, _)| id == &m.id) {
                out.push(serde_json::json!({
                    "id": m.id,
                    "title": m.title.clone().unwrap_or_else(|| format!("What goes with {}", variable_label(spec, &m.response))),
                    "not_fitted": why,
                }));
            }
            continue;
        };
        let logistic = first.family == "quasibinomial";
        let response = if logistic {
            format!(
                "the odds of {} being {}",
                variable_label(spec, &m.response),
                m.levels
                    .iter()
                    .map(|l| super::segment_label(spec, &m.response, l))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        } else {
            variable_label(spec, &m.response)
        };
        let level_label = |term: &str, code: &str| super::segment_label(spec, term, code);
        let effect = |x: &crate::estimate::ModelRow| -> String {
            if x.suppressed {
                format!("withheld ({})", crate::disclose::reason_words(&x.flag))
            } else if logistic {
                format!(
                    "odds ×{:.2} ({ci} {:.2} to {:.2})",
                    x.odds_ratio, x.odds_ratio_low, x.odds_ratio_high
                )
            } else {
                format!(
                    "{} ({ci} {} to {})",
                    coef_text(x.estimate, true, x.se),
                    coef_text(x.ci_low, true, x.se),
                    coef_text(x.ci_high, true, x.se)
                )
            }
        };
        let mut supported = Vec::new();
        let mut not_supported = Vec::new();
        for p in &m.predictors {
            let name = variable_label(spec, p);
            if let Some(t) = rows.iter().find(|x| x.row == "term_test" && &x.term == p) {
                let contrasts: Vec<String> = rows
                    .iter()
                    .filter(|x| x.row == "coefficient" && &x.term == p)
                    .map(|x| format!("{}: {}", level_label(p, &x.level), effect(x)))
                    .collect();
                if t.suppressed {
                    not_supported.push(format!(
                        "{name} (withheld: {})",
                        crate::disclose::reason_words(&t.flag)
                    ));
                } else if t.p_value < alpha {
                    supported.push(capitalized(format!(
                        "{name} goes with {response} (Wald F = {:.1} on {:.0} and {:.0} df, p {}). Compared with {} — {}.",
                        t.statistic,
                        t.ndf,
                        t.ddf,
                        p_words(t.p_value),
                        level_label(p, &t.reference),
                        contrasts.join("; ")
                    )));
                } else {
                    not_supported.push(name);
                }
            } else if let Some(c) = rows.iter().find(|x| x.row == "coefficient" && &x.term == p) {
                if !c.suppressed && c.p_value < alpha {
                    supported.push(format!(
                        "Each additional unit of {name} goes with {response} {} (p {}).",
                        if logistic {
                            format!("multiplied by {}", effect(c))
                        } else {
                            format!("changing by {}", effect(c))
                        },
                        p_words(c.p_value)
                    ));
                } else {
                    not_supported.push(name);
                }
            }
        }
        let mut head: Vec<(&str, bool)> = vec![("Term", false), ("Level", false)];
        head.push(if logistic {
            ("Odds ratio", true)
        } else {
            ("Coefficient", true)
        });
        head.extend([(ci.as_str(), true), ("p", true)]);
        let table = Table::new(&head).with_rows(
            rows.iter()
                .filter(|x| x.row == "coefficient")
                .map(|x| {
                    let term = if x.term == "(Intercept)" {
                        "Intercept".to_string()
                    } else {
                        capitalized(variable_label(spec, &x.term))
                    };
                    let lvl = if x.level.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "{} (vs {})",
                            level_label(&x.term, &x.level),
                            level_label(&x.term, &x.reference)
                        )
                    };
                    if x.suppressed {
                        let withheld = format!("withheld{}", crate::disclose::mark(&x.flag));
                        return vec![term, lvl, withheld, String::new(), String::new()];
                    }
                    // Odds ratios to two decimals, as the sentences give them.
                    let (e, lo, hi, se) = if logistic {
                        (x.odds_ratio, x.odds_ratio_low, x.odds_ratio_high, 0.1)
                    } else {
                        (x.estimate, x.ci_low, x.ci_high, x.se)
                    };
                    vec![
                        term,
                        lvl,
                        coef_text(e, false, se),
                        format!(
                            "{} to {}",
                            coef_text(lo, false, se),
                            coef_text(hi, false, se)
                        ),
                        super::format_p(x.p_value),
                    ]
                })
                .collect(),
        );
        out.push(serde_json::json!({
            "id": m.id,
            "title": m.title.clone().unwrap_or_else(|| format!("What goes with {response}")),
            "n": first.n,
            "logistic": logistic,
            "supported": supported,
            "not_supported": not_supported,
            "not_fitted": null,
            "table": table,
        }));
    }
    Some(val(serde_json::Value::Array(out)))
}

fn trend(r: &RunResult) -> Option<Value> {
    let spec = &r.spec.spec;
    let prev = r.previous.as_ref()?;
    let rows: Vec<Vec<String>> = trend_lines(r, prev)
        .iter()
        .map(|l| {
            let e = l.current;
            let shown =
                |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format_value(spec, e, x));
            let before = l.previous.map_or_else(String::new, |p| {
                format!(
                    "{} ({} – {})",
                    shown(p.estimate),
                    shown(p.ci_low),
                    shown(p.ci_high)
                )
            });
            let now = if e.suppressed {
                withheld_cell(&e.flag)
            } else {
                format!(
                    "{} ({} – {})",
                    shown(Some(e.estimate)),
                    shown(Some(e.ci_low)),
                    shown(Some(e.ci_high))
                )
            };
            let (change, se, se_independent, pv) = match l.change() {
                Some((d, s, independent)) => {
                    let pval = if s > 0.0 {
                        crate::kernels::dist::pnorm_two_sided(d / s).unwrap_or(f64::NAN)
                    } else {
                        f64::NAN
                    };
                    let unit = |x: f64| {
                        if matches!(e.statistic, "proportion" | "ratio") {
                            format!("{:+.1} pts", x * 100.0)
                        } else {
                            let sign = if x >= 0.0 { "+" } else { "" };
                            format!("{sign}{}", format_value(spec, e, x))
                        }
                    };
                    let magnitude = |x: f64| unit(x).trim_start_matches('+').to_string();
                    (
                        unit(d),
                        magnitude(s),
                        if l.panel.is_some() {
                            magnitude(independent)
                        } else {
                            String::new()
                        },
                        format_p(pval),
                    )
                }
                None => (l.note.clone(), String::new(), String::new(), String::new()),
            };
            // "Tier 1 – Partial: generally unaware …" → "Tier 1 – Partial".
            let level = level_label(spec, e);
            let level = level.split(':').next().unwrap_or_default().to_string();
            vec![
                metric_title(spec, &e.metric_id).to_string(),
                level,
                before,
                now,
                change,
                se,
                se_independent,
                pv,
                e.metric_id.clone(),
            ]
        })
        .collect();
    let a = format!("Round {}", prev.round);
    let b = format!("Round {}", spec.survey.round);
    // With a panel, "SE" is the panel SE and the independent-samples SE stands beside it;
    // without, the one SE is the independent-samples SE.
    let mut columns = vec![
        ("Metric", false),
        ("Level", false),
        (a.as_str(), true),
        (b.as_str(), true),
        ("Change", true),
    ];
    let rows = if r.panel.is_some() {
        columns.extend([("SE (panel)", true), ("SE if independent", true)]);
        rows
    } else {
        columns.push(("SE", true));
        rows.into_iter()
            .map(|mut row| {
                row.remove(6);
                row
            })
            .collect()
    };
    columns.extend([("p", true), ("Metric id", false)]);
    let t = Table::new(&columns).with_rows(rows);
    // Organizations in both rounds, in the earlier and in this round.
    let overlap = r.panel.as_ref().map(|p| {
        let (both, a, b) = p.overlap();
        serde_json::json!({"both": both, "before": a, "now": b})
    });
    Some(val(serde_json::json!({
        "round": prev.round, "dir": prev.dir.display().to_string(), "table": t, "overlap": overlap,
    })))
}

fn concentration(r: &RunResult) -> Option<Value> {
    use crate::concentration::NO_ALTERNATIVE_SHARE;
    let c = r.concentration.as_ref()?;
    let spec = &r.spec.spec;
    let level = spec.publication.ci_level * 100.0;
    let unresolved: Vec<&crate::concentration::Match> = c
        .matches
        .iter()
        .filter(|m| m.resolution.canonical.is_none())
        .collect();
    let spof: Vec<Vec<String>> = c
        .suppliers
        .iter()
        .filter(|s| s.single_point_of_failure)
        .map(|s| {
            let cat = s.category.clone().unwrap_or_default();
            let share = c
                .supplier_rows
                .iter()
                .find(|e| e.segment_var == ALL && e.level == s.label)
                .map(|e| estimate_with_ci(spec, e))
                .unwrap_or_default();
            let noalt = c
                .category_row(NO_ALTERNATIVE_SHARE, &cat, ALL, "")
                .map(|e| estimate_with_ci(spec, e))
                .unwrap_or_default();
            vec![s.label.clone(), c.category_label(&cat), share, noalt]
        })
        .collect();
    let a = format!("Organizations naming it ({level:.0}% CI)");
    let spof = Table::new(&[
        ("Supplier", false),
        ("Category", false),
        (&a, true),
        ("No alternative in the category", true),
    ])
    .with_rows(spof);
    let (d, h, n) = (
        format!("Depend on it ({level:.0}% CI)"),
        format!("HHI 0–1 ({level:.0}% CI)"),
        format!("No alternative ({level:.0}% CI)"),
    );
    let by_category = Table::new(&[
        ("Category", false),
        (&d, true),
        (&h, true),
        ("Effective suppliers", true),
        (&n, true),
        ("n dependents", true),
    ])
    .with_rows(concentration_rows(spec, r.disclosure.policy.min_cell, c));
    let cs = spec.concentration.as_ref();
    Some(val(serde_json::json!({
        "names_tlp": (c.publish_names && c.tlp != spec.survey.tlp).then(|| c.tlp.label()),
        "publish_names": c.publish_names,
        "answered": c.answered,
        "distinct": c.matches.len(),
        "resolved_spellings": c.matches.len() - unresolved.len(),
        "resolved_suppliers": c.suppliers.iter().filter(|s| s.category.is_some()).count(),
        "unresolved": unresolved.len(),
        "unresolved_mentions": unresolved.iter().map(|m| m.mentions).sum::<usize>(),
        "unresolved_sentence": c.unresolved.sentence(),
        "unresolved_share": format!("{:.1}%", 100.0 * c.unresolved.share()),
        "unresolved_dependents": format!("{:.1}%", 100.0 * c.unresolved.dependents_share),
        "published": c.suppliers.iter().filter(|s| s.published).count(),
        "single_point_share": cs.map(|x| format!("{:.0}%", x.single_point_share * 100.0)),
        "single_point_no_alternative": cs.map(|x| format!("{:.0}%", x.single_point_no_alternative * 100.0)),
        "spof": if spof.rows.is_empty() { None } else { Some(spof) },
        "spof_labels": c.suppliers.iter().filter(|s| s.single_point_of_failure).map(|s| s.label.clone()).collect::<Vec<_>>(),
        "by_category": by_category,
    })))
}

fn quality(r: &RunResult) -> Value {
    let spec = &r.spec.spec;
    let log = &r.cleaned.log;
    let per_source = Table::new(&[
        ("Source", false),
        ("Rows read", true),
        ("Kept", true),
        ("Quarantined", true),
        ("Kept with a flag", true),
    ])
    .with_rows(
        log.sources
            .iter()
            .map(|(src, c)| {
                vec![
                    src.clone(),
                    c.read.to_string(),
                    c.kept.to_string(),
                    c.quarantined.to_string(),
                    c.flagged.to_string(),
                ]
            })
            .collect(),
    );
    let mut rules: Vec<&str> = log
        .excluded
        .keys()
        .chain(log.flagged.keys())
        .copied()
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let rules = Table::new(&[
        ("Rule", false),
        ("Rows quarantined", true),
        ("Kept rows flagged", true),
    ])
    .with_rows(
        rules
            .iter()
            .map(|k| {
                vec![
                    (*k).to_string(),
                    log.excluded.get(k).map_or("–".into(), ToString::to_string),
                    log.flagged.get(k).map_or("–".into(), ToString::to_string),
                ]
            })
            .collect(),
    );
    let mut by_how: BTreeMap<&str, usize> = BTreeMap::new();
    for ((_, _, _, how), rc) in &log.recodes {
        *by_how.entry(how).or_default() += rc.count;
    }
    let recodes = Table::new(&[("Recode", false), ("Meaning", false), ("Values", true)]).with_rows(
        by_how
            .iter()
            .map(|(how, n)| {
                let what = match *how {
                    "variant" => "a label with different case, spacing or accents",
                    "code" => "the option code instead of its label",
                    "alias" => "a spelling listed in the spec's aliases",
                    "fuzzy" => "a misspelled label matched to the most similar one",
                    "unmatched" => "no option matched: treated as unanswered",
                    "unreadable" => "not a number: treated as unanswered",
                    "out_of_range" => "a number outside the allowed range: treated as unanswered",
                    _ => "",
                };
                vec![(*how).to_string(), what.to_string(), n.to_string()]
            })
            .collect(),
    );
    let n = r.records().len().max(1);
    let nonresponse = Table::new(&[
        ("Question", false),
        ("Domain", false),
        ("Skipped or unreadable", true),
        ("Don't know / not applicable", true),
    ])
    .with_rows(
        spec.questions
            .iter()
            .enumerate()
            .filter(|(_, q)| q.is_scored())
            .map(|(qi, q)| {
                let skipped = r
                    .records()
                    .iter()
                    .filter(|x| !x.answer(qi).is_answered())
                    .count();
                let missing = r
                    .records()
                    .iter()
                    .filter(|x| matches!(x.answer(qi), crate::clean::Answer::Missing(_)))
                    .count();
                vec![
                    q.id.clone(),
                    q.domain.clone().unwrap_or_default(),
                    format!("{:.1}%", 100.0 * skipped as f64 / n as f64),
                    format!("{:.1}%", 100.0 * missing as f64 / n as f64),
                ]
            })
            .collect(),
    );
    let speeders = match (log.speeder_median_secs, log.speeder_threshold_secs) {
        (Some(m), Some(t)) => {
            Some(serde_json::json!({"median": format!("{m:.0}"), "threshold": format!("{t:.0}")}))
        }
        _ => None,
    };
    val(serde_json::json!({
        "per_source": per_source, "rules": rules, "recodes": recodes,
        "nonresponse": nonresponse, "speeders": speeders,
    }))
}

fn weighting(r: &RunResult) -> Value {
    let spec = &r.spec.spec;
    let w = &r.weighted;
    let (wmin, wmax) = w
        .weights
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(a, b), x| (a.min(*x), b.max(*x)));
    let margins = Table::new(&[
        ("Variable", false),
        ("Level", false),
        ("Population", true),
        ("Base-weighted", true),
        ("Weighted", true),
    ])
    .with_rows(
        w.margins
            .iter()
            .map(|m| {
                vec![
                    m.variable.clone(),
                    segment_label(spec, &m.variable, &m.level),
                    format!("{:.0}", m.population),
                    format!("{:.1}", m.base_total),
                    format!("{:.1}", m.weighted_total),
                ]
            })
            .collect(),
    );
    let response = Table::new(&[
        ("Segment", false),
        ("Population", true),
        ("Respondents", true),
        ("Response rate", true),
    ])
    .with_rows(
        w.margins
            .iter()
            .map(|m| {
                let small = !r.disclosure.margin_shown_for(&w.margins, m);
                vec![
                    format!(
                        "{}: {}",
                        m.variable,
                        segment_label(spec, &m.variable, &m.level)
                    ),
                    format!("{:.0}", m.population),
                    if small && r.disclosure.policy.too_few(m.respondents) {
                        format!("< {}", r.disclosure.policy.min_cell)
                    } else if small {
                        "withheld".to_string()
                    } else {
                        m.respondents.to_string()
                    },
                    if small {
                        "–".to_string()
                    } else {
                        format!(
                            "{:.0}%",
                            100.0 * m.respondents as f64 / m.population.max(1.0)
                        )
                    },
                ]
            })
            .collect(),
    );
    let trim = w.trim.as_ref().map(|t| {
        format!(
            "Trimming: bounds [{:.3}, {:.3}]; {} weights were outside them; {} round(s){}; {} still outside.",
            t.lower.max(0.0),
            t.upper,
            t.n_trimmed,
            t.rounds,
            if t.settled { "" } else { " without settling (quality gate)" },
            t.n_outside_after
        )
    });
    val(serde_json::json!({
        "method": w.method,
        // The method as a verb phrase for prose ("post-stratified on subsector and size").
        "method_words": match w.method {
            "poststratify" => "post-stratified on",
            "rake" => "raked on",
            "calibrate" => "calibrated on",
            _ => "weighted on",
        },
        "variables": spec.weighting.variables.iter().map(|v| segment_var_label(spec, v)).collect::<Vec<_>>(),
        "strata": spec.design.strata.as_deref().map(|v| segment_var_label(spec, v)),
        "cluster": spec.design.cluster.as_deref().map(|v| segment_var_label(spec, v)),
        "passes": w.passes.map(|p| format!("{p} passes; largest relative margin error {:.1e}", w.max_rel_error)),
        "fpc": w.fpc,
        "min": format!("{wmin:.2}"),
        "max": format!("{wmax:.2}"),
        "ess": format!("{:.1}", crate::kernels::estimators::kish_ess(&w.weights)),
        "n": w.weights.len(),
        "note": w.note,
        "design_notes": w.design_notes,
        "margins": margins,
        "response": response,
        "trim": trim,
    }))
}

fn provenance(r: &RunResult) -> Value {
    let mut rows = vec![vec![
        "survey.toml".to_string(),
        crate::ingest::sha256_hex(r.spec.text.as_bytes()),
    ]];
    rows.push(vec![r.population.file.clone(), r.population.sha256.clone()]);
    for s in &r.sources {
        rows.push(vec![s.file.clone(), s.sha256.clone()]);
    }
    // One digest for the whole set of inputs: equal digests, equal inputs.
    let joined: String = rows
        .iter()
        .map(|p| format!("{}={}\n", p[0], p[1]))
        .collect();
    val(serde_json::json!({
        "inputs": Table::new(&[("Input", false), ("SHA-256", false)]).with_rows(rows),
        "digest": crate::ingest::sha256_hex(joined.as_bytes()),
    }))
}

/// The context both templates render: everything the report and the summary say.
pub fn context(r: &RunResult, charts: &[(String, String)]) -> Value {
    let spec = &r.spec.spec;
    // With --previous the report shows the earlier round's numbers too: the stricter label.
    let tlp = r
        .previous
        .as_ref()
        .and_then(|p| p.tlp)
        .map_or(spec.survey.tlp, |t| t.max(spec.survey.tlp));
    let svg = |s: &str| s.find("<svg").map_or(s, |i| &s[i..]).to_string();
    let mut by_stem: BTreeMap<String, Value> = BTreeMap::new();
    let mut distributions = Vec::new();
    let mut suppliers = Vec::new();
    for (stem, text) in charts {
        if stem.starts_with("supplier_dependency") {
            suppliers.push(Value::from(stem.clone()));
        }
        by_stem.insert(stem.clone(), Value::from_safe_string(svg(text)));
        if !matches!(
            stem.as_str(),
            "weights"
                | "maturity_heatmap"
                | "weighting_margins"
                | "trend"
                | "concentration_heatmap"
                | "risk_index_by_segment"
                | "risk_tiers_by_segment"
        ) && !stem.starts_with("supplier_dependency")
        {
            distributions.push(Value::from(stem.clone()));
        }
    }
    let tiers = spec
        .scoring
        .tiers
        .iter()
        .map(|t| match t.below {
            Some(b) => format!("{} below {b}", t.name),
            None => format!("{} otherwise", t.name),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sources = Table::new(&[
        ("Source", false),
        ("Layout", false),
        ("Encoding", false),
        ("Rows read", true),
        ("Responses kept", true),
    ])
    .with_rows(
        r.sources
            .iter()
            .map(|s| {
                let kept = r.records().iter().filter(|x| x.file() == s.file).count();
                vec![
                    s.label(),
                    format!("{:?}", s.layout).to_lowercase(),
                    s.encoding.clone().unwrap_or_else(|| "workbook".into()),
                    s.rows_read.to_string(),
                    kept.to_string(),
                ]
            })
            .collect(),
    );
    let ctx = serde_json::json!({
        "survey": {
            "title": spec.survey.title,
            "id": spec.survey.id,
            "round": spec.survey.round,
            "description": spec.survey.description,
            "tlp": tlp.label(),
            "tlp_colour": tlp.colour(),
        },
        "version": env!("CARGO_PKG_VERSION"),
        "ci_level": format!("{:.0}", spec.publication.ci_level * 100.0),
        "min_cell": r.disclosure.policy.min_cell,
        "gates": r.failed_gates,
        "findings": super::findings::key_findings(r),
        "counts": {
            "rows_read": r.cleaned.rows_read(),
            "sources": r.sources.len(),
            "kept": r.records().len(),
            "quarantined": r.cleaned.quarantine.len(),
            "population": format!("{:.0}", r.weighted.population_total),
            "method": r.weighted.method,
        },
        "design_notes": r.weighted.design_notes,
        "sources": sources,
        "headline": headline(r),
        "tiers": tiers,
        "legend": crate::disclose::LEGEND,
        "caution_legend": crate::disclose::CAUTION_LEGEND,
        "withheld": r.disclosure.sentences(),
    });
    let serde_json::Value::Object(fields) = ctx else {
        unreachable!("a json! object")
    };
    let mut ctx: BTreeMap<String, Value> = fields.into_iter().map(|(k, v)| (k, val(&v))).collect();
    ctx.insert("charts".into(), Value::from(by_stem));
    ctx.insert("distribution_charts".into(), Value::from(distributions));
    ctx.insert("supplier_charts".into(), Value::from(suppliers));
    ctx.insert("quality".into(), quality(r));
    ctx.insert("weighting".into(), weighting(r));
    ctx.insert("provenance".into(), provenance(r));
    ctx.insert(
        "concentration".into(),
        concentration(r).unwrap_or(Value::from(())),
    );
    ctx.insert(
        "comparisons".into(),
        comparisons(r).unwrap_or(Value::from(())),
    );
    ctx.insert("trend".into(), trend(r).unwrap_or(Value::from(())));
    ctx.insert("models".into(), models(r).unwrap_or(Value::from(())));
    ctx.insert(
        "risk_by_segment".into(),
        risk_by_segment(r).unwrap_or(Value::from(())),
    );
    Value::from(ctx)
}

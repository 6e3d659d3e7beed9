//! Key findings: the few sentences a reader takes from the round, written from the published
//! estimates and tests. Each sentence carries its number and interval as the tables show
//! them, and a difference is stated only where its test is significant after the
//! Benjamini–Hochberg adjustment (at 1 − the spec's confidence level); otherwise the sentence
//! says that no difference was detected.

use crate::estimate::{benjamini_hochberg, ComparisonRow, EstimateRow, ALL};
use crate::published::RunResult;
use crate::spec::{MetricKind, Spec, MATURITY_PREFIX, RISK_INDEX, RISK_TIER};

use super::{format_value, level_label, segment_label, trend_lines};

/// One key finding: its sentence, and what it is about (`headline`, `tiers`, `segments`,
/// `domains`, `suppliers`, `change`) so a template can group or style them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub topic: &'static str,
    pub text: String,
}

fn finding(topic: &'static str, text: String) -> Finding {
    Finding { topic, text }
}

/// "38.2 (95% CI 36.3–40.0)".
fn with_ci(spec: &Spec, e: &EstimateRow, level: f64) -> String {
    format!(
        "{} ({level:.0}% CI {}–{})",
        format_value(spec, e, e.estimate),
        format_value(spec, e, e.ci_low),
        format_value(spec, e, e.ci_high)
    )
}

/// "59.0 (95% CI 56.9–61.0; adjusted p < 0.001)".
fn with_ci_and(spec: &Spec, e: &EstimateRow, level: f64, more: &str) -> String {
    format!(
        "{} ({level:.0}% CI {}–{}; {more})",
        format_value(spec, e, e.estimate),
        format_value(spec, e, e.ci_low),
        format_value(spec, e, e.ci_high)
    )
}

/// "p < 0.001" or "p = 0.012".
fn p_words(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

fn overall<'a>(r: &'a RunResult, kind: MetricKind, variable: &str) -> Vec<&'a EstimateRow> {
    let spec = &r.spec.spec;
    let Some(m) = spec
        .metrics
        .iter()
        .find(|m| m.kind == kind && m.variable == variable)
    else {
        return Vec::new();
    };
    r.estimates
        .iter()
        .filter(|e| e.metric_id == m.id && e.segment_var == ALL)
        .collect()
}

/// The difference of a segment-vs-rest comparison with its confidence interval on the test's
/// degrees of freedom: (difference, low, high).
pub fn difference_ci(c: &ComparisonRow, level: f64) -> (f64, f64, f64) {
    let q = crate::kernels::dist::qt(1.0 - (1.0 - level) / 2.0, c.ddf)
        .or_else(|| crate::kernels::dist::qnorm(1.0 - (1.0 - level) / 2.0))
        .unwrap_or(f64::NAN);
    (c.estimate, c.estimate - q * c.se, c.estimate + q * c.se)
}

/// The segment-vs-rest comparisons of the risk index that are significant after the BH
/// adjustment, as computed by `estimate` (the adjusted p-value is in the comparisons table).
pub fn significant_segments(r: &RunResult) -> Vec<&ComparisonRow> {
    let spec = &r.spec.spec;
    let alpha = 1.0 - spec.publication.ci_level;
    let Some(m) = spec
        .metrics
        .iter()
        .find(|m| m.kind == MetricKind::Mean && m.variable == RISK_INDEX)
    else {
        return Vec::new();
    };
    r.comparisons
        .iter()
        .filter(|c| c.metric_id == m.id && c.test == "difference" && !c.suppressed)
        .filter(|c| c.flag.is_empty() && c.p_adjusted < alpha)
        .collect()
}

/// A headline metric tested against the previous round.
#[derive(Clone, Copy)]
struct Change<'a> {
    line: &'a super::TrendLine<'a>,
    previous: f64,
    difference: f64,
    p: f64,
    adjusted: f64,
}

/// The key findings of a run, in reading order.
pub fn key_findings(r: &RunResult) -> Vec<Finding> {
    let spec = &r.spec.spec;
    let level = spec.publication.ci_level;
    let pct = level * 100.0;
    let mut out = Vec::new();

    // The headline risk index.
    if let Some(e) = overall(r, MetricKind::Mean, RISK_INDEX).first() {
        out.push(finding(
            "headline",
            if e.suppressed {
                "The sector's mean supplier risk index is withheld this round.".to_string()
            } else {
                format!(
                    "The sector's mean supplier risk index is {} on a scale from 0 (most mature) to 100 (most exposed), from {}.",
                    with_ci(spec, e, pct),
                    if r.weighted.method == "none" {
                        format!("{} (unweighted: they describe the respondents)", crate::words::count(e.n as i64, "responding organization"))
                    } else {
                        format!(
                            "{} weighted to a population of {:.0}",
                            crate::words::count(e.n as i64, "responding organization"),
                            r.weighted.population_total
                        )
                    }
                )
            },
        ));
    }

    // Tier shares.
    let tiers = overall(r, MetricKind::Distribution, RISK_TIER);
    if !tiers.is_empty() {
        let parts: Vec<String> = tiers
            .iter()
            .map(|e| {
                if e.suppressed {
                    format!("{} withheld", level_label(spec, e))
                } else {
                    format!("{} {}", level_label(spec, e), with_ci(spec, e, pct))
                }
            })
            .collect();
        out.push(finding(
            "tiers",
            format!(
                "By risk tier, the weighted shares of organizations are {}.",
                parts.join("; ")
            ),
        ));
    }

    // Segments against the rest of the sector.
    if let Some(m) = spec
        .metrics
        .iter()
        .find(|m| m.kind == MetricKind::Mean && m.variable == RISK_INDEX)
    {
        let tested = r
            .comparisons
            .iter()
            .filter(|c| c.metric_id == m.id && c.test == "difference")
            .filter(|c| !c.suppressed && c.flag.is_empty())
            .count();
        let significant = significant_segments(r);
        if tested > 0 && significant.is_empty() {
            out.push(finding(
                "segments",
                format!(
                    "No segment's mean risk index differs detectably from the rest of the sector ({tested} segments tested against the rest, Benjamini–Hochberg adjusted at {:.0}%).",
                    (1.0 - level) * 100.0
                ),
            ));
        }
        for higher in [true, false] {
            let mut group: Vec<&ComparisonRow> = significant
                .iter()
                .copied()
                .filter(|c| (c.estimate > 0.0) == higher)
                .collect();
            if group.is_empty() {
                continue;
            }
            group.sort_by(|a, b| b.estimate.abs().total_cmp(&a.estimate.abs()));
            let parts: Vec<String> = group
                .iter()
                .map(|c| {
                    let (d, lo, hi) = difference_ci(c, level);
                    format!(
                        "{}: {} {:+.1} points ({pct:.0}% CI {:+.1} to {:+.1}; adjusted {})",
                        super::report::segment_var_label(spec, &c.segment_var),
                        segment_label(spec, &c.segment_var, &c.segment_value),
                        d,
                        lo,
                        hi,
                        p_words(c.p_adjusted)
                    )
                })
                .collect();
            out.push(finding(
                "segments",
                format!(
                    "{} than the rest of the sector (risk index difference from the rest, significant after Benjamini–Hochberg adjustment): {}.",
                    if higher { "More exposed" } else { "Less exposed" },
                    parts.join("; ")
                ),
            ));
        }
    }

    // GV.SC subcategories: weakest and strongest maturity.
    let mut domains: Vec<(&EstimateRow, &str)> = spec
        .metrics
        .iter()
        .filter(|m| m.kind == MetricKind::Mean && m.variable.starts_with(MATURITY_PREFIX))
        .filter_map(|m| {
            r.estimates
                .iter()
                .find(|e| e.metric_id == m.id && e.segment_var == ALL && !e.suppressed)
                .map(|e| (e, m.title.trim_start_matches("Maturity: ")))
        })
        .collect();
    if domains.len() >= 2 {
        domains.sort_by(|a, b| a.0.estimate.total_cmp(&b.0.estimate));
        let (lo, lo_name) = domains[0];
        let (hi, hi_name) = domains[domains.len() - 1];
        let apart = lo.ci_high < hi.ci_low;
        out.push(finding(
            "domains",
            format!(
                "Of the {} CSF 2.0 GV.SC subcategories, maturity (0 = not practised, 100 = fully practised) is lowest for {lo_name}, {}, and highest for {hi_name}, {}{}",
                domains.len(),
                with_ci(spec, lo, pct),
                with_ci(spec, hi, pct),
                if apart {
                    "; their intervals do not overlap."
                } else {
                    "; their intervals overlap, so this ordering is not established."
                }
            ),
        ));
    }

    // Single points of failure.
    if let Some(c) = &r.concentration {
        let spof: Vec<String> = c
            .suppliers
            .iter()
            .filter(|s| s.single_point_of_failure)
            .map(|s| {
                let share = c
                    .supplier_rows
                    .iter()
                    .find(|e| e.segment_var == ALL && e.level == s.label && !e.suppressed)
                    .map(|e| format!(" is named as critical by {} of organizations", with_ci(spec, e, pct)))
                    .unwrap_or_default();
                let noalt = s
                    .category
                    .as_deref()
                    .and_then(|cat| {
                        c.category_row(crate::concentration::NO_ALTERNATIVE_SHARE, cat, ALL, "")
                    })
                    .filter(|e| !e.suppressed)
                    .map(|e| format!(", and of the organizations whose most critical supplier is in its category, {} have no alternative within 30 days", with_ci(spec, e, pct)))
                    .unwrap_or_default();
                format!("{}{share}{noalt}", s.label)
            })
            .collect();
        out.push(finding(
            "suppliers",
            if spof.is_empty() {
                "No supplier meets the single-point-of-failure test this round.".to_string()
            } else {
                format!(
                    "Single point{} of failure: {}.",
                    if spof.len() == 1 { "" } else { "s" },
                    spof.join("; ")
                )
            },
        ));
    }

    // Changes since the previous round: two-sided tests (the panel SE when the rounds share
    // organizations, else for independent samples), BH-adjusted across the comparable
    // headline metrics.
    if let Some(prev) = &r.previous {
        let lines = trend_lines(r, prev);
        let tested: Vec<Change> = lines
            .iter()
            .filter_map(|l| {
                let pe = l.previous?.estimate?;
                let (d, s, _) = l.change()?;
                let pv = crate::kernels::dist::pnorm_two_sided(d / s).filter(|_| s > 0.0)?;
                Some(Change {
                    line: l,
                    previous: pe,
                    difference: d,
                    p: pv,
                    adjusted: f64::NAN,
                })
            })
            .collect();
        let adjusted = benjamini_hochberg(&tested.iter().map(|t| t.p).collect::<Vec<_>>());
        let alpha = 1.0 - level;
        // The changes significant after adjustment: the risk index first, then by p-value.
        let mut changed: Vec<Change> = tested
            .iter()
            .zip(adjusted)
            .map(|(t, q)| Change { adjusted: q, ..*t })
            .filter(|t| t.adjusted < alpha)
            .collect();
        let is_index = |t: &Change| {
            spec.metrics
                .iter()
                .any(|m| m.id == t.line.current.metric_id && m.variable == RISK_INDEX)
        };
        changed.sort_by(|a, b| is_index(b).cmp(&is_index(a)).then(a.p.total_cmp(&b.p)));
        const SHOWN: usize = 3;
        let parts: Vec<String> = changed
            .iter()
            .take(SHOWN)
            .map(|t| {
                let (e, pe, d, q) = (t.line.current, &t.previous, &t.difference, &t.adjusted);
                let title = spec
                    .metrics
                    .iter()
                    .find(|m| m.id == e.metric_id)
                    .map_or(e.metric_id.as_str(), |m| m.title.as_str());
                let lvl = level_label(spec, e);
                format!(
                    "{title}{} {} from {} to {}",
                    if lvl.is_empty() {
                        String::new()
                    } else {
                        format!(" ({lvl})")
                    },
                    if *d > 0.0 { "rose" } else { "fell" },
                    format_value(spec, e, *pe),
                    with_ci_and(spec, e, pct, &format!("adjusted {}", p_words(*q)))
                )
            })
            .collect();
        out.push(finding(
            "change",
            if changed.is_empty() {
                format!(
                    "No headline metric changed detectably since round {} ({} compared, Benjamini–Hochberg adjusted).",
                    prev.round,
                    tested.len()
                )
            } else {
                format!(
                    "Since round {}, {} of {} comparable headline metrics changed detectably (Benjamini–Hochberg adjusted){}: {}{}.",
                    prev.round,
                    changed.len(),
                    tested.len(),
                    if changed.len() > SHOWN { ", the clearest" } else { "" },
                    parts.join("; "),
                    if changed.len() > SHOWN { "; the rest are in the round-over-round table" } else { "" }
                )
            },
        ));
    }
    out
}

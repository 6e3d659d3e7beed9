//! Render: the charts (`charts/`), `summary.md` and the self-contained `report.html`, all drawn
//! from the one long estimates table. Suppressed estimates never appear; every text that comes
//! from the spec or the data is escaped.

mod charts;
mod workbook;

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::estimate::{EstimateRow, ALL};
use crate::published::{PublishedTables, RunResult};
use crate::spec::{Metric, MetricKind, Spec, RISK_INDEX, RISK_TIER};

pub use crate::previous::{PreviousMetric, PreviousRound};
pub use charts::{
    write_chart, Chart, ChartRow, Forest, Heatmap, HistogramPanel, Histograms, MarginRow,
    MarginsChart, StackedShares, TrendChart, TrendRow, WeightHistogram,
};

/// A headline metric of this round beside the earlier round's: the values on the 0–100 chart
/// scale, and the change with its SE for independent samples, or why they cannot be compared.
pub struct TrendLine<'a> {
    pub current: &'a EstimateRow,
    pub previous: Option<&'a PreviousMetric>,
    /// Multiplier onto the 0–100 scale (100 for shares and 0–1 maturities, 1 for the index).
    pub scale: f64,
    pub note: String,
}

/// This round's overall, published means and proportions on a 0–100 scale, each with the earlier
/// round's row of the same metric, statistic and level (if any). Concentration metrics (one row
/// per supplier category) are left to `supplyrisk compare`.
pub fn trend_lines<'a>(r: &'a RunResult, prev: &'a PreviousRound) -> Vec<TrendLine<'a>> {
    let spec = &r.spec.spec;
    r.estimates
        .iter()
        .filter(|e| e.segment_var == ALL && matches!(e.statistic, "mean" | "proportion"))
        .filter(|e| !is_concentration_metric(spec, &e.metric_id))
        .filter_map(|e| {
            let m = spec.metrics.iter().find(|m| m.id == e.metric_id)?;
            let scale = if e.statistic == "proportion"
                || m.variable.starts_with(crate::spec::MATURITY_PREFIX)
            {
                100.0
            } else if m.variable == RISK_INDEX {
                1.0
            } else {
                return None;
            };
            let same = |p: &&PreviousMetric| {
                p.metric_id == e.metric_id
                    && p.statistic == e.statistic
                    && p.level == e.level
                    && p.segment_var == ALL
            };
            let previous = prev.metrics.iter().find(same);
            let note = match previous {
                None => format!("not in round {}", prev.round),
                Some(p) if p.metric_version != e.metric_version => format!(
                    "not comparable: definition version {} → {}",
                    p.metric_version, e.metric_version
                ),
                Some(p) if p.estimate.is_none() => format!("suppressed in round {}", prev.round),
                Some(_) if e.suppressed => "suppressed in this round".to_string(),
                Some(_) => String::new(),
            };
            Some(TrendLine {
                current: e,
                previous,
                scale,
                note,
            })
        })
        .collect()
}
pub use workbook::{write_workbook, Sheet};

pub mod compare;

/// `tables.xlsx` at the top of the output folder: the published tables and the metrics.
pub fn write_tables_workbook(r: &RunResult, t: &PublishedTables) -> Result<()> {
    let mut sheets = vec![
        Sheet {
            name: "estimates",
            table: &t.estimates,
            about: "every metric for every segment: estimates, SEs, CIs, n, n_eff, design effects, flags",
        },
        Sheet {
            name: "comparisons",
            table: &t.comparisons,
            about: "each segment against the rest of the sector, and Rao–Scott tests of tier × segment",
        },
        Sheet {
            name: "distributions",
            table: &t.distributions,
            about: "weighted histograms of the risk index (and other numeric variables) per segment",
        },
        Sheet {
            name: "weights",
            table: &t.weight_summary,
            about: "the final weights per segment: Kish effective size, spread, trimming",
        },
        Sheet {
            name: "metrics",
            table: &t.metrics,
            about: "the clearinghouse export: standardized metrics with versions and TLP",
        },
    ];
    if let Some((by_category, dependency)) = &t.concentration {
        sheets.push(Sheet {
            name: "concentration",
            table: by_category,
            about: "per supplier category and segment: share depending on it, HHI, effective number of suppliers, no-alternative share",
        });
        sheets.push(Sheet {
            name: "supplier_dependency",
            table: dependency,
            about: "share of organizations naming each published supplier as critical, per segment (TLP in the tlp column)",
        });
    }
    write_workbook(
        &r.out_dir.join("tables.xlsx"),
        &r.spec.spec,
        &sheets,
        &r.disclosure.sentences(),
        &r.failed_gates,
    )
}

/// Escape text for HTML and SVG.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Human label of a segment value (option labels joined for crosses).
pub fn segment_label(spec: &Spec, var: &str, value: &str) -> String {
    if var == ALL {
        return "All organizations".to_string();
    }
    var.split(':')
        .zip(value.split(':'))
        .map(|(v, code)| {
            spec.question(v)
                .and_then(|q| spec.options(q).iter().find(|o| o.code.0 == code))
                .map_or_else(|| code.to_string(), |o| o.label.clone())
        })
        .collect::<Vec<_>>()
        .join(" × ")
}

/// Human label of an estimate's level: the option label of a proportion's code(s).
pub fn level_label(spec: &Spec, row: &EstimateRow) -> String {
    // Concentration metrics: the level is a supplier category.
    if let Some(c) = spec.concentration.as_ref().filter(|_| {
        spec.metrics
            .iter()
            .any(|m| m.id == row.metric_id && m.kind == MetricKind::Concentration)
    }) {
        return c
            .categories
            .as_deref()
            .and_then(|id| spec.question(id))
            .and_then(|q| spec.options(q).iter().find(|o| o.code.0 == row.level))
            .map_or_else(|| row.level.clone(), |o| o.label.clone());
    }
    if row.statistic != "proportion" {
        return row.level.clone();
    }
    let Some(q) = spec
        .metrics
        .iter()
        .find(|m| m.id == row.metric_id)
        .and_then(|m| spec.question(&m.variable))
    else {
        return row.level.clone();
    };
    row.level
        .split('|')
        .map(|code| {
            spec.options(q)
                .iter()
                .find(|o| o.code.0 == code)
                .map_or(code, |o| o.label.as_str())
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A readable estimate: percentages for proportions, three decimals for ratios, one decimal
/// otherwise (two for 0–1 scales).
pub fn format_value(row: &EstimateRow, x: f64) -> String {
    if !x.is_finite() {
        return "–".to_string();
    }
    if row.statistic == "proportion" {
        format!("{:.1}%", x * 100.0)
    } else if row.statistic == "ratio" || row.statistic == "hhi" {
        // Ratios of counts (critical suppliers per supplier) are small: three digits.
        format!("{x:.3}")
    } else if row.metric_id.contains(".DOM.") || (x.abs() <= 1.0 && row.statistic == "mean") {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

/// The concentration charts: the most depended-on suppliers of each category with CIs
/// (`supplier_dependency`) and the HHI per category × segment (`concentration_heatmap`).
fn concentration_charts(
    r: &RunResult,
    c: &crate::concentration::Analysis,
    seg_var: Option<&str>,
    dir: &std::path::Path,
) -> Result<Vec<String>> {
    use crate::concentration::HHI;
    let spec = &r.spec.spec;
    let top = spec.concentration.as_ref().map_or(5, |x| x.chart_top);
    let mut written = Vec::new();
    let mut rows = Vec::new();
    let mut high: f64 = 0.0;
    for cat in &c.categories {
        let shown: Vec<(&crate::concentration::Supplier, &EstimateRow)> = c
            .suppliers
            .iter()
            .filter(|s| {
                s.published && s.category.as_deref() == Some(&cat.code) && s.rank <= Some(top)
            })
            .filter_map(|s| {
                c.supplier_rows
                    .iter()
                    .find(|e| e.segment_var == ALL && e.level == s.label)
                    .map(|e| (s, e))
            })
            .collect();
        if shown.iter().all(|(_, e)| e.suppressed) {
            continue;
        }
        let mut shown = shown;
        shown.sort_by_key(|(s, _)| s.rank);
        let hhi = c
            .category_row(HHI, &cat.code, ALL, "")
            .filter(|e| !e.suppressed)
            .map(|e| {
                format!(
                    " — HHI {:.2}, about {:.1} effective suppliers",
                    e.estimate,
                    1.0 / e.estimate
                )
            })
            .unwrap_or_default();
        rows.push(ChartRow {
            label: format!("{}{hhi}", cat.label),
            values: Vec::new(),
            right: String::new(),
            suppressed: false,
            heading: true,
        });
        for (s, e) in shown {
            if !e.suppressed {
                high = high.max(e.ci_high);
            }
            rows.push(ChartRow {
                // Under the category heading the rank says enough when names are not published.
                label: if c.publish_names {
                    s.label.clone()
                } else {
                    format!("#{}", s.rank.unwrap_or(0))
                },
                values: vec![e.estimate * 100.0, e.ci_low * 100.0, e.ci_high * 100.0],
                right: if s.single_point_of_failure {
                    "SPOF".into()
                } else {
                    String::new()
                },
                suppressed: e.suppressed,
                heading: false,
            });
        }
    }
    let footer_tlp = format!(
        "{} · round {} · {} · supplyrisk {}",
        spec.survey.title,
        spec.survey.round,
        c.tlp.label(),
        env!("CARGO_PKG_VERSION")
    );
    if !rows.is_empty() {
        let hi = ((high * 100.0 / 20.0).ceil() * 20.0).clamp(20.0, 100.0);
        let chart = Forest {
            title: "Critical suppliers the sector depends on together".into(),
            subtitle: format!(
                "Weighted share of organizations naming each supplier among their most critical, with {:.0}% CIs; top {top} per category; SPOF: single point of failure{}",
                spec.publication.ci_level * 100.0,
                if c.publish_names { "" } else { "; #k: rank in the category (names not published)" }
            ),
            footer: footer_tlp,
            axis_label: "% of organizations naming the supplier".into(),
            range: (0.0, hi),
            reference: None,
            rows,
        };
        write_chart(&chart, dir, "supplier_dependency")?;
        written.push("supplier_dependency".to_string());
    }
    if let Some(var) = seg_var {
        let mut cols: Vec<(String, String)> = vec![(ALL.to_string(), String::new())];
        for e in c.category_rows.iter().filter(|e| e.segment_var == var) {
            let key = (e.segment_var.clone(), e.segment_value.clone());
            if !cols.contains(&key) {
                cols.push(key);
            }
        }
        let cats: Vec<&crate::concentration::Category> = c
            .categories
            .iter()
            .filter(|k| {
                c.category_row(HHI, &k.code, ALL, "")
                    .is_some_and(|e| !e.suppressed)
            })
            .collect();
        if !cats.is_empty() {
            let chart = Heatmap {
                title: "How concentrated each critical supplier category is".into(),
                subtitle: format!(
                    "Herfindahl–Hirschman index of dependence within the category (1 = every dependent names the same supplier), all organizations and by {var}"
                ),
                footer: footer(spec),
                row_labels: cats.iter().map(|k| k.label.clone()).collect(),
                col_labels: cols.iter().map(|(v, x)| segment_label(spec, v, x)).collect(),
                cells: cats
                    .iter()
                    .map(|k| {
                        cols.iter()
                            .map(|(v, x)| {
                                c.category_row(HHI, &k.code, v, x)
                                    .filter(|e| !e.suppressed)
                                    .map(|e| e.estimate)
                            })
                            .collect()
                    })
                    .collect(),
                scale_label: "HHI".into(),
            };
            write_chart(&chart, dir, "concentration_heatmap")?;
            written.push("concentration_heatmap".to_string());
        }
    }
    Ok(written)
}

/// "12.3% (9.8% – 15.1%)", or "withheld" with its footnote mark.
fn estimate_with_ci(e: &EstimateRow) -> String {
    if e.suppressed {
        crate::disclose::withheld_cell(&e.flag)
    } else {
        format!(
            "{} ({} – {})",
            format_value(e, e.estimate),
            format_value(e, e.ci_low),
            format_value(e, e.ci_high)
        )
    }
}

/// One row per supplier category (all organizations): dependence, HHI, effective suppliers,
/// no-alternative share, dependents — for the report and the summary.
fn concentration_rows(min_cell: usize, c: &crate::concentration::Analysis) -> Vec<Vec<String>> {
    use crate::concentration::{DEPENDENCY_SHARE, EFFECTIVE_SUPPLIERS, HHI, NO_ALTERNATIVE_SHARE};
    c.categories
        .iter()
        .map(|cat| {
            let get = |stat: &str| c.category_row(stat, &cat.code, ALL, "");
            let hhi = get(HHI).map(estimate_with_ci).unwrap_or_default();
            let eff = get(EFFECTIVE_SUPPLIERS)
                .map(|e| {
                    if e.suppressed {
                        crate::disclose::withheld_cell(&e.flag)
                    } else {
                        format!("{:.1}", e.estimate)
                    }
                })
                .unwrap_or_default();
            vec![
                cat.label.clone(),
                get(DEPENDENCY_SHARE)
                    .map(estimate_with_ci)
                    .unwrap_or_default(),
                hhi,
                eff,
                get(NO_ALTERNATIVE_SHARE)
                    .map(estimate_with_ci)
                    .unwrap_or_default(),
                get(HHI)
                    .filter(|e| !e.suppressed)
                    .map(|e| e.n.to_string())
                    .unwrap_or_else(|| format!("< {min_cell}")),
            ]
        })
        .collect()
}

/// The report's "Concentration" section.
fn concentration_section(
    r: &RunResult,
    c: &crate::concentration::Analysis,
    charts: &[(String, String)],
) -> String {
    use crate::concentration::NO_ALTERNATIVE_SHARE;
    let spec = &r.spec.spec;
    let level = spec.publication.ci_level * 100.0;
    let min_cell = r.disclosure.policy.min_cell;
    let cs = spec.concentration.as_ref();
    let mut h = String::from("<h2>Concentration</h2>");
    // TLP 2.0 labels parts of a document: supplier names carry their own, stricter label.
    if c.publish_names && c.tlp != spec.survey.tlp {
        let _ = write!(
            h,
            "<p><strong>{}</strong> — this section names suppliers (the rest of the report is {}).</p>",
            c.tlp.label(),
            spec.survey.tlp.label()
        );
    }
    let distinct = c.matches.len();
    let unresolved: Vec<&crate::concentration::Match> = c
        .matches
        .iter()
        .filter(|m| m.resolution.canonical.is_none())
        .collect();
    let published = c.suppliers.iter().filter(|s| s.published).count();
    let resolved_suppliers = c.suppliers.iter().filter(|s| s.category.is_some()).count();
    let _ = write!(
        h,
        "<p>{} of {} organizations named at least one critical supplier. Of their {} distinct spellings, {} \
         resolved to {} suppliers of the alias table; {} spellings ({} mentions) matched no supplier \
         and are left out of the figures below until the alias table covers them (every decision \
         is in <code>tables/supplier_matches.csv</code>, internal; <code>supplyrisk suppliers suggest</code> \
         proposes additions). A supplier is shown only if at least {min_cell} organizations name it \
         ({published} suppliers); {}. Figures marked suppressed rest on too few organizations or fail \
         the NCHS standard for proportions.</p>",
        c.answered,
        r.records().len(),
        distinct,
        distinct - unresolved.len(),
        resolved_suppliers,
        unresolved.len(),
        unresolved.iter().map(|m| m.mentions).sum::<usize>(),
        if c.publish_names {
            format!(
                "names are published as the spec allows, and outputs naming suppliers are {}",
                c.tlp.label()
            )
        } else {
            "names are not published: suppliers appear by rank within their category (#1 = most depended on)"
                .to_string()
        },
    );
    let spof: Vec<&crate::concentration::Supplier> = c
        .suppliers
        .iter()
        .filter(|s| s.single_point_of_failure)
        .collect();
    if let Some(cs) = cs {
        let _ = write!(
            h,
            "<h3>Single points of failure</h3><p>A supplier named by at least {:.0}% of the weighted \
             sector, in a category where more than {:.0}% of the organizations whose most critical \
             supplier is in that category report no alternative within 30 days.</p>",
            cs.single_point_share * 100.0,
            cs.single_point_no_alternative * 100.0
        );
    }
    if spof.is_empty() {
        h.push_str("<p>None this round.</p>");
    } else {
        let rows: Vec<Vec<String>> = spof
            .iter()
            .map(|s| {
                let cat = s.category.clone().unwrap_or_default();
                let share = c
                    .supplier_rows
                    .iter()
                    .find(|e| e.segment_var == ALL && e.level == s.label)
                    .map(estimate_with_ci)
                    .unwrap_or_default();
                let noalt = c
                    .category_row(NO_ALTERNATIVE_SHARE, &cat, ALL, "")
                    .map(estimate_with_ci)
                    .unwrap_or_default();
                vec![s.label.clone(), c.category_label(&cat), share, noalt]
            })
            .collect();
        h.push_str(&table_html(
            &[
                "Supplier",
                "Category",
                &format!("Organizations naming it ({level:.0}% CI)"),
                "No alternative in the category",
            ],
            &rows,
        ));
    }
    h.push_str(
        "<h3>By category</h3><p>Dependence: the weighted share of organizations naming a supplier of the \
         category among their most critical. HHI: the Herfindahl–Hirschman index of the weighted numbers \
         of organizations naming each supplier of the category (1 = all name the same one); effective \
         suppliers = 1 / HHI. No alternative: among organizations whose first-named (most critical) \
         supplier is in the category.</p>",
    );
    let rows = concentration_rows(r.disclosure.policy.min_cell, c);
    h.push_str(&table_html(
        &[
            "Category",
            &format!("Depend on it ({level:.0}% CI)"),
            &format!("HHI ({level:.0}% CI)"),
            "Effective suppliers",
            &format!("No alternative ({level:.0}% CI)"),
            "n dependents",
        ],
        &rows,
    ));
    for stem in ["supplier_dependency", "concentration_heatmap"] {
        if let Some((_, svg)) = charts.iter().find(|(s, _)| s == stem) {
            let _ = write!(
                h,
                "<figure id=\"{stem}\">{}</figure>",
                strip_xml_header(svg)
            );
        }
    }
    h
}

/// Concentration metrics have their own sections (the headline tables would list every category).
fn is_concentration_metric(spec: &Spec, id: &str) -> bool {
    spec.metrics
        .iter()
        .any(|m| m.id == id && m.kind == MetricKind::Concentration)
}

fn footer(spec: &Spec) -> String {
    format!(
        "{} · round {} · {} · supplyrisk {}",
        spec.survey.title,
        spec.survey.round,
        spec.survey.tlp.label(),
        env!("CARGO_PKG_VERSION")
    )
}

fn metric_by<'a>(spec: &'a Spec, var: &str, kind: MetricKind) -> Option<&'a Metric> {
    spec.metrics
        .iter()
        .find(|m| m.variable == var && m.kind == kind)
}

/// Chart rows: overall, then a heading and one row per level for each segment variable.
fn chart_rows(
    spec: &Spec,
    min_cell: usize,
    rows: &[&EstimateRow],
    values: impl Fn(&[&EstimateRow]) -> Vec<f64>,
) -> Vec<ChartRow> {
    let mut out = Vec::new();
    let mut vars = vec![ALL.to_string()];
    vars.extend(spec.segments.variables.iter().cloned());
    for var in vars {
        let mut seg_values: Vec<&str> = Vec::new();
        for r in rows.iter().filter(|r| r.segment_var == var) {
            if !seg_values.contains(&r.segment_value.as_str()) {
                seg_values.push(&r.segment_value);
            }
        }
        if var != ALL && !seg_values.is_empty() {
            let title = spec
                .question(&var)
                .map_or(var.clone(), |q| q.id.replace('_', " "));
            out.push(ChartRow {
                label: format!("By {title}"),
                values: Vec::new(),
                right: String::new(),
                suppressed: false,
                heading: true,
            });
        }
        for value in seg_values {
            let group: Vec<&EstimateRow> = rows
                .iter()
                .filter(|r| r.segment_var == var && r.segment_value == value)
                .copied()
                .collect();
            // Only a count some published row shows is printed.
            let n = group.iter().filter(|r| !r.suppressed).map(|r| r.n).max();
            // A segment is hidden when it is too small (or protects a small one), or when none
            // of its estimates is publishable; single unreliable estimates are left to the chart.
            let disclosure = |r: &&EstimateRow| {
                r.suppressed
                    && (r.flag.contains(crate::disclose::BELOW_MIN_CELL)
                        || r.flag.contains(crate::disclose::SECONDARY))
            };
            let suppressed = group.iter().any(disclosure) || group.iter().all(|r| r.suppressed);
            let unreliable = group.iter().any(|r| r.suppressed);
            out.push(ChartRow {
                label: segment_label(spec, &var, value),
                values: if suppressed {
                    Vec::new()
                } else {
                    values(&group)
                },
                // Why a row is suppressed: too few respondents to show at all, hidden so that a
                // smaller group cannot be worked out, or an estimate too unreliable to publish
                // (NCHS standard) — the respondent count shows only where a table shows it.
                right: if group
                    .iter()
                    .any(|r| r.flag.contains(crate::disclose::BELOW_MIN_CELL))
                {
                    format!("n < {min_cell}")
                } else if group
                    .iter()
                    .any(|r| r.suppressed && r.flag.contains(crate::disclose::SECONDARY))
                {
                    "withheld †".to_string()
                } else {
                    match n {
                        Some(n) if suppressed => format!("n = {n}, unreliable"),
                        Some(n) if unreliable => format!("n = {n} †"),
                        Some(n) => format!("n = {n}"),
                        None => "unreliable".to_string(),
                    }
                },
                suppressed,
                heading: false,
            });
        }
    }
    out
}

/// The charts this run can draw, as (stem, SVG text) after writing SVG and PNG.
fn write_charts(r: &RunResult) -> Result<Vec<(String, String)>> {
    let spec = &r.spec.spec;
    let dir = r.out_dir.join("charts");
    let mut written = Vec::new();
    if let Some(m) = metric_by(spec, RISK_TIER, MetricKind::Distribution) {
        let rows: Vec<&EstimateRow> = r.estimates.iter().filter(|e| e.metric_id == m.id).collect();
        let tiers: Vec<String> = spec.scoring.tiers.iter().map(|t| t.name.clone()).collect();
        let chart = StackedShares {
            title: "Supplier risk tiers by segment".into(),
            subtitle: format!(
                "{} ({}), weighted to the population; † grey part: tiers too uncertain to publish (NCHS)",
                m.title, m.id
            ),
            footer: footer(spec),
            series: tiers.clone(),
            rows: chart_rows(spec, r.disclosure.policy.min_cell, &rows, |group| {
                // A tier too uncertain to publish (NCHS) is NaN: drawn in the grey remainder.
                tiers
                    .iter()
                    .map(|t| {
                        group
                            .iter()
                            .find(|e| &e.level == t)
                            .map_or(0.0, |e| if e.suppressed { f64::NAN } else { e.estimate })
                    })
                    .collect()
            }),
        };
        write_chart(&chart, &dir, "risk_tiers_by_segment")?;
        written.push("risk_tiers_by_segment".to_string());
    }
    if let Some(m) = metric_by(spec, RISK_INDEX, MetricKind::Mean) {
        let rows: Vec<&EstimateRow> = r.estimates.iter().filter(|e| e.metric_id == m.id).collect();
        let overall = rows
            .iter()
            .find(|e| e.segment_var == ALL)
            .map(|e| e.estimate);
        let chart = Forest {
            title: "Mean supplier risk index by segment".into(),
            subtitle: format!(
                "{} ({}) with {:.0}% confidence intervals; dashed line: all organizations",
                m.title,
                m.id,
                spec.publication.ci_level * 100.0
            ),
            footer: footer(spec),
            axis_label: "Risk index (0 = most mature, 100 = most exposed)".into(),
            range: (0.0, 100.0),
            reference: overall,
            rows: chart_rows(spec, r.disclosure.policy.min_cell, &rows, |group| {
                group
                    .first()
                    .map_or_else(Vec::new, |e| vec![e.estimate, e.ci_low, e.ci_high])
            }),
        };
        write_chart(&chart, &dir, "risk_index_by_segment")?;
        written.push("risk_index_by_segment".to_string());
    }
    // Risk-index distribution per segment of the first segment variable (small multiples).
    let seg_var = spec.segments.variables.first().cloned();
    let min_cell = r.disclosure.policy.min_cell;
    if let (Some(d), Some(var)) = (
        spec.distributions.iter().find(|d| d.variable == RISK_INDEX),
        seg_var.as_ref(),
    ) {
        let rows = &r.distributions;
        let mut panels: Vec<HistogramPanel> = Vec::new();
        let mut order: Vec<(String, String)> = Vec::new();
        for x in rows.iter().filter(|x| x.variable == d.variable) {
            if (x.segment_var == ALL || &x.segment_var == var)
                && !order.contains(&(x.segment_var.clone(), x.segment_value.clone()))
            {
                order.push((x.segment_var.clone(), x.segment_value.clone()));
            }
        }
        for (sv, val) in &order {
            let bins: Vec<&crate::estimate::DistributionRow> = rows
                .iter()
                .filter(|x| {
                    x.variable == d.variable && &x.segment_var == sv && &x.segment_value == val
                })
                .collect();
            // The segment's count shows only where one of its bins is published.
            let visible = bins.iter().find(|b| !b.suppressed);
            panels.push(HistogramPanel {
                label: segment_label(spec, sv, val),
                shares: bins
                    .iter()
                    .map(|b| (!b.suppressed).then_some(b.share))
                    .collect(),
                n: visible.map_or(0, |b| b.n),
                suppressed: visible.is_none(),
            });
        }
        let chart = Histograms {
            title: "Distribution of the supplier risk index".into(),
            subtitle: format!(
                "Weighted share of organizations per band of the index, by {}; grey stubs: bands withheld (1–{} organizations, or to protect such a band)",
                var,
                min_cell.saturating_sub(1)
            ),
            footer: footer(spec),
            edges: d.bins.clone(),
            axis_label: "Risk index (0 = most mature, 100 = most exposed)".into(),
            panels,
        };
        write_chart(&chart, &dir, "risk_index_distribution")?;
        written.push("risk_index_distribution".to_string());
    }
    // Domain × segment heatmap of mean maturity.
    let domain_metrics: Vec<(&crate::spec::Metric, String)> = spec
        .domains
        .iter()
        .filter_map(|dom| {
            let var = format!("{}{}", crate::spec::MATURITY_PREFIX, dom.id);
            spec.metrics
                .iter()
                .find(|m| m.kind == MetricKind::Mean && m.variable == var)
                .map(|m| (m, dom.id.clone()))
        })
        .collect();
    if let (false, Some(var)) = (domain_metrics.is_empty(), seg_var.as_ref()) {
        let mut cols: Vec<String> = Vec::new();
        for e in r.estimates.iter().filter(|e| &e.segment_var == var) {
            if !cols.contains(&e.segment_value) {
                cols.push(e.segment_value.clone());
            }
        }
        let cells = domain_metrics
            .iter()
            .map(|(m, _)| {
                cols.iter()
                    .map(|c| {
                        r.estimates
                            .iter()
                            .find(|e| {
                                e.metric_id == m.id
                                    && &e.segment_var == var
                                    && &e.segment_value == c
                            })
                            .filter(|e| !e.suppressed)
                            .map(|e| e.estimate)
                    })
                    .collect()
            })
            .collect();
        let chart = Heatmap {
            title: "Supply-chain risk management maturity by CSF 2.0 GV.SC subcategory".into(),
            subtitle: format!("Weighted mean maturity (0 = none, 1 = fully practised) by {var}"),
            footer: footer(spec),
            row_labels: domain_metrics
                .iter()
                .map(|(m, id)| {
                    // The metric's short title ("Maturity: GV.SC-01 programme established").
                    let t = m.title.strip_prefix("Maturity: ").unwrap_or(&m.title);
                    if t.contains(id.as_str()) {
                        t.to_string()
                    } else {
                        format!("{id} {t}")
                    }
                })
                .collect(),
            col_labels: cols.iter().map(|c| segment_label(spec, var, c)).collect(),
            cells,
            scale_label: "mean maturity".into(),
        };
        write_chart(&chart, &dir, "maturity_heatmap")?;
        written.push("maturity_heatmap".to_string());
    }
    if let Some(c) = &r.concentration {
        written.extend(concentration_charts(r, c, seg_var.as_deref(), &dir)?);
    }
    let w = &r.weighted;
    let chart = WeightHistogram {
        title: "Weight distribution".into(),
        subtitle: format!(
            "{} final weights, method {}; Kish effective sample size {:.1}{}",
            w.weights.len(),
            w.method,
            crate::kernels::estimators::kish_ess(&w.weights),
            w.trim
                .as_ref()
                .map(|t| format!("; dashed: trimming bounds ({} trimmed)", t.n_trimmed))
                .unwrap_or_default()
        ),
        footer: footer(spec),
        weights: w.weights.clone(),
        bounds: w.trim.as_ref().map(|t| (t.lower, t.upper)),
    };
    write_chart(&chart, &dir, "weights")?;
    written.push("weights".to_string());
    // Round over round.
    if let Some(prev) = &r.previous {
        let lines = trend_lines(r, prev);
        let scaled = |v: Option<f64>, s: f64| v.map_or(f64::NAN, |x| x * s);
        let rows: Vec<TrendRow> = lines
            .iter()
            .map(|l| {
                let e = l.current;
                let comparable = l.note.is_empty();
                TrendRow {
                    label: {
                        let title = spec
                            .metrics
                            .iter()
                            .find(|m| m.id == e.metric_id)
                            .map_or("", |m| m.title.as_str());
                        // "Tier 1 – Partial: …" → "Tier 1"; long labels cut at a word.
                        let level = level_label(spec, e);
                        let level = level.split(" – ").next().unwrap_or_default();
                        let full = if level.is_empty() {
                            title.to_string()
                        } else {
                            format!("{title}: {level}")
                        };
                        shorten(&full, 44)
                    },
                    previous: l.previous.filter(|_| comparable).map(|p| {
                        [
                            scaled(p.estimate, l.scale),
                            scaled(p.ci_low, l.scale),
                            scaled(p.ci_high, l.scale),
                        ]
                    }),
                    current: (!e.suppressed).then_some({
                        [
                            e.estimate * l.scale,
                            e.ci_low * l.scale,
                            e.ci_high * l.scale,
                        ]
                    }),
                    note: l.note.clone(),
                }
            })
            .collect();
        if !rows.is_empty() {
            let chart = TrendChart {
                title: format!("Round {} and round {}", prev.round, spec.survey.round),
                subtitle: format!(
                    "Headline metrics, all organizations, with {:.0}% confidence intervals",
                    spec.publication.ci_level * 100.0
                ),
                footer: footer(spec),
                previous_label: format!("round {}", prev.round),
                current_label: format!("round {}", spec.survey.round),
                rows,
            };
            write_chart(&chart, &dir, "trend")?;
            written.push("trend".to_string());
        }
    }
    // Target vs achieved margins of the weighting variables.
    if !w.margins.is_empty() {
        let mut rows = Vec::new();
        let mut vars: Vec<&str> = Vec::new();
        for m in &w.margins {
            if !vars.contains(&m.variable.as_str()) {
                vars.push(&m.variable);
            }
        }
        // A level's respondent share is its count (over a known total): shown when published.
        let shown = |m: &crate::weight::MarginCheck| r.disclosure.margin_shown_for(&w.margins, m);
        for var in vars {
            let levels: Vec<&crate::weight::MarginCheck> =
                w.margins.iter().filter(|m| m.variable == var).collect();
            let total = |f: &dyn Fn(&crate::weight::MarginCheck) -> f64| {
                levels
                    .iter()
                    .map(|m| f(m))
                    .sum::<f64>()
                    .max(f64::MIN_POSITIVE)
            };
            let (pop, resp, base, fin) = (
                total(&|m| m.population),
                total(&|m| m.respondents as f64),
                total(&|m| m.base_total),
                total(&|m| m.weighted_total),
            );
            rows.push(MarginRow {
                label: format!("By {var}"),
                heading: true,
                target: 0.0,
                respondents: None,
                base: 0.0,
                weighted: 0.0,
            });
            for m in levels {
                rows.push(MarginRow {
                    label: segment_label(spec, var, &m.level),
                    heading: false,
                    target: m.population / pop,
                    respondents: shown(m).then(|| m.respondents as f64 / resp),
                    base: m.base_total / base,
                    weighted: m.weighted_total / fin,
                });
            }
        }
        let chart = MarginsChart {
            title: "Weighting: population targets and achieved shares".into(),
            subtitle: format!(
                "Share of each level by source; method {} — final weights should sit on the targets for calibrated variables",
                w.method
            ),
            footer: footer(spec),
            rows,
        };
        write_chart(&chart, &dir, "weighting_margins")?;
        written.push("weighting_margins".to_string());
    }
    let mut out = Vec::new();
    for stem in written {
        let p = dir.join(format!("{stem}.svg"));
        let svg = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        out.push((stem, svg));
    }
    Ok(out)
}

/// Markdown table of the overall value of every metric, ready to paste into a draft.
/// `s` cut to at most `max` characters at a word boundary, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max - 1).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{}…", cut.trim_end_matches([',', ':', ';']))
}

/// A p-value as a reader expects it: three decimals, "< 0.001" below that.
fn format_p(p: f64) -> String {
    if !p.is_finite() {
        "–".into()
    } else if p < 0.001 {
        "<\u{a0}0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// Text from the spec or the data, safe in a Markdown table: HTML escaped (Markdown passes raw
/// HTML through) and `|` escaped.
/// Text for summary.md, which is meant to be pasted: plain Markdown, escaping only what Markdown
/// would read as syntax — emphasis, code, links, table pipes, backslashes, and a `<` or `&` that
/// would start raw HTML or an entity (so "Pharma, labs & blood" and "<500 staff" stay as they
/// are, and a `<script>` in a label is shown, not run).
pub fn md(t: &str) -> String {
    let chars: Vec<char> = t.chars().collect();
    let mut out = String::with_capacity(t.len());
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let escape = match c {
            '\\' | '`' | '*' | '[' | ']' | '|' => true,
            // Intraword underscores (public_health) are not emphasis.
            '_' => {
                !(prev.is_some_and(char::is_alphanumeric)
                    && next.is_some_and(char::is_alphanumeric))
            }
            '<' => next.is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')),
            '&' => next.is_some_and(|n| n.is_ascii_alphanumeric() || n == '#'),
            '\n' | '\r' => {
                out.push(' ');
                continue;
            }
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The failed quality gates as a banner: readers of a failed run must not take it as a normal
/// one.
fn gate_banner_md(r: &RunResult) -> String {
    if r.failed_gates.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "> **This run failed its quality gates; do not publish or forward these results.**\n",
    );
    for g in &r.failed_gates {
        let _ = writeln!(s, "> - {}", md(g));
    }
    s.push('\n');
    s
}

fn summary_md(r: &RunResult) -> String {
    let spec = &r.spec.spec;
    let level = spec.publication.ci_level * 100.0;
    let mut s = String::new();
    let _ = writeln!(s, "# {} — summary\n", md(&spec.survey.title));
    s.push_str(&gate_banner_md(r));
    let _ = writeln!(
        s,
        "**{}** · round {} · survey `{}`\n",
        spec.survey.tlp.label(),
        spec.survey.round,
        spec.survey.id
    );
    let _ = writeln!(
        s,
        "{} organizations responded usably ({} rows read, {} quarantined); estimates are weighted to a population of {:.0} ({}).\n",
        r.records().len(),
        r.cleaned.rows_read(),
        r.cleaned.quarantine.len(),
        r.weighted.population_total,
        r.weighted.method
    );
    for n in &r.weighted.design_notes {
        let _ = writeln!(s, "**Design warning:** {}\n", md(n));
    }
    let _ = writeln!(s, "## Headline metrics (all organizations)\n");
    let _ = writeln!(s, "| Metric | Id | Level | Estimate | {level:.0}% CI | n |");
    let _ = writeln!(s, "|---|---|---|---:|---|---:|");
    for e in r
        .estimates
        .iter()
        .filter(|e| e.segment_var == ALL && !is_concentration_metric(spec, &e.metric_id))
    {
        let title = spec
            .metrics
            .iter()
            .find(|m| m.id == e.metric_id)
            .map_or("", |m| m.title.as_str());
        if e.suppressed {
            let _ = writeln!(
                s,
                "| {} | {} | {} | suppressed | | |",
                md(title),
                e.metric_id,
                md(&level_label(spec, e))
            );
        } else {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} – {} | {} |",
                md(title),
                e.metric_id,
                md(&level_label(spec, e)),
                format_value(e, e.estimate),
                format_value(e, e.ci_low),
                format_value(e, e.ci_high),
                e.n
            );
        }
    }
    if let Some(c) = &r.concentration {
        let _ = writeln!(
            s,
            "\n## Supplier concentration (all organizations)\n\n{}Suppliers named by fewer than {} organizations are not shown; {}.\n",
            if c.publish_names && c.tlp != spec.survey.tlp {
                format!("**{}**: this section names suppliers. ", c.tlp.label())
            } else {
                String::new()
            },
            r.disclosure.policy.min_cell,
            if c.publish_names { "names as the spec allows" } else { "suppliers by rank within their category" }
        );
        let spof: Vec<String> = c
            .suppliers
            .iter()
            .filter(|x| x.single_point_of_failure)
            .map(|x| md(&x.label))
            .collect();
        let _ = writeln!(
            s,
            "Single points of failure: {}.\n",
            if spof.is_empty() {
                "none".to_string()
            } else {
                spof.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "| Category | Depend on it ({level:.0}% CI) | HHI ({level:.0}% CI) | Effective suppliers | No alternative ({level:.0}% CI) | n dependents |"
        );
        let _ = writeln!(s, "|---|---|---|---:|---|---:|");
        for row in concentration_rows(r.disclosure.policy.min_cell, c) {
            let cells: Vec<String> = row.iter().map(|x| md(x)).collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
    }
    if let Some(m) = metric_by(spec, RISK_INDEX, MetricKind::Mean) {
        let _ = writeln!(s, "\n## {} by segment\n", md(&m.title));
        let _ = writeln!(s, "| Segment | Estimate | {level:.0}% CI | n | Flags |");
        let _ = writeln!(s, "|---|---:|---|---:|---|");
        for e in r
            .estimates
            .iter()
            .filter(|e| e.metric_id == m.id && e.segment_var != ALL)
        {
            let label = format!(
                "{}: {}",
                e.segment_var,
                segment_label(spec, &e.segment_var, &e.segment_value)
            );
            if e.suppressed {
                let _ = writeln!(
                    s,
                    "| {} | {} | | | {} |",
                    md(&label),
                    crate::disclose::withheld_cell(&e.flag),
                    crate::disclose::reader_flags(&e.flag)
                );
            } else {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} – {} | {} | {} |",
                    md(&label),
                    format_value(e, e.estimate),
                    format_value(e, e.ci_low),
                    format_value(e, e.ci_high),
                    e.n,
                    crate::disclose::reader_flags(&e.flag)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\n{} `n_eff_lt_30`: effective sample size below 30 — read with caution.\n",
        crate::disclose::LEGEND
    );
    for x in r.disclosure.sentences() {
        let _ = writeln!(s, "- {}", md(&x));
    }
    s
}

fn table_html(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", escape_html(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", escape_html(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn strip_xml_header(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1000px;margin:0 auto;padding:0 16px 40px;color:#222;line-height:1.45}
.tlp{background:#000;padding:8px 14px;font-weight:700;letter-spacing:.05em;margin:0 -16px 16px}
h1{font-size:1.6em;margin:.4em 0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.8em}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.9em}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f4f4f4}td.num{text-align:right}.note{color:#555;font-size:.9em}figure{margin:12px 0}svg{max-width:100%;height:auto}
code{background:#f4f4f4;padding:1px 4px}@media print{.tlp{-webkit-print-color-adjust:exact;print-color-adjust:exact}h2{page-break-after:avoid}}.gate{border:2px solid #b00020;background:#fdecee;color:#600;padding:8px 14px;margin:12px 0}";

fn report_html(r: &RunResult, charts: &[(String, String)]) -> String {
    let spec = &r.spec.spec;
    let tlp = spec.survey.tlp;
    let level = spec.publication.ci_level * 100.0;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>",
        escape_html(&spec.survey.title)
    );
    let _ = write!(
        h,
        "<div class=\"tlp\" style=\"color:{}\">{}</div>",
        tlp.colour(),
        tlp.label()
    );
    let _ = write!(h, "<h1>{}</h1>", escape_html(&spec.survey.title));
    if !r.failed_gates.is_empty() {
        let _ = write!(
            h,
            "<div class=\"gate\" role=\"alert\"><strong>This run failed its quality gates; do not publish or forward these results.</strong><ul>{}</ul></div>",
            r.failed_gates
                .iter()
                .map(|g| format!("<li>{}</li>", escape_html(g)))
                .collect::<String>()
        );
    }
    if let Some(d) = &spec.survey.description {
        let _ = write!(h, "<p>{}</p>", escape_html(d));
    }

    // Overview.
    h.push_str("<h2>Overview</h2>");
    let _ = write!(
        h,
        "<p>{} rows were read from {} source files; {} responses were kept for analysis and {} rows were quarantined. \
         Estimates are weighted to a population of {:.0} organizations.</p>",
        r.cleaned.rows_read(),
        r.sources.len(),
        r.records().len(),
        r.cleaned.quarantine.len(),
        r.weighted.population_total
    );
    let rows: Vec<Vec<String>> = r
        .sources
        .iter()
        .map(|s| {
            let kept = r.records().iter().filter(|x| x.file == s.file).count();
            vec![
                s.label(),
                format!("{:?}", s.layout).to_lowercase(),
                s.encoding.clone().unwrap_or_else(|| "workbook".into()),
                s.rows.len().to_string(),
                kept.to_string(),
            ]
        })
        .collect();
    h.push_str(&table_html(
        &[
            "Source",
            "Layout",
            "Encoding",
            "Rows read",
            "Responses kept",
        ],
        &rows,
    ));
    let rates: Vec<Vec<String>> = r
        .weighted
        .margins
        .iter()
        .map(|m| {
            let small = !r.disclosure.margin_shown_for(&r.weighted.margins, m);
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
        .collect();
    h.push_str("<p>Response by weighting segment:</p>");
    h.push_str(&table_html(
        &["Segment", "Population", "Respondents", "Response rate"],
        &rates,
    ));

    // Data quality.
    h.push_str("<h2>Data quality</h2>");
    let log = &r.cleaned.log;
    h.push_str(
        "<p>Every row read is either kept or quarantined with a reason (<code>data/quarantine.csv</code>); \
         kept rows that a rule set to <i>flag</i> caught carry the flag in <code>data/clean.csv</code>; every \
         value that was not read verbatim is counted in <code>tables/cleaning_log.csv</code>.</p>",
    );
    let per_source: Vec<Vec<String>> = log
        .sources
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
        .collect();
    h.push_str(&table_html(
        &[
            "Source",
            "Rows read",
            "Kept",
            "Quarantined",
            "Kept with a flag",
        ],
        &per_source,
    ));
    let mut rules: Vec<&str> = log
        .excluded
        .keys()
        .chain(log.flagged.keys())
        .copied()
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let by_rule: Vec<Vec<String>> = rules
        .iter()
        .map(|k| {
            vec![
                (*k).to_string(),
                log.excluded.get(k).map_or("–".into(), ToString::to_string),
                log.flagged.get(k).map_or("–".into(), ToString::to_string),
            ]
        })
        .collect();
    h.push_str(&table_html(
        &["Rule", "Rows quarantined", "Kept rows flagged"],
        &by_rule,
    ));
    if let (Some(med), Some(thr)) = (log.speeder_median_secs, log.speeder_threshold_secs) {
        let _ = write!(h, "<p class=\"note\">Speeders: median completion time {med:.0} s; responses faster than {thr:.0} s are caught.</p>");
    }
    let mut by_how: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for ((_, _, _, how), rc) in &log.recodes {
        *by_how.entry(how).or_default() += rc.count;
    }
    let recodes: Vec<Vec<String>> = by_how
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
        .collect();
    h.push_str("<p>Values not read verbatim:</p>");
    h.push_str(&table_html(&["Recode", "Meaning", "Values"], &recodes));
    let n = r.records().len().max(1);
    let nonresp: Vec<Vec<String>> = spec
        .questions
        .iter()
        .enumerate()
        .filter(|(_, q)| q.is_scored())
        .map(|(qi, q)| {
            let skipped = r
                .records()
                .iter()
                .filter(|x| !x.answers[qi].is_answered())
                .count();
            let missing = r
                .records()
                .iter()
                .filter(|x| matches!(x.answers[qi], crate::clean::Answer::Missing(_)))
                .count();
            vec![
                q.id.clone(),
                q.domain.clone().unwrap_or_default(),
                format!("{:.1}%", 100.0 * skipped as f64 / n as f64),
                format!("{:.1}%", 100.0 * missing as f64 / n as f64),
            ]
        })
        .collect();
    h.push_str("<p>Item nonresponse among kept responses (scored items):</p>");
    h.push_str(&table_html(
        &[
            "Question",
            "Domain",
            "Skipped or unreadable",
            "Don't know / not applicable",
        ],
        &nonresp,
    ));

    // Weighting.
    h.push_str("<h2>Weighting</h2>");
    let w = &r.weighted;
    let (wmin, wmax) = w
        .weights
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(a, b), x| (a.min(*x), b.max(*x)));
    let ess = crate::kernels::estimators::kish_ess(&w.weights);
    let _ = write!(
        h,
        "<p>Method: <b>{}</b>{}. Base weights are population over respondents within each stratum{}. \
         Weights range from {:.2} to {:.2}; the Kish effective sample size is {:.1} of {} responses.</p>",
        w.method,
        w.passes
            .map(|p| format!(" ({p} passes; largest relative margin error {:.1e})", w.max_rel_error))
            .unwrap_or_default(),
        if w.fpc { ", with the finite population correction" } else { "" },
        wmin,
        wmax,
        ess,
        w.weights.len()
    );
    if let Some(note) = &w.note {
        let _ = write!(h, "<p class=\"note\">{}</p>", escape_html(note));
    }
    for note in &w.design_notes {
        let _ = write!(
            h,
            "<p class=\"note\"><strong>Design warning:</strong> {}</p>",
            escape_html(note)
        );
    }
    let margins: Vec<Vec<String>> = w
        .margins
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
        .collect();
    h.push_str(&table_html(
        &[
            "Variable",
            "Level",
            "Population",
            "Base-weighted",
            "Weighted",
        ],
        &margins,
    ));
    if let Some(t) = &w.trim {
        let _ = write!(
            h,
            "<p>Trimming: bounds [{:.3}, {:.3}]; {} weights were outside them; {} round(s){}; {} still outside.</p>",
            t.lower.max(0.0),
            t.upper,
            t.n_trimmed,
            t.rounds,
            if t.settled { "" } else { " without settling (quality gate)" },
            t.n_outside_after
        );
    }
    for (stem, svg) in charts
        .iter()
        .filter(|(s, _)| s == "weights" || s == "weighting_margins")
    {
        let _ = write!(
            h,
            "<figure id=\"{stem}\">{}</figure>",
            strip_xml_header(svg)
        );
    }

    // Risk distributions.
    h.push_str("<h2>Risk distributions by segment</h2>");
    for (stem, svg) in charts.iter().filter(|(s, _)| {
        !matches!(
            s.as_str(),
            "weights"
                | "maturity_heatmap"
                | "weighting_margins"
                | "trend"
                | "supplier_dependency"
                | "concentration_heatmap"
        )
    }) {
        let _ = write!(
            h,
            "<figure id=\"{stem}\">{}</figure>",
            strip_xml_header(svg)
        );
    }
    if let Some((stem, svg)) = charts.iter().find(|(s, _)| s == "maturity_heatmap") {
        h.push_str("<h2>Maturity by CSF 2.0 GV.SC subcategory</h2>");
        h.push_str(
            "<p>Each cell is the weighted mean maturity of one subcategory's items (0 = not practised, \
             1 = fully practised) in one segment. Grey cells are suppressed.</p>",
        );
        let _ = write!(
            h,
            "<figure id=\"{stem}\">{}</figure>",
            strip_xml_header(svg)
        );
    }

    if let Some(c) = &r.concentration {
        h.push_str(&concentration_section(r, c, charts));
    }

    // Comparisons and tests.
    let comparisons = &r.comparisons;
    if let Some(m) = metric_by(spec, RISK_INDEX, MetricKind::Mean) {
        h.push_str("<h2>Comparisons and tests</h2>");
        let _ = write!(
            h,
            "<p>Each segment against the rest of the sector on the {} ({}): the difference, its \
             standard error over the full design, and the p-value, adjusted for the number of \
             segments compared (Benjamini–Hochberg). Below, Rao–Scott tests of whether the risk \
             tiers are distributed alike across each segment variable.</p>",
            escape_html(&m.title),
            escape_html(&m.id)
        );
        let rows: Vec<Vec<String>> = comparisons
            .iter()
            .filter(|c| c.metric_id == m.id && c.test == "difference")
            .map(|c| {
                let label = segment_label(spec, &c.segment_var, &c.segment_value);
                if c.suppressed {
                    vec![
                        label,
                        "withheld".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]
                } else {
                    vec![
                        label,
                        format!("{:+.1}", c.estimate),
                        format!("{:.1}", c.se),
                        format_p(c.p_value),
                        format_p(c.p_adjusted),
                    ]
                }
            })
            .collect();
        h.push_str(&table_html(
            &[
                "Segment",
                "Difference from the rest",
                "SE",
                "p",
                "p (BH-adjusted)",
            ],
            &rows,
        ));
        let tests: Vec<Vec<String>> = comparisons
            .iter()
            .filter(|c| c.test != "difference")
            .map(|c| {
                vec![
                    format!("{} × {}", c.metric_id, c.segment_var),
                    format!("F = {:.2}", c.statistic),
                    format!("{:.2}, {:.1}", c.ndf, c.ddf),
                    format_p(c.p_value),
                ]
            })
            .collect();
        if !tests.is_empty() {
            h.push_str(&table_html(
                &["Table", "Rao–Scott statistic", "df", "p"],
                &tests,
            ));
        }
    }

    // Round over round.
    if let Some(prev) = &r.previous {
        let _ = write!(
            h,
            "<h2>Round {} and round {}</h2><p>Headline metrics of all organizations against round {} \
             (from <code>{}</code>). The change's standard error treats the two rounds as \
             independent samples: √(SE₁² + SE₂²); p is two-sided (normal). A metric whose \
             definition version changed is not compared.</p>",
            escape_html(&prev.round),
            escape_html(&spec.survey.round),
            escape_html(&prev.round),
            escape_html(&prev.dir.display().to_string())
        );
        let rows: Vec<Vec<String>> = trend_lines(r, prev)
            .iter()
            .map(|l| {
                let e = l.current;
                let title = spec
                    .metrics
                    .iter()
                    .find(|m| m.id == e.metric_id)
                    .map_or("", |m| m.title.as_str());
                let shown =
                    |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format_value(e, x));
                let before = l.previous.map_or_else(String::new, |p| {
                    format!(
                        "{} ({} – {})",
                        shown(p.estimate),
                        shown(p.ci_low),
                        shown(p.ci_high)
                    )
                });
                let now = if e.suppressed {
                    crate::disclose::withheld_cell(&e.flag)
                } else {
                    format!(
                        "{} ({} – {})",
                        shown(Some(e.estimate)),
                        shown(Some(e.ci_low)),
                        shown(Some(e.ci_high))
                    )
                };
                let (change, se, pv) = match (l.note.is_empty(), l.previous) {
                    (true, Some(p)) => match (p.estimate, p.se) {
                        (Some(pe), Some(ps)) => {
                            let d = e.estimate - pe;
                            let s = (e.se * e.se + ps * ps).sqrt();
                            let pval = if s > 0.0 {
                                crate::kernels::dist::pnorm_two_sided(d / s).unwrap_or(f64::NAN)
                            } else {
                                f64::NAN
                            };
                            let unit = |x: f64| {
                                if e.statistic == "proportion" {
                                    format!("{:+.1} pts", x * 100.0)
                                } else {
                                    let sign = if x >= 0.0 { "+" } else { "" };
                                    format!("{sign}{}", format_value(e, x))
                                }
                            };
                            (
                                unit(d),
                                unit(s).trim_start_matches('+').to_string(),
                                format_p(pval),
                            )
                        }
                        _ => (l.note.clone(), String::new(), String::new()),
                    },
                    _ => (l.note.clone(), String::new(), String::new()),
                };
                vec![
                    format!("{title} ({})", e.metric_id),
                    level_label(spec, e),
                    before,
                    now,
                    change,
                    se,
                    pv,
                ]
            })
            .collect();
        h.push_str(&table_html(
            &[
                "Metric",
                "Level",
                &format!("Round {}", prev.round),
                &format!("Round {}", spec.survey.round),
                "Change",
                "SE",
                "p",
            ],
            &rows,
        ));
        if let Some((stem, svg)) = charts.iter().find(|(s, _)| s == "trend") {
            let _ = write!(
                h,
                "<figure id=\"{stem}\">{}</figure>",
                strip_xml_header(svg)
            );
        }
    }

    // Estimates.
    h.push_str("<h2>Headline metrics</h2>");
    let est: Vec<Vec<String>> = r
        .estimates
        .iter()
        .filter(|e| e.segment_var == ALL && !is_concentration_metric(spec, &e.metric_id))
        .map(|e| {
            let title = spec
                .metrics
                .iter()
                .find(|m| m.id == e.metric_id)
                .map_or("", |m| m.title.as_str());
            if e.suppressed {
                return vec![
                    e.metric_id.clone(),
                    title.to_string(),
                    level_label(spec, e),
                    crate::disclose::withheld_cell(&e.flag),
                    String::new(),
                    String::new(),
                    String::new(),
                ];
            }
            vec![
                e.metric_id.clone(),
                title.to_string(),
                level_label(spec, e),
                format_value(e, e.estimate),
                format!(
                    "{} – {}",
                    format_value(e, e.ci_low),
                    format_value(e, e.ci_high)
                ),
                e.n.to_string(),
                format!("{:.1}", e.n_eff),
            ]
        })
        .collect();
    h.push_str(&table_html(
        &[
            "Id",
            "Metric",
            "Level",
            "Estimate",
            &format!("{level:.0}% CI"),
            "n",
            "n_eff",
        ],
        &est,
    ));
    if let Some(m) = metric_by(spec, RISK_INDEX, MetricKind::Mean) {
        let _ = write!(h, "<h3>{} by segment</h3>", escape_html(&m.title));
        let seg: Vec<Vec<String>> = r
            .estimates
            .iter()
            .filter(|e| e.metric_id == m.id && e.segment_var != ALL)
            .map(|e| {
                let label = segment_label(spec, &e.segment_var, &e.segment_value);
                if e.suppressed {
                    vec![
                        e.segment_var.clone(),
                        label,
                        crate::disclose::withheld_cell(&e.flag),
                        String::new(),
                        String::new(),
                        crate::disclose::reader_flags(&e.flag),
                    ]
                } else {
                    vec![
                        e.segment_var.clone(),
                        label,
                        format_value(e, e.estimate),
                        format!(
                            "{} – {}",
                            format_value(e, e.ci_low),
                            format_value(e, e.ci_high)
                        ),
                        e.n.to_string(),
                        crate::disclose::reader_flags(&e.flag),
                    ]
                }
            })
            .collect();
        h.push_str(&table_html(
            &[
                "Segment by",
                "Segment",
                "Estimate",
                &format!("{level:.0}% CI"),
                "n",
                "Flags",
            ],
            &seg,
        ));
    }

    // What was withheld, per table, in words.
    let _ = write!(
        h,
        "<h2>Withheld numbers</h2><p>{}</p><ul>{}</ul>",
        escape_html(crate::disclose::LEGEND),
        r.disclosure
            .sentences()
            .iter()
            .map(|x| format!("<li>{}</li>", escape_html(x)))
            .collect::<String>()
    );

    // Method notes.
    let _ = write!(
        h,
        "<h2>How to read these numbers</h2>\
         <p><b>Weighted estimates.</b> Large organizations answer more often than small ones, so each response is weighted \
         to stand for the organizations like it in the population. The figures describe the sector, not only the respondents.</p>\
         <p><b>Confidence intervals.</b> A {level:.0}% confidence interval is the range of values consistent with the \
         responses: had the survey reached a different set of organizations, the estimate would move, and intervals built \
         this way contain the true value {level:.0} times in 100. Wide intervals mean the estimate is uncertain.</p>\
         <p><b>Withheld numbers and flags.</b> Numbers resting on fewer than {} responding organizations are withheld so that \
         no organization can be recognised, and so are the numbers from which such a group could be worked out by adding \
         and subtracting published figures; every published table was checked by attacking it that way. \
         <code>n_eff_lt_30</code> marks estimates whose effective sample size (after \
         weighting) is below 30: read them as indications only.</p>\
         <p><b>Risk index.</b> Each organization's answers score 0–1 per CSF 2.0 GV.SC subcategory; the index is 100 × (1 − \
         the weighted mean of those scores), so 0 is most mature and 100 most exposed. Tiers: {}.</p>",
        r.disclosure.policy.min_cell,
        escape_html(
            &spec
                .scoring
                .tiers
                .iter()
                .map(|t| match t.below {
                    Some(b) => format!("{} below {b}", t.name),
                    None => format!("{} otherwise", t.name),
                })
                .collect::<Vec<_>>()
                .join(", ")
        )
    );

    // Provenance.
    h.push_str("<h2>Provenance</h2>");
    let mut prov = vec![vec![
        "survey.toml".to_string(),
        crate::ingest::sha256_hex(r.spec.text.as_bytes()),
    ]];
    prov.push(vec![r.population.file.clone(), r.population.sha256.clone()]);
    for s in &r.sources {
        prov.push(vec![s.file.clone(), s.sha256.clone()]);
    }
    h.push_str(&table_html(&["Input", "SHA-256"], &prov));
    // One digest for the whole set of inputs: equal digests, equal inputs.
    let joined: String = prov
        .iter()
        .map(|p| format!("{}={}\n", p[0], p[1]))
        .collect();
    let _ = write!(
        h,
        "<p>Input digest (SHA-256 of the list above): <code>{}</code>. The output folder's \
         <code>manifest.json</code> records every input and output with its hash.</p>",
        crate::ingest::sha256_hex(joined.as_bytes())
    );
    let _ = writeln!(
        h,
        "<p class=\"note\">supplyrisk {} · survey {} round {} · {}</p></body></html>",
        env!("CARGO_PKG_VERSION"),
        escape_html(&spec.survey.id),
        escape_html(&spec.survey.round),
        tlp.label()
    );
    h
}

pub fn write_all(r: &RunResult) -> Result<()> {
    let charts = write_charts(r)?;
    let md = r.out_dir.join("summary.md");
    std::fs::write(&md, summary_md(r)).map_err(|e| Error::io(&md, e))?;
    let html = r.out_dir.join("report.html");
    std::fs::write(&html, report_html(r, &charts)).map_err(|e| Error::io(&html, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

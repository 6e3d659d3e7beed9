//! Render: the charts (`charts/`), `summary.md` and the self-contained `report.html`, all drawn
//! from the one long estimates table. Suppressed estimates never appear; every text that comes
//! from the spec or the data is escaped.

mod charts;
mod findings;
mod report;
pub mod templates;
mod workbook;

use crate::error::{Error, Result};
use crate::estimate::{EstimateRow, ALL};
use crate::published::{PublishedTables, RunResult};
use crate::spec::{Metric, MetricKind, Spec, RISK_INDEX, RISK_TIER};
use crate::table::{Table, Values};

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
    /// The change estimated on the panel of organizations in both rounds, when there is one.
    pub panel: Option<crate::kernels::panel::PanelChange>,
}

impl TrendLine<'_> {
    /// The change since the earlier round, its SE (the panel SE when the rounds share
    /// organizations), and the SE for independent samples √(SE_A² + SE_B²); `None` when not
    /// comparable.
    pub fn change(&self) -> Option<(f64, f64, f64)> {
        if !self.note.is_empty() {
            return None;
        }
        let p = self.previous?;
        let (pe, ps) = (p.estimate?, p.se?);
        let d = self.current.estimate - pe;
        let independent = (self.current.se.powi(2) + ps * ps).sqrt();
        let se = self.panel.map_or(independent, |c| c.se);
        Some((d, se, independent))
    }
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
            let panel = r.panel.as_ref().filter(|_| note.is_empty()).and_then(|p| {
                p.change(
                    &e.metric_id,
                    e.metric_version,
                    e.statistic,
                    &e.level,
                    ALL,
                    "",
                )
            });
            Some(TrendLine {
                current: e,
                previous,
                scale,
                note,
                panel,
            })
        })
        .collect()
}
pub use workbook::{write_workbook, Block, Cell, Headline, Sheet};

pub mod compare;

/// A published table with its codes' labels in front (`metric`, `level_label`, `segment`):
/// the workbook's readers read labels; the codes stay in their own columns.
fn labelled(spec: &Spec, t: &Table) -> Table {
    let text = |name: &str| -> Vec<String> {
        (0..t.height())
            .map(|i| t.cell(name, i).unwrap_or_default())
            .collect()
    };
    let names = t.names();
    let mut front: Vec<(String, Values)> = Vec::new();
    if names.contains(&"metric_id") {
        let ids = text("metric_id");
        front.push((
            "metric".into(),
            Values::Text(
                ids.iter()
                    .map(|id| {
                        Some(
                            spec.metrics
                                .iter()
                                .find(|m| &m.id == id)
                                .map_or_else(|| id.clone(), |m| m.title.clone()),
                        )
                    })
                    .collect(),
            ),
        ));
        if names.contains(&"level") {
            let (levels, stats) = (text("level"), text("statistic"));
            front.push((
                "level_label".into(),
                Values::Text(
                    (0..t.height())
                        .map(|i| {
                            // Comparisons have no statistic column: a level is a proportion's.
                            let stat = if names.contains(&"statistic") && !names.contains(&"test") {
                                stats[i].as_str()
                            } else {
                                "proportion"
                            };
                            Some(level_label_of(spec, &ids[i], stat, &levels[i]))
                        })
                        .collect(),
                ),
            ));
        }
    }
    if names.contains(&"segment_var") && names.contains(&"segment_value") {
        let (vars, values) = (text("segment_var"), text("segment_value"));
        front.push((
            "segment".into(),
            Values::Text(
                vars.iter()
                    .zip(&values)
                    .map(|(v, x)| Some(segment_label(spec, v, x)))
                    .collect(),
            ),
        ));
    }
    front.extend(t.columns.iter().cloned());
    Table { columns: front }
}

/// The Headline sheet: the key findings, the headline metrics and the risk index by segment,
/// as numbers with their formats.
fn headline_sheet(r: &RunResult) -> Headline {
    let spec = &r.spec.spec;
    let level = spec.publication.ci_level * 100.0;
    let number = |e: &EstimateRow, x: f64| -> Cell {
        if e.suppressed {
            Cell::Empty
        } else if matches!(e.statistic, "proportion" | "ratio") {
            Cell::Percent(x)
        } else if is_maturity(spec, &e.metric_id) {
            Cell::Number(x * 100.0)
        } else {
            Cell::Number(x)
        }
    };
    let note = |e: &EstimateRow| {
        if e.suppressed {
            Cell::Text(crate::disclose::withheld_cell(&e.flag))
        } else {
            Cell::Text(crate::disclose::caution_mark(&e.flag).to_string())
        }
    };
    let head = |first: &[&str]| -> Vec<String> {
        first
            .iter()
            .map(|s| (*s).to_string())
            .chain([
                "Estimate".to_string(),
                format!("{level:.0}% CI low"),
                format!("{level:.0}% CI high"),
                "Unit".into(),
                "n".into(),
                "Note".into(),
            ])
            .collect()
    };
    let row = |lead: Vec<Cell>, e: &EstimateRow| -> Vec<Cell> {
        lead.into_iter()
            .chain([
                number(e, e.estimate),
                number(e, e.ci_low),
                number(e, e.ci_high),
                Cell::Text(unit_label(spec, e)),
                if e.suppressed {
                    Cell::Empty
                } else {
                    Cell::Count(e.n)
                },
                note(e),
            ])
            .collect()
    };
    let mut blocks = vec![Block {
        title: "Headline metrics (all organizations)".into(),
        head: head(&["Metric", "Level", "Metric id"]),
        rows: r
            .estimates
            .iter()
            .filter(|e| e.segment_var == ALL && !is_concentration_metric(spec, &e.metric_id))
            .map(|e| {
                let title = spec
                    .metrics
                    .iter()
                    .find(|m| m.id == e.metric_id)
                    .map_or("", |m| m.title.as_str());
                row(
                    vec![
                        Cell::Text(title.into()),
                        Cell::Text(level_label(spec, e)),
                        Cell::Text(e.metric_id.clone()),
                    ],
                    e,
                )
            })
            .collect(),
    }];
    if let Some(m) = metric_by(spec, RISK_INDEX, MetricKind::Mean) {
        blocks.push(Block {
            title: format!("{} by segment", m.title),
            head: head(&["Segment by", "Segment", "Code"]),
            rows: r
                .estimates
                .iter()
                .filter(|e| e.metric_id == m.id && e.segment_var != ALL)
                .map(|e| {
                    row(
                        vec![
                            Cell::Text(report::segment_var_label(spec, &e.segment_var)),
                            Cell::Text(segment_label(spec, &e.segment_var, &e.segment_value)),
                            Cell::Text(format!("{}={}", e.segment_var, e.segment_value)),
                        ],
                        e,
                    )
                })
                .collect(),
        });
    }
    Headline {
        findings: findings::key_findings(r)
            .into_iter()
            .map(|f| f.text)
            .collect(),
        blocks,
    }
}

/// `tables.xlsx` at the top of the output folder: a Headline sheet, the published tables (with
/// labels beside the codes, shares as percentages) and the metrics.
pub fn write_tables_workbook(r: &RunResult, t: &PublishedTables) -> Result<()> {
    let spec = &r.spec.spec;
    // Which metrics' estimates are shares (proportions, ratios of counts).
    let share_metric = |id: &str| {
        spec.metrics.iter().any(|m| {
            m.id == id
                && matches!(
                    m.kind,
                    MetricKind::Proportion | MetricKind::Distribution | MetricKind::Ratio
                )
        })
    };
    let statistic_is_share = |t: &Table| -> Vec<bool> {
        (0..t.height())
            .map(|i| {
                matches!(
                    t.cell("statistic", i).as_deref(),
                    Some("proportion" | "ratio")
                )
            })
            .collect()
    };
    let est_share = statistic_is_share(&t.estimates);
    let metrics_share = statistic_is_share(&t.metrics);
    let cmp_share: Vec<bool> = (0..t.comparisons.height())
        .map(|i| {
            t.comparisons.cell("test", i).as_deref() == Some("difference")
                && share_metric(&t.comparisons.cell("metric_id", i).unwrap_or_default())
        })
        .collect();
    let value_cols = |c: &str| matches!(c, "estimate" | "se" | "ci_low" | "ci_high");
    let estimates_pct = |c: &str, i: usize| value_cols(c) && est_share[i];
    let metrics_pct = |c: &str, i: usize| value_cols(c) && metrics_share[i];
    let comparisons_pct = |c: &str, i: usize| matches!(c, "estimate" | "se") && cmp_share[i];
    let share_cols = |c: &str, _: usize| matches!(c, "share" | "se" | "ci_low" | "ci_high");
    let concentration_pct = |c: &str, _: usize| {
        c.starts_with("dependency_share") || c.starts_with("no_alternative_share")
    };
    let none = |_: &str, _: usize| false;
    let (estimates, comparisons, distributions, weights, metrics) = (
        labelled(spec, &t.estimates),
        labelled(spec, &t.comparisons),
        labelled(spec, &t.distributions),
        labelled(spec, &t.weight_summary),
        labelled(spec, &t.metrics),
    );
    let mut sheets = vec![
        Sheet {
            name: "estimates",
            table: &estimates,
            about: "every metric for every segment: estimates, SEs, CIs, n, n_eff, design effects, flags",
            percent: &estimates_pct,
        },
        Sheet {
            name: "comparisons",
            table: &comparisons,
            about: "each segment against the rest of the sector, and Rao–Scott tests of tier × segment",
            percent: &comparisons_pct,
        },
        Sheet {
            name: "distributions",
            table: &distributions,
            about: "weighted histograms of the risk index (and other numeric variables) per segment",
            percent: &share_cols,
        },
        Sheet {
            name: "weights",
            table: &weights,
            about: "the final weights per segment: Kish effective size, spread, trimming",
            percent: &none,
        },
        Sheet {
            name: "metrics",
            table: &metrics,
            about: "the clearinghouse export: standardized metrics with versions and TLP",
            percent: &metrics_pct,
        },
    ];
    let concentration = t
        .concentration
        .as_ref()
        .map(|(c, d)| (labelled(spec, c), labelled(spec, d)));
    if let Some((by_category, dependency)) = &concentration {
        sheets.push(Sheet {
            name: "concentration",
            table: by_category,
            about: "per supplier category and segment: share depending on it, HHI, effective number of suppliers, no-alternative share",
            percent: &concentration_pct,
        });
        sheets.push(Sheet {
            name: "supplier_dependency",
            table: dependency,
            about: "share of organizations naming each published supplier as critical, per segment (TLP in the tlp column)",
            percent: &share_cols,
        });
    }
    write_workbook(
        &r.out_dir.join("tables.xlsx"),
        spec,
        &sheets,
        &headline_sheet(r),
        &r.disclosure.sentences(),
        &r.failed_gates,
    )
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
    level_label_of(spec, &row.metric_id, row.statistic, &row.level)
}

/// Human label of a level of a metric's rows: a supplier category's label for concentration
/// metrics, the option label(s) of a proportion's code(s), the level itself otherwise.
pub fn level_label_of(spec: &Spec, metric_id: &str, statistic: &str, level: &str) -> String {
    let metric = spec.metrics.iter().find(|m| m.id == metric_id);
    // Concentration metrics: the level is a supplier category.
    if let Some(c) = spec
        .concentration
        .as_ref()
        .filter(|_| metric.is_some_and(|m| m.kind == MetricKind::Concentration))
    {
        return c
            .categories
            .as_deref()
            .and_then(|id| spec.question(id))
            .and_then(|q| spec.options(q).iter().find(|o| o.code.0 == level))
            .map_or_else(|| level.to_string(), |o| o.label.clone());
    }
    if statistic != "proportion" {
        return level.to_string();
    }
    let Some(q) = metric.and_then(|m| spec.question(&m.variable)) else {
        return level.to_string();
    };
    level
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

/// Whether a metric is a GV.SC maturity (0–1 in the tables, shown on 0–100).
fn is_maturity(spec: &Spec, metric_id: &str) -> bool {
    spec.metrics
        .iter()
        .any(|m| m.id == metric_id && m.variable.starts_with(crate::spec::MATURITY_PREFIX))
}

/// A readable estimate, one scale per kind of quantity: shares (proportions, ratios of counts,
/// concentration shares) as percentages, maturities on 0–100 like the risk index, the HHI on
/// its 0–1 scale with three decimals, everything else with one decimal.
pub fn format_value(spec: &Spec, row: &EstimateRow, x: f64) -> String {
    if !x.is_finite() {
        return "–".to_string();
    }
    match row.statistic {
        "proportion" | "ratio" => format!("{:.1}%", x * 100.0),
        "hhi" => format!("{x:.3}"),
        _ if is_maturity(spec, &row.metric_id) => format!("{:.1}", x * 100.0),
        _ => format!("{x:.1}"),
    }
}

/// The unit a reader needs beside an estimate formatted by [`format_value`].
pub fn unit_label(spec: &Spec, row: &EstimateRow) -> String {
    let m = spec.metrics.iter().find(|m| m.id == row.metric_id);
    match row.statistic {
        "proportion" => "% of organizations".into(),
        "ratio" => format!(
            "% ({})",
            m.and_then(|m| m.unit.as_deref()).unwrap_or("ratio")
        ),
        "hhi" => "HHI 0–1".into(),
        _ if is_maturity(spec, &row.metric_id) => "maturity 0–100".into(),
        _ if m.is_some_and(|m| m.variable == RISK_INDEX) => "risk index 0–100".into(),
        _ => m.and_then(|m| m.unit.clone()).unwrap_or_default(),
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
            why: String::new(),
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
                why: crate::disclose::withheld_words(&e.flag),
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
    // Parts of at most PART_ROWS rows, cut at category headings, so that each prints on one page.
    const PART_ROWS: usize = 24;
    let mut parts: Vec<Vec<ChartRow>> = Vec::new();
    for row in rows {
        // A category starts a new part when the current one could not hold all its rows.
        if row.heading && parts.last().is_none_or(|p| p.len() + 1 + top > PART_ROWS) {
            parts.push(Vec::new());
        }
        match parts.last_mut() {
            Some(p) => p.push(row),
            None => parts.push(vec![row]),
        }
    }
    let hi = ((high * 100.0 / 20.0).ceil() * 20.0).clamp(20.0, 100.0);
    for (k, rows) in parts.into_iter().enumerate() {
        let stem = if k == 0 {
            "supplier_dependency".to_string()
        } else {
            format!("supplier_dependency_{}", k + 1)
        };
        let chart = Forest {
            title: if k == 0 {
                "Critical suppliers the sector depends on together".into()
            } else {
                format!("Critical suppliers the sector depends on together ({})", k + 1)
            },
            subtitle: format!(
                "Weighted share of organizations naming each supplier among their most critical, with {:.0}% CIs; top {top} per category; SPOF: single point of failure{}",
                spec.publication.ci_level * 100.0,
                if c.publish_names { "" } else { "; #k: rank in the category (names not published)" }
            ),
            footer: footer_tlp.clone(),
            axis_label: "% of organizations naming the supplier".into(),
            range: (0.0, hi),
            reference: None,
            rows,
        };
        write_chart(&chart, dir, &stem)?;
        written.push(stem);
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
                scale_label: "HHI (0–1)".into(),
                multiplier: 1.0,
                decimals: 2,
            };
            write_chart(&chart, dir, "concentration_heatmap")?;
            written.push("concentration_heatmap".to_string());
        }
    }
    Ok(written)
}

/// "12.3% (9.8% – 15.1%)", or "withheld" with its footnote mark.
fn estimate_with_ci(spec: &Spec, e: &EstimateRow) -> String {
    if e.suppressed {
        crate::disclose::withheld_cell(&e.flag)
    } else {
        format!(
            "{}{} ({} – {})",
            format_value(spec, e, e.estimate),
            crate::disclose::caution_mark(&e.flag),
            format_value(spec, e, e.ci_low),
            format_value(spec, e, e.ci_high)
        )
    }
}

/// One row per supplier category (all organizations): dependence, HHI, effective suppliers,
/// no-alternative share, dependents — for the report and the summary.
fn concentration_rows(
    spec: &Spec,
    min_cell: usize,
    c: &crate::concentration::Analysis,
) -> Vec<Vec<String>> {
    use crate::concentration::{DEPENDENCY_SHARE, EFFECTIVE_SUPPLIERS, HHI, NO_ALTERNATIVE_SHARE};
    c.categories
        .iter()
        .map(|cat| {
            let get = |stat: &str| c.category_row(stat, &cat.code, ALL, "");
            let with_ci = |stat: &str| {
                get(stat)
                    .map(|e| estimate_with_ci(spec, e))
                    .unwrap_or_default()
            };
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
                with_ci(DEPENDENCY_SHARE),
                with_ci(HHI),
                eff,
                with_ci(NO_ALTERNATIVE_SHARE),
                get(HHI)
                    .filter(|e| !e.suppressed)
                    .map(|e| e.n.to_string())
                    .unwrap_or_else(|| format!("< {min_cell}")),
            ]
        })
        .collect()
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
                why: String::new(),
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
            // Why a row is withheld, in the report's marks and words: the row with the
            // strongest reason speaks for the segment.
            let why = group
                .iter()
                .filter(|r| r.suppressed)
                .map(|r| crate::disclose::withheld_words(&r.flag))
                .min_by_key(|w| !w.starts_with("withheld*"))
                .unwrap_or_default();
            out.push(ChartRow {
                label: segment_label(spec, &var, value),
                values: if suppressed {
                    Vec::new()
                } else {
                    values(&group)
                },
                // The respondent count shows only where a table shows it.
                right: if group
                    .iter()
                    .any(|r| r.flag.contains(crate::disclose::BELOW_MIN_CELL))
                {
                    format!("n < {min_cell}")
                } else {
                    match n {
                        Some(n) if unreliable && !suppressed => format!("n = {n} ‡"),
                        Some(n) => format!("n = {n}"),
                        None => String::new(),
                    }
                },
                why,
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
                "{} ({}), weighted to the population; ‡ grey part: tiers too uncertain to publish (NCHS standard)",
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
        // Withheld segments are named in the subtitle rather than drawn as empty panels.
        let withheld: Vec<String> = panels
            .iter()
            .filter(|p| p.suppressed)
            .map(|p| p.label.clone())
            .collect();
        panels.retain(|p| !p.suppressed);
        let chart = Histograms {
            title: "Distribution of the supplier risk index".into(),
            subtitle: format!(
                "Weighted share of organizations per band of the index, by {}; grey stubs: bands withheld (1–{} organizations, or to protect such a band){}",
                var,
                min_cell.saturating_sub(1),
                match withheld.len() {
                    0 => String::new(),
                    1 => format!("; withheld: {}", withheld[0]),
                    k => format!("; {k} segments withheld"),
                }
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
            subtitle: format!(
                "Weighted mean maturity (0 = not practised, 100 = fully practised) by {var}"
            ),
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
            scale_label: "mean maturity (0–100)".into(),
            multiplier: 100.0,
            decimals: 0,
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
                        let title = title.strip_prefix("Maturity: ").unwrap_or(title);
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

/// Charts, `summary.md` and `report.html` of a run, the two documents from their templates
/// (the round's own folder first, `[report] templates`).
pub fn write_all(r: &RunResult) -> Result<()> {
    let charts = write_charts(r)?;
    let folder = r
        .spec
        .spec
        .report
        .templates
        .as_ref()
        .map(|t| r.spec.dir.join(t));
    let env = templates::environment(folder.clone());
    let ctx = report::context(r, &charts);
    for name in ["summary.md", "report.html"] {
        let text = templates::render(&env, name, &ctx, folder.as_deref())?;
        let path = r.out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_only_what_markdown_reads() {
        assert_eq!(md("Pharma, labs & blood"), "Pharma, labs & blood");
        assert_eq!(md("Small (<500 staff)"), "Small (<500 staff)");
        assert_eq!(
            md("<script>*x*|public_health"),
            "\\<script>\\*x\\*\\|public_health"
        );
        assert_eq!(md("_lead &amp;"), "\\_lead \\&amp;");
    }

    #[test]
    fn templates_escape_every_value_for_their_output() {
        let env = templates::environment(None);
        let ctx = minijinja::context! { t => "<b a=\"x\">&'*" };
        let render = |name: &str, source: &str| {
            let mut env = env.clone();
            env.add_template_owned(name.to_string(), source.to_string())
                .unwrap();
            env.get_template(name).unwrap().render(&ctx).unwrap()
        };
        assert_eq!(
            render("x.html", "{{ t }}"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#x27;*"
        );
        assert_eq!(render("x.md", "{{ t }}"), "\\<b a=\"x\">&'\\*");
    }
}

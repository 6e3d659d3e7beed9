//! `supplyrisk compare <OUT_A> <OUT_B>`: round-over-round change of every metric and segment
//! published in both outputs — difference, its SE (from the panel of organizations in both
//! rounds when the outputs share any, `previous::Panel`; else for independent samples
//! √(SE_A² + SE_B²)), a normal CI and p-value, Benjamini–Hochberg adjusted within each metric —
//! written to
//! `comparison.csv` with a trend chart of the overall figures. Metrics whose version differs are
//! listed as not comparable; outputs of different surveys are refused.

use std::path::{Path, PathBuf};

use crate::kernels::dist::{pnorm_two_sided, qnorm};

use super::{write_chart, PreviousMetric, PreviousRound, TrendChart, TrendRow};
use crate::error::Result;
use crate::estimate::benjamini_hochberg;
use crate::previous::{Panel, PanelData};
use crate::table::Table;

/// One metric × level × segment present in both rounds.
#[derive(Debug, Clone)]
pub struct Change {
    pub metric_id: String,
    pub version_a: u32,
    pub version_b: u32,
    pub statistic: String,
    pub level: String,
    pub segment_var: String,
    pub segment_value: String,
    pub estimate_a: Option<f64>,
    pub estimate_b: Option<f64>,
    pub difference: Option<f64>,
    pub se: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub p_adjusted: Option<f64>,
    /// `comparable`, `version_changed`, `suppressed`.
    pub status: &'static str,
    /// √(SE_A² + SE_B²) from the published SEs, shown beside a panel SE.
    pub se_independent: Option<f64>,
    /// Which SE `se` is: `panel` or `independent`.
    pub se_method: &'static str,
}

pub struct Comparison {
    pub a: PreviousRound,
    pub b: PreviousRound,
    pub changes: Vec<Change>,
    pub out_dir: PathBuf,
    /// Organizations in both rounds, in A, in B (when both outputs have panel data).
    pub overlap: Option<(usize, usize, usize)>,
}

fn key(m: &PreviousMetric) -> (&str, &str, &str, &str, &str) {
    (
        &m.metric_id,
        &m.statistic,
        &m.level,
        &m.segment_var,
        &m.segment_value,
    )
}

/// Compare two outputs; write `comparison.csv` and `trend.{svg,png}` into `out_dir`.
pub fn compare(out_a: &Path, out_b: &Path, out_dir: &Path, level: f64) -> Result<Comparison> {
    let first = PreviousRound::read(out_a, "")?;
    let a = PreviousRound::read(out_a, &first.survey_id)?;
    let b = PreviousRound::read(out_b, &a.survey_id)?;
    let z = qnorm(0.5 + level / 2.0).unwrap_or(f64::NAN);
    let panel = match (PanelData::read(out_a)?, PanelData::read(out_b)?) {
        (Some(pa), Some(pb)) => Panel::new(pa, pb),
        _ => None,
    };
    let mut changes = Vec::new();
    for mb in &b.metrics {
        // A model's odds ratio has no SE; its change is the coefficient's, on the log scale.
        if mb.statistic == "odds_ratio" {
            continue;
        }
        let Some(ma) = a.metrics.iter().find(|x| key(x) == key(mb)) else {
            continue;
        };
        let mut c = Change {
            metric_id: mb.metric_id.clone(),
            version_a: ma.metric_version,
            version_b: mb.metric_version,
            statistic: mb.statistic.clone(),
            level: mb.level.clone(),
            segment_var: mb.segment_var.clone(),
            segment_value: mb.segment_value.clone(),
            estimate_a: ma.estimate,
            estimate_b: mb.estimate,
            difference: None,
            se: None,
            ci_low: None,
            ci_high: None,
            p_value: None,
            p_adjusted: None,
            status: "comparable",
            se_independent: None,
            se_method: "independent",
        };
        if ma.metric_version != mb.metric_version {
            c.status = "version_changed";
            c.estimate_a = None;
            c.estimate_b = None;
        } else if let (Some(ea), Some(eb), Some(sa), Some(sb)) =
            (ma.estimate, mb.estimate, ma.se, mb.se)
        {
            let d = eb - ea;
            let independent = (sa * sa + sb * sb).sqrt();
            let from_panel = panel.as_ref().and_then(|p| {
                p.change(
                    &mb.metric_id,
                    mb.metric_version,
                    &mb.statistic,
                    &mb.level,
                    &mb.segment_var,
                    &mb.segment_value,
                )
            });
            let se = match from_panel {
                Some(pc) => {
                    c.se_method = "panel";
                    pc.se
                }
                None => independent,
            };
            c.se_independent = Some(independent);
            c.difference = Some(d);
            c.se = Some(se);
            c.ci_low = Some(d - z * se);
            c.ci_high = Some(d + z * se);
            c.p_value = if se > 0.0 {
                pnorm_two_sided(d / se)
            } else {
                None
            };
        } else {
            c.status = "suppressed";
        }
        changes.push(c);
    }
    // Benjamini–Hochberg within each metric.
    let mut ids: Vec<String> = changes.iter().map(|c| c.metric_id.clone()).collect();
    ids.dedup();
    for id in ids {
        let idx: Vec<usize> = (0..changes.len())
            .filter(|&i| changes[i].metric_id == id && changes[i].p_value.is_some())
            .collect();
        let p: Vec<f64> = idx
            .iter()
            .map(|&i| changes[i].p_value.unwrap_or(1.0))
            .collect();
        for (k, adj) in benjamini_hochberg(&p).into_iter().enumerate() {
            changes[idx[k]].p_adjusted = Some(adj);
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| crate::error::Error::io(out_dir, e))?;
    table(&a, &b, &changes).write_csv(&out_dir.join("comparison.csv"))?;
    trend_chart(&a, &b, &changes, out_dir)?;
    Ok(Comparison {
        a,
        b,
        changes,
        out_dir: out_dir.to_path_buf(),
        overlap: panel.as_ref().map(Panel::overlap),
    })
}

fn table(a: &PreviousRound, b: &PreviousRound, changes: &[Change]) -> Table {
    let mut t = Table::new();
    t.text(
        "survey_id",
        changes.iter().map(|_| Some(a.survey_id.clone())),
    )
    .text("round_a", changes.iter().map(|_| Some(a.round.clone())))
    .text("round_b", changes.iter().map(|_| Some(b.round.clone())))
    .text(
        "metric_id",
        changes.iter().map(|c| Some(c.metric_id.clone())),
    )
    .int(
        "version_a",
        changes.iter().map(|c| Some(i64::from(c.version_a))),
    )
    .int(
        "version_b",
        changes.iter().map(|c| Some(i64::from(c.version_b))),
    )
    .text(
        "statistic",
        changes.iter().map(|c| Some(c.statistic.clone())),
    )
    .text("level", changes.iter().map(|c| Some(c.level.clone())))
    .text(
        "segment_var",
        changes.iter().map(|c| Some(c.segment_var.clone())),
    )
    .text(
        "segment_value",
        changes.iter().map(|c| Some(c.segment_value.clone())),
    )
    .float("estimate_a", changes.iter().map(|c| c.estimate_a))
    .float("estimate_b", changes.iter().map(|c| c.estimate_b))
    .float("difference", changes.iter().map(|c| c.difference))
    .float("se", changes.iter().map(|c| c.se))
    .text("se_method", changes.iter().map(|c| Some(c.se_method)))
    .float("se_independent", changes.iter().map(|c| c.se_independent))
    .float("ci_low", changes.iter().map(|c| c.ci_low))
    .float("ci_high", changes.iter().map(|c| c.ci_high))
    .float("p_value", changes.iter().map(|c| c.p_value))
    .float("p_adjusted", changes.iter().map(|c| c.p_adjusted))
    .text("status", changes.iter().map(|c| Some(c.status)));
    t
}

/// Each metric's title and kind, from the later round's `metrics/metrics.json` catalog (empty
/// when the file is missing or unreadable: the chart then labels rows with metric ids).
fn catalog(dir: &Path) -> std::collections::BTreeMap<String, (String, String)> {
    let Ok(text) = std::fs::read_to_string(dir.join("metrics/metrics.json")) else {
        return Default::default();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Default::default();
    };
    json["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some((
                m["id"].as_str()?.to_string(),
                (
                    m["title"].as_str()?.to_string(),
                    m["kind"].as_str().unwrap_or_default().to_string(),
                ),
            ))
        })
        .collect()
}

fn trend_chart(a: &PreviousRound, b: &PreviousRound, changes: &[Change], dir: &Path) -> Result<()> {
    let titles = catalog(&b.dir);
    let find = |r: &PreviousRound, c: &Change| {
        r.metrics
            .iter()
            .find(|m| {
                m.metric_id == c.metric_id
                    && m.statistic == c.statistic
                    && m.level == c.level
                    && m.segment_var == c.segment_var
                    && m.segment_value == c.segment_value
            })
            .cloned()
    };
    let mut rows = Vec::new();
    for c in changes.iter().filter(|c| c.segment_var == "all") {
        let (Some(ma), Some(mb)) = (find(a, c), find(b, c)) else {
            continue;
        };
        // Shares and 0–1 maturities in percent; 0–100 indexes as they are; others left out.
        let values = [ma.estimate, mb.estimate];
        let scale = if c.statistic == "proportion"
            || values.iter().flatten().all(|v| (0.0..=1.0).contains(v))
        {
            100.0
        } else if values.iter().flatten().all(|v| (0.0..=100.0).contains(v)) {
            1.0
        } else {
            continue;
        };
        if !matches!(c.statistic.as_str(), "mean" | "proportion") {
            continue;
        }
        let triple = |m: &PreviousMetric| {
            m.estimate.map(|e| {
                [
                    e * scale,
                    m.ci_low.unwrap_or(f64::NAN) * scale,
                    m.ci_high.unwrap_or(f64::NAN) * scale,
                ]
            })
        };
        let comparable = c.status != "version_changed";
        // Concentration metrics (one row per supplier category) are left to the table.
        let (title, kind) = titles
            .get(&c.metric_id)
            .map_or((c.metric_id.as_str(), ""), |(t, k)| {
                (t.as_str(), k.as_str())
            });
        if kind == "concentration" {
            continue;
        }
        let (previous, current) = (
            triple(&ma).filter(|_| comparable),
            triple(&mb).filter(|_| comparable),
        );
        // A row with nothing to draw and nothing to say is left out.
        if comparable && previous.is_none() && current.is_none() {
            continue;
        }
        let title = title.strip_prefix("Maturity: ").unwrap_or(title);
        rows.push(TrendRow {
            label: if c.level.is_empty() {
                title.to_string()
            } else {
                format!("{title}: {}", c.level)
            },
            previous,
            current,
            note: if comparable {
                String::new()
            } else {
                format!("not comparable: version {} → {}", c.version_a, c.version_b)
            },
        });
    }
    if rows.is_empty() {
        return Ok(());
    }
    let chart = TrendChart {
        title: format!("Round {} and round {}", a.round, b.round),
        subtitle: format!(
            "{}: overall figures with 95% confidence intervals",
            a.survey_id
        ),
        footer: format!(
            "{} · rounds {} and {} · supplyrisk {}",
            a.survey_id,
            a.round,
            b.round,
            env!("CARGO_PKG_VERSION")
        ),
        previous_label: format!("round {}", a.round),
        current_label: format!("round {}", b.round),
        rows,
    };
    write_chart(&chart, dir, "trend")
}

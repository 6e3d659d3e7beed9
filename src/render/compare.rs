//! `supplyrisk compare <OUT_A> <OUT_B>`: round-over-round change of every metric and segment
//! published in both outputs — difference, its SE (from the panel of organizations in both
//! rounds when the outputs share any, `previous::Panel`; else for independent samples
//! √(SE_A² + SE_B²)), a normal CI and p-value, Benjamini–Hochberg adjusted within each metric —
//! written to
//! `comparison.csv` with a trend chart of the overall figures. Metrics whose version differs are
//! listed as not comparable; outputs of different surveys are refused.

use std::path::{Path, PathBuf};

use crate::kernels::dist::qnorm;

use super::{write_chart, PreviousMetric, PreviousRound, TrendChart, TrendRow};
use crate::error::Result;
pub use crate::previous::Change;
use crate::previous::{changes, changes_table, Panel, PanelData};

pub struct Comparison {
    pub a: PreviousRound,
    pub b: PreviousRound,
    pub changes: Vec<Change>,
    pub out_dir: PathBuf,
    /// Organizations in both rounds, in A, in B (when both outputs have panel data).
    pub overlap: Option<(usize, usize, usize)>,
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
    let changes = changes(&a.metrics, &b.metrics, panel.as_ref(), z);
    std::fs::create_dir_all(out_dir).map_err(|e| crate::error::Error::io(out_dir, e))?;
    // Every row shows both rounds: the stricter label of the two (RED when unknown).
    let tlp = match (a.tlp, b.tlp) {
        (Some(x), Some(y)) => x.max(y),
        _ => crate::spec::Tlp::Red,
    };
    changes_table(&a.survey_id, &a.round, &b.round, &changes, tlp)
        .write_csv(&out_dir.join("comparison.csv"))?;
    trend_chart(&a, &b, &changes, out_dir)?;
    Ok(Comparison {
        a,
        b,
        changes,
        out_dir: out_dir.to_path_buf(),
        overlap: panel.as_ref().map(Panel::overlap),
    })
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

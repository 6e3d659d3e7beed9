//! `clearinghouse series <METRIC_ID>`: one metric across every round (and survey) the store
//! holds, with the change between consecutive rounds of a survey. The change's SE is the panel
//! SE the later round published (`run --previous`, `metrics/changes.csv`) when that round was
//! compared with exactly the earlier round held here (its metrics' SHA-256); otherwise the SE
//! for independent samples, √(SE_a² + SE_b²). The output carries the strictest TLP it shows.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{round_order, Store};
use crate::error::{Error, Result};
use crate::kernels::dist::{pnorm_two_sided, qnorm};
use crate::spec::Tlp;

/// One row of a series: a round's published value and its change since the survey's
/// previous round in the store.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesRow {
    pub survey_id: String,
    pub round: String,
    pub metric_id: String,
    pub metric_version: i64,
    pub statistic: String,
    pub level: String,
    pub segment_var: String,
    pub segment_value: String,
    pub estimate: Option<f64>,
    pub se: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: Option<i64>,
    pub flag: String,
    pub suppressed: bool,
    /// The TLP of the row's own round.
    pub round_tlp: String,
    /// The survey's previous round in the store, when there is one.
    pub previous_round: Option<String>,
    pub change: Option<f64>,
    pub change_se: Option<f64>,
    /// `panel` or `independent` (blank without a change).
    pub change_se_method: String,
    pub change_ci_low: Option<f64>,
    pub change_ci_high: Option<f64>,
    pub change_p_value: Option<f64>,
    /// `comparable`, `first` (no earlier round held), `not_in_previous`, `suppressed` or
    /// `version_changed`.
    pub change_status: String,
}

/// A metric's series.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub metric_id: String,
    /// The strictest TLP of the rows shown: what the whole output is shared under.
    pub tlp: String,
    /// Title of each version held, `(version, title)`.
    pub titles: Vec<(i64, String)>,
    pub ci_level: f64,
    pub rows: Vec<SeriesRow>,
}

/// The level of the change intervals.
pub const CHANGE_CI_LEVEL: f64 = 0.95;

impl Store {
    /// The metric over every round held: all organizations, or one segment `(var, value)`.
    pub fn series(&self, metric_id: &str, segment: Option<(&str, &str)>) -> Result<Series> {
        let e = |e| self.error(e);
        let (var, value) = segment.unwrap_or((crate::estimate::ALL, ""));
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT survey_id, round, metric_version, statistic, level, segment_var,
                        segment_value, estimate, se, ci_low, ci_high, n, flag, suppressed, tlp
                   FROM metric_values
                  WHERE metric_id = ?1 AND segment_var = ?2 AND segment_value = ?3",
            )
            .map_err(e)?;
        let mut rows: Vec<SeriesRow> = stmt
            .query_map(params![metric_id, var, value], |r| {
                Ok(SeriesRow {
                    survey_id: r.get(0)?,
                    round: r.get(1)?,
                    metric_id: metric_id.to_string(),
                    metric_version: r.get(2)?,
                    statistic: r.get(3)?,
                    level: r.get(4)?,
                    segment_var: r.get(5)?,
                    segment_value: r.get(6)?,
                    estimate: r.get(7)?,
                    se: r.get(8)?,
                    ci_low: r.get(9)?,
                    ci_high: r.get(10)?,
                    n: r.get(11)?,
                    flag: r.get(12)?,
                    suppressed: r.get(13)?,
                    round_tlp: r.get(14)?,
                    previous_round: None,
                    change: None,
                    change_se: None,
                    change_se_method: String::new(),
                    change_ci_low: None,
                    change_ci_high: None,
                    change_p_value: None,
                    change_status: String::new(),
                })
            })
            .and_then(Iterator::collect)
            .map_err(e)?;
        if rows.is_empty() {
            let known: i64 = self
                .conn()
                .query_row(
                    "SELECT count(*) FROM metric_definitions WHERE metric_id = ?1",
                    params![metric_id],
                    |r| r.get(0),
                )
                .map_err(e)?;
            let what = if known == 0 {
                format!("metric `{metric_id}` is not in the store (`supplyrisk clearinghouse list` shows what is)")
            } else {
                let mut stmt = self
                    .conn()
                    .prepare(
                        "SELECT DISTINCT segment_var, segment_value FROM metric_values
                          WHERE metric_id = ?1 AND segment_var != ?2
                          ORDER BY segment_var, segment_value",
                    )
                    .map_err(e)?;
                let held: Vec<String> = stmt
                    .query_map(params![metric_id, crate::estimate::ALL], |r| {
                        Ok(format!(
                            "{}={}",
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?
                        ))
                    })
                    .and_then(Iterator::collect)
                    .map_err(e)?;
                format!(
                    "metric `{metric_id}` has no values for segment {var}={value} in the store; its segments: {}",
                    if held.is_empty() { "none (all organizations only)".to_string() } else { held.join(", ") }
                )
            };
            return Err(Error::input(self.path().display().to_string(), what));
        }
        // Rounds of each survey in natural order; within a round, the metric's rows in order.
        let mut rounds: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r.survey_id.clone(), r.round.clone()))
            .collect();
        rounds.sort_by(|a, b| (&a.0, round_order(&a.1)).cmp(&(&b.0, round_order(&b.1))));
        rounds.dedup();
        let position = |s: &str, r: &str| rounds.iter().position(|x| x.0 == s && x.1 == r);
        rows.sort_by_key(|x| {
            (
                position(&x.survey_id, &x.round),
                x.statistic.clone(),
                x.level.clone(),
            )
        });
        let z = qnorm(0.5 + CHANGE_CI_LEVEL / 2.0).unwrap_or(f64::NAN);
        for i in 0..rows.len() {
            let Some(p) = position(&rows[i].survey_id, &rows[i].round) else {
                continue;
            };
            let earlier = p
                .checked_sub(1)
                .map(|q| &rounds[q])
                .filter(|q| q.0 == rows[i].survey_id);
            let Some((_, earlier_round)) = earlier.cloned() else {
                rows[i].change_status = "first".into();
                continue;
            };
            rows[i].previous_round = Some(earlier_round.clone());
            let before = rows.iter().find(|b| {
                b.survey_id == rows[i].survey_id
                    && b.round == earlier_round
                    && b.statistic == rows[i].statistic
                    && b.level == rows[i].level
            });
            let Some(before) = before.cloned() else {
                rows[i].change_status = "not_in_previous".into();
                continue;
            };
            let row = &rows[i];
            if before.metric_version != row.metric_version {
                rows[i].change_status = "version_changed".into();
                continue;
            }
            let (Some(ea), Some(eb), Some(sa), Some(sb)) =
                (before.estimate, row.estimate, before.se, row.se)
            else {
                rows[i].change_status = "suppressed".into();
                continue;
            };
            let published = self.published_change(row, &earlier_round)?;
            let independent = (sa * sa + sb * sb).sqrt();
            let (se, method) = match published {
                Some((se, method)) => (se, method),
                None => (independent, "independent".to_string()),
            };
            let d = eb - ea;
            let r = &mut rows[i];
            r.change = Some(d);
            r.change_se = Some(se);
            r.change_se_method = method;
            r.change_ci_low = Some(d - z * se);
            r.change_ci_high = Some(d + z * se);
            r.change_p_value = if se > 0.0 {
                pnorm_two_sided(d / se)
            } else {
                None
            };
            r.change_status = "comparable".into();
        }
        let tlp = rows
            .iter()
            .filter_map(|r| Tlp::from_label(&r.round_tlp))
            .max()
            .unwrap_or(Tlp::Red)
            .label()
            .to_string();
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT metric_version, title FROM metric_definitions WHERE metric_id = ?1
                  ORDER BY metric_version",
            )
            .map_err(e)?;
        let titles = stmt
            .query_map(params![metric_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(e)?;
        Ok(Series {
            metric_id: metric_id.to_string(),
            tlp,
            titles,
            ci_level: CHANGE_CI_LEVEL,
            rows,
        })
    }

    /// The change the later round published against exactly the earlier round held here: its
    /// SE and which SE it is. `None` when the round was not run with `--previous` on that
    /// output.
    fn published_change(
        &self,
        row: &SeriesRow,
        earlier_round: &str,
    ) -> Result<Option<(f64, String)>> {
        let e = |e| self.error(e);
        let same_earlier: bool = self
            .conn()
            .query_row(
                "SELECT count(*) FROM rounds later JOIN rounds earlier
                    ON earlier.survey_id = later.survey_id AND earlier.round = later.previous_round
                 WHERE later.survey_id = ?1 AND later.round = ?2 AND later.previous_round = ?3
                   AND later.previous_metrics_sha256 = earlier.metrics_sha256",
                params![row.survey_id, row.round, earlier_round],
                |r| r.get::<_, i64>(0),
            )
            .map_err(e)?
            > 0;
        if !same_earlier {
            return Ok(None);
        }
        let found: Option<(Option<f64>, String)> = self
            .conn()
            .query_row(
                "SELECT se, se_method FROM metric_changes
                  WHERE survey_id = ?1 AND round = ?2 AND previous_round = ?3 AND metric_id = ?4
                    AND statistic = ?5 AND level = ?6 AND segment_var = ?7 AND segment_value = ?8
                    AND status = 'comparable'",
                params![
                    row.survey_id,
                    row.round,
                    earlier_round,
                    row.metric_id,
                    row.statistic,
                    row.level,
                    row.segment_var,
                    row.segment_value
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(e)?;
        Ok(found.and_then(|(se, method)| se.map(|se| (se, method))))
    }
}

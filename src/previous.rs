//! An earlier round's output: its published metrics (`run --previous <OUTPUT_DIR>`, `compare`,
//! read from its `metrics/metrics.csv`), for `render`'s trend chart and table of changes and
//! for `compare`. Only metrics with the same id, version, statistic and
//! level are compared; a changed version is reported as not comparable.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::kernels::calibration::Calibration;
use crate::kernels::dist::pnorm_two_sided;
use crate::kernels::estimators::benjamini_hochberg;
use crate::kernels::panel::Round;
use crate::table::Table;

/// One published metric row of an earlier round.
#[derive(Debug, Clone)]
pub struct PreviousMetric {
    pub metric_id: String,
    pub metric_version: u32,
    pub statistic: String,
    pub level: String,
    pub segment_var: String,
    pub segment_value: String,
    pub estimate: Option<f64>,
    pub se: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// An earlier round's output, as far as the comparison needs it.
#[derive(Debug, Clone)]
pub struct PreviousRound {
    pub dir: PathBuf,
    pub survey_id: String,
    pub round: String,
    pub metrics: Vec<PreviousMetric>,
    /// The TLP its metrics are shared under (its `tlp` column), when it has one.
    pub tlp: Option<crate::spec::Tlp>,
}

impl PreviousRound {
    /// Read `<dir>/metrics/metrics.csv`; refuse another survey's output.
    pub fn read(dir: &Path, survey_id: &str) -> Result<PreviousRound> {
        let path = dir.join("metrics/metrics.csv");
        if !path.exists() {
            return Err(Error::input(
                dir.display().to_string(),
                "not a supplyrisk output folder: metrics/metrics.csv is missing (expected the output folder of an earlier `supplyrisk run`)",
            ));
        }
        let mut r = csv::Reader::from_path(&path)
            .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
        let head: Vec<String> = r
            .headers()
            .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let col = |name: &str| {
            head.iter().position(|h| h == name).ok_or_else(|| {
                Error::input(
                    path.display().to_string(),
                    format!("column `{name}` is missing"),
                )
            })
        };
        let c = [
            col("survey_id")?,
            col("round")?,
            col("metric_id")?,
            col("metric_version")?,
            col("statistic")?,
            col("level")?,
            col("segment_var")?,
            col("segment_value")?,
            col("estimate")?,
            col("se")?,
            col("ci_low")?,
            col("ci_high")?,
        ];
        let tlp_col = head.iter().position(|h| h == "tlp");
        let mut tlp: Option<crate::spec::Tlp> = None;
        let mut survey = String::new();
        let mut round = String::new();
        let mut metrics = Vec::new();
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| {
                Error::input(format!("{}, row {}", path.display(), i + 2), e.to_string())
            })?;
            let get = |k: usize| {
                rec.get(c[k])
                    .unwrap_or_default()
                    .trim_start_matches('\'')
                    .to_string()
            };
            let num = |k: usize| get(k).parse::<f64>().ok();
            survey = get(0);
            round = get(1);
            if let Some(row_tlp) = tlp_col
                .and_then(|k| rec.get(k))
                .and_then(crate::spec::Tlp::from_label)
            {
                tlp = tlp.max(Some(row_tlp));
            }
            metrics.push(PreviousMetric {
                metric_id: get(2),
                metric_version: get(3).parse().unwrap_or(0),
                statistic: get(4),
                level: get(5),
                segment_var: get(6),
                segment_value: get(7),
                estimate: num(8),
                se: num(9),
                ci_low: num(10),
                ci_high: num(11),
            });
        }
        if !survey.is_empty() && !survey_id.is_empty() && survey != survey_id {
            return Err(Error::input(
                path.display().to_string(),
                format!("this is survey `{survey}`, not `{survey_id}`: rounds of different surveys are not compared"),
            ));
        }
        Ok(PreviousRound {
            dir: dir.to_path_buf(),
            survey_id: survey,
            round,
            metrics,
            tlp,
        })
    }
}

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

fn key(m: &PreviousMetric) -> (&str, &str, &str, &str, &str) {
    (
        &m.metric_id,
        &m.statistic,
        &m.level,
        &m.segment_var,
        &m.segment_value,
    )
}

/// Every metric × level × segment of `b` (the later round) also published in `a`: the
/// difference B − A with its SE — the panel SE when `panel` has the series, else √(SE_A² +
/// SE_B²) — a normal CI at `z` and its two-sided p-value, Benjamini–Hochberg adjusted within
/// each metric. What `compare`,
/// and a run with `--previous` in `metrics/changes.csv`, publish.
pub fn changes(
    a: &[PreviousMetric],
    b: &[PreviousMetric],
    panel: Option<&Panel>,
    z: f64,
) -> Vec<Change> {
    let earlier: std::collections::HashMap<_, &PreviousMetric> =
        a.iter().map(|m| (key(m), m)).collect();
    let mut changes = Vec::new();
    for mb in b {
        // A model's odds ratio has no SE; its change is the coefficient's, on the log scale.
        if mb.statistic == "odds_ratio" {
            continue;
        }
        let Some(&ma) = earlier.get(&key(mb)) else {
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
            let from_panel = panel.and_then(|p| {
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
    changes
}

/// The changes as `comparison.csv` (and a `--previous` run's `metrics/changes.csv`) lay them
/// out. `tlp`: the stricter of the two rounds' labels, since every row shows both rounds.
pub fn changes_table(
    survey_id: &str,
    round_a: &str,
    round_b: &str,
    changes: &[Change],
    tlp: crate::spec::Tlp,
) -> Table {
    let mut t = Table::new();
    t.text("survey_id", changes.iter().map(|_| Some(survey_id)))
        .text("round_a", changes.iter().map(|_| Some(round_a)))
        .text("round_b", changes.iter().map(|_| Some(round_b)))
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
        .text("status", changes.iter().map(|c| Some(c.status)))
        .text("tlp", changes.iter().map(|_| Some(tlp.label())));
    t
}

/// One output's per-respondent series (`data/panel.csv`, written by every run): what a change
/// between two rounds that share organizations is estimated from.
#[derive(Debug, Clone, Default)]
pub struct PanelData {
    pub keys: Vec<Option<String>>,
    pub weights: Vec<f64>,
    /// Series column → value per respondent (NaN = not answered).
    pub series: std::collections::HashMap<String, Vec<f64>>,
    /// Segment variable → code per respondent.
    pub segments: std::collections::HashMap<String, Vec<Option<String>>>,
    /// The round's stratum label per respondent, when its design is stratified.
    pub strata: Option<Vec<String>>,
    /// The round's cluster (pseudonymous) per respondent, when its design has clusters.
    pub clusters: Option<Vec<String>>,
    /// The round's finite population correction 1 − f_h per respondent, when it has one.
    pub fpc: Option<Vec<f64>>,
    /// The round's calibration, rebuilt from its `calibration:` columns.
    pub calibration: Calibration,
}

/// A round's calibration as `data/panel.csv` columns (name, integer codes or weights), so a
/// later round can residualize this round's influence scores as its own SEs did:
/// post-stratification as `calibration:poststrat:cell|before|after`; raking as
/// `calibration:rake:<j>:code|weight` per margin (the final pass's weights before margin j);
/// linear/raking calibration as `calibration:greg:<j>:code` per margin and
/// `calibration:greg:pre|post`.
pub fn calibration_columns(cal: &Calibration) -> Vec<(String, CalibrationColumn)> {
    use CalibrationColumn::{Codes, Weights};
    let codes = |c: &[u32]| Codes(c.to_vec());
    let weights = |w: &[f64]| Weights(w.to_vec());
    match cal {
        Calibration::None => Vec::new(),
        Calibration::PostStrat {
            cells,
            before,
            after,
            ..
        } => vec![
            ("calibration:poststrat:cell".into(), codes(cells)),
            ("calibration:poststrat:before".into(), weights(before)),
            ("calibration:poststrat:after".into(), weights(after)),
        ],
        Calibration::Rake { margins, snapshots } => margins
            .iter()
            .zip(snapshots)
            .enumerate()
            .flat_map(|(j, ((c, _), w))| {
                [
                    (format!("calibration:rake:{j}:code"), codes(c)),
                    (format!("calibration:rake:{j}:weight"), weights(w)),
                ]
            })
            .collect(),
        Calibration::Greg(g) => {
            let (margins, pre, post) = (g.margins(), g.pre(), g.post());
            let mut out: Vec<(String, CalibrationColumn)> = margins
                .iter()
                .enumerate()
                .map(|(j, (c, _))| (format!("calibration:greg:{j}:code"), codes(c)))
                .collect();
            out.push(("calibration:greg:pre".into(), weights(pre)));
            out.push(("calibration:greg:post".into(), weights(post)));
            out
        }
    }
}

/// One column of [`calibration_columns`].
pub enum CalibrationColumn {
    Codes(Vec<u32>),
    Weights(Vec<f64>),
}

/// Rebuild a calibration from its columns (numbers by name); `None` when the columns are
/// incomplete or inconsistent (then the caller cannot claim the round's calibration).
fn calibration_from_columns(
    cols: &std::collections::HashMap<String, Vec<f64>>,
) -> Option<Calibration> {
    let codes = |name: &str| -> Option<(Vec<u32>, usize)> {
        let c: Vec<u32> = cols
            .get(name)?
            .iter()
            .map(|x| (x.is_finite() && *x >= 0.0 && x.fract() == 0.0).then_some(*x as u32))
            .collect::<Option<_>>()?;
        let k = c.iter().max().map_or(0, |m| *m as usize + 1);
        Some((c, k))
    };
    let weights = |name: &str| -> Option<Vec<f64>> {
        let w = cols.get(name)?;
        w.iter()
            .all(|x| x.is_finite() && *x > 0.0)
            .then(|| w.clone())
    };
    if cols.is_empty() {
        return Some(Calibration::None);
    }
    if cols.contains_key("calibration:poststrat:cell") {
        let (cells, n_cells) = codes("calibration:poststrat:cell")?;
        return Some(Calibration::PostStrat {
            cells,
            n_cells,
            before: weights("calibration:poststrat:before")?,
            after: weights("calibration:poststrat:after")?,
        });
    }
    let margins = |kind: &str| -> Option<Vec<(Vec<u32>, usize)>> {
        (0..)
            .map_while(|j| {
                let name = format!("calibration:{kind}:{j}:code");
                cols.contains_key(&name).then(|| codes(&name))
            })
            .collect()
    };
    if cols.contains_key("calibration:rake:0:code") {
        let margins = margins("rake")?;
        let snapshots = (0..margins.len())
            .map(|j| weights(&format!("calibration:rake:{j}:weight")))
            .collect::<Option<_>>()?;
        return Some(Calibration::Rake { margins, snapshots });
    }
    if cols.contains_key("calibration:greg:0:code") {
        let g = crate::kernels::greg::GregResidual::new(
            margins("greg")?,
            weights("calibration:greg:pre")?,
            weights("calibration:greg:post")?,
        )
        .ok()?;
        return Some(Calibration::Greg(g));
    }
    None
}

impl PanelData {
    /// Read `<dir>/data/panel.csv`; `Ok(None)` when the output has none (an older version).
    pub fn read(dir: &Path) -> Result<Option<PanelData>> {
        let path = dir.join("data/panel.csv");
        if !path.exists() {
            return Ok(None);
        }
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        PanelData::from_csv(std::io::BufReader::new(file), &path).map(Some)
    }

    /// Parse a `data/panel.csv` (`path` names it in errors).
    pub fn from_csv(input: impl std::io::Read, path: &Path) -> Result<PanelData> {
        let bad = |e: csv::Error| Error::input(path.display().to_string(), e.to_string());
        let mut r = csv::Reader::from_reader(input);
        let head: Vec<String> = r
            .headers()
            .map_err(bad)?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        for rec in r.records() {
            rows.push(rec.map_err(bad)?);
        }
        let column = |j: usize| rows.iter().map(move |x| x.get(j).unwrap_or_default());
        let mut data = PanelData::default();
        let mut calibration = std::collections::HashMap::new();
        for (j, name) in head.iter().enumerate() {
            if name.starts_with("calibration:") {
                calibration.insert(
                    name.clone(),
                    column(j).map(|v| v.parse().unwrap_or(f64::NAN)).collect(),
                );
            } else if name == "design:stratum" {
                data.strata = Some(column(j).map(str::to_string).collect());
            } else if name == "design:fpc" {
                data.fpc = Some(column(j).map(|v| v.parse().unwrap_or(1.0)).collect());
            } else if name == "design:cluster" {
                data.clusters = Some(column(j).map(str::to_string).collect());
            } else if name == "panel_key" {
                data.keys = column(j)
                    .map(|k| (!k.is_empty()).then(|| k.to_string()))
                    .collect();
            } else if name == "weight" {
                data.weights = column(j).map(|w| w.parse().unwrap_or(0.0)).collect();
            } else if let Some(var) = name.strip_prefix("segment:") {
                data.segments.insert(
                    var.to_string(),
                    column(j)
                        .map(|v| (!v.is_empty()).then(|| v.to_string()))
                        .collect(),
                );
            } else {
                data.series.insert(
                    name.clone(),
                    column(j).map(|v| v.parse().unwrap_or(f64::NAN)).collect(),
                );
            }
        }
        if data.keys.len() != rows.len() || data.weights.len() != rows.len() {
            return Err(Error::input(
                path.display().to_string(),
                "expected the columns panel_key and weight",
            ));
        }
        data.calibration = calibration_from_columns(&calibration).ok_or_else(|| {
            Error::input(
                path.display().to_string(),
                "the calibration: columns are incomplete or hold invalid codes or weights",
            )
        })?;
        Ok(data)
    }
}

/// Two rounds' panel data stacked (the organization as PSU), ready to estimate changes.
pub struct Panel {
    a: PanelData,
    b: PanelData,
    stacked: crate::kernels::panel::Stacked,
}

impl Panel {
    /// Stack round A on round B; `None` when the keys are missing or no organization is in
    /// both rounds (then the rounds are independent samples).
    pub fn new(a: PanelData, b: PanelData) -> Option<Panel> {
        if a.keys.iter().chain(&b.keys).any(Option::is_none) {
            return None;
        }
        let ka: Vec<&str> = a.keys.iter().flatten().map(String::as_str).collect();
        let kb: Vec<&str> = b.keys.iter().flatten().map(String::as_str).collect();
        fn labels(v: &Option<Vec<String>>) -> Option<Vec<&str>> {
            v.as_ref().map(|v| v.iter().map(String::as_str).collect())
        }
        let (sa, sb): (Option<Vec<&str>>, Option<Vec<&str>>) =
            (labels(&a.strata), labels(&b.strata));
        let (ca, cb): (Option<Vec<&str>>, Option<Vec<&str>>) =
            (labels(&a.clusters), labels(&b.clusters));
        fn round<'a>(
            keys: &'a [&'a str],
            d: &'a PanelData,
            strata: Option<&'a [&'a str]>,
            clusters: Option<&'a [&'a str]>,
        ) -> Round<'a, &'a str> {
            Round {
                keys,
                weights: &d.weights,
                strata,
                clusters,
                fpc: d.fpc.as_deref(),
                calibration: d.calibration.clone(),
            }
        }
        let stacked = crate::kernels::panel::stack(
            round(&ka, &a, sa.as_deref(), ca.as_deref()),
            round(&kb, &b, sb.as_deref(), cb.as_deref()),
        )
        .ok()?;
        (stacked.overlap > 0).then_some(Panel { a, b, stacked })
    }

    /// Organizations in both rounds, and in each.
    pub fn overlap(&self) -> (usize, usize, usize) {
        let distinct =
            |k: &[Option<String>]| k.iter().collect::<std::collections::HashSet<_>>().len();
        (
            self.stacked.overlap,
            distinct(&self.a.keys),
            distinct(&self.b.keys),
        )
    }

    /// The change B − A of one published series and segment, with its panel SE; `None` when
    /// either round lacks the series or the segment variable (a cross, a renamed level).
    pub fn change(
        &self,
        metric_id: &str,
        version: u32,
        statistic: &str,
        level: &str,
        segment_var: &str,
        segment_value: &str,
    ) -> Option<crate::kernels::panel::PanelChange> {
        if !matches!(statistic, "mean" | "proportion") {
            return None;
        }
        let name = format!("{metric_id}@{version}|{statistic}|{level}");
        let (ya, yb) = (self.a.series.get(&name)?, self.b.series.get(&name)?);
        let y: Vec<f64> = ya.iter().chain(yb).copied().collect();
        let domain: Option<Vec<bool>> = if segment_var == "all" {
            None
        } else {
            let (sa, sb) = (
                self.a.segments.get(segment_var)?,
                self.b.segments.get(segment_var)?,
            );
            Some(
                sa.iter()
                    .chain(sb)
                    .map(|v| v.as_deref() == Some(segment_value))
                    .collect(),
            )
        };
        let c = self.stacked.mean_change(&y, domain.as_deref());
        (c.se.is_finite() && c.difference.is_finite()).then_some(c)
    }
}

//! An earlier round's output: its published metrics (`run --previous <OUTPUT_DIR>`, `compare`,
//! read from its `metrics/metrics.csv`), for `render`'s trend chart and table of changes and
//! for `compare`. Only metrics with the same id, version, statistic and
//! level are compared; a changed version is reported as not comparable.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

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
        })
    }
}

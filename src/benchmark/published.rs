//! The published tables a benchmark reads, as written in the output folder: nothing here holds
//! a number the published outputs withhold (a withheld cell is `None`).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::spec::Spec;

/// One published number with its interval and base.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub estimate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: Option<i64>,
    pub suppressed: bool,
}

/// (metric or table key, statistic, level, segment_var, segment_value).
type Key = (String, String, String, String, String);

/// The published tables of one output folder.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// `tables/estimates.csv`.
    pub estimates: HashMap<Key, Cell>,
    /// `tables/distributions.csv` rows of `risk_index` over all organizations: (bin_low,
    /// bin_high, share).
    pub risk_bins: Vec<(f64, f64, Option<f64>)>,
    /// `tables/concentration.csv`: (category, segment_var, segment_value) → (label, dependency share).
    pub categories: HashMap<(String, String, String), (String, Cell)>,
    /// `tables/supplier_dependency.csv`: (supplier label, segment_var, segment_value) → share.
    pub suppliers: HashMap<(String, String, String), Cell>,
    /// Published supplier labels that are single points of failure (overall rows).
    pub single_points: Vec<String>,
}

/// A CSV's rows as column → text, with the spreadsheet formula guard (`'` before `=`, `+`,
/// `-`, `@`, tab, CR) taken off text cells.
pub fn read_rows(path: &Path) -> Result<Vec<HashMap<String, String>>> {
    let mut r = csv::Reader::from_path(path)
        .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
    let head: Vec<String> = r
        .headers()
        .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| {
            Error::input(format!("{}, row {}", path.display(), i + 2), e.to_string())
        })?;
        out.push(
            head.iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.clone(), unguard(v).to_string()))
                .collect(),
        );
    }
    Ok(out)
}

fn unguard(v: &str) -> &str {
    match v.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => v,
    }
}

fn num(r: &HashMap<String, String>, k: &str) -> Option<f64> {
    r.get(k)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|x| x.is_finite())
}

fn text(r: &HashMap<String, String>, k: &str) -> String {
    r.get(k).cloned().unwrap_or_default()
}

fn cell(r: &HashMap<String, String>, estimate: &str, prefix: &str) -> Cell {
    let suppressed = r.get("suppressed").is_some_and(|s| s == "true");
    let get = |k: &str| {
        if suppressed {
            None
        } else {
            num(r, &format!("{prefix}{k}"))
        }
    };
    Cell {
        estimate: if suppressed { None } else { num(r, estimate) },
        ci_low: get("ci_low"),
        ci_high: get("ci_high"),
        n: if suppressed {
            None
        } else {
            r.get("n").and_then(|v| v.parse().ok())
        },
        suppressed: suppressed || num(r, estimate).is_none(),
    }
}

impl Published {
    /// Read the published tables of `out_dir`.
    pub fn read(out_dir: &Path, _spec: &Spec) -> Result<Published> {
        let mut p = Published::default();
        for r in read_rows(&out_dir.join("tables/estimates.csv"))? {
            p.estimates.insert(
                (
                    text(&r, "metric_id"),
                    text(&r, "statistic"),
                    text(&r, "level"),
                    text(&r, "segment_var"),
                    text(&r, "segment_value"),
                ),
                cell(&r, "estimate", ""),
            );
        }
        let dist = out_dir.join("tables/distributions.csv");
        if dist.is_file() {
            for r in read_rows(&dist)? {
                if text(&r, "variable") == crate::spec::RISK_INDEX
                    && text(&r, "segment_var") == crate::estimate::ALL
                {
                    if let (Some(lo), Some(hi)) = (num(&r, "bin_low"), num(&r, "bin_high")) {
                        let c = cell(&r, "share", "");
                        p.risk_bins.push((lo, hi, c.estimate));
                    }
                }
            }
        }
        let conc = out_dir.join("tables/concentration.csv");
        if conc.is_file() {
            for r in read_rows(&conc)? {
                // A withheld share is blank; its flag says why.
                let mut c = cell(&r, "dependency_share", "dependency_share_");
                c.suppressed = c.estimate.is_none();
                p.categories.insert(
                    (
                        text(&r, "category"),
                        text(&r, "segment_var"),
                        text(&r, "segment_value"),
                    ),
                    (text(&r, "category_label"), c),
                );
            }
        }
        let dep = out_dir.join("tables/supplier_dependency.csv");
        if dep.is_file() {
            for r in read_rows(&dep)? {
                let label = text(&r, "supplier");
                if text(&r, "segment_var") == crate::estimate::ALL
                    && text(&r, "single_point_of_failure") == "true"
                {
                    p.single_points.push(label.clone());
                }
                p.suppliers.insert(
                    (label, text(&r, "segment_var"), text(&r, "segment_value")),
                    cell(&r, "share", ""),
                );
            }
        }
        Ok(p)
    }

    /// A published estimate (None when the table has no such row).
    pub fn estimate(
        &self,
        metric_id: &str,
        statistic: &str,
        level: &str,
        segment: &(String, String),
    ) -> Option<&Cell> {
        self.estimates.get(&(
            metric_id.to_string(),
            statistic.to_string(),
            level.to_string(),
            segment.0.clone(),
            segment.1.clone(),
        ))
    }
}

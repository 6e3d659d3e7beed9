//! The metric catalog and its lock file: a metric's definition may not change under the same
//! version. `<survey id>.metrics.lock.json`, kept beside the survey's round folders, records
//! every (id, version) ever locked with the definition it had; `validate` and `run` refuse a
//! spec whose metric differs from its locked definition at the same version, and
//! `supplyrisk metrics lock` adds new versions (docs/metrics.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{LoadedSpec, Metric, MetricKind, ModelFamily, ModelSpec, Spec};
use crate::error::{Error, Result};

/// The fields that define what a metric measures (not its presentation).
pub fn definition(m: &Metric) -> BTreeMap<String, String> {
    let kind = match m.kind {
        MetricKind::Proportion => "proportion",
        MetricKind::Distribution => "distribution",
        MetricKind::Mean => "mean",
        MetricKind::Total => "total",
        MetricKind::Quantile => "quantile",
        MetricKind::Ratio => "ratio",
        MetricKind::Concentration => "concentration",
    };
    let mut d = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        d.insert(k.to_string(), v);
    };
    put("title", m.title.clone());
    put("kind", kind.to_string());
    put("variable", m.variable.clone());
    put("levels", m.levels.join("|"));
    put(
        "probs",
        m.probs
            .iter()
            .map(|p| format!("{p}"))
            .collect::<Vec<_>>()
            .join("|"),
    );
    put("denominator", m.denominator.clone().unwrap_or_default());
    put("unit", m.unit.clone().unwrap_or_default());
    put("csf", m.csf.clone().unwrap_or_default());
    put("definition", m.definition.clone());
    put("population", m.population.clone().unwrap_or_default());
    d
}

/// A model's metric's definition: what it measures is the model itself.
pub fn model_definition(model: &ModelSpec) -> BTreeMap<String, String> {
    let metric = model.metric.as_ref();
    let field = |f: fn(&super::ModelMetric) -> Option<&String>| {
        metric.and_then(f).cloned().unwrap_or_default()
    };
    let mut d = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        d.insert(k.to_string(), v);
    };
    put("title", field(|m| Some(&m.title)));
    put("kind", "model".to_string());
    put("variable", model.response.clone());
    put("levels", model.levels.join("|"));
    put(
        "family",
        match model.family {
            ModelFamily::Gaussian => "gaussian",
            ModelFamily::Quasibinomial => "quasibinomial",
        }
        .to_string(),
    );
    put("predictors", model.predictors.join("|"));
    put(
        "reference",
        model
            .reference
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("|"),
    );
    put("csf", field(|m| m.csf.as_ref()));
    put("definition", field(|m| Some(&m.definition)));
    put("population", field(|m| m.population.as_ref()));
    d
}

/// One entry of the metric catalog: a `[[metrics]]` entry, or a model's `[models.metric]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub id: &'a str,
    pub version: u32,
    pub title: &'a str,
    pub variable: &'a str,
    pub definition: BTreeMap<String, String>,
}

/// The round's catalog: its metrics, then its models' metrics, in spec order.
pub fn entries(spec: &Spec) -> Vec<Entry<'_>> {
    let metrics = spec.metrics.iter().map(|m| Entry {
        id: &m.id,
        version: m.version,
        title: &m.title,
        variable: &m.variable,
        definition: definition(m),
    });
    let models = spec.models.iter().filter_map(|model| {
        let m = model.metric.as_ref()?;
        Some(Entry {
            id: &m.id,
            version: m.version,
            title: &m.title,
            variable: &model.response,
            definition: model_definition(model),
        })
    });
    metrics.chain(models).collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockEntry {
    pub id: String,
    pub version: u32,
    pub definition: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Lock {
    pub survey_id: String,
    pub metrics: Vec<LockEntry>,
}

/// Where the survey's lock file lives: beside the round folders.
pub fn lock_path(spec: &LoadedSpec) -> PathBuf {
    lock_dir(&spec.dir).join(format!("{}.metrics.lock.json", spec.spec.survey.id))
}

/// The folder holding a round folder, as a path to show: `surveys/x` → `surveys`, `x` → `.`,
/// `.` (run inside the round) → `..`.
fn lock_dir(round: &std::path::Path) -> PathBuf {
    use std::path::Component;
    match round.components().next_back() {
        Some(Component::Normal(_)) => match round.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
        None => PathBuf::from(".."),
        Some(_) => round.join(".."),
    }
}

pub fn read_lock(spec: &LoadedSpec) -> Result<Option<Lock>> {
    let path = lock_path(spec);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::input(
            path.display().to_string(),
            format!("not a metrics lock file: {e}"),
        )
    })
}

/// A metric's standing against the lock.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Locked,
    /// This (id, version) is not in the lock yet.
    New,
    /// Locked with another definition: the fields that differ (field, locked, now).
    Changed(Vec<(String, String, String)>),
}

pub fn status(lock: Option<&Lock>, m: &Entry<'_>) -> Status {
    let Some(entry) = lock.and_then(|l| {
        l.metrics
            .iter()
            .find(|e| e.id == m.id && e.version == m.version)
    }) else {
        return Status::New;
    };
    let now = &m.definition;
    let mut diff = Vec::new();
    for key in entry.definition.keys().chain(now.keys()) {
        let (a, b) = (entry.definition.get(key), now.get(key));
        if a != b
            && !diff
                .iter()
                .any(|(k, _, _): &(String, String, String)| k == key)
        {
            diff.push((
                key.clone(),
                a.cloned().unwrap_or_default(),
                b.cloned().unwrap_or_default(),
            ));
        }
    }
    if diff.is_empty() {
        Status::Locked
    } else {
        Status::Changed(diff)
    }
}

/// Problems with the spec's metrics against the lock: each changed definition, by metric.
pub fn check(spec: &LoadedSpec) -> Result<Vec<String>> {
    let lock = read_lock(spec)?;
    let mut out = Vec::new();
    for m in entries(&spec.spec) {
        if let Status::Changed(diff) = status(lock.as_ref(), &m) {
            let fields: Vec<String> = diff.iter().map(|(k, _, _)| format!("`{k}`")).collect();
            out.push(format!(
                "metric {} version {}: {} changed since it was locked in {} — a changed definition needs a new version (set version = {})",
                m.id,
                m.version,
                fields.join(", "),
                lock_path(spec).display(),
                lock.as_ref().map_or(m.version + 1, |l| l
                    .metrics
                    .iter()
                    .filter(|e| e.id == m.id)
                    .map(|e| e.version)
                    .max()
                    .unwrap_or(m.version)
                    + 1)
            ));
        }
    }
    Ok(out)
}

/// Add the spec's new (id, version) entries to the lock; refuse changed definitions. Returns
/// the entries added.
pub fn update(spec: &LoadedSpec) -> Result<Vec<LockEntry>> {
    let problems = check(spec)?;
    if !problems.is_empty() {
        return Err(Error::Usage(problems.join("\n")));
    }
    let mut lock = read_lock(spec)?.unwrap_or_else(|| Lock {
        survey_id: spec.spec.survey.id.clone(),
        metrics: Vec::new(),
    });
    let mut added = Vec::new();
    for m in entries(&spec.spec) {
        if status(Some(&lock), &m) == Status::New {
            let e = LockEntry {
                id: m.id.to_string(),
                version: m.version,
                definition: m.definition,
            };
            lock.metrics.push(e.clone());
            added.push(e);
        }
    }
    lock.metrics
        .sort_by(|a, b| a.id.cmp(&b.id).then(a.version.cmp(&b.version)));
    let path = lock_path(spec);
    let text = serde_json::to_string_pretty(&lock).map_err(|e| Error::output(&path, e))?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::lock_dir;
    use std::path::{Path, PathBuf};

    #[test]
    fn the_lock_sits_beside_the_round_folder_however_it_is_named() {
        for (round, dir) in [
            ("surveys/example-2024", "surveys"),
            ("surveys/example-2024/", "surveys"),
            ("example-2024", "."),
            ("/data/rounds/2024", "/data/rounds"),
            (".", "./.."),
            ("", ".."),
            ("..", "../.."),
        ] {
            assert_eq!(lock_dir(Path::new(round)), PathBuf::from(dir), "{round}");
        }
    }
}

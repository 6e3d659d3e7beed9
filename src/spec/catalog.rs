//! The metric catalog and its lock file: a metric's definition may not change under the same
//! version. `<survey id>.metrics.lock.json`, kept beside the survey's round folders, records
//! every (id, version) ever locked with the definition it had; `validate` and `run` refuse a
//! spec whose metric differs from its locked definition at the same version, and
//! `supplyrisk metrics lock` adds new versions (docs/metrics.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{LoadedSpec, Metric, MetricKind};
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
    let parent = spec
        .dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from(".."), PathBuf::from);
    parent.join(format!("{}.metrics.lock.json", spec.spec.survey.id))
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

pub fn status(lock: Option<&Lock>, m: &Metric) -> Status {
    let Some(entry) = lock.and_then(|l| {
        l.metrics
            .iter()
            .find(|e| e.id == m.id && e.version == m.version)
    }) else {
        return Status::New;
    };
    let now = definition(m);
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
    for m in &spec.spec.metrics {
        if let Status::Changed(diff) = status(lock.as_ref(), m) {
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
    for m in &spec.spec.metrics {
        if status(Some(&lock), m) == Status::New {
            let e = LockEntry {
                id: m.id.clone(),
                version: m.version,
                definition: definition(m),
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

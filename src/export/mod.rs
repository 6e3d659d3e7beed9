//! Export: the clearinghouse metrics (`metrics/metrics.{csv,parquet,json}`, long format, with
//! suppression exactly as in the published tables) and `manifest.json` — the versions, input and
//! output hashes and resolved settings needed to rerun a round and check the result.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::ingest::{sha256_file, sha256_hex};
use crate::previous::PreviousMetric;
use crate::published::{PublishedTables, RunResult};
use crate::table::Table;

/// One row of the metrics export.
struct MetricLine<'a> {
    metric_id: &'a str,
    metric_version: u32,
    statistic: &'static str,
    level: String,
    segment_var: &'a str,
    segment_value: &'a str,
    estimate: f64,
    se: f64,
    ci_low: f64,
    ci_high: f64,
    ci_method: &'static str,
    n: usize,
    n_eff: f64,
    flag: &'a str,
    suppressed: bool,
}

/// The metrics export's rows: every estimate, then the coefficients of each model that declares
/// a `[models.metric]` (and, for a logistic model, their odds ratios), over all organizations.
fn metric_lines(r: &RunResult) -> Vec<MetricLine<'_>> {
    let mut out: Vec<MetricLine<'_>> = r
        .estimates
        .iter()
        .map(|e| MetricLine {
            metric_id: &e.metric_id,
            metric_version: e.metric_version,
            statistic: e.statistic,
            level: e.level.clone(),
            segment_var: &e.segment_var,
            segment_value: &e.segment_value,
            estimate: e.estimate,
            se: e.se,
            ci_low: e.ci_low,
            ci_high: e.ci_high,
            ci_method: e.ci_method,
            n: e.n,
            n_eff: e.n_eff,
            flag: &e.flag,
            suppressed: e.suppressed,
        })
        .collect();
    for model in &r.spec.spec.models {
        let Some(metric) = &model.metric else {
            continue;
        };
        let coefficients = r
            .models
            .iter()
            .filter(|x| x.model_id == model.id && x.row == "coefficient");
        for x in coefficients {
            let level = if x.level.is_empty() {
                x.term.clone()
            } else {
                format!("{}={}", x.term, x.level)
            };
            let line = |statistic, estimate, se, ci_low, ci_high| MetricLine {
                metric_id: &metric.id,
                metric_version: metric.version,
                statistic,
                level: level.clone(),
                segment_var: crate::estimate::ALL,
                segment_value: "",
                estimate,
                se,
                ci_low,
                ci_high,
                ci_method: "wald_t",
                n: x.n,
                n_eff: f64::NAN,
                flag: &x.flag,
                suppressed: x.suppressed,
            };
            out.push(line("coefficient", x.estimate, x.se, x.ci_low, x.ci_high));
            if x.family == "quasibinomial" {
                out.push(line(
                    "odds_ratio",
                    x.odds_ratio,
                    f64::NAN,
                    x.odds_ratio_low,
                    x.odds_ratio_high,
                ));
            }
        }
    }
    out
}

/// The metrics export as a table (suppressed rows keep their identity, lose their numbers).
pub fn metrics_table(r: &RunResult) -> Table {
    let s = &r.spec.spec;
    let e = metric_lines(r);
    let shown = |x: &MetricLine<'_>, v: f64| (!x.suppressed && v.is_finite()).then_some(v);
    let mut t = Table::new();
    t.text("survey_id", e.iter().map(|_| Some(s.survey.id.clone())))
        .text("round", e.iter().map(|_| Some(s.survey.round.clone())))
        .text("metric_id", e.iter().map(|x| Some(x.metric_id.to_string())))
        .int(
            "metric_version",
            e.iter().map(|x| Some(i64::from(x.metric_version))),
        )
        .text("statistic", e.iter().map(|x| Some(x.statistic)))
        .text("level", e.iter().map(|x| Some(x.level.clone())))
        .text(
            "segment_var",
            e.iter().map(|x| Some(x.segment_var.to_string())),
        )
        .text(
            "segment_value",
            e.iter().map(|x| Some(x.segment_value.to_string())),
        )
        .float("estimate", e.iter().map(|x| shown(x, x.estimate)))
        .float("se", e.iter().map(|x| shown(x, x.se)))
        .float("ci_low", e.iter().map(|x| shown(x, x.ci_low)))
        .float("ci_high", e.iter().map(|x| shown(x, x.ci_high)))
        .text("ci_method", e.iter().map(|x| Some(x.ci_method)))
        .int("n", e.iter().map(|x| (!x.suppressed).then_some(x.n as i64)))
        .float("n_eff", e.iter().map(|x| shown(x, x.n_eff)))
        .text("flag", e.iter().map(|x| Some(x.flag.to_string())))
        .boolean("suppressed", e.iter().map(|x| Some(x.suppressed)))
        .text(
            "tlp",
            e.iter().map(|_| Some(s.survey.tlp.label().to_string())),
        );
    t
}

/// A table's rows as JSON objects: text as strings, numbers as numbers, blank as `null`.
fn rows_json(table: &Table) -> Vec<Value> {
    (0..table.height())
        .map(|i| {
            let mut obj = serde_json::Map::new();
            for (name, values) in &table.columns {
                let v = match values {
                    crate::table::Values::Text(_) | crate::table::Values::Codes { .. } => values
                        .text_at(i)
                        .map_or(Value::Null, |x| Value::String(x.to_string())),
                    crate::table::Values::Float(x) => Some(x[i])
                        .filter(|f| f.is_finite())
                        .map_or(Value::Null, |f| json!(f)),
                    crate::table::Values::Int(x) => x[i].map_or(Value::Null, |f| json!(f)),
                    crate::table::Values::Bool(x) => x[i].map_or(Value::Null, Value::Bool),
                };
                obj.insert(name.clone(), v);
            }
            Value::Object(obj)
        })
        .collect()
}

/// With `--previous`: every metric row published in both rounds with its change since the
/// earlier round — the panel SE when the rounds share organizations — as `supplyrisk compare`
/// lays it out (`metrics/changes.csv`).
fn round_changes(r: &RunResult) -> Option<Table> {
    let prev = r.previous.as_ref()?;
    let s = &r.spec.spec;
    let shown = |x: &MetricLine<'_>, v: f64| (!x.suppressed && v.is_finite()).then_some(v);
    let now: Vec<PreviousMetric> = metric_lines(r)
        .iter()
        .map(|x| PreviousMetric {
            metric_id: x.metric_id.to_string(),
            metric_version: x.metric_version,
            statistic: x.statistic.to_string(),
            level: x.level.clone(),
            segment_var: x.segment_var.to_string(),
            segment_value: x.segment_value.to_string(),
            estimate: shown(x, x.estimate),
            se: shown(x, x.se),
            ci_low: shown(x, x.ci_low),
            ci_high: shown(x, x.ci_high),
        })
        .collect();
    let z = crate::kernels::dist::qnorm(0.5 + s.publication.ci_level / 2.0).unwrap_or(f64::NAN);
    let changes = crate::previous::changes(&prev.metrics, &now, r.panel.as_ref(), z);
    // Each row shows the earlier round's estimate too: the stricter of the two labels.
    let tlp = prev
        .tlp
        .map_or(crate::spec::Tlp::Red, |t| t.max(s.survey.tlp));
    Some(crate::previous::changes_table(
        &s.survey.id,
        &prev.round,
        &s.survey.round,
        &changes,
        tlp,
    ))
}

fn metrics_json(r: &RunResult, table: &Table, changes: Option<&Table>) -> Value {
    let s = &r.spec.spec;
    let names = table.names();
    let rows = rows_json(table);
    let catalog: Vec<Value> = s
        .metrics
        .iter()
        .map(|m| {
            json!({
                "id": m.id, "version": m.version, "title": m.title, "kind": format!("{:?}", m.kind).to_lowercase(),
                "variable": m.variable, "levels": m.levels, "probs": m.probs, "unit": m.unit, "csf": m.csf,
                "definition": m.definition, "population": m.population,
            })
        })
        .chain(s.models.iter().filter_map(|model| {
            let m = model.metric.as_ref()?;
            Some(json!({
                "id": m.id, "version": m.version, "title": m.title, "kind": "model",
                "variable": model.response, "levels": model.levels,
                "family": crate::spec::catalog::model_definition(model)["family"],
                "predictors": model.predictors, "reference": model.reference,
                "csf": m.csf, "definition": m.definition, "population": m.population,
            }))
        }))
        .collect();
    json!({
        "survey_id": s.survey.id,
        "round": s.survey.round,
        "tlp": s.survey.tlp.label(),
        "columns": names,
        "metrics": catalog,
        // Each metric's definition as the catalog lock records it (docs/metrics.md): what the
        // clearinghouse store checks a metric id and version against.
        "definitions": crate::spec::catalog::entries(s)
            .into_iter()
            .map(|m| json!({"id": m.id, "version": m.version, "definition": m.definition}))
            .collect::<Vec<_>>(),
        "estimates": rows,
        "changes": changes.map(rows_json),
    })
}

/// One table of the data package.
struct Resource<'a> {
    name: &'a str,
    path: &'a str,
    title: &'a str,
    table: &'a Table,
    key: &'a [&'a str],
}

/// `datapackage.json`: a Frictionless Data Package describing every published CSV table — field
/// types, descriptions, primary keys — so the measurement group can load and validate them
/// with standard tools. Key columns hold no missing values: an empty text key (the `level` of
/// a mean, the `segment_value` of `all`) is a value there, not a missing one.
fn datapackage(r: &RunResult, resources: &[Resource<'_>]) -> Value {
    let s = &r.spec.spec;
    let slug = |x: &str| {
        x.to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
    };
    let res: Vec<Value> = resources
        .iter()
        .map(|res| {
            let fields: Vec<Value> = res
                .table
                .columns
                .iter()
                .map(|(name, values)| {
                    let kind = match values {
                        crate::table::Values::Text(_) | crate::table::Values::Codes { .. } => {
                            "string"
                        }
                        crate::table::Values::Float(_) => "number",
                        crate::table::Values::Int(_) => "integer",
                        crate::table::Values::Bool(_) => "boolean",
                    };
                    let mut f = json!({
                        "name": name,
                        "type": kind,
                        "description": crate::published::column_meaning(res.name, name),
                    });
                    if res.key.contains(&name.as_str()) {
                        // Frictionless v2 field-level missing values: none for key columns.
                        f["missingValues"] = json!([]);
                    }
                    f
                })
                .collect();
            json!({
                "name": res.name,
                "path": res.path,
                "title": res.title,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": fields,
                    "primaryKey": res.key,
                    "missingValues": [""],
                },
            })
        })
        .collect();
    json!({
        "name": slug(&format!("{}-{}", s.survey.id, s.survey.round)),
        "title": format!("{} — round {}", s.survey.title, s.survey.round),
        "description": format!("Published tables of supplyrisk for survey {} round {}, shared under {}. Suppressed numbers are blank; see docs/output.md.", s.survey.id, s.survey.round, s.survey.tlp.label()),
        "version": env!("CARGO_PKG_VERSION"),
        "keywords": ["supply chain", "cybersecurity", "health sector", "survey"],
        "resources": res,
    })
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(v).map_err(|e| Error::output(path, e))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Files under `dir`, relative, sorted.
fn list_files(dir: &Path, base: &Path, out: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            list_files(&p, base, out)?;
        } else if let Ok(rel) = p.strip_prefix(base) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// Whether an output may be shared beyond the task group. Respondent-level data, the cleaning
/// log (raw typed values) and the weighting diagnostics (respondent counts per weighting cell,
/// small ones included) are internal.
pub fn publishable(rel: &str) -> bool {
    !(rel.starts_with("data/")
        || rel == "tables/cleaning_log.csv"
        || rel == "tables/supplier_matches.csv"
        || rel == "tables/disclosure_audit.csv"
        || rel.starts_with("tables/weighting."))
}

fn manifest(r: &RunResult) -> Result<Value> {
    let s = &r.spec.spec;
    let mut inputs = vec![json!({
        "path": "survey.toml", "role": "spec", "bytes": r.spec.text.len(), "sha256": sha256_hex(r.spec.text.as_bytes()),
    })];
    inputs.push(json!({
        "path": r.population.file, "role": "population", "bytes": r.population.bytes, "sha256": r.population.sha256,
    }));
    if let Some(c) = &s.concentration {
        // The alias table decides which supplier each typed name counts for.
        let p = r.spec.dir.join(&c.aliases);
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        inputs.push(json!({
            "path": c.aliases, "role": "aliases", "bytes": bytes.len(), "sha256": sha256_hex(&bytes),
        }));
    }
    if let Some(folder) = &s.report.templates {
        // A round's own templates shape report.html and summary.md: recorded like any input.
        let dir = r.spec.dir.join(folder);
        for rel in crate::render::templates::folder_files(&dir) {
            let p = dir.join(&rel);
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            inputs.push(json!({
                "path": std::path::Path::new(folder).join(&rel).to_string_lossy(), "role": "template",
                "bytes": bytes.len(), "sha256": sha256_hex(&bytes),
            }));
        }
    }
    for src in &r.sources {
        inputs.push(json!({
            "path": src.file, "role": "responses", "bytes": src.bytes, "sha256": src.sha256,
            "layout": format!("{:?}", src.layout).to_lowercase(), "sheet": src.sheet, "encoding": src.encoding,
            "delimiter": src.delimiter.map(|d| d.to_string()), "rows": src.rows_read,
        }));
    }
    if let Some(prev) = &r.previous {
        let p = prev.dir.join("metrics/metrics.csv");
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        inputs.push(json!({
            "path": p.to_string_lossy(), "role": "previous", "bytes": bytes.len(), "sha256": sha256_hex(&bytes),
        }));
        // The earlier round's respondents, when its changes used the panel SE.
        if r.panel.is_some() {
            let p = prev.dir.join("data/panel.csv");
            let (len, sha256) = sha256_file(&p).map_err(|e| Error::io(&p, e))?;
            inputs.push(json!({
                "path": p.to_string_lossy(), "role": "previous_panel", "bytes": len, "sha256": sha256,
            }));
        }
    }
    let mut files = Vec::new();
    list_files(&r.out_dir, &r.out_dir, &mut files)?;
    // Hashed on all cores (a large round's respondent-level files are hundreds of MB), listed
    // in path order.
    let hashed: Vec<Result<(u64, String)>> = {
        use rayon::prelude::*;
        files
            .par_iter()
            .filter(|f| *f != "manifest.json")
            .map(|rel| {
                let p = r.out_dir.join(rel);
                sha256_file(&p).map_err(|e| Error::io(&p, e))
            })
            .collect()
    };
    let mut outputs = Vec::new();
    for (rel, hashed) in files.iter().filter(|f| *f != "manifest.json").zip(hashed) {
        let (len, sha256) = hashed?;
        outputs.push(
            json!({"path": rel, "bytes": len, "sha256": sha256, "publishable": publishable(rel)}),
        );
    }
    let mut excluded: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, v) in &r.cleaned.log.excluded {
        excluded.insert(k, *v);
    }
    Ok(json!({
        "supplyrisk": {
            "version": env!("CARGO_PKG_VERSION"),
            "git_commit": option_env!("SUPPLYRISK_GIT_COMMIT").unwrap_or("unknown"),
        },
        "survey": {"id": s.survey.id, "round": s.survey.round, "title": s.survey.title, "tlp": s.survey.tlp.label()},
        "round_dir": r.spec.dir.to_string_lossy(),
        "spec_sha256": sha256_hex(r.spec.text.as_bytes()),
        "inputs": inputs,
        "settings": {
            "weighting": {
                "method_requested": format!("{:?}", s.weighting.method).to_lowercase(),
                "method_used": r.weighted.method,
                "note": r.weighted.note,
                "variables": s.weighting.variables,
                "tolerance": s.weighting.tolerance,
                "max_iterations": s.weighting.rake_passes(),
                "stop": format!("{:?}", s.weighting.stop).to_lowercase(),
                "epsilon": s.weighting.epsilon,
                "passes": r.weighted.passes,
                "converged": r.weighted.converged,
                "max_rel_error": r.weighted.max_rel_error,
                "trim": r.weighted.trim.as_ref().map(|t| json!({
                    "lower": if t.lower.is_finite() { json!(t.lower) } else { serde_json::Value::Null },
                    "upper": if t.upper.is_finite() { json!(t.upper) } else { serde_json::Value::Null },
                    "n_trimmed": t.n_trimmed,
                    "n_outside_after": t.n_outside_after,
                    "rounds": t.rounds,
                    "settled": t.settled,
                })),
            },
            "design": {
                "strata": s.design.strata,
                "cluster": s.design.cluster,
                "fpc": r.weighted.fpc,
                "variance": format!("{:?}", s.design.variance).to_lowercase(),
                "replicates": r.weighted.replicates.as_ref().map(|x| x.weights.len()),
                "bootstrap_seed": (s.design.variance == crate::spec::VarianceMethod::Bootstrap).then_some(s.design.seed),
            },
            "ci_level": s.publication.ci_level,
            "disclosure": r.disclosure.manifest(),
            "seeds": {},
        },
        "counts": {
            "rows_read": r.cleaned.rows_read(),
            "kept": r.records().len(),
            "quarantined": r.cleaned.quarantine.len(),
            "excluded_by_reason": excluded,
            "estimates": r.estimates.len(),
        },
        "quality_gates": {"passed": r.failed_gates.is_empty(), "failed": r.failed_gates},
        "design_warnings": r.weighted.design_notes,
        "outputs": outputs,
    }))
}

/// The primary key of a table with one row per metric row (estimates, metrics, changes).
const METRIC_ROW_KEY: &[&str] = &[
    "metric_id",
    "statistic",
    "level",
    "segment_var",
    "segment_value",
];

pub fn write_all(r: &RunResult, published: &PublishedTables) -> Result<()> {
    let dir = r.out_dir.join("metrics");
    let table = &published.metrics;
    table.write_both(&dir, "metrics")?;
    let changes = round_changes(r);
    if let Some(c) = &changes {
        c.write_csv(&dir.join("changes.csv"))?;
    }
    write_json(
        &dir.join("metrics.json"),
        &metrics_json(r, table, changes.as_ref()),
    )?;
    let mut resources = vec![
        Resource {
            name: "estimates",
            path: "tables/estimates.csv",
            title: "Every metric for every segment",
            table: &published.estimates,
            key: METRIC_ROW_KEY,
        },
        Resource {
            name: "comparisons",
            path: "tables/comparisons.csv",
            title: "Segments against the rest of the sector; Rao–Scott tests",
            table: &published.comparisons,
            key: &["metric_id", "test", "level", "segment_var", "segment_value"],
        },
        Resource {
            name: "distributions",
            path: "tables/distributions.csv",
            title: "Weighted histograms per segment",
            table: &published.distributions,
            key: &["variable", "segment_var", "segment_value", "bin_low"],
        },
        Resource {
            name: "weight_summary",
            path: "tables/weight_summary.csv",
            title: "Final weights per segment",
            table: &published.weight_summary,
            key: &["segment_var", "segment_value"],
        },
        Resource {
            name: "metrics",
            path: "metrics/metrics.csv",
            title: "Clearinghouse metrics (long format)",
            table,
            key: METRIC_ROW_KEY,
        },
    ];
    if let Some(changes) = &changes {
        resources.push(Resource {
            name: "changes",
            path: "metrics/changes.csv",
            title: "Change of every metric since the earlier round (run --previous)",
            table: changes,
            key: METRIC_ROW_KEY,
        });
    }
    if let Some(models) = &published.models {
        resources.push(Resource {
            name: "models",
            path: "tables/models.csv",
            title: "Design-based regressions: coefficients and Wald tests of each factor",
            table: models,
            key: &["model_id", "row", "term", "level"],
        });
    }
    if let Some((by_category, dependency)) = &published.concentration {
        resources.push(Resource {
            name: "concentration",
            path: "tables/concentration.csv",
            title: "Supplier concentration per category and segment",
            table: by_category,
            key: &["category", "segment_var", "segment_value"],
        });
        resources.push(Resource {
            name: "supplier_dependency",
            path: "tables/supplier_dependency.csv",
            title: "Weighted share of organizations naming each published supplier",
            table: dependency,
            key: &["supplier", "segment_var", "segment_value"],
        });
    }
    write_json(
        &r.out_dir.join("datapackage.json"),
        &datapackage(r, &resources),
    )?;
    // The manifest last: it hashes every other output.
    let m = manifest(r)?;
    write_json(&r.out_dir.join("manifest.json"), &m)
}

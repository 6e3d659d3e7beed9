//! `clearinghouse export --out DIR`: the whole store as a Frictionless Data Package — one CSV per
//! table (rows in primary-key order) and `datapackage.json` with each field's type and meaning,
//! the primary keys and the foreign keys between the tables.

use std::path::Path;

use serde_json::{json, Value};

use super::{Store, DATA_TABLES};
use crate::error::{Error, Result};
use crate::table::{Table, Values};

/// A column of a store table as `PRAGMA table_info` declares it.
struct Column {
    name: String,
    kind: String,
    /// Position in the primary key (0 = not in it).
    pk: i64,
}

/// Write every table of the store into `dir`; returns the files written, relative to `dir`.
pub fn export(store: &Store, dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let e = |e| store.error(e);
    let mut resources = Vec::new();
    let mut written = Vec::new();
    for table in DATA_TABLES.iter().copied().chain(["audit"]) {
        let mut stmt = store
            .conn()
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(e)?;
        let columns: Vec<Column> = stmt
            .query_map([], |r| {
                Ok(Column {
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    pk: r.get(5)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(e)?;
        let mut key: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
        key.sort_by_key(|c| c.pk);
        let key: Vec<&str> = key.iter().map(|c| c.name.as_str()).collect();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY {}",
            names.join(", "),
            key.join(", ")
        );
        let mut stmt = store.conn().prepare(&sql).map_err(e)?;
        let mut cells: Vec<Vec<rusqlite::types::Value>> = Vec::new();
        let mut rows = stmt.query([]).map_err(e)?;
        while let Some(row) = rows.next().map_err(e)? {
            cells.push(
                (0..columns.len())
                    .map(|i| row.get(i))
                    .collect::<rusqlite::Result<_>>()
                    .map_err(e)?,
            );
        }
        let t = to_table(&columns, &cells);
        let file = format!("{table}.csv");
        t.write_csv(&dir.join(&file))?;
        written.push(file.clone());
        let fields: Vec<Value> = columns
            .iter()
            .map(|c| {
                let mut f = json!({
                    "name": c.name,
                    "type": frictionless_type(&c.kind),
                    "description": describe(table, &c.name),
                });
                if c.pk > 0 {
                    f["missingValues"] = json!([]);
                }
                f
            })
            .collect();
        let mut schema = json!({
            "fields": fields,
            "primaryKey": key,
            "missingValues": [""],
        });
        let foreign = foreign_keys(table);
        if !foreign.is_empty() {
            schema["foreignKeys"] = Value::Array(foreign);
        }
        resources.push(json!({
            "name": table,
            "path": file,
            "title": title(table),
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": schema,
        }));
    }
    let package = json!({
        "name": "supplyrisk-clearinghouse",
        "title": "supplyrisk clearinghouse store",
        "description": "Published metrics of every survey round in the store, with their definitions, provenance and changes between rounds. Suppressed numbers are blank; each row keeps its round's TLP label (docs/metrics.md).",
        "version": env!("CARGO_PKG_VERSION"),
        "keywords": ["supply chain", "cybersecurity", "health sector", "survey", "metrics"],
        "resources": resources,
    });
    let path = dir.join("datapackage.json");
    let mut text = serde_json::to_string_pretty(&package).map_err(|e| Error::output(&path, e))?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    written.push("datapackage.json".into());
    Ok(written)
}

fn frictionless_type(sql: &str) -> &'static str {
    match sql {
        "INTEGER" => "integer",
        "REAL" => "number",
        "BOOLEAN" => "boolean",
        _ => "string",
    }
}

fn to_table(columns: &[Column], cells: &[Vec<rusqlite::types::Value>]) -> Table {
    use rusqlite::types::Value as V;
    let mut t = Table::new();
    for (i, c) in columns.iter().enumerate() {
        let at = cells.iter().map(move |row| &row[i]);
        let values = match frictionless_type(&c.kind) {
            "integer" => Values::Int(
                at.map(|v| match v {
                    V::Integer(x) => Some(*x),
                    _ => None,
                })
                .collect(),
            ),
            "number" => Values::Float(
                at.map(|v| match v {
                    V::Real(x) => *x,
                    V::Integer(x) => *x as f64,
                    _ => f64::NAN,
                })
                .collect(),
            ),
            "boolean" => Values::Bool(
                at.map(|v| match v {
                    V::Integer(x) => Some(*x != 0),
                    _ => None,
                })
                .collect(),
            ),
            _ => Values::Text(
                at.map(|v| match v {
                    V::Text(x) => Some(x.clone()),
                    V::Integer(x) => Some(x.to_string()),
                    V::Real(x) => Some(x.to_string()),
                    _ => None,
                })
                .collect(),
            ),
        };
        t.push(&c.name, values);
    }
    t
}

fn title(table: &str) -> &'static str {
    match table {
        "surveys" => "Surveys held",
        "rounds" => "Rounds held, with the provenance of each output",
        "metric_definitions" => "Metric definitions as locked, one per id and version",
        "metric_values" => "Published metric values of every round (suppressed numbers blank)",
        "metric_changes" => "Changes published by rounds run against an earlier round",
        "replacements" => "Outputs replaced with --replace",
        _ => "When each output was added (the only wall-clock times)",
    }
}

fn foreign_keys(table: &str) -> Vec<Value> {
    let round = json!({
        "fields": ["survey_id", "round"],
        "reference": {"resource": "rounds", "fields": ["survey_id", "round"]},
    });
    match table {
        "rounds" => vec![json!({
            "fields": ["survey_id"],
            "reference": {"resource": "surveys", "fields": ["survey_id"]},
        })],
        "metric_values" => vec![
            round,
            json!({
                "fields": ["metric_id", "metric_version"],
                "reference": {"resource": "metric_definitions", "fields": ["metric_id", "metric_version"]},
            }),
        ],
        "metric_changes" => vec![round],
        _ => Vec::new(),
    }
}

/// What a column of the store means (docs/metrics.md has the same, with examples).
pub fn describe(table: &str, column: &str) -> &'static str {
    match (table, column) {
        ("surveys", "title") => "the survey's title, from its most recently added round",
        ("rounds", "title") => "the round's survey title",
        ("rounds", "tlp") | ("metric_values", "tlp") | ("metric_changes", "tlp") => {
            "the Traffic Light Protocol label the round is shared under"
        }
        ("rounds", "manifest_sha256") | ("audit", "manifest_sha256") => {
            "SHA-256 of the output folder's manifest.json: which output this is"
        }
        ("rounds", "metrics_sha256") => "SHA-256 of the output's metrics/metrics.csv",
        ("rounds", "spec_sha256") => "SHA-256 of the round's survey.toml",
        ("rounds", "supplyrisk_version") => "the supplyrisk version that wrote the output",
        ("rounds", "supplyrisk_commit") => "the git commit of that supplyrisk build",
        ("rounds", "respondents") => "responses kept after cleaning",
        ("rounds", "weighting") => "the weighting method used",
        ("rounds", "previous_round") => {
            "the earlier round the output was run against (--previous), if any"
        }
        ("rounds", "previous_metrics_sha256") => {
            "SHA-256 of that earlier round's metrics/metrics.csv: its changes' SEs apply to that output"
        }
        ("metric_definitions", "title") => "the metric's title",
        ("metric_definitions", "kind") => "proportion, distribution, mean, total, quantile, ratio, concentration or model",
        ("metric_definitions", "definition") => {
            "every field of the locked definition as a JSON object (the catalog lock's form)"
        }
        ("metric_definitions", "first_survey_id") | ("metric_definitions", "first_round") => {
            "the round it was first loaded from"
        }
        ("metric_changes", "round") => "the later round, which published the change",
        ("metric_changes", "previous_round") => "the earlier round",
        ("metric_changes", "previous_version") => "the metric's version in the earlier round",
        ("metric_changes", "difference") => "the later round's estimate minus the earlier's",
        ("metric_changes", "se") => {
            "SE of the difference: the panel SE when organizations answered both rounds, else independent"
        }
        ("metric_changes", "se_method") => "panel or independent",
        ("metric_changes", "se_independent") => "the SE if the rounds were independent samples",
        ("metric_changes", "status") => "comparable, suppressed or version_changed",
        ("replacements", "seq") | ("audit", "seq") => "order of the event",
        ("replacements", "replaced_manifest_sha256") => "the manifest SHA-256 of the output replaced",
        ("replacements", "replaced_supplyrisk_version") => "the supplyrisk version of the output replaced",
        ("replacements", "replaced_spec_sha256") => "the survey.toml SHA-256 of the output replaced",
        ("replacements", "replaced_values") => "metric rows removed with it",
        ("replacements", "by_manifest_sha256") => "the manifest SHA-256 of the output that replaced it",
        ("audit", "action") => "added or replaced",
        ("audit", "folder") => "the output folder as given to `clearinghouse add`",
        ("audit", "added_at") => "when (UTC; SOURCE_DATE_EPOCH when set)",
        (_, "suppressed") => "true = the row's numbers are withheld by disclosure control and blank",
        (_, c) => crate::published::column_meaning("metrics", c),
    }
}

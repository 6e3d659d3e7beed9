//! The clearinghouse store: the published metrics of many rounds and surveys in one SQLite file
//! (`supplyrisk clearinghouse add|list|series|export`, docs/metrics.md "The clearinghouse
//! store"). `add` checks an output folder against its manifest, then loads what the folder
//! publishes in `metrics/metrics.json` — the metric rows, the locked definitions and, for a
//! round run with `--previous`, its changes — with the manifest's provenance. Nothing from
//! `data/` and no identifying column ever enters. A definition is fixed once stored: the same
//! metric id and version with other fields is refused. The data tables hold no wall-clock time,
//! so the same outputs added in the same order give the same rows; `added_at` lives in `audit`.

mod package;
mod series;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;

use crate::error::{Error, Result};

pub use package::export;
pub use series::{Series, SeriesRow};

/// `PRAGMA user_version` of the schema below; a store of another version is refused.
pub const SCHEMA_VERSION: i64 = 1;

/// The store's tables (docs/metrics.md documents every column).
pub const SCHEMA: &str = "
CREATE TABLE surveys (
    survey_id TEXT PRIMARY KEY,
    title TEXT NOT NULL
);
CREATE TABLE rounds (
    survey_id TEXT NOT NULL REFERENCES surveys (survey_id),
    round TEXT NOT NULL,
    title TEXT NOT NULL,
    tlp TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    metrics_sha256 TEXT NOT NULL,
    spec_sha256 TEXT NOT NULL,
    supplyrisk_version TEXT NOT NULL,
    supplyrisk_commit TEXT NOT NULL,
    respondents INTEGER NOT NULL,
    weighting TEXT NOT NULL,
    previous_round TEXT,
    previous_metrics_sha256 TEXT,
    PRIMARY KEY (survey_id, round)
);
CREATE TABLE metric_definitions (
    metric_id TEXT NOT NULL,
    metric_version INTEGER NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    definition TEXT NOT NULL,
    first_survey_id TEXT NOT NULL,
    first_round TEXT NOT NULL,
    PRIMARY KEY (metric_id, metric_version)
);
CREATE TABLE metric_values (
    survey_id TEXT NOT NULL,
    round TEXT NOT NULL,
    metric_id TEXT NOT NULL,
    metric_version INTEGER NOT NULL,
    statistic TEXT NOT NULL,
    level TEXT NOT NULL,
    segment_var TEXT NOT NULL,
    segment_value TEXT NOT NULL,
    estimate REAL,
    se REAL,
    ci_low REAL,
    ci_high REAL,
    ci_method TEXT NOT NULL,
    n INTEGER,
    n_eff REAL,
    flag TEXT NOT NULL,
    suppressed BOOLEAN NOT NULL CHECK (suppressed IN (0, 1)),
    tlp TEXT NOT NULL,
    PRIMARY KEY (survey_id, round, metric_id, statistic, level, segment_var, segment_value),
    FOREIGN KEY (survey_id, round) REFERENCES rounds (survey_id, round),
    FOREIGN KEY (metric_id, metric_version) REFERENCES metric_definitions (metric_id, metric_version),
    CHECK (suppressed = 0 OR (estimate IS NULL AND se IS NULL AND ci_low IS NULL
        AND ci_high IS NULL AND n IS NULL AND n_eff IS NULL))
);
CREATE TABLE metric_changes (
    survey_id TEXT NOT NULL,
    round TEXT NOT NULL,
    previous_round TEXT NOT NULL,
    metric_id TEXT NOT NULL,
    previous_version INTEGER NOT NULL,
    metric_version INTEGER NOT NULL,
    statistic TEXT NOT NULL,
    level TEXT NOT NULL,
    segment_var TEXT NOT NULL,
    segment_value TEXT NOT NULL,
    difference REAL,
    se REAL,
    se_method TEXT NOT NULL,
    se_independent REAL,
    status TEXT NOT NULL,
    tlp TEXT NOT NULL,
    PRIMARY KEY (survey_id, round, metric_id, statistic, level, segment_var, segment_value),
    FOREIGN KEY (survey_id, round) REFERENCES rounds (survey_id, round)
);
CREATE TABLE replacements (
    seq INTEGER PRIMARY KEY,
    survey_id TEXT NOT NULL,
    round TEXT NOT NULL,
    replaced_manifest_sha256 TEXT NOT NULL,
    replaced_supplyrisk_version TEXT NOT NULL,
    replaced_spec_sha256 TEXT NOT NULL,
    replaced_values INTEGER NOT NULL,
    by_manifest_sha256 TEXT NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    survey_id TEXT NOT NULL,
    round TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    folder TEXT NOT NULL,
    added_at TEXT NOT NULL
);
";

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What adding one output folder did.
#[derive(Debug, Clone, PartialEq)]
pub enum Added {
    /// A round new to the store, with its number of metric rows.
    New { values: usize },
    /// The store already held exactly this output: nothing changed.
    Unchanged,
    /// `--replace`: the round's earlier output (its manifest SHA-256) gave way to this one.
    Replaced { values: usize, replaced: String },
}

/// One output folder's outcome.
#[derive(Debug, Clone)]
pub struct AddReport {
    pub folder: PathBuf,
    pub survey_id: String,
    pub round: String,
    pub added: Added,
}

/// What the store holds (`clearinghouse list`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Holdings {
    pub rounds: Vec<HeldRound>,
    pub definitions: Vec<HeldDefinition>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HeldRound {
    pub survey_id: String,
    pub round: String,
    pub tlp: String,
    pub respondents: i64,
    pub values: i64,
    pub supplyrisk_version: String,
    pub manifest_sha256: String,
    pub previous_round: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HeldDefinition {
    pub metric_id: String,
    pub metric_version: i64,
    pub title: String,
    pub kind: String,
    /// `survey round` of every round holding values of this version.
    pub rounds: Vec<String>,
}

/// A published output folder as the store reads it.
struct Output {
    folder: PathBuf,
    manifest_sha256: String,
    survey_id: String,
    round: String,
    title: String,
    tlp: String,
    metrics_sha256: String,
    spec_sha256: String,
    version: String,
    commit: String,
    respondents: i64,
    weighting: String,
    previous_metrics_sha256: Option<String>,
    definitions: Vec<(String, i64, BTreeMap<String, String>)>,
    values: Vec<Value>,
    changes: Vec<Value>,
}

fn sql_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::output(path, format!("the clearinghouse store: {e}"))
}

impl Store {
    /// Open the store at `path`, creating it (and its folder) with the schema when it does not
    /// exist; refuse a file that is not a store of this schema.
    pub fn open(path: &Path) -> Result<Store> {
        let fresh = !path.exists();
        if fresh {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
        }
        let conn = Connection::open(path).map_err(|e| sql_error(path, e))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store
            .conn
            .execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| store.error(e))?;
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| {
                Error::input(
                    path.display().to_string(),
                    format!("not a clearinghouse store ({e})"),
                )
            })?;
        if fresh || version == 0 {
            let tables: i64 = store
                .conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| store.error(e))?;
            if tables > 0 {
                return Err(Error::input(
                    path.display().to_string(),
                    "an SQLite file that is not a clearinghouse store (it has tables of its own); give another --store",
                ));
            }
            store
                .conn
                .execute_batch(&format!(
                    "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(|e| store.error(e))?;
        } else if version != SCHEMA_VERSION {
            return Err(Error::input(
                path.display().to_string(),
                format!("a clearinghouse store of schema version {version}; this supplyrisk reads version {SCHEMA_VERSION}"),
            ));
        }
        Ok(store)
    }

    /// Open an existing store (the read-only commands never create one).
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.is_file() {
            return Err(Error::input(
                path.display().to_string(),
                "no clearinghouse store here: `supplyrisk clearinghouse add <OUT_DIR>` creates it (or give --store)",
            ));
        }
        Store::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: rusqlite::Error) -> Error {
        sql_error(&self.path, e)
    }

    /// Add output folders in order, all or nothing: one refused folder adds none of them.
    /// `replace` lets a folder take the place of a different output of the same round.
    pub fn add(&mut self, folders: &[PathBuf], replace: bool) -> Result<Vec<AddReport>> {
        let outputs = folders
            .iter()
            .map(|f| read_output(f))
            .collect::<Result<Vec<_>>>()?;
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql_error(&path, e))?;
        let mut reports = Vec::new();
        for out in &outputs {
            let added = add_one(&tx, out, replace).map_err(|e| match e {
                AddError::Sql(e) => sql_error(&path, e),
                AddError::Refused(e) => e,
            })?;
            reports.push(AddReport {
                folder: out.folder.clone(),
                survey_id: out.survey_id.clone(),
                round: out.round.clone(),
                added,
            });
        }
        tx.commit().map_err(|e| sql_error(&path, e))?;
        Ok(reports)
    }

    /// Surveys, rounds and metric versions held, in order.
    pub fn list(&self) -> Result<Holdings> {
        let e = |e| self.error(e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.survey_id, r.round, r.tlp, r.respondents,
                        (SELECT count(*) FROM metric_values v
                          WHERE v.survey_id = r.survey_id AND v.round = r.round),
                        r.supplyrisk_version, r.manifest_sha256, r.previous_round
                   FROM rounds r",
            )
            .map_err(e)?;
        let mut rounds: Vec<HeldRound> = stmt
            .query_map([], |r| {
                Ok(HeldRound {
                    survey_id: r.get(0)?,
                    round: r.get(1)?,
                    tlp: r.get(2)?,
                    respondents: r.get(3)?,
                    values: r.get(4)?,
                    supplyrisk_version: r.get(5)?,
                    manifest_sha256: r.get(6)?,
                    previous_round: r.get(7)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(e)?;
        rounds.sort_by(|a, b| {
            (&a.survey_id, round_order(&a.round)).cmp(&(&b.survey_id, round_order(&b.round)))
        });
        let mut stmt = self
            .conn
            .prepare(
                "SELECT metric_id, metric_version, title, kind FROM metric_definitions
                  ORDER BY metric_id, metric_version",
            )
            .map_err(e)?;
        let mut definitions: Vec<HeldDefinition> = stmt
            .query_map([], |r| {
                Ok(HeldDefinition {
                    metric_id: r.get(0)?,
                    metric_version: r.get(1)?,
                    title: r.get(2)?,
                    kind: r.get(3)?,
                    rounds: Vec::new(),
                })
            })
            .and_then(Iterator::collect)
            .map_err(e)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT metric_id, metric_version, survey_id, round FROM metric_values",
            )
            .map_err(e)?;
        let held: Vec<(String, i64, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(Iterator::collect)
            .map_err(e)?;
        for d in &mut definitions {
            let mut of: Vec<&(String, i64, String, String)> = held
                .iter()
                .filter(|h| h.0 == d.metric_id && h.1 == d.metric_version)
                .collect();
            of.sort_by(|a, b| (&a.2, round_order(&a.3)).cmp(&(&b.2, round_order(&b.3))));
            d.rounds = of.iter().map(|h| format!("{} {}", h.2, h.3)).collect();
        }
        Ok(Holdings {
            rounds,
            definitions,
        })
    }

    /// Row counts of every data table (the audit table excluded), in schema order.
    pub fn counts(&self) -> Result<Vec<(&'static str, i64)>> {
        DATA_TABLES
            .iter()
            .map(|t| {
                self.conn
                    .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                    .map(|n| (*t, n))
                    .map_err(|e| self.error(e))
            })
            .collect()
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// The tables whose rows are the store's content (not `audit`), in schema order.
pub const DATA_TABLES: [&str; 6] = [
    "surveys",
    "rounds",
    "metric_definitions",
    "metric_values",
    "metric_changes",
    "replacements",
];

/// Rounds in their natural order: digit runs compare as numbers (`2`, `10`, `2024q1`).
pub fn round_order(round: &str) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    let mut chars = round.chars().peekable();
    while let Some(&c) = chars.peek() {
        let digit = c.is_ascii_digit();
        let mut run = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() != digit {
                break;
            }
            run.push(c);
            chars.next();
        }
        if digit {
            let trimmed = run.trim_start_matches('0');
            // Numbers compare by length first, then digits: no overflow for long runs.
            out.push((0, format!("{:0>40}", trimmed)));
        } else {
            out.push((1, run));
        }
    }
    out
}

enum AddError {
    Sql(rusqlite::Error),
    Refused(Error),
}

impl From<rusqlite::Error> for AddError {
    fn from(e: rusqlite::Error) -> Self {
        AddError::Sql(e)
    }
}

fn refused(folder: &Path, message: String) -> AddError {
    AddError::Refused(Error::input(
        folder.display().to_string(),
        format!("refused: {message}"),
    ))
}

fn add_one(
    tx: &Transaction<'_>,
    out: &Output,
    replace: bool,
) -> std::result::Result<Added, AddError> {
    let held: Option<(String, String, String)> = tx
        .query_row(
            "SELECT manifest_sha256, supplyrisk_version, spec_sha256 FROM rounds
              WHERE survey_id = ?1 AND round = ?2",
            params![out.survey_id, out.round],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((manifest, _, _)) = &held {
        if *manifest == out.manifest_sha256 {
            return Ok(Added::Unchanged);
        }
        if !replace {
            return Err(refused(
                &out.folder,
                format!(
                    "the store already holds another output of {} round {} (manifest SHA-256 {} there, {} here); add --replace to replace it (the replacement is recorded)",
                    out.survey_id,
                    out.round,
                    short(manifest),
                    short(&out.manifest_sha256)
                ),
            ));
        }
    }
    // Definitions: a stored id + version keeps its definition.
    for (id, version, definition) in &out.definitions {
        let stored: Option<(String, String, String)> = tx
            .query_row(
                "SELECT definition, first_survey_id, first_round FROM metric_definitions
                  WHERE metric_id = ?1 AND metric_version = ?2",
                params![id, version],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        match stored {
            None => {
                tx.execute(
                    "INSERT INTO metric_definitions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id,
                        version,
                        definition.get("title").cloned().unwrap_or_default(),
                        definition.get("kind").cloned().unwrap_or_default(),
                        definition_json(definition),
                        out.survey_id,
                        out.round
                    ],
                )?;
            }
            Some((text, first_survey, first_round)) => {
                let stored: BTreeMap<String, String> =
                    serde_json::from_str(&text).unwrap_or_default();
                let differ = differing_fields(&stored, definition);
                if !differ.is_empty() {
                    return Err(refused(
                        &out.folder,
                        format!(
                            "metric {id} version {version} is defined differently here than in the store (first loaded from {first_survey} round {first_round}): {} differ{}; a changed definition needs a new version (docs/metrics.md, Versioning rules)",
                            differ.join(", "),
                            if differ.len() == 1 { "s" } else { "" }
                        ),
                    ));
                }
            }
        }
    }
    let mut outcome = Added::New {
        values: out.values.len(),
    };
    if let Some((manifest, version, spec)) = held {
        let replaced_values: i64 = tx.query_row(
            "SELECT count(*) FROM metric_values WHERE survey_id = ?1 AND round = ?2",
            params![out.survey_id, out.round],
            |r| r.get(0),
        )?;
        for table in ["metric_changes", "metric_values", "rounds"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE survey_id = ?1 AND round = ?2"),
                params![out.survey_id, out.round],
            )?;
        }
        tx.execute(
            "INSERT INTO replacements (survey_id, round, replaced_manifest_sha256,
                 replaced_supplyrisk_version, replaced_spec_sha256, replaced_values, by_manifest_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![out.survey_id, out.round, manifest, version, spec, replaced_values, out.manifest_sha256],
        )?;
        outcome = Added::Replaced {
            values: out.values.len(),
            replaced: manifest,
        };
    }
    tx.execute(
        "INSERT INTO surveys VALUES (?1, ?2)
             ON CONFLICT (survey_id) DO UPDATE SET title = excluded.title",
        params![out.survey_id, out.title],
    )?;
    let previous_round = out
        .changes
        .first()
        .and_then(|c| c["round_a"].as_str())
        .map(str::to_string);
    tx.execute(
        "INSERT INTO rounds VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            out.survey_id,
            out.round,
            out.title,
            out.tlp,
            out.manifest_sha256,
            out.metrics_sha256,
            out.spec_sha256,
            out.version,
            out.commit,
            out.respondents,
            out.weighting,
            previous_round,
            previous_round
                .as_ref()
                .and(out.previous_metrics_sha256.as_ref()),
        ],
    )?;
    let mut insert = tx.prepare(
        "INSERT INTO metric_values VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?;
    for v in &out.values {
        let suppressed = v["suppressed"].as_bool().unwrap_or(true);
        // A withheld row keeps its identity and loses its numbers, whatever the file says.
        let num = |k: &str| if suppressed { None } else { v[k].as_f64() };
        insert.execute(params![
            out.survey_id,
            out.round,
            text(v, "metric_id"),
            v["metric_version"].as_i64(),
            text(v, "statistic"),
            text(v, "level"),
            text(v, "segment_var"),
            text(v, "segment_value"),
            num("estimate"),
            num("se"),
            num("ci_low"),
            num("ci_high"),
            text(v, "ci_method"),
            if suppressed { None } else { v["n"].as_i64() },
            num("n_eff"),
            text(v, "flag"),
            suppressed,
            out.tlp,
        ])?;
    }
    let mut insert = tx.prepare(
        "INSERT INTO metric_changes VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    for c in &out.changes {
        insert.execute(params![
            out.survey_id,
            out.round,
            text(c, "round_a"),
            text(c, "metric_id"),
            c["version_a"].as_i64(),
            c["version_b"].as_i64(),
            text(c, "statistic"),
            text(c, "level"),
            text(c, "segment_var"),
            text(c, "segment_value"),
            c["difference"].as_f64(),
            c["se"].as_f64(),
            text(c, "se_method"),
            c["se_independent"].as_f64(),
            text(c, "status"),
            // The stricter of the two rounds' labels, as the change row says.
            c["tlp"].as_str().unwrap_or(&out.tlp),
        ])?;
    }
    let added_at = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    tx.execute(
        "INSERT INTO audit (action, survey_id, round, manifest_sha256, folder, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, datetime(?6, 'unixepoch'))",
        params![
            if matches!(outcome, Added::Replaced { .. }) {
                "replaced"
            } else {
                "added"
            },
            out.survey_id,
            out.round,
            out.manifest_sha256,
            out.folder.display().to_string(),
            added_at
        ],
    )?;
    Ok(outcome)
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A definition as stored: its fields as a JSON object, keys in order.
fn definition_json(d: &BTreeMap<String, String>) -> String {
    serde_json::to_string(d).unwrap_or_default()
}

/// The fields whose values differ (or that only one side has), in name order.
fn differing_fields(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// What a field of a metrics.json row must hold.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    Text,
    Integer,
    OptionalInteger,
    OptionalNumber,
    Boolean,
}

const ESTIMATE_FIELDS: &[(&str, Field)] = &[
    ("metric_id", Field::Text),
    ("metric_version", Field::Integer),
    ("statistic", Field::Text),
    ("level", Field::Text),
    ("segment_var", Field::Text),
    ("segment_value", Field::Text),
    ("estimate", Field::OptionalNumber),
    ("se", Field::OptionalNumber),
    ("ci_low", Field::OptionalNumber),
    ("ci_high", Field::OptionalNumber),
    ("ci_method", Field::Text),
    ("n", Field::OptionalInteger),
    ("n_eff", Field::OptionalNumber),
    ("flag", Field::Text),
    ("suppressed", Field::Boolean),
];

const CHANGE_FIELDS: &[(&str, Field)] = &[
    ("round_a", Field::Text),
    ("metric_id", Field::Text),
    ("version_a", Field::Integer),
    ("version_b", Field::Integer),
    ("statistic", Field::Text),
    ("level", Field::Text),
    ("segment_var", Field::Text),
    ("segment_value", Field::Text),
    ("difference", Field::OptionalNumber),
    ("se", Field::OptionalNumber),
    ("se_method", Field::Text),
    ("se_independent", Field::OptionalNumber),
    ("status", Field::Text),
];

/// A row of metrics.json has every field the store needs, of its type.
fn check_row(v: &Value, fields: &[(&str, Field)]) -> std::result::Result<(), String> {
    for (name, kind) in fields {
        let x = &v[*name];
        let ok = match kind {
            Field::Text => x.is_string(),
            Field::Integer => x.is_i64(),
            Field::OptionalInteger => x.is_null() || x.is_i64(),
            Field::OptionalNumber => x.is_null() || x.is_number(),
            Field::Boolean => x.is_boolean(),
        };
        if !ok {
            let want = match kind {
                Field::Text => "text",
                Field::Integer => "an integer",
                Field::OptionalInteger => "an integer or null",
                Field::OptionalNumber => "a number or null",
                Field::Boolean => "true or false",
            };
            return Err(format!("`{name}` must be {want}, not {x}"));
        }
    }
    Ok(())
}

/// Read an output folder: intact against its manifest, with published metrics.
fn read_output(folder: &Path) -> Result<Output> {
    let checked = crate::verify::check_output(folder)?;
    let refuse =
        |message: String| Error::input(folder.display().to_string(), format!("refused: {message}"));
    if !checked.altered.is_empty() {
        return Err(refuse(format!(
            "the folder does not match its manifest.json, so it is not what supplyrisk wrote: {}",
            checked.altered.join("; ")
        )));
    }
    let m = &checked.manifest;
    let field = |v: &Value, what: &str| -> Result<String> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| refuse(format!("manifest.json has no `{what}`")))
    };
    let outputs = m["outputs"].as_array().cloned().unwrap_or_default();
    let output = |rel: &str| outputs.iter().find(|o| o["path"] == rel);
    let metrics_csv = output("metrics/metrics.csv")
        .ok_or_else(|| refuse("the manifest lists no metrics/metrics.csv".into()))?;
    let metrics_json = output("metrics/metrics.json")
        .ok_or_else(|| refuse("the manifest lists no metrics/metrics.json".into()))?;
    if metrics_json["publishable"] != Value::Bool(true) {
        return Err(refuse(
            "metrics/metrics.json is not marked publishable".into(),
        ));
    }
    let path = folder.join("metrics/metrics.json");
    let json = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let doc: Value = serde_json::from_str(&json)
        .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
    let survey_id = field(&m["survey"]["id"], "survey.id")?;
    let round = field(&m["survey"]["round"], "survey.round")?;
    if doc["survey_id"].as_str() != Some(&survey_id) || doc["round"].as_str() != Some(&round) {
        return Err(refuse(format!(
            "metrics/metrics.json is of another round than manifest.json ({survey_id} {round})"
        )));
    }
    let tlp = field(&m["survey"]["tlp"], "survey.tlp")?;
    if crate::spec::Tlp::from_label(&tlp).is_none() {
        return Err(refuse(format!(
            "manifest.json's TLP `{tlp}` is not a TLP 2.0 label"
        )));
    }
    let Some(definitions) = doc["definitions"].as_array() else {
        return Err(refuse(
            "metrics/metrics.json has no `definitions` (written by a supplyrisk before the clearinghouse store): run the round again with this version".into(),
        ));
    };
    let definitions: Vec<(String, i64, BTreeMap<String, String>)> = definitions
        .iter()
        .map(|d| {
            let definition: BTreeMap<String, String> =
                serde_json::from_value(d["definition"].clone()).unwrap_or_default();
            (
                text(d, "id"),
                d["version"].as_i64().unwrap_or(0),
                definition,
            )
        })
        .collect();
    let values = doc["estimates"].as_array().cloned().unwrap_or_default();
    for (i, v) in values.iter().enumerate() {
        check_row(v, ESTIMATE_FIELDS)
            .map_err(|e| refuse(format!("metrics/metrics.json estimates row {}: {e}", i + 1)))?;
        let id = text(v, "metric_id");
        let version = v["metric_version"].as_i64().unwrap_or(0);
        if !definitions.iter().any(|d| d.0 == id && d.1 == version) {
            return Err(refuse(format!(
                "metrics/metrics.json row {}: metric {id} version {version} has no definition in the file",
                i + 1
            )));
        }
    }
    let changes = doc["changes"].as_array().cloned().unwrap_or_default();
    for (i, c) in changes.iter().enumerate() {
        check_row(c, CHANGE_FIELDS)
            .map_err(|e| refuse(format!("metrics/metrics.json changes row {}: {e}", i + 1)))?;
    }
    let previous_metrics_sha256 = m["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["role"] == "previous")
        .and_then(|i| i["sha256"].as_str())
        .map(str::to_string);
    Ok(Output {
        folder: folder.to_path_buf(),
        manifest_sha256: checked.manifest_sha256,
        title: m["survey"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        metrics_sha256: field(
            &metrics_csv["sha256"],
            "outputs[metrics/metrics.csv].sha256",
        )?,
        spec_sha256: field(&m["spec_sha256"], "spec_sha256")?,
        version: field(&m["supplyrisk"]["version"], "supplyrisk.version")?,
        commit: m["supplyrisk"]["git_commit"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        respondents: m["counts"]["kept"].as_i64().unwrap_or(0),
        weighting: m["settings"]["weighting"]["method_used"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        previous_metrics_sha256,
        survey_id,
        round,
        tlp,
        definitions,
        values,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_sort_naturally() {
        let mut r = vec!["2024", "10", "2", "2023q10", "2023q2", "pilot", "2023"];
        r.sort_by_key(|x| round_order(x));
        assert_eq!(r, ["2", "10", "2023", "2023q2", "2023q10", "2024", "pilot"]);
    }

    #[test]
    fn differing_fields_names_changed_added_and_dropped() {
        let a: BTreeMap<String, String> = [("title", "x"), ("levels", "a"), ("unit", "u")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let b: BTreeMap<String, String> = [("title", "x"), ("levels", "a|b"), ("csf", "GV.SC-04")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        assert_eq!(differing_fields(&a, &b), ["csf", "levels", "unit"]);
        assert!(differing_fields(&a, &a).is_empty());
    }
}

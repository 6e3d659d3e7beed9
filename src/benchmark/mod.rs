//! `supplyrisk benchmark <OUT_DIR>`: one self-contained HTML page per responding organization —
//! its own risk index, tier, GV.SC maturities and answers beside its peers' and the sector's
//! published estimates (docs/output.md, "Benchmarks").
//!
//! Built so that a benchmark holds nothing but the organization's own record and published
//! numbers: [`published::Published`] reads only the published tables of the output folder, the
//! round is cleaned and scored again only to find each organization's own record (its key,
//! answers and scores, [`Own`]), and [`page`] builds a page from one `Own` and the published
//! tables — it is never given another organization's record.

mod page;
mod published;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::spec::Tlp;

pub use published::Published;

/// What `benchmark` is asked for.
#[derive(Debug, Clone)]
pub struct BenchmarkOptions {
    /// The output folder of a `supplyrisk run`.
    pub out_dir: PathBuf,
    /// Respondent keys (the spec's `respondent.key`); empty = every kept response.
    pub orgs: Vec<String>,
    /// Where to write (default `<out_dir>/data/benchmarks/`, listed in its manifest).
    pub dest: Option<PathBuf>,
    /// The round folder, when it is not where the manifest says.
    pub round: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct BenchmarkReport {
    pub dest: PathBuf,
    pub pages: usize,
    pub tlp: Tlp,
}

/// One organization's own record: what its page may show besides published numbers.
#[derive(Debug, Clone)]
pub struct Own {
    /// `R0001`…, as in `data/clean.csv` (the page's file name).
    pub respondent: String,
    /// The organization's key, for the index (never in the page's file name).
    pub key: String,
    /// Its code of each segment variable (`None` when unanswered).
    pub segments: Vec<(String, Option<String>)>,
    pub risk_index: Option<f64>,
    /// Index into the spec's tiers.
    pub tier: Option<usize>,
    /// Maturity 0–1 per domain, in spec order.
    pub maturity: Vec<(String, Option<f64>)>,
    /// Its answer code per single, Likert and yes/no question (`None`: unanswered or missing).
    pub answers: Vec<(String, Option<String>)>,
    /// The suppliers it named: (position, supplier, category, published label).
    pub suppliers: Vec<(usize, String, Option<String>, Option<String>)>,
}

/// A benchmark's TLP: the round's, but never more open than AMBER+STRICT (one organization's
/// answers are in it).
pub fn benchmark_tlp(round: Tlp) -> Tlp {
    round.max(Tlp::AmberStrict)
}

/// Write the benchmarks of the organizations asked for.
pub fn benchmark(opts: &BenchmarkOptions) -> Result<BenchmarkReport> {
    let out_dir = &opts.out_dir;
    let checked = crate::verify::check_output(out_dir)?;
    let refuse = |m: String| Error::input(out_dir.display().to_string(), m);
    let altered: Vec<&String> = checked
        .altered
        .iter()
        .filter(|a| !a.starts_with(BENCHMARKS))
        .collect();
    if !altered.is_empty() {
        return Err(refuse(format!(
            "the folder does not match its manifest.json: {}",
            altered
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    let m = &checked.manifest;
    let round_dir = opts
        .round
        .clone()
        .unwrap_or_else(|| PathBuf::from(m["round_dir"].as_str().unwrap_or_default()));
    // The round's own inputs: an earlier round given with --previous plays no part here.
    let mut own_inputs = m.clone();
    if let Some(inputs) = own_inputs["inputs"].as_array_mut() {
        inputs.retain(|i| !matches!(i["role"].as_str(), Some("previous" | "previous_panel")));
    }
    let (changed, _) = crate::verify::changed_inputs(&own_inputs, &round_dir);
    if !changed.is_empty() {
        return Err(refuse(format!(
            "the round's inputs are not those of this output, so its organizations' records would not be the ones published ({}); give the round folder with --round, or run the round again",
            changed.join("; ")
        )));
    }
    let spec = crate::spec::load(&round_dir)?;
    // A round that failed its quality gates says so on every page, as its report does.
    let gates: Vec<String> = m["quality_gates"]["failed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(str::to_string))
        .collect();
    let published = Published::read(out_dir, &spec.spec)?;
    let mut own = own_records(&spec, out_dir)?;
    if !opts.orgs.is_empty() {
        let wanted: BTreeSet<&str> = opts.orgs.iter().map(|k| k.trim()).collect();
        for k in &wanted {
            if !own.iter().any(|o| o.key == *k) {
                return Err(Error::input(
                    format!("--org {k}"),
                    "no kept response of this round has that key (a quarantined response has no benchmark: see data/quarantine.csv)",
                ));
            }
        }
        own.retain(|o| wanted.contains(o.key.as_str()));
    }
    let default_dest = out_dir.join(BENCHMARKS);
    let dest = opts.dest.clone().unwrap_or_else(|| default_dest.clone());
    if dest.exists() {
        if !dest.join(INDEX).is_file() {
            return Err(Error::input(
                dest.display().to_string(),
                "exists and is not a benchmark folder (no index.csv): give another --out",
            ));
        }
        std::fs::remove_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
    }
    std::fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
    let tlp = benchmark_tlp(spec.spec.survey.tlp);
    // The round's own template folder, if any (its benchmark.html replaces the built-in one).
    let folder = spec
        .spec
        .report
        .templates
        .as_ref()
        .map(|t| spec.dir.join(t));
    let env = crate::render::templates::environment(folder.clone());
    let mut index = crate::table::Table::new();
    let mut files = Vec::new();
    for o in &own {
        let ctx = page::context(&spec.spec, o, &published, tlp, &gates);
        let html = crate::render::templates::render(
            &env,
            "benchmark.html",
            &minijinja::Value::from(minijinja::value::Serde(&ctx)),
            folder.as_deref(),
        )?;
        let file = format!("{}.html", o.respondent);
        let p = dest.join(&file);
        std::fs::write(&p, html).map_err(|e| Error::io(&p, e))?;
        files.push(file);
    }
    index
        .text("respondent", own.iter().map(|o| Some(o.respondent.clone())))
        .text("key", own.iter().map(|o| Some(o.key.clone())))
        .text("file", files.iter().map(|f| Some(f.clone())));
    index.write_csv(&dest.join(INDEX))?;
    if dest == default_dest {
        record_in_manifest(out_dir, &dest)?;
    }
    Ok(BenchmarkReport {
        dest,
        pages: own.len(),
        tlp,
    })
}

/// Where benchmarks go inside an output folder (internal: under `data/`).
pub const BENCHMARKS: &str = "data/benchmarks";
const INDEX: &str = "index.csv";

/// Every kept organization's own record: the round cleaned and scored again (the same code and
/// inputs as the run, checked against the manifest), each record then taken apart on its own.
fn own_records(spec: &crate::spec::LoadedSpec, out_dir: &Path) -> Result<Vec<Own>> {
    let s = &spec.spec;
    let population = crate::weight::Population::read(spec)?;
    let sources = crate::ingest::read_all(spec)?;
    let cleaned = crate::clean::clean(spec, &sources, &population.frame())?;
    drop(sources);
    let scores = crate::score::score(s, &cleaned.records);
    let records = &cleaned.records;
    let ids = crate::pipeline::respondent_ids(records.len());
    let key_q = s.questions.iter().position(|q| q.id == s.respondent.key);
    let segment_vars: Vec<&String> = s.segments.variables.iter().collect();
    let closed: Vec<usize> = s
        .questions
        .iter()
        .enumerate()
        .filter(|(_, q)| {
            use crate::spec::QuestionType as T;
            matches!(q.kind, T::Single | T::Likert | T::Yesno)
        })
        .map(|(i, _)| i)
        .collect();
    let mentions = own_mentions(out_dir)?;
    let mut out = Vec::with_capacity(records.len());
    for (i, id) in ids.iter().enumerate() {
        let r = records.get(i);
        let text_of = |qi: usize| {
            let a = r.answer(qi);
            a.as_text()
                .map(str::to_string)
                .or_else(|| a.as_code().map(str::to_string))
                .or_else(|| a.as_number().map(|x| x.to_string()))
        };
        let code_of = |qi: usize| match r.answer(qi) {
            crate::clean::Answer::Code(_) => r.answer(qi).as_code().map(str::to_string),
            _ => None,
        };
        let key = key_q
            .and_then(text_of)
            .map(|k| k.trim().to_string())
            .unwrap_or_default();
        let segments = segment_vars
            .iter()
            .map(|v| {
                let qi = s.questions.iter().position(|q| &q.id == *v);
                ((*v).clone(), qi.and_then(code_of))
            })
            .collect();
        out.push(Own {
            respondent: id.clone(),
            key,
            segments,
            risk_index: scores.risk_index.get(i),
            tier: scores.tier[i].map(usize::from),
            maturity: scores
                .domains
                .iter()
                .zip(&scores.maturity)
                .map(|(d, col)| (d.clone(), col.get(i)))
                .collect(),
            answers: closed
                .iter()
                .map(|&qi| (s.questions[qi].id.clone(), code_of(qi)))
                .collect(),
            suppliers: mentions.get(id).cloned().unwrap_or_default(),
        });
    }
    Ok(out)
}

type Mention = (usize, String, Option<String>, Option<String>);

/// `data/supplier_mentions.csv` by respondent: each organization's own named suppliers and the
/// label each is published under (the file is absent without `[concentration]`).
fn own_mentions(out_dir: &Path) -> Result<std::collections::HashMap<String, Vec<Mention>>> {
    let path = out_dir.join("data/supplier_mentions.csv");
    let mut by: std::collections::HashMap<String, Vec<Mention>> = Default::default();
    if !path.is_file() {
        return Ok(by);
    }
    let rows = published::read_rows(&path)?;
    for r in rows {
        let get = |k: &str| r.get(k).cloned().filter(|v| !v.is_empty());
        let Some(respondent) = get("respondent") else {
            continue;
        };
        by.entry(respondent).or_default().push((
            get("position").and_then(|p| p.parse().ok()).unwrap_or(0),
            get("supplier").unwrap_or_default(),
            get("category"),
            get("published_as"),
        ));
    }
    Ok(by)
}

/// List the benchmarks in the output folder's manifest (internal, made by `benchmark`), so the
/// folder still checks against it; `verify` does not expect a re-run to make them.
fn record_in_manifest(out_dir: &Path, dest: &Path) -> Result<()> {
    let path = out_dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut m: Value = serde_json::from_str(&text)
        .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
    let mut outputs: Vec<Value> = m["outputs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o["made_by"] != "benchmark")
        .collect();
    let mut names: Vec<String> = std::fs::read_dir(dest)
        .map_err(|e| Error::io(dest, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    for name in names {
        let p = dest.join(&name);
        let (len, sha256) = crate::ingest::sha256_file(&p).map_err(|e| Error::io(&p, e))?;
        outputs.push(json!({
            "path": format!("{BENCHMARKS}/{name}"), "bytes": len, "sha256": sha256,
            "publishable": false, "made_by": "benchmark",
        }));
    }
    // In the run's order: a folder's entries sorted by name, component by component.
    let components = |o: &Value| {
        o["path"]
            .as_str()
            .unwrap_or_default()
            .split('/')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    outputs.sort_by_key(components);
    m["outputs"] = Value::Array(outputs);
    let mut text = serde_json::to_string_pretty(&m).map_err(|e| Error::output(&path, e))?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_benchmark_is_never_more_open_than_amber_strict() {
        for (round, page) in [
            (Tlp::Clear, Tlp::AmberStrict),
            (Tlp::Green, Tlp::AmberStrict),
            (Tlp::Amber, Tlp::AmberStrict),
            (Tlp::AmberStrict, Tlp::AmberStrict),
            (Tlp::Red, Tlp::Red),
        ] {
            assert_eq!(benchmark_tlp(round), page);
        }
    }
}

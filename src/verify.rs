//! `supplyrisk verify <OUT_DIR>`: is this output what its inputs and this version of
//! supplyrisk produce? Checks every input recorded in `manifest.json` against its hash, every
//! output file in the folder against its hash, then re-runs the round into a temporary folder
//! and compares every output byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::ingest::sha256_file;
use crate::pipeline::{run, RunOptions};

/// What `verify` found; empty lists mean the output is reproduced exactly.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub round_dir: PathBuf,
    /// Inputs whose bytes differ from the manifest (or are missing).
    pub changed_inputs: Vec<String>,
    /// Output files in the folder that differ from the manifest, are missing, or are extra.
    pub altered_outputs: Vec<String>,
    /// Outputs the re-run produced differently (or not at all, or additionally).
    pub not_reproduced: Vec<String>,
    pub outputs_checked: usize,
    /// The version that wrote the manifest, when it is not this one.
    pub version_note: Option<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.changed_inputs.is_empty()
            && self.altered_outputs.is_empty()
            && self.not_reproduced.is_empty()
    }
}

fn hashes(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o["path"].as_str()?.to_string(),
                o["sha256"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn files(dir: &Path) -> Result<Vec<String>> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let p = e.map_err(|e| Error::io(dir, e))?.path();
            if p.is_dir() {
                walk(&p, base, out)?;
            } else {
                let rel = p.strip_prefix(base).unwrap_or(&p);
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// An output folder read against its own `manifest.json`, without re-running anything: what
/// `clearinghouse add` checks before it loads a folder's metrics.
pub struct CheckedOutput {
    /// The manifest as written.
    pub manifest: Value,
    /// SHA-256 of `manifest.json` as the run wrote it: the output's identity.
    pub manifest_sha256: String,
    /// Files that differ from the manifest, are missing, or are not in it (empty: intact).
    pub altered: Vec<String>,
}

/// Read `out_dir/manifest.json` and check every file of the folder against it.
pub fn check_output(out_dir: &Path) -> Result<CheckedOutput> {
    let manifest_path = out_dir.join("manifest.json");
    let bytes = std::fs::read(&manifest_path).map_err(|e| {
        Error::input(
            manifest_path.display().to_string(),
            format!("not a supplyrisk output folder ({e})"),
        )
    })?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::input(manifest_path.display().to_string(), e.to_string()))?;
    let altered = altered_outputs(out_dir, &hashes(&manifest["outputs"]))?;
    Ok(CheckedOutput {
        manifest_sha256: run_manifest_sha256(&manifest, &bytes),
        manifest,
        altered,
    })
}

/// SHA-256 of the manifest as `run` wrote it: without the files `supplyrisk benchmark` listed
/// in it later (so benchmarking a round does not make it another output), else of its bytes.
fn run_manifest_sha256(manifest: &Value, bytes: &[u8]) -> String {
    let outputs = manifest["outputs"].as_array().cloned().unwrap_or_default();
    if !outputs.iter().any(|o| o["made_by"] == "benchmark") {
        return crate::ingest::sha256_hex(bytes);
    }
    let mut m = manifest.clone();
    m["outputs"] = Value::Array(
        outputs
            .into_iter()
            .filter(|o| o["made_by"] != "benchmark")
            .collect(),
    );
    let mut text = serde_json::to_string_pretty(&m).unwrap_or_default();
    text.push('\n');
    crate::ingest::sha256_hex(text.as_bytes())
}

/// The folder's files against the hashes its manifest records.
fn altered_outputs(out_dir: &Path, recorded: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut altered = Vec::new();
    let present = files(out_dir)?;
    for rel in &present {
        if rel == "manifest.json" {
            continue;
        }
        match recorded.get(rel) {
            None => altered.push(format!("{rel}: not in the manifest")),
            Some(want) => {
                let p = out_dir.join(rel);
                let (_, sha256) = sha256_file(&p).map_err(|e| Error::io(&p, e))?;
                if &sha256 != want {
                    altered.push(format!("{rel}: altered since the run"));
                }
            }
        }
    }
    for rel in recorded.keys() {
        if !present.contains(rel) {
            altered.push(format!("{rel}: missing"));
        }
    }
    Ok(altered)
}

/// The inputs `manifest` records whose bytes differ now (or are missing), read from the round
/// folder `round` (an earlier round's files as recorded); and the earlier round's output folder
/// when the run had `--previous`.
pub fn changed_inputs(m: &Value, round: &Path) -> (Vec<String>, Option<PathBuf>) {
    let mut changed = Vec::new();
    let mut previous: Option<PathBuf> = None;
    for input in m["inputs"].as_array().into_iter().flatten() {
        let rel = input["path"].as_str().unwrap_or_default();
        let want = input["sha256"].as_str().unwrap_or_default();
        let path = if input["role"] == "previous" {
            let p = PathBuf::from(rel);
            previous = p.parent().and_then(Path::parent).map(Path::to_path_buf);
            p
        } else if input["role"] == "previous_panel" {
            // The earlier round's data/panel.csv, recorded as given (like its metrics).
            PathBuf::from(rel)
        } else {
            round.join(rel)
        };
        match sha256_file(&path) {
            Ok((_, sha256)) if sha256 == want => {}
            Ok(_) => changed.push(format!("{}: changed since the run", path.display())),
            Err(_) => changed.push(format!("{}: missing", path.display())),
        }
    }
    (changed, previous)
}

/// Verify `out_dir`; `round_dir` overrides the round folder recorded in the manifest (for an
/// output verified from another working directory).
pub fn verify(out_dir: &Path, round_dir: Option<&Path>) -> Result<VerifyReport> {
    let manifest_path = out_dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        Error::input(
            manifest_path.display().to_string(),
            format!("not a supplyrisk output folder ({e})"),
        )
    })?;
    let m: Value = serde_json::from_str(&text)
        .map_err(|e| Error::input(manifest_path.display().to_string(), e.to_string()))?;
    let recorded_round = m["round_dir"].as_str().unwrap_or_default();
    let round = round_dir.map_or_else(|| PathBuf::from(recorded_round), Path::to_path_buf);
    let mut report = VerifyReport {
        round_dir: round.clone(),
        ..VerifyReport::default()
    };
    let version = m["supplyrisk"]["version"].as_str().unwrap_or_default();
    let commit = m["supplyrisk"]["git_commit"].as_str().unwrap_or_default();
    let here = option_env!("SUPPLYRISK_GIT_COMMIT").unwrap_or("unknown");
    if version != env!("CARGO_PKG_VERSION") || commit != here {
        report.version_note = Some(format!(
            "written by supplyrisk {version} ({commit}); this is {} ({here})",
            env!("CARGO_PKG_VERSION")
        ));
    }
    // 1. Inputs.
    let (changed, previous) = changed_inputs(&m, &round);
    report.changed_inputs = changed;
    // 2. The folder against its manifest.
    let recorded = hashes(&m["outputs"]);
    report.altered_outputs = altered_outputs(out_dir, &recorded)?;
    report.outputs_checked = recorded.len();
    if !report.changed_inputs.is_empty() {
        // A re-run from changed inputs proves nothing about this output.
        return Ok(report);
    }
    // 3. Re-run into a temporary folder and compare with the manifest.
    let tmp = std::env::temp_dir().join(format!("supplyrisk-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let rerun_out = tmp.join("out");
    let result = run(&RunOptions {
        round_dir: round.clone(),
        out_dir: Some(rerun_out.clone()),
        progress: false,
        previous,
        timings: false,
    });
    let outcome = (|| -> Result<()> {
        result?;
        let fresh = files(&rerun_out)?;
        for rel in &fresh {
            if rel == "manifest.json" {
                continue;
            }
            let p = rerun_out.join(rel);
            let (_, sha256) = sha256_file(&p).map_err(|e| Error::io(&p, e))?;
            match recorded.get(rel) {
                None => report
                    .not_reproduced
                    .push(format!("{rel}: produced now, not recorded")),
                Some(want) if &sha256 != want => {
                    report
                        .not_reproduced
                        .push(format!("{rel}: different bytes on re-run"));
                }
                Some(_) => {}
            }
        }
        // What `supplyrisk benchmark` added afterwards is checked above, not made by a re-run.
        let later: Vec<&str> = m["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["made_by"] == "benchmark")
            .filter_map(|o| o["path"].as_str())
            .collect();
        for rel in recorded.keys() {
            if !fresh.contains(rel) && !later.contains(&rel.as_str()) {
                report
                    .not_reproduced
                    .push(format!("{rel}: not produced on re-run"));
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    outcome?;
    Ok(report)
}

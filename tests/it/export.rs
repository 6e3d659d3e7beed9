//! The clearinghouse data package: `datapackage.json` is checked by the reference validator,
//! frictionless-py, installed from PyPI into a throwaway virtual environment under cargo's
//! target folder (created once per clean checkout; needs Python 3 with venv and PyPI access).

use std::path::{Path, PathBuf};
use std::process::Command;

const FRICTIONLESS: &str = "frictionless==5.21.0";

fn frictionless() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("frictionless-venv");
    let exe = venv.join("bin/frictionless");
    if !exe.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 for the frictionless validator")
            .success();
        assert!(ok, "python3 -m venv failed");
        let out = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                FRICTIONLESS,
            ])
            .output()
            .expect("pip");
        assert!(
            out.status.success(),
            "pip install {FRICTIONLESS} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    exe
}

pub(crate) fn validate(dir: &Path) -> (bool, String) {
    let out = Command::new(frictionless())
        .args(["validate", "datapackage.json"])
        .current_dir(dir)
        .output()
        .expect("frictionless validate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_data_package_validates_with_frictionless() {
    let t = crate::util::example_run();
    let out = t.path("out");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("datapackage.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "estimates",
            "comparisons",
            "distributions",
            "weight_summary",
            "metrics",
            "models",
            "concentration",
            "supplier_dependency"
        ]
    );
    for r in doc["resources"].as_array().unwrap() {
        assert!(!r["schema"]["primaryKey"].as_array().unwrap().is_empty());
        assert!(r["schema"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["type"].is_string() && f["description"].is_string()));
    }
    let (ok, report) = validate(&out);
    assert!(ok, "frictionless rejects the package:\n{report}");
    assert_eq!(report.matches("VALID").count(), names.len(), "{report}");

    // The validator really checks: a duplicated key row is an error.
    let est = out.join("tables/estimates.csv");
    let text = std::fs::read_to_string(&est).unwrap();
    let second = text.lines().nth(1).unwrap().to_string();
    std::fs::write(&est, format!("{text}{second}\n")).unwrap();
    let (ok, report) = validate(&out);
    assert!(!ok && report.contains("INVALID"), "{report}");
}

//! The researchers' notebooks (notebooks/): committed without outputs, and executed headless
//! against fresh outputs of the example rounds — each notebook recomputes numbers by hand and
//! asserts they equal supplyrisk's, so a disagreement fails here. The Python environment
//! (notebooks/requirements.txt) is a virtual environment under cargo's target folder, created
//! once per clean checkout (needs Python 3 with venv and PyPI access).

use std::path::PathBuf;
use std::process::Command;

use crate::util::{repo, TestRun};

fn notebooks() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join("notebooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
        .collect();
    out.sort();
    out
}

#[test]
fn notebooks_are_committed_without_outputs() {
    let books = notebooks();
    assert_eq!(books.len(), 3, "{books:?}");
    for p in books {
        let nb: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        for (i, cell) in nb["cells"].as_array().unwrap().iter().enumerate() {
            if cell["cell_type"] == "code" {
                assert_eq!(
                    cell["outputs"],
                    serde_json::json!([]),
                    "{}: cell {i} has outputs (strip them)",
                    p.display()
                );
                assert!(
                    cell["execution_count"].is_null(),
                    "{}: cell {i} has an execution count",
                    p.display()
                );
            }
        }
    }
}

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("notebook-venv");
    let py = venv.join("bin/python");
    let stamp = venv.join("requirements.txt");
    let wanted = std::fs::read_to_string(repo().join("notebooks/requirements.txt")).unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::remove_dir_all(&venv);
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3")
            .success();
        assert!(ok, "python3 -m venv failed");
        let out = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(repo().join("notebooks/requirements.txt"))
            .output()
            .expect("pip");
        assert!(
            out.status.success(),
            "pip install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&stamp, wanted).unwrap();
    }
    py
}

#[test]
fn notebooks_run_headless_and_agree_with_supplyrisk() {
    let t = TestRun::new()
        .with_example("example-2023", "a")
        .with_example("example-2024", "b")
        .args(["run", "a", "--out", "out/example-2023", "-q"]);
    t.run().expect_code(0);
    let t = t.again().args([
        "run",
        "b",
        "--out",
        "out/example-2024",
        "-q",
        "--previous",
        "out/example-2023",
    ]);
    t.run().expect_code(0);
    let out = Command::new(python())
        .arg(repo().join("notebooks/run_notebooks.py"))
        .args(notebooks())
        .env("SUPPLYRISK_ROOT", repo())
        .env("SUPPLYRISK_BIN", env!("CARGO_BIN_EXE_supplyrisk"))
        .env("SUPPLYRISK_OUT_EXAMPLE_2023", t.path("out/example-2023"))
        .env("SUPPLYRISK_OUT_EXAMPLE_2024", t.path("out/example-2024"))
        .env("MPLBACKEND", "Agg")
        .output()
        .expect("run the notebooks");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "a notebook failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("ok ").count(), 3, "{stdout}");
}

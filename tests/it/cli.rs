//! The binary end to end: synth determinism and the committed examples, `validate`, `run` and
//! its output layout, exit codes, and errors that name the file, key and line.

use std::collections::BTreeSet;

use crate::util::{files, read_csv, repo, TestRun};

/// The commands that generated the committed example rounds.
const EXAMPLES: [(&str, &str, &str); 2] = [
    ("example-2023", "2023", "2023"),
    ("example-2024", "2034", "2024"),
];

#[test]
fn synth_regenerates_the_committed_examples_byte_for_byte() {
    for (name, seed, round) in EXAMPLES {
        let t = TestRun::new().args([
            "synth", "--seed", seed, "--rows", "160", "--round", round, "--out", "gen", "-q",
        ]);
        t.run().expect_code(0);
        let committed = repo().join("surveys").join(name);
        assert_eq!(
            files(&t.path("gen")),
            files(&committed),
            "{name}: file list"
        );
        for f in files(&committed) {
            let a = std::fs::read(t.path("gen").join(&f)).unwrap();
            let b = std::fs::read(committed.join(&f)).unwrap();
            assert!(
                a == b,
                "{name}/{f} differs from a fresh `supplyrisk synth --seed {seed} --round {round}`"
            );
        }
    }
}

#[test]
fn synth_depends_on_the_seed() {
    let t = TestRun::new().args([
        "synth", "--seed", "1", "--rows", "40", "--round", "2024", "--out", "a", "-q",
    ]);
    t.run().expect_code(0);
    let u = TestRun::new().args([
        "synth", "--seed", "2", "--rows", "40", "--round", "2024", "--out", "a", "-q",
    ]);
    u.run().expect_code(0);
    let a = std::fs::read(t.path("a/responses_qualtrics.csv")).unwrap();
    let b = std::fs::read(u.path("a/responses_qualtrics.csv")).unwrap();
    assert_ne!(a, b);
}

#[test]
fn validate_accepts_both_examples() {
    for (name, _, _) in EXAMPLES {
        // The examples' typos are all within the spec's fuzzy_threshold: nothing would be
        // read as unanswered (validate_lists_answers_the_run_would_read_as_unanswered has the
        // other case), so validate passes.
        let out = TestRun::new()
            .with_example(name, "round")
            .args(["validate", "round"])
            .run()
            .expect_code(0);
        assert!(
            out.stdout.contains("survey.toml: valid") && !out.stderr.contains("error:"),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
        assert!(
            out.stdout.contains("layout qualtrics") && out.stdout.contains("layout msforms"),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn run_writes_the_documented_layout_and_accounts_for_every_row() {
    let t = TestRun::new()
        .with_example("example-2024", "example-2024")
        .args(["run", "example-2024"]);
    let out = t.run().expect_code(0);
    assert!(out.stdout.contains("quarantined"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("report: output/example-2024/report.html"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.is_empty(),
        "a clean run warns about nothing: {}",
        out.stderr
    );
    let dir = t.path("output/example-2024");
    let written: BTreeSet<String> = files(&dir).into_iter().collect();
    for f in [
        "manifest.json",
        "report.html",
        "summary.md",
        "data/clean.parquet",
        "data/clean.csv",
        "data/quarantine.csv",
        "tables/estimates.csv",
        "tables/estimates.parquet",
        "tables/cleaning_log.csv",
        "tables/weighting.csv",
        "tables/weight_summary.csv",
        "tables/concentration.csv",
        "tables/supplier_dependency.csv",
        "tables/supplier_matches.csv",
        "data/supplier_mentions.csv",
        "charts/supplier_dependency.svg",
        "charts/concentration_heatmap.png",
        "charts/weights.svg",
        "charts/weights.png",
        "charts/risk_tiers_by_segment.svg",
        "charts/risk_tiers_by_segment.png",
        "charts/risk_index_by_segment.svg",
        "charts/risk_index_by_segment.png",
        "metrics/metrics.csv",
        "metrics/metrics.json",
        "metrics/metrics.parquet",
    ] {
        assert!(written.contains(f), "missing {f}; written: {written:?}");
    }

    // Estimates: the required columns, overall rows, single segments and crosses.
    let (head, rows) = read_csv(&dir.join("tables/estimates.csv"));
    for c in [
        "metric_id",
        "segment_var",
        "segment_value",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "n",
        "n_eff",
    ] {
        assert!(
            head.iter().any(|h| h == c),
            "estimates.csv lacks {c}: {head:?}"
        );
    }
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let (var, val, est) = (col("segment_var"), col("segment_value"), col("estimate"));
    assert!(rows
        .iter()
        .any(|r| r[var] == "all" && r[val].is_empty() && !r[est].is_empty()));
    assert!(rows
        .iter()
        .any(|r| r[var] == "subsector" && r[val] == "dpc"));
    assert!(rows
        .iter()
        .any(|r| r[var] == "subsector:size" && r[val] == "medtech:small"));
    // Suppressed rows show no numbers.
    let sup = col("suppressed");
    for r in rows.iter().filter(|r| r[sup] == "true") {
        assert!(
            r[est].is_empty() && r[col("n")].is_empty(),
            "suppressed row shows numbers: {r:?}"
        );
    }

    // Every row read is kept or quarantined, with a reason.
    let (qhead, qrows) = read_csv(&dir.join("data/quarantine.csv"));
    let reasons = qhead.iter().position(|h| h == "reasons").unwrap();
    assert!(qrows.iter().all(|r| !r[reasons].is_empty()));
    let (chead, crows) = read_csv(&dir.join("data/clean.csv"));
    let (lhead, lrows) = read_csv(&dir.join("tables/cleaning_log.csv"));
    let (kind, count) = (
        lhead.iter().position(|h| h == "kind").unwrap(),
        lhead.iter().position(|h| h == "count").unwrap(),
    );
    let read: usize = lrows
        .iter()
        .filter(|r| r[kind] == "rows_read")
        .map(|r| r[count].parse::<usize>().unwrap())
        .sum();
    assert_eq!(
        read,
        crows.len() + qrows.len(),
        "rows read = kept + quarantined"
    );
    // Identifying questions never reach the respondent-level output; quarantine masks them.
    for id in ["member_id", "org_name", "contact_email"] {
        assert!(
            !chead.iter().any(|h| h == id),
            "clean.csv carries identifying column {id}"
        );
        let c = qhead.iter().position(|h| h == id).unwrap();
        assert!(qrows.iter().all(|r| r[c].is_empty() || r[c] == "[masked]"));
    }

    // The manifest hashes every other output and says which may be published.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let outputs = manifest["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), written.len() - 1);
    for o in outputs {
        let path = o["path"].as_str().unwrap();
        let publishable = o["publishable"].as_bool().unwrap();
        let internal = path.starts_with("data/")
            || path == "tables/cleaning_log.csv"
            || path == "tables/supplier_matches.csv"
            || path == "tables/disclosure_audit.csv"
            || path.starts_with("tables/weighting.");
        assert_eq!(publishable, !internal, "{path}");
        assert_eq!(o["sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(manifest["quality_gates"]["passed"], true);
}

#[test]
fn the_overall_mean_equals_a_hand_computed_weighted_mean_of_the_clean_data() {
    let t = crate::util::example_run();
    let (head, rows) = read_csv(&t.path("out/data/clean.csv"));
    let (ri, wi) = (
        head.iter().position(|h| h == "risk_index").unwrap(),
        head.iter().position(|h| h == "weight").unwrap(),
    );
    let (mut num, mut den) = (0.0, 0.0);
    for r in &rows {
        if let (Ok(y), Ok(w)) = (r[ri].parse::<f64>(), r[wi].parse::<f64>()) {
            num += w * y;
            den += w;
        }
    }
    let (ehead, erows) = read_csv(&t.path("out/tables/estimates.csv"));
    let c = |n: &str| ehead.iter().position(|h| h == n).unwrap();
    let row = erows
        .iter()
        .find(|r| r[c("metric_id")] == "SCRM.RISK.01" && r[c("segment_var")] == "all")
        .unwrap();
    let est: f64 = row[c("estimate")].parse().unwrap();
    assert!(
        (est - num / den).abs() < 1e-9 * est,
        "{est} vs {}",
        num / den
    );
    // The weights reproduce the population total.
    assert!((den - 400.0).abs() < 1e-6 || rows.iter().any(|r| r[ri].is_empty()));
}

/// Two runs of the same round write the same bytes; `--timings` (the second run) prints each
/// stage's time and peak memory to stderr and changes no output.
#[test]
fn runs_are_byte_identical() {
    let t = TestRun::new().with_example("example-2023", "r");
    let a = t.path("a");
    let b = t.path("b");
    let t = t.args(["run", "r", "--out", a.to_str().unwrap(), "-q"]);
    t.run().expect_code(0);
    let u = t
        .again()
        .args(["run", "r", "--out", b.to_str().unwrap(), "-q", "--timings"]);
    let out = u.run().expect_code(0);
    for stage in [
        "ingest",
        "clean",
        "weight",
        "estimates",
        "disclose",
        "charts and report",
        "total",
    ] {
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(stage))
            .unwrap_or_else(|| panic!("no {stage} line in:\n{}", out.stderr));
        assert!(line.contains(" s ") && line.contains("MiB"), "{line}");
    }
    let fa = files(&a);
    assert_eq!(fa, files(&b));
    for f in fa.iter().filter(|f| *f != "manifest.json") {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs between runs"
        );
    }
}

fn edit_spec(t: TestRun, from: &str, to: &str) -> TestRun {
    let p = t.path("r/survey.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "spec lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    t
}

fn line_of(t: &TestRun, needle: &str) -> usize {
    let text = std::fs::read_to_string(t.path("r/survey.toml")).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_misspelled_key_is_named_with_its_line() {
    let t = edit_spec(
        TestRun::new().with_example("example-2024", "r"),
        "min_cell_size = 5",
        "min_cel_size = 5",
    );
    let line = line_of(&t, "min_cel_size");
    let out = t.args(["validate", "r"]).run().expect_code(2);
    assert!(out.stderr.contains("min_cel_size"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("survey.toml:{line}:")),
        "line {line} not named:\n{}",
        out.stderr
    );
}

#[test]
fn an_unknown_question_reference_is_named_with_its_key_and_line() {
    let t = edit_spec(
        TestRun::new().with_example("example-2024", "r"),
        "variables = [\"subsector\", \"size\", \"region\"]",
        "variables = [\"subsector\", \"sise\", \"region\"]",
    );
    let line = line_of(&t, "\"sise\"");
    let out = t.args(["validate", "r"]).run().expect_code(2);
    assert!(
        out.stderr.contains("segments.variables[1]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unknown question `sise`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("survey.toml:{line}:")),
        "line {line} not named:\n{}",
        out.stderr
    );
}

#[test]
fn a_missing_source_file_is_named() {
    let t = edit_spec(
        TestRun::new().with_example("example-2024", "r"),
        "responses_forms.xlsx",
        "responses_form.xlsx",
    );
    let out = t.args(["validate", "r"]).run().expect_code(2);
    assert!(
        out.stderr.contains("file not found") && out.stderr.contains("responses_form.xlsx"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("sources[1].path"), "{}", out.stderr);
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let t = edit_spec(
        TestRun::new().with_example("example-2024", "r"),
        "domain = \"GV.SC-01\"",
        "domain = \"GV.SC-11\"",
    );
    let t = edit_spec(t, "levels = [\"complete\"]", "levels = [\"completed\"]");
    let out = t.args(["validate", "r"]).run().expect_code(2);
    assert!(
        out.stderr.contains("unknown domain `GV.SC-11`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("`completed` is not a code of `C1`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("problems in"), "{}", out.stderr);
}

#[test]
fn a_failed_quality_gate_writes_everything_and_exits_1() {
    let t = edit_spec(
        TestRun::new().with_example("example-2024", "r"),
        "min_responses = 30",
        "min_responses = 5000",
    );
    let t = t.args(["run", "r", "--out", "out"]);
    let out = t.run().expect_code(1);
    assert!(
        out.stderr.contains("quality gate failed") && out.stderr.contains("min_responses"),
        "{}",
        out.stderr
    );
    // Readers see it too: a banner at the top of the report and the summary, a line at the top
    // of the workbook's README sheet.
    let gate = "below quality.min_responses = 5000";
    let report = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    let banner = report
        .find("failed its quality gates")
        .expect("banner in the report");
    assert!(
        banner < report.find("<h2").unwrap(),
        "before the first section"
    );
    assert!(report.contains(gate));
    let summary = std::fs::read_to_string(t.path("out/summary.md")).unwrap();
    let head: String = summary.lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(
        head.contains("failed its quality gates") && head.contains(gate),
        "{head}"
    );
    use calamine::{open_workbook, Reader, Xlsx};
    let mut wb: Xlsx<_> = open_workbook(t.path("out/tables.xlsx")).unwrap();
    let readme = wb.worksheet_range("README").unwrap();
    assert!(readme
        .rows()
        .take(12)
        .any(|r| r.iter().any(|c| *c == "QUALITY GATE FAILED")));
    // A run that passes has no banner.
    let t = crate::util::example_run();
    let report = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    assert!(!report.contains("failed its quality gates"));
}

#[test]
fn usage_and_input_errors_exit_2() {
    TestRun::new().args(["frobnicate"]).run().expect_code(2);
    let out = TestRun::new()
        .args(["run", "no-such-round"])
        .run()
        .expect_code(2);
    assert!(out.stderr.contains("no-such-round"), "{}", out.stderr);
    TestRun::new().args(["--help"]).run().expect_code(0);
}

#[test]
fn a_source_without_the_key_column_is_an_error_naming_the_file() {
    let t = TestRun::new().with_example("example-2024", "r");
    let p = t.path("r/responses_qualtrics.csv");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen("ExternalReference", "ExternalRef", 1);
    std::fs::write(&p, text).unwrap();
    let out = t.args(["run", "r", "--out", "out"]).run().expect_code(2);
    assert!(
        out.stderr.contains("responses_qualtrics.csv") && out.stderr.contains("member_id"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_refuses_to_overwrite_a_folder_it_did_not_write() {
    let t = TestRun::new()
        .with_example("example-2024", "r")
        .write("out/notes.txt", "mine");
    let out = t.args(["run", "r", "--out", "out"]).run().expect_code(2);
    assert!(
        out.stderr.contains("not written by supplyrisk"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.len() < 500);
}

#[test]
fn init_scaffolds_a_spec_that_parses_and_names_its_missing_files() {
    let t = TestRun::new().args(["init", "new-round"]);
    t.run().expect_code(0);
    assert!(t.path("new-round/survey.toml").is_file());
    let u = t.again().args(["validate", "new-round"]);
    let out = u.run().expect_code(2);
    assert!(
        out.stderr.contains("responses.csv") && out.stderr.contains("population.csv"),
        "{}",
        out.stderr
    );
    // A second init never overwrites.
    let v = u.again().args(["init", "new-round"]);
    v.run().expect_code(2);
}

#[test]
fn any_survey_runs_from_the_init_scaffold_with_a_plain_windows_1252_csv() {
    let t = TestRun::new().args(["init", "mine", "-q"]);
    t.run().expect_code(0);
    // 40 organizations in two segments, semicolon-delimited, Windows-1252 (é in a free-text id).
    let labels = [
        "Strongly disagree",
        "Disagree",
        "Neither agree nor disagree",
        "Agree",
        "Strongly agree",
    ];
    let mut text = String::from("org_id;segment;Q1\n");
    for i in 0..40 {
        let seg = if i % 3 == 0 { "Segment B" } else { "Segment A" };
        text.push_str(&format!("Org-é{i};{seg};{}\n", labels[(i * 7) % 5]));
    }
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| if c == 'é' { 0xE9 } else { c as u8 })
        .collect();
    let u = t
        .again()
        .write("mine/population.csv", "segment,count\na,300\nb,100\n");
    std::fs::write(u.path("mine/responses.csv"), bytes).unwrap();
    let v = u.args(["run", "mine", "--out", "out"]);
    let out = v.run().expect_code(0);
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains("windows-1252"),
        "the encoding fallback is a warning: {}",
        out.stderr
    );
    let (head, rows) = read_csv(&v.path("out/tables/estimates.csv"));
    let c = |n: &str| head.iter().position(|h| h == n).unwrap();
    let overall = rows.iter().find(|r| r[c("segment_var")] == "all").unwrap();
    assert_eq!(overall[c("n")], "40");
    assert!(rows
        .iter()
        .any(|r| r[c("segment_var")] == "segment" && r[c("segment_value")] == "b"));
    let manifest = std::fs::read_to_string(v.path("out/manifest.json")).unwrap();
    assert!(
        manifest.contains("\"windows-1252\""),
        "the encoding found is recorded"
    );
    assert!(manifest.contains("\"plain\""));
}

#[test]
fn ratio_metrics_are_estimated() {
    let t = crate::util::example_run();
    let (head, rows) = read_csv(&t.path("out/tables/estimates.csv"));
    let c = |n: &str| head.iter().position(|h| h == n).unwrap();
    let row = rows
        .iter()
        .find(|r| r[c("metric_id")] == "SCRM.CRIT.01" && r[c("segment_var")] == "all")
        .unwrap();
    assert_eq!(row[c("statistic")], "ratio");
    let (est, lo, hi): (f64, f64, f64) = (
        row[c("estimate")].parse().unwrap(),
        row[c("ci_low")].parse().unwrap(),
        row[c("ci_high")].parse().unwrap(),
    );
    assert!(
        est > 0.05 && est < 0.2 && lo < est && est < hi,
        "S5 is drawn as 5–20 % of S4: {est} [{lo}, {hi}]"
    );
}

/// A run writes into a staging folder beside the output and renames it into place only on
/// success: a run that fails part-way (an injected failure after the tables, then after the
/// charts and report) leaves the previous output byte-for-byte intact and no partial folder.
#[test]
fn a_failed_run_leaves_the_previous_output_intact() {
    let t = crate::util::example_run();
    let snapshot = |t: &TestRun| -> Vec<(String, Vec<u8>)> {
        crate::util::files(&t.path("out"))
            .into_iter()
            .map(|f| {
                let bytes = std::fs::read(t.path("out").join(&f)).unwrap();
                (f, bytes)
            })
            .collect()
    };
    let before = snapshot(&t);
    assert!(before.iter().any(|(f, _)| f == "manifest.json"));
    let mut t = t;
    for stage in ["tables", "render"] {
        let again = t
            .again()
            .env("SUPPLYRISK_INJECT_FAILURE", stage)
            .args(["run", "r", "--out", "out", "-q"]);
        let out = again.run();
        assert_ne!(out.code, 0, "{stage}: the injected failure fails the run");
        assert!(out.stderr.contains("injected failure"), "{}", out.stderr);
        assert_eq!(
            snapshot(&again),
            before,
            "{stage}: the previous output changed"
        );
        let leftovers: Vec<String> = std::fs::read_dir(again.path(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".partial-") || n.contains(".replaced-"))
            .collect();
        assert!(leftovers.is_empty(), "{stage}: left {leftovers:?}");
        t = again;
    }
    // A successful rerun replaces it (same inputs: same bytes).
    let t = t.again().args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    assert_eq!(snapshot(&t), before);
}

/// The metric catalog and its lock: `metrics lock` records each (id, version) with its
/// definition beside the rounds; changing a definition without bumping the version is caught by
/// `validate` (naming the metric, the field and the version to use) and refused by `run`; a
/// bumped version is `new` until locked; `metrics catalog` lists ids, versions and lock status.
#[test]
fn a_changed_metric_definition_needs_a_new_version() {
    let t = TestRun::new()
        .with_example("example-2024", "surveys/r")
        .args(["metrics", "lock", "surveys/r"]);
    let out = t.run().expect_code(0);
    assert!(
        // 23 [[metrics]] and the model's metric (SCRM.MODEL.01).
        out.stdout.contains("24 new metric version(s) locked"),
        "{}",
        out.stdout
    );
    assert!(t.path("surveys/hscc-scrm.metrics.lock.json").exists());
    let t = t.again().args(["metrics", "catalog", "surveys/r"]);
    let out = t.run().expect_code(0);
    assert!(out.stdout.contains("SCRM.INV.01") && out.stdout.contains("locked"));
    let t = t
        .again()
        .args(["metrics", "catalog", "surveys/r", "--json"]);
    let out = t.run().expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["metrics"].as_array().unwrap().len(), 24);
    assert!(doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["lock"] == "locked"));

    // Redefine SCRM.INV.01 (count "partial" inventories too) at the same version.
    let spec_path = t.path("surveys/r/survey.toml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let changed = spec.replacen(
        "levels = [\"complete\"]",
        "levels = [\"complete\", \"partial\"]",
        1,
    );
    assert_ne!(changed, spec);
    std::fs::write(&spec_path, &changed).unwrap();
    let t = t.again().args(["validate", "surveys/r"]);
    let out = t.run().expect_code(2);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("metric SCRM.INV.01 version 1: `levels` changed")
            && all.contains("set version = 2"),
        "{all}"
    );
    let t = t.again().args(["run", "surveys/r", "--out", "out", "-q"]);
    let out = t.run().expect_code(2);
    assert!(out.stderr.contains("SCRM.INV.01"), "{}", out.stderr);
    assert!(!t.path("out").exists());

    // Bumped: new until locked, then locked; the old version stays in the lock.
    let bumped = changed.replacen(
        "id = \"SCRM.INV.01\"\nversion = 1",
        "id = \"SCRM.INV.01\"\nversion = 2",
        1,
    );
    assert_ne!(bumped, changed);
    std::fs::write(&spec_path, &bumped).unwrap();
    let t = t.again().args(["metrics", "catalog", "surveys/r"]);
    let out = t.run().expect_code(0);
    assert!(out
        .stdout
        .lines()
        .any(|l| l.starts_with("SCRM.INV.01") && l.contains("new")));
    let t = t.again().args(["metrics", "lock", "surveys/r"]);
    let out = t.run().expect_code(0);
    assert!(out.stdout.contains("SCRM.INV.01 v2"), "{}", out.stdout);
    let lock = std::fs::read_to_string(t.path("surveys/hscc-scrm.metrics.lock.json")).unwrap();
    assert_eq!(lock.matches("\"id\": \"SCRM.INV.01\"").count(), 2);
    let t = t.again().args(["run", "surveys/r", "--out", "out", "-q"]);
    t.run().expect_code(0);
}

/// `verify` re-runs the round recorded in the manifest: it passes on a fresh output (with and
/// without `--previous`), and fails naming the file when an input or an output was altered.
#[test]
fn verify_passes_on_a_fresh_output_and_names_what_changed() {
    let t = TestRun::new()
        .with_example("example-2023", "a")
        .with_example("example-2024", "r")
        .args(["run", "a", "--out", "out-a", "-q"]);
    t.run().expect_code(0);
    let t = t
        .again()
        .args(["run", "r", "--out", "out", "-q", "--previous", "out-a"]);
    t.run().expect_code(0);
    let t = t.again().args(["verify", "out"]);
    let out = t.run().expect_code(0);
    assert!(
        out.stdout.contains("outputs reproduced byte for byte"),
        "{}",
        out.stdout
    );

    // An altered output file.
    let est = t.path("out/tables/estimates.csv");
    let original = std::fs::read_to_string(&est).unwrap();
    std::fs::write(
        &est,
        original.replacen("SCRM.RISK.01,1,mean", "SCRM.RISK.01,1,mean ", 1),
    )
    .unwrap();
    let t = t.again().args(["verify", "out"]);
    let out = t.run().expect_code(1);
    assert!(
        out.stderr
            .contains("output altered: tables/estimates.csv: altered since the run"),
        "{}",
        out.stderr
    );
    std::fs::write(&est, &original).unwrap();

    // An altered input (one answer in the Qualtrics export).
    let src = t.path("r/responses_qualtrics.csv");
    let text = std::fs::read_to_string(&src).unwrap();
    std::fs::write(&src, text.replacen("Strongly agree", "Agree", 1)).unwrap();
    let t = t.again().args(["verify", "out"]);
    let out = t.run().expect_code(1);
    assert!(
        out.stderr.contains("input changed:")
            && out
                .stderr
                .contains("responses_qualtrics.csv: changed since the run"),
        "{}",
        out.stderr
    );
    std::fs::write(&src, text).unwrap();
    // An edited alias table changes what the supplier figures count: an input too.
    let aliases = t.path("r/suppliers.csv");
    let table = std::fs::read_to_string(&aliases).unwrap();
    std::fs::write(&aliases, format!("{table}Zephyr,Zephyr,cloud\n")).unwrap();
    let t = t.again().args(["verify", "out"]);
    let out = t.run().expect_code(1);
    assert!(
        out.stderr.contains("suppliers.csv: changed since the run"),
        "{}",
        out.stderr
    );
    std::fs::write(&aliases, table).unwrap();
    let t = t.again().args(["verify", "out"]);
    t.run().expect_code(0);
}

/// The distinct pseudonymous keys of an output's `data/panel.csv`.
fn panel_keys(path: &std::path::Path) -> std::collections::BTreeSet<String> {
    let (h, rows) = read_csv(path);
    let k = h.iter().position(|x| x == "panel_key").unwrap();
    rows.into_iter().map(|r| r[k].clone()).collect()
}

/// `compare` on example-2023 vs example-2024: each change is B − A; about 70% of each round's
/// organizations answered both rounds (the examples are generated as a panel), so a mean's SE
/// is the panel SE, with √(SE_A² + SE_B²) beside it and, as the organizations answer alike,
/// clearly below it; BH-adjusted within the metric; a changed version is not comparable;
/// other surveys refused.
#[test]
fn compare_reports_round_over_round_changes() {
    let t = TestRun::new()
        .with_example("example-2023", "a")
        .with_example("example-2024", "b")
        .args(["run", "a", "--out", "out-a", "-q"]);
    t.run().expect_code(0);
    let t = t.again().args(["run", "b", "--out", "out-b", "-q"]);
    t.run().expect_code(0);
    // Mark one metric as redefined in round B.
    let mb = t.path("out-b/metrics/metrics.csv");
    let text = std::fs::read_to_string(&mb).unwrap();
    std::fs::write(&mb, text.replace(",SCRM.EXR.01,1,", ",SCRM.EXR.01,2,")).unwrap();
    let t = t
        .again()
        .args(["compare", "out-a", "out-b", "--out", "cmp"]);
    let out = t.run().expect_code(0);
    assert!(out.stdout.contains("round 2023 → 2024"), "{}", out.stdout);
    assert!(t.path("cmp/trend.svg").exists() && t.path("cmp/trend.png").exists());
    let (head, rows) = read_csv(&t.path("cmp/comparison.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let num = |r: &Vec<String>, c: &str| r[col(c)].parse::<f64>().unwrap();
    let metric_row = |file: &str| {
        let (h, rs) = read_csv(&t.path(file));
        let c = |n: &str| h.iter().position(|x| x == n).unwrap();
        let r = rs
            .iter()
            .find(|r| r[c("metric_id")] == "SCRM.RISK.01" && r[c("segment_var")] == "all")
            .unwrap()
            .clone();
        (
            r[c("estimate")].parse::<f64>().unwrap(),
            r[c("se")].parse::<f64>().unwrap(),
        )
    };
    let (ea, sa) = metric_row("out-a/metrics/metrics.csv");
    let (eb, sb) = metric_row("out-b/metrics/metrics.csv");
    let risk = rows
        .iter()
        .find(|r| r[col("metric_id")] == "SCRM.RISK.01" && r[col("segment_var")] == "all")
        .unwrap();
    assert!((num(risk, "difference") - (eb - ea)).abs() < 1e-12);
    assert!((num(risk, "se_independent") - (sa * sa + sb * sb).sqrt()).abs() < 1e-12);
    assert_eq!(risk[col("se_method")], "panel");
    assert!(num(risk, "se") > 0.0);
    assert!(
        num(risk, "se") < 0.9 * num(risk, "se_independent"),
        "{risk:?}"
    );
    let (ka, kb) = (
        panel_keys(&t.path("out-a/data/panel.csv")),
        panel_keys(&t.path("out-b/data/panel.csv")),
    );
    let both = ka.intersection(&kb).count();
    assert!(
        both * 10 > ka.len() * 6 && both * 10 < ka.len() * 8,
        "{both} of {}",
        ka.len()
    );
    let said = format!(
        "{both} organizations answered both rounds (of {} and {})",
        ka.len(),
        kb.len()
    );
    assert!(out.stdout.contains(&said), "{}", out.stdout);
    // Quantiles have no panel SE: independent.
    let q = rows
        .iter()
        .find(|r| r[col("statistic")] == "quantile" && !r[col("se")].is_empty())
        .unwrap();
    assert_eq!(q[col("se_method")], "independent");
    assert_eq!(q[col("se")], q[col("se_independent")]);
    assert_eq!(risk[col("status")], "comparable");
    // BH within SCRM.RISK.01.
    let risk_rows: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[col("metric_id")] == "SCRM.RISK.01" && !r[col("p_value")].is_empty())
        .collect();
    let p: Vec<f64> = risk_rows.iter().map(|r| num(r, "p_value")).collect();
    let adj = supplyrisk::estimate::benjamini_hochberg(&p);
    for (r, want) in risk_rows.iter().zip(adj) {
        assert!((num(r, "p_adjusted") - want).abs() < 1e-12);
    }
    let exr: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[col("metric_id")] == "SCRM.EXR.01")
        .collect();
    assert!(!exr.is_empty());
    assert!(exr
        .iter()
        .all(|r| r[col("status")] == "version_changed" && r[col("difference")].is_empty()));
    // Suppressed in a round: no difference.
    assert!(rows
        .iter()
        .any(|r| r[col("status")] == "suppressed" && r[col("difference")].is_empty()));

    let ma = t.path("out-a/metrics/metrics.csv");
    let text = std::fs::read_to_string(&ma).unwrap();
    std::fs::write(&ma, text.replace("hscc-scrm", "other-survey")).unwrap();
    let t = t
        .again()
        .args(["compare", "out-a", "out-b", "--out", "cmp2"]);
    let out = t.run().expect_code(2);
    assert!(out.stderr.contains("not compared"), "{}", out.stderr);
}

/// The same round compared with itself is a panel of identical answers: every change with a
/// panel SE is exactly 0 with SE 0, while the independent-samples SE is not — what the panel SE
/// is for. Two rounds with no organization in common fall back to independent SEs.
#[test]
fn compare_uses_the_panel_of_organizations_in_both_rounds() {
    let t = TestRun::new()
        .with_example("example-2024", "b")
        .args(["run", "b", "--out", "out-a", "-q"]);
    t.run().expect_code(0);
    let t = t.again().args(["run", "b", "--out", "out-b", "-q"]);
    t.run().expect_code(0);
    let t = t
        .again()
        .args(["compare", "out-a", "out-b", "--out", "cmp"]);
    let out = t.run().expect_code(0);
    let n = panel_keys(&t.path("out-a/data/panel.csv")).len();
    assert!(
        out.stdout.contains(&format!(
            "{n} organizations answered both rounds (of {n} and {n})"
        )),
        "{}",
        out.stdout
    );
    let (head, rows) = read_csv(&t.path("cmp/comparison.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let panel: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[col("se_method")] == "panel")
        .collect();
    assert!(panel.len() > 50, "{}", panel.len());
    for r in &panel {
        let se: f64 = r[col("se")].parse().unwrap();
        let d: f64 = r[col("difference")].parse().unwrap();
        assert!(se.abs() < 1e-9 && d.abs() < 1e-9, "{r:?}");
    }
    let risk = panel
        .iter()
        .find(|r| r[col("metric_id")] == "SCRM.RISK.01" && r[col("segment_var")] == "all")
        .unwrap();
    assert!(risk[col("se_independent")].parse::<f64>().unwrap() > 1.0);
    // Keys of another survey's members: no panel (pseudonyms differ by survey id).
    let path = t.path("out-a/data/panel.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for l in lines.iter_mut().skip(1) {
        l.replace_range(0..8, "ffffffff");
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let t = t
        .again()
        .args(["compare", "out-a", "out-b", "--out", "cmp2"]);
    let out = t.run().expect_code(0);
    assert!(
        out.stdout.contains("no organization in both rounds"),
        "{}",
        out.stdout
    );
    let (head, rows) = read_csv(&t.path("cmp2/comparison.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    assert!(rows.iter().all(|r| r[col("se_method")] == "independent"));
}

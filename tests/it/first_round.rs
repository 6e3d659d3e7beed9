//! A new analyst's first round: population targets written with labels, a validate that
//! predicts what the run would lose, and the small things (plurals, --version, completions).

use crate::util::TestRun;

/// The example's population.csv with every code replaced by its option label.
fn population_with_labels(text: &str) -> String {
    let labels = [
        ("dpc", "Direct patient care"),
        ("plb", "\"Pharmaceuticals, laboratories and blood\""),
        ("medtech", "Medical technology"),
        ("payer", "Health plans and payers"),
        ("hit", "Health information technology"),
        ("public_health", "Public health"),
        ("small", "Fewer than 500"),
        ("medium", "\"500 to 4,999\""),
        ("large", "\"5,000 or more\""),
    ];
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                return line.to_string();
            }
            let cells: Vec<&str> = line.split(',').collect();
            let (a, b, n) = (cells[0], cells[1], cells[2]);
            let label = |c: &str| {
                labels
                    .iter()
                    .find(|(code, _)| *code == c)
                    .map_or(c.to_string(), |(_, l)| (*l).to_string())
            };
            // Mixed on purpose: labels in one column, codes and a label variant in the other.
            let b = if b == "small" {
                "fewer than  500".to_string()
            } else {
                label(b)
            };
            format!("{},{b},{n}", label(a))
        })
        .map(|l| l + "\n")
        .collect()
}

#[test]
fn population_targets_may_name_levels_by_label() {
    let t = TestRun::new()
        .with_example("example-2024", "codes")
        .with_example("example-2024", "labels");
    let pop = std::fs::read_to_string(t.path("codes/population.csv")).unwrap();
    let relabelled = population_with_labels(&pop);
    assert!(relabelled.contains("Medical technology,"), "{relabelled}");
    std::fs::write(t.path("labels/population.csv"), relabelled).unwrap();
    let t = t.args(["run", "codes", "--out", "out-codes", "-q"]);
    t.run().expect_code(0);
    let t = t
        .again()
        .args(["run", "labels", "--out", "out-labels", "-q"]);
    t.run().expect_code(0);
    // The same targets, so the same estimates to the byte.
    for f in ["tables/estimates.csv", "tables/weighting.csv"] {
        assert_eq!(
            std::fs::read(t.path(&format!("out-codes/{f}"))).unwrap(),
            std::fs::read(t.path(&format!("out-labels/{f}"))).unwrap(),
            "{f}"
        );
    }
    // A level that is neither a code nor a label is named, with the options it could be.
    let bad = std::fs::read_to_string(t.path("labels/population.csv"))
        .unwrap()
        .replace("Medical technology,", "Med tech,");
    std::fs::write(t.path("labels/population.csv"), bad).unwrap();
    let o = t.run().expect_code(2);
    assert!(
        o.stderr.contains("population.csv")
            && o.stderr
                .contains("`subsector` level `Med tech` is neither a code nor a label")
            && o.stderr.contains("`medtech` (Medical technology)"),
        "{}",
        o.stderr
    );
}

#[test]
fn validate_fails_when_a_segment_variable_matches_no_column() {
    let t = TestRun::new().with_example("example-2024", "r");
    let spec = std::fs::read_to_string(t.path("r/survey.toml")).unwrap();
    let spec = spec
        .replace("column = \"S3\"", "column = \"NOPE\"")
        .replace(
            "text = \"Where is your organization headquartered?\"",
            "text = \"Nowhere in the export\"",
        );
    std::fs::write(t.path("r/survey.toml"), spec).unwrap();
    let o = t.args(["validate", "r"]).run().expect_code(2);
    assert!(
        o.stderr
            .contains("question `region` (a segment variable) matches no column"),
        "{}",
        o.stderr
    );
}

#[test]
fn validate_lists_answers_the_run_would_read_as_unanswered() {
    let t = TestRun::new().with_example("example-2024", "r");
    // Three more answers no option matches.
    let path = t.path("r/responses_qualtrics.csv");
    let csv = std::fs::read_to_string(&path).unwrap();
    let n = csv.matches(",Annually,").count();
    assert!(n >= 3, "the fixture has annual answers");
    let csv = csv.replacen(",Annually,", ",Every so often,", 3);
    // And one in another question.
    assert!(
        csv.contains(",In development,"),
        "the fixture has B1 answers"
    );
    let csv = csv.replacen(",In development,", ",Being set up,", 1);
    std::fs::write(&path, csv).unwrap();
    let o = t.args(["validate", "r"]).run().expect_code(1);
    assert!(
        o.stderr
            .contains("`Every so often` (3 answers; nearest option"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("2 questions have answers that match no option"),
        "{}",
        o.stderr
    );
}

#[test]
fn version_and_completions() {
    let o = TestRun::new().args(["--version"]).run().expect_code(0);
    assert!(
        o.stdout.starts_with("supplyrisk ") && o.stdout.contains("(commit "),
        "{}",
        o.stdout
    );
    for shell in ["bash", "zsh", "fish"] {
        let o = TestRun::new()
            .args(["completions", shell])
            .run()
            .expect_code(0);
        assert!(
            o.stdout.contains("supplyrisk") && o.stdout.contains("validate"),
            "{shell}"
        );
    }
    let o = TestRun::new().args(["completions", "tcsh"]).run();
    assert_eq!(o.code, 2);
}

#[test]
fn inspect_lists_each_columns_answers_but_not_who_answered() {
    let t = TestRun::new()
        .with_example("example-2024", "r")
        .args(["inspect", "r/responses_qualtrics.csv"]);
    let o = t.run().expect_code(0);
    let after = |col: &str| {
        let lines: Vec<&str> = o.stdout.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.contains(&format!("  {col}  —")))
            .unwrap_or_else(|| panic!("{col} listed"));
        lines[i + 1].to_string()
    };
    // The options to write, with their variants and counts, as counted here from the export
    // (three header rows; values trimmed).
    let counts = |q: &str| -> Vec<(String, usize)> {
        let mut rd = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(t.path("r/responses_qualtrics.csv"))
            .unwrap();
        let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
        let c = rows[0].iter().position(|h| h == q).unwrap();
        let mut n: std::collections::BTreeMap<String, usize> = Default::default();
        for r in &rows[3..] {
            *n.entry(r.get(c).unwrap_or("").trim().to_string())
                .or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = n.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    let s1 = after("S1");
    let s1_counts = counts("S1");
    let (top, top_n) = &s1_counts[0];
    assert!(s1.contains(&format!("{top} ({top_n})")), "{s1}");
    // A variant answered once (a typo or a case change) is listed beside the options.
    assert!(
        s1_counts
            .iter()
            .filter(|(v, n)| *n == 1 && !v.is_empty())
            .any(|(v, _)| s1.contains(&format!("{v} (1)"))),
        "{s1}"
    );
    let b1_counts = counts("B1");
    let count_of = |v: &str| b1_counts.iter().find(|x| x.0 == v).map_or(0, |x| x.1);
    let blank = count_of("");
    assert!(blank > 0, "the example has unanswered B1");
    assert!(
        after("B1").contains(&format!("Don't know ({}) · ", count_of("Don't know")))
            && after("B1").ends_with(&format!(", {blank} blank")),
        "{}",
        after("B1")
    );
    // Identifying columns and columns of unique values are never listed.
    assert!(!o.stdout.contains('@'), "an e-mail address was printed");
    assert!(after("RecipientLastName").contains("looks identifying"));
    assert!(after("ResponseId").contains("mostly unique"));
    // JSON: the same, as {value, count}; --top bounds the list.
    let t = t.again().args([
        "inspect",
        "r/responses_qualtrics.csv",
        "--json",
        "--top",
        "2",
    ]);
    let o = t.run().expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let s1 = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "S1")
        .unwrap();
    assert_eq!(s1["answers"].as_array().unwrap().len(), 2);
    assert_eq!(s1["answers"][0]["value"], top.as_str());
    assert_eq!(s1["answers"][0]["count"], *top_n);
    assert!(s1["distinct"].as_u64().unwrap() > 5);
}

/// An alias table that misses a common supplier: run, validate and the report say how much of
/// the naming went unresolved, and the quality gate fails the run.
#[test]
fn unresolved_supplier_names_are_counted_and_gated() {
    let t = TestRun::new().with_example("example-2024", "r");
    let table = std::fs::read_to_string(t.path("r/suppliers.csv")).unwrap();
    let kept: String = table
        .lines()
        .filter(|l| !l.to_lowercase().starts_with("epic"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(kept.len() < table.len());
    std::fs::write(t.path("r/suppliers.csv"), kept).unwrap();
    let t = t.args(["run", "r", "--out", "out"]);
    let o = t.run().expect_code(1);
    let said = o
        .stdout
        .lines()
        .find(|l| l.starts_with("suppliers: "))
        .expect("the run says what the alias table missed")
        .to_string();
    assert!(
        said.contains("match no supplier of the alias table; the largest: `Epic"),
        "{said}"
    );
    assert!(
        o.stderr
            .contains("above quality.max_unresolved_supplier_share = 0.05"),
        "{}",
        o.stderr
    );
    // The share said is the share of mentions: check it against the published match table.
    let (head, rows) = crate::util::read_csv(&t.path("out/tables/supplier_matches.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let mentions = |f: &dyn Fn(&Vec<String>) -> bool| -> usize {
        rows.iter()
            .filter(|r| f(r))
            .map(|r| r[col("mentions")].parse::<usize>().unwrap())
            .sum()
    };
    // (A typed list split into names has a row of its own beside its names' rows.)
    let total = mentions(&|r| r[col("how")] != "list");
    let missed = mentions(&|r| r[col("how")] == "unresolved");
    assert!(
        said.starts_with(&format!("suppliers: {missed} of {total} supplier mentions")),
        "{said}"
    );
    let html = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    assert!(html.contains(&format!(
        "<strong>{:.1}% of the supplier mentions</strong>",
        100.0 * missed as f64 / total as f64
    )));
    assert!(
        html.contains("max_unresolved_supplier_share"),
        "the gate's banner"
    );
    // validate predicts it.
    let o = t.again().args(["validate", "r"]).run().expect_code(1);
    assert!(
        o.stderr.contains("quality gate would fail")
            && o.stderr.contains("max_unresolved_supplier_share")
    );
}

/// The built-in agreement and yes/no scales stand in for the example's own definitions: the
/// same estimates to the byte, with the scales' blocks deleted from the spec.
#[test]
fn built_in_scales_need_no_definition() {
    let t = TestRun::new()
        .with_example("example-2024", "own")
        .with_example("example-2024", "builtin");
    let spec = std::fs::read_to_string(t.path("builtin/survey.toml")).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in spec.lines() {
        if line.starts_with('[') {
            skipping = line == "[scales.agree5]" || line == "[scales.yesno]";
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(!out.contains("[scales.agree5]") && out.contains("scale = \"agree5\""));
    std::fs::write(t.path("builtin/survey.toml"), out).unwrap();
    let t = t.args(["run", "own", "--out", "out-own", "-q"]);
    t.run().expect_code(0);
    let t = t
        .again()
        .args(["run", "builtin", "--out", "out-builtin", "-q"]);
    t.run().expect_code(0);
    assert_eq!(
        std::fs::read(t.path("out-own/tables/estimates.csv")).unwrap(),
        std::fs::read(t.path("out-builtin/tables/estimates.csv")).unwrap()
    );
    // An unknown scale names the built-in ones.
    let spec = std::fs::read_to_string(t.path("builtin/survey.toml")).unwrap();
    std::fs::write(
        t.path("builtin/survey.toml"),
        spec.replacen("scale = \"agree5\"", "scale = \"agree9\"", 1),
    )
    .unwrap();
    let o = t.again().args(["validate", "builtin"]).run().expect_code(2);
    assert!(
        o.stderr.contains("unknown scale `agree9`") && o.stderr.contains("likelihood5 (built in)"),
        "{}",
        o.stderr
    );
}

/// `init --from` on the example's two exports: a draft that validates as it is, runs to a
/// report, and reads the questions as the example's own spec does.
#[test]
fn init_from_the_exports_drafts_a_spec_that_validates_and_runs() {
    let t = TestRun::new().with_example("example-2024", "raw").args([
        "init",
        "new",
        "--from",
        "raw/responses_qualtrics.csv",
        "raw/responses_forms.xlsx",
    ]);
    t.run().expect_code(0);
    let spec = std::fs::read_to_string(t.path("new/survey.toml")).unwrap();
    // One line per question: the `questions = [...]` block has 2 lines more than questions.
    let block: Vec<&str> = spec
        .split("questions = [\n")
        .nth(1)
        .unwrap()
        .split("\n]\n")
        .next()
        .unwrap()
        .lines()
        .collect();
    let n = block.len();
    assert!(n >= 40, "{n} questions");
    assert!((n + 2) as f64 / n as f64 <= 3.0);
    let line = |id: &str| {
        block
            .iter()
            .find(|l| l.contains(&format!("{{ id = \"{id}\"")))
            .unwrap_or_else(|| panic!("question {id}"))
            .to_string()
    };
    // S1: its options with the typos of the export grouped under them as aliases — every
    // answer the export holds (trimmed; case aside) is a label or an alias of the draft.
    let s1 = line("S1");
    assert!(
        s1.contains("type = \"single\"")
            && s1.contains("label = \"Direct patient care\"")
            && s1.contains("aliases = ["),
        "{s1}"
    );
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(t.path("raw/responses_qualtrics.csv"))
        .unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let c = rows[0].iter().position(|h| h == "S1").unwrap();
    for r in &rows[3..] {
        let v = r.get(c).unwrap_or("").trim();
        assert!(
            v.is_empty()
                || s1
                    .to_lowercase()
                    .contains(&format!("\"{}\"", v.to_lowercase())),
            "S1 answer `{v}` is neither a label nor an alias: {s1}"
        );
    }
    assert!(
        line("B5").contains("type = \"likert\", scale = \"agree5\""),
        "{}",
        line("B5")
    );
    assert!(
        line("D3").contains("scale = \"frequency5\"") || line("D3").contains("type = \"single\"")
    );
    assert!(line("D5").contains("type = \"yesno\""), "{}", line("D5"));
    assert!(line("D2").contains("type = \"numeric\""), "{}", line("D2"));
    assert!(line("C4").contains("type = \"text\""));
    assert!(
        line("b4").contains("type = \"multi\"") && line("b4").contains("label = \"Procurement\"")
    );
    assert!(
        line("B1").contains("missing = [{ code = \"dk\", label = \"Don't know\" }]"),
        "{}",
        line("B1")
    );
    assert!(line("ExternalReference").contains("aliases = [\"HSCC member ID\"]"));
    assert!(spec.contains("key = \"ExternalReference\""));
    assert!(spec.contains("\"RecipientEmail\"") && spec.contains("identifying = ["));
    assert!(spec.contains("method = \"none\"") && spec.contains("TODO"));
    assert!(t.path("new/population.csv").exists() && t.path("new/responses_forms.xlsx").exists());
    // It validates as it is, and runs to a report.
    let v = t.again().args(["validate", "new"]);
    let o = v.run().expect_code(0);
    assert!(o.stdout.contains("valid"), "{}", o.stdout);
    let r = v.again().args(["run", "new", "--out", "out", "-q"]);
    r.run().expect_code(0);
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    assert!(html.contains("Which HSCC subsector best describes your organization?"));
    assert!(html.contains("not weighted"));
    // No risk index yet: the report says so instead of an empty findings box or risk section.
    assert!(html.contains("No key findings yet") && !html.contains("id=\"risk\""));
}

/// Every committed export fixture drafts a spec the pipeline reads: validate and run never
/// exit 2 (the fixtures have 2–3 responses, so the size gates fail: exit 1, report written).
#[test]
fn init_from_every_export_layout() {
    for f in [
        "qualtrics_3row.csv",
        "surveymonkey.csv",
        "msforms.xlsx",
        "redcap_labels.csv",
        "redcap_raw.csv",
        "plain_utf8.csv",
    ] {
        let src = crate::util::repo().join("tests/fixtures/ingest").join(f);
        let t = TestRun::new().args(["init", "r", "--from", &src.display().to_string()]);
        t.run().expect_code(0);
        let t = t.again().args(["validate", "r"]);
        let o = t.run();
        assert!(o.code <= 1, "{f}: validate exit {}: {}", o.code, o.stderr);
        let t = t.again().args(["run", "r", "--out", "out", "-q"]);
        let o = t.run();
        assert!(o.code <= 1, "{f}: run exit {}: {}", o.code, o.stderr);
        assert!(t.path("out/report.html").exists(), "{f}");
    }
}

/// A mean over a numeric question without `range` (as drafts have): disclosure control bounds
/// its totals by the answers' own range instead of leaving its programs unbounded (it hung).
#[test]
fn a_mean_of_a_numeric_question_without_a_range_runs() {
    let t = TestRun::new().with_example("example-2024", "r");
    let spec = std::fs::read_to_string(t.path("r/survey.toml")).unwrap();
    let spec = spec.replacen("range = [0, 100]\nscore_range = [0, 100]", "score_range = [0, 100]", 1)
        + "\n[[metrics]]\nid = \"X.D2\"\nversion = 1\ntitle = \"Mean D2\"\nkind = \"mean\"\nvariable = \"D2\"\ndefinition = \"mean\"\n";
    std::fs::write(t.path("r/survey.toml"), spec).unwrap();
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    let o = t.run();
    assert!(o.code <= 1, "{}", o.stderr);
}

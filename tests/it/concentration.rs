//! Supplier concentration (issue 10) end to end: the example round's dependency shares, HHI,
//! effective numbers and no-alternative shares against R's survey package; a supplier named by
//! three organizations hidden from every published output; names never published by default;
//! `suppliers suggest` proposing the unresolved spellings.

use std::io::Read;
use std::path::Path;

use supplyrisk::kernels::prec::{close, R_RTOL};
use supplyrisk::pipeline::{run, RunOptions};

use crate::util::{copy_dir, read_csv, repo, TestRun};

/// The example round with `publish_names = true` (R's rows are keyed by supplier name).
fn round_with_names(dir: &Path) {
    copy_dir(&repo().join("surveys/example-2024"), dir);
    let p = dir.join("survey.toml");
    let spec = std::fs::read_to_string(&p).unwrap();
    assert!(spec.contains("publish_names = false"));
    std::fs::write(
        &p,
        spec.replace("publish_names = false", "publish_names = true"),
    )
    .unwrap();
}

/// tests/reference/concentration_example.R: every row at R_RTOL, including rows the published
/// tables suppress (the comparison is on the computed values).
#[test]
fn concentration_matches_r_on_the_example_round() {
    let t = TestRun::new();
    let round = t.path("round");
    round_with_names(&round);
    // The metric lock sits beside the rounds' folder.
    std::fs::copy(
        repo().join("surveys/hscc-scrm.metrics.lock.json"),
        t.path("hscc-scrm.metrics.lock.json"),
    )
    .unwrap();
    let r = run(&RunOptions {
        round_dir: round,
        out_dir: Some(t.path("out")),
        progress: false,
        previous: None,
        timings: false,
    })
    .unwrap();
    let c = r
        .concentration
        .as_ref()
        .expect("the example has [concentration]");
    let (head, rows) = read_csv(&repo().join("tests/reference/concentration_example.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let mut compared = 0;
    for row in &rows {
        let (kind, what, sv, val) = (
            row[col("kind")].as_str(),
            row[col("what")].as_str(),
            row[col("segment_var")].as_str(),
            row[col("segment_value")].as_str(),
        );
        let pool = if kind == "supplier_share" {
            &c.supplier_rows
        } else {
            &c.category_rows
        };
        let ours = pool
            .iter()
            .find(|e| {
                (kind == "supplier_share" || e.metric_id == kind)
                    && e.level == what
                    && e.segment_var == sv
                    && e.segment_value == val
            })
            .unwrap_or_else(|| panic!("no row for {kind} {what} {sv} {val}"));
        for (name, got, want) in [
            (
                "estimate",
                ours.estimate,
                row[col("estimate")].parse::<f64>().unwrap(),
            ),
            ("se", ours.se, row[col("se")].parse::<f64>().unwrap()),
        ] {
            assert!(
                close(got, want, R_RTOL),
                "{kind} {what} {sv}={val} {name}: got {got:.17e}, R has {want:.17e}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 150, "{compared} values compared");
}

/// Three organizations name "Zephyr Clinical Cloud" (in the alias table, category cloud): with
/// names published it still appears in no published output — not in the tables, charts, report,
/// summary, workbook, metrics or data package — while suppliers named by more do. The review
/// table and the respondent-level mentions (internal) keep it.
#[test]
fn a_supplier_named_by_three_organizations_is_hidden_everywhere() {
    let t = TestRun::new();
    round_with_names(&t.path("r"));
    name_supplier(&t.path("r"), "Zephyr Clinical Cloud", "cloud", 3);
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let out = t.path("out");

    // The premise: exactly three organizations name it.
    let (head, mentions) = read_csv(&out.join("data/supplier_mentions.csv"));
    let sup = head.iter().position(|h| h == "supplier").unwrap();
    assert_eq!(
        mentions
            .iter()
            .filter(|r| r[sup] == "Zephyr Clinical Cloud")
            .count(),
        3
    );
    let matches = std::fs::read_to_string(out.join("tables/supplier_matches.csv")).unwrap();
    assert!(
        matches.contains("Zephyr Clinical Cloud"),
        "the review table lists it"
    );

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let mut published = 0;
    let mut shown_epic = false;
    for o in manifest["outputs"].as_array().unwrap() {
        if !o["publishable"].as_bool().unwrap() {
            continue;
        }
        let rel = o["path"].as_str().unwrap();
        let bytes = std::fs::read(out.join(rel)).unwrap();
        let texts: Vec<String> = if rel.ends_with(".xlsx") {
            let mut z = zip::ZipArchive::new(std::fs::File::open(out.join(rel)).unwrap()).unwrap();
            (0..z.len())
                .map(|i| {
                    let mut s = String::new();
                    z.by_index(i).unwrap().read_to_string(&mut s).unwrap();
                    s
                })
                .collect()
        } else {
            vec![String::from_utf8_lossy(&bytes).into_owned()]
        };
        for s in &texts {
            assert!(!s.contains("Zephyr"), "{rel} shows the supplier named by 3");
            shown_epic |= s.contains("Epic");
        }
        published += 1;
    }
    assert!(published > 20);
    assert!(shown_epic, "a supplier named by many is published by name");
    // Its cloud rank is not taken: ranks stay 1, 2, … without a gap.
    let (head, dep) = read_csv(&out.join("tables/supplier_dependency.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let mut cloud: Vec<u32> = dep
        .iter()
        .filter(|r| r[col("category")] == "cloud" && r[col("segment_var")] == "all")
        .map(|r| r[col("rank")].parse().unwrap())
        .collect();
    cloud.sort_unstable();
    assert_eq!(cloud, (1..=cloud.len() as u32).collect::<Vec<_>>());
}

/// Add `name` (category `category`) to a round's alias table and to the C4 answers of the first
/// `count` complete, unduplicated Qualtrics responses.
fn name_supplier(round: &Path, name: &str, category: &str, count: usize) {
    let aliases = round.join("suppliers.csv");
    let mut table = std::fs::read_to_string(&aliases).unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([name, name, category]).unwrap();
    table.push_str(&String::from_utf8(w.into_inner().unwrap()).unwrap());
    std::fs::write(&aliases, table).unwrap();
    let path = round.join("responses_qualtrics.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let at = |n: &str| rows[0].iter().position(|h| h == n).unwrap();
    let (status, finished, c4, org) = (at("Status"), at("Finished"), at("C4"), at("Q_ORG"));
    let mut changed = 0;
    for i in 3..rows.len() {
        let unique = rows
            .iter()
            .filter(|r| r.get(org) == rows[i].get(org))
            .count()
            == 1;
        if changed < count
            && unique
            && rows[i][status] == "IP Address"
            && rows[i][finished] == "True"
            && !rows[i][c4].is_empty()
        {
            rows[i][c4] = format!("{}; {name}", rows[i][c4]);
            changed += 1;
        }
    }
    assert_eq!(changed, count);
    let mut w = csv::Writer::from_path(&path).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// A published supplier name that is markup and a spreadsheet formula: escaped in the report,
/// summary and SVG charts, neutralized in every CSV, quote-prefixed text in the workbook.
#[test]
fn a_hostile_supplier_name_is_escaped_and_neutralized() {
    let t = TestRun::new();
    round_with_names(&t.path("r"));
    let evil = "=HYPERLINK(\"http://x\")<script>alert(1)</script>";
    name_supplier(&t.path("r"), evil, "cloud", 8);
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let out = t.path("out");
    let dep = std::fs::read_to_string(out.join("tables/supplier_dependency.csv")).unwrap();
    assert!(
        dep.contains("'=HYPERLINK("),
        "published and neutralized in the CSV"
    );
    assert!(!dep.contains(",=HYPERLINK(") && !dep.contains(",\"=HYPERLINK("));
    for rel in ["report.html", "charts/supplier_dependency.svg"] {
        let s = std::fs::read_to_string(out.join(rel)).unwrap();
        assert!(s.contains("HYPERLINK"), "{rel} shows the supplier");
        assert!(!s.contains("<script>alert"), "{rel} carries raw markup");
    }
    let parts = {
        let mut z =
            zip::ZipArchive::new(std::fs::File::open(out.join("tables.xlsx")).unwrap()).unwrap();
        (0..z.len())
            .map(|i| {
                let mut s = String::new();
                z.by_index(i).unwrap().read_to_string(&mut s).unwrap();
                s
            })
            .collect::<Vec<_>>()
    };
    assert!(
        parts.iter().any(|p| p.contains("=HYPERLINK(")),
        "the workbook has the name"
    );
    assert!(
        parts.iter().all(|p| !p.contains("<f>")),
        "as text, never a formula"
    );
}

/// By default (`publish_names = false`) suppliers appear by rank only: no canonical supplier
/// name reaches a published output, and the tables name them `<category> #<rank>`.
#[test]
fn supplier_names_are_not_published_by_default() {
    let t = crate::util::example_run();
    let out = t.path("out");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    for o in manifest["outputs"].as_array().unwrap() {
        if !o["publishable"].as_bool().unwrap() || o["path"].as_str().unwrap().ends_with(".xlsx") {
            continue;
        }
        let rel = o["path"].as_str().unwrap();
        let s = String::from_utf8_lossy(&std::fs::read(out.join(rel)).unwrap()).into_owned();
        for name in [
            "Change Healthcare",
            "Microsoft Azure",
            "Oracle Health",
            "Availity",
            "MEDITECH",
        ] {
            assert!(!s.contains(name), "{rel} names {name}");
        }
    }
    let (head, dep) = read_csv(&out.join("tables/supplier_dependency.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    assert!(dep.iter().any(|r| r[col("supplier")] == "EHR #1"));
    // Internal outputs keep the names for the task group.
    let (_, mentions) = read_csv(&out.join("data/supplier_mentions.csv"));
    assert!(mentions
        .iter()
        .any(|r| r.contains(&"Change Healthcare".to_string())));
}

/// `suppliers suggest`: a typo the resolver would not join becomes a proposal to check, and
/// spellings of a supplier the table lacks are grouped under one canonical name, category blank.
#[test]
fn suppliers_suggest_proposes_alias_rows() {
    let t = TestRun::new()
        .with_example("example-2024", "r")
        .args(["suppliers", "suggest", "r"]);
    let out = t.run().expect_code(0);
    let mut rdr = csv::Reader::from_reader(out.stdout.as_bytes());
    let head: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(&head[..3], ["alias", "canonical", "category"]);
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let find = |alias: &str| rows.iter().find(|r| r[0] == alias);
    // Synthetic typos of example-2024 (regenerating the example changes them).
    let medine = find("Medine").expect("an unresolved typo is proposed");
    assert_eq!(
        (medine[1].as_str(), medine[2].as_str()),
        ("Medline", "distributor")
    );
    // Its first word differs from Medline's: marked, with why resolution did not take it.
    assert!(
        medine[4].contains("PROBABLE LOOK-ALIKE") && medine[4].contains("0.97"),
        "{medine:?}"
    );
    // A supplier the table lacks, in two spellings: grouped under one name, its longer and
    // plainer spelling, with the category left to a person.
    for spelling in ["BlueWave IT", "Bluewave IT Partners"] {
        let row = find(spelling).expect("a new supplier's spelling");
        assert_eq!(row[1], "Bluewave IT Partners", "spellings grouped");
        assert_eq!(row[2], "", "a person chooses the category");
    }
    // Names resolved only by similarity are proposed for confirmation.
    assert!(rows.iter().any(|r| r[4].starts_with("matched")));
    // `validate` counts them and points to the command (a warning: exit 0).
    let t = t.again().args(["validate", "r"]);
    let out = t.run().expect_code(0);
    let unresolved = rows
        .iter()
        .filter(|r| r[4].starts_with("unresolved"))
        .count();
    assert!(
        out.stdout.contains(&format!("{unresolved} unresolved"))
            && out.stdout.contains("suppliers suggest"),
        "{}",
        out.stdout
    );
}

/// A wrong `[concentration]` section is refused with the key, the value and what is expected;
/// a broken alias table names its file and row. Nothing panics.
#[test]
fn concentration_settings_and_alias_table_errors_are_clear() {
    let t = TestRun::new()
        .with_example("example-2024", "r")
        .args(["validate", "r"]);
    let p = t.path("r/survey.toml");
    let spec = std::fs::read_to_string(&p).unwrap();
    let spec = spec
        .replace("suppliers = [\"C4\"]", "suppliers = [\"C5\"]")
        .replace("aliases = \"suppliers.csv\"", "aliases = \"vendors.csv\"")
        .replace("no_alternative = [\"zero\"]", "no_alternative = [\"none\"]");
    std::fs::write(&p, spec).unwrap();
    let out = t.run().expect_code(2);
    for needle in [
        "concentration.suppliers[0]",
        "text question",
        "concentration.no_alternative[0]",
        "`none`",
        "two_plus",
        "vendors.csv",
        "not found",
    ] {
        // miette wraps long messages: compare with line breaks and the gutter removed.
        let flat: String = out
            .stderr
            .split('\n')
            .map(|l| l.trim_start_matches([' ', '│', '×']))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains(needle), "{needle}: {}", out.stderr);
    }
    std::fs::write(
        t.path("r/vendors.csv"),
        "alias,canonical,category\nEpic,Epic,ehr\nCerner,,ehr\n",
    )
    .unwrap();
    let spec = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        spec.replace("suppliers = [\"C5\"]", "suppliers = [\"C4\"]")
            .replace("no_alternative = [\"none\"]", "no_alternative = [\"zero\"]"),
    )
    .unwrap();
    let t = t.again().args(["run", "r", "--out", "out", "-q"]);
    let out = t.run().expect_code(2);
    assert!(
        out.stderr.contains("vendors.csv, row 3") && out.stderr.contains("may not be empty"),
        "{}",
        out.stderr
    );
}

//! The clearinghouse store (`supplyrisk clearinghouse add|series|list|export`) on real outputs:
//! the two example rounds and generated rounds of several sizes. What the store holds is
//! checked against the output folders it was loaded from, never against numbers written here.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use supplyrisk::clearinghouse::Store;

use crate::util::{read_csv, two_example_rounds, TestRun};

fn counts(store: &Path) -> Vec<(&'static str, i64)> {
    Store::open_existing(store).unwrap().counts().unwrap()
}

fn json_of(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Query the store directly (what Datasette, DuckDB or pandas would read).
fn query(store: &Path, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let conn = rusqlite::Connection::open(store).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<Vec<Vec<rusqlite::types::Value>>, _>>()
        .unwrap();
    rows
}

fn real(v: &rusqlite::types::Value) -> Option<f64> {
    match v {
        rusqlite::types::Value::Real(x) => Some(*x),
        rusqlite::types::Value::Integer(x) => Some(*x as f64),
        _ => None,
    }
}

/// Every metric row of an output's metrics.json is in the store with the same numbers, and a
/// suppressed one with none.
fn assert_store_holds(store: &Path, out: &Path) {
    let doc = json_of(&out.join("metrics/metrics.json"));
    let round = doc["round"].as_str().unwrap();
    let survey = doc["survey_id"].as_str().unwrap();
    let rows = query(
        store,
        &format!(
            "SELECT metric_id, statistic, level, segment_var, segment_value, estimate, se, ci_low,
                    ci_high, n, n_eff, suppressed, tlp
               FROM metric_values WHERE survey_id = '{survey}' AND round = '{round}'"
        ),
    );
    let text = |v: &rusqlite::types::Value| match v {
        rusqlite::types::Value::Text(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    };
    let held: BTreeMap<Vec<String>, &Vec<rusqlite::types::Value>> = rows
        .iter()
        .map(|r| ((0..5).map(|i| text(&r[i])).collect(), r))
        .collect();
    let estimates = doc["estimates"].as_array().unwrap();
    assert_eq!(held.len(), estimates.len(), "{}", out.display());
    for e in estimates {
        let key: Vec<String> = [
            "metric_id",
            "statistic",
            "level",
            "segment_var",
            "segment_value",
        ]
        .iter()
        .map(|k| e[*k].as_str().unwrap().to_string())
        .collect();
        let r = held.get(&key).unwrap_or_else(|| panic!("{key:?} missing"));
        let suppressed = e["suppressed"].as_bool().unwrap();
        assert_eq!(
            r[11],
            rusqlite::types::Value::Integer(suppressed as i64),
            "{key:?}"
        );
        for (i, k) in [
            (5, "estimate"),
            (6, "se"),
            (7, "ci_low"),
            (8, "ci_high"),
            (9, "n"),
            (10, "n_eff"),
        ] {
            if suppressed {
                assert_eq!(
                    r[i],
                    rusqlite::types::Value::Null,
                    "{key:?} {k} of a suppressed row"
                );
            } else {
                assert_eq!(real(&r[i]), e[k].as_f64(), "{key:?} {k}");
            }
        }
        assert_eq!(text(&r[12]), doc["tlp"].as_str().unwrap());
    }
}

#[test]
fn both_example_rounds_give_a_series_with_the_panel_change_and_readding_changes_nothing() {
    let t = two_example_rounds();
    let store = t.path("ch.sqlite");
    let t = t.again().args([
        "clearinghouse",
        "add",
        "out-a",
        "out-b",
        "--store",
        "ch.sqlite",
    ]);
    let out = t.run().expect_code(0);
    assert!(
        out.stdout.contains("round 2023 from out-a: added"),
        "{}",
        out.stdout
    );
    assert_store_holds(&store, &t.path("out-a"));
    assert_store_holds(&store, &t.path("out-b"));
    // Round 2024's own package, with the changes it publishes, is valid.
    let (ok, report) = crate::export::validate(&t.path("out-b"));
    assert!(ok && report.contains("metrics/changes.csv"), "{report}");
    let before = counts(&store);
    let audit = query(&store, "SELECT count(*) FROM audit");

    // Adding the same outputs again is a no-op: every table keeps its rows, the audit too.
    let t = t.again().args([
        "clearinghouse",
        "add",
        "out-b",
        "out-a",
        "--store",
        "ch.sqlite",
    ]);
    let out = t.run().expect_code(0);
    assert_eq!(
        out.stdout.matches("nothing changed").count(),
        2,
        "{}",
        out.stdout
    );
    assert_eq!(counts(&store), before);
    assert_eq!(query(&store, "SELECT count(*) FROM audit"), audit);

    // The series of the mean risk index: both rounds, the change with the panel SE that
    // round 2024 published against exactly this round 2023.
    let t = t.again().args([
        "clearinghouse",
        "series",
        "SCRM.RISK.01",
        "--store",
        "ch.sqlite",
        "--format",
        "json",
    ]);
    let series: Value = serde_json::from_str(&t.run().expect_code(0).stdout).unwrap();
    let rows = series["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{series}");
    assert_eq!(series["tlp"], "TLP:GREEN");
    let metric = |dir: &str| {
        let doc = json_of(&t.path(dir).join("metrics/metrics.json"));
        doc["estimates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["metric_id"] == "SCRM.RISK.01" && e["segment_var"] == "all")
            .cloned()
            .unwrap()
    };
    let (a, b) = (metric("out-a"), metric("out-b"));
    assert_eq!(rows[0]["round"], "2023");
    assert_eq!(rows[0]["estimate"], a["estimate"]);
    assert_eq!(rows[0]["change_status"], "first");
    assert_eq!(rows[1]["estimate"], b["estimate"]);
    let d = b["estimate"].as_f64().unwrap() - a["estimate"].as_f64().unwrap();
    assert!((rows[1]["change"].as_f64().unwrap() - d).abs() < 1e-12);
    let (_, changes) = read_csv(&t.path("out-b/metrics/changes.csv"));
    let published = changes
        .iter()
        .find(|c| c[3] == "SCRM.RISK.01" && c[8] == "all")
        .unwrap();
    assert_eq!(published[14], "panel");
    assert_eq!(rows[1]["change_se_method"], "panel");
    assert_eq!(
        rows[1]["change_se"].as_f64().unwrap(),
        published[13].parse::<f64>().unwrap()
    );
    // The panel SE is smaller than the independent one here (docs/metrics.md: 1.367 vs 1.810).
    let independent =
        (a["se"].as_f64().unwrap().powi(2) + b["se"].as_f64().unwrap().powi(2)).sqrt();
    assert!(rows[1]["change_se"].as_f64().unwrap() < independent);

    // A segment, as CSV: every row carries the strictest TLP.
    let t = t.again().args([
        "clearinghouse",
        "series",
        "SCRM.RISK.01",
        "--segment",
        "subsector=dpc",
        "--store",
        "ch.sqlite",
        "--format",
        "csv",
    ]);
    let out = t.run().expect_code(0);
    let mut r = csv::Reader::from_reader(out.stdout.as_bytes());
    let head = r.headers().unwrap().clone();
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 2);
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    assert!(recs
        .iter()
        .all(|x| &x[col("segment_value")] == "dpc" && &x[col("tlp")] == "TLP:GREEN"));

    // An unknown segment names the ones held.
    let t = t.again().args([
        "clearinghouse",
        "series",
        "SCRM.RISK.01",
        "--segment",
        "subsector=nope",
        "--store",
        "ch.sqlite",
    ]);
    let out = t.run().expect_code(2);
    assert!(out.stderr.contains("subsector=dpc"), "{}", out.stderr);

    // `list` shows both rounds and every metric version, with the rounds holding it.
    let t = t.again().args([
        "clearinghouse",
        "list",
        "--store",
        "ch.sqlite",
        "--format",
        "json",
    ]);
    let list: Value = serde_json::from_str(&t.run().expect_code(0).stdout).unwrap();
    assert_eq!(list["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(list["rounds"][1]["previous_round"], "2023");
    let risk = list["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["metric_id"] == "SCRM.RISK.01")
        .unwrap();
    assert_eq!(
        risk["rounds"],
        serde_json::json!(["hscc-scrm 2023", "hscc-scrm 2024"])
    );
}

#[test]
fn a_tampered_output_is_refused_and_adds_nothing() {
    let t = two_example_rounds();
    let store = t.path("ch.sqlite");
    // One changed byte in a published table the store does not even read.
    let est = t.path("out-b/tables/estimates.csv");
    let mut bytes = std::fs::read(&est).unwrap();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
    std::fs::write(&est, bytes).unwrap();
    let t = t.again().args([
        "clearinghouse",
        "add",
        "out-a",
        "out-b",
        "--store",
        "ch.sqlite",
    ]);
    let out = t.run().expect_code(2);
    assert!(
        out.stderr.contains("out-b") && out.stderr.contains("tables/estimates.csv: altered"),
        "{}",
        out.stderr
    );
    // All or nothing: out-a was not added either, and no empty store is left behind.
    assert!(!store.exists());
    // A file the manifest does not know is refused too.
    std::fs::write(t.path("out-a/metrics/extra.csv"), "x\n1\n").unwrap();
    let t = t
        .again()
        .args(["clearinghouse", "add", "out-a", "--store", "ch.sqlite"]);
    let out = t.run().expect_code(2);
    assert!(
        out.stderr
            .contains("metrics/extra.csv: not in the manifest"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_changed_definition_under_the_same_version_is_refused_naming_the_fields() {
    // Round 2024 with SCRM.INV.01's title and levels changed but its version kept (no lock in
    // the scratch folder, so `run` publishes it as a new metric).
    let t = TestRun::new()
        .with_example("example-2023", "a")
        .with_example("example-2024", "b")
        .args(["run", "a", "--out", "out-a", "-q"]);
    t.run().expect_code(0);
    let spec_path = t.path("b/survey.toml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let start = spec
        .find("id = \"SCRM.INV.01\"")
        .expect("the example has SCRM.INV.01");
    let end = start + spec[start..].find("[[").unwrap_or(spec.len() - start);
    let entry = &spec[start..end];
    let title_line = entry.lines().find(|l| l.starts_with("title")).unwrap();
    let changed = entry.replacen(
        title_line,
        "title = \"Inventory of critical suppliers, renamed\"",
        1,
    );
    std::fs::write(&spec_path, spec.replacen(entry, &changed, 1)).unwrap();
    let t = t.again().args(["run", "b", "--out", "out-b", "-q"]);
    t.run().expect_code(0);
    let t = t
        .again()
        .args(["clearinghouse", "add", "out-a", "--store", "ch.sqlite"]);
    t.run().expect_code(0);
    let before = counts(&t.path("ch.sqlite"));
    let t = t
        .again()
        .args(["clearinghouse", "add", "out-b", "--store", "ch.sqlite"]);
    let out = t.run().expect_code(2);
    assert!(
        out.stderr.contains("metric SCRM.INV.01 version 1")
            && out.stderr.contains("title differs")
            && out.stderr.contains("hscc-scrm round 2023"),
        "{}",
        out.stderr
    );
    assert_eq!(counts(&t.path("ch.sqlite")), before);
}

#[test]
fn another_output_of_a_held_round_needs_replace_which_is_recorded() {
    let t = TestRun::new()
        .with_example("example-2024", "r")
        .args(["run", "r", "--out", "first", "-q"]);
    t.run().expect_code(0);
    // The same round at another confidence level: another output, same definitions.
    let spec_path = t.path("r/survey.toml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    assert!(
        spec.contains("ci_level = 0.95"),
        "the example publishes 95% intervals"
    );
    std::fs::write(
        &spec_path,
        spec.replacen("ci_level = 0.95", "ci_level = 0.9", 1),
    )
    .unwrap();
    let t = t.again().args(["run", "r", "--out", "second", "-q"]);
    t.run().expect_code(0);
    let t = t
        .again()
        .args(["clearinghouse", "add", "first", "--store", "ch.sqlite"]);
    t.run().expect_code(0);
    let store = t.path("ch.sqlite");
    let first_manifest = json_of(&t.path("first/manifest.json"));
    let before = counts(&store);
    let t = t
        .again()
        .args(["clearinghouse", "add", "second", "--store", "ch.sqlite"]);
    let out = t.run().expect_code(2);
    assert!(out.stderr.contains("--replace"), "{}", out.stderr);
    assert_eq!(counts(&store), before);
    let t = t.again().args([
        "clearinghouse",
        "add",
        "second",
        "--store",
        "ch.sqlite",
        "--replace",
    ]);
    let out = t.run().expect_code(0);
    assert!(out.stdout.contains("replaced"), "{}", out.stdout);
    assert_store_holds(&store, &t.path("second"));
    let rows = query(
        &store,
        "SELECT replaced_manifest_sha256, by_manifest_sha256, replaced_values FROM replacements",
    );
    assert_eq!(rows.len(), 1);
    let sha = |dir: &str| {
        let bytes = std::fs::read(t.path(dir).join("manifest.json")).unwrap();
        supplyrisk::ingest::sha256_hex(&bytes)
    };
    assert_eq!(rows[0][0], rusqlite::types::Value::Text(sha("first")));
    assert_eq!(rows[0][1], rusqlite::types::Value::Text(sha("second")));
    let estimates = first_manifest["counts"]["estimates"].as_i64().unwrap();
    assert!(matches!(rows[0][2], rusqlite::types::Value::Integer(n) if n >= estimates));
    let audit = query(&store, "SELECT action FROM audit ORDER BY seq");
    assert_eq!(
        audit,
        [
            vec![rusqlite::types::Value::Text("added".into())],
            vec![rusqlite::types::Value::Text("replaced".into())]
        ]
    );
}

#[test]
fn the_exported_store_validates_with_frictionless_and_is_the_same_on_another_day() {
    let t = two_example_rounds();
    let add = |t: TestRun, store: &str, epoch: &str| {
        let t = t
            .again()
            .args(["clearinghouse", "add", "out-a", "out-b", "--store", store])
            .env("SOURCE_DATE_EPOCH", epoch);
        t.run().expect_code(0);
        let t = t.again().args([
            "clearinghouse",
            "export",
            "--store",
            store,
            "--out",
            &format!("{store}.package"),
        ]);
        t.run().expect_code(0);
        t
    };
    let t = add(t, "one.sqlite", "1700000000");
    let t = add(t, "two.sqlite", "1800000000");
    let one = t.path("one.sqlite.package");
    let two = t.path("two.sqlite.package");
    let (ok, report) = crate::export::validate(&one);
    assert!(ok, "frictionless rejects the store's package:\n{report}");
    let package = json_of(&one.join("datapackage.json"));
    let names: Vec<&str> = package["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "surveys",
            "rounds",
            "metric_definitions",
            "metric_values",
            "metric_changes",
            "replacements",
            "audit"
        ]
    );
    assert_eq!(report.matches("VALID").count(), names.len(), "{report}");
    // Another day: the same rows in every data table; only the audit's times differ.
    for name in &names {
        let file = format!("{name}.csv");
        let (a, b) = (
            std::fs::read(one.join(&file)).unwrap(),
            std::fs::read(two.join(&file)).unwrap(),
        );
        if *name == "audit" {
            assert_ne!(a, b);
        } else {
            assert_eq!(a, b, "{file} differs between two days");
        }
    }
    // Published content only: the store's columns name no respondent-level field, and every
    // suppressed row of the export is blank.
    let (head, rows) = read_csv(&one.join("metric_values.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let mut suppressed = 0;
    for r in &rows {
        if r[col("suppressed")] == "true" {
            suppressed += 1;
            for k in ["estimate", "se", "ci_low", "ci_high", "n", "n_eff"] {
                assert_eq!(r[col(k)], "", "a suppressed row shows {k}");
            }
        }
    }
    assert!(suppressed > 0, "the example rounds withhold cells");
    let all_columns: Vec<String> = query(
        &t.path("one.sqlite"),
        "SELECT p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
    )
    .into_iter()
    .map(|r| match &r[0] {
        rusqlite::types::Value::Text(s) => s.clone(),
        other => panic!("{other:?}"),
    })
    .collect();
    let exported: String = names
        .iter()
        .map(|n| std::fs::read_to_string(one.join(format!("{n}.csv"))).unwrap())
        .collect();
    for out in ["out-a", "out-b"] {
        for file in [
            "clean.csv",
            "panel.csv",
            "quarantine.csv",
            "supplier_mentions.csv",
        ] {
            let (head, rows) = read_csv(&t.path(out).join("data").join(file));
            let shared: Vec<&String> = head.iter().filter(|h| all_columns.contains(h)).collect();
            assert!(
                shared.is_empty(),
                "data/{file} columns in the store: {shared:?}"
            );
            if file == "panel.csv" {
                // No organization's pseudonymous key reaches the store.
                assert!(rows.iter().all(|r| !exported.contains(&r[0])));
            }
        }
    }
}

#[test]
fn generated_rounds_of_several_sizes_load_whole_and_chain_their_changes() {
    // Three rounds of one synthetic survey, 20 to 400 organizations: each row of every output
    // is in the store as published, and each round's change is against the one before.
    let mut t = TestRun::new();
    let mut outs: Vec<String> = Vec::new();
    for (k, (seed, rows, round)) in [
        (11u64, 20usize, "2021"),
        (12, 400, "2022"),
        (13, 60, "2023"),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = format!("r{k}");
        t = t.again().args([
            "synth",
            "-q",
            "--seed",
            &seed.to_string(),
            "--rows",
            &rows.to_string(),
            "--round",
            round,
            "--out",
            &dir,
        ]);
        t.run().expect_code(0);
        let out = format!("out{k}");
        let mut args = vec![
            "run".to_string(),
            dir,
            "--out".into(),
            out.clone(),
            "-q".into(),
        ];
        if let Some(prev) = outs.last() {
            args.extend(["--previous".to_string(), prev.to_string()]);
        }
        t = t.again().args(args);
        let code = t.run().code;
        assert!(code == 0 || code == 1, "run exited {code}");
        outs.push(out);
    }
    let mut args = vec!["clearinghouse", "add", "--store", "ch.sqlite"];
    args.extend(outs.iter().map(String::as_str));
    t = t.again().args(args);
    t.run().expect_code(0);
    let store = t.path("ch.sqlite");
    for out in &outs {
        assert_store_holds(&store, &t.path(out));
    }
    let t = t.again().args([
        "clearinghouse",
        "series",
        "SCRM.RISK.01",
        "--store",
        "ch.sqlite",
        "--format",
        "json",
    ]);
    let series: Value = serde_json::from_str(&t.run().expect_code(0).stdout).unwrap();
    let rows = series["rows"].as_array().unwrap();
    let rounds: Vec<&str> = rows.iter().map(|r| r["round"].as_str().unwrap()).collect();
    assert_eq!(rounds, ["2021", "2022", "2023"]);
    assert_eq!(rows[0]["change_status"], "first");
    for w in rows.windows(2) {
        assert_eq!(w[1]["previous_round"], w[0]["round"]);
        match (w[0]["estimate"].as_f64(), w[1]["estimate"].as_f64()) {
            (Some(a), Some(b)) => {
                assert_eq!(w[1]["change_status"], "comparable");
                assert!((w[1]["change"].as_f64().unwrap() - (b - a)).abs() < 1e-12);
                let se = w[1]["change_se"].as_f64().unwrap();
                assert!(se.is_finite() && se > 0.0);
            }
            _ => assert_eq!(w[1]["change_status"], "suppressed"),
        }
    }
}

/// Rewrite a file of an output folder and its hash in the manifest, as a sloppy or hostile
/// writer would: the folder then passes the manifest check.
fn forge(out: &Path, rel: &str, contents: &[u8]) {
    std::fs::write(out.join(rel), contents).unwrap();
    let mut m = json_of(&out.join("manifest.json"));
    for o in m["outputs"].as_array_mut().unwrap() {
        if o["path"] == rel {
            o["sha256"] = Value::String(supplyrisk::ingest::sha256_hex(contents));
            o["bytes"] = Value::from(contents.len());
        }
    }
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_forged_metrics_file_cannot_put_a_suppressed_number_in_the_store_nor_crash_it() {
    let t = crate::util::example_run();
    let out = t.path("out");
    // Numbers written into every suppressed row, the manifest rehashed to match.
    let mut doc = json_of(&out.join("metrics/metrics.json"));
    let mut forged = 0;
    for e in doc["estimates"].as_array_mut().unwrap() {
        if e["suppressed"] == true {
            e["estimate"] = Value::from(0.123_456_789);
            e["n"] = Value::from(3);
            forged += 1;
        }
    }
    assert!(forged > 0);
    forge(
        &out,
        "metrics/metrics.json",
        &serde_json::to_vec(&doc).unwrap(),
    );
    let t = t
        .again()
        .args(["clearinghouse", "add", "out", "--store", "ch.sqlite"]);
    t.run().expect_code(0);
    let rows = query(
        &t.path("ch.sqlite"),
        "SELECT count(*) FROM metric_values
          WHERE estimate = 0.123456789 OR (suppressed = 1 AND (estimate IS NOT NULL OR n IS NOT NULL))",
    );
    assert_eq!(rows, [vec![rusqlite::types::Value::Integer(0)]]);

    // A row of the wrong shape is refused, naming the row and the field.
    let mut doc = json_of(&out.join("metrics/metrics.json"));
    doc["estimates"][7]["metric_version"] = Value::from("one");
    forge(
        &out,
        "metrics/metrics.json",
        &serde_json::to_vec(&doc).unwrap(),
    );
    let t = t
        .again()
        .args(["clearinghouse", "add", "out", "--store", "other.sqlite"]);
    let e = t.run().expect_code(2);
    assert!(
        e.stderr
            .contains("estimates row 8: `metric_version` must be an integer"),
        "{}",
        e.stderr
    );

    // Bytes that are not JSON, a store that is not SQLite, a store that is a folder: each a
    // clear error (exit 2) naming the file, never a crash.
    forge(&out, "metrics/metrics.json", b"{\"estimates\": [1, 2");
    let t = t
        .again()
        .args(["clearinghouse", "add", "out", "--store", "other.sqlite"]);
    let e = t.run().expect_code(2);
    assert!(e.stderr.contains("metrics.json"), "{}", e.stderr);
    std::fs::write(t.path("not-a-store.sqlite"), b"just text, not a database\n").unwrap();
    let mut t = t;
    for store in ["not-a-store.sqlite", "out"] {
        t = t.again().args(["clearinghouse", "list", "--store", store]);
        let e = t.run().expect_code(2);
        assert!(e.stderr.contains(store), "{}", e.stderr);
    }
}

#[test]
fn changes_carry_the_stricter_tlp_of_their_two_rounds_into_the_store_and_the_series() {
    // Round 2023 shared under RED, round 2024 under GREEN: a change shows both rounds' numbers.
    let t = TestRun::new()
        .with_example("example-2023", "a")
        .with_example("example-2024", "b");
    let spec = t.path("a/survey.toml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replacen("tlp = \"GREEN\"", "tlp = \"RED\"", 1)).unwrap();
    let t = t.args(["run", "a", "--out", "out-a", "-q"]);
    t.run().expect_code(0);
    let t = t
        .again()
        .args(["run", "b", "--out", "out-b", "-q", "--previous", "out-a"]);
    t.run().expect_code(0);
    let (head, rows) = read_csv(&t.path("out-b/metrics/changes.csv"));
    let tlp = head.iter().position(|h| h == "tlp").unwrap();
    assert!(rows.iter().all(|r| r[tlp] == "TLP:RED"));
    // The report shows the earlier round's numbers in its round table: RED too.
    let report = std::fs::read_to_string(t.path("out-b/report.html")).unwrap();
    assert!(report.contains(">TLP:RED</div>"), "the report's banner");
    let t = t.again().args([
        "clearinghouse",
        "add",
        "out-a",
        "out-b",
        "--store",
        "ch.sqlite",
    ]);
    t.run().expect_code(0);
    assert_eq!(
        query(
            &t.path("ch.sqlite"),
            "SELECT DISTINCT tlp FROM metric_changes"
        ),
        [vec![rusqlite::types::Value::Text("TLP:RED".into())]]
    );
    let t = t.again().args([
        "clearinghouse",
        "series",
        "SCRM.RISK.01",
        "--store",
        "ch.sqlite",
    ]);
    let out = t.run().expect_code(0);
    assert!(out.stdout.starts_with("TLP:RED\n"), "{}", out.stdout);
}

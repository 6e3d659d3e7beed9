//! Disclosure control across the published tables (issue 16). A round whose public-health
//! segment has three organizations (and one with a single organization) is attacked twice:
//! by the stage's own audit (linear programs, `tables/disclosure_audit.csv`) and, independently,
//! by an outsider here who reads only the published CSV files and subtracts along every line of
//! the tables (segment levels to their total, a cross to its margins, bins to their segment)
//! until nothing new comes out. With only primary suppression (each table protected on its own,
//! as before the stage existed) both attacks recover the small group's count, bins, dependents
//! and mean; with the stage, neither does.

use std::collections::{BTreeMap, BTreeSet};

use crate::util::{read_csv, TestRun};

/// example-2024 with `keep` of its public-health organizations (all four are in the Qualtrics
/// export).
fn round_with_public_health(keep: usize) -> TestRun {
    // The Qualtrics export alone, so that its public-health rows are all the round has.
    let t = crate::util::example_qualtrics_only();
    let csv_path = t.path("r/responses_qualtrics.csv");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut seen = 0;
    let kept: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|line| {
            if line.contains(",Public health,") {
                seen += 1;
                return seen <= keep;
            }
            true
        })
        .collect();
    assert_eq!(
        seen, 4,
        "the example round has four public-health organizations"
    );
    std::fs::write(&csv_path, kept.concat()).unwrap();
    t
}

type Seg = (String, String);

/// Subtraction along every line of a table until nothing new is learnt: `known` maps a
/// (quantity, segment) to its published value; `segments` lists every segment of the table
/// (withheld rows still show which segment they are). Returns everything the outsider knows.
fn subtract(
    mut known: BTreeMap<(String, Seg), f64>,
    quantities: &BTreeSet<String>,
    segments: &BTreeSet<Seg>,
) -> BTreeMap<(String, Seg), f64> {
    // Lines: the total over each segment variable's levels, each margin over its cross cells.
    let mut lines: Vec<(Seg, Vec<Seg>)> = Vec::new();
    let all: Seg = ("all".into(), String::new());
    let mut by_var: BTreeMap<&str, Vec<Seg>> = BTreeMap::new();
    for s in segments
        .iter()
        .filter(|s| s.0 != "all" && !s.0.contains(':'))
    {
        by_var.entry(&s.0).or_default().push(s.clone());
    }
    for levels in by_var.values() {
        lines.push((all.clone(), levels.clone()));
    }
    let mut margins: BTreeMap<Seg, Vec<Seg>> = BTreeMap::new();
    for s in segments.iter().filter(|s| s.0.contains(':')) {
        let vars: Vec<&str> = s.0.split(':').collect();
        let values: Vec<&str> = s.1.split(':').collect();
        for (v, x) in vars.iter().zip(&values) {
            margins
                .entry(((*v).to_string(), (*x).to_string()))
                .or_default()
                .push(s.clone());
        }
    }
    lines.extend(margins);
    loop {
        let mut learnt = false;
        for q in quantities {
            for (parent, children) in &lines {
                let get = |k: &BTreeMap<(String, Seg), f64>, s: &Seg| {
                    k.get(&(q.clone(), s.clone())).copied()
                };
                let unknown: Vec<&Seg> = children
                    .iter()
                    .filter(|c| get(&known, c).is_none())
                    .collect();
                match (get(&known, parent), unknown.as_slice()) {
                    (Some(p), [only]) => {
                        let rest: f64 = children.iter().filter_map(|c| get(&known, c)).sum();
                        known.insert((q.clone(), (*only).clone()), p - rest);
                        learnt = true;
                    }
                    (None, []) => {
                        let sum: f64 = children.iter().filter_map(|c| get(&known, c)).sum();
                        known.insert((q.clone(), parent.clone()), sum);
                        learnt = true;
                    }
                    _ => {}
                }
            }
        }
        if !learnt {
            return known;
        }
    }
}

/// What the outsider learns of withheld rows of one published CSV: `quantity(row)` names the
/// counted quantity as the audit does (`n · kept`, `n · v:risk_index [40, 50)`) and `value` the
/// published column. Returns the withheld rows flagged with a `primary` code whose value came
/// out, with the value learnt (right or wrong: where a line only bounds its cells, as when some
/// organizations have no value of a segment variable, plain subtraction can be wrong).
fn recovered(
    out: &std::path::Path,
    file: &str,
    quantity: &dyn Fn(&BTreeMap<&str, &str>) -> String,
    value: &str,
    primary: &[&str],
) -> Vec<(String, Seg, f64)> {
    let (head, rows) = read_csv(&out.join(file));
    let rows: Vec<BTreeMap<&str, &str>> = rows
        .iter()
        .map(|r| {
            head.iter()
                .map(String::as_str)
                .zip(r.iter().map(String::as_str))
                .collect()
        })
        .collect();
    let mut known = BTreeMap::new();
    let mut quantities = BTreeSet::new();
    let mut segments = BTreeSet::new();
    let mut withheld = Vec::new();
    for r in &rows {
        let seg: Seg = (r["segment_var"].to_string(), r["segment_value"].to_string());
        let q = quantity(r);
        quantities.insert(q.clone());
        segments.insert(seg.clone());
        match r[value].parse::<f64>() {
            Ok(v) => {
                known.insert((q, seg), v);
            }
            Err(_)
                if primary
                    .iter()
                    .any(|p| r["flag"].split([';', ' ', ':']).any(|f| f == *p)) =>
            {
                withheld.push((q, seg));
            }
            Err(_) => {}
        }
    }
    let known = subtract(known, &quantities, &segments);
    withheld
        .into_iter()
        .filter_map(|(q, s)| known.get(&(q.clone(), s.clone())).map(|v| (q, s, *v)))
        .collect()
}

/// The outsider's recoveries of small groups in every table they can subtract in.
fn outsider(out: &std::path::Path) -> BTreeMap<&'static str, Vec<(String, Seg, f64)>> {
    let mut found = BTreeMap::new();
    found.insert(
        "weight_summary n",
        recovered(
            out,
            "tables/weight_summary.csv",
            &|_| "n · kept".into(),
            "n",
            &["below_min_cell"],
        ),
    );
    found.insert(
        "distributions n_bin",
        recovered(
            out,
            "tables/distributions.csv",
            &|r| {
                format!(
                    "n · v:{} [{}, {})",
                    r["variable"], r["bin_low"], r["bin_high"]
                )
            },
            "n_bin",
            &["below_min_cell", "few_in_bin"],
        ),
    );
    found.insert(
        "concentration n_dependents",
        recovered(
            out,
            "tables/concentration.csv",
            &|r| format!("n · dependents:{}", r["category"]),
            "n_dependents",
            &["below_min_cell", "few_naming"],
        ),
    );
    found
}

/// The mean risk index of a withheld public-health row, worked out from the published means
/// and weight sums (weighted totals and weights both add up over the levels), if it can be.
fn public_health_mean(out: &std::path::Path) -> Option<f64> {
    let (head, rows) = read_csv(&out.join("tables/estimates.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let rows: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[col("metric_id")] == "SCRM.RISK.01" && r[col("statistic")] == "mean")
        .collect();
    let mut known = BTreeMap::new();
    let mut segments = BTreeSet::new();
    for r in &rows {
        let seg: Seg = (
            r[col("segment_var")].clone(),
            r[col("segment_value")].clone(),
        );
        segments.insert(seg.clone());
        if let (Ok(m), Ok(w)) = (
            r[col("estimate")].parse::<f64>(),
            r[col("weight_sum")].parse::<f64>(),
        ) {
            known.insert(("y".to_string(), seg.clone()), m * w);
            known.insert(("w".to_string(), seg), w);
        }
    }
    let q: BTreeSet<String> = ["y".to_string(), "w".to_string()].into();
    let known = subtract(known, &q, &segments);
    let ph: Seg = ("subsector".into(), "public_health".into());
    Some(known.get(&("y".into(), ph.clone()))? / known.get(&("w".into(), ph))?)
}

/// The outsider's recoveries that are right: equal to the true value the audit records.
fn leaks(out: &std::path::Path) -> BTreeMap<&'static str, Vec<(String, Seg, f64)>> {
    let truth: BTreeMap<(String, Seg), f64> = audit_rows(out)
        .into_iter()
        .filter(|r| r["statistic"] == "count")
        .map(|r| {
            let v = r["value"].parse().unwrap();
            (
                (
                    r["cell"].clone(),
                    (r["segment_var"].clone(), r["segment_value"].clone()),
                ),
                v,
            )
        })
        .collect();
    outsider(out)
        .into_iter()
        .map(|(table, found)| {
            let right = found
                .into_iter()
                .filter(|(q, s, v)| {
                    truth
                        .get(&(q.clone(), s.clone()))
                        .is_some_and(|t| (t - v).abs() < 1e-9)
                })
                .collect();
            (table, right)
        })
        .collect()
}

fn audit_rows(out: &std::path::Path) -> Vec<BTreeMap<String, String>> {
    let (head, rows) = read_csv(&out.join("tables/disclosure_audit.csv"));
    rows.iter()
        .map(|r| head.iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

/// `keep` public-health organizations; `cell` a segment of the weight summary whose count of
/// `size` organizations the outsider recovers when only primary suppression is applied.
fn attack_round(keep: usize, cell: (&str, &str), size: f64) {
    // Only primary suppression: each table protected on its own.
    let t = round_with_public_health(keep)
        .env("SUPPLYRISK_DISCLOSURE", "primary-only")
        .args(["run", "r", "--out", "out", "-q"]);
    let o = t.run().expect_code(1);
    assert!(o.stderr.contains("disclosure audit:"), "{}", o.stderr);
    let out = t.path("out");
    let (head, rows) = read_csv(&out.join("data/clean.csv"));
    let sub = head.iter().position(|h| h == "subsector").unwrap();
    assert_eq!(
        rows.iter().filter(|r| r[sub] == "public_health").count(),
        keep
    );
    // The outsider recovers the group's count from the weight summary (15 − 6 − 6 = 3), bins
    // of the risk index and dependents of supplier categories; each value it finds is the true
    // one, as the stage's own audit (which knows the truth) confirms.
    let found = leaks(&out);
    let small = found["weight_summary n"]
        .iter()
        .find(|(_, s, _)| s.0 == cell.0 && s.1 == cell.1)
        .unwrap_or_else(|| panic!("{cell:?}'s count recovered from the weight summary: {found:?}"));
    assert_eq!(small.2, size);
    assert!(!found["distributions n_bin"].is_empty(), "bins recovered");
    assert!(
        !found["concentration n_dependents"].is_empty(),
        "dependents recovered"
    );
    let truth = audit_rows(&out);
    let mean = public_health_mean(&out).expect("the group's mean recovered by subtraction");
    let true_mean: f64 = truth
        .iter()
        .find(|r| {
            r["table"] == "estimates"
                && r["segment_value"] == "public_health"
                && r["statistic"] == "mean"
                && r["cell"].contains("v:risk_index")
        })
        .map(|r| r["value"].parse().unwrap())
        .unwrap();
    assert!((mean - true_mean).abs() < 1e-6, "{mean} vs {true_mean}");
    // The stage's audit saw the same: unprotected cells in every one of those tables.
    for table in [
        "weight_summary",
        "distributions",
        "concentration",
        "estimates",
    ] {
        assert!(
            truth
                .iter()
                .any(|r| r["table"] == table && r["protected"] == "false"),
            "the audit catches {table}"
        );
    }

    // With secondary suppression across all tables: nothing comes out, and the audit proves
    // every protected cell at least its protection width.
    let t = round_with_public_health(keep).args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let out = t.path("out");
    for (table, found) in leaks(&out) {
        assert!(found.is_empty(), "{table}: {found:?}");
    }
    assert_eq!(public_health_mean(&out), None);
    let audit = audit_rows(&out);
    assert!(audit.len() > 100);
    for r in &audit {
        assert_eq!(r["protected"], "true", "{r:?}");
        let (lo, hi, need): (f64, f64, f64) = (
            r["attacked_low"].parse().unwrap_or(f64::NEG_INFINITY),
            r["attacked_high"].parse().unwrap_or(f64::INFINITY),
            r["required_width"].parse().unwrap(),
        );
        let v: f64 = r["value"].parse().unwrap();
        assert!(hi - lo >= need - 1e-9, "{r:?}");
        assert!(
            lo <= v + 1e-9 && v <= hi + 1e-9,
            "the interval holds the truth: {r:?}"
        );
    }
    // The group's own cells are among them: its count, its bins, its mean.
    for (statistic, cell) in [
        ("count", "n · kept"),
        ("mean", "v:risk_index"),
        ("count", "v:risk_index ["),
    ] {
        assert!(
            audit.iter().any(
                |r| r["segment_value"].split(':').any(|v| v == "public_health")
                    && r["statistic"] == statistic
                    && r["cell"].contains(cell)
            ),
            "{statistic} {cell} audited"
        );
    }
    // Readers get words: a sentence per table in the report and the summary.
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("hidden so that a smaller group cannot be worked out"));
    assert!(report.contains("weight_summary: "));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    // (summary.md is Markdown: a `*` that could start emphasis is escaped.)
    assert!(summary.contains("withheld\\*") && summary.contains("too few organizations (\\*)"));
    // The audit holds true values: internal, listed so in the manifest.
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let f = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "tables/disclosure_audit.csv")
        .expect("listed");
    assert_eq!(f["publishable"], false);
}

#[test]
fn a_three_organization_group_cannot_be_worked_out_from_the_published_tables() {
    // Public health with three organizations (15 − 6 − 6 = 3 in the old weight summary).
    attack_round(3, ("subsector", "public_health"), 3.0);
}

#[test]
fn a_one_organization_group_cannot_be_worked_out_from_the_published_tables() {
    // Three public-health organizations left, one of them medium-sized: a cell of the cross.
    attack_round(3, ("subsector:size", "public_health:medium"), 1.0);
}

/// A check anyone can run: only the spec and the disclose stage read the minimum cell size.
#[test]
fn only_the_spec_and_the_disclose_stage_read_the_minimum_cell_size() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let src = crate::util::repo().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let readers: Vec<String> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains("min_cell_size")
        })
        .map(|p| p.strip_prefix(&src).unwrap().to_string_lossy().into_owned())
        .filter(|p| !p.starts_with("spec/") && !p.starts_with("disclose/"))
        .collect();
    assert!(
        readers.is_empty(),
        "min_cell_size read outside spec/ and disclose/: {readers:?}"
    );
}

/// The dominance rule: one organization naming 90,000 critical suppliers (the others name tens)
/// makes the ratio of critical suppliers its own number wherever it is counted; those rows are
/// withheld with `dominance`, and the report says so in words.
#[test]
fn a_total_one_organization_dominates_is_withheld() {
    let t = TestRun::new().with_example("example-2024", "r");
    let p = t.path("r/responses_qualtrics.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let (s4, s5) = (col("S4"), col("S5"));
    let mut w = csv::Writer::from_path(&p).unwrap();
    let mut edited = 0;
    for r in &rows {
        let mut r: Vec<String> = r.iter().map(str::to_string).collect();
        if r.iter().any(|x| x == "HSCC-00397") {
            r[s4] = "99000".into();
            r[s5] = "90000".into();
            edited += 1;
        }
        w.write_record(&r).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(edited, 1);
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let (head, rows) = read_csv(&t.path("out/tables/estimates.csv"));
    let c = |n: &str| head.iter().position(|h| h == n).unwrap();
    let crit: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[c("metric_id")] == "SCRM.CRIT.01")
        .collect();
    let overall = crit.iter().find(|r| r[c("segment_var")] == "all").unwrap();
    assert_eq!(overall[c("suppressed")], "true");
    assert!(overall[c("flag")].contains("dominance"), "{overall:?}");
    assert_eq!(overall[c("estimate")], "");
    // Segments without that organization are published as before (some of them).
    assert!(crit.iter().any(|r| r[c("suppressed")] == "false"));
    let report = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    assert!(report.contains("one organization dominates the total (§)"));
}

/// A model whose only predictor is a factor restates its levels' estimates: the intercept is
/// the reference level's mean (logit share), each coefficient a level's difference from it. On
/// the three-public-health round, with a linear model of the risk index and a logistic model of
/// the joint-exercise share (whose shares by subsector the NCHS standard mostly withholds), a
/// model row is published exactly when every estimate it gives away is published in
/// estimates.csv, and what it shows is that estimate (to 1e-9): the model neither reveals a
/// withheld estimate nor hides a published one.
#[test]
fn a_one_factor_model_shows_only_the_estimates_that_are_published() {
    let t = round_with_public_health(3);
    let spec_path = t.path("r/survey.toml");
    let mut spec = std::fs::read_to_string(&spec_path).unwrap();
    spec.push_str(concat!(
        "\n[[models]]\nid = \"M.RI\"\nresponse = \"risk_index\"\npredictors = [\"subsector\"]\n",
        "reference = { subsector = \"dpc\" }\nmin_per_parameter = 2\n",
        "\n[[models]]\nid = \"M.EXR\"\nfamily = \"quasibinomial\"\nresponse = \"F2\"\n",
        "levels = [\"yes\"]\npredictors = [\"subsector\"]\nreference = { subsector = \"dpc\" }\n",
        "min_per_parameter = 2\n",
    ));
    std::fs::write(&spec_path, spec).unwrap();
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let (head, rows) = read_csv(&t.path("out/tables/estimates.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    // (metric, subsector) → the published estimate, None when withheld.
    let estimate = |metric: &str, level: &str| -> Option<f64> {
        let r = rows
            .iter()
            .find(|r| {
                r[col("metric_id")] == metric
                    && r[col("segment_var")] == "subsector"
                    && r[col("segment_value")] == level
            })
            .unwrap_or_else(|| panic!("{metric} {level} in estimates.csv"));
        (r[col("suppressed")] == "false").then(|| r[col("estimate")].parse().unwrap())
    };
    let (mhead, mrows) = read_csv(&t.path("out/tables/models.csv"));
    let m = |r: &Vec<String>, n: &str| r[mhead.iter().position(|h| h == n).unwrap()].clone();
    let mut withheld = BTreeMap::new();
    for (model, metric, logistic) in [
        ("M.RI", "SCRM.RISK.01", false),
        ("M.EXR", "SCRM.EXR.01", true),
    ] {
        let coef = |r: &&Vec<String>| m(r, "model_id") == model && m(r, "row") == "coefficient";
        let intercept = mrows
            .iter()
            .filter(coef)
            .find(|r| m(r, "term") == "(Intercept)")
            .unwrap();
        let shown = |r: &Vec<String>| m(r, "suppressed") == "false";
        let b0: Option<f64> = shown(intercept).then(|| m(intercept, "estimate").parse().unwrap());
        let scale = |b: f64| {
            if logistic {
                1.0 / (1.0 + (-b).exp())
            } else {
                b
            }
        };
        let reference = estimate(metric, "dpc");
        assert_eq!(b0.is_some(), reference.is_some(), "{model} intercept");
        if let (Some(b0), Some(e)) = (b0, reference) {
            assert!(
                (scale(b0) - e).abs() <= 1e-9 * e.abs().max(1.0),
                "{model}: {b0} vs {e}"
            );
        }
        for r in mrows
            .iter()
            .filter(coef)
            .filter(|r| m(r, "term") == "subsector")
        {
            let level = m(r, "level");
            let at_level = estimate(metric, &level);
            assert_eq!(
                shown(r),
                at_level.is_some() && reference.is_some(),
                "{model} {level}: {r:?}"
            );
            if shown(r) {
                let b: f64 = m(r, "estimate").parse().unwrap();
                let (b0, e) = (b0.unwrap(), at_level.unwrap());
                assert!(
                    (scale(b0 + b) - e).abs() <= 1e-9 * e.abs().max(1.0),
                    "{model} {level}"
                );
            } else {
                assert!(
                    m(r, "estimate").is_empty() && !m(r, "flag").is_empty(),
                    "{r:?}"
                );
                *withheld.entry((model, m(r, "flag"))).or_insert(0) += 1;
            }
        }
    }
    // Both reasons occur: the three public-health organizations, and NCHS-withheld shares.
    assert!(
        withheld.contains_key(&("M.RI", "below_min_cell".to_string())),
        "{withheld:?}"
    );
    assert!(
        withheld.contains_key(&("M.EXR", "nchs".to_string())),
        "{withheld:?}"
    );
}

//! Statistics a task group asks for beyond the defaults (issue 19): the spec's own tests of
//! association (`[[tests]]`) with every statistic of R's `svychisq`, written with their
//! ingredients to comparisons.csv. The statistics themselves are checked against R in
//! reference.rs; these tests check the spec, the wiring and what the table promises.

use crate::util::{example_run, read_csv, TestRun};
use supplyrisk::kernels::dist::{pchisq_upper, pf_upper};

/// The example round with extra spec text appended, run into `out/`.
fn example_with(extra: &str) -> TestRun {
    let t = TestRun::new().with_example("example-2024", "r");
    let spec = t.path("r/survey.toml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("{text}\n{extra}\n")).unwrap();
    t.args(["run", "r", "--out", "out", "-q"])
}

const ALL_SIX: &str = r#"statistics = ["F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint"]"#;

#[test]
fn spec_tests_write_every_statistic_with_its_ingredients() {
    let t = example_with(&format!(
        "[[tests]]\nid = \"TEST.SIZE_BY_D5\"\nrows = \"size\"\ncols = \"D5\"\n{ALL_SIX}\n\n\
         [[tests]]\nid = \"TEST.TIER_BY_REGION\"\nrows = \"risk_tier\"\ncols = \"region\"\n"
    ));
    t.run().expect_code(0);
    let (head, rows) = read_csv(&t.path("out/tables/comparisons.csv"));
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let num = |r: &[String], name: &str| r[col(name)].parse::<f64>().unwrap_or(f64::NAN);
    let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "TEST.SIZE_BY_D5").collect();
    let tests: Vec<&str> = mine.iter().map(|r| r[col("test")].as_str()).collect();
    assert_eq!(
        tests,
        [
            "rao_scott_f",
            "rao_scott_chisq",
            "wald",
            "adj_wald",
            "lincom",
            "saddlepoint"
        ]
    );
    let first = mine[0];
    let (x2, tr, tr2) = (
        num(first, "pearson_x2"),
        num(first, "deff_trace"),
        num(first, "deff_trace2"),
    );
    let nu = num(first, "design_df");
    assert!(x2 > 0.0 && tr > 0.0 && tr2 > 0.0 && nu >= 1.0, "{first:?}");
    let eig: Vec<f64> = first[col("deff_eigenvalues")]
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    // size has 3 levels and D5 is yes/no: (3 − 1)(2 − 1) = 2 design effects.
    assert_eq!(eig.len(), 2);
    assert!((eig.iter().sum::<f64>() - tr).abs() < 1e-9 * tr);
    for r in &mine {
        assert_eq!(r[col("rows_var")], "size");
        assert_eq!(r[col("cols_var")], "D5");
        assert_eq!(num(r, "pearson_x2"), x2, "one table, one X²");
        let p = num(r, "p_value");
        assert!((0.0..=1.0).contains(&p), "{r:?}");
    }
    // The published numbers are consistent with each other as R defines them.
    let f = mine[0];
    let d0 = tr * tr / tr2;
    assert!((num(f, "statistic") - x2 / tr).abs() < 1e-9 * x2);
    assert!((num(f, "ndf") - d0).abs() < 1e-9 * d0);
    assert!((num(f, "ddf") - d0 * nu).abs() < 1e-9 * d0 * nu);
    let want = pf_upper(x2 / tr, d0, d0 * nu).unwrap();
    assert!((num(f, "p_value") - want).abs() < 1e-12);
    let chisq = mine[1];
    let want = pchisq_upper(x2 / (tr / 2.0), 2.0).unwrap();
    assert!((num(chisq, "p_value") - want).abs() < 1e-12);
    assert_eq!(num(chisq, "statistic"), x2);
    // lincom and saddlepoint approximate the same tail as the F: close, not equal.
    let (pf, pl, ps) = (
        num(f, "p_value"),
        num(mine[4], "p_value"),
        num(mine[5], "p_value"),
    );
    assert!((pl - pf).abs() < 0.5 * pf.max(1e-3), "{pf} {pl}");
    assert!((ps - pl).abs() < 0.2 * pl.max(1e-3), "{ps} {pl}");
    // A test with no statistics named gets R's default, F.
    let tier: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[0] == "TEST.TIER_BY_REGION")
        .collect();
    assert_eq!(tier.len(), 1);
    assert_eq!(tier[0][col("test")], "rao_scott_f");
    assert_eq!(tier[0][col("rows_var")], "risk_tier");
    // Difference rows leave the ingredients blank.
    let diff = rows
        .iter()
        .find(|r| r[col("test")] == "difference")
        .unwrap();
    assert!(diff[col("pearson_x2")].is_empty() && diff[col("rows_var")].is_empty());
}

#[test]
fn spec_tests_are_validated_at_their_keys() {
    for (extra, key, words) in [
        (
            "[[tests]]\nid = \"T1\"\nrows = \"size\"\ncols = \"S4\"",
            "tests[0].cols",
            "single-choice",
        ),
        (
            "[[tests]]\nid = \"T1\"\nrows = \"size\"\ncols = \"nope\"",
            "tests[0].cols",
            "unknown question",
        ),
        (
            "[[tests]]\nid = \"T1\"\nrows = \"size\"\ncols = \"size\"",
            "tests[0].cols",
            "against itself",
        ),
        (
            "[[tests]]\nid = \"T1\"\nrows = \"size\"\ncols = \"D5\"\nstatistics = [\"F\", \"F\"]",
            "tests[0].statistics",
            "distinct",
        ),
        (
            "[[tests]]\nid = \"SCRM.RISK.01\"\nrows = \"size\"\ncols = \"D5\"",
            "tests[0].id",
            "already the id",
        ),
    ] {
        let t = example_with(extra);
        let out = t.run().expect_code(2);
        assert!(
            out.stderr.contains(key) && out.stderr.contains(words),
            "{extra}: {}",
            out.stderr
        );
    }
    let t = example_with(
        "[[tests]]\nid = \"T1\"\nrows = \"size\"\ncols = \"D5\"\nstatistics = [\"Fisher\"]",
    );
    let out = t.run().expect_code(2);
    assert!(
        out.stderr.contains("Fisher") && out.stderr.contains("expected one of `F`"),
        "{}",
        out.stderr
    );
}

/// Without `[[tests]]` the comparisons table is today's: the default tier × segment tests only.
#[test]
fn without_spec_tests_only_the_default_tests_are_written() {
    let t = example_run();
    let (head, rows) = read_csv(&t.path("out/tables/comparisons.csv"));
    let col = head.iter().position(|h| h == "test").unwrap();
    assert!(rows
        .iter()
        .all(|r| r[col] == "difference" || r[col] == "rao_scott_f"));
}

/// A metric block for the example round.
fn metric(id: &str, kind: &str, variable: &str, extra: &str) -> String {
    format!(
        "[[metrics]]\nid = \"{id}\"\nversion = 1\ntitle = \"{id}\"\nkind = \"{kind}\"\nvariable = \"{variable}\"\ndefinition = \"test\"\n{extra}\n"
    )
}

/// The overall row of a metric in estimates.csv: column name → value.
fn overall(t: &TestRun, id: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let (head, rows) = read_csv(&t.path("out/tables/estimates.csv"));
    rows.into_iter()
        .filter(|r| r[0] == id && r[head.iter().position(|h| h == "segment_var").unwrap()] == "all")
        .map(|r| head.iter().cloned().zip(r).collect())
        .collect()
}

/// Σ w·y / Σ w over the respondents of data/clean.csv with a value (`y` maps a row to it).
fn weighted_mean(
    t: &TestRun,
    y: impl Fn(&std::collections::BTreeMap<String, String>) -> Option<f64>,
) -> f64 {
    let (head, rows) = read_csv(&t.path("out/data/clean.csv"));
    let (mut num, mut den) = (0.0, 0.0);
    for r in rows {
        let r: std::collections::BTreeMap<String, String> = head.iter().cloned().zip(r).collect();
        if let Some(v) = y(&r) {
            let w: f64 = r["weight"].parse().unwrap();
            num += w * v;
            den += w;
        }
    }
    num / den
}

#[test]
fn means_of_likert_items_and_the_tier_and_shares_of_numeric_answers() {
    let t = example_with(
        &[
            metric("T.B3", "mean", "B3", ""),
            metric("T.TIER", "mean", "risk_tier", ""),
            metric(
                "T.S5SOME",
                "proportion",
                "S5",
                "levels = [\"2\", \"3\", \"7\", \"10\", \"15\", \"18\", \"38\"]",
            ),
            metric("T.B3MED", "quantile", "B3", "probs = [0.5]"),
        ]
        .concat(),
    );
    t.run().expect_code(0);
    let est = |id: &str| -> f64 { overall(&t, id)[0]["estimate"].parse().unwrap() };
    // B3 is on agree5: codes 1–5 score 0–4; 8 and 9 are missing codes.
    let want = weighted_mean(&t, |r| {
        r["B3"]
            .parse::<f64>()
            .ok()
            .filter(|c| (1.0..=5.0).contains(c))
            .map(|c| c - 1.0)
    });
    assert!(
        (est("T.B3") - want).abs() < 1e-9 * want,
        "{} vs {want}",
        est("T.B3")
    );
    // The tier by its ordinal code in [scoring] tiers: Low 1, Moderate 2, High 3, Critical 4.
    let tiers = ["Low", "Moderate", "High", "Critical"];
    let want = weighted_mean(&t, |r| {
        tiers
            .iter()
            .position(|x| *x == r["risk_tier"])
            .map(|i| (i + 1) as f64)
    });
    assert!((est("T.TIER") - want).abs() < 1e-9 * want);
    // The share of organizations designating one of these numbers of critical suppliers (a
    // numeric answer counted by value).
    let counted = [2.0, 3.0, 7.0, 10.0, 15.0, 18.0, 38.0];
    let want = weighted_mean(&t, |r| {
        r["S5"]
            .parse::<f64>()
            .ok()
            .map(|v| f64::from(u8::from(counted.contains(&v))))
    });
    let s5 = overall(&t, "T.S5SOME");
    assert_eq!(s5[0]["level"], "2|3|7|10|15|18|38");
    assert!(
        (est("T.S5SOME") - want).abs() < 1e-9,
        "{} vs {want}",
        est("T.S5SOME")
    );
    // The median of a Likert item is one of its scores.
    assert!([0.0, 1.0, 2.0, 3.0, 4.0].contains(&est("T.B3MED")));
}

#[test]
fn interval_and_quantile_rule_can_be_chosen_per_metric() {
    let t = example_with(
        &[
            metric(
                "T.MED_MATH",
                "quantile",
                "risk_index",
                "probs = [0.5]\nquantile_rule = \"math\"",
            ),
            metric(
                "T.MED_HF7",
                "quantile",
                "risk_index",
                "probs = [0.5]\nquantile_rule = \"hf7\"\nquantile_interval = \"score\"",
            ),
            metric(
                "T.HIGH_NORMAL",
                "proportion",
                "risk_tier",
                "levels = [\"High\", \"Critical\"]\nproportion_ci = \"normal\"",
            ),
            metric(
                "T.HIGH_XLOGIT",
                "proportion",
                "risk_tier",
                "levels = [\"High\", \"Critical\"]\nproportion_ci = \"xlogit\"",
            ),
            metric(
                "T.HIGH_DEFAULT",
                "proportion",
                "risk_tier",
                "levels = [\"High\", \"Critical\"]",
            ),
        ]
        .concat(),
    );
    t.run().expect_code(0);
    let row = |id: &str| overall(&t, id).remove(0);
    let num = |id: &str, c: &str| -> f64 { row(id)[c].parse().unwrap() };
    // hf7 interpolates where math takes an order statistic: two medians from one run.
    assert_ne!(num("T.MED_MATH", "estimate"), num("T.MED_HF7", "estimate"));
    assert_ne!(num("T.MED_MATH", "ci_low"), num("T.MED_HF7", "ci_low"));
    // normal is symmetric about the estimate; xlogit is the default (logit) interval by R's name.
    let (p, lo, hi) = (
        num("T.HIGH_NORMAL", "estimate"),
        num("T.HIGH_NORMAL", "ci_low"),
        num("T.HIGH_NORMAL", "ci_high"),
    );
    assert!(((p - lo) - (hi - p)).abs() < 1e-12, "{lo} {p} {hi}");
    assert_eq!(row("T.HIGH_NORMAL")["ci_method"], "normal");
    assert_eq!(row("T.HIGH_XLOGIT")["ci_method"], "xlogit");
    assert_eq!(row("T.HIGH_DEFAULT")["ci_method"], "logit");
    for c in ["ci_low", "ci_high"] {
        assert_eq!(num("T.HIGH_XLOGIT", c), num("T.HIGH_DEFAULT", c));
    }
}

#[test]
fn per_metric_options_and_scored_variables_are_validated() {
    for (extra, key, words) in [
        (metric("T.X", "mean", "C4", ""), "variable", "option scores"),
        (
            metric("T.X", "mean", "B3", "proportion_ci = \"beta\""),
            "proportion_ci",
            "only proportion",
        ),
        (
            metric(
                "T.X",
                "quantile",
                "risk_index",
                "probs = [0.5]\nquantile_rule = \"hf11\"",
            ),
            "quantile_rule",
            "unknown quantile rule",
        ),
        (
            metric("T.X", "mean", "risk_index", "quantile_interval = \"score\""),
            "quantile_interval",
            "only quantile",
        ),
        (
            metric("T.X", "proportion", "S5", "levels = [\"none\"]"),
            "levels[0]",
            "not a number",
        ),
        (
            metric("T.X", "proportion", "S5", ""),
            "levels",
            "values) that count",
        ),
    ] {
        let t = example_with(&extra);
        let out = t.run().expect_code(2);
        assert!(
            out.stderr.contains(key) && out.stderr.contains(words),
            "{extra}: {}",
            out.stderr
        );
    }
}

/// models.csv rows as column → value maps.
fn model_rows(t: &TestRun) -> Vec<std::collections::BTreeMap<String, String>> {
    let (head, rows) = read_csv(&t.path("out/tables/models.csv"));
    rows.into_iter()
        .map(|r| head.iter().cloned().zip(r).collect())
        .collect()
}

/// With one factor as the only predictor, a linear model's intercept is the reference level's
/// mean and each coefficient a difference of domain means; the intercept's linearized SE is the
/// reference domain mean's. A logistic model's expit(intercept) is the reference level's share.
/// Both checked against the same run's estimates.csv (independent code: the domain estimator).
#[test]
fn a_model_on_one_factor_reproduces_the_domain_estimates() {
    let t = example_with(&[
        metric("T.RI", "mean", "risk_index", ""),
        metric("T.HIGH", "proportion", "risk_tier", "levels = [\"High\", \"Critical\"]"),
        "[[models]]\nid = \"M.LIN\"\nresponse = \"risk_index\"\npredictors = [\"size\"]\nreference = { size = \"medium\" }\n".into(),
        "[[models]]\nid = \"M.LOG\"\nfamily = \"quasibinomial\"\nresponse = \"risk_tier\"\nlevels = [\"High\", \"Critical\"]\npredictors = [\"size\"]\nreference = { size = \"medium\" }\n".into(),
    ]
    .concat());
    t.run().expect_code(0);
    let (head, est) = read_csv(&t.path("out/tables/estimates.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let by_size = |id: &str, level: &str, c: &str| -> f64 {
        let row = est
            .iter()
            .find(|r| {
                r[0] == id && r[col("segment_var")] == "size" && r[col("segment_value")] == level
            })
            .unwrap();
        row[col(c)]
            .parse()
            .unwrap_or_else(|_| panic!("{id} {level} {c}: {row:?}"))
    };
    let rows = model_rows(&t);
    let coef = |model: &str, term: &str, level: &str| {
        rows.iter()
            .find(|r| {
                r["model_id"] == model
                    && r["row"] == "coefficient"
                    && r["term"] == term
                    && r["level"] == level
            })
            .unwrap_or_else(|| panic!("no {model} {term} {level}"))
            .clone()
    };
    let num =
        |r: &std::collections::BTreeMap<String, String>, c: &str| -> f64 { r[c].parse().unwrap() };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-12);
    let icpt = coef("M.LIN", "(Intercept)", "");
    assert!(close(
        num(&icpt, "estimate"),
        by_size("T.RI", "medium", "estimate")
    ));
    assert!(
        close(num(&icpt, "se"), by_size("T.RI", "medium", "se")),
        "{} vs {}",
        num(&icpt, "se"),
        by_size("T.RI", "medium", "se")
    );
    for level in ["small", "large"] {
        let c = coef("M.LIN", "size", level);
        assert_eq!(c["reference"], "medium");
        let want = by_size("T.RI", level, "estimate") - by_size("T.RI", "medium", "estimate");
        assert!(
            close(num(&c, "estimate"), want),
            "{level}: {} vs {want}",
            num(&c, "estimate")
        );
    }
    // The logistic model (reference medium: the small organizations' share is withheld in
    // estimates.csv for its effective n, so it is not the one compared).
    let icpt = coef("M.LOG", "(Intercept)", "");
    let share = 1.0 / (1.0 + (-num(&icpt, "estimate")).exp());
    assert!(
        (share - by_size("T.HIGH", "medium", "estimate")).abs() < 1e-7,
        "{share}"
    );
    let or = coef("M.LOG", "size", "large");
    assert!(close(num(&or, "odds_ratio"), num(&or, "estimate").exp()));
    // One Wald test per factor, on (levels − 1, residual df).
    let test = rows
        .iter()
        .find(|r| r["model_id"] == "M.LIN" && r["row"] == "term_test")
        .unwrap();
    assert_eq!(test["term"], "size");
    assert_eq!(num(test, "ndf"), 2.0);
    let p = num(test, "p_value");
    assert!((0.0..=1.0).contains(&p));
    // The data package lists the table.
    let dp = std::fs::read_to_string(t.path("out/datapackage.json")).unwrap();
    assert!(dp.contains("tables/models.csv"));
}

#[test]
fn a_model_with_several_predictors_runs_and_bad_models_are_refused() {
    let good = "[[models]]\nid = \"M.ALL\"\nresponse = \"risk_index\"\npredictors = [\"subsector\", \"size\", \"S4\", \"D5\"]\n";
    let t = example_with(good);
    t.run().expect_code(0);
    let rows: Vec<_> = model_rows(&t)
        .into_iter()
        .filter(|r| r["model_id"] == "M.ALL")
        .collect();
    let coefs = rows.iter().filter(|r| r["row"] == "coefficient").count();
    let tests = rows.iter().filter(|r| r["row"] == "term_test").count();
    assert_eq!(
        tests, 3,
        "subsector, size and D5 are factors; S4 is numeric"
    );
    // Intercept, S4, at least one subsector contrast, two size contrasts, one D5 contrast.
    assert!(coefs >= 6, "{coefs}");
    for r in &rows {
        let suppressed = r["suppressed"] == "true";
        assert_eq!(
            suppressed,
            r["estimate"].is_empty() && r["row"] == "coefficient",
            "{r:?}"
        );
    }
    // The report says in words what the term tests support, and only that.
    let html = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    assert!(html.contains("<h2 id=\"models\">What goes with higher risk</h2>"));
    let html = html.to_lowercase();
    for r in rows.iter().filter(|r| r["row"] == "term_test") {
        let p: f64 = r["p_value"].parse().unwrap();
        let sentence = format!(
            "{} goes with the risk index (wald f",
            r["term"].to_lowercase()
        );
        assert_eq!(html.contains(&sentence), p < 0.05, "{} p = {p}", r["term"]);
    }
    // Too few organizations per parameter: not fitted, naming the model and the rule — a
    // failed quality gate (exit 1), with everything else published and the report saying so.
    let t = example_with(&format!("{good}min_per_parameter = 100\n"));
    let out = t.run().expect_code(1);
    assert!(
        out.stderr.contains("M.ALL") && out.stderr.contains("per parameter"),
        "{}",
        out.stderr
    );
    assert!(!model_rows(&t).iter().any(|r| r["model_id"] == "M.ALL"));
    let html = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    assert!(
        html.contains("Not fitted on this round:"),
        "the report says so"
    );
    for (extra, words) in [
        ("[[models]]\nid = \"M\"\nresponse = \"size\"\npredictors = [\"D5\"]", "numeric response"),
        ("[[models]]\nid = \"M\"\nfamily = \"quasibinomial\"\nresponse = \"risk_tier\"\npredictors = [\"D5\"]", "needs the `levels`"),
        ("[[models]]\nid = \"M\"\nresponse = \"risk_index\"\npredictors = [\"C4\"]", "unusable predictor"),
        ("[[models]]\nid = \"M\"\nresponse = \"risk_index\"\npredictors = [\"size\"]\nreference = { size = \"huge\" }", "not a code of `size`"),
    ] {
        let out = example_with(extra).run().expect_code(2);
        // The example declares one model; the one added is the second.
        assert!(out.stderr.contains("models[1]") && out.stderr.contains(words), "{extra}: {}", out.stderr);
    }
}

/// On a replicate design (JKn over the example's strata) a model is refitted in every replicate:
/// a linear model on one factor has as intercept the reference level's mean, whose replicate
/// SE is the one estimates.csv publishes for that segment — the same replicates, the same
/// spread — and its residual df is the rank-based df less the parameters.
#[test]
fn a_model_on_a_replicate_design_is_refitted_in_every_replicate() {
    let t = example_with(&[
        metric("T.RI", "mean", "risk_index", ""),
        "[[models]]\nid = \"M.LIN\"\nresponse = \"risk_index\"\npredictors = [\"size\"]\nreference = { size = \"medium\" }\n".into(),
    ]
    .concat());
    let spec = t.path("r/survey.toml");
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains("[design]\nstrata = \"subsector\""));
    std::fs::write(
        &spec,
        text.replacen(
            "[design]\nstrata = \"subsector\"",
            "[design]\nvariance = \"jkn\"\nstrata = \"subsector\"",
            1,
        ),
    )
    .unwrap();
    t.run().expect_code(0);
    // Public health × small has one respondent: the replicate deleting it cannot
    // post-stratify that cell, and the manifest says so.
    let manifest = std::fs::read_to_string(t.path("out/manifest.json")).unwrap();
    assert!(
        manifest.contains("replicates delete every respondent of a weighting cell"),
        "{manifest}"
    );
    let (head, est) = read_csv(&t.path("out/tables/estimates.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let medium = est
        .iter()
        .find(|r| {
            r[0] == "T.RI" && r[col("segment_var")] == "size" && r[col("segment_value")] == "medium"
        })
        .unwrap();
    let rows = model_rows(&t);
    let icpt = rows
        .iter()
        .find(|r| {
            r["model_id"] == "M.LIN" && r["row"] == "coefficient" && r["term"] == "(Intercept)"
        })
        .unwrap();
    let num = |s: &str| s.parse::<f64>().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
    assert!(close(num(&icpt["estimate"]), num(&medium[col("estimate")])));
    assert!(
        close(num(&icpt["se"]), num(&medium[col("se")])),
        "{} vs {}",
        icpt["se"],
        medium[col("se")]
    );
}

/// `[models.metric]` publishes a model's coefficients to the clearinghouse: metrics.csv carries
/// every coefficient of models.csv (and, for a logistic model, its odds ratio) with the same
/// numbers and the same suppression; the catalog lists the model as a metric of kind `model`;
/// `metrics lock` records its definition, after which changing the model's predictors under
/// the same version is refused by `validate` and `run`, naming the field.
#[test]
fn a_model_declared_as_a_metric_is_exported_catalogued_and_locked() {
    let model = |predictors: &str| {
        format!(
            "[[models]]\nid = \"M.HIGH\"\nfamily = \"quasibinomial\"\nresponse = \"risk_tier\"\n\
             levels = [\"High\", \"Critical\"]\npredictors = [{predictors}]\n\
             [models.metric]\nid = \"SCRM.MODEL.99\"\nversion = 1\ntitle = \"What goes with high risk\"\n\
             definition = \"Logistic regression of being high or critical risk\"\n"
        )
    };
    let t = example_with(&model("\"size\", \"S4\""));
    t.run().expect_code(0);
    let rows: Vec<_> = model_rows(&t)
        .into_iter()
        .filter(|r| r["model_id"] == "M.HIGH")
        .collect();
    let (head, metrics) = read_csv(&t.path("out/metrics/metrics.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let exported: Vec<&Vec<String>> = metrics
        .iter()
        .filter(|r| r[col("metric_id")] == "SCRM.MODEL.99")
        .collect();
    let coefficients: Vec<_> = rows.iter().filter(|r| r["row"] == "coefficient").collect();
    assert_eq!(coefficients.len(), 4, "intercept, two size contrasts, S4");
    assert_eq!(
        exported.len(),
        2 * coefficients.len(),
        "a coefficient and an odds ratio each"
    );
    for c in &coefficients {
        let level = if c["level"].is_empty() {
            c["term"].clone()
        } else {
            format!("{}={}", c["term"], c["level"])
        };
        let find = |statistic: &str| {
            exported
                .iter()
                .find(|r| r[col("statistic")] == statistic && r[col("level")] == level)
                .unwrap_or_else(|| panic!("{statistic} {level} in metrics.csv"))
        };
        let (coef, or) = (find("coefficient"), find("odds_ratio"));
        for (mine, theirs) in [
            ("estimate", "estimate"),
            ("se", "se"),
            ("ci_low", "ci_low"),
            ("ci_high", "ci_high"),
        ] {
            assert_eq!(coef[col(mine)], c[theirs], "{level} {mine}");
        }
        for (mine, theirs) in [
            ("estimate", "odds_ratio"),
            ("ci_low", "odds_ratio_low"),
            ("ci_high", "odds_ratio_high"),
        ] {
            assert_eq!(or[col(mine)], c[theirs], "{level} odds ratio {mine}");
        }
        assert_eq!(coef[col("suppressed")], c["suppressed"]);
        assert_eq!(coef[col("segment_var")], "all");
        assert_eq!(coef[col("ci_method")], "wald_t");
        assert_eq!(coef[col("metric_version")], "1");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path("out/metrics/metrics.json")).unwrap())
            .unwrap();
    let entry = json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "SCRM.MODEL.99")
        .expect("the model's metric in the catalog");
    assert_eq!(entry["kind"], "model");
    assert_eq!(entry["family"], "quasibinomial");
    assert_eq!(entry["predictors"], serde_json::json!(["size", "S4"]));
    // The catalog: new, then locked.
    let catalog = || {
        let out = crate::util::TestRun::new()
            .args(["metrics", "catalog", t.path("r").to_str().unwrap()])
            .run()
            .expect_code(0);
        out.stdout
            .lines()
            .find(|l| l.starts_with("SCRM.MODEL.99"))
            .unwrap_or_else(|| panic!("{}", out.stdout))
            .to_string()
    };
    assert!(catalog().contains(" new "), "{}", catalog());
    crate::util::TestRun::new()
        .args(["metrics", "lock", t.path("r").to_str().unwrap()])
        .run()
        .expect_code(0);
    let line = catalog();
    assert!(
        line.contains(" model ") && line.contains(" locked "),
        "{line}"
    );
    // The same version with other predictors: refused, naming the metric and the field.
    let spec_path = t.path("r/survey.toml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    std::fs::write(
        &spec_path,
        spec.replace(&model("\"size\", \"S4\""), &model("\"size\"")),
    )
    .unwrap();
    let out = crate::util::TestRun::new()
        .args(["validate", t.path("r").to_str().unwrap()])
        .run();
    assert!(
        out.stdout.contains("SCRM.MODEL.99") && out.stdout.contains("`predictors`")
            || out.stderr.contains("SCRM.MODEL.99") && out.stderr.contains("`predictors`"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    t.run().expect_code(2);
}

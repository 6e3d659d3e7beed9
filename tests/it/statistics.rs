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

//! Weighting on small rounds built in a scratch folder: every failure path names the variable,
//! level or stratum; calibration, partial post-stratification, inline targets and trimming with
//! re-calibration behave as documented. Plus kernel properties for raking.

use proptest::prelude::*;
use supplyrisk::clean::clean;
use supplyrisk::ingest::read_all;
use supplyrisk::kernels::calibration::{poststratify, rake, Margin};
use supplyrisk::kernels::prec::{close, R_RTOL};
use supplyrisk::spec::load_str;
use supplyrisk::weight::{weight, Population, Weighted};

use crate::util::TestRun;

const SPEC: &str = r#"
[survey]
id = "w"
round = "t"
title = "Weighting test"
tlp = "CLEAR"

[[sources]]
path = "responses.csv"

[respondent]
key = "org"

[[questions]]
id = "org"
type = "text"

[[questions]]
id = "a"
type = "single"
options = [{ code = "a1", label = "A one" }, { code = "a2", label = "A two" }]

[[questions]]
id = "b"
type = "single"
options = [{ code = "b1", label = "B one" }, { code = "b2", label = "B two" }, { code = "b3", label = "B three" }]

[[questions]]
id = "y"
type = "numeric"

[design]
DESIGN

[weighting]
WEIGHTING
"#;

/// 24 respondents: a alternates, b cycles over b1, b2 (and b3 when `with_b3`).
fn responses(with_b3: bool) -> String {
    let mut s = String::from("org,a,b,y\n");
    for i in 0..24 {
        let a = if i % 2 == 0 { "A one" } else { "A two" };
        let b = if with_b3 {
            ["B one", "B two", "B three"][i % 3]
        } else {
            ["B one", "B two"][(i / 2) % 2]
        };
        s.push_str(&format!("o{i},{a},{b},{}\n", i * 3 % 17));
    }
    s
}

struct Round {
    t: TestRun,
}

impl Round {
    fn new(design: &str, weighting: &str, population: Option<&str>, with_b3: bool) -> Round {
        let spec = SPEC
            .replace("DESIGN", design)
            .replace("WEIGHTING", weighting);
        let mut t = TestRun::new()
            .write("r/survey.toml", &spec)
            .write("r/responses.csv", &responses(with_b3));
        if let Some(p) = population {
            t = t.write("r/population.csv", p);
        }
        Round { t }
    }

    fn weigh(&self) -> Result<Weighted, String> {
        let dir = self.t.path("r");
        let text = std::fs::read_to_string(dir.join("survey.toml")).unwrap();
        let spec = load_str(&text, "survey.toml", &dir).map_err(|e| e.to_string())?;
        let pop = Population::read(&spec).map_err(|e| e.to_string())?;
        let sources = read_all(&spec).map_err(|e| e.to_string())?;
        let cleaned = clean(&spec, &sources, &pop.frame()).map_err(|e| e.to_string())?;
        weight(&spec.spec, &pop, &cleaned.records).map_err(|e| e.to_string())
    }
}

const CELLS: &str = "a,b,count\na1,b1,30\na1,b2,20\na2,b1,25\na2,b2,25\n";
const CELLS_B3: &str = "a,b,count\na1,b1,30\na1,b2,20\na1,b3,10\na2,b1,25\na2,b2,25\na2,b3,10\n";

fn err(r: &Round) -> String {
    match r.weigh() {
        Ok(_) => panic!("expected a weighting error"),
        Err(e) => e,
    }
}

#[test]
fn an_empty_population_cell_is_named() {
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"poststratify\"\nvariables = [\"a\", \"b\"]",
        Some(CELLS_B3),
        false,
    );
    let e = err(&r);
    assert!(
        e.contains("the population cell a=a1, b=b3 has no respondents"),
        "{e}"
    );
    // With empty_cell = "ignore" (R's partial = TRUE) the cell is skipped.
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"poststratify\"\nvariables = [\"a\", \"b\"]\nempty_cell = \"ignore\"",
        Some(CELLS_B3),
        false,
    );
    let w = r.weigh().unwrap();
    assert!(
        (w.weights.iter().sum::<f64>() - 100.0).abs() < 1e-9,
        "the sampled cells' total"
    );
    // With empty_cell = "rake" the margins are raked instead — and b3 is still unreachable.
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"poststratify\"\nvariables = [\"a\", \"b\"]\nempty_cell = \"rake\"",
        Some(CELLS_B3),
        false,
    );
    assert!(err(&r).contains("b=b3"), "{}", err(&r));
}

#[test]
fn inconsistent_margins_and_bad_counts_are_refused() {
    let margins = "variable,level,count\na,a1,50\na,a2,50\nb,b1,60\nb,b2,50\n";
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"rake\"\nvariables = [\"a\", \"b\"]",
        Some(margins),
        false,
    );
    let e = err(&r);
    assert!(
        e.contains("the margins disagree")
            && e.contains("`b` totals 110")
            && e.contains("`a` totals 100"),
        "{e}"
    );
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"rake\"\nvariables = [\"a\"]",
        Some("a,count\na1,50\na2,-3\n"),
        false,
    );
    assert!(
        err(&r).contains("expected a count in 0–1e9, got `-3`"),
        "{}",
        err(&r)
    );
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"poststratify\"\nvariables = [\"a\"]",
        Some("a,count\na1,50\na2,0\n"),
        false,
    );
    assert!(
        err(&r).contains("a=a2 has respondents but a count of 0"),
        "{}",
        err(&r)
    );
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"poststratify\"\nvariables = [\"a\"]",
        Some("a,count\na1,50\na1,10\na2,5\n"),
        false,
    );
    assert!(err(&r).contains("appears twice"), "{}", err(&r));
}

#[test]
fn margins_only_targets_rake_but_cannot_poststratify_on_several_variables() {
    let margins = "variable,level,count\na,a1,50\na,a2,50\nb,b1,55\nb,b2,45\n";
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"rake\"\nvariables = [\"a\", \"b\"]",
        Some(margins),
        false,
    );
    let w = r.weigh().unwrap();
    assert!(w
        .margins
        .iter()
        .all(|m| (m.weighted_total - m.population).abs() < 1e-8 * m.population));
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"poststratify\"\nvariables = [\"a\", \"b\"]",
        Some(margins),
        false,
    );
    assert!(err(&r).contains("needs cell counts"), "{}", err(&r));
}

#[test]
fn inline_margins_need_no_population_file() {
    let r = Round::new(
        "fpc = false",
        "method = \"rake\"\nvariables = [\"a\", \"b\"]\n[weighting.margins.a]\na1 = 40\na2 = 60\n[weighting.margins.b]\nb1 = 70\nb2 = 30\n",
        None,
        false,
    );
    let w = r.weigh().unwrap();
    assert!((w.weights.iter().sum::<f64>() - 100.0).abs() < 1e-8);
    let both = Round::new(
        "population = \"population.csv\"",
        "method = \"rake\"\nvariables = [\"a\"]\n[weighting.margins.a]\na1 = 40\na2 = 60\n",
        Some(CELLS),
        false,
    );
    assert!(err(&both).contains("not both"), "{}", err(&both));
}

#[test]
fn raking_and_calibration_name_an_unreachable_level() {
    let pop = "variable,level,count\na,a1,50\na,a2,50\nb,b1,40\nb,b2,40\nb,b3,20\n";
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"rake\"\nvariables = [\"a\", \"b\"]",
        Some(pop),
        false,
    );
    assert!(err(&r).contains("b=b3 has no respondents"), "{}", err(&r));
    let r = Round::new(
        "population = \"population.csv\"",
        "method = \"calibrate\"\nvariables = [\"a\", \"b\"]",
        Some(pop),
        false,
    );
    assert!(err(&r).contains("b=b3 has no respondents"), "{}", err(&r));
}

#[test]
fn a_stratum_with_one_respondent_is_named() {
    let mut r = Round::new(
        "population = \"population.csv\"\nstrata = \"a\"",
        "method = \"none\"",
        Some("a,count\na1,50\na2,50\n"),
        false,
    );
    let csv = "org,a,b,y\no1,A one,B one,1\no2,A one,B two,2\no3,A two,B one,3\n";
    r.t = r.t.write("r/responses.csv", csv);
    let e = err(&r);
    assert!(
        e.contains("stratum `a2` of `a` has a single PSU") && e.contains("merge it"),
        "{e}"
    );
}

#[test]
fn calibration_equals_raking_when_the_design_weights_are_equal() {
    let pop = "variable,level,count\na,a1,45\na,a2,55\nb,b1,70\nb,b2,30\n";
    let rake = Round::new(
        "population = \"population.csv\"",
        "method = \"rake\"\nvariables = [\"a\", \"b\"]\ntolerance = 1e-13",
        Some(pop),
        false,
    );
    let cal = Round::new(
        "population = \"population.csv\"",
        "method = \"calibrate\"\nvariables = [\"a\", \"b\"]\ntolerance = 1e-13",
        Some(pop),
        false,
    );
    let (r, c) = (rake.weigh().unwrap(), cal.weigh().unwrap());
    assert_eq!(c.method, "calibrate");
    for (x, y) in r.weights.iter().zip(&c.weights) {
        assert!((x - y).abs() < 1e-9 * x, "{x} vs {y}");
    }
    let linear = Round::new(
        "population = \"population.csv\"",
        "method = \"calibrate\"\ncalfun = \"linear\"\nvariables = [\"a\"]",
        Some(pop),
        false,
    );
    let ps = Round::new(
        "population = \"population.csv\"",
        "method = \"poststratify\"\nvariables = [\"a\"]",
        Some(pop),
        false,
    );
    for (x, y) in linear
        .weigh()
        .unwrap()
        .weights
        .iter()
        .zip(&ps.weigh().unwrap().weights)
    {
        assert!(
            (x - y).abs() < 1e-9 * x,
            "linear calibration on one variable is post-stratification: {x} vs {y}"
        );
    }
}

#[test]
fn trimming_with_recalibration_settles_with_both_margins_and_bounds() {
    let trimmed = |pop: &str, upper: &str| {
        Round::new(
            "population = \"population.csv\"",
            &format!(
                "method = \"rake\"\nvariables = [\"a\", \"b\"]\n[weighting.trim]\nupper = {upper}\nrelative_to = \"median\"\nrerake = true\nmax_passes = 200"
            ),
            Some(pop),
            false,
        )
    };
    // a2 needs 80 units from 12 respondents: no weights under 2 × median can meet both the
    // margins and the bound, so the rounds run out and the result is marked unsettled.
    let w = trimmed(
        "variable,level,count\na,a1,20\na,a2,80\nb,b1,30\nb,b2,70\n",
        "2.0",
    )
    .weigh()
    .unwrap();
    let t = w.trim.as_ref().unwrap();
    assert!(!t.settled && t.rounds == 200 && !w.converged, "{t:?}");
    // A feasible bound settles.
    let r = trimmed(
        "variable,level,count\na,a1,45\na,a2,55\nb,b1,35\nb,b2,65\n",
        "1.4",
    );
    let w = r.weigh().unwrap();
    let t = w.trim.as_ref().unwrap();
    assert!(t.n_trimmed > 0 && t.settled, "{t:?}");
    assert!(
        w.weights.iter().all(|&x| x <= t.upper * (1.0 + 1e-9)),
        "bounds hold"
    );
    assert!(
        w.margins
            .iter()
            .all(|m| (m.weighted_total - m.population).abs() < 1e-6 * m.population),
        "margins hold"
    );
    let infeasible = Round::new(
        "population = \"population.csv\"",
        "method = \"rake\"\nvariables = [\"a\"]\n[weighting.trim]\nupper = 2.0\nrelative_to = \"absolute\"",
        Some("a,count\na1,50\na2,50\n"),
        false,
    );
    assert!(
        err(&infeasible).contains("cannot hold"),
        "{}",
        err(&infeasible)
    );
}

#[test]
fn the_example_round_runs_with_calibration_and_trimming() {
    let t = TestRun::new().with_example("example-2024", "r");
    let p = t.path("r/survey.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "method = \"poststratify\"\nvariables = [\"subsector\", \"size\"]\nempty_cell = \"rake\"",
        "method = \"calibrate\"\nvariables = [\"subsector\", \"size\"]\n\n[weighting.trim]\nupper = 2.5\nrerake = true",
    );
    std::fs::write(&p, text).unwrap();
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.path("out/manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["settings"]["weighting"]["method_used"],
        "calibrate"
    );
    let (head, rows) = crate::util::read_csv(&t.path("out/data/clean.csv"));
    let (cw, w) = (
        head.iter().position(|h| h == "calibrated_weight").unwrap(),
        head.iter().position(|h| h == "weight").unwrap(),
    );
    assert!(
        rows.iter().any(|r| r[cw] != r[w]),
        "trimming changed some weights; the history keeps both"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Raking reproduces every margin, keeps weights positive, does not depend on row order,
    /// and on one variable equals post-stratification.
    #[test]
    fn raking_properties(
        rows in proptest::collection::vec((0u32..3, 0u32..2, 0.5f64..5.0), 12..60),
        ta in proptest::collection::vec(10.0f64..100.0, 3),
        tb_share in 0.2f64..0.8,
    ) {
        // Every cell of the cross has a respondent, so the margins can always be met.
        let mut rows = rows;
        for a in 0..3 {
            for b in 0..2 {
                rows.push((a, b, 1.0));
            }
        }
        let total: f64 = ta.iter().sum();
        let tb = vec![total * tb_share, total * (1.0 - tb_share)];
        let w: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let ma = Margin { codes: rows.iter().map(|r| r.0).collect(), targets: ta.clone() };
        let mb = Margin { codes: rows.iter().map(|r| r.1).collect(), targets: tb.clone() };
        let fit = rake(&w, &[ma.clone(), mb.clone()], 1e-12, 5000).unwrap();
        prop_assert!(fit.converged);
        prop_assert!(fit.weights.iter().all(|x| *x > 0.0));
        for m in [&ma, &mb] {
            let sums = supplyrisk::kernels::group_sums(&fit.weights, &m.codes, m.targets.len());
            for (s, t) in sums.iter().zip(&m.targets) {
                prop_assert!((s - t).abs() <= 1e-9 * t);
            }
        }
        // Row order: reverse the rows, rake, and compare weight by weight.
        let rev = |v: &[u32]| v.iter().rev().copied().collect::<Vec<_>>();
        let wr: Vec<f64> = w.iter().rev().copied().collect();
        let fit_r = rake(&wr, &[Margin { codes: rev(&ma.codes), targets: ta.clone() }, Margin { codes: rev(&mb.codes), targets: tb.clone() }], 1e-12, 5000).unwrap();
        for (x, y) in fit.weights.iter().zip(fit_r.weights.iter().rev()) {
            prop_assert!((x - y).abs() <= 1e-9 * x);
        }
        // One variable: raking is post-stratification.
        let one = rake(&w, std::slice::from_ref(&ma), 1e-12, 100).unwrap();
        let ps = poststratify(&w, &ma.codes, &ta).unwrap();
        for (x, y) in one.weights.iter().zip(&ps) {
            prop_assert!((x - y).abs() <= 1e-12 * x);
        }
    }
}

#[test]
fn fpc_from_a_sampling_fraction_equals_fpc_from_counts() {
    let counts = Round::new(
        "population = \"population.csv\"",
        "method = \"none\"",
        Some("a,count\na1,50\na2,50\n"),
        false,
    );
    let fraction = Round::new(
        "population = \"population.csv\"\nsampling_fraction = 0.24",
        "method = \"none\"",
        Some("a,count\na1,50\na2,50\n"),
        false,
    );
    let (c, f) = (counts.weigh().unwrap(), fraction.weigh().unwrap());
    let z: Vec<f64> = (0..24).map(|i| f64::from(i * 7 % 5)).collect();
    let (vc, vf) = (c.design.variance(&z), f.design.variance(&z));
    assert!(
        (vc - vf).abs() < 1e-12 * vc,
        "24 of 100 sampled: {vc} vs {vf}"
    );
}

#[test]
fn base_weights_from_a_column_must_be_positive() {
    let r = Round::new(
        "population = \"population.csv\"\nbase_weight = \"y\"",
        "method = \"none\"",
        Some("a,count\na1,50\na2,50\n"),
        false,
    );
    let e = err(&r);
    assert!(
        e.contains("responses.csv row 2") && e.contains("must be a positive number"),
        "{e}"
    );
}

#[test]
fn raking_that_runs_out_of_passes_fails_the_quality_gate() {
    let t = TestRun::new().with_example("example-2023", "r");
    let p = t.path("r/survey.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "method = \"poststratify\"\nvariables = [\"subsector\", \"size\"]",
        "method = \"rake\"\nvariables = [\"subsector\", \"size\"]\nmax_iterations = 1",
    );
    std::fs::write(&p, text).unwrap();
    let out = t.args(["run", "r", "--out", "out"]).run().expect_code(1);
    assert!(
        out.stderr
            .contains("quality gate failed: rake did not converge in 1 passes"),
        "{}",
        out.stderr
    );
}

#[test]
fn replicate_variance_runs_on_the_example_and_is_reproducible() {
    let t = TestRun::new().with_example("example-2024", "r");
    let p = t.path("r/survey.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "[design]\nstrata = \"subsector\"",
        "[design]\nvariance = \"bootstrap\"\nreplicates = 100\nseed = 7\nstrata = \"subsector\"",
    );
    std::fs::write(&p, text).unwrap();
    let t = t.args(["run", "r", "--out", "a", "-q"]);
    t.run().expect_code(0);
    let u = t.again().args(["run", "r", "--out", "b", "-q"]);
    u.run().expect_code(0);
    let a = std::fs::read(u.path("a/tables/estimates.csv")).unwrap();
    let b = std::fs::read(u.path("b/tables/estimates.csv")).unwrap();
    assert!(a == b, "the seed makes bootstrap SEs reproducible");
    let (head, rows) = crate::util::read_csv(&u.path("a/tables/estimates.csv"));
    let c = |n: &str| head.iter().position(|h| h == n).unwrap();
    let overall = rows
        .iter()
        .find(|r| r[c("metric_id")] == "SCRM.RISK.01" && r[c("segment_var")] == "all")
        .unwrap();
    let se: f64 = overall[c("se")].parse().unwrap();
    assert!(
        se > 0.5 && se < 2.0,
        "a bootstrap SE near the linearized 1.06: {se}"
    );
}

/// A round from columns of a reference CSV: `org` = row number, the named columns as
/// questions (`single` ones with their distinct values as options), a design, no weighting.
fn reference_round(
    csv_rel: &str,
    columns: &[(&str, &str, &str)],
    design: &str,
    population: &str,
) -> Result<(Weighted, supplyrisk::clean::Records, supplyrisk::spec::Spec), String> {
    let (headers, rows) =
        crate::util::read_csv(&crate::util::repo().join("tests/reference").join(csv_rel));
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let mut spec = String::from(
        "[survey]\nid = \"ref\"\nround = \"r\"\ntitle = \"Reference design\"\ntlp = \"CLEAR\"\n\n[[sources]]\npath = \"responses.csv\"\n\n[respondent]\nkey = \"org\"\n\n[[questions]]\nid = \"org\"\ntype = \"text\"\n",
    );
    let mut csv = String::from("org");
    for (id, source, kind) in columns {
        csv.push(',');
        csv.push_str(id);
        spec.push_str(&format!(
            "\n[[questions]]\nid = \"{id}\"\ntype = \"{kind}\"\n"
        ));
        if *kind == "single" {
            let mut levels: Vec<&str> = rows.iter().map(|r| r[col(source)].as_str()).collect();
            levels.sort();
            levels.dedup();
            let opts: Vec<String> = levels
                .iter()
                .map(|l| format!("{{ code = \"c{l}\", label = \"{l}\" }}"))
                .collect();
            spec.push_str(&format!("options = [{}]\n", opts.join(", ")));
        }
    }
    csv.push('\n');
    for (i, r) in rows.iter().enumerate() {
        csv.push_str(&format!("o{i}"));
        for (_, source, _) in columns {
            csv.push(',');
            csv.push_str(&r[col(source)]);
        }
        csv.push('\n');
    }
    spec.push_str(&format!(
        "\n[design]\n{design}\npopulation = \"population.csv\"\n\n[weighting]\nmethod = \"none\"\n\n[quality]\nmin_responses = 2\n"
    ));
    let t = TestRun::new()
        .write("r/survey.toml", &spec)
        .write("r/responses.csv", &csv)
        .write("r/population.csv", population);
    let dir = t.path("r");
    let loaded = load_str(&spec, "survey.toml", &dir).map_err(|e| e.to_string())?;
    let pop = Population::read(&loaded).map_err(|e| e.to_string())?;
    let sources = read_all(&loaded).map_err(|e| e.to_string())?;
    let cleaned = clean(&loaded, &sources, &pop.frame()).map_err(|e| e.to_string())?;
    let w = weight(&loaded.spec, &pop, &cleaned.records).map_err(|e| e.to_string())?;
    Ok((w, cleaned.records, loaded.spec))
}

fn r_design_case(case: &str) -> (f64, f64, f64) {
    let (h, rows) =
        crate::util::read_csv(&crate::util::repo().join("tests/reference/design_nest.csv"));
    let r = rows.iter().find(|r| r[0] == case).unwrap();
    let num = |n: &str| {
        r[h.iter().position(|x| x == n).unwrap()]
            .parse::<f64>()
            .unwrap()
    };
    (num("estimate"), num("se"), num("degf"))
}

fn mean_of(
    w: &Weighted,
    records: &supplyrisk::clean::Records,
    spec: &supplyrisk::spec::Spec,
    q: &str,
) -> supplyrisk::kernels::estimators::Estimate {
    let qi = spec.questions.iter().position(|x| x.id == q).unwrap();
    let y: Vec<f64> = records
        .iter()
        .map(|r| r.answer(qi).as_number().unwrap_or(f64::NAN))
        .collect();
    let s = supplyrisk::kernels::estimators::Survey {
        design: &w.design,
        weights: &w.weights,
        calibration: &w.calibration,
    };
    s.mean(&y, None)
}

const NHANES_COLUMNS: [(&str, &str, &str); 4] = [
    ("stratum", "SDMVSTRA", "single"),
    ("psu", "SDMVPSU", "numeric"),
    ("w", "WTMEC2YR", "numeric"),
    ("hi_chol", "HI_CHOL", "numeric"),
];

/// A stratum count for every SDMVSTRA in the file (the design takes its weights from
/// WTMEC2YR; the counts only make the strata a frame).
fn nhanes_population() -> String {
    let (h, rows) = crate::util::read_csv(&crate::util::repo().join("tests/reference/nhanes.csv"));
    let col = h.iter().position(|x| x == "SDMVSTRA").unwrap();
    let mut strata: Vec<&str> = rows.iter().map(|r| r[col].as_str()).collect();
    strata.sort();
    strata.dedup();
    let mut p = String::from("stratum,count\n");
    for s in strata {
        p.push_str(&format!("c{s},1000\n"));
    }
    p
}

#[test]
fn psus_numbered_within_strata_are_nested_as_r_does() {
    // NHANES: SDMVPSU is 1–3 inside each SDMVSTRA. With design.nest = true the mean, SE and
    // df equal R's svydesign(id=~SDMVPSU, strata=~SDMVSTRA, nest=TRUE) (design_nest.R); the
    // pipeline used to say "stratum `83` has a single PSU", or give SE 0 and df 1.
    let design = "strata = \"stratum\"\ncluster = \"psu\"\nbase_weight = \"w\"\nnest = true";
    let (w, records, spec) =
        reference_round("nhanes.csv", &NHANES_COLUMNS, design, &nhanes_population()).unwrap();
    let e = mean_of(&w, &records, &spec, "hi_chol");
    let (est, se, df) = r_design_case("nhanes_nest");
    assert!(close(e.value, est, R_RTOL), "{} vs {est}", e.value);
    assert!(close(e.se, se, R_RTOL), "{} vs {se}", e.se);
    assert_eq!(w.design.degf(|_| true), df);
    // Without nest, the repeated codes are refused, naming them and the setting.
    let design = "strata = \"stratum\"\ncluster = \"psu\"\nbase_weight = \"w\"";
    let Err(e) = reference_round("nhanes.csv", &NHANES_COLUMNS, design, &nhanes_population())
    else {
        panic!("repeated PSU codes must be refused");
    };
    assert!(
        e.contains("appears in stratum") && e.contains("design.nest = true"),
        "{e}"
    );
}

#[test]
fn a_psu_column_bound_to_a_numeric_question_is_read_as_labels() {
    // apiclus1: dnum (a number) is the district. Read as numbers it made every school its
    // own PSU (SE 7.74, df 182); as labels it equals R (SE 23.54, df 14).
    let cols = [
        ("stype", "stype", "single"),
        ("dnum", "dnum", "numeric"),
        ("pw", "pw", "numeric"),
        ("api00", "api00", "numeric"),
    ];
    let design = format!(
        "cluster = \"dnum\"\nbase_weight = \"pw\"\nsampling_fraction = {}",
        15.0 / 757.0
    );
    let pop = "stype,count\ncE,4421\ncH,755\ncM,1018\n";
    let (w, records, spec) = reference_round("api/data/apiclus1.csv", &cols, &design, pop).unwrap();
    let e = mean_of(&w, &records, &spec, "api00");
    let (est, se, df) = r_design_case("apiclus1_numeric_psu");
    assert!(close(e.value, est, R_RTOL), "{} vs {est}", e.value);
    assert!(close(e.se, se, R_RTOL), "{} vs {se}", e.se);
    assert_eq!(w.design.degf(|_| true), df);
    assert!(w.design_notes.is_empty(), "{:?}", w.design_notes);
    // A cluster column that is really a row identifier (snum) is reported.
    let cols = [
        ("stype", "stype", "single"),
        ("snum", "snum", "numeric"),
        ("pw", "pw", "numeric"),
    ];
    let design = "cluster = \"snum\"\nbase_weight = \"pw\"";
    let (w, _, _) = reference_round("api/data/apiclus1.csv", &cols, design, pop).unwrap();
    assert!(
        w.design_notes.iter().any(|n| n.contains("its own PSU")),
        "{:?}",
        w.design_notes
    );
    // One that nearly is (enroll: 149 of 165 values once) is reported as implausible.
    let cols = [
        ("stype", "stype", "single"),
        ("enroll", "enroll", "numeric"),
        ("pw", "pw", "numeric"),
    ];
    let design = "cluster = \"enroll\"\nbase_weight = \"pw\"";
    let (w, _, _) = reference_round("api/data/apiclus1.csv", &cols, design, pop).unwrap();
    assert!(
        w.design_notes
            .iter()
            .any(|n| n.contains("149 of its 165 PSUs hold a single response")),
        "{:?}",
        w.design_notes
    );
}

#[test]
fn r_stop_rule_stops_raking_where_r_does_and_is_validated() {
    let pop = "variable,level,count\na,a1,45\na,a2,55\nb,b1,70\nb,b2,30\n";
    let fit = |extra: &str| {
        Round::new(
            "population = \"population.csv\"",
            &format!("method = \"rake\"\nvariables = [\"a\", \"b\"]\n{extra}"),
            Some(pop),
            false,
        )
        .weigh()
    };
    let tight = fit("tolerance = 1e-13").unwrap();
    let r_default = fit("stop = \"r\"").unwrap();
    let r_loose = fit("stop = \"r\"\nepsilon = 30").unwrap();
    // R's rule compares each pass's joint table with the one before, so it runs at least two
    // passes when the starting weights miss the margins (here one pass already meets them, as
    // `tight` shows, and R's second pass moves nothing); a looser epsilon never runs longer.
    let passes = |w: &supplyrisk::weight::Weighted| w.passes.unwrap();
    assert_eq!(passes(&tight), 1);
    assert_eq!(passes(&r_default), 2);
    for (x, y) in tight.weights.iter().zip(&r_default.weights) {
        assert!((x - y).abs() < 1e-9 * x, "{x} vs {y}");
    }
    assert!(passes(&r_loose) <= passes(&r_default));
    assert!(r_default.converged && r_loose.converged);
    // Both still sum to the population total (the last margin is met exactly).
    let total: f64 = r_default.weights.iter().sum();
    assert!((total - 100.0).abs() < 1e-9, "{total}");
    // The rule needs raking, and epsilon must be positive; both errors name their key.
    let e = Round::new(
        "population = \"population.csv\"",
        "method = \"poststratify\"\nvariables = [\"a\"]\nstop = \"r\"",
        Some(pop),
        false,
    );
    assert!(err(&e).contains("weighting.stop"), "{}", err(&e));
    let e = Round::new(
        "population = \"population.csv\"",
        "method = \"rake\"\nvariables = [\"a\", \"b\"]\nstop = \"r\"\nepsilon = 0",
        Some(pop),
        false,
    );
    assert!(err(&e).contains("weighting.epsilon"), "{}", err(&e));
}

/// Weights from a column with no population file (R: `svydesign(ids = ~1, weights = ~w)`):
/// `weighting.method = "none"` with `design.base_weight`; the weights are the column's, the
/// population total their sum, no FPC; and the whole run goes through.
#[test]
fn weights_from_a_column_need_no_population_file() {
    let spec = SPEC
        .replace(
            "[design]",
            "[[questions]]\nid = \"w\"\ntype = \"numeric\"\n\n[design]",
        )
        .replace("DESIGN", "base_weight = \"w\"")
        .replace("WEIGHTING", "method = \"none\"");
    let mut csv = String::from("org,a,b,y,w\n");
    for i in 0..24 {
        let a = if i % 2 == 0 { "A one" } else { "A two" };
        csv.push_str(&format!(
            "o{i},{a},B one,{},{}\n",
            i * 3 % 17,
            1.5 + (i % 5) as f64
        ));
    }
    let r = Round {
        t: TestRun::new()
            .write("r/survey.toml", &spec)
            .write("r/responses.csv", &csv),
    };
    let w = r.weigh().unwrap();
    let want: Vec<f64> = (0..24).map(|i| 1.5 + (i % 5) as f64).collect();
    assert_eq!(w.weights, want);
    assert!((w.population_total - want.iter().sum::<f64>()).abs() < 1e-9);
    let t = r.t.again().args(["run", "r", "--out", "out", "-q"]);
    let out = t.run();
    assert!(out.code <= 1, "{}", out.stderr);
    assert!(t.path("out/report.html").exists());
    // Without base_weight, targets are still required, and the message names the way out.
    let spec = SPEC
        .replace("DESIGN", "")
        .replace("WEIGHTING", "method = \"none\"");
    let r = Round {
        t: TestRun::new()
            .write("r/survey.toml", &spec)
            .write("r/responses.csv", &responses(false)),
    };
    let e = err(&r);
    assert!(e.contains("design.base_weight"), "{e}");
}

/// `design.fpc_variable` is R's `svydesign(fpc = ~var)`: apistrat with each school's stratum
/// population in a column gives R's mean, SE and df (design_nest.R); on the cluster design the
/// same key with the districts' population (757) equals the sampling-fraction form R was
/// checked with; a value that differs within a stratum is refused naming the row, as is a
/// non-numeric question.
#[test]
fn the_fpc_from_a_variable_is_r_s_fpc_formula() {
    let cols = [
        ("stype", "stype", "single"),
        ("pw", "pw", "numeric"),
        ("fpc", "fpc", "numeric"),
        ("api00", "api00", "numeric"),
    ];
    let pop = "stype,count\ncE,4421\ncH,755\ncM,1018\n";
    let design = "strata = \"stype\"\nbase_weight = \"pw\"\nfpc_variable = \"fpc\"";
    let (w, records, spec) = reference_round("api/data/apistrat.csv", &cols, design, pop).unwrap();
    let e = mean_of(&w, &records, &spec, "api00");
    let (est, se, df) = r_design_case("apistrat_fpc_variable");
    assert!(close(e.value, est, R_RTOL), "{} vs {est}", e.value);
    assert!(close(e.se, se, R_RTOL), "{} vs {se}", e.se);
    assert_eq!(w.design.degf(|_| true), df);
    assert!(w.fpc);

    let cols = [
        ("stype", "stype", "single"),
        ("dnum", "dnum", "numeric"),
        ("pw", "pw", "numeric"),
        ("fpc", "fpc", "numeric"),
        ("api00", "api00", "numeric"),
    ];
    let design = "cluster = \"dnum\"\nbase_weight = \"pw\"\nfpc_variable = \"fpc\"";
    let (w, records, spec) = reference_round("api/data/apiclus1.csv", &cols, design, pop).unwrap();
    let e = mean_of(&w, &records, &spec, "api00");
    let (est, se, _) = r_design_case("apiclus1_numeric_psu");
    assert!(
        close(e.value, est, R_RTOL) && close(e.se, se, R_RTOL),
        "{e:?}"
    );

    // apistrat's fpc differs between strata; as one stratum it is inconsistent.
    let design = "base_weight = \"pw\"\nfpc_variable = \"fpc\"";
    let Err(msg) = reference_round("api/data/apistrat.csv", &cols[..], design, pop) else {
        panic!("an fpc that differs within a stratum must be refused");
    };
    assert!(
        msg.contains("row") && msg.contains("constant within a stratum"),
        "{msg}"
    );
    let design = "base_weight = \"pw\"\nfpc_variable = \"stype\"";
    let Err(msg) = reference_round("api/data/apistrat.csv", &cols[..], design, pop) else {
        panic!("a non-numeric fpc_variable must be refused");
    };
    assert!(msg.contains("design.fpc_variable"), "{msg}");
}

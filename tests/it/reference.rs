//! The kernels against R's `survey` on the California API samples (`tests/reference/api/`):
//! designs, domains, post-stratification and raking, to the tolerances of methods.md §12.

use std::collections::BTreeMap;
use std::path::PathBuf;

use supplyrisk::kernels::calibration::{poststratify, rake, Calibration, Margin};
use supplyrisk::kernels::design::Design;
use supplyrisk::kernels::domains::DomainLinearizer;
use supplyrisk::kernels::estimators::{ci_logit, ci_normal, kish_ess, Survey};
use supplyrisk::kernels::group_codes;
use supplyrisk::kernels::prec::{close, R_RTOL, R_RTOL_P};

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/api")
}

struct Data {
    cols: BTreeMap<String, Vec<String>>,
}

impl Data {
    fn load(name: &str) -> Data {
        let mut r = csv::Reader::from_path(reference_dir().join("data").join(name))
            .expect("reference data");
        let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        let mut cols: BTreeMap<String, Vec<String>> =
            headers.iter().map(|h| (h.clone(), Vec::new())).collect();
        for rec in r.records() {
            let rec = rec.unwrap();
            for (h, v) in headers.iter().zip(rec.iter()) {
                cols.get_mut(h).unwrap().push(v.to_string());
            }
        }
        Data { cols }
    }
    fn text(&self, c: &str) -> &[String] {
        &self.cols[c]
    }
    fn num(&self, c: &str) -> Vec<f64> {
        self.cols[c]
            .iter()
            .map(|v| v.parse().unwrap_or(f64::NAN))
            .collect()
    }
    fn indicator(&self, c: &str, level: &str) -> Vec<f64> {
        self.cols[c]
            .iter()
            .map(|v| if v == level { 1.0 } else { 0.0 })
            .collect()
    }
}

#[derive(Debug)]
struct Expected {
    estimate: f64,
    se: f64,
    ci_low: f64,
    ci_high: f64,
    n: f64,
    weight_sum: f64,
    deff: f64,
}

/// A file of expected values: the project's own R cases (tests/reference/) or the API reference
/// values (tests/reference/api/expected/).
fn reference_file(name: &str) -> PathBuf {
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(name);
    if own.exists() {
        own
    } else {
        reference_dir().join("expected").join(name)
    }
}

fn expected(scenario: &str) -> BTreeMap<(String, String, String, String), Expected> {
    let mut r = csv::Reader::from_path(reference_file(&format!("{scenario}.csv"))).unwrap();
    let mut out = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        let f = |i: usize| rec[i].parse::<f64>().unwrap_or(f64::NAN);
        out.insert(
            (
                rec[1].to_string(),
                rec[2].to_string(),
                rec[3].to_string(),
                rec[4].to_string(),
            ),
            Expected {
                estimate: f(5),
                se: f(6),
                ci_low: f(7),
                ci_high: f(8),
                n: f(9),
                weight_sum: f(10),
                deff: f(11),
            },
        );
    }
    out
}

fn get<'a>(
    e: &'a BTreeMap<(String, String, String, String), Expected>,
    stat: &str,
    var: &str,
    seg: &str,
    val: &str,
) -> &'a Expected {
    e.get(&(stat.into(), var.into(), seg.into(), val.into()))
        .unwrap_or_else(|| panic!("no reference row {stat} {var} {seg} {val}"))
}

fn assert_close(what: &str, got: f64, want: f64, rtol: f64) {
    assert!(
        close(got, want, rtol),
        "{what}: got {got:.17e}, R has {want:.17e} (rtol {rtol:e})"
    );
}

/// The variance structure of raking `margins` (R's `rake()` back-fitting route).
fn rake_calibration(
    margins: &[Margin],
    fit: &supplyrisk::kernels::calibration::RakeFit,
) -> Calibration {
    Calibration::Rake {
        margins: margins
            .iter()
            .map(|m| (m.codes.clone(), m.targets.len()))
            .collect(),
        snapshots: fit.snapshots.clone(),
    }
}

/// The weights raked tightly on sch.wide and comp.imp (R: `rake(..., control = list(maxit =
/// 1000, epsilon = 1e-12))`) and the calibration for the variance.
fn raked_tight(
    data: &Data,
    w: &[f64],
    t: &BTreeMap<String, BTreeMap<String, f64>>,
) -> (Vec<f64>, Calibration) {
    let margins: Vec<Margin> = ["sch.wide", "comp.imp"]
        .iter()
        .map(|v| margin_of(data, v, t))
        .collect();
    let fit = rake(w, &margins, 1e-13, 1000).unwrap();
    let cal = rake_calibration(&margins, &fit);
    (fit.weights, cal)
}

/// Check mean/total rows (overall and by stype) of a scenario.
fn check_scenario(scenario: &str, data: &Data, s: &Survey<'_>) {
    let e = expected(scenario);
    let df = s.design.degf(|i| s.weights[i] > 0.0);
    assert_close("degf", df, get(&e, "degf", "", "all", "").estimate, R_RTOL);
    let (stype, levels) = group_codes(data.text("stype"));
    for (stat, var) in [
        ("mean", "api00"),
        ("total", "enroll"),
        ("mean", "sch.wide=Yes"),
    ] {
        let y = match var.split_once('=') {
            Some((v, l)) => data.indicator(v, l),
            None => data.num(var),
        };
        let mut cases: Vec<(String, Option<Vec<bool>>)> = vec![(String::new(), None)];
        if var != "sch.wide=Yes" {
            for (k, l) in levels.iter().enumerate() {
                cases.push((
                    l.clone(),
                    Some(stype.iter().map(|c| *c as usize == k).collect()),
                ));
            }
        }
        for (level, domain) in cases {
            let (seg, val) = if level.is_empty() {
                ("all", "")
            } else {
                ("stype", level.as_str())
            };
            let Some(want) = e.get(&(stat.into(), var.into(), seg.into(), val.into())) else {
                continue;
            };
            let got = if stat == "mean" {
                s.mean(&y, domain.as_deref())
            } else {
                s.total(&y, domain.as_deref())
            };
            let what = format!("{scenario} {stat} {var} {seg}={val}");
            assert_close(
                &format!("{what} estimate"),
                got.value,
                want.estimate,
                R_RTOL,
            );
            if want.se <= 1e-9 * want.estimate.abs() {
                // A calibration variable: its SE is zero up to rounding noise, which differs
                // between implementations; so is its design effect.
                assert!(
                    got.se <= 1e-9 * got.value.abs(),
                    "{what} se: got {:e}, R has {:e}",
                    got.se,
                    want.se
                );
            } else {
                assert_close(&format!("{what} se"), got.se, want.se, R_RTOL);
                assert_close(&format!("{what} deff"), got.deff, want.deff, R_RTOL);
            }
            assert_close(
                &format!("{what} weight_sum"),
                got.weight_sum,
                want.weight_sum,
                R_RTOL,
            );
            assert_eq!(got.n as f64, want.n, "{what} n");
            let (lo, hi) = ci_normal(got.value, got.se, 0.95);
            assert_close(&format!("{what} ci_low"), lo, want.ci_low, R_RTOL);
            assert_close(&format!("{what} ci_high"), hi, want.ci_high, R_RTOL);
        }
    }
    let diag = |stat: &str| {
        e.get(&(stat.into(), String::new(), "all".into(), String::new()))
            .map(|x| x.estimate)
    };
    if let Some(ess) = diag("kish_ess") {
        assert_close("kish_ess", kish_ess(s.weights), ess, R_RTOL);
    }
    let n = s.weights.len() as f64;
    let mean = s.weights.iter().sum::<f64>() / n;
    let cv = (s
        .weights
        .iter()
        .map(|w| (w - mean) * (w - mean))
        .sum::<f64>()
        / n)
        .sqrt()
        / mean;
    if let Some(want) = diag("weight_cv") {
        assert_close("weight_cv", cv, want, R_RTOL);
    }
    if let Some(want) = diag("kish_deff_weighting") {
        assert_close("kish_deff_weighting", n / kish_ess(s.weights), want, R_RTOL);
    }
    if let Some(want) = diag("weight_min") {
        assert_close(
            "weight_min",
            s.weights.iter().copied().fold(f64::INFINITY, f64::min),
            want,
            R_RTOL,
        );
    }
}

fn strat() -> (Data, Design, Vec<f64>) {
    let data = Data::load("apistrat.csv");
    let (stype, _) = group_codes(data.text("stype"));
    let fpc = data.num("fpc");
    let mut pop = vec![0.0; 3];
    for (h, f) in stype.iter().zip(&fpc) {
        pop[*h as usize] = *f;
    }
    let n = stype.len();
    let design = Design::new(stype, (0..n as u32).collect(), Some(&pop)).unwrap();
    let w = data.num("pw");
    (data, design, w)
}

fn clus1() -> (Data, Design, Vec<f64>) {
    let data = Data::load("apiclus1.csv");
    let (psu, _) = group_codes(
        &data
            .num("dnum")
            .iter()
            .map(|x| *x as i64)
            .collect::<Vec<_>>(),
    );
    let n = psu.len();
    let fpc = data.num("fpc")[0];
    let design = Design::new(vec![0; n], psu, Some(&[fpc])).unwrap();
    let w = data.num("pw");
    (data, design, w)
}

#[test]
fn stratified_design_matches_r() {
    let (data, design, w) = strat();
    let cal = Calibration::None;
    let s = Survey {
        design: &design,
        weights: &w,
        calibration: &cal,
    };
    check_scenario("api_strat", &data, &s);
    // svyciprop(method = "xlogit") on the design df.
    let e = expected("api_strat");
    let want = get(&e, "ciprop;method=xlogit", "sch.wide=Yes", "all", "");
    let p = s.mean(&data.indicator("sch.wide", "Yes"), None);
    let (lo, hi) = ci_logit(p.value, p.se, p.df, 0.95);
    assert_close("xlogit low", lo, want.ci_low, R_RTOL_P);
    assert_close("xlogit high", hi, want.ci_high, R_RTOL_P);
}

#[test]
fn stratified_quantiles_match_r_math_rule() {
    let (data, design, w) = strat();
    let cal = Calibration::None;
    let s = Survey {
        design: &design,
        weights: &w,
        calibration: &cal,
    };
    let e = expected("api_strat");
    let y = data.num("api00");
    for p in ["0.25", "0.5", "0.75"] {
        let want = get(
            &e,
            &format!("quantile;p={p};qrule=math;interval=mean"),
            "api00",
            "all",
            "",
        );
        let q = s.quantile(&y, None, p.parse().unwrap(), 0.95);
        assert_eq!(
            (q.value, q.ci_low, q.ci_high),
            (want.estimate, want.ci_low, want.ci_high),
            "p={p}"
        );
        assert_close("quantile se", q.se, want.se, R_RTOL);
    }
}

#[test]
fn cluster_design_matches_r() {
    let (data, design, w) = clus1();
    let cal = Calibration::None;
    let s = Survey {
        design: &design,
        weights: &w,
        calibration: &cal,
    };
    check_scenario("api_clus1", &data, &s);
}

#[test]
fn poststratified_cluster_design_matches_r() {
    let (data, design, w) = clus1();
    let (stype, levels) = group_codes(data.text("stype"));
    assert_eq!(levels, ["E", "H", "M"]);
    let targets = [4421.0, 755.0, 1018.0];
    let after = poststratify(&w, &stype, &targets).unwrap();
    let cal = Calibration::PostStrat {
        cells: stype,
        n_cells: 3,
        before: w,
        after: after.clone(),
    };
    let s = Survey {
        design: &design,
        weights: &after,
        calibration: &cal,
    };
    check_scenario("api_poststrat", &data, &s);
}

#[test]
fn raked_cluster_design_matches_r_tight() {
    let (data, design, w) = clus1();
    let (stype, _) = group_codes(data.text("stype"));
    let (sw, sw_levels) = group_codes(data.text("sch.wide"));
    assert_eq!(sw_levels, ["No", "Yes"]);
    let margins = vec![
        Margin {
            codes: stype.clone(),
            targets: vec![4421.0, 755.0, 1018.0],
        },
        Margin {
            codes: sw.clone(),
            targets: vec![1072.0, 5122.0],
        },
    ];
    let fit = rake(&w, &margins, 1e-12, 1000).unwrap();
    let mut r = csv::Reader::from_path(reference_dir().join("expected/api_rake_tight_weights.csv"))
        .unwrap();
    let snum = data.num("snum");
    let want: BTreeMap<i64, f64> = r
        .records()
        .map(|x| {
            let x = x.unwrap();
            (x[0].parse().unwrap(), x[1].parse().unwrap())
        })
        .collect();
    for (i, s) in snum.iter().enumerate() {
        assert_close("raked weight", fit.weights[i], want[&(*s as i64)], R_RTOL);
    }
    let cal = Calibration::Rake {
        margins: vec![(stype, 3), (sw, 2)],
        snapshots: fit.snapshots.clone(),
    };
    let s = Survey {
        design: &design,
        weights: &fit.weights,
        calibration: &cal,
    };
    let e = expected("api_rake_tight");
    let got = s.mean(&data.num("api00"), None);
    let want = get(&e, "mean", "api00", "all", "");
    assert_close("raked mean", got.value, want.estimate, R_RTOL);
    assert_close("raked se", got.se, want.se, R_RTOL);
}

fn reference_weights(file: &str) -> BTreeMap<i64, f64> {
    let mut r = csv::Reader::from_path(reference_file(file)).unwrap();
    r.records()
        .map(|x| {
            let x = x.unwrap();
            (x[0].parse().unwrap(), x[1].parse().unwrap())
        })
        .collect()
}

fn assert_weights(what: &str, data: &Data, got: &[f64], file: &str) {
    let want = reference_weights(file);
    for (i, s) in data.num("snum").iter().enumerate() {
        assert_close(
            &format!("{what} weight of snum {s}"),
            got[i],
            want[&(*s as i64)],
            R_RTOL,
        );
    }
}

/// `trimWeights` on the (R-default, loosely raked) `api_rake` weights: upper = 1.5 × median,
/// and upper = 40 non-strict and strict.
#[test]
fn trimming_reproduces_r_trimweights() {
    use supplyrisk::kernels::trim::trim_weights;
    let (data, _, _) = clus1();
    let raked: Vec<f64> = {
        let want = reference_weights("api_rake_weights.csv");
        data.num("snum")
            .iter()
            .map(|s| want[&(*s as i64)])
            .collect()
    };
    let mut sorted = raked.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let e = expected("api_trim");
    let upper = 1.5 * median;
    assert_close(
        "1.5 × median",
        upper,
        get(&e, "trim;upper", "", "all", "").estimate,
        R_RTOL,
    );
    let fit = trim_weights(&raked, f64::NEG_INFINITY, upper, false);
    assert_weights("api_trim", &data, &fit.weights, "api_trim_weights.csv");
    assert_eq!(
        fit.n_trimmed as f64,
        get(&e, "trim;n_trimmed", "", "all", "").estimate
    );
    assert_close(
        "kish",
        kish_ess(&fit.weights),
        get(&e, "kish_ess", "", "all", "").estimate,
        R_RTOL,
    );

    for (scenario, strict) in [("api_trim40", false), ("api_trim40_strict", true)] {
        let e = expected(scenario);
        let fit = trim_weights(&raked, f64::NEG_INFINITY, 40.0, strict);
        assert_weights(
            scenario,
            &data,
            &fit.weights,
            &format!("{scenario}_weights.csv"),
        );
        assert_eq!(
            fit.n_trimmed as f64,
            get(&e, "trim;n_trimmed", "", "all", "").estimate,
            "{scenario}"
        );
        assert_eq!(
            fit.n_outside_after as f64,
            get(&e, "trim;n_above_upper_after", "", "all", "").estimate,
            "{scenario}"
        );
        let max = fit.weights.iter().copied().fold(0.0, f64::max);
        assert_close(
            "weight_max",
            max,
            get(&e, "weight_max", "", "all", "").estimate,
            R_RTOL,
        );
    }
}

/// The stratified design raked on sch.wide and comp.imp (unequal starting weights): weights,
/// and SEs by the `rake()` back-fitting route.
#[test]
fn stratified_raking_matches_r_rake() {
    let (data, design, w) = strat();
    let (sw, _) = group_codes(data.text("sch.wide"));
    let (ci, levels) = group_codes(data.text("comp.imp"));
    assert_eq!(levels, ["No", "Yes"]);
    let margins = vec![
        Margin {
            codes: sw.clone(),
            targets: vec![1072.0, 5122.0],
        },
        Margin {
            codes: ci.clone(),
            targets: vec![1712.0, 4482.0],
        },
    ];
    let fit = rake(&w, &margins, 1e-13, 1000).unwrap();
    assert!(fit.converged);
    assert_weights(
        "api_strat_rake",
        &data,
        &fit.weights,
        "api_strat_rake_weights.csv",
    );
    let cal = Calibration::Rake {
        margins: vec![(sw, 2), (ci, 2)],
        snapshots: fit.snapshots.clone(),
    };
    let s = Survey {
        design: &design,
        weights: &fit.weights,
        calibration: &cal,
    };
    check_scenario("api_strat_rake", &data, &s);
}

/// `calibrate(calfun = "raking")` by Newton steps, with GREG residuals for the variance — on the
/// cluster design (equal weights) and the stratified one (unequal weights, where it differs from
/// `rake()`).
#[test]
fn raking_calibration_matches_r_calibrate() {
    use supplyrisk::kernels::greg::{calibrate, column_totals, CalFun, GregResidual};
    let (data, design, w) = clus1();
    let (stype, _) = group_codes(data.text("stype"));
    let (sw, _) = group_codes(data.text("sch.wide"));
    let margins = vec![(stype, 3), (sw, 2)];
    let totals = column_totals(&[vec![4421.0, 755.0, 1018.0], vec![1072.0, 5122.0]]);
    let fit = calibrate(&w, &margins, &totals, CalFun::Raking, 1e-7, 50).unwrap();
    assert!(fit.converged);
    assert_weights(
        "api_calib_raking",
        &data,
        &fit.weights,
        "api_calib_raking_weights.csv",
    );
    let cal =
        Calibration::Greg(GregResidual::new(margins, w.clone(), fit.weights.clone()).unwrap());
    let s = Survey {
        design: &design,
        weights: &fit.weights,
        calibration: &cal,
    };
    check_scenario("api_calib_raking", &data, &s);

    let (data, design, w) = strat();
    let (sw, _) = group_codes(data.text("sch.wide"));
    let (ci, _) = group_codes(data.text("comp.imp"));
    let margins = vec![(sw, 2), (ci, 2)];
    let totals = column_totals(&[vec![1072.0, 5122.0], vec![1712.0, 4482.0]]);
    let fit = calibrate(&w, &margins, &totals, CalFun::Raking, 1e-7, 50).unwrap();
    assert_weights(
        "api_strat_calib_raking",
        &data,
        &fit.weights,
        "api_strat_calib_raking_weights.csv",
    );
    let cal =
        Calibration::Greg(GregResidual::new(margins, w.clone(), fit.weights.clone()).unwrap());
    let s = Survey {
        design: &design,
        weights: &fit.weights,
        calibration: &cal,
    };
    check_scenario("api_strat_calib_raking", &data, &s);
}

#[test]
fn poststratified_weights_match_r() {
    let (data, _, w) = clus1();
    let (stype, _) = group_codes(data.text("stype"));
    let after = poststratify(&w, &stype, &[4421.0, 755.0, 1018.0]).unwrap();
    assert_weights("api_poststrat", &data, &after, "api_poststrat_weights.csv");
}

/// Population margins written by `tests/reference/cases.R`: variable → level → count.
fn targets() -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut r = csv::Reader::from_path(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/targets.csv"),
    )
    .unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        out.entry(rec[0].to_string())
            .or_default()
            .insert(rec[1].to_string(), rec[2].parse().unwrap());
    }
    out
}

/// A margin of `var` over the sample: codes by sorted level, targets in the same order.
fn margin_of(data: &Data, var: &str, t: &BTreeMap<String, BTreeMap<String, f64>>) -> Margin {
    let labels: Vec<String> = if var == "dnum" {
        data.num(var)
            .iter()
            .map(|x| format!("{}", *x as i64))
            .collect()
    } else {
        data.text(var).to_vec()
    };
    let levels: Vec<&String> = t[var].keys().collect();
    let codes = labels
        .iter()
        .map(|l| levels.iter().position(|x| *x == l).unwrap() as u32)
        .collect();
    Margin {
        codes,
        targets: t[var].values().copied().collect(),
    }
}

/// Own R cases (tests/reference/cases.R): a stratified design raked on three margins.
#[test]
fn r_case_stratified_design_raked_on_three_margins() {
    let (data, design, w) = strat();
    let t = targets();
    let margins: Vec<Margin> = ["stype", "sch.wide", "comp.imp"]
        .iter()
        .map(|v| margin_of(&data, v, &t))
        .collect();
    let fit = rake(&w, &margins, 1e-13, 1000).unwrap();
    assert_weights(
        "case_strat_rake3",
        &data,
        &fit.weights,
        "case_strat_rake3_weights.csv",
    );
    let cal = rake_calibration(&margins, &fit);
    check_scenario(
        "case_strat_rake3",
        &data,
        &Survey {
            design: &design,
            weights: &fit.weights,
            calibration: &cal,
        },
    );
}

/// Own R cases: a cluster design raked on two margins.
#[test]
fn r_case_cluster_design_raked_on_two_margins() {
    let (data, design, w) = clus1();
    let t = targets();
    let margins: Vec<Margin> = ["sch.wide", "comp.imp"]
        .iter()
        .map(|v| margin_of(&data, v, &t))
        .collect();
    let fit = rake(&w, &margins, 1e-13, 1000).unwrap();
    assert_weights(
        "case_clus_rake2",
        &data,
        &fit.weights,
        "case_clus_rake2_weights.csv",
    );
    let cal = rake_calibration(&margins, &fit);
    check_scenario(
        "case_clus_rake2",
        &data,
        &Survey {
            design: &design,
            weights: &fit.weights,
            calibration: &cal,
        },
    );
}

/// Own R cases: partial post-stratification (`postStratify(partial = TRUE)`) on district.
#[test]
fn r_case_partial_poststratification() {
    use supplyrisk::kernels::calibration::poststratify_partial;
    let (data, design, w) = strat();
    let t = targets();
    let m = margin_of(&data, "dnum", &t);
    assert!(
        m.targets.len() > 700,
        "most of the districts have no sampled school"
    );
    assert!(
        poststratify(&w, &m.codes, &m.targets).is_err(),
        "without `partial` an empty cell is an error"
    );
    let after = poststratify_partial(&w, &m.codes, &m.targets).unwrap();
    assert_weights(
        "case_partial_poststrat",
        &data,
        &after,
        "case_partial_poststrat_weights.csv",
    );
    let cal = Calibration::PostStrat {
        cells: m.codes.clone(),
        n_cells: m.targets.len(),
        before: w.clone(),
        after: after.clone(),
    };
    check_scenario(
        "case_partial_poststrat",
        &data,
        &Survey {
            design: &design,
            weights: &after,
            calibration: &cal,
        },
    );
}

/// Every `svyciprop` method on api_strat (the likelihood interval is recorded only, as
/// methods.md §9 advises), and every qrule (`shahvaish` too, quirk and all) and interval type
/// of `svyquantile` — the Woodruff types exactly, `score` to R's own approximation.
#[test]
fn stratified_ciprop_methods_and_quantile_rules_match_r() {
    use supplyrisk::kernels::intervals::{proportion_ci, PropCi, QRule, WoodruffCi};
    let (data, design, w) = strat();
    let cal = Calibration::None;
    let s = Survey {
        design: &design,
        weights: &w,
        calibration: &cal,
    };
    let e = expected("api_strat");
    let p = s.mean(&data.indicator("sch.wide", "Yes"), None);
    for (name, method, rtol) in [
        ("logit", PropCi::Logit, R_RTOL_P),
        ("xlogit", PropCi::Logit, R_RTOL),
        ("mean", PropCi::Mean, R_RTOL),
        ("asin", PropCi::Asin, R_RTOL),
        ("beta", PropCi::Beta, R_RTOL),
    ] {
        let want = get(
            &e,
            &format!("ciprop;method={name}"),
            "sch.wide=Yes",
            "all",
            "",
        );
        let (lo, hi) = proportion_ci(method, p.value, p.se, p.df, w.len(), 0.95);
        assert_close(&format!("ciprop {name} low"), lo, want.ci_low, rtol);
        assert_close(&format!("ciprop {name} high"), hi, want.ci_high, rtol);
    }
    let y = data.num("api00");
    let mut checked = 0;
    for (key, want) in &e {
        let Some(rest) = key.0.strip_prefix("quantile;") else {
            continue;
        };
        let parts: BTreeMap<&str, &str> = rest
            .split(';')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let Some(rule) = QRule::parse(parts["qrule"]) else {
            continue;
        };
        let interval = WoodruffCi::parse(parts["interval"]).unwrap();
        let prob: f64 = parts["p"].parse().unwrap();
        let q = s.quantile_with(&y, None, prob, rule, interval, 0.95);
        let what = format!("{} ", key.0);
        // The score interval inverts a test by `uniroot`: approximate by R's own account
        // (methods.md §12), though here every endpoint is the same data value as R's.
        let rtol = if interval == WoodruffCi::Score {
            1e-2
        } else {
            R_RTOL
        };
        assert_close(&format!("{what}estimate"), q.value, want.estimate, R_RTOL);
        assert_close(&format!("{what}ci_low"), q.ci_low, want.ci_low, rtol);
        assert_close(&format!("{what}ci_high"), q.ci_high, want.ci_high, rtol);
        assert_close(&format!("{what}se"), q.se, want.se, rtol);
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} quantile rows checked");
}

/// `svychisq(~stype + sch.wide)`: Rao–Scott F (default), Chisq, Wald and adjusted Wald on the
/// cluster and stratified designs.
#[test]
fn rao_scott_tests_match_r_svychisq() {
    use supplyrisk::kernels::chisq::svychisq;
    let mut r = csv::Reader::from_path(reference_dir().join("expected/api_chisq.csv")).unwrap();
    let want: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    for (design_name, (data, design, w)) in [("api_clus1", clus1()), ("api_strat", strat())] {
        let cal = Calibration::None;
        let s = Survey {
            design: &design,
            weights: &w,
            calibration: &cal,
        };
        let (rows, _) = group_codes(data.text("stype"));
        let (cols, _) = group_codes(data.text("sch.wide"));
        let got = svychisq(&DomainLinearizer::new(s), &rows, 3, &cols, 2, None);
        for rec in want.iter().filter(|x| &x[1] == design_name) {
            let t = match &rec[2] {
                "F" => got.f,
                "Chisq" => got.chisq,
                "Wald" => got.wald,
                "adjWald" => got.adj_wald,
                other => panic!("unknown statistic {other}"),
            };
            let num = |i: usize| rec[i].parse::<f64>().unwrap_or(f64::NAN);
            let what = format!("{design_name} {}", &rec[2]);
            assert_close(&format!("{what} statistic"), t.statistic, num(3), R_RTOL);
            assert_close(&format!("{what} ndf"), t.ndf, num(4), R_RTOL);
            if !num(5).is_nan() {
                assert_close(&format!("{what} ddf"), t.ddf, num(5), R_RTOL);
            }
            assert_close(&format!("{what} p"), t.p_value, num(6), R_RTOL_P);
        }
    }
}

/// A segment against the rest of the sector (difference of domain means, linearized over the
/// full design and calibration) against R's svyglm coefficient of the segment indicator.
#[test]
fn segment_against_rest_matches_r() {
    let mut r = csv::Reader::from_path(reference_file("case_contrast.csv")).unwrap();
    let want: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let check = |name: &str, data: &Data, s: &Survey<'_>| {
        let rec = want.iter().find(|x| &x[0] == name).unwrap();
        let e: Vec<bool> = data.text("stype").iter().map(|x| x == "E").collect();
        let rest: Vec<bool> = e.iter().map(|x| !x).collect();
        let (diff, se) = s.mean_difference(&data.num("api00"), &e, &rest);
        assert_close(
            &format!("{name} difference"),
            diff,
            rec[3].parse().unwrap(),
            R_RTOL,
        );
        assert_close(&format!("{name} se"), se, rec[4].parse().unwrap(), R_RTOL);
    };
    let (data, design, w) = strat();
    let cal = Calibration::None;
    check(
        "api_strat",
        &data,
        &Survey {
            design: &design,
            weights: &w,
            calibration: &cal,
        },
    );
    let (data, design, w) = clus1();
    let t = targets();
    let margins: Vec<Margin> = ["sch.wide", "comp.imp"]
        .iter()
        .map(|v| margin_of(&data, v, &t))
        .collect();
    let fit = rake(&w, &margins, 1e-13, 1000).unwrap();
    let cal = rake_calibration(&margins, &fit);
    check(
        "case_clus_rake2",
        &data,
        &Survey {
            design: &design,
            weights: &fit.weights,
            calibration: &cal,
        },
    );
}

/// The whole pipeline on the bundled example round against R (tests/reference/example_2024.R):
/// risk-index means overall, by subsector and by subsector × size; CSF domain maturity means
/// where organizations — and whole cells — lack the domain score; a proportion whose "Don't
/// know" answers leave the denominator; a multi-select option — estimates, SEs and CIs; and the
/// spec's model of the risk index on subsector and size (svyglm, confint), as metrics.csv
/// exports its coefficients.
#[test]
fn the_example_round_matches_r_end_to_end() {
    let t = crate::util::TestRun::new()
        .with_example("example-2024", "r")
        .args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    // metrics.csv: every estimate, and the spec's model's coefficients (its metric).
    let (head, rows) = crate::util::read_csv(&t.path("out/metrics/metrics.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let mut models = 0;
    let mut r = csv::Reader::from_path(reference_file("example_2024.csv")).unwrap();
    let mut compared = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        let Some(row) = rows.iter().find(|x| {
            x[col("metric_id")] == rec[0]
                && x[col("statistic")] != "odds_ratio"
                && x[col("level")] == rec[1]
                && x[col("segment_var")] == rec[2]
                && x[col("segment_value")] == rec[3]
        }) else {
            panic!("no estimate row for {rec:?}");
        };
        if row[col("suppressed")] == "true" {
            continue;
        }
        let is_prop = row[col("statistic")] == "proportion";
        let rtol = if is_prop { R_RTOL_P } else { R_RTOL };
        let what = format!("{} {} {}={}", &rec[0], &rec[1], &rec[2], &rec[3]);
        for (name, i) in [("estimate", 4), ("se", 5), ("ci_low", 6), ("ci_high", 7)] {
            let got: f64 = row[col(name)].parse().unwrap();
            let want: f64 = rec[i].parse().unwrap();
            assert_close(&format!("{what} {name}"), got, want, rtol);
        }
        compared += 1;
        models += usize::from(row[col("statistic")] == "coefficient");
    }
    // The rest are blank in the published table: under the minimum cell size, NCHS-suppressed
    // proportions, or suppressed to protect one of those (complementary suppression).
    assert!(compared >= 50, "only {compared} rows compared");
    assert_eq!(
        models, 8,
        "the model's intercept and 5 + 2 contrasts, all published"
    );
}

/// apiclus1's JK1 replicates as R's `as.svrepdesign(dclus1, type = "JK1")` makes them (the FPC
/// from the districts sampled of 757), times the full-sample weights `w`.
fn clus1_jk1(data: &Data, w: &[f64]) -> supplyrisk::kernels::replicates::ReplicateSet {
    let (psu, levels) = group_codes(
        &data
            .num("dnum")
            .iter()
            .map(|x| *x as i64)
            .collect::<Vec<_>>(),
    );
    let fraction = levels.len() as f64 / data.num("fpc")[0];
    let mut set = supplyrisk::kernels::replicates::jk1(&psu, fraction);
    for r in &mut set.weights {
        for (m, wi) in r.iter_mut().zip(w) {
            *m *= wi;
        }
    }
    set
}

/// The same replicates each raked to the sch.wide and comp.imp margins (R's `rake()` of a
/// svrepdesign, tight control).
fn raked_replicates(
    data: &Data,
    set: &supplyrisk::kernels::replicates::ReplicateSet,
) -> supplyrisk::kernels::replicates::ReplicateSet {
    let t = targets();
    let margins: Vec<Margin> = ["sch.wide", "comp.imp"]
        .iter()
        .map(|v| margin_of(data, v, &t))
        .collect();
    let mut raked = set.clone();
    for r in &mut raked.weights {
        *r = rake(r, &margins, 1e-13, 1000).unwrap().weights;
    }
    raked
}

/// apistrat's JKn replicates as R's `as.svrepdesign(dstrat, type = "JKn")` (one per school,
/// within its school-type stratum, with each stratum's FPC), times the weights `w`.
fn strat_jkn(data: &Data, w: &[f64]) -> supplyrisk::kernels::replicates::ReplicateSet {
    let (stype, _) = group_codes(data.text("stype"));
    let fpc = data.num("fpc");
    let fractions: Vec<f64> = (0..3u32)
        .map(|h| {
            let n_h = stype.iter().filter(|s| **s == h).count() as f64;
            n_h / fpc[stype.iter().position(|s| *s == h).unwrap()]
        })
        .collect();
    let mut set = supplyrisk::kernels::replicates::jkn(
        &stype,
        &(0..stype.len() as u32).collect::<Vec<_>>(),
        &fractions,
    );
    for r in &mut set.weights {
        for (m, wi) in r.iter_mut().zip(w) {
            *m *= wi;
        }
    }
    set
}

/// Replicate-weight variance against R's `as.svrepdesign`: JK1 on the cluster design, JKn on the
/// stratified design (both with the FPC), and JK1 replicates each raked (`rake()` of a
/// svrepdesign).
#[test]
fn replicate_variances_match_r() {
    use supplyrisk::kernels::replicates::{replicate_se, ReplicateSet};
    let check = |scenario: &str, data: &Data, w: &[f64], set: &ReplicateSet| {
        let e = expected(scenario);
        let (stype, levels) = group_codes(data.text("stype"));
        for ((stat, var, seg, val), want) in &e {
            let y = data.num(var);
            let domain: Option<Vec<bool>> = (seg == "stype")
                .then(|| stype.iter().map(|c| levels[*c as usize] == *val).collect());
            let total = stat == "total";
            let (mut sw, mut swy) = (0.0, 0.0);
            for i in 0..y.len() {
                if domain.as_ref().is_none_or(|d| d[i]) {
                    sw += w[i];
                    swy += w[i] * y[i];
                }
            }
            let est = if total { swy } else { swy / sw };
            let se = replicate_se(set, &y, domain.as_deref(), total);
            assert_close(
                &format!("{scenario} {stat} {var} {seg}={val} estimate"),
                est,
                want.estimate,
                R_RTOL,
            );
            assert_close(
                &format!("{scenario} {stat} {var} {seg}={val} se"),
                se,
                want.se,
                R_RTOL,
            );
        }
    };
    let (data, _, w) = clus1();
    let set = clus1_jk1(&data, &w);
    check("case_jk1", &data, &w, &set);

    // Each replicate raked to the margins; the estimate from the raked full-sample weights.
    let t = targets();
    let margins: Vec<Margin> = ["sch.wide", "comp.imp"]
        .iter()
        .map(|v| margin_of(&data, v, &t))
        .collect();
    let full = rake(&w, &margins, 1e-13, 1000).unwrap().weights;
    check(
        "case_jk1_rake",
        &data,
        &full,
        &raked_replicates(&data, &set),
    );

    let (data, _, w) = strat();
    check("case_jkn", &data, &w, &strat_jkn(&data, &w));
}

/// `svyratio(~api00, ~api99)` overall and by stype, on the stratified and a raked cluster design.
#[test]
fn ratio_estimates_match_r_svyratio() {
    let mut r = csv::Reader::from_path(reference_file("case_ratio.csv")).unwrap();
    let want: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let check = |name: &str, data: &Data, s: &Survey<'_>| {
        let (stype, levels) = group_codes(data.text("stype"));
        for rec in want.iter().filter(|x| &x[0] == name) {
            let domain: Option<Vec<bool>> = (&rec[1] != "all").then(|| {
                stype
                    .iter()
                    .map(|c| levels[*c as usize] == rec[1])
                    .collect()
            });
            let e = s.ratio(&data.num("api00"), &data.num("api99"), domain.as_deref());
            assert_close(
                &format!("{name} {} ratio", &rec[1]),
                e.value,
                rec[2].parse().unwrap(),
                R_RTOL,
            );
            assert_close(
                &format!("{name} {} se", &rec[1]),
                e.se,
                rec[3].parse().unwrap(),
                R_RTOL,
            );
        }
    };
    let (data, design, w) = strat();
    let cal = Calibration::None;
    check(
        "api_strat",
        &data,
        &Survey {
            design: &design,
            weights: &w,
            calibration: &cal,
        },
    );
    let (data, design, w) = clus1();
    let t = targets();
    let margins: Vec<Margin> = ["sch.wide", "comp.imp"]
        .iter()
        .map(|v| margin_of(&data, v, &t))
        .collect();
    let fit = rake(&w, &margins, 1e-13, 1000).unwrap();
    let cal = rake_calibration(&margins, &fit);
    check(
        "case_clus_rake2",
        &data,
        &Survey {
            design: &design,
            weights: &fit.weights,
            calibration: &cal,
        },
    );
}

/// svychisq on a domain (`subset(design, !is.na(band))`, tests/reference/cases.R §7): api00 in
/// three bands, missing for large schools, by stype on the stratified design.
#[test]
fn rao_scott_tests_on_a_domain_match_r() {
    use supplyrisk::kernels::chisq::svychisq;
    let (data, design, w) = strat();
    let cal = Calibration::None;
    let s = Survey {
        design: &design,
        weights: &w,
        calibration: &cal,
    };
    let domain: Vec<bool> = data.num("enroll").iter().map(|e| *e <= 1500.0).collect();
    let band: Vec<u32> = data
        .num("api00")
        .iter()
        .map(|a| {
            if *a <= 600.0 {
                0
            } else if *a <= 750.0 {
                1
            } else {
                2
            }
        })
        .collect();
    let (stype, _) = group_codes(data.text("stype"));
    let got = svychisq(
        &DomainLinearizer::new(s),
        &band,
        3,
        &stype,
        3,
        Some(&domain),
    );
    let mut r = csv::Reader::from_path(reference_file("case_chisq_domain.csv")).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        let t = match &rec[0] {
            "F" => got.f,
            "Chisq" => got.chisq,
            "Wald" => got.wald,
            _ => got.adj_wald,
        };
        let num = |i: usize| rec[i].parse::<f64>().unwrap_or(f64::NAN);
        assert_close(
            &format!("domain {} statistic", &rec[0]),
            t.statistic,
            num(1),
            R_RTOL,
        );
        assert_close(&format!("domain {} ndf", &rec[0]), t.ndf, num(2), R_RTOL);
        if !num(3).is_nan() {
            assert_close(&format!("domain {} ddf", &rec[0]), t.ddf, num(3), R_RTOL);
        }
        assert_close(
            &format!("domain {} p", &rec[0]),
            t.p_value,
            num(4),
            R_RTOL_P,
        );
    }
}

/// Concentration (issue 10): HHI of weighted totals, the effective number of suppliers and a
/// share, with delta-method SEs, against R's `svycontrast(svytotal(...))` on the stratified
/// design (tests/reference/concentration.R).
#[test]
fn concentration_matches_r_svycontrast() {
    use supplyrisk::kernels::concentration::hhi;
    let (data, design, w) = strat();
    let cal = Calibration::None;
    let s = Survey {
        design: &design,
        weights: &w,
        calibration: &cal,
    };
    let ind = |col: &str, cut: f64| -> Vec<f64> {
        data.num(col)
            .iter()
            .map(|&v| f64::from(u8::from(v > cut)))
            .collect()
    };
    let cols = vec![
        ind("api00", 700.0),
        ind("api99", 650.0),
        ind("enroll", 500.0),
    ];
    let c = hhi(&s, &cols);
    let mut r = csv::Reader::from_path(reference_file("concentration.csv")).unwrap();
    let mut seen = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        let (est, se): (f64, f64) = (rec[1].parse().unwrap(), rec[2].parse().unwrap());
        let (got, got_se) = match &rec[0] {
            "hhi" => (c.hhi, c.hhi_se),
            "effective_number" => (c.effective_number, c.effective_number_se),
            _ => continue,
        };
        assert_close(&format!("{} estimate", &rec[0]), got, est, R_RTOL);
        assert_close(&format!("{} se", &rec[0]), got_se, se, R_RTOL);
        seen += 1;
    }
    assert_eq!(seen, 2);
}

/// R's `rake()` stopping rule (tests/reference/rake_stop.R): with R's defaults (maxit 10,
/// epsilon 1 on the joint table), a relative epsilon, and a pass limit that stops early, the
/// weights and the mean of api00 with its SE (overall and by stype) are R's.
#[test]
fn raking_with_r_stop_rule_reproduces_r_rake_defaults() {
    use supplyrisk::kernels::calibration::{rake_until, RakeStop};
    let t = targets();
    let mut want: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    let mut r = csv::Reader::from_path(reference_file("rake_stop.csv")).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        want.insert(
            (rec[0].to_string(), rec[1].to_string()),
            (rec[2].parse().unwrap(), rec[3].parse().unwrap()),
        );
    }
    let cases: [(&str, bool, &[&str], f64, usize); 4] = [
        (
            "strat_default",
            true,
            &["stype", "sch.wide", "comp.imp"],
            1.0,
            10,
        ),
        ("clus_default", false, &["sch.wide", "comp.imp"], 1.0, 10),
        ("clus_relative", false, &["sch.wide", "comp.imp"], 1e-3, 10),
        (
            "strat_maxit1",
            true,
            &["stype", "sch.wide", "comp.imp"],
            1e-9,
            1,
        ),
    ];
    for (scenario, stratified, vars, epsilon, maxit) in cases {
        let (data, design, w) = if stratified { strat() } else { clus1() };
        let margins: Vec<Margin> = vars.iter().map(|v| margin_of(&data, v, &t)).collect();
        let fit = rake_until(&w, &margins, RakeStop::RTable { epsilon }, maxit).unwrap();
        assert_eq!(fit.converged, scenario != "strat_maxit1", "{scenario}");
        assert_weights(
            scenario,
            &data,
            &fit.weights,
            &format!("rake_stop_{scenario}_weights.csv"),
        );
        let cal = rake_calibration(&margins, &fit);
        let s = Survey {
            design: &design,
            weights: &fit.weights,
            calibration: &cal,
        };
        let y = data.num("api00");
        let (stype, levels) = group_codes(data.text("stype"));
        let mut domains: Vec<(String, Option<Vec<bool>>)> = vec![("all".into(), None)];
        for (k, l) in levels.iter().enumerate() {
            domains.push((
                l.clone(),
                Some(stype.iter().map(|c| *c as usize == k).collect()),
            ));
        }
        for (segment, d) in domains {
            let got = s.mean(&y, d.as_deref());
            let (est, se) = want[&(scenario.to_string(), segment.clone())];
            assert_close(
                &format!("{scenario} {segment} mean"),
                got.value,
                est,
                R_RTOL,
            );
            assert_close(&format!("{scenario} {segment} SE"), got.se, se, R_RTOL);
        }
    }
}

/// Every statistic of R's `svychisq` — F, Chisq, Wald, adjWald, lincom (Davies) and saddlepoint —
/// on a cluster, a stratified, a raked cluster and a domain design (tests/reference/svychisq.R).
#[test]
fn every_svychisq_statistic_matches_r_on_four_designs() {
    use supplyrisk::kernels::chisq::svychisq;
    let t = targets();
    let mut r = csv::Reader::from_path(reference_file("svychisq.csv")).unwrap();
    let want: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let mut checked = 0;
    for case in ["api_clus1", "api_strat", "clus_rake2", "strat_domain"] {
        let (data, design, w) = if case.starts_with("api_strat") || case == "strat_domain" {
            strat()
        } else {
            clus1()
        };
        let (weights, cal) = if case == "clus_rake2" {
            raked_tight(&data, &w, &t)
        } else {
            (w, Calibration::None)
        };
        let s = Survey {
            design: &design,
            weights: &weights,
            calibration: &cal,
        };
        let (stype, _) = group_codes(data.text("stype"));
        let got = match case {
            "api_clus1" => {
                let (c, _) = group_codes(data.text("sch.wide"));
                svychisq(&DomainLinearizer::new(s), &stype, 3, &c, 2, None)
            }
            "strat_domain" => {
                let domain: Vec<bool> = data.num("enroll").iter().map(|e| *e <= 1500.0).collect();
                let band: Vec<u32> = data
                    .num("api00")
                    .iter()
                    .map(|a| u32::from(*a > 600.0) + u32::from(*a > 750.0))
                    .collect();
                svychisq(
                    &DomainLinearizer::new(s),
                    &band,
                    3,
                    &stype,
                    3,
                    Some(&domain),
                )
            }
            _ => {
                let (c, _) = group_codes(data.text("comp.imp"));
                svychisq(&DomainLinearizer::new(s), &stype, 3, &c, 2, None)
            }
        };
        for rec in want.iter().filter(|x| &x[0] == case) {
            let res = match &rec[3] {
                "F" => got.f,
                "Chisq" => got.chisq,
                "Wald" => got.wald,
                "adjWald" => got.adj_wald,
                "lincom" => got.lincom,
                "saddlepoint" => got.saddlepoint,
                other => panic!("unknown statistic {other}"),
            };
            let num = |i: usize| rec[i].parse::<f64>().unwrap_or(f64::NAN);
            let what = format!("{case} {}", &rec[3]);
            assert_close(&format!("{what} statistic"), res.statistic, num(4), R_RTOL);
            if !num(5).is_nan() {
                assert_close(&format!("{what} ndf"), res.ndf, num(5), R_RTOL);
            }
            if !num(6).is_nan() {
                assert_close(&format!("{what} ddf"), res.ddf, num(6), R_RTOL);
            }
            assert_close(&format!("{what} p"), res.p_value, num(7), R_RTOL_P);
            checked += 1;
        }
        // The ingredients: F = X² / tr(Δ), and Δ's eigenvalues sum to its trace.
        assert_close(
            &format!("{case} X²/tr"),
            got.pearson / got.trace,
            got.f.statistic,
            1e-12,
        );
        let sum: f64 = got.eigenvalues.iter().sum();
        assert_close(&format!("{case} Σ eigenvalues"), sum, got.trace, 1e-9);
    }
    assert_eq!(checked, 24);
}

/// Design-based regression against R's `svyglm` (tests/reference/svyglm.R): linear and logistic
/// models on the stratified, cluster and raked cluster designs and with a predictor missing
/// for some schools — coefficients, SEs, Wald intervals on the residual df, and the Wald F of
/// the school type (R's `regTermTest`).
#[test]
fn design_based_regression_matches_r_svyglm() {
    use supplyrisk::kernels::dist::qt;
    use supplyrisk::kernels::glm::{svyglm, Family};
    let t = targets();
    let read = |file: &str| -> Vec<csv::StringRecord> {
        csv::Reader::from_path(reference_file(file))
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect()
    };
    let (coefs, terms) = (read("svyglm.csv"), read("svyglm_terms.csv"));
    let models = [
        "linear_strat",
        "linear_clus1",
        "linear_raked",
        "linear_strat_missing",
        "logistic_strat",
        "logistic_clus1",
        "logistic_raked",
        "linear_clus1_jk1",
        "logistic_clus1_jk1",
        "linear_strat_jkn",
        "logistic_clus1_jk1_raked",
    ];
    for model in models {
        let (data, design, w) = if model.contains("strat") || model.ends_with("missing") {
            strat()
        } else {
            clus1()
        };
        let (weights, cal) = if model.ends_with("raked") {
            raked_tight(&data, &w, &t)
        } else {
            (w.clone(), Calibration::None)
        };
        // Replicate designs as R's as.svrepdesign makes them (cf. replicate_variances_match_r).
        let replicates = if model.contains("_jk1") {
            let set = clus1_jk1(&data, &w);
            Some(if model.ends_with("raked") {
                raked_replicates(&data, &set)
            } else {
                set
            })
        } else if model.ends_with("jkn") {
            Some(strat_jkn(&data, &w))
        } else {
            None
        };
        let s = Survey {
            design: &design,
            weights: &weights,
            calibration: &cal,
        };
        let n = weights.len();
        let (stype, levels) = group_codes(data.text("stype"));
        assert_eq!(levels, ["E", "H", "M"]);
        let dummy =
            |k: u32| -> Vec<f64> { stype.iter().map(|c| f64::from(u8::from(*c == k))).collect() };
        let (x, y, family): (Vec<Vec<f64>>, Vec<f64>, Family) = if model.starts_with("linear") {
            (
                vec![
                    vec![1.0; n],
                    data.num("api99"),
                    data.num("enroll"),
                    dummy(1),
                    dummy(2),
                ],
                data.num("api00"),
                Family::Gaussian,
            )
        } else if model.starts_with("logistic") && model.ends_with("raked") {
            (
                vec![vec![1.0; n], data.num("api00"), dummy(1), dummy(2)],
                data.indicator("comp.imp", "Yes"),
                Family::Quasibinomial,
            )
        } else {
            (
                vec![vec![1.0; n], data.num("api99"), dummy(1), dummy(2)],
                data.indicator("sch.wide", "Yes"),
                Family::Quasibinomial,
            )
        };
        let used: Vec<bool> = if model.ends_with("missing") {
            data.num("enroll").iter().map(|e| *e <= 1500.0).collect()
        } else {
            vec![true; n]
        };
        let fit = match &replicates {
            None => svyglm(&s, &x, &y, &used, family).unwrap(),
            Some(set) => supplyrisk::kernels::replicates::svyglm_replicate(
                set,
                &weights,
                &x,
                &y,
                &used,
                family,
                f64::NAN,
            )
            .unwrap(),
        };
        let se = fit.se();
        let want: Vec<&csv::StringRecord> = coefs.iter().filter(|r| &r[0] == model).collect();
        assert_eq!(want.len(), fit.coef.len(), "{model}");
        let num = |r: &csv::StringRecord, i: usize| r[i].parse::<f64>().unwrap();
        for (j, r) in want.iter().enumerate() {
            let what = format!("{model} {}", &r[1]);
            assert_close(&format!("{what} estimate"), fit.coef[j], num(r, 2), R_RTOL);
            assert_close(&format!("{what} SE"), se[j], num(r, 3), R_RTOL);
            assert_close(&format!("{what} df"), fit.df_residual, num(r, 6), R_RTOL);
            let q = qt(0.975, fit.df_residual).unwrap();
            assert_close(
                &format!("{what} ci_low"),
                fit.coef[j] - q * se[j],
                num(r, 4),
                R_RTOL,
            );
            assert_close(
                &format!("{what} ci_high"),
                fit.coef[j] + q * se[j],
                num(r, 5),
                R_RTOL,
            );
        }
        let term = terms.iter().find(|r| &r[0] == model).unwrap();
        let k = fit.coef.len();
        let (f, ndf, ddf, p) = fit.wald_test(&[k - 2, k - 1]);
        assert_close(&format!("{model} stype F"), f, num(term, 2), R_RTOL);
        assert_eq!((ndf, ddf), (num(term, 3), num(term, 4)));
        assert_close(&format!("{model} stype p"), p, num(term, 5), R_RTOL_P);
    }
}

/// Change between overlapping rounds (tests/reference/panel.R): a deterministic two-round panel
/// with 126 of 180 organizations in both; each change and its SE from R's combined design
/// (organization as PSU), overall and within a subsector, for a mean with skipped answers and
/// a share; the independent-samples SE of the same design beside it. Twice: plain weights, and
/// stratified by subsector with each round post-stratified on size (R: strata kept,
/// `postStratify` on round × size), which here the kernel gets from each round's own
/// calibration.
#[test]
fn panel_change_matches_r_combined_design() {
    use supplyrisk::kernels::calibration::Calibration;
    use supplyrisk::kernels::panel::{stack, Round};
    let path = reference_file("panel/rounds.csv");
    let mut r = csv::Reader::from_path(&path).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let side = |round: &str| -> Vec<&csv::StringRecord> {
        rows.iter().filter(|x| &x[0] == round).collect()
    };
    let (a, b) = (side("A"), side("B"));
    let text = |s: &[&csv::StringRecord], c: usize| -> Vec<String> {
        s.iter().map(|x| x[c].to_string()).collect()
    };
    let num = |s: &[&csv::StringRecord], c: usize| -> Vec<f64> {
        s.iter().map(|x| x[c].parse().unwrap()).collect()
    };
    let (keys_a, keys_b) = (text(&a, 1), text(&b, 1));
    let (w_a, w_b) = (num(&a, 3), num(&b, 3));
    let (ps_a, ps_b) = (num(&a, 7), num(&b, 7));
    let (strata_a, strata_b) = (text(&a, 2), text(&b, 2));
    let post_strat =
        |s: &[&csv::StringRecord], before: &[f64], after: &[f64]| Calibration::PostStrat {
            cells: s.iter().map(|x| u32::from(&x[6] == "large")).collect(),
            n_cells: 2,
            before: before.to_vec(),
            after: after.to_vec(),
        };
    let plain = stack(Round::plain(&keys_a, &w_a), Round::plain(&keys_b, &w_b)).unwrap();
    let calibrated = stack(
        Round {
            strata: Some(&strata_a),
            calibration: post_strat(&a, &w_a, &ps_a),
            ..Round::plain(&keys_a, &ps_a)
        },
        Round {
            strata: Some(&strata_b),
            calibration: post_strat(&b, &w_b, &ps_b),
            ..Round::plain(&keys_b, &ps_b)
        },
    )
    .unwrap();
    assert_eq!((plain.overlap, plain.psus), (126, 234));
    assert!(calibrated.stratified && !plain.stratified);
    let stacked: Vec<&csv::StringRecord> = a.iter().chain(&b).copied().collect();
    let column = |c: usize| -> Vec<f64> {
        stacked
            .iter()
            .map(|x| x[c].parse().unwrap_or(f64::NAN))
            .collect()
    };
    let want: Vec<csv::StringRecord> = csv::Reader::from_path(reference_file("panel/changes.csv"))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(want.len(), 8);
    for w in &want {
        let st = if &w[0] == "plain" {
            &plain
        } else {
            &calibrated
        };
        let y = column(if &w[1] == "y" { 4 } else { 5 });
        let domain: Option<Vec<bool>> = w[2]
            .strip_prefix("subsector=")
            .map(|s| stacked.iter().map(|x| &x[2] == s).collect());
        let c = st.mean_change(&y, domain.as_deref());
        let num = |i: usize| w[i].parse::<f64>().unwrap();
        let what = format!("{} {} {}", &w[0], &w[1], &w[2]);
        assert_close(&format!("{what} change"), c.difference, num(3), R_RTOL);
        assert_close(&format!("{what} panel SE"), c.se, num(4), R_RTOL);
        assert_close(
            &format!("{what} independent SE"),
            c.se_independent,
            num(5),
            R_RTOL,
        );
        assert_close(&format!("{what} df"), c.df, num(6), R_RTOL);
        assert!(
            c.se < c.se_independent,
            "{what}: correlated answers lower the SE"
        );
    }
}

/// A proportion's interval and df by R's conventions on real designs (tests/reference/
/// conventions.R: `svyby(~y, ~domain, design, svyciprop, method = …, na.rm = TRUE)`): the df of
/// a domain counts the PSUs of its rows whether or not they answered (NHANES: 15 in race 3 and 4
/// where the answered rows span 14); on a replicate design it is the rank of the domain's
/// replicate weights − 1 (JK1 raked: 10 in stype H); `logit` on a replicate design refits the
/// logistic intercept in every replicate; `xlogit` is the delta-method interval; Korn–Graubard
/// takes n from the domain's rows unless the design is calibrated. Designs: NHANES plain and
/// post-stratified, `hospital` (strata and FPC), apiclus1 under JK1 (plain and raked), apistrat
/// under JKn by a domain crossing the strata.
#[test]
fn proportion_intervals_follow_r_conventions_on_real_designs() {
    use supplyrisk::kernels::estimators::critical;
    use supplyrisk::kernels::intervals::{proportion_ci, PropCi};
    use supplyrisk::kernels::replicates::{
        replicate_degf, replicate_logit, replicate_se, ReplicateSet,
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/conventions");
    let load = |name: &str| {
        let mut r = csv::Reader::from_path(dir.join(name)).unwrap();
        let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        let mut cols: BTreeMap<String, Vec<String>> =
            headers.iter().map(|h| (h.clone(), Vec::new())).collect();
        for rec in r.records() {
            for (h, v) in headers.iter().zip(rec.unwrap().iter()) {
                cols.get_mut(h).unwrap().push(v.to_string());
            }
        }
        Data { cols }
    };
    let mut want: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    let mut r = csv::Reader::from_path(dir.join("proportions.csv")).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        let key = (rec[0].to_string(), rec[1].to_string(), rec[2].to_string());
        want.insert(key, rec.iter().map(str::to_string).collect());
    }
    enum Variance<'a> {
        Linear(Survey<'a>),
        Replicate(&'a ReplicateSet, &'a [f64]),
    }
    let expit = |x: f64| 1.0 / (1.0 + (-x).exp());
    let mut checked = 0;
    let mut check = |case: &str,
                     variance: Variance<'_>,
                     y: &[f64],
                     domains: &[(String, Option<Vec<bool>>)],
                     calibrated: bool| {
        for (label, mask) in domains {
            let rows: Vec<usize> = (0..y.len())
                .filter(|&i| mask.as_ref().is_none_or(|m| m[i]))
                .collect();
            let nrow = if calibrated { y.len() } else { rows.len() };
            let (p, se, df, refit) = match &variance {
                Variance::Linear(s) => {
                    let e = s.mean(y, mask.as_deref());
                    (e.value, e.se, e.df, None)
                }
                Variance::Replicate(set, w) => {
                    let (mut sw, mut swy) = (0.0, 0.0);
                    for &i in &rows {
                        if !y[i].is_nan() {
                            sw += w[i];
                            swy += w[i] * y[i];
                        }
                    }
                    (
                        swy / sw,
                        replicate_se(set, y, mask.as_deref(), false),
                        replicate_degf(set, &rows).unwrap(),
                        replicate_logit(set, w, y, mask.as_deref()),
                    )
                }
            };
            for method in ["logit", "xlogit", "beta", "mean"] {
                let r = &want[&(case.to_string(), label.clone(), method.to_string())];
                let num = |i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
                let what = format!("{case} {label} {method}");
                assert_eq!(df, num(7), "{what}: df");
                assert_eq!(nrow as f64, num(8), "{what}: nrow");
                if num(4) < 1e-9 {
                    // Every answer alike (a raked-on share, a stratum of noes): the SE and the
                    // interval are rounding noise or NA in R.
                    assert!(se < 1e-9, "{what}: se {se}");
                    continue;
                }
                assert_close(&format!("{what} se"), se, num(4), R_RTOL);
                let t = critical(0.95, df);
                let (lo, hi) = match (method, refit) {
                    ("logit", Some((b, s))) => (expit(b - t * s), expit(b + t * s)),
                    ("logit" | "xlogit", _) => proportion_ci(PropCi::Logit, p, se, df, nrow, 0.95),
                    ("beta", _) => proportion_ci(PropCi::Beta, p, se, df, nrow, 0.95),
                    _ => proportion_ci(PropCi::Mean, p, se, df, nrow, 0.95),
                };
                // R's linearized `logit` is centred on its IRLS iterate, which differs from the
                // exact share by the fit's convergence error (≈1e-9 here); the rest to 1e-9.
                let rtol = if method == "logit" && refit.is_none() {
                    1e-8
                } else {
                    R_RTOL
                };
                assert_close(&format!("{what} estimate"), p, num(3), rtol);
                assert_close(&format!("{what} ci_low"), lo, num(5), rtol);
                assert_close(&format!("{what} ci_high"), hi, num(6), rtol);
                checked += 1;
            }
        }
    };
    let by = |codes: &[String]| -> Vec<(String, Option<Vec<bool>>)> {
        let mut levels: Vec<&String> = codes.iter().collect();
        levels.sort();
        levels.dedup();
        let mut out = vec![("all".to_string(), None)];
        out.extend(
            levels
                .into_iter()
                .map(|l| (l.clone(), Some(codes.iter().map(|c| c == l).collect()))),
        );
        out
    };
    let named = |var: &str, d: Vec<(String, Option<Vec<bool>>)>| {
        d.into_iter()
            .map(|(l, m)| {
                if m.is_some() {
                    (format!("{var}={l}"), m)
                } else {
                    (l, m)
                }
            })
            .collect::<Vec<_>>()
    };

    // NHANES: PSUs numbered within strata; HI_CHOL missing for 284 people.
    let nh = load("nhanes.csv");
    let (strata, _) = group_codes(nh.text("SDMVSTRA"));
    let (psu, _) = group_codes(
        &nh.text("SDMVSTRA")
            .iter()
            .zip(nh.text("SDMVPSU"))
            .map(|(h, c)| format!("{h}/{c}"))
            .collect::<Vec<_>>(),
    );
    let design = Design::new(strata, psu, None).unwrap();
    let y = nh.num("HI_CHOL");
    let race = named("race", by(nh.text("race")));
    let none = Calibration::None;
    let w = nh.num("WTMEC2YR");
    let s = Survey {
        design: &design,
        weights: &w,
        calibration: &none,
    };
    check("nhanes", Variance::Linear(s), &y, &race, false);
    let (cells, _) = group_codes(nh.text("race"));
    let ps = nh.num("ps_weight");
    let cal = Calibration::PostStrat {
        cells,
        n_cells: 4,
        before: w.clone(),
        after: ps.clone(),
    };
    let s = Survey {
        design: &design,
        weights: &ps,
        calibration: &cal,
    };
    check(
        "nhanes_poststratified",
        Variance::Linear(s),
        &y,
        &race,
        true,
    );

    // hospital: 15 hospitals, strata with their population counts.
    let h = load("hospital.csv");
    let (strata, _) = group_codes(h.text("oblevel"));
    let tot = h.num("tothosp");
    let mut pop = vec![0.0; 3];
    for (k, t) in strata.iter().zip(&tot) {
        pop[*k as usize] = *t;
    }
    let n = strata.len() as u32;
    let design = Design::new(strata, (0..n).collect(), Some(&pop)).unwrap();
    let w = h.num("weighta");
    let big: Vec<f64> = h
        .num("births")
        .iter()
        .map(|b| f64::from(u8::from(*b > 1000.0)))
        .collect();
    let s = Survey {
        design: &design,
        weights: &w,
        calibration: &none,
    };
    let oblevel = named("oblevel", by(h.text("oblevel")));
    check("hospital", Variance::Linear(s), &big, &oblevel, false);

    // apiclus1 under JK1 with the FPC, plain and with every replicate raked.
    let (data, _, w) = clus1();
    let set = clus1_jk1(&data, &w);
    let y = data.indicator("sch.wide", "Yes");
    let stype = named("stype", by(data.text("stype")));
    check(
        "apiclus1_jk1",
        Variance::Replicate(&set, &w),
        &y,
        &stype,
        false,
    );
    let (full, _) = raked_tight(&data, &w, &targets());
    let raked = raked_replicates(&data, &set);
    check(
        "apiclus1_jk1_raked",
        Variance::Replicate(&raked, &full),
        &y,
        &stype,
        false,
    );

    // apistrat under JKn with the FPC, by comp.imp (which crosses the school-type strata).
    let (data, _, w) = strat();
    let set = strat_jkn(&data, &w);
    let y = data.indicator("sch.wide", "Yes");
    let comp_imp = named("comp.imp", by(data.text("comp.imp")));
    check(
        "apistrat_jkn",
        Variance::Replicate(&set, &w),
        &y,
        &comp_imp,
        false,
    );
    assert!(checked >= 80, "{checked} intervals checked");
}

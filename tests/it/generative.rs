//! The whole pipeline on many generated rounds: `supplyrisk synth` at sizes from 20 to 5,000
//! organizations, each run under one of several designs and weighting methods (simple,
//! stratified, clustered with and without strata, post-stratification, raking, linear
//! calibration, trimming, bootstrap and jackknife variance, one, two or three sources), with the round's answers thinned at random so tiers, options and whole
//! questions go unanswered and segments shrink to a handful of organizations. For every round:
//! exit 0, 1 or 2 only (never a panic, an abort or a bug), every row read kept or quarantined
//! exactly once, and nothing published below `publication.min_cell_size`.
//!
//! `SUPPLYRISK_GEN_CASES=N` runs N rounds (default 50, the suite's share); docs/reliability.md
//! records the by-hand figure.

use crate::util::{read_csv, Rng};

/// Spec variants: (name, text replaced, replacement) applied to the synthetic survey.toml.
const VARIANTS: [(&str, &str, &str); 13] = [
    ("poststratify", "", ""),
    ("rake", "method = \"poststratify\"", "method = \"rake\""),
    (
        "calibrate-linear",
        "method = \"poststratify\"",
        "method = \"calibrate\"\ncalfun = \"linear\"",
    ),
    ("srs", "[design]\nstrata = \"subsector\"", "[design]"),
    (
        "trim",
        "empty_cell = \"rake\"",
        "empty_cell = \"rake\"\n\n[weighting.trim]\nupper = 3.0\nrerake = true",
    ),
    (
        "bootstrap",
        "[design]\nstrata = \"subsector\"",
        "[design]\nvariance = \"bootstrap\"\nreplicates = 20\nseed = 3\nstrata = \"subsector\"",
    ),
    (
        "jkn",
        "[design]\nstrata = \"subsector\"",
        "[design]\nvariance = \"jkn\"\nstrata = \"subsector\"",
    ),
    ("unweighted", "method = \"poststratify\"", "method = \"none\""),
    // Regions as PSUs numbered within subsector strata (nest), and without strata.
    (
        "clustered-nested",
        "[design]\nstrata = \"subsector\"",
        "[design]\nstrata = \"subsector\"\ncluster = \"region\"\nnest = true",
    ),
    (
        "clustered",
        "[design]\nstrata = \"subsector\"",
        "[design]\ncluster = \"region\"",
    ),
    // The Forms workbook dropped: one source.
    (
        "one-source",
        "[[sources]]\npath = \"responses_forms.xlsx\"\nlayout = \"msforms\"\nsheet = \"Sheet1\"\n",
        "",
    ),
    // The Qualtrics export split in two files beside the workbook (see `split_source`).
    (
        "three-sources",
        "[[sources]]\npath = \"responses_forms.xlsx\"",
        "[[sources]]\npath = \"responses_qualtrics_b.csv\"\nlayout = \"qualtrics\"\n\n[[sources]]\npath = \"responses_forms.xlsx\"",
    ),
    ("min-cell-3", "min_cell_size = 5", "min_cell_size = 3"),
];

/// Move the second half of the Qualtrics records into `responses_qualtrics_b.csv` (with the
/// three header rows): the round then has three sources.
fn split_source(dir: &std::path::Path) {
    let path = dir.join("responses_qualtrics.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let half = 3 + (rows.len() - 3) / 2;
    let mut a = csv::Writer::from_path(&path).unwrap();
    let mut b = csv::Writer::from_path(dir.join("responses_qualtrics_b.csv")).unwrap();
    for (i, r) in rows.iter().enumerate() {
        if i < 3 {
            a.write_record(r).unwrap();
            b.write_record(r).unwrap();
        } else if i < half {
            a.write_record(r).unwrap();
        } else {
            b.write_record(r).unwrap();
        }
    }
    a.flush().unwrap();
    b.flush().unwrap();
}

/// Blank a share of the Qualtrics answers (not the key and metadata columns), and, for some
/// rounds, whole question columns: tiers and options nobody chose, questions nobody answered.
fn thin_answers(path: &std::path::Path, rng: &mut Rng) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let header = &rows[0];
    let answer_cols: Vec<usize> = (0..header.len())
        .filter(|&i| {
            let h = &header[i];
            h.starts_with(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'])
                && h.len() <= 4
                && h[1..].chars().all(|c| c.is_ascii_digit())
        })
        .collect();
    let blank_share = rng.below(60) as f64 / 100.0;
    let dead: Vec<usize> = answer_cols
        .iter()
        .copied()
        .filter(|_| rng.below(10) == 0)
        .collect();
    let mut w = csv::Writer::from_path(path).unwrap();
    for (r, rec) in rows.iter().enumerate() {
        if r < 3 {
            w.write_record(rec).unwrap();
            continue;
        }
        let out: Vec<String> = rec
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let thin = answer_cols.contains(&i)
                    && (dead.contains(&i) || (rng.below(1000) as f64) < blank_share * 1000.0);
                if thin {
                    String::new()
                } else {
                    v.to_string()
                }
            })
            .collect();
        w.write_record(&out).unwrap();
    }
    w.flush().unwrap();
}

fn number(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("manifest {path:?} is not a count"))
}

/// One generated round run end to end; returns its exit code.
fn run_case(case: u64) -> i32 {
    let mut rng = Rng(case.wrapping_mul(7919) + 1);
    // Mostly the few hundred organizations real rounds have; now and then 2,000 or 5,000.
    let rows = match rng.below(40) {
        0 => 5000,
        1 | 2 => 2000,
        k => [20, 30, 45, 60, 90, 150, 300, 800][k % 8],
    };
    let seed = 1 + rng.below(1000);
    let (variant, from, to) = VARIANTS[rng.below(VARIANTS.len())];
    let run = crate::util::synth_round(seed as u64, rows)
        .again()
        .args(["run", "-q", "r", "--out", "out"]);
    let spec_path = run.path("r/survey.toml");
    if !from.is_empty() {
        let s = std::fs::read_to_string(&spec_path).unwrap();
        assert!(s.contains(from), "case {case}: synth spec lacks `{from}`");
        std::fs::write(&spec_path, s.replacen(from, to, 1)).unwrap();
    }
    if variant == "three-sources" {
        split_source(&run.path("r"));
    }
    let label = format!("case {case}: {rows} rows, seed {seed}, {variant}");
    if rng.below(2) == 0 {
        thin_answers(&run.path("r/responses_qualtrics.csv"), &mut rng);
    }
    let out = run.run(); // asserts exit 0..=2
    if out.code == 2 {
        eprintln!(
            "{label}: exit 2: {}",
            out.stderr.lines().next().unwrap_or("")
        );
        // A clear error and nothing written.
        assert!(out.stderr.starts_with("error"), "{label}: {}", out.stderr);
        assert!(!run.path("out").exists(), "{label}: output after an error");
        return 2;
    }
    // Disclosure control protects every round: secondary suppression leaves nothing the
    // attacker's audit can narrow (a failure would be the gate "disclosure audit: …").
    assert!(
        !out.stderr.contains("disclosure audit:"),
        "{label}: {}",
        out.stderr
    );
    let (ah, audit) = read_csv(&run.path("out/tables/disclosure_audit.csv"));
    let protected = ah.iter().position(|h| h == "protected").unwrap();
    assert!(
        audit.iter().all(|r| r[protected] == "true"),
        "{label}: audit"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.path("out/manifest.json")).unwrap())
            .unwrap();
    let read = number(&manifest, &["counts", "rows_read"]);
    let kept = number(&manifest, &["counts", "kept"]);
    let quarantined = number(&manifest, &["counts", "quarantined"]);
    assert_eq!(read, kept + quarantined, "{label}: rows lost");
    let (_, q_rows) = read_csv(&run.path("out/data/quarantine.csv"));
    assert_eq!(q_rows.len() as u64, quarantined, "{label}: quarantine file");
    let (_, clean_rows) = read_csv(&run.path("out/data/clean.csv"));
    assert_eq!(clean_rows.len() as u64, kept, "{label}: clean file");
    // Nothing published under the cell size.
    let min_cell: usize = if variant == "min-cell-3" { 3 } else { 5 };
    let (h, est) = read_csv(&run.path("out/tables/estimates.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (n, estimate, sup) = (col("n"), col("estimate"), col("suppressed"));
    for r in &est {
        if r[sup] == "false" && !r[estimate].is_empty() {
            let used: usize = r[n].parse().unwrap();
            assert!(
                used >= min_cell,
                "{label}: published estimate on {used} < {min_cell}: {r:?}"
            );
        }
    }
    let (h, cmp) = read_csv(&run.path("out/tables/comparisons.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (ns, nr, sup, stat, p) = (
        col("n_segment"),
        col("n_rest"),
        col("suppressed"),
        col("statistic"),
        col("p_value"),
    );
    for r in cmp
        .iter()
        .filter(|r| r[sup] == "false" && r[col("test")] == "difference")
    {
        let (a, b): (usize, usize) = (r[ns].parse().unwrap(), r[nr].parse().unwrap());
        assert!(a >= min_cell && b >= min_cell, "{label}: {r:?}");
        if !r[p].is_empty() {
            let pv: f64 = r[p].parse().unwrap();
            assert!(
                (0.0..=1.0).contains(&pv) && !r[stat].is_empty(),
                "{label}: {r:?}"
            );
        }
    }
    let (h, dist) = read_csv(&run.path("out/tables/distributions.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    for r in dist
        .iter()
        .filter(|r| r[col("suppressed")] == "false" && !r[col("share")].is_empty())
    {
        let (nb, n): (usize, usize) = (
            r[col("n_bin")].parse().unwrap(),
            r[col("n")].parse().unwrap(),
        );
        assert!(
            n >= min_cell,
            "{label}: a published bin of a segment of {n}: {r:?}"
        );
        assert!(
            nb == 0 || nb >= min_cell,
            "{label}: a published bin of {nb}: {r:?}"
        );
    }
    // The round's own design travels in data/panel.csv (strata, clusters, FPC, calibration):
    // the round stacked on itself has every change exactly 0 with panel SE 0, and the
    // "independent" SE of that combined design is √2 × each published linearized SE — the
    // round's variance rebuilt exactly from what a later round reads.
    if !matches!(variant, "bootstrap" | "jkn") {
        panel_round_trip(&run.path("out"), &label);
    }
    // No published file holds an identifying value (`respondent.identifying`: member id,
    // organization name, contact email — in the Qualtrics export ExternalReference, Q_ORG and
    // the recipient columns) or an identifying column.
    let identifying = ["member_id", "org_name", "contact_email"];
    let source_columns = [
        "ExternalReference",
        "Q_ORG",
        "RecipientEmail",
        "RecipientLastName",
        "RecipientFirstName",
    ];
    let mut keys: std::collections::BTreeSet<String> = Default::default();
    for f in ["r/responses_qualtrics.csv", "r/responses_qualtrics_b.csv"] {
        let Ok(text) = std::fs::read_to_string(run.path(f)) else {
            continue;
        };
        let mut rd = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let h: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
        let cols: Vec<usize> = (0..h.len())
            .filter(|&i| source_columns.contains(&h[i].as_str()))
            .collect();
        assert!(!cols.is_empty(), "{label}: {f} has no identifying column");
        for rec in rd.records().skip(2).flatten() {
            for &c in &cols {
                let v = rec.get(c).unwrap_or("").trim();
                if v.len() >= 4 {
                    keys.insert(v.to_string());
                }
            }
        }
    }
    for o in manifest["outputs"].as_array().unwrap() {
        let path = o["path"].as_str().unwrap();
        if o["publishable"] != serde_json::Value::Bool(true) || !path.ends_with(".csv") {
            continue;
        }
        let (h, rows) = read_csv(&run.path("out").join(path));
        assert!(
            !h.iter()
                .any(|c| identifying.contains(&c.as_str()) || c == "respondent"),
            "{label}: {path} has an identifying column"
        );
        for r in &rows {
            assert!(
                !r.iter().any(|c| keys.contains(c.as_str())),
                "{label}: {path} holds an identifying value: {r:?}"
            );
        }
    }
    out.code
}

/// See the comment at its call in [`run_case`].
fn panel_round_trip(out: &std::path::Path, label: &str) {
    use supplyrisk::previous::{Panel, PanelData};
    let data = PanelData::read(out).unwrap().expect("data/panel.csv");
    let panel = Panel::new(data.clone(), data).expect("a round shares all its organizations");
    let (h, metrics) = read_csv(&out.join("metrics/metrics.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let mut checked = 0;
    for r in &metrics {
        let Ok(se) = r[col("se")].parse::<f64>() else {
            continue;
        };
        let Some(c) = panel.change(
            &r[col("metric_id")],
            r[col("metric_version")].parse().unwrap(),
            &r[col("statistic")],
            &r[col("level")],
            &r[col("segment_var")],
            &r[col("segment_value")],
        ) else {
            continue;
        };
        assert!(
            c.difference == 0.0 && c.se < 1e-12,
            "{label}: {c:?} for {r:?}"
        );
        let want = se * std::f64::consts::SQRT_2;
        // Relative 1e-9; near 0 (a domain without variation, whose SE is the square root of
        // rounding noise) absolute 1e-8 of the estimate's scale.
        let scale = r[col("estimate")]
            .parse::<f64>()
            .unwrap_or(1.0)
            .abs()
            .max(1.0);
        assert!(
            (c.se_independent - want).abs() <= (1e-9 * want).max(1e-8 * scale),
            "{label}: independent SE {} vs √2 × published {want} for {r:?}",
            c.se_independent
        );
        checked += 1;
    }
    assert!(checked > 0, "{label}: no series checked");
}

#[test]
fn every_generated_round_runs_keeps_every_row_and_publishes_nothing_small() {
    let cases: u64 = std::env::var("SUPPLYRISK_GEN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let first: u64 = std::env::var("SUPPLYRISK_GEN_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut codes = [0usize; 3];
    for case in first..first + cases {
        codes[run_case(case) as usize] += 1;
    }
    eprintln!(
        "generated rounds: {cases}, exit 0: {}, exit 1: {}, exit 2: {}",
        codes[0], codes[1], codes[2]
    );
    // Most generated rounds are usable; a suite where every round failed would test little.
    assert!(codes[0] + codes[1] >= cases as usize / 2, "{codes:?}");
}

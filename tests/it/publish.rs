//! Publishing safely (issue 7): hostile text is escaped or neutralized in every output, a
//! segment of three organizations is suppressed everywhere it would appear — with
//! complementary suppression — and the workbook is well-formed and reproducible.

use std::io::Read;
use std::path::Path;

use crate::util::{files, read_csv, TestRun};

/// Every entry of an .xlsx (a zip) as text.
fn xlsx_parts(path: &Path) -> Vec<(String, String)> {
    let f = std::fs::File::open(path).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            (e.name().unwrap().to_string(), s)
        })
        .collect()
}

/// The example round with a script in a segment label and in the survey title, and
/// spreadsheet formulas in free-text answers and in a metric title.
fn hostile_round() -> TestRun {
    let t = TestRun::new().with_example("example-2024", "r");
    let spec_path = t.path("r/survey.toml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let spec = spec
        .replacen(
            "label = \"Public health\"",
            "label = \"<script>alert('x')</script>Public health\", aliases = [\"Public health\"]",
            1,
        )
        .replacen(
            "title = \"HSCC critical-supplier cyber risk survey 2024 (synthetic example)\"",
            "title = \"=HYPERLINK(\\\"http://example.com\\\",\\\"survey\\\") <img src=x onerror=alert(1)>\"",
            1,
        )
        .replacen(
            "title = \"Mean supplier risk index\"",
            "title = \"@SUM(1+1) <script>bad()</script>\"",
            1,
        );
    std::fs::write(&spec_path, spec).unwrap();
    // Free text (C4: critical suppliers named) becomes formulas in a few rows.
    let csv_path = t.path("r/responses_qualtrics.csv");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let c4 = rows[0].iter().position(|h| h == "C4").expect("C4 column");
    let mut w = csv::Writer::from_path(&csv_path).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let mut row: Vec<String> = row.iter().map(str::to_string).collect();
        if i >= 3 && i % 5 == 0 {
            row[c4] = match i % 3 {
                0 => "=HYPERLINK(\"http://example.com\",\"Epic\")".into(),
                1 => "@SUM(1+1)".into(),
                _ => "+cmd|' /C calc'!A0".into(),
            };
        }
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    t.args(["run", "r", "--out", "out", "-q"])
}

#[test]
fn hostile_text_is_escaped_and_neutralized_everywhere() {
    let t = hostile_round();
    // The hostile supplier names match no alias (8% of the mentions): the run fails the
    // unresolved-names gate (exit 1) but writes everything — the gate's banner, which quotes
    // the names, is checked with the rest.
    let o = t.run().expect_code(1);
    assert!(
        o.stderr.contains("max_unresolved_supplier_share"),
        "{}",
        o.stderr
    );
    let out = t.path("out");
    // HTML and SVG: no live markup from the spec or the data.
    for rel in files(&out) {
        if rel.ends_with(".html") || rel.ends_with(".svg") {
            let s = std::fs::read_to_string(out.join(&rel)).unwrap();
            for bad in ["<script", "<img", "onerror=alert(1)>"] {
                assert!(!s.contains(bad), "{rel} contains {bad}");
            }
        }
        // Markdown: a `<` that would open a tag is backslash-escaped (shown, never run).
        if rel.ends_with(".md") {
            let s = std::fs::read_to_string(out.join(&rel)).unwrap();
            for bad in ["<script", "<img"] {
                for (i, _) in s.match_indices(bad) {
                    assert!(i > 0 && &s[i - 1..i] == "\\", "{rel}: live {bad}");
                }
            }
            assert!(s.contains("\\<script>"), "{rel}: the label is shown");
        }
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("&lt;script&gt;"),
        "the label is shown, escaped"
    );
    // CSV: every formula-like text cell starts with a quote; numbers stay numbers.
    let mut neutralized = 0;
    for rel in files(&out).iter().filter(|f| f.ends_with(".csv")) {
        let (head, rows) = read_csv(&out.join(rel));
        for cell in head.iter().chain(rows.iter().flatten()) {
            let live = cell.starts_with(['=', '+', '@', '\t', '\r'])
                || (cell.starts_with('-') && cell.parse::<f64>().is_err());
            assert!(!live, "{rel}: live formula-like cell {cell:?}");
            neutralized += usize::from(cell.starts_with("'=") || cell.starts_with("'@"));
        }
    }
    assert!(
        neutralized >= 3,
        "the C4 answers reach data/clean.csv, quoted"
    );
    let (head, rows) = read_csv(&out.join("tables/estimates.csv"));
    let est = head.iter().position(|h| h == "estimate").unwrap();
    assert!(rows
        .iter()
        .any(|r| r[est].starts_with('-') || r[est].parse::<f64>().is_ok()));
    // XLSX: no formulas anywhere; formula-like text carries the quote prefix.
    let parts = xlsx_parts(&out.join("tables.xlsx"));
    for (name, xml) in &parts {
        assert!(
            !xml.contains("<f>") && !xml.contains("<f "),
            "{name} has a formula"
        );
    }
    let styles = &parts.iter().find(|p| p.0 == "xl/styles.xml").unwrap().1;
    assert!(styles.contains("quotePrefix=\"1\""));
    let strings = &parts
        .iter()
        .find(|p| p.0 == "xl/sharedStrings.xml")
        .unwrap()
        .1;
    assert!(strings.contains("=HYPERLINK("), "the title is kept as text");
}

#[test]
fn a_segment_of_three_is_suppressed_everywhere() {
    // The Qualtrics export alone has four public-health organizations; drop one: three remain.
    let t = crate::util::example_qualtrics_only();
    let csv_path = t.path("r/responses_qualtrics.csv");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut dropped = false;
    let kept: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|line| {
            let drop = !dropped && line.contains(",Public health,");
            dropped |= drop;
            !drop
        })
        .collect();
    assert!(dropped);
    std::fs::write(&csv_path, kept.concat()).unwrap();
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let out = t.path("out");

    let (head, rows) = read_csv(&out.join("data/clean.csv"));
    let sub = head.iter().position(|h| h == "subsector").unwrap();
    assert_eq!(rows.iter().filter(|r| r[sub] == "public_health").count(), 3);

    // Estimates: every public-health row (alone or in a cross) suppressed with blank numbers;
    // in each metric and level where it was suppressed for size alone, another subsector too.
    let (head, rows) = read_csv(&out.join("tables/estimates.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let ph = |r: &Vec<String>| {
        r[col("segment_value")]
            .split(':')
            .any(|v| v == "public_health")
    };
    let mut groups = std::collections::BTreeMap::<(String, String), Vec<&Vec<String>>>::new();
    for r in &rows {
        if ph(r) {
            assert_eq!(r[col("suppressed")], "true", "{r:?}");
            for c in [
                "estimate",
                "se",
                "ci_low",
                "ci_high",
                "n",
                "weight_sum",
                "n_eff",
            ] {
                assert_eq!(r[col(c)], "", "{c} shown for {r:?}");
            }
        }
        // HHI and the effective number are not sums over segments: nothing to recover them from.
        let additive = !matches!(r[col("statistic")].as_str(), "hhi" | "effective_suppliers");
        if r[col("segment_var")] == "subsector" && additive {
            groups
                .entry((r[col("metric_id")].clone(), r[col("level")].clone()))
                .or_default()
                .push(r);
        }
    }
    for ((metric, level), g) in &groups {
        let hidden = g.iter().filter(|r| r[col("suppressed")] == "true").count();
        assert!(
            hidden >= 2,
            "{metric} {level}: only {hidden} subsector hidden"
        );
    }
    assert!(rows
        .iter()
        .any(|r| r[col("flag")].contains("complementary_suppression")));

    // Metrics export and comparisons agree.
    let (head, rows) = read_csv(&out.join("metrics/metrics.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    for r in rows
        .iter()
        .filter(|r| r[col("segment_value")].contains("public_health"))
    {
        assert_eq!(r[col("suppressed")], "true");
        assert_eq!(r[col("estimate")], "");
    }
    let (head, rows) = read_csv(&out.join("tables/comparisons.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    for r in rows
        .iter()
        .filter(|r| r[col("segment_value")] == "public_health")
    {
        assert_eq!(r[col("suppressed")], "true", "{r:?}");
        assert_eq!(r[col("estimate")], "");
    }

    // Workbook: the public-health rows of the estimates sheet carry no numbers.
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let mut wb: Xlsx<_> = open_workbook(out.join("tables.xlsx")).unwrap();
    let sheet = wb.worksheet_range("estimates").unwrap();
    let mut rows_iter = sheet.rows();
    let head: Vec<String> = rows_iter
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let mut seen = 0;
    for r in rows_iter {
        if r[col("segment_value")]
            .to_string()
            .contains("public_health")
        {
            seen += 1;
            assert!(matches!(r[col("estimate")], Data::Empty), "{r:?}");
            assert!(matches!(r[col("n")], Data::Empty), "{r:?}");
        }
    }
    assert!(seen > 0);

    // Charts: the tier chart marks the segment as suppressed and shows no share for it.
    let svg = std::fs::read_to_string(out.join("charts/risk_tiers_by_segment.svg")).unwrap();
    let line = svg
        .lines()
        .position(|l| l.contains("Public health"))
        .expect("the segment is listed");
    assert!(
        svg.lines()
            .skip(line)
            .take(6)
            .any(|l| l.contains("withheld")),
        "marked withheld"
    );
}

/// summary.md is meant for pasting: plain Markdown, no HTML entities, labels as written.
#[test]
fn the_summary_is_plain_markdown() {
    let t = TestRun::new().with_example("example-2024", "r");
    let spec_path = t.path("r/survey.toml");
    let spec = std::fs::read_to_string(&spec_path)
        .unwrap()
        .replacen(
            "label = \"Pharmaceuticals, laboratories and blood\"",
            "label = \"Pharma, labs & blood\", aliases = [\"Pharmaceuticals, laboratories and blood\"]",
            1,
        )
        .replacen(
            "label = \"Fewer than 500\", aliases = [\"<500\"]",
            "label = \"Small (<500 staff)\", aliases = [\"<500\", \"Fewer than 500\"]",
            1,
        );
    std::fs::write(&spec_path, spec).unwrap();
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let md = std::fs::read_to_string(t.path("out/summary.md")).unwrap();
    assert!(md.contains("Pharma, labs & blood"), "{md}");
    assert!(md.contains("Small (<500 staff)"), "{md}");
    for entity in ["&amp;", "&lt;", "&gt;", "&quot;", "&#"] {
        assert!(!md.contains(entity), "summary.md has {entity}");
    }
}

/// Every chart is a valid SVG and a PNG of the same size, not blank (several colours, a fair
/// share of non-white pixels), and the report references nothing outside itself.
#[test]
fn charts_are_valid_and_the_report_is_self_contained() {
    let t = crate::util::example_run();
    let charts = t.path("out/charts");
    let stems: Vec<String> = files(&charts)
        .iter()
        .filter_map(|f| f.strip_suffix(".svg").map(str::to_string))
        .collect();
    for want in [
        "risk_tiers_by_segment",
        "risk_index_by_segment",
        "risk_index_distribution",
        "maturity_heatmap",
        "weights",
        "weighting_margins",
    ] {
        assert!(stems.iter().any(|s| s == want), "no {want} chart");
    }
    for stem in &stems {
        let svg = std::fs::read_to_string(charts.join(format!("{stem}.svg"))).unwrap();
        let open = svg.find("<svg").expect("an <svg> element");
        assert!(svg.trim_end().ends_with("</svg>"), "{stem}.svg is complete");
        let attr = |name: &str| -> u32 {
            let head = &svg[open..svg[open..].find('>').unwrap() + open];
            let at = head.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            head[at..].split('"').next().unwrap().parse().unwrap()
        };
        let decoder =
            png::Decoder::new(std::fs::File::open(charts.join(format!("{stem}.png"))).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(
            (info.width, info.height),
            (attr("width"), attr("height")),
            "{stem}: sizes"
        );
        assert!(
            info.width >= 600 && info.height >= 300,
            "{stem}: {}×{}",
            info.width,
            info.height
        );
        let px = info.color_type.samples();
        let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
        let non_white = pixels
            .iter()
            .filter(|p| p.iter().take(3).any(|&c| c < 240))
            .count();
        let mut colours: Vec<&[u8]> = pixels.clone();
        colours.sort_unstable();
        colours.dedup();
        assert!(non_white * 100 > pixels.len(), "{stem}.png is almost blank");
        assert!(
            colours.len() >= 5,
            "{stem}.png has {} colours",
            colours.len()
        );
    }
    let html = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    for external in [
        "src=",
        "href=\"http",
        "<link",
        "<script",
        "@import",
        "url(",
        "<iframe",
    ] {
        assert!(!html.contains(external), "report.html has {external}");
    }
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    for stem in &stems {
        if stem != "weights" {
            assert!(
                html.contains(&format!("<figure id=\"{stem}\">")),
                "{stem} inline"
            );
        }
    }
}

/// `publication.nchs_action = "flag"` shows the proportions the NCHS standard would suppress,
/// with their flags; the default suppresses them. Disclosure suppression is unaffected.
#[test]
fn nchs_failures_are_suppressed_or_only_flagged_as_the_spec_chooses() {
    let failing = |flag: &str| {
        [
            "nchs_n_eff_lt_30",
            "nchs_width_ge_30",
            "nchs_relative_width_gt_130",
        ]
        .iter()
        .any(|f| flag.contains(f))
    };
    let mut shown = Vec::new();
    for action in ["suppress", "flag"] {
        let t = TestRun::new().with_example("example-2024", "r");
        let p = t.path("r/survey.toml");
        let spec = std::fs::read_to_string(&p).unwrap().replacen(
            "[publication]\nmin_cell_size = 5\n",
            &format!("[publication]\nmin_cell_size = 5\nnchs_action = \"{action}\"\n"),
            1,
        );
        std::fs::write(&p, spec).unwrap();
        let t = t.args(["run", "r", "--out", "out", "-q"]);
        t.run().expect_code(0);
        let (head, rows) = read_csv(&t.path("out/tables/estimates.csv"));
        let col = |n: &str| head.iter().position(|h| h == n).unwrap();
        let nchs: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| failing(&r[col("flag")]) && !r[col("flag")].contains("below_min_cell"))
            .filter(|r| !r[col("flag")].contains("complementary"))
            // Hidden because 1–4 organizations name the supplier category: disclosure, not NCHS.
            .filter(|r| !r[col("flag")].contains("few_naming"))
            .collect();
        assert!(
            !nchs.is_empty(),
            "the example has proportions failing the standard"
        );
        let visible = nchs
            .iter()
            .filter(|r| r[col("suppressed")] == "false")
            .count();
        shown.push((action, visible, nchs.len()));
        for r in rows
            .iter()
            .filter(|r| r[col("flag")].contains("below_min_cell"))
        {
            assert_eq!(r[col("suppressed")], "true", "{action}: {r:?}");
        }
    }
    assert_eq!(shown[0].1, 0, "suppress hides them all: {shown:?}");
    assert_eq!(shown[1].1, shown[1].2, "flag shows them all: {shown:?}");
}

/// `run --previous <OUT>` adds the round-over-round chart and table; a folder that is not an
/// output, or another survey's output, is refused with a clear message.
#[test]
fn an_earlier_round_gives_the_trend_chart_and_table() {
    let t = crate::util::two_example_rounds();
    assert!(t.path("out-b/charts/trend.svg").exists() && t.path("out-b/charts/trend.png").exists());
    let html = std::fs::read_to_string(t.path("out-b/report.html")).unwrap();
    assert!(html.contains("Round 2023 and round 2024"));
    assert!(html.contains("<figure id=\"trend\">"));
    // The change is this round minus the earlier round's published estimate.
    let (head, rows) = read_csv(&t.path("out-a/metrics/metrics.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let before: f64 = rows
        .iter()
        .find(|r| r[col("metric_id")] == "SCRM.RISK.01" && r[col("segment_var")] == "all")
        .unwrap()[col("estimate")]
    .parse()
    .unwrap();
    let (head, rows) = read_csv(&t.path("out-b/metrics/metrics.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let after: f64 = rows
        .iter()
        .find(|r| r[col("metric_id")] == "SCRM.RISK.01" && r[col("segment_var")] == "all")
        .unwrap()[col("estimate")]
    .parse()
    .unwrap();
    let change = format!(
        "<td class=\"num\">{}{:.1}</td>",
        if after >= before { "+" } else { "" },
        after - before
    );
    assert!(html.contains(&change), "report shows {change}");

    // Not an output folder; another survey's output.
    let bad = t
        .again()
        .args(["run", "b", "--out", "out-c", "-q", "--previous", "a"]);
    let out = bad.run().expect_code(2);
    assert!(
        out.stderr.contains("metrics/metrics.csv is missing"),
        "{}",
        out.stderr
    );
    let metrics = std::fs::read_to_string(bad.path("out-a/metrics/metrics.csv")).unwrap();
    std::fs::write(
        bad.path("out-a/metrics/metrics.csv"),
        metrics.replace("hscc-scrm", "other-survey"),
    )
    .unwrap();
    let other = bad
        .again()
        .args(["run", "b", "--out", "out-c", "-q", "--previous", "out-a"]);
    let out = other.run().expect_code(2);
    assert!(out.stderr.contains("not compared"), "{}", out.stderr);
    assert!(
        !other.path("out-c").exists(),
        "nothing written when the input is refused"
    );
}

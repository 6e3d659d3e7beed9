//! What the report, the summary and the workbook say to their readers: key findings that
//! agree with the published tables and state no difference the tests do not support; no flag
//! token; chart text inside its canvas and large enough to print; a round's own templates
//! used and escaped; shares formatted as percentages in the workbook; and, printed by headless
//! Chromium to Letter and A4, the TLP label on every page.

use std::collections::BTreeSet;
use std::path::Path;

use crate::util::{read_csv, synth_round, two_example_rounds, TestRun};

/// The bullets under "## Key findings" in summary.md, Markdown escapes removed.
fn findings(summary: &str) -> Vec<String> {
    summary
        .split("## Key findings")
        .nth(1)
        .expect("a key findings section")
        .split("\n## ")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .map(|l| l.replace('\\', ""))
        .collect()
}

/// Every number with a decimal point in a text, as written (sign kept).
fn decimals(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = if i > 0 && matches!(chars[i - 1], '+' | '-') {
                i - 1
            } else {
                i
            };
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let s: String = chars[start..j].iter().collect();
            let s = s.trim_end_matches('.').to_string();
            // "GV.SC-08" and "SCRM.RISK.01" are not numbers.
            let in_word = start > 0 && chars[start - 1].is_ascii_alphabetic()
                || j < chars.len() && chars[j].is_ascii_alphabetic();
            if s.contains('.') && !in_word {
                out.push(s);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Every way a published number of these CSVs can be written in a sentence: one and three
/// decimals, as is and times 100 (shares and maturities), with and without a sign.
fn candidates(csvs: &[&Path]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for path in csvs {
        let (_, rows) = read_csv(path);
        for row in rows {
            for cell in row {
                if let Ok(x) = cell.parse::<f64>() {
                    for v in [x, x * 100.0] {
                        for s in [format!("{v:.1}"), format!("{v:.3}"), format!("{v:+.1}")] {
                            out.insert(s);
                        }
                    }
                }
            }
        }
    }
    out
}

/// The 95% CI of a segment-vs-rest difference from comparisons.csv (t on the test's df).
fn difference_ci(est: f64, se: f64, ddf: f64) -> (f64, f64) {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let q = StudentsT::new(0.0, 1.0, ddf).unwrap().inverse_cdf(0.975);
    (est - q * se, est + q * se)
}

/// Checks one run's key findings against its tables; returns the findings.
fn check_findings(out: &Path, previous: Option<&Path>) -> Vec<String> {
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let found = findings(&summary);
    assert!(found.len() >= 3, "{found:?}");

    // Each "more/less exposed" segment is a BH-significant comparison of the risk index, each
    // significant comparison is named, and no other difference is stated.
    let (head, rows) = read_csv(&out.join("tables/comparisons.csv"));
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let mut extra = BTreeSet::new();
    let mut significant = 0;
    for r in rows.iter().filter(|r| {
        r[col("metric_id")] == "SCRM.RISK.01"
            && r[col("test")] == "difference"
            && r[col("suppressed")] == "false"
            && r[col("flag")].is_empty()
    }) {
        let est: f64 = r[col("estimate")].parse().unwrap();
        let q: f64 = r[col("p_adjusted")].parse().unwrap();
        let said = format!("{est:+.1} points");
        let sentence = found.iter().find(|f| {
            f.starts_with(if est > 0.0 {
                "More exposed"
            } else {
                "Less exposed"
            })
        });
        if q < 0.05 {
            significant += 1;
            let s = sentence.unwrap_or_else(|| panic!("{said} significant but not said"));
            assert!(s.contains(&said), "{said} missing from {s}");
            let (lo, hi) = difference_ci(
                est,
                r[col("se")].parse().unwrap(),
                r[col("ddf")].parse().unwrap(),
            );
            for b in [lo, hi] {
                extra.insert(format!("{b:+.1}"));
            }
        } else if let Some(s) = sentence {
            assert!(
                !s.contains(&said),
                "{said} is not significant but said: {s}"
            );
        }
    }
    let stated: usize = found
        .iter()
        .filter(|f| f.starts_with("More exposed") || f.starts_with("Less exposed"))
        .map(|f| f.matches(" points (").count())
        .sum();
    assert_eq!(stated, significant, "{found:?}");
    if significant == 0 {
        assert!(
            found
                .iter()
                .any(|f| f.contains("No segment's mean risk index differs detectably")),
            "{found:?}"
        );
    }

    // Every number carries through from a published table.
    let mut csvs = vec![
        out.join("tables/estimates.csv"),
        out.join("tables/comparisons.csv"),
    ];
    if out.join("tables/concentration.csv").exists() {
        csvs.push(out.join("tables/concentration.csv"));
        csvs.push(out.join("tables/supplier_dependency.csv"));
    }
    if let Some(p) = previous {
        csvs.push(p.join("metrics/metrics.csv"));
    }
    let paths: Vec<&Path> = csvs.iter().map(|p| p.as_path()).collect();
    let mut known = candidates(&paths);
    known.extend(extra);
    for f in &found {
        for n in decimals(f) {
            assert!(known.contains(&n), "{n} in «{f}» is in no published table");
        }
    }
    found
}

#[test]
fn the_key_findings_agree_with_the_tables() {
    let t = two_example_rounds();
    let found = check_findings(&t.path("out-b"), Some(&t.path("out-a")));
    // The example has segments on both sides, a single point of failure and changes since 2023.
    assert!(found.iter().any(|f| f.starts_with("More exposed")));
    assert!(found.iter().any(|f| f.starts_with("Less exposed")));
    assert!(found
        .iter()
        .any(|f| f.starts_with("Single point of failure")));
    assert!(found.iter().any(|f| f.starts_with("Since round 2023")));
    // The report says the same, first.
    let html = std::fs::read_to_string(t.path("out-b/report.html")).unwrap();
    let key = html
        .find("id=\"findings\"")
        .expect("key findings in the report");
    let first_chart = html.find("<figure").unwrap();
    assert!(key < first_chart && html.find("id=\"data\"").unwrap() > first_chart);
    assert_eq!(html.matches("<li class=\"finding").count(), found.len());
}

/// Generated rounds of a few sizes: the same agreement, whichever segments differ or none.
#[test]
fn key_findings_agree_on_generated_rounds() {
    for (seed, rows) in [(11, 90), (12, 150), (13, 400)] {
        let t = synth_round(seed, rows)
            .again()
            .args(["run", "-q", "r", "--out", "out"]);
        let code = t.run().code;
        assert!(code <= 1, "seed {seed}");
        check_findings(&t.path("out"), None);
        no_flag_tokens(&t.path("out"));
    }
}

/// The codes of the flag column: readers get marks and words instead.
const TOKENS: [&str; 12] = [
    "n_eff_lt_30",
    "df_lt_8",
    "rse_gt_30",
    "nchs_",
    "below_min_cell",
    "few_naming",
    "few_in_bin",
    "complementary_suppression",
    "estimate_withheld",
    "empty_domain",
    "not_testable",
    "width_ge_30",
];

fn no_flag_tokens(out: &Path) {
    for f in ["report.html", "summary.md"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        for t in TOKENS {
            assert!(!text.contains(t), "{f} shows the flag token {t}");
        }
    }
}

#[test]
fn no_flag_token_reaches_the_reader() {
    let t = crate::util::example_run();
    no_flag_tokens(&t.path("out"));
    // The marks are explained where they are used.
    let html = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    assert!(html.contains("withheld†") && html.contains("° read with caution"));
}

/// A text element of a plotters SVG: position, anchor, size and content.
struct SvgText {
    x: f64,
    y: f64,
    anchor: String,
    size: f64,
    text: String,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(tag[at..].split('"').next()?.to_string())
}

fn svg_texts(svg: &str) -> (f64, f64, Vec<SvgText>) {
    let head = &svg[svg.find("<svg").unwrap()..];
    let width: f64 = attr(head, "width").unwrap().parse().unwrap();
    let height: f64 = attr(head, "height").unwrap().parse().unwrap();
    let mut out = Vec::new();
    for part in svg.split("<text").skip(1) {
        let (tag, rest) = part.split_once('>').unwrap();
        let text = rest.split("</text>").next().unwrap().trim();
        let text = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        out.push(SvgText {
            x: attr(tag, "x").unwrap().parse().unwrap(),
            y: attr(tag, "y").unwrap().parse().unwrap(),
            anchor: attr(tag, "text-anchor").unwrap_or_else(|| "start".into()),
            size: attr(tag, "font-size").unwrap().parse().unwrap(),
            text,
        });
    }
    (width, height, out)
}

/// Every text of every chart inside its canvas (by the bundled font's metrics, at the size
/// plotters laid it out with: 1.24 × the SVG font size), and large enough to print at 8 pt or
/// more when the chart is scaled to the printed column.
fn check_charts(dir: &Path) -> usize {
    use plotters::style::{FontStyle, IntoFont};
    let _ = plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
    );
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("svg") {
            continue;
        }
        let svg = std::fs::read_to_string(&path).unwrap();
        let (w, h, texts) = svg_texts(&svg);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The printed column: A4 less 12 mm margins, 186 mm (Letter's is wider), at 96 px per
        // inch; 8 pt = 8 × 96 / 72 px.
        let scale = (186.0 / 25.4 * 96.0 / w).min(1.0);
        for t in texts {
            let layout = t.size * 1.24;
            let (tw, _) = ("sans-serif", layout)
                .into_font()
                .box_size(&t.text)
                .unwrap();
            let tw = f64::from(tw);
            let (left, right) = match t.anchor.as_str() {
                "end" => (t.x - tw, t.x),
                "middle" => (t.x - tw / 2.0, t.x + tw / 2.0),
                _ => (t.x, t.x + tw),
            };
            assert!(
                left >= 0.0 && right <= w && t.y >= 0.0 && t.y <= h,
                "{name}: «{}» spans x {left:.0}–{right:.0} of 0–{w}, y {} of 0–{h}",
                t.text,
                t.y
            );
            assert!(
                t.size * scale >= 8.0 * 96.0 / 72.0 - 0.05,
                "{name}: «{}» prints at {:.1} pt",
                t.text,
                t.size * scale * 72.0 / 96.0
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn chart_text_stays_inside_its_canvas_with_many_long_labels() {
    let t = synth_round(5, 600);
    // Every segment label made long (the old label kept as an alias, so answers still match).
    let spec_path = t.path("r/survey.toml");
    let mut spec = std::fs::read_to_string(&spec_path).unwrap();
    for label in [
        "Direct patient care",
        "Pharmaceuticals, laboratories and blood",
        "Medical technology",
        "Health plans and payers",
        "Health information technology",
        "Public health",
        "Health sector association",
        "Northeast",
        "Midwest",
        "South",
        "West",
        "Fewer than 500",
        "500 to 4,999",
        "5,000 or more",
    ] {
        let long = format!(
            "{label} organizations of every kind and size, in all fifty states and the territories"
        );
        let with_aliases = format!("label = \"{label}\", aliases = [");
        if spec.contains(&with_aliases) {
            spec = spec.replace(
                &with_aliases,
                &format!("label = \"{long}\", aliases = [\"{label}\", "),
            );
        } else {
            let plain = format!("label = \"{label}\" }}");
            assert!(spec.contains(&plain), "{plain}");
            spec = spec.replace(
                &plain,
                &format!("label = \"{long}\", aliases = [\"{label}\"] }}"),
            );
        }
    }
    std::fs::write(&spec_path, spec).unwrap();
    let t = t.again().args(["run", "-q", "r", "--out", "out"]);
    assert!(t.run().code <= 1);
    assert!(check_charts(&t.path("out/charts")) > 100);

    let t = crate::util::example_run();
    assert!(check_charts(&t.path("out/charts")) > 100);
}

#[test]
fn a_rounds_own_template_is_used_and_escaped() {
    let t = TestRun::new()
        .with_example("example-2024", "r")
        .write(
            "r/brand/report.html",
            "{% import \"macros.html\" as m %}<!DOCTYPE html><html><body>\
             <h1 class=\"brand\">{{ survey.title }}</h1>\
             {% for f in findings %}<p class=\"finding\">{{ f.text }}</p>{% endfor %}\
             {{ m.table(headline) }}{{ m.figure(charts, \"risk_index_by_segment\") }}</body></html>",
        )
        .write("r/brand/summary.md", "# {{ survey.title }}\n\nBrand summary.\n");
    let spec = std::fs::read_to_string(t.path("r/survey.toml")).unwrap();
    let spec = spec.replacen(
        "title = \"",
        "title = \"<script>alert(1)</script> *Brand* ",
        1,
    ) + "\n[report]\ntemplates = \"brand\"\n";
    std::fs::write(t.path("r/survey.toml"), spec).unwrap();
    let t = t.args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let html = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    assert!(
        html.contains("<h1 class=\"brand\">&lt;script&gt;alert(1)&lt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
    assert!(html.contains("<figure id=\"risk_index_by_segment\"><svg"));
    assert!(html.matches("<p class=\"finding\">").count() >= 3);
    let md = std::fs::read_to_string(t.path("out/summary.md")).unwrap();
    assert!(
        md.starts_with("# \\<script>alert(1)\\</script> \\*Brand\\* "),
        "{md}"
    );
    assert!(md.contains("Brand summary."));
    // The templates are inputs of the run: recorded, so a rerun can check them.
    let manifest = std::fs::read_to_string(t.path("out/manifest.json")).unwrap();
    assert!(manifest.contains("\"role\": \"template\"") && manifest.contains("brand/report.html"));

    // A template with an error: exit 2 naming the file and the line; nothing written.
    std::fs::write(t.path("r/brand/summary.md"), "# ok\n\n{{ survey.title }\n").unwrap();
    let t = t.again().args(["run", "r", "--out", "out2", "-q"]);
    let o = t.run().expect_code(2);
    assert!(
        o.stderr.contains("brand/summary.md") && o.stderr.contains("line 3"),
        "{}",
        o.stderr
    );
    // A folder that is not there: a spec error at the key.
    let spec = std::fs::read_to_string(t.path("r/survey.toml")).unwrap();
    std::fs::write(
        t.path("r/survey.toml"),
        spec.replace("templates = \"brand\"", "templates = \"nope\""),
    )
    .unwrap();
    let o = t.run().expect_code(2);
    assert!(o.stderr.contains("report.templates"), "{}", o.stderr);
}

/// The style index of cell `cell` (e.g. "H2") in a worksheet's XML, and the number format of
/// each style in styles.xml.
fn cell_format(sheet_xml: &str, styles_xml: &str, cell: &str) -> String {
    let at = sheet_xml
        .find(&format!("<c r=\"{cell}\""))
        .unwrap_or_else(|| panic!("cell {cell}"));
    let tag = &sheet_xml[at..at + sheet_xml[at..].find('>').unwrap()];
    let style: usize = attr(tag, "s").map_or(0, |s| s.parse().unwrap());
    let xfs = styles_xml
        .split("<cellXfs")
        .nth(1)
        .unwrap()
        .split("</cellXfs>")
        .next()
        .unwrap();
    let xf = xfs.split("<xf ").nth(style + 1).unwrap();
    let id = attr(&format!(" {xf}"), "numFmtId").unwrap();
    styles_xml
        .split("<numFmt ")
        .skip(1)
        .find(|f| attr(&format!(" {f}"), "numFmtId").as_deref() == Some(id.as_str()))
        .and_then(|f| attr(&format!(" {f}"), "formatCode"))
        .unwrap_or_else(|| format!("builtin {id}"))
}

fn column_letter(i: usize) -> String {
    let mut i = i + 1;
    let mut s = String::new();
    while i > 0 {
        s.insert(0, (b'A' + ((i - 1) % 26) as u8) as char);
        i = (i - 1) / 26;
    }
    s
}

#[test]
fn the_workbook_shows_shares_as_percentages_and_labels_beside_codes() {
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let t = crate::util::example_run();
    let path = t.path("out/tables.xlsx");
    let mut wb: Xlsx<_> = open_workbook(&path).unwrap();
    let names = wb.sheet_names().to_vec();
    assert_eq!(&names[..3], ["README", "Headline", "estimates"]);
    let est = wb.worksheet_range("estimates").unwrap();
    let head: Vec<String> = est
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    assert_eq!(&head[..3], ["metric", "level_label", "segment"]);
    let rows: Vec<&[Data]> = est.rows().collect();
    let share = rows
        .iter()
        .position(|r| {
            r[col("statistic")] == "proportion" && matches!(r[col("estimate")], Data::Float(_))
        })
        .unwrap();
    let mean = rows
        .iter()
        .position(|r| r[col("statistic")] == "mean" && matches!(r[col("estimate")], Data::Float(_)))
        .unwrap();
    assert!(rows
        .iter()
        .any(|r| r[col("segment")] == "Direct patient care"));
    // The XML: the share's estimate cell has a percent format, the mean's does not.
    let file = std::fs::File::open(&path).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut read = |name: &str| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut s).unwrap();
        s
    };
    let styles = read("xl/styles.xml");
    let sheet = read("xl/worksheets/sheet3.xml");
    let c = column_letter(col("estimate"));
    let f_share = cell_format(&sheet, &styles, &format!("{c}{}", share + 1));
    let f_mean = cell_format(&sheet, &styles, &format!("{c}{}", mean + 1));
    assert!(f_share.contains('%'), "{f_share}");
    assert!(!f_mean.contains('%'), "{f_mean}");
    // The Headline sheet: findings and the headline table with percentages.
    let headline = wb.worksheet_range("Headline").unwrap();
    let text: Vec<String> = headline.rows().map(|r| r[0].to_string()).collect();
    assert!(text.iter().any(|t| t == "Key findings"));
    assert!(text
        .iter()
        .any(|t| t.starts_with("The sector's mean supplier risk index")));
    // The README describes the supplier share and the comparisons' statistic correctly.
    let readme = wb.worksheet_range("README").unwrap();
    let lines: Vec<String> = readme
        .rows()
        .map(|r| {
            format!(
                "{} {}",
                r[0],
                r.get(1).map(|c| c.to_string()).unwrap_or_default()
            )
        })
        .collect();
    assert!(lines
        .iter()
        .any(|l| l.starts_with("statistic test statistic")));
    assert!(lines.iter().any(|l| l
        == "share weighted share of organizations naming the supplier among their most critical"));
}

/// Headless Chromium, if installed (`apt-get install chromium poppler-utils`; `.ci/run`
/// installs both).
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn the_printed_report_carries_its_tlp_label_on_every_page() {
    let browser = chromium().expect(
        "headless Chromium is needed to print the report: apt-get install chromium poppler-utils",
    );
    let t = crate::util::example_run();
    let html = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    for (paper, css) in [("letter", "letter"), ("a4", "A4")] {
        // The paper size as a reader's print dialog would set it.
        let page = t.path(&format!("out/report-{paper}.html"));
        std::fs::write(
            &page,
            html.replace(
                "</head>",
                &format!("<style>@page{{size:{css}}}</style></head>"),
            ),
        )
        .unwrap();
        let pdf = t.path(&format!("out/report-{paper}.pdf"));
        let profile = t.path(&format!("chromium-{paper}"));
        let status = std::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-pdf-header-footer",
                &format!("--user-data-dir={}", profile.display()),
                &format!("--print-to-pdf={}", pdf.display()),
            ])
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("run chromium");
        assert!(status.status.success() && pdf.exists(), "{paper}: no PDF");
        let info = std::process::Command::new("pdfinfo")
            .arg(&pdf)
            .output()
            .expect("pdfinfo (poppler-utils)");
        let info = String::from_utf8_lossy(&info.stdout).into_owned();
        let pages: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(pages >= 5, "{paper}: {pages} pages");
        for p in 1..=pages {
            let out = std::process::Command::new("pdftotext")
                .args(["-f", &p.to_string(), "-l", &p.to_string()])
                .arg(&pdf)
                .arg("-")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("TLP:GREEN"),
                "{paper}: page {p} of {pages} has no TLP label"
            );
        }
    }
}

/// `run --previous` on rounds that share organizations: the report's round-over-round table
/// gives the panel SE with the independent-samples SE beside it — the same numbers `compare`
/// computes from the two output folders — says how many organizations answered both, and the
/// manifest records the earlier round's panel file among the inputs.
#[test]
fn the_round_over_round_table_uses_the_panel_se() {
    let t = two_example_rounds();
    let t = t
        .again()
        .args(["compare", "out-a", "out-b", "--out", "cmp", "-q"]);
    t.run().expect_code(0);
    let (h, rows) = read_csv(&t.path("cmp/comparison.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let risk = rows
        .iter()
        .find(|r| r[col("metric_id")] == "SCRM.RISK.01" && r[col("segment_var")] == "all")
        .unwrap();
    assert_eq!(risk[col("se_method")], "panel");
    let se: f64 = risk[col("se")].parse().unwrap();
    let independent: f64 = risk[col("se_independent")].parse().unwrap();
    let html = std::fs::read_to_string(t.path("out-b/report.html")).unwrap();
    let section = &html[html.find("id=\"trend-section\"").unwrap()..];
    assert!(
        section.contains("organizations answered both rounds (of ")
            && section.contains("SE (panel)")
            && section.contains("SE if independent"),
        "the table names its SEs"
    );
    let row = &section[section.find("Mean supplier risk index</td>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    for want in [format!(">{se:.1}<"), format!(">{independent:.1}<")] {
        assert!(row.contains(&want), "{want} in {row}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.path("out-b/manifest.json")).unwrap()).unwrap();
    let panel_input = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"] == "previous_panel")
        .expect("the earlier round's panel file is an input");
    let bytes = std::fs::read(t.path("out-a/data/panel.csv")).unwrap();
    assert_eq!(
        panel_input["sha256"],
        supplyrisk::ingest::sha256_hex(&bytes).as_str()
    );
}

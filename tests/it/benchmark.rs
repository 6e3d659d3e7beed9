//! `supplyrisk benchmark`: one page per organization, from its own record and the published
//! tables only. The central check parses every number of every page and finds each one either
//! in a published table, in the organization's own row of `data/clean.csv`, or in the fixed
//! text the page is made from (the spec's titles and labels, the template, the round's failed
//! quality gates as its report states them).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::util::{read_csv, repo, TestRun};

/// The numbers a text shows: runs of digits with at most one inner point ("4,999" is 4 and 999).
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let inner_point = c == '.'
            && !cur.is_empty()
            && !cur.contains('.')
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() || inner_point {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The page's visible text and attribute values (tags and the style sheet taken out).
fn visible(html: &str) -> String {
    let body = html.split("</style>").nth(1).unwrap_or(html);
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every way a page may print a number `v`: as it is, or as a percentage, at 0 or 1 decimals.
fn renderings(v: f64, into: &mut BTreeSet<String>) {
    for x in [v, v * 100.0] {
        for d in 0..=1 {
            into.insert(format!("{x:.d$}"));
            // "-0" prints as "0" after the sign is read as text.
            into.insert(format!("{:.d$}", x.abs()));
        }
    }
}

fn published_numbers(out: &Path) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for table in [
        "tables/estimates.csv",
        "tables/distributions.csv",
        "tables/concentration.csv",
        "tables/supplier_dependency.csv",
    ] {
        let p = out.join(table);
        if !p.is_file() {
            continue;
        }
        let (_, rows) = read_csv(&p);
        for r in rows {
            for cell in r {
                if let Ok(v) = cell.parse::<f64>() {
                    renderings(v, &mut set);
                }
            }
        }
    }
    set
}

/// Numbers of the fixed text a page is made from: the spec and the template.
fn fixed_numbers(round: &Path) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for text in [
        std::fs::read_to_string(round.join("survey.toml")).unwrap(),
        std::fs::read_to_string(repo().join("src/render/templates/benchmark.html")).unwrap(),
    ] {
        set.extend(numbers(&text));
    }
    set
}

/// Check every page of `out`'s benchmarks; returns how many were checked.
fn check_every_page(out: &Path, round: &Path) -> usize {
    let published = published_numbers(out);
    let mut fixed = fixed_numbers(round);
    // The round's failed quality gates, as its report prints them.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    for g in m["quality_gates"]["failed"].as_array().unwrap() {
        fixed.extend(numbers(g.as_str().unwrap()));
    }
    let (head, rows) = read_csv(&out.join("data/clean.csv"));
    let (_, index) = read_csv(&out.join("data/benchmarks/index.csv"));
    let own_rows: HashMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
    let mentions_path = out.join("data/supplier_mentions.csv");
    let mentions = mentions_path.is_file().then(|| read_csv(&mentions_path).1);
    for entry in &index {
        let (respondent, key, file) = (&entry[0], &entry[1], &entry[2]);
        assert!(
            !file.contains(key.as_str()),
            "the file name {file} shows the key"
        );
        let html = std::fs::read_to_string(out.join("data/benchmarks").join(file)).unwrap();
        let row = own_rows[respondent.as_str()];
        let mut own = BTreeSet::new();
        for (h, v) in head.iter().zip(row.iter()) {
            if h.starts_with("maturity:") || h == "risk_index" {
                if let Ok(x) = v.parse::<f64>() {
                    renderings(x, &mut own);
                }
            }
        }
        own.extend(numbers(respondent));
        // The names of the suppliers it named ("Microsoft 365").
        if let Some(mentions) = &mentions {
            for m in mentions.iter().filter(|m| &m[0] == respondent) {
                own.extend(numbers(&m[2]));
            }
        }
        own.extend(numbers(key));
        // The positions of the suppliers it named.
        own.extend((1..=10).map(|i| i.to_string()));
        for n in numbers(&visible(&html)) {
            assert!(
                published.contains(&n) || own.contains(&n) || fixed.contains(&n),
                "{file}: {n} is neither published, nor its own, nor in the spec or template"
            );
        }
    }
    index.len()
}

#[test]
fn every_page_of_example_2024_holds_only_published_numbers_and_its_own() {
    let t = crate::util::example_run();
    let t = t.again().args(["benchmark", "out", "-q"]);
    t.run().expect_code(0);
    let out = t.path("out");
    let pages = check_every_page(&out, &t.path("r"));
    let (_, clean) = read_csv(&out.join("data/clean.csv"));
    assert_eq!(pages, clean.len(), "one page per kept response");
    // Listed in the manifest as internal; the folder still verifies (the re-run does not make
    // benchmarks) and is the same output for the clearinghouse store.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let listed: Vec<&serde_json::Value> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["made_by"] == "benchmark")
        .collect();
    assert_eq!(listed.len(), pages + 1);
    assert!(listed.iter().all(|o| o["publishable"] == false));
    let t = t.again().args(["verify", "out"]);
    t.run().expect_code(0);
    let html = std::fs::read_to_string(out.join("data/benchmarks/R0001.html")).unwrap();
    assert!(
        html.contains("TLP:AMBER+STRICT"),
        "a benchmark is never more open than AMBER+STRICT"
    );
}

#[test]
fn an_organization_in_a_withheld_cell_gets_the_next_broader_peers_and_no_number_for_the_cell() {
    let t = crate::util::example_run();
    let out = t.path("out");
    // An organization whose subsector × size mean risk index is withheld.
    let (eh, est) = read_csv(&out.join("tables/estimates.csv"));
    let col = |n: &str| eh.iter().position(|h| h == n).unwrap();
    let withheld: BTreeSet<String> = est
        .iter()
        .filter(|r| {
            r[col("metric_id")] == "SCRM.RISK.01"
                && r[col("segment_var")] == "subsector:size"
                && r[col("suppressed")] == "true"
        })
        .map(|r| r[col("segment_value")].clone())
        .collect();
    assert!(!withheld.is_empty());
    let (ch, clean) = read_csv(&out.join("data/clean.csv"));
    let c = |n: &str| ch.iter().position(|h| h == n).unwrap();
    let row = clean
        .iter()
        .find(|r| withheld.contains(&format!("{}:{}", r[c("subsector")], r[c("size")])))
        .expect("an organization in a withheld cell");
    let t = t.again().args(["benchmark", "out", "-q"]);
    t.run().expect_code(0);
    let html = std::fs::read_to_string(
        out.join("data/benchmarks")
            .join(format!("{}.html", row[c("respondent")])),
    )
    .unwrap();
    // The subsector's published mean is what it is compared with, and the page says why.
    let subsector = est
        .iter()
        .find(|r| {
            r[col("metric_id")] == "SCRM.RISK.01"
                && r[col("segment_var")] == "subsector"
                && r[col("segment_value")] == row[c("subsector")]
        })
        .unwrap();
    let page = visible(&html);
    if subsector[col("suppressed")] == "false" {
        let v: f64 = subsector[col("estimate")].parse().unwrap();
        assert!(
            page.contains(&format!("{v:.1}")),
            "the subsector's mean is shown"
        );
    }
    assert!(
        page.contains("Mean supplier risk index: withheld for"),
        "the page says the cell is withheld:\n{page}"
    );
}

#[test]
fn benchmarks_are_byte_identical_on_rerun_and_one_org_can_be_asked_for() {
    let t = crate::util::example_run();
    let t = t.again().args(["benchmark", "out", "--out", "one", "-q"]);
    t.run().expect_code(0);
    let t = t.again().args(["benchmark", "out", "--out", "two", "-q"]);
    t.run().expect_code(0);
    let files: Vec<String> = std::fs::read_dir(t.path("one"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.len() > 100);
    for f in &files {
        assert_eq!(
            std::fs::read(t.path("one").join(f)).unwrap(),
            std::fs::read(t.path("two").join(f)).unwrap(),
            "{f} differs on rerun"
        );
    }
    // Outside the output folder, its manifest is left alone.
    let (_, index) = read_csv(&t.path("one/index.csv"));
    let key = index[3][1].clone();
    let t = t
        .again()
        .args(["benchmark", "out", "--out", "mine", "--org", &key, "-q"]);
    t.run().expect_code(0);
    let (_, mine) = read_csv(&t.path("mine/index.csv"));
    assert_eq!(mine, [index[3].clone()]);
    assert_eq!(
        std::fs::read(t.path("mine").join(&index[3][2])).unwrap(),
        std::fs::read(t.path("one").join(&index[3][2])).unwrap()
    );
    let t = t
        .again()
        .args(["benchmark", "out", "--org", "NO-SUCH-KEY", "-q"]);
    let e = t.run().expect_code(2);
    assert!(e.stderr.contains("NO-SUCH-KEY"), "{}", e.stderr);
    // Changed inputs: the records found now would not be those the output was made from.
    let pop = t.path("r/population.csv");
    let text = std::fs::read_to_string(&pop).unwrap();
    std::fs::write(&pop, format!("{text}\n")).unwrap();
    let t = t.again().args(["benchmark", "out", "--out", "three", "-q"]);
    let e = t.run().expect_code(2);
    assert!(
        e.stderr.contains("population.csv: changed since the run"),
        "{}",
        e.stderr
    );
    assert!(!t.path("three").exists());
}

#[test]
fn hostile_text_in_the_spec_is_escaped_in_every_page() {
    let t = TestRun::new().with_example("example-2024", "r");
    let spec_path = t.path("r/survey.toml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let hostile = "<script>alert(1)</script> & \"quotes\"";
    let spec = spec
        .replacen(
            "title = \"HSCC critical-supplier cyber risk survey 2024 (synthetic example)\"",
            &format!("title = {hostile:?}"),
            1,
        )
        .replacen(
            "title = \"C-SCRM programme, strategy and policies established\"",
            "title = \"<img src=x onerror=alert(2)>\"",
            1,
        );
    std::fs::write(&spec_path, spec).unwrap();
    let t = t.again().args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let t = t.again().args(["benchmark", "out", "-q"]);
    t.run().expect_code(0);
    let html = std::fs::read_to_string(t.path("out/data/benchmarks/R0002.html")).unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<img"),
        "unescaped markup"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;"),
        "the title is shown, escaped"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
}

#[test]
fn generated_rounds_of_several_sizes_and_designs_get_pages_of_published_numbers_only() {
    for (seed, rows) in [(5u64, 20usize), (6, 90), (7, 300)] {
        let t = crate::util::synth_round(seed, rows);
        let t = t.again().args(["run", "r", "--out", "out", "-q"]);
        let code = t.run().code;
        assert!(code == 0 || code == 1, "run exited {code}");
        let t = t.again().args(["benchmark", "out", "-q"]);
        t.run().expect_code(0);
        let pages = check_every_page(&t.path("out"), &t.path("r"));
        assert!(pages > 0, "seed {seed}");
        // A round that failed a quality gate says so on every page.
        let page = std::fs::read_to_string(t.path("out/data/benchmarks/R0001.html")).unwrap();
        assert_eq!(
            page.contains("failed its quality gates"),
            code == 1,
            "seed {seed}"
        );
    }
}

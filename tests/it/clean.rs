//! Cleaning on the dirty fixture round (`tests/fixtures/clean/`): each respondent rule, each
//! recode path, the drop/flag/off actions, the accounting invariant (rows read = kept +
//! quarantined, per source, including a source whose every row is quarantined), and a property
//! test over random edits of a clean table.

use std::collections::BTreeMap;

use proptest::prelude::*;
use supplyrisk::clean::{clean, Answer, Cleaned};
use supplyrisk::ingest::{read_all, read_bytes, ReadOptions};
use supplyrisk::spec::{load_str, LoadedSpec};
use supplyrisk::weight::Population;

use crate::util::{copy_dir, read_csv, repo, TestRun};

fn fixture_dir() -> std::path::PathBuf {
    repo().join("tests/fixtures/clean")
}

fn spec_with(edit: impl Fn(String) -> String) -> LoadedSpec {
    let dir = fixture_dir();
    let text = edit(std::fs::read_to_string(dir.join("survey.toml")).unwrap());
    load_str(&text, "survey.toml", &dir).unwrap_or_else(|e| panic!("{e}"))
}

fn run_clean(spec: &LoadedSpec) -> Cleaned {
    let pop = Population::read(spec).unwrap();
    let sources = read_all(spec).unwrap();
    clean(spec, &sources, &pop.frame()).unwrap()
}

fn reasons(c: &Cleaned) -> BTreeMap<(String, usize), Vec<&'static str>> {
    c.quarantine
        .iter()
        .map(|q| {
            (
                (q.file.clone(), q.row),
                q.reasons.iter().map(|r| r.code()).collect(),
            )
        })
        .collect()
}

fn record<'a>(c: &'a Cleaned, file: &str, row: usize) -> supplyrisk::clean::RecordRef<'a> {
    c.records
        .iter()
        .find(|r| r.file() == file && r.row == row)
        .unwrap_or_else(|| panic!("{file} row {row} not kept"))
}

const Q: &str = "dirty_qualtrics.csv";

#[test]
fn every_rule_quarantines_or_flags_the_row_it_should() {
    let c = run_clean(&spec_with(|t| t));
    let got = reasons(&c);
    let want: BTreeMap<(String, usize), Vec<&str>> = [
        ((Q, 4), vec!["duplicate"]),
        ((Q, 5), vec!["preview"]),
        ((Q, 6), vec!["test_key"]),
        ((Q, 7), vec!["missing_key"]),
        ((Q, 8), vec!["incomplete"]),
        ((Q, 9), vec!["out_of_frame"]),
        ((Q, 10), vec!["missing_design_value"]),
        ((Q, 16), vec!["blank_row"]),
        (("all_tests.csv", 2), vec!["test_key"]),
        (("all_tests.csv", 3), vec!["test_key"]),
    ]
    .into_iter()
    .map(|((f, r), v)| ((f.to_string(), r), v))
    .collect();
    assert_eq!(got, want);
    let codes = |file: &str, row: usize| {
        record(&c, file, row)
            .flags
            .iter()
            .map(|f| f.code())
            .collect::<Vec<_>>()
    };
    assert_eq!(codes(Q, 11), ["straightline"]);
    assert_eq!(codes(Q, 12), ["speeder"]);
    assert!(
        codes(Q, 13).is_empty(),
        "the latest submission of A1 is kept unflagged"
    );
    assert_eq!(
        c.log.speeder_median_secs,
        Some(620.0),
        "median of 30, 600, 610, 620, 630, 640, 650 s"
    );
    // Messages name the values involved.
    let msg = |row: usize| {
        c.quarantine
            .iter()
            .find(|q| q.file == Q && q.row == row)
            .unwrap()
            .message
            .clone()
    };
    assert!(msg(9).contains("`seg` = `w`"), "{}", msg(9));
    assert!(msg(4).contains("dirty_qualtrics.csv row 13"), "{}", msg(4));
    assert!(msg(8).contains("answered 1 of 5"), "{}", msg(8));
    // The identifying key is in the raw values (masked only when written out).
    assert_eq!(
        c.quarantine
            .iter()
            .find(|q| q.file == Q && q.row == 5)
            .unwrap()
            .raw[0],
        "A2"
    );
}

#[test]
fn every_recode_path_is_read_and_logged() {
    let spec = spec_with(|t| t);
    let c = run_clean(&spec);
    let r11: Vec<Answer> = record(&c, Q, 14).answers().cloned().collect();
    // Question `qi`'s option `code`, with its position among the options.
    let code = |qi: usize, s: &str| {
        let options = spec.spec.options(&spec.spec.questions[qi]);
        let index = options.iter().position(|o| o.code.0 == s).unwrap() as u16;
        Answer::Code(supplyrisk::clean::Choice {
            index,
            code: s.into(),
        })
    };
    assert_eq!(r11[1], code(1, "y"), "variant: case and spacing");
    assert_eq!(r11[2], code(2, "5"), "alias");
    assert_eq!(r11[3], code(3, "5"), "fuzzy");
    assert_eq!(
        r11[4],
        Answer::Missing("8".into()),
        "declared missing code, kept apart from skipped"
    );
    assert_eq!(r11[5], code(5, "4"), "the code instead of the label");
    assert!(matches!(&r11[6], Answer::Invalid(w) if w.contains("outside [0, 100]")));
    let r12: Vec<Answer> = record(&c, Q, 15).answers().cloned().collect();
    assert_eq!(r12[2], code(2, "4"));
    assert!(matches!(&r12[3], Answer::Invalid(w) if w.contains("`Maybe` is not an option")));
    assert!(matches!(&r12[6], Answer::Invalid(w) if w.contains("not a number")));
    let hows: BTreeMap<&str, usize> =
        c.log
            .recodes
            .iter()
            .fold(BTreeMap::new(), |mut m, ((_, _, _, how), rc)| {
                *m.entry(*how).or_default() += rc.count;
                m
            });
    for how in [
        "variant",
        "alias",
        "fuzzy",
        "code",
        "unmatched",
        "unreadable",
        "out_of_range",
    ] {
        assert!(hows.contains_key(how), "no {how} recode logged: {hows:?}");
    }
    let fuzzy = c.log.recodes.iter().find(|(k, _)| k.3 == "fuzzy").unwrap();
    assert_eq!(
        (
            fuzzy.0 .0.as_str(),
            fuzzy.0 .1.as_str(),
            fuzzy.0 .2.as_str()
        ),
        ("q2", "Stongly agree", "5")
    );
    assert!(fuzzy.1.similarity.unwrap() > 0.9);
    // Without a threshold the misspelling stays unread.
    let c = run_clean(&spec_with(|t| t.replace("fuzzy_threshold = 0.9\n", "")));
    assert!(matches!(record(&c, Q, 14).answer(3), Answer::Invalid(_)));
}

#[test]
fn actions_switch_rules_between_drop_flag_and_off() {
    let spec = spec_with(|t| {
        t.replace(
            "[design]",
            "[cleaning.actions]\nspeeder = \"drop\"\nstraightline = \"off\"\nduplicate = \"flag\"\ntest_key = \"flag\"\n\n[design]",
        )
    });
    let c = run_clean(&spec);
    let got = reasons(&c);
    assert_eq!(
        got.get(&(Q.to_string(), 12)),
        Some(&vec!["speeder"]),
        "speeder dropped"
    );
    assert!(record(&c, Q, 11).flags.is_empty(), "straight-lining off");
    assert_eq!(
        record(&c, Q, 4)
            .flags
            .iter()
            .map(|f| f.code())
            .collect::<Vec<_>>(),
        ["duplicate"],
        "both A1 kept, the superseded one flagged"
    );
    assert_eq!(record(&c, "all_tests.csv", 2).flags[0].code(), "test_key");
    let off = run_clean(&spec_with(|t| {
        t.replace(
            "[design]",
            "[cleaning.actions]\nincomplete = \"off\"\n\n[design]",
        )
    }));
    let partial = record(&off, Q, 8);
    assert!(
        !partial.flags.iter().any(|f| f.code() == "incomplete"),
        "incomplete off: the partial row is kept"
    );
    assert_eq!(
        partial.flags.iter().map(|f| f.code()).collect::<Vec<_>>(),
        ["speeder"],
        "it took 120 s of a 620 s median"
    );
}

#[test]
fn rows_read_equal_kept_plus_quarantined_per_source() {
    let c = run_clean(&spec_with(|t| t));
    assert!(c.log.invariant_violations().is_empty());
    let counts: BTreeMap<&str, (usize, usize, usize, usize)> = c
        .log
        .sources
        .iter()
        .map(|(s, n)| (s.as_str(), (n.read, n.kept, n.quarantined, n.flagged)))
        .collect();
    assert_eq!(counts[Q], (14, 6, 8, 2));
    assert_eq!(counts["plain.csv"], (2, 2, 0, 0));
    assert_eq!(
        counts["all_tests.csv"],
        (2, 0, 2, 0),
        "a source whose every row is quarantined"
    );
    assert_eq!(c.rows_read(), c.records.len() + c.quarantine.len());
}

#[test]
fn the_outputs_carry_flags_the_log_and_the_data_quality_section() {
    let t = TestRun::new();
    copy_dir(&fixture_dir(), &t.path("r"));
    let t = t.args(["run", "r", "--out", "out"]);
    let out = t.run().expect_code(0);
    assert!(
        out.stdout.contains("flagged speeder 1, straightline 1"),
        "{}",
        out.stdout
    );
    let (head, rows) = read_csv(&t.path("out/data/clean.csv"));
    let flags = head.iter().position(|h| h == "flags").unwrap();
    assert_eq!(rows.iter().filter(|r| !r[flags].is_empty()).count(), 2);
    let (lhead, lrows) = read_csv(&t.path("out/tables/cleaning_log.csv"));
    let col = |n: &str| lhead.iter().position(|h| h == n).unwrap();
    let find = |kind: &str, source: &str| {
        lrows
            .iter()
            .find(|r| r[col("kind")] == kind && r[col("source")] == source)
            .map(|r| r[col("count")].clone())
    };
    assert_eq!(find("rows_read", "all_tests.csv").as_deref(), Some("2"));
    assert_eq!(find("rows_kept", "all_tests.csv").as_deref(), Some("0"));
    assert_eq!(
        find("rows_quarantined", "all_tests.csv").as_deref(),
        Some("2")
    );
    assert!(lrows
        .iter()
        .any(|r| r[col("rule")] == "fuzzy" && !r[col("similarity")].is_empty()));
    let (qhead, qrows) = read_csv(&t.path("out/data/quarantine.csv"));
    let org = qhead.iter().position(|h| h == "org").unwrap();
    assert!(
        qrows
            .iter()
            .all(|r| r[org].is_empty() || r[org] == "[masked]"),
        "identifying values masked"
    );
    let report = std::fs::read_to_string(t.path("out/report.html")).unwrap();
    for needle in [
        "Data quality",
        "all_tests.csv",
        "straightline",
        "a misspelled label matched to the most similar one",
    ] {
        assert!(report.contains(needle), "report lacks {needle}");
    }
}

/// The example round's dirt is caught and explained.
#[test]
fn the_example_rounds_dirt_is_caught() {
    let t = TestRun::new()
        .with_example("example-2023", "r")
        .args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    let (qhead, qrows) = read_csv(&t.path("out/data/quarantine.csv"));
    let reasons = qhead.iter().position(|h| h == "reasons").unwrap();
    for r in [
        "blank_row",
        "preview",
        "test_key",
        "incomplete",
        "out_of_frame",
        "duplicate",
    ] {
        assert!(
            qrows.iter().any(|row| row[reasons].contains(r)),
            "no {r} in the example's quarantine"
        );
    }
    let log = std::fs::read_to_string(t.path("out/tables/cleaning_log.csv")).unwrap();
    for needle in [
        "flagged,,,speeder",
        "flagged,,,straightline",
        ",fuzzy,",
        ",unreadable,about 50,",
    ] {
        assert!(log.contains(needle), "cleaning log lacks {needle}");
    }
}

fn clean_table_csv(rows: usize) -> Vec<Vec<String>> {
    let labels = [
        "Strongly disagree",
        "Disagree",
        "Agree",
        "Strongly agree",
        "Don't know",
    ];
    (0..rows)
        .map(|i| {
            let mut r = vec![
                format!("P{i}"),
                if i % 2 == 0 { "Segment X" } else { "Segment Y" }.to_string(),
            ];
            r.extend((0..4).map(|k| labels[(i + k) % 5].to_string()));
            r.push(((i * 7) % 100).to_string());
            r
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random edits of a clean table (deleted cells, garbled labels, duplicated rows): every row
    /// read is kept or quarantined, and no row disappears.
    #[test]
    fn random_edits_never_lose_a_row(
        edits in proptest::collection::vec((0usize..30, 0usize..7, 0u8..4, any::<u8>()), 0..40),
        dups in proptest::collection::vec(0usize..30, 0..6),
    ) {
        let spec = spec_with(|t| t);
        let mut rows = clean_table_csv(30);
        for (r, c, kind, byte) in &edits {
            let cell = &mut rows[*r][*c];
            match kind {
                0 => cell.clear(),
                1 => { let mid = cell.len() / 2; if cell.is_char_boundary(mid) { cell.truncate(mid); } }
                2 => cell.push(char::from(b'a' + byte % 26)),
                _ => *cell = format!("{byte}"),
            }
        }
        for d in &dups {
            let copy = rows[*d].clone();
            rows.push(copy);
        }
        let mut text = String::from("org,seg,q1,q2,q3,q4,pct\n");
        for r in &rows {
            let quoted: Vec<String> = r.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
            text.push_str(&quoted.join(","));
            text.push('\n');
        }
        let table = read_bytes(text.as_bytes(), "csv", "plain.csv", &ReadOptions::default()).unwrap();
        prop_assert_eq!(table.rows.len(), rows.len());
        let pop = Population::read(&spec).unwrap();
        let c = clean(&spec, &[table], &pop.frame()).unwrap();
        prop_assert!(c.log.invariant_violations().is_empty());
        prop_assert_eq!(c.records.len() + c.quarantine.len(), rows.len());
        let mut seen: Vec<usize> = c.records.iter().map(|r| r.row).chain(c.quarantine.iter().map(|q| q.row)).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (2..rows.len() + 2).collect::<Vec<_>>(), "every data line, once");
    }
}

#[test]
fn validate_reports_the_cleaning_outcome_with_examples_and_writes_nothing() {
    let t = TestRun::new();
    copy_dir(&fixture_dir(), &t.path("r"));
    let before = crate::util::files(&t.path("r"));
    let t = t.args(["validate", "r"]);
    // The fixture's answers `Maybe` (q2) and `Segment Y` (q1) match no option: the run would
    // read them as unanswered, so validate exits 1 and lists them with the nearest option.
    let out = t.run().expect_code(1);
    assert!(
        out.stderr
            .contains("question `q2`: 1 distinct answer matches no option")
            && out
                .stderr
                .contains("`Maybe` (1 answer; nearest option \"Agree\""),
        "{}",
        out.stderr
    );
    for needle in [
        "cleaning: 18 rows read, 8 kept, 10 would be quarantined, 2 kept with flags",
        "all_tests.csv: read 2, kept 0, quarantined 2, flagged 0",
        "quarantined out_of_frame (1): dirty_qualtrics.csv row 9: `seg` = `w` is not a level of the population targets",
        "flagged speeder (1): dirty_qualtrics.csv row 12",
        "recoded fuzzy (1): q2: `Stongly agree` → 5",
    ] {
        assert!(out.stdout.contains(needle), "validate output lacks {needle:?}:\n{}", out.stdout);
    }
    assert_eq!(
        crate::util::files(&t.path("r")),
        before,
        "validate writes nothing"
    );
    assert!(!t.path("output").exists());
}

/// `duplicates = "error"` stops cleaning at a repeated key, naming every submission of it
/// (the fixture's A1, rows 4 and 13) — found through the key lookup, not row order.
#[test]
fn a_repeated_key_under_the_error_rule_names_each_submission() {
    let spec = spec_with(|t| t.replace("[cleaning]\n", "[cleaning]\nduplicates = \"error\"\n"));
    let pop = Population::read(&spec).unwrap();
    let sources = read_all(&spec).unwrap();
    let err = clean(&spec, &sources, &pop.frame())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the respondent key repeats in 2 submissions"),
        "{err}"
    );
    assert!(err.contains("row 4") && err.contains("row 13"), "{err}");
}

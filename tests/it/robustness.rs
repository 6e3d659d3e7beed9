//! Regression tests for the reproducers of "never crash, never silently wrong": rounds that used
//! to panic (a tier nobody is in, a segment without variation), spec values out of range, paths
//! that leave the round, and what a handled error prints. Each test names what it pins.

use crate::util::{read_csv, TestRun};

/// The example round with its Qualtrics file cut to the header rows and the first `k` records.
fn cut_example(k: usize) -> TestRun {
    let t = TestRun::new().with_example("example-2024", "r");
    let p = t.path("r/responses_qualtrics.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut w = csv::Writer::from_path(&p).unwrap();
    for rec in rd.records().take(3 + k) {
        w.write_record(&rec.unwrap()).unwrap();
    }
    w.flush().unwrap();
    t
}

/// Edit the round's survey.toml: replace `from` (which must occur) by `to`.
fn edit_spec(t: TestRun, from: &str, to: &str) -> TestRun {
    let p = t.path("r/survey.toml");
    let s = std::fs::read_to_string(&p).unwrap();
    assert!(s.contains(from), "survey.toml has no `{from}`");
    std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
    t
}

#[test]
fn small_rounds_with_untestable_comparisons_run_and_say_why() {
    // Cut to 20 or 40 records, the example panicked in statrs (`StudentsT::sf(NaN)`): a level
    // with no variation gave t = 0/0. Now the row is blank with a reason.
    // Disclosure control would withhold most comparisons of such small rounds (and a withheld
    // row's reason would tell its numbers), so the minimum cell is 1 here: every test shows.
    // The top tier starts at 99, so nobody is in it: its share is 0 on both sides of every
    // comparison (no variation), whatever the answers.
    for k in [20, 40] {
        let t = edit_spec(cut_example(k), "min_cell_size = 5", "min_cell_size = 1");
        let t = edit_spec(
            t,
            "{ name = \"High\", below = 75 }",
            "{ name = \"High\", below = 99 }",
        )
        .args(["run", "r", "--out", "out"]);
        let out = t.run();
        assert!(
            out.code == 0 || out.code == 1,
            "{k}: exit {}\n{}",
            out.code,
            out.stderr
        );
        let (h, rows) = read_csv(&t.path("out/tables/comparisons.csv"));
        let col = |n: &str| h.iter().position(|x| x == n).unwrap();
        let (flag, stat, p, sup) = (
            col("flag"),
            col("statistic"),
            col("p_value"),
            col("suppressed"),
        );
        let flagged: Vec<&Vec<String>> = rows.iter().filter(|r| !r[flag].is_empty()).collect();
        assert!(
            flagged
                .iter()
                .any(|r| r[flag] == "not_testable_no_variation"),
            "{k}: no untestable row"
        );
        for r in &flagged {
            assert!(r[stat].is_empty() && r[p].is_empty(), "{k}: {r:?}");
            assert_eq!(r[sup], "false");
            assert!(supplyrisk::estimate::UNTESTABLE.contains(&r[flag].as_str()));
        }
        // Every computed test has a p-value in [0, 1].
        for r in rows
            .iter()
            .filter(|r| r[flag].is_empty() && r[sup] == "false")
        {
            let pv: f64 = r[p].parse().unwrap();
            assert!((0.0..=1.0).contains(&pv), "{r:?}");
        }
    }
}

#[test]
fn out_of_range_spec_values_are_refused_with_key_line_and_range() {
    // Each was accepted silently (or ran out of memory, or panicked in kernels/domains.rs).
    let cases = [
        (
            "empty_cell = \"rake\"\n",
            "empty_cell = \"rake\"\nmax_iterations = 0\n",
            "weighting.max_iterations",
            "1–100000",
        ),
        (
            "fpc = true\n",
            "fpc = true\nreplicates = 1000000000\n",
            "design.replicates",
            "2–10000",
        ),
        (
            "fuzzy_threshold = 0.92",
            "fuzzy_threshold = -3",
            "cleaning.fuzzy_threshold",
            "(0, 1]",
        ),
        (
            "speeder_fraction = 0.3",
            "speeder_fraction = 1e308",
            "cleaning.speeder_fraction",
            "[0, 1)",
        ),
        (
            "min_cell_size = 5",
            "min_cell_size = 1000000",
            "publication.min_cell_size",
            "1–1000",
        ),
    ];
    // Tiers are stored a byte a record: 256 of them are refused.
    let many_tiers: String = (0..255)
        .map(|i| {
            format!(
                "  {{ name = \"T{i}\", below = {} }},\n",
                f64::from(i) / 2.56
            )
        })
        .chain(["  { name = \"Top\" },\n".to_string()])
        .collect();
    let many_tiers = format!("tiers = [\n{many_tiers}]\n");
    let tiers_case = (
        "tiers = [\n  { name = \"Low\", below = 25 },\n  { name = \"Moderate\", below = 50 },\n  { name = \"High\", below = 75 },\n  { name = \"Critical\" },\n]\n",
        many_tiers.as_str(),
        "scoring.tiers",
        "at most 255 tiers, got 256",
    );
    for (from, to, key, range) in cases.into_iter().chain([tiers_case]) {
        for cmd in ["validate", "run"] {
            let t = edit_spec(TestRun::new().with_example("example-2024", "r"), from, to);
            let out = t.args([cmd, "r"]).run().expect_code(2);
            // The message may be wrapped in miette's frame: compare without the layout.
            let flat: String = out
                .stderr
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '│')
                .collect();
            assert!(
                flat.contains(key) && flat.contains(&range.replace(' ', "")),
                "{cmd} {key}: {}",
                out.stderr
            );
            assert!(
                out.stderr.contains("survey.toml:"),
                "no line: {}",
                out.stderr
            );
            assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        }
    }
}

#[test]
fn a_population_count_of_1e300_is_refused_naming_the_file_and_row() {
    // It panicked in statrs.
    let t = TestRun::new().with_example("example-2024", "r");
    let p = t.path("r/population.csv");
    let s = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, s.replacen("dpc,small,45", "dpc,small,1e300", 1)).unwrap();
    let out = t.args(["run", "r", "--out", "out"]).run().expect_code(2);
    assert!(
        out.stderr.contains("population.csv") && out.stderr.contains("1e300"),
        "{}",
        out.stderr
    );
}

#[test]
fn paths_outside_the_round_are_refused_without_quoting_them() {
    // They were read, and lines of /etc/passwd echoed in the error.
    for (from, to) in [
        (
            "path = \"responses_qualtrics.csv\"",
            "path = \"../../../../etc/passwd\"",
        ),
        (
            "path = \"responses_qualtrics.csv\"",
            "path = \"/etc/passwd\"",
        ),
        (
            "population = \"population.csv\"",
            "population = \"/etc/passwd\"",
        ),
    ] {
        for cmd in ["validate", "run"] {
            let t = edit_spec(TestRun::new().with_example("example-2024", "r"), from, to);
            let out = t.args([cmd, "r"]).run().expect_code(2);
            assert!(
                out.stderr.contains("leaves the round folder")
                    || out.stderr.contains("absolute path"),
                "{cmd} {to}: {}",
                out.stderr
            );
            assert!(!out.stderr.contains("root:"), "{}", out.stderr);
        }
    }
}

#[test]
fn a_source_that_is_a_directory_or_a_pipe_says_what_it_is() {
    let t = edit_spec(
        TestRun::new().with_example("example-2024", "r"),
        "path = \"responses_qualtrics.csv\"",
        "path = \"folder.csv\"",
    );
    std::fs::create_dir_all(t.path("r/folder.csv")).unwrap();
    let out = t.args(["validate", "r"]).run().expect_code(2);
    assert!(out.stderr.contains("is a directory"), "{}", out.stderr);
    #[cfg(unix)]
    {
        let t = TestRun::new();
        let fifo = t.path("answers.csv");
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            // Reading a FIFO would block forever.
            let out = t.args(["inspect", "answers.csv"]).run().expect_code(2);
            assert!(out.stderr.contains("named pipe"), "{}", out.stderr);
        }
    }
}

#[test]
fn a_handled_error_prints_only_its_message() {
    // A corrupt workbook panics inside calamine; the panic is contained and only the clean
    // message is printed (no "panicked at", no backtrace).
    let t = TestRun::new();
    let mut bytes =
        std::fs::read(crate::util::repo().join("surveys/example-2024/responses_forms.xlsx"))
            .unwrap();
    let n = bytes.len();
    bytes.truncate(n * 2 / 3);
    std::fs::write(t.path("cut.xlsx"), bytes).unwrap();
    let out = t.args(["inspect", "cut.xlsx"]).run().expect_code(2);
    assert!(out.stderr.contains("cut.xlsx"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(!out.stderr.contains("stack backtrace"), "{}", out.stderr);
}

/// Inspect a committed hostile workbook (tests/fixtures/hostile/, made by make_hostile.py).
fn inspect_hostile(name: &str, env: &[(&str, &str)]) -> crate::util::Output {
    let mut t = TestRun::new();
    std::fs::copy(
        crate::util::repo()
            .join("tests/fixtures/hostile")
            .join(name),
        t.path(name),
    )
    .unwrap();
    for (k, v) in env {
        t = t.env(k, v);
    }
    t.args(["inspect", name]).run()
}

#[test]
fn a_stray_cell_in_the_last_cell_of_the_sheet_is_read_without_its_rectangle() {
    // A1 … C3 and XFD1048576: calamine's range would be 16384 × 1048576 cells (an abort,
    // "memory allocation of 549755813888 bytes failed", with no file named). Now the cells are
    // streamed: the stray value is named as a ragged row beyond the header's columns.
    let out = inspect_hostile("far_cell.xlsx", &[]).expect_code(2);
    assert!(
        out.stderr
            .contains("far_cell.xlsx [Sheet1], row 1048576, column XFD"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_huge_declared_string_count_is_refused_naming_the_file_and_the_limit() {
    // uniqueCount="4294967295" in a 2 KB file: calamine reserves 96 GiB and aborts. The
    // contained reader reaches its memory limit instead and says how to proceed.
    let out = inspect_hostile("huge_unique_count.xlsx", &[]).expect_code(2);
    assert!(
        out.stderr.contains("huge_unique_count.xlsx")
            && out.stderr.contains("1024 MiB")
            && out.stderr.contains("SUPPLYRISK_WORKBOOK_MEMORY_MB"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("memory allocation of"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_date_serial_outside_excels_calendar_is_a_missing_cell_with_a_note() {
    // -2e11 in a date-formatted cell: chrono panicked (`TimeDelta::milliseconds out of bounds`).
    let out = inspect_hostile("date_out_of_range.xlsx", &[]).expect_code(0);
    assert!(
        out.stdout
            .contains("cell C2: date cell holds -200000000000, outside Excel's date range"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("records:     2"), "{}", out.stdout);
}

#[test]
fn a_sheet_larger_than_the_reader_may_use_is_refused_with_the_limit() {
    // A compressed sheet far larger uncompressed (~40 MiB of cells, a few hundred KB as .xlsx)
    // against a 16 MiB limit: refused, file and limit named — the same path a 1000 MiB sheet
    // takes against the default 1 GiB.
    let t = TestRun::new();
    let path = t.path("big.xlsx");
    crate::minimal_xlsx::write_sheet(&path, 40_000, |r, row| {
        row.push_str(&format!("<row r=\"{r}\">"));
        for c in 0..20u8 {
            let col = (b'A' + c) as char;
            row.push_str(&format!(
                "<c r=\"{col}{r}\" t=\"inlineStr\"><is><t>answer {r} {c}</t></is></c>"
            ));
        }
        row.push_str("</row>");
    });
    let out = t
        .env("SUPPLYRISK_WORKBOOK_MEMORY_MB", "16")
        .args(["inspect", "big.xlsx"])
        .run()
        .expect_code(2);
    assert!(
        out.stderr.contains("big.xlsx") && out.stderr.contains("16 MiB"),
        "{}",
        out.stderr
    );
}

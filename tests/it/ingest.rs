//! The ingest fixture corpus (`tests/fixtures/ingest/`, made by Python's csv module, openpyxl,
//! xlwt and LibreOffice — see `make_fixtures.py`): every format, encoding and layout reads to
//! the rows, columns and values it holds, and every kind of bad input is refused with a message
//! that names the file and what was expected.

use std::path::PathBuf;

use supplyrisk::ingest::{layout_name, read_path, ReadOptions, SourceTable};
use supplyrisk::spec::Layout;

use crate::util::{repo, TestRun};

const NASTY: &str = "Line one\nline two, with \"quotes\"; and ü/é/—/日本";

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/ingest").join(name)
}

fn read(name: &str) -> SourceTable {
    read_path(&fixture(name), name, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn read_err(name: &str) -> String {
    match read_path(&fixture(name), name, &ReadOptions::default()) {
        Ok(t) => panic!("{name} should not read; got {} rows", t.rows.len()),
        Err(e) => e.to_string(),
    }
}

fn names(t: &SourceTable) -> Vec<&str> {
    t.columns.iter().map(|c| c.id.as_str()).collect()
}

fn values(t: &SourceTable, row: usize) -> Vec<&str> {
    t.rows.get(row).cells.iter().collect()
}

#[test]
fn delimited_text_in_every_encoding_and_delimiter() {
    for (file, encoding, delimiter) in [
        ("plain_utf8.csv", "utf-8", ','),
        ("plain_utf8_bom_crlf.csv", "utf-8-bom", ','),
        ("tab_utf16le.txt", "utf-16le", '\t'),
        ("pipe_utf16be.txt", "utf-16be", '|'),
    ] {
        let t = read(file);
        assert_eq!(
            (t.encoding.as_deref(), t.delimiter),
            (Some(encoding), Some(delimiter)),
            "{file}"
        );
        assert_eq!(t.layout, Layout::Plain, "{file}");
        assert_eq!(
            names(&t),
            ["org_id", "subsector", "Comment", "score"],
            "{file}"
        );
        assert_eq!(t.rows.len(), 3, "{file}");
        assert_eq!(
            values(&t, 0),
            ["A-1", "Direct patient care", NASTY, "3"],
            "{file}: embedded newline, quotes, non-ASCII"
        );
        assert_eq!(t.rows.get(0).row, 2, "{file}");
        // The record after one with an embedded newline starts on line 4 (of the file).
        assert_eq!(t.rows.get(1).row, 4, "{file}");
        assert_eq!(values(&t, 1)[2], "Café résumé");
        assert!(t.notes.is_empty(), "{file}: {:?}", t.notes);
    }
}

#[test]
fn windows_1252_is_read_and_reported_as_a_warning() {
    let t = read("semicolon_windows1252.csv");
    assert_eq!(
        (t.encoding.as_deref(), t.delimiter),
        (Some("windows-1252"), Some(';'))
    );
    assert_eq!(values(&t, 1)[2], "Café résumé — naïve");
    assert!(
        t.notes[0].contains("not valid UTF-8") && t.notes[0].contains("windows-1252"),
        "{:?}",
        t.notes
    );
}

#[test]
fn qualtrics_three_row_and_legacy_two_row_exports() {
    let t = read("qualtrics_3row.csv");
    assert_eq!(
        (t.layout, t.header_rows, t.rows.len()),
        (Layout::Qualtrics, 3, 3)
    );
    assert_eq!(
        t.columns[10].text.as_deref(),
        Some("Which HSCC subsector best describes your organization?")
    );
    assert!(t.rows.get(0).meta.preview, "Survey Preview status");
    assert!(!t.rows.get(1).meta.preview);
    assert_eq!(t.rows.get(1).meta.response_id.as_deref(), Some("R_1"));
    assert_eq!(
        t.rows.get(1).meta.submitted.as_deref(),
        Some("2024-03-02T10:20:00")
    );
    assert_eq!(t.rows.get(2).meta.finished, Some(false));
    assert_eq!(t.rows.get(1).cell(14), NASTY);
    assert_eq!(t.rows.get(0).row, 4, "data starts under three header rows");

    let t = read("qualtrics_legacy_2row.csv");
    assert_eq!(
        (t.layout, t.header_rows, t.rows.len()),
        (Layout::Qualtrics, 2, 2)
    );
    assert_eq!(
        t.rows.get(0).cell(8),
        "EHR,Cloud infrastructure",
        "comma-joined multi-select kept whole for cleaning"
    );
    assert_eq!(
        t.rows.get(0).meta.submitted.as_deref(),
        Some("2024-03-02T10:20:00"),
        "US dates become ISO"
    );
}

#[test]
fn surveymonkey_forward_fills_and_names_option_and_matrix_columns() {
    let t = read("surveymonkey.csv");
    assert_eq!(
        (t.layout, t.header_rows, t.rows.len()),
        (Layout::Surveymonkey, 2, 2)
    );
    let n = names(&t);
    assert_eq!(
        &n[9..],
        [
            "Which HSCC subsector best describes your organization?",
            "Critical cats - EHR",
            "Critical cats - Claims clearinghouse",
            "Critical cats - Other (please specify)",
            "Rate these practices - Inventory",
            "Rate these practices - Contracts",
        ]
    );
    assert_eq!(t.rows.get(0).cell(12), "a regional HIE");
    assert_eq!(
        t.rows.get(0).meta.submitted.as_deref(),
        Some("2024-03-02T10:20:00")
    );
}

#[test]
fn redcap_raw_and_label_exports() {
    let t = read("redcap_raw.csv");
    assert_eq!((t.layout, t.rows.len()), (Layout::Redcap, 3));
    assert!(t.rows.get(2).meta.repeat_instance && !t.rows.get(0).meta.repeat_instance);
    assert_eq!(t.rows.get(0).meta.finished, Some(true), "_complete = 2");
    assert_eq!(t.rows.get(1).meta.finished, Some(false), "_complete = 1");
    assert_eq!(t.rows.get(1).cell(8), NASTY);
    let t = read("redcap_labels.csv");
    assert_eq!((t.layout, t.rows.len()), (Layout::Redcap, 2));
    assert_eq!(
        t.rows.get(0).meta.finished,
        Some(true),
        "Complete? = Complete"
    );
    assert_eq!(t.rows.get(1).cell(5), "Unchecked");
}

#[test]
fn microsoft_forms_workbook_from_openpyxl() {
    let t = read("msforms.xlsx");
    assert_eq!(
        (t.layout, t.sheet.as_deref(), t.rows.len()),
        (Layout::Msforms, Some("Sheet1"), 2)
    );
    assert_eq!(
        t.columns[6].text.as_deref(),
        Some("Which HSCC subsector best describes your organization?")
    );
    assert_eq!(
        t.rows.get(0).meta.submitted.as_deref(),
        Some("2024-03-02T10:20:05"),
        "datetime cells become ISO"
    );
    assert_eq!(t.rows.get(0).cell(7), "EHR;Cloud infrastructure;");
    assert_eq!(t.rows.get(0).cell(8), NASTY);
    assert_eq!(t.rows.get(0).cell(9), "120", "whole numbers lose their .0");
    assert_eq!(t.rows.get(1).cell(9), "1,200", "text stays text");
    assert_eq!(t.rows.get(0).cell(4), "Ana Müller");
}

/// The same hand-made workbook as written by openpyxl and re-saved by LibreOffice in four formats.
#[test]
fn workbooks_with_title_rows_dates_formulas_and_error_cells() {
    for file in [
        "title_rows_libreoffice.xlsx",
        "title_rows_libreoffice.xlsm",
        "title_rows_libreoffice.xls",
        "title_rows_libreoffice.ods",
        "title_rows_openpyxl.xlsx",
    ] {
        let t = read(file);
        assert_eq!(
            t.sheet.as_deref(),
            Some("Responses"),
            "{file}: the first sheet is empty, the next one holds data"
        );
        assert_eq!(
            t.header_row, 3,
            "{file}: a merged title row and a blank row above the header"
        );
        assert_eq!(
            names(&t),
            [
                "org_id",
                "started",
                "suppliers",
                "share",
                "comment",
                "derived"
            ],
            "{file}"
        );
        assert_eq!(t.rows.len(), 3, "{file}");
        assert_eq!(
            &values(&t, 0)[..5],
            ["01002", "2024-03-02", "250", "0.25", "Zürich office"],
            "{file}"
        );
        assert_eq!(
            &values(&t, 1)[..5],
            ["1003", "2024-03-03T14:30:00", "40", "0.5", NASTY],
            "{file}"
        );
        assert_eq!(values(&t, 2)[1], "09:15:00", "{file}: a time of day");
        if file.contains("libreoffice") {
            assert_eq!(
                values(&t, 0)[5],
                "500",
                "{file}: formula results are read as values"
            );
            assert_eq!(values(&t, 1)[5], "", "{file}: #DIV/0! becomes missing");
            assert_eq!(values(&t, 2)[5], "", "{file}: #N/A becomes missing");
            if !file.ends_with(".ods") {
                assert!(
                    t.notes
                        .iter()
                        .any(|n| n.contains("F5") && n.contains("#DIV/0!")),
                    "{file}: {:?}",
                    t.notes
                );
            }
        } else {
            assert!(
                t.notes
                    .iter()
                    .any(|n| n.contains("formula") && n.contains("no saved result")),
                "{file}: formulas written by a script have no cached value: {:?}",
                t.notes
            );
        }
    }
}

/// An .xlsb from SheetJS, re-encoded with Excel's full cell records (`xlsb_full_cells.py`).
#[test]
fn binary_workbook_with_full_cell_records() {
    let t = read("sheetjs_fullcells.xlsb");
    assert_eq!((t.sheet.as_deref(), t.header_row), (Some("Responses"), 3));
    assert_eq!(
        names(&t),
        ["org_id", "subsector", "comment", "score", "submitted"]
    );
    assert_eq!(
        values(&t, 0),
        ["A-1", "Direct patient care", NASTY, "3", "2024-03-02"]
    );
    assert_eq!(values(&t, 1)[..4], ["A-2", "Public health", "Café", "4.5"]);
}

#[test]
fn legacy_xls_from_xlwt() {
    let t = read("legacy_xlwt.xls");
    assert_eq!(names(&t), ["org_id", "subsector", "comment", "submitted"]);
    assert_eq!(
        values(&t, 0),
        ["A-1", "Direct patient care", NASTY, "2024-03-02"]
    );
}

#[test]
fn sheets_by_name_and_index() {
    let opts = |s: &str| ReadOptions {
        sheet: Some(s.to_string()),
        ..ReadOptions::default()
    };
    let by_name = read_path(
        &fixture("title_rows_libreoffice.xlsx"),
        "x",
        &opts("Responses"),
    )
    .unwrap();
    let by_index = read_path(&fixture("title_rows_libreoffice.xlsx"), "x", &opts("2")).unwrap();
    assert_eq!(by_name.rows.len(), by_index.rows.len());
    let e = read_path(
        &fixture("title_rows_libreoffice.xlsx"),
        "x.xlsx",
        &opts("Answers"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no sheet named `Answers`") && e.contains("Notes, Responses"),
        "{e}"
    );
    let header = ReadOptions {
        header_row: Some(3),
        ..ReadOptions::default()
    };
    assert_eq!(
        read_path(&fixture("title_rows_libreoffice.xlsx"), "x", &header)
            .unwrap()
            .header_row,
        3
    );
}

#[test]
fn bad_input_is_refused_with_a_message_naming_the_file() {
    for (file, expect) in [
        ("bad_empty.csv", "the file is empty"),
        ("bad_header_only.csv", "no data rows"),
        ("bad_binary.csv", "not a text file"),
        (
            "bad_duplicate_columns.csv",
            "duplicate column names: `score` (columns B and C)",
        ),
        ("bad_ragged.csv", "row 3, column D"),
        ("bad_truncated.xlsx", "cannot open as a workbook"),
        ("bad_corrupt.xlsx", "cannot open as a workbook"),
        ("bad_bomb.xlsx", "over the 1024 MiB limit"),
        ("no_such_file.csv", "file not found"),
        // SheetJS writes compact cell records the workbook reader would skip: refused, not half-read.
        ("sheetjs.xlsb", "compact records"),
    ] {
        let e = read_err(file);
        assert!(
            e.starts_with(file),
            "{file}: the message names the file: {e}"
        );
        assert!(e.contains(expect), "{file}: expected {expect:?} in: {e}");
    }
}

#[test]
fn inspect_json_reports_what_was_read() {
    let t = TestRun::new().args([
        "inspect",
        fixture("qualtrics_3row.csv").to_str().unwrap(),
        "--json",
    ]);
    let out = t.run().expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["layout"], "qualtrics");
    assert_eq!(v["encoding"], "utf-8");
    assert_eq!(v["delimiter"], ",");
    assert_eq!(v["sheet"], serde_json::Value::Null);
    assert_eq!(v["header_rows"], 3);
    assert_eq!(v["rows"], 3);
    assert_eq!(v["columns"][10]["name"], "S1");
    assert_eq!(
        v["columns"][10]["label"],
        "Which HSCC subsector best describes your organization?"
    );

    let t = TestRun::new().args([
        "inspect",
        fixture("msforms.xlsx").to_str().unwrap(),
        "--json",
        "--layout",
        "plain",
    ]);
    let v: serde_json::Value = serde_json::from_str(&t.run().expect_code(0).stdout).unwrap();
    assert_eq!(
        (
            v["layout"].as_str(),
            v["sheet"].as_str(),
            v["encoding"].is_null()
        ),
        (Some("plain"), Some("Sheet1"), true)
    );
    assert_eq!(layout_name(Layout::Msforms), "msforms");

    let out = TestRun::new()
        .args(["inspect", fixture("bad_ragged.csv").to_str().unwrap()])
        .run()
        .expect_code(2);
    assert!(
        out.stderr.contains("bad_ragged.csv, row 3"),
        "{}",
        out.stderr
    );
}

/// The same questions bound in six exports: by id, by alias, by text; multi-select split
/// (Qualtrics `Q5_k`, SurveyMonkey `text - option`, REDCap `field___code`, `text (choice=…)`)
/// and joined (`,` in old Qualtrics, `;` in Forms).
#[test]
fn every_layout_binds_to_the_same_questions() {
    use supplyrisk::clean::{clean, Answer, Frame};
    let dir = repo().join("tests/fixtures/ingest");
    let text = std::fs::read_to_string(dir.join("layouts.toml")).unwrap();
    let spec =
        supplyrisk::spec::load_str(&text, "layouts.toml", &dir).unwrap_or_else(|e| panic!("{e}"));
    let sources = supplyrisk::ingest::read_all(&spec).unwrap();
    let cleaned = clean(&spec, &sources, &Frame::new()).unwrap();
    let codes = |v: &[&str]| Answer::Codes(v.iter().map(|s| (*s).to_string()).collect());
    let got: Vec<(String, Answer, Answer, Answer)> = cleaned
        .records
        .iter()
        .map(|r| {
            (
                format!("{}:{}", r.file(), r.row),
                r.answer(1).clone(),
                r.answer(2).clone(),
                r.answer(3).clone(),
            )
        })
        .collect();
    // Question 1's option `c`, with its position among the options.
    let code = |c: &str| {
        let options = spec.spec.options(&spec.spec.questions[1]);
        let index = options.iter().position(|o| o.code.0 == c).unwrap() as u16;
        Answer::Code(supplyrisk::clean::Choice {
            index,
            code: c.into(),
        })
    };
    let text_a = |t: &str| Answer::Text(t.to_string());
    let expect = vec![
        (
            "qualtrics_3row.csv:5",
            code("1"),
            codes(&["ehr", "cloud"]),
            text_a(NASTY),
        ),
        (
            "qualtrics_3row.csv:7",
            code("3"),
            codes(&["clearinghouse"]),
            Answer::Skipped,
        ),
        (
            "qualtrics_legacy_2row.csv:3",
            code("1"),
            codes(&["ehr", "cloud"]),
            Answer::Skipped,
        ),
        (
            "qualtrics_legacy_2row.csv:4",
            code("3"),
            codes(&["clearinghouse"]),
            Answer::Skipped,
        ),
        (
            "surveymonkey.csv:3",
            code("1"),
            codes(&["ehr"]),
            Answer::Skipped,
        ),
        (
            "surveymonkey.csv:4",
            code("2"),
            codes(&["clearinghouse"]),
            Answer::Skipped,
        ),
        (
            "redcap_raw.csv:2",
            code("1"),
            codes(&["ehr", "cloud"]),
            text_a("fine"),
        ),
        (
            "redcap_raw.csv:3",
            code("3"),
            codes(&["clearinghouse"]),
            text_a(NASTY),
        ),
        (
            "redcap_labels.csv:2",
            code("1"),
            codes(&["ehr", "cloud"]),
            text_a("fine"),
        ),
        (
            "redcap_labels.csv:3",
            code("3"),
            codes(&["clearinghouse"]),
            Answer::Skipped,
        ),
        (
            "msforms.xlsx:2",
            code("1"),
            codes(&["ehr", "cloud"]),
            text_a(NASTY),
        ),
        (
            "msforms.xlsx:3",
            code("2"),
            codes(&["clearinghouse"]),
            Answer::Skipped,
        ),
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for (g, e) in got.iter().zip(&expect) {
        assert_eq!(g.0, e.0);
        assert_eq!((&g.1, &g.2, &g.3), (&e.1, &e.2, &e.3), "{}", g.0);
    }
    // The preview row of the Qualtrics export is quarantined, not lost.
    assert!(cleaned
        .quarantine
        .iter()
        .any(|q| q.file == "qualtrics_3row.csv" && q.row == 4));
    // So is the REDCap repeating-instrument row.
    let repeat = cleaned
        .quarantine
        .iter()
        .find(|q| q.file == "redcap_raw.csv")
        .unwrap();
    assert_eq!(
        (repeat.row, repeat.reasons[0].code()),
        (5, "repeat_instance")
    );
}

#[test]
fn init_drafts_a_spec_from_a_redcap_dictionary_that_reads_the_raw_export() {
    let dict = fixture("redcap_dictionary.csv");
    let t = TestRun::new().args([
        "init",
        "r",
        "--from-redcap-dictionary",
        dict.to_str().unwrap(),
    ]);
    t.run().expect_code(0);
    let spec = std::fs::read_to_string(t.path("r/survey.toml")).unwrap();
    assert!(
        spec.contains("id = \"crit_cat\"\ntext = \"Critical cats\"\ntype = \"multi\""),
        "{spec}"
    );
    assert!(
        spec.contains("range = [0, 100000]"),
        "validated integers become numeric with their range"
    );
    assert!(
        spec.contains("identifying = [\"record_id\", \"org_name\"]"),
        "Identifier? = y"
    );
    assert!(
        spec.contains("intro (descriptive)"),
        "descriptive fields are listed as left out"
    );
    std::fs::copy(fixture("redcap_raw.csv"), t.path("r/responses.csv")).unwrap();
    let u = t
        .again()
        .write("r/population.csv", "subsector,count\n1,10\n2,10\n3,10\n")
        .args(["validate", "r"]);
    // The spec and data read; with 2 usable responses the run would fail its quality gate,
    // and validate says so (exit 1) instead of "valid".
    let out = u.run().expect_code(1);
    assert!(
        out.stdout.contains("layout redcap") && out.stdout.contains("2 kept"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("quality gate would fail: 2 usable responses"),
        "{}",
        out.stderr
    );
}

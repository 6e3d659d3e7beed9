//! `supplyrisk init --from-redcap-dictionary FILE`: a REDCap data dictionary (the 18-column CSV)
//! turned into a starting `survey.toml` — one question per field, choices as options, validated
//! numbers as numeric questions with their range, identifier fields marked identifying.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::ingest::{read_path, ReadOptions};

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Field labels may carry HTML; keep the text.
fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `1, Direct patient care | 2, Public health` → [(code, label)].
fn parse_choices(raw: &str) -> Vec<(String, String)> {
    raw.split('|')
        .filter_map(|c| {
            let (code, label) = c.split_once(',')?;
            let (code, label) = (code.trim(), strip_tags(label.trim()));
            (!code.is_empty()).then(|| (code.to_string(), label))
        })
        .collect()
}

fn options_toml(choices: &[(String, String)]) -> String {
    let mut s = String::from("options = [\n");
    for (code, label) in choices {
        let code_toml = if code.parse::<i64>().is_ok() {
            code.clone()
        } else {
            quoted(code)
        };
        let _ = writeln!(s, "  {{ code = {code_toml}, label = {} }},", quoted(label));
    }
    s.push(']');
    s
}

pub(super) fn spec_from_dictionary(file: &Path) -> Result<String> {
    let display = file.display().to_string();
    let opts = ReadOptions {
        layout: crate::spec::Layout::Plain,
        ..ReadOptions::default()
    };
    let table = read_path(file, &display, &opts)?;
    let col = |names: &[&str]| {
        table
            .columns
            .iter()
            .position(|c| names.iter().any(|n| c.id.eq_ignore_ascii_case(n)))
    };
    let need = |names: &[&str]| {
        col(names).ok_or_else(|| {
            Error::input(
                &display,
                format!("not a REDCap data dictionary: no `{}` column", names[0]),
            )
        })
    };
    let (name_c, type_c, label_c) = (
        need(&["Variable / Field Name", "field_name"])?,
        need(&["Field Type", "field_type"])?,
        need(&["Field Label", "field_label"])?,
    );
    let choices_c = col(&[
        "Choices, Calculations, OR Slider Labels",
        "select_choices_or_calculations",
    ]);
    let valid_c = col(&[
        "Text Validation Type OR Show Slider Number",
        "text_validation_type_or_show_slider_number",
    ]);
    let min_c = col(&["Text Validation Min", "text_validation_min"]);
    let max_c = col(&["Text Validation Max", "text_validation_max"]);
    let ident_c = col(&["Identifier?", "identifier"]);
    fn get<'a>(row: crate::ingest::SourceRow<'a>, c: Option<usize>) -> &'a str {
        c.map_or("", |c| row.cell(c).trim())
    }

    let mut questions = String::new();
    let mut key = None;
    let mut identifying = Vec::new();
    let mut skipped = Vec::new();
    for row in table.rows.iter() {
        let name = row.cell(name_c).trim();
        if name.is_empty() {
            continue;
        }
        let kind = row.cell(type_c).trim().to_ascii_lowercase();
        let label = strip_tags(row.cell(label_c));
        let body = match kind.as_str() {
            "radio" | "dropdown" => format!(
                "type = \"single\"\n{}",
                options_toml(&parse_choices(get(row, choices_c)))
            ),
            "checkbox" => format!(
                "type = \"multi\"\n{}",
                options_toml(&parse_choices(get(row, choices_c)))
            ),
            "yesno" => format!(
                "type = \"yesno\"\n{}",
                options_toml(&[("1".into(), "Yes".into()), ("0".into(), "No".into())])
            ),
            "truefalse" => format!(
                "type = \"yesno\"\n{}",
                options_toml(&[("1".into(), "True".into()), ("0".into(), "False".into())])
            ),
            "slider" => "type = \"numeric\"\nrange = [0, 100]".to_string(),
            "text" => {
                let v = get(row, valid_c).to_ascii_lowercase();
                if ["integer", "number"].iter().any(|t| v.starts_with(t)) {
                    let (lo, hi) = (
                        get(row, min_c).parse::<f64>().ok(),
                        get(row, max_c).parse::<f64>().ok(),
                    );
                    match (lo, hi) {
                        (Some(lo), Some(hi)) if lo < hi => {
                            format!("type = \"numeric\"\nrange = [{lo}, {hi}]")
                        }
                        _ => "type = \"numeric\"".to_string(),
                    }
                } else {
                    "type = \"text\"".to_string()
                }
            }
            "notes" => "type = \"text\"".to_string(),
            other => {
                skipped.push(format!("{name} ({other})"));
                continue;
            }
        };
        if key.is_none() {
            key = Some(name.to_string());
        }
        if get(row, ident_c).eq_ignore_ascii_case("y") {
            identifying.push(quoted(name));
        }
        let _ = write!(questions, "\n[[questions]]\nid = {}\ntext = {}\n{body}\n# domain = \"GV.SC-01\"   # map scored items to a domain and give options a score\n", quoted(name), quoted(&label));
    }
    let key = key.ok_or_else(|| Error::input(&display, "the dictionary lists no usable fields"))?;
    if !identifying.contains(&quoted(&key)) {
        identifying.insert(0, quoted(&key));
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# survey.toml drafted from the REDCap data dictionary {display} by `supplyrisk init`."
    );
    let _ = writeln!(s, "# Review every question, add domains, scores, segments and metrics. Format: docs/survey-spec.md");
    if !skipped.is_empty() {
        let _ = writeln!(
            s,
            "# Fields left out (no answers to analyse): {}",
            skipped.join(", ")
        );
    }
    let _ = write!(
        s,
        "\n[survey]\nid = \"my-survey\"\nround = \"2025\"\ntitle = \"My survey\"\ntlp = \"GREEN\"\n\n\
         [[sources]]\npath = \"responses.csv\"   # the REDCap raw export (CSV)\nlayout = \"redcap\"\n\n\
         [respondent]\nkey = {}\nidentifying = [{}]\n{questions}\n\
         [design]\npopulation = \"population.csv\"   # one column per weighting variable + count\n\n\
         [weighting]\nmethod = \"none\"\n",
        quoted(&key),
        identifying.join(", ")
    );
    Ok(s)
}

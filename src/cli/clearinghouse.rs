//! `supplyrisk clearinghouse add|series|list|export`: printing what the store
//! (`crate::clearinghouse`) answers.

use super::{report_error, say, ClearinghouseCommand, ListFormat, SeriesFormat};
use crate::clearinghouse::{Added, Series, Store};
use crate::error::{Error, EXIT_OK};
use crate::table::Table;

pub(super) fn clearinghouse(action: ClearinghouseCommand, quiet: bool) -> u8 {
    match run(action, quiet) {
        Ok(()) => EXIT_OK,
        Err(e) => report_error(&e),
    }
}

fn run(action: ClearinghouseCommand, quiet: bool) -> crate::error::Result<()> {
    match action {
        ClearinghouseCommand::Add {
            out_dirs,
            store,
            replace,
        } => {
            let fresh = !store.exists();
            let mut s = Store::open(&store)?;
            let added = match s.add(&out_dirs, replace) {
                Ok(a) => a,
                Err(e) => {
                    if fresh {
                        // Nothing was added: leave no empty store behind.
                        drop(s);
                        let _ = std::fs::remove_file(&store);
                    }
                    return Err(e);
                }
            };
            for r in added {
                let what = match &r.added {
                    Added::New { values } => format!("added ({values} metric rows)"),
                    Added::Unchanged => "already in the store: nothing changed".to_string(),
                    Added::Replaced { values, replaced } => format!(
                        "replaced the output with manifest {} ({values} metric rows; recorded in `replacements`)",
                        replaced.get(..12).unwrap_or(replaced)
                    ),
                };
                say(
                    quiet,
                    &format!(
                        "{} round {} from {}: {what}",
                        r.survey_id,
                        r.round,
                        r.folder.display()
                    ),
                );
            }
            let counts = s
                .counts()?
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            say(quiet, &format!("{}: {counts}", s.path().display()));
        }
        ClearinghouseCommand::Series {
            metric_id,
            segment,
            store,
            format,
        } => {
            let segment = match &segment {
                None => None,
                Some(text) => Some(text.split_once('=').ok_or_else(|| {
                    Error::input(
                        "--segment",
                        format!("`{text}`: expected VAR=VALUE, e.g. subsector=dpc"),
                    )
                })?),
            };
            let series = Store::open_existing(&store)?.series(&metric_id, segment)?;
            let text = match format {
                SeriesFormat::Json => serde_json::to_string_pretty(&series).unwrap_or_default(),
                SeriesFormat::Csv => {
                    let mut buf = Vec::new();
                    series_table(&series)
                        .write_csv_to(&mut buf, std::path::Path::new("<stdout>"))?;
                    String::from_utf8_lossy(&buf).trim_end().to_string()
                }
                SeriesFormat::Table => series_text(&series),
            };
            say(quiet, &text);
        }
        ClearinghouseCommand::List { store, format } => {
            let held = Store::open_existing(&store)?.list()?;
            match format {
                ListFormat::Json => say(
                    quiet,
                    &serde_json::to_string_pretty(&held).unwrap_or_default(),
                ),
                ListFormat::Table => {
                    let mut out = vec![format!(
                        "{} rounds, {} metric versions in {}",
                        held.rounds.len(),
                        held.definitions.len(),
                        store.display()
                    )];
                    out.push(String::new());
                    out.push(format!(
                        "{:<16} {:<10} {:<17} {:>11} {:>7}  {:<8} {:<12} {}",
                        "survey",
                        "round",
                        "tlp",
                        "respondents",
                        "values",
                        "version",
                        "manifest",
                        "compared with"
                    ));
                    for r in &held.rounds {
                        out.push(format!(
                            "{:<16} {:<10} {:<17} {:>11} {:>7}  {:<8} {:<12} {}",
                            r.survey_id,
                            r.round,
                            r.tlp,
                            r.respondents,
                            r.values,
                            r.supplyrisk_version,
                            r.manifest_sha256.get(..12).unwrap_or(&r.manifest_sha256),
                            r.previous_round.as_deref().unwrap_or("-")
                        ));
                    }
                    out.push(String::new());
                    let id_w = held
                        .definitions
                        .iter()
                        .map(|d| d.metric_id.len())
                        .max()
                        .unwrap_or(6)
                        .max(6);
                    let title_w = held
                        .definitions
                        .iter()
                        .map(|d| d.title.chars().count())
                        .max()
                        .unwrap_or(5)
                        .max(5);
                    out.push(format!(
                        "{:<id_w$} {:>3}  {:<13} {:<title_w$} {}",
                        "metric", "ver", "kind", "title", "rounds"
                    ));
                    for d in &held.definitions {
                        out.push(format!(
                            "{:<id_w$} {:>3}  {:<13} {:<title_w$} {}",
                            d.metric_id,
                            d.metric_version,
                            d.kind,
                            d.title,
                            if d.rounds.is_empty() {
                                "-".to_string()
                            } else {
                                d.rounds.join(", ")
                            }
                        ));
                    }
                    say(quiet, &out.join("\n"));
                }
            }
        }
        ClearinghouseCommand::Export { out, store } => {
            let s = Store::open_existing(&store)?;
            let files = crate::clearinghouse::export(&s, &out)?;
            say(
                quiet,
                &format!(
                    "wrote {} files to {} (Frictionless Data Package: datapackage.json)",
                    files.len(),
                    out.display()
                ),
            );
        }
    }
    Ok(())
}

/// The series as CSV: every row, with the strictest TLP of the output in `tlp`.
fn series_table(s: &Series) -> Table {
    let r = &s.rows;
    let mut t = Table::new();
    t.text("survey_id", r.iter().map(|x| Some(x.survey_id.clone())))
        .text("round", r.iter().map(|x| Some(x.round.clone())))
        .text("metric_id", r.iter().map(|x| Some(x.metric_id.clone())))
        .int("metric_version", r.iter().map(|x| Some(x.metric_version)))
        .text("statistic", r.iter().map(|x| Some(x.statistic.clone())))
        .text("level", r.iter().map(|x| Some(x.level.clone())))
        .text("segment_var", r.iter().map(|x| Some(x.segment_var.clone())))
        .text(
            "segment_value",
            r.iter().map(|x| Some(x.segment_value.clone())),
        )
        .float("estimate", r.iter().map(|x| x.estimate))
        .float("se", r.iter().map(|x| x.se))
        .float("ci_low", r.iter().map(|x| x.ci_low))
        .float("ci_high", r.iter().map(|x| x.ci_high))
        .int("n", r.iter().map(|x| x.n))
        .text("flag", r.iter().map(|x| Some(x.flag.clone())))
        .boolean("suppressed", r.iter().map(|x| Some(x.suppressed)))
        .text("previous_round", r.iter().map(|x| x.previous_round.clone()))
        .float("change", r.iter().map(|x| x.change))
        .float("change_se", r.iter().map(|x| x.change_se))
        .text(
            "change_se_method",
            r.iter().map(|x| Some(x.change_se_method.clone())),
        )
        .float("change_ci_low", r.iter().map(|x| x.change_ci_low))
        .float("change_ci_high", r.iter().map(|x| x.change_ci_high))
        .float("change_p_value", r.iter().map(|x| x.change_p_value))
        .text(
            "change_status",
            r.iter().map(|x| Some(x.change_status.clone())),
        )
        .text("round_tlp", r.iter().map(|x| Some(x.round_tlp.clone())))
        .text("tlp", r.iter().map(|_| Some(s.tlp.clone())));
    t
}

/// The series for a terminal: the TLP first, then one line per round and level.
fn series_text(s: &Series) -> String {
    let num = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    let titles = s
        .titles
        .iter()
        .map(|(v, t)| format!("v{v} {t}"))
        .collect::<Vec<_>>()
        .join("; ");
    let first = &s.rows[0];
    let segment = if first.segment_var == crate::estimate::ALL {
        "all organizations".to_string()
    } else {
        format!("{}={}", first.segment_var, first.segment_value)
    };
    let mut out = vec![
        s.tlp.clone(),
        format!("{} ({titles}), {segment}", s.metric_id),
        String::new(),
        format!(
            "{:<12} {:<8} {:>3} {:<11} {:<10} {:>10} {:>23} {:>6}  {:>10} {:>9} {:<11} {:>23}",
            "survey",
            "round",
            "ver",
            "statistic",
            "level",
            "estimate",
            "95% CI",
            "n",
            "change",
            "SE",
            "SE method",
            "95% CI of change"
        ),
    ];
    for r in &s.rows {
        let ci = match (r.ci_low, r.ci_high) {
            (Some(a), Some(b)) => format!("[{a:.4}, {b:.4}]"),
            _ => "-".into(),
        };
        let (change, se, method, change_ci) = if r.change_status == "comparable" {
            (
                num(r.change),
                num(r.change_se),
                r.change_se_method.clone(),
                format!("[{}, {}]", num(r.change_ci_low), num(r.change_ci_high)),
            )
        } else {
            (
                r.change_status.replace('_', " "),
                String::new(),
                String::new(),
                String::new(),
            )
        };
        let estimate = if r.suppressed {
            "suppressed".to_string()
        } else {
            num(r.estimate)
        };
        out.push(format!(
            "{:<12} {:<8} {:>3} {:<11} {:<10} {:>10} {:>23} {:>6}  {:>10} {:>9} {:<11} {:>23}",
            r.survey_id,
            r.round,
            r.metric_version,
            r.statistic,
            r.level,
            estimate,
            ci,
            r.n.map_or("-".to_string(), |n| n.to_string()),
            change,
            se,
            method,
            change_ci
        ));
    }
    out.join("\n")
}

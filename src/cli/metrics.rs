//! `supplyrisk metrics catalog|lock`: the metric catalog as the measurement group reads it, and
//! the lock that keeps a version's definition fixed (docs/metrics.md).

use serde_json::json;

use super::{report_error, say, MetricsCommand};
use crate::error::{EXIT_ERROR, EXIT_OK};
use crate::spec::catalog::{self, Status};

pub(super) fn metrics(action: MetricsCommand, quiet: bool) -> u8 {
    match action {
        MetricsCommand::Catalog { round_dir, json } => {
            let spec = match crate::spec::load(&round_dir) {
                Ok(s) => s,
                Err(e) => return report_error(&e),
            };
            let lock = match catalog::read_lock(&spec) {
                Ok(l) => l,
                Err(e) => return report_error(&e),
            };
            let status = |m: &catalog::Entry<'_>| match catalog::status(lock.as_ref(), m) {
                Status::Locked => "locked".to_string(),
                Status::New => "new".to_string(),
                Status::Changed(d) => format!(
                    "CHANGED ({})",
                    d.iter()
                        .map(|x| x.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let s = &spec.spec;
            let entries = catalog::entries(s);
            if json {
                let metrics: Vec<_> = entries
                    .iter()
                    .map(|m| {
                        let mut d = serde_json::to_value(&m.definition).unwrap_or_default();
                        d["id"] = json!(m.id);
                        d["version"] = json!(m.version);
                        d["lock"] = json!(status(m));
                        d
                    })
                    .collect();
                let doc = json!({
                    "survey_id": s.survey.id,
                    "round": s.survey.round,
                    "lock_file": catalog::lock_path(&spec).display().to_string(),
                    "metrics": metrics,
                });
                say(
                    quiet,
                    &serde_json::to_string_pretty(&doc).unwrap_or_default(),
                );
            } else {
                say(
                    quiet,
                    &format!(
                        "{} round {} — {} metrics (lock: {})",
                        s.survey.id,
                        s.survey.round,
                        entries.len(),
                        catalog::lock_path(&spec).display()
                    ),
                );
                // Columns as wide as their longest value.
                let width = |f: fn(&catalog::Entry<'_>) -> usize, least: usize| {
                    entries.iter().map(f).max().unwrap_or(least).max(least)
                };
                let id_w = width(|m| m.id.len(), 2);
                let kind_w = width(|m| m.definition["kind"].len(), 4);
                let var_w = width(|m| m.variable.len(), 8);
                say(
                    quiet,
                    &format!(
                        "{:<id_w$} {:>3}  {:<kind_w$} {:<var_w$} {:<9} {:<10} {}",
                        "id", "ver", "kind", "variable", "csf", "lock", "title"
                    ),
                );
                for m in &entries {
                    say(
                        quiet,
                        &format!(
                            "{:<id_w$} {:>3}  {:<kind_w$} {:<var_w$} {:<9} {:<10} {}",
                            m.id,
                            m.version,
                            m.definition["kind"],
                            m.variable,
                            m.definition["csf"],
                            status(m),
                            m.title
                        ),
                    );
                }
            }
            EXIT_OK
        }
        MetricsCommand::Lock { round_dir } => {
            let spec = match crate::spec::load(&round_dir) {
                Ok(s) => s,
                Err(e) => return report_error(&e),
            };
            match catalog::update(&spec) {
                Err(e) => {
                    report_error(&e);
                    EXIT_ERROR
                }
                Ok(added) => {
                    say(
                        quiet,
                        &format!(
                            "{}: {} new metric version(s) locked{}",
                            catalog::lock_path(&spec).display(),
                            added.len(),
                            added
                                .iter()
                                .map(|e| format!("\n  {} v{}", e.id, e.version))
                                .collect::<String>()
                        ),
                    );
                    EXIT_OK
                }
            }
        }
    }
}

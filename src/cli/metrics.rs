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
            let status = |m| match catalog::status(lock.as_ref(), m) {
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
            if json {
                let metrics: Vec<_> = s
                    .metrics
                    .iter()
                    .map(|m| {
                        let mut d =
                            serde_json::to_value(catalog::definition(m)).unwrap_or_default();
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
                        s.metrics.len(),
                        catalog::lock_path(&spec).display()
                    ),
                );
                // Columns as wide as their longest value.
                let id_w = s
                    .metrics
                    .iter()
                    .map(|m| m.id.len())
                    .max()
                    .unwrap_or(2)
                    .max(2);
                let kind_w = s
                    .metrics
                    .iter()
                    .map(|m| catalog::definition(m)["kind"].to_string().len())
                    .max()
                    .unwrap_or(4)
                    .max(4);
                let var_w = s
                    .metrics
                    .iter()
                    .map(|m| m.variable.len())
                    .max()
                    .unwrap_or(8)
                    .max(8);
                say(
                    quiet,
                    &format!(
                        "{:<id_w$} {:>3}  {:<kind_w$} {:<var_w$} {:<9} {:<10} {}",
                        "id", "ver", "kind", "variable", "csf", "lock", "title"
                    ),
                );
                for m in &s.metrics {
                    let d = catalog::definition(m);
                    say(
                        quiet,
                        &format!(
                            "{:<id_w$} {:>3}  {:<kind_w$} {:<var_w$} {:<9} {:<10} {}",
                            m.id,
                            m.version,
                            d["kind"],
                            m.variable,
                            d["csf"],
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

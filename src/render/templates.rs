//! The report's templates: `report.html` and `summary.md` are rendered with minijinja from the
//! default templates in `src/render/templates/` (built into the binary), or from a round's own
//! folder (`[report] templates = "…"`), whose files replace the defaults of the same name.
//!
//! Every value a template prints is escaped for its output: HTML for `.html` templates, and
//! Markdown for `.md` templates ([`super::md`]: only what Markdown reads as syntax). Only the
//! charts' SVG is passed as markup, so a template cannot forget to escape a label.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, Value};

use crate::error::{Error, Result};

/// The default templates, by name (what a round's folder may replace).
pub const DEFAULTS: [(&str, &str); 4] = [
    ("report.html", include_str!("templates/report.html")),
    ("benchmark.html", include_str!("templates/benchmark.html")),
    ("summary.md", include_str!("templates/summary.md")),
    ("macros.html", include_str!("templates/macros.html")),
];

const MARKDOWN: &str = "markdown";

fn is_markdown(a: &AutoEscape) -> bool {
    matches!(a, AutoEscape::Custom(name) if name == MARKDOWN)
}

/// The template environment: a round's folder first (if any), then the defaults.
pub fn environment(folder: Option<PathBuf>) -> Environment<'static> {
    let mut env = Environment::new();
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".md") {
            AutoEscape::Custom(MARKDOWN.into())
        } else {
            AutoEscape::Html
        }
    });
    env.set_formatter(|out, state, value| {
        if is_markdown(state.auto_escape()) && !value.is_safe() {
            if value.is_none() || value.is_undefined() {
                return Ok(());
            }
            let text = value.to_string();
            out.write_str(&super::md(&text)).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
            })
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    // `{{ n | count("source file") }}` → "1 source file", "2 source files".
    env.add_filter("count", |n: i64, noun: String| {
        crate::words::count(n, &noun)
    });
    env.set_loader(move |name| {
        if let Some(dir) = &folder {
            if let Some(text) = read_from(dir, name)? {
                return Ok(Some(text));
            }
        }
        Ok(DEFAULTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| (*t).to_string()))
    });
    env
}

/// A template from a round's folder: `None` when the folder does not have it. Names are plain
/// relative paths inside the folder.
fn read_from(dir: &Path, name: &str) -> std::result::Result<Option<String>, minijinja::Error> {
    let rel = Path::new(name);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::TemplateNotFound,
            format!("`{name}` is not a path inside the template folder"),
        ));
    }
    let path = dir.join(rel);
    match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("{} is not UTF-8 text", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("{}: {e}", path.display()),
        )),
    }
}

/// Render one template with a context, naming the template (and the round's folder) in the
/// error: a template is user input like the spec.
pub fn render(
    env: &Environment<'_>,
    name: &str,
    ctx: &Value,
    folder: Option<&Path>,
) -> Result<String> {
    let where_ = || match folder {
        Some(d) if d.join(name).is_file() => d.join(name).display().to_string(),
        _ => format!("built-in template {name}"),
    };
    let t = env
        .get_template(name)
        .map_err(|e| Error::input(where_(), template_error(&e)))?;
    t.render(ctx)
        .map_err(|e| Error::input(where_(), template_error(&e)))
}

/// A minijinja error with its line and the chain of causes (an included template's error).
fn template_error(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    if let Some(line) = e.line() {
        s = format!("line {line}: {s}");
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(&format!("; {c}"));
        cause = c.source();
    }
    s
}

/// The files of a round's template folder (relative paths, sorted), for the manifest.
pub fn folder_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(root, &p, out),
                Ok(t) if t.is_file() => {
                    if let Ok(rel) = p.strip_prefix(root) {
                        out.push(rel.to_path_buf());
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

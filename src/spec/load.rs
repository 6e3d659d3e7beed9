//! Reading `survey.toml`: TOML syntax and shape errors come from serde with their span;
//! semantic problems come from [`super::validate`] as key paths, resolved here to spans so that
//! every message names the file, line and key.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use toml::de::DeTable;

use super::{validate, LoadedSpec, Spec};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// One problem found in a spec, located by key path.
#[derive(Debug, Clone)]
pub struct SpecProblem {
    pub path: Vec<PathSeg>,
    pub message: String,
}

impl SpecProblem {
    pub fn new(path: Vec<PathSeg>, message: impl Into<String>) -> Self {
        SpecProblem {
            path,
            message: message.into(),
        }
    }

    /// The key path as written in TOML, e.g. `questions[3].domain`.
    pub fn dotted(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            match seg {
                PathSeg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                PathSeg::Index(i) => {
                    let _ = write!(s, "[{i}]");
                }
            }
        }
        s
    }
}

/// A spec that cannot be used: every problem, each with its file position when known.
#[derive(Debug)]
pub struct SpecError {
    pub file: String,
    pub problems: Vec<LocatedProblem>,
    rendered: String,
}

#[derive(Debug, Clone)]
pub struct LocatedProblem {
    /// 1-based line and column, when the key was found in the file.
    pub line_col: Option<(usize, usize)>,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rendered)
    }
}

impl std::error::Error for SpecError {}

#[derive(Debug)]
struct SpanDiagnostic {
    message: String,
    src: NamedSource<String>,
    span: Option<Range<usize>>,
}

impl std::fmt::Display for SpanDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for SpanDiagnostic {}
impl Diagnostic for SpanDiagnostic {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span.clone()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some("here".to_string()),
            span,
        ))))
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |p| before.len() - p - 1)
        + 1;
    (line, col)
}

fn build_error(
    file: &str,
    text: &str,
    items: Vec<(Option<Range<usize>>, String, String)>,
) -> SpecError {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut rendered = String::new();
    let mut problems = Vec::new();
    let count = items.len();
    for (span, key, message) in items {
        let lc = span.as_ref().map(|s| line_col(text, s.start));
        let location = match lc {
            Some((l, c)) => format!("{file}:{l}:{c}"),
            None => file.to_string(),
        };
        let head = if key.is_empty() {
            format!("{location}: {message}")
        } else {
            format!("{location}: `{key}`: {message}")
        };
        let diag = SpanDiagnostic {
            message: head,
            src: NamedSource::new(file, text.to_string()),
            span,
        };
        let mut out = String::new();
        if handler.render_report(&mut out, &diag).is_err() {
            out = diag.message.clone();
        }
        rendered.push_str(&out);
        problems.push(LocatedProblem {
            line_col: lc,
            key,
            message,
        });
    }
    let _ = write!(
        rendered,
        "{count} problem{} in {file}",
        if count == 1 { "" } else { "s" }
    );
    SpecError {
        file: file.to_string(),
        problems,
        rendered,
    }
}

/// Span of the deepest part of `path` that exists in the document (the key itself when it exists).
fn span_of(doc: &toml::Spanned<DeTable<'_>>, path: &[PathSeg]) -> Option<Range<usize>> {
    let (PathSeg::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = doc
        .get_ref()
        .iter()
        .find(|(key, _)| key.get_ref().as_ref() == first.as_str())?;
    let mut cur = value;
    let mut best = Some(key.span());
    for seg in rest {
        let next = match seg {
            PathSeg::Key(k) => {
                let Some(table) = cur.get_ref().as_table() else {
                    break;
                };
                let found = table
                    .iter()
                    .find(|(key, _)| key.get_ref().as_ref() == k.as_str());
                match found {
                    Some((key, value)) => {
                        best = Some(key.span());
                        value
                    }
                    None => break,
                }
            }
            PathSeg::Index(i) => match cur.get_ref().as_array().and_then(|a| a.get(*i)) {
                Some(v) => {
                    best = Some(v.span());
                    v
                }
                None => break,
            },
        };
        cur = next;
    }
    // Point at the value for leaf scalars (the key for tables and arrays of tables).
    if let Some(PathSeg::Index(_)) | Some(PathSeg::Key(_)) = path.last() {
        if !cur.get_ref().is_table() && !cur.get_ref().is_array() && best.is_some() {
            return Some(cur.span());
        }
    }
    best
}

/// Parse and validate a spec held in memory. `file` names it in messages; `dir` is the round
/// directory that source paths resolve against.
pub fn load_str(text: &str, file: &str, dir: &Path) -> Result<LoadedSpec, SpecError> {
    let mut spec: Spec = match toml::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.message().trim_end().to_string();
            return Err(build_error(
                file,
                text,
                vec![(e.span(), String::new(), msg)],
            ));
        }
    };
    super::builtin_scales::apply(&mut spec);
    let loaded = LoadedSpec {
        spec,
        dir: dir.to_path_buf(),
        path: dir.join("survey.toml"),
        text: text.to_string(),
    };
    let problems = validate::validate(&loaded);
    if problems.is_empty() {
        return Ok(loaded);
    }
    let doc = DeTable::parse(text).ok();
    let items = problems
        .into_iter()
        .map(|p| {
            let span = doc.as_ref().and_then(|d| span_of(d, &p.path));
            (span, p.dotted(), p.message)
        })
        .collect();
    Err(build_error(file, text, items))
}

/// Read, parse and validate `<round_dir>/survey.toml` (or a path to the toml itself).
pub fn load(path: &Path) -> Result<LoadedSpec, crate::Error> {
    let (dir, file) = if path.is_dir() {
        (path.to_path_buf(), path.join("survey.toml"))
    } else {
        (
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
            path.to_path_buf(),
        )
    };
    let text = std::fs::read_to_string(&file).map_err(|e| crate::Error::io(&file, e))?;
    let mut loaded = load_str(&text, &file.display().to_string(), &dir)?;
    loaded.path = file;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }

    #[test]
    fn span_of_finds_nested_array_keys() {
        let text = "[[q]]\nid = 'a'\n[[q]]\nid = 'b'\ndomain = 'X'\n";
        let doc = DeTable::parse(text).unwrap();
        let path = vec![
            PathSeg::Key("q".into()),
            PathSeg::Index(1),
            PathSeg::Key("domain".into()),
        ];
        let span = span_of(&doc, &path).unwrap();
        assert_eq!(&text[span], "'X'");
    }
}

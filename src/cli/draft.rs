//! `supplyrisk init <ROUND_DIR> --from <EXPORT>...`: a first survey.toml drafted from the exports
//! themselves — sources with their layout, the respondent key and the identifying columns, one
//! line per question with its type inferred from the answers found (numeric, yes/no, a built-in
//! scale, single or multiple choice, free text), the options and missing codes seen, segment
//! candidates, and a placeholder population.csv — so that the draft validates and runs (weighting
//! `none`) before a person decides what only a person can: domains, scoring, metrics, weighting.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ingest::{layout_name, looks_identifying, read_path, ReadOptions, SourceTable};
use crate::spec::builtin_scales;

/// Platform columns every export layout adds (timestamps, status, progress, ids): not questions.
const METADATA: [&str; 29] = [
    "event name",
    "repeat instrument",
    "repeat instance",
    "startdate",
    "enddate",
    "status",
    "ipaddress",
    "progress",
    "duration (in seconds)",
    "finished",
    "recordeddate",
    "responseid",
    "distributionchannel",
    "userlanguage",
    "locationlatitude",
    "locationlongitude",
    "start time",
    "completion time",
    "last modified time",
    "id",
    "respondent id",
    "collector id",
    "start date",
    "end date",
    "ip address",
    "redcap_survey_identifier",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "q_recaptchascore",
];

/// The draft's `cleaning.fuzzy_threshold`: typos this close to a label are read as it.
const FUZZY: f64 = 0.92;

/// Answers that are declared missing codes whatever the question.
const MISSING: [(&str, &str); 3] = [
    ("dk", "Don't know"),
    ("na", "Not applicable"),
    ("pns", "Prefer not to say"),
];

fn missing_code(answer: &str) -> Option<&'static str> {
    let a = crate::clean::normalize_label(answer).replace('’', "'");
    match a.as_str() {
        "don't know" | "dont know" | "do not know" | "dk" | "unsure" | "not sure" => Some("dk"),
        "n/a" | "na" | "not applicable" | "does not apply" => Some("na"),
        "prefer not to say" | "prefer not to answer" | "decline to answer" => Some("pns"),
        _ => None,
    }
}

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// An identifier from a header: letters, digits and `_`, starting with a letter.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("q_{out}")
    }
}

/// Distinct answers with their counts.
type Answers = Vec<(String, usize)>;

/// A drafted option: the most frequent spelling and the close variants seen.
pub type Opt = (String, Vec<String>);

/// Answers grouped into options: a spelling within Jaro–Winkler 0.9 of a more frequent one (after
/// normalizing case, spacing and accents) is taken as a variant of it ("Direct ptient care").
fn group(answers: &[(String, usize)]) -> Vec<Opt> {
    let mut out: Vec<Opt> = Vec::new();
    for (a, _) in answers {
        let n = crate::clean::normalize_label(a);
        let close = out.iter_mut().find(|(l, _)| {
            let m = crate::clean::normalize_label(l);
            m == n || strsim::jaro_winkler(&m, &n) >= 0.9
        });
        match close {
            Some((l, variants)) => {
                if crate::clean::normalize_label(l) != n {
                    variants.push(a.clone());
                }
            }
            None => out.push((a.clone(), Vec::new())),
        }
    }
    out
}

/// What the answers of one column say its question is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Numeric,
    Text,
    /// A built-in scale ("yesno" → type yesno; others → likert).
    Scale(String),
    /// Options (label, and the spellings taken as variants of it), most frequent first.
    Single(Vec<Opt>),
    Multi(Vec<Opt>),
}

/// The kind of a column from its distinct answers (blank excluded) and how often each occurs.
pub fn infer(answers: &[(String, usize)]) -> Kind {
    let substantive: Vec<&(String, usize)> = answers
        .iter()
        .filter(|(a, _)| missing_code(a).is_none())
        .collect();
    if substantive.is_empty() {
        return Kind::Text;
    }
    if substantive
        .iter()
        .all(|(a, _)| a.replace(',', "").trim().parse::<f64>().is_ok())
        && substantive.len() > 2
    {
        return Kind::Numeric;
    }
    // A built-in scale that covers every answer (by label or alias), smallest first.
    let lib = builtin_scales::library();
    let mut fits: Vec<(&String, usize)> = lib
        .iter()
        .filter_map(|(name, scale)| {
            let known: Vec<String> = scale
                .options
                .iter()
                .flat_map(|o| std::iter::once(&o.label).chain(&o.aliases))
                .chain(
                    scale
                        .missing
                        .iter()
                        .flat_map(|m| std::iter::once(&m.label).chain(&m.aliases)),
                )
                .map(|l| crate::clean::normalize_label(l))
                .collect();
            // Typos within the draft's fuzzy threshold count as the label they misspell.
            let all = substantive.iter().all(|(a, _)| {
                let n = crate::clean::normalize_label(a);
                known.contains(&n) || known.iter().any(|k| strsim::jaro_winkler(k, &n) >= FUZZY)
            });
            (all && substantive.len() >= 2).then_some((name, scale.options.len()))
        })
        .collect();
    fits.sort_by_key(|(name, n)| (*n, (*name).clone()));
    if let Some((name, _)) = fits.first() {
        return Kind::Scale((*name).clone());
    }
    let total: usize = substantive.iter().map(|a| a.1).sum();
    // Several choices in one cell, separated by `;` (Forms) with a small set of parts.
    if substantive.iter().any(|(a, _)| a.contains(';')) {
        let mut parts: BTreeMap<String, usize> = BTreeMap::new();
        for (a, n) in &substantive {
            for p in a.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                *parts.entry(p.to_string()).or_default() += n;
            }
        }
        if parts.len() <= 25 {
            let mut v: Vec<(String, usize)> = parts.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            return Kind::Multi(group(&v));
        }
    }
    // Mostly unique answers (identifiers, names, free text) are not options.
    if substantive.len() > 15 && substantive.len() * 2 > total {
        return Kind::Text;
    }
    // Close spellings are one option; a handful of answers may be all distinct.
    let own: Vec<(String, usize)> = substantive.iter().map(|x| (*x).clone()).collect();
    let options = group(&own);
    if options.len() <= 15 && (options.len() * 2 <= total || total <= 10) {
        return Kind::Single(options);
    }
    Kind::Text
}

/// One drafted question.
struct Draft {
    id: String,
    column: String,
    text: Option<String>,
    kind: Kind,
    /// Missing codes seen among the answers.
    missing: Vec<&'static str>,
    identifying: bool,
    /// Other headers the question has in other exports.
    aliases: Vec<String>,
    /// The answers found, over every export (the kind is inferred from them at the end).
    answers: Vec<(String, usize)>,
}

impl Draft {
    /// Take in the same question as drafted from another export: its options (or spellings of
    /// them) and missing codes.
    fn absorb(&mut self, other: Draft) {
        for m in other.missing {
            if !self.missing.contains(&m) {
                self.missing.push(m);
            }
        }
        for (a, n) in other.answers {
            match self.answers.iter_mut().find(|x| x.0 == a) {
                Some(x) => x.1 += n,
                None => self.answers.push((a, n)),
            }
        }
        self.answers
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        // Split multi-select columns carry their options in the headers.
        let (Kind::Multi(mine), Kind::Multi(theirs)) = (&mut self.kind, other.kind) else {
            return;
        };
        for (label, variants) in theirs {
            for spelling in std::iter::once(label).chain(variants) {
                let n = crate::clean::normalize_label(&spelling);
                let known = mine.iter().any(|(l, v)| {
                    crate::clean::normalize_label(l) == n
                        || v.iter().any(|x| crate::clean::normalize_label(x) == n)
                });
                if known {
                    continue;
                }
                match mine.iter_mut().find(|(l, _)| {
                    strsim::jaro_winkler(&crate::clean::normalize_label(l), &n) >= 0.9
                }) {
                    Some((_, v)) => v.push(spelling),
                    None => mine.push((spelling, Vec::new())),
                }
            }
        }
    }

    fn clone_shallow(&self) -> Draft {
        Draft {
            id: self.id.clone(),
            column: self.column.clone(),
            text: self.text.clone(),
            kind: self.kind.clone(),
            missing: self.missing.clone(),
            identifying: self.identifying,
            aliases: self.aliases.clone(),
            answers: self.answers.clone(),
        }
    }

    /// The question as one line of the `questions = [...]` array.
    fn line(&self) -> String {
        let mut s = format!("  {{ id = {}", q(&self.id));
        if self.column != self.id {
            let _ = write!(s, ", column = {}", q(&self.column));
        }
        if let Some(t) = &self.text {
            let _ = write!(s, ", text = {}", q(t));
        }
        if !self.aliases.is_empty() {
            let a: Vec<String> = self.aliases.iter().map(|x| q(x)).collect();
            let _ = write!(s, ", aliases = [{}]", a.join(", "));
        }
        let options = |labels: &[Opt]| {
            let mut seen: Vec<String> = Vec::new();
            labels
                .iter()
                .map(|(l, variants)| {
                    let mut code = slug(l);
                    while seen.contains(&code) {
                        code.push('_');
                    }
                    seen.push(code.clone());
                    if variants.is_empty() {
                        format!("{{ code = {}, label = {} }}", q(&code), q(l))
                    } else {
                        let v: Vec<String> = variants.iter().map(|x| q(x)).collect();
                        format!(
                            "{{ code = {}, label = {}, aliases = [{}] }}",
                            q(&code),
                            q(l),
                            v.join(", ")
                        )
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &self.kind {
            Kind::Numeric => s.push_str(", type = \"numeric\""),
            Kind::Text => s.push_str(", type = \"text\""),
            Kind::Scale(name) if name == "yesno" => s.push_str(", type = \"yesno\""),
            Kind::Scale(name) => {
                let _ = write!(s, ", type = \"likert\", scale = {}", q(name));
            }
            Kind::Single(labels) => {
                let _ = write!(s, ", type = \"single\", options = [{}]", options(labels));
            }
            Kind::Multi(labels) => {
                let _ = write!(s, ", type = \"multi\", options = [{}]", options(labels));
            }
        }
        let custom = matches!(self.kind, Kind::Single(_) | Kind::Multi(_));
        if custom && !self.missing.is_empty() {
            let m: Vec<String> = MISSING
                .iter()
                .filter(|(c, _)| self.missing.contains(c))
                .map(|(c, l)| format!("{{ code = {}, label = {} }}", q(c), q(l)))
                .collect();
            let _ = write!(s, ", missing = [{}]", m.join(", "));
        }
        s.push_str(" },");
        s
    }
}

/// The columns of one export drafted as questions (split multi-select columns joined).
fn questions_of(t: &SourceTable, taken: &mut Vec<String>) -> Vec<Draft> {
    let mut out: Vec<Draft> = Vec::new();
    let mut i = 0;
    while i < t.columns.len() {
        let c = &t.columns[i];
        let lower = c.id.trim().to_lowercase();
        if METADATA.contains(&lower.as_str())
            || lower.ends_with("_timestamp")
            || lower.ends_with("_complete")
            || lower.ends_with("complete?")
        {
            i += 1;
            continue;
        }
        // Qualtrics split multi-select: `Q5_1` … with "… - Selected Choice - <option>".
        let split = c
            .text
            .as_deref()
            .and_then(|x| x.split_once(" - Selected Choice - "))
            .map(|(stem, _)| stem.to_string());
        if let (Some(stem), Some((prefix, _))) = (split, c.id.rsplit_once('_')) {
            let mut labels = Vec::new();
            let mut j = i;
            while j < t.columns.len()
                && t.columns[j].id.rsplit_once('_').map(|x| x.0) == Some(prefix)
            {
                if let Some((_, label)) = t.columns[j]
                    .text
                    .as_deref()
                    .and_then(|x| x.split_once(" - Selected Choice - "))
                {
                    labels.push((label.to_string(), Vec::new()));
                }
                j += 1;
            }
            let id = slug(prefix);
            if !taken.contains(&id) {
                taken.push(id.clone());
                out.push(Draft {
                    id,
                    column: prefix.to_string(),
                    text: Some(stem),
                    kind: Kind::Multi(labels),
                    missing: Vec::new(),
                    identifying: false,
                    aliases: Vec::new(),
                    answers: Vec::new(),
                });
            }
            i = j;
            continue;
        }
        let (answers, _) = t.answers(i);
        let identifying = looks_identifying(&c.id, c.text.as_deref());
        let kind = if identifying {
            Kind::Text
        } else {
            infer(&answers)
        };
        let missing: Vec<&'static str> = {
            let mut m: Vec<&'static str> = answers
                .iter()
                .filter_map(|(a, _)| missing_code(a))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        // Exports whose headers are question texts (Forms, plain CSV) get short ids.
        let readable_id =
            c.id.len() <= 24 && c.id.chars().all(|x| x.is_ascii_alphanumeric() || x == '_');
        let mut id = if readable_id {
            c.id.clone()
        } else {
            format!("q{}", out.len() + 1)
        };
        while taken.contains(&id) {
            id.push('_');
        }
        taken.push(id.clone());
        let text = match &c.text {
            Some(x) if x != &c.id => Some(x.clone()),
            _ if !readable_id => Some(c.id.clone()),
            _ => None,
        };
        out.push(Draft {
            column: if readable_id {
                c.id.clone()
            } else {
                id.clone()
            },
            id,
            text,
            kind,
            missing,
            identifying,
            aliases: Vec::new(),
            answers,
        });
        // A header that is a question text is matched by `text`, not `column`.
        if !readable_id {
            if let Some(d) = out.last_mut() {
                d.column = d.id.clone();
            }
        }
        i += 1;
    }
    out
}

/// The drafted spec's text and the population.csv placeholder, from the exports read.
fn draft(dir: &Path, exports: &[(String, SourceTable)]) -> Result<(String, String)> {
    let name = dir
        .file_name()
        .map_or_else(|| "round".to_string(), |n| n.to_string_lossy().into_owned());
    let mut taken = Vec::new();
    let mut questions: Vec<Draft> = Vec::new();
    for (_, t) in exports {
        for d in questions_of(t, &mut taken) {
            // The same question in a second export: kept once (matched there by id or text),
            // with the options and spellings only that export has.
            match questions
                .iter_mut()
                .find(|x| x.id == d.id || (x.text.is_some() && x.text == d.text))
            {
                Some(x) => x.absorb(d),
                None => questions.push(d),
            }
        }
    }
    // Each question's kind from its answers in every export (split multi-select columns and
    // identifying columns keep theirs).
    for d in &mut questions {
        let split = matches!(d.kind, Kind::Multi(_)) && d.answers.is_empty();
        if !split && !d.identifying {
            d.kind = infer(&d.answers);
        }
    }
    // The respondent key: a column that names the organization's id, else the first text
    // question with all-distinct answers, else the platform's response id.
    let first = &exports[0].1;
    let key_like = |id: &str| {
        let l = id.to_lowercase();
        [
            "external",
            "member",
            "org_id",
            "orgid",
            "record_id",
            "record id",
            "respondent",
            "organization id",
        ]
        .iter()
        .any(|k| l.contains(k))
    };
    let key = questions
        .iter()
        .find(|d| key_like(&d.id) || key_like(&d.column))
        .map(|d| d.id.clone());
    // The key's column in the other exports ("HSCC member ID" beside Qualtrics'
    // ExternalReference) becomes an alias of the one key question.
    if let Some(k) = &key {
        let others: Vec<Draft> = questions
            .iter()
            .filter(|d| {
                &d.id != k
                    && (key_like(&d.id)
                        || key_like(&d.column)
                        || d.text.as_deref().is_some_and(key_like))
            })
            .filter(|d| matches!(d.kind, Kind::Text))
            .map(|d| Draft {
                aliases: Vec::new(),
                ..d.clone_shallow()
            })
            .collect();
        for o in &others {
            let header = o.text.clone().unwrap_or_else(|| o.column.clone());
            if let Some(kq) = questions.iter_mut().find(|d| &d.id == k) {
                kq.aliases.push(header);
            }
        }
        questions.retain(|d| !others.iter().any(|o| o.id == d.id));
    }
    let key = match key {
        Some(k) => k,
        None => {
            // Fall back on the platform's response id as a text question.
            let id_col = first
                .columns
                .iter()
                .find(|c| {
                    matches!(
                        c.id.to_lowercase().as_str(),
                        "responseid" | "respondent id" | "id" | "record_id" | "record id"
                    )
                })
                .ok_or_else(|| {
                    Error::input(
                        &exports[0].0,
                        "no column identifies the responding organization (an external reference, member id or response id); add one to the export",
                    )
                })?;
            let id = slug(&id_col.id);
            questions.insert(
                0,
                Draft {
                    id: id.clone(),
                    column: id_col.id.clone(),
                    text: None,
                    kind: Kind::Text,
                    missing: Vec::new(),
                    identifying: true,
                    aliases: Vec::new(),
                    answers: Vec::new(),
                },
            );
            id
        }
    };
    for d in &mut questions {
        if d.id == key {
            d.kind = Kind::Text;
            d.identifying = true;
        }
    }
    // Segment candidates: single-choice questions with 2–8 options, the fewest blanks first.
    let rows: usize = exports.iter().map(|(_, t)| t.rows.len()).sum();
    // (unanswered, question id, answer counts)
    let mut segments: Vec<(usize, String, Answers)> = Vec::new();
    for d in &questions {
        if let Kind::Single(labels) = &d.kind {
            if (2..=8).contains(&labels.len()) {
                let counts: Vec<(String, usize)> = d
                    .answers
                    .iter()
                    .filter(|(a, _)| missing_code(a).is_none())
                    .cloned()
                    .collect();
                let answered: usize = counts.iter().map(|c| c.1).sum();
                segments.push((rows.saturating_sub(answered), d.id.clone(), counts));
            }
        }
    }
    // The fewest unanswered first (a blank population variable quarantines the row).
    segments.sort_by_key(|s| s.0);
    let Some((_, frame_var, frame_counts)) = segments.first().cloned() else {
        return Err(Error::input(
            &exports[0].0,
            "no single-choice question with 2 to 8 answers to serve as the population's variable; write survey.toml from `supplyrisk init` without --from",
        ));
    };
    // The respondents' own counts per option (variants added to their option), labelled as
    // the spec labels them (population targets may name levels by label).
    let frame_q: Vec<Opt> = match questions
        .iter()
        .find(|d| d.id == frame_var)
        .map(|d| &d.kind)
    {
        Some(Kind::Single(o)) => o.clone(),
        _ => Vec::new(),
    };
    let mut population = format!("{frame_var},count\n");
    for (label, variants) in &frame_q {
        let n: usize = frame_counts
            .iter()
            .filter(|(a, _)| a == label || variants.contains(a))
            .map(|x| x.1)
            .sum();
        let quoted = if label.contains([',', '"']) {
            format!("\"{}\"", label.replace('"', "\"\""))
        } else {
            label.clone()
        };
        let _ = writeln!(population, "{quoted},{n}");
    }

    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Drafted by `supplyrisk init --from` from {}.\n# Check every line; the places marked TODO are for a person to decide. Format: docs/survey-spec.md\n",
        exports.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", ")
    );
    // The questions first: in TOML a top-level key cannot follow a table.
    let _ = writeln!(
        s,
        "# One line per question: type inferred from the answers found; options and missing codes as seen.\n# TODO: give scored items a `domain` (CSF 2.0 GV.SC-01 … 10) and `reverse = true` where a higher answer is worse,\n# and give the options of single/multi questions a `score` where they are scored."
    );
    s.push_str("questions = [\n");
    for d in &questions {
        s.push_str(&d.line());
        s.push('\n');
    }
    s.push_str("]\n\n");
    // A first metric per closed question: its distribution, so that the first report shows
    // every answer (ids and versions are the round's to keep stable — docs/metrics.md).
    s.push_str("# TODO: keep, rename or drop these metrics; the ids are what rounds are compared by.\nmetrics = [\n");
    for d in &questions {
        let kind = match &d.kind {
            Kind::Single(_) | Kind::Scale(_) => "distribution",
            Kind::Numeric => "mean",
            _ => continue,
        };
        let title = d.text.clone().unwrap_or_else(|| d.id.clone());
        let _ = writeln!(
            s,
            "  {{ id = {}, version = 1, title = {}, kind = \"{kind}\", variable = {}, definition = {} }},",
            q(&format!("DRAFT.{}", slug(&d.id).to_uppercase())),
            q(&title),
            q(&d.id),
            q(&format!(
                "{} of the answers to {} (drafted by init --from).",
                if kind == "mean" { "Weighted mean" } else { "Weighted distribution" },
                d.id
            ))
        );
    }
    s.push_str("]\n\n");
    let _ = writeln!(
        s,
        "[survey]\nid = {}\nround = {}\ntitle = {}\ntlp = \"AMBER\"  # TODO: the round's Traffic Light Protocol label\n",
        q(&slug(&name).replace('_', "-")),
        q(&name),
        q(&format!("{name} (draft)"))
    );
    for (file, t) in exports {
        let _ = writeln!(
            s,
            "[[sources]]\npath = {}\nlayout = {}",
            q(file),
            q(layout_name(t.layout))
        );
        if let Some(sheet) = &t.sheet {
            let _ = writeln!(s, "sheet = {}", q(sheet));
        }
        s.push('\n');
    }
    let identifying: Vec<String> = questions
        .iter()
        .filter(|d| d.identifying)
        .map(|d| q(&d.id))
        .collect();
    let _ = writeln!(
        s,
        "[respondent]\nkey = {}\nidentifying = [{}]  # never published\n",
        q(&key),
        identifying.join(", ")
    );
    let segs: Vec<String> = segments.iter().take(3).map(|x| q(&x.1)).collect();
    let _ = writeln!(
        s,
        "[design]\npopulation = \"population.csv\"  # TODO: the population's counts; it now holds the respondents' own counts\nfpc = false\n\n[weighting]\nmethod = \"none\"  # TODO: \"poststratify\" or \"rake\" once population.csv holds the population\nvariables = [{}]\n\n[segments]\nvariables = [{}]  # segment candidates: single-choice questions with 2–8 answers\n",
        q(&frame_var),
        segs.join(", ")
    );
    let _ = writeln!(
        s,
        "[cleaning]\nfuzzy_threshold = {FUZZY}  # typos this close to a label are read as it (and counted in the cleaning log)\n"
    );
    s.push_str("# TODO: [[domains]], [[metrics]] (stable ids and versions) and [publication] — docs/survey-spec.md\n");
    Ok((s, population))
}

/// Read the exports, copy them into the round folder, and write the draft spec and population.
pub(super) fn init_from(dir: &Path, exports: &[PathBuf]) -> Result<PathBuf> {
    let spec_path = dir.join("survey.toml");
    if spec_path.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; init never overwrites a spec",
            spec_path.display()
        )));
    }
    let mut read = Vec::new();
    for e in exports {
        let display = e.display().to_string();
        let table = read_path(e, &display, &ReadOptions::default())?;
        let file = e
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Usage(format!("{display} is not a file")))?;
        if read.iter().any(|(f, _): &(String, SourceTable)| f == &file) {
            return Err(Error::Usage(format!(
                "two exports are named {file}; rename one (the round folder holds both)"
            )));
        }
        read.push((file, table));
    }
    let (spec, population) = draft(dir, &read)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (e, (file, _)) in exports.iter().zip(&read) {
        let to = dir.join(file);
        if std::fs::canonicalize(e).ok() != std::fs::canonicalize(&to).ok() {
            std::fs::copy(e, &to).map_err(|err| Error::io(&to, err))?;
        }
    }
    let pop = dir.join("population.csv");
    if !pop.exists() {
        std::fs::write(&pop, population).map_err(|e| Error::io(&pop, e))?;
    }
    std::fs::write(&spec_path, spec).map_err(|e| Error::io(&spec_path, e))?;
    Ok(spec_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: &[(&str, usize)]) -> Vec<(String, usize)> {
        v.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    }

    #[test]
    fn types_are_inferred_from_the_answers() {
        assert_eq!(
            infer(&a(&[("12", 3), ("250", 2), ("1,000", 1)])),
            Kind::Numeric
        );
        assert_eq!(
            infer(&a(&[("Yes", 9), ("No", 4), ("Don't know", 1)])),
            Kind::Scale("yesno".into())
        );
        assert_eq!(
            infer(&a(&[
                ("Agree", 5),
                ("Neutral", 3),
                ("Strongly disagree", 1)
            ])),
            Kind::Scale("agree5".into())
        );
        assert_eq!(
            infer(&a(&[("Tier 2", 4), ("Tier 3", 2)])),
            Kind::Scale("csf_tier4".into())
        );
        let o = |l: &str, v: &[&str]| {
            (
                l.to_string(),
                v.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            infer(&a(&[
                ("Hospital", 6),
                ("Payer", 3),
                ("Lab", 2),
                ("Hosptal", 1)
            ])),
            Kind::Single(vec![
                o("Hospital", &["Hosptal"]),
                o("Payer", &[]),
                o("Lab", &[])
            ])
        );
        assert_eq!(
            infer(&a(&[("Legal;Procurement", 3), ("Legal", 2)])),
            Kind::Multi(vec![o("Legal", &[]), o("Procurement", &[])])
        );
        let free: Vec<(String, usize)> = (0..40).map(|i| (format!("answer {i}"), 1)).collect();
        assert_eq!(infer(&free), Kind::Text);
    }
}

//! Reading one cell into an [`Answer`]. Labels are matched exactly, then after normalization
//! (Unicode NFC, trim, collapse spaces, case-fold) against option labels, codes and aliases and
//! the declared missing codes; optionally by fuzzy similarity (Jaro–Winkler over the normalized
//! text, threshold in the spec). Numbers are parsed and range-checked; multi-select cells split.
//! Each question gets one [`Matcher`] with its lookups built once, so a million rows cost a hash
//! lookup per cell.

use std::collections::HashMap;
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use super::binding::Binding;
use crate::spec::{Question, QuestionType, Spec};

/// `strsim::jaro_winkler(a, b)` (`a` of `a_chars` characters, `b` of `b_chars`) when it can
/// reach `threshold`, else `None` — without computing it when the lengths alone rule that out:
/// Jaro is at most (2 + shorter/longer)/3 and Winkler's prefix bonus at most 0.4 of the rest,
/// so a megabyte answer is never compared character by character with a 20-character label
/// (that took seconds per label).
pub fn similarity_at_least(
    a: &str,
    a_chars: usize,
    b: &str,
    b_chars: usize,
    threshold: f64,
) -> Option<f64> {
    let (short, long) = (a_chars.min(b_chars), a_chars.max(b_chars));
    if long > 0 {
        let jaro_max = (2.0 + short as f64 / long as f64) / 3.0;
        if jaro_max + 0.4 * (1.0 - jaro_max) < threshold {
            return None;
        }
    }
    let s = strsim::jaro_winkler(a, b);
    (s >= threshold).then_some(s)
}

/// A chosen option: its position among the question's options and its code (shared by every
/// answer choosing it, so a million answers allocate nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub index: u16,
    pub code: Arc<str>,
}

impl std::ops::Deref for Choice {
    type Target = str;
    fn deref(&self) -> &str {
        &self.code
    }
}

/// One respondent's answer to one question.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Left blank.
    Skipped,
    /// A declared missing code ("Don't know", "Not applicable"), by code.
    Missing(Arc<str>),
    /// A single-choice, Likert or yes/no option.
    Code(Choice),
    /// Multi-select: the codes chosen, in option order.
    Codes(Vec<String>),
    Number(f64),
    Text(String),
    /// A value that could not be read (unknown label, not a number, out of range); counts as skipped.
    Invalid(String),
}

impl Answer {
    /// Answered: anything but skipped or unreadable (declared missing codes count as answered).
    pub fn is_answered(&self) -> bool {
        !matches!(self, Answer::Skipped | Answer::Invalid(_))
    }

    pub fn as_code(&self) -> Option<&str> {
        match self {
            Answer::Code(c) => Some(c),
            _ => None,
        }
    }

    /// The option chosen (its index among the question's options and its code).
    pub fn choice(&self) -> Option<&Choice> {
        match self {
            Answer::Code(c) => Some(c),
            _ => None,
        }
    }

    /// Text of a text-like answer (free text, or a code used as text).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Answer::Text(t) => Some(t),
            Answer::Code(c) => Some(c),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Answer::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// Short description for the cleaning log.
    pub fn describe(&self) -> String {
        match self {
            Answer::Skipped => "(skipped)".into(),
            Answer::Missing(c) => format!("missing:{c}"),
            Answer::Code(c) => c.to_string(),
            Answer::Codes(cs) => cs.join(";"),
            Answer::Number(x) => x.to_string(),
            Answer::Text(_) => "(text)".into(),
            Answer::Invalid(why) => format!("invalid: {why}"),
        }
    }
}

/// How a raw value was read when it was not verbatim: the cleaning log's `rule`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recode {
    /// `variant`, `code`, `alias`, `fuzzy`, `unmatched`, `unreadable`, `out_of_range`.
    pub how: &'static str,
    /// Jaro–Winkler similarity of a fuzzy match.
    pub similarity: Option<f64>,
}

impl Recode {
    fn how(how: &'static str) -> Self {
        Recode {
            how,
            similarity: None,
        }
    }
}

/// A split multi-select cell that means "not chosen": blank, 0, Unchecked, FALSE, No.
fn is_unchecked(v: &str) -> bool {
    v.is_empty()
        || v == "0"
        || ["unchecked", "false", "no"]
            .iter()
            .any(|u| v.eq_ignore_ascii_case(u))
}

/// Unicode NFC, trim, collapse internal whitespace, lower-case.
pub fn normalize_label(s: &str) -> String {
    let nfc: String = s.nfc().collect();
    nfc.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[derive(Debug, Clone, PartialEq)]
enum Hit {
    Option(Choice),
    Missing(Arc<str>),
}

/// The lookups for one question, built once.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// Verbatim labels.
    exact: HashMap<String, Hit>,
    /// Normalized labels, codes and aliases, with how they matched.
    normalized: HashMap<String, (Hit, &'static str)>,
    /// Fuzzy matching: the threshold and the normalized candidates.
    fuzzy: Option<(f64, Vec<(String, Hit)>)>,
    /// Fuzzy outcomes per normalized text (a million rows repeat a handful of typos).
    fuzzy_cache: HashMap<String, Option<(Hit, f64)>>,
    /// Outcomes per raw text not matched verbatim (codes, variants), with and without fuzzy
    /// matching: a million rows repeat a handful of spellings, so each is normalized once.
    raw_cache: [HashMap<String, Lookup>; 2],
}

/// What a lookup found, and how the text was recoded to find it.
type Lookup = Option<(Hit, Option<Recode>)>;

/// Distinct raw texts a matcher remembers; beyond it every lookup normalizes again.
const RAW_CACHE: usize = 4096;

impl Matcher {
    pub fn new(spec: &Spec, q: &Question) -> Self {
        let mut m = Matcher::default();
        let mut candidates = Vec::new();
        let missing = spec.missing_codes(q);
        let choices: Vec<Hit> = spec
            .options(q)
            .iter()
            .enumerate()
            .map(|(i, o)| {
                Hit::Option(Choice {
                    index: i as u16,
                    code: Arc::from(o.code.0.as_str()),
                })
            })
            .collect();
        for (o, hit) in spec.options(q).iter().zip(&choices) {
            let hit = hit.clone();
            m.exact
                .entry(o.label.clone())
                .or_insert_with(|| hit.clone());
            let norm = normalize_label(&o.label);
            m.normalized
                .entry(norm.clone())
                .or_insert((hit.clone(), "variant"));
            candidates.push((norm, hit.clone()));
            for a in &o.aliases {
                let na = normalize_label(a);
                m.normalized
                    .entry(na.clone())
                    .or_insert((hit.clone(), "alias"));
                candidates.push((na, hit.clone()));
            }
        }
        for (o, hit) in spec.options(q).iter().zip(&choices) {
            m.normalized
                .entry(normalize_label(&o.code.0))
                .or_insert((hit.clone(), "code"));
        }
        for c in missing {
            let hit = Hit::Missing(Arc::from(c.code.0.as_str()));
            m.exact
                .entry(c.label.clone())
                .or_insert_with(|| hit.clone());
            let norm = normalize_label(&c.label);
            m.normalized
                .entry(norm.clone())
                .or_insert((hit.clone(), "variant"));
            m.normalized
                .entry(normalize_label(&c.code.0))
                .or_insert((hit.clone(), "code"));
            candidates.push((norm, hit.clone()));
            for a in &c.aliases {
                let na = normalize_label(a);
                m.normalized
                    .entry(na.clone())
                    .or_insert((hit.clone(), "alias"));
                candidates.push((na, hit.clone()));
            }
        }
        if let Some(t) = spec.cleaning.fuzzy_threshold {
            m.fuzzy = Some((t, candidates));
        }
        m
    }

    /// Exact, then normalized, then (when `fuzzy`) the most similar label above the threshold.
    fn lookup_with(&mut self, raw: &str, fuzzy: bool) -> Lookup {
        if let Some(h) = self.exact.get(raw) {
            return Some((h.clone(), None));
        }
        if let Some(found) = self.raw_cache[usize::from(fuzzy)].get(raw) {
            return found.clone();
        }
        let found = self.lookup_normalized(raw, fuzzy);
        let cache = &mut self.raw_cache[usize::from(fuzzy)];
        if cache.len() < RAW_CACHE {
            cache.insert(raw.to_string(), found.clone());
        }
        found
    }

    /// [`Matcher::lookup_with`] past the verbatim labels: normalized, then fuzzy.
    fn lookup_normalized(&mut self, raw: &str, fuzzy: bool) -> Lookup {
        let norm = normalize_label(raw);
        if let Some((h, how)) = self.normalized.get(&norm) {
            return Some((h.clone(), Some(Recode::how(how))));
        }
        if !fuzzy {
            return None;
        }
        let (threshold, candidates) = self.fuzzy.as_ref()?;
        let found = self
            .fuzzy_cache
            .entry(norm)
            .or_insert_with_key(|norm| {
                let mut best: Option<(Hit, f64)> = None;
                let n = norm.chars().count();
                for (cand, hit) in candidates {
                    let m = cand.chars().count();
                    let Some(s) = similarity_at_least(norm, n, cand, m, *threshold) else {
                        continue;
                    };
                    if best.as_ref().is_none_or(|b| s > b.1) {
                        best = Some((hit.clone(), s));
                    }
                }
                best
            })
            .clone();
        found.map(|(h, s)| {
            (
                h,
                Some(Recode {
                    how: "fuzzy",
                    similarity: Some(s),
                }),
            )
        })
    }

    /// The option code a text names, matched as answers are (label, its variants, the code,
    /// an alias, or a close misspelling when the spec allows fuzzy matching); `None` for a
    /// missing code or no match.
    pub fn option_code(&mut self, raw: &str) -> Option<String> {
        match self.lookup(raw)? {
            (Hit::Option(choice), _) => Some(choice.code.to_string()),
            (Hit::Missing(_), _) => None,
        }
    }

    fn lookup(&mut self, raw: &str) -> Lookup {
        self.lookup_with(raw, true)
    }
}

fn parse_number(raw: &str) -> Option<f64> {
    let t: String = raw
        .trim()
        .trim_end_matches('%')
        .chars()
        .filter(|c| *c != ',' && !c.is_whitespace())
        .collect();
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Read the answer to `q` from one row. Returns the answer, the raw text (for quarantine and the
/// log) and, when the value was not read verbatim, how it was recoded.
pub(super) fn read_answer<'a>(
    spec: &Spec,
    q: &Question,
    matcher: &mut Matcher,
    binding: &Binding,
    cells: &crate::ingest::Cells<'a>,
) -> (Answer, std::borrow::Cow<'a, str>, Option<Recode>) {
    use std::borrow::Cow;
    match binding {
        Binding::Absent => (Answer::Skipped, Cow::Borrowed(""), None),
        Binding::Split(cols) => {
            let options = spec.options(q);
            let mut chosen: Vec<usize> = Vec::new();
            for (col, opt) in cols {
                if !is_unchecked(cells.get(*col).map_or("", str::trim)) {
                    chosen.push(*opt);
                }
            }
            chosen.sort_unstable();
            chosen.dedup();
            if chosen.is_empty() {
                return (Answer::Skipped, Cow::Borrowed(""), None);
            }
            let raw = chosen
                .iter()
                .map(|&i| options[i].label.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            (
                Answer::Codes(chosen.iter().map(|&i| options[i].code.0.clone()).collect()),
                Cow::Owned(raw),
                None,
            )
        }
        Binding::Column(col) => {
            let raw = cells.get(*col).unwrap_or_default();
            if raw.trim().is_empty() {
                return (Answer::Skipped, Cow::Borrowed(raw), None);
            }
            let (answer, how) = interpret(spec, q, matcher, raw);
            (answer, Cow::Borrowed(raw), how)
        }
    }
}

fn interpret(
    spec: &Spec,
    q: &Question,
    matcher: &mut Matcher,
    raw: &str,
) -> (Answer, Option<Recode>) {
    match q.kind {
        QuestionType::Text => (Answer::Text(raw.trim().to_string()), None),
        QuestionType::Numeric => {
            if let Some((Hit::Missing(c), how)) = matcher.lookup(raw) {
                return (Answer::Missing(c), how);
            }
            match parse_number(raw) {
                None => (
                    Answer::Invalid(format!("`{}` is not a number", raw.trim())),
                    Some(Recode::how("unreadable")),
                ),
                Some(x) => match q.range {
                    Some([lo, hi]) if x < lo || x > hi => (
                        Answer::Invalid(format!("{x} is outside [{lo}, {hi}]")),
                        Some(Recode::how("out_of_range")),
                    ),
                    _ => (Answer::Number(x), None),
                },
            }
        }
        QuestionType::Single | QuestionType::Likert | QuestionType::Yesno => {
            match matcher.lookup(raw) {
                Some((Hit::Option(c), how)) => (Answer::Code(c), how),
                Some((Hit::Missing(c), how)) => (Answer::Missing(c), how),
                None => (
                    Answer::Invalid(format!("`{}` is not an option", raw.trim())),
                    Some(Recode::how("unmatched")),
                ),
            }
        }
        QuestionType::Multi => {
            // The whole cell may be one option (labels can contain the separator); never fuzzily,
            // or a list of choices would match its most similar single option.
            match matcher.lookup_with(raw.trim().trim_end_matches(';'), false) {
                Some((Hit::Option(c), how)) => return (Answer::Codes(vec![c.to_string()]), how),
                Some((Hit::Missing(c), how)) => return (Answer::Missing(c), how),
                None => {}
            }
            let sep = if raw.contains(';') { ';' } else { ',' };
            let options = spec.options(q);
            let mut chosen = Vec::new();
            let mut how = None;
            for part in raw.split(sep).map(str::trim).filter(|p| !p.is_empty()) {
                match matcher.lookup(part) {
                    Some((Hit::Option(c), h)) => {
                        if h.is_some() {
                            how = h;
                        }
                        chosen.push(usize::from(c.index));
                    }
                    _ => {
                        return (
                            Answer::Invalid(format!("`{part}` is not an option")),
                            Some(Recode::how("unmatched")),
                        )
                    }
                }
            }
            chosen.sort_unstable();
            chosen.dedup();
            (
                Answer::Codes(chosen.iter().map(|&i| options[i].code.0.clone()).collect()),
                how,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_composes_trims_and_folds() {
        // "é" as e + combining acute, extra spaces, capitals.
        assert_eq!(
            normalize_label("  Caf\u{65}\u{301}   RÉSUMÉ "),
            "café résumé"
        );
    }
}

#[cfg(test)]
mod similarity_tests {
    use super::similarity_at_least;

    #[test]
    fn the_length_bound_never_rejects_a_pair_that_reaches_the_threshold() {
        // Every pair of short strings over a small alphabet, at several thresholds: the bound
        // may only skip pairs whose similarity is below the threshold.
        let words: Vec<String> = (0..400u32)
            .map(|i| {
                let len = 1 + (i % 9) as usize;
                (0..len)
                    .map(|k| (b'a' + ((i / 9 + k as u32 * 7) % 4) as u8) as char)
                    .collect()
            })
            .collect();
        for t in [0.5, 0.7, 0.8, 0.9, 0.97] {
            for a in &words {
                for b in words.iter().step_by(7) {
                    let s = strsim::jaro_winkler(a, b);
                    let got = similarity_at_least(a, a.chars().count(), b, b.chars().count(), t);
                    assert_eq!(got, (s >= t).then_some(s), "{a} {b} {t}");
                }
            }
        }
        // A megabyte answer against a label is ruled out without comparing characters.
        let big = "A".repeat(1 << 20);
        assert_eq!(similarity_at_least(&big, 1 << 20, "agree", 5, 0.9), None);
    }
}

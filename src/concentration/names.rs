//! Supplier names as organizations type them ("Epic", "EPIC Systems Corp.", "Oracle Health
//! (Cerner)") resolved to canonical suppliers: first through the survey's alias table
//! (`suppliers.csv`: alias, canonical, category), then by conservative automatic grouping —
//! case, punctuation, diacritics and legal suffixes removed ([`normalize`]), then a string
//! similarity threshold that also requires the same first word. Every decision says how it was
//! made, so the task group can review it; names that resolve to nothing stay listed.

use std::path::Path;

use unicode_normalization::UnicodeNormalization;

use crate::clean::similarity_at_least;
use crate::error::{Error, Result};

/// Words that name a legal form, not a supplier.
const LEGAL_SUFFIXES: [&str; 22] = [
    "inc",
    "incorporated",
    "llc",
    "lllp",
    "llp",
    "lp",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "plc",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "bv",
    "nv",
    "pty",
    "ulc",
    "pllc",
];

/// A name reduced to what identifies the supplier: Unicode-decomposed without diacritics,
/// lower case, `&` as "and", punctuation as spaces, legal-form words dropped, spaces collapsed.
pub fn normalize(name: &str) -> String {
    let folded: String = name
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
        .replace('&', " and ");
    // Dotted abbreviations ("L.L.C.", "Inc.") collapse before punctuation becomes space.
    let undotted: String = folded
        .split_whitespace()
        .map(|w| w.replace('.', ""))
        .collect::<Vec<_>>()
        .join(" ");
    let spaced: String = undotted
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let words: Vec<&str> = spaced.split_whitespace().collect();
    // Legal forms only at the end ("Co" inside "Co-Diagnostics" stays: it is not last).
    let mut end = words.len();
    while end > 1 && LEGAL_SUFFIXES.contains(&words[end - 1]) {
        end -= 1;
    }
    words[..end].join(" ")
}

/// Whether a text is only a legal form ("Inc.", "LLC"), as after the comma in "Epic, Inc.".
pub fn is_legal_form(text: &str) -> bool {
    let t: String = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    LEGAL_SUFFIXES.contains(&t.as_str())
}

/// One row of the alias table.
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub alias: String,
    pub canonical: String,
    pub category: String,
}

/// The survey's alias table, with every alias (and every canonical name) normalized.
#[derive(Debug, Clone, Default)]
pub struct AliasTable {
    entries: Vec<(String, Alias)>,
}

impl AliasTable {
    pub fn new(aliases: Vec<Alias>) -> AliasTable {
        let mut entries = Vec::new();
        for a in aliases {
            entries.push((normalize(&a.alias), a.clone()));
            let canonical = normalize(&a.canonical);
            if !entries.iter().any(|(k, _)| *k == canonical) {
                entries.push((canonical, a));
            }
        }
        AliasTable { entries }
    }

    /// Read `suppliers.csv` (header `alias,canonical,category`).
    pub fn read(path: &Path) -> Result<AliasTable> {
        let loc = |row: usize| format!("{}, row {row}", path.display());
        let mut r = csv::Reader::from_path(path)
            .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
        let head: Vec<String> = r
            .headers()
            .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?
            .iter()
            .map(|h| h.trim().to_lowercase())
            .collect();
        let col = |n: &str| {
            head.iter().position(|h| h == n).ok_or_else(|| {
                Error::input(
                    path.display().to_string(),
                    format!("expected the columns alias, canonical, category; `{n}` is missing"),
                )
            })
        };
        let (a, c, k) = (col("alias")?, col("canonical")?, col("category")?);
        let mut out = Vec::new();
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| Error::input(loc(i + 2), e.to_string()))?;
            let get = |j: usize| rec.get(j).unwrap_or_default().trim().to_string();
            if get(a).is_empty() || get(c).is_empty() {
                return Err(Error::input(
                    loc(i + 2),
                    "alias and canonical may not be empty",
                ));
            }
            out.push(Alias {
                alias: get(a),
                canonical: get(c),
                category: get(k),
            });
        }
        Ok(AliasTable::new(out))
    }

    /// The entry most similar to a normalized name (Jaro–Winkler, any first word), for
    /// suggestions a person reviews — never used to resolve.
    pub fn closest(&self, normalized: &str) -> Option<(f64, &Alias)> {
        self.entries
            .iter()
            .map(|(k, a)| (strsim::jaro_winkler(k, normalized), a))
            .max_by(|x, y| {
                x.0.total_cmp(&y.0)
                    .then_with(|| y.1.canonical.cmp(&x.1.canonical))
            })
    }

    fn exact(&self, key: &str) -> Option<&Alias> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, a)| a)
    }
}

/// How a typed name was resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum How {
    /// Its normalized form is an alias (or canonical name) in the table.
    Alias,
    /// A part of it (outside or inside parentheses) is: "Oracle Health (Cerner)".
    AliasPart,
    /// Close to a table entry: Jaro–Winkler similarity, same first word.
    Similar(f64),
    /// It contains, as whole words, aliases of exactly one supplier and of no other: "MS Azure"
    /// holds "azure", "Amazon AWS" holds "aws" (never "Epicor" for "epic": whole words only).
    AliasWord,
    Unresolved,
}

/// The decision for one typed name.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub typed: String,
    pub normalized: String,
    pub canonical: Option<String>,
    pub category: Option<String>,
    pub how: How,
}

/// Resolve one typed name; `threshold` is the Jaro–Winkler similarity (on normalized names)
/// above which a name joins a table entry that shares its first word.
pub fn resolve(typed: &str, table: &AliasTable, threshold: f64) -> Resolution {
    let normalized = normalize(typed);
    let found = |a: &Alias, how: How| Resolution {
        typed: typed.to_string(),
        normalized: normalized.clone(),
        canonical: Some(a.canonical.clone()),
        category: Some(a.category.clone()),
        how,
    };
    if let Some(a) = table.exact(&normalized) {
        return found(a, How::Alias);
    }
    // "Oracle Health (Cerner)": the part outside the parentheses, then each part inside.
    if typed.contains('(') {
        let outside: String = typed
            .split('(')
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    s
                } else {
                    s.split_once(')').map_or("", |x| x.1)
                }
            })
            .collect();
        let inside = typed
            .split('(')
            .skip(1)
            .filter_map(|s| s.split_once(')').map(|x| x.0.to_string()));
        for part in std::iter::once(outside).chain(inside) {
            if let Some(a) = table.exact(&normalize(&part)) {
                return found(a, How::AliasPart);
            }
        }
    }
    let first = normalized.split(' ').next().unwrap_or_default();
    let chars = normalized.chars().count();
    let best = table
        .entries
        .iter()
        .filter(|(k, _)| {
            k.split(' ').next() == Some(first)
                || similarity_at_least(k, k.chars().count(), &normalized, chars, 0.97).is_some()
        })
        .filter_map(|(k, a)| {
            similarity_at_least(k, k.chars().count(), &normalized, chars, threshold).map(|s| (s, a))
        })
        .max_by(|x, y| {
            x.0.total_cmp(&y.0)
                .then_with(|| y.1.canonical.cmp(&x.1.canonical))
        });
    if let Some((s, a)) = best {
        return found(a, How::Similar(s));
    }
    // Aliases contained as whole words: resolved only when they all name one supplier.
    let words: Vec<&str> = normalized.split(' ').collect();
    let contains = |key: &str| {
        let k: Vec<&str> = key.split(' ').collect();
        !k.is_empty() && k.len() < words.len() && words.windows(k.len()).any(|w| w == k.as_slice())
    };
    let mut within: Vec<&Alias> = table
        .entries
        .iter()
        .filter(|(k, _)| contains(k))
        .map(|(_, a)| a)
        .collect();
    within.dedup_by(|x, y| x.canonical == y.canonical);
    let one = within
        .first()
        .filter(|a| within.iter().all(|b| b.canonical == a.canonical));
    match one {
        Some(a) => found(a, How::AliasWord),
        None => Resolution {
            typed: typed.to_string(),
            normalized,
            canonical: None,
            category: None,
            how: How::Unresolved,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> AliasTable {
        let a = |alias: &str, canonical: &str, category: &str| Alias {
            alias: alias.into(),
            canonical: canonical.into(),
            category: category.into(),
        };
        AliasTable::new(vec![
            a("Epic", "Epic Systems", "ehr"),
            a("Epic Systems", "Epic Systems", "ehr"),
            a("Cerner", "Oracle Health", "ehr"),
            a("Oracle Cerner", "Oracle Health", "ehr"),
            a("Change Healthcare", "Change Healthcare", "clearinghouse"),
            a("Optum", "Optum", "clearinghouse"),
            a("Microsoft Azure", "Microsoft", "cloud"),
            a("Amazon Web Services", "Amazon Web Services", "cloud"),
            a("AWS", "Amazon Web Services", "cloud"),
            a("GE HealthCare", "GE HealthCare", "device"),
            a("Allscripts", "Veradigm", "ehr"),
        ])
    }

    #[test]
    fn normalization_drops_case_punctuation_diacritics_and_legal_forms() {
        assert_eq!(normalize("EPIC Systems Corp."), "epic systems");
        assert_eq!(normalize("Epic Systems Corporation"), "epic systems");
        assert_eq!(
            normalize("  Change   Healthcare, Inc. "),
            "change healthcare"
        );
        assert_eq!(
            normalize("Nestlé Health Science S.A."),
            "nestle health science"
        );
        assert_eq!(normalize("Johnson & Johnson"), "johnson and johnson");
        assert_eq!(normalize("Acme L.L.C."), "acme");
        // A legal-form word only at the end; a lone word stays.
        assert_eq!(normalize("Co-Diagnostics"), "co diagnostics");
        assert_eq!(normalize("Company"), "company");
    }

    #[test]
    fn a_name_holding_one_suppliers_alias_as_whole_words_resolves_to_it() {
        let t = table();
        let r = |s: &str| resolve(s, &t, 0.93);
        for (typed, canonical) in [
            ("Amazon AWS", "Amazon Web Services"),
            ("AWS cloud hosting", "Amazon Web Services"),
            ("Epic EHR", "Epic Systems"),
            ("our Optum contract", "Optum"),
        ] {
            let got = r(typed);
            assert_eq!(
                got.canonical.as_deref(),
                Some(canonical),
                "{typed}: {got:?}"
            );
            assert!(
                matches!(got.how, How::AliasWord | How::Similar(_)),
                "{typed}: {got:?}"
            );
        }
        assert_eq!(r("AWS cloud hosting").how, How::AliasWord);
        // Whole words only: Epicor is not Epic; two suppliers' aliases resolve to neither.
        for typed in ["Epicor Software", "Epic and Cerner", "Optumized Systems"] {
            let got = r(typed);
            assert_eq!(got.how, How::Unresolved, "{typed}: {got:?}");
        }
    }

    #[test]
    fn real_world_variants_resolve_and_look_alikes_do_not_merge() {
        let t = table();
        let canon = |s: &str| resolve(s, &t, 0.93).canonical;
        // Spelling variants of the same supplier.
        for s in [
            "Epic",
            "EPIC systems",
            "Epic Systems Corp.",
            "epic systems, inc",
        ] {
            assert_eq!(canon(s).as_deref(), Some("Epic Systems"), "{s}");
        }
        assert_eq!(
            canon("Oracle Health (Cerner)").as_deref(),
            Some("Oracle Health")
        );
        assert_eq!(
            canon("Cerner Corporation").as_deref(),
            Some("Oracle Health")
        );
        assert_eq!(
            canon("Change Healthcare Inc.").as_deref(),
            Some("Change Healthcare")
        );
        assert_eq!(canon("AWS").as_deref(), Some("Amazon Web Services"));
        assert_eq!(
            canon("Allscript").as_deref(),
            Some("Veradigm"),
            "a one-letter typo"
        );
        let r = resolve("Chnage Healthcare", &t, 0.93);
        assert!(matches!(r.how, How::Similar(s) if s > 0.93), "{r:?}");
        // Look-alikes that are other companies stay apart.
        for s in [
            "Epiq Systems",
            "GE Aviation",
            "Optimum Healthcare IT",
            "Microsoft Dynamics Partner Ltd",
            "Oracle",
        ] {
            let r = resolve(s, &t, 0.93);
            assert!(
                r.canonical.as_deref() != Some("Epic Systems")
                    && r.canonical.as_deref() != Some("GE HealthCare")
                    && r.canonical.as_deref() != Some("Optum")
                    && !(s == "Oracle" && r.canonical.is_some()),
                "{s} merged: {r:?}"
            );
        }
        assert_eq!(resolve("Some Local Courier", &t, 0.93).how, How::Unresolved);
    }
}

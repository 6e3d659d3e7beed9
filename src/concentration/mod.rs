//! Concentration: which suppliers the sector depends on together. The free-text supplier names
//! of the spec's `[concentration]` questions are resolved to canonical suppliers ([`names`]);
//! then, for every segment, the weighted share of organizations naming each supplier and each
//! supplier category, the Herfindahl–Hirschman index of dependence within each category with
//! the effective number of suppliers (kernel: [`crate::kernels::concentration`]), the share of
//! organizations whose most critical supplier (the first named) is in the category and that
//! report no alternative, and the single points of failure.
//!
//! Disclosure is decided by [`crate::disclose`]: which suppliers are published (and their ranks
//! and labels: names only when the spec sets `publish_names`, otherwise "<category> #<rank>"),
//! which rows are withheld, and the single points of failure, which rest on a published
//! no-alternative share. Which organization named which supplier is written only under `data/`.

pub mod names;

use std::collections::{BTreeMap, BTreeSet};

use crate::clean::{Answer, RecordRef, Records};
use crate::error::Result;
use crate::estimate::SegmentPartitions;
use crate::estimate::{nchs_proportion, proportion_method, segments, EstimateRow, Segment, ALL};
use crate::kernels::concentration::{hhi_by_domain, Concentration};
use crate::kernels::domains::{DomainEstimate, DomainLinearizer, Domains, Series, NO_DOMAIN};
use crate::kernels::estimators::{ci_normal, Survey};
use crate::kernels::intervals::proportion_ci;
use crate::spec::{ConcentrationSpec, LoadedSpec, MetricKind, Spec, Tlp};
use crate::table::Table;
use crate::weight::Weighted;

use names::{resolve, AliasTable, How, Resolution};

/// Statistic names of the category rows (`metric_id` of [`Analysis::category_rows`]).
pub const DEPENDENCY_SHARE: &str = "dependency_share";
pub const HHI: &str = "hhi";
pub const EFFECTIVE_SUPPLIERS: &str = "effective_suppliers";
pub const NO_ALTERNATIVE_SHARE: &str = "no_alternative_share";
/// `metric_id` of the per-supplier share rows.
pub const SUPPLIER_SHARE: &str = "supplier_share";

/// A canonical supplier (or a group of unresolved spellings with one normalized form).
#[derive(Debug, Clone)]
pub struct Supplier {
    /// Canonical name; for an unresolved group its most frequent spelling.
    pub name: String,
    /// Category code from the alias table; `None` when unresolved.
    pub category: Option<String>,
    /// Organizations naming it (unweighted).
    pub organizations: usize,
    /// Mentions (an organization naming two spellings counts twice).
    pub mentions: usize,
    /// Published (set by `disclose`): resolved and named by enough organizations.
    pub published: bool,
    /// Rank within its category by the sector-wide weighted share (published suppliers only).
    pub rank: Option<usize>,
    /// What published outputs call it: its name, or "<category label> #<rank>".
    pub label: String,
    /// Sector-wide share ≥ `single_point_share` in a category where most organizations whose
    /// most critical supplier is in it report no alternative.
    pub single_point_of_failure: bool,
}

/// One distinct typed name and how it was resolved (`tables/supplier_matches.csv`).
#[derive(Debug, Clone)]
pub struct Match {
    pub resolution: Resolution,
    /// Index into [`Analysis::suppliers`].
    pub supplier: usize,
    pub mentions: usize,
    pub organizations: usize,
}

/// A category and its label.
#[derive(Debug, Clone)]
pub struct Category {
    pub code: String,
    pub label: String,
}

/// Everything the concentration stage computed.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub suppliers: Vec<Supplier>,
    pub matches: Vec<Match>,
    /// Comma-separated answers split into names (see [`Resolved::lists`]).
    pub lists: Vec<(String, Vec<String>, usize)>,
    pub categories: Vec<Category>,
    /// Per record: the suppliers it names (indexes, first = most critical), empty when none.
    pub named: Vec<Vec<usize>>,
    /// Per category × segment: `metric_id` is [`DEPENDENCY_SHARE`], [`HHI`],
    /// [`EFFECTIVE_SUPPLIERS`] or [`NO_ALTERNATIVE_SHARE`]; `level` the category code.
    pub category_rows: Vec<EstimateRow>,
    /// Organizations counted in each category row's numerator (dependents of the category;
    /// for the no-alternative share those without one), aligned with `category_rows`.
    pub category_counts: Vec<usize>,
    /// Per supplier × segment: `metric_id` [`SUPPLIER_SHARE`], `level` the supplier's name —
    /// after `disclose`, only published suppliers, `level` their published label.
    pub supplier_rows: Vec<EstimateRow>,
    /// Organizations naming the supplier in the segment, aligned with `supplier_rows`.
    pub supplier_counts: Vec<usize>,
    /// The supplier (index in `suppliers`) of each supplier row.
    pub supplier_of_row: Vec<usize>,
    /// Rows of the spec's `kind = "concentration"` metrics (copies of `category_rows`).
    pub metric_rows: Vec<EstimateRow>,
    /// Whether names are published, and the TLP of outputs naming suppliers.
    pub publish_names: bool,
    pub tlp: Tlp,
    /// Organizations answering the supplier questions / all kept.
    pub answered: usize,
    /// What the alias table left unresolved.
    pub unresolved: Unresolved,
}

impl Analysis {
    /// The category row of one statistic and segment.
    pub fn category_row(
        &self,
        stat: &str,
        category: &str,
        var: &str,
        value: &str,
    ) -> Option<&EstimateRow> {
        self.category_rows.iter().find(|r| {
            r.metric_id == stat
                && r.level == category
                && r.segment_var == var
                && r.segment_value == value
        })
    }

    pub fn category_label(&self, code: &str) -> String {
        self.categories
            .iter()
            .find(|c| c.code == code)
            .map_or_else(|| code.to_string(), |c| c.label.clone())
    }
}

/// The names a record gives, in order: every supplier question's text split on the separators.
fn typed_names(spec: &Spec, c: &ConcentrationSpec, rec: RecordRef<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for id in &c.suppliers {
        let Some(qi) = spec.questions.iter().position(|q| q.id == *id) else {
            continue;
        };
        if let Answer::Text(t) = rec.answer(qi) {
            for part in t.split(|ch: char| c.separators.contains(ch)) {
                let part = part.trim();
                if !part.is_empty() {
                    out.push(part.to_string());
                }
            }
        }
    }
    out
}

fn category_labels(spec: &Spec, c: &ConcentrationSpec, used: &BTreeSet<String>) -> Vec<Category> {
    let mut out = Vec::new();
    if let Some(q) = c.categories.as_deref().and_then(|id| spec.question(id)) {
        for o in spec.options(q) {
            if used.contains(&o.code.0) {
                out.push(Category {
                    code: o.code.0.clone(),
                    label: o.label.clone(),
                });
            }
        }
    }
    for code in used {
        if !out.iter().any(|x| x.code == *code) {
            out.push(Category {
                code: code.clone(),
                label: code.clone(),
            });
        }
    }
    out
}

/// How much of the round's supplier naming the alias table did not resolve: the share of
/// mentions, the weighted share of the organizations naming a supplier who named at least one
/// unresolved name, and the most frequent unresolved spellings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unresolved {
    pub mentions: usize,
    pub total_mentions: usize,
    /// Weighted organizations naming an unresolved name / weighted organizations naming any.
    pub dependents_share: f64,
    /// The largest unresolved spellings with their mentions (at most 5).
    pub largest: Vec<(String, usize)>,
}

impl Unresolved {
    /// From the distinct spellings' decisions, who named what, and the final weights (aligned
    /// with the records).
    pub fn of(
        matches: &[Match],
        suppliers: &[Supplier],
        named: &[Vec<usize>],
        weights: &[f64],
    ) -> Self {
        let mut largest: Vec<(String, usize)> = matches
            .iter()
            .filter(|m| m.resolution.canonical.is_none())
            .map(|m| (m.resolution.typed.clone(), m.mentions))
            .collect();
        largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mentions = largest.iter().map(|x| x.1).sum();
        largest.truncate(5);
        let (mut any, mut missed) = (0.0, 0.0);
        for (i, n) in named.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
            let w = weights.get(i).copied().unwrap_or(0.0);
            any += w;
            if n.iter()
                .any(|&s| suppliers.get(s).is_some_and(|s| s.category.is_none()))
            {
                missed += w;
            }
        }
        Unresolved {
            mentions,
            total_mentions: matches.iter().map(|m| m.mentions).sum(),
            dependents_share: if any > 0.0 { missed / any } else { 0.0 },
            largest,
        }
    }

    pub fn share(&self) -> f64 {
        if self.total_mentions == 0 {
            0.0
        } else {
            self.mentions as f64 / self.total_mentions as f64
        }
    }

    /// "31 of 148 supplier mentions (20.9%; 18.0% of the weighted organizations naming a
    /// supplier) match no supplier of the alias table; the largest: `Change HC` (9), …".
    pub fn sentence(&self) -> String {
        let largest: Vec<String> = self
            .largest
            .iter()
            .map(|(t, n)| format!("`{t}` ({n})"))
            .collect();
        format!(
            "{} of {} supplier mentions ({:.1}%; {:.1}% of the weighted organizations naming a supplier) match no supplier of the alias table{}",
            self.mentions,
            self.total_mentions,
            100.0 * self.share(),
            100.0 * self.dependents_share,
            if largest.is_empty() {
                String::new()
            } else {
                format!("; the largest: {}", largest.join(", "))
            }
        )
    }

    /// The quality gate: unresolved mentions above `quality.max_unresolved_supplier_share`.
    pub fn gate(&self, max: f64) -> Option<String> {
        (self.share() > max).then(|| {
            format!(
                "{}, above quality.max_unresolved_supplier_share = {max}; the published supplier shares undercount them (`supplyrisk suppliers suggest` proposes alias rows)",
                self.sentence()
            )
        })
    }
}

/// The round's names resolved: the suppliers, each distinct spelling's decision, and per record
/// the suppliers it names (first = most critical).
pub struct Resolved {
    pub suppliers: Vec<Supplier>,
    pub matches: Vec<Match>,
    pub named: Vec<Vec<usize>>,
    /// Answers typed as a comma-separated list ("Epic, Change Healthcare"): the text, its
    /// parts (each resolved on its own, in `matches`) and how many times it was typed.
    pub lists: Vec<(String, Vec<String>, usize)>,
}

/// A name that is not an alias-table entry as typed but a comma-separated list of names that
/// each resolve ("Epic, Change Healthcare" — which would otherwise pass as similar to "Epic";
/// "Epic Systems, Inc." is an entry and is never split; a legal form after a comma stays with
/// the name before it).
fn as_list(typed: &str, table: &AliasTable, threshold: f64) -> Option<Vec<String>> {
    if !typed.contains(',')
        || matches!(
            resolve(typed, table, threshold).how,
            How::Alias | How::AliasPart
        )
    {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    for part in typed.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match parts.last_mut() {
            Some(last) if names::is_legal_form(part) => {
                last.push_str(", ");
                last.push_str(part);
            }
            _ => parts.push(part.to_string()),
        }
    }
    (parts.len() >= 2
        && parts
            .iter()
            .all(|p| resolve(p, table, threshold).how != How::Unresolved))
    .then_some(parts)
}

/// Resolve every record's supplier names against the alias table.
pub fn resolve_names(
    loaded: &LoadedSpec,
    c: &ConcentrationSpec,
    records: &Records,
) -> Result<Resolved> {
    let table = AliasTable::read(&loaded.input(&c.aliases, "concentration.aliases")?)?;
    let spec = &loaded.spec;
    let mut decisions: BTreeMap<String, Resolution> = BTreeMap::new();
    // Supplier key: canonical name, or "\u{0}<normalized>" for an unresolved group.
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut suppliers: Vec<Supplier> = Vec::new();
    let mut spellings: Vec<BTreeMap<String, usize>> = Vec::new();
    let mut named = Vec::with_capacity(records.len());
    let mut typed_orgs: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut lists: BTreeMap<String, (Option<Vec<String>>, usize)> = BTreeMap::new();
    for rec in records {
        let mut mine: Vec<usize> = Vec::new();
        let mut typed_here = BTreeSet::new();
        let mut expanded = Vec::new();
        for typed in typed_names(spec, c, rec) {
            let entry = lists
                .entry(typed.clone())
                .or_insert_with(|| (as_list(&typed, &table, c.similarity), 0));
            match &entry.0 {
                Some(parts) => {
                    entry.1 += 1;
                    expanded.extend(parts.iter().cloned());
                }
                None => expanded.push(typed),
            }
        }
        for typed in expanded {
            let res = decisions
                .entry(typed.clone())
                .or_insert_with(|| resolve(&typed, &table, c.similarity))
                .clone();
            let key = match &res.canonical {
                Some(name) => name.clone(),
                None => format!("\u{0}{}", res.normalized),
            };
            let s = *keys.entry(key).or_insert_with(|| {
                suppliers.push(Supplier {
                    name: res.canonical.clone().unwrap_or_default(),
                    category: res.category.clone().filter(|x| !x.is_empty()),
                    organizations: 0,
                    mentions: 0,
                    published: false,
                    rank: None,
                    label: String::new(),
                    single_point_of_failure: false,
                });
                spellings.push(BTreeMap::new());
                suppliers.len() - 1
            });
            suppliers[s].mentions += 1;
            *spellings[s].entry(typed.clone()).or_default() += 1;
            let e = typed_orgs.entry(typed.clone()).or_default();
            e.0 += 1;
            if typed_here.insert(typed) {
                e.1 += 1;
            }
            if !mine.contains(&s) {
                mine.push(s);
            }
        }
        for &s in &mine {
            suppliers[s].organizations += 1;
        }
        named.push(mine);
    }
    // An unresolved group is called by its most frequent spelling; among equals, one not in
    // capitals, then the shortest (legal forms are the usual extra), then the first in order.
    for (s, sp) in spellings.iter().enumerate() {
        if suppliers[s].name.is_empty() {
            let shouting = |x: &str| x.chars().any(char::is_lowercase);
            let best = sp
                .iter()
                .max_by(|a, b| {
                    a.1.cmp(b.1)
                        .then_with(|| shouting(a.0).cmp(&shouting(b.0)))
                        .then_with(|| b.0.len().cmp(&a.0.len()))
                        .then_with(|| b.0.cmp(a.0))
                })
                .map(|x| x.0.clone())
                .unwrap_or_default();
            suppliers[s].name = best;
        }
    }
    let matches = decisions
        .into_iter()
        .map(|(typed, resolution)| {
            let key = match &resolution.canonical {
                Some(name) => name.clone(),
                None => format!("\u{0}{}", resolution.normalized),
            };
            let (mentions, organizations) = typed_orgs.get(&typed).copied().unwrap_or_default();
            Match {
                supplier: keys[&key],
                resolution,
                mentions,
                organizations,
            }
        })
        .collect();
    let lists = lists
        .into_iter()
        .filter_map(|(typed, (parts, n))| parts.map(|p| (typed, p, n)))
        .collect();
    Ok(Resolved {
        suppliers,
        matches,
        named,
        lists,
    })
}

fn flag_mean_like(flags: &mut Vec<&'static str>, n_eff: f64, est: f64, se: f64, df: f64) {
    if n_eff < 30.0 {
        flags.push("n_eff_lt_30");
    }
    if est != 0.0 && se / est.abs() > 0.3 {
        flags.push("rse_gt_30");
    }
    if df < 8.0 {
        flags.push("df_lt_8");
    }
}

/// The whole concentration stage; `None` when the spec has no `[concentration]` section.
pub fn analyse(
    loaded: &LoadedSpec,
    records: &Records,
    weighted: &Weighted,
) -> Result<Option<Analysis>> {
    let spec = &loaded.spec;
    let Some(c) = &spec.concentration else {
        return Ok(None);
    };
    let Resolved {
        suppliers,
        matches,
        named,
        lists,
    } = resolve_names(loaded, c, records)?;
    let survey = Survey {
        design: &weighted.design,
        weights: &weighted.weights,
        calibration: &weighted.calibration,
    };
    let w = &weighted.weights;
    let n_rows = records.len();
    let level = spec.publication.ci_level;
    let (method, method_name) = proportion_method(spec, None);
    let segs: Vec<Segment> = segments(spec, records);
    let answered: Vec<bool> = named.iter().map(|s| !s.is_empty()).collect();
    // Every segment variable (and cross) as one partition, estimated in one pass per series.
    let parts = SegmentPartitions::new(&segs, n_rows);
    let domains = Domains::new((0..parts.parts.len()).map(|p| parts.partition(p)).collect());
    let lin = DomainLinearizer::new(survey);
    // Rows (weight > 0) of each segment: `[segment] → row indexes`, from the partitions.
    let mut seg_rows: Vec<Vec<usize>> = vec![Vec::new(); segs.len()];
    {
        let mut seg_of: Vec<Vec<usize>> = parts.parts.iter().map(|(_, k)| vec![0; *k]).collect();
        for (g, &(p, d)) in parts.place.iter().enumerate() {
            seg_of[p][d] = g;
        }
        for i in (0..n_rows).filter(|&i| w[i] > 0.0) {
            for (p, (codes, _)) in parts.parts.iter().enumerate() {
                if codes[i] != NO_DOMAIN {
                    seg_rows[seg_of[p][codes[i] as usize]].push(i);
                }
            }
        }
    }

    let used_categories: BTreeSet<String> = suppliers
        .iter()
        .filter_map(|s| s.category.clone())
        .collect();
    let categories = category_labels(spec, c, &used_categories);
    let category_of: Vec<Option<usize>> = suppliers
        .iter()
        .map(|s| {
            s.category
                .as_deref()
                .and_then(|code| categories.iter().position(|x| x.code == code))
        })
        .collect();

    // Alternatives: 1 = none, 0 = some, NaN = not answered (or "Don't know").
    let alt_qi = c
        .alternatives
        .as_deref()
        .and_then(|id| spec.questions.iter().position(|q| q.id == id));
    let no_alt: Vec<f64> = records
        .iter()
        .map(|r| match alt_qi.map(|qi| r.answer(qi)) {
            Some(Answer::Code(code)) => {
                f64::from(u8::from(c.no_alternative.iter().any(|x| x == &**code)))
            }
            _ => f64::NAN,
        })
        .collect();

    // A proportion row with the spec's CI and the NCHS flags (what is published is decided by
    // `disclose`, from the row and the organizations counted in its numerator).
    let proportion_row = |id: &str, lvl: &str, g: usize, de: &DomainEstimate| {
        let e = &de.estimate;
        let s = &segs[g];
        let nrow = crate::estimate::subset_rows(weighted, s.mask.as_deref(), n_rows);
        let (lo, hi) = proportion_ci(method, e.value, e.se, e.df, nrow, level);
        let mut flags: Vec<&'static str> = Vec::new();
        if spec.publication.nchs_proportions && e.n > 0 {
            let (_, f) = nchs_proportion(e.value, e.se, e.df, e.n, level, nrow);
            flags.extend(f);
        }
        EstimateRow {
            metric_id: id.to_string(),
            metric_version: 0,
            statistic: "proportion",
            level: lvl.to_string(),
            segment_var: s.var.clone(),
            segment_value: s.value.clone(),
            estimate: e.value,
            se: e.se,
            ci_low: lo,
            ci_high: hi,
            ci_method: method_name,
            n: e.n,
            n_eff: de.n_eff,
            weight_sum: e.weight_sum,
            deff: e.deff,
            df: e.df,
            suppressed: false,
            flag: flags.join(";"),
        }
    };
    // Shares of level sets for every segment: `[segment][level]`, 64 levels per pass.
    // `levels[i]`: the levels row i counts in (each once); rows naming no supplier are outside
    // every denominator.
    let level_shares = |k: usize, levels: &[Vec<usize>]| {
        let mut out: Vec<Vec<DomainEstimate>> = vec![Vec::with_capacity(k); segs.len()];
        for start in (0..k).step_by(64) {
            let chunk = (k - start).min(64);
            let sets: Vec<Option<u64>> = (0..n_rows)
                .map(|i| {
                    answered[i].then(|| {
                        levels[i]
                            .iter()
                            .filter(|&&l| l >= start && l < start + 64)
                            .fold(0u64, |acc, &l| acc | 1 << (l - start))
                    })
                })
                .collect();
            let res = lin.estimate(
                Series::Levels {
                    k: chunk,
                    sets: &sets,
                },
                &domains,
                false,
            );
            for (g, &(p, d)) in parts.place.iter().enumerate() {
                out[g].extend(res[p][d].iter().copied());
            }
        }
        out
    };
    // Organizations (weight > 0) of each segment counted by `count(i)` (a row may count for
    // several levels): `[segment][level]`.
    fn counts<'a>(
        seg_rows: &[Vec<usize>],
        k: usize,
        levels_of: impl Fn(usize) -> &'a [usize],
    ) -> Vec<Vec<usize>> {
        seg_rows
            .iter()
            .map(|rows| {
                let mut n = vec![0usize; k];
                for &i in rows {
                    for &l in levels_of(i) {
                        n[l] += 1;
                    }
                }
                n
            })
            .collect()
    }

    // Per supplier shares among organizations naming any.
    let n_sup = suppliers.len();
    let supplier_shares = level_shares(n_sup, &named);
    let supplier_counts = counts(&seg_rows, n_sup, |i| named[i].as_slice());
    let overall_share: Vec<f64> = supplier_shares[0]
        .iter()
        .map(|e| e.estimate.value)
        .collect();

    // Category statistics per segment.
    let n_cat = categories.len();
    // Each row's categories (each once).
    let cats_named: Vec<Vec<usize>> = named
        .iter()
        .map(|set| {
            let mut v: Vec<usize> = set.iter().filter_map(|&s| category_of[s]).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let dependency = level_shares(n_cat, &cats_named);
    let dependents = counts(&seg_rows, n_cat, |i| cats_named[i].as_slice());
    // Kish n_eff of each segment's dependents of each category: (Σw)² / Σw².
    let dependents_neff: Vec<Vec<f64>> = seg_rows
        .iter()
        .map(|rows| {
            let (mut sw, mut sw2) = (vec![0.0; n_cat], vec![0.0; n_cat]);
            for &i in rows {
                for &cat in &cats_named[i] {
                    sw[cat] += w[i];
                    sw2[cat] += w[i] * w[i];
                }
            }
            sw.iter()
                .zip(&sw2)
                .map(|(s, s2)| if *s2 > 0.0 { s * s / s2 } else { f64::NAN })
                .collect()
        })
        .collect();
    let first_category: Vec<Option<usize>> = named
        .iter()
        .map(|set| set.first().and_then(|&s| category_of[s]))
        .collect();
    let noalt_lists: Vec<Vec<usize>> = (0..n_rows)
        .map(|i| match first_category[i] {
            Some(cat) if no_alt[i] == 1.0 => vec![cat],
            _ => Vec::new(),
        })
        .collect();
    let noalt_counts = counts(&seg_rows, n_cat, |i| noalt_lists[i].as_slice());
    // Each category's statistics for every segment; categories spread over the cores, the
    // rows put back in category order.
    let per_category = |ci: usize| -> Vec<(EstimateRow, usize)> {
        let cat = &categories[ci];
        let mut category_rows = Vec::new();
        // Organizations whose most critical (first named) supplier is in the category.
        let first_in: Vec<f64> = (0..n_rows)
            .map(|i| {
                if first_category[i] == Some(ci) {
                    no_alt[i]
                } else {
                    f64::NAN
                }
            })
            .collect();
        let mut noalt_res = lin.estimate(Series::Numeric(&first_in), &domains, false);
        // The share is among the organizations whose first supplier is in the category: its
        // df counts their PSUs (answered or not), not the segment's.
        let in_category: Vec<bool> = (0..n_rows).map(|i| first_category[i] == Some(ci)).collect();
        for (p, dfs) in domains
            .degf_within(lin.survey(), &in_category)
            .iter()
            .enumerate()
        {
            for (d, df) in dfs.iter().enumerate() {
                noalt_res[p][d][0].estimate.df = *df;
            }
        }
        // The category's suppliers, renumbered 0.. for the HHI.
        let local: Vec<Option<usize>> = {
            let mut next = 0;
            category_of
                .iter()
                .map(|&x| {
                    (x == Some(ci)).then(|| {
                        next += 1;
                        next - 1
                    })
                })
                .collect()
        };
        let k_local = local.iter().flatten().count();
        // HHI of every segment: one batched pass per segment variable (or cross).
        let hhis: Vec<Vec<Concentration>> = (0..parts.parts.len())
            .map(|p| {
                hhi_by_domain(&lin, parts.partition(p), k_local, |i| {
                    named[i].iter().filter_map(|&s| local[s]).map(|j| (j, 1.0))
                })
            })
            .collect();
        for (g, &(p, d)) in parts.place.iter().enumerate() {
            let n_dep = dependents[g][ci];
            let dep = proportion_row(DEPENDENCY_SHARE, &cat.code, g, &dependency[g][ci]);
            let conc = hhis[p][d];
            let n_eff = dependents_neff[g][ci];
            let mk = |id: &str, est: f64, se: f64, lo: f64, hi: f64| {
                let mut flags: Vec<&'static str> = Vec::new();
                if n_dep > 0 {
                    flag_mean_like(&mut flags, n_eff, est, se, dep.df);
                }
                EstimateRow {
                    metric_id: id.to_string(),
                    metric_version: 0,
                    statistic: if id == HHI { HHI } else { EFFECTIVE_SUPPLIERS },
                    level: cat.code.clone(),
                    segment_var: segs[g].var.clone(),
                    segment_value: segs[g].value.clone(),
                    estimate: est,
                    se,
                    ci_low: lo,
                    ci_high: hi,
                    ci_method: "normal",
                    n: n_dep,
                    n_eff,
                    weight_sum: conc.total,
                    deff: f64::NAN,
                    df: dep.df,
                    suppressed: false,
                    flag: flags.join(";"),
                }
            };
            let (lo, hi) = ci_normal(conc.hhi, conc.hhi_se, level);
            let hhi_row = mk(HHI, conc.hhi, conc.hhi_se, lo.max(0.0), hi.min(1.0));
            let (lo, hi) = ci_normal(conc.effective_number, conc.effective_number_se, level);
            let eff_row = mk(
                EFFECTIVE_SUPPLIERS,
                conc.effective_number,
                conc.effective_number_se,
                lo.max(1.0),
                hi,
            );
            let noalt = proportion_row(NO_ALTERNATIVE_SHARE, &cat.code, g, &noalt_res[p][d][0]);
            category_rows.extend([
                (dep, n_dep),
                (hhi_row, n_dep),
                (eff_row, n_dep),
                (noalt, noalt_counts[g][ci]),
            ]);
        }
        category_rows
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(n_cat.max(1));
    let mut by_category: Vec<Vec<(EstimateRow, usize)>> = vec![Vec::new(); n_cat];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let per_category = &per_category;
                scope.spawn(move || {
                    (0..n_cat)
                        .filter(|ci| ci % threads == t)
                        .map(|ci| (ci, per_category(ci)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (ci, rows) in h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                by_category[ci] = rows;
            }
        }
    });
    let (category_rows, category_counts): (Vec<EstimateRow>, Vec<usize>) =
        by_category.into_iter().flatten().unzip();

    // Per supplier × segment shares, every categorised supplier (disclose keeps the published
    // ones), by category and then by sector-wide share.
    let mut supplier_rows = Vec::new();
    let mut supplier_row_counts = Vec::new();
    let mut supplier_of_row = Vec::new();
    for cat in &categories {
        let mut members: Vec<usize> = (0..n_sup)
            .filter(|&k| suppliers[k].category.as_deref() == Some(&cat.code))
            .collect();
        members.sort_by(|&a, &b| {
            overall_share[b]
                .total_cmp(&overall_share[a])
                .then_with(|| suppliers[a].name.cmp(&suppliers[b].name))
        });
        for &k in &members {
            for g in 0..segs.len() {
                let mut row = proportion_row(
                    SUPPLIER_SHARE,
                    &suppliers[k].name,
                    g,
                    &supplier_shares[g][k],
                );
                row.level.clone_from(&suppliers[k].name);
                supplier_rows.push(row);
                supplier_row_counts.push(supplier_counts[g][k]);
                supplier_of_row.push(k);
            }
        }
    }

    // The spec's concentration metrics.
    let mut metric_rows = Vec::new();
    for m in spec
        .metrics
        .iter()
        .filter(|m| m.kind == MetricKind::Concentration)
    {
        for r in category_rows.iter().filter(|r| {
            r.metric_id == m.variable && (m.levels.is_empty() || m.levels.contains(&r.level))
        }) {
            let mut row = r.clone();
            row.metric_id = m.id.clone();
            row.metric_version = m.version;
            metric_rows.push(row);
        }
    }

    let tlp = if c.publish_names {
        spec.survey.tlp.max(c.names_tlp)
    } else {
        spec.survey.tlp
    };
    let unresolved = Unresolved::of(&matches, &suppliers, &named, &weighted.weights);
    Ok(Some(Analysis {
        unresolved,
        suppliers,
        matches,
        lists,
        categories,
        named,
        category_rows,
        category_counts,
        supplier_rows,
        supplier_counts: supplier_row_counts,
        supplier_of_row,
        metric_rows,
        publish_names: c.publish_names,
        tlp,
        answered: answered.iter().filter(|a| **a).count(),
    }))
}

fn shown(r: &EstimateRow, x: f64) -> Option<f64> {
    (!r.suppressed && !x.is_nan()).then_some(x)
}

/// `tables/supplier_matches.csv` (internal): every distinct typed name and its resolution.
pub fn matches_table(a: &Analysis) -> Table {
    struct Row {
        typed: String,
        normalized: String,
        how: &'static str,
        similarity: Option<f64>,
        supplier: String,
        category: Option<String>,
        mentions: usize,
        organizations: Option<usize>,
        supplier_organizations: Option<usize>,
    }
    let mut rows: Vec<(bool, Row)> = a
        .matches
        .iter()
        .map(|m| {
            let sup = &a.suppliers[m.supplier];
            let (how, similarity) = match m.resolution.how {
                How::Alias => ("alias", None),
                How::AliasPart => ("alias_part", None),
                How::Similar(s) => ("similar", Some(s)),
                How::AliasWord => ("alias_word", None),
                How::Unresolved => ("unresolved", None),
            };
            (
                sup.category.is_none(),
                Row {
                    typed: m.resolution.typed.clone(),
                    normalized: m.resolution.normalized.clone(),
                    how,
                    similarity,
                    supplier: sup.name.clone(),
                    category: sup.category.clone(),
                    mentions: m.mentions,
                    organizations: Some(m.organizations),
                    supplier_organizations: Some(sup.organizations),
                },
            )
        })
        .collect();
    // A comma-separated list split into its names (each also listed on its own).
    rows.extend(a.lists.iter().map(|(typed, parts, n)| {
        (
            false,
            Row {
                typed: typed.clone(),
                normalized: names::normalize(typed),
                how: "list",
                similarity: None,
                supplier: parts.join("; "),
                category: None,
                mentions: *n,
                organizations: None,
                supplier_organizations: None,
            },
        )
    }));
    rows.sort_by(|x, y| (x.0, &x.1.supplier, &x.1.typed).cmp(&(y.0, &y.1.supplier, &y.1.typed)));
    let rows: Vec<&Row> = rows.iter().map(|r| &r.1).collect();
    let mut t = Table::new();
    t.text("typed", rows.iter().map(|r| Some(r.typed.clone())))
        .text(
            "normalized",
            rows.iter().map(|r| Some(r.normalized.clone())),
        )
        .text("how", rows.iter().map(|r| Some(r.how.to_string())))
        .float("similarity", rows.iter().map(|r| r.similarity))
        .text("supplier", rows.iter().map(|r| Some(r.supplier.clone())))
        .text("category", rows.iter().map(|r| r.category.clone()))
        .int("mentions", rows.iter().map(|r| Some(r.mentions as i64)))
        .int(
            "organizations",
            rows.iter().map(|r| r.organizations.map(|x| x as i64)),
        )
        .int(
            "supplier_organizations",
            rows.iter()
                .map(|r| r.supplier_organizations.map(|x| x as i64)),
        );
    t
}

/// `data/supplier_mentions.csv` (internal, respondent level): which respondent named which
/// supplier, in order — for re-analysis (it never leaves `data/`).
pub fn mentions_table(a: &Analysis, respondents: &[String]) -> Table {
    let mut rows: Vec<(usize, usize, usize)> = Vec::new();
    for (i, set) in a.named.iter().enumerate() {
        for (pos, &k) in set.iter().enumerate() {
            rows.push((i, pos + 1, k));
        }
    }
    let mut t = Table::new();
    t.text(
        "respondent",
        rows.iter().map(|r| Some(respondents[r.0].clone())),
    )
    .int("position", rows.iter().map(|r| Some(r.1 as i64)))
    .text(
        "supplier",
        rows.iter().map(|r| Some(a.suppliers[r.2].name.clone())),
    )
    .text(
        "category",
        rows.iter().map(|r| a.suppliers[r.2].category.clone()),
    )
    .text(
        "published_as",
        rows.iter().map(|r| {
            let s = &a.suppliers[r.2];
            s.published.then(|| s.label.clone())
        }),
    );
    t
}

/// `tables/supplier_dependency.csv` (published): each published supplier's weighted share per
/// segment.
pub fn dependency_table(a: &Analysis, tlp: Tlp) -> Table {
    let rows = &a.supplier_rows;
    let sup = |r: &EstimateRow| {
        a.suppliers
            .iter()
            .find(|s| s.published && s.label == r.level)
    };
    let mut t = Table::new();
    t.text(
        "category",
        rows.iter().map(|r| sup(r).and_then(|s| s.category.clone())),
    )
    .int(
        "rank",
        rows.iter()
            .map(|r| sup(r).and_then(|s| s.rank).map(|x| x as i64)),
    )
    .text("supplier", rows.iter().map(|r| Some(r.level.clone())))
    .text(
        "segment_var",
        rows.iter().map(|r| Some(r.segment_var.clone())),
    )
    .text(
        "segment_value",
        rows.iter().map(|r| Some(r.segment_value.clone())),
    )
    .float("share", rows.iter().map(|r| shown(r, r.estimate)))
    .float("se", rows.iter().map(|r| shown(r, r.se)))
    .float("ci_low", rows.iter().map(|r| shown(r, r.ci_low)))
    .float("ci_high", rows.iter().map(|r| shown(r, r.ci_high)))
    .text(
        "ci_method",
        rows.iter().map(|r| Some(r.ci_method.to_string())),
    )
    .int(
        "n",
        rows.iter().map(|r| (!r.suppressed).then_some(r.n as i64)),
    )
    .boolean(
        "single_point_of_failure",
        rows.iter().map(|r| {
            (r.segment_var == ALL).then(|| sup(r).is_some_and(|s| s.single_point_of_failure))
        }),
    )
    .boolean("suppressed", rows.iter().map(|r| Some(r.suppressed)))
    .text("flag", rows.iter().map(|r| Some(r.flag.clone())))
    .text("tlp", rows.iter().map(|_| Some(tlp.label().to_string())));
    t
}

/// `tables/concentration.csv` (published): per category × segment, the dependency share, HHI,
/// effective number of suppliers and no-alternative share.
pub fn concentration_table(a: &Analysis) -> Table {
    let keys: Vec<&EstimateRow> = a
        .category_rows
        .iter()
        .filter(|r| r.metric_id == DEPENDENCY_SHARE)
        .collect();
    let get = |k: &EstimateRow, stat: &str| {
        a.category_row(stat, &k.level, &k.segment_var, &k.segment_value)
    };
    let mut t = Table::new();
    t.text("category", keys.iter().map(|k| Some(k.level.clone())))
        .text(
            "category_label",
            keys.iter().map(|k| Some(a.category_label(&k.level))),
        )
        .text(
            "segment_var",
            keys.iter().map(|k| Some(k.segment_var.clone())),
        )
        .text(
            "segment_value",
            keys.iter().map(|k| Some(k.segment_value.clone())),
        )
        .int(
            "n",
            keys.iter().map(|k| (!k.suppressed).then_some(k.n as i64)),
        );
    for (stat, prefix) in [
        (DEPENDENCY_SHARE, "dependency_share"),
        (HHI, "hhi"),
        (EFFECTIVE_SUPPLIERS, "effective_suppliers"),
        (NO_ALTERNATIVE_SHARE, "no_alternative_share"),
    ] {
        let col = |f: fn(&EstimateRow) -> f64| {
            keys.iter()
                .map(move |k| get(k, stat).and_then(|r| shown(r, f(r))))
                .collect::<Vec<_>>()
        };
        t.float(prefix, col(|r| r.estimate))
            .float(&format!("{prefix}_se"), col(|r| r.se))
            .float(&format!("{prefix}_ci_low"), col(|r| r.ci_low))
            .float(&format!("{prefix}_ci_high"), col(|r| r.ci_high));
        if stat == HHI {
            t.int(
                "n_dependents",
                keys.iter()
                    .map(|k| get(k, HHI).and_then(|r| (!r.suppressed).then_some(r.n as i64))),
            );
        }
        if stat == NO_ALTERNATIVE_SHARE {
            t.int(
                "no_alternative_n",
                keys.iter()
                    .map(|k| get(k, stat).and_then(|r| (!r.suppressed).then_some(r.n as i64))),
            );
        }
    }
    t.int(
        "single_points_of_failure",
        keys.iter().map(|k| {
            (k.segment_var == ALL).then(|| {
                a.suppliers
                    .iter()
                    .filter(|s| {
                        s.single_point_of_failure && s.category.as_deref() == Some(&k.level)
                    })
                    .count() as i64
            })
        }),
    )
    .text(
        "flag",
        keys.iter().map(|k| {
            let mut f: Vec<String> = Vec::new();
            for stat in [DEPENDENCY_SHARE, HHI, NO_ALTERNATIVE_SHARE] {
                if let Some(r) = get(k, stat).filter(|r| !r.flag.is_empty()) {
                    f.push(format!("{stat}:{}", r.flag));
                }
            }
            Some(f.join(" "))
        }),
    );
    t
}

/// One proposed alias-table row, for a person to accept or edit.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub alias: String,
    pub canonical: String,
    /// Empty when a person must choose it (a supplier the table does not know).
    pub category: String,
    pub organizations: usize,
    pub reason: String,
}

/// Alias-table additions: names resolved only by similarity (confirm them), and unresolved
/// spellings — joined to the closest known supplier when it is similar enough to propose
/// (`near`, Jaro–Winkler on normalized names, any first word), else proposed as a new supplier
/// named after its most frequent spelling. Most-named first.
pub fn suggest(table: &AliasTable, a: &Analysis, near: f64) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for m in &a.matches {
        let sup = &a.suppliers[m.supplier];
        match m.resolution.how {
            How::Similar(sim) => out.push(Suggestion {
                alias: m.resolution.typed.clone(),
                canonical: sup.name.clone(),
                category: sup.category.clone().unwrap_or_default(),
                organizations: m.organizations,
                reason: format!("matched {} by similarity {sim:.3}; confirm", sup.name),
            }),
            How::AliasWord => out.push(Suggestion {
                alias: m.resolution.typed.clone(),
                canonical: sup.name.clone(),
                category: sup.category.clone().unwrap_or_default(),
                organizations: m.organizations,
                reason: format!(
                    "matched {} because it contains that supplier's alias as whole words (and no other supplier's); confirm",
                    sup.name
                ),
            }),
            How::Unresolved => {
                let closest = table
                    .closest(&m.resolution.normalized)
                    .filter(|(s, _)| *s >= near);
                out.push(match closest {
                    Some((sim, entry)) => {
                        let first = |s: &str| s.split(' ').next().unwrap_or_default().to_string();
                        let (mine, theirs) = (
                            first(&m.resolution.normalized),
                            first(&names::normalize(&entry.canonical)),
                        );
                        // Why the resolver did not take it, and whether it is likely another company.
                        let why = if mine != theirs {
                            format!(
                                "PROBABLE LOOK-ALIKE: the first words differ (`{mine}` vs `{theirs}`), so this is a misspelling or another company (as Epicor is not Epic); resolution accepts differing first words only at similarity 0.97 or more — add it only if you know it is the same supplier"
                            )
                        } else {
                            "below the round's similarity threshold — check it is the same".to_string()
                        };
                        Suggestion {
                            alias: m.resolution.typed.clone(),
                            canonical: entry.canonical.clone(),
                            category: entry.category.clone(),
                            organizations: m.organizations,
                            reason: format!(
                                "unresolved; closest known supplier {} (similarity {sim:.3}); {why}",
                                entry.canonical
                            ),
                        }
                    }
                    None => {
                        // Spellings of one new supplier go together: the most-named unresolved
                        // group with the same first word that is similar enough.
                        let first = m.resolution.normalized.split(' ').next().unwrap_or_default();
                        let group = a
                            .suppliers
                            .iter()
                            .filter(|s| s.category.is_none())
                            .filter(|s| {
                                let key = names::normalize(&s.name);
                                key.split(' ').next() == Some(first)
                                    && strsim::jaro_winkler(&key, &m.resolution.normalized) >= near
                            })
                            .max_by(|x, y| {
                                (x.organizations, x.name.len())
                                    .cmp(&(y.organizations, y.name.len()))
                                    .then_with(|| y.name.cmp(&x.name))
                            })
                            .unwrap_or(sup);
                        let organizations: usize = a
                            .suppliers
                            .iter()
                            .filter(|s| s.category.is_none())
                            .filter(|s| {
                                let key = names::normalize(&s.name);
                                key.split(' ').next() == Some(first)
                                    && strsim::jaro_winkler(&key, &names::normalize(&group.name)) >= near
                            })
                            .map(|s| s.organizations)
                            .sum::<usize>()
                            .max(sup.organizations);
                        Suggestion {
                            alias: m.resolution.typed.clone(),
                            canonical: group.name.clone(),
                            category: String::new(),
                            organizations,
                            reason: format!(
                                "unresolved; new supplier named by {organizations} organization(s) in all its spellings; choose its category"
                            ),
                        }
                    }
                });
            }
            How::Alias | How::AliasPart => {}
        }
    }
    out.sort_by(|x, y| {
        y.organizations
            .cmp(&x.organizations)
            .then_with(|| x.canonical.cmp(&y.canonical))
            .then_with(|| x.alias.cmp(&y.alias))
    });
    out
}

/// Read, clean and resolve a round's supplier names (no weighting): for `suppliers suggest`.
pub fn suggestions_for_round(round_dir: &std::path::Path) -> Result<Vec<Suggestion>> {
    let loaded = crate::spec::load(round_dir)?;
    let Some(c) = loaded.spec.concentration.clone() else {
        return Err(crate::error::Error::Usage(format!(
            "{} has no [concentration] section naming the supplier questions",
            loaded.path.display()
        )));
    };
    let population = crate::weight::Population::read(&loaded)?;
    let sources = crate::ingest::read_all(&loaded)?;
    let cleaned = crate::clean::clean(&loaded, &sources, &population.frame())?;
    let Resolved {
        suppliers,
        matches,
        named,
        lists,
    } = resolve_names(&loaded, &c, &cleaned.records)?;
    let table = AliasTable::read(&loaded.input(&c.aliases, "concentration.aliases")?)?;
    let analysis = Analysis {
        suppliers,
        matches,
        lists,
        categories: Vec::new(),
        named,
        category_rows: Vec::new(),
        category_counts: Vec::new(),
        supplier_rows: Vec::new(),
        supplier_counts: Vec::new(),
        supplier_of_row: Vec::new(),
        metric_rows: Vec::new(),
        publish_names: c.publish_names,
        tlp: loaded.spec.survey.tlp,
        answered: 0,
        unresolved: Unresolved::default(),
    };
    Ok(suggest(&table, &analysis, 0.85))
}

/// The suggestions as CSV: the first three columns are the alias table's.
pub fn suggestions_csv(rows: &[Suggestion]) -> Table {
    let mut t = Table::new();
    t.text("alias", rows.iter().map(|r| Some(r.alias.clone())))
        .text("canonical", rows.iter().map(|r| Some(r.canonical.clone())))
        .text("category", rows.iter().map(|r| Some(r.category.clone())))
        .int(
            "organizations",
            rows.iter().map(|r| Some(r.organizations as i64)),
        )
        .text("reason", rows.iter().map(|r| Some(r.reason.clone())));
    t
}

#[cfg(test)]
mod tests {
    use super::names::Alias;
    use super::*;

    #[test]
    fn comma_lists_split_only_when_every_part_is_a_known_supplier() {
        let a = |alias: &str, canonical: &str| Alias {
            alias: alias.into(),
            canonical: canonical.into(),
            category: "x".into(),
        };
        let table = AliasTable::new(vec![
            a("Epic", "Epic"),
            a("Epic Systems", "Epic"),
            a("Change Healthcare", "Change Healthcare"),
            a("Medical Information Technology", "MEDITECH"),
        ]);
        assert_eq!(
            as_list("Epic, Change Healthcare", &table, 0.92),
            Some(vec!["Epic".to_string(), "Change Healthcare".to_string()])
        );
        // A legal form after a comma belongs to the name: it resolves whole, never split.
        assert_eq!(as_list("Epic Systems, Inc.", &table, 0.92), None);
        assert_eq!(
            as_list("Medical Information Technology, Inc.", &table, 0.92),
            None
        );
        // A list the similarity rule would have taken for its first name alone.
        assert_eq!(
            as_list("Epic Systems, Change Healthcare", &table, 0.92),
            Some(vec![
                "Epic Systems".to_string(),
                "Change Healthcare".to_string()
            ])
        );
        // A legal form after a comma stays with its name.
        assert_eq!(
            as_list("epic, Inc, Change Healthcare", &table, 0.92),
            Some(vec![
                "epic, Inc".to_string(),
                "Change Healthcare".to_string()
            ])
        );
        // A part nobody knows: the answer stays one unresolved name for review.
        assert_eq!(as_list("Epic, our local billing firm", &table, 0.92), None);
        assert_eq!(as_list("Epic", &table, 0.92), None);
    }
}

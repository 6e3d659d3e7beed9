//! Disclosure control: the stage between estimate and render/export that owns every publication
//! decision. Nothing published may identify an organization, directly or by combining published
//! numbers (docs/disclosure.md).
//!
//! 1. **Primary suppression.** A count of fewer than `publication.min_cell_size` organizations
//!    (a segment, a histogram bin, the dependents of a supplier category), a supplier share
//!    resting on too few naming organizations, a mean or total of a numeric question that one
//!    organization dominates (`publication.dominance_share`), and (reliability, not
//!    confidentiality) a proportion failing the NCHS standard.
//! 2. **Linked tables.** Every published number is a cell of one model: counts, weight sums and
//!    weighted totals per condition (the respondents a metric, bin or supplier statistic counts)
//!    and segment. Segment levels add up to their variable's total, a cross's cells to its
//!    margins, bins to their segment; a published mean or share ties its weighted total to its
//!    weight sum; population targets are known. The same cell shown by several tables (the
//!    weight summary's counts, an estimate's `n`) is one cell.
//! 3. **Secondary suppression with an attacker's audit.** For each protected cell the attacker's
//!    interval — the minimum and maximum the published numbers allow ([`attack`], linear
//!    programs) — must be at least the protection width (`publication.protection`). While it is
//!    not, the published cell in the cell's relations that costs least (organizations it would
//!    hide, more for a segment already largely hidden and much more for the overall figure) is
//!    withheld from every table that shows it. Withholding only widens intervals, so a cell once
//!    protected stays protected, and the loop ends.
//! 4. **The audit** of the final publication: every protected cell with the interval that proves
//!    it (a proof made before later withholding stays a proof: withholding only widens), the
//!    others attacked again up to their whole linked component; a cell it can still narrow below
//!    the protection width fails the run's quality gate. Its rows are written, internal, to
//!    `tables/disclosure_audit.csv`.

pub mod attack;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use attack::{Polytope, Sense};

use crate::clean::Records;
use crate::concentration::{self as conc, Analysis};
use crate::estimate::{
    self, ComparisonRow, DistributionRow, EstimateRow, WeightSummaryRow, ALL, NCHS_SUPPRESS,
};
use crate::score::Scores;
use crate::spec::{MetricKind, NchsAction, QuestionType, Spec, MATURITY_PREFIX, RISK_INDEX};
use crate::table::Table;
use crate::weight::Weighted;

/// Withheld: fewer than `min_cell_size` organizations.
pub const BELOW_MIN_CELL: &str = "below_min_cell";
/// Withheld: a supplier (or category) named by 1 to `min_cell_size − 1` organizations of the
/// segment.
pub const FEW_NAMING: &str = "few_naming";
/// Withheld: a histogram bin holding 1 to `min_cell_size − 1` organizations.
pub const FEW_IN_BIN: &str = "few_in_bin";
/// Withheld: one organization contributes more than `dominance_share` of the total.
pub const DOMINANCE: &str = "dominance";
/// Withheld so that a withheld neighbour cannot be worked out (secondary suppression).
pub const SECONDARY: &str = "complementary_suppression";
/// Reason of a row withheld as too unreliable (its flags say which NCHS rule).
const UNRELIABLE: &str = "nchs";
/// Reason of a comparison withheld with the estimates it compares.
const WITH_ESTIMATE: &str = "estimate_withheld";
/// Reason of a model's factor test withheld with every coefficient it tests.
const WITH_COEFFICIENTS: &str = "coefficients_withheld";

/// The publication rules of a round, from `[publication]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub min_cell: usize,
    /// Protection widths: counts (organizations), shares (0–1), means (fraction of the
    /// variable's range; totals: of the value).
    pub count_width: f64,
    pub share_width: f64,
    pub mean_width: f64,
    /// One organization's largest share of a total above which it is withheld (0 = off).
    pub dominance_share: f64,
    /// Proportions failing the NCHS standard are withheld.
    pub nchs_suppress: bool,
}

impl Policy {
    pub fn new(spec: &Spec) -> Self {
        let p = &spec.publication;
        Policy {
            min_cell: p.min_cell_size,
            // "At least min_cell_size possible counts": [0, 4] holds five.
            count_width: p
                .protection
                .count
                .unwrap_or(p.min_cell_size.saturating_sub(1) as f64),
            share_width: p.protection.share,
            mean_width: p.protection.mean,
            dominance_share: p.dominance_share,
            nchs_suppress: p.nchs_proportions && p.nchs_action == NchsAction::Suppress,
        }
    }

    /// The protection width of a share of a segment of `n` organizations resting on too few of
    /// them (a rarely named supplier, a sparse bin): as uncertain as `count_width` organizations
    /// of the segment, and never more than `share_width`.
    pub fn share_of(&self, n: usize) -> f64 {
        if n == 0 {
            return self.share_width;
        }
        self.share_width.min(self.count_width / n as f64)
    }

    /// Too few organizations to publish a number resting on `n` of them.
    pub fn too_few(&self, n: usize) -> bool {
        n < self.min_cell
    }
}

/// One protected cell as the attacker's audit left it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    /// The published table whose row the cell belongs to.
    pub table: &'static str,
    /// What the cell counts (`n · v:risk_index`, `share · v:risk_index [40, 60)` …).
    pub cell: String,
    pub segment_var: String,
    pub segment_value: String,
    /// The primary rule that withheld it.
    pub rule: &'static str,
    /// `count`, `share`, `mean` or `total`.
    pub statistic: &'static str,
    /// The true value (this table is internal).
    pub value: f64,
    /// The interval an attacker can narrow it to from the published numbers.
    pub attacked_low: f64,
    pub attacked_high: f64,
    /// The protection width it needs.
    pub required: f64,
    pub protected: bool,
    /// The attacker's program: `families` / `parts` (the target's statistics, other withheld
    /// cells held at their true values: the attacker's interval is at least this wide) or
    /// `whole` (everything linked: exactly the attacker's interval).
    pub program: &'static str,
}

/// What the stage decided, for the report, the manifest and the quality gates.
#[derive(Debug, Clone)]
pub struct Disclosure {
    pub policy: Policy,
    pub audit: Vec<AuditRow>,
    /// Cells the audit can narrow below their protection (each fails the quality gate).
    pub failures: Vec<String>,
    /// Per published table, rows withheld for each reason (`below_min_cell`, `few_naming`,
    /// `few_in_bin`, `dominance`, `complementary_suppression`, `nchs`), and rows in all.
    pub withheld: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    pub rows: BTreeMap<&'static str, usize>,
    /// Whether the respondent count of each weighting margin may be shown (aligned with
    /// `Weighted::margins`).
    pub margin_shown: Vec<bool>,
    /// Linear programs solved.
    pub programs: usize,
}

impl Disclosure {
    /// Whether a weighting margin's respondent count may be shown (`m` one of `margins`).
    pub fn margin_shown_for(
        &self,
        margins: &[crate::weight::MarginCheck],
        m: &crate::weight::MarginCheck,
    ) -> bool {
        margins
            .iter()
            .position(|x| std::ptr::eq(x, m))
            .and_then(|i| self.margin_shown.get(i).copied())
            .unwrap_or(false)
    }
}

/// The round's results, before (in) and after (out) disclosure control.
pub struct Results<'a> {
    pub estimates: &'a mut Vec<EstimateRow>,
    pub comparisons: &'a mut Vec<ComparisonRow>,
    pub distributions: &'a mut Vec<DistributionRow>,
    pub weight_summary: &'a mut Vec<WeightSummaryRow>,
    pub concentration: Option<&'a mut Analysis>,
    pub models: &'a mut Vec<crate::estimate::ModelRow>,
}

/// How far the stage goes: everything, or (to show what the audit catches) primary suppression
/// only, as each table was protected on its own before this stage existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    PrimaryOnly,
}

/// Decide what is published: primary suppression, secondary suppression across all tables, the
/// audit; the rows' `suppressed` and `flag` are set, unpublished suppliers dropped.
pub fn disclose(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    weighted: &Weighted,
    results: Results<'_>,
    mode: Mode,
) -> Disclosure {
    let policy = Policy::new(spec);
    let Results {
        estimates,
        comparisons,
        distributions,
        weight_summary,
        mut concentration,
        models,
    } = results;
    // Suppliers: published when named by enough organizations; ranked within their category by
    // the sector-wide share; unpublished suppliers' rows are dropped before anything else.
    if let Some(c) = concentration.as_deref_mut() {
        publish_suppliers(spec, &policy, c);
    }
    let mut m = Model::default();
    let dominated = dominance(spec, records, scores, weighted, &policy);
    let observed = observed_ranges(spec, records);
    m.add_estimates(spec, &policy, estimates, &dominated, &observed);
    if let Some(c) = concentration.as_deref() {
        m.add_concentration(&policy, c);
    }
    m.add_distributions(&policy, distributions);
    m.add_models(spec, &policy, models, &observed);
    m.add_weight_summary(weight_summary);
    m.add_margins(weighted);
    m.relations();
    m.primary(&policy);
    let debug = std::env::var_os("SUPPLYRISK_DEBUG_DISCLOSE").is_some();
    let t0 = std::time::Instant::now();
    if mode == Mode::Full {
        m.secondary();
    }
    let (t1, p1) = (t0.elapsed(), m.programs);
    let (audit, failures) = m.audit();
    if debug {
        eprintln!(
            "disclose: {} cells, {} rows, {} relations, {} targets; secondary {:.2?} ({} programs), audit {:.2?} ({} programs)",
            m.cells.len(), m.rows.len(), m.cons.len(), m.protect.len(), t1, p1, t0.elapsed() - t1, m.programs - p1
        );
    }

    // Write the decisions back.
    let reason =
        |m: &Model, tab: Tab, i: usize| m.row_of.get(&(tab, i)).and_then(|&r| m.rows[r].hidden);
    let mark = |suppressed: &mut bool, flag: &mut String, why: Option<&'static str>| {
        if let Some(why) = why {
            *suppressed = true;
            if why != UNRELIABLE && !flag.split(';').any(|f| f == why) {
                if !flag.is_empty() {
                    flag.push(';');
                }
                flag.push_str(why);
            }
        }
    };
    let mut withheld: BTreeMap<&'static str, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let mut rows: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut count = |tab: Tab, why: Option<&'static str>| {
        *rows.entry(tab.name()).or_default() += 1;
        if let Some(w) = why {
            *withheld
                .entry(tab.name())
                .or_default()
                .entry(w)
                .or_default() += 1;
        }
    };
    for (i, r) in estimates.iter_mut().enumerate() {
        let why = reason(&m, Tab::Estimates, i);
        mark(&mut r.suppressed, &mut r.flag, why);
        count(Tab::Estimates, why);
    }
    for (i, r) in distributions.iter_mut().enumerate() {
        let why = reason(&m, Tab::Distributions, i);
        mark(&mut r.suppressed, &mut r.flag, why);
        count(Tab::Distributions, why);
    }
    for (i, r) in weight_summary.iter_mut().enumerate() {
        let why = reason(&m, Tab::WeightSummary, i);
        mark(&mut r.suppressed, &mut r.flag, why);
        count(Tab::WeightSummary, why);
    }
    if let Some(c) = concentration {
        for (i, r) in c.category_rows.iter_mut().enumerate() {
            let why = reason(&m, Tab::Category, i);
            mark(&mut r.suppressed, &mut r.flag, why);
            count(Tab::Category, why);
        }
        for (i, r) in c.supplier_rows.iter_mut().enumerate() {
            let why = reason(&m, Tab::Supplier, i);
            mark(&mut r.suppressed, &mut r.flag, why);
            count(Tab::Supplier, why);
        }
        let ids: BTreeSet<&str> = spec
            .metrics
            .iter()
            .filter(|x| x.kind == MetricKind::Concentration)
            .map(|x| x.id.as_str())
            .collect();
        c.metric_rows = estimates
            .iter()
            .filter(|r| ids.contains(r.metric_id.as_str()))
            .cloned()
            .collect();
        single_points_of_failure(spec, c);
    }
    // A one-factor model restates its levels' estimates: its rows are the model's rows. Any
    // other model's coefficient for a factor level few organizations are at is close to their
    // own answers: withheld like a small cell. A factor's Wald test goes with its coefficients.
    let mut why: Vec<Option<&'static str>> = models
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.reveals.is_empty() {
                (r.row == "coefficient" && r.n_level.is_some_and(|n| policy.too_few(n)))
                    .then_some(BELOW_MIN_CELL)
            } else {
                reason(&m, Tab::Models, i)
            }
        })
        .collect();
    for (i, r) in models.iter().enumerate() {
        let coefficients = || {
            models.iter().enumerate().filter(|(_, x)| {
                x.row == "coefficient" && x.model_id == r.model_id && x.term == r.term
            })
        };
        if r.row == "term_test" && coefficients().all(|(j, _)| why[j].is_some()) {
            why[i] = Some(WITH_COEFFICIENTS);
        }
    }
    for (r, why) in models.iter_mut().zip(why) {
        r.suppressed = why.is_some();
        r.flag = why.unwrap_or_default().to_string();
        count(Tab::Models, why);
    }
    // A difference of a withheld estimate, or from a withheld overall figure, is withheld.
    let hidden: BTreeSet<(&str, &str, &str, &str)> = estimates
        .iter()
        .filter(|e| e.suppressed)
        .map(|e| {
            (
                e.metric_id.as_str(),
                e.level.as_str(),
                e.segment_var.as_str(),
                e.segment_value.as_str(),
            )
        })
        .collect();
    for c in comparisons.iter_mut() {
        if c.test == "difference" {
            let me = (c.metric_id.as_str(), c.level.as_str());
            c.suppressed = hidden.contains(&(me.0, me.1, &c.segment_var, &c.segment_value))
                || hidden.contains(&(me.0, me.1, ALL, ""));
        }
        count(Tab::Comparisons, c.suppressed.then_some(WITH_ESTIMATE));
    }
    let margin_shown = m
        .margin_rows
        .iter()
        .map(|&r| m.rows[r].hidden.is_none())
        .collect();
    Disclosure {
        policy,
        audit,
        failures,
        withheld,
        rows,
        margin_shown,
        programs: m.programs,
    }
}

/// Published suppliers: resolved to a category and named by enough organizations; ranked
/// within the category by the sector-wide share, labelled by name only with `publish_names`.
fn publish_suppliers(spec: &Spec, policy: &Policy, c: &mut Analysis) {
    let publish_names = spec.concentration.as_ref().is_some_and(|x| x.publish_names);
    for s in &mut c.suppliers {
        s.published = s.category.is_some() && !policy.too_few(s.organizations);
        s.rank = None;
    }
    // Supplier rows come by category, then by sector-wide share: ranks follow that order.
    let mut next: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for &k in &c.supplier_of_row {
        let s = &mut c.suppliers[k];
        if !s.published || !seen.insert(k) {
            continue;
        }
        let cat = s.category.clone().unwrap_or_default();
        let r = next.entry(cat.clone()).or_insert(0);
        *r += 1;
        s.rank = Some(*r);
        let label = c
            .categories
            .iter()
            .find(|x| x.code == cat)
            .map_or(cat.clone(), |x| x.label.clone());
        s.label = if publish_names {
            s.name.clone()
        } else {
            format!("{label} #{r}")
        };
    }
    let keep: Vec<bool> = c
        .supplier_of_row
        .iter()
        .map(|&k| c.suppliers[k].published)
        .collect();
    let mut k = 0;
    c.supplier_rows.retain(|_| {
        k += 1;
        keep[k - 1]
    });
    let mut k = 0;
    c.supplier_counts.retain(|_| {
        k += 1;
        keep[k - 1]
    });
    c.supplier_of_row.retain(|&s| c.suppliers[s].published);
    for (row, &s) in c.supplier_rows.iter_mut().zip(&c.supplier_of_row) {
        row.level.clone_from(&c.suppliers[s].label);
    }
}

/// Single points of failure: a published supplier named by at least `single_point_share` of
/// the weighted sector, in a category whose published overall no-alternative share exceeds
/// `single_point_no_alternative`.
fn single_points_of_failure(spec: &Spec, c: &mut Analysis) {
    let Some(cs) = &spec.concentration else {
        return;
    };
    let overall: BTreeMap<usize, f64> = c
        .supplier_rows
        .iter()
        .zip(&c.supplier_of_row)
        .filter(|(r, _)| r.segment_var == ALL)
        .map(|(r, &k)| (k, r.estimate))
        .collect();
    for (k, s) in c.suppliers.iter_mut().enumerate() {
        let noalt = s.category.as_deref().and_then(|cat| {
            c.category_rows.iter().find(|r| {
                r.metric_id == conc::NO_ALTERNATIVE_SHARE && r.level == cat && r.segment_var == ALL
            })
        });
        s.single_point_of_failure = s.published
            && overall.get(&k).is_some_and(|&x| x >= cs.single_point_share)
            && noalt.is_some_and(|r| !r.suppressed && r.estimate > cs.single_point_no_alternative);
    }
}

/// Per metric of a numeric question (mean, total, ratio) and segment, whether one organization
/// contributes more than `dominance_share` of the weighted total: `(metric id, segment var,
/// segment value)`.
fn dominance(
    spec: &Spec,
    records: &Records,
    scores: &Scores,
    weighted: &Weighted,
    policy: &Policy,
) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    if policy.dominance_share <= 0.0 || policy.dominance_share >= 1.0 {
        return out;
    }
    let numeric = |v: &str| {
        spec.questions
            .iter()
            .any(|q| q.id == v && q.kind == QuestionType::Numeric)
    };
    let metrics: Vec<_> = spec
        .metrics
        .iter()
        .filter(|m| {
            matches!(
                m.kind,
                MetricKind::Mean | MetricKind::Total | MetricKind::Ratio
            ) && numeric(&m.variable)
        })
        .collect();
    if metrics.is_empty() {
        return out;
    }
    let segs = estimate::segments(spec, records);
    let w = &weighted.weights;
    for m in metrics {
        let y = estimate::numeric_values(spec, records, scores, &m.variable);
        for s in &segs {
            let (mut total, mut largest) = (0.0f64, 0.0f64);
            for i in 0..y.len() {
                if y[i].is_nan() || w[i] <= 0.0 || !s.mask.as_ref().is_none_or(|mk| mk[i]) {
                    continue;
                }
                let c = (w[i] * y[i]).abs();
                total += c;
                largest = largest.max(c);
            }
            if total > 0.0 && largest > policy.dominance_share * total {
                out.insert((m.id.clone(), s.var.clone(), s.value.clone()));
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Count,
    Weight,
    Total,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Tab {
    Estimates,
    Category,
    Supplier,
    Distributions,
    WeightSummary,
    Margins,
    Comparisons,
    Models,
}

impl Tab {
    fn name(self) -> &'static str {
        match self {
            Tab::Estimates => "estimates",
            Tab::Category => "concentration",
            Tab::Supplier => "supplier_dependency",
            Tab::Distributions => "distributions",
            Tab::WeightSummary => "weight_summary",
            Tab::Margins => "report: weighting margins",
            Tab::Comparisons => "comparisons",
            Tab::Models => "models",
        }
    }
}

#[derive(Debug)]
struct Cell {
    kind: Kind,
    value: f64,
    lower: f64,
    upper: f64,
    /// Known to anyone before publication (population targets).
    prior: bool,
    label: String,
    /// The respondents it counts (`v:risk_index`, `named`, `kept` …).
    cond: String,
    /// The part of it (a bin, a proportion's level), empty for the whole.
    part: String,
    /// A bin of a histogram: one part of its segment's partition.
    binned: bool,
    segment: (String, String),
    primary: Option<&'static str>,
    /// Rows that show the cell.
    carriers: Vec<usize>,
    /// Of those, rows published.
    visible: usize,
}

#[derive(Debug)]
struct Row {
    tab: Tab,
    cells: Vec<usize>,
    /// A published ratio: numerator cell, denominator cell, value.
    ratio: Option<(usize, usize, f64)>,
    /// Organizations the row rests on (what withholding it costs).
    orgs: f64,
    segment: (String, String),
    hidden: Option<&'static str>,
}

/// A linear relation among cells: `Σ coef · cell (sense) 0`; with `if_visible`, it holds for the
/// attacker only while that row is published (a published share).
#[derive(Debug)]
struct Con {
    terms: Vec<(usize, f64)>,
    sense: Sense,
    if_visible: Option<usize>,
    /// An additive line (segments to their total, bins to their segment).
    line: bool,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Count(usize),
    Ratio(usize, usize),
    Total(usize),
}

#[derive(Debug)]
struct Protect {
    target: Target,
    rule: &'static str,
    statistic: &'static str,
    required: f64,
    tab: Tab,
    /// The reach and interval with which secondary suppression proved the target protected.
    proven: Option<Proof>,
}

type CellKey = (Kind, String, String, String, String);
/// A segment: variable and value (`all`, empty for everyone).
type Seg = (String, String);
/// One statistic over the segments: kind, condition, part.
type Family = (Kind, String, String);
/// The program that proved a target protected, and the interval it proved.
type Proof = (Reach, (f64, f64));

/// How much of the linked component an attacker's program takes in: the target's own families
/// (one statistic over the segments), every part of its statistics (all bins, all levels), or
/// everything linked. The first two hold the other unknowns at their true values — an inner
/// approximation of the attacker's interval, so a width proven there holds in the whole program;
/// and withholding more only widens it at every reach, so a proof stays true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Families,
    Parts,
    Whole,
}

impl Reach {
    fn name(self) -> &'static str {
        match self {
            Reach::Families => "families",
            Reach::Parts => "parts",
            Reach::Whole => "whole",
        }
    }
}

struct Scope<'a> {
    families: BTreeSet<(Kind, &'a str, &'a str)>,
    all_parts: bool,
}

impl Scope<'_> {
    fn admits(&self, c: &Cell) -> bool {
        if self.all_parts {
            self.families.iter().any(|f| f.0 == c.kind && f.1 == c.cond)
        } else {
            self.families
                .contains(&(c.kind, c.cond.as_str(), c.part.as_str()))
        }
    }
}

#[derive(Default)]
struct Model {
    cells: Vec<Cell>,
    index: BTreeMap<CellKey, usize>,
    rows: Vec<Row>,
    row_of: BTreeMap<(Tab, usize), usize>,
    cons: Vec<Con>,
    cell_cons: Vec<Vec<usize>>,
    /// Parent and children of the partitions (bins of a segment).
    partitions: BTreeMap<usize, BTreeSet<usize>>,
    /// Each weighted total's weight sum and the variable's range.
    bounds: BTreeMap<usize, (usize, f64, f64)>,
    protect: Vec<Protect>,
    margin_rows: Vec<usize>,
    /// Hidden and all rows per segment.
    per_segment: BTreeMap<(String, String), (usize, usize)>,
    programs: usize,
}

/// The observed range of each numeric question's answers, for questions without a `range`.
fn observed_ranges(spec: &Spec, records: &Records) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    for (qi, q) in spec.questions.iter().enumerate() {
        if q.range.is_some() || q.kind != crate::spec::QuestionType::Numeric {
            continue;
        }
        let (lo, hi) = records
            .column(qi)
            .iter()
            .filter_map(|a| a.as_number())
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            });
        if lo <= hi {
            out.insert(q.id.clone(), (lo.min(0.0), hi.max(0.0)));
        }
    }
    out
}

/// The range of a variable's values, for the bounds of its weighted totals: the spec's
/// `range`, else the range the round's answers span (with 0), which every true value lies in —
/// bounds no wider than the truth only make the audit's attacker stronger. Unbounded totals
/// would leave the attack's linear programs unbounded.
fn variable_range(spec: &Spec, observed: &BTreeMap<String, (f64, f64)>, var: &str) -> (f64, f64) {
    if var == RISK_INDEX {
        return (0.0, 100.0);
    }
    if var.starts_with(MATURITY_PREFIX) {
        return (0.0, 1.0);
    }
    spec.questions
        .iter()
        .find(|q| q.id == var)
        .and_then(|q| q.range)
        .map(|r| (r[0], r[1]))
        .or_else(|| observed.get(var).copied())
        .unwrap_or((f64::NEG_INFINITY, f64::INFINITY))
}

impl Model {
    #[allow(clippy::too_many_arguments)]
    fn cell(
        &mut self,
        kind: Kind,
        cond: &str,
        part: &str,
        seg: (&str, &str),
        value: f64,
        lower: f64,
        upper: f64,
    ) -> usize {
        let key = (
            kind,
            cond.to_string(),
            part.to_string(),
            seg.0.to_string(),
            seg.1.to_string(),
        );
        if let Some(&c) = self.index.get(&key) {
            return c;
        }
        let what = match kind {
            Kind::Count => "n",
            Kind::Weight => "weight",
            Kind::Total => "weighted total",
        };
        let label = if part.is_empty() {
            format!("{what} · {cond}")
        } else {
            format!("{what} · {cond} {part}")
        };
        self.cells.push(Cell {
            kind,
            value,
            lower,
            upper,
            prior: false,
            label,
            cond: cond.to_string(),
            part: part.to_string(),
            binned: false,
            segment: (seg.0.to_string(), seg.1.to_string()),
            primary: None,
            carriers: Vec::new(),
            visible: 0,
        });
        self.cell_cons.push(Vec::new());
        self.index.insert(key, self.cells.len() - 1);
        self.cells.len() - 1
    }

    fn count(&mut self, cond: &str, part: &str, seg: (&str, &str), n: usize) -> usize {
        self.cell(Kind::Count, cond, part, seg, n as f64, 0.0, f64::INFINITY)
    }

    fn weight(&mut self, cond: &str, part: &str, seg: (&str, &str), w: f64) -> usize {
        self.cell(Kind::Weight, cond, part, seg, w, 0.0, f64::INFINITY)
    }

    /// A weighted total `Σ w·y` of a variable in `[lo, hi]`, tied to its weight sum.
    #[allow(clippy::too_many_arguments)]
    fn total(
        &mut self,
        cond: &str,
        part: &str,
        seg: (&str, &str),
        y: f64,
        w: usize,
        lo: f64,
        hi: f64,
    ) -> usize {
        let (lower, upper) = if lo >= 0.0 {
            (0.0, f64::INFINITY)
        } else {
            (f64::NEG_INFINITY, f64::INFINITY)
        };
        let c = self.cell(Kind::Total, cond, part, seg, y, lower, upper);
        self.bounds.entry(c).or_insert((w, lo, hi));
        c
    }

    fn row(
        &mut self,
        tab: Tab,
        index: usize,
        seg: (&str, &str),
        cells: Vec<usize>,
        ratio: Option<(usize, usize, f64)>,
        orgs: usize,
    ) -> usize {
        let r = self.rows.len();
        for &c in &cells {
            self.cells[c].carriers.push(r);
            self.cells[c].visible += 1;
        }
        let segment = (seg.0.to_string(), seg.1.to_string());
        self.per_segment.entry(segment.clone()).or_default().1 += 1;
        self.rows.push(Row {
            tab,
            cells,
            ratio,
            orgs: orgs as f64,
            segment,
            hidden: None,
        });
        self.row_of.insert((tab, index), r);
        r
    }

    fn add_estimates(
        &mut self,
        spec: &Spec,
        policy: &Policy,
        rows: &[EstimateRow],
        dominated: &BTreeSet<(String, String, String)>,
        observed: &BTreeMap<String, (f64, f64)>,
    ) {
        let metrics: BTreeMap<&str, &crate::spec::Metric> =
            spec.metrics.iter().map(|m| (m.id.as_str(), m)).collect();
        for (i, e) in rows.iter().enumerate() {
            let seg = (e.segment_var.as_str(), e.segment_value.as_str());
            let Some(m) = metrics.get(e.metric_id.as_str()) else {
                continue;
            };
            let (cells, ratio) = if m.kind == MetricKind::Concentration {
                self.concentration_cells(&m.variable, e)
            } else {
                let cond = match &m.denominator {
                    Some(d) if m.kind == MetricKind::Ratio => format!("v:{}/{d}", m.variable),
                    _ => format!("v:{}", m.variable),
                };
                let n = self.count(&cond, "", seg, e.n);
                let w = self.weight(&cond, "", seg, e.weight_sum);
                match e.statistic {
                    "mean" | "total" => {
                        let (lo, hi) = variable_range(spec, observed, &m.variable);
                        let yv = if e.statistic == "mean" {
                            e.estimate * e.weight_sum
                        } else {
                            e.estimate
                        };
                        let y = self.total(&cond, "", seg, yv, w, lo, hi);
                        if dominated.contains(&(
                            e.metric_id.clone(),
                            e.segment_var.clone(),
                            e.segment_value.clone(),
                        )) && !policy.too_few(e.n)
                        {
                            self.cells[y].primary.get_or_insert(DOMINANCE);
                            let width = policy.mean_width * yv.abs();
                            self.protect_once(
                                Target::Total(y),
                                DOMINANCE,
                                "total",
                                width,
                                Tab::Estimates,
                            );
                        }
                        let ratio = (e.statistic == "mean").then_some((y, w, e.estimate));
                        (vec![n, w, y], ratio)
                    }
                    "proportion" => {
                        let y = self.total(
                            &cond,
                            &e.level,
                            seg,
                            e.estimate * e.weight_sum,
                            w,
                            0.0,
                            1.0,
                        );
                        (vec![n, w, y], Some((y, w, e.estimate)))
                    }
                    _ => (vec![n, w], None),
                }
            };
            let r = self.row(Tab::Estimates, i, seg, cells, ratio, e.n);
            if e.statistic == "ratio"
                && dominated.contains(&(
                    e.metric_id.clone(),
                    e.segment_var.clone(),
                    e.segment_value.clone(),
                ))
                && !policy.too_few(e.n)
            {
                self.rows[r].hidden = Some(DOMINANCE);
            }
            if policy.nchs_suppress && e.flag.split(';').any(|f| NCHS_SUPPRESS.contains(&f)) {
                self.rows[r].hidden.get_or_insert(UNRELIABLE);
            }
        }
    }

    /// A one-factor model's rows: each shows the cells of the levels it gives away (see
    /// [`estimate::ModelRow::reveals`]), its own level's mean or share first. A level whose
    /// respondents are exactly an estimate's (same count, weight sum and total) is that
    /// estimate's cells, so the model can neither reveal a withheld estimate nor escape its
    /// suppression; otherwise the model's levels are cells of their own. A share the NCHS
    /// standard withholds — in the estimates table or as the model's own level — is withheld.
    fn add_models(
        &mut self,
        spec: &Spec,
        policy: &Policy,
        models: &[estimate::ModelRow],
        observed: &BTreeMap<String, (f64, f64)>,
    ) {
        let unreliable: BTreeSet<(usize, usize)> = self
            .rows
            .iter()
            .filter(|r| r.tab == Tab::Estimates && r.hidden == Some(UNRELIABLE))
            .filter_map(|r| r.ratio.map(|(y, w, _)| (y, w)))
            .collect();
        for (i, r) in models.iter().enumerate() {
            let Some(first) = r.reveals.first() else {
                continue;
            };
            let logistic = r.family == "quasibinomial";
            let part = if logistic {
                spec.models
                    .iter()
                    .find(|x| x.id == r.model_id)
                    .map(|x| x.levels.join("|"))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let (lo, hi) = if logistic {
                (0.0, 1.0)
            } else {
                variable_range(spec, observed, &r.response)
            };
            let mut cells = Vec::new();
            let mut ratio = None;
            let mut withheld = false;
            for g in &r.reveals {
                let seg = (g.var.as_str(), g.level.as_str());
                let shared = format!("v:{}", r.response);
                let same = |kind: Kind, part: &str, value: f64| {
                    let key = (
                        kind,
                        shared.clone(),
                        part.to_string(),
                        g.var.clone(),
                        g.level.clone(),
                    );
                    self.index.get(&key).map(|&c| {
                        let v = self.cells[c].value;
                        (v - value).abs() <= 1e-9 * v.abs().max(1.0)
                    })
                };
                let linked = same(Kind::Count, "", g.n as f64) == Some(true)
                    && same(Kind::Weight, "", g.weight_sum) == Some(true)
                    && same(Kind::Total, &part, g.total) != Some(false);
                let cond = if linked {
                    shared
                } else {
                    format!("model:{}:{}", r.model_id, r.response)
                };
                let n = self.count(&cond, "", seg, g.n);
                let w = self.weight(&cond, "", seg, g.weight_sum);
                let y = self.total(&cond, &part, seg, g.total, w, lo, hi);
                ratio.get_or_insert((y, w, g.total / g.weight_sum));
                cells.extend([n, w, y]);
                withheld |= unreliable.contains(&(y, w))
                    || (policy.nchs_suppress
                        && g.nchs_flags.iter().any(|f| NCHS_SUPPRESS.contains(f)));
            }
            let seg = (first.var.as_str(), first.level.as_str());
            let row = self.row(Tab::Models, i, seg, cells, ratio, first.n);
            if withheld {
                self.rows[row].hidden = Some(UNRELIABLE);
            }
        }
    }

    /// The cells of a concentration row (a category statistic or a supplier share).
    fn concentration_cells(
        &mut self,
        stat: &str,
        e: &EstimateRow,
    ) -> (Vec<usize>, Option<(usize, usize, f64)>) {
        let seg = (e.segment_var.as_str(), e.segment_value.as_str());
        match stat {
            conc::DEPENDENCY_SHARE | conc::SUPPLIER_SHARE => {
                let n = self.count("named", "", seg, e.n);
                let w = self.weight("named", "", seg, e.weight_sum);
                let cond = if stat == conc::SUPPLIER_SHARE {
                    format!("supplier:{}", e.level)
                } else {
                    format!("dependents:{}", e.level)
                };
                let y = self.total(&cond, "", seg, e.estimate * e.weight_sum, w, 0.0, 1.0);
                (vec![n, w, y], Some((y, w, e.estimate)))
            }
            conc::NO_ALTERNATIVE_SHARE => {
                let cond = format!("first_in:{}", e.level);
                let n = self.count(&cond, "", seg, e.n);
                let w = self.weight(&cond, "", seg, e.weight_sum);
                let y = self.total(
                    &format!("no_alternative:{}", e.level),
                    "",
                    seg,
                    e.estimate * e.weight_sum,
                    w,
                    0.0,
                    1.0,
                );
                (vec![n, w, y], Some((y, w, e.estimate)))
            }
            // HHI and the effective number: not linear; the row shows its dependents' count.
            _ => {
                let n = self.count(&format!("dependents:{}", e.level), "", seg, e.n);
                (vec![n], None)
            }
        }
    }

    fn add_concentration(&mut self, policy: &Policy, c: &Analysis) {
        for (i, e) in c.category_rows.iter().enumerate() {
            // HHI and the effective number have no numerator share: their count is the rule.
            let numerator = c.category_counts.get(i).copied().unwrap_or(0);
            let numerator = if e.statistic == "proportion" {
                numerator
            } else {
                0
            };
            self.add_naming_row(policy, Tab::Category, i, &e.metric_id, e, numerator);
        }
        for (i, e) in c.supplier_rows.iter().enumerate() {
            let numerator = c.supplier_counts.get(i).copied().unwrap_or(0);
            self.add_naming_row(policy, Tab::Supplier, i, conc::SUPPLIER_SHARE, e, numerator);
        }
    }

    /// A concentration row; its share is primary when 1 to min − 1 organizations (`numerator`)
    /// name the supplier or category.
    fn add_naming_row(
        &mut self,
        policy: &Policy,
        tab: Tab,
        i: usize,
        stat: &str,
        e: &EstimateRow,
        numerator: usize,
    ) {
        let (cells, ratio) = self.concentration_cells(stat, e);
        if let Some((y, w, _)) = ratio.filter(|_| numerator > 0 && policy.too_few(numerator)) {
            self.cells[y].primary.get_or_insert(FEW_NAMING);
            self.protect_once(
                Target::Ratio(y, w),
                FEW_NAMING,
                "share",
                policy.share_of(e.n),
                tab,
            );
        }
        self.row(
            tab,
            i,
            (&e.segment_var, &e.segment_value),
            cells,
            ratio,
            e.n,
        );
    }

    fn add_distributions(&mut self, policy: &Policy, rows: &[DistributionRow]) {
        for (i, d) in rows.iter().enumerate() {
            let seg = (d.segment_var.as_str(), d.segment_value.as_str());
            let cond = format!("v:{}", d.variable);
            let bin = format!("[{}, {})", d.bin_low, d.bin_high);
            let n = self.count(&cond, "", seg, d.n);
            let w = self.weight(&cond, "", seg, d.weight_sum);
            let nb = self.count(&cond, &bin, seg, d.n_bin);
            let wb = self.weight(&cond, &bin, seg, d.share * d.weight_sum);
            self.cells[nb].binned = true;
            self.cells[wb].binned = true;
            self.partitions.entry(n).or_default().insert(nb);
            self.partitions.entry(w).or_default().insert(wb);
            if d.n_bin > 0 && policy.too_few(d.n_bin) {
                self.cells[nb].primary.get_or_insert(FEW_IN_BIN);
                self.protect_once(
                    Target::Count(nb),
                    FEW_IN_BIN,
                    "count",
                    policy.count_width,
                    Tab::Distributions,
                );
                self.protect_once(
                    Target::Ratio(wb, w),
                    FEW_IN_BIN,
                    "share",
                    policy.share_of(d.n),
                    Tab::Distributions,
                );
            }
            // Withholding a bin costs the organizations in it.
            self.row(
                Tab::Distributions,
                i,
                seg,
                vec![n, w, nb, wb],
                Some((wb, w, d.share)),
                d.n_bin,
            );
        }
    }

    fn add_weight_summary(&mut self, rows: &[WeightSummaryRow]) {
        for (i, s) in rows.iter().enumerate() {
            let seg = (s.segment_var.as_str(), s.segment_value.as_str());
            let n = self.count("kept", "", seg, s.n);
            let w = self.weight("kept", "", seg, s.weight_sum);
            self.row(Tab::WeightSummary, i, seg, vec![n, w], None, s.n);
        }
    }

    /// The report's weighting table shows respondents per level of each weighting variable; the
    /// population targets are public, so after calibration the weight sums of those levels are
    /// known to anyone.
    fn add_margins(&mut self, weighted: &Weighted) {
        for (i, m) in weighted.margins.iter().enumerate() {
            let seg = (m.variable.as_str(), m.level.as_str());
            let n = self.count("kept", "", seg, m.respondents);
            let r = self.row(Tab::Margins, i, seg, vec![n], None, m.respondents);
            self.margin_rows.push(r);
            if (m.weighted_total - m.population).abs() <= 1e-6 * m.population.abs().max(1.0) {
                let w = self.weight("kept", "", seg, m.weighted_total);
                self.cells[w].prior = true;
            }
        }
        if let Some(&all) = self.index.get(&(
            Kind::Weight,
            "kept".into(),
            String::new(),
            ALL.into(),
            String::new(),
        )) {
            if (self.cells[all].value - weighted.population_total).abs()
                <= 1e-6 * weighted.population_total.abs().max(1.0)
            {
                self.cells[all].prior = true;
            }
        }
    }

    fn protect_once(
        &mut self,
        target: Target,
        rule: &'static str,
        statistic: &'static str,
        required: f64,
        tab: Tab,
    ) {
        let key = |t: &Target| match *t {
            Target::Count(c) | Target::Total(c) => (c, usize::MAX),
            Target::Ratio(a, b) => (a, b),
        };
        if self.protect.iter().any(|p| key(&p.target) == key(&target)) {
            return;
        }
        self.protect.push(Protect {
            target,
            rule,
            statistic,
            required,
            tab,
            proven: None,
        });
    }

    /// One relation `parent = Σ children` (or `≥` when some of the parent is in no child:
    /// respondents with no value of the segment variable, values outside every bin).
    fn relation(&mut self, parent: usize, children: &[usize]) {
        if children.is_empty() {
            return;
        }
        let p = self.cells[parent].value;
        let s: f64 = children.iter().map(|&c| self.cells[c].value).sum();
        let scale = p.abs().max(
            children
                .iter()
                .map(|&c| self.cells[c].value.abs())
                .fold(1.0, f64::max),
        );
        let nonneg = children
            .iter()
            .chain([&parent])
            .all(|&c| self.cells[c].lower >= 0.0);
        let sense = if (p - s).abs() <= 1e-9 * scale {
            Sense::Eq
        } else if nonneg && p > s {
            Sense::Ge
        } else {
            return;
        };
        let mut terms = vec![(parent, 1.0)];
        terms.extend(children.iter().map(|&c| (c, -1.0)));
        self.push_con(terms, sense, None);
        if let Some(c) = self.cons.last_mut() {
            c.line = true;
        }
    }

    fn push_con(&mut self, terms: Vec<(usize, f64)>, sense: Sense, if_visible: Option<usize>) {
        let k = self.cons.len();
        for &(c, _) in &terms {
            self.cell_cons[c].push(k);
        }
        self.cons.push(Con {
            terms,
            sense,
            if_visible,
            line: false,
        });
    }

    /// The relations among the cells: segment lines, partitions, published ratios, bounds.
    fn relations(&mut self) {
        // Families: one (kind, condition, part) over the segments.
        let mut families: BTreeMap<(Kind, String, String), BTreeMap<Seg, usize>> = BTreeMap::new();
        for ((kind, cond, part, var, value), &c) in &self.index {
            families
                .entry((*kind, cond.clone(), part.clone()))
                .or_default()
                .insert((var.clone(), value.clone()), c);
        }
        for cells in families.values() {
            let all = cells.get(&(ALL.to_string(), String::new())).copied();
            let mut by_var: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            let mut cross_lines: BTreeMap<(String, usize, String), Vec<usize>> = BTreeMap::new();
            for ((var, value), &c) in cells {
                if var == ALL {
                    continue;
                }
                if !var.contains(':') {
                    by_var.entry(var).or_default().push(c);
                    continue;
                }
                let vars: Vec<&str> = var.split(':').collect();
                let values: Vec<&str> = value.split(':').collect();
                for (k, v) in values.iter().enumerate().take(vars.len()) {
                    cross_lines
                        .entry((var.clone(), k, (*v).to_string()))
                        .or_default()
                        .push(c);
                }
            }
            if let Some(all) = all {
                for children in by_var.values() {
                    self.relation(all, children);
                }
            }
            for ((var, k, v), children) in &cross_lines {
                let margin_var = var.split(':').nth(*k).unwrap_or_default().to_string();
                if let Some(&parent) = cells.get(&(margin_var, v.clone())) {
                    self.relation(parent, children);
                }
            }
        }
        let partitions = std::mem::take(&mut self.partitions);
        for (parent, children) in &partitions {
            let children: Vec<usize> = children.iter().copied().collect();
            self.relation(*parent, &children);
        }
        // Published ratios: numerator − value · denominator = 0 while the row is published.
        for r in 0..self.rows.len() {
            if let Some((num, den, v)) = self.rows[r].ratio {
                if v.is_finite() {
                    self.push_con(vec![(num, 1.0), (den, -v)], Sense::Eq, Some(r));
                }
            }
        }
        // A weighted total lies between the variable's minimum and maximum times its weight.
        let bounds: Vec<(usize, (usize, f64, f64))> =
            self.bounds.iter().map(|(&y, &b)| (y, b)).collect();
        for (y, (w, lo, hi)) in bounds {
            if lo.is_finite() {
                self.push_con(vec![(y, 1.0), (w, -lo)], Sense::Ge, None);
            }
            if hi.is_finite() {
                self.push_con(vec![(w, hi), (y, -1.0)], Sense::Ge, None);
            }
        }
    }

    fn hide(&mut self, r: usize, why: &'static str) {
        if self.rows[r].hidden.is_some() {
            return;
        }
        self.rows[r].hidden = Some(why);
        self.per_segment
            .entry(self.rows[r].segment.clone())
            .or_default()
            .0 += 1;
        for k in 0..self.rows[r].cells.len() {
            let c = self.rows[r].cells[k];
            self.cells[c].visible -= 1;
        }
    }

    /// Primary suppression: rows showing a primary cell or too few organizations, and the
    /// protection targets of counts below the minimum.
    fn primary(&mut self, policy: &Policy) {
        // Counts below the minimum (bins have their own rule).
        for c in 0..self.cells.len() {
            let cell = &self.cells[c];
            if cell.kind != Kind::Count || cell.binned {
                continue;
            }
            if policy.too_few(cell.value as usize) {
                let rule = if cell.cond.starts_with("dependents:") {
                    FEW_NAMING
                } else {
                    BELOW_MIN_CELL
                };
                self.cells[c].primary.get_or_insert(rule);
                if self.cells[c].value > 0.0 {
                    let tab = self.rows[self.cells[c].carriers[0]].tab;
                    self.protect_once(Target::Count(c), rule, "count", policy.count_width, tab);
                }
            }
        }
        // The mean or share of a segment with too few (but some) organizations: each row's
        // first cell is the count it rests on.
        for r in 0..self.rows.len() {
            let (Some((y, w, v)), Some(&n)) = (self.rows[r].ratio, self.rows[r].cells.first())
            else {
                continue;
            };
            let count = &self.cells[n];
            if count.kind != Kind::Count
                || count.value <= 0.0
                || !policy.too_few(count.value as usize)
            {
                continue;
            }
            let (statistic, width) = match self.bounds.get(&y) {
                Some(&(_, lo, hi)) if !(lo == 0.0 && hi == 1.0) => {
                    let range = hi - lo;
                    let width = if range.is_finite() {
                        policy.mean_width * range
                    } else {
                        policy.mean_width * v.abs()
                    };
                    ("mean", width)
                }
                _ => ("share", policy.share_width),
            };
            let tab = self.rows[r].tab;
            self.protect_once(Target::Ratio(y, w), BELOW_MIN_CELL, statistic, width, tab);
        }
        for r in 0..self.rows.len() {
            let why = self.rows[r]
                .cells
                .iter()
                .find_map(|&c| self.cells[c].primary);
            if let Some(why) = why {
                let pre = self.rows[r].hidden.take();
                // Confidentiality first: a row hidden both for few organizations and as
                // unreliable is reported as too few.
                self.rows[r].hidden = None;
                self.hide(
                    r,
                    if pre == Some(DOMINANCE) {
                        DOMINANCE
                    } else {
                        why
                    },
                );
            } else if let Some(pre) = self.rows[r].hidden.take() {
                self.hide(r, pre);
            }
        }
    }

    fn known(&self, c: usize) -> bool {
        self.cells[c].prior || self.cells[c].visible > 0
    }

    fn active(&self, k: usize) -> bool {
        self.cons[k]
            .if_visible
            .is_none_or(|r| self.rows[r].hidden.is_none())
    }

    /// The attacker's program around the unknown cells `start`: the unknowns connected to them
    /// through active relations, with published values moved to the right-hand side. Also the
    /// published cells met on the way (the candidates for secondary suppression).
    ///
    /// With `within`, only unknowns of those conditions are variables; the others are held at
    /// their true values (a feasible point), which can only narrow the attacker's interval: an
    /// interval wide enough there is wide enough in the whole program.
    fn local(
        &self,
        start: &[usize],
        within: Option<&Scope<'_>>,
    ) -> (Polytope, BTreeMap<usize, usize>, BTreeSet<usize>) {
        const NONE: usize = usize::MAX;
        let mut var_at = vec![NONE; self.cells.len()];
        let mut seen_con = vec![false; self.cons.len()];
        let mut p = Polytope::new();
        let mut queue: VecDeque<usize> = VecDeque::new();
        let mut met = BTreeSet::new();
        for &c in start {
            if !self.known(c) && var_at[c] == NONE {
                var_at[c] = p.var(self.cells[c].lower, self.cells[c].upper);
                queue.push_back(c);
            }
        }
        let mut cons = Vec::new();
        while let Some(c) = queue.pop_front() {
            for &k in &self.cell_cons[c] {
                if seen_con[k] || !self.active(k) {
                    continue;
                }
                seen_con[k] = true;
                cons.push(k);
                for &(d, _) in &self.cons[k].terms {
                    if self.known(d) {
                        met.insert(d);
                    } else if var_at[d] == NONE && within.is_none_or(|w| w.admits(&self.cells[d])) {
                        var_at[d] = p.var(self.cells[d].lower, self.cells[d].upper);
                        queue.push_back(d);
                    }
                }
            }
        }
        for k in cons {
            let con = &self.cons[k];
            let mut rhs = 0.0;
            let mut terms = Vec::with_capacity(con.terms.len());
            for &(d, a) in &con.terms {
                match var_at[d] {
                    NONE => rhs -= a * self.cells[d].value,
                    v => terms.push((v, a)),
                }
            }
            p.add(terms, con.sense, rhs);
        }
        let var_of = start
            .iter()
            .filter(|&&c| var_at[c] != NONE)
            .map(|&c| (c, var_at[c]))
            .collect();
        (p, var_of, met)
    }

    /// The attacker's interval for a target, and the published cells linked to it.
    fn interval(&mut self, t: Target, reach: Reach) -> ((f64, f64), BTreeSet<usize>) {
        let (range, met, programs) = self.attack(t, reach);
        self.programs += programs;
        (range, met)
    }

    /// [`Model::interval`] without counting: the interval, the published cells met, and the
    /// programs solved (read-only, so targets can be attacked on several cores).
    fn attack(&self, t: Target, reach: Reach) -> ((f64, f64), BTreeSet<usize>, usize) {
        let mut programs = 0;
        let cells = target_cells(t);
        let scope = Scope {
            families: cells
                .iter()
                .map(|&c| {
                    (
                        self.cells[c].kind,
                        self.cells[c].cond.as_str(),
                        self.cells[c].part.as_str(),
                    )
                })
                .collect(),
            all_parts: reach == Reach::Parts,
        };
        let (mut p, var_of, mut met) =
            self.local(&cells, (reach != Reach::Whole).then_some(&scope));
        // A target the published tables still show can only be protected by withholding it.
        met.extend(cells.iter().copied().filter(|&c| self.known(c)));
        let value = |m: &Model, c: usize| m.cells[c].value;
        let exact = |v: f64| Some((v, v));
        let range = match t {
            Target::Count(c) | Target::Total(c) => match var_of.get(&c) {
                Some(&v) => {
                    programs += 2;
                    p.range(v).map(|(lo, hi)| {
                        if matches!(t, Target::Count(_)) {
                            ((lo - 1e-6).ceil(), (hi + 1e-6).floor())
                        } else {
                            (lo, hi)
                        }
                    })
                }
                None => exact(value(self, c)),
            },
            Target::Ratio(a, b) => match (var_of.get(&a), var_of.get(&b)) {
                (Some(&va), Some(&vb)) => {
                    programs += 2;
                    p.ratio_range(va, vb)
                }
                (Some(&va), None) => {
                    programs += 2;
                    let w = value(self, b);
                    p.range(va).map(|(lo, hi)| {
                        if w > 0.0 {
                            (lo / w, hi / w)
                        } else {
                            (f64::NEG_INFINITY, f64::INFINITY)
                        }
                    })
                }
                (None, Some(&vb)) => {
                    programs += 2;
                    let y = value(self, a);
                    p.range(vb).map(|(lo, hi)| {
                        let (x1, x2) = (
                            y / hi.max(1e-300),
                            if lo > 0.0 {
                                y / lo
                            } else if y == 0.0 {
                                0.0
                            } else {
                                f64::INFINITY
                            },
                        );
                        (x1.min(x2), x1.max(x2))
                    })
                }
                (None, None) => {
                    let (y, w) = (value(self, a), value(self, b));
                    exact(if w > 0.0 { y / w } else { f64::NAN })
                }
            },
        };
        // A program that cannot be solved counts as the worst case: the value is known.
        let truth = match t {
            Target::Count(c) | Target::Total(c) => value(self, c),
            Target::Ratio(a, b) => value(self, a) / value(self, b),
        };
        (range.unwrap_or((truth, truth)), met, programs)
    }

    /// What withholding a published cell costs: the organizations of every published row that
    /// shows it, times (the segment's rows / its rows still published) so that withholding is
    /// spread rather than wiping out one segment, and ten times for the overall figure.
    fn cost(&self, c: usize) -> f64 {
        self.cells[c]
            .carriers
            .iter()
            .filter(|&&r| self.rows[r].hidden.is_none())
            .map(|&r| {
                let row = &self.rows[r];
                // A segment is not to vanish from the publication: the fewer of its rows are
                // still published, the dearer each one.
                let (hidden, all) = self
                    .per_segment
                    .get(&row.segment)
                    .copied()
                    .unwrap_or((0, 1));
                let spread = all as f64 / all.saturating_sub(hidden).max(1) as f64;
                let overall = if row.segment.0 == ALL { 10.0 } else { 1.0 };
                row.orgs.max(1.0) * spread * overall
            })
            .sum()
    }

    /// Secondary suppression: protect every target, withholding the cheapest linked cell while
    /// the attacker's interval is too narrow.
    fn secondary(&mut self) {
        self.lines_first();
        let groups = self.prove_in_groups();
        self.prove_each();
        let mut group_of = vec![0; self.protect.len()];
        for (g, (_, ks)) in groups.iter().enumerate() {
            for &k in ks {
                group_of[k] = g;
            }
        }
        // Withholding for one target often protects its group's others: their joint proof is
        // tried again (two programs) before each of them is attacked alone.
        let mut hides = 0usize;
        let mut proven_at = vec![0usize; groups.len()];
        for (k, &g) in group_of.iter().enumerate() {
            if self.protect[k].proven.is_none() && proven_at[g] < hides {
                self.prove_group(groups[g].0, &groups[g].1);
                proven_at[g] = hides;
            }
            if self.protect[k].proven.is_some() {
                continue;
            }
            loop {
                let t = self.protect[k].target;
                let required = self.protect[k].required - 1e-9;
                // First the sub-problems (fast, and a proof when wide enough), then the whole
                // linked component; withhold by what the first program with a candidate says.
                let mut met = BTreeSet::new();
                for &reach in self.reaches(t) {
                    let ((lo, hi), m) = self.interval(t, reach);
                    if hi - lo >= required {
                        self.protect[k].proven = Some((reach, (lo, hi)));
                        break;
                    }
                    met = m;
                    if reach != Reach::Families && self.cheapest(&met).is_some() {
                        break;
                    }
                }
                if self.protect[k].proven.is_some() {
                    break;
                }
                let Some(c) = self.cheapest(&met) else {
                    break;
                };
                let carriers = self.cells[c].carriers.clone();
                for r in carriers {
                    self.hide(r, SECONDARY);
                }
                hides += 1;
            }
        }
    }

    /// The classic first step, without programs: wherever an additive line leaves exactly one
    /// protected cell unknown (the line's other numbers would give it back by subtraction),
    /// withhold the line's cheapest published cell; repeated until no line changes. The
    /// attacker's programs then only have the subtler cases left.
    fn lines_first(&mut self) {
        let mut target = vec![false; self.cells.len()];
        for p in &self.protect {
            match p.target {
                Target::Count(c) | Target::Total(c) => target[c] = true,
                Target::Ratio(a, b) => {
                    target[a] = true;
                    target[b] = true;
                }
            }
        }
        loop {
            let mut changed = false;
            for k in 0..self.cons.len() {
                let con = &self.cons[k];
                if !con.line || con.sense != Sense::Eq {
                    continue;
                }
                let mut unknown = con.terms.iter().filter(|t| !self.known(t.0));
                let (Some(&(only, _)), None) = (unknown.next(), unknown.next()) else {
                    continue;
                };
                if !target[only] {
                    continue;
                }
                let candidates: BTreeSet<usize> = con.terms.iter().map(|t| t.0).collect();
                if let Some(c) = self.cheapest(&candidates) {
                    for r in self.cells[c].carriers.clone() {
                        self.hide(r, SECONDARY);
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Prove many targets with two programs: targets of the same statistics share one
    /// sub-program; its points maximising and minimising the sum of their cells, with the true
    /// point, are feasible, so the spread of each target's value over the three is inside its
    /// attacker's interval. Targets proven so need no programs of their own.
    fn prove_in_groups(&mut self) -> Vec<(bool, Vec<usize>)> {
        let mut groups: BTreeMap<(Vec<Family>, bool), Vec<usize>> = BTreeMap::new();
        for k in 0..self.protect.len() {
            let t = self.protect[k].target;
            let cells = target_cells(t);
            let parts = self.reaches(t)[0] == Reach::Parts;
            let mut fams: Vec<Family> = cells
                .iter()
                .map(|&c| {
                    let x = &self.cells[c];
                    (
                        x.kind,
                        x.cond.clone(),
                        if parts { String::new() } else { x.part.clone() },
                    )
                })
                .collect();
            fams.sort();
            fams.dedup();
            groups.entry((fams, parts)).or_default().push(k);
        }
        let groups: Vec<(bool, Vec<usize>)> = groups
            .into_iter()
            .map(|((_, parts), ks)| (parts, ks))
            .collect();
        for (parts, ks) in &groups {
            self.prove_group(*parts, ks);
        }
        groups
    }

    /// One group's joint proof (see [`Model::prove_in_groups`]) of its targets not yet proven.
    fn prove_group(&mut self, parts: bool, ks: &[usize]) {
        let ks: Vec<usize> = ks
            .iter()
            .copied()
            .filter(|&k| self.protect[k].proven.is_none())
            .collect();
        if ks.len() < 2 {
            return;
        }
        let starts: Vec<usize> = ks
            .iter()
            .flat_map(|&k| target_cells(self.protect[k].target))
            .collect();
        let families: BTreeSet<(Kind, &str, &str)> = starts
            .iter()
            .map(|&c| {
                let x = &self.cells[c];
                (
                    x.kind,
                    x.cond.as_str(),
                    if parts { "" } else { x.part.as_str() },
                )
            })
            .collect();
        let scope = Scope {
            families,
            all_parts: parts,
        };
        let (mut p, var_of, _) = self.local(&starts, Some(&scope));
        let objective: Vec<(usize, f64)> = ks
            .iter()
            .filter_map(|&k| match self.protect[k].target {
                Target::Count(c) | Target::Total(c) | Target::Ratio(c, _) => {
                    var_of.get(&c).map(|&v| (v, 1.0))
                }
            })
            .collect();
        if objective.is_empty() {
            return;
        }
        self.programs += 2;
        let points: Vec<Vec<f64>> = [true, false]
            .iter()
            .filter_map(|&max| p.extreme_point(&objective, max))
            .collect();
        let value = |m: &Model, c: usize, x: &[f64]| match var_of.get(&c) {
            Some(&v) => x[v],
            None => m.cells[c].value,
        };
        for &k in &ks {
            let t = self.protect[k].target;
            let at = |x: &[f64]| match t {
                Target::Count(c) | Target::Total(c) => value(self, c, x),
                Target::Ratio(a, b) => value(self, a, x) / value(self, b, x),
            };
            let truth = match t {
                Target::Count(c) | Target::Total(c) => self.cells[c].value,
                Target::Ratio(a, b) => self.cells[a].value / self.cells[b].value,
            };
            let mut lo = truth;
            let mut hi = truth;
            for x in &points {
                let v = at(x);
                if v.is_finite() {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            if matches!(t, Target::Count(_)) {
                lo = (lo - 1e-6).ceil();
                hi = (hi + 1e-6).floor();
            }
            if hi - lo >= self.protect[k].required - 1e-9 {
                let reach = if parts { Reach::Parts } else { Reach::Families };
                self.protect[k].proven = Some((reach, (lo, hi)));
            }
        }
    }

    /// Attack every target not yet proven, as the publication stands, on all cores: those wide
    /// enough are proven (the result does not depend on how the work is split).
    fn prove_each(&mut self) {
        let todo: Vec<usize> = (0..self.protect.len())
            .filter(|&k| self.protect[k].proven.is_none())
            .collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(todo.len().max(1));
        let model = &*self;
        let results: Vec<(usize, Option<Proof>, usize)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let todo = &todo;
                    scope.spawn(move || {
                        todo.iter()
                            .skip(i)
                            .step_by(threads)
                            .map(|&k| {
                                let t = model.protect[k].target;
                                let mut programs = 0;
                                for &reach in model.reaches(t) {
                                    let ((lo, hi), _, n) = model.attack(t, reach);
                                    programs += n;
                                    if hi - lo >= model.protect[k].required - 1e-9 {
                                        return (k, Some((reach, (lo, hi))), programs);
                                    }
                                    if reach != Reach::Families {
                                        break;
                                    }
                                }
                                (k, None, programs)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for (k, proof, programs) in results {
            self.programs += programs;
            if proof.is_some() {
                self.protect[k].proven = proof;
            }
        }
    }

    /// The programs to try for a target, smallest first. A part (a bin) is tied to its siblings
    /// by its partition, so holding them fixed would pin it: parts start with all parts.
    fn reaches(&self, t: Target) -> &'static [Reach] {
        let c = match t {
            Target::Count(c) | Target::Total(c) | Target::Ratio(c, _) => c,
        };
        if !self.cells[c].binned {
            &[Reach::Families, Reach::Parts, Reach::Whole]
        } else {
            &[Reach::Parts, Reach::Whole]
        }
    }

    /// The published cell among `met` whose withholding costs least.
    ///
    /// A cell that, once withheld, a line would still give back by subtraction (every other cell
    /// of the line published) protects nothing on its own: it comes last.
    fn cheapest(&self, met: &BTreeSet<usize>) -> Option<usize> {
        let given_back = |c: usize| {
            self.cell_cons[c].iter().any(|&k| {
                let con = &self.cons[k];
                con.line
                    && con.sense == Sense::Eq
                    && con.terms.iter().all(|&(d, _)| d == c || self.known(d))
            })
        };
        met.iter()
            .copied()
            .filter(|&c| !self.cells[c].prior && self.cells[c].visible > 0)
            .map(|c| (self.cost(c) * if given_back(c) { 1e3 } else { 1.0 }, c))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|x| x.1)
    }

    /// The audit of the final publication: every target's interval.
    fn audit(&mut self) -> (Vec<AuditRow>, Vec<String>) {
        let mut rows = Vec::new();
        let mut failures = Vec::new();
        for k in 0..self.protect.len() {
            let t = self.protect[k].target;
            // A target secondary suppression proved protected keeps its proof: withholding more
            // afterwards only widened the attacker's interval. Others are attacked now, up to
            // the whole linked component.
            let (used, (lo, hi)) = match self.protect[k].proven {
                Some(proof) => proof,
                None => {
                    let mut found = (Reach::Whole, (0.0, 0.0));
                    for &reach in self.reaches(t) {
                        found = (reach, self.interval(t, reach).0);
                        if found.1 .1 - found.1 .0 >= self.protect[k].required - 1e-9 {
                            break;
                        }
                    }
                    found
                }
            };
            let p = &self.protect[k];
            let (c, value) = match t {
                Target::Count(c) | Target::Total(c) => (c, self.cells[c].value),
                Target::Ratio(a, b) => (a, self.cells[a].value / self.cells[b].value),
            };
            let cell = &self.cells[c];
            let what = match t {
                Target::Ratio(..) => cell
                    .label
                    .replacen("weighted total", p.statistic, 1)
                    .replacen("weight ·", "share ·", 1),
                _ => cell.label.clone(),
            };
            let protected = hi - lo >= p.required - 1e-9;
            if !protected {
                failures.push(format!(
                    "disclosure audit: {} of {}={} in {} ({}) can be narrowed to [{}, {}] from the published tables, narrower than the protection width {}",
                    what,
                    cell.segment.0,
                    cell.segment.1,
                    p.tab.name(),
                    p.rule,
                    fmt(lo),
                    fmt(hi),
                    fmt(p.required)
                ));
            }
            rows.push(AuditRow {
                table: p.tab.name(),
                cell: what,
                segment_var: cell.segment.0.clone(),
                segment_value: cell.segment.1.clone(),
                rule: p.rule,
                statistic: p.statistic,
                value,
                attacked_low: lo,
                attacked_high: hi,
                required: p.required,
                protected,
                program: used.name(),
            });
        }
        (rows, failures)
    }
}

fn target_cells(t: Target) -> Vec<usize> {
    match t {
        Target::Count(c) | Target::Total(c) => vec![c],
        Target::Ratio(a, b) => vec![a, b],
    }
}

fn fmt(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        }
    } else if x == x.round() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.4}")
    }
}

/// `tables/disclosure_audit.csv` (internal: it holds the true values of withheld cells).
pub fn audit_table(rows: &[AuditRow]) -> Table {
    let fin = |x: f64| x.is_finite().then_some(x);
    let mut t = Table::new();
    t.text("table", rows.iter().map(|r| Some(r.table.to_string())))
        .text("cell", rows.iter().map(|r| Some(r.cell.clone())))
        .text(
            "segment_var",
            rows.iter().map(|r| Some(r.segment_var.clone())),
        )
        .text(
            "segment_value",
            rows.iter().map(|r| Some(r.segment_value.clone())),
        )
        .text("rule", rows.iter().map(|r| Some(r.rule.to_string())))
        .text(
            "statistic",
            rows.iter().map(|r| Some(r.statistic.to_string())),
        )
        .float("value", rows.iter().map(|r| fin(r.value)))
        .float("attacked_low", rows.iter().map(|r| fin(r.attacked_low)))
        .float("attacked_high", rows.iter().map(|r| fin(r.attacked_high)))
        .float("required_width", rows.iter().map(|r| Some(r.required)))
        .boolean("protected", rows.iter().map(|r| Some(r.protected)))
        .text("program", rows.iter().map(|r| Some(r.program.to_string())));
    t
}

/// Plain words for a reason code, as footnotes in the report and the workbook.
pub fn reason_words(code: &str) -> &'static str {
    match code {
        BELOW_MIN_CELL => "too few organizations",
        FEW_NAMING => "too few organizations name it",
        FEW_IN_BIN => "too few organizations in the band",
        DOMINANCE => "one organization dominates the total",
        SECONDARY => "hidden so that a smaller group cannot be worked out",
        UNRELIABLE => "too uncertain to publish",
        WITH_ESTIMATE => "with the estimates they compare",
        WITH_COEFFICIENTS => "with the coefficients it tests",
        _ => "withheld",
    }
}

/// The order reasons are listed in.
pub const REASONS: [&str; 8] = [
    BELOW_MIN_CELL,
    FEW_NAMING,
    FEW_IN_BIN,
    DOMINANCE,
    SECONDARY,
    UNRELIABLE,
    WITH_ESTIMATE,
    WITH_COEFFICIENTS,
];

/// The footnote mark of a withheld number, from its row's flags: `*` too few organizations
/// (or too few naming it, or in the band), `†` hidden so that a smaller group cannot be worked
/// out, `‡` too uncertain to publish, `§` one organization dominates.
pub fn mark(flag: &str) -> &'static str {
    let has = |code: &str| flag.split(';').any(|f| f == code);
    if has(BELOW_MIN_CELL) || has(FEW_NAMING) || has(FEW_IN_BIN) {
        "*"
    } else if has(DOMINANCE) {
        "§"
    } else if has(SECONDARY) {
        "†"
    } else {
        "‡"
    }
}

/// A withheld number in words, for a chart: "withheld* — too few organizations".
pub fn withheld_words(flag: &str) -> String {
    let has = |code: &str| flag.split(';').any(|f| f == code);
    let why = [BELOW_MIN_CELL, FEW_NAMING, FEW_IN_BIN, DOMINANCE, SECONDARY]
        .into_iter()
        .find(|c| has(c))
        .map_or(reason_words(UNRELIABLE), reason_words);
    format!("withheld{} — {why}", mark(flag))
}

/// What a withheld cell of the report and summary shows: "withheld" and its mark.
pub fn withheld_cell(flag: &str) -> String {
    format!("withheld{}", mark(flag))
}

/// The legend of the marks, one sentence.
pub const LEGEND: &str = "Withheld numbers: * too few organizations; † hidden so that a smaller group cannot be worked out from the other numbers; ‡ too uncertain to publish (NCHS standard); § one organization contributes most of the total.";

/// The mark beside a published number that is to be read with caution: fewer than 30
/// effective responses, fewer than 8 degrees of freedom, a relative SE above 30%, or a
/// proportion the NCHS standard sends to review. Empty for a number without such a flag.
pub fn caution_mark(flag: &str) -> &'static str {
    let caution = flag
        .split(';')
        .any(|f| matches!(f, "n_eff_lt_30" | "df_lt_8" | "rse_gt_30") || f.starts_with("nchs_"));
    if caution {
        "°"
    } else {
        ""
    }
}

/// The legend of [`caution_mark`], one sentence.
pub const CAUTION_LEGEND: &str = "° read with caution: the number rests on fewer than 30 effective responses or fewer than 8 degrees of freedom, or its interval is wide for its size (NCHS review).";

impl Disclosure {
    /// One sentence on a published table: how many numbers were withheld and why, e.g.
    /// "estimates: 1,777 of 2,336 rows withheld — 1,247 too few organizations (*), 130 hidden
    /// so that a smaller group cannot be worked out (†), 400 too uncertain to publish (‡)."
    pub fn sentence(&self, table: &str) -> String {
        let total = self.rows.get(table).copied().unwrap_or(0);
        let Some(by) = self.withheld.get(table).filter(|m| !m.is_empty()) else {
            return format!("{table}: all {total} rows published.");
        };
        let n: usize = by.values().sum();
        let mut parts = Vec::new();
        for code in REASONS {
            if let Some(&k) = by.get(code) {
                let m = match code {
                    SECONDARY => " (†)",
                    UNRELIABLE => " (‡)",
                    DOMINANCE => " (§)",
                    WITH_ESTIMATE | WITH_COEFFICIENTS => "",
                    _ => " (*)",
                };
                parts.push(format!("{k} {}{m}", reason_words(code)));
            }
        }
        // A concentration row holds four statistics, each withheld on its own.
        let unit = if table == "concentration" {
            "category statistics"
        } else {
            "rows"
        };
        format!(
            "{table}: {n} of {total} {unit} withheld — {}.",
            parts.join(", ")
        )
    }

    /// The sentences of every published table, in a fixed order.
    pub fn sentences(&self) -> Vec<String> {
        [
            "estimates",
            "comparisons",
            "distributions",
            "weight_summary",
            "concentration",
            "supplier_dependency",
        ]
        .iter()
        .filter(|t| self.rows.contains_key(**t))
        .map(|t| self.sentence(t))
        .collect()
    }

    /// The disclosure settings and outcome for `manifest.json`.
    pub fn manifest(&self) -> serde_json::Value {
        serde_json::json!({
            "min_cell_size": self.policy.min_cell,
            "protection": {
                "count": self.policy.count_width,
                "share": self.policy.share_width,
                "mean": self.policy.mean_width,
            },
            "dominance_share": self.policy.dominance_share,
            "nchs_suppress": self.policy.nchs_suppress,
            "withheld": self.withheld,
            "rows": self.rows,
            "audit": {
                "protected_cells": self.audit.len(),
                "failures": self.failures,
                "programs": self.programs,
            },
        })
    }
}

/// The quality gate on the rules themselves: a minimum cell larger than the round withholds
/// everything.
pub fn feasibility_gate(spec: &Spec, usable: usize) -> Option<String> {
    let min = spec.publication.min_cell_size;
    (min > usable).then(|| {
        format!(
            "publication.min_cell_size = {min} exceeds the round's {usable} usable responses: every estimate is suppressed"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(var: &str, value: &str, n: usize) -> WeightSummaryRow {
        WeightSummaryRow {
            segment_var: var.into(),
            segment_value: value.into(),
            n,
            weight_sum: 2.5 * n as f64,
            kish_ess: n as f64,
            kish_deff: 1.0,
            weight_min: 2.5,
            weight_p25: 2.5,
            weight_median: 2.5,
            weight_p75: 2.5,
            weight_max: 2.5,
            weight_cv: 0.0,
            n_trimmed: 0,
            suppressed: false,
            flag: String::new(),
        }
    }

    fn policy() -> Policy {
        Policy {
            min_cell: 5,
            count_width: 4.0,
            share_width: 0.2,
            mean_width: 0.2,
            dominance_share: 0.6,
            nchs_suppress: true,
        }
    }

    fn run(rows: &[WeightSummaryRow], mode: Mode) -> Model {
        let mut m = Model::default();
        m.add_weight_summary(rows);
        m.relations();
        m.primary(&policy());
        if mode == Mode::Full {
            m.secondary();
        }
        m
    }

    fn hidden(m: &Model, i: usize) -> Option<&'static str> {
        m.rows[m.row_of[&(Tab::WeightSummary, i)]].hidden
    }

    #[test]
    fn one_small_level_gets_the_cheapest_complement() {
        // all = 20 = a 3 + b 8 + c 9: a is primary; withholding b (8 organizations, cheaper
        // than c) leaves a ∈ [0, 11] and b ∈ [0, 11]: both counts and weights protected.
        let rows = [
            summary(ALL, "", 20),
            summary("v", "a", 3),
            summary("v", "b", 8),
            summary("v", "c", 9),
        ];
        let mut m = run(&rows, Mode::PrimaryOnly);
        let (audit, failures) = m.audit();
        assert_eq!(hidden(&m, 1), Some(BELOW_MIN_CELL));
        // Alone, a is given back by subtraction: 20 − 8 − 9 = 3.
        let a = audit
            .iter()
            .find(|r| r.segment_value == "a" && r.statistic == "count")
            .unwrap();
        assert_eq!(
            (a.attacked_low, a.attacked_high, a.protected),
            (3.0, 3.0, false)
        );
        assert!(!failures.is_empty());

        let mut m = run(&rows, Mode::Full);
        let (audit, failures) = m.audit();
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(hidden(&m, 2), Some(SECONDARY));
        assert_eq!(hidden(&m, 3), None);
        assert_eq!(hidden(&m, 0), None);
        let a = audit
            .iter()
            .find(|r| r.segment_value == "a" && r.statistic == "count")
            .unwrap();
        assert_eq!((a.attacked_low, a.attacked_high), (0.0, 11.0));
    }

    #[test]
    fn a_cross_protects_its_cell_along_both_margins() {
        // Rows r1, r2 × columns c1, c2 with r1:c1 = 2 primary. Its row and its column each need
        // a second unknown: the cheapest plan withholds r1:c2 and r2:c1 (and then r2:c2 is
        // linked too), never a margin or the total.
        let mut rows = vec![summary(ALL, "", 40)];
        rows.extend([summary("r", "r1", 12), summary("r", "r2", 28)]);
        rows.extend([summary("c", "c1", 10), summary("c", "c2", 30)]);
        rows.extend([
            summary("r:c", "r1:c1", 2),
            summary("r:c", "r1:c2", 10),
            summary("r:c", "r2:c1", 8),
            summary("r:c", "r2:c2", 20),
        ]);
        let mut m = run(&rows, Mode::Full);
        let (audit, failures) = m.audit();
        assert!(failures.is_empty(), "{failures:?}");
        for i in 0..5 {
            assert_eq!(hidden(&m, i), None, "row {i}");
        }
        assert!(hidden(&m, 6).is_some() && hidden(&m, 7).is_some());
        // x11 + x12 = 12, x11 + x21 = 10, x21 + x22 = 28: x11 ∈ [0, 10].
        let a = audit
            .iter()
            .find(|r| r.segment_value == "r1:c1" && r.statistic == "count")
            .unwrap();
        assert_eq!((a.attacked_low, a.attacked_high), (0.0, 10.0));
    }

    #[test]
    fn the_marks_and_sentences_say_why() {
        assert_eq!(mark("below_min_cell;nchs_n_eff_lt_30"), "*");
        assert_eq!(mark("n_eff_lt_30;complementary_suppression"), "†");
        assert_eq!(mark("nchs_width_ge_30"), "‡");
        assert_eq!(caution_mark("n_eff_lt_30;complementary_suppression"), "°");
        assert_eq!(caution_mark("nchs_review_complement_width"), "°");
        assert_eq!(caution_mark("below_min_cell"), "");
        let mut d = Disclosure {
            policy: policy(),
            audit: Vec::new(),
            failures: Vec::new(),
            withheld: BTreeMap::new(),
            rows: BTreeMap::from([("estimates", 10)]),
            margin_shown: Vec::new(),
            programs: 0,
        };
        assert_eq!(d.sentence("estimates"), "estimates: all 10 rows published.");
        d.withheld.insert(
            "estimates",
            BTreeMap::from([(BELOW_MIN_CELL, 2), (SECONDARY, 1)]),
        );
        assert_eq!(
            d.sentence("estimates"),
            "estimates: 3 of 10 rows withheld — 2 too few organizations (*), 1 hidden so that a smaller group cannot be worked out (†)."
        );
    }
}

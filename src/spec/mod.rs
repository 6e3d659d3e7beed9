//! The survey spec: one declarative `survey.toml` per round that says everything the pipeline
//! needs — the instrument, its sources, how items score, the design, weighting, segments,
//! metrics and publication rules.
//!
//! The types here mirror the file one to one (`deny_unknown_fields` everywhere, so a misspelled
//! key is an error with its line). [`load`] parses and validates; validation problems point at
//! the key in the file through [`SpecError`]. The format is documented in `docs/survey-spec.md`.

pub mod builtin_scales;
pub mod catalog;
mod load;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub use load::{load, load_str, SpecError, SpecProblem};
pub use validate::{MAX_ITERATIONS, MAX_MIN_CELL_SIZE, MAX_POPULATION_COUNT, MAX_REPLICATES};

/// A parsed and validated survey spec, plus where it came from.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub spec: Spec,
    /// The round directory (the folder holding `survey.toml`); source paths resolve against it.
    pub dir: PathBuf,
    /// Path of the `survey.toml` itself.
    pub path: PathBuf,
    /// The file's exact text (hashed into the manifest).
    pub text: String,
}

impl LoadedSpec {
    /// An input file the spec names at `key` (e.g. `design.population`), inside the round
    /// folder and a regular file (see [`crate::paths::inside_round`]), or an error naming the key.
    pub fn input(&self, written: &str, key: &str) -> crate::Result<PathBuf> {
        crate::paths::inside_round(&self.dir, written)
            .map_err(|m| crate::Error::input(format!("{} `{key}`", self.path.display()), m))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub survey: SurveyInfo,
    pub sources: Vec<Source>,
    pub respondent: Respondent,
    #[serde(default)]
    pub scales: BTreeMap<String, Scale>,
    pub questions: Vec<Question>,
    #[serde(default)]
    pub domains: Vec<Domain>,
    #[serde(default)]
    pub scoring: Scoring,
    #[serde(default)]
    pub cleaning: Cleaning,
    pub design: Design,
    pub weighting: Weighting,
    #[serde(default)]
    pub segments: Segments,
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Weighted histograms on fixed bins, per segment (`tables/distributions.csv`).
    #[serde(default)]
    pub distributions: Vec<Distribution>,
    /// Tests of association between two categorical variables (`tables/comparisons.csv`).
    #[serde(default)]
    pub tests: Vec<AssociationTest>,
    /// Design-based regressions (`tables/models.csv`).
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub publication: Publication,
    #[serde(default)]
    pub quality: Quality,
    /// Supplier concentration (`tables/concentration.csv`, `tables/supplier_dependency.csv`).
    #[serde(default)]
    pub concentration: Option<ConcentrationSpec>,
    /// How the report and summary are rendered.
    #[serde(default)]
    pub report: ReportSpec,
}

/// `[[tests]]`: a design-based test of association between two categorical variables (R's
/// `svychisq(~rows + cols, design, statistic = ...)`), over the respondents with both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssociationTest {
    /// Stable identifier written to `comparisons.csv`'s `metric_id`, e.g. `TEST.TIER_BY_SIZE`.
    pub id: String,
    /// Row variable: a single-choice, Likert or yes/no question id, or `risk_tier`.
    pub rows: String,
    /// Column variable: the same kinds.
    pub cols: String,
    /// Statistics to report, by R's names: `F` (default), `Chisq`, `Wald`, `adjWald`,
    /// `lincom`, `saddlepoint`.
    #[serde(default = "default_statistics")]
    pub statistics: Vec<ChisqStatistic>,
}

fn default_statistics() -> Vec<ChisqStatistic> {
    vec![ChisqStatistic::F]
}

/// One statistic of R's `svychisq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum ChisqStatistic {
    /// Rao–Scott second-order corrected F.
    F,
    /// Rao–Scott first-order corrected chi-square.
    Chisq,
    Wald,
    #[serde(rename = "adjWald")]
    AdjWald,
    /// Pearson's X² against its asymptotic distribution, exactly (Davies).
    #[serde(rename = "lincom")]
    Lincom,
    /// The same by the saddlepoint approximation.
    #[serde(rename = "saddlepoint")]
    Saddlepoint,
}

impl ChisqStatistic {
    /// The `test` column of comparisons.csv.
    pub fn test_name(self) -> &'static str {
        match self {
            ChisqStatistic::F => "rao_scott_f",
            ChisqStatistic::Chisq => "rao_scott_chisq",
            ChisqStatistic::Wald => "wald",
            ChisqStatistic::AdjWald => "adj_wald",
            ChisqStatistic::Lincom => "lincom",
            ChisqStatistic::Saddlepoint => "saddlepoint",
        }
    }
}

/// `[[models]]`: a design-based regression (R's `svyglm`) of a response on predictors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Stable identifier written to `models.csv`, e.g. `MODEL.RISK.01`.
    pub id: String,
    /// What the model asks, in words (the report's heading for it).
    #[serde(default)]
    pub title: Option<String>,
    /// The response: a numeric variable (gaussian) — a numeric question, `risk_index`,
    /// `maturity:<domain>`, a scored item or the tier's ordinal code — or, for `quasibinomial`,
    /// a categorical variable with the `levels` that count as 1 (or a 0/1 numeric question).
    pub response: String,
    /// Quasibinomial: the response's codes (or tier names) counted as 1.
    #[serde(default)]
    pub levels: Vec<String>,
    #[serde(default)]
    pub family: ModelFamily,
    /// Predictors: categorical questions (and `risk_tier`) enter as factors with treatment
    /// contrasts; numeric variables as numbers.
    pub predictors: Vec<String>,
    /// A factor's reference level (a code; default its first option answered).
    #[serde(default)]
    pub reference: BTreeMap<String, String>,
    /// The model is refused when fewer than this many organizations per parameter answer.
    #[serde(default = "min_per_parameter")]
    pub min_per_parameter: usize,
    /// `[models.metric]`: publish the coefficients to the clearinghouse as a versioned metric.
    #[serde(default)]
    pub metric: Option<ModelMetric>,
}

/// A model's clearinghouse metric: its coefficients (and odds ratios) as rows of
/// `metrics/metrics.csv`, listed and locked in the metric catalog like any metric — the lock
/// holds the model's definition (family, response, levels, predictors, references), so a
/// changed model needs a new version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMetric {
    pub id: String,
    pub version: u32,
    pub title: String,
    /// What the model measures, in words.
    pub definition: String,
    #[serde(default)]
    pub csf: Option<String>,
    #[serde(default)]
    pub population: Option<String>,
}

fn min_per_parameter() -> usize {
    10
}

/// A model's family (R's `family = gaussian()` or `quasibinomial()`, canonical links).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    #[default]
    Gaussian,
    Quasibinomial,
}

/// `[report]`: the templates of `report.html` and `summary.md`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// A folder inside the round folder whose `report.html`, `summary.md` (and any file they
    /// include) replace the built-in templates of the same name.
    pub templates: Option<String>,
}

/// Where the supplier names are and how concentration is published.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcentrationSpec {
    /// Text questions naming critical suppliers, most critical first (one question holding
    /// several names, or one question per name).
    pub suppliers: Vec<String>,
    /// Characters that separate several names in one answer.
    #[serde(default = "name_separators")]
    pub separators: String,
    /// Alias table, relative to the round folder: `alias,canonical,category`.
    #[serde(default = "alias_file")]
    pub aliases: String,
    /// Jaro–Winkler similarity (on normalized names, same first word) at which a typed name
    /// joins an alias-table entry.
    #[serde(default = "name_similarity")]
    pub similarity: f64,
    /// Multi-select question whose option codes are the supplier categories (for labels).
    #[serde(default)]
    pub categories: Option<String>,
    /// Single-choice question: alternatives for the most critical function.
    #[serde(default)]
    pub alternatives: Option<String>,
    /// Its level codes meaning "no alternative".
    #[serde(default)]
    pub no_alternative: Vec<String>,
    /// A supplier named by at least this weighted share of the sector …
    #[serde(default = "single_point_share")]
    pub single_point_share: f64,
    /// … in a category where more than this share of the organizations whose most critical
    /// supplier is in it report no alternative, is a single point of failure.
    #[serde(default = "single_point_no_alternative")]
    pub single_point_no_alternative: f64,
    /// Publish supplier names; otherwise suppliers appear by rank within their category.
    #[serde(default)]
    pub publish_names: bool,
    /// TLP of the outputs that name suppliers (the stricter of this and the round's label).
    #[serde(default = "names_tlp")]
    pub names_tlp: Tlp,
    /// Suppliers per category in the chart.
    #[serde(default = "chart_top")]
    pub chart_top: usize,
}

fn name_separators() -> String {
    ";\n|".into()
}
fn alias_file() -> String {
    "suppliers.csv".into()
}
fn name_similarity() -> f64 {
    0.92
}
fn single_point_share() -> f64 {
    0.2
}
fn single_point_no_alternative() -> f64 {
    0.5
}
fn names_tlp() -> Tlp {
    Tlp::Amber
}
fn chart_top() -> usize {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyInfo {
    /// Stable survey identifier, shared by all rounds (e.g. `hscc-scrm`).
    pub id: String,
    /// Round label (e.g. `2024`).
    pub round: String,
    pub title: String,
    /// Traffic Light Protocol label of the published outputs.
    pub tlp: Tlp,
    #[serde(default)]
    pub description: Option<String>,
}

/// TLP 2.0 labels, from the most open (CLEAR) to the most restricted (RED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Tlp {
    #[serde(rename = "CLEAR")]
    Clear,
    #[serde(rename = "GREEN")]
    Green,
    #[serde(rename = "AMBER")]
    Amber,
    #[serde(rename = "AMBER+STRICT")]
    AmberStrict,
    #[serde(rename = "RED")]
    Red,
}

impl Tlp {
    /// Every label, most open first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The label as written in outputs (`TLP:GREEN`) back to the level.
    pub fn from_label(label: &str) -> Option<Tlp> {
        Tlp::ALL.into_iter().find(|t| t.label() == label)
    }

    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }
    /// Banner colour (FIRST TLP 2.0), shown on black.
    pub fn colour(self) -> &'static str {
        match self {
            Tlp::Clear => "#FFFFFF",
            Tlp::Green => "#33FF00",
            Tlp::Amber | Tlp::AmberStrict => "#FFC000",
            Tlp::Red => "#FF2B2B",
        }
    }
}

/// One response file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Path relative to the round directory.
    pub path: String,
    #[serde(default)]
    pub layout: Layout,
    /// Excel sheet name (default: the first sheet that holds data).
    #[serde(default)]
    pub sheet: Option<String>,
    /// 1-based row of the (first) header row, when it is not detected.
    #[serde(default)]
    pub header_row: Option<usize>,
    /// Text encoding of a CSV when it is neither UTF-8 nor UTF-16 with BOM (e.g. `windows-1252`).
    #[serde(default)]
    pub encoding: Option<String>,
}

/// Export layout of a source file.
/// What the NCHS standard does to a proportion that fails it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NchsAction {
    #[default]
    Suppress,
    Flag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Detect from the headers.
    #[default]
    Auto,
    Qualtrics,
    Surveymonkey,
    Msforms,
    Redcap,
    /// One header row, one row per response.
    Plain,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Respondent {
    /// Question id of the organization key used to find duplicate submissions.
    pub key: String,
    /// Question ids that identify an organization or a person; never published.
    #[serde(default)]
    pub identifying: Vec<String>,
}

/// Reusable option list (e.g. a 5-point agreement scale).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub options: Vec<OptionSpec>,
    #[serde(default)]
    pub missing: Vec<MissingCode>,
}

/// An answer option: its code (what analysis sees), its label (what respondents saw),
/// its maturity points, and label variants seen in exports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionSpec {
    pub code: Code,
    pub label: String,
    /// Maturity points (higher = more mature); omitted = the option is not scored.
    #[serde(default)]
    pub score: Option<u32>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A declared missing code ("Don't know", "Not applicable"): kept distinct from a skipped item.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingCode {
    pub code: Code,
    pub label: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// An option code, written as a TOML string or integer; held as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(from = "CodeRepr")]
pub struct Code(pub String);

#[derive(Deserialize)]
#[serde(untagged)]
enum CodeRepr {
    Int(i64),
    Text(String),
}

impl From<CodeRepr> for Code {
    fn from(r: CodeRepr) -> Self {
        match r {
            CodeRepr::Int(i) => Code(i.to_string()),
            CodeRepr::Text(s) => Code(s),
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionType {
    Single,
    Multi,
    Likert,
    Yesno,
    Numeric,
    Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Identifier used everywhere else in the spec and in outputs.
    pub id: String,
    /// Column id in exports that carry ids (Qualtrics export tags, plain headers). Default: `id`.
    #[serde(default)]
    pub column: Option<String>,
    /// Question text as respondents saw it; matches exports whose headers are question text.
    #[serde(default)]
    pub text: Option<String>,
    /// Other column names or texts this question appears under in some exports.
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(rename = "type")]
    pub kind: QuestionType,
    /// Name of a `[scales.*]` entry supplying options and missing codes.
    #[serde(default)]
    pub scale: Option<String>,
    #[serde(default)]
    pub options: Vec<OptionSpec>,
    #[serde(default)]
    pub missing: Vec<MissingCode>,
    /// Reverse the item's maturity (1 − points/max).
    #[serde(default)]
    pub reverse: bool,
    /// CSF 2.0 subcategory / domain id this item scores into.
    #[serde(default)]
    pub domain: Option<String>,
    /// Numeric questions: valid range `[min, max]`.
    #[serde(default)]
    pub range: Option<[f64; 2]>,
    /// Numeric questions: maturity = (value − min)/(max − min), clipped; reversed with `reverse`.
    #[serde(default)]
    pub score_range: Option<[f64; 2]>,
    /// Multi-select questions: score maturity as the share of options selected.
    #[serde(default)]
    pub score_share: bool,
}

impl Question {
    pub fn column_id(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.id)
    }
    /// Whether the item contributes to a domain score.
    pub fn is_scored(&self) -> bool {
        self.domain.is_some()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub id: String,
    pub title: String,
    /// Weight in the risk index (default 1).
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// Minimum share of a domain's items answered for its score to exist.
    #[serde(default = "half")]
    pub domain_min_answered: f64,
    /// Minimum share of domains scored for the risk index to exist.
    #[serde(default = "half")]
    pub index_min_domains: f64,
    /// Risk tiers on the 0–100 risk index, in increasing order of risk.
    #[serde(default = "default_tiers")]
    pub tiers: Vec<Tier>,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            domain_min_answered: half(),
            index_min_domains: half(),
            tiers: default_tiers(),
        }
    }
}

fn half() -> f64 {
    0.5
}

/// A risk tier: the index is in this tier when it is below `below` (and not in an earlier tier).
/// The last tier has no bound.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    #[serde(default)]
    pub below: Option<f64>,
}

fn default_tiers() -> Vec<Tier> {
    [
        ("Low", Some(25.0)),
        ("Moderate", Some(50.0)),
        ("High", Some(75.0)),
        ("Critical", None),
    ]
    .into_iter()
    .map(|(n, b)| Tier {
        name: n.to_string(),
        below: b,
    })
    .collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cleaning {
    /// Respondent keys of known test submissions.
    #[serde(default)]
    pub test_keys: Vec<String>,
    /// Which submission to keep when a key repeats.
    #[serde(default)]
    pub duplicates: DuplicateRule,
    /// Minimum share of scored items answered (declared missing codes count as answered).
    #[serde(default = "half")]
    pub min_answered_share: f64,
    /// Match an unmatched label to the most similar option when the Jaro–Winkler similarity of
    /// the normalized texts reaches this threshold (0–1); absent = no fuzzy matching.
    #[serde(default)]
    pub fuzzy_threshold: Option<f64>,
    /// A response is a speeder when its duration is below this fraction of the median duration.
    #[serde(default = "speeder_fraction")]
    pub speeder_fraction: f64,
    /// Grids of Likert items (question ids) checked for straight-lining.
    #[serde(default)]
    pub straightline_grids: Vec<Vec<String>>,
    /// Fewest answered items of a grid for straight-lining to be judged.
    #[serde(default = "straightline_min")]
    pub straightline_min_items: usize,
    /// What each respondent rule does: drop (quarantine), flag (keep, with a flag), off.
    #[serde(default)]
    pub actions: RuleActions,
}

impl Default for Cleaning {
    fn default() -> Self {
        Cleaning {
            test_keys: Vec::new(),
            duplicates: DuplicateRule::default(),
            min_answered_share: half(),
            fuzzy_threshold: None,
            speeder_fraction: speeder_fraction(),
            straightline_grids: Vec::new(),
            straightline_min_items: straightline_min(),
            actions: RuleActions::default(),
        }
    }
}

fn yes() -> bool {
    true
}

fn speeder_fraction() -> f64 {
    0.3
}

fn straightline_min() -> usize {
    4
}

/// What a respondent rule does with the rows it catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Quarantine the row with the rule's reason.
    Drop,
    /// Keep the row and record the rule in its `flags`.
    Flag,
    /// Do not apply the rule.
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleActions {
    #[serde(default = "drop")]
    pub duplicate: RuleAction,
    #[serde(default = "drop")]
    pub preview: RuleAction,
    #[serde(default = "drop")]
    pub test_key: RuleAction,
    #[serde(default = "drop")]
    pub incomplete: RuleAction,
    #[serde(default = "flag")]
    pub speeder: RuleAction,
    #[serde(default = "flag")]
    pub straightline: RuleAction,
}

impl Default for RuleActions {
    fn default() -> Self {
        RuleActions {
            duplicate: drop(),
            preview: drop(),
            test_key: drop(),
            incomplete: drop(),
            speeder: flag(),
            straightline: flag(),
        }
    }
}

fn drop() -> RuleAction {
    RuleAction::Drop
}

fn flag() -> RuleAction {
    RuleAction::Flag
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicateRule {
    /// Keep the latest complete submission (by submission time).
    #[default]
    Latest,
    /// Keep the first submission.
    First,
    /// Treat a repeated key as an input error.
    Error,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Design {
    /// Question id whose value is the stratum.
    #[serde(default)]
    pub strata: Option<String>,
    /// Question id whose value is the cluster (PSU); default: each organization is its own PSU.
    /// Read as an identifier whatever the question's type (a numeric code is a label).
    #[serde(default)]
    pub cluster: Option<String>,
    /// PSU codes are numbered within strata (1, 2, … in each), as R's `nest = TRUE`: a PSU is
    /// its stratum and its code. Without it, a code repeated across strata is an error.
    #[serde(default)]
    pub nest: bool,
    /// Population counts file, relative to the round directory: cells (`<var>…,count`, one
    /// column per variable) or margins (`variable,level,count`). Optional when
    /// `weighting.margins` gives the targets inline.
    #[serde(default)]
    pub population: Option<String>,
    /// Apply the finite population correction from the population counts.
    #[serde(default = "yes")]
    pub fpc: bool,
    /// A numeric question holding each respondent's base weight (instead of N_h / n_h).
    #[serde(default)]
    pub base_weight: Option<String>,
    /// The finite population correction as a sampling fraction of PSUs (0–1), for every
    /// stratum, instead of population counts (also with clusters).
    #[serde(default)]
    pub sampling_fraction: Option<f64>,
    /// A numeric question holding the finite population correction per respondent, as R's
    /// `svydesign(fpc = ~var)`: the population number of PSUs in the respondent's stratum
    /// (organizations without clusters), or the sampling fraction when at most 1; constant
    /// within a stratum. Works with clusters, where population counts of organizations cannot.
    #[serde(default)]
    pub fpc_variable: Option<String>,
    /// Variance estimation: `linearization` (default), or replicate weights `jk1`, `jkn`,
    /// `bootstrap` (each replicate calibrated like the full sample).
    #[serde(default)]
    pub variance: VarianceMethod,
    /// Bootstrap replicates.
    #[serde(default = "bootstrap_replicates")]
    pub replicates: usize,
    /// Bootstrap seed (recorded in the manifest).
    #[serde(default = "bootstrap_seed")]
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VarianceMethod {
    #[default]
    Linearization,
    Jk1,
    Jkn,
    Bootstrap,
}

fn bootstrap_replicates() -> usize {
    500
}

fn bootstrap_seed() -> u64 {
    20_240_229
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightMethod {
    None,
    Poststratify,
    Rake,
    /// Calibration by Newton's method (R's `calibrate`), raking or linear (`calfun`).
    Calibrate,
}

/// Calibration function of `method = "calibrate"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalFunSpec {
    #[default]
    Raking,
    Linear,
}

/// What trimming bounds are relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrimScale {
    /// Bounds are weight values.
    Absolute,
    /// Bounds are multiples of the mean weight.
    Mean,
    /// Bounds are multiples of the median weight.
    #[default]
    Median,
}

/// Weight trimming after calibration (R's `trimWeights`), optionally re-calibrating until both
/// the margins and the bounds hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trim {
    #[serde(default)]
    pub upper: Option<f64>,
    #[serde(default)]
    pub lower: Option<f64>,
    #[serde(default)]
    pub relative_to: TrimScale,
    /// Repeat trimming until no weight is outside the bounds.
    #[serde(default)]
    pub strict: bool,
    /// After trimming, calibrate again, and repeat until margins and bounds both hold.
    #[serde(default)]
    pub rerake: bool,
    /// Trim-and-recalibrate rounds before giving up (a quality gate).
    #[serde(default = "trim_passes")]
    pub max_passes: usize,
}

fn trim_passes() -> usize {
    50
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmptyCellRule {
    /// An empty population cell is an error.
    #[default]
    Error,
    /// Fall back to raking on the variables' margins.
    Rake,
    /// Ignore population cells without respondents (R's `partial = TRUE`).
    Ignore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weighting {
    pub method: WeightMethod,
    /// Question ids of the weighting variables (cells for poststratify, margins for rake).
    #[serde(default)]
    pub variables: Vec<String>,
    #[serde(default)]
    pub empty_cell: EmptyCellRule,
    /// Raking stops when every margin is within `tolerance` × its population total.
    #[serde(default = "rake_tol")]
    pub tolerance: f64,
    /// Raking passes at most: by default 1000 with `stop = "margins"`, 10 (R's `maxit`) with
    /// `stop = "r"`; see [`Weighting::rake_passes`].
    #[serde(default)]
    pub max_iterations: Option<usize>,
    /// Raking's stopping rule: `margins` (every margin within `tolerance`) or `r` (R's
    /// `rake()`: no cell of the joint table moved by `epsilon` in the last pass).
    #[serde(default)]
    pub stop: RakeStopRule,
    /// R's `rake(control = list(epsilon))`, with `stop = "r"`: absolute when ≥ 1, a share of
    /// the total starting weight when < 1. R's default is 1.
    #[serde(default = "r_epsilon")]
    pub epsilon: f64,
    /// `method = "calibrate"`: `raking` (default) or `linear`.
    #[serde(default)]
    pub calfun: CalFunSpec,
    #[serde(default)]
    pub trim: Option<Trim>,
    /// Inline margins instead of a population file: `[weighting.margins.size] small = 121`.
    #[serde(default)]
    pub margins: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Raking's stopping rule (`weighting.stop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RakeStopRule {
    /// Every margin within `tolerance` of its population count.
    #[default]
    Margins,
    /// R's `rake()` rule on the joint table, with `epsilon`.
    R,
}

impl Weighting {
    /// The most raking passes: `max_iterations`, else 1000 (`stop = "margins"`) or R's 10.
    pub fn rake_passes(&self) -> usize {
        self.max_iterations.unwrap_or(match self.stop {
            RakeStopRule::Margins => rake_passes(),
            RakeStopRule::R => 10,
        })
    }

    /// The stopping rule for the raking kernel.
    pub fn rake_stop(&self) -> crate::kernels::calibration::RakeStop {
        use crate::kernels::calibration::RakeStop;
        match self.stop {
            RakeStopRule::Margins => RakeStop::MarginRelative(self.tolerance),
            RakeStopRule::R => RakeStop::RTable {
                epsilon: self.epsilon,
            },
        }
    }
}

fn r_epsilon() -> f64 {
    1.0
}

fn rake_tol() -> f64 {
    1e-10
}
fn rake_passes() -> usize {
    1000
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segments {
    /// Question ids (single choice) to estimate every metric by.
    #[serde(default)]
    pub variables: Vec<String>,
    /// Crosses of segment variables, e.g. `[["subsector", "size"]]`.
    #[serde(default)]
    pub crosses: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Share of organizations whose answer is in `levels`.
    Proportion,
    /// One proportion row per level (categorical distribution).
    Distribution,
    Mean,
    Total,
    Quantile,
    /// Ratio of weighted totals: `variable` over `denominator`.
    Ratio,
    /// Supplier concentration per category (`levels`: category codes, empty = all):
    /// `variable` is `hhi`, `effective_suppliers`, `dependency_share` or `no_alternative_share`.
    Concentration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Stable identifier, e.g. `SCRM.INV.01`.
    pub id: String,
    pub version: u32,
    pub title: String,
    pub kind: MetricKind,
    /// Question id, or a derived variable: `risk_index`, `risk_tier`, `maturity:<domain>`.
    pub variable: String,
    /// Proportion numerator levels (codes).
    #[serde(default)]
    pub levels: Vec<String>,
    /// Quantile probabilities (0–1).
    #[serde(default)]
    pub probs: Vec<f64>,
    /// Ratio metrics: the denominator variable (numeric).
    #[serde(default)]
    pub denominator: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    /// CSF 2.0 subcategory the metric describes.
    #[serde(default)]
    pub csf: Option<String>,
    pub definition: String,
    /// The population the metric describes.
    #[serde(default)]
    pub population: Option<String>,
    /// This metric's proportion interval (R's `svyciprop` method); default
    /// `publication.proportion_ci`.
    #[serde(default)]
    pub proportion_ci: Option<ProportionCi>,
    /// This quantile metric's rule (R's `qrule`); default `publication.quantile_rule`.
    #[serde(default)]
    pub quantile_rule: Option<String>,
    /// This quantile metric's Woodruff interval (R's `interval.type`); default
    /// `publication.quantile_interval`.
    #[serde(default)]
    pub quantile_interval: Option<String>,
}

impl Metric {
    /// The proportion CI method: the metric's own, else the publication default.
    pub fn proportion_ci_or(&self, p: &Publication) -> ProportionCi {
        self.proportion_ci.unwrap_or(p.proportion_ci)
    }

    /// The quantile rule's name: the metric's own, else the publication default.
    pub fn quantile_rule_or<'a>(&'a self, p: &'a Publication) -> &'a str {
        self.quantile_rule.as_deref().unwrap_or(&p.quantile_rule)
    }

    /// The quantile interval's name: the metric's own, else the publication default.
    pub fn quantile_interval_or<'a>(&'a self, p: &'a Publication) -> &'a str {
        self.quantile_interval
            .as_deref()
            .unwrap_or(&p.quantile_interval)
    }
}

/// A weighted histogram: the share of organizations in each bin `[edge_k, edge_k+1)` (the last
/// bin closed), with CIs, for every segment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// A numeric variable: a numeric question, `risk_index` or `maturity:<domain>`.
    pub variable: String,
    /// Increasing bin edges.
    pub bins: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publication {
    /// Estimates resting on fewer respondents are suppressed in published outputs.
    #[serde(default = "min_cell")]
    pub min_cell_size: usize,
    /// Confidence level for every interval.
    #[serde(default = "ci_level")]
    pub ci_level: f64,
    /// CI for proportions: `logit` (R's svyciprop default), `beta` (Korn–Graubard), `wilson`,
    /// `mean`, `asin`.
    #[serde(default)]
    pub proportion_ci: ProportionCi,
    /// CI for means and totals: `normal` (R's default) or `t` (on the design df).
    #[serde(default)]
    pub mean_ci: MeanCi,
    /// Apply the NCHS Data Presentation Standards for Proportions (flag, and suppress unless
    /// `nchs_action = "flag"`).
    #[serde(default = "yes")]
    pub nchs_proportions: bool,
    /// What a proportion failing the NCHS standard gets: `suppress` (default: blank, flagged)
    /// or `flag` (shown, flagged `nchs_*` so readers see it is unreliable).
    #[serde(default)]
    pub nchs_action: NchsAction,
    /// Quantile rule (R's `qrule`): `math` (default), `school`, `hf3` … `hf9`, `shahvaish`.
    #[serde(default = "quantile_rule")]
    pub quantile_rule: String,
    /// Quantile interval (R's `interval.type`): Woodruff `mean` (default), `xlogit`, `asin`,
    /// `beta`, or the `score` interval.
    #[serde(default = "quantile_interval")]
    pub quantile_interval: String,
    /// How wide the interval an attacker can narrow a withheld number to must stay (the
    /// disclosure audit, docs/disclosure.md).
    #[serde(default)]
    pub protection: Protection,
    /// The dominance rule for means and totals of numeric questions: a cell is withheld when
    /// one organization contributes more than this share of its weighted total (0 = off).
    #[serde(default = "dominance_share")]
    pub dominance_share: f64,
}

/// `[publication.protection]`: the protection interval of a withheld number.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protection {
    /// Counts of organizations: the attacker's interval must be at least this wide (default
    /// `min_cell_size − 1`: the interval holds at least `min_cell_size` possible counts).
    #[serde(default)]
    pub count: Option<f64>,
    /// Shares (0–1): at least this wide, in share units.
    #[serde(default = "protection_share")]
    pub share: f64,
    /// Means: at least this fraction of the variable's range wide (of the value itself when
    /// the variable has no declared range); also totals, relative to the value.
    #[serde(default = "protection_mean")]
    pub mean: f64,
}

impl Default for Protection {
    fn default() -> Self {
        Protection {
            count: None,
            share: protection_share(),
            mean: protection_mean(),
        }
    }
}

fn protection_share() -> f64 {
    0.2
}

fn protection_mean() -> f64 {
    0.2
}

fn dominance_share() -> f64 {
    0.6
}

fn quantile_rule() -> String {
    "math".into()
}

fn quantile_interval() -> String {
    "mean".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProportionCi {
    /// R's `logit` (on linearized designs the same interval as `xlogit`).
    #[default]
    Logit,
    /// R's `xlogit`: expit(logit p ± t·SE/(p(1−p))), the delta method on the logit scale.
    Xlogit,
    Beta,
    Wilson,
    /// R's `mean`: p ± t·SE.
    Mean,
    /// The same interval by its plain name, `normal`.
    Normal,
    Asin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeanCi {
    #[default]
    Normal,
    T,
}

impl Default for Publication {
    fn default() -> Self {
        Publication {
            min_cell_size: min_cell(),
            ci_level: ci_level(),
            proportion_ci: ProportionCi::default(),
            mean_ci: MeanCi::default(),
            nchs_proportions: true,
            nchs_action: NchsAction::default(),
            quantile_rule: quantile_rule(),
            quantile_interval: quantile_interval(),
            protection: Protection::default(),
            dominance_share: dominance_share(),
        }
    }
}

fn min_cell() -> usize {
    5
}
fn ci_level() -> f64 {
    0.95
}

/// Quality gates: a run that breaks one completes, writes everything, and exits 1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quality {
    /// Largest acceptable share of input rows quarantined.
    #[serde(default = "max_quarantine")]
    pub max_quarantine_share: f64,
    /// Fewest usable responses for a run to pass.
    #[serde(default = "min_responses")]
    pub min_responses: usize,
    /// Largest acceptable share of supplier mentions that match no supplier of the alias table.
    #[serde(default = "max_unresolved_supplier_share")]
    pub max_unresolved_supplier_share: f64,
}

fn max_unresolved_supplier_share() -> f64 {
    0.05
}

impl Default for Quality {
    fn default() -> Self {
        Quality {
            max_quarantine_share: max_quarantine(),
            min_responses: min_responses(),
            max_unresolved_supplier_share: max_unresolved_supplier_share(),
        }
    }
}

fn max_quarantine() -> f64 {
    0.5
}
fn min_responses() -> usize {
    30
}

/// Derived variables a metric or segment may name besides question ids.
pub const RISK_INDEX: &str = "risk_index";
pub const RISK_TIER: &str = "risk_tier";
pub const MATURITY_PREFIX: &str = "maturity:";

impl Spec {
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    /// Options of a question: its own, else its scale's.
    pub fn options<'a>(&'a self, q: &'a Question) -> &'a [OptionSpec] {
        if !q.options.is_empty() {
            return &q.options;
        }
        q.scale
            .as_ref()
            .and_then(|s| self.scales.get(s))
            .map_or(&[], |s| s.options.as_slice())
    }

    /// Declared missing codes of a question: its scale's plus its own.
    pub fn missing_codes<'a>(&'a self, q: &'a Question) -> Vec<&'a MissingCode> {
        let mut out: Vec<&MissingCode> = q
            .scale
            .as_ref()
            .and_then(|s| self.scales.get(s))
            .map(|s| s.missing.iter().collect())
            .unwrap_or_default();
        out.extend(q.missing.iter());
        out
    }

    /// Every segmentation to estimate: overall, each variable, each cross. Each entry lists the
    /// question ids whose values form the segment (empty = overall).
    pub fn segmentations(&self) -> Vec<Vec<String>> {
        let mut out = vec![Vec::new()];
        out.extend(self.segments.variables.iter().map(|v| vec![v.clone()]));
        out.extend(self.segments.crosses.iter().cloned());
        out
    }
}

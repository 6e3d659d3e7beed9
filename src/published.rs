//! What a run publishes, as every stage after disclosure control reads it: the run's results
//! ([`RunResult`]: inputs, cleaned records, scores, weights, and the tables after `disclose`
//! decided what is published) and the published tables as written ([`PublishedTables`]), with
//! what each of their columns means. `render` and `export` read this module and not each other.

use std::path::PathBuf;

use crate::clean::{Cleaned, Records};
use crate::estimate::EstimateRow;
use crate::ingest::SourceTable;
use crate::score::Scores;
use crate::spec::LoadedSpec;
use crate::table::Table;
use crate::weight::{Population, Weighted};

/// Everything a run computed, for the summary, the report and the exports.
pub struct RunResult {
    pub spec: LoadedSpec,
    pub population: Population,
    pub sources: Vec<SourceTable>,
    pub cleaned: Cleaned,
    pub scores: Scores,
    pub weighted: Weighted,
    pub estimates: Vec<EstimateRow>,
    /// Segment-vs-rest differences and Rao–Scott tests, suppressed like the estimates.
    pub comparisons: Vec<crate::estimate::ComparisonRow>,
    /// Weighted histograms per segment.
    pub distributions: Vec<crate::estimate::DistributionRow>,
    /// Weight diagnostics per segment.
    pub weight_summary: Vec<crate::estimate::WeightSummaryRow>,
    /// What disclosure control withheld and the attacker's audit of the publication.
    pub disclosure: crate::disclose::Disclosure,
    pub out_dir: PathBuf,
    /// Quality gates that failed (empty = passed).
    pub failed_gates: Vec<String>,
    /// The earlier round given with `--previous`.
    pub previous: Option<crate::previous::PreviousRound>,
    /// The earlier round's organizations stacked with this round's (its `data/panel.csv` and
    /// this round's), when the two share organizations: changes then use the panel SE.
    pub panel: Option<crate::previous::Panel>,
    /// Supplier concentration, when the spec has a `[concentration]` section.
    pub concentration: Option<crate::concentration::Analysis>,
    /// The spec's `[[models]]`: coefficients and term tests, suppressed like the estimates.
    pub models: Vec<crate::estimate::ModelRow>,
    /// The models this round's data cannot support: (id, why) — each a failed quality gate.
    pub models_not_fitted: Vec<(String, String)>,
}

impl RunResult {
    pub fn records(&self) -> &Records {
        &self.cleaned.records
    }
}

/// The published tables as written (CSV and Parquet under `tables/`, `metrics/`): the workbook
/// and the exports read them.
pub struct PublishedTables {
    pub estimates: Table,
    pub comparisons: Table,
    pub distributions: Table,
    pub weight_summary: Table,
    /// `tables/concentration.csv` and `tables/supplier_dependency.csv`, when computed.
    pub concentration: Option<(Table, Table)>,
    /// `metrics/metrics.csv`: the clearinghouse export (also a sheet of the workbook).
    pub metrics: Table,
    /// `tables/models.csv`, when the spec has `[[models]]`.
    pub models: Option<Table>,
}

/// What a column of a published table means (the README sheet; docs/output.md in full).
pub fn column_meaning(table: &str, column: &str) -> &'static str {
    match (table, column) {
        ("comparisons", "estimate") => {
            return "difference: the segment's estimate minus the rest of the sector's (blank when withheld)"
        }
        ("comparisons", "se") => return "standard error of the difference over the full design",
        ("comparisons", "statistic") => {
            return "test statistic: t for a difference; for a table the Rao–Scott F, the corrected chi-square, the Wald F, or Pearson's X² (lincom, saddlepoint)"
        }
        ("comparisons", "rows_var") | ("comparisons", "cols_var") => {
            return "a test of association: its row and column variables"
        }
        ("comparisons", "pearson_x2") => {
            return "Pearson's X² of the weighted table rescaled to the respondents used"
        }
        ("comparisons", "deff_trace") | ("comparisons", "deff_trace2") => {
            return "trace of the generalized design-effect matrix Δ and of Δ² (Rao–Scott)"
        }
        ("comparisons", "deff_eigenvalues") => {
            return "eigenvalues of Δ, largest first (the generalized design effects)"
        }
        ("comparisons", "design_df") => return "design degrees of freedom ν of the test",
        ("models", "model_id") => return "the spec's [[models]] id",
        ("models", "family") => return "gaussian (linear) or quasibinomial (logistic)",
        ("models", "response") => return "the model's response variable",
        ("models", "row") => {
            return "coefficient, or term_test (the Wald F of one factor, all its levels: R's regTermTest)"
        }
        ("models", "term") => return "(Intercept), or the predictor",
        ("models", "level") => return "a factor coefficient's level (its code); empty otherwise",
        ("models", "reference") => return "a factor's reference level",
        ("models", "estimate") => {
            return "the coefficient (log-odds for a logistic model; blank when withheld)"
        }
        ("models", "se") => {
            return "design-based SE of the coefficient (linearized over strata, clusters, FPC and calibration, or from replicates)"
        }
        ("models", "ci_low") | ("models", "ci_high") => {
            return "coefficient ± t(residual df) · SE (R's confint.svyglm)"
        }
        ("models", "statistic") => return "t of a coefficient; the Wald F of a term test",
        ("models", "ndf") | ("models", "ddf") => {
            return "a term test's numerator df; the residual df (a coefficient's t and a test's denominator)"
        }
        ("models", "odds_ratio") | ("models", "odds_ratio_low") | ("models", "odds_ratio_high") => {
            return "logistic models: exp of the coefficient and of its interval"
        }
        ("models", "n") => return "organizations the model used (every answer it needs)",
        ("models", "flag") => {
            return "why a row is withheld: below_min_cell, complementary_suppression, nchs, coefficients_withheld (docs/disclosure.md)"
        }
        ("changes", "round_a") => return "the earlier round (given with --previous)",
        ("changes", "round_b") => return "this round",
        ("changes", "version_a") | ("changes", "version_b") => {
            return "the metric's definition version in the earlier round and in this one"
        }
        ("changes", "estimate_a") | ("changes", "estimate_b") => {
            return "the published estimate in the earlier round and in this one (blank when withheld or not comparable)"
        }
        ("changes", "difference") => return "this round's estimate minus the earlier round's",
        ("changes", "se") => {
            return "standard error of the difference: the panel SE when organizations answered both rounds (se_method = panel), else independent samples"
        }
        ("changes", "se_method") => return "panel or independent (docs/metrics.md, Which SE)",
        ("changes", "se_independent") => {
            return "the SE if the rounds were independent samples, √(SE_a² + SE_b²)"
        }
        ("changes", "ci_low") | ("changes", "ci_high") => {
            return "normal confidence interval of the difference at the round's ci_level"
        }
        ("changes", "p_value") => return "two-sided p-value of no change",
        ("changes", "p_adjusted") => return "Benjamini–Hochberg adjusted within each metric",
        ("changes", "tlp") => {
            return "the stricter of the two rounds' Traffic Light Protocol labels (each row shows both)"
        }
        ("changes", "status") => {
            return "comparable, suppressed (withheld in a round) or version_changed (not compared)"
        }
        ("supplier_dependency", "share") => {
            return "weighted share of organizations naming the supplier among their most critical"
        }
        _ => {}
    }
    match column {
        "metric" => "the metric's title (spec [[metrics]] title)",
        "segment" => "the segment's label (All organizations, or the option label(s))",
        "level_label" => "the answer level's label (the codes are in `level`)",
        "metric_id" => "stable metric identifier (spec [[metrics]] id)",
        "metric_version" => "metric definition version; compare rounds only at equal versions",
        "statistic" => "mean, total, proportion, ratio or quantile; for a model's metric coefficient or odds_ratio",
        "level" => "for proportions the answer level(s) counted; for quantiles p10, p50 …; for a model's coefficient (Intercept), the predictor, or factor=level",
        "segment_var" => "segment variable (all = every organization; a:b = a cross)",
        "segment_value" => "the segment's code(s)",
        "estimate" => "weighted estimate (blank when suppressed)",
        "se" => "standard error (Taylor linearization over the design and calibration)",
        "ci_low" | "ci_high" => "confidence interval bounds",
        "ci_method" => "how the interval was formed (normal, t, logit, beta, wilson, woodruff …)",
        "n" => "respondents used (unweighted)",
        "n_eff" => "Kish effective sample size of the respondents used",
        "weight_sum" => "sum of weights of the respondents used (estimated organizations)",
        "deff" => "design effect against simple random sampling",
        "df" => "design degrees of freedom of the segment",
        "suppressed" => "true = numbers withheld by disclosure control (see the Withheld lines above)",
        "flag" => "reliability flags, and why a row is withheld (docs/disclosure.md)",
        "test" => "difference (segment − rest of the sector), or a test of association: rao_scott_f, rao_scott_chisq, wald, adj_wald, lincom, saddlepoint",
        "statistic_value" | "ndf" | "ddf" => "test statistic and its degrees of freedom",
        "p_value" => "p-value",
        "p_adjusted" => "Benjamini–Hochberg adjusted p-value within the table (a test of association: its p-value)",
        "n_segment" | "n_rest" => "respondents in the segment / in the rest of the sector",
        "variable" => "the numeric variable binned",
        "bin_low" | "bin_high" => "bin edges [low, high)",
        "share" => "weighted share of organizations in the bin",
        "n_bin" => "respondents in the bin",
        "kish_ess" => "Kish effective sample size",
        "kish_deff" => "design effect of unequal weights (1 + CV²)",
        "weight_min" | "weight_p25" | "weight_median" | "weight_p75" | "weight_max" => {
            "distribution of the final weights"
        }
        "weight_cv" => "coefficient of variation of the weights",
        "n_trimmed" => "weights capped by trimming",
        "survey_id" | "round" => "survey and round",
        "tlp" => "Traffic Light Protocol label of the row",
        "category" => "supplier category code (alias table)",
        "category_label" => "supplier category",
        "rank" => "rank within the category by the sector-wide weighted share (1 = most depended on)",
        "supplier" => "the supplier: its name when the spec publishes names, else <category> #<rank>",
        "dependency_share" => "weighted share of organizations naming a supplier of the category as critical",
        "hhi" => "Herfindahl–Hirschman index of the weighted dependence counts within the category (0–1)",
        "effective_suppliers" => "effective number of suppliers, 1 / HHI",
        "no_alternative_share" => {
            "weighted share with no alternative, among organizations whose most critical (first named) supplier is in the category"
        }
        "n_dependents" => "respondents naming a supplier of the category",
        "no_alternative_n" => "respondents whose most critical supplier is in the category and who answered the alternatives question",
        "single_point_of_failure" => {
            "sector-wide share at or above the spec's threshold in a category where most report no alternative (overall rows)"
        }
        "single_points_of_failure" => "published suppliers of the category that are single points of failure (overall rows)",
        c if c.ends_with("_se") => "standard error of the column before it (linearized over the design and calibration)",
        c if c.ends_with("_ci_low") || c.ends_with("_ci_high") => "confidence interval bounds of that statistic",
        _ => "",
    }
}

//! Semantic checks on a parsed spec: references resolve, codes are unique, files exist, numbers
//! are in range. Every problem is collected (not just the first) with the key path it concerns.

use std::collections::BTreeSet;

use super::load::{PathSeg, SpecProblem};
use super::{
    ConcentrationSpec, LoadedSpec, MetricKind, QuestionType, Spec, WeightMethod, MATURITY_PREFIX,
    RISK_INDEX, RISK_TIER,
};

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_string())
}

fn at(parts: &[PathSeg]) -> Vec<PathSeg> {
    parts.to_vec()
}

fn is_categorical(t: QuestionType) -> bool {
    matches!(
        t,
        QuestionType::Single | QuestionType::Likert | QuestionType::Yesno
    )
}

fn known_ids(spec: &Spec) -> String {
    let ids: Vec<&str> = spec.questions.iter().map(|q| q.id.as_str()).collect();
    if ids.len() <= 12 {
        ids.join(", ")
    } else {
        format!("{}, … ({} questions)", ids[..12].join(", "), ids.len())
    }
}

/// Check a question reference that must name a categorical question.
fn check_categorical_ref(
    spec: &Spec,
    id: &str,
    path: Vec<PathSeg>,
    what: &str,
    out: &mut Vec<SpecProblem>,
) {
    match spec.question(id) {
        None => out.push(SpecProblem::new(
            path,
            format!("unknown question `{id}` as {what}; expected a question id ({})", known_ids(spec)),
        )),
        Some(q) if !is_categorical(q.kind) => out.push(SpecProblem::new(
            path,
            format!("question `{id}` is {:?}; {what} must be a single-choice, Likert or yes/no question", q.kind),
        )),
        Some(_) => {}
    }
}

/// `[[models]]`: ids, a response of the family's kind, known predictors, reference levels.
fn check_models(spec: &Spec, domain_ids: &BTreeSet<&str>, out: &mut Vec<SpecProblem>) {
    use crate::spec::{ModelFamily, MATURITY_PREFIX, RISK_INDEX, RISK_TIER};
    let numeric = |v: &str| {
        v == RISK_INDEX
            || v == RISK_TIER
            || v.strip_prefix(MATURITY_PREFIX)
                .is_some_and(|d| domain_ids.contains(d))
            || spec.question(v).is_some_and(|q| {
                q.kind == QuestionType::Numeric
                    || (is_categorical(q.kind) && spec.options(q).iter().any(|o| o.score.is_some()))
            })
    };
    let categorical =
        |v: &str| v == RISK_TIER || spec.question(v).is_some_and(|q| is_categorical(q.kind));
    let codes = |v: &str| -> Vec<String> {
        if v == RISK_TIER {
            spec.scoring.tiers.iter().map(|t| t.name.clone()).collect()
        } else {
            spec.question(v)
                .map(|q| spec.options(q).iter().map(|o| o.code.0.clone()).collect())
                .unwrap_or_default()
        }
    };
    let mut ids = BTreeSet::new();
    for (i, m) in spec.models.iter().enumerate() {
        let at_model = |k: &str| vec![key("models"), PathSeg::Index(i), key(k)];
        if m.id.trim().is_empty() || !ids.insert(m.id.as_str()) {
            out.push(SpecProblem::new(
                at_model("id"),
                "each model needs its own non-empty id",
            ));
        }
        let r = m.response.as_str();
        match m.family {
            ModelFamily::Gaussian if !numeric(r) => out.push(SpecProblem::new(
                at_model("response"),
                format!("a gaussian model needs a numeric response (a numeric question, {RISK_INDEX}, {MATURITY_PREFIX}<domain>, a scored item or {RISK_TIER}); `{r}` is not"),
            )),
            ModelFamily::Gaussian if !m.levels.is_empty() => out.push(SpecProblem::new(
                at_model("levels"),
                "`levels` makes the response 0/1; use family = \"quasibinomial\" for that",
            )),
            ModelFamily::Quasibinomial if categorical(r) => {
                let known = codes(r);
                if m.levels.is_empty() {
                    out.push(SpecProblem::new(
                        at_model("levels"),
                        format!("a logistic model of `{r}` needs the `levels` that count as 1 (of: {})", known.join(", ")),
                    ));
                }
                for l in &m.levels {
                    if !known.contains(l) {
                        out.push(SpecProblem::new(
                            at_model("levels"),
                            format!("`{l}` is not a code of `{r}`; expected one of: {}", known.join(", ")),
                        ));
                    }
                }
            }
            ModelFamily::Quasibinomial
                if !spec.question(r).is_some_and(|q| q.kind == QuestionType::Numeric) =>
            {
                out.push(SpecProblem::new(
                    at_model("response"),
                    format!("a quasibinomial model needs a categorical response with `levels`, or a 0/1 numeric question; `{r}` is neither"),
                ));
            }
            _ => {}
        }
        if m.predictors.is_empty() {
            out.push(SpecProblem::new(
                at_model("predictors"),
                "a model needs at least one predictor",
            ));
        }
        let mut seen = BTreeSet::new();
        for (j, p) in m.predictors.iter().enumerate() {
            let path = vec![
                key("models"),
                PathSeg::Index(i),
                key("predictors"),
                PathSeg::Index(j),
            ];
            if p == r || !seen.insert(p.as_str()) {
                out.push(SpecProblem::new(
                    path,
                    format!("`{p}` is the response or already a predictor"),
                ));
            } else if !numeric(p) && !categorical(p) {
                out.push(SpecProblem::new(
                    path,
                    format!("unknown or unusable predictor `{p}`; expected a single-choice, Likert or yes/no question, a numeric question, {RISK_INDEX}, {RISK_TIER} or {MATURITY_PREFIX}<domain>"),
                ));
            }
        }
        for (v, code) in &m.reference {
            if !m.predictors.contains(v) || !categorical(v) {
                out.push(SpecProblem::new(
                    at_model("reference"),
                    format!("`{v}` is not a categorical predictor of this model"),
                ));
            } else if !codes(v).contains(code) {
                out.push(SpecProblem::new(
                    at_model("reference"),
                    format!(
                        "`{code}` is not a code of `{v}`; expected one of: {}",
                        codes(v).join(", ")
                    ),
                ));
            }
        }
        if m.min_per_parameter == 0 {
            out.push(SpecProblem::new(
                at_model("min_per_parameter"),
                "expected at least 1",
            ));
        }
    }
}

/// The variables a `kind = "concentration"` metric can publish.
pub const CONCENTRATION_VARIABLES: [&str; 4] = [
    "hhi",
    "effective_suppliers",
    "dependency_share",
    "no_alternative_share",
];

fn check_concentration(loaded: &LoadedSpec, c: &ConcentrationSpec, out: &mut Vec<SpecProblem>) {
    let spec = &loaded.spec;
    let path = |k: &str| vec![key("concentration"), key(k)];
    if c.suppliers.is_empty() {
        out.push(SpecProblem::new(
            path("suppliers"),
            "name the text question(s) holding supplier names",
        ));
    }
    for (j, id) in c.suppliers.iter().enumerate() {
        let mut p = path("suppliers");
        p.push(PathSeg::Index(j));
        match spec.question(id) {
            None => out.push(SpecProblem::new(
                p,
                format!(
                    "unknown question `{id}`; expected a question id ({})",
                    known_ids(spec)
                ),
            )),
            Some(q) if q.kind != QuestionType::Text => out.push(SpecProblem::new(
                p,
                format!(
                    "question `{id}` is {:?}; supplier names must be a text question",
                    q.kind
                ),
            )),
            Some(_) => {}
        }
    }
    if let Some(cat) = &c.categories {
        match spec.question(cat) {
            Some(q) if q.kind == QuestionType::Multi || is_categorical(q.kind) => {}
            _ => out.push(SpecProblem::new(
                path("categories"),
                format!("`{cat}` must be a multi-select or single-choice question whose codes are the supplier categories"),
            )),
        }
    }
    match &c.alternatives {
        Some(alt) => {
            check_categorical_ref(
                spec,
                alt,
                path("alternatives"),
                "concentration.alternatives",
                out,
            );
            if let Some(q) = spec.question(alt) {
                let codes: Vec<&str> = spec.options(q).iter().map(|o| o.code.0.as_str()).collect();
                if c.no_alternative.is_empty() {
                    out.push(SpecProblem::new(
                        path("no_alternative"),
                        format!(
                            "name the level(s) of `{alt}` meaning no alternative (one of: {})",
                            codes.join(", ")
                        ),
                    ));
                }
                for (j, l) in c.no_alternative.iter().enumerate() {
                    if !codes.contains(&l.as_str()) {
                        let mut p = path("no_alternative");
                        p.push(PathSeg::Index(j));
                        out.push(SpecProblem::new(
                            p,
                            format!(
                                "`{l}` is not a code of `{alt}`; expected one of: {}",
                                codes.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        None if !c.no_alternative.is_empty() => out.push(SpecProblem::new(
            path("alternatives"),
            "no_alternative is set but not the alternatives question",
        )),
        None => {}
    }
    for (k, v) in [
        ("similarity", c.similarity),
        ("single_point_share", c.single_point_share),
        ("single_point_no_alternative", c.single_point_no_alternative),
    ] {
        if !(v > 0.0 && v <= 1.0) {
            out.push(SpecProblem::new(
                path(k),
                format!("must be in (0, 1]; got {v}"),
            ));
        }
    }
    if let Err(m) = crate::paths::inside_round(&loaded.dir, &c.aliases) {
        out.push(SpecProblem::new(
            path("aliases"),
            format!(
                "alias table: {m} (a CSV with the columns alias, canonical, category; it may have only its header)"
            ),
        ));
    }
}

/// `[report] templates`: a folder inside the round folder.
fn template_folder(dir: &std::path::Path, written: &str) -> Result<(), String> {
    let rel = std::path::Path::new(written);
    if written.trim().is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "`{written}` must be a folder inside the round folder {}, written relative to it",
            dir.display()
        ));
    }
    let path = dir.join(rel);
    if !path.is_dir() {
        return Err(format!(
            "the template folder {} does not exist (it holds report.html and/or summary.md to replace the built-in templates)",
            path.display()
        ));
    }
    Ok(())
}

pub(super) fn validate(loaded: &LoadedSpec) -> Vec<SpecProblem> {
    let spec = &loaded.spec;
    let mut out = Vec::new();

    if spec.survey.id.trim().is_empty() {
        out.push(SpecProblem::new(
            at(&[key("survey"), key("id")]),
            "must not be empty",
        ));
    }
    if spec.survey.round.trim().is_empty() {
        out.push(SpecProblem::new(
            at(&[key("survey"), key("round")]),
            "must not be empty",
        ));
    }

    if let Some(t) = &spec.report.templates {
        if let Err(m) = template_folder(&loaded.dir, t) {
            out.push(SpecProblem::new(at(&[key("report"), key("templates")]), m));
        }
    }

    // Sources exist.
    if spec.sources.is_empty() {
        out.push(SpecProblem::new(
            at(&[key("sources")]),
            "at least one [[sources]] entry is required",
        ));
    }
    for (i, s) in spec.sources.iter().enumerate() {
        if let Err(m) = crate::paths::inside_round(&loaded.dir, &s.path) {
            out.push(SpecProblem::new(
                at(&[key("sources"), PathSeg::Index(i), key("path")]),
                m,
            ));
        }
        if s.header_row == Some(0) {
            out.push(SpecProblem::new(
                at(&[key("sources"), PathSeg::Index(i), key("header_row")]),
                "rows are numbered from 1; expected the 1-based row of the header",
            ));
        }
        if let Some(enc) = &s.encoding {
            if encoding_rs::Encoding::for_label(enc.as_bytes()).is_none() {
                out.push(SpecProblem::new(
                    at(&[key("sources"), PathSeg::Index(i), key("encoding")]),
                    format!("unknown encoding `{enc}`; expected a WHATWG label such as `windows-1252` or `utf-8`"),
                ));
            }
        }
    }

    // Questions.
    let domain_ids: BTreeSet<&str> = spec.domains.iter().map(|d| d.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    for (i, q) in spec.questions.iter().enumerate() {
        let base = vec![key("questions"), PathSeg::Index(i)];
        let with = |k: &str| {
            let mut p = base.clone();
            p.push(key(k));
            p
        };
        if !seen.insert(q.id.as_str()) {
            out.push(SpecProblem::new(
                with("id"),
                format!("question id `{}` is used twice", q.id),
            ));
        }
        if let Some(scale) = &q.scale {
            if !spec.scales.contains_key(scale) {
                let mut names: Vec<String> = spec.scales.keys().cloned().collect();
                for b in super::builtin_scales::names() {
                    if !names.contains(&b) {
                        names.push(format!("{b} (built in)"));
                    }
                }
                out.push(SpecProblem::new(
                    with("scale"),
                    format!(
                        "unknown scale `{scale}`; expected one of: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        let options = spec.options(q);
        let needs_options = matches!(
            q.kind,
            QuestionType::Single | QuestionType::Likert | QuestionType::Yesno | QuestionType::Multi
        );
        if needs_options
            && options.is_empty()
            && q.scale.as_ref().is_none_or(|s| spec.scales.contains_key(s))
        {
            out.push(SpecProblem::new(
                with("type"),
                format!("a {:?} question needs `options` or a `scale`", q.kind),
            ));
        }
        if !needs_options && (!q.options.is_empty() || q.scale.is_some()) {
            out.push(SpecProblem::new(
                with("options"),
                format!("a {:?} question takes no options", q.kind),
            ));
        }
        let mut codes = BTreeSet::new();
        for o in options {
            if !codes.insert(o.code.0.as_str()) {
                out.push(SpecProblem::new(
                    with("options"),
                    format!("option code `{}` is used twice", o.code),
                ));
            }
        }
        for m in spec.missing_codes(q) {
            if !codes.insert(m.code.0.as_str()) {
                out.push(SpecProblem::new(
                    with("missing"),
                    format!("missing code `{}` is also an option code", m.code),
                ));
            }
        }
        if let Some(d) = &q.domain {
            if !domain_ids.contains(d.as_str()) {
                out.push(SpecProblem::new(
                    with("domain"),
                    format!(
                        "unknown domain `{d}`; expected one of the [[domains]] ids: {}",
                        domain_ids.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let scorable = match q.kind {
                QuestionType::Numeric => q.score_range.is_some(),
                QuestionType::Multi => q.score_share,
                QuestionType::Text => false,
                _ => options.iter().any(|o| o.score.is_some()),
            };
            if !scorable {
                out.push(SpecProblem::new(
                    with("domain"),
                    "the question maps to a domain but has no scoring: give options a `score`, a numeric \
                     question `score_range`, or a multi-select `score_share = true`",
                ));
            }
        }
        for (name, r) in [("range", q.range), ("score_range", q.score_range)] {
            if let Some([lo, hi]) = r {
                if q.kind != QuestionType::Numeric {
                    out.push(SpecProblem::new(
                        with(name),
                        "only numeric questions take a range",
                    ));
                } else if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    out.push(SpecProblem::new(
                        with(name),
                        format!("expected [min, max] with min < max, got [{lo}, {hi}]"),
                    ));
                }
            }
        }
        if q.score_share && q.kind != QuestionType::Multi {
            out.push(SpecProblem::new(
                with("score_share"),
                "only multi-select questions take `score_share`",
            ));
        }
    }

    // Respondent.
    if spec.question(&spec.respondent.key).is_none() {
        out.push(SpecProblem::new(
            at(&[key("respondent"), key("key")]),
            format!(
                "unknown question `{}`; expected a question id ({})",
                spec.respondent.key,
                known_ids(spec)
            ),
        ));
    }
    for (i, id) in spec.respondent.identifying.iter().enumerate() {
        if spec.question(id).is_none() {
            out.push(SpecProblem::new(
                at(&[key("respondent"), key("identifying"), PathSeg::Index(i)]),
                format!(
                    "unknown question `{id}`; expected a question id ({})",
                    known_ids(spec)
                ),
            ));
        }
    }

    // Domains.
    let mut dseen = BTreeSet::new();
    for (i, d) in spec.domains.iter().enumerate() {
        if !dseen.insert(d.id.as_str()) {
            out.push(SpecProblem::new(
                at(&[key("domains"), PathSeg::Index(i), key("id")]),
                format!("domain id `{}` is used twice", d.id),
            ));
        }
        if !(d.weight.is_finite() && d.weight > 0.0) {
            out.push(SpecProblem::new(
                at(&[key("domains"), PathSeg::Index(i), key("weight")]),
                format!("expected a positive weight, got {}", d.weight),
            ));
        }
        if !spec
            .questions
            .iter()
            .any(|q| q.domain.as_deref() == Some(&d.id))
        {
            out.push(SpecProblem::new(
                at(&[key("domains"), PathSeg::Index(i), key("id")]),
                format!("no question maps to domain `{}`", d.id),
            ));
        }
    }

    // Scoring.
    for (name, v) in [
        ("domain_min_answered", spec.scoring.domain_min_answered),
        ("index_min_domains", spec.scoring.index_min_domains),
    ] {
        if !(0.0..=1.0).contains(&v) {
            out.push(SpecProblem::new(
                at(&[key("scoring"), key(name)]),
                format!("expected a share in [0, 1], got {v}"),
            ));
        }
    }
    let tiers = &spec.scoring.tiers;
    if tiers.is_empty() {
        out.push(SpecProblem::new(
            at(&[key("scoring"), key("tiers")]),
            "at least one tier is needed",
        ));
    }
    if tiers.len() > 255 {
        out.push(SpecProblem::new(
            at(&[key("scoring"), key("tiers")]),
            format!("at most 255 tiers, got {}", tiers.len()),
        ));
    }
    let mut last = f64::NEG_INFINITY;
    for (i, t) in tiers.iter().enumerate() {
        let p = at(&[key("scoring"), key("tiers"), PathSeg::Index(i)]);
        match (t.below, i + 1 == tiers.len()) {
            (Some(_), true) => {
                out.push(SpecProblem::new(p, "the last tier takes no `below` bound"))
            }
            (None, false) => out.push(SpecProblem::new(
                p,
                "every tier but the last needs a `below` bound",
            )),
            (Some(b), false) if b <= last || !(0.0..=100.0).contains(&b) => {
                out.push(SpecProblem::new(
                    p,
                    format!(
                        "tier bounds must increase within 0–100; `{}` has below = {b}",
                        t.name
                    ),
                ))
            }
            (Some(b), false) => last = b,
            (None, true) => {}
        }
    }

    // Cleaning.
    if !(0.0..=1.0).contains(&spec.cleaning.min_answered_share) {
        out.push(SpecProblem::new(
            at(&[key("cleaning"), key("min_answered_share")]),
            format!(
                "expected a share in [0, 1], got {}",
                spec.cleaning.min_answered_share
            ),
        ));
    }

    // Design.
    if let Some(s) = &spec.design.strata {
        check_categorical_ref(
            spec,
            s,
            at(&[key("design"), key("strata")]),
            "a stratum variable",
            &mut out,
        );
    }
    if let Some(b) = &spec.design.base_weight {
        if !spec
            .question(b)
            .is_some_and(|q| q.kind == QuestionType::Numeric)
        {
            out.push(SpecProblem::new(
                at(&[key("design"), key("base_weight")]),
                format!("`{b}` must be a numeric question holding the base weights"),
            ));
        }
    }
    if let Some(f) = spec.design.sampling_fraction {
        if !(f > 0.0 && f <= 1.0) {
            out.push(SpecProblem::new(
                at(&[key("design"), key("sampling_fraction")]),
                format!("expected a fraction in (0, 1], got {f}"),
            ));
        }
    }
    if let Some(v) = &spec.design.fpc_variable {
        if !spec
            .question(v)
            .is_some_and(|q| q.kind == QuestionType::Numeric)
        {
            out.push(SpecProblem::new(
                at(&[key("design"), key("fpc_variable")]),
                format!("`{v}` must be a numeric question holding each respondent's population PSU count or sampling fraction"),
            ));
        }
        if spec.design.sampling_fraction.is_some() {
            out.push(SpecProblem::new(
                at(&[key("design"), key("fpc_variable")]),
                "give the finite population correction once: fpc_variable or sampling_fraction, not both",
            ));
        }
    }
    if let Some(c) = &spec.design.cluster {
        if spec.question(c).is_none() {
            out.push(SpecProblem::new(
                at(&[key("design"), key("cluster")]),
                format!(
                    "unknown question `{c}`; expected a question id ({})",
                    known_ids(spec)
                ),
            ));
        }
    }
    match &spec.design.population {
        Some(file) => {
            if let Err(m) = crate::paths::inside_round(&loaded.dir, file) {
                out.push(SpecProblem::new(at(&[key("design"), key("population")]), m));
            }
            if !spec.weighting.margins.is_empty() {
                out.push(SpecProblem::new(
                    at(&[key("weighting"), key("margins")]),
                    "give population targets either in design.population or inline here, not both",
                ));
            }
        }
        None if spec.weighting.margins.is_empty()
            && !(spec.weighting.method == WeightMethod::None
                && spec.design.base_weight.is_some()) =>
        {
            out.push(SpecProblem::new(
                at(&[key("design")]),
                "population targets are needed: `population = \"population.csv\"`, or [weighting.margins], \
                 or weights from a column: weighting.method = \"none\" with design.base_weight",
            ))
        }
        None => {}
    }
    for (v, levels) in &spec.weighting.margins {
        for (l, c) in levels {
            if !(c.is_finite() && *c >= 0.0) {
                out.push(SpecProblem::new(
                    at(&[key("weighting"), key("margins"), key(v), key(l)]),
                    format!("expected a count ≥ 0, got {c}"),
                ));
            }
        }
    }
    if let Some(t) = &spec.weighting.trim {
        let bad = |x: Option<f64>| x.is_some_and(|v| !(v.is_finite() && v > 0.0));
        if bad(t.upper) || bad(t.lower) || t.upper.zip(t.lower).is_some_and(|(u, l)| l >= u) {
            out.push(SpecProblem::new(
                at(&[key("weighting"), key("trim")]),
                "trim bounds must be positive, with lower < upper",
            ));
        }
        if t.upper.is_none() && t.lower.is_none() {
            out.push(SpecProblem::new(
                at(&[key("weighting"), key("trim")]),
                "give `upper`, `lower` or both",
            ));
        }
    }

    // Weighting.
    for (i, v) in spec.weighting.variables.iter().enumerate() {
        check_categorical_ref(
            spec,
            v,
            at(&[key("weighting"), key("variables"), PathSeg::Index(i)]),
            "a weighting variable",
            &mut out,
        );
    }
    if spec.weighting.method != WeightMethod::None && spec.weighting.variables.is_empty() {
        out.push(SpecProblem::new(
            at(&[key("weighting"), key("variables")]),
            "post-stratification and raking need at least one weighting variable",
        ));
    }
    if !(spec.weighting.tolerance > 0.0 && spec.weighting.tolerance < 1.0) {
        out.push(SpecProblem::new(
            at(&[key("weighting"), key("tolerance")]),
            format!(
                "expected a relative tolerance in (0, 1), got {}",
                spec.weighting.tolerance
            ),
        ));
    }

    if !(spec.weighting.epsilon > 0.0 && spec.weighting.epsilon.is_finite()) {
        out.push(SpecProblem::new(
            at(&[key("weighting"), key("epsilon")]),
            format!(
                "expected a positive epsilon (absolute when ≥ 1, a share of the total weight when < 1), got {}",
                spec.weighting.epsilon
            ),
        ));
    }
    if spec.weighting.stop == crate::spec::RakeStopRule::R
        && spec.weighting.method != WeightMethod::Rake
    {
        out.push(SpecProblem::new(
            at(&[key("weighting"), key("stop")]),
            "stop = \"r\" is raking's stopping rule; it needs method = \"rake\"",
        ));
    }

    // Tests of association.
    let mut test_ids = std::collections::BTreeSet::new();
    for (i, t) in spec.tests.iter().enumerate() {
        let at_test = |k: &str| at(&[key("tests"), PathSeg::Index(i), key(k)]);
        if t.id.trim().is_empty() {
            out.push(SpecProblem::new(
                at_test("id"),
                "a test needs a non-empty id",
            ));
        } else if !test_ids.insert(t.id.as_str()) || spec.metrics.iter().any(|m| m.id == t.id) {
            out.push(SpecProblem::new(
                at_test("id"),
                format!("`{}` is already the id of another test or metric", t.id),
            ));
        }
        for (k, v) in [("rows", &t.rows), ("cols", &t.cols)] {
            if v != crate::spec::RISK_TIER {
                check_categorical_ref(
                    spec,
                    v,
                    at_test(k),
                    "a test variable (or `risk_tier`)",
                    &mut out,
                );
            }
        }
        if t.rows == t.cols {
            out.push(SpecProblem::new(
                at_test("cols"),
                format!(
                    "a test of `{}` against itself; name two different variables",
                    t.rows
                ),
            ));
        }
        let distinct: std::collections::BTreeSet<_> = t.statistics.iter().collect();
        if t.statistics.is_empty() || distinct.len() != t.statistics.len() {
            out.push(SpecProblem::new(
                at_test("statistics"),
                "expected distinct statistics among F, Chisq, Wald, adjWald, lincom, saddlepoint",
            ));
        }
    }

    check_models(spec, &domain_ids, &mut out);

    // Segments.
    for (i, v) in spec.segments.variables.iter().enumerate() {
        check_categorical_ref(
            spec,
            v,
            at(&[key("segments"), key("variables"), PathSeg::Index(i)]),
            "a segment variable",
            &mut out,
        );
    }
    for (i, cross) in spec.segments.crosses.iter().enumerate() {
        if cross.len() < 2 {
            out.push(SpecProblem::new(
                at(&[key("segments"), key("crosses"), PathSeg::Index(i)]),
                "a cross needs at least two variables",
            ));
        }
        for (j, v) in cross.iter().enumerate() {
            check_categorical_ref(
                spec,
                v,
                at(&[
                    key("segments"),
                    key("crosses"),
                    PathSeg::Index(i),
                    PathSeg::Index(j),
                ]),
                "a segment variable",
                &mut out,
            );
        }
    }

    if let Some(c) = &spec.concentration {
        check_concentration(loaded, c, &mut out);
    }

    // Metrics (a model's metric shares their ids).
    let model_metric_ids: BTreeSet<&str> = spec
        .models
        .iter()
        .filter_map(|m| m.metric.as_ref())
        .map(|x| x.id.as_str())
        .collect();
    let mut model_ids = BTreeSet::new();
    for (i, m) in spec.models.iter().enumerate() {
        let Some(x) = &m.metric else { continue };
        let at = |k: &str| vec![key("models"), PathSeg::Index(i), key("metric"), key(k)];
        if x.id.trim().is_empty() || !model_ids.insert(x.id.as_str()) {
            out.push(SpecProblem::new(
                at("id"),
                format!(
                    "each model's metric needs its own non-empty id; `{}` is taken",
                    x.id
                ),
            ));
        }
        if x.version == 0 {
            out.push(SpecProblem::new(at("version"), "versions start at 1"));
        }
        for (k, v) in [("title", &x.title), ("definition", &x.definition)] {
            if v.trim().is_empty() {
                out.push(SpecProblem::new(
                    at(k),
                    format!("a clearinghouse metric needs a {k}"),
                ));
            }
        }
    }
    let mut mseen = BTreeSet::new();
    for (i, m) in spec.metrics.iter().enumerate() {
        let base = vec![key("metrics"), PathSeg::Index(i)];
        let with = |k: &str| {
            let mut p = base.clone();
            p.push(key(k));
            p
        };
        if model_metric_ids.contains(m.id.as_str()) {
            out.push(SpecProblem::new(
                with("id"),
                format!("metric id `{}` is also a model's metric", m.id),
            ));
        } else if !mseen.insert(m.id.as_str()) {
            out.push(SpecProblem::new(
                with("id"),
                format!("metric id `{}` is used twice", m.id),
            ));
        }
        if m.version == 0 {
            out.push(SpecProblem::new(with("version"), "versions start at 1"));
        }
        let var = m.variable.as_str();
        if m.kind == MetricKind::Concentration {
            if !CONCENTRATION_VARIABLES.contains(&var) {
                out.push(SpecProblem::new(
                    with("variable"),
                    format!(
                        "a concentration metric's variable is one of {}; got `{var}`",
                        CONCENTRATION_VARIABLES.join(", ")
                    ),
                ));
            }
            if spec.concentration.is_none() {
                out.push(SpecProblem::new(
                    with("kind"),
                    "a concentration metric needs a [concentration] section",
                ));
            }
            continue;
        }
        let numeric_question = spec
            .question(var)
            .is_some_and(|q| q.kind == QuestionType::Numeric);
        // A categorical item is numeric by its options' scores, the tier by its ordinal code.
        let scored = var == RISK_TIER
            || spec.question(var).is_some_and(|q| {
                is_categorical(q.kind) && spec.options(q).iter().any(|o| o.score.is_some())
            });
        let numeric_var = var == RISK_INDEX
            || var
                .strip_prefix(MATURITY_PREFIX)
                .is_some_and(|d| domain_ids.contains(d))
            || numeric_question
            || (scored && m.kind != MetricKind::Ratio);
        let categorical_codes: Option<Vec<String>> = if var == RISK_TIER {
            Some(spec.scoring.tiers.iter().map(|t| t.name.clone()).collect())
        } else {
            spec.question(var)
                .filter(|q| is_categorical(q.kind) || q.kind == QuestionType::Multi)
                .map(|q| spec.options(q).iter().map(|o| o.code.0.clone()).collect())
        };
        let exists = numeric_var || categorical_codes.is_some() || spec.question(var).is_some();
        if !exists {
            out.push(SpecProblem::new(
                with("variable"),
                format!(
                    "unknown variable `{var}`; expected a question id, `{RISK_INDEX}`, `{RISK_TIER}` or `{MATURITY_PREFIX}<domain id>`"
                ),
            ));
            continue;
        }
        match m.kind {
            MetricKind::Mean | MetricKind::Total | MetricKind::Quantile | MetricKind::Ratio
                if !numeric_var =>
            {
                out.push(SpecProblem::new(
                    with("variable"),
                    format!(
                        "a {:?} metric needs a numeric variable, `{RISK_TIER}`, or a single-choice/Likert/yes-no question with option scores; `{var}` is none of these",
                        m.kind
                    ),
                ));
            }
            // The proportion of a numeric question: the share whose value is one of `levels`.
            MetricKind::Proportion if numeric_question => {
                if m.levels.is_empty() {
                    out.push(SpecProblem::new(
                        with("levels"),
                        "a proportion of a numeric variable needs the `levels` (values) that count, e.g. [\"1\"]",
                    ));
                }
                for (j, l) in m.levels.iter().enumerate() {
                    if l.trim().parse::<f64>().is_err() {
                        let mut p = with("levels");
                        p.push(PathSeg::Index(j));
                        out.push(SpecProblem::new(
                            p,
                            format!("`{l}` is not a number; `{var}` is numeric"),
                        ));
                    }
                }
            }
            MetricKind::Proportion | MetricKind::Distribution => match &categorical_codes {
                None => out.push(SpecProblem::new(
                    with("variable"),
                    format!(
                        "a {:?} metric needs a categorical variable; `{var}` is not",
                        m.kind
                    ),
                )),
                Some(codes) => {
                    if m.kind == MetricKind::Proportion && m.levels.is_empty() {
                        out.push(SpecProblem::new(
                            with("levels"),
                            "a proportion needs the `levels` that count",
                        ));
                    }
                    for (j, l) in m.levels.iter().enumerate() {
                        if !codes.contains(l) {
                            let mut p = with("levels");
                            p.push(PathSeg::Index(j));
                            out.push(SpecProblem::new(
                                p,
                                format!(
                                    "`{l}` is not a code of `{var}`; expected one of: {}",
                                    codes.join(", ")
                                ),
                            ));
                        }
                    }
                }
            },
            _ => {}
        }
        if m.kind == MetricKind::Ratio {
            let ok = m.denominator.as_deref().is_some_and(|d| {
                d == RISK_INDEX
                    || d.strip_prefix(MATURITY_PREFIX)
                        .is_some_and(|x| domain_ids.contains(x))
                    || spec
                        .question(d)
                        .is_some_and(|q| q.kind == QuestionType::Numeric)
            });
            if !ok {
                out.push(SpecProblem::new(
                    with("denominator"),
                    "a ratio needs a numeric `denominator` variable",
                ));
            }
        }
        if m.proportion_ci.is_some()
            && !matches!(m.kind, MetricKind::Proportion | MetricKind::Distribution)
        {
            out.push(SpecProblem::new(
                with("proportion_ci"),
                "only proportion and distribution metrics have a proportion interval",
            ));
        }
        for (k, v) in [
            ("quantile_rule", &m.quantile_rule),
            ("quantile_interval", &m.quantile_interval),
        ] {
            let Some(v) = v else { continue };
            if m.kind != MetricKind::Quantile {
                out.push(SpecProblem::new(
                    with(k),
                    format!("only quantile metrics have a `{k}`"),
                ));
            } else if k == "quantile_rule" && crate::kernels::intervals::QRule::parse(v).is_none() {
                out.push(SpecProblem::new(
                    with(k),
                    format!(
                        "unknown quantile rule `{v}`; expected math, school, hf3 … hf9 or shahvaish"
                    ),
                ));
            } else if k == "quantile_interval"
                && crate::kernels::intervals::WoodruffCi::parse(v).is_none()
            {
                out.push(SpecProblem::new(
                    with(k),
                    format!("unknown interval `{v}`; expected mean, xlogit, asin, beta or score"),
                ));
            }
        }
        if m.kind == MetricKind::Quantile {
            if m.probs.is_empty() {
                out.push(SpecProblem::new(
                    with("probs"),
                    "a quantile metric needs `probs`, e.g. [0.5]",
                ));
            }
            for p in &m.probs {
                if !(*p > 0.0 && *p < 1.0) {
                    out.push(SpecProblem::new(
                        with("probs"),
                        format!("probabilities must be in (0, 1), got {p}"),
                    ));
                }
            }
        }
    }

    // Distributions.
    for (i, d) in spec.distributions.iter().enumerate() {
        let numeric = d.variable == RISK_INDEX
            || d.variable
                .strip_prefix(MATURITY_PREFIX)
                .is_some_and(|x| domain_ids.contains(x))
            || spec
                .question(&d.variable)
                .is_some_and(|q| q.kind == QuestionType::Numeric);
        if !numeric {
            out.push(SpecProblem::new(
                at(&[key("distributions"), PathSeg::Index(i), key("variable")]),
                format!("`{}` is not a numeric variable (a numeric question, `{RISK_INDEX}` or `{MATURITY_PREFIX}<domain>`)", d.variable),
            ));
        }
        if d.bins.len() < 2
            || d.bins.windows(2).any(|w| w[0] >= w[1])
            || d.bins.iter().any(|b| !b.is_finite())
        {
            out.push(SpecProblem::new(
                at(&[key("distributions"), PathSeg::Index(i), key("bins")]),
                "expected at least two increasing, finite bin edges",
            ));
        }
    }

    // Publication.
    let ci = spec.publication.ci_level;
    if !(ci > 0.5 && ci < 1.0) {
        out.push(SpecProblem::new(
            at(&[key("publication"), key("ci_level")]),
            format!("expected a confidence level in (0.5, 1), got {ci}"),
        ));
    }
    if crate::kernels::intervals::QRule::parse(&spec.publication.quantile_rule).is_none() {
        out.push(SpecProblem::new(
            at(&[key("publication"), key("quantile_rule")]),
            format!(
                "unknown quantile rule `{}`; expected math, school, hf3 … hf9 or shahvaish",
                spec.publication.quantile_rule
            ),
        ));
    }
    if crate::kernels::intervals::WoodruffCi::parse(&spec.publication.quantile_interval).is_none() {
        out.push(SpecProblem::new(
            at(&[key("publication"), key("quantile_interval")]),
            format!(
                "unknown interval `{}`; expected mean, xlogit, asin, beta or score",
                spec.publication.quantile_interval
            ),
        ));
    }
    if !(0.0..=1.0).contains(&spec.quality.max_quarantine_share) {
        out.push(SpecProblem::new(
            at(&[key("quality"), key("max_quarantine_share")]),
            format!(
                "expected a share in [0, 1], got {}",
                spec.quality.max_quarantine_share
            ),
        ));
    }
    if !(0.0..=1.0).contains(&spec.quality.max_unresolved_supplier_share) {
        out.push(SpecProblem::new(
            at(&[key("quality"), key("max_unresolved_supplier_share")]),
            format!(
                "expected a share in [0, 1], got {}",
                spec.quality.max_unresolved_supplier_share
            ),
        ));
    }
    check_ranges(spec, &mut out);
    out
}

/// Largest number of bootstrap replicates (each is a full re-calibration and a copy of the
/// weights: 10,000 replicates of 5,000 organizations are 400 MB).
pub const MAX_REPLICATES: usize = 10_000;

/// Largest iteration or pass count a loop in the spec may ask for.
pub const MAX_ITERATIONS: usize = 100_000;

/// Largest `publication.min_cell_size` (the NCHS and TLP practice is 3–11; a cell size beyond a
/// few hundred would suppress every segment of any round).
pub const MAX_MIN_CELL_SIZE: usize = 1_000;

/// Largest count a population cell or margin may hold: a billion organizations is beyond any
/// sector; 1e300 overflows the variance sums.
pub const MAX_POPULATION_COUNT: f64 = 1e9;

/// The numeric settings not checked with their sections above: each within its documented
/// range (docs/survey-spec.md), named by key with the range allowed.
fn check_ranges(spec: &Spec, out: &mut Vec<SpecProblem>) {
    let mut bad = |path: &[&str], msg: String| {
        let segs: Vec<PathSeg> = path.iter().map(|k| key(k)).collect();
        out.push(SpecProblem::new(at(&segs), msg));
    };
    let p = &spec.publication;
    if let Some(w) = p.protection.count {
        if !(w.is_finite() && w >= 0.0 && w <= MAX_MIN_CELL_SIZE as f64) {
            bad(
                &["publication", "protection", "count"],
                format!("expected a number of organizations in [0, {MAX_MIN_CELL_SIZE}] (default: min_cell_size), got {w}"),
            );
        }
    }
    for (k, v) in [("share", p.protection.share), ("mean", p.protection.mean)] {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            bad(
                &["publication", "protection", k],
                format!("expected a width in [0, 1] (0.2 is the default), got {v}"),
            );
        }
    }
    if !(p.dominance_share.is_finite() && (0.0..=1.0).contains(&p.dominance_share)) {
        bad(
            &["publication", "dominance_share"],
            format!(
                "expected a share of a total in [0, 1] (0 = no dominance rule; 0.6 is the default), got {}",
                p.dominance_share
            ),
        );
    }
    let c = &spec.cleaning;
    if let Some(t) = c.fuzzy_threshold {
        if !(t > 0.0 && t <= 1.0) {
            bad(
                &["cleaning", "fuzzy_threshold"],
                format!("expected a Jaro–Winkler similarity in (0, 1] (0.9 is typical), got {t}"),
            );
        }
    }
    if !(c.speeder_fraction >= 0.0 && c.speeder_fraction < 1.0) {
        bad(
            &["cleaning", "speeder_fraction"],
            format!(
                "expected a fraction of the median duration in [0, 1) (0 = off), got {}",
                c.speeder_fraction
            ),
        );
    }
    if c.straightline_min_items < 2 {
        bad(
            &["cleaning", "straightline_min_items"],
            format!(
                "expected at least 2 items (straight-lining needs several answers), got {}",
                c.straightline_min_items
            ),
        );
    }
    fn count(
        path: &[&'static str],
        v: usize,
        lo: usize,
        hi: usize,
        what: &str,
    ) -> Option<(Vec<&'static str>, String)> {
        (!(lo..=hi).contains(&v)).then(|| {
            (
                path.to_vec(),
                format!("expected {what} in {lo}–{hi}, got {v}"),
            )
        })
    }
    let mut counts = vec![
        count(
            &["weighting", "max_iterations"],
            spec.weighting.rake_passes(),
            1,
            MAX_ITERATIONS,
            "an iteration count",
        ),
        count(
            &["design", "replicates"],
            spec.design.replicates,
            2,
            MAX_REPLICATES,
            "a number of bootstrap replicates",
        ),
        count(
            &["publication", "min_cell_size"],
            spec.publication.min_cell_size,
            1,
            MAX_MIN_CELL_SIZE,
            "a cell size",
        ),
    ];
    if let Some(t) = &spec.weighting.trim {
        counts.push(count(
            &["weighting", "trim", "max_passes"],
            t.max_passes,
            1,
            MAX_ITERATIONS,
            "a pass count",
        ));
    }
    if let Some(k) = &spec.concentration {
        counts.push(count(
            &["concentration", "chart_top"],
            k.chart_top,
            1,
            50,
            "a number of suppliers per category",
        ));
    }
    for (path, msg) in counts.into_iter().flatten() {
        bad(&path, msg);
    }
    for (var, levels) in &spec.weighting.margins {
        for (level, v) in levels {
            if !(v.is_finite() && *v > 0.0 && *v <= MAX_POPULATION_COUNT) {
                bad(
                    &["weighting", "margins", var.as_str(), level.as_str()],
                    format!(
                        "expected a population count in (0, {MAX_POPULATION_COUNT:e}], got {v}"
                    ),
                );
            }
        }
    }
}

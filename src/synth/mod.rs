//! Synth: a deterministic generator of realistic example rounds. From a seed, a size and a round
//! label it writes a complete round directory — `survey.toml`, `population.csv`, a Qualtrics-style
//! CSV export (three header rows) and a Microsoft Forms-style workbook — modelled on the proposed
//! instrument of `shared/domain.md` §7, with the dirt real exports carry: label variants and
//! typos, duplicate and partial submissions, a preview and a test response, an out-of-frame
//! organization, blank rows and unreadable numbers.
//!
//! Everything is drawn from one ChaCha8 stream in a fixed order and written without wall-clock
//! time, so the same arguments give byte-identical files.

use std::fmt::Write as _;
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};

use crate::error::{Error, Result};
use crate::spec::{OptionSpec, Question, QuestionType, Spec};

mod suppliers;

/// The example instrument; `{seed}`, `{rows}` and `{round}` are filled in.
const EXAMPLE_SPEC: &str = include_str!("example_spec.toml");

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub seed: u64,
    /// Approximate number of responding organizations (the population scales with it).
    pub rows: usize,
    pub round: String,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct SynthSummary {
    pub population: usize,
    pub respondents: usize,
    pub qualtrics_rows: usize,
    pub forms_rows: usize,
}

const SUBSECTORS: [&str; 6] = ["dpc", "plb", "medtech", "payer", "hit", "public_health"];
const SIZES: [&str; 3] = ["small", "medium", "large"];
/// Population cells of domain.md §7 (N = 400), subsector × size.
const BASE_CELLS: [[u32; 3]; 6] = [
    [45, 55, 50],
    [15, 20, 25],
    [20, 25, 25],
    [8, 12, 20],
    [25, 20, 15],
    [8, 8, 4],
];
/// Expected respondents of the base population (response rates below) — the unit of `rows`.
const BASE_RESPONDENTS: f64 = 160.0;
const RESPONSE_BY_SIZE: [f64; 3] = [0.25, 0.40, 0.55];
const RESPONSE_BY_SUBSECTOR: [f64; 6] = [1.0, 1.1, 1.0, 1.15, 0.9, 0.85];
const MATURITY_BY_SUBSECTOR: [f64; 6] = [0.0, 0.3, 0.1, 0.4, -0.1, -0.6];
const MATURITY_BY_SIZE: [f64; 3] = [-0.5, 0.0, 0.5];
/// Seed of the organizations' own streams (see `synth`), the same for every round.
const PANEL_STREAM: u64 = 0x5C12_4A2E_0000_0001;
/// Share of the variance of an organization's maturity that lasts from round to round.
const LASTING_SHARE: f64 = 0.75;
/// Chance that an organization's decision to answer a round is drawn afresh instead of
/// following its habit.
const FRESH_DECISION: f64 = 0.25;
const REGIONS: [&str; 4] = ["northeast", "midwest", "south", "west"];

struct Rng(ChaCha8Rng);

impl Rng {
    fn uniform(&mut self) -> f64 {
        // 53 random bits → [0, 1).
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[derive(Debug, Clone)]
enum Val {
    Code(String),
    Missing(String),
    Codes(Vec<String>),
    Num(f64),
    Text(String),
}

struct Org {
    member_id: String,
    name: String,
    email: String,
    contact: (String, String),
    subsector: usize,
    size: usize,
    region: usize,
    theta: f64,
    /// Uniform draw of the organization's own stream: whether it answers, round after round.
    habit: f64,
}

#[derive(Clone)]
struct Response {
    org: Option<usize>,
    answers: Vec<Option<Val>>,
    /// Seconds since the start of the field period.
    started: u32,
    duration: u32,
    finished: bool,
    preview: bool,
    forms: bool,
}

const NAME_FIRST: [&str; 16] = [
    "Riverside",
    "Summit",
    "Lakeshore",
    "Granite",
    "Prairie",
    "Harbor",
    "Cedar",
    "Northfield",
    "Bayview",
    "Highland",
    "Pioneer",
    "Meridian",
    "Valley",
    "Crescent",
    "Redwood",
    "Evergreen",
];
const NAME_SUFFIX: [[&str; 3]; 6] = [
    ["Health System", "Medical Center", "Community Hospital"],
    ["Laboratories", "Pharmaceuticals", "Blood Services"],
    ["Medical Devices", "Imaging", "Surgical Technologies"],
    ["Health Plan", "Benefits", "Health Insurance"],
    ["Health IT", "Clinical Software", "Digital Health"],
    [
        "County Public Health",
        "Health Department",
        "Public Health Institute",
    ],
];
const FIRST_NAMES: [&str; 10] = [
    "Jordan", "Alex", "Sam", "Taylor", "Morgan", "Casey", "Jamie", "Robin", "Avery", "Quinn",
];
const LAST_NAMES: [&str; 10] = [
    "Lee", "García", "Nguyen", "Smith", "Okafor", "Müller", "Kowalski", "Patel", "Johnson", "Cohen",
];
const PRACTICES: [&str; 8] = [
    "A shared questionnaire every supplier answers once",
    "Standard contract language for 72-hour breach notice",
    "A sector-wide list of critical suppliers, with fallbacks",
    "Joint tabletop exercises with clearinghouses",
    "SBOMs for every connected medical device",
    "Common criteria for supplier criticality tiers",
    "Offboarding checklists, including data return",
    "Shared supplier incident notifications, \"TLP:AMBER\" by default",
];

fn option_with_points(options: &[OptionSpec], pts: u32) -> &OptionSpec {
    options
        .iter()
        .find(|o| o.score == Some(pts))
        .unwrap_or_else(|| &options[0])
}

/// Round year for dates (the first four digits of the round label, else 2024).
fn round_year(round: &str) -> i32 {
    round.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2024)
}

fn answer(rng: &mut Rng, spec: &Spec, q: &Question, org: &Org, difficulty: f64) -> Option<Val> {
    let options = spec.options(q);
    let theta = org.theta;
    let has_dk = !spec.missing_codes(q).is_empty();
    let v = match q.id.as_str() {
        "member_id" => Val::Text(org.member_id.clone()),
        "org_name" => Val::Text(org.name.clone()),
        "contact_email" => Val::Text(org.email.clone()),
        "subsector" => Val::Code(SUBSECTORS[org.subsector].to_string()),
        "size" => Val::Code(SIZES[org.size].to_string()),
        "region" => Val::Code(REGIONS[org.region].to_string()),
        "S4" => {
            let median = [80.0, 400.0, 2000.0][org.size];
            Val::Num((median * (0.6 * rng.normal()).exp()).round())
        }
        "S5" => Val::Num(0.0), // filled from S4 below
        "C3" => {
            let prevalence: [[f64; 6]; 15] = [
                [0.85, 0.3, 0.2, 0.3, 0.4, 0.5],
                [0.6, 0.2, 0.1, 0.6, 0.3, 0.1],
                [0.7, 0.7, 0.7, 0.7, 0.9, 0.5],
                [0.6, 0.6, 0.6, 0.6, 0.8, 0.5],
                [0.3, 0.3, 0.3, 0.3, 0.3, 0.4],
                [0.5, 0.2, 0.6, 0.1, 0.2, 0.1],
                [0.3, 0.4, 0.1, 0.4, 0.1, 0.2],
                [0.4, 0.5, 0.2, 0.1, 0.1, 0.5],
                [0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
                [0.3, 0.3, 0.3, 0.3, 0.4, 0.2],
                [0.2, 0.2, 0.2, 0.4, 0.2, 0.1],
                [0.4, 0.3, 0.3, 0.1, 0.1, 0.2],
                [0.15, 0.15, 0.15, 0.3, 0.1, 0.1],
                [0.2, 0.2, 0.2, 0.3, 0.4, 0.2],
                [0.05, 0.05, 0.05, 0.05, 0.05, 0.05],
            ];
            let mut codes: Vec<String> = options
                .iter()
                .zip(prevalence.iter())
                .filter(|(_, p)| rng.chance(p[org.subsector]))
                .map(|(o, _)| o.code.0.clone())
                .collect();
            if codes.is_empty() {
                codes.push(options[2].code.0.clone());
            }
            Val::Codes(codes)
        }
        // Filled in from the supplier market once C3 is known (see `suppliers`).
        "C4" => Val::Text(String::new()),
        "D2" => Val::Num((100.0 * sigmoid(theta + 0.8 * rng.normal())).round()),
        "E3" => Val::Num((100.0 * sigmoid(-theta - 1.0 + 0.8 * rng.normal())).round()),
        "F3" => Val::Code(if rng.chance(0.55) { "yes" } else { "no" }.to_string()),
        "F4" => Val::Num(f64::from(*rng.pick(&[4u32, 8, 24, 48, 72, 168]))),
        "H2" => {
            if rng.chance(0.4) {
                Val::Text((*rng.pick(&PRACTICES)).to_string())
            } else {
                return None;
            }
        }
        _ => match q.kind {
            QuestionType::Multi => {
                let p_base = if q.score_share {
                    theta + difficulty
                } else {
                    -0.3 + difficulty
                };
                let mut codes: Vec<String> = options
                    .iter()
                    .filter(|_| {
                        let noise = 0.6 * rng.normal();
                        rng.chance(sigmoid(p_base + noise))
                    })
                    .map(|o| o.code.0.clone())
                    .collect();
                if codes.is_empty() {
                    codes.push(rng.pick(options).code.0.clone());
                }
                Val::Codes(codes)
            }
            QuestionType::Text | QuestionType::Numeric => return None,
            _ => {
                if has_dk && rng.chance(0.04) {
                    let m = spec.missing_codes(q)[0];
                    return Some(Val::Missing(m.code.0.clone()));
                }
                let max = options.iter().filter_map(|o| o.score).max().unwrap_or(0);
                let x = theta + difficulty + 0.9 * rng.normal();
                let pts = (((x + 1.6) / 3.2) * f64::from(max))
                    .round()
                    .clamp(0.0, f64::from(max)) as u32;
                Val::Code(option_with_points(options, pts).code.0.clone())
            }
        },
    };
    Some(v)
}

/// A label variant or typo, as hand-typed and re-coded exports carry them.
fn dirty_label(rng: &mut Rng, label: &str, aliases: &[String]) -> String {
    let r = rng.uniform();
    if r < 0.35 {
        label.to_lowercase()
    } else if r < 0.6 {
        format!(" {label}  ")
    } else if r < 0.85 && !aliases.is_empty() {
        rng.pick(aliases).clone()
    } else {
        // A typo: drop one character — in labels long enough that the example spec's
        // fuzzy_threshold (0.92) still finds them; a short label is shouted instead.
        let chars: Vec<char> = label.chars().collect();
        if chars.len() < 13 {
            return label.to_uppercase();
        }
        let k = 1 + rng.below(chars.len() - 2);
        without_char(label, k)
    }
}

/// `text` with its `k`-th character dropped (the typos of the example rounds).
fn without_char(text: &str, k: usize) -> String {
    text.chars()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .map(|(_, c)| c)
        .collect()
}

fn label_text(rng: &mut Rng, spec: &Spec, q: &Question, v: &Val, dirt: f64) -> String {
    let options = spec.options(q);
    let find = |c: &str| options.iter().find(|o| o.code.0 == c);
    match v {
        Val::Code(c) => match find(c) {
            Some(o) if rng.chance(dirt) => dirty_label(rng, &o.label, &o.aliases),
            Some(o) => o.label.clone(),
            None => c.clone(),
        },
        Val::Missing(c) => spec
            .missing_codes(q)
            .iter()
            .find(|m| m.code.0 == *c)
            .map_or_else(|| c.clone(), |m| m.label.clone()),
        Val::Codes(cs) => cs
            .iter()
            .filter_map(|c| find(c))
            .map(|o| o.label.clone())
            .collect::<Vec<_>>()
            .join(";"),
        Val::Num(x) => format!("{x}"),
        Val::Text(t) => t.clone(),
    }
}

fn timestamp(year: i32, secs: u32) -> (String, [u32; 6]) {
    // Field period from March 1; days of 86 400 s; March has 31 days, April 30.
    let day = secs / 86_400;
    let (month, dom) = if day < 31 {
        (3, day + 1)
    } else {
        (4, day - 30)
    };
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (
        format!("{year:04}-{month:02}-{dom:02} {h:02}:{m:02}:{s:02}"),
        [year as u32, month, dom, h, m, s],
    )
}

/// Generate a round into `out` (created if needed).
pub fn synth(opts: &SynthOptions, out: &Path) -> Result<SynthSummary> {
    if opts.rows < 20 {
        return Err(Error::Usage(format!(
            "--rows {} is too small: at least 20 respondents are needed",
            opts.rows
        )));
    }
    let spec_text = EXAMPLE_SPEC
        .replace("{seed}", &opts.seed.to_string())
        .replace("{rows}", &opts.rows.to_string())
        .replace("{round}", &opts.round);
    let spec: Spec = toml::from_str(&spec_text)
        .map_err(|e| Error::Usage(format!("internal example spec: {e}")))?;
    let mut rng = Rng(ChaCha8Rng::seed_from_u64(opts.seed));
    let year = round_year(&opts.round);
    let shift = 0.25 * f64::from(year - 2023);
    let scale = opts.rows as f64 / BASE_RESPONDENTS;

    // Population.
    let mut orgs = Vec::new();
    let mut population_csv = String::from("subsector,size,count\n");
    for (s, row) in BASE_CELLS.iter().enumerate() {
        for (z, &base) in row.iter().enumerate() {
            let count = ((f64::from(base) * scale).round() as usize).max(2);
            let _ = writeln!(population_csv, "{},{},{count}", SUBSECTORS[s], SIZES[z]);
            for _ in 0..count {
                let i = orgs.len() + 1;
                // What belongs to the organization and not to the round — its name, region,
                // contact, a lasting part of its maturity and its habit of answering — comes
                // from a stream of its own, seeded by its member number alone, so rounds of
                // any seed share organizations that answer alike (a panel).
                let mut own = Rng(ChaCha8Rng::seed_from_u64(
                    PANEL_STREAM ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ));
                let first = *own.pick(&NAME_FIRST);
                let suffix = *own.pick(&NAME_SUFFIX[s]);
                let name = format!("{first} {suffix} {i}");
                let slug: String = name
                    .to_lowercase()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                let region = if own.chance(0.4) { 2 } else { own.below(4) };
                let contact = (
                    (*own.pick(&FIRST_NAMES)).to_string(),
                    (*own.pick(&LAST_NAMES)).to_string(),
                );
                let lasting = own.normal();
                let habit = own.uniform();
                orgs.push(Org {
                    member_id: format!("HSCC-{i:05}"),
                    email: format!("scrm@{slug}.example.org"),
                    contact,
                    name,
                    subsector: s,
                    size: z,
                    region,
                    theta: MATURITY_BY_SUBSECTOR[s]
                        + MATURITY_BY_SIZE[z]
                        + shift
                        + 0.7
                            * (LASTING_SHARE.sqrt() * lasting
                                + (1.0 - LASTING_SHARE).sqrt() * rng.normal()),
                    habit,
                });
            }
        }
    }
    // Who responds; every subsector keeps at least two respondents (strata need two PSUs).
    // An organization answers when its habit (or, in FRESH_DECISION of rounds, a fresh draw)
    // falls under its response rate: about 70% of a round's respondents answered the round
    // before.
    let mut responds: Vec<bool> = orgs
        .iter()
        .map(|o| {
            let p = (RESPONSE_BY_SIZE[o.size] * RESPONSE_BY_SUBSECTOR[o.subsector]).min(0.95);
            let u = if rng.chance(FRESH_DECISION) {
                rng.uniform()
            } else {
                o.habit
            };
            u < p
        })
        .collect();
    for s in 0..SUBSECTORS.len() {
        let mut have = (0..orgs.len())
            .filter(|&i| orgs[i].subsector == s && responds[i])
            .count();
        for i in 0..orgs.len() {
            if have >= 2 {
                break;
            }
            if orgs[i].subsector == s && !responds[i] {
                responds[i] = true;
                have += 1;
            }
        }
    }

    let difficulty: Vec<f64> = spec.questions.iter().map(|_| 0.3 * rng.normal()).collect();
    let field_secs = 45 * 86_400;
    let skip_protected = [
        "member_id",
        "org_name",
        "contact_email",
        "subsector",
        "size",
    ];
    let mut responses = Vec::new();
    // Supplier answers come from their own stream, drawn after each organization's answers.
    let mut supplier_rng = Rng(ChaCha8Rng::seed_from_u64(opts.seed ^ (0x5 << 40)));
    let question_at = |id: &str| spec.questions.iter().position(|q| q.id == id);
    for (oi, org) in orgs.iter().enumerate() {
        if !responds[oi] {
            continue;
        }
        let mut answers: Vec<Option<Val>> = spec
            .questions
            .iter()
            .zip(&difficulty)
            .map(|(q, d)| {
                let a = answer(&mut rng, &spec, q, org, *d);
                if !skip_protected.contains(&q.id.as_str()) && rng.chance(0.04) {
                    None
                } else {
                    a
                }
            })
            .collect();
        if let (Some(s4), Some(s5)) = (
            spec.questions.iter().position(|q| q.id == "S4"),
            spec.questions.iter().position(|q| q.id == "S5"),
        ) {
            answers[s5] = match &answers[s4] {
                Some(Val::Num(n)) => Some(Val::Num((n * (0.05 + 0.15 * rng.uniform())).round())),
                _ => None,
            };
        }
        if let (Some(c3), Some(c4), Some(c5)) =
            (question_at("C3"), question_at("C4"), question_at("C5"))
        {
            let categories = match &answers[c3] {
                Some(Val::Codes(cs)) => cs.clone(),
                _ => Vec::new(),
            };
            let (named, alternatives) = suppliers::answers(
                &mut supplier_rng,
                &categories,
                org.size,
                0.4 * f64::from(year - 2023),
            );
            if answers[c4].is_some() {
                answers[c4] = Some(Val::Text(named));
            }
            if matches!(answers[c5], Some(Val::Code(_))) {
                answers[c5] = Some(Val::Code(alternatives.to_string()));
            }
        }
        let started = rng.below(field_secs - 7200) as u32;
        let mut duration = 600 + rng.below(2400) as u32;
        if rng.chance(0.03) {
            // A speeder: clicked through in a minute or two.
            duration = 60 + rng.below(90) as u32;
        }
        if rng.chance(0.03) {
            // A straight-liner: the same answer down the agreement grid.
            for id in ["B3", "B5", "E4", "G1"] {
                if let Some(qi) = spec.questions.iter().position(|q| q.id == id) {
                    answers[qi] = Some(Val::Code("4".to_string()));
                }
            }
        }
        let forms = rng.chance(0.3);
        let base = Response {
            org: Some(oi),
            answers,
            started,
            duration,
            finished: true,
            preview: false,
            forms,
        };
        let r = rng.uniform();
        if r < 0.04 {
            // Started, gave up early: a partial that never came back (quarantined as incomplete).
            responses.push(truncate(&base, 0.3));
        } else if r < 0.07 {
            // A partial attempt, then the complete submission later.
            responses.push(truncate(&base, 0.3));
            let mut again = base.clone();
            again.started += 86_400 + rng.below(86_400 * 5) as u32;
            responses.push(again);
        } else if r < 0.09 {
            // Submitted twice, complete both times (a colleague re-submitted with changes).
            responses.push(base.clone());
            let mut again = base.clone();
            again.started += 3600 + rng.below(86_400 * 3) as u32;
            for a in again.answers.iter_mut().skip(8) {
                if rng.chance(0.1) {
                    *a = None;
                }
            }
            responses.push(again);
        } else if r < 0.12 {
            // Finished most of it: a partial response that is still usable.
            responses.push(truncate(&base, 0.75));
        } else {
            responses.push(base);
        }
    }
    let respondents = responds.iter().filter(|r| **r).count();

    // Special rows: a preview, a test submission, an association (outside the frame).
    let template = responses
        .first()
        .cloned()
        .ok_or_else(|| Error::Usage("no respondents generated".into()))?;
    let mut preview = template.clone();
    preview.org = None;
    preview.preview = true;
    preview.forms = false;
    preview.started = 0;
    let mut test = template.clone();
    test.org = None;
    test.forms = true;
    test.started = 3600;
    let mut association = template.clone();
    association.org = None;
    association.forms = false;
    association.started = 5 * 86_400;

    let special = [&preview, &test, &association];
    let forms_rows = responses.iter().chain(special).filter(|r| r.forms).count();
    let qualtrics_rows = responses.len() + special.len() - forms_rows;
    write_all(
        out,
        &spec,
        &spec_text,
        &population_csv,
        &orgs,
        &responses,
        special,
        year,
        &mut rng,
    )?;
    Ok(SynthSummary {
        population: orgs.len(),
        respondents,
        qualtrics_rows,
        forms_rows,
    })
}

fn truncate(r: &Response, keep: f64) -> Response {
    let mut out = r.clone();
    let n = out.answers.len();
    let cut = ((n as f64) * keep) as usize;
    for a in out.answers.iter_mut().skip(cut.max(7)) {
        *a = None;
    }
    out.finished = false;
    out.duration /= 3;
    out
}

/// Which respondent a row represents, for the special rows.
enum Who<'a> {
    Org(&'a Org),
    Preview,
    Test,
    Association,
}

#[allow(clippy::too_many_arguments)]
fn write_all(
    out: &Path,
    spec: &Spec,
    spec_text: &str,
    population_csv: &str,
    orgs: &[Org],
    responses: &[Response],
    special: [&Response; 3],
    year: i32,
    rng: &mut Rng,
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))
    };
    write("survey.toml", spec_text.as_bytes())?;
    write("population.csv", population_csv.as_bytes())?;
    write("suppliers.csv", suppliers::alias_table_csv().as_bytes())?;

    // Row order: by start time, the preview first; special rows placed at fixed times.
    let mut rows: Vec<(&Response, Who<'_>)> = Vec::new();
    rows.push((special[0], Who::Preview));
    rows.push((special[1], Who::Test));
    rows.push((special[2], Who::Association));
    for r in responses {
        rows.push((r, Who::Org(&orgs[r.org.unwrap_or(0)])));
    }
    rows.sort_by_key(|(r, _)| r.started);

    // ---- Qualtrics CSV ----
    let mut header1: Vec<String> = [
        "StartDate",
        "EndDate",
        "Status",
        "Progress",
        "Duration (in seconds)",
        "Finished",
        "RecordedDate",
        "ResponseId",
        "RecipientLastName",
        "RecipientFirstName",
        "RecipientEmail",
        "ExternalReference",
        "DistributionChannel",
        "UserLanguage",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let mut header2: Vec<String> = [
        "Start Date",
        "End Date",
        "Response Type",
        "Progress",
        "Duration (in seconds)",
        "Finished",
        "Recorded Date",
        "Response ID",
        "Recipient Last Name",
        "Recipient First Name",
        "Recipient Email",
        "External Data Reference",
        "Distribution Channel",
        "User Language",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let mut header3: Vec<String> = [
        "startDate",
        "endDate",
        "status",
        "progress",
        "duration",
        "finished",
        "recordedDate",
        "_recordId",
        "recipientLastName",
        "recipientFirstName",
        "recipientEmail",
        "externalDataReference",
        "distributionChannel",
        "userLanguage",
    ]
    .iter()
    .map(|s| {
        if s.ends_with("Date") {
            format!("{{\"ImportId\":\"{s}\",\"timeZone\":\"America/New_York\"}}")
        } else {
            format!("{{\"ImportId\":\"{s}\"}}")
        }
    })
    .collect();
    // Question columns (the three platform-filled questions live in the embedded columns above).
    let embedded = ["member_id", "contact_email"];
    let mut qcols: Vec<(usize, Option<usize>)> = Vec::new(); // (question, option for split multi)
    for (qi, q) in spec.questions.iter().enumerate() {
        if embedded.contains(&q.id.as_str()) {
            continue;
        }
        let text = q.text.clone().unwrap_or_else(|| q.id.clone());
        if q.kind == QuestionType::Multi {
            for (k, o) in spec.options(q).iter().enumerate() {
                header1.push(format!("{}_{}", q.column_id(), k + 1));
                header2.push(format!("{text} - Selected Choice - {}", o.label));
                header3.push(format!("{{\"ImportId\":\"QID{}_{}\"}}", qi + 1, k + 1));
                qcols.push((qi, Some(k)));
            }
        } else {
            header1.push(q.column_id().to_string());
            header2.push(text);
            header3.push(format!("{{\"ImportId\":\"QID{}\"}}", qi + 1));
            qcols.push((qi, None));
        }
    }
    let mut csv_bytes = vec![0xEF, 0xBB, 0xBF];
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut csv_bytes);
        for h in [&header1, &header2, &header3] {
            w.write_record(h)
                .map_err(|e| Error::output(&out.join("responses_qualtrics.csv"), e))?;
        }
        let mut response_no = 0;
        for (r, who) in rows.iter().filter(|(r, _)| !r.forms) {
            response_no += 1;
            let (start, _) = timestamp(year, r.started);
            let (end, _) = timestamp(year, r.started + r.duration);
            let (status, channel) = if r.preview {
                ("Survey Preview", "preview")
            } else {
                ("IP Address", "email")
            };
            let progress = if r.finished {
                100
            } else {
                30 + (r.answers.iter().filter(|a| a.is_some()).count() * 60
                    / r.answers.len().max(1))
            };
            let (last, first, email, member) = match who {
                Who::Org(o) => (
                    o.contact.1.clone(),
                    o.contact.0.clone(),
                    o.email.clone(),
                    o.member_id.clone(),
                ),
                Who::Preview => (String::new(), String::new(), String::new(), String::new()),
                Who::Test => (
                    "Test".into(),
                    "Test".into(),
                    "test@example.org".into(),
                    "HSCC-TEST".into(),
                ),
                Who::Association => (
                    "Ellis".into(),
                    "Dana".into(),
                    "scrm@healthassoc.example.org".into(),
                    "HSCC-90001".into(),
                ),
            };
            let mut rec: Vec<String> = vec![
                start,
                end.clone(),
                status.into(),
                progress.to_string(),
                r.duration.to_string(),
                if r.finished { "True" } else { "False" }.into(),
                end,
                format!("R_{:015X}", rng.0.next_u64() >> 4),
                last,
                first,
                email,
                member,
                channel.into(),
                "EN".into(),
            ];
            for (qi, opt) in &qcols {
                let q = &spec.questions[*qi];
                let v = match (who, q.id.as_str()) {
                    (Who::Org(o), "org_name") => Some(Val::Text(o.name.clone())),
                    (Who::Association, "org_name") => {
                        Some(Val::Text("Regional Health Association".into()))
                    }
                    (Who::Association, "subsector") => Some(Val::Code("association".into())),
                    _ => r.answers[*qi].clone(),
                };
                let cell = match (opt, &v) {
                    (Some(k), Some(Val::Codes(cs))) => {
                        let o = &spec.options(q)[*k];
                        if cs.contains(&o.code.0) {
                            o.label.clone()
                        } else {
                            String::new()
                        }
                    }
                    (Some(_), _) => String::new(),
                    (None, None) => String::new(),
                    (None, Some(Val::Num(x)))
                        if q.id == "S4" && *x >= 1000.0 && rng.chance(0.3) =>
                    {
                        // Thousands separators, as typed.
                        let n = *x as u64;
                        format!("{},{:03}", n / 1000, n % 1000)
                    }
                    (None, Some(v)) => label_text(rng, spec, q, v, 0.03),
                };
                rec.push(cell);
            }
            if response_no == 17 {
                // An unreadable number, as typed into a text box.
                if let Some(pos) = qcols
                    .iter()
                    .position(|(qi, _)| spec.questions[*qi].id == "S4")
                {
                    rec[header1.len() - qcols.len() + pos] = "about 50".into();
                }
            }
            w.write_record(&rec)
                .map_err(|e| Error::output(&out.join("responses_qualtrics.csv"), e))?;
        }
        w.flush()
            .map_err(|e| Error::io(&out.join("responses_qualtrics.csv"), e))?;
    }
    write("responses_qualtrics.csv", &csv_bytes)?;

    // ---- Microsoft Forms workbook ----
    let path = out.join("responses_forms.xlsx");
    let xerr = |e: rust_xlsxwriter::XlsxError| Error::output(&path, e);
    let mut book = Workbook::new();
    let created = ExcelDateTime::from_ymd(year as u16, 4, 30).map_err(xerr)?;
    book.set_properties(
        &DocProperties::new()
            .set_author("Microsoft Forms")
            .set_creation_datetime(&created),
    );
    let sheet = book.add_worksheet();
    sheet.set_name("Sheet1").map_err(xerr)?;
    let date_format = Format::new().set_num_format("m/d/yy h:mm:ss");
    let mut fheaders: Vec<String> = [
        "ID",
        "Start time",
        "Completion time",
        "Email",
        "Name",
        "Last modified time",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let mut fq: Vec<usize> = Vec::new();
    for (qi, q) in spec.questions.iter().enumerate() {
        if q.id == "contact_email" {
            continue;
        }
        fheaders.push(q.text.clone().unwrap_or_else(|| q.id.clone()));
        fq.push(qi);
    }
    for (c, h) in fheaders.iter().enumerate() {
        sheet.write_string(0, c as u16, h).map_err(xerr)?;
    }
    let mut row: u32 = 1;
    let mut id = 0;
    let forms_rows: Vec<&(&Response, Who<'_>)> = rows.iter().filter(|(r, _)| r.forms).collect();
    let blank_after = [forms_rows.len() / 3, 2 * forms_rows.len() / 3];
    for (i, (r, who)) in forms_rows.iter().enumerate() {
        id += 1;
        let (_, s) = timestamp(year, r.started);
        let (_, e) = timestamp(year, r.started + r.duration);
        let dt = |p: [u32; 6]| {
            ExcelDateTime::from_ymd(p[0] as u16, p[1] as u8, p[2] as u8)
                .and_then(|d| d.and_hms(p[3] as u16, p[4] as u8, p[5] as u8))
        };
        sheet.write_number(row, 0, f64::from(id)).map_err(xerr)?;
        sheet
            .write_datetime_with_format(row, 1, &dt(s).map_err(xerr)?, &date_format)
            .map_err(xerr)?;
        sheet
            .write_datetime_with_format(row, 2, &dt(e).map_err(xerr)?, &date_format)
            .map_err(xerr)?;
        let (email, name) = match who {
            Who::Org(o) => (o.email.clone(), format!("{} {}", o.contact.0, o.contact.1)),
            Who::Test => ("test@example.org".into(), "Test User".into()),
            _ => ("anonymous".into(), String::new()),
        };
        sheet.write_string(row, 3, &email).map_err(xerr)?;
        sheet.write_string(row, 4, &name).map_err(xerr)?;
        for (c, qi) in fq.iter().enumerate() {
            let q = &spec.questions[*qi];
            let col = (c + 6) as u16;
            let v = match (who, q.id.as_str()) {
                (Who::Test, "member_id") => Some(Val::Text("HSCC-TEST".into())),
                (Who::Org(o), "member_id") => Some(Val::Text(o.member_id.clone())),
                (Who::Org(o), "org_name") => Some(Val::Text(o.name.clone())),
                (Who::Test, "org_name") => Some(Val::Text("Test submission".into())),
                _ => r.answers[*qi].clone(),
            };
            match &v {
                None => {}
                Some(Val::Num(x)) => {
                    sheet.write_number(row, col, *x).map_err(xerr)?;
                }
                Some(Val::Codes(cs)) => {
                    let labels: String = cs
                        .iter()
                        .filter_map(|code| spec.options(q).iter().find(|o| &o.code.0 == code))
                        .map(|o| format!("{};", o.label))
                        .collect();
                    sheet.write_string(row, col, &labels).map_err(xerr)?;
                }
                Some(v) => {
                    let text = label_text(rng, spec, q, v, 0.03);
                    sheet.write_string(row, col, &text).map_err(xerr)?;
                }
            }
        }
        row += 1;
        if blank_after.contains(&i) {
            row += 1; // a blank row, as hand-edited sheets have
        }
    }
    book.save(&path).map_err(xerr)?;
    Ok(())
}

//! Population targets, from `design.population` or inline `[weighting.margins]`:
//!
//! - **cells**: one column per variable (question ids) and `count`, one row per cell;
//!   margins and stratum sizes are sums over cells;
//! - **margins**: `variable,level,count`, one row per level of each variable (enough for raking
//!   and calibration; post-stratification on several variables needs cells).
//!
//! Checks: a numeric, non-negative `count`; no cell or level listed twice; variables that are
//! questions of the spec; margins whose totals agree.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::spec::LoadedSpec;

#[derive(Debug, Clone)]
pub struct Population {
    /// Where the targets came from: the path as written in the spec, or `survey.toml`.
    pub file: String,
    pub vars: Vec<String>,
    /// Cells: (levels in `vars` order, count). Empty when only margins are known.
    pub cells: Vec<(Vec<String>, f64)>,
    /// Margins: variable → level → count (filled from the cells when cells are given).
    pub margins: BTreeMap<String, BTreeMap<String, f64>>,
    pub sha256: String,
    pub bytes: u64,
}

/// Relative disagreement allowed between margin totals.
const MARGIN_TOTAL_RTOL: f64 = 1e-6;

fn parse_count(raw: &str, at: &str) -> Result<f64> {
    let count: f64 = raw.trim().parse().map_err(|_| {
        Error::input(
            at,
            format!("column `count`: expected a number, got `{}`", raw.trim()),
        )
    })?;
    let max = crate::spec::MAX_POPULATION_COUNT;
    if !(count.is_finite() && (0.0..=max).contains(&count)) {
        return Err(Error::input(
            at,
            format!(
                "column `count`: expected a count in 0–{max:e}, got `{}`",
                raw.trim()
            ),
        ));
    }
    Ok(count)
}

impl Population {
    pub fn read(spec: &LoadedSpec) -> Result<Population> {
        let pop = match &spec.spec.design.population {
            Some(file) => Population::read_file(spec, file)?,
            None => Population::from_margins(
                "survey.toml".into(),
                spec.spec.weighting.margins.clone(),
                String::new(),
                0,
            ),
        };
        for v in &pop.vars {
            if spec.spec.question(v).is_none() {
                return Err(Error::input(
                    &pop.file,
                    format!("variable `{v}` is not a question id of the spec; population targets name the questions they count"),
                ));
            }
        }
        let weights_given = spec.spec.design.base_weight.is_some()
            && spec.spec.weighting.method == crate::spec::WeightMethod::None;
        if pop.vars.is_empty() && !(weights_given && spec.spec.design.population.is_none()) {
            return Err(Error::input(&pop.file, "no population targets"));
        }
        let pop = pop.levels_as_codes(spec)?;
        pop.check_totals()?;
        Ok(pop)
    }

    /// The targets' levels as option codes: a file may name a level by its code or by its
    /// label (matched as answers are: variants, aliases). A level that is neither is an error
    /// naming it, since no respondent could ever fall in it.
    fn levels_as_codes(mut self, spec: &LoadedSpec) -> Result<Population> {
        let s = &spec.spec;
        let mut codes: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for v in &self.vars {
            let Some(q) = s.question(v) else { continue };
            let options = s.options(q);
            // Numeric or free-text design variables have no options: levels stay as written.
            if options.is_empty() {
                continue;
            }
            let mut matcher = crate::clean::Matcher::new(s, q);
            let levels = self
                .margins
                .get(v)
                .map(|m| m.keys().cloned().collect::<Vec<_>>());
            for level in levels.unwrap_or_default() {
                let code = if options.iter().any(|o| o.code.0 == level) {
                    level.clone()
                } else if let Some(code) = matcher.option_code(&level) {
                    code
                } else {
                    return Err(Error::input(
                        &self.file,
                        format!(
                            "`{v}` level `{level}` is neither a code nor a label of question `{v}`; its options are {}",
                            options
                                .iter()
                                .map(|o| format!("`{}` ({})", o.code.0, o.label))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                };
                codes.entry(v.clone()).or_default().insert(level, code);
            }
        }
        let code_of = |v: &str, level: &str| -> String {
            codes
                .get(v)
                .and_then(|m| m.get(level))
                .cloned()
                .unwrap_or_else(|| level.to_string())
        };
        let mut margins: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for (v, m) in &self.margins {
            for (level, count) in m {
                let code = code_of(v, level);
                if margins
                    .entry(v.clone())
                    .or_default()
                    .insert(code.clone(), *count)
                    .is_some()
                {
                    return Err(Error::input(
                        &self.file,
                        format!("`{v}` = `{code}` is given twice (as its code and as its label, or as two spellings of the label)"),
                    ));
                }
            }
        }
        self.margins = margins;
        for (levels, _) in &mut self.cells {
            for (l, v) in levels.iter_mut().zip(&self.vars) {
                *l = code_of(v, l);
            }
        }
        let mut seen = BTreeSet::new();
        for (levels, _) in &self.cells {
            if !seen.insert(levels.clone()) {
                return Err(Error::input(
                    &self.file,
                    format!(
                        "the cell {} appears twice (as codes and as labels)",
                        levels.join(" × ")
                    ),
                ));
            }
        }
        Ok(self)
    }

    fn from_margins(
        file: String,
        margins: BTreeMap<String, BTreeMap<String, f64>>,
        sha256: String,
        bytes: u64,
    ) -> Population {
        Population {
            file,
            vars: margins.keys().cloned().collect(),
            cells: Vec::new(),
            margins,
            sha256,
            bytes,
        }
    }

    fn read_file(spec: &LoadedSpec, file: &str) -> Result<Population> {
        let path = spec.input(file, "design.population")?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let sha256 = crate::ingest::sha256_hex(&bytes);
        let mut notes = Vec::new();
        let (text, _) = crate::ingest::decode_text(&bytes, file, None, &mut notes)?;
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| Error::input(file, format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let count_col = headers.iter().position(|h| h == "count").ok_or_else(|| {
            Error::input(
                file,
                format!("no `count` column; the columns are: {}", headers.join(", ")),
            )
        })?;
        let records: Vec<(String, csv::StringRecord)> = reader
            .records()
            .map(|r| {
                let r = r.map_err(|e| Error::input(file, e.to_string()))?;
                let line = r.position().map_or(0, |p| p.line());
                Ok((format!("{file}:{line}"), r))
            })
            .collect::<Result<_>>()?;
        if records.is_empty() {
            return Err(Error::input(file, "no population targets under the header"));
        }
        // Margins format: variable, level, count.
        if headers.len() == 3
            && headers.iter().any(|h| h == "variable")
            && headers.iter().any(|h| h == "level")
        {
            let (vc, lc) = (
                headers.iter().position(|h| h == "variable").unwrap_or(0),
                headers.iter().position(|h| h == "level").unwrap_or(1),
            );
            let mut margins: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            for (at, r) in &records {
                let (var, level) = (
                    r.get(vc).unwrap_or("").trim(),
                    r.get(lc).unwrap_or("").trim(),
                );
                let count = parse_count(r.get(count_col).unwrap_or(""), at)?;
                if margins
                    .entry(var.to_string())
                    .or_default()
                    .insert(level.to_string(), count)
                    .is_some()
                {
                    return Err(Error::input(
                        at,
                        format!("`{var}` = `{level}` appears twice"),
                    ));
                }
            }
            return Ok(Population::from_margins(
                file.to_string(),
                margins,
                sha256,
                bytes.len() as u64,
            ));
        }
        let vars: Vec<String> = headers.iter().filter(|h| *h != "count").cloned().collect();
        let mut cells = Vec::new();
        let mut seen = BTreeSet::new();
        for (at, rec) in &records {
            let count = parse_count(rec.get(count_col).unwrap_or(""), at)?;
            let levels: Vec<String> = (0..headers.len())
                .filter(|i| *i != count_col)
                .map(|i| rec.get(i).unwrap_or("").trim().to_string())
                .collect();
            if !seen.insert(levels.clone()) {
                return Err(Error::input(
                    at,
                    format!("the cell {} appears twice", levels.join(" × ")),
                ));
            }
            cells.push((levels, count));
        }
        let mut margins: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for (levels, count) in &cells {
            for (v, l) in vars.iter().zip(levels) {
                *margins
                    .entry(v.clone())
                    .or_default()
                    .entry(l.clone())
                    .or_insert(0.0) += count;
            }
        }
        Ok(Population {
            file: file.to_string(),
            vars,
            cells,
            margins,
            sha256,
            bytes: bytes.len() as u64,
        })
    }

    fn check_totals(&self) -> Result<()> {
        let totals: Vec<(&String, f64)> = self
            .margins
            .iter()
            .map(|(v, m)| (v, crate::kernels::sum(m.values().copied())))
            .collect();
        if let Some((first, t0)) = totals.first() {
            for (v, t) in &totals[1..] {
                if (t - t0).abs() > MARGIN_TOTAL_RTOL * t0.abs() {
                    return Err(Error::Weighting(format!(
                        "{}: the margins disagree: `{v}` totals {t} but `{first}` totals {t0}",
                        self.file
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn total(&self) -> f64 {
        self.margins
            .values()
            .next()
            .map_or(0.0, |m| crate::kernels::sum(m.values().copied()))
    }

    /// Counts by the levels of `vars` (each a population variable). Several variables need cells.
    pub fn margin(&self, vars: &[String]) -> Result<BTreeMap<Vec<String>, f64>> {
        for v in vars {
            if !self.margins.contains_key(v) {
                return Err(Error::Weighting(format!(
                    "{} has no targets for `{v}` (it has: {})",
                    self.file,
                    self.vars.join(", ")
                )));
            }
        }
        if let [v] = vars {
            return Ok(self.margins[v]
                .iter()
                .map(|(l, c)| (vec![l.clone()], *c))
                .collect());
        }
        if self.cells.is_empty() {
            return Err(Error::Weighting(format!(
                "post-stratification on {} needs cell counts, but {} gives margins only; use method = \"rake\" or \"calibrate\", or give cells",
                vars.join(" × "),
                self.file
            )));
        }
        let idx: Vec<usize> = vars
            .iter()
            .map(|v| self.vars.iter().position(|x| x == v).unwrap_or(0))
            .collect();
        let mut out: BTreeMap<Vec<String>, f64> = BTreeMap::new();
        for (levels, count) in &self.cells {
            let key: Vec<String> = idx.iter().map(|&i| levels[i].clone()).collect();
            *out.entry(key).or_insert(0.0) += count;
        }
        Ok(out)
    }

    /// Levels of each population variable (the sampling frame).
    pub fn frame(&self) -> crate::clean::Frame {
        self.margins
            .iter()
            .map(|(v, m)| (v.clone(), m.keys().cloned().collect()))
            .collect()
    }
}

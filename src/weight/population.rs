//! Population targets: `population.csv` with one column per variable (question ids) and a
//! `count` column, one row per cell. Margins and strata sizes are sums over cells.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::spec::LoadedSpec;

#[derive(Debug, Clone)]
pub struct Population {
    /// Path as written in the spec.
    pub file: String,
    pub vars: Vec<String>,
    /// (levels in `vars` order, count)
    pub cells: Vec<(Vec<String>, f64)>,
    pub sha256: String,
    pub bytes: u64,
}

impl Population {
    pub fn read(spec: &LoadedSpec) -> Result<Population> {
        let file = spec.spec.design.population.clone();
        let path = spec.resolve(&file);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let sha256 = crate::ingest::sha256_hex(&bytes);
        let mut notes = Vec::new();
        let (text, _) = crate::ingest::decode_text(&bytes, &file, None, &mut notes)?;
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| Error::input(&file, format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let count_col = headers.iter().position(|h| h == "count").ok_or_else(|| {
            Error::input(
                &file,
                format!("no `count` column; the columns are: {}", headers.join(", ")),
            )
        })?;
        let vars: Vec<String> = headers.iter().filter(|h| *h != "count").cloned().collect();
        for v in &vars {
            if spec.spec.question(v).is_none() {
                return Err(Error::input(
                    &file,
                    format!("column `{v}` is not a question id of the spec; population columns name the questions they count"),
                ));
            }
        }
        let mut cells = Vec::new();
        let mut seen = BTreeSet::new();
        for rec in reader.records() {
            let rec = rec.map_err(|e| Error::input(&file, e.to_string()))?;
            let line = rec.position().map_or(0, |p| p.line());
            let at = format!("{file}:{line}");
            let raw = rec.get(count_col).unwrap_or("").trim();
            let count: f64 = raw.parse().map_err(|_| {
                Error::input(
                    &at,
                    format!("column `count`: expected a number, got `{raw}`"),
                )
            })?;
            if !(count.is_finite() && count >= 0.0) {
                return Err(Error::input(
                    &at,
                    format!("column `count`: expected a count ≥ 0, got {count}"),
                ));
            }
            let levels: Vec<String> = headers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != count_col)
                .map(|(i, _)| rec.get(i).unwrap_or("").trim().to_string())
                .collect();
            if !seen.insert(levels.clone()) {
                return Err(Error::input(
                    &at,
                    format!("the cell {} appears twice", levels.join(" × ")),
                ));
            }
            cells.push((levels, count));
        }
        if cells.is_empty() {
            return Err(Error::input(&file, "no population cells"));
        }
        Ok(Population {
            file,
            vars,
            cells,
            sha256,
            bytes: bytes.len() as u64,
        })
    }

    pub fn total(&self) -> f64 {
        crate::kernels::sum(self.cells.iter().map(|c| c.1))
    }

    /// Counts summed over all variables but `vars` (which must be population columns), keyed
    /// by the levels of `vars`.
    pub fn margin(&self, vars: &[String]) -> Result<BTreeMap<Vec<String>, f64>> {
        let idx: Vec<usize> =
            vars.iter()
                .map(|v| {
                    self.vars.iter().position(|x| x == v).ok_or_else(|| {
                        Error::Weighting(format!("{} has no column `{v}`", self.file))
                    })
                })
                .collect::<Result<_>>()?;
        let mut out: BTreeMap<Vec<String>, f64> = BTreeMap::new();
        for (levels, count) in &self.cells {
            let key: Vec<String> = idx.iter().map(|&i| levels[i].clone()).collect();
            *out.entry(key).or_insert(0.0) += count;
        }
        Ok(out)
    }

    /// Levels of each population variable (the sampling frame).
    pub fn frame(&self) -> crate::clean::Frame {
        let mut out = crate::clean::Frame::new();
        for (i, v) in self.vars.iter().enumerate() {
            out.insert(
                v.clone(),
                self.cells.iter().map(|c| c.0[i].clone()).collect(),
            );
        }
        out
    }
}

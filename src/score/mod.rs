//! Score: items → domain maturity (0–1) → per-organization risk index (0–100, higher = more
//! exposed) → risk tier; plus a CSF-style maturity tier (1–4) per domain.
//!
//! Item maturity is the option's points over the question's highest points (reversed with
//! `reverse`); numeric items scale linearly over `score_range`; multi-select items with
//! `score_share` score the share of options chosen. Declared missing codes and skipped items do
//! not score. A domain scores when at least `domain_min_answered` of its items do; the index
//! exists when at least `index_min_domains` of the domains do.

use crate::clean::{Answer, Record};
use crate::spec::{QuestionType, Spec};

/// Scores for every record, in record order.
#[derive(Debug, Clone)]
pub struct Scores {
    /// Domain ids in spec order.
    pub domains: Vec<String>,
    /// `[record][domain]` maturity in 0–1.
    pub maturity: Vec<Vec<Option<f64>>>,
    pub risk_index: Vec<Option<f64>>,
    /// Index into the spec's tiers.
    pub tier: Vec<Option<usize>>,
}

/// Maturity (0–1) of one answer to one question, when it scores.
pub fn item_maturity(spec: &Spec, qi: usize, answer: &Answer) -> Option<f64> {
    let q = &spec.questions[qi];
    q.domain.as_ref()?;
    let m = match (q.kind, answer) {
        (QuestionType::Numeric, Answer::Number(x)) => {
            let [lo, hi] = q.score_range?;
            ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
        }
        (QuestionType::Multi, Answer::Codes(cs)) if q.score_share => {
            let n = spec.options(q).len();
            if n == 0 {
                return None;
            }
            cs.len() as f64 / n as f64
        }
        (QuestionType::Single | QuestionType::Likert | QuestionType::Yesno, Answer::Code(c)) => {
            let options = spec.options(q);
            let max = options.iter().filter_map(|o| o.score).max()?;
            let pts = options.iter().find(|o| &o.code.0 == c)?.score?;
            if max == 0 {
                return None;
            }
            f64::from(pts) / f64::from(max)
        }
        _ => return None,
    };
    Some(if q.reverse { 1.0 - m } else { m })
}

/// Tier index for a risk index value.
pub fn tier_of(spec: &Spec, index: f64) -> usize {
    let tiers = &spec.scoring.tiers;
    tiers
        .iter()
        .position(|t| t.below.is_none_or(|b| index < b))
        .unwrap_or(tiers.len().saturating_sub(1))
}

/// CSF-style maturity tier 1–4 from a domain maturity in 0–1.
pub fn maturity_tier(m: f64) -> u8 {
    ((m * 4.0).floor() as u8 + 1).min(4)
}

pub fn score(spec: &Spec, records: &[Record]) -> Scores {
    let domains: Vec<String> = spec.domains.iter().map(|d| d.id.clone()).collect();
    let items: Vec<Vec<usize>> = domains
        .iter()
        .map(|d| {
            (0..spec.questions.len())
                .filter(|&i| spec.questions[i].domain.as_deref() == Some(d.as_str()))
                .collect()
        })
        .collect();
    let mut maturity = Vec::with_capacity(records.len());
    let mut risk_index = Vec::with_capacity(records.len());
    let mut tier = Vec::with_capacity(records.len());
    for r in records {
        let dm: Vec<Option<f64>> = items
            .iter()
            .map(|qs| {
                let scored: Vec<f64> = qs
                    .iter()
                    .filter_map(|&qi| item_maturity(spec, qi, &r.answers[qi]))
                    .collect();
                if qs.is_empty()
                    || (scored.len() as f64) < spec.scoring.domain_min_answered * qs.len() as f64
                    || scored.is_empty()
                {
                    None
                } else {
                    Some(scored.iter().sum::<f64>() / scored.len() as f64)
                }
            })
            .collect();
        let present: Vec<(f64, f64)> = dm
            .iter()
            .zip(&spec.domains)
            .filter_map(|(m, d)| m.map(|m| (m, d.weight)))
            .collect();
        let idx = if !present.is_empty()
            && present.len() as f64 >= spec.scoring.index_min_domains * domains.len() as f64
        {
            let wsum: f64 = present.iter().map(|p| p.1).sum();
            let msum: f64 = present.iter().map(|p| p.0 * p.1).sum();
            Some(100.0 * (1.0 - msum / wsum))
        } else {
            None
        };
        tier.push(idx.map(|x| tier_of(spec, x)));
        risk_index.push(idx);
        maturity.push(dm);
    }
    Scores {
        domains,
        maturity,
        risk_index,
        tier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maturity_tiers_split_quarters() {
        assert_eq!(maturity_tier(0.0), 1);
        assert_eq!(maturity_tier(0.25), 2);
        assert_eq!(maturity_tier(0.74), 3);
        assert_eq!(maturity_tier(1.0), 4);
    }
}

//! One organization's benchmark page: the template's context, built from its own record and the
//! published tables only (the signature is the guarantee: nothing else is in reach).

use serde_json::{json, Value};

use super::published::{Cell, Published};
use super::Own;
use crate::estimate::ALL;
use crate::spec::{MetricKind, Spec, Tlp, MATURITY_PREFIX, RISK_INDEX, RISK_TIER};

/// The segments an organization is compared with, finest first: each cross it belongs to, the
/// variables of the first cross (else the first segment variable), then the sector.
fn peer_chain(spec: &Spec, own: &Own) -> Vec<(String, String)> {
    let code = |v: &str| {
        own.segments
            .iter()
            .find(|(var, _)| var == v)
            .and_then(|(_, c)| c.clone())
    };
    let mut chain = Vec::new();
    for cross in &spec.segments.crosses {
        let codes: Option<Vec<String>> = cross.iter().map(|v| code(v)).collect();
        if let Some(codes) = codes {
            chain.push((cross.join(":"), codes.join(":")));
        }
    }
    let coarser: Vec<&String> = match spec.segments.crosses.first() {
        Some(cross) => cross.iter().collect(),
        None => spec.segments.variables.iter().take(1).collect(),
    };
    for v in coarser {
        if let Some(c) = code(v) {
            chain.push((v.clone(), c));
        }
    }
    chain.push((ALL.to_string(), String::new()));
    chain.dedup();
    chain
}

fn segment_label(spec: &Spec, seg: &(String, String)) -> String {
    if seg.0 == ALL {
        "the sector".to_string()
    } else {
        crate::render::segment_label(spec, &seg.0, &seg.1)
    }
}

/// The first segment of the chain (the sector excluded) where the estimate is published, and
/// the note saying which finer ones were withheld.
fn peers<'a>(
    spec: &Spec,
    published: &'a Published,
    chain: &[(String, String)],
    metric_id: &str,
    statistic: &str,
    level: &str,
) -> (Option<(String, &'a Cell)>, Vec<String>) {
    let mut withheld = Vec::new();
    for seg in chain.iter().filter(|s| s.0 != ALL) {
        match published.estimate(metric_id, statistic, level, seg) {
            Some(c) if !c.suppressed => return (Some((segment_label(spec, seg), c)), withheld),
            _ => withheld.push(segment_label(spec, seg)),
        }
    }
    (None, withheld)
}

fn fixed(x: Option<f64>, scale: f64, decimals: usize) -> String {
    x.map_or_else(String::new, |v| format!("{:.*}", decimals, v * scale))
}

fn interval(c: &Cell, scale: f64, decimals: usize) -> String {
    match (c.ci_low, c.ci_high) {
        (Some(a), Some(b)) => format!(
            "{}–{}",
            fixed(Some(a), scale, decimals),
            fixed(Some(b), scale, decimals)
        ),
        _ => String::new(),
    }
}

/// A published number as the page shows it: value, interval, and "withheld" when suppressed.
fn shown(c: Option<&Cell>, scale: f64, decimals: usize) -> Value {
    match c {
        Some(c) if !c.suppressed => json!({
            "value": fixed(c.estimate, scale, decimals),
            "ci": interval(c, scale, decimals),
            "withheld": false,
        }),
        _ => json!({"value": "", "ci": "", "withheld": true}),
    }
}

/// The template context of one organization's page.
pub fn context(spec: &Spec, own: &Own, published: &Published, tlp: Tlp, gates: &[String]) -> Value {
    let chain = peer_chain(spec, own);
    let sector = (ALL.to_string(), String::new());
    let peer_group = chain
        .first()
        .filter(|s| s.0 != ALL)
        .map(|s| segment_label(spec, s));
    let mut notes: Vec<String> = Vec::new();
    let note_withheld = |notes: &mut Vec<String>, what: &str, withheld: &[String], used: &str| {
        if !withheld.is_empty() {
            let n = format!(
                "{what}: withheld for {} (too few organizations to publish); shown for {used}.",
                withheld.join(", then ")
            );
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
    };

    // Risk index and tier.
    let risk_metric = spec
        .metrics
        .iter()
        .find(|m| m.variable == RISK_INDEX && m.kind == MetricKind::Mean);
    let risk = risk_metric.map(|m| {
        let (peer, withheld) = peers(spec, published, &chain, &m.id, "mean", "");
        let used = peer
            .as_ref()
            .map_or("the sector only".to_string(), |p| p.0.clone());
        note_withheld(&mut notes, &m.title, &withheld, &used);
        json!({
            "title": m.title,
            "own": fixed(own.risk_index, 1.0, 1),
            "peer_label": peer.as_ref().map(|p| p.0.clone()),
            "peer": shown(peer.map(|p| p.1), 1.0, 1),
            "sector": shown(published.estimate(&m.id, "mean", "", &sector), 1.0, 1),
        })
    });
    let tier_name = own
        .tier
        .and_then(|t| spec.scoring.tiers.get(t))
        .map(|t| t.name.clone());
    let tier_metric = spec
        .metrics
        .iter()
        .find(|m| m.variable == RISK_TIER && m.kind == MetricKind::Distribution);
    let tiers: Vec<Value> = tier_metric
        .map(|m| {
            spec.scoring
                .tiers
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let (peer, withheld) =
                        peers(spec, published, &chain, &m.id, "proportion", &t.name);
                    let used = peer.as_ref().map_or("the sector only".to_string(), |p| p.0.clone());
                    note_withheld(&mut notes, &m.title, &withheld, &used);
                    json!({
                        "name": t.name,
                        "own": own.tier == Some(i),
                        "peer_label": peer.as_ref().map(|p| p.0.clone()),
                        "peer": shown(peer.map(|p| p.1), 100.0, 0),
                        "sector": shown(published.estimate(&m.id, "proportion", &t.name, &sector), 100.0, 0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();

    // Where it stands in the sector's distribution: published quartiles, else published bins.
    let band = own.risk_index.and_then(|x| band(spec, published, x));

    // GV.SC domains.
    let domains: Vec<Value> = spec
        .domains
        .iter()
        .filter_map(|d| {
            let m = spec.metrics.iter().find(|m| {
                m.kind == MetricKind::Mean && m.variable == format!("{MATURITY_PREFIX}{}", d.id)
            })?;
            let own_m = own
                .maturity
                .iter()
                .find(|(id, _)| *id == d.id)
                .and_then(|x| x.1);
            let (peer, withheld) = peers(spec, published, &chain, &m.id, "mean", "");
            let used = peer
                .as_ref()
                .map_or("the sector only".to_string(), |p| p.0.clone());
            note_withheld(&mut notes, &d.title, &withheld, &used);
            let below = match (own_m, peer.as_ref().and_then(|p| p.1.ci_low)) {
                (Some(o), Some(lo)) => o < lo,
                _ => false,
            };
            Some(json!({
                "id": d.id,
                "title": d.title,
                "own": fixed(own_m, 100.0, 0),
                "peer_label": peer.as_ref().map(|p| p.0.clone()),
                "peer": shown(peer.map(|p| p.1), 100.0, 0),
                "sector": shown(published.estimate(&m.id, "mean", "", &sector), 100.0, 0),
                "below_peers": below,
            }))
        })
        .collect();

    // Practices most of its peers report and it does not (published shares of its answers).
    let mut practices: Vec<(f64, Value)> = spec
        .metrics
        .iter()
        .filter(|m| m.kind == MetricKind::Proportion && !m.levels.is_empty())
        .filter_map(|m| {
            let answer = own
                .answers
                .iter()
                .find(|(q, _)| *q == m.variable)?
                .1
                .clone()?;
            if m.levels.contains(&answer) {
                return None;
            }
            // A practice: the levels counted score higher than the organization's answer (a
            // share of something worse, like "no alternative", is not one).
            let q = spec.question(&m.variable)?;
            let score = |code: &str| {
                spec.options(q)
                    .iter()
                    .find(|o| o.code.0 == code)
                    .and_then(|o| o.score)
                    // A reversed item: more points are less mature.
                    .map(|x| {
                        if q.reverse {
                            -i64::from(x)
                        } else {
                            i64::from(x)
                        }
                    })
            };
            let own_score = score(&answer)?;
            let better = m
                .levels
                .iter()
                .all(|l| score(l).is_some_and(|s| s > own_score));
            if !better {
                return None;
            }
            let level = m.levels.join("|");
            let (peer, _) = peers(spec, published, &chain, &m.id, "proportion", &level);
            let (label, c) = match peer {
                Some(p) => p,
                None => (
                    "the sector".to_string(),
                    published
                        .estimate(&m.id, "proportion", &level, &sector)
                        .filter(|c| !c.suppressed)?,
                ),
            };
            let share = c.estimate?;
            if share <= 0.5 {
                return None;
            }
            let own_label = spec
                .options(q)
                .iter()
                .find(|o| o.code.0 == answer)
                .map_or(answer.clone(), |o| o.label.clone());
            Some((
                share,
                json!({
                    "title": m.title,
                    "question": q.text.clone().unwrap_or_default(),
                    "peer_label": label,
                    "peer": shown(Some(c), 100.0, 0),
                    "own_answer": own_label,
                }),
            ))
        })
        .collect();
    practices.sort_by(|a, b| b.0.total_cmp(&a.0));

    // Suppliers it named.
    let suppliers: Vec<Value> = own
        .suppliers
        .iter()
        .map(|(position, name, category, label)| {
            let cat = category.as_ref().and_then(|c| {
                let (peer_seg, cell) = chain.iter().find_map(|s| {
                    let (l, cell) = published.categories.get(&(c.clone(), s.0.clone(), s.1.clone()))?;
                    (!cell.suppressed).then(|| ((l.clone(), segment_label(spec, s)), cell))
                })?;
                Some(json!({"label": peer_seg.0, "segment": peer_seg.1, "share": shown(Some(cell), 100.0, 0)}))
            });
            let share = label.as_ref().map(|l| {
                shown(
                    published
                        .suppliers
                        .get(&(l.clone(), ALL.to_string(), String::new())),
                    100.0,
                    0,
                )
            });
            json!({
                "position": position,
                "name": name,
                "published_as": label,
                "category": cat,
                "share": share,
                "single_point": label.as_ref().is_some_and(|l| published.single_points.contains(l)),
            })
        })
        .collect();
    let critical_single_point = own
        .suppliers
        .iter()
        .find(|s| s.0 == 1)
        .and_then(|s| s.3.clone())
        .map(|l| (l.clone(), published.single_points.contains(&l)));

    json!({
        "survey": {
            "id": spec.survey.id,
            "title": spec.survey.title,
            "round": spec.survey.round,
            "tlp": tlp.label(),
            "tlp_colour": tlp.colour(),
        },
        "respondent": own.respondent,
        "key": own.key,
        "peer_group": peer_group,
        "risk": risk,
        "tier": tier_name,
        "tiers": tiers,
        "band": band,
        "domains": domains,
        "practices": practices.into_iter().map(|p| p.1).collect::<Vec<_>>(),
        "suppliers": suppliers,
        "has_concentration": spec.concentration.is_some(),
        "critical_single_point": critical_single_point.map(|(l, spof)| json!({"label": l, "spof": spof})),
        "notes": notes,
        "gates": gates,
        "min_cell": crate::disclose::Policy::new(spec).min_cell,
        "ci_level": format!("{:.0}", spec.publication.ci_level * 100.0),
    })
}

/// Where a risk index lies in the sector's published distribution, in words.
fn band(spec: &Spec, published: &Published, x: f64) -> Option<Value> {
    let sector = (ALL.to_string(), String::new());
    let quartiles = spec
        .metrics
        .iter()
        .filter(|m| m.variable == RISK_INDEX && m.kind == MetricKind::Quantile)
        .find_map(|m| {
            let q = |p: &str| {
                published
                    .estimate(&m.id, "quantile", p, &sector)
                    .and_then(|c| c.estimate)
            };
            Some((q("p25")?, q("p50")?, q("p75")?))
        });
    if let Some((p25, p50, p75)) = quartiles {
        let (text, cut) = if x >= p75 {
            (
                "among the most exposed quarter of the sector",
                format!("at or above its 75th percentile, {p75:.1}"),
            )
        } else if x >= p50 {
            (
                "more exposed than half of the sector, but not among its most exposed quarter",
                format!("between its median, {p50:.1}, and its 75th percentile, {p75:.1}"),
            )
        } else if x >= p25 {
            (
                "less exposed than half of the sector, but not among its least exposed quarter",
                format!("between its 25th percentile, {p25:.1}, and its median, {p50:.1}"),
            )
        } else {
            (
                "among the least exposed quarter of the sector",
                format!("below its 25th percentile, {p25:.1}"),
            )
        };
        return Some(json!({"text": text, "detail": cut}));
    }
    // Bins: the published share of organizations in bins wholly above the organization's.
    let bins = &published.risk_bins;
    let own_bin = bins.iter().find(|b| x >= b.0 && x < b.1)?;
    let above: Option<f64> = bins.iter().filter(|b| b.0 >= own_bin.1).map(|b| b.2).sum();
    above.map(|s| {
        json!({
            "text": format!("about {:.0}% of organizations are more exposed", s * 100.0),
            "detail": format!("the published share of organizations with a risk index of {:.0} or more", own_bin.1),
        })
    })
}

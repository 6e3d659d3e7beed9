//! Change between two rounds that share organizations (docs/metrics.md, "Which SE"): both
//! rounds' rows with their own final weights, stacked into one design, and the change as the
//! contrast of the two rounds' domain means, linearized — what R gives for `svyby(~y, ~round,
//! design, svymean)` + `svycontrast(c(-1, 1))` on the combined design. An organization in both
//! rounds contributes both of its influence scores to one PSU total, so the covariance of its
//! two answers enters the SE.
//!
//! The combined design keeps what each round's own design knew:
//! - **PSUs**: the organization; when a round has clusters, the organizations of a cluster and
//!   everything linked to them through an organization in both rounds form one PSU (connected
//!   components of "same organization" and "same cluster in a round"), so a PSU never splits.
//! - **Strata**: each round's stratum labels, when every combined PSU falls in one stratum
//!   (strata by a stable trait such as subsector); otherwise none ([`Stacked::stratified`]).
//! - **Calibration**: each round's influence scores are residualized by that round's own
//!   calibration before they are summed — R's combined design calibrated on the round-by-margin
//!   interactions (`postStratify(design, ~interaction(round, cell), …)`), which leaves the
//!   weights as they are and the SEs as each round's calibration makes them.
//!
//! - **FPC**: each round's finite population correction 1 − f_h scales that round's scores by
//!   √(1 − f_h) (exactly R's (1 − f_h) on a round's own variance); the covariance of the two
//!   rounds' scores is then scaled by √((1 − f_A)(1 − f_B)). R's combined design cannot state
//!   this (its `fpc` is one per stratum of the combined design); with no FPC in either round
//!   the result is R's.

use std::collections::HashMap;
use std::hash::Hash;

use super::calibration::Calibration;
use super::design::Design;
use super::estimators::Survey;

/// One round's rows as the combined design needs them.
#[derive(Debug, Clone)]
pub struct Round<'a, K> {
    /// Organization keys, comparable across rounds.
    pub keys: &'a [K],
    /// Final weights.
    pub weights: &'a [f64],
    /// Stratum labels (comparable across rounds), when the round is stratified.
    pub strata: Option<&'a [K]>,
    /// Cluster (PSU) labels within the round, when it has clusters.
    pub clusters: Option<&'a [K]>,
    /// Each row's finite population correction 1 − f_h, when the round has one.
    pub fpc: Option<&'a [f64]>,
    /// The round's calibration, over its own rows.
    pub calibration: Calibration,
}

impl<'a, K> Round<'a, K> {
    /// An unstratified, unclustered, uncalibrated round.
    pub fn plain(keys: &'a [K], weights: &'a [f64]) -> Self {
        Round {
            keys,
            weights,
            strata: None,
            clusters: None,
            fpc: None,
            calibration: Calibration::None,
        }
    }
}

/// Two rounds stacked: round A's rows first, then round B's.
pub struct Stacked {
    pub design: Design,
    pub weights: Vec<f64>,
    /// Rows of round B (the rest are round A's).
    pub in_b: Vec<bool>,
    /// Organizations in both rounds.
    pub overlap: usize,
    /// Organizations in either round.
    pub organizations: usize,
    /// PSUs of the combined design (organizations, or linked clusters).
    pub psus: usize,
    /// Whether the combined design kept the rounds' strata.
    pub stratified: bool,
    calibration_a: Calibration,
    calibration_b: Calibration,
    /// √(1 − f_h) of each row's round and stratum (1 without FPC).
    fpc_root: Vec<f64>,
}

/// A change B − A with its panel SE and the SE as if the rounds were independent samples of
/// the combined design (√(SE_A² + SE_B²) there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanelChange {
    pub estimate_a: f64,
    pub estimate_b: f64,
    pub difference: f64,
    pub se: f64,
    pub se_independent: f64,
    /// Degrees of freedom of the combined design over the domain (PSUs − strata; rows that
    /// skipped the item count, as R's `degf` of the subset).
    pub df: f64,
}

/// Union–find over nodes 0..n.
struct Components(Vec<usize>);

impl Components {
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra.max(rb)] = ra.min(rb);
        }
    }
}

/// Stack round A on round B. A key repeated within a round keeps its rows in one PSU. Fewer
/// than two PSUs in all is an error (no variance).
pub fn stack<K: Eq + Hash + Clone>(
    a: Round<'_, K>,
    b: Round<'_, K>,
) -> Result<Stacked, super::design::DesignError> {
    let n_a = a.keys.len();
    let n = n_a + b.keys.len();
    // Nodes: one per organization, then one per (round, cluster).
    let mut org_node: HashMap<&K, usize> = HashMap::new();
    for k in a.keys.iter().chain(b.keys) {
        let next = org_node.len();
        org_node.entry(k).or_insert(next);
    }
    let organizations = org_node.len();
    let mut cluster_node: HashMap<(bool, &K), usize> = HashMap::new();
    let row_cluster: Vec<Option<usize>> = [(false, &a), (true, &b)]
        .into_iter()
        .flat_map(|(is_b, r)| {
            let len = r.keys.len();
            (0..len).map(move |i| r.clusters.map(|c| (is_b, &c[i])))
        })
        .map(|key| {
            key.map(|key| {
                let next = organizations + cluster_node.len();
                *cluster_node.entry(key).or_insert(next)
            })
        })
        .collect();
    let mut comp = Components((0..organizations + cluster_node.len()).collect());
    let keys: Vec<&K> = a.keys.iter().chain(b.keys).collect();
    for i in 0..n {
        if let Some(c) = row_cluster[i] {
            comp.join(org_node[keys[i]], c);
        }
    }
    let mut psu_code: HashMap<usize, u32> = HashMap::new();
    let psu: Vec<u32> = (0..n)
        .map(|i| {
            let root = comp.find(org_node[keys[i]]);
            let next = psu_code.len() as u32;
            *psu_code.entry(root).or_insert(next)
        })
        .collect();
    let psus = psu_code.len();
    // Strata, when both rounds have them and every PSU lies in one.
    let strata_of = |i: usize| -> Option<&K> {
        if i < n_a {
            a.strata.map(|s| &s[i])
        } else {
            b.strata.map(|s| &s[i - n_a])
        }
    };
    let mut stratified = a.strata.is_some() && b.strata.is_some();
    let mut strata = vec![0u32; n];
    if stratified {
        let mut label_code: HashMap<&K, u32> = HashMap::new();
        let mut psu_stratum: Vec<Option<u32>> = vec![None; psus];
        for i in 0..n {
            let label = strata_of(i).expect("both rounds stratified");
            let next = label_code.len() as u32;
            let h = *label_code.entry(label).or_insert(next);
            match psu_stratum[psu[i] as usize] {
                Some(g) if g != h => {
                    stratified = false;
                    break;
                }
                _ => psu_stratum[psu[i] as usize] = Some(h),
            }
            strata[i] = h;
        }
    }
    let design = match stratified {
        true => Design::new(strata, psu.clone(), None).or_else(|_| {
            stratified = false;
            Design::new(vec![0; n], psu.clone(), None)
        })?,
        false => Design::new(vec![0; n], psu, None)?,
    };
    if design.n_psu() < 2 {
        return Err(super::design::DesignError::LonelyPsu { stratum: 0 });
    }
    let in_a: std::collections::HashSet<&K> = a.keys.iter().collect();
    let overlap = b
        .keys
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .filter(|k| in_a.contains(k))
        .count();
    let mut weights = a.weights.to_vec();
    weights.extend_from_slice(b.weights);
    let mut in_b = vec![false; n_a];
    in_b.resize(n, true);
    let root = |r: &Round<'_, K>| -> Vec<f64> {
        r.fpc.map_or_else(
            || vec![1.0; r.keys.len()],
            |f| f.iter().map(|x| x.clamp(0.0, 1.0).sqrt()).collect(),
        )
    };
    let mut fpc_root = root(&a);
    fpc_root.extend(root(&b));
    Ok(Stacked {
        fpc_root,
        design,
        weights,
        in_b,
        overlap,
        organizations,
        psus,
        stratified,
        calibration_a: a.calibration,
        calibration_b: b.calibration,
    })
}

impl Stacked {
    /// The change of the mean of `y` (stacked like the rows; NaN = not answered) over the rows
    /// of `domain` (all when `None`), B − A.
    pub fn mean_change(&self, y: &[f64], domain: Option<&[bool]>) -> PanelChange {
        let none = Calibration::None;
        let s = Survey {
            design: &self.design,
            weights: &self.weights,
            calibration: &none,
        };
        let n_a = self.in_b.iter().filter(|b| !**b).count();
        let inside = |i: usize| domain.is_none_or(|d| d[i]);
        let a: Vec<bool> = (0..y.len()).map(|i| !self.in_b[i] && inside(i)).collect();
        let b: Vec<bool> = (0..y.len()).map(|i| self.in_b[i] && inside(i)).collect();
        let (ea, mut za) = s.mean_influence(y, Some(&a));
        let (eb, mut zb) = s.mean_influence(y, Some(&b));
        // Each round's scores are zero on the other round's rows.
        self.calibration_a.residualize(&mut za[..n_a]);
        self.calibration_b.residualize(&mut zb[n_a..]);
        for (z, f) in za.iter_mut().zip(&self.fpc_root) {
            *z *= f;
        }
        for (z, f) in zb.iter_mut().zip(&self.fpc_root) {
            *z *= f;
        }
        let z: Vec<f64> = zb.iter().zip(&za).map(|(b, a)| b - a).collect();
        let (va, vb) = (self.design.variance(&za), self.design.variance(&zb));
        // R's degf of the (sub)design: PSUs of the domain's rows, answered or not.
        let used = |i: usize| inside(i) && self.weights[i] > 0.0;
        PanelChange {
            estimate_a: ea,
            estimate_b: eb,
            difference: eb - ea,
            se: self.design.variance(&z).sqrt(),
            se_independent: (va + vb).sqrt(),
            df: self.design.degf(used),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// With no organization in both rounds the panel SE is the independent one.
    #[test]
    fn disjoint_rounds_give_the_independent_se() {
        let st = stack(
            Round::plain(&["a", "b", "c"], &[1.0, 2.0, 1.0]),
            Round::plain(&["d", "e", "f"], &[1.0, 1.0, 3.0]),
        )
        .unwrap();
        assert_eq!(st.overlap, 0);
        let c = st.mean_change(&[1.0, 4.0, 2.0, 5.0, 3.0, 8.0], None);
        assert!((c.se - c.se_independent).abs() < 1e-12, "{c:?}");
        assert!((c.difference - (c.estimate_b - c.estimate_a)).abs() < 1e-12);
    }

    /// The same organizations answering alike: the change is exact and its panel SE far below
    /// the independent one.
    #[test]
    fn correlated_answers_shrink_the_se() {
        let keys = ["a", "b", "c", "d"];
        let w = [1.0; 4];
        let st = stack(Round::plain(&keys, &w), Round::plain(&keys, &w)).unwrap();
        assert_eq!((st.overlap, st.organizations), (4, 4));
        let y = [1.0, 5.0, 2.0, 9.0, 2.0, 6.0, 3.0, 10.0];
        let c = st.mean_change(&y, None);
        assert!((c.difference - 1.0).abs() < 1e-12);
        assert!(c.se < 1e-12 && c.se_independent > 1.0, "{c:?}");
    }

    #[test]
    fn one_organization_is_an_error_not_a_panic() {
        assert!(stack(Round::plain(&["a"], &[1.0]), Round::plain(&["a"], &[1.0])).is_err());
    }

    /// Organizations of one cluster are one PSU, and a cluster of round A is joined to the
    /// round-B cluster of any organization it shares.
    #[test]
    fn clusters_linked_by_an_organization_are_one_psu() {
        let a = Round {
            clusters: Some(&["x", "x", "y", "z"]),
            ..Round::plain(&["o1", "o2", "o3", "o4"], &[1.0; 4])
        };
        let b = Round {
            clusters: Some(&["p", "p", "q"]),
            ..Round::plain(&["o2", "o5", "o4"], &[1.0; 3])
        };
        let st = stack(a, b).unwrap();
        // {o1, o2, o5} via x and p; {o3}; {o4} via z and q.
        assert_eq!((st.psus, st.organizations, st.overlap), (3, 5, 2));
        let psu = st.design.psu();
        assert_eq!(psu[0], psu[1]);
        assert_eq!(psu[0], psu[4 + 1]);
        assert_eq!(psu[3], psu[4 + 2]);
        assert_ne!(psu[2], psu[3]);
    }

    /// Each round's FPC scales its own part: the same organizations answering twice with the
    /// same f give (1 − f) times the SE² without FPC, and rounds with no organization in common
    /// give the independent SE of the FPC-corrected rounds.
    #[test]
    fn fpc_scales_each_round() {
        let keys = ["a", "b", "c", "d", "e"];
        let w = [2.0; 5];
        let f = [0.75; 5];
        let y = [1.0, 4.0, 2.0, 8.0, 3.0, 2.0, 4.0, 4.0, 9.0, 1.0];
        let plain = stack(Round::plain(&keys, &w), Round::plain(&keys, &w)).unwrap();
        let with = |k| Round {
            fpc: Some(&f),
            ..Round::plain(k, &w)
        };
        let fpc = stack(with(&keys), with(&keys)).unwrap();
        let (p, q) = (plain.mean_change(&y, None), fpc.mean_change(&y, None));
        assert!(
            (q.se * q.se - 0.75 * p.se * p.se).abs() < 1e-12,
            "{p:?} {q:?}"
        );
        let other = ["f", "g", "h", "i", "j"];
        let apart = stack(with(&keys), Round::plain(&other, &w)).unwrap();
        let c = apart.mean_change(&y, None);
        assert!((c.se - c.se_independent).abs() < 1e-12, "{c:?}");
    }

    /// Strata are kept when every PSU lies in one, and dropped when an organization changed
    /// stratum between the rounds.
    #[test]
    fn strata_kept_only_when_psus_nest_in_them() {
        let keys = ["a", "b", "c", "d"];
        let w = [1.0; 4];
        let stable = ["s", "s", "t", "t"];
        let st = stack(
            Round {
                strata: Some(&stable),
                ..Round::plain(&keys, &w)
            },
            Round {
                strata: Some(&stable),
                ..Round::plain(&keys, &w)
            },
        )
        .unwrap();
        assert!(st.stratified);
        assert_eq!(st.design.n_strata(), 2);
        let moved = ["s", "t", "t", "t"];
        let st = stack(
            Round {
                strata: Some(&stable),
                ..Round::plain(&keys, &w)
            },
            Round {
                strata: Some(&moved),
                ..Round::plain(&keys, &w)
            },
        )
        .unwrap();
        assert!(!st.stratified);
    }

    /// Each round's post-stratification residualizes its own scores: with no organization in
    /// both rounds the panel SE is still the independent one, and a mean that is constant
    /// within the post-strata has SE 0 (the calibration explains all of it).
    #[test]
    fn each_round_keeps_its_calibration() {
        let before = [2.0, 2.0, 2.0, 2.0];
        let cells = vec![0, 0, 1, 1];
        let after =
            crate::kernels::calibration::poststratify(&before, &cells, &[6.0, 10.0]).unwrap();
        let cal = || Calibration::PostStrat {
            cells: cells.clone(),
            n_cells: 2,
            before: before.to_vec(),
            after: after.clone(),
        };
        let round = |keys: &'static [&'static str]| Round {
            calibration: cal(),
            ..Round::plain(keys, &after)
        };
        let st = stack(round(&["a", "b", "c", "d"]), round(&["e", "f", "g", "h"])).unwrap();
        let y = [1.0, 1.0, 5.0, 5.0, 2.0, 2.0, 4.0, 4.0];
        let c = st.mean_change(&y, None);
        assert!(
            c.se.abs() < 1e-12 && c.se_independent.abs() < 1e-12,
            "{c:?}"
        );
        let y = [1.0, 2.0, 5.0, 3.0, 2.0, 7.0, 4.0, 1.0];
        let c = st.mean_change(&y, None);
        assert!(
            (c.se - c.se_independent).abs() < 1e-12 && c.se > 0.1,
            "{c:?}"
        );
    }
}

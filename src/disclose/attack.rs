//! The attacker's linear programs: how far can a withheld number be narrowed from the published
//! ones? The published tables give linear equations among the withheld cells (segment levels add
//! up to their variable's total, crosses to their margins, bins to their segment, a published
//! share ties its numerator to its denominator) and bounds (counts and weights are ≥ 0; a total
//! of a bounded variable lies between its minimum and maximum times the weight). The feasible
//! values of one cell are then an interval whose ends are two linear programs (sdcTable's
//! `attack()`, τ-ARGUS' audit); for a withheld mean or share, a ratio of two cells, the ends are
//! linear-fractional programs, solved as LPs by the Charnes–Cooper transformation.
//!
//! The programs are solved with good_lp's pure-Rust `microlp` backend, each on the connected part
//! of the constraints that reaches the cell (union–find), so one withheld cell's audit does not
//! carry the whole round.

use good_lp::{
    microlp, variable, Expression, ProblemVariables, ResolutionError, Solution, SolverModel,
};

enum Optimum {
    Found(f64, Vec<f64>),
    Unbounded,
    Failed,
}

/// `Σ aᵢ xᵢ = rhs` or `Σ aᵢ xᵢ ≥ rhs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sense {
    Eq,
    Ge,
}

#[derive(Clone, Debug)]
pub struct Constraint {
    pub terms: Vec<(usize, f64)>,
    pub sense: Sense,
    pub rhs: f64,
}

/// Unknowns with bounds and the linear constraints among them: what an attacker knows.
#[derive(Clone, Debug, Default)]
pub struct Polytope {
    lower: Vec<f64>,
    upper: Vec<f64>,
    constraints: Vec<Constraint>,
    /// Union–find parent of each unknown (components of the constraint graph).
    parent: Vec<usize>,
    /// Constraints of each component root, filled by [`Polytope::index`].
    by_root: std::collections::BTreeMap<usize, Vec<usize>>,
    indexed: bool,
}

/// Relative slack given to equations: published values are sums of floating-point numbers, so a
/// relation that holds exactly in the reals may miss by an ulp or two.
const SLACK: f64 = 1e-9;

impl Polytope {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new unknown with bounds (±∞ allowed).
    pub fn var(&mut self, lower: f64, upper: f64) -> usize {
        self.lower.push(lower);
        self.upper.push(upper);
        self.parent.push(self.parent.len());
        self.indexed = false;
        self.lower.len() - 1
    }

    pub fn len(&self) -> usize {
        self.lower.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Add `Σ terms (sense) rhs`. Terms on no unknown are dropped; a constraint left with no
    /// unknown says nothing about them.
    pub fn add(&mut self, terms: Vec<(usize, f64)>, sense: Sense, rhs: f64) {
        let terms: Vec<(usize, f64)> = terms.into_iter().filter(|t| t.1 != 0.0).collect();
        if terms.is_empty() {
            return;
        }
        // A constraint on one unknown is a bound (with the equations' slack).
        if let [(j, a)] = terms[..] {
            let x = rhs / a;
            let tol = SLACK * rhs.abs().max(a.abs()).max(1.0) / a.abs();
            let (ge, le) = match (sense, a > 0.0) {
                (Sense::Eq, _) => (true, true),
                (Sense::Ge, true) => (true, false),
                (Sense::Ge, false) => (false, true),
            };
            if ge {
                self.lower[j] = self.lower[j].max(x - tol);
            }
            if le {
                self.upper[j] = self.upper[j].min(x + tol);
            }
            if self.lower[j] > self.upper[j] {
                // Numerically crossed bounds of a feasible point: meet in the middle.
                let mid = 0.5 * (self.lower[j] + self.upper[j]);
                self.lower[j] = mid;
                self.upper[j] = mid;
            }
            return;
        }
        for w in terms.windows(2) {
            self.union(w[0].0, w[1].0);
        }
        self.constraints.push(Constraint { terms, sense, rhs });
        self.indexed = false;
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }

    fn index(&mut self) {
        if self.indexed {
            return;
        }
        self.by_root.clear();
        for k in 0..self.constraints.len() {
            let r = self.find(self.constraints[k].terms[0].0);
            self.by_root.entry(r).or_default().push(k);
        }
        self.indexed = true;
    }

    /// The unknowns connected to `k` through constraints (including `k`).
    pub fn component(&mut self, k: usize) -> Vec<usize> {
        let r = self.find(k);
        (0..self.len()).filter(|&j| self.find(j) == r).collect()
    }

    /// Minimum and maximum of unknown `k`; `None` when a program cannot be solved (the caller
    /// then assumes the worst: the value is known).
    pub fn range(&mut self, k: usize) -> Option<(f64, f64)> {
        let lo = self.optimise(&[(k, 1.0)], None, false)?;
        let hi = self.optimise(&[(k, 1.0)], None, true)?;
        Some((lo, hi))
    }

    /// Minimum and maximum of `x_num / x_den` over the feasible points with `x_den > 0`
    /// (Charnes–Cooper: y = t·x with t = 1 / x_den turns the ratio into a linear objective).
    pub fn ratio_range(&mut self, num: usize, den: usize) -> Option<(f64, f64)> {
        let lo = self.optimise(&[(num, 1.0)], Some(den), false)?;
        let hi = self.optimise(&[(num, 1.0)], Some(den), true)?;
        Some((lo, hi))
    }

    /// Optimise `objective` (or `objective / x_den` with `ratio_den`) over the component of its
    /// first unknown (and of the denominator).
    fn optimise(
        &mut self,
        objective: &[(usize, f64)],
        ratio_den: Option<usize>,
        max: bool,
    ) -> Option<f64> {
        match self.optimum(objective, ratio_den, max) {
            Optimum::Found(v, _) => Some(v),
            Optimum::Unbounded => Some(if max {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            }),
            Optimum::Failed => None,
        }
    }

    /// A feasible point maximising (or minimising) `objective`, every unknown's value (NaN
    /// outside the objective's components); `None` when unbounded or not solved.
    pub fn extreme_point(&mut self, objective: &[(usize, f64)], max: bool) -> Option<Vec<f64>> {
        match self.optimum(objective, None, max) {
            Optimum::Found(_, x) => Some(x),
            _ => None,
        }
    }

    fn optimum(
        &mut self,
        objective: &[(usize, f64)],
        ratio_den: Option<usize>,
        max: bool,
    ) -> Optimum {
        self.index();
        let mut roots: Vec<usize> = objective.iter().map(|t| t.0).chain(ratio_den).collect();
        for r in &mut roots {
            *r = self.find(*r);
        }
        roots.sort_unstable();
        roots.dedup();
        let members: Vec<usize> = (0..self.len())
            .filter(|&j| roots.contains(&self.find(j)))
            .collect();
        let cons: Vec<usize> = roots
            .iter()
            .flat_map(|r| self.by_root.get(r).cloned().unwrap_or_default())
            .collect();
        for attempt in [0.0, SLACK, 1e-6] {
            match self.solve(&members, &cons, objective, ratio_den, max, attempt) {
                Ok((v, x)) => return Optimum::Found(v, x),
                Err(ResolutionError::Unbounded) => return Optimum::Unbounded,
                Err(_) => continue,
            }
        }
        Optimum::Failed
    }

    fn solve(
        &self,
        members: &[usize],
        cons: &[usize],
        objective: &[(usize, f64)],
        ratio_den: Option<usize>,
        max: bool,
        slack: f64,
    ) -> Result<(f64, Vec<f64>), ResolutionError> {
        let mut vars = ProblemVariables::new();
        let mut local = std::collections::BTreeMap::new();
        // Charnes–Cooper scales every unknown by t ≥ 0: bounds become l·t ≤ y ≤ u·t and
        // right-hand sides b·t, so the bounds are constraints rather than variable limits.
        let t = ratio_den.map(|_| vars.add(variable().min(0.0)));
        for &j in members {
            let v = if t.is_some() {
                vars.add(variable())
            } else {
                let mut def = variable();
                if self.lower[j].is_finite() {
                    def = def.min(self.lower[j]);
                }
                if self.upper[j].is_finite() {
                    def = def.max(self.upper[j]);
                }
                vars.add(def)
            };
            local.insert(j, v);
        }
        let mut obj = Expression::from(0.0);
        for &(j, a) in objective {
            obj += a * local[&j];
        }
        let mut lp = if max {
            vars.maximise(obj.clone()).using(microlp)
        } else {
            vars.minimise(obj.clone()).using(microlp)
        };
        let rhs_of = |b: f64| -> Expression {
            match t {
                Some(t) => b * t,
                None => Expression::from(b),
            }
        };
        if let Some(t) = t {
            for &j in members {
                let y = local[&j];
                if self.lower[j].is_finite() {
                    lp = lp.with((Expression::from(y) - self.lower[j] * t).geq(0.0));
                }
                if self.upper[j].is_finite() {
                    lp = lp.with((Expression::from(y) - self.upper[j] * t).leq(0.0));
                }
            }
            let den = ratio_den
                .map(|d| local[&d])
                .expect("ratio has a denominator");
            lp = lp.with(Expression::from(den).eq(1.0));
        }
        for &k in cons {
            let c = &self.constraints[k];
            let mut e = Expression::from(0.0);
            let mut scale = c.rhs.abs();
            for &(j, a) in &c.terms {
                e += a * local[&j];
                scale = scale.max(a.abs());
            }
            let tol = slack * scale.max(1.0);
            match c.sense {
                Sense::Ge => lp = lp.with((e - rhs_of(c.rhs - tol)).geq(0.0)),
                // First as an equation (the solver's own tolerance absorbs rounding); a
                // program found infeasible is solved again with a band of `slack`.
                Sense::Eq if slack == 0.0 => lp = lp.with((e - rhs_of(c.rhs)).eq(0.0)),
                Sense::Eq => {
                    lp = lp.with((e.clone() - rhs_of(c.rhs - tol)).geq(0.0));
                    lp = lp.with((e - rhs_of(c.rhs + tol)).leq(0.0));
                }
            }
        }
        let sol = lp.solve()?;
        let mut x = vec![f64::NAN; self.len()];
        let scale = t.map_or(1.0, |t| sol.value(t));
        for (&j, &v) in &local {
            x[j] = if t.is_some() && scale > 0.0 {
                sol.value(v) / scale
            } else {
                sol.value(v)
            };
        }
        let value = objective
            .iter()
            .map(|&(j, a)| a * sol.value(local[&j]))
            .sum();
        Ok((value, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of unknown interior cells with published margins: cell (i, j) is variable
    /// `i * cols + j`, all ≥ 0.
    fn table(rows: &[f64], cols: &[f64], known: &[(usize, usize, f64)]) -> Polytope {
        let (r, c) = (rows.len(), cols.len());
        let mut p = Polytope::new();
        for _ in 0..r * c {
            p.var(0.0, f64::INFINITY);
        }
        for (i, &total) in rows.iter().enumerate() {
            p.add((0..c).map(|j| (i * c + j, 1.0)).collect(), Sense::Eq, total);
        }
        for (j, &total) in cols.iter().enumerate() {
            p.add((0..r).map(|i| (i * c + j, 1.0)).collect(), Sense::Eq, total);
        }
        for &(i, j, v) in known {
            p.add(vec![(i * c + j, 1.0)], Sense::Eq, v);
        }
        p
    }

    fn close(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6
    }

    #[test]
    fn two_by_two_with_margins() {
        // | a b | 10      a ∈ [max(0, 10−12), min(10, 8)] = [0, 8]; d = 12 − b = a + 2.
        // | c d | 10
        //   8  12
        let mut p = table(&[10.0, 10.0], &[8.0, 12.0], &[]);
        assert!(close(p.range(0).unwrap(), (0.0, 8.0)));
        assert!(close(p.range(1).unwrap(), (2.0, 10.0)));
        assert!(close(p.range(3).unwrap(), (2.0, 10.0)));
        // Publishing one interior cell pins all four: the classic single-suppression leak.
        let mut p = table(&[10.0, 10.0], &[8.0, 12.0], &[(1, 1, 7.0)]);
        assert!(close(p.range(0).unwrap(), (5.0, 5.0)));
    }

    #[test]
    fn three_by_three_with_margins() {
        // Interior (true values)       Published: all margins and every cell but the four
        //  3 | 5 | 2 | 10               corners of rows 0–1 × columns 0–1 (a "cycle"):
        //  4 | 1 | 6 | 11               a = x₀₀ ∈ [0, 4] since x₀₀ + x₀₁ = 8, x₀₀ + x₁₀ = 7,
        //  2 | 7 | 1 | 10               x₁₀ + x₁₁ = 5 ⇒ x₀₀ = x₁₁ + 2 … bounded by x₁₁ ≤ 5 and x₀₁ ≥ 0.
        //  9  13   9
        let known = [
            (0, 2, 2.0),
            (1, 2, 6.0),
            (2, 0, 2.0),
            (2, 1, 7.0),
            (2, 2, 1.0),
        ];
        let mut p = table(&[10.0, 11.0, 10.0], &[9.0, 13.0, 9.0], &known);
        // Row 0: x00 + x01 = 8; row 1: x10 + x11 = 5; col 0: x00 + x10 = 7; col 1: x01 + x11 = 6.
        // x00 = 7 − x10, x10 ∈ [0, 5] ⇒ x00 ∈ [2, 7]; x01 = 8 − x00 ∈ [1, 6] (≤ 6 from col 1).
        assert!(close(p.range(0).unwrap(), (2.0, 7.0)));
        assert!(close(p.range(1).unwrap(), (1.0, 6.0)));
        assert!(close(p.range(3).unwrap(), (0.0, 5.0)));
        assert!(close(p.range(4).unwrap(), (0.0, 5.0)));
        // A cell not linked to anything unknown is what it is.
        assert!(close(p.range(8).unwrap(), (1.0, 1.0)));
        // Hiding x02 alone changes nothing (column 2 gives it back: 9 − 6 − 1 = 2) …
        let known = [(1, 2, 6.0), (2, 0, 2.0), (2, 1, 7.0), (2, 2, 1.0)];
        let mut p = table(&[10.0, 11.0, 10.0], &[9.0, 13.0, 9.0], &known);
        assert!(close(p.range(0).unwrap(), (2.0, 7.0)));
        // … hiding x02 and x12 frees x00 down to 0 (x10 = 7, x12 = s, x11 = 4 − s, x01 = 2 + s,
        // x02 = 8 − s for s in [0, 4]); its column still caps it at 7.
        let known = [(2, 0, 2.0), (2, 1, 7.0), (2, 2, 1.0)];
        let mut p = table(&[10.0, 11.0, 10.0], &[9.0, 13.0, 9.0], &known);
        assert!(close(p.range(0).unwrap(), (0.0, 7.0)));
    }

    #[test]
    fn ratio_of_two_cells() {
        // Two segments' weighted totals y₁ + y₂ = 120 and weights w₁ + w₂ = 4, w₁ = 1, the
        // variable in [0, 100]: y₁ ∈ [20, 100] (y₂ ≤ 300 is slack, y₂ ≥ 0 ⇒ y₁ ≤ 120, y₁ ≤ 100).
        let mut p = Polytope::new();
        let (y1, y2, w1, w2) = (
            p.var(0.0, f64::INFINITY),
            p.var(0.0, f64::INFINITY),
            p.var(0.0, f64::INFINITY),
            p.var(0.0, f64::INFINITY),
        );
        p.add(vec![(y1, 1.0), (y2, 1.0)], Sense::Eq, 120.0);
        p.add(vec![(w1, 1.0), (w2, 1.0)], Sense::Eq, 4.0);
        p.add(vec![(w1, 1.0)], Sense::Eq, 1.0);
        for (y, w) in [(y1, w1), (y2, w2)] {
            p.add(vec![(y, 1.0)], Sense::Ge, 0.0);
            p.add(vec![(w, 100.0), (y, -1.0)], Sense::Ge, 0.0);
        }
        // mean₁ = y₁ / 1 ∈ [0, 100]: y₂ = 120 − y₁ ≤ 300 always, so y₁ can be 0 … 100.
        assert!(close(p.ratio_range(y1, w1).unwrap(), (0.0, 100.0)));
        // mean₂ = (120 − y₁) / 3 ∈ [20/3, 40].
        assert!(close(p.ratio_range(y2, w2).unwrap(), (20.0 / 3.0, 40.0)));
    }

    #[test]
    fn unbounded_and_free_cells() {
        let mut p = Polytope::new();
        let a = p.var(0.0, f64::INFINITY);
        let b = p.var(0.0, f64::INFINITY);
        p.add(vec![(a, 1.0), (b, -1.0)], Sense::Eq, 0.0);
        let (lo, hi) = p.range(a).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi.is_infinite());
        assert_eq!(p.component(a), vec![a, b]);
    }
}

//! Weight trimming with R's `trimWeights` semantics (methods.md §7): weights outside absolute
//! bounds are clipped, and the net amount trimmed is shared equally (additively) among the units
//! that were not clipped, so the total is preserved. Non-strict trimming is one pass (the
//! redistribution can push weights back over a bound); strict trimming repeats until none is.

/// The result of trimming.
#[derive(Debug, Clone, PartialEq)]
pub struct TrimFit {
    pub weights: Vec<f64>,
    /// Units outside the bounds before trimming.
    pub n_trimmed: usize,
    /// Units still outside the bounds afterwards (non-strict trimming only).
    pub n_outside_after: usize,
    /// Trimming passes run (1 unless strict).
    pub passes: usize,
}

/// Passes strict trimming may take before giving up (R recurses without a limit).
const MAX_STRICT_PASSES: usize = 10_000;

/// One `trimWeights` pass; returns whether any weight was outside.
fn trim_pass(w: &mut [f64], lower: f64, upper: f64) -> bool {
    let outside: Vec<bool> = w.iter().map(|&x| x < lower || x > upper).collect();
    if !outside.iter().any(|o| *o) {
        return false;
    }
    let above: f64 = super::sum(w.iter().filter(|&&x| x > upper).map(|&x| x - upper));
    let below: f64 = super::sum(w.iter().filter(|&&x| x < lower).map(|&x| lower - x));
    let excess = above - below;
    let inside = outside.iter().filter(|o| !**o).count();
    for (x, out) in w.iter_mut().zip(&outside) {
        if *x > upper {
            *x = upper;
        } else if *x < lower {
            *x = lower;
        } else if !out && inside > 0 {
            *x += excess / inside as f64;
        }
    }
    true
}

/// Trim `w` to `[lower, upper]` (absolute weight values).
pub fn trim_weights(w: &[f64], lower: f64, upper: f64, strict: bool) -> TrimFit {
    let mut weights = w.to_vec();
    let n_trimmed = w.iter().filter(|&&x| x < lower || x > upper).count();
    let mut passes = 0;
    while trim_pass(&mut weights, lower, upper) {
        passes += 1;
        if !strict || passes >= MAX_STRICT_PASSES {
            break;
        }
    }
    let n_outside_after = weights.iter().filter(|&&x| x < lower || x > upper).count();
    TrimFit {
        weights,
        n_trimmed,
        n_outside_after,
        passes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_amount_is_shared_equally_and_the_total_kept() {
        let fit = trim_weights(&[1.0, 1.0, 10.0], 0.0, 4.0, false);
        assert_eq!(fit.weights, vec![4.0, 4.0, 4.0]);
        assert_eq!((fit.n_trimmed, fit.n_outside_after, fit.passes), (1, 0, 1));
        // Non-strict: redistribution may overshoot the bound; strict repeats.
        let loose = trim_weights(&[3.5, 1.0, 1.0, 10.0], 0.0, 5.0, false);
        assert!((loose.weights[0] - (3.5 + 5.0 / 3.0)).abs() < 1e-12);
        assert_eq!(loose.n_outside_after, 1);
        let strict = trim_weights(&[3.5, 1.0, 1.0, 10.0], 0.0, 5.0, true);
        assert!(
            strict.weights.iter().all(|&x| x <= 5.0),
            "{:?}",
            strict.weights
        );
        assert!((strict.weights.iter().sum::<f64>() - 15.5).abs() < 1e-12);
        assert!(strict.passes > 1);
    }
}

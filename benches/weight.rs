//! Weighting benchmark (not a test): raking 1,000,000 respondents on three margins
//! (6 × 3 × 4 levels) to full convergence, and post-stratifying them on 18 cells.
//!
//!     cargo bench --bench weight
//!
//! Targets (issue 5): raking under 1 s, post-stratification under 0.2 s on the 2-core machine.

use std::time::Instant;

use supplyrisk::kernels::calibration::{poststratify, rake, Margin};

const N: usize = 1_000_000;

/// A deterministic generator (SplitMix64) so every run rakes the same data.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u32 {
        (self.next() % n) as u32
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn best_of<F: FnMut() -> String>(label: &str, repeats: usize, mut f: F) {
    let mut best = f64::INFINITY;
    let mut info = String::new();
    for _ in 0..repeats {
        let t = Instant::now();
        info = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{label}: best of {repeats}: {best:.3} s ({info})");
}

fn main() {
    let mut g = Mix(2024);
    // Subsector (6) skewed, size (3), region (4); base weights vary by a factor of 5.
    let a: Vec<u32> = (0..N)
        .map(|_| if g.unit() < 0.4 { 0 } else { 1 + g.below(5) })
        .collect();
    // Size depends on subsector and region on size, so the margins interact and raking needs
    // many passes (independent margins converge in two or three).
    let b: Vec<u32> = a
        .iter()
        .map(|&x| if g.unit() < 0.7 { x % 3 } else { g.below(3) })
        .collect();
    let c: Vec<u32> = b
        .iter()
        .map(|&x| if g.unit() < 0.6 { x } else { g.below(4) })
        .collect();
    let w: Vec<f64> = (0..N).map(|_| 1.0 + 4.0 * g.unit()).collect();
    let total = 2_500_000.0;
    let share = |s: &[f64]| {
        s.iter()
            .map(|x| x * total / s.iter().sum::<f64>())
            .collect::<Vec<f64>>()
    };
    let margins = vec![
        Margin {
            codes: a.clone(),
            targets: share(&[30.0, 12.0, 14.0, 8.0, 12.0, 4.0]),
        },
        Margin {
            codes: b.clone(),
            targets: share(&[121.0, 140.0, 139.0]),
        },
        Margin {
            codes: c,
            targets: share(&[18.0, 21.0, 38.0, 23.0]),
        },
    ];
    best_of("rake 1,000,000 × (6, 3, 4) to 1e-10", 3, || {
        let fit = rake(&w, &margins, 1e-10, 1000).expect("rake");
        format!(
            "{} passes, max relative margin error {:.1e}, converged {}",
            fit.passes, fit.max_rel_error, fit.converged
        )
    });
    let cells: Vec<u32> = a.iter().zip(&b).map(|(x, y)| x * 3 + y).collect();
    let cell_targets = share(&[
        45.0, 55.0, 50.0, 15.0, 20.0, 25.0, 20.0, 25.0, 25.0, 8.0, 12.0, 20.0, 25.0, 20.0, 15.0,
        8.0, 8.0, 4.0,
    ]);
    best_of("poststratify 1,000,000 on 18 cells", 5, || {
        let out = poststratify(&w, &cells, &cell_targets).expect("poststratify");
        format!("total {:.1}", out.iter().sum::<f64>())
    });
}

//! `run --timings` / `validate --timings`: each stage's wall time and peak memory, printed to
//! stderr as the stage ends — never written to an output, so outputs stay byte-identical.
//!
//! Peak memory per stage is the process's high-water mark (`VmHWM` in `/proc/self/status`),
//! reset at each stage's start by writing `5` to `/proc/self/clear_refs` (Linux ≥ 4.0). Where
//! the reset is refused or there is no `/proc`, the column is the peak so far, and says so.
//! Child processes (the workbook reader) are not counted.

use std::time::{Duration, Instant};

/// The stage clock of one run; a no-op unless switched on.
pub struct Timings {
    on: bool,
    start: Instant,
    last: Instant,
    /// Whether the high-water mark could be reset (else peaks are cumulative).
    resettable: bool,
    /// The largest stage peak seen, in KiB.
    peak: u64,
}

impl Timings {
    pub fn new(on: bool) -> Self {
        let now = Instant::now();
        let resettable = on && reset_peak();
        if on {
            eprintln!(
                "{:<26} {:>9}  {}",
                "stage",
                "wall",
                if resettable {
                    "peak RSS in the stage"
                } else {
                    "peak RSS so far"
                }
            );
        }
        Timings {
            on,
            start: now,
            last: now,
            resettable,
            peak: 0,
        }
    }

    /// The stage named `name` has just ended: print its time and peak, start the next.
    pub fn stage(&mut self, name: &str) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        let peak = peak_kib();
        if let Some(p) = peak {
            self.peak = self.peak.max(p);
        }
        eprintln!(
            "{name:<26} {:>9}  {}",
            seconds(now - self.last),
            peak.map_or_else(|| "–".to_string(), mib)
        );
        if self.resettable {
            reset_peak();
        }
        self.last = Instant::now();
    }

    /// Work named `name` that ran on another thread beside the stages, for `took`: printed
    /// now (when it was waited for), without ending the current stage.
    pub fn beside(&mut self, name: &str, took: Duration) {
        if self.on {
            eprintln!(
                "{:<26} {:>9}  (beside the stages above)",
                name,
                seconds(took)
            );
        }
    }

    /// The whole run: its time and the largest peak of any stage.
    pub fn finish(&mut self) {
        if !self.on {
            return;
        }
        if let Some(p) = peak_kib() {
            self.peak = self.peak.max(p);
        }
        eprintln!(
            "{:<26} {:>9}  {}",
            "total",
            seconds(self.start.elapsed()),
            if self.peak > 0 {
                mib(self.peak)
            } else {
                "–".to_string()
            }
        );
        self.on = false;
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `VmHWM` of this process, in KiB.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reset the high-water mark to the current RSS; false when the system refuses.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_s_peak_is_its_own_once_the_mark_is_reset() {
        // The high-water mark is the whole process's, which other tests' threads move (one
        // frees what this one's 64 MiB then reuses): the check runs in a process of its own,
        // this test binary running this test alone.
        const CHILD: &str = "SUPPLYRISK_PEAK_TEST_ALONE";
        if std::env::var_os(CHILD).is_none() {
            let name = "timings::tests::a_stage_s_peak_is_its_own_once_the_mark_is_reset";
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--test-threads=1"])
                .env(CHILD, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stdout}");
            assert!(stdout.contains("1 passed"), "{stdout}");
            return;
        }
        if !reset_peak() {
            return; // no /proc or no reset here: the output says "so far"
        }
        let before = peak_kib().unwrap();
        // 64 MiB touched, then dropped: the peak rises by about that much…
        let big = vec![1u8; 64 << 20];
        assert!(big.iter().step_by(4096).all(|&b| b == 1));
        let high = peak_kib().unwrap();
        drop(big);
        assert!(high >= before + (60 << 10), "{before} → {high} KiB");
        // …and after a reset it is back near the current RSS.
        assert!(reset_peak());
        assert!(peak_kib().unwrap() + (32 << 10) < high);
    }
}

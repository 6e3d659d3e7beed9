//! A small builder for driving the `supplyrisk` binary in tests: a scratch directory per test,
//! arguments, and assertions on the exit code and output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// A scratch directory under cargo's per-target temporary folder, removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("it-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        ScratchDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One invocation of the binary, run in its own scratch directory.
pub struct TestRun {
    pub dir: ScratchDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl TestRun {
    pub fn new() -> Self {
        TestRun {
            dir: ScratchDir::new(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Copy a committed example round into the scratch directory under `name`.
    pub fn with_example(self, example: &str, name: &str) -> Self {
        copy_dir(&repo().join("surveys").join(example), &self.path(name));
        self
    }

    /// Set an environment variable for the invocation.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn write(self, rel: &str, contents: &str) -> Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    /// A new invocation in the same scratch directory.
    pub fn again(self) -> Self {
        TestRun {
            dir: self.dir,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn run(&self) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_supplyrisk"))
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .output()
            .expect("run supplyrisk");
        let code = out.status.code().unwrap_or(-1);
        // 0, 1 and 2 are the documented outcomes; 3 is a bug in supplyrisk, 101 a panic that
        // escaped the hook, -1 a signal (an abort).
        assert!(
            (0..=2).contains(&code),
            "supplyrisk exited {code} (a crash or a bug):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Output {
            code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The bundled example-2024 round copied to `r/` and run into `out/` (exit 0).
pub fn example_run() -> TestRun {
    let t = TestRun::new()
        .with_example("example-2024", "r")
        .args(["run", "r", "--out", "out", "-q"]);
    t.run().expect_code(0);
    t
}

/// The two bundled rounds run in order: `out-a` from example-2023, then `out-b` from
/// example-2024 with `--previous out-a` (the round-over-round chart, table and findings).
pub fn two_example_rounds() -> TestRun {
    let t = TestRun::new()
        .with_example("example-2023", "a")
        .with_example("example-2024", "b")
        .args(["run", "a", "--out", "out-a", "-q"]);
    t.run().expect_code(0);
    let t = t
        .again()
        .args(["run", "b", "--out", "out-b", "-q", "--previous", "out-a"]);
    t.run().expect_code(0);
    t
}

/// example-2024 copied to `r/` with its Qualtrics export as the only source (the Forms
/// workbook's `[[sources]]` entry dropped), for tests that edit the responses as text.
pub fn example_qualtrics_only() -> TestRun {
    let t = TestRun::new().with_example("example-2024", "r");
    let spec_path = t.path("r/survey.toml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let forms =
        "[[sources]]\npath = \"responses_forms.xlsx\"\nlayout = \"msforms\"\nsheet = \"Sheet1\"\n";
    assert!(spec.contains(forms), "the example reads a Forms workbook");
    std::fs::write(&spec_path, spec.replacen(forms, "", 1)).unwrap();
    t
}

/// A round made by `supplyrisk synth --seed S --rows N` into `r/`.
pub fn synth_round(seed: u64, rows: usize) -> TestRun {
    let t = TestRun::new().args([
        "synth",
        "-q",
        "--seed",
        &seed.to_string(),
        "--rows",
        &rows.to_string(),
        "--out",
        "r",
    ]);
    t.run().expect_code(0);
    t
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Files under a directory, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(d: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Read a CSV into header + rows of strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (headers, rows)
}

/// A small deterministic generator (SplitMix64) for test case parameters: the same seed gives
/// the same cases on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

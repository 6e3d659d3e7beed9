//! A mutation fuzzer on stable Rust, through the binary: seed files (tests/fuzz/seeds.txt —
//! every layout, encoding and workbook format the readers support) are mutated (byte flips,
//! truncation, duplicated and deleted lines, quotes and delimiters, invalid UTF-8, NUL bytes,
//! enormous values; for workbooks also zip members corrupted, dropped or given huge declared
//! sizes) and fed to `supplyrisk inspect`, and every tenth mutant to a whole `supplyrisk run`
//! of the example round in place of its source. A mutant passes when the process exits 0, 1 or 2
//! within the time limit; anything else (exit 3 = a bug, 101 = an escaped panic, a signal = an
//! abort, a timeout) is saved under `target/fuzz-crashes/` and fails the test.
//!
//! Knobs: `SUPPLYRISK_FUZZ_SECONDS` (default 45), `SUPPLYRISK_FUZZ_READER` (`text`, `workbook`
//! or `all`), `SUPPLYRISK_FUZZ_SEED`. docs/reliability.md records the by-hand hours. Crashes
//! found are minimised by hand into `tests/fixtures/fuzz/`, which
//! `fuzz_regressions_exit_cleanly` replays.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{copy_dir, repo, Rng};

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seeds() -> Vec<PathBuf> {
    let list = std::fs::read_to_string(repo().join("tests/fuzz/seeds.txt")).unwrap();
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| repo().join(l))
        .collect()
}

fn is_workbook(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("xlsx" | "xlsm" | "xlsb" | "xls" | "ods")
    )
}

/// Byte-level damage: what downloads, mail gateways, editors and hand edits do to a file.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut Rng) {
    let len = b.len().max(1);
    match rng.below(10) {
        0 => {
            for _ in 0..1 + rng.below(16) {
                let i = rng.below(b.len());
                if let Some(x) = b.get_mut(i) {
                    *x = rng.next() as u8;
                }
            }
        }
        1 => b.truncate(rng.below(len)),
        2 | 3 => {
            // Duplicate or delete a line.
            let lines: Vec<usize> = (0..b.len()).filter(|&i| b[i] == b'\n').collect();
            if lines.len() >= 2 {
                let k = rng.below(lines.len() - 1);
                let (s, e) = (lines[k] + 1, lines[k + 1] + 1);
                let line = b[s..e].to_vec();
                if rng.below(2) == 0 {
                    b.splice(s..s, line);
                } else {
                    b.drain(s..e);
                }
            }
        }
        4 => {
            let junk: &[&[u8]] = &[b"\"", b",", b";", b"\t", b"\r\n", b"\"\"", b"\n,,,\n", b"|"];
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(b.len() + 1);
                let j = junk[rng.below(junk.len())];
                b.splice(at..at, j.iter().copied());
            }
        }
        5 => {
            let bad: &[&[u8]] = &[b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80"];
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len() + 1);
                let j = bad[rng.below(bad.len())];
                b.splice(at..at, j.iter().copied());
            }
        }
        6 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(b.len() + 1);
                b.insert(at, 0);
            }
        }
        7 => {
            // An enormous value: a megabyte of one character, or deeply nested quotes.
            let at = rng.below(b.len() + 1);
            let big: Vec<u8> = if rng.below(2) == 0 {
                vec![b'A'; 1 << 20]
            } else {
                std::iter::repeat_n(b"\"\"".iter().copied(), 1 << 16)
                    .flatten()
                    .collect()
            };
            b.splice(at..at, big);
        }
        8 => {
            // A BOM or a second one in the middle.
            let at = if rng.below(2) == 0 {
                0
            } else {
                rng.below(b.len() + 1)
            };
            b.splice(at..at, [0xEF, 0xBB, 0xBF]);
        }
        _ => {
            let i = rng.below(b.len());
            let j = rng.below(b.len());
            if i < b.len() && j < b.len() {
                b.swap(i, j);
            }
        }
    }
}

/// Declarations a hostile workbook part may carry.
const HUGE: &[(&[u8], &[u8])] = &[
    (b"uniqueCount=\"", b"uniqueCount=\"4294967295\" x=\""),
    (b"count=\"", b"count=\"999999999999\" y=\""),
    (
        b"<dimension ref=\"",
        b"<dimension ref=\"A1:XFD1048576\" z=\"",
    ),
    (b"<row r=\"", b"<row r=\"1048576\" q=\""),
    (b"<c r=\"", b"<c r=\"XFD1048576\" q=\""),
    (b"<v>", b"<v>-2E+11</v><v>"),
    (b"<t>", b"<t>=HYPERLINK(\"x\")</t><t>"),
];

/// Zip-level damage: one member's XML mutated (declared sizes made huge, bytes damaged), a
/// member dropped, or the archive's own bytes damaged.
fn mutate_zip(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let Ok(mut zin) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        let mut b = bytes.to_vec();
        mutate_bytes(&mut b, rng);
        return b;
    };
    if rng.below(5) == 0 {
        let mut b = bytes.to_vec();
        mutate_bytes(&mut b, rng);
        return b;
    }
    let n = zin.len();
    let victim = rng.below(n);
    let drop = rng.below(8) == 0;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..n {
        let Ok(mut f) = zin.by_index(i) else { continue };
        let Ok(name) = f.name().map(|n| n.to_string()) else {
            continue;
        };
        let mut data = Vec::new();
        if f.read_to_end(&mut data).is_err() {
            continue;
        }
        if i == victim {
            if drop {
                continue;
            }
            if rng.below(2) == 0 {
                let (from, to) = HUGE[rng.below(HUGE.len())];
                if let Some(at) = data.windows(from.len()).position(|w| w == from) {
                    data.splice(at..at + from.len(), to.iter().copied());
                }
            } else {
                mutate_bytes(&mut data, rng);
            }
        }
        if out.start_file(name, opts).is_err() || out.write_all(&data).is_err() {
            return bytes.to_vec();
        }
    }
    out.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// One execution: exit code (`None` = killed by a signal or the time limit).
fn exec(args: &[&str], dir: &Path, limit: Duration) -> (Option<i32>, bool) {
    let Ok(mut child) = Command::new(env!("CARGO_BIN_EXE_supplyrisk"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return (None, false);
    };
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return (s.code(), false),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return (None, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => return (None, false),
        }
    }
}

/// Largest resident size of any child waited for so far, MiB (getrusage RUSAGE_CHILDREN).
fn children_peak_mib() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills the struct we own.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } == 0 {
            return ru.ru_maxrss as f64 / 1024.0;
        }
    }
    f64::NAN
}

#[test]
fn fuzz_inspect_and_run_time_boxed() {
    let seconds = env_num("SUPPLYRISK_FUZZ_SECONDS", 45);
    let reader = std::env::var("SUPPLYRISK_FUZZ_READER").unwrap_or_else(|_| "all".into());
    let mut rng = Rng(env_num("SUPPLYRISK_FUZZ_SEED", 15));
    let seeds: Vec<PathBuf> = seeds()
        .into_iter()
        .filter(|p| match reader.as_str() {
            "text" => !is_workbook(p),
            "workbook" => is_workbook(p),
            _ => true,
        })
        .collect();
    assert!(!seeds.is_empty(), "no seeds for reader `{reader}`");
    let work =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let crashes = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../fuzz-crashes");
    let round = work.join("round");
    copy_dir(&repo().join("surveys/example-2024"), &round);
    let pristine: Vec<(String, Vec<u8>)> = ["responses_qualtrics.csv", "responses_forms.xlsx"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read(round.join(n)).unwrap()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut codes, mut bad) = (0usize, [0usize; 3], Vec::new());
    let limit = Duration::from_secs(env_num("SUPPLYRISK_FUZZ_EXEC_TIMEOUT_S", 120));
    while Instant::now() < deadline {
        let seed = &seeds[rng.below(seeds.len())];
        let ext = seed
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("csv")
            .to_string();
        let original = std::fs::read(seed).unwrap();
        let mut bytes = if original.starts_with(b"PK") {
            mutate_zip(&original, &mut rng)
        } else {
            let mut b = original.clone();
            for _ in 0..1 + rng.below(3) {
                mutate_bytes(&mut b, &mut rng);
            }
            b
        };
        if bytes.is_empty() {
            bytes.push(b'x');
        }
        let whole_run = runs % 10 == 9;
        let (code, timed_out) = if whole_run {
            // Put the mutant in place of the source of the same kind.
            let target = if is_workbook(seed) {
                "responses_forms.xlsx"
            } else {
                "responses_qualtrics.csv"
            };
            for (n, b) in &pristine {
                std::fs::write(round.join(n), b).unwrap();
            }
            std::fs::write(round.join(target), &bytes).unwrap();
            let _ = std::fs::remove_dir_all(work.join("out"));
            exec(&["run", "-q", "round", "--out", "out"], &work, limit)
        } else {
            let name = format!("mutant.{ext}");
            std::fs::write(work.join(&name), &bytes).unwrap();
            exec(&["inspect", &name], &work, limit)
        };
        runs += 1;
        match code {
            Some(c @ 0..=2) => codes[c as usize] += 1,
            other => {
                std::fs::create_dir_all(&crashes).unwrap();
                let keep = crashes.join(format!(
                    "crash-{runs}-{}.{ext}",
                    if whole_run { "run" } else { "inspect" }
                ));
                std::fs::write(&keep, &bytes).unwrap();
                bad.push(format!(
                    "{} on a mutant of {} ({}): {}",
                    if whole_run { "run" } else { "inspect" },
                    seed.display(),
                    keep.display(),
                    if timed_out {
                        "timeout".to_string()
                    } else {
                        format!("exit {other:?}")
                    }
                ));
            }
        }
    }
    eprintln!(
        "fuzz ({reader}, {seconds} s): {runs} executions, exit 0: {}, exit 1: {}, exit 2: {}, crashes/timeouts: {}, peak RSS of any child: {:.0} MiB",
        codes[0],
        codes[1],
        codes[2],
        bad.len(),
        children_peak_mib()
    );
    let _ = std::fs::remove_dir_all(&work);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn fuzz_regressions_exit_cleanly() {
    // Every minimised crash the fuzzer found, replayed through inspect.
    let dir = repo().join("tests/fixtures/fuzz");
    let t = crate::util::TestRun::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::copy(&p, t.path(&name)).unwrap();
        let (code, _) = exec(&["inspect", &name], t.dir.path(), Duration::from_secs(120));
        assert!(matches!(code, Some(0..=2)), "{name}: {code:?}");
    }
}

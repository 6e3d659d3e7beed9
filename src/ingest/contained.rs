//! The workbook reader in a child process. calamine allocates from what a file declares and
//! may panic or abort on hostile bytes (an allocation failure aborts the whole process, which no
//! `catch_unwind` can stop). So the `supplyrisk` binary reads a workbook in a copy of itself
//! (`supplyrisk __read-workbook`, hidden) whose data segment is limited to
//! [`memory_limit_mib`] (`SUPPLYRISK_WORKBOOK_MEMORY_MB`, default 1024) and whose run is limited
//! to `SUPPLYRISK_WORKBOOK_TIMEOUT_S` seconds (default 600): the bytes go in on stdin, the
//! sheet's non-empty cells come back on stdout as JSON. Whatever happens in the child — a
//! panic, an abort, the memory limit, a timeout — the user gets exit 2 with the file named and
//! a sentence of advice. The library, when not running as the binary (unit tests, benches),
//! reads in-process.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::excel::{read_cells, SheetCells};
use crate::error::{Error, Result};

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "__read-workbook";

/// Default memory limit of the workbook reader, MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 1024;

/// Default time limit of the workbook reader, seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 600;

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// The reader's memory limit (MiB): `SUPPLYRISK_WORKBOOK_MEMORY_MB` or 1024.
pub fn memory_limit_mib() -> u64 {
    env_u64("SUPPLYRISK_WORKBOOK_MEMORY_MB", DEFAULT_MEMORY_MIB)
}

fn timeout() -> Duration {
    Duration::from_secs(env_u64("SUPPLYRISK_WORKBOOK_TIMEOUT_S", DEFAULT_TIMEOUT_S))
}

/// The executable to run the reader in: this process's, when it is the `supplyrisk` binary
/// (and `SUPPLYRISK_WORKBOOK_IN_PROCESS` is not set).
pub fn reader_exe() -> Option<PathBuf> {
    if std::env::var_os("SUPPLYRISK_WORKBOOK_IN_PROCESS").is_some() {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    (exe.file_stem()? == "supplyrisk").then_some(exe)
}

#[derive(Serialize, Deserialize)]
enum Reply {
    Cells {
        sheet: String,
        cells: Vec<(u32, u32, String)>,
        notes: Vec<String>,
    },
    Failed {
        location: String,
        message: String,
    },
}

/// Read `bytes` in a child process; its notes are appended to `notes`.
pub(crate) fn read_in_child(
    exe: &std::path::Path,
    bytes: &[u8],
    file: &str,
    sheet: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<SheetCells> {
    let limit = memory_limit_mib();
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND)
        .arg(file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(s) = sheet {
        cmd.arg(s);
    }
    let failed = |why: &str| {
        Error::input(
            file,
            format!("the workbook reader {why}; open the file in Excel or LibreOffice and save it again as .xlsx, or export the sheet as CSV"),
        )
    };
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(&format!("could not start ({e})")))?;
    let (mut stdin, mut stdout, mut stderr) =
        match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(i), Some(o), Some(e)) => (i, o, e),
            _ => return Err(failed("could not start (no pipes)")),
        };
    // The child's output is bounded by its memory limit; read a little more to notice excess.
    let cap = (limit + 64) << 20;
    let (reply, err_text, status) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            // A child that dies early closes the pipe: the write error is expected then.
            let _ = stdin.write_all(bytes);
        });
        let out = scope.spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut stdout).take(cap).read_to_end(&mut buf);
            buf
        });
        let err = scope.spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut stderr).take(64 << 10).read_to_end(&mut buf);
            buf
        });
        let deadline = Instant::now() + timeout();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break None,
            }
        };
        let _ = writer.join();
        (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
            status,
        )
    });
    let Some(status) = status else {
        return Err(failed(&format!(
            "did not finish within {} s (SUPPLYRISK_WORKBOOK_TIMEOUT_S raises the limit)",
            timeout().as_secs()
        )));
    };
    let err_text = String::from_utf8_lossy(&err_text);
    if !status.success() {
        if err_text.contains("memory allocation") {
            return Err(Error::input(
                file,
                format!(
                    "reading this workbook needs more than the {limit} MiB the workbook reader may use \
                     (it declares far more cells or strings than it is likely to hold, or it is very large). \
                     Open it in Excel or LibreOffice and save it again as .xlsx, or export the sheet as CSV; \
                     if it really holds that much data, raise the limit with SUPPLYRISK_WORKBOOK_MEMORY_MB"
                ),
            ));
        }
        return Err(failed(
            "failed on this file (it is corrupt or uses features the reader cannot handle)",
        ));
    }
    match serde_json::from_slice::<Reply>(&reply) {
        Ok(Reply::Cells {
            sheet,
            cells,
            notes: n,
        }) => {
            notes.extend(n);
            Ok(SheetCells { sheet, cells })
        }
        Ok(Reply::Failed { location, message }) => Err(Error::input(location, message)),
        Err(_) => Err(failed("returned no readable result")),
    }
}

/// Keep this process's resident size under `mib` MiB: its data segment (heap) is limited to
/// `mib` less 64 MiB for the program's own pages (at least half of `mib`), so an allocation
/// beyond it fails and the process aborts instead of exhausting the machine. (Measured on a
/// 1000 MiB sheet: peak RSS of the reader 1041 MiB with the heap alone at 1024 MiB.)
fn limit_memory(mib: u64) {
    #[cfg(unix)]
    {
        let heap = mib.saturating_sub(64).max(mib / 2);
        let bytes = heap.saturating_mul(1 << 20) as libc::rlim_t;
        let lim = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit reads the struct we pass and changes only this process's limits.
        unsafe {
            libc::setrlimit(libc::RLIMIT_DATA, &lim);
        }
    }
    #[cfg(not(unix))]
    let _ = mib;
}

/// The child: limit memory, read the workbook from stdin, write the reply to stdout.
pub fn child_main(file: &str, sheet: Option<&str>) -> u8 {
    limit_memory(memory_limit_mib());
    let mut bytes = Vec::new();
    if std::io::stdin().read_to_end(&mut bytes).is_err() {
        return 2;
    }
    let mut notes = Vec::new();
    let reply = match read_cells(&bytes, file, sheet, &mut notes) {
        Ok(c) => Reply::Cells {
            sheet: c.sheet,
            cells: c.cells,
            notes,
        },
        Err(Error::Input { location, message }) => Reply::Failed { location, message },
        Err(e) => Reply::Failed {
            location: file.to_string(),
            message: e.to_string(),
        },
    };
    drop(bytes);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    if serde_json::to_writer(&mut out, &reply).is_err() || out.flush().is_err() {
        return 2;
    }
    0
}

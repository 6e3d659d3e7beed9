//! Input paths. A round is a folder — the unit `manifest.json` and `verify` describe — so every
//! file a spec names (sources, population, alias table) must be inside it: an absolute path, a
//! `..` that leaves the folder, or a symbolic link pointing out of it is refused before anything
//! is read (and so no message can quote a file supplyrisk was not asked to read). Whatever is
//! read must be a regular file: a directory, named pipe (which would block a read forever),
//! device or socket gets a message saying what it is.

use std::path::{Component, Path, PathBuf};

/// Why `path` cannot be read as an input file, if it cannot: not found, a directory, a FIFO,
/// a device, a socket, a symbolic-link loop.
pub fn check_regular_file(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("file not found ({})", path.display()),
        _ if e.raw_os_error() == Some(40) => format!(
            "{} is a symbolic link that never reaches a file (a loop of links)",
            path.display()
        ),
        _ => format!("cannot open {}: {e}", path.display()),
    })?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    #[cfg(unix)]
    let special = {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            Some("a named pipe (FIFO)")
        } else if kind.is_block_device() || kind.is_char_device() {
            Some("a device")
        } else if kind.is_socket() {
            Some("a socket")
        } else {
            None
        }
    };
    #[cfg(not(unix))]
    let special: Option<&str> = None;
    let what = if kind.is_dir() {
        "a directory"
    } else {
        special.unwrap_or("not a regular file")
    };
    Err(format!(
        "{} is {what}, not a file; name a CSV or workbook file",
        path.display()
    ))
}

/// The file `written` (as the spec writes it) inside the round folder `dir`, or why it is not
/// one: absolute, leaving the folder by `..` or through a symbolic link, or not a regular file.
pub fn inside_round(dir: &Path, written: &str) -> Result<PathBuf, String> {
    let rel = Path::new(written);
    if written.trim().is_empty() {
        return Err("the path is empty".into());
    }
    if rel.is_absolute() || rel.has_root() {
        return Err(format!(
            "`{written}` is an absolute path; input files must be inside the round folder {}: copy the file there and write its name relative to the folder",
            dir.display()
        ));
    }
    if rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "`{written}` leaves the round folder (`..`); input files must be inside {}: copy the file there",
            dir.display()
        ));
    }
    let path = dir.join(rel);
    check_regular_file(&path)?;
    // A symbolic link (of the file or of a folder on the way) must not lead out of the round.
    if let (Ok(real), Ok(root)) = (path.canonicalize(), dir.canonicalize()) {
        if !real.starts_with(&root) {
            return Err(format!(
                "`{written}` is a symbolic link leading outside the round folder {}; copy the file into the folder instead",
                dir.display()
            ));
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_round_or_are_not_files_are_refused() {
        let tmp = std::env::temp_dir().join(format!("supplyrisk-paths-{}", std::process::id()));
        let round = tmp.join("round");
        std::fs::create_dir_all(round.join("sub")).unwrap();
        std::fs::write(round.join("a.csv"), "x\n1\n").unwrap();
        std::fs::write(tmp.join("outside.csv"), "secret\n").unwrap();
        assert_eq!(inside_round(&round, "a.csv"), Ok(round.join("a.csv")));
        let refused = |w: &str| inside_round(&round, w).unwrap_err();
        assert!(refused("/etc/passwd").contains("absolute path"));
        assert!(refused("../outside.csv").contains("leaves the round folder"));
        assert!(refused("sub/../../outside.csv").contains("leaves the round folder"));
        assert!(refused("sub").contains("is a directory"));
        assert!(refused("missing.csv").contains("file not found"));
        assert!(refused("").contains("empty"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.join("outside.csv"), round.join("link.csv")).unwrap();
            assert!(refused("link.csv").contains("symbolic link leading outside"));
            std::os::unix::fs::symlink(round.join("loop2"), round.join("loop1")).unwrap();
            std::os::unix::fs::symlink(round.join("loop1"), round.join("loop2")).unwrap();
            assert!(refused("loop1").contains("loop"), "{}", refused("loop1"));
            let fifo = round.join("pipe.csv");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if made.is_ok_and(|s| s.success()) {
                assert!(refused("pipe.csv").contains("named pipe"));
            }
            assert!(check_regular_file(Path::new("/dev/null"))
                .unwrap_err()
                .contains("a device"));
        }
        // No message quotes the contents of the file outside.
        for w in ["../outside.csv", "link.csv"] {
            assert!(!refused(w).contains("secret"));
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
}

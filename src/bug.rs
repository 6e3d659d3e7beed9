//! What happens when supplyrisk itself is wrong. User data never causes a panic: every problem
//! with it is an [`Error`](crate::error::Error) (exit 2). A panic is therefore a bug in
//! supplyrisk, and the binary reports it in one line — that it is a bug, what supplyrisk was
//! doing and on which file — then exits with [`EXIT_BUG`] (README: exit codes).
//!
//! Two helpers keep that line honest:
//! - [`doing`] records the current activity ("reading responses.xlsx") for the message;
//! - [`contained`] runs a dependency's code whose panics on hostile input are expected and
//!   handled (the caller turns them into an error naming the file): the panic hook stays silent
//!   for them, so a handled error prints only its message.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

/// Exit code after a bug in supplyrisk (a panic): not the user's data.
pub const EXIT_BUG: u8 = 3;

static ACTIVITY: Mutex<String> = Mutex::new(String::new());

thread_local! {
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
}

/// Run `f` with `what` as the activity a bug report names; the previous activity is restored
/// afterwards.
pub fn doing<T>(what: impl Into<String>, f: impl FnOnce() -> T) -> T {
    let previous = set_activity(what.into());
    let out = f();
    set_activity(previous);
    out
}

/// Set the activity a bug report names; returns the previous one.
pub fn set_activity(what: String) -> String {
    match ACTIVITY.lock() {
        Ok(mut a) => std::mem::replace(&mut *a, what),
        Err(_) => String::new(),
    }
}

fn activity() -> String {
    ACTIVITY.lock().map(|a| a.clone()).unwrap_or_default()
}

/// A dependency panicked inside [`contained`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked;

/// Run `f`, turning a panic inside it into `Err(Panicked)` without any output: for a
/// dependency's code that may panic on hostile input the caller reports as an error.
pub fn contained<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    CONTAINED.with(|c| c.set(c.get() + 1));
    let out = catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(c.get() - 1));
    out.map_err(|_| Panicked)
}

/// Install the panic hook: contained panics are silent; any other prints one line saying it is
/// a bug in supplyrisk, what it was doing, and where the panic happened.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        if CONTAINED.with(Cell::get) > 0 {
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let doing = activity();
        let doing = if doing.is_empty() {
            String::new()
        } else {
            format!(" while {doing}")
        };
        eprintln!(
            "supplyrisk: internal error — a bug in supplyrisk, not a problem with your data{doing}: \
             {message}{place}. Please report it with the command you ran (exit code {EXIT_BUG})."
        );
    }));
}

/// Run the command line with the hook installed; a panic anywhere becomes [`EXIT_BUG`].
pub fn run_main(f: impl FnOnce() -> u8) -> u8 {
    install_hook();
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(EXIT_BUG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_an_error_value() {
        assert_eq!(contained(|| 7), Ok(7));
        assert_eq!(
            contained(|| -> u8 { panic!("hostile bytes") }),
            Err(Panicked)
        );
        // Nesting keeps the count right.
        assert_eq!(contained(|| contained(|| 1).unwrap_or(0) + 1), Ok(2));
        assert_eq!(CONTAINED.with(Cell::get), 0);
    }

    #[test]
    fn a_panic_is_exit_code_3() {
        let before = activity();
        let code = doing("testing the bug path", || {
            catch_unwind(AssertUnwindSafe(|| -> u8 { panic!("a bug") })).unwrap_or(EXIT_BUG)
        });
        assert_eq!(code, EXIT_BUG);
        let _ = before;
    }
}

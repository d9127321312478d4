//! The terminal: raw mode and the alternate screen while the dashboard is open, restored on
//! every way out (return, error, panic on any thread, SIGTERM/SIGHUP/SIGINT through
//! `system::signals`).

use std::cell::Cell;
use std::io::{self, IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Set by the panic hook: some thread panicked and the terminal was restored, so the UI must
/// not draw again.
pub static PANICKED: AtomicBool = AtomicBool::new(false);

/// Held while drawing, and by the panic hook while restoring, so that a thread that panics
/// while the UI draws cannot have its restored terminal drawn over.
static TERM_LOCK: Mutex<()> = Mutex::new(());

thread_local! {
    /// This thread is inside `draw` (holding `TERM_LOCK`).
    static DRAWING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `draw` unless a panic already restored the terminal. Returns whether it drew.
pub fn draw_guarded(draw: impl FnOnce() -> io::Result<()>) -> io::Result<bool> {
    let _held = TERM_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if PANICKED.load(Ordering::Relaxed) {
        return Ok(false);
    }
    DRAWING.with(|d| d.set(true));
    let result = draw();
    DRAWING.with(|d| d.set(false));
    result.map(|()| true)
}

/// The open dashboard terminal; dropping it restores the terminal.
pub struct Term {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Term {
    pub fn enter() -> io::Result<Term> {
        install_hooks();
        let _held = TERM_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        if PANICKED.load(Ordering::Relaxed) {
            // Opening now would hide the panic message just printed.
            return Err(io::Error::other(
                "a thread panicked before the dashboard opened (its message is above)",
            ));
        }
        enable_raw_mode()?;
        ENTERED.store(true, Ordering::SeqCst);
        let opened = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match opened {
            Ok(terminal) => Ok(Term { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        restore();
    }
}

/// The terminal is in raw mode on the alternate screen (set by `Term::enter`).
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen and shows the cursor, once: leaving the alternate
/// screen a second time moves the cursor back to where it was when the dashboard opened, and
/// what was printed since (a panic's message) was written over.
/// Standard error goes back to the terminal too (`system::stderr`, diverted while the
/// dashboard is open), so a panic's message printed next is seen.
pub fn restore() {
    if ENTERED.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    }
    crate::system::stderr::restore();
}

/// A panic hook that restores the terminal before the message is printed (so it is readable).
/// (Signals that ask the loop to end are `system::signals`, installed by the caller.)
pub fn install_hooks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::Relaxed);
            // The message is printed while the lock is held, so the dashboard cannot open or
            // draw over it in between (a panic inside a draw already holds the lock).
            if DRAWING.with(|d| d.get()) {
                restore();
                previous(info);
            } else {
                let _held = TERM_LOCK.lock().unwrap_or_else(|p| p.into_inner());
                restore();
                previous(info);
            }
        }));
    });
}

/// What waiting on the terminal saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Bytes to read, or the wait timed out (crossterm tells which).
    Maybe,
    /// The terminal was closed (its window, tmux session or ssh connection went away).
    HungUp,
}

/// Waits up to `timeout` for input on standard input when it is a terminal, and says whether
/// the terminal hung up. Crossterm reads standard input when it is a terminal; when it is not,
/// crossterm opens /dev/tty and this only waits.
pub fn wait_input(timeout: std::time::Duration) -> io::Result<Input> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        std::thread::park_timeout(timeout);
        return Ok(Input::Maybe);
    }
    let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
    let wait = Timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: timeout.subsec_nanos().into(),
    };
    match poll(&mut fds, Some(&wait)) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok(Input::Maybe),
        Err(e) => return Err(e.into()),
    }
    if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
        return Ok(Input::HungUp);
    }
    Ok(Input::Maybe)
}

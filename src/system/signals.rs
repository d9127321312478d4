//! The one signal handler of the program (signal-hook): SIGINT, SIGTERM and SIGHUP set a flag
//! that every long-running command polls to end cleanly — the capture loop closes its captures
//! and prints its summary, the dashboard restores the terminal.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals that ask dnsleak to stop.
pub const STOP_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Installs the handler once (later calls return the same flag) and returns the flag the
/// signals set.
pub fn install() -> io::Result<Arc<AtomicBool>> {
    if let Some(flag) = FLAG.get() {
        return Ok(flag.clone());
    }
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false))).clone();
    for sig in STOP_SIGNALS {
        signal_hook::flag::register(sig, flag.clone())?;
    }
    Ok(flag)
}

/// Whether a stop signal arrived since `install`.
pub fn received() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_signal_sets_the_flag() {
        let flag = install().unwrap();
        assert!(Arc::ptr_eq(&flag, &install().unwrap()), "installed once");
        assert!(!received());
        signal_hook::low_level::raise(SIGHUP).unwrap();
        assert!(received() && flag.load(Ordering::Relaxed));
    }
}

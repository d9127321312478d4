//! The one wall clock of the program. The core has none: live frames carry the kernel's time
//! stamps (the same clock), and what the shells do between frames (interface changes, expiry
//! while idle, the dashboard's header) is stamped here.

use std::time::{SystemTime, UNIX_EPOCH};

use dnsleak_core::Ts;

/// Now, as trace time (nanoseconds since the Unix epoch).
pub fn wall_now() -> Ts {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Ts::from_secs_nanos(d.as_secs() as i64, d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_now_is_after_2020_and_moves_forward() {
        let a = wall_now();
        assert!(a > Ts::from_secs_nanos(1_577_836_800, 0), "{a:?}");
        assert!(wall_now() >= a);
    }
}

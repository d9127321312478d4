//! Capture times as people read them, in UTC: one set of clocks for the line output, the
//! dashboard and the HTML report.

use dnsleak_core::Ts;

/// `HH:MM:SS` of a capture time, UTC.
pub fn hms(ts: Ts) -> String {
    let s = ts.0.div_euclid(1_000_000_000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `HH:MM:SS.mmm` of a capture time, UTC.
pub fn hms_ms(ts: Ts) -> String {
    let ms = ts.0.div_euclid(1_000_000).rem_euclid(1000);
    format!("{}.{ms:03}", hms(ts))
}

/// `YYYY-MM-DD HH:MM:SS.uuuuuu UTC`.
pub fn full_time(ts: Ts) -> String {
    let days = ts.0.div_euclid(86_400_000_000_000);
    let (y, m, d) = civil_from_days(days);
    let us = ts.0.div_euclid(1000).rem_euclid(1_000_000);
    format!("{y:04}-{m:02}-{d:02} {}.{us:06} UTC", hms(ts))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc() {
        // 2024-02-29 13:45:07.123456 UTC
        let ts = Ts::from_secs_nanos(1_709_214_307, 123_456_789);
        assert_eq!(hms(ts), "13:45:07");
        assert_eq!(hms_ms(ts), "13:45:07.123");
        assert_eq!(full_time(ts), "2024-02-29 13:45:07.123456 UTC");
        assert_eq!(full_time(Ts::ZERO), "1970-01-01 00:00:00.000000 UTC");
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(hms_ms(Ts::from_millis(86_400_000 + 3_723_456)), "01:02:03.456");
    }
}

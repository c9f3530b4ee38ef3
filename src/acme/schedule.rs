//! When to renew and when to try again: a third of the lifetime left (or `renew_before`, or
//! the server's ARI window), exponential backoff after failures, `Retry-After` (seconds or an
//! HTTP date) and RFC 3339 times. Pure: times in, times out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a certificate valid from `not_before` to `not_after` is renewed: `renew_before`
/// ahead of expiry if set, else when a third of its lifetime remains.
pub fn renew_at(
    not_before: SystemTime,
    not_after: SystemTime,
    renew_before: Option<Duration>,
) -> SystemTime {
    let ahead = match renew_before {
        Some(d) => d,
        None => not_after.duration_since(not_before).unwrap_or_default() / 3,
    };
    not_after.checked_sub(ahead).unwrap_or(UNIX_EPOCH)
}

/// The wait after `failures` failed attempts in a row (≥ 1): `min`, doubling, at most `max`.
pub fn backoff(failures: u32, min: Duration, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    min.saturating_mul(1u32 << doublings).min(max)
}

/// A `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3), as a wait from
/// `now`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    let (_, rest) = v.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let at = from_parts(year, month, day, time)?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// An RFC 3339 time ("2025-01-02T03:04:05Z", fractions and offsets allowed).
pub fn rfc3339(value: &str) -> Option<SystemTime> {
    let v = value.trim();
    let (date, rest) = v.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let time = rest.get(..8)?;
    let mut tail = rest.get(8..)?;
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        tail = frac.get(digits..)?;
    }
    let base = from_parts(year, month, day, time)?;
    let offset = match tail {
        "Z" | "z" => 0i64,
        _ => {
            let sign = match tail.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let h: i64 = tail.get(1..3)?.parse().ok()?;
            let m: i64 = tail.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    // Local time = UTC + offset.
    if offset >= 0 {
        base.checked_sub(Duration::from_secs(offset as u64))
    } else {
        base.checked_add(Duration::from_secs(offset.unsigned_abs()))
    }
}

/// `year-month-day HH:MM:SS` UTC.
fn from_parts(year: i64, month: u32, day: u32, hms: &str) -> Option<SystemTime> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = hms.split(':');
    let h: u64 = t.next()?.parse().ok()?;
    let m: u64 = t.next()?.parse().ok()?;
    let s: u64 = t.next()?.parse().ok()?;
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)? + (h * 3600 + m * 60 + s) as i64;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A time in the ARI window `[start, end)`, picked at random so that many balancers do not
/// renew at once (RFC 9773 §4.2); `start` if the window is empty.
pub fn in_window(start: SystemTime, end: SystemTime) -> SystemTime {
    let span = end.duration_since(start).unwrap_or_default();
    let ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return start;
    }
    start + Duration::from_millis(fastrand::u64(0..ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn renewal_starts_when_a_third_is_left_or_renew_before() {
        assert_eq!(renew_at(at(0), at(90), None), at(60));
        assert_eq!(
            renew_at(at(0), at(90 * 86_400), Some(Duration::from_secs(86_400))),
            at(89 * 86_400)
        );
        assert!(renew_at(at(0), at(10), Some(Duration::from_secs(100))) <= at(0));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let (min, max) = (Duration::from_secs(60), Duration::from_secs(600));
        assert_eq!(backoff(1, min, max), min);
        assert_eq!(backoff(2, min, max), Duration::from_secs(120));
        assert_eq!(backoff(4, min, max), Duration::from_secs(480));
        assert_eq!(backoff(5, min, max), max);
        assert_eq!(backoff(400, min, max), max);
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = at(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn rfc3339_times_parse() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(at(0)));
        assert_eq!(rfc3339("1994-11-06T08:49:37Z"), Some(at(784_111_777)));
        assert_eq!(
            rfc3339("1994-11-06T08:49:37.123456Z"),
            Some(at(784_111_777))
        );
        assert_eq!(rfc3339("1994-11-06T09:49:37+01:00"), Some(at(784_111_777)));
        assert_eq!(rfc3339("1994-11-06T07:49:37-01:00"), Some(at(784_111_777)));
        assert_eq!(rfc3339("2024-02-29T00:00:00Z"), Some(at(1_709_164_800)));
        assert_eq!(rfc3339("garbage"), None);
    }

    #[test]
    fn a_window_pick_stays_inside() {
        for _ in 0..100 {
            let t = in_window(at(100), at(200));
            assert!(t >= at(100) && t < at(200));
        }
        assert_eq!(in_window(at(5), at(5)), at(5));
    }
}

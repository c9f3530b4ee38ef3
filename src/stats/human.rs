//! Numbers and durations the way an operator reads them: `1.2 GB`, `12,345`, `2h3m`,
//! `2026-11-22 06:23:15 UTC`. Pure arithmetic; no locale, no clock.

/// Bytes in decimal (SI) units with one decimal below 100: `999 B`, `1.2 kB`, `340 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    // `unit` stays below UNITS.len() by the loop bounds; the fallback is never shown.
    let name = |unit: usize| UNITS.get(unit).copied().unwrap_or("EB");
    if n < 1000 {
        return format!("{n} B");
    }
    // Integer arithmetic in tenths, so the result never shows "1000.0 kB" from float rounding.
    let mut unit = 0;
    let mut scaled = n;
    while scaled >= 1_000_000 && unit + 1 < UNITS.len() {
        scaled /= 1000;
        unit += 1;
    }
    // `scaled` is now in [1000, 1_000_000): value = scaled / 1000 in UNITS[unit].
    let tenths = (scaled + 50) / 100;
    if tenths >= 10_000 && unit + 1 < UNITS.len() {
        // Rounded up to 1000.0: carry into the next unit.
        return format!(
            "{}.{} {}",
            tenths / 10_000,
            (tenths / 1000) % 10,
            name(unit + 1)
        );
    }
    if tenths >= 1000 {
        format!("{} {}", (tenths + 5) / 10, name(unit))
    } else {
        format!("{}.{} {}", tenths / 10, tenths % 10, name(unit))
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in its two largest units: `45s`, `12m5s`, `2h3m`, `3d4h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Milliseconds, switching to seconds from one second: `12ms`, `2.0s`, `75s`.
pub fn millis(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=9_999 => format!("{}.{}s", ms / 1000, ms / 100 % 10),
        _ => format!("{}s", ms / 1000),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
pub fn utc(unix_s: u64) -> String {
    let days = unix_s / 86_400;
    let rem = unix_s % 86_400;
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), by the era arithmetic of Howard Hinnant's
/// public-domain `civil_from_days` (restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pick_a_readable_unit() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1000), "1.0 kB");
        assert_eq!(bytes(1234), "1.2 kB");
        assert_eq!(bytes(99_949), "99.9 kB");
        assert_eq!(bytes(340_000_000), "340 MB");
        assert_eq!(bytes(1_200_000_000), "1.2 GB");
        assert_eq!(bytes(999_999), "1.0 MB");
        assert_eq!(bytes(u64::MAX), "18.4 EB");
    }

    #[test]
    fn counts_and_durations() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(millis(7), "7ms");
        assert_eq!(millis(2_050), "2.0s");
        assert_eq!(millis(75_400), "75s");
        assert_eq!(duration(12), "12s");
        assert_eq!(duration(725), "12m5s");
        assert_eq!(duration(2 * 3600 + 3 * 60 + 9), "2h3m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3d4h");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}

//! Calendar dates from epoch seconds, for the dates keepalived prints (mail headers, console
//! lines). The children read no zone files (sandbox), so callers pass the offset themselves.

pub const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A moment as the calendar shows it.
pub struct Civil {
    pub year: i64,
    /// Index into `MONTHS`.
    pub month: usize,
    pub day: i64,
    /// Index into `DAYS` (1970-01-01 was a Thursday).
    pub weekday: usize,
    pub hour: i64,
    pub min: i64,
    pub sec: i64,
}

/// Seconds since 1970-01-01 00:00 (already shifted by any zone offset) to the calendar
/// (Howard Hinnant's days-from-civil inverse).
pub fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    Civil {
        year: yoe + era * 400 + i64::from(m <= 2),
        month: (m - 1) as usize,
        day,
        weekday: days.rem_euclid(7) as usize,
        hour: rem / 3600,
        min: rem % 3600 / 60,
        sec: rem % 60,
    }
}

/// `ctime`-style: `Tue Dec  1 08:08:59 2026` (of seconds already shifted by any offset).
pub fn ctime(secs: i64) -> String {
    let c = civil(secs);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[c.weekday], MONTHS[c.month], c.day, c.hour, c.min, c.sec, c.year
    )
}

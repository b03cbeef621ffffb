//! Calendar fields of a Unix time in UTC, without a date crate: the server's RFC 3339
//! event times and the catalog's dates format from [`utc`].

/// A Unix time split into UTC calendar fields (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

/// The UTC calendar fields of `unix_ms` milliseconds since 1970-01-01T00:00:00Z (before
/// it too), by Howard Hinnant's `civil_from_days`.
pub fn utc(unix_ms: i64) -> Utc {
    let secs = unix_ms.div_euclid(1000);
    let millis = unix_ms.rem_euclid(1000) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Utc {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        millis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let t = utc(0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
        // 2000-02-29T12:34:56.789Z: a leap day of a century leap year.
        let t = utc(951_827_696_789);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis),
            (2000, 2, 29, 12, 34, 56, 789)
        );
        // 2026-11-26T00:00:00Z and the millisecond before it.
        let t = utc(1_795_651_200_000);
        assert_eq!((t.year, t.month, t.day), (2026, 11, 26));
        let t = utc(1_795_651_199_999);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.second),
            (2026, 11, 25, 23, 59)
        );
        // Before the epoch.
        let t = utc(-1);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.millis),
            (1969, 12, 31, 23, 999)
        );
    }
}

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `now` as an RFC 3339 UTC timestamp with milliseconds, e.g.
/// `2026-12-04T16:17:29.123Z`.
pub(crate) fn write_rfc3339(out: &mut Vec<u8>, now: SystemTime) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let millis = since_epoch.subsec_millis();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let seconds_of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60
    );
}

/// Converts days since 1970-01-01 to a (year, month, day) date in the proleptic
/// Gregorian calendar, after Howard Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * month_index + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn format(secs: u64, millis: u64) -> String {
        let mut out = Vec::new();
        let time = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
        write_rfc3339(&mut out, time);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(format(1_796_400_000, 999), "2026-12-04T16:00:00.999Z");
    }
}

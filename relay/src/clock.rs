//! Wall-clock time: the one place the relay reads it ([`now`], [`now_ms`],
//! [`unix_now`]), and how the ledger, webhooks and the console write it: unix
//! milliseconds, UTC days, and RFC 3339 text. Everything but the three readers is pure
//! arithmetic (civil-from-days after Howard Hinnant).
//!
//! The roster's own time is not this: it is the hub's monotonic clock, read only by the
//! reaper's side (`Hub::now`); `Hub::wall_time` turns its instants into wall time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub type Ms = u64;

/// The wall clock now.
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Unix milliseconds now.
pub fn now_ms() -> Ms {
    wall_ms(now())
}

/// Seconds since the Unix epoch, now (token expiries, signatures).
pub fn unix_now() -> u64 {
    now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Unix milliseconds of a wall-clock time.
pub fn wall_ms(at: SystemTime) -> Ms {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Ms)
}

pub const DAY_MS: Ms = 86_400_000;

/// The UTC day of `at`, as days since 1970-01-01.
pub fn day_of(at: Ms) -> i64 {
    (at / DAY_MS) as i64
}

/// `2026-11-24` for a day number.
pub fn day_text(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11-24T02:03:04.567Z`.
pub fn rfc3339(at: Ms) -> String {
    let day = day_of(at);
    let rest = at % DAY_MS;
    let (h, min, s, ms) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{}T{h:02}:{min:02}:{s:02}.{ms:03}Z", day_text(day))
}

/// Read a moment given as RFC 3339 (`2026-11-24T02:03:04Z`, fractions and offsets
/// allowed), a date (`2026-11-24`, its midnight UTC) or unix seconds (`1795400000`).
pub fn parse_time(text: &str) -> Option<Ms> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().ok()?.checked_mul(1000);
    }
    // Every form is ASCII; the fixed positions below are byte offsets.
    if !text.is_ascii() {
        return None;
    }
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, m, d) = (num(&text[0..4])?, num(&text[5..7])?, num(&text[8..10])?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    if b.len() == 10 {
        return u64::try_from(days).ok().map(|d| d * DAY_MS);
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, min, s) = (num(&text[11..13])?, num(&text[14..16])?, num(&text[17..19])?);
    if h > 23 || min > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[0..1], "+" | "-") && &rest[3..4] == ":" => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (num(&rest[1..3])? * 60 + num(&rest[4..6])?)
        }
        _ => return None,
    };
    let ms = ((days * 24 + h) * 60 + min - offset_min) * 60_000 + s * 1000 + millis;
    u64::try_from(ms).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_day_numbers() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(day_text(0), "1970-01-01");
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for day in [-1000, 0, 59, 60, 11_016, 11_017, 20_000, 20_416] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn times_print_and_parse_in_utc() {
        let at = parse_time("2026-11-24T02:03:04.567Z").unwrap();
        assert_eq!(rfc3339(at), "2026-11-24T02:03:04.567Z");
        assert_eq!(parse_time("2026-11-24T04:03:04.567+02:00"), Some(at));
        assert_eq!(parse_time("2026-11-24T02:03:04Z"), Some(at - 567));
        assert_eq!(parse_time("2026-11-24"), Some(day_of(at) as u64 * DAY_MS));
        assert_eq!(parse_time("1795400000"), Some(1_795_400_000_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-24T25:00:00Z",
            "2026-11-24T02:03:04",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}

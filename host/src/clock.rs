//! Time as the host writes and reads it, through `jiff`: Unix seconds now, RFC 3339 for the audit log,
//! and LDAP's generalized time (RFC 4517 §3.3.13) for change detection.

use jiff::{SignedDuration, Timestamp};

/// Unix seconds now.
pub fn unix_now() -> i64 {
    Timestamp::now().as_second()
}

/// RFC 3339 UTC time for now, with milliseconds (`2026-11-28T07:01:02.123Z`).
pub fn now_rfc3339() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Generalized time (UTC, whole seconds) for Unix seconds: `20261128070102Z`. Out-of-range inputs are
/// clamped to jiff's supported range.
pub fn generalized_time(unix: i64) -> String {
    let ts = Timestamp::from_second(unix.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second()))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    ts.strftime("%Y%m%d%H%M%SZ").to_string()
}

/// Parses generalized time as directories write it: `YYYYMMDDHHMMSS`, an optional fraction
/// (`.0`, `,123`), then `Z` or a `±HHMM` offset. `None` when it is not one.
pub fn parse_generalized_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let digits = s.get(..14).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
    let mut rest = &s[14..];
    if let Some(frac) = rest.strip_prefix(['.', ',']) {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset_seconds: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 5 && (o.starts_with('+') || o.starts_with('-')) => {
            let hh: i64 = o[1..3].parse().ok()?;
            let mm: i64 = o[3..5].parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let civil = jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", digits).ok()?;
    let utc = jiff::tz::Offset::UTC.to_timestamp(civil).ok()?;
    utc.checked_sub(SignedDuration::from_secs(offset_seconds)).ok()
}

/// A generalized time one second earlier (for `(!(modifyTimestamp<=T-1))`, which reads "at or after T").
/// `None` when `t` is not generalized time.
pub fn generalized_minus_one_second(t: &str) -> Option<String> {
    let ts = parse_generalized_time(t)?.checked_sub(SignedDuration::from_secs(1)).ok()?;
    Some(ts.strftime("%Y%m%d%H%M%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_round_trips() {
        assert_eq!(generalized_time(0), "19700101000000Z");
        assert_eq!(generalized_time(1_795_849_262), "20261128070102Z");
        assert_eq!(generalized_time(951_782_400), "20000229000000Z");
        assert_eq!(generalized_time(-1), "19691231235959Z");
        assert_eq!(parse_generalized_time("20261128070102Z").map(|t| t.as_second()), Some(1_795_849_262));
        assert_eq!(parse_generalized_time("20261128070102.0Z").map(|t| t.as_second()), Some(1_795_849_262));
        assert_eq!(parse_generalized_time("20261128080102+0100").map(|t| t.as_second()), Some(1_795_849_262));
        assert_eq!(parse_generalized_time("20261128060102-0100").map(|t| t.as_second()), Some(1_795_849_262));
        for bad in ["", "2026", "20261328070102Z", "20261128070102", "20261128070102.Z", "x0261128070102Z"] {
            assert_eq!(parse_generalized_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn minus_one_second_borrows_across_minutes_hours_days_and_years() {
        let m = |t| generalized_minus_one_second(t).unwrap();
        assert_eq!(m("20261128070102Z"), "20261128070101Z");
        assert_eq!(m("20261128070100Z"), "20261128070059Z");
        assert_eq!(m("20261128070000Z"), "20261128065959Z");
        assert_eq!(m("20261128000000Z"), "20261127235959Z");
        assert_eq!(m("20270101000000Z"), "20261231235959Z");
        assert_eq!(m("20240301000000Z"), "20240229235959Z");
        assert_eq!(generalized_minus_one_second("garbage"), None);
    }

    #[test]
    fn rfc3339_shape() {
        let s = now_rfc3339();
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.', "{s}");
    }
}

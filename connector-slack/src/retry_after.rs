//! `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date. Whatever a server sends, the
//! answer is a finite, non-negative wait or nothing (then the normal backoff applies); callers cap it.

use std::time::{Duration, SystemTime};

/// The wait a `Retry-After` value asks for, measured from `now`. `None` for anything that is not a
/// non-negative number of seconds or an HTTP-date (negative, non-finite, garbage). A date in the past
/// means no wait.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = v.parse().ok()?;
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait for a throttled request: what the server asked (`retry_after`, in the server's seconds,
/// divided by `time_scale`, for the simulator) or `default` when it said nothing usable, times
/// `jitter`, never more than `cap`. Never panics, whatever the inputs.
pub fn wait(retry_after: Option<Duration>, default: Duration, time_scale: f64, jitter: f64, cap: Duration) -> Duration {
    let asked = retry_after.unwrap_or(default).as_secs_f64();
    let scaled = asked / if time_scale.is_finite() && time_scale > 0.0 { time_scale } else { 1.0 };
    let jitter = if jitter.is_finite() && jitter > 0.0 { jitter } else { 1.0 };
    Duration::try_from_secs_f64(scaled * jitter).unwrap_or(cap).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delta_seconds_dates_and_garbage() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse("30", now), Some(Duration::from_secs(30)));
        assert_eq!(parse(" 1.5 ", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse("999999", now), Some(Duration::from_secs(999_999)));
        for bad in ["-1", "inf", "1e30", "NaN", "", "soon", "1.2.3", "-0"] {
            assert_eq!(parse(bad, now), None, "{bad}");
        }
        // 1_700_000_060 is Tue, 14 Nov 2023 22:14:20 GMT.
        assert_eq!(parse("Tue, 14 Nov 2023 22:14:20 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse("Tue, 14 Nov 2023 22:12:00 GMT", now), Some(Duration::ZERO), "in the past");
        let cap = Duration::from_secs(300);
        assert_eq!(wait(parse("999999", now), Duration::from_secs(20), 1.0, 1.05, cap), cap);
        assert_eq!(wait(None, Duration::from_secs(20), 10.0, 1.0, cap), Duration::from_secs(2));
        assert_eq!(wait(Some(Duration::MAX), Duration::ZERO, 0.0, f64::NAN, cap), cap);
    }

    proptest! {
        #[test]
        fn no_header_value_panics_and_every_wait_is_capped(v in ".{0,64}", scale in proptest::num::f64::ANY, jitter in proptest::num::f64::ANY) {
            let cap = Duration::from_secs(300);
            let d = wait(parse(&v, SystemTime::now()), Duration::from_secs(20), scale, jitter, cap);
            prop_assert!(d <= cap);
        }

        #[test]
        fn numeric_looking_values_never_panic(v in "[0-9.eE+-]{0,40}") {
            let _ = parse(&v, SystemTime::now());
        }
    }
}

//! Slack's SCIM rate limits: org-wide read and write buckets, per-endpoint buckets with their bursts,
//! and the per-resource write lock. `time_scale` N runs every budget N times faster.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A token bucket: `burst` capacity, refilled at `per_minute / 60` per (scaled) second.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_minute: f64, burst: f64, now: Instant) -> Self {
        Bucket { capacity: burst, per_sec: per_minute / 60.0, tokens: burst, last: now }
    }

    /// Requests are admitted by arrival time, and one that arrived earlier may be admitted after a later
    /// one: time never runs backwards here (it would count the same interval twice).
    fn refill(&mut self, now: Instant, scale: f64) {
        if now <= self.last {
            return;
        }
        let dt = now.duration_since(self.last).as_secs_f64() * scale;
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// Slack-seconds until one token is available.
    fn wait(&self) -> f64 {
        if self.tokens >= 1.0 {
            0.0
        } else {
            (1.0 - self.tokens) / self.per_sec
        }
    }
}

/// Per-endpoint budgets: (label, per minute, burst).
pub const ENDPOINT_LIMITS: &[(&str, f64, f64)] = &[
    ("GET /Users/<id>", 300.0, 300.0),
    ("POST /Users", 180.0, 20.0),
    ("PUT/PATCH /Users/<id>", 180.0, 20.0),
    ("DELETE /Users/<id>", 180.0, 20.0),
    ("GET /Groups/<id>", 300.0, 300.0),
    ("POST /Groups", 180.0, 20.0),
    ("PUT/PATCH /Groups/<id>", 180.0, 80.0),
    ("DELETE /Groups/<id>", 180.0, 20.0),
];
/// Org-wide writes (POST, PUT, PATCH, DELETE).
pub const ORG_WRITES: (f64, f64) = (600.0, 180.0);
/// Org-wide reads (GET).
pub const ORG_READS: (f64, f64) = (1000.0, 1000.0);

/// The rate limiter and resource locks of one org.
#[derive(Debug)]
pub struct Limiter {
    enabled: bool,
    scale: f64,
    reads: Bucket,
    writes: Bucket,
    endpoints: HashMap<&'static str, Bucket>,
    locks: HashMap<String, Instant>,
}

impl Limiter {
    /// A fresh limiter.
    pub fn new(enabled: bool, scale: f64) -> Self {
        let now = Instant::now();
        Limiter {
            enabled,
            scale: scale.max(0.001),
            reads: Bucket::new(ORG_READS.0, ORG_READS.1, now),
            writes: Bucket::new(ORG_WRITES.0, ORG_WRITES.1, now),
            endpoints: ENDPOINT_LIMITS.iter().map(|(k, m, b)| (*k, Bucket::new(*m, *b, now))).collect(),
            locks: HashMap::new(),
        }
    }

    /// Takes a token from the org bucket and the endpoint's; `Err(retry_after_seconds)` when either is empty
    /// (nothing is taken then).
    pub fn admit(&mut self, write: bool, endpoint: Option<&'static str>, now: Instant) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let scale = self.scale;
        let org = if write { &mut self.writes } else { &mut self.reads };
        org.refill(now, scale);
        let mut wait = org.wait();
        if let Some(ep) = endpoint.and_then(|e| self.endpoints.get_mut(e)) {
            ep.refill(now, scale);
            wait = wait.max(ep.wait());
        }
        if wait > 0.0 {
            return Err(wait.ceil().max(1.0) as u64);
        }
        let org = if write { &mut self.writes } else { &mut self.reads };
        org.tokens -= 1.0;
        if let Some(ep) = endpoint.and_then(|e| self.endpoints.get_mut(e)) {
            ep.tokens -= 1.0;
        }
        Ok(())
    }

    /// Takes the per-resource write lock for `hold` (real time). `Err(retry_after_seconds)` if held.
    pub fn lock(&mut self, resource: &str, hold: Duration, now: Instant) -> Result<(), u64> {
        if hold.is_zero() {
            return Ok(());
        }
        if let Some(until) = self.locks.get(resource) {
            if *until > now {
                let secs = until.saturating_duration_since(now).as_secs_f64() * self.scale;
                return Err(secs.ceil().max(1.0) as u64);
            }
        }
        self.locks.insert(resource.to_owned(), now + hold);
        if self.locks.len() > 10_000 {
            self.locks.retain(|_, until| *until > now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_users_allows_its_burst_then_throttles() {
        let mut l = Limiter::new(true, 1.0);
        let now = Instant::now();
        for _ in 0..20 {
            l.admit(true, Some("POST /Users"), now).unwrap();
        }
        let retry = l.admit(true, Some("POST /Users"), now).unwrap_err();
        assert_eq!(retry, 1, "one token every 1/3 s: Retry-After rounds up to 1");
        // 1/3 s later, one more.
        assert!(l.admit(true, Some("POST /Users"), now + Duration::from_millis(340)).is_ok());
    }

    #[test]
    fn org_write_bucket_binds_across_endpoints() {
        let mut l = Limiter::new(true, 1.0);
        let now = Instant::now();
        let mut ok = 0;
        for ep in [
            "POST /Users",
            "PUT/PATCH /Users/<id>",
            "DELETE /Users/<id>",
            "POST /Groups",
            "PUT/PATCH /Groups/<id>",
            "DELETE /Groups/<id>",
        ] {
            while l.admit(true, Some(ep), now).is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 180, "the org-wide write burst is 180");
    }

    #[test]
    fn time_scale_speeds_refill() {
        let mut l = Limiter::new(true, 60.0);
        let now = Instant::now();
        for _ in 0..20 {
            l.admit(true, Some("POST /Users"), now).unwrap();
        }
        assert!(l.admit(true, Some("POST /Users"), now).is_err());
        // At 60x, 3 tokens per Slack-second = 180 per real second: 10 ms buys ~1.8 tokens.
        assert!(l.admit(true, Some("POST /Users"), now + Duration::from_millis(10)).is_ok());
    }

    #[test]
    fn resource_lock() {
        let mut l = Limiter::new(true, 1.0);
        let now = Instant::now();
        l.lock("Users/U1", Duration::from_millis(500), now).unwrap();
        assert_eq!(l.lock("Users/U1", Duration::from_millis(500), now), Err(1));
        assert!(l.lock("Users/U2", Duration::from_millis(500), now).is_ok());
        assert!(l.lock("Users/U1", Duration::from_millis(500), now + Duration::from_millis(600)).is_ok());
    }
}

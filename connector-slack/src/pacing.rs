//! Pacing: stay inside Slack's documented budgets (times the configured share) before Slack says no.
//!
//! One governor (GCRA) limiter per Slack bucket: the org-wide read and write buckets and the
//! per-endpoint buckets with their bursts. A request waits for its endpoint's bucket, then the org's.
//! Buckets run a little (3 %) under Slack's rate so clock drift between us and Slack does not cause
//! 429s; `time_scale` matches a simulator run with `--time-scale`.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

/// What a request is, for pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /Users` or `GET /Groups` (lists: org read bucket only).
    List,
    /// `GET /Users/<id>`.
    UserGet,
    /// `POST /Users`.
    UserCreate,
    /// `PUT|PATCH /Users/<id>`.
    UserUpdate,
    /// `DELETE /Users/<id>`.
    UserDelete,
    /// `GET /Groups/<id>`.
    GroupGet,
    /// `POST /Groups`.
    GroupCreate,
    /// `PUT|PATCH /Groups/<id>`.
    GroupUpdate,
    /// `DELETE /Groups/<id>`.
    GroupDelete,
    /// Discovery endpoints (not limited).
    Discovery,
}

impl Endpoint {
    fn budget(self) -> Option<(f64, f64)> {
        Some(match self {
            Endpoint::UserGet | Endpoint::GroupGet => (300.0, 300.0),
            Endpoint::UserCreate | Endpoint::UserUpdate | Endpoint::UserDelete => (180.0, 20.0),
            Endpoint::GroupCreate | Endpoint::GroupDelete => (180.0, 20.0),
            Endpoint::GroupUpdate => (180.0, 80.0),
            Endpoint::List | Endpoint::Discovery => return None,
        })
    }

    fn is_write(self) -> bool {
        matches!(
            self,
            Endpoint::UserCreate
                | Endpoint::UserUpdate
                | Endpoint::UserDelete
                | Endpoint::GroupCreate
                | Endpoint::GroupUpdate
                | Endpoint::GroupDelete
        )
    }

    /// Every endpoint, lists and discovery included.
    pub const EVERY: [Endpoint; 10] = [
        Endpoint::List,
        Endpoint::UserGet,
        Endpoint::UserCreate,
        Endpoint::UserUpdate,
        Endpoint::UserDelete,
        Endpoint::GroupGet,
        Endpoint::GroupCreate,
        Endpoint::GroupUpdate,
        Endpoint::GroupDelete,
        Endpoint::Discovery,
    ];
}

const SAFETY: f64 = 0.97;

/// The share of a bucket's burst spent at once: Slack's bucket keeps a cushion of a tenth, so requests
/// that arrive closer together than they left (connection reuse, scheduling) do not meet an empty bucket
/// while the 3 % rate margin has not yet built one.
const BURST_SHARE: f64 = 0.9;

fn limiter(per_minute: f64, burst: f64, share: f64, scale: f64) -> DefaultDirectRateLimiter {
    let rate = per_minute * share * scale * SAFETY / 60.0; // tokens per second
    let period = Duration::from_secs_f64(1.0 / rate.max(1e-6));
    let burst = NonZeroU32::new(((burst * share * BURST_SHARE).floor() as u32).max(1)).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
    RateLimiter::direct(quota)
}

/// The connector's view of Slack's buckets.
pub struct Pacer {
    reads: DefaultDirectRateLimiter,
    writes: DefaultDirectRateLimiter,
    endpoints: Vec<(Endpoint, DefaultDirectRateLimiter)>,
}

impl Pacer {
    /// Buckets for `share` of Slack's budgets, `scale` times faster.
    pub fn new(share: f64, scale: f64) -> Self {
        Pacer {
            reads: limiter(1000.0, 1000.0, share, scale),
            writes: limiter(600.0, 180.0, share, scale),
            endpoints: Endpoint::EVERY
                .iter()
                .filter_map(|e| e.budget().map(|(m, b)| (*e, limiter(m, b, share, scale))))
                .collect(),
        }
    }

    /// Slack said 429 for `endpoint`: its budget (or the org's) is emptier than ours thought (another
    /// process, or an earlier run, used it). Empty our buckets too, so the calls that follow pace at the
    /// rate instead of spending a burst Slack does not have.
    pub fn throttled(&self, endpoint: Endpoint) {
        let drain = |l: &DefaultDirectRateLimiter| {
            // Bounded: a bucket holds at most its burst (at most 1,000 tokens).
            for _ in 0..1_000 {
                if l.check().is_err() {
                    break;
                }
            }
        };
        if let Some((_, l)) = self.endpoints.iter().find(|(e, _)| *e == endpoint) {
            drain(l);
        }
        drain(if endpoint.is_write() { &self.writes } else { &self.reads });
    }

    /// Waits until `endpoint` may be called.
    pub async fn acquire(&self, endpoint: Endpoint) {
        if endpoint == Endpoint::Discovery {
            return;
        }
        if let Some((_, l)) = self.endpoints.iter().find(|(e, _)| *e == endpoint) {
            l.until_ready().await;
        }
        if endpoint.is_write() {
            self.writes.until_ready().await;
        } else {
            self.reads.until_ready().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn creates_pace_at_the_documented_rate_after_the_burst() {
        // 60x: POST /Users is 180/min = 3/s -> 180/s; burst 20, of which 18 are spent at once.
        let p = Pacer::new(1.0, 60.0);
        let t = Instant::now();
        for _ in 0..18 {
            p.acquire(Endpoint::UserCreate).await;
        }
        assert!(t.elapsed() < Duration::from_millis(50), "the burst passes at once");
        let t = Instant::now();
        for _ in 0..90 {
            p.acquire(Endpoint::UserCreate).await;
        }
        let secs = t.elapsed().as_secs_f64();
        // 90 tokens at 180*0.97/s ≈ 0.515 s.
        assert!((0.45..0.75).contains(&secs), "{secs}");
    }

    #[tokio::test]
    async fn share_scales_the_budget() {
        let p = Pacer::new(0.5, 60.0);
        let t = Instant::now();
        for _ in 0..9 + 45 {
            p.acquire(Endpoint::UserCreate).await;
        }
        // burst 9 (a tenth kept of 10), then 45 at 90*0.97/s ≈ 0.515 s
        let secs = t.elapsed().as_secs_f64();
        assert!((0.45..0.75).contains(&secs), "{secs}");
    }
}

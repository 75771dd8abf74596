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

/// What of a bucket's burst is never spent at once: a tenth, and at least five tokens, so requests that
/// arrive closer together than they left (concurrent connections, scheduling) do not meet an empty
/// Slack bucket while the 3 % rate margin has not yet built a cushion.
fn usable_burst(burst: f64) -> u32 {
    let cushion = (burst * 0.1).ceil().max(5.0);
    ((burst - cushion).floor() as u32).max(1)
}

fn limiter(per_minute: f64, burst: f64, share: f64, scale: f64) -> DefaultDirectRateLimiter {
    let rate = per_minute * share * scale * SAFETY / 60.0; // tokens per second
    let period = Duration::from_secs_f64(1.0 / rate.max(1e-6));
    let burst = NonZeroU32::new(usable_burst(burst * share)).unwrap_or(NonZeroU32::MIN);
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
        // 60x: POST /Users is 180/min = 3/s -> 180/s; burst 20, of which 15 are spent at once.
        let p = Pacer::new(1.0, 60.0);
        let t = Instant::now();
        for _ in 0..15 {
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
    async fn no_more_than_the_usable_burst_passes_at_once() {
        let p = Pacer::new(1.0, 60.0);
        let t = Instant::now();
        for _ in 0..15 + 8 {
            p.acquire(Endpoint::UserUpdate).await;
        }
        // 8 beyond the burst at 174.6/s: at least 40 ms.
        let ms = t.elapsed().as_millis();
        assert!(ms >= 40, "{ms} ms");
    }

    #[test]
    fn a_cushion_of_a_tenth_and_at_least_five_is_kept() {
        assert_eq!(usable_burst(20.0), 15);
        assert_eq!(usable_burst(80.0), 72);
        assert_eq!(usable_burst(1000.0), 900);
        assert_eq!(usable_burst(3.0), 1);
    }

    #[tokio::test]
    async fn share_scales_the_budget() {
        let p = Pacer::new(0.5, 60.0);
        let t = Instant::now();
        for _ in 0..5 + 45 {
            p.acquire(Endpoint::UserCreate).await;
        }
        // burst 5 (five kept of 10), then 45 at 90*0.97/s ≈ 0.515 s
        let secs = t.elapsed().as_secs_f64();
        assert!((0.45..0.75).contains(&secs), "{secs}");
    }
}

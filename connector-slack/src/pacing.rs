//! Pacing: stay inside Slack's documented budgets (times the configured share) before Slack says no.
//!
//! One governor (GCRA) limiter per Slack bucket: the org-wide read and write buckets and the
//! per-endpoint buckets with their bursts. A request waits for its endpoint's bucket, then the org's.
//! A bucket paces at Slack's documented rate and spends its burst less a cushion (requests that arrive
//! closer together than they left find tokens left). Slack's budgets are org-wide, shared with every
//! other SCIM app of the org, so Slack's 429 is the signal that someone else is spending them: each
//! rate-limit 429 empties the request's buckets and lowers their pace a tenth (once per pace, however
//! many requests in flight meet it; to about half Slack's rate at most), and five minutes of Slack's
//! time without one brings the pace back up a tenth. `time_scale` matches a simulator run with
//! `--time-scale`.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

    pub fn is_write(self) -> bool {
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

/// Each rate-limit 429 lowers the bucket's pace by a tenth ...
const SLOWER: f64 = 0.9;
/// ... at most this many times (0.9^6 ≈ 53 % of Slack's rate) ...
const MAX_SLOWDOWNS: u32 = 6;
/// ... and this long in Slack's time (seconds: five of its one-minute windows) without one brings it
/// back up a tenth.
const RECOVERY_SECS: f64 = 300.0;

/// What of a bucket's burst is never spent at once: a tenth, and at least five tokens, so requests that
/// arrive closer together than they left (concurrent connections, scheduling, the network) do not meet
/// an empty Slack bucket.
fn usable_burst(burst: f64) -> u32 {
    let cushion = (burst * 0.1).ceil().max(5.0);
    ((burst - cushion).floor() as u32).max(1)
}

/// Empties `l` (at most 1,000 tokens: no bucket is larger).
fn drain(l: &DefaultDirectRateLimiter) {
    for _ in 0..1_000 {
        if l.check().is_err() {
            break;
        }
    }
}

/// One of Slack's buckets as this connector paces it.
struct Bucket {
    /// Tokens per second at Slack's rate (the share and the time scale applied).
    rate: f64,
    /// The burst spent at once.
    burst: NonZeroU32,
    /// Seconds of Slack's clock per second of ours (the simulator's time scale; 1 against Slack).
    scale: f64,
    paced: Mutex<Paced>,
}

/// A bucket's current pace.
struct Paced {
    limiter: Arc<DefaultDirectRateLimiter>,
    /// Times the pace was lowered (each a tenth), net of recoveries.
    slowdowns: u32,
    /// Changes with every new pace, so a 429 is acted on once however many requests in flight meet it.
    generation: u64,
    /// When the pace last changed.
    since: Instant,
}

impl Bucket {
    fn new(per_minute: f64, burst: f64, share: f64, scale: f64) -> Self {
        let burst = NonZeroU32::new(usable_burst(burst * share)).unwrap_or(NonZeroU32::MIN);
        let rate = per_minute * share * scale / 60.0;
        let limiter = Arc::new(Self::limiter(rate, burst));
        Bucket {
            rate,
            burst,
            scale,
            paced: Mutex::new(Paced { limiter, slowdowns: 0, generation: 0, since: Instant::now() }),
        }
    }

    fn limiter(rate: f64, burst: NonZeroU32) -> DefaultDirectRateLimiter {
        let period = Duration::from_secs_f64(1.0 / rate.max(1e-6));
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
        RateLimiter::direct(quota)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Paced> {
        // Nothing panics while the lock is held; a poisoned lock still holds a consistent pace.
        self.paced.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Installs the pace of `slowdowns`, starting empty: after a 429 Slack's bucket is empty; after
    /// quiet minutes at a lowered pace it may still be nearly so, if another app spends what is left.
    fn repace(&self, p: &mut Paced, slowdowns: u32) {
        p.slowdowns = slowdowns;
        let limiter = Self::limiter(self.rate * SLOWER.powi(slowdowns as i32), self.burst);
        drain(&limiter);
        p.limiter = Arc::new(limiter);
        p.generation += 1;
        p.since = Instant::now();
    }

    /// The limiter to wait on now and its generation; first steps the pace back up a tenth for every
    /// [`RECOVERY_SECS`] of Slack's time since it last changed (a lowered pace is not left lowered by
    /// a quiet hour without requests).
    fn current(&self) -> (Arc<DefaultDirectRateLimiter>, u64) {
        let mut p = self.lock();
        if p.slowdowns > 0 {
            let steps = (p.since.elapsed().as_secs_f64() * self.scale / RECOVERY_SECS).floor();
            if steps >= 1.0 {
                let n = p.slowdowns.saturating_sub(steps.min(f64::from(MAX_SLOWDOWNS)) as u32);
                self.repace(&mut p, n);
            }
        }
        (Arc::clone(&p.limiter), p.generation)
    }

    fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Waits for a token under the current pace; returns the generation it was taken under. A request
    /// that was waiting when the pace changed (a 429 lowered it) waits again under the new one, so the
    /// requests queued before a 429 do not leave at the old pace.
    async fn wait(&self) -> u64 {
        loop {
            let (limiter, generation) = self.current();
            limiter.until_ready().await;
            if self.generation() == generation {
                return generation;
            }
        }
    }

    /// Slack said 429 to a request paced under `generation`: lowers the pace a tenth, once per pace.
    /// Returns the new fraction of Slack's rate, or `None` when this pace was already lowered.
    fn throttled(&self, generation: u64) -> Option<f64> {
        let mut p = self.lock();
        if p.generation != generation {
            return None;
        }
        let n = (p.slowdowns + 1).min(MAX_SLOWDOWNS);
        self.repace(&mut p, n);
        Some(SLOWER.powi(n as i32))
    }

    /// The fraction of its budget (Slack's rate times the share) this bucket paces at.
    fn pace(&self) -> f64 {
        SLOWER.powi(self.lock().slowdowns as i32)
    }

    /// Moves the last change of pace `slack_secs` of Slack's time into the past.
    #[cfg(test)]
    fn age(&self, slack_secs: f64) {
        let mut p = self.lock();
        p.since = p.since.checked_sub(Duration::from_secs_f64(slack_secs / self.scale)).unwrap_or(p.since);
    }
}

/// Which paces a request was sent under (to act on its 429 once).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ticket {
    endpoint: Option<u64>,
    org: Option<u64>,
}

/// The connector's view of Slack's buckets.
pub struct Pacer {
    reads: Bucket,
    writes: Bucket,
    endpoints: Vec<(Endpoint, Bucket)>,
}

impl Pacer {
    /// Buckets for `share` of Slack's budgets, `scale` times faster.
    pub fn new(share: f64, scale: f64) -> Self {
        Pacer {
            reads: Bucket::new(1000.0, 1000.0, share, scale),
            writes: Bucket::new(600.0, 180.0, share, scale),
            endpoints: Endpoint::EVERY
                .iter()
                .filter_map(|e| e.budget().map(|(m, b)| (*e, Bucket::new(m, b, share, scale))))
                .collect(),
        }
    }

    fn endpoint(&self, endpoint: Endpoint) -> Option<&Bucket> {
        self.endpoints.iter().find(|(e, _)| *e == endpoint).map(|(_, b)| b)
    }

    fn org(&self, endpoint: Endpoint) -> &Bucket {
        if endpoint.is_write() {
            &self.writes
        } else {
            &self.reads
        }
    }

    /// Slack said 429 (its rate limit) to a request sent under `ticket`: its budget, or the org's, is
    /// emptier than ours thought (another app or process shares it; which of the two Slack does not
    /// say). Both the endpoint's bucket and the org's it drew on start empty and pace a tenth slower
    /// (down to about half their budget), each once however many requests in flight meet the 429s of
    /// the same pace. Returns whether a pace was lowered.
    pub fn throttled(&self, endpoint: Endpoint, ticket: &Ticket) -> bool {
        let own = self.endpoint(endpoint).zip(ticket.endpoint).and_then(|(b, g)| b.throttled(g));
        let org = ticket.org.and_then(|g| self.org(endpoint).throttled(g));
        own.is_some() || org.is_some()
    }

    /// The fraction of its budget (Slack's rate times the share) `endpoint`'s own bucket paces at, or
    /// the org's when it has none.
    pub fn pace(&self, endpoint: Endpoint) -> f64 {
        self.endpoint(endpoint).unwrap_or_else(|| self.org(endpoint)).pace()
    }

    /// The fraction of its budget the org's bucket `endpoint` draws on (writes or reads) paces at.
    pub fn org_pace(&self, endpoint: Endpoint) -> f64 {
        self.org(endpoint).pace()
    }

    /// Waits until `endpoint` may be called; the ticket names the paces it was let through under.
    pub async fn acquire(&self, endpoint: Endpoint) -> Ticket {
        let mut ticket = Ticket::default();
        if endpoint == Endpoint::Discovery {
            return ticket;
        }
        if let Some(b) = self.endpoint(endpoint) {
            ticket.endpoint = Some(b.wait().await);
        }
        ticket.org = Some(self.org(endpoint).wait().await);
        ticket
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
        // 90 tokens at 180/s = 0.5 s.
        assert!((0.45..0.75).contains(&secs), "{secs}");
    }

    #[tokio::test]
    async fn no_more_than_the_usable_burst_passes_at_once() {
        let p = Pacer::new(1.0, 60.0);
        let t = Instant::now();
        for _ in 0..15 + 8 {
            p.acquire(Endpoint::UserUpdate).await;
        }
        // 8 beyond the burst at 180/s: at least 44 ms.
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
        // burst 5 (five kept of 10), then 45 at 90/s = 0.5 s
        let secs = t.elapsed().as_secs_f64();
        assert!((0.45..0.75).contains(&secs), "{secs}");
    }

    #[tokio::test]
    async fn a_429_lowers_the_pace_a_tenth_once_however_many_requests_meet_it() {
        let p = Pacer::new(1.0, 60.0);
        // Eight requests in flight under the same pace all meet the 429.
        let mut tickets = Vec::new();
        for _ in 0..8 {
            tickets.push(p.acquire(Endpoint::UserUpdate).await);
        }
        assert!(p.throttled(Endpoint::UserUpdate, &tickets[0]));
        for t in &tickets[1..] {
            assert!(!p.throttled(Endpoint::UserUpdate, t), "the same 429 is acted on once");
        }
        assert_eq!(p.pace(Endpoint::UserUpdate), 0.9);
        assert_eq!(p.writes.pace(), 0.9, "the org's write bucket the request spent is lowered too");
        assert_eq!(p.pace(Endpoint::UserCreate), 1.0, "another endpoint's bucket keeps its pace");
        assert_eq!(p.reads.pace(), 1.0);
        // A 429 met under the new pace lowers it again; never below about half Slack's rate.
        for _ in 0..10 {
            let t = p.acquire(Endpoint::UserUpdate).await;
            p.throttled(Endpoint::UserUpdate, &t);
        }
        assert!((p.pace(Endpoint::UserUpdate) - 0.9f64.powi(6)).abs() < 1e-9, "{}", p.pace(Endpoint::UserUpdate));
    }

    #[tokio::test]
    async fn after_a_429_the_bucket_starts_empty_and_paces_slower() {
        let p = Pacer::new(1.0, 60.0);
        let t = p.acquire(Endpoint::UserCreate).await;
        p.throttled(Endpoint::UserCreate, &t);
        let t = Instant::now();
        for _ in 0..45 {
            p.acquire(Endpoint::UserCreate).await;
        }
        // No burst, and 162 a second instead of 180: at least 45/162 s (0.25 s at the full pace).
        let secs = t.elapsed().as_secs_f64();
        assert!(secs >= 0.27, "{secs}");
    }

    #[tokio::test]
    async fn the_pace_comes_back_a_tenth_for_every_five_quiet_minutes_of_slacks_time() {
        let p = Pacer::new(1.0, 60.0);
        let b = p.endpoint(Endpoint::GroupUpdate).unwrap();
        for _ in 0..3 {
            let t = p.acquire(Endpoint::GroupUpdate).await;
            p.throttled(Endpoint::GroupUpdate, &t);
        }
        assert!((p.pace(Endpoint::GroupUpdate) - 0.729).abs() < 1e-9);
        // Four minutes: not yet.
        b.age(240.0);
        let stale = p.acquire(Endpoint::GroupUpdate).await;
        assert!((p.pace(Endpoint::GroupUpdate) - 0.729).abs() < 1e-9);
        // Five: a tenth back.
        b.age(60.0);
        p.acquire(Endpoint::GroupUpdate).await;
        assert!((p.pace(Endpoint::GroupUpdate) - 0.81).abs() < 1e-9, "{}", p.pace(Endpoint::GroupUpdate));
        // A 429 to a request sent under an older pace says nothing new of the endpoint's bucket.
        assert_eq!(b.throttled(stale.endpoint.unwrap()), None);
        assert!((p.pace(Endpoint::GroupUpdate) - 0.81).abs() < 1e-9);
        // A quiet hour: all the way back, at once.
        b.age(3600.0);
        p.acquire(Endpoint::GroupUpdate).await;
        assert_eq!(p.pace(Endpoint::GroupUpdate), 1.0);
    }

    #[tokio::test]
    async fn requests_waiting_when_the_pace_is_lowered_wait_again_under_the_new_pace() {
        let p = Arc::new(Pacer::new(1.0, 60.0));
        // The burst spent: ten requests wait in the bucket (180 a second).
        let mut ticket = Ticket::default();
        for _ in 0..15 {
            ticket = p.acquire(Endpoint::UserCreate).await;
        }
        let waiting: Vec<_> = (0..10)
            .map(|_| {
                let p = Arc::clone(&p);
                tokio::spawn(async move { p.acquire(Endpoint::UserCreate).await })
            })
            .collect();
        tokio::task::yield_now().await;
        // 429s lower the pace six times: to 0.9^6 of 180 a second.
        let t = Instant::now();
        for _ in 0..6 {
            assert!(p.throttled(Endpoint::UserCreate, &ticket));
            ticket = Ticket { endpoint: Some(p.endpoint(Endpoint::UserCreate).unwrap().generation()), ..ticket };
        }
        for w in waiting {
            w.await.unwrap();
        }
        // Ten at 95.7 a second from an empty bucket: at least 0.104 s (0.056 s at the old pace).
        let secs = t.elapsed().as_secs_f64();
        assert!(secs >= 0.095, "{secs}");
    }
}

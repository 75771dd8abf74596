//! Deterministic fault injection: with `--fault-rate P --seed S`, a fraction P of SCIM requests gets a
//! 500, a 503, a slow answer, a dropped connection or a truncated body, in a sequence fixed by S.
//!
//! 500 and 503 happen before the request is applied; slow, dropped and truncated answers happen after
//! it was applied (the hard case for clients: a write that succeeded but whose answer was lost).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

/// What goes wrong with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing.
    None,
    /// HTTP 500, request not applied.
    ServerError,
    /// HTTP 503, request not applied.
    Unavailable,
    /// Applied; the answer comes after `slow_ms`.
    Slow,
    /// Applied; the connection closes after the status line, before the body.
    Drop,
    /// Applied; the body stops half way and the connection closes.
    Truncate,
}

/// The fault source.
#[derive(Debug)]
pub struct Faults {
    rate: f64,
    rng: Mutex<StdRng>,
}

impl Faults {
    /// A source with `rate` in 0..=1 and `seed`.
    pub fn new(rate: f64, seed: u64) -> Self {
        Faults { rate: rate.clamp(0.0, 1.0), rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }

    /// The next request's fate.
    pub fn next(&self) -> Fault {
        if self.rate <= 0.0 {
            return Fault::None;
        }
        let mut rng = match self.rng.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if rng.random::<f64>() >= self.rate {
            return Fault::None;
        }
        match rng.random_range(0..5u8) {
            0 => Fault::ServerError,
            1 => Fault::Unavailable,
            2 => Fault::Slow,
            3 => Fault::Drop,
            _ => Fault::Truncate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_rate_is_respected() {
        let a = Faults::new(0.1, 7);
        let b = Faults::new(0.1, 7);
        let sa: Vec<Fault> = (0..2000).map(|_| a.next()).collect();
        let sb: Vec<Fault> = (0..2000).map(|_| b.next()).collect();
        assert_eq!(sa, sb);
        let n = sa.iter().filter(|f| **f != Fault::None).count();
        assert!((120..=280).contains(&n), "{n} faults in 2000 at 10%");
        for kind in [Fault::ServerError, Fault::Unavailable, Fault::Slow, Fault::Drop, Fault::Truncate] {
            assert!(sa.contains(&kind), "{kind:?} never drawn");
        }
        assert!(Faults::new(0.0, 1).next() == Fault::None);
    }
}

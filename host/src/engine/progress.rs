//! Progress reporting: the engine says how far a phase got; the binary shows bars on a terminal.

/// Progress reporting (a terminal shows bars; otherwise plain lines or nothing).
pub trait Progress: Sync {
    /// A phase starts with `total` records.
    fn start(&self, channel: &str, phase: &str, total: u64);
    /// `n` more records are done.
    fn advance(&self, n: u64);
    /// `n` more records joined the phase (the groups, once decided).
    fn add(&self, _n: u64) {}
    /// The phase ended.
    fn finish(&self);
}

/// No progress output.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

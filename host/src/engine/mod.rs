//! The provisioning cycle of one channel, by phase:
//!
//! 1. [`collect`]: read the source and decide per user against the state ([`diff`]);
//! 2. [`execute`]: send the user records in batches (intent recorded first) and settle the results;
//! 3. [`groups`]: decide the groups with the users' target ids as settled, then execute them;
//! 4. audit and figures. `plan` runs the same decisions without sending or writing ([`plan`]).

mod collect;
pub mod diff;
mod execute;
mod groups;
mod plan;

pub use plan::PlannedView;

use crate::audit::Audit;
use crate::clock::unix_now;
use crate::compile::CompiledChannel;
use crate::source::SourceError;
use crate::state::{CycleFigures, State, StateError, Table};
use connector_abi::Instance;
use execute::Executor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why a cycle failed as a whole (nothing is changed in the target for the failing step).
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// The source could not be read.
    #[error("source: {0}")]
    Source(#[from] SourceError),
    /// The state store failed.
    #[error("{0}")]
    State(#[from] StateError),
    /// The audit log could not be written.
    #[error("audit log: {0}")]
    Audit(#[from] std::io::Error),
}

/// Progress reporting (a terminal shows bars; otherwise plain lines or nothing).
pub trait Progress: Sync {
    /// A phase starts with `total` records.
    fn start(&self, channel: &str, phase: &str, total: u64);
    /// `n` more records are done.
    fn advance(&self, n: u64);
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

/// A channel ready to run: compiled configuration and its connection's open connector instance.
pub struct ChannelRuntime {
    /// The compiled channel.
    pub ch: CompiledChannel,
    /// The connection's instance (shared by its channels).
    pub instance: Arc<Instance>,
}

impl ChannelRuntime {
    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.ch.cfg.name
    }
}

/// Engine-wide knobs for a cycle.
pub struct CycleOptions<'a> {
    /// Decide only: send nothing, write nothing.
    pub dry_run: bool,
    /// First retry delay of a failed record, seconds.
    pub backoff_base: u64,
    /// Longest retry delay, seconds.
    pub backoff_max: u64,
    /// Set by a signal: no new batch starts.
    pub stop: &'a AtomicBool,
    /// Progress output.
    pub progress: &'a dyn Progress,
}

/// What a cycle did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CycleReport {
    /// The channel.
    pub channel: String,
    /// The cycle's id in the state (0 for a plan).
    pub cycle_id: i64,
    /// Outcomes counted.
    pub figures: CycleFigures,
    /// Failed records whose backoff has not passed.
    pub deferred: u64,
    /// Full entries read from the source.
    pub entries_read: u64,
    /// Ids checked by an incremental read's presence pass.
    pub ids_checked: u64,
    /// Wall time.
    pub duration_ms: u128,
    /// For `plan`: what would be sent.
    pub planned: Vec<PlannedView>,
    /// Why the cycle failed, if it did.
    pub error: Option<String>,
}

/// Runs one cycle of a channel (or, with `dry_run`, plans it).
pub fn run_cycle(
    rt: &ChannelRuntime,
    state: &mut State,
    audit: &Audit,
    opts: &CycleOptions<'_>,
) -> Result<CycleReport, CycleError> {
    let started = Instant::now();
    let now = unix_now();
    let cycle_id = if opts.dry_run { 0 } else { state.begin_cycle(rt.name(), now)? };
    match cycle_body(rt, state, audit, opts, cycle_id, now) {
        Ok(mut report) => {
            report.duration_ms = started.elapsed().as_millis();
            if !opts.dry_run {
                state.end_cycle(cycle_id, unix_now(), &report.figures, None)?;
            }
            Ok(report)
        }
        Err(e) => {
            if !opts.dry_run {
                state.end_cycle(cycle_id, unix_now(), &CycleFigures::default(), Some(&e.to_string()))?;
            }
            Err(e)
        }
    }
}

fn cycle_body(
    rt: &ChannelRuntime,
    state: &mut State,
    audit: &Audit,
    opts: &CycleOptions<'_>,
    cycle_id: i64,
    now: i64,
) -> Result<CycleReport, CycleError> {
    let channel = rt.name();
    let mut users = state.rows(Table::Users, channel)?;
    let mut snap = collect::collect(rt, &users, state.token(channel)?, now)?;
    let mut report = CycleReport {
        channel: channel.to_owned(),
        cycle_id,
        deferred: snap.deferred,
        entries_read: snap.outcome.entries_read,
        ids_checked: snap.outcome.ids_checked,
        ..Default::default()
    };
    let exec = Executor { rt, audit, cycle_id, opts };
    let planned = std::mem::take(&mut snap.planned);
    if opts.dry_run {
        report.planned = planned.iter().map(|p| plan::view(rt, p)).collect();
        plan::predicted(&mut users, &planned);
    } else {
        let quiet = std::mem::take(&mut snap.quiet);
        state.settle(Table::Users, channel, &quiet, now)?;
        let sent = exec.send(state, Table::Users, planned, &users, &mut report.figures)?;
        // The groups phase sees the users as this cycle settled them, without re-reading the state.
        for row in quiet.into_iter().chain(sent) {
            users.insert(row.source_id.clone(), row);
        }
    }
    if let Some(g) = &rt.ch.cfg.groups {
        if opts.stop.load(Ordering::SeqCst) {
            return Ok(report);
        }
        let rows = state.rows(Table::Groups, channel)?;
        let memberships = state.memberships(channel)?;
        let gp = groups::decide_groups(rt, g, &snap, &users, &rows, &memberships, now);
        report.deferred += gp.deferred;
        if opts.dry_run {
            report.planned.extend(gp.planned.iter().map(|p| plan::view(rt, p)));
        } else {
            state.settle(Table::Groups, channel, &gp.quiet, now)?;
            exec.send(state, Table::Groups, gp.planned, &rows, &mut report.figures)?;
        }
    }
    if !opts.dry_run && snap.outcome.token.is_some() {
        state.set_token(channel, snap.outcome.token.as_deref())?;
    }
    Ok(report)
}

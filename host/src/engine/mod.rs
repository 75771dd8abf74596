//! The provisioning cycle of one channel, by phase:
//!
//! 1. [`collect`]: read the source and decide per user against the state ([`diff`]);
//! 2. [`dispatch`]: send the user records in batches, those the groups depend on (creates,
//!    reactivations, disables) first; as soon as they have settled, decide the groups ([`groups`]) with
//!    the users' target ids as settled and send them beside the remaining user records; [`execute`]
//!    settles every batch as it comes back (intent recorded first);
//! 3. audit and figures. `plan` runs the same decisions without sending or writing ([`plan`]).
//!
//! Between deciding and sending, two checks stand: [`identity`] refuses records that would share an
//! account with another record of the connection, and [`guard`] holds deprovisioning actions above the
//! channel's thresholds (or after an empty read) until an administrator approves them.

mod collect;
pub mod diff;
mod dispatch;
mod execute;
mod groups;
mod guard;
mod identity;
mod plan;
mod progress;

pub use plan::{PlannedView, RefusedView};
pub use progress::{NoProgress, Progress};

use crate::audit::Audit;
use crate::clock::unix_now;
use crate::compile::CompiledChannel;
use crate::source::SourceError;
use crate::state::Row;
use crate::state::{CycleFigures, HeldAction, Owner, State, StateError, Status, Table};
use connector_abi::Instance;
use execute::Executor;
use std::collections::BTreeMap;
use std::collections::{HashMap, HashSet};
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
    /// The cycle stopped before it could decide (its other thread ended without its part).
    #[error("the cycle stopped: {0}")]
    Aborted(&'static str),
}

/// A channel ready to run: compiled configuration and its connection's open connector instance.
pub struct ChannelRuntime {
    /// The compiled channel.
    pub ch: CompiledChannel,
    /// The connection's instance (shared by its channels).
    pub instance: Arc<Instance>,
    /// The record attribute the connector matches accounts by (its unique user identifier), if any.
    pub ident_attribute: Option<String>,
    /// Honour what the connector skipped before (false when the connection's settings changed since).
    pub honour_skipped: bool,
    /// Set when the connection's instance panicked: no further batch goes to it, and the caller opens
    /// a fresh instance before the next channel (shared by the connection's channels).
    pub panicked: Arc<AtomicBool>,
    /// The connection's index in the configuration (to open a fresh instance).
    pub connection_index: usize,
}

impl ChannelRuntime {
    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.ch.cfg.name
    }
}

/// Engine-wide knobs for a cycle.
#[derive(Clone, Copy)]
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
    /// In failover and cluster modes: how long the lease the cycle runs under stays valid here
    /// (`None`: lost). Every connector call's deadline ends before it; no batch starts without it.
    pub lease: Option<&'a (dyn Fn() -> Option<std::time::Duration> + Sync)>,
    /// The process exits after this cycle (the last channel of `sync --once` or `plan`): what the
    /// cycle read is left to the exit instead of being freed.
    pub exits_after: bool,
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
    /// Where the cycle's time went, milliseconds: reading and deciding (`collect_ms`), sending users and
    /// groups (`send_ms`), within it when the groups were decided (`groups_started_ms`, from the start
    /// of the send) and how long that took (`decide_groups_ms`), and recording the cycle (`finish_ms`).
    pub phases_ms: BTreeMap<&'static str, u64>,
    /// For `plan`: what would be sent.
    pub planned: Vec<PlannedView>,
    /// For `plan`: records that would be refused before sending (a duplicate unique identifier or group
    /// name), with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<plan::RefusedView>,
    /// Deprovisioning actions the guard held this cycle.
    pub held: Vec<HeldAction>,
    /// The guard's message when it held actions (names the count, the threshold, the commands).
    pub guard: Option<String>,
    /// Why the cycle failed, if it did.
    pub error: Option<String>,
}

/// A groups decision: the records to send, the rows to settle without a call, and the records refused
/// before sending (with why).
type GroupDecision = (Vec<diff::Planned>, Vec<Row>, Vec<(diff::Planned, connector_abi::payload::ErrorInfo)>);

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
    let mut phase = std::time::Instant::now();
    let mut phases: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut lap = |name: &'static str| {
        phases.insert(name, phase.elapsed().as_millis() as u64);
        phase = std::time::Instant::now();
    };
    // References (e.g. managers) resolve against the connection's provisioned users.
    let references = match rt.ch.mapping.references().next() {
        Some(_) => Some(state.reference_index(channel)?),
        None => None,
    };
    let token = state.token(channel)?;
    // The users' rows go to the read as soon as they are loaded: entries read before wait for them.
    let (rows_to_read, feed) = std::sync::mpsc::channel();
    let (read, beside) = match &rt.ch.cfg.groups {
        // The source is read and decided on one thread while this one loads the users' rows, then what
        // else the cycle needs from the state (the groups' rows and recorded memberships above all),
        // which it uses only afterwards.
        Some(_) => std::thread::scope(|s| {
            // Owned here: if loading the rows panics, unwinding drops it and the waiting read ends.
            let rows_to_read = rows_to_read;
            let reader = s.spawn(|| collect::collect(rt, feed, references.as_ref(), token, now));
            // The read fails with the rows' error if they cannot be loaded (it is gone if the read
            // failed first).
            let _ = rows_to_read.send(state.rows(Table::Users, channel));
            let beside = Beside::load(state, rt, true);
            // A panic in the reader is the cycle's panic.
            let read = reader.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (read, beside)
        }),
        // No groups: little to load beside the read, so no second thread (nor its allocator arena).
        None => {
            let _ = rows_to_read.send(state.rows(Table::Users, channel));
            let read = collect::collect(rt, feed, references.as_ref(), token, now)?;
            // The identifiers elsewhere only when there is something to check.
            let beside = Beside::load(state, rt, !read.0.planned.is_empty());
            (Ok(read), beside)
        }
    };
    let (mut snap, mut users) = read?;
    let Beside { groups: group_state, idents_elsewhere, names_elsewhere } = beside?;
    let mut report = CycleReport {
        channel: channel.to_owned(),
        cycle_id,
        deferred: snap.deferred,
        entries_read: snap.outcome.entries_read,
        ids_checked: snap.outcome.ids_checked,
        ..Default::default()
    };
    let exec = Executor { rt, audit, cycle_id, opts };
    let mut planned = std::mem::take(&mut snap.planned);

    // Identity: records that would share an account are refused before anything is sent.
    let mut refused = Vec::new();
    if let Some(attr) = rt.ident_attribute.as_deref().filter(|_| !planned.is_empty()) {
        let elsewhere = match idents_elsewhere {
            Some(e) => e,
            None => state.ident_owners_elsewhere(channel)?,
        };
        (planned, refused) =
            identity::refuse_duplicates(identity::Subject::User(attr), &snap.idents, &users, &elsewhere, planned);
    }

    // The guard counts this cycle's deprovisioning actions, groups included (decided on the predicted
    // users), before any of them is sent.
    let groups_rows = match (&rt.ch.cfg.groups, group_state) {
        (Some(g), Some((rows, memberships))) => Some((rows, memberships, groups::expand_groups(rt, g, &snap))),
        _ => None,
    };
    let mut actions = guard::user_actions(&planned);
    let active = |rows: &HashMap<String, Row>| {
        rows.values().filter(|r| r.target_id.is_some() && r.status == Status::Active).count() as u64
    };
    let mut groups_counts = (0, 0);
    if let Some((rows, memberships, expanded)) = &groups_rows {
        let predicted = plan::predicted_overlay(&users, &planned);
        let nobody = HashSet::new();
        // Only what the guard counts: the real decision comes once the users it depends on have settled.
        let gp = groups::decide_groups(
            rt,
            expanded,
            &snap,
            &groups::UserRows::with_settled(&users, &predicted, &nobody),
            (rows, memberships),
            now,
            diff::GroupDetail::Removals,
        );
        let gone: HashSet<&str> = actions.iter().map(|a| a.source_id.as_str()).collect();
        actions.extend(guard::group_actions(&gp.planned, &gone));
        groups_counts = (active(rows), gp.desired);
    }
    let users_counts = (active(&users), snap.users_read);
    // Read after the source (not beside it): an approval or rejection made while a slow source is read
    // counts in this cycle.
    let holds_read = state.holds(channel, None)?;
    let verdict = guard::decide(rt, users_counts, groups_counts, &actions, &holds_read);
    guard::apply_to_users(&verdict, &mut planned, &actions);

    lap("collect_ms");
    let mut held: Vec<HeldAction> = actions.into_iter().filter(|a| a.object_class == "user").collect();
    let deprovisioned: HashSet<&str> = held.iter().map(|a| a.source_id.as_str()).collect();
    // Users whose own deprovisioning is held or rejected stay in their groups.
    let blocked: HashSet<&str> = held.iter().filter(|a| verdict.blocks(a)).map(|a| a.source_id.as_str()).collect();
    // The groups' decision, on the users as this cycle settled them (or, for a plan, as it would).
    let mut group_actions: Vec<HeldAction> = Vec::new();
    let mut groups_deferred = 0;
    let quiet = std::mem::take(&mut snap.quiet);
    let mut decide = |users: &groups::UserRows<'_>| -> Option<GroupDecision> {
        let (rows, memberships, expanded) = groups_rows.as_ref()?;
        let mut gp =
            groups::decide_groups(rt, expanded, &snap, users, (rows, memberships), now, diff::GroupDetail::Record);
        groups_deferred += gp.deferred;
        // A group whose name another group of the connection has is refused before anything is sent.
        let refused;
        (gp.planned, refused) = identity::refuse_duplicates(
            identity::Subject::GroupName,
            &gp.names,
            rows,
            &names_elsewhere,
            std::mem::take(&mut gp.planned),
        );
        let actions = guard::group_actions(&gp.planned, &deprovisioned);
        guard::apply_to_groups(&verdict, &mut gp.planned, &actions, &blocked);
        group_actions.extend(actions);
        Some((gp.planned, gp.quiet, refused))
    };
    let halted;
    let mut send_times = dispatch::SendTimes::default();
    if opts.dry_run {
        report.planned = planned.iter().map(|p| plan::view(rt, p)).collect();
        report.refused = refused.iter().map(|(p, why)| plan::refused(p, why)).collect();
        plan::predicted(&mut users, &planned);
        // A stop skips the groups, as in a real cycle.
        halted = exec.halted();
        if groups_rows.is_some() && !halted {
            if let Some((gp, _, refused)) = decide(&groups::UserRows::new(&users)) {
                report.planned.extend(gp.iter().map(|p| plan::view(rt, p)));
                report.refused.extend(refused.iter().map(|(p, why)| plan::refused(p, why)));
            }
            lap("decide_groups_ms");
        }
    } else {
        state.settle(Table::Users, channel, &quiet, now)?;
        let settled = exec.refuse(state, Table::Users, refused, &users, &mut report.figures)?;
        for row in quiet.into_iter().chain(settled) {
            users.insert(row.source_id.clone(), row);
        }
        // The groups phase starts once the users it depends on have settled, beside the rest.
        let groups_phase = groups_rows.as_ref().map(|(rows, _, _)| dispatch::GroupsPhase {
            rows,
            decide: Box::new(|state: &mut State, users: &groups::UserRows<'_>| {
                let (planned, quiet, refused) = decide(users).unwrap_or_default();
                state.settle(Table::Groups, channel, &quiet, now)?;
                Ok((planned, refused))
            }),
        });
        let times = exec.send_cycle(state, planned, &users, groups_phase, &mut report.figures)?;
        halted = exec.halted();
        lap("send_ms");
        send_times = times;
    }
    report.deferred += groups_deferred;
    held.extend(group_actions);
    if !opts.dry_run {
        guard::record(state, audit, channel, cycle_id, &verdict, &held, now)?;
        // A held cycle keeps its change-detection token, so an incremental source proposes the same
        // actions again (for approval) instead of forgetting entries it already read.
        // Likewise after a failed, deferred or stopped record: an incremental source reads it again.
        let complete = !halted && report.figures.failed == 0 && report.deferred == 0;
        if !verdict.hold && complete && snap.outcome.token.is_some() {
            state.set_token(channel, snap.outcome.token.as_deref())?;
        }
    }
    if verdict.hold {
        report.held = held.into_iter().filter(|a| verdict.blocks(a)).collect();
        report.guard = verdict.message;
    }
    lap("finish_ms");
    if let Some(ms) = send_times.groups_started_ms {
        phases.insert("groups_started_ms", ms);
        phases.insert("decide_groups_ms", send_times.decide_groups_ms);
    }
    report.phases_ms = phases;
    // What the cycle read and decided (hundreds of thousands of strings for a large directory) is freed
    // beside whatever runs next, not before the cycle can report (or left to the exit that comes next).
    drop_behind((snap, groups_rows, users), opts.exits_after);
    Ok(report)
}

/// A channel's groups' rows and their recorded memberships (group source id → member source ids).
type GroupState = (HashMap<String, Row>, HashMap<String, Vec<String>>);

/// What a cycle reads from the state besides the users' rows, before it decides: what only this
/// channel's connection writes (the held actions, which `approve` and `reject` may change during the
/// read, are read after it).
struct Beside {
    /// The groups' rows and recorded memberships (a channel with groups).
    groups: Option<GroupState>,
    /// Who in the connection's other channels holds each unique identifier (`None`: not loaded).
    idents_elsewhere: Option<HashMap<String, Owner>>,
    /// The display names the connection's other channels' groups have (a channel with groups).
    names_elsewhere: HashMap<String, Owner>,
}

impl Beside {
    /// Loads the groups' part for a channel with groups, the identifiers held elsewhere when `idents`
    /// (and the connector has a unique identifier).
    fn load(state: &State, rt: &ChannelRuntime, idents: bool) -> Result<Self, StateError> {
        let channel = rt.name();
        let groups = rt.ch.cfg.groups.is_some();
        let group_state = match groups {
            true => Some((state.rows(Table::Groups, channel)?, state.memberships(channel)?)),
            false => None,
        };
        Ok(Beside {
            groups: group_state,
            idents_elsewhere: match rt.ident_attribute {
                Some(_) if idents => Some(state.ident_owners_elsewhere(channel)?),
                _ => None,
            },
            names_elsewhere: if groups { state.group_names_elsewhere(channel)? } else { HashMap::new() },
        })
    }
}

/// Set once the process is known to exit after its cycles (`sync --once`, `plan`).
static EXIT_AFTER_CYCLES: AtomicBool = AtomicBool::new(false);

/// Says the process exits after the cycles it runs now (`sync --once`, `plan`): the last of them
/// ([`CycleOptions::exits_after`]) leaves what it read and decided to the exit instead of freeing it
/// beside the process's own teardown, which that slowed by about 13 ms for 10,100 users.
pub fn exit_after_cycles() {
    EXIT_AFTER_CYCLES.store(true, Ordering::SeqCst);
}

/// Whether [`exit_after_cycles`] was called.
pub fn exits_after_cycles() -> bool {
    EXIT_AFTER_CYCLES.load(Ordering::SeqCst)
}

/// Drops `value` on a thread of its own (inline when no thread can be started), or, when the process
/// exits next (`exiting`), not at all: `value` must hold memory only, no resource that needs closing.
/// Returns the thread that frees `value`, if one does.
pub(crate) fn drop_behind<T: Send + 'static>(value: T, exiting: bool) -> Option<std::thread::JoinHandle<()>> {
    if exiting {
        std::mem::forget(value);
        return None;
    }
    // On failure the closure, and `value` with it, is dropped here.
    std::thread::Builder::new().name("drop".into()).spawn(move || drop(value)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn what_a_cycle_read_is_freed_behind_it_unless_the_process_exits_next() {
        let drops = Arc::new(AtomicUsize::new(0));
        let freeing = drop_behind(Counted(Arc::clone(&drops)), false).expect("a thread frees it");
        freeing.join().expect("the freeing thread ends");
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // The exit returns the memory: nothing spends time freeing it first.
        assert!(drop_behind(Counted(Arc::clone(&drops)), true).is_none());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}

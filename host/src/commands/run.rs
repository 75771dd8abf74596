//! `provisioner run`: cycles every `cycle_interval_seconds` until SIGTERM/SIGINT. Standalone, under
//! the single-writer lock; in failover and cluster modes, as one node of several on a PostgreSQL
//! state, cycling only what its leases cover and fencing every write by them.

use super::sync::{cycle_all, cycle_all_leased, runtimes, runtimes_of, summary};
use super::{open_audit, state_location, stop_flag, CommandError, Context};
use crate::cluster::{self, Coordinator, Plan};
use crate::compile::Compiled;
use crate::config::Mode;
use crate::engine::{ChannelRuntime, NoProgress};
use crate::state::{Fence, State, StateLocation};
use anyhow::Context as _;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `provisioner run`.
pub fn run(ctx: &Context) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    if compiled.loaded.config.engine.mode != Mode::Standalone {
        return run_node(&compiled);
    }
    let mut lock = Some(super::lock_state(&compiled.loaded)?);
    let (mut state, audit) = super::open_locked(&compiled.loaded, &mut lock)?;
    let mut rts = runtimes(&compiled, &mut state, false)?;
    let stop = stop_flag()?;
    let interval = Duration::from_secs(compiled.loaded.config.engine.cycle_interval_seconds);
    tracing::info!(channels = rts.len(), interval_s = interval.as_secs(), "provisioner running");
    while !stop.load(Ordering::SeqCst) {
        let reports = cycle_all(&mut rts, &mut state, &audit, &compiled, false, &stop, &NoProgress);
        print!("{}", summary(&reports));
        let until = Instant::now() + interval;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The leases of this mode, and which connections each covers.
fn leases(compiled: &Compiled) -> Vec<(String, Vec<String>)> {
    let active: Vec<String> = compiled
        .loaded
        .config
        .connections
        .iter()
        .filter(|c| c.active && compiled.channels.iter().any(|ch| ch.connection == c.name && ch.cfg.active))
        .map(|c| c.name.clone())
        .collect();
    match compiled.loaded.config.engine.mode {
        Mode::Cluster => active.into_iter().map(|c| (cluster::connection_lease(&c), vec![c])).collect(),
        _ => vec![(cluster::ACTIVE_LEASE.to_owned(), active)],
    }
}

/// What a node holds now: the leases with their epochs, the opened state, and per lease the runtimes
/// of the channels it covers.
struct Term {
    owned: Vec<(String, i64)>,
    state: State,
    by_lease: Vec<(String, i64, Vec<ChannelRuntime>)>,
}

/// A failover or cluster node: waits as a standby until it holds a lease, then cycles what its leases
/// cover; steps down (halting the calls in flight) when it loses one.
fn run_node(compiled: &Compiled) -> Result<(), CommandError> {
    let l = &compiled.loaded;
    let e = &l.config.engine;
    let node = e.node_id.clone().unwrap_or_else(cluster::lease::default_node_id);
    let app = cluster::lease::state_application_name(&node);
    let StateLocation::Postgres(target) = state_location(l, &app)? else {
        return Err(CommandError::Usage(anyhow::anyhow!("failover and cluster modes need a PostgreSQL state")));
    };
    let audit = open_audit(l)?;
    let stop = stop_flag()?;
    let lease_map = leases(compiled);
    let plan = Plan {
        target: target.clone(),
        node: node.clone(),
        mode: e.mode,
        lease: Duration::from_secs(e.lease_seconds),
        leases: lease_map.iter().map(|(n, _)| n.clone()).collect(),
    };
    let coord = Coordinator::start(plan, Arc::clone(&stop)).map_err(|e| match e {
        cluster::JoinError::Db(db) => CommandError::Failed(anyhow::Error::new(db).context("joining the cluster")),
        other => CommandError::Failed(anyhow::Error::new(other)),
    })?;
    let interval = Duration::from_secs(e.cycle_interval_seconds);
    tracing::info!(node = %node, mode = e.mode.as_str(), lease_s = e.lease_seconds, "node started (standby until it holds a lease)");
    let mut term: Option<Term> = None;
    while !stop.load(Ordering::SeqCst) {
        let owned = coord.owned();
        if owned.is_empty() {
            if term.take().is_some() {
                tracing::warn!(node = %node, "stepped down: standby");
            }
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        if term.as_ref().is_none_or(|t| t.owned != owned) {
            term = None;
            match open_term(compiled, &target, &node, &owned, &lease_map) {
                Ok(t) => {
                    tracing::info!(node = %node, leases = ?owned, "active");
                    term = Some(t);
                }
                Err(e) => {
                    tracing::error!(node = %node, "cannot start under the leases held: {e:#}");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            }
        }
        let Some(t) = term.as_mut() else { continue };
        let mut failed = false;
        for (lease, epoch, rts) in t.by_lease.iter_mut() {
            let (lease, epoch) = (lease.clone(), *epoch);
            // Claimed: not given up to rebalancing until done; `None` if lost or halted meanwhile.
            let Some(halt) = coord.claim(&lease, epoch) else {
                failed = true;
                continue;
            };
            t.state.set_fence(Some(Fence { leases: vec![(lease.clone(), epoch)], node: node.clone() }));
            let valid_for = |l: &str| coord.valid_for(l);
            let lease_name = lease.clone();
            let left = move || valid_for(&lease_name);
            let reports =
                cycle_all_leased(rts, &mut t.state, &audit, compiled, false, &halt, &stop, &NoProgress, Some(&left));
            coord.done(&lease);
            print!("{}", summary(&reports));
            failed |= reports.iter().any(|r| r.error.is_some());
            if halt.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
                tracing::warn!(node = %node, lease = %lease, epoch, "the lease was lost or lapsed during the cycle: its calls were halted, nothing more is written under it");
                failed = true;
            }
        }
        if failed {
            // The session may have been ended by a takeover: the next round opens a fresh one.
            term = None;
        }
        let generation = coord.generation();
        let until = Instant::now() + interval;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) && coord.generation() == generation {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(term);
    coord.stop();
    tracing::info!(node = %node, "stopped; leases released");
    Ok(())
}

/// Opens the state and the connectors of what `owned` covers (writes fenced by those leases).
fn open_term(
    compiled: &Compiled,
    target: &crate::state::PgTarget,
    node: &str,
    owned: &[(String, i64)],
    lease_map: &[(String, Vec<String>)],
) -> anyhow::Result<Term> {
    let mut state = State::open_at(&StateLocation::Postgres(target.clone())).context("opening the state database")?;
    state.set_fence(Some(Fence { leases: owned.to_vec(), node: node.to_owned() }));
    let only: HashSet<String> = lease_map
        .iter()
        .filter(|(n, _)| owned.iter().any(|(o, _)| o == n))
        .flat_map(|(_, c)| c.iter().cloned())
        .collect();
    let mut rts = runtimes_of(compiled, &mut state, false, Some(&only)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let by_lease = owned
        .iter()
        .map(|(lease, epoch)| {
            let covers: HashSet<&String> =
                lease_map.iter().filter(|(n, _)| n == lease).flat_map(|(_, c)| c.iter()).collect();
            let (mine, rest): (Vec<_>, Vec<_>) = rts.drain(..).partition(|rt| covers.contains(&rt.ch.connection));
            rts = rest;
            (lease.clone(), *epoch, mine)
        })
        .collect();
    Ok(Term { owned: owned.to_vec(), state, by_lease })
}

//! The coordinator thread of a failover or cluster node: every tick (a fifth of the lease) it
//! heartbeats, renews the leases it holds, gives up what it should not hold and takes what it should;
//! between ticks (every 100 ms) it checks each held lease's local validity and the stop signal.
//!
//! The run loop asks it what the node owns ([`Coordinator::owned`]), how long a lease stays valid in
//! this process's clock ([`Coordinator::valid_for`]: the deadline of every connector call), and for a
//! halt flag per lease, raised when the lease is lost, lapses locally, or the process is stopping.
//!
//! Local validity: a renewal sent at instant `t` makes the lease valid here until `t + lease - margin`;
//! the server sets `expires_at = now() + lease` when it runs the renewal, which is later, so this
//! process stops calling the target before any other node can take the lease over.

use super::lease::{Coordination, Held, JoinError};
use crate::config::Mode;
use crate::state::PgTarget;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A lease as this process holds it.
#[derive(Debug, Clone)]
struct Holding {
    held: Held,
    valid_until: Instant,
    halt: Arc<AtomicBool>,
}

/// What the node holds, and which of it the run loop is cycling under (one lock for both, so a lease is
/// never given up between the run loop's check and its claim).
#[derive(Default)]
struct Holdings {
    leases: HashMap<String, Holding>,
    /// Leases the run loop is cycling under (not given up mid-cycle when rebalancing).
    busy: HashSet<String>,
}

#[derive(Default)]
struct Shared {
    holding: Mutex<Holdings>,
    /// Bumped on every change of what the node holds (the run loop wakes on it).
    generation: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The coordinator of one node.
pub struct Coordinator {
    shared: Arc<Shared>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the coordinator is started with.
pub struct Plan {
    /// The state's database.
    pub target: PgTarget,
    /// This node.
    pub node: String,
    /// Failover or cluster.
    pub mode: Mode,
    /// Lease length.
    pub lease: Duration,
    /// The leases to hold: `active` (failover) or `connection:<name>` for each active connection.
    pub leases: Vec<String>,
}

impl Coordinator {
    /// Joins the cluster (refused if the node id is in use) and starts the thread. `signal` is the
    /// process's stop flag: when it is set, every halt flag is raised.
    pub fn start(plan: Plan, signal: Arc<AtomicBool>) -> Result<Coordinator, JoinError> {
        let mut coord = Coordination::join(&plan.target, &plan.node, plan.mode.as_str(), plan.lease)?;
        coord.ensure(&plan.leases)?;
        let shared = Arc::new(Shared::default());
        let quit = Arc::new(AtomicBool::new(false));
        let (s, q) = (Arc::clone(&shared), Arc::clone(&quit));
        let thread = std::thread::Builder::new()
            .name("coordinator".into())
            .spawn(move || run(coord, plan, &s, &q, &signal))
            .map_err(|e| {
                JoinError::Db(crate::state::BackendError::Config(format!("cannot start the coordinator: {e}")))
            })?;
        Ok(Coordinator { shared, quit, thread: Some(thread) })
    }

    /// The leases held and valid now, with their epochs.
    pub fn owned(&self) -> Vec<(String, i64)> {
        let now = Instant::now();
        let mut v: Vec<(String, i64)> = lock(&self.shared.holding)
            .leases
            .iter()
            .filter(|(_, h)| h.valid_until > now && !h.halt.load(Ordering::SeqCst))
            .map(|(n, h)| (n.clone(), h.held.epoch))
            .collect();
        v.sort();
        v
    }

    /// How long `lease` stays valid in this process's clock (`None`: not held).
    pub fn valid_for(&self, lease: &str) -> Option<Duration> {
        let h = lock(&self.shared.holding).leases.get(lease).cloned()?;
        if h.halt.load(Ordering::SeqCst) {
            return None;
        }
        h.valid_until.checked_duration_since(Instant::now())
    }

    /// Claims `lease` at `epoch` for a cycle: it is not given up (rebalancing) until [`done`](Self::done).
    /// Returns its halt flag (raised on loss, local lapse or stop), or `None` if it is no longer held at
    /// that epoch or already halted.
    pub fn claim(&self, lease: &str, epoch: i64) -> Option<Arc<AtomicBool>> {
        let mut h = lock(&self.shared.holding);
        let halt = h
            .leases
            .get(lease)
            .filter(|x| x.held.epoch == epoch && !x.halt.load(Ordering::SeqCst) && x.valid_until > Instant::now())
            .map(|x| Arc::clone(&x.halt))?;
        h.busy.insert(lease.to_owned());
        Some(halt)
    }

    /// Ends a [`claim`](Self::claim).
    pub fn done(&self, lease: &str) {
        lock(&self.shared.holding).busy.remove(lease);
    }

    /// Changes whenever what the node holds changes.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::SeqCst)
    }

    /// Releases every lease and marks the node stopped.
    pub fn stop(mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut coord: Coordination, plan: Plan, shared: &Shared, quit: &AtomicBool, signal: &AtomicBool) {
    let tick = (plan.lease / 5).max(Duration::from_millis(500));
    let margin = (plan.lease / 10).max(Duration::from_millis(500));
    let mut next_tick = Instant::now();
    loop {
        let stopping = quit.load(Ordering::SeqCst) || signal.load(Ordering::SeqCst);
        // Local checks, every 100 ms: a stop halts every lease; a lease that lapsed here (renewals
        // failed for too long) is given up, to be taken again at a new epoch once renewals work.
        let now = Instant::now();
        let lapsed: Vec<(String, Holding)> = {
            let mut h = lock(&shared.holding);
            for x in h.leases.values() {
                if stopping {
                    x.halt.store(true, Ordering::SeqCst);
                }
            }
            let names: Vec<String> =
                h.leases.iter().filter(|(_, x)| x.valid_until <= now).map(|(n, _)| n.clone()).collect();
            names.into_iter().filter_map(|n| h.leases.remove(&n).map(|x| (n, x))).collect()
        };
        for (name, h) in lapsed {
            h.halt.store(true, Ordering::SeqCst);
            shared.generation.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(lease = %name, epoch = h.held.epoch, "the lease lapsed here (renewals failed): stepping down from it");
            // Not released: the row keeps its expiry, so no node takes it over before the server's
            // clock says it lapsed (calls still in flight here end before that). Only the lock goes.
            if let Err(e) = coord.unlock(h.held.key) {
                tracing::warn!(lease = %name, "cannot let the lapsed lease's lock go: {e}");
            }
        }
        if stopping {
            let busy_free = lock(&shared.holding).busy.is_empty() || quit.load(Ordering::SeqCst);
            if busy_free {
                give_up_all(&mut coord, shared);
                let _ = coord.leave();
                return;
            }
        }
        if !stopping && Instant::now() >= next_tick {
            next_tick = Instant::now() + tick;
            if let Err(e) = tick_once(&mut coord, &plan, shared, margin) {
                tracing::warn!("coordination: {e}");
                if coord.is_closed() {
                    reconnect(&mut coord, shared);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// After the session was lost: a new one, and the advisory locks of the leases still held re-taken
/// (a lease whose lock another session has now is dropped).
fn reconnect(coord: &mut Coordination, shared: &Shared) {
    let locks = match coord.reconnect() {
        Ok(ok) => ok,
        Err(e) => {
            tracing::warn!("coordination: cannot reconnect: {e}");
            false
        }
    };
    if !locks {
        tracing::warn!("this node's locks are not held (the server is unreachable, or a one-off writer or another process with this node id took them): stepping down from every lease until they are");
    }
    // The database calls are made outside the lock the run loop's calls take.
    let held: Vec<(String, Held)> =
        lock(&shared.holding).leases.iter().map(|(n, h)| (n.clone(), h.held.clone())).collect();
    for (name, h) in held {
        let ok = locks && coord.relock(&h).unwrap_or(false);
        if !ok {
            if let Some(x) = lock(&shared.holding).leases.remove(&name) {
                x.halt.store(true, Ordering::SeqCst);
                tracing::warn!(lease = %name, "lost the lease's lock on reconnecting: stepping down from it");
                shared.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

fn give_up_all(coord: &mut Coordination, shared: &Shared) {
    let all: Vec<(String, Holding)> = lock(&shared.holding).leases.drain().collect();
    for (name, h) in all {
        h.halt.store(true, Ordering::SeqCst);
        if let Err(e) = coord.release(&name, &h.held) {
            tracing::warn!(lease = %name, "cannot release the lease: {e} (it lapses by itself)");
        }
    }
    shared.generation.fetch_add(1, Ordering::SeqCst);
}

fn tick_once(
    coord: &mut Coordination,
    plan: &Plan,
    shared: &Shared,
    margin: Duration,
) -> Result<(), crate::state::BackendError> {
    if !coord.locks_ok() && !coord.retake_locks()? {
        // Another process holds this node's id or the state (a one-off writer): take nothing.
        let _ = coord.heartbeat("standby")?;
        return Ok(());
    }
    let role = if lock(&shared.holding).leases.is_empty() { "standby" } else { "active" };
    let live = coord.heartbeat(role)?;
    // Renew what is held.
    let held: Vec<(String, Holding)> =
        lock(&shared.holding).leases.iter().map(|(n, h)| (n.clone(), h.clone())).collect();
    let sent = Instant::now();
    let renewed = coord.renew(&held.iter().map(|(n, h)| (n.clone(), h.held.epoch)).collect::<Vec<_>>())?;
    for (name, h) in held {
        if renewed.contains(&name) {
            if let Some(x) = lock(&shared.holding).leases.get_mut(&name) {
                x.valid_until = sent + plan.lease.saturating_sub(margin);
            }
        } else {
            h.halt.store(true, Ordering::SeqCst);
            lock(&shared.holding).leases.remove(&name);
            shared.generation.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(lease = %name, epoch = h.held.epoch, "lost the lease (another node took it over): stepping down from it");
        }
    }
    let rows = coord.leases()?;
    let ours: Vec<_> = rows.iter().filter(|r| plan.leases.contains(&r.name)).collect();
    let want = match plan.mode {
        Mode::Cluster => super::balance::quota(ours.len(), live),
        _ => ours.len(),
    };
    let holding_now = lock(&shared.holding).leases.len();
    if holding_now > want {
        // Rebalance: give up the least preferred leases that are not mid-cycle (checked and removed
        // under the lock the run loop claims under).
        let mut names: Vec<String> = lock(&shared.holding).leases.keys().cloned().collect();
        names.sort_by_key(|n| super::balance::score(&plan.node, n));
        let mut given = 0;
        for name in names {
            if given == holding_now - want {
                break;
            }
            let taken = {
                let mut h = lock(&shared.holding);
                if h.busy.contains(&name) {
                    None
                } else {
                    h.leases.remove(&name)
                }
            };
            if let Some(h) = taken {
                given += 1;
                h.halt.store(true, Ordering::SeqCst);
                coord.release(&name, &h.held)?;
                shared.generation.fetch_add(1, Ordering::SeqCst);
                tracing::info!(lease = %name, live_nodes = live, "gave the lease up to rebalance");
            }
        }
    } else if holding_now < want {
        let by_name: HashMap<&str, _> = ours.iter().map(|r| (r.name.as_str(), *r)).collect();
        let mut need = want - holding_now;
        for name in super::balance::by_preference(&plan.node, by_name.keys().copied()) {
            if need == 0 {
                break;
            }
            if lock(&shared.holding).leases.contains_key(name) {
                continue;
            }
            let sent = Instant::now();
            if let Some(held) = coord.try_take(by_name[name])? {
                tracing::info!(lease = %name, epoch = held.epoch, "took the lease");
                lock(&shared.holding).leases.insert(
                    name.to_owned(),
                    Holding {
                        held,
                        valid_until: sent + plan.lease.saturating_sub(margin),
                        halt: Arc::new(AtomicBool::new(false)),
                    },
                );
                shared.generation.fetch_add(1, Ordering::SeqCst);
                need -= 1;
            }
        }
    }
    Ok(())
}

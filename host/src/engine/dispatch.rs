//! Dispatch: the connector calls of a cycle, in batches over the channel's threads, in two lanes.
//!
//! The users lane sends first the records the groups depend on, then the rest. A group names the
//! users of the source that are active and provisioned, by their accounts: creates, reactivations and
//! disables (of users the source still has) change that; a plain update changes neither the account
//! nor whether it is active, and a user the source no longer has is in none of its groups whatever
//! becomes of the account. The groups lane is decided and started as soon as the first records have
//! settled, and runs beside the users' remaining records: in Slack users and groups have budgets of
//! their own, so the slower of the two sets the pace instead of their sum.
//!
//! Every result, from either lane, is settled on the calling thread as it comes back, in the one
//! state (see [`super::execute`]). A stop signal, a panicked instance or a lapsing lease ends both
//! lanes after the calls in flight; when the first records cannot all settle, the groups are decided
//! on what did (or skipped on a stop or panic), as the cycle did when the phases ran one after the other.

use super::diff::{Intent, Planned};
use super::execute::{bind_results, Executor, Settlement};
use super::groups::UserRows;
use super::CycleError;
use crate::clock::unix_now;
use crate::state::{AttrHashes, CycleFigures, Owner, Row, State, Table};
use connector_abi::payload::{ErrorInfo, ErrorKind, ProvisionRequest, Record, RecordResult};
use connector_abi::CallError;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most group members (present and previous) one connector call carries: a cycle's group records
/// name every member of every group, so one call for all of them would be a payload of tens of
/// megabytes, held whole by the host and again by the connector. Calls of this size keep both small.
const MEMBERS_PER_CALL: usize = 20_000;

/// The members a record carries (present and previous).
fn member_refs(r: &Record) -> usize {
    r.members.len() + r.previous_members.as_ref().map_or(0, Vec::len)
}

/// `records` in order, in calls of up to `batch_size` records carrying up to `members` members (a
/// record that carries more goes alone).
fn batches(records: Vec<Planned>, batch_size: usize, members: usize) -> Vec<Vec<Planned>> {
    let mut out: Vec<Vec<Planned>> = Vec::new();
    let mut carried = 0;
    for p in records {
        let refs = member_refs(&p.record);
        match out.last_mut() {
            Some(b) if b.len() < batch_size && carried + refs <= members => b.push(p),
            _ => {
                carried = 0;
                let mut b = Vec::with_capacity(batch_size.min(64));
                b.push(p);
                out.push(b);
            }
        }
        carried += refs;
    }
    out
}

/// The least validity a lease must have left for a connector call to start under it; the call's
/// deadline ends this long before the lease would lapse here.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// Decides the groups from the users as settled so far and settles what needs no call; returns the
/// group records to send, and those refused before sending (with why).
pub(super) type DecideGroups<'g> =
    Box<dyn FnOnce(&mut State, &UserRows<'_>) -> Result<(Vec<Planned>, Vec<(Planned, ErrorInfo)>), CycleError> + 'g>;

/// A cycle's groups phase, decided once the users it depends on have settled.
pub(super) struct GroupsPhase<'g> {
    /// The groups' stored rows.
    pub rows: &'g HashMap<String, Row>,
    /// The decision (not called when a stop signal or a panicked instance ended the users lane first).
    pub decide: DecideGroups<'g>,
}

/// When the groups phase started and how long deciding it took, milliseconds from the first call.
#[derive(Debug, Default)]
pub(super) struct SendTimes {
    /// The groups were decided this long after the send began (`None`: no groups phase ran).
    pub groups_started_ms: Option<u64>,
    /// Deciding the groups took this long.
    pub decide_groups_ms: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lane {
    Users = 0,
    Groups = 1,
}

enum Msg {
    /// A batch's results (or why the call failed as a whole).
    Batch(Lane, usize, Result<Vec<RecordResult>, CallError>),
    /// A worker of the lane ended (sent on drop, so a worker that ends any way is counted).
    Exited(Lane),
}

/// Sends `Exited` when a worker ends.
struct ExitNotice(Lane, Sender<Msg>);

impl Drop for ExitNotice {
    fn drop(&mut self) {
        let _ = self.1.send(Msg::Exited(self.0));
    }
}

/// One lane's calls and what to record for each of their records.
struct LaneData<'r> {
    table: Table,
    requests: Arc<Vec<ProvisionRequest>>,
    settlements: Vec<Vec<Settlement>>,
    rows: &'r HashMap<String, Row>,
    /// Who holds each target object in the connection (see `refuse_taken_accounts`), read when the
    /// first batch comes back rather than before the first call.
    owners: Option<HashMap<String, Owner>>,
    /// Workers still running.
    live: usize,
    /// Users lane of a channel with groups: accounts that come back replaced leave their groups'
    /// recorded members (see `forget_replaced_accounts`).
    regroup: bool,
    /// The batches of the lane's first part (its batches come first).
    first_batches: usize,
}

/// Takes the users in `replaced` (their account was replaced) out of the recorded members of every
/// group of the channel, and makes those groups' recorded desire stale, so the next decision sends them
/// again and adds the new accounts (adding a member already there is harmless). Returns how many
/// groups that touched.
fn forget_replaced_accounts(state: &mut State, channel: &str, replaced: &HashSet<String>) -> Result<usize, CycleError> {
    let memberships = state.memberships(channel)?;
    let rows = state.rows(Table::Groups, channel)?;
    let touched: Vec<(&str, Vec<String>)> = memberships
        .iter()
        .filter(|(_, members)| members.iter().any(|u| replaced.contains(u)))
        .map(|(g, members)| (g.as_str(), members.iter().filter(|u| !replaced.contains(*u)).cloned().collect()))
        .collect();
    let as_slices: Vec<(&str, &[String])> = touched.iter().map(|(g, m)| (*g, m.as_slice())).collect();
    state.set_memberships_many(channel, &as_slices)?;
    let stale: Vec<Row> = touched
        .iter()
        .filter_map(|(g, _)| rows.get(*g))
        .map(|r| {
            let mut hashes = r.attr_hashes.parse();
            hashes.remove("members");
            Row { hash: String::new(), attr_hashes: AttrHashes::from_map(&hashes), ..r.clone() }
        })
        .collect();
    state.settle(Table::Groups, channel, &stale, unix_now())?;
    Ok(touched.len())
}

/// Whether the groups' decision depends on how a user record of `intent` settles.
fn groups_depend_on(intent: Intent) -> bool {
    match intent {
        Intent::Create | Intent::Reactivate | Intent::Disable => true,
        // A plain update keeps the account and its activity; a user the source no longer has (delete,
        // whatever the connection's Remove User Action makes of it) is a member of none of its groups.
        Intent::Update | Intent::Delete => false,
        Intent::GroupCreate | Intent::GroupUpdate | Intent::GroupDelete => false,
    }
}

impl Executor<'_> {
    /// Sends a cycle's user records and, once those the groups depend on have settled, its groups
    /// beside the remaining user updates; settles every result as it comes back.
    pub(super) fn send_cycle(
        &self,
        state: &mut State,
        users: Vec<Planned>,
        user_rows: &HashMap<String, Row>,
        mut groups: Option<GroupsPhase<'_>>,
        figures: &mut CycleFigures,
    ) -> Result<SendTimes, CycleError> {
        let started = Instant::now();
        let mut times = SendTimes::default();
        let channel = self.rt.name();
        let has_groups = groups.is_some();
        let threads = self.rt.ch.cfg.threads;
        // Users the source no longer has: in no group, whether or not their removal has settled.
        let leaving: HashSet<String> =
            users.iter().filter(|p| p.intent == Intent::Delete).map(|p| p.record.source_id.clone()).collect();
        // The first records in batches of their own, so none waits on another record to settle.
        let (first, updates): (Vec<Planned>, Vec<Planned>) =
            users.into_iter().partition(|p| groups_depend_on(p.intent));

        let total_users = (first.len() + updates.len()) as u64;
        let mut lanes: [Option<LaneData<'_>>; 2] = [None, None];
        // The first records' batches come first in the users lane: indexes below this.
        let mut first_total = 0;
        if total_users > 0 {
            let mut lane = self.lane(state, Table::Users, vec![first, updates], user_rows)?;
            lane.regroup = has_groups;
            first_total = lane.first_batches;
            lanes[0] = Some(lane);
            self.opts.progress.start(channel, "sync", total_users);
        }
        let mut first_pending = first_total;
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        // Users settled this cycle, for the groups' decision.
        let mut settled_users: HashMap<String, Row> = HashMap::new();
        // Users whose account came back replaced this cycle (see `forget_replaced_accounts`).
        let mut replaced: HashSet<String> = HashSet::new();
        let outcome = std::thread::scope(|s| -> Result<(), CycleError> {
            // Owned here: when the loop below returns early (a state or audit error), the receiver is
            // dropped, so each worker stops after its call in flight instead of sending the rest.
            let rx = rx;
            // The sender that starts the groups lane; dropped once it has (or will not), so the loop
            // below ends when the last worker does.
            let mut starter = Some(tx);
            if let (Some(lane), Some(tx)) = (lanes[0].as_mut(), starter.as_ref()) {
                lane.live = self.spawn(s, Lane::Users, &lane.requests, threads, tx);
            }
            loop {
                let users_done = lanes[0].as_ref().is_none_or(|l| l.live == 0);
                if starter.is_some() && (first_pending == 0 || users_done) {
                    if let Some(g) = groups.take().filter(|_| !self.halted()) {
                        let t = Instant::now();
                        times.groups_started_ms = Some(started.elapsed().as_millis() as u64);
                        let view = UserRows::with_settled(user_rows, &settled_users, &leaving);
                        let (planned, refused) = (g.decide)(state, &view)?;
                        self.refuse(state, Table::Groups, refused, g.rows, figures)?;
                        times.decide_groups_ms = t.elapsed().as_millis() as u64;
                        if !planned.is_empty() {
                            if total_users == 0 {
                                self.opts.progress.start(channel, "sync", 0);
                            }
                            self.opts.progress.add(planned.len() as u64);
                            let mut lane = self.lane(state, Table::Groups, vec![planned], g.rows)?;
                            if let Some(tx) = starter.as_ref() {
                                lane.live = self.spawn(s, Lane::Groups, &lane.requests, threads, tx);
                            }
                            lanes[1] = Some(lane);
                        }
                    }
                    starter = None;
                }
                let Ok(msg) = rx.recv() else { break };
                match msg {
                    Msg::Exited(l) => {
                        if let Some(lane) = lanes[l as usize].as_mut() {
                            lane.live = lane.live.saturating_sub(1);
                        }
                    }
                    Msg::Batch(l, i, result) => {
                        let Some(lane) = lanes[l as usize].as_mut() else { continue };
                        let rows = self.settle_batch(state, lane, i, result, &mut replaced, figures)?;
                        if l == Lane::Users {
                            if i < first_total {
                                first_pending = first_pending.saturating_sub(1);
                            }
                            settled_users.extend(rows.into_iter().map(|r| (r.source_id.clone(), r)));
                        }
                    }
                }
            }
            Ok(())
        });
        self.opts.progress.finish();
        outcome?;
        // The calls (a group record names every member, with every previous member) are freed beside
        // what follows.
        let lanes: Vec<_> = lanes.into_iter().flatten().map(|l| (l.requests, l.settlements, l.owners)).collect();
        super::drop_behind((lanes, settled_users), self.opts.exits_after);
        Ok(times)
    }

    /// Marks a lane's records in flight and puts them in batches (each group of `parts` in batches of
    /// its own, in order).
    fn lane<'r>(
        &self,
        state: &mut State,
        table: Table,
        parts: Vec<Vec<Planned>>,
        rows: &'r HashMap<String, Row>,
    ) -> Result<LaneData<'r>, CycleError> {
        let channel = self.rt.name();
        let in_flight: Vec<(String, crate::state::Status)> = parts
            .iter()
            .flatten()
            .map(|p| (p.record.source_id.clone(), rows.get(&p.record.source_id).map_or(p.status, |r| r.status)))
            .collect();
        state.mark_in_flight(table, channel, &in_flight)?;
        let batch_size = self.rt.ch.cfg.batch_size;
        // Each call's deadline: the channel's `timeout_seconds` (in failover and cluster modes, no later
        // than the lease stays valid here: set when the call starts).
        let deadline_ms = self.rt.ch.cfg.timeout_seconds.saturating_mul(1000);
        let mut requests = Vec::new();
        let mut settlements = Vec::new();
        let mut first_batches = None;
        for part in parts {
            for batch in batches(part, batch_size, MEMBERS_PER_CALL) {
                let (records, batch): (Vec<_>, Vec<_>) = batch.into_iter().map(Settlement::split).unzip();
                requests.push(ProvisionRequest { v: 1, records, deadline_ms: Some(deadline_ms) });
                settlements.push(batch);
            }
            first_batches.get_or_insert(requests.len());
        }
        Ok(LaneData {
            table,
            requests: Arc::new(requests),
            settlements,
            rows,
            owners: None,
            live: 0,
            regroup: false,
            first_batches: first_batches.unwrap_or(0),
        })
    }

    /// Starts up to `threads` workers taking the lane's batches in order; returns how many started.
    fn spawn<'scope>(
        &'scope self,
        s: &'scope std::thread::Scope<'scope, '_>,
        lane: Lane,
        requests: &Arc<Vec<ProvisionRequest>>,
        threads: usize,
        tx: &Sender<Msg>,
    ) -> usize {
        let workers = threads.min(requests.len()).max(1);
        let next = Arc::new(AtomicUsize::new(0));
        let deadline_ms = self.rt.ch.cfg.timeout_seconds.saturating_mul(1000);
        for _ in 0..workers {
            let (tx, next, requests) = (tx.clone(), Arc::clone(&next), Arc::clone(requests));
            let (instance, panicked, lease) = (&self.rt.instance, &self.rt.panicked, self.opts.lease);
            s.spawn(move || {
                let _notice = ExitNotice(lane, tx.clone());
                loop {
                    // No new batch after a stop or a panic (the rest stay dirty).
                    if self.halted() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(request) = requests.get(i) else { return };
                    let result = match lease.map(|valid_for| valid_for()) {
                        None => instance.provision(request).map(|r| r.results),
                        // The lease is lost or about to lapse: no call (the records stay dirty).
                        Some(None) => return,
                        Some(Some(left)) if left < LEASE_MARGIN => return,
                        Some(Some(left)) => {
                            let ms = (left - LEASE_MARGIN).as_millis().min(u128::from(deadline_ms)) as u64;
                            let mut call = request.clone();
                            call.deadline_ms = Some(ms);
                            instance.provision(&call).map(|r| r.results)
                        }
                    };
                    if let Err(CallError::Panic(m)) = &result {
                        // The ABI says to discard an instance that panicked.
                        panicked.store(true, Ordering::SeqCst);
                        tracing::error!(connection = %instance.library().descriptor().name, "the connector panicked ({m}); this instance is discarded and a fresh one opened");
                    }
                    if tx.send(Msg::Batch(lane, i, result)).is_err() {
                        return;
                    }
                }
            });
        }
        workers
    }

    /// Binds and settles one batch's results; returns the rows as settled. `replaced` gathers the
    /// users of the cycle whose account came back replaced.
    fn settle_batch(
        &self,
        state: &mut State,
        lane: &mut LaneData<'_>,
        i: usize,
        result: Result<Vec<RecordResult>, CallError>,
        replaced: &mut HashSet<String>,
        figures: &mut CycleFigures,
    ) -> Result<Vec<Row>, CycleError> {
        let channel = self.rt.name();
        let records = &lane.requests[i].records;
        let results = match result.map_err(|e| e.to_error_info()).and_then(|r| {
            bind_results(records, r).map_err(|why| {
                ErrorInfo::new(ErrorKind::Other, format!("the connector's results do not match the batch: {why}"))
                    .retryable()
            })
        }) {
            Ok(r) => r,
            Err(info) => records.iter().map(|r| RecordResult::failed(r, info.clone())).collect(),
        };
        let owners = match &mut lane.owners {
            Some(o) => o,
            None => lane.owners.insert(state.target_owners(lane.table, channel)?),
        };
        let results = self.refuse_taken_accounts(owners, records, results);
        if lane.regroup {
            // A user record can come back with a new account (the old one is gone from the target and
            // the connector matched or created another): the groups name the old one, whose memberships
            // went with it, and a group whose members did not change in the source would never be sent
            // again. Recorded before the new account is (a crash in between leaves the record dirty, so
            // the next cycle does this again), so it is never lost.
            let now_replaced: HashSet<String> = records
                .iter()
                .zip(&results)
                .filter(|(rec, r)| {
                    let before = lane.rows.get(&rec.source_id).and_then(|o| o.target_id.as_ref());
                    r.target_id.is_some() && before.is_some_and(|t| r.target_id.as_ref() != Some(t))
                })
                .map(|(rec, _)| rec.source_id.clone())
                .collect();
            if !now_replaced.is_empty() {
                let groups = forget_replaced_accounts(state, channel, &now_replaced)?;
                tracing::warn!(channel, users = now_replaced.len(), groups, "accounts were replaced in the target (the old ones are gone): their groups are sent again at the next cycle, with the new accounts");
                replaced.extend(now_replaced);
            }
        }
        let rows = self.settle(state, lane.table, records, &lane.settlements[i], results, lane.rows, figures)?;
        // Only a batch with a group that names a replaced user can have recorded it again.
        let names_replaced = records.iter().any(|r| r.members.iter().any(|m| replaced.contains(&m.source_id)));
        if lane.table == Table::Groups && names_replaced {
            // A group sent beside the users named a replaced account by its old id and has just recorded
            // it as a member again: forgotten again, so the next cycle still adds the new account.
            forget_replaced_accounts(state, channel, replaced)?;
        }
        self.opts.progress.advance(records.len() as u64);
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diff::decide_gone;
    use crate::state::Status;
    use connector_abi::payload::{MemberRef, ObjectClass};

    /// A group record naming `members` members now and `previous` before.
    fn group(id: &str, members: usize, previous: Option<usize>) -> Planned {
        let row = Row { target_id: Some("S1".into()), ..Row::new(id, Status::Active) };
        let mut p = decide_gone(&row, ObjectClass::Group, 0, false).expect("a provisioned group is deleted");
        fn refs(n: usize) -> Vec<MemberRef> {
            (0..n).map(|i| MemberRef { source_id: format!("u{i}"), target_id: None }).collect()
        }
        p.record.members = refs(members);
        p.record.previous_members = previous.map(refs);
        p
    }

    fn shape(b: &[Vec<Planned>]) -> Vec<Vec<&str>> {
        b.iter().map(|b| b.iter().map(|p| p.record.source_id.as_str()).collect()).collect()
    }

    #[test]
    fn calls_carry_at_most_the_batch_size_and_the_members_per_call() {
        let records = vec![
            group("a", 8, Some(7)),
            group("b", 4, None),
            group("c", 30, Some(30)),
            group("d", 1, None),
            group("e", 0, Some(1)),
            group("f", 0, None),
        ];
        // 20 members a call: a and b (19), c alone (60: more than a call carries), d, e and f (2).
        assert_eq!(shape(&batches(records.clone(), 500, 20)), [vec!["a", "b"], vec!["c"], vec!["d", "e", "f"]]);
        // The batch size still applies.
        assert_eq!(shape(&batches(records.clone(), 2, 20)), [vec!["a", "b"], vec!["c"], vec!["d", "e"], vec!["f"]]);
        // Records without members (users): the batch size alone.
        let users = vec![group("x", 0, None), group("y", 0, None), group("z", 0, None)];
        assert_eq!(shape(&batches(users, 2, 20)), [vec!["x", "y"], vec!["z"]]);
        assert!(batches(Vec::new(), 500, 20).is_empty());
    }
}

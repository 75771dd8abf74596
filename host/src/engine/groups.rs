//! Groups: the desired groups of a channel (from group entries, or from users' memberOf values) and
//! the decisions for each, once the users' target ids are known. Members are only users that are
//! active and provisioned, so a group never names a user Slack does not have.

use super::collect::{GroupIndex, Snapshot};
use super::diff::{decide_gone, decide_group, group_name_hash, Decision, DesiredGroup, GroupDetail, Planned};
use super::ChannelRuntime;
use crate::config::GroupsConfig;
use crate::entry::{norm_dn, under, Entry};
use crate::mapping::extract_cn;
use crate::source::ReadOutcome;
use crate::state::{Row, Status};
use connector_abi::payload::ObjectClass;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The group phase's decisions.
#[derive(Default)]
pub(crate) struct GroupPlan {
    /// Group records to send.
    pub planned: Vec<Planned>,
    /// Dirty rows with nothing left to do.
    pub quiet: Vec<Row>,
    /// Failed groups whose backoff has not passed.
    pub deferred: u64,
    /// Groups the source has (for the guard's empty-read rule).
    pub desired: u64,
    /// Display-name hash → the source groups that have it (for `identity`).
    pub names: HashMap<String, Vec<(String, bool)>>,
}

impl GroupPlan {
    /// Adds the decisions of `part` (groups after this plan's, in the source's order) to this plan.
    fn absorb(&mut self, part: GroupPlan) {
        self.planned.extend(part.planned);
        self.quiet.extend(part.quiet);
        self.deferred += part.deferred;
        self.desired += part.desired;
        for (hash, mut holders) in part.names {
            self.names.entry(hash).or_default().append(&mut holders);
        }
    }
}

/// A source group with every member it names, before filtering by who is provisioned: computed once
/// per cycle (expanding nested groups over every member DN is the costly part), then filtered for the
/// guard's prediction and again after the users phase.
pub(crate) struct ExpandedGroup {
    source_id: String,
    name: String,
    /// The members' ranks in the cycle's [`UserIds`]: sorted, without duplicates.
    members: Vec<u32>,
}

/// The users a cycle's groups can name, each by its rank: their source ids sorted byte-wise, so a
/// group's members kept as sorted ranks are its source ids in the order the state records and the
/// members' hash reads them. Ranks make a group of thousands a list of integers: sorted, filtered and
/// deduplicated without comparing or copying a string.
pub(crate) struct UserIds {
    /// Source ids by rank: sorted, unique.
    ids: Vec<String>,
}

impl UserIds {
    /// The source id of `rank`.
    fn id(&self, rank: u32) -> &str {
        &self.ids[rank as usize]
    }

    /// For each rank, whether the user can be named in a group now (see [`UserRows::member`]); a
    /// large directory's users in two halves on two threads.
    fn members(&self, users: &UserRows<'_>) -> Vec<bool> {
        let part = |ids: &[String]| ids.iter().map(|id| users.member(id)).collect::<Vec<bool>>();
        in_two(&self.ids, |_| 1, PARALLEL_USERS, part).concat()
    }
}

/// The channel's source groups with their members, and the users they name.
pub(crate) struct Expanded {
    users: UserIds,
    groups: Vec<ExpandedGroup>,
}

/// The users a member value can name, sorted byte-wise without duplicates (a user's rank is its
/// place here), and each user DN's rank: the users of the location (by DN), and for memberOf the users
/// that carry the values (the same users; taken again so no value is ever dropped).
fn rank_users<'s>(
    dn_to_id: &'s HashMap<String, String>,
    member_of: &'s [(String, Vec<String>)],
) -> (Vec<&'s str>, foldhash::HashMap<&'s str, u32>) {
    let mut pairs: Vec<(&str, Option<&str>)> =
        dn_to_id.iter().map(|(dn, id)| (id.as_str(), Some(dn.as_str()))).collect();
    pairs.extend(member_of.iter().map(|(id, _)| (id.as_str(), None)));
    pairs.sort_unstable();
    let mut ids: Vec<&str> = Vec::new();
    let mut dn_rank: foldhash::HashMap<&str, u32> =
        foldhash::HashMap::with_capacity_and_hasher(dn_to_id.len(), Default::default());
    for (id, dn) in pairs {
        if ids.last() != Some(&id) {
            ids.push(id);
        }
        // At most u32::MAX users: a directory of four billion people does not fit in memory here.
        let rank = (ids.len() - 1) as u32;
        if let Some(dn) = dn {
            dn_rank.insert(dn, rank);
        }
    }
    (ids, dn_rank)
}

/// The channel's source groups with their members.
pub(crate) fn expand_groups(rt: &ChannelRuntime, g: &GroupsConfig, snap: &Snapshot) -> Expanded {
    let (ids, dn_rank) = rank_users(&snap.dn_to_id, &snap.member_of);
    let rank_of = |id: &str| ids.binary_search(&id).ok().map(|r| r as u32);
    let groups = if g.member_of_attribute.is_some() {
        let mut by_group: BTreeMap<String, (String, Vec<u32>)> = BTreeMap::new();
        for (uid, groups) in &snap.member_of {
            let Some(rank) = rank_of(uid) else { continue };
            for v in groups {
                let (key, name) =
                    if v.contains('=') { (norm_dn(v), extract_cn(v)) } else { (v.to_lowercase(), v.clone()) };
                by_group.entry(key).or_insert_with(|| (name, Vec::new())).1.push(rank);
            }
        }
        by_group
            .into_iter()
            .map(|(key, (name, mut members))| {
                members.sort_unstable();
                members.dedup();
                ExpandedGroup { source_id: format!("memberOf:{key}"), name, members }
            })
            .collect()
    } else {
        let index = GroupIndex::new(&snap.group_entries);
        let entries: Vec<&Entry> = snap.group_entries.iter().filter(|e| under(&e.dn, &g.base_dn)).collect();
        let expand = |part: &[&Entry]| {
            // Per part: what each member value names (a value many groups list is normalised once).
            let mut cache = foldhash::HashMap::default();
            let mut out = Vec::with_capacity(part.len());
            for e in part {
                let source_id = e.first(&rt.ch.cfg.id_attribute).map(str::to_owned).unwrap_or_else(|| norm_dn(&e.dn));
                let name = rt.ch.group_name.as_ref().map(|t| t.render(e)).unwrap_or_else(|| extract_cn(&e.dn));
                let members = index.member_ranks(&e.dn, &g.member_attribute, g.nested, &dn_rank, &mut cache);
                if !name.trim().is_empty() {
                    out.push(ExpandedGroup { source_id, name, members });
                }
            }
            out
        };
        let weight = |e: &&Entry| e.values(&g.member_attribute).len();
        in_two(&entries, weight, PARALLEL_MEMBERS, expand).into_iter().flatten().collect()
    };
    Expanded { users: UserIds { ids: ids.into_iter().map(str::to_owned).collect() }, groups }
}

/// Below this many users, who can be a member is decided on one thread.
const PARALLEL_USERS: usize = 5_000;

/// Below this many member values a cycle's groups are expanded and decided on one thread.
const PARALLEL_MEMBERS: usize = 20_000;

/// Runs `work` over `items` in two parts of about equal `weight` on two threads when the items weigh
/// at least `threshold` (a second thread pays), else over all of them on this one; the results in order.
fn in_two<T: Sync, R: Send>(
    items: &[T],
    weight: impl Fn(&T) -> usize,
    threshold: usize,
    work: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let total: usize = items.iter().map(&weight).sum();
    if total < threshold || items.len() < 2 {
        return vec![work(items)];
    }
    // The first index at which the running weight reaches half the total.
    let mut acc = 0;
    let split = items
        .iter()
        .position(|i| {
            acc += weight(i);
            acc * 2 >= total
        })
        .map_or(items.len(), |p| p + 1)
        .clamp(1, items.len() - 1);
    let (a, b) = items.split_at(split);
    std::thread::scope(|s| {
        let other = std::thread::Builder::new().spawn_scoped(s, || work(b));
        let first = work(a);
        // No second thread could be started: the second part on this one.
        let second = match other {
            Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(_) => work(b),
        };
        vec![first, second]
    })
}

/// The user rows a groups decision reads: the stored rows, overlaid with the rows this cycle settled,
/// and the users this cycle removes (the source no longer has them), who are in no group whether or not
/// their removal has settled yet.
pub(crate) struct UserRows<'a> {
    rows: &'a HashMap<String, Row>,
    settled: Option<&'a HashMap<String, Row>>,
    leaving: Option<&'a HashSet<String>>,
}

impl<'a> UserRows<'a> {
    /// The rows as they are.
    pub(crate) fn new(rows: &'a HashMap<String, Row>) -> Self {
        UserRows { rows, settled: None, leaving: None }
    }

    /// `rows`, except those in `settled`; the users in `leaving` are members of no group.
    pub(crate) fn with_settled(
        rows: &'a HashMap<String, Row>,
        settled: &'a HashMap<String, Row>,
        leaving: &'a HashSet<String>,
    ) -> Self {
        UserRows { rows, settled: Some(settled), leaving: Some(leaving) }
    }

    fn get(&self, source_id: &str) -> Option<&'a Row> {
        self.settled.and_then(|s| s.get(source_id)).or_else(|| self.rows.get(source_id))
    }

    /// Whether the user can be named in a group: active and provisioned, and not leaving.
    fn member(&self, source_id: &str) -> bool {
        !self.leaving.is_some_and(|l| l.contains(source_id))
            && self.get(source_id).is_some_and(|r| r.status == Status::Active && r.target_id.is_some())
    }
}

/// The desired groups: members are only the users `member` says (by rank) can be named.
fn desired_groups<'e>(expanded: &'e [ExpandedGroup], ids: &'e UserIds, member: &[bool]) -> Vec<DesiredGroup<'e>> {
    expanded
        .iter()
        .map(|e| DesiredGroup {
            source_id: &e.source_id,
            name: &e.name,
            members: e.members.iter().filter(|r| member[**r as usize]).map(|r| ids.id(*r)).collect(),
        })
        .collect()
}

/// Decides for every group of the channel: present groups against their rows and recorded members,
/// and groups the source no longer has.
pub(crate) fn decide_groups(
    rt: &ChannelRuntime,
    expanded: &Expanded,
    snap: &Snapshot,
    users: &UserRows<'_>,
    (rows, memberships): (&HashMap<String, Row>, &HashMap<String, Vec<String>>),
    now: i64,
    detail: GroupDetail,
) -> GroupPlan {
    // Who can be a member is decided once per user, not once per membership.
    let member = expanded.users.members(users);
    let decide = |part: &[ExpandedGroup]| {
        let desired = desired_groups(part, &expanded.users, &member);
        decide_present(rt, desired, users, (rows, memberships), now, detail)
    };
    let parts = in_two(&expanded.groups, |e| e.members.len(), PARALLEL_MEMBERS, decide);
    let mut plan = GroupPlan::default();
    for part in parts {
        plan.absorb(part);
    }
    let seen: HashSet<&str> = expanded.groups.iter().map(|e| e.source_id.as_str()).collect();
    let ReadOutcome { present_groups, .. } = &snap.outcome;
    let present = |id: &str| match present_groups {
        Some(p) => p.contains(id),
        None => seen.contains(id),
    };
    for row in rows.values().filter(|r| !present(&r.source_id)) {
        if let Some(p) = decide_gone(row, ObjectClass::Group, now, rt.honour_skipped) {
            plan.planned.push(p);
        }
    }
    plan
}

/// Decides for the source groups of `desired` (the present ones): the part of a [`GroupPlan`] they
/// give.
fn decide_present(
    rt: &ChannelRuntime,
    desired: Vec<DesiredGroup<'_>>,
    users: &UserRows<'_>,
    (rows, memberships): (&HashMap<String, Row>, &HashMap<String, Vec<String>>),
    now: i64,
    detail: GroupDetail,
) -> GroupPlan {
    let target_of = |id: &str| users.get(id).and_then(|r| r.target_id.clone());
    let mut plan = GroupPlan { desired: desired.len() as u64, ..GroupPlan::default() };
    for d in &desired {
        let name_hash = group_name_hash(d.name);
        plan.names.entry(name_hash.clone()).or_default().push((d.source_id.to_owned(), true));
        let previous = memberships.get(d.source_id);
        let row = rows.get(d.source_id);
        match decide_group(row, d, previous, &target_of, now, rt.honour_skipped, detail) {
            Decision::Send(p) => plan.planned.push(*p),
            Decision::ClearDirty => {
                if let Some(r) = row {
                    plan.quiet.push(Row {
                        dirty: false,
                        attempts: 0,
                        last_error: None,
                        ident_hash: Some(name_hash),
                        ..r.clone()
                    });
                }
            }
            Decision::Deferred => plan.deferred += 1,
            Decision::Nothing => {
                // Provisioned groups recorded before display names were (a group the connector skipped,
                // with no target object, holds no name).
                let stale = |r: &&Row| {
                    r.target_id.is_some()
                        && r.status == Status::Active
                        && r.ident_hash.as_deref() != Some(name_hash.as_str())
                };
                if let Some(r) = row.filter(stale) {
                    plan.quiet.push(Row { ident_hash: Some(name_hash), ..r.clone() });
                }
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diff::Intent;

    #[test]
    fn two_parts_of_about_equal_weight_come_back_in_order() {
        let items: Vec<usize> = (0..10).collect();
        // Weights 1..=10 (55 in all): the first part ends where the running weight reaches half.
        let parts = in_two(&items, |i| i + 1, 1, |part| part.to_vec());
        assert_eq!(parts, vec![(0..7).collect::<Vec<_>>(), (7..10).collect()]);
        // One heavy item first: it makes a part of its own; neither part is ever empty.
        let parts = in_two(&items, |i| if *i == 0 { 1_000 } else { 1 }, 1, |part| part.len());
        assert_eq!(parts, vec![1, 9]);
        let parts = in_two(&items, |i| if *i == 9 { 1_000 } else { 1 }, 1, |part| part.len());
        assert_eq!(parts, vec![9, 1]);
    }

    #[test]
    fn light_work_or_a_single_item_stays_on_one_thread() {
        let items: Vec<usize> = (0..10).collect();
        let here = std::thread::current().id();
        let parts = in_two(&items, |_| 1, 11, |part| (part.len(), std::thread::current().id()));
        assert_eq!(parts, vec![(10, here)]);
        let parts = in_two(&items[..1], |_| 1_000, 1, |part| part.len());
        assert_eq!(parts, vec![1]);
        // Heavy enough: the second part runs on another thread.
        let parts = in_two(&items, |_| 1, 10, |_| std::thread::current().id());
        assert_eq!(parts[0], here);
        assert_ne!(parts[1], here);
    }

    fn row(id: &str, status: Status, target: Option<&str>) -> Row {
        Row { target_id: target.map(str::to_owned), ..Row::new(id, status) }
    }

    fn planned(id: &str, intent: Intent) -> Planned {
        let mut p = decide_gone(&row(id, Status::Active, Some("U0")), ObjectClass::User, 0, false).unwrap();
        p.intent = intent;
        p
    }

    /// The guard's prediction reads the planned users' predicted rows laid over the stored ones: who can
    /// be a member must be what a whole copy of the rows, predicted, says.
    #[test]
    fn the_predicted_overlay_names_the_same_members_as_a_predicted_copy_of_every_row() {
        use crate::engine::plan::{predicted, predicted_overlay};
        let rows: HashMap<String, Row> = [
            row("active", Status::Active, Some("U1")),
            row("disabled", Status::Disabled, Some("U2")),
            row("removed", Status::Removed, Some("U3")),
            row("to-disable", Status::Active, Some("U4")),
            row("leaving", Status::Active, Some("U5")),
            row("never-created", Status::Active, None),
            row("reactivated-from-removed", Status::Removed, Some("U6")),
        ]
        .into_iter()
        .map(|r| (r.source_id.clone(), r))
        .collect();
        let plan = vec![
            planned("disabled", Intent::Reactivate),
            planned("new", Intent::Create),
            planned("to-disable", Intent::Disable),
            planned("leaving", Intent::Delete),
            planned("reactivated-from-removed", Intent::Reactivate),
            planned("never-created", Intent::Update),
        ];
        let overlay = predicted_overlay(&rows, &plan);
        assert_eq!(overlay.len(), plan.len(), "only the planned users are copied");
        let nobody = HashSet::new();
        let laid = UserRows::with_settled(&rows, &overlay, &nobody);
        let mut whole = rows.clone();
        predicted(&mut whole, &plan);
        let copied = UserRows::new(&whole);
        let expected = [
            ("active", true),
            ("disabled", true),
            ("removed", false),
            ("to-disable", false),
            ("leaving", false),
            ("never-created", true),
            ("reactivated-from-removed", true),
            ("new", true),
            ("unknown", false),
        ];
        for (id, member) in expected {
            assert_eq!(laid.member(id), member, "{id}");
            assert_eq!(copied.member(id), member, "{id}");
        }
    }

    /// Ranks follow the ids' byte-wise order, whatever the DNs' order; two DNs of one id share its rank;
    /// a memberOf user without a DN still has one.
    #[test]
    fn ranks_are_the_ids_in_byte_order_one_per_id() {
        let dn_to_id: HashMap<String, String> = [
            ("uid=a,ou=p", "zed"),
            ("uid=b,ou=p", "Ann"),
            ("uid=c,ou=p", "ann"),
            ("uid=c2,ou=p", "ann"),
            ("uid=d,ou=p", "_x"),
        ]
        .into_iter()
        .map(|(dn, id)| (dn.to_owned(), id.to_owned()))
        .collect();
        let member_of = vec![("bob".to_owned(), vec!["cn=g".to_owned()])];
        let (ids, dn_rank) = rank_users(&dn_to_id, &member_of);
        assert_eq!(ids, ["Ann", "_x", "ann", "bob", "zed"]);
        let rank = |dn: &str| dn_rank[dn];
        assert_eq!((rank("uid=b,ou=p"), rank("uid=d,ou=p"), rank("uid=a,ou=p")), (0, 1, 4));
        assert_eq!(rank("uid=c,ou=p"), 2);
        assert_eq!(rank("uid=c2,ou=p"), 2);
        // Sorted ranks name the ids sorted as strings (the order the state records and hashes).
        let mut by_rank: Vec<u32> = dn_rank.values().copied().collect();
        by_rank.sort_unstable();
        by_rank.dedup();
        let named: Vec<&str> = by_rank.iter().map(|r| ids[*r as usize]).collect();
        let mut sorted = named.clone();
        sorted.sort();
        assert_eq!(named, sorted);
    }

    /// Who can be a member, decided in two halves for a large directory: each rank keeps its answer.
    #[test]
    fn members_by_rank_are_the_same_in_two_halves_as_on_one_thread() {
        let n = PARALLEL_USERS + 1_001;
        let mut ids: Vec<String> = (0..n).map(|i| format!("u{i:05}")).collect();
        ids.sort();
        let rows: HashMap<String, Row> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 2)
            .map(|(i, id)| {
                let status = if i % 3 == 0 { Status::Active } else { Status::Disabled };
                (id.clone(), row(id, status, Some("U1")))
            })
            .collect();
        let users = UserRows::new(&rows);
        let got = UserIds { ids: ids.clone() }.members(&users);
        let expected: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        assert_eq!(got, expected);
    }

    /// `safety.rs::member_removals_are_counted_whole_when_many_large_groups_are_decided_in_parts` runs
    /// 180 groups of 120 members through a cycle to take the two-part path: checked when the tests build.
    const _: () = assert!(PARALLEL_MEMBERS <= 180 * 120);

    #[test]
    fn parts_absorbed_keep_the_sources_order_and_every_name_holder() {
        let plan = |groups: &[(&str, &str)], deferred: u64| GroupPlan {
            planned: groups.iter().map(|(id, _)| planned(id, Intent::GroupUpdate)).collect(),
            quiet: groups.iter().map(|(id, _)| row(id, Status::Active, Some("S"))).collect(),
            deferred,
            desired: groups.len() as u64,
            names: groups.iter().fold(HashMap::new(), |mut m, (id, name)| {
                m.entry((*name).to_owned()).or_insert_with(Vec::new).push(((*id).to_owned(), true));
                m
            }),
        };
        let mut whole = plan(&[("a", "eng"), ("b", "ops")], 1);
        whole.absorb(plan(&[("c", "eng"), ("d", "sales")], 2));
        assert_eq!((whole.desired, whole.deferred), (4, 3));
        assert_eq!(whole.names["eng"], vec![("a".to_owned(), true), ("c".to_owned(), true)]);
        assert_eq!(whole.names.len(), 3);
        let order: Vec<&str> = whole.planned.iter().map(|p| p.record.source_id.as_str()).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
        let order: Vec<&str> = whole.quiet.iter().map(|r| r.source_id.as_str()).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }
}

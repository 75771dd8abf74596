//! The deprovisioning guard: between deciding and sending, a cycle's deprovisioning actions (user
//! disables and deletes, group deletes, member removals) are counted; above the channel's thresholds,
//! or whenever the source returned no users at all while users are provisioned, they are **held**:
//! not sent, recorded in the state, listed by `provisioner held`, until an administrator approves or
//! rejects them or the source undoes them. Creates, updates and reactivations still go out.

use super::diff::{Intent, Planned};
use super::{ChannelRuntime, CycleError};
use crate::audit::{Audit, AuditEvent};
use crate::clock::now_rfc3339;
use crate::config::DeprovisionGuard;
use crate::state::{HeldAction, HoldDecision, State};
use connector_abi::payload::MemberRef;
use std::collections::HashSet;

type Key = (String, String, String);

fn key(a: &HeldAction) -> Key {
    (a.action.clone(), a.source_id.clone(), a.member_id.clone())
}

/// The deprovisioning actions among user records.
pub(crate) fn user_actions(planned: &[Planned]) -> Vec<HeldAction> {
    planned
        .iter()
        .filter(|p| p.record.target_id.is_some())
        .filter_map(|p| {
            let (action, reason) = match p.intent {
                Intent::Disable => ("DISABLE", "disabled in the source (account status)"),
                Intent::Delete => ("DELETE", "not in the source's location any more (left, deleted, or not read)"),
                _ => return None,
            };
            Some(HeldAction {
                action: action.into(),
                source_id: p.record.source_id.clone(),
                member_id: String::new(),
                object_class: "user".into(),
                target_id: p.record.target_id.clone(),
                reason: reason.into(),
            })
        })
        .collect()
}

/// Members a group record would remove (previous members no longer desired).
fn removed_members(p: &Planned) -> Vec<&MemberRef> {
    let Some(previous) = &p.record.previous_members else { return Vec::new() };
    let now: HashSet<&str> = p.record.members.iter().map(|m| m.source_id.as_str()).collect();
    previous.iter().filter(|m| !now.contains(m.source_id.as_str())).collect()
}

/// The deprovisioning actions among group records; removals of users who are themselves deprovisioned
/// in this cycle are counted with those users, not again here.
pub(crate) fn group_actions(planned: &[Planned], deprovisioned_users: &HashSet<&str>) -> Vec<HeldAction> {
    let mut out = Vec::new();
    for p in planned {
        match p.intent {
            Intent::GroupDelete if p.record.target_id.is_some() => out.push(HeldAction {
                action: "GROUP_DELETE".into(),
                source_id: p.record.source_id.clone(),
                member_id: String::new(),
                object_class: "group".into(),
                target_id: p.record.target_id.clone(),
                reason: "group not in the source any more".into(),
            }),
            Intent::GroupUpdate => {
                for m in removed_members(p).into_iter().filter(|m| !deprovisioned_users.contains(m.source_id.as_str()))
                {
                    out.push(HeldAction {
                        action: "MEMBER_REMOVE".into(),
                        source_id: p.record.source_id.clone(),
                        member_id: m.source_id.clone(),
                        object_class: "group".into(),
                        target_id: p.record.target_id.clone(),
                        reason: "no longer a member in the source".into(),
                    })
                }
            }
            _ => {}
        }
    }
    out
}

/// The guard's verdict for one cycle of a channel.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    /// Hold every deprovisioning action of this cycle (none is rejected).
    pub hold: bool,
    /// Why, for the administrator (names the count, the threshold and the commands).
    pub message: Option<String>,
    rejected: HashSet<Key>,
    previously_held: HashSet<Key>,
    /// The held set as the cycle read it (an administrator's decision made since is kept on record).
    read: Vec<(HeldAction, HoldDecision)>,
}

/// Decides whether this cycle's deprovisioning actions go out, by the channel's guard settings.
///
/// `users` and `groups` are (provisioned, read in the source). All actions count against the channel's
/// provisioned users; group deletes are also judged alone, by the same thresholds, against its
/// provisioned groups (so a group filter matching nothing cannot delete every group). The empty-read
/// rule is the users' alone: removing the last groups of a channel is an ordinary change.
pub(crate) fn decide(
    rt: &ChannelRuntime,
    users: (u64, u64),
    groups: (u64, u64),
    actions: &[HeldAction],
    stored: &[(HeldAction, HoldDecision)],
) -> Verdict {
    let cfg = &rt.ch.cfg;
    let (guard, allow_empty) = (&cfg.deprovision_guard, cfg.allow_empty_source);
    let mut v = decide_with(rt.name(), guard, allow_empty, users.0, users.1, actions, stored);
    if !v.hold {
        let deletes: Vec<HeldAction> = actions.iter().filter(|a| a.action == "GROUP_DELETE").cloned().collect();
        // `max(1)`: the empty-read rule does not apply to groups (see above).
        let g = decide_with(rt.name(), guard, allow_empty, groups.0, groups.1.max(1), &deletes, stored);
        if g.hold {
            v.hold = true;
            v.message = g
                .message
                .map(|m| m.replace("provisioned users", "provisioned groups").replace("no users", "no groups"));
        }
    }
    v
}

/// Keeps what the guard held (and the rejections still proposed), forgets the rest, and writes one
/// `HELD` audit event per newly held action.
pub(crate) fn record(
    state: &mut State,
    audit: &Audit,
    channel: &str,
    cycle_id: i64,
    verdict: &Verdict,
    actions: &[HeldAction],
    now: i64,
) -> Result<(), CycleError> {
    state.set_holds(channel, &verdict.stored(actions), &verdict.read, now)?;
    let time = now_rfc3339();
    let events: Vec<AuditEvent<'_>> = verdict
        .newly_held(actions)
        .into_iter()
        .map(|a| AuditEvent {
            time: time.clone(),
            cycle_id,
            channel,
            event_type: "HELD",
            object_class: if a.object_class == "user" { "user" } else { "group" },
            source_id: &a.source_id,
            target_id: a.target_id.as_deref(),
            is_success: false,
            outcome: "held",
            non_success_cause: Some(&a.reason),
            warnings: &[],
        })
        .collect();
    audit.write(&events)?;
    Ok(())
}

fn decide_with(
    channel: &str,
    guard: &DeprovisionGuard,
    allow_empty_source: bool,
    provisioned: u64,
    users_read: u64,
    actions: &[HeldAction],
    stored: &[(HeldAction, HoldDecision)],
) -> Verdict {
    let with =
        |d: HoldDecision| -> HashSet<Key> { stored.iter().filter(|(_, x)| *x == d).map(|(a, _)| key(a)).collect() };
    let rejected = with(HoldDecision::Rejected);
    let approved = with(HoldDecision::Approved);
    let mut previously_held = with(HoldDecision::Held);
    previously_held.extend(approved.iter().cloned());
    let counted: Vec<&HeldAction> = actions.iter().filter(|a| !rejected.contains(&key(a))).collect();
    let n = counted.len() as u64;
    let why = if n == 0 {
        None
    } else if users_read == 0 && provisioned > 0 && !allow_empty_source {
        Some(format!(
            "the source returned no users while {provisioned} are provisioned (an empty or failed export, a filter matching nothing, or a bind that sees nobody); an empty read is never trusted (set allow_empty_source = true on the channel if it can be legitimate)"
        ))
    } else if guard.enabled
        && (n > guard.max_count || (n > guard.min_count && (n as f64) * 100.0 > guard.max_percent * provisioned as f64))
    {
        Some(format!(
            "{n} is above the threshold (more than {}% of {provisioned} provisioned users and more than {}, or more than {})",
            guard.max_percent, guard.min_count, guard.max_count
        ))
    } else {
        None
    };
    let hold = why.is_some() && !counted.iter().all(|a| approved.contains(&key(a)));
    let message = why.filter(|_| hold).map(|why| {
        format!(
            "{channel}: {n} deprovisioning action(s) held, not sent: {why}. Review them with `provisioner held {channel}`, then run `provisioner approve {channel}` to send them or `provisioner reject {channel}` to keep those accounts as they are"
        )
    });
    Verdict { hold, message, rejected, previously_held, read: stored.to_vec() }
}

impl Verdict {
    /// Whether `a` must not be sent this cycle.
    pub(crate) fn blocks(&self, a: &HeldAction) -> bool {
        self.hold || self.rejected.contains(&key(a))
    }

    /// What the state keeps: the held actions (when holding) and the rejections still proposed.
    pub(crate) fn stored(&self, actions: &[HeldAction]) -> Vec<(HeldAction, HoldDecision)> {
        actions
            .iter()
            .filter_map(|a| {
                if self.rejected.contains(&key(a)) {
                    Some((a.clone(), HoldDecision::Rejected))
                } else if self.hold {
                    Some((a.clone(), HoldDecision::Held))
                } else {
                    None
                }
            })
            .collect()
    }

    /// The actions held this cycle that were not held before (one `HELD` audit event each).
    pub(crate) fn newly_held<'a>(&self, actions: &'a [HeldAction]) -> Vec<&'a HeldAction> {
        if !self.hold {
            return Vec::new();
        }
        actions.iter().filter(|a| !self.rejected.contains(&key(a)) && !self.previously_held.contains(&key(a))).collect()
    }
}

/// Removes the blocked user actions from `planned`.
pub(crate) fn apply_to_users(verdict: &Verdict, planned: &mut Vec<Planned>, actions: &[HeldAction]) {
    let blocked: HashSet<&str> = actions.iter().filter(|a| verdict.blocks(a)).map(|a| a.source_id.as_str()).collect();
    planned.retain(|p| {
        !(matches!(p.intent, Intent::Disable | Intent::Delete) && blocked.contains(p.record.source_id.as_str()))
    });
}

/// Removes blocked group deletes and puts blocked member removals back into the group records (so
/// additions and renames still go out). A group sent with members kept back is re-decided next cycle.
///
/// Members whose own disable or delete is blocked (held or rejected) are kept in their groups too.
pub(crate) fn apply_to_groups(
    verdict: &Verdict,
    planned: &mut Vec<Planned>,
    actions: &[HeldAction],
    blocked_users: &HashSet<&str>,
) {
    let blocked: HashSet<(&str, &str, &str)> = actions.iter().filter(|a| verdict.blocks(a)).map(|a| a.key()).collect();
    planned.retain(|p| {
        !(p.intent == Intent::GroupDelete && blocked.contains(&("GROUP_DELETE", p.record.source_id.as_str(), "")))
    });
    for p in planned.iter_mut().filter(|p| p.intent == Intent::GroupUpdate) {
        let keep: Vec<MemberRef> = removed_members(p)
            .into_iter()
            .filter(|m| {
                blocked_users.contains(m.source_id.as_str())
                    || blocked.contains(&("MEMBER_REMOVE", p.record.source_id.as_str(), m.source_id.as_str()))
            })
            .cloned()
            .collect();
        if keep.is_empty() {
            continue;
        }
        for m in keep {
            p.members.push(m.source_id.clone());
            p.record.members.push(m);
        }
        p.members.sort();
        // Not the desired state: leave the stored hash unmatched so the next cycle decides again.
        p.hash = String::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(n: usize) -> Vec<HeldAction> {
        (0..n)
            .map(|i| HeldAction {
                action: "DELETE".into(),
                source_id: format!("u{i}"),
                member_id: String::new(),
                object_class: "user".into(),
                target_id: Some(format!("U{i}")),
                reason: "gone".into(),
            })
            .collect()
    }

    fn holds(n: usize, provisioned: u64, users_read: u64, guard: &DeprovisionGuard) -> bool {
        decide_with("c", guard, false, provisioned, users_read, &actions(n), &[]).hold
    }

    #[test]
    fn default_thresholds() {
        let g = DeprovisionGuard::default();
        assert!(!holds(5, 20, 15, &g), "5 is not more than 5");
        assert!(holds(6, 20, 14, &g), "6 of 20 is 30 %");
        assert!(!holds(6, 100, 94, &g), "6 of 100 is 6 %");
        assert!(!holds(10, 100, 90, &g), "10 % is not more than 10 %");
        assert!(holds(11, 100, 89, &g));
        assert!(!holds(100, 10_000, 9_900, &g), "1 % and not more than 100");
        assert!(holds(101, 10_000, 9_899, &g), "more than 100 whatever the share");
    }

    #[test]
    fn an_empty_read_holds_whatever_the_thresholds() {
        let off = DeprovisionGuard { enabled: false, ..DeprovisionGuard::default() };
        assert!(holds(1, 3, 0, &off));
        assert!(!holds(1, 3, 2, &off), "the guard is off and the read was not empty");
        assert!(!decide_with("c", &off, true, 3, 0, &actions(3), &[]).hold, "allow_empty_source");
        assert!(!holds(0, 3, 0, &off), "nothing to deprovision: nothing to hold");
    }

    #[test]
    fn approval_covers_exactly_the_approved_set_and_rejections_are_not_counted() {
        let g = DeprovisionGuard::default();
        let a = actions(20);
        let approved: Vec<(HeldAction, HoldDecision)> =
            a.iter().take(19).map(|x| (x.clone(), HoldDecision::Approved)).collect();
        assert!(decide_with("c", &g, false, 40, 20, &a, &approved).hold, "one more than approved: held again");
        assert!(!decide_with("c", &g, false, 40, 21, &a[..19], &approved).hold, "the approved set goes");
        assert!(!decide_with("c", &g, false, 40, 25, &a[..15], &approved).hold, "a subset of it goes");
        let rejected: Vec<(HeldAction, HoldDecision)> =
            a.iter().take(18).map(|x| (x.clone(), HoldDecision::Rejected)).collect();
        let v = decide_with("c", &g, false, 40, 20, &a, &rejected);
        assert!(!v.hold, "2 counted");
        assert!(v.blocks(&a[0]) && !v.blocks(&a[19]));
        assert_eq!(v.stored(&a).len(), 18, "the rejections still proposed are kept");
    }
}

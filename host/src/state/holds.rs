//! Deprovisioning actions the guard held, and what an administrator decided about them.

use super::backend::{vals, BackendError, SqlRow};
use super::{State, StateError};
use std::collections::HashMap;

fn digest(keys: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(keys.join("\n").as_bytes());
    crate::hex::encode(&d[..6])
}

/// What was decided about a held action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldDecision {
    /// Held: waiting for `approve` or `reject`.
    Held,
    /// Approved: the next cycle sends it (with the rest of the approved set).
    Approved,
    /// Rejected: not sent, and not proposed again until the source changes.
    Rejected,
}

impl HoldDecision {
    fn as_str(self) -> &'static str {
        match self {
            HoldDecision::Held => "held",
            HoldDecision::Approved => "approved",
            HoldDecision::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> HoldDecision {
        match s {
            "approved" => HoldDecision::Approved,
            "rejected" => HoldDecision::Rejected,
            _ => HoldDecision::Held,
        }
    }
}

/// One deprovisioning action: a user disable or delete, a group delete, or a member removal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct HeldAction {
    /// `DISABLE`, `DELETE`, `GROUP_DELETE` or `MEMBER_REMOVE`.
    pub action: String,
    /// The user's or group's source id.
    pub source_id: String,
    /// For `MEMBER_REMOVE`: the member's (user's) source id; empty otherwise.
    pub member_id: String,
    /// `user` or `group`.
    pub object_class: String,
    /// The target (Slack) id.
    pub target_id: Option<String>,
    /// Why the action is proposed.
    pub reason: String,
}

impl HeldAction {
    /// The identity of the action (what approval and rejection are about).
    pub fn key(&self) -> (&str, &str, &str) {
        (&self.action, &self.source_id, &self.member_id)
    }
}

impl State {
    /// The channel's actions with the given decision (all decisions when `None`).
    pub fn holds(
        &self,
        channel: &str,
        decision: Option<HoldDecision>,
    ) -> Result<Vec<(HeldAction, HoldDecision)>, StateError> {
        let rows = self.query(
            "SELECT action, source_id, member_id, object_class, target_id, reason, decision FROM holds
             WHERE channel = ?1 ORDER BY action, source_id, member_id",
            &vals![channel],
        )?;
        let decode = |r: &SqlRow| -> Result<(HeldAction, HoldDecision), BackendError> {
            Ok((
                HeldAction {
                    action: r.text(0)?,
                    source_id: r.text(1)?,
                    member_id: r.text(2)?,
                    object_class: r.text(3)?,
                    target_id: r.opt_text(4)?,
                    reason: r.text(5)?,
                },
                HoldDecision::parse(&r.text(6)?),
            ))
        };
        let all: Vec<(HeldAction, HoldDecision)> =
            rows.iter().map(decode).collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        Ok(all.into_iter().filter(|(_, d)| decision.is_none_or(|want| *d == want)).collect())
    }

    /// Replaces the channel's held, approved and rejected actions (an action that stays keeps its `since`).
    /// `read` is what the cycle read before deciding: an action whose decision an administrator changed
    /// since (`approve` or `reject` during the cycle) keeps the administrator's decision.
    pub fn set_holds(
        &mut self,
        channel: &str,
        actions: &[(HeldAction, HoldDecision)],
        read: &[(HeldAction, HoldDecision)],
        now: i64,
    ) -> Result<(), StateError> {
        let was: HashMap<(&str, &str, &str), HoldDecision> = read.iter().map(|(a, d)| (a.key(), *d)).collect();
        self.write(|db| {
            db.lock_channel(channel)?;
            let current: HashMap<(String, String, String), (i64, HoldDecision)> = db
                .query(
                    "SELECT action, source_id, member_id, since, decision FROM holds WHERE channel = ?1",
                    &vals![channel],
                )?
                .iter()
                .map(|r| Ok(((r.text(0)?, r.text(1)?, r.text(2)?), (r.int(3)?, HoldDecision::parse(&r.text(4)?)))))
                .collect::<Result<_, BackendError>>()?;
            let since: HashMap<(String, String, String), i64> =
                current.iter().map(|(k, (s, _))| (k.clone(), *s)).collect();
            db.execute("DELETE FROM holds WHERE channel = ?1", &vals![channel])?;
            for (a, d) in actions {
                let key = (a.action.clone(), a.source_id.clone(), a.member_id.clone());
                // Changed by an administrator after the cycle read it: theirs stands.
                let d = match (current.get(&key), was.get(&a.key())) {
                    (Some((_, now_d)), Some(read_d)) if now_d != read_d => now_d,
                    _ => d,
                };
                db.execute(
                    "INSERT INTO holds (channel, action, source_id, member_id, object_class, target_id, reason, decision, since)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    &vals![
                        channel,
                        &a.action,
                        &a.source_id,
                        &a.member_id,
                        &a.object_class,
                        &a.target_id,
                        &a.reason,
                        d.as_str(),
                        since.get(&key).copied().unwrap_or(now)
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// Changes every `from` action of the channel to `to`; returns how many changed. With `expect`, only
    /// when the `from` set is still the one whose [`holds_digest`](Self::holds_digest) the administrator
    /// reviewed (checked and changed in one transaction); otherwise `Ok(None)`.
    pub fn decide_holds(
        &mut self,
        channel: &str,
        from: HoldDecision,
        to: HoldDecision,
        expect: Option<&str>,
    ) -> Result<Option<usize>, StateError> {
        self.write(|db| {
            // The digest check and the change see one held set: nothing replaces it in between.
            db.lock_channel(channel)?;
            if let Some(expect) = expect {
                let mut keys: Vec<String> = db
                    .query(
                        "SELECT action, source_id, member_id FROM holds WHERE channel = ?1 AND decision = ?2",
                        &vals![channel, from.as_str()],
                    )?
                    .iter()
                    .map(|r| Ok(format!("{} {} {}", r.text(0)?, r.text(1)?, r.text(2)?)))
                    .collect::<Result<_, BackendError>>()?;
                keys.sort();
                if digest(&keys) != expect {
                    return Ok(None);
                }
            }
            let n = db.execute(
                "UPDATE holds SET decision = ?3 WHERE channel = ?1 AND decision = ?2",
                &vals![channel, from.as_str(), to.as_str()],
            )?;
            Ok(Some(n as usize))
        })
    }

    /// A short digest of the channel's held set (to approve exactly what was reviewed).
    pub fn holds_digest(&self, channel: &str) -> Result<String, StateError> {
        let mut keys: Vec<String> = self
            .holds(channel, Some(HoldDecision::Held))?
            .iter()
            .map(|(a, _)| format!("{} {} {}", a.action, a.source_id, a.member_id))
            .collect();
        keys.sort();
        Ok(digest(&keys))
    }
}

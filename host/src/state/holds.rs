//! Deprovisioning actions the guard held, and what an administrator decided about them.

use super::{State, StateError};
use rusqlite::params;

fn digest(keys: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(keys.join("\n").as_bytes());
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
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
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT action, source_id, member_id, object_class, target_id, reason, decision FROM holds
                 WHERE channel = ?1 ORDER BY action, source_id, member_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![channel], |r| {
                Ok((
                    HeldAction {
                        action: r.get(0)?,
                        source_id: r.get(1)?,
                        member_id: r.get(2)?,
                        object_class: r.get(3)?,
                        target_id: r.get(4)?,
                        reason: r.get(5)?,
                    },
                    HoldDecision::parse(&r.get::<_, String>(6)?),
                ))
            })
            .map_err(|e| self.err(e))?;
        let all: Vec<(HeldAction, HoldDecision)> = rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        Ok(all.into_iter().filter(|(_, d)| decision.is_none_or(|want| *d == want)).collect())
    }

    /// Replaces the channel's held, approved and rejected actions.
    pub fn set_holds(
        &mut self,
        channel: &str,
        actions: &[(HeldAction, HoldDecision)],
        now: i64,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Db { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        // Keep `since` of actions that stay.
        tx.execute(
            "CREATE TEMP TABLE IF NOT EXISTS keep_since (action TEXT, source_id TEXT, member_id TEXT, since INTEGER)",
            [],
        )
        .map_err(e)?;
        tx.execute("DELETE FROM keep_since", []).map_err(e)?;
        tx.execute(
            "INSERT INTO keep_since SELECT action, source_id, member_id, since FROM holds WHERE channel = ?1",
            params![channel],
        )
        .map_err(e)?;
        tx.execute("DELETE FROM holds WHERE channel = ?1", params![channel]).map_err(e)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO holds (channel, action, source_id, member_id, object_class, target_id, reason, decision, since)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, COALESCE(
                       (SELECT since FROM keep_since k WHERE k.action = ?2 AND k.source_id = ?3 AND k.member_id = ?4), ?9))",
                )
                .map_err(e)?;
            for (a, d) in actions {
                st.execute(params![
                    channel,
                    a.action,
                    a.source_id,
                    a.member_id,
                    a.object_class,
                    a.target_id,
                    a.reason,
                    d.as_str(),
                    now
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)
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
        let path = self.path.clone();
        let e = |source| StateError::Db { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        if let Some(expect) = expect {
            let keys: Vec<String> = {
                let mut st = tx
                    .prepare_cached(
                        "SELECT action || ' ' || source_id || ' ' || member_id FROM holds
                         WHERE channel = ?1 AND decision = ?2 ORDER BY 1",
                    )
                    .map_err(e)?;
                let rows = st.query_map(params![channel, from.as_str()], |r| r.get(0)).map_err(e)?;
                rows.collect::<Result<_, _>>().map_err(e)?
            };
            if digest(&keys) != expect {
                return Ok(None);
            }
        }
        let n = tx
            .execute(
                "UPDATE holds SET decision = ?3 WHERE channel = ?1 AND decision = ?2",
                params![channel, from.as_str(), to.as_str()],
            )
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(Some(n))
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

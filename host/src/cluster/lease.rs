//! The coordination session: one PostgreSQL session per node that registers the node, heartbeats, and
//! takes, renews and gives up leases. A lease is a row (`holder`, `epoch`, `expires_at` in the
//! server's clock) plus a session-level advisory lock keyed by the row's id.
//!
//! Taking a lease: only when it is free (released) or lapsed (`expires_at <= now()`); the advisory
//! lock must be free too. When a lapsed lease's lock is still held, its holder's process is alive but
//! not renewing (paused, partitioned): its sessions (found by `application_name`) are ended, which
//! frees the lock for the next attempt and ends any transaction it had open. The taking `UPDATE`
//! raises the epoch, so every write the old holder still tries is refused by the fence.

use crate::state::schema::postgres::{LOCK_CLASS, NODE_LOCK_CLASS};
use crate::state::{BackendError, PgTarget};
use postgres::Client;
use std::time::Duration;

/// A lease this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The epoch it was taken at (the fence).
    pub epoch: i64,
    /// The advisory lock's key (the row id).
    pub key: i32,
}

/// A lease as the table shows it.
#[derive(Debug, Clone)]
pub struct LeaseRow {
    /// `active` or `connection:<name>`.
    pub name: String,
    /// Advisory lock key.
    pub key: i32,
    /// Holder's node id.
    pub holder: Option<String>,
    /// Epoch.
    pub epoch: i64,
    /// Whether it lapsed (or was released).
    pub free: bool,
}

/// The session.
pub struct Coordination {
    client: Client,
    target: PgTarget,
    node: String,
    lease: Duration,
    /// The node-id lock and the shared writer lock are held on this session: only then may leases
    /// be taken.
    locks_ok: bool,
    /// Lease advisory locks this session holds (they stack per session: never taken twice).
    locked: std::collections::HashSet<i32>,
}

/// Why a node cannot join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] BackendError),
    /// Another live process uses this node id.
    #[error("node id `{node}` is in use by a running process ({sessions} open session(s) of that node); give each node its own `node_id`")]
    InUse {
        /// The node id.
        node: String,
        /// Its sessions.
        sessions: i64,
    },
    /// A one-off writer (`sync --once`, `reset`) holds the state.
    #[error("a one-off writer (`provisioner sync --once` or `reset`) is using the state; the node joins once it has finished")]
    Writer,
}

impl From<postgres::Error> for JoinError {
    fn from(e: postgres::Error) -> Self {
        JoinError::Db(e.into())
    }
}

/// The `application_name` of a node's coordination session.
pub fn application_name(node: &str) -> String {
    format!("provisioner:{node}")
}

/// The `application_name` of a node's state session.
pub fn state_application_name(node: &str) -> String {
    format!("provisioner:{node}:state")
}

impl Coordination {
    /// Connects and registers the node (refused if another live process uses its id).
    pub fn join(target: &PgTarget, node: &str, mode: &str, lease: Duration) -> Result<Coordination, JoinError> {
        let target = PgTarget { application_name: application_name(node), ..target.clone() };
        let mut client = target.connect()?;
        crate::state::schema::postgres::migrate(&mut client)?;
        let sessions: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name IN ($1, $2) AND pid <> pg_backend_pid()",
                &[&application_name(node), &state_application_name(node)],
            )?
            .get(0);
        // The node id's own lock, held for the node's life: two processes starting together with one
        // id cannot both pass (the session count above is only for the message).
        let mine: bool =
            client.query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&NODE_LOCK_CLASS, &node])?.get(0);
        if sessions > 0 || !mine {
            return Err(JoinError::InUse { node: node.to_owned(), sessions: sessions.max(1) });
        }
        // Shared with the other nodes; a one-off writer (`sync --once`, `reset`) holds it exclusive.
        let shared: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock_shared($1, $2)",
                &[&LOCK_CLASS, &crate::state::schema::postgres::WRITER_KEY],
            )?
            .get(0);
        if !shared {
            return Err(JoinError::Writer);
        }
        let host = hostname();
        client.execute(
            "INSERT INTO nodes (node_id, mode, hostname, pid, role, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, 'standby', now(), now())
             ON CONFLICT (node_id) DO UPDATE SET mode = $2, hostname = $3, pid = $4, role = 'standby', started_at = now(),
               heartbeat_at = now(), stopped_at = NULL",
            &[&node, &mode, &host, &(std::process::id() as i64)],
        )?;
        let mut c =
            Coordination { client, target, node: node.to_owned(), lease, locks_ok: true, locked: Default::default() };
        c.session_settings()?;
        Ok(c)
    }

    /// Whether the session is gone (ended by a takeover, or the server went away).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// A fresh session (advisory locks of the old one are gone: the caller re-takes the leases'), then
    /// [`retake_locks`](Self::retake_locks).
    pub fn reconnect(&mut self) -> Result<bool, BackendError> {
        self.locks_ok = false;
        self.locked.clear();
        self.client = self.target.connect()?;
        self.session_settings()?;
        self.retake_locks()
    }

    /// Whether the node-id lock and the shared writer lock are held (leases may be taken).
    pub fn locks_ok(&self) -> bool {
        self.locks_ok
    }

    /// Takes the node id's lock and the shared writer lock again; `false` while another process holds
    /// either (a one-off writer, or a process with this node id): no lease is taken meanwhile.
    pub fn retake_locks(&mut self) -> Result<bool, BackendError> {
        let mine: bool = self
            .client
            .query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&NODE_LOCK_CLASS, &self.node])?
            .get(0);
        if !mine {
            return Ok(false);
        }
        let writer: bool = self
            .client
            .query_one(
                "SELECT pg_try_advisory_lock_shared($1, $2)",
                &[&LOCK_CLASS, &crate::state::schema::postgres::WRITER_KEY],
            )?
            .get(0);
        if !writer {
            // Not held half: the node-id lock is let go and taken again with the other.
            self.client.execute("SELECT pg_advisory_unlock($1, hashtext($2))", &[&NODE_LOCK_CLASS, &self.node])?;
            return Ok(false);
        }
        self.locks_ok = true;
        Ok(true)
    }

    /// A statement of this session waits at most a fraction of the lease for a row lock (a write of
    /// this node, or a paused node's open transaction), so the coordinator never stalls its renewals.
    fn session_settings(&mut self) -> Result<(), BackendError> {
        let ms = (self.lease.as_millis() / 5).max(200);
        self.client.batch_execute(&format!("SET lock_timeout = {ms}"))?;
        Ok(())
    }

    fn secs(&self) -> f64 {
        self.lease.as_secs_f64()
    }

    /// Makes sure the lease rows exist.
    pub fn ensure(&mut self, names: &[String]) -> Result<(), BackendError> {
        self.client
            .execute("INSERT INTO leases (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", &[&names])?;
        Ok(())
    }

    /// Records the heartbeat and role; returns the number of live nodes (heartbeat within a lease).
    pub fn heartbeat(&mut self, role: &str) -> Result<usize, BackendError> {
        self.client.execute(
            "UPDATE nodes SET heartbeat_at = now(), role = $2, stopped_at = NULL WHERE node_id = $1",
            &[&self.node, &role],
        )?;
        let n: i64 = self
            .client
            .query_one(
                "SELECT COUNT(*) FROM nodes WHERE stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => $1)",
                &[&self.secs()],
            )?
            .get(0);
        Ok(n as usize)
    }

    /// Every lease row.
    pub fn leases(&mut self) -> Result<Vec<LeaseRow>, BackendError> {
        let rows = self.client.query(
            "SELECT name, id, holder, epoch, holder IS NULL OR expires_at <= now() FROM leases ORDER BY name",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| LeaseRow { name: r.get(0), key: r.get(1), holder: r.get(2), epoch: r.get(3), free: r.get(4) })
            .collect())
    }

    /// Extends the held leases in one statement; returns the names still this node's at their epochs
    /// (the others were taken over).
    pub fn renew(&mut self, held: &[(String, i64)]) -> Result<std::collections::HashSet<String>, BackendError> {
        if held.is_empty() {
            return Ok(Default::default());
        }
        let names: Vec<&str> = held.iter().map(|(n, _)| n.as_str()).collect();
        let epochs: Vec<i64> = held.iter().map(|(_, e)| *e).collect();
        let rows = self.client.query(
            "UPDATE leases SET expires_at = now() + make_interval(secs => $4)
             WHERE holder = $1 AND (name, epoch) IN (SELECT * FROM unnest($2::text[], $3::bigint[]))
             RETURNING name",
            &[&self.node, &names, &epochs, &self.secs()],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Re-takes the advisory lock of a lease held across a reconnect; `false` if another session has it.
    pub fn relock(&mut self, held: &Held) -> Result<bool, BackendError> {
        if self.locked.contains(&held.key) {
            return Ok(true);
        }
        let got: bool = self.client.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_CLASS, &held.key])?.get(0);
        if got {
            self.locked.insert(held.key);
        }
        Ok(got)
    }

    /// Tries to take a free or lapsed lease. `Ok(None)`: not now (held, its lock still held, or another
    /// node was quicker).
    pub fn try_take(&mut self, row: &LeaseRow) -> Result<Option<Held>, BackendError> {
        if !row.free || !self.locks_ok {
            return Ok(None);
        }
        let newly = !self.locked.contains(&row.key);
        if newly {
            let locked: bool =
                self.client.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_CLASS, &row.key])?.get(0);
            if !locked {
                // Lapsed, yet its holder's session still holds the lock: the holder is alive but not
                // renewing (paused, cut off). End its sessions; the lock is free at the next attempt.
                if let Some(holder) = row.holder.as_deref().filter(|h| *h != self.node) {
                    // Only while it is still lapsed and still theirs (it may have been renewed since the read).
                    let ended: i64 = self
                        .client
                        .query_one(
                            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                             WHERE application_name IN ($1, $2) AND pid <> pg_backend_pid()
                               AND EXISTS (SELECT 1 FROM leases WHERE name = $3 AND holder = $4 AND expires_at <= now())",
                            &[&application_name(holder), &state_application_name(holder), &row.name, &holder],
                        )?
                        .get(0);
                    tracing::warn!(lease = %row.name, holder, sessions = ended, "the lease lapsed while its holder still holds its lock: ended the holder's sessions");
                }
                return Ok(None);
            }
            self.locked.insert(row.key);
        }
        let taken = self.client.query_opt(
            "UPDATE leases SET holder = $2, epoch = epoch + 1, expires_at = now() + make_interval(secs => $3), acquired_at = now()
             WHERE name = $1 AND (holder IS NULL OR expires_at <= now()) RETURNING epoch",
            &[&row.name, &self.node, &self.secs()],
        );
        match taken {
            Ok(Some(r)) => Ok(Some(Held { epoch: r.get(0), key: row.key })),
            Ok(None) => {
                self.unlock(row.key)?;
                Ok(None)
            }
            Err(e) => {
                let _ = self.unlock(row.key);
                Err(e.into())
            }
        }
    }

    /// Lets a lease's advisory lock go (the row is left as it is: a lapsed lease stays lapsed until its
    /// expiry in the server's clock).
    pub fn unlock(&mut self, key: i32) -> Result<(), BackendError> {
        if !self.locked.remove(&key) {
            return Ok(());
        }
        self.client.execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_CLASS, &key])?;
        Ok(())
    }

    /// Gives a lease up at once (it is free for the next node immediately); the lock is let go even if
    /// the row could not be updated.
    pub fn release(&mut self, name: &str, held: &Held) -> Result<(), BackendError> {
        let updated = self.client.execute(
            "UPDATE leases SET holder = NULL, expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3",
            &[&name, &self.node, &held.epoch],
        );
        let unlocked = self.unlock(held.key);
        updated?;
        unlocked
    }

    /// Marks the node stopped.
    pub fn leave(&mut self) -> Result<(), BackendError> {
        self.client
            .execute("UPDATE nodes SET stopped_at = now(), role = 'stopped' WHERE node_id = $1", &[&self.node])?;
        Ok(())
    }
}

/// The default node id: the host name, cut to [`MAX_NODE_ID`](crate::config::MAX_NODE_ID) characters of
/// the allowed set.
pub fn default_node_id() -> String {
    let mut id: String =
        hostname().chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    id.truncate(crate::config::MAX_NODE_ID);
    id
}

/// This machine's host name (for `nodes`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

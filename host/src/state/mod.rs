//! The provisioning state store (SQLite, WAL): per channel, users and groups with their target ids,
//! hashes of the last provisioned mapped attributes (never the values, so masked values are never
//! stored), status, dirty flag, attempts and last error; group memberships; one row per cycle.
//!
//! Crash safety: a record is marked in flight (dirty) in its own committed transaction before the
//! connector is called, and settled after; a crash leaves it dirty and the next cycle resends it,
//! which the connector resolves idempotently (matching by the unique identifier).

mod holds;
mod lock;
mod schema;

pub use holds::{HeldAction, HoldDecision};
pub use lock::{LockError, WriterLock};

use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A state store error.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite failed.
    #[error("state database {path}: {source}")]
    Db {
        /// The database file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database's directory could not be created.
    #[error("state database {path}: cannot create its directory: {source}")]
    Dir {
        /// The database file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Status of an object as last provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Active in the target.
    Active,
    /// Disabled in the target (or deliberately not created while disabled).
    Disabled,
    /// Deprovisioned (left the source, or deleted).
    Removed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Removed => "removed",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "disabled" => Some(Status::Disabled),
            "removed" => Some(Status::Removed),
            _ => None,
        }
    }
}

/// Per-attribute hashes, kept as the stored JSON text and parsed only when a row's overall hash
/// differs (so an unchanged cycle over many rows stays small).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttrHashes(pub String);

impl AttrHashes {
    /// From a map.
    pub fn from_map(m: &BTreeMap<String, String>) -> AttrHashes {
        AttrHashes(serde_json::to_string(m).unwrap_or_else(|_| "{}".into()))
    }

    /// The map.
    pub fn parse(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

/// One user or group row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Source id.
    pub source_id: String,
    /// Target id, when known.
    pub target_id: Option<String>,
    /// Hash of all mapped attributes last provisioned.
    pub hash: String,
    /// Per-attribute hashes last provisioned.
    pub attr_hashes: AttrHashes,
    /// Status.
    pub status: Status,
    /// Failed or in flight: send again.
    pub dirty: bool,
    /// Consecutive failed attempts.
    pub attempts: u32,
    /// Unix seconds before which a dirty row is not retried.
    pub next_attempt_at: i64,
    /// Last error message.
    pub last_error: Option<String>,
    /// Hash of the unique user identifier's value as last provisioned (never the value).
    pub ident_hash: Option<String>,
    /// The desired state's hash when the connector skipped it (an option was off): not sent again
    /// while it is unchanged and the connection's settings are unchanged.
    pub skipped_hash: Option<String>,
    /// Users: hash of the normalised DN (for resolving references such as `manager`), never the DN.
    pub dn_hash: Option<String>,
}

/// A channel's counts and last cycle, as `provisioner channels` shows them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChannelSummary {
    /// Users not removed.
    pub users: u64,
    /// Users failed or in flight.
    pub dirty_users: u64,
    /// Users disabled.
    pub disabled_users: u64,
    /// Groups not removed.
    pub groups: u64,
    /// Groups failed or in flight.
    pub dirty_groups: u64,
    /// Deprovisioning actions held by the guard (or approved, waiting for the next cycle).
    pub held: u64,
    /// The last cycle, if any ran.
    pub last_cycle: Option<LastCycle>,
}

/// A channel's last cycle.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LastCycle {
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds; absent while running or after a crash.
    pub finished_at: Option<i64>,
    /// Outcomes counted (absent for a failed cycle of an older version).
    pub figures: Option<CycleFigures>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Per-cycle figures.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub struct CycleFigures {
    pub created: u64,
    pub updated: u64,
    pub disabled: u64,
    pub deleted: u64,
    pub reactivated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// The store.
pub struct State {
    conn: Connection,
    path: String,
    /// Channel → connection, from [`State::bind_channels`].
    connections: HashMap<String, String>,
}

/// What the state remembers of a connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionMeta {
    /// Fingerprint of the connection's (non-secret) settings when its skipped records were recorded.
    pub settings_hash: Option<String>,
    /// The unique user identifier existing accounts were matched by.
    pub unique_identifier: Option<String>,
}

/// Target ids of a connection's active users, to resolve references (see `FieldMapping::resolve`).
#[derive(Debug, Clone, Default)]
pub struct ReferenceIndex {
    /// DN hash → target id.
    pub by_dn_hash: HashMap<String, String>,
    /// Source id → target id.
    pub by_source_id: HashMap<String, String>,
}

/// Who holds an identifier or a target id in a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// The channel.
    pub channel: String,
    /// The record's source id.
    pub source_id: String,
    /// Whether the record is provisioned (has a target id).
    pub provisioned: bool,
}

/// Object table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `users`.
    Users,
    /// `groups`.
    Groups,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Groups => "groups",
        }
    }
}

impl State {
    /// Opens (creating) the database.
    pub fn open(path: &Path) -> Result<State, StateError> {
        let p = path.display().to_string();
        let err = |source| StateError::Db { path: p.clone(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Dir { path: p.clone(), source })?;
        }
        // Created private (0600): the state names every record and its target account. SQLite gives the
        // -wal and -shm files the database file's mode.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| StateError::Dir { path: p.clone(), source })?;
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")
            .map_err(err)?;
        schema::migrate(&mut conn).map_err(err)?;
        Ok(State { conn, path: p, connections: HashMap::new() })
    }

    /// Records which connection each channel belongs to (rows of older versions learn theirs), then
    /// makes sure one target account maps to at most one record per connection: rows that share a
    /// target id (possible before this version) keep it on the first provisioned row only; the others
    /// are unlinked and marked dirty with a `duplicate_identifier` error, and the unique indexes are
    /// created.
    /// With `write` false (a plan), only remembers the pairs.
    pub fn bind_channels(&mut self, pairs: &[(String, String)], write: bool) -> Result<(), StateError> {
        if !write {
            self.connections = pairs.iter().cloned().collect();
            return Ok(());
        }
        let path = self.path.clone();
        let e = |source| StateError::Db { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        for table in ["users", "groups"] {
            for (channel, connection) in pairs {
                tx.execute(
                    &format!("UPDATE {table} SET connection = ?2 WHERE channel = ?1 AND connection != ?2"),
                    params![channel, connection],
                )
                .map_err(e)?;
            }
            tx.execute(
                &format!(
                    "UPDATE {table} SET target_id = NULL, dirty = 1, attempts = 0, next_attempt_at = 0,
                       last_error = 'duplicate_identifier: shared its target account with another record of the connection; unlinked'
                     WHERE rowid IN (
                       SELECT t.rowid FROM {table} t JOIN {table} o
                         ON o.connection = t.connection AND o.target_id = t.target_id AND o.rowid < t.rowid
                        AND o.status != 'removed'
                       WHERE t.target_id IS NOT NULL AND t.status != 'removed' AND t.connection != '')"
                ),
                [],
            )
            .map_err(e)?;
            tx.execute_batch(&format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {table}_one_record_per_target ON {table} (connection, target_id)
                   WHERE target_id IS NOT NULL AND status != 'removed' AND connection != ''"
            ))
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        self.connections = pairs.iter().cloned().collect();
        Ok(())
    }

    fn connection_of(&self, channel: &str) -> &str {
        self.connections.get(channel).map_or("", String::as_str)
    }

    /// Per target id, the record of `table` in `channel`'s connection that holds it (removed rows aside).
    pub fn target_owners(&self, table: Table, channel: &str) -> Result<HashMap<String, Owner>, StateError> {
        let sql = format!(
            "SELECT target_id, channel, source_id FROM {}
             WHERE connection = ?1 AND target_id IS NOT NULL AND status != 'removed'",
            table.name()
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![self.connection_of(channel)], |r| {
                Ok((r.get::<_, String>(0)?, Owner { channel: r.get(1)?, source_id: r.get(2)?, provisioned: true }))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Per identifier hash, the user records of `channel`'s connection that hold it in *other* channels
    /// (removed rows aside).
    pub fn ident_owners_elsewhere(&self, channel: &str) -> Result<HashMap<String, Owner>, StateError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT ident_hash, channel, source_id, target_id IS NOT NULL FROM users
                 WHERE connection = ?1 AND channel != ?2 AND ident_hash IS NOT NULL AND status != 'removed'",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![self.connection_of(channel), channel], |r| {
                Ok((r.get::<_, String>(0)?, Owner { channel: r.get(1)?, source_id: r.get(2)?, provisioned: r.get(3)? }))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Target ids of the active, provisioned users of `channel`'s connection, by DN hash and by source id
    /// (for resolving references such as `manager`).
    pub fn reference_index(&self, channel: &str) -> Result<ReferenceIndex, StateError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT source_id, dn_hash, target_id FROM users
                 WHERE connection = ?1 AND target_id IS NOT NULL AND status = 'active'",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![self.connection_of(channel)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(|e| self.err(e))?;
        let mut index = ReferenceIndex::default();
        for row in rows {
            let (source_id, dn_hash, target) = row.map_err(|e| self.err(e))?;
            if let Some(h) = dn_hash {
                index.by_dn_hash.insert(h, target.clone());
            }
            index.by_source_id.insert(source_id, target);
        }
        Ok(index)
    }

    /// Forgets what the connector skipped in `connection`'s channels (its settings changed: an option
    /// that was off may be on), so those records are decided again.
    pub fn clear_skipped(&self, connection: &str) -> Result<usize, StateError> {
        let mut n = 0;
        for table in ["users", "groups"] {
            n += self
                .conn
                .execute(
                    &format!(
                        "UPDATE {table} SET skipped_hash = NULL WHERE connection = ?1 AND skipped_hash IS NOT NULL"
                    ),
                    params![connection],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(n)
    }

    /// Users of `connection` that have a target account.
    pub fn provisioned_users(&self, connection: &str) -> Result<u64, StateError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM users WHERE connection = ?1 AND target_id IS NOT NULL",
                params![connection],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// What the state remembers of a connection.
    pub fn connection_meta(&self, connection: &str) -> Result<ConnectionMeta, StateError> {
        self.conn
            .query_row(
                "SELECT settings_hash, unique_identifier FROM connection_meta WHERE connection = ?1",
                params![connection],
                |r| Ok(ConnectionMeta { settings_hash: r.get(0)?, unique_identifier: r.get(1)? }),
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(|e| self.err(e))
    }

    /// Remembers a connection's settings fingerprint and unique user identifier.
    pub fn set_connection_meta(&self, connection: &str, meta: &ConnectionMeta) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO connection_meta (connection, settings_hash, unique_identifier) VALUES (?1, ?2, ?3)
                 ON CONFLICT(connection) DO UPDATE SET settings_hash = ?2, unique_identifier = ?3",
                params![connection, meta.settings_hash, meta.unique_identifier],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Db { path: self.path.clone(), source }
    }

    /// Every row of a channel's table.
    pub fn rows(&self, table: Table, channel: &str) -> Result<HashMap<String, Row>, StateError> {
        let sql = format!(
            "SELECT source_id, target_id, hash, attr_hashes, status, dirty, attempts, next_attempt_at, last_error, ident_hash, skipped_hash, {} FROM {} WHERE channel = ?1",
            if table == Table::Users { "dn_hash" } else { "NULL" },
            table.name()
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![channel], |r| {
                let attr_json: String = r.get(3)?;
                Ok(Row {
                    source_id: r.get(0)?,
                    target_id: r.get(1)?,
                    hash: r.get(2)?,
                    attr_hashes: AttrHashes(attr_json),
                    status: {
                        let text: String = r.get(4)?;
                        Status::parse(&text).ok_or_else(|| {
                            rusqlite::Error::FromSqlConversionFailure(
                                4,
                                rusqlite::types::Type::Text,
                                format!("unknown status `{text}`").into(),
                            )
                        })?
                    },
                    dirty: r.get::<_, i64>(5)? != 0,
                    attempts: r.get::<_, i64>(6)? as u32,
                    next_attempt_at: r.get(7)?,
                    last_error: r.get(8)?,
                    ident_hash: r.get(9)?,
                    skipped_hash: r.get(10)?,
                    dn_hash: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for r in rows {
            let r = r.map_err(|e| self.err(e))?;
            out.insert(r.source_id.clone(), r);
        }
        Ok(out)
    }

    /// Marks records in flight (dirty), in one committed transaction, before the connector is called.
    pub fn mark_in_flight(&mut self, table: Table, channel: &str, ids: &[(String, Status)]) -> Result<(), StateError> {
        let tx = self.conn.transaction().map_err(|e| StateError::Db { path: self.path.clone(), source: e })?;
        {
            let sql = format!(
                "INSERT INTO {} (channel, source_id, status, dirty, connection) VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT(channel, source_id) DO UPDATE SET dirty = 1",
                table.name()
            );
            let mut st = tx.prepare_cached(&sql).map_err(|e| StateError::Db { path: self.path.clone(), source: e })?;
            for (id, status) in ids {
                st.execute(params![
                    channel,
                    id,
                    status.as_str(),
                    self.connections.get(channel).map_or("", String::as_str)
                ])
                .map_err(|e| StateError::Db { path: self.path.clone(), source: e })?;
            }
        }
        tx.commit().map_err(|e| StateError::Db { path: self.path.clone(), source: e })
    }

    /// Settles rows after the connector answered, in one transaction.
    pub fn settle(&mut self, table: Table, channel: &str, rows: &[Row], now: i64) -> Result<(), StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Db { path: path.clone(), source };
        let connection = self.connections.get(channel).cloned().unwrap_or_default();
        let tx = self.conn.transaction().map_err(e)?;
        {
            // Users also keep their DN hash (for references); groups have no DN of their own here.
            let users = table == Table::Users;
            let sql = format!(
                "INSERT INTO {} (channel, source_id, target_id, hash, attr_hashes, status, dirty, attempts, next_attempt_at, last_error, updated_at, connection, ident_hash, skipped_hash{})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14{})
                 ON CONFLICT(channel, source_id) DO UPDATE SET target_id = ?3, hash = ?4, attr_hashes = ?5, status = ?6,
                   dirty = ?7, attempts = ?8, next_attempt_at = ?9, last_error = ?10, updated_at = ?11, connection = ?12,
                   ident_hash = ?13, skipped_hash = ?14{}",
                table.name(),
                if users { ", dn_hash" } else { "" },
                if users { ", ?15" } else { "" },
                if users { ", dn_hash = COALESCE(?15, dn_hash)" } else { "" }
            );
            let mut st = tx.prepare_cached(&sql).map_err(e)?;
            for r in rows {
                let status = r.status.as_str();
                let (dirty, attempts) = (r.dirty as i64, r.attempts as i64);
                let common = params![
                    channel,
                    r.source_id,
                    r.target_id,
                    r.hash,
                    r.attr_hashes.0,
                    status,
                    dirty,
                    attempts,
                    r.next_attempt_at,
                    r.last_error,
                    now,
                    connection,
                    r.ident_hash,
                    r.skipped_hash
                ];
                if users {
                    let mut all: Vec<&dyn rusqlite::ToSql> = common.to_vec();
                    all.push(&r.dn_hash);
                    st.execute(all.as_slice()).map_err(e)?;
                } else {
                    st.execute(common).map_err(e)?;
                }
            }
        }
        tx.commit().map_err(e)
    }

    /// A group's members as last provisioned (user source ids).
    pub fn memberships(&self, channel: &str) -> Result<HashMap<String, Vec<String>>, StateError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT group_source_id, user_source_id FROM memberships WHERE channel = ?1")
            .map_err(|e| self.err(e))?;
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        let rows = st
            .query_map(params![channel], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        for r in rows {
            let (g, u) = r.map_err(|e| self.err(e))?;
            out.entry(g).or_default().push(u);
        }
        Ok(out)
    }

    /// Replaces a group's recorded members.
    pub fn set_memberships(&mut self, channel: &str, group: &str, users: &[String]) -> Result<(), StateError> {
        self.set_memberships_many(channel, &[(group, users)])
    }

    /// Replaces the recorded members of several groups, in one transaction.
    pub fn set_memberships_many(&mut self, channel: &str, groups: &[(&str, &[String])]) -> Result<(), StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Db { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut del =
                tx.prepare_cached("DELETE FROM memberships WHERE channel = ?1 AND group_source_id = ?2").map_err(e)?;
            let mut ins = tx.prepare_cached("INSERT OR IGNORE INTO memberships VALUES (?1, ?2, ?3)").map_err(e)?;
            for (group, users) in groups {
                del.execute(params![channel, group]).map_err(e)?;
                for u in users.iter() {
                    ins.execute(params![channel, group, u]).map_err(e)?;
                }
            }
        }
        tx.commit().map_err(e)
    }

    /// Starts a cycle row; returns its id.
    pub fn begin_cycle(&self, channel: &str, now: i64) -> Result<i64, StateError> {
        self.conn
            .execute("INSERT INTO cycles (channel, started_at) VALUES (?1, ?2)", params![channel, now])
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Finishes a cycle row.
    pub fn end_cycle(&self, id: i64, now: i64, figures: &CycleFigures, error: Option<&str>) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE cycles SET finished_at = ?2, figures = ?3, error = ?4 WHERE id = ?1",
                params![id, now, serde_json::to_string(figures).unwrap_or_default(), error],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT INTO channel_meta (channel, last_cycle_at) SELECT channel, ?2 FROM cycles WHERE id = ?1
                 ON CONFLICT(channel) DO UPDATE SET last_cycle_at = ?2",
                params![id, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The channel's change-detection token.
    pub fn token(&self, channel: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row("SELECT token FROM channel_meta WHERE channel = ?1", params![channel], |r| r.get(0))
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// Stores the channel's change-detection token.
    pub fn set_token(&self, channel: &str, token: Option<&str>) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO channel_meta (channel, token) VALUES (?1, ?2) ON CONFLICT(channel) DO UPDATE SET token = ?2",
                params![channel, token],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// A channel's counts and last cycle.
    pub fn channel_summary(&self, channel: &str) -> Result<ChannelSummary, StateError> {
        let count = |sql: &str| -> Result<u64, StateError> {
            self.conn
                .query_row(sql, params![channel], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| self.err(e))
        };
        let last = self
            .conn
            .query_row(
                "SELECT started_at, finished_at, figures, error FROM cycles WHERE channel = ?1 ORDER BY id DESC LIMIT 1",
                params![channel],
                |r| {
                    let figures: Option<String> = r.get(2)?;
                    Ok(LastCycle {
                        started_at: r.get(0)?,
                        finished_at: r.get(1)?,
                        figures: figures.and_then(|f| serde_json::from_str(&f).ok()),
                        error: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(ChannelSummary {
            users: count("SELECT COUNT(*) FROM users WHERE channel = ?1 AND status != 'removed'")?,
            dirty_users: count("SELECT COUNT(*) FROM users WHERE channel = ?1 AND dirty = 1")?,
            disabled_users: count("SELECT COUNT(*) FROM users WHERE channel = ?1 AND status = 'disabled'")?,
            groups: count("SELECT COUNT(*) FROM groups WHERE channel = ?1 AND status != 'removed'")?,
            dirty_groups: count("SELECT COUNT(*) FROM groups WHERE channel = ?1 AND dirty = 1")?,
            held: count("SELECT COUNT(*) FROM holds WHERE channel = ?1 AND decision != 'rejected'")?,
            last_cycle: last,
        })
    }

    /// Forgets a channel's state.
    pub fn reset(&self, channel: &str) -> Result<(), StateError> {
        for t in ["users", "groups", "memberships", "cycles", "channel_meta", "holds"] {
            self.conn
                .execute(&format!("DELETE FROM {t} WHERE channel = ?1"), params![channel])
                .map_err(|e| self.err(e))?;
        }
        // A connection none of whose records remain forgets its unique identifier: the next cycle
        // matches existing accounts afresh by whatever the configuration says.
        self.conn
            .execute(
                "DELETE FROM connection_meta WHERE connection NOT IN (SELECT connection FROM users)
                   AND connection NOT IN (SELECT connection FROM groups)",
                [],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first-release database (no `user_version`) whose rows share one Slack id migrates: the later
    /// row is unlinked and marked dirty, and the unique index then refuses any new sharing.
    #[test]
    fn migrates_a_first_release_database_and_unlinks_shared_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE users (channel TEXT NOT NULL, source_id TEXT NOT NULL, target_id TEXT, hash TEXT NOT NULL DEFAULT '',
                   attr_hashes TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, dirty INTEGER NOT NULL DEFAULT 0,
                   attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,
                   updated_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (channel, source_id));
                 INSERT INTO users (channel, source_id, target_id, status) VALUES ('people', 'a', 'U1', 'active');
                 INSERT INTO users (channel, source_id, target_id, status) VALUES ('people', 'b', 'U1', 'disabled');",
            )
            .unwrap();
        }
        let mut s = State::open(&path).unwrap();
        s.bind_channels(&[("people".into(), "slack".into())], true).unwrap();
        let rows = s.rows(Table::Users, "people").unwrap();
        assert_eq!(rows["a"].target_id.as_deref(), Some("U1"));
        assert_eq!(rows["b"].target_id, None);
        assert!(rows["b"].dirty && rows["b"].last_error.as_deref().unwrap().starts_with("duplicate_identifier"));
        let shared = s.conn.execute("UPDATE users SET target_id = 'U1' WHERE source_id = 'b'", []);
        assert!(shared.is_err(), "the unique index refuses two records on one account");
        let version: i64 = s.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, schema::VERSION);
        // Opening again changes nothing.
        drop(s);
        let mut s = State::open(&path).unwrap();
        s.bind_channels(&[("people".into(), "slack".into())], true).unwrap();
        assert_eq!(s.rows(Table::Users, "people").unwrap()["a"].target_id.as_deref(), Some("U1"));
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
        let e = State::open(&path).err().unwrap().to_string();
        assert!(e.contains("newer than this provisioner"), "{e}");
    }
}

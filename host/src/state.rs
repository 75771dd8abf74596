//! The provisioning state store (SQLite, WAL): per channel, users and groups with their target ids,
//! hashes of the last provisioned mapped attributes (never the values, so masked values are never
//! stored), status, dirty flag, attempts and last error; group memberships; one row per cycle.
//!
//! Crash safety: a record is marked in flight (dirty) in its own committed transaction before the
//! connector is called, and settled after; a crash leaves it dirty and the next cycle resends it,
//! which the connector resolves idempotently (matching by the unique identifier).

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
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS users (
                channel TEXT NOT NULL, source_id TEXT NOT NULL, target_id TEXT, hash TEXT NOT NULL DEFAULT '',
                attr_hashes TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, dirty INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,
                updated_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (channel, source_id));
             CREATE TABLE IF NOT EXISTS groups (
                channel TEXT NOT NULL, source_id TEXT NOT NULL, target_id TEXT, hash TEXT NOT NULL DEFAULT '',
                attr_hashes TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, dirty INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,
                updated_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (channel, source_id));
             CREATE TABLE IF NOT EXISTS memberships (
                channel TEXT NOT NULL, group_source_id TEXT NOT NULL, user_source_id TEXT NOT NULL,
                PRIMARY KEY (channel, group_source_id, user_source_id));
             CREATE TABLE IF NOT EXISTS cycles (
                id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, started_at INTEGER NOT NULL,
                finished_at INTEGER, figures TEXT, error TEXT);
             CREATE TABLE IF NOT EXISTS channel_meta (
                channel TEXT PRIMARY KEY, token TEXT, last_cycle_at INTEGER);",
        )
        .map_err(err)?;
        Ok(State { conn, path: p })
    }

    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Db { path: self.path.clone(), source }
    }

    /// Every row of a channel's table.
    pub fn rows(&self, table: Table, channel: &str) -> Result<HashMap<String, Row>, StateError> {
        let sql = format!(
            "SELECT source_id, target_id, hash, attr_hashes, status, dirty, attempts, next_attempt_at, last_error FROM {} WHERE channel = ?1",
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
                "INSERT INTO {} (channel, source_id, status, dirty) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT(channel, source_id) DO UPDATE SET dirty = 1",
                table.name()
            );
            let mut st = tx.prepare_cached(&sql).map_err(|e| StateError::Db { path: self.path.clone(), source: e })?;
            for (id, status) in ids {
                st.execute(params![channel, id, status.as_str()])
                    .map_err(|e| StateError::Db { path: self.path.clone(), source: e })?;
            }
        }
        tx.commit().map_err(|e| StateError::Db { path: self.path.clone(), source: e })
    }

    /// Settles rows after the connector answered, in one transaction.
    pub fn settle(&mut self, table: Table, channel: &str, rows: &[Row], now: i64) -> Result<(), StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Db { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let sql = format!(
                "INSERT INTO {} (channel, source_id, target_id, hash, attr_hashes, status, dirty, attempts, next_attempt_at, last_error, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(channel, source_id) DO UPDATE SET target_id = ?3, hash = ?4, attr_hashes = ?5, status = ?6,
                   dirty = ?7, attempts = ?8, next_attempt_at = ?9, last_error = ?10, updated_at = ?11",
                table.name()
            );
            let mut st = tx.prepare_cached(&sql).map_err(e)?;
            for r in rows {
                st.execute(params![
                    channel,
                    r.source_id,
                    r.target_id,
                    r.hash,
                    r.attr_hashes.0,
                    r.status.as_str(),
                    r.dirty as i64,
                    r.attempts as i64,
                    r.next_attempt_at,
                    r.last_error,
                    now
                ])
                .map_err(e)?;
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
        let path = self.path.clone();
        let e = |source| StateError::Db { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute("DELETE FROM memberships WHERE channel = ?1 AND group_source_id = ?2", params![channel, group])
            .map_err(e)?;
        {
            let mut st = tx.prepare_cached("INSERT OR IGNORE INTO memberships VALUES (?1, ?2, ?3)").map_err(e)?;
            for u in users {
                st.execute(params![channel, group, u]).map_err(e)?;
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
            last_cycle: last,
        })
    }

    /// Forgets a channel's state.
    pub fn reset(&self, channel: &str) -> Result<(), StateError> {
        for t in ["users", "groups", "memberships", "cycles", "channel_meta"] {
            self.conn
                .execute(&format!("DELETE FROM {t} WHERE channel = ?1"), params![channel])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}

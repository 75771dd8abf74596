//! The provisioning state store (SQLite by default, PostgreSQL for failover and cluster modes): per channel, users and groups with their target ids,
//! hashes of the last provisioned mapped attributes (never the values, so masked values are never
//! stored), status, dirty flag, attempts and last error; group memberships; one row per cycle.
//!
//! Crash safety: a record is marked in flight (dirty) in its own committed transaction before the
//! connector is called, and settled after; a crash leaves it dirty and the next cycle resends it,
//! which the connector resolves idempotently (matching by the unique identifier).

pub(crate) mod backend;
mod holds;
mod lock;
pub(crate) mod schema;

pub use backend::postgres::PgTarget;
pub use backend::{BackendError, Fence};
pub use holds::{HeldAction, HoldDecision};
pub use lock::{LockError, WriterLock};

use backend::{vals, Backend, SqlRow, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A state store error.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database failed (or fenced the write).
    #[error("state database {path}: {source}")]
    Db {
        /// The database file or URL (never with a password).
        path: String,
        /// The engine's error.
        #[source]
        source: BackendError,
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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Removed => "removed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Status> {
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
    /// Users: hash of the unique user identifier's value as last provisioned; groups: of the display
    /// name, trimmed and lower-cased (never the value).
    pub ident_hash: Option<String>,
    /// The desired state's hash when the connector skipped it (an option was off): not sent again
    /// while it is unchanged and the connection's settings are unchanged.
    pub skipped_hash: Option<String>,
    /// Users: hash of the normalised DN (for resolving references such as `manager`), never the DN.
    pub dn_hash: Option<String>,
}

impl Row {
    /// A row for `source_id` with nothing recorded yet: no target object, no hashes, not dirty.
    pub fn new(source_id: impl Into<String>, status: Status) -> Row {
        Row {
            source_id: source_id.into(),
            target_id: None,
            hash: String::new(),
            attr_hashes: AttrHashes::default(),
            status,
            dirty: false,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            ident_hash: None,
            skipped_hash: None,
            dn_hash: None,
        }
    }
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

/// The store: one engine (SQLite or PostgreSQL) behind [`Backend`]. Every write runs in a transaction
/// that first checks the fence, if one is set ([`State::set_fence`]).
pub struct State {
    db: RefCell<Box<dyn Backend>>,
    /// Where the state is (a file, or a PostgreSQL URL without password), for messages.
    path: String,
    /// Channel → connection, from [`State::bind_channels`].
    connections: HashMap<String, String>,
}

/// Where the state is kept.
#[derive(Debug, Clone)]
pub enum StateLocation {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgTarget),
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

/// Why a state could not be opened for writing.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process writes it.
    #[error(transparent)]
    Locked(LockError),
    /// It could not be opened.
    #[error(transparent)]
    State(StateError),
}

impl StateError {
    /// Whether a write was refused because this node lost its lease.
    pub fn is_fenced(&self) -> bool {
        matches!(self, StateError::Db { source, .. } if source.is_fenced())
    }
}

fn status_of(row: &SqlRow, i: usize) -> Result<Status, BackendError> {
    let text = row.text(i)?;
    Status::parse(&text).ok_or_else(|| BackendError::Decode(format!("unknown status `{text}`")))
}

impl State {
    /// Opens (creating) an SQLite state file.
    pub fn open(path: &Path) -> Result<State, StateError> {
        State::open_at(&StateLocation::Sqlite(path.to_owned()))
    }

    /// Opens (creating, migrating) the state wherever the configuration keeps it.
    pub fn open_at(location: &StateLocation) -> Result<State, StateError> {
        let (db, p): (Box<dyn Backend>, String) = match location {
            StateLocation::Sqlite(path) => {
                let p = path.display().to_string();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StateError::Dir { path: p.clone(), source })?;
                }
                // Created private (0600): the state names every record and its target account. SQLite
                // gives the -wal and -shm files the database file's mode.
                if !path.exists() {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(path)
                        .map_err(|source| StateError::Dir { path: p.clone(), source })?;
                }
                let db =
                    backend::sqlite::Sqlite::open(path).map_err(|source| StateError::Db { path: p.clone(), source })?;
                (Box::new(db), p)
            }
            StateLocation::Postgres(target) => {
                let p = target.display();
                let db = backend::postgres::Postgres::open(target)
                    .map_err(|source| StateError::Db { path: p.clone(), source })?;
                (Box::new(db), p)
            }
        };
        Ok(State { db: RefCell::new(db), path: p, connections: HashMap::new() })
    }

    /// Opens a PostgreSQL state holding its single-writer lock (exclusive: refused while another
    /// one-off writer, or any failover or cluster node, is running).
    pub fn open_postgres_exclusive(target: &PgTarget) -> Result<State, OpenError> {
        let p = target.display();
        let e = |source| OpenError::State(StateError::Db { path: p.clone(), source });
        let mut db = backend::postgres::Postgres::open(target).map_err(e)?;
        if !db.try_writer_lock().map_err(e)? {
            let holder = db.writer_lock_holder().map_err(e)?;
            return Err(OpenError::Locked(LockError::Held {
                state: p.clone(),
                holder: if holder.is_empty() { "holder unknown".into() } else { holder },
            }));
        }
        Ok(State { db: RefCell::new(Box::new(db)), path: p, connections: HashMap::new() })
    }

    /// Fences every later write by the given leases (failover and cluster modes); `None` lifts it.
    pub fn set_fence(&self, fence: Option<Fence>) {
        self.db.borrow_mut().set_fence(fence);
    }

    fn err(&self, source: BackendError) -> StateError {
        StateError::Db { path: self.path.clone(), source }
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<SqlRow>, StateError> {
        self.db.borrow_mut().query(sql, params).map_err(|e| self.err(e))
    }

    /// Runs `f` in a write transaction (fenced): committed if it succeeds, rolled back otherwise.
    fn write<T>(&self, f: impl FnOnce(&mut dyn Backend) -> Result<T, BackendError>) -> Result<T, StateError> {
        let mut db = self.db.borrow_mut();
        db.begin().map_err(|e| self.err(e))?;
        match f(&mut **db) {
            Ok(v) => {
                db.commit().map_err(|e| self.err(e))?;
                Ok(v)
            }
            Err(e) => {
                db.rollback();
                Err(self.err(e))
            }
        }
    }

    /// Records which connection each channel belongs to (rows of older versions learn theirs), then
    /// makes sure one target account maps to at most one record per connection: rows that share a
    /// target id (possible in SQLite files of earlier versions) keep it on the first provisioned row
    /// only; the others are unlinked and marked dirty with a `duplicate_identifier` error, and the
    /// unique indexes are created (PostgreSQL's schema has them from the start).
    /// With `write` false (a plan), only remembers the pairs.
    pub fn bind_channels(&mut self, pairs: &[(String, String)], write: bool) -> Result<(), StateError> {
        if !write {
            self.connections = pairs.iter().cloned().collect();
            return Ok(());
        }
        self.write(|db| {
            for table in ["users", "groups"] {
                for (channel, connection) in pairs {
                    db.execute(
                        &format!("UPDATE {table} SET connection = ?2 WHERE channel = ?1 AND connection != ?2"),
                        &vals![channel, connection],
                    )?;
                }
                if !db.is_sqlite() {
                    continue;
                }
                // Once the index exists it keeps one record per account: the unlinking below (for
                // state files from before it) has nothing left to find, and would scan the table at
                // every start.
                let indexed = !db
                    .query(
                        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1",
                        &vals![format!("{table}_one_record_per_target")],
                    )?
                    .is_empty();
                if indexed {
                    continue;
                }
                db.execute(
                    &format!(
                        "UPDATE {table} SET target_id = NULL, dirty = 1, attempts = 0, next_attempt_at = 0,
                           last_error = 'duplicate_identifier: shared its target account with another record of the connection; unlinked'
                         WHERE rowid IN (
                           SELECT t.rowid FROM {table} t JOIN {table} o
                             ON o.connection = t.connection AND o.target_id = t.target_id AND o.rowid < t.rowid
                            AND o.status != 'removed'
                           WHERE t.target_id IS NOT NULL AND t.status != 'removed' AND t.connection != '')"
                    ),
                    &[],
                )?;
                db.execute(
                    &format!(
                        "CREATE UNIQUE INDEX IF NOT EXISTS {table}_one_record_per_target ON {table} (connection, target_id)
                           WHERE target_id IS NOT NULL AND status != 'removed' AND connection != ''"
                    ),
                    &[],
                )?;
            }
            Ok(())
        })?;
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
        let rows = self.query(&sql, &vals![self.connection_of(channel)])?;
        rows.iter()
            .map(|r| Ok((r.text(0)?, Owner { channel: r.text(1)?, source_id: r.text(2)?, provisioned: true })))
            .collect::<Result<_, BackendError>>()
            .map_err(|e| self.err(e))
    }

    /// Per identifier hash, the user records of `channel`'s connection that hold it in *other* channels
    /// (removed rows aside).
    pub fn ident_owners_elsewhere(&self, channel: &str) -> Result<HashMap<String, Owner>, StateError> {
        self.idents_elsewhere(Table::Users, channel)
    }

    /// Group display-name hash → the provisioned group of another channel of `channel`'s connection
    /// that has it in the target.
    pub fn group_names_elsewhere(&self, channel: &str) -> Result<HashMap<String, Owner>, StateError> {
        self.idents_elsewhere(Table::Groups, channel)
    }

    fn idents_elsewhere(&self, table: Table, channel: &str) -> Result<HashMap<String, Owner>, StateError> {
        // A group holds its name only once it exists in the target; a user's identifier is claimed as
        // soon as a record has it (whether its account exists is in `provisioned`).
        let provisioned_only = if table == Table::Groups { " AND target_id IS NOT NULL" } else { "" };
        let sql = format!(
            "SELECT ident_hash, channel, source_id, CASE WHEN target_id IS NULL THEN 0 ELSE 1 END FROM {}
             WHERE connection = ?1 AND channel != ?2 AND ident_hash IS NOT NULL AND status != 'removed'{provisioned_only}",
            table.name()
        );
        let rows = self.query(&sql, &vals![self.connection_of(channel), channel])?;
        rows.iter()
            .map(|r| {
                Ok((r.text(0)?, Owner { channel: r.text(1)?, source_id: r.text(2)?, provisioned: r.int(3)? != 0 }))
            })
            .collect::<Result<_, BackendError>>()
            .map_err(|e| self.err(e))
    }

    /// Target ids of the active, provisioned users of `channel`'s connection, by DN hash and by source id
    /// (for resolving references such as `manager`).
    pub fn reference_index(&self, channel: &str) -> Result<ReferenceIndex, StateError> {
        let rows = self.query(
            "SELECT source_id, dn_hash, target_id FROM users
             WHERE connection = ?1 AND target_id IS NOT NULL AND status = 'active'",
            &vals![self.connection_of(channel)],
        )?;
        let mut index = ReferenceIndex::default();
        for r in &rows {
            let (source_id, dn_hash, target) = (
                r.text(0).map_err(|e| self.err(e))?,
                r.opt_text(1).map_err(|e| self.err(e))?,
                r.text(2).map_err(|e| self.err(e))?,
            );
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
        self.write(|db| {
            let mut n = 0;
            for table in ["users", "groups"] {
                n += db.execute(
                    &format!(
                        "UPDATE {table} SET skipped_hash = NULL WHERE connection = ?1 AND skipped_hash IS NOT NULL"
                    ),
                    &vals![connection],
                )?;
            }
            Ok(n as usize)
        })
    }

    fn count(&self, sql: &str, params: &[Value]) -> Result<u64, StateError> {
        let rows = self.query(sql, params)?;
        let n = rows.first().map(|r| r.int(0)).transpose().map_err(|e| self.err(e))?;
        Ok(n.unwrap_or(0) as u64)
    }

    /// Users of `connection` that have a target account.
    pub fn provisioned_users(&self, connection: &str) -> Result<u64, StateError> {
        self.count("SELECT COUNT(*) FROM users WHERE connection = ?1 AND target_id IS NOT NULL", &vals![connection])
    }

    /// What the state remembers of a connection.
    pub fn connection_meta(&self, connection: &str) -> Result<ConnectionMeta, StateError> {
        let rows = self.query(
            "SELECT settings_hash, unique_identifier FROM connection_meta WHERE connection = ?1",
            &vals![connection],
        )?;
        match rows.first() {
            None => Ok(ConnectionMeta::default()),
            Some(r) => Ok(ConnectionMeta {
                settings_hash: r.opt_text(0).map_err(|e| self.err(e))?,
                unique_identifier: r.opt_text(1).map_err(|e| self.err(e))?,
            }),
        }
    }

    /// Remembers a connection's settings fingerprint and unique user identifier.
    pub fn set_connection_meta(&self, connection: &str, meta: &ConnectionMeta) -> Result<(), StateError> {
        self.write(|db| {
            db.execute(
                "INSERT INTO connection_meta (connection, settings_hash, unique_identifier) VALUES (?1, ?2, ?3)
                 ON CONFLICT(connection) DO UPDATE SET settings_hash = ?2, unique_identifier = ?3",
                &vals![connection, &meta.settings_hash, &meta.unique_identifier],
            )
            .map(|_| ())
        })
    }

    /// Every row of a channel's table.
    pub fn rows(&self, table: Table, channel: &str) -> Result<HashMap<String, Row>, StateError> {
        let sql = format!(
            "SELECT source_id, target_id, hash, attr_hashes, status, dirty, attempts, next_attempt_at, last_error, ident_hash, skipped_hash, {} FROM {} WHERE channel = ?1",
            if table == Table::Users { "dn_hash" } else { "NULL" },
            table.name()
        );
        let rows = self.query(&sql, &vals![channel])?;
        // The values are moved out of the rows read, not copied.
        let decode = |r: &mut SqlRow| -> Result<Row, BackendError> {
            Ok(Row {
                source_id: r.take_text(0)?,
                target_id: r.take_opt_text(1)?,
                hash: r.take_text(2)?,
                attr_hashes: AttrHashes(r.take_text(3)?),
                status: status_of(r, 4)?,
                dirty: r.int(5)? != 0,
                attempts: r.int(6)? as u32,
                next_attempt_at: r.int(7)?,
                last_error: r.take_opt_text(8)?,
                ident_hash: r.take_opt_text(9)?,
                skipped_hash: r.take_opt_text(10)?,
                dn_hash: r.take_opt_text(11)?,
            })
        };
        let mut out = HashMap::with_capacity(rows.len());
        for mut r in rows {
            let r = decode(&mut r).map_err(|e| self.err(e))?;
            out.insert(r.source_id.clone(), r);
        }
        Ok(out)
    }

    /// Marks records in flight (dirty), in one committed transaction, before the connector is called.
    pub fn mark_in_flight(&mut self, table: Table, channel: &str, ids: &[(String, Status)]) -> Result<(), StateError> {
        let sql = format!(
            "INSERT INTO {} (channel, source_id, status, dirty, connection) VALUES (?1, ?2, ?3, 1, ?4)
             ON CONFLICT(channel, source_id) DO UPDATE SET dirty = 1",
            table.name()
        );
        let connection = self.connection_of(channel).to_owned();
        self.write(|db| {
            for (id, status) in ids {
                db.execute(&sql, &vals![channel, id, status.as_str(), &connection])?;
            }
            Ok(())
        })
    }

    /// Settles rows after the connector answered, in one transaction.
    pub fn settle(&mut self, table: Table, channel: &str, rows: &[Row], now: i64) -> Result<(), StateError> {
        let connection = self.connection_of(channel).to_owned();
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
            if users { ", dn_hash = COALESCE(?15, users.dn_hash)" } else { "" }
        );
        self.write(|db| {
            for r in rows {
                let mut p = vals![
                    channel,
                    &r.source_id,
                    &r.target_id,
                    &r.hash,
                    &r.attr_hashes.0,
                    r.status.as_str(),
                    r.dirty,
                    r.attempts as i64,
                    r.next_attempt_at,
                    &r.last_error,
                    now,
                    &connection,
                    &r.ident_hash,
                    &r.skipped_hash
                ]
                .to_vec();
                if users {
                    p.push(Value::from(&r.dn_hash));
                }
                db.execute(&sql, &p)?;
            }
            Ok(())
        })
    }

    /// A group's members as last provisioned (user source ids), each group's sorted (byte-wise).
    pub fn memberships(&self, channel: &str) -> Result<HashMap<String, Vec<String>>, StateError> {
        // The primary key's order (SQLite reads the covering index); a server whose collation is not
        // byte-wise is sorted again below.
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        // Rows come group by group: each group's id is kept once, not once per member.
        let mut group: Option<(String, Vec<String>)> = None;
        let close = |out: &mut HashMap<String, Vec<String>>, group: Option<(String, Vec<String>)>| {
            if let Some((g, mut members)) = group {
                out.entry(g).or_default().append(&mut members);
            }
        };
        self.db
            .borrow_mut()
            .for_each_pair(
                "SELECT group_source_id, user_source_id FROM memberships WHERE channel = ?1
                 ORDER BY group_source_id, user_source_id",
                &vals![channel],
                &mut |g, u| match &mut group {
                    Some((current, members)) if current == g => members.push(u.to_owned()),
                    _ => close(&mut out, group.replace((g.to_owned(), vec![u.to_owned()]))),
                },
            )
            .map_err(|e| self.err(e))?;
        close(&mut out, group);
        for members in out.values_mut().filter(|m| !m.is_sorted()) {
            members.sort_unstable();
        }
        Ok(out)
    }

    /// Replaces a group's recorded members.
    pub fn set_memberships(&mut self, channel: &str, group: &str, users: &[String]) -> Result<(), StateError> {
        self.set_memberships_many(channel, &[(group, users)])
    }

    /// Replaces the recorded members of several groups, in one transaction. Only the difference is
    /// written (a move in a group of thousands is two statements, not thousands).
    pub fn set_memberships_many(&mut self, channel: &str, groups: &[(&str, &[String])]) -> Result<(), StateError> {
        self.write(|db| {
            for (group, users) in groups {
                let recorded: HashSet<String> = db
                    .query(
                        "SELECT user_source_id FROM memberships WHERE channel = ?1 AND group_source_id = ?2",
                        &vals![channel, *group],
                    )?
                    .into_iter()
                    .map(|mut r| r.take_text(0))
                    .collect::<Result<_, _>>()?;
                let wanted: HashSet<&str> = users.iter().map(String::as_str).collect();
                for gone in recorded.iter().filter(|u| !wanted.contains(u.as_str())) {
                    db.execute(
                        "DELETE FROM memberships WHERE channel = ?1 AND group_source_id = ?2 AND user_source_id = ?3",
                        &vals![channel, *group, gone],
                    )?;
                }
                for new in wanted.iter().filter(|u| !recorded.contains(**u)) {
                    db.execute(
                        "INSERT INTO memberships (channel, group_source_id, user_source_id) VALUES (?1, ?2, ?3)
                         ON CONFLICT DO NOTHING",
                        &vals![channel, *group, *new],
                    )?;
                }
            }
            Ok(())
        })
    }

    /// Starts a cycle row; returns its id.
    pub fn begin_cycle(&self, channel: &str, now: i64) -> Result<i64, StateError> {
        self.write(|db| {
            let rows = db
                .query("INSERT INTO cycles (channel, started_at) VALUES (?1, ?2) RETURNING id", &vals![channel, now])?;
            rows.first().ok_or_else(|| BackendError::Decode("no cycle id returned".into()))?.int(0)
        })
    }

    /// Finishes a cycle row.
    pub fn end_cycle(&self, id: i64, now: i64, figures: &CycleFigures, error: Option<&str>) -> Result<(), StateError> {
        self.write(|db| {
            let rows = db.query(
                "UPDATE cycles SET finished_at = ?2, figures = ?3, error = ?4 WHERE id = ?1 RETURNING channel",
                &vals![id, now, serde_json::to_string(figures).unwrap_or_default(), error],
            )?;
            if let Some(channel) = rows.first().map(|r| r.text(0)).transpose()? {
                db.execute(
                    "INSERT INTO channel_meta (channel, last_cycle_at) VALUES (?1, ?2)
                     ON CONFLICT(channel) DO UPDATE SET last_cycle_at = ?2",
                    &vals![channel, now],
                )?;
            }
            Ok(())
        })
    }

    /// The channel's change-detection token.
    pub fn token(&self, channel: &str) -> Result<Option<String>, StateError> {
        let rows = self.query("SELECT token FROM channel_meta WHERE channel = ?1", &vals![channel])?;
        rows.first().map(|r| r.opt_text(0)).transpose().map(Option::flatten).map_err(|e| self.err(e))
    }

    /// Stores the channel's change-detection token.
    pub fn set_token(&self, channel: &str, token: Option<&str>) -> Result<(), StateError> {
        self.write(|db| {
            db.execute(
                "INSERT INTO channel_meta (channel, token) VALUES (?1, ?2) ON CONFLICT(channel) DO UPDATE SET token = ?2",
                &vals![channel, token],
            )
            .map(|_| ())
        })
    }

    /// A channel's counts and last cycle.
    pub fn channel_summary(&self, channel: &str) -> Result<ChannelSummary, StateError> {
        let count = |sql: &str| self.count(sql, &vals![channel]);
        let last = self
            .query(
                "SELECT started_at, finished_at, figures, error FROM cycles WHERE channel = ?1 ORDER BY id DESC LIMIT 1",
                &vals![channel],
            )?
            .first()
            .map(|r| -> Result<LastCycle, BackendError> {
                Ok(LastCycle {
                    started_at: r.int(0)?,
                    finished_at: r.opt_int(1)?,
                    figures: r.opt_text(2)?.and_then(|f| serde_json::from_str(&f).ok()),
                    error: r.opt_text(3)?,
                })
            })
            .transpose()
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
        self.write(|db| {
            for t in ["users", "groups", "memberships", "cycles", "channel_meta", "holds"] {
                db.execute(&format!("DELETE FROM {t} WHERE channel = ?1"), &vals![channel])?;
            }
            // A connection none of whose records remain forgets its unique identifier: the next cycle
            // matches existing accounts afresh by whatever the configuration says.
            db.execute(
                "DELETE FROM connection_meta WHERE connection NOT IN (SELECT connection FROM users)
                   AND connection NOT IN (SELECT connection FROM groups)",
                &[],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

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
        let shared = s.write(|db| db.execute("UPDATE users SET target_id = 'U1' WHERE source_id = 'b'", &[]));
        assert!(shared.is_err(), "the unique index refuses two records on one account");
        let version = s.query("PRAGMA user_version", &[]).unwrap()[0].int(0).unwrap();
        assert_eq!(version, schema::sqlite::VERSION);
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

//! The two storage engines behind [`State`](super::State): SQLite (embedded, the default) and
//! PostgreSQL (shared by the nodes of a failover or cluster deployment). `State` speaks one SQL
//! dialect — numbered parameters `?1`, `ON CONFLICT … DO UPDATE`, `RETURNING` — that both engines
//! accept once the PostgreSQL backend has renumbered the parameters as `$1`; what cannot be shared
//! (schema creation and its versioning, the single-writer lock, fencing) lives in each backend.

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// One SQL value as the state stores it: integers, text, or NULL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// NULL.
    Null,
    /// An integer (booleans are 0 or 1).
    Int(i64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v as i64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value> + Clone> From<&Option<T>> for Value {
    fn from(v: &Option<T>) -> Self {
        v.clone().map_or(Value::Null, Into::into)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds an array of [`Value`]s from expressions that convert into [`Value`].
macro_rules! vals {
    ($($v:expr),* $(,)?) => { [$($crate::state::backend::Value::from($v)),*] };
}
pub(crate) use vals;

/// One result row.
#[derive(Debug, Clone)]
pub(crate) struct SqlRow(pub(crate) Vec<Value>);

impl SqlRow {
    fn at(&self, i: usize) -> Result<&Value, BackendError> {
        self.0.get(i).ok_or_else(|| BackendError::Decode(format!("no column {i}")))
    }

    /// Column `i` as text (NULL is an error).
    pub(crate) fn text(&self, i: usize) -> Result<String, BackendError> {
        self.opt_text(i)?.ok_or_else(|| BackendError::Decode(format!("column {i} is NULL")))
    }

    /// Column `i` as text, moved out of the row (NULL is an error): for large reads.
    pub(crate) fn take_text(&mut self, i: usize) -> Result<String, BackendError> {
        match self.0.get_mut(i).map(|v| std::mem::replace(v, Value::Null)) {
            Some(Value::Text(s)) => Ok(s),
            Some(Value::Int(n)) => Ok(n.to_string()),
            Some(Value::Null) => Err(BackendError::Decode(format!("column {i} is NULL"))),
            None => Err(BackendError::Decode(format!("no column {i}"))),
        }
    }

    /// Column `i` as optional text, moved out of the row: for large reads.
    pub(crate) fn take_opt_text(&mut self, i: usize) -> Result<Option<String>, BackendError> {
        match self.0.get_mut(i).map(|v| std::mem::replace(v, Value::Null)) {
            Some(Value::Null) => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s)),
            Some(Value::Int(n)) => Ok(Some(n.to_string())),
            None => Err(BackendError::Decode(format!("no column {i}"))),
        }
    }

    /// Column `i` as optional text.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, BackendError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            Value::Int(n) => Ok(Some(n.to_string())),
        }
    }

    /// Column `i` as an integer (NULL is an error).
    pub(crate) fn int(&self, i: usize) -> Result<i64, BackendError> {
        self.opt_int(i)?.ok_or_else(|| BackendError::Decode(format!("column {i} is NULL")))
    }

    /// Column `i` as an optional integer.
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, BackendError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            Value::Text(s) => {
                s.parse().map(Some).map_err(|_| BackendError::Decode(format!("column {i} is not an integer")))
            }
        }
    }
}

/// An engine's failure.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (or could not be reached).
    #[error("{}", postgres_text(.0))]
    Postgres(#[from] ::postgres::Error),
    /// A value did not have the expected type.
    #[error("unexpected value: {0}")]
    Decode(String),
    /// The database was written by a newer version of the provisioner.
    #[error("schema version {found} is newer than this provisioner's ({supported}): upgrade it")]
    Newer {
        /// The database's version.
        found: i64,
        /// This build's version.
        supported: i64,
    },
    /// The configuration cannot be used (a password in the URL, TLS required, a CA file that cannot
    /// be read).
    #[error("{0}")]
    Config(String),
    /// This node no longer holds the lease the write was fenced by: another node took over.
    #[error("fenced: this node no longer holds the `{lease}` lease (epoch {epoch}); another node took over, nothing was written")]
    Fenced {
        /// The lease.
        lease: String,
        /// The epoch this node held.
        epoch: i64,
    },
}

impl BackendError {
    /// Whether the error is a fencing refusal (the node lost its lease).
    pub fn is_fenced(&self) -> bool {
        matches!(self, BackendError::Fenced { .. })
    }
}

/// The server's message and its code (the detail line is left out: it can quote key values).
fn postgres_text(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// What one engine does for [`State`](super::State). Every write of the state runs inside
/// [`begin`](Backend::begin) … [`commit`](Backend::commit); `begin` checks the fence (PostgreSQL in
/// failover or cluster mode) inside the transaction, so a node that lost its lease commits nothing.
pub(crate) trait Backend: Send {
    /// Runs a statement; returns the rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, BackendError>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<SqlRow>, BackendError>;
    /// Runs a query of two text columns (NULL is an error) and hands each row to `each`, kept nowhere
    /// by the state: for reads of hundreds of thousands of rows (a channel's memberships). SQLite's
    /// rows are read in place one by one; PostgreSQL's client receives the result whole first.
    fn for_each_pair(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&str, &str),
    ) -> Result<(), BackendError>;
    /// Starts a write transaction, checking the fence.
    fn begin(&mut self) -> Result<(), BackendError>;
    /// Commits it.
    fn commit(&mut self) -> Result<(), BackendError>;
    /// Rolls it back (errors are ignored: the transaction is abandoned either way).
    fn rollback(&mut self);
    /// Serialises the transaction with every other that locks `channel` (held until it ends). SQLite's
    /// `BEGIN IMMEDIATE` serialises every write already; PostgreSQL takes a transaction advisory lock.
    fn lock_channel(&mut self, channel: &str) -> Result<(), BackendError>;
    /// Whether the engine is SQLite (for the few legacy repairs only its old files need).
    fn is_sqlite(&self) -> bool;
    /// Fences every later write by `lease` held at `epoch` by `node` (`None`: unfenced).
    fn set_fence(&mut self, fence: Option<Fence>);
}

/// A lease every write must still hold (checked inside the write's transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The leases (`active`, or `connection:<name>`).
    pub leases: Vec<(String, i64)>,
    /// This node's id.
    pub node: String,
}

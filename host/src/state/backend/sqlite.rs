//! SQLite (WAL), the embedded default: one file, one writer (the `flock` of [`WriterLock`]
//! (crate::state::WriterLock)).

use super::{Backend, BackendError, Fence, SqlRow, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use std::path::Path;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// The SQLite engine.
pub(crate) struct Sqlite {
    pub(crate) conn: Connection,
}

impl Sqlite {
    /// Opens (creating, private) and migrates the file.
    pub(crate) fn open(path: &Path) -> Result<Sqlite, BackendError> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")?;
        crate::state::schema::sqlite::migrate(&mut conn)?;
        Ok(Sqlite { conn })
    }
}

/// A column read in place as text, as [`Backend::query`] would give it (NULL is an error).
fn text_ref(v: ValueRef<'_>, i: usize) -> Result<std::borrow::Cow<'_, str>, BackendError> {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => Ok(String::from_utf8_lossy(t)),
        ValueRef::Integer(n) => Ok(n.to_string().into()),
        ValueRef::Real(n) => Ok((n as i64).to_string().into()),
        ValueRef::Null => Err(BackendError::Decode(format!("column {i} is NULL"))),
    }
}

fn params(p: &[Value]) -> rusqlite::ParamsFromIter<std::slice::Iter<'_, Value>> {
    rusqlite::params_from_iter(p.iter())
}

impl Backend for Sqlite {
    fn execute(&mut self, sql: &str, p: &[Value]) -> Result<u64, BackendError> {
        let mut st = self.conn.prepare_cached(sql)?;
        Ok(st.execute(params(p))? as u64)
    }

    fn query(&mut self, sql: &str, p: &[Value]) -> Result<Vec<SqlRow>, BackendError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(params(p))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Int(v as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                });
            }
            out.push(SqlRow(row));
        }
        Ok(out)
    }

    fn for_each_pair(&mut self, sql: &str, p: &[Value], each: &mut dyn FnMut(&str, &str)) -> Result<(), BackendError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query(params(p))?;
        while let Some(r) = rows.next()? {
            let (a, b) = (text_ref(r.get_ref(0)?, 0)?, text_ref(r.get_ref(1)?, 1)?);
            each(&a, &b);
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), BackendError> {
        // IMMEDIATE: take the write lock now, so a reader upgrading mid-transaction cannot deadlock.
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    fn rollback(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    fn lock_channel(&mut self, _channel: &str) -> Result<(), BackendError> {
        Ok(())
    }

    fn is_sqlite(&self) -> bool {
        true
    }

    /// SQLite has one writer by its file lock; there is no lease to fence by.
    fn set_fence(&mut self, _fence: Option<Fence>) {}
}
